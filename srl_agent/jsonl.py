"""JSONL reading with `file:line` origins: the one place that turns a line into a row or a located error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from srl_agent.trajectory import DataError, Origin


def iter_jsonl(path: str | Path, expected: str = "one JSON object per line") -> Iterator[tuple[Any, Origin]]:
    """Yield (row, origin) for each non-blank line. A line that is not JSON yields a DataError in place of the row,
    so callers choose: raise it, or count it and go on (`--skip-bad`)."""
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            origin = Origin(str(path), line=lineno)
            try:
                yield json.loads(line), origin
            except json.JSONDecodeError as e:
                yield DataError(origin, f"invalid JSON ({e.msg} at column {e.colno}); expected {expected}"), origin


def iter_jsonl_strict(path: str | Path, expected: str = "one JSON object per line") -> Iterator[tuple[Any, Origin]]:
    """Like iter_jsonl, but the first bad line raises its DataError."""
    for row, origin in iter_jsonl(path, expected):
        if isinstance(row, DataError):
            raise row
        yield row, origin
