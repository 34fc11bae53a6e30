import pytest

from tabletext import Column, Table, get_style
from tabletext.styles import Style


def make_table():
    table = Table(["name", "qty", "price"])
    table.add_row(["apple", 3, 1.5])
    table.add_row(["banana", 12, 0.25])
    return table


def test_simple_style():
    assert make_table().render() == (
        "name    qty  price\n"
        "------  ---  -----\n"
        "apple     3    1.5\n"
        "banana   12   0.25"
    )


def test_grid_style():
    assert make_table().render(style="grid") == (
        "+--------+-----+-------+\n"
        "| name   | qty | price |\n"
        "+========+=====+=======+\n"
        "| apple  |   3 |   1.5 |\n"
        "| banana |  12 |  0.25 |\n"
        "+--------+-----+-------+"
    )


def test_markdown_style():
    assert make_table().render(style="markdown").splitlines()[:2] == [
        "| name   | qty | price |",
        "|--------|-----|-------|",
    ]


def test_plain_style_has_no_rules():
    assert make_table().render(style="plain").splitlines()[0] == "name    qty  price"
    assert len(make_table().render(style="plain").splitlines()) == 3


def test_str_uses_simple_style():
    table = make_table()
    assert str(table) == table.render("simple")


def test_unknown_style():
    with pytest.raises(ValueError, match="unknown table style 'fancy'"):
        make_table().render(style="fancy")


def test_custom_style_object():
    style = Style("dots", None, (".", "", " ", ""), None, None, ("", " ", ""), padding=0)
    assert get_style(style) is style
    assert make_table().render(style=style).splitlines()[1] == "...... ... ....."


def test_row_length_is_checked():
    with pytest.raises(ValueError, match="row has 2 cells but the table has 3 columns"):
        make_table().add_row(["x", 1])


def test_explicit_alignment():
    table = Table([Column("word", align="right"), Column("n", align="center")])
    table.add_row(["a", 1])
    table.add_row(["abc", 100])
    assert table.render(style="plain").splitlines() == ["word   n", "   a   1", " abc  100"]


def test_missing_values():
    table = Table(["a", "b"], missing="-")
    table.add_row(["x", None])
    assert table.render(style="plain").splitlines()[1] == "x  -"


def test_wrapping_column():
    table = Table([Column("text", max_width=10), "n"])
    table.add_row(["the quick brown fox", 1])
    assert table.render(style="plain").splitlines() == ["text       n", "the quick  1", "brown fox"]


def test_wrapping_cuts_long_words_in_cells():
    table = Table([Column("url", max_width=12)])
    table.add_row(["https://example.com/a/very/long/path"])
    lines = table.render(style="plain").splitlines()
    assert max(len(line) for line in lines) == 12
    assert "".join(line.strip() for line in lines[1:]) == "https://example.com/a/very/long/path"


def test_decimal_alignment():
    table = Table([Column("x", align="decimal")])
    table.add_rows([[1.5], [10.25], [3]])
    assert table.render(style="plain").splitlines() == ["    x", " 1.5", "10.25", " 3"]


def test_number_formatting():
    table = Table([Column("total", decimals=2, thousands=True)])
    table.add_row([1234.5])
    assert table.render(style="plain").splitlines()[1] == "1,234.50"


def test_negative_numbers_are_right_aligned():
    table = Table(["delta"])
    table.add_rows([["-3.5"], ["12"], ["+0.25"]])
    assert table.render(style="plain").splitlines()[1:] == [" -3.5", "   12", "+0.25"]


def test_sort_by_number():
    table = make_table()
    table.sort_by("qty", reverse=True)
    assert [row[0] for row in table.rows] == ["banana", "apple"]


def test_sort_by_negative_number_strings():
    table = Table(["delta"])
    table.add_rows([["5"], ["-10"], ["-2.5"]])
    table.sort_by("delta")
    assert [row[0] for row in table.rows] == ["-10", "-2.5", "5"]


def test_sort_puts_missing_last():
    table = Table(["n"])
    table.add_rows([[None], [2], [1]])
    table.sort_by("n")
    assert [row[0] for row in table.rows] == [1, 2, None]


def test_column_lookup():
    table = make_table()
    assert table.column("qty").header == "qty"
    with pytest.raises(KeyError):
        table.column("colour")


def test_from_records_uses_first_appearance_order():
    table = Table.from_records([{"b": 1, "a": 2}, {"a": 3, "c": 4}])
    assert [c.header for c in table.columns] == ["b", "a", "c"]


def test_from_records_with_missing_keys():
    table = Table.from_records([{"name": "ann", "age": 31}, {"name": "bob"}], missing="?")
    assert table.rows[1] == ["bob", None]
    assert table.render(style="plain").splitlines()[2] == "bob     ?"


def test_from_records_with_explicit_headers():
    table = Table.from_records([{"a": 1, "b": 2}], headers=["b"])
    assert table.rows == [[2]]


def test_coloured_cells_are_aligned():
    table = Table(["status", "n"])
    table.add_row(["\x1b[32mok\x1b[0m", 1])
    table.add_row(["failed", 2])
    lines = table.render(style="plain").splitlines()
    assert lines[1] == "\x1b[32mok\x1b[0m      1"
    assert lines[2] == "failed  2"


def test_wide_characters_are_aligned():
    table = Table(["city", "n"])
    table.add_rows([["東京", 1], ["Paris", 2]])
    assert table.render(style="plain").splitlines()[1:] == ["東京   1", "Paris  2"]
