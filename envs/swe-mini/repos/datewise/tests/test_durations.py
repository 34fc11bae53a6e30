from datetime import timedelta

import pytest

from datewise import DateParseError, format_duration, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("1h30m", 5400),
    ("1h 30m", 5400),
    ("2 days 4 hours", 187200),
    ("1 hour, 5 minutes and 3 seconds", 3903),
    ("90s", 90),
    ("45", 45),
    ("1w", 604800),
    ("250ms", 0.25),
    ("1:30", 5400),
    ("0:01:30", 90),
    ("-15m", -900),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text,seconds", [("1.5h", 5400), ("0.5 days", 43200), ("2.5s", 2.5)])
def test_parse_fractional_units(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text,seconds", [("PT1H30M", 5400), ("P2D", 172800), ("pt45s", 45), ("P1W", 604800),
                                          ("P1DT12H", 129600)])
def test_parse_iso(text, seconds):
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "P1Y", "1 fortnight", "h", "1h x", "10:75"])
def test_parse_duration_errors(text):
    with pytest.raises(DateParseError):
        parse_duration(text)


@pytest.mark.parametrize("value,text", [
    (0, "0s"),
    (45, "45s"),
    (5400, "1h 30m"),
    (3600, "1h"),
    (90061, "1d 1h 1m 1s"),
    (timedelta(minutes=2), "2m"),
    (-90, "-1m 30s"),
])
def test_format_duration(value, text):
    assert format_duration(value) == text


def test_format_duration_precision():
    assert format_duration(5429, precision="m") == "1h 30m"
    assert format_duration(100, precision="h") == "0h"


def test_format_rounds_up_into_the_next_unit():
    assert format_duration(59.6) == "1m"
    assert format_duration(3599.7) == "1h"


def test_format_rejects_bad_precision():
    with pytest.raises(ValueError):
        format_duration(1, precision="y")


def test_round_trip():
    for text in ["1h 30m", "2d 3h", "45s", "1d 1h 1m 1s"]:
        assert format_duration(parse_duration(text)) == text
