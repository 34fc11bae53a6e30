"""Check the memory model against reality: one training micro-step (forward, log-probs of the completion columns,
backward, AdamW step) in a fresh process, its peak memory measured, next to the plan's estimate of the same thing.

On CPU the peak is the process's resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs after the
imports), so it counts everything the step allocated; on a GPU it is `torch.cuda.max_memory_allocated`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from srl_agent.plan.memory import PlanInput, estimate_memory


@dataclass(frozen=True, slots=True)
class MicroStep:
    model: str  # "tiny", a model directory, or a shipped name
    dtype: str = "float32"
    finetune: str = "full"
    gradient_checkpointing: bool = False
    micro_batch_size: int = 4
    prompt_tokens: int = 256
    completion_tokens: int = 64
    lora_rank: int = 16


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_micro_step(step: MicroStep) -> int:
    """Bytes the micro-step added to the process's peak (the model's load included). Runs in this process.

    A first, small run of the same code imports every lazily loaded module and kernel, so that the measured run
    counts only the model, its optimizer and the step."""
    import gc

    _micro_step(MicroStep(**{**asdict(step), "micro_batch_size": 1, "prompt_tokens": 8, "completion_tokens": 4}))
    gc.collect()
    return _micro_step(step)


def _micro_step(step: MicroStep) -> int:
    import torch

    from srl_agent.models.load import ModelSpec, load_policy
    from srl_agent.train.tensors import TokenBatch, token_logprobs

    torch.set_num_threads(1)
    cuda = torch.cuda.is_available()
    bf16 = step.dtype == "bfloat16"
    mixed = bf16 and step.finetune == "full"  # the trainer's fp32 master weights under bf16 autocast
    spec = ModelSpec(name=step.model, finetune=step.finetune, dtype="float32" if mixed else step.dtype,
                     gradient_checkpointing=step.gradient_checkpointing, lora_r=step.lora_rank, lora_alpha=2 * step.lora_rank)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        base = _rss_kib("VmRSS") * 1024
    device = "cuda" if cuda else "cpu"
    model, _ = load_policy(spec)
    model.to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)
    b, p, c = step.micro_batch_size, step.prompt_tokens, step.completion_tokens
    vocab = model.get_input_embeddings().weight.shape[0]
    ids = torch.randint(0, vocab, (b, p + c), generator=torch.Generator().manual_seed(0)).to(device)
    ones = torch.ones(b, p + c, dtype=torch.long, device=device)
    mask = torch.zeros(b, p + c, device=device)
    mask[:, p:] = 1
    batch = TokenBatch(ids, ones, torch.arange(p + c, device=device).expand(b, -1), mask, torch.zeros_like(mask), c)
    for _ in range(2):  # the second step runs with AdamW's moments allocated: the steady state
        with torch.autocast(device, dtype=torch.bfloat16, enabled=mixed):
            logprobs = token_logprobs(model, batch)
        loss = -(logprobs * mask).sum() / mask.sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if cuda:
        return torch.cuda.max_memory_allocated() - base
    return _rss_kib("VmHWM") * 1024 - base


def measure(step: MicroStep, timeout_s: float = 900) -> int:
    """`run_micro_step` in a fresh interpreter (a clean high-water mark), one thread."""
    # every large block is mmap'd and returned on free: the resident set then follows live memory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    code = ("import json,sys; from srl_agent.perf.plan_measure import MicroStep, run_micro_step; "
            "print(run_micro_step(MicroStep(**json.loads(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(asdict(step))], env=env, capture_output=True, text=True,
                         timeout=timeout_s, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"micro-step {step} failed:\n{out.stderr[-2000:]}")
    return int(out.stdout.strip().splitlines()[-1])


def estimate_micro_step(step: MicroStep) -> int:
    """The plan's estimate of the same micro-step: model states + train phase, one device, no generation."""
    from srl_agent.plan.shape import load_shape

    inp = PlanInput(shape=load_shape(step.model), gpus=1, finetune=step.finetune, lora_rank=step.lora_rank,
                    dtype=step.dtype, micro_batch_size=step.micro_batch_size, prompt_tokens=step.prompt_tokens,
                    completion_tokens=step.completion_tokens, gradient_checkpointing=step.gradient_checkpointing)
    return estimate_memory(inp).train_peak
