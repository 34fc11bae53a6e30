"""FSDP2 on CPU (gloo, 2 processes) through `accelerate launch` with the shipped docs/accelerate/fsdp.yaml.

accelerate itself applies FSDP to GPU processes only; srl-agent shards with `fully_shard` itself (train/fsdp.py), so
these runs exercise the same sharding, gathering and checkpointing code as a GPU run (with gloo instead of NCCL).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_ddp import _free_port

from srl_agent.train.metrics import read_jsonl

REPO = Path(__file__).resolve().parents[1]
CPU = {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU processes, gloo, even on a GPU machine


def _launch(*args: str) -> None:
    """2 processes under docs/accelerate/fsdp.yaml (each test's launch is killed with its ranks if it hangs)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(REPO / "docs" / "accelerate" / "fsdp.yaml"),
           "--num_processes", "2", "--main_process_port", str(_free_port()), *args]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **CPU}, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def test_fsdp2_updates_equal_one_process_on_the_union_of_the_ranks_groups(tmp_path):
    """3 AdamW updates (lr 1e-3, shared-prompt packing) with rank 0 holding 3 groups and rank 1 one: the losses and
    the gathered weights equal one unsharded process on all 4 groups, for every loss aggregation. Measured: losses
    within 3.1e-7 relative, weights within 3.1e-7 absolute (the updates move them by up to 3e-3). The policy is
    loaded with from_pretrained, which under fsdp.yaml (fsdp_cpu_ram_efficient_loading) gives rank 1 zeros: sharding
    must hand it rank 0's weights."""
    import torch

    _launch(str(REPO / "tests" / "fsdp_equivalence.py"), str(tmp_path))
    one = subprocess.run([sys.executable, str(REPO / "tests" / "fsdp_equivalence.py"), str(tmp_path)], cwd=REPO,
                         env={**os.environ, **CPU, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}, capture_output=True,
                         text=True, timeout=240)
    assert one.returncode == 0, one.stderr[-4000:]
    assert (tmp_path / "rank1_loaded_zeros.txt").read_text() == "True"  # the case this test must cover did occur
    for loss_agg in ("grpo", "dapo", "dr_grpo"):
        two = torch.load(tmp_path / f"fsdp_2_{loss_agg}.pt")
        ref = torch.load(tmp_path / f"fsdp_1_{loss_agg}.pt")
        assert two["losses"] == pytest.approx(ref["losses"], rel=1e-5, abs=1e-9), loss_agg
        assert abs(ref["losses"][-1]) > 1e-3  # the updates moved the policy: a real loss, not 0 = 0
        assert set(two["weights"]) == set(ref["weights"])
        for name, w in ref["weights"].items():
            assert torch.allclose(two["weights"][name], w, rtol=0, atol=2e-6), (loss_agg, name)
        assert two["copy_exact"] is True  # the rollout copy holds exactly the gathered weights


def test_fsdp2_bf16_is_mixed_precision_like_one_process(tmp_path):
    """dtype=bfloat16 keeps its meaning under FSDP2: fp32 master weights (sharded), bf16 compute, a bf16 rollout copy.
    Against one process in bf16 autocast (dapo, 3 AdamW updates at lr 1e-3), measured: losses within 6e-4 relative,
    weights within 5e-3 absolute (bf16 rounding moves Adam's near-zero-gradient steps)."""
    import torch

    _launch(str(REPO / "tests" / "fsdp_equivalence.py"), str(tmp_path), "bf16")
    one = subprocess.run([sys.executable, str(REPO / "tests" / "fsdp_equivalence.py"), str(tmp_path), "bf16"], cwd=REPO,
                         env={**os.environ, **CPU, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}, capture_output=True,
                         text=True, timeout=240)
    assert one.returncode == 0, one.stderr[-4000:]
    two, ref = torch.load(tmp_path / "fsdp_2_dapo_bf16.pt"), torch.load(tmp_path / "fsdp_1_dapo_bf16.pt")
    assert {w.dtype for w in two["weights"].values()} == {torch.float32}  # master weights, not bf16
    assert two["copy_dtype"] == "torch.bfloat16" and two["copy_exact"] is True
    assert two["losses"] == pytest.approx(ref["losses"], rel=5e-3, abs=1e-4)
    for name, w in ref["weights"].items():
        assert torch.allclose(two["weights"][name], w, rtol=0, atol=2e-2), name


def test_fsdp2_train_checkpoints_sharded_resumes_exactly_and_final_loads(tmp_path):
    """`srl-agent train` under FSDP2: sharded resumable checkpoints (one file per rank), a final/ that loads like any
    model directory, and --resume from step 1 ends bitwise where the uninterrupted run ended."""
    import shutil

    import torch
    from safetensors.torch import load_file

    from srl_agent.models.load import ModelSpec, load_policy

    out, resumed = tmp_path / "run", tmp_path / "resumed"
    args = ["-m", "srl_agent.cli", "train", "--trajectories", str(REPO / "trajectories" / "sample.jsonl"), "--model", "tiny",
            "--steps", "2", "history_window=1", "max_observation_chars=200", "max_prompt_tokens=740", "group_size=8",
            "batch_size=2", "dynamic_sampling=false", "micro_batch_size=3", "max_completion_tokens=96", "lr=1e-3",
            "sft_steps=60", "sft_lr=5e-3", "sft_batch_size=4", "samples_per_step=100", "save_every=1", "progress=false"]
    _launch(*args, "--output", str(out))
    step1 = out / "checkpoints" / "step_000001"
    assert sorted(p.name for p in (step1 / "sharded").glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]
    assert not list((step1 / "model").glob("*.safetensors"))  # no full weights gathered for a resumable checkpoint
    assert not (out / "replicas.json").exists()  # shards differ by design: no replica check
    from srl_agent.errors import UserError
    from srl_agent.train.runs import resolve_init_from

    assert resolve_init_from(out) == str(out / "final")  # --init-from the run: its gathered final/
    with pytest.raises(UserError, match="final/"):
        resolve_init_from(step1)  # shards only: say where full weights are
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["prompts_sampled"] for r in rows] == [2, 2] and any(r["grad_norm"] > 0 for r in rows)

    model, _ = load_policy(ModelSpec(name=str(out / "final")))  # what `srl-agent eval --model OUT/final` loads
    final = load_file(out / "final" / "model.safetensors")
    assert "lm_head.weight" not in final  # tied to the embeddings, saved once as save_pretrained does
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), final[name]), name

    shutil.copytree(out, resumed, ignore=shutil.ignore_patterns("step_000002", "final"))
    _launch(*args, "--output", str(resumed), "--resume")
    again = load_file(resumed / "final" / "model.safetensors")
    assert all(torch.equal(again[k], final[k]) for k in final)
    keys = ("loss", "grad_norm", "reward_mean", "completion_tokens")
    assert [[r[k] for k in keys] for r in read_jsonl(resumed / "metrics.jsonl")] == [[r[k] for k in keys] for r in rows]


@pytest.mark.parametrize(("override", "says"), [("finetune=lora", "launch LoRA with DDP"),
                                                 ("engine=vllm", "engine=vllm (in-process) with FSDP is not supported")])
def test_fsdp_refuses_what_it_cannot_run_before_loading_weights(tmp_path, override, says):
    """The environment accelerate exports for docs/accelerate/fsdp.yaml; the model path does not exist, so the
    one-line refusal proves that nothing was loaded first."""
    env = {**os.environ, **CPU, "ACCELERATE_USE_FSDP": "true", "FSDP_VERSION": "2"}
    proc = subprocess.run([sys.executable, "-m", "srl_agent.cli", "train", "--trajectories",
                           str(REPO / "trajectories" / "sample.jsonl"), "--model", str(tmp_path / "no-such-model"),
                           "--output", str(tmp_path / "run"), override], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], proc.stderr


def test_the_experiments_base_checkpoint_is_gathered_under_fsdp2(tmp_path):
    """experiments/compare.make_base saves through the run's own final save: full weights that load (before, it
    called save_pretrained on the sharded policy and failed: "Cannot flatten unevenly sharded tensor")."""
    import torch
    from safetensors.torch import load_file

    from srl_agent.models.load import ModelSpec, load_policy

    _launch(str(REPO / "tests" / "fsdp_make_base.py"), str(tmp_path))
    model, _ = load_policy(ModelSpec(name=str(tmp_path / "base")))
    saved = load_file(tmp_path / "base" / "model.safetensors")
    for name, p in model.named_parameters():
        assert torch.equal(p.detach(), saved[name]), name
    random_init = load_file(tmp_path / "tiny_random" / "model.safetensors")
    assert any(not torch.equal(saved[k], random_init[k]) for k in saved)  # the warm start's update, gathered
