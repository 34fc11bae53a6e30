"""GRPO-step defects that the fp32 tiny model on one process hid: the lr schedule on filtered steps, format_error_rate
with format_penalty=0, empty thoughts, float() on a grad-tracking tensor, bf16, TIS and the mismatch metrics."""

from __future__ import annotations

import dataclasses
import math
import warnings
from types import SimpleNamespace

import pytest
import torch

from srl_agent.answer import encode_prompt
from srl_agent.cli import main
from srl_agent.models.load import ModelSpec, load_policy
from srl_agent.reward import srl_reward
from srl_agent.rollout import Sample, SamplingParams, make_engine
from srl_agent.train.config import REPO_ROOT, resolve_config
from srl_agent.train.grpo import minibatches, train_on_sequences
from srl_agent.train.metrics import read_jsonl
from srl_agent.train.runs import Run
from srl_agent.train.sources import Group, Member, SRLSource

torch.set_num_threads(1)
ACTION = "<function=bash>\n<parameter=command>ls</parameter>\n</function>"


def test_lr_schedule_advances_on_steps_where_every_group_is_filtered(tmp_path):
    """The random tiny model writes no well-formed answer: every group scores -1 and is filtered, every step. The
    linear schedule must still decay to 0 over the 3 steps (it stayed at lr before)."""
    args = ["train", "--trajectories", str(REPO_ROOT / "trajectories" / "sample.jsonl"), "--model", "tiny", "--output",
            str(tmp_path), "--steps", "3", "history_window=1", "max_observation_chars=200", "max_prompt_tokens=740",
            "group_size=2", "batch_size=1", "max_completion_tokens=8", "max_sampling_rounds=1", "lr=1e-3",
            "lr_schedule=linear", "save_every=0", "progress=false"]
    assert main(args) == 0
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["prompts_kept"] for r in rows] == [0, 0, 0] and [r["fill_ratio"] for r in rows] == [0.0, 0.0, 0.0]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3 * 2 / 3, 1e-3 / 3, 0.0], rel=1e-3)  # logged to 3 digits
    assert all("logprob_diff" in r and "logprob_diff_max" in r for r in rows)  # the mismatch, every step


def _sample(text: str, tok) -> Sample:
    ids = tuple(tok(text, add_special_tokens=False)["input_ids"])
    return Sample((1, 2), ids, tuple([-1.0] * len(ids)), text, True)


def test_format_error_rate_counts_parse_failures_even_with_zero_penalty():
    _, tok = load_policy(ModelSpec(name="tiny"))
    cfg = resolve_config(overrides=["format_penalty=0", "group_size=3"])
    expert = "<function=bash>\n<parameter=command>git diff</parameter>\n</function>"
    texts = [f"<think>look</think>\n{ACTION}", f"<think>look</think>\n{expert}", "no format at all"]
    rewards = [srl_reward(t, expert, format_penalty=0.0, mode="difflib") for t in texts]
    assert rewards[0] < 1.0 and rewards[2] == 0.0
    item = SimpleNamespace(instance=SimpleNamespace(expert_action=expert))
    group = Group(item, (1, 2), tuple(Member((_sample(t, tok),), r) for t, r in zip(texts, rewards, strict=True)))
    rewards_bad = dataclasses.replace(group, members_G=tuple(Member(m.sequences, 0.0) for m in group.members_G))
    source = SRLSource(cfg, engine=None, prompts=[])
    assert source.metrics([group])["format_error_rate"] == pytest.approx(1 / 3)
    assert source.metrics([rewards_bad])["format_error_rate"] == pytest.approx(1 / 3)  # a reward of 0 is not an error


def test_an_empty_thought_is_malformed_by_default():
    cfg = resolve_config()
    assert cfg.min_thought_chars == 1
    empty, spaces, real = f"<think></think>\n{ACTION}", f"<think> \n </think>\n{ACTION}", f"<think>ls</think>\n{ACTION}"
    assert [srl_reward(t, ACTION, min_thought_chars=cfg.min_thought_chars) for t in (empty, spaces, real)] == [-1.0, -1.0, 1.0]
    assert srl_reward(empty, ACTION, min_thought_chars=0) == 1.0  # the option switches it off


def _update(tmp_path, dtype: str, finetune: str, *overrides: str, perturb: float = 0.0):
    """One GRPO update on 2 groups of real samples from the tiny policy; returns (metrics, changed?)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    cfg = resolve_config(overrides=["group_size=4", "micro_batch_size=4", "lr=1e-2", f"dtype={dtype}",
                                    f"finetune={finetune}", *overrides])
    model, tok = load_policy(dataclasses.replace(cfg.model_spec, dtype="float32" if finetune == "full" else dtype))
    engine = make_engine("hf", model, tok)
    groups = []
    for k, text in enumerate(["list the files", "run the tests"]):
        prompt = encode_prompt(tok, [{"role": "user", "content": text}])
        samples = engine.generate([prompt], 4, SamplingParams(1.0, 12), seed=k)[0]
        # perturb: the "sampler" reports other logprobs than the trainer computes (as vLLM in bf16 would)
        samples = [dataclasses.replace(s, logprobs=tuple(lp - perturb * (i % 3) for i, lp in enumerate(s.logprobs)))
                   for s in samples]
        members = tuple(Member((s,), r) for s, r in zip(samples, [1.0, 0.5, 0.0, -1.0], strict=True))
        groups.append(Group(None, tuple(prompt), members, kept=True))
    AcceleratorState._reset_state(reset_partial_state=True)
    # As start_run: bf16 is autocast compute; a full fine-tune keeps fp32 master weights, LoRA a bf16 base.
    accelerator = Accelerator(cpu=True, mixed_precision="bf16" if dtype == "bfloat16" else "no")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    ref = None
    if cfg.kl_coef > 0:
        ref, _ = load_policy(dataclasses.replace(cfg.model_spec, finetune="full"))
        ref.requires_grad_(False)
    model, optimizer = accelerator.prepare(model, optimizer)
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    run = Run(cfg, tmp_path, accelerator, model, tok, optimizer, scheduler, None, 0, ref_model=ref)
    try:
        metrics = train_on_sequences(run, minibatches(groups, cfg, cfg.max_completion_tokens))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)  # leave no process-global accelerate state behind
    after = [p.detach() for p in model.parameters() if p.requires_grad]
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    assert frozen <= {torch.bfloat16 if finetune == "lora" else torch.float32}
    return metrics, any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_no_scalar_conversion_of_a_tensor_that_tracks_gradients(tmp_path):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Converting a tensor with requires_grad=True to a scalar")
        metrics, changed = _update(tmp_path, "float32", "full", "kl_coef=0.1")
    assert changed and metrics["kl"] >= 0


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_bf16_grpo_update(tmp_path, finetune):
    """full: bf16 compute over fp32 master weights (mixed precision); lora: bf16 base, fp32 adapters."""
    metrics, changed = _update(tmp_path, "bfloat16", finetune)

    assert changed and math.isfinite(metrics["loss"]) and metrics["grad_norm"] > 0
    # bf16 forward vs the bf16 forward inside generate: a small mismatch, measured
    assert 0 <= metrics["logprob_diff"] < 0.1 and metrics["logprob_diff_max"] >= metrics["logprob_diff"]


def test_tis_recomputes_old_logprobs_and_caps_the_correction(tmp_path):
    """The sampler's logprobs are shifted by 0, 0.5 and 1.0 nats on alternate tokens: the recomputed pi_old differs
    from them by exactly that, and the weights min(pi_old / pi_sampler, 2) are 1, e^0.5 and 2 (capped)."""
    metrics, changed = _update(tmp_path, "float32", "full", "tis=on", "tis_cap=2.0", perturb=0.5)
    assert changed
    assert metrics["logprob_diff_max"] == pytest.approx(1.0, abs=1e-4)
    assert metrics["tis_weight_max"] == pytest.approx(2.0) and metrics["tis_weight_min"] == pytest.approx(1.0, abs=1e-4)
    assert 1.0 < metrics["tis_weight_mean"] < 2.0
    off, _ = _update(tmp_path, "float32", "full", "tis=off", perturb=0.5)
    assert "tis_weight_mean" not in off
    assert resolve_config(overrides=["engine=vllm"]).use_tis and not resolve_config().use_tis  # auto: on with vLLM


def test_perf_train_refuses_fewer_than_8_timed_steps_and_unknown_dtypes(capsys):
    assert main(["perf", "train", "--steps", "5"]) == 2
    assert main(["perf", "train", "--dtypes", "float16"]) == 2
    err = capsys.readouterr().err
    assert "--steps must be >= 9" in err and "--dtypes takes float32 and/or bfloat16" in err
