"""Evaluation you can trust: grading a predictions file in every layout, honest exit codes, swebench's log layout and
run report (checked against swebench's own `make_run_report`), rows with missing fields, image names, repeated runs,
the harness self-check, the contamination report, partial clones, `env shell` without a terminal, dropped turns."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

from srl_agent import swe_mini
from srl_agent.cli import main
from srl_agent.errors import UserError

REPO = Path(__file__).resolve().parents[1]
PARTIAL = "swebench/instances/swebench_verified_500_partial.jsonl"
LITE = "swebench/instances/swebench_lite_test.jsonl"
FAST, OTHER = "swe-mini__tabletext-3", "swe-mini__evictkit-4"  # the two quickest held-out tasks to grade


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def instance_logs(out: Path, iid: str, model: str) -> Path:
    return out / "logs" / "run_evaluation" / out.name / model / iid


# -- no containers ------------------------------------------------------------------------------------------------


def test_predictions_layouts_and_bad_files(tmp_path):
    from srl_agent.evaluate.predictions import load_predictions

    rows = [{"instance_id": "a__b-1", "model_name_or_path": "org/m", "model_patch": "diff --git a/x b/x\n"},
            {"instance_id": "a__b-2", "model_name_or_path": "org/m", "model_patch": None}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "l.json").write_text(json.dumps(rows))
    (tmp_path / "d.json").write_text(json.dumps({r["instance_id"]: {k: v for k, v in r.items() if k != "instance_id"}
                                                 for r in rows}))  # mini-swe-agent may leave the id to the key
    loaded = [load_predictions(tmp_path / n) for n in ("p.jsonl", "l.json", "d.json")]
    assert all(p.name == "org/m" and dict(p.patches) == {"a__b-1": rows[0]["model_patch"], "a__b-2": ""}
               for p in loaded)
    (tmp_path / "two.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps({**rows[1], "model_name_or_path": "x"}))
    with pytest.raises(UserError, match="predictions of 2 models"):
        load_predictions(tmp_path / "two.jsonl")
    (tmp_path / "bad.jsonl").write_text(json.dumps(rows[0]) + "\n" + json.dumps({"instance_id": "a__b-3"}) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:2: a prediction needs instance_id, model_name_or_path and model_patch"):
        load_predictions(tmp_path / "bad.jsonl")


def test_ignored_flag_combinations_are_refused_in_one_line(tmp_path, capsys):
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"instance_id": FAST, "model_name_or_path": "m", "model_patch": ""}) + "\n")
    out = str(tmp_path / "o")
    cases = {
        ("--policy", "gold", "--predictions", str(preds)): "--policy gold would be ignored",
        ("--predictions", str(preds), "--temperature", "0.7"): "--temperature does nothing with --predictions",
        ("--predictions", str(preds), "--max-turns", "3"): "--max-turns does nothing with --predictions",
        ("--policy", "gold", "--trajectories", "x.jsonl"): "--trajectories does nothing with --policy gold",
        ("--policy", "gold", "--runs", "3"): "--runs does nothing with --policy gold",
        ("--model", "tiny", "--runs", "3"): "3 identical greedy runs",
        ("--policy", "gold", "--model-name", "m"): "--model-name does nothing",
        ("--policy", "gold", "--image-template", "x/{namespace}:1"): "use the fields",
        (): "say what to grade",
    }
    for argv, message in cases.items():
        code, _, err = cli(capsys, "eval", *argv, "--output", out)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
    assert not Path(out).exists()


def test_rows_missing_swebench_fields_are_named_with_file_and_line(shared_data, tmp_path, capsys):
    from srl_agent.tasksets import load_bench

    rows = (shared_data / PARTIAL).read_text().splitlines()[:2]  # real 5-field rows
    bench = tmp_path / "partial.jsonl"
    bench.write_text("\n".join(rows) + "\n")
    code, _, err = cli(capsys, "eval", "--policy", "gold", "--bench", str(bench), "--output", str(tmp_path / "o"))
    assert code == 2 and f"{bench}:1: task " in err
    assert "lacks version, test_patch, FAIL_TO_PASS, PASS_TO_PASS" in err and "image" not in err.split("lacks")[0]
    row = json.loads(rows[0]) | {"image": "x:1"}  # its own image: then the test lists and a test patch are needed
    bench.write_text(json.dumps(row) + "\n")
    with pytest.raises(UserError, match=r"partial.jsonl:1: .* lacks test_patch, FAIL_TO_PASS, PASS_TO_PASS"):
        load_bench(str(bench))
    mined = tmp_path / "mined"  # a bench directory as `env mine` writes it, one row without its test lists
    mined.mkdir()
    row = swe_mini.load("test")[0].to_dict()
    (mined / "tasks.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({k: v for k, v in row.items()
                                                                           if k not in ("FAIL_TO_PASS", "PASS_TO_PASS")}) + "\n")
    with pytest.raises(UserError, match=r"mined/tasks.jsonl:2: .* lacks FAIL_TO_PASS, PASS_TO_PASS"):
        load_bench(str(mined))
    unknown = json.loads((shared_data / LITE).read_text().splitlines()[0]) | {"version": "0.0.1"}
    bench.write_text(json.dumps(unknown) + "\n")
    with pytest.raises(UserError, match=r"spec table does not know .* add `image`"):
        load_bench(str(bench))


def test_official_image_names_and_templates(shared_data):
    from srl_agent.env.swebench import image_template, official_image
    from srl_agent.tasksets import load_bench

    assert official_image("pallets__flask-5014") == "swebench/sweb.eval.x86_64.pallets_1776_flask-5014:latest"
    rebench = image_template(None, "swerebench")
    assert official_image("pallets__flask-5014", rebench) == "swerebench/sweb.eval.x86_64.pallets_1776_flask-5014:latest"
    mirror = image_template("registry.local:5000/eval/{instance_id}:v1")
    assert official_image("Pallets__flask-5014", mirror) == "registry.local:5000/eval/Pallets__flask-5014:v1"
    with pytest.raises(UserError, match="has no {namespace}"):
        image_template("a/{id}", "ns")
    tasks = load_bench(str(shared_data / LITE), image_template=rebench)
    assert {t.image.split("/")[0] for t in tasks} == {"swerebench"} and len(tasks) == 300


def test_pass_at_k_and_bootstrap():
    from srl_agent.evaluate.repeats import bootstrap_ci, pass_at_k, repeat_stats

    # pass@k is the fraction of k-subsets of the n runs with at least one success: enumerate them.
    for n in range(1, 6):
        for c in range(n + 1):
            runs = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(combinations(runs, k))
                assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    ids = [f"i{j}" for j in range(10)]
    runs = [{i: j < r for j, i in enumerate(ids)} for r in (3, 5, 4)]  # rates .3, .5, .4
    stats = repeat_stats(runs, ids)
    rate = stats["resolution_rate"]
    assert rate["per_run"] == [0.3, 0.5, 0.4] and rate["mean"] == pytest.approx(0.4) and rate["std"] == pytest.approx(0.1)
    assert rate["ci95"][0] < 0.4 < rate["ci95"][1] and 0.0 <= rate["ci95"][0] and rate["ci95"][1] <= 0.9
    assert stats["resolved_runs"]["i0"] == 3 and stats["resolved_runs"]["i4"] == 1 and stats["resolved_runs"]["i9"] == 0
    assert stats["pass_at_k"]["3"] == pytest.approx(0.5) and stats["pass_at_k"]["1"] == pytest.approx(0.4)
    assert bootstrap_ci([1.0] * 5) == (1.0, 1.0) and bootstrap_ci([0.2, 0.8]) == bootstrap_ci([0.2, 0.8])


def test_overlap_report_and_training_warning(tmp_path, capsys):
    from srl_agent.data.overlap import training_overlap_warning, write_manifest

    trajectories = str(REPO / "trajectories/swe_mini.jsonl")  # the 12 training tasks' expert trajectories
    report = tmp_path / "overlap.json"
    code, out, _ = cli(capsys, "data", "overlap", "--trajectories", trajectories, "--bench", "swe-mini", "--split",
                       "all", "--json", str(report))
    train = sorted(swe_mini.split_ids("train"))
    assert code == 1 and f"shared instance ids: {len(train)}" in out
    assert json.loads(report.read_text())["shared_instances"] == train
    code, out, _ = cli(capsys, "data", "overlap", "--trajectories", trajectories, "--bench", "swe-mini")
    assert code == 0 and "shared instance ids: 0" in out  # the held-out split: no instance, but the same libraries
    assert "shared repositories: 4" in out and "swe-mini/evictkit: " in out
    run = tmp_path / "run"
    (run / "final").mkdir(parents=True)
    write_manifest(run, [*train, swe_mini.split_ids("test")[0]])
    warning = training_overlap_warning(str(run / "final"), swe_mini.load("test"))
    assert warning and "trained on 1 instance(s) of this bench" in warning and "see `srl-agent data overlap`" in warning


def test_dropped_turns_are_counted(traj_dir, tmp_path, capsys):
    messages = json.loads((traj_dir / "mini-swe-agent" / "tests_local.traj.json").read_text())
    rejected = [{"role": "assistant", "content": "Two.\n```bash\nls\n```\n```bash\npwd\n```"},
                {"role": "user", "content": "Please always provide EXACTLY ONE action in triple backticks, found 2 actions."}]
    record = {"messages": messages[:2] + rejected + messages[2:], "info": {"exit_status": "Submitted"},
              "trajectory_format": "mini-swe-agent-1", "instance_id": "django__django-1"}
    path = tmp_path / "t.traj.json"
    path.write_text(json.dumps(record))
    code, out, _ = cli(capsys, "data", "stats", str(path))
    assert code == 0 and "turns dropped by the reader (several bash blocks): 1" in out
    code, out, _ = cli(capsys, "data", "convert", str(path), "-o", str(tmp_path / "i.jsonl"))
    assert code == 0 and "turns dropped by the reader (several bash blocks): 1" in out


def test_scrub_handles_promisor_packs_and_names_the_cause(tmp_path):
    """A partial clone (real `git clone --filter=blob:none file://`), scrubbed in a local sandbox: promisor packs no
    longer keep the future; when objects are really missing, the error says it is a partial clone."""
    from srl_agent.env.repo import RepoError, find_future_history, scrub_future_history
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.local import LocalSandbox

    src = _history(tmp_path / "src")
    for name, allow_filter in (("ignored", "false"), ("partial", "true")):
        subprocess.run(["git", "-C", str(src), "config", "uploadpack.allowFilter", allow_filter], check=True)
        clone = tmp_path / name
        subprocess.run(["git", "clone", "-q", "--filter=blob:none", f"file://{src}", str(clone)], check=True,
                       capture_output=True)
        assert list((clone / ".git/objects/pack").glob("*.promisor"))
        base = _git(clone, "rev-parse", "HEAD~1")
        with LocalSandbox(SandboxConfig()) as sb:
            if name == "ignored":  # every object is here, only marked: the scrub now prunes the future
                scrub_future_history(sb, str(clone), base)
                assert find_future_history(sb, str(clone), base) == []
                assert _git(clone, "cat-file", "-t", _git(src, "rev-parse", "HEAD"), check=False) == ""
            else:  # blobs are missing and there is no network in a sandbox: the guard says why it fails
                subprocess.run(["git", "-C", str(clone), "remote", "remove", "origin"], check=True)
                with pytest.raises(RepoError, match="cause: .* is a partial clone"):
                    scrub_future_history(sb, str(clone), base)


# -- real containers ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    from _docker_env import base_image

    base_image()
    from srl_agent.swe_mini.images import ensure_images

    ensure_images([FAST, OTHER])


@pytest.fixture(scope="module")
def gold_fast(images, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "gold"
    assert main(["eval", "--policy", "gold", "--instances", FAST, "--output", str(out), "--no-progress"]) == 0
    return out


@pytest.mark.docker
def test_predictions_in_every_layout_grade_like_the_policy(gold_fast, tmp_path, capsys):
    """Three layouts of {FAST: the gold patch, OTHER: empty}; a third selected instance has no prediction (exit 3).
    The run report is the one swebench's own make_run_report writes from our log folders."""
    from swebench.harness.reporting import make_run_report

    from srl_agent.evaluate.official import SWEBENCH_FIELDS

    gold = json.loads((gold_fast / "preds.jsonl").read_text())
    rows = [{**gold, "model_name_or_path": "org/model"},
            {"instance_id": OTHER, "model_name_or_path": "org/model", "model_patch": ""}]
    files = {"p.jsonl": "".join(json.dumps(r) + "\n" for r in rows), "l.json": json.dumps(rows),
             "d.json": json.dumps({r["instance_id"]: r for r in rows})}
    policy_report = json.loads((instance_logs(gold_fast, FAST, "gold") / "report.json").read_text())
    third = "swe-mini__datewise-3"
    reports = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        out = tmp_path / f"run_{name.replace('.', '_')}"
        code, stdout, err = cli(capsys, "eval", "--predictions", str(tmp_path / name), "--instances", FAST, OTHER,
                                third, "--output", str(out), "--no-progress")
        assert code == 3 and "no patch for 1 of 3" in err and "not run" in err  # 3: instances not run
        report = json.loads((out / "report.json").read_text())
        assert report["resolved_ids"] == [FAST] and report["empty_patch_ids"] == [OTHER]
        assert report["incomplete_ids"] == [third] and report["model_name_or_path"] == "org/model"
        logs = instance_logs(out, FAST, "org__model")
        assert json.loads((logs / "report.json").read_text()) == policy_report  # per test, as through --policy
        assert (logs / "patch.diff").read_text() == gold["model_patch"] and (logs / "test_output.txt").is_file()
        official = json.loads((out / f"org__model.{out.name}.json").read_text())
        assert list(official) == list(SWEBENCH_FIELDS)
        # swebench's own reporter over the same folders and predictions gives the same counts and ids
        cwd = os.getcwd()
        os.chdir(out)
        try:
            path = make_run_report({r["instance_id"]: r for r in rows}, [{"instance_id": i} for i in (FAST, OTHER, third)],
                                   out.name, report_dir=str(tmp_path / "sb"))
        finally:
            os.chdir(cwd)
        theirs = json.loads(Path(path).read_text())
        assert official == theirs
        assert report["images"]["srl-agent/swe-mini.tabletext-3:latest"]["id"].startswith("sha256:")
        assert report["harness"]["swebench"] and report["limits"]["grade_timeout_s"] == 1800.0
        reports.append({k: v for k, v in report.items() if k not in ("run", "timing", "harness_check")})
    stable = ("resolved_ids", "empty_patch_ids", "incomplete_ids", "submitted_ids", "completed_ids", "error_ids")
    assert len({json.dumps([r[k] for k in stable]) for r in reports}) == 1


@pytest.mark.docker
def test_self_check_cached_and_failed(gold_fast, tmp_path, capsys, monkeypatch):
    """A gold run records the harness check; a later run on the same tasks and images reads it from the cache; a bench
    whose gold patch does not resolve fails the check (exit 4) even though the graded predictions resolve."""
    gold = json.loads((gold_fast / "preds.jsonl").read_text())
    gold_report = json.loads((gold_fast / "report.json").read_text())
    assert gold_report["harness_check"]["ok"] is True and gold_report["history_guard"]["leaked_ids"] == []
    assert gold_report["history_guard"]["verified"] == gold_report["history_guard"]["episodes"] == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({**gold, "model_patch": ""}) + "\n")
    code, out, _ = cli(capsys, "eval", "--predictions", str(empty), "--output", str(tmp_path / "e"), "--no-progress",
                       "--instances", FAST)
    check = json.loads((tmp_path / "e" / "report.json").read_text())["harness_check"]
    assert code == 0 and check["ok"] is True and check["source"] == "cached" and "gold resolved 1/1" in out
    task = next(t for t in swe_mini.load("test") if t.instance_id == FAST).to_dict()
    other = next(t for t in swe_mini.load("test") if t.instance_id == OTHER)
    broken = tmp_path / "broken.jsonl"  # same task, but its "gold" patch is another task's: it cannot resolve
    broken.write_text(json.dumps({**task, "patch": other.patch}) + "\n")
    preds = tmp_path / "real.jsonl"
    preds.write_text(json.dumps(gold) + "\n")
    code, out, _ = cli(capsys, "eval", "--predictions", str(preds), "--bench", str(broken), "--self-check",
                       "--output", str(tmp_path / "b"), "--no-progress")
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert code == 4 and report["resolved_ids"] == [FAST] and report["harness_check"]["failed_ids"] == [FAST]
    assert report["harness_check"]["source"].startswith("ran ") and "harness self-check: gold resolved 0/1" in out
    # an instance with no cached gold verdict is reported as not checked (an empty cache: earlier tests in the session
    # may have cached OTHER's verdict in the shared one)
    monkeypatch.setenv("SRL_AGENT_CACHE_DIR", str(tmp_path / "fresh-cache"))
    code, out, _ = cli(capsys, "eval", "--policy", "empty", "--instances", OTHER, "--output", str(tmp_path / "o"),
                       "--no-progress")
    assert code == 0 and "not checked (0/1 instances have a cached gold verdict" in out


@pytest.mark.docker
def test_repeated_runs_report_spread_and_pass_at_k(images, tmp_path, capsys):
    out = tmp_path / "runs"
    code, stdout, _ = cli(capsys, "eval", "--model", "tiny", "--instances", FAST, "--runs", "3", "--temperature", "1.0",
                          "--seed", "5", "--max-turns", "1", "--max-new-tokens", "8", "--output", str(out),
                          "--no-progress")
    report = json.loads((out / "report.json").read_text())
    assert code == 0 and report["runs"] == 3 and report["seeds"] == [5, 6, 7]
    assert set(report["pass_at_k"]) == {"1", "2", "3"} and report["resolved_runs"] == {FAST: 0}
    assert report["resolution_rate"]["per_run"] == [0.0, 0.0, 0.0] and report["resolution_rate"]["ci95"] == [0.0, 0.0]
    assert "3 runs × 1 instances: resolved 0.0% (95% CI 0.0–0.0" in stdout and "harness self-check" in stdout
    assert report["harness_check"]["ok"] in (True, None)  # cached from this module's gold run, or not checked
    completions = []
    for k in range(3):
        run = json.loads((out / f"run-{k}" / "report.json").read_text())
        assert run["limits"]["seed"] == 5 + k and run["limits"]["temperature"] == 1.0
        episode = json.loads((out / f"run-{k}" / "episodes.jsonl").read_text().splitlines()[0])
        completions.append(episode["turns"][0]["completion"])
    assert len(set(completions)) > 1  # different seeds sample differently


@pytest.mark.docker
def test_env_shell_without_a_terminal_leaves_on_exit(images):
    res = subprocess.run([sys.executable, "-m", "srl_agent.cli", "env", "shell"], input="echo hi-there\nexit 3\necho after\n",
                         capture_output=True, text=True, timeout=120, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert res.returncode == 3 and "hi-there" in res.stdout and "after" not in res.stdout, res.stderr


@pytest.mark.docker
def test_env_images_lists_what_a_bench_needs(images, shared_data, capsys):
    code, out, _ = cli(capsys, "env", "images", "--bench", "swe-mini", "--split", "test")
    assert "present  sha256:" in out and "srl-agent/swe-mini.tabletext-3:latest" in out
    code, out, _ = cli(capsys, "env", "images", "--bench", str(shared_data / LITE), "--instances",
                       "pallets__flask-4045", "--image-namespace", "swerebench")
    assert code == 1 and "missing" in out and "swerebench/sweb.eval.x86_64.pallets_1776_flask-4045:latest" in out
    assert "0 of 1 image(s) present" in out
    code, _, err = cli(capsys, "env", "shell", "--bench", str(shared_data / LITE), "pallets__flask-4045",
                       "--image-namespace", "swerebench")  # the same name in a task shell, a one-line error
    assert code == 2 and "swerebench/sweb.eval.x86_64.pallets_1776_flask-4045:latest is not on this machine" in err


@pytest.mark.docker
def test_mine_a_partial_clone_then_grade_its_predictions(images, tmp_path, capsys):
    """`git clone --filter=blob:none file://…` of a real local repository: the missing blobs are fetched, the task
    mines, its sandbox shows no future history, and a predictions file of its gold patch grades as resolved."""
    from srl_agent.env.repo import find_future_history
    from srl_agent.env.swe_env import SWEEnv
    from srl_agent.env.task import load_tasks
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.docker import DockerSandbox

    src = _history(tmp_path / "src")
    subprocess.run(["git", "-C", str(src), "config", "uploadpack.allowFilter", "true"], check=True)
    clone = tmp_path / "calc"
    subprocess.run(["git", "clone", "-q", "--filter=blob:none", f"file://{src}", str(clone)], check=True)
    assert _git(clone, "rev-list", "--objects", "--all", "--missing=print").count("\n?") >= 1  # really partial
    bench = tmp_path / "bench"
    assert main(["env", "mine", "--repo", str(clone), "--output", str(bench), "--per-test-timeout", "5"]) == 0
    (task,) = load_tasks(bench / "tasks.jsonl")
    assert task.FAIL_TO_PASS == ("test_calc.py::test_divide_by_zero",)
    with SWEEnv(task, lambda t: DockerSandbox(SandboxConfig(image=t.image, workdir="/testbed"))) as env:
        env.reset()
        assert find_future_history(env.sandbox, "/testbed", task.base_commit) == []
    code, out, _ = cli(capsys, "data", "overlap", "--trajectories", str(REPO / "trajectories/swe_mini.jsonl"),
                       "--bench", str(bench), "--check-sandbox")
    assert code == 0 and "shared instance ids: 0" in out and "sandbox history check: 1/1 clean" in out
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"instance_id": task.instance_id, "model_name_or_path": "m", "model_patch": task.patch}))
    out = tmp_path / "graded"
    code, _, _ = cli(capsys, "eval", "--predictions", str(preds), "--bench", str(bench), "--output", str(out),
                     "--no-progress")
    report = json.loads((out / "report.json").read_text())
    assert code == 0 and report["resolved_ids"] == [task.instance_id]
    assert (instance_logs(out, task.instance_id, "m") / "report.json").is_file()


# -- helpers ------------------------------------------------------------------------------------------------------


def _git(repo: Path, *args: str, check: bool = True) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=check)
    return res.stdout.strip()


def _history(repo: Path) -> Path:
    """A two-file library: the initial version, a fix with its test, then a later commit (the future)."""
    repo.mkdir(parents=True)
    env = {**os.environ, "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo)}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    commits = [
        ({"calc.py": "def divide(a, b):\n    return a / b\n",
          "test_calc.py": "from calc import divide\n\n\ndef test_divide():\n    assert divide(6, 3) == 2\n"}, "Initial"),
        ({"calc.py": "def divide(a, b):\n    if b == 0:\n        return None\n    return a / b\n",
          "test_calc.py": "from calc import divide\n\n\ndef test_divide():\n    assert divide(6, 3) == 2\n\n\n"
                          "def test_divide_by_zero():\n    assert divide(1, 0) is None\n"}, "Fix crash when dividing by zero"),
        ({"README.md": "calc\n"}, "Add a README"),
    ]
    for files, message in commits:
        for rel, text in files.items():
            (repo / rel).write_text(text)
        subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m",
                        message], check=True, env=env)
    return repo
