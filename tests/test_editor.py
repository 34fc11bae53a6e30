"""str_replace_editor: each command and its error paths, with the exact SWE-agent and OpenHands messages, on real
sandboxes (LocalSandbox and DockerSandbox)."""

from __future__ import annotations

import pytest
from envkit import sandbox, sandbox_kind  # noqa: F401 - fixtures

from srl_agent.actions import Edit
from srl_agent.env.editor import Editor

TEXT = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
CAT = "Here's the result of running `cat -n` on {}:\n"


@pytest.fixture
def base(sandbox) -> str:  # noqa: F811
    root = sandbox.run("pwd").output.strip().rstrip("/") + "/work"
    sandbox.write_file(f"{root}/pkg/mod.py", TEXT)
    sandbox.write_file(f"{root}/pkg/sub/deep/x.py", "x\n")
    sandbox.write_file(f"{root}/.hidden/h.txt", "h\n")
    sandbox.write_file(f"{root}/top.txt", "t\n")
    return root


def sw(sandbox, base):  # noqa: F811
    return Editor(sandbox, "sweagent"), f"{base}/pkg/mod.py"


def oh(sandbox, base):  # noqa: F811
    return Editor(sandbox, "openhands"), f"{base}/pkg/mod.py"


def test_view_file_both_styles(sandbox, base):  # noqa: F811
    ed, p = sw(sandbox, base)
    rows = [f"{i + 1:6}\t{line}" for i, line in enumerate(TEXT.split("\n"))]
    assert ed(Edit("view", p)) == CAT.format(p) + "\n".join(rows).rstrip()
    ed, p = oh(sandbox, base)
    assert ed(Edit("view", p)) == CAT.format(p) + "\n".join(rows) + "\n"


def test_view_range_and_errors_sweagent(sandbox, base):  # noqa: F811
    ed, p = sw(sandbox, base)  # TEXT splits into 7 lines (trailing newline => empty 7th)
    assert ed(Edit("view", p, view_range=(2, 3))) == CAT.format(p) + "     2\t    return 1\n     3"
    assert ed(Edit("view", p, view_range=(5, -1))).endswith("     5\tdef g():\n     6\t    return 2\n     7")
    assert ed(Edit("view", p, view_range=(0, 3))) == (
        "Invalid `view_range`: [0, 3]. Its first element `0` should be within the range of lines of the file: [1, 7]"
    )
    assert ed(Edit("view", p, view_range=(2, 99))) == (
        "Invalid `view_range`: [2, 99]. Its second element `99` should be smaller than the number of lines in the "
        "file: `7`"
    )
    assert ed(Edit("view", p, view_range=(4, 2))) == (
        "Invalid `view_range`: [4, 2]. Its second element `2` should be larger or equal than its first `4`"
    )


def test_view_range_and_errors_openhands(sandbox, base):  # noqa: F811
    ed, p = oh(sandbox, base)  # OHEditor counts 6 lines
    assert ed(Edit("view", p, view_range=(2, 3))) == CAT.format(p) + "     2\t    return 1\n     3\t\n"
    assert ed(Edit("view", p, view_range=(5, 99))) == (
        CAT.format(p) + "     5\tdef g():\n     6\t    return 2\n"
        "\nNOTE: We only show up to 6 since there's only 6 lines in this file\n"
    )
    assert ed(Edit("view", p, view_range=(0, 3))) == (
        "ERROR:\nInvalid `view_range` parameter: [0, 3]. Its first element `0` should be within the range of lines "
        "of the file: [1, 6]."
    )
    assert ed(Edit("view", p, view_range=(4, 2))) == (
        "ERROR:\nInvalid `view_range` parameter: [4, 2]. Its second element `2` should be greater than or equal to "
        "the first element `4`."
    )


def test_view_directory(sandbox, base):  # noqa: F811
    ed, _ = sw(sandbox, base)
    out = ed(Edit("view", base))
    header = f"Here's the files and directories up to 2 levels deep in {base}, excluding hidden items:\n"
    assert out.startswith(header)
    listed = set(out[len(header) :].split("\n"))
    assert listed == {base, f"{base}/pkg", f"{base}/pkg/mod.py", f"{base}/pkg/sub", f"{base}/top.txt"}
    assert ed(Edit("view", base, view_range=(1, 2))) == (
        "The `view_range` parameter is not allowed when `path` points to a directory."
    )
    ed, _ = oh(sandbox, base)
    assert ed(Edit("view", base)) == (
        header + "\n".join(sorted([f"{base}/", f"{base}/pkg/", f"{base}/pkg/mod.py", f"{base}/pkg/sub/", f"{base}/top.txt"]))
        + f"\n\n1 hidden files/directories in this directory are excluded. You can use 'ls -la {base}' to see them."
    )
    assert ed(Edit("view", base, view_range=(1, 2))) == (
        "ERROR:\nInvalid `view_range` parameter: [1, 2]. The `view_range` parameter is not allowed when `path` points "
        "to a directory."
    )


def test_path_errors(sandbox, base):  # noqa: F811
    ed, p = sw(sandbox, base)
    cwd = sandbox.run("pwd").output.strip()
    assert ed(Edit("view", "rel.py")) == (
        f"The path rel.py is not an absolute path, it should start with `/`. Maybe you meant {cwd.rstrip('/')}/rel.py?"
    )
    assert ed(Edit("view", f"{base}/nope.py")) == f"The path {base}/nope.py does not exist. Please provide a valid path."
    assert ed(Edit("create", p, file_text="x")) == (
        f"File already exists at: {p}. Cannot overwrite files using command `create`."
    )
    assert ed(Edit("str_replace", f"{base}/pkg", old_str="a", new_str="b")) == (
        f"The path {base}/pkg is a directory and only the `view` command can be used on directories"
    )
    assert ed(Edit("create", f"{base}/missing/dir/new.py", file_text="x")) == (
        f"The parent directory {base}/missing/dir does not exist. Please create it first."
    )
    ed, p = oh(sandbox, base)
    assert ed(Edit("view", "rel.py")) == (
        "ERROR:\nInvalid `path` parameter: rel.py. The path should be an absolute path, starting with `/`."
    )
    assert ed(Edit("view", f"{base}/nope.py")) == (
        f"ERROR:\nInvalid `path` parameter: {base}/nope.py. The path {base}/nope.py does not exist. Please provide a "
        "valid path."
    )
    assert ed(Edit("create", p, file_text="x")) == (
        f"ERROR:\nInvalid `path` parameter: {p}. File already exists at: {p}. Cannot overwrite files using command "
        "`create`."
    )
    assert ed(Edit("insert", f"{base}/pkg", insert_line=0, new_str="x")) == (
        f"ERROR:\nInvalid `path` parameter: {base}/pkg. The path {base}/pkg is a directory and only the `view` "
        "command can be used on directories."
    )


def test_create_and_missing_parameters(sandbox, base):  # noqa: F811
    for make in (sw, oh):
        ed, _ = make(sandbox, base)
        new = f"{base}/new_{ed.style}.py"
        assert ed(Edit("create", new, file_text="a\tb\n")) == f"File created successfully at: {new}"
        assert sandbox.read_file(new) == b"a\tb\n"
        dot = "." if ed.style == "openhands" else ""
        prefix = "ERROR:\n" if ed.style == "openhands" else ""
        assert ed(Edit("create", f"{base}/other.py")) == (
            f"{prefix}Parameter `file_text` is required for command: create{dot}"
        )
        assert ed(Edit("str_replace", new)) == f"{prefix}Parameter `old_str` is required for command: str_replace{dot}"
        assert ed(Edit("insert", new, new_str="x")) == (
            f"{prefix}Parameter `insert_line` is required for command: insert{dot}"
        )
        assert ed(Edit("insert", new, insert_line=1)) == f"{prefix}Parameter `new_str` is required for command: insert{dot}"


def test_str_replace_success_snippets(sandbox, base):  # noqa: F811
    body = "".join(f"line{i}\n" for i in range(1, 21))
    for make in (sw, oh):
        ed, _ = make(sandbox, base)
        p = f"{base}/long_{ed.style}.txt"
        sandbox.write_file(p, body)
        out = ed(Edit("str_replace", p, old_str="line10\n", new_str="LINE10\nextra\n"))
        assert sandbox.read_file(p).decode() == body.replace("line10\n", "LINE10\nextra\n")
        # The window counts the newlines of new_str: SWE-agent shows lines L-5 .. L+4+n-1, OHEditor L-3 .. L+4+n
        # (plus an empty row for the final newline), L the match line and n the newlines in new_str.
        after = ["line11", "line12", "line13", "line14"]
        if ed.style == "sweagent":
            rows, first = ["line5", "line6", "line7", "line8", "line9", "LINE10", "extra", *after], 5
        else:
            rows, first = ["line7", "line8", "line9", "LINE10", "extra", *after, "line15", ""], 7
        shown = "\n".join(f"{i + first:6}\t{r}" for i, r in enumerate(rows))
        tail = "Review the changes and make sure they are as expected. Edit the file again if necessary."
        assert out == f"The file {p} has been edited. " + CAT.format(f"a snippet of {p}") + shown + "\n" + tail


def test_str_replace_errors(sandbox, base):  # noqa: F811
    for make in (sw, oh):
        ed, p = make(sandbox, base)
        prefix = "ERROR:\n" if ed.style == "openhands" else ""
        assert ed(Edit("str_replace", p, old_str="return 3", new_str="x")) == (
            f"{prefix}No replacement was performed, old_str `return 3` did not appear verbatim in {p}."
        )
        multi = ed(Edit("str_replace", p, old_str="    return", new_str="x"))
        if ed.style == "sweagent":
            assert multi == (
                "No replacement was performed. Multiple occurrences of old_str `    return` in lines [2, 6]. "
                "Please ensure it is unique"
            )
            assert ed(Edit("str_replace", p, old_str="return 1", new_str="return 1")) == (
                "No replacement was performed, old_str `return 1` is the same as new_str `return 1`."
            )
        else:
            assert multi == (
                "ERROR:\nNo replacement was performed. Multiple occurrences of old_str `    return` in lines [2, 6]. "
                "Please ensure it is unique."
            )
            assert ed(Edit("str_replace", p, old_str="return 1", new_str="return 1")) == (
                "ERROR:\nInvalid `new_str` parameter: return 1. No replacement was performed. `new_str` and `old_str` "
                "must be different."
            )
        assert sandbox.read_file(p).decode() == TEXT


def test_insert_and_out_of_range(sandbox, base):  # noqa: F811
    ed, p = sw(sandbox, base)
    assert ed(Edit("insert", p, insert_line=9, new_str="x")) == (
        "Invalid `insert_line` parameter: 9. It should be within the range of lines of the file: [0, 7]"
    )
    out = ed(Edit("insert", p, insert_line=2, new_str="    # two"))
    assert sandbox.read_file(p).decode() == TEXT.replace("return 1\n", "return 1\n    # two\n")
    assert out == (
        f"The file {p} has been edited. " + CAT.format("a snippet of the edited file")
        + "     1\tdef f():\n     2\t    return 1\n     3\t    # two\n     4\t\n     5\t\n     6\tdef g():\n"
        "     7\t    return 2\nReview the changes and make sure they are as expected (correct indentation, no "
        "duplicate lines, etc). Edit the file again if necessary."
    )
    ed, p = oh(sandbox, base)
    sandbox.write_file(p, TEXT)
    assert ed(Edit("insert", p, insert_line=-1, new_str="x")) == (
        "ERROR:\nInvalid `insert_line` parameter: -1. It should be within the range of allowed values: [0, 6]"
    )
    ed(Edit("insert", p, insert_line=0, new_str="import os"))
    assert sandbox.read_file(p).decode() == "import os\n" + TEXT


def test_undo_edit_history_per_file(sandbox, base):  # noqa: F811
    for make in (sw, oh):
        ed, p = make(sandbox, base)
        sandbox.write_file(p, TEXT)
        other = f"{base}/top.txt"
        prefix = "ERROR:\n" if ed.style == "openhands" else ""
        assert ed(Edit("undo_edit", p)) == f"{prefix}No edit history found for {p}."
        ed(Edit("str_replace", p, old_str="return 1", new_str="return 10"))
        ed(Edit("str_replace", p, old_str="return 2", new_str="return 20"))
        ed(Edit("str_replace", other, old_str="t", new_str="T"))
        out = ed(Edit("undo_edit", p))
        assert out.startswith(f"Last edit to {p} undone successfully. " + CAT.format(p) + "     1\tdef f():")
        assert sandbox.read_file(p).decode() == TEXT.replace("return 1", "return 10")
        ed(Edit("undo_edit", p))
        assert sandbox.read_file(p).decode() == TEXT
        assert ed(Edit("undo_edit", p)) == f"{prefix}No edit history found for {p}."
        assert sandbox.read_file(other) == b"T\n"  # other file's history untouched
        ed(Edit("undo_edit", other))
        assert sandbox.read_file(other) == b"t\n"


def test_sweagent_expands_tabs_like_the_original(sandbox, base):  # noqa: F811
    ed, _ = sw(sandbox, base)
    p = f"{base}/tabs.py"
    sandbox.write_file(p, "if x:\n\tpass\n")
    out = ed(Edit("str_replace", p, old_str="\tpass", new_str="\treturn"))
    assert sandbox.read_file(p) == b"if x:\n        return\n"
    assert "     2\t        return" in out


def test_openhands_refuses_binary(sandbox, base):  # noqa: F811
    ed, _ = oh(sandbox, base)
    p = f"{base}/blob.bin"
    sandbox.write_file(p, b"\x00\x01\x02")
    assert ed(Edit("view", p)) == (
        f"ERROR:\nFile validation failed for {p}: File appears to be binary and this file type cannot be read or "
        "edited by this tool."
    )
