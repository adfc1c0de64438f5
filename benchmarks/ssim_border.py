"""How much SSIM's border rule moves the number: ours (torchmetrics) against scikit-image, on real outputs.

    python benchmarks/ssim_border.py                       # default synth test split (built into a temp folder)
    python benchmarks/ssim_border.py --root DIR --limit 8  # an already built dataset, first 8 clips

Both libraries take the same 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma), K1 = 0.01, K2 = 0.03,
data range 1 and population (co)variances. They differ only at the border:

* torchmetrics (ours) reflect-pads the frame by the window radius (5 px), computes the SSIM map at every
  pixel and averages the **whole** map, padded border included;
* scikit-image (``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=1.0, channel_axis=-1)``, the settings of Wang et al. 2004) averages the map after **cropping**
  5 px on each side, so only windows that lie inside the frame count.

For every clip scored by each method (frames from ``generate`` vs ground truth, exactly what the runner
scores) this prints ours, scikit-image's, and ours with the border cropped from torchmetrics' own map (which
should equal scikit-image's up to float32 rounding: it shows the border rule is the whole difference), then
the largest and mean gap. Needs scikit-image (``pip install scikit-image``; not a dependency of the package).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.image import structural_similarity_index_measure

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmark import registry  # noqa: E402
from benchmark.data import load_split  # noqa: E402
from benchmark.metrics._video import to_unit_frames  # noqa: E402
from benchmark.metrics.video_ssim import SSIM_SETTINGS, video_ssim  # noqa: E402
from benchmark.runner import clip_seed  # noqa: E402

RADIUS = 5  # int(3.5 * sigma + 0.5) for sigma = 1.5: the reflect-pad of torchmetrics and the crop of scikit-image


def skimage_ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """scikit-image's SSIM of uint8 ``(T, H, W, 3)`` clips, averaged over frames (Wang et al. settings)."""
    from skimage.metrics import structural_similarity

    scores = [structural_similarity(p.astype(np.float64) / 255.0, t.astype(np.float64) / 255.0,
                                    gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
                                    channel_axis=-1)
              for p, t in zip(pred, target)]
    return float(np.mean(scores))


def cropped_ours(pred: np.ndarray, target: np.ndarray) -> float:
    """torchmetrics' own SSIM map with the ``RADIUS``-pixel border cropped before averaging."""
    _, full = structural_similarity_index_measure(to_unit_frames(pred), to_unit_frames(target), reduction="none",
                                                  return_full_image=True, **SSIM_SETTINGS)
    inner = full[..., RADIUS:-RADIUS, RADIUS:-RADIUS]
    return float(inner.to(torch.float64).mean(dim=(1, 2, 3)).mean())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="a built synth dataset (default: build the test split anew)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--methods", nargs="+", default=["exo-copy", "reproject"])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            from benchmark.data import build_synth

            root = build_synth(Path(tmp) / "synth", splits=(args.split,), seed=0, progress=False)
        clips = load_split("synth", args.split, root=root)
        ids = list(clips.clip_ids)[: args.limit]
        print(f"data: {clips.name}/{clips.split} at {root}, {len(ids)} clips, ego {clips.ego_shape(ids[0])}")
        for method in args.methods:
            generator = registry.build(method)
            rows = []
            for cid in ids:
                clip = clips.get(cid)
                pred = generator.generate(clip.inputs("exo-only"), seed=clip_seed(0, cid))
                target = clip.ego_video
                rows.append((float(video_ssim(pred, target)), skimage_ssim(pred, target), cropped_ours(pred, target)))
            ours, sk, crop = (np.array(c) for c in zip(*rows))
            gap = ours - sk
            print(f"\n{method}: mean SSIM ours {ours.mean():.4f}, scikit-image {sk.mean():.4f}")
            print(f"  per-clip gap ours - scikit-image: max |gap| {np.abs(gap).max():.4f}, "
                  f"mean {gap.mean():+.4f}, range [{gap.min():+.4f}, {gap.max():+.4f}]")
            print(f"  ours with the border cropped vs scikit-image: max |diff| {np.abs(crop - sk).max():.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
