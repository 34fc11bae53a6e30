"""Run the scripted expert for real in the SWE environment and write trajectories in the SWE-smith `ft_xml` layout
(trajectories/README.md): every observation is what the sandbox answered, `resolved` comes from grading the patch."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.actions import render_action
from srl_agent.env.grading import grade
from srl_agent.env.swe_env import SandboxFactory, SWEEnv
from srl_agent.env.task import Task
from srl_agent.expert.edits import replacements
from srl_agent.expert.policy import expert_plan
from srl_agent.expert.prompts import SYSTEM_PROMPT, user_prompt
from srl_agent.swe_mini.spec import TaskSpec, make_base_tree

OBSERVATION_PREFIX = "OBSERVATION:\n"
MAX_STEPS = 40


@dataclass(frozen=True, slots=True)
class Recorded:
    """One expert episode: the ft_xml record and whether its patch resolved the task."""

    record: dict[str, Any]
    resolved: bool


def _edits_and_lengths(task: Task, spec: TaskSpec):
    with tempfile.TemporaryDirectory(prefix="expert-") as tmp:
        make_base_tree(spec, Path(tmp))
        read = lambda p: Path(tmp, p).read_text(encoding="utf-8")  # noqa: E731
        edits = replacements(task.patch, read)
        lengths = {e.path: len(read(e.path).split("\n")) for e in edits}
    return edits, lengths


def run_expert(task: Task, spec: TaskSpec, factory: SandboxFactory) -> Recorded:
    """Drive the expert's plan through a real SWEEnv, then grade its submission in a fresh sandbox."""
    edits, lengths = _edits_and_lengths(task, spec)
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    patch = ""
    with SWEEnv(task, factory) as env:
        messages.append({"role": "user", "content": user_prompt(env.reset())})
        plan = expert_plan(task, spec, edits, lengths)
        thought, action = next(plan)
        for _ in range(MAX_STEPS):
            messages.append({"role": "assistant", "content": f"{thought}\n\n{render_action(action)}"})
            result = env.step(action)
            if result.done:
                patch = result.submission
                break
            messages.append({"role": "user", "content": OBSERVATION_PREFIX + result.observation})
            thought, action = plan.send(result.observation)
        else:
            raise RuntimeError(f"{task.instance_id}: the expert did not submit within {MAX_STEPS} steps")
    verdict = grade(task, patch, factory)
    record = {"instance_id": task.instance_id, "resolved": verdict.resolved, "patch": patch, "messages": messages}
    return Recorded(record, verdict.resolved)


def write_trajectories(tasks: list[Task], specs: dict[str, TaskSpec], output: Path, factory: SandboxFactory,
                       log: Callable[[str], None] = print) -> list[Recorded]:
    """Record every task in order and write one JSON line per trajectory; raises if any is unresolved."""
    recorded = []
    for task in tasks:
        rec = run_expert(task, specs[task.instance_id], factory)
        steps = sum(1 for m in rec.record["messages"] if m["role"] == "assistant")
        log(f"{task.instance_id}: {steps} steps, resolved={rec.resolved}")
        recorded.append(rec)
    bad = [r.record["instance_id"] for r in recorded if not r.resolved]
    if bad:
        raise RuntimeError(f"expert trajectories that do not resolve their task: {bad}")
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w", encoding="utf-8") as f:
        for rec in recorded:
            f.write(json.dumps(rec.record, ensure_ascii=False) + "\n")
    return recorded
