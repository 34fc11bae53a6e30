"""Samples -> padded tensors, and per-token log-probabilities of the sampled completions under a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from srl_agent.rollout import Sample


@dataclass(frozen=True)
class TokenBatch:
    """B sequences (prompt + completion), left-padded to length L; the loss only sees completion tokens.

    Left padding makes every sequence end at column L-1, so all completion tokens sit in the last `completion_width`
    columns and the model computes logits only there (`logits_to_keep`): the prompts, ~90% of the tokens in SRL,
    need no LM head and no log-softmax over the vocabulary.

    Position t of `completion_mask_B_L` / `old_logprobs_B_L` refers to the token at position t (predicted by the
    logits at t-1)."""

    input_ids_B_L: Any
    attention_mask_B_L: Any
    position_ids_B_L: Any  # 0 at each sequence's first real token (left padding shifts them otherwise)
    completion_mask_B_L: Any
    old_logprobs_B_L: Any  # the sampler's logprobs of each completion token (0 elsewhere)
    completion_width: int  # the longest completion: the last `completion_width` columns hold every completion token


def pack(samples: Sequence[Sample], pad_id: int, device: Any = "cpu") -> TokenBatch:
    import torch

    width = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    ids, attn, pos, cmask, old = [], [], [], [], []
    for s in samples:
        seq = list(s.prompt_ids) + list(s.completion_ids)
        pad = width - len(seq)
        ids.append([pad_id] * pad + seq)
        attn.append([0] * pad + [1] * len(seq))
        pos.append([0] * pad + list(range(len(seq))))
        cmask.append([0] * (pad + len(s.prompt_ids)) + [1] * len(s.completion_ids))
        old.append([0.0] * (pad + len(s.prompt_ids)) + list(s.logprobs))
    return TokenBatch(
        input_ids_B_L=torch.tensor(ids, device=device),
        attention_mask_B_L=torch.tensor(attn, device=device),
        position_ids_B_L=torch.tensor(pos, device=device),
        completion_mask_B_L=torch.tensor(cmask, device=device, dtype=torch.float32),
        old_logprobs_B_L=torch.tensor(old, device=device, dtype=torch.float32),
        completion_width=max(len(s.completion_ids) for s in samples),
    )


def token_logprobs(model: Any, batch: TokenBatch, temperature: float = 1.0) -> Any:
    """log p(token_t | tokens_<t) for the completion columns (the last `completion_width`), 0 elsewhere, as [B, L] float32.

    Divides the logits by the sampling temperature so that these are the probabilities the sampler used.
    """
    import torch

    width = batch.input_ids_B_L.shape[1]
    keep = min(batch.completion_width + 1, width)  # logits at t-1 predict the token at t: one column more
    logits_B_K_V = model(input_ids=batch.input_ids_B_L, attention_mask=batch.attention_mask_B_L,
                         position_ids=batch.position_ids_B_L, use_cache=False, logits_to_keep=keep).logits
    logits_B_K_V = logits_B_K_V[:, :-1].float() / temperature
    targets_B_K = batch.input_ids_B_L[:, width - keep + 1 :]
    # log_softmax(x)[y] = x[y] - logsumexp(x): avoids materialising a second [B, K, V] tensor.
    picked_B_K = logits_B_K_V.gather(-1, targets_B_K.unsqueeze(-1)).squeeze(-1)
    logprobs_B_K = picked_B_K - torch.logsumexp(logits_B_K_V, dim=-1)
    return torch.nn.functional.pad(logprobs_B_K, (width - keep + 1, 0))
