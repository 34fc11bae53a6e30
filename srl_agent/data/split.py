"""Leak-safe train/eval splits of expert trajectories (`srl-agent data split`) and the check `train` runs with them.

Two granularities, both over whole trajectories (the steps of one trajectory are never on both sides):

    trajectory   every run of one task (one SWE-bench instance, one pivot issue) on the same side
    repository   every task of one repository on the same side: the eval side is repositories the model never saw

A task is the instance id without a run suffix (`python__mypy-15976_0` -> `python__mypy-15976`); a repository is
what the source says (`Trajectory.repo`) or what the SWE-bench / SWE-smith id encodes (`owner__name-123`,
`owner__name.1a2b3c4d.pr_7` -> `owner/name`); an id that encodes none is its own repository (counted as unknown).

The split is written beside the data: INPUT.split/ holds `train/` and `eval/` (the source records unchanged, in
the sources' layout, readable by every command) and `split.json` (the manifest: settings, tasks and repositories
per side). `srl-agent train --eval-bench DIR.split` refuses training data that shares a task, or with
`--by repository` a repository, with the eval side; a bench name (`swe-mini:test`) is checked by task.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

from srl_agent.errors import UserError
from srl_agent.trajectory import DataError, Origin

MANIFEST = "split.json"


class SplitBy(StrEnum):
    TRAJECTORY = "trajectory"
    REPOSITORY = "repository"


_RUN_SUFFIX = re.compile(r"^(.+-\d+)_\d+$")
_SWE_SMITH = re.compile(r"^(.+?)\.[0-9a-f]{8}\.")
_SWE_BENCH = re.compile(r"^(.+)-\d+$")


def task_of(instance_id: str) -> str:
    match = _RUN_SUFFIX.match(instance_id)
    return match.group(1) if match else instance_id


def repository_of(instance_id: str, repo: str | None = None) -> str | None:
    """owner/name from the source's `repo`, else from the id; None when the id encodes no repository."""
    if repo:
        return repo
    owner, sep, rest = task_of(instance_id).partition("__")
    if not sep or not owner or not rest:
        return None
    match = _SWE_SMITH.match(rest) or _SWE_BENCH.match(rest)
    return f"{owner}/{match.group(1) if match else rest}"


@dataclass(frozen=True, slots=True)
class Side:
    trajectories: int
    tasks: tuple[str, ...]
    repositories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SplitManifest:
    """What `split.json` holds."""

    by: SplitBy
    seed: int
    eval_fraction: float
    sources: tuple[str, ...]
    train: Side
    eval: Side
    unknown_repository: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict:
        side = lambda s: {"trajectories": s.trajectories, "tasks": list(s.tasks), "repositories": list(s.repositories)}  # noqa: E731
        return {"by": self.by.value, "seed": self.seed, "eval_fraction": self.eval_fraction,
                "sources": list(self.sources), "train": side(self.train), "eval": side(self.eval),
                "unknown_repository": self.unknown_repository, "skipped": self.skipped}

    @classmethod
    def load(cls, path: Path) -> SplitManifest:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            side = lambda s: Side(int(s["trajectories"]), tuple(s["tasks"]), tuple(s["repositories"]))  # noqa: E731
            return cls(SplitBy(raw["by"]), int(raw["seed"]), float(raw["eval_fraction"]), tuple(raw["sources"]),
                       side(raw["train"]), side(raw["eval"]), int(raw.get("unknown_repository", 0)),
                       dict(raw.get("skipped", {})))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path}: not a split manifest ({e.__class__.__name__}: {e}); rewrite it with `srl-agent data split`") from None


def assign(groups: Iterable[str], eval_fraction: float, seed: int) -> set[str]:
    """The eval groups: a seeded shuffle of the distinct groups, taken until their share of items reaches the fraction.

    Each side keeps at least one group, so a split of two or more groups is never one-sided.
    """
    sizes = Counter(groups)
    if len(sizes) < 2:
        raise UserError(f"only {len(sizes)} group(s) to split; a leak-safe split needs two or more (try --by trajectory)")
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    total, chosen, taken = sum(sizes.values()), set(), 0
    for g in order[:-1]:
        if taken >= eval_fraction * total and chosen:
            break
        chosen.add(g)
        taken += sizes[g]
    return chosen


def _records(sources: list[str]) -> Iterator[tuple[str, object, Origin]]:
    from srl_agent.readers.load import iter_records

    for source in sources:
        for record, origin in iter_records(source):
            yield source, record, origin


def _destination(source: str, origin: Origin) -> tuple[Path, bool]:
    """(path relative to a side, whole file?): the source's own layout, so that ids derived from file names survive."""
    src, path = Path(source), Path(origin.path)
    try:
        rel = path.relative_to(src) if src.is_dir() else Path(path.name)
    except ValueError:
        rel = Path(path.name)
    rel = rel.with_name(re.sub(r"[^\w.-]", "_", rel.name))
    whole = origin.line is None and origin.index is None and path.is_file()
    return (rel if whole else rel.with_suffix(".jsonl")), whole


def split_sources(sources: list[str], out_dir: Path, by: SplitBy, eval_fraction: float = 0.2, seed: int = 0,
                  skip_bad: bool = False, format: str | None = None) -> SplitManifest:
    """Read every record, assign whole groups to a side, and write train/, eval/ and split.json under `out_dir`.

    Two streaming passes (ids, then copies), so memory holds ids, not trajectories. Each side mirrors the sources'
    layout: a whole-file record (.traj, one-trajectory .json) is copied byte for byte, rows go to `<name>.jsonl`.
    """
    from srl_agent.readers import detect, get_reader

    if not 0 < eval_fraction < 1:
        raise UserError(f"--eval-fraction must be between 0 and 1, got {eval_fraction}")
    forced = get_reader(format) if format else None
    keys: dict[int, tuple[str, str | None]] = {}  # record number -> (task, repository)
    skipped: Counter[str] = Counter()
    for n, (_, record, origin) in enumerate(_records(sources)):
        try:
            if isinstance(record, DataError):
                raise record
            reader = forced or detect(record)
            if reader is None:
                raise DataError(origin, "unrecognised trajectory format; pass --format (see `srl-agent data formats`)")
            traj = reader.read(record, origin)
        except DataError as e:
            if not skip_bad:
                raise
            skipped[e.message.split(";")[0].split("(")[0].strip()] += 1
            continue
        task = task_of(traj.instance_id)
        keys[n] = (task, repository_of(traj.instance_id, traj.repo))
    group = {n: (repo or f"?{task}") if by is SplitBy.REPOSITORY else task for n, (task, repo) in keys.items()}
    eval_groups = assign(group.values(), eval_fraction, seed)
    is_eval = {n: g in eval_groups for n, g in group.items()}
    _fresh(out_dir)
    handles: dict[Path, IO[str]] = {}
    copied: dict[Path, str] = {}
    try:
        for n, (source, record, origin) in enumerate(_records(sources)):
            if n not in is_eval:
                continue
            rel, whole = _destination(source, origin)
            dest = out_dir / ("eval" if is_eval[n] else "train") / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if whole:
                if dest in copied:  # two inputs with one name: the second would overwrite the first
                    raise UserError(f"{origin.path} and {copied[dest]} would both be written to {dest}; "
                                    "pass their common directory instead of the files")
                copied[dest] = origin.path
                shutil.copyfile(origin.path, dest)
                continue
            if dest not in handles:
                handles[dest] = dest.open("w", encoding="utf-8")
            handles[dest].write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
    finally:
        for f in handles.values():
            f.close()

    def side(ns: list[int]) -> Side:
        repos = {keys[n][1] for n in ns} - {None}
        return Side(len(ns), tuple(sorted({keys[n][0] for n in ns})), tuple(sorted(repos)))  # type: ignore[arg-type]

    manifest = SplitManifest(by, seed, eval_fraction, tuple(sources), side([n for n in keys if not is_eval[n]]),
                             side([n for n in keys if is_eval[n]]), sum(r is None for _, r in keys.values()),
                             dict(skipped))
    (out_dir / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return manifest


def _fresh(out_dir: Path) -> None:
    """An empty output directory: an earlier split there (its split.json says so) is replaced, anything else refused."""
    if out_dir.exists() and any(out_dir.iterdir()):
        if not (out_dir / MANIFEST).is_file():
            raise UserError(f"{out_dir} exists and is not a split written by `srl-agent data split`; choose another -o")
        for name in ("train", "eval"):
            shutil.rmtree(out_dir / name, ignore_errors=True)
        (out_dir / MANIFEST).unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def default_out_dir(source: str) -> Path:
    """Beside the data, never inside it (a directory input would otherwise read its own split back)."""
    path = Path(source.rstrip("/"))
    if not path.exists():
        raise UserError(f"{source} is not a local path; pass -o DIR for the split")
    return path.with_name((path.stem if path.is_file() else path.name) + ".split")


# ---------------------------------------------------------------------------------------------------------------
# The check `train` runs


@dataclass(frozen=True, slots=True)
class EvalSide:
    """What training must not overlap: the tasks and repositories of an eval bench, and at which granularity."""

    name: str
    by: SplitBy
    tasks: frozenset[str]
    repositories: frozenset[str]


@dataclass(frozen=True, slots=True)
class LeakReport:
    by: SplitBy
    shared_tasks: tuple[str, ...]
    shared_repositories: tuple[str, ...]

    @property
    def leaks(self) -> tuple[str, ...]:
        return self.shared_repositories if self.by is SplitBy.REPOSITORY else self.shared_tasks


def manifest_path(spec: str) -> Path | None:
    """The split.json that `spec` names (the file, or a directory written by `data split`), else None."""
    path = Path(spec)
    manifest = path / MANIFEST if path.is_dir() else path
    return manifest if manifest.name == MANIFEST and manifest.is_file() else None


def split_eval_side(manifest: Path) -> EvalSide:
    m = SplitManifest.load(manifest)
    return EvalSide(str(manifest.parent), m.by, frozenset(m.eval.tasks), frozenset(m.eval.repositories))


def tasks_eval_side(name: str, tasks: Iterable[tuple[str, str]]) -> EvalSide:
    """A task set's (instance_id, repo) pairs, checked by task (a bench may share repositories with training data
    on purpose, e.g. swe-mini's held-out tasks; `data split --by repository` is the stricter choice)."""
    pairs = list(tasks)
    return EvalSide(name, SplitBy.TRAJECTORY, frozenset(task_of(i) for i, _ in pairs), frozenset(r for _, r in pairs))


def training_keys(sources: list[str]) -> list[tuple[str, str | None]]:
    """(task, repository) of every training trajectory, or of every row of a converted instance file."""
    from srl_agent.jsonl import iter_jsonl_strict
    from srl_agent.readers import read_trajectories

    keys: list[tuple[str, str | None]] = []
    for source in sources:
        path = Path(source)
        first = next(iter_jsonl_strict(path), (None, None))[0] if path.suffix == ".jsonl" and path.is_file() else None
        if isinstance(first, dict) and "expert_action" in first and "prompt" in first:
            keys += [(task_of(r["instance_id"]), repository_of(r["instance_id"])) for r, _ in iter_jsonl_strict(path)]
        else:
            keys += [(task_of(t.instance_id), repository_of(t.instance_id, t.repo)) for t in read_trajectories([source])]
    return keys


def check_leaks(train_sources: list[str], side: EvalSide,
                extra_keys: list[tuple[str, str | None]] | None = None) -> LeakReport:
    """Raise UserError (one line, with the fix) when training data (the sources' trajectories, plus any given
    (task, repository) keys) shares tasks, or for a repository split repositories, with the eval side."""
    keys = training_keys(train_sources) + (extra_keys or [])
    report = LeakReport(side.by, tuple(sorted({t for t, _ in keys} & side.tasks)),
                        tuple(sorted({r for _, r in keys if r} & side.repositories)))
    if report.leaks:
        what = "repositories" if side.by is SplitBy.REPOSITORY else "tasks"
        shown = ", ".join(report.leaks[:5]) + (f", … ({len(report.leaks)} in all)" if len(report.leaks) > 5 else "")
        raise UserError(f"training data shares {len(report.leaks)} {what} with the eval bench {side.name} ({shown}); "
                        f"drop them from the training data, or train on the train side of `srl-agent data split --by {side.by.value}`")
    return report
