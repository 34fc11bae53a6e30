"""Peak memory per GPU of an SRL run, by component, from the model's shape and the run's settings.

What lives on a GPU, in the order the trainer allocates it (srl_agent/train):
  * model states: full fine-tuning keeps fp32 master weights + AdamW's two fp32 moments (12 bytes a parameter; the
    fp32 grads, 4 more, exist from the backward to the step: train phase); LoRA keeps the frozen base in its dtype and
    12 bytes per adapter parameter. FSDP2 shards them over the GPUs and gathers about two layers at a time in bf16. DDP
    over several GPUs adds its gradient buckets (a second copy of the grads).
  * train phase: the largest of six moments of a micro-step (`_train_moments`): the end of the forward (activations
    saved for backward, counted tensor by tensor below for the naive and the shared-prompt packing; autocast's weight
    copies; the logits of the completion columns only, `logits_to_keep`), the start of the backward (logsumexp's
    backward over the vocabulary), the LM head's backward, the last layer's backward (recomputed under checkpointing),
    the end of the backward (all gradients) and AdamW's step (its temporaries). Backward frees a layer's activations
    as it makes its gradients, so the two never add up in full. Checked against measured micro-steps: docs/plan.md.
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
    shared_prompt: bool = True  # a group's prompt is trained once, its G completions attend to it (train's default)
    kl_reference: bool = False  # kl_coef > 0 keeps a frozen reference model
    optimizer_foreach: bool = True  # AdamW's multi-tensor step: torch's default on a GPU (on CPU it loops per tensor)


@dataclass(frozen=True, slots=True)
class MemoryEstimate:
    persistent: tuple[tuple[str, int], ...]  # held for the whole run
    train: tuple[tuple[str, int], ...]  # added during forward/backward
    generate: tuple[tuple[str, int], ...]  # added during generation
    vllm_kv_tokens: int = 0  # tokens the vLLM share holds in its KV cache (0 = HF engine, or weights do not fit)
    train_moment: str = ""  # when in the micro-step the train phase peaks ("start of backward", ...)

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


def _lora_casts(inp: PlanInput) -> bool:
    """LoRA under bf16: the trainer autocasts, peft casts each adapter's input to the adapters' fp32 and autocast casts
    it back to bf16: every adapted linear keeps its own bf16 copy of its input."""
    return inp.finetune == "lora" and inp.dtype != "float32"


def activation_bytes_per_token_layer(inp: PlanInput, kv_repeated: bool) -> int:
    """Bytes one HF Qwen2/Llama decoder layer saves for backward per token (SDPA attention), tensor by tensor as
    autograd keeps them (checked with saved-tensor hooks on SmolLM2 and Qwen2.5 layers, docs/plan.md).

    `kv_repeated`: transformers repeats K/V to all heads (repeat_kv) when it passes SDPA a mask (a padded batch);
    without a mask SDPA does GQA itself and keeps K/V at their KV width."""
    s, h, i = inp.shape, inp.shape.hidden, inp.shape.intermediate
    residual, operand, autocast = _dtypes(inp)
    full = inp.finetune == "full"
    q = s.heads * s.head_dim
    kv = q if kv_repeated else s.kv_dim
    # RMSNorm computes in fp32: pow/mul keep its fp32 input (the fp32 residual itself, or an fp32 copy of a bf16 one)
    # and an fp32 rsqrt per token; the normalised output (residual dtype) is kept only to train the norm's weight.
    norms = 2 * (4 * h + 4 + (residual * h if full else 0))
    if autocast:  # fp32 activations: autocast casts the input separately for each of q, k, v and gate, up
        inputs = operand * (3 * h + 2 * h)
    elif _lora_casts(inp):  # each lora_A keeps its own bf16 copy: q, k, v, o_proj, gate, up (down_proj's: in `mlp`)
        inputs = operand * (3 * h + q + 2 * h)
    else:  # one tensor serves q/k/v, one gate/up; o_proj's input is SDPA's output, down_proj's the SwiGLU product
        inputs = operand * 2 * h
    # SDPA keeps q, k, v and its output (already laid out as o_proj's input), and an fp32 logsumexp per head
    attention = operand * (2 * q + 2 * kv) + 4 * s.heads
    mlp = operand * 4 * i  # gate (silu's input), silu(gate), up, and the product (or under LoRA casts, its copy)
    lora = operand * 7 * inp.lora_rank if not full else 0  # each adapter's A output, kept by its B
    return norms + inputs + attention + mlp + lora


def _micro_batch_layout(inp: PlanInput) -> tuple[bool, int, int, int]:
    """(shared?, rows, slots per row, tokens per row) of one micro-batch as the trainer packs it
    (`train.shared_prompt.pack_micro_batch`): shared rows only when some samples share a prompt."""
    p, c, m = inp.prompt_tokens, inp.completion_tokens, inp.micro_batch_size
    slots = min(m, inp.group_size)
    if inp.shared_prompt and slots > 1:
        return True, -(-m // inp.group_size), slots, p + slots * c
    return False, m, 1, p + c


def train_tokens_per_micro_batch(inp: PlanInput) -> int:
    """Tokens in one forward/backward: every sequence carries its prompt, unless the group's prompt is shared."""
    _, rows, _, width = _micro_batch_layout(inp)
    return rows * width


def attention_extra_bytes_per_row_layer(inp: PlanInput) -> int:
    """What a layer's attention keeps beyond the per-token count, per row of the micro-batch.

    Naive rows are left-padded to the longest (completions differ in length), so transformers passes a mask, and SDPA
    converts the boolean [L, L] mask to the query's dtype in every layer and keeps it. The shared-prompt attention
    (`train.shared_prompt`) runs two SDPA calls with their own masks ([W, W] for the prompt, [G*C, W+C] for the slots),
    keeps the prompt's K/V expanded to the G slots (and the slots' queries, copied when rows > 1), and a separate output tensor
    (the concatenation) as o_proj's input."""
    shared, rows, g, width = _micro_batch_layout(inp)
    _, operand, _ = _dtypes(inp)
    if not shared:
        return operand * width * width
    s, w, c = inp.shape, inp.prompt_tokens, inp.completion_tokens
    q = s.heads * s.head_dim
    masks = w * w + g * c * (w + c)
    # the slots' queries are a view of q in a one-row micro-batch, a copy when rows are merged with slots
    slot_copies = (g * c * q if rows > 1 else 0) + 2 * g * (w + c) * s.kv_dim
    output = 0 if _lora_casts(inp) else width * q  # o_proj's input (under LoRA casts, its copy is in the per-token count)
    return operand * (masks + slot_copies + output)


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
            # train/fsdp.py:rollout_copy: generating through the sharded module would be a collective per token, so
            # each process keeps a plain copy of the full weights in the compute dtype for the whole run (any engine).
            parts.append(("FSDP2 rollout copy (full weights, compute dtype)", operand * s.params))
    else:
        base = (4 if inp.dtype == "float32" else 2) * s.params // (w if sharded else 1)
        n = s.lora_params(inp.lora_rank)
        parts += [("frozen base weights", base), ("LoRA adapter + AdamW moments (fp32)", 12 * n)]
        if sharded:
            parts.append(("FSDP2 gathered layers", 2 * operand * s.layer_params + operand * s.embedding_params))
    if inp.sharding == "ddp" and inp.gpus > 1 and inp.finetune == "full":
        parts.append(("DDP gradient buckets (fp32, allocated when DDP wraps the model)", 4 * s.params))
    if inp.kl_reference:
        parts.append(("KL reference model (frozen)", (4 if inp.dtype == "float32" else 2) * s.params))
    if inp.engine == "vllm":
        parts.append(("vLLM reserved share (weights + KV cache)", int(inp.vllm_share * inp.gpu.memory_bytes)))
    return tuple(parts)


def activation_bytes(inp: PlanInput) -> tuple[int, int]:
    """(kept through the forward, one layer recomputed in backward under checkpointing) in bytes."""
    s = inp.shape
    residual, _, _ = _dtypes(inp)
    shared, rows, _, width = _micro_batch_layout(inp)
    tokens = rows * width
    layer = tokens * activation_bytes_per_token_layer(inp, kv_repeated=not shared) + rows * attention_extra_bytes_per_row_layer(inp)
    final_norm = tokens * (4 * s.hidden + 4 + (residual * s.hidden if inp.finetune == "full" else 0))
    if inp.gradient_checkpointing:  # each layer keeps only its input (the residual stream); backward recomputes one
        return tokens * s.layers * residual * s.hidden + final_norm, layer
    return s.layers * layer + final_norm, 0


def _logit_rows(inp: PlanInput) -> int:
    """Rows of logits the trainer computes (`logits_to_keep`): a naive row's completion columns plus the prompt's last,
    a shared row's G slots plus the prompt's last."""
    shared, rows, g, _ = _micro_batch_layout(inp)
    return rows * ((g if shared else 1) * inp.completion_tokens + 1)


def _autocast_copies(inp: PlanInput) -> int:
    """Autocast caches a bf16 copy of every weight a matmul reads (linear weights and biases, the LM head; not the
    norms or the embedding lookup) for the length of the forward; the linears keep them for backward."""
    s = inp.shape
    if _dtypes(inp)[2]:
        return 2 * (s.layers * (s.layer_params - 2 * s.hidden) + s.vocab * s.hidden)
    if _lora_casts(inp):
        return 2 * s.lora_params(inp.lora_rank)
    return 0


def _train_moments(inp: PlanInput) -> dict[str, tuple[tuple[str, int], ...]]:
    """What is live, beyond the model states, at each candidate peak of a micro-step. Backward frees each layer's
    activations as it creates that layer's gradients, so the two never both reach full size: the peak is at the end
    of the forward, the start of the backward (the logits' backward), the LM head's backward, the last layer's
    backward (recomputed under checkpointing), the end of the backward, or the optimizer step."""
    s, v = inp.shape, inp.shape.vocab
    _, operand, _ = _dtypes(inp)
    full, fsdp = inp.finetune == "full", inp.sharding == "fsdp2"
    kept, recomputed = activation_bytes(inp)
    rows = _logit_rows(inp)
    copies = _autocast_copies(inp)
    # forward: the LM head's output (operand dtype), its fp32 copy (`.float()`, bf16 only) and that divided by T
    logits_fwd = rows * v * (operand + (4 if operand == 2 else 0) + 4)
    # backward: the kept fp32 logits/T (logsumexp's input), gather's gradient (zeros but the picked entries), and in
    # logsumexp's backward exp(x - lse) and its product with the incoming gradient: four fp32 [rows, vocab] at once
    logits_bwd = rows * v * (4 + 4 + 4 + 4)
    head_grad = (operand if fsdp else 4) * v * s.hidden if full else 0  # the LM head's weight grad comes first
    end_of_forward = (("activations kept for backward", kept), ("autocast's bf16 weight copies", copies),
                      ("logits (completion columns) + fp32 copies", logits_fwd))
    held = (("activations kept for backward", kept),  # through the backward (their own layer's part freed later)
            ("autocast's bf16 weight copies", 0 if inp.gradient_checkpointing else copies))  # kept by the linears
    # the LM head's backward: the logits' fp32 gradient (and its bf16 cast) in, the head's weight gradient out; that
    # gradient (full fine-tuning) then stays for the rest of the backward
    logits_grad = rows * v * (4 + (operand if operand == 2 else 0))
    # a layer's backward: the incoming residual gradient, and in the MLP's backward up to three [tokens, I] gradients
    # at once (of the product, then of silu(gate) and up, then of gate)
    residual, _, _ = _dtypes(inp)
    transient = train_tokens_per_micro_batch(inp) * (residual * s.hidden + 3 * operand * s.intermediate)
    moments = {"end of forward": end_of_forward,
               "start of backward": (*held, ("logits/T + logsumexp's backward (fp32)", logits_bwd)),
               "LM head's backward": (*held, ("logits' gradient", logits_grad), ("LM head weight gradient", head_grad)),
               "last layer's backward": (*held, ("LM head weight gradient", head_grad),
                                         ("the layer recomputed (checkpointing)", recomputed),
                                         ("the layer's gradients in flight", transient))}
    if full:
        trainable = s.params // (inp.gpus if fsdp else 1)
        grads = ("gradients (fp32)", 4 * trainable)
        if fsdp:
            last = ("unsharded grads of the layer being reduce-scattered", 2 * operand * s.layer_params)
        else:  # the embedding's dense gradient before it is added into .grad (tied: into the LM head's)
            last = ("embedding gradient before accumulation", 4 * v * s.hidden if s.tied_embeddings else 0)
        largest = v * s.hidden if not fsdp else s.layer_params
    else:
        trainable = s.lora_params(inp.lora_rank)
        grads, last = ("LoRA gradients (fp32)", 4 * trainable), ("", 0)
        largest = max(s.hidden, s.intermediate) * inp.lora_rank
    moments["end of backward"] = (grads, last)
    # AdamW's step, after backward: foreach (torch's default on GPU) takes sqrt(exp_avg_sq) of every tensor at once;
    # the per-tensor loop (CPU) one tensor at a time, with the sqrt and its quotient by the bias correction both alive
    step = 4 * trainable if inp.optimizer_foreach else 2 * 4 * largest
    moments["AdamW step"] = (grads, ("AdamW step temporaries", step))
    return moments


def train_phase_bytes(inp: PlanInput) -> tuple[str, tuple[tuple[str, int], ...]]:
    """(the moment of the train-phase peak, what is live then beyond the model states)."""
    moments = _train_moments(inp)
    moment = max(moments, key=lambda m: sum(b for _, b in moments[m]))
    return moment, tuple(part for part in moments[moment] if part[1])


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
    return tuple(parts), 0  # FSDP2 generates with its rollout copy, counted in the model states


def estimate_memory(inp: PlanInput) -> MemoryEstimate:
    generate, kv_tokens = generate_phase_bytes(inp)
    moment, train = train_phase_bytes(inp)
    return MemoryEstimate(model_state_bytes(inp), train, generate, kv_tokens, moment)
