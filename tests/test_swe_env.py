"""SWEEnv on a real git repository built inside real sandboxes: reset, bash / edit / submit steps, the submission
diff (binary and new files), and the contamination guard (no history after the base commit)."""

from __future__ import annotations

import json
import posixpath
import shlex

import pytest
from envkit import build_repo, calc_task, sandbox_factory, sandbox_kind  # noqa: F401 - fixture

from srl_agent.actions import Bash, Edit, Submit, ToolCall
from srl_agent.env import SWEEnv, Task, find_future_history, load_tasks, scrub_future_history
from srl_agent.env.swe_env import EpisodeError
from srl_agent.trajectory import DataError


@pytest.fixture
def world(sandbox_kind, tmp_path):  # noqa: F811
    """(task, factory, repo_dir, future commits): each factory call is a fresh sandbox holding the calc repo."""
    make = sandbox_factory(sandbox_kind)
    repo_dir = "/testbed" if sandbox_kind == "docker" else str(tmp_path / "testbed")
    built = {}

    def factory(task: Task):
        sb = make()
        sb.run(f"rm -rf {shlex.quote(repo_dir)} {shlex.quote(posixpath.dirname(repo_dir))}/calc-remote.git")
        built["repo"] = build_repo(sb, repo_dir)
        return sb

    probe = factory(calc_task("0" * 40))
    base = built["repo"].base
    probe.close()
    return calc_task(base), factory, repo_dir, built["repo"].future


def git(env: SWEEnv, args: str) -> str:
    res = env.sandbox.run(f"cd {env.repo_dir} && git {args}")
    return res.output


def test_reset_scrubs_all_future_history(world):
    task, factory, repo_dir, future = world
    assert len(future) == 3  # fix on main, feature branch, stash
    with SWEEnv(task, factory, repo_dir=repo_dir) as env:
        assert env.reset() == task.problem_statement
        assert git(env, "rev-parse HEAD").strip() == task.base_commit
        assert git(env, "log --all --format=%s").split("\n")[:2] == ["docs", "initial"]
        assert len(git(env, "log --all --format=%H").split()) == 2
        for sha in future:
            assert env.sandbox.run(f"cd {repo_dir} && git cat-file -e {sha}").exit_code != 0
        objects = env.sandbox.run(f"cd {repo_dir} && git cat-file --batch-all-objects --batch").output
        assert "return a + b" not in objects and "(FUTURE)" not in objects and "x = 1" not in objects
        assert git(env, "tag").strip() == ""
        assert git(env, "stash list").strip() == ""
        assert git(env, "remote").strip() == ""
        assert git(env, "notes list").strip() == ""
        assert git(env, "for-each-ref --format='%(refname)'").split() == ["refs/heads/main"]
        assert git(env, "reflog --all").strip() == ""
        assert git(env, "fsck --unreachable --no-reflogs").strip() == ""
        assert find_future_history(env.sandbox, repo_dir, task.base_commit) == []
        # The work tree is the base commit's.
        assert env.sandbox.read_file(f"{repo_dir}/calc/__init__.py").decode().count("a - b") == 2


def test_history_check_sees_every_leak_before_scrubbing(world):
    task, factory, repo_dir, future = world
    sb = factory(task)
    with sb:
        leaks = find_future_history(sb, repo_dir, task.base_commit)
        kinds = {leak.split()[0] for leak in leaks}
        assert {"FUTURE_COMMIT", "FUTURE_LOG", "STASH", "REMOTE", "REF", "REFLOG"} <= kinds
        assert any("refs/tags/v1.0" in leak for leak in leaks)
        scrub_future_history(sb, repo_dir, task.base_commit)
        assert find_future_history(sb, repo_dir, task.base_commit) == []


def test_steps_bash_edit_unknown_tool_and_submit(world):
    task, factory, repo_dir, _ = world
    env = SWEEnv(task, factory, repo_dir=repo_dir, command_timeout=1.5)
    with pytest.raises(EpisodeError):
        env.step(Bash("ls"))
    env.reset()
    try:
        res = env.step(Bash("pwd && ls"))
        assert res.observation.split() == [repo_dir, "README.md", "calc", "tests"]
        assert not res.done and res.info["exit_code"] == 0 and res.info["action"] == "bash"
        assert env.step(Bash("false")).info["exit_code"] == 1
        slow = env.step(Bash("echo started; sleep 5"))
        assert slow.info["timed_out"] and slow.observation.startswith("started\n")
        assert "[command timed out" not in slow.observation  # one timeout message, the scaffold's
        assert slow.observation.endswith(
            "The command 'echo started; sleep 5' was cancelled because it took more than 1.5 seconds. "
            "Please try a different command that completes more quickly."
        )
        assert env.step(Bash("echo alive")).observation.strip() == "alive"  # usable after a timeout
        edit = env.step(Edit("str_replace", f"{repo_dir}/calc/__init__.py", old_str="def add(a, b):\n    return a - b",
                             new_str="def add(a, b):\n    return a + b"))
        assert edit.observation.startswith(f"The file {repo_dir}/calc/__init__.py has been edited.")
        unknown = env.step(ToolCall("browser", (("url", "x"),)))
        assert "Unknown tool 'browser'" in unknown.observation and not unknown.done
        done = env.step(Submit())
        assert done.done and done.submission == done.observation
        assert "-    return a - b\n+    return a + b" in done.observation
        with pytest.raises(EpisodeError):
            env.step(Bash("ls"))
    finally:
        env.close()


def test_submission_is_binary_safe_and_includes_new_and_deleted_files(world):
    task, factory, repo_dir, _ = world
    blob = bytes(range(256)) * 4
    with SWEEnv(task, factory, repo_dir=repo_dir) as env:
        env.reset()
        assert env.submission() == ""
        env.sandbox.write_file(f"{repo_dir}/data/blob.bin", blob)
        env.sandbox.write_file(f"{repo_dir}/calc/new_mod.py", "VALUE = 'é'\n")
        env.step(Bash("rm README.md && git add -N calc/new_mod.py && printf 'staged\\n' > staged.txt && git add staged.txt"))
        status_before = git(env, "status --porcelain")
        patch = env.submission()
        assert git(env, "status --porcelain") == status_before  # the agent's index is untouched
        assert "GIT binary patch" in patch and "new file mode" in patch and "deleted file mode" in patch
        assert "+VALUE = 'é'" in patch and "diff --git a/staged.txt b/staged.txt" in patch
        # The patch recreates the exact tree from the base commit.
        chk = f"{repo_dir}/../chk"
        env.sandbox.write_file(f"{chk}.diff", patch.encode("utf-8", errors="surrogateescape"))
        check = env.sandbox.run(
            f"rm -rf {chk} && git clone -q {repo_dir} {chk} && cd {chk} && git checkout -q {task.base_commit}"
            f" && git apply {chk}.diff && cmp data/blob.bin {repo_dir}/data/blob.bin && test ! -e README.md"
            " && cat calc/new_mod.py"
        )
        assert check.exit_code == 0, check.output
        assert "VALUE = 'é'" in check.output


def test_task_loader(tmp_path, shared_data):
    lite = load_tasks(shared_data / "swebench/instances/swebench_lite_test.jsonl")
    assert len(lite) == 300 and isinstance(lite[0].FAIL_TO_PASS, tuple) and lite[0].FAIL_TO_PASS
    assert lite[0].to_dict()["FAIL_TO_PASS"] == json.dumps(list(lite[0].FAIL_TO_PASS))
    listed = load_tasks(shared_data / "swebench/instances/sweagent_swe-bench-lite-test.json")
    assert len(listed) == 5 and all(t.PASS_TO_PASS is not None for t in listed)
    smith = load_tasks(shared_data / "swebench/eval/swe-smith_logs/pandas-dev__pandas.95280573.pr_53652.instance.json")
    assert smith[0].image == "swesmith.x86_64.pandas-dev__pandas.95280573" and len(smith[0].FAIL_TO_PASS) == 2
    assert Task.from_dict(lite[0].to_dict()) == lite[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(lite[0].to_dict()) + "\n" + json.dumps({"instance_id": "x", "repo": "r"}) + "\n{oops\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:2: task is missing required string field\(s\) \['base_commit'"):
        load_tasks(bad)
    bad.write_text(json.dumps({**lite[0].to_dict(), "FAIL_TO_PASS": "[not json"}) + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'FAIL_TO_PASS' is a string but not a JSON list"):
        load_tasks(bad)
    bad.write_text("{oops\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:1: invalid JSON"):
        load_tasks(bad)
    with pytest.raises(DataError, match="unknown instance id"):
        load_tasks(shared_data / "swebench/instances/sweagent_swe-bench-lite-test.json", ["nope"])
