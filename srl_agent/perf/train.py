"""`srl-agent perf train`: SRL steps of srl-agent vs TRL's `GRPOTrainer`, measured side by side on equal work.

What is held equal (a speed comparison means nothing otherwise):
  - the model: the built-in tiny model, same seed (same initial weights), same tokenizer, on CPU, one thread;
  - the dtype, set explicitly on both sides, one row each: fp32, and bf16 as mixed precision (fp32 master weights,
    bf16 autocast compute: our `dtype=bfloat16` full fine-tune, TRL's `bf16=True` on an fp32 model). This CPU has
    AMX bf16 units, so the dtype changes the speed; comparing one side's fp32 with the other's bf16 was the old bug;
  - the prompts and their order: the instances our filters keep, drawn in our sampler's order; TRL gets exactly that
    sequence with its shuffling off, so step k of both trainers sees the same B prompts;
  - the work per step: B prompts x G completions of exactly `max_completion_tokens` tokens on both sides (EOS
    ignored: ours `ignore_eos`, TRL `min_new_tokens`), generated with transformers `generate` (no vLLM), one micro-
    batch, one optimizer step; the SRL reward, `grpo` loss aggregation, group-std advantages, clip 0.2, no KL, AdamW
    at a constant lr, grad-norm clip 1.0. Our dynamic sampling is off (TRL has none).

srl-agent runs with its defaults, so with shared-prompt training (each group's prompt forwarded once, and prefilled
once by the HF engine: `shared_prompt=true`). With `naive=True` a third side runs srl-agent with `shared_prompt=false`
(every completion with its own copy of the prompt, as TRL does), to show what the shared prompt contributes.

How it is timed: each trainer runs `steps` steps (the first is warm-up, not timed: at least 8 timed steps); the runs
(2 or 3 sides x each dtype) are interleaved and repeated `reps` times (the order of the sides rotates), so a
machine-wide slowdown hits every side. Step time = wall clock of a whole step (generate, score, train). Per run the
median step time; per dtype the median over repetitions, the min-max spread, and the speedup of every repetition
(TRL / ours, paired within the repetition).
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# Small enough for a shared 2-core machine, the tiny_cpu.toml prompt settings.
SETTINGS = ["history_window=1", "max_observation_chars=200", "max_prompt_tokens=1024", "generation_batch_size=64",
            "lr=2e-4", "loss_agg=grpo", "dynamic_sampling=false", "kl_coef=0", "sft_steps=0", "eval_every=0",
            "save_every=0", "progress=false", "ignore_eos=true", "samples_per_step=0"]


def run_srl_agent(cfg: Any, trajectories: list[str], out: Path) -> dict[str, Any]:
    from accelerate.state import AcceleratorState

    from srl_agent.train.loop import train
    from srl_agent.train.metrics import read_jsonl

    try:
        train(cfg, trajectories, out)
    finally:  # the next run may use another mixed_precision: leave no process-global accelerate state behind
        AcceleratorState._reset_state(reset_partial_state=True)
    rows = read_jsonl(out / "metrics.jsonl")
    return {"step_s": [r["time_step_s"] for r in rows][1:], "completion_len": [r["completion_len_mean"] for r in rows]}


def run_trl(cfg: Any, rows: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    import torch
    from accelerate.state import AcceleratorState
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from srl_agent.models.tiny import tiny_model, tiny_tokenizer
    from srl_agent.reward import make_trl_reward

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.begin = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.ends.append(time.perf_counter() - self.begin)

    sequences = cfg.batch_size * cfg.group_size
    args = GRPOConfig(
        output_dir=str(out), max_steps=cfg.steps, seed=cfg.seed, use_cpu=True, report_to="none", logging_steps=1,
        save_strategy="no", disable_tqdm=True, bf16=cfg.dtype == "bfloat16", fp16=False,
        # One generation of B*G completions per optimizer step, trained in one micro-batch, prompts in dataset order.
        per_device_train_batch_size=sequences, gradient_accumulation_steps=1, steps_per_generation=1,
        shuffle_dataset=False, num_generations=cfg.group_size, max_completion_length=cfg.max_completion_tokens,
        generation_kwargs={"min_new_tokens": cfg.max_completion_tokens},  # exactly max tokens, as our ignore_eos
        temperature=cfg.temperature, top_k=0, top_p=1.0, learning_rate=cfg.lr, lr_scheduler_type="constant",
        warmup_steps=0, weight_decay=0.0, max_grad_norm=cfg.max_grad_norm, beta=0.0, loss_type="grpo",
        scale_rewards="group", epsilon=cfg.clip_eps, num_iterations=1,
    )
    tokenizer = tiny_tokenizer()
    timer = StepTimer()
    model = tiny_model(tokenizer, seed=cfg.seed).to(torch.float32)  # fp32 master weights in both rows
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, args=args, train_dataset=Dataset.from_list(rows),
                          reward_funcs=[make_trl_reward(cfg.reward_mode, cfg.format_penalty)], callbacks=[timer])
    try:
        trainer.train()
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)  # TRL's Trainer leaves process-global state behind
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return {"step_s": timer.ends[1:], "completion_len": lengths}


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def run_train_bench(trajectories: list[str], steps: int = 9, reps: int = 3, dtypes: tuple[str, ...] = ("float32", "bfloat16"),
                    batch_size: int = 4, group_size: int = 4, max_completion_tokens: int = 64, seed: int = 0,
                    naive: bool = False) -> dict[str, Any]:
    import torch
    import transformers
    import trl

    from srl_agent.models.tiny import tiny_tokenizer
    from srl_agent.train.config import resolve_config
    from srl_agent.train.dataset import PromptSampler, load_instances, tokenize_instances

    torch.set_num_threads(1)
    sizes = [f"batch_size={batch_size}", f"group_size={group_size}", f"max_completion_tokens={max_completion_tokens}",
             f"micro_batch_size={batch_size * group_size}"]
    configs = {d: resolve_config(overrides=[*SETTINGS, *sizes, f"dtype={d}"], model="tiny", steps=steps, seed=seed) for d in dtypes}
    naive_configs = {d: dataclasses.replace(c, shared_prompt=False) for d, c in configs.items()}
    cfg = configs[dtypes[0]]
    instances, report = load_instances(trajectories, cfg)
    kept = tokenize_instances(instances, tiny_tokenizer(), cfg, report)
    # The prompts our trainer will draw, in its order (one process, no dynamic sampling): TRL gets them as a dataset.
    order = PromptSampler(len(kept), seed).take(steps * batch_size)
    rows = [{"prompt": list(kept[i].instance.prompt), "expert_action": kept[i].instance.expert_action} for i in order]
    all_sides = ("srl_agent", "trl", "srl_agent_naive") if naive else ("srl_agent", "trl")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {d: {s: [] for s in all_sides} for d in dtypes}
    with tempfile.TemporaryDirectory(prefix="perf-train-") as tmp:
        for rep in range(reps):
            for dtype in dtypes:
                k = (rep + dtypes.index(dtype)) % len(all_sides)  # rotate who goes first
                for side in all_sides[k:] + all_sides[:k]:
                    out = Path(tmp) / f"{side}_{dtype}_{rep}"
                    if side == "trl":
                        result = run_trl(configs[dtype], rows, out)
                    else:
                        result = run_srl_agent((configs if side == "srl_agent" else naive_configs)[dtype], trajectories, out)
                    runs[dtype][side].append(result)
    table = {}
    for dtype in dtypes:
        ours = [statistics.median(r["step_s"]) for r in runs[dtype]["srl_agent"]]
        theirs = [statistics.median(r["step_s"]) for r in runs[dtype]["trl"]]
        lengths = {side: sorted({round(x, 2) for r in runs[dtype][side] for x in r["completion_len"]}) for side in runs[dtype]}
        table[dtype] = {
            "srl_agent_step_s": _spread(ours), "trl_step_s": _spread(theirs),
            "speedup_vs_trl": _spread([t / o for t, o in zip(theirs, ours, strict=True)]),  # paired per repetition
            "srl_agent_step_s_per_rep": [[round(x, 4) for x in r["step_s"]] for r in runs[dtype]["srl_agent"]],
            "trl_step_s_per_rep": [[round(x, 4) for x in r["step_s"]] for r in runs[dtype]["trl"]],
            "completion_len_seen": lengths,  # every side: exactly max_completion_tokens
        }
        if naive:
            plain = [statistics.median(r["step_s"]) for r in runs[dtype]["srl_agent_naive"]]
            table[dtype] |= {
                "srl_agent_naive_step_s": _spread(plain),
                "naive_speedup_vs_trl": _spread([t / o for t, o in zip(theirs, plain, strict=True)]),
                "shared_vs_naive": _spread([n / o for n, o in zip(plain, ours, strict=True)]),
                "srl_agent_naive_step_s_per_rep": [[round(x, 4) for x in r["step_s"]] for r in runs[dtype]["srl_agent_naive"]],
            }
    return {
        "setup": {"model": "tiny (random init, 0.2M params, CPU, 1 thread)", "instances": len(kept),
                  "prompts_per_step": batch_size, "group_size": group_size, "completion_tokens": max_completion_tokens,
                  "srl_agent_shared_prompt": cfg.shared_prompt, "naive_side": naive, "steps_per_run": steps, "timed_steps_per_run": steps - 1, "repetitions": reps, "dtypes": list(dtypes),
                  "bf16": "mixed precision on both sides: fp32 master weights, bf16 autocast",
                  "trl_version": trl.__version__, "transformers_version": transformers.__version__,
                  "torch_version": torch.__version__},
        **table,
    }
