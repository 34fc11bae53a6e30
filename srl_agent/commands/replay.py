"""`srl-agent replay`: view episodes (eval), training samples (train) or expert trajectories; counterfactual live
replay in a sandbox (--live); a static HTML page (--html)."""

from __future__ import annotations

import argparse
from pathlib import Path

SHIPPED_EXPERTS = Path(__file__).resolve().parents[2] / "trajectories" / "swe_mini.jsonl"

EPILOG = """\
inputs: episodes.jsonl (srl-agent eval), samples.jsonl (srl-agent train), any trajectory file (srl-agent data formats).
  srl-agent replay runs/eval/episodes.jsonl                      # ? in the viewer lists the keys
  srl-agent replay runs/tiny/samples.jsonl --episode 3 --step 2
  srl-agent replay trajectories/swe_mini.jsonl --live --model tiny   # b on a step: branch in a fresh sandbox
  srl-agent replay runs/eval/episodes.jsonl --html report.html --limit 50
See docs/replay.md."""


def register(sub) -> None:
    p = sub.add_parser("replay", help="interactive viewer of episodes, training samples and trajectories",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", help="episodes.jsonl, samples.jsonl, or a trajectory file or directory")
    p.add_argument("--episode", metavar="N|ID", help="open at this item: 1-based number or instance id")
    p.add_argument("--step", type=int, default=1, metavar="K", help="open at this step (1-based; default 1)")
    p.add_argument("--expert", action="append", metavar="FILE",
                   help="expert trajectories to compare episodes with, step by step (default: the shipped swe-mini ones)")
    p.add_argument("--html", metavar="OUT.html", type=Path, help="write a self-contained static page instead of the viewer")
    p.add_argument("--limit", type=int, default=200, help="--html: at most this many items (default 200)")
    p.add_argument("--live", action="store_true",
                   help="enable counterfactual replay: b on step k rebuilds the sandbox, replays to k, and lets you act "
                        "(with --episode, opens there directly)")
    p.add_argument("--bench", help="--live: bench of the tasks (default: the episode's `bench`, else swe-mini)")
    p.add_argument("--model", help="--live: a policy to ask for step k's action: tiny, smollm2-135m, or a model directory / HF name")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError
    from srl_agent.replay.sources import default_experts, open_source

    experts = default_experts(args.expert or [str(SHIPPED_EXPERTS)])
    source = open_source(args.path, experts)
    try:
        item = _resolve_item(source, args.episode)
        if args.html:
            from srl_agent.replay.html import export_html

            n = export_html(source, args.html, [item] if args.episode else None, args.limit)
            print(f"wrote {args.html}: {n} of {len(source)} {source.kind}")
            return 0
        if args.step < 1:
            raise UserError("--step counts from 1")
        return _view(source, item, args, experts)
    finally:
        source.close()


def _resolve_item(source, episode: str | None) -> int:
    from srl_agent.errors import UserError

    if episode is None:
        return 0
    if episode.isdigit():
        n = int(episode)
        if not 1 <= n <= len(source):
            raise UserError(f"--episode {n}: the file has {len(source)} items (1..{len(source)})")
        return n - 1
    found = source.find_instance(episode)
    if found is None:
        raise UserError(f"--episode {episode}: no item with that instance id in {source.path}")
    return found


def _view(source, item: int, args: argparse.Namespace, experts) -> int:
    from srl_agent.replay.app import ReplayApp, Start

    live = None
    if args.live:
        from srl_agent.replay.live import LiveSession, Policy
        from srl_agent.replay.live_screen import LiveScreen

        policy = (lambda: Policy(args.model)) if args.model else None

        def live(it, k):
            return LiveScreen(it, k, lambda x: LiveSession.open(x, args.bench, experts), policy)

    ReplayApp(source, Start(item, args.step - 1, branch=bool(args.live and args.episode)), live).run()
    return 0
