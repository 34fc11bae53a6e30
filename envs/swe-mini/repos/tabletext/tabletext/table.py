"""The Table: rows of cells, column settings, and rendering to text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from tabletext.numbers import decimal_align, format_number, is_number
from tabletext.styles import Style, draw_rule, get_style
from tabletext.text import display_width, pad, wrap


@dataclass
class Column:
    """Settings of one column.

    `align` is "left", "right", "center", "decimal" or None (automatic: numbers right, text left).
    `max_width` wraps longer cells onto several lines. `decimals` and `thousands` format numeric cells.
    """

    header: str
    align: Optional[str] = None
    max_width: Optional[int] = None
    decimals: Optional[int] = None
    thousands: bool = False


class Table:
    """A text table. Add rows, then `render()` (or `str(table)`)."""

    def __init__(self, headers: Sequence[str] | Sequence[Column], missing: str = "") -> None:
        self.columns = [h if isinstance(h, Column) else Column(str(h)) for h in headers]
        self.rows: list[list[Any]] = []
        self.missing = missing

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], headers: Optional[Sequence[str]] = None,
                     missing: str = "") -> "Table":
        """Build a table from dictionaries. Without `headers`, columns are the keys in order of first appearance.

        A record without some key gets the `missing` text in that column.
        """
        records = list(records)
        if headers is None:
            seen: dict[str, None] = {}
            for record in records:
                seen.update(dict.fromkeys(record))
            headers = list(seen)
        table = cls(headers, missing=missing)
        for record in records:
            table.add_row([record.get(h, None) for h in headers])
        return table

    def add_row(self, cells: Sequence[Any]) -> None:
        """Append a row; it must have one cell per column. `None` cells show the table's `missing` text."""
        if len(cells) != len(self.columns):
            raise ValueError(f"row has {len(cells)} cells but the table has {len(self.columns)} columns")
        self.rows.append(list(cells))

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.add_row(row)

    def column(self, header: str) -> Column:
        """The settings of the column with this header (KeyError if there is none)."""
        for column in self.columns:
            if column.header == header:
                return column
        raise KeyError(header)

    def sort_by(self, header: str, reverse: bool = False) -> None:
        """Sort the rows by one column. Missing values go last; numbers sort numerically."""
        index = self.columns.index(self.column(header))

        def key(row: list[Any]) -> tuple[int, Any]:
            value = row[index]
            if value is None:
                return (2, 0)
            if is_number(value):
                return (0, float(str(value).replace(",", "").rstrip("%")))
            return (1, str(value))

        present = [r for r in self.rows if r[index] is not None]
        absent = [r for r in self.rows if r[index] is None]
        self.rows = sorted(present, key=key, reverse=reverse) + absent

    # -- rendering ------------------------------------------------------------------------------------------------

    def _cell_text(self, value: Any, column: Column) -> str:
        if value is None:
            return self.missing
        if is_number(value) and (column.decimals is not None or column.thousands or not isinstance(value, str)):
            return format_number(value, column.decimals, column.thousands)
        return str(value)

    def _alignment(self, index: int) -> str:
        column = self.columns[index]
        if column.align is not None:
            return column.align
        values = [row[index] for row in self.rows if row[index] is not None]
        return "right" if values and all(is_number(v) for v in values) else "left"

    def _layout(self) -> tuple[list[list[list[str]]], list[str], list[int]]:
        """Cell lines for every row (after wrapping), the alignment and content width of every column."""
        texts = [[self._cell_text(v, c) for v, c in zip(row, self.columns)] for row in self.rows]
        aligns = []
        for i in range(len(self.columns)):
            align = self._alignment(i)
            if align == "decimal":
                for row, cell in zip(texts, decimal_align([row[i] for row in texts])):
                    row[i] = cell
                align = "right"
            aligns.append(align)
        lines = [[wrap(text, c.max_width) if c.max_width else text.split("\n")
                  for text, c in zip(row, self.columns)] for row in texts]
        widths = []
        for i, column in enumerate(self.columns):
            header_lines = wrap(column.header, column.max_width) if column.max_width else [column.header]
            cells = [line for row in lines for line in row[i]] + header_lines
            widths.append(max(display_width(line) for line in cells))
        return lines, aligns, widths

    def _content_lines(self, cells: list[list[str]], aligns: list[str], widths: list[int], style: Style) -> list[str]:
        height = max(len(c) for c in cells)
        left, middle, right = style.vertical
        space = " " * style.padding
        out = []
        for n in range(height):
            parts = [space + pad(c[n] if n < len(c) else "", w, a) + space for c, a, w in zip(cells, aligns, widths)]
            out.append((left + middle.join(parts) + right).rstrip())
        return out

    def render(self, style: str | Style = "simple") -> str:
        """The table as text, without a trailing newline."""
        style = get_style(style)
        rows, aligns, widths = self._layout()
        headers = [wrap(c.header, c.max_width) if c.max_width else [c.header] for c in self.columns]
        out: list[str] = []
        if style.top:
            out.append(draw_rule(style.top, widths, style.padding))
        out += self._content_lines(headers, aligns, widths, style)
        if style.header_rule:
            out.append(draw_rule(style.header_rule, widths, style.padding))
        for i, cells in enumerate(rows):
            if i and style.row_rule:
                out.append(draw_rule(style.row_rule, widths, style.padding))
            out += self._content_lines(cells, aligns, widths, style)
        if style.bottom:
            out.append(draw_rule(style.bottom, widths, style.padding))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()
