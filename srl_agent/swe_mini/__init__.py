"""swe-mini: the embedded SWE benchmark (envs/swe-mini): tasks in the SWE-bench schema over four small libraries.

    from srl_agent.swe_mini import load, sandbox_factory
    tasks = load("test")                    # the held-out tasks (envs/swe-mini/split.json)
    factory = sandbox_factory()             # builds each task's image on first use

Docker-free parts (specs, repositories, patches) import nothing heavy; images and F2P/P2P computation need Docker.
"""

from __future__ import annotations

import json
from typing import Literal

from srl_agent.env.task import Task, load_tasks
from srl_agent.swe_mini.spec import BENCH_NAME, TaskSpec, load_specs, swe_mini_dir

Split = Literal["train", "test", "all"]

__all__ = ["BENCH_NAME", "Split", "TaskSpec", "load", "load_specs", "sandbox_factory", "split_ids", "swe_mini_dir"]


def split_ids(split: Split) -> list[str]:
    """Instance ids of a split (`envs/swe-mini/split.json`); "all" is train + test."""
    data = json.loads((swe_mini_dir() / "split.json").read_text(encoding="utf-8"))
    if split == "all":
        return data["train"] + data["test"]
    if split not in ("train", "test"):
        from srl_agent.errors import UserError

        raise UserError(f"unknown swe-mini split {split!r}: use train, test or all")
    return list(data[split])


def load(split: Split = "all") -> list[Task]:
    """The swe-mini tasks of a split, from `envs/swe-mini/tasks.jsonl`."""
    return load_tasks(swe_mini_dir() / "tasks.jsonl", split_ids(split))


def sandbox_factory(config=None, pool=None):
    """See `srl_agent.swe_mini.images.sandbox_factory` (imported lazily: it needs the docker SDK)."""
    from srl_agent.swe_mini.images import sandbox_factory as factory

    return factory(config, pool)
