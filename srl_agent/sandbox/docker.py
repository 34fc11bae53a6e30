"""DockerSandbox: a long-lived bash inside an isolated container, driven over one `docker exec` stdin/stdout socket.

A command costs one write and a few reads on that socket (~1-3 ms) instead of a `docker exec` per command (~80 ms).
The container's main process is `sleep infinity` under Docker's init (reaps orphans), so the shell can be restarted
without losing the container's files. Isolation: see SandboxConfig (no network, memory/CPU/pids limits, all
capabilities dropped, no-new-privileges).
"""

from __future__ import annotations

import io
import os
import select
import shlex
import struct
import tarfile
import tempfile
import threading
import time

from srl_agent.sandbox import cleanup
from srl_agent.sandbox.base import CommandResult, SandboxError
from srl_agent.sandbox.client import docker_client
from srl_agent.sandbox.config import SandboxConfig
from srl_agent.sandbox.shell import SIGNAL_GROUP_SCRIPT, ShellSession


class _ExecTransport:
    """bash via `docker exec -i` without a tty: the stream is docker's multiplexed framing (8-byte headers)."""

    def __init__(self, api, container_id: str) -> None:
        self.api, self.container_id = api, container_id
        self.exec_id = api.exec_create(container_id, ["bash", "--noprofile", "--norc"], stdin=True)["Id"]
        sock = api.exec_start(self.exec_id, socket=True)
        self._io = sock
        self._sock = getattr(sock, "_sock", sock)
        self._frame = bytearray()
        self.pid = 0

    def send(self, data: bytes) -> None:
        self._sock.sendall(data)

    def recv(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while True:
            payload = self._deframe()
            if payload:
                return payload
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._sock], [], [], left)[0]:
                return None
            data = self._sock.recv(262144)
            if not data:
                return b""
            self._frame += data

    def _deframe(self) -> bytes:
        out = bytearray()
        while len(self._frame) >= 8:
            size = struct.unpack(">I", self._frame[4:8])[0]
            if len(self._frame) < 8 + size:
                break
            out += self._frame[8 : 8 + size]
            del self._frame[: 8 + size]
        return bytes(out)

    def signal_group(self, sig: str, spare_shell: bool) -> bool:
        import docker

        if not self.pid:
            return True
        argv = ["bash", "-c", SIGNAL_GROUP_SCRIPT, "_", sig, str(self.pid), str(self.pid if spare_shell else 0), "1"]
        try:
            eid = self.api.exec_create(self.container_id, argv)["Id"]
            self.api.exec_start(eid)
            return self.api.exec_inspect(eid).get("ExitCode") == 0
        except docker.errors.APIError:
            return False  # e.g. the pids limit is exhausted and no process can be spawned: the caller resets

    def close(self) -> None:
        for f in (self._sock, self._io):
            try:
                f.close()
            except OSError:
                pass  # already closed by the peer


class DockerSandbox:
    """`Sandbox` in a fresh container of `config.image`; removed on close, exit, SIGTERM (and by `env gc`).
    `client`: the daemon to run on (a pool host, srl_agent.sandbox.pool); default: the local one."""

    def __init__(self, config: SandboxConfig | None = None, client=None) -> None:
        import docker

        self.config = c = config or SandboxConfig()
        self._client = client or docker_client()
        self._lock = threading.Lock()
        self._closed = False
        self.container = None
        labels = {**dict(c.labels), cleanup.LABEL: "1", cleanup.OWNER_LABEL: cleanup.owner_label()}
        try:
            with cleanup.opening(self._client):  # a SIGTERM handler waits for this container, removes it
                self.container = self._client.containers.run(
                    c.image,
                    ["sleep", "infinity"],
                    detach=True,
                    init=True,
                    labels=labels,
                    environment=c.environment(),
                    working_dir=c.workdir,
                    network_mode=c.network_mode,
                    mem_limit=c.mem_limit,
                    memswap_limit=c.mem_limit,
                    nano_cpus=int(c.cpus * 1e9),
                    pids_limit=c.pids_limit,
                    cap_drop=["ALL"],
                    cap_add=list(c.cap_add) or None,
                    security_opt=["no-new-privileges"],
                    privileged=False,
                    hostname="sandbox",
                )
                cleanup.register(self)
            self._session = ShellSession(
                lambda: _ExecTransport(self._client.api, self.container.id),
                c.output_limit,
                c.interrupt_grace_s,
                c.start_timeout_s,
                hard_reset=self._restart_container,
                reap_all=True,  # a container: every process a command leaves behind is killed (shell.py)
            )
        except docker.errors.ImageNotFound:
            self.close()
            raise SandboxError(f"image {c.image!r} not found: build it (`srl-agent env build-base`) or pull it") from None
        except BaseException:
            self.close()
            raise

    @property
    def id(self) -> str:
        return self.container.id

    @property
    def restarts(self) -> int:
        """How many times the shell (or, after a fork bomb, the container) was restarted."""
        return self._session.restarts

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        import docker

        with self._lock:
            if self._closed:
                raise SandboxError("sandbox is closed")
            try:
                return self._session.run(command, timeout or self.config.default_timeout_s)
            except (docker.errors.APIError, SandboxError, OSError) as e:
                # The shell could not be (re)started: try once more in a restarted container before giving up.
                try:
                    note = self._session.reset()
                except Exception as e2:
                    raise SandboxError(f"sandbox {self.container.short_id} is dead: {e}; restart failed: {e2}") from e
                return CommandResult(output=f"{note} ({e})", exit_code=None)

    def _restart_container(self) -> None:
        """Kill every process (the pid namespace dies with init) and start again; the container's files survive."""
        import docker

        try:
            self.container.restart(timeout=0)
        except docker.errors.NotFound:
            raise SandboxError(f"sandbox container {self.container.short_id} was removed") from None

    def _sh(self, command: str) -> CommandResult:
        return self.run(command, timeout=30)

    def read_file(self, path: str) -> bytes:
        import docker

        for _ in range(8):  # follow symlinks: get_archive returns the link itself
            try:
                stream, _stat = self.container.get_archive(path)
            except docker.errors.NotFound:
                raise FileNotFoundError(path) from None
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                if member is None:
                    raise FileNotFoundError(path)
                if member.isdir():
                    raise IsADirectoryError(path)
                if member.issym():
                    path = os.path.normpath(os.path.join(os.path.dirname(path), member.linkname))
                    continue
                f = tar.extractfile(member)
                if f is None:
                    raise OSError(f"{path} is not a regular file")
                return f.read()
        raise OSError(f"too many levels of symbolic links: {path}")

    def write_file(self, path: str, data: bytes | str) -> None:
        if not path.startswith("/"):
            raise ValueError(f"write_file needs an absolute path, got {path!r}")
        raw = data.encode() if isinstance(data, str) else data
        # Keep the mode of an existing file (tar extraction would reset it to the header's).
        r = self._sh(f"stat -c %a -- {shlex.quote(path)} 2>/dev/null")
        mode = int(r.output.strip(), 8) if r.exit_code == 0 and r.output.strip().isdigit() else 0o644
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(raw), mode, int(time.time())
            tar.addfile(info, io.BytesIO(raw))
        if not self.container.put_archive("/", buf.getvalue()):
            raise SandboxError(f"could not write {path}")

    def copy_in(self, local_dir: str, dest: str) -> None:
        if not dest.startswith("/"):
            raise ValueError(f"copy_in needs an absolute destination, got {dest!r}")
        with tempfile.TemporaryFile() as f:
            with tarfile.open(fileobj=f, mode="w") as tar:
                tar.add(local_dir, arcname=dest.strip("/") or ".")
            f.seek(0)
            if not self.container.put_archive("/", f):
                raise SandboxError(f"could not copy {local_dir} to {dest}")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cleanup.unregister(self)
        session = getattr(self, "_session", None)
        if session is not None:
            session.close()
        if self.container is not None:
            import docker

            try:
                self.container.remove(force=True)
            except docker.errors.NotFound:
                pass  # already gone (gc or a concurrent close)

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
