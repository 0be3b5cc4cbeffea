"""Framing: one JSON object per line on a Unix stream socket."""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Dict, Mapping, Optional

from ._errors import DaemonUnavailable, ProtocolError, Timeout

#: Longest line accepted from the daemon.  Event lines are a few hundred
#: bytes; this only stops a runaway peer from eating all memory.
MAX_LINE = 64 * 1024 * 1024

_RECV = 256 * 1024


class LineTimeout(Exception):
    """No complete line arrived in time (internal)."""


def connect(path: str, timeout: Optional[float]) -> socket.socket:
    """Connect to the Unix socket at path, or raise DaemonUnavailable."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except socket.timeout as e:
        sock.close()
        raise Timeout(f"connecting to {path}: timed out") from e
    except OSError as e:
        sock.close()
        raise DaemonUnavailable(
            f"cannot connect to {path}: {e.strerror or e}"
        ) from e
    return sock


def encode(obj: Mapping[str, Any]) -> bytes:
    """One request line: compact JSON and a newline."""
    return (
        json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"
    ).encode("utf-8")


def decode(line: bytes) -> Dict[str, Any]:
    """Parse one line of the daemon into a dict, or raise ProtocolError."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise ProtocolError(
            f"the daemon sent a line that is not JSON ({e}): {line[:200]!r}"
        ) from e
    if not isinstance(obj, dict):
        raise ProtocolError(
            f"the daemon sent a line that is not a JSON object: {line[:200]!r}"
        )
    return obj


class LineReader:
    """Reads newline-terminated lines from a socket, with per-call
    deadlines, never losing a partial line to a timeout."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buf = bytearray()
        self._scan = 0          # bytes of _buf known to hold no newline
        self.eof = False

    def read_line(self, timeout: Optional[float]) -> Optional[bytes]:
        """Return the next line without its newline; None at end of
        input (a partial last line is discarded); raise LineTimeout when
        no full line arrives within timeout seconds (None: wait forever)
        and OSError when the socket fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            i = self._buf.find(b"\n", self._scan)
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[: i + 1]
                self._scan = 0
                return line
            self._scan = len(self._buf)
            if self.eof:
                return None
            if len(self._buf) > MAX_LINE:
                raise ProtocolError(
                    f"the daemon sent a line longer than {MAX_LINE} bytes"
                )
            if deadline is None:
                self.sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LineTimeout()
                self.sock.settimeout(left)
            try:
                data = self.sock.recv(_RECV)
            except socket.timeout:
                raise LineTimeout() from None
            except InterruptedError:
                continue
            if not data:
                self.eof = True
                continue
            self._buf += data

    def fileno(self) -> int:
        return self.sock.fileno()

    def buffered(self) -> bool:
        """Tell whether a complete line is already buffered."""
        return self._buf.find(b"\n", self._scan) >= 0
