"""Placement of sandboxes on a pool of Docker hosts (srl_agent.sandbox.hosts), and what happens when a host dies.

Placement: every sandbox start takes one slot on the live host with the most free slots (the first listed on a tie)
and gives it back on close; when every live host is full, the start waits. A host's capacity defaults to its CPU
count (about one core per task while tests run). Without `--docker-hosts` nothing here is used: sandboxes run on the
default daemon, as before.

Host failures: when a sandbox operation fails and its host no longer answers a ping, the host leaves the pool for the
rest of the run and the operation raises SandboxError naming the host; the episode records it as an infrastructure
error (the eval retries it elsewhere when --retries allows; RLVR masks it). A start that fails on a dead host is
placed again on another host. Containers carry the owner label on every host: `env gc --docker-hosts` finds them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from srl_agent.errors import UserError
from srl_agent.sandbox.base import CommandResult, SandboxError
from srl_agent.sandbox.config import SandboxConfig
from srl_agent.sandbox.hosts import DockerHost, connect

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0  # a host that does not answer a ping within this is down


class HostState(Enum):
    LIVE = "live"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class HostReport:
    """One host at the end of a run (report.json's `run.hosts`)."""

    url: str
    capacity: int
    state: HostState
    sandboxes: int  # sandboxes started there
    down_reason: str | None = None
    labels: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "capacity": self.capacity, "state": self.state.value, "sandboxes": self.sandboxes,
                "down_reason": self.down_reason, "labels": dict(self.labels)}


class HostPool:
    """Live hosts, their free slots and their history. Thread-safe; one per run."""

    def __init__(self, hosts: tuple[DockerHost, ...], clients: dict[str, Any], capacities: dict[str, int]):
        self.hosts = hosts
        self._clients = clients
        self._probes: dict[str, Any] = {}
        self.capacity = capacities
        self._busy = dict.fromkeys(capacities, 0)
        self._started = dict.fromkeys(capacities, 0)
        self._down: dict[str, str] = {}
        self._cond = threading.Condition()
        self._local = threading.local()

    @classmethod
    def connect(cls, hosts: tuple[DockerHost, ...]) -> HostPool:
        """Ping every host; an unreachable one at the start is the user's to fix (UserError listing them all)."""
        clients, capacities, bad = {}, {}, []
        for host in hosts:
            try:
                client = connect(host)
                info = client.info()
            except Exception as e:  # noqa: BLE001 - docker raises DockerException, requests or ssh errors alike
                bad.append(f"{host.url} ({type(e).__name__}: {str(e)[:160]})")
                continue
            clients[host.url] = client
            capacities[host.url] = host.capacity or max(1, int(info.get("NCPU") or 1))
        if bad:
            raise UserError(f"--docker-hosts: {len(bad)} of {len(hosts)} host(s) do not answer: {'; '.join(bad)}. "
                            "Check the URL and that dockerd runs there (ssh: `ssh HOST docker info` must work)")
        return cls(hosts, clients, capacities)

    def client(self, url: str) -> Any:
        return self._clients[url]

    def live(self) -> list[str]:
        with self._cond:
            return [h.url for h in self.hosts if h.url not in self._down]

    def total_capacity(self) -> int:
        return sum(self.capacity[u] for u in self.live())

    def acquire(self) -> str:
        """A slot on the live host with the most free slots; waits while all are full."""
        with self._cond:
            while True:
                live = [h.url for h in self.hosts if h.url not in self._down]
                if not live:
                    raise SandboxError(f"no Docker host left in the pool ({self._down_text()})")
                url = max(live, key=lambda u: self.capacity[u] - self._busy[u])  # max keeps the first on a tie
                if self._busy[url] < self.capacity[url]:
                    self._busy[url] += 1
                    return url
                self._cond.wait()

    def release(self, url: str) -> None:
        with self._cond:
            self._busy[url] -= 1
            self._cond.notify()

    def answers(self, url: str) -> bool:
        """Does the host answer a ping within PROBE_TIMEOUT_S? (A separate short-timeout client.)"""
        try:
            if url not in self._probes:
                host = next(h for h in self.hosts if h.url == url)
                self._probes[url] = connect(host, timeout=PROBE_TIMEOUT_S)
            return bool(self._probes[url].ping())
        except Exception:  # noqa: BLE001 - any failure to answer means down; the caller reports it
            return False

    def mark_down(self, url: str, reason: str) -> None:
        with self._cond:
            if url in self._down:
                return
            self._down[url] = reason
            self._cond.notify_all()  # waiters re-check: another host, or none left
        log.warning("Docker host %s stopped answering (%s): taken out of the pool", url, reason)

    def is_down(self, url: str) -> bool:
        with self._cond:
            return url in self._down

    def _down_text(self) -> str:
        return "; ".join(f"{u} down: {r}" for u, r in self._down.items())

    def start(self, config: SandboxConfig) -> PlacedSandbox:
        """A DockerSandbox on a host with a free slot; a start that fails because its host died is placed again."""
        from srl_agent.sandbox.docker import DockerSandbox

        while True:
            url = self.acquire()
            host = next(h for h in self.hosts if h.url == url)
            try:
                sandbox = DockerSandbox(replace(config, labels=(*config.labels, *host.labels)), client=self._clients[url])
            except BaseException as e:
                self.release(url)
                if isinstance(e, Exception) and not self.answers(url):
                    self.mark_down(url, f"{type(e).__name__}: {str(e)[:200]}")
                    continue
                raise
            with self._cond:
                self._started[url] += 1
            placed = getattr(self._local, "placed", None)
            if placed is not None:
                placed.append(url)
            return PlacedSandbox(self, url, sandbox)

    @contextmanager
    def placements(self) -> Iterator[list[str]]:
        """The hosts of the sandboxes this thread starts inside the block, in order (an episode's placements)."""
        self._local.placed = placed = []
        try:
            yield placed
        finally:
            self._local.placed = None

    def report(self) -> tuple[HostReport, ...]:
        with self._cond:
            return tuple(HostReport(h.url, self.capacity[h.url], HostState.DOWN if h.url in self._down else HostState.LIVE,
                                    self._started[h.url], self._down.get(h.url), h.labels) for h in self.hosts)


_NORMAL = (FileNotFoundError, IsADirectoryError, NotADirectoryError, ValueError)  # the caller's mistake, not the host's


class PlacedSandbox:
    """A DockerSandbox on a pool host (the `Sandbox` protocol): gives its slot back on close. An operation that fails
    while the host does not answer takes the host out of the pool and raises SandboxError naming it."""

    def __init__(self, pool: HostPool, url: str, sandbox: Any):
        self.pool, self.host, self.sandbox = pool, url, sandbox
        self._released = False

    @property
    def id(self) -> str:
        return self.sandbox.id

    @property
    def restarts(self) -> int:
        return self.sandbox.restarts

    def _guard(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except _NORMAL:
            raise
        except Exception as e:
            if self.pool.is_down(self.host) or not self.pool.answers(self.host):
                self.pool.mark_down(self.host, f"{type(e).__name__}: {str(e)[:200]}")
                raise SandboxError(f"Docker host {self.host} stopped answering ({type(e).__name__}); it was taken "
                                   "out of the pool") from e
            raise

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        result = self._guard(self.sandbox.run, command, timeout)
        if result.exit_code is None and not result.timed_out and not self.pool.answers(self.host):
            # The shell died and could not come back because the daemon is gone (the restart note is the output).
            self.pool.mark_down(self.host, "the sandbox's shell died and the daemon does not answer")
            raise SandboxError(f"Docker host {self.host} stopped answering; it was taken out of the pool")
        return result

    def read_file(self, path: str) -> bytes:
        return self._guard(self.sandbox.read_file, path)

    def write_file(self, path: str, data: bytes | str) -> None:
        self._guard(self.sandbox.write_file, path, data)

    def copy_in(self, local_dir: str, dest: str) -> None:
        self._guard(self.sandbox.copy_in, local_dir, dest)

    def close(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            self.sandbox.close()
        except Exception as e:
            if self.pool.answers(self.host):
                raise
            self.pool.mark_down(self.host, f"{type(e).__name__}: {str(e)[:200]}")
            log.warning("sandbox %s on %s could not be removed (the host does not answer); `srl-agent env gc "
                        "--docker-hosts %s` removes it once the host is back", self.sandbox.id[:12], self.host, self.host)
        finally:
            self.pool.release(self.host)

    def __enter__(self) -> PlacedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_sandbox(config: SandboxConfig, pool: HostPool | None) -> Any:
    """A sandbox on a pool host, or on the default daemon without a pool."""
    if pool is not None:
        return pool.start(config)
    from srl_agent.sandbox.docker import DockerSandbox

    return DockerSandbox(config)


def describe(reports: tuple[HostReport, ...], retried_ids: list[str]) -> str:
    """The host table printed after a run."""
    lines = [f"hosts: {h.url}  capacity {h.capacity}  sandboxes {h.sandboxes}  {h.state.value}"
             + (f" ({h.down_reason})" if h.down_reason else "") for h in reports]
    if retried_ids:
        lines.append(f"retried on another host after a host failure: {', '.join(retried_ids)}")
    return "\n".join(lines)
