"""PivotRL rows (NeMo Gym swe_pivot) on the shared real files: the reader, the `pivot` reward's gates, and the
rescoring of the recorded rollouts."""

import json

import pytest

from srl_agent.actions import Bash, Edit, ToolCall, parse_action, render_action
from srl_agent.cli import main
from srl_agent.data.instances import read_instances
from srl_agent.readers import detect, read_trajectories
from srl_agent.reward import srl_reward
from srl_agent.reward_pivot import Failure, PivotConfig, ToolCallArgs, call_of_action, category, pivot_verdict
from srl_agent.reward_pivot_rollouts import expected_call, rescore_rollouts


@pytest.fixture(scope="module")
def pivot_dir(traj_dir):
    return traj_dir / "nemo_pivot"


@pytest.fixture(scope="module")
def rows(pivot_dir):
    return [json.loads(line) for line in (pivot_dir / "example.jsonl").read_text().splitlines() if line.strip()]


def test_reader_one_target_step_per_row(pivot_dir, rows):
    trajs = list(read_trajectories([pivot_dir / "example.jsonl"]))
    assert [t.source_format for t in trajs] == ["nemo_pivot"] * len(rows) == ["nemo_pivot"] * 5
    by_uuid = {t.metadata["uuid"]: t for t in trajs}
    fix = by_uuid["example_1"]
    assert fix.problem_statement.startswith("In /workspace/proj/foo.py, the function `total(values)`")
    assert fix.first_target == 0 and len(fix.steps) == 1
    assert fix.steps[0].action == Edit("str_replace", "/workspace/proj/foo.py", old_str="    result = 0\n    return None",
                                       new_str="    result = 0\n    for v in values:\n        result += v\n    return result")
    assert by_uuid["example_2"].steps[0].action == Bash("grep -rn 'def calculate_total' /workspace/proj")
    assert by_uuid["example_3"].steps[0].action.view_range == (40, 80)
    for t in trajs:
        assert parse_action(render_action(t.steps[-1].action)) == t.steps[-1].action
    # the scored rollouts carry no expert action: not detected as pivot rows
    rollout = json.loads((pivot_dir / "example_rollouts.jsonl").read_text().splitlines()[0])
    assert detect(rollout) is None


def test_context_turns_become_context_steps_not_targets(rows, tmp_path):
    row = dict(rows[0])
    row["responses_create_params"] = {"input": [
        *rows[0]["responses_create_params"]["input"],
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "look at the file first"}]},
        {"type": "function_call", "name": "str_replace_editor", "call_id": "c1",
         "arguments": json.dumps({"command": "view", "path": "/workspace/proj/foo.py"})},
        {"type": "function_call_output", "call_id": "c1", "output": "def total(values):\n    result = 0\n    return None"},
        {"type": "function_call", "name": "lint_file", "call_id": "c2", "arguments": json.dumps({"path": "foo.py"})},
        {"type": "function_call_output", "call_id": "c2", "output": "ok"},
    ]}
    path = tmp_path / "pivot.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (traj,) = read_trajectories([path])
    assert traj.first_target == 2 and len(traj.steps) == 3
    assert traj.steps[0].thought == "look at the file first" and "return None" in traj.steps[0].observation
    assert traj.steps[1].action == ToolCall("lint_file", (("path", "foo.py"),))  # unknown tools are kept
    assert main(["data", "convert", str(path), "-o", str(tmp_path / "srl.jsonl")]) == 0
    (inst,) = read_instances(tmp_path / "srl.jsonl")
    assert inst.step_index == 2 and inst.action_type == "edit:str_replace"
    assert any("return None" in m["content"] for m in inst.prompt)  # the context's observation is in the prompt


def test_data_stats_and_formats_show_pivot(pivot_dir, capsys):
    assert main(["data", "formats"]) == 0
    assert "nemo_pivot" in capsys.readouterr().out
    assert main(["data", "stats", str(pivot_dir / "example.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "nemo_pivot 5" in out and "steps (= SRL instances): 5" in out


def test_rescored_rollouts_equal_the_recorded_rewards(pivot_dir, rows):
    rollouts = [json.loads(line) for line in (pivot_dir / "example_rollouts.jsonl").read_text().splitlines() if line.strip()]
    checks = rescore_rollouts(rows, rollouts)
    assert len(checks) == len(rollouts) == 5
    for check in checks:
        assert check.equal, check
        assert check.ours.reward == check.recorded.reward
    # the real rollouts answered in text: every recorded verdict is "no function_call", and so is ours
    assert {c.ours.failure for c in checks} == {Failure.MODEL_OUTPUT_INVALID}


def _expert(rows, uuid):
    return expected_call(next(r for r in rows if r["uuid"] == uuid))


def _call(name, **args):
    return ToolCallArgs(name, args)


def test_gates_on_the_real_expert_actions(rows):
    for row in rows:
        expert = expected_call(row)
        assert pivot_verdict(expert, expert).reward == 1.0
    grep = _expert(rows, "example_2")
    # quoting differs: same verb, same path, similarity >= 0.8
    v = pivot_verdict(_call("bash", command='grep -rn "def calculate_total" /workspace/proj'), grep)
    assert (v.reward, v.failure, v.tool_name_match, v.target_match) == (1.0, Failure.NONE, True, True)
    v = pivot_verdict(_call("execute_bash", command="pytest /workspace/proj"), grep)
    assert (v.reward, v.failure, v.target_match) == (0.0, Failure.TARGET_MISMATCH, False)  # another verb
    v = pivot_verdict(_call("execute_bash", command="grep -rn 'def calculate_total' /opt/other"), grep)
    assert v.failure == Failure.TARGET_MISMATCH  # no shared path
    v = pivot_verdict(_call("str_replace_editor", command="view", path="/workspace/proj"), grep)
    assert (v.reward, v.failure, v.tool_name_match) == (0.0, Failure.TOOL_NAME_MISMATCH, False)

    edit = _expert(rows, "example_1")
    args = json.loads(json.dumps(edit.args))
    assert pivot_verdict(_call("StrReplaceEditor", **args), edit).reward == 1.0  # CamelCase, same category
    assert pivot_verdict(_call("text_editor", **args), edit).reward == 1.0  # another edit tool
    moved = {**args, "path": "/workspace/proj/bar.py"}
    assert pivot_verdict(_call("str_replace_editor", **moved), edit).failure == Failure.TARGET_MISMATCH
    rooted = {**args, "path": "/testbed/proj/foo.py"}  # another root, same last two components
    assert pivot_verdict(_call("str_replace_editor", **rooted), edit).reward == 1.0
    wrong_fix = {**args, "new_str": "    return sum(values)"}
    v = pivot_verdict(_call("str_replace_editor", **wrong_fix), edit)
    assert v.failure == Failure.SIMILARITY_BELOW_THRESHOLD and v.similarity < 0.8

    view = _expert(rows, "example_3")
    assert pivot_verdict(_call("str_replace_editor", command="view", path="/workspace/proj/models.py"), view).reward == 1.0
    half = _call("str_replace_editor", command="view", path="/workspace/proj/models.py", view_range=[40, 60])
    assert pivot_verdict(half, view).failure == Failure.TARGET_MISMATCH  # covers 50% < 80% of the range
    assert pivot_verdict(None, view).failure == Failure.MODEL_OUTPUT_INVALID


def test_continuous_mode_partial_credit_and_size_shaping(rows):
    edit = _expert(rows, "example_1")
    cfg = PivotConfig(continuous=True)
    pred = _call("str_replace_editor", **{**edit.args, "new_str": "    result = 0\n    for v in values:\n        result = result + v\n    return result"})
    v = pivot_verdict(pred, edit, cfg)
    content = f"{pred.args['old_str']}\n{pred.args['new_str']}"
    penalty = 0.1 * min(len(content) / 500, 1.0)
    base = 1.0 if v.similarity >= 0.8 else 0.5 + 0.5 * (v.similarity - 0.4) / 0.4
    assert v.diff_size_penalty == pytest.approx(penalty) and v.reward == pytest.approx(base * (1 - penalty))
    low = _call("str_replace_editor", **{**edit.args, "new_str": "    total = 0\n    for x in values:\n        total = total + x\n    return total"})
    v = pivot_verdict(low, edit, cfg)
    assert 0.4 <= v.similarity < 0.8, v.similarity
    assert 0.5 * 0.9 <= v.reward < 1.0
    assert v.reward == pytest.approx((0.5 + 0.5 * (v.similarity - 0.4) / 0.4) * (1 - v.diff_size_penalty))


def test_category_table_and_canonical_actions():
    assert category("execute_bash") == category("Bash") == category("shell") != category("str_replace_editor")
    assert category("some_custom_tool").value == "unknown"
    assert pivot_verdict(_call("custom"), _call("custom")).reward == 1.0  # unknown tools match by name only
    assert pivot_verdict(_call("custom"), _call("other")).failure == Failure.TOOL_NAME_MISMATCH
    view = call_of_action(Edit("view", "/testbed/a.py", view_range=(1, 20)))
    assert view.args == {"command": "view", "path": "/testbed/a.py", "view_range": [1, 20]}


def test_srl_reward_pivot_mode_has_no_format_penalty():
    expert = render_action(Bash("grep -rn 'def calculate_total' /workspace/proj"))
    paraphrase = render_action(Bash('grep -rn "def calculate_total" /workspace/proj'))
    assert srl_reward(f"<think>find it</think>\n{paraphrase}", expert, mode="pivot") == 1.0
    assert srl_reward(paraphrase, expert, mode="pivot") == 1.0  # no think block required
    assert srl_reward("I would grep for it.", expert, mode="pivot") == 0.0
    assert srl_reward("I would grep for it.", expert, mode="difflib") == -1.0


def test_train_one_step_on_pivot_rows_with_the_pivot_reward_and_a_leak_checked_split(pivot_dir, tmp_path, capsys):
    split = tmp_path / "split"
    assert main(["data", "split", str(pivot_dir / "example.jsonl"), "--by", "trajectory", "-o", str(split)]) == 0
    out = tmp_path / "run"
    args = ["train", "--trajectories", str(split / "train"), "--model", "tiny", "--output", str(out), "--steps", "1",
            "--eval-bench", str(split), "history_window=1", "max_prompt_tokens=1024", "group_size=4", "batch_size=2",
            "micro_batch_size=8", "max_completion_tokens=32", "progress=false", "max_sampling_rounds=1",
            "reward_mode=pivot", "save_every=0"]
    assert main(args) == 0
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert "leak check: no task shared" in printed and "4 trajectories -> 4 instances" in printed
    (row,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert row["step"] == 1 and 0.0 <= row["reward_mean"] <= 1.0  # pivot rewards are never the -1 penalty
    assert json.loads((out / "config.json").read_text())["reward_mode"] == "pivot"
