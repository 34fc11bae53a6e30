"""The bytes of the shell protocol (`sandbox/shell.py`): a command quoted onto one line, and the output stream read
up to the command's end marker, kept within a size limit (head and tail)."""

from __future__ import annotations


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
        self.reaped = 0  # background processes the shell killed after the command; -1: some could not be killed
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
        code, _, reaped = bytes(self.pending[i + len(self.prefix) : end]).partition(b"_")
        self.exit_code = int(code) if code.isdigit() else None
        self.reaped = int(reaped) if reaped.lstrip(b"-").isdigit() else 0
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
