"""Sandbox configuration: one frozen dataclass shared by the Docker and the local implementation."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_IMAGE = "srl-agent/base:latest"
_MEM_RE = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox is started and driven. The isolation fields apply to Docker only."""

    image: str = DEFAULT_IMAGE
    """Docker image to run (`srl-agent env build-base` builds the default one)."""
    workdir: str = "/workspace"
    """Initial working directory of the shell (created if missing). LocalSandbox uses a fresh temp dir instead."""
    network_mode: str = "none"
    """Docker network mode; "none" isolates the sandbox from every network. Use "bridge" to allow network access."""
    mem_limit: str = "4g"
    """Memory limit (docker syntax: 512m, 4g). Swap is capped to the same value, so a hog is OOM-killed, not swapped."""
    cpus: float = 2.0
    """CPU quota in cores (docker --cpus)."""
    pids_limit: int = 512
    """Maximum number of processes in the container (contains fork bombs)."""
    cap_add: tuple[str, ...] = ()
    """Capabilities added back after dropping ALL. Empty works for git/python/pytest as root on root-owned files;
    add e.g. ("CHOWN", "DAC_OVERRIDE", "FOWNER") only for images whose files belong to other users."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables (name, value) on top of the defaults (PYTHONDONTWRITEBYTECODE=1, PAGER=cat, ...)."""
    output_limit: int = 100_000
    """Max bytes of output kept per command: the first and last halves are kept around a truncation marker."""
    default_timeout_s: float = 120.0
    """Timeout for `run` when the caller passes none."""
    interrupt_grace_s: float = 1.0
    """After a timeout: how long to wait after SIGINT, and again after SIGKILL, before restarting the shell."""
    start_timeout_s: float = 30.0
    """How long the shell may take to answer after the container starts."""
    labels: tuple[tuple[str, str], ...] = field(default=())
    """Extra Docker labels (name, value); the cleanup labels (srl-agent.sandbox, srl-agent.owner) are always set."""

    def __post_init__(self) -> None:
        if not self.image:
            raise ValueError("SandboxConfig.image is empty: name a Docker image (e.g. srl-agent/base:latest)")
        if not self.workdir.startswith("/"):
            raise ValueError(f"SandboxConfig.workdir must be absolute, got {self.workdir!r}")
        if not _MEM_RE.match(self.mem_limit):
            raise ValueError(f"SandboxConfig.mem_limit={self.mem_limit!r}: use docker syntax like '512m' or '4g'")
        if self.cpus <= 0:
            raise ValueError(f"SandboxConfig.cpus must be > 0 (cores), got {self.cpus}")
        if self.pids_limit < 16:
            raise ValueError(f"SandboxConfig.pids_limit={self.pids_limit} is too small for a shell: use >= 16")
        if self.output_limit < 256:
            raise ValueError(f"SandboxConfig.output_limit={self.output_limit} bytes is too small: use >= 256")
        if self.default_timeout_s <= 0 or self.interrupt_grace_s <= 0 or self.start_timeout_s <= 0:
            raise ValueError("SandboxConfig timeouts (default_timeout_s, interrupt_grace_s, start_timeout_s) must be > 0")
        for name, _ in self.env:
            if not name or "=" in name:
                raise ValueError(f"SandboxConfig.env: invalid variable name {name!r}")

    def environment(self) -> dict[str, str]:
        """The shell's environment: non-interactive defaults plus `env`."""
        base = {
            "PYTHONDONTWRITEBYTECODE": "1",  # stale __pycache__ would make patched tests lie
            "PYTHONUNBUFFERED": "1",
            "PAGER": "cat",
            "GIT_PAGER": "cat",
            "TERM": "dumb",
            "LANG": "C.UTF-8",
            "DEBIAN_FRONTEND": "noninteractive",
        }
        base.update(dict(self.env))
        return base
