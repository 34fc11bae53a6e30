"""The training run: load data and policy, optional SFT warm start, GRPO steps, logging, checkpoints, resume.

    train(resolve_config(overrides=["steps=10"]), ["trajectories/sample.jsonl"], Path("runs/x"))
"""

from __future__ import annotations

import copy
import json
import math
import sys
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.train.config import TrainConfig


def lr_lambda(cfg: TrainConfig, total: int):
    """Multiplier of cfg.lr after `i` optimizer steps: linear warmup, then constant / linear / cosine decay to 0."""
    warmup = int(cfg.warmup_ratio * total)

    def factor(i: int) -> float:
        if i < warmup:
            return (i + 1) / (warmup + 1)
        progress = (i - warmup) / max(1, total - warmup)
        if cfg.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


def model_spec(cfg: TrainConfig):
    from srl_agent.models.load import ModelSpec

    return ModelSpec(name=cfg.model, finetune=cfg.finetune, dtype=cfg.dtype, gradient_checkpointing=cfg.gradient_checkpointing,
                     lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                     lora_target_modules=cfg.lora_target_modules, seed=cfg.seed)


def _say(accelerator: Any, text: str) -> None:
    if accelerator.is_main_process:
        print(text, file=sys.stderr, flush=True)


def train(cfg: TrainConfig, trajectories: list[str], output: Path, resume: bool = False) -> Path:
    """Run SRL training; returns the final checkpoint directory (OUTPUT/final)."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from tqdm import tqdm

    from srl_agent.models.load import resolve_dtype
    from srl_agent.train import checkpoint as ckpt
    from srl_agent.train.data import PromptSampler, load_instances, tokenize_instances
    from srl_agent.train.distributed import check_replicas, gather_rows, reduce_metrics, require_replicas, shutdown
    from srl_agent.train.grpo import NonFiniteLoss, grpo_step, sample_records
    from srl_agent.train.metrics import MetricsLogger
    from srl_agent.train.rlvr_loop import make_rollout_engine

    # bf16 on GPU as mixed precision (fp32 master weights, bf16 compute): at lr 5e-7 pure-bf16 weights would round
    # most updates away. LoRA keeps its frozen base in bf16 (peft keeps the adapters in fp32).
    bf16 = resolve_dtype(cfg.dtype) == torch.bfloat16
    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision="bf16" if bf16 else "no")
    require_replicas(accelerator)
    set_seed(cfg.seed)
    output.mkdir(parents=True, exist_ok=True)
    resume_from = ckpt.latest_checkpoint(output) if resume else None
    if resume and resume_from is None:
        raise UserError(f"--resume: no complete checkpoint under {output}/checkpoints (save_every={cfg.save_every})")
    if not resume and (output / "metrics.jsonl").exists():
        raise UserError(f"{output} already holds a run; pass --resume to continue it, or choose another --output")

    spec = model_spec(cfg)
    if bf16 and cfg.finetune == "full":
        import dataclasses

        spec = dataclasses.replace(spec, dtype="float32")
    if resume_from is not None:
        model, tokenizer = ckpt.load_resumed_policy(resume_from, spec)
    else:
        from srl_agent.models.load import load_policy

        model, tokenizer = load_policy(spec)

    instances, report = load_instances(trajectories, cfg)
    prompts = tokenize_instances(instances, tokenizer, cfg, report)
    _say(accelerator, f"data: {report.summary()}")

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  betas=(cfg.adam_beta1, cfg.adam_beta2))
    total_updates = cfg.steps * cfg.mini_batches
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_updates))
    model, optimizer = accelerator.prepare(model, optimizer)
    sampler = PromptSampler(len(prompts), cfg.seed, accelerator.process_index, accelerator.num_processes)

    start_step = 0
    if resume_from is not None:
        state = ckpt.load_trainer_state(resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        sampler.load_state(state["sampler"])
        ckpt.set_rng_states(state["rng"])
        start_step = state["step"]
        _say(accelerator, f"resumed from {resume_from} at step {start_step}")
    elif cfg.sft_steps:
        from srl_agent.train.sft import run_sft

        sft_log = output / "sft_metrics.jsonl"
        main = accelerator.is_main_process

        def log_sft(row: dict[str, float]) -> None:
            if main:
                with sft_log.open("a") as f:
                    f.write(json.dumps(row) + "\n")

        rows = run_sft(cfg, model, tokenizer, prompts, accelerator, log_sft)
        _say(accelerator, f"sft warm start: {cfg.sft_steps} steps, loss {rows[0]['sft_loss']:.3f} -> {rows[-1]['sft_loss']:.3f}")

    ref_model = None
    if cfg.kl_coef > 0:
        ref_path = output / "reference"
        if resume_from is None:  # the reference is the policy SRL starts from (after the SFT warm start)
            ref_model = copy.deepcopy(ckpt._unwrap(model))
            if hasattr(ref_model, "peft_config"):
                ref_model = ref_model.merge_and_unload()
            if accelerator.is_main_process:
                ref_model.save_pretrained(ref_path)
        else:
            from srl_agent.models.load import load_base_model

            ref_model = load_base_model(str(ref_path), cfg.dtype, cfg.seed)
        ref_model.eval().requires_grad_(False).to(accelerator.device)

    # Built after the SFT warm start / resume: vLLM starts from the policy's current weights.
    engine = make_rollout_engine(cfg, model, tokenizer)

    logger = MetricsLogger(output, start_step, accelerator.is_main_process, cfg.tensorboard, cfg.wandb, cfg.to_dict())
    config_dict = cfg.to_dict()
    if accelerator.is_main_process:
        (output / "config.json").write_text(json.dumps(config_dict, indent=2) + "\n")
        from srl_agent.data.overlap import held_out_warning, write_manifest

        write_manifest(output, (inst.instance_id for inst in instances))  # for eval's contamination warning
        warning = held_out_warning(inst.instance_id for inst in instances)
        if warning:
            _say(accelerator, warning)
    bar = tqdm(range(start_step, cfg.steps), initial=start_step, total=cfg.steps, desc="srl",
               disable=not (cfg.progress and accelerator.is_main_process), file=sys.stderr)

    def save(step: int) -> Path:
        return ckpt.save_checkpoint(ckpt.checkpoint_dir(output, step), model=model, tokenizer=tokenizer, optimizer=optimizer,
                                    scheduler=scheduler, sampler_state=sampler.state(), step=step, config=config_dict,
                                    accelerator=accelerator)

    def evaluate(step: int) -> None:
        if not (cfg.eval_every and accelerator.is_main_process):
            return
        from srl_agent.train.evaluate import mean_reward

        row = {"step": step, **mean_reward(engine, prompts[: cfg.eval_prompts], cfg, cfg.eval_samples, seed=cfg.seed + 4242)}
        with (output / "eval.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    if start_step == 0:
        evaluate(0)
    for step in bar:
        try:
            metrics, groups = grpo_step(cfg, step, model, ref_model, optimizer, scheduler, accelerator, engine, prompts, sampler,
                                        tokenizer.pad_token_id)
        except NonFiniteLoss as e:
            dump = output / f"nonfinite_step_{step + 1:06d}.jsonl"
            if accelerator.is_main_process:
                with dump.open("w") as f:
                    for row in sample_records(e.groups, step + 1, 10**9):
                        f.write(json.dumps(row, ensure_ascii=False) + "\n")
            saved = save(step)
            raise UserError(f"training stopped at step {step + 1}: {e}. The batch is in {dump}, the state before the step in "
                            f"{saved}; lower lr or check the data, then --resume") from None
        # Several processes: one row for the whole step (all ranks' samples), and samples from every rank.
        metrics = reduce_metrics(accelerator, metrics)
        logger.log(step + 1, metrics, gather_rows(accelerator, sample_records(groups, step + 1, cfg.samples_per_step)))
        bar.set_postfix(reward=f"{metrics['reward_mean']:.3f}", fmt_err=f"{metrics['format_error_rate']:.2f}")
        if cfg.save_every and (step + 1) % cfg.save_every == 0:
            save(step + 1)
        if cfg.eval_every and ((step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps):
            evaluate(step + 1)
    bar.close()
    logger.close()
    check_replicas(accelerator, model, output)  # DDP: every rank must hold bitwise the same weights (replicas.json)
    final = ckpt.save_final(output / "final", model, tokenizer, cfg.merge_lora, accelerator)
    _say(accelerator, f"final model: {final}")
    shutdown(accelerator, engine)
    return final
