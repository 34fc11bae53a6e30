"""`srl-agent data convert | stats | formats`: expert trajectories → step-wise SRL instances."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="convert expert trajectories into step-wise SRL instances")
    cmds = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    convert = cmds.add_parser("convert", help="write one SRL instance per expert action (JSONL or Parquet)")
    _add_input_args(convert)
    convert.add_argument(
        "-o", "--output", required=True, help="output file: .jsonl or .parquet (loads with datasets.load_dataset)"
    )
    convert.add_argument(
        "--include-unresolved",
        action="store_true",
        help="keep trajectories whose source marks them unresolved (dropped by default)",
    )
    convert.add_argument(
        "--max-prompt-chars", type=int, help="drop instances whose prompt is longer (counted and reported)"
    )
    convert.add_argument(
        "--max-prompt-tokens",
        type=int,
        help="drop instances whose templated prompt has more tokens (needs --tokenizer)",
    )
    convert.set_defaults(func=run_convert)

    stats = cmds.add_parser("stats", help="trajectories, skips, steps, action types and prompt lengths")
    _add_input_args(stats)
    stats.set_defaults(func=run_stats)

    split = cmds.add_parser("split", help="leak-safe train/eval split by repository or by trajectory, written beside the data")
    split.add_argument("inputs", nargs="+", metavar="INPUT", help="trajectory files, directories, saved datasets or hub names")
    split.add_argument("--by", choices=("repository", "trajectory"), required=True,
                       help="repository: no repository on both sides; trajectory: no task (all its runs) on both sides")
    split.add_argument("--eval-fraction", type=float, default=0.2, help="share of trajectories on the eval side (default: 0.2)")
    split.add_argument("--seed", type=int, default=0, help="shuffle seed (default: 0)")
    split.add_argument("-o", "--output", help="output directory (default: beside the first input, INPUT.split/)")
    split.add_argument("--format", help="force a reader instead of auto-detection (see `srl-agent data formats`)")
    split.add_argument("--skip-bad", action="store_true", help="skip malformed records (counted in split.json)")
    split.set_defaults(func=run_split)

    formats = cmds.add_parser("formats", help="list the trajectory formats that can be read")
    formats.set_defaults(func=run_formats)

    _register_overlap(cmds)

    data.set_defaults(func=lambda args: data.print_help() or 2)


def _add_input_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help=".json/.jsonl/.traj/.parquet files, directories, saved datasets or hub names",
    )
    p.add_argument("--format", help="force a reader instead of auto-detection (see `srl-agent data formats`)")
    p.add_argument(
        "--skip-bad", action="store_true", help="skip malformed records (counted and reported) instead of stopping"
    )
    p.add_argument(
        "--history",
        type=int,
        default=2,
        metavar="K",
        help="expert (action, observation) pairs in each prompt; -1 = all (default: 2, the paper's)",
    )
    p.add_argument(
        "--max-observation-chars",
        type=int,
        default=4000,
        help="truncate each observation to this length, with a marker (default: 4000)",
    )
    p.add_argument(
        "--tokenizer", help="Hugging Face tokenizer name/path, or 'tiny', for token counts and --max-prompt-tokens"
    )


def _prompt_config(args: argparse.Namespace) -> Any:
    from srl_agent.data.prompts import PromptConfig
    from srl_agent.errors import UserError

    try:
        return PromptConfig(history_window=args.history, max_observation_chars=args.max_observation_chars)
    except ValueError as e:
        raise UserError(str(e)) from None


def _reader(args: argparse.Namespace) -> Any:
    from srl_agent.errors import UserError
    from srl_agent.readers import read_trajectories, reader_names

    if args.format and args.format not in reader_names():
        raise UserError(f"unknown --format {args.format!r}; choose one of: {', '.join(reader_names())}")
    return read_trajectories(args.inputs, format=args.format, skip_bad=args.skip_bad)


def _report_skips(result: Any) -> None:
    for error in result.errors[:20]:
        print(f"skipped: {error}", file=sys.stderr)
    if len(result.errors) > 20:
        print(f"skipped: … and {len(result.errors) - 20} more", file=sys.stderr)


def run_convert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from srl_agent.data.instances import ConvertConfig, DropReport, build_instances, write_instances

    config = ConvertConfig(
        prompt=_prompt_config(args),
        only_resolved=not args.include_unresolved,
        max_prompt_chars=args.max_prompt_chars,
        max_prompt_tokens=args.max_prompt_tokens,
        tokenizer=args.tokenizer,
    )
    result = _reader(args)
    report = DropReport()
    trajectories = tqdm(result, desc="trajectories", unit="traj", disable=None, file=sys.stderr)
    written = write_instances(build_instances(trajectories, config, report), args.output)
    _report_skips(result)
    counts = report.lines() + [f"records skipped ({r}): {n}" for r, n in sorted(result.skipped.items())]
    if written == 0:
        from srl_agent.errors import UserError

        raise UserError(f"no instances from {' '.join(args.inputs)}, nothing written ({'; '.join(counts)})")
    for line in counts:
        print(line)
    print(f"wrote {args.output}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from srl_agent.data.instances import token_counter
    from srl_agent.data.stats import collect_stats

    result = _reader(args)
    count = token_counter(args.tokenizer) if args.tokenizer else None
    stats = collect_stats(result, _prompt_config(args), count)
    _report_skips(result)
    print("\n".join(stats.lines(result.skipped)))
    return 0


def run_formats(args: argparse.Namespace) -> int:
    from srl_agent.readers import all_readers

    for reader in all_readers():
        doc = (type(reader).__doc__ or "").strip().splitlines()
        print(f"{reader.name:<28} {doc[0] if doc else ''}")
    return 0


def run_split(args: argparse.Namespace) -> int:
    from pathlib import Path

    from srl_agent.data.split import MANIFEST, SplitBy, default_out_dir, split_sources

    out = Path(args.output) if args.output else default_out_dir(args.inputs[0])
    m = split_sources(args.inputs, out, SplitBy(args.by), args.eval_fraction, args.seed, args.skip_bad, args.format)
    for name, side in (("train", m.train), ("eval", m.eval)):
        print(f"{name}: {side.trajectories} trajectories, {len(side.tasks)} tasks, {len(side.repositories)} repositories")
    if m.unknown_repository:
        print(f"trajectories whose id names no repository (each its own): {m.unknown_repository}")
    for reason, n in sorted(m.skipped.items()):
        print(f"records skipped ({reason}): {n}")
    print(f"wrote {out}/train/, {out}/eval/, {out}/{MANIFEST}")
    return 0


def _register_overlap(cmds: Any) -> None:
    """`data overlap` (evaluation issue): contamination between training trajectories and an evaluation bench."""
    p = cmds.add_parser("overlap", help="instance ids and repositories shared by training trajectories and a bench",
                        description="List the instance ids and repositories that training trajectories share with an "
                        "evaluation bench; --check-sandbox also starts each task's sandbox and verifies that no commit "
                        "after the base is readable. Exit 1 when instance ids are shared.")
    p.add_argument("--trajectories", nargs="+", required=True, metavar="INPUT", help="training data (any format "
                   "`data stats` reads)")
    p.add_argument("--bench", required=True, help="the evaluation bench (as `srl-agent eval --bench`)")
    p.add_argument("--split", help="bench split (default: swe-mini's held-out test split; datasets: test)")
    p.add_argument("--format", help="force a trajectory reader (see `srl-agent data formats`)")
    p.add_argument("--check-sandbox", action="store_true", help="run the contamination guard on every task's sandbox")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.set_defaults(func=run_overlap)


def run_overlap(args: argparse.Namespace) -> int:
    import json

    from srl_agent.data.overlap import check_sandboxes, from_trajectories, lines, overlap
    from srl_agent.readers import read_trajectories
    from srl_agent.tasksets import load_bench, sandbox_factory

    split = args.split or ("test" if args.bench == "swe-mini" else "all")
    tasks = load_bench(args.bench, split, runnable=args.check_sandbox)
    read = read_trajectories(args.trajectories, format=args.format)
    result = overlap(from_trajectories(read), tasks)
    if args.check_sandbox:
        import dataclasses

        result = dataclasses.replace(result, sandbox_checks=check_sandboxes(tasks, sandbox_factory(args.bench)))
    print("\n".join(lines(result)))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result.to_dict(), f, indent=2)
    dirty = any(s != "clean" for s in result.sandbox_checks.values())
    return 1 if result.shared_instances or dirty else 0
