"""``python -m benchmark ...``: the command line of the suite.

Commands::

    run          generate + score one method on one split, write the run folder, print a summary
    score        score videos already on disk (a run folder, or a folder of <clip_id>.mp4), e.g. to add a metric
    compare      paired comparison of two runs (or seeds of two methods) per clip: difference, CI, p-values
    list         every registered method with a one-line description
    data build   build a dataset into a folder: SynthEgoExo (synth), or ExoEgo4D from an Ego-Exo4D download
    data list    the clip ids of a split, with category and number of frames (no video is decoded)
    data show    draw one clip: exo frames with the ego camera projected into them, beside the ego frames
    data push    upload a dataset folder's description (or, for synthetic data, all of it) to the Hub
    leaderboard  tables (Markdown, LaTeX or HTML) from every results.json under a folder
    figures      paper figures (PNG and PDF) from run folders: qualitative grid, ablation, categories, sweeps
    ablation     several methods x several seeds, then the table with paired tests against a reference
    sweep        methods at several numbers of exo views or levels of exo pose error (for the sweep figures)
    check        verify an install: re-run methods and compare with the committed reference numbers
    weights      metric weights: list, download, verify, register a local copy

Exit status: 0 when everything went through; 1 when some clips failed (``run``, ``score``, ``ablation``; the run
folder's ``errors.jsonl`` says why), when ``check`` finds a regression, or on an internal error (with its traceback: a
bug of ours, or the environment);
2 for a usage error (a mistake in the command: one line on stderr naming the argument, file or clip).
``run``, ``data list`` and ``data show`` take ``--config NAME`` to use one config of a dataset (e.g. one ExoEgo4D
category in one setting) instead of every clip of the split.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from .errors import UsageError


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (argparse reports a bad value as a usage error naming the option)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _int_list(option: str, text: str) -> tuple:
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise UsageError(f"{option} expects comma-separated integers, e.g. 0,1,2; got {text!r}") from None


def parse_metric_args(pairs, metrics=None) -> dict:
    """``--metric-arg lpips.net=vgg`` (repeatable) -> ``{"lpips": {"net": "vgg"}}`` for ``MetricSuite``'s
    ``metric_options``; a :class:`UsageError` names an unknown metric or key (listing the accepted keys), a metric not
    in ``metrics`` (None: not checked here) or a bad value. See :mod:`benchmark.metrics.options`."""
    if not pairs:
        return {}
    from .metrics.options import parse_metric_args as parse

    return parse(pairs, metrics)


_METRIC_ARG_HELP = ("option of a metric, parsed as the type it expects; repeatable. E.g. lpips.net=vgg (default "
                    "alex), fvd.backbone=videomae (default i3d), fvd.max_clips=N, fvd.seed=N, ego_motion.model="
                    "essential, ego_motion.frame_step=N. Recorded in results.json metric_settings. An unknown KEY "
                    "lists the accepted ones")


def parse_metric_names(text: str) -> tuple:
    """``--metrics psnr,ssim`` -> ("psnr", "ssim"); an unknown or repeated name is a :class:`UsageError`."""
    from .metrics.catalog import METRICS, check_metric_names  # torch-free: checking the names imports no metric

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise UsageError(f"--metrics names no metric; known: {', '.join(METRICS)}")
    return check_metric_names(names)


_PROGRESS_SWITCHES = ("transformers.utils.logging", "diffusers.utils.logging")


class _ThenCall:
    """A module loader that runs ``callback(module)`` once the real loader has executed the module."""

    def __init__(self, loader, callback):
        self._loader, self._callback = loader, callback

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self._loader  # leave no trace of the wrapper behind
        self._callback(module)

    def __getattr__(self, name):  # get_source, get_filename, resource readers: the real loader's
        return getattr(self._loader, name)


class _AfterImport:
    """A ``sys.meta_path`` finder that changes nothing about how ``names`` are found; it only calls ``callback``
    with each of these modules right after it has been imported."""

    def __init__(self, names, callback):
        self.names, self.callback = set(names), callback

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.names:
            return None
        self.names.discard(fullname)
        for finder in sys.meta_path:
            if finder is not self and hasattr(finder, "find_spec"):
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _ThenCall(spec.loader, self.callback)
                    return spec
        return None


@contextlib.contextmanager
def library_progress_bars_off():
    """Inside the block, transformers and diffusers draw no progress bars; their settings are restored after.

    These libraries draw bars while loading weights ("Loading weights", "Loading checkpoint shards", "Loading
    pipeline components...") under a module-level switch of their ``utils.logging`` modules. The switches are
    turned off here and back on at the end, so a library user's settings outside the run are left as they were.
    Generators import these libraries lazily, on their first clip: rather than importing them up front
    (seconds, for runs that never use them), a switch module first imported inside the block is turned off
    as soon as it has been executed. (A pipeline's denoising-step bar is the generator's to turn off, with
    ``pipe.set_progress_bar_config(disable=True)``, as exo2egosyn does.)
    """
    turned_off = []

    def turn_off(module):
        if module.is_progress_bar_enabled():
            module.disable_progress_bar()
            turned_off.append(module)

    for name in _PROGRESS_SWITCHES:
        if name in sys.modules:
            turn_off(sys.modules[name])
    hook = _AfterImport([n for n in _PROGRESS_SWITCHES if n not in sys.modules], turn_off)
    sys.meta_path.insert(0, hook)
    try:
        yield
    finally:
        sys.meta_path.remove(hook)
        for module in turned_off:
            module.enable_progress_bar()


def _quiet_if(no_progress: bool):
    return library_progress_bars_off() if no_progress else contextlib.nullcontext()


def print_summary(results: dict, out=None):
    """A small table of the run's metrics (mean and 95% bootstrap interval), printed as the catalogue says."""
    from .metrics import catalog

    out = out or sys.stdout
    ds = results["dataset"]
    counts = results["counts"]
    config = "" if ds.get("config", "default") == "default" else f"[{ds['config']}]"
    print(f"\n{results['method']['name']} on {ds['name']}{config}/{ds['split']} ({ds['track']}): "
          f"{ds.get('n_scored', ds['n_clips'])} of {ds['n_clips']} clips scored; "
          f"generated {counts['generated']}, reused {counts['reused']}, failed {counts['failed']}", file=out)
    rows = [("metric", "mean [95% CI]", "better", "n")]
    notes, need_weights = [], []
    for name, m in results["metrics"].items():
        entry = catalog.entry(name, m.get("higher_is_better"))
        if "unavailable" in m:
            rows.append((name, "unavailable", "", ""))
            if entry.weights and "weight" in m["unavailable"].lower():  # long, and in results.json: say it once
                need_weights.append(name)
            else:
                notes.append(f"  {name}: {m['unavailable']}")
        else:
            rows.append((name, catalog.format_interval(name, m["mean"], m["ci95"]), entry.better, str(m["n"])))
            if m.get("warning"):  # e.g. FVD from too few clips: said wherever the number is shown
                notes.append(f"  {name} warning: {m['warning']}")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, r in enumerate(rows):
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)), file=out)
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths), file=out)
    if need_weights:
        notes.append(f"  {', '.join(need_weights)}: not computed on this machine; "
                     "`python -m benchmark weights` says why and how to get the weights")
    for n in notes:
        print(n, file=out)


def cmd_run(args) -> int:
    from . import registry
    from .runner import run

    method_kwargs = registry.parse_method_args(args.method, args.method_arg)  # before any data or model work
    metrics = parse_metric_names(args.metrics)
    metric_options = parse_metric_args(args.metric_arg, metrics)
    with _quiet_if(args.no_progress):
        report = run(
            args.method, dataset=args.dataset, split=args.split, out=args.out, root=args.root, limit=args.limit,
            config=args.config, seed=args.seed, track=args.track, method_kwargs=method_kwargs, run_name=args.name,
            metrics=metrics, n_boot=args.n_boot, on_error=args.on_error,
            timeout_per_clip=args.timeout_per_clip, progress=not args.no_progress, overwrite=args.overwrite,
            metric_options=metric_options, metrics_device=args.metrics_device, views=args.views,
            pose_noise=args.pose_noise,
        )
    if report.results is not None:
        print_summary(report.results)
        print(f"\nwrote {report.out_dir}/results.json, per_clip.csv and videos/")
    elif report.stopped:
        print("stopped at the first failing clip (--on-error fail); nothing was scored", file=sys.stderr)
    else:
        print(f"shard done; videos in {report.out_dir}/videos (the last shard scores)")
    if report.failed:
        print(f"{len(report.failed)} clip(s) failed; see {report.out_dir}/errors.jsonl", file=sys.stderr)
        return 1
    return 0


def cmd_score(args) -> int:
    from .scoring import ScoringStopped, score_folder, score_run_dir

    metrics = parse_metric_names(args.metrics) if args.metrics is not None else None
    # which metrics are scored is known once the previous results are read: scoring checks the options against them
    metric_options = parse_metric_args(args.metric_arg)
    from .runner import resolve_metrics_device

    common = dict(metrics=metrics, root=args.root, limit=args.limit, n_boot=args.n_boot, on_error=args.on_error,
                  device=resolve_metrics_device(args.device), progress=not args.no_progress, metric_options=metric_options)
    if (args.run_dir is None) == (args.videos is None):
        raise UsageError("score needs either a run folder (score RUN_DIR) or a folder of videos made elsewhere "
                         "(score --videos DIR --dataset NAME --split S --out DIR), not both")
    try:
        if args.run_dir is not None:
            given = [flag for flag, value in (("--dataset", args.dataset), ("--split", args.split),
                                              ("--config", args.config), ("--track", args.track),
                                              ("--name", args.name), ("--seed", args.seed)) if value is not None]
            if given:
                raise UsageError(f"{', '.join(given)}: a run folder's dataset, split, config, track, name and seed "
                                 f"are read from {Path(args.run_dir) / 'run.json'}; these options are for --videos")
            report = score_run_dir(args.run_dir, out=args.out, **common)
        else:
            missing = [flag for flag, value in (("--dataset", args.dataset), ("--split", args.split),
                                                ("--out", args.out)) if value is None]
            if missing:
                raise UsageError(f"score --videos {args.videos} needs {', '.join(missing)} (which split the videos "
                                 "are of, and where to write the results)")
            report = score_folder(args.videos, dataset=args.dataset, split=args.split, out=args.out,
                                  config=args.config, name=args.name, track=args.track or "exo-only",
                                  seed=0 if args.seed is None else args.seed, **common)
    except ScoringStopped as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_summary(report.results)
    if report.metrics_added:
        print(f"\nadded {', '.join(report.metrics_added)} to the metrics scored before")
    print(f"\nwrote {report.out_dir}/results.json and per_clip.csv")
    if report.failed:
        print(f"{len(report.failed)} clip(s) failed; see {report.out_dir}/errors.jsonl", file=sys.stderr)
        return 1
    return 0


def cmd_compare(args) -> int:
    from leaderboard.compare import compare, expand_run_paths

    if args.runs and (args.a or args.b):
        raise UsageError("give the two sides either as RUN_A RUN_B or as --a ... --b ..., not both")
    if args.runs:
        if len(args.runs) != 2:
            raise UsageError(f"compare RUN_A RUN_B takes two run folders (or two quoted glob patterns), got "
                             f"{len(args.runs)}; for several runs per side use --a RUN ... --b RUN ...")
        a, b = expand_run_paths([args.runs[0]]), expand_run_paths([args.runs[1]])
    else:
        if not args.a or not args.b:
            raise UsageError("compare needs both sides: RUN_A RUN_B, or --a RUN [RUN ...] --b RUN [RUN ...]")
        a, b = expand_run_paths(args.a), expand_run_paths(args.b)
    metrics = parse_metric_names(args.metrics) if args.metrics is not None else None
    comparison = compare(a, b, metrics=metrics, n_boot=args.n_boot, n_perm=args.n_perm, seed=args.seed)
    text = comparison.render(markdown=args.markdown)
    print(text, end="")
    if args.out:
        Path(args.out).write_text(comparison.render(markdown=True))
        print(f"wrote {args.out}")
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
    from .data.loading import SYNTH_SPLITS

    if args.dataset == "exoego4d":
        from .data.egoexo4d.convert import build_exoego4d

        if not args.root:
            raise UsageError("data build exoego4d needs --root EGOEXO_DIR (the Ego-Exo4D download)")
        cats = [c.strip() for c in ",".join(args.categories or []).split(",") if c.strip()] or None
        if args.clip_list_name is not None and args.clip_list is None:
            raise UsageError("--clip-list-name needs --clip-list FILE")
        if args.clip_list is not None and not args.clip_list_name:
            raise UsageError("--clip-list needs --clip-list-name NAME (it prefixes the clip ids, e.g. egox)")
        path, report = build_exoego4d(args.root, args.out, categories=cats, setting=args.setting,
                                      workers=args.workers, clip_list=args.clip_list,
                                      clip_list_name=args.clip_list_name)
        n = sum(sum(c.values()) for c in report["clips"].values())
        what = "takes" if args.clip_list is None else "listed clips"
        print(f"built {path}: {n} clips from {len(report['takes_used'])} takes; skipped {what} "
              f"{report['skip_counts']} (see {path / 'build_report.json'})")
        from .data.egoexo4d.committed import summary_line

        line = summary_line(report.get("committed_manifest"))
        if line:
            print(line)
        return 0
    if args.root or args.categories or args.workers != 1 or args.setting != "unseen-takes" or args.clip_list \
            or args.clip_list_name:
        raise UsageError("--root, --categories, --workers, --setting, --clip-list and --clip-list-name apply to "
                         "`data build exoego4d` only")
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    if not splits or any(s not in SYNTH_SPLITS for s in splits):
        raise UsageError(f"--splits {args.splits!r}: SynthEgoExo has the splits {', '.join(SYNTH_SPLITS)}")
    n_clips = {}
    for pair in args.n_clips or []:
        split, _, n = pair.partition("=")
        if split not in SYNTH_SPLITS or not n.isdigit() or int(n) < 1:
            raise UsageError(f"--n-clips expects SPLIT=N with SPLIT one of {', '.join(SYNTH_SPLITS)} and N >= 1, "
                             f"got {pair!r}")
        n_clips[split] = int(n)
    path = build_synth(args.out, splits=splits, seed=args.seed, n_clips=n_clips or None)
    print(f"built {path}")
    return 0


def cmd_data_list(args) -> int:
    from .data import load_split

    clips = load_split(args.dataset, args.split, root=args.root, config=args.config)
    categories = clips.categories()
    rows = [("clip_id", "category", "frames", "ego HxW")]
    for clip_id in clips.clip_ids:  # from the split's parquet table only: no video is decoded
        T, H, W = clips.ego_shape(clip_id)
        rows.append((clip_id, str(categories[clip_id]), str(T), f"{H}x{W}"))
    print(f"{clips.label} at {clips.root}: {len(clips)} clips")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_data_show(args) -> int:
    from .data import load_split
    from .data.show import default_out_path, require_clip_id, show_clip

    clips = load_split(args.dataset, args.split, root=args.root, config=args.config)
    require_clip_id(clips, args.clip_id)
    out = Path(args.out) if args.out else default_out_path(clips.name, clips.split, args.clip_id)
    show_clip(clips.get(args.clip_id), out)
    print(f"wrote {out}")
    return 0


def cmd_data_push(args) -> int:
    from .data.publish import push_to_hub

    push_to_hub(args.folder, args.repo_id, include_videos=args.include_videos, private=args.private,
                dry_run=args.dry_run)
    return 0


def cmd_leaderboard(args) -> int:
    from leaderboard.table import render

    if args.format == "page":
        return _leaderboard_page(args)
    if args.data_root is not None:
        raise UsageError("--data-root applies to --format page only (the frame strips' ground truth)")
    text = render(Path(args.root), format=args.format, standalone=args.standalone, dataset=args.dataset,
                  split=args.split, include_reported=args.reported, config=args.config, by=args.by)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def _leaderboard_page(args) -> int:
    from leaderboard.page import write_page

    if args.standalone:
        raise UsageError("--standalone applies to --format tex only, not page")
    if not args.out:
        raise UsageError("--format page writes a folder (index.html, runs/): give it with --out DIR")
    built = write_page(Path(args.root), Path(args.out), data_root=args.data_root, dataset=args.dataset,
                       split=args.split, include_reported=args.reported, config=args.config, by=args.by)
    for warning in built.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {built.index} and {len(built.runs)} run page(s) under {Path(args.out) / 'runs'}")
    return 0


def cmd_figures(args) -> int:
    from leaderboard.figures import draw_figures, figure_names, run_dirs_under

    names = figure_names(args.which)  # a bad name fails before any run folder is read
    if args.runs and args.root:
        raise UsageError("give the run folders either with --runs RUN_DIR ... or with --root DIR, not both")
    run_dirs = args.runs or run_dirs_under(args.root or "runs")
    clips = [c.strip() for c in args.clips.split(",") if c.strip()] if args.clips is not None else None
    frames = list(_int_list("--frames", args.frames)) if args.frames is not None else None
    written = draw_figures(names, run_dirs, out=args.out, clips=clips, frames=frames, data_root=args.data_root,
                           seed=args.seed, skip_missing_sweeps=args.which.strip() == "all")
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_ablation(args) -> int:
    from . import registry
    from .ablation import run_ablation
    from .metrics.catalog import DEFAULT_METRICS

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    for method in methods:  # an unknown name fails now, not after hours of the other methods
        registry.get_spec(method)
    seeds = _int_list("--seeds", args.seeds)
    metric_options = parse_metric_args(args.metric_arg, DEFAULT_METRICS)  # the runs score run's default metrics
    with _quiet_if(args.no_progress):
        path = run_ablation(args.out, methods=methods, seeds=seeds, dataset=args.dataset, split=args.split,
                            root=args.root, config=args.config, limit=args.limit, reference=args.reference, n_boot=args.n_boot,
                            progress=not args.no_progress, metric_options=metric_options)
    print(path.read_text())
    print(f"wrote {path}")
    return 0


def cmd_sweep(args) -> int:
    from .runner import run_sweep

    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    metrics = parse_metric_names(args.metrics)
    with _quiet_if(args.no_progress):
        reports = run_sweep(methods, views=args.views, pose_noise=args.pose_noise, out=args.out,
                            dataset=args.dataset, split=args.split, root=args.root, config=args.config,
                            limit=args.limit, seed=args.seed, metrics=metrics, n_boot=args.n_boot,
                            progress=not args.no_progress)
    for report in reports:
        print(f"wrote {report.out_dir}")
    kind = "views" if args.views is not None else "pose-noise"
    print(f"draw it: python -m benchmark figures --root {args.out} --which {kind} --out {Path(args.out) / 'figures'}")
    failed = [f for report in reports for f in report.failed]
    if failed:
        print(f"{len(failed)} clip run(s) failed; see errors.jsonl in the run folders above", file=sys.stderr)
        return 1
    return 0


def cmd_check(args) -> int:
    from .check import check

    methods = [m for m in (args.methods or "").split(",") if m] or None
    with _quiet_if(args.no_progress):
        ok = check(reference=args.reference, methods=methods, limit=None if args.limit == 0 else args.limit,
                   out=args.out, root=args.root, progress=not args.no_progress)
    return 0 if ok else 1


def cmd_weights(args) -> int:
    from .metrics import weights

    action = {"status": "list", "fetch": "download"}.get(args.action, args.action)  # older names stay aliases
    cache_dir = args.cache_dir
    if action == "list":
        if args.names or args.path:
            raise UsageError("weights list takes no NAME and no --path")
        print(f"weights directory: {weights.weights_dir(cache_dir)} (--cache-dir, ${weights.ENV_WEIGHTS_DIR}, "
              "else $EXOEGO_CACHE/weights)")
        for wf in weights.FILES.values():
            status = weights.file_status(wf, cache_dir)
            where = f"{status.path} [{status.source}]" if status.path else "not found"
            print(f"  {wf.key:<17} {wf.metric:<13} {status.state:<10} {where}")
            print(f"      source: {wf.url or 'shipped with its package'}; published: {weights.published_text(wf)}")
            if status.state == "missing":
                print(f"      to get it: {weights.fix_command(wf)}")
        for name in weights.METRICS_NEEDING_WEIGHTS:
            ok, reason = weights.check(name, cache_dir=cache_dir)
            print(f"{name}: {'available' if ok else 'unavailable'}" + ("" if ok else f" - {reason}"))
        return 0
    if action == "download":
        if args.path:
            raise UsageError("weights download takes no --path; for a local copy use `weights register NAME PATH`")
        try:
            fetched = weights.fetch_weights(args.names or weights.METRICS_NEEDING_WEIGHTS, cache_dir=cache_dir,
                                            progress=not args.no_progress)
        except weights.WeightsFetchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        for line in fetched:
            print(line)
        return 0
    if action == "register":
        if len(args.names) != 2 or args.path:
            raise UsageError("usage: python -m benchmark weights register NAME PATH "
                             "(e.g. fvd.i3d ~/Downloads/i3d_pretrained_400.pt)")
        status = weights.register(args.names[0], args.names[1], cache_dir=cache_dir, force=args.force)
        print(f"registered {status.wf.key}: {status.path} ({status.state}, sha256 {status.sha256}) in "
              f"{weights.weights_dir(cache_dir) / weights.REGISTRY_FILENAME}")
        return 0
    files = [wf for name in (args.names or weights.METRICS_NEEDING_WEIGHTS) for wf in weights.resolve_key(name)]
    if args.path and len(files) != 1:
        raise UsageError(f"weights verify --path checks one file, but {' '.join(args.names) or 'no NAME'} names "
                         f"{len(files)}; name one (e.g. fvd.i3d)")
    bad = 0
    for wf in files:
        status = weights.file_status(wf, cache_dir, path=args.path)
        size = "" if status.size is None else f", {status.size} bytes"
        print(f"{wf.key}: {status.state}{size}" + (f", sha256 {status.sha256}" if status.sha256 else ""))
        print(f"    {status.detail}")
        if not status.usable:
            bad += 1
            print(f"    fix: {weights.fix_command(wf)}")
    return 1 if bad else 0


class _HelpFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, and fills ``{metrics}`` in with the registered metric names.

    A default of None or False is not shown: such an option's help says in words what happens without it.
    The metric names are read from ``benchmark.metrics.catalog.METRICS``, which imports no torch, so ``--help``
    stays fast.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if "{metrics}" in text:
            from .metrics.catalog import METRICS

            text = text.replace("{metrics}", ", ".join(METRICS))
        default = action.default
        shows_default = action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE)
        if (text and shows_default and "%(default)" not in text and "default:" not in text
                and default is not None and default is not False and default != argparse.SUPPRESS):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """The CLI's parser; its sub-command parsers are made of the same class, so all share :class:`_HelpFormatter`."""

    def __init__(self, *args, formatter_class=_HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)


_ROOT_HELP = ("dataset folder, holding manifest.json (default: in the cache, $EXOEGO_CACHE or ~/.cache/exoego-bench: "
              "<cache>/<dataset>, for synth <cache>/synth-v<N>, built there on first use)")


_CONFIG_HELP = ("dataset config: only its clips (e.g. bike-repair-unseen-takes of exoego4d; `default` is every clip "
                "of the split); an unknown name lists the configs of the folder")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m benchmark", description="Exo-to-ego video synthesis benchmark.",
                epilog="exit status: 0 ok; 1 some clips failed, or an internal error (with a traceback); "
                       "2 usage error (one line naming what to fix)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="generate and score one method on one split",
                       description="Generate one method's ego video for every clip of a split, score them, and write "
                                   "OUT/<dataset>/<split>/<name>/ (videos/, per_clip.csv, results.json). A rerun "
                                   "reuses the clips already finished.")
    r.add_argument("--method", required=True, help="registered method name (`python -m benchmark list` shows them)")
    r.add_argument("--dataset", default="synth",
                   help="dataset name: synth (SynthEgoExo, built into the cache on first use) or another dataset "
                        "whose folder --root gives")
    r.add_argument("--root", default=None, help=_ROOT_HELP)
    r.add_argument("--split", default="test", help="split of the dataset to run on")
    r.add_argument("--config", default="default", help=_CONFIG_HELP)
    r.add_argument("--out", default="runs", help="folder of run folders; the run goes to OUT/<dataset>/<split>/<name>/ "
                                                 "(OUT/<dataset>@<config>/<split>/<name>/ for a named --config)")
    r.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                   help="only the first N clips of the split (default: all)")
    r.add_argument("--seed", type=int, default=0, help="base seed; each clip's seed is derived from it and the clip id")
    r.add_argument("--track", default="exo-only", choices=["exo-only", "first-frame"],
                   help="exo-only: the method sees the exo views and the cameras; first-frame: also the true first "
                        "ego frame")
    r.add_argument("--method-arg", action="append", metavar="KEY=VALUE",
                   help="argument of the method's constructor, parsed as the type it expects (true/false, a "
                        "number, text); repeatable. An unknown KEY lists the accepted ones")
    r.add_argument("--name", default=None,
                   help="name of the run folder and table row (default: the method, plus @first-frame on that track)")
    from .metrics.catalog import DEFAULT_METRICS  # torch-free, like the {metrics} list of the help

    r.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated metrics, out of: {metrics}")
    r.add_argument("--metric-arg", action="append", metavar="METRIC.KEY=VALUE", help=_METRIC_ARG_HELP)
    r.add_argument("--metrics-device", default="auto", metavar="DEVICE",
                   help="where the metrics compute: auto (a CUDA GPU when there is one, else cpu), cpu, cuda, cuda:N "
                        "(default: auto)")
    r.add_argument("--n-boot", type=_positive_int, default=1000, metavar="N",
                   help="bootstrap resamples for the 95%% intervals")
    r.add_argument("--on-error", choices=["skip", "fail"], default="skip",
                   help="a clip that fails (load, input check, generator error or timeout): 'skip' records it in "
                        "errors.jsonl and goes on; 'fail' stops the run there and scores nothing (default: %(default)s)")
    r.add_argument("--fail-fast", dest="on_error", action="store_const", const="fail",
                   help="same as --on-error fail")
    r.add_argument("--timeout-per-clip", type=float, default=None, metavar="S",
                   help="seconds the method may spend generating one clip; a clip that takes longer is recorded as "
                        "failed ('timeout after S s') and the run goes on (POSIX; a method stuck inside one native "
                        "call is stopped when that call returns; default: no limit)")
    r.add_argument("--views", default=None, metavar="N",
                   help="show the method only the N exo views closest to the ego view (by viewing direction); the "
                        "run is named <method>@viewsN and its results record it (default: every view)")
    r.add_argument("--pose-noise", default=None, metavar="ROT_DEG[:TRANS_M]",
                   help="give the method exo camera poses wrong by exactly ROT_DEG degrees (about a random axis) "
                        "and TRANS_M metres (in a random direction), drawn per clip and view from --seed; the truth "
                        "is not touched; the run is named <method>@pose-noise<R>deg[+<T>m] (default: true poses)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the videos of an existing run folder made with other settings")
    r.add_argument("--no-progress", action="store_true",
                   help="draw no progress bars (neither the run's nor the weights-loading bars of transformers / "
                        "diffusers)")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list registered methods",
                        description="Every registered method (built in, or from an installed plugin) with a "
                                    "one-line description.")
    ls.set_defaults(func=cmd_list)

    d = sub.add_parser("data", help="dataset commands: build, list, show, push")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")
    b = dsub.add_parser("build", help="build a dataset on disk: synth, or exoego4d from an Ego-Exo4D download")
    b.add_argument("dataset", choices=["synth", "exoego4d"],
                   help="the dataset to build: synth (SynthEgoExo) or exoego4d (converted from --root)")
    b.add_argument("--root", default=None, metavar="EGOEXO_DIR",
                   help="exoego4d: the Ego-Exo4D download (takes.json, annotations/, takes/, captures/)")
    b.add_argument("--categories", "--category", dest="categories", action="append", metavar="NAME[,NAME]",
                   help="exoego4d: protocol categories to convert (default: all; bike-repair, basketball, "
                        "covid-test, cpr, cooking); with --clip-list, the categories whose rows are kept")
    b.add_argument("--setting", default="unseen-takes", choices=["unseen-takes", "unseen-scenes", "single-exo"],
                   help="exoego4d: the protocol setting (one per output folder)")
    b.add_argument("--workers", type=int, default=1, help="exoego4d: takes converted in parallel")
    b.add_argument("--clip-list", default=None, metavar="FILE",
                   help="exoego4d: convert exactly the clips of an outside list (CSV or JSON: take_uid, "
                        "start_frame, end_frame, cameras; optional stride, split, ego_cam) into setting "
                        "outside-NAME; rows that cannot be made are reported with their reason")
    b.add_argument("--clip-list-name", default=None, metavar="NAME",
                   help="exoego4d: the outside list's name (prefixes its clip ids, e.g. egox)")
    b.add_argument("--out", required=True,
                   help="folder to build into; splits already there must come from the same seed and settings")
    b.add_argument("--splits", default="train,val,test", help="comma-separated splits to build")
    b.add_argument("--seed", type=int, default=0, help="seed of the synthetic scenes")
    b.add_argument("--n-clips", action="append", metavar="SPLIT=N",
                   help="number of clips of SPLIT, repeatable (default: train=240, val=24, test=32)")
    b.set_defaults(func=cmd_data_build)
    dl = dsub.add_parser("list", help="list the clip ids of a split, with category and number of frames",
                         description="The clips of one split, read from its parquet table (no video is decoded).")
    dl.add_argument("--dataset", default="synth", help="dataset name")
    dl.add_argument("--root", default=None, help=_ROOT_HELP)
    dl.add_argument("--split", default="test", help="split whose clips are listed")
    dl.add_argument("--config", default="default", help=_CONFIG_HELP)
    dl.set_defaults(func=cmd_data_list)
    s = dsub.add_parser("show", help="draw one clip to check camera conventions by eye")
    s.add_argument("clip_id", help="id of the clip (`python -m benchmark data list` shows them)")
    s.add_argument("--dataset", default="synth", help="dataset name")
    s.add_argument("--root", default=None, help=_ROOT_HELP)
    s.add_argument("--split", default="test", help="split holding the clip")
    s.add_argument("--config", default="default", help=_CONFIG_HELP)
    s.add_argument("--out", default=None,
                   help="PNG path (default: runs/show/<dataset>/<split>/<clip_id>.png; folders are created)")
    s.set_defaults(func=cmd_data_show)
    ps = dsub.add_parser(
        "push", help="upload a dataset folder to the Hugging Face Hub (maintainers)",
        description="Upload a built dataset folder to a Hub dataset repository. By default only its description "
                    "(README.md card, manifest.json, and where present exoego4d_manifest.json and build_report.json); "
                    "--include-videos adds the parquet and video files and is refused for exoego4d (Ego-Exo4D's "
                    "license does not allow redistributing them). See docs/exoego4d-dataset.md.")
    ps.add_argument("folder", metavar="DIR", help="the dataset folder (holding manifest.json)")
    ps.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub dataset repository")
    ps.add_argument("--include-videos", action="store_true",
                    help="also upload the parquet, video and depth files (synthetic data only)")
    ps.add_argument("--private", action="store_true", help="create the repository private (if it does not exist)")
    ps.add_argument("--dry-run", action="store_true", help="print the files that would be uploaded; upload nothing")
    ps.set_defaults(func=cmd_data_push)

    lb = sub.add_parser("leaderboard", help="render leaderboard tables (Markdown, LaTeX or HTML) from result files")
    lb.add_argument("--root", default="runs", help="folder searched (recursively) for results.json files")
    lb.add_argument("--dataset", default=None, help="only runs on this dataset (default: every dataset)")
    lb.add_argument("--split", default=None, help="only runs on this split (default: every split)")
    lb.add_argument("--config", default=None,
                    help="only runs on this dataset config (default: every config, each in its own section)")
    lb.add_argument("--reported", action="store_true", help="also show numbers reported by other papers")
    lb.add_argument("--format", choices=("md", "tex", "html", "page"), default="md",
                    help="md: Markdown (default); tex: LaTeX tables (booktabs); html: a standalone HTML document; "
                         "page: a static site in the folder --out (index.html with sortable tables, a page per "
                         "run with its per-clip scores and frame strips; relative links, no external files)")
    lb.add_argument("--by", choices=("category",), default=None,
                    help="category: also one table per category of the ranked runs")
    lb.add_argument("--standalone", action="store_true",
                    help="with --format tex: a whole compilable LaTeX document instead of the tables alone")
    lb.add_argument("--out", default=None,
                    help="write the tables to this file (default: print them); with --format page: the folder")
    lb.add_argument("--data-root", default=None, metavar="DIR",
                    help="with --format page: the dataset folder of the runs, for the frame strips' ground truth "
                         "(default: where the runs' results say)")
    lb.set_defaults(func=cmd_leaderboard)

    # the figure names are written out: importing leaderboard.figures here would cost every command pandas' import
    fg = sub.add_parser(
        "figures", help="paper figures (PNG and PDF) from run folders",
        description="Draws figures from run folders only (results.json, per_clip.csv, videos/; nothing is scored "
                    "again) into --out as <figure>.png and <figure>.pdf, in one style: column width, colour-blind-"
                    "safe palette, fonts embedded in the PDF. Figures: qualitative: per clip, the exo views, the "
                    "true ego video and each run's video over several frames, each run's row labelled with the "
                    "clip's PSNR; ablation: per method and metric the mean with its 95% interval (seeds averaged "
                    "per clip) and the paired differences exo2egosyn minus each other method; categories: per "
                    "category each run's mean with its interval; views / pose-noise: each metric against the "
                    "number of exo views or the exo pose error, from `sweep` runs (with --which all, drawn when "
                    "the runs include such runs).")
    fg.add_argument("--root", default=None, metavar="DIR",
                    help="folder searched (recursively) for run folders, i.e. folders holding a results.json "
                         "(default: runs, when --runs is not given)")
    fg.add_argument("--runs", nargs="+", default=None, metavar="RUN_DIR",
                    help="run folders to show, in this order (instead of --root)")
    fg.add_argument("--out", required=True, metavar="DIR", help="folder the PNG and PDF files are written to")
    fg.add_argument("--which", default="all", metavar="NAME[,NAME]",
                    help="figures to draw: all, or comma-separated names out of: qualitative, ablation, categories, "
                         "views, pose-noise")
    fg.add_argument("--clips", default=None, metavar="ID,ID",
                    help="clips of the qualitative grid, one block each; every run must have their videos "
                         "(default: 3 clips of different categories present in every run, chosen with --seed)")
    fg.add_argument("--frames", default=None, metavar="T,T",
                    help="frame indices shown of every clip (default: 4 evenly spaced, the first and last included)")
    fg.add_argument("--seed", type=int, default=0, help="seed of the default choice of clips")
    fg.add_argument("--data-root", default=None, metavar="DIR",
                    help="dataset folder of the true ego videos and exo views (default: the folder the runs' "
                         "results.json name, else the dataset's folder in the cache)")
    fg.set_defaults(func=cmd_figures)

    from .ablation import DEFAULT_METHODS, DEFAULT_SEEDS

    ab = sub.add_parser("ablation", help="run several methods over several seeds, then a paired ablation table")
    ab.add_argument("--out", default="runs/ablation",
                    help="folder of the ablation: run folders under OUT/seed<K>/, the table in OUT/ABLATION.md")
    ab.add_argument("--methods", default=",".join(DEFAULT_METHODS), help="comma-separated methods to run")
    ab.add_argument("--seeds", default=",".join(map(str, DEFAULT_SEEDS)), help="comma-separated seeds; every method runs once per seed")
    ab.add_argument("--reference", default="exo2egosyn", help="method compared (paired, per clip) to the others")
    ab.add_argument("--dataset", default="synth", help="dataset name")
    ab.add_argument("--root", default=None, help=_ROOT_HELP)
    ab.add_argument("--config", default="default", help=_CONFIG_HELP)
    ab.add_argument("--split", default="test", help="split of the dataset to run on")
    ab.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                    help="only the first N clips of the split (default: all)")
    ab.add_argument("--n-boot", type=_positive_int, default=1000, metavar="N",
                    help="bootstrap resamples for the 95%% intervals")
    ab.add_argument("--metric-arg", action="append", metavar="METRIC.KEY=VALUE", help=_METRIC_ARG_HELP)
    ab.add_argument("--no-progress", action="store_true",
                    help="draw no progress bars (neither the runs' nor the weights-loading bars)")
    ab.set_defaults(func=cmd_ablation)

    sw = sub.add_parser(
        "sweep", help="run methods at several numbers of exo views or levels of exo pose error",
        description="Runs every method once per point through the ordinary runner (`run --views N` or `run "
                    "--pose-noise R[:T]`), into OUT/<dataset>/<split>/<method>@views<N> (or @pose-noise<R>deg); "
                    "pose noise 0 is the ordinary run OUT/<dataset>/<split>/<method>. `figures --which views` / "
                    "`--which pose-noise` draw the result.")
    sw.add_argument("--methods", required=True, help="comma-separated registered methods")
    sw.add_argument("--views", default=None, metavar="N,N,...",
                    help="numbers of exo views, e.g. 1,2,3,4 (the N closest to the ego view)")
    sw.add_argument("--pose-noise", default=None, metavar="R[:T],...",
                    help="exo pose errors, e.g. 0,1,2,5 (degrees) or 0:0.02,0:0.05 (degrees:metres)")
    sw.add_argument("--out", default="runs/sweeps", help="folder of the sweep's run folders")
    sw.add_argument("--dataset", default="synth", help="dataset name")
    sw.add_argument("--root", default=None, help=_ROOT_HELP)
    sw.add_argument("--config", default="default", help=_CONFIG_HELP)
    sw.add_argument("--split", default="test", help="split of the dataset to run on")
    sw.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                    help="only the first N clips of the split (default: all)")
    sw.add_argument("--seed", type=int, default=0, help="base seed of the runs (and of the pose errors)")
    sw.add_argument("--metrics", default=",".join(DEFAULT_METRICS), help="comma-separated metrics, out of: {metrics}")
    sw.add_argument("--n-boot", type=_positive_int, default=1000, metavar="N",
                    help="bootstrap resamples for the 95%% intervals")
    sw.add_argument("--no-progress", action="store_true", help="draw no progress bars")
    sw.set_defaults(func=cmd_sweep)

    ck = sub.add_parser(
        "check", help="verify this install: re-run methods and compare with the committed reference numbers",
        description="Re-runs each method that has a reference run on the first N clips of the same data (same seed "
                    "and track) and compares every per-clip score and aggregate with the reference within the "
                    "tolerance measured between machines (leaderboard/tolerances.json). Exit 0: all reproduce; "
                    "1: a regression (the diff names clip, metric, reference, got, difference, tolerance); 2: usage.")
    ck.add_argument("--reference", default=None, metavar="DIR",
                    help="folder of reference run folders (default: leaderboard/results/reference in this package)")
    ck.add_argument("--methods", default=None, metavar="M1,M2",
                    help="comma-separated methods to check (default: every method with a reference run)")
    ck.add_argument("--limit", type=int, default=8, metavar="N",
                    help="re-run the first N clips of the reference (0: all of them; default: %(default)s)")
    ck.add_argument("--root", default=None, metavar="DIR",
                    help="dataset folder (default: the cache; the synthetic data are built there on first use)")
    ck.add_argument("--out", default=None, metavar="DIR",
                    help="keep the new runs in DIR (default: a temporary folder, removed afterwards)")
    ck.add_argument("--no-progress", action="store_true", help="no progress bars")
    ck.set_defaults(func=cmd_check)

    sc = sub.add_parser(
        "score", help="score videos already on disk: a run folder, or a folder of <clip_id>.mp4 made elsewhere",
        description="Score what is on disk against the dataset, without generating anything: a run folder (its "
                    "videos/, its run.json says dataset, split, track and seed) or, with --videos, a folder of "
                    "<clip_id>.mp4 / .mkv made elsewhere. Gives exactly run's numbers on the same videos. Metrics "
                    "given with --metrics are added to those scored before. Exit 0: all scored; 1: some clips "
                    "failed (errors.jsonl); 2: usage.")
    sc.add_argument("run_dir", nargs="?", default=None, metavar="RUN_DIR",
                    help="a run folder written by `run` (omit it when scoring --videos)")
    sc.add_argument("--videos", default=None, metavar="DIR",
                    help="a folder of <clip_id>.mp4 (or .mkv) made elsewhere, at the clips' ego size and frame count")
    sc.add_argument("--dataset", default=None, help="--videos: the dataset the videos are of (e.g. synth)")
    sc.add_argument("--split", default=None, help="--videos: the split the videos are of")
    sc.add_argument("--config", default=None, help="--videos: " + _CONFIG_HELP)
    sc.add_argument("--root", default=None, help=_ROOT_HELP + "; for RUN_DIR, default: the root its results name")
    sc.add_argument("--out", default=None, metavar="DIR",
                    help="folder for per_clip.csv, results.json and errors.jsonl (RUN_DIR: default the run folder "
                         "itself; --videos: required)")
    sc.add_argument("--name", default=None, help="--videos: the method's name in tables (default: the folder's name)")
    sc.add_argument("--track", default=None, choices=["exo-only", "first-frame"],
                    help="--videos: the track the videos were made for (default: exo-only)")
    sc.add_argument("--seed", type=int, default=None, help="--videos: bootstrap seed (default: 0)")
    sc.add_argument("--metrics", default=None,
                    help="comma-separated metrics to add, out of: {metrics} (default: the metrics scored before; "
                         "the default metrics of run for a folder never scored)")
    sc.add_argument("--metric-arg", action="append", metavar="METRIC.KEY=VALUE",
                    help=_METRIC_ARG_HELP + " (default: the options the folder was scored with before)")
    sc.add_argument("--limit", type=_positive_int, default=None, metavar="N",
                    help="only the first N clips of the split (default: as many as scored before, else all)")
    sc.add_argument("--n-boot", type=_positive_int, default=None, metavar="N",
                    help="bootstrap resamples for the 95%% intervals (default: as before, else 1000)")
    sc.add_argument("--on-error", choices=["skip", "fail"], default="skip",
                    help="a clip without a video or whose video cannot be scored: 'skip' records it in errors.jsonl "
                         "and scores the others; 'fail' stops and writes nothing (missing videos: exit 2)")
    sc.add_argument("--device", default="auto",
                    help="where the metrics compute: auto (a CUDA GPU when there is one, else cpu), cpu, cuda, cuda:N "
                         "(default: auto)")
    sc.add_argument("--no-progress", action="store_true", help="no progress bars")
    sc.set_defaults(func=cmd_score)

    cp = sub.add_parser(
        "compare", help="paired comparison of two runs per clip: difference with CI, p-values, effect size",
        description="Pairs the clip scores of run B with those of run A on the clips both scored and, per metric, "
                    "prints B - A with a paired bootstrap 95%% interval, a sign-flip permutation and a Wilcoxon "
                    "signed-rank p-value, Cohen's d_z and the fraction of clips on which B is better. Several runs "
                    "per side (seeds) are averaged per clip first. Runs under different protocols are refused. "
                    "See docs/statistics.md.")
    cp.add_argument("runs", nargs="*", metavar="RUN",
                    help="RUN_A RUN_B: two run folders (or results.json files, or quoted glob patterns, each one side)")
    cp.add_argument("--a", nargs="+", default=None, metavar="RUN", help="side A: one or more run folders or globs")
    cp.add_argument("--b", nargs="+", default=None, metavar="RUN", help="side B: one or more run folders or globs")
    cp.add_argument("--metrics", default=None,
                    help="comma-separated metrics to compare, out of: {metrics} (default: every metric all runs "
                         "scored)")
    cp.add_argument("--n-boot", type=_positive_int, default=10000, metavar="N",
                    help="bootstrap resamples for the interval of the difference")
    cp.add_argument("--n-perm", type=_positive_int, default=10000, metavar="N",
                    help="random sign vectors of the permutation test (exact enumeration when 2^n is not more)")
    cp.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the permutations")
    cp.add_argument("--markdown", action="store_true", help="print Markdown instead of a terminal table")
    cp.add_argument("--out", default=None, metavar="FILE", help="also write the comparison as Markdown to FILE")
    cp.set_defaults(func=cmd_compare)

    w = sub.add_parser(
        "weights", help="metric weights: list, download, verify, register a local copy",
        description="The weight files of lpips, fvd and clip_i, each with its source URL and published checksum "
                    "(benchmark/metrics/weights.py). NAME is a file key (fvd.i3d), a metric (fvd) or a key's last "
                    "part (i3d). A file is looked up in: its environment variable, a registered path, the weights "
                    "directory, the library's own cache.")
    w.add_argument("action", choices=["list", "download", "verify", "register", "status", "fetch"], nargs="?",
                   default="list",
                   help="list: every file, where it was found and its state; download [NAME...]: fetch the missing "
                        "ones into the weights directory (needs internet; 'fetch' is an alias); verify [NAME...]: "
                        "hash them and compare with the published checksums (exit 1 if one is missing or differs); "
                        "register NAME PATH: use a local copy from now on ('status' is an alias of list)")
    w.add_argument("names", nargs="*", metavar="NAME", help="weights names (default: all); register: NAME PATH")
    w.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="the weights directory (default: $EXOEGO_WEIGHTS_DIR, else $EXOEGO_CACHE/weights, i.e. "
                        "~/.cache/exoego-bench/weights); runs read $EXOEGO_WEIGHTS_DIR")
    w.add_argument("--path", default=None, metavar="PATH", help="verify: check this local file or folder instead")
    w.add_argument("--force", action="store_true",
                   help="register: record a file even though it contradicts the published checksum")
    w.add_argument("--no-progress", action="store_true", help="download: no progress bars")
    w.set_defaults(func=cmd_weights)
    return p


def _is_users_mistake(exc: Exception) -> bool:
    """A mistake in the command (an unknown method, a bad argument, a missing dataset folder), not a bug of ours."""
    if isinstance(exc, UsageError):  # UnknownMethodError and MethodArgumentError included
        return True
    from .data.loading import DatasetNotFoundError  # a FileNotFoundError: a missing file elsewhere is not the user's

    return isinstance(exc, DatasetNotFoundError)


def main(argv=None) -> int:
    """The command line; returns the exit status: 0 ok, 1 some clips failed, 2 a usage error.

    A user's mistake (:class:`benchmark.errors.UsageError` and its subclasses, a missing dataset folder, a bad
    option, which argparse reports itself) ends with one line on stderr and status 2. Any other exception is a
    bug or a failure of the environment: it propagates with its traceback (``python -m benchmark`` exits 1).
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (`... | head`): not an error of ours; keep Python from complaining at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        if not _is_users_mistake(exc):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
