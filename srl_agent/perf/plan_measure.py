"""Check the memory model against reality: one training micro-step as the trainer runs it (its packer, naive or
shared-prompt; its log-probs; autocast under bf16; backward; AdamW) in a fresh process, its memory measured phase by
phase, next to the plan's estimate of the same thing.

On CPU the peak is the process's resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs) minus
the resident set before the model was loaded; `measure` runs it with MALLOC_MMAP_THRESHOLD_=4096 so that every block of a
page or more is mmap'd and unmapped on free: the resident set then follows live memory (with a higher threshold,
blocks below it come from heap memory an earlier step already made resident, and go uncounted: LoRA's adapters). On a GPU it is
`torch.cuda.max_memory_allocated` minus what was allocated before the model. Model loading is not part of the peak:
The weights are copied into process memory (a
safetensors load of the same dtype leaves them mmap'd from the file); VmHWM is reset after the model, its AdamW moments (allocated by one zero-gradient step) and a gc, because the plan
does not model loading (transformers' load holds a second copy of some weights for a moment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from srl_agent.plan.memory import MemoryEstimate, PlanInput, estimate_memory
from srl_agent.plan.shape import ModelShape


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
    shared_prompt: bool = False  # the trainer's default is True; False: the naive packing (`train.tensors.pack`)
    group_size: int = 4  # consecutive samples of a group share their prompt


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_micro_step(step: MicroStep) -> dict[str, int]:
    """Bytes measured for the micro-step (see `_micro_step`), in this process.

    A first, small run of the same code imports every lazily loaded module and kernel, so that the measured run
    counts only the model, its optimizer and the step."""
    import gc

    _micro_step(MicroStep(**{**asdict(step), "micro_batch_size": 2, "group_size": 2, "prompt_tokens": 8,
                             "completion_tokens": 4}))
    gc.collect()
    return _micro_step(step)


def _samples(step: MicroStep, vocab: int) -> list[Any]:
    """micro_batch_size samples, `group_size` consecutive ones sharing a random prompt; the last of each group one
    token shorter, as completions of a real group differ in length (the naive packing then pads and masks)."""
    import torch

    from srl_agent.rollout import Sample

    g = torch.Generator().manual_seed(0)
    out = []
    for i in range(step.micro_batch_size):
        if i % step.group_size == 0:
            prompt = tuple(torch.randint(0, vocab, (step.prompt_tokens,), generator=g).tolist())
        n = step.completion_tokens - (1 if i % step.group_size == step.group_size - 1 else 0)
        completion = tuple(torch.randint(0, vocab, (n,), generator=g).tolist())
        out.append(Sample(prompt, completion, (0.0,) * n, "", False))
    return out


class _Memory:
    """The current and peak bytes of this process (CPU: resident set) or of the CUDA allocator."""

    def __init__(self, cuda: bool):
        self.cuda = cuda

    def now(self) -> int:
        import torch

        return torch.cuda.memory_allocated() if self.cuda else _status_kib("VmRSS") * 1024

    def peak(self) -> int:
        import torch

        return torch.cuda.max_memory_allocated() if self.cuda else _status_kib("VmHWM") * 1024

    def reset_peak(self) -> None:
        import torch

        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current resident set


def _micro_step(step: MicroStep) -> dict[str, int]:
    """{"peak": the micro-step's peak above the memory before the model, "states": model + AdamW after loading,
    "after_forward": live after the forward, "saved_activations" / "saved_weight_copies": unique storages autograd
    kept for backward (saved-tensor hooks; not taken under checkpointing, which keeps its own), "load_peak"}."""
    import gc

    import torch

    from srl_agent.models.load import ModelSpec, load_policy
    from srl_agent.train.shared_prompt import completion_columns, pack_micro_batch, token_logprobs

    torch.set_num_threads(1)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    bf16 = step.dtype == "bfloat16"
    # the trainer (train/runs.py): bf16 is autocast for every finetune mode; full fine-tuning keeps fp32 master weights
    weights_dtype = "float32" if bf16 and step.finetune == "full" else step.dtype
    spec = ModelSpec(name=step.model, finetune=step.finetune, dtype=weights_dtype,  # type: ignore[arg-type]
                     gradient_checkpointing=step.gradient_checkpointing, lora_r=step.lora_rank, lora_alpha=2 * step.lora_rank)
    mem = _Memory(cuda)
    gc.collect()
    base = mem.now()
    mem.reset_peak()
    model, _ = load_policy(spec)
    model.to(device)
    if not cuda:  # weights loaded from a safetensors file of the same dtype stay mmap'd, file-backed and paged in
        for p in model.parameters():  # lazily: copy them into process memory, as a GPU holds them
            p.data = p.data.clone()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-6)
    for p in trainable:  # one zero-gradient step allocates AdamW's moments: the steady state of a run
        p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    gc.collect()
    load_peak = mem.peak() - base
    states = mem.now() - base
    vocab = model.get_input_embeddings().weight.shape[0]
    batch = pack_micro_batch(_samples(step, vocab), pad_id=0, device=device, shared=step.shared_prompt)
    mask, _ = completion_columns(batch)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    # autocast's weight copies, as the linears keep them (addmm keeps the transposed view)
    weight_shapes = {s for p in model.parameters() if p.dim() == 2 for s in (tuple(p.shape), tuple(p.shape)[::-1])}
    saved: dict[int, tuple[int, bool]] = {}

    def keep(t: Any) -> Any:  # records each storage autograd keeps once: bytes, and whether it is a weight's copy
        ptr = t.untyped_storage().data_ptr()
        if ptr not in params and ptr not in saved:
            saved[ptr] = (t.untyped_storage().nbytes(), tuple(t.shape) in weight_shapes)
        return t

    mem.reset_peak()
    hooks = (torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t) if not step.gradient_checkpointing
             else torch.autograd.graph.saved_tensors_hooks(lambda t: t, lambda t: t))
    with hooks, torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        logprobs = token_logprobs(model, batch)
    loss = -(logprobs * mask).sum() / mask.sum()
    after_forward = mem.now() - base
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {"peak": mem.peak() - base, "states": states, "after_forward": after_forward, "load_peak": load_peak,
            "saved_activations": sum(b for b, w in saved.values() if not w),
            "saved_weight_copies": sum(b for b, w in saved.values() if w)}


def measure(step: MicroStep, timeout_s: float = 900) -> dict[str, int]:
    """`run_micro_step` in a fresh interpreter (a clean high-water mark, no peak leaking between rows), one thread."""
    # every block of a page or more is mmap'd and returned on free: the resident set then follows live memory
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "4096"}
    code = ("import json,sys; from srl_agent.perf.plan_measure import MicroStep, run_micro_step; "
            "print(json.dumps(run_micro_step(MicroStep(**json.loads(sys.argv[1])))))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(asdict(step))], env=env, capture_output=True, text=True,
                         timeout=timeout_s, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"micro-step {step} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def plan_input(step: MicroStep, shape: ModelShape, cuda: bool = False) -> PlanInput:
    """The plan's input for the micro-step: one device, no generation, AdamW's step as torch runs it there."""
    return PlanInput(
        shape=shape, gpus=1, finetune=step.finetune, lora_rank=step.lora_rank, dtype=step.dtype,
        micro_batch_size=step.micro_batch_size, prompt_tokens=step.prompt_tokens, completion_tokens=step.completion_tokens,
        gradient_checkpointing=step.gradient_checkpointing, shared_prompt=step.shared_prompt, group_size=step.group_size,
        optimizer_foreach=cuda)


def plan_of(step: MicroStep, cuda: bool = False) -> MemoryEstimate:
    from srl_agent.plan.shape import load_shape

    return estimate_memory(plan_input(step, load_shape(step.model), cuda))


def estimate_micro_step(step: MicroStep, cuda: bool = False) -> int:
    """The plan's peak for the micro-step: model states + the train phase's peak moment."""
    return plan_of(step, cuda).train_peak
