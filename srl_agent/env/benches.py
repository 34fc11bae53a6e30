"""Resolve a bench name or path to its tasks and a sandbox factory: one place for `env shell`, `eval` and `train`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from srl_agent.env.task import Task, load_tasks
from srl_agent.errors import UserError


def load_bench(bench: str, split: str = "all") -> list[Task]:
    """`swe-mini` (embedded), or a directory holding tasks.jsonl (e.g. from `env mine`), or a .json/.jsonl file."""
    if bench == "swe-mini":
        from srl_agent import swe_mini

        return swe_mini.load(split)  # type: ignore[arg-type]
    path = Path(bench)
    if path.is_dir():
        path = path / "tasks.jsonl"
    if not path.is_file():
        raise UserError(f"unknown bench {bench!r}: use swe-mini, a directory with tasks.jsonl, or a .json/.jsonl task file")
    return load_tasks(path)


def find_task(tasks: list[Task], instance_id: str, bench: str) -> Task:
    for task in tasks:
        if task.instance_id == instance_id:
            return task
    ids = ", ".join(t.instance_id for t in tasks[:8])
    raise UserError(f"no instance {instance_id!r} in {bench} (it has {len(tasks)}: {ids}{', …' if len(tasks) > 8 else ''})")


def sandbox_factory(bench: str, config=None) -> Callable[[Task], object]:
    """A factory that starts a DockerSandbox on each task's image (swe-mini builds its images on first use)."""
    if bench == "swe-mini":
        from srl_agent import swe_mini

        return swe_mini.sandbox_factory(config)
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.docker import DockerSandbox

    base = config or SandboxConfig()

    def start(task: Task) -> DockerSandbox:
        if not task.image:
            raise UserError(f"task {task.instance_id} has no `image` field: add one to its row (the image with the repo at /testbed)")
        return DockerSandbox(dataclasses.replace(base, image=task.image, workdir="/testbed"))

    return start
