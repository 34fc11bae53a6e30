"""Constants, the error type and small helpers of the str_replace_editor (see srl_agent.env.editor)."""

from __future__ import annotations

MAX_RESPONSE_LEN = 16000
FILE_TRUNCATED_NOTICE = (
    "<response clipped><NOTE>To save on context only part of this file has been shown to you. You should retry this "
    "tool after you have searched inside the file with `grep -n` in order to find the line numbers of what you are "
    "looking for.</NOTE>"
)
DIR_TRUNCATED_NOTICE = (
    "<response clipped><NOTE>To save on context only part of this directory has been shown to you. You should use "
    "`ls -la` instead to view large directories incrementally.</NOTE>"
)


DIR_HEADER = "Here's the files and directories up to 2 levels deep in {}, excluding hidden items:"
MULTIPLE_MSG = "No replacement was performed. Multiple occurrences of old_str `{}` in lines {}. Please ensure it is unique"


class ToolError(Exception):
    """An editor error shown to the agent as the observation (never an infrastructure failure)."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


def truncate(text: str, notice: str = FILE_TRUNCATED_NOTICE) -> str:
    return text if len(text) <= MAX_RESPONSE_LEN else text[:MAX_RESPONSE_LEN] + notice


def fmt_range(view_range: tuple[int, int]) -> str:
    return f"[{view_range[0]}, {view_range[1]}]"


def numbered(content: str, descriptor: str, start: int = 1, expand_tabs: bool = True) -> str:
    """The `cat -n`-style rendering both tools use: 6-wide line numbers, a tab, the line."""
    content = truncate(content)
    if expand_tabs:
        content = content.expandtabs()
    body = "\n".join(f"{i + start:6}\t{line}" for i, line in enumerate(content.split("\n")))
    return f"Here's the result of running `cat -n` on {descriptor}:\n{body}\n"
