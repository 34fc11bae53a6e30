"""A checkpoint's generation_config.json (Qwen2.5-Instruct: repetition_penalty, top_k, top_p) must not leak into sampling
(the loss assumes softmax(logits / T)) nor into greedy evaluation (the paper decodes greedily)."""

from __future__ import annotations

import pytest
import torch

from srl_agent.agent.policies import ModelPolicy
from srl_agent.answer import encode_prompt
from srl_agent.models.load import load_base_model, load_tokenizer
from srl_agent.models.real import real_generation_config
from srl_agent.models.tiny import tiny_model, tiny_tokenizer
from srl_agent.rollout import SamplingParams, make_engine
from srl_agent.train.tensors import pack, token_logprobs

torch.set_num_threads(1)

MESSAGES = [
    [{"role": "system", "content": "Answer with one action."}, {"role": "user", "content": "list the files in src/"}],
    [{"role": "user", "content": "run tests/test_core.py and show the error in src/core.py"}],
]


@pytest.fixture(scope="module")
def qwen_like_checkpoint(tmp_path_factory):
    """The tiny model saved with Qwen2.5-1.5B-Instruct's real generation_config.json, loaded back from disk."""
    path = tmp_path_factory.mktemp("qwen-gen-defaults")
    tok = tiny_tokenizer()
    model = tiny_model(tok, seed=4)
    gen = real_generation_config("qwen2.5-1.5b-instruct")
    gen.eos_token_id, gen.pad_token_id, gen.bos_token_id = tok.eos_token_id, tok.pad_token_id, None
    model.generation_config = gen
    model.save_pretrained(path)
    tok.save_pretrained(path)
    model = load_base_model(str(path), "float32")
    assert model.generation_config.repetition_penalty == 1.1 and model.generation_config.top_k == 20
    return model, load_tokenizer(str(path))


def _record_processors(model):
    """Observe the logits processors transformers actually builds inside generate (the real method, recorded)."""
    seen = []
    original = model._get_logits_processor

    def recording(*args, **kwargs):
        processors = original(*args, **kwargs)
        seen.append([type(p).__name__ for p in processors])
        return processors

    model._get_logits_processor = recording
    return seen


def test_sampling_uses_only_temperature_and_logprobs_equal_a_forward_pass(qwen_like_checkpoint):
    model, tok = qwen_like_checkpoint
    model.train()
    prompts = [encode_prompt(tok, m) for m in MESSAGES]
    seen = _record_processors(model)
    engine = make_engine("hf", model, tok, generation_batch_size=8)
    for temperature in (1.0, 0.7):
        out = engine.generate(prompts, 4, SamplingParams(temperature, 32), seed=3)
        flat = [s for g in out for s in g]
        batch = pack(flat, tok.pad_token_id)
        with torch.no_grad():
            forward = token_logprobs(model, batch, temperature)
        diff = ((forward - batch.old_logprobs_B_L) * batch.completion_mask_B_L).abs().max().item()
        assert diff < 1e-4, diff
    assert seen == [[], ["TemperatureLogitsWarper"]]  # at T=1 transformers adds no temperature warper


def test_greedy_evaluation_is_plain_argmax(qwen_like_checkpoint):
    model, tok = qwen_like_checkpoint
    model.eval()
    seen = _record_processors(model)
    policy = ModelPolicy("qwen-like", model, tok, max_new_tokens=24, temperature=0.0)
    prompt = encode_prompt(tok, MESSAGES[1])
    completion = policy._greedy([prompt])[0]
    # Argmax of a forward pass at every step: no repetition penalty, no top-k.
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(completion.completion_tokens):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert completion.text == tok.decode(ids[len(prompt):], skip_special_tokens=True)
    assert seen == [[]]


def test_ignore_eos_generates_exactly_the_token_budget(qwen_like_checkpoint):
    """Speed benchmarks compare equal work: with ignore_eos every sample has max_completion_tokens tokens, EOS included
    where it was sampled, and the logprobs are still those of softmax(logits / T)."""
    model, tok = qwen_like_checkpoint
    prompts = [encode_prompt(tok, m) for m in MESSAGES]
    engine = make_engine("hf", model, tok, generation_batch_size=8)
    out = engine.generate(prompts, 4, SamplingParams(1.0, 160, ignore_eos=True), seed=1)
    flat = [s for g in out for s in g]
    assert all(len(s.completion_ids) == 160 == len(s.logprobs) and not s.finished for s in flat)
    stopping = engine.generate(prompts, 4, SamplingParams(1.0, 160), seed=1)
    assert any(len(s.completion_ids) < 160 for g in stopping for s in g)  # the same draws stop at EOS without it
    batch = pack(flat, tok.pad_token_id)
    with torch.no_grad():
        forward = token_logprobs(model, batch, 1.0)
    assert ((forward - batch.old_logprobs_B_L) * batch.completion_mask_B_L).abs().max().item() < 1e-4
