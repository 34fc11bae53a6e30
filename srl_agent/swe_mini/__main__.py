"""`python -m srl_agent.swe_mini build [NAME ...]`: recompute envs/swe-mini/tasks.jsonl (base commits, patches,
FAIL_TO_PASS / PASS_TO_PASS measured in Docker). `python -m srl_agent.swe_mini images`: build the task images."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m srl_agent.swe_mini")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="recompute envs/swe-mini/tasks.jsonl")
    b.add_argument("names", nargs="*", help="only these tasks (e.g. argkit-2); the file then holds only them")
    b.add_argument("--output", help="write here instead of envs/swe-mini/tasks.jsonl")
    b.add_argument("--workers", type=int, default=2)
    i = sub.add_parser("images", help="build (or find) the task images")
    i.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    if args.cmd == "build":
        from pathlib import Path

        from srl_agent.swe_mini.compute import build_bench

        build_bench(Path(args.output) if args.output else None, args.names or None, args.workers)
    else:
        from srl_agent.swe_mini.images import ensure_images

        for iid, tag in ensure_images(args.names or None, log=print).items():
            print(iid, tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
