"""Trajectories stored as Hugging Face datasets: a Parquet file and a `save_to_disk` folder read like the JSON rows."""

import json

from srl_agent.actions import render_action
from srl_agent.readers import read_trajectories


def _as_table_rows(rows):
    # Hub exports store nested message lists as JSON strings; the loader decodes them.
    return [{**r, "messages": json.dumps(r["messages"])} for r in rows]


def test_parquet_and_saved_dataset_match_the_json_rows(traj_dir, tmp_path):
    from datasets import Dataset

    src = traj_dir / "swe-smith" / "hf_swe-smith-trajectories_sample5.json"
    rows = json.loads(src.read_text())
    expected = [(t.instance_id, [render_action(s.action) for s in t.steps]) for t in read_trajectories([src])]

    ds = Dataset.from_list(_as_table_rows(rows))
    ds.to_parquet(str(tmp_path / "traj.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    for source in (tmp_path / "traj.parquet", tmp_path / "saved"):
        got = [(t.instance_id, [render_action(s.action) for s in t.steps]) for t in read_trajectories([source])]
        assert got == expected, source


def test_hub_name_without_network_is_a_clear_error(monkeypatch):
    import pytest

    from srl_agent.trajectory import DataError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="Hugging Face Hub"):
        list(read_trajectories(["SWE-Gym/OpenHands-SFT-Trajectories"]))
