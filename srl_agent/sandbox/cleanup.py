"""Sandboxes are always released: on close, at interpreter exit (atexit), and on SIGTERM/SIGHUP.

Ctrl-C needs nothing here: Python turns it into KeyboardInterrupt, which unwinds `with` blocks and then reaches atexit.
SIGKILL cannot be caught: the owner labels below let `srl-agent env gc` find what a killed run left behind.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

LABEL = "srl-agent.sandbox"
OWNER_LABEL = "srl-agent.owner"  # "<host>:<pid>:<process start time>" (start time guards against pid reuse)

_live: dict[int, Any] = {}
_lock = threading.Lock()
_installed = False
_previous: dict[int, Any] = {}


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "?"  # no procfs (macOS): liveness falls back to the pid alone


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def owner_is_alive(label: str) -> bool | None:
    """True/False for an owner on this host; None when it belongs to another host (cannot tell)."""
    try:
        host, pid_s, start = label.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False  # malformed: nobody can own it
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    return start == "?" or _start_time(pid) in (start, "?")


def register(sandbox: Any) -> None:
    """Track a live sandbox (anything with close()) so it is closed at exit or on SIGTERM/SIGHUP."""
    with _lock:
        _live[id(sandbox)] = sandbox
    _install()


def unregister(sandbox: Any) -> None:
    with _lock:
        _live.pop(id(sandbox), None)


def close_all() -> None:
    with _lock:
        items = list(_live.values())
    for sb in items:
        try:
            sb.close()
        except Exception:
            log.exception("could not close sandbox %r at exit; `srl-agent env gc` will remove it", sb)


def _handler(signum: int, frame: Any) -> None:
    close_all()
    prev = _previous.get(signum)
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        # The default action (terminate): restore it and re-deliver, so the exit status stays "killed by signal".
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(close_all)
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread; atexit still covers normal exits
    for sig in (signal.SIGTERM, signal.SIGHUP):
        prev = signal.getsignal(sig)
        if prev is signal.SIG_IGN or prev is None:
            continue  # the caller chose to ignore it (nohup) or installed it outside Python: leave it alone
        _previous[sig] = prev
        signal.signal(sig, _handler)


def gc(all_: bool = False, client=None) -> tuple[list[str], list[str]]:
    """Remove labelled sandbox containers whose owner process is dead (all of them with all_=True) from `client`'s
    daemon (default: the local one).

    Returns (removed container names, kept container names). Containers owned by other hosts are kept.
    """
    import docker
    from srl_agent.sandbox.docker import docker_client

    removed: list[str] = []
    kept: list[str] = []
    for c in (client or docker_client()).containers.list(all=True, filters={"label": LABEL}):
        owner = c.labels.get(OWNER_LABEL, "")
        if all_ or owner_is_alive(owner) is False:
            try:
                c.remove(force=True)
                removed.append(c.name)
            except docker.errors.NotFound:
                pass  # its owner removed it meanwhile
        else:
            kept.append(c.name)
    return removed, kept
