"""swe-mini: the shipped tasks are reproducible and correct, and the shipped expert trajectories resolve them.

Docker tests share one pass over all tasks (two sandboxes at a time) and then assert per task.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from srl_agent import swe_mini
from srl_agent.swe_mini.compute import draft_task
from srl_agent.swe_mini.spec import load_specs, swe_mini_dir

REPO = Path(__file__).resolve().parents[1]
TRAJ = REPO / "trajectories" / "swe_mini.jsonl"
SAMPLE = REPO / "trajectories" / "sample.jsonl"
TASKS = swe_mini.load("all")
IDS = [t.instance_id for t in TASKS]


# -- no Docker ---------------------------------------------------------------------------------------------------


def test_bench_shape_and_split():
    repos = {t.repo for t in TASKS}
    assert len(TASKS) >= 16 and len(repos) >= 4
    assert all(sum(t.repo == r for t in TASKS) >= 4 for r in repos)
    train, test = swe_mini.split_ids("train"), swe_mini.split_ids("test")
    assert len(test) >= 4 and not set(train) & set(test)
    assert sorted(train + test) == sorted(IDS)
    assert {t.repo for t in swe_mini.load("test")} == repos  # every library is represented in the held-out set


def test_tasks_file_matches_specs():
    """tasks.jsonl is what the specs produce: same base commits (deterministic git), issue texts and patches."""
    for spec in load_specs():
        stored = next(t for t in TASKS if t.instance_id == spec.instance_id)
        fresh = draft_task(spec)
        for field in ("base_commit", "problem_statement", "patch", "test_patch", "repo", "version", "image"):
            assert getattr(stored, field) == getattr(fresh, field), (spec.name, field)
        assert stored.FAIL_TO_PASS and stored.PASS_TO_PASS
        row = json.loads(json.dumps(stored.to_dict()))
        assert isinstance(row["FAIL_TO_PASS"], str) and json.loads(row["FAIL_TO_PASS"]) == list(stored.FAIL_TO_PASS)


def test_gold_patches_touch_only_source_and_test_patches_only_tests():
    for task in TASKS:
        assert "diff --git a/tests/" not in task.patch
        assert all(line.startswith("diff --git a/tests/") for line in task.test_patch.splitlines()
                   if line.startswith("diff --git"))


@pytest.mark.parametrize("name", sorted({s.repo for s in load_specs()}))
def test_library_is_substantial_and_green(name):
    root = swe_mini_dir() / "repos" / name
    source = [p for p in root.rglob("*.py") if "tests" not in p.parts]
    assert sum(len(p.read_text().splitlines()) for p in source) >= 280
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="],
                         cwd=root, capture_output=True, text=True, env={"PYTHONDONTWRITEBYTECODE": "1"})
    assert res.returncode == 0, res.stdout[-2000:]
    passed = int(res.stdout.strip().splitlines()[-1].split()[0])
    assert passed >= 30


def test_trajectories_parse_and_cover_the_training_split():
    from srl_agent.readers import read_trajectories

    result = read_trajectories([str(TRAJ)])
    trajectories = list(result)
    assert not result.errors
    assert sorted(t.instance_id for t in trajectories) == sorted(swe_mini.split_ids("train"))
    assert all(t.source_format == "function_xml" and t.resolved for t in trajectories)
    assert len({tuple(type(s.action).__name__ for s in t.steps) for t in trajectories}) > 3  # varied, not one template
    sample = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    assert 1 <= len(sample) <= 5 and all(r in [json.loads(x) for x in TRAJ.read_text().splitlines()] for r in sample)


def test_empty_patch_is_not_resolved():
    from srl_agent.env.grading import grade

    result = grade(TASKS[0], "", lambda task: pytest.fail("an empty patch needs no sandbox"))
    assert not result.resolved


# -- Docker ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def factory():
    from _docker_env import base_image

    base_image()
    return swe_mini.sandbox_factory()


@pytest.fixture(scope="module")
def verdicts(factory):
    """Per task: the measured before/after test runs, and the grade of the gold patch (2 tasks at a time)."""
    from srl_agent.env.grading import grade
    from srl_agent.swe_mini.compute import measure

    def one(task):
        return task.instance_id, (measure(task, factory), grade(task, task.patch, factory))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, TASKS))


@pytest.mark.docker
@pytest.mark.parametrize("instance_id", IDS)
def test_gold_resolves_and_base_fails(verdicts, instance_id):
    task = next(t for t in TASKS if t.instance_id == instance_id)
    runs, gold = verdicts[instance_id]
    assert gold.resolved, gold.log[-3000:]
    # The stored test lists are exactly what running the tests gives (never typed by hand).
    assert list(task.FAIL_TO_PASS) == runs.fail_to_pass()
    assert list(task.PASS_TO_PASS) == runs.pass_to_pass()
    # Without the fix (the empty patch), every FAIL_TO_PASS test fails.
    assert all(runs.before.get(t) != "PASSED" for t in task.FAIL_TO_PASS)


@pytest.fixture(scope="module")
def replays(factory):
    """Replay every shipped trajectory's actions in a fresh sandbox and grade the resulting patch."""
    from srl_agent.actions import Submit
    from srl_agent.env.grading import grade
    from srl_agent.env.swe_env import SWEEnv
    from srl_agent.readers import read_trajectories

    by_id = {t.instance_id: t for t in TASKS}

    def one(trajectory):
        task = by_id[trajectory.instance_id]
        with SWEEnv(task, factory) as env:
            env.reset()
            for step in trajectory.steps:
                if isinstance(step.action, Submit):
                    break
                env.step(step.action)
            patch = env.submission()
        return trajectory.instance_id, (patch, grade(task, patch, factory))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, list(read_trajectories([str(TRAJ)]))))


@pytest.mark.docker
@pytest.mark.parametrize("instance_id", swe_mini.split_ids("train"))
def test_trajectory_replay_resolves(replays, instance_id):
    patch, verdict = replays[instance_id]
    recorded = next(json.loads(x) for x in TRAJ.read_text().splitlines() if json.loads(x)["instance_id"] == instance_id)
    assert patch == recorded["patch"]
    assert verdict.resolved, verdict.log[-3000:]
