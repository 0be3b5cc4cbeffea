#!/usr/bin/env python3
"""
test_faults.py - ctstreamd when its environment fails.

What is not covered elsewhere (test_ops covers standard output's reader
going away, test_loss the daemon being stopped under a flood, test_netns
the deletion of one of several namespaces, test_cli the invalid
namespace names of the command line):

- descriptors run out (the daemon under prlimit --nofile): accept fails,
  the daemon logs it once, backs off, serves its clients all along, and
  accepts the waiting connections once a client goes away;
- namespace names refused at startup from the configuration file, and
  one too long to open;
- the daemon's only namespace deleted while subscribers are connected:
  they stay connected and get the "gone" line, its sockets are closed in
  the daemon and in the helper, and requests get the documented answers;
- the socket directory on a read-only or full file system (a mount
  namespace of the test's own), a path too long, a second socket that
  fails after the first was made: exit status 1, a message naming the
  path and the reason, no socket file left behind;
- standard output on a full device (/dev/full) and closed at startup.

Needs root; exits 77 otherwise.  Run one case: test_faults.py NAME...
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
from ctsd import check, check_eq, daemon_bug              # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


SYSCTLS = {
    "net.netfilter.nf_conntrack_udp_timeout": 600,
    "net.netfilter.nf_conntrack_udp_timeout_stream": 600,
}


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def run_daemon(args, prefix=(), timeout=15, **kw):
    """Run the daemon to its end: (status, stderr lines).  It must end by
    itself (these are startup failures)."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    try:
        p = subprocess.run(list(prefix) + [ctsd.daemon_path()] + list(args),
                           stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        ctsd.fail("ctstreamd %s still ran after %ss" % (" ".join(args),
                                                        timeout))
    return p.returncode, p.stderr.decode("utf-8", "replace").splitlines()


def last_error(err, what):
    """The last stderr line: the reason the daemon stopped."""
    check(err, what + ": nothing on stderr")
    line = err[-1]
    check(line.startswith("ctstreamd: ") and
          not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line),
          "%s: the last stderr line %r" % (what, line))
    return line


# ---------------------------------------------------------------------------
# Descriptors

ACCEPT_LOG = [r"^ctstreamd: \S+: accept: Too many open files$",
              r"^ctstreamd: \S+: out of file descriptors, pausing accept$"]
NOFILE = 48


def answered(c, rid, timeout):
    try:
        c.reply_to(rid, timeout)
        return True
    except ctsd.TestFailure:
        return False


@case
def nofile_exhausted():
    """The daemon under prlimit --nofile=48: once its descriptors are all
    used, a new connection stays in the listen queue (no answer); the
    daemon logs "out of file descriptors, pausing accept" once, however
    many times it retries and on both sockets; its clients are served
    all along, a subscriber loses no event; when a client goes away the
    waiting connections are accepted and answered; after a successful
    accept, running out again is logged again."""
    with ctsd.Netns(sysctls=SYSCTLS) as ns, \
            ctsd.ConntrackEvents(ns, extended=True) as truth, \
            ctsd.Daemon(ns, stdout=False, sockets=True,
                        allow_stderr=ACCEPT_LOG,
                        prefix=["prlimit", "--nofile=%d:%d" % (NOFILE,
                                                               NOFILE),
                                "--"]) as d, \
            ctsd.Client(d.events_path, name="fast") as fast, \
            ctsd.Client(d.control_path, name="control") as ctl:
        lim = open("/proc/%d/limits" % d.pid).read()
        check(re.search(r"Max open files\s+%d\s+%d" % (NOFILE, NOFILE), lim),
              "the daemon's descriptor limit: %s" % lim)
        ctsd.poll(lambda: ctl.ok("stats")["daemon"]["clients"] == 2,
                  "the two clients", timeout=5, interval=0.05)
        gen = ns.spawn(ctsd.udp_trickle, 7100)
        gen.wait_report()
        room = NOFILE - fd_count(d.pid)
        held = []
        for i in range(room):
            c = ctsd.Client(d.events_path, name="held-%d" % i)
            c.send({"cmd": "ping", "id": i})
            check(answered(c, i, 5), "client %d of %d free descriptors "
                  "was not answered" % (i + 1, room))
            held.append(c)
        check_eq(fd_count(d.pid), NOFILE, "the daemon's descriptors")
        waiting = []
        for path in (d.events_path, d.control_path, d.events_path):
            c = ctsd.Client(path, name="waiting")     # in the listen queue
            c.send({"cmd": "ping", "id": "w"})
            waiting.append(c)
        ctsd.keep_pinging([ctl, fast], 2.5)     # two back-offs at least
        for c in waiting:
            check_eq(c.replies(), [], "answers to a connection the daemon "
                     "could not accept")
        st = ctl.ok("stats")["daemon"]
        check_eq(st["clients"], 2 + room, "clients in stats")
        warns = [l for l in d.stderr if "pausing accept" in l]
        check_eq(len(warns), 1, "'pausing accept' warnings: %r" % warns)
        # Three clients go: the three waiting connections are taken (in
        # whatever order the listeners get the free descriptors).
        for _ in waiting:
            held.pop().close()
        for i, c in enumerate(waiting):
            check(answered(c, "w", 5), "waiting connection %d not answered "
                  "after three clients left" % (i + 1))
        # Run out again: it is logged again.
        extra = ctsd.Client(d.events_path, name="extra")
        extra.send({"cmd": "ping", "id": "x"})
        check(not answered(extra, "x", 1.5), "a connection past the "
              "limit was answered")
        d.wait_stderr("pausing accept", count=2)
        held.pop().close()
        check(answered(extra, "x", 5), "the connection waiting after the "
              "second exhaustion was not answered")
        gen.finish()
        ctsd.check_no_loss(ns, truth, fast)
        for c in held + waiting + [extra, fast, ctl]:
            c.raise_errors()
            c.close()
        print("# %d free descriptors under --nofile=%d; 3 connections "
              "waited %.1fs and were answered as clients left"
              % (room, NOFILE, 2.5))


# ---------------------------------------------------------------------------
# Namespace names

@case
def netns_names_in_config_file():
    """Invalid namespace names in the configuration file are refused as
    the command line's are (test_cli): -n exits 1 naming FILE:LINE and
    the name, and so does a start, before opening anything."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        for name in ("../../etc", "a/b", "..", "a b"):
            path = os.path.join(tmp, "bad.conf")
            with open(path, "w") as f:
                f.write("stdout = yes\nnetns = %s\n" % name)
            for args in (["-n", "-f", path],
                         ["-f", path, "--events-socket", "none",
                          "--control-socket", "none"]):
                rc, err = run_daemon(args)
                what = "netns = %s in %s (%s)" % (name, path, args[0])
                check_eq(rc, 1, what + ": exit status (stderr %r)" % err)
                line = last_error(err, what)
                check("%s:2:" % path in line and "'%s'" % name in line,
                      "%s: %r names neither the line nor the name"
                      % (what, line))
                check(not any("monitoring" in l for l in err),
                      "%s: a namespace was opened: %r" % (what, err))


@case
def netns_name_too_long():
    """A name that cannot be a file name (300 characters) passes the
    syntax of --netns but cannot be opened: exit status 1, one line that
    names --netns and says it cannot be opened."""
    name = "n" * 300
    rc, err = run_daemon(["--stdout", "--netns", name, "--events-socket",
                          "none", "--control-socket", "none"])
    check_eq(rc, 1, "exit status (stderr %r)" % err)
    check_eq(len(err), 1, "stderr lines")
    line = last_error(err, "--netns of 300 characters")
    check(line.startswith("ctstreamd: --netns: ") and "cannot open" in line,
          "the refusal %r" % line)


@case
@daemon_bug("an error about a namespace with a long name loses its reason: "
            "src/ctstreamd.c daemon_open_mon() formats \"cannot open PATH: "
            "REASON\" into char err[256], so a name of more than about 200 "
            "characters cuts the message before the reason: "
            "'ctstreamd: --netns: nnn...: cannot open /run/netns/nnn...' "
            "(300 characters: ENAMETOOLONG; 250: ENOENT), and the label is "
            "printed twice")
def netns_long_name_error_has_its_reason():
    """--netns with a name of 250 or 300 characters: the message says
    why it cannot be opened."""
    problems = []
    for n, reason in ((300, "File name too long"),
                      (250, "No such file or directory")):
        rc, err = run_daemon(["--stdout", "--netns", "n" * n,
                              "--events-socket", "none", "--control-socket",
                              "none"])
        if rc != 1 or not err or not err[-1].endswith(reason):
            problems.append("%d characters: status %d, %r" % (
                n, rc, err[-1][-120:] if err else err))
    check(not problems, "; ".join(problems))


@case
@daemon_bug("--netns with a control character or DEL is refused (exit 2) "
            "but the message prints the name raw: a newline in the name "
            "splits the log line in two and DEL goes to the journal as it "
            "is (src/opts.c, \"invalid namespace '%s'\")")
def netns_name_control_characters_not_echoed():
    """--netns 'a<newline>b' and 'a<DEL>b': exit status 2 and one
    printable line."""
    problems = []
    for name in ("a\nb", "a\x7fb", "a\x1b[31mb"):
        rc, err = run_daemon(["--stdout", "--netns", name])
        if rc != 2 or len(err) != 1 or \
                re.search(r"[\x00-\x08\x0b-\x1f\x7f]", err[0]):
            problems.append("%r: status %d, stderr %r" % (name, rc, err))
    check(not problems, "; ".join(problems))


# ---------------------------------------------------------------------------
# The namespace goes away

def helper_of(pid):
    kids = ctsd.poll(lambda: [k for k in ctsd.children(pid)
                              if ctsd.proc_status(k)["Name"] ==
                              "ctstreamd-nl"], "the helper", timeout=5,
                     interval=0.05)
    check_eq(len(kids), 1, "helper processes")
    return kids[0]


GONE_LOG = [r"^ctstreamd: \S+: the namespace is gone; its sockets are "
            r"closed$"]


@case
def only_namespace_deleted():
    """--netns NAME and NAME is deleted (ip netns del) while two
    subscribers (one with a filter) and a control client are connected:
    both subscribers get {"type":"netns","event":"gone"} and stay
    connected; the daemon and its helper close the namespace's five
    sockets; get, dump, stats and diagnose answer not_found ("no
    namespace is monitored at the moment"), ping, version and help
    answer; a snapshot is an empty one; new clients are served; SIGTERM
    then ends the daemon with status 0."""
    ns = ctsd.Netns(sysctls=SYSCTLS)
    with ns, ctsd.Daemon(ns, stdout=False, sockets=True,
                         allow_stderr=GONE_LOG) as d, \
            ctsd.Client(d.events_path, name="all") as sub, \
            ctsd.Client(d.events_path, name="tcp") as udp, \
            ctsd.Client(d.control_path, name="control") as ctl:
        check(udp.request("subscribe", filter={"proto": "tcp"})["ok"],
              "subscribe")
        r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5000)
        sub.wait_line(lambda l: l.get("event") == "update" and
                      l["orig"]["sport"] == r["client"][1], "the update")
        helper = helper_of(d.pid)
        before = (fd_count(d.pid), fd_count(helper))
        label = ns.name
        ns.close()
        for c in (sub, udp):
            gone = c.wait_line(lambda l: l["type"] == "netns", "the gone "
                               "line on " + c.name)
            check_eq((gone["event"], gone["netns"]), ("gone", label),
                     c.name + ": the netns line")
        ctsd.poll(lambda: (fd_count(d.pid), fd_count(helper)) ==
                  (before[0] - 5, before[1] - 5), "the daemon and the "
                  "helper to close 5 sockets each (%r before)" % (before,),
                  timeout=5, interval=0.05)
        for c in (sub, udp):
            check_eq(c.request("ping")["ok"], True, c.name + ": ping")
            check(not c.eof, c.name + ": disconnected")
        for cmd, members in (("get", {"ct_id": 1}), ("dump", {}),
                             ("stats", {}), ("diagnose", {})):
            e = ctl.error(cmd, "not_found", **members)
            check("no namespace is monitored" in e["message"],
                  "%s: %r" % (cmd, e))
        e = ctl.error("dump", "not_found", netns=label)
        for cmd in ("ping", "version", "help"):
            check_eq(ctl.request(cmd)["ok"], True, cmd)
        with ctsd.Client(d.events_path, name="snap") as c:
            c.send({"cmd": "subscribe", "id": "s", "snapshot": True})
            sync = c.wait_line(lambda l: l["type"] == "sync", "the sync")
            check_eq((sync["entries"], "error" in sync), (0, False),
                     "the snapshot with no namespace")
            c.raise_errors()
        for c in (sub, udp, ctl):
            c.raise_errors()


# ---------------------------------------------------------------------------
# The socket directory

def in_mount(opts, mnt):
    """A prefix that runs a command with a fresh tmpfs mounted on mnt in
    a mount namespace of its own (nothing changes outside it)."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh",
            "-c", 'mount -t tmpfs -o "$1" ctsd "$2" && shift 2 && '
            'exec "$@"', "sh", opts, mnt]


@case
def socket_directory_faults():
    """The socket path on a read-only file system, on a full one (no
    inode left), in a directory to be made there, 108 bytes long, and a
    control socket that fails after the events socket was made: each
    time exit status 1 once the namespace is open, a last line naming
    the path and the reason, and no socket file left behind."""
    with ctsd.Netns() as ns, \
            tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        ok = os.path.join(tmp, "ev.sock")
        long_path = os.path.join(tmp, "x" * (107 - len(tmp)))
        cases = [
            ("read-only", in_mount("ro", mnt), os.path.join(mnt, "e.sock"),
             "none", ["cannot bind", "Read-only file system"]),
            ("read-only, a directory to make", in_mount("ro", mnt),
             os.path.join(mnt, "run", "e.sock"), "none",
             ["cannot create the directory", "Read-only file system"]),
            ("full", in_mount("nr_inodes=1", mnt),
             os.path.join(mnt, "e.sock"), "none",
             ["cannot bind", "No space left on device"]),
            ("full, a directory to make", in_mount("nr_inodes=1", mnt),
             os.path.join(mnt, "run", "e.sock"), "none",
             ["cannot create the directory", "No space left on device"]),
            ("108 bytes", [], long_path, "none", ["path too long"]),
            ("control socket on a read-only file system",
             in_mount("ro", mnt), ok, os.path.join(mnt, "c.sock"),
             ["cannot bind", "Read-only file system"]),
        ]
        left = []
        for what, prefix, ev, ctl, words in cases:
            rc, err = run_daemon(["--netns", ns.name, "--events-socket", ev,
                                  "--control-socket", ctl], prefix=prefix)
            check_eq(rc, 1, what + ": exit status (stderr %r)" % err[-3:])
            check(any(l.startswith("ctstreamd: monitoring ") for l in err),
                  what + ": the namespace was not opened first")
            line = last_error(err, what)
            bad = ctl if ctl != "none" and "control" in what else ev
            for w in [bad] + words:
                check(w in line, "%s: %r does not say %r" % (what, line, w))
            check(not os.path.exists(bad), "%s: %s exists" % (what, bad))
            if os.path.exists(ok):          # socket_made_then_startup_fails
                left.append(ok)
                os.unlink(ok)
        if left:
            print("# left behind after a failed start (a daemon bug, see "
                  "socket_made_then_startup_fails): %s" % ", ".join(left))


@case
@daemon_bug("when the control socket cannot be set up at startup, the "
            "events socket file made just before is left behind (the next "
            "start removes it as stale): src/ctstreamd.c "
            "daemon_open_sockets() calls fatalx() without freeing the "
            "server, whose server_free() would unlink it")
def socket_made_then_startup_fails():
    """The events socket is made, then the control socket fails (a
    read-only file system): exit status 1 and neither socket file is
    left."""
    with ctsd.Netns() as ns, \
            tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        ev = os.path.join(tmp, "ev.sock")
        rc, err = run_daemon(["--netns", ns.name, "--events-socket", ev,
                              "--control-socket", os.path.join(mnt, "c")],
                             prefix=in_mount("ro", mnt))
        check_eq(rc, 1, "exit status")
        check(not os.path.exists(ev), "the events socket %s is left "
              "behind after: %s" % (ev, err[-1]))


@case
@daemon_bug("a socket path whose parent is a regular file is refused "
            "(exit 1) with 'events socket: PATH: cannot check old socket' "
            "and no reason (ENOTDIR): src/server.c server_listen() sets "
            "that message before server_check_stale(), which returns "
            "lstat()'s errno without a message of its own")
def socket_parent_is_a_file():
    """--events-socket FILE/ev.sock where FILE is a regular file: exit
    status 1, a message naming the path and the reason."""
    with ctsd.Netns() as ns, \
            tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        f = os.path.join(tmp, "file")
        open(f, "w").close()
        path = os.path.join(f, "ev.sock")
        rc, err = run_daemon(["--netns", ns.name, "--events-socket", path,
                              "--control-socket", "none"])
        check_eq(rc, 1, "exit status")
        line = last_error(err, "a parent that is a file")
        check(path in line and "Not a directory" in line,
              "the message %r does not give the reason" % line)


# ---------------------------------------------------------------------------
# Standard output

@case
def stdout_faults():
    """Standard output on /dev/full: without sockets the daemon exits 1
    at the first line, saying "standard output: No space left on
    device"; with an events socket it says so and goes on serving its
    subscriber (events, ping), and SIGTERM ends it with status 0.
    Standard output closed at startup (the descriptor, not the reader):
    exit 1 at the first line, naming standard output."""
    with ctsd.Netns() as ns, \
            tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        base = [ctsd.daemon_path(), "--stdout", "--netns", ns.name]
        for what, extra, kw in (
                ("/dev/full", [], {"stdout": open("/dev/full", "wb")}),
                ("stdout closed", [], {"stdout": subprocess.DEVNULL,
                                       "preexec_fn": lambda: os.close(1)})):
            p = subprocess.Popen(base + ["--events-socket", "none",
                                         "--control-socket", "none"],
                                 stdin=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, **kw)
            ctsd.add_cleanup(lambda p=p: ctsd.stop_process(p))
            try:
                deadline = time.monotonic() + 10
                while p.poll() is None and time.monotonic() < deadline:
                    ns.call(ctsd.udp_exchange, "127.0.0.1", 5000)
                    time.sleep(0.2)
                check(p.poll() is not None, what + ": still running")
                err = p.stderr.read().decode().splitlines()
                check_eq(p.returncode, 1, what + ": exit status (%r)"
                         % err[-2:])
                line = last_error(err, what)
                check(line.startswith("ctstreamd: standard output: "),
                      "%s: %r" % (what, line))
                if what == "/dev/full":
                    check(line.endswith("No space left on device"),
                          "%s: %r" % (what, line))
            finally:
                ctsd.stop_process(p)
        ev = os.path.join(tmp, "ev.sock")
        p = subprocess.Popen(base + ["--events-socket", ev,
                                     "--control-socket", "none"],
                             stdin=subprocess.DEVNULL,
                             stdout=open("/dev/full", "wb"),
                             stderr=subprocess.PIPE, text=True)
        ctsd.add_cleanup(lambda: ctsd.stop_process(p))
        try:
            ctsd.poll(lambda: os.path.exists(ev) or p.poll() is not None,
                      "the events socket", timeout=10, interval=0.05)
            with ctsd.Client(ev, name="sub") as sub:
                for port in (5001, 5002):
                    r = ns.call(ctsd.udp_exchange, "127.0.0.1", port)
                    sub.wait_line(lambda l: l.get("event") == "update" and
                                  l["orig"]["sport"] == r["client"][1],
                                  "an event with stdout full")
                check_eq(sub.request("ping")["ok"], True, "ping")
                check(p.poll() is None, "the daemon exited")
                sub.raise_errors()
            p.send_signal(signal.SIGTERM)
            check_eq(p.wait(10), 0, "exit status after SIGTERM")
            err = p.stderr.read()
            check("ctstreamd: standard output: No space left on device"
                  in err, "stderr: %r" % err[-300:])
        finally:
            ctsd.stop_process(p)


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES, tools=[("prlimit", "util-linux"),
                                     ("unshare", "util-linux")]))
