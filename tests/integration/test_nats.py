#!/usr/bin/env python3
"""
test_nats.py - ctstreamd's NATS output against a real nats-server.

Each case starts its own nats-server on 127.0.0.1 (a free port, JetStream
in a temporary store directory, no other listener), creates its JetStream
stream through the JetStream API with a plain request, starts the daemon
on a namespace of its own with --nats-server, makes traffic there, and
compares three views of the same lines: what the daemon wrote on standard
output (the harness checks every line), what a NATS subscriber received,
and what the stream stored (read back message by message through the
JetStream API).  The daemon's counters come from its control socket.

The NATS client is the protocol itself (INFO, CONNECT, SUB, PUB, MSG,
HMSG, PING, PONG) over a socket: only the Python standard library.

Needs root (exit 77 otherwise), nats-server (NATS_SERVER, else the PATH,
/usr/sbin, /usr/bin; Debian: nats-server) and a daemon built with
libnats; without either it exits 77 and says why.
Run one case: test_nats.py NAME...
"""

import base64
import json
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
HOST = "h1"                     # --nats-host of every case
NATS_STDERR = [r"^ctstreamd: nats: "]


def case(fn):
    CASES.append(fn)
    return fn


# ---------------------------------------------------------------------------
# What this test needs

def nats_server_path():
    for p in (os.environ.get("NATS_SERVER"), shutil.which("nats-server"),
              "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if p and os.access(p, os.X_OK):
            return p
    return None


def daemon_has_nats():
    """Ask the daemon to check a configuration that uses NATS."""
    p = subprocess.run([ctsd.daemon_path(), "-n", "-f", "/dev/null",
                        "--stdout", "--nats-server", "nats://127.0.0.1:4222"],
                       capture_output=True, text=True, timeout=10)
    if "built without NATS support" in p.stderr:
        return False
    check(p.returncode == 0 and p.stdout == "configuration OK\n",
          "ctstreamd -n with --nats-server: status %d, stdout %r, stderr %r"
          % (p.returncode, p.stdout, p.stderr))
    return True


def preflight():
    """Exit 77 with the reason when this test cannot run here."""
    ctsd.require_root()
    if nats_server_path() is None:
        print("SKIP: nats-server is missing (Debian: nats-server; or set "
              "NATS_SERVER)")
        sys.exit(ctsd.SKIP)
    if not daemon_has_nats():
        print("SKIP: ctstreamd was built without NATS support "
              "(install libnats-dev and configure --with-nats=yes)")
        sys.exit(ctsd.SKIP)


# ---------------------------------------------------------------------------
# nats-server

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class NatsServer:
    """nats-server -a 127.0.0.1 -p PORT -js -sd TMP, killed and its
    directory removed whatever happens."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ctsd-nats-")
        self.port = free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.proc = None
        self.starts = 0
        ctsd.add_cleanup(self.close)

    def start(self, timeout=10):
        self.starts += 1
        log = open(os.path.join(self.dir, "server-%d.log" % self.starts),
                   "w")
        self.proc = subprocess.Popen(
            [nats_server_path(), "-a", "127.0.0.1", "-p", str(self.port),
             "-js", "-sd", os.path.join(self.dir, "store")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        timeout = ctsd.scaled(timeout)
        deadline = time.monotonic() + timeout
        while True:
            check(self.proc.poll() is None,
                  "nats-server exited %s:\n%s" % (self.proc.returncode,
                                                  self.log()))
            try:
                c = NatsClient(self.port, timeout=1)
                c.close()
                return
            except OSError:
                check(time.monotonic() < deadline,
                      "nats-server not ready in %ss:\n%s" % (timeout,
                                                            self.log()))
                time.sleep(0.05)

    def stop(self):
        if self.proc is not None:
            ctsd.stop_process(self.proc, signal.SIGTERM, timeout=10)
            self.proc = None

    def log(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name)) as f:
                    out.append(f.read()[-3000:])
        return "\n".join(out)

    def close(self):
        ctsd.remove_cleanup(self.close)
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---------------------------------------------------------------------------
# A NATS client: the text protocol over a socket

class NatsClient:
    """CONNECT with headers and no_responders; SUB collects MSG and HMSG
    per subscription; request() is PUB with a reply inbox."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")
        line = self.rfile.readline()
        if not line.startswith(b"INFO "):
            raise OSError("not a NATS server: %r" % line)
        self.cond = threading.Condition()
        self.subs = {}          # sid -> [(subject, headers, payload)]
        self.pongs = 0
        self.errors = []
        self.next_sid = 0
        self.inbox_sid = None
        self.requests = 0
        self.closed = False
        self._send(b'CONNECT {"verbose":false,"pedantic":false,'
                   b'"headers":true,"no_responders":true,"protocol":1,'
                   b'"name":"ctsd-test"}\r\n')
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.flush()

    def _send(self, data):
        self.sock.sendall(data)

    def _read(self):
        try:
            while True:
                line = self.rfile.readline()
                if not line:
                    break
                words = line.split()
                if not words:
                    continue
                op = words[0].upper()
                if op in (b"MSG", b"HMSG"):
                    hlen = int(words[-2]) if op == b"HMSG" else 0
                    size = int(words[-1])
                    data = self.rfile.read(size + 2)[:size]
                    msg = (words[1].decode(), data[:hlen], data[hlen:])
                    with self.cond:
                        self.subs.setdefault(int(words[2]), []).append(msg)
                        self.cond.notify_all()
                elif op == b"PING":
                    self._send(b"PONG\r\n")
                elif op == b"PONG":
                    with self.cond:
                        self.pongs += 1
                        self.cond.notify_all()
                elif op == b"-ERR":
                    with self.cond:
                        self.errors.append(line.decode().strip())
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def flush(self, timeout=5):
        """PING and wait for its PONG: the server has seen all before."""
        with self.cond:
            want = self.pongs + 1
        self._send(b"PING\r\n")
        with self.cond:
            ok = self.cond.wait_for(lambda: self.pongs >= want or
                                    self.closed, timeout)
        check(ok and not self.closed, "no PONG from nats-server")

    def subscribe(self, subject):
        self.next_sid += 1
        sid = self.next_sid
        with self.cond:
            self.subs[sid] = []
        self._send(("SUB %s %d\r\n" % (subject, sid)).encode())
        self.flush()
        return sid

    def messages(self, sid):
        with self.cond:
            return list(self.subs.get(sid, []))

    def request(self, subject, payload, timeout=5):
        """Publish with a reply subject; return (headers, payload).  The
        replies come to one wildcard inbox subscription."""
        prefix = "_INBOX.ctsd%d" % os.getpid()
        if self.inbox_sid is None:
            self.inbox_sid = self.subscribe(prefix + ".*")
        self.requests += 1
        inbox = "%s.%d" % (prefix, self.requests)
        data = payload if isinstance(payload, bytes) else payload.encode()
        self._send(("PUB %s %s %d\r\n" % (subject, inbox, len(data))).encode()
                   + data + b"\r\n")

        def answer():
            for m in self.subs[self.inbox_sid]:
                if m[0] == inbox:
                    return m
            return None
        with self.cond:
            ok = self.cond.wait_for(lambda: answer() or self.closed, timeout)
            m = answer()
            self.subs[self.inbox_sid] = []
        check(ok and m, "no answer to a request on %s" % subject)
        return m[1], m[2]

    def js(self, api, body=None):
        """A JetStream API request ($JS.API.<api>); fails on an error."""
        _, data = self.request("$JS.API." + api,
                               json.dumps(body) if body is not None else "")
        r = json.loads(data)
        check("error" not in r, "$JS.API.%s: %s" % (api, r.get("error")))
        return r

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def create_stream(c, name, subjects, **extra):
    config = {"name": name, "subjects": subjects, "retention": "limits",
              "storage": "file", "discard": "old", "num_replicas": 1,
              "duplicate_window": 120 * 10**9}
    config.update(extra)
    return c.js("STREAM.CREATE." + name, config)


def read_stream(c, name):
    """Every message of the stream, in its order: dicts with subject,
    stream seq, headers (text) and data (bytes)."""
    state = c.js("STREAM.INFO." + name)["state"]
    out = []
    if state["messages"] == 0:
        return out
    for seq in range(state["first_seq"], state["last_seq"] + 1):
        m = c.js("STREAM.MSG.GET." + name, {"seq": seq})["message"]
        out.append({"subject": m["subject"], "seq": m["seq"],
                     "headers": base64.b64decode(m.get("hdrs", "")).decode(),
                     "data": base64.b64decode(m.get("data", ""))})
    check_eq(len(out), state["messages"], "messages read from " + name)
    return out


# ---------------------------------------------------------------------------
# The daemon

class Setup:
    """A namespace, a control socket path, and the daemon's NATS options."""

    def __init__(self, server, stream=None, extra=()):
        self.tmp = tempfile.mkdtemp(prefix="ctsd-natsd-")
        ctsd.add_cleanup(self.close)
        self.control = os.path.join(self.tmp, "control.sock")
        self.prefix = "ctsdt%d" % os.getpid()
        self.args = ["--control-socket", self.control,
                     "--nats-server", server.url, "--nats-prefix",
                     self.prefix, "--nats-host", HOST] + \
            (["--nats-stream", stream] if stream else []) + list(extra)

    def close(self):
        ctsd.remove_cleanup(self.close)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stats(self):
        """The daemon's stats (validated against the schema)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.control)
        s.sendall(b'{"cmd":"stats"}\n')
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        reply = json.loads(data)
        errors = list(ctsd.validator().iter_errors(reply))
        check(not errors, "stats reply against the schema: %s"
              % "; ".join(e.message for e in errors[:3]))
        check(reply.get("ok"), "stats failed: %r" % reply)
        return reply["result"]["daemon"]

    def nats(self):
        return self.stats()["nats"]

    def wait_nats(self, pred, what, timeout=20):
        deadline = time.monotonic() + ctsd.scaled(timeout)
        while True:
            st = self.nats()
            if pred(st):
                return st
            check(time.monotonic() < deadline,
                  "timed out waiting for %s; nats stats: %r" % (what, st))
            time.sleep(0.1)

    def subject(self, line):
        subj = "%s.%s.%s" % (self.prefix, HOST, line["type"])
        return subj + "." + line["event"] if "event" in line else subj


def quiet(d, setup, seconds=1.5, timeout=30):
    """Wait until no line has come for a while and nothing is pending for
    NATS; return the final stats."""
    deadline = time.monotonic() + ctsd.scaled(timeout)
    last, since = -1, time.monotonic()
    while True:
        n = len(d.events)
        st = setup.nats()
        if n != last or st["pending"] or st["in_flight"]:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= seconds and st["lines"] == n:
            return setup.stats()
        check(time.monotonic() < deadline,
              "the daemon did not go quiet in %ss: %r" % (timeout, st))
        time.sleep(0.1)


# Short timeouts, so that the flows of a case end within it.
SYSCTLS = {"net.netfilter.nf_conntrack_tcp_timeout_time_wait": 1,
           "net.netfilter.nf_conntrack_udp_timeout": 1,
           "net.netfilter.nf_conntrack_udp_timeout_stream": 1,
           "net.netfilter.nf_conntrack_icmp_timeout": 1}


def some_flows(ns, d, n=2):
    """n TCP connections and n UDP exchanges, each seen to its DESTROY."""
    sports = []
    for i in range(n):
        r = ns.call(ctsd.tcp_flow, "127.0.0.1", 5100 + i)
        check(r["echo_ok"], "tcp_flow: %r" % r)
        sports.append(("tcp", r["client"][1]))
        r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5200 + i)
        sports.append(("udp", r["client"][1]))
    for proto, sport in sports:
        d.wait_for(lambda evs: ctsd.first(evs, proto=proto, event="destroy",
                                          orig={"sport": sport}),
                   "DESTROY of %s sport %d" % (proto, sport), timeout=20,
                   poke=ns.evict_expired)


def check_same_lines(d, setup, msgs, what):
    """msgs ([(subject, headers, payload)]) are the daemon's lines, each
    once, in order, on the right subjects, byte for byte."""
    raw = [r[:-1] for r in d.raw]
    check_eq(len(msgs), len(raw), what + ": number of messages (lines %d)"
             % len(raw))
    for i, (line, ev, (subj, _, payload)) in enumerate(zip(raw, d.events,
                                                            msgs)):
        check_eq(payload, line, "%s: message %d, payload" % (what, i + 1))
        check_eq(subj, setup.subject(ev), "%s: message %d, subject"
                 % (what, i + 1))


# ---------------------------------------------------------------------------
# Cases

@case
def every_line_once_in_order():
    """JetStream: every line published once, acknowledged, in order, on
    PREFIX.HOST.TYPE.EVENT, byte for byte; a subscriber sees the same."""
    with NatsServer() as srv, ctsd.Netns(sysctls=SYSCTLS) as ns:
        c = NatsClient(srv.port)
        setup = Setup(srv, stream="CTSD%d" % os.getpid())
        create_stream(c, "CTSD%d" % os.getpid(), [setup.prefix + ".>"])
        sid = c.subscribe(setup.prefix + ".>")
        with ctsd.Daemon(ns, args=setup.args,
                         allow_stderr=NATS_STDERR) as d:
            setup.wait_nats(lambda st: st["connected"], "connected")
            some_flows(ns, d)
            stats = quiet(d, setup)
            st = stats["nats"]
            n = len(d.events)
            check_eq(stats["lines"], n, "daemon lines")
            check_eq((st["lines"], st["published"], st["acked"],
                      st["dropped"], st["failed"], st["retries"],
                      st["pending"], st["in_flight"], st["lost_reports"]),
                     (n, n, n, 0, 0, 0, 0, 0, 0),
                     "nats (lines, published, acked, dropped, failed, "
                     "retries, pending, in_flight, lost_reports)")
            check_eq((st["stream"], st["subject"], st["server"],
                      st["connected"], st["disconnects"]),
                     ("CTSD%d" % os.getpid(), setup.prefix + "." + HOST,
                      srv.url, True, 0), "nats (stream, subject, server, "
                     "connected, disconnects)")
            c.flush()
            check_same_lines(d, setup, c.messages(sid), "subscriber")
            stored = read_stream(c, "CTSD%d" % os.getpid())
            check_same_lines(d, setup, [(m["subject"], None, m["data"])
                                        for m in stored], "stream")
            ids = [re.search(r"Nats-Msg-Id: *(\S+)", m["headers"])
                   for m in stored]
            check(all(ids), "a stored message lacks Nats-Msg-Id")
            check_eq(len({i.group(1) for i in ids}), n, "distinct Msg-Ids")
        c.close()
        setup.close()


# A traffic source for the namespace: one UDP datagram from a new socket
# (so a new connection) every few milliseconds, printing each source port.
TRAFFIC = r"""
import socket, sys, time
i = 0
while True:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("127.0.0.1", 20000 + i % 20000))
    print(s.getsockname()[1], flush=True)
    s.close()
    i += 1
    time.sleep(0.004)
"""


class Traffic:
    """TRAFFIC running in the namespace, its ports collected."""

    def __init__(self, ns):
        self.proc = ns.popen([ctsd.PYTHON, "-c", TRAFFIC],
                             stdout=subprocess.PIPE, text=True)
        self.ports = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.ports.append(int(line))

    def stop(self):
        ctsd.stop_process(self.proc)
        self.thread.join(5)
        return list(self.ports)


def check_accounting(d, setup, stats, stored, what):
    """The stream holds each line at most once, byte for byte; exactly the
    lines the daemon counts as neither dropped nor failed; and the lost
    messages and the local "nats" lines account for the rest."""
    st = stats["nats"]
    n = len(d.events)
    raw = [r[:-1] for r in d.raw]
    lines = [m for m in stored if b'"type":"lost"' not in m["data"][:16]]
    lost = [json.loads(m["data"]) for m in stored
            if b'"type":"lost"' in m["data"][:16]]
    seqs = []
    for m in lines:
        ev = json.loads(m["data"])
        seqs.append(ev["seq"])
        check_eq(m["data"], raw[ev["seq"] - 1], "%s: stored seq %d"
                 % (what, ev["seq"]))
        check_eq(m["subject"], setup.subject(ev), "%s: subject of seq %d"
                 % (what, ev["seq"]))
    check_eq(len(seqs), len(set(seqs)), what + ": lines stored once")
    missing = sorted(set(range(1, n + 1)) - set(seqs))
    check_eq(stats["lines"], n, what + ": daemon lines")
    check_eq((st["lines"], st["pending"], st["in_flight"]), (n, 0, 0),
             what + ": nats (lines, pending, in_flight)")
    check_eq(len(missing), st["dropped"] + st["failed"],
             what + ": lines missing from the stream vs dropped + failed "
             "(missing: %r)" % missing[:20])
    check_eq(st["acked"], len(seqs), what + ": acked vs lines stored")
    check_eq(sum(m["count"] for m in lost), len(missing),
             what + ": counts of the lost messages vs lines missing")
    for s in missing:
        check(any(m["first_seq"] <= s <= m["last_seq"] for m in lost),
              "%s: missing seq %d is in no lost message %r" % (what, s, lost))
    return missing, lost


@case
def server_restart_during_traffic():
    """nats-server stops and comes back while traffic runs: standard output
    keeps every event, the daemon reconnects, and the lines missing from
    the stream are exactly those it reports (stats, lost messages, the
    local "nats" lines)."""
    with NatsServer() as srv, ctsd.Netns() as ns:
        c = NatsClient(srv.port)
        stream = "CTSD%dR" % os.getpid()
        setup = Setup(srv, stream=stream, extra=[
            "--nats-hiwat-msgs", "40", "--nats-lowat-msgs", "10",
            "--nats-ack-wait", "1000", "--nats-reconnect-max", "400"])
        create_stream(c, stream, [setup.prefix + ".>"])
        c.close()
        with ctsd.Daemon(ns, args=setup.args, allow_stderr=NATS_STDERR) as d:
            setup.wait_nats(lambda st: st["connected"], "connected")
            traffic = Traffic(ns)
            try:
                setup.wait_nats(lambda st: st["acked"] >= 50, "50 acks")
                srv.stop()
                down = len(d.events)
                time.sleep(2.5)
                st = setup.nats()
                check(not st["connected"] and st["disconnects"] == 1,
                      "server down: %r" % st)
                check(st["dropped"] > 0, "nothing dropped while the server "
                      "was down (%d lines meanwhile): %r"
                      % (len(d.events) - down, st))
                check(len(d.events) - down >= 100, "only %d lines on "
                      "standard output in 2.5 s while the server was down"
                      % (len(d.events) - down))
                srv.start()
                setup.wait_nats(lambda st: st["connected"] and
                                st["reconnects"] == 1, "reconnection")
                time.sleep(1.5)
            finally:
                ports = traffic.stop()
            stats = quiet(d, setup)
            # Every datagram's connection is on standard output.
            seen = {e["orig"]["sport"] for e in d.events
                    if e["type"] == "ct" and e["event"] == "new" and
                    e["proto"] == "udp" and
                    20000 <= e["orig"]["dport"] < 40000}
            check_eq(sorted(set(ports) - seen), [], "traffic source ports "
                     "without a NEW line on standard output (of %d)"
                     % len(ports))
            c = NatsClient(srv.port)
            stored = read_stream(c, stream)
            c.close()
            missing, lost = check_accounting(d, setup, stats, stored,
                                             "restart")
            st = stats["nats"]
            check(st["dropped"] > 0 and st["connected"], "final: %r" % st)
            notes = [e for e in d.events if e["type"] == "nats"]
            check_eq(sum(e["count"] for e in notes), len(missing),
                     "counts of the local nats lines vs lines missing")
            check_eq(sum(e["dropped"] + e["failed"] for e in notes),
                     len(missing), "dropped + failed of the nats lines")
            check_eq(st["lost_reports"], len(lost), "lost messages")
            print("# %d lines: %d acked, %d dropped, %d failed, %d retries, "
                  "%d lost messages, %d nats lines" % (
                      len(d.events), st["acked"], st["dropped"],
                      st["failed"], st["retries"], len(lost), len(notes)))
            for line in d.stderr:
                if "nats:" in line:
                    print("#   " + line)
        setup.close()


@case
def server_down_at_startup():
    """The daemon starts and serves while no server answers, and publishes
    what it kept once the server is there."""
    srv = NatsServer()
    try:
        with ctsd.Netns(sysctls=SYSCTLS) as ns:
            stream = "CTSD%dS" % os.getpid()
            setup = Setup(srv, stream=stream,
                          extra=["--nats-reconnect-max", "300"])
            t0 = time.monotonic()
            with ctsd.Daemon(ns, args=setup.args,
                             allow_stderr=NATS_STDERR) as d:
                check(time.monotonic() - t0 < 5, "startup took %.1fs"
                      % (time.monotonic() - t0))
                some_flows(ns, d, n=1)
                st = setup.nats()
                check(not st["connected"] and st["pending"] == len(d.events)
                      and st["published"] == 0, "before the server: %r" % st)
                srv.start()
                c = NatsClient(srv.port)
                create_stream(c, stream, [setup.prefix + ".>"])
                stats = quiet(d, setup)
                stored = read_stream(c, stream)
                c.close()
                check_accounting(d, setup, stats, stored, "late server")
                st = stats["nats"]
                check_eq((st["dropped"], st["failed"], st["acked"],
                          st["connects"]), (0, 0, len(d.events), 1),
                         "nats (dropped, failed, acked, connects)")
            setup.close()
    finally:
        srv.close()


@case
def refused_lines_are_failed():
    """A stream that refuses messages (full, discard new): the refused
    lines count as failed, are reported, and the reports stop."""
    with NatsServer() as srv, ctsd.Netns(sysctls=SYSCTLS) as ns:
        c = NatsClient(srv.port)
        stream = "CTSD%dF" % os.getpid()
        setup = Setup(srv, stream=stream)
        create_stream(c, stream, [setup.prefix + ".>"], max_msgs=5,
                      discard="new")
        with ctsd.Daemon(ns, args=setup.args, allow_stderr=NATS_STDERR) as d:
            setup.wait_nats(lambda st: st["connected"], "connected")
            some_flows(ns, d)
            stats = quiet(d, setup, seconds=2)
            st = stats["nats"]
            n = len(d.events)
            stored = read_stream(c, stream)
            check_eq([json.loads(m["data"])["seq"] for m in stored],
                     [1, 2, 3, 4, 5], "seqs stored")
            check_eq((st["acked"], st["failed"], st["dropped"]),
                     (5, n - 5, 0), "nats (acked, failed, dropped)")
            check("maximum messages" in (st["last_error"] or ""),
                  "last_error: %r" % st["last_error"])
            notes = [e for e in d.events if e["type"] == "nats"]
            check(notes, "no local nats line")
            for e in notes:
                check(6 <= e["first_seq"] <= e["last_seq"] < e["seq"] and
                      e["failed"] == e["count"] and e["dropped"] == 0,
                      "nats line %r" % e)
            check(any("lines not published" in l for l in d.stderr),
                  "no report in the log: %r" % d.stderr)
            print("# %d lines: %d acked, %d failed, %d nats lines" % (
                n, st["acked"], st["failed"], len(notes)))
        c.close()
        setup.close()


@case
def core_nats_without_stream():
    """Without --nats-stream: core NATS, published once each, no acks."""
    with NatsServer() as srv, ctsd.Netns(sysctls=SYSCTLS) as ns:
        c = NatsClient(srv.port)
        setup = Setup(srv)
        sid = c.subscribe(setup.prefix + ".>")
        with ctsd.Daemon(ns, args=setup.args, allow_stderr=NATS_STDERR) as d:
            setup.wait_nats(lambda st: st["connected"], "connected")
            some_flows(ns, d, n=1)
            stats = quiet(d, setup)
            st = stats["nats"]
            n = len(d.events)
            check_eq((st["stream"], st["published"], st["acked"],
                      st["dropped"], st["failed"]), (None, n, 0, 0, 0),
                     "nats (stream, published, acked, dropped, failed)")
            deadline = time.monotonic() + ctsd.scaled(5)
            while len(c.messages(sid)) < n and time.monotonic() < deadline:
                time.sleep(0.05)
            check_same_lines(d, setup, c.messages(sid), "subscriber")
        c.close()
        setup.close()


@case
def reload_applies_watermarks():
    """SIGHUP applies new NATS watermarks from the configuration file (no
    server here: lines wait, then are dropped past the new mark)."""
    srv = NatsServer()          # its port, never started
    try:
        with ctsd.Netns(sysctls=SYSCTLS) as ns:
            setup = Setup(srv, stream="CTSDH")
            conf = os.path.join(setup.tmp, "ctstreamd.conf")
            with open(conf, "w") as f:
                f.write("nats-hiwat-msgs = 1000\nnats-lowat-msgs = 10\n")
            with ctsd.Daemon(ns, args=setup.args + ["-f", conf],
                             allow_stderr=NATS_STDERR + [
                                 r"^ctstreamd: reloading the configuration",
                                 r"^ctstreamd: configuration reloaded$"]) as d:
                some_flows(ns, d, n=1)
                st = setup.nats()
                n = len(d.events)
                check_eq((st["pending"], st["dropped"]), (n, 0),
                         "before the reload (pending, dropped)")
                with open(conf, "w") as f:
                    f.write("nats-hiwat-msgs = %d\nnats-lowat-msgs = 1\n" % n)
                d.proc.send_signal(signal.SIGHUP)
                d.wait_for(lambda evs: any("configuration reloaded" in l
                                           for l in d.stderr),
                           "the reload", timeout=10)
                some_flows(ns, d, n=1)
                st = setup.nats()
                check_eq((st["pending"], st["dropped"], st["lines"]),
                         (n, len(d.events) - n, len(d.events)),
                         "after the reload (pending, dropped, lines)")
                check(not any("changed" in l for l in d.stderr),
                      "stderr: %r" % d.stderr)
            setup.close()
    finally:
        srv.close()


def readme_fleet_blocks():
    """The sh blocks of the README's "## Fleet" section."""
    with open(os.path.join(ctsd.srcdir(), "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Fleet\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    check(m is not None, "README.md has no '## Fleet' section")
    return re.findall(r"^```sh\n(.*?)^```", m.group(1), re.S | re.M)


def readme_block(blocks, word):
    found = [b for b in blocks if word in b]
    check(len(found) == 1, "README Fleet: %d sh blocks with %r"
          % (len(found), word))
    return found[0]


@case
def fleet_recipe():
    """The README's Fleet recipe, against a server of this test: create
    the stream with its socat request, run the daemon with its options,
    watch with its socat subscriber, read the counters with its command."""
    import shlex
    blocks = readme_fleet_blocks()
    with NatsServer() as srv, ctsd.Netns(sysctls=SYSCTLS) as ns:
        here = "127.0.0.1:%d" % srv.port

        def local(cmd):
            return cmd.replace("127.0.0.1:4222", here)
        p = ctsd.run(["bash", "-c", local(readme_block(blocks,
                                                       "STREAM.CREATE"))])
        check("stream_create_response" in p.stdout and '"error"' not in
              p.stdout, "creating the stream: %r" % p.stdout)
        argv = shlex.split(local(readme_block(blocks, "./src/ctstreamd")))
        check_eq(argv[0], "./src/ctstreamd", "the daemon command")
        setup = Setup(srv)
        watch = subprocess.Popen(
            ["bash", "-c", local(readme_block(blocks, "SUB ctstreamd.>"))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
            start_new_session=True)

        def stop_watch():
            ctsd.remove_cleanup(stop_watch)
            try:
                os.killpg(watch.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            watch.wait(5)
        ctsd.add_cleanup(stop_watch)
        got = []
        reader = threading.Thread(target=lambda: got.extend(watch.stdout),
                                  daemon=True)
        reader.start()
        try:
            with ctsd.Daemon(ns, args=argv[1:] + ["--control-socket",
                                                  setup.control],
                             allow_stderr=NATS_STDERR) as d:
                setup.wait_nats(lambda st: st["connected"], "connected")
                some_flows(ns, d, n=1)
                stats = quiet(d, setup)
                st = stats["nats"]
                n = len(d.events)
                check_eq((st["stream"], st["acked"], st["dropped"],
                          st["failed"]), ("CTSTREAMD", n, 0, 0),
                         "nats (stream, acked, dropped, failed)")
                check(st["subject"].startswith("ctstreamd.") and
                      "." not in st["subject"][len("ctstreamd."):],
                      "subject %r" % st["subject"])
                if shutil.which("jq"):
                    out = ctsd.run(["bash", "-c", readme_block(
                        blocks, '{"cmd":"stats"}').replace(
                        "/run/ctstreamd/control.sock", setup.control)]).stdout
                    check_eq(json.loads(out)["acked"], n, "acked, by jq")
                deadline = time.monotonic() + ctsd.scaled(5)
                while time.monotonic() < deadline and \
                        sum(l.startswith("MSG ") for l in got) < n:
                    time.sleep(0.05)
                msgs = [l.split()[1] for l in got if l.startswith("MSG ")]
                check_eq(msgs, [st["subject"] + "." + e["type"] + "." +
                                e["event"] for e in d.events],
                         "subjects the README's subscriber saw")
        finally:
            stop_watch()
            reader.join(5)
        c = NatsClient(srv.port)
        check_eq(len(read_stream(c, "CTSTREAMD")), n, "lines in the stream")
        c.close()
        setup.close()


if __name__ == "__main__":
    preflight()
    sys.exit(ctsd.main(CASES))
