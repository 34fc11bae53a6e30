"""The long-lived shell protocol shared by the Docker and the local sandbox.

One bash process reads commands from its stdin and writes stdout+stderr to one stream. Per command we send one line:

    __srl_run $'<command, ANSI-C quoted>' </dev/null; printf '__SRL_<nonce>_%s__\\n' "$?"

- The command travels ANSI-C quoted on a single line, so unbalanced quotes or heredocs in it cannot make bash wait for
  more input and swallow the marker; a syntax error is just exit code 2.
- `__srl_run` evals it in the current shell (a function, not a subshell), so `cd` and `export` persist like a terminal.
  Caveat: a bare `declare`/`local` in the command is function-local.
- stdin is /dev/null, so a command that reads stdin gets EOF instead of eating the protocol.
- The marker carries a fresh random nonce (a command cannot print it by accident), the exit code and how many
  background processes were killed. Output before the marker is the command's output.

Background processes do not outlive their command (docs/reliability.md). `cmd &` returns at once, so no timeout
would ever stop it: a fork bomb `:(){ :|:& };:` "succeeds" in 0 s and then holds every pid and CPU of the sandbox.
So after each command, before its marker, the shell itself freezes (SIGSTOP, so nothing can fork while it is being
killed) and then kills every process the command left behind: its process group and, in a container, every process
that is not the container's own (init and its `sleep`, session 1) or another `docker exec` root. It uses builtins only,
so it works with the pids limit exhausted. The output then says how many were killed; if some could not be stopped,
every process is killed by restarting the container (files kept), and the output says so.

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
from srl_agent.sandbox.stream import OutputCollector, ansi_c_quote

# Freeze-then-kill sweep over /proc (bash builtins only: it must work with the pids limit exhausted or PATH broken).
# $1 pgid (the shell's pid: its group and its children), $2 pid to spare (0: none), $3 1 = also every process of the sandbox that is not the container's own
# (session 1: init and its sleep) nor a `docker exec` root (parent pid 0). Sets __srl_n to the number of processes
# killed, or -1 (returns 1) when some survive. Stopped processes cannot fork, so a fork bomb cannot refill what is
# being killed: the freeze passes end when no candidate is running, and a single kill pass then takes them all.
# In a container the freeze starts with kill(-1) *before* any scan: a scan reads a glob of /proc taken earlier, and a
# fork bomb's processes live only for a fork or two, so on a loaded machine every process of the glob can have
# exited (its children, born after the glob, running on) before the scan reads it; that scan found nothing and the
# bomb was left running. After kill(-1, SIGSTOP) returns no fork can complete into a running child (the kernel
# restarts a racing fork, or the child gets the signal too), so the glob that follows sees every process.
SWEEP_FN = r"""
__srl_each() {  # $1 STOP|KILL|CONT on the candidates (CONT: on the others); $2 pgid (= the shell's pid), $3 spare, $4 all
  local f line pid
  __srl_found=0 __srl_running=0
  for f in /proc/[0-9]*/stat; do
    builtin read -r line 2>/dev/null < "$f" || continue
    pid=${f#/proc/}; pid=${pid%/stat}
    [[ $pid == "$$" ]] && continue
    builtin set -- "$1" "$2" "$3" "$4" ${line##*) }  # $5 state, $6 ppid, $7 pgrp, $8 session
    if [[ $pid != "$3" && ( $7 == "$2" || $6 == "$2" || ( $4 == 1 && $pid != 1 && $8 != 1 && $6 != 0 ) ) ]]; then
      [[ $1 == CONT || $5 == [ZX] ]] && continue
      __srl_found=$((__srl_found + 1))
      if [[ $1 == STOP ]]; then
        [[ $5 == [Tt] ]] || { builtin kill -s STOP "$pid" 2>/dev/null; __srl_running=1; }
      else
        builtin kill -s KILL "$pid" 2>/dev/null; builtin kill -s CONT "$pid" 2>/dev/null
      fi
    elif [[ $1 == CONT && $pid != 1 ]]; then  # not only those shown T: SIGCONT also cancels a stop still pending
      builtin kill -s CONT "$pid" 2>/dev/null
    fi
  done
}
__srl_left() {  # cheap check after a command (the full scan reads every /proc/PID/stat: ~0.2 ms each)
  local kids
  if [[ $__srl_all == 1 ]]; then  # a container: anything beyond init, its sleep and this shell?
    kids=(/proc/[0-9]*); (( ${#kids[@]} > 3 ))
  elif [[ -r /proc/$$/task/$$/children ]]; then  # the local sandbox: does the shell have children?
    builtin read -r kids 2>/dev/null < /proc/$$/task/$$/children; [[ -n $kids ]]
  fi
}
__srl_sweep() {
  local pass
  __srl_n=0
  # In a container: freeze every process at once, first (kill(-1) reaches all but us and init); what is not a
  # candidate is woken again below.
  [[ $3 == 1 ]] && builtin kill -s STOP -1 2>/dev/null
  for pass in {1..60}; do
    __srl_each STOP "$@"
    [[ $__srl_found == 0 && $3 != 1 ]] && return 0  # locally: nothing was left behind (nothing was frozen either)
    [[ $__srl_running == 0 ]] && break
  done
  for pass in {1..10}; do
    __srl_each KILL "$@"
    [[ $pass == 1 ]] && __srl_n=$__srl_found
    [[ $__srl_found == 0 ]] && break
  done
  [[ $3 == 1 ]] && __srl_each CONT "$@"
  [[ $__srl_found == 0 ]] && return 0
  __srl_n=-1
  return 1
}
"""

# Sent once to a fresh bash (after `__srl_all=0|1`). `exec 2>&1` merges stderr into the single stream. The INT trap
# only returns when it fires inside a function (FUNCNAME is set), i.e. while `__srl_run` runs a command. It is set
# again before every command: after a trap `return`s while bash waits for a foreground child, bash 5.2 stops running
# that trap for shell-level loops until it is re-set. `__srl_end` sweeps what the command left behind and prints the
# marker.
BOOTSTRAP = (
    "exec 2>&1\n"
    "__srl_trap() { trap '[ -n \"${FUNCNAME[0]-}\" ] && return 130' INT; }\n"
    '__srl_run() { __srl_trap; eval "$1"; }\n'
    + SWEEP_FN
    + "__srl_end() { local rc=$1; builtin disown -a; __srl_n=0; __srl_left && __srl_sweep $$ $$ $__srl_all;"
    " builtin printf '__SRL_%s_%s_%s__\\n' \"$2\" \"$rc\" \"$__srl_n\"; }\n"
    "printf '__SRL_READY_%s__\\n' \"$$\"\n"
)

# Runs outside the shell (a separate bash) to signal the shell's process group. $1 signal, $2 pgid, $3 pid to spare
# (0 for none), $4 1 = every process of the sandbox (see SWEEP_FN). SIGINT goes to the whole group at once with
# kill(-pgid): bash must see its SIGINT while the foreground child dies of the same SIGINT, else it treats the
# child's death as handled and runs the next command of the list. KILL freezes and kills (SWEEP_FN) and exits 1 if
# members survive.
SIGNAL_GROUP_SCRIPT = SWEEP_FN + r"""
sig=$1 pg=$2 spare=$3 all=${4:-0}
if [ "$sig" = INT ]; then kill -s INT -- "-$pg" 2>/dev/null; exit 0; fi
__srl_sweep "$pg" "$spare" "$all"
"""

_READY = re.compile(rb"__SRL_READY_(\d+)__\n")
RESTART_NOTE = "[sandbox: the shell was restarted ({why}); working directory and environment variables were reset]"
REAPED_NOTE = ("[sandbox: {n} background process(es) this command left running were killed: processes do not outlive"
               " their command]")
RESET_NOTE = (
    "[sandbox: processes could not be stopped, so every process was killed and the shell restarted; files are kept,"
    " working directory and environment variables were reset]"
)


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

    def __init__(self, start, output_limit: int, grace_s: float, start_timeout_s: float, hard_reset=None,
                 reap_all: bool = False) -> None:
        self._start = start
        self.reap_all = reap_all  # sweep every process of the sandbox after a command, not only the shell's group
        self._hard_reset = hard_reset
        self.output_limit = output_limit
        self.grace_s = grace_s
        self.start_timeout_s = start_timeout_s
        self.restarts = 0
        self._busy = False  # a command was sent and its marker not yet read (the caller was interrupted)
        self.transport: Transport = self._spawn()

    def _spawn(self) -> Transport:
        t: Transport = self._start()
        t.send(f"__srl_all={int(self.reap_all)}\n".encode() + BOOTSTRAP.encode())
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
        line += b' </dev/null; __srl_end "$?" %s\n' % nonce.encode()
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
        if status == "done" and col.reaped > 0:
            notes.append(REAPED_NOTE.format(n=col.reaped))
        elif status == "done" and col.reaped < 0:
            notes.append(self.reset())
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
