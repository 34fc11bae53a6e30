"""The per-token policy loss: clipped surrogate, truncated importance sampling, dual-clip, mismatch statistics."""

from __future__ import annotations

import pytest
import torch

from srl_agent.train.policy_loss import LossSettings, mismatch_stats, policy_loss

MASK = torch.tensor([[1.0, 1.0, 1.0, 0.0]])


def _lp(*values):
    return torch.log(torch.tensor([list(values)]))


def test_on_policy_loss_is_minus_advantage_and_its_gradient_the_policy_gradient():
    logprobs = _lp(0.5, 0.25, 0.1, 0.9).requires_grad_()
    out = policy_loss(logprobs, logprobs.detach(), logprobs.detach(), torch.tensor([[2.0]]), MASK, LossSettings())
    (out.loss_B_L * MASK).sum().backward()
    assert torch.allclose(out.loss_B_L * MASK, -2.0 * MASK)
    assert torch.allclose(logprobs.grad, -2.0 * MASK)  # d(-A r)/d logp = -A at r = 1
    assert out.tis_B_L is None and not out.clipped_B_L.any()


def test_tis_weights_are_capped_ratios_of_trainer_to_sampler_and_carry_no_gradient():
    old = _lp(0.5, 0.5, 0.5, 0.5)
    sampler = _lp(0.25, 0.5, 0.05, 0.5)  # the sampler gave the first and third tokens less mass than the trainer
    logprobs = old.clone().requires_grad_()
    out = policy_loss(logprobs, old, sampler, torch.tensor([[1.0]]), MASK, LossSettings(tis_cap=2.0))
    assert torch.allclose(out.tis_B_L, torch.tensor([[2.0, 1.0, 2.0, 1.0]]))  # 0.5/0.25 = 2, 0.5/0.05 = 10 -> capped 2
    (out.loss_B_L * MASK).sum().backward()
    assert torch.allclose(logprobs.grad, -out.tis_B_L * MASK)  # weight times the plain policy gradient
    stats = mismatch_stats(old, sampler, MASK, out.tis_B_L)
    assert stats["mismatch_max"] == pytest.approx(torch.log(torch.tensor(10.0)).item(), rel=1e-6)
    assert stats["tis_sum"] == pytest.approx(5.0) and stats["tis_max"] == 2.0 and stats["tis_min"] == 1.0


def test_dual_clip_bounds_negative_advantage_tokens():
    old = _lp(0.1, 0.1, 0.1, 0.1)
    logprobs = _lp(0.9, 0.1, 0.1, 0.1).requires_grad_()  # token 0: ratio 9 with A < 0
    advantages = torch.tensor([[-1.0]])
    plain = policy_loss(logprobs, old, old, advantages, MASK, LossSettings())
    dual = policy_loss(logprobs, old, old, advantages, MASK, LossSettings(dual_clip=3.0))
    assert plain.loss_B_L[0, 0].item() == pytest.approx(9.0, rel=1e-5)  # unbounded: -min(9·-1, 1.2·-1)
    assert dual.loss_B_L[0, 0].item() == pytest.approx(3.0)  # bounded by c·|A|
    assert dual.clipped_B_L[0, 0] and not plain.clipped_B_L[0, 0]
    (dual.loss_B_L * MASK).sum().backward()
    assert logprobs.grad[0, 0] == 0  # the bounded token passes no gradient
    with pytest.raises(ValueError, match="dual_clip"):
        policy_loss(logprobs, old, old, advantages, MASK, LossSettings(dual_clip=1.0))
