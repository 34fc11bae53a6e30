"""Executed step equivalence on swe-mini's held-out argkit-4 in real Docker sandboxes: at the expert's state 6
(`python3 reproduce_bug.py`, which fails on the src layout), the expert's own action is equivalent, a differently
written command with the same effect is equivalent (though its SRL reward is below 1), a command with another exit
code is not, a malformed completion is a format error that runs nothing, and the bare action without the think
block is a format error that still runs (and is equivalent)."""

from __future__ import annotations

import pytest
from _docker_env import require_docker

from srl_agent.readers import read_trajectories
from srl_agent.replay.step_equivalence import check_states, normalise_output, summarise

HELDOUT = "trajectories/swe_mini_heldout.jsonl"


def bash(command: str) -> str:
    return f"<think>run it</think>\n<function=bash>\n<parameter=command>{command}</parameter>\n</function>"


def test_normalise_output_ignores_timings_and_trailing_space():
    assert normalise_output("9 passed in 0.03s  \n") == normalise_output("9 passed in 1.20s\n")
    assert normalise_output("exit 1") != normalise_output("exit 0")


@pytest.mark.docker
def test_step_equivalence_at_a_heldout_expert_state():
    require_docker()
    from srl_agent.tasksets import load_bench, sandbox_factory

    trajectories = [t for t in read_trajectories([HELDOUT]) if t.instance_id == "swe-mini__argkit-4"]
    tasks = {t.instance_id: t for t in load_bench("swe-mini", "test")}
    expert = "cd /testbed && python3 reproduce_bug.py"
    completions = [bash(expert), bash("python3 /testbed/reproduce_bug.py"),
                   bash("cd /testbed && PYTHONPATH=src python3 reproduce_bug.py"), "<function=bash>ls</function>",
                   bash(expert).split("\n", 1)[1]]  # the expert's action without the think block
    checks = check_states(trajectories, [(0, 6)] * 5, completions, tasks, sandbox_factory("swe-mini"))
    same, rewritten, different, malformed, bare = checks
    assert all(c.error is None for c in checks), [c.error for c in checks]
    assert expert in same.expert_action and same.expert.exit_code == 1 and "ModuleNotFoundError" in same.expert.output
    assert same.equivalent and same.srl_reward == pytest.approx(1.0)
    assert rewritten.equivalent and rewritten.srl_reward < 1.0  # same effect, other text: the reward cannot see it
    assert not different.equivalent and different.model.exit_code == 0 and different.same_diff
    assert malformed.format_error and not malformed.executed and malformed.model is None and not malformed.equivalent
    assert bare.format_error and bare.executed and bare.equivalent  # format and step quality are judged apart
    summary = summarise(checks)
    assert summary.states == 5 and summary.equivalent == 0.6 and summary.format_errors == 0.4
    assert summary.not_runnable == 0.2
