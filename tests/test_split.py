"""`srl-agent data split` on the shared real trajectories, and the leak check `train --eval-bench` runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from srl_agent.cli import main
from srl_agent.data.split import repository_of, task_of
from srl_agent.errors import UserError
from srl_agent.readers import read_trajectories
from srl_agent.train.leaks import check_no_leak, check_tasks_no_leak

REPO = Path(__file__).resolve().parents[1]


def _keys(path):
    trajs = list(read_trajectories([path]))
    return trajs, {task_of(t.instance_id) for t in trajs}, {repository_of(t.instance_id, t.repo) for t in trajs} - {None}


def test_ids_to_tasks_and_repositories():
    assert task_of("python__mypy-15976_0") == "python__mypy-15976"
    assert task_of("pandas-dev__pandas.95280573.pr_53652") == "pandas-dev__pandas.95280573.pr_53652"
    assert repository_of("python__mypy-15976_0") == "python/mypy"
    assert repository_of("pandas-dev__pandas.95280573.pr_53652") == "pandas-dev/pandas"
    assert repository_of("brightway-lca__brightway2-analyzer-19_23") == "brightway-lca/brightway2-analyzer"
    assert repository_of("swe-mini__argkit-1") == "swe-mini/argkit"
    assert repository_of("runtime_basic_events") is None
    assert repository_of("anything", "org/name") == "org/name"


@pytest.mark.parametrize("by", ["repository", "trajectory"])
def test_split_never_shares_a_repository_or_trajectory(traj_dir, tmp_path, capsys, by):
    out = tmp_path / "split"
    assert main(["data", "split", str(traj_dir), "--by", by, "--skip-bad", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    train, train_tasks, train_repos = _keys(out / "train")
    held, eval_tasks, eval_repos = _keys(out / "eval")
    everything = list(read_trajectories([traj_dir], skip_bad=True))
    assert len(train) + len(held) == len(everything) and train and held
    assert not train_tasks & eval_tasks  # every run (and every step) of a task on one side
    if by == "repository":
        assert not train_repos & eval_repos
    manifest = json.loads((out / "split.json").read_text())
    assert manifest["by"] == by and manifest["train"]["trajectories"] == len(train)
    assert set(manifest["eval"]["tasks"]) == eval_tasks and set(manifest["eval"]["repositories"]) == eval_repos
    # the same task read through two formats (SWE-Gym raw tool calls and its ShareGPT conversion) stays together
    mypy = [t for t in everything if task_of(t.instance_id) == "python__mypy-15976"]
    assert len(mypy) == 2 and ("python__mypy-15976" in train_tasks) != ("python__mypy-15976" in eval_tasks)
    # deterministic for a seed
    again = tmp_path / "again"
    assert main(["data", "split", str(traj_dir), "--by", by, "--skip-bad", "-o", str(again)]) == 0
    files = lambda d: sorted(p.read_bytes() for p in (d / "eval").rglob("*") if p.is_file())  # noqa: E731
    assert files(again) == files(out)


def test_pivots_of_one_issue_stay_on_one_side(traj_dir, tmp_path):
    rows = [json.loads(line) for line in (traj_dir / "nemo_pivot" / "example.jsonl").read_text().splitlines()]
    # a second pivot of example_1's issue (a later decision of the same run)
    later = {**rows[0], "uuid": "example_1b", "expected_action": rows[4]["expected_action"]}
    src = tmp_path / "pivots.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in [*rows, later]))
    for seed in range(6):
        out = tmp_path / f"s{seed}"
        assert main(["data", "split", str(src), "--by", "trajectory", "--seed", str(seed), "-o", str(out)]) == 0
        eval_uuids = {t.metadata["uuid"] for t in read_trajectories([out / "eval"])}
        assert ("example_1" in eval_uuids) == ("example_1b" in eval_uuids)


def test_split_default_output_is_beside_the_data_and_replaced_by_a_rerun(traj_dir, tmp_path, capsys):
    src = tmp_path / "data.jsonl"
    src.write_text((traj_dir / "nemo_pivot" / "example.jsonl").read_text())
    assert main(["data", "split", str(src), "--by", "trajectory"]) == 0
    out = tmp_path / "data.split"
    assert (out / "split.json").is_file()
    sides = lambda: [len(list(read_trajectories([out / side]))) for side in ("train", "eval")]  # noqa: E731
    assert sides() == [4, 1]
    assert main(["data", "split", str(src), "--by", "trajectory", "--eval-fraction", "0.5"]) == 0
    assert sides() == [2, 3]  # nothing left over from the first split
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["data", "split", str(src), "--by", "trajectory", "-o", str(tmp_path / "other")]) == 2
    assert "not a split written by" in capsys.readouterr().err


def test_train_refuses_a_leaky_eval_bench(traj_dir, tmp_path):
    out = tmp_path / "split"
    assert main(["data", "split", str(traj_dir), "--by", "repository", "--skip-bad", "-o", str(out)]) == 0
    assert "no repository shared" in check_no_leak([str(out / "train")], str(out))
    with pytest.raises(UserError, match="shares .* repositories with the eval bench"):
        check_no_leak([str(out / "eval")], str(out / "split.json"))
    # a task set: swe-mini's held-out tasks against the shipped training and held-out expert trajectories
    assert "no task shared" in check_no_leak([str(REPO / "trajectories" / "swe_mini.jsonl")], "swe-mini:test")
    with pytest.raises(UserError, match="shares 4 tasks"):
        check_no_leak([str(REPO / "trajectories" / "swe_mini_heldout.jsonl")], "swe-mini")
    # RLVR trains on a task split rather than trajectories
    assert "no task shared" in check_tasks_no_leak("swe-mini", "train", "swe-mini:test")
    with pytest.raises(UserError, match="shares 4 tasks"):
        check_tasks_no_leak("swe-mini", "all", "swe-mini:test")
    # through the real CLI: one line, exit 2, before any model is loaded
    proc = subprocess.run([sys.executable, "-m", "srl_agent.cli", "train", "--model", "tiny", "--output",
                           str(tmp_path / "run"), "--trajectories", str(out / "eval"), "--eval-bench", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "shares" in proc.stderr
    assert not (tmp_path / "run").exists()
