"""The Parser: declare options, positionals and subcommands, then `parse(argv)`."""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Mapping, Optional, Sequence

from argkit.errors import ParseError, SpecError
from argkit.help import format_help, format_usage
from argkit.spec import Option, Positional, dest_from_names, to_bool

_NEGATIVE_NUMBER = re.compile(r"^-\d+(\.\d+)?([eE][+-]?\d+)?$|^-\.\d+$")


class Namespace:
    """The parsed values, as attributes (`args.verbose`) and as a dict (`vars(args)`)."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Namespace) and vars(self) == vars(other)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"Namespace({inner})"


def looks_like_option(token: str) -> bool:
    """True if `token` is an option name rather than a value ("-5" and "-" are values)."""
    return token.startswith("-") and token != "-" and not _NEGATIVE_NUMBER.match(token)


class Parser:
    """A command-line parser. Declare arguments with `add_option`, `add_flag`, `add_positional` and
    `add_subcommand`, then call `parse(argv)`."""

    def __init__(self, prog: str, description: str = "") -> None:
        self.prog = prog
        self.description = description
        self.options: list[Option] = []
        self.positionals: list[Positional] = []
        self.subcommands: dict[str, Parser] = {}
        self._by_name: dict[str, Option] = {}

    # -- declaration ----------------------------------------------------------------------------------------------

    def _register(self, option: Option) -> Option:
        for name in option.names:
            if name in self._by_name:
                raise SpecError(f"duplicate option name {name}")
        if any(o.dest == option.dest for o in self.options):
            raise SpecError(f"duplicate destination {option.dest!r}")
        self.options.append(option)
        self._by_name.update(dict.fromkeys(option.names, option))
        return option

    def add_option(self, *names: str, dest: Optional[str] = None, type: Callable[[str], Any] = str,
                   default: Any = None, required: bool = False, choices: Optional[Sequence[Any]] = None,
                   nargs: Optional[str] = None, env: Optional[str] = None, help: str = "",
                   metavar: Optional[str] = None) -> Option:
        """Declare an option that takes a value (or several with `nargs="*"`/`"+"`)."""
        if not names:
            raise SpecError("an option needs at least one name")
        return self._register(Option(names, dest or dest_from_names(names), type=type, default=default,
                                     required=required, choices=choices, nargs=nargs, env=env, help=help,
                                     metavar=metavar))

    def add_flag(self, *names: str, dest: Optional[str] = None, count: bool = False, env: Optional[str] = None,
                 help: str = "") -> Option:
        """Declare a flag: False/True, or with `count` the number of times it was given."""
        if not names:
            raise SpecError("a flag needs at least one name")
        return self._register(Option(names, dest or dest_from_names(names), default=0 if count else False,
                                     flag=not count, count=count, env=env, help=help))

    def add_positional(self, dest: str, type: Callable[[str], Any] = str, nargs: Optional[str] = None,
                       default: Any = None, choices: Optional[Sequence[Any]] = None, help: str = "") -> Positional:
        """Declare a positional argument; they are filled in declaration order."""
        if self.positionals and self.positionals[-1].nargs in ("*", "+"):
            raise SpecError(f"positional {dest!r} can never be filled: {self.positionals[-1].dest!r} takes the rest")
        positional = Positional(dest, type=type, nargs=nargs, default=default, choices=choices, help=help)
        self.positionals.append(positional)
        return positional

    def add_subcommand(self, name: str, description: str = "") -> Parser:
        """Declare a subcommand; returns its own Parser. The chosen name is stored in `args.command`."""
        if self.positionals:
            raise SpecError("a parser cannot have both positionals and subcommands")
        sub = Parser(f"{self.prog} {name}", description)
        self.subcommands[name] = sub
        return sub

    # -- help -----------------------------------------------------------------------------------------------------

    def format_usage(self) -> str:
        return format_usage(self)

    def format_help(self) -> str:
        return format_help(self)

    def error(self, message: str) -> ParseError:
        return ParseError(message, self.format_usage())

    # -- parsing --------------------------------------------------------------------------------------------------

    def _lookup(self, name: str) -> Option:
        try:
            return self._by_name[name]
        except KeyError:
            raise self.error(f"unknown option {name}") from None

    def _convert(self, spec: Option | Positional, text: str) -> Any:
        try:
            return spec.convert(text)
        except ValueError as e:
            raise self.error(str(e)) from None

    def _store(self, values: dict[str, Any], option: Option, raw: list[str]) -> None:
        if option.count:
            values[option.dest] = values.get(option.dest, 0) + 1
        elif option.flag:
            values[option.dest] = True
        elif option.nargs:
            values.setdefault(option.dest, []).extend(self._convert(option, t) for t in raw)
        else:
            values[option.dest] = self._convert(option, raw[0])

    def _take_values(self, option: Option, argv: list[str], i: int) -> tuple[list[str], int]:
        """The values for `option` starting at argv[i]; returns them and the index after them."""
        if option.nargs is None:
            if i >= len(argv) or looks_like_option(argv[i]):
                raise self.error(f"option {option.display_name} expects a value")
            return [argv[i]], i + 1
        taken = []
        while i < len(argv) and not looks_like_option(argv[i]) and argv[i] != "--":
            taken.append(argv[i])
            i += 1
        if option.nargs == "+" and not taken:
            raise self.error(f"option {option.display_name} expects at least one value")
        return taken, i

    def parse(self, argv: Optional[Sequence[str]] = None, env: Optional[Mapping[str, str]] = None) -> Namespace:
        """Parse `argv` (default: sys.argv[1:]); `env` provides environment defaults (default: os.environ)."""
        import sys

        argv = list(sys.argv[1:] if argv is None else argv)
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        rest: list[str] = []
        i = 0
        while i < len(argv):
            token = argv[i]
            if token == "--":
                rest.extend(argv[i + 1:])
                break
            if self.subcommands and not looks_like_option(token):
                rest.append(token)
                rest.extend(argv[i + 1:])
                break
            if token.startswith("--"):
                name, has_value, inline = token.partition("=")
                option = self._lookup(name)
                if has_value:
                    if not option.takes_value():
                        raise self.error(f"flag {name} does not take a value")
                    self._store(values, option, [inline])
                    i += 1
                else:
                    raw, i = self._take_values(option, argv, i + 1) if option.takes_value() else ([], i + 1)
                    self._store(values, option, raw)
            elif looks_like_option(token):
                i = self._parse_short_group(token, argv, i, values)
            else:
                rest.append(token)
                i += 1
        namespace = self._finish(values, rest, env)
        return namespace

    def _parse_short_group(self, token: str, argv: list[str], i: int, values: dict[str, Any]) -> int:
        """`-v`, `-vvv`, `-vx` (grouped flags), `-r3` / `-r 3` (a value attached or next)."""
        letters = token[1:]
        for n, letter in enumerate(letters):
            option = self._lookup(f"-{letter}")
            if not option.takes_value():
                self._store(values, option, [])
                continue
            attached = letters[n + 1:]
            if attached:
                self._store(values, option, [attached.removeprefix("=")])
                return i + 1
            raw, after = self._take_values(option, argv, i + 1)
            self._store(values, option, raw)
            return after
        return i + 1

    def _finish(self, values: dict[str, Any], rest: list[str], env: Mapping[str, str]) -> Namespace:
        for option in self.options:
            if option.dest in values:
                continue
            if option.env and option.env in env:
                values[option.dest] = self._from_env(option, env[option.env])
            elif option.required:
                raise self.error(f"missing required option {option.display_name}")
            else:
                values[option.dest] = list(option.default) if isinstance(option.default, list) else option.default
        if self.subcommands:
            return self._dispatch(values, rest, env)
        self._fill_positionals(values, rest)
        return Namespace(**values)

    def _from_env(self, option: Option, text: str) -> Any:
        where = f"environment variable {option.env}"
        try:
            if option.count:
                return int(text)
            if option.flag:
                return to_bool(text)
            if option.nargs:
                return [option.convert(part) for part in text.split()]
            return option.convert(text)
        except ValueError as e:
            raise self.error(f"{where}: {e}") from None

    def _dispatch(self, values: dict[str, Any], rest: list[str], env: Mapping[str, str]) -> Namespace:
        if not rest:
            raise self.error(f"missing command (choose from {', '.join(self.subcommands)})")
        name, *sub_argv = rest
        if name not in self.subcommands:
            raise self.error(f"unknown command {name!r} (choose from {', '.join(self.subcommands)})")
        sub_values = vars(self.subcommands[name].parse(sub_argv, env))
        return Namespace(command=name, **values, **sub_values)

    def _fill_positionals(self, values: dict[str, Any], rest: list[str]) -> None:
        queue = list(rest)
        for spec in self.positionals:
            if spec.nargs is None:
                if not queue:
                    raise self.error(f"missing argument {spec.dest}")
                values[spec.dest] = self._convert(spec, queue.pop(0))
            elif spec.nargs == "?":
                values[spec.dest] = self._convert(spec, queue.pop(0)) if queue else spec.default
            else:
                if spec.nargs == "+" and not queue:
                    raise self.error(f"missing argument {spec.dest}")
                values[spec.dest] = [self._convert(spec, t) for t in queue]
                queue = []
        if queue:
            raise self.error(f"unexpected argument {queue[0]!r}")
