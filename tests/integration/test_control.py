#!/usr/bin/env python3
"""
test_control.py - ctstreamd's control socket against the real kernel.

Every case makes a namespace of its own, fills its conntrack table with
traffic (or conntrack -R), starts the daemon with its sockets in a
temporary directory and asks the control socket; every answer is compared
with what conntrack -G, -L, -S and -E say in the same namespace at the
same time: get (by tuple, by ct_id, by the reply tuple, in a zone, of an
expectation), dump with and without filters (those the kernel applies and
those the daemon applies), a dump of 100,000 entries to a slow reader
(the daemon's memory stays bounded), stats, version, help, diagnose, the
changes (update, delete, flush, create) as root, as an unprivileged user
and as a member of --admin-group, bad input of every kind, and the
README's socat | jq one-liners.

Every line read is checked by the harness (ctsd.Client).

Needs root; exits 77 otherwise.  Run one case: test_control.py NAME...
"""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq                          # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


SYSCTLS = {
    "net.netfilter.nf_conntrack_udp_timeout": 600,
    "net.netfilter.nf_conntrack_udp_timeout_stream": 600,
    "net.netfilter.nf_conntrack_icmp_timeout": 600,
}
ADDRS = ["10.77.0.1/24", "10.77.0.2/24"]

# Marks and zones, so that filters the kernel applies have something to
# select: udp to 6000 gets mark 42, tcp to 5000 mark 43, udp to and from
# 7007 zone 7.
RULES = ctsd.TRACK_ALL + """
table inet ctsd_ctl {
	chain raw {
		type filter hook output priority raw; policy accept;
		udp dport 7007 ct zone set 7
		udp sport 7007 ct zone set 7
	}
	chain out {
		type filter hook output priority filter; policy accept;
		udp dport 6000 ct mark set 0x2a
		tcp dport 5000 ct mark set 0x2b
	}
}
"""

FTP_RULES = RULES + """
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

CHANGE_LOG = r"^ctstreamd: client \d+ \(uid \d+, pid \d+\): " \
    r"(delete|update|flush|create) \{"
DENIED_LOG = r"^ctstreamd: client \d+ \(uid \d+, pid \d+\): " \
    r"(delete|update|flush|create) denied: not root and not in the " \
    r"admin group$"


# ---------------------------------------------------------------------------
# Traffic, run inside the namespace

def tcp_hold(addr, port, bind_addr=None):
    """One TCP connection, set up and kept ESTABLISHED until the test
    closes our standard input; reports the client's address."""
    fam = ctsd._family(addr)
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    cli = socket.socket(fam, socket.SOCK_STREAM)
    cli.settimeout(5)
    if bind_addr:
        cli.bind((bind_addr, 0))
    cli.connect((addr, port))
    conn, _ = srv.accept()
    conn.settimeout(5)
    cli.sendall(b"ping")
    ctsd._recv_upto(conn, 4)
    conn.sendall(b"pong")
    ctsd._recv_upto(cli, 4)
    ctsd.report({"client": ctsd._sockname(cli)})
    ctsd.wait_for_stdin_eof()
    cli.close()
    conn.close()
    srv.close()
    return True


def ftp_port_only(dport, addr="127.0.0.1", port=21):
    """An FTP control connection announcing data port dport with PORT,
    then closed: the helper's expectation stays (its master lingers in
    TIME_WAIT).  Returns the control connection's client address."""
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


def populate():
    """A table with something for every filter: marked, zoned, IPv6,
    unreplied, assured (TCP in TIME_WAIT), ICMP, ports 8000-8007."""
    for _ in range(12):
        ctsd.udp_exchange("127.0.0.1", 6000)                # mark 42
    for _ in range(8):
        ctsd.udp_exchange("::1", 6001, replies=())          # unreplied
    for _ in range(6):
        ctsd.udp_exchange("10.77.0.2", 7007, bind_addr="10.77.0.1")  # zone 7
    for _ in range(3):
        ctsd.tcp_flow("127.0.0.1", 5000)                     # mark 43
    for p in range(8000, 8008):
        ctsd.udp_exchange("10.77.0.2", p, replies=(), bind_addr="10.77.0.1")
    ctsd.ping("10.77.0.2", 4242)
    ctsd.ping("::1", 4243)
    return True


# ---------------------------------------------------------------------------
# Helpers

def start(ns, args=(), allow=(), env=None):
    return ctsd.Daemon(ns, list(args), stdout=False, sockets=True,
                       allow_stderr=list(allow), env=env)


def ct_args(t):
    """conntrack -G options naming the original tuple t (a request tuple;
    the addresses tell the family)."""
    a = ["-p", str(t["proto"]), "-s", t["src"], "-d", t["dst"]]
    if "sport" in t:
        a += ["--sport", str(t["sport"]), "--dport", str(t["dport"])]
    if "icmp_type" in t:
        a += ["--icmp-type", str(t["icmp_type"]), "--icmp-code",
              str(t.get("icmp_code", 0)), "--icmp-id", str(t["icmp_id"])]
    return a


def ct_get(ns, t, zone=None):
    """conntrack -G for the original tuple t: parsed, or None if the
    kernel has no such entry.  conntrack 1.4.7 cannot -G in a zone: then
    the entry comes from conntrack -L -w ZONE (a dump, whose "use" is one
    less than a get's; "dumped" says so)."""
    if zone is not None:
        for p in ctsd.conntrack_list(ns, "-w", str(zone)):
            if p["orig"] == {k: v for k, v in t.items() if k != "proto"}:
                p["dumped"] = True
                return p
        return None
    p = ns.conntrack("-G", *ct_args(t), "-o", "id,extended",
                     check_rc=False)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    if p.returncode != 0 or not lines:
        return None
    check_eq(len(lines), 1, "conntrack -G lines")
    return ctsd.parse_conntrack_line(lines[0])


def listed(ns, ident):
    """The entry with this id in conntrack -L (a dump: get by ct_id scans
    one too, so "use" is comparable)."""
    for p in ctsd.conntrack_list(ns):
        if p["id"] == ident:
            return p
    ctsd.fail("conntrack -L has no entry with id %d" % ident)


def tuple_of(r, port, addr="127.0.0.1", proto="tcp"):
    """The request tuple of a flow to addr:port from what a traffic
    helper returned: the peer the server saw if it says (an unbound UDP
    client's own name has no address), else the client's name."""
    src = r.get("server_peer") or r["client"]
    return {"proto": proto, "src": src[0], "dst": addr, "sport": src[1],
            "dport": port}


def check_entry(res, p, what, timeout_slack=3):
    """A get or dump result against conntrack's view of the same entry,
    member by member."""
    check_eq(res.get("type"), "ct", what + ": type")
    check_eq(res.get("id"), p["id"], what + ": id")
    check_eq(res.get("family"), p["family"], what + ": family")
    check_eq((res.get("proto"), res.get("protonum")),
             (p["proto"], p["protonum"]), what + ": proto, protonum")
    for d in ("orig", "reply"):
        check_eq(res.get(d), p[d], "%s: %s tuple" % (what, d))
    check_eq(res.get("state"), p["state"], what + ": state")
    st = res.get("status", [])
    check("CONFIRMED" in st, "%s: status %r lacks CONFIRMED" % (what, st))
    check_eq("SEEN_REPLY" in st, not p["unreplied"],
             what + ": SEEN_REPLY in status %r" % st)
    check_eq("ASSURED" in st, p["assured"], what + ": ASSURED in status %r"
             % st)
    check_eq(res.get("mark"), p.get("mark"), what + ": mark")
    check_eq(res.get("zone"), p.get("zone"), what + ": zone")
    if res.get("event") == "get" and p.get("dumped"):
        check_eq(res.get("use"), p.get("use") + 1, what + ": use (a get "
                 "holds one more reference than conntrack -L's dump)")
    elif res.get("event") == "dump" or not p.get("dumped"):
        check_eq(res.get("use"), p.get("use"), what + ": use")
    check_eq(res.get("helper"), p.get("helper"), what + ": helper")
    t = res.get("timeout")
    check(isinstance(t, int) and p["timeout"] - timeout_slack <= t <=
          p["timeout"] + 1, "%s: timeout %r, conntrack said %d"
          % (what, t, p["timeout"]))


def get_ok(c, what, **members):
    r = c.request("get", **members)
    check(r["ok"], "%s: get failed: %r" % (what, r))
    res = r["result"]
    check_eq(res.get("event"), "get", what + ": event")
    return res


def load_file(path, n, dport=2000, first=1):
    """A conntrack -R file of n UDP entries 10.A.B.C:1000 -> 10.200.0.1
    :dport, 600 s."""
    with open(path, "w") as f:
        for i in range(first, first + n):
            f.write("-I -p udp -s 10.%d.%d.%d -d 10.200.0.1 --sport 1000 "
                    "--dport %d -t 600\n" % (1 + i // 62500,
                                              (i // 250) % 250,
                                              i % 250 + 1, dport))
    return path


def list_ids(ns, *args):
    """The ids of conntrack -L ARGS (cheap, for big tables)."""
    p = ns.conntrack("-L", "-o", "id", *args)
    ids = [int(m) for m in re.findall(r"\bid=(\d+)\s*$", p.stdout, re.M)]
    check_eq(len(ids), len([l for l in p.stdout.splitlines() if l.strip()]),
             "ids in conntrack -L")
    return ids


# ---------------------------------------------------------------------------

@case
def get_live_tcp():
    """get of a live TCP connection equals conntrack -G member by member
    (tuples, state, status, mark, use, id, timeout); the same by ct_id and
    by the reply tuple with "dir":"reply"; a missing tuple is not_found;
    an entry in zone 7 is found with "zone":7 only; ICMP and IPv6 too."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS, addrs=ADDRS) as ns, \
            start(ns) as d, \
            ctsd.Client(d.control_path, name="control") as c:
        hold = ns.spawn(tcp_hold, "127.0.0.1", 5000)
        r = hold.wait_report()
        t = tuple_of(r, 5000)
        p = ct_get(ns, t)
        check(p is not None, "conntrack -G does not find %r" % t)
        check_eq((p["state"], p["mark"]), ("ESTABLISHED", 43),
                 "conntrack's view of the held connection")
        res = get_ok(c, "get by tuple", tuple=t)
        check_entry(res, p, "get by tuple")
        check(set(res) <= {"type", "event", "seq", "time", "id", "family",
                           "proto", "protonum", "orig", "reply", "state",
                           "status", "timeout", "mark", "use", "tcp"},
              "get by tuple: unexpected members %r" % sorted(res))
        # By ct_id the daemon scans a dump: compare with conntrack -L,
        # which dumps too (the kernel's "use" differs between a dump and
        # a get: a get holds one more reference while it answers).
        res2 = get_ok(c, "get by ct_id", ct_id=p["id"])
        check_entry(res2, listed(ns, p["id"]), "get by ct_id")
        check(res2["seq"] >= res["seq"], "get results carry the last "
              "stream number, which never goes down")
        rt = dict(p["reply"], proto="tcp")
        res3 = get_ok(c, "get by the reply tuple", tuple=rt, dir="reply")
        check_entry(res3, p, "get by the reply tuple, dir reply")
        res4 = get_ok(c, "get with family", tuple=dict(t, family="ipv4"))
        check_eq(res4["id"], p["id"], "get with family: id")
        for missing in (dict(t, sport=t["sport"] ^ 1),
                        dict(t, proto="udp"),
                        dict(t, dst="127.0.0.2")):
            e = c.error("get", "not_found", tuple=missing)
            check("get" in e["message"], "not_found message: %r" % e)
        c.error("get", "not_found", ct_id=(p["id"] + 1) % 2**32)

        # A zone, ICMP, IPv6.
        u = ns.call(ctsd.udp_exchange, "10.77.0.2", 7007, [1], [1],
                    "10.77.0.1")
        tz = tuple_of(u, 7007, "10.77.0.2", "udp")
        pz = ct_get(ns, tz, zone=7)
        check(pz is not None and pz.get("zone") == 7,
              "conntrack -G -w 7: %r" % pz)
        check_entry(get_ok(c, "get in zone 7", tuple=tz, zone=7), pz,
                    "get in zone 7")
        c.error("get", "not_found", tuple=tz)
        check_entry(get_ok(c, "get by ct_id in zone 7", ct_id=pz["id"]),
                    listed(ns, pz["id"]), "get by ct_id in zone 7")
        check_eq(ns.call(ctsd.ping, "10.77.0.2", 777), 0, "ping")
        icmp = ctsd.conntrack_list(ns, "-p", "icmp")
        check_eq(len(icmp), 1, "icmp entries")
        ti = dict(icmp[0]["orig"], proto="icmp")
        check_eq((ti["dst"], ti["icmp_type"], ti["icmp_id"]),
                 ("10.77.0.2", 8, 777), "the ping's entry")
        pi = ct_get(ns, ti)
        check(pi is not None, "conntrack -G of the ping: %r" % pi)
        check_entry(get_ok(c, "get icmp", tuple=ti), pi, "get icmp")
        u6 = ns.call(ctsd.udp_exchange, "::1", 6001)
        t6 = tuple_of(u6, 6001, "::1", "udp")
        p6 = ct_get(ns, t6)
        check_entry(get_ok(c, "get ipv6", tuple=t6), p6, "get ipv6")
        hold.finish()
        c.raise_errors()


@case
def get_expectation():
    """get of an FTP expectation by its expected tuple equals conntrack -L
    expect (tuple, mask, master, helper, class, timeout); another port is
    not_found."""
    with ctsd.Netns(nft=FTP_RULES, sysctls=SYSCTLS) as ns, \
            start(ns) as d, \
            ctsd.Client(d.control_path, name="control") as c:
        ctl = ns.call(ftp_port_only, 40000)
        exps = ctsd.conntrack_list(ns, table="expect")
        check_eq(len(exps), 1, "conntrack -L expect entries")
        x = exps[0]
        t = {"proto": "tcp", "src": "127.0.0.1", "dst": "127.0.0.1",
             "sport": 0, "dport": 40000}
        r = c.request("get", type="expect", tuple=t)
        check(r["ok"], "get expect: %r" % r)
        res = r["result"]
        check_eq((res["type"], res["event"], res["family"], res["proto"],
                  res["protonum"]), ("expect", "get", "ipv4", "tcp", 6),
                 "get expect: type, event, family, proto")
        check_eq(res["tuple"], x["tuple"], "get expect: expected tuple")
        check_eq(res["mask"], x["mask"], "get expect: mask")
        check_eq(res["master"], x["master"], "get expect: master")
        check_eq(res["master"], {"src": "127.0.0.1", "dst": "127.0.0.1",
                                 "sport": ctl[1], "dport": 21},
                 "get expect: master is the control connection")
        check_eq((res.get("helper"), res.get("class")),
                 (x["helper"], x["class"]), "get expect: helper, class")
        check(x["timeout"] - 3 <= res["timeout"] <= x["timeout"] + 1,
              "get expect: timeout %d, conntrack said %d"
              % (res["timeout"], x["timeout"]))
        c.error("get", "not_found", type="expect", tuple=dict(t, dport=40001))
        c.error("get", "bad_request", type="nat", tuple=t)


DUMP_FILTERS = [
    # (filter, conntrack -L options or None, Python predicate on its lines)
    (None, [], lambda p: True),
    ({}, [], lambda p: True),
    ({"family": "ipv6"}, ["-f", "ipv6"], lambda p: p["family"] == "ipv6"),
    ({"family": "ipv4"}, ["-f", "ipv4"], lambda p: p["family"] == "ipv4"),
    ({"mark": 42}, ["--mark", "42"], lambda p: p["mark"] == 42),
    ({"mark": "0x2b/0xff"}, ["--mark", "43"], lambda p: p["mark"] == 43),
    ({"mark": 0}, ["--mark", "0"], lambda p: p["mark"] == 0),
    ({"zone": 7}, ["-w", "7"], lambda p: p.get("zone") == 7),
    ({"status": "SEEN_REPLY"}, ["-u", "SEEN_REPLY"],
     lambda p: not p["unreplied"]),
    ({"status": "ASSURED"}, ["-u", "ASSURED"], lambda p: p["assured"]),
    ({"proto": "icmp"}, ["-p", "icmp"], lambda p: p["proto"] == "icmp"),
    ({"dport": "8000-8007"}, None,
     lambda p: any(8000 <= t.get("dport", -1) <= 8007
                   for t in (p["orig"], p["reply"]))),
    ({"dst": "10.77.0.0/24"}, None,
     lambda p: any(t["dst"].startswith("10.77.0.")
                   for t in (p["orig"], p["reply"]))),
    ({"orig": {"src": "::1"}}, None, lambda p: p["orig"]["src"] == "::1"),
    ({"state": "TIME_WAIT"}, None, lambda p: p["state"] == "TIME_WAIT"),
    ({"family": "ipv4", "proto": "udp", "not": {"mark": 42}}, None,
     lambda p: p["family"] == "ipv4" and p["proto"] == "udp" and
     p["mark"] != 42),
    ({"types": "expect"}, None, lambda p: False),
]


def dump(c, what, wait=30, **members):
    """Send a dump; return (lines, reply) once the reply came."""
    rid = "dump-%s" % what
    n0 = len(c.lines)
    req = {"cmd": "dump", "id": rid}
    req.update(members)
    c.send(req)
    r = c.reply_to(rid, timeout=wait)
    lines = c.lines[n0:]
    i = next(i for i, l in enumerate(lines) if l is r)
    return lines[:i], r


@case
def dump_counts():
    """dump equals conntrack -L, entry by entry (ids), without a filter and
    with filters the kernel applies (family, mark, zone, one status flag)
    and ones the daemon applies (ports, CIDR, direction, state, not); the
    reply's count is the number of dump lines; table expect equals
    conntrack -L expect."""
    with ctsd.Netns(nft=FTP_RULES, sysctls=SYSCTLS, addrs=ADDRS) as ns:
        ns.call(populate)
        for dp in (40000, 40001):
            ns.call(ftp_port_only, dp)
        with start(ns) as d, \
                ctsd.Client(d.control_path, name="control") as c:
            all_entries = ctsd.conntrack_list(ns)
            for i, (f, opts, pred) in enumerate(DUMP_FILTERS):
                what = "dump %s" % json.dumps(f)
                members = {} if f is None else {"filter": f}
                lines, r = dump(c, str(i), **members)
                check(r["ok"], "%s: %r" % (what, r))
                check_eq(r["result"], {"count": len(lines)},
                         what + ": reply vs dump lines")
                check(all(l["type"] == "ct" and l["event"] == "dump"
                          for l in lines), what + ": not all dump lines")
                want = [p for p in all_entries if pred(p)]
                if opts is not None:
                    theirs = ctsd.conntrack_list(ns, *opts)
                    check_eq(sorted(p["id"] for p in theirs),
                             sorted(p["id"] for p in want),
                             "conntrack -L %s vs the test's own filter"
                             % " ".join(opts))
                check_eq(sorted(l["id"] for l in lines),
                         sorted(p["id"] for p in want),
                         what + ": ids vs conntrack -L")
                if f is None:
                    check(len(lines) >= 40, "only %d entries" % len(lines))
                    byid = {p["id"]: p for p in all_entries}
                    for l in lines:
                        check_entry(l, byid[l["id"]], "dump line id %d"
                                    % l["id"])
                elif f and f != {"types": "expect"}:
                    check(0 < len(want) < len(all_entries),
                          what + ": selects %d of %d entries: not a test"
                          % (len(want), len(all_entries)))
            # The expectation table.
            exps = ctsd.conntrack_list(ns, table="expect")
            check_eq(len(exps), 2, "conntrack -L expect entries")
            lines, r = dump(c, "expect", table="expect")
            check_eq(r["result"], {"count": 2}, "dump expect: count")
            check_eq(sorted((l["tuple"]["dport"], l["master"]["sport"])
                            for l in lines),
                     sorted((x["tuple"]["dport"], x["master"]["sport"])
                            for x in exps),
                     "dump expect vs conntrack -L expect")
            check(all(l["type"] == "expect" and l["event"] == "dump"
                      for l in lines), "dump expect: line types")
            lines, r = dump(c, "expect40001", table="expect",
                            filter={"dport": 40001})
            check_eq([l["tuple"]["dport"] for l in lines], [40001],
                     "dump expect with a filter")
            lines, r = dump(c, "expect-ct", table="expect",
                            filter={"types": "ct"})
            check_eq(r["result"]["count"], 0, "dump expect, filter types ct")
            c.raise_errors()


@case
def dump_zone_0():
    """dump {"zone":0} lists the entries conntrack -L -w 0 lists."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS, addrs=ADDRS) as ns:
        ns.call(populate)
        with start(ns) as d, \
                ctsd.Client(d.control_path, name="control") as c:
            want = ctsd.conntrack_list(ns, "-w", "0")
            check(want, "no entry in zone 0")
            lines, r = dump(c, "zone0", filter={"zone": 0})
            check_eq(sorted(l["id"] for l in lines),
                     sorted(p["id"] for p in want),
                     "dump {\"zone\":0} vs conntrack -L -w 0")


# The slack the daemon's resident memory may grow by during the big
# dump, beyond the client's high watermark: the request sockets' buffers
# and the 64 KiB datagrams being decoded, the line buffers, the chunks of
# the fan-out, and the allocator keeping freed memory.
DUMP_SLACK = 8 << 20
BIG = 100000

# In a sanitizer build, AddressSanitizer holds freed memory in a
# quarantine (256 MiB) to catch uses after free: the daemon's VmRSS then
# counts every line it ever freed.  The big dump's daemon runs without it,
# so that VmRSS again measures what the daemon holds (ignored elsewhere).
NO_QUARANTINE = dict(os.environ, ASAN_OPTIONS=":".join(
    o for o in (os.environ.get("ASAN_OPTIONS"), "quarantine_size_mb=0")
    if o))


@case
def dump_100k_slow_reader():
    """A dump of 100,000 entries to a client that reads 64 KiB at a time
    with a pause: the daemon's VmRSS, sampled during the dump, stays
    within its value before + the client's high watermark (4 MiB) + 8 MiB;
    the reply counts every entry, as conntrack -L does, and every line
    came."""
    hiwat = 4 << 20
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(sysctls=SYSCTLS) as ns:
        t0 = time.monotonic()
        ns.conntrack("-R", load_file(os.path.join(tmp, "load"), BIG))
        t_fill = time.monotonic() - t0
        want = list_ids(ns)
        check_eq(len(want), BIG, "entries created")
        with start(ns, ["--sub-hiwat", "4M", "--sub-lowat", "1M"],
                   env=NO_QUARANTINE) as d:
            c = ctsd.Client(d.control_path, read=False, name="slow")
            c.recv_size = 64 * 1024
            c.on_chunk = lambda n: time.sleep(0.002)
            # Baseline: after a first small request, so that what every
            # request needs is there.
            c.start_reading()
            c.ok("stats")
            base = ctsd.vmrss(d.proc.pid)
            samples = []
            queued = []
            done = threading.Event()

            def sample():
                n = 0
                while not done.is_set():
                    samples.append(ctsd.vmrss(d.proc.pid))
                    n += 1
                    if n % 25 == 0:     # and the client's queue, now and then
                        st = ctsd.control_of(d, "stats")["result"]["daemon"]
                        queued.extend(x["queued_bytes"] for x in
                                      st["subscriber_list"]
                                      if x["pid"] == os.getpid() and
                                      x["lines"] > 1000)
                    done.wait(0.02)
            th = threading.Thread(target=sample, daemon=True)
            th.start()
            t1 = time.monotonic()
            try:
                # About 12 s on an idle machine with two CPUs: checking
                # every line costs the test more than the daemon.
                lines, r = dump(c, "big", wait=45)
            finally:
                done.set()
                th.join(5)
            t_dump = time.monotonic() - t1
            c.raise_errors()
            c.close()
        peak = max(samples)
        print("# 100k: filled in %.1fs, dumped in %.1fs (%d bytes), VmRSS "
              "%.1f MiB before, peak %.1f MiB (%d samples), the client's "
              "queue up to %.2f MiB" % (
                  t_fill, t_dump, c.nbytes, base / 2**20, peak / 2**20,
                  len(samples), max(queued or [0]) / 2**20))
        # The daemon stops reading the dump once the queue is over the
        # high watermark, after the datagram it is decoding (at most 64
        # KiB of entries, 150 KiB or so of lines).
        check(queued and max(queued) <= hiwat + (256 << 10),
              "the slow client's queue during the dump: %r" % queued)
        # The dump pauses at half the high watermark, so the samples (a
        # stats request every 25 VmRSS samples) rarely catch the peak;
        # a quarter shows the reader lagged and the pause was needed.
        check(max(queued) >= hiwat // 4, "the client's queue stayed under "
              "a quarter of the high watermark (%r): the reader was not slow"
              % queued)
        check_eq(r["result"], {"count": BIG}, "the big dump's reply")
        check_eq(len(lines), BIG, "dump lines received")
        check_eq(sorted(l["id"] for l in lines), sorted(want),
                 "ids of the big dump vs conntrack -L")
        check(c.nbytes > 4 * hiwat, "the dump (%d bytes) is not much larger "
              "than the high watermark: not a test" % c.nbytes)
        check(peak <= base + hiwat + DUMP_SLACK, "the daemon's VmRSS reached "
              "%.1f MiB during the dump: more than %.1f MiB before + the "
              "high watermark %.1f MiB + slack %.1f MiB" % (
                  peak / 2**20, base / 2**20, hiwat / 2**20,
                  DUMP_SLACK / 2**20))


STATS_DAEMON_KEYS = {
    "uptime", "events", "lines", "undecodable", "netlink_messages",
    "netlink_bytes", "overruns", "kernel_drops", "dumps", "clients",
    "clients_accepted", "clients_refused", "subscribers", "subscriber_list",
    "namespaces", "retried_deliveries", "nats", "subscriber_totals"}
STATS_NETNS_KEYS = {
    "netns", "netlink_messages", "netlink_bytes", "overruns", "kernel_drops",
    "socket_drops", "rcvbuf", "rcvbuf_grown", "dumps", "requests", "resync",
    "retried_deliveries", "event_sockets"}
STATS_SUB_KEYS = {
    "client", "socket", "pid", "uid", "active", "queued_bytes", "lines",
    "bytes", "dropped", "lost_reports"}
STATS_KERNEL_KEYS = {"netns", "entries", "max_entries", "cpus", "cpu_sum"}
CPU_KEYS = {"found", "invalid", "insert", "insert_failed", "drop",
            "early_drop", "error", "search_restart", "clash_resolve",
            "chain_toolong"}


@case
def stats_values():
    """stats has its keys and sane values: events by type and kind equal
    what conntrack -E and conntrack -E expect saw, lines the last seq a
    subscriber got, the subscriber list says who is connected and what
    each got; the kernel's entries equal conntrack -L's count and its
    per-CPU sums what conntrack -S says."""
    with ctsd.Netns(nft=FTP_RULES, sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            ctsd.ConntrackEvents(ns, expect=True) as etruth, \
            start(ns) as d, \
            ctsd.Client(d.events_path, name="events") as ev:
        ctsd.wait_clients(d, events=1)
        for port in (6000, 6001, 6002):
            ns.call(ctsd.udp_exchange, "127.0.0.1", port)
        ns.call(ctsd.tcp_flow, "127.0.0.1", 5000)
        ns.call(ftp_port_only, 40000)
        ns.conntrack("-D", "-p", "udp", "--dport", "6001")
        m = ns.call(ctsd.udp_exchange, "127.0.0.1", 5999)
        last = ev.wait_line(lambda l: l.get("event") == "update" and
                            l["orig"].get("sport") == m["client"][1],
                            "the marker")
        evs = truth.wait_event("update", last["id"])
        exps = etruth.wait_count(1)
        # The control clients of wait_clients() are gone once the daemon
        # read their end of input.
        deadline = time.monotonic() + ctsd.scaled(10)
        while True:
            with ctsd.Client(d.control_path, name="control") as c:
                r = c.ok("stats")
            if r["daemon"]["clients"] == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        dm, k = r["daemon"], r["kernel"]
        check_eq(set(r), {"daemon", "kernel"}, "stats result keys")
        check_eq(set(dm), STATS_DAEMON_KEYS, "stats daemon keys")
        count = {}
        for kind, _, _ in evs:
            count[kind] = count.get(kind, 0) + 1
        ecount = {}
        for kind, _, _ in exps:
            ecount[kind] = ecount.get(kind, 0) + 1
        check_eq(dm["events"]["ct"], {kk: count.get(kk, 0) for kk in
                                      ("new", "update", "destroy")},
                 "stats events.ct vs conntrack -E")
        check_eq(dm["events"]["expect"], {kk: ecount.get(kk, 0) for kk in
                                          ("new", "update", "destroy")},
                 "stats events.expect vs conntrack -E expect")
        got = ev.events()
        check_eq(dm["lines"], got[-1]["seq"], "stats lines vs the last seq")
        check_eq(dm["lines"], len(got), "stats lines vs lines received")
        check_eq((dm["undecodable"], dm["overruns"], dm["kernel_drops"]),
                 (0, 0, 0), "undecodable, overruns, kernel_drops")
        check(dm["netlink_messages"] >= len(got), "netlink_messages %d < %d "
              "events" % (dm["netlink_messages"], len(got)))
        check(0 <= dm["uptime"] < 600, "uptime %r" % dm["uptime"])
        check_eq((dm["clients"], dm["subscribers"]), (2, 2),
                 "clients, subscribers (events client + this one)")
        check(dm["clients_accepted"] >= 3 and dm["clients_refused"] == 0,
              "clients accepted/refused: %r" % dm)
        subs = dm["subscriber_list"]
        check_eq(len(subs), 2, "subscriber_list entries")
        for s in subs:
            check_eq(set(s), STATS_SUB_KEYS, "subscriber keys")
            check_eq((s["pid"], s["uid"], s["dropped"], s["lost_reports"]),
                     (os.getpid(), 0, 0, 0), "subscriber pid, uid, drops")
        se, sc = subs
        check_eq((se["socket"], se["active"], se["lines"], se["bytes"],
                  se["queued_bytes"]),
                 ("events", True, len(got), ev.nbytes, 0),
                 "events subscriber: socket, active, lines, bytes, queued")
        check_eq((sc["socket"], sc["active"]), ("control", False),
                 "control client in the list")
        check_eq(len(dm["namespaces"]), 1, "namespaces")
        n = dm["namespaces"][0]
        check_eq(set(n), STATS_NETNS_KEYS, "namespace keys")
        check_eq(n["netns"], ns.name, "namespace label")
        check(n["rcvbuf"] >= 8 << 20, "rcvbuf %r" % n["rcvbuf"])
        check_eq((n["overruns"], n["socket_drops"]), (0, 0),
                 "namespace overruns, socket drops")
        check_eq(set(k), STATS_KERNEL_KEYS, "stats kernel keys")
        check_eq(k["netns"], ns.name, "kernel netns")
        check_eq(k["entries"], len(ctsd.conntrack_list(ns)),
                 "kernel entries vs conntrack -L")
        check_eq(k["max_entries"],
                 int(ns.sysctl("net.netfilter.nf_conntrack_max")),
                 "max_entries vs nf_conntrack_max")
        cpus = [l for l in ns.conntrack("-S").stdout.splitlines()
                if l.startswith("cpu=")]
        check_eq(k["cpus"], len(cpus), "cpus vs conntrack -S")
        check_eq(set(k["cpu_sum"]), CPU_KEYS, "cpu_sum keys")
        sums = {}
        for l in cpus:
            for name, v in re.findall(r"(\w+)=(\d+)", l):
                if name != "cpu":
                    name = {"chaintoolong": "chain_toolong"}.get(name, name)
                    sums[name] = sums.get(name, 0) + int(v)
        check_eq(k["cpu_sum"], {x: sums.get(x, 0) for x in CPU_KEYS},
                 "cpu_sum vs conntrack -S")
        ev.raise_errors()


@case
def version_help_diagnose():
    """version matches ctstreamd --version, schema 1; help lists each
    socket's commands (privileged flags on the changes); diagnose reports
    the sysctls as they are in the namespace and a finding for each one
    that is off, none with --enable-acct --enable-timestamp."""
    with ctsd.Netns() as ns:
        out = subprocess.run([ctsd.daemon_path(), "--version"],
                             capture_output=True, text=True).stdout.split()
        with start(ns) as d, \
                ctsd.Client(d.control_path, name="control") as c, \
                ctsd.Client(d.events_path, name="events") as e:
            for cl in (c, e):
                v = cl.ok("version")
                check_eq(v, {"version": out[1], "schema": 1},
                         cl.name + " version")
            h = c.ok("help")["commands"]
            check_eq({x["cmd"]: x["privileged"] for x in h},
                     {"get": False, "dump": False, "stats": False,
                      "version": False, "help": False, "diagnose": False,
                      "ping": False, "delete": True, "update": True,
                      "flush": True, "create": True},
                     "help on the control socket")
            check(all(x["summary"] for x in h), "help without summaries")
            h = e.ok("help")["commands"]
            check_eq({x["cmd"]: x["privileged"] for x in h},
                     {"subscribe": False, "unsubscribe": False,
                      "ping": False, "version": False, "help": False},
                     "help on the events socket")
            dg = c.ok("diagnose")
            check_eq(set(dg), {"netns", "nf_conntrack_events",
                               "nf_conntrack_acct", "nf_conntrack_timestamp",
                               "cap_net_admin", "findings", "namespaces"},
                     "diagnose keys")
            for name in ("events", "acct", "timestamp"):
                check_eq(dg["nf_conntrack_" + name],
                         int(ns.sysctl("net.netfilter.nf_conntrack_" + name)),
                         "diagnose nf_conntrack_%s vs the sysctl" % name)
            check_eq((dg["netns"], dg["cap_net_admin"]), (ns.name, True),
                     "diagnose netns, cap_net_admin")
            msgs = [f["message"] for f in dg["findings"]]
            for name, flag in (("nf_conntrack_acct", "--enable-acct"),
                               ("nf_conntrack_timestamp",
                                "--enable-timestamp")):
                check(any(name in m and flag in m for m in msgs),
                      "no finding about %s: %r" % (name, msgs))
            check(all(f["severity"] in ("notice", "warning")
                      for f in dg["findings"]), "severities")
            check(all(m in d.stderr for m in
                      ["ctstreamd: " + x for x in msgs]),
                  "findings not as logged at startup: %r vs %r"
                  % (msgs, d.stderr))
            ns0 = dict(dg)
            del ns0["namespaces"]
            check_eq(dg["namespaces"], [ns0], "diagnose namespaces")
            e.error("diagnose", "unknown_command")
        with start(ns, ["--enable-acct", "--enable-timestamp"]) as d, \
                ctsd.Client(d.control_path, name="control") as c:
            dg = c.ok("diagnose")
            check_eq((dg["nf_conntrack_acct"], dg["nf_conntrack_timestamp"]),
                     (1, 1), "diagnose with --enable-*")
            msgs = [f["message"] for f in dg["findings"]]
            check(not any("nf_conntrack_acct" in m or
                          "nf_conntrack_timestamp" in m for m in msgs),
                  "findings with --enable-*: %r" % msgs)


def udp_flows(base_port, n, addr="127.0.0.1"):
    """n UDP exchanges to base_port.. base_port+n-1."""
    return [ctsd.udp_exchange(addr, p)["client"]
            for p in range(base_port, base_port + n)]


@case
def admin_as_root():
    """As root: update sets the mark (get and conntrack -G show it), by
    tuple and by ct_id; delete by tuple and by ct_id removes the entry
    (and again is not_found); a filtered flush deletes exactly the
    matching entries; flush without a filter or "all":true is refused;
    create makes a conntrack that conntrack -L shows (and again is
    exists); flush "all":true empties the table.  Every change is logged
    with the peer's uid and pid."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS) as ns, \
            start(ns, allow=[CHANGE_LOG]) as d, \
            ctsd.Client(d.control_path, name="control") as c:
        cl = ns.call(udp_flows, 6100, 20)
        flows = [{"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
                  "sport": a[1], "dport": 6100 + i}
                 for i, a in enumerate(cl)]
        # update by tuple, then by ct_id
        check_eq(c.ok("update", tuple=flows[0], mark=1234), {"changed": 1},
                 "update by tuple")
        check_eq(get_ok(c, "get after update", tuple=flows[0])["mark"], 1234,
                 "mark after update")
        check_eq(ct_get(ns, flows[0])["mark"], 1234, "conntrack -G mark")
        p1 = ct_get(ns, flows[1])
        check_eq(c.ok("update", ct_id=p1["id"], mark=77), {"changed": 1},
                 "update by ct_id")
        check_eq(ct_get(ns, flows[1])["mark"], 77, "mark after update by id")
        c.error("update", "bad_request", tuple=flows[2])
        c.error("update", "not_found", tuple=dict(flows[2], dport=1), mark=1)
        # delete by tuple, by ct_id
        check_eq(c.ok("delete", tuple=flows[2]), {"changed": 1},
                 "delete by tuple")
        check(ct_get(ns, flows[2]) is None, "entry still there after delete")
        c.error("delete", "not_found", tuple=flows[2])
        p3 = ct_get(ns, flows[3])
        check_eq(c.ok("delete", ct_id=p3["id"]), {"changed": 1},
                 "delete by ct_id")
        check(ct_get(ns, flows[3]) is None, "entry still there after delete "
              "by ct_id")
        c.error("delete", "not_found", ct_id=p3["id"])
        # ct_id with a tuple: the kernel checks it
        p4 = ct_get(ns, flows[4])
        c.error("delete", "not_found", tuple=flows[4],
                ct_id=(p4["id"] + 1) % 2**32)
        check(ct_get(ns, flows[4]) is not None, "delete with the wrong "
              "ct_id deleted the entry")
        # flush with a filter
        before = ctsd.conntrack_list(ns)
        sel = [p for p in before if 6110 <= p["orig"]["dport"] <= 6114]
        check_eq(len(sel), 5, "entries to flush")
        check_eq(c.ok("flush", filter={"dport": "6110-6114"}),
                 {"matched": 5, "deleted": 5, "gone": 0, "failed": 0},
                 "filtered flush")
        after = ctsd.conntrack_list(ns)
        check_eq(sorted(p["id"] for p in after),
                 sorted(p["id"] for p in before if p not in sel),
                 "conntrack -L after the filtered flush")
        c.error("flush", "bad_request")
        c.error("flush", "bad_request", all=False)
        c.error("flush", "bad_request", all="yes")
        c.error("flush", "bad_request", all=True, filter={"proto": "udp"})
        c.error("flush", "bad_filter", filter={"dport": "x"})
        check_eq(len(ctsd.conntrack_list(ns)), len(after),
                 "entries after the refused flushes")
        # create
        t = {"proto": "udp", "src": "10.9.9.9", "dst": "10.9.9.10",
             "sport": 1111, "dport": 2222}
        check_eq(c.ok("create", tuple=t, timeout=300, mark=7),
                 {"changed": 1}, "create")
        p = ct_get(ns, t)
        check(p is not None, "conntrack -G does not find the created entry")
        check_eq((p["mark"], p["orig"], p["reply"]),
                 (7, {k: t[k] for k in ("src", "dst", "sport", "dport")},
                  {"src": "10.9.9.10", "dst": "10.9.9.9", "sport": 2222,
                   "dport": 1111}), "created entry: mark, tuples")
        check(290 <= p["timeout"] <= 300, "created entry timeout %d"
              % p["timeout"])
        c.error("create", "exists", tuple=t, timeout=300)
        c.error("create", "bad_request", tuple=dict(t, sport=3333))
        tt = {"proto": "tcp", "src": "10.9.9.9", "dst": "10.9.9.10",
              "sport": 1112, "dport": 80}
        check_eq(c.ok("create", tuple=tt, timeout=120, state="ESTABLISHED",
                      status=["CONFIRMED", "SEEN_REPLY", "ASSURED"]),
                 {"changed": 1}, "create tcp")
        pt = ct_get(ns, tt)
        check(pt is not None and pt["state"] == "ESTABLISHED" and
              pt["assured"], "created tcp entry: %r" % pt)
        # flush everything
        check_eq(c.ok("flush", all=True), {"changed": 1}, "flush all")
        check_eq(ctsd.conntrack_list(ns), [], "conntrack -L after flush all")
        logs = [l for l in d.stderr if re.search(CHANGE_LOG, l)]
        cmds = [re.search(r"\): (\w+) ", l).group(1) for l in logs]
        check_eq(cmds, ["update", "update", "update", "delete", "delete",
                        "delete", "delete", "delete", "flush", "create",
                        "create", "create", "flush"],
                 "changes logged (the ones that got to the kernel)")
        check(all("(uid 0, pid %d)" % os.getpid() in l for l in logs),
              "logs without uid 0 and our pid: %r" % logs)
        c.raise_errors()


@case
def update_checks_ct_id():
    """update with a tuple and a ct_id that is not the entry's answers
    not_found and changes nothing (the kernel ignores CTA_ID on update,
    so the daemon looks the entry up first); with the entry's ct_id, and
    by ct_id alone, it changes the mark; an unknown ct_id is not_found."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS) as ns, \
            start(ns, allow=[CHANGE_LOG]) as d, \
            ctsd.Client(d.control_path, name="control") as c:
        a = ns.call(udp_flows, 6100, 1)[0]
        t = {"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
             "sport": a[1], "dport": 6100}
        ident = ct_get(ns, t)["id"]
        other = (ident + 1) % 2**32
        c.error("update", "not_found", tuple=t, ct_id=other, mark=7)
        check_eq(ct_get(ns, t)["mark"], 0, "mark after an update with "
                 "another entry's ct_id")
        check_eq(c.ok("update", tuple=t, ct_id=ident, mark=7),
                 {"changed": 1}, "update with the entry's ct_id")
        check_eq(ct_get(ns, t)["mark"], 7, "mark after the update")
        check_eq(c.ok("update", ct_id=ident, mark=9), {"changed": 1},
                 "update by ct_id alone")
        check_eq(ct_get(ns, t)["mark"], 9, "mark after the update by ct_id")
        c.error("update", "not_found", ct_id=other, mark=11)
        check_eq(ct_get(ns, t)["mark"], 9, "mark at the end")
        c.raise_errors()


@case
def admin_by_id_in_zone():
    """delete and update by ct_id alone work for an entry in zone 7."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS, addrs=ADDRS) as ns, \
            start(ns, allow=[CHANGE_LOG]) as d, \
            ctsd.Client(d.control_path, name="control") as c:
        u = ns.call(ctsd.udp_exchange, "10.77.0.2", 7007, [1], [1],
                    "10.77.0.1")
        t = tuple_of(u, 7007, "10.77.0.2", "udp")
        p = ct_get(ns, t, zone=7)
        check(p is not None, "no entry in zone 7")
        r = c.request("update", ct_id=p["id"], mark=5)
        check(r["ok"], "update by ct_id of an entry in zone 7: %r" % r)
        r = c.request("delete", ct_id=p["id"])
        check(r["ok"], "delete by ct_id of an entry in zone 7: %r" % r)
        check(ct_get(ns, t, zone=7) is None, "still there")


PRIV_REQUESTS = [
    {"cmd": "update", "id": "u", "tuple": None, "mark": 99},
    {"cmd": "delete", "id": "d", "tuple": None},
    {"cmd": "flush", "id": "f", "all": True},
    {"cmd": "create", "id": "c", "timeout": 60,
     "tuple": {"proto": "udp", "src": "10.9.9.9", "dst": "10.9.9.10",
               "sport": 1, "dport": 2}},
]


def priv_requests(t):
    reqs = []
    for r in PRIV_REQUESTS:
        r = dict(r)
        if r.get("tuple", 0) is None:
            r["tuple"] = t
        reqs.append(r)
    return reqs


@case
def admin_denied_unprivileged():
    """As nobody (socket mode 0666): update, delete, flush and create are
    denied and change nothing; get and ping work; the daemon logs each
    refusal with the peer's uid and pid."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS) as ns, \
            start(ns, ["--socket-mode", "0666"], [DENIED_LOG]) as d:
        u = ns.call(ctsd.udp_exchange, "127.0.0.1", 6200)
        t = tuple_of(u, 6200, proto="udp")
        before = ctsd.conntrack_list(ns)
        reqs = priv_requests(t) + [
            {"cmd": "get", "id": "g", "tuple": t},
            {"cmd": "ping", "id": "p"}]
        out = ctsd.run_as(d.control_path, reqs, "nobody", "nogroup")
        check("error" not in out, "client as nobody: %r" % out)
        check_eq((out["uid"], out["gid"], out["groups"]), (65534, 65534, []),
                 "the client's credentials")
        codes = [(r["id"], r["ok"], r.get("error", {}).get("code"))
                 for r in out["replies"]]
        check_eq(codes, [("u", False, "denied"), ("d", False, "denied"),
                         ("f", False, "denied"), ("c", False, "denied"),
                         ("g", True, None), ("p", True, None)],
                 "replies to nobody")
        check_eq(out["replies"][4]["result"]["id"],
                 ct_get(ns, t)["id"], "get as nobody")
        after = ctsd.conntrack_list(ns)
        check_eq(after, before, "the table after nobody's requests")
        deadline = time.monotonic() + ctsd.scaled(5)
        while True:
            logs = [l for l in d.stderr if re.search(DENIED_LOG, l)]
            if len(logs) >= 4 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        check_eq([re.search(r"\): (\w+) denied", l).group(1) for l in logs],
                 ["update", "delete", "flush", "create"], "refusals logged")
        for l in logs:
            check("(uid 65534, pid %d)" % out["pid"] in l,
                  "refusal log without the peer's uid and pid %d: %r"
                  % (out["pid"], l))
        # The events socket is open to nobody too.
        out = ctsd.run_as(d.events_path, [{"cmd": "ping", "id": 1}],
                          "nobody", "nogroup")
        check(out["replies"] and out["replies"][0].get("ok"),
              "ping on the events socket as nobody: %r" % out)


@case
def admin_group_allowed():
    """--admin-group nogroup: nobody with group nogroup, primary or
    supplementary, may change the table (and the change is logged with
    its uid); with another group only, it may not."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS) as ns, \
            start(ns, ["--socket-mode", "0666", "--admin-group", "nogroup"],
                  [CHANGE_LOG, DENIED_LOG]) as d:
        cl = ns.call(udp_flows, 6300, 3)
        ts = [{"proto": "udp", "src": "127.0.0.1", "dst": "127.0.0.1",
               "sport": a[1], "dport": 6300 + i} for i, a in enumerate(cl)]
        for i, (group, extra, allowed) in enumerate((
                ("nogroup", [], True), ("users", ["nogroup"], True),
                ("users", [], False))):
            req = {"cmd": "update", "id": i, "tuple": ts[i], "mark": 500 + i}
            out = ctsd.run_as(d.control_path, [req], "nobody", group, extra)
            r = out["replies"][0]
            what = "update as nobody:%s%s" % (group, "+" + ",".join(extra)
                                              if extra else "")
            check_eq((r["ok"], r.get("error", {}).get("code")),
                     (True, None) if allowed else (False, "denied"), what)
            check_eq(ct_get(ns, ts[i])["mark"], 500 + i if allowed else 0,
                     what + ": mark per conntrack -G")
            want = CHANGE_LOG if allowed else DENIED_LOG
            check(any(re.search(want, l) and "(uid 65534, pid %d)"
                      % out["pid"] in l for l in d.stderr),
                  "%s: no log with uid 65534 and pid %d: %r"
                  % (what, out["pid"], d.stderr))


# (raw line, expected code, expected id or None, what the message names)
BAD_LINES = [
    (b'{bad json', "bad_json", None, "invalid JSON"),
    (b'{"cmd":"ping","id":8} trailing', "bad_json", None, None),
    (b'[1,2]', "bad_request", None, "object"),
    (b'42', "bad_request", None, "object"),
    (b'"get"', "bad_request", None, "object"),
    (b'null', "bad_request", None, "object"),
    (b'{"cmd":"nosuch","id":1}', "unknown_command", 1, "nosuch"),
    (b'{"cmd":"subscribe","id":2}', "unknown_command", 2, "subscribe"),
    (b'{"id":3}', "bad_request", 3, "cmd"),
    (b'{"cmd":5,"id":4}', "bad_request", 4, "cmd"),
    (b'{"cmd":"ping","id":{"x":1}}', "bad_request", None, "id"),
    (b'{"cmd":"get","id":5}', "bad_request", 5, "tuple"),
    (b'{"cmd":"get","id":6,"tuple":"x"}', "bad_request", 6, "tuple"),
    (b'{"cmd":"get","id":7,"bogus":1}', "bad_request", 7, "bogus"),
    (b'{"cmd":"get","id":"a","tuple":{"proto":"tcp","src":"1.2.3.999",'
     b'"dst":"1.2.3.4","sport":1,"dport":2}}', "bad_request", "a", "src"),
    (b'{"cmd":"get","id":"b","tuple":{"proto":"tcp","src":"1.2.3.4",'
     b'"dst":"1.2.3.4","sport":1,"dport":70000}}', "bad_request", "b",
     "dport"),
    (b'{"cmd":"get","id":"c","tuple":{"proto":"tcp","src":"1.2.3.4",'
     b'"dst":"::1","sport":1,"dport":2}}', "bad_request", "c", "famil"),
    (b'{"cmd":"get","id":"d","tuple":{"family":"ipv6","proto":"tcp",'
     b'"src":"1.2.3.4","dst":"1.2.3.5","sport":1,"dport":2}}',
     "bad_request", "d", "family"),
    (b'{"cmd":"get","id":"e","tuple":{"proto":"icmp","src":"::1",'
     b'"dst":"::1","icmp_type":8}}', "bad_request", "e", "icmp"),
    (b'{"cmd":"get","id":"f","tuple":{"proto":"tcp","src":"1.2.3.4",'
     b'"dst":"1.2.3.5"}}', "bad_request", "f", "sport"),
    (b'{"cmd":"get","id":"g","tuple":{"proto":"icmp","src":"1.2.3.4",'
     b'"dst":"1.2.3.5","icmp_type":8,"sport":1}}', "bad_request", "g",
     "ports"),
    (b'{"cmd":"get","id":"h","tuple":{"proto":"tcp","src":"1.2.3.4",'
     b'"dst":"1.2.3.5","sport":1,"dport":2,"x":1}}', "bad_request", "h",
     "'x'"),
    (b'{"cmd":"get","id":"i","tuple":{"proto":"nosuch","src":"1.2.3.4",'
     b'"dst":"1.2.3.5"}}', "bad_request", "i", "proto"),
    (b'{"cmd":"get","id":"j","tuple":{"proto":"tcp","src":"1.2.3.4",'
     b'"dst":"1.2.3.5","sport":-1,"dport":2}}', "bad_request", "j",
     "sport"),
    (b'{"cmd":"get","id":"k","dir":"sideways","tuple":{"proto":"tcp",'
     b'"src":"1.2.3.4","dst":"1.2.3.5","sport":1,"dport":2}}',
     "bad_request", "k", "dir"),
    (b'{"cmd":"get","id":"l","ct_id":-1}', "bad_request", "l", "ct_id"),
    (b'{"cmd":"get","id":"m","ct_id":4294967296}', "bad_request", "m",
     "ct_id"),
    (b'{"cmd":"get","id":"n","ct_id":"12"}', "bad_request", "n", "ct_id"),
    (b'{"cmd":"get","id":"o","zone":65536,"tuple":{"proto":"tcp",'
     b'"src":"1.2.3.4","dst":"1.2.3.5","sport":1,"dport":2}}',
     "bad_request", "o", "zone"),
    (b'{"cmd":"dump","id":"p","table":"nat"}', "bad_request", "p", "table"),
    (b'{"cmd":"dump","id":"q","filter":{"dport":"1-x"}}', "bad_filter", "q",
     "filter.dport"),
    (b'{"cmd":"dump","id":"r","filter":[1]}', "bad_filter", "r", "filter"),
    (b'{"cmd":"dump","id":"s","netns":5}', "bad_request", "s", "netns"),
    (b'{"cmd":"stats","id":"t","netns":"nosuch"}', "not_found", "t",
     "nosuch"),
    (b'{"cmd":"ping","id":"u","extra":1}', "bad_request", "u", "extra"),
    (b'{"cmd":"ping",\x00"id":9}', "bad_json", None, "NUL"),
    (b'{"cmd":"ping","id":"a\\u0000b"}', "bad_json", None, None),
    (b'{"cmd":"ping","cmd":"ping","id":10}', "bad_json", None, None),
    (b'{"cmd":"ping","id":123456789012345678901234567890}', "bad_json", None,
     None),
    (b'{"cmd":"ping","id":"\xff"}', "bad_json", None, None),
    (b' ', "bad_json", None, None),
]


@case
def bad_input():
    """Bad requests on the control socket, one after the other on one
    connection, each get the right error code, echo the id when it could
    be read, and name what is wrong; an oversized line gets too_large and
    the connection is closed; a client that goes away in the middle of a
    dump leaves the daemon serving (the next dump is complete).
    Meanwhile a subscriber of the events socket loses no event (vs
    conntrack -E), with traffic going on."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(sysctls=SYSCTLS) as ns:
        ns.conntrack("-R", load_file(os.path.join(tmp, "load"), 10000))
        with ctsd.ConntrackEvents(ns, extended=True) as truth, \
                start(ns, ["--max-line", "4096", "--sub-hiwat", "256K",
                           "--sub-lowat", "64K"]) as d, \
                ctsd.Client(d.events_path, name="events") as ev, \
                ctsd.Client(d.control_path, name="control") as c:
            ctsd.wait_clients(d, events=1)
            gen = ns.spawn(ctsd.udp_trickle, 7100)
            gen.wait_report()
            for i, (line, code, rid, names) in enumerate(BAD_LINES):
                c.send(line + b"\n")
                c.send({"cmd": "ping", "id": "after-%d" % i})
                c.reply_to("after-%d" % i)
                r = c.replies()[-2]
                what = "request %r" % line
                check_eq((r["ok"], r["error"]["code"]), (False, code),
                         what + ": ok, code (message %r)"
                         % r["error"]["message"])
                check_eq(r.get("id"), rid, what + ": id in the reply")
                if names:
                    check(names in r["error"]["message"], "%s: message %r "
                          "does not name %r" % (what, r["error"]["message"],
                                                names))
            # An oversized line.
            with ctsd.Client(d.control_path, name="big") as b:
                b.send(b'{"cmd":"ping","id":"' + b"x" * 5000 + b'"}\n')
                b.wait_eof()
                check_eq([(l["type"], l["error"]["code"]) for l in b.lines],
                         [("reply", "too_large")], "oversized line")
            # A client that goes away in the middle of a dump (of 3.7 MB,
            # the high watermark is 256 KiB).
            before = len(list_ids(ns))
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.control_path)
            s.sendall(b'{"cmd":"dump"}\n')
            got = b""
            while got.count(b"\n") < 100:
                got += s.recv(65536)
            s.close()
            lines, r = dump(c, "after-disconnect")
            after = len(list_ids(ns))
            check(r["ok"] and r["result"]["count"] == len(lines),
                  "dump after a client left mid-dump: %r" % r)
            # Entries only come (long timeouts): between the counts before
            # and after.
            check(before <= len(lines) <= after, "dump after a client left "
                  "mid-dump: %d lines, conntrack -L had %d before and %d "
                  "after" % (len(lines), before, after))
            check_eq(c.ok("ping")["pong"], True, "ping after it all")
            n = gen.finish()
            check(n > 10, "the traffic generator made %d flows" % n)
            m = ns.call(ctsd.udp_exchange, "127.0.0.1", 5999)
            mk = ev.wait_line(lambda l: l.get("event") == "update" and
                              l["orig"].get("sport") == m["client"][1],
                              "the marker")
            evs = truth.wait_event("update", mk["id"])
            check_eq(ev.kind_ids(), [(k, i) for k, i, _ in evs],
                     "the subscriber's events vs conntrack -E")
            ev.raise_errors()
            c.raise_errors()


@case
def control_many_requests_one_write():
    """Many requests in one write on the control socket, the connection
    kept open: every one is answered, in order, those that wait for the
    kernel included."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS) as ns, \
            start(ns) as d, \
            ctsd.Client(d.control_path, name="control") as c:
        u = ns.call(ctsd.udp_exchange, "127.0.0.1", 6000)
        t = tuple_of(u, 6000, proto="udp")
        cmds = []
        for i in range(120):
            k = i % 6
            req = [{"cmd": "ping"}, {"cmd": "get", "tuple": t},
                   {"cmd": "dump"}, {"cmd": "stats"}, {"cmd": "version"},
                   {"cmd": "get", "tuple": dict(t, dport=1)}][k]
            cmds.append(dict(req, id=i))
        c.send(b"".join((json.dumps(q) + "\n").encode() for q in cmds))
        c.reply_to(119, timeout=30)
        got = c.replies()
        check_eq([r["id"] for r in got], list(range(120)), "reply ids, in "
                 "order")
        for r, q in zip(got, cmds):
            ok = q["cmd"] != "get" or q["tuple"]["dport"] != 1
            check_eq(r["ok"], ok, "reply to %r: %r" % (q, r))
        dumps = [l for l in c.lines if l.get("event") == "dump"]
        check_eq(len(dumps), 20, "dump lines (one entry, 20 dumps)")


@case
def control_requests_then_eof():
    """Several requests in one write followed by the end of input (what
    echo ... | socat does): every one is answered before the daemon
    closes the connection.  (The second, get by ct_id, scans a table of
    10,000 entries, so that the end of input is read while it runs.)"""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(sysctls=SYSCTLS) as ns:
        ns.conntrack("-R", load_file(os.path.join(tmp, "load"), 10000))
        ident = list_ids(ns)[-1]
        with start(ns) as d, \
                ctsd.Client(d.control_path, name="control") as c:
            cmds = [{"cmd": "ping", "id": 0},
                    {"cmd": "get", "id": 1, "ct_id": ident},
                    {"cmd": "ping", "id": 2}, {"cmd": "stats", "id": 3},
                    {"cmd": "version", "id": 4}]
            c.send(b"".join((json.dumps(q) + "\n").encode() for q in cmds))
            c.shutdown_write()
            c.wait_eof(timeout=20)
            check_eq([(r["id"], r["ok"]) for r in c.replies()],
                     [(i, True) for i in range(5)],
                     "replies before the daemon closed the connection")


@case
def control_eof_with_unread_answers():
    """A control client sends 400 requests and closes its sending side
    without reading yet: the daemon goes on serving others (a ping on
    another connection is answered), and the client then reads all 400
    answers and the end of the connection."""
    with ctsd.Netns() as ns, start(ns) as d:
        c = ctsd.Client(d.control_path, read=False, name="unread")
        c.send(b'{"cmd":"help"}\n' * 400)
        c.shutdown_write()
        # The daemon reads the end of input at once: it must go on
        # answering others meanwhile (pings over half a second, each
        # answered within 2 s).
        t = time.monotonic()
        while time.monotonic() < t + 0.5:
            r = ctsd.control_of(d, "ping", wait=2)
            check(r["ok"], "ping on another connection: %r" % r)
        c.start_reading()
        c.wait_eof(timeout=5)
        check_eq(len(c.replies()), 400, "answers read")
        c.close()


def half_close(path, data, name):
    """Send data on a new connection, shut the sending side down, and
    return (id, ok, error code) of the replies: on the control socket
    once the daemon closed the connection, on the events socket (which
    stays open) once a reply came and nothing more within half a
    second."""
    with ctsd.Client(path, name=name) as c:
        c.send(data)
        c.shutdown_write()
        if name == "events":
            c.wait_for(lambda ls: any(l["type"] == "reply" for l in ls),
                       "a reply")
            time.sleep(0.5)
        else:
            c.wait_eof()
        c.raise_errors()
        return [(r.get("id"), r["ok"], r.get("error", {}).get("code"))
                for r in c.replies()]


@case
def last_request_without_newline():
    """A client that shuts its sending side down after a request without
    a trailing newline (printf '{...}' | socat - UNIX-CONNECT:...) gets
    its answer, on the control socket (which then closes the
    connection) and on the events socket; one after complete lines is
    answered last; a carriage return or nothing after the last newline
    is no request; a cut request is bad_json, an unterminated line over
    --max-line too_large."""
    with ctsd.Netns() as ns, start(ns, ["--max-line", "256"]) as d:
        ctl = d.control_path
        check_eq(half_close(ctl, b'{"cmd":"version","id":1}', "control"),
                 [(1, True, None)], "control: a request without its "
                 "newline")
        check_eq(half_close(ctl, b'{"cmd":"ping","id":1}\n{"cmd":"ping",'
                            b'"id":2}\r\n{"cmd":"stats","id":3}',
                            "control"),
                 [(1, True, None), (2, True, None), (3, True, None)],
                 "control: two lines and a last one without its newline")
        check_eq(half_close(ctl, b'{"cmd":"ping","id":1}\n\r', "control"),
                 [(1, True, None)], "control: a carriage return after the "
                 "last newline")
        check_eq(half_close(ctl, b'{"cmd":"ping","id":1}\n', "control"),
                 [(1, True, None)], "control: nothing after the last "
                 "newline")
        check_eq(half_close(ctl, b'{"cmd":"ping","id":', "control"),
                 [(None, False, "bad_json")], "control: a cut request")
        check_eq(half_close(ctl, b'{"cmd":"ping","id":"%s"}' % (b"x" * 256),
                            "control"),
                 [(None, False, "too_large")], "control: an unterminated "
                 "line over --max-line")
        check_eq(half_close(d.events_path, b'{"cmd":"ping","id":"e"}',
                            "events"),
                 [("e", True, None)], "events: a request without its "
                 "newline")


def shell(cmd, timeout=30):
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True,
                       timeout=timeout)
    check_eq(p.returncode, 0, "%s: exit status (stderr %r)" % (cmd, p.stderr))
    return p.stdout


def json_values(text):
    """Every JSON value in text (jq's output), in order."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        v, i = dec.raw_decode(text, i)
        out.append(v)


@case
def readme_one_liners():
    """The README's shapes: echo '{"cmd":"get",...}' | socat - UNIX-CONNECT:
    PATH | jq prints exactly one reply, the entry conntrack -G shows; the
    dump one-liner with socat -t prints every entry and then the reply."""
    with ctsd.Netns(nft=RULES, sysctls=SYSCTLS) as ns, start(ns) as d:
        hold = ns.spawn(tcp_hold, "127.0.0.1", 5000)
        t = tuple_of(hold.wait_report(), 5000)
        p = ct_get(ns, t)
        req = json.dumps({"cmd": "get", "tuple": t}, separators=(",", ":"))
        out = shell("echo %s | socat - UNIX-CONNECT:%s | jq" % (
            shlex.quote(req), shlex.quote(d.control_path)))
        vals = json_values(out)
        check_eq(len(vals), 1, "JSON values printed by the get one-liner "
                 "(%r)" % out[:300])
        r = vals[0]
        ctsd.check_socket_line((json.dumps(r, separators=(",", ":"),
                                           ensure_ascii=False) +
                                "\n").encode())
        check_eq((r["type"], r["ok"]), ("reply", True), "the one-liner's "
                 "reply")
        check_entry(r["result"], p, "get one-liner")
        out = shell("echo %s | socat -t 10 - UNIX-CONNECT:%s | jq -c ." % (
            shlex.quote('{"cmd":"dump","filter":{"state":"ESTABLISHED"}}'),
            shlex.quote(d.control_path)))
        lines = out.splitlines()
        objs = [ctsd.check_socket_line((l + "\n").encode()) for l in lines]
        check_eq([(o["type"], o.get("event")) for o in objs],
                 [("ct", "dump"), ("reply", None)], "dump one-liner lines")
        check_entry(objs[0], listed(ns, p["id"]), "dump one-liner entry")
        check_eq(objs[1]["result"], {"count": 1}, "dump one-liner reply")
        hold.finish()


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES, tools=[("socat", "socat"), ("jq", "jq")]))
