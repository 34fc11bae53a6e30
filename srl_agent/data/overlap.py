"""Contamination between training data and an evaluation set: which instances and repositories both contain.

An instance id in both means the model was trained on the expert's solution of a task it is scored on (a run
suffix, `id_0`, is ignored: srl_agent.data.split.task_of). A shared repository is weaker (the model saw the code base,
maybe later fixes) but matters for SWE-bench, whose 12 (Lite) or many (Verified) repositories also feed SWE-Gym /
SWE-smith style training sets. The repository is the source's (`Trajectory.repo`, a task's `repo`), else what the id
encodes (srl_agent.data.split.repository_of: `owner__name-123` -> `owner/name`; SWE-smith's `owner__name.<hash>.pr_N`).
`srl-agent train --eval-bench` refuses shared tasks before training; this report is the look at a finished set.

The sandbox side (no commits after the base are readable by the agent) is the environment's contamination guard
(srl_agent.env.repo.scrub_future_history); `check_sandboxes` runs it on each task and reports what it found.

Training runs record what they trained on (`training_instances.json`, or `tasks.json` for RLVR) so that `eval --model
RUN/final` can warn about overlap with the bench it evaluates.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent.data.split import repository_of, task_of
from srl_agent.env.task import Task

MANIFEST = "training_instances.json"


@dataclass(frozen=True, slots=True)
class Overlap:
    shared_instances: tuple[str, ...]
    shared_repos: dict[str, tuple[int, int]]  # repo -> (training instances, eval instances)
    training_instances: int
    eval_instances: int
    sandbox_checks: dict[str, str] = field(default_factory=dict)  # instance id -> "clean" or what leaked

    def to_dict(self) -> dict:
        return {"shared_instances": list(self.shared_instances),
                "shared_repos": {r: {"training": a, "eval": b} for r, (a, b) in self.shared_repos.items()},
                "training_instances": self.training_instances, "eval_instances": self.eval_instances,
                "sandbox_checks": self.sandbox_checks}


def overlap(training: Iterable[tuple[str, str | None]], tasks: Sequence[Task]) -> Overlap:
    """`training`: (instance id, repo or None) pairs, one per trajectory (duplicates allowed)."""
    train_ids: set[str] = set()
    train_repos: Counter[str] = Counter()
    for iid, repo in training:
        if task_of(iid) in train_ids:
            continue
        train_ids.add(task_of(iid))
        repo = (repository_of(iid, repo) or "").lower()
        if repo:
            train_repos[repo] += 1
    eval_repos = Counter((repository_of(t.instance_id, t.repo) or "").lower() for t in tasks)
    shared = sorted(train_ids & {t.instance_id for t in tasks})
    repos = {r: (train_repos[r], eval_repos[r]) for r in sorted(set(train_repos) & set(eval_repos)) if r}
    return Overlap(tuple(shared), repos, len(train_ids), len(tasks))


def from_trajectories(trajectories: Iterable) -> list[tuple[str, str | None]]:
    return [(t.instance_id, t.repo) for t in trajectories]


def check_sandboxes(tasks: Sequence[Task], factory, progress: bool = True) -> dict[str, str]:
    """Start each task's sandbox as an episode does (checkout + history scrub + verification); "clean" or the error."""
    from tqdm import tqdm

    from srl_agent.env.repo import RepoError
    from srl_agent.env.swe_env import SWEEnv

    out = {}
    for task in tqdm(tasks, desc="sandbox history check", unit="task", disable=not progress):
        try:
            with SWEEnv(task, factory) as env:
                env.reset()
            out[task.instance_id] = "clean"
        except RepoError as e:
            out[task.instance_id] = str(e).splitlines()[0]
    return out


def lines(result: Overlap) -> list[str]:
    out = [f"training: {result.training_instances} instance(s); evaluation: {result.eval_instances}",
           f"shared instance ids: {len(result.shared_instances)}"
           + (f" ({', '.join(result.shared_instances[:20])}{', …' if len(result.shared_instances) > 20 else ''})"
              if result.shared_instances else "")]
    out.append(f"shared repositories: {len(result.shared_repos)}")
    out += [f"  {repo}: {a} training / {b} evaluation instance(s)" for repo, (a, b) in result.shared_repos.items()]
    if result.sandbox_checks:
        bad = {i: s for i, s in result.sandbox_checks.items() if s != "clean"}
        out.append(f"sandbox history check: {len(result.sandbox_checks) - len(bad)}/{len(result.sandbox_checks)} "
                   "clean (no commit after the base readable)")
        out += [f"  {i}: {s}" for i, s in bad.items()]
    return out


def write_manifest(output: Path, instance_ids: Iterable[str]) -> None:
    """What a training run trained on, for `eval --model RUN/final` to compare with its bench."""
    ids = sorted(set(instance_ids))
    (output / MANIFEST).write_text(json.dumps({"instance_ids": ids}, indent=1) + "\n", encoding="utf-8")


def training_overlap_warning(model: str, tasks: Sequence[Task]) -> str | None:
    """A warning when the checkpoint's training run trained on instances (or repositories) of `tasks`."""
    run = Path(model).parent
    ids: list[str] = []
    if (run / MANIFEST).is_file():
        ids = json.loads((run / MANIFEST).read_text(encoding="utf-8"))["instance_ids"]
    elif (run / "tasks.json").is_file():  # RLVR runs list their tasks
        ids = json.loads((run / "tasks.json").read_text(encoding="utf-8"))
    if not ids:
        return None
    result = overlap([(i, None) for i in ids], tasks)
    if not result.shared_instances and not result.shared_repos:
        return None
    head = (f"warning: {model} was trained on {len(result.shared_instances)} instance(s) of this bench"
            + (f" ({', '.join(result.shared_instances[:5])})" if result.shared_instances else "")
            + f" and {len(result.shared_repos)} of its repositories ({', '.join(list(result.shared_repos)[:5])})")
    return head + "; see `srl-agent data overlap`"


def held_out_warning(instance_ids: Iterable[str]) -> str | None:
    """Training on swe-mini's held-out split (what `eval` scores by default) is contamination: say so."""
    from srl_agent import swe_mini

    shared = sorted(set(instance_ids) & set(swe_mini.split_ids("test")))
    if not shared:
        return None
    return (f"warning: the training data holds {len(shared)} of swe-mini's held-out test instance(s) "
            f"({', '.join(shared)}): `srl-agent eval` on that split would score tasks the model was trained on")
