#!/usr/bin/env python3
"""
test_hostile.py - hostile clients of ctstreamd's events and control
sockets.

The corpus, hostile/corpus.jsonl beside this file (its header says how to
extend it), holds malformed and truncated JSON, deep nesting, huge and odd
numbers, wrong types for every member, NUL bytes and invalid UTF-8,
duplicate keys, CR LF and blank lines, unknown commands and members, and
lines just under, at and over --max-line, with and without their newline.
Each case is sent on a connection of its own and must get exactly the
reply (or the clean close) that ctstreamd-protocol(7) documents, with the
id echoed when it could be read; a fresh connection must then still get
its ping answered.  Then every one-line case is sent again, repeated to
thousands of requests in one write, and the replies must come in order.

Besides the corpus: clients that send half a line and go silent (there is
no timeout: such a client holds its slot, and the documented bound is
--max-clients), clients that go away in the middle of a dump or a
snapshot (the daemon frees them: its descriptors come back to their
number), a client that goes on writing while its dump is paused, and
clients that end their input and then close.

Throughout, a subscriber of the events socket that reads everything, with
traffic flowing, must receive exactly the events conntrack -E sees in the
namespace.

Needs root; exits 77 otherwise.  Run one case: test_hostile.py NAME...
"""

import json
import os
import re
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq, daemon_bug              # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile",
                      "corpus.jsonl")
# Room for the 100,000 '[' of the deepest case.
MAX_LINE = 131072
SYSCTLS = {
    "net.netfilter.nf_conntrack_udp_timeout": 600,
    "net.netfilter.nf_conntrack_udp_timeout_stream": 600,
}
NOID = object()             # the reply must have no "id"
BATCH = 3000                # requests in the one write


# ---------------------------------------------------------------------------
# The corpus

def load_corpus(path=None):
    """The corpus entries, each with its line number ("line")."""
    path = path or CORPUS
    entries, names = [], set()
    with open(path, encoding="utf-8") as f:
        for n, text in enumerate(f, 1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                e = json.loads(text)
            except ValueError as err:
                ctsd.fail("%s:%d: %s" % (path, n, err))
            where = "%s:%d" % (path, n)
            check(isinstance(e.get("name"), str) and e["name"] not in names,
                  "%s: a unique name is needed" % where)
            names.add(e["name"])
            check(e.get("socket") in ("events", "control", "both"),
                  "%s: socket must be events, control or both" % where)
            check(sum(k in e for k in ("send", "bytes", "gen")) == 1,
                  "%s: one of send, bytes and gen is needed" % where)
            check("expect" in e, "%s: expect is needed" % where)
            e["line"] = n
            entries.append(e)
    return entries


def for_socket(entries, kind, bugs=False):
    """The entries for one socket: those without a bug, or those with."""
    return [e for e in entries if e["socket"] in (kind, "both") and
            bool(e.get("bug")) == bugs]


def _length(spec, max_line):
    if isinstance(spec, int):
        return spec
    m = re.match(r"^max([+-]\d+)?$", spec)
    check(m is not None, "bad length %r in the corpus" % spec)
    return max_line + int(m.group(1) or 0)


def generate(g, max_line):
    if "repeat" in g:
        head, unit, count, tail = g["repeat"]
        return (head + unit * count + tail).encode()
    if "nest" in g:
        n = g["nest"]
        return (n["head"] + n["open"] * n["count"] + n["core"] +
                n["close"] * n["count"] + n["tail"]).encode()
    if "pad" in g:
        n = _length(g["pad"], max_line)
        s = '{"cmd":"ping","id":"pad"'
        return (s + " " * (n - len(s) - 1) + "}").encode()
    if "garbage" in g:
        return b"x" * g["garbage"]
    ctsd.fail("unknown generator %r in the corpus" % (g,))


def payload(e, max_line):
    """The bytes a corpus entry sends."""
    if "send" in e:
        data = e["send"].encode("utf-8")
    elif "bytes" in e:
        data = e["bytes"].encode("latin-1")
    else:
        data = generate(e["gen"], max_line)
    data += e.get("send_suffix", "").encode()
    if e.get("newline", True):
        data += b"\n"
    return data


def expected(e):
    """[(outcome, id)]: outcome "ok" or an error code, id NOID for none."""
    exp = e["expect"]
    if exp == "none":
        return []
    if isinstance(exp, list):
        ids = e.get("id", [None] * len(exp))
        return [(o, NOID if i is None else i) for o, i in zip(exp, ids)]
    return [(exp, e["id"] if "id" in e else NOID)]


def same_json(a, b):
    """Equal as JSON values of the same kind (1, 1.0 and true differ)."""
    return type(a) is type(b) and a == b


def check_reply(r, outcome, rid, names, what):
    if outcome == "ok":
        check(r.get("ok") is True, "%s: expected ok, got %r" % (what, r))
    else:
        code = (r.get("error") or {}).get("code")
        check(r.get("ok") is False and code == outcome,
              "%s: expected error %s, got %r" % (what, outcome, r))
        if names:
            check(names in r["error"]["message"], "%s: the message %r does "
                  "not name %r" % (what, r["error"]["message"], names))
    if rid is NOID:
        check("id" not in r, "%s: the reply has an id: %r" % (what, r))
    else:
        check("id" in r and same_json(r["id"], rid),
              "%s: expected id %r, got %r" % (what, rid, r))


def ping_fresh(path, what):
    """The daemon still answers a new connection on path."""
    with ctsd.Client(path, name="alive") as c:
        r = c.request("ping", wait=5)
        check(r.get("ok") is True and r["result"].get("pong") is True,
              "%s: ping on a fresh connection: %r" % (what, r))


def run_entry(path, kind, e, max_line=MAX_LINE):
    """Send one corpus entry on a connection of its own and check what
    comes back; then check the daemon answers a fresh connection."""
    what = "%s socket, corpus line %d (%s)" % (kind, e["line"], e["name"])
    data = payload(e, max_line)
    want = expected(e)
    closes = any(o == "too_large" for o, _ in want)
    c = ctsd.Client(path, name=kind)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            # The daemon refused an overlong line before it was all sent.
            check(closes, what + ": the daemon closed while it was sent")
        if e.get("then") == "newline":
            time.sleep(0.3)
            check_eq(c.replies(), [], what + ": replies before the newline")
            c.send(b"\n")
        if closes:
            c.wait_eof()
            got = c.replies()
        elif e.get("shutdown"):
            c.shutdown_write()
            if kind == "control":
                c.wait_eof()
            else:
                if want:
                    c.wait_for(lambda ls: len([l for l in ls if l["type"] ==
                                               "reply"]) >= len(want),
                               "%d replies" % len(want))
                time.sleep(0.2)
                check(not c.eof, what + ": the events socket closed the "
                      "connection after the end of input")
            got = c.replies()
        else:
            c.send({"cmd": "ping", "id": "after"})
            c.reply_to("after")
            got = c.replies()[:-1]
        c.raise_errors()
        check_eq(len(got), len(want), what + ": replies (%s)"
                 % json.dumps(got)[:600])
        for r, (outcome, rid) in zip(got, want):
            check_reply(r, outcome, rid, e.get("names"), what)
    finally:
        c.close()
    ping_fresh(path, what)


def run_corpus(path, kind, entries):
    """Run entries; return the problems found (one text each)."""
    problems = []
    for e in entries:
        try:
            run_entry(path, kind, e)
        except (ctsd.TestFailure, OSError) as err:
            what = "%s socket, corpus line %d (%s)" % (kind, e["line"],
                                                     e["name"])
            problems.append(str(err) if what in str(err) else
                            "%s: %s" % (what, err))
    return problems


def batch_of(entries, n=BATCH, max_line=MAX_LINE):
    """The one-line entries, repeated to at least n lines: (bytes, the
    [(outcome, id)] expected in order)."""
    one = [e for e in entries if not e.get("then") and not e.get("shutdown")
           and e.get("newline", True) and "too_large" not in
           json.dumps(e["expect"]) and len(payload(e, max_line)) <= 4096]
    parts, want, lines = [], [], 0
    while lines < n:
        for e in one:
            data = payload(e, max_line)
            parts.append(data)
            want.extend(expected(e))
            lines += data.count(b"\n")
    return b"".join(parts), want


def run_batch(path, kind, entries):
    """Thousands of requests in one write: every reply, in order."""
    data, want = batch_of(entries)
    with ctsd.Client(path, name=kind + "-batch") as c:
        c.send(data)
        c.send({"cmd": "ping", "id": "batch-end"})
        c.reply_to("batch-end", timeout=60)
        got = c.replies()[:-1]
        c.raise_errors()
        for i, (r, (outcome, rid)) in enumerate(zip(got, want)):
            check_reply(r, outcome, rid, None, "%s socket, one write, reply "
                        "%d" % (kind, i + 1))
        check_eq(len(got), len(want), "%s socket, %d lines in one write: "
                 "replies" % (kind, data.count(b"\n")))
    return data.count(b"\n"), len(data)


def start(ns, args=(), allow=()):
    return ctsd.Daemon(ns, list(args), stdout=False, sockets=True,
                       allow_stderr=list(allow))


def corpus_on(kind):
    entries = for_socket(load_corpus(), kind)
    check(len(entries) >= 50, "only %d corpus cases for the %s socket"
          % (len(entries), kind))
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            start(ns, ["--max-line", str(MAX_LINE)]) as d, \
            ctsd.Client(d.events_path, name="fast") as fast:
        ctsd.wait_clients(d, events=1)
        gen = ns.spawn(ctsd.udp_trickle, 7100)
        gen.wait_report()
        path = d.events_path if kind == "events" else d.control_path
        t = time.monotonic()
        problems = run_corpus(path, kind, entries)
        t_corpus = time.monotonic() - t
        t = time.monotonic()
        lines = size = 0
        try:
            lines, size = run_batch(path, kind, entries)
        except ctsd.TestFailure as err:
            problems.append(str(err))
        t_batch = time.monotonic() - t
        flows = gen.finish()
        compared = ctsd.check_no_loss(ns, truth, fast)
        fast.raise_errors()
        check(not problems, "%d of %d corpus cases failed:\n%s" % (
            len(problems), len(entries), "\n".join(problems)))
        print("# %s socket: %d corpus cases in %.1fs; %d requests (%d "
              "bytes) in one write in %.1fs; the subscriber had all %d "
              "events of %d flows" % (kind, len(entries), t_corpus, lines,
                                      size, t_batch, compared, flows))


# ---------------------------------------------------------------------------

@case
def corpus_events_socket():
    """Every corpus case for the events socket gets its documented reply
    or close, the daemon answers a fresh ping after each, the one-line
    cases repeated to 3,000 requests in one write are answered in order,
    and a subscriber loses no event meanwhile."""
    corpus_on("events")


@case
def corpus_control_socket():
    """The same for the control socket (as root: the privileged commands
    get as far as their validation)."""
    corpus_on("control")


def bug_entries():
    entries = load_corpus()
    return [(k, e) for k in ("events", "control")
            for e in for_socket(entries, k, bugs=True)]


@case
@daemon_bug("\n".join("%s socket, %s: %s" % (k, e["name"], e["bug"])
                      for k, e in bug_entries()))
def corpus_daemon_bugs():
    """The corpus cases marked with a bug: each must get its documented
    reply (an error reply has an "error" with a code and a message)."""
    with ctsd.Netns() as ns, start(ns) as d:
        problems = []
        for kind, e in bug_entries():
            path = d.events_path if kind == "events" else d.control_path
            problems += run_corpus(path, kind, [e])
        check(not problems, "%d of %d failed:\n%s" % (
            len(problems), len(bug_entries()), "\n".join(problems)))


@case
def half_line_then_silence():
    """Clients that send half a request and go silent: the protocol has
    no timeout for them, so they hold their slots and --max-clients is
    the bound: with 6 slots, 2 taken by a subscriber and a control
    client and 4 by half lines, a new connection on either socket gets
    too_many_clients; the subscriber and the control client are served
    all along; a half line completed later is answered; a control client
    that ends its input after half a line is closed without an answer;
    once slots are free, new clients are accepted."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            start(ns, ["--max-clients", "6"]) as d, \
            ctsd.Client(d.events_path, name="fast") as fast, \
            ctsd.Client(d.control_path, name="control") as ctl:
        ctsd.wait_clients(d, events=1, controls=2)
        gen = ns.spawn(ctsd.udp_trickle, 7200)
        gen.wait_report()
        halves = []
        for i, path in enumerate((d.events_path, d.control_path) * 2):
            h = ctsd.Client(path, name="half-%d" % i)
            h.send(b'{"cmd":"ping","id":"half-%d"' % i)
            halves.append(h)
        ctsd.poll(lambda: ctl.ok("stats")["daemon"]["clients"] == 6,
                  "6 clients", timeout=5, interval=0.05)
        for path in (d.events_path, d.control_path):
            obj = ctsd.check_socket_line(ctsd.connect_refused_line(path))
            check_eq((obj["type"], obj["error"]["code"]),
                     ("error", "too_many_clients"),
                     "a new connection while half lines hold the slots")
        held = time.monotonic()
        ctsd.keep_pinging([ctl, fast], 2)
        for h in halves:
            check(not h.eof and h.replies() == [], "%s: closed or "
                  "answered without its newline" % h.name)
        print("# 4 half lines held their slots for %.1fs; nothing in the "
              "protocol ends them (no timeout)" % (time.monotonic() - held))
        st = ctl.ok("stats")["daemon"]
        check_eq((st["clients"], st["clients_refused"]), (6, 2),
                 "stats clients, clients_refused")
        # The rest of a line, long after its beginning.
        halves[0].send(b"}\n")
        check_eq(halves[0].reply_to("half-0")["ok"], True,
                 "the completed half line")
        # A control client ending its input after half a line: closed,
        # no answer ("bytes after the last newline ... get no answer").
        halves[1].shutdown_write()
        halves[1].wait_eof()
        check_eq(halves[1].replies(), [], "answers to half a line")
        for h in halves:
            h.close()
        ctsd.poll(lambda: ctl.ok("stats")["daemon"]["clients"] == 2,
                  "the half-line clients to be gone", timeout=5,
                  interval=0.05)
        ping_fresh(d.events_path, "after the half lines")
        ping_fresh(d.control_path, "after the half lines")
        gen.finish()
        ctsd.check_no_loss(ns, truth, fast)
        for c in [fast, ctl] + halves:
            c.raise_errors()


def read_lines(s, n):
    """Read from a raw socket until n newlines came (or the end)."""
    got = b""
    while got.count(b"\n") < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@case
def close_mid_reply():
    """Clients that go away in the middle of an answer (20 dumps of 5,000
    entries on the control socket, 20 snapshots on the events socket,
    closed after 0 to 200 lines, or in the middle of a line): the daemon
    frees them (its descriptor count comes back to its number before),
    the next dump and snapshot are complete, and a subscriber loses no
    event."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns(sysctls=SYSCTLS) as ns:
        load = os.path.join(tmp, "load")
        with open(load, "w") as f:
            for i in range(5000):
                f.write("-I -p udp -s 10.1.%d.%d -d 10.200.0.1 --sport 1000 "
                        "--dport 2000 -t 600\n" % (i // 250, i % 250 + 1))
        ns.conntrack("-R", load)
        with ctsd.ConntrackEvents(ns, extended=True) as truth, \
                start(ns) as d, \
                ctsd.Client(d.events_path, name="fast") as fast:
            ctsd.wait_clients(d, events=1)
            gen = ns.spawn(ctsd.udp_trickle, 7300)
            gen.wait_report()
            base = fd_count(d.pid)
            for i in range(20):
                for path, req in ((d.control_path, b'{"cmd":"dump"}\n'),
                                  (d.events_path, b'{"cmd":"subscribe",'
                                   b'"snapshot":true}\n')):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.settimeout(10)
                    s.connect(path)
                    s.sendall(req)
                    got = read_lines(s, i * 10)
                    if i % 2:
                        s.recv(100)             # a part of the next line
                    s.close()
                    check(got.count(b"\n") >= i * 10, "%s: %d lines before "
                          "the end" % (path, got.count(b"\n")))
            ctsd.poll(lambda: fd_count(d.pid) == base, "the daemon's "
                      "descriptors to come back to %d (now %d)"
                      % (base, fd_count(d.pid)), timeout=10, interval=0.1)
            before = int(ns.conntrack("-C").stdout)
            with ctsd.Client(d.control_path, name="control") as c:
                c.send({"cmd": "dump", "id": "full"})
                r = c.reply_to("full", timeout=30)
                lines = [l for l in c.lines if l.get("event") == "dump"]
                check(r["ok"] and r["result"]["count"] == len(lines),
                      "the dump after 20 left: %r" % r)
            with ctsd.Client(d.events_path, name="snap") as c:
                c.send({"cmd": "subscribe", "id": "s", "snapshot": True})
                sync = c.wait_line(lambda l: l["type"] == "sync", "the sync",
                                   timeout=30)
                snap = [l for l in c.lines if l.get("event") == "snapshot"]
                check_eq(sync["entries"], len(snap), "sync entries")
            after = int(ns.conntrack("-C").stdout)
            for n in (len(lines), len(snap)):
                check(before <= n <= after, "a full dump or snapshot has %d "
                      "entries; conntrack -C said %d before and %d after"
                      % (n, before, after))
            gen.finish()
            ctsd.check_no_loss(ns, truth, fast)
            fast.raise_errors()
            print("# 40 clients left mid-answer; descriptors back to %d; "
                  "full dump %d, snapshot %d entries" % (base, len(lines),
                                                         len(snap)))


@case
@daemon_bug("a client whose dump (control socket) or snapshot (events "
            "socket) is paused because it does not read can go on "
            "writing, and the daemon reads and buffers everything: "
            "hundreds of MB of '{\"cmd\":\"ping\"}' lines in a few "
            "seconds, all kept in memory (VmRSS grows by as much), without "
            "the --max-line check.  ctstreamd-protocol(7) says it reads "
            "no further request while one waits.  src/client.c: "
            "client_commands() returns at once while c->job is set, "
            "without client_pause_reading(), and client_read() goes on "
            "calling evbuffer_read() into c->in")
def writing_while_paused():
    """A client asks for a dump (and, on the events socket, a snapshot)
    of 5,000 entries, does not read it, and writes requests without
    end: the daemon must stop reading from it (at most a few MB get
    through, the socket buffers and --max-line), and its memory must not
    grow with what the client writes."""
    with ctsd.Netns() as ns:
        ctsd.load_entries(ns, 5000)
        with start(ns, ["--sub-hiwat", "64K", "--sub-lowat", "16K"]) as d:
            problems = []
            for path, req in ((d.control_path, b'{"cmd":"dump"}\n'),
                              (d.events_path, b'{"cmd":"subscribe",'
                               b'"snapshot":true}\n')):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                s.connect(path)
                s.sendall(req)
                time.sleep(0.5)                 # the answer pauses
                rss0 = ctsd.vmrss(d.pid)
                s.setblocking(False)
                chunk = b'{"cmd":"ping"}\n' * 4096
                sent, t0, idle = 0, time.monotonic(), None
                while time.monotonic() - t0 < 3 and sent < 64 << 20:
                    try:
                        sent += s.send(chunk)
                        idle = None
                    except BlockingIOError:
                        idle = idle or time.monotonic()
                        if time.monotonic() - idle > 0.5:
                            break               # the daemon stopped reading
                        time.sleep(0.01)
                time.sleep(0.3)
                grown = ctsd.vmrss(d.pid) - rss0
                s.close()
                ping_fresh(path, "after the writer")
                print("# %s: %d MiB written while the answer was paused; "
                      "VmRSS grew by %d MiB" % (os.path.basename(path),
                                                sent >> 20, grown >> 20))
                if sent > 4 << 20 or grown > 16 << 20:
                    problems.append("%s: the daemon took %d MiB while the "
                                    "answer was paused and grew by %d MiB"
                                    % (path, sent >> 20, grown >> 20))
            check(not problems, "; ".join(problems))


@case
@daemon_bug("an events socket client that ends its input (shutdown "
            "SHUT_WR, as the protocol allows: events keep coming) and "
            "then closes the connection is not freed until a line is "
            "written to it; with a filter that passes nothing (types "
            "expect, proto tcp here) it holds its descriptor, its memory "
            "and its --max-clients slot for as long as the daemon runs.  "
            "src/client.c client_read(): on end of input it stops "
            "watching the socket (event_del) after client_hung_up() found "
            "no hang-up yet, so the later close is never seen")
def shutdown_then_close_is_freed():
    """30 clients of the events socket each subscribe with a filter no
    line passes, end their input, read the reply and close; 10 more end
    their input without a request and close, with no traffic: the
    daemon frees them all (its descriptors and its client count come
    back)."""
    with ctsd.Netns() as ns, start(ns) as d:
        base = fd_count(d.pid)
        for i in range(40):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(d.events_path)
            if i < 30:
                s.sendall(json.dumps({"cmd": "subscribe", "id": i,
                                      "filter": {"types": "expect"} if i % 2
                                      else {"proto": "tcp"}}).encode() +
                          b"\n")
            s.shutdown(socket.SHUT_WR)
            if i < 30:
                check(b'"ok":true' in s.recv(4096), "subscribe %d" % i)
            time.sleep(0.05)            # the daemon reads the end of input
            s.close()
        deadline = time.monotonic() + 3
        while fd_count(d.pid) > base and time.monotonic() < deadline:
            time.sleep(0.1)
        st = ctsd.control_of(d, "stats")["result"]["daemon"]
        check(fd_count(d.pid) == base and st["clients"] == 1, "3 s after 40 "
              "clients closed, the daemon has %d descriptors (%d before) "
              "and %d clients (the one asking included)"
              % (fd_count(d.pid), base, st["clients"]))


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
