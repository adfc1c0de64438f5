"""Validation figures of the ego-motion error: the true video scores near zero, a frozen frame and a copied exo
view score badly, on the synthetic test split and on the converted ExoEgo4D fixture.

    python benchmarks/ego_motion_validation.py                  # synth test split (cache) + fixture (temp folder)
    python benchmarks/ego_motion_validation.py --limit 8        # first 8 synthetic clips only
    python benchmarks/ego_motion_validation.py --skip-fixture   # synthetic data only

For every clip it scores, with :func:`benchmark.metrics.ego_motion.estimate_clip` against the clip's true ego
cameras:

* ``true``: the ground-truth ego video (the noise floor of the estimator: what a perfect method gets);
* ``frozen``: the first true frame repeated (no camera motion at all);
* ``exo copy``: the output of the ``exo-copy`` baseline (the most ego-like static exo view, cropped and resized);
* ``true, essential``: the true video with ``model="essential"`` (findEssentialMat + recoverPose with GRIC
  fallback), to compare the two estimators;
* ``true, no upsampling``: the true video detected at its stored size (``detect_min_side=0``);
* on the synthetic data, ``true at 32x32``: the true video downsampled 2x (``INTER_AREA``, intrinsics scaled), to
  find where features stop working.

It prints, per condition, the clip scores' mean / median / max (degrees), the fraction of estimable pairs, and
the mean true rotation between consecutive frames (what "no rotation" scores on a pair). Times are wall seconds
per clip on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.exo_copy import ExoCopy  # noqa: E402
from benchmark.cameras import scale_intrinsics  # noqa: E402
from benchmark.data import load_split  # noqa: E402
from benchmark.metrics.ego_motion import estimate_clip, rotation_angle_deg, true_relative_rotations  # noqa: E402


def conditions(clip, *, small: bool):
    """(name, video, K, target, options) to score for one clip."""
    video, K = clip.ego_video, clip.ego_K
    frozen = np.repeat(video[:1], len(video), axis=0)
    exo = ExoCopy().generate(clip.inputs(), seed=0)
    out = [
        ("true", video, K, video, {}),
        ("frozen", frozen, K, video, {}),
        ("exo copy", exo, K, video, {}),
        ("true, essential", video, K, video, {"model": "essential"}),
        ("true, no upsampling", video, K, video, {"detect_min_side": 0}),
    ]
    if small:
        import cv2

        half = np.stack([cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA)
                         for f in video])
        out.append(("true at 32x32", half, scale_intrinsics(K, 0.5, 0.5), half, {}))
    return out


def score(clips, *, small: bool) -> dict:
    rows: dict[str, dict] = {}
    for clip in clips:
        for name, video, K, target, options in conditions(clip, small=small):
            start = time.perf_counter()
            est = estimate_clip(video, K, clip.ego_T_world_cam, target=target, **options)
            row = rows.setdefault(name, {"scores": [], "estimable": [], "seconds": []})
            row["scores"].append(est.score)
            row["estimable"].append(est.estimable_fraction)
            row["seconds"].append(time.perf_counter() - start)
    return rows


def report(title: str, clips, rows: dict) -> None:
    true_angles = np.concatenate([rotation_angle_deg(true_relative_rotations(c.ego_T_world_cam)) for c in clips])
    print(f"\n{title}: {len(clips)} clips, {len(true_angles)} frame pairs, true rotation per pair mean "
          f"{true_angles.mean():.2f} median {np.median(true_angles):.2f} max {true_angles.max():.2f} degrees")
    print(f"{'condition':24s} {'mean':>7s} {'median':>7s} {'max':>7s} {'min':>7s} {'estimable':>9s} {'s/clip':>7s}")
    for name, row in rows.items():
        s = np.array(row["scores"])
        print(f"{name:24s} {s.mean():7.3f} {np.median(s):7.3f} {s.max():7.3f} {s.min():7.3f} "
              f"{np.mean(row['estimable']):9.3f} {np.mean(row['seconds']):7.2f}")
    true, frozen, exo = (np.array(rows[k]["scores"]) for k in ("true", "frozen", "exo copy"))
    print(f"ratios: true/frozen mean {true.mean() / frozen.mean():.3f}, true/exo-copy mean "
          f"{true.mean() / exo.mean():.3f}; clips where true >= frozen: {(true >= frozen).sum()}, "
          f"true >= exo copy: {(true >= exo).sum()}; largest true score / smallest frozen score "
          f"{true.max() / frozen.min():.3f}")


def fixture_clips(folder: Path):
    from benchmark.data.egoexo4d.convert import build_exoego4d
    from benchmark.data.egoexo4d.fixture import write_fixture

    truth = write_fixture(folder / "egoexo", n_takes=5, n_frames=69, supersample=1)
    out, _ = build_exoego4d(truth.root, folder / "four", progress=False)
    return [c for split in ("train", "val", "test") for c in load_split("exoego4d", split, root=out)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="synthetic dataset folder (default: the cache, built if missing)")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N synthetic clips")
    parser.add_argument("--skip-fixture", action="store_true", help="only the synthetic data")
    args = parser.parse_args(argv)

    synth = load_split("synth", "test", root=args.root)
    clips = [synth[i] for i in range(len(synth) if args.limit is None else min(args.limit, len(synth)))]
    report(f"synth/test ({synth.info['ego_size'][0]}x{synth.info['ego_size'][1]}, {synth.info['fps']} fps)", clips,
           score(clips, small=True))
    if not args.skip_fixture:
        with tempfile.TemporaryDirectory() as tmp:
            clips = fixture_clips(Path(tmp))
            info = clips[0]
            report(f"ExoEgo4D fixture, all splits ({info.ego_video.shape[1]}x{info.ego_video.shape[2]}, "
                   f"{info.fps} fps)", clips, score(clips, small=False))


if __name__ == "__main__":
    main()
