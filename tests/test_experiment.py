"""The comparison experiment, scaled down: base / SFT / SRL / SRL->RLVR / RLVR trained and evaluated end to end on
swe-mini with the tiny model (real Docker episodes, real grading), results table and plot written."""

from __future__ import annotations

import json

import pytest
import torch
from _docker_env import require_docker

torch.set_num_threads(1)


@pytest.mark.docker
def test_scaled_down_experiment_runs_end_to_end(tmp_path):
    require_docker()
    from srl_agent.experiments.compare import ARMS, main

    assert main(["--output", str(tmp_path / "cmp"), "--scale", "smoke", "--docs", str(tmp_path / "docs" / "experiment")]) == 0
    summary = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert list(summary["arms"]) == list(ARMS) and summary["budget_iterations"] == 2
    for arm, row in summary["arms"].items():
        assert row["tasks"] == 1 and 0 <= row["resolution_rate"] <= 1, arm  # graded by `srl-agent eval`
        assert -1 <= row["reward_mean"] <= 1 and row["heldout_instances"] == 4, arm
        assert row["step_states"] == 1 and 0 <= row["step_equivalence"] <= 1, arm  # executed by `srl-agent eval-steps`
    assert summary["arms"]["sft"]["eval_max_new_tokens"] > summary["arms"]["srl"]["eval_max_new_tokens"] == 128
    assert summary["arms"]["sft"]["optimizer_updates"] == 2 and summary["arms"]["sft"]["iterations"] == 2
    assert summary["arms"]["rlvr"]["iterations"] == 2 and summary["arms"]["srl_rlvr"]["iterations"] == 2  # 1 SRL + 1 RLVR
    # the curriculum starts from the SRL arm's checkpoint at half the budget
    config = json.loads((tmp_path / "cmp" / "srl_rlvr" / "config.json").read_text())
    assert config["init_from"].endswith("srl/checkpoints/step_000001") and config["method"] == "rlvr"
    for suffix in (".md", ".json"):
        assert (tmp_path / "docs" / f"experiment{suffix}").is_file()
    table = (tmp_path / "docs" / "experiment.md").read_text()
    assert "SRL→RLVR" in table and "srl-agent eval --model" in table and "srl-agent eval-steps --model" in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (tmp_path / "docs" / "experiment.png").stat().st_size > 1000
