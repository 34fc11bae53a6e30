"""`srl-agent eval`: acceptance on swe-mini in real containers (gold 100%, empty 0%, expert replays 100%, the tiny
model end to end, resume, infrastructure errors, the official harness agreeing), SWE-bench offline (300 Lite instances
load, eval scripts byte-identical to swebench 4.1.0's), and the SWE-smith reference reports regraded exactly."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from srl_agent import swe_mini
from srl_agent.cli import main
from srl_agent.episodes import Episode, read_episodes
from srl_agent.errors import UserError
from srl_agent.evaluate.predictions import Prediction, read_predictions, write_predictions
from srl_agent.evaluate.report import build_report

REPO = Path(__file__).resolve().parents[1]
LITE = "swebench/instances/swebench_lite_test.jsonl"
SMITH = "swebench/eval/swe-smith_logs"
SMITH_MODEL = "swesmith_gen__claude-3.7__t-0.00_p-1.00__c.2.00__exp9__ig_orig"
HELD_OUT = swe_mini.split_ids("test")


def run_cli(*argv: str) -> int:
    return main(["eval", *argv])


def cli_error(capsys, *argv: str) -> str:
    """The one-line error of a command that must fail with exit code 2."""
    capsys.readouterr()
    assert run_cli(*argv) == 2
    return capsys.readouterr().err


def instance_logs(out: Path, iid: str, model: str = "gold") -> Path:
    """swebench's layout: logs/run_evaluation/<run_id (the output folder's name)>/<model>/<instance_id>/."""
    return out / "logs" / "run_evaluation" / out.name / model / iid


def episodes_of(out: Path) -> dict[str, Episode]:
    return {e.instance_id: e for e in read_episodes(out / "episodes.jsonl")}


# -- SWE-bench offline -------------------------------------------------------------------------------------------

# sha256 over (instance_id, eval script) of every instance, sorted by id, from swebench 4.1.0's
# make_eval_script_list(inst, MAP_REPO_VERSION_TO_SPECS[repo][version], "testbed", "/testbed", base, test_patch).
DIGESTS = {
    LITE: (300, "fefc3928b0eb0a760911ee14ebb5b5ecee49dfde3579a77bf1a32c0cf1ecf522"),
    "swebench/instances/swebench_verified_sample50.jsonl": (50, "1dfb99c75a2d02164b73075b24556bd3b6af008fe7bdef8ce12c10ecd6991f44"),
    "swebench/instances/swebench_verified_mini_hf": (50, "48c6dd6b3954f9b8aa010066b6a3e5aa5710074cad75ff19c5a49b79d50155a0"),
    "swebench/instances/sweagent_swe-bench-lite-test.json": (5, "31aa0580dbc8fde6da5f26577788284f938ff59c636addc20a938d08b8d69f64"),
}
OFFLINE_SCRIPT = """
import hashlib, json, sys
from srl_agent.tasksets import load_bench
from srl_agent.evaluate.harness import eval_script
out = {}
for bench in sys.argv[1:]:
    tasks = load_bench(bench)
    h = hashlib.sha256()
    for t in sorted(tasks, key=lambda t: t.instance_id):
        h.update(t.instance_id.encode() + b"\\0" + eval_script(t).encode() + b"\\0")
    out[bench] = [len(tasks), h.hexdigest(), sorted({t.repo for t in tasks}),
                  sum(bool(t.image and t.test_cmd and t.log_parser) for t in tasks)]
print(json.dumps(out))
"""


def _no_network_prefix() -> list[str]:
    """`unshare -n` (a network namespace with no interfaces) where this machine allows it."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n"]
    return []


def test_swebench_instances_load_and_eval_scripts_generate_offline(shared_data):
    benches = [str(shared_data / b) for b in DIGESTS]
    res = subprocess.run([*_no_network_prefix(), sys.executable, "-c", OFFLINE_SCRIPT, *benches],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout)
    for bench, (count, digest) in DIGESTS.items():
        n, h, repos, runnable = got[str(shared_data / bench)]
        assert (n, h) == (count, digest), bench  # byte-identical to swebench 4.1.0's scripts
        assert runnable == n  # every instance has its official image, test command and log parser
    assert len(got[str(shared_data / LITE)][2]) == 12  # all 12 Lite repositories


def test_swebench_task_fields_and_script_shape(shared_data, tmp_path):
    import datasets

    from srl_agent.env.swebench import official_image
    from srl_agent.evaluate.harness import eval_script
    from srl_agent.tasksets import load_bench

    sample = datasets.load_dataset("json", data_files=str(shared_data / "swebench/instances/swebench_verified_sample10.jsonl"),
                                   split="train", cache_dir=str(tmp_path / "cache"))
    sample.to_parquet(tmp_path / "v10.parquet")  # created_at comes back as a timestamp: normalised to the schema's str
    from_parquet = load_bench(str(tmp_path / "v10.parquet"))
    assert len(from_parquet) == 10 and all(t.image and t.test_cmd for t in from_parquet)

    tasks = {t.instance_id: t for t in load_bench(str(shared_data / LITE))}
    astropy, django = tasks["astropy__astropy-12907"], tasks["django__django-11099"]
    assert astropy.image == official_image("astropy__astropy-12907") == \
        "swebench/sweb.eval.x86_64.astropy_1776_astropy-12907:latest"
    assert "pytest -rA astropy/modeling/tests/test_separable.py\n: '>>>>> End Test Output'" in eval_script(astropy)
    assert django.log_parser == "parse_log_django" and django.test_cmd.endswith(
        "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1 auth_tests.test_validators")
    assert "conda activate testbed" in django.test_cmd and "pip install" not in django.test_cmd


def test_bench_and_option_errors_are_one_line(shared_data, tmp_path, capsys, monkeypatch):
    from srl_agent.tasksets import load_bench

    with pytest.raises(UserError, match="unknown bench"):
        load_bench(str(tmp_path / "nope.jsonl"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        socket.create_connection(("huggingface.co", 443), timeout=3).close()
    except OSError:  # no Hub (as here): one line with the fix at once, not ~25 s of retries
        with pytest.raises(UserError, match=r"SWE-bench/SWE-bench_Verified .*unreachable.*pass --bench path/to/file.jsonl"):
            load_bench("swe-bench-verified")
    out = str(tmp_path / "x")
    assert "no trajectory for 4 instance" in cli_error(
        capsys, "--policy", "expert", "--trajectories", str(REPO / "trajectories/swe_mini.jsonl"), "--output", out)
    assert "needs --trajectories" in cli_error(capsys, "--policy", "expert", "--output", out)
    assert "--instances: ['nope']" in cli_error(capsys, "--policy", "gold", "--instances", "nope", "--output", out)


# -- regrading the SWE-smith reference logs ----------------------------------------------------------------------


def smith_tasks(shared: Path, path: Path) -> Path:
    """The tasks of the four logs: the shipped instance file, else F2P/P2P = the reference report's success+failure
    lists (the only source of the gold test lists; the verdicts still come from parsing the logs)."""
    rows = []
    for run in sorted(p for p in (shared / SMITH / "run_evaluation").iterdir() if p.is_dir()):
        instance = shared / SMITH / f"{run.name}.instance.json"
        if instance.exists():
            rows.append(json.loads(instance.read_text()))
            continue
        ts = json.loads((run / "report.json").read_text())["tests_status"]
        rows.append({"instance_id": run.name, "repo": "swesmith/" + run.name.rsplit(".", 1)[0],
                     "base_commit": "0" * 40, "problem_statement": "-",
                     "FAIL_TO_PASS": ts["FAIL_TO_PASS"]["success"] + ts["FAIL_TO_PASS"]["failure"],
                     "PASS_TO_PASS": ts["PASS_TO_PASS"]["success"] + ts["PASS_TO_PASS"]["failure"]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_regrade_reproduces_the_swesmith_reports_exactly(shared_data, tmp_path, capsys):
    logs = shared_data / SMITH / "run_evaluation"
    tasks = smith_tasks(shared_data, tmp_path / "tasks.jsonl")
    out = tmp_path / "regraded"
    assert run_cli("--regrade-logs", str(logs), "--bench", str(tasks), "--harness", "swesmith",
                   "--model-name", SMITH_MODEL, "--output", str(out)) == 0
    assert "4/4 identical to the report.json beside the log" in capsys.readouterr().out
    for run in (p for p in logs.iterdir() if p.is_dir()):
        assert json.loads((out / run.name / "report.json").read_text()) == json.loads((run / "report.json").read_text())
    ours, reference = json.loads((out / "report.json").read_text()), json.loads((logs / "report.json").read_text())
    assert ours["total"] == 4 and set(ours) == set(reference)  # SWE-smith's run-report form, over the 4 logs shipped
    assert set(ours["ids_resolved"]) <= set(reference["ids_resolved"])
    assert set(ours["ids_unresolved"]) <= set(reference["ids_unresolved"])
    # swebench's semantics cannot read these verbose logs: nothing resolves, and the summary says why to look.
    assert run_cli("--regrade-logs", str(logs), "--bench", str(tasks), "--output", str(tmp_path / "sb")) == 0
    text = capsys.readouterr().out
    assert "0 resolved" in text and "does --harness (swebench | swesmith) name the harness" in text


# -- predictions, report ------------------------------------------------------------------------------------------


def test_predictions_round_trip_in_every_official_layout(shared_data, tmp_path):
    preds = [Prediction("a__b-1", "org/model", "diff --git a/x b/x\n"), Prediction("a__b-2", "org/model", "")]
    write_predictions(tmp_path / "p.jsonl", preds)
    assert [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()][0] == \
        {"instance_id": "a__b-1", "model_name_or_path": "org/model", "model_patch": "diff --git a/x b/x\n"}
    as_list = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    (tmp_path / "l.json").write_text(json.dumps(as_list))
    (tmp_path / "d.json").write_text(json.dumps({p["instance_id"]: p for p in as_list}))
    for name in ("p.jsonl", "l.json", "d.json"):
        assert list(read_predictions(tmp_path / name).values()) == preds
    sweagent = read_predictions(shared_data / "swebench/eval/sweagent_all_preds.jsonl")
    assert list(sweagent) == ["pydicom__pydicom-1458"]


def _episode(iid: str, **kw) -> Episode:
    return Episode(iid, "b", "p", "end-to-end", (), kw.pop("stop_reason", "submitted"), kw.pop("submission", "diff"),
                   **kw)


def test_report_outcomes_follow_swebench_fields():
    episodes = {
        "r": _episode("r", resolved=True, grade={"patch_applied": True}),
        "u": _episode("u", resolved=False, grade={"patch_applied": True}),
        "noapply": _episode("noapply", resolved=False, grade={"patch_applied": False}),
        "empty": _episode("empty", submission="", resolved=False),
        "image": _episode("image", stop_reason="error", submission="", error="SandboxError: image x missing",
                          metadata={"error_phase": "agent"}),
        "timeout": _episode("timeout", error="grading: tests timed out", metadata={"error_phase": "grade"}),
    }
    report = build_report([*episodes, "todo"], episodes, {})
    assert report["total_instances"] == 7 and report["resolved_ids"] == ["r"] and report["resolution_rate"] == 1 / 7
    assert report["unresolved_ids"] == ["noapply", "u"] and report["patch_apply_failed_ids"] == ["noapply"]
    assert report["completed_ids"] == ["noapply", "r", "u"] and report["empty_patch_ids"] == ["empty"]
    assert report["error_ids"] == ["image", "timeout"] and report["incomplete_ids"] == ["todo"]
    assert report["submitted_ids"] == ["empty", "noapply", "r", "timeout", "u"]  # the agent-phase error has no patch
    assert report["error_reasons"]["image"].startswith("SandboxError")


# -- swe-mini in real containers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    from _docker_env import base_image

    base_image()
    from srl_agent.swe_mini.images import ensure_images

    ensure_images()


@pytest.fixture(scope="module")
def gold_run(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "gold"
    assert run_cli("--policy", "gold", "--output", str(out), "--workers", "2", "--no-progress") == 0
    return out


@pytest.mark.docker
def test_gold_resolves_every_held_out_task(gold_run):
    report = json.loads((gold_run / "report.json").read_text())
    assert report["resolved_ids"] == sorted(HELD_OUT) and report["resolution_rate"] == 1.0
    assert report["error_ids"] == report["empty_patch_ids"] == report["incomplete_ids"] == []
    preds = [json.loads(line) for line in (gold_run / "preds.jsonl").read_text().splitlines()]
    tasks = {t.instance_id: t for t in swe_mini.load("test")}
    assert {p["instance_id"] for p in preds} == set(HELD_OUT)
    assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} and p["model_name_or_path"] == "gold"
               and p["model_patch"] == tasks[p["instance_id"]].patch for p in preds)
    for iid, e in episodes_of(gold_run).items():
        assert e.resolved and e.stop_reason == "submitted" and e.policy == "gold" and len(e.turns) == 2
        assert set(e.metadata["timing"]) == {"start_s", "agent_s", "grade_s", "total_s"}
        logs = instance_logs(gold_run, iid)
        assert json.loads((logs / "report.json").read_text())[iid]["resolved"] is True
        assert ">>>>> Start Test Output" in (logs / "test_output.txt").read_text()
    assert report["timing"]["grade_s"]["mean"] > 0 and report["run"]["workers"] == 2


@pytest.mark.docker
def test_rerun_skips_finished_and_reruns_a_lost_episode(gold_run, tmp_path, capsys):
    out = tmp_path / "gold"
    shutil.copytree(gold_run, out)
    lines = (out / "episodes.jsonl").read_text().splitlines(keepends=True)
    lost = json.loads(lines[1])["instance_id"]
    (out / "episodes.jsonl").write_text(lines[0] + lines[2] + lines[3] + lines[1][:50])  # + a torn line (crash)
    before = episodes_of(gold_run)
    assert run_cli("--policy", "gold", "--output", str(out), "--workers", "2", "--no-progress") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["run"]["instances_run"] == 1 and report["resolution_rate"] == 1.0
    after = episodes_of(out)
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 4
    assert all(after[i] == before[i] for i in HELD_OUT if i != lost) and after[lost] != before[lost]
    assert "holds a run with other options (policy: 'gold' -> 'empty')" in cli_error(
        capsys, "--policy", "empty", "--output", str(out))


@pytest.mark.docker
def test_empty_resolves_nothing(images, tmp_path):
    assert run_cli("--policy", "empty", "--output", str(tmp_path / "e"), "--no-progress") == 0
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert report["resolved_instances"] == 0 and report["empty_patch_ids"] == sorted(HELD_OUT)


@pytest.mark.docker
def test_expert_replays_resolve_every_training_task(images, tmp_path):
    out = tmp_path / "expert"
    assert run_cli("--policy", "expert", "--trajectories", str(REPO / "trajectories/swe_mini.jsonl"), "--split",
                   "train", "--output", str(out), "--workers", "2", "--no-progress") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_ids"] == sorted(swe_mini.split_ids("train")), report["error_reasons"]
    assert all(t.format_error is None for e in episodes_of(out).values() for t in e.turns)


@pytest.mark.docker
def test_tiny_model_end_to_end(images, tmp_path):
    out = tmp_path / "tiny"
    two = HELD_OUT[:2]
    assert run_cli("--model", "tiny", "--instances", *two, "--max-turns", "2", "--max-new-tokens", "16",
                   "--output", str(out), "--workers", "2", "--no-progress") == 0
    report = json.loads((out / "report.json").read_text())
    assert report["total_instances"] == 2 and report["error_ids"] == [] and report["resolved_ids"] == []
    assert 1 <= report["run"]["batch_sizes"]["max"] <= 2  # batching itself: test_agent_loop
    for e in episodes_of(out).values():
        assert e.policy == "tiny" and e.stop_reason in ("turn_limit", "format_errors") and len(e.turns) == 2
        assert all(t.prompt_tokens and t.completion_tokens for t in e.turns)


@pytest.mark.docker
def test_missing_image_is_an_error_and_the_run_goes_on(images, tmp_path):
    task = swe_mini.load("test")[0]
    broken = {**task.to_dict(), "instance_id": "broken__image-1", "image": "srl-agent/does-not-exist:latest"}
    bench = tmp_path / "tasks.jsonl"
    bench.write_text(json.dumps(task.to_dict()) + "\n" + json.dumps(broken) + "\n")
    out = tmp_path / "mixed"
    for _ in range(2):  # the rerun retries the error (still missing) and keeps one line per instance; exit 1: errors
        assert run_cli("--policy", "gold", "--bench", str(bench), "--output", str(out), "--no-progress") == 1
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_ids"] == [task.instance_id] and report["error_ids"] == ["broken__image-1"]
    assert "cannot be pulled" in report["error_reasons"]["broken__image-1"] and report["unresolved_ids"] == []
    assert list(read_predictions(out / "preds.jsonl")) == [task.instance_id]
    assert len((out / "episodes.jsonl").read_text().splitlines()) == 2
    assert "Traceback" in (instance_logs(out, "broken__image-1") / "error.txt").read_text()


@pytest.mark.docker
def test_swebench_images_are_recorded_errors_and_the_official_grader_refuses(shared_data, images, tmp_path, capsys):
    lite = str(shared_data / LITE)
    out = tmp_path / "lite"
    assert run_cli("--policy", "gold", "--bench", lite, "--instances", "psf__requests-2317", "--output", str(out),
                   "--no-progress") == 1  # every instance errored: not a success
    reason = json.loads((out / "report.json").read_text())["error_reasons"]["psf__requests-2317"]
    assert "swebench/sweb.eval.x86_64.psf_1776_requests-2317:latest is not on this machine" in reason
    assert "--grader swebench cannot run: 1 of 1 instance image(s) are unavailable" in cli_error(
        capsys, "--policy", "gold", "--bench", lite, "--instances", "psf__requests-2317", "--grader", "swebench",
        "--output", str(tmp_path / "official"))
    assert not (tmp_path / "official").exists()  # refused before anything was written


@pytest.mark.docker
def test_official_harness_agrees_with_our_grader(gold_run, tmp_path):
    """swe-mini images are local, so swebench.harness.run_evaluation really runs here (SWE-bench's images do not)."""
    iid = HELD_OUT[0]
    out = tmp_path / "official"
    assert run_cli("--policy", "gold", "--grader", "swebench", "--instances", iid, "--output", str(out),
                   "--no-progress") == 0
    official = episodes_of(out)[iid]
    assert official.grade["grader"] == "swebench" and official.resolved is True
    theirs = json.loads(next((out / "swebench" / "logs").rglob("report.json")).read_text())[iid]
    ours = json.loads((instance_logs(gold_run, iid) / "report.json").read_text())[iid]
    assert theirs["resolved"] is ours["resolved"] is True and theirs["tests_status"] == ours["tests_status"]
    assert json.loads((out / "report.json").read_text())["resolved_ids"] == [iid]


@pytest.mark.docker
def test_oracle_file_issue_carries_the_gold_files_at_base(images):
    from srl_agent.env.swe_env import SWEEnv
    from srl_agent.evaluate.oracle import HEADER, OracleFileEnv

    task = next(t for t in swe_mini.load("test") if t.instance_id == "swe-mini__evictkit-4")
    with SWEEnv(task, swe_mini.sandbox_factory()) as inner:
        env = OracleFileEnv(inner)
        issue = env.reset()
        path = task.patch.split("diff --git a/", 1)[1].split(" ", 1)[0]
        base = inner.sandbox.run(f"git show {task.base_commit}:{path}").output
    assert issue.startswith(task.problem_statement.rstrip()) and HEADER in issue
    assert f'<file path="{path}">\n{base.rstrip()}\n</file>' in issue
