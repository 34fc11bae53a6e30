"""parse_date: absolute dates in the common written forms, and relative ones ("3 days ago", "next friday")."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Optional

from datewise.calendar import add_months, make_date, month_number, weekday_number
from datewise.errors import DateParseError

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$|^(\d{4})/(\d{1,2})/(\d{1,2})$|^(\d{4})(\d{2})(\d{2})$")
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4})$")
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_MONTH_FIRST = re.compile(r"^([a-z]+)\.?\s+" + _DAY + r",?\s+(\d{4})$")
_DAY_FIRST = re.compile(r"^" + _DAY + r"\s+([a-z]+)\.?,?\s+(\d{4})$")
_AGO = re.compile(r"^(\d+|a|an|one)\s+(day|week|month|year)s?\s+ago$")
_IN = re.compile(r"^in\s+(\d+|a|an|one)\s+(day|week|month|year)s?$")
_WEEKDAY = re.compile(r"^(next|last|this)\s+([a-z]+)$")
_NAMED = {"today": 0, "tomorrow": 1, "yesterday": -1}
_TWO_DIGIT_PIVOT = 70  # "24" is 2024, "85" is 1985


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < _TWO_DIGIT_PIVOT else 1900
    return year


def _shift(today: date, amount: int, unit: str) -> date:
    if unit == "day":
        return today + timedelta(days=amount)
    if unit == "week":
        return today + timedelta(weeks=amount)
    if unit == "month":
        return add_months(today, amount)
    return add_months(today, 12 * amount)


def _relative(text: str, today: date) -> Optional[date]:
    if text in _NAMED:
        return today + timedelta(days=_NAMED[text])
    for pattern, sign in ((_AGO, -1), (_IN, 1)):
        match = pattern.match(text)
        if match:
            count, unit = match.groups()
            amount = 1 if count in ("a", "an", "one") else int(count)
            return _shift(today, sign * amount, unit)
    match = _WEEKDAY.match(text)
    if match:
        which, name = match.groups()
        try:
            target = weekday_number(name)
        except KeyError:
            raise DateParseError(text, f"unknown weekday {name!r}") from None
        if which == "next":
            # "next friday" said on a Friday means the Friday a week later, never today.
            return today + timedelta(days=(target - today.weekday()) % 7 or 7)
        if which == "last":
            return today - timedelta(days=(today.weekday() - target) % 7 or 7)
        return today + timedelta(days=target - today.weekday())
    return None


def _absolute(text: str, dayfirst: bool) -> Optional[date]:
    match = _ISO.match(text)
    if match:
        year, month, day = (int(g) for g in match.groups() if g is not None)
        return make_date(year, month, day)
    match = _SLASHED.match(text)
    if match:
        first, second, year = match.groups()
        day, month = (first, second) if dayfirst else (second, first)
        return make_date(_year(year), int(month), int(day))
    match = _DOTTED.match(text)
    if match:
        day, month, year = match.groups()
        return make_date(_year(year), int(month), int(day))
    for pattern, month_group, day_group in ((_MONTH_FIRST, 1, 2), (_DAY_FIRST, 2, 1)):
        match = pattern.match(text)
        if match:
            try:
                month = month_number(match.group(month_group))
            except KeyError:
                raise ValueError(f"unknown month {match.group(month_group)!r}") from None
            return make_date(int(match.group(3)), month, int(match.group(day_group)))
    return None


def parse_date(text: str, today: Optional[date] = None, dayfirst: bool = False) -> date:
    """Parse a date written by a human.

    Absolute forms: "2024-03-05", "2024/03/05", "20240305", "03/05/2024" (month first unless `dayfirst`),
    "05.03.2024" (always day first), "March 5, 2024", "Mar 5th 2024", "5 March 2024". Two-digit years below 70
    are in the 2000s. Relative forms (counted from `today`, default: the current date): "today", "yesterday",
    "tomorrow", "3 days ago", "in 2 weeks", "a month ago", "next friday", "last monday", "this sunday".
    """
    cleaned = " ".join(text.strip().lower().split())
    if not cleaned:
        raise DateParseError(text, "empty date")
    try:
        found = _relative(cleaned, today or date.today())
        if found is None:
            found = _absolute(cleaned, dayfirst)
    except DateParseError:
        raise
    except ValueError as e:
        raise DateParseError(text, str(e)) from None
    if found is None:
        raise DateParseError(text, "unrecognised date format")
    return found
