from datetime import date

import pytest

from datewise import DateParseError, parse_date

TODAY = date(2024, 3, 5)  # a Tuesday


@pytest.mark.parametrize("text", ["2024-03-05", "2024/03/05", "20240305", "2024-3-5", "  2024-03-05  "])
def test_iso_like(text):
    assert parse_date(text) == date(2024, 3, 5)


def test_slashed_is_month_first_by_default():
    assert parse_date("03/05/2024") == date(2024, 3, 5)


def test_slashed_dayfirst():
    assert parse_date("03/05/2024", dayfirst=True) == date(2024, 5, 3)


def test_dotted_is_day_first():
    assert parse_date("05.03.2024") == date(2024, 3, 5)


def test_two_digit_years():
    assert parse_date("03/05/24") == date(2024, 3, 5)
    assert parse_date("03/05/85") == date(1985, 3, 5)


@pytest.mark.parametrize("text", ["March 5, 2024", "Mar 5 2024", "mar. 5, 2024", "5 March 2024", "5 Mar, 2024"])
def test_month_names(text):
    assert parse_date(text) == date(2024, 3, 5)


@pytest.mark.parametrize("text,day", [("March 1st, 2024", 1), ("March 2nd 2024", 2), ("3rd March 2024", 3),
                                      ("Mar 4th, 2024", 4)])
def test_ordinal_days(text, day):
    assert parse_date(text) == date(2024, 3, day)


def test_leap_day():
    assert parse_date("2024-02-29") == date(2024, 2, 29)


def test_leap_day_in_century_year_is_rejected():
    with pytest.raises(DateParseError, match="day 29 is out of range for 1900-02"):
        parse_date("1900-02-29")


def test_invalid_day():
    with pytest.raises(DateParseError, match="day 31 is out of range"):
        parse_date("2024-04-31")


def test_unknown_month():
    with pytest.raises(DateParseError, match="unknown month 'smarch'"):
        parse_date("Smarch 5, 2024")


@pytest.mark.parametrize("text", ["", "   ", "soon", "2024-13", "32/32/2024x"])
def test_garbage(text):
    with pytest.raises(DateParseError):
        parse_date(text, today=TODAY)


def test_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_date("not a date")


@pytest.mark.parametrize("text,expected", [
    ("today", date(2024, 3, 5)),
    ("Tomorrow", date(2024, 3, 6)),
    ("yesterday", date(2024, 3, 4)),
    ("3 days ago", date(2024, 3, 2)),
    ("a week ago", date(2024, 2, 27)),
    ("in 2 weeks", date(2024, 3, 19)),
    ("in 1 month", date(2024, 4, 5)),
    ("2 years ago", date(2022, 3, 5)),
])
def test_relative(text, expected):
    assert parse_date(text, today=TODAY) == expected


def test_month_ago_clamps():
    assert parse_date("a month ago", today=date(2024, 3, 31)) == date(2024, 2, 29)


@pytest.mark.parametrize("text,expected", [
    ("next friday", date(2024, 3, 8)),
    ("next monday", date(2024, 3, 11)),
    ("last monday", date(2024, 3, 4)),
    ("last friday", date(2024, 3, 1)),
    ("this thursday", date(2024, 3, 7)),
    ("this monday", date(2024, 3, 4)),
])
def test_weekdays(text, expected):
    assert parse_date(text, today=TODAY) == expected


def test_next_same_weekday_is_a_week_later():
    assert parse_date("next tuesday", today=TODAY) == date(2024, 3, 12)


def test_last_same_weekday_is_a_week_earlier():
    assert parse_date("last tuesday", today=TODAY) == date(2024, 2, 27)


def test_unknown_weekday():
    with pytest.raises(DateParseError, match="unknown weekday 'funday'"):
        parse_date("next funday", today=TODAY)
