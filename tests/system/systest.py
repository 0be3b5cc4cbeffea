#!/usr/bin/python3
"""JSON checks for tests/system/run, run on the host.

Each subcommand reads what the container produced (event lines, control
socket replies, the journal as JSON, /proc/PID/status), prints one
"PASS: ..." or "FAIL: ..." line per check and exits 1 if any failed.
The shell script counts those lines.
"""

import argparse
import json
import re
import sys
import time

TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
STATUS_RE = re.compile(r"^(\d+) events, (\d+) clients, (\d+) lost in (\d+) overruns$")

failed = 0


def report(ok, what, why=""):
    global failed
    if ok:
        print("PASS: " + what)
    else:
        failed += 1
        print("FAIL: " + what + (": " + why if why else ""))
    sys.stdout.flush()
    return ok


def read_lines(path):
    """Complete JSON lines of a file (a partial last line is left out)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return [], []
    out, bad = [], []
    for raw in data.split(b"\n")[:-1]:
        try:
            out.append(json.loads(raw))
        except ValueError:
            bad.append(raw[:200])
    return out, bad


def short(obj):
    s = json.dumps(obj, separators=(",", ":"))
    return s if len(s) < 400 else s[:400] + "..."


# ---------------------------------------------------------------- events

def flow(ev, proto, family, src, dst, sport, dport):
    o = ev.get("orig", {})
    return (ev.get("type") == "ct" and ev.get("proto") == proto and
            ev.get("family") == family and o.get("src") == src and
            o.get("dst") == dst and o.get("sport") == sport and
            o.get("dport") == dport)


def reply_ok(ev, src, dst, sport, dport):
    r = ev.get("reply", {})
    return (r.get("src") == dst and r.get("dst") == src and
            r.get("sport") == dport and r.get("dport") == sport)


def event_checks(lines, a):
    """(name, ok, why) for each expectation on the stream so far."""
    res = []
    tcp = [e for e in lines if flow(e, "tcp", "ipv4", "127.0.0.1",
                                    "127.0.0.1", a.tcp_sport, a.tcp_dport)]
    new = [e for e in tcp if e.get("event") == "new"]
    est = [e for e in tcp if e.get("event") == "update" and
           e.get("state") == "ESTABLISHED"]
    ok = bool(new) and all((
        new[0].get("protonum") == 6,
        new[0].get("state") == "SYN_SENT",
        "CONFIRMED" in new[0].get("status", []),
        isinstance(new[0].get("id"), int),
        isinstance(new[0].get("timeout"), int) and new[0]["timeout"] > 0,
        reply_ok(new[0], "127.0.0.1", "127.0.0.1", a.tcp_sport, a.tcp_dport),
        "tcp" in new[0]))
    res.append(("TCP/IPv4 127.0.0.1:%d -> 127.0.0.1:%d: new event, "
                "state SYN_SENT, reply tuple swapped" % (a.tcp_sport, a.tcp_dport),
                ok, short(new[0]) if new else "no new event for this flow"))
    ok = bool(est) and bool(new) and all((
        est[0].get("id") == new[0].get("id"),
        "SEEN_REPLY" in est[0].get("status", []),
        "ASSURED" in est[0].get("status", [])))
    res.append(("TCP/IPv4: update to ESTABLISHED, same id, SEEN_REPLY and ASSURED",
                ok, short(est[0]) if est else
                "no ESTABLISHED update (events: %s)" %
                [(e.get("event"), e.get("state")) for e in tcp]))

    udp = [e for e in lines if flow(e, "udp", "ipv4", "127.0.0.1",
                                    "127.0.0.1", a.udp_sport, a.udp_dport)
           and e.get("event") == "new"]
    ok = bool(udp) and all((
        udp[0].get("protonum") == 17,
        "state" not in udp[0],
        reply_ok(udp[0], "127.0.0.1", "127.0.0.1", a.udp_sport, a.udp_dport),
        "CONFIRMED" in udp[0].get("status", [])))
    res.append(("UDP/IPv4 127.0.0.1:%d -> 127.0.0.1:%d: new event, no state"
                % (a.udp_sport, a.udp_dport), ok,
                short(udp[0]) if udp else "no new event for this flow"))

    t6 = [e for e in lines if flow(e, "tcp", "ipv6", "::1", "::1",
                                   a.tcp6_sport, a.tcp6_dport)]
    n6 = [e for e in t6 if e.get("event") == "new"]
    d6 = [e for e in t6 if e.get("event") == "destroy"]
    ok = bool(n6) and bool(d6) and all((
        d6[0].get("id") == n6[0].get("id"),
        "DYING" in d6[0].get("status", []),
        reply_ok(n6[0], "::1", "::1", a.tcp6_sport, a.tcp6_dport)))
    res.append(("TCP/IPv6 [::1]:%d -> [::1]:%d (refused): new and destroy, "
                "same id, DYING" % (a.tcp6_sport, a.tcp6_dport), ok,
                "events: %s" % [short(e) for e in t6]))

    if a.udp2_sport:
        u2 = [e for e in lines if flow(e, "udp", "ipv4", "127.0.0.1",
                                       "127.0.0.1", a.udp2_sport, a.udp_dport)]
        res.append(("events still flow after the reloads (UDP from port %d)"
                    % a.udp2_sport, bool(u2), "no event for that flow"))
    return res


def cmd_events(a):
    deadline = time.time() + a.wait
    while True:
        lines, bad = read_lines(a.file)
        res = event_checks(lines, a)
        if all(ok for _, ok, _ in res) or time.time() >= deadline:
            break
        time.sleep(0.2)
    report(not bad, "every line of the events socket is a JSON object",
           "not JSON: %r" % bad[:3])
    for name, ok, why in res:
        report(ok, name, why)
    # Every live line reaches this subscriber; the numbers it misses can
    # only be those of lines numbered for other clients (get replies).
    seqs = [e.get("seq") for e in lines if e.get("type") in
            ("ct", "expect", "overrun")]
    missing = (seqs[-1] - len(seqs)) if seqs else 0
    report(bool(seqs) and seqs[0] == 1 and
           all(x < y for x, y in zip(seqs, seqs[1:])) and
           missing <= a.numbered_elsewhere,
           "seq numbers start at 1 and increase, %d missing (at most %d "
           "numbered for get replies; %d lines)"
           % (missing, a.numbered_elsewhere, len(seqs)),
           "seqs: %s" % seqs[:40])
    times = [e.get("time") for e in lines if e.get("type") == "ct"]
    report(bool(times) and all(isinstance(t, str) and TIME_RE.match(t)
                               for t in times),
           "every event time is RFC 3339 UTC with six fractional digits",
           "times: %s" % times[:5])
    print("info: %d lines on the events socket" % len(lines))
    if a.id_out:
        new = [e for e in lines if flow(e, "tcp", "ipv4", "127.0.0.1",
                                        "127.0.0.1", a.tcp_sport, a.tcp_dport)]
        with open(a.id_out, "w") as f:
            f.write(str(new[0].get("id", "")) if new else "")


# ---------------------------------------------------------------- replies

def one_reply(path, what):
    lines, bad = read_lines(path)
    if bad or len(lines) < 1:
        report(False, what + ": one JSON reply line",
               "got %d lines, not JSON: %r" % (len(lines), bad[:2]))
        return None
    r = lines[-1]
    if r.get("type") != "reply" or r.get("ok") is not True:
        report(False, what, "reply: %s" % short(r))
        return None
    return r


def cmd_reply(a):
    r = one_reply(a.file, a.what)
    if r is None:
        return
    res = r.get("result", {})
    if a.what == "version":
        report(res.get("version") == a.version and res.get("schema") == 1,
               "version: %s, schema 1" % a.version, short(r))
    elif a.what == "get":
        o = res.get("orig", {})
        ok = all((r.get("id") == "g1", res.get("type") == "ct",
                  res.get("event") == "get", res.get("proto") == "tcp",
                  o.get("src") == "127.0.0.1", o.get("sport") == a.tcp_sport,
                  o.get("dport") == a.tcp_dport,
                  res.get("state") == "ESTABLISHED",
                  a.ct_id == "" or res.get("id") == int(a.ct_id)))
        report(ok, "get by tuple: the live TCP entry (ESTABLISHED, id %s, "
               "request id echoed)" % (a.ct_id or "?"), short(r))
    elif a.what == "stats":
        d, k = res.get("daemon", {}), res.get("kernel", {})
        new = d.get("events", {}).get("ct", {}).get("new", 0)
        report(new >= 3 and d.get("clients", 0) >= 1,
               "stats: daemon counters (ct new %s >= 3, clients %s >= 1)"
               % (new, d.get("clients")), short(d))
        report("error" not in k and k.get("entries", 0) >= 1,
               "stats: kernel counters read (entries %s >= 1, no error)"
               % k.get("entries"), short(k))
    elif a.what == "diagnose":
        want = dict(nf_conntrack_events=a.sysctl_events,
                    nf_conntrack_acct=a.sysctl_acct,
                    nf_conntrack_timestamp=a.sysctl_timestamp)
        got = {n: res.get(n) for n in want}
        report(got == want and res.get("cap_net_admin") is True,
               "diagnose: sysctls %s as read in the container, "
               "cap_net_admin at startup" % want, short(res))
        exp = expected_findings(a.sysctl_events, a.sysctl_acct,
                                a.sysctl_timestamp)
        fs = res.get("findings", [])
        ok = len(fs) == len(exp) and all(
            any(t in f.get("message", "") and
                f.get("severity") == ("warning" if p == 4 else "notice")
                for f in fs) for p, t in exp)
        report(ok, "diagnose: findings match the sysctls (%d)" % len(exp),
               "got %s, want %s" % (fs, exp))
    elif a.what == "ping":
        report(True, "control socket answers (%s)" % short(r))


# ---------------------------------------------------------------- /proc

def cmd_proc(a):
    st = {}
    with open(a.file) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.split()
    uid, gid = str(a.uid), str(a.gid)
    w = a.what
    report(st.get("Uid") == [uid] * 4,
           "%s runs as user ctstreamd (Uid %s, real/effective/saved/fs)"
           % (w, uid), "Uid: %s" % st.get("Uid"))
    report(st.get("Gid") == [gid] * 4,
           "%s runs as group ctstreamd (Gid %s)" % (w, gid),
           "Gid: %s" % st.get("Gid"))
    # Inheritable and ambient stay empty in both processes: nothing they
    # exec could get a capability back.
    for k, want in (("CapEff", a.caps), ("CapPrm", a.caps), ("CapInh", 0),
                    ("CapAmb", 0)):
        v = st.get(k, ["?"])[0]
        try:
            ok = int(v, 16) == want
        except ValueError:
            ok = False
        report(ok, "%s: %s is %#x" % (w, k, want), "%s: %s" % (k, v))
    report(st.get("NoNewPrivs") == ["1"], "%s: NoNewPrivs is 1" % w,
           "NoNewPrivs: %s" % st.get("NoNewPrivs"))
    report(st.get("Seccomp") == ["2"],
           "%s: a seccomp filter is on (Seccomp 2)" % w,
           "Seccomp: %s" % st.get("Seccomp"))
    print("info: CapBnd %s" % st.get("CapBnd", ["?"])[0])


# ---------------------------------------------------------------- journal

def expected_findings(events, acct, timestamp):
    """(priority, sysctl or topic) of the startup diagnosis."""
    out = []
    if events == 0:
        out.append((4, "net.netfilter.nf_conntrack_events is 0"))
    elif events == 2:
        out.append((5, "net.netfilter.nf_conntrack_events is 2"))
    elif events < 0:
        out.append((4, "cannot read net.netfilter.nf_conntrack_events"))
    if acct == 0:
        out.append((5, "net.netfilter.nf_conntrack_acct is 0"))
    if timestamp == 0:
        out.append((5, "net.netfilter.nf_conntrack_timestamp is 0"))
    return out


def journal(path, since):
    out = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                j = json.loads(raw)
            except ValueError:
                continue
            if int(j.get("__REALTIME_TIMESTAMP", 0)) < since:
                continue
            m = j.get("MESSAGE", "")
            if isinstance(m, list):
                m = bytes(m).decode("utf-8", "replace")
            out.append(dict(pri=int(j.get("PRIORITY", 6)), msg=m,
                            ident=j.get("SYSLOG_IDENTIFIER", ""),
                            comm=j.get("_COMM", "")))
    return out


def daemon_lines(entries):
    return [e for e in entries if e["ident"] == "ctstreamd"]


def has(entries, pri, pattern):
    rx = re.compile(pattern)
    return [e for e in entries if rx.search(e["msg"]) and
            (pri is None or e["pri"] == pri)]


def cmd_journal(a):
    ents = journal(a.file, a.since)
    d = daemon_lines(ents)
    for spec in a.expect:
        pri, _, pattern = spec.partition(":")
        found = has(d if not pattern.startswith("systemd:") else ents,
                    int(pri) if pri else None,
                    pattern[len("systemd:"):] if pattern.startswith("systemd:")
                    else pattern)
        report(bool(found), "journal: %r at priority %s" % (pattern, pri or "any"),
               "not found; same text at other priorities: %s" %
               [(e["pri"], e["msg"]) for e in has(d, None, pattern)][:3])
    for pattern in a.absent:
        found = has(ents, None, pattern)
        report(not found, "journal: no %r" % pattern,
               "found: %s" % [(e["pri"], e["msg"]) for e in found][:3])
    if a.diag:
        ev, ac, ts = (int(x) for x in a.diag.split(","))
        for pri, text in expected_findings(ev, ac, ts):
            found = has(d, None, re.escape(text))
            report(bool(found) and all(e["pri"] == pri for e in found),
                   "journal: startup diagnosis %r at priority %d (%s)"
                   % (text, pri, "warning" if pri == 4 else "notice"),
                   "found: %s" % [(e["pri"], e["msg"]) for e in found])
    if a.allowed_warnings is not None:
        allowed = [re.compile(p) for p in a.allowed_warnings]
        bad = [e for e in d if e["pri"] <= 4 and
               not any(p.search(e["msg"]) for p in allowed)]
        if a.diag:
            ev, ac, ts = (int(x) for x in a.diag.split(","))
            diag = [t for p, t in expected_findings(ev, ac, ts) if p <= 4]
            bad = [e for e in bad if not any(t in e["msg"] for t in diag)]
        report(not bad, "journal: no unexpected warning or error from the "
               "daemon", "%s" % [(e["pri"], e["msg"]) for e in bad][:10])
        unit = [e for e in ents if e["ident"] != "ctstreamd" and e["pri"] <= 4]
        report(not unit, "journal: no warning or error from systemd about "
               "the units", "%s" % [(e["ident"], e["pri"], e["msg"])
                                    for e in unit][:10])
    if a.dump:
        for e in d:
            print("journal: <%d> %s" % (e["pri"], e["msg"]))


def cmd_status_text(a):
    m = STATUS_RE.match(a.text)
    report(bool(m) and int(m.group(1)) >= a.min_events,
           "systemd status line carries the counters (%r)" % a.text,
           "expected 'N events, N clients, N lost in N overruns' with "
           "N events >= %d" % a.min_events)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)

    def ports(s):
        s.add_argument("--tcp-sport", type=int, default=40101)
        s.add_argument("--tcp-dport", type=int, default=7101)

    e = sub.add_parser("events")
    e.add_argument("file")
    ports(e)
    e.add_argument("--udp-sport", type=int, default=40102)
    e.add_argument("--udp-dport", type=int, default=7102)
    e.add_argument("--udp2-sport", type=int, default=0)
    e.add_argument("--tcp6-sport", type=int, default=40103)
    e.add_argument("--tcp6-dport", type=int, default=7103)
    e.add_argument("--wait", type=float, default=10)
    e.add_argument("--numbered-elsewhere", type=int, default=0,
                   help="how many numbers other clients' lines may take")
    e.add_argument("--id-out")

    r = sub.add_parser("reply")
    r.add_argument("what", choices=("version", "get", "stats", "diagnose",
                                    "ping"))
    r.add_argument("file")
    ports(r)
    r.add_argument("--version", default="")
    r.add_argument("--ct-id", default="")
    r.add_argument("--sysctl-events", type=int, default=-1)
    r.add_argument("--sysctl-acct", type=int, default=-1)
    r.add_argument("--sysctl-timestamp", type=int, default=-1)

    s = sub.add_parser("proc")
    s.add_argument("file")
    s.add_argument("--uid", required=True)
    s.add_argument("--gid", required=True)
    s.add_argument("--caps", type=lambda v: int(v, 0), default=0,
                   help="the capability mask expected in CapEff and CapPrm "
                   "(CapInh and CapAmb must be 0)")
    s.add_argument("--what", default="daemon",
                   help="the process's name in the report")

    j = sub.add_parser("journal")
    j.add_argument("file")
    j.add_argument("--since", type=int, default=0,
                   help="microseconds since the epoch")
    j.add_argument("--expect", action="append", default=[],
                   help="PRIORITY:REGEX (a daemon line), or "
                   "PRIORITY:systemd:REGEX (any line)")
    j.add_argument("--absent", action="append", default=[])
    j.add_argument("--diag", help="events,acct,timestamp sysctl values")
    j.add_argument("--allowed-warnings", nargs="*")
    j.add_argument("--dump", action="store_true")

    t = sub.add_parser("status-text")
    t.add_argument("text")
    t.add_argument("--min-events", type=int, default=1)

    a = p.parse_args()
    {"events": cmd_events, "reply": cmd_reply, "proc": cmd_proc,
     "journal": cmd_journal, "status-text": cmd_status_text}[a.cmd](a)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
