"""The README's table: the paper's SRL setting (Qwen2.5-Coder-7B-Instruct, G=8, 512 prompts, 4k-token prompts,
512-token completions, vLLM rollouts) on 1, 2, 4 and 8 80 GB GPUs, and 7B LoRA on one."""

from __future__ import annotations

import dataclasses

from srl_agent.plan.advice import estimate, fsdp2_note, needed_bytes
from srl_agent.plan.hardware import GPUS
from srl_agent.plan.memory import PlanInput
from srl_agent.plan.shape import load_shape

PAPER_MODEL = "Qwen/Qwen2.5-Coder-7B-Instruct"


def paper_rows() -> list[tuple[str, PlanInput]]:
    base = PlanInput(shape=load_shape(PAPER_MODEL), gpu=GPUS["H100-80GB"], engine="vllm", vllm_share=0.3,
                     gradient_checkpointing=True, micro_batch_size=2)
    r = dataclasses.replace
    rows = [("full, 1 GPU", base)]
    rows += [(f"full, {n} GPUs FSDP2{fsdp2_note(base)}", r(base, gpus=n, sharding="fsdp2")) for n in (2, 4, 8)]
    rows += [(f"full, {n} GPUs DDP", r(base, gpus=n)) for n in (8,)]
    rows.append(("LoRA r=16, 1 GPU", r(base, finetune="lora")))
    return rows


def paper_table() -> str:
    lines = ["| setting | GiB per GPU needed | fits 80 GB? | smallest fix | est. step time |", "|---|---|---|---|---|"]
    for label, inp in paper_rows():
        plan = estimate(inp)
        lines.append(f"| {label} | {needed_bytes(plan.memory) / 1024**3:.0f} | {'yes' if plan.fits else 'no'} | "
                     f"{plan.fix or '-'} | {plan.time.total_s / 60:.0f} min |")
    return "\n".join(lines)
