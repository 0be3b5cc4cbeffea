"""Exceptions: one class per stable error code of the daemon, plus the
client's own failures (cannot connect, timeout, malformed answer)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "CtstreamdError",
    "BadJson",
    "BadRequest",
    "UnknownCommand",
    "Denied",
    "BadFilter",
    "Busy",
    "NotFound",
    "Exists",
    "KernelError",
    "SnapshotError",
    "InternalError",
    "TooLarge",
    "TooSlow",
    "TooManyClients",
    "DaemonUnavailable",
    "Timeout",
    "ProtocolError",
    "error_from_reply",
]


class CtstreamdError(Exception):
    """An error reported by ctstreamd, or met while talking to it.

    ``code`` is the daemon's stable error code (``"not_found"``,
    ``"bad_filter"``, ...) or, for failures on the client's side,
    ``"unavailable"``, ``"timeout"`` or ``"protocol_error"``.
    ``message`` is the human-readable text; ``reply`` is the whole line
    the daemon sent, when there was one.
    """

    #: The code this class stands for (the base class: any other code).
    default_code = "error"

    def __init__(
        self,
        message: str,
        code: Optional[str] = None,
        reply: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.code: str = code if code is not None else self.default_code
        self.message: str = message
        self.reply: Optional[Dict[str, Any]] = (
            dict(reply) if reply is not None else None
        )

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class BadJson(CtstreamdError):
    """The request line was not valid JSON (``bad_json``)."""

    default_code = "bad_json"


class BadRequest(CtstreamdError):
    """A malformed request: missing, mistyped or unknown member
    (``bad_request``)."""

    default_code = "bad_request"


class UnknownCommand(CtstreamdError):
    """No such command on this socket (``unknown_command``)."""

    default_code = "unknown_command"


class Denied(CtstreamdError):
    """The command changes the table and the caller is neither root nor in
    the daemon's admin group (``denied``)."""

    default_code = "denied"


class BadFilter(CtstreamdError):
    """The filter does not parse; the message names the member
    (``bad_filter``)."""

    default_code = "bad_filter"


class Busy(CtstreamdError):
    """A snapshot is still being sent on this connection (``busy``)."""

    default_code = "busy"


class NotFound(CtstreamdError):
    """No such conntrack or expectation (``not_found``)."""

    default_code = "not_found"


class Exists(CtstreamdError):
    """The entry to create exists already (``exists``)."""

    default_code = "exists"


class KernelError(CtstreamdError):
    """The kernel refused or failed the request (``kernel_error``)."""

    default_code = "kernel_error"


class SnapshotError(KernelError):
    """The snapshot asked for with ``subscribe`` failed: the sync marker
    carried an error (its code is usually ``kernel_error``).  ``reply`` is
    the sync marker line."""


class InternalError(CtstreamdError):
    """The daemon could not start the request (``internal``)."""

    default_code = "internal"


class TooLarge(CtstreamdError):
    """The request line was longer than the daemon's ``--max-line``; the
    daemon closes the connection (``too_large``)."""

    default_code = "too_large"


class TooSlow(CtstreamdError):
    """The subscriber read too slowly and the daemon (``--sub-policy
    disconnect``) dropped it (``too_slow``)."""

    default_code = "too_slow"


class TooManyClients(CtstreamdError):
    """The daemon is at its ``--max-clients`` limit
    (``too_many_clients``)."""

    default_code = "too_many_clients"


class DaemonUnavailable(CtstreamdError, ConnectionError):
    """The socket could not be reached, or the connection broke before the
    answer was complete (client side, ``unavailable``).  Also a
    :class:`ConnectionError`."""

    default_code = "unavailable"


class Timeout(CtstreamdError, TimeoutError):
    """No answer within the client's timeout (client side, ``timeout``).
    Also a :class:`TimeoutError`."""

    default_code = "timeout"


class ProtocolError(CtstreamdError):
    """The daemon sent something that is not a line of the protocol
    (client side, ``protocol_error``)."""

    default_code = "protocol_error"


_BY_CODE: Dict[str, Type[CtstreamdError]] = {
    cls.default_code: cls
    for cls in (
        BadJson,
        BadRequest,
        UnknownCommand,
        Denied,
        BadFilter,
        Busy,
        NotFound,
        Exists,
        KernelError,
        InternalError,
        TooLarge,
        TooSlow,
        TooManyClients,
    )
}


def error_from_reply(line: Mapping[str, Any]) -> CtstreamdError:
    """Build the exception for an error line of the daemon: a reply with
    ``"ok": false`` or a ``{"type": "error"}`` line.  Unknown codes give a
    plain :class:`CtstreamdError` carrying that code."""
    err = line.get("error")
    if isinstance(err, Mapping):
        code = str(err.get("code", "error"))
        message = str(err.get("message", ""))
    else:
        code, message = "error", str(err) if err is not None else ""
    cls = _BY_CODE.get(code, CtstreamdError)
    return cls(message, code=code, reply=line)
