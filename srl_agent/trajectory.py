"""The normalised trajectory every reader produces, and the reader protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from srl_agent.actions import Action
from srl_agent.errors import UserError


@dataclass(frozen=True, slots=True)
class Step:
    """One expert turn: free-text reasoning, the single action it took, and what the environment answered."""

    thought: str
    action: Action
    observation: str


@dataclass(frozen=True, slots=True)
class Trajectory:
    """One expert episode on one task.

    `problem_statement` is the issue text itself (scaffold wrappers such as `<pr_description>` removed where the
    reader recognises them). `resolved` is None when the source does not say. `repo` is the repository ("owner/name")
    when the source names it. Steps before `first_target` are context only, never training targets (a PivotRL row
    holds the earlier turns as context and one expert action as its target).
    """

    instance_id: str
    problem_statement: str
    steps: tuple[Step, ...]
    source_format: str
    resolved: bool | None = None
    repo: str | None = None
    first_target: int = 0
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record came from, for error messages: `path:line` (JSONL) or `path[index]` (JSON list)."""

    path: str
    line: int | None = None
    index: int | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.index is not None:
            return f"{self.path}[{self.index}]"
        return self.path


class DataError(UserError, ValueError):
    """Bad input data. `str()` is one line: where, what is wrong, and what was expected."""

    def __init__(self, origin: Origin | str, message: str):
        self.origin = origin
        self.message = message
        super().__init__(f"{origin}: {message}")


class TrajectoryReader(Protocol):
    """Reads one trajectory format. A *record* is one parsed JSON value that holds one whole trajectory."""

    name: str

    def sniff(self, record: Any) -> bool:
        """True when the record looks like this format (cheap: checks keys, not contents)."""
        ...

    def read(self, record: Any, origin: Origin) -> Trajectory:
        """Normalise the record; raise DataError(origin, ...) naming the missing or malformed field."""
        ...
