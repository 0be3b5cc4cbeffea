#!/usr/bin/env python3
"""
test_subscribers.py - ctstreamd's events socket against the real kernel.

Every case makes a namespace of its own, starts the daemon on it with its
sockets in a temporary directory, connects clients to the events socket,
makes traffic in the namespace and compares what each client received
with conntrack -E, run in the same namespace at the same time: filters
(each client gets exactly the events its filter selects, computed in
Python from conntrack's lines), the default of receiving everything (also
through socat and jq, as the README shows), subscribe/unsubscribe/ping,
snapshot-then-stream under traffic, slow readers (watermarks, lost lines,
policy disconnect), the client limit, request line limits, and the socket
file itself.

Every line a client reads is checked by the harness (ctsd.Client): one
compact JSON object per line, events validated against the schema, live
lines in increasing order of seq.

Needs root; exits 77 otherwise.  Run one case: test_subscribers.py NAME...
"""

import ipaddress
import json
import os
import re
import shlex
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq                          # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# Long UDP timeouts: nothing expires while a case runs, so the table only
# changes when the case changes it.
# nf_conntrack_events 1: entries loaded before the daemon starts (the
# snapshot tests) must send their DESTROY events too; with the kernel's
# default of 2 an entry created while nobody listened sends none.
SYSCTLS = {
    "net.netfilter.nf_conntrack_events": 1,
    "net.netfilter.nf_conntrack_udp_timeout": 600,
    "net.netfilter.nf_conntrack_udp_timeout_stream": 600,
}
ADDRS = ["10.77.0.1/24", "10.77.0.2/24"]
PORT_PROTOS = ("tcp", "udp", "udplite", "sctp", "dccp", "gre")
FTP_RULES = ctsd.TRACK_ALL + """
table inet ctsd_ftp {
	ct helper ftp-std {
		type "ftp" protocol tcp;
	}
	chain out {
		type filter hook output priority filter; policy accept;
		tcp dport 21 ct helper set "ftp-std"
	}
}
"""


# ---------------------------------------------------------------------------
# Traffic, run inside the namespace

def mixed_traffic():
    """TCP, UDP (with and without replies, IPv4 and IPv6) and ICMP, between
    loopback and the addresses of ctsd0: something for every filter of
    three_filters to take and to leave."""
    ctsd.tcp_flow("127.0.0.1", 5003)
    ctsd.tcp_flow("10.77.0.2", 5005, bind_addr="10.77.0.1")
    ctsd.tcp_flow("10.77.0.2", 6000, bind_addr="10.77.0.1")
    ctsd.udp_exchange("10.77.0.2", 5001, bind_addr="10.77.0.1")
    ctsd.udp_exchange("127.0.0.1", 5002)
    ctsd.udp_exchange("::1", 5004, replies=())
    ctsd.udp_exchange("10.77.0.2", 5010, replies=(), bind_addr="10.77.0.1")
    ctsd.ping("10.77.0.2", 4242)
    return True


def ftp_port_only(dport, addr="127.0.0.1", port=21):
    """An FTP control connection announcing data port dport with PORT,
    then closed: the helper's expectation stays (its master lingers in
    TIME_WAIT)."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    ctl = socket.create_connection((addr, port), timeout=5)
    sc, _ = srv.accept()
    sc.settimeout(5)
    sc.sendall(b"220 ctsd fake ftp\r\n")
    ctsd._ftp_reply(ctl, b"220")
    ctl.sendall(b"USER anonymous\r\n")
    ctsd._ftp_reply(sc, b"USER")
    sc.sendall(b"230 logged in\r\n")
    ctsd._ftp_reply(ctl, b"230")
    ctl.sendall(("PORT %s,%d,%d\r\n" % (addr.replace(".", ","), dport >> 8,
                                        dport & 0xff)).encode())
    ctsd._ftp_reply(sc, b"PORT")
    sc.sendall(b"200 PORT ok\r\n")
    ctsd._ftp_reply(ctl, b"200")
    r = ctsd._sockname(ctl)
    ctl.close()
    sc.close()
    srv.close()
    return r


def udp_spray_steps(addr, first_port):
    """UDP datagrams from one socket to consecutive ports, each a new
    conntrack entry (a NEW event): for every line "N" read from standard
    input, N more; reports the total after each."""
    s = socket.socket(ctsd._family(addr), socket.SOCK_DGRAM)
    port = first_port
    for line in sys.stdin:
        n = int(line)
        for p in range(port, port + n):
            s.sendto(b"x", (addr, p))
        port += n
        ctsd.report({"sent": port - first_port})
    r = {"sent": port - first_port, "client": ctsd._sockname(s)}
    s.close()
    return r


def udp_churn(server_port, churn_src_prefix):
    """Until told to stop: UDP flows to server_port with replies (NEW and
    UPDATE events), and now and then the deletion of one of the entries
    of conntrack -R (DESTROY events).  Reports once it is going."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", server_port))
    srv.settimeout(5)
    flows = deletes = 0
    while not ctsd.stop_requested():
        for _ in range(20):
            c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            c.settimeout(5)
            c.sendto(b"q", ("127.0.0.1", server_port))
            data, peer = srv.recvfrom(100)
            srv.sendto(b"r", peer)
            c.recv(100)
            c.close()
            flows += 1
        deletes += 1
        subprocess.run(["conntrack", "-D", "-p", "udp", "-s",
                        "%s.%d" % (churn_src_prefix, deletes)],
                       capture_output=True)
        if flows == 20:
            ctsd.report({"started": True})
        time.sleep(0.005)       # leave the daemon and the test some CPU
    srv.close()
    return {"flows": flows, "deletes": deletes}


# ---------------------------------------------------------------------------
# Helpers

def start(ns, args=(), allow=(), stdout=False):
    """A daemon on ns with its sockets in a temporary directory."""
    return ctsd.Daemon(ns, list(args), stdout=stdout, sockets=True,
                       allow_stderr=allow)


def in_net(addr, net):
    a = ipaddress.ip_address(addr)
    n = ipaddress.ip_network(net)
    return a.version == n.version and a in n


def tuples(p):
    return (p["orig"], p["reply"])


def f_udp(p):
    """{"proto":"udp"}"""
    return p["proto"] == "udp"


def f_dst_dport(p):
    """{"dst":"10.77.0.0/24","dport":"5000-5010"}: either tuple's
    destination in the network, and either tuple's destination port in
    the range (only protocols with ports)."""
    dst = any(in_net(t["dst"], "10.77.0.0/24") for t in tuples(p))
    dport = p["proto"] in PORT_PROTOS and \
        any(5000 <= t.get("dport", -1) <= 5010 for t in tuples(p))
    return dst and dport


def f_not_seen_reply(p):
    """{"not":{"status":"SEEN_REPLY"}}: conntrack writes [UNREPLIED]
    exactly when SEEN_REPLY is not set."""
    return p["unreplied"]


def kind_ids(parsed, pred=lambda p: True):
    return [(p["kind"], p["id"]) for p in parsed if pred(p)]


def marker(ns, truth, port=5999, kind="update"):
    """A last UDP exchange: returns its parsed conntrack -E line of kind
    once conntrack -E saw it."""
    r = ns.call(ctsd.udp_exchange, "127.0.0.1", port)

    def seen(_):
        return find_flow(truth.parsed(), "udp", port, r["client"][1], kind)
    truth.wait_for(seen)
    m = seen(None)
    check(m is not None, "conntrack -E did not see the %s of the marker "
          "flow to port %d" % (kind, port))
    return m


def find_flow(parsed, proto, dport, sport=None, kind=None):
    for p in parsed:
        if p["proto"] == proto and p["orig"].get("dport") == dport and \
                (sport is None or p["orig"].get("sport") == sport) and \
                (kind is None or p["kind"] == kind):
            return p
    return None


def wait_event(client, kind, ident, what, timeout=10):
    return client.wait_line(
        lambda l: l.get("event") == kind and l.get("id") == ident,
        what, timeout)


def sync_ping(client, rid):
    """Ping and wait for the answer: every line queued for the client
    before the ping has then been read."""
    client.send({"cmd": "ping", "id": rid})
    return client.reply_to(rid)


def subscriber_stats(d):
    r = ctsd.control_of(d, "stats")
    check(r["ok"], "stats: %r" % r)
    return [s for s in r["result"]["daemon"]["subscriber_list"]
            if s["socket"] == "events"]


# ---------------------------------------------------------------------------

@case
def three_filters():
    """Three clients subscribed with different filters ({"proto":"udp"};
    {"dst":"10.77.0.0/24","dport":"5000-5010"}; {"not":{"status":
    "SEEN_REPLY"}}) and one that sent nothing each receive exactly the
    (event, id) list of conntrack -E filtered by the same rule in
    Python, in order."""
    filters = [({"proto": "udp"}, f_udp),
               ({"dst": "10.77.0.0/24", "dport": "5000-5010"}, f_dst_dport),
               ({"not": {"status": "SEEN_REPLY"}}, f_not_seen_reply)]
    with ctsd.Netns(sysctls=SYSCTLS, addrs=ADDRS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            start(ns) as d, \
            ctsd.Client(d.events_path, name="all") as everything:
        clients = []
        for i, (f, _) in enumerate(filters):
            c = ctsd.Client(d.events_path, name="filter%d" % i)
            clients.append(c)
            r = c.request("subscribe", filter=f)
            check_eq(r.get("ok"), True, "subscribe %r: %r" % (f, r))
            check_eq(r.get("result"), {"snapshot": False},
                     "subscribe %r: result" % f)
        ctsd.wait_clients(d, events=4)
        ns.call(mixed_traffic)
        ns.conntrack("-F")
        m = marker(ns, truth)
        wait_event(everything, "update", m["id"], "the marker's update")
        parsed = truth.parsed()
        # Everything that conntrack -E saw up to the marker, nothing more.
        check_eq(everything.kind_ids(), kind_ids(parsed),
                 "the client that sent nothing vs conntrack -E")
        for i, (c, (f, pred)) in enumerate(zip(clients, filters)):
            sync_ping(c, "sync-%d" % i)
            want = kind_ids(parsed, pred)
            check(len(want) >= 2, "filter %r selects too little of the "
                  "traffic to be a test: %r" % (f, want))
            check(len(want) < len(parsed), "filter %r selects everything"
                  % f)
            check_eq(c.kind_ids(), want, "events of the client with filter "
                     "%s vs conntrack -E filtered alike" % json.dumps(f))
            c.raise_errors()
            c.close()
        everything.raise_errors()
        kinds = {p["kind"] for p in parsed}
        check(kinds == {"new", "update", "destroy"}, "conntrack -E saw "
              "only %r" % kinds)


def pipeline_cleanup(p):
    def kill():
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return kill


@case
def default_everything_and_socat_jq():
    """A client that sends nothing receives every event conntrack -E
    sees; so does `socat -u UNIX-CONNECT:PATH - | jq -c .`, run as such:
    its output lines are the same objects, valid and complete."""
    with ctsd.Netns(sysctls=SYSCTLS, addrs=ADDRS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth:
        d = start(ns)
        d.start()
        try:
            silent = ctsd.Client(d.events_path, name="silent")
            cmd = "socat -u UNIX-CONNECT:%s - | jq -c ." % \
                shlex.quote(d.events_path)
            pipe = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE,
                                    start_new_session=True)
            kill = pipeline_cleanup(pipe)
            ctsd.add_cleanup(kill)
            ctsd.wait_clients(d, events=2)
            ns.call(mixed_traffic)
            ns.conntrack("-F")
            m = marker(ns, truth)
            wait_event(silent, "update", m["id"], "the marker's update")
            want = kind_ids(truth.parsed())
            check_eq(silent.kind_ids(), want,
                     "the client that sent nothing vs conntrack -E")
            # Stopping the daemon ends socat, and jq then flushes.
            d.stop()
            try:
                out, err = pipe.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                kill()
                ctsd.fail("socat | jq did not end within 10s of the daemon")
            ctsd.remove_cleanup(kill)
            check_eq(pipe.returncode, 0, "socat | jq exit status (stderr "
                     "%r)" % err)
            lines = out.decode().splitlines()
            objs = [ctsd.check_socket_line((l + "\n").encode())
                    for l in lines]
            check_eq([(o["event"], o["id"]) for o in objs], want,
                     "socat | jq -c . output vs conntrack -E")
            check_eq(objs, silent.events(), "socat | jq -c . output vs the "
                     "lines the Python client read")
            silent.raise_errors()
            silent.close()
        finally:
            d._terminate()


@case
def subscribe_unsubscribe_ping():
    """subscribe replaces the filter; an invalid filter is refused with
    bad_filter naming the member and the old filter stays; unsubscribe
    stops the events and subscribe starts them again; ping answers;
    replies echo string and numeric ids, in order."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            start(ns) as d, \
            ctsd.Client(d.events_path, name="all") as everything, \
            ctsd.Client(d.events_path, name="sub") as c:
        # Phase 1: udp only.
        c.send({"cmd": "subscribe", "id": "s1", "filter": {"proto": "udp"}})
        r = c.reply_to("s1")
        check_eq(r, {"type": "reply", "id": "s1", "ok": True,
                     "result": {"snapshot": False}}, "subscribe reply")
        ctsd.wait_clients(d, events=2)
        ns.call(ctsd.tcp_flow, "127.0.0.1", 5000)
        ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
        m1 = marker(ns, truth, 5998)
        wait_event(c, "update", m1["id"], "phase 1 marker")
        p1 = truth.parsed()
        check_eq(c.kind_ids(), kind_ids(p1, f_udp),
                 "phase 1 ({\"proto\":\"udp\"}) vs conntrack -E")
        n1 = len(c.events())

        # Phase 2: tcp only; invalid filters change nothing.
        c.send({"cmd": "subscribe", "id": 42, "filter": {"proto": "tcp"}})
        check_eq(c.reply_to(42)["ok"], True, "subscribe tcp")
        bad = [({"proto": "tcp", "dport": "70000"}, "filter.dport"),
               ({"proto": "nosuch"}, "filter.proto"),
               ({"nosuch": 1}, "filter.nosuch"),
               ({"not": {"dst": "10.0.0.300/8"}}, "filter.not.dst"),
               ({"orig": {"sport": [1, "9-3"]}}, "filter.orig.sport"),
               ({"events": "snapshot"}, "filter.events"),
               ("tcp", "filter")]
        for i, (f, path) in enumerate(bad):
            rid = 4.5 + i
            c.send({"cmd": "subscribe", "id": rid, "filter": f})
            r = c.reply_to(rid)
            check_eq((r["ok"], r["error"]["code"]), (False, "bad_filter"),
                     "subscribe with filter %s" % json.dumps(f))
            check(r["error"]["message"].startswith(path + ":"),
                  "bad_filter for %s does not name %s: %r"
                  % (json.dumps(f), path, r["error"]["message"]))
        c.send({"cmd": "subscribe", "id": "snap", "snapshot": "yes"})
        check_eq(c.reply_to("snap")["error"]["code"], "bad_request",
                 "subscribe with snapshot \"yes\"")
        ns.call(ctsd.udp_exchange, "127.0.0.1", 5002)
        ns.call(ctsd.tcp_flow, "127.0.0.1", 5003)
        m2 = marker(ns, truth, 5997)
        wait_event(everything, "update", m2["id"], "phase 2 marker")
        sync_ping(c, "p2")
        p2 = truth.parsed()[len(p1):]
        check_eq(c.kind_ids()[n1:], kind_ids(p2, lambda p:
                                              p["proto"] == "tcp"),
                 "phase 2 ({\"proto\":\"tcp\"}, the invalid filters "
                 "refused) vs conntrack -E")
        check(any(p["proto"] == "tcp" for p in p2), "no tcp in phase 2")
        n2 = len(c.events())

        # Phase 3: unsubscribed, nothing comes.
        c.send({"cmd": "unsubscribe", "id": "u"})
        check_eq(c.reply_to("u"), {"type": "reply", "id": "u", "ok": True},
                 "unsubscribe reply")
        ns.call(ctsd.tcp_flow, "127.0.0.1", 5004)
        m3 = marker(ns, truth, 5996)
        wait_event(everything, "update", m3["id"], "phase 3 marker")
        pong = sync_ping(c, 99)
        check_eq(len(c.events()), n2, "events after unsubscribe (%r)"
                 % c.events()[n2:])
        check_eq(set(pong), {"type", "id", "ok", "result"}, "ping reply")
        check_eq(pong["result"].get("pong"), True, "ping result")
        t = ctsd.parse_time(pong["result"].get("time"), digits=6)
        check(abs(t - time.time_ns()) < 10 * 10**9, "ping time %s is not "
              "now" % pong["result"]["time"])
        p3_len = len(truth.parsed())

        # Phase 4: subscribe again without a filter: everything.
        c.send({"cmd": "subscribe", "id": -3})
        check_eq(c.reply_to(-3)["ok"], True, "subscribe without filter")
        ns.call(ctsd.tcp_flow, "127.0.0.1", 5005)
        m4 = marker(ns, truth, 5995)
        wait_event(c, "update", m4["id"], "phase 4 marker")
        check_eq(c.kind_ids()[n2:], kind_ids(truth.parsed()[p3_len:]),
                 "phase 4 (no filter) vs conntrack -E")

        # Ids of every kind come back as sent, replies in request order.
        ids = ["", "x" * 100, "\u00e9\u2603", 0, 7, -1, 2**53 + 1,
               2**63 - 1, 3.25, -0.5, 1e100]
        c.send(b"".join((json.dumps({"cmd": "ping", "id": i}) +
                         "\n").encode() for i in ids))
        c.wait_line(lambda l: l["type"] == "reply" and
                    l.get("id") == ids[-1],
                    "the replies to the pings with ids of every kind")
        got = [l["id"] for l in c.replies()[-len(ids):]]
        check_eq(got, ids, "ids echoed by ping replies")
        check_eq([type(i) for i in got], [type(i) for i in ids],
                 "JSON types of the echoed ids")
        # An id that is neither a string nor a number: no id in the reply.
        c.send(b'{"cmd":"ping","id":{"a":1}}\n{"cmd":"ping","id":[1]}\n'
               b'{"cmd":"ping","id":true}\n{"cmd":"ping","id":null}\n')
        sync_ping(c, "after-bad-ids")
        bad_ids = c.replies()[-5:-1]
        for r in bad_ids:
            check(r["ok"] is False and r["error"]["code"] == "bad_request"
                  and "id" not in r, "ping with an invalid id: %r" % r)
        c.raise_errors()
        everything.raise_errors()


def snapshot_load_file(tmp, n, src_prefix):
    """A conntrack -R file creating n UDP entries (600 s) from
    src_prefix.1 ... and from 10.2.x.y beyond 250."""
    path = os.path.join(tmp, "load")
    with open(path, "w") as f:
        for i in range(n):
            src = "%s.%d" % (src_prefix, i + 1) if i < 250 else \
                "10.2.%d.%d" % (i // 250, i % 250 + 1)
            f.write("-I -p udp -s %s -d 10.3.0.1 --sport 1000 --dport 2000 "
                    "-t 600\n" % src)
    return path


@case
def snapshot_then_stream_under_traffic():
    """subscribe with "snapshot":true while flows come and go: the reply,
    the snapshot lines, exactly one sync whose "entries" is their number,
    then live events only; some events happened during the snapshot; and
    applying the lines in order, keyed by id, gives exactly the entries
    conntrack -L lists at the end (same ids, same tuples)."""
    n = 3000
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(sysctls=SYSCTLS) as ns:
        ns.conntrack("-R", snapshot_load_file(tmp, n, "10.1.0"))
        with start(ns, ["--sub-hiwat", "64M", "--sub-lowat", "16M"]) as d, \
                ctsd.Client(d.events_path, name="snap") as c:
            gen = ns.spawn(udp_churn, 7000, "10.1.0")
            gen.wait_report(lambda r: r.get("started"))
            c.send({"cmd": "subscribe", "id": "s", "snapshot": True})
            sync = c.wait_line(lambda l: l["type"] == "sync",
                               "the sync line", timeout=30)
            # Let the traffic go on past the sync, then stop it.
            i = next(i for i, l in enumerate(c.lines) if l is sync)
            c.wait_for(lambda ls: len(ls) > i + 100,
                       "100 lines after the sync", timeout=20)
            res = gen.finish()
            check(res["deletes"] >= 2, "the flow generator deleted "
                  "nothing: %r" % res)
            final = ctsd.conntrack_list(ns)
            m = ns.call(ctsd.udp_exchange, "127.0.0.1", 5999)
            # Its port and the source port: the churn may have used the
            # same source port for a flow to 7000 before.
            mk = c.wait_line(lambda l: l.get("event") == "update" and
                             l["orig"].get("dport") == 5999 and
                             l["orig"].get("sport") == m["client"][1],
                             "the marker's update", timeout=20)
            lines = list(c.lines)
            c.raise_errors()

        # Connected, the client got the live stream until it subscribed.
        i_reply = next(i for i, l in enumerate(lines) if l["type"] ==
                       "reply")
        check_eq(lines[i_reply], {"type": "reply", "id": "s", "ok": True,
                                  "result": {"snapshot": True}},
                 "the reply to subscribe")
        check(all(l["type"] == "ct" and l["event"] in ctsd.LIVE_KINDS
                  for l in lines[:i_reply]), "lines before the reply that "
              "are not live events")
        check_eq(sum(1 for l in lines if l["type"] == "sync"), 1,
                 "sync lines")
        i_sync = lines.index(sync)
        snap = lines[i_reply + 1:i_sync]
        odd = [l for l in snap if l["type"] != "ct" or
               l["event"] != "snapshot"]
        check(not odd, "lines between the reply and the sync that are not "
              "snapshot lines: %r" % odd[:3])
        check_eq(sync["entries"], len(snap), "sync entries vs snapshot "
                 "lines")
        check(len(snap) >= n - res["deletes"] - 1, "only %d snapshot lines "
              "for a table of about %d entries" % (len(snap), n))
        after = lines[i_sync + 1:]
        check_eq([l["type"] for l in after if l["type"] != "ct"], [],
                 "lines after the sync that are not events")
        check_eq([l["event"] for l in after
                  if l["event"] not in ctsd.LIVE_KINDS], [],
                 "non-live events after the sync")
        last_snap = max(s["seq"] for s in snap)
        during = [l for l in after if l["seq"] < last_snap]
        check(during, "no event happened during the snapshot: the test did "
              "not test what it should")
        # Reconstruct the table.
        table = {}
        for l in snap + after:
            if l["event"] == "destroy":
                table.pop(l["id"], None)
            else:
                table[l["id"]] = l
        table.pop(mk["id"], None)
        want = {p["id"]: p for p in final}
        missing = sorted(set(want) - set(table))
        extra = sorted(set(table) - set(want))
        check(not missing and not extra, "snapshot + events vs conntrack "
              "-L: %d missing (e.g. %r), %d extra (e.g. %r)" % (
                  len(missing), [want[i]["orig"] for i in missing[:3]],
                  len(extra), [table[i]["orig"] for i in extra[:3]]))
        for i, p in want.items():
            check_eq((table[i]["orig"], table[i]["reply"]),
                     (p["orig"], p["reply"]), "tuples of entry %d" % i)


def flood(ns, truth, n, fast=None, first_port=20000, step=100):
    """n new UDP entries, step by step, each step once conntrack -E (and
    the fast client, if given) saw the previous one: conntrack -E's event
    socket keeps the default receive buffer whatever -b says (conntrack
    1.4.7 applies -b to another of its sockets) and loses events when a
    flood comes at once; and a subscriber under a 64 KiB high watermark
    has to read each step before the next comes, however busy the
    machine, for "loses nothing" to be a property of the daemon, not of
    the scheduler.  The stalled client gets the whole flood all the same.
    Returns conntrack -E's events."""
    base = len(truth.events())
    sp = ns.spawn(udp_spray_steps, "127.0.0.1", first_port)
    sent = 0
    while sent < n:
        k = min(step, n - sent)
        sp.send("%d\n" % k)
        sent += k
        evs = truth.wait_count(base + sent, timeout=20)
        check(len(evs) >= base + sent, "conntrack -E saw %d of the %d "
              "events of the flood" % (len(evs) - base, sent))
        if fast is not None:
            wait_event(fast, evs[-1][0], evs[-1][1], "event %d of the flood"
                       % (len(evs) - base), timeout=20)
    sp.finish()
    return truth.events()


def by_pid(subs, fast_pid):
    """(the fast client's, the stalled one's) stats: socat's pid tells."""
    fast = [x for x in subs if x["pid"] == fast_pid]
    other = [x for x in subs if x["pid"] != fast_pid]
    check(len(fast) == 1 and len(other) == 1, "subscribers: %r" % subs)
    return fast[0], other[0]


def stalled_setup(ns, d):
    """A fast client reading everything (socat into a file: a Python
    reader is not scheduled often enough on a busy machine to stay below
    64 KiB) and a stalled one that subscribes and never reads; returns
    (fast, stalled)."""
    fast = ctsd.SocatClient(d.events_path, name="fast")
    stalled = ctsd.Client(d.events_path, read=False, name="stalled")
    stalled.send({"cmd": "subscribe", "id": "s"})
    ctsd.wait_clients(d, events=2)
    return fast, stalled


FLOOD = 2000
HIWAT = 64 * 1024
LOWAT = 16 * 1024


@case
def stalled_client_drop():
    """--sub-hiwat 64K --sub-lowat 16K, a flood of events: the fast client
    loses nothing (vs conntrack -E); stats show the stalled one bounded
    by its high watermark and dropping; once it reads it gets a lost line
    whose count is the gap in seq it sees, before the next event."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, \
            start(ns, ["--sub-hiwat", "64K", "--sub-lowat", "16K"]) as d:
        fast, stalled = stalled_setup(ns, d)
        evs = flood(ns, truth, FLOOD, fast)
        check_eq(len(evs), FLOOD, "conntrack -E events of the flood")
        wait_event(fast, "new", evs[-1][1], "the flood's last event",
                   timeout=30)
        check_eq(fast.kind_ids(), [(k, i) for k, i, _ in evs],
                 "the fast client vs conntrack -E")
        subs = subscriber_stats(d)
        check_eq(len(subs), 2, "events subscribers in stats")
        sf, ss = by_pid(subs, fast.proc.pid)
        check_eq(sf["dropped"], 0, "fast client: dropped")
        check(ss["dropped"] > 0, "stalled client dropped nothing: %r" % ss)
        check(ss["queued_bytes"] <= HIWAT + 2048, "stalled client: %d bytes "
              "queued, over the high watermark %d + one line" %
              (ss["queued_bytes"], HIWAT))
        check(ss["queued_bytes"] >= HIWAT - 2048, "stalled client: only %d "
              "bytes queued, not up to the high watermark" %
              ss["queued_bytes"])
        check_eq(ss["lost_reports"], 0, "stalled client: lost lines sent "
                 "before it read")

        stalled.start_reading()
        lost = stalled.wait_line(lambda l: l["type"] == "lost",
                                 "the lost line", timeout=20)
        m = ns.call(ctsd.udp_exchange, "127.0.0.1", 5999)
        wait = stalled.wait_line(
            lambda l: l.get("event") == "update" and
            l["orig"].get("sport") == m["client"][1],
            "the marker's update on the stalled client", timeout=20)
        lines = list(stalled.lines)
        check_eq(lines[0], {"type": "reply", "id": "s", "ok": True,
                            "result": {"snapshot": False}}, "first line")
        i = lines.index(lost)
        before = [l for l in lines[1:i]]
        after = lines[i + 1:]
        check(before and all(l["type"] == "ct" for l in before),
              "lines before the lost line: %r" % before[:3])
        check_eq([l["seq"] for l in before],
                 list(range(1, len(before) + 1)),
                 "seq of the lines the stalled client got before its loss")
        check(after and after[0]["type"] == "ct", "the lost line is not "
              "followed by an event: %r" % after[:1])
        gap = after[0]["seq"] - before[-1]["seq"] - 1
        check_eq(lost["count"], gap, "lost count vs the gap in seq")
        check_eq((lost["first_seq"], lost["last_seq"]),
                 (before[-1]["seq"] + 1, after[0]["seq"] - 1),
                 "lost first_seq, last_seq")
        check_eq(ss["dropped"], lost["count"], "stats dropped vs lost count")
        check_eq(wait["id"], after[-1]["id"], "the marker is the last event")
        sf, ss = by_pid(subscriber_stats(d), fast.proc.pid)
        check_eq(ss["lost_reports"], 1, "stalled client: lost lines sent")
        check_eq(sf["dropped"], 0, "fast client: dropped")
        fast.raise_errors()
        fast.close()
        stalled.close()


@case
def stalled_client_disconnect():
    """--sub-policy disconnect: the stalled client is disconnected (its
    last complete line, if any got through, is the too_slow error) and the
    daemon logs it; the fast client loses nothing (vs conntrack -E).  (A
    cut last line is left to disconnect_on_line_boundary.)"""
    allow = [r"^ctstreamd: client \d+: too slow, disconnected$"]
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, \
            start(ns, ["--sub-hiwat", "64K", "--sub-lowat", "16K",
                       "--sub-policy", "disconnect"], allow) as d:
        fast, stalled = stalled_setup(ns, d)
        stalled.allow_partial_tail = True
        evs = flood(ns, truth, FLOOD, fast)
        check_eq(fast.kind_ids(), [(k, i) for k, i, _ in evs],
                 "the fast client vs conntrack -E")
        # The stalled client has CLIENT_LINGER_MS (2 s) to take the rest
        # of its line and the too_slow line before it is closed.
        deadline = time.monotonic() + ctsd.scaled(10)
        while True:
            subs = subscriber_stats(d)
            if len(subs) == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check_eq([x["pid"] for x in subs], [fast.proc.pid],
                 "events subscribers left")
        check_eq(subs[0]["dropped"], 0, "fast client: dropped")
        check_eq(len([l for l in d.stderr if re.search(
            r"client \d+: too slow, disconnected", l)]), 1,
            "logs of the disconnection: %r" % d.stderr)
        stalled.start_reading()
        stalled.wait_eof(timeout=20)
        check_stalled_prefix(stalled)
        # The fast one goes on.
        m = marker(ns, truth)
        wait_event(fast, "update", m["id"], "the marker")
        check_eq(fast.kind_ids(), [(k, i) for k, i, _ in truth.events()],
                 "the fast client vs conntrack -E, after")
        fast.raise_errors()
        fast.close()
        stalled.close()


def check_stalled_prefix(c):
    """What a disconnected client got: the reply, events from seq 1 on
    without a gap, and maybe the too_slow error line."""
    lines = c.lines
    check_eq(lines[0]["type"], "reply", c.name + "'s first line")
    body = lines[1:]
    events = [l for l in body if l["type"] == "ct"]
    check_eq([l["seq"] for l in events], list(range(1, len(events) + 1)),
             "seq of what %s got" % c.name)
    check(len(events) < FLOOD, c.name + " got every event")
    rest = body[len(events):]
    check(rest == [] or (len(rest) == 1 and rest[0]["type"] == "error" and
                         rest[0]["error"]["code"] == "too_slow"),
          "after its events %s got %r" % (c.name, rest[:3]))
    return events


@case
def disconnect_on_line_boundary():
    """--sub-policy disconnect: what a disconnected client receives ends
    with a complete line (an event, or the too_slow error), never with
    part of one.  The flood comes while the daemon is stopped (SIGSTOP),
    so that it then reads it in batches of 256 events: writes of about
    85 KB, which the socket takes in 32 KiB pieces, as many as fit."""
    allow = [r"^ctstreamd: client \d+: too slow, disconnected$"]
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            start(ns, ["--sub-hiwat", "256K", "--sub-lowat", "64K",
                       "--sub-policy", "disconnect"], allow) as d:
        stalled = [ctsd.Client(d.events_path, read=False, name="stalled%d"
                               % i) for i in range(2)]
        for c in stalled:
            c.send({"cmd": "subscribe", "id": "s"})
        ctsd.wait_clients(d, events=2)
        d.proc.send_signal(signal.SIGSTOP)
        try:
            sp = ns.spawn(udp_spray_steps, "127.0.0.1", 20000)
            sp.send("%d\n" % FLOOD)
            sp.finish()
        finally:
            d.proc.send_signal(signal.SIGCONT)
        deadline = time.monotonic() + ctsd.scaled(20)
        while subscriber_stats(d):
            check(time.monotonic() < deadline, "stalled clients still "
                  "connected %s s after the flood" % ctsd.scaled(20))
            time.sleep(0.05)
        cut = []
        for c in stalled:
            c.allow_partial_tail = True
            c.start_reading()
            c.wait_eof(timeout=20)
            events = check_stalled_prefix(c)
            if c.partial_tail is not None:
                cut.append("%s after seq %d: %r" % (
                    c.name, events[-1]["seq"] if events else 0,
                    c.partial_tail[:100]))
            c.close()
        check(not cut, "streams of disconnected clients that end with a cut "
              "line:\n  " + "\n  ".join(cut))


@case
def max_clients():
    """--max-clients 3: a fourth connection gets one error line,
    too_many_clients, and is closed; the others keep working; once a
    control client is gone a new connection is accepted."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            start(ns, ["--max-clients", "3"]) as d:
        e1 = ctsd.Client(d.events_path, name="e1")
        e2 = ctsd.Client(d.events_path, name="e2")
        c1 = ctsd.Client(d.control_path, name="c1")
        for c in (e1, e2, c1):
            sync_ping(c, "hello")
        for path in (d.events_path, d.control_path):
            data = ctsd.connect_refused_line(path)
            obj = ctsd.check_socket_line(data)
            check_eq(data.count(b"\n"), 1, "lines to the refused client")
            check_eq((obj["type"], obj["error"]["code"]),
                     ("error", "too_many_clients"), "refusal line")
            check("3" in obj["error"]["message"], "the refusal does not "
                  "name the limit: %r" % obj)
        st = c1.ok("stats")["daemon"]
        check_eq((st["clients"], st["clients_refused"]), (3, 2),
                 "stats clients, clients_refused")
        m = marker(ns, truth)
        for c in (e1, e2):
            wait_event(c, "update", m["id"], "the marker on " + c.name)
            check_eq(c.kind_ids(), kind_ids(truth.parsed()),
                     c.name + " vs conntrack -E")
        c1.close()
        deadline = time.monotonic() + ctsd.scaled(10)
        while True:
            c = ctsd.Client(d.control_path, name="c2")
            try:
                c.send({"cmd": "ping", "id": 1})
            except (BrokenPipeError, ConnectionResetError):
                pass            # refused and closed first: its line says
            r = c.wait_for(lambda ls: ls, "an answer")[0]
            if r["type"] == "reply":
                break
            check_eq(r["error"]["code"], "too_many_clients", "refusal")
            c.close()
            check(time.monotonic() < deadline, "no new client accepted "
                  "within 10s of a control client leaving")
            time.sleep(0.05)
        check_eq(r["id"], 1, "ping reply on the new connection")
        for cl in (c, e1, e2):
            cl.raise_errors()
            cl.close()


@case
def request_line_limits():
    """--max-line 1024 on the events socket: a line of exactly 1024 bytes
    is a request; 1025 bytes, or 1025 bytes without a newline, get a
    too_large error (no id) and the connection is closed; a request split
    across several writes works; many requests in one write are all
    answered, in order."""
    with ctsd.Netns() as ns, start(ns, ["--max-line", "1024"]) as d:
        def padded(n, rid):
            s = json.dumps({"cmd": "ping", "id": rid})
            return (s[:-1] + " " * (n - len(s)) + "}").encode()
        with ctsd.Client(d.events_path, name="exact") as c:
            line = padded(1024, "exact")
            check_eq(len(line), 1024, "test line length")
            c.send(line + b"\n")
            check_eq(c.reply_to("exact")["ok"], True, "1024-byte request")
        for what, data in (("1025-byte line", padded(1025, "big") + b"\n"),
                           ("1025 bytes without newline",
                            padded(1025, "big")),
                           ("64 KiB without newline", b"x" * 65536)):
            with ctsd.Client(d.events_path, name="big") as c:
                c.send(data)
                c.wait_eof()
                check_eq(len(c.lines), 1, what + ": lines received")
                r = c.lines[0]
                check_eq((r["type"], r["ok"], r["error"]["code"]),
                         ("reply", False, "too_large"), what + ": reply")
                check("id" not in r, what + ": reply has an id")
                check("1024" in r["error"]["message"], what + ": message "
                      "does not name the limit: %r" % r)
        with ctsd.Client(d.events_path, name="split") as c:
            req = json.dumps({"cmd": "ping", "id": "split"}).encode() + b"\n"
            for i in range(0, len(req), 5):
                c.send(req[i:i + 5])
                if i + 5 < len(req):
                    # Nothing may come for a partial line.
                    time.sleep(0.02)
                    check_eq(c.replies(), [], "reply to a partial line")
            check_eq(c.reply_to("split")["ok"], True, "split request")
            # A newline split from its line, a CR LF ending, blank lines.
            c.send(b'{"cmd":"ping","id":"nl"}')
            time.sleep(0.02)
            c.send(b"\n\n\r\n" + b'{"cmd":"ping","id":"crlf"}\r\n')
            check_eq(c.reply_to("crlf")["ok"], True, "CR LF request")
            check_eq([r["id"] for r in c.replies()], ["split", "nl", "crlf"],
                     "replies (blank lines are not requests)")
        with ctsd.Client(d.events_path, name="many") as c:
            n = 200
            reqs = []
            for i in range(n):
                reqs.append({"cmd": ["ping", "version", "help"][i % 3],
                             "id": i})
            c.send(b"".join((json.dumps(r) + "\n").encode() for r in reqs))
            c.wait_for(lambda ls: len(ls) >= n, "%d replies" % n)
            got = c.replies()
            check_eq([r["id"] for r in got], list(range(n)),
                     "reply ids, in request order")
            for r, q in zip(got, reqs):
                check(r["ok"], "reply to %r: %r" % (q, r))
                key = {"ping": "pong", "version": "version",
                       "help": "commands"}[q["cmd"]]
                check(key in r["result"], "reply to %r: %r" % (q, r))


MARK_RULES = ctsd.TRACK_ALL + """
table inet ctsd_mark {
	chain out {
		type filter hook output priority filter; policy accept;
		udp dport 6000 ct mark set 0x2a
	}
}
"""


@case
def filter_mark_zero_live():
    """{"mark":42} receives the events of the connection marked 42;
    {"mark":0} receives those of the unmarked ones (their mark is 0, as
    conntrack -L says)."""
    with ctsd.Netns(nft=MARK_RULES, sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            start(ns) as d, \
            ctsd.Client(d.events_path, name="all") as everything, \
            ctsd.Client(d.events_path, name="mark42") as m42, \
            ctsd.Client(d.events_path, name="mark0") as m0:
        for c, f in ((m42, {"mark": 42}), (m0, {"mark": 0})):
            check(c.request("subscribe", filter=f)["ok"], "subscribe")
        ns.call(ctsd.udp_exchange, "127.0.0.1", 6000)
        ns.call(ctsd.udp_exchange, "127.0.0.1", 6001)
        m = marker(ns, truth)
        wait_event(everything, "update", m["id"], "the marker")
        marks = {p["orig"]["dport"]: p["mark"] for p in
                 ctsd.conntrack_list(ns)}
        check_eq((marks[6000], marks[6001], marks[5999]), (42, 0, 0),
                 "marks per conntrack -L")
        parsed = truth.parsed()
        for c, mark in ((m42, 42), (m0, 0)):
            sync_ping(c, "sync")
            check_eq(c.kind_ids(), kind_ids(
                parsed, lambda p: marks[p["orig"]["dport"]] == mark),
                "events of the client with filter {\"mark\":%d}" % mark)


@case
def snapshot_filtered():
    """A snapshot through a filter: its lines are exactly the entries
    conntrack -L lists through the same filter ({"proto":"udp"}; types
    expect: conntrack -L expect), and the sync counts them; without a
    filter, both tables."""
    with ctsd.Netns(nft=FTP_RULES, sysctls=SYSCTLS, addrs=ADDRS) as ns:
        ns.call(mixed_traffic)
        ns.call(ftp_port_only, 40000)
        with start(ns) as d:
            table = ctsd.conntrack_list(ns)
            exps = ctsd.conntrack_list(ns, table="expect")
            check_eq(len(exps), 1, "expectations")
            for f, want_ct, want_exp in (
                    ({"proto": "udp"}, [p for p in table
                                        if p["proto"] == "udp"], 0),
                    ({"types": "expect"}, [], 1),
                    (None, table, 1)):
                with ctsd.Client(d.events_path, name="snap") as c:
                    c.send({"cmd": "subscribe", "id": 1, "snapshot": True,
                            "filter": f})
                    sync = c.wait_line(lambda l: l["type"] == "sync",
                                       "the sync line")
                    lines = c.lines
                    i = lines.index(sync)
                    j = lines.index(c.reply_to(1))
                    snap = lines[j + 1:i]
                    what = "snapshot %s" % json.dumps(f)
                    check_eq(sync["entries"], len(snap), what + ": entries")
                    check_eq(sorted(l["id"] for l in snap if l["type"] ==
                                    "ct"), sorted(p["id"] for p in want_ct),
                             what + ": conntrack ids vs conntrack -L")
                    xs = [l for l in snap if l["type"] == "expect"]
                    check_eq(len(xs), want_exp, what + ": expectations")
                    for x in xs:
                        check_eq((x["event"], x["tuple"], x["master"]),
                                 ("snapshot", exps[0]["tuple"],
                                  exps[0]["master"]),
                                 what + ": the expectation")
                    check(all(l["event"] == "snapshot" for l in snap),
                          what + ": not all snapshot lines")


@case
def snapshot_respects_types():
    """--types ct: a snapshot through {"types":"expect"} has no line (the
    daemon deals with conntrack entries only), sync entries 0."""
    with ctsd.Netns(nft=FTP_RULES, sysctls=SYSCTLS) as ns:
        ns.call(ftp_port_only, 40000)
        with start(ns, ["--types", "ct"]) as d, \
                ctsd.Client(d.events_path, name="snap") as c:
            c.send({"cmd": "subscribe", "id": 1, "snapshot": True,
                    "filter": {"types": "expect"}})
            sync = c.wait_line(lambda l: l["type"] == "sync", "the sync")
            check_eq([(l["type"], l.get("event")) for l in c.lines
                      if l["type"] != "reply" and l is not sync], [],
                     "snapshot lines of expectations with --types ct")
            check_eq(sync["entries"], 0, "sync entries")


def stale_socket(path):
    """Leave a socket file nobody listens on, as a dead daemon does."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()


@case
def socket_files():
    """The socket files get --socket-mode; stale files of a dead instance
    are replaced (and logged); a second daemon on the same paths exits
    non-zero naming the path and leaves the first one's sockets alone;
    the files are removed at exit."""
    with ctsd.Netns() as ns, \
            tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        ev = os.path.join(tmp, "run", "ev.sock")
        ctl = os.path.join(tmp, "run", "ctl.sock")
        os.mkdir(os.path.dirname(ev))
        stale_socket(ev)
        stale_socket(ctl)
        args = ["--events-socket", ev, "--control-socket", ctl,
                "--socket-mode", "0604"]
        allow = [r"^ctstreamd: removing stale socket %s$" % re.escape(p)
                 for p in (ev, ctl)]
        d = ctsd.Daemon(ns, args, stdout=False, allow_stderr=allow)
        with d:
            for path in (ev, ctl):
                st = os.lstat(path)
                check(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path)
                check_eq(oct(stat.S_IMODE(st.st_mode)), oct(0o604),
                         "mode of %s" % path)
                check(any(l == "ctstreamd: removing stale socket " + path
                          for l in d.stderr), "the stale %s was not "
                      "reported: %r" % (path, d.stderr))
            for path in (ev, ctl):
                with ctsd.Client(path) as c:
                    sync_ping(c, "first")
            # A second daemon on the same paths.
            p = subprocess.run([ctsd.daemon_path(), "--netns", ns.name,
                                "--events-socket", ev, "--control-socket",
                                os.path.join(tmp, "other.sock")],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=20)
            check(p.returncode != 0, "a second daemon on %s exited 0; "
                  "stderr %r" % (ev, p.stderr))
            check(ev in p.stderr and "another instance" in p.stderr,
                  "the second daemon's stderr does not name %s: %r"
                  % (ev, p.stderr))
            check(not os.path.exists(os.path.join(tmp, "other.sock")),
                  "the second daemon left its control socket behind")
            p = subprocess.run([ctsd.daemon_path(), "--netns", ns.name,
                                "--events-socket", "none",
                                "--control-socket", ctl],
                               stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, timeout=20)
            check(p.returncode != 0 and ctl in p.stderr,
                  "a second daemon on %s: exit %d, stderr %r"
                  % (ctl, p.returncode, p.stderr))
            for path in (ev, ctl):
                check(stat.S_ISSOCK(os.lstat(path).st_mode),
                      "%s is gone after the second daemon" % path)
                with ctsd.Client(path) as c:
                    sync_ping(c, "still")
        for path in (ev, ctl):
            check(not os.path.exists(path), "%s left behind at exit" % path)
        # A file that is no socket is refused, and left alone.
        with open(ev, "w") as f:
            f.write("keep")
        p = subprocess.run([ctsd.daemon_path(), "--netns", ns.name,
                            "--events-socket", ev, "--control-socket",
                            "none"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=20)
        check(p.returncode != 0 and ev in p.stderr and
              "not a socket" in p.stderr, "daemon on a regular file %s: "
              "exit %d, stderr %r" % (ev, p.returncode, p.stderr))
        with open(ev) as f:
            check_eq(f.read(), "keep", "the regular file at the socket path")


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES, tools=[("socat", "socat"), ("jq", "jq")]))
