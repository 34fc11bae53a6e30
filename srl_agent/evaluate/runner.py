"""`srl-agent eval`: run a policy on every task of a bench, N sandboxes at once, grade each patch, write the run.

    OUTPUT/run.json          the options (a rerun must match them: it resumes the same run)
    OUTPUT/episodes.jsonl    one Episode per instance (srl_agent.episodes), appended as each finishes
    OUTPUT/preds.jsonl       official predictions (instance_id, model_name_or_path, model_patch)
    OUTPUT/logs/run_evaluation/<run_id>/<model>/<id>/   patch.diff, test_output.txt, report.json, error.txt
    OUTPUT/<model>.<run_id>.json   swebench's run report, field for field (srl_agent.evaluate.official)
    OUTPUT/report.json       the same fields + resolution rate, error reasons, timing, versions, image digests, limits

The policy is a Policy (an agent runs) or a `Predictions` file (its patches are graded as they are, no agent).
The caller resolves the task set (srl_agent.tasksets, a layer above this package): it passes the tasks and, in
`EvalConfig.sandboxes`, how to start a sandbox for a task and how to put the images on a host pool. One instance's
episode and grading are in evaluate/instance.py.

Resumable: episodes.jsonl is the record of what finished; a rerun skips those instances and retries the ones that
ended in an infrastructure error. A crash loses only the episodes in flight (a torn last line is dropped).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.agent.loop import AgentConfig, Batcher
from srl_agent.agent.policies import Policy
from srl_agent.env.task import Task
from srl_agent.episodes import Episode, read_episodes, write_episode
from srl_agent.errors import UserError
from srl_agent.evaluate.instance import evaluate_on_pool
from srl_agent.evaluate.official import history_guard, official_report
from srl_agent.evaluate.predictions import Prediction, Predictions, write_predictions
from srl_agent.evaluate.report import build_report, has_prediction, summary
from srl_agent.sandbox.hosts import DockerHost

SETTINGS = ("end-to-end", "oracle-file")
GRADERS = ("srl", "swebench")


@dataclass(frozen=True, slots=True)
class Sandboxes:
    """How the runner gets containers for a task set's tasks. Built by the task-set registry
    (srl_agent.tasksets.sandboxes(bench)); this package never looks a bench up itself."""

    factory: Callable[[Any], Callable[[Task], Any]]  # a host pool (None: the default daemon) -> (task -> sandbox)
    ready_images: Callable[[Sequence[Task], Any, bool], None]  # (tasks, pool, progress): every image on every host


@dataclass(frozen=True, slots=True)
class EvalConfig:
    output: Path
    sandboxes: Sandboxes = field(kw_only=True)  # from srl_agent.tasksets.sandboxes(bench)
    bench: str = "swe-mini"  # the task set's name, recorded in episodes and run.json (the caller loaded its tasks)
    split: str | None = None  # None: swe-mini's held-out "test" split, a dataset's "test" split
    instances: tuple[str, ...] = ()
    setting: str = "end-to-end"
    workers: int = 1
    agent: AgentConfig = field(default_factory=AgentConfig)
    grader: str = "srl"  # srl: srl_agent.env.grade per instance; swebench: the official harness on preds.jsonl
    log_harness: str = "swebench"  # how the srl grader reads test logs: swebench or swesmith semantics
    command_timeout_s: float = 120.0
    grade_timeout_s: float = 1800.0
    progress: bool = True  # the progress bar
    print_summary: bool = True  # the table at the end
    hosts: tuple[DockerHost, ...] = ()  # --docker-hosts; () = the default daemon, no pool
    retries: int = 1  # with hosts: an episode whose host failed runs again on another host, up to this many times
    run_id: str | None = None  # swebench's run id (the log folder); None: the output folder's name
    seed: int | None = None  # recorded with the limits (the policy holds it)
    image_template: str | None = None  # SWE-bench image names (srl_agent.env.swebench.image_template)

    @property
    def resolved_run_id(self) -> str:
        return self.run_id or self.output.resolve().name

    @property
    def resolved_split(self) -> str:
        return self.split or ("test" if self.bench == "swe-mini" else "all")

    def resume_key(self, policy: str) -> dict[str, Any]:
        """What must match for a rerun to continue this run (instances may differ: a subset or more)."""
        return {"policy": policy, "bench": self.bench, "split": self.resolved_split, "setting": self.setting,
                "grader": self.grader, "log_harness": self.log_harness, "agent": dataclasses.asdict(self.agent)}


def run_eval(config: EvalConfig, policy: Policy | Predictions, tasks: list[Task]) -> dict[str, Any]:
    """Evaluate `policy` on `tasks` (srl_agent.tasksets.select_tasks); returns report.json's content. With
    `Predictions`, the instances it has no patch for are not run (swebench reports them as incomplete)."""
    from tqdm import tqdm

    if config.setting not in SETTINGS or config.grader not in GRADERS or config.workers < 0 or config.retries < 0:
        raise UserError(f"setting must be one of {SETTINGS}, grader one of {GRADERS}, workers >= 0 (0: the pool's "
                        "capacity), retries >= 0")
    if config.grader == "swebench":
        from srl_agent.evaluate.harness import check_harness_can_run

        check_harness_can_run(tasks)
    out = config.output
    out.mkdir(parents=True, exist_ok=True)
    key = config.resume_key(policy.name)
    if isinstance(policy, Predictions):
        key["predictions_sha256"] = policy.sha256
    _check_run_file(out / "run.json", key)
    episodes_path = out / "episodes.jsonl"
    done = load_finished(episodes_path)
    todo = [t for t in tasks if t.instance_id not in done or done[t.instance_id].error is not None]
    if isinstance(policy, Predictions):
        todo = [t for t in todo if t.instance_id in policy.patches]
    host_pool = connect_pool(config, todo)
    factory = config.sandboxes.factory(host_pool)
    batcher = Batcher(policy) if not isinstance(policy, Predictions) and policy.batched else None
    lock = threading.Lock()
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=f"eval {policy.name}", unit="instance",
               disable=not config.progress, file=sys.stderr)

    def one(task: Task) -> None:
        episode = evaluate_on_pool(task, batcher or policy, factory, config, batcher, host_pool)
        with lock:
            write_episode(episodes_path, episode)
            done[task.instance_id] = episode
            bar.update(1)
            bar.set_postfix_str(f"resolved {sum(bool(e.resolved) for e in done.values())}")

    t0 = time.monotonic()
    workers = config.workers or (host_pool.total_capacity() if host_pool else 2)
    if host_pool is not None and workers > host_pool.total_capacity():
        # More episode threads than sandbox slots would only wait for a slot, and hold every generate batch back.
        print(f"--workers {workers} > the pool's capacity {host_pool.total_capacity()}: running "
              f"{host_pool.total_capacity()} at once", file=sys.stderr)
        workers = host_pool.total_capacity()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval")
    try:
        for future in as_completed([pool.submit(one, t) for t in todo]):
            future.result()  # evaluate_instance records failures; what reaches here is a bug: let it crash
    except BaseException:  # Ctrl-C or a bug: queued instances are dropped, the in-flight ones finish and are saved
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    bar.close()
    episodes = load_finished(episodes_path)
    if config.grader == "swebench":
        episodes = _official_verdicts(tasks, episodes, out, config, policy.name)
    _rewrite_episodes(episodes_path, episodes)
    ids = [t.instance_id for t in tasks]
    write_predictions(out / "preds.jsonl", [Prediction(e.instance_id, policy.name, e.submission)
                                            for e in episodes.values() if has_prediction(e)])
    run = {**key, "run_id": config.resolved_run_id, "workers": workers, "wall_s": round(time.monotonic() - t0, 3),
           "instances_run": len(todo), "batch_sizes": _batch_stats(batcher)}
    if host_pool is not None:
        run["hosts"] = [h.to_dict() for h in host_pool.report()]
        run["retried_ids"] = sorted(e.instance_id for e in episodes.values() if e.metadata.get("failed_attempts"))
    report = build_report(ids, episodes, run)
    report = official_report(report, config, policy, tasks)
    if not isinstance(policy, Predictions):
        report["history_guard"] = history_guard(episodes)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if config.print_summary:
        print(summary(report, episodes, ids))
        if host_pool is not None:
            from srl_agent.sandbox.pool import describe

            print(describe(host_pool.report(), run["retried_ids"]))
    return report


def connect_pool(config: EvalConfig, tasks: list[Task]) -> Any:
    """The host pool of `config.hosts` with every task's image on every host (None without hosts)."""
    if not config.hosts:
        return None
    from srl_agent.sandbox.pool import HostPool

    pool = HostPool.connect(config.hosts)
    config.sandboxes.ready_images(tasks, pool, config.progress)
    return pool


def load_finished(path: Path) -> dict[str, Episode]:
    """instance id -> its latest episode. A torn last line (a crash mid-write) is cut off first."""
    if not path.is_file():
        return {}
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data[: data.rfind(b"\n") + 1]
        print(f"{path}: dropping an incomplete last line ({len(data) - len(keep)} bytes) left by an interrupted run",
              file=sys.stderr)
        path.write_bytes(keep)
    return {e.instance_id: e for e in read_episodes(path)}


def _rewrite_episodes(path: Path, episodes: dict[str, Episode]) -> None:
    """One line per instance (retried errors leave superseded lines), written atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(e.to_json() + "\n" for e in episodes.values()), encoding="utf-8")
    os.replace(tmp, path)


def _check_run_file(path: Path, key: dict[str, Any]) -> None:
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        changed = sorted(k for k in key if previous.get(k) != key[k])
        if changed:
            diffs = "; ".join(f"{k}: {previous.get(k)!r} -> {key[k]!r}" for k in changed)
            raise UserError(f"{path.parent} holds a run with other options ({diffs}); resume it with the same "
                            "options or pass a new --output")
    else:
        path.write_text(json.dumps(key, indent=2) + "\n", encoding="utf-8")


def _official_verdicts(tasks: list[Task], episodes: dict[str, Episode], out: Path, config: EvalConfig,
                       name: str) -> dict[str, Episode]:
    """`--grader swebench`: run the official harness on the predictions, take its per-instance verdicts."""
    from srl_agent.evaluate.harness import run_official

    graded = [e for e in episodes.values() if has_prediction(e) and e.submission.strip()]
    preds = out / "preds.jsonl"
    write_predictions(preds, [Prediction(e.instance_id, name, e.submission) for e in graded])
    by_id = {t.instance_id: t for t in tasks}
    reports = run_official([by_id[e.instance_id] for e in graded if e.instance_id in by_id], preds,
                           out / "swebench", config.workers, int(config.grade_timeout_s))
    for e in graded:
        if e.instance_id in reports:
            report = reports[e.instance_id]
            episodes[e.instance_id] = dataclasses.replace(e, resolved=bool(report["resolved"]), error=None,
                                                          grade={"grader": "swebench", "report": report})
        else:  # swebench counts an instance without report.json (patch did not apply, timeout, crash) as an error
            episodes[e.instance_id] = dataclasses.replace(
                e, resolved=None, error="swebench harness wrote no report (see swebench/logs/run_evaluation)",
                metadata={**e.metadata, "error_phase": "grade"})
    return episodes


def _batch_stats(batcher: Batcher | None) -> dict[str, float] | None:
    if batcher is None or not batcher.batch_sizes:
        return None
    sizes = batcher.batch_sizes
    return {"calls": len(sizes), "mean": round(sum(sizes) / len(sizes), 2), "max": max(sizes)}
