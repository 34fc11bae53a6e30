"""Measuring, padding and wrapping cell text."""

from __future__ import annotations

import re
import unicodedata

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    """Remove terminal colour codes (SGR escape sequences)."""
    return _ANSI_ESCAPE.sub("", text)


def display_width(text: str) -> int:
    """How many terminal columns `text` occupies.

    Colour codes take no room, wide East Asian characters take two columns and combining marks take none.
    """
    width = 0
    for char in strip_ansi(text):
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(text: str, width: int, align: str) -> str:
    """Pad `text` with spaces to `width` display columns; `align` is "left", "right" or "center"."""
    gap = max(width - display_width(text), 0)
    if align == "right":
        return " " * gap + text
    if align == "center":
        left = gap // 2
        return " " * left + text + " " * (gap - left)
    if align == "left":
        return text + " " * gap
    raise ValueError(f"unknown alignment {align!r}: use 'left', 'right' or 'center'")


def wrap(text: str, width: int) -> list[str]:
    """Split `text` into lines of at most `width` columns, breaking at spaces.

    Existing line breaks are kept. A word longer than `width` is cut into pieces.
    """
    if width < 1:
        raise ValueError("wrap width must be at least 1")
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split(" "):
            while display_width(word) > width:
                if current:
                    lines.append(current)
                    current = ""
                lines.append(word[:width])
                word = word[width:]
            if not current:
                current = word
            elif display_width(current) + 1 + display_width(word) <= width:
                current = f"{current} {word}"
            else:
                lines.append(current)
                current = word
        lines.append(current)
    return lines
