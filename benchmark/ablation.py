"""``python -m benchmark ablation``: run a set of methods over several seeds, then the paired ablation table.

Writes ``OUT/seed<K>/<dataset>/<split>/<method>/`` for every (seed, method) through the ordinary runner
(so every run resumes, isolates failures and records its settings), then ``OUT/ABLATION.md`` rendered by
:func:`leaderboard.ablation.render_ablation` from the result files alone.
"""

from __future__ import annotations

from pathlib import Path

# the four variants, the foundation model, and the trivial floors every effect is read against
DEFAULT_METHODS = ("exo2egosyn", "exo2egosyn-no-align", "exo2egosyn-no-multiexocon", "exo2egosyn-no-poseinj",
                   "wan2.2-ti2v", "mean-colour", "mean-exo-frame", "exo-copy", "reproject")
#: three seeds: the generative methods' spread over sampling noise enters every interval of the table
DEFAULT_SEEDS = (0, 1, 2)


def run_ablation(out, *, methods=DEFAULT_METHODS, seeds=DEFAULT_SEEDS, dataset="synth", split="test", root=None,
                 config=None, limit=None, reference="exo2egosyn", n_boot=1000, progress=True,
                 metric_options=None) -> Path:
    from leaderboard.ablation import render_ablation

    from . import registry
    from .data import load_split
    from .runner import run

    out = Path(out)
    failed, not_run = [], []
    if not load_split(dataset, split, root=root, config=config).has_exo_depth:
        # the default set includes the oracle-depth baseline; on data without depth it is left out, and said so
        not_run = [m for m in methods if getattr(registry.method_class(m), "needs_exo_depth", False)]
        methods = [m for m in methods if m not in not_run]
    for seed in seeds:
        for method in methods:
            report = run(method, dataset=dataset, split=split, out=out / f"seed{seed}", root=root, config=config,
                         limit=limit, seed=seed, n_boot=n_boot, progress=progress, metric_options=metric_options)
            failed += [(seed, method, f["clip_id"]) for f in report.failed]
    text = render_ablation(out, reference=reference, n_boot=n_boot)
    if not_run:
        text += f"\nNot run: {', '.join(not_run)} (needs exo depth maps, which {dataset}/{split} does not provide).\n"
    if failed:
        text += f"\n{len(failed)} clip run(s) failed: " + ", ".join(f"{m}/seed{s}/{c}" for s, m, c in failed) + "\n"
    (out / "ABLATION.md").write_text(text)
    return out / "ABLATION.md"
