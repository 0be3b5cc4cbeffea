#!/usr/bin/env python3
"""
test_ops.py - running ctstreamd: the configuration file, systemd
(sd_notify, socket activation), the privilege drop, SIGHUP, SIGTERM and
SIGPIPE.

The daemon runs as root in a namespace of the case's own, with its
sockets, its NOTIFY_SOCKET and its configuration files in a temporary
directory.

Needs root; exits 77 otherwise.  Run one case: test_ops.py NAME...
"""

import os
import re
import signal
import socket
import struct
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


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def check_config(path, *args):
    """ctstreamd -n -f path [args]: (status, stdout, stderr lines)."""
    p = subprocess.run([ctsd.daemon_path(), "-n", "-f", path] + list(args),
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=10)
    return p.returncode, p.stdout, p.stderr.splitlines()


def shipped_conf():
    return os.path.join(ctsd.srcdir(), "etc", "ctstreamd.conf")


# ---------------------------------------------------------------------------
# The configuration file

# (file contents, the line with the error, words its message must hold)
BAD_FILES = [
    ("unknown key", "stdout = yes\nno-such-key = 1\n", 2,
     ["unknown key", "no-such-key"]),
    ("bad size", "rcvbuf = 12X\n", 1, ["rcvbuf", "'12X'"]),
    ("size out of range", "rcvbuf = 1K\n", 1, ["rcvbuf", "'1K'", "range"]),
    ("number out of range", "max-clients = 0\n", 1,
     ["max-clients", "'0'", "range"]),
    ("not a number", "resync-delay = soon\n", 1, ["resync-delay", "'soon'"]),
    ("bad boolean", "# c\n\nstdout = maybe\n", 3, ["stdout", "'maybe'"]),
    ("relative path", "events-socket = run/x.sock\n", 1,
     ["events-socket", "'run/x.sock'"]),
    ("bad policy", "sub-policy = sometimes\n", 1,
     ["sub-policy", "'sometimes'"]),
    ("bad list", "events = new,foo\n", 1, ["events", "'foo'"]),
    ("bad types", "types = ct,bar\n", 1, ["types", "'bar'"]),
    ("bad mode", "socket-mode = 999\n", 1, ["socket-mode", "'999'"]),
    ("bad namespace", "netns = ../etc\n", 1, ["netns", "'../etc'"]),
    ("duplicate key", "rcvbuf = 1M\n; again\nrcvbuf = 2M\n", 3,
     ["duplicate key", "rcvbuf", "line 1"]),
    ("section", "stdout = yes\n[main]\ndebug = yes\n", 3, ["section",
                                                           "[main]"]),
    ("not key = value", "stdout = yes\njust some words\n", 2,
     ["expected 'key = value'"]),
    ("key without value", "rcvbuf\n", 1, ["expected 'key = value'"]),
    ("special option as a key", "config = /etc/x.conf\n", 1,
     ["unknown key", "config"]),
]


@case
def config_errors_name_file_and_line():
    """-n -f FILE with each kind of error in the file: exit status 1,
    nothing on stdout, and one "ctstreamd: FILE:LINE: message" line on
    stderr naming the key or the value."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        for what, text, line, words in BAD_FILES:
            path = write(os.path.join(tmp, "bad.conf"), text)
            rc, out, err = check_config(path)
            w = "%s (%r)" % (what, text)
            check_eq((rc, out), (1, ""), w + ": (status, stdout)")
            check_eq(len(err), 1, w + ": stderr lines %r" % err)
            prefix = "ctstreamd: %s:%d: " % (path, line)
            check(err[0].startswith(prefix), "%s: %r does not start with %r"
                  % (w, err[0], prefix))
            for word in words:
                check(word in err[0], "%s: %r does not name %r"
                      % (w, err[0], word))
        # Every error of a file, in line order, not only the first.
        path = write(os.path.join(tmp, "bad.conf"),
                     "bogus = 1\nrcvbuf = x\nstdout = yes\nsub-policy = y\n")
        rc, out, err = check_config(path)
        check_eq(rc, 1, "several errors: status")
        check_eq([re.match(r"ctstreamd: [^:]+:(\d+): ", l).group(1)
                  if re.match(r"ctstreamd: [^:]+:(\d+): ", l) else l
                  for l in err], ["1", "2", "4"],
                 "several errors: the lines named")
        # A file that cannot be read.
        missing = os.path.join(tmp, "missing.conf")
        rc, out, err = check_config(missing)
        check_eq(rc, 1, "missing file: status")
        check(len(err) == 1 and missing in err[0] and
              "No such file" in err[0], "missing file: %r" % err)


@case
def config_overlong_line_number():
    """A 300-character value on line 2 of 3: the error names line 2."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        path = write(os.path.join(tmp, "long.conf"),
                     "stdout = yes\nlabelmap = /%s\ndebug = no\n"
                     % ("x" * 300))
        rc, out, err = check_config(path)
        check_eq(rc, 1, "status")
        check(err and all(l.startswith("ctstreamd: %s:2: " % path)
                          for l in err),
              "messages do not (all) name line 2: %r" % err)


@case
def config_checked_values_name_file_and_line():
    """Values of the file checked after parsing must name FILE:LINE too
    (each file has exactly one error, on line 2)."""
    cases = [
        "kernel-proto = bogus", "kernel-src = 10.0.0.0/33",
        "kernel-dst = !", "user = no-such-user-ctsd",
        "socket-owner = no-such-user-ctsd",
        "admin-group = no-such-group-ctsd", "sub-lowat = 8M",
    ]
    bad = []
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        for line in cases:
            path = write(os.path.join(tmp, "c.conf"),
                         "stdout = yes\n%s\nsub-hiwat = 4M\n" % line)
            rc, out, err = check_config(path)
            if rc != 1 or len(err) != 1 or \
                    not err[0].startswith("ctstreamd: %s:2: " % path):
                bad.append("%r -> status %d, %r" % (line, rc, err))
    check(not bad, "messages without FILE:2:\n" + "\n".join(bad))


@case
def config_ok_and_shipped_file():
    """A good file: "configuration OK" on stdout, exit 0, nothing on
    stderr.  The shipped etc/ctstreamd.conf passes -n as it is, and with
    every commented key uncommented the only complaints are about users
    and groups this machine lacks."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        good = write(os.path.join(tmp, "good.conf"),
                     "# a comment\n; another\n\nstdout = yes\n  rcvbuf = 1M\n"
                     "events = new,destroy\ntypes=ct\nreliable = on\n"
                     "sub-policy = disconnect\nsocket-mode = 0600\n"
                     "kernel-src = !10.0.0.0/8,fd00::/8\ndebug = 1\n")
        check_eq(check_config(good), (0, "configuration OK\n", []),
                 "-n on a good file: (status, stdout, stderr)")
        check_eq(check_config(shipped_conf()), (0, "configuration OK\n", []),
                 "-n on the shipped etc/ctstreamd.conf")
        with open(shipped_conf()) as f:
            text = f.read()
        on = re.sub(r"(?m)^#\s*([a-z-]+\s*=)", r"\1", text)
        rc, out, err = check_config(write(os.path.join(tmp, "on.conf"), on))
        other = [l for l in err if not re.search(
            r"(user|socket-owner|admin-group): no (user|group) '", l)]
        check(not other, "the shipped file with its keys uncommented: %r"
              % err)


@case
def config_shipped_file_has_every_option():
    """Every option --help lists that the file can hold (it is not
    refused as an unknown key) has a commented "# key = ..." line in
    etc/ctstreamd.conf."""
    h = subprocess.run([ctsd.daemon_path(), "--help"], capture_output=True,
                       text=True, timeout=10).stdout
    opts = re.findall(r"(?m)^\s+(?:-\w, )?--([a-z][a-z-]*)", h)
    check(len(opts) > 20, "--help lists only %r" % opts)
    with open(shipped_conf()) as f:
        keys = set(re.findall(r"(?m)^#\s*([a-z-]+)\s*=", f.read()))
    missing = []
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        for o in opts:
            if o in keys:
                continue
            rc, out, err = check_config(write(os.path.join(tmp, "k.conf"),
                                              "%s = yes\n" % o))
            if not any("unknown key" in l for l in err):
                missing.append(o)
    check(not missing, "options without a commented key in %s: %r"
          % (shipped_conf(), missing))


@case
def command_line_wins_over_the_file():
    """The file says events = destroy, types = expect, rcvbuf = 64K,
    netns = <absent> and a control socket; the command line says
    --events new, --netns NS and --control-socket none: the daemon
    monitors NS with events new, types expect (from the file), a 128K
    buffer (64K, doubled by the kernel), and no control socket."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        ctl = os.path.join(tmp, "ctl.sock")
        conf = write(os.path.join(tmp, "c.conf"),
                     "events = destroy\ntypes = expect\nrcvbuf = 64K\n"
                     "netns = ctsd-%d-absent\ncontrol-socket = %s\n"
                     % (os.getpid(), ctl))
        with ctsd.Daemon(ns, ["-f", conf, "--events", "new"]) as d:
            mon = [l for l in d.stderr if "monitoring" in l]
            check_eq(mon, ["ctstreamd: monitoring %s: types expect, events "
                           "new, receive buffer 131072 bytes" % ns.name],
                     "the monitoring line")
            check(not os.path.exists(ctl), "the file's control socket "
                  "exists though --control-socket none was given")


# ---------------------------------------------------------------------------
# systemd

class NotifySocket:
    """A NOTIFY_SOCKET of the test's own: AF_UNIX datagrams, mode 0777,
    with the sender's credentials (SO_PASSCRED)."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.msgs = []          # (monotonic time, pid, {key: value}, text)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(
                    4096, socket.CMSG_SPACE(struct.calcsize("iII")))
            except OSError:
                return
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and \
                        kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            text = data.decode("utf-8", "replace")
            kv = dict(l.split("=", 1) for l in text.split("\n") if "=" in l)
            with self.cond:
                self.msgs.append((time.monotonic(), pid, kv, text))
                self.cond.notify_all()

    def wait(self, pred, what, timeout=10, start=0):
        """Wait for a message from index start on with pred(kv); return
        its index."""
        timeout = ctsd.scaled(timeout)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.msgs)):
                    if pred(self.msgs[i][2]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    ctsd.fail("no %s within %ss; got %r" % (
                        what, timeout, [m[3] for m in self.msgs[-10:]]))
                self.cond.wait(min(left, 0.2))

    def close(self):
        self.sock.close()


RELOAD_STDERR = [
    r"^ctstreamd: reloading the configuration from ",
    r"^ctstreamd: configuration reloaded$",
    r"^ctstreamd: reload: ",
    r"^ctstreamd: reload failed: keeping the running configuration$",
    r"^ctstreamd: signal 1 received",
]


@case
def sd_notify_ready_status_watchdog_reload_stop():
    """NOTIFY_SOCKET and WATCHDOG_USEC=400000 (no WATCHDOG_PID): READY=1
    with STATUS= before the log says ready, WATCHDOG=1 every 200 ms, a
    STATUS= refresh within 5 s that counts the 2 events since, RELOADING=1
    then READY=1 around SIGHUP, STOPPING=1 at SIGTERM; every message
    from the daemon's pid."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        os.chmod(tmp, 0o755)
        n = NotifySocket(tmp)
        conf = write(os.path.join(tmp, "c.conf"), "sub-hiwat = 4M\n")
        env = dict(os.environ, NOTIFY_SOCKET=n.path, WATCHDOG_USEC="400000")
        env.pop("WATCHDOG_PID", None)
        d = ctsd.Daemon(ns, ["-f", conf], env=env,
                        allow_stderr=RELOAD_STDERR)
        try:
            d.start()
            # The daemon sent it before logging "ready"; the reading
            # thread may not have taken it off the socket yet.
            n.wait(lambda kv: True, "a first notification", timeout=5)
            first = n.msgs[0]
            check(first[2].get("READY") == "1" and "STATUS" in first[2],
                  "first notification %r" % (first,))
            check(re.match(r"^\d+ events, \d+ clients, \d+ lost in \d+ "
                           r"overruns$", first[2]["STATUS"]),
                  "STATUS=%r" % first[2]["STATUS"])
            t0 = time.monotonic()
            i = n.wait(lambda kv: kv.get("WATCHDOG") == "1", "WATCHDOG=1")
            for _ in range(3):
                i = n.wait(lambda kv: kv.get("WATCHDOG") == "1",
                           "WATCHDOG=1", start=i + 1)
            took = time.monotonic() - t0
            check(took < 1.2, "4 WATCHDOG=1 took %.2fs (every 0.2s "
                  "expected)" % took)
            # Two events (new, update) since: the refresh counts them.
            ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            d.wait_match("update", event="update", orig={"dport": 5001})
            want = "2 events, 0 clients, 0 lost in 0 overruns"
            n.wait(lambda kv: kv == {"STATUS": want}, "STATUS=%s (the 5 s "
                   "refresh)" % want, timeout=11)
            mark = len(n.msgs)
            d.proc.send_signal(signal.SIGHUP)
            d.wait_stderr(r"^ctstreamd: configuration reloaded$")
            r = n.wait(lambda kv: kv.get("RELOADING") == "1", "RELOADING=1",
                       start=mark)
            n.wait(lambda kv: kv.get("READY") == "1", "READY=1 after "
                   "RELOADING=1", start=r + 1)
            mark = len(n.msgs)
            d.stop()
            n.wait(lambda kv: kv.get("STOPPING") == "1", "STOPPING=1",
                   start=mark, timeout=2)
            pids = {m[1] for m in n.msgs}
            check_eq(pids, {d.pid}, "sender pids of the notifications")
        finally:
            d._terminate()
            n.close()


@case
def sd_notify_watchdog_pid():
    """WATCHDOG_PID set to the daemon's own pid (by a shell that then
    execs it; the daemon runs --user nobody): WATCHDOG=1 comes; set to
    another pid: none comes."""
    wrap = ["sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"',
            "sh"]
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        os.chmod(tmp, 0o755)
        n = NotifySocket(tmp)
        env = dict(os.environ, NOTIFY_SOCKET=n.path, WATCHDOG_USEC="200000")
        try:
            # As nobody: the socket (mode 0777) must still be reachable.
            with ctsd.Daemon(ns, ["--user", "nobody"], env=env,
                             prefix=wrap) as d:
                n.wait(lambda kv: kv.get("WATCHDOG") == "1",
                       "WATCHDOG=1 with WATCHDOG_PID=$$", timeout=2)
            check_eq({m[1] for m in n.msgs}, {d.pid}, "sender pids")
            env["WATCHDOG_PID"] = "1"
            mark = len(n.msgs)
            with ctsd.Daemon(ns, env=env) as d:
                n.wait(lambda kv: kv.get("READY") == "1", "READY=1",
                       start=mark)
                time.sleep(0.6)
                dogs = [m for m in n.msgs[mark:] if "WATCHDOG" in m[2]]
                check(not dogs, "WATCHDOG=1 though WATCHDOG_PID names "
                      "another process: %r" % dogs)
        finally:
            n.close()


@case
def socket_activation():
    """systemd-socket-activate -l EV -l CTL --fdname=events:control
    ctstreamd ...: the daemon starts on the first connection, logs that
    it uses both sockets passed by systemd, events reach a subscriber on
    EV and CTL answers a get."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        argv = ["systemd-socket-activate", "-l", ev, "-l", ctl,
                "--fdname=events:control", ctsd.daemon_path(), "--netns",
                ns.name, "--events-socket", ev, "--control-socket", ctl]
        err = []
        p = ns.popen(argv, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                     text=True)
        t = threading.Thread(target=lambda: err.extend(p.stderr), daemon=True)
        t.start()
        try:
            ctsd.poll(lambda: os.path.exists(ev) and os.path.exists(ctl),
                      "the sockets of systemd-socket-activate")
            sub = ctsd.Subscriber(ev)
            ctsd.poll(lambda: any("ctstreamd: ready" in l for l in err),
                      "the daemon started by the first connection")
            for kind in ("events", "control"):
                check(any(l.rstrip() == "ctstreamd: using the %s socket "
                          "passed by systemd" % kind for l in err),
                      "no 'using the %s socket passed by systemd': %r"
                      % (kind, err))
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            orig = {"src": "127.0.0.1", "dst": "127.0.0.1",
                    "sport": r["client"][1], "dport": 5001}
            new = sub.wait_for(lambda evs: ctsd.first(evs, event="update",
                                                      orig=orig),
                               "the flow's update on the passed events "
                               "socket")
            res, _ = ctsd.control_ok(ctl, {"cmd": "get",
                                           "tuple": dict(orig, proto="udp")})
            check_eq((res["event"], res["id"], res["orig"]),
                     ("get", new["id"], orig), "get on the passed control "
                     "socket")
            sub.close()
        finally:
            rc = ctsd.stop_process(p)
            ns.procs.remove(p)
            t.join(5)
        check_eq(rc, 0, "exit status after SIGTERM (stderr %r)" % err)


# ---------------------------------------------------------------------------
# Privileges

def hexcaps(status, name):
    return int(status[name], 16)


@case
def privilege_drop_user_nobody():
    """--user nobody: the daemon has no capability at all (effective,
    permitted, inheritable, ambient, bounding), uid and gid nobody's,
    NoNewPrivs 1; its child "ctstreamd-nl" keeps CAP_NET_ADMIN only
    (CapEff 0000000000001000).  Events, get, stats and a delete by
    tuple and by ct_id (the client is root) all work."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        # A directory the daemon makes, nobody's: it removes its sockets.
        os.chmod(tmp, 0o755)
        run = os.path.join(tmp, "run")
        ev, ctl = os.path.join(run, "ev.sock"), os.path.join(run, "ctl.sock")
        # seq_gaps: gets take sequence numbers (see
        # seq_not_taken_by_other_clients).
        with ctsd.Daemon(ns, ["--user", "nobody", "--events-socket", ev,
                              "--control-socket", ctl], seq_gaps=True,
                         allow_stderr=[r"^ctstreamd: client \d+ \(uid 0, "
                                       r"pid %d\): delete \{" % os.getpid()]
                         ) as d:
            import pwd
            nobody = pwd.getpwnam("nobody")
            st = ctsd.proc_status(d.pid)
            for k in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"):
                check_eq(st[k], "0000000000000000", "daemon " + k)
            check_eq(st["Uid"].split(), [str(nobody.pw_uid)] * 4, "daemon Uid")
            check_eq(st["Gid"].split(), [str(nobody.pw_gid)] * 4, "daemon Gid")
            check_eq(st["NoNewPrivs"], "1", "daemon NoNewPrivs")
            kids = [c for c in ctsd.children(d.pid)
                    if ctsd.proc_status(c)["Name"] == "ctstreamd-nl"]
            check_eq(len(kids), 1, "children named ctstreamd-nl")
            hs = ctsd.proc_status(kids[0])
            check_eq((hs["CapEff"], hs["CapPrm"]),
                     ("0000000000001000",) * 2, "helper CapEff, CapPrm")
            check_eq((hs["CapInh"], hs["CapAmb"]), ("0000000000000000",) * 2,
                     "helper CapInh, CapAmb")
            check_eq(hs["CapBnd"], "0000000000001000", "helper CapBnd")
            check_eq(hs["NoNewPrivs"], "1", "helper NoNewPrivs")
            check(any("running as uid %d, gid %d, without capabilities "
                      "(netlink helper: pid %d)" % (nobody.pw_uid,
                                                    nobody.pw_gid, kids[0])
                      in l for l in d.stderr), "log: %r" % d.stderr)

            flows = []
            for port in (5001, 5002):
                r = ns.call(ctsd.udp_exchange, "127.0.0.1", port)
                orig = {"src": "127.0.0.1", "dst": "127.0.0.1",
                        "sport": r["client"][1], "dport": port}
                up = d.wait_match("update of the flow to %d" % port,
                                  event="update", orig=orig)
                flows.append((orig, up["id"]))
            res, _ = ctsd.control_ok(ctl, {"cmd": "get",
                                           "tuple": dict(flows[0][0],
                                                         proto="udp")})
            check_eq((res["event"], res["id"]), ("get", flows[0][1]),
                     "get as nobody")
            res, _ = ctsd.control_ok(ctl, {"cmd": "stats"})
            check(res["kernel"].get("entries", 0) >= 2 and
                  "error" not in res["kernel"], "stats: %r" % res["kernel"])
            res, _ = ctsd.control_ok(ctl, {"cmd": "delete",
                                           "tuple": dict(flows[0][0],
                                                         proto="udp")})
            check_eq(res, {"changed": 1}, "delete by tuple")
            res, _ = ctsd.control_ok(ctl, {"cmd": "delete",
                                           "ct_id": flows[1][1]})
            check_eq(res, {"changed": 1}, "delete by ct_id")
            for orig, i in flows:
                d.wait_match("destroy of %d" % i, event="destroy", id=i)
            logged = [l for l in d.stderr if "): delete {" in l]
            check_eq(len(logged), 2, "logged deletes (with uid and pid)")
            left = ctsd.conntrack_ids(ns)
            check(not left & {i for _, i in flows}, "conntrack -L still "
                  "lists deleted entries: %r" % left)


@case
def user_removes_its_socket_files():
    """--user nobody with sockets in a directory the daemon makes: the
    directory is nobody's, so the daemon, no longer root at exit, removes
    both socket files when it stops."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        os.chmod(tmp, 0o755)            # nobody must reach its directory
        run = os.path.join(tmp, "run")
        ev, ctl = os.path.join(run, "ev.sock"), os.path.join(run, "ctl.sock")
        with ctsd.Daemon(ns, ["--user", "nobody", "--events-socket", ev,
                              "--control-socket", ctl]):
            st = os.stat(run)
            check_eq((st.st_uid, st.st_gid), (nobody.pw_uid, nobody.pw_gid),
                     "owner and group of the directory the daemon made")
            check(os.path.exists(ev) and os.path.exists(ctl),
                  "the sockets exist")
        left = [p for p in (ev, ctl) if os.path.lexists(p)]
        check(not left, "socket files left after exit: %r" % left)


@case
def user_names_socket_files_it_cannot_remove():
    """--user nobody with sockets in a directory only root may write
    (as /run/ctstreamd is): the daemon cannot remove them at exit, and
    says so for each; the next start removes them as stale and runs."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        os.chmod(tmp, 0o755)
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        cannot = [r"^ctstreamd: cannot remove %s \(it is removed as stale "
                  r"at the next start\): Permission denied$" % re.escape(p)
                  for p in (ev, ctl)]
        with ctsd.Daemon(ns, ["--user", "nobody", "--events-socket", ev,
                              "--control-socket", ctl],
                         allow_stderr=cannot) as d:
            pass
        for p, pat in zip((ev, ctl), cannot):
            check(any(re.match(pat, l) for l in d.stderr),
                  "no warning naming %s: %r" % (p, d.stderr))
            check(os.path.lexists(p), "%s is gone after all" % p)
        with ctsd.Daemon(ns, ["--events-socket", ev, "--control-socket",
                              ctl], allow_stderr=[
                                  r"^ctstreamd: removing stale socket "]) as d:
            check_eq(sorted(l for l in d.stderr if "stale" in l),
                     sorted("ctstreamd: removing stale socket " + p
                            for p in (ev, ctl)), "stale sockets removed")
        left = [p for p in (ev, ctl) if os.path.lexists(p)]
        check(not left, "socket files left after a root daemon's exit: %r"
              % left)


# ---------------------------------------------------------------------------
# Signals

def tcp_then_udp(ns, port):
    """A TCP connection, then a UDP flow: returns the UDP flow's orig."""
    ns.call(ctsd.tcp_flow, "127.0.0.1", port)
    r = ns.call(ctsd.udp_exchange, "127.0.0.1", port)
    return {"src": "127.0.0.1", "dst": "127.0.0.1", "sport": r["client"][1],
            "dport": port}


def protos_after(evs, seq):
    return {e.get("proto") for e in evs if e.get("type") == "ct" and
            e["seq"] > seq}


@case
def sighup_reload():
    """SIGHUP with a subscriber connected, its file changed each time:
    kernel-proto = udp takes effect (TCP events stop, on the subscriber
    and on stdout, which stay connected); an invalid file is refused
    ("reload failed", the old filter stays, no stray log line); a
    changed events-socket is named as needing a restart (and the old
    socket keeps serving); removing kernel-proto brings TCP back."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        base = "events-socket = %s\ncontrol-socket = %s\n" % (ev, ctl)
        conf = write(os.path.join(tmp, "c.conf"), base)
        with ctsd.Daemon(ns, ["-f", conf], sockets_none=False,
                         allow_stderr=RELOAD_STDERR) as d:
            sub = ctsd.Subscriber(ev)

            def hup(text, outcome):
                write(conf, text)
                n = len([l for l in d.stderr if outcome in l])
                before = len(d.stderr)
                d.proc.send_signal(signal.SIGHUP)
                d.wait_stderr(re.escape(outcome), outcome, count=n + 1)
                time.sleep(0.1)
                return d.stderr[before:]

            def round_(port, what):
                seq = d.events[-1]["seq"] if d.events else 0
                o = tcp_then_udp(ns, port)
                sub.wait_for(lambda evs: ctsd.first(evs, event="update",
                                                    orig=o),
                             "UDP update " + what)
                d.wait_match("UDP update " + what, event="update", orig=o)
                return protos_after(sub.events, seq), \
                    protos_after(d.events, seq)

            check_eq(round_(5001, "before any reload"),
                     ({"tcp", "udp"},) * 2, "protocols before the reload")

            log = hup(base + "kernel-proto = udp\nsub-hiwat = 8M\n",
                      "configuration reloaded")
            check_eq(round_(5002, "with kernel-proto = udp"),
                     ({"udp"},) * 2, "protocols after kernel-proto = udp "
                     "(log %r)" % log)

            log = hup(base + "kernel-proto = bogus\n", "reload failed")
            odd = [l for l in log if not re.match(
                r"ctstreamd: (reloading the configuration from %s|reload: "
                r"%s:3: kernel-proto: unknown protocol 'bogus'|reload "
                r"failed: keeping the running configuration)$"
                % (re.escape(conf), re.escape(conf)), l)]
            check(not odd, "unexpected log lines on a refused reload: %r"
                  % odd)
            check(any(re.match(r"ctstreamd: reload: %s:3: kernel-proto: "
                               % re.escape(conf), l) for l in log),
                  "the refused kernel-proto is not told at its file:line: "
                  "%r" % log)
            check_eq(round_(5003, "after the refused reload"),
                     ({"udp"},) * 2, "protocols after the refused reload")

            log = hup(base + "kernel-proto = udp\nno-such-key = 1\n",
                      "reload failed")
            odd = [l for l in log if not re.match(
                r"ctstreamd: (reloading the configuration from %s|reload: "
                r"%s:4: unknown key 'no-such-key'|reload failed: keeping the "
                r"running configuration)$" % (re.escape(conf),
                                              re.escape(conf)), l)]
            check(not odd, "unexpected log lines on a refused reload: %r"
                  % odd)

            ev2 = os.path.join(tmp, "ev2.sock")
            log = hup("events-socket = %s\ncontrol-socket = %s\n"
                      "kernel-proto = udp\n" % (ev2, ctl),
                      "configuration reloaded")
            check(any(re.match(r"ctstreamd: reload: events-socket changed: "
                               r"it takes effect at the next restart$", l)
                      for l in log), "no restart notice for events-socket: "
                  "%r" % log)
            check(not os.path.exists(ev2), "the new events socket exists")
            with ctsd.Subscriber(ev) as again:
                check_eq(again.request({"cmd": "ping"})["ok"], True,
                         "ping on the old events socket")
            check_eq(round_(5004, "after the events-socket change"),
                     ({"udp"},) * 2, "protocols after the events-socket "
                     "change")

            hup(base, "configuration reloaded")
            check_eq(round_(5005, "without kernel-proto"),
                     ({"tcp", "udp"},) * 2, "protocols once kernel-proto "
                     "is gone")
            check(not sub.eof, "the subscriber was disconnected")
            sub.check_clean()
            sub.close()


@case
def seq_not_taken_by_other_clients():
    """stdout, unfiltered, must see seq count up by one while another
    client runs get, dump and subscribe with a snapshot."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        d = ctsd.Daemon(ns, ["--events-socket", ev, "--control-socket", ctl],
                        seq_gaps=True)
        with d:
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            orig = {"src": "127.0.0.1", "dst": "127.0.0.1", "proto": "udp",
                    "sport": r["client"][1], "dport": 5001}
            d.wait_match("update", event="update", orig={"dport": 5001})
            ctsd.control_ok(ctl, {"cmd": "get", "tuple": orig})
            ctsd.control_ok(ctl, {"cmd": "dump"})
            with ctsd.Subscriber(ev) as sub:
                sub.request({"cmd": "subscribe", "snapshot": True})
                sub.wait_for(lambda evs: ctsd.first(evs, type="sync"),
                             "sync")
            ns.call(ctsd.udp_exchange, "127.0.0.1", 5002)
            d.wait_match("update", event="update", orig={"dport": 5002})
        seqs = [e["seq"] for e in d.events]
        check_eq(seqs, list(range(1, len(seqs) + 1)), "seq of stdout's "
                 "lines (new, update, new, update)")


class RawDaemon:
    """The daemon with stdout a pipe the test controls (no checks of the
    lines: the harness's Daemon keeps its stdout open)."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        ctsd.add_cleanup(self.kill)
        self.err = []
        self.t = threading.Thread(target=lambda: self.err.extend(
            l.rstrip("\n") for l in self.proc.stderr), daemon=True)
        self.t.start()
        ctsd.poll(lambda: "ctstreamd: ready" in self.err or
                  self.proc.poll() is not None, "ready", interval=0.05)
        check("ctstreamd: ready" in self.err, "not ready: %r" % self.err)

    def kill(self):
        ctsd.remove_cleanup(self.kill)
        ctsd.stop_process(self.proc)
        self.t.join(5)


@case
def sigpipe_without_sockets_exits_quietly():
    """stdout a pipe whose reader goes away, no sockets: at its next
    write the daemon logs "standard output closed" and exits 0, with no
    warning; SIGPIPE does not kill it."""
    with ctsd.Netns() as ns:
        d = RawDaemon([ctsd.daemon_path(), "--stdout", "--netns", ns.name,
                       "--events-socket", "none", "--control-socket",
                       "none"])
        try:
            ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            line = d.proc.stdout.readline()
            check(line.startswith('{"type":"ct"'), "first line %r" % line)
            d.proc.stdout.close()
            ns.call(ctsd.udp_exchange, "127.0.0.1", 5002)
            try:
                rc = d.proc.wait(5)
            except subprocess.TimeoutExpired:
                ctsd.fail("the daemon still runs 5s after its reader left")
            d.t.join(5)
            check_eq(rc, 0, "exit status (a signal is negative)")
            check("ctstreamd: standard output closed" in d.err,
                  "no 'standard output closed': %r" % d.err)
            after = d.err[d.err.index("ctstreamd: ready") + 1:]
            loud = [l for l in after if not re.match(
                r"ctstreamd: (standard output closed|%s: \d+ entries known "
                r"at startup)$" % re.escape(ns.name), l)]
            check(not loud, "more than a quiet exit: %r" % loud)
        finally:
            d.kill()


@case
def sigpipe_with_sockets_keeps_serving():
    """stdout's reader goes away while sockets are open: the daemon goes
    on serving its subscriber and its control socket; SIGTERM then makes
    it exit 0."""
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp, \
            ctsd.Netns() as ns:
        ev, ctl = os.path.join(tmp, "ev.sock"), os.path.join(tmp, "ctl.sock")
        d = RawDaemon([ctsd.daemon_path(), "--stdout", "--netns", ns.name,
                       "--events-socket", ev, "--control-socket", ctl])
        try:
            sub = ctsd.Subscriber(ev)
            ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
            d.proc.stdout.readline()
            d.proc.stdout.close()
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5002)
            ctsd.poll(lambda: "ctstreamd: standard output closed" in d.err,
                      "'standard output closed' in the log")
            r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5003)
            orig = {"src": "127.0.0.1", "dst": "127.0.0.1",
                    "sport": r["client"][1], "dport": 5003}
            up = sub.wait_for(lambda evs: ctsd.first(evs, event="update",
                                                     orig=orig),
                              "events after stdout closed")
            check(d.proc.poll() is None, "the daemon exited")
            res, _ = ctsd.control_ok(ctl, {"cmd": "get",
                                           "tuple": dict(orig, proto="udp")})
            check_eq(res["id"], up["id"], "get after stdout closed")
            stats, _ = ctsd.control_ok(ctl, {"cmd": "stats"})
            check(not [s for s in stats["daemon"]["subscriber_list"]
                       if s.get("socket") == "stdout"],
                  "stdout is still a subscriber: %r"
                  % stats["daemon"]["subscriber_list"])
            sub.close()
            d.proc.send_signal(signal.SIGTERM)
            check_eq(d.proc.wait(10), 0, "exit status after SIGTERM")
        finally:
            d.kill()


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
