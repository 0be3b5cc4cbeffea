"""Reconnection across daemon restarts, and ConntrackTable kept from a
live stream converging to the kernel's table."""

from __future__ import annotations

import re
import threading
import time

import ctstreamd
from conftest import collect, drain, needs_kernel_queries, port, wait_for

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _new_udp(flowport):
    return lambda ev: (ev.get("type") == "ct" and ev.get("event") == "new"
                       and ev.get("orig", {}).get("dport") == flowport)


def test_reconnect_across_restart(make_daemon, netns):
    d = make_daemon()
    c = d.client(timeout=5)
    p1, p2, p3 = port(), port(), port()
    with c.events(filter={"proto": "udp", "dport": [p1, p2, p3]}, reconnect=True,
                  backoff=0.05, max_backoff=0.4) as st:
        netns.traffic(udp=1, udp_port=p1)
        collect(st, _new_udp(p1))
        drain(st)                                   # its update, too
        last = st.last_seq
        assert last is not None
        d.stop()
        netns.traffic(udp=1, udp_port=p2)          # nobody sees this one
        restart = threading.Timer(0.7, d.start)     # down for a while
        restart.start()
        try:
            t0 = time.monotonic()
            gap = st.poll(20)
            waited = time.monotonic() - t0
        finally:
            restart.join()
        assert gap is not None and gap["type"] == "gap", gap
        assert gap["reason"] == "eof"
        assert gap["since_seq"] == last
        assert RFC3339_US.match(gap["reconnected_at"])
        assert waited >= 0.5                        # retried with backoff
        assert st.connections == 2 and d.starts == 2
        netns.traffic(udp=1, udp_port=p3)
        after = collect(st, _new_udp(p3))
        assert not any(ev.get("orig", {}).get("dport") == p2 for ev in after)
        assert all(ev["type"] != "gap" for ev in after)


def test_no_reconnect_ends_the_stream(make_daemon):
    d = make_daemon()
    st = d.client().events()
    d.stop()
    assert list(st) == []
    assert st.ended


def test_reconnect_with_snapshot_rebuilds_the_table(make_daemon, netns):
    d = make_daemon()
    c = d.client(timeout=5)
    needs_kernel_queries(c)
    pa, pb = port(), port()
    table = ctstreamd.ConntrackTable()
    with netns.traffic(tcp=1, hold=True, tcp_port=pa) as ta, \
            c.events(filter={"proto": "tcp", "dport": [pa, pb]}, snapshot=True,
                     reconnect=True, backoff=0.05, max_backoff=0.4) as st:
        for item in table.follow(st):
            if item["type"] == "sync":
                break
        a_id = netns.conntrack("-L", "-p", "tcp", "--dport", str(pa))[0]["id"]
        assert set(table) == {a_id} and table.complete
        d.stop()
        # While the daemon is away: A goes, B comes.
        netns.exec("conntrack", "-D", "-p", "tcp", "--dport", str(pa))
        with netns.traffic(tcp=1, hold=True, tcp_port=pb):
            b_id = netns.conntrack("-L", "-p", "tcp", "--dport", str(pb))[0]["id"]
            d.start()
            items = []
            for item in table.follow(st):
                items.append(item)
                if item["type"] == "sync":
                    break
            assert items[0]["type"] == "gap"
            assert [i["event"] for i in items[1:-1]] == ["snapshot"]
            assert set(table) == {b_id} and table.complete
            assert table.losses == 1 and table.last_loss["type"] == "gap"
        ta.close()


def _converged(table, st, netns):
    for item in drain(st, quiet=0.2, limit=2):
        table.apply(item)
    return set(table) == netns.conntrack_ids()


def test_conntrack_table_converges(netns, client):
    needs_kernel_queries(client)
    netns.flush()
    table = ctstreamd.ConntrackTable()
    with netns.traffic(tcp=2, udp=2, hold=True, tcp_port=port(), udp_port=port()) as pre, \
            client.events(snapshot=True) as st:
        for item in table.follow(st):
            if item["type"] == "sync":
                break
        assert table.complete and len(table) == 4
        assert set(table) == netns.conntrack_ids()
        netns.traffic(tcp=3, udp=3, tcp_port=port(), udp_port=port())
        with netns.traffic(tcp=1, hold=True, tcp_port=port()):
            netns.exec("conntrack", "-D", "-p", "udp", "--dport",
                       str(pre.info["udp_port"]))
            wait_for(lambda: _converged(table, st, netns), timeout=15,
                     what="the table to match conntrack -L")
            cli = {e["id"]: e for e in netns.conntrack("-L")}
            assert len(table) == len(cli) == 2 + 6 + 1
            for ct_id, ev in table.items():
                c = cli[ct_id]
                assert ev["proto"] == c["proto"]
                for k in ("src", "dst", "sport", "dport"):
                    assert ev["orig"][k] == c["orig"][k]
                    assert ev["reply"][k] == c["reply"][k]
        assert table.complete


def test_conntrack_table_after_overrun_and_resync(make_daemon, netns):
    # A tiny receive buffer, and the daemon stopped while a flush
    # destroys hundreds of entries: the kernel drops events, the daemon
    # writes an overrun line, resyncs, and reports the vanished entries
    # as destroy lines with nothing but their id.
    d = make_daemon("--rcvbuf", "4096", "--rcvbuf-max", "4096")
    c = d.client()
    needs_kernel_queries(c)
    netns.flush()
    table = ctstreamd.ConntrackTable()
    seen = []
    with c.events(snapshot=True) as st:
        for item in table.follow(st):
            if item["type"] == "sync":
                break
        with netns.traffic(udp=150, hold=True, udp_port=port()):
            wait_for(lambda: _converged(table, st, netns), timeout=15,
                     what="150 flows in the table")
            d.pause()
            try:
                netns.flush()
                more = netns.traffic(udp=20, hold=True, udp_port=port())
            finally:
                d.resume()

            def done():
                items = drain(st, quiet=0.3, limit=2)
                seen.extend(items)
                for item in items:
                    table.apply(item)
                return (any(i["type"] == "overrun" for i in seen)
                        and set(table) == netns.conntrack_ids())

            try:
                wait_for(done, timeout=20, what="resync to repair the table")
            finally:
                more.close()
    overruns = [i for i in seen if i["type"] == "overrun"]
    assert overruns and overruns[0]["lost"] > 0
    idonly = [i for i in seen if i.get("resync") and i.get("event") == "destroy"]
    assert idonly, "no resync destroy lines"
    assert set(idonly[0]) <= {"type", "event", "seq", "time", "resync", "id"}
    assert not table.complete and table.last_loss["type"] == "overrun"
    assert len(table) == 20
