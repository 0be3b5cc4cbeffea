#!/usr/bin/env python3
"""
test_loss.py - no silent loss: overruns, resync, reliable mode, buffers,
the kernel-side filter.

Each case forces the kernel to drop events on the daemon's socket (a
tiny receive buffer and a flood of UDP flows, or the daemon stopped with
SIGSTOP during a burst) and holds what the daemon says against what the
kernel says in the same run: the Drops column of /proc/net/netlink in the
namespace, conntrack -L, conntrack -E.  Entries come from UDP floods
(nobody listens: an nftables rule drops them on input, after conntrack
confirmed them) or from conntrack -R, 100,000 at a time.

Needs root; exits 77 otherwise.  Run one case: test_loss.py NAME...
"""

import collections
import json
import os
import re
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq, daemon_bug             # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# Conntrack on, and flood datagrams (ports 10000-32000, below the
# ephemeral ports) dropped on input so that no ICMP error answers them;
# the entries stay, unreplied.
FLOOD_RULES = ctsd.TRACK_ALL + """
table inet ctsd_sink {
	chain in {
		type filter hook input priority filter; policy accept;
		udp dport 10000-32000 drop
	}
}
"""
# Flood entries must outlive the test (no DESTROY by timeout meanwhile).
LONG_UDP = {"net.netfilter.nf_conntrack_udp_timeout": 600,
            "net.netfilter.nf_conntrack_udp_timeout_stream": 600}


def sockets(tmp):
    ev, ctl = os.path.join(tmp, "events.sock"), os.path.join(tmp, "ctl.sock")
    return ev, ctl, ["--events-socket", ev, "--control-socket", ctl]


def ns_stats(ctl, netns=None):
    """stats: (the daemon's totals, this namespace's counters)."""
    req = {"cmd": "stats"}
    if netns:
        req["netns"] = netns
    res, _ = ctsd.control_ok(ctl, req)
    mons = res["daemon"]["namespaces"]
    if netns:
        mons = [m for m in mons if m["netns"] == netns]
    check_eq(len(mons), 1, "namespaces in stats")
    return res["daemon"], mons[0]


# The Groups column of /proc/net/netlink: bit n-1 for group n.  Conntrack
# events are groups 1-3 (NFNLGRP_CONNTRACK_NEW..DESTROY), expectations 4-6.
CT_GROUPS, EXP_GROUPS = 0x07, 0x38


def event_socket_rows(ns, pid):
    """The daemon's event sockets in the namespace's /proc/net/netlink:
    the NETLINK_NETFILTER sockets with multicast groups whose inode is
    one of the daemon's descriptors."""
    mine = ctsd.socket_inodes(pid)
    return [r for r in ctsd.netlink_rows(ns)
            if r["Eth"] == 12 and r["Groups"] != 0 and r["Inode"] in mine]


def event_socket_row(ns, pid, groups=None):
    """The daemon's one event socket, or with groups (CT_GROUPS,
    EXP_GROUPS) the one that joined only groups of that mask (--reliable
    gives expectations a socket of their own)."""
    rows = [r for r in event_socket_rows(ns, pid)
            if groups is None or r["Groups"] & ~groups == 0]
    check_eq(len(rows), 1, "event sockets of pid %d in %s's "
             "/proc/net/netlink (groups %s)" % (pid, ns.name, groups))
    return rows[0]


def overruns(lines):
    return [e for e in lines if e.get("type") == "overrun"]


def lost_sum(lines):
    return sum(e["lost"] for e in overruns(lines))


def last_seq(evs):
    """The seq of the last numbered line (lost lines have none)."""
    return next((e["seq"] for e in reversed(evs) if "seq" in e), 0)


def settle(d, ctl, what, timeout=20, runs=1):
    """Wait until the daemon is done with the loss: its stdout shows
    every line it made (stats "lines" = the last seq read), at least
    `runs` resyncs ran and none runs, each logged "resync done", and
    nothing changed since the previous look (0.3 s before).  Returns
    (daemon stats, namespace stats)."""
    deadline = time.monotonic() + ctsd.scaled(timeout)
    last = None
    while True:
        dm, m = ns_stats(ctl)
        rs = m["resync"]
        seen = last_seq(d.events)
        done = len([l for l in d.stderr if "resync done" in l])
        now = (dm["lines"], m["kernel_drops"], rs["runs"])
        if (dm["lines"] == seen and rs["runs"] >= runs and
                not rs["running"] and done == rs["runs"] and now == last):
            return dm, m
        last = now
        check(time.monotonic() < deadline, "%s: the daemon did not settle "
              "within %ss: stats %r, last seq read %d, %d 'resync done' "
              "lines" % (what, ctsd.scaled(timeout), m, seen, done))
        time.sleep(0.3)


def apply_stream(lines):
    """The live entries a subscriber knows from its lines, in order:
    snapshot/new/update add the id, destroy removes it."""
    live = set()
    for e in lines:
        if e.get("type") != "ct":
            continue
        if e["event"] in ("snapshot", "new", "update"):
            live.add(e["id"])
        elif e["event"] == "destroy":
            live.discard(e["id"])
    return live


# ---------------------------------------------------------------------------

@case
def overrun_lost_equals_kernel_drops():
    """--rcvbuf 4K --rcvbuf-max 4K and a flood of 3000 UDP flows: the
    "lost" of all overrun lines add up to the Drops of the daemon's socket
    in the namespace's /proc/net/netlink, to stats' kernel_drops and
    socket_drops; every line the kernel did deliver is in the stream; a
    subscriber that filters for TCP (which never comes) still gets every
    overrun line."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as ns:
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--rcvbuf", "4K", "--rcvbuf-max", "4K"] +
                         socks, allow_loss=True, validate="sample") as d:
            sub = ctsd.Subscriber(ev, validate="sample")
            check_eq(sub.request({"cmd": "subscribe",
                                  "filter": {"proto": "tcp"}})["ok"], True,
                     "subscribe with a TCP filter")
            row0 = event_socket_row(ns, d.pid)
            check_eq(row0["Drops"], 0, "Drops before the flood")
            n = 3000
            ns.call(ctsd.udp_flood, "127.0.0.1", 10000, n)
            check_eq(ns.conntrack("-C").stdout.strip(), str(n),
                     "entries after the flood")
            dm, m = settle(d, ctl, "flood")
            row = event_socket_row(ns, d.pid)
            lost = lost_sum(d.events)
            check(row["Drops"] > 0, "the flood caused no drop on a 4K "
                  "buffer: %r" % row)
            check_eq(lost, row["Drops"], "sum of 'lost' in overrun lines vs "
                     "Drops in /proc/net/netlink (socket inode %d)"
                     % row["Inode"])
            check_eq((m["kernel_drops"], m["socket_drops"],
                      dm["kernel_drops"]), (row["Drops"],) * 3,
                     "stats kernel_drops, socket_drops and the total "
                     "kernel_drops vs /proc/net/netlink")
            check_eq(m["overruns"] > 0, True, "stats overruns")
            # What was not dropped came through, each once.
            news = [e for e in d.events if e["type"] == "ct" and
                    e["event"] == "new" and not e.get("resync")]
            check_eq(len(news), m["netlink_messages"], "kernel new lines vs "
                     "stats netlink_messages")
            check_eq(len(news) + row["Drops"], n, "new lines received + "
                     "messages dropped vs flows created")
            check_eq(len({(e["id"], e["orig"]["dport"]) for e in news}),
                     len(news), "distinct entries among the new lines")
            # Every reader gets the overrun lines, whatever it filters.
            sub.wait_for(lambda evs: len(overruns(evs)) ==
                         len(overruns(d.events)), "every overrun line on "
                         "the filtered subscriber")
            check_eq([(e["seq"], e["lost"]) for e in overruns(sub.events)],
                     [(e["seq"], e["lost"]) for e in overruns(d.events)],
                     "overrun lines (seq, lost) of the filtered subscriber "
                     "vs stdout")
            others = [e for e in sub.events if e.get("type") != "overrun" and
                      e.get("proto") != "tcp"]
            check(not others, "the TCP-only subscriber got %r" % others[:3])
            sub.close()


@case
def resync_restores_the_table():
    """A subscriber subscribes with snapshot:true; 200 flows are made;
    then, with the daemon stopped (SIGSTOP), 3000 more flows come and the
    first 200 are deleted; SIGCONT.  Once the daemon logged "resync
    done", the entries the subscriber rebuilds from its lines (snapshot,
    new, update add an id; destroy removes it; resync destroys carry only
    the id) are exactly conntrack -L's ids, and the overrun lines still
    add up to the socket's Drops."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as ns:
        ev, ctl, socks = sockets(tmp)
        # Entries from before the daemon: only the snapshot shows them.
        ns.call(ctsd.udp_flood, "127.0.0.3", 10000, 50)
        with ctsd.Daemon(ns, ["--rcvbuf", "4K", "--rcvbuf-max", "4K",
                              "--resync-delay", "100"] + socks,
                         allow_loss=True, seq_gaps=True,
                         validate="sample") as d:
            sub = ctsd.Subscriber(ev, validate="sample")
            r = sub.request({"cmd": "subscribe", "snapshot": True})
            check_eq((r["ok"], r.get("result")), (True, {"snapshot": True}),
                     "subscribe reply")
            sync = sub.wait_for(lambda evs: ctsd.first(evs, type="sync"),
                                "the snapshot's sync line")
            snap = [e for e in sub.events if e.get("event") == "snapshot"]
            check_eq(sync["entries"], 50, "sync entries")
            check_eq(len(snap), 50, "snapshot lines")
            ns.call(ctsd.udp_flood, "127.0.0.2", 10000, 200)
            # With a 4K buffer the flood itself may overrun on a busy
            # machine; then resync lines complete the 200 after the delay.
            sub.wait_for(lambda evs: len([e for e in evs if e.get("event") ==
                                          "new"]) >= 200, "200 new lines",
                         timeout=30)
            d.proc.send_signal(signal.SIGSTOP)
            try:
                ns.call(ctsd.udp_flood, "127.0.0.1", 10000, 3000)
                ns.conntrack("-D", "-d", "127.0.0.2")
            finally:
                d.proc.send_signal(signal.SIGCONT)
            d.wait_stderr(r"resync done", "resync done", timeout=20)
            settle(d, ctl, "burst while stopped")
            sub.wait_for(lambda evs: last_seq(evs) == last_seq(d.events),
                         "the subscriber to catch up with stdout")
            check_eq(ns.conntrack("-C").stdout.strip(), "3050",
                     "entries in the table")
            truth = ctsd.conntrack_ids(ns)
            rebuilt = apply_stream(sub.events)
            check(rebuilt == truth, "rebuilt from the stream vs conntrack "
                  "-L: %d missing (%r...), %d extra (%r...)" % (
                      len(truth - rebuilt), sorted(truth - rebuilt)[:5],
                      len(rebuilt - truth), sorted(rebuilt - truth)[:5]))
            check_eq(apply_stream(l for l in d.events) | {
                e["id"] for e in snap}, truth, "rebuilt from stdout plus "
                "the snapshot vs conntrack -L")
            rs_new = [e for e in sub.events if e.get("resync") and
                      e["event"] == "new"]
            rs_del = [e for e in sub.events if e.get("resync") and
                      e["event"] == "destroy"]
            check(rs_new and rs_del, "no resync new (%d) or destroy (%d) "
                  "lines" % (len(rs_new), len(rs_del)))
            for e in rs_del:
                check_eq(set(e), {"type", "event", "seq", "time", "resync",
                                  "id"}, "members of a resync destroy line")
            row = event_socket_row(ns, d.pid)
            check_eq(lost_sum(d.events), row["Drops"], "sum of 'lost' vs "
                     "Drops in /proc/net/netlink")
            check_eq(lost_sum(sub.events), row["Drops"], "sum of 'lost' on "
                     "the subscriber vs Drops")
            sub.close()


# Entries whose DESTROY the kernel never sends: "ct event set new"
# limits a connection's events to NEW, as nf_conntrack_events=2 does for
# connections made while no listener existed (on kernels where it does).
SILENT_RULES = FLOOD_RULES + """
table inet ctsd_silent {
	chain out {
		type filter hook output priority filter; policy accept;
		ip daddr 127.0.0.4 ct event set new
	}
}
"""


@case
def entries_older_than_the_daemon():
    """Entries made before the daemon starts: 5 ordinary ones
    (127.0.0.3) and 5 whose events the kernel limits to NEW (127.0.0.4,
    "ct event set new"), then the daemon with --resync-interval 2, then
    conntrack -D of all ten.  conntrack -E is the ground truth: for each
    entry whose DESTROY the kernel sent, exactly the kernel's destroy
    line; for each it did not send (all of 127.0.0.4, and 127.0.0.3 too
    where nf_conntrack_events=2 withholds it), a destroy line with
    resync:true and only the id within the interval (and the delay);
    never both, never twice."""
    with ctsd.Netns(nft=SILENT_RULES, sysctls=LONG_UDP) as ns:
        check_eq(ns.sysctl("net.netfilter.nf_conntrack_events"), "2",
                 "nf_conntrack_events of a fresh namespace")
        ns.call(ctsd.udp_flood, "127.0.0.3", 10000, 5)
        ns.call(ctsd.udp_flood, "127.0.0.4", 10000, 5)
        plain = ctsd.conntrack_ids(ns, "-d", "127.0.0.3")
        silent = ctsd.conntrack_ids(ns, "-d", "127.0.0.4")
        check_eq((len(plain), len(silent)), (5, 5), "entries made before "
                 "the daemon")
        with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
                ctsd.ConntrackEvents(ns) as truth, \
                ctsd.Daemon(ns, ["--resync-interval", "2", "--resync-delay",
                                 "100"] + sockets(tmp)[2],
                            allow_stderr=ctsd.LOSS_STDERR) as d:
            ctl = sockets(tmp)[1]
            d.wait_stderr(r": 10 entries known at startup$")
            check_eq(ns_stats(ctl)[1]["resync"]["entries_older_than_daemon"],
                     10, "stats entries_older_than_daemon")
            ns.conntrack("-D", "-d", "127.0.0.3")
            ns.conntrack("-D", "-d", "127.0.0.4")
            t0 = time.monotonic()
            gone = plain | silent

            def destroyed(evs):
                return {e["id"] for e in evs if e.get("event") ==
                        "destroy"} >= gone
            d.wait_for(destroyed, "destroy lines of all ten", timeout=8)
            took = time.monotonic() - t0
            check(took <= 2 + 0.1 + 2, "the destroy lines came %.1fs "
                  "after the deletion (interval 2s, delay 0.1s)" % took)
            time.sleep(2.5)         # one more interval: no second line
            told = {i for k, i, _ in truth.events() if k == "destroy"}
            check(not told & silent, "conntrack -E saw a DESTROY of an "
                  "entry limited to NEW: %r" % truth.events())
            for i in sorted(gone):
                lines = [e for e in d.events if e.get("id") == i]
                what = "entry %d (%s)" % (i, "kernel DESTROY" if i in told
                                          else "no kernel DESTROY")
                check_eq(len(lines), 1, what + ": lines")
                e = lines[0]
                check_eq(e["event"], "destroy", what + ": event")
                if i in told:
                    check("resync" not in e, what + ": %r" % e)
                else:
                    check_eq(set(e), {"type", "event", "seq", "time",
                                      "resync", "id"}, what + ": members")
            check_eq(ns_stats(ctl)[1]["resync"]["entries_older_than_daemon"],
                     0, "stats entries_older_than_daemon afterwards")


@case
def set_events_sysctl():
    """--set-events-sysctl: nf_conntrack_events is 1 in the namespace (and
    only there) once the daemon is ready; diagnose says 1; no notice about
    the value 2."""
    key = "net.netfilter.nf_conntrack_events"
    with open("/proc/sys/net/netfilter/nf_conntrack_events") as f:
        host = f.read().strip()
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        check_eq(ns.sysctl(key), "2", key + " of a fresh namespace")
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--set-events-sysctl"] + socks) as d:
            check_eq(ns.sysctl(key), "1", key + " in the namespace")
            res, _ = ctsd.control_ok(ctl, {"cmd": "diagnose"})
            check_eq(res["nf_conntrack_events"], 1, "diagnose "
                     "nf_conntrack_events")
        check(not [l for l in d.stderr if "nf_conntrack_events is 2" in l],
              "the daemon still says the value is 2: %r" % d.stderr)
        with open("/proc/sys/net/netfilter/nf_conntrack_events") as f:
            check_eq(f.read().strip(), host, key + " of the initial namespace")


@case
def resync_respects_the_kernel_filter():
    """--kernel-proto udp, 4K buffer: TCP entries sit in the table (in
    TIME_WAIT) while a UDP flood overruns the socket; the resync that
    follows adds the UDP entries it missed and not one TCP entry: no TCP
    line at all."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as ns:
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--kernel-proto", "udp", "--rcvbuf", "4K",
                              "--rcvbuf-max", "4K", "--resync-delay", "100"]
                         + socks, allow_loss=True, validate="sample") as d:
            for port in (5001, 5002, 5003):
                ns.call(ctsd.tcp_flow, "127.0.0.1", port)
            ns.call(ctsd.udp_flood, "127.0.0.1", 10000, 2000)
            dm, m = settle(d, ctl, "flood")
            check(m["resync"]["added"] > 0, "the resync added nothing: %r"
                  % m["resync"])
            tcp = [e for e in d.events if e.get("proto") == "tcp"]
            check(not tcp, "TCP lines though --kernel-proto udp: %r"
                  % tcp[:3])
            udp = ctsd.conntrack_ids(ns, "-p", "udp")
            check_eq(apply_stream(d.events), udp, "entries rebuilt from "
                     "stdout vs conntrack -L -p udp")


@case
def resync_respects_the_events_option():
    """--events destroy, --resync-interval 1 (one entry older than the
    daemon keeps the periodic resync on): 3 flows are made, 2.5 s pass,
    they are deleted.  stdout has exactly their 3 destroy lines, seq 1,
    2, 3; a subscriber filtering {"proto":"udp"} has no new line."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=SILENT_RULES, sysctls=LONG_UDP) as ns:
        ns.call(ctsd.udp_flood, "127.0.0.4", 10000, 1)
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--events", "destroy", "--resync-interval",
                              "1", "--resync-delay", "100"] + socks,
                         seq_gaps=True, allow_stderr=ctsd.LOSS_STDERR) as d:
            sub = ctsd.Subscriber(ev)
            sub.request({"cmd": "subscribe", "filter": {"proto": "udp"}})
            ns.call(ctsd.udp_flood, "127.0.0.3", 10000, 3)
            ids = ctsd.conntrack_ids(ns, "-d", "127.0.0.3")
            d.wait_stderr(r"resync done", count=2, timeout=5)
            ns.conntrack("-D", "-d", "127.0.0.3")
            d.wait_for(lambda evs: len(evs) >= 3, "3 destroy lines")
            sub.wait_for(lambda evs: {e["id"] for e in evs
                                      if e.get("event") == "destroy"} >= ids,
                         "the subscriber's destroy lines")
            time.sleep(0.2)
            check_eq([(e["event"], e["id"]) for e in d.events],
                     [(e["event"], e["id"]) for e in d.events
                      if e["event"] == "destroy" and e["id"] in ids],
                     "stdout's lines")
            check_eq([e["seq"] for e in d.events], [1, 2, 3],
                     "seq of stdout's lines")
            others = [e for e in sub.events if e.get("event") != "destroy"]
            check(not others, "the subscriber got lines of other kinds "
                  "under --events destroy: %r" % others[:3])
            sub.close()


@case
def overrun_in_one_of_two_namespaces():
    """--netns A --netns B, 4K buffers, a flood in B only: every overrun
    line says "netns":B, their "lost" add up to the Drops of the
    daemon's socket in B; A's socket dropped nothing; stats count per
    namespace."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as a, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as b:
        ev, ctl, socks = sockets(tmp)
        allow = []
        for n in (a.name, b.name):
            allow += [r"^ctstreamd: monitoring %s: " % n,
                      r"^ctstreamd: %s: " % n]
        with ctsd.Daemon(a, ["--netns", b.name, "--rcvbuf", "4K",
                             "--rcvbuf-max", "4K"] + socks, allow_loss=True,
                         allow_stderr=allow, validate="sample") as d:
            r = a.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            b.call(ctsd.udp_flood, "127.0.0.1", 10000, 2000)
            deadline = time.monotonic() + ctsd.scaled(20)
            while True:
                dm, mb = ns_stats(ctl, b.name)
                if mb["resync"]["runs"] >= 1 and not mb["resync"]["running"] \
                        and dm["lines"] == last_seq(d.events):
                    break
                check(time.monotonic() < deadline, "no resync in B: %r" % mb)
                time.sleep(0.3)
            ov = overruns(d.events)
            check(ov, "no overrun line")
            check_eq({e.get("netns") for e in ov}, {b.name},
                     "netns of the overrun lines")
            rb = event_socket_row(b, d.pid)
            ra = event_socket_row(a, d.pid)
            check_eq((lost_sum(d.events), ra["Drops"]), (rb["Drops"], 0),
                     "(sum of lost, A's Drops) vs (B's Drops, 0)")
            _, ma = ns_stats(ctl, a.name)
            check_eq((ma["kernel_drops"], mb["kernel_drops"]),
                     (0, rb["Drops"]), "stats kernel_drops of A and B")
            check(ctsd.first(d.events, netns=a.name, event="update",
                             orig={"sport": r["client"][1]}),
                  "A's flow is missing")


@case
def rcvbuf_grows_as_nobody():
    """--user nobody: the daemon has no capability, yet after an overrun
    the buffer doubles (the helper sets it with SO_RCVBUFFORCE)."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as ns:
        # A directory the daemon makes, nobody's: it removes its sockets.
        os.chmod(tmp, 0o755)
        ev, ctl, socks = sockets(os.path.join(tmp, "run"))
        with ctsd.Daemon(ns, ["--user", "nobody", "--rcvbuf", "64K",
                              "--rcvbuf-max", "1M"] + socks,
                         allow_loss=True, validate="sample") as d:
            check_eq(ns_stats(ctl)[1]["rcvbuf"], 128 << 10, "rcvbuf")
            d.proc.send_signal(signal.SIGSTOP)
            try:
                ns.call(ctsd.udp_flood, "127.0.0.1", 10000, 3000)
            finally:
                d.proc.send_signal(signal.SIGCONT)
            dm, m = settle(d, ctl, "burst")
            check_eq((m["rcvbuf"], m["rcvbuf_grown"]), (256 << 10, 1),
                     "stats rcvbuf, rcvbuf_grown after an overrun")
            check(not [l for l in d.stderr if "cannot grow" in l],
                  "the log: %r" % d.stderr)


def destroy_lines(evs):
    return [e for e in evs if e.get("type") == "ct" and
            e["event"] == "destroy"]


@case
def reliable_flush_of_100000():
    """--reliable --events destroy with a 256K buffer: conntrack -F of
    100,000 entries (made with conntrack -R) overflows the buffer (Drops
    > 0) and yet a destroy line comes for every entry, ids as conntrack -L
    listed them.  Without --reliable (64K buffer) the same flush loses
    some, and destroy lines + the overrun lines' "lost" >= 100,000 (= as a
    rule; see below)."""
    n = 100000
    with ctsd.Netns(nft=None) as ns:
        with ctsd.Daemon(ns, ["--reliable", "--events", "destroy", "--rcvbuf",
                              "256K", "--rcvbuf-max", "256K", "--sub-hiwat",
                              "1G"], allow_loss=True,
                         validate="sample") as d:
            check_eq(ctsd.load_entries(ns, n), n, "entries after conntrack -R")
            ids = collections.Counter(
                int(x) for x in re.findall(r"\bid=(\d+)", ns.conntrack(
                    "-L", "-o", "id").stdout))
            check_eq(sum(ids.values()), n, "entries conntrack -L listed")
            ns.conntrack("-F")
            ctsd.poll(lambda: d.proc.poll() is None and
                      len(destroy_lines(d.events)) >= n,
                      "%d destroy lines" % n, timeout=60)
            time.sleep(0.3)
            got = destroy_lines(d.events)
            check_eq(len(got), n, "destroy lines")
            check(not [e for e in got if e.get("resync")], "resync destroy "
                  "lines in reliable mode")
            check(collections.Counter(e["id"] for e in got) == ids,
                  "ids of the destroy lines vs conntrack -L's")
            check_eq(ns.conntrack("-C").stdout.strip(), "0", "entries left")
            row = event_socket_row(ns, d.pid, CT_GROUPS)
            check(row["Drops"] > 0, "the buffer never overflowed (Drops 0): "
                  "reliable mode was not put to the test")
            check(not overruns(d.events), "overrun lines though no event "
                  "was lost: %r" % overruns(d.events)[:3])

    with ctsd.Netns(nft=None) as ns:
        with ctsd.Daemon(ns, ["--events", "destroy", "--rcvbuf", "64K",
                              "--rcvbuf-max", "64K", "--sub-hiwat", "1G"],
                         allow_loss=True, validate="sample") as d:
            check_eq(ctsd.load_entries(ns, n), n, "entries after conntrack -R")
            ns.conntrack("-F")
            ctsd.poll(lambda: d.proc.poll() is None and
                      len(destroy_lines(d.events)) + lost_sum(d.events)
                      >= n, "destroy lines + lost = %d" % n, timeout=30)
            time.sleep(0.5)
            # The kernel's destroy lines; a resync after the overrun may
            # add id-only ones for entries it saw in the table before
            # their lost DESTROY: those repair the loss, they are not
            # counted in it.
            #
            # "lost" is what the kernel dropped, its Drops counter, which
            # the last check compares.  As a rule it is exactly n minus
            # the destroy lines, but once, on a loaded machine (the
            # sanitizer tier), the sum came out at 181,184: the kernel
            # counts a drop for every failed delivery, and it may retry
            # a DESTROY it failed to deliver.  The cause was not pinned
            # down, so the check is the promise itself: every entry is
            # either destroyed in the stream or counted lost.
            # A list, not a set: 100,000 ids of 32 bits are likely to hold
            # one pair that is equal (the birthday bound: about one).
            got = [e["id"] for e in destroy_lines(d.events)
                   if not e.get("resync")]
            lost = lost_sum(d.events)
            check(0 < lost and len(got) < n, "without --reliable: %d "
                  "destroy lines, %d lost" % (len(got), lost))
            check(len(got) + lost >= n, "destroy lines (%d) + lost (%d) < "
                  "%d: a loss went unreported" % (len(got), lost, n))
            check_eq(lost, event_socket_row(ns, d.pid)["Drops"], "lost vs "
                     "Drops in /proc/net/netlink")


def retry_logged(d):
    """What the "retried by the kernel" log lines add up to: (lines, the
    last "so far")."""
    so_far = [int(x) for x in re.findall(
        r"retried by the kernel \(--reliable\), (\d+) so far",
        "\n".join(d.stderr))]
    return len(so_far), (so_far[-1] if so_far else 0)


@case
def reliable_reports_no_false_loss():
    """--reliable --events destroy, 64K buffer, conntrack -F of 5000
    entries: every destroy line comes, so nothing was lost, and no
    overrun line may say otherwise (the harness fails on one).  The
    conntrack socket's Drops in /proc/net/netlink counts the deliveries
    the kernel retried: stats retried_deliveries equals it, and the info
    log says so (rate-limited: a line or two, not one per read).  The
    expectation groups are on a second socket, without drops; no resync
    ran."""
    n = 5000
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=None) as ns:
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--reliable", "--events", "destroy", "--rcvbuf",
                              "64K", "--rcvbuf-max", "64K"] + socks,
                         allow_stderr=ctsd.RETRY_STDERR,
                         validate="sample") as d:
            check(any(l.endswith(", reliable (expectations on a socket of "
                                 "their own)") for l in d.stderr),
                  "monitoring line: %r" % d.stderr)
            ct0 = event_socket_row(ns, d.pid, CT_GROUPS)
            exp0 = event_socket_row(ns, d.pid, EXP_GROUPS)
            check_eq((ct0["Groups"], exp0["Groups"]), (0x04, 0x20),
                     "groups of the two event sockets (destroy only)")
            check_eq(ctsd.load_entries(ns, n), n, "entries after "
                     "conntrack -R")
            ns.conntrack("-F")
            ctsd.poll(lambda: len(destroy_lines(d.events)) >= n,
                      "%d destroy lines" % n, timeout=30)
            dm, m = settle(d, ctl, "flush", runs=0)
            check_eq(len(destroy_lines(d.events)), n, "destroy lines")
            check_eq(len({e["id"] for e in destroy_lines(d.events)}),
                     len(destroy_lines(d.events)), "distinct ids")
            row = event_socket_row(ns, d.pid, CT_GROUPS)
            check(row["Drops"] > 0, "no failed delivery: not a test")
            check_eq(lost_sum(d.events), 0, "sum of 'lost' in overrun lines "
                     "though every DESTROY was delivered (the kernel counted "
                     "%d failed deliveries it retried)" % row["Drops"])
            ctsd.poll(lambda: ns_stats(ctl)[1]["retried_deliveries"] ==
                      row["Drops"], "stats retried_deliveries = Drops %d "
                      "of the conntrack socket" % row["Drops"], timeout=5)
            dm, m = ns_stats(ctl)
            check_eq((m["retried_deliveries"], dm["retried_deliveries"]),
                     (row["Drops"],) * 2, "stats retried_deliveries "
                     "(namespace, total) vs Drops in /proc/net/netlink")
            check_eq((m["overruns"], m["kernel_drops"], m["socket_drops"],
                      m["event_sockets"], m["resync"]["runs"]),
                     (0, 0, 0, 2, 0), "stats overruns, kernel_drops, "
                     "socket_drops, event_sockets, resync runs")
            check_eq(event_socket_row(ns, d.pid, EXP_GROUPS)["Drops"], 0,
                     "Drops of the expectation socket")
            lines = retry_logged(d)[0]
            check(1 <= lines <= 3, "%d 'retried by the kernel' log lines "
                  "for a flush of a few seconds (every 10s at most): %r"
                  % (lines, d.stderr))
            ctsd.poll(lambda: retry_logged(d)[1] == row["Drops"],
                      "the log's last 'so far' = Drops %d" % row["Drops"],
                      timeout=12)


def ftp_port_burst(n, port0=40000):
    """One FTP control connection on 127.0.0.1:21 that logs in and then
    announces n data ports with PORT, one at a time (each answered before
    the next, so that each command is a segment of its own, which the
    kernel's FTP helper needs).  The helper keeps one expectation per
    master: each PORT makes one (NEW) and evicts the previous (DESTROY).
    (On loopback the helper sees each segment twice, and the second time
    replaces the expectation with an identical one: more events, as many
    every run.)  Returns n."""
    import socket
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 21))
    srv.listen(1)
    c = socket.create_connection(("127.0.0.1", 21), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sc, _ = srv.accept()
    sc.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sc.settimeout(5)
    sc.sendall(b"220 ctsd fake ftp\r\n")
    ctsd._ftp_reply(c, b"220")
    # The helper parses only what follows a newline it saw.
    c.sendall(b"USER anonymous\r\n")
    ctsd._ftp_reply(sc, b"USER")
    sc.sendall(b"230 logged in\r\n")
    ctsd._ftp_reply(c, b"230")
    for i in range(n):
        p = port0 + i
        c.sendall(b"PORT 127,0,0,1,%d,%d\r\n" % (p >> 8, p & 0xff))
        ctsd._ftp_reply(sc, b"PORT")
        sc.sendall(b"200 PORT ok\r\n")
        ctsd._ftp_reply(c, b"200")
    c.close()
    sc.close()
    srv.close()
    return n


def expect_lines(evs):
    return [e for e in evs if e.get("type") == "expect"]


@case
def reliable_expect_overruns_reported():
    """--reliable with the default --types ct,expect: the expectation
    groups have an ordinary socket of their own, where the kernel drops
    what does not fit and never retries it.  An FTP control connection
    announces 300 ports: first to a daemon with the default buffer, which
    gets every expectation event (E of them, no overrun); then, in the
    same way, to one with a 4K buffer, stopped (SIGSTOP) meanwhile:
    overrun lines come, their "lost" add up to the Drops of the
    expectation socket in /proc/net/netlink, to stats kernel_drops and
    socket_drops, and expectation lines + lost = E; the conntrack
    socket's Drops are stats retried_deliveries, not loss; no resync runs
    for lost expectations."""
    n = 300
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=ctsd.FTP_RULES) as ns:
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--reliable"] + socks,
                         validate="sample") as d:
            check_eq(ns.call(ftp_port_burst, n), n, "PORT commands")
            settle(d, ctl, "reference burst", runs=0)
            events = len(expect_lines(d.events))
            check(events >= 2 * n, "%d expectation events for %d PORT "
                  "commands" % (events, n))
        with ctsd.Daemon(ns, ["--reliable", "--rcvbuf", "4K", "--rcvbuf-max",
                              "4K"] + socks, allow_loss=True) as d:
            check_eq(len(event_socket_rows(ns, d.pid)), 2, "event sockets")
            check_eq((event_socket_row(ns, d.pid, CT_GROUPS)["Groups"],
                      event_socket_row(ns, d.pid, EXP_GROUPS)["Groups"]),
                     (CT_GROUPS, EXP_GROUPS), "groups of the two sockets")
            d.proc.send_signal(signal.SIGSTOP)
            try:
                check_eq(ns.call(ftp_port_burst, n, 41000), n,
                         "PORT commands")
            finally:
                d.proc.send_signal(signal.SIGCONT)
            dm, m = settle(d, ctl, "burst", runs=0)
            exp = event_socket_row(ns, d.pid, EXP_GROUPS)
            ct = event_socket_row(ns, d.pid, CT_GROUPS)
            lost = lost_sum(d.events)
            check(exp["Drops"] > 0, "no expectation event was dropped on a "
                  "4K buffer: not a test (%r)" % exp)
            check_eq(lost, exp["Drops"], "sum of 'lost' in overrun lines vs "
                     "Drops of the expectation socket")
            check_eq((m["kernel_drops"], m["socket_drops"],
                      dm["kernel_drops"]), (exp["Drops"],) * 3,
                     "stats kernel_drops, socket_drops, total kernel_drops")
            check(m["overruns"] > 0, "stats overruns: %r" % m)
            check_eq((m["retried_deliveries"], m["event_sockets"]),
                     (ct["Drops"], 2), "stats retried_deliveries (vs the "
                     "conntrack socket's Drops), event_sockets")
            check_eq(len(expect_lines(d.events)) + lost, events,
                     "expectation lines + lost vs the events of %d PORT "
                     "commands to the reference daemon" % n)
            check_eq(m["resync"]["runs"], 0, "resyncs after expectation "
                     "loss (a resync cannot mend expectations)")
            check(any(l.endswith(" (expectations): event socket overrun: "
                                 "the kernel dropped %d messages"
                                 % overruns(d.events)[0]["lost"])
                      for l in d.stderr), "the log does not name the "
                  "expectation socket: %r" % d.stderr)


@case
def reliable_types_ct_one_socket():
    """--reliable --types ct: one event socket, reliable, conntrack groups
    only.  --reliable --types expect: one ordinary socket, and a notice
    that reliable mode has nothing to protect."""
    with ctsd.Netns() as ns:
        with ctsd.Daemon(ns, ["--reliable", "--types", "ct"]) as d:
            check_eq(event_socket_row(ns, d.pid)["Groups"], CT_GROUPS,
                     "groups of the one socket")
            check(any(l.endswith(", reliable") for l in d.stderr),
                  "monitoring line: %r" % d.stderr)
        note = (r"^ctstreamd: --reliable has nothing to protect with --types "
                r"expect \(the kernel never retries expectation events\): "
                r"the event socket is an ordinary one$")
        with ctsd.Daemon(ns, ["--reliable", "--types", "expect"],
                         allow_stderr=[note]) as d:
            check_eq(event_socket_row(ns, d.pid)["Groups"], EXP_GROUPS,
                     "groups of the one socket")
            check(any(re.match(note, l) for l in d.stderr),
                  "no notice: %r" % d.stderr)
            check(not any("reliable" in l for l in d.stderr
                          if "monitoring" in l), "the monitoring line says "
                  "reliable: %r" % d.stderr)


@case
def rcvbuf_grows_by_doubling():
    """--rcvbuf 64K --rcvbuf-max 1M: bursts with the daemon stopped make
    overruns; after each, stats' rcvbuf has doubled (the kernel reports
    twice what was asked) until the maximum; the log says "grown to" for
    each step and "at its maximum" once, however many overruns follow."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES, sysctls=LONG_UDP) as ns:
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--rcvbuf", "64K", "--rcvbuf-max", "1M"] + socks,
                         allow_loss=True, validate="sample") as d:
            k = 1 << 10
            seen = [ns_stats(ctl)[1]["rcvbuf"]]
            check_eq(seen[0], 128 * k, "stats rcvbuf at startup")
            for burst in range(6):
                before = ns_stats(ctl)[1]["overruns"]
                d.proc.send_signal(signal.SIGSTOP)
                try:
                    ns.call(ctsd.udp_flood, "127.0.1.%d" % (burst + 1),
                            10000, 6000)
                finally:
                    d.proc.send_signal(signal.SIGCONT)
                deadline = time.monotonic() + ctsd.scaled(10)
                while ns_stats(ctl)[1]["overruns"] == before:
                    check(time.monotonic() < deadline, "burst %d: no "
                          "overrun" % (burst + 1))
                    time.sleep(0.1)
                dm, m = settle(d, ctl, "burst %d" % (burst + 1))
                seen.append(m["rcvbuf"])
            want = [128 * k, 256 * k, 512 * k, 1024 * k, 2048 * k, 2048 * k,
                    2048 * k]
            check_eq(seen, want, "stats rcvbuf at startup and after each "
                     "burst")
            check_eq(m["rcvbuf_grown"], 4, "stats rcvbuf_grown")
            grown = [int(x) for x in re.findall(
                r"receive buffer grown to (\d+) bytes", "\n".join(d.stderr))]
            check_eq(grown, [128 * k, 256 * k, 512 * k, 1024 * k],
                     "sizes in the 'grown to' log lines")
            at_max = [l for l in d.stderr if "at its maximum" in l]
            check_eq(len(at_max), 1, "'at its maximum' log lines")
            check("(1048576 bytes" in at_max[0], "the log does not name the "
                  "maximum: %r" % at_max[0])
            check_eq(lost_sum(d.events), event_socket_row(ns, d.pid)["Drops"],
                     "sum of 'lost' vs Drops")


# ---------------------------------------------------------------------------
# Requests and resyncs do not hold the stream up, resyncs are paced

# Conntrack on, events for every entry (also those made before the
# daemon: nf_conntrack_events=2 may give them none), long UDP timeouts.
EVENTS_ON = dict(LONG_UDP, **{"net.netfilter.nf_conntrack_events": 1})


def request_loop(ctl, get, stop, out):
    """Until stop is set: stats and get requests, one after the other, on
    one control connection.  out gets (command, seconds to the answer,
    True or the error code) for each."""
    with ctsd.Subscriber(ctl, validate="sample") as c:
        k = 0
        while not stop.is_set():
            req = {"cmd": "stats"} if k % 2 == 0 else \
                {"cmd": "get", "tuple": get}
            k += 1
            t = time.monotonic()
            r = c.request(req, timeout=60)
            out.append((req["cmd"], time.monotonic() - t,
                        True if r.get("ok") else
                        r.get("error", {}).get("code")))


@case
def flush_with_requests_loses_nothing():
    """200,000 entries, flushed with conntrack -F while a control client
    sends stats and get requests in a loop.  Each request needs the
    kernel, whose ctnetlink mutex the flush holds from start to end (a
    request sent meanwhile sleeps in sendto), and the netlink helper
    sends them for the daemon.  The daemon must go on reading its event
    socket meanwhile: Drops of its socket in /proc/net/netlink stay 0, it
    counts no overrun, stdout has one destroy line for each of the 200,000
    ids, and every request is answered (a get with the entry or
    not_found).  Before requests stopped waiting for the helper, the daemon
    slept with it for the whole flush and the kernel dropped most of it."""
    if ctsd.sanitized():
        # What it measures is whether the daemon keeps reading, against a
        # buffer sized for a daemon at full speed; a sanitized one is
        # several times slower and falls behind whatever it does.
        raise ctsd.Skip("a timing case: not under AddressSanitizer")
    n = 200000
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=None, sysctls=EVENTS_ON) as ns:
        ev, ctl, socks = sockets(tmp)
        # A buffer for about half the flush: enough for a daemon that
        # falls behind for want of CPU (the machine may be busy), not for
        # one that stops reading until the flush is over.
        with ctsd.Daemon(ns, ["--events", "destroy", "--rcvbuf", "64M",
                              "--rcvbuf-max", "64M", "--sub-hiwat", "1G",
                              "--resync-delay", "100"] + socks,
                         allow_loss=True, validate="sample") as d:
            check_eq(ctsd.load_entries(ns, n), n, "entries after conntrack "
                     "-R")
            get = {"proto": "udp", "src": "10.10.0.0", "dst": "10.255.0.1",
                   "sport": 1024, "dport": 53}
            stop, answers = threading.Event(), []
            t = threading.Thread(target=request_loop,
                                 args=(ctl, get, stop, answers), daemon=True)
            t.start()
            try:
                ctsd.poll(lambda: len(answers) >= 4, "the first answers")
                before = len(answers)
                t0 = time.monotonic()
                ns.conntrack("-F")
                flush_s = time.monotonic() - t0
                during = len(answers) - before
                time.sleep(0.2)
            finally:
                stop.set()
                t.join(ctsd.scaled(60))
            check(not t.is_alive(), "the request loop did not end")
            check_eq(ns.conntrack("-C").stdout.strip(), "0", "entries left")

            def caught_up():
                dm, m = ns_stats(ctl)
                return (dm["events"]["ct"]["destroy"] + m["kernel_drops"]
                        >= n and dm["lines"] == last_seq(d.events) and
                        not m["resync"]["running"])
            ctsd.poll(caught_up, "the daemon to read the flush and stdout "
                      "to catch up", timeout=30)
            dm, m = ns_stats(ctl)
            row = event_socket_row(ns, d.pid)
            waits = sorted(w for _, w, _ in answers)
            print("# flush of %d: %.2fs; %d answers, %d during the flush, "
                  "longest wait %.2fs" % (n, flush_s, len(answers), during,
                                          waits[-1]))
            check_eq((row["Drops"], m["kernel_drops"], m["overruns"]),
                     (0, 0, 0), "Drops of the event socket, stats "
                     "kernel_drops and overruns (the daemon read %d of %d "
                     "destroy events)" % (dm["events"]["ct"]["destroy"], n))
            # (Not distinct ids: among 200,000 entries a few share one.)
            got = [e for e in d.events if e.get("event") == "destroy"]
            check_eq(len(got), n, "destroy lines on stdout")
            check(not [e for e in d.events if e.get("type") in
                       ("overrun", "lost")], "overrun or lost lines")
            bad = [a for a in answers if a[2] is not True and
                   not (a[0] == "get" and a[2] == "not_found")]
            check(not bad, "failed requests: %r" % bad[:5])


class PacedReader:
    """A subscriber of the events socket that reads `chunk` bytes every
    `pause` seconds (pause None: not at all until drain()).  Keeps the
    lines it read, parsed."""

    def __init__(self, path, chunk=65536, pause=0.02):
        self.lines = []
        self.buf = b""
        self.chunk, self.pause = chunk, pause
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        ctsd.add_cleanup(self.close)
        # The daemon has taken it as a subscriber once it answers.
        self.sock.sendall(b'{"cmd":"ping","id":1}\n')
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            check(data, "the daemon closed a subscriber")
            self.buf += data
        self._take()
        self.thread = None
        if pause is not None:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def _take(self):
        *done, self.buf = self.buf.split(b"\n")
        self.lines += [json.loads(x) for x in done]

    def _run(self):
        while not self.stop.is_set():
            self.sock.settimeout(0.1)
            try:
                data = self.sock.recv(self.chunk)
            except socket.timeout:
                continue
            if not data:
                break
            self.buf += data
            self._take()
            time.sleep(self.pause)

    def drain(self, quiet=0.5):
        """Read everything there is, until nothing comes for `quiet`."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(ctsd.scaled(5))
        self.sock.settimeout(quiet)
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    break
                self.buf += data
        except socket.timeout:
            pass
        self._take()
        return self.lines

    def close(self):
        ctsd.remove_cleanup(self.close)
        self.stop.set()
        self.sock.close()


@case
def resync_paced_to_subscribers():
    """60,000 entries known at startup; the daemon (4K buffer, 1M high
    watermark for subscribers) is stopped while the table is flushed and
    20,000 new entries are made, so the kernel drops nearly all of those
    events, and the resync that follows has some 20,000 new lines (from
    its dump) and 60,000 id-only destroy lines (from its sweep) to say,
    about 12 MB.  A subscriber that reads 64 KiB every 20 ms gets every
    one of them: no lost line, as many resync lines as stats count, no id
    destroyed twice, the flushed ids destroyed (but one the kernel gave
    again to a new entry: that entry's new line replaces it), and the
    table it rebuilds from its lines equal to conntrack -L's; so does
    stdout.  A subscriber that never reads does not hold the resync up for
    ever: the resync is done while it sleeps, and when it reads at last it
    has a lost line.  (The resync published all its lines at once before,
    and the paced reader lost most of them.)"""
    n, k = 60000, 20000
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(nft=None, sysctls=EVENTS_ON) as ns:
        check_eq(ctsd.load_entries(ns, n), n, "entries after conntrack -R")
        old = ctsd.conntrack_ids(ns)
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--rcvbuf", "4K", "--rcvbuf-max", "4K",
                              "--resync-delay", "100", "--sub-hiwat", "1M",
                              "--sub-lowat", "256K"] + socks,
                         allow_loss=True, validate="sample") as d:
            # (Not always n: among so many entries two may share an id.)
            d.wait_stderr(r": \d+ entries known at startup$", timeout=20)
            slow = PacedReader(ev)
            stalled = PacedReader(ev, pause=None)
            d.proc.send_signal(signal.SIGSTOP)
            try:
                ns.conntrack("-F")
                check_eq(ctsd.load_entries(ns, k, src_net=11), k,
                         "new entries after conntrack -R")
            finally:
                d.proc.send_signal(signal.SIGCONT)
            t0 = time.monotonic()
            dm, m = settle(d, ctl, "flush while stopped", timeout=30)
            took = time.monotonic() - t0
            new = ctsd.conntrack_ids(ns)
            rs = m["resync"]
            check(rs["removed"] > n // 2 and rs["added"] > k // 2,
                  "the resync said too little: %r" % rs)
            ctsd.poll(lambda: len([e for e in slow.lines if e.get("resync")])
                      >= rs["removed"] + rs["added"], "the paced reader's "
                      "resync lines", timeout=20)
            lines = slow.drain()
            late = stalled.drain()
            print("# resync of %d added and %d vanished entries done %.1fs "
                  "after the burst; %d flushed ids reused" % (
                      rs["added"], rs["removed"], took, len(old & new)))
            for what, got in (("the paced reader", lines),
                              ("stdout", d.events)):
                lost = [e for e in got if e.get("type") == "lost"]
                check(not lost, "%s has lost lines: %r" % (what, lost[:3]))
                said = collections.Counter(e["event"] for e in got
                                           if e.get("resync"))
                check_eq((said["new"], said["destroy"]),
                         (rs["added"], rs["removed"]), "%s: resync new and "
                         "destroy lines vs stats added and removed" % what)
                gone = [e["id"] for e in got if e.get("event") == "destroy"]
                check_eq(len(gone), len(set(gone)), "%s: destroy lines "
                         "naming an id twice" % what)
                # Ids are 32 bits: the kernel may give a flushed entry's id
                # to one of the new ones (it did in 5 of 11 runs here).
                # The resync's new line for it then replaces the old entry,
                # and it is not said destroyed (by id alone, that line
                # would destroy the new entry); the kernel's own DESTROY,
                # if it came through, still says it.
                gone = set(gone)
                must = old - new
                check(must <= gone <= old, "%s: ids of the destroy lines vs "
                      "the flushed entries: %d missing, %d extra (%d flushed "
                      "ids reused by new entries)" % (
                          what, len(must - gone), len(gone - old),
                          len(old & new)))
                rebuilt = apply_stream(got)
                check(rebuilt == new, "%s: rebuilt from the lines vs "
                      "conntrack -L: %d missing, %d extra" % (
                          what, len(new - rebuilt), len(rebuilt - new)))
            check([e for e in late if e.get("type") == "lost"],
                  "the subscriber that never read has no lost line")
            slow.close()
            stalled.close()


# ---------------------------------------------------------------------------
# The kernel filter

_TRUTH = re.compile(r"^\s*\[(NEW|UPDATE|DESTROY)\]\s+(\S+)\s.*?\bsrc=(\S+) "
                    r"dst=(\S+) .*\bid=(\d+)")


def truth_flows(truth):
    """conntrack -E's events as (kind, proto, orig src, orig dst, id)."""
    out = []
    for _, _, line in truth.events():
        m = _TRUTH.match(line)
        check(m is not None, "cannot parse conntrack -E line %r" % line)
        out.append((m.group(1).lower(), m.group(2), m.group(3), m.group(4),
                    int(m.group(5))))
    return out


@case
def kernel_proto_filters_in_the_kernel():
    """--kernel-proto udp, TCP and UDP traffic: the daemon reads only the
    UDP events (stats netlink_messages counts exactly the UDP events
    conntrack -E saw, not all of them) and writes exactly those."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns, ctsd.ConntrackEvents(ns) as truth:
        ev, ctl, socks = sockets(tmp)
        with ctsd.Daemon(ns, ["--kernel-proto", "udp"] + socks) as d:
            for i in range(3):
                ns.call(ctsd.tcp_flow, "127.0.0.1", 5000 + i)
                ns.call(ctsd.udp_exchange, "127.0.0.1", 6000 + i)
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 6100)
            ns.conntrack("-D", "-p", "udp", "--sport", str(r["client"][1]))
            last = d.wait_match("marker destroy", event="destroy",
                                orig={"sport": r["client"][1]})
            seen = truth.wait_event("destroy", last["id"])
            flows = truth_flows(truth)
            udp = [(k, i) for k, p, _, _, i in flows if p == "udp"]
            tcp = [(k, i) for k, p, _, _, i in flows if p == "tcp"]
            check(len(tcp) >= 15 and len(udp) >= 9, "conntrack -E saw %d "
                  "TCP and %d UDP events" % (len(tcp), len(udp)))
            check_eq([(e["event"], e["id"]) for e in d.events], udp,
                     "the daemon's lines vs conntrack -E's UDP events")
            m = ns_stats(ctl)[1]
            check_eq(m["netlink_messages"], len(udp), "stats netlink_messages "
                     "(conntrack -E saw %d events, %d of them UDP)"
                     % (len(seen), len(udp)))


def _addr_ok(addr, spec):
    """The kernel filter's rule for one address option: a list ("!"
    inverts it) of prefixes; prefixes of the other family do not
    restrict."""
    import ipaddress
    if spec is None:
        return True
    neg = spec.startswith("!")
    nets = [ipaddress.ip_network(w, strict=False)
            for w in spec.lstrip("!").split(",")]
    a = ipaddress.ip_address(addr)
    same = [n for n in nets if n.version == a.version]
    if not same:
        return True
    return any(a in n for n in same) != neg


def _proto_ok(proto, spec):
    """The rule of --kernel-proto, for the protocol names used here."""
    if spec is None:
        return True
    neg = spec.startswith("!")
    return (proto in spec.lstrip("!").split(",")) != neg


def _keeps(opts, proto, src, dst):
    """Whether a daemon with these (option, value) pairs keeps an event."""
    for opt, spec in opts:
        if opt == "--kernel-proto":
            ok = _proto_ok(proto, spec)
        else:
            ok = _addr_ok(src if opt == "--kernel-src" else dst, spec)
        if not ok:
            return False
    return True


ADDRS = ["10.77.0.%d/24" % i for i in (1, 2, 3, 4)] + \
    ["fd77::%d/64" % i for i in (1, 2, 3, 4)]


def check_address_filters(filters, tcp=False):
    """One daemon per (option, value), or per tuple of such pairs, on one
    namespace with ADDRS, UDP (and with tcp, TCP too) between every pair
    of .1/.2 and .3/.4 over IPv4 and IPv6: each daemon writes exactly the
    conntrack -E events its filter keeps, and stats netlink_messages
    counts just those."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(addrs=ADDRS) as ns, ctsd.ConntrackEvents(ns) as truth:
        daemons = []
        try:
            for i, f in enumerate(filters):
                opts = [f] if isinstance(f[0], str) else list(f)
                ctl = os.path.join(tmp, "ctl%d.sock" % i)
                d = ctsd.Daemon(ns, [w for o in opts for w in o] +
                                ["--control-socket", ctl])
                d.start()
                daemons.append((opts, ctl, d))
            port = 7000
            for fmt in ("10.77.0.%d", "fd77::%d"):
                for s in (1, 2):
                    for t in (3, 4):
                        port += 1
                        ns.call(ctsd.udp_exchange, fmt % t, port, [1], [1],
                                fmt % s)
                        if tcp:
                            ns.call(ctsd.tcp_flow, fmt % t, port, None,
                                    None, fmt % s)
            # A TCP flow makes a new and at least 4 updates (states).
            flows = truth.wait_for(lambda evs: len(evs) >= 16 + tcp * 40)
            if tcp:
                time.sleep(0.5)     # the last TCP updates
            else:
                check_eq(len(flows), 16, "conntrack -E events (8 flows, "
                         "new and update)")
            flows = truth_flows(truth)
            for opts, ctl, d in daemons:
                keep = [(k, i) for k, p, src, dst, i in flows
                        if _keeps(opts, p, src, dst)]
                what = " ".join(w for o in opts for w in o)
                deadline = time.monotonic() + ctsd.scaled(3)
                while len(d.events) < len(keep) and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.2)     # and nothing more comes
                got = [(e["event"], e["id"]) for e in d.events]
                check_eq(got, keep, what + ": the daemon's lines vs the "
                         "conntrack -E events the filter keeps (%s)" %
                         ", ".join("%s>%s" % (s, t) for k, _, s, t, _ in
                                   flows if k == "new"))
                check_eq(ns_stats(ctl)[1]["netlink_messages"], len(keep),
                         what + ": stats netlink_messages")
            for _, _, d in daemons:
                d.stop()
        finally:
            for _, _, d in daemons:
                d._terminate()


@case
def kernel_src_dst_ipv4_ipv6_negation():
    """--kernel-src/--kernel-dst with IPv4 and IPv6 prefixes, mixed
    lists and "!" (original direction; a list of one family does not
    restrict the other)."""
    check_address_filters([
        ("--kernel-src", "10.77.0.1"),
        ("--kernel-src", "10.77.0.1,fd77::1"),
        ("--kernel-src", "!10.77.0.1,fd77::1"),
        ("--kernel-dst", "fd77::3/128"),
        ("--kernel-dst", "fd77::/126"),
        ("--kernel-dst", "!10.77.0.4/32,fd77::4"),
    ])


@case
def kernel_dst_ipv4_list_keeps_ipv6():
    """--kernel-dst 10.77.0.0/30 (and 10.77.0.3,fd77::3, !5.0.0.0/8): IPv6
    flows pass, to fd77::3 in the second (the IPv4 list does not restrict
    IPv6).  libnetfilter_conntrack's program, which the daemon used
    before, took the bytes of CTA_TUPLE_PROTO of an IPv6 message for its
    IPv4 destination (5.0.1.0 for UDP) and dropped them all."""
    check_address_filters([
        ("--kernel-dst", "10.77.0.0/30"),
        ("--kernel-dst", "10.77.0.3,fd77::3"),
        ("--kernel-dst", "!5.0.0.0/8"),
    ])


@case
def kernel_ipv6_lists_keep_ipv4_every_prefix():
    """IPv6-only lists do not restrict IPv4 flows, and every prefix of an
    IPv6 list counts, not only the first (libnetfilter_conntrack 1.0.9
    gave up at the first prefix whose leading 96 bits differ)."""
    check_address_filters([
        ("--kernel-dst", "fd78::9,fd77::4"),
        ("--kernel-src", "fd78::/16,fd77::2"),
        ("--kernel-dst", "!fd78::/16,fd77::3"),
        ("--kernel-src", "fd77:0:0:1::/64"),
    ])


@case
def kernel_filters_combined():
    """--kernel-proto with --kernel-src/--kernel-dst, TCP and UDP over
    IPv4 and IPv6: every option must hold; each daemon writes exactly the
    events conntrack -E saw that its options keep."""
    check_address_filters([
        (("--kernel-proto", "udp"), ("--kernel-dst", "10.77.0.3,fd77::4")),
        (("--kernel-proto", "!udp"), ("--kernel-src", "10.77.0.1")),
        (("--kernel-proto", "tcp,udp"), ("--kernel-src", "!fd77::1"),
         ("--kernel-dst", "10.77.0.4,fd77::/126")),
    ], tcp=True)


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
