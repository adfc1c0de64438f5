"""``python -m benchmark check``: verify an install by reproducing the committed reference numbers.

For every method with a reference run folder (default: ``leaderboard/results/reference/<dataset>/<split>/``),
the method is run again from scratch on the first ``limit`` clips of the same data with the reference's seed
and track, and every per-clip score and aggregate is compared with the reference within the tolerance measured
for that kind of method (``leaderboard.tolerances``). The data are checked by content identity first, so a
dataset built on another machine is the same data, and a modified one is named as such.

Exit status: 0 when every method reproduces its reference, 1 when one does not (the readable diff names the
clip, metric, reference, value got, difference and tolerance), 2 for a usage error (unknown method, no
reference folder).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from .errors import UsageError

REFERENCE_ROOT = Path(__file__).resolve().parent.parent / "leaderboard" / "results" / "reference"


def reference_runs(reference: Path) -> dict:
    """``{method: run folder}`` of the reference runs under ``reference`` (folders holding a results.json)."""
    from .results import find_results, load_results

    runs = {}
    for path in find_results(reference):
        results = load_results(path)
        runs[str(results["method"].get("registered_as") or results["method"]["name"])] = path.parent
    return runs


def _method_kwargs(run_folder: Path) -> dict | None:
    """The ``--method-arg`` values the reference was made with (its ``run.json``; none when it has no such file)."""
    path = run_folder / "run.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text()).get("method_kwargs") or None


def check(*, reference: Path | None = None, methods=None, limit: int | None = 8, out: Path | None = None,
          root: Path | None = None, progress: bool = False, stream=None) -> bool:
    """Run the check (see the module docstring); print the report to ``stream``; return True when all pass.

    ``reference`` is a folder of run folders (searched recursively); ``methods`` restricts the methods checked
    (default: every method with a reference); ``limit`` the number of clips re-run (None: all the reference
    scored); ``out`` keeps the new runs there (default: a temporary folder, removed afterwards); ``root`` is
    the dataset folder (default: the cache, built on first use for the synthetic data).
    """
    from leaderboard.regression import compare_runs

    from .results import dataset_config, load_results
    from .runner import run

    stream = stream or sys.stdout
    reference = Path(reference) if reference is not None else REFERENCE_ROOT
    if not reference.exists():
        raise UsageError(f"--reference {reference}: no such folder (expected run folders with results.json)")
    runs = reference_runs(reference)
    if not runs:
        raise UsageError(f"--reference {reference}: no results.json found under it")
    chosen = list(runs) if not methods else list(methods)
    unknown = [m for m in chosen if m not in runs]
    if unknown:
        raise UsageError(f"--methods: no reference run for {unknown} under {reference}; "
                         f"methods with a reference: {sorted(runs)}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}")

    tmp = None
    if out is None:
        tmp = tempfile.TemporaryDirectory(prefix="exoego-check-")
        out = Path(tmp.name)
    all_ok = True
    try:
        for method in chosen:
            ref = load_results(runs[method] / "results.json")
            ds = ref["dataset"]
            report = run(method, dataset=ds["name"], split=ds["split"], root=root, config=dataset_config(ref),
                         out=Path(out) / method,
                         limit=limit, seed=int(ref["seed"]), track=ds.get("track", "exo-only"),
                         method_kwargs=_method_kwargs(runs[method]), progress=progress,
                         n_boot=int((ref.get("bootstrap") or {}).get("n_boot", 1000)),
                         metrics=tuple(m for m in ref["metrics"]), overwrite=True,
                         metrics_device="cpu")  # the references were scored on the CPU
            comparison = compare_runs(runs[method], report.out_dir)
            if report.failed:
                comparison.protocol.append(f"{len(report.failed)} clip(s) failed to run: "
                                           + "; ".join(f"{f['clip_id']}: {f['error']}" for f in report.failed[:3]))
            print(comparison.render(), file=stream)
            all_ok &= comparison.ok
    finally:
        if tmp is not None:
            tmp.cleanup()
    n = len(chosen)
    print(f"\n{'all ' + str(n) + ' method(s) reproduce' if all_ok else 'REGRESSION: not every method reproduces'} "
          f"the reference numbers in {reference}", file=stream)
    return all_ok
