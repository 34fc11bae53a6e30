"""The task-set registry: a `--bench` name or path -> its tasks, a sandbox factory and how its images get onto a
host pool, for `env shell`, `eval`, `record`, `replay --live` and `train --method rlvr`. It sits above env/,
swe_mini/ and evaluate/ (it uses them; evaluate/ receives the resolved tasks and `Sandboxes` from its caller) and
below what runs a command (commands/, train/, replay/), so nothing it uses reaches back to it (tests/test_layering.py).

    swe-mini                                    embedded (envs/swe-mini); split train | test | all
    swe-bench | swe-bench-lite | swe-bench-verified   the Hugging Face datasets (via swebench's loader; needs internet)
    DIR with tasks.jsonl                        e.g. from `srl-agent env mine`
    FILE.json / FILE.jsonl / FILE.parquet       tasks in the SWE-bench schema
    DIR saved with datasets' save_to_disk       (DIR/SPLIT/dataset_info.json or DIR/dataset_info.json)

Classic SWE-bench instances (no `image` field, a repo/version swebench knows) get the official instance image
`swebench/sweb.eval.x86_64.<id>`, the official test command and log parser (srl_agent.env.swebench).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from srl_agent.env.task import Task, load_tasks
from srl_agent.errors import UserError

if TYPE_CHECKING:
    from srl_agent.evaluate.runner import EvalConfig, Sandboxes

SWEBENCH_DATASETS = {
    "swe-bench": "SWE-bench/SWE-bench",
    "swe-bench-lite": "SWE-bench/SWE-bench_Lite",
    "swe-bench-verified": "SWE-bench/SWE-bench_Verified",
}


def load_bench(bench: str, split: str = "all", image_template: str | None = None, runnable: bool = True) -> list[Task]:
    """The tasks of a bench (see the module docstring). `split` picks swe-mini's split and a dataset's split
    ("all" means "test" for datasets). With `runnable` (the default) every row must be runnable: its fields are
    checked at load time, naming file:line (regrading logs needs only the test lists); `image_template` names SWE-bench's instance images (srl_agent.env.swebench.image_template)."""
    if bench == "swe-mini":
        from srl_agent import swe_mini

        return swe_mini.load(split)  # type: ignore[arg-type]
    if bench in SWEBENCH_DATASETS:
        return _swebench(_dataset_rows(SWEBENCH_DATASETS[bench], split, bench, runnable), image_template, runnable)
    path = Path(bench)
    if path.is_dir() and (path / "tasks.jsonl").is_file():
        return load_tasks(path / "tasks.jsonl", runnable=runnable)
    if path.suffix in (".json", ".jsonl") and path.is_file():
        return _swebench(load_tasks(path, runnable=runnable), image_template, runnable)
    if (path.suffix == ".parquet" and path.is_file()) or _is_saved_dataset(path, split):
        return _swebench(_dataset_rows(str(path), split, bench, runnable), image_template, runnable)
    raise UserError(
        f"unknown bench {bench!r}: use swe-mini, {', '.join(SWEBENCH_DATASETS)}, a directory with tasks.jsonl, "
        "a .json/.jsonl/.parquet task file, or a directory saved with datasets' save_to_disk"
    )


def _is_saved_dataset(path: Path, split: str) -> bool:
    split = "test" if split == "all" else split
    return (path / split / "dataset_info.json").is_file() or (path / "dataset_info.json").is_file()


def _dataset_rows(name: str, split: str, bench: str, runnable: bool = True) -> list[Task]:
    """Rows through swebench's `load_swebench_dataset` (hub names, parquet, saved datasets)."""
    split = "test" if split == "all" else split
    if (Path(name) / "dataset_info.json").is_file():  # a single saved split: swebench only looks under DIR/SPLIT
        import datasets

        rows = list(datasets.load_from_disk(name))
    else:
        if "/" in name and not Path(name).exists():
            _check_hub_reachable(name, split)
        from swebench.harness.utils import load_swebench_dataset

        try:
            rows = load_swebench_dataset(name, split)
        except Exception as e:  # noqa: BLE001 - the hub, a parquet reader or datasets: one message with the fix
            raise UserError(
                f"cannot load {bench} ({name}, split {split}): {type(e).__name__}: {str(e)[:200]}. Offline, download it "
                f"elsewhere (datasets.load_dataset({name!r}, split={split!r}).to_json('{split}.jsonl')) and pass "
                "--bench path/to/file.jsonl (or .parquet, or a save_to_disk directory)"
            ) from None
    from srl_agent.env.task import check_runnable
    from srl_agent.trajectory import Origin

    tasks = []
    for i, row in enumerate(rows):
        if runnable:
            check_runnable(dict(row), Origin(name, index=i))
        tasks.append(Task.from_dict(_plain(dict(row)), Origin(name, index=i)))
    return tasks


def _plain(row: dict) -> dict:
    """Arrow round trips can type `created_at` as a timestamp and `version` as a number; the schema has strings."""
    for key in ("created_at", "version"):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            row[key] = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return row


def _check_hub_reachable(name: str, split: str) -> None:
    """Without a route to the Hub, `datasets` retries for ~25 s before failing: say so at once. HF_HUB_OFFLINE=1
    skips the check (datasets then reads its local cache)."""
    import os
    import socket
    from urllib.parse import urlparse

    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as e:
        raise UserError(
            f"cannot load {name} (split {split}): the Hugging Face Hub ({host}) is unreachable ({e}). Offline, download "
            f"it elsewhere (datasets.load_dataset({name!r}, split={split!r}).to_json('{split}.jsonl')) and pass "
            "--bench path/to/file.jsonl (or .parquet, or a save_to_disk directory); HF_HUB_OFFLINE=1 reads the local "
            "datasets cache"
        ) from None


def _swebench(tasks: list[Task], image_template: str | None, runnable: bool = True) -> list[Task]:
    """Classic instances get their official image, test command and parser; a row that still has no image is a
    repo/version swebench's spec table does not know: say so now, not when its container should start."""
    from srl_agent.env.swebench import as_swebench_task

    out = [as_swebench_task(t, image_template) for t in tasks]
    unknown = [t for t in out if not t.image] if runnable else []
    if unknown:
        t = unknown[0]
        raise UserError(f"{len(unknown)} task(s) have no `image` and a repo/version swebench's spec table does not know "
                        f"(first: {t.instance_id}: {t.repo} version {t.version!r}): add `image` (the image with the "
                        "repo at /testbed) and `test_cmd` to those rows")
    return out


def select_tasks(config: EvalConfig) -> list[Task]:
    """The tasks an evaluation runs: the bench's split, restricted to `config.instances` in their order."""
    split = config.resolved_split
    tasks = load_bench(config.bench, split, config.image_template)
    if config.instances:
        by_id = {t.instance_id: t for t in tasks}
        unknown = [i for i in config.instances if i not in by_id]
        if unknown:
            raise UserError(f"--instances: {unknown[:5]} not in {config.bench} ({split}); it has "
                            f"{', '.join(list(by_id)[:5])}{', …' if len(by_id) > 5 else ''}")
        tasks = [by_id[i] for i in config.instances]
    if not tasks:
        raise UserError(f"{config.bench} ({split}) has no tasks")
    return tasks


def sandboxes(bench: str) -> Sandboxes:
    """What the evaluation runner needs to start this bench's containers (sandbox_factory, ready_images)."""
    from srl_agent.evaluate.runner import Sandboxes

    return Sandboxes(factory=lambda pool: sandbox_factory(bench, pool=pool),
                     ready_images=lambda tasks, pool, progress: ready_images(bench, list(tasks), pool, progress))


def find_task(tasks: list[Task], instance_id: str, bench: str) -> Task:
    for task in tasks:
        if task.instance_id == instance_id:
            return task
    ids = ", ".join(t.instance_id for t in tasks[:8])
    raise UserError(f"no instance {instance_id!r} in {bench} (it has {len(tasks)}: {ids}{', …' if len(tasks) > 8 else ''})")


def sandbox_factory(bench: str, config=None, pool=None) -> Callable[[Task], object]:
    """A factory that starts a DockerSandbox on each task's image (swe-mini builds its images on first use). With a
    `pool` (srl_agent.sandbox.pool.HostPool) each sandbox goes to a host with a free slot; `ready_images` must have
    put the images there first."""
    if bench == "swe-mini":
        from srl_agent import swe_mini

        return swe_mini.sandbox_factory(config, pool)
    from srl_agent.env.swebench import CONDA_PATH, is_official_image
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.images import pull_image
    from srl_agent.sandbox.pool import start_sandbox

    base = config or SandboxConfig()

    def start(task: Task):
        if not task.image:
            raise UserError(f"task {task.instance_id} has no `image` field: add one to its row (the image with the repo at /testbed)")
        if pool is None:
            pull_image(task.image)
        env = base.env
        if is_official_image(task.image):  # the repository's conda env first on PATH, as after `conda activate testbed`
            env = (*env, ("PATH", CONDA_PATH))
        return start_sandbox(dataclasses.replace(base, image=task.image, workdir="/testbed", env=env), pool)

    return start


def ready_images(bench: str, tasks: list[Task], pool=None, progress: bool = True) -> None:
    """Before any episode: every task's image on every host that may run it (with no pool: the default daemon),
    found, copied from another host or pulled; else UserError listing the missing ones. swe-mini builds its images
    on the default daemon first."""
    from srl_agent.sandbox.image_transfer import ensure_on_hosts

    if bench == "swe-mini":
        from srl_agent.swe_mini.images import ensure_images

        images = list(ensure_images([t.instance_id for t in tasks]).values())
    else:
        no_image = [t.instance_id for t in tasks if not t.image]
        if no_image:
            raise UserError(f"{len(no_image)} task(s) of {bench} have no `image` field (first: {no_image[0]}): add "
                            "one to each row (the image with the repo at /testbed)")
        images = [t.image for t in tasks]
    from srl_agent.sandbox.client import docker_client

    if pool is None:
        ensure_on_hosts({"local": docker_client()}, images, progress=progress)
        return
    sources = {}
    if bench == "swe-mini":
        sources = {"local": docker_client()}  # where they were just built, in the pool or not
    clients = {url: pool.client(url) for url in pool.live()}
    ensure_on_hosts(clients, images, progress=progress, sources=sources)
