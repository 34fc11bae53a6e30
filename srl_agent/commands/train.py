"""`srl-agent train`: SRL training (GRPO on step-wise expert actions)."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """\
config: the paper's settings (srl_agent/configs/srl.toml) < --config FILE < key=value arguments.
  srl-agent train --model tiny --config srl_agent/configs/tiny_cpu.toml --output runs/tiny
  srl-agent train --trajectories data/ --model Qwen/Qwen2.5-Coder-7B-Instruct --output runs/7b finetune=lora lr=1e-6
  accelerate launch -m srl_agent.cli train ...      (several GPUs or processes; see docs/training.md)
`srl-agent train --list-config` prints every key with its documentation."""


def register(sub) -> None:
    p = sub.add_parser("train", help="SRL training: GRPO with the step-wise similarity reward",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_options(p)
    # REMAINDER so that options may follow key=value pairs (`train lr=1e-6 --steps 3`); run() parses them out.
    p.add_argument("overrides", nargs=argparse.REMAINDER, metavar="key=value", help="config overrides, e.g. lr=1e-6 group_size=4")
    p.set_defaults(func=run)


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trajectories", nargs="+", metavar="FILE|DIR|DATASET",
                   help="expert trajectories (any supported format) or instances from `srl-agent data convert`; "
                        "default: the shipped swe-mini expert trajectories (trajectories/swe_mini.jsonl)")
    p.add_argument("--model", help="Hugging Face name, local directory, 'tiny' or 'smollm2-135m' (overrides the config's `model`)")
    p.add_argument("--output", "-o", type=Path, help="run directory: metrics.jsonl, samples.jsonl, checkpoints/, final/")
    p.add_argument("--steps", type=int, help="training steps (overrides the config's `steps`)")
    p.add_argument("--config", type=Path, help="TOML file with config keys (see srl_agent/configs/srl.toml)")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its latest checkpoint")
    p.add_argument("--method", choices=("sft", "srl", "rlvr"), help="srl (default): GRPO on step-wise expert actions; "
                   "sft: imitate whole expert trajectories (configs/sft.toml); rlvr: GRPO on agent episodes, reward = "
                   "resolved (configs/rlvr.toml). See docs/baselines.md")
    p.add_argument("--init-from", metavar="DIR", help="start from this checkpoint: a run directory (its final/), a "
                   "final/ or checkpoints/step_N/ (e.g. SRL's, for SRL->RLVR: configs/srl_to_rlvr.toml)")
    p.add_argument("--eval-bench", metavar="SPLIT_DIR|BENCH[:SPLIT]", help="the bench you will evaluate on: a "
                   "`srl-agent data split` output (its eval side) or a task set (swe-mini:test); training data that "
                   "shares a task with it (or a repository, for a repository split) is refused")
    p.add_argument("--docker-hosts", metavar="URLS|FILE", help="method=rlvr: sandboxes on a pool of Docker hosts "
                   "(the `docker_hosts` config key; as `eval --docker-hosts`)")
    p.add_argument("--list-config", action="store_true", help="print every config key, its default and meaning, and exit")


def resume_hint(args: argparse.Namespace) -> str:
    """The line printed after Ctrl-C (srl_agent.cli): the newest checkpoint a `--resume` would continue from."""
    if args.output is None:
        return "nothing was saved"
    steps = sorted(Path(args.output).glob("checkpoints/step_*/trainer_state.pt"))
    if not steps:
        return f"no checkpoint saved yet in {args.output}/checkpoints (see save_every); rerun to start again"
    return (f"latest checkpoint {steps[-1].parent}; rerun the same command with --resume to continue from it "
            "(later steps are redone)")


def run(args: argparse.Namespace) -> int:
    from srl_agent.errors import UserError, output_dir
    from srl_agent.train.config import DEFAULT_TRAJECTORIES, describe_fields, resolve_config

    rest = argparse.ArgumentParser(prog="srl-agent train", add_help=False)
    _add_options(rest)
    rest.add_argument("overrides", nargs="*")
    later = rest.parse_intermixed_args(args.overrides)
    for key, value in vars(later).items():
        if key != "overrides" and value not in (None, False):
            setattr(args, key, value)
    args.overrides = later.overrides
    # `--trajectories a.jsonl lr=1e-6`: nargs="+" swallowed the override; give it back.
    if args.trajectories:
        moved = [t for t in args.trajectories if "=" in t and not Path(t).exists()]
        args.trajectories = [t for t in args.trajectories if t not in moved] or None
        args.overrides = moved + args.overrides
    if args.list_config:
        print(describe_fields())
        return 0
    if args.output is None:
        raise UserError("--output DIR is required (the run directory)")
    output_dir(args.output)
    if args.docker_hosts:
        args.overrides = [*args.overrides, f"docker_hosts={args.docker_hosts}"]
    cfg = resolve_config(args.config, args.overrides, method=args.method, model=args.model, steps=args.steps,
                         init_from=args.init_from)
    if cfg.method == "rlvr":  # episodes on tasks with tests (cfg.rlvr.bench), not trajectories
        from srl_agent.sandbox.cleanup import install_signal_handlers
        from srl_agent.train.loop import train_rlvr

        install_signal_handlers()  # sandboxes open in worker threads, which cannot install the SIGTERM handler
        if args.eval_bench:
            from srl_agent.train.leaks import check_tasks_no_leak

            print(check_tasks_no_leak(cfg.rlvr.bench, cfg.rlvr.split, args.eval_bench))

        train_rlvr(cfg, args.output, resume=args.resume)
        return 0
    trajectories = args.trajectories or [str(DEFAULT_TRAJECTORIES)]
    for t in trajectories:
        if not Path(t).exists() and not (t.count("/") == 1 and not t.startswith((".", "/"))):
            raise UserError(f"--trajectories {t}: no such file or directory (nor a hub dataset name like org/name)")
    if args.eval_bench:
        from srl_agent.train.leaks import check_no_leak

        print(check_no_leak(trajectories, args.eval_bench))
    if cfg.method == "sft":
        from srl_agent.train.sft_method import train_sft

        train_sft(cfg, trajectories, args.output, resume=args.resume)
        return 0
    from srl_agent.train.loop import train

    train(cfg, trajectories, args.output, resume=args.resume)
    return 0
