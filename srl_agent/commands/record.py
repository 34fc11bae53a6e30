"""`srl-agent record`: run a policy (usually a served model, `--model openai:NAME`) as an agent on a bench, grade every
patch, and write its episodes as expert trajectories that `data convert` reads (srl_agent/data/write.py).

    OUTPUT/attempt-K/          an `eval` run per attempt (episodes.jsonl, report.json, logs/): attempt K runs only
                               the tasks no earlier attempt resolved (rejection sampling, as SWE-Gym and SWE-smith)
    OUTPUT/trajectories.jsonl  every graded attempt with at least one well-formed action (resolved or not), rebuilt
                               from the attempt runs at the end; `data convert` keeps the resolved ones unless
                               --include-unresolved
    OUTPUT/record.json         per instance: attempts, resolved, the attempt that resolved it; token totals

Rerunning the same command resumes (each attempt resumes like `eval`). Exit code: 0 when every task's last attempt
was graded, 1 when one ended in an infrastructure error (API failure, container death: see attempt-K/report.json),
2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    from srl_agent.commands.policies import add_api_args

    p = sub.add_parser(
        "record",
        help="record expert trajectories: a served model (openai:NAME) as an agent on a bench, patches graded",
        description="Run --model on --bench's tasks, retry unresolved ones up to --attempts times, and write "
        "OUTPUT/trajectories.jsonl (ft_xml layout + model, sampling, resolved, token usage) for `data convert`.",
    )
    p.add_argument("--model", required=True, help="openai:NAME (a model behind an OpenAI-compatible API), or a "
                   "local checkpoint / 'tiny'")
    p.add_argument("--output", required=True, help="record directory (created; an existing one is resumed)")
    p.add_argument("--bench", default="swe-mini", help="swe-mini, a mined tasks directory (`env mine`), "
                   "swe-bench[-lite|-verified] or a dataset file (default: swe-mini)")
    p.add_argument("--split", help="swe-mini: train | test | all (default: train, the tasks trajectories are for)")
    p.add_argument("--instances", nargs="+", metavar="ID", help="only these instance ids")
    p.add_argument("--attempts", type=int, default=1, help="tries per task until one resolves it (default: 1)")
    p.add_argument("--workers", type=int, help="episodes (sandboxes) at once (default: 2; with --docker-hosts the "
                   "pool's total capacity)")
    p.add_argument("--docker-hosts", metavar="URLS|FILE", help="sandboxes on a pool of Docker hosts, as `eval "
                   "--docker-hosts`")
    p.add_argument("--retries", type=int, default=1, help="with --docker-hosts: rerun an episode whose host stopped "
                   "answering on another host, up to N times (default: 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0; use > 0 with "
                   "--attempts so that retries differ)")
    p.add_argument("--max-turns", type=int, default=50, help="turn limit per episode (default: 50)")
    p.add_argument("--max-format-errors", type=int, default=3, help="stop after this many malformed turns in a row")
    p.add_argument("--max-new-tokens", type=int, default=4096, help="tokens per turn (default: 4096)")
    p.add_argument("--history", type=int, default=-1, help="(action, observation) pairs in each prompt "
                   "(default: -1, all: a strong model works best with the whole episode)")
    p.add_argument("--max-observation-chars", type=int, default=10000, help="observation truncation (default: 10000)")
    add_api_args(p, seed=True)
    p.add_argument("--command-timeout", type=float, default=120.0, help="seconds per agent command (default: 120)")
    p.add_argument("--grade-timeout", type=float, default=1800.0, help="seconds per test run (default: 1800)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no summary table")
    p.set_defaults(func=_record)


def _record(args: argparse.Namespace) -> int:
    import dataclasses

    from srl_agent.agent.loop import AgentConfig
    from srl_agent.commands.policies import api_policy
    from srl_agent.data.prompts import PromptConfig
    from srl_agent.data.write import episode_record, write_records
    from srl_agent.errors import UserError
    from srl_agent.evaluate.runner import EvalConfig, load_finished, run_eval
    from srl_agent.sandbox.cleanup import install_signal_handlers
    from srl_agent.tasksets import sandboxes, select_tasks

    install_signal_handlers()  # sandboxes open in worker threads, which cannot install the SIGTERM handler
    if args.attempts < 1 or (args.workers or 1) < 1 or args.max_turns < 1 or args.max_format_errors < 1:
        raise UserError("--attempts, --workers, --max-turns and --max-format-errors must be >= 1")
    if args.retries < 0:
        raise UserError("--retries must be >= 0")
    from srl_agent.sandbox.hosts import parse_hosts

    hosts = parse_hosts(args.docker_hosts) if args.docker_hosts else ()
    if args.attempts > 1 and args.temperature == 0:
        print("note: --attempts > 1 at temperature 0 mostly repeats the same attempt; consider --temperature 0.7",
              file=sys.stderr)
    try:
        prompt = PromptConfig(history_window=args.history, max_observation_chars=args.max_observation_chars)
    except ValueError as e:
        raise UserError(str(e)) from None
    policy = _policy(args, api_policy)
    out = Path(args.output)
    config = EvalConfig(output=out, sandboxes=sandboxes(args.bench), bench=args.bench,
                        split=args.split or ("train" if args.bench == "swe-mini" else None),
                        instances=tuple(args.instances or ()), workers=args.workers or (0 if hosts else 2),
                        hosts=hosts, retries=args.retries,
                        agent=AgentConfig(max_turns=args.max_turns, max_format_errors=args.max_format_errors,
                                          prompt=prompt),
                        command_timeout_s=args.command_timeout, grade_timeout_s=args.grade_timeout,
                        progress=not args.no_progress, print_summary=not args.no_progress)
    tasks = select_tasks(config)
    latest: dict[str, tuple[int, object]] = {}  # instance id -> (attempt, its episode)
    records, no_actions = [], 0
    for attempt in range(1, args.attempts + 1):
        todo = [t for t in tasks if not _resolved(latest.get(t.instance_id))]
        if not todo:
            break
        _reseed(policy, attempt)
        run_dir = out / f"attempt-{attempt}"
        if not args.no_progress:
            print(f"attempt {attempt}/{args.attempts}: {len(todo)} task(s)", file=sys.stderr)
        run_eval(dataclasses.replace(config, output=run_dir), policy, todo)
        for iid, episode in load_finished(run_dir / "episodes.jsonl").items():
            latest[iid] = (attempt, episode)
            if episode.error is not None:
                continue
            if all(t.action is None for t in episode.turns):  # nothing but malformed turns: no trajectory to read
                no_actions += 1
                continue
            records.append(episode_record(episode, model=policy.name, attempt=attempt, sampling=_sampling(policy)))
    write_records(out / "trajectories.jsonl", records)
    summary = {**_summary(tasks, latest, records, args.attempts), "episodes_without_actions": no_actions}
    (out / "record.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"{out / 'trajectories.jsonl'}: {len(records)} trajectories ({summary['resolved_trajectories']} resolved); "
          f"{no_actions} episode(s) without a well-formed action left out; tasks resolved {len(summary['resolved_ids'])}/{len(tasks)} in <= {args.attempts} attempt(s); "
          f"infrastructure errors {len(summary['error_ids'])}; tokens {summary['prompt_tokens']} in / "
          f"{summary['completion_tokens']} out")
    return 1 if summary["error_ids"] else 0


def _policy(args: argparse.Namespace, api_policy):
    if args.model.startswith("openai:"):
        return api_policy(args, args.model.removeprefix("openai:"))
    from srl_agent.agent.policies import ModelPolicy

    return ModelPolicy.load(args.model, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            seed=args.seed or 0)


def _reseed(policy, attempt: int) -> None:
    """Each attempt samples with its own seed (when one was given), so a retry is a new draw."""
    import dataclasses

    settings = getattr(policy, "settings", None)
    if settings is not None and settings.seed is not None:
        base = getattr(policy, "_base_seed", settings.seed)
        policy._base_seed = base
        policy.settings = dataclasses.replace(settings, seed=base + 100_000 * (attempt - 1))
    elif hasattr(policy, "seed"):
        policy.seed = getattr(policy, "_base_seed", policy.seed) + 100_000 * (attempt - 1)


def _sampling(policy) -> dict:
    if hasattr(policy, "sampling"):
        return policy.sampling
    return {"temperature": policy.temperature, "max_tokens": policy.max_new_tokens, "seed": policy.seed}


def _resolved(entry) -> bool:
    return entry is not None and entry[1].error is None and bool(entry[1].resolved)


def _summary(tasks, latest, records, attempts: int) -> dict:
    instances = {}
    for t in tasks:
        attempt, episode = latest.get(t.instance_id, (0, None))
        instances[t.instance_id] = {"attempts": attempt, "resolved": _resolved(latest.get(t.instance_id)),
                                    "error": None if episode is None else episode.error}
    usage = [r["usage"] for r in records]
    return {
        "max_attempts": attempts,
        "trajectories": len(records),
        "resolved_trajectories": sum(r["resolved"] for r in records),
        "resolved_ids": sorted(i for i, v in instances.items() if v["resolved"]),
        "error_ids": sorted(i for i, v in instances.items() if v["error"] is not None),
        "prompt_tokens": sum(u.get("prompt_tokens", 0) for u in usage),
        "completion_tokens": sum(u.get("completion_tokens", 0) for u in usage),
        "cost_usd": round(sum(u.get("cost_usd", 0.0) for u in usage), 6) if any("cost_usd" in u for u in usage) else None,
        "instances": instances,
    }
