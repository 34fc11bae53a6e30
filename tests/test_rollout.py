"""Rollouts through transformers generate: token ids in, token ids + logprobs out."""

from __future__ import annotations

import torch

from srl_agent.answer import encode_prompt
from srl_agent.models.load import ModelSpec, load_policy
from srl_agent.rollout import SamplingParams, make_engine
from srl_agent.train.tensors import pack, token_logprobs

torch.set_num_threads(1)

MESSAGES = [
    [{"role": "system", "content": "Answer with one action."}, {"role": "user", "content": "list the files"}],
    [{"role": "user", "content": "run the failing test in tests/test_core.py and show me the error"}],
]


def _setup(temperature: float = 1.0):
    model, tok = load_policy(ModelSpec(name="tiny", seed=1))
    prompts = [encode_prompt(tok, m) for m in MESSAGES]
    return model, tok, prompts, make_engine("hf", model, tok, generation_batch_size=3)


def test_hf_engine_logprobs_match_a_training_forward_pass():
    model, tok, prompts, engine = _setup()
    for temperature in (1.0, 0.7):
        out = engine.generate(prompts, 4, SamplingParams(temperature, 24), seed=5)
        flat = [s for group in out for s in group]
        assert len(out) == 2 and all(len(g) == 4 for g in out)
        assert all(s.prompt_ids == tuple(p) for g, p in zip(out, prompts, strict=True) for s in g)
        batch = pack(flat, tok.pad_token_id)
        with torch.no_grad():
            logprobs = token_logprobs(model, batch, temperature)
        diff = ((logprobs - batch.old_logprobs_B_L) * batch.completion_mask_B_L).abs().max().item()
        assert diff < 1e-4, diff


def test_hf_engine_is_seeded_and_stops_at_eos():
    model, tok, prompts, engine = _setup()
    a = engine.generate(prompts, 3, SamplingParams(1.0, 16), seed=11)
    b = engine.generate(prompts, 3, SamplingParams(1.0, 16), seed=11)
    assert a == b
    for s in (s for g in a for s in g):
        assert len(s.completion_ids) == len(s.logprobs) <= 16
        assert all(lp <= 0 for lp in s.logprobs)
        assert s.text == tok.decode(s.completion_ids, skip_special_tokens=True)
        if s.finished:
            assert s.completion_ids[-1] == tok.eos_token_id and tok.eos_token_id not in s.completion_ids[:-1]
    assert model.training  # generate switched to eval and back


def test_loss_sees_exactly_the_sampled_tokens():
    """Token in, token out: packing keeps the sampled ids even where decode -> encode would tokenise differently."""
    _, tok, prompts, engine = _setup()
    flat = [s for g in engine.generate(prompts, 4, SamplingParams(1.0, 24), seed=2) for s in g]
    batch = pack(flat, tok.pad_token_id)
    for row, s in enumerate(flat):
        mask = batch.completion_mask_B_L[row].bool()
        assert batch.input_ids_B_L[row][mask].tolist() == list(s.completion_ids)
    # Random-init output is exactly where re-encoding drifts; the test above guards against ever doing it.
    assert any(tuple(tok(s.text, add_special_tokens=False)["input_ids"]) != s.completion_ids[: len(s.completion_ids) - s.finished] for s in flat)


def test_shared_prefill_samples_the_same_tokens_and_logprobs():
    """One prefill per prompt, its cache repeated G times: the same tokens for the same seed as G prefills, and the
    same logprobs. Prompts of different lengths (left padding inside a call), two groups per call, two calls."""
    from srl_agent.rollout.hf import HFEngine

    model, tok = load_policy(ModelSpec(name="tiny", seed=1))
    prompts = [encode_prompt(tok, m) for m in MESSAGES] + [encode_prompt(tok, [{"role": "user", "content": "ls"}])]
    params = SamplingParams(0.9, 20)
    shared = HFEngine(model, tok, batch_size=8).generate(prompts, 4, params, seed=7)
    naive = HFEngine(model, tok, batch_size=8, share_prefill=False).generate(prompts, 4, params, seed=7)
    assert len({len(p) for p in prompts}) >= 2  # left padding inside a call
    for a, b in zip((s for g in shared for s in g), (s for g in naive for s in g), strict=True):
        assert a.prompt_ids == b.prompt_ids and a.completion_ids == b.completion_ids and a.finished == b.finished
        assert max(abs(x - y) for x, y in zip(a.logprobs, b.logprobs, strict=True)) < 1e-5
    assert len({s.completion_ids for g in shared for s in g}) > 4  # the G samples of a prompt differ
