"""It must learn: SFT warm start then SRL on the tiny model raises the mean SRL reward (scaled-down docs recipe).

Runs on the shipped trajectories (trajectories/sample.jsonl: 3 of the swe-mini expert trajectories), no other data.
"""

from __future__ import annotations

import torch

from srl_agent.cli import main
from srl_agent.train.config import REPO_ROOT
from srl_agent.train.metrics import read_jsonl

torch.set_num_threads(1)


def test_srl_raises_the_mean_reward_on_training_instances(tmp_path):
    # max_prompt_tokens=850 keeps the 19 shortest of the 33 instances. 100 SFT steps leave the tiny model writing the
    # format in a few percent of its samples: SRL's groups then differ in reward, and 24 steps raise it clearly.
    args = ["train", "--trajectories", str(REPO_ROOT / "trajectories" / "sample.jsonl"), "--model", "tiny",
            "--output", str(tmp_path), "--steps", "24", "history_window=1", "max_observation_chars=200",
            "max_prompt_tokens=850", "group_size=8", "batch_size=4", "micro_batch_size=32", "max_completion_tokens=128",
            "lr=1e-3", "sft_steps=100", "sft_lr=3e-3", "sft_batch_size=8", "progress=false", "eval_every=24",
            "eval_prompts=12", "eval_samples=8", "save_every=0"]
    assert main(args) == 0
    evals = read_jsonl(tmp_path / "eval.jsonl")
    before, after = evals[0]["reward_mean"], evals[-1]["reward_mean"]
    # Measured (fixed seeds, 12 prompts x 8 samples): -0.95 after the SFT warm start, -0.36 after 24 SRL steps;
    # seeds 2 and 3 gave +0.43 and +0.52.
    assert after > before + 0.25, (before, after)
    assert evals[-1]["format_error_rate"] < evals[0]["format_error_rate"]
