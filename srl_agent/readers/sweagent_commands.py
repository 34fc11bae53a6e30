"""SWE-agent command strings (the `action` of a `.traj` step) to typed actions.

SWE-agent runs every tool as a command in its bash session. With function calling it renders a tool call into that
command string itself: string arguments go through `shlex.quote` (unless the tool has a terminating line such as
`end_of_edit`), lists are joined with spaces, integers are written bare::

    str_replace_editor str_replace /testbed/a.py   --old_str 'x = 1' --new_str 'x = 2'
    str_replace_editor view /testbed/a.py  --view_range 1 20

Older (0.x) configurations have the model type the command directly, with multi-line commands closed by a marker::

    edit 10:12
        return a / b
    end_of_edit

Mapping (see `parse_command`):

- `str_replace_editor …` -> Edit; if its arguments are invalid the command string is kept as Bash (a ToolCall named
  `str_replace_editor` could not be rendered and parsed back, because the canonical parser validates that tool).
- `submit` -> Submit.
- `create FILE` (0.x windowed tools) -> Edit(create, FILE, file_text=""): SWE-agent creates an empty file and opens it.
- `edit N:M\\n…\\nend_of_edit` -> ToolCall("edit", start_line, end_line, replacement_text); `edit SEARCH REPLACE
  [REPLACE_ALL]` -> ToolCall("edit", search, replace[, replace-all]); `insert TEXT [LINE]` -> ToolCall("insert", text
  [, line]). These edit the *displayed window* of the open file, so they cannot become a str_replace without the file.
- Everything else, including SWE-agent's navigation helpers (`open`, `goto`, `scroll_down`, `find_file`,
  `search_dir`, …) -> Bash: those helpers are shell functions installed in the agent's bash session, so the command
  string is exactly what executed.

Functions return `(action, note)`; `note` says why a command that looked like a structured tool was kept as Bash.
"""

from __future__ import annotations

import json
import re
from typing import Any

from srl_agent.actions import Action, ActionParseError, Bash, Edit, Submit, ToolCall, action_from_call

ParsedAction = tuple[Action, str | None]

# One piece of a POSIX shell word: 'single quoted' | "double quoted" | \escaped char | plain run.
# Only space, tab and newline separate words (bash's default IFS), unlike Python's \s.
_WORD_PART = re.compile(r"""'([^']*)'|"((?:[^"\\]|\\.)*)"|\\(.)|([^ \t\n'"\\]+)""", re.DOTALL)
_SEPARATORS = re.compile(r"[ \t\n]+")
_DOUBLE_QUOTE_ESCAPE = re.compile(r'\\([\\"$`\n])')
_SEPARATOR_CHARS = frozenset(" \t\n")

_LINE_EDIT = re.compile(
    r"\Aedit[ \t]+(\d+)[ \t]*:[ \t]*(\d+)[ \t]*\n(.*?)\n?^end_of_edit[ \t]*\Z", re.DOTALL | re.MULTILINE
)
_LINE_EDIT_HEAD = re.compile(r"\Aedit[ \t]+\d+[ \t]*:")

_EDITOR_FLAGS = ("--file_text", "--old_str", "--new_str", "--insert_line", "--view_range")


def split_words(text: str) -> list[str]:
    """Split a command into words the way POSIX `sh` does, quotes removed.

    Same result as `shlex.split`, except that backslash-newline is a line continuation (removed) as in `sh`.

    A regex tokenizer rather than `shlex`, which walks the string one character at a time in Python and is too slow
    for multi-kilobyte `--file_text` arguments. Raises ValueError on an unterminated quote or a trailing backslash.
    """
    words: list[str] = []
    pos, end = 0, len(text)
    while True:
        sep = _SEPARATORS.match(text, pos)
        if sep:
            pos = sep.end()
        if pos >= end:
            return words
        parts: list[str] = []
        while pos < end and text[pos] not in _SEPARATOR_CHARS:
            m = _WORD_PART.match(text, pos)
            if m is None:
                raise ValueError(f"unterminated quote or escape at character {pos}")
            single, double, escaped, plain = m.groups()
            if single is not None:
                parts.append(single)
            elif double is not None:
                parts.append(_DOUBLE_QUOTE_ESCAPE.sub(_unescape_double, double))
            elif escaped is not None:
                parts.append("" if escaped == "\n" else escaped)  # backslash-newline is a line continuation
            else:
                parts.append(plain)
            pos = m.end()
        words.append("".join(parts))


def _unescape_double(m: re.Match[str]) -> str:
    return "" if m.group(1) == "\n" else m.group(1)


def parse_command(command: str) -> ParsedAction:
    """Map one SWE-agent command string to a typed action (mapping in the module docstring)."""
    text = command.strip()
    head = text.split(None, 1)[0] if text else ""
    if text == "submit":
        return Submit(), None
    if head == "str_replace_editor":
        return _parse_editor(text)
    if head == "edit":
        return _parse_edit(text)
    if head == "insert":
        return _parse_insert(text)
    if head == "create":
        return _parse_create(text)
    return Bash(text), None


def _as_bash(text: str, why: str) -> ParsedAction:
    return Bash(text), f"{why}; kept the command string as Bash"


def _parse_editor(text: str) -> ParsedAction:
    try:
        words = split_words(text)
        params = _editor_params(words[1:])
        return action_from_call("str_replace_editor", params), None
    except (ValueError, ActionParseError) as e:
        return _as_bash(text, f"invalid str_replace_editor command ({e})")


def _editor_params(words: list[str]) -> list[tuple[str, str]]:
    """`view PATH --view_range 1 20` -> [(command, view), (path, PATH), (view_range, "[1, 20]")]."""
    if len(words) < 2:
        raise ValueError("expected a sub-command and a path")
    params = [("command", words[0]), ("path", words[1])]
    i = 2
    while i < len(words):
        flag = words[i]
        if flag not in _EDITOR_FLAGS:
            raise ValueError(f"unexpected argument {flag[:40]!r}")
        if flag == "--view_range":
            if i + 2 >= len(words):
                raise ValueError("--view_range needs two line numbers")
            start, stop = words[i + 1 : i + 3]
            params.append(("view_range", f"[{int(start)}, {int(stop)}]"))
            i += 3
            continue
        if i + 1 >= len(words):
            raise ValueError(f"{flag} has no value")
        params.append((flag[2:], words[i + 1]))
        i += 2
    return params


def _parse_edit(text: str) -> ParsedAction:
    m = _LINE_EDIT.match(text)
    if m:
        start, stop, replacement = m.groups()
        args = (("start_line", start), ("end_line", stop), ("replacement_text", replacement))
        return ToolCall("edit", args), None
    if _LINE_EDIT_HEAD.match(text):
        return _as_bash(text, "line-range edit without a final 'end_of_edit' line")
    try:
        words = split_words(text)
    except ValueError as e:
        return _as_bash(text, f"unparseable edit command ({e})")
    if not 3 <= len(words) <= 4:
        return _as_bash(text, f"edit command with {len(words) - 1} arguments, expected SEARCH REPLACE [REPLACE_ALL]")
    args = [("search", words[1]), ("replace", words[2])]
    if len(words) == 4:
        args.append(("replace-all", words[3]))
    return ToolCall("edit", tuple(args)), None


def _parse_insert(text: str) -> ParsedAction:
    try:
        words = split_words(text)
    except ValueError as e:
        return _as_bash(text, f"unparseable insert command ({e})")
    if not 2 <= len(words) <= 3:
        return _as_bash(text, f"insert command with {len(words) - 1} arguments, expected TEXT [LINE]")
    args = [("text", words[1])]
    if len(words) == 3:
        args.append(("line", words[2]))
    return ToolCall("insert", tuple(args)), None


def _parse_create(text: str) -> ParsedAction:
    try:
        words = split_words(text)
    except ValueError as e:
        return _as_bash(text, f"unparseable create command ({e})")
    if len(words) != 2:
        return _as_bash(text, f"create command with {len(words) - 1} arguments, expected one FILE")
    return Edit(command="create", path=words[1], file_text=""), None


def action_from_tool_call(name: str, arguments: dict[str, Any], command: str) -> ParsedAction:
    """Map a SWE-agent function call (exact JSON arguments) to a typed action; `command` is its rendered string.

    The JSON is preferred where it carries structure (the editor, edit/insert/create); tools that are plain shell
    commands (`bash`, `open`, `find_file`, …) go through `parse_command` so both paths agree.
    """
    args = {k: v for k, v in arguments.items() if v is not None}  # SWE-agent omits unset optional arguments
    if name == "bash":
        inner = args.get("command")
        return parse_command(inner if isinstance(inner, str) else command)
    if name == "submit":
        return Submit(), None
    if name == "str_replace_editor":
        try:
            return action_from_call(name, args), None
        except ActionParseError as e:
            return _as_bash(command.strip(), f"invalid str_replace_editor arguments ({e})")
    if name == "create" and list(args) == ["filename"] and isinstance(args["filename"], str):
        return Edit(command="create", path=args["filename"], file_text=""), None
    if name in ("edit", "insert"):
        items = tuple((k, v if isinstance(v, str) else json.dumps(v)) for k, v in args.items())
        return ToolCall(name, items), None
    return parse_command(command)
