"""Peak memory per GPU of an SRL run, by component, from the model's shape and the run's settings.

What lives on a GPU, in the order the trainer allocates it (srl_agent/train):
  * model states: full fine-tuning under bf16 keeps fp32 master weights + fp32 grads + AdamW's two fp32 moments
    (16 bytes a parameter) and autocast's cached bf16 copy of each weight during the forward (2 more); LoRA keeps the
    frozen base in its dtype and 16 bytes per adapter parameter. FSDP2 shards the 16 bytes over the GPUs and gathers
    about two layers at a time in bf16. DDP over several GPUs adds its gradient buckets (a second copy of the grads).
  * train phase: activations saved for backward (per token and layer, counted tensor by tensor below), the logits of
    the completion columns only (the trainer asks for `logits_to_keep`), the gradients.
  * generation (HF engine): the KV cache of `generation_batch_size` sequences; vLLM instead reserves its fixed share
    of the GPU (`vllm_gpu_memory_utilization`) for its own weights and KV cache for the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

from srl_agent.plan.hardware import GPUS, GPUSpec
from srl_agent.plan.shape import ModelShape


@dataclass(frozen=True, slots=True)
class PlanInput:
    shape: ModelShape
    gpu: GPUSpec = GPUS["H100-80GB"]
    gpus: int = 1
    finetune: str = "full"  # full | lora
    lora_rank: int = 16
    sharding: str = "ddp"  # ddp | fsdp2
    dtype: str = "bfloat16"  # bfloat16 | float32
    group_size: int = 8
    batch_size: int = 512  # prompts per optimizer step
    prompt_tokens: int = 4096
    completion_tokens: int = 512
    micro_batch_size: int = 8  # sequences per forward/backward
    gradient_checkpointing: bool = False
    engine: str = "hf"  # hf | vllm
    vllm_share: float = 0.3
    generation_batch_size: int = 64
    shared_prompt: bool = False  # a group's prompt is trained once, its G completions attend to it
    kl_reference: bool = False  # kl_coef > 0 keeps a frozen reference model


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    persistent: tuple[tuple[str, int], ...]  # held for the whole run
    train: tuple[tuple[str, int], ...]  # added during forward/backward
    generate: tuple[tuple[str, int], ...]  # added during generation
    vllm_kv_tokens: int = 0  # tokens the vLLM share holds in its KV cache (0 = HF engine, or weights do not fit)

    @property
    def train_peak(self) -> int:
        return sum(b for _, b in self.persistent) + sum(b for _, b in self.train)

    @property
    def generate_peak(self) -> int:
        return sum(b for _, b in self.persistent) + sum(b for _, b in self.generate)

    @property
    def peak(self) -> int:
        return max(self.train_peak, self.generate_peak)


def _dtypes(inp: PlanInput) -> tuple[int, int, bool]:
    """(residual-stream bytes, matmul-operand bytes, autocast from fp32 master weights?)"""
    if inp.dtype == "float32":
        return 4, 4, False
    if inp.finetune == "full" and inp.sharding == "ddp":
        return 4, 2, True  # fp32 master weights: fp32 embeddings and residual stream, bf16 matmuls under autocast
    return 2, 2, False  # bf16 weights (LoRA base, FSDP2's bf16 compute params)


def activation_bytes_per_token_layer(inp: PlanInput) -> int:
    """Bytes one decoder layer saves for backward per token (HF Qwen2/Llama layer, SDPA attention).

    RMSNorm (computed in fp32) saves its fp32 input and normalised output: 8h bytes, 10h with a bf16 residual
    (plus the cast back). Matmul operands at D bytes: the attention input (autocast casts it separately for each of
    q, k, v: 3 copies), q / k / v / attention output kept by SDPA (k and v repeated to all heads for GQA: h each), the
    o_proj input, the MLP input (2 copies under autocast: gate, up), and SwiGLU's gate, silu(gate), up and product (4I).
    """
    s, h, i = inp.shape, inp.shape.hidden, inp.shape.intermediate
    residual, operand, autocast = _dtypes(inp)
    norms = 2 * (8 * h if residual == 4 else 10 * h)
    copies = 5 if autocast else 2  # separate casts of the attention and MLP inputs
    q_dim = s.heads * s.head_dim
    return norms + operand * (copies * h + 4 * q_dim + h + 4 * i) - operand * h  # o_proj input is q_dim wide


def model_state_bytes(inp: PlanInput) -> tuple[tuple[str, int], ...]:
    s, w = inp.shape, inp.gpus
    _, operand, _ = _dtypes(inp)
    sharded = inp.sharding == "fsdp2"
    parts: list[tuple[str, int]] = []
    if inp.finetune == "full":
        shard = w if sharded else 1
        parts += [("weights (fp32 master)" if inp.dtype != "float32" or not sharded else "weights", 4 * s.params // shard),
                  ("AdamW moments (fp32)", 8 * s.params // shard)]
        if sharded:
            parts.append(("FSDP2 gathered layers (bf16, current + prefetched)", 2 * operand * s.layer_params + operand * s.embedding_params))
    else:
        base = (4 if inp.dtype == "float32" else 2) * s.params // (w if sharded else 1)
        n = s.lora_params(inp.lora_rank)
        parts += [("frozen base weights", base), ("LoRA adapter + grads + AdamW (fp32)", 16 * n)]
        if sharded:
            parts.append(("FSDP2 gathered layers", 2 * operand * s.layer_params + operand * s.embedding_params))
    if inp.kl_reference:
        parts.append(("KL reference model (frozen)", (4 if inp.dtype == "float32" else 2) * s.params))
    if inp.engine == "vllm":
        parts.append(("vLLM reserved share (weights + KV cache)", int(inp.vllm_share * inp.gpu.memory_bytes)))
    return tuple(parts)


def train_tokens_per_micro_batch(inp: PlanInput) -> int:
    """Tokens in one forward/backward: every sequence carries its prompt, unless the group's prompt is shared."""
    p, c, m = inp.prompt_tokens, inp.completion_tokens, inp.micro_batch_size
    if inp.shared_prompt:
        groups = max(1, m // inp.group_size)
        return groups * (p + inp.group_size * c)
    return m * (p + c)


def train_phase_bytes(inp: PlanInput) -> tuple[tuple[str, int], ...]:
    s = inp.shape
    residual, operand, autocast = _dtypes(inp)
    tokens = train_tokens_per_micro_batch(inp)
    per_layer = activation_bytes_per_token_layer(inp)
    if inp.gradient_checkpointing:
        # each layer's input is kept; backward recomputes one layer at a time (its activations + their grads)
        acts = tokens * (s.layers * residual * s.hidden + 2 * per_layer)
    else:
        acts = tokens * (s.layers * per_layer + per_layer)
    rows = inp.micro_batch_size * (inp.completion_tokens + 1)
    # logits of the completion columns: the LM head's output (D bytes), its fp32 copy divided by T (kept for
    # logsumexp), and the fp32 gradient flowing back: ~3 fp32-sized tensors of rows x vocab at the peak
    logits = rows * s.vocab * (operand + 4 + 4)
    if inp.finetune == "full":
        grads = 4 * s.params // (inp.gpus if inp.sharding == "fsdp2" else 1)
        if inp.sharding == "fsdp2":
            grads += 2 * operand * s.layer_params  # unsharded grads of the layer being reduce-scattered
    else:
        grads = 0  # counted with the adapter
    parts = [("activations", acts), ("logits (completion columns)", logits), ("gradients", grads)]
    if autocast:
        parts.append(("autocast's bf16 weight copies", 2 * s.params))
    if inp.sharding == "ddp" and inp.gpus > 1 and inp.finetune == "full":
        parts.append(("DDP gradient buckets", 4 * s.params))
    return tuple(parts)


def generate_phase_bytes(inp: PlanInput) -> tuple[tuple[str, int], int]:
    """(components, vLLM KV-cache tokens). The HF engine generates with the training model itself."""
    s = inp.shape
    _, operand, _ = _dtypes(inp)
    if inp.engine == "vllm":
        overhead = 2 * 1024**3  # vLLM's activations, CUDA graphs, sampler buffers
        kv_bytes = int(inp.vllm_share * inp.gpu.memory_bytes) - 2 * s.params - overhead
        return (), max(0, kv_bytes) // s.kv_cache_bytes_per_token(2)
    seqs = inp.generation_batch_size
    kv = seqs * (inp.prompt_tokens + inp.completion_tokens) * s.kv_cache_bytes_per_token(operand)
    # prefill: one layer's MLP intermediates for the whole batch of prompts at a time
    prefill = seqs * inp.prompt_tokens * operand * (3 * s.intermediate + 4 * s.hidden)
    logits = seqs * s.vocab * 4 * 2
    parts = [("KV cache", kv), ("prefill intermediates", prefill), ("sampling logits", logits)]
    if inp.sharding == "fsdp2":
        parts.append(("full weights gathered for generation (bf16)", 2 * s.params))
    return tuple(parts), 0


def estimate_memory(inp: PlanInput) -> MemoryEstimate:
    generate, kv_tokens = generate_phase_bytes(inp)
    return MemoryEstimate(model_state_bytes(inp), train_phase_bytes(inp), generate, kv_tokens)
