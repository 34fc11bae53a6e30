"""The shipped real configs (Qwen2.5-1.5B-Instruct, Qwen2.5-Coder-7B-Instruct) and random-init models built from them."""

from __future__ import annotations

import pytest
import torch

from srl_agent.errors import UserError
from srl_agent.models.real import REAL_MODELS, random_init_model, real_config, real_generation_config, save_random_init

torch.set_num_threads(1)

# Published parameter counts (model cards): 1.54B and 7.61B.
PUBLISHED_B = {"qwen2.5-1.5b-instruct": 1.54, "qwen2.5-coder-7b-instruct": 7.61}


@pytest.mark.parametrize("name", REAL_MODELS)
def test_full_size_architecture_matches_the_published_model(name):
    model = random_init_model(name, device="meta")  # shapes only, no memory
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    assert params_b == pytest.approx(PUBLISHED_B[name], abs=0.01)
    config = model.config
    assert config.num_hidden_layers == 28 and config.head_dim == 128
    gen = real_generation_config(name)
    assert gen.top_k == 20 and gen.top_p == 0.8 and gen.repetition_penalty in (1.05, 1.1)
    assert gen.eos_token_id == [151645, 151643]


@pytest.mark.parametrize(("name", "kv", "tied", "vocab"), [("qwen2.5-1.5b-instruct", 2, True, 151936),
                                                           ("qwen2.5-coder-7b-instruct", 4, False, 152064)])
def test_shrunk_model_keeps_gqa_tied_embeddings_and_vocab(name, kv, tied, vocab):
    config = real_config(name, num_layers=1, width_divisor=4)
    assert config.num_key_value_heads == kv and config.num_attention_heads // kv in (6, 7)  # 12:2 and 28:4
    assert config.head_dim == 32 and config.hidden_size == config.num_attention_heads * 32
    assert config.tie_word_embeddings is tied and config.vocab_size == vocab
    with pytest.raises(UserError, match="width_divisor"):
        real_config(name, width_divisor=3)


def test_shrunk_model_trains_in_bf16_and_round_trips(tmp_path):
    from transformers import AutoModelForCausalLM

    path = save_random_init("qwen2.5-1.5b-instruct", tmp_path, num_layers=1, width_divisor=4, dtype="bfloat16")
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.dtype == torch.bfloat16 and model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert model.generation_config.repetition_penalty == 1.1  # the checkpoint's defaults travel with it
    ids = torch.tensor([[151643, 9707, 11, 1879, 151645]])  # real-vocab ids, high ones included
    out = model(ids, labels=ids)
    out.loss.backward()
    assert out.logits.shape == (1, 5, 151936) and torch.isfinite(out.loss)
    assert model.model.embed_tokens.weight.grad.dtype == torch.bfloat16
