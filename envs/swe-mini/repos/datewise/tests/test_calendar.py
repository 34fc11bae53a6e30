from datetime import date

import pytest

from datewise import add_months, days_in_month, is_leap_year, weekday_number
from datewise.calendar import make_date, month_number


@pytest.mark.parametrize("year,leap", [(2024, True), (2023, False), (2000, True), (1900, False), (2100, False)])
def test_leap_years(year, leap):
    assert is_leap_year(year) is leap


def test_days_in_month():
    assert [days_in_month(2023, m) for m in range(1, 13)] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    assert days_in_month(2024, 2) == 29


def test_february_of_century_years():
    assert days_in_month(1900, 2) == 28
    assert days_in_month(2000, 2) == 29


def test_days_in_month_rejects_bad_month():
    with pytest.raises(ValueError):
        days_in_month(2024, 13)


def test_add_months_simple():
    assert add_months(date(2024, 3, 15), 2) == date(2024, 5, 15)


def test_add_months_across_years():
    assert add_months(date(2023, 11, 3), 3) == date(2024, 2, 3)
    assert add_months(date(2024, 1, 10), -2) == date(2023, 11, 10)


def test_add_months_clamps_to_month_end():
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 5, 31), -1) == date(2024, 4, 30)


def test_add_twelve_months_from_leap_day():
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)


@pytest.mark.parametrize("name,number", [("March", 3), ("mar", 3), ("Sept", 9), ("sep.", 9), ("DECEMBER", 12)])
def test_month_number(name, number):
    assert month_number(name) == number


def test_month_number_unknown():
    with pytest.raises(KeyError):
        month_number("ma")


def test_weekday_number():
    assert weekday_number("Monday") == 0
    assert weekday_number("sun") == 6


def test_make_date_messages():
    with pytest.raises(ValueError, match="day 31 is out of range for 2024-04"):
        make_date(2024, 4, 31)
    with pytest.raises(ValueError, match="month 0 is out of range"):
        make_date(2024, 0, 1)
