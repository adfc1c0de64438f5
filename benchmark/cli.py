"""``python -m benchmark ...``: the command line of the suite.

Commands::

    run          generate + score one method on one split, write the run folder, print a summary
    list         every registered method with a one-line description
    data build   build the synthetic dataset (SynthEgoExo) into a folder
    data show    draw one clip: exo frames with the ego camera projected into them, beside the ego frames
    leaderboard  Markdown table from every results.json under a folder
    ablation     several methods x several seeds, then the table with paired tests against a reference
    weights      which metric weights are present, and how to get the missing ones
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _parse_method_args(pairs) -> dict:
    """``--method-arg key=value`` pairs -> kwargs; values parsed as JSON when they parse, else kept as text."""
    kwargs = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise SystemExit(f"error: --method-arg expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            kwargs[key] = json.loads(value)
        except json.JSONDecodeError:
            kwargs[key] = value
    return kwargs


def _fmt_metric(m: dict) -> str:
    if "unavailable" in m:
        return "n/a"
    lo, hi = m["ci95"]
    return f"{m['mean']:.4g} [{lo:.4g}, {hi:.4g}]"


def print_summary(results: dict, out=None):
    """A small table of the run's metrics (mean and 95% bootstrap interval)."""
    out = out or sys.stdout
    ds = results["dataset"]
    counts = results["counts"]
    print(f"\n{results['method']['name']} on {ds['name']}/{ds['split']} ({ds['track']}): "
          f"{ds.get('n_scored', ds['n_clips'])} of {ds['n_clips']} clips scored; "
          f"generated {counts['generated']}, reused {counts['reused']}, failed {counts['failed']}", file=out)
    rows = [("metric", "mean [95% CI]", "better", "n")]
    notes = []
    for name, m in results["metrics"].items():
        if "unavailable" in m:
            rows.append((name, "unavailable", "", ""))
            notes.append(f"  {name}: {m['unavailable']}")
        else:
            rows.append((name, _fmt_metric(m), "higher" if m["higher_is_better"] else "lower", str(m["n"])))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)), file=out)
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths), file=out)
    for n in notes:
        print(n, file=out)


def cmd_run(args) -> int:
    from .runner import run

    report = run(
        args.method, dataset=args.dataset, split=args.split, out=args.out, root=args.root, limit=args.limit,
        seed=args.seed, track=args.track, method_kwargs=_parse_method_args(args.method_arg), run_name=args.name,
        metrics=tuple(args.metrics.split(",")), n_boot=args.n_boot, fail_fast=args.fail_fast,
        progress=not args.no_progress, overwrite=args.overwrite,
    )
    if report.results is not None:
        print_summary(report.results)
        print(f"\nwrote {report.out_dir}/results.json, per_clip.csv and videos/")
    else:
        print(f"shard done; videos in {report.out_dir}/videos (the last shard scores)")
    if report.failed:
        print(f"{len(report.failed)} clip(s) failed; see {report.out_dir}/errors.jsonl", file=sys.stderr)
        return 1
    return 0


def cmd_list(args) -> int:
    from . import registry

    methods = registry.available()
    width = max(len(n) for n in methods)
    for name, spec in methods.items():
        src = "" if spec.source == "builtin" else f"  [{spec.source}]"
        print(f"{name.ljust(width)}  {spec.description}{src}")
    return 0


def cmd_data_build(args) -> int:
    from .data import build_synth

    if args.dataset != "synth":
        raise SystemExit(f"error: only the synthetic dataset is built by this command; got {args.dataset!r}")
    n_clips = {}
    for pair in args.n_clips or []:
        split, _, n = pair.partition("=")
        n_clips[split] = int(n)
    path = build_synth(args.out, splits=tuple(args.splits.split(",")), seed=args.seed, n_clips=n_clips or None)
    print(f"built {path}")
    return 0


def cmd_data_show(args) -> int:
    from .data import load_split
    from .data.show import show_clip

    clips = load_split(args.dataset, args.split, root=args.root)
    clip = clips.get(args.clip_id)
    out = Path(args.out or f"{args.clip_id}.png")
    show_clip(clip, out)
    print(f"wrote {out}")
    return 0


def cmd_leaderboard(args) -> int:
    from leaderboard.table import render_markdown

    text = render_markdown(Path(args.root), dataset=args.dataset, split=args.split, include_reported=args.reported)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def cmd_ablation(args) -> int:
    from .ablation import run_ablation

    path = run_ablation(args.out, methods=tuple(args.methods.split(",")), seeds=tuple(int(x) for x in args.seeds.split(",")),
                        dataset=args.dataset, split=args.split, root=args.root, limit=args.limit,
                        reference=args.reference, n_boot=args.n_boot, progress=not args.no_progress)
    print(path.read_text())
    print(f"wrote {path}")
    return 0


def cmd_weights(args) -> int:
    from .metrics import weights

    if args.action == "fetch":
        try:
            fetched = weights.fetch_weights()
        except weights.WeightsFetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for path in fetched:
            print(f"fetched {path}")
        return 0
    for name in weights.METRICS_NEEDING_WEIGHTS:
        ok, reason = weights.check(name)
        print(f"{name}: {'available' if ok else 'unavailable'} - {reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmark", description="Exo-to-ego video synthesis benchmark.")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="generate and score one method on one split")
    r.add_argument("--method", required=True, help="registered method name (see `list`)")
    r.add_argument("--dataset", default="synth", help="dataset name (default: synth, built on first use)")
    r.add_argument("--root", default=None, help="dataset folder (default: the cache for synth)")
    r.add_argument("--split", default="test")
    r.add_argument("--out", default="runs", help="output folder (default: runs)")
    r.add_argument("--limit", type=int, default=None, help="only the first N clips")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--track", default="exo-only", choices=["exo-only", "first-frame"])
    r.add_argument("--method-arg", action="append", metavar="KEY=VALUE", help="constructor argument (repeatable)")
    r.add_argument("--name", default=None,
                   help="name of the run folder and table row (default: the method, plus @first-frame on that track)")
    r.add_argument("--metrics", default="psnr,ssim,lpips", help="comma-separated metrics")
    r.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples for the 95%% intervals")
    r.add_argument("--fail-fast", action="store_true", help="stop at the first failing clip")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the videos of an existing run folder made with other settings")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list registered methods")
    ls.set_defaults(func=cmd_list)

    d = sub.add_parser("data", help="dataset commands")
    dsub = d.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="build a dataset on disk")
    b.add_argument("dataset", choices=["synth"])
    b.add_argument("--out", required=True)
    b.add_argument("--splits", default="train,val,test")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--n-clips", action="append", metavar="SPLIT=N", help="clips in a split (repeatable)")
    b.set_defaults(func=cmd_data_build)
    s = dsub.add_parser("show", help="draw one clip to check camera conventions by eye")
    s.add_argument("clip_id")
    s.add_argument("--dataset", default="synth")
    s.add_argument("--root", default=None)
    s.add_argument("--split", default="test")
    s.add_argument("--out", default=None, help="PNG path (default: <clip_id>.png)")
    s.set_defaults(func=cmd_data_show)

    lb = sub.add_parser("leaderboard", help="render a Markdown table from result files")
    lb.add_argument("--root", default="runs")
    lb.add_argument("--dataset", default=None)
    lb.add_argument("--split", default=None)
    lb.add_argument("--reported", action="store_true", help="also show numbers reported by other papers")
    lb.add_argument("--out", default=None)
    lb.set_defaults(func=cmd_leaderboard)

    from .ablation import DEFAULT_METHODS

    ab = sub.add_parser("ablation", help="run several methods over several seeds, then a paired ablation table")
    ab.add_argument("--out", default="runs/ablation")
    ab.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    ab.add_argument("--seeds", default="0,1")
    ab.add_argument("--reference", default="exo2egosyn", help="method compared (paired, per clip) to the others")
    ab.add_argument("--dataset", default="synth")
    ab.add_argument("--root", default=None)
    ab.add_argument("--split", default="test")
    ab.add_argument("--limit", type=int, default=None)
    ab.add_argument("--n-boot", type=int, default=1000)
    ab.add_argument("--no-progress", action="store_true")
    ab.set_defaults(func=cmd_ablation)

    w = sub.add_parser("weights", help="metric weights: status or fetch")
    w.add_argument("action", choices=["status", "fetch"], nargs="?", default="status")
    w.set_defaults(func=cmd_weights)
    return p


def main(argv=None) -> int:
    from .registry import UnknownMethodError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UnknownMethodError, FileNotFoundError, ValueError) as exc:
        # Bad input from the user (unknown method, missing dataset, bad argument): one clear line, no traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 2
