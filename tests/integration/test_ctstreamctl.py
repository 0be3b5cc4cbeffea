#!/usr/bin/env python3
"""
test_ctstreamctl.py - ctstreamctl against the real daemon and kernel.

Runs as root (exit 77 otherwise), with the Python standard library only.
It creates a network namespace of its own (ctsctl-PID), turns connection
tracking on there with an nftables rule, starts ctstreamd on sockets in a
temporary directory, makes TCP and UDP traffic inside the namespace and
checks what ctstreamctl prints against the traffic and against
conntrack(8) run in the same namespace.  The namespace is deleted at the
end, also on failure or interruption; nothing outside it is changed.

Environment: CTSTREAMD (default ./src/ctstreamd), CTSTREAMCTL (default
./src/ctstreamctl).  Every check runs even when an earlier one failed;
the exit status is 1 if any failed.
"""

import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

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
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.snapshot():
                if pred(line):
                    return line
            time.sleep(0.05)
        return None


def cols(line):
    return line.split()


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

    tmp = tempfile.mkdtemp(prefix="ctsctl-")
    os.chmod(tmp, 0o755)
    procs = []
    ns_made = False

    def on_signal(sig, frame):
        raise KeyboardInterrupt("signal %d" % sig)

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    t0 = time.monotonic()
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
        procs += [hw, jw]
        hout, herr = Reader(hw.stdout), Reader(hw.stderr)
        jout = Reader(jw.stdout)

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
        end = time.monotonic() + 10
        subscribed = False
        while time.monotonic() < end and not subscribed:
            make("udp 9")
            time.sleep(0.1)
            subscribed = (
                any(" -> 127.0.0.1:9 " in l for l in hout.snapshot()) and
                any('"dport":9}' in l for l in jout.snapshot()))
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
        r = ctl("-j", "stats")
        try:
            o = json.loads(r.stdout)
        except ValueError:
            o = {}
        check(r.returncode == 0 and "daemon" in o and "kernel" in o,
              "stats --json", r.stdout + r.stderr)

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
                (["get", "--zone"], "'--zone'")]:
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
    note("%d checks, %d failed, %.1f s" % (checks, len(failures),
                                          time.monotonic() - t0))
    for f in failures:
        note("failed: %s" % f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
