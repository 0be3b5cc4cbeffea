"""The control socket against a live daemon: queries, errors, privileged
changes."""

from __future__ import annotations

import json
import os
import socket

import pytest

import ctstreamd
from conftest import collect, needs_kernel_queries, port, wait_for


def test_ping_version_help_diagnose(client, netns):
    pong = client.ping()
    assert pong["pong"] is True and pong["time"].endswith("Z")
    v = client.version()
    assert v["schema"] == 1 and isinstance(v["version"], str)
    cmds = {c["cmd"]: c for c in client.help()}
    for name in ("get", "dump", "stats", "delete", "update", "flush", "create"):
        assert name in cmds
    assert cmds["delete"]["privileged"] and not cmds["get"]["privileged"]
    d = client.diagnose()
    assert d["netns"] == netns.name
    assert d["nf_conntrack_events"] == 1        # --set-events-sysctl
    assert d["nf_conntrack_acct"] == 1          # --enable-acct
    assert isinstance(d["findings"], list)


def test_get_live_tcp_flow(netns, client):
    needs_kernel_queries(client)
    with netns.traffic(tcp=1, hold=True, tcp_port=port()) as t:
        f = t.tcp[0]
        ev = client.get(f)
        cli = netns.conntrack("-G", "-p", "tcp", "-s", f["src"], "-d", f["dst"],
                              "--sport", str(f["sport"]), "--dport", str(f["dport"]))
        assert len(cli) == 1
        c = cli[0]
        assert ev["type"] == "ct" and ev["event"] == "get"
        assert ev["id"] == c["id"]
        assert ev["proto"] == c["proto"] == "tcp"
        assert ev["state"] == c["state"] == "ESTABLISHED"
        for d in ("orig", "reply"):
            for k in ("src", "dst", "sport", "dport", "packets", "bytes"):
                assert ev[d][k] == c[d][k], (d, k)
        assert ev.get("mark", 0) == c["mark"]
        assert ("ASSURED" in ev["status"]) == ("ASSURED" in c["flags"])
        assert abs(ev["timeout"] - c["timeout"]) <= 2
        # The same entry by id, by its reply tuple, and from its own line.
        assert client.get(ct_id=ev["id"])["id"] == ev["id"]
        rt = ctstreamd.request_tuple(ev, "reply")
        assert client.get(rt, dir="reply")["id"] == ev["id"]
        assert client.get(ctstreamd.request_tuple(ev))["id"] == ev["id"]


def test_get_not_found(netns, client):
    needs_kernel_queries(client)
    with pytest.raises(ctstreamd.NotFound) as ei:
        client.get({"proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1",
                    "sport": 1, "dport": 1})
    assert ei.value.code == "not_found"
    assert isinstance(ei.value, ctstreamd.CtstreamdError)
    unused = 1
    while unused in netns.conntrack_ids():
        unused += 1
    with pytest.raises(ctstreamd.NotFound) as ei:
        client.get(ct_id=unused)
    assert str(unused) in ei.value.message


def test_dump_matches_conntrack_list(netns, client):
    needs_kernel_queries(client)
    netns.flush()
    with netns.traffic(tcp=3, udp=2, hold=True, tcp_port=port(), udp_port=port()):
        with client.dump() as d:
            entries = list(d)
        cli = netns.conntrack("-L")
        assert d.count == len(entries) == len(cli) >= 5
        assert {e["id"] for e in entries} == {c["id"] for c in cli}
        assert all(e["type"] == "ct" and e["event"] == "dump" for e in entries)
        udp = client.dump(filter={"proto": "udp"})
        n = sum(1 for _ in udp)
        assert udp.count == n == len(netns.conntrack("-L", "-p", "udp"))
        exp = client.dump(table="expect")
        assert list(exp) == [] and exp.count == 0


def test_stats(client, daemon):
    with client.events():
        s = client.stats()
    dm, k = s["daemon"], s["kernel"]
    for key in ("uptime", "events", "lines", "undecodable", "netlink_messages",
                "overruns", "kernel_drops", "clients", "subscribers",
                "subscriber_list", "namespaces"):
        assert key in dm, key
    # One entry per namespace watched; this daemon watches only its own.
    assert len(dm["namespaces"]) == 1
    ns = dm["namespaces"][0]
    for key in ("netns", "rcvbuf", "overruns", "kernel_drops", "resync"):
        assert key in ns, key
    assert ns["rcvbuf"] > 0
    assert dm["overruns"] == ns["overruns"]
    assert set(dm["events"]) == {"ct", "expect"}
    assert set(dm["events"]["ct"]) == {"new", "update", "destroy"}
    subs = dm["subscriber_list"]
    assert any(x["socket"] == "events" and x["active"] for x in subs)
    assert any(x["socket"] == "control" for x in subs)
    for key in ("entries", "max_entries", "cpus", "cpu_sum"):
        assert key in k, key
    if "error" in k:
        needs_kernel_queries(client)
    assert k["cpus"] >= 1 and k["max_entries"] > 0


def test_error_mapping(client, daemon):
    with pytest.raises(ctstreamd.BadFilter):
        client.dump(filter={"dport": 70000})
    with pytest.raises(ctstreamd.UnknownCommand):
        client.request("nosuchcommand")
    with pytest.raises(ctstreamd.UnknownCommand) as ei:
        client.request("subscribe")            # events socket only
    assert "control socket" in ei.value.message
    with pytest.raises(ctstreamd.BadRequest) as ei:
        client.get({"proto": "tcp", "src": "127.0.0.1", "sport": 1, "dport": 2})
    assert "dst" in ei.value.message
    with pytest.raises(ctstreamd.BadRequest):
        client.request("ping", bogus=1)
    with pytest.raises(ctstreamd.BadRequest):
        client.update({"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
                       "sport": 1, "dport": 2})     # neither mark nor labels
    with pytest.raises(ctstreamd.BadRequest):
        client.flush()                          # neither filter nor all
    # A line over --max-line (64K): too_large, a reply without an id.
    with pytest.raises(ctstreamd.TooLarge):
        client.request("ping", pad="x" * 70000)
    # What the library never sends: invalid JSON.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(daemon.control_path)
    s.sendall(b"{nope\n")
    s.shutdown(socket.SHUT_WR)
    line = s.makefile("rb").readline()
    s.close()
    err = ctstreamd.error_from_reply(json.loads(line))
    assert isinstance(err, ctstreamd.BadJson) and err.code == "bad_json"
    # No daemon there.
    c = ctstreamd.Client(daemon.events_path + ".none", daemon.control_path + ".none")
    with pytest.raises(ctstreamd.DaemonUnavailable) as ei:
        c.ping()
    assert isinstance(ei.value, ConnectionError)
    with pytest.raises(ctstreamd.DaemonUnavailable):
        c.events()


def _as_nobody(fn):
    """Run fn() in a child process as user nobody; return what it says."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                out = {"ok": fn()}
            except ctstreamd.CtstreamdError as e:
                out = {"error": e.code, "class": type(e).__name__}
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def test_denied_for_unprivileged_user(daemon):
    c = daemon.client()
    tup = {"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
           "sport": 1, "dport": 2}
    assert _as_nobody(lambda: c.delete(tup)) == {"error": "denied", "class": "Denied"}
    assert _as_nobody(lambda: c.update(tup, mark=1))["class"] == "Denied"
    assert _as_nobody(lambda: c.flush(all=True))["class"] == "Denied"
    assert _as_nobody(lambda: c.create(tup, timeout=5))["class"] == "Denied"
    # Reading is for everybody who can reach the socket.
    assert _as_nobody(lambda: c.ping()["pong"]) == {"ok": True}


def test_update_and_delete_as_root(netns, client):
    needs_kernel_queries(client)
    tp = port()
    with netns.traffic(tcp=2, hold=True, tcp_port=tp) as t:
        f1, f2 = t.tcp
        with client.events(filter={"proto": "tcp", "dport": tp}) as st:
            assert client.update(f1, mark=42) == {"changed": 1}
            c = netns.conntrack("-G", "-p", "tcp", "-s", f1["src"], "-d", f1["dst"],
                                "--sport", str(f1["sport"]), "--dport", str(tp))[0]
            assert c["mark"] == 42
            ev = client.get(f1)
            assert ev["mark"] == 42
            seen = collect(st, lambda e: e.get("id") == ev["id"] and e.get("mark") == 42)
            assert seen[-1]["event"] == "update"

            id2 = client.get(f2)["id"]
            assert client.update(ct_id=id2, mark=7) == {"changed": 1}
            assert client.get(ct_id=id2)["mark"] == 7

            assert client.delete(f1) == {"changed": 1}
            with pytest.raises(ctstreamd.NotFound):
                client.get(f1)
            r = netns.exec("conntrack", "-G", "-p", "tcp", "-s", f1["src"],
                           "-d", f1["dst"], "--sport", str(f1["sport"]),
                           "--dport", str(tp), check=False)
            assert r.returncode != 0
            collect(st, lambda e: e.get("id") == ev["id"] and e.get("event") == "destroy")

            assert client.delete(ct_id=id2) == {"changed": 1}
            collect(st, lambda e: e.get("id") == id2 and e.get("event") == "destroy")
            with pytest.raises(ctstreamd.NotFound):
                client.delete(f1)
            with pytest.raises(ctstreamd.NotFound):
                client.delete(ct_id=id2)


def test_flush_and_create_as_root(netns, client):
    needs_kernel_queries(client)
    up = port()
    with netns.traffic(udp=3, hold=True, udp_port=up):
        res = client.flush(filter={"proto": "udp", "dport": up})
        assert res == {"matched": 3, "deleted": 3, "gone": 0, "failed": 0}
        assert netns.conntrack("-L", "-p", "udp", "--dport", str(up)) == []
    tup = {"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
           "sport": port(), "dport": port()}
    assert client.create(tup, timeout=60, mark=5) == {"changed": 1}
    c = netns.conntrack("-G", "-p", "udp", "-s", tup["src"], "-d", tup["dst"],
                        "--sport", str(tup["sport"]), "--dport", str(tup["dport"]))
    assert len(c) == 1 and c[0]["mark"] == 5
    assert c[0]["reply"]["sport"] == tup["dport"]      # reply tuple inverted
    with pytest.raises(ctstreamd.Exists) as ei:
        client.create(tup, timeout=60)
    assert ei.value.code == "exists"
    got = client.get(tup)
    assert got["id"] == c[0]["id"] and got["mark"] == 5
    assert client.flush(all=True) == {"changed": 1}
    wait_for(lambda: netns.conntrack("-L") == [], what="an empty table")
