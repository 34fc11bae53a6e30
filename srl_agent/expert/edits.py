"""Turn a gold patch into the `str_replace` edits a careful agent would make: one per hunk, with the smallest
amount of surrounding context that makes `old_str` unique in the file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Replacement:
    """One str_replace: `old` occurs exactly once in the file at the moment it is applied."""

    path: str  # relative to the repository root
    old: str
    new: str
    line: int  # 1-based line where `old` starts in the file before the edit


def _unique_window(lines: list[str], start: int, end: int, added: list[str]) -> tuple[str, str, int]:
    """Grow context around lines[start:end] (the removed lines; empty for an insertion) until the old text is
    non-empty and unique in the file; the context comes from the file itself, so it can go past the hunk's."""
    text = "".join(lines)
    for total in range(len(lines) + 1):
        for kb in range(total + 1):
            ka = total - kb
            if kb > start or end + ka > len(lines):
                continue
            old = "".join(lines[start - kb:end + ka])
            if old.strip() and text.count(old) == 1:
                new = "".join(lines[start - kb:start] + added + lines[end:end + ka])
                if old.endswith("\n") and new.endswith("\n") and text.count(old[:-1]) == 1:
                    old, new = old[:-1], new[:-1]  # agents rarely end a snippet with a newline
                return old, new, start - kb + 1
    raise ValueError("no unique context for a hunk of the gold patch")


def replacements(gold_patch: str, read: Callable[[str], str]) -> list[Replacement]:
    """The edits for `gold_patch`, in order; `read(path)` returns a file's text at the base commit."""
    from unidiff import PatchSet

    edits = []
    for patched in PatchSet(gold_patch):
        lines = read(patched.path).splitlines(keepends=True)
        shift = 0  # lines added minus removed by the earlier hunks of this file
        for hunk in patched:
            body = list(hunk)
            changed = [i for i, line in enumerate(body) if not line.is_context]
            start = hunk.source_start - 1 + shift + changed[0]  # every line before the first change is context
            middle = body[changed[0]:changed[-1] + 1]
            removed = sum(1 for line in middle if not line.is_added)
            added = [line.value for line in middle if not line.is_removed]
            old, new, line_no = _unique_window(lines, start, start + removed, added)
            edits.append(Replacement(patched.path, old, new, line_no))
            lines[start:start + removed] = added
            shift += len(added) - removed
    return edits
