"""Seconds per SRL step on a GPU, from FLOPs and bytes at stated efficiencies (assumptions, not measurements).

Per GPU, a step generates batch*G/gpus completions and trains on them:
  * prefill: 2N FLOPs per prompt token; vLLM computes a group's prompt once (prefix sharing), the HF engine G times.
  * decode: one weight read (2N bytes in bf16) plus the KV cache read per decoding step of each wave of concurrent
    sequences; memory-bound at these batch sizes, so time = bytes / (bandwidth * DECODE_BW_EFFICIENCY), or FLOPs if larger.
  * train: 6N FLOPs per trained token (forward 2N, backward 4N) for full fine-tuning, 4N for LoRA (no weight gradients
    for the frozen base), +2N with gradient checkpointing (the forward runs twice); causal attention adds
    6 * layers * q_dim * context per token; the LM head runs on completion tokens only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from srl_agent.plan.memory import PlanInput

TRAIN_MFU = 0.35  # HF model + SDPA, no fused kernels: 30-45% is typical on H100 for 1-7B models
PREFILL_MFU = 0.5
DECODE_BW_EFFICIENCY = 0.6


@dataclass(frozen=True, slots=True)
class StepTime:
    prefill_s: float
    decode_s: float
    train_s: float
    train_flops_per_gpu: float

    @property
    def total_s(self) -> float:
        return self.prefill_s + self.decode_s + self.train_s


def step_time(inp: PlanInput, vllm_kv_tokens: int = 0) -> StepTime:
    s, gpu = inp.shape, inp.gpu
    n = s.non_embedding_params
    head = s.vocab * s.hidden
    q_dim = s.heads * s.head_dim
    p, c, g = inp.prompt_tokens, inp.completion_tokens, inp.group_size
    prompts = inp.batch_size / inp.gpus
    seqs = prompts * g

    prefill_tokens = prompts * p if inp.engine == "vllm" else seqs * p
    prefill_s = prefill_tokens * (2 * n + 2 * s.layers * q_dim * p) / (gpu.bf16_flops * PREFILL_MFU)

    if inp.engine == "vllm":
        # prefix caching: a group's G sequences share its prompt's KV blocks
        concurrency = max(1, min(seqs, int(vllm_kv_tokens // (p / g + c)))) if vllm_kv_tokens else 1
    else:
        concurrency = min(seqs, inp.generation_batch_size)
    waves = math.ceil(seqs / concurrency)
    shared = p / g if inp.engine == "vllm" else p
    kv_read = concurrency * (shared + c / 2) * s.kv_cache_bytes_per_token(2)
    per_token_step = max((2 * (n + head) + kv_read) / (gpu.bandwidth * DECODE_BW_EFFICIENCY),
                         2 * (n + head) * concurrency / (gpu.bf16_flops * PREFILL_MFU))
    decode_s = waves * c * per_token_step

    per_token = (6 if inp.finetune == "full" else 4) * n + (2 * n if inp.gradient_checkpointing else 0)
    if inp.shared_prompt:
        prompt_tokens, completion_tokens = prompts * p, seqs * c
    else:
        prompt_tokens, completion_tokens = seqs * p, seqs * c
    attention = 6 * s.layers * q_dim * ((prompt_tokens * p / 2) + completion_tokens * (p + c / 2))
    flops = (prompt_tokens + completion_tokens) * per_token + attention + completion_tokens * 6 * head
    train_s = flops / (gpu.bf16_flops * TRAIN_MFU)
    return StepTime(prefill_s, decode_s, train_s, flops)
