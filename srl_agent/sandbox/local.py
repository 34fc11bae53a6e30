"""LocalSandbox: the sandbox interface over a bash process on this machine.

UNSAFE: commands run as the current user with full access to the host (files, network, processes). It exists for
development machines without Docker and for fast unit tests; it is never the default. It starts in a fresh temp dir
(removed on close), but absolute paths are the host's own.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path

from srl_agent.sandbox import cleanup
from srl_agent.sandbox.base import CommandResult, SandboxError
from srl_agent.sandbox.config import SandboxConfig
from srl_agent.sandbox.shell import SIGNAL_GROUP_SCRIPT, ShellSession


def _default_sigint_prefix() -> list[str]:
    probe = subprocess.run(["env", "--default-signal=INT", "true"], capture_output=True, check=False)
    return ["env", "--default-signal=INT"] if probe.returncode == 0 else []


_DEFAULT_SIGINT: list[str] = []


class _ProcessTransport:
    def __init__(self, cwd: str, env: dict[str, str]) -> None:
        # Own session: the shell leads its process group, so group signals never reach the caller. A shell that
        # starts with SIGINT ignored (we were started in the background) cannot trap it: reset it to the default.
        self.proc = subprocess.Popen(
            [*_DEFAULT_SIGINT, "bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self._fd = self.proc.stdout.fileno()

    def send(self, data: bytes) -> None:
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._fd], [], [], max(timeout, 0))
        return os.read(self._fd, 65536) if ready else None

    def signal_group(self, sig: str, spare_shell: bool) -> bool:
        argv = ["bash", "-c", SIGNAL_GROUP_SCRIPT, "_", sig, str(self.pid), str(self.pid if spare_shell else 0)]
        return subprocess.run(argv, check=False, timeout=30).returncode == 0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.signal_group("KILL", spare_shell=False)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass  # a broken pipe on close means the shell is already gone
        self.proc.wait(timeout=10)


class LocalSandbox:
    """UNSAFE local implementation of `Sandbox` (see the module docstring)."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        global _DEFAULT_SIGINT
        if not _DEFAULT_SIGINT:
            _DEFAULT_SIGINT = _default_sigint_prefix() or ["env"]
        self.config = config or SandboxConfig()
        self.root = tempfile.mkdtemp(prefix="srl-local-sandbox-")
        env = {**os.environ, **self.config.environment(), "HOME": self.root}
        self._closed = False
        try:
            self._session = ShellSession(
                lambda: _ProcessTransport(self.root, env),
                self.config.output_limit,
                self.config.interrupt_grace_s,
                self.config.start_timeout_s,
            )
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        cleanup.register(self)

    @property
    def restarts(self) -> int:
        """How many times the shell was restarted (each restart lost cwd and variables)."""
        return self._session.restarts

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        if self._closed:
            raise SandboxError("sandbox is closed")
        return self._session.run(command, timeout or self.config.default_timeout_s)

    def _path(self, path: str) -> Path:
        return Path(path) if os.path.isabs(path) else Path(self.root, path)

    def read_file(self, path: str) -> bytes:
        return self._path(path).read_bytes()

    def write_file(self, path: str, data: bytes | str) -> None:
        p = self._path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)

    def copy_in(self, local_dir: str, dest: str) -> None:
        shutil.copytree(local_dir, self._path(dest), symlinks=True, dirs_exist_ok=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cleanup.unregister(self)
        try:
            self._session.close()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
