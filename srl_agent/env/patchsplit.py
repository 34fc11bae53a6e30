"""Splitting a repository diff into the test patch and the gold (source) patch, as SWE-bench task collection does."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

_TEST_DIRS = frozenset({"test", "tests", "testing"})
_FILE_START = re.compile(r"^diff --git ", re.MULTILINE)


def is_test_path(path: str) -> bool:
    """True for files a test patch owns: anything under a test(s)/testing folder, test_*.py, *_test.py, conftest.py."""
    p = PurePosixPath(path)
    return (
        bool(_TEST_DIRS & set(p.parts[:-1]))
        or p.name.startswith("test_")
        or p.name.endswith("_test.py")
        or p.name == "conftest.py"
    )


def split_patch(diff: str, is_test: Callable[[str], bool] = is_test_path) -> tuple[str, str]:
    """(gold patch, test patch) of a `git diff`. Each file's section is kept byte for byte; unidiff parses the diff
    to find every file's path (the target path, or the source path for a deletion)."""
    from unidiff import PatchSet

    if not diff.strip():
        return "", ""
    # Lines end at "\n" only: a file may hold a bare "\r" (str.splitlines, which unidiff uses on a string, would
    # cut the line there and break the hunk's line count).
    files = list(PatchSet(re.findall(r"[^\n]*\n|[^\n]+$", diff)))
    starts = [m.start() for m in _FILE_START.finditer(diff)]
    if len(starts) != len(files):
        raise ValueError(f"expected one 'diff --git' header per file: {len(starts)} headers, {len(files)} files")
    sections = [diff[a:b] for a, b in zip(starts, starts[1:] + [len(diff)], strict=True)]
    gold, test = [], []
    for patched, section in zip(files, sections, strict=True):
        path = patched.target_file if not patched.is_removed_file else patched.source_file
        path = path.split("/", 1)[1] if path.startswith(("a/", "b/")) else path
        (test if is_test(path) else gold).append(section)
    return "".join(gold), "".join(test)
