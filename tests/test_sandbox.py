"""Sandbox conformance suite (LocalSandbox and DockerSandbox) plus Docker-only isolation and cleanup tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from _docker_env import base_image

from srl_agent.sandbox.base import SandboxError
from srl_agent.sandbox.config import SandboxConfig
from srl_agent.sandbox.stream import OutputCollector, ansi_c_quote

REPO = Path(__file__).resolve().parents[1]
FAST = {"interrupt_grace_s": 0.5, "output_limit": 4000}


def _docker_sandbox(**kw):
    from srl_agent.sandbox.docker import DockerSandbox

    return DockerSandbox(SandboxConfig(image=base_image(), **{**FAST, **kw}))


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def sb(request):
    if request.param == "local":
        from srl_agent.sandbox.local import LocalSandbox

        box = LocalSandbox(SandboxConfig(**FAST))
    else:
        box = _docker_sandbox()
    with box:
        yield box


def _home(sb) -> str:
    return sb.run("pwd").output.strip()


# --- protocol units (no shell) ---


def test_collector_marker_split_across_reads_and_head_tail():
    col = OutputCollector(b"__SRL_abc_", limit=10)
    data = b"0123456789ABCDEFGHIJ" + b"__SRL_abc_" + b"7__\n"
    for i in range(len(data)):
        col.feed(data[i : i + 1])
    assert col.done and col.exit_code == 7
    text, truncated = col.text()
    assert truncated and text.startswith("01234") and text.endswith("FGHIJ") and "10 bytes of output truncated" in text


def test_ansi_c_quote_rejects_nul():
    assert ansi_c_quote("a'b\\c\n") == b"$'a\\'b\\\\c\\x0a'"
    with pytest.raises(ValueError):
        ansi_c_quote("a\x00b")


# --- conformance: both implementations ---


def test_stateful_cwd_and_env(sb):
    assert sb.run("mkdir -p sub/dir && cd sub/dir && export FOO='a b' && BAR=1").exit_code == 0
    r = sb.run('pwd; echo "$FOO|$BAR"; bash -c \'echo "child:$FOO"\'')
    assert r.output.splitlines()[0].endswith("/sub/dir")
    assert r.output.splitlines()[1:] == ["a b|1", "child:a b"]


def test_exit_codes_and_stderr(sb):
    assert sb.run("true").exit_code == 0
    r = sb.run("echo out; echo err >&2; (exit 42)")
    assert r.exit_code == 42 and r.output == "out\nerr\n" and not r.timed_out
    assert sb.run("echo 'unbalanced").exit_code == 2  # syntax error does not wedge the shell
    assert sb.run("echo still here").output == "still here\n"


def test_quoting_unicode_heredoc_and_stdin(sb):
    cmd = "cat <<'EOF'\nit's \\ $HOME `x` \"q\" é ✓\nEOF\nprintf 'no newline'"
    assert sb.run(cmd).output == "it's \\ $HOME `x` \"q\" é ✓\nno newline"
    r = sb.run("cat; read -r x; echo rc=$?", timeout=5)  # stdin is /dev/null: no hang, protocol intact
    assert r.output == "rc=1\n" and not r.timed_out


def test_timeout_kills_and_keeps_state(sb):
    sb.run("cd /tmp && export KEEP=yes")
    t0 = time.monotonic()
    r = sb.run("echo started; sleep 30; echo never", timeout=1)
    assert r.timed_out and r.exit_code is None and time.monotonic() - t0 < 5
    assert "started" in r.output and "never" not in r.output and "timed out" in r.output
    r = sb.run("while :; do :; done", timeout=0.5)  # shell-level loop: broken by the INT trap
    assert r.timed_out
    assert sb.run("pwd; echo $KEEP").output == "/tmp\nyes\n"
    r = sb.run("trap '' INT; sleep 30", timeout=0.5)  # ignores SIGINT: escalates to SIGKILL
    assert r.timed_out
    assert sb.run("pwd; echo $KEEP").output == "/tmp\nyes\n"


def test_huge_output_is_truncated_with_marker(sb):
    r = sb.run("seq 1 2000000; echo END", timeout=30)
    assert r.exit_code == 0 and r.truncated
    assert r.output.startswith("1\n2\n3\n") and r.output.endswith("1999999\n2000000\nEND\n")
    assert "bytes of output truncated" in r.output and len(r.output) < 5000


def test_binary_output_is_decoded_safely(sb):
    r = sb.run("head -c 3000 /dev/urandom; printf '\\000\\377\\376tail'")
    assert r.exit_code == 0 and r.output.endswith("\x00\ufffd\ufffdtail")
    assert sb.run("echo ok").output == "ok\n"


def test_shell_exit_restarts_and_reports(sb):
    sb.run("export GONE=1")
    r = sb.run("exit 3")
    assert "shell was restarted" in r.output and r.exit_code is None
    assert sb.run("echo ${GONE:-reset}").output == "reset\n"
    assert sb.restarts == 1


def test_file_round_trips(sb):
    home = _home(sb)
    blob = bytes(range(256)) * 50
    sb.write_file(f"{home}/a/b/blob.bin", blob)
    assert sb.read_file(f"{home}/a/b/blob.bin") == blob
    sb.write_file(f"{home}/t.txt", "héllo\n")
    assert sb.run("cat t.txt; wc -c < a/b/blob.bin").output == "héllo\n12800\n"
    sb.run("printf '#!/bin/sh\\necho v1\\n' > run.sh && chmod 755 run.sh")
    sb.write_file(f"{home}/run.sh", "#!/bin/sh\necho v2\n")
    assert sb.run("./run.sh").output == "v2\n"  # mode of an existing file is kept
    with pytest.raises(FileNotFoundError):
        sb.read_file(f"{home}/missing.txt")


def test_copy_in_directory(sb, tmp_path):
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "mod.py").write_text("X = 1\n")
    (src / "data.bin").write_bytes(b"\x00\x01\xff")
    home = _home(sb)
    sb.copy_in(str(src), f"{home}/dest")
    assert sb.read_file(f"{home}/dest/data.bin") == b"\x00\x01\xff"
    assert sb.run("cd dest && python3 -c 'import pkg.mod; print(pkg.mod.X)'").output == "1\n"


def test_close_is_idempotent(sb):
    sb.close()
    sb.close()
    with pytest.raises(SandboxError):
        sb.run("true")


# --- Docker only ---


@pytest.mark.docker
def test_isolation_settings_and_no_network():
    with _docker_sandbox() as sb:
        hc = sb.container.attrs["HostConfig"]
        assert hc["NetworkMode"] == "none" and hc["CapDrop"] == ["ALL"] and not hc["Privileged"]
        assert "no-new-privileges" in hc["SecurityOpt"] and hc["PidsLimit"] == 512 and hc["Memory"] == 4 << 30
        assert sb.run("echo $PYTHONDONTWRITEBYTECODE; ls /sys/class/net").output == "1\nlo\n"
        py = "import socket; socket.create_connection(('1.1.1.1', 53), timeout=2)"
        r = sb.run(f'python3 -c "{py}"', timeout=10)
        assert r.exit_code == 1 and "unreachable" in r.output.lower()
        assert sb.run("python3 -m pytest --version").exit_code == 0


@pytest.mark.docker
def test_eight_concurrent_sandboxes():
    from srl_agent.sandbox.docker import DockerSandbox

    image = base_image()
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            with DockerSandbox(SandboxConfig(image=image, **FAST)) as sb:
                sb.run(f"export ME={i}; echo {i} > /tmp/me")
                for _ in range(20):
                    assert sb.run("echo $ME; cat /tmp/me").output == f"{i}\n{i}\n"
        except BaseException as e:  # collected and re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _labelled(owner_pid: int) -> list:
    from srl_agent.sandbox.cleanup import LABEL, OWNER_LABEL
    from srl_agent.sandbox.docker import docker_client

    return [
        c
        for c in docker_client().containers.list(all=True, filters={"label": LABEL})
        if c.labels[OWNER_LABEL].split(":")[1] == str(owner_pid)
    ]


def _spawn_owner() -> subprocess.Popen:
    code = (
        "from srl_agent.sandbox.docker import DockerSandbox; from srl_agent.sandbox.config import SandboxConfig;"
        f"sb = DockerSandbox(SandboxConfig(image={base_image()!r})); print(sb.id, flush=True);"
        "import time; time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert len(proc.stdout.readline().strip()) == 64
    return proc


@pytest.mark.docker
def test_sigkill_leaves_container_then_gc_removes_it(capsys):
    from srl_agent.cli import main

    proc = _spawn_owner()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(_labelled(proc.pid)) == 1
    with _docker_sandbox() as live:  # a live owner's sandbox survives gc
        assert main(["env", "gc"]) == 0
        assert _labelled(proc.pid) == [] and "removed" in capsys.readouterr().out
        assert live.run("echo alive").output == "alive\n"


@pytest.mark.docker
def test_sigterm_removes_container():
    proc = _spawn_owner()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == -signal.SIGTERM
    assert _labelled(proc.pid) == []


@pytest.mark.docker
def test_memory_hog_is_contained():
    with _docker_sandbox(mem_limit="128m") as sb:
        sb.run("export KEEP=1")
        r = sb.run("python3 -c 'x = bytearray(1 << 30); print(len(x))'", timeout=30)
        assert r.exit_code == 137 and "Killed" in r.output
        assert sb.run("echo $KEEP").output == "1\n"  # the shell itself survived


BOMB = """import os, signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


@pytest.mark.docker
def test_fork_bomb_is_contained():
    with _docker_sandbox(pids_limit=64) as sb:
        sb.write_file("/tmp/bomb.py", BOMB)  # ignores SIGINT and refills the pids limit while being killed
        t0 = time.monotonic()
        r = sb.run("python3 /tmp/bomb.py", timeout=2)
        # Either the SIGKILL sweeps win or the container is restarted ("every process was killed"): both contain it.
        assert r.timed_out and time.monotonic() - t0 < 15
        assert subprocess.run(["true"]).returncode == 0  # the host still forks
        assert sb.run("ls /tmp; ps -e -o comm= | grep -c python3").output == "bomb.py\n0\n"  # files kept, bomb gone
