"""A pool of Docker hosts against two real daemons: the main one and a second dockerd started here for the module
(_second_dockerd.py). The hosts-spec parsing tests need no Docker.

Covered: eval on swe-mini spread over both hosts (episodes on both, results identical to a one-host run); an image
present on one host only is copied to the other, and one on no host fails fast with the list; the second daemon killed
mid-eval (its episodes retried on the first, nothing hangs, report and exit code say so), then `env gc` on it leaves
no container; `env shell`, `record` and an RLVR step on the pool. Runtime: ~5-7 minutes on 2 cores shared with
other jobs (load average 15-20), mostly the small evals and the tiny model's imports; much less on an idle machine."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

from srl_agent.errors import UserError
from srl_agent.sandbox.hosts import LOCAL, DockerHost, parse_hosts

REPO = Path(__file__).resolve().parents[1]
TWO = ["swe-mini__argkit-4", "swe-mini__datewise-3"]  # two held-out tasks: one per host at capacity 1 each


# -- the spec (no Docker) -----------------------------------------------------------------------------------------


def test_parse_urls_capacities_and_files(tmp_path):
    assert parse_hosts("local, unix:///tmp/d.sock=3 ,ssh://me@box=16") == (
        DockerHost(LOCAL), DockerHost("unix:///tmp/d.sock", 3), DockerHost("ssh://me@box", 16))
    toml = tmp_path / "hosts.toml"
    toml.write_text('[[host]]\nurl = "ssh://me@box2"\ncapacity = 8\nlabels = {rack = "b"}\n\n[[host]]\nurl = "local"\n')
    assert parse_hosts(str(toml)) == (DockerHost("ssh://me@box2", 8, (("rack", "b"),)), DockerHost(LOCAL))
    yml = tmp_path / "hosts.yaml"
    yml.write_text("host:\n  - url: tcp://box3:2375\n    capacity: 4\n")
    assert parse_hosts(str(yml)) == (DockerHost("tcp://box3:2375", 4),)


@pytest.mark.parametrize("spec, message", [
    ("box2", "is not a Docker host URL"),
    ("local,local", "listed twice"),
    ("unix:///a.sock=0", "capacity must be a whole number >= 1"),
    (" , ", "--docker-hosts is empty"),
    ("nope.toml", "no such file"),
])
def test_bad_specs_say_what_to_fix(spec, message):
    with pytest.raises(UserError, match=message):
        parse_hosts(spec)


def test_bad_hosts_file_names_the_file_and_host(tmp_path):
    f = tmp_path / "h.toml"
    f.write_text('[[host]]\nurl = "local"\n[[host]]\ncapacity = 2\nport = 1\n')
    with pytest.raises(UserError, match=r"h.toml: host #2: needs a string `url`.*unknown: \['port'\]"):
        parse_hosts(str(f))
    f.write_text("[[host]\n")
    with pytest.raises(UserError, match="h.toml: cannot parse hosts file"):
        parse_hosts(str(f))


# -- two real daemons ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def second():
    from _docker_env import base_image
    from _second_dockerd import start_second_daemon

    base_image()  # also skips (fails in CI) without the main daemon
    daemon = start_second_daemon(tls=True)
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def images(second):
    from srl_agent.swe_mini.images import ensure_images

    return ensure_images(TWO)


def _tiny_image(client, tag: str) -> None:
    """A real image of one file, made with `docker import` (no registry, no base image)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"srl-agent multi-host test\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    client.api.import_image_from_data(buf.getvalue(), repository=tag.split(":")[0], tag=tag.split(":")[1])


@pytest.mark.docker
def test_image_on_one_host_is_copied_over_tls_and_one_on_none_fails_fast(second, tmp_path):
    from srl_agent.sandbox.docker import docker_client
    from srl_agent.sandbox.image_transfer import How, ensure_on_hosts, has_image
    from srl_agent.sandbox.pool import HostPool

    hosts_file = tmp_path / "hosts.toml"  # the second daemon over tcp:// with mutual TLS, from a hosts file
    hosts_file.write_text(f'[[host]]\nurl = "{second.tls_url}"\ncapacity = 3\ntls_dir = "{second.client_tls_dir}"\n')
    pool = HostPool.connect(parse_hosts(str(hosts_file)))
    assert pool.capacity == {second.tls_url: 3}
    with pytest.raises(UserError, match=f"1 of 1 host\\(s\\) do not answer: {second.tls_url}"):
        HostPool.connect(parse_hosts(second.tls_url))  # no client certificate: refused
    main, other = docker_client(), pool.client(second.tls_url)
    tag = f"srl-agent-test/i16-tiny:{int(time.time() * 1000)}"
    _tiny_image(main, tag)
    try:
        clients = {LOCAL: main, second.tls_url: other}
        assert not has_image(other, tag)
        done = ensure_on_hosts(clients, [tag], progress=False)
        assert {(r.host, r.how, r.source) for r in done} == {(LOCAL, How.PRESENT, None),
                                                               (second.tls_url, How.COPIED, LOCAL)}
        assert second.client().images.get(tag).id == main.images.get(tag).id  # the same image, tag included
        assert ensure_on_hosts(clients, [tag], progress=False)[1].how is How.PRESENT  # idempotent
        t0 = time.monotonic()
        with pytest.raises(UserError, match=r"2 image\(s\) are not on the hosts.*srl-agent-test/none:1 on local "
                                            r"\(pull failed.*srl-agent-test/none:1 on tcp://"):
            ensure_on_hosts(clients, [tag, "srl-agent-test/none:1"], progress=False)
        assert time.monotonic() - t0 < 60
    finally:
        for c in (main, other):
            c.images.remove(tag, force=True)


def _eval(out: Path, *extra: str, hosts: str | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "srl_agent.cli", "eval", "--policy", "gold", "--output", str(out), "--no-progress",
            "--instances", *TWO, *(["--docker-hosts", hosts] if hosts else ["--workers", "2"]), *extra]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _episodes(out: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    return {r["instance_id"]: r for r in rows}


@pytest.mark.docker
def test_eval_spread_over_two_hosts_matches_one_host(second, images, tmp_path):
    runs = {}
    for name, hosts in (("one", None), ("two", f"{LOCAL}=1,{second.url}=1")):
        proc = _eval(tmp_path / name, hosts=hosts)
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out
        runs[name] = json.loads((tmp_path / name / "report.json").read_text()), _episodes(tmp_path / name)
    (one, one_eps), (two, two_eps) = runs["one"], runs["two"]
    assert two["resolved_ids"] == one["resolved_ids"] == sorted(TWO)
    for iid in TWO:  # identical results: the same patch, the same per-test verdicts
        assert two_eps[iid]["submission"] == one_eps[iid]["submission"]
        assert two_eps[iid]["grade"]["report"] == one_eps[iid]["grade"]["report"]
    hosts = {h["url"]: h for h in two["run"]["hosts"]}
    assert hosts[LOCAL]["sandboxes"] > 0 and hosts[second.url]["sandboxes"] > 0  # episodes ran on both
    assert {h for e in two_eps.values() for h in e["metadata"]["hosts"]} == {LOCAL, second.url}
    assert two["run"]["workers"] == 2 and two["run"]["retried_ids"] == [] and "hosts" not in one["run"]


@pytest.mark.docker
def test_second_daemon_killed_mid_eval_retries_on_the_first_then_gc_cleans_it(second, images, tmp_path):
    from srl_agent.sandbox.cleanup import LABEL

    other = second.client()
    for attempt in range(3):
        run = tmp_path / f"run{attempt}"
        proc = _eval(run, hosts=f"{LOCAL}=1,{second.url}=1")
        output: list[str] = []
        reader = threading.Thread(target=lambda p=proc, o=output: o.append(p.stdout.read()), daemon=True)
        reader.start()
        deadline = time.monotonic() + 300
        while not any(c.attrs.get("ExecIDs") for c in other.containers.list(filters={"label": LABEL})):
            assert proc.poll() is None and time.monotonic() < deadline, "no sandbox ever started on the second host"
            time.sleep(0.05)
        # On an idle machine a gold episode is over in well under a second: slow the second host's sandbox to 2% of a
        # CPU so that the kill lands while its episode is in flight (after its shell is up: a failed start is placed
        # again, not retried).
        for c in other.containers.list(filters={"label": LABEL}):  # (a container already gone: the loop retries)
            subprocess.run(["docker", "-H", second.url, "update", "--cpus", "0.02", c.id], capture_output=True, check=False)
        time.sleep(1.0)
        second.kill()
        assert proc.wait(timeout=600) == 0  # nothing hangs; every instance was retried on the first host and resolved
        reader.join(10)
        if json.loads((run / "report.json").read_text())["run"]["retried_ids"]:
            break
        second.start()  # the episode still finished before the kill: once more, from a clean host
        for c in other.containers.list(all=True, filters={"label": LABEL}):
            c.remove(force=True)
    report = json.loads((run / "report.json").read_text())
    hosts = {h["url"]: h for h in report["run"]["hosts"]}
    assert hosts[second.url]["state"] == "down" and hosts[LOCAL]["state"] == "live"
    assert report["resolved_ids"] == sorted(TWO) and report["error_ids"] == []
    retried = report["run"]["retried_ids"]
    assert retried, "the episode in flight on the killed host was not retried"
    for iid in retried:
        e = _episodes(run)[iid]
        assert second.url in e["metadata"]["failed_attempts"][0]["hosts"]
        assert f"Docker host {second.url} stopped answering" in e["metadata"]["failed_attempts"][0]["error"]
        assert e["metadata"]["hosts"] == [LOCAL] * len(e["metadata"]["hosts"])
        logs = run / "logs" / "run_evaluation" / run.name / "gold" / iid  # swebench's layout (run id: the folder)
        assert "stopped answering" in (logs / "error.attempt-1.txt").read_text() and not (logs / "error.txt").exists()
    assert f"{second.url}  capacity 1" in output[0] and "down" in output[0] and "retried on another host" in output[0]

    # The host comes back with what the killed daemon left; `env gc --docker-hosts` removes it (the eval is over).
    second.start()
    assert other.containers.list(all=True, filters={"label": LABEL})
    gc = subprocess.run([sys.executable, "-m", "srl_agent.cli", "env", "gc", "--docker-hosts", second.url], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
    assert gc.returncode == 0 and f"on {second.url}" in gc.stdout, gc.stdout + gc.stderr
    assert other.containers.list(all=True, filters={"label": LABEL}) == []


@pytest.mark.docker
def test_rlvr_with_a_missing_image_fails_before_the_model_loads(second, tmp_path):
    from srl_agent import swe_mini

    task = {**swe_mini.load("test")[0].to_dict(), "instance_id": "gone__image-1", "image": "srl-agent-test/gone:1"}
    bench = tmp_path / "tasks.jsonl"
    bench.write_text(json.dumps(task) + "\n")
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "srl_agent.cli", "train", "--method", "rlvr", "--model", "tiny",
                        "--output", str(out), "--docker-hosts", f"{LOCAL},{second.url}", f"bench={bench}", "steps=1"],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "2 image(s) are not on the hosts" in r.stderr and f"srl-agent-test/gone:1 on {second.url}" in r.stderr
    assert not out.exists()  # stopped before the run directory, the model and the GPUs


@pytest.mark.docker
def test_env_shell_and_record_run_on_the_pool(second, images, tmp_path):
    from srl_agent.sandbox.cleanup import LABEL

    other = second.client()
    shell = subprocess.Popen([sys.executable, "-m", "srl_agent.cli", "env", "shell", "--bench", "swe-mini", TWO[0],
                              "--docker-hosts", second.url], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    shell.stdin.write("git -C /testbed log --oneline | wc -l\n")
    shell.stdin.flush()
    deadline = time.monotonic() + 300
    while not other.containers.list(filters={"label": LABEL}):  # the task's sandbox runs on the second host
        assert shell.poll() is None and time.monotonic() < deadline, shell.stdout.read()
        time.sleep(0.1)
    out, _ = shell.communicate(timeout=300)  # EOF ends the shell, which removes the sandbox
    assert shell.returncode == 0 and "repo at" in out, out
    assert other.containers.list(all=True, filters={"label": LABEL}) == []

    r = subprocess.run([sys.executable, "-m", "srl_agent.cli", "record", "--model", "tiny", "--output", str(tmp_path),
                        "--split", "test", "--instances", TWO[0], "--max-turns", "1", "--max-new-tokens", "8",
                        "--docker-hosts", f"{second.url}=1", "--no-progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=900)  # a generous bound: torch import on busy cores
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads((tmp_path / "attempt-1" / "report.json").read_text())
    assert [(h["url"], h["capacity"]) for h in report["run"]["hosts"]] == [(second.url, 1)]
    assert report["run"]["hosts"][0]["sandboxes"] >= 1 and report["error_ids"] == []


@pytest.mark.docker
def test_rlvr_step_runs_its_episodes_on_both_hosts(second, images, tmp_path):
    """One RLVR step of the tiny model: G=2 episodes of one task, one slot per host. Both daemons' event logs show a
    sandbox of this run (its owner label names the training process), and no episode failed for infrastructure."""
    import socket

    from srl_agent.sandbox.cleanup import OWNER_LABEL
    from srl_agent.sandbox.docker import docker_client

    since = int(time.time()) - 1
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "srl_agent.cli", "train", "--method", "rlvr", "--model", "tiny",
                             "--output", str(out), "--docker-hosts", f"{LOCAL}=1,{second.url}=1", "bench=swe-mini",
                             "split=test", "steps=1", "group_size=2", "batch_size=1", "max_sampling_rounds=1",
                             "max_turns=1", "max_completion_tokens=16", "workers=4", "save_every=0", "progress=false"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, output[-3000:]
    assert "running 2 episodes at once" in output  # workers=4 capped at the pool's 2 slots
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert metrics["episodes"] == 2 and metrics["episodes_infra_failed"] == 0
    owner = f"{socket.gethostname()}:{proc.pid}:"
    for client in (docker_client(), second.client()):
        created = [e for e in client.events(since=since, until=int(time.time()) + 1, decode=True,
                                            filters={"type": "container", "event": "create"})
                   if e["Actor"]["Attributes"].get(OWNER_LABEL, "").startswith(owner)]
        assert created, f"no sandbox of the run was created on {client.api.base_url}"
