"""`srl-agent perf gpu`: one short run that measures the real thing on a GPU (or a toy-size rehearsal on CPU).

Random-init Qwen2.5-1.5B and Qwen2.5-Coder-7B from the shipped configs (`srl_agent.models.real`, no download), bf16:
  1. rollout tokens/s with the HF engine (the trainer's own generate path), G completions per prompt;
  2. the sampler/trainer log-prob mismatch on those samples (HF generate's scores vs a training-mode forward) and the
     truncated-importance-sampling weights it implies (cap TIS_CAP);
  3. one training micro-step (forward on the completion columns, backward, AdamW): tokens/s, MFU against the GPU's
     bf16 peak (6N FLOPs per token for full fine-tuning, 4N for LoRA, + attention), peak memory next to the plan's
     estimate (`srl_agent.plan`);
  4. the shared-prompt train phase next to the naive one, when `srl_agent.train.shared_prompt` is installed;
  5. fits-or-not of 7B LoRA with G=8 and 4k-token prompts, and of 1.5B full fine-tuning, on this one GPU.
Each measurement that fails (an OOM included) is recorded with its error; the run goes on.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass
from typing import Any

TIS_CAP = 2.0


@dataclass(frozen=True)
class Case:
    model: str  # a shipped real config (srl_agent.models.real.REAL_MODELS)
    finetune: str = "full"
    prompts: int = 2
    group: int = 8
    prompt_tokens: int = 2048
    completion_tokens: int = 256
    micro_batch: int = 8
    gradient_checkpointing: bool = True
    num_layers: int | None = None  # reduced depth / width for the CPU rehearsal
    width_divisor: int = 1


GPU_CASES = (
    Case("qwen2.5-1.5b-instruct", "full"),
    Case("qwen2.5-coder-7b-instruct", "lora", prompt_tokens=4096, completion_tokens=256),
)
CPU_CASES = (
    Case("qwen2.5-1.5b-instruct", "full", prompts=1, group=4, prompt_tokens=48, completion_tokens=8, micro_batch=4,
         num_layers=1, width_divisor=4),
    Case("qwen2.5-1.5b-instruct", "lora", prompts=1, group=4, prompt_tokens=48, completion_tokens=8, micro_batch=4,
         num_layers=1, width_divisor=4),
)


def id_tokenizer(vocab: int, eos_id: int) -> Any:
    """A real fast tokenizer over the model's whole id range (token i is "<i>"): random weights sample any id, and
    the engine must decode them; the text carries no meaning and is not used."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({f"<{i}>": i for i in range(vocab)}, unk_token="<0>"))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=f"<{eos_id}>", pad_token=f"<{eos_id}>", padding_side="left")


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _peak_reset(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> int | None:
    import torch

    return torch.cuda.max_memory_allocated() if device == "cuda" else None


def _policy(case: Case, device: str) -> tuple[Any, Any]:
    """The policy as the trainer holds it: bf16 weights for LoRA (peft adapter on top), fp32 master weights under bf16
    autocast for full fine-tuning."""
    import torch

    from srl_agent.models.load import _checkpointing
    from srl_agent.models.real import random_init_model

    dtype = "bfloat16" if case.finetune == "lora" else "float32"
    model = random_init_model(case.model, num_layers=case.num_layers, width_divisor=case.width_divisor, dtype=dtype, device=device)
    if case.gradient_checkpointing:
        _checkpointing(model)
        model.config.use_cache = False
    if case.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        if case.gradient_checkpointing:
            model.enable_input_require_grads()
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-7)
    return model, optimizer


def _rollout(case: Case, model: Any, device: str) -> tuple[dict[str, Any], list[Any]]:
    import torch

    from srl_agent.rollout import SamplingParams
    from srl_agent.rollout.hf import HFEngine, base_model

    vocab = base_model(model).config.vocab_size
    eos = base_model(model).config.eos_token_id
    eos = eos[0] if isinstance(eos, list) else eos
    engine = HFEngine(model, id_tokenizer(vocab, eos), batch_size=case.prompts * case.group)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, vocab, (case.prompt_tokens,), generator=g).tolist() for _ in range(case.prompts)]
    with torch.autocast(device, dtype=torch.bfloat16):
        engine.generate(prompts[:1], 1, SamplingParams(1.0, 2), seed=0)  # warm-up (kernels, allocator)
        _sync(device)
        start = time.perf_counter()
        samples_P_G = engine.generate(prompts, case.group, SamplingParams(1.0, case.completion_tokens), seed=1)
        _sync(device)
    seconds = time.perf_counter() - start
    samples = [s for group in samples_P_G for s in group]
    tokens = sum(len(s.completion_ids) for s in samples)
    return {"rollout_seconds": seconds, "rollout_completion_tokens": tokens, "rollout_tokens_per_s": tokens / seconds}, samples


def _train_step(case: Case, model: Any, optimizer: Any, samples: list[Any], device: str) -> dict[str, Any]:
    import torch

    from srl_agent.perf.plan_measure import MicroStep, estimate_micro_step
    from srl_agent.plan.shape import shape_from_config
    from srl_agent.rollout.hf import base_model
    from srl_agent.train.tensors import pack, token_logprobs

    shape = shape_from_config(base_model(model).config.to_dict(), case.model)  # the reduced shape on CPU
    batch = pack(samples[: case.micro_batch], pad_id=0, device=device)
    mask = batch.completion_mask_B_L
    _peak_reset(device)
    _sync(device)
    start = time.perf_counter()
    with torch.autocast(device, dtype=torch.bfloat16):  # as the trainer: bf16 is autocast, full and LoRA alike
        logprobs = token_logprobs(model, batch)
    loss = -(logprobs * mask).sum() / mask.sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    _sync(device)
    seconds = time.perf_counter() - start
    tokens = int(batch.attention_mask_B_L.sum())
    completion_tokens = int(mask.sum())
    # 6N per token (4N for LoRA: no weight grads of the frozen base) on the decoder's matmuls, +2N to recompute under
    # checkpointing; the LM head (6 * vocab * hidden) runs on completion columns only; attention 6*layers*q_dim*ctx.
    per_token = ((6 if case.finetune == "full" else 4) + (2 if case.gradient_checkpointing else 0)) * shape.non_embedding_params
    width = batch.input_ids_B_L.shape[1]
    flops = (tokens * per_token + completion_tokens * 6 * shape.vocab * shape.hidden
             + tokens * 6 * shape.layers * shape.heads * shape.head_dim * width / 2)
    # mismatch: the sampler's log-probs (generate, eval mode, KV cache) vs this training-mode forward
    sampler = batch.old_logprobs_B_L
    delta = ((logprobs.detach() - sampler) * mask).abs()
    ratio = torch.exp((logprobs.detach() - sampler) * mask)[mask.bool()]
    plan = estimate_micro_step(MicroStep(case.model, "bfloat16", case.finetune, case.gradient_checkpointing,
                                         case.micro_batch, batch.input_ids_B_L.shape[1] - batch.completion_width,
                                         batch.completion_width), cuda=device == "cuda") if case.num_layers is None else None
    return {
        "train_seconds": seconds, "train_tokens": tokens, "train_tokens_per_s": tokens / seconds,
        "train_flops": flops, "peak_allocated_bytes": _peak(device), "plan_estimate_bytes": plan,
        "logprob_abs_diff_mean": float(delta.sum() / mask.sum()), "logprob_abs_diff_max": float(delta.max()),
        "tis_weight_mean": float(ratio.mean()), "tis_weight_max": float(ratio.max()),
        "tis_clipped_fraction": float((ratio > TIS_CAP).float().mean()),
    }


def run_case(case: Case, device: str, peak_flops: float | None) -> dict[str, Any]:
    """Every measurement of one model; a failure (an OOM included) is recorded, never raised."""
    import torch

    record: dict[str, Any] = {"case": asdict(case)}
    try:
        _peak_reset(device)
        model, optimizer = _policy(case, device)
        stats, samples = _rollout(case, model, device)
        record.update(stats)
        record.update(_train_step(case, model, optimizer, samples, device))
        if peak_flops:
            record["mfu"] = record["train_flops"] / record["train_seconds"] / peak_flops
        record["fits"] = True
    except torch.OutOfMemoryError as e:
        record.update(fits=False, error=f"out of memory: {str(e).splitlines()[0]}")
    except Exception as e:  # recorded as data: the other cases still run
        record.update(fits=None, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=5))
    finally:
        model = optimizer = None
        if device == "cuda":
            torch.cuda.empty_cache()
    return record


def run_gpu_bench(cpu: bool = False) -> dict[str, Any]:
    import torch

    device = "cuda" if torch.cuda.is_available() and not cpu else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    from srl_agent.plan.hardware import GPUS

    peak = next((g.bf16_flops for key, g in GPUS.items() if key.split("-")[0] in name), None) if device == "cuda" else None
    cases = GPU_CASES if device == "cuda" else CPU_CASES
    started = time.perf_counter()
    results = [run_case(c, device, peak) for c in cases]
    return {"device": name, "torch": torch.__version__, "peak_bf16_flops": peak, "cases": results,
            "seconds": time.perf_counter() - started}
