import pytest

from tabletext.csvio import from_csv, to_csv


def test_from_csv_with_header():
    table = from_csv("name,qty\napple,3\nbanana,12\n")
    assert [c.header for c in table.columns] == ["name", "qty"]
    assert table.rows == [["apple", 3], ["banana", 12]]


def test_from_csv_without_header():
    table = from_csv("a,1\nb,2\n", header=False)
    assert [c.header for c in table.columns] == ["1", "2"]


def test_from_csv_converts_floats():
    assert from_csv("x\n2.5\n").rows == [[2.5]]


def test_from_csv_keeps_percentages_as_text():
    assert from_csv("x\n12%\n").rows == [["12%"]]


def test_from_csv_negative_numbers():
    assert from_csv("x\n-4\n-0.5\n").rows == [[-4], [-0.5]]


def test_from_csv_without_conversion():
    assert from_csv("x\n7\n", convert=False).rows == [["7"]]


def test_from_csv_empty_cells_are_missing():
    table = from_csv("a,b\n1,\n", missing="n/a")
    assert table.rows == [[1, None]]
    assert "n/a" in table.render()


def test_from_csv_semicolon_delimiter():
    assert from_csv("a;b\n1;2\n", delimiter=";").rows == [[1, 2]]


def test_from_csv_rejects_ragged_rows():
    with pytest.raises(ValueError, match="CSV line 3 has 1 fields, expected 2"):
        from_csv("a,b\n1,2\n3\n")


def test_from_csv_rejects_empty_input():
    with pytest.raises(ValueError):
        from_csv("")


def test_round_trip():
    text = "name,qty\napple,3\nbanana,\n"
    assert to_csv(from_csv(text)) == text
