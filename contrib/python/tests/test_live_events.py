"""The events socket against a live daemon: plain stream, filters,
snapshot and sync marker, counters in destroy events."""

from __future__ import annotations

from collections import Counter

import ctstreamd
from conftest import (collect, drain, needs_kernel_queries, port)


def _is(ev, kind, flow):
    return (ev.get("type") == "ct" and ev.get("event") == kind
            and ev.get("proto") == flow["proto"]
            and ev.get("orig", {}).get("sport") == flow["sport"]
            and ev.get("orig", {}).get("dport") == flow["dport"])


def test_events_without_filter(netns, client):
    with client.events() as st:
        t = netns.traffic(tcp=1, udp=1, tcp_port=port(), udp_port=port())
        tcp, udp = t.tcp[0], t.udp[0]
        seen = collect(st, lambda ev: _is(ev, "new", udp))
        # TCP came first: its new event and the handshake's updates.
        new_tcp = [ev for ev in seen if _is(ev, "new", tcp)]
        assert len(new_tcp) == 1
        ev = new_tcp[0]
        assert ev["family"] == "ipv4" and ev["protonum"] == 6
        assert ev["orig"]["src"] == ev["orig"]["dst"] == "127.0.0.1"
        assert ev["reply"]["sport"] == tcp["dport"]
        assert ev["reply"]["dport"] == tcp["sport"]
        assert ev["state"] == "SYN_SENT" and "CONFIRMED" in ev["status"]
        assert isinstance(ev["id"], int)
        assert any(e.get("id") == ev["id"] and e.get("state") == "ESTABLISHED"
                   for e in seen)
        new_udp = seen[-1]
        assert new_udp["protonum"] == 17 and "state" not in new_udp
        # Every numbered line, in increasing order; no subscribe was sent.
        seqs = [e["seq"] for e in seen]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert st.last_seq == seqs[-1]
        assert st.skipped == 0 and st.connections == 1


def test_events_with_filter(netns, client):
    up1, up2, tp = port(), port(), port()
    filt = {"proto": "udp", "port": [up1, up2], "not": {"dport": up1}}
    with client.events(filter=filt) as st:
        netns.traffic(tcp=1, tcp_port=tp)
        netns.traffic(udp=2, udp_port=up1)
        t2 = netns.traffic(udp=2, udp_port=up2)
        collect(st, lambda ev: _is(ev, "new", t2.udp[1]))
        items = drain(st, quiet=0.5)
    # Only UDP to up2, from both flows, nothing else.
    seen = [ev for ev in items if ev["type"] == "ct"]
    assert all(ev["proto"] == "udp" and ev["orig"]["dport"] == up2 for ev in seen)


def test_events_filter_on_kind(netns, client):
    tp = port()
    with netns.traffic(tcp=1, hold=True, tcp_port=tp) as t:
        flow = t.tcp[0]
        with client.events(filter={"events": "destroy", "proto": "tcp",
                                   "dport": tp}) as st:
            netns.exec("conntrack", "-D", "-p", "tcp", "--dport", str(tp))
            seen = collect(st, lambda ev: _is(ev, "destroy", flow))
    assert all(ev.get("event") == "destroy" for ev in seen if ev["type"] == "ct")
    # --enable-acct: the destroy event carries the counters.
    d = seen[-1]
    assert d["orig"]["packets"] >= 3 and d["reply"]["packets"] >= 2
    assert d["orig"]["bytes"] > 0


def test_snapshot_then_stream(netns, client):
    needs_kernel_queries(client)
    tp, tp2 = port(), port()
    with netns.traffic(tcp=2, hold=True, tcp_port=tp) as t:
        ids = {e["id"] for e in netns.conntrack("-L", "-p", "tcp", "--dport", str(tp))}
        assert len(ids) == 2
        with client.events(filter={"proto": "tcp", "dport": [tp, tp2]},
                           snapshot=True) as st:
            before = collect(st, lambda ev: ev["type"] == "sync")
            sync = before.pop()
            assert [ev["event"] for ev in before] == ["snapshot"] * len(before)
            assert {ev["id"] for ev in before} == ids
            assert sync["entries"] == len(before) == 2
            assert isinstance(sync["time"], str) and "error" not in sync
            snap_sports = {ev["orig"]["sport"] for ev in before}
            assert snap_sports == {f["sport"] for f in t.tcp}
            # Live events after the marker.
            t2 = netns.traffic(tcp=1, tcp_port=tp2)
            after = collect(st, lambda ev: _is(ev, "new", t2.tcp[0]))
            assert all(ev.get("event") != "snapshot" for ev in after)


def test_top_talkers_from_destroy_counters(netns, client):
    tp = port()
    sizes = [1000, 20000, 5000]
    with client.events(filter={"events": "destroy", "proto": "tcp", "dport": tp}) as st:
        sports = {}
        for n in sizes:
            t = netns.traffic(tcp=1, tcp_port=tp, payload=n)
            sports[t.tcp[0]["sport"]] = n
        netns.exec("conntrack", "-D", "-p", "tcp", "--dport", str(tp))
        talkers: Counter = Counter()
        done = set()

        def last(ev):
            if ev.get("type") == "ct" and ev.get("event") == "destroy":
                sp = ev["orig"]["sport"]
                talkers[sp] += ev["orig"]["bytes"] + ev["reply"]["bytes"]
                done.add(sp)
            return done == set(sports)

        collect(st, last)
    ranking = [sp for sp, _ in talkers.most_common()]
    assert ranking == sorted(sports, key=lambda sp: -sports[sp])
    for sp, n in sports.items():
        assert talkers[sp] > n


def test_bad_filter_raises_at_once(client):
    try:
        client.events(filter={"proto": "nosuchproto"})
    except ctstreamd.BadFilter as e:
        assert e.code == "bad_filter"
        assert "filter.proto" in e.message
        assert e.reply is not None and e.reply["ok"] is False
    else:
        raise AssertionError("no BadFilter")
