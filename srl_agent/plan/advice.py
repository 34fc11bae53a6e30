"""The plan: memory + time, whether it fits, and the smallest change that makes it fit.

Fits means: peak allocated * (1 + ALLOCATOR_RESERVE) + CUDA_CONTEXT <= the GPU's memory. The first two numbers are
what `torch.cuda.max_memory_allocated` reports; the reserve covers the caching allocator's fragmentation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from srl_agent.plan.memory import MemoryEstimate, PlanInput, estimate_memory
from srl_agent.plan.speed import DECODE_BW_EFFICIENCY, PREFILL_MFU, TRAIN_MFU, StepTime, step_time

GiB = 1024**3
ALLOCATOR_RESERVE = 0.10
CUDA_CONTEXT = int(0.75 * GiB)
# `srl-agent train` runs FSDP2 with engine=hf or vllm-server and refuses it with the in-process vLLM engine (each rank
# would start one beside its shard): a fix that moves a vLLM run to FSDP2 says so, rather than send a user to a
# configuration that stops at start. The estimate keeps the vLLM share on each GPU (a server colocated with the trainer).


def fsdp2_note(inp: PlanInput) -> str:
    return " with engine=vllm-server" if inp.engine == "vllm" else ""


@dataclass(frozen=True, slots=True)
class Plan:
    input: PlanInput
    memory: MemoryEstimate
    time: StepTime
    fits: bool
    fix: str  # "" when it fits; else the smallest change that fits, or what is out of reach


def needed_bytes(memory: MemoryEstimate) -> int:
    return int(memory.peak * (1 + ALLOCATOR_RESERVE)) + CUDA_CONTEXT


def _fits(inp: PlanInput) -> bool:
    memory = estimate_memory(inp)
    vllm_ok = inp.engine != "vllm" or memory.vllm_kv_tokens >= inp.prompt_tokens + inp.completion_tokens
    return vllm_ok and needed_bytes(memory) <= inp.gpu.memory_bytes


def _candidates(inp: PlanInput) -> list[tuple[str, PlanInput]]:
    """Single changes, cheapest first: memory-only switches, smaller micro-batches, LoRA, then sharding and more GPUs
    (last: they need more machinery or more GPUs)."""
    r = dataclasses.replace
    out: list[tuple[str, PlanInput]] = []
    if not inp.gradient_checkpointing:
        out.append(("gradient_checkpointing=true", r(inp, gradient_checkpointing=True)))
    m = inp.micro_batch_size // 2
    while m >= 1:
        out.append((f"micro_batch_size={m}", r(inp, micro_batch_size=m)))
        out.append((f"gradient_checkpointing=true micro_batch_size={m}", r(inp, gradient_checkpointing=True, micro_batch_size=m)))
        m //= 2
    if inp.engine == "hf" and inp.generation_batch_size > 8:
        out.append((f"generation_batch_size={inp.generation_batch_size // 4}", r(inp, generation_batch_size=inp.generation_batch_size // 4)))
    if inp.finetune == "full":
        out.append(("finetune=lora", r(inp, finetune="lora")))
        out.append(("finetune=lora gradient_checkpointing=true micro_batch_size=1",
                    r(inp, finetune="lora", gradient_checkpointing=True, micro_batch_size=1)))
    if inp.finetune == "lora":
        return out  # train refuses LoRA with FSDP2 (nothing worth sharding): more GPUs would only add DDP replicas
    if inp.sharding == "ddp" and inp.gpus > 1:
        out.append((f"FSDP2 on the same GPUs{fsdp2_note(inp)}", r(inp, sharding="fsdp2")))
    for gpus in (2, 4, 8):
        if gpus > inp.gpus:
            out.append((f"{gpus} GPUs with FSDP2{fsdp2_note(inp)}", r(inp, gpus=gpus, sharding="fsdp2")))
            out.append((f"{gpus} GPUs with FSDP2{fsdp2_note(inp)}, gradient_checkpointing=true, micro_batch_size=1",
                        r(inp, gpus=gpus, sharding="fsdp2", gradient_checkpointing=True, micro_batch_size=1)))
    return out


def estimate(inp: PlanInput) -> Plan:
    memory = estimate_memory(inp)
    time = step_time(inp, memory.vllm_kv_tokens)
    if _fits(inp):
        return Plan(inp, memory, time, True, "")
    for change, candidate in _candidates(inp):
        if _fits(candidate):
            return Plan(inp, memory, time, False, change)
    return Plan(inp, memory, time, False, "no single listed change fits: use a smaller model or more/larger GPUs")


def _gib(n: int) -> str:
    return f"{n / GiB:6.1f} GiB"


def render(plan: Plan) -> str:
    inp, mem, t = plan.input, plan.memory, plan.time
    s = inp.shape
    lines = [
        f"model {s.name}: {s.params / 1e9:.2f}B parameters ({s.layers} layers, hidden {s.hidden}, vocab {s.vocab})",
        f"{inp.gpus} x {inp.gpu.name} ({inp.gpu.memory_bytes / GiB:.0f} GiB), {inp.finetune}"
        + (f" r={inp.lora_rank}" if inp.finetune == "lora" else "") + f", {inp.sharding}, {inp.dtype}, engine={inp.engine}, "
        f"G={inp.group_size}, batch={inp.batch_size} prompts, {inp.prompt_tokens}+{inp.completion_tokens} tokens, "
        f"micro-batch {inp.micro_batch_size}, checkpointing {'on' if inp.gradient_checkpointing else 'off'}"
        + (", shared prompt" if inp.shared_prompt else ""),
        "",
        "memory per GPU (estimated peak allocated):",
    ]
    for title, parts in (("held all run", mem.persistent), ("train phase", mem.train), ("generation", mem.generate)):
        for name, b in parts:
            lines.append(f"  {title:12s} {name:52s} {_gib(b)}")
    lines.append(f"  peak: train {_gib(mem.train_peak).strip()} (at the {mem.train_moment}), generation {_gib(mem.generate_peak).strip()}; "
                 f"needs {_gib(needed_bytes(mem)).strip()} with a {ALLOCATOR_RESERVE:.0%} allocator reserve and the CUDA context")
    if inp.engine == "vllm":
        lines.append(f"  vLLM KV cache: {mem.vllm_kv_tokens:,} tokens in its {inp.vllm_share:.0%} share")
    lines += [
        "",
        f"time per SRL step (assumes {TRAIN_MFU:.0%} MFU training, {PREFILL_MFU:.0%} prefill, "
        f"{DECODE_BW_EFFICIENCY:.0%} of bandwidth decoding):",
        f"  prefill {t.prefill_s:8.1f} s   decode {t.decode_s:8.1f} s   train {t.train_s:8.1f} s   total {t.total_s:8.1f} s",
        "",
        "fits" if plan.fits else f"does NOT fit; smallest change that fits: {plan.fix}",
    ]
    return "\n".join(lines)
