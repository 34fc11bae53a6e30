from decimal import Decimal

import pytest

from tabletext.numbers import decimal_align, format_number, is_number


@pytest.mark.parametrize("value", [0, 42, 3.5, Decimal("1.25"), "17", "3.25", "1e3", "12%", "1,200", ".5"])
def test_is_number_accepts(value):
    assert is_number(value)


@pytest.mark.parametrize("value", ["-3.5", "-12", "+7", "-1e-3"])
def test_is_number_accepts_signed_strings(value):
    assert is_number(value)


@pytest.mark.parametrize("value", [True, None, "abc", "", "1.2.3", "12 apples", [1]])
def test_is_number_rejects(value):
    assert not is_number(value)


def test_format_integer_with_thousands():
    assert format_number(1234567, thousands=True) == "1,234,567"


def test_format_float_with_decimals():
    assert format_number(3.14159, decimals=2) == "3.14"


def test_format_numeric_string_with_decimals():
    assert format_number("2.5", decimals=3) == "2.500"


def test_format_plain_string_is_unchanged():
    assert format_number("12%") == "12%"


def test_format_nan_and_inf():
    assert format_number(float("nan"), decimals=2) == "nan"
    assert format_number(float("-inf")) == "-inf"


def test_decimal_align_lines_up_points():
    assert decimal_align(["1.5", "10.25", "3"]) == ["1.5 ", "10.25", "3   "]


def test_decimal_align_leaves_text_alone():
    assert decimal_align(["n/a", "1.5"]) == ["n/a", "1.5"]
