"""Agent episodes: the versioned `episodes.jsonl` schema shared by `srl-agent eval` (writer) and `srl-agent replay`
(reader). One JSON object per line, one episode per object.

Version history:
    1  first release.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from srl_agent.jsonl import iter_jsonl_strict
from srl_agent.trajectory import DataError, Origin

SCHEMA_VERSION = 1

StopReason = Literal["submitted", "turn_limit", "context_limit", "format_errors", "error"]
STOP_REASONS: tuple[str, ...] = ("submitted", "turn_limit", "context_limit", "format_errors", "error")


@dataclass(frozen=True, slots=True)
class Turn:
    """One policy turn: what it wrote, what was executed, what came back."""

    index: int
    completion: str  # the policy's raw output (thought + action)
    thought: str  # text inside <think>…</think> ("" on a format error)
    action: str | None  # canonical action text; None when the completion was malformed
    observation: str  # environment output (or the format-error message shown to the policy)
    format_error: str | None = None
    prompt_tokens: int | None = None  # None for policies without a tokenizer (gold, expert, empty)
    completion_tokens: int | None = None
    generate_s: float = 0.0
    execute_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)  # exit_code, timed_out, truncated, action type, …


@dataclass(frozen=True, slots=True)
class Episode:
    """One attempt of one policy on one task, graded."""

    instance_id: str
    bench: str
    policy: str  # "gold", "expert", "empty", or the model name / checkpoint path
    setting: str  # "end-to-end" or "oracle-file"
    turns: tuple[Turn, ...]
    stop_reason: StopReason
    submission: str  # the patch (possibly empty)
    resolved: bool | None = None  # None when grading did not happen (infrastructure error)
    error: str | None = None  # infrastructure error (container died, image missing): recorded, the run goes on
    duration_s: float = 0.0
    grade: dict[str, Any] = field(default_factory=dict)  # apply method, per-test status, F2P/P2P report
    metadata: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, row: dict[str, Any], origin: Origin | str = "<episode>") -> Episode:
        version = row.get("schema_version")
        if version != SCHEMA_VERSION:
            raise DataError(origin, f"episode schema_version {version!r}; this srl-agent reads version {SCHEMA_VERSION}")
        try:
            turns = tuple(Turn(**t) for t in row["turns"])
            return cls(**{**row, "turns": turns})
        except (KeyError, TypeError) as e:
            raise DataError(origin, f"not an episode ({e}); expected the fields of srl_agent.episodes.Episode") from None

    @property
    def num_format_errors(self) -> int:
        return sum(t.format_error is not None for t in self.turns)


def write_episode(path: str | Path, episode: Episode) -> None:
    """Append one episode (one line) to an episodes.jsonl file."""
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(episode.to_json() + "\n")


def read_episodes(path: str | Path) -> Iterator[Episode]:
    """Stream the episodes of a file; a bad line raises DataError naming file:line."""
    for row, origin in iter_jsonl_strict(path, "one episode per line"):
        yield Episode.from_dict(row, origin)
