"""Sandboxes are always released: on close, at interpreter exit (atexit), and on SIGTERM/SIGHUP.

Signal handlers can only be set from the main thread, and sandboxes are usually opened in worker threads (eval's
episodes), so every command that opens sandboxes calls `install_signal_handlers()` first, from the main thread.
On SIGTERM/SIGHUP the handler stops new sandboxes, waits for those being created in other threads, closes every live
one, removes any container of this process that was created but not yet tracked, and then dies of the same signal
(exit status 143 for SIGTERM), so callers see "killed by signal" as usual.

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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from srl_agent.sandbox.base import SandboxError

log = logging.getLogger(__name__)

LABEL = "srl-agent.sandbox"
OWNER_LABEL = "srl-agent.owner"  # "<host>:<pid>:<process start time>" (start time guards against pid reuse)

_live: dict[int, Any] = {}
_lock = threading.RLock()  # re-entrant: the signal handler may interrupt the main thread inside register()
_opening = threading.Condition(_lock)
_opening_threads: dict[int, int] = {}  # thread id -> sandboxes it is creating right now
_clients: dict[int, Any] = {}  # the Docker daemons this process created sandboxes on (a pool may have several)
_atexit_installed = False
_signals_installed = False
_stopping = False
_previous: dict[int, Any] = {}
OPENING_WAIT_S = 15.0  # on SIGTERM: how long to wait for sandboxes being created in other threads


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


@contextmanager
def opening(client: Any = None) -> Iterator[None]:
    """Wrap the creation of a sandbox's container on `client`'s daemon, so a SIGTERM handler can wait for it and then
    remove it."""
    me = threading.get_ident()
    with _lock:
        if _stopping:
            raise SandboxError("the process is stopping on a signal: no new sandbox")
        if client is not None:
            _clients[id(client)] = client
        _opening_threads[me] = _opening_threads.get(me, 0) + 1
    try:
        yield
    finally:
        with _opening:
            _opening_threads[me] -= 1
            if not _opening_threads[me]:
                del _opening_threads[me]
            _opening.notify_all()


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


def _remove_own_containers() -> None:
    """Containers labelled with this process as owner that no sandbox tracks (created, then the signal came), on
    every daemon this process created sandboxes on."""
    with _lock:
        clients = list(_clients.values())
    for client in clients:
        try:
            for c in client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner_label()}"}):
                c.remove(force=True)
        except Exception as e:  # the engine went away: gc is the fallback
            log.warning("could not sweep this process's sandbox containers (%s); `srl-agent env gc` removes them", e)


def _handler(signum: int, frame: Any) -> None:
    global _stopping
    with _lock:
        _stopping = True  # opening() refuses new sandboxes from here on
    me = threading.get_ident()
    deadline = time.monotonic() + OPENING_WAIT_S
    with _opening:  # containers being created in other threads: wait until they are tracked, then close them too
        while any(t != me for t in _opening_threads) and time.monotonic() < deadline:
            _opening.wait(0.1)
    close_all()
    _remove_own_containers()
    prev = _previous.get(signum)
    if callable(prev):
        prev(signum, frame)
    elif prev != signal.SIG_IGN:
        # The default action (terminate): restore it and re-deliver, so the exit status stays "killed by signal".
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install() -> None:
    """atexit always; the signal handlers too when called from the main thread (library use without a command)."""
    global _atexit_installed
    with _lock:
        if not _atexit_installed:
            _atexit_installed = True
            atexit.register(close_all)
    if threading.current_thread() is threading.main_thread():
        install_signal_handlers()


def install_signal_handlers() -> None:
    """Close every sandbox on SIGTERM/SIGHUP. Call it from the main thread at the start of each command that opens
    sandboxes (eval, train --method rlvr, record, env shell): sandboxes opened in worker threads cannot install it."""
    global _signals_installed, _atexit_installed
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("install_signal_handlers() must be called from the main thread (at the command's start)")
    with _lock:
        if _signals_installed:
            return
        _signals_installed = True
        if not _atexit_installed:
            _atexit_installed = True
            atexit.register(close_all)
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
    from srl_agent.sandbox.client import docker_client

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
