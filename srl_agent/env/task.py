"""The task type shared by swe-mini, mined tasks and SWE-bench: one instance in the SWE-bench schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.jsonl import iter_jsonl_strict
from srl_agent.trajectory import DataError, Origin

REQUIRED = ("instance_id", "repo", "base_commit", "problem_statement")
# What running a task needs beyond REQUIRED: a classic SWE-bench row (its image and test command come from
# swebench's spec table by repo and version), or a row with its own `image` (and `test_cmd` or a test patch).
SWEBENCH_RUN_FIELDS = ("version", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS")
OWN_IMAGE_RUN_FIELDS = ("test_patch", "FAIL_TO_PASS", "PASS_TO_PASS")
_LIST_FIELDS = ("FAIL_TO_PASS", "PASS_TO_PASS")
_STR_FIELDS = (
    "patch",
    "test_patch",
    "version",
    "environment_setup_commit",
    "hints_text",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Task:
    """One task instance. Field names follow the SWE-bench dataset so a row round-trips unchanged.

    `FAIL_TO_PASS` / `PASS_TO_PASS` are JSON strings in Hugging Face exports and lists in hand-made files; here they
    are always tuples. `image`, `test_cmd` and `log_parser` are optional and only used by our own tasks: the
    container image (SWE-smith calls it `image_name`), the shell command that runs the tests from the repository
    root (default: `pytest -rA` on the files the test patch touches) and a swebench log-parser name.
    """

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str = ""
    test_patch: str = ""
    FAIL_TO_PASS: tuple[str, ...] = ()
    PASS_TO_PASS: tuple[str, ...] = ()
    version: str = ""
    environment_setup_commit: str = ""
    hints_text: str = ""
    created_at: str = ""
    image: str | None = None
    test_cmd: str | None = None
    log_parser: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_dict(cls, row: dict[str, Any], origin: Origin | str = "<dict>") -> Task:
        """Validate and normalise one row; raises DataError naming the field."""
        if not isinstance(row, dict):
            raise DataError(origin, f"expected a JSON object (one task), got {type(row).__name__}")
        missing = [k for k in REQUIRED if not isinstance(row.get(k), str) or not row.get(k)]
        if missing:
            raise DataError(origin, f"task is missing required string field(s) {missing}")
        kwargs: dict[str, Any] = {k: row[k] for k in REQUIRED}
        for key in _LIST_FIELDS:
            kwargs[key] = _test_list(row.get(key), key, origin)
        for key in _STR_FIELDS:
            value = row.get(key)
            if value is not None and not isinstance(value, str):
                raise DataError(origin, f"field {key!r} must be a string, got {type(value).__name__}")
            kwargs[key] = value or ""
        optional = (("image", ("image", "image_name")), ("test_cmd", ("test_cmd",)), ("log_parser", ("log_parser",)))
        for key, aliases in optional:
            value = next((row[a] for a in aliases if row.get(a) is not None), None)
            if value is not None and not isinstance(value, str):
                raise DataError(origin, f"field {key!r} must be a string, got {type(value).__name__}")
            kwargs[key] = value
        known = set(REQUIRED) | set(_LIST_FIELDS) | set(_STR_FIELDS) | {"image", "image_name", "test_cmd", "log_parser"}
        kwargs["extra"] = {k: v for k, v in row.items() if k not in known}
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The row in the SWE-bench file layout (test lists as JSON strings, as in the Hugging Face exports)."""
        row: dict[str, Any] = {
            k: getattr(self, k) for k in (*REQUIRED, *_STR_FIELDS) if k in self.__dataclass_fields__
        }
        for key in _LIST_FIELDS:
            row[key] = json.dumps(list(getattr(self, key)))
        for key in ("image", "test_cmd", "log_parser"):
            if getattr(self, key) is not None:
                row[key] = getattr(self, key)
        return {**self.extra, **row}


def _test_list(value: Any, key: str, origin: Origin | str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(origin, f"field {key!r} is a string but not a JSON list ({e.msg})") from None
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise DataError(origin, f"field {key!r} must be a list of test ids (or its JSON string)")
    return tuple(value)


def check_runnable(row: Any, origin: Origin | str) -> None:
    """Raise DataError naming the fields a row lacks to be run and graded (a 5-field row such as
    `instance_id, repo, base_commit, problem_statement, patch` can be read but never run)."""
    if not isinstance(row, dict):
        return  # from_dict says what is wrong
    own_image = row.get("image") or row.get("image_name")
    needed = OWN_IMAGE_RUN_FIELDS if own_image else SWEBENCH_RUN_FIELDS
    missing = [k for k in (*REQUIRED, *needed) if row.get(k) is None or (k in REQUIRED and row.get(k) == "")]
    if own_image and "test_patch" in missing and row.get("test_cmd"):
        missing.remove("test_patch")
    if missing:
        kind = "a task with its own image" if own_image else "a SWE-bench instance (or add `image`)"
        raise DataError(origin, f"task {row.get('instance_id', '?')!r} lacks {', '.join(missing)}: running {kind} "
                        f"needs {', '.join((*REQUIRED, *needed))}; use the full dataset rows (e.g. "
                        "SWE-bench/SWE-bench_Verified exported with datasets' to_json)")


def iter_tasks(path: str | Path, runnable: bool = False) -> Iterator[Task]:
    """Tasks from a `.jsonl` file (one per line) or a `.json` file (a list, a `{id: task}` dict, or one task).
    `runnable`: also check that every row has what running it needs (check_runnable), naming file:line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(str(path), "task file not found")
    if path.suffix == ".jsonl":
        for row, origin in iter_jsonl_strict(path, "one task per line"):
            if runnable:
                check_runnable(row, origin)
            yield Task.from_dict(row, origin)
        return
    if path.suffix != ".json":
        raise DataError(str(path), "expected a .json or .jsonl task file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(Origin(str(path), line=e.lineno), f"invalid JSON ({e.msg} at column {e.colno})") from None
    if isinstance(data, dict) and "instance_id" in data:
        data = [data]
    elif isinstance(data, dict):
        data = list(data.values())
    if not isinstance(data, list):
        raise DataError(str(path), f"expected a list of tasks, got {type(data).__name__}")
    for i, row in enumerate(data):
        if runnable:
            check_runnable(row, Origin(str(path), index=i))
        yield Task.from_dict(row, Origin(str(path), index=i))


def load_tasks(path: str | Path, instance_ids: list[str] | None = None, runnable: bool = False) -> list[Task]:
    """All tasks of a file, optionally only `instance_ids` (unknown ids are an error, like swebench's loader)."""
    tasks = list(iter_tasks(path, runnable))
    if instance_ids is None:
        return tasks
    by_id = {t.instance_id: t for t in tasks}
    unknown = [i for i in instance_ids if i not in by_id]
    if unknown:
        raise DataError(str(path), f"unknown instance id(s) {unknown[:5]}")
    return [by_id[i] for i in instance_ids]
