"""srl_agent.replay.sources: one lazy view over episodes (eval), samples (train) and trajectories, on real files."""

from __future__ import annotations

import json
import time

import pytest
from replaykit import EPISODES, SAMPLES, long_episode, train_samples

from srl_agent.cli import main
from srl_agent.episodes import write_episode
from srl_agent.replay.jsonl_source import JsonlSource
from srl_agent.replay.sources import default_experts, open_source
from srl_agent.replay.textdiff import char_diff
from srl_agent.trajectory import DataError

SWE_MINI = "trajectories/swe_mini.jsonl"


def test_episodes_open_lazily_with_summaries_steps_and_problems():
    source = open_source(EPISODES, default_experts([SWE_MINI]))
    assert source.kind == "episodes" and len(source) == 4
    assert source.known_summaries() == 2  # the first and the last record, checked at open; nothing else parsed
    rows = [source.summary(i) for i in range(4)]
    assert [(r.status, r.resolved) for r in rows] == [("submitted", True), ("submitted", False), ("error", None),
                                                      ("submitted", True)]
    tiny = source.item(1)
    assert [s.index for s in tiny.steps if s.format_error] == [1, 3] and tiny.summary.failed
    assert any(s.problem == "timed out" for s in tiny.steps)
    assert rows[2].failed and "RepoError" in dict(source.item(2).facts)["error"]
    expert = source.item(0)  # the expert's own episode, compared with its trajectory step by step
    assert all(s.expert_action == s.action for s in expert.steps)


def test_samples_group_by_prompt_and_carry_the_expert_and_reward():
    source = open_source(SAMPLES)
    assert source.kind == "samples"
    rows = [json.loads(line) for line in SAMPLES.read_text().splitlines()]
    groups = [source.item(i) for i in range(len(source))]
    assert sum(len(g.steps) for g in groups) == len(rows)
    for g in groups:
        keys = {(r["step"], r["instance_id"], r["step_index"]) for r in g.raw}
        assert len(keys) == 1
    steps = [s for g in groups for s in g.steps]
    assert [s.reward for s in steps] == [r["reward"] for r in rows]
    partial = [s for s in steps if 0 < (s.reward or 0) < 1]
    assert partial and all(s.action and s.expert_action and s.format_error is None for s in partial)
    assert sum(s.format_error is not None for s in steps) == sum(r["format_error"] is not None for r in rows)


def test_fresh_training_run_output_opens(tmp_path):
    """The trainer's current samples.jsonl (not only the stored fixture) is what the viewer reads."""
    source = open_source(train_samples(tmp_path, warm=False))
    assert source.kind == "samples" and source.item(0).steps[0].expert_action


def test_every_shared_trajectory_file_opens(traj_dir):
    # not trajectories: a predictions file, NeMo Gym's scored rollouts (no expert action) and its metrics
    not_trajectories = {"tests_results.json", "example_rollouts.jsonl", "example_metrics.json"}
    files = [p for p in sorted(traj_dir.rglob("*")) if p.is_file() and p.name not in not_trajectories]
    for path in [*files, SWE_MINI]:
        source = open_source(path)
        assert source.kind == "trajectories" and len(source) >= 1, path
        item = source.item(len(source) - 1)
        assert item.steps and all(s.action for s in item.steps), path


def test_search_finds_the_step_across_items_and_backwards():
    source = open_source(SWE_MINI)
    item, step = source.find("reproduce", 0, -1)
    assert "reproduce" in source.item(item).steps[step].text().lower()
    later = source.find("def ", 5, 0)
    assert later is not None and later >= (5, 1)
    back = source.find("reproduce", len(source) - 1, 10 ** 6, backward=True)
    assert back is not None and back[0] < len(source)
    assert source.find("no such text anywhere 8c1f", 0, -1) is None
    found = source.find_instance("swe-mini__datewise-2")
    assert found is not None and source.summary(found).instance_id == "swe-mini__datewise-2"
    assert source.find_instance("swe-mini__nope") is None


def test_thousand_step_episode_and_100_files_stay_lazy(tmp_path):
    path = tmp_path / "episodes.jsonl"
    write_episode(path, long_episode(1000))
    for _ in range(200):
        path.open("a").write(EPISODES.read_text())
    t0 = time.perf_counter()
    source = open_source(path)
    assert len(source) == 801 and source.known_summaries() == 2
    assert len(source.item(0).steps) == 1000 and source.item(0).steps[999].index == 999
    assert time.perf_counter() - t0 < 5  # generous: the timing itself is in docs/benchmarks.md (bench replay)
    assert isinstance(source, JsonlSource) and source.index.record(800).startswith(b"{")


@pytest.mark.parametrize("case", ["truncated", "wrong-kind", "not-json", "empty", "bad-middle"])
def test_bad_input_is_one_line_with_file_and_line(tmp_path, capsys, case):
    path = tmp_path / "in.jsonl"
    good = EPISODES.read_text().splitlines()
    text = {"truncated": "\n".join(good[:2]) + "\n" + good[2][: len(good[2]) // 2],
            "wrong-kind": '{"hello": 1}\n',
            "not-json": "this is not json\n",
            "empty": "",
            "bad-middle": "\n".join([good[0], good[1][:50], good[3]]) + "\n"}[case]
    path.write_text(text)
    if case == "bad-middle":  # found when that record is shown, not at open
        source = open_source(path)
        with pytest.raises(DataError, match=rf"{path}:2: invalid JSON"):
            source.item(1)
        assert main(["replay", str(path), "--html", str(tmp_path / "out.html")]) == 2
    else:
        assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    expected_line = {"truncated": f"{path}:3:", "wrong-kind": f"{path}:1:", "not-json": f"{path}:1:",
                     "empty": f"{path}:", "bad-middle": f"{path}:2:"}[case]
    assert expected_line in err


def test_char_diff_reconstructs_both_sides():
    a = "<function=bash>\n<parameter=command>grep -n foo src/a.py</parameter>\n</function>"
    b = "<function=bash>\n<parameter=command>grep -rn foo src/</parameter>\n</function>"
    ops = char_diff(a, b)
    assert "".join(x for _, x, _ in ops) == a and "".join(y for _, _, y in ops) == b
    assert {t for t, _, _ in ops} >= {"equal", "insert"}
    big_a, big_b = "x = 1\n" * 3000, "y = 2\n" * 3000  # 18 kB each: shown replaced, not aligned char by char
    t0 = time.perf_counter()
    ops = char_diff(big_a, big_b)
    assert time.perf_counter() - t0 < 1 and "".join(y for _, _, y in ops) == big_b


def test_cli_rejects_unknown_items_and_stays_light(capsys):
    assert main(["replay", str(EPISODES), "--episode", "swe-mini__nope"]) == 2
    assert "no item with that instance id" in capsys.readouterr().err
    assert main(["replay", str(EPISODES), "--episode", "9"]) == 2
    assert "the file has 4 items" in capsys.readouterr().err
    import subprocess
    import sys

    code = "import sys, srl_agent.cli as c; c.build_parser(); print(any(m in sys.modules for m in ('textual', 'numpy')))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
