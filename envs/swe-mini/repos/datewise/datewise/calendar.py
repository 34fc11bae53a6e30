"""Calendar arithmetic that the standard library leaves out."""

from __future__ import annotations

from datetime import date

MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6,
    "july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def is_leap_year(year: int) -> bool:
    """Gregorian rule: every 4th year, except centuries, except every 4th century."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    if not 1 <= month <= 12:
        raise ValueError(f"month must be in 1..12, got {month}")
    if month == 2:
        return 29 if is_leap_year(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier, if negative), clamped to the end of shorter months.

    add_months(date(2024, 1, 31), 1) is date(2024, 2, 29).
    """
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, days_in_month(year, month)))


def month_number(name: str) -> int:
    """1..12 for a month name or its first three letters, case-insensitive ("Sep" and "sept" work)."""
    key = name.strip().lower().rstrip(".")
    for full, number in MONTHS.items():
        if key == full or (len(key) >= 3 and full.startswith(key)):
            return number
    raise KeyError(name)


def weekday_number(name: str) -> int:
    """0 (Monday) .. 6 (Sunday) for a weekday name or its first three letters."""
    key = name.strip().lower()
    for number, full in enumerate(WEEKDAYS):
        if key == full or (len(key) >= 3 and full.startswith(key)):
            return number
    raise KeyError(name)


def make_date(year: int, month: int, day: int) -> date:
    """A date, with a ValueError message that says which part is wrong."""
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is out of range")
    last = days_in_month(year, month)
    if not 1 <= day <= last:
        raise ValueError(f"day {day} is out of range for {year}-{month:02d} (last day {last})")
    return date(year, month, day)
