"""``python -m exo2egosyn train --config exo2egosyn/configs/<name>.yaml [--set KEY=VALUE ...] [--stop-after N]``.

``--set train.steps=3000 --set backbone=runs/train/tiny-wan-v2`` overrides config entries (dotted keys, YAML
values) without a new file; the resolved config, overrides included, is what the model card records.

Several processes / GPUs: ``accelerate launch -m exo2egosyn train --config ...``. Rerunning the same command
after an interruption resumes from the last saved state in the config's ``work_dir``.
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m exo2egosyn", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train (or resume) one stage from a YAML config")
    t.add_argument("--config", required=True, help="YAML config (see exo2egosyn/configs/)")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override a config entry: dotted key, YAML value (e.g. train.steps=3000); repeatable")
    t.add_argument("--stop-after", type=int, default=None, help="stop before this global step (testing resume)")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    t.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        import yaml

        from .train import apply_overrides, load_config, resolve_paths, train

        try:
            with open(args.config) as f:
                raw = yaml.safe_load(f) or {}
            config = load_config(apply_overrides(raw, args.overrides))
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"python -m exo2egosyn train: error: config {args.config}: {exc}", file=sys.stderr)
            return 2
        if args.print_config:
            print(json.dumps(resolve_paths(config), indent=1))
            return 0
        from .train import RunMismatchError

        try:
            summary = train(config, stop_after=args.stop_after, progress=not args.no_progress)
        except RunMismatchError as exc:
            print(f"python -m exo2egosyn train: error: {exc}", file=sys.stderr)
            return 2
        from .train import final_losses

        print(json.dumps({k: summary[k] for k in ("finished", "step", "work_dir", "output_dir", "wall_s")} |
                         {"final_loss": final_losses(summary["losses"])}, indent=1))
        return 0 if summary["finished"] or args.stop_after is not None else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
