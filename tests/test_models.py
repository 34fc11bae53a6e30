"""The tiny model and tokenizer (no downloads), and model loading."""

from __future__ import annotations

import torch

from srl_agent.models.load import ModelSpec, load_policy, load_tokenizer, merged_weights
from srl_agent.models.tiny import EOS_TOKEN, tiny_model, tiny_tokenizer

torch.set_num_threads(1)


def test_tiny_tokenizer_is_deterministic_and_lossless(tmp_path):
    a, b = tiny_tokenizer(), tiny_tokenizer()
    assert a.get_vocab() == b.get_vocab()
    text = "<think>ünïcode ✓ tabs\t</think>\n<function=bash>\n<parameter=command>ls -la</parameter>\n</function>"
    assert a.decode(a(text, add_special_tokens=False)["input_ids"]) == text  # byte-level: nothing is unknown
    a.save_pretrained(tmp_path)
    reloaded = load_tokenizer(str(tmp_path))
    assert reloaded.padding_side == "left"
    assert reloaded(text)["input_ids"] == a(text)["input_ids"]


def test_tiny_chat_template_is_chatml():
    tok = tiny_tokenizer()
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert text == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == EOS_TOKEN and tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id


def test_tiny_model_is_seeded_and_vllm_compatible(tmp_path):
    tok = tiny_tokenizer()
    m1, m2 = tiny_model(tok, seed=3), tiny_model(tok, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    assert m1.config.head_dim >= 32  # vLLM's CPU attention rejects head_dim 16
    assert m1.config.vocab_size == len(tok)
    m1.save_pretrained(tmp_path)
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([tok("hello world")["input_ids"]])
    assert torch.allclose(loaded(ids).logits, m1(ids).logits, atol=1e-6)


def test_lora_policy_trains_only_adapters_and_merges_to_base_names():
    model, _ = load_policy(ModelSpec(name="tiny", finetune="lora", lora_r=4, gradient_checkpointing=True))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    base_keys = set(tiny_model().state_dict())
    with merged_weights(model) as weights:
        names = {name for name, _ in weights}
    assert names == base_keys


def test_unknown_model_offline_says_how_to_use_a_local_path():
    """With or without internet: an unknown name fails with the fix; offline (CI) at once, not after ~45 s of retries."""
    import time

    import pytest

    from srl_agent.errors import UserError

    start = time.perf_counter()
    with pytest.raises(UserError, match="--model DIR"):
        load_tokenizer("no-such-org/no-such-model-xyz")
    assert time.perf_counter() - start < 15
