"""Two-process DDP on CPU (gloo) through `accelerate launch` with the shipped docs/accelerate/ddp.yaml.

The replicas must end bitwise identical (the trainer writes replicas.json: a sha256 of each rank's weights, and fails
if they differ), and each rank must train on its own share of the prompts, not on a copy of the other's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from srl_agent.train.metrics import read_jsonl

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(*args: str, processes: int = 2) -> None:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(REPO / "docs" / "accelerate" / "ddp.yaml"),
           "--num_processes", str(processes), "--main_process_port", str(_free_port()), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # CPU processes, gloo, even on a GPU machine
    # Own process group: a hung collective (the bug class this file guards against) is killed with all its ranks.
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        import psutil

        # torch elastic starts each rank in a session of its own: kill them by pid too, or they hold the pipe open
        ranks = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGKILL)
        for rank in ranks:
            with contextlib.suppress(psutil.NoSuchProcess):
                rank.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"DDP run hung (killed after 180 s):\n{output[-4000:]}") from None
    assert proc.returncode == 0, output[-4000:]


def test_ddp_training_keeps_replicas_identical_and_shards_the_data(tmp_path):
    # 4 instances (max_prompt_tokens=740 keeps the shortest), 2 steps x 2 prompts: one epoch, each rank one prompt a step.
    # The SFT warm start (DDP too) makes ~30% of completions well-formed, so groups differ in reward and SRL updates.
    _launch("-m", "srl_agent.cli", "train", "--trajectories", str(REPO / "trajectories" / "sample.jsonl"), "--model", "tiny",
            "--output", str(tmp_path), "--steps", "2", "history_window=1", "max_observation_chars=200", "max_prompt_tokens=740",
            "group_size=8", "batch_size=2", "dynamic_sampling=false", "micro_batch_size=4", "max_completion_tokens=96",
            "lr=1e-3", "sft_steps=60", "sft_lr=5e-3", "sft_batch_size=4", "samples_per_step=100", "save_every=0",
            "progress=false")
    replicas = json.loads((tmp_path / "replicas.json").read_text())
    assert replicas["world_size"] == 2 and len(set(replicas["weights_sha256"])) == 1, replicas

    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["prompts_sampled"] for r in rows] == [2, 2]  # summed over the 2 ranks: one prompt each per step
    assert any(r["grad_norm"] > 0 for r in rows)  # SRL really updated the (identical) replicas
    seen: dict[int, list[tuple[str, int]]] = {0: [], 1: []}
    for s in read_jsonl(tmp_path / "samples.jsonl"):
        key = (s["instance_id"], s["step_index"])
        if key not in seen[s["rank"]]:
            seen[s["rank"]].append(key)
    # Sharded, not duplicated: the ranks saw different prompts, and together the whole (4-instance) epoch.
    assert len(seen[0]) == len(seen[1]) == 2 and not set(seen[0]) & set(seen[1]), seen


def test_a_rank_without_groups_joins_the_gradient_all_reduce(tmp_path):
    """Dynamic sampling can leave one rank with no group: it must still join the update (else rank 0 hangs)."""
    _launch(str(REPO / "tests" / "ddp_uneven_step.py"), str(tmp_path))
    replicas = json.loads((tmp_path / "replicas.json").read_text())
    assert len(set(replicas["weights_sha256"])) == 1, replicas
    assert (tmp_path / "changed_rank1.txt").read_text() == "True"  # rank 1 applied rank 0's gradient


def test_ddp_with_uneven_groups_gives_the_gradient_of_one_process_on_the_union(tmp_path):
    """Rank 0 holds 3 groups, rank 1 holds 1 (as dynamic sampling leaves them): normalising the loss by the counts over
    all ranks makes the all-reduced gradient equal to one process training on all 4 groups."""
    import torch

    _launch(str(REPO / "tests" / "ddp_global_norm.py"), str(tmp_path))
    _launch(str(REPO / "tests" / "ddp_global_norm.py"), str(tmp_path), processes=1)
    for loss_agg in ("grpo", "dapo", "dr_grpo"):
        two = torch.load(tmp_path / f"grads_2_{loss_agg}.pt")
        one = torch.load(tmp_path / f"grads_1_{loss_agg}.pt")
        for a, b in zip(two, one, strict=True):
            assert torch.allclose(a, b, rtol=1e-6, atol=1e-6 * b.abs().max().item()), (loss_agg, (a - b).abs().max())


def test_sft_with_uneven_target_tokens_gives_the_gradient_and_metrics_of_one_process_on_the_union(tmp_path):
    """The SFT loss (the baseline and SRL's warm start) is a mean over every rank's target tokens: rank 0 holding 3
    trajectories and rank 1 one give the gradient of one process on all 4 (1e-6 relative, fp32; measured 1.2e-7), and a 2-process
    `--method sft` run logs the whole step (counts summed, the loss averaged over ranks), as one process on the same
    trajectories does."""
    import pytest
    import torch

    _launch(str(REPO / "tests" / "sft_global_norm.py"), str(tmp_path))
    one = subprocess.run([sys.executable, str(REPO / "tests" / "sft_global_norm.py"), str(tmp_path)], cwd=REPO,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
                              "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}, capture_output=True, text=True, timeout=180)
    assert one.returncode == 0, one.stderr[-4000:]
    two, ref = torch.load(tmp_path / "sft_grads_2.pt"), torch.load(tmp_path / "sft_grads_1.pt")
    for a, b in zip(two, ref, strict=True):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-6 * b.abs().max().item()), (a - b).abs().max()
    rows_2, rows_1 = read_jsonl(tmp_path / "sft_run_2" / "metrics.jsonl"), read_jsonl(tmp_path / "sft_run_1" / "metrics.jsonl")
    assert [r["step"] for r in rows_2] == [1, 2]
    for r2, r1 in zip(rows_2, rows_1, strict=True):
        for key in ("sequences", "trained_tokens", "target_tokens"):  # both ranks' trajectories, not rank 0's
            assert r2[key] == r1[key], (key, r2, r1)
        # metrics.jsonl holds 6 decimals; measured: equal in all of them
        assert r2["loss"] == pytest.approx(r1["loss"], abs=2e-6) and r2["grad_norm"] == pytest.approx(r1["grad_norm"], abs=2e-6)


def test_a_nonfinite_loss_on_one_rank_stops_every_rank_together(tmp_path):
    """Only rank 1's data gives a non-finite loss: both ranks raise NonFiniteLoss before the optimizer step (naming
    the rank), none hangs in a collective (the launch is killed after 180 s), no weight moves; one process on the
    union raises as it always did."""
    _launch(str(REPO / "tests" / "ddp_nonfinite.py"), str(tmp_path))
    for rank in (0, 1):
        assert "rank 1: loss is inf at micro-batch 1" in (tmp_path / f"raised_2_rank{rank}.txt").read_text()
        assert (tmp_path / f"unchanged_2_rank{rank}.txt").read_text() == "True"
    one = subprocess.run([sys.executable, str(REPO / "tests" / "ddp_nonfinite.py"), str(tmp_path)], cwd=REPO,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
                              "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}, capture_output=True, text=True, timeout=180)
    assert one.returncode == 0, one.stderr[-4000:]
    assert (tmp_path / "raised_1_rank0.txt").read_text() == "loss is inf at micro-batch 5"
    assert (tmp_path / "unchanged_1_rank0.txt").read_text() == "True"
