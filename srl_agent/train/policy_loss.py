"""The per-token policy loss: per-token log-probabilities in, per-token loss out (the seam every GRPO variant shares).

    out = policy_loss(logprobs_B_L, old_logprobs_B_L, sampler_logprobs_B_L, advantages_B_1, mask_B_L, settings)
    loss = (out.loss_B_L * mask_B_L * weights_B_1).sum()

Three log-probabilities of the same sampled tokens meet here:
  logprobs         log pi_theta, the trainer's current policy (carries the gradient);
  old_logprobs     log pi_old, the policy that the PPO ratio is taken against: the trainer's own logprobs before this
                   step's updates when they are recomputed (`recompute_old_logprobs`), else the sampler's;
  sampler_logprobs log pi_sampler, what the rollout engine reported. vLLM in bf16 on a GPU does not compute exactly
                   the trainer's numbers (other kernels, other precision): the samples are slightly off-policy.

Truncated importance sampling (TIS, Yao et al. 2025, "Your efficient RL framework secretly brings you off-policy RL
training") corrects that: each token's loss is weighted by w = min(pi_old / pi_sampler, C), detached. The cap C keeps
the variance bounded where the sampler gave a token far less mass than the trainer would.

Dual-clip (Ye et al. 2020): with A < 0 the clipped surrogate min(r A, clip(r) A) is unbounded as r grows; it is
bounded below by c·A (c > 1), so one token the policy now strongly prefers cannot dominate the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class LossSettings:
    clip_low: float = 0.2  # ratio >= 1 - clip_low for A < 0
    clip_high: float = 0.2  # ratio <= 1 + clip_high for A > 0 (DAPO's clip-higher: > clip_low)
    tis_cap: float | None = None  # truncated importance sampling weight cap C; None: no correction
    dual_clip: float | None = None  # c > 1: A < 0 tokens lose at most c·|A|; None: off


@dataclass(frozen=True, slots=True)
class TokenLoss:
    loss_B_L: Any  # per-token loss (not masked, not weighted)
    clipped_B_L: Any  # bool: the clip (or dual clip) cut this token's gradient
    tis_B_L: Any | None  # the TIS weight of each token (None without TIS)


def policy_loss(logprobs_B_L: Any, old_logprobs_B_L: Any, sampler_logprobs_B_L: Any, advantages_B_1: Any, mask_B_L: Any,
                settings: LossSettings) -> TokenLoss:
    import torch

    lo, hi = 1.0 - settings.clip_low, 1.0 + settings.clip_high
    # ratio = pi_theta / pi_old on the sampled tokens (masked positions: log-ratio 0, ratio 1).
    ratio_B_L = torch.exp((logprobs_B_L - old_logprobs_B_L) * mask_B_L)
    unclipped_B_L = ratio_B_L * advantages_B_1
    clipped_value_B_L = ratio_B_L.clamp(lo, hi) * advantages_B_1
    surrogate_B_L = torch.minimum(unclipped_B_L, clipped_value_B_L)
    clipped_B_L = ((ratio_B_L < lo) & (advantages_B_1 < 0)) | ((ratio_B_L > hi) & (advantages_B_1 > 0))
    if settings.dual_clip is not None:
        if settings.dual_clip <= 1.0:
            raise ValueError(f"dual_clip must be > 1, got {settings.dual_clip}")
        floor_B_L = settings.dual_clip * advantages_B_1  # only binds where A < 0
        dual_B_L = (advantages_B_1 < 0) & (surrogate_B_L < floor_B_L)
        surrogate_B_L = torch.where(dual_B_L, floor_B_L.expand_as(surrogate_B_L), surrogate_B_L)
        clipped_B_L = clipped_B_L | dual_B_L
    loss_B_L = -surrogate_B_L
    tis_B_L = None
    if settings.tis_cap is not None:
        # w = min(pi_old / pi_sampler, C): a constant per token (no gradient flows through the correction).
        tis_B_L = torch.exp((old_logprobs_B_L - sampler_logprobs_B_L).detach() * mask_B_L).clamp(max=settings.tis_cap)
        loss_B_L = loss_B_L * tis_B_L
    return TokenLoss(loss_B_L, clipped_B_L, tis_B_L)


def mismatch_stats(old_logprobs_B_L: Any, sampler_logprobs_B_L: Any, mask_B_L: Any, tis_B_L: Any | None) -> dict[str, float]:
    """Sums and maxima for the step's metrics: |log pi_old - log pi_sampler| and the TIS weights over real tokens."""
    import torch

    with torch.no_grad():
        mask = mask_B_L.bool()
        diff = (old_logprobs_B_L.detach() - sampler_logprobs_B_L).abs()[mask]
        out = {"mismatch_sum": float(diff.sum()), "mismatch_max": float(diff.max()) if diff.numel() else 0.0}
        if tis_B_L is not None:
            w = tis_B_L[mask]
            out |= {"tis_sum": float(w.sum()), "tis_min": float(w.min()) if w.numel() else 1.0,
                    "tis_max": float(w.max()) if w.numel() else 1.0}
    return out
