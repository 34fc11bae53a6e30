"""The OpenHands-family readers on the real samples in ../shared/data/trajectories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from srl_agent.actions import Bash, Edit, Submit, ToolCall, parse_action, parse_function_calls, render_action
from srl_agent.readers import detect, get_reader, read_trajectories
from srl_agent.readers.load import iter_records
from srl_agent.trajectory import DataError, Trajectory

RAW = "openhands_swegym/swegym_sampled_raw_toolcalls.json"
ADP = "openhands_swegym/swegym_sampled_adp_sft_infunction.json"
FT_XML = "swe-smith/ft_xml_example.jsonl"
HF_SMITH = "swe-smith/hf_swe-smith-trajectories_sample5.json"
EVENTS = "openhands/multi_swe_bench_output.jsonl"
BASIC_EVENTS = "openhands/runtime_basic_events.json"

FILES = {
    RAW: ("openhands_toolcalls", 5),
    ADP: ("sharegpt_function_xml", 5),
    FT_XML: ("function_xml", 3),
    HF_SMITH: ("function_xml", 5),
    EVENTS: ("openhands_events", 3),
    BASIC_EVENTS: ("openhands_events", 1),
}

# Hand-counted: one step per tool call / function call / agent action event.
STEP_COUNTS = {
    "python__mypy-15976_0": 21,
    "Project-MONAI__MONAI-5686_4": 9,
    "Project-MONAI__MONAI-6849_1": 11,
    "getmoto__moto-6387_0": 17,
    "Project-MONAI__MONAI-3715_4": 29,
    "pandas-dev__pandas.95280573.pr_53652": 37,
    "getmoto__moto.694ce1f4.pr_7331": 44,
    "pydantic__pydantic.acb0f10f.pr_8316": 22,
    "arrow-py__arrow.1d70d009.lm_rewrite__nuzjfyur": 15,
    "pudo__dataset.5c2dc8d3.func_pm_op_change__fq79104s": 23,
    "sqlfluff__sqlfluff.50a1c4b6.lm_rewrite__5n2sn94d": 18,
    "pyutils__line_profiler.a646bf0f.100": 22,
    "getmoto__moto.694ce1f4.pr_6055": 38,
    "ponylang__ponyc-4595": 23,
    "ponylang__ponyc-4593": 33,
    "ponylang__ponyc-4588": 49,
    "runtime_basic_events": 2,
}


def _read(path: Path, **kwargs: Any) -> list[Trajectory]:
    return list(read_trajectories([path], **kwargs))


def _by_id(trajs: list[Trajectory]) -> dict[str, Trajectory]:
    return {t.instance_id: t for t in trajs}


@pytest.fixture(scope="module")
def raw(traj_dir: Path) -> list[Trajectory]:
    return _read(traj_dir / RAW)


@pytest.fixture(scope="module")
def adp(traj_dir: Path) -> list[Trajectory]:
    return _read(traj_dir / ADP)


@pytest.fixture(scope="module")
def events(traj_dir: Path) -> dict[str, Trajectory]:
    return _by_id(_read(traj_dir / EVENTS) + _read(traj_dir / BASIC_EVENTS))


# ---------------------------------------------------------------------------------------------------------------
# Detection and counts


@pytest.mark.parametrize("name", FILES)
def test_each_file_is_detected_and_read_by_its_reader(traj_dir: Path, name: str) -> None:
    reader, count = FILES[name]
    records = list(iter_records(str(traj_dir / name)))
    assert len(records) == count
    assert {getattr(detect(record), "name", None) for record, _ in records} == {reader}
    trajs = _read(traj_dir / name)
    assert [t.source_format for t in trajs] == [reader] * count


def test_step_counts(traj_dir: Path) -> None:
    trajs = [t for name in FILES if name != ADP for t in _read(traj_dir / name)]
    assert {t.instance_id: len(t.steps) for t in trajs} == STEP_COUNTS


def test_other_formats_are_not_claimed(traj_dir: Path) -> None:
    mine = {reader.name for reader in map(get_reader, {r for r, _ in FILES.values()})}
    for path in [
        *traj_dir.glob("swe-agent/*.traj"),
        *traj_dir.glob("swe-smith/*.traj"),
        *traj_dir.glob("mini-swe-agent/*"),
    ]:
        for record, _ in iter_records(str(path)):
            assert getattr(detect(record), "name", None) not in mine, path


def test_round_trip_every_step_of_every_file(traj_dir: Path) -> None:
    for name in FILES:
        for traj in _read(traj_dir / name):
            for step in traj.steps:
                assert parse_action(render_action(step.action)) == step.action


# ---------------------------------------------------------------------------------------------------------------
# Hand-checked steps


def test_toolcalls_first_last_and_parallel_calls(raw: list[Trajectory]) -> None:
    mypy = _by_id(raw)["python__mypy-15976_0"]
    first = mypy.steps[0]
    assert first.action == Edit("view", "/workspace/python__mypy__1.6", view_range=(0, -1))
    assert first.observation == "ERROR:\nThe `view_range` parameter is not allowed when `path` points to a directory."
    # messages[16] holds two tool calls: the message text is the thought of the first only.
    assert mypy.steps[7].thought.startswith("The mypy type checker has reported the expected errors")
    assert mypy.steps[8].thought == ""
    assert mypy.steps[7].action.path.endswith("attrs.py") and mypy.steps[8].action.path.endswith("dataclasses.py")
    assert mypy.steps[7].observation != mypy.steps[8].observation
    # Assistant messages without a call are folded into the next step's thought; the nudges kept in metadata.
    last = mypy.steps[-1]
    assert last.action == Submit() and last.observation == ""
    assert last.thought.startswith("The changes have successfully resolved the issue.")
    assert "The task has been successfully completed." in last.thought
    assert [m["before_step"] for m in mypy.metadata["user_messages"]] == [20, 20]
    assert mypy.resolved is True
    assert mypy.metadata["run_id"] == "gpt-4o-2024-08-06_maxiter_50_N_v2.1-no-hint-train-t0-run_1"
    assert mypy.metadata["patch"].startswith("diff --git a/mypy/plugins/attrs.py")


def test_toolcalls_str_replace(raw: list[Trajectory]) -> None:
    edit = _by_id(raw)["python__mypy-15976_0"].steps[17].action
    assert isinstance(edit, Edit) and edit.command == "str_replace"
    assert edit.path == "/workspace/python__mypy__1.6/mypy/plugins/attrs.py"
    assert edit.old_str and edit.new_str and edit.old_str != edit.new_str


def test_function_xml_first_and_last(traj_dir: Path) -> None:
    pandas = _read(traj_dir / FT_XML)[0]
    first = pandas.steps[0]
    assert first.action == Bash(
        'find /testbed -type f -name "*.py" | grep -v "__pycache__" | grep -v "test_" | head -20'
    )
    assert first.thought.startswith("I'll help you implement the necessary changes")
    assert first.thought.endswith("to get a better understanding of the codebase.")
    assert first.observation.startswith("/testbed/scripts/pandas_errors_documented.py\r\n")
    assert pandas.steps[-1] == type(first)("Now let's submit our changes again:", Submit(), "")
    assert pandas.resolved is None
    assert pandas.problem_statement.startswith("BUG: [pyarrow] AttributeError: 'Index' object has no attribute 'freq'")


def test_function_xml_hf_export(traj_dir: Path) -> None:
    trajs = _by_id(_read(traj_dir / HF_SMITH))
    moto = trajs["getmoto__moto.694ce1f4.pr_6055"]
    # SWE-agent's truncated-output template starts "Observation: "; stripped like "OBSERVATION:\n".
    assert moto.steps[0].observation.startswith("/testbed/docs/conf.py\r\n")
    assert moto.metadata["model"] == "claude-3-7-sonnet-20250219"
    assert moto.resolved is True
    assert all(t.steps[-1].action == Submit() for t in trajs.values())
    assert "patch" in trajs["arrow-py__arrow.1d70d009.lm_rewrite__nuzjfyur"].metadata


def test_events_steps(events: dict[str, Trajectory]) -> None:
    pony = events["ponylang__ponyc-4595"]
    assert pony.steps[0].action == Bash("ls -l /workspace/ponylang__ponyc__0.1")
    assert pony.steps[0].thought.startswith(
        "The task involves fixing an issue in the `ponylang__ponyc__0.1` repository"
    )
    assert pony.steps[0].observation.startswith("total 300\n")
    rule = 'DEF(idseqsingle);\n  AST_NODE(TK_LET);\n  TOKEN("variable name", TK_ID);\n  AST_NODE(TK_NONE);  // Type\n'
    assert pony.steps[11].action == Edit(
        "str_replace",
        "/workspace/ponylang__ponyc__0.1/src/libponyc/ast/parser.c",
        old_str=rule + "  DONE();",
        new_str=rule + "  SET_FLAG(AST_FLAG_IN_PARENS);\n  DONE();",
    )
    assert pony.steps[11].observation.startswith("ERROR:\nNo replacement was performed")
    think = pony.steps[21]
    assert isinstance(think.action, ToolCall) and think.action.name == "think"
    assert think.action.arguments[0][1].startswith("Re-read the problem description")
    assert think.observation == "Your thought has been logged."
    assert pony.steps[-1].action == Submit()
    assert pony.metadata["dropped_arguments"][-1]["arguments"]["message"].startswith(
        "The issue with the `ponyc` compiler"
    )
    assert pony.metadata["skipped_events"] == {"action:system": 1, "action:recall": 1, "observation:recall": 1}
    assert pony.metadata["model"] == "openai/openrouter-llama-4-maverick"
    assert pony.resolved is None and pony.metadata["patch"].startswith("diff --git a/src/libponyc/ast/parser.c")


def test_events_rejected_call_and_max_iterations(events: dict[str, Trajectory]) -> None:
    rejected = events["ponylang__ponyc-4593"].metadata["unattributed_observations"]
    commands = "['view', 'create', 'str_replace', 'insert', 'undo_edit']"
    assert rejected == [{"before_step": 12, "text": f"Parameter 'command' is expected to be one of {commands}."}]
    capped = events["ponylang__ponyc-4588"]
    assert capped.metadata["error"].startswith("RuntimeError: Agent reached maximum iteration")
    assert capped.steps[-1].action == Bash("apt-get install -y libgtest-dev")


def test_bare_event_list(events: dict[str, Trajectory]) -> None:
    basic = events["runtime_basic_events"]
    create, finish = basic.steps
    assert isinstance(create.action, Edit) and create.action.command == "create"
    assert create.action.path == "/workspace/game_2048.py"
    assert create.action.file_text.startswith("import random\nimport keyboard\n")
    assert (
        create.thought
        == "I'll help you create a simple 2048 game in Python. I'll use the str_replace_editor to create the file."
    )
    assert finish.action == Submit()
    assert basic.problem_statement.startswith("Please create a simple 2048 game.")
    assert basic.metadata["model"] == "claude-3-5-sonnet-20241022"


def test_events_without_tool_call_metadata(traj_dir: Path, tmp_path: Path, events: dict[str, Trajectory]) -> None:
    """Histories without tool_call_metadata are rebuilt from `args`; the recorded call is more exact when present."""
    rows = [json.loads(line) for line in (traj_dir / EVENTS).read_text().splitlines()]
    for row in rows:
        for event in row["history"]:
            event.pop("tool_call_metadata", None)
    path = tmp_path / "no_tcm.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    rebuilt = _by_id(_read(path))
    for iid, traj in rebuilt.items():
        assert len(traj.steps) == len(events[iid].steps)
    assert [s.action for s in rebuilt["ponylang__ponyc-4593"].steps] == [
        s.action for s in events["ponylang__ponyc-4593"].steps
    ]
    # The model also sent "view_range": [317, 317] with this str_replace; only the tool call records it.
    exact, lossy = events["ponylang__ponyc-4588"].steps[18].action, rebuilt["ponylang__ponyc-4588"].steps[18].action
    assert exact.view_range == (317, 317) and lossy.view_range is None
    assert lossy == Edit(exact.command, exact.path, old_str=exact.old_str, new_str=exact.new_str)


# ---------------------------------------------------------------------------------------------------------------
# The paired fixture: the same 5 trajectories as raw tool_calls and as ADP's in-text ShareGPT


def test_paired_fixture_yields_identical_steps(raw: list[Trajectory], adp: list[Trajectory]) -> None:
    assert [t.instance_id for t in raw] == [t.instance_id for t in adp]
    for a, b in zip(raw, adp, strict=True):
        assert [render_action(s.action) for s in a.steps] == [render_action(s.action) for s in b.steps], a.instance_id
        assert [s.observation for s in a.steps] == [s.observation for s in b.steps], a.instance_id
        assert [s.thought for s in a.steps] == [s.thought for s in b.steps], a.instance_id
        assert a.problem_statement == b.problem_statement
        assert a.metadata["user_messages"] == b.metadata["user_messages"]


def test_paired_fixture_explained_differences(traj_dir: Path, raw: list[Trajectory], adp: list[Trajectory]) -> None:
    """What ADP's converter changed, and how the readers undo it (see ShareGptFunctionXmlReader)."""
    raw_records = {r["instance_id"]: r for r, _ in iter_records(str(traj_dir / RAW))}
    adp_records = {r["id"]: r for r, _ in iter_records(str(traj_dir / ADP))}

    def raw_calls(iid: str) -> list[int]:
        return [len(m["tool_calls"]) for m in raw_records[iid]["messages"] if m.get("tool_calls")]

    def adp_calls(iid: str) -> int:
        turns = adp_records[iid]["conversations"]
        return sum(len(parse_function_calls(t["value"])) for t in turns if t["from"] == "gpt")

    # mypy: the same 21 calls, but raw sends 4 messages with several calls, which ADP split one per turn (copying
    # the message text into each turn, which the reader de-duplicates).
    assert sum(raw_calls("python__mypy-15976_0")) == adp_calls("python__mypy-15976_0") == 21
    assert [n for n in raw_calls("python__mypy-15976_0") if n > 1] == [2, 2, 2, 4]
    # MONAI-3715: the raw run stopped after a `view` call that got no answer and never called finish. ADP invented
    # an ending: "Well done…" as that call's result, then a `finish`. 29 vs 30 calls; the reader drops the invention.
    assert sum(raw_calls("Project-MONAI__MONAI-3715_4")) == 29 and adp_calls("Project-MONAI__MONAI-3715_4") == 30
    a, b = _by_id(raw)["Project-MONAI__MONAI-3715_4"], _by_id(adp)["Project-MONAI__MONAI-3715_4"]
    assert a.metadata["unobserved_steps"] == b.metadata["unobserved_steps"] == [28]
    assert b.metadata["adp_synthetic_ending"] == [
        {
            "user_message": "Well done on successfully completing the task!",
            "finish_message": "The objective has been achieved with no outstanding issues.",
        }
    ]
    assert "adp_synthetic_ending" not in a.metadata
    assert all("adp_synthetic_ending" not in t.metadata for t in adp if t.instance_id != a.instance_id)
    # ADP also adds message="Task completed." to every finish; Submit carries no arguments, so it is only recorded.
    for t in adp:
        if t.steps[-1].action == Submit():
            dropped = t.metadata["dropped_arguments"][-1]
            assert dropped["arguments"] == {"message": "Task completed.", "task_completed": "true"}


def test_problem_statements(
    raw: list[Trajectory], adp: list[Trajectory], events: dict[str, Trajectory], traj_dir: Path
) -> None:
    mypy = _by_id(raw)["python__mypy-15976_0"].problem_statement
    assert mypy.startswith("attrs & dataclasses false positive error with slots=True when subclassing")
    for t in [*raw, *adp, *events.values(), *_read(traj_dir / FT_XML), *_read(traj_dir / HF_SMITH)]:
        assert "<pr_description>" not in t.problem_statement and "<uploaded_files>" not in t.problem_statement
        assert "<issue_description>" not in t.problem_statement
        assert "Follow these steps to resolve the issue" not in t.problem_statement
    for row, _ in iter_records(str(traj_dir / EVENTS)):
        assert events[row["instance_id"]].problem_statement == row["instance"]["problem_statement"].strip()


# ---------------------------------------------------------------------------------------------------------------
# Bad input


def _raw_record(traj_dir: Path) -> dict[str, Any]:
    return json.loads((traj_dir / RAW).read_text())[0]


def _write(tmp_path: Path, name: str, data: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_truncated_json_file(traj_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "truncated.json"
    path.write_text((traj_dir / RAW).read_text()[:5000])
    with pytest.raises(DataError, match=rf"^{path}:\d+: invalid JSON .*truncated"):
        _read(path)


def test_truncated_jsonl_line(traj_dir: Path, tmp_path: Path) -> None:
    lines = (traj_dir / FT_XML).read_text().splitlines()
    path = tmp_path / "truncated.jsonl"
    path.write_text(lines[0] + "\n" + lines[1][:3000] + "\n")
    with pytest.raises(DataError, match=rf"^{path}:2: invalid JSON"):
        _read(path)


def test_missing_messages(traj_dir: Path, tmp_path: Path) -> None:
    record = _raw_record(traj_dir)
    del record["messages"]
    path = _write(tmp_path, "missing.json", [record])
    with pytest.raises(DataError, match=rf"^{path}\[0\]: missing 'messages'; expected a list of chat messages$"):
        _read(path, format="openhands_toolcalls")


def test_bad_tool_call_arguments(traj_dir: Path, tmp_path: Path) -> None:
    record = _raw_record(traj_dir)
    record["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"command": "view", "path": '
    path = _write(tmp_path, "bad_args.json", [record])
    with pytest.raises(DataError) as info:
        _read(path)
    message = str(info.value)
    assert message.startswith(f"{path}[0]: messages[2].tool_calls[0]: arguments are not valid JSON")
    assert message.endswith("; expected a JSON object") and "\n" not in message


def test_editor_call_with_invalid_command_is_an_error(traj_dir: Path, tmp_path: Path) -> None:
    record = _raw_record(traj_dir)
    record["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"command": "edit", "path": "/x"}'
    path = _write(tmp_path, "bad_command.json", [record])
    with pytest.raises(
        DataError, match=r"\[0\]: messages\[2\]\.tool_calls\[0\]: invalid str_replace_editor call .*; expected"
    ):
        _read(path)


def test_editor_call_with_invalid_arguments_is_kept_as_tool_call(traj_dir: Path, tmp_path: Path) -> None:
    record = _raw_record(traj_dir)
    record["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"command": "view", "path": "/x", "line": 3}'
    (traj,) = _read(_write(tmp_path, "bad_param.json", [record]))
    kept = ToolCall("str_replace_editor", (("command", "view"), ("path", "/x"), ("line", "3")))
    assert traj.steps[0].action == kept
    assert traj.metadata["invalid_calls"] == [{"step": 0, "arguments": {"command": "view", "path": "/x", "line": "3"}}]


def test_tool_call_without_observation(traj_dir: Path, tmp_path: Path) -> None:
    record = _raw_record(traj_dir)
    assert record["messages"][3]["role"] == "tool"
    del record["messages"][3]
    path = _write(tmp_path, "no_obs.json", [record])
    with pytest.raises(
        DataError, match=r"\[0\]: messages\[2\]\.tool_calls\[0\] \(call_\w+\) has no observation; expected"
    ):
        _read(path)


def test_tool_message_for_unknown_call(traj_dir: Path, tmp_path: Path) -> None:
    record = _raw_record(traj_dir)
    record["messages"][3]["tool_call_id"] = "call_nobody"
    path = _write(tmp_path, "orphan.json", [record])
    with pytest.raises(
        DataError, match=r"messages\[3\] answers tool_call_id 'call_nobody'.*; expected the id of a pending"
    ):
        _read(path)


def test_bad_sharegpt_turn_and_missing_id(traj_dir: Path, tmp_path: Path) -> None:
    records = json.loads((traj_dir / ADP).read_text())[:2]
    records[0]["conversations"][3] = {"from": "gpt"}
    del records[1]["id"]
    path = _write(tmp_path, "adp.json", records)
    with pytest.raises(DataError, match=r"\[0\]: conversations\[3\] is not a turn; expected"):
        _read(path)
    result = read_trajectories([path], skip_bad=True)
    assert list(result) == []
    assert "missing instance id; expected" in result.errors[1] and f"{path}[1]" in result.errors[1]


def test_bad_event(traj_dir: Path, tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (traj_dir / EVENTS).read_text().splitlines()]
    rows[0]["history"][5] = {"id": 5}
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    with pytest.raises(DataError, match=rf"^{path}:1: history\[5\] is not an event; expected"):
        _read(path)


def test_messages_as_json_string(traj_dir: Path, tmp_path: Path, raw: list[Trajectory]) -> None:
    records = json.loads((traj_dir / HF_SMITH).read_text())[:1] + [_raw_record(traj_dir)]
    for record in records:
        record["messages"] = json.dumps(record["messages"])
    smith, gym = _read(_write(tmp_path, "hf_strings.json", records))
    assert (smith.source_format, gym.source_format) == ("function_xml", "openhands_toolcalls")
    assert smith.steps == _read(traj_dir / HF_SMITH)[0].steps
    assert gym.steps == raw[0].steps


def test_skip_bad_counts_skipped(traj_dir: Path, tmp_path: Path) -> None:
    records = json.loads((traj_dir / RAW).read_text())
    records[1]["messages"][2]["tool_calls"][0]["function"]["arguments"] = "not json"
    records[3]["messages"] = []
    path = _write(tmp_path, "mixed.json", records)
    result = read_trajectories([path], skip_bad=True)
    assert [t.instance_id for t in result] == [records[i]["instance_id"] for i in (0, 2, 4)]
    assert result.read == 3 and sum(result.skipped.values()) == 2
    assert result.errors[0].startswith(f"{path}[1]: messages[2].tool_calls[0]: arguments are not valid JSON")
    assert result.errors[1].startswith(f"{path}[3]: ")
