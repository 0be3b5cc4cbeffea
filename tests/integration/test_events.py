#!/usr/bin/env python3
"""
test_events.py - ctstreamd against the real kernel: what each line says.

Every case makes a namespace of its own, starts the daemon on it, makes
traffic there, and checks the values of the lines (not just that lines
came): tuples, states in the order the kernel produces them, status flags,
timeouts against the namespace's sysctls, NAT, mark, zone, labels,
counters and timestamps, FTP expectations, and the --types and --events
filters.  Where it helps, conntrack -E runs in the same namespace at the
same time and must have seen exactly the events the daemon wrote.

The harness (ctsd.py) also checks every line it reads: one compact JSON
object valid against the schema, seq counting up by 1, time RFC 3339 UTC.

Needs root; exits 77 otherwise.  Run one case: test_events.py NAME...
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq, first, select_events   # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


# Distinctive TCP timeouts, so that each line's "timeout" can be traced to
# the state the kernel put the connection in.  All but ESTABLISHED stay
# below the 300 s the kernel caps a state at while data is unacknowledged.
TCP_TIMEOUTS = {
    "SYN_SENT": ("syn_sent", 111),
    "SYN_RECV": ("syn_recv", 59),
    "ESTABLISHED": ("established", 4321),
    "FIN_WAIT": ("fin_wait", 117),
    "CLOSE_WAIT": ("close_wait", 53),
    "LAST_ACK": ("last_ack", 29),
    "TIME_WAIT": ("time_wait", 1),
}
SYSCTLS = dict(
    [("net.netfilter.nf_conntrack_tcp_timeout_" + k, v)
     for k, v in TCP_TIMEOUTS.values()] +
    [("net.netfilter.nf_conntrack_udp_timeout", 27),
     ("net.netfilter.nf_conntrack_udp_timeout_stream", 119),
     ("net.netfilter.nf_conntrack_icmp_timeout", 1),
     ("net.netfilter.nf_conntrack_icmpv6_timeout", 1)])

# What the kernel reports for a connection the client closes first and
# whose FIN the server acknowledges before sending its own (ctsd.tcp_flow).
CLEAN_CLOSE = [
    ("new", "SYN_SENT"), ("update", "SYN_RECV"), ("update", "ESTABLISHED"),
    ("update", "FIN_WAIT"), ("update", "CLOSE_WAIT"), ("update", "LAST_ACK"),
    ("update", "TIME_WAIT"), ("destroy", "TIME_WAIT"),
]

NO_NAT = ()
NAT_DONE = ("SRC_NAT_DONE", "DST_NAT_DONE")


def check_timeout(ev, expected, what):
    """A fresh event's timeout is the full value, or a second less when a
    jiffy passed between the refresh and the event."""
    check(ev.get("timeout") in (expected - 1, expected),
          "%s: timeout %r, expected %d (the namespace's sysctl)"
          % (what, ev.get("timeout"), expected))


def check_status(ev, expected, what):
    got = ev.get("status")
    check(isinstance(got, list) and set(got) == set(expected),
          "%s: status %r, expected exactly %r" % (what, got, sorted(expected)))


def ct_flow(events, proto, orig):
    """The ct lines of the connection whose orig tuple matches orig."""
    return [e for e in events if e["type"] == "ct" and
            e.get("proto") == proto and ctsd.matches(e.get("orig"), orig)]


def check_one_id(lines, what):
    ids = {e["id"] for e in lines}
    check_eq(len(ids), 1, "%s: number of distinct ids over its lines %r"
             % (what, ids))
    return ids.pop()


def tcp_flow_and_check(ns, d, family, orig, reply, status_extra=NO_NAT,
                       flow_args=()):
    """Run ctsd.tcp_flow(*flow_args) and check every line of the one
    connection whose orig and reply tuples are given (a function of the
    client's address): same id, the clean-close state sequence, a status
    and a timeout that fit each state, and a DESTROY once TIME_WAIT (1 s)
    has passed."""
    r = ns.call(ctsd.tcp_flow, *flow_args)
    check(r["echo_ok"] and r["eof"], "tcp_flow failed: %r" % r)
    o, rp = orig(r), reply(r)

    def done(evs):
        return first(ct_flow(evs, "tcp", o), event="destroy")
    d.wait_for(done, "DESTROY of tcp %r" % o, poke=ns.evict_expired)
    lines = ct_flow(d.events, "tcp", o)
    what = "tcp %s:%s" % (o["src"], o["sport"])
    check_eq([(e["event"], e.get("state")) for e in lines], CLEAN_CLOSE,
             what + ": (event, state) sequence")
    check_one_id(lines, what)
    for e in lines:
        w = "%s line seq %d (%s %s)" % (what, e["seq"], e["event"],
                                         e["state"])
        check_eq(e["family"], family, w + ": family")
        check_eq((e["proto"], e["protonum"]), ("tcp", 6), w + ": proto")
        check_eq(e["orig"], o, w + ": orig tuple")
        check_eq(e["reply"], rp, w + ": reply tuple")
        if e["event"] != "destroy":
            check_timeout(e, TCP_TIMEOUTS[e["state"]][1], w)
        if e["state"] == "SYN_SENT":
            status = ["CONFIRMED"]
        elif e["state"] == "SYN_RECV":
            status = ["SEEN_REPLY", "CONFIRMED"]
        else:
            status = ["SEEN_REPLY", "ASSURED", "CONFIRMED"]
        if e["event"] != "destroy":
            check_status(e, status + list(status_extra), w)
        else:
            check(set(status + list(status_extra)) <= set(e["status"]),
                  "%s: status %r lacks %r" % (w, e["status"], status))
    return r, lines


def udp_flow_lines(ns, d, orig, destroy_args):
    """Wait for NEW and UPDATE of a UDP flow, delete it with conntrack -D,
    wait for its DESTROY; return (new, update, destroy)."""
    d.wait_for(lambda evs: first(ct_flow(evs, "udp", orig), event="update"),
               "UPDATE of udp %r" % orig)
    ns.conntrack("-D", *destroy_args)
    d.wait_for(lambda evs: first(ct_flow(evs, "udp", orig), event="destroy"),
               "DESTROY of udp %r" % orig)
    lines = ct_flow(d.events, "udp", orig)
    check_eq([e["event"] for e in lines], ["new", "update", "destroy"],
             "udp %r: events" % orig)
    check_one_id(lines, "udp %r" % orig)
    return lines


def check_udp(lines, family, orig, reply, status_extra=NO_NAT):
    new, upd, dst = lines
    for e in lines:
        w = "udp line seq %d (%s)" % (e["seq"], e["event"])
        check_eq(e["family"], family, w + ": family")
        check_eq((e["proto"], e["protonum"]), ("udp", 17), w + ": proto")
        check_eq(e["orig"], orig, w + ": orig tuple")
        check_eq(e["reply"], reply, w + ": reply tuple")
        check("state" not in e, w + ": UDP has no state, got %r"
              % e.get("state"))
    check_status(new, ["CONFIRMED"] + list(status_extra), "udp new")
    check_timeout(new, 27, "udp new")
    check_status(upd, ["SEEN_REPLY", "CONFIRMED"] + list(status_extra),
                 "udp update")
    check_timeout(upd, 27, "udp update")
    check("SEEN_REPLY" in dst["status"], "udp destroy: status %r lacks "
          "SEEN_REPLY" % dst["status"])


def check_icmp(ns, d, family, addr, ident):
    """ping -e ident addr once; check NEW, UPDATE and the DESTROY after the
    1 s ICMP timeout."""
    check_eq(ns.call(ctsd.ping, addr, ident), 0, "ping %s exit status" % addr)
    proto, num, req, rep = ("icmp", 1, 8, 0) if family == "ipv4" else \
        ("icmpv6", 58, 128, 129)
    orig = {"src": addr, "dst": addr, "icmp_type": req, "icmp_code": 0,
            "icmp_id": ident}
    reply = {"src": addr, "dst": addr, "icmp_type": rep, "icmp_code": 0,
             "icmp_id": ident}
    d.wait_for(lambda evs: first(ct_flow(evs, proto, orig), event="destroy"),
               "DESTROY of %s %r" % (proto, orig), poke=ns.evict_expired)
    lines = ct_flow(d.events, proto, orig)
    check_eq([e["event"] for e in lines], ["new", "update", "destroy"],
             "%s echo: events" % proto)
    check_one_id(lines, proto + " echo")
    for e in lines:
        w = "%s line seq %d (%s)" % (proto, e["seq"], e["event"])
        check_eq(e["family"], family, w + ": family")
        check_eq((e["proto"], e["protonum"]), (proto, num), w + ": proto")
        check_eq(e["orig"], orig, w + ": orig tuple")
        check_eq(e["reply"], reply, w + ": reply tuple")
    check_status(lines[0], ["CONFIRMED"], proto + " new")
    check_timeout(lines[0], 1, proto + " new")
    check_status(lines[1], ["SEEN_REPLY", "CONFIRMED"], proto + " update")


def loopback_tuples(addr, port):
    """orig/reply tuple makers for a flow from addr to addr:port."""
    return (lambda r: {"src": addr, "dst": addr, "sport": r["client"][1],
                       "dport": port},
            lambda r: {"src": addr, "dst": addr, "sport": port,
                       "dport": r["client"][1]})


# ---------------------------------------------------------------------------

@case
def tcp_ipv4():
    """NEW SYN_SENT, an UPDATE per state change, DESTROY, one id."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, ctsd.Daemon(ns) as d:
        o, r = loopback_tuples("127.0.0.1", 5000)
        tcp_flow_and_check(ns, d, "ipv4", o, r,
                           flow_args=("127.0.0.1", 5000))
        ctsd.compare_with_conntrack(d, truth)


@case
def udp_ipv4():
    """NEW, UPDATE with SEEN_REPLY after the reply, DESTROY on delete."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, ctsd.Daemon(ns) as d:
        r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
        cport = r["client"][1]
        orig = {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": cport,
                "dport": 5001}
        reply = {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": 5001,
                 "dport": cport}
        lines = udp_flow_lines(ns, d, orig,
                               ["-p", "udp", "--sport", str(cport)])
        check_udp(lines, "ipv4", orig, reply)
        ctsd.compare_with_conntrack(d, truth)


@case
def icmp_ipv4():
    """Echo request/reply: types 8 and 0, code 0, the ping's identifier."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, ctsd.Daemon(ns) as d:
        check_icmp(ns, d, "ipv4", "127.0.0.1", 4242)
        ctsd.compare_with_conntrack(d, truth)


@case
def ipv6_tcp_udp_icmpv6():
    """The same over ::1: family ipv6, addresses "::1", ICMPv6 128/129."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, ctsd.Daemon(ns) as d:
        o, r = loopback_tuples("::1", 5000)
        tcp_flow_and_check(ns, d, "ipv6", o, r, flow_args=("::1", 5000))

        u = ns.call(ctsd.udp_exchange, "::1", 5001)
        cport = u["client"][1]
        orig = {"src": "::1", "dst": "::1", "sport": cport, "dport": 5001}
        reply = {"src": "::1", "dst": "::1", "sport": 5001, "dport": cport}
        lines = udp_flow_lines(ns, d, orig, ["-f", "ipv6", "-p", "udp",
                                             "--sport", str(cport)])
        check_udp(lines, "ipv6", orig, reply)

        check_icmp(ns, d, "ipv6", "::1", 4243)
        ctsd.compare_with_conntrack(d, truth)


NAT_RULES = ctsd.TRACK_ALL + """
table ip ctsd_nat {
	chain out {
		type nat hook output priority -100; policy accept;
		ip daddr 10.77.0.1 tcp dport 80 dnat to 10.77.0.2:8080
	}
	chain post {
		type nat hook postrouting priority 100; policy accept;
		ip daddr 10.77.0.2 udp dport 9000 snat to 10.77.0.4:40000
	}
}
"""


@case
def nat_dnat_snat():
    """DNAT: DST_NAT, reply from the new destination.  SNAT: SRC_NAT,
    reply to the new source, which is what the server saw."""
    addrs = ["10.77.0.%d/24" % i for i in (1, 2, 3, 4)]
    with ctsd.Netns(nft=NAT_RULES, sysctls=SYSCTLS, addrs=addrs) as ns, \
            ctsd.ConntrackEvents(ns) as truth, ctsd.Daemon(ns) as d:
        # DNAT: 10.77.0.3 -> 10.77.0.1:80, served by 10.77.0.2:8080.
        r, _ = tcp_flow_and_check(
            ns, d, "ipv4",
            lambda r: {"src": "10.77.0.3", "dst": "10.77.0.1",
                       "sport": r["client"][1], "dport": 80},
            lambda r: {"src": "10.77.0.2", "dst": "10.77.0.3",
                       "sport": 8080, "dport": r["client"][1]},
            status_extra=("DST_NAT",) + NAT_DONE,
            flow_args=("10.77.0.2", 8080, "10.77.0.1", 80, "10.77.0.3"))
        check_eq(r["server_peer"], r["client"],
                 "DNAT: the peer the server saw")

        # SNAT: 10.77.0.3 -> 10.77.0.2:9000, leaving as 10.77.0.4:40000.
        u = ns.call(ctsd.udp_exchange, "10.77.0.2", 9000, [1], [1],
                    "10.77.0.3")
        check_eq(u["server_peer"], ["10.77.0.4", 40000],
                 "SNAT: the peer the server saw")
        cport = u["client"][1]
        orig = {"src": "10.77.0.3", "dst": "10.77.0.2", "sport": cport,
                "dport": 9000}
        reply = {"src": "10.77.0.2", "dst": "10.77.0.4", "sport": 9000,
                 "dport": 40000}
        lines = udp_flow_lines(ns, d, orig,
                               ["-p", "udp", "--sport", str(cport)])
        check_udp(lines, "ipv4", orig, reply,
                  status_extra=("SRC_NAT",) + NAT_DONE)
        ctsd.compare_with_conntrack(d, truth)


META_RULES = """
table inet ctsd_meta {
	chain raw_out {
		type filter hook output priority raw; policy accept;
		udp dport 5004 ct zone set 7
		udp sport 5004 ct zone set 7
		udp dport 5006 ct original zone set 8
	}
	chain out {
		type filter hook output priority filter; policy accept;
		ct state new counter
		udp dport 5002 ct mark set 0x2a
		udp dport 5003 ct label set 5 ct label set 70
	}
}
"""


@case
def mark_zone_labels():
    """ct mark 0x2a -> "mark":42; ct zone 7 -> "zone":7; ct original zone
    8 -> "orig":{..."zone":8}; labels 5 and 70 -> "labels":[5,70], named
    by --labelmap.  nft takes label bit numbers, so no connlabel.conf is
    needed for the rules."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        labelmap = os.path.join(tmp, "connlabel.conf")
        with open(labelmap, "w") as f:
            f.write("# bit name\n5 five\n70 seventy\n")
        with ctsd.Netns(nft=META_RULES, sysctls=SYSCTLS) as ns, \
                ctsd.ConntrackEvents(ns) as truth, \
                ctsd.Daemon(ns, ["--labelmap", labelmap]) as d:
            flows = {}
            for port in (5002, 5003, 5004, 5006):
                r = ns.call(ctsd.udp_exchange, "127.0.0.1", port)
                orig = {"src": "127.0.0.1", "dst": "127.0.0.1",
                        "sport": r["client"][1], "dport": port}
                d.wait_for(lambda evs: first(ct_flow(evs, "udp", orig),
                                             event="update"),
                           "UPDATE of udp to %d" % port)
                flows[port] = ct_flow(d.events, "udp", orig)
                check_eq([e["event"] for e in flows[port]],
                         ["new", "update"], "udp to %d: events" % port)
                check_one_id(flows[port], "udp to %d" % port)

            for e in flows[5002]:
                check_eq(e.get("mark"), 42, "marked flow, %s: mark"
                         % e["event"])
                check("zone" not in e and "labels" not in e,
                      "marked flow has zone/labels: %r" % e)
            for e in flows[5004]:
                check_eq(e.get("zone"), 7, "zoned flow, %s: zone"
                         % e["event"])
                check(e.get("mark", 0) == 0 and "labels" not in e,
                      "zoned flow has mark/labels: %r" % e)
            for e in flows[5006]:
                check_eq((e["orig"].get("zone"), e["reply"].get("zone")),
                         (8, None), "flow zoned in the original direction, "
                         "%s: (orig zone, reply zone)" % e["event"])
                check("zone" not in e, "flow zoned in the original "
                      "direction has a zone for both: %r" % e)
            new = flows[5003][0]
            check_eq(new.get("labels"), [5, 70], "labelled flow, new: labels")
            check_eq(new.get("label_names"), {"5": "five", "70": "seventy"},
                     "labelled flow, new: label_names")
            for e in flows[5003]:
                check(e.get("mark", 0) == 0 and "zone" not in e,
                      "labelled flow has mark/zone: %r" % e)
            ctsd.compare_with_conntrack(d, truth)


@case
def acct_timestamp():
    """--enable-acct --enable-timestamp set both sysctls in the namespace;
    DESTROY then carries exact counters and start/stop with ns."""
    acct = "net.netfilter.nf_conntrack_acct"
    tstamp = "net.netfilter.nf_conntrack_timestamp"
    with ctsd.Netns(sysctls=SYSCTLS) as ns:
        check_eq((ns.sysctl(acct), ns.sysctl(tstamp)), ("0", "0"),
                 "acct and timestamp sysctls of a fresh namespace")
        with ctsd.ConntrackEvents(ns) as truth, \
                ctsd.Daemon(ns, ["--enable-acct", "--enable-timestamp"]) as d:
            check_eq((ns.sysctl(acct), ns.sysctl(tstamp)), ("1", "1"),
                     "acct and timestamp sysctls once the daemon is ready")
            # (family, address, IP + UDP header bytes)
            for fam, addr, hdr in (("ipv4", "127.0.0.1", 28),
                                   ("ipv6", "::1", 48)):
                before = time.time_ns()
                sends, replies = [10, 20, 30], [5, 7]
                r = ns.call(ctsd.udp_exchange, addr, 5005, sends, replies)
                after = time.time_ns()
                check_eq((r["received"], r["replies"]), (sends, replies),
                         "datagrams delivered")
                orig = {"src": addr, "dst": addr, "sport": r["client"][1],
                        "dport": 5005}
                lines = udp_flow_lines(ns, d, orig, [
                    "-f", fam, "-p", "udp", "--sport", str(r["client"][1])])
                seen = time.time_ns()
                dst = lines[2]
                w = "%s udp destroy" % fam
                check_eq((dst["orig"].get("packets"),
                          dst["orig"].get("bytes")),
                         (3, 3 * hdr + sum(sends)), w + ": orig packets, bytes")
                check_eq((dst["reply"].get("packets"),
                          dst["reply"].get("bytes")),
                         (2, 2 * hdr + sum(replies)),
                         w + ": reply packets, bytes")
                start = ctsd.parse_time(dst.get("start"), digits=9)
                stop = ctsd.parse_time(dst.get("stop"), digits=9)
                check(stop >= start, "%s: stop %s before start %s"
                      % (w, dst["stop"], dst["start"]))
                check(before - 10**9 <= start <= after + 10**9,
                      "%s: start %s is not when the first datagram went "
                      "(between %d and %d ns)" % (w, dst["start"], before,
                                                  after))
                check(after - 10**9 <= stop <= seen + 10**9,
                      "%s: stop %s is not when the entry was deleted"
                      % (w, dst["stop"]))
            ctsd.compare_with_conntrack(d, truth)
        notices = [l for l in d.stderr if "nf_conntrack_acct" in l or
                   "nf_conntrack_timestamp" in l]
        check(not notices, "with --enable-acct --enable-timestamp the "
              "daemon still says: %r" % notices)


@case
def diagnosis_without_flags():
    """Without --enable-*: the sysctls stay 0 and stderr says what lacks."""
    with ctsd.Netns() as ns:
        with ctsd.Daemon(ns) as d:
            for name in ("nf_conntrack_acct", "nf_conntrack_timestamp"):
                check_eq(ns.sysctl("net.netfilter." + name), "0",
                         name + " while a daemon without --enable-* runs")
        for name, flag in (("nf_conntrack_acct", "--enable-acct"),
                           ("nf_conntrack_timestamp", "--enable-timestamp")):
            check(any(name in l and flag in l for l in d.stderr),
                  "stderr does not mention %s and %s:\n%s"
                  % (name, flag, "\n".join(d.stderr)))


@case
def sigterm_as_soon_as_ready():
    """Once it said "monitoring NAME", SIGTERM makes it exit 0, however
    soon it comes: SIGTERM is sent the moment the line is read, 100 times."""
    with ctsd.Netns() as ns:
        argv = [ctsd.daemon_path(), "--stdout", "--netns", ns.name,
                "--events-socket", "none", "--control-socket", "none"]
        for i in range(100):
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            ns.procs.append(p)
            for line in p.stderr:
                if ("monitoring %s:" % ns.name).encode() in line:
                    p.send_signal(signal.SIGTERM)
                    break
            try:
                rc = p.wait(ctsd.scaled(10))
            except subprocess.TimeoutExpired:
                ctsd.fail("run %d: no exit within %ss of SIGTERM"
                          % (i + 1, ctsd.scaled(10)))
            p.stderr.close()
            ns.procs.remove(p)
            check_eq(rc, 0, "run %d of 100: exit status after SIGTERM"
                     % (i + 1))


def expect_truth_tuples(truth):
    """(kind, expected dport, master sport) of conntrack -E expect lines."""
    out = []
    for kind, _, line in truth.events():
        dports = re.findall(r"\bdport=(\d+)", line)
        sports = re.findall(r"\bsport=(\d+)", line)
        out.append((kind, int(dports[0]), int(sports[-1])))
    return out


@case
def ftp_expectation():
    """The FTP helper's expectation for a PORT command: helper "ftp",
    master = the control connection's orig tuple, expected tuple to the
    announced port; the control connection's lines say "helper":"ftp"
    and the data connection is EXPECTED with that master."""
    with ctsd.Netns(nft=ctsd.FTP_RULES, sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, \
            ctsd.ConntrackEvents(ns, expect=True) as etruth, \
            ctsd.Daemon(ns) as d:
        r = ns.call(ctsd.ftp_active)
        ctl = {"src": "127.0.0.1", "dst": "127.0.0.1",
               "sport": r["ctl_client"][1], "dport": 21}
        data = {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": 20,
                "dport": r["data_port"]}
        d.wait_for(lambda evs: first(ct_flow(evs, "tcp", data), event="new")
                   and first(ct_flow(evs, "tcp", ctl), state="TIME_WAIT"),
                   "data connection NEW and control connection TIME_WAIT")

        for e in ct_flow(d.events, "tcp", ctl):
            w = "control connection line seq %d" % e["seq"]
            check_eq(e.get("helper"), "ftp", w + ": helper")
            check("HELPER" in e["status"], w + ": status %r lacks HELPER"
                  % e["status"])
            check("master" not in e, w + ": has a master: %r" % e)
        for e in ct_flow(d.events, "tcp", data):
            # (The kernel sends the master tuple with NEW only.)
            check("helper" not in e, "data connection line seq %d: has a "
                  "helper: %r" % (e["seq"], e))

        exp = [e for e in d.events if e["type"] == "expect"]
        news = [e for e in exp if e["event"] == "new"]
        check(news, "no expect new line")
        for e in exp:
            w = "expect %s line seq %d" % (e["event"], e["seq"])
            check_eq((e["family"], e["proto"], e["protonum"]),
                     ("ipv4", "tcp", 6), w + ": family, proto")
            check_eq(e.get("helper"), "ftp", w + ": helper")
            check_eq(e["master"], ctl, w + ": master tuple (control "
                     "connection's orig)")
            check_eq(e["tuple"], {"src": "127.0.0.1", "dst": "127.0.0.1",
                                  "sport": 0, "dport": r["data_port"]},
                     w + ": expected tuple")
            check_eq(e["mask"], {"src": "255.255.255.255",
                                 "dst": "255.255.255.255", "sport": 0,
                                 "dport": 65535}, w + ": mask")
            check_eq((e.get("class"), e.get("flags")), (0, []),
                     w + ": class, flags")
            check(isinstance(e.get("id"), int), w + ": no id")
        for e in news:
            check_timeout(e, 300, "expect new seq %d" % e["seq"])
        # Each expectation the kernel announced goes away exactly once; the
        # last one when the data connection uses it.
        for e in news:
            gone = select_events(exp, event="destroy", id=e["id"])
            check_eq(len(gone), 1, "destroy lines of expectation id %d"
                     % e["id"])
            check(gone[0]["seq"] > e["seq"], "expectation %d destroyed "
                  "before it was created" % e["id"])

        dnew = first(ct_flow(d.events, "tcp", data), event="new")
        check("EXPECTED" in dnew["status"], "data connection new: status %r "
              "lacks EXPECTED" % dnew["status"])
        check_eq(dnew.get("master"), ctl, "data connection new: master")
        check(select_events(exp, event="destroy", id=news[-1]["id"])[0]["seq"]
              < dnew["seq"], "the last expectation was not used by the data "
              "connection")

        ctsd.compare_with_conntrack(d, truth)
        ours = [(e["event"], e["tuple"]["dport"], e["master"]["sport"])
                for e in exp]
        etruth.wait_count(len(ours))
        check_eq(expect_truth_tuples(etruth), ours,
                 "expectation events conntrack -E expect saw vs the daemon's")


@case
def netns_by_path():
    """--netns /proc/PID/ns/net (a process inside the namespace) monitors
    that namespace: its events, exactly."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth:
        path = "/proc/%d/ns/net" % truth.proc.pid
        with ctsd.Daemon(ns, netns=path) as d:
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            orig = {"src": "127.0.0.1", "dst": "127.0.0.1",
                    "sport": r["client"][1], "dport": 5001}
            d.wait_for(lambda evs: first(ct_flow(evs, "udp", orig),
                                         event="update"),
                       "UPDATE of udp %r" % orig)
            ctsd.compare_with_conntrack(d, truth)


def marker(ns, d, port=5999):
    """A last UDP flow: once its NEW is out, every earlier event is too
    (one socket, one ordered stream).  Returns its orig tuple."""
    r = ns.call(ctsd.udp_exchange, "127.0.0.1", port)
    return {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": r["client"][1],
            "dport": port}


@case
def types_ct_only():
    """--types ct: FTP expectations happen, no expect line appears."""
    with ctsd.Netns(nft=ctsd.FTP_RULES, sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, expect=True) as etruth, \
            ctsd.Daemon(ns, ["--types", "ct"]) as d:
        check(any("types ct, events new,update,destroy" in l
                  for l in d.stderr), "monitoring line: %r" % d.stderr)
        r = ns.call(ctsd.ftp_active)
        m = marker(ns, d)
        d.wait_match("marker NEW", event="new", orig=m)
        check(etruth.wait_count(2), "conntrack -E expect saw no expectation")
        others = [e for e in d.events if e["type"] != "ct"]
        check(not others, "--types ct wrote other lines: %r" % others[:3])
        ctl = {"sport": r["ctl_client"][1], "dport": 21}
        check(first(ct_flow(d.events, "tcp", ctl), helper="ftp"),
              "no line of the FTP control connection")


@case
def types_expect_only():
    """--types expect: only expectation lines, though connections came and
    went."""
    with ctsd.Netns(nft=ctsd.FTP_RULES, sysctls=SYSCTLS) as ns, \
            ctsd.Daemon(ns, ["--types", "expect"]) as d:
        ns.call(ctsd.ftp_active)
        r2 = ns.call(ctsd.ftp_active)
        # The second session's expectation comes after every event of the
        # first session's connections.
        d.wait_match("second session's expectation", type="expect",
                     event="new", master={"sport": r2["ctl_client"][1]})
        others = [e for e in d.events if e["type"] != "expect"]
        check(not others, "--types expect wrote other lines: %r" % others[:3])


def check_events_filter(kind):
    """--events KIND: a TCP connection, a UDP flow, a flush, then a marker
    flow (deleted too for destroy).  The daemon must write exactly the
    KIND events conntrack -E saw up to the marker's, though the other
    kinds happened too."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns) as truth, \
            ctsd.Daemon(ns, ["--events", kind]) as d:
        ns.call(ctsd.tcp_flow, "127.0.0.1", 5000)
        ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
        ns.conntrack("-F")
        m = marker(ns, d)
        if kind == "destroy":
            ns.conntrack("-D", "-p", "udp", "--sport", str(m["sport"]))
        mark = d.wait_match("marker " + kind, event=kind, orig=m)
        seen = truth.wait_event(kind, mark["id"])
        check({"new", "update", "destroy"} <= {k for k, _, _ in seen},
              "conntrack -E did not see every kind: %r" % seen)
        wanted = [(k, i) for k, i, _ in seen if k == kind]
        check_eq([(e["event"], e["id"]) for e in d.events], wanted,
                 "daemon lines vs conntrack -E %s events" % kind)
        check_eq(len(wanted), 3, kind + " lines (tcp, udp, marker)")


@case
def events_new_only():
    """--events new: NEW lines only, exactly the ones conntrack -E saw."""
    check_events_filter("new")


@case
def events_destroy_only():
    """--events destroy: DESTROY lines only, the ones conntrack -E saw."""
    check_events_filter("destroy")


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
