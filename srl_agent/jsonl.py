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
    with Path(path).open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            origin = Origin(str(path), line=lineno)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield DataError(origin, f"{not_utf8(e)}; expected {expected}"), origin
                continue
            if not line.strip():
                continue
            try:
                yield json.loads(line), origin
            except json.JSONDecodeError as e:
                yield DataError(origin, f"invalid JSON ({e.msg} at column {e.colno}); expected {expected}"), origin


def not_utf8(e: UnicodeDecodeError) -> str:
    """The one-line reason for a file that is not text (a binary file given by mistake)."""
    return f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}): a binary file?"


def iter_jsonl_strict(path: str | Path, expected: str = "one JSON object per line") -> Iterator[tuple[Any, Origin]]:
    """Like iter_jsonl, but the first bad line raises its DataError."""
    for row, origin in iter_jsonl(path, expected):
        if isinstance(row, DataError):
            raise row
        yield row, origin
