"""Docker images of swe-mini tasks, and a sandbox factory for them (built on demand, cached by content hash)."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from srl_agent.env.task import Task
from srl_agent.swe_mini.build import build_repo
from srl_agent.swe_mini.spec import BENCH_NAME, TaskSpec, load_specs

_lock = threading.Lock()
_ready: dict[str, str] = {}  # image name -> tag built (or found) in this process


def image_name(spec: TaskSpec) -> str:
    """The image repository of a task; `tasks.jsonl` names it with the `latest` tag."""
    return f"srl-agent/{BENCH_NAME}.{spec.name}"


def ensure_task_image(spec: TaskSpec, base_image: str | None = None, log: Callable[[str], None] | None = None) -> str:
    """Build the task's image unless an identical one exists; tag it `:latest` too; returns the content-hash tag.

    The hash covers the repository (so an edited library or spec rebuilds) and the base image's id.
    """
    from srl_agent.sandbox.baseimage import BASE_LATEST
    from srl_agent.sandbox.client import docker_client
    from srl_agent.sandbox.images import build_image, docker_dir

    with tempfile.TemporaryDirectory(prefix="swe-mini-ctx-") as tmp:
        repo = Path(tmp, "testbed")
        build_repo(spec, repo)
        (repo / ".git" / "index").unlink()
        shutil.rmtree(repo / ".git" / "logs", ignore_errors=True)  # reflog: the guard removes it anyway
        tag = build_image(docker_dir() / "swe-mini", image_name(spec),
                           build_args={"BASE_IMAGE": base_image or BASE_LATEST},
                           extra_context={"testbed": repo}, log=log)
    docker_client().images.get(tag).tag(image_name(spec), "latest")
    return tag


def ensure_images(instance_ids: list[str] | None = None, log: Callable[[str], None] | None = None) -> dict[str, str]:
    """Build (or find) the images of the given swe-mini tasks (default: all); returns instance id -> tag."""
    out = {}
    for spec in load_specs(instance_ids):
        with _lock:
            if image_name(spec) not in _ready:
                _ready[image_name(spec)] = ensure_task_image(spec, log=log)
            out[spec.instance_id] = _ready[image_name(spec)]
    return out


def sandbox_factory(config=None, pool=None) -> Callable[[Task], object]:
    """A SandboxFactory for swe-mini tasks: builds the task's image on first use, then starts a DockerSandbox on it
    (on a host of `pool`, a srl_agent.sandbox.pool.HostPool, when given: the image must have been copied there).

    `config` is a SandboxConfig whose other fields (limits, network) are kept; its image is replaced per task.
    """
    import dataclasses

    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.pool import start_sandbox

    base = config or SandboxConfig()

    def start(task: Task):
        tag = ensure_images([task.instance_id])[task.instance_id]
        return start_sandbox(dataclasses.replace(base, image=tag, workdir="/testbed"), pool)

    return start
