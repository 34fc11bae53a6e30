"""`srl-agent eval-steps`: executed step equivalence at held-out expert states (code: replay/step_equivalence.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "eval-steps",
        help="executed step equivalence: run the model's action and the expert's at held-out expert states, compare",
        description="At each chosen state of each expert trajectory (--trajectories, tasks of --bench), the model "
        "writes the next step; its action and the expert's are executed after a real replay of the expert's prefix in "
        "a sandbox, and compared (exit code, output, repository diff). Writes steps.jsonl and summary.json to "
        "--output. The SRL reward is recorded for reference only. Exit 1 when a state hit an infrastructure error.",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--model", help="checkpoint directory, 'tiny', 'smollm2-135m', or a Hugging Face name")
    who.add_argument("--policy", choices=("expert",), help="expert: the expert's own steps (a self-check: 100%% "
                     "equivalent unless the sandbox is nondeterministic)")
    who.add_argument("--completions", metavar="STEPS_JSONL", help="re-execute the completions of an earlier run's "
                     "steps.jsonl (same states, no model)")
    p.add_argument("--trajectories", required=True, help="expert trajectories of held-out tasks, e.g. "
                   "trajectories/swe_mini_heldout.jsonl")
    p.add_argument("--bench", default="swe-mini", help="the bench the trajectories' tasks come from (default: swe-mini)")
    p.add_argument("--output", required=True, help="directory for steps.jsonl and summary.json")
    p.add_argument("--instances", nargs="+", metavar="ID", help="only the trajectories of these instance ids")
    p.add_argument("--per-task", type=int, help="states drawn per trajectory (default: every step)")
    p.add_argument("--seed", type=int, default=0, help="seed of the state draw and of sampling")
    p.add_argument("--history", type=int, help="(action, observation) pairs in the prompt (default: the training "
                   "run's, else 2)")
    p.add_argument("--max-observation-chars", type=int, help="default: the training run's, else 4000")
    p.add_argument("--max-new-tokens", type=int, help="default: the training run's max_completion_tokens, else 1024")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--engine", choices=("hf", "vllm"), default="hf", help="generation engine (default: hf)")
    p.add_argument("--dtype", default="auto", help="model dtype (default: auto)")
    p.add_argument("--command-timeout", type=float, default=120.0, help="seconds per command (default: 120)")
    p.set_defaults(func=_eval_steps)


def _eval_steps(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from srl_agent.agent import policies
    from srl_agent.commands.eval import _fill_from_training_run
    from srl_agent.data.prompts import PromptConfig
    from srl_agent.errors import UserError, output_dir
    from srl_agent.readers import read_trajectories
    from srl_agent.replay.step_equivalence import run_step_equivalence
    from srl_agent.sandbox.cleanup import install_signal_handlers
    from srl_agent.tasksets import load_bench, sandbox_factory

    install_signal_handlers()  # close this command's sandboxes on SIGTERM/SIGHUP (docs/reliability.md)
    out = output_dir(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.per_task is not None and args.per_task < 1:
        raise UserError("--per-task must be >= 1")
    _fill_from_training_run(args)
    try:
        prompt = PromptConfig(history_window=args.history, max_observation_chars=args.max_observation_chars)
    except ValueError as e:
        raise UserError(str(e)) from None
    trajectories = list(read_trajectories([args.trajectories]))
    if args.instances:
        unknown = sorted(set(args.instances) - {t.instance_id for t in trajectories})
        if unknown:
            raise UserError(f"--instances: {', '.join(unknown[:3])} not in {args.trajectories}")
        trajectories = [t for t in trajectories if t.instance_id in set(args.instances)]
    tasks = {t.instance_id: t for t in load_bench(args.bench)}
    missing = sorted({t.instance_id for t in trajectories} - set(tasks))
    if missing:
        raise UserError(f"{args.trajectories}: {len(missing)} trajectories have no task in --bench {args.bench} "
                        f"({', '.join(missing[:3])}); pass the bench they were recorded on")
    if args.completions:
        policy = _Recorded(args.completions)
    elif args.policy == "expert":
        policy = policies.ExpertPolicy({t.instance_id: t for t in trajectories})
    else:
        policy = policies.ModelPolicy.load(args.model, dtype=args.dtype, max_new_tokens=args.max_new_tokens,
                                           temperature=args.temperature, engine=args.engine, seed=args.seed)
    from srl_agent.replay.step_equivalence import choose_states

    total = len(choose_states(trajectories, args.per_task, args.seed))
    bar = tqdm(total=total, desc="step equivalence", unit="state")
    checks, summary = run_step_equivalence(trajectories, policy, tasks, sandbox_factory(args.bench), prompt,
                                           args.per_task, args.seed, progress=bar.update,
                                           command_timeout=args.command_timeout)
    bar.close()
    Path(out, "steps.jsonl").write_text("".join(json.dumps(c.to_json()) + "\n" for c in checks))
    from dataclasses import asdict

    report = {"model": args.model or args.policy or f"completions of {args.completions}", "trajectories": args.trajectories, "bench": args.bench,
              "per_task": args.per_task, "seed": args.seed, "temperature": args.temperature,
              "max_new_tokens": None if args.completions else args.max_new_tokens, "history": args.history, **asdict(summary)}
    Path(out, "summary.json").write_text(json.dumps(report, indent=2) + "\n")
    lo, hi = summary.equivalent_ci
    print(f"equivalent {summary.equivalent:.1%} [{lo:.1%}, {hi:.1%}] of {summary.states} states "
          f"(same exit {summary.same_exit:.1%}, output {summary.same_output:.1%}, diff {summary.same_diff:.1%}); "
          f"format errors {summary.format_errors:.1%} (no action at all {summary.not_runnable:.1%}); SRL reward {summary.mean_srl_reward:.3f} (reference); "
          f"infrastructure errors {summary.errors}", file=sys.stderr)
    return 1 if summary.errors else 0


class _Recorded:
    """The completions of an earlier steps.jsonl, by (instance, step): `--completions`."""

    name, batched = "recorded", True

    def __init__(self, path: str) -> None:
        from srl_agent.errors import UserError

        try:
            rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
            self.texts = {(r["instance_id"], r["step"]): r["completion"] for r in rows}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"--completions {path}: not a steps.jsonl of eval-steps ({e})") from None

    def count_prompt_tokens(self, messages):
        return None

    def complete(self, requests):
        from srl_agent.agent.policies import Completion
        from srl_agent.errors import UserError

        missing = [(r.task.instance_id, r.turn) for r in requests if (r.task.instance_id, r.turn) not in self.texts]
        if missing:
            raise UserError(f"--completions has no completion for {missing[:3]}; pass the same --per-task and --seed")
        return [Completion(self.texts[(r.task.instance_id, r.turn)]) for r in requests]
