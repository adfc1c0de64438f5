"""ExoEgo4D converter throughput against plain PyAV decoding, and its peak memory for 1 take vs N takes.

    python benchmarks/convert_throughput.py                          # 10 takes of 130 frames (2 clips each)
    python benchmarks/convert_throughput.py --takes 5 --frames 200 --json figures.json
    python benchmarks/convert_throughput.py --native-size            # the fixture's tiny videos as written

Writes the miniature Ego-Exo4D download of ``benchmark.data.egoexo4d.fixture`` (``--takes`` takes, one per
capture, scenarios cycling through the five protocol categories, so every take is in scope) into a temporary
folder. By default its frame-aligned videos are then re-encoded at the sizes of the 448 downscale the protocol
reads (exo 796x448, Aria 448x448; H.264 4:2:0, the usual MP4 video, upscaled bilinearly: what they show does not
matter here): the fixture's own videos (exo 96x54, Aria 64x64) decode so cheaply that the converter's work,
which scales with the stored 480x270 / 256x256 output, would look far heavier than it is on real videos. This
is a valid download: the converter reads each video's size from its container and rescales the calibration to
it. ``--native-size`` keeps the fixture's videos. Then it measures, in the same run:

* ``PyAV decode``   every frame of the videos the converter opens (Aria + the protocol's exo views) decoded
                    with ``av`` to an RGB ndarray, PyAV's defaults (no frame threading: slice threading, which
                    these one-slice H.264 files do not use): plain decoding, the baseline of the goal;
* ``PyAV threaded`` the same with FFmpeg's frame threading (``thread_type = "AUTO"``, ``thread_count =
                    convert.DECODE_THREADS``), as the converter decodes: the fair ceiling for a converter that
                    must decode its input;
* ``lockstep 1thr`` the converter's own decoding (``_decode_lockstep``: the take's videos in lockstep up to the
                    last frame a clip needs, then ``_to_rgb`` of the sampled frames) without frame threading,
                    without undistortion or writing;
* ``lockstep``      the same with frame threading, as the converter runs it;
* ``+ undistort``   the same plus the undistortion of every sampled frame (the take plan's fixed-point
                    ``resample.Resampler`` per camera), as ``_convert_take`` does it;
* ``+ float undist`` (only with ``--float-reference``) the same with ``projection.undistort``, the float64
                    reference the converter used before version 0.2, on the same maps;
* ``full build``    ``build_exoego4d(progress=False)`` in a fresh Python process (``workers=1``), timed around the
                    call only: adds planning (camera files, undistortion maps), the lossless clip writing and
                    its read-back check (the first window of each take, one video of each size), hashing,
                    parquet and manifests.

Throughput is source frames per second: frames decoded from all views over wall time (for the converter, the
frames up to each take's last needed frame, as it decodes them; for PyAV, every frame). The goal of issue 8 is
``full build / PyAV decode >= 0.8`` against plain decoding; the ratio to threaded decoding, like for like with
the converter's own decoding, is printed too. (Frame threading changed PyAV's time little in our runs, on 2 busy
and on 16 idle CPUs: converting every frame to RGB with libswscale costs more there than decoding it.)

Peak memory: ``build_exoego4d`` of 1 take and of all ``--takes`` takes (same files: the 1-take download is the
same folder with a ``takes.json`` of its first take), each in its own process, reporting its peak resident set
size during the build (``VmHWM`` reset after the imports; what was resident before is printed, and a process that
only imports the converter gives the imports' own peak). Goal: N takes within 1.2x
of 1 take. Figures, never asserted: they depend on the load of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHILD_BUILD = "--_child-build"
CHILD_IMPORT = "--_child-import"


def _status_mib(key: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process from /proc (Linux), in MiB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _child(argv) -> int:
    """Run in a fresh process: build (or only import) and print seconds and peak RSS as one JSON line.

    The peak is ``VmHWM``, reset after the imports (``/proc/self/clear_refs``) so that it is the peak during the
    build. ``ru_maxrss`` is not used: on Linux a child started by fork + exec starts with the parent's maximum."""
    from benchmark.data.egoexo4d.convert import build_exoego4d

    result = {"rss_before_mib": _status_mib("VmRSS"), "peak_imports_mib": _status_mib("VmHWM")}
    if argv[0] == CHILD_BUILD:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
        except OSError:
            pass  # the peak then includes the imports' peak
        t0 = time.perf_counter()
        _, report = build_exoego4d(argv[1], argv[2], progress=False, workers=1)
        result["seconds"] = time.perf_counter() - t0
        result["takes_used"] = len(report["takes_used"])
        result["clips"] = sum(w["kept"] for w in report["windows"].values())
        result["peak_build_mib"] = _status_mib("VmHWM")
    if result["rss_before_mib"] is None:
        result["peak_build_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps(result))
    return 0


def _run_child(*args) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *map(str, args)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"command failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _plans(root: Path, setting: str):
    """``[(selected take, plan)]`` of every take the converter converts (not those it skips), planned as it
    plans them."""
    from benchmark.data.egoexo4d import convert as C
    from benchmark.data.egoexo4d import protocol as P

    takes = json.loads((root / "takes.json").read_text())
    splits = json.loads((root / "annotations" / "splits.json").read_text())
    captures = json.loads((root / "captures.json").read_text())
    by_uid = {t["take_uid"]: t for t in takes}
    cap_by_uid = {c["capture_uid"]: c for c in captures}
    worn = C._ego_worn(captures)
    out = []
    for cat in P.PROTOCOL_V1.categories:
        for sel in P.select_takes(takes, splits, cat.name, setting, P.PROTOCOL_V1):
            take = dict(by_uid[sel.take_uid], _capture=cap_by_uid.get(by_uid[sel.take_uid].get("capture_uid")))
            try:
                plan = C._plan_take(root, take, sel, worn.get(take.get("capture_uid"), []), P.PROTOCOL_V1)
            except C._Skip:
                continue  # the build skips it too (e.g. too little head motion): nothing of it is decoded
            out.append((sel, plan))
    return out


def _reencode(path: Path, size) -> None:
    """Replace the video at ``path`` by the same frames resized to ``size = (W, H)``, H.264 4:2:0 (lossy, like a
    download's videos; the frame count is kept, which the converter checks)."""
    import av
    import cv2

    tmp = path.with_name(path.stem + ".reencode.mp4")
    with av.open(str(path)) as src, av.open(str(tmp), mode="w") as dst:
        stream = dst.add_stream("libx264", rate=30)
        stream.width, stream.height = int(size[0]), int(size[1])
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for frame in src.decode(video=0):
            rgb = cv2.resize(frame.to_ndarray(format="rgb24"), (stream.width, stream.height),
                             interpolation=cv2.INTER_LINEAR)
            dst.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        dst.mux(stream.encode(None))
    tmp.replace(path)


def _reencode_download(root: Path, exo_size, ego_side: int) -> int:
    """Re-encode every frame-aligned video under ``root`` (exo at ``exo_size``, Aria at ``ego_side`` square);
    returns how many."""
    from benchmark.data.egoexo4d.fixture import ARIA_VIDEO_NAME

    paths = sorted(root.glob("takes/*/frame_aligned_videos/*.mp4"))
    for path in paths:
        _reencode(path, (ego_side, ego_side) if path.name == ARIA_VIDEO_NAME else exo_size)
    return len(paths)


def _pyav_decode(paths, threads: bool = False) -> tuple[int, float]:
    """(frames, seconds): decode every frame of each video to an RGB ndarray with plain PyAV (``threads``: with
    FFmpeg's frame threading, as many threads as the converter uses)."""
    import av

    from benchmark.data.egoexo4d.convert import DECODE_THREADS

    n = 0
    t0 = time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            if threads:
                container.streams.video[0].thread_type = "AUTO"
                container.streams.video[0].thread_count = DECODE_THREADS
            for frame in container.decode(video=0):
                frame.to_ndarray(format="rgb24")
                n += 1
    return n, time.perf_counter() - t0


def _float_reference(plan) -> tuple:
    """The float64 undistortion of the converter before version 0.2 on the plan's maps: ``(ego, {cam: exo})``
    callables (the Aria frame turned to the landscape sensor image, undistorted, turned back upright)."""
    from benchmark.data.egoexo4d import projection as proj
    from benchmark.data.egoexo4d.resample import rot90_maps

    # the plan's resampler maps sample the upright frame; turning them back gives the landscape sensor maps
    side = plan["ego_resample"].source_size[0]
    ego_maps = rot90_maps(_resampler_maps(plan["ego_resample"]), (side, side), 3)
    exo_maps = {c: _resampler_maps(plan["exo_resample"][c]) for c in plan["views"]}
    return (lambda img: proj.rot90_image(proj.undistort(proj.rot90_image(img, 1), ego_maps), 3),
            {c: (lambda img, m=exo_maps[c]: proj.undistort(img, m)) for c in plan["views"]})


def _resampler_maps(resampler):
    """The float source positions (full-frame pixels, to 1/32 px) a ``Resampler`` samples; NaN where it fills."""
    import numpy as np

    from benchmark.data.egoexo4d.resample import INTER_BITS, INTER_TAB_SIZE

    frac = resampler._map_frac.astype(np.int64)
    q = (resampler._map_int.astype(np.int64) << INTER_BITS) + np.stack([frac % INTER_TAB_SIZE,
                                                                        frac // INTER_TAB_SIZE], -1)
    k = resampler.box
    maps = (q / INTER_TAB_SIZE + 0.5) * k - 0.5
    maps.reshape(-1, 2)[resampler._invalid] = np.nan
    return maps


def _converter_phases(plans, float_reference: bool = False) -> tuple[int, dict]:
    """(frames decoded, {phase: seconds}) with the converter's own code; phases ``decode-1thr`` (lockstep
    decoding without frame threading), ``decode``, ``resample`` (decode + resample) and, with
    ``float_reference``, ``float`` (decode + float undistort)."""
    from benchmark.data.egoexo4d import convert as C

    n = 0
    seconds = {}
    for phase in ("decode-1thr", "decode", "resample", "float")[:4 if float_reference else 3]:
        t0 = time.perf_counter()
        for _, plan in plans:
            wanted = {f for win in plan["windows"] for f in win.frames}
            last = max(wanted)
            if phase == "decode":
                n += (last + 1) * len(plan["paths"])
            if phase == "resample":
                ego_fn, exo_fn = plan["ego_resample"], plan["exo_resample"]
            elif phase == "float":
                ego_fn, exo_fn = _float_reference(plan)
            for i, frames in C._decode_lockstep(plan["paths"], last, threads=phase != "decode-1thr"):
                if i not in wanted:
                    continue
                ego = C._to_rgb(frames[C.EGO_CAM])
                exo = {c: C._to_rgb(frames[c]) for c in plan["views"]}
                if phase in ("resample", "float"):
                    ego_fn(ego)
                    for c in plan["views"]:
                        exo_fn[c](exo[c])
        seconds[phase] = time.perf_counter() - t0
    return n, seconds


def _one_take_root(root: Path, dest: Path) -> Path:
    """A download with the same files as ``root`` whose takes.json lists only its first take."""
    dest.mkdir()
    for name in ("takes", "captures", "annotations"):
        (dest / name).symlink_to(root / name, target_is_directory=True)
    (dest / "captures.json").write_text((root / "captures.json").read_text())
    (dest / "takes.json").write_text(json.dumps(json.loads((root / "takes.json").read_text())[:1]))
    return dest


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in (CHILD_BUILD, CHILD_IMPORT):
        return _child(argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--takes", type=int, default=10, help="takes in the download (default: %(default)s)")
    p.add_argument("--frames", type=int, default=130,
                   help="frames per take, 30 fps; a clip spans 65 (default: %(default)s, 2 clips per take)")
    p.add_argument("--exo-size", type=int, nargs=2, default=(96, 54), metavar=("W", "H"),
                   help="exo video size standing for 3840x2160 (default: 96 54)")
    p.add_argument("--ego-size", type=int, default=64, help="Aria video side standing for 1408 (default: 64)")
    p.add_argument("--native-size", action="store_true",
                   help="measure on the fixture's videos as written (--exo-size, --ego-size) instead of re-encoding "
                        "them at the 448 downscale's sizes")
    p.add_argument("--reencode-exo-size", type=int, nargs=2, default=(796, 448), metavar=("W", "H"),
                   help="exo size of the re-encoded videos (default: 796 448, the 448 downscale)")
    p.add_argument("--reencode-ego-size", type=int, default=448,
                   help="Aria side of the re-encoded videos (default: %(default)s)")
    p.add_argument("--float-reference", action="store_true",
                   help="also time the float64 projection.undistort on the same frames (the converter before 0.2)")
    p.add_argument("--setting", default="unseen-takes")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.takes < 1 or args.frames < 65:
        p.error("--takes must be >= 1 and --frames >= 65 (one 65-frame clip window)")

    from benchmark.data.egoexo4d.fixture import write_fixture

    with tempfile.TemporaryDirectory(prefix="convert-throughput-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        truth = write_fixture(tmp / "egoexo", n_takes=args.takes, n_frames=args.frames, supersample=1,
                              exo_size=args.exo_size, ego_size=args.ego_size)
        fixture_s = time.perf_counter() - t0
        root = truth.root
        video_exo, video_ego = tuple(args.exo_size), args.ego_size
        reencode_s = 0.0
        if not args.native_size:
            t0 = time.perf_counter()
            _reencode_download(root, args.reencode_exo_size, args.reencode_ego_size)
            reencode_s = time.perf_counter() - t0
            video_exo, video_ego = tuple(args.reencode_exo_size), args.reencode_ego_size
        plans = _plans(root, args.setting)
        if not plans:
            raise SystemExit(f"no take of the fixture is in scope of setting {args.setting!r}")
        paths = [path for _, plan in plans for path in plan["paths"].values()]

        pyav_n, pyav_s = _pyav_decode(paths)
        _, pyav_threaded_s = _pyav_decode(paths, threads=True)
        conv_n, phase_s = _converter_phases(plans, args.float_reference)
        # the resamplers' box prefilter factors (1: none), as the converter chose them from the videos' sizes
        boxes = {"exo": sorted({r.box for _, plan in plans for r in plan["exo_resample"].values()}),
                 "ego": sorted({plan["ego_resample"].box for _, plan in plans})}
        full = _run_child(CHILD_BUILD, root, tmp / "out-all")
        one = _run_child(CHILD_BUILD, _one_take_root(root, tmp / "egoexo-1"), tmp / "out-1")
        imports = _run_child(CHILD_IMPORT)

    pyav_fps, threaded_fps = pyav_n / pyav_s, pyav_n / pyav_threaded_s
    rows = [("PyAV decode", pyav_n, pyav_s), ("PyAV threaded", pyav_n, pyav_threaded_s),
            ("lockstep 1thr", conv_n, phase_s["decode-1thr"]), ("lockstep", conv_n, phase_s["decode"]),
            ("+ undistort", conv_n, phase_s["resample"])]
    if "float" in phase_s:
        rows.append(("+ float undist", conv_n, phase_s["float"]))
    rows.append(("full build", conv_n, full["seconds"]))
    figures = {
        "takes": args.takes, "frames_per_take": args.frames, "exo_size": list(video_exo),
        "ego_size": video_ego, "reencoded": not args.native_size, "box_prefilter": boxes,
        "setting": args.setting, "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()], "fixture_seconds": round(fixture_s, 2),
        "reencode_seconds": round(reencode_s, 2),
        "takes_converted": full["takes_used"], "clips": full["clips"],
        "throughput": {name: {"frames": n, "seconds": round(s, 3), "fps": round(n / s, 1),
                              "vs_pyav": round(n / s / pyav_fps, 3),
                              "vs_pyav_threaded": round(n / s / threaded_fps, 3)} for name, n, s in rows},
        "peak_rss_mib": {"imports_only": round(imports["peak_imports_mib"] or 0, 1),
                         "1_take": round(one["peak_build_mib"], 1),
                         f"{full['takes_used']}_takes": round(full["peak_build_mib"], 1)},
        "rss_before_build_mib": round(full["rss_before_mib"] or 0, 1),
        "rss_ratio": round(full["peak_build_mib"] / one["peak_build_mib"], 3),
    }
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # other jobs on the machine change the figures
    how = "fixture's own" if args.native_size else f"re-encoded in {reencode_s:.1f} s"
    print(f"ExoEgo4D converter, fixture of {args.takes} takes x {args.frames} frames (videos exo {video_exo[0]}x"
          f"{video_exo[1]}, Aria {video_ego}x{video_ego}, {how}; box prefilter exo {boxes['exo']}, ego {boxes['ego']}; "
          f"written in "
          f"{fixture_s:.1f} s), setting {args.setting}: {full['takes_used']} takes converted into {full['clips']} "
          f"clips; {os.cpu_count()} CPUs (load average {load})")
    print(f"  {'phase':<14}{'frames':>8}{'seconds':>10}{'frames/s':>10}{'vs PyAV':>9}{'vs threaded':>13}")
    for name, n, s in rows:
        print(f"  {name:<14}{n:>8}{s:>10.2f}{n / s:>10.1f}{n / s / pyav_fps:>8.2f}x{n / s / threaded_fps:>12.2f}x")
    print(f"  throughput ratio  {figures['throughput']['full build']['vs_pyav']:.2f}x  (full build / PyAV decode, "
          f"PyAV's default threading; goal >= 0.8x)")
    print(f"                    {figures['throughput']['full build']['vs_pyav_threaded']:.2f}x  (full build / PyAV "
          f"decode with frame threading, as the converter decodes)")
    print(f"  peak RSS      during the build: 1 take {one['peak_build_mib']:.0f} MiB, {full['takes_used']} takes "
          f"{full['peak_build_mib']:.0f} MiB (resident before it {full['rss_before_mib'] or 0:.0f} MiB; "
          f"imports alone peak at {imports['peak_imports_mib'] or 0:.0f} MiB)")
    print(f"  memory ratio      {figures['rss_ratio']:.2f}x  ({full['takes_used']} takes / 1 take; goal <= 1.2x)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
