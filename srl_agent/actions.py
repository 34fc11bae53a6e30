"""Typed agent actions and their one canonical text form.

Every trajectory format is normalised to these four action types. Each action renders to exactly one text, the
in-text function-call form the policy is asked to produce::

    <function=bash>
    <parameter=command>ls -la /testbed</parameter>
    </function>

and `parse_action(render_action(a)) == a` for every action (tested on all shared data). The SRL reward compares
canonical texts, so two sources that encode the same action differently (OpenAI `tool_calls` JSON vs. in-text XML)
score identically.

Parameter values are written verbatim; a value that contains a newline is wrapped in one extra newline on each side
(the OpenHands convention), and the parser strips exactly one newline on each side. That makes the encoding
bijective: `"a\\nb"` is written `<parameter=p>\\na\\nb\\n</parameter>`, `"ls"` is written `<parameter=p>ls</parameter>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

EditCommand = Literal["view", "create", "str_replace", "insert", "undo_edit"]
EDIT_COMMANDS: tuple[str, ...] = ("view", "create", "str_replace", "insert", "undo_edit")

BASH_TOOL = "bash"
EDITOR_TOOL = "str_replace_editor"
SUBMIT_TOOL = "submit"
CORE_TOOLS: frozenset[str] = frozenset({BASH_TOOL, EDITOR_TOOL, SUBMIT_TOOL})

# Names other scaffolds use for the same tools (OpenHands: execute_bash / finish).
BASH_ALIASES = frozenset({"bash", "execute_bash", "cmd_run"})
SUBMIT_ALIASES = frozenset({"submit", "finish"})


@dataclass(frozen=True, slots=True)
class Bash:
    """A shell command run in the repository's sandbox."""

    command: str


@dataclass(frozen=True, slots=True)
class Edit:
    """A `str_replace_editor` call (the OpenHands / SWE-agent file editor).

    `view_range` is `(start, end)` with 1-based lines, `end == -1` meaning end of file.
    """

    command: EditCommand
    path: str
    file_text: str | None = None
    old_str: str | None = None
    new_str: str | None = None
    insert_line: int | None = None
    view_range: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class Submit:
    """The agent declares it is done (SWE-agent `submit`, OpenHands `finish`)."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """Any other tool call, kept with its name and string arguments in their original order."""

    name: str
    arguments: tuple[tuple[str, str], ...] = ()


Action = Bash | Edit | Submit | ToolCall


def action_type(action: Action) -> str:
    """A short label for histograms and instance metadata: bash, edit:<command>, submit, tool:<name>."""
    if isinstance(action, Bash):
        return "bash"
    if isinstance(action, Edit):
        return f"edit:{action.command}"
    if isinstance(action, Submit):
        return "submit"
    return f"tool:{action.name}"


def tool_name(action: Action) -> str:
    if isinstance(action, Bash):
        return BASH_TOOL
    if isinstance(action, Edit):
        return EDITOR_TOOL
    if isinstance(action, Submit):
        return SUBMIT_TOOL
    return action.name


# ---------------------------------------------------------------------------------------------------------------
# Rendering


def _edit_params(edit: Edit) -> list[tuple[str, str]]:
    params = [("command", edit.command), ("path", edit.path)]
    for name in ("file_text", "old_str", "new_str"):
        value = getattr(edit, name)
        if value is not None:
            params.append((name, value))
    if edit.insert_line is not None:
        params.append(("insert_line", str(edit.insert_line)))
    if edit.view_range is not None:
        params.append(("view_range", f"[{edit.view_range[0]}, {edit.view_range[1]}]"))
    return params


def action_params(action: Action) -> list[tuple[str, str]]:
    """The (name, value) parameters of an action, in canonical order."""
    if isinstance(action, Bash):
        return [("command", action.command)]
    if isinstance(action, Edit):
        return _edit_params(action)
    if isinstance(action, Submit):
        return []
    return list(action.arguments)


def _render_value(value: str) -> str:
    return f"\n{value}\n" if "\n" in value else value


def render_action(action: Action) -> str:
    """The canonical text of an action (see the module docstring)."""
    lines = [f"<function={tool_name(action)}>"]
    lines += [f"<parameter={name}>{_render_value(value)}</parameter>" for name, value in action_params(action)]
    lines.append("</function>")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Parsing


class ActionParseError(ValueError):
    """The text is not a single well-formed function call."""


_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_.\-]+>")
_PARAM_NAME = re.compile(r"[A-Za-z0-9_\-]+>")


@dataclass(frozen=True, slots=True)
class _Tag:
    start: int  # of `<function=` / `<parameter=`
    end: int  # just after the closing tag
    name: str
    body: str


def _scan(text: str, opener: str, name_re: re.Pattern[str], closer: str) -> list[_Tag]:
    """Non-overlapping `<opener NAME>body</closer>` spans, leftmost first, body the shortest (as the lazy regex
    `opener(NAME)>(.*?)closer` would give). Linear time: the regex costs O(tags x length) when many openers have no
    closer (100k unclosed tags took minutes); here each search resumes where the last one stopped, and the scan ends
    at the first opener with no closer after it (no later opener can have one either)."""
    tags: list[_Tag] = []
    pos = 0
    while (start := text.find(opener, pos)) >= 0:
        name = name_re.match(text, start + len(opener))
        if name is None:
            pos = start + 1
            continue
        close = text.find(closer, name.end())
        if close < 0:
            break
        tags.append(_Tag(start, close + len(closer), name.group()[:-1], text[name.end() : close]))
        pos = close + len(closer)
    return tags


def _functions(text: str) -> list[_Tag]:
    return _scan(text, "<function=", _FUNCTION_NAME, "</function>")


def _params(text: str) -> list[_Tag]:
    return _scan(text, "<parameter=", _PARAM_NAME, "</parameter>")


def _unwrap(value: str) -> str:
    if value.startswith("\n"):
        value = value[1:]
    if value.endswith("\n"):
        value = value[:-1]
    return value


def parse_function_calls(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """All `<function=…>` calls in free text (lenient; for readers of in-text trajectories).

    Returns (name, [(param, value), ...]) per call, values unwrapped.
    """
    calls = []
    for call in _functions(text):
        calls.append((call.name, [(p.name, _unwrap(p.body)) for p in _params(call.body)]))
    return calls


def _int(name: str, value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ActionParseError(f"parameter {name!r} must be an integer, got {value!r}") from None


def _view_range(value: str) -> tuple[int, int]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not (isinstance(parsed, list) and len(parsed) == 2 and all(isinstance(x, int) for x in parsed)):
        raise ActionParseError(f"view_range must look like [start, end], got {value!r}")
    return (parsed[0], parsed[1])


def action_from_call(name: str, params: list[tuple[str, str]] | dict[str, object]) -> Action:
    """Build a typed action from a tool name and its arguments (strings, or JSON values from `tool_calls`).

    Known tools with invalid arguments raise ActionParseError; unknown tools become a ToolCall.
    """
    items = list(params.items()) if isinstance(params, dict) else list(params)
    if isinstance(params, dict):
        items = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in items]
    names = [k for k, _ in items]
    if len(set(names)) != len(names):
        raise ActionParseError(f"repeated parameter in {name}: {names}")
    args = dict(items)

    if name in BASH_ALIASES:
        if "command" not in args:
            raise ActionParseError(f"{name} needs a 'command' parameter")
        return Bash(args["command"])
    if name in SUBMIT_ALIASES:
        return Submit()
    if name == EDITOR_TOOL:
        unknown = set(args) - {"command", "path", "file_text", "old_str", "new_str", "insert_line", "view_range"}
        if unknown:
            raise ActionParseError(f"str_replace_editor got unknown parameters {sorted(unknown)}")
        command, path = args.get("command"), args.get("path")
        if command not in EDIT_COMMANDS:
            raise ActionParseError(f"str_replace_editor command must be one of {EDIT_COMMANDS}, got {command!r}")
        if not path:
            raise ActionParseError("str_replace_editor needs a 'path' parameter")
        return Edit(
            command=command,  # type: ignore[arg-type]
            path=path,
            file_text=args.get("file_text"),
            old_str=args.get("old_str"),
            new_str=args.get("new_str"),
            insert_line=_int("insert_line", args["insert_line"]) if "insert_line" in args else None,
            view_range=_view_range(args["view_range"]) if "view_range" in args else None,
        )
    return ToolCall(name, tuple(items))


def parse_action(text: str) -> Action:
    """Parse exactly one canonical function call (surrounding whitespace allowed, nothing else).

    Raises ActionParseError if the text holds no call, more than one, stray text, or invalid arguments.
    """
    stripped = text.strip()
    matches = _functions(stripped)
    if not matches:
        raise ActionParseError("no <function=NAME>…</function> call found")
    if len(matches) > 1 or stripped.count("<function=") > 1:
        raise ActionParseError(f"expected exactly one function call, found {stripped.count('<function=')}")
    match = matches[0]
    if match.start != 0 or match.end != len(stripped):
        raise ActionParseError("text outside the function call")
    body = match.body
    params: list[tuple[str, str]] = []
    pos = 0
    for m in _params(body):
        if body[pos : m.start].strip():
            raise ActionParseError(f"unexpected text between parameters: {body[pos : m.start].strip()[:40]!r}")
        params.append((m.name, _unwrap(m.body)))
        pos = m.end
    if body[pos:].strip():
        raise ActionParseError(f"unexpected text after parameters: {body[pos:].strip()[:40]!r}")
    return action_from_call(match.name, params)
