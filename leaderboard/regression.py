"""Regression check: does a new run reproduce a reference run's numbers?

Compares two run folders (each with ``results.json`` and ``per_clip.csv``), reading files only:

* the dataset must be the same data (``manifest_sha256``), split and track;
* the metric settings must agree (a different crop or value range is a different number);
* on every clip both runs scored, every metric must agree within ``atol``; the candidate may have scored
  fewer clips (a ``--limit`` run), but not clips the reference lacks.

Returns a list of human-readable differences; empty means the candidate reproduces the reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.results import load_results, read_per_clip


def compare_runs(reference: Path, candidate: Path, *, atol: float = 1e-6) -> list:
    reference, candidate = Path(reference), Path(candidate)
    ref, new = load_results(reference / "results.json"), load_results(candidate / "results.json")
    problems = []
    for key in ("name", "split", "track", "manifest_sha256"):
        if ref["dataset"].get(key) != new["dataset"].get(key):
            problems.append(f"dataset {key} differs: reference {ref['dataset'].get(key)!r}, "
                            f"candidate {new['dataset'].get(key)!r}")
    for key in ("colour_space", "value_range", "crop", "resize", "frames_scored", "psnr", "ssim", "lpips"):
        a, b = ref.get("metric_settings", {}).get(key), new.get("metric_settings", {}).get(key)
        if a != b:
            problems.append(f"metric setting {key} differs: reference {a!r}, candidate {b!r}")
    ref_clips = read_per_clip(reference / "per_clip.csv").set_index("clip_id")
    new_clips = read_per_clip(candidate / "per_clip.csv").set_index("clip_id")
    extra = sorted(set(new_clips.index) - set(ref_clips.index))
    if extra:
        problems.append(f"clips not in the reference: {extra[:5]}{' ...' if len(extra) > 5 else ''}")
    common = sorted(set(new_clips.index) & set(ref_clips.index))
    if not common:
        problems.append("no clip scored by both runs")
    metrics = [c for c in ref_clips.columns if c != "category" and c in new_clips.columns]
    for m in metrics:
        a = ref_clips.loc[common, m].to_numpy(dtype=float)
        b = new_clips.loc[common, m].to_numpy(dtype=float)
        bad = ~np.isclose(a, b, rtol=0.0, atol=atol)
        for cid, x, y in zip(np.asarray(common)[bad][:5], a[bad][:5], b[bad][:5]):
            problems.append(f"{m} on {cid}: reference {x:.9g}, candidate {y:.9g} (|diff| > {atol:g})")
    return problems
