"""Exceptions raised by argkit."""


class SpecError(Exception):
    """The parser was declared wrongly (a programming error, e.g. two options with the same name)."""


class ParseError(Exception):
    """The command line does not match the declared arguments (a user error).

    `str(error)` is the message; `error.usage` the usage line of the parser that failed.
    """

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def format(self) -> str:
        """The message as a command-line tool prints it: usage, then the error."""
        return f"{self.usage}\nerror: {self.message}" if self.usage else f"error: {self.message}"
