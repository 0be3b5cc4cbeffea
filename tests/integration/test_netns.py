#!/usr/bin/env python3
"""
test_netns.py - one daemon, several network namespaces.

--netns A --netns B [--netns C]: every event appears once, with the
"netns" of the namespace it happened in (conntrack -E runs in each as
ground truth); get, dump, stats and diagnose take "netns"; a subscriber
filtering on "netns" gets only that namespace's lines.  --netns-all: a
namespace made while the daemon runs is picked up and one deleted is
reported gone, its sockets closed in the daemon and in its helper.

Other processes on this machine make and delete namespaces too: with
--netns-all the daemon sees them, and the assertions look only at this
test's own names (ctsd-PID-N).

Needs root; exits 77 otherwise.  Run one case: test_netns.py NAME...
"""

import contextlib
import json
import os
import re
import socket
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


def allow_for(names):
    """stderr lines the daemon writes for every namespace it opens."""
    return ctsd.namespace_stderr(names)


def traffic(ns, port, addr="127.0.0.1"):
    """A TCP connection and a UDP flow (to addr, a loopback address)
    deleted with conntrack -D; returns the UDP flow's orig tuple (its
    destroy comes last)."""
    ns.call(ctsd.tcp_flow, addr, port)
    r = ns.call(ctsd.udp_exchange, addr, port + 1)
    ns.conntrack("-D", "-p", "udp", "--sport", str(r["client"][1]))
    return {"src": "127.0.0.1", "dst": addr, "sport": r["client"][1],
            "dport": port + 1}


# With --netns-all the daemon sees every namespace on the machine, other
# suites' floods included; traffic to this loopback address, and a kernel
# filter keeping only it, keep the test about its own namespaces.
OWN_ADDR = "127.77.0.1"
OWN_FILTER = ["--kernel-dst", "127.77.0.0/16"]


def lines_of(evs, name):
    return [e for e in evs if e.get("netns") == name]


def check_each_namespace(d, spaces, truths, markers):
    """Per namespace: the daemon's ct lines with that "netns" are exactly
    conntrack -E's events there, in order; every line has a "netns" of
    one of ours."""
    for ns in spaces:
        d.wait_match("%s: the marker's destroy" % ns.name, event="destroy",
                     netns=ns.name, orig=markers[ns.name])
    for e in d.events:
        check(e.get("netns") in [ns.name for ns in spaces],
              "a line without one of our namespaces: %r" % e)
    for ns in spaces:
        ours = [(e["event"], e["id"]) for e in lines_of(d.events, ns.name)
                if e["type"] == "ct"]
        theirs = truths[ns.name].wait_count(len(ours))
        check_eq([(k, i) for k, i, _ in theirs], ours, "%s: (event, id) of "
                 "the lines with its netns vs conntrack -E there" % ns.name)
        check(len(ours) >= 10, "%s: only %d events" % (ns.name, len(ours)))


def check_queries(ctl, spaces, d, markers):
    """get/dump/stats/diagnose with and without "netns"."""
    names = [ns.name for ns in spaces]
    # A UDP flow left in place in each namespace, to get and dump.
    flows = {}
    for ns in spaces:
        r = ns.call(ctsd.udp_exchange, "127.0.0.1", 6001)
        orig = {"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
                "sport": r["client"][1], "dport": 6001}
        up = d.wait_match("%s: update of the kept flow" % ns.name,
                          event="update", netns=ns.name,
                          orig={"sport": orig["sport"], "dport": 6001})
        flows[ns.name] = (orig, up["id"])
    for name in names:
        orig, i = flows[name]
        res, _ = ctsd.control_ok(ctl, {"cmd": "get", "netns": name,
                                       "tuple": orig})
        check_eq((res["event"], res["id"], res.get("netns")),
                 ("get", i, name), "get with netns %s" % name)
        res, _ = ctsd.control_ok(ctl, {"cmd": "get", "netns": name,
                                       "ct_id": i})
        check_eq((res["id"], res.get("netns")), (i, name),
                 "get by ct_id with netns %s" % name)
    r, _ = ctsd.control(ctl, {"cmd": "get", "tuple": flows[names[0]][0]})
    check_eq((r["ok"], r.get("error", {}).get("code")), (False, "bad_request"),
             "get without netns while %d namespaces are monitored (%r)"
             % (len(names), r))
    r, _ = ctsd.control(ctl, {"cmd": "get", "netns": "ctsd-none-such",
                              "tuple": flows[names[0]][0]})
    check_eq(r.get("error", {}).get("code"), "not_found",
             "get with an unknown netns (%r)" % r)

    truth_ids = {ns.name: ctsd.conntrack_ids(ns) for ns in spaces}
    for name in names:
        res, lines = ctsd.control_ok(ctl, {"cmd": "dump", "netns": name})
        check_eq({e.get("netns") for e in lines}, {name},
                 "netns of the lines of dump with netns %s" % name)
        check_eq({e["id"] for e in lines}, truth_ids[name],
                 "dump with netns %s vs conntrack -L there" % name)
        check_eq(res["count"], len(lines), "dump %s: count" % name)
    res, lines = ctsd.control_ok(ctl, {"cmd": "dump"})
    for name in names:
        check_eq({e["id"] for e in lines if e.get("netns") == name},
                 truth_ids[name], "dump without netns: the lines of %s"
                 % name)
    check_eq(res["count"], len(lines), "dump of all: count")

    for ns in spaces:
        res, _ = ctsd.control_ok(ctl, {"cmd": "stats", "netns": ns.name})
        check_eq(res["kernel"]["netns"], ns.name, "stats kernel netns")
        check_eq(res["kernel"]["entries"],
                 int(ns.conntrack("-C").stdout.strip()),
                 "stats kernel entries of %s vs conntrack -C" % ns.name)
        check_eq(sorted(m["netns"] for m in res["daemon"]["namespaces"]),
                 sorted(names), "stats daemon namespaces")
        mine = [m for m in res["daemon"]["namespaces"]
                if m["netns"] == ns.name][0]
        check_eq(mine["netlink_messages"],
                 len([e for e in lines_of(d.events, ns.name)
                      if e["type"] == "ct"]),
                 "stats netlink_messages of %s vs its lines" % ns.name)
        res, _ = ctsd.control_ok(ctl, {"cmd": "diagnose", "netns": ns.name})
        check_eq((res["netns"], res["nf_conntrack_events"]), (ns.name, 2),
                 "diagnose with netns")
        check_eq(sorted(x["netns"] for x in res["namespaces"]),
                 sorted(names), "diagnose namespaces")


def several(count):
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ctsd-"))
        spaces = [stack.enter_context(ctsd.Netns()) for _ in range(count)]
        truths = {ns.name: stack.enter_context(ctsd.ConntrackEvents(ns))
                  for ns in spaces}
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        args = []
        for ns in spaces[1:]:
            args += ["--netns", ns.name]
        # seq_gaps: get and dump answers take sequence numbers.
        d = stack.enter_context(ctsd.Daemon(
            spaces[0], args + ["--events-socket", ev, "--control-socket",
                               ctl], seq_gaps=True,
            allow_stderr=allow_for([ns.name for ns in spaces])))
        first = spaces[0].name
        sub = stack.enter_context(ctsd.Subscriber(ev))
        check_eq(sub.request({"cmd": "subscribe",
                              "filter": {"netns": first}})["ok"], True,
                 "subscribe with a netns filter")
        markers = {}
        for i, ns in enumerate(spaces):
            markers[ns.name] = traffic(ns, 5000 + 10 * i)
        check_each_namespace(d, spaces, truths, markers)
        sub.wait_for(lambda evs: ctsd.first(evs, event="destroy",
                                            orig=markers[first]),
                     "the marker of %s on the filtered subscriber" % first)
        check_eq([(e["event"], e["id"]) for e in sub.events],
                 [(e["event"], e["id"]) for e in lines_of(d.events, first)],
                 "lines of the subscriber filtering netns %s vs stdout's "
                 "lines of %s" % (first, first))
        check_queries(ctl, spaces, d, markers)


@case
def two_namespaces():
    """--netns A --netns B, a TCP connection and a UDP flow in each."""
    several(2)


@case
def three_namespaces():
    """--netns A --netns B --netns C, traffic in each."""
    several(3)


def admin_stderr(*cmds):
    """The log line of each change a test asks for (as root)."""
    return [r"^ctstreamd: client \d+ \(uid 0, pid %d\): (%s) \{"
            % (os.getpid(), "|".join(cmds))]


@case
def netns_clause_in_dump_flush_snapshot():
    """A filter's "netns" clause sees the namespace of the entries of a
    dump, a snapshot and a filtered flush: flush naming A with
    {"netns":A,...} deletes A's flow (matched 1), with {"netns":B}
    matches nothing; dump and snapshot with {"netns":B} give B's
    lines only."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ctsd-"))
        a = stack.enter_context(ctsd.Netns())
        b = stack.enter_context(ctsd.Netns())
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        d = stack.enter_context(ctsd.Daemon(
            a, ["--netns", b.name, "--events-socket", ev, "--control-socket",
                ctl], seq_gaps=True,
            allow_stderr=allow_for([a.name, b.name]) +
            admin_stderr("flush")))
        flows = {}
        for ns in (a, b):
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 6001)
            orig = {"src": "127.0.0.1", "dst": "127.0.0.1",
                    "sport": r["client"][1], "dport": 6001}
            up = d.wait_match("%s: update of the flow" % ns.name,
                              event="update", netns=ns.name, orig=orig)
            flows[ns.name] = (orig, up["id"])

        res, lines = ctsd.control_ok(ctl, {"cmd": "dump", "filter":
                                           {"netns": b.name}})
        check(lines and {e["netns"] for e in lines} == {b.name},
              "dump of all with a netns clause for B: %r" % lines)
        check(flows[b.name][1] in [e["id"] for e in lines],
              "B's flow is not in the dump filtered on B")
        check_eq(res["count"], len(lines), "dump filtered on B: count")
        res, lines = ctsd.control_ok(ctl, {"cmd": "dump", "netns": a.name,
                                           "filter": {"netns": b.name}})
        check_eq((res["count"], lines), (0, []),
                 "dump of A with a netns clause for B")

        with ctsd.Subscriber(ev) as sub:
            check_eq(sub.request({"cmd": "subscribe", "snapshot": True,
                                  "filter": {"netns": b.name,
                                             "types": "ct"}})["ok"],
                     True, "subscribe with a snapshot")
            sync = sub.wait_for(lambda evs: ctsd.first(evs, type="sync"),
                                "the sync line")
            snap = [e for e in sub.events if e.get("event") == "snapshot"]
            check(snap and {e["netns"] for e in snap} == {b.name},
                  "snapshot filtered on B: %r" % snap)
            check(flows[b.name][1] in [e["id"] for e in snap],
                  "B's flow is not in the snapshot filtered on B")
            check_eq(sync["entries"], len(snap), "sync entries")

        udp = {"proto": "udp", "dport": 6001}
        res, _ = ctsd.control_ok(ctl, {"cmd": "flush", "netns": a.name,
                                       "filter": dict(udp, netns=b.name)})
        check_eq(res, {"matched": 0, "deleted": 0, "gone": 0, "failed": 0},
                 "flush of A with a netns clause for B")
        res, _ = ctsd.control_ok(ctl, {"cmd": "flush", "netns": a.name,
                                       "filter": dict(udp, netns=a.name)})
        check_eq(res, {"matched": 1, "deleted": 1, "gone": 0, "failed": 0},
                 "flush of A with a netns clause for A")
        d.wait_match("the destroy of A's flow", event="destroy",
                     netns=a.name, id=flows[a.name][1])
        check(flows[a.name][1] not in ctsd.conntrack_ids(a),
              "A's flow is still in A's table")
        check(flows[b.name][1] in ctsd.conntrack_ids(b),
              "B's flow went too")


# ---------------------------------------------------------------------------

NETNS_ALL_STDERR = ctsd.NETNS_ALL_STDERR


def netlink_inodes_in(ns):
    return {r["Inode"] for r in ctsd.netlink_rows(ns) if r["Eth"] == 12}


def helper_of(d):
    """The daemon's helper.  It names itself ctstreamd-nl after the fork,
    which may be after the daemon said "ready": wait for the name."""
    def named():
        out = []
        for c in ctsd.children(d.pid):
            try:
                if ctsd.proc_status(c)["Name"] == "ctstreamd-nl":
                    out.append(c)
            except OSError:
                pass
        return out
    kids = ctsd.poll(named, "the helper process (ctstreamd-nl)", timeout=5,
                     interval=0.05)
    check_eq(len(kids), 1, "helper processes (ctstreamd-nl)")
    return kids[0]


def held_in(ns, d, helper):
    """The NETLINK_NETFILTER sockets of namespace ns that the daemon and
    its helper hold: (daemon's inodes, helper's inodes)."""
    held = netlink_inodes_in(ns)
    return held & ctsd.socket_inodes(d.pid), held & ctsd.socket_inodes(helper)


def wait_line(src, what, **pattern):
    """Wait for a line matching pattern on src (a Daemon's stdout or a
    Subscriber)."""
    return src.wait_for(lambda evs: ctsd.first(evs, **pattern), what)


def delete_and_check_gone(ns, d, helper, src, label=None):
    """Delete ns while the daemon runs: a netns gone line (on src) with
    its label (default: its name), and neither the daemon nor the helper
    keeps any of its sockets."""
    label = label or ns.name
    in_daemon, in_helper = held_in(ns, d, helper)
    check(len(in_daemon) >= 2 and in_helper == in_daemon,
          "sockets in %s: the daemon's %r, the helper's %r"
          % (ns.name, in_daemon, in_helper))
    ns.close()                  # ip netns del, while the daemon runs
    wait_line(src, "the netns gone line of " + label, type="netns",
              event="gone", netns=label)
    ctsd.poll(lambda: not (in_daemon & ctsd.socket_inodes(d.pid)),
              "the daemon to close its sockets in " + ns.name, timeout=5)
    ctsd.poll(lambda: not (in_helper & ctsd.socket_inodes(helper)),
              "the helper to close its sockets in " + ns.name, timeout=5)
    mine = [e for e in src.events if e.get("netns") == label]
    check_eq(mine[-1]["type"], "netns", "the last line of %s (gone)"
             % label)


def events_match_truth(src, ns, truth, marker):
    wait_line(src, "the marker's destroy in " + ns.name, event="destroy",
              netns=ns.name, orig=marker)
    ours = [(e["event"], e["id"]) for e in src.events
            if e.get("netns") == ns.name and e["type"] == "ct"]
    theirs = truth.wait_count(len(ours))
    check_eq([(k, i) for k, i, _ in theirs], ours,
             "%s: the daemon's lines vs conntrack -E" % ns.name)


class Polled:
    """A Daemon's stdout looked at every 0.1 s rather than at every line:
    with --netns-all other people's namespaces may write thousands of
    lines, and Daemon.wait_for would scan them all after each one."""

    def __init__(self, d):
        self.d = d

    @property
    def events(self):
        return list(self.d.events)

    # Generous: under "make check -j2" another suite may flood its own
    # namespaces, and with --netns-all this daemon writes all of it.
    def wait_for(self, pred, what, timeout=60):
        def look():
            if self.d.proc.poll() is not None:
                ctsd.fail("the daemon exited (%s) while waiting for %s; "
                          "its last stderr lines:\n%s" % (
                              self.d.proc.returncode, what,
                              "\n".join(self.d.stderr[-8:])))
            self.d._raise_errors()
            return pred(self.events)
        return ctsd.poll(look, what, timeout, interval=0.1)


@case
def netns_all_follows_namespaces():
    """--netns-all: a namespace made before the daemon is monitored; one
    made after gets a {"type":"netns","event":"new"} line, then its
    events (with its "netns", as conntrack -E saw them); deleting either
    gives {"type":"netns","event":"gone"}, and the daemon and its helper
    "ctstreamd-nl" close every socket they held in it."""
    with ctsd.Netns() as early:
        # A large queue for stdout: other namespaces may be busy.
        with ctsd.Daemon(None, ["--sub-hiwat", "1G"] + OWN_FILTER,
                         netns_all=True, seq_gaps=True,
                         allow_stderr=NETNS_ALL_STDERR, allow_loss=True,
                         validate="sample") as d:
            src = Polled(d)
            helper = helper_of(d)
            check(any(re.match(r"ctstreamd: monitoring %s: " %
                               re.escape(early.name), l) for l in d.stderr),
                  "%s, there at startup, is not monitored" % early.name)
            with ctsd.Netns() as late:
                new = wait_line(src, "the netns new line of " + late.name,
                                type="netns", event="new", netns=late.name)
                with ctsd.ConntrackEvents(late) as truth:
                    events_match_truth(src, late, truth,
                                       traffic(late, 5000, OWN_ADDR))
                check(all(e["seq"] > new["seq"] for e in src.events
                          if e.get("netns") == late.name and e is not new),
                      "a line of %s before its new line" % late.name)
                with ctsd.ConntrackEvents(early) as truth:
                    events_match_truth(src, early, truth,
                                       traffic(early, 5000, OWN_ADDR))
                delete_and_check_gone(late, d, helper, src)
                delete_and_check_gone(early, d, helper, src)
            for ns, kinds in ((late, ["new", "gone"]), (early, ["gone"])):
                check_eq([e["event"] for e in src.events if e.get("netns")
                          == ns.name and e["type"] == "netns"], kinds,
                         "netns lines of " + ns.name)


@case
def netns_all_reliable_two_sockets():
    """--netns-all --reliable: a namespace made while the daemon runs gets
    its sockets from the helper, two event sockets among them (conntrack
    groups, reliable; expectation groups, ordinary), held by the daemon
    and the helper alike; an FTP exchange there gives its expect lines
    (read from the second socket); deleting the namespace closes both in
    the daemon and in the helper."""
    with ctsd.Daemon(None, ["--reliable", "--sub-hiwat", "1G"],
                     netns_all=True, seq_gaps=True,
                     allow_stderr=NETNS_ALL_STDERR, allow_loss=True,
                     validate="sample") as d:
        src = Polled(d)
        helper = helper_of(d)
        with ctsd.Netns(nft=ctsd.FTP_RULES) as late:
            wait_line(src, "the netns new line of " + late.name,
                      type="netns", event="new", netns=late.name)
            mine = ctsd.socket_inodes(d.pid)
            rows = [r for r in ctsd.netlink_rows(late) if r["Eth"] == 12
                    and r["Groups"] != 0 and r["Inode"] in mine]
            check_eq(sorted(r["Groups"] for r in rows), [0x07, 0x38],
                     "groups of the daemon's event sockets in " + late.name)
            check({r["Inode"] for r in rows} <= ctsd.socket_inodes(helper),
                  "the helper does not hold both event sockets")
            late.call(ctsd.ftp_active)
            wait_line(src, "an expect line of " + late.name, type="expect",
                      event="new", netns=late.name)
            delete_and_check_gone(late, d, helper, src)


@case
def netns_all_new_namespace_is_indexed():
    """--netns-all with a subscriber connected: a namespace that appears
    gets its startup dump ("NAME: N entries known at startup", stats
    resync without errors, not running), and deleting it leaves the
    daemon running and able to exit 0 on SIGTERM."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        ev = os.path.join(tmp, "ev.sock")
        ctl = os.path.join(tmp, "ctl.sock")
        with ctsd.Daemon(None, ["--sub-hiwat", "1G", "--events-socket", ev,
                                "--control-socket", ctl], netns_all=True,
                         seq_gaps=True, allow_stderr=NETNS_ALL_STDERR,
                         allow_loss=True, validate="sample") as d:
            sub = ctsd.Subscriber(ev)
            with ctsd.Netns() as late:
                sub.request({"cmd": "subscribe", "filter":
                             {"netns": late.name}})
                d.wait_stderr(r"^ctstreamd: monitoring %s: "
                              % re.escape(late.name))
                got = ctsd.poll(lambda: [l for l in d.stderr if re.match(
                    r"ctstreamd: %s: (\d+ entries known at startup|startup "
                    r"dump failed)" % re.escape(late.name), l)] or
                    d.proc.poll() is not None, "the startup dump of "
                    + late.name, timeout=5)
                problems = []
                if d.proc.poll() is not None or not got[0].endswith(
                        "entries known at startup"):
                    problems.append("%s: %r" % (late.name, got))
                res, _ = ctsd.control_ok(ctl, {"cmd": "stats",
                                               "netns": late.name})
                rs = res["daemon"]["namespaces"]
                rs = [m for m in rs if m["netns"] == late.name][0]["resync"]
                if (rs["errors"], rs["running"]) != (0, False):
                    problems.append("stats resync of %s: errors %d, running "
                                    "%s" % (late.name, rs["errors"],
                                            rs["running"]))
            try:
                Polled(d).wait_for(lambda evs: ctsd.first(
                    evs, type="netns", event="gone", netns=late.name),
                    "the gone line of " + late.name)
                time.sleep(0.3)
            except ctsd.TestFailure:
                pass
            if d.proc.poll() is not None:
                problems.append("the daemon died (status %s) when %s went "
                                "away" % (d.proc.returncode, late.name))
            sub.close()
            if problems:
                d._terminate()
                ctsd.fail("; ".join(problems))


@case
def named_namespace_deleted():
    """--netns A --netns B and B is deleted: a gone line for B, its
    sockets closed (daemon and helper); A goes on, queries naming B get
    not_found."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ctsd-"))
        a = stack.enter_context(ctsd.Netns())
        b = stack.enter_context(ctsd.Netns())
        ctl = os.path.join(tmp, "ctl.sock")
        d = stack.enter_context(ctsd.Daemon(
            a, ["--netns", b.name, "--control-socket", ctl], seq_gaps=True,
            allow_stderr=allow_for([a.name, b.name]) + NETNS_ALL_STDERR))
        helper = helper_of(d)
        delete_and_check_gone(b, d, helper, d)
        with ctsd.ConntrackEvents(a) as truth:
            events_match_truth(d, a, truth, traffic(a, 5000))
        r, _ = ctsd.control(ctl, {"cmd": "stats", "netns": b.name})
        check_eq(r.get("error", {}).get("code"), "not_found",
                 "stats naming the deleted namespace (%r)" % r)
        res, _ = ctsd.control_ok(ctl, {"cmd": "stats"})
        check_eq([m["netns"] for m in res["daemon"]["namespaces"]],
                 [a.name], "namespaces in stats")


def read_reply(sock, rid, timeout=20):
    """Read lines from a raw control socket until the reply with id rid:
    (reply, the lines before it)."""
    f = sock.makefile("rb")
    sock.settimeout(ctsd.scaled(timeout))
    lines = []
    for raw in f:
        ev = json.loads(raw)
        if ev.get("type") == "reply" and ev.get("id") == rid:
            return ev, lines
        lines.append(ev)
    ctsd.fail("the connection closed before the reply %r" % rid)


@case
def dump_loses_its_last_namespace_then_none_is_left():
    """--netns A --netns B, a dump of both paused in B (its reader does
    not read) while B is deleted: the reply is the count of the lines
    sent, not not_found.  Then A is deleted too, and with no namespace
    left, stats answers with "namespaces":[] and "kernel":null,
    diagnose with {"namespaces":[]}, dump with the count 0; get is
    not_found."""
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="ctsd-"))
        a = stack.enter_context(ctsd.Netns())
        b = stack.enter_context(ctsd.Netns())
        loaded = ctsd.load_entries(b, 4000)
        check(loaded >= 4000, "entries in B: %d" % loaded)
        ctl = os.path.join(tmp, "ctl.sock")
        d = stack.enter_context(ctsd.Daemon(
            a, ["--netns", b.name, "--control-socket", ctl,
                "--sub-hiwat", "64K", "--sub-lowat", "16K"], seq_gaps=True,
            allow_stderr=allow_for([a.name, b.name]) + NETNS_ALL_STDERR))
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stack.callback(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(ctl)
        sock.sendall(b'{"cmd":"dump","id":"all"}\n')

        def paused():
            res, _ = ctsd.control_ok(ctl, {"cmd": "stats"})
            return any(x.get("socket") == "control" and
                       x["queued_bytes"] >= 32 * 1024
                       for x in res["daemon"]["subscriber_list"])
        ctsd.poll(paused, "the dump to pause for its reader")
        b.close()
        d.wait_match("the gone line of B", type="netns", event="gone",
                     netns=b.name)
        r, lines = read_reply(sock, "all")
        check_eq(r.get("ok"), True, "the reply to the dump whose last "
                 "namespace went away (%r)" % r)
        check_eq(r["result"]["count"], len(lines), "dump count")
        check(len(lines) < loaded, "the dump of B was not cut short: %d "
              "lines" % len(lines))
        check({e.get("netns") for e in lines} <= {a.name, b.name},
              "netns of the dump lines")

        a.close()
        d.wait_match("the gone line of A", type="netns", event="gone",
                     netns=a.name)
        res, _ = ctsd.control_ok(ctl, {"cmd": "stats"})
        check_eq((res["daemon"]["namespaces"], res["kernel"]), ([], None),
                 "stats without a namespace: namespaces and kernel")
        res, _ = ctsd.control_ok(ctl, {"cmd": "diagnose"})
        check_eq(res, {"namespaces": []}, "diagnose without a namespace")
        res, lines = ctsd.control_ok(ctl, {"cmd": "dump", "table": "expect"})
        check_eq((res, lines), ({"count": 0}, []),
                 "dump without a namespace")
        for req in ({"cmd": "get", "tuple": {"proto": "udp", "src":
                                             "127.0.0.1", "dst": "127.0.0.1",
                                             "sport": 1, "dport": 2}},
                    {"cmd": "stats", "netns": a.name},
                    {"cmd": "dump", "netns": a.name}):
            r, _ = ctsd.control(ctl, req)
            check_eq(r.get("error", {}).get("code"), "not_found",
                     "%s without a namespace (%r)" % (req, r))


@case
def namespace_by_path_deleted():
    """--netns /run/netns/A --netns /var/run/netns/B (a path through the
    /var/run symbolic link, where there is one): deleting each gives a
    gone line with the label as given, and the daemon and its helper
    close every socket they held in it, as for a name."""
    via_var = os.path.realpath("/var/run/netns") == "/run/netns"
    with contextlib.ExitStack() as stack:
        a = stack.enter_context(ctsd.Netns())
        b = stack.enter_context(ctsd.Netns())
        la = "/run/netns/" + a.name
        lb = ("/var/run/netns/" if via_var else "/run/netns//") + b.name
        d = stack.enter_context(ctsd.Daemon(
            a, ["--netns", lb], netns=la, seq_gaps=True,
            allow_stderr=allow_for([la, lb]) + NETNS_ALL_STDERR))
        helper = helper_of(d)
        delete_and_check_gone(a, d, helper, d, label=la)
        delete_and_check_gone(b, d, helper, d, label=lb)


def refused(args, what, prefix=()):
    """Start the daemon with args (after the command prefix); it must
    exit 1 at startup, without "ready", saying what (a regex) on stderr.
    Returns stderr."""
    argv = list(prefix) + [ctsd.daemon_path(), "--stdout", "--events-socket",
                           "none", "--control-socket", "none"] + list(args)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, capture_output=False,
                           stderr=subprocess.PIPE, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        ctsd.fail("%s: still running after 10s (it should have refused "
                  "to start)" % " ".join(args))
    err = p.stderr.splitlines()
    check_eq(p.returncode, 1, "exit status of ctstreamd %s (stderr %r)"
             % (" ".join(args), err))
    check("ctstreamd: ready" not in err, "%s: ready before refusing"
          % " ".join(args))
    check(any(re.search(what, l) for l in err), "%s: no %r on stderr: %r"
          % (" ".join(args), what, err))
    return err


@case
def same_namespace_twice_refused():
    """One namespace given twice under different labels (its name and its
    path, its name and /proc/PID/ns/net of a process in it) is refused at
    startup (exit 1, "the same namespace as"), as the same label twice
    is; two different namespaces are not."""
    with ctsd.Netns() as ns:
        path = "/run/netns/" + ns.name
        refused(["--netns", ns.name, "--netns", path],
                r"^ctstreamd: --netns: %s: the same namespace as '%s'$"
                % (re.escape(path), re.escape(ns.name)))
        refused(["--netns", "%s,%s" % (path, ns.name)],
                r"^ctstreamd: --netns: %s: the same namespace as '%s'$"
                % (re.escape(ns.name), re.escape(path)))
        refused(["--netns", ns.name, "--netns", ns.name],
                r"^ctstreamd: --netns: '%s' given twice$"
                % re.escape(ns.name))
        sleeper = ns.popen(["sleep", "60"])
        proc = "/proc/%d/ns/net" % sleeper.pid
        # ip netns exec runs sleep in place: its pid is the child's.
        ctsd.poll(lambda: os.path.exists(proc) and
                  os.stat(proc).st_ino == os.stat(path).st_ino,
                  "sleep to run in " + ns.name, timeout=5)
        refused(["--netns", ns.name, "--netns", proc],
                r"^ctstreamd: --netns: %s: the same namespace as '%s'$"
                % (re.escape(proc), re.escape(ns.name)))
        with ctsd.Netns() as other:
            with ctsd.Daemon(ns, ["--netns", other.name],
                             allow_stderr=allow_for([ns.name,
                                                     other.name])) as d:
                check_eq(len([l for l in d.stderr if l.startswith(
                    "ctstreamd: monitoring ")]), 2, "namespaces monitored")


def as_in_the_unit(ns, caps):
    """The command prefix that runs the daemon as systemd runs
    ctstreamd.service: in namespace ns (its "host"), as user nobody, with
    caps (["net_admin", ...]) as its ambient capabilities and its whole
    bounding set."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    plus = ",".join("+" + c for c in caps)
    return ["ip", "netns", "exec", ns.name, "setpriv",
            "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
            "--clear-groups", "--inh-caps=" + plus, "--ambient-caps=" + plus,
            "--bounding-set=-all," + plus]


@case
def netns_all_without_cap_sys_admin_refused():
    """--netns-all as the installed unit runs the daemon (its own user,
    CAP_NET_ADMIN alone): the helper cannot keep CAP_SYS_ADMIN, and the
    daemon stops at startup (exit 1, no "ready") saying so, rather than
    reporting ready and dying at its first kernel request."""
    with ctsd.Netns() as ns:
        refused(["--netns-all", "--netns", "host"],
                r"^ctstreamd: cannot start the netlink helper: --netns-all "
                r"needs CAP_SYS_ADMIN for the netlink helper \(setns\)$",
                prefix=as_in_the_unit(ns, ["net_admin"]))


@case
def netns_all_with_the_unit_drop_in():
    """--netns-all with what ctstreamd(8)'s drop-in gives the unit
    (CAP_NET_ADMIN and CAP_SYS_ADMIN, ambient and bounding; its own
    user): ready, the helper keeps both capabilities, a namespace made
    afterwards is monitored, and one deleted is let go of by the daemon
    and the helper.  (What the daemon logs is looked at, not its lines:
    with other tests' namespaces about, its standard output may drop.)"""
    with ctsd.Netns() as home:
        with ctsd.Daemon(home, ["--netns", "host"], netns_all=True,
                         seq_gaps=True, allow_loss=True, validate="sample",
                         allow_stderr=NETNS_ALL_STDERR,
                         prefix=as_in_the_unit(home, ["net_admin",
                                                      "sys_admin"])) as d:
            # ip netns exec and setpriv exec in place: d.pid is the daemon.
            helper = helper_of(d)
            hs = ctsd.proc_status(helper)
            check_eq((hs["CapEff"], hs["CapPrm"]), ("0000000000201000",) * 2,
                     "helper CapEff, CapPrm (CAP_NET_ADMIN, CAP_SYS_ADMIN)")
            check_eq(ctsd.proc_status(d.pid)["CapEff"], "0000000000000000",
                     "daemon CapEff")
            with ctsd.Netns() as late:
                name = re.escape(late.name)
                d.wait_stderr(r"^ctstreamd: monitoring %s: " % name)
                in_daemon, in_helper = held_in(late, d, helper)
                check(len(in_daemon) >= 2 and in_helper == in_daemon,
                      "sockets in %s: the daemon's %r, the helper's %r"
                      % (late.name, in_daemon, in_helper))
                late.close()
                d.wait_stderr(r"^ctstreamd: %s: the namespace is gone; its "
                              r"sockets are closed$" % name)
                ctsd.poll(lambda: not (in_daemon | in_helper) & (
                    ctsd.socket_inodes(d.pid) | ctsd.socket_inodes(helper)),
                    "the daemon and the helper to close their sockets in "
                    + late.name, timeout=5)


@case
def netns_without_cap_sys_admin_names_it():
    """--netns NAME without CAP_SYS_ADMIN: the daemon cannot enter the
    namespace, and says which capability it lacks."""
    with ctsd.Netns() as ns:
        path = "/run/netns/" + ns.name
        refused(["--netns", ns.name],
                r"^ctstreamd: --netns: %s: cannot enter %s: Operation not "
                r"permitted \(CAP_SYS_ADMIN is needed\)$"
                % (re.escape(ns.name), re.escape(path)),
                prefix=["setpriv", "--bounding-set=-sys_admin"])


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
