"""The single error type of datewise."""


class DateParseError(ValueError):
    """Text that is not a date or duration datewise understands. `text` is the input, `reason` what went wrong."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"cannot parse {text!r}: {reason}")
        self.text = text
        self.reason = reason
