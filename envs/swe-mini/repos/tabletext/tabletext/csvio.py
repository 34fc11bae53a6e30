"""Reading tables from CSV text and writing them back."""

from __future__ import annotations

import csv
import io
from typing import Optional

from tabletext.numbers import is_number
from tabletext.table import Table


def _convert(cell: str) -> object:
    """Turn numeric-looking CSV cells into numbers so they are aligned and sorted as numbers."""
    if not is_number(cell) or cell.strip().endswith("%"):
        return cell
    plain = cell.strip().replace(",", "")
    try:
        return int(plain)
    except ValueError:
        return float(plain)


def from_csv(text: str, delimiter: str = ",", header: bool = True, convert: bool = True,
             missing: Optional[str] = None) -> Table:
    """Build a Table from CSV text.

    Without a header row, columns are named "1", "2", ... Empty cells become missing values (shown as `missing`,
    or the table default). With `convert`, numeric cells become numbers.
    """
    rows = [row for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]
    if not rows:
        raise ValueError("no rows in CSV input")
    headers = rows.pop(0) if header else [str(i + 1) for i in range(len(rows[0]))]
    table = Table(headers) if missing is None else Table(headers, missing=missing)
    for number, row in enumerate(rows, start=2 if header else 1):
        if len(row) != len(headers):
            raise ValueError(f"CSV line {number} has {len(row)} fields, expected {len(headers)}")
        table.add_row([None if cell == "" else (_convert(cell) if convert else cell) for cell in row])
    return table


def to_csv(table: Table, delimiter: str = ",") -> str:
    """The table's headers and raw cell values as CSV text (missing cells are empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow([c.header for c in table.columns])
    for row in table.rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue()
