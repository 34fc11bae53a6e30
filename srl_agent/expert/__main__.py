"""`python -m srl_agent.expert [--split train] [--output trajectories/swe_mini.jsonl] [--sample N]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE_IDS = ("swe-mini__argkit-1", "swe-mini__datewise-1", "swe-mini__evictkit-1")


def main(argv: list[str] | None = None) -> int:
    from srl_agent import swe_mini
    from srl_agent.expert.record import write_trajectories
    from srl_agent.swe_mini.spec import load_specs

    parser = argparse.ArgumentParser(prog="python -m srl_agent.expert")
    parser.add_argument("--split", default="train", choices=("train", "test", "all"))
    parser.add_argument("--output", type=Path, default=REPO / "trajectories" / "swe_mini.jsonl")
    parser.add_argument("--sample", type=Path, default=REPO / "trajectories" / "sample.jsonl",
                        help="also write these trajectories to this file: " + ", ".join(SAMPLE_IDS))
    parser.add_argument("names", nargs="*", help="only these instance ids")
    args = parser.parse_args(argv)
    tasks = swe_mini.load(args.split)
    if args.names:
        tasks = [t for t in tasks if t.instance_id in args.names]
    specs = {s.instance_id: s for s in load_specs()}
    recorded = write_trajectories(tasks, specs, args.output, swe_mini.sandbox_factory())
    print(f"wrote {len(recorded)} trajectories to {args.output}")
    sample = [r.record for r in recorded if r.record["instance_id"] in SAMPLE_IDS]
    if args.sample and sample:
        args.sample.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sample), encoding="utf-8")
        print(f"wrote {len(sample)} trajectories to {args.sample}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
