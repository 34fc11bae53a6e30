"""Reliability probes (docs/reliability.md), each against the real thing: signals sent to real process groups, a real
fork bomb in a real sandbox container, checkpoints damaged on disk, every bad input through the real CLI, adversarial
completions through the reward."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from srl_agent.actions import Bash, Edit, parse_function_calls, render_action
from srl_agent.reward import srl_reward

# -- 5. bounded reward time ---------------------------------------------------------------------------------------

EXPERT_LS = render_action(Bash("ls -la"))
EXPERT_40K = render_action(Edit("create", "/testbed/big.py", file_text="".join(f"x{i} = {i * 7 % 13}\n"
                                                                              for i in range(4000))))
CREATE_1MB = render_action(Edit("create", "/testbed/big.py", file_text="".join(f"y{i} = {i % 97} + {i}\n"
                                                                               for i in range(60_000))))
ADVERSARIAL = {
    "100k unclosed <function=": ("<think>x</think>" + "<function=bash>x" * 100_000, EXPERT_LS, -1.0),
    "100k unclosed <parameter=": ("<think>x</think><function=bash>" + "<parameter=command>x" * 100_000
                                  + "</function>", EXPERT_LS, -1.0),
    "1 MB create vs 40 KB expert": ("<think>x</think>" + CREATE_1MB, EXPERT_40K, None),
    "the 40 KB expert itself": ("<think>x</think>" + EXPERT_40K, EXPERT_40K, 1.0),
    "4000 x 'a' vs itself": ("<think>x</think>" + render_action(Bash("a" * 4000)), render_action(Bash("a" * 4000)), 1.0),
    "1 MB bash vs 40 KB bash": ("<think>x</think>" + render_action(Bash("echo " + "ab " * 330_000)),
                                render_action(Bash("echo " + "ba " * 13_000)), None),
}


@pytest.mark.parametrize("mode", ["difflib", "rapidfuzz", "action"])
@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_adversarial_completions_score_fast(case, mode):
    """Before: 100k unclosed tags or a 1 MB create took over 120 s. The bound here is 20x the 100 ms target (a busy
    2-core CI machine); docs/reliability.md has the measured times."""
    completion, expert, expected = ADVERSARIAL[case]
    t0 = time.perf_counter()
    reward = srl_reward(completion, expert, mode=mode)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"{case} ({mode}) took {elapsed:.2f}s"
    if expected is not None:
        assert reward == expected
    else:
        # A 1 MB text cannot be close to a 40 KB one (the length bound); "action" averages in the equal path.
        assert 0.0 <= reward < (0.6 if mode == "action" else 0.2)


def test_linear_scanner_keeps_the_regex_semantics():
    text = ("<function=bash><parameter=command>a</parameter><parameter=x y>b</parameter></function>"
            "<function=bad name>z</function><function=submit></function><function=open>")
    assert parse_function_calls(text) == [("bash", [("command", "a")]), ("submit", [])]


# -- 1. SIGTERM to `srl-agent eval` leaves no container -----------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "srl_agent.cli", *argv]


def cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def owned_containers(pid: int) -> list[str]:
    from srl_agent.sandbox.cleanup import LABEL, OWNER_LABEL
    from srl_agent.sandbox.docker import docker_client

    prefix = f"{socket.gethostname()}:{pid}:"
    return [c["Id"] for c in docker_client().api.containers(all=True, filters={"label": LABEL})
            if (c.get("Labels") or {}).get(OWNER_LABEL, "").startswith(prefix)]


def remove_containers(ids: list[str]) -> None:
    from srl_agent.sandbox.docker import docker_client

    for cid in ids:
        docker_client().api.remove_container(cid, force=True)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def images():
    from _docker_env import base_image

    base_image()
    from srl_agent.swe_mini.images import ensure_images

    ensure_images()


@pytest.mark.docker
def test_sigterm_to_eval_removes_every_container_and_the_rerun_resumes(images, tmp_path):
    """Before: the handler was never installed (sandboxes open in worker threads): the process died at once and its
    containers stayed."""
    out = tmp_path / "run"
    from srl_agent import swe_mini

    two = swe_mini.split_ids("test")[:2]
    argv = cli("eval", "--policy", "gold", "--instances", *two, "--output", str(out), "--workers", "2", "--no-progress")
    proc = subprocess.Popen(argv, cwd=REPO, env=cli_env(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: owned_containers(proc.pid), 120, "the eval's first sandbox")
        os.killpg(proc.pid, signal.SIGTERM)  # its whole process group, as a service manager or a terminal would
        rc = proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        left = owned_containers(proc.pid)
        remove_containers(left)  # a failing run must not leave them behind
    assert rc == -signal.SIGTERM, proc.stderr.read()  # 143 in a shell: killed by SIGTERM
    assert left == []
    from srl_agent.evaluate.runner import load_finished

    # Episodes cut short by the shutdown are recorded as infrastructure errors, which a rerun retries.
    finished = sum(e.error is None for e in load_finished(out / "episodes.jsonl").values())
    rerun = subprocess.run(argv, cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["resolved_instances"] == report["total_instances"] == 2
    assert report["run"]["instances_run"] == 2 - finished  # what finished before SIGTERM was not redone


# -- 6. Ctrl-C says what was saved and how to resume ---------------------------------------------------------------


@pytest.mark.docker
def test_sigint_to_eval_exits_130_with_one_line_saying_how_to_resume(images, tmp_path):
    """Before: exit 130 with no word on what was kept or how to continue."""
    from srl_agent import swe_mini

    out = tmp_path / "run"
    # every held-out task, one worker: on an idle machine a gold episode takes well under a second, and with only two
    # the run could finish between the first sandbox showing and the signal landing
    argv = cli("eval", "--policy", "gold", "--instances", *swe_mini.split_ids("test"), "--output", str(out),
               "--workers", "1", "--no-progress")
    # A terminal's foreground job has SIGINT's default action; a suite started in the background (`nohup … &`) passes
    # SIG_IGN down, and Python then never raises KeyboardInterrupt: restore the default in the child.
    proc = subprocess.Popen(argv, cwd=REPO, env=cli_env(), start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: owned_containers(proc.pid), 120, "the eval's first sandbox")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the foreground process group
        _, err = proc.communicate(timeout=180)  # the episode in flight finishes first
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        left = owned_containers(proc.pid)
        remove_containers(left)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("srl-agent eval: interrupted; ") and "rerun the same command to resume" in last, err
    assert str(out / "episodes.jsonl") in last and left == []


def test_interrupted_train_names_its_latest_checkpoint(two_checkpoints):
    import argparse

    from srl_agent.commands.train import resume_hint

    hint = resume_hint(argparse.Namespace(output=two_checkpoints))
    assert str(two_checkpoints / "checkpoints" / "step_000002") in hint and "--resume" in hint


# -- 2. background processes do not outlive their command -------------------------------------------------------


@pytest.mark.docker
def test_fork_bomb_then_echo_ok():
    """Before: the bomb returned at once (exit 0), no timeout fired, and it kept every pid of the sandbox: later
    commands filled with `fork: retry` and one `ps` took 18 s."""
    from _docker_env import base_image

    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.docker import DockerSandbox

    with DockerSandbox(SandboxConfig(image=base_image(), pids_limit=128, interrupt_grace_s=0.5)) as sb:
        # Several bombs: the sweep once scanned /proc before freezing and, under load, found none of a bomb's short-lived
        # processes still alive (a few % of bombs), reported 0 killed and left it running.
        for _ in range(5):
            bomb = sb.run(":(){ :|:& };:", timeout=30)
            assert bomb.exit_code == 0 and "processes do not outlive their command" in bomb.output, bomb  # it says so
            t0 = time.monotonic()
            ok = sb.run("echo ok", timeout=10)
            assert ok.output == "ok\n" and ok.exit_code == 0 and time.monotonic() - t0 < 5, ok
        escaped = sb.run("setsid sleep 300 & (sleep 301 &); nohup sleep 302 >/dev/null 2>&1 & echo started", timeout=10)
        assert escaped.output.startswith("started\n") and "background process(es)" in escaped.output
        ps = sb.run("ps -e -o stat=,ppid=,comm=", timeout=10).output.splitlines()  # one process: a pipeline forks
        assert sorted(line.split()[-1] for line in ps) == ["bash", "docker-init", "ps", "sleep"], ps  # init, sleep, shell


def test_local_sandbox_kills_background_jobs():
    """The (unsafe, development-only) local sandbox kills its shell's children and process group after each command."""
    from srl_agent.sandbox.local import LocalSandbox

    with LocalSandbox() as sb:
        r = sb.run("sleep 300 & echo $! > pid; echo started")
        assert r.output.startswith("started\n") and "1 background process(es)" in r.output
        pid = int(sb.read_file("pid"))
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2],
                 5, "the background sleep to die")


# -- 4. every bad input: exit 2, one line, no traceback, no output written ----------------------------------------

# {d}: a scratch directory holding bin.jsonl (random bytes), empty.jsonl, existing.txt, bad.toml (invalid TOML),
# bin.toml, torn.json (cut mid-object), nums.json (JSON that is no trajectory), emptydir/. {o}: where outputs would go
# (each case asserts it stays empty). T: the shipped expert trajectories.
T = "trajectories/swe_mini.jsonl"
BAD_INPUTS = {
    "convert a binary file": "data convert {d}/bin.jsonl -o {o}/a.jsonl",
    "convert an empty file": "data convert {d}/empty.jsonl -o {o}/b.jsonl",
    "convert a missing file": "data convert {d}/missing.jsonl -o {o}/c.jsonl",
    "convert to a .txt": f"data convert {T} -o {{o}}/d.txt",
    "convert to a directory": f"data convert {T} -o {{d}}/emptydir.jsonl/",
    "convert under a file": f"data convert {T} -o {{d}}/existing.txt/e.jsonl",
    "stats of a binary .jsonl": "data stats {d}/bin.jsonl",
    "stats of a binary .traj": "data stats {d}/bin.traj",
    "stats with an unknown format": f"data stats --format nosuch {T}",
    "negative history": f"data convert --history -5 {T} -o {{o}}/f.jsonl",
    "convert an empty directory": "data convert {d}/emptydir -o {o}/g.jsonl",
    "a truncated .json": "data stats {d}/torn.json",
    "JSON that is no trajectory": "data stats {d}/nums.json",
    "a missing tokenizer": f"data convert {T} -o {{o}}/h.jsonl --tokenizer {{d}}/no-tokenizer --max-prompt-tokens 10",
    "eval --output is a file": "eval --policy gold --output {d}/existing.txt",
    "eval an unknown bench": "eval --policy gold --bench nosuch --output {o}/e1",
    "eval expert without trajectories": "eval --policy expert --output {o}/e2",
    "eval --workers 0": "eval --policy gold --workers 0 --output {o}/e3",
    "eval a missing model": "eval --model {d}/no-model --output {o}/e4",
    "regrade a missing directory": "eval --regrade-logs {d}/no-logs --output {o}/e5",
    "eval an unknown instance": "eval --policy gold --instances nosuch --output {o}/e6",
    "eval a binary bench file": "eval --policy gold --bench {d}/bin.jsonl --output {o}/e7",
    "eval an empty bench file": "eval --policy gold --bench {d}/empty.jsonl --output {o}/e8",
    "eval an unknown split": "eval --policy gold --split nosuch --output {o}/e9",
    "eval expert from a binary file": "eval --policy expert --trajectories {d}/bin.jsonl --output {o}/e10",
    "train lr=abc": "train --output {o}/t1 lr=abc",
    "train an unknown key": "train --output {o}/t2 nosuchkey=1",
    "train a missing config": "train --output {o}/t3 --config {d}/missing.toml",
    "train an invalid TOML": "train --output {o}/t4 --config {d}/bad.toml",
    "train a binary config": "train --output {o}/t5 --config {d}/bin.toml",
    "train missing trajectories": "train --output {o}/t6 --trajectories {d}/missing.jsonl",
    "train --resume without checkpoints": "train --output {o}/t7 --resume --model tiny",
    "train --output is a file": "train --output {d}/existing.txt --model tiny",
    "train a missing model": "train --output {o}/t8 --model {d}/no-model",
    "train on an empty file": "train --output {o}/t9 --model tiny --trajectories {d}/empty.jsonl",
    "train on a binary file": "train --output {o}/t10 --model tiny --trajectories {d}/bin.jsonl",
    "train --init-from nothing": "train --output {o}/t11 --init-from {d}/no-run",
    "a task shell without an id": "env shell --bench swe-mini",
    "a task shell of an unknown id": "env shell nosuch --bench swe-mini",
    "mine a missing repository": "env mine --repo {d}/no-repo --output {o}/m1",
    "replay a missing file": "replay {d}/missing.jsonl",
    "replay a binary file": "replay {d}/bin.jsonl",
    "replay an empty file": "replay {d}/empty.jsonl",
}

# Runs every case through the real entry point (srl_agent.cli.main) in one process, so imports are paid once (one
# process per case costs ~1 s each); an exception escaping main() is what the console script prints as a traceback.
DRIVER = r"""
import contextlib, io, json, sys, traceback
from srl_agent.cli import main
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code
        except BaseException:
            rc = "traceback"
            err.write(traceback.format_exc())
    results[name] = [rc, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


def bad_input_files(d: Path) -> None:
    import random

    rng = random.Random(0)
    blob = bytes(rng.randrange(256) for _ in range(3000)) + b"\xff\xfe\x00"
    for name in ("bin.jsonl", "bin.traj", "bin.toml"):
        (d / name).write_bytes(blob)
    (d / "empty.jsonl").write_bytes(b"")
    (d / "existing.txt").write_text("hi\n")
    (d / "bad.toml").write_text("lr = [\n")
    (d / "torn.json").write_text('{"a": 1\n')
    (d / "nums.json").write_text("[1, 2, 3]\n")
    (d / "emptydir").mkdir()
    (d / "emptydir.jsonl").mkdir()


def test_bad_inputs_are_one_line_exit_2_and_write_nothing(tmp_path):
    """Before: 16 of the first 20 were tracebacks or several lines (binary and empty files, --output on a file, ...)."""
    d, o = tmp_path / "in", tmp_path / "out"
    d.mkdir()
    o.mkdir()
    bad_input_files(d)
    cases = {name: line.format(d=d, o=o).split() for name, line in BAD_INPUTS.items()}
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(cases)], cwd=REPO, env=cli_env(),
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    failures = []
    for name, (rc, out, err) in results.items():
        lines = err.strip().splitlines()
        if rc != 2 or len(lines) != 1 or out.strip() or "Traceback" in err:
            failures.append(f"{name}: exit {rc}, {len(lines)} stderr line(s), stdout {out[:80]!r}: {err[-300:]!r}")
        elif not lines[0].startswith("srl-agent "):
            failures.append(f"{name}: {lines[0]!r} does not name the command")
    assert not failures, "\n".join(failures)
    assert [p for p in o.rglob("*") if not p.is_dir()] == [], "a failed command wrote output"
    assert len(results) == len(BAD_INPUTS) >= 40


def test_bad_input_through_the_console_script(tmp_path):
    """The same contract from the installed entry point, as users run it (a separate process per case)."""
    bad_input_files(tmp_path)
    argvs = [["data", "convert", str(tmp_path / "bin.jsonl"), "-o", str(tmp_path / "x.jsonl")],
             ["eval", "--policy", "gold", "--output", str(tmp_path / "existing.txt")]]
    procs = [subprocess.Popen(cli(*a), cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for a in argvs]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and not out and "Traceback" not in err, err
    assert not (tmp_path / "x.jsonl").exists()


# -- 3. damaged checkpoints are named; saves are atomic ------------------------------------------------------------

TINY_RUN = ["--model", "tiny", "history_window=1", "max_observation_chars=200", "max_prompt_tokens=1024",
            "group_size=4", "batch_size=2", "micro_batch_size=8", "max_completion_tokens=32", "progress=false",
            "max_sampling_rounds=1", "save_every=1"]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> Path:
    """A tiny SRL run with checkpoints at steps 1 and 2."""
    from srl_agent.cli import main

    out = tmp_path_factory.mktemp("ckpt") / "run"
    assert main(["train", "--output", str(out), "--steps", "2", *TINY_RUN]) == 0
    return out


def _damaged_copy(run: Path, dest: Path, *cuts: str) -> Path:
    """A copy of the run with each file in `cuts` (relative to checkpoints/) cut to half its size on disk."""
    import shutil

    shutil.copytree(run, dest)
    for rel in cuts:
        f = dest / "checkpoints" / rel
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    return dest


@pytest.mark.parametrize("cut", ["step_000002/trainer_state.pt", "step_000002/model/model.safetensors"])
def test_resume_names_a_damaged_checkpoint_and_falls_back(two_checkpoints, tmp_path, capsys, cut):
    """Before: a 24-31-line traceback naming no file (OSError: [Errno 22], SafetensorError)."""
    from srl_agent.cli import main

    run = _damaged_copy(two_checkpoints, tmp_path / "run", cut)
    capsys.readouterr()
    assert main(["train", "--output", str(run), "--steps", "2", "--resume", *TINY_RUN]) == 0
    err = capsys.readouterr().err
    from srl_agent.train.checkpoint import checkpoint_problem

    assert f"{run / 'checkpoints' / cut}:" in err and "resuming from the previous complete checkpoint" in err
    assert "resumed from" in err and "step_000001 at step 1" in err
    assert checkpoint_problem(run / "checkpoints" / "step_000002") is None  # step 2 was trained and saved again


def test_resume_with_every_checkpoint_damaged_stops_in_one_line(two_checkpoints, tmp_path, capsys):
    from srl_agent.cli import main

    run = _damaged_copy(two_checkpoints, tmp_path / "run", "step_000002/model/model.safetensors",
                        "step_000001/trainer_state.pt")
    capsys.readouterr()
    assert main(["train", "--output", str(run), "--steps", "2", "--resume", *TINY_RUN]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.safetensors" in err[0] and "no usable checkpoint" in err[0], err


# Saves step 1 again and again into the same directory (what a resumed run does when it passes the step of a damaged
# checkpoint), with a model large enough (~40 MB) that a save takes a while; prints the time of each save.
SAVER = r"""
import sys, time
from pathlib import Path
import torch
from accelerate import Accelerator
from transformers import Qwen2Config, Qwen2ForCausalLM
from srl_agent.models.tiny import tiny_tokenizer
from srl_agent.train.checkpoint import save_checkpoint
torch.manual_seed(0)
model = Qwen2ForCausalLM(Qwen2Config(vocab_size=384, hidden_size=512, intermediate_size=1024, num_hidden_layers=4,
                                     num_attention_heads=8, num_key_value_heads=2))
opt = torch.optim.AdamW(model.parameters())
sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
model(torch.tensor([[1, 2]])).logits.sum().backward()
opt.step()  # the optimizer state (two moments per weight) is saved too
acc, tok = Accelerator(cpu=True), tiny_tokenizer()
for k in range(1, 10**6):  # save k marks every file: the weights, config.json and the trainer state
    with torch.no_grad():
        model.model.embed_tokens.weight[0, 0] = k
    t0 = time.monotonic()
    save_checkpoint(Path(sys.argv[1]), model=model, tokenizer=tok, optimizer=opt, scheduler=sched,
                    sampler_state={"position": k}, step=1, config={"save": k}, accelerator=acc)
    print(f"saved {time.monotonic() - t0:.3f}", flush=True)
"""


def test_a_kill_during_a_save_never_leaves_a_checkpoint_that_looks_complete(tmp_path):
    """Repeated saves to one path, frozen (SIGSTOP) at 8 random points and finally SIGKILLed: at each point the
    directory on disk, which is what a kill right then leaves, is either absent or one complete save (every file
    loads and comes from the same save). Before: files were rewritten in place one after the other, so a kill left
    the new weights beside the previous save's trainer state, in a checkpoint that looked complete."""
    import random

    path = tmp_path / "checkpoints" / "step_000001"
    rng = random.Random(0)
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(path)], cwd=REPO, env=cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        save_s = [float(proc.stdout.readline().split()[1]) for _ in range(2)][-1]  # imports done, two saves
        for probe in range(9):
            time.sleep(rng.uniform(0.05, 1.0) * save_s)
            if probe == 8:
                proc.kill()
                proc.wait(30)
            else:
                proc.send_signal(signal.SIGSTOP)
            _assert_absent_or_complete(path)
            proc.send_signal(signal.SIGCONT)
    finally:
        proc.kill()
        proc.wait(30)


def _assert_absent_or_complete(path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    if not (path / "trainer_state.pt").exists():
        assert not path.exists() or not any(path.iterdir()), sorted(path.rglob("*"))
        return
    weights = load_file(path / "model" / "model.safetensors")  # complete: every tensor loads
    state = torch.load(path / "trainer_state.pt", weights_only=False)
    save = json.loads((path / "config.json").read_text())["save"]
    assert state["sampler"]["position"] == save == int(weights["model.embed_tokens.weight"][0, 0]), "files of two saves"
