"""LoRA weight sync in bf16: the frozen base never changes, and the synced weights are base + scaling * B @ A rounded
once (computed in fp32), in the transformers names and in vLLM's own (fused) parameters."""

from __future__ import annotations

import pytest
import torch

from srl_agent.models.load import ModelSpec, load_policy, merged_weights

torch.set_num_threads(1)
SYNCS = 20


def _bf16_lora_policy(seed: int = 0):
    """The tiny policy in bf16 with LoRA adapters set to non-zero values (B starts at zero: nothing would merge)."""
    model, tok = load_policy(ModelSpec(name="tiny", finetune="lora", dtype="bfloat16", lora_r=4, seed=seed))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.05)
    return model, tok


def _base_snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


def _expected(model) -> dict[str, torch.Tensor]:
    """base + scaling * B @ A in fp32, rounded once to bf16, under the base model's names."""
    layers = {n: m for n, m in model.named_modules() if hasattr(m, "lora_A")}
    out = {}
    for name, tensor in model.state_dict().items():
        if "lora_" in name:
            continue
        owner = name.removesuffix(".base_layer.weight")
        if owner != name and owner in layers:
            m = layers[owner]
            delta = m.lora_B["default"].weight.float() @ m.lora_A["default"].weight.float() * m.scaling["default"]
            tensor = (tensor.float() + delta).to(torch.bfloat16)
        out[name.removeprefix("base_model.model.").replace(".base_layer.", ".")] = tensor
    return out


def test_bf16_base_is_bit_identical_after_syncs_and_merged_weights_are_rounded_once():
    model, _ = _bf16_lora_policy()
    base = _base_snapshot(model)
    expected = _expected(model)
    for _ in range(SYNCS):
        with merged_weights(model) as weights:
            synced = dict(weights)
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if not p.requires_grad)
    assert synced.keys() == expected.keys()
    for name, tensor in synced.items():
        assert tensor.dtype == torch.bfloat16 and torch.equal(tensor, expected[name]), name
    # The adapters really change the weights (a test on zero adapters could not fail).
    q = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(synced[q], base[f"base_model.model.{q.removesuffix('.weight')}.base_layer.weight"])


def test_vllm_holds_base_plus_lora_after_20_bf16_syncs():
    pytest.importorskip("vllm")
    from srl_agent.rollout.vllm import VLLMEngine

    model, tok = _bf16_lora_policy(seed=1)
    base = _base_snapshot(model)
    engine = VLLMEngine(model, tok, kv_cache_gib=1 / 16, max_model_len=1024)  # syncs once at start
    for _ in range(SYNCS - 1):
        engine.sync_weights(model)
    assert all(torch.equal(p, base[n]) for n, p in model.named_parameters() if not p.requires_grad)

    def read_weights(worker):
        return {n: p.detach().clone() for n, p in worker.model_runner.model.named_parameters()}

    held = engine.llm.collective_rpc(read_weights)[0]
    expected = _expected(model)
    layers = {name.rsplit(".self_attn", 1)[0] for name in held if ".self_attn." in name}
    for layer in layers:  # vLLM fuses q/k/v and gate/up into one matrix each
        expected[f"{layer}.self_attn.qkv_proj.weight"] = torch.cat(
            [expected.pop(f"{layer}.self_attn.{p}_proj.weight") for p in "qkv"])
        expected[f"{layer}.self_attn.qkv_proj.bias"] = torch.cat([expected.pop(f"{layer}.self_attn.{p}_proj.bias") for p in "qkv"])
        expected[f"{layer}.mlp.gate_up_proj.weight"] = torch.cat(
            [expected.pop(f"{layer}.mlp.gate_proj.weight"), expected.pop(f"{layer}.mlp.up_proj.weight")])
    expected.pop("lm_head.weight", None)  # tied to the embeddings: vLLM holds one
    assert held.keys() == expected.keys()
    for name, tensor in held.items():
        rows = expected[name].shape[0]  # vLLM pads the vocabulary rows of the embedding (zeros)
        assert tensor.dtype == torch.bfloat16 and torch.equal(tensor[:rows], expected[name]), name
        assert not tensor[rows:].any(), name
