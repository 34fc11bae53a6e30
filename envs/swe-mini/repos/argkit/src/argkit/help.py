"""Usage lines and help text."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argkit.parser import Parser
    from argkit.spec import Option, Positional


def _option_usage(option: Option) -> str:
    name = option.display_name
    if not option.takes_value():
        return name
    metavar = option.metavar or option.dest.upper()
    if option.nargs == "*":
        return f"{name} [{metavar} ...]"
    if option.nargs == "+":
        return f"{name} {metavar} [{metavar} ...]"
    return f"{name} {metavar}"


def _positional_usage(positional: Positional) -> str:
    name = positional.dest
    return {"?": f"[{name}]", "*": f"[{name} ...]", "+": f"{name} [{name} ...]"}.get(positional.nargs or "", name)


def format_usage(parser: Parser) -> str:
    """`usage: prog [-h] --required X [--optional Y] positional`."""
    parts = [parser.prog]
    for option in parser.options:
        text = _option_usage(option)
        parts.append(text if option.required else f"[{text}]")
    parts += [_positional_usage(p) for p in parser.positionals]
    if parser.subcommands:
        parts.append("{" + ",".join(parser.subcommands) + "} ...")
    return "usage: " + " ".join(parts)


def _describe(option: Option) -> str:
    notes = [option.help] if option.help else []
    if option.choices is not None:
        notes.append("choices: " + ", ".join(str(c) for c in option.choices))
    if option.takes_value() and option.default is not None:
        notes.append(f"default: {option.default}")
    if option.env:
        notes.append(f"env: {option.env}")
    return "; ".join(notes)


def _rows(rows: list[tuple[str, str]]) -> list[str]:
    width = max(len(left) for left, _ in rows)
    return [f"  {left.ljust(width)}  {right}".rstrip() for left, right in rows]


def format_help(parser: Parser) -> str:
    """The full help: usage, description, then one line per argument and subcommand."""
    lines = [format_usage(parser)]
    if parser.description:
        lines += ["", parser.description]
    if parser.positionals:
        lines += ["", "arguments:"] + _rows([(p.dest, p.help) for p in parser.positionals])
    if parser.options:
        rows = [(", ".join(o.names) + _option_usage(o)[len(o.display_name):], _describe(o)) for o in parser.options]
        lines += ["", "options:"] + _rows(rows)
    if parser.subcommands:
        lines += ["", "commands:"] + _rows([(n, s.description) for n, s in parser.subcommands.items()])
    return "\n".join(lines)
