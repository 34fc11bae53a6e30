"""Durations: "1h30m", "90s", "1:30:00", "PT1H30M", "2 days", and formatting them back."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Union

from datewise.errors import DateParseError

UNIT_SECONDS = {
    "w": 604800, "week": 604800, "weeks": 604800,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_CLOCK = re.compile(r"^(\d+):([0-5]\d)(?::([0-5]\d(?:\.\d+)?))?$")
_ISO = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def _parse_iso(text: str) -> timedelta:
    match = _ISO.match(text.upper())
    if not match or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        raise DateParseError(text, "not an ISO 8601 duration (years and months are not supported)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


def parse_duration(text: str) -> timedelta:
    """Parse a duration.

    Accepted forms: unit sequences ("1h30m", "2 days 4 hours", "1.5h", "250ms"), clock form ("1:30" is 1 hour
    30 minutes, "0:01:30" is 90 seconds), ISO 8601 ("PT1H30M", "P2D"), a bare number of seconds ("45"),
    and any of those with a leading "-".
    """
    raw = text
    text = text.strip().lower()
    if not text:
        raise DateParseError(raw, "empty duration")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-").strip()
    if text.startswith("p"):
        return sign * _parse_iso(text)
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return sign * timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds or 0))
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return sign * timedelta(seconds=float(text))
    total = 0.0
    position = 0
    for match in _PART.finditer(text):
        if text[position:match.start()].strip(" ,") not in ("", "and"):
            raise DateParseError(raw, f"unexpected text {text[position:match.start()].strip()!r}")
        number, unit = match.groups()
        if unit not in UNIT_SECONDS:
            raise DateParseError(raw, f"unknown unit {unit!r}")
        total += float(number) * UNIT_SECONDS[unit]
        position = match.end()
    if position == 0 or text[position:].strip():
        raise DateParseError(raw, "expected a number followed by a unit, like '1h30m'")
    return sign * timedelta(seconds=total)


def format_duration(value: Union[timedelta, float], precision: str = "s") -> str:
    """A compact human form: 5400 -> "1h 30m", 90061 -> "1d 1h 1m 1s", 0 -> "0s".

    Units that are zero are left out. `precision` ("d", "h", "m" or "s") is the smallest unit shown; the rest
    is rounded away. Negative durations get a leading "-".
    """
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    sign = "-" if seconds < 0 else ""
    units = [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)]
    names = [name for name, _ in units]
    if precision not in names:
        raise ValueError(f"precision must be one of {names}, got {precision!r}")
    smallest = dict(units)[precision]
    remaining = int(round(abs(seconds) / smallest)) * smallest
    parts = []
    for name, size in units[: names.index(precision) + 1]:
        amount, remaining = divmod(remaining, size)
        if amount:
            parts.append(f"{amount}{name}")
    return sign + (" ".join(parts) if parts else f"0{precision}")
