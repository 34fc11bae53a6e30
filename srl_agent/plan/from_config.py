"""A `PlanInput` from a training config (the keys `srl-agent train` takes) plus the hardware, so the plan and the
run agree on every setting. Also the gate `train` calls before loading weights on a GPU."""

from __future__ import annotations

from typing import Any

from srl_agent.errors import UserError
from srl_agent.plan.hardware import GPUSpec
from srl_agent.plan.memory import PlanInput
from srl_agent.plan.shape import ModelShape


def plan_input(cfg: Any, shape: ModelShape, gpu: GPUSpec, gpus: int = 1, sharding: str = "ddp",
               prompt_tokens: int | None = None) -> PlanInput:
    """`cfg`: a TrainConfig (read by attribute). Prompts are taken at `max_prompt_tokens` unless `prompt_tokens`
    says what the data really holds (the plan of the longest prompt is the safe one)."""
    if sharding not in ("ddp", "fsdp2"):
        raise UserError(f"--sharding must be ddp or fsdp2, got {sharding!r}")
    return PlanInput(
        shape=shape, gpu=gpu, gpus=gpus, sharding=sharding,
        finetune=cfg.finetune, lora_rank=cfg.lora_r,
        dtype="float32" if cfg.dtype == "float32" else "bfloat16",  # auto = bf16 on a GPU
        group_size=cfg.group_size, batch_size=cfg.batch_size,
        prompt_tokens=prompt_tokens or cfg.max_prompt_tokens, completion_tokens=cfg.max_completion_tokens,
        micro_batch_size=cfg.micro_batch_size, gradient_checkpointing=cfg.gradient_checkpointing,
        engine=cfg.engine, vllm_share=cfg.vllm_gpu_memory_utilization,
        generation_batch_size=cfg.generation_batch_size, kl_reference=cfg.kl_coef > 0,
        shared_prompt=bool(getattr(cfg, "shared_prompt", False)),
    )


def fit_error(cfg: Any, gpu: GPUSpec, world_size: int, sharding: str = "ddp") -> str | None:
    """The one-line refusal for a run the plan says cannot fit on `gpu`, or None when it fits."""
    from srl_agent.plan.advice import estimate, needed_bytes
    from srl_agent.plan.shape import load_shape

    plan = estimate(plan_input(cfg, load_shape(cfg.model), gpu, world_size, sharding))
    if plan.fits:
        return None
    return (f"this run needs ~{needed_bytes(plan.memory) / 1024**3:.0f} GiB per GPU and the {gpu.name} has "
            f"{gpu.memory_bytes / 1024**3:.0f} GiB (`srl-agent plan` with the same settings shows the breakdown); "
            f"smallest change that fits: {plan.fix}; or plan_check=false to start anyway")


def check_fits(cfg: Any, world_size: int, sharding: str = "ddp") -> None:
    """Stop a GPU run that the plan says cannot fit, before any weights are loaded; `plan_check=false` overrides."""
    import torch

    if not getattr(cfg, "plan_check", True) or not torch.cuda.is_available():
        return
    props = torch.cuda.get_device_properties(0)
    error = fit_error(cfg, GPUSpec(props.name, props.total_memory, 989e12, 3.35e12), world_size, sharding)
    if error:
        raise UserError(error)
