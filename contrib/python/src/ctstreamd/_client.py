"""The client: the events socket (a stream of lines) and the control socket
(one request, one answer, per connection)."""

from __future__ import annotations

import itertools
import socket
import time
from collections import deque
from datetime import datetime, timezone
from typing import (
    Any,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
)

from . import _wire
from ._errors import (
    CtstreamdError,
    DaemonUnavailable,
    ProtocolError,
    SnapshotError,
    Timeout,
    TooManyClients,
    TooSlow,
    error_from_reply,
)

__all__ = [
    "Client",
    "EventStream",
    "Dump",
    "Event",
    "DEFAULT_EVENTS_PATH",
    "DEFAULT_CONTROL_PATH",
    "request_tuple",
]

#: One line of the stream, or one entry of an answer, as parsed JSON.
Event = Dict[str, Any]

DEFAULT_EVENTS_PATH = "/run/ctstreamd/events.sock"
DEFAULT_CONTROL_PATH = "/run/ctstreamd/control.sock"

#: Members of an event tuple that a request tuple does not take.
_TUPLE_ONLY_IN_EVENTS = ("packets", "bytes", "zone")

_ids = itertools.count(1)


def _now_rfc3339() -> str:
    """The current time in the stream's form: UTC, 6 digits, Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clean_tuple(t: Mapping[str, Any]) -> Dict[str, Any]:
    """A tuple for a request: the event-only counters and zone removed, so
    that an event's "orig" or "reply" object can be passed as it is (once
    "proto" is added: see request_tuple)."""
    return {k: v for k, v in t.items() if k not in _TUPLE_ONLY_IN_EVENTS}


def request_tuple(event: Mapping[str, Any], direction: str = "orig") -> Dict[str, Any]:
    """Build the tuple that names an entry in a request (get, delete,
    update) from one of its event lines.

    ``direction`` is ``"orig"`` or ``"reply"``; pass the same value as
    ``dir=`` to the request.  The result holds ``family``, ``proto`` and
    the addresses, ports or ICMP members of that direction.
    """
    if direction not in ("orig", "reply"):
        raise ValueError("direction must be 'orig' or 'reply'")
    t = event.get(direction)
    if not isinstance(t, Mapping):
        raise ValueError(f"the event has no {direction!r} tuple")
    out: Dict[str, Any] = {}
    if "family" in event:
        out["family"] = event["family"]
    if "proto" in event:
        out["proto"] = event["proto"]
    elif "protonum" in event:
        out["proto"] = event["protonum"]
    out.update(_clean_tuple(t))
    return out


def _put(req: Dict[str, Any], **members: Any) -> Dict[str, Any]:
    """Add the members that are not None to a request."""
    for k, v in members.items():
        if v is not None:
            req[k] = v
    return req


class _ControlCall:
    """One request on its own connection to the control socket.

    The request is sent with an "id", then the write side is shut down
    (the daemon closes the connection once it has answered).  Lines that
    are not the reply (the entries of a dump) are handed out by next().
    """

    def __init__(self, path: str, timeout: Optional[float], req: Mapping[str, Any]) -> None:
        self.id = req.get("id")
        self.timeout = timeout
        self.result: Any = None
        self.done = False
        self.sock = _wire.connect(path, timeout)
        self.reader = _wire.LineReader(self.sock)
        try:
            self.sock.sendall(_wire.encode(req))
            self.sock.shutdown(socket.SHUT_WR)
        except socket.timeout as e:
            self.close()
            raise Timeout(f"sending {req.get('cmd')!r}: timed out") from e
        except OSError as e:
            self.close()
            raise DaemonUnavailable(
                f"sending {req.get('cmd')!r}: {e.strerror or e}"
            ) from e

    def close(self) -> None:
        self.done = True
        try:
            self.sock.close()
        except OSError:
            pass

    def next(self) -> Optional[Event]:
        """Return the next line that is not the reply, or None once the
        reply came (its result is in self.result).  Raises the reply's
        error, Timeout, DaemonUnavailable or ProtocolError."""
        while not self.done:
            try:
                line = self.reader.read_line(self.timeout)
            except _wire.LineTimeout:
                self.close()
                raise Timeout(
                    f"no answer from the daemon within {self.timeout} s"
                ) from None
            except OSError as e:
                self.close()
                raise DaemonUnavailable(
                    f"reading the answer: {e.strerror or e}"
                ) from e
            except ProtocolError:
                self.close()
                raise
            if line is None:
                self.close()
                raise DaemonUnavailable("the daemon closed the connection "
                                        "before it answered")
            if not line.strip():
                continue
            try:
                obj = _wire.decode(line)
            except ProtocolError:
                self.close()
                raise
            kind = obj.get("type")
            if kind == "reply" and obj.get("id", self.id) == self.id:
                self.close()
                if obj.get("ok") is True:
                    self.result = obj.get("result")
                    return None
                raise error_from_reply(obj)
            if kind == "error":
                self.close()
                raise error_from_reply(obj)
            if kind == "reply":
                continue        # not ours: cannot happen, one request each
            return obj
        return None


class Dump(Iterator[Event]):
    """The entries of a ``dump`` answer, read as they arrive.

    Iterate over it for the entries (``"event": "dump"`` lines); once the
    iteration is over, ``count`` holds the number of entries the daemon
    reports and ``result`` its whole final answer.  Use it as a context
    manager, or call close(), to drop the connection early.
    """

    def __init__(self, call: _ControlCall) -> None:
        self._call = call
        self.count: Optional[int] = None
        self.result: Optional[Dict[str, Any]] = None
        self.entries_read = 0
        self._first: Optional[Event] = None
        # Read ahead one line, so that a refused request (bad filter)
        # raises when dump() is called rather than on the first next().
        self._first = self._read()

    def _read(self) -> Optional[Event]:
        item = self._call.next()
        if item is None and self._call.done and self.result is None:
            res = self._call.result
            self.result = res if isinstance(res, dict) else {}
            count = self.result.get("count")
            self.count = count if isinstance(count, int) else None
        return item

    def __iter__(self) -> "Dump":
        return self

    def __next__(self) -> Event:
        if self._first is not None:
            item: Optional[Event] = self._first
            self._first = None
        elif self._call.done:
            raise StopIteration
        else:
            item = self._read()
        if item is None:
            raise StopIteration
        self.entries_read += 1
        return item

    def close(self) -> None:
        """Stop reading; the daemon notices when it writes next."""
        self._call.close()

    def __enter__(self) -> "Dump":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class EventStream(Iterator[Event]):
    """The lines of the events socket, as dicts.

    Made by :meth:`Client.events`; see there for what is yielded.  It is
    an iterator (``for ev in stream``) that blocks until a line arrives;
    :meth:`poll` waits at most a given time instead.  ``last_seq`` is the
    ``seq`` of the last numbered line yielded, ``connections`` how many
    times the socket was (re)connected.
    """

    def __init__(
        self,
        client: "Client",
        filter: Optional[Mapping[str, Any]],
        snapshot: bool,
        reconnect: bool,
        backoff: float,
        max_backoff: float,
    ) -> None:
        self._client = client
        self._filter = dict(filter) if filter is not None else None
        self._snapshot = bool(snapshot)
        self._reconnect = bool(reconnect)
        self._backoff = max(0.001, float(backoff))
        self._max_backoff = max(self._backoff, float(max_backoff))
        self._sock: Optional[socket.socket] = None
        self._reader: Optional[_wire.LineReader] = None
        self._pending: Deque[Event] = deque()
        self._closed = False
        self._down: Optional[Tuple[str, str, Optional[int]]] = None
        self._attempt = 0
        self._next_attempt = 0.0
        #: seq of the last numbered line (event or overrun) yielded.
        self.last_seq: Optional[int] = None
        #: How many connections were made (1 + reconnections).
        self.connections = 0
        #: Lines discarded because they came before the subscribe reply.
        self.skipped = 0
        #: The error of the last failed reconnection attempt, if any.
        self.last_error: Optional[CtstreamdError] = None
        #: True once the stream is over (closed, or ended without reconnect).
        self.ended = False
        self._open()

    # -- connection -----------------------------------------------------

    def _subscribes(self) -> bool:
        return self._filter is not None or self._snapshot

    def _open(self) -> None:
        """Connect and, when asked to, subscribe; raise on failure."""
        timeout = self._client.timeout
        sock = _wire.connect(self._client.events_path, timeout)
        reader = _wire.LineReader(sock)
        try:
            if self._subscribes():
                self._subscribe(sock, reader, timeout)
        except BaseException:
            sock.close()
            raise
        self._sock, self._reader = sock, reader
        self.connections += 1

    def _subscribe(self, sock: socket.socket, reader: _wire.LineReader,
                   timeout: Optional[float]) -> None:
        rid = next(_ids)
        req: Dict[str, Any] = {"cmd": "subscribe", "id": rid}
        if self._filter is not None:
            req["filter"] = self._filter
        if self._snapshot:
            req["snapshot"] = True
        try:
            sock.sendall(_wire.encode(req))
        except OSError as e:
            raise DaemonUnavailable(f"sending subscribe: {e.strerror or e}") from e
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = reader.read_line(left)
            except _wire.LineTimeout:
                raise Timeout(f"no reply to subscribe within {timeout} s") from None
            except OSError as e:
                raise DaemonUnavailable(f"waiting for the subscribe reply: "
                                        f"{e.strerror or e}") from e
            if line is None:
                raise DaemonUnavailable("the daemon closed the connection "
                                        "before it answered subscribe")
            if not line.strip():
                continue
            obj = _wire.decode(line)
            kind = obj.get("type")
            if kind == "reply" and obj.get("id", rid) == rid:
                if obj.get("ok") is True:
                    return
                raise error_from_reply(obj)
            if kind == "error":
                raise error_from_reply(obj)
            # Lines queued before the subscription took effect: unfiltered
            # events, or events the snapshot will cover.  Not ours.
            self.skipped += 1

    def _lost(self, reason: str, detail: str) -> None:
        """The connection is gone: reconnect later, or end."""
        sock, self._sock, self._reader = self._sock, None, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        if self._closed:
            return              # close() was called: end quietly
        if not self._reconnect:
            self._closed = True
            self.ended = True
            if reason == "eof":
                return
            raise DaemonUnavailable(detail)
        self._down = (reason, detail, self.last_seq)
        self._attempt = 0
        self._next_attempt = time.monotonic()

    def _try_reconnect(self, deadline: Optional[float]) -> bool:
        """Reconnect with backoff; False if the deadline came first."""
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return False
            if now < self._next_attempt:
                if deadline is not None and deadline < self._next_attempt:
                    time.sleep(max(0.0, deadline - now))
                    return False
                time.sleep(self._next_attempt - now)
            try:
                self._open()
            except (DaemonUnavailable, Timeout, TooManyClients) as e:
                self.last_error = e
                delay = min(self._max_backoff, self._backoff * (2 ** min(self._attempt, 30)))
                self._attempt += 1
                self._next_attempt = time.monotonic() + delay
                continue
            assert self._down is not None
            reason, detail, since = self._down
            self._down = None
            self.last_error = None
            self._pending.append({
                "type": "gap",
                "reason": reason,
                "detail": detail,
                "since_seq": since,
                "reconnected_at": _now_rfc3339(),
            })
            return True

    # -- reading ----------------------------------------------------------

    def _next(self, timeout: Optional[float]) -> Optional[Event]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._pending:
                return self._pending.popleft()
            if self._closed:
                self.ended = True
                return None
            reader = self._reader
            if self._sock is None or reader is None:
                if not self._try_reconnect(deadline):
                    return None
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                line = reader.read_line(left)
            except _wire.LineTimeout:
                return None
            except ProtocolError:
                self.close()
                raise
            except OSError as e:
                self._lost("connection_error", f"reading events: {e.strerror or e}")
                continue
            if line is None:
                self._lost("eof", "the daemon closed the connection")
                continue
            if not line.strip():
                continue
            try:
                obj = _wire.decode(line)
            except ProtocolError:
                self.close()
                raise
            kind = obj.get("type")
            if kind == "reply":
                continue        # no command is sent after subscribe
            if kind == "error":
                err = error_from_reply(obj)
                if self._reconnect and isinstance(err, (TooSlow, TooManyClients)):
                    self._lost(err.code, err.message)
                    continue
                self.close()
                raise err
            if kind == "sync" and "error" in obj:
                err = error_from_reply(obj)
                raise SnapshotError(err.message, code=err.code, reply=obj)
            seq = obj.get("seq")
            if isinstance(seq, int) and not isinstance(seq, bool):
                self.last_seq = seq
            return obj

    def __iter__(self) -> "EventStream":
        return self

    def __next__(self) -> Event:
        item = self._next(None)
        if item is None:
            raise StopIteration
        return item

    def poll(self, timeout: Optional[float]) -> Optional[Event]:
        """Return the next item, or None if none arrived within timeout
        seconds (None: wait as long as it takes) or the stream has ended
        (then ``ended`` is true).  A line that arrives in part is kept
        for the next call."""
        return self._next(timeout)

    def fileno(self) -> int:
        """The socket's descriptor, for select(); -1 while reconnecting.
        Lines may already be buffered: call poll(0) until it returns None
        before waiting on the descriptor."""
        return self._sock.fileno() if self._sock is not None else -1

    def close(self) -> None:
        """Disconnect; iteration ends."""
        self._closed = True
        self.ended = True
        self._pending.clear()
        sock, self._sock, self._reader = self._sock, None, None
        if sock is not None:
            try:
                # Wakes a thread blocked reading this socket.
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Client:
    """A client of one ctstreamd daemon.

    ``events_path`` and ``control_path`` are the daemon's two Unix sockets
    (``--events-socket``, ``--control-socket``).  ``timeout`` (seconds, or
    None for no limit) bounds connecting and every wait for the daemon's
    next line of an answer; it does not bound the wait for events.

    The client keeps no connection open between calls: each control
    request uses a connection of its own, and each :meth:`events` stream
    has its own, so one Client can be shared between threads.
    """

    def __init__(
        self,
        events_path: str = DEFAULT_EVENTS_PATH,
        control_path: str = DEFAULT_CONTROL_PATH,
        timeout: Optional[float] = 10.0,
    ) -> None:
        self.events_path = events_path
        self.control_path = control_path
        self.timeout = timeout

    def __repr__(self) -> str:
        return (f"Client(events_path={self.events_path!r}, "
                f"control_path={self.control_path!r}, timeout={self.timeout!r})")

    # -- events socket ------------------------------------------------------

    def events(
        self,
        filter: Optional[Mapping[str, Any]] = None,
        snapshot: bool = False,
        reconnect: bool = False,
        *,
        backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> EventStream:
        """Connect to the events socket and return the stream of its lines.

        With a ``filter`` (a filter object, see ctstreamd's filter
        language) or ``snapshot=True``, a ``subscribe`` command is sent
        first; lines that arrive before its reply (unfiltered events, or
        events the snapshot covers) are skipped, and an error reply raises
        here (:class:`BadFilter`, ...).  Without either, every event the
        daemon receives is yielded from the moment of connection.

        Items yielded, told apart by ``item["type"]``:

        * ``"ct"`` and ``"expect"``: events.  ``item["event"]`` is
          ``"new"``, ``"update"`` or ``"destroy"`` for live events and
          ``"snapshot"`` for the entries of a snapshot.  Lines with
          ``"resync": true`` come from the daemon's repair after an
          overrun; a resync ``destroy`` may carry only ``id``.
        * ``"sync"``: the end of the snapshot, ``{"type": "sync",
          "entries": N, "time": ...}``; live events follow.  A sync marker
          with an ``"error"`` raises :class:`SnapshotError` instead (the
          live stream goes on if you keep iterating).
        * ``"overrun"``: the kernel dropped events (``lost`` = how many).
        * ``"lost"``: this reader missed ``count`` lines (``first_seq`` to
          ``last_seq``) because it read too slowly.
        * ``"gap"``: made by this library, only with ``reconnect=True``:
          the connection was lost and made again.  ``reason`` (``"eof"``,
          ``"connection_error"``, ``"too_slow"``, ...), ``detail`` (text),
          ``since_seq`` (the ``seq`` of the last line received before the
          loss, or None) and ``reconnected_at`` (RFC 3339 UTC).  Anything
          may have happened in between; with ``snapshot=True`` the
          snapshot is taken again right after this item.
        * any other type a newer daemon may send: skip what you do not know.

        Answers to commands (``"type": "reply"``) are never yielded.

        Without ``reconnect``, the iteration ends when the daemon closes
        the connection, a socket error raises :class:`DaemonUnavailable`
        and a ``too_slow`` disconnection raises :class:`TooSlow`.  With
        ``reconnect=True`` each of those is followed by new connection
        attempts, the first at once and then after ``backoff`` seconds,
        doubling up to ``max_backoff``, for as long as it takes.  The
        first connection is never retried: its failure raises.
        """
        return EventStream(self, filter, snapshot, reconnect, backoff, max_backoff)

    # -- control socket ---------------------------------------------------

    def _call(self, req: Dict[str, Any]) -> Any:
        req.setdefault("id", next(_ids))
        call = _ControlCall(self.control_path, self.timeout, req)
        while call.next() is not None:
            pass
        return call.result

    def request(self, cmd: str, **members: Any) -> Any:
        """Send any command to the control socket and return its result
        (the reply's ``result`` member, None if it has none).  Members
        whose value is None are left out.  Entry lines sent before the
        reply (as by ``dump``) are discarded: use :meth:`dump` for those.
        """
        return self._call(_put({"cmd": cmd}, **members))

    def ping(self) -> Dict[str, Any]:
        """``{"pong": True, "time": ...}``."""
        return self._call({"cmd": "ping"}) or {}

    def version(self) -> Dict[str, Any]:
        """``{"version": "0.1.0", "schema": 1}``."""
        return self._call({"cmd": "version"}) or {}

    def help(self) -> List[Dict[str, Any]]:
        """The commands of the control socket: ``cmd``, ``summary``,
        ``privileged``."""
        res = self._call({"cmd": "help"}) or {}
        cmds = res.get("commands", [])
        return list(cmds) if isinstance(cmds, list) else []

    def stats(self) -> Dict[str, Any]:
        """The daemon's counters (``daemon``) and the kernel's
        (``kernel``; it has an ``error`` member when those could not be
        read)."""
        return self._call({"cmd": "stats"}) or {}

    def diagnose(self) -> Dict[str, Any]:
        """The daemon's startup self-diagnosis: ``netns``, the sysctls,
        ``cap_net_admin`` and ``findings``."""
        return self._call({"cmd": "diagnose"}) or {}

    def get(
        self,
        tuple: Optional[Mapping[str, Any]] = None,
        *,
        ct_id: Optional[int] = None,
        dir: str = "orig",
        zone: Optional[int] = None,
        type: str = "ct",
        exp_id: Optional[int] = None,
    ) -> Event:
        """One entry, as an event line with ``"event": "get"``.

        Name a conntrack by ``tuple`` (a request tuple: ``proto``, ``src``,
        ``dst``, ports or ICMP members; see :func:`request_tuple`), which
        is its original tuple, or its reply tuple with ``dir="reply"``; or
        by ``ct_id`` alone (the daemon then scans the table).  With
        ``type="expect"``, ``tuple`` is the expected tuple of an
        expectation.  Raises :class:`NotFound` when there is none.
        """
        req = _put({"cmd": "get"}, zone=zone, ct_id=ct_id, exp_id=exp_id)
        if type != "ct":
            req["type"] = type
        if tuple is not None:
            req["tuple"] = _clean_tuple(tuple)
        if dir != "orig":
            req["dir"] = dir
        res = self._call(req)
        if not isinstance(res, dict):
            raise ProtocolError("get: the reply has no entry")
        return res

    def dump(
        self,
        table: str = "ct",
        filter: Optional[Mapping[str, Any]] = None,
    ) -> Dump:
        """The entries of the conntrack (``table="ct"``) or expectation
        (``"expect"``) table that pass ``filter``, as ``"event": "dump"``
        lines; ``count`` is set on the returned :class:`Dump` once it has
        been read to the end.  A bad filter raises :class:`BadFilter`
        here."""
        req = _put({"cmd": "dump", "id": next(_ids)}, filter=filter)
        if table != "ct":
            req["table"] = table
        return Dump(_ControlCall(self.control_path, self.timeout, req))

    # -- privileged commands ------------------------------------------------

    def delete(
        self,
        tuple: Optional[Mapping[str, Any]] = None,
        *,
        ct_id: Optional[int] = None,
        dir: str = "orig",
        zone: Optional[int] = None,
        type: str = "ct",
        exp_id: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Delete one conntrack (by ``tuple``, by ``tuple`` and ``ct_id``,
        or by ``ct_id`` alone) or, with ``type="expect"``, one expectation
        by its expected ``tuple``.  Returns ``{"changed": 1}``; raises
        :class:`NotFound` or :class:`Denied`."""
        req = _put({"cmd": "delete"}, zone=zone, ct_id=ct_id, exp_id=exp_id)
        if type != "ct":
            req["type"] = type
        if tuple is not None:
            req["tuple"] = _clean_tuple(tuple)
        if dir != "orig":
            req["dir"] = dir
        return self._call(req) or {}

    def update(
        self,
        tuple: Optional[Mapping[str, Any]] = None,
        *,
        ct_id: Optional[int] = None,
        dir: str = "orig",
        zone: Optional[int] = None,
        mark: Optional[int] = None,
        labels: Optional[Sequence[int]] = None,
    ) -> Dict[str, Any]:
        """Set the ``mark`` and/or the connection ``labels`` (bit numbers
        0-127, replacing the set) of a conntrack named by ``tuple`` or
        ``ct_id``.  Returns ``{"changed": 1}``."""
        req = _put({"cmd": "update"}, zone=zone, ct_id=ct_id, mark=mark,
                   labels=list(labels) if labels is not None else None)
        if tuple is not None:
            req["tuple"] = _clean_tuple(tuple)
        if dir != "orig":
            req["dir"] = dir
        return self._call(req) or {}

    def flush(
        self,
        table: str = "ct",
        filter: Optional[Mapping[str, Any]] = None,
        *,
        all: bool = False,
    ) -> Dict[str, Any]:
        """Delete the entries of ``table`` that pass ``filter``
        (``{"matched", "deleted", "gone", "failed"}``), or with
        ``all=True`` and no filter the whole table (``{"changed": 1}``).
        Neither filter nor ``all`` is refused by the daemon
        (:class:`BadRequest`)."""
        req = _put({"cmd": "flush"}, filter=filter)
        if table != "ct":
            req["table"] = table
        if all:
            req["all"] = True
        return self._call(req) or {}

    def create(
        self,
        tuple: Mapping[str, Any],
        *,
        type: str = "ct",
        reply: Optional[Mapping[str, Any]] = None,
        master: Optional[Mapping[str, Any]] = None,
        mask: Optional[Mapping[str, Any]] = None,
        zone: Optional[int] = None,
        timeout: Optional[int] = None,
        mark: Optional[int] = None,
        labels: Optional[Sequence[int]] = None,
        status: Optional[Iterable[str]] = None,
        state: Optional[str] = None,
        helper: Optional[str] = None,
        flags: Optional[Iterable[str]] = None,
        class_: Optional[int] = None,
    ) -> Dict[str, Any]:
        """Create a conntrack (``tuple`` is its original tuple; ``reply``
        defaults to its inverse; ``timeout`` in seconds is required;
        ``state`` applies to TCP) or, with ``type="expect"``, an
        expectation (``tuple`` expected, ``master`` required, ``mask``,
        ``timeout``, ``helper``, ``flags``, ``class_``).  Returns
        ``{"changed": 1}``; raises :class:`Exists` if it exists."""
        req: Dict[str, Any] = {"cmd": "create", "tuple": _clean_tuple(tuple)}
        if type != "ct":
            req["type"] = type
        _put(
            req,
            reply=_clean_tuple(reply) if reply is not None else None,
            master=_clean_tuple(master) if master is not None else None,
            mask=_clean_tuple(mask) if mask is not None else None,
            zone=zone,
            timeout=timeout,
            mark=mark,
            labels=list(labels) if labels is not None else None,
            status=list(status) if status is not None else None,
            state=state,
            helper=helper,
            flags=list(flags) if flags is not None else None,
        )
        if class_ is not None:
            req["class"] = class_
        return self._call(req) or {}

