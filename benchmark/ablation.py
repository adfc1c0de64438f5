"""``python -m benchmark ablation``: run a set of methods over several seeds, then the paired ablation table.

Writes ``OUT/seed<K>/<dataset>/<split>/<method>/`` for every (seed, method) through the ordinary runner
(so every run resumes, isolates failures and records its settings), then ``OUT/ABLATION.md`` rendered by
:func:`leaderboard.ablation.render_ablation` from the result files alone.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_METHODS = ("exo2egosyn", "exo2egosyn-no-align", "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj",
                   "wan2.2-ti2v", "exo-copy", "reproject")


def run_ablation(out, *, methods=DEFAULT_METHODS, seeds=(0, 1), dataset="synth", split="test", root=None,
                 limit=None, reference="exo2egosyn", n_boot=1000, progress=True) -> Path:
    from leaderboard.ablation import render_ablation

    from .runner import run

    out = Path(out)
    failed = []
    for seed in seeds:
        for method in methods:
            report = run(method, dataset=dataset, split=split, out=out / f"seed{seed}", root=root, limit=limit,
                         seed=seed, n_boot=n_boot, progress=progress)
            failed += [(seed, method, f["clip_id"]) for f in report.failed]
    text = render_ablation(out, reference=reference, n_boot=n_boot)
    if failed:
        text += f"\n{len(failed)} clip run(s) failed: " + ", ".join(f"{m}/seed{s}/{c}" for s, m, c in failed) + "\n"
    (out / "ABLATION.md").write_text(text)
    return out / "ABLATION.md"
