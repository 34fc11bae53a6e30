"""Shared-prompt forward: a group's prompt runs through the model once, its G completions attend to it.

In an SRL step the G completions of a group share one prompt that is most of the tokens. The naive path
(`tensors.pack`) trains G copies of it; here each group is one row of the batch,

    row b:  [pad .. pad | prompt (P_b) | slot 1 (C) | slot 2 (C) | ... | slot G (C)]
             '--------- width W ---------'  each slot: one completion, right-padded to C

with position ids 0..P_b-1 on the prompt and P_b.. restarting in every slot, so each completion sees the positions
it had when it was sampled. Attention is split in two exact parts (the structure of PrefixGrouper, arXiv 2506.05433):

    prompt queries -> prompt keys, causal (computed once per group)
    slot-g queries -> [prompt keys ; slot-g keys], causal inside the slot

Both are ordinary softmax attentions over exactly the keys the naive path lets a token see, so the outputs, the loss
and every gradient are the naive path's up to float rounding; the gradient of the prompt's keys and values sums the
G completions' contributions, which is what the G copies of the naive path add up to.

Why this and not the alternatives:
  - The prompt's KV cache computed once with gradients and expanded to G needs a second forward for the completions;
    Hugging Face disables caches under gradient checkpointing (`past_key_values=None` in GradientCheckpointingLayer),
    and FSDP2 would gather every layer twice per micro-batch.
  - One packed row with a dense tree-shaped 4D mask is a single forward but spends (P + G*C)^2 attention work and
    memory per group: more than the naive path when attention dominates (small models, long rows).
This file registers an attention function with transformers' AttentionInterface. It runs the shared layout when
it is handed a `SharedLayout` (a keyword argument of the forward), and plain `sdpa` otherwise, so the model generates and trains naively as
before, and gradient checkpointing's recomputation (which re-reads the implementation) stays correct. Models whose
layers are not plain full causal attention cannot take it (sliding-window layers, attention sinks, soft-capping,
ALiBi, linear-attention hybrids), nor kernels that cannot take a mask here (flash_attention_2/3 need a varlen
re-layout; flex_attention a BlockMask): `shared_prompt=false` in the config trains them with the naive path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from srl_agent.rollout import Sample

ATTENTION = "srl_shared_prompt"
SUPPORTED_BASES = ("sdpa", "eager", ATTENTION)


@dataclass(frozen=True)
class SharedLayout:
    """Where the prompt and the slots sit in every row; travels to the attention function as a keyword argument."""

    prompt_width: int  # W: every prompt ends at column W-1 (left padding)
    slots: int  # G: completion slots per row (a smaller group leaves slots empty)
    slot_width: int  # C: the longest completion in the batch
    prompt_lens_B: Any  # real prompt tokens per row (int64 tensor)


@dataclass(frozen=True)
class SharedBatch:
    """N samples as B rows of G slots (S = B*G); the outputs are per sample, N rows of C columns in sample order
    (column j = completion token j), so the loss code is the same as for `tensors.pack`."""

    input_ids_B_L: Any
    position_ids_B_L: Any
    layout: SharedLayout
    completion_ids_S_C: Any
    slot_of_N: Any  # the slot holding each sample
    completion_mask_N_C: Any
    old_logprobs_N_C: Any  # the sampler's logprobs (0 on padding)

    def unique_tokens(self) -> int:
        """Tokens the model processes for real: each row's prompt once plus every completion."""
        return int(self.layout.prompt_lens_B.sum()) + int(self.completion_mask_N_C.sum())


def prompt_runs(samples: Sequence[Sample]) -> list[list[int]]:
    """Indices of consecutive samples with the same prompt ids: the groups that share one prompt forward."""
    runs: list[list[int]] = []
    for i, s in enumerate(samples):
        if runs and samples[runs[-1][0]].prompt_ids == s.prompt_ids:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def pack_shared(samples: Sequence[Sample], pad_id: int, device: Any = "cpu") -> SharedBatch:
    """One row per run of consecutive samples that share a prompt (an SRL group); any samples are accepted, a
    sample whose prompt is its own is a row with one slot."""
    import torch

    runs = prompt_runs(samples)
    width = max(len(samples[r[0]].prompt_ids) for r in runs)
    slots = max(len(r) for r in runs)
    slot_width = max(1, max(len(s.completion_ids) for s in samples))
    ids, pos, lens, comp, slot_of = [], [], [], [], [0] * len(samples)
    for b, run in enumerate(runs):
        prompt = list(samples[run[0]].prompt_ids)
        pad = width - len(prompt)
        row_ids, row_pos = [pad_id] * pad + prompt, [0] * pad + list(range(len(prompt)))
        for g in range(slots):
            c = list(samples[run[g]].completion_ids) if g < len(run) else []
            row_ids += c + [pad_id] * (slot_width - len(c))
            row_pos += list(range(len(prompt), len(prompt) + slot_width))  # padding continues: never a key for real tokens
            comp.append(c + [pad_id] * (slot_width - len(c)))
            if g < len(run):
                slot_of[run[g]] = b * slots + g
        ids.append(row_ids)
        pos.append(row_pos)
        lens.append(len(prompt))
    lengths = [len(s.completion_ids) for s in samples]
    return SharedBatch(
        input_ids_B_L=torch.tensor(ids, device=device),
        position_ids_B_L=torch.tensor(pos, device=device),
        layout=SharedLayout(width, slots, slot_width, torch.tensor(lens, device=device)),
        completion_ids_S_C=torch.tensor(comp, device=device),
        slot_of_N=torch.tensor(slot_of, device=device),
        completion_mask_N_C=torch.tensor([[1] * n + [0] * (slot_width - n) for n in lengths], device=device, dtype=torch.float32),
        old_logprobs_N_C=torch.tensor([list(s.logprobs) + [0.0] * (slot_width - len(s.logprobs)) for s in samples],
                                      device=device, dtype=torch.float32),
    )


def shared_token_logprobs(model: Any, batch: SharedBatch, temperature: float = 1.0) -> Any:
    """log p(completion token j | prompt, completion[:j]) as [N, C] float32 (0 on padding), one forward per batch.

    `model` may be wrapped (DDP, PEFT, FSDP2); its attention must be plain full causal attention (see the module doc)."""
    import torch

    use_shared_attention(model)
    layout = batch.layout
    B = batch.input_ids_B_L.shape[0]
    G, C = layout.slots, layout.slot_width
    # The logits at the prompt's last column predict every slot's first token; the slots' own columns predict the rest.
    keep = G * C + 1
    # The layout reaches the attention function as a keyword argument (transformers forwards extra keyword arguments
    # to it). The all-ones 2D mask lets transformers skip building a mask: padding is the layout's business.
    logits_B_K_V = model(input_ids=batch.input_ids_B_L, attention_mask=torch.ones_like(batch.input_ids_B_L),
                         position_ids=batch.position_ids_B_L, use_cache=False, logits_to_keep=keep,
                         shared_layout=layout).logits
    logits_B_K_V = logits_B_K_V.float() / temperature
    # Row k of the kept logits predicting token j of slot g: 0 for j = 0, else 1 + g*C + j - 1.
    j_C = torch.arange(C, device=logits_B_K_V.device)
    source_G_C = torch.where(j_C == 0, 0, torch.arange(G, device=j_C.device)[:, None] * C + j_C)
    targets_B_GC = batch.completion_ids_S_C.view(B, G * C)
    rows_B_1 = torch.arange(B, device=j_C.device)[:, None]
    picked_B_GC = logits_B_K_V[rows_B_1, source_G_C.view(1, -1), targets_B_GC]
    # log_softmax(x)[y] = x[y] - logsumexp(x), with the logsumexp once per kept column (the prompt's last is shared).
    lse_B_K = torch.logsumexp(logits_B_K_V, dim=-1)
    logprobs_S_C = (picked_B_GC - lse_B_K[:, source_G_C.view(-1)]).view(B * G, C)
    return logprobs_S_C[batch.slot_of_N] * batch.completion_mask_N_C


def pack_micro_batch(samples: Sequence[Sample], pad_id: int, device: Any, shared: bool) -> Any:
    """The trainer's packer: shared-prompt rows when some samples share a prompt, else the naive `tensors.pack`
    (every sample with its own prompt: there nothing is shared, and the naive rows are no longer)."""
    from srl_agent.train.tensors import pack

    if shared and any(len(run) > 1 for run in prompt_runs(samples)):
        return pack_shared(samples, pad_id, device)
    return pack(samples, pad_id, device)


def token_logprobs(model: Any, batch: Any, temperature: float = 1.0) -> Any:
    """Per-token logprobs of either packing, in its own layout ([N, C] shared, [B, L] naive)."""
    from srl_agent.train import tensors

    if isinstance(batch, SharedBatch):
        return shared_token_logprobs(model, batch, temperature)
    return tensors.token_logprobs(model, batch, temperature)


def completion_columns(batch: Any) -> tuple[Any, Any]:
    """(completion mask, sampler logprobs) of either packing, in the layout its `token_logprobs` returns."""
    if isinstance(batch, SharedBatch):
        return batch.completion_mask_N_C, batch.old_logprobs_N_C
    return batch.completion_mask_B_L, batch.old_logprobs_B_L


# ---------------------------------------------------------------------------------------------------------------
# The attention function


def shared_prompt_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
                            dropout: float = 0.0, shared_layout: SharedLayout | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers attention interface: q [B, Hq, L, d], k/v [B, Hkv, L, d] -> output [B, L, Hq, d]."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if shared_layout is None:  # generation, the naive path, reference forwards: plain sdpa
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    import torch
    import torch.nn.functional as F

    if kwargs.get("sliding_window") is not None or kwargs.get("s_aux") is not None or getattr(module, "attn_logit_softcapping", None):
        raise ValueError("shared-prompt attention supports plain full causal attention only; set shared_prompt=false")
    layout = shared_layout
    B, Hq, L, d = query.shape
    Hkv = key.shape[1]
    G, C, W = layout.slots, layout.slot_width, layout.prompt_width
    if L != W + G * C:
        raise ValueError(f"sequence length {L} does not match the shared layout {W} + {G}x{C}")
    device = query.device
    cols_W = torch.arange(W, device=device)
    key_real_B_W = cols_W[None, :] >= (W - layout.prompt_lens_B)[:, None]  # left padding is never a key
    # 1. Prompt queries: causal over the prompt (a padding query sees itself only, so no row is empty: no NaN).
    causal_W_W = cols_W[None, :] <= cols_W[:, None]
    prompt_mask_B_1_W_W = ((causal_W_W[None] & key_real_B_W[:, None, :]) | torch.eye(W, dtype=torch.bool, device=device))[:, None]
    k_prompt, v_prompt = key[:, :, :W], value[:, :, :W]
    p = dropout if module.training else 0.0
    gqa = {"enable_gqa": True} if Hq != Hkv else {}
    out_prompt = F.scaled_dot_product_attention(query[:, :, :W], k_prompt, v_prompt, attn_mask=prompt_mask_B_1_W_W,
                                                dropout_p=p, scale=scaling, **gqa)
    # 2. Slot queries: each slot's C queries see the whole (real) prompt and their own slot causally. The prompt's
    #    keys/values are expanded to the G slots; their gradient sums over the slots in the backward of the expand.
    def per_slot(t: Any, heads: int) -> Any:  # [B, H, G*C, d] -> [B*G, H, C, d]
        return t[:, :, W:].reshape(B, heads, G, C, d).transpose(1, 2).reshape(B * G, heads, C, d)

    def prompt_per_slot(t: Any) -> Any:  # [B, Hkv, W, d] -> [B*G, Hkv, W, d]
        return t.unsqueeze(1).expand(B, G, Hkv, W, d).reshape(B * G, Hkv, W, d)

    k_slot = torch.cat([prompt_per_slot(k_prompt), per_slot(key, Hkv)], dim=2)
    v_slot = torch.cat([prompt_per_slot(v_prompt), per_slot(value, Hkv)], dim=2)
    cols_C = torch.arange(C, device=device)
    causal_C_C = cols_C[None, :] <= cols_C[:, None]
    slot_mask_B_C_WC = torch.cat([key_real_B_W[:, None, :].expand(B, C, W), causal_C_C[None].expand(B, C, C)], dim=2)
    slot_mask_BG_1_C_WC = slot_mask_B_C_WC.unsqueeze(1).expand(B, G, C, W + C).reshape(B * G, 1, C, W + C)
    out_slot = F.scaled_dot_product_attention(per_slot(query, Hq), k_slot, v_slot, attn_mask=slot_mask_BG_1_C_WC,
                                              dropout_p=p, scale=scaling, **gqa)
    out_slot = out_slot.reshape(B, G, Hq, C, d).transpose(1, 2).reshape(B, Hq, G * C, d)
    return torch.cat([out_prompt, out_slot], dim=2).transpose(1, 2).contiguous(), None


def use_shared_attention(model: Any) -> None:
    """Switch the model's attention to `shared_prompt_attention` (idempotent; generation is unchanged by it)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    if ATTENTION not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION, shared_prompt_attention)
        AttentionMaskInterface.register(ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])  # the same masks as sdpa
    config = _base_model(model).config
    if config._attn_implementation == ATTENTION:
        return
    if config._attn_implementation not in SUPPORTED_BASES:
        raise ValueError(f"attention implementation {config._attn_implementation!r} cannot take a shared-prompt layout "
                         f"(supported: sdpa, eager); set shared_prompt=false in the config")
    layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
    if layer_types != {"full_attention"} or getattr(config, "use_sliding_window", False):
        raise ValueError(f"{config.model_type}: layers {sorted(layer_types)} are not all full causal attention; "
                         "set shared_prompt=false in the config")
    config._attn_implementation = ATTENTION


def _base_model(model: Any) -> Any:
    """The transformers model under DDP (`.module`) and PEFT (`get_base_model()`) wrappers."""
    while hasattr(model, "module"):
        model = model.module
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model
