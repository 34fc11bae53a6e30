"""`str_replace_editor`: the file editor of SWE-agent (`tools/edit_anthropic`) and OpenHands (openhands-aci `OHEditor`).

Both descend from Anthropic's computer-use editor; our trajectories were recorded with them, so the policy must see
the same observations here. Two styles:

* ``sweagent`` (default; SWE-smith trajectories, repo at /testbed): errors are the bare message, tabs are expanded
  (also in the file written back: a quirk of that tool, kept on purpose), the str_replace snippet shows 5 lines before
  and 3 after the edit, the directory listing is unsorted `find` output, and the observation is right-stripped (the
  recorded observations are).
* ``openhands`` (OHEditor): errors are ``ERROR:\\n`` + ``Invalid `param` parameter: value. hint`` and friends, the
  snippet is 3 lines before / 4 after, the directory listing is sorted with ``/`` after directories and a count of
  hidden entries, an out-of-range view end is clipped with a NOTE instead of an error.

All file access goes through the Sandbox; history for undo_edit lives in this object (one per episode).
"""

from __future__ import annotations

import shlex
from typing import Literal

from srl_agent.actions import EDIT_COMMANDS, Edit
from srl_agent.env.editor_text import (
    DIR_HEADER,
    DIR_TRUNCATED_NOTICE,
    MULTIPLE_MSG,
    ToolError,
    fmt_range,
    numbered,
    truncate,
)
from srl_agent.sandbox.base import Sandbox

EditorStyle = Literal["sweagent", "openhands"]

class Editor:
    """One editor per episode: `editor(edit)` returns the observation text (success or error message)."""

    def __init__(self, sandbox: Sandbox, style: EditorStyle = "sweagent"):
        if style not in ("sweagent", "openhands"):
            raise ValueError(f"unknown editor style {style!r}")
        self.sandbox = sandbox
        self.style = style
        self._oh = style == "openhands"
        self._history: dict[str, list[str]] = {}

    def __call__(self, edit: Edit) -> str:
        try:
            out = self._dispatch(edit)
        except ToolError as e:
            out = f"ERROR:\n{e.message}" if self._oh else e.message
        return out if self._oh else out.rstrip()

    # -- messages that differ between the styles --------------------------------------------------------------

    def _invalid(self, param: str, value: object, sweagent_msg: str, hint: str) -> ToolError:
        """OHEditor wraps hints as ``Invalid `param` parameter: value. hint``; SWE-agent prints its own sentence."""
        return ToolError(f"Invalid `{param}` parameter: {value}. {hint}" if self._oh else sweagent_msg)

    def _missing(self, command: str, param: str) -> ToolError:
        return ToolError(f"Parameter `{param}` is required for command: {command}" + ("." if self._oh else ""))

    # -- dispatch -------------------------------------------------------------------------------------------------

    def _dispatch(self, e: Edit) -> str:
        path = e.path
        kind = self._validate_path(e.command, path)
        if e.command == "view":
            return self._view_dir(path, e.view_range) if kind == "dir" else self._view_file(path, e.view_range)
        if e.command == "create":
            if e.file_text is None:
                raise self._missing("create", "file_text")
            parent = path.rsplit("/", 1)[0] or "/"
            if not self._oh and self._kind(parent) != "dir":
                raise ToolError(f"The parent directory {parent} does not exist. Please create it first.")
            self._write(path, e.file_text)
            # Both tools record the *new* text on create, so undo right after create rewrites the same content.
            self._history.setdefault(path, []).append(e.file_text)
            return f"File created successfully at: {path}"
        if e.command == "str_replace":
            if e.old_str is None:
                raise self._missing("str_replace", "old_str")
            if self._oh and e.new_str == e.old_str:
                raise self._invalid(
                    "new_str", e.new_str, "", "No replacement was performed. `new_str` and `old_str` must be different."
                )
            return self._str_replace(path, e.old_str, e.new_str)
        if e.command == "insert":
            if e.insert_line is None:
                raise self._missing("insert", "insert_line")
            if e.new_str is None:
                raise self._missing("insert", "new_str")
            return self._insert(path, e.insert_line, e.new_str)
        if e.command == "undo_edit":
            return self._undo(path)
        raise ToolError(f"Unrecognized command {e.command}. The allowed commands are: {', '.join(EDIT_COMMANDS)}")

    def _validate_path(self, command: str, path: str) -> str:
        if not path.startswith("/"):
            cwd = self.sandbox.run("pwd").output.strip() or "/"
            suggested = f"{cwd.rstrip('/')}/{path}"
            if self._oh:
                hint = "The path should be an absolute path, starting with `/`."
                if self._kind(suggested) != "missing":
                    hint += f" Maybe you meant {suggested}?"
                raise self._invalid("path", path, "", hint)
            raise ToolError(
                f"The path {path} is not an absolute path, it should start with `/`. Maybe you meant {suggested}?"
            )
        kind = self._kind(path)
        if kind == "missing" and command != "create":
            msg = f"The path {path} does not exist. Please provide a valid path."
            raise self._invalid("path", path, msg, msg)
        if kind != "missing" and command == "create":
            msg = f"File already exists at: {path}. Cannot overwrite files using command `create`."
            raise self._invalid("path", path, msg, msg)
        if kind == "dir" and command != "view":
            msg = f"The path {path} is a directory and only the `view` command can be used on directories"
            raise self._invalid("path", path, msg, msg + ".")
        return kind

    # -- sandbox I/O ----------------------------------------------------------------------------------------------

    def _kind(self, path: str) -> str:
        q = shlex.quote(path)
        res = self.sandbox.run(f"if [ -d {q} ]; then echo dir; elif [ -e {q} ]; then echo file; else echo missing; fi")
        kind = res.output.strip().splitlines()[-1] if res.output.strip() else ""
        if kind not in ("dir", "file", "missing"):
            raise ToolError(f"Ran into an error while checking {path}: {res.output.strip()}")
        return kind

    def _read(self, path: str) -> str:
        try:
            data = self.sandbox.read_file(path)
        except FileNotFoundError:
            raise ToolError(f"The path {path} does not exist. Please provide a valid path.") from None
        if self._oh and b"\0" in data[:8192]:
            raise ToolError(
                f"File validation failed for {path}: File appears to be binary and this file type cannot be read "
                "or edited by this tool."
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            # SWE-agent retries with latin-1 (every byte decodes), which keeps undecodable files editable.
            return data.decode("latin-1")

    def _write(self, path: str, text: str) -> None:
        self.sandbox.write_file(path, text.encode("utf-8"))

    # -- commands -------------------------------------------------------------------------------------------------

    def _numbered(self, content: str, descriptor: str, start: int = 1) -> str:
        return numbered(content, descriptor, start, expand_tabs=not self._oh)

    def _view_dir(self, path: str, view_range: tuple[int, int] | None) -> str:
        if view_range:
            msg = "The `view_range` parameter is not allowed when `path` points to a directory."
            raise self._invalid("view_range", fmt_range(view_range), msg, msg)
        q = shlex.quote(path)
        if not self._oh:
            listing = self.sandbox.run(f"find {q} -maxdepth 2 -not -path '*/\\.*' 2>/dev/null").output
            return f"{DIR_HEADER.format(path)}\n{listing}\n"
        base = path.rstrip("/") or ""
        exclude = f"-not \\( -path {shlex.quote(base + '/.*')} -o -path {shlex.quote(base + '/*/.*')} \\)"
        listing = self.sandbox.run(
            f"find -L {q} -maxdepth 2 {exclude} 2>/dev/null | sort | "
            'while IFS= read -r f; do if [ -d "$f" ]; then printf "%s/\\n" "$f"; else printf "%s\\n" "$f"; fi; done'
        ).output.strip()
        hidden = self.sandbox.run(f"find -L {q} -mindepth 1 -maxdepth 1 -name '.*' 2>/dev/null | wc -l").output.strip()
        out = f"{DIR_HEADER.format(path)}\n{listing}"
        out = truncate(out, DIR_TRUNCATED_NOTICE)
        if hidden.isdigit() and int(hidden) > 0:
            out += (
                f"\n\n{hidden} hidden files/directories in this directory are excluded. "
                f"You can use 'ls -la {path}' to see them."
            )
        return out

    def _view_file(self, path: str, view_range: tuple[int, int] | None) -> str:
        content = self._read(path)
        if not view_range:
            return self._numbered(content, path)
        lines = content.split("\n")
        start, end = view_range
        vr = fmt_range(view_range)
        if self._oh:
            # OHEditor counts lines as Python's file iteration does (a trailing newline adds no line).
            n = len(content.splitlines(keepends=True))
            if start < 1 or start > n:
                hint = f"Its first element `{start}` should be within the range of lines of the file: {[1, n]}."
                raise self._invalid("view_range", vr, "", hint)
            note = ""
            if end == -1:
                end = n
            elif end > n:
                note = f"\nNOTE: We only show up to {n} since there's only {n} lines in this file\n"
                end = n
            if end < start:
                hint = f"Its second element `{end}` should be greater than or equal to the first element `{start}`."
                raise self._invalid("view_range", vr, "", hint)
            return self._numbered("\n".join(lines[start - 1 : end]), path, start) + note
        n = len(lines)
        if start < 1 or start > n:
            raise ToolError(
                f"Invalid `view_range`: {vr}. Its first element `{start}` should be within the range of lines of the "
                f"file: {[1, n]}"
            )
        if end > n:
            raise ToolError(
                f"Invalid `view_range`: {vr}. Its second element `{end}` should be smaller than the number of lines in "
                f"the file: `{n}`"
            )
        if end != -1 and end < start:
            raise ToolError(
                f"Invalid `view_range`: {vr}. Its second element `{end}` should be larger or equal than its first "
                f"`{start}`"
            )
        end = n if end == -1 else end
        return self._numbered("\n".join(lines[start - 1 : end]), path, start)

    def _str_replace(self, path: str, old: str, new: str | None) -> str:
        content = self._read(path)
        if not self._oh:
            content, old = content.expandtabs(), old.expandtabs()
            new = new.expandtabs() if new is not None else ""
        new = new or ""
        count = content.count(old)
        if count == 0:
            raise ToolError(f"No replacement was performed, old_str `{old}` did not appear verbatim in {path}.")
        if count > 1:
            if self._oh:
                starts, i = [], content.find(old)
                while i != -1:  # non-overlapping matches, as re.finditer finds them
                    starts.append(content.count("\n", 0, i) + 1)
                    i = content.find(old, i + max(len(old), 1)) if i < len(content) else -1
                lines = sorted(set(starts))
                raise ToolError(f"{MULTIPLE_MSG.format(old, lines)}.")
            # SWE-agent lists the lines that *contain* old_str, so a multi-line old_str reports [].
            lines = [i + 1 for i, line in enumerate(content.split("\n")) if old in line]
            raise ToolError(MULTIPLE_MSG.format(old, lines))
        if not self._oh and new == old:
            raise ToolError(f"No replacement was performed, old_str `{old}` is the same as new_str `{new}`.")
        idx = content.find(old)
        new_content = content[:idx] + new + content[idx + len(old) :]
        self._write(path, new_content)
        self._history.setdefault(path, []).append(content)
        line0 = content.count("\n", 0, idx)  # 0-based line of the match
        new_lines = new_content.split("\n")
        if self._oh:
            start = max(0, line0 + 1 - 4)  # 1-based match line minus the 4-line window, shown from start+1
            end = line0 + 1 + 4 + new.count("\n")
            snippet, first = "".join(new_content.splitlines(keepends=True)[start:end]), start + 1
            return (
                f"The file {path} has been edited. " + self._numbered(snippet, f"a snippet of {path}", first)
                + "Review the changes and make sure they are as expected. Edit the file again if necessary."
            )
        start = max(1, line0 - 4)
        end = min(line0 + 4 + new.count("\n"), len(new_content.splitlines()))
        snippet = "\n".join(new_lines[start - 1 : end])
        return (
            f"The file {path} has been edited. " + self._numbered(snippet, f"a snippet of {path}", start)
            + "Review the changes and make sure they are as expected. Edit the file again if necessary."
        )

    def _insert(self, path: str, insert_line: int, new: str) -> str:
        text = self._read(path)
        if not self._oh:
            text, new = text.expandtabs(), new.expandtabs()
        lines = text.split("\n")
        n = len(text.splitlines(keepends=True)) if self._oh else len(lines)
        if insert_line < 0 or insert_line > n:
            hint = "It should be within the range of allowed values:" if self._oh else (
                "It should be within the range of lines of the file:")
            raise ToolError(f"Invalid `insert_line` parameter: {insert_line}. {hint} {[0, n]}")
        new_lines = new.split("\n")
        if self._oh:
            # OHEditor writes every inserted line with a trailing newline, in front of the remaining file lines.
            kept = text.splitlines(keepends=True)
            if insert_line == n and kept and not kept[-1].endswith("\n"):
                kept[-1] += "\n"
            new_text = "".join(kept[:insert_line]) + "".join(x + "\n" for x in new_lines) + "".join(kept[insert_line:])
            start = max(0, insert_line - 4)
            end = min(n + len(new_lines), insert_line + 4 + len(new_lines))
            snippet = "".join(new_text.splitlines(keepends=True)[start:end])
        else:
            new_text = "\n".join(lines[:insert_line] + new_lines + lines[insert_line:])
            before, after = lines[max(0, insert_line - 4) : insert_line], lines[insert_line : insert_line + 4]
            snippet = "\n".join(before + new_lines + after)
        self._write(path, new_text)
        self._history.setdefault(path, []).append(text)
        return (
            f"The file {path} has been edited. "
            + self._numbered(snippet, "a snippet of the edited file", max(1, insert_line - 4 + 1))
            + "Review the changes and make sure they are as expected (correct indentation, no duplicate lines, etc). "
            "Edit the file again if necessary."
        )

    def _undo(self, path: str) -> str:
        stack = self._history.get(path)
        if not stack:
            raise ToolError(f"No edit history found for {path}.")
        old = stack.pop()
        self._write(path, old)
        return f"Last edit to {path} undone successfully. {self._numbered(old, path)}"
