"""``python -m exo2egosyn train --config exo2egosyn/configs/<name>.yaml [--stop-after N] [--no-progress]``.

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
    t.add_argument("--stop-after", type=int, default=None, help="stop before this global step (testing resume)")
    t.add_argument("--no-progress", action="store_true", help="no tqdm bars")
    t.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from .train import _resolve_paths, load_config, train

        if args.print_config:
            print(json.dumps(_resolve_paths(load_config(args.config)), indent=1))
            return 0
        summary = train(args.config, stop_after=args.stop_after, progress=not args.no_progress)
        from .train import final_losses

        print(json.dumps({k: summary[k] for k in ("finished", "step", "work_dir", "output_dir", "wall_s")} |
                         {"final_loss": final_losses(summary["losses"])}, indent=1))
        return 0 if summary["finished"] or args.stop_after is not None else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
