"""The data and reward benchmarks run end to end (speed targets live in docs/benchmarks.md, not in tests)."""

import json

from srl_agent.cli import main


def test_bench_data_json(traj_dir, tmp_path):
    out = tmp_path / "data.json"
    assert main(["bench", "data", "--samples", str(traj_dir), "--trajectories", "60", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["trajectories"] == 60
    assert result["instances"] > 60
    for key in ("trajectories_per_s", "instances_per_s", "peak_rss_mb"):
        assert result[key] > 0


def test_bench_reward_json(traj_dir, tmp_path):
    out = tmp_path / "reward.json"
    assert main(["bench", "reward", "--samples", str(traj_dir / "swe-agent"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["pairs"] > 50
    assert result["rapidfuzz_minus_difflib_min"] >= 0  # LCS >= Ratcliff/Obershelp matches
    assert 0 <= result["difflib_mean"] <= result["rapidfuzz_mean"] <= 1
