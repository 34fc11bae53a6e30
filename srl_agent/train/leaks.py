"""The leak check `srl-agent train --eval-bench` runs before training (srl_agent.data.split does the comparing)."""

from __future__ import annotations

from srl_agent.data.split import (
    EvalSide,
    LeakReport,
    check_leaks,
    manifest_path,
    repository_of,
    split_eval_side,
    task_of,
    tasks_eval_side,
)


def resolve_eval_side(spec: str) -> EvalSide:
    """A `data split` output (its eval side), or a task set `NAME[:SPLIT]` (swe-mini defaults to test, held out)."""
    manifest = manifest_path(spec)
    if manifest is not None:
        return split_eval_side(manifest)
    from pathlib import Path

    from srl_agent.tasksets import load_bench

    name, _, split = (spec, "", "") if Path(spec).exists() else spec.partition(":")
    tasks = load_bench(name, split or ("test" if name == "swe-mini" else "all"))
    return tasks_eval_side(spec, [(t.instance_id, t.repo) for t in tasks])


def check_no_leak(train_sources: list[str], eval_spec: str) -> str:
    """Raise UserError on a leak; else the one line that says what was checked."""
    side = resolve_eval_side(eval_spec)
    return _summary(side, check_leaks(train_sources, side))


def check_tasks_no_leak(bench: str, split: str, eval_spec: str) -> str:
    """The same check for RLVR, which trains on the tasks of `bench` / `split` rather than on trajectories."""
    from srl_agent.tasksets import load_bench

    side = resolve_eval_side(eval_spec)
    keys = [(task_of(t.instance_id), repository_of(t.instance_id, t.repo)) for t in load_bench(bench, split)]
    return _summary(side, check_leaks([], side, keys))


def _summary(side: EvalSide, report: LeakReport) -> str:
    return (f"leak check: no {'repository' if side.by.value == 'repository' else 'task'} shared with {side.name} "
            f"({len(side.tasks)} eval tasks, {len(side.repositories)} repositories; {len(report.shared_repositories)} "
            f"shared repositories)")
