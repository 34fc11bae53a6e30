"""The sandbox seam: everything the agent loop, the SWE environment and the grader need from an execution backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What one command produced. `output` is stdout and stderr interleaved, decoded as UTF-8 with replacement,
    capped at the sandbox's output limit with a visible truncation marker."""

    output: str
    exit_code: int | None  # None when the command timed out or the shell died
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0


class SandboxError(RuntimeError):
    """The sandbox itself failed (container died, engine unreachable): infrastructure, not the agent's fault."""


class Sandbox(Protocol):
    """A stateful shell in an isolated machine. `cwd` and exported variables persist between `run` calls."""

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run a bash command; on timeout kill it and leave the sandbox usable."""
        ...

    def read_file(self, path: str) -> bytes:
        """Read a file (absolute path inside the sandbox). Raises FileNotFoundError."""
        ...

    def write_file(self, path: str, data: bytes | str) -> None:
        """Create or overwrite a file, creating parent directories."""
        ...

    def copy_in(self, local_dir: str, dest: str) -> None:
        """Copy a host directory's contents to `dest` inside the sandbox."""
        ...

    def close(self) -> None:
        """Release everything (idempotent)."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc: object) -> None: ...
