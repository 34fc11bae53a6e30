"""Samples -> padded tensors, and per-token log-probabilities of the sampled completions under a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from srl_agent.rollout import Sample


@dataclass(frozen=True)
class TokenBatch:
    """B sequences (prompt + completion), right-padded to length L; the loss only sees completion tokens.

    Position t of `completion_mask_B_L` / `old_logprobs_B_L` refers to the token at position t (predicted by the
    logits at t-1)."""

    input_ids_B_L: Any
    attention_mask_B_L: Any
    completion_mask_B_L: Any
    old_logprobs_B_L: Any  # the sampler's logprobs of each completion token (0 elsewhere)


def pack(samples: Sequence[Sample], pad_id: int, device: Any = "cpu") -> TokenBatch:
    import torch

    width = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    ids, attn, cmask, old = [], [], [], []
    for s in samples:
        seq = list(s.prompt_ids) + list(s.completion_ids)
        pad = width - len(seq)
        ids.append(seq + [pad_id] * pad)
        attn.append([1] * len(seq) + [0] * pad)
        cmask.append([0] * len(s.prompt_ids) + [1] * len(s.completion_ids) + [0] * pad)
        old.append([0.0] * len(s.prompt_ids) + list(s.logprobs) + [0.0] * pad)
    return TokenBatch(
        input_ids_B_L=torch.tensor(ids, device=device),
        attention_mask_B_L=torch.tensor(attn, device=device),
        completion_mask_B_L=torch.tensor(cmask, device=device, dtype=torch.float32),
        old_logprobs_B_L=torch.tensor(old, device=device, dtype=torch.float32),
    )


def token_logprobs(model: Any, batch: TokenBatch, temperature: float = 1.0) -> Any:
    """log p(token_t | tokens_<t) for every position t >= 1 (position 0 gets 0), as a [B, L] float32 tensor.

    Divides the logits by the sampling temperature so that these are the probabilities the sampler used.
    """
    import torch

    logits_B_L_V = model(input_ids=batch.input_ids_B_L, attention_mask=batch.attention_mask_B_L, use_cache=False).logits
    logits_B_L_V = logits_B_L_V[:, :-1].float() / temperature
    targets_B_L = batch.input_ids_B_L[:, 1:]
    # log_softmax(x)[y] = x[y] - logsumexp(x): avoids materialising a second [B, L, V] tensor.
    picked_B_L = logits_B_L_V.gather(-1, targets_B_L.unsqueeze(-1)).squeeze(-1)
    logprobs_B_L = picked_B_L - torch.logsumexp(logits_B_L_V, dim=-1)
    return torch.nn.functional.pad(logprobs_B_L, (1, 0))
