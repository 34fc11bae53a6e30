"""Border styles. A style says which characters draw the frame; `None` parts are simply not drawn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Style:
    """The characters that draw one table style.

    `top`, `header_rule`, `row_rule` and `bottom` are horizontal rules made of (fill, left, junction, right);
    a rule that is `None` is not drawn. `vertical` separates cells on content lines (left, middle, right).
    """

    name: str
    top: Optional[tuple[str, str, str, str]]
    header_rule: Optional[tuple[str, str, str, str]]
    row_rule: Optional[tuple[str, str, str, str]]
    bottom: Optional[tuple[str, str, str, str]]
    vertical: tuple[str, str, str]
    padding: int = 1


STYLES = {
    "plain": Style("plain", None, None, None, None, ("", "  ", ""), padding=0),
    "simple": Style("simple", None, ("-", "", "  ", ""), None, None, ("", "  ", ""), padding=0),
    "grid": Style(
        "grid",
        top=("-", "+", "+", "+"),
        header_rule=("=", "+", "+", "+"),
        row_rule=None,
        bottom=("-", "+", "+", "+"),
        vertical=("|", "|", "|"),
    ),
    "rst": Style("rst", ("=", "", " ", ""), ("=", "", " ", ""), None, ("=", "", " ", ""), ("", " ", ""), padding=0),
    "markdown": Style("markdown", None, ("-", "|", "|", "|"), None, None, ("|", "|", "|")),
}


def get_style(name_or_style: str | Style) -> Style:
    """Return a Style from its name (see STYLES) or pass a Style through."""
    if isinstance(name_or_style, Style):
        return name_or_style
    try:
        return STYLES[name_or_style]
    except KeyError:
        known = ", ".join(sorted(STYLES))
        raise ValueError(f"unknown table style {name_or_style!r} (known styles: {known})") from None


def draw_rule(rule: tuple[str, str, str, str], widths: list[int], padding: int) -> str:
    """One horizontal rule for columns of the given content widths."""
    fill, left, junction, right = rule
    segments = [fill * (width + 2 * padding) for width in widths]
    return left + junction.join(segments) + right
