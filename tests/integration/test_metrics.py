#!/usr/bin/env python3
"""
test_metrics.py - Prometheus metrics: {"cmd":"stats","format":"prometheus"}
on the control socket and /metrics over HTTP (--metrics-listen).

The daemon runs in a namespace of the case's own, without conntrack, so
that its loopback (where it listens for HTTP) is private and the test's
HTTP requests make no events; it monitors one or two other namespaces,
where the traffic runs.  HTTP requests are made inside the daemon's
namespace (Netns.call).  The output is checked with promtool (Debian's
prometheus package): the case that runs it is skipped, saying so, when
promtool is not installed.

Needs root; exits 77 otherwise.  Run one case: test_metrics.py NAME...
"""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq                         # noqa: E402

CASES = []
PORT = 19110       # the port the documentation suggests
CTYPE = "text/plain; version=0.0.4; charset=utf-8"

# Families whose values change from one request to the next by the
# requests themselves (the control client, the kernel's stats requests).
VOLATILE = {
    "ctstreamd_clients", "ctstreamd_clients_accepted_total",
    "ctstreamd_subscribers", "ctstreamd_subscriber_queued_bytes",
    "ctstreamd_subscriber_max_queued_bytes",
    "ctstreamd_subscriber_lines_total",
    "ctstreamd_subscriber_written_bytes_total",
    "ctstreamd_kernel_requests_total",
}


def case(fn):
    CASES.append(fn)
    return fn


# ---------------------------------------------------------------------------
# Run inside the daemon's namespace (Netns.call)

def http_request(port, method="GET", path="/metrics", host="127.0.0.1",
                 timeout=15):
    """One HTTP/1.1 request: status, headers (names lowercased), body."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    c.request(method, path)
    r = c.getresponse()
    body = r.read().decode("utf-8")
    out = {"status": r.status, "body": body,
           "headers": {k.lower(): v for k, v in r.getheaders()}}
    c.close()
    return out


def idle_then_get(port, idle, partial):
    """Open idle connections that send nothing and partial ones that send
    half a request line, then GET /metrics: its status and how long it
    took."""
    socks = []
    for _ in range(idle):
        socks.append(socket.create_connection(("127.0.0.1", port)))
    for _ in range(partial):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metr")
        socks.append(s)
    t = time.monotonic()
    r = http_request(port)
    took = time.monotonic() - t
    for s in socks:
        s.close()
    return {"status": r["status"], "took": took}


def fill_then_get(port, n):
    """Hold n idle connections (the daemon's limit), then GET /metrics: it
    waits until the daemon's timeout closes the idle ones.  Returns its
    status, how long it took, and how many idle ones the daemon closed."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    t = time.monotonic()
    r = http_request(port, timeout=40)
    took = time.monotonic() - t
    closed = 0
    for s in socks:
        s.settimeout(2)
        try:
            if s.recv(1) == b"":
                closed += 1
        except OSError:
            pass
        s.close()
    return {"status": r["status"], "took": took, "closed": closed}


# ---------------------------------------------------------------------------
# Helpers

LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Prometheus text: ({series: value}, [HELP and TYPE lines]); a series
    is (name, ((label, value), ...)) with the labels sorted."""
    samples, meta = {}, []
    for line in text.splitlines():
        if line.startswith("#"):
            meta.append(line)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        check(m is not None, "not a sample line: %r" % line)
        labels = tuple(sorted(LABEL.findall(m.group(3) or "")))
        key = (m.group(1), labels)
        check(key not in samples, "series twice: %r" % (key,))
        samples[key] = float(m.group(4))
    return samples, meta


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    check(key in samples, "no sample %s%r" % (name, labels))
    return samples[key]


def allow_for(*names):
    """The stderr lines of a daemon monitoring more namespaces than the
    harness's one, and listening for metrics."""
    out = [r"^ctstreamd: listening for metrics on http://"]
    for n in names:
        lab = re.escape(n)
        out += [
            r"^ctstreamd: monitoring %s: types " % lab,
            r"^ctstreamd: %s: \d+ entries known at startup$" % lab,
            r"^ctstreamd: %s: net\.netfilter\.nf_conntrack_" % lab,
        ]
    return out


class Setup:
    """The daemon in namespace home (no conntrack), monitoring ns (and
    more, the namespaces in extra), with a control socket and
    --metrics-listen."""

    def __init__(self, extra=(), listen=str(PORT), args=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="ctsd-")
        self.ctl = os.path.join(self.tmp.name, "ctl.sock")
        self.home = ctsd.Netns(nft=None)
        self.ns = ctsd.Netns()
        self.extra = [ctsd.Netns() for _ in extra]
        self.listen = listen
        self.args = list(args)

    def __enter__(self):
        self.home.__enter__()
        self.ns.__enter__()
        for e in self.extra:
            e.__enter__()
        more = []
        for e in self.extra:
            more += ["--netns", e.name]
        listen = ["--metrics-listen", self.listen] if self.listen else []
        self.d = ctsd.Daemon(
            self.ns, prefix=["ip", "netns", "exec", self.home.name],
            args=["--control-socket", self.ctl] + listen + more + self.args,
            allow_stderr=allow_for(*[e.name for e in self.extra]),
            seq_gaps=True)
        self.d.start()
        return self

    def __exit__(self, exc_type, *rest):
        try:
            if exc_type is None:
                self.d.stop()
            else:
                self.d._terminate()
        finally:
            for e in reversed(self.extra):
                e.close()
            self.ns.close()
            self.home.close()
            self.tmp.cleanup()
        return False

    def http(self, method="GET", path="/metrics", host="127.0.0.1"):
        return self.home.call(http_request, PORT, method, path, host)

    def metrics(self):
        r = self.http()
        check_eq(r["status"], 200, "GET /metrics status")
        check_eq(r["headers"].get("content-type"), CTYPE, "Content-Type")
        return r["body"]

    def stats(self, **kw):
        res, _ = ctsd.control_ok(self.ctl, dict({"cmd": "stats"}, **kw))
        return res

    def traffic(self, ns, port, n):
        """n UDP exchanges in ns; returns once the stream has them."""
        for i in range(n):
            ns.call(ctsd.udp_exchange, "127.0.0.1", port + i)
        self.d.wait_for(lambda evs: sum(
            1 for e in evs if e.get("event") == "new" and
            e.get("orig", {}).get("dport") in range(port, port + n)) >= n,
            "the new events of the traffic")


def sum_events(st):
    return sum(v for k in st["daemon"]["events"].values() for v in k.values())


# ---------------------------------------------------------------------------
# Cases

@case
def metrics_agree_with_stats():
    """After traffic in two namespaces, /metrics says what the JSON stats
    say: events by type and kind, lines, each namespace's counters, and
    each namespace's conntrack table."""
    with Setup(extra=["c"]) as s:
        other = s.extra[0]
        s.traffic(s.ns, 5100, 3)
        s.traffic(other, 5200, 2)
        for attempt in range(3):
            before = s.stats()
            kb = {n: s.stats(netns=n)["kernel"]
                  for n in (s.ns.name, other.name)}
            smp, _ = parse(s.metrics())
            after = s.stats()
            ka = {n: s.stats(netns=n)["kernel"]
                  for n in (s.ns.name, other.name)}
            if sum_events(before) == sum_events(after) and \
                    all(kb[n]["entries"] == ka[n]["entries"] for n in kb):
                break
        else:
            ctsd.fail("the counters kept changing")
        d = after["daemon"]
        check(sum_events(after) >= 5, "events: %r" % d["events"])
        for t, kinds in d["events"].items():
            for k, n in kinds.items():
                check_eq(value(smp, "ctstreamd_events_total", type=t,
                               event=k), n, "events %s %s" % (t, k))
        check_eq(value(smp, "ctstreamd_stream_lines_total"), d["lines"],
                 "lines")
        check_eq(value(smp, "ctstreamd_undecodable_messages_total"),
                 d["undecodable"], "undecodable")
        check_eq(value(smp, "ctstreamd_monitored_namespaces"), 2,
                 "namespaces")
        per_ns = {
            "ctstreamd_netlink_messages_total": "netlink_messages",
            "ctstreamd_netlink_bytes_total": "netlink_bytes",
            "ctstreamd_overruns_total": "overruns",
            "ctstreamd_kernel_dropped_messages_total": "kernel_drops",
            "ctstreamd_event_socket_drops_total": "socket_drops",
            "ctstreamd_retried_deliveries_total": "retried_deliveries",
            "ctstreamd_event_sockets": "event_sockets",
            "ctstreamd_event_socket_receive_buffer_bytes": "rcvbuf",
            "ctstreamd_event_socket_receive_buffer_grown_total":
                "rcvbuf_grown",
            "ctstreamd_dumps_total": "dumps",
        }
        resync = {
            "ctstreamd_resync_runs_total": "runs",
            "ctstreamd_resync_new_lines_total": "added",
            "ctstreamd_resync_destroy_lines_total": "removed",
            "ctstreamd_index_entries": "live_entries",
            "ctstreamd_index_old_entries": "entries_older_than_daemon",
        }
        for m in d["namespaces"]:
            for name, key in per_ns.items():
                check_eq(value(smp, name, netns=m["netns"]), m[key],
                         "%s of %s" % (name, m["netns"]))
            for name, key in resync.items():
                check_eq(value(smp, name, netns=m["netns"]),
                         m["resync"][key], "%s of %s" % (name, m["netns"]))
        check(value(smp, "ctstreamd_netlink_messages_total",
                    netns=s.ns.name) >= 3, "messages of the first")
        for n, k in ka.items():
            check_eq(value(smp, "ctstreamd_kernel_stats_up", netns=n), 1,
                     "kernel_stats_up of " + n)
            check_eq(value(smp, "ctstreamd_kernel_conntrack_entries",
                           netns=n), k["entries"], "entries of " + n)
            check_eq(value(smp, "ctstreamd_kernel_conntrack_entries_limit",
                           netns=n), k["max_entries"], "limit of " + n)
            check(k["entries"] >= 2, "entries of %s: %r" % (n, k))
        check_eq(value(smp, "ctstreamd_subscribers", socket="stdout"), 1,
                 "stdout reader")
        ver, _ = ctsd.control_ok(s.ctl, {"cmd": "version"})
        check_eq(value(smp, "ctstreamd_build_info",
                       version=ver["version"]), 1, "build_info")
        start = value(smp, "ctstreamd_start_time_seconds")
        check(abs(time.time() - d["uptime"] - start) < 3,
              "start time %s, uptime %s" % (start, d["uptime"]))
        # Per-client series would grow without bound: there are none.
        check(not [k for k in smp if any(l in ("client", "pid", "uid")
                                         for l, _ in k[1])],
              "per-client labels")


def same_except_volatile(a, b):
    """The differences of two parsed outputs outside VOLATILE."""
    (sa, ma), (sb, mb) = a, b
    out = []
    if ma != mb:
        out.append("HELP/TYPE lines differ")
    if set(sa) != set(sb):
        out.append("series differ: %r" % (set(sa) ^ set(sb),))
    for k in set(sa) & set(sb):
        if k[0] not in VOLATILE and sa[k] != sb[k]:
            out.append("%r: %s and %s" % (k, sa[k], sb[k]))
    return out


@case
def stats_prometheus_equals_http():
    """{"cmd":"stats","format":"prometheus"} answers the text /metrics
    serves: the same families, series and values, but for those the
    requests themselves move."""
    with Setup(extra=["c"]) as s:
        s.traffic(s.ns, 5300, 2)
        for attempt in range(3):
            res = s.stats(format="prometheus")
            check_eq(sorted(res), ["format", "text"], "result members")
            check_eq(res["format"], "prometheus", "format")
            diff = same_except_volatile(parse(res["text"]),
                                        parse(s.metrics()))
            if not diff:
                break
        else:
            ctsd.fail("stats text and /metrics differ:\n" +
                      "\n".join(diff[:20]))
        # netns selects one namespace's kernel statistics.
        one, _ = parse(s.stats(format="prometheus",
                               netns=s.ns.name)["text"])
        check_eq(sorted(dict(k[1])["netns"] for k in one
                        if k[0] == "ctstreamd_kernel_stats_up"),
                 [s.ns.name], "kernel statistics with netns")
        # The JSON answer is unchanged, with the subscribers' totals.
        st = s.stats(format="json")
        check_eq(sorted(st), ["daemon", "kernel"], "JSON result")
        check_eq(st["kernel"]["netns"], s.ns.name, "JSON kernel part")
        check_eq(sorted(st["daemon"]["subscriber_totals"]),
                 ["bytes", "dropped", "lines", "lost_reports"],
                 "subscriber_totals")
        for bad in ("xml", "", 1, None, ["prometheus"]):
            r, _ = ctsd.control(s.ctl, {"cmd": "stats", "format": bad})
            check(r["ok"] is False and r["error"]["code"] == "bad_request"
                  and "format" in r["error"]["message"],
                  "format %r: %r" % (bad, r))


@case
def http_paths_and_methods():
    """GET and HEAD /metrics; 404 elsewhere; 405 for other methods."""
    with Setup() as s:
        get = s.http()
        check_eq(get["status"], 200, "GET")
        check_eq(get["headers"].get("content-type"), CTYPE, "Content-Type")
        check_eq(int(get["headers"]["content-length"]),
                 len(get["body"].encode()), "Content-Length")
        check(get["body"].startswith("# HELP ctstreamd_"), "body")
        head = s.http("HEAD")
        check_eq(head["status"], 200, "HEAD")
        check_eq(head["body"], "", "HEAD body")
        check_eq(head["headers"].get("content-type"), CTYPE, "HEAD type")
        check(abs(int(head["headers"]["content-length"]) -
                  len(get["body"])) < 200, "HEAD Content-Length")
        q = s.http(path="/metrics?x=1")
        check_eq(q["status"], 200, "a query string is ignored")
        for path in ("/", "/metric", "/metrics/", "/metricsx", "/x/metrics"):
            r = s.http(path=path)
            check_eq(r["status"], 404, "GET " + path)
            check_eq(r["headers"].get("content-type"),
                     "text/plain; charset=utf-8", "404 type")
        for m in ("POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            r = s.http(m)
            check_eq(r["status"], 405, m)
            check_eq(r["headers"].get("allow"), "GET, HEAD", m + " Allow")
        check_eq(s.http("POST", "/nothing")["status"], 404, "POST elsewhere")
        # Still serving after all that.
        check_eq(s.http()["status"], 200, "GET again")


@case
def idle_clients_do_not_block_others():
    """Clients that connect and send nothing, or half a request, do not
    delay others; at the connection limit a new client waits for the
    timeout to close the idle ones, and the daemon serves its control
    socket meanwhile."""
    with Setup() as s:
        r = s.home.call(idle_then_get, PORT, 5, 5)
        check_eq(r["status"], 200, "GET with idle clients")
        check(r["took"] < 2, "GET took %.1fs" % r["took"])
        out = {}

        def fill():
            out["r"] = s.home.call(fill_then_get, PORT, 16, timeout=60)
        t = threading.Thread(target=fill)
        t.start()
        time.sleep(2)
        st = s.stats()
        check(st["daemon"]["uptime"] >= 0, "stats while HTTP is full")
        t.join(70)
        r = out.get("r")
        check(r is not None, "no result from the full connection test")
        check_eq(r["status"], 200, "GET after the limit")
        check(5 < r["took"] < 30, "waited %.1fs for a slot" % r["took"])
        check_eq(r["closed"], 16, "idle connections the daemon closed")
        check_eq(s.http()["status"], 200, "GET afterwards")


@case
def promtool_accepts_the_output():
    """promtool check metrics (Debian: prometheus) finds nothing to say
    about /metrics nor about the stats command's text, with two
    namespaces, traffic, and a namespace without resync."""
    tool = shutil.which("promtool")
    if tool is None:
        raise ctsd.Skip("promtool not found: install Debian's prometheus "
                        "package (apt-get install prometheus)")
    with Setup(extra=["c"]) as s:
        s.traffic(s.ns, 5400, 2)
        for name, text in (("/metrics", s.metrics()),
                           ("stats", s.stats(format="prometheus")["text"])):
            p = subprocess.run([tool, "check", "metrics"], input=text,
                               capture_output=True, text=True, timeout=30)
            check(p.returncode == 0 and not p.stdout.strip() and
                  not p.stderr.strip(),
                  "promtool check metrics on %s: status %d\n%s%s"
                  % (name, p.returncode, p.stdout, p.stderr))
    with Setup(args=["--no-track"]) as s:
        text = s.metrics()
        check("ctstreamd_resync_runs_total" not in text, "resync metrics")
        p = subprocess.run([tool, "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0 and not p.stdout.strip() and
              not p.stderr.strip(), "promtool with --no-track: %s%s"
              % (p.stdout, p.stderr))


@case
def metrics_are_documented():
    """Every family the daemon serves is in the METRICS section of
    ctstreamd(8), with its type."""
    path = os.path.join(ctsd.srcdir(), "man", "ctstreamd.8")
    with open(path) as f:
        man = f.read()
    doc = man[man.index(".Sh METRICS"):man.index(".Sh SIGNALS")]
    with Setup(extra=["c"]) as s:
        _, meta = parse(s.metrics())
    types = dict(l.split()[2:4] for l in meta if l.startswith("# TYPE "))
    check(len(types) > 40, "families: %d" % len(types))
    for fam, typ in types.items():
        m = re.match(r"ctstreamd_kernel_conntrack_(\w+)_total$", fam)
        if m and m.group(1) not in ("entries",):
            check(".Li %s\n" % m.group(1) in doc,
                  "%s: %s not in ctstreamd(8)" % (fam, m.group(1)))
            continue
        entry = re.search(r"^\.It Li %s No \((\w+)" % re.escape(fam), doc,
                          re.M)
        check(entry is not None, "%s is not in METRICS of ctstreamd(8)"
              % fam)
        check_eq(entry.group(1), typ, "the type of %s in ctstreamd(8)" % fam)


@case
def listen_addresses_and_errors():
    """[::1]:PORT works; bad addresses are usage errors; a port in use
    stops the start, naming it; a reload keeps the address, saying so."""
    with Setup(listen="[::1]:%d" % PORT) as s:
        s.d.wait_stderr(r"listening for metrics on http://\[::1\]:%d/metrics$"
                        % PORT)
        check_eq(s.http(host="::1")["status"], 200, "GET over IPv6")
        # A second daemon cannot have the port.
        p = s.home.exec([ctsd.daemon_path(), "--netns", s.ns.name,
                         "--stdout", "--events-socket", "none",
                         "--control-socket", "none", "--metrics-listen",
                         "[::1]:%d" % PORT], check_rc=False, timeout=20)
        check_eq(p.returncode, 1, "status with the port taken")
        check("[::1]:%d" % PORT in p.stderr and "in use" in p.stderr,
              "message: %r" % p.stderr)
    for bad in ("localhost:80", "0", "1.2.3.4:", "[::1]", "::1:80"):
        p = subprocess.run([ctsd.daemon_path(), "--stdout",
                            "--metrics-listen", bad], capture_output=True,
                           text=True, timeout=10)
        check_eq(p.returncode, 2, "status for %r" % bad)
        check("metrics-listen" in p.stderr, "message for %r: %r"
              % (bad, p.stderr))
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        conf = os.path.join(tmp, "ctstreamd.conf")
        with open(conf, "w") as f:
            f.write("metrics-listen = 127.0.0.1:%d\n" % PORT)
        p = subprocess.run([ctsd.daemon_path(), "-n", "-f", conf],
                           capture_output=True, text=True, timeout=10)
        check_eq((p.returncode, p.stdout), (0, "configuration OK\n"),
                 "-n with metrics-listen")
        with Setup(listen=None, args=["-f", conf]) as s:
            with open(conf, "w") as f:
                f.write("metrics-listen = 127.0.0.1:%d\n" % (PORT + 1))
            s.d.allow.append(re.compile(
                r"^ctstreamd: (reloading the configuration from|"
                r"configuration reloaded$|reload: metrics-listen changed: "
                r"it takes effect at the next restart$)"))
            s.d.proc.send_signal(signal.SIGHUP)
            s.d.wait_stderr(r"^ctstreamd: reload: metrics-listen changed: "
                            r"it takes effect at the next restart$")
            check_eq(s.http()["status"], 200, "GET after the reload")


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
