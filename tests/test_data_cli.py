"""`srl-agent data …` end to end on the real trajectories in ../shared/data, through the real CLI entry point."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from srl_agent.actions import parse_action, render_action
from srl_agent.cli import main
from srl_agent.data.instances import read_instances
from srl_agent.readers import read_trajectories

# Files that hold no trajectories: a predictions file, and NeMo Gym's scored rollouts (no expert action) and metrics.
NOT_TRAJECTORIES = {"tests_results.json", "example_rollouts.jsonl", "example_metrics.json"}


def trajectory_files(traj_dir: Path) -> list[Path]:
    return sorted(p for p in traj_dir.rglob("*") if p.is_file() and p.name not in NOT_TRAJECTORIES)


def test_every_shared_file_reads_and_every_action_round_trips(traj_dir):
    formats = set()
    for path in trajectory_files(traj_dir):
        trajs = list(read_trajectories([path]))
        assert trajs, path
        for traj in trajs:
            formats.add(traj.source_format)
            assert traj.instance_id and traj.steps, (path, traj.instance_id)
            for step in traj.steps:
                assert parse_action(render_action(step.action)) == step.action
    assert len(formats) >= 6, formats


def test_predictions_file_is_reported_not_guessed(traj_dir, capsys):
    code = main(["data", "stats", str(traj_dir / "mini-swe-agent" / "tests_results.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "tests_results.json: unrecognised trajectory format" in err and "Traceback" not in err


def test_convert_jsonl_and_parquet_load_with_datasets(traj_dir, tmp_path, capsys):
    from datasets import load_dataset

    src = traj_dir / "openhands_swegym" / "swegym_sampled_raw_toolcalls.json"
    out_jsonl, out_parquet = tmp_path / "srl.jsonl", tmp_path / "srl.parquet"
    assert main(["data", "convert", str(src), "-o", str(out_jsonl)]) == 0
    assert main(["data", "convert", str(src), "-o", str(out_parquet)]) == 0
    printed = capsys.readouterr().out
    n_steps = sum(len(t.steps) for t in read_trajectories([src]))
    assert f"instances written: {n_steps}" in printed
    for path, kind in ((out_jsonl, "json"), (out_parquet, "parquet")):
        ds = load_dataset(kind, data_files=str(path), split="train")
        assert len(ds) == n_steps
        row = ds[0]
        assert row["prompt"][0]["role"] == "system" and row["prompt"][1]["role"] == "user"
        assert row["step_index"] == 0 and parse_action(row["expert_action"])
    assert list(read_instances(out_jsonl)) == list(read_instances(out_parquet))


def test_history_window_and_truncation(traj_dir, tmp_path):
    src = traj_dir / "swe-smith" / "pandas-dev__pandas.95280573.pr_53652.traj"
    out = tmp_path / "w.jsonl"
    assert main(["data", "convert", str(src), "-o", str(out), "--history", "1", "--max-observation-chars", "200"]) == 0
    instances = list(read_instances(out))
    traj = next(iter(read_trajectories([src])))
    assert len(instances) == len(traj.steps)
    later = instances[5]
    assert len(later.prompt) == 2 + 2  # system, issue, one (action, observation) pair
    assert "4 earlier steps omitted" in later.prompt[1]["content"]
    assert later.prompt[2]["content"] == render_action(traj.steps[4].action)
    assert later.expert_action == render_action(traj.steps[5].action)
    long_obs = [i for i in instances if "characters truncated" in i.prompt[-1]["content"]]
    assert long_obs, "some observation of this trajectory exceeds 200 characters"
    assert all(len(m["content"]) < 260 for i in instances for m in i.prompt[3::2])


def test_stats_output(traj_dir, capsys):
    assert main(["data", "stats", str(traj_dir / "swe-agent")]) == 0
    out = capsys.readouterr().out
    assert "trajectories read: 5" in out
    assert "action types:" in out and "submit" in out
    assert "prompt chars: p50" in out


def test_prompt_length_filter_is_reported(traj_dir, tmp_path, capsys):
    src = traj_dir / "swe-smith" / "pydantic__pydantic.acb0f10f.pr_8316.traj"
    assert main(["data", "convert", str(src), "-o", str(tmp_path / "f.jsonl"), "--max-prompt-chars", "6000"]) == 0
    out = capsys.readouterr().out
    assert "instances dropped (prompt > 6000 chars):" in out


def test_unresolved_trajectories_are_dropped_and_counted(traj_dir, tmp_path, capsys):
    src = traj_dir / "nebius" / "nebius_swe-agent-trajectories_sample5.json"
    resolved = [t.resolved for t in read_trajectories([src])]
    assert main(["data", "convert", str(src), "-o", str(tmp_path / "n.jsonl")]) in (0, 1)
    out = capsys.readouterr().out
    if resolved.count(False):
        assert f"trajectories dropped (not resolved): {resolved.count(False)}" in out


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"messages": [}\n', "bad.jsonl:1: invalid JSON"),
        ('{"instance_id": "x"}\n', "bad.jsonl:1: unrecognised trajectory format"),
        ('\n\n{"a": 1}\n{"messages": ', "bad.jsonl:3: unrecognised"),
    ],
)
def test_bad_input_is_one_line_with_file_and_line(tmp_path, content, expected):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "srl_agent.cli", "data", "convert", str(bad), "-o", str(tmp_path / "o.jsonl")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert expected in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_truncated_json_file(tmp_path, traj_dir):
    src = (traj_dir / "swe-agent" / "demo_function_calling_simple.traj").read_text()
    bad = tmp_path / "cut.traj"
    bad.write_text(src[: len(src) // 2])
    proc = subprocess.run(
        [sys.executable, "-m", "srl_agent.cli", "data", "stats", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "cut.traj:" in proc.stderr and "truncated" in proc.stderr


def test_skip_bad_counts_and_continues(tmp_path, traj_dir):
    good = json.loads((traj_dir / "swe-smith" / "ft_xml_example.jsonl").read_text().splitlines()[0])
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"foo": 1}) + "\n" + json.dumps(good) + "\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "srl_agent.cli",
            "data",
            "convert",
            str(mixed),
            "-o",
            str(tmp_path / "o.jsonl"),
            "--skip-bad",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "trajectories used: 2" in proc.stdout
    assert "records skipped (invalid JSON): 1" in proc.stdout
    assert "records skipped (unrecognised trajectory format): 1" in proc.stdout
    assert "mixed.jsonl:2" in proc.stderr and "mixed.jsonl:3" in proc.stderr


def test_unknown_format_flag(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text("{}\n")
    assert main(["data", "stats", str(f), "--format", "nope"]) == 2


def test_help_is_fast():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "srl_agent.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    imported = proc.stderr
    for heavy in ("torch", "transformers", "datasets", "docker", "swebench", "pyarrow"):
        assert f" {heavy}\n" not in imported and f"| {heavy}" not in imported, f"{heavy} imported by --help"


@pytest.mark.parametrize("args", [["data", "formats"], ["plan", "--paper-table"]])
def test_a_closed_pipe_stops_quietly(args):
    """`srl-agent … | head`: the reader is gone before the command writes; no traceback, the shell's SIGPIPE status."""
    proc = subprocess.Popen([sys.executable, "-m", "srl_agent.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.stdout.close()  # before the interpreter has even started: every write to stdout fails with EPIPE
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
