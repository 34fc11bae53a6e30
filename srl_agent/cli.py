"""The `srl-agent` command. Each subcommand lives in `srl_agent/commands/<name>.py` and imports heavy libraries
only inside its handler, so `srl-agent --help` stays instant."""

from __future__ import annotations

import argparse
import importlib
import sys

from srl_agent import __version__

# Subcommand modules, in --help order. Each defines `register(subparsers)`.
COMMANDS = ("data", "train", "plan", "env", "eval", "eval_steps", "record", "perf", "replay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="srl-agent",
        description="Train software-engineering agents with Supervised Reinforcement Learning (SRL).",
    )
    parser.add_argument("--version", action="version", version=f"srl-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"srl_agent.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`srl-agent data stats … | head`): stop quietly, as `cat` does. Python would otherwise
        # print a traceback, and again at exit when it flushes stdout; point stdout at /dev/null for that flush.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE: what a shell reports for a command its pipe reader stopped


def _main(argv: list[str] | None) -> int:
    from srl_agent.errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return args.func(args) or 0
    except UserError as e:
        print(f"srl-agent {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"srl-agent {args.command}: interrupted; {_resume_hint(args)}", file=sys.stderr)
        return 130


def _resume_hint(args: argparse.Namespace) -> str:
    """What an interrupted command saved and how to continue: the command module's `resume_hint(args)`, if any."""
    hint = getattr(importlib.import_module(f"srl_agent.commands.{args.command}"), "resume_hint", None)
    return hint(args) if hint else "nothing was saved"


if __name__ == "__main__":
    sys.exit(main())
