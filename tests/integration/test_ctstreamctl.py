#!/usr/bin/env python3
"""
test_ctstreamctl.py - ctstreamctl against the real daemon and kernel.

Runs as root (exit 77 otherwise).  It creates a network namespace of its
own (ctsctl-PID), turns connection tracking on there with an nftables
rule, starts ctstreamd on sockets in a temporary directory, makes TCP and
UDP traffic inside the namespace and checks what ctstreamctl prints
against the traffic and against conntrack(8) run in the same namespace.
The namespace is deleted at the end, also on failure or interruption;
nothing outside it is changed.

Then, with the harness of the other integration tests (ctsd.py, which
needs jsonschema and deletes its namespaces whatever happens), a daemon
monitoring two namespaces of this test: --netns with every command, the
namespace column, resync lines, overrun and namespace lines; one with
--netns-all for the "netns new" line; a fake events socket for the lines
no daemon here writes at will; and stats with a NATS output when
nats-server is installed.

Environment: CTSTREAMD (default ./src/ctstreamd), CTSTREAMCTL (default
./src/ctstreamctl).  Every check runs even when an earlier one failed;
the exit status is 1 if any failed.
"""

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402

SKIP = 77
CTSTREAMD = os.environ.get("CTSTREAMD", "./src/ctstreamd")
CTSTREAMCTL = os.environ.get("CTSTREAMCTL", "./src/ctstreamctl")
NS = "ctsctl-%d" % os.getpid()

TRACK = ("table inet t {\n chain c { type filter hook output priority 0; "
         "ct state new counter; }\n}\n")
# An FTP helper on port 2121, for expectations (optional).
FTP_HELPER = ("table inet h {\n ct helper ftp-std { type \"ftp\" protocol "
              "tcp; }\n chain c { type filter hook output priority 0; "
              "tcp dport 2121 ct helper set \"ftp-std\"; }\n}\n")

# The traffic maker, run inside the namespace: one command per line on
# stdin, one JSON answer per line on stdout.  Connections stay open.
TRAFFIC = r'''
import json, socket, sys, time
keep = []
listeners = {}
def out(v):
    sys.stdout.write(json.dumps(v) + "\n"); sys.stdout.flush()
for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] in ("udp", "udp6"):
        fam, host = ((socket.AF_INET, "127.0.0.1") if w[0] == "udp"
                     else (socket.AF_INET6, "::1"))
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.sendto(b"x", (host, int(w[1])))
        keep.append(s)
        out({"sport": s.getsockname()[1]})
    elif w[0] == "tcp":
        port = int(w[1])
        if port not in listeners:
            l = socket.socket()
            l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            l.bind(("127.0.0.1", port)); l.listen(16)
            listeners[port] = l
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = listeners[port].accept()
        c.sendall(b"ping"); a.recv(4); a.sendall(b"pong"); c.recv(4)
        keep += [c, a]
        out({"sport": c.getsockname()[1]})
    elif w[0] == "ftp":
        port = int(w[1])
        l = socket.socket()
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.bind(("127.0.0.1", port)); l.listen(1)
        c = socket.create_connection(("127.0.0.1", port))
        a, _ = l.accept()
        a.sendall(b"220 ready\r\n"); c.recv(100)
        c.sendall(b"PASV\r\n"); a.recv(100)
        a.sendall(b"227 Entering Passive Mode (127,0,0,1,39,16).\r\n")
        c.recv(100)
        keep += [l, c, a]
        out({"sport": c.getsockname()[1], "data_port": 10000})
'''

failures = []
checks = 0


def note(msg):
    print(msg, flush=True)


def check(cond, what, detail=""):
    """Record one check; never raises."""
    global checks
    checks += 1
    if cond:
        note("ok   %s" % what)
    else:
        failures.append(what)
        note("FAIL %s%s" % (what, ("\n     " + detail.replace(
            "\n", "\n     ")) if detail else ""))
    return cond


def run(argv, timeout=20, input=None, **kw):
    """Run a command to its end; one that hangs is killed with its whole
    process group, and its exit status is None."""
    timeout = ctsd.scaled(timeout)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None
                         else subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         start_new_session=True, **kw)
    try:
        out, err = p.communicate(input, timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        err += "\n(timed out after %s s, killed)" % timeout
        rc = None
    return subprocess.CompletedProcess(argv, rc, out, err)


def nsrun(argv, **kw):
    return run(["ip", "netns", "exec", NS] + argv, **kw)


class Ctl:
    """ctstreamctl with this test's sockets."""

    def __init__(self, binary, d):
        self.binary = binary
        self.args = ["-E", os.path.join(d, "ev.sock"),
                     "-C", os.path.join(d, "ctl.sock")]

    def argv(self, *a):
        return [self.binary] + self.args + list(a)

    def __call__(self, *a, **kw):
        return run(self.argv(*a), **kw)

    def popen(self, *a):
        return subprocess.Popen(self.argv(*a), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


class Reader:
    """Collect a process's output lines on a thread."""

    def __init__(self, f):
        self.lines = []
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, args=(f,), daemon=True)
        self.t.start()

    def _run(self, f):
        for line in f:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self):
        with self.lock:
            return list(self.lines)

    def wait_for(self, pred, timeout=10):
        end = time.monotonic() + ctsd.scaled(timeout)
        while time.monotonic() < end:
            for line in self.snapshot():
                if pred(line):
                    return line
            time.sleep(0.05)
        return None


def cols(line):
    return line.split()


def dashes(text):
    """The lines of a summary (stats, diagnose) that show '-', the mark
    of a value the reply does not have."""
    return [l for l in text.splitlines()
            if "-" in [w.strip(",;:()") for w in l.split()]]


def conntrack_entry(line):
    """Parse a line of conntrack -L/-G -o id into a dict."""
    e = {"proto": line.split()[0], "flags": re.findall(r"\[(\w+)\]", line)}
    words = line.split()
    if len(words) > 3 and words[3].isupper() and "=" not in words[3]:
        e["state"] = words[3]
    for k in ("mark", "id", "use"):
        m = re.search(r"\b%s=(\d+)" % k, line)
        if m:
            e[k] = int(m.group(1))
    m = re.findall(r"sport=(\d+) dport=(\d+)", line)
    if m:
        e["sport"], e["dport"] = int(m[0][0]), int(m[0][1])
    return e


def one_namespace():
    """The daemon monitoring one namespace: every command, watch, usage
    errors.  Returns 1 if it could not be set up, else None."""
    tmp = tempfile.mkdtemp(prefix="ctsctl-")
    os.chmod(tmp, 0o755)
    procs = []
    ns_made = False

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        r = run(["ip", "netns", "add", NS])
        if r.returncode != 0:
            note("FAIL cannot create namespace %s: %s" % (NS, r.stderr))
            return 1
        ns_made = True
        run(["ip", "-n", NS, "link", "set", "lo", "up"])
        r = nsrun(["nft", "-f", "-"], input=TRACK)
        if r.returncode != 0:
            note("FAIL nft: %s" % r.stderr)
            return 1
        have_ftp = nsrun(["nft", "-f", "-"], input=FTP_HELPER).returncode == 0

        # A copy that the user nobody can run, whatever the build
        # directory's permissions.
        ctlbin = os.path.join(tmp, "ctstreamctl")
        shutil.copy(CTSTREAMCTL, ctlbin)
        os.chmod(ctlbin, 0o755)
        ctl = Ctl(ctlbin, tmp)

        # -f /dev/null: no configuration file of the host applies.
        d = subprocess.Popen(
            [CTSTREAMD, "-f", "/dev/null", "--netns", NS,
             "--events-socket", os.path.join(tmp, "ev.sock"),
             "--control-socket", os.path.join(tmp, "ctl.sock"),
             "--socket-mode", "0666"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True)
        procs.append(d)
        dreader = Reader(d.stderr)
        ready = dreader.wait_for(lambda l: re.search(r"\bready\b", l),
                                 timeout=15)
        if not check(ready is not None and d.poll() is None,
                     "daemon started and said ready",
                     "\n".join(dreader.snapshot())):
            return 1

        # --- read-only commands that need no kernel ---------------------
        r = ctl("ping")
        check(r.returncode == 0 and r.stdout.startswith("pong from "),
              "ping", r.stdout + r.stderr)
        r = ctl("version")
        check(r.returncode == 0 and re.search(
            r"^ctstreamd \S+, schema 1$", r.stdout, re.M),
            "version prints the daemon's version and schema", r.stdout)
        r = ctl("-j", "version")
        check(r.returncode == 0 and json.loads(r.stdout)["schema"] == 1,
              "version --json prints the result", r.stdout)
        r = ctl("diagnose")
        check(r.returncode == 0 and re.search(r"^netns\s+%s$" % NS,
                                              r.stdout, re.M),
              "diagnose names the namespace", r.stdout + r.stderr)

        # --- the kernel answers the daemon's requests at all ------------
        r = ctl("dump")
        kernel_ok = check(
            r.returncode == 0,
            "dump works (the daemon can query the kernel)",
            "exit %d: %s" % (r.returncode, r.stderr.strip()) + (
                "\n(daemon problem: requests to the kernel are refused "
                "with EPERM once ctstreamd has dropped its capabilities)"
                if "EPERM" in r.stderr else ""))

        # --- watchers, then traffic -------------------------------------
        hw = ctl.popen("watch", "-p", "tcp,udp")
        jw = ctl.popen("-j", "watch")
        # An absent mark counts as 0: events of unmarked connections.
        mw = ctl.popen("watch", "-m", "0", "-e", "new")
        procs += [hw, jw, mw]
        hout, herr = Reader(hw.stdout), Reader(hw.stderr)
        jout = Reader(jw.stdout)
        mout = Reader(mw.stdout)

        traffic = subprocess.Popen(
            ["ip", "netns", "exec", NS, sys.executable, "-c", TRAFFIC],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(traffic)

        def make(cmd):
            traffic.stdin.write(cmd + "\n")
            traffic.stdin.flush()
            return json.loads(traffic.stdout.readline())

        # Send marker datagrams until both watchers print one: then
        # both are subscribed.
        end = time.monotonic() + ctsd.scaled(10)
        subscribed = False
        while time.monotonic() < end and not subscribed:
            make("udp 9")
            time.sleep(0.1)
            subscribed = (
                any(" -> 127.0.0.1:9 " in l for l in hout.snapshot()) and
                any('"dport":9}' in l for l in jout.snapshot()) and
                any(" -> 127.0.0.1:9 " in l for l in mout.snapshot()))
        check(subscribed, "both watchers receive events")

        tcp = make("tcp 8080")["sport"]
        udp = make("udp 5353")["sport"]
        udp6 = make("udp6 5354")["sport"]

        # --- watch: the columns -----------------------------------------
        def find(pred):
            return hout.wait_for(lambda l: pred(cols(l)), timeout=5)

        src = "127.0.0.1:%d" % tcp
        new = find(lambda c: c[:2] == ["new", "tcp"] and c[2] == src)
        c = cols(new or "")
        check(new is not None and c[3:8] == ["->", "127.0.0.1:8080",
                                             "SYN_SENT", "CONFIRMED", "-"]
              and c[8].isdigit() and "timeout=120" in c[9:],
              "watch: TCP new line has the right columns", new or
              "\n".join(hout.snapshot()))
        tcp_id = c[8] if new else None
        est = find(lambda c: c[:3] == ["update", "tcp", src] and
                   c[5] == "ESTABLISHED")
        c = cols(est or "")
        check(est is not None and c[4] == "127.0.0.1:8080" and
              set(c[6].split(",")) == {"SEEN_REPLY", "ASSURED",
                                       "CONFIRMED"} and c[8] == tcp_id,
              "watch: TCP update to ESTABLISHED, ASSURED, same id",
              est or "\n".join(hout.snapshot()))
        u = find(lambda c: c[:3] == ["new", "udp", "127.0.0.1:%d" % udp])
        c = cols(u or "")
        check(u is not None and c[3:8] == ["->", "127.0.0.1:5353", "-",
                                           "CONFIRMED", "-"]
              and c[8].isdigit() and "timeout=30" in c[9:],
              "watch: UDP new line has the right columns",
              u or "\n".join(hout.snapshot()))
        u6 = find(lambda c: c[:3] == ["new", "udp", "[::1]:%d" % udp6])
        check(u6 is not None and cols(u6)[4] == "[::1]:5354",
              "watch: IPv6 endpoints are written [ADDRESS]:PORT",
              u6 or "\n".join(hout.snapshot()))
        m0 = mout.wait_for(lambda l: cols(l)[:3] == [
            "new", "udp", "127.0.0.1:%d" % udp], timeout=5)
        check(m0 is not None and cols(m0)[7] == "-",
              "watch -m 0: new events of unmarked connections (no mark "
              "in the line) match", "\n".join(mout.snapshot()))

        # --- watch --json -----------------------------------------------
        jout.wait_for(lambda l: '"dport":5354' in l, timeout=5)
        bad, objs = [], []
        for l in jout.snapshot():
            try:
                o = json.loads(l)
                if not isinstance(o, dict) or "type" not in o:
                    bad.append(l)
                objs.append(o)
            except ValueError:
                bad.append(l)
        check(objs and not bad, "watch --json: every line is a JSON "
              "object with a type (%d lines)" % len(objs), "\n".join(bad))
        jnew = [o for o in objs if o.get("event") == "new" and
                o.get("orig", {}).get("sport") == tcp and
                o.get("orig", {}).get("dport") == 8080]
        check(len(jnew) == 1 and str(jnew[0].get("id")) == tcp_id and
              jnew[0].get("state") == "SYN_SENT",
              "watch --json: the TCP new event agrees with the columns",
              json.dumps(jnew))
        check(not [o for o in objs if o.get("type") == "reply"],
              "watch --json: the subscribe reply is not printed")

        # --- get ----------------------------------------------------------
        r = ctl("get", "tcp", src, "127.0.0.1:8080")
        g = cols(r.stdout)
        ct = nsrun(["conntrack", "-G", "-p", "tcp", "-s", "127.0.0.1",
                    "-d", "127.0.0.1", "--sport", str(tcp), "--dport",
                    "8080", "-o", "id"])
        e = conntrack_entry(ct.stdout)
        check(r.returncode == 0 and ct.returncode == 0 and
              g[:5] == ["get", "tcp", src, "->", "127.0.0.1:8080"] and
              g[5] == e.get("state") and
              ("ASSURED" in g[6].split(",")) == ("ASSURED" in e["flags"]) and
              g[7] == str(e.get("mark")) and g[8] == str(e.get("id")) and
              g[8] == tcp_id,
              "get of a live TCP flow matches conntrack -G",
              "ctstreamctl: %s%s\nconntrack: %s%s" % (
                  r.stdout, r.stderr, ct.stdout, ct.stderr))
        check("1 flow entries have been shown." in r.stderr,
              "get prints conntrack's count line", r.stderr)
        r = ctl("get", "tcp", "127.0.0.1:8080", src, "--reply")
        check(r.returncode == 0 and cols(r.stdout)[8:9] == [tcp_id],
              "get --reply finds the entry by its reply tuple",
              r.stdout + r.stderr)
        r = ctl("-j", "get", "tcp", src, "127.0.0.1:8080")
        try:
            o = json.loads(r.stdout)
        except ValueError:
            o = {}
        check(r.returncode == 0 and o.get("event") == "get" and
              str(o.get("id")) == tcp_id and len(r.stdout.splitlines()) == 1,
              "get --json prints the entry line", r.stdout + r.stderr)
        if tcp_id:
            r = ctl("get", "--id", tcp_id)
            check(r.returncode == 0 and cols(r.stdout)[2:3] == [src],
                  "get --id finds the entry", r.stdout + r.stderr)
        r = ctl("get", "tcp", "127.0.0.1:1", "127.0.0.1:2")
        check(r.returncode == 1 and r.stdout == "" and r.stderr.strip() ==
              "ctstreamctl: get: operation failed: such conntrack doesn't "
              "exist", "get of a missing tuple: exit 1 and the message",
              "exit %d: %s" % (r.returncode, r.stderr))
        r = ctl("get", "--id", "1")
        check(r.returncode == 1 and "no conntrack with id 1" in r.stderr,
              "get --id of a missing id: exit 1", r.stderr)

        # --- dump ---------------------------------------------------------
        for attempt in range(3):
            r = ctl("dump")
            rj = ctl("-j", "dump")
            ct = nsrun(["conntrack", "-L", "-o", "id"])
            ours = [l for l in r.stdout.splitlines() if l]
            theirs = [l for l in ct.stdout.splitlines() if l]
            ids = sorted(json.loads(l)["id"] for l in rj.stdout.splitlines()
                         if l)
            cids = sorted(conntrack_entry(l).get("id") for l in theirs)
            if ids == cids and len(ours) == len(theirs):
                break
            time.sleep(0.2)
        m = re.search(r"ctstreamctl: (\d+) flow entries have been shown\.",
                      r.stderr)
        check(r.returncode == 0 and len(ours) == len(theirs) and
              len(ours) >= 4 and m and int(m.group(1)) == len(ours),
              "dump prints as many entries as conntrack -L (%d) and the "
              "count line" % len(theirs),
              "ctstreamctl %d lines, stderr %r; conntrack %d lines" % (
                  len(ours), r.stderr, len(theirs)))
        check(ids == cids, "dump --json has the ids conntrack -L has",
              "%s\n%s" % (ids, cids))
        r = ctl("dump", "-p", "udp", "--dport", "5353")
        check(r.returncode == 0 and len(r.stdout.splitlines()) == 1 and
              cols(r.stdout)[2] == "127.0.0.1:%d" % udp,
              "dump with a filter", r.stdout + r.stderr)
        r = ctl("dump", "-s", "127.0.0.1", "-p", "tcp")
        check(r.returncode == 0 and all(
            cols(l)[2].startswith("127.0.0.1:") for l in
            r.stdout.splitlines()) and r.stdout,
            "dump -s: original source", r.stdout + r.stderr)
        r = ctl("dump", "-f", "ipv6")
        check(r.returncode == 0 and r.stdout and all(
            cols(l)[2].startswith("[") for l in r.stdout.splitlines()),
            "dump -f ipv6", r.stdout + r.stderr)

        # --- zones: absent is 0; --id finds an entry of any zone ---------
        r = ctl("create", "udp", "192.0.2.50:1000", "192.0.2.51:53",
                "--timeout", "300", "--zone", "5")
        check(r.returncode == 0, "create --zone 5", r.stderr)
        r0 = ctl("dump", "-z", "0")
        r5 = ctl("dump", "-z", "5")
        rall = ctl("dump")
        z0 = [l for l in r0.stdout.splitlines() if l]
        z5 = [l for l in r5.stdout.splitlines() if l]
        check(r0.returncode == 0 and len(z0) >= 4 and
              len(z0) + len(z5) == len(rall.stdout.splitlines()) and
              not any("192.0.2.50" in l for l in z0) and
              not any("zone=" in l for l in z0),
              "dump -z 0: the entries without a zone, not the one in "
              "zone 5", r0.stdout + r0.stderr)
        z5id = cols(z5[0])[8] if len(z5) == 1 else None
        check(z5id is not None and cols(z5[0])[2] == "192.0.2.50:1000" and
              "zone=5" in cols(z5[0]), "dump -z 5: the entry in zone 5",
              r5.stdout + r5.stderr)
        if z5id:
            r = ctl("get", "--id", z5id)
            check(r.returncode == 0 and cols(r.stdout)[8:9] == [z5id],
                  "get --id finds an entry of zone 5 without --zone",
                  r.stdout + r.stderr)
            r = ctl("update", "--id", z5id, "--mark", "9")
            ct = nsrun(["conntrack", "-L", "-w", "5", "-s", "192.0.2.50"])
            check(r.returncode == 0 and "mark=9" in ct.stdout,
                  "update --id changes an entry of zone 5 (its own zone)",
                  r.stderr + ct.stdout + ct.stderr)
            r = ctl("delete", "--id", z5id)
            ct = nsrun(["conntrack", "-L", "-w", "5", "-s", "192.0.2.50"])
            check(r.returncode == 0 and "192.0.2.50" not in ct.stdout,
                  "delete --id deletes an entry of zone 5 (its own zone)",
                  r.stderr + ct.stdout + ct.stderr)

        # --- SIGPIPE-safety -------------------------------------------------
        sh = run(["bash", "-c", '"$@" | head -n 1; '
                  'echo "status ${PIPESTATUS[0]}"', "bash"] +
                 ctl.argv("watch", "--snapshot"), timeout=10)
        check(sh.stdout.endswith("status 0\n") and re.fullmatch(
            r"(ctstreamctl: snapshot: \d+ entries; live events follow\n)?",
            sh.stderr) and len(sh.stdout.splitlines()) == 2,
              "watch --snapshot | head -n 1 ends at once, quietly",
              sh.stdout + sh.stderr)
        sh = run(["bash", "-c", '"$@" | head -c 10 >/dev/null; '
                  'echo "status ${PIPESTATUS[0]}"', "bash"] +
                 ctl.argv("dump"), timeout=10)
        check(sh.stdout == "status 0\n" and re.fullmatch(
            r"(ctstreamctl: \d+ flow entries have been shown\.\n)?",
            sh.stderr), "dump | head: exit 0, no error",
            sh.stdout + sh.stderr)

        # --- update ---------------------------------------------------------
        r = ctl("update", "tcp", src, "127.0.0.1:8080", "--mark", "0x2a")
        ct = nsrun(["conntrack", "-G", "-p", "tcp", "-s", "127.0.0.1",
                    "-d", "127.0.0.1", "--sport", str(tcp), "--dport",
                    "8080"])
        check(r.returncode == 0 and "mark=42" in ct.stdout and
              "1 flow entries have been updated." in r.stderr,
              "update --mark sets the mark", r.stderr + ct.stdout)
        r = ctl("dump", "-m", "42")
        check(r.returncode == 0 and len(r.stdout.splitlines()) == 1 and
              cols(r.stdout)[7] == "42", "dump -m 42", r.stdout + r.stderr)

        # --- delete, as nobody and as root ---------------------------------
        nobody = pwd.getpwnam("nobody")
        r = run(ctl.argv("delete", "tcp", src, "127.0.0.1:8080"),
                user=nobody.pw_uid, group=nobody.pw_gid, extra_groups=[])
        check(r.returncode == 1 and r.stderr.strip() ==
              "ctstreamctl: delete: only root or the admin group may "
              "change the table",
              "delete as nobody is denied: exit 1 and the daemon's message",
              "exit %d: %s" % (r.returncode, r.stderr))
        r = ctl("get", "tcp", src, "127.0.0.1:8080")
        check(r.returncode == 0, "the entry is still there after the "
              "denied delete", r.stderr)
        r = ctl("delete", "tcp", src, "127.0.0.1:8080")
        ct = nsrun(["conntrack", "-G", "-p", "tcp", "-s", "127.0.0.1",
                    "-d", "127.0.0.1", "--sport", str(tcp), "--dport",
                    "8080"])
        check(r.returncode == 0 and
              "1 flow entries have been deleted." in r.stderr and
              ct.returncode == 1, "delete as root: the entry is gone",
              "exit %d: %s; conntrack -G exit %d" % (
                  r.returncode, r.stderr, ct.returncode))
        r = ctl("get", "tcp", src, "127.0.0.1:8080")
        check(r.returncode == 1 and "such conntrack doesn't exist" in
              r.stderr, "get after delete: exit 1, not found", r.stderr)
        d_line = find(lambda c: c[:3] == ["destroy", "tcp", src])
        check(d_line is not None and cols(d_line)[8] == tcp_id,
              "watch: the delete shows as a destroy line",
              "\n".join(hout.snapshot()))
        r = ctl("delete", "tcp", src, "127.0.0.1:8080")
        check(r.returncode == 1 and "such conntrack doesn't exist" in
              r.stderr, "delete of a missing entry: exit 1", r.stderr)

        # --- create and flush -------------------------------------------------
        r = ctl("create", "tcp", "192.0.2.1:40000", "198.51.100.7:443",
                "--timeout", "300", "--state", "ESTABLISHED", "--mark", "7")
        ct = nsrun(["conntrack", "-G", "-p", "tcp", "-s", "192.0.2.1",
                    "-d", "198.51.100.7", "--sport", "40000", "--dport",
                    "443"])
        check(r.returncode == 0 and "ESTABLISHED" in ct.stdout and
              "mark=7" in ct.stdout, "create makes the entry",
              r.stderr + ct.stdout + ct.stderr)
        r = ctl("create", "tcp", "192.0.2.1:40000", "198.51.100.7:443",
                "--timeout", "300")
        check(r.returncode == 1 and "exists already" in r.stderr,
              "create of an existing entry: exit 1", r.stderr)
        r = ctl("flush")
        check(r.returncode == 2 and "--all" in r.stderr,
              "flush without a filter is refused: exit 2", r.stderr)
        r = ctl("flush", "-d", "198.51.100.0/24")
        ct = nsrun(["conntrack", "-L", "-d", "198.51.100.7"])
        check(r.returncode == 0 and
              "1 flow entries have been deleted." in r.stderr and
              "198.51.100.7" not in ct.stdout, "flush with a filter",
              r.stderr + ct.stdout)

        # --- expectations (needs the kernel's FTP helper) --------------------
        if have_ftp:
            ftp = make("ftp 2121")
            # Whether the expectation comes before or after the
            # subscription, --snapshot shows it.
            ew = ctl.popen("watch", "-t", "expect", "--snapshot")
            procs.append(ew)
            eout = Reader(ew.stdout)
            r = ctl("dump", "--expect")
            c = cols(r.stdout)
            check(r.returncode == 0 and c[:8] == [
                "dump", "tcp", "127.0.0.1:0", "->", "127.0.0.1:10000",
                "EXPECT", "-", "-"] and "helper=ftp" in c and
                "master=127.0.0.1:%d->127.0.0.1:2121" % ftp["sport"] in c
                and "1 expectations have been shown." in r.stderr,
                "dump --expect prints the FTP expectation",
                r.stdout + r.stderr)
            line = eout.wait_for(lambda l: cols(l)[0] in ("new",
                                 "snapshot"), 5)
            check(line is not None and cols(line)[5] == "EXPECT",
                  "watch -t expect prints the expectation",
                  "\n".join(eout.snapshot()))
        else:
            note("skip expectations: no FTP conntrack helper here")

        # --- stats ------------------------------------------------------------
        r = ctl("stats")
        check(r.returncode == 0 and
              re.search(r"^kernel \(namespace \S+\)$", r.stdout, re.M)
              and re.search(r"^\s+clients\s+\d+ connected", r.stdout, re.M)
              and re.search(r"^  namespace \S+\n\s+netlink\s+\d+ messages",
                            r.stdout, re.M)
              and re.search(r"^\s+receive buffer\s+[1-9]\d* bytes", r.stdout,
                            re.M),
              "stats prints the summary, one block per namespace",
              r.stdout + r.stderr)
        check(not dashes(r.stdout) and re.search(r"^  nats\s+off$",
                                                 r.stdout, re.M),
              "stats: no '-' for a value the reply has; nats off",
              r.stdout)
        r = ctl("-j", "stats")
        try:
            o = json.loads(r.stdout)
        except ValueError:
            o = {}
        check(r.returncode == 0 and "daemon" in o and "kernel" in o,
              "stats --json", r.stdout + r.stderr)
        r = ctl("diagnose")
        check(r.returncode == 0 and not dashes(r.stdout) and
              "namespaces" not in r.stdout and
              len(re.findall(r"^netns\s", r.stdout, re.M)) == 1,
              "diagnose: one namespace, nothing printed as '-'", r.stdout)
        r = ctl("dump", "--netns", NS)
        check(r.returncode == 0 and r.stdout and
              all(cols(l)[0] == "dump" for l in r.stdout.splitlines()),
              "dump --netns with one namespace: no namespace column",
              r.stdout + r.stderr)
        r = ctl("get", "--id", "1", "--netns", "ctsctl-none-such")
        check(r.returncode == 1 and r.stderr.strip() ==
              "ctstreamctl: get: netns: 'ctsctl-none-such' is not "
              "monitored", "get --netns of a namespace not monitored: "
              "exit 1, the daemon's message", r.stderr)
        r = ctl("--help")
        check(r.returncode == 0 and "--netns NAME" in r.stdout,
              "--help mentions --netns", r.stdout)

        # --- usage errors -----------------------------------------------------
        for argv, want in [
                ([], "no command"),
                (["frob"], "unknown command 'frob'"),
                (["get"], "get: give PROTO SRC DST or --id N"),
                (["get", "tcp", "127.0.0.1", "127.0.0.1:80"],
                 "source '127.0.0.1': a port is needed for tcp"),
                (["get", "tcp", "127.0.0.1:x", "127.0.0.1:80"],
                 "invalid port 'x'"),
                (["get", "udp", "127.0.0.1:1", "[::1]:2"],
                 "different address families"),
                (["get", "icmp", "127.0.0.1", "127.0.0.1"],
                 "--icmp-type is needed for icmp"),
                (["get", "frob", "127.0.0.1", "127.0.0.1"],
                 "invalid protocol 'frob'"),
                (["get", "--id", "x"], "--id 'x'"),
                (["watch", "--bogus"], "'--bogus'"),
                (["watch", "-p", "frob"], "--proto: invalid value 'frob'"),
                (["watch", "--dport", "99999"], "--dport: invalid value"),
                (["watch", "-s", "10.0.0.0/40"], "invalid address or CIDR"),
                (["watch", "--filter", "{"], "--filter: invalid JSON"),
                (["watch", "--filter", '{"bogus":1}'], "filter.bogus"),
                (["dump", "--snapshot"], "--snapshot does not apply to "
                 "dump"),
                (["stats", "extra"], "unexpected argument 'extra'"),
                (["update", "tcp", src, "127.0.0.1:8080"],
                 "give --mark and/or --label"),
                (["create", "tcp", "1.1.1.1:1", "2.2.2.2:2"], "--timeout"),
                (["flush", "-p", "tcp", "--all"], "either a filter or "
                 "--all"),
                (["get", "--zone"], "'--zone'"),
                (["get", "--id", "5", "--zone", "0"],
                 "--zone goes with a tuple"),
                (["delete", "--id", "5", "-z", "3"],
                 "--zone goes with a tuple"),
                (["update", "--id", "5", "--zone", "3", "--mark", "1"],
                 "--zone goes with a tuple"),
                (["create", "udp", "1.1.1.1:1", "2.2.2.2:2", "--timeout",
                  "5", "--state", "ESTABLISHED"],
                 "--state: can only be set for tcp, not udp"),
                (["create", "sctp", "1.1.1.1:1", "2.2.2.2:2", "--timeout",
                  "5", "--state", "ESTABLISHED"],
                 "--state: can only be set for tcp, not sctp"),
                (["ping", "--netns", NS], "--netns does not apply to ping"),
                (["dump", "--netns", ""], "--netns: a namespace label"),
                (["stats", "--netns", "a", "--netns", "b"],
                 "--netns: stats takes one namespace"),
                (["watch", "--netns", "a,"], "--netns 'a,': empty value")]:
            r = ctl(*argv)
            check(r.returncode == 2 and want in r.stderr and
                  len(r.stderr.splitlines()) == 1 and r.stdout == "",
                  "usage error exits 2: %s" % (" ".join(argv) or "(none)"),
                  "exit %d: %s" % (r.returncode, r.stderr))

        # --- unreachable sockets ------------------------------------------
        missing = os.path.join(tmp, "missing.sock")
        r = run([ctlbin, "-C", missing, "stats"])
        check(r.returncode == 1 and missing in r.stderr,
              "an absent control socket: exit 1, the path named", r.stderr)
        r = run([ctlbin, "-E", missing, "watch"])
        check(r.returncode == 1 and missing in r.stderr,
              "an absent events socket: exit 1, the path named", r.stderr)

        # --- watch ends cleanly on SIGINT ---------------------------------
        hw.send_signal(signal.SIGINT)
        try:
            rc = hw.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        time.sleep(0.1)
        check(rc == 0 and any(re.match(r"ctstreamctl: \d+ flow events have "
                                       r"been shown\.$", l)
                              for l in herr.snapshot()),
              "watch: SIGINT ends it with status 0 and the count",
              "exit %r: %s" % (rc, herr.snapshot()))
        check(d.poll() is None, "the daemon is still running",
              "\n".join(dreader.snapshot()))
        if not kernel_ok:
            note("note: see the first failure: the daemon's requests to "
                 "the kernel fail")
    except KeyboardInterrupt as e:
        failures.append("interrupted (%s)" % e)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if ns_made:
            run(["ip", "netns", "del", NS])
        shutil.rmtree(tmp, ignore_errors=True)
    return None


# ---------------------------------------------------------------------------
# Several namespaces, with the harness of the other integration tests
# (ctsd.py): its namespaces are deleted whatever happens, its daemon's
# lines are checked against the schema.

# The daemon logs every change of the table, and a namespace that goes.
CHANGES_STDERR = [
    r"^ctstreamd: client \d+ \(uid 0, pid \d+\): (delete|update|flush|"
    r"create) \{",
    r"^ctstreamd: [^ :]+: the namespace is gone; its sockets are closed$",
]

# Flood datagrams (ports 10000-32000) are dropped on input, so that no
# ICMP error answers them and their entries stay.
SINK_RULES = ctsd.TRACK_ALL + """
table inet ctsctl_sink {
	chain in {
		type filter hook input priority filter; policy accept;
		udp dport 10000-32000 drop
	}
}
"""
# Entries to 127.0.0.4 send NEW only, never DESTROY; entries to
# 127.0.0.5 DESTROY only, never NEW: the daemon's resync finds both.
SILENT_RULES = SINK_RULES + """
table inet ctsctl_silent {
	chain out {
		type filter hook output priority filter; policy accept;
		ip daddr 127.0.0.4 ct event set new
		ip daddr 127.0.0.5 ct event set destroy
	}
}
"""
LONG_UDP = {"net.netfilter.nf_conntrack_udp_timeout": 600,
            "net.netfilter.nf_conntrack_udp_timeout_stream": 600}


class Watch:
    """ctstreamctl watch (or any command) running, its output collected."""

    def __init__(self, ctl, *args):
        self.p = ctl.popen(*args)
        self.out, self.err = Reader(self.p.stdout), Reader(self.p.stderr)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def line(self, pred, timeout=10):
        return self.out.wait_for(lambda l: pred(cols(l)), timeout)

    def dump(self):
        return "stdout:\n%s\nstderr:\n%s" % ("\n".join(self.out.snapshot()),
                                              "\n".join(self.err.snapshot()))


def start_watches(ns, watches):
    """Wait until the watches print a flow of ns: then they are subscribed.
    Returns whether they are."""
    for attempt in range(30):
        if sync_watches(ns, watches, 7000 + attempt, 2):
            return True
        if any(w.p.poll() is not None for w in watches):
            return False
    return False


def sync_watches(ns, watches, port, timeout=10):
    """Make a UDP flow to port in ns and wait until every watch printed
    it: then each has printed whatever the daemon sent before it.  Returns
    whether all did."""
    ns.call(ctsd.udp_exchange, "127.0.0.1", port)
    ok = True
    for w in watches:
        ok = w.out.wait_for(lambda l: ("127.0.0.1:%d " % port) in l or
                            ('"dport":%d}' % port) in l, timeout) and ok
    return ok


def several_namespaces():
    """--netns A --netns B: every command with and without --netns, the
    namespace column, resync lines of both kinds, a filtered watch that
    leaves out what the daemon sends of other namespaces whatever the
    filter, and the netns gone line."""
    watches = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="ctsctl-"))
        a = stack.enter_context(ctsd.Netns())
        b = stack.enter_context(ctsd.Netns(nft=SILENT_RULES,
                                           sysctls=LONG_UDP))
        # Entries older than the daemon whose DESTROY never comes: while
        # they exist the daemon compares its index with the table every
        # --resync-interval.
        b.call(ctsd.udp_flood, "127.0.0.4", 10000, 2)
        d = stack.enter_context(ctsd.Daemon(
            a, ["--netns", b.name, "--events-socket",
                os.path.join(tmp, "ev.sock"), "--control-socket",
                os.path.join(tmp, "ctl.sock"), "--resync-interval", "1",
                "--resync-delay", "100"], seq_gaps=True,
            allow_stderr=ctsd.namespace_stderr([a.name, b.name]) +
            CHANGES_STDERR +
            ctsd.LOSS_STDERR))
        stack.callback(lambda: [w.stop() for w in watches])
        ctl = Ctl(CTSTREAMCTL, tmp)
        w_all = Watch(ctl, "watch")
        w_a = Watch(ctl, "watch", "--netns", a.name)
        j_a = Watch(ctl, "-j", "watch", "--netns", a.name)
        watches += [w_all, w_a, j_a]
        if not check(start_watches(a, watches), "netns: the watches "
                     "receive events", w_all.dump()):
            return

        # --- watch: the namespace column ------------------------------
        pb = b.call(ctsd.udp_exchange, "127.0.0.1", 7102)["client"][1]
        pa = a.call(ctsd.udp_exchange, "127.0.0.1", 7101)["client"][1]
        lb = w_all.line(lambda c: c[:4] == [b.name, "new", "udp",
                                            "127.0.0.1:%d" % pb])
        la = w_all.line(lambda c: c[:4] == [a.name, "new", "udp",
                                            "127.0.0.1:%d" % pa])
        check(lb is not None and la is not None and
              cols(lb)[4:6] == ["->", "127.0.0.1:7102"] and
              cols(lb)[9].isdigit(),
              "watch: lines start with their namespace", w_all.dump())
        sync_watches(a, [w_a, j_a], 7103)
        check(all(cols(l)[0] == a.name for l in w_a.out.snapshot()) and
              any(cols(l)[3:4] == ["127.0.0.1:%d" % pa]
                  for l in w_a.out.snapshot()),
              "watch --netns A: A's lines only", w_a.dump())

        # --- get, dump ------------------------------------------------
        tb = ["udp", "127.0.0.1:%d" % pb, "127.0.0.1:7102"]
        r = ctl("get", *tb)
        check(r.returncode == 2 and r.stdout == "" and r.stderr.strip() ==
              "ctstreamctl: get: netns: required, 2 namespaces are "
              "monitored (give --netns NAME)",
              "get without --netns: exit 2, the hint", r.stderr)
        r = ctl("get", "--netns", b.name, *tb)
        check(r.returncode == 0 and cols(r.stdout)[:4] == [
            b.name, "get", "udp", "127.0.0.1:%d" % pb],
            "get --netns B finds B's entry, with the namespace column",
            r.stdout + r.stderr)
        r = ctl("get", "--netns", a.name, *tb)
        check(r.returncode == 1 and "such conntrack doesn't exist" in
              r.stderr, "get --netns A does not find B's entry", r.stderr)
        r = ctl("dump", "--netns", b.name)
        ids = {int(cols(l)[9]) for l in r.stdout.splitlines()}
        check(r.returncode == 0 and r.stdout and
              all(cols(l)[:2] == [b.name, "dump"]
                  for l in r.stdout.splitlines()) and
              ids == ctsd.conntrack_ids(b),
              "dump --netns B: B's entries, as conntrack -L there",
              r.stdout + r.stderr)
        r = ctl("dump")
        names = {cols(l)[0] for l in r.stdout.splitlines()}
        m = re.search(r"(\d+) flow entries have been shown", r.stderr)
        check(r.returncode == 0 and names == {a.name, b.name} and m and
              int(m.group(1)) == len(r.stdout.splitlines()),
              "dump without --netns: both namespaces", r.stdout + r.stderr)

        # --- stats, diagnose ------------------------------------------
        r = ctl("stats")
        blocks = re.findall(r"^  namespace (\S+)$", r.stdout, re.M)
        check(r.returncode == 0 and blocks == [a.name, b.name] and
              re.search(r"^kernel \(namespace %s\)$" % re.escape(a.name),
                        r.stdout, re.M) and not dashes(r.stdout),
              "stats: a block per namespace, no '-' for values the "
              "reply has", r.stdout + r.stderr)
        r = ctl("stats", "--netns", b.name)
        entries = b.conntrack("-C").stdout.strip()
        check(r.returncode == 0 and
              re.findall(r"^  namespace (\S+)$", r.stdout, re.M) ==
              [b.name] and re.search(
                  r"^kernel \(namespace %s\)\n  entries\s+%s " % (
                      re.escape(b.name), entries), r.stdout, re.M),
              "stats --netns B: B's counters and its kernel's",
              r.stdout + r.stderr)
        r = ctl("diagnose")
        check(r.returncode == 0 and re.findall(
            r"^netns\s+(\S+)$", r.stdout, re.M) == [a.name, b.name] and
            "\n\nnetns " in r.stdout and "namespaces" not in r.stdout and
            not dashes(r.stdout) and
            re.search(r"^notice: %s: " % re.escape(b.name), r.stdout,
                      re.M),
            "diagnose: each namespace's settings and findings",
            r.stdout + r.stderr)
        r = ctl("diagnose", "--netns", b.name)
        check(r.returncode == 0 and re.findall(
            r"^netns\s+(\S+)$", r.stdout, re.M) == [b.name] and
            not re.search(r"^notice: %s: " % re.escape(a.name), r.stdout,
                          re.M),
            "diagnose --netns B: B only", r.stdout + r.stderr)

        # --- the changes ----------------------------------------------
        r = ctl("update", *tb, "--mark", "7")
        check(r.returncode == 2 and "netns: required" in r.stderr,
              "update without --netns: exit 2", r.stderr)
        r = ctl("update", "--netns", b.name, *tb, "--mark", "7")
        ct = b.conntrack("-L", "-p", "udp", "--sport", str(pb))
        check(r.returncode == 0 and "mark=7" in ct.stdout,
              "update --netns B", r.stderr + ct.stdout)
        tc = ["tcp", "192.0.2.1:40000", "198.51.100.7:443"]
        r = ctl("create", "--netns", b.name, *tc, "--timeout", "300",
                "--state", "ESTABLISHED")
        inb = b.conntrack("-L", "-d", "198.51.100.7").stdout
        ina = a.conntrack("-L", "-d", "198.51.100.7").stdout
        check(r.returncode == 0 and "ESTABLISHED" in inb and
              "198.51.100.7" not in ina, "create --netns B: in B only",
              r.stderr + inb + ina)
        r = ctl("delete", *tc)
        check(r.returncode == 2 and "netns: required" in r.stderr,
              "delete without --netns: exit 2", r.stderr)
        r = ctl("delete", "--netns", b.name, *tc)
        inb = b.conntrack("-L", "-d", "198.51.100.7").stdout
        check(r.returncode == 0 and "198.51.100.7" not in inb,
              "delete --netns B", r.stderr + inb)
        r = ctl("flush", "-p", "udp")
        check(r.returncode == 2 and "netns: required" in r.stderr,
              "flush without --netns: exit 2", r.stderr)
        r = ctl("flush", "--netns", a.name, "-p", "udp")
        ina = a.conntrack("-L", "-p", "udp").stdout
        inb = b.conntrack("-L", "-p", "udp", "--sport", str(pb)).stdout
        check(r.returncode == 0 and "udp" not in ina and
              str(pb) in inb, "flush --netns A: A's UDP entries only",
              r.stderr + ina + inb)

        # --- resync lines ---------------------------------------------
        # An entry whose NEW never comes: the resync reports it.
        b.call(ctsd.udp_flood, "127.0.0.5", 11000, 1)
        new = w_all.line(lambda c: c[:3] == [b.name, "new", "udp"] and
                         "127.0.0.5:11000" in c, timeout=10)
        check(new is not None and cols(new)[10:11] == ["resync=yes"],
              "watch: a resync new line is marked resync=yes",
              new or w_all.dump())
        # An entry whose DESTROY never comes: the resync reports its id.
        gone = ctsd.conntrack_ids(b, "-p", "udp", "-d", "127.0.0.4",
                                   "--dport", "10000")
        b.conntrack("-D", "-p", "udp", "-d", "127.0.0.4", "--dport", "10000")
        want = [b.name, "destroy", "id=%d" % min(gone or {0}), "(resync:",
                "vanished", "unseen)"]
        vanished = w_all.line(lambda c: c == want, timeout=10)
        check(len(gone) == 1 and vanished is not None,
              "watch: a resync destroy line is 'destroy id=N (resync: "
              "vanished unseen)'", w_all.dump())
        # The daemon sends resync destroys whatever the filter.
        sync_watches(a, [w_a, j_a], 7104)
        check(not [l for l in w_a.out.snapshot() if "resync" in l],
              "watch --netns A leaves out B's resync lines", w_a.dump())
        check(not [l for l in j_a.out.snapshot()
                   if json.loads(l).get("netns") not in (None, a.name)],
              "watch -j --netns A: no line of another namespace",
              j_a.dump())

        # --- a namespace goes -----------------------------------------
        b.close()
        g = w_all.line(lambda c: c == ["netns", "gone", b.name])
        check(g is not None, "watch: 'netns gone NAME'", w_all.dump())
        sync_watches(a, [w_a, j_a], 7105)
        check(not [l for l in w_a.out.snapshot() if b.name in l] and
              not [l for l in j_a.out.snapshot() if b.name in l],
              "watch --netns A: not B's netns line",
              w_a.dump() + j_a.dump())
        for w in watches:
            w.stop()
        check(not [l for l in w_all.err.snapshot() + w_a.err.snapshot()
                   if "overrun" in l or "skipped" in l],
              "watch: no overrun and nothing skipped",
              w_all.dump() + w_a.dump())
        d.stop()


def overrun_in_a_namespace():
    """--netns A --netns B with a 4 KiB receive buffer, the daemon stopped
    during a burst in B: the overrun message names B and counts netlink
    messages; a watch of A alone leaves it out."""
    watches = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="ctsctl-"))
        a = stack.enter_context(ctsd.Netns())
        b = stack.enter_context(ctsd.Netns(nft=SINK_RULES))
        d = stack.enter_context(ctsd.Daemon(
            a, ["--netns", b.name, "--events-socket",
                os.path.join(tmp, "ev.sock"), "--control-socket",
                os.path.join(tmp, "ctl.sock"), "--rcvbuf", "4K",
                "--rcvbuf-max", "4K", "--resync-delay", "100"],
            seq_gaps=True, allow_loss=True, validate="sample",
            allow_stderr=ctsd.namespace_stderr([a.name, b.name])))
        stack.callback(lambda: [w.stop() for w in watches])
        ctl = Ctl(CTSTREAMCTL, tmp)
        w_all = Watch(ctl, "watch")
        w_a = Watch(ctl, "watch", "--netns", a.name)
        watches += [w_all, w_a]
        if not check(start_watches(a, watches), "overrun: the watches "
                     "receive events", w_all.dump()):
            return
        d.proc.send_signal(signal.SIGSTOP)
        try:
            b.call(ctsd.udp_flood, "127.0.0.1", 10000, 500)
        finally:
            d.proc.send_signal(signal.SIGCONT)
        pat = re.compile(r"^ctstreamctl: overrun in %s: the kernel dropped "
                         r"\d+ netlink messages \(seq \d+\): the stream "
                         r"is incomplete$" % re.escape(b.name))
        got = w_all.err.wait_for(lambda l: pat.match(l), 10)
        check(got is not None, "watch: the overrun message names the "
              "namespace and counts netlink messages", w_all.dump())
        sync_watches(a, [w_a], 7100)
        check(not [l for l in w_a.err.snapshot() if "overrun" in l],
              "watch --netns A: no message of B's overrun", w_a.dump())
        for w in watches:
            w.stop()
        d.stop()


def netns_new_line():
    """--netns-all, and a watch of two namespaces, one of which does not
    exist yet: 'netns new NAME' when it appears, its events, 'netns gone
    NAME'; nothing of the other namespaces the daemon monitors.  Other
    tests' namespaces may be busy: the daemon receives ICMP events only
    (a kernel filter) and keeps no index (--no-track)."""
    watches = []
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="ctsctl-"))
        early = stack.enter_context(ctsd.Netns())
        d = stack.enter_context(ctsd.Daemon(
            None, ["--sub-hiwat", "1G", "--types", "ct", "--kernel-proto",
                   "icmp", "--no-track", "--events-socket",
                   os.path.join(tmp, "ev.sock"), "--control-socket",
                   os.path.join(tmp, "ctl.sock")], netns_all=True,
            seq_gaps=True, allow_loss=True, validate="sample",
            allow_stderr=ctsd.NETNS_ALL_STDERR))
        stack.callback(lambda: [w.stop() for w in watches])
        ctl = Ctl(CTSTREAMCTL, tmp)
        late = ctsd.Netns()
        w = Watch(ctl, "watch", "--netns", "%s,%s" % (early.name,
                                                      late.name))
        watches.append(w)

        def ping(ns, ident, timeout):
            ns.call(ctsd.ping, "127.0.0.1", ident)
            return w.line(lambda c: c[:3] == [ns.name, "new", "icmp"] and
                          "icmp_id=%d" % ident in c, timeout)
        subscribed = False
        for attempt in range(20):
            if ping(early, 3000 + attempt, 1):
                subscribed = True
                break
            if w.p.poll() is not None:
                break
        if not check(subscribed, "netns-all: the watch receives events",
                     w.dump()):
            return
        with late:
            new = w.line(lambda c: c == ["netns", "new", late.name])
            check(new is not None, "watch: 'netns new NAME'", w.dump())
            check(ping(late, 4000, 10) is not None, "watch: the new "
                  "namespace's events, with its column", w.dump())
        gone = w.line(lambda c: c == ["netns", "gone", late.name])
        check(gone is not None, "watch: 'netns gone NAME'", w.dump())
        ping(early, 4001, 10)
        ours = (early.name, late.name)
        check(all(cols(l)[0] in ours or (cols(l)[0] == "netns" and
                                         cols(l)[2:] == [late.name])
                  for l in w.out.snapshot()),
              "watch --netns A,B: no line of another namespace", w.dump())
        w.stop()
        d.stop()


# The lines a fake events socket sends after the reply to subscribe.
FAKE_LINES = [
    {"type": "nats", "event": "lost", "count": 517, "first_seq": 110,
     "last_seq": 626, "dropped": 500, "failed": 17, "seq": 977,
     "time": "2026-11-27T02:20:12.411152Z"},
    {"type": "overrun", "lost": 0, "seq": 978, "netns": "red",
     "time": "2026-11-27T02:20:12.411152Z"},
    {"type": "lost", "count": 134, "first_seq": 24, "last_seq": 157,
     "time": "2026-11-27T02:22:19.362457Z"},
    {"type": "ct", "event": "destroy", "seq": 979, "resync": True,
     "id": 2679832459, "time": "2026-11-27T02:20:12.494450Z"},
]


def fake_daemon_lines():
    """Lines no daemon run here writes at will (a NATS loss report, an
    overrun whose count is unknown), from a fake events socket."""
    with tempfile.TemporaryDirectory(prefix="ctsctl-") as tmp:
        path = os.path.join(tmp, "ev.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        srv.settimeout(10)

        def serve():
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                c.settimeout(10)
                buf = b""
                while b"\n" not in buf:
                    chunk = c.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                req = json.loads(buf.split(b"\n")[0])
                lines = [{"type": "reply", "id": req.get("id"), "ok": True,
                          "result": {"snapshot": False}}] + FAKE_LINES
                c.sendall(b"".join(json.dumps(l, separators=(",", ":"))
                                   .encode() + b"\n" for l in lines))
        t = threading.Thread(target=serve, daemon=True)
        t.start()
        r = run([CTSTREAMCTL, "-E", path, "watch"], timeout=10)
        t.join(5)
        srv.close()
        err = r.stderr.splitlines()
        check(r.returncode == 1 and err == [
            "ctstreamctl: nats: 517 lines (seq 110 to 626) were not "
            "published to NATS: 500 dropped, 17 failed",
            "ctstreamctl: overrun in red: the kernel dropped netlink "
            "messages, how many is unknown (seq 978): the stream is "
            "incomplete",
            "ctstreamctl: lost: 134 lines (seq 24 to 157) were discarded: "
            "this reader was too slow",
            "ctstreamctl: watch: the daemon closed the connection"] and
            r.stdout == "destroy id=2679832459 (resync: vanished unseen)\n",
            "watch: nats, overrun, lost and resync destroy lines of one "
            "namespace", "exit %s\nstdout: %s\nstderr: %s" % (
                r.returncode, r.stdout, r.stderr))


def nats_stats():
    """stats with a NATS output: its counters, nothing shown as '-'."""
    server = None
    for p in (os.environ.get("NATS_SERVER"), shutil.which("nats-server"),
              "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if p and os.access(p, os.X_OK):
            server = p
            break
    if server is None:
        note("skip stats with NATS: nats-server is missing")
        return
    probe = run([CTSTREAMD, "-n", "-f", "/dev/null", "--stdout",
                 "--nats-server", "nats://127.0.0.1:4222"])
    if "built without NATS support" in probe.stderr:
        note("skip stats with NATS: ctstreamd was built without it")
        return
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="ctsctl-"))
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        ns_ = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port)],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        stack.callback(ctsd.stop_process, ns_)
        url = "nats://127.0.0.1:%d" % port
        a = stack.enter_context(ctsd.Netns())
        stack.enter_context(ctsd.Daemon(
            a, ["--control-socket", os.path.join(tmp, "ctl.sock"),
                "--nats-server", url, "--nats-prefix", "ctsctl%d" %
                os.getpid()], allow_stderr=[r"^ctstreamd: nats: "]))
        ctl = Ctl(CTSTREAMCTL, tmp)
        end = time.monotonic() + ctsd.scaled(10)
        while time.monotonic() < end:
            r = ctl("-j", "stats")
            try:
                if json.loads(r.stdout)["daemon"]["nats"]["connected"]:
                    break
            except (ValueError, KeyError, TypeError):
                pass
            time.sleep(0.1)
        r = ctl("stats")
        check(r.returncode == 0 and re.search(
            r"^  nats\s+connected to %s, subject ctsctl%d\.\S+, stream "
            r"none\n    lines\s+\d+: \d+ published, \d+ acked, \d+ dropped, "
            r"\d+ failed \(\d+ retries\)\n    pending\s+\d+ lines" % (
                re.escape(url), os.getpid()), r.stdout, re.M) and
            re.search(r"^    last error\s+none$", r.stdout, re.M) and
            not dashes(r.stdout),
            "stats: the NATS output's counters", r.stdout + r.stderr)


def main():
    if os.geteuid() != 0:
        note("SKIP: needs root")
        return SKIP
    for tool in ("ip", "nft", "conntrack", "setpriv"):
        if shutil.which(tool) is None:
            note("SKIP: %s is not installed" % tool)
            return SKIP
    for b in (CTSTREAMD, CTSTREAMCTL):
        if not os.access(b, os.X_OK):
            note("SKIP: %s is not built" % b)
            return SKIP
    t0 = time.monotonic()
    if one_namespace() is not None and not failures:
        failures.append("the one-namespace part could not be set up")
    # The harness (ctsd.py) fails with an exception; each part is
    # reported and the next runs.
    os.environ.setdefault("CTSTREAMD", CTSTREAMD)
    for part in (several_namespaces, overrun_in_a_namespace,
                 netns_new_line, fake_daemon_lines, nats_stats):
        try:
            part()
        except ctsd.TestFailure as e:
            check(False, "%s" % part.__name__, str(e))
        except Exception:
            check(False, "%s (error)" % part.__name__,
                  traceback.format_exc())
    note("%d checks, %d failed, %.1f s" % (checks, len(failures),
                                          time.monotonic() - t0))
    for f in failures:
        note("failed: %s" % f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
