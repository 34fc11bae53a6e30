"""A second, real dockerd on this machine for the multi-host tests (two independent Docker hosts).

Its own --data-root (a tmpfs), --exec-root, pidfile and unix socket under one temp folder, its own bridge
(`srl-d2br`, created here) and `--iptables=false`, so it leaves the main daemon's networks and firewall alone. Not
`--bridge none`: dockerd then *deletes* the interface `docker0` at start (moby's removeDefaultBridgeInterface), and the
main daemon's bridge-network containers (swebench's official harness) fail with "could not find bridge docker0". Needs root and the dockerd binary (CI runs as root after
.ci/docker-setup.sh). `stop()` removes its containers, stops it, unmounts and deletes the folder; a daemon killed
with SIGKILL (the host-failure test) leaves its containers' shims running: `start()` again makes dockerd reap them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

BRIDGE = "srl-d2br"
BRIDGE_CIDR = "172.31.254.1/24"


@dataclass
class SecondDaemon:
    root: Path
    proc: subprocess.Popen | None = None
    tls_port: int | None = None  # also listen on tcp://127.0.0.1:PORT with mutual TLS (certificates in root/tls)

    @property
    def url(self) -> str:
        return f"unix://{self.root}/sock"

    @property
    def tls_url(self) -> str:
        return f"tcp://127.0.0.1:{self.tls_port}"

    @property
    def client_tls_dir(self) -> Path:
        """ca.pem, cert.pem, key.pem for a client (docker's DOCKER_CERT_PATH layout)."""
        return self.root / "tls" / "client"

    def start(self, timeout: float = 30.0) -> None:
        import docker

        r = self.root
        if not os.path.ismount(r / "data"):
            # Its storage in memory: layers are written and deleted in a blink (a disk shared by busy neighbours took
            # ~30 s to delete 300 MB of layers); overlay2 works on tmpfs. On disk if the mount is refused.
            (r / "data").mkdir(exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g", "srl-d2", str(r / "data")], capture_output=True,
                           check=False)
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            for cmd in (["ip", "link", "add", BRIDGE, "type", "bridge"], ["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE],
                        ["ip", "link", "set", BRIDGE, "up"]):
                subprocess.run(cmd, check=True, capture_output=True)
        argv = ["dockerd", "--data-root", f"{r}/data", "--exec-root", f"{r}/exec", "--pidfile", f"{r}/pid",
                "-H", self.url, "--bridge", BRIDGE, "--iptables=false", "--ip6tables=false"]
        if self.tls_port:
            t = r / "tls"
            argv += ["-H", self.tls_url, "--tlsverify", f"--tlscacert={t}/ca.pem", f"--tlscert={t}/server-cert.pem",
                     f"--tlskey={t}/server-key.pem"]
        with open(r / "dockerd.log", "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                docker.DockerClient(base_url=self.url, timeout=5).ping()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        tail = (r / "dockerd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"second dockerd did not come up in {timeout}s:\n{tail}")

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.url, timeout=60)

    def kill(self) -> None:
        """SIGKILL: the host stops answering at once (its containers keep running until the next start)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                c = self.client()
                for container in c.containers.list(all=True):
                    container.remove(force=True)
            finally:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(60)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        self._kill_leftover_shims()
        for mount in self._mounts():  # the tmpfs data root, container network namespaces left by a SIGKILL
            subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True, check=False)
        assert not self.root.exists(), f"could not remove {self.root}"

    def _mounts(self) -> list[str]:
        """Mount points under the folder, deepest first."""
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f]
        return sorted((p for p in points if p.startswith(f"{self.root}/")), key=len, reverse=True)

    def _kill_leftover_shims(self) -> None:
        """containerd shims of this daemon only (their command line names its exec root)."""
        marker = f"{self.root}/exec/".encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"containerd-shim" in cmdline and marker in cmdline:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass  # exited meanwhile


def _make_certificates(tls: Path) -> None:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate (openssl, ~1 s)."""
    (tls / "client").mkdir(parents=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tls, check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=srl-agent-test-ca", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, cn, ext in (("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                          ("client", "srl-agent-test", "extendedKeyUsage=clientAuth")):
        # Key identifiers: Python's strict X.509 checks (VERIFY_X509_STRICT) refuse a leaf without them.
        (tls / f"{name}.ext").write_text(f"{ext}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        ssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
            "-out", f"{name}-cert.pem", "-days", "2", "-extfile", f"{name}.ext")
    shutil.copy(tls / "ca.pem", tls / "client" / "ca.pem")
    shutil.copy(tls / "client-cert.pem", tls / "client" / "cert.pem")
    shutil.copy(tls / "client-key.pem", tls / "client" / "key.pem")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_second_daemon(tls: bool = False) -> SecondDaemon:
    """Skips (fails in CI) where a second daemon cannot run: not root, or no dockerd binary."""
    why = None
    if os.geteuid() != 0:
        why = "a second dockerd needs root"
    elif shutil.which("dockerd") is None:
        why = "no dockerd binary (apt-get install docker.io)"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the multi-host tests: {why}")
        pytest.skip(why)
    # A short path: unix socket paths are limited to 108 bytes.
    daemon = SecondDaemon(Path(tempfile.mkdtemp(prefix="srl-d2-", dir="/tmp")))
    try:
        if tls:
            if shutil.which("openssl") is None:
                pytest.skip("no openssl binary to make the TLS certificates")
            _make_certificates(daemon.root / "tls")
            daemon.tls_port = _free_port()
        daemon.start()
    except BaseException:
        daemon.stop()
        raise
    return daemon
