"""`srl-agent plan`: parameter counts of the real shipped architectures, the memory model against a measured training
micro-step, the fit decision and its one-line refusal, and the CLI."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from srl_agent.perf.plan_measure import MicroStep, estimate_micro_step, measure
from srl_agent.plan import GPUS, PlanInput, estimate, load_shape
from srl_agent.plan.from_config import fit_error
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


@pytest.mark.slow
def test_memory_model_matches_a_measured_micro_step(tmp_path):
    """A reduced real Qwen2.5 (2 layers, quarter width, the real 152k vocabulary), fp32 full fine-tuning: the plan's
    estimate of model states + activations + logits is within 25% of the measured peak (docs/benchmarks.md lists the
    whole grid: bf16, LoRA, checkpointing, SmolLM2)."""
    from srl_agent.models.real import save_random_init

    model_dir = save_random_init("qwen2.5-1.5b-instruct", tmp_path / "qwen", num_layers=2, width_divisor=4)
    from srl_agent.models.tiny import tiny_tokenizer

    tiny_tokenizer().save_pretrained(model_dir)  # any tokenizer: the step feeds token ids
    step = MicroStep(str(model_dir), micro_batch_size=4, prompt_tokens=256, completion_tokens=64)
    measured, estimated = measure(step), estimate_micro_step(step)
    assert abs(estimated - measured) / measured < 0.25, (measured, estimated)


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
