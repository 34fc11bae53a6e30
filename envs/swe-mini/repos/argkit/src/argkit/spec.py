"""Declarations of options and positional arguments, and conversion of their values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from argkit.errors import SpecError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def to_bool(text: str) -> bool:
    """Parse yes/no style words (used for flags set from environment variables)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def convert_value(type_: Callable[[str], Any], choices: Optional[Sequence[Any]], name: str, text: str) -> Any:
    """`type_(text)`, checked against `choices`; raises ValueError with a message that names the argument."""
    try:
        value = type_(text)
    except (TypeError, ValueError):
        type_name = getattr(type_, "__name__", "value")
        raise ValueError(f"invalid {type_name} value for {name}: {text!r}") from None
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"invalid choice for {name}: {text!r} (choose from {allowed})")
    return value


@dataclass
class Option:
    """An option such as `--retries 3` or `-r 3`, or a flag such as `--verbose` (`flag=True`).

    `nargs` is None for one value, "*" or "+" for a list of values up to the next option. `count` flags count how
    often they appear (`-vvv` is 3). `env` names an environment variable that provides the default.
    """

    names: tuple[str, ...]
    dest: str
    type: Callable[[str], Any] = str
    default: Any = None
    required: bool = False
    choices: Optional[Sequence[Any]] = None
    help: str = ""
    flag: bool = False
    count: bool = False
    nargs: Optional[str] = None
    env: Optional[str] = None
    metavar: Optional[str] = None

    def __post_init__(self) -> None:
        for name in self.names:
            if not name.startswith("-") or name in ("-", "--"):
                raise SpecError(f"option names must start with '-': {name!r}")
            if not name.startswith("--") and len(name) != 2:
                raise SpecError(f"short options are one letter: {name!r}")
        if self.nargs not in (None, "*", "+"):
            raise SpecError(f"nargs must be None, '*' or '+', got {self.nargs!r}")
        if (self.flag or self.count) and self.nargs:
            raise SpecError(f"flag {self.names[0]} cannot take values (nargs)")

    @property
    def display_name(self) -> str:
        return self.names[0]

    def takes_value(self) -> bool:
        return not (self.flag or self.count)

    def convert(self, text: str) -> Any:
        """Convert one command-line string, checking `choices`; raises ValueError with a readable message."""
        return convert_value(self.type, self.choices, self.display_name, text)


@dataclass
class Positional:
    """A positional argument. `nargs` is None (exactly one), "?" (optional), "*" or "+" (the rest)."""

    dest: str
    type: Callable[[str], Any] = str
    default: Any = None
    nargs: Optional[str] = None
    choices: Optional[Sequence[Any]] = None
    help: str = ""
    names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.nargs not in (None, "?", "*", "+"):
            raise SpecError(f"nargs must be None, '?', '*' or '+', got {self.nargs!r}")
        self.names = (self.dest,)

    @property
    def display_name(self) -> str:
        return self.dest

    def convert(self, text: str) -> Any:
        return convert_value(self.type, self.choices, self.display_name, text)


def dest_from_names(names: Sequence[str]) -> str:
    """The attribute name for an option: its first long name without dashes, '-' becoming '_'."""
    longs = [n for n in names if n.startswith("--")]
    chosen = longs[0] if longs else names[0]
    return chosen.lstrip("-").replace("-", "_")
