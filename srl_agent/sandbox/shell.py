"""The long-lived shell protocol shared by the Docker and the local sandbox.

One bash process reads commands from its stdin and writes stdout+stderr to one stream. Per command we send one line:

    __srl_run $'<command, ANSI-C quoted>' </dev/null; printf '__SRL_<nonce>_%s__\\n' "$?"

- The command travels ANSI-C quoted on a single line, so unbalanced quotes or heredocs in it cannot make bash wait for
  more input and swallow the marker; a syntax error is just exit code 2.
- `__srl_run` evals it in the current shell (a function, not a subshell), so `cd` and `export` persist like a terminal.
  Caveat: a bare `declare`/`local` in the command is function-local.
- stdin is /dev/null, so a command that reads stdin gets EOF instead of eating the protocol.
- The marker carries a fresh random nonce (a command cannot print it by accident) and the exit code. Output before the
  marker is the command's output; anything a background job prints later lands in the next command's output, as in a
  terminal.

Kill semantics on timeout (the shell is the leader of its own process group; plain `cmd &` jobs stay in it but ignore
SIGINT, as in any non-interactive shell):
1. SIGINT to the whole group. The foreground command dies; the shell's trap runs `return 130` inside `__srl_run`,
   which also breaks shell-level loops, and the marker follows.
2. If no marker after a grace period: SIGKILL every process of the group except the shell.
3. Still nothing: the shell is hung (a trapped loop, `exec > file`, ...); kill the group and start a fresh shell. The
   result says so, because cwd and variables are lost. A shell that exits (`exit`, OOM) is restarted the same way.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Protocol

from srl_agent.sandbox.base import CommandResult, SandboxError

# Sent once to a fresh bash. `exec 2>&1` merges stderr into the single stream. The INT trap only returns when it
# fires inside a function (FUNCNAME is set), i.e. while `__srl_run` runs a command. It is set again before every
# command: after a trap `return`s while bash waits for a foreground child, bash 5.2 stops running that trap for
# shell-level loops until it is re-set.
BOOTSTRAP = (
    "exec 2>&1\n"
    "__srl_trap() { trap '[ -n \"${FUNCNAME[0]-}\" ] && return 130' INT; }\n"
    '__srl_run() { __srl_trap; eval "$1"; }\n'
    "printf '__SRL_READY_%s__\\n' \"$$\"\n"
)

# Runs outside the shell (a separate bash) to signal the shell's process group. $1 signal, $2 pgid, $3 pid to spare
# (0 for none). SIGINT goes to the whole group at once with kill(-pgid): bash must see its SIGINT while the foreground
# child dies of the same SIGINT, else it treats the child's death as handled and runs the next command of the list.
# SIGKILL sweeps /proc until no member is left (a fork bomb refills the group while it is being killed) and exits 1
# if members survive 20 sweeps. Only builtins: it must work with the pids limit exhausted or PATH broken.
SIGNAL_GROUP_SCRIPT = r"""
sig=$1 pg=$2 spare=$3
if [ "$sig" = INT ]; then kill -s INT -- "-$pg" 2>/dev/null; exit 0; fi
for pass in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
  found=0
  for f in /proc/[0-9]*/stat; do
    read -r line < "$f" 2>/dev/null || continue
    rest=${line##*) }; set -- $rest; pid=${f#/proc/}; pid=${pid%/stat}
    if [ "$3" = "$pg" ] && [ "$pid" != "$spare" ] && [ "$pid" != "$$" ]; then kill -s "$sig" "$pid" 2>/dev/null; found=1; fi
  done
  [ $found = 0 ] && exit 0
done
exit 1
"""

_READY = re.compile(rb"__SRL_READY_(\d+)__\n")
RESTART_NOTE = "[sandbox: the shell was restarted ({why}); working directory and environment variables were reset]"
RESET_NOTE = (
    "[sandbox: processes could not be stopped, so every process was killed and the shell restarted; files are kept,"
    " working directory and environment variables were reset]"
)


def ansi_c_quote(command: str) -> bytes:
    """Quote a command as bash $'...' on a single line, byte-exact (UTF-8); NUL bytes are not representable in bash."""
    if "\x00" in command:
        raise ValueError("a bash command cannot contain NUL bytes")
    out = bytearray(b"$'")
    for b in command.encode("utf-8", errors="surrogateescape"):
        if b in (0x27, 0x5C):  # ' and \
            out += b"\\" + bytes([b])
        elif 0x20 <= b < 0x7F:
            out.append(b)
        else:
            out += b"\\x%02x" % b
    out += b"'"
    return bytes(out)


class OutputCollector:
    """Streams the shell's bytes: finds the end marker, keeps at most `limit` bytes (head and tail) of the output."""

    def __init__(self, marker_prefix: bytes, limit: int) -> None:
        self.prefix = marker_prefix
        self.head_cap = limit // 2
        self.tail_cap = limit - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.pending = bytearray()  # not yet known to be output (may hold the start of the marker)
        self.exit_code: int | None = None
        self.done = False
        self.leftover = b""

    def feed(self, data: bytes) -> None:
        if self.done:
            self.leftover += data
            return
        self.pending += data
        i = self.pending.find(self.prefix)
        if i < 0:
            keep = len(self.prefix) - 1  # a marker may straddle two reads
            if len(self.pending) > keep:
                self._keep(self.pending[: len(self.pending) - keep])
                del self.pending[: len(self.pending) - keep]
            return
        end = self.pending.find(b"__\n", i + len(self.prefix))
        if end < 0:
            return  # the exit code has not fully arrived
        self._keep(self.pending[:i])
        code = bytes(self.pending[i + len(self.prefix) : end])
        self.exit_code = int(code) if code.isdigit() else None
        self.leftover = bytes(self.pending[end + 3 :])
        self.pending.clear()
        self.done = True

    def _keep(self, chunk: bytes | bytearray) -> None:
        self.total += len(chunk)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    def flush_pending(self) -> None:
        """On timeout or death: whatever is pending is output too."""
        self._keep(self.pending)
        self.pending.clear()

    def text(self) -> tuple[str, bool]:
        tail = self.tail[-self.tail_cap :] if self.tail_cap else b""
        omitted = self.total - len(self.head) - len(tail)
        dec = lambda b: bytes(b).decode("utf-8", errors="replace")  # noqa: E731
        if omitted <= 0:
            return dec(self.head + tail), False
        return f"{dec(self.head)}\n[... {omitted} bytes of output truncated ...]\n{dec(tail)}", True


class Transport(Protocol):
    """A running bash: a duplex byte stream plus out-of-band signalling."""

    pid: int  # the shell's pid (= its process group id), in the sandbox's pid namespace

    def send(self, data: bytes) -> None: ...

    def recv(self, timeout: float) -> bytes | None:
        """Bytes of output; b"" at EOF (shell gone); None when `timeout` passed with nothing."""
        ...

    def signal_group(self, sig: str, spare_shell: bool) -> bool:
        """Send `sig` (INT, KILL) to the shell's process group, sparing the shell itself if asked. False when the
        signalling failed or (KILL) members survived."""
        ...

    def close(self) -> None: ...


class ShellSession:
    """Drives a Transport with the marker protocol. `start()` returns a new Transport (a fresh shell); `hard_reset()`
    (optional) kills every process of the sandbox when signals cannot (Docker: restart the container)."""

    def __init__(self, start, output_limit: int, grace_s: float, start_timeout_s: float, hard_reset=None) -> None:
        self._start = start
        self._hard_reset = hard_reset
        self.output_limit = output_limit
        self.grace_s = grace_s
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self._busy = False  # a command was sent and its marker not yet read (the caller was interrupted)
        self.transport: Transport = self._spawn()

    def _spawn(self) -> Transport:
        t: Transport = self._start()
        t.send(BOOTSTRAP.encode())
        buf = bytearray()
        deadline = time.monotonic() + self.start_timeout_s
        while not (m := _READY.search(buf)):
            left = deadline - time.monotonic()
            data = t.recv(left) if left > 0 else None
            if not data:
                t.close()
                why = "exited" if data == b"" else f"did not answer within {self.start_timeout_s}s"
                raise SandboxError(f"sandbox shell {why} at start; output: {bytes(buf[-500:])!r}")
            buf += data
        t.pid = int(m.group(1))
        return t

    def restart(self, why: str) -> str:
        """Kill the current shell's group and start a new shell; returns the note for the caller's output."""
        self.restarts += 1
        old = self.transport
        try:
            clean = old.signal_group("KILL", spare_shell=False)
        finally:
            old.close()
        if not clean and self._hard_reset:
            self._hard_reset()
        self.transport = self._spawn()
        return RESTART_NOTE.format(why=why)

    def reset(self) -> str:
        """Kill every process of the sandbox (hard_reset) and start a new shell; falls back to restart()."""
        if not self._hard_reset:
            return self.restart("its processes could not be stopped")
        self.restarts += 1
        self.transport.close()
        self._hard_reset()
        self.transport = self._spawn()
        return RESET_NOTE

    def run(self, command: str, timeout: float) -> CommandResult:
        t0 = time.monotonic()
        nonce = secrets.token_hex(8)
        line = b"__srl_run " + ansi_c_quote(command)
        line += b" </dev/null; printf '__SRL_%s_%%s__\\n' \"$?\"\n" % nonce.encode()
        col = OutputCollector(b"__SRL_" + nonce.encode() + b"_", self.output_limit)
        if self._busy:  # e.g. KeyboardInterrupt mid-command: its process and output would leak into this one
            col.feed(self.restart("the previous command was abandoned").encode() + b"\n")
        self._busy = True
        try:
            self.transport.send(line)
        except OSError:
            note = self.restart("it was gone before the command was sent")
            self.transport.send(line)
            col.feed(note.encode() + b"\n")
        status = self._collect(col, t0 + timeout)
        notes: list[str] = []
        timed_out = status == "timeout"
        if timed_out:
            notes.append(f"[command timed out after {timeout:g}s and was interrupted]")
            self.transport.signal_group("INT", spare_shell=False)
            status = self._collect(col, time.monotonic() + self.grace_s)
            if status == "timeout":
                if self.transport.signal_group("KILL", spare_shell=True):
                    status = self._collect(col, time.monotonic() + self.grace_s)
                    status = "hung" if status == "timeout" else status
                else:  # members survive SIGKILL sweeps (fork bomb) or no process can be spawned to send it
                    col.flush_pending()
                    notes.append(self.reset())
                    status = "reset"
        if status in ("eof", "hung"):
            col.flush_pending()
            why = "it exited" if status == "eof" else "it did not respond to SIGINT/SIGKILL"
            notes.append(self.restart(why))
        self._busy = False
        out, truncated = col.text()
        if notes:
            out = (out + ("\n" if out and not out.endswith("\n") else "") + "\n".join(notes)).lstrip("\n")
        return CommandResult(
            output=out,
            exit_code=col.exit_code if status == "done" and not timed_out else None,
            timed_out=timed_out,
            truncated=truncated,
            duration_s=time.monotonic() - t0,
        )

    def _collect(self, col: OutputCollector, deadline: float) -> str:
        while not col.done:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            data = self.transport.recv(left)
            if data == b"":
                return "eof"
            if data:
                col.feed(data)
        return "done"

    def close(self) -> None:
        self.transport.close()
