"""The library against a scripted stand-in for the daemon (no root, no
kernel): framing, what is and is not yielded, error mapping, reconnection;
and ConntrackTable on synthetic streams."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

import pytest

import ctstreamd
from ctstreamd import ConntrackTable

Handler = Callable[["Conn"], None]


class Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.f = sock.makefile("rb")

    def recv_request(self) -> Dict[str, Any]:
        line = self.f.readline()
        assert line, "no request"
        return json.loads(line)

    def send(self, *objs: Any) -> None:
        for o in objs:
            data = o if isinstance(o, bytes) else (json.dumps(o) + "\n").encode()
            self.sock.sendall(data)

    def reply(self, req: Dict[str, Any], result: Any = None, **extra: Any) -> None:
        r: Dict[str, Any] = {"type": "reply", "id": req["id"], "ok": True}
        if result is not None:
            r["result"] = result
        r.update(extra)
        self.send(r)

    def error(self, req: Optional[Dict[str, Any]], code: str, msg: str = "m") -> None:
        r: Dict[str, Any] = {"type": "reply", "ok": False,
                             "error": {"code": code, "message": msg}}
        if req is not None:
            r["id"] = req["id"]
        self.send(r)


_fakes: List["Fake"] = []


class Fake:
    """A Unix socket server running one scripted handler per connection,
    each in a thread of its own, in the order the connections come."""

    def __init__(self, path: str, handlers: List[Handler]) -> None:
        _fakes.append(self)
        self.path = path
        self.handlers = list(handlers)
        self.errors: List[BaseException] = []
        self.lsock: Optional[socket.socket] = None
        self.start()

    def start(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.lsock = socket.socket(socket.AF_UNIX)
        self.lsock.bind(self.path)
        self.lsock.listen(8)
        threading.Thread(target=self._serve, args=(self.lsock,), daemon=True).start()

    def _serve(self, lsock: socket.socket) -> None:
        while self.handlers:
            try:
                s, _ = lsock.accept()
            except OSError:
                return
            h = self.handlers.pop(0)
            threading.Thread(target=self._run, args=(h, s), daemon=True).start()

    def _run(self, h: Handler, s: socket.socket) -> None:
        conn = Conn(s)
        try:
            h(conn)
        except BaseException as e:           # shown by the test
            self.errors.append(e)
        finally:
            conn.f.close()
            s.close()

    def stop(self) -> None:
        if self.lsock is not None:
            self.lsock.close()
            self.lsock = None
        if os.path.exists(self.path):
            os.unlink(self.path)


@pytest.fixture
def tmp() -> Any:
    d = tempfile.mkdtemp(prefix="ctpy-off-")
    yield d
    while _fakes:
        _fakes.pop().stop()
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def ev(seq: int, kind: str = "new", ct_id: int = 1, **kw: Any) -> Dict[str, Any]:
    e = {"type": "ct", "event": kind, "seq": seq, "time": "t", "id": ct_id,
         "family": "ipv4", "proto": "udp", "protonum": 17,
         "orig": {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": 1000 + ct_id,
                  "dport": 53}}
    e.update(kw)
    return e


def client(tmp: str, timeout: float = 2.0) -> ctstreamd.Client:
    return ctstreamd.Client(os.path.join(tmp, "ev"), os.path.join(tmp, "ctl"),
                            timeout=timeout)


def test_subscribe_skips_lines_before_its_reply(tmp):
    got: Dict[str, Any] = {}

    def h(c: Conn) -> None:
        c.send(ev(1))                            # before the subscription
        req = c.recv_request()
        got["req"] = req
        c.send(ev(2))                            # still unfiltered
        c.reply(req, {"snapshot": False})
        c.send(ev(3), {"type": "reply", "id": 999, "ok": True}, ev(4))

    fake = Fake(os.path.join(tmp, "ev"), [h])
    st = client(tmp).events(filter={"proto": "udp"})
    items = list(st)
    assert got["req"]["cmd"] == "subscribe"
    assert got["req"]["filter"] == {"proto": "udp"}
    assert "snapshot" not in got["req"]
    assert [i["seq"] for i in items] == [3, 4]
    assert st.skipped == 2 and st.ended and st.last_seq == 4
    assert not fake.errors


def test_no_subscribe_without_filter_or_snapshot(tmp):
    def h(c: Conn) -> None:
        c.send(ev(1), {"type": "overrun", "lost": 3, "seq": 2, "time": "t"},
               {"type": "lost", "count": 2, "first_seq": 3, "last_seq": 4,
                "time": "t"}, {"type": "future-thing"}, ev(5))
        c.sock.shutdown(socket.SHUT_WR)
        # Nothing must have been sent to us.
        assert c.sock.recv(10) == b""

    fake = Fake(os.path.join(tmp, "ev"), [h])
    items = list(client(tmp).events())
    assert [i["type"] for i in items] == ["ct", "overrun", "lost", "future-thing", "ct"]
    time.sleep(0.1)
    assert not fake.errors


def test_subscribe_error_raises_at_once(tmp):
    def h(c: Conn) -> None:
        c.error(c.recv_request(), "bad_filter", "filter.x: unknown member")

    Fake(os.path.join(tmp, "ev"), [h])
    with pytest.raises(ctstreamd.BadFilter) as ei:
        client(tmp).events(filter={"x": 1})
    assert ei.value.message == "filter.x: unknown member"
    assert str(ei.value) == "bad_filter: filter.x: unknown member"


def test_snapshot_and_sync_error(tmp):
    def h(c: Conn) -> None:
        req = c.recv_request()
        assert req["snapshot"] is True and "filter" not in req
        c.reply(req, {"snapshot": True})
        c.send(ev(1, "snapshot"),
               {"type": "sync", "entries": 1, "time": "t",
                "error": {"code": "kernel_error", "message": "Operation not permitted"}},
               ev(2))

    Fake(os.path.join(tmp, "ev"), [h])
    st = client(tmp).events(snapshot=True)
    assert next(st)["event"] == "snapshot"
    with pytest.raises(ctstreamd.SnapshotError) as ei:
        next(st)
    assert isinstance(ei.value, ctstreamd.KernelError)
    assert ei.value.code == "kernel_error"
    assert ei.value.reply is not None and ei.value.reply["type"] == "sync"
    assert next(st)["seq"] == 2                  # the live stream goes on
    st.close()


def test_too_slow_line_raises(tmp):
    def h(c: Conn) -> None:
        c.send(ev(1), {"type": "error", "error": {
            "code": "too_slow", "message": "over the high watermark, disconnected"}})

    Fake(os.path.join(tmp, "ev"), [h])
    st = client(tmp).events()
    next(st)
    with pytest.raises(ctstreamd.TooSlow):
        next(st)
    assert st.ended


def test_garbage_is_a_protocol_error(tmp):
    def h(c: Conn) -> None:
        c.send(b"not json\n")

    Fake(os.path.join(tmp, "ev"), [h])
    with pytest.raises(ctstreamd.ProtocolError):
        next(client(tmp).events())


def test_poll_keeps_partial_lines(tmp):
    line = (json.dumps(ev(7)) + "\n").encode()

    def h(c: Conn) -> None:
        c.send(line[:20])
        time.sleep(0.4)
        c.send(line[20:])
        time.sleep(0.2)

    Fake(os.path.join(tmp, "ev"), [h])
    st = client(tmp).events()
    assert st.poll(0.1) is None and not st.ended
    item = st.poll(3)
    assert item is not None and item["seq"] == 7
    assert st.poll(3) is None and st.ended


def test_reconnect_yields_a_gap(tmp):
    path = os.path.join(tmp, "ev")

    def first(c: Conn) -> None:
        req = c.recv_request()
        c.reply(req)
        c.send(ev(1), ev(2))

    def second(c: Conn) -> None:
        req = c.recv_request()
        c.send(ev(40))                           # before the reply: skipped
        c.reply(req)
        c.send(ev(1, ct_id=9))
        time.sleep(0.3)

    fake = Fake(path, [first])
    st = client(tmp).events(filter={}, reconnect=True, backoff=0.05, max_backoff=0.2)
    assert [next(st)["seq"], next(st)["seq"]] == [1, 2]
    fake.stop()                                  # the daemon goes away ...

    def comeback() -> None:
        time.sleep(0.5)
        fake.handlers = [second]
        fake.start()                             # ... and comes back

    t = threading.Thread(target=comeback)
    t.start()
    assert st.poll(0.2) is None                  # still away
    gap = st.poll(5)
    t.join()
    assert gap is not None and gap["type"] == "gap"
    assert gap["reason"] == "eof" and gap["since_seq"] == 2
    assert gap["reconnected_at"].endswith("Z")
    assert next(st)["id"] == 9
    assert st.connections == 2 and st.skipped == 1
    st.close()
    assert list(st) == []


def test_reconnect_after_too_slow(tmp):
    def first(c: Conn) -> None:
        c.send(ev(1), {"type": "error", "error": {"code": "too_slow", "message": "bye"}})

    def second(c: Conn) -> None:
        c.send(ev(2))
        time.sleep(0.3)

    Fake(os.path.join(tmp, "ev"), [first, second])
    st = client(tmp).events(reconnect=True, backoff=0.01)
    assert next(st)["seq"] == 1
    gap = next(st)
    assert gap["type"] == "gap" and gap["reason"] == "too_slow" and gap["detail"] == "bye"
    assert next(st)["seq"] == 2
    st.close()


def test_first_connection_is_not_retried(tmp):
    with pytest.raises(ctstreamd.DaemonUnavailable) as ei:
        client(tmp).events(reconnect=True)
    assert isinstance(ei.value, ConnectionError)
    assert ei.value.code == "unavailable"


def test_control_dump_get_and_errors(tmp):
    reqs: List[Dict[str, Any]] = []

    def dump(c: Conn) -> None:
        req = c.recv_request()
        reqs.append(req)
        assert c.f.readline() == b""             # the client shut down writing
        c.send(ev(1, "dump", 1), ev(2, "dump", 2))
        c.reply(req, {"count": 2})

    def get(c: Conn) -> None:
        req = c.recv_request()
        reqs.append(req)
        c.reply(req, ev(3, "get", 5))

    def notfound(c: Conn) -> None:
        c.error(c.recv_request(), "not_found", "get: no such entry")

    def toolarge(c: Conn) -> None:
        c.recv_request()
        c.error(None, "too_large", "command line longer than 65536 bytes, closing")

    def unknown(c: Conn) -> None:
        c.error(c.recv_request(), "some_new_code", "?")

    def silent(c: Conn) -> None:
        c.recv_request()
        time.sleep(1.5)

    def hangup(c: Conn) -> None:
        c.recv_request()

    Fake(os.path.join(tmp, "ctl"),
         [dump, get, notfound, toolarge, unknown, silent, hangup])
    cl = client(tmp, timeout=0.5)
    d = cl.dump(filter={"proto": "udp"})
    assert d.count is None
    assert [e["id"] for e in d] == [1, 2] and d.count == 2 and d.entries_read == 2
    assert reqs[0]["cmd"] == "dump" and reqs[0]["filter"] == {"proto": "udp"}
    assert "table" not in reqs[0]
    tup = {"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
           "sport": 1, "dport": 2, "packets": 5, "bytes": 9}
    assert cl.get(tup, dir="reply", zone=3)["id"] == 5
    assert reqs[1]["tuple"] == {"proto": "udp", "src": "127.0.0.1",
                                "dst": "127.0.0.1", "sport": 1, "dport": 2}
    assert reqs[1]["dir"] == "reply" and reqs[1]["zone"] == 3
    assert "ct_id" not in reqs[1] and "type" not in reqs[1]
    with pytest.raises(ctstreamd.NotFound):
        cl.get(ct_id=1)
    with pytest.raises(ctstreamd.TooLarge):
        cl.ping()
    with pytest.raises(ctstreamd.CtstreamdError) as ei:
        cl.ping()
    assert type(ei.value) is ctstreamd.CtstreamdError
    assert ei.value.code == "some_new_code"
    with pytest.raises(ctstreamd.Timeout) as ei2:
        cl.ping()
    assert isinstance(ei2.value, TimeoutError)
    with pytest.raises(ctstreamd.DaemonUnavailable):
        cl.version()


def test_create_members(tmp):
    seen: List[Dict[str, Any]] = []

    def h(c: Conn) -> None:
        req = c.recv_request()
        seen.append(req)
        c.reply(req, {"changed": 1})

    Fake(os.path.join(tmp, "ctl"), [h, h])
    cl = client(tmp)
    t = {"proto": "tcp", "src": "10.0.0.1", "dst": "10.0.0.2", "sport": 1, "dport": 2}
    assert cl.create(t, timeout=30, state="ESTABLISHED", status=["ASSURED"],
                     labels=(1, 5)) == {"changed": 1}
    assert cl.create(t, type="expect", master=t, helper="ftp", class_=0,
                     flags=["PERMANENT"]) == {"changed": 1}
    a, b = seen
    assert a == {"cmd": "create", "id": a["id"], "tuple": t, "timeout": 30,
                 "state": "ESTABLISHED", "status": ["ASSURED"], "labels": [1, 5]}
    assert b["type"] == "expect" and b["master"] == t and b["class"] == 0
    assert b["flags"] == ["PERMANENT"] and "timeout" not in b


def test_request_tuple():
    e = {"type": "ct", "event": "new", "family": "ipv6", "proto": "icmpv6",
         "orig": {"src": "::1", "dst": "::1", "icmp_type": 128, "icmp_code": 0,
                  "icmp_id": 7, "packets": 1, "bytes": 64},
         "reply": {"src": "::1", "dst": "::1", "icmp_type": 129, "icmp_code": 0,
                   "icmp_id": 7}}
    assert ctstreamd.request_tuple(e) == {
        "family": "ipv6", "proto": "icmpv6", "src": "::1", "dst": "::1",
        "icmp_type": 128, "icmp_code": 0, "icmp_id": 7}
    assert ctstreamd.request_tuple(e, "reply")["icmp_type"] == 129
    with pytest.raises(ValueError):
        ctstreamd.request_tuple(e, "master")


# ---------------------------------------------------------------------------
# ConntrackTable


def test_table_live_events():
    t = ConntrackTable()
    t.apply(ev(1, "new", 1))
    t.apply(ev(2, "update", 1, mark=3))
    t.apply(ev(3, "update", 2))                 # unknown id: inserted
    t.apply({"type": "expect", "event": "new", "seq": 4, "id": 1})
    t.apply({"type": "whatever"})
    assert set(t) == {1, 2} and t[1]["mark"] == 3 and len(t) == 2
    t.apply(ev(5, "destroy", 2))
    t.apply({"type": "ct", "event": "destroy", "seq": 6, "time": "t",
             "resync": True, "id": 1})          # id only
    assert len(t) == 0 and t.last_seq == 6 and not t.complete


def test_table_snapshot_replaces_and_dedups():
    t = ConntrackTable()
    t.apply(ev(1, "new", 9))                    # stale: not in the snapshot
    t.apply(ev(2, "snapshot", 1))
    assert t.loading and set(t) == {9}
    t.apply(ev(3, "snapshot", 2))
    t.apply({"type": "sync", "entries": 2, "time": "t"})
    assert set(t) == {1, 2} and t.complete and t.syncs == 1 and not t.loading
    # Held events after the marker: an entry seen in the snapshot and
    # changed meanwhile, one destroyed, one new.
    t.apply(ev(4, "update", 1, mark=1))
    t.apply(ev(5, "destroy", 2))
    t.apply(ev(6, "new", 3))
    assert set(t) == {1, 3} and t[1]["mark"] == 1 and t.complete


def test_table_losses_and_gap():
    t = ConntrackTable()
    t.apply({"type": "sync", "entries": 0, "time": "t"})
    assert t.complete and len(t) == 0
    t.apply({"type": "overrun", "lost": 5, "seq": 1, "time": "t"})
    assert not t.complete and t.losses == 1
    t.apply({"type": "sync", "entries": 0, "time": "t"})
    t.apply({"type": "lost", "count": 1, "first_seq": 2, "last_seq": 2, "time": "t"})
    assert not t.complete and t.last_loss["type"] == "lost"
    t.apply(ev(3, "new", 1))
    t.apply(ev(4, "snapshot", 7))               # a snapshot cut short ...
    t.apply({"type": "gap", "reason": "eof", "since_seq": 4,
             "reconnected_at": "t"})
    assert not t.loading and set(t) == {1}      # ... is dropped
    t.apply(ev(1, "snapshot", 8))
    t.apply({"type": "sync", "entries": 1, "time": "t",
             "error": {"code": "kernel_error", "message": "x"}})
    assert set(t) == {8} and not t.complete


def test_close_from_another_thread_ends_iteration(tmp):
    def h(c: Conn) -> None:
        c.send(ev(1))
        time.sleep(3)

    Fake(os.path.join(tmp, "ev"), [h])
    st = client(tmp).events(reconnect=True)
    assert next(st)["seq"] == 1
    threading.Timer(0.3, st.close).start()
    t0 = time.monotonic()
    assert list(st) == []
    assert time.monotonic() - t0 < 2 and st.ended
