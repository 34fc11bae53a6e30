"""SWE-agent (.traj 1.x / 0.x, SWE-smith), nebius and mini-swe-agent readers, on the real files in ../shared/data."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import pytest

from srl_agent.actions import Bash, Edit, Submit, ToolCall, parse_action, render_action
from srl_agent.readers import detect, read_trajectories
from srl_agent.readers.load import iter_records
from srl_agent.readers.minisweagent import MiniSweAgentReader
from srl_agent.readers.nebius import NebiusReader, split_response
from srl_agent.readers.sweagent import SweAgentTrajReader, strip_issue_template
from srl_agent.readers.sweagent_commands import action_from_tool_call, parse_command, split_words
from srl_agent.trajectory import DataError

SWE_AGENT, NEBIUS, MINI = SweAgentTrajReader.name, NebiusReader.name, MiniSweAgentReader.name
MY_READERS = {SWE_AGENT, NEBIUS, MINI}

# file (relative to shared/data/trajectories) -> (reader, step count per trajectory)
EXPECTED = {
    "swe-agent/demo_function_calling_simple.traj": (SWE_AGENT, [5]),
    "swe-agent/demo_marshmallow-1867__default.traj": (SWE_AGENT, [14]),
    "swe-agent/demo_marshmallow-1867__function_calling_replace.traj": (SWE_AGENT, [11]),
    "swe-agent/demo_marshmallow-1867__xml_sys-env_window100.traj": (SWE_AGENT, [11]),
    "swe-agent/gpt4_pydicom__pydicom-1458.traj": (SWE_AGENT, [12]),
    "swe-smith/pandas-dev__pandas.95280573.pr_53652.traj": (SWE_AGENT, [37]),
    "swe-smith/pandas-dev__pandas.95280573.pr_53856.traj": (SWE_AGENT, [17]),
    "swe-smith/pydantic__pydantic.acb0f10f.pr_8316.traj": (SWE_AGENT, [22]),
    "nebius/nebius_swe-agent-trajectories_sample5.json": (NEBIUS, [6, 14, 5, 8, 16]),
    "mini-swe-agent/tests_github_issue.traj.json": (MINI, [10]),
    "mini-swe-agent/tests_local.traj.json": (MINI, [2]),
}


def read_one(path: Path):
    (traj,) = read_trajectories([path])
    return traj


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------------------
# Detection, step counts, round trip


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_detected_by_the_right_reader_with_expected_steps(traj_dir, rel):
    reader_name, counts = EXPECTED[rel]
    path = traj_dir / rel
    records = list(iter_records(str(path)))
    assert {detect(record).name for record, _ in records} == {reader_name}
    trajs = list(read_trajectories([path]))
    assert [len(t.steps) for t in trajs] == counts
    for traj in trajs:
        assert traj.source_format == reader_name
        assert traj.instance_id and traj.problem_statement
        for step in traj.steps:
            assert parse_action(render_action(step.action)) == step.action


def test_no_other_file_is_claimed_by_these_readers(traj_dir):
    """OpenHands-family files, SWE-smith SFT rows and the mini-swe-agent predictions file belong to other readers."""
    for path in sorted(p for p in traj_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(traj_dir))
        if rel in EXPECTED:
            continue
        for record, origin in iter_records(str(path)):
            reader = detect(record)
            assert reader is None or reader.name not in MY_READERS, (origin, reader.name)


def test_predictions_file_is_unrecognised(traj_dir):
    path = traj_dir / "mini-swe-agent" / "tests_results.json"
    with pytest.raises(DataError, match="tests_results.json: unrecognised trajectory format"):
        list(read_trajectories([path]))


def test_directory_read_covers_all_formats(traj_dir):
    sources = [traj_dir / "swe-agent", traj_dir / "nebius", traj_dir / "mini-swe-agent" / "tests_local.traj.json"]
    formats = {t.source_format for t in read_trajectories(sources)}
    assert formats == MY_READERS


# ---------------------------------------------------------------------------------------------------------------
# SWE-agent 1.x / SWE-smith


def test_swe_smith_first_action_and_metadata(traj_dir):
    traj = read_one(traj_dir / "swe-smith" / "pandas-dev__pandas.95280573.pr_53652.traj")
    assert traj.instance_id == "pandas-dev__pandas.95280573.pr_53652"
    assert traj.steps[0].action == Bash(
        'find /testbed -type f -name "*.py" | grep -v "__pycache__" | grep -v "test_" | head -20'
    )
    assert traj.steps[1].action == Edit("view", "/testbed/pandas/core/indexes/base.py", view_range=(6035, 6050))
    assert traj.steps[-1].action == Submit()
    assert traj.resolved is None  # exit_status "submitted" is not a resolution
    assert traj.metadata["exit_status"] == "submitted"
    assert traj.metadata["submission"].startswith("diff --git a/pandas/core/indexes/base.py")
    assert traj.metadata["model"] == "claude-3-7-sonnet-20250219"
    assert traj.metadata["scaffold_version"] == "1.0.1"
    assert traj.problem_statement.startswith("BUG: [pyarrow] AttributeError: 'Index' object has no attribute 'freq'")
    assert not traj.steps[0].observation.startswith("OBSERVATION:")  # the raw observation, not the templated message


def test_str_replace_equals_tool_call_json(traj_dir):
    path = traj_dir / "swe-smith" / "pydantic__pydantic.acb0f10f.pr_8316.traj"
    data = load_json(path)
    calls = [
        json.loads(m["tool_calls"][0]["function"]["arguments"])
        for m in data["history"]
        if m["role"] == "assistant" and m["tool_calls"][0]["function"]["name"] == "str_replace_editor"
    ]
    str_replaces = [c for c in calls if c["command"] == "str_replace"]
    edits = [s.action for s in read_one(path).steps if isinstance(s.action, Edit) and s.action.command == "str_replace"]
    assert len(edits) == len(str_replaces) == 6
    for edit, call in zip(edits, str_replaces, strict=True):
        assert (edit.path, edit.old_str, edit.new_str) == (call["path"], call["old_str"], call["new_str"])
    assert '"""Convert a PascalCase, camelCase, or kebab-case string to snake_case.' in edits[0].old_str


def test_command_string_and_tool_call_agree_on_every_step(traj_dir):
    """The shell-quoted rendering parses to the same action as the exact JSON, for all 1.x files."""
    compared = 0
    for path in sorted((traj_dir / "swe-smith").glob("*.traj")) + sorted((traj_dir / "swe-agent").glob("*.traj")):
        for msg in load_json(path)["history"]:
            if msg["role"] != "assistant" or not msg.get("tool_calls"):
                continue
            function = msg["tool_calls"][0]["function"]
            from_json, _ = action_from_tool_call(function["name"], json.loads(function["arguments"]), msg["action"])
            from_string, _ = parse_command(msg["action"])
            assert from_json == from_string, msg["action"][:200]
            compared += 1
    assert compared > 90


def test_problem_statement_from_history_matches_replay_config(traj_dir):
    for rel in (
        "swe-smith/pydantic__pydantic.acb0f10f.pr_8316.traj",
        "swe-agent/demo_marshmallow-1867__xml_sys-env_window100.traj",
    ):
        data = load_json(traj_dir / rel)
        replay = data["replay_config"]
        replay = json.loads(replay) if isinstance(replay, str) else replay
        expected = replay["problem_statement"]["text"].strip()
        assert read_one(traj_dir / rel).problem_statement == expected
        del data["replay_config"]  # now it must come from the first user message, template stripped
        traj = SweAgentTrajReader().read(data, _origin(rel))
        assert traj.problem_statement == expected


# ---------------------------------------------------------------------------------------------------------------
# SWE-agent 0.x and demonstrations


def test_sweagent_0x_windowed_edit_create_and_submit(traj_dir):
    traj = read_one(traj_dir / "swe-agent" / "gpt4_pydicom__pydicom-1458.traj")
    assert traj.instance_id == "gpt4_pydicom__pydicom-1458"  # no replay_config: the file stem
    assert traj.problem_statement.startswith("Pixel Representation attribute should be optional for pixel data handler")
    assert "ISSUE:" not in traj.problem_statement and "INSTRUCTIONS" not in traj.problem_statement
    assert traj.steps[0].action == Edit("create", "reproduce_bug.py", file_text="")
    assert traj.steps[3].action == Bash('find_file "numpy_handler.py"')
    edit = traj.steps[8].action
    assert isinstance(edit, ToolCall) and edit.name == "edit"
    args = dict(edit.arguments)
    assert (args["start_line"], args["end_line"]) == ("287", "296")
    assert args["replacement_text"].startswith("    required_elements = [\n")
    assert "end_of_edit" not in args["replacement_text"]
    assert traj.steps[-1].action == Submit()
    assert (
        traj.steps[0].thought.startswith("First, I'll create a new Python script") and traj.steps[0].thought[-1] != "\n"
    )


def test_marshmallow_line_edit_args(traj_dir):
    traj = read_one(traj_dir / "swe-agent" / "demo_marshmallow-1867__default.traj")
    assert traj.steps[10].action == ToolCall(
        "edit",
        (
            ("start_line", "1475"),
            ("end_line", "1475"),
            (
                "replacement_text",
                "        return int(round(value.total_seconds() / base_unit.total_seconds()))  # round to nearest int",
            ),
        ),
    )


def test_function_calling_replace_tools(traj_dir):
    traj = read_one(traj_dir / "swe-agent" / "demo_marshmallow-1867__function_calling_replace.traj")
    assert traj.instance_id == "marshmallow-code__marshmallow-1867"
    assert traj.steps[0].action == Edit("create", "reproduce.py", file_text="")
    insert = traj.steps[1].action
    assert isinstance(insert, ToolCall) and insert.name == "insert" and [k for k, _ in insert.arguments] == ["text"]
    assert traj.steps[5].action == Bash('open "src/marshmallow/fields.py" 1474')  # a shell function: stays Bash
    assert traj.steps[7].action == ToolCall(
        "edit",
        (
            ("search", "return int(value.total_seconds() / base_unit.total_seconds())"),
            (
                "replace",
                "# round to nearest int\n        return int(round(value.total_seconds() / base_unit.total_seconds()))",
            ),
        ),
    )


def test_history_only_demonstration(traj_dir):
    traj = read_one(traj_dir / "swe-agent" / "demo_function_calling_simple.traj")
    assert [type(s.action).__name__ for s in traj.steps] == ["Bash", "Bash", "ToolCall", "Bash", "Submit"]
    assert traj.steps[0].observation.startswith('Found 1 matches for "missing_colon.py"')
    assert traj.problem_statement.startswith("SyntaxError: invalid syntax\nI'm running `missing_colon.py`")


# ---------------------------------------------------------------------------------------------------------------
# nebius


def test_nebius_rows(traj_dir):
    trajs = list(read_trajectories([traj_dir / "nebius" / "nebius_swe-agent-trajectories_sample5.json"]))
    first = trajs[0]
    assert first.instance_id == "tomerfiliba__plumbum-366_17"
    assert first.resolved is True and all(t.resolved is True for t in trajs)
    assert first.metadata["model"] == "swe-agent-llama-70b"
    assert first.problem_statement.startswith("SyntaxError in plumbum/cli/image.py\nimage.py contains the line")
    assert first.problem_statement.endswith("how to achieve this purpose in legal python?")
    assert first.steps[0].action == Bash("ls -F")
    assert first.steps[0].thought.startswith("To start addressing the issue") and "```" not in first.steps[0].thought
    assert first.steps[0].observation.startswith("CHANGELOG.rst\n")
    assert first.steps[3].action == ToolCall(
        "edit", (("start_line", "5"), ("end_line", "5"), ("replacement_text", "import plumbum.cli as cli"))
    )
    assert first.steps[-1].action == Submit() and first.steps[-1].observation == ""


def test_split_response_like_sweagent_0x():
    text = "Add a README.\n```\nedit 1:1\n# Title\n```python\nprint(1)\n```\nend_of_edit\n```\n"
    thought, command = split_response(text)
    assert thought == "Add a README.\n"
    assert command == "edit 1:1\n# Title\n```python\nprint(1)\n```\nend_of_edit\n"
    assert split_response("no command here") is None
    assert split_response("two\n```\nls\n```\nthen\n```\npwd\n```") == ("two\n```\nls\n```\nthen\n", "pwd\n")


# ---------------------------------------------------------------------------------------------------------------
# mini-swe-agent


def test_mini_swe_agent_github_issue(traj_dir):
    traj = read_one(traj_dir / "mini-swe-agent" / "tests_github_issue.traj.json")
    assert traj.instance_id == "tests_github_issue"
    assert traj.problem_statement.startswith("GitHub Issue: SyntaxError: invalid syntax\n\nI'm running")
    assert "You can execute bash commands" not in traj.problem_statement
    sed = traj.steps[4].action
    signature = "def division(a: float, b: float) -> float"
    assert sed == Bash(f"sed -i 's/{signature}/{signature}:/' tests/missing_colon.py")
    assert traj.steps[8].action.command.startswith("cat > tests/missing_colon.py << 'EOF'\n")  # heredoc edit stays Bash
    assert traj.steps[0].observation.startswith("<returncode>1</returncode>\n<output>\ncat: ")
    assert traj.steps[-1].action == Submit()
    assert traj.steps[-1].observation.startswith("diff --git a/tests/missing_colon.py")
    assert any("mapped to Submit" in note for note in traj.metadata["notes"])


def test_mini_swe_agent_wrapped_format_and_rejected_turns(traj_dir):
    messages = load_json(traj_dir / "mini-swe-agent" / "tests_local.traj.json")
    rejected = [
        {"role": "assistant", "content": "I will run two.\n```bash\nls\n```\n```bash\npwd\n```"},
        {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks, found 2 actions."},
    ]
    record = {
        "messages": messages[:2] + rejected + messages[2:],
        "info": {
            "exit_status": "Submitted",
            "submission": "",
            "mini_version": "1.9.0",
            "config": {"model": {"model_name": "claude"}},
        },
        "trajectory_format": "mini-swe-agent-1",
        "instance_id": "django__django-1",
    }
    reader = detect(record)
    assert reader is not None and reader.name == MINI
    traj = reader.read(record, _origin("x.traj.json"))
    assert traj.instance_id == "django__django-1" and traj.metadata["model"] == "claude"
    assert [s.action for s in traj.steps] == [Bash("echo 'hello world'"), Submit()]
    assert traj.steps[0].thought == "Here be some dummy command:"
    assert any("2 bash blocks skipped" in n for n in traj.metadata["notes"])
    assert traj.problem_statement == "Blah blah blah"


# ---------------------------------------------------------------------------------------------------------------
# Command-string parser


@pytest.mark.parametrize(
    "command, expected",
    [
        ("submit", Submit()),
        ("  submit\n", Submit()),
        ("ls -la", Bash("ls -la")),
        ("open src/a.py 10", Bash("open src/a.py 10")),
        ("scroll_down", Bash("scroll_down")),
        ('search_dir "def foo" src', Bash('search_dir "def foo" src')),
        ("create new.py", Edit("create", "new.py", file_text="")),
        ("str_replace_editor view /t/a.py  --view_range 1 20", Edit("view", "/t/a.py", view_range=(1, 20))),
        ("str_replace_editor view /t/a.py  --view_range 5 -1", Edit("view", "/t/a.py", view_range=(5, -1))),
        ("str_replace_editor view /t", Edit("view", "/t")),
        ("str_replace_editor undo_edit /t/a.py", Edit("undo_edit", "/t/a.py")),
        (
            "str_replace_editor str_replace /t/a.py   --old_str 'it'\"'\"'s' --new_str 'a\nb\n\n  c'",
            Edit("str_replace", "/t/a.py", old_str="it's", new_str="a\nb\n\n  c"),
        ),
        (
            "str_replace_editor str_replace /t/a.py   --old_str 'x = 1'",  # deletion: no --new_str
            Edit("str_replace", "/t/a.py", old_str="x = 1"),
        ),
        (
            "str_replace_editor insert /t/a.py    --new_str '    pass' --insert_line 7",
            Edit("insert", "/t/a.py", new_str="    pass", insert_line=7),
        ),
        (
            "str_replace_editor create /t/b.py --file_text 'print(\"hi\")\n# --new_str is text here\n'",
            Edit("create", "/t/b.py", file_text='print("hi")\n# --new_str is text here\n'),
        ),
        (
            "str_replace_editor str_replace /t/a.py   --old_str '' --new_str --flag",
            Edit("str_replace", "/t/a.py", old_str="", new_str="--flag"),
        ),
        (
            "edit 10:12\n    return a / b\n\nend_of_edit",
            ToolCall("edit", (("start_line", "10"), ("end_line", "12"), ("replacement_text", "    return a / b\n"))),
        ),
        ("edit 3:4\nend_of_edit", ToolCall("edit", (("start_line", "3"), ("end_line", "4"), ("replacement_text", "")))),
        ("edit 'a b' 'c'\"'\"'d'", ToolCall("edit", (("search", "a b"), ("replace", "c'd")))),
        ("edit x y True", ToolCall("edit", (("search", "x"), ("replace", "y"), ("replace-all", "True")))),
        ("insert 'line one\nline two' 5", ToolCall("insert", (("text", "line one\nline two"), ("line", "5")))),
    ],
)
def test_parse_command(command, expected):
    action, note = parse_command(command)
    assert action == expected and note is None
    assert parse_action(render_action(action)) == action


@pytest.mark.parametrize(
    "command, why",
    [
        ("str_replace_editor view", "invalid str_replace_editor"),
        ("str_replace_editor view /t/a.py --view_range 10", "--view_range needs two line numbers"),
        ("str_replace_editor view /t/a.py --view_range a b", "invalid str_replace_editor"),
        ("str_replace_editor frobnicate /t/a.py", "command must be one of"),
        ("str_replace_editor view /t/a.py --color red", "unexpected argument"),
        ("str_replace_editor create /t/a.py --file_text 'unterminated", "unterminated quote"),
        ("edit 10:12\n    x = 1\n", "without a final 'end_of_edit'"),
        ("edit onlyone", "expected SEARCH REPLACE"),
        ("create", "expected one FILE"),
        ("insert", "expected TEXT [LINE]"),
    ],
)
def test_unparseable_commands_stay_bash_with_a_note(command, why):
    action, note = parse_command(command)
    assert action == Bash(command.strip())
    assert note is not None and why in note and "kept the command string as Bash" in note


def test_invalid_tool_call_arguments_stay_bash():
    action, note = action_from_tool_call("str_replace_editor", {"command": "view"}, "str_replace_editor view")
    assert action == Bash("str_replace_editor view") and "invalid str_replace_editor arguments" in note
    action, note = action_from_tool_call("find_file", {"file_name": "a.py"}, "find_file a.py")
    assert action == Bash("find_file a.py") and note is None
    action, _ = action_from_tool_call("bash", {"command": "submit"}, "submit")
    assert action == Submit()
    action, _ = action_from_tool_call("edit", {"start_line": 3, "end_line": 4, "replacement_text": "x"}, "edit 3:4")
    assert action == ToolCall("edit", (("start_line", "3"), ("end_line", "4"), ("replacement_text", "x")))


@pytest.mark.parametrize(
    "text",
    [
        'a \'b c\' "d \\"e\\" $f" g\\ h',
        "x 'it'\"'\"'s' ''",
        "cmd  --opt   'multi\nline\n'\t'tab'",
        "",
        "   ",
    ],
)
def test_split_words_matches_shlex(text):
    assert split_words(text) == shlex.split(text)


def test_split_words_line_continuation_like_sh():
    # shlex keeps backslash-newline; sh (which runs the command) removes it, inside double quotes too.
    assert split_words("back\\\nslash \"dq\\\nnl\" 'sq\\\n'") == ["backslash", "dqnl", "sq\\\n"]


@pytest.mark.parametrize("text", ["'open", 'say "hi', "trailing\\"])
def test_split_words_rejects_unterminated(text):
    with pytest.raises(ValueError):
        split_words(text)


def test_strip_issue_template():
    swe = "We're currently solving …:\nISSUE:\nBug in foo\n\nDetails.\n\nINSTRUCTIONS:\nNow, you're going to…"
    assert strip_issue_template(swe) == "Bug in foo\n\nDetails."
    smith = "<uploaded_files>\n/testbed\n</uploaded_files>\n…\n<pr_description>\nFix bar\n</pr_description>\n\nCan you…"
    assert strip_issue_template(smith) == "Fix bar"
    assert strip_issue_template("  plain issue\n") == "plain issue"


# ---------------------------------------------------------------------------------------------------------------
# Bad input


def _origin(name: str):
    from srl_agent.trajectory import Origin

    return Origin(name)


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


@pytest.fixture
def small_traj(traj_dir):
    return load_json(traj_dir / "swe-agent" / "demo_marshmallow-1867__xml_sys-env_window100.traj")


def test_truncated_traj(tmp_path, traj_dir):
    text = (traj_dir / "swe-smith" / "pydantic__pydantic.acb0f10f.pr_8316.traj").read_text(encoding="utf-8")
    path = _write(tmp_path, "cut.traj", text[:5000])
    with pytest.raises(DataError, match=r"cut\.traj:\d+: invalid JSON .*truncated"):
        list(read_trajectories([path]))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["trajectory"][1].pop("action"),
            r"trajectory\[1\]\.action is missing; expected the agent's command",
        ),
        (lambda d: d["trajectory"][2].update(action=["ls"]), r"trajectory\[2\]\.action is a list; expected"),
        (
            lambda d: d["trajectory"][0].update(observation=3),
            r"trajectory\[0\]\.observation is an int; expected a string",
        ),
        (lambda d: d["trajectory"].__setitem__(4, "ls"), r"trajectory\[4\] is a str; expected an object"),
        (lambda d: d.update(trajectory={"a": 1}), r"'trajectory' is a dict; expected a list of steps"),
        (lambda d: d.update(replay_config="{not json"), r"'replay_config' is not valid JSON"),
        (lambda d: d.update(info=[1]), r"'info' is a list; expected an object"),
        (lambda d: d["history"].__setitem__(3, None), r"history\[3\] is missing; expected a message object"),
    ],
)
def test_bad_traj_names_file_and_expectation(tmp_path, small_traj, mutate, message):
    mutate(small_traj)
    path = _write(tmp_path, "bad.traj", small_traj)
    with pytest.raises(DataError, match=message) as err:
        list(read_trajectories([path]))
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_bad_nebius_and_mini(tmp_path, traj_dir):
    rows = load_json(traj_dir / "nebius" / "nebius_swe-agent-trajectories_sample5.json")
    rows[1]["trajectory"][2]["text"] = None
    path = _write(tmp_path, "neb.json", rows)
    with pytest.raises(DataError, match=r"neb\.json\[1\]: trajectory\[2\]\.text is missing; expected a string"):
        list(read_trajectories([path]))
    del rows[0]["instance_id"]
    with pytest.raises(DataError, match=r"neb\.json\[0\]: 'instance_id' is missing; expected a non-empty string"):
        list(read_trajectories([_write(tmp_path, "neb.json", rows)]))

    messages = load_json(traj_dir / "mini-swe-agent" / "tests_local.traj.json")
    messages[3]["content"] = {"oops": 1}
    path = _write(tmp_path, "mini.traj.json", {"messages": messages, "trajectory_format": "mini-swe-agent-1"})
    with pytest.raises(DataError, match=r"mini\.traj\.json: message 3 content is a dict; expected text"):
        list(read_trajectories([path]))


# ---------------------------------------------------------------------------------------------------------------
# Performance


def test_reading_is_fast(traj_dir):
    """Budget: 5,000 trajectories in < 60 s on 2 cores. Reading (JSON already parsed) must be a small part of it."""
    records = [
        (record, origin, detect(record)) for rel in EXPECTED for record, origin in iter_records(str(traj_dir / rel))
    ]
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for record, origin, reader in records:
            reader.read(record, origin)
    per_trajectory = (time.perf_counter() - start) / (rounds * len(records))
    assert per_trajectory < 0.004, f"{per_trajectory * 1000:.2f} ms per trajectory"
