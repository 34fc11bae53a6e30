"""`srl-agent eval`: run a policy as a multi-turn agent on a bench and grade its patches (docs/evaluation.md)."""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

from srl_agent.commands.policies import add_api_args, context_limit, eval_policy

POLICIES = ("gold", "expert", "empty")


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a policy as an agent on swe-mini / SWE-bench and grade its patches",
        description="Run --model or --policy on every task of --bench (default: swe-mini's held-out split), N "
        "sandboxes at once; write episodes.jsonl, preds.jsonl, per-instance logs and report.json to --output. "
        "Rerunning the same command resumes. --predictions FILE grades an existing predictions file instead; "
        "--regrade-logs grades existing test logs. Exit codes: 0 all graded, 1 infrastructure errors, 2 bad input, "
        "3 instances not run, 4 harness self-check failed (docs/evaluation.md).",
    )
    who = p.add_mutually_exclusive_group()
    who.add_argument("--model", help="checkpoint directory, Hugging Face name, 'tiny' (the built-in test model), "
                     "'smollm2-135m' (a real 135M instruct model, offline), or openai:NAME (a model behind an "
                     "OpenAI-compatible API: see --base-url)")
    who.add_argument("--policy", choices=POLICIES, help="gold: apply the gold patch; expert: replay --trajectories; "
                     "empty: submit nothing")
    who.add_argument("--regrade-logs", metavar="DIR", help="grade the test_output.txt logs under DIR (no containers)")
    p.add_argument("--output", required=True, help="run directory (created; an existing one is resumed)")
    p.add_argument("--bench", default="swe-mini", help="swe-mini, swe-bench[-lite|-verified], a tasks directory, or "
                   "a .json/.jsonl/.parquet/save_to_disk dataset (default: swe-mini)")
    p.add_argument("--split", help="swe-mini: train | test | all (default test: held-out); datasets: default test")
    p.add_argument("--instances", nargs="+", metavar="ID", help="only these instance ids")
    p.add_argument("--setting", choices=("end-to-end", "oracle-file"), default="end-to-end",
                   help="oracle-file adds the files the gold patch edits to the issue (default: end-to-end)")
    p.add_argument("--workers", type=int, help="episodes (sandboxes) at once (default: 2; with --docker-hosts the "
                   "pool's total capacity)")
    p.add_argument("--docker-hosts", metavar="URLS|FILE", help="run the sandboxes on a pool of Docker hosts: "
                   "comma-separated URL[=CAPACITY] (unix:///…, ssh://user@host, tcp://host:2376) or a hosts file "
                   "(.toml/.yaml); images are copied to every host first (docs/evaluation.md)")
    p.add_argument("--retries", type=int, default=1, help="with --docker-hosts: run an episode whose host stopped "
                   "answering again on another host, up to N times (default: 1)")
    p.add_argument("--grader", choices=("srl", "swebench"), default="srl",
                   help="srl: grade each patch in a fresh container here; swebench: the official "
                   "swebench.harness.run_evaluation on preds.jsonl (needs Docker and the instance images)")
    p.add_argument("--harness", choices=("swebench", "swesmith"), default="swebench",
                   help="test-log semantics of the srl grader and of --regrade-logs (default: swebench)")
    p.add_argument("--trajectories", help="expert trajectories for --policy expert (any format `data stats` reads)")
    p.add_argument("--max-turns", type=int, default=50, help="turn limit per episode (default: 50)")
    p.add_argument("--max-prompt-tokens", type=int, help="context limit (default: the model's context minus "
                   "--max-new-tokens, at most 32768)")
    p.add_argument("--max-format-errors", type=int, default=3, help="stop after this many malformed turns in a row")
    p.add_argument("--history", type=int, help="(action, observation) pairs in each prompt (default: the training "
                   "run's history_window when --model is an srl-agent checkpoint, else 2, the paper's; -1: all)")
    p.add_argument("--max-observation-chars", type=int, help="observation truncation (default: the training run's, "
                   "else 4000)")
    p.add_argument("--max-new-tokens", type=int, help="tokens per turn (default: the training run's "
                   "max_completion_tokens, else 1024)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy, the paper's setting (default)")
    p.add_argument("--engine", choices=("hf", "vllm"), default="hf", help="generation engine (default: hf)")
    p.add_argument("--dtype", default="auto", help="model dtype: auto (bf16 on GPU, fp32 on CPU), float32, bfloat16")
    add_api_args(p)
    p.add_argument("--command-timeout", type=float, default=120.0, help="seconds per agent command (default: 120)")
    p.add_argument("--grade-timeout", type=float, default=1800.0, help="seconds per test run (default: 1800)")
    p.add_argument("--predictions", metavar="FILE", help="grade this predictions file (.jsonl, a .json list, or a .json "
                   "dict keyed by instance id) without running an agent; with --regrade-logs: the patches the logs "
                   "came from")
    p.add_argument("--run-id", help="swebench run id: logs/run_evaluation/RUN_ID/... (default: the --output folder name)")
    p.add_argument("--image-template", help="SWE-bench instance image name, e.g. 'myregistry/sweb.eval.{arch}.{id}:latest'"
                   " (fields: {namespace} {arch} {id} = the id with __ -> _1776_, {instance_id}); default "
                   "'{namespace}/sweb.eval.{arch}.{id}:latest'")
    p.add_argument("--image-namespace", help="registry namespace of SWE-bench images (default: swebench; SWE-rebench "
                   "publishes under its own)")
    p.add_argument("--runs", type=int, default=1, help="--model with --temperature > 0: N runs with seeds SEED..SEED+N-1;"
                   " reports the mean resolution rate with a bootstrap CI and pass@k (default: 1)")
    p.add_argument("--seed", type=int, default=0, help="--model sampling seed (run k of --runs uses SEED+k)")
    p.add_argument("--self-check", action="store_true", help="also grade the gold patches of the same tasks and images "
                   "(or reuse a cached gold run with the same key) and record whether the harness resolves 100%%")
    p.add_argument("--model-name", help="--regrade-logs: model_name_or_path to write in swesmith reports")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no summary table")
    p.set_defaults(func=_eval, _parser=p)


# Flags that only some modes use: anything else would be silently ignored, so it is refused (dest -> modes, flag).
AGENT = ("model", "gold", "expert", "empty")
_ONLY_FOR = {
    "trajectories": (("expert",), "--trajectories"), "temperature": (("model",), "--temperature"),
    "engine": (("model",), "--engine"), "dtype": (("model",), "--dtype"),
    "max_new_tokens": (("model",), "--max-new-tokens"), "seed": (("model",), "--seed"),
    "runs": (("model",), "--runs"), "max_turns": (AGENT, "--max-turns"),
    "max_prompt_tokens": (AGENT, "--max-prompt-tokens"), "max_format_errors": (AGENT, "--max-format-errors"),
    "history": (AGENT, "--history"), "max_observation_chars": (AGENT, "--max-observation-chars"),
    "setting": (AGENT, "--setting"), "command_timeout": (AGENT, "--command-timeout"),
    "model_name": (("regrade",), "--model-name"), "workers": ((*AGENT, "predictions"), "--workers"),
    "grader": ((*AGENT, "predictions"), "--grader"), "run_id": ((*AGENT, "predictions"), "--run-id"),
    "self_check": ((*AGENT, "predictions"), "--self-check"), "instances": ((*AGENT, "predictions"), "--instances"),
    "grade_timeout": ((*AGENT, "predictions"), "--grade-timeout"),
    "docker_hosts": ((*AGENT, "predictions"), "--docker-hosts"), "retries": ((*AGENT, "predictions"), "--retries"),
    "image_template": ((*AGENT, "predictions"), "--image-template"),
    "image_namespace": ((*AGENT, "predictions"), "--image-namespace"),
    **{dest: (("model",), flag) for dest, flag in (
        ("base_url", "--base-url"), ("api_key_env", "--api-key-env"), ("api_mode", "--api-mode"),
        ("tool_choice", "--tool-choice"), ("top_p", "--top-p"), ("api_timeout", "--api-timeout"),
        ("api_retries", "--api-retries"), ("price", "--price"))},
}


class ExitCode(IntEnum):
    """`srl-agent eval`'s exit status (docs/evaluation.md, "Exit codes")."""

    OK = 0  # every selected instance graded
    INFRA_ERRORS = 1  # some instance ended in an infrastructure error (report and summary written first)
    BAD_INPUT = 2  # refused before any work (srl_agent.cli maps UserError to it)
    NOT_RUN = 3  # some instances not run: no prediction, or an interrupted run
    SELF_CHECK_FAILED = 4  # the gold patches do not all resolve on this machine


def check_flags(args: argparse.Namespace, defaults: dict[str, object]) -> str:
    """The run's mode (model, gold, expert, empty, predictions, regrade); raises UserError, in one line, for a
    missing mode or a flag the mode would ignore."""
    from srl_agent.errors import UserError

    if args.predictions and (args.model or args.policy):
        raise UserError(f"--predictions grades the patches in {args.predictions} as they are; "
                        f"{'--model' if args.model else '--policy ' + args.policy} would be ignored: pass one of them")
    mode = ("regrade" if args.regrade_logs else "predictions" if args.predictions else "model" if args.model
            else args.policy)
    if mode is None:
        raise UserError("say what to grade: --model, --policy, --predictions FILE or --regrade-logs DIR")
    for dest, (modes, flag) in _ONLY_FOR.items():
        if mode not in modes and getattr(args, dest) != defaults.get(dest):
            raise UserError(f"{flag} does nothing with {_MODE_FLAG.get(mode, '--policy ' + mode)}: leave it out "
                            f"(it applies to {', '.join(_MODE_FLAG.get(m, '--policy ' + m) for m in modes)})")
    if args.runs < 1:
        raise UserError("--runs must be >= 1")
    if args.runs > 1 and args.temperature <= 0:
        raise UserError(f"--runs {args.runs} with --temperature {args.temperature:g} gives {args.runs} identical greedy "
                        "runs: sample with --temperature > 0 (e.g. 0.7)")
    return mode


_MODE_FLAG = {"model": "--model", "predictions": "--predictions", "regrade": "--regrade-logs"}


def _eval(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError, output_dir

    output_dir(args.output)

    defaults = {dest: args._parser.get_default(dest) for dest in _ONLY_FOR}
    mode = check_flags(args, defaults)
    if mode == "regrade":
        return _regrade(args)
    from srl_agent.sandbox.cleanup import install_signal_handlers

    install_signal_handlers()  # sandboxes open in worker threads, which cannot install the SIGTERM handler
    if args.policy == "expert" and not args.trajectories:
        raise UserError("--policy expert needs --trajectories FILE (e.g. trajectories/swe_mini.jsonl with --split train)")
    if (args.workers is not None and args.workers < 1) or args.max_turns < 1 or args.max_format_errors < 1:
        raise UserError("--workers, --max-turns and --max-format-errors must be >= 1")
    if args.retries < 0:
        raise UserError("--retries must be >= 0")
    from srl_agent.agent.loop import AgentConfig
    from srl_agent.data.prompts import PromptConfig
    from srl_agent.evaluate.runner import EvalConfig
    from srl_agent.tasksets import sandboxes, select_tasks

    hosts = _hosts(args)  # a bad --docker-hosts fails before the model loads
    _fill_from_training_run(args)
    try:
        prompt = PromptConfig(history_window=args.history, max_observation_chars=args.max_observation_chars)
    except ValueError as e:
        raise UserError(str(e)) from None
    policy = eval_policy(args)
    agent = AgentConfig(max_turns=args.max_turns, max_prompt_tokens=args.max_prompt_tokens or context_limit(policy, args),
                        max_format_errors=args.max_format_errors, prompt=prompt)
    config = EvalConfig(output=Path(args.output), sandboxes=sandboxes(args.bench), bench=args.bench, split=args.split,
                        instances=tuple(args.instances or ()), setting=args.setting,
                        workers=args.workers or (0 if args.docker_hosts else 2), hosts=hosts, retries=args.retries,
                        agent=agent, grader=args.grader, log_harness=args.harness,
                        command_timeout_s=args.command_timeout, grade_timeout_s=args.grade_timeout,
                        progress=not args.no_progress, run_id=args.run_id,
                        seed=args.seed if mode == "model" else None, image_template=_image_template(args))
    tasks = select_tasks(config)
    if args.policy == "expert":
        policy.check_covers(tasks, args.trajectories)
    if mode == "predictions":
        _check_predictions_cover(policy, tasks, config)
    _warn_overlap(args, tasks)
    if args.runs > 1:
        from srl_agent.evaluate.repeats import run_repeated

        report = run_repeated(config, policy, tasks, args.runs, args.seed, args.self_check)
    else:
        report = _run_with_check(config, policy, tasks, args.self_check)
    return exit_code(report)


def exit_code(report: dict) -> ExitCode:
    """Infrastructure errors first (a rerun retries them), then a failed self-check, then instances not run."""
    if report.get("error_ids"):
        return ExitCode.INFRA_ERRORS
    if (report.get("harness_check") or {}).get("ok") is False:
        return ExitCode.SELF_CHECK_FAILED
    return ExitCode.NOT_RUN if report.get("incomplete_ids") else ExitCode.OK


def _run_with_check(config, policy, tasks, self_check: bool) -> dict:
    from srl_agent.evaluate.runner import run_eval
    from srl_agent.evaluate.selfcheck import attach_harness_check

    report = run_eval(config, policy, tasks)
    return attach_harness_check(report, config, policy, tasks, run_gold=self_check)


def _image_template(args: argparse.Namespace) -> str | None:
    from srl_agent.env.swebench import image_template

    return image_template(args.image_template, args.image_namespace)


def _check_predictions_cover(predictions, tasks, config) -> None:
    """Predictions for instances outside the bench are a mistake (wrong --bench or --split): refuse them."""
    from srl_agent.errors import UserError

    known = {t.instance_id for t in tasks}
    unknown = sorted(set(predictions.patches) - known)
    if unknown and not config.instances:
        raise UserError(f"--predictions {predictions.path}: {len(unknown)} instance(s) not in {config.bench} "
                        f"({config.resolved_split}): {', '.join(unknown[:3])}{', …' if len(unknown) > 3 else ''}; "
                        "pass the bench (and --split) they were made on")
    missing = [t.instance_id for t in tasks if t.instance_id not in predictions.patches]
    if missing:
        print(f"--predictions has no patch for {len(missing)} of {len(tasks)} instance(s) (e.g. {missing[0]}): they "
              "are not run and are reported as incomplete, as swebench does; --instances restricts the run",
              file=sys.stderr)


def _warn_overlap(args: argparse.Namespace, tasks) -> None:
    """A checkpoint trained on trajectories of the bench's instances or repositories: say so before evaluating."""
    from srl_agent.data.overlap import training_overlap_warning

    warning = training_overlap_warning(args.model, tasks) if args.model else None
    if warning:
        print(warning, file=sys.stderr)


EVAL_MAX_NEW_TOKENS = 1024  # without a training run: the completion budget of a turn


def resume_hint(args: argparse.Namespace) -> str:
    """The line printed after Ctrl-C (srl_agent.cli); the episodes in flight still finish and are saved after it."""
    if args.regrade_logs:
        return "rerun the same command to regrade"
    episodes = Path(args.output) / "episodes.jsonl"
    n = 0
    if episodes.is_file():
        with episodes.open("rb") as f:
            n = sum(1 for line in f if line.strip())
    return (f"{n} episode(s) saved in {episodes}, and the ones in flight are saved as they finish; rerun the same "
            "command to resume (finished episodes are not redone, errors are retried)")


def _fill_from_training_run(args: argparse.Namespace) -> None:
    """Unset prompt flags take the training run's values when --model is an srl-agent checkpoint (its run directory,
    the checkpoint's parent, holds the resolved config.json), so a model is evaluated in the format it learned."""
    from srl_agent.data.prompts import PromptConfig
    from srl_agent.train.config import run_config

    local = args.model and not args.model.startswith("openai:")  # an API model has no training run
    run = run_config(Path(args.model).parent) if local else None
    prompt = run.prompt if run is not None else PromptConfig()  # the training run's prompt view, else the defaults
    values = {"history": prompt.history_window, "max_observation_chars": prompt.max_observation_chars,
              "max_new_tokens": run.max_completion_tokens if run is not None else EVAL_MAX_NEW_TOKENS}
    for flag, value in values.items():
        if getattr(args, flag) is None:
            setattr(args, flag, value)
    if run is not None:
        print(f"prompt settings from {Path(args.model).parent / 'config.json'}: "
              + ", ".join(f"{k}={getattr(args, k)}" for k in values), file=sys.stderr)


def _hosts(args: argparse.Namespace) -> tuple:
    if not args.docker_hosts:
        return ()
    from srl_agent.sandbox.hosts import parse_hosts

    return parse_hosts(args.docker_hosts)


def _regrade(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError, output_dir
    from srl_agent.evaluate.predictions import read_predictions
    from srl_agent.evaluate.regrade import regrade_logs, summary
    from srl_agent.tasksets import load_bench

    root = Path(args.regrade_logs)
    if not root.is_dir():
        raise UserError(f"--regrade-logs {root}: not a directory")
    tasks = load_bench(args.bench, args.split or "all", runnable=False)  # grading a log needs only the test lists
    predictions = read_predictions(args.predictions) if args.predictions else None
    output = output_dir(args.output)
    output.mkdir(parents=True, exist_ok=True)
    results = regrade_logs(root, tasks, output, harness=args.harness, predictions=predictions,
                           model_name=args.model_name)
    print(summary(results))
    return 0
