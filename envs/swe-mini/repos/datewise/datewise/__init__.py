"""datewise: forgiving date and duration parsing."""

from datewise.calendar import add_months, days_in_month, is_leap_year, weekday_number
from datewise.durations import format_duration, parse_duration
from datewise.errors import DateParseError
from datewise.parse import parse_date

__all__ = [
    "DateParseError",
    "add_months",
    "days_in_month",
    "format_duration",
    "is_leap_year",
    "parse_date",
    "parse_duration",
    "weekday_number",
]
__version__ = "2.1.0"
