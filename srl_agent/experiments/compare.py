"""Base / SFT / SRL / SRL->RLVR / RLVR on swe-mini under one compute budget, each measured three ways:

    (a) resolution rate on swe-mini's held-out tasks        `srl-agent eval --split test` (the agent loop, greedy)
    (b) executed step equivalence at held-out expert states `srl-agent eval-steps` on the scripted expert's
                                                            trajectories of those same held-out tasks
                                                            (trajectories/swe_mini_heldout.jsonl), never trained on:
                                                            the model's action and the expert's run in a sandbox
    (c) mean SRL reward on those held-out step instances    reported, not a ranking measure (SRL's own objective)
Each arm is evaluated with the generation limits it was trained for: the RL arms with their max_completion_tokens,
the SFT arm with the longest expert turn it was trained on (in tokens), so no arm is cut short by truncation.
    python -m srl_agent.experiments.compare --output runs/compare              # tiny model, CPU, ~15 min
    python -m srl_agent.experiments.compare --output runs/compare --scale smoke   # the test's scaled-down run
    python -m srl_agent.experiments.compare --output runs/smol --model smollm2-135m --scale smollm2  # real 135M, CPU
    python -m srl_agent.experiments.compare --output runs/q7b --model Qwen/Qwen2.5-Coder-7B-Instruct --scale gpu

Budget: every arm gets the same number S of training iterations. An iteration is one batch and at most one
optimizer update: a batch of trajectories (SFT), of step prompts x G completions (SRL), of tasks x G agent
episodes (RLVR). SRL->RLVR spends S/2 on SRL (the SRL arm's own checkpoint at S/2) and S/2 on RLVR. Iterations are
not equal in FLOPs or wall time (an RLVR iteration runs Docker episodes), so each arm also reports its optimizer
updates, sampled and trained tokens and wall time (results.json). Every command run is printed and saved.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TRAIN_TRAJ = REPO / "trajectories" / "swe_mini.jsonl"  # the 12 training tasks
HELDOUT_TRAJ = REPO / "trajectories" / "swe_mini_heldout.jsonl"  # the 4 held-out tasks: evaluation only
ARMS = ("base", "sft", "srl", "srl_rlvr", "rlvr")

# Shared by every arm's training and both evaluations: the policy sees the same prompt format everywhere.
CONTEXT = {"tiny": ["history_window=1", "max_observation_chars=200", "max_prompt_tokens=1024", "max_completion_tokens=128"],
           "smollm2": ["history_window=2", "max_observation_chars=1500", "max_prompt_tokens=2048", "max_completion_tokens=256"],
           "gpu": ["history_window=2", "max_observation_chars=4000", "max_prompt_tokens=16384", "max_completion_tokens=1024"]}
SMOLLM2_RECIPE = str(REPO / "srl_agent" / "configs" / "smollm2_cpu.toml")
SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"context": "tiny", "steps": 20, "warm_start": 150, "eval_turns": 8, "heldout_samples": 4, "eval_instances": (),
             "steps_per_task": 3,
             "sft": ["batch_size=4", "lr=3e-3", "micro_batch_size=16"],
             "srl": ["group_size=8", "batch_size=8", "lr=2e-4", "micro_batch_size=32", "max_sampling_rounds=2"],
             "rlvr": ["group_size=4", "batch_size=2", "max_turns=4", "workers=4", "lr=2e-4", "max_sampling_rounds=1",
                      "micro_batch_size=8", "command_timeout_s=30", "grade_timeout_s=120"]},
    "smoke": {"context": "tiny", "steps": 2, "warm_start": 5, "eval_turns": 2, "heldout_samples": 1,
              "eval_instances": ("swe-mini__tabletext-3",), "steps_per_task": 1,
              "sft": ["batch_size=2", "lr=3e-3", "micro_batch_size=16"],
              "srl": ["group_size=2", "batch_size=2", "lr=2e-4", "micro_batch_size=8", "max_sampling_rounds=1",
                      "max_completion_tokens=32"],
              "rlvr": ["group_size=2", "batch_size=1", "max_turns=2", "workers=2", "lr=2e-4", "max_sampling_rounds=1",
                       "max_completion_tokens=32", "command_timeout_s=30", "grade_timeout_s=120"]},
    # The real 135M instruct model on CPU (configs/smollm2_cpu.toml; docs/results/experiment.md has its cost: an SRL
    # step took 774 s on a busy 2-core machine). No warm start: every arm starts from the instruct model itself.
    "smollm2": {"context": "smollm2", "steps": 6, "warm_start": 0, "eval_turns": 10, "heldout_samples": 2,
                "eval_instances": (), "steps_per_task": 3,
                "sft": ["--config", SMOLLM2_RECIPE, "batch_size=1", "lr=5e-6"],
                "srl": ["--config", SMOLLM2_RECIPE],
                "rlvr": ["--config", SMOLLM2_RECIPE, "sft_steps=0", "group_size=4", "batch_size=1", "max_turns=6", "workers=2",
                         "max_sampling_rounds=1", "command_timeout_s=30", "grade_timeout_s=120"]},
    # A real model on GPUs: the paper's settings from srl.toml / sft.toml / rlvr.toml, only the budget is set here.
    "gpu": {"context": "gpu", "steps": 200, "warm_start": 0, "eval_turns": 50, "heldout_samples": 8, "eval_instances": (),
            "steps_per_task": None, "sft": ["epochs=0"], "srl": ["engine=vllm", "finetune=lora", "lr=1e-6"],
            "rlvr": ["engine=vllm", "finetune=lora", "lr=1e-6", "batch_size=16", "workers=16"]},
}


def cli(args: list[str], log: Path) -> None:
    """Run one `srl-agent` command in this process, after writing it to the experiment's command log."""
    from srl_agent.cli import main

    line = "srl-agent " + " ".join(shlex.quote(a) for a in args)
    print(f"\n$ {line}", file=sys.stderr, flush=True)
    with log.open("a") as f:
        f.write(line + "\n")
    if main(args) != 0:
        raise SystemExit(f"failed: {line}")


def make_base(model: str, out: Path, scale: dict[str, Any], context: list[str]) -> Path:
    """The common starting point. A real model is its own base. The random tiny model cannot write the answer format
    at all, so its base gets the SRL loop's format warm start (srl_agent/train/sft.py: a fixed thought + the expert
    action, `warm_start` steps): the stand-in for an instruct model. Every arm starts from this directory."""
    if model != "tiny":
        return Path(model)
    if (out / "config.json").is_file():
        return out
    from srl_agent.models.load import ModelSpec, load_policy
    from srl_agent.train.checkpoint import save_final
    from srl_agent.train.config import resolve_config
    from srl_agent.train.dataset import load_instances, tokenize_instances
    from srl_agent.train.loop import warm_start
    from srl_agent.train.runs import start_run

    random_init = out.parent / "tiny_random"
    model_, tokenizer = load_policy(ModelSpec())
    model_.save_pretrained(random_init)
    tokenizer.save_pretrained(random_init)  # reloaded below: the tokenizer every later stage uses
    cfg = resolve_config(overrides=[*context, "sft_lr=3e-3", "sft_batch_size=16", f"sft_steps={scale['warm_start']}"],
                         model=str(random_init))
    run = start_run(cfg, out.parent / "base_run", resume=False, total_updates=1)  # the same setup as every arm
    instances, report = load_instances([str(TRAIN_TRAJ)], cfg)
    if cfg.warm_start.steps:
        warm_start(run, tokenize_instances(instances, run.tokenizer, cfg, report))
    # The run's own final save: under FSDP2 the policy holds shards, and this gathers the full weights to rank 0.
    save_final(out, run.model, run.tokenizer, cfg.merge_lora, run.accelerator)
    return out


def heldout_reward(model_dir: Path, context: list[str], samples: int, limit: int | None) -> dict[str, float]:
    """Mean SRL reward of the model on the held-out tasks' step instances (fixed seed, training temperature)."""
    from srl_agent.models.load import load_base_model, load_tokenizer
    from srl_agent.rollout.hf import HFEngine
    from srl_agent.train.config import resolve_config
    from srl_agent.train.dataset import load_instances, tokenize_instances
    from srl_agent.train.probe import mean_reward

    cfg = resolve_config(overrides=context)
    tokenizer = load_tokenizer(str(model_dir))
    instances, report = load_instances([str(HELDOUT_TRAJ)], cfg)
    prompts = tokenize_instances(instances, tokenizer, cfg, report)[:limit]
    model = load_base_model(str(model_dir), tokenizer=tokenizer).eval()
    return {**mean_reward(HFEngine(model, tokenizer), prompts, cfg, samples, seed=4242), "heldout_instances": len(prompts)}


def generation_limit(arm: str, model_dir: Path, context: list[str]) -> int:
    """Tokens per turn at evaluation: what the arm was trained to write. The RL arms sample at most
    max_completion_tokens; the SFT arm was trained on whole expert turns (thought + action), so it gets the longest
    of those in its tokenizer (never less than the RL limit)."""
    limit = int(context[3].split("=")[1])
    if arm != "sft":
        return limit
    from srl_agent.agent.policies import scripted
    from srl_agent.models.load import load_tokenizer
    from srl_agent.readers import read_trajectories

    tokenizer = load_tokenizer(str(model_dir))
    turns = [scripted(s.thought, s.action).text for t in read_trajectories([str(TRAIN_TRAJ)]) for s in t.steps]
    return max(limit, max(len(tokenizer(text, add_special_tokens=False)["input_ids"]) + 1 for text in turns))


def run_metrics(run: Path) -> dict[str, float]:
    if not (run / "metrics.jsonl").is_file():
        return {"iterations": 0, "optimizer_updates": 0, "sampled_tokens": 0, "trained_tokens": 0}
    from srl_agent.train.metrics import read_jsonl

    rows = [r for r in read_jsonl(run / "metrics.jsonl") if "loss" in r]
    updates = sum(1 for r in rows if r.get("grad_norm", 0) > 0 or "epoch" in r)
    return {"iterations": len(rows), "optimizer_updates": updates,
            "sampled_tokens": sum(r.get("completion_tokens", 0) for r in rows),
            "trained_tokens": sum(r.get("trained_tokens", 0) for r in rows)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m srl_agent.experiments.compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--model", default="tiny", help="'tiny' (CPU) or a Hugging Face name / directory (GPU)")
    p.add_argument("--scale", choices=tuple(SCALES), default="tiny")
    p.add_argument("--steps", type=int, help="the budget S (training iterations per arm); default: the scale's")
    p.add_argument("--docs", type=Path, help="also write the table and plot as DOCS.md / DOCS.json / DOCS.png")
    args = p.parse_args(argv)
    scale = SCALES[args.scale]
    context = CONTEXT[scale["context"]]
    steps = args.steps or scale["steps"]
    half = max(1, steps // 2)
    out = args.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.sh"
    t0 = time.monotonic()
    base = make_base(args.model, out / "base", scale, context)
    wall = {"base": time.monotonic() - t0}
    # A real model is its own base: named as the model (a Hub name or `smollm2-135m` is no --init-from directory).
    start = ["--init-from", str(base)] if args.model == "tiny" else [f"model={args.model}"]
    common = ["--trajectories", str(TRAIN_TRAJ), *context, "progress=false"]
    train = {
        "sft": ["--method", "sft", *start, *common, "epochs=0", f"save_every={steps}", *scale["sft"]],
        "srl": ["--method", "srl", *start, *common, "sft_steps=0", f"save_every={half}", *scale["srl"]],
        "rlvr": ["--method", "rlvr", *start, *context, "progress=false", "save_every=0", *scale["rlvr"]],
    }
    stages = [("sft", train["sft"], steps), ("srl", train["srl"], steps), ("rlvr", train["rlvr"], steps),
              ("srl_rlvr", [*train["rlvr"][:2], "--init-from", str(out / "srl" / "checkpoints" / f"step_{half:06d}"),
                            *train["rlvr"][2 + len(start):]], steps - half)]
    for arm, args_, n in stages:
        if not (out / arm / "final").is_dir():
            t = time.monotonic()
            cli(["train", *args_, "--steps", str(n), "--output", str(out / arm)], log)
            wall[arm] = time.monotonic() - t
    results = json.loads((out / "results.json").read_text())["arms"] if (out / "results.json").is_file() else {}
    for arm in ARMS:
        model_dir = base if arm == "base" else out / arm / "final"
        eval_dir = out / "eval" / arm
        new_tokens = generation_limit(arm, model_dir, context)
        prompt_args = ["--history", context[0].split("=")[1], "--max-observation-chars", context[1].split("=")[1],
                       "--max-new-tokens", str(new_tokens)]
        eval_args = ["eval", "--model", str(model_dir), "--bench", "swe-mini", "--split", "test", "--output", str(eval_dir),
                     *prompt_args, "--max-prompt-tokens", context[2].split("=")[1],
                     "--max-turns", str(scale["eval_turns"]), "--workers", "2", "--no-progress"]
        if scale["eval_instances"]:
            eval_args += ["--instances", *scale["eval_instances"]]
        if not (eval_dir / "report.json").is_file():
            cli(eval_args, log)
        report = json.loads((eval_dir / "report.json").read_text())
        steps_dir = out / "eval_steps" / arm
        if not (steps_dir / "summary.json").is_file():
            per_task = ["--per-task", str(scale["steps_per_task"])] if scale["steps_per_task"] else []
            only = ["--instances", *scale["eval_instances"]] if scale["eval_instances"] else []
            cli(["eval-steps", "--model", str(model_dir), "--trajectories", str(HELDOUT_TRAJ), *per_task, *only,
                 *prompt_args, "--output", str(steps_dir)], log)
        equivalence = json.loads((steps_dir / "summary.json").read_text())
        limit = 4 if args.scale == "smoke" else None
        row = {"resolution_rate": report["resolution_rate"], "resolved": report["resolved_instances"],
               "tasks": report["total_instances"], "eval_errors": report["error_instances"],
               "eval_max_new_tokens": new_tokens, "step_equivalence": equivalence["equivalent"],
               "step_equivalence_ci": equivalence["equivalent_ci"], "step_states": equivalence["states"],
               "step_not_runnable": equivalence["not_runnable"],
               **heldout_reward(model_dir, context, scale["heldout_samples"], limit),
               **(run_metrics(out / arm) if arm != "srl_rlvr" else _curriculum(out, half)),
               "wall_s": round(wall.get(arm, results.get(arm, {}).get("wall_s", 0.0)), 1)}
        results[arm] = row
    summary = {"model": args.model, "scale": args.scale, "budget_iterations": steps, "arms": results,
               "commands": log.read_text().splitlines()}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    from srl_agent.experiments.report import write_report

    write_report(summary, out / "results")
    if args.docs:
        write_report(summary, args.docs)
    print((out / "results.md").read_text())
    return 0


def _curriculum(out: Path, half: int) -> dict[str, float]:
    """SRL->RLVR's cost: the SRL arm's first `half` iterations plus its own RLVR iterations."""
    from srl_agent.train.metrics import read_jsonl

    srl = [r for r in read_jsonl(out / "srl" / "metrics.jsonl") if r["step"] <= half]
    rl = run_metrics(out / "srl_rlvr")
    return {"iterations": half + rl["iterations"],
            "optimizer_updates": sum(1 for r in srl if r.get("grad_norm", 0) > 0) + rl["optimizer_updates"],
            "sampled_tokens": sum(r.get("completion_tokens", 0) for r in srl) + rl["sampled_tokens"],
            "trained_tokens": sum(r.get("trained_tokens", 0) for r in srl) + rl["trained_tokens"]}


if __name__ == "__main__":
    sys.exit(main())
