"""Assemble swe-mini tasks in the SWE-bench schema, with FAIL_TO_PASS / PASS_TO_PASS measured in the sandbox.

For each task, in a container of its image: the base commit plus the test patch is run (`before`), then the gold
patch is applied and the suite is run again (`after`). FAIL_TO_PASS = tests that pass after but not before
(failing or missing), PASS_TO_PASS = tests that pass in both runs. The gold patch must make every test pass.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from srl_agent.env.grading import eval_command, parse_log
from srl_agent.env.repo import apply_patch, checkout_base
from srl_agent.env.swe_env import REPO_DIR, SandboxFactory
from srl_agent.env.task import Task
from srl_agent.swe_mini.build import repo_version, task_patches
from srl_agent.swe_mini.images import image_name
from srl_agent.swe_mini.spec import TaskSpec, load_specs, swe_mini_dir

# -rA lists every result in the summary, which is what the swebench pytest parser reads.
TEST_CMD = "python3 -m pytest -rA -p no:cacheprovider"
LOG_PARSER = "parse_log_pytest"
TEST_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class TestRuns:
    """Statuses (test id -> PASSED/FAILED/...) before and after the gold patch, with the test patch applied."""

    before: dict[str, str]
    after: dict[str, str]

    def fail_to_pass(self) -> list[str]:
        return [t for t, s in self.after.items() if s == "PASSED" and self.before.get(t) != "PASSED"]

    def pass_to_pass(self) -> list[str]:
        return [t for t, s in self.after.items() if s == "PASSED" and self.before.get(t) == "PASSED"]


def draft_task(spec: TaskSpec) -> Task:
    """The task without its test lists: ids, repository, base commit, patches, image and test command."""
    base, gold, test = task_patches(spec)
    return Task(
        instance_id=spec.instance_id,
        repo=spec.full_repo,
        base_commit=base,
        problem_statement=spec.problem_statement,
        patch=gold,
        test_patch=test,
        version=repo_version(spec),
        environment_setup_commit=base,
        created_at=spec.created_at,
        image=f"{image_name(spec)}:latest",
        test_cmd=TEST_CMD,
        log_parser=LOG_PARSER,
    )


def _run_tests(sandbox, task: Task) -> dict[str, str]:
    res = sandbox.run(f"cd {REPO_DIR} && {eval_command(task)}", timeout=TEST_TIMEOUT_S)
    if res.timed_out:
        raise RuntimeError(f"{task.instance_id}: the test suite timed out")
    return parse_log(task, res.output)


def measure(task: Task, factory: SandboxFactory) -> TestRuns:
    """Run the task's tests before and after its gold patch (both with the test patch) in one fresh sandbox."""
    with factory(task) as sandbox:
        checkout_base(sandbox, REPO_DIR, task.base_commit)
        for name, patch in (("test patch", task.test_patch), ("gold patch", task.patch)):
            if name == "gold patch":
                before = _run_tests(sandbox, task)
            method, log = apply_patch(sandbox, REPO_DIR, patch)
            if method != "git apply":
                raise RuntimeError(f"{task.instance_id}: the {name} does not apply cleanly:\n{log[-2000:]}")
        after = _run_tests(sandbox, task)
        sandbox.run(f"cd {shlex.quote(REPO_DIR)} && git status --short")
    return TestRuns(before, after)


def compute_task(spec: TaskSpec, factory: SandboxFactory) -> Task:
    """The complete task; raises ValueError if the gold patch leaves a test failing or fixes no failing test."""
    import dataclasses

    task = draft_task(spec)
    runs = measure(task, factory)
    broken = sorted(t for t, s in runs.after.items() if s != "PASSED")
    if broken or not runs.after:
        raise ValueError(f"{spec.name}: tests not passing after the gold patch: {broken or 'no tests ran'}")
    f2p = runs.fail_to_pass()
    if not f2p:
        raise ValueError(f"{spec.name}: the gold patch makes no failing test pass")
    return dataclasses.replace(task, FAIL_TO_PASS=tuple(f2p), PASS_TO_PASS=tuple(runs.pass_to_pass()))


def tasks_path() -> Path:
    return swe_mini_dir() / "tasks.jsonl"


def build_bench(output: Path | None = None, names: list[str] | None = None, workers: int = 2,
                factory: SandboxFactory | None = None, log: Callable[[str], None] = print) -> list[Task]:
    """Compute every task (images built on demand) and write them, one JSON object per line, to `output`
    (default: envs/swe-mini/tasks.jsonl)."""
    from srl_agent.swe_mini.images import ensure_images, sandbox_factory

    specs = load_specs(names)
    ensure_images([s.instance_id for s in specs], log=log)
    factory = factory or sandbox_factory()
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        tasks = list(pool.map(lambda s: compute_task(s, factory), specs))
    for task in tasks:
        log(f"{task.instance_id}: {len(task.FAIL_TO_PASS)} FAIL_TO_PASS, {len(task.PASS_TO_PASS)} PASS_TO_PASS")
    output = output or tasks_path()
    with open(output, "w", encoding="utf-8") as f:
        for task in tasks:
            f.write(json.dumps(task.to_dict(), ensure_ascii=False) + "\n")
    log(f"wrote {len(tasks)} tasks to {output}")
    return tasks
