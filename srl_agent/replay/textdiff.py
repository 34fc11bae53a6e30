"""Character-level diff of two action texts (the policy's and the expert's), for display.

Lines are matched first and characters only inside changed line blocks: a plain character SequenceMatcher is quadratic
and, on two 10 kB `file_text` edits, takes seconds; matching lines first keeps it interactive and reads better.
The reward itself is computed by srl_agent.reward on the whole strings; this only decides what to highlight.
"""

from __future__ import annotations

from difflib import SequenceMatcher

# Above this many character pairs a changed block is shown as replaced whole (no per-character alignment).
CHAR_LIMIT = 2_000_000

Op = tuple[str, str, str]  # (tag, text in a, text in b); tag is equal, delete, insert or replace


def char_diff(a: str, b: str) -> list[Op]:
    """Opcodes turning `a` into `b`, character-level inside changed lines; adjacent ops of one tag are merged."""
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    ops: list[Op] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a_lines, b_lines, autojunk=False).get_opcodes():
        sa, sb = "".join(a_lines[i1:i2]), "".join(b_lines[j1:j2])
        if tag == "replace" and len(sa) * len(sb) <= CHAR_LIMIT:
            sm = SequenceMatcher(None, sa, sb, autojunk=False)
            ops += [(t, sa[p1:p2], sb[q1:q2]) for t, p1, p2, q1, q2 in sm.get_opcodes()]
        else:
            ops.append((tag, sa, sb))
    merged: list[Op] = []
    for op in ops:
        if merged and merged[-1][0] == op[0]:
            last = merged.pop()
            op = (op[0], last[1] + op[1], last[2] + op[2])
        merged.append(op)
    return merged


def changed_chars(ops: list[Op]) -> tuple[int, int]:
    """(characters only in a, characters only in b)."""
    return sum(len(a) for t, a, _ in ops if t != "equal"), sum(len(b) for t, _, b in ops if t != "equal")
