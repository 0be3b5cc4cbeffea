#!/usr/bin/env python3
"""
test_recipes.py - the README's "## Clients" recipes, run as written.

Every ```sh block of the Clients section of README.md is run exactly as
it stands there (bash -c TEXT, the text untouched) against a daemon of
this test, with traffic the test makes in a network namespace of its own,
and what the recipe prints is compared with what the daemon wrote on its
standard output (checked line by line by the harness) and with what the
test sent:

  following new connections  the tab-separated lines, one per new event
  looking up one connection  ctstreamctl get and the socat | jq line, for
                             an open connection and after it is gone
  top talkers                the table, from the destroy events' counters,
                             against the bytes the test moved per source
  NAT mapping log            translated tuples from the test's own nft
                             DNAT and SNAT rules; un-NATed flows absent
  journal                    every line in the journal under the recipe's
                             identifier and priority; the journalctl | jq
                             query's answer
  file with rotation         three forced rotations while traffic flows:
                             the files, oldest first, hold exactly the
                             daemon's lines, none lost, cut or doubled

The recipes use the default paths (/run/ctstreamd/*.sock, /var/log,
/etc/logrotate.d), so each case runs them in a sandbox: private mount and
pid namespaces (unshare) where /run, /var/log, /etc/logrotate.d and
/var/lib/logrotate are empty tmpfs mounts and the daemon's socket
directory is bind-mounted on /run/ctstreamd.  Nothing outside is touched,
and cases and test programs can run in parallel.  ctstreamctl is the one
of the build (its directory comes first in PATH).

The journal: no journald runs on a machine without systemd, so the
journal case starts the real systemd-journald inside the sandbox (volatile
storage, not reading kmsg; in a pid namespace the kernel refuses its
request to turn auditing on).  Where systemd-journald is not installed, or
does not come up, that case is skipped and says why.

Needs root (exit 77 otherwise), socat, jq, perl, logrotate (Debian:
logrotate), unshare and nsenter.  Run one case: test_recipes.py NAME...
"""

import gzip
import json
import os
import re
import shutil
import signal
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


TOOLS = [("socat", "socat"), ("jq", "jq"), ("perl", "perl"),
         ("unshare", "util-linux"), ("nsenter", "util-linux"),
         ("logrotate", "logrotate"), ("gzip", "gzip")]

# The subsections of "## Clients" and how many sh blocks each has; every
# block is run by the case named here.  A recipe added to the README
# without a case here fails readme_blocks.
SECTIONS = {
    "Following new connections": ("follow_new", 1),
    "Looking up one connection": ("lookup", 2),
    "Top talkers by bytes": ("top_talkers", 1),
    "NAT mapping log": ("nat_log", 1),
    "Forwarding into the journal": ("journal", 2),
    "Forwarding into a file, with rotation": ("file_rotation", 3),
    "Python": (None, 0),
    "ctstreamctl": (None, 0),
}


# ---------------------------------------------------------------------------
# The README

def clients_section():
    """{subsection title: [sh block text, ...]} of README.md's Clients
    section, in order; sh blocks before the first subsection fail."""
    with open(os.path.join(ctsd.srcdir(), "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Clients\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    check(m is not None, "README.md has no '## Clients' section")
    parts = re.split(r"^### (.+)\n", m.group(1), flags=re.M)
    check(not re.search(r"^```sh", parts[0], re.M),
          "README Clients: an sh block before the first subsection")
    out = {}
    for title, body in zip(parts[1::2], parts[2::2]):
        out[title.strip()] = re.findall(r"^```sh\n(.*?)^```\n", body,
                                        re.S | re.M)
    return out


def blocks(title, n):
    """The n sh blocks of one subsection."""
    got = clients_section().get(title)
    check(got is not None, "README Clients has no subsection %r" % title)
    check_eq(len(got), n, "sh blocks under %r" % title)
    return got


# ---------------------------------------------------------------------------
# The sandbox the recipes run in

JOURNALD_CONF = """[Journal]
Storage=volatile
ReadKMsg=no
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
"""

# Run by unshare as pid 1 of the new pid namespace: the mounts, then
# journald if asked, then wait for the test to close standard input; when
# pid 1 ends, the kernel kills everything left in the namespace.
SANDBOX_SETUP = r"""
set -e
sockdir=$1 tmp=$2 journald=$3
mount -t tmpfs -o mode=0755 ctsd-run /run
mkdir -p /run/ctstreamd /run/systemd/journal /run/log
mount --bind "$sockdir" /run/ctstreamd
mount -t tmpfs -o mode=0755 ctsd-log /var/log
if [ -d /etc/logrotate.d ]; then
	mount -t tmpfs -o mode=0755 ctsd-logrotate /etc/logrotate.d
fi
if [ -d /var/lib/logrotate ]; then
	mount -t tmpfs -o mode=0755 ctsd-logrotate-state /var/lib/logrotate
fi
if [ -n "$journald" ]; then
	mount --bind "$tmp/journald.conf" /etc/systemd/journald.conf
	SYSTEMD_LOG_TARGET=console "$journald" >"$tmp/journald.log" 2>&1 &
fi
echo ready
exec cat >/dev/null
"""


def journald_path():
    for p in ("/lib/systemd/systemd-journald",
              "/usr/lib/systemd/systemd-journald"):
        if os.access(p, os.X_OK):
            return p
    return None


def ctstreamctl_dir():
    path = os.environ.get("CTSTREAMCTL") or \
        os.path.join(ctsd.builddir(), "src", "ctstreamctl")
    check(os.access(path, os.X_OK), "ctstreamctl %s is missing (set "
          "CTSTREAMCTL)" % path)
    return os.path.dirname(os.path.abspath(path))


class Sandbox:
    """Private mount and pid namespaces for the recipes: /run/ctstreamd is
    the daemon's socket directory, /run, /var/log, /etc/logrotate.d and
    /var/lib/logrotate are empty, the rest is the machine's.  root is the
    sandbox's root as seen from here (/proc/PID/root)."""

    def __init__(self, d, journald=None):
        self.d = d
        self.journald = journald
        self.proc = None
        self.recipes = []

    def __enter__(self):
        ctsd.add_cleanup(self.close)
        self.tmp = tempfile.mkdtemp(prefix="ctsd-recipes-%d-" % os.getpid())
        self.workdir = os.path.join(self.tmp, "work")
        os.mkdir(self.workdir)
        with open(os.path.join(self.tmp, "journald.conf"), "w") as f:
            f.write(JOURNALD_CONF)
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "slave", "--pid",
             "--fork", "--mount-proc", "--kill-child", "sh", "-c",
             SANDBOX_SETUP, "sandbox", self.d.sockdir, self.tmp,
             self.journald or ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if line != b"ready\n":
            err = self.proc.stderr.read().decode("utf-8", "replace")
            self.close()
            ctsd.fail("the sandbox did not start: %r %s" % (line, err))
        kids = ctsd.children(self.proc.pid)
        check_eq(len(kids), 1, "children of unshare")
        self.pid = kids[0]
        self.root = "/proc/%d/root" % self.pid
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        ctsd.remove_cleanup(self.close)
        for r in self.recipes:
            r.kill()
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, p):
        """A path of the sandbox, as seen from here."""
        return self.root + p

    def env(self):
        env = dict(os.environ)
        env["PATH"] = ctstreamctl_dir() + ":" + env.get("PATH", "/usr/bin:/bin")
        return env

    def argv(self, argv):
        return ["nsenter", "--target", str(self.pid), "--mount", "--pid",
                "--wd=" + self.workdir, "--"] + list(argv)

    def start(self, text, name):
        """Start a recipe, exactly as written, in the background."""
        r = Recipe(self, text, name)
        self.recipes.append(r)
        return r

    def run(self, text, name, timeout=30):
        """Run a recipe, exactly as written, to its end: (status, stdout,
        stderr)."""
        r = self.start(text, name)
        return r.finish(timeout)

    def check_output(self, argv, timeout=30):
        """Run a command of the test (not a recipe) in the sandbox."""
        return ctsd.run(self.argv(argv), timeout=timeout).stdout


class Recipe:
    """One sh block of the README, run by bash -c as it stands, its
    output in files; a process group of its own, so that stop() is the
    Ctrl-C of a terminal."""

    def __init__(self, sb, text, name):
        self.name = name
        self.text = text
        self.out = os.path.join(sb.tmp, "%s-%d.out" % (name, len(sb.recipes)))
        self.err = self.out[:-4] + ".err"
        with open(self.out, "wb") as o, open(self.err, "wb") as e:
            self.proc = subprocess.Popen(
                sb.argv(["bash", "-c", text]), stdin=subprocess.DEVNULL,
                stdout=o, stderr=e, env=sb.env(), start_new_session=True,
                preexec_fn=lambda: os.umask(0o022))
        self.pgid = self.proc.pid

    def output(self):
        with open(self.out, "rb") as f:
            return f.read().decode("utf-8")

    def errors(self):
        with open(self.err, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def _group_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.proc.poll()        # a zombie leader keeps the group
            try:
                os.killpg(self.pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.02)
        return False

    def kill(self):
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def stop(self):
        """Ctrl-C: SIGINT to the whole pipeline; returns its output."""
        try:
            os.killpg(self.pgid, signal.SIGINT)
        except ProcessLookupError:
            pass
        if not self._group_gone(10):
            self.kill()
            ctsd.fail("%s: still running 10s after SIGINT" % self.name)
        self.proc.wait()
        return self.output()

    def finish(self, timeout=30):
        """Wait for the recipe to end by itself: (status, stdout, stderr)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            ctsd.fail("%s did not finish within %ss; it printed:\n%s%s"
                      % (self.name, timeout, self.output(), self.errors()))
        self._group_gone(5)
        return rc, self.output(), self.errors()

    def wait_output(self, pred, what, timeout=10):
        """Poll the output until pred(lines) holds; return the lines."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.output().splitlines()
            if pred(lines):
                return lines
            if self.proc.poll() is not None:
                ctsd.fail("%s exited %s while waiting for %s; it printed:\n"
                          "%s\nstderr: %s" % (self.name, self.proc.returncode,
                                              what, "\n".join(lines),
                                              self.errors()))
            if time.monotonic() > deadline:
                ctsd.fail("%s: timed out after %ss waiting for %s; it "
                          "printed:\n%s\nstderr: %s"
                          % (self.name, timeout, what, "\n".join(lines),
                             self.errors()))
            time.sleep(0.05)


def wait_subscriber(d, subscribed, n=1, timeout=10):
    """Wait until n clients of the events socket are connected (and, if
    subscribed, have been sent at least one line: the reply to their
    subscribe request, queued before any event of their new filter)."""
    deadline = time.monotonic() + timeout
    while True:
        subs = ctsd.wait_clients(d, events=n, timeout=timeout)
        ev = [s for s in subs if s.get("socket") == "events"]
        if not subscribed or sum(1 for s in ev if s["lines"] >= 1) >= n:
            return
        check(time.monotonic() < deadline, "no reply to the recipe's "
              "subscription after %ss: %r" % (timeout, ev))
        time.sleep(0.05)


def settle(d, quiet=0.5, timeout=10):
    """Wait until the daemon has written nothing new for `quiet` seconds;
    return its raw lines."""
    deadline = time.monotonic() + timeout
    n, since = len(d.raw), time.monotonic()
    while time.monotonic() - since < quiet:
        check(time.monotonic() < deadline, "the daemon did not fall quiet "
              "within %ss" % timeout)
        time.sleep(0.05)
        if len(d.raw) != n:
            n, since = len(d.raw), time.monotonic()
    return list(d.raw)


def show(recipe, text, most=12):
    """Put what a recipe printed in the test's log, as TAP comments."""
    lines = text.splitlines()
    for l in lines[:most]:
        print("# %s| %s" % (recipe, l))
    if len(lines) > most:
        print("# %s| ... (%d lines in all)" % (recipe, len(lines)))
    sys.stdout.flush()


def no_errors(recipe, text):
    check(text.strip() == "", "%s wrote on stderr: %s" % (recipe, text))


# ---------------------------------------------------------------------------
# Traffic, run inside the namespace (Netns.call and spawn)

def hold_tcp(src, sport, dst, dport):
    """A TCP connection src:sport -> dst:dport, open until told to stop."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((dst, dport))
    srv.listen(1)
    cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    cli.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    cli.bind((src, sport))
    cli.connect((dst, dport))
    conn, _ = srv.accept()
    cli.sendall(b"hello")
    ctsd._recv_upto(conn, 5)
    ctsd.report({"client": list(cli.getsockname())})
    ctsd.wait_for_stdin_eof()
    cli.close()
    conn.close()
    srv.close()
    return True


def talk(plan, port):
    """For each [src, up, down] of plan, one TCP connection from src to
    127.0.0.1:port: up bytes to the server, down bytes back, then a clean
    close.  Returns [src, sport, up, down] of each."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(8)
    out = []
    for src, up, down in plan:
        cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        cli.settimeout(10)
        cli.bind((src, 0))
        cli.connect(("127.0.0.1", port))
        conn, _ = srv.accept()
        conn.settimeout(10)
        cli.sendall(b"u" * up)
        check_eq(len(ctsd._recv_upto(conn, up)), up, "bytes up")
        conn.sendall(b"d" * down)
        check_eq(len(ctsd._recv_upto(cli, down)), down, "bytes down")
        cli.shutdown(socket.SHUT_WR)
        check_eq(conn.recv(1), b"", "the client's end")
        conn.close()
        check_eq(cli.recv(1), b"", "the server's end")
        out.append([src, cli.getsockname()[1], up, down])
        cli.close()
    srv.close()
    return out


def udp_stream(port):
    """UDP exchanges (ctsd.udp_exchange), each from a new port, until told
    to stop; returns how many."""
    ctsd.report({"started": True})
    n = 0
    while not ctsd.stop_requested():
        ctsd.udp_exchange("127.0.0.1", port)
        n += 1
        time.sleep(0.005)
    return n


# ---------------------------------------------------------------------------
# The cases

@case
def readme_blocks():
    """Every sh block of the Clients section belongs to a subsection this
    test knows, which has as many blocks as its case runs."""
    found = clients_section()
    unknown = [t for t in found if t not in SECTIONS]
    check(not unknown, "README Clients: subsections this test does not "
          "know (add a case that runs their recipes): %r" % unknown)
    missing = [t for t in SECTIONS if t not in found]
    check(not missing, "README Clients: subsections missing: %r" % missing)
    for title, (name, n) in SECTIONS.items():
        check_eq(len(found[title]), n, "sh blocks under %r (run by %s)"
                 % (title, name))
    for title, bs in found.items():
        for b in bs:
            check("/run/ctstreamd/" in b or "ctstreamctl" in b or
                  "logrotate" in b or "journalctl" in b,
                  "README Clients %r: a block that uses none of the "
                  "daemon's default paths: %r" % (title, b))


def tsv_line(ev):
    def s(v):
        return "" if v is None else str(v)
    o = ev["orig"]
    return "\t".join([ev["time"], ev["proto"], s(o.get("src")),
                      s(o.get("sport")), s(o.get("dst")), s(o.get("dport"))])


@case
def follow_new():
    """Following new connections: one tab-separated line per new conntrack
    event, as the daemon wrote it (TCP, UDP, ICMP), and nothing else."""
    (text,) = blocks("Following new connections", 1)
    with ctsd.Netns() as ns, ctsd.Daemon(ns, sockets=True) as d, \
            Sandbox(d) as sb:
        r = sb.start(text, "follow_new")
        wait_subscriber(d, subscribed=True)
        tcp = ns.call(ctsd.tcp_flow, "127.0.0.1", 8080)
        udp = ns.call(ctsd.udp_exchange, "127.0.0.1", 5353)
        check_eq(ns.call(ctsd.ping, "127.0.0.1", 4242), 0, "ping")
        news = d.wait_for(lambda evs: (lambda n: n if len(n) >= 3 else None)(
            [e for e in evs if e["type"] == "ct" and e["event"] == "new"]),
            "three new events")
        r.wait_output(lambda ls: len(ls) >= len(news),
                      "%d lines" % len(news))
        settle(d)
        news = [e for e in d.events if e["type"] == "ct" and
                e["event"] == "new"]
        check_eq(len(news), 3, "new events")
        out = r.stop()
        show("follow_new", out)
        lines = out.splitlines()
        check_eq(lines, [tsv_line(e) for e in news], "the recipe's lines")
        check(any(l.split("\t")[1:] == ["tcp", "127.0.0.1",
                                         str(tcp["client"][1]), "127.0.0.1",
                                         "8080"] for l in lines),
              "no line for the TCP connection: %r" % lines)
        check(any(l.split("\t")[1:] == ["udp", "127.0.0.1",
                                         str(udp["client"][1]), "127.0.0.1",
                                         "5353"] for l in lines),
              "no line for the UDP exchange: %r" % lines)
        check(any(l.split("\t")[1:] == ["icmp", "127.0.0.1", "",
                                         "127.0.0.1", ""] for l in lines),
              "no line for the ping: %r" % lines)
        no_errors("follow_new", r.errors())


@case
def lookup():
    """Looking up one connection: ctstreamctl get prints the entry the
    kernel has (its id, state, tuple), the socat | jq line its state;
    once the entry is gone, exit status 1 and not_found."""
    get_ctl, get_jq = blocks("Looking up one connection", 2)
    with ctsd.Netns(addrs=["192.0.2.1/24", "198.51.100.7/24"]) as ns, \
            ctsd.Daemon(ns, sockets=True) as d, Sandbox(d) as sb:
        hold = ns.spawn(hold_tcp, "192.0.2.1", 40000, "198.51.100.7", 443)
        check_eq(hold.wait_report()["client"], ["192.0.2.1", 40000],
                 "the connection's source")
        truth = [e for e in ctsd.conntrack_list(ns, "-p", "tcp")
                 if e["orig"].get("sport") == 40000]
        check_eq(len(truth), 1, "conntrack entries of the connection")
        t = truth[0]
        check_eq(t["state"], "ESTABLISHED", "the connection's state")
        rc, out, err = sb.run(get_ctl, "get_ctl")
        show("get_ctl", out + err)
        check_eq(rc, 0, "ctstreamctl get's exit status (stderr %r)" % err)
        lines = out.splitlines()
        check_eq(len(lines), 1, "ctstreamctl get's lines (%r)" % out)
        cols = lines[0].split()
        check_eq(cols[:6], ["get", "tcp", "192.0.2.1:40000", "->",
                            "198.51.100.7:443", "ESTABLISHED"],
                 "kind, protocol, tuple and state")
        check(str(t["id"]) in cols, "the kernel's id %d is not in %r"
              % (t["id"], lines[0]))
        rc, out, err = sb.run(get_jq, "get_jq")
        check_eq((rc, out, err), (0, "ESTABLISHED\n", ""),
                 "the socat | jq line (status, stdout, stderr)")
        hold.finish()
        ns.conntrack("-D", "-p", "tcp", "--orig-port-src", "40000")
        rc, out, err = sb.run(get_ctl, "get_ctl")
        check_eq((rc, out), (1, ""), "ctstreamctl get of a deleted entry")
        check("doesn't exist" in err, "ctstreamctl get's message: %r" % err)
        rc, out, err = sb.run(get_jq, "get_jq")
        check_eq((rc, out, err), (0, "not_found\n", ""),
                 "the socat | jq line for a deleted entry")


# Twelve sources, each with its own amount: the table shows ten.
TALKERS = [["127.0.0.%d" % (i + 2), up, down] for i, (up, down) in
           enumerate([(90000, 1000), (5000, 70000), (60000, 100),
                      (20000, 20000), (30000, 1), (1, 25000), (15000, 3000),
                      (9000, 9000), (7000, 100), (4000, 2000), (2000, 10),
                      (100, 100)])]
# Some sources make more than one connection.
TALKERS += [["127.0.0.9", 3000, 3000], ["127.0.0.13", 50000, 50],
            ["127.0.0.4", 10, 10]]


@case
def top_talkers():
    """Top talkers by bytes: the ten sources with the most bytes in both
    directions, summed over their connections' destroy events, in order,
    with their numbers of connections; the bytes are those the test sent
    and received, plus headers."""
    (text,) = blocks("Top talkers by bytes", 1)
    with ctsd.Netns() as ns, ctsd.Daemon(ns, args=["--enable-acct"],
                                         sockets=True) as d, \
            Sandbox(d) as sb:
        check_eq(ns.sysctl("net.netfilter.nf_conntrack_acct"), "1",
                 "nf_conntrack_acct with --enable-acct")
        t0 = time.monotonic()
        r = sb.start(text, "top_talkers")
        wait_subscriber(d, subscribed=True)
        flows = ns.call(talk, TALKERS, 9000, timeout=60)
        news = d.wait_for(lambda evs: (lambda n: n if len(n) >= len(TALKERS)
                                       else None)(
            [e for e in evs if e["type"] == "ct" and e["event"] == "new"]),
            "new events of the connections")
        ids = {e["id"] for e in news}
        check_eq(len(ids), len(TALKERS), "new events of the connections")
        ns.conntrack("-F")
        destroys = d.wait_for(lambda evs: (lambda x: x if len(x) >= len(ids)
                                           else None)(
            [e for e in evs if e["type"] == "ct" and e["event"] == "destroy"
             and e["id"] in ids]), "destroy events of every connection")
        left = 75 - (time.monotonic() - t0)
        rc, out, err = r.finish(timeout=max(left, 5))
        show("top_talkers", out)
        check_eq(rc, 0, "the recipe's exit status (jq's; stderr %r)" % err)
        no_errors("top_talkers", err)
        # What the daemon reported, summed per source.
        per = {}
        for e in destroys:
            src = e["orig"]["src"]
            b = e["orig"]["bytes"] + e["reply"]["bytes"]
            p = e["orig"]["packets"] + e["reply"]["packets"]
            c, tb, tp = per.get(src, (0, 0, 0))
            per[src] = (c + 1, tb + b, tp + p)
        want = sorted(per.items(), key=lambda kv: -kv[1][1])[:10]
        check_eq(out.splitlines(),
                 ["%d\t%d\t%s" % (b, c, src) for src, (c, b, _) in want],
                 "the top talkers table")
        # And what the test moved: the payload plus at most 100 bytes of
        # IP and TCP headers a packet.
        sent = {}
        for src, _, up, down in flows:
            c, pl = sent.get(src, (0, 0))
            sent[src] = (c + 1, pl + up + down)
        for src, (c, b, p) in per.items():
            check_eq(c, sent[src][0], "connections from %s" % src)
            check(sent[src][1] + 40 * p <= b <= sent[src][1] + 100 * p,
                  "%s: %d bytes in %d packets for %d bytes of payload"
                  % (src, b, p, sent[src][1]))
        top = [src for src, _ in sorted(sent.items(),
                                        key=lambda kv: -kv[1][1])[:10]]
        check_eq([l.split("\t")[2] for l in out.splitlines()], top,
                 "the sources by the payload the test sent")


NAT_RULES = ctsd.TRACK_ALL + """
table ip ctsd_recipes_nat {
	chain out {
		type nat hook output priority -100; policy accept;
		ip daddr 10.77.0.100 tcp dport 80 dnat to 10.77.0.1:8080
		ip daddr 10.77.0.100 udp dport 53 dnat to 10.77.0.1:5353
		ip daddr 10.77.0.101 icmp type echo-request dnat to 10.77.0.1
	}
	chain post {
		type nat hook postrouting priority 100; policy accept;
		ip daddr 10.77.0.1 tcp dport 8080 snat to 10.77.0.2
	}
}
"""


def nat_line(ev):
    def ep(t, a, p):
        return "%s:%s" % (t[a], t[p]) if p in t else t[a]
    o, r = ev["orig"], ev["reply"]
    return "%s %s %s -> %s as %s -> %s" % (
        ev["time"], ev["proto"], ep(o, "src", "sport"), ep(o, "dst", "dport"),
        ep(r, "dst", "dport"), ep(r, "src", "sport"))


@case
def nat_log():
    """NAT mapping log: the test's DNAT (TCP, UDP, ICMP) and SNAT (TCP)
    rules; one line for each translated connection, with the addresses
    and ports before and after; connections without NAT left out."""
    (text,) = blocks("NAT mapping log", 1)
    with ctsd.Netns(nft=NAT_RULES,
                    addrs=["10.77.0.1/24", "10.77.0.2/24"]) as ns, \
            ctsd.Daemon(ns, sockets=True) as d, Sandbox(d) as sb:
        r = sb.start(text, "nat_log")
        wait_subscriber(d, subscribed=True)
        plain = ns.call(ctsd.tcp_flow, "10.77.0.1", 9000)
        tcp = ns.call(ctsd.tcp_flow, "10.77.0.1", 8080, "10.77.0.100", 80)
        check(tcp["echo_ok"], "the DNAT'ed TCP flow: %r" % tcp)
        udp = ns.call(ctsd.udp_exchange, "10.77.0.1", 5353, [1], [1], None,
                      "10.77.0.100", 53)
        check_eq(ns.call(ctsd.ping, "10.77.0.101", 4343), 0, "ping")
        plain_udp = ns.call(ctsd.udp_exchange, "10.77.0.1", 5354)
        lines = r.wait_output(lambda ls: len(ls) >= 3, "three lines")
        settle(d)
        news = [e for e in d.events if e["type"] == "ct" and
                e["event"] == "new"]
        natted = [e for e in news if set(e.get("status", [])) &
                  {"SRC_NAT", "DST_NAT"}]
        check_eq(len(news), 5, "new events")
        check_eq(len(natted), 3, "new events with NAT")
        out = r.stop()
        show("nat_log", out)
        lines = out.splitlines()
        check_eq(lines, [nat_line(e) for e in natted], "the NAT log")
        no_errors("nat_log", r.errors())
        # The translations are those of the rules.
        sport = tcp["client"][1]
        check(any(l.endswith(" tcp 10.77.0.1:%d -> 10.77.0.100:80 as "
                             "10.77.0.2:%d -> 10.77.0.1:8080" % (
                                 sport, tcp["server_peer"][1]))
                  for l in lines), "the TCP line: %r" % lines)
        check_eq(tcp["server_peer"][0], "10.77.0.2", "the server's peer")
        check(any(l.endswith(" udp 10.77.0.1:%d -> 10.77.0.100:53 as "
                             "10.77.0.1:%d -> 10.77.0.1:5353" % (
                                 udp["client"][1], udp["client"][1]))
                  for l in lines), "the UDP line: %r" % lines)
        check(any(l.endswith(" icmp 10.77.0.1 -> 10.77.0.101 as "
                             "10.77.0.1 -> 10.77.0.1") for l in lines),
              "the ICMP line: %r" % lines)
        for p in (plain["client"][1], plain_udp["client"][1]):
            check(not any(":%d " % p in l for l in lines),
                  "a connection without NAT is in the log: %r" % lines)


@case
def journal():
    """Forwarding into the journal: every line of the stream is a journal
    entry with the recipe's identifier and priority, and the journalctl
    | jq query prints the connections to port 443."""
    forward, query = blocks("Forwarding into the journal", 2)
    jd = journald_path()
    if jd is None:
        raise ctsd.Skip("systemd-journald is not installed (Debian: "
                        "systemd): systemd-cat has no journal to reach")
    for tool in ("systemd-cat", "journalctl"):
        if shutil.which(tool) is None:
            raise ctsd.Skip("%s is not installed (Debian: systemd)" % tool)
    if not os.path.isfile("/etc/systemd/journald.conf"):
        raise ctsd.Skip("no /etc/systemd/journald.conf to replace in the "
                        "sandbox: journald would read kmsg and forward")
    with ctsd.Netns() as ns, ctsd.Daemon(ns, sockets=True) as d, \
            Sandbox(d, journald=jd) as sb:
        sock = sb.path("/run/systemd/journal/stdout")
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not os.path.exists(sock):
            try:
                with open(os.path.join(sb.tmp, "journald.log")) as f:
                    log = f.read().strip()
            except OSError:
                log = ""
            raise ctsd.Skip("systemd-journald did not come up in the "
                            "sandbox, so systemd-cat cannot reach a "
                            "journal: %s" % (log or "(it said nothing)"))
        r = sb.start(forward, "journal_forward")
        wait_subscriber(d, subscribed=False)
        for port in (443, 8080, 443):
            ns.call(ctsd.tcp_flow, "127.0.0.1", port)
        ns.call(ctsd.udp_exchange, "127.0.0.1", 443)
        d.wait_for(lambda evs: len(evs) >= 15, "the flows' events")
        raw = [l.decode().rstrip("\n") for l in settle(d)]

        def entries():
            out = sb.check_output(["journalctl", "-t", "ctstreamd-events",
                                   "-o", "json", "--no-pager"])
            return [json.loads(l) for l in out.splitlines() if l.strip()]
        ctsd.poll(lambda: len(entries()) >= len(raw),
                  "%d journal entries" % len(raw))
        ents = entries()
        check_eq([e["MESSAGE"] for e in ents], raw,
                 "the journal's messages (the daemon's lines)")
        check_eq({(e["SYSLOG_IDENTIFIER"], e["PRIORITY"]) for e in ents},
                 {("ctstreamd-events", "6")}, "identifier and priority")
        rc, out, err = sb.run(query, "journal_query")
        show("journal_query", out, most=3)
        check_eq(rc, 0, "the query's exit status (stderr %r)" % err)
        got = [json.loads(l) for l in out.splitlines()]
        want = [e for e in d.events if e["type"] == "ct" and
                e["orig"].get("dport") == 443]
        check(len(want) >= 6, "events to port 443: %d" % len(want))
        check_eq(got, want, "the query's lines")
        check(all(l == json.dumps(e, separators=(",", ":"),
                                  ensure_ascii=False)
                  for l, e in zip(out.splitlines(), want)),
              "the query's lines are not compact JSON")
        r.stop()
        no_errors("journal_forward", r.errors())


@case
def file_rotation():
    """Forwarding into a file, with rotation: the writer, the logrotate
    snippet, three forced rotations while traffic flows; the files, oldest
    first, hold the daemon's lines byte for byte."""
    writer, snippet, rotate = blocks("Forwarding into a file, with rotation",
                                     3)
    with ctsd.Netns() as ns, ctsd.Daemon(ns, sockets=True) as d, \
            Sandbox(d) as sb:
        logdir = sb.path("/var/log/ctstreamd")
        current = os.path.join(logdir, "events.jsonl")
        w = sb.start(writer, "file_writer")
        wait_subscriber(d, subscribed=False)
        rc, out, err = sb.run(snippet, "logrotate_snippet")
        check_eq((rc, out, err), (0, "", ""), "writing the snippet")
        conf = sb.path("/etc/logrotate.d/ctstreamd-events")
        check(os.path.isfile(conf), "no %s" % conf)
        gen = ns.spawn(udp_stream, 7000)
        gen.wait_report(lambda rep: rep.get("started"))
        listings = []
        for i in range(3):
            # Rotate while lines are being written, never an empty file.
            ctsd.poll(lambda: os.path.exists(current) and
                      os.path.getsize(current) > 2000,
                      "lines in events.jsonl before rotation %d" % (i + 1))
            rc, out, err = sb.run(rotate, "logrotate_force")
            check_eq((rc, err), (0, ""), "logrotate --force (stdout %r)"
                     % out)
            show("logrotate_force", out)
            listings.append(out.split())
        ctsd.poll(lambda: os.path.exists(current) and
                  os.path.getsize(current) > 0,
                  "lines in events.jsonl after the last rotation")
        n = gen.finish()
        check(n >= 50, "only %d UDP exchanges" % n)
        want = b"".join(settle(d))
        names = ["events.jsonl.3.gz", "events.jsonl.2.gz", "events.jsonl.1",
                 "events.jsonl"]

        def files():
            got = []
            for name in names:
                p = os.path.join(logdir, name)
                if not os.path.exists(p):
                    return None
                with (gzip.open if name.endswith(".gz") else open)(
                        p, "rb") as f:
                    got.append(f.read())
            return got
        ctsd.poll(lambda: (lambda f: f and len(b"".join(f)) >= len(want))(
            files()), "%d bytes in the files" % len(want))
        out = w.stop()
        no_errors("file_writer", w.errors())
        check_eq(out, "", "the writer's standard output")
        check_eq(sorted(os.listdir(logdir)), sorted(names), "the files")
        got = files()
        for name, data in zip(names, got):
            check(data and data.endswith(b"\n"), "%s is empty or ends "
                  "in a cut line" % name)
            for line in data.splitlines():
                json.loads(line)
        check(b"".join(got) == want, "the files, oldest first, differ from "
              "the daemon's %d lines (%d bytes, the files %d)"
              % (len(d.raw), len(want), len(b"".join(got))))
        for i, ls in enumerate(listings):
            check("events.jsonl.1" in ls and
                  set(ls) <= set(names), "ls after rotation %d: %r"
                  % (i + 1, ls))


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES, tools=TOOLS))
