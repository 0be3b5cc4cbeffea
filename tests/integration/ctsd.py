"""
ctsd.py - the shared harness of ctstreamd's integration tests.

The tests run the real daemon against the real kernel, as root, each in
network namespaces of their own:

    with ctsd.Netns(nft=ctsd.TRACK_ALL) as ns, ctsd.Daemon(ns) as d:
        r = ns.call(ctsd.udp_exchange, "127.0.0.1", 5001)
        new = d.wait_for(lambda evs: ctsd.first(evs, event="new",
                         orig={"sport": r["client"][1]}), what="udp new")

Netns creates a namespace named ctsd-<pid>-<n> (unique among concurrent
runs), with lo up, optionally an interface carrying addresses, nftables
rules and sysctls, and deletes it on exit, on failure, at interpreter exit
and on SIGTERM/SIGINT/SIGHUP.  Nothing outside the namespace is changed.

Daemon runs ctstreamd --stdout --netns NAME, waits for "ready"
on stderr, and collects stdout on a thread: every line must be one compact
JSON object, valid against docs/ctstreamd-event.schema.json, with seq
counting up by one from 1 and time in RFC 3339 UTC.  Stopping it sends
SIGTERM and requires exit status 0 and no unexpected stderr line.

Traffic helpers (tcp_flow, udp_exchange, ftp_active, ping) are plain
functions run inside a namespace with Netns.call(), which starts this
interpreter under ip netns exec and returns the function's JSON result.

Environment: CTSTREAMD (the daemon), CTSTREAMD_SRCDIR, CTSTREAMD_BUILDDIR,
as make check sets them; CTSTREAMD_SCHEMA overrides the schema path (for
trying a draft schema).  Only the Python standard library and jsonschema.
"""

import atexit
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback

SKIP = 77
PYTHON = sys.executable
HERE = os.path.dirname(os.path.abspath(__file__))

# Tools the root tests run, with the Debian package that has each.
TOOLS = {
    "ip": "iproute2",
    "nft": "nftables",
    "conntrack": "conntrack",
    "ping": "iputils-ping",
}

# A ruleset that turns connection tracking on in a namespace: the kernel
# tracks nothing in a namespace until some rule there needs conntrack.
TRACK_ALL = """
table inet ctsd_track {
	chain out {
		type filter hook output priority filter; policy accept;
		ct state new counter
	}
}
"""


class TestFailure(Exception):
    """An assertion about the daemon or the kernel did not hold."""


class Skip(Exception):
    """This case cannot run here (main() reports it as skipped)."""


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        raise TestFailure("%s: expected %r, got %r" % (what, expected, actual))


# ---------------------------------------------------------------------------
# Environment

def srcdir():
    """The source tree (CTSTREAMD_SRCDIR, else two levels above this file)."""
    return os.environ.get("CTSTREAMD_SRCDIR") or \
        os.path.normpath(os.path.join(HERE, "..", ".."))


def builddir():
    return os.environ.get("CTSTREAMD_BUILDDIR") or srcdir()


def daemon_path():
    """The daemon under test (CTSTREAMD, else BUILDDIR/src/ctstreamd)."""
    path = os.environ.get("CTSTREAMD") or \
        os.path.join(builddir(), "src", "ctstreamd")
    if not os.access(path, os.X_OK):
        fail("daemon %s is missing or not executable (set CTSTREAMD)" % path)
    return path


def require_root():
    """Exit 77 (skip) unless running as root."""
    if os.geteuid() != 0:
        print("SKIP: this test needs root (network namespaces, nftables)")
        sys.exit(SKIP)


def require_tools():
    """Fail, naming the package, when a tool the tests run is missing."""
    missing = ["%s (package %s)" % (t, p) for t, p in sorted(TOOLS.items())
               if shutil.which(t) is None]
    check(not missing, "missing tools: " + ", ".join(missing))


def schema_path():
    return os.environ.get("CTSTREAMD_SCHEMA") or \
        os.path.join(srcdir(), "docs", "ctstreamd-event.schema.json")


_validator = None


def validator():
    """The Draft 2020-12 validator of the event schema; a missing schema fails."""
    global _validator
    if _validator is not None:
        return _validator
    path = schema_path()
    check(os.path.isfile(path),
          "the event schema %s is missing: every line must be validated "
          "against it (CTSTREAMD_SCHEMA names another file)" % path)
    try:
        import jsonschema
    except ImportError:
        fail("jsonschema is not installed for %s (Debian: python3-jsonschema)"
             % PYTHON)
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    cls = jsonschema.Draft202012Validator
    try:
        cls.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        fail("%s is not a valid Draft 2020-12 schema: %s" % (path, e.message))
    checker = getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
    _validator = cls(schema, format_checker=checker)
    return _validator


def _schema_errors(ev):
    errors = list(validator().iter_errors(ev))
    if not errors:
        return None
    import jsonschema
    best = jsonschema.exceptions.best_match(errors)
    return "schema: at %s: %s" % (
        "/".join(str(p) for p in best.absolute_path) or "(top)", best.message)


def _is_uint(v, bits=64):
    return isinstance(v, int) and not isinstance(v, bool) and \
        0 <= v < 2 ** bits


# Lines the daemon writes that the schema does not describe (yet): each
# one's shape is checked here instead, and the run reports which kinds it
# met (main() prints them), so that the schema can catch up.
SCHEMA_GAPS = {}


def _gap_netns(ev):
    return (set(ev) == {"type", "event", "netns", "seq", "time"} and
            ev["type"] == "netns" and ev["event"] in ("new", "gone") and
            isinstance(ev["netns"], str) and ev["netns"] != "" and
            _is_uint(ev["seq"]) and ev["seq"] > 0)


def _gap_resync_destroy(ev):
    return (set(ev) - {"netns"} == {"type", "event", "seq", "time", "resync",
                                     "id"} and
            ev["type"] == "ct" and ev["event"] == "destroy" and
            ev["resync"] is True and _is_uint(ev["id"], 32) and
            _is_uint(ev["seq"]) and ev["seq"] > 0 and
            isinstance(ev.get("netns", ""), str))


def _gap_sync(ev):
    return (set(ev) - {"error"} == {"type", "entries", "time"} and
            ev["type"] == "sync" and _is_uint(ev["entries"]) and
            ("error" not in ev or set(ev["error"]) == {"code", "message"}))


_GAPS = [
    ('{"type":"netns","event":"new"|"gone",...} lines', _gap_netns),
    ('resync destroy lines with only "id" (the schema requires "family" '
     'and more of a ct line)', _gap_resync_destroy),
    ('{"type":"sync","entries":N,...} lines ending a snapshot', _gap_sync),
]


def check_schema(ev):
    """Validate one line against the schema.  A line the schema refuses
    but that has the exact shape of a known kind the schema lacks passes
    after a check of that shape, and is recorded in SCHEMA_GAPS; anything
    else the schema refuses fails."""
    err = _schema_errors(ev)
    if err is None:
        return
    for name, shape in _GAPS:
        if shape(ev):
            SCHEMA_GAPS.setdefault(name, json.dumps(ev, separators=(",", ":")))
            return
    fail(err)


def check_schema_sampled(ev, shapes, first=50, every=1000):
    """check_schema() for runs too long to validate line by line (the
    validator takes about 2 ms a line): the first `first` lines of each
    kind (type, event, resync) and then every `every`-th one.  shapes is
    the caller's dict of counts."""
    key = (ev.get("type"), ev.get("event"), ev.get("resync"))
    n = shapes[key] = shapes.get(key, 0) + 1
    if n <= first or n % every == 0:
        check_schema(ev)


# ---------------------------------------------------------------------------
# Cleanup that happens whatever way the test ends

_cleanups = []
_cleanup_lock = threading.Lock()
_handlers_installed = False


def _run_cleanups():
    while True:
        with _cleanup_lock:
            if not _cleanups:
                return
            fn = _cleanups.pop()
        try:
            fn()
        except Exception:               # keep cleaning up the rest
            traceback.print_exc()


def _on_signal(sig, frame):
    _run_cleanups()
    os._exit(128 + sig)


def add_cleanup(fn):
    """Run fn at exit or on a fatal signal unless remove_cleanup(fn) first."""
    global _handlers_installed
    if not _handlers_installed:
        atexit.register(_run_cleanups)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, _on_signal)
        _handlers_installed = True
    with _cleanup_lock:
        _cleanups.append(fn)


def remove_cleanup(fn):
    with _cleanup_lock:
        if fn in _cleanups:
            _cleanups.remove(fn)


def run(argv, check_rc=True, input=None, timeout=30):
    """Run a command; fail with its output when it exits non-zero."""
    try:
        p = subprocess.run(argv, input=input, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s did not finish within %ss" % (" ".join(argv), timeout))
    if check_rc and p.returncode != 0:
        fail("%s exited %d\nstdout: %s\nstderr: %s" % (
            " ".join(argv), p.returncode, p.stdout.strip(), p.stderr.strip()))
    return p


def stop_process(p, sig=signal.SIGTERM, timeout=5):
    """Signal a process we started and reap it; kill it if it lingers."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout)
    return p.returncode


# ---------------------------------------------------------------------------
# Network namespaces

_ns_counter = itertools.count(1)


class Netns:
    """A network namespace of this test, deleted whatever happens.

    nft: an nftables ruleset loaded with nft -f - in the namespace.
    sysctls: {"net.netfilter.x": value} set in the namespace.
    addrs: addresses ("10.77.0.1/24", "fd77::1/64") for interface ctsd0,
    a dummy interface, or a veth pair where the kernel has no dummy driver.
    """

    def __init__(self, nft=TRACK_ALL, sysctls=None, addrs=None):
        self.name = "ctsd-%d-%d" % (os.getpid(), next(_ns_counter))
        self.nft_rules = nft
        self.sysctls = dict(sysctls or {})
        self.addrs = list(addrs or [])
        self.iface = "ctsd0"
        self.procs = []
        self.created = False

    def __enter__(self):
        add_cleanup(self.close)
        try:
            run(["ip", "netns", "add", self.name])
            self.created = True
            run(["ip", "-n", self.name, "link", "set", "lo", "up"])
            if self.addrs:
                self._add_iface()
            for k, v in self.sysctls.items():
                self.set_sysctl(k, v)
            if self.nft_rules:
                self.nft(self.nft_rules)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _add_iface(self):
        ipn = ["ip", "-n", self.name]
        p = run(ipn + ["link", "add", self.iface, "type", "dummy"],
                check_rc=False)
        if p.returncode != 0:
            run(ipn + ["link", "add", self.iface, "type", "veth", "peer",
                       "name", self.iface + "p"])
            run(ipn + ["link", "set", self.iface + "p", "up"])
        for a in self.addrs:
            extra = ["nodad"] if ":" in a else []
            run(ipn + ["addr", "add", a, "dev", self.iface] + extra)
        run(ipn + ["link", "set", self.iface, "up"])

    def close(self):
        """Stop what runs inside, delete the namespace, check it is gone."""
        remove_cleanup(self.close)
        for p in self.procs:
            stop_process(p, signal.SIGKILL)
        self.procs = []
        if self.created:
            self.created = False
            run(["ip", "netns", "del", self.name], check_rc=False)
            check(not os.path.exists("/run/netns/" + self.name),
                  "namespace %s was not deleted" % self.name)

    def exec(self, argv, check_rc=True, input=None, timeout=30):
        """Run a command inside the namespace."""
        return run(["ip", "netns", "exec", self.name] + list(argv),
                   check_rc=check_rc, input=input, timeout=timeout)

    def popen(self, argv, **kw):
        """Start a command inside the namespace; it is killed on close."""
        p = subprocess.Popen(["ip", "netns", "exec", self.name] + list(argv),
                             **kw)
        self.procs.append(p)
        return p

    def nft(self, rules):
        self.exec(["nft", "-f", "-"], input=rules)

    def sysctl(self, name):
        return self.exec(["sysctl", "-n", name]).stdout.strip()

    def set_sysctl(self, name, value):
        self.exec(["sysctl", "-q", "-w", "%s=%s" % (name, value)])

    def conntrack(self, *args, check_rc=True):
        return self.exec(["conntrack"] + list(args), check_rc=check_rc)

    def evict_expired(self):
        """List the table: the kernel then removes entries whose timeout
        has passed at once (DESTROY now, not when its garbage collector
        next runs, which can take a minute)."""
        self.conntrack("-L", check_rc=False)
        self.conntrack("-L", "-f", "ipv6", check_rc=False)

    def call(self, fn, *args, timeout=20):
        """Run fn(*args) in a fresh interpreter inside the namespace and
        return its result (which must be JSON-serialisable).  fn must be
        a module-level function of this file or of a test script."""
        mod = sys.modules[fn.__module__]
        path = os.path.abspath(mod.__file__)
        boot = (
            "import importlib.util, json, sys\n"
            "sys.path.insert(0, %r)\n"
            "spec = importlib.util.spec_from_file_location('ctsd_child', %r)\n"
            "m = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(m)\n"
            "r = getattr(m, %r)(*json.loads(sys.argv[1]))\n"
            "print('CTSD-RESULT ' + json.dumps(r))\n"
        ) % (HERE, path, fn.__name__)
        p = self.exec([PYTHON, "-c", boot, json.dumps(args)], timeout=timeout)
        for line in reversed(p.stdout.splitlines()):
            if line.startswith("CTSD-RESULT "):
                return json.loads(line[len("CTSD-RESULT "):])
        fail("%s printed no result: %s" % (fn.__name__, p.stdout))


# ---------------------------------------------------------------------------
# Matching events

def matches(value, pattern):
    """Whether value matches pattern: dicts match member by member (members
    not in the pattern are ignored), callables are predicates, anything
    else must be equal."""
    if callable(pattern):
        return bool(pattern(value))
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and matches(value[k], v) for k, v in pattern.items())
    return value == pattern


def select_events(events, **pattern):
    return [e for e in events if matches(e, pattern)]


def first(events, **pattern):
    for e in events:
        if matches(e, pattern):
            return e
    return None


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z$")


def parse_time(s, digits=None):
    """Parse an RFC 3339 UTC time ("...Z") into ns since the epoch;
    digits, when given, is the required number of fractional digits."""
    m = _RFC3339.match(s) if isinstance(s, str) else None
    check(m is not None, "not an RFC 3339 UTC time: %r" % (s,))
    frac = m.group(7) or ""
    if digits is not None:
        check_eq(len(frac), digits, "fractional digits of %r" % s)
    try:
        dt = datetime.datetime(*[int(g) for g in m.groups()[:6]],
                               tzinfo=datetime.timezone.utc)
    except ValueError as e:
        fail("not a valid time: %r (%s)" % (s, e))
    ns = int((frac + "000000000")[:9]) if frac else 0
    return int(dt.timestamp()) * 1000000000 + ns


# ---------------------------------------------------------------------------
# The daemon

class Daemon:
    """ctstreamd --stdout --netns NS [args], read and checked line by line.

    netns: what to give --netns (default: the namespace's name; a path
    works too).  allow_stderr: extra regular expressions for stderr lines
    this test expects; every stderr line must match one of them or a
    default one.

    For the tests of loss, operations and namespaces (all optional, the
    defaults keep the strict checks above):
    allow_loss: overrun and lost lines are expected (and LOSS_STDERR
    lines on stderr); seq_gaps: seq must only go up (other clients'
    snapshots, gets and dumps take numbers too); validate: "all", or
    "sample" (see check_schema_sampled) for runs of 100,000 lines;
    netns_all: --netns-all instead of --netns (then ns may be None);
    env: the daemon's environment; prefix: argv put before the daemon's
    (a wrapper such as "sh -c 'exec \"$@\"'"); sockets_none: False
    leaves out "--events-socket none --control-socket none" (for a
    configuration file that names the sockets: the test must then name
    sockets of its own there).
    """

    def __init__(self, ns, args=(), netns=None, allow_stderr=(),
                 ready_timeout=10, allow_loss=False, seq_gaps=False,
                 validate="all", netns_all=False, env=None, prefix=(),
                 sockets_none=True):
        self.label = netns or (ns.name if ns is not None else None)
        # No sockets unless a test asks for them: tests run in parallel
        # and must not share /run/ctstreamd.
        where = ["--netns-all"] if netns_all else ["--netns", self.label]
        none = ["--events-socket", "none", "--control-socket", "none"] \
            if sockets_none else []
        self.argv = list(prefix) + [daemon_path(), "--stdout"] + where + \
            none + list(args)
        self.allow_loss = allow_loss
        self.seq_gaps = seq_gaps
        self.validate = validate
        self.env = env
        self._last_seq = 0
        self._shapes = {}
        lab = r"[^ :]+" if netns_all else re.escape(self.label)
        if allow_loss:
            allow_stderr = list(allow_stderr) + LOSS_STDERR
        self.allow = [re.compile(p) for p in [
            r"^ctstreamd: monitoring %s: types [a-z,]+, events [a-z,]+, "
            r"receive buffer \d+ bytes(, reliable)?(, kernel filter)?$" % lab,
            r"^ctstreamd: signal 15 received, exiting$",
            r"^ctstreamd: running as (root without capabilities|uid \d+, "
            r"gid \d+, without capabilities)",
            r"^ctstreamd: ready$",
            r"^ctstreamd: %s: \d+ entries known at startup$" % lab,
            r"^ctstreamd: listening for (subscribers|requests) on ",
            r"^ctstreamd: %s: net\.netfilter\.nf_conntrack_events is 2: " % lab,
            r"^ctstreamd: %s: net\.netfilter\.nf_conntrack_acct is 0: " % lab,
            r"^ctstreamd: %s: net\.netfilter\.nf_conntrack_timestamp is 0: "
            % lab,
        ] + list(allow_stderr)]
        self.ready_timeout = ready_timeout
        self.events = []        # parsed, valid lines, in order
        self.raw = []           # the lines as read (bytes)
        self.errors = []        # what was wrong with the output
        self.stderr = []
        self.cond = threading.Condition()
        self.proc = None
        self.returncode = None
        self.started_ns = None
        self.ready = False

    # -- start and stop

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self._terminate()
        return False

    def start(self):
        self.started_ns = time.time_ns()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env)
        add_cleanup(self._terminate)
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + self.ready_timeout
        with self.cond:
            while not self.ready:
                left = deadline - time.monotonic()
                if self.proc.poll() is not None or left <= 0:
                    break
                self.cond.wait(min(left, 0.1))
        if not self.ready:
            self._terminate()
            fail("daemon not ready within %ss (exit status %s); stderr:\n%s"
                 % (self.ready_timeout, self.proc.returncode,
                    "\n".join(self.stderr)))

    def _terminate(self):
        remove_cleanup(self._terminate)
        if self.proc is not None:
            self.returncode = stop_process(self.proc)
            for t in self._threads:
                t.join(5)

    def stop(self):
        """SIGTERM; require exit 0, output fully valid, stderr expected."""
        if self.proc is None:
            return
        remove_cleanup(self._terminate)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("daemon did not exit within 10s of SIGTERM")
        for t in self._threads:
            t.join(5)
        self._raise_errors()
        check(self.returncode == 0,
              "daemon exited %s on SIGTERM; stderr:\n%s"
              % (self.returncode, "\n".join(self.stderr)))
        bad = [l for l in self.stderr
               if not any(p.search(l) for p in self.allow)]
        check(not bad, "unexpected daemon stderr:\n" + "\n".join(bad))

    # -- reading

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.stderr.append(line)
                if line == "ctstreamd: ready":
                    self.ready = True
                self.cond.notify_all()

    def _read_stdout(self):
        for raw in self.proc.stdout:
            err = None
            try:
                ev = self._check_line(raw, len(self.events) + 1)
            except TestFailure as e:
                ev, err = None, "line %d: %s\n  %r" % (
                    len(self.raw) + 1, e, raw)
            with self.cond:
                self.raw.append(raw)
                if err is not None:
                    self.errors.append(err)
                else:
                    self.events.append(ev)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _check_line(self, raw, expect_seq):
        """Check one output line; return it parsed."""
        check(raw.endswith(b"\n"), "line does not end with a newline")
        text = raw[:-1].decode("utf-8")

        def no_dups(pairs):
            keys = [k for k, _ in pairs]
            check(len(keys) == len(set(keys)), "duplicate member in %r" % keys)
            return dict(pairs)
        ev = json.loads(text, object_pairs_hook=no_dups)
        check(isinstance(ev, dict), "not a JSON object")
        check(json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
              == text, "not compact JSON")
        if self.validate == "all":
            check_schema(ev)
        else:
            check_schema_sampled(ev, self._shapes)
        if not self.allow_loss:
            check(ev.get("type") not in ("overrun", "lost"),
                  "the daemon reports lost events: %s" % text)
        t = parse_time(ev.get("time"))
        check(self.started_ns - 5 * 10**9 <= t <= time.time_ns() + 5 * 10**9,
              "time %s is not the time of receipt" % ev["time"])
        if ev.get("type") == "lost":
            return ev               # for one reader only: no seq
        if self.seq_gaps:
            check(isinstance(ev.get("seq"), int) and
                  ev["seq"] > self._last_seq, "seq %r after %d: it must "
                  "go up" % (ev.get("seq"), self._last_seq))
        else:
            check_eq(ev.get("seq"), self._last_seq + 1, "seq (it must "
                     "count up by 1 from 1, line to line)")
        self._last_seq = ev["seq"]
        return ev

    def _raise_errors(self):
        if self.errors:
            fail("invalid daemon output:\n" + "\n".join(self.errors[:10]))

    # -- waiting

    def wait_for(self, pred, what, timeout=10, poke=None, poke_every=0.3):
        """Poll pred(events) until it returns something true, and return
        that.  poke() is called now and then while waiting (e.g. to make
        the kernel expire entries).  Fails on timeout, on invalid output
        and when the daemon dies."""
        deadline = time.monotonic() + timeout
        next_poke = time.monotonic()
        while True:
            with self.cond:
                self._raise_errors()
                r = pred(list(self.events))
                if r:
                    return r
                if self.proc.poll() is not None:
                    fail("daemon exited (%s) while waiting for %s; stderr:\n%s"
                         % (self.proc.returncode, what,
                            "\n".join(self.stderr)))
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if poke is None or time.monotonic() < next_poke:
                    self.cond.wait(min(left, poke_every if poke else left))
                    continue
            poke()
            next_poke = time.monotonic() + poke_every
        fail("timed out after %ss waiting for %s; the daemon wrote:\n%s" % (
            timeout, what, "\n".join(r.decode("utf-8", "replace").rstrip()
                                     for r in self.raw[-30:]) or "(nothing)"))

    def wait_match(self, what, timeout=10, poke=None, **pattern):
        """Wait for the first event matching pattern and return it."""
        return self.wait_for(lambda evs: first(evs, **pattern), what,
                             timeout=timeout, poke=poke)

    @property
    def pid(self):
        return self.proc.pid

    def wait_stderr(self, regex, what=None, timeout=10, count=1):
        """Wait until count stderr lines match regex; return them."""
        pat = re.compile(regex)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [l for l in self.stderr if pat.search(l)]
                if len(got) >= count:
                    return got
                if self.proc.poll() is not None:
                    fail("daemon exited (%s) while waiting for %s; "
                         "stderr:\n%s" % (self.proc.returncode,
                                          what or regex,
                                          "\n".join(self.stderr)))
                left = deadline - time.monotonic()
                if left <= 0:
                    fail("timed out after %ss waiting for %s on stderr:\n%s"
                         % (timeout, what or regex, "\n".join(self.stderr)))
                self.cond.wait(min(left, 0.2))


# What the daemon says on stderr when it loses events (Daemon(allow_loss)).
LOSS_STDERR = [
    r"^ctstreamd: [^ :]+: event socket overrun: the kernel dropped \d+ "
    r"messages$",
    r"^ctstreamd: [^ :]+: receive buffer grown to \d+ bytes$",
    r"^ctstreamd: [^ :]+: receive buffer at its maximum \(\d+ bytes, "
    r"--rcvbuf-max\): overruns will go on losing events \(this is logged "
    r"once\)$",
    r"^ctstreamd: [^ :]+: resync done: \d+ entries added, \d+ vanished$",
]



def namespace_stderr(names):
    """What the daemon says on stderr about each namespace it opens, for a
    Daemon(allow_stderr) when it monitors others besides its first."""
    out = []
    for n in names:
        n = re.escape(n)
        out += [
            r"^ctstreamd: monitoring %s: types [a-z,]+, events [a-z,]+, "
            r"receive buffer \d+ bytes$" % n,
            r"^ctstreamd: %s: \d+ entries known at startup$" % n,
            r"^ctstreamd: %s: net\.netfilter\.nf_conntrack_"
            r"(events is 2|acct is 0|timestamp is 0): " % n,
        ]
    return out


# What the daemon says on stderr with --netns-all: whatever it says about
# other people's namespaces too (Daemon(allow_stderr), with allow_loss).
NETNS_ALL_STDERR = [
    r"^ctstreamd: (?!ctsd-%d-)[^ :]+: " % os.getpid(),
    r"^ctstreamd: monitoring (?!ctsd-%d-)[^ :]+: " % os.getpid(),
    r"^ctstreamd: following the namespaces under /run/netns \(\d+ now\)$",
    r"^ctstreamd: monitoring [^ :]+: types ",
    r"^ctstreamd: [^ :]+: \d+ entries known at startup$",
    r"^ctstreamd: [^ :]+: net\.netfilter\.nf_conntrack_",
    r"^ctstreamd: [^ :]+: the namespace is gone; its sockets are closed$",
    r"^ctstreamd: [^ :]+: (not monitored|cannot monitor): ",
    r"^ctstreamd: [^ :]+: /run/netns/[^ ]+ never became a network namespace$",
    r"^ctstreamd: [^ :]+: cannot open the conntrack sockets",
    r"^ctstreamd: running as root without capabilities",
] + LOSS_STDERR


# ---------------------------------------------------------------------------
# conntrack -E as ground truth

class ConntrackEvents:
    """conntrack -E (or conntrack -E expect) in the namespace, started and
    subscribed before any traffic, its lines parsed into (kind, id, line)."""

    _LINE = re.compile(r"^\s*\[(NEW|UPDATE|DESTROY)\]\s")

    def __init__(self, ns, expect=False):
        self.ns = ns
        self.expect = expect
        self.lines = []
        self.cond = threading.Condition()

    def __enter__(self):
        argv = ["conntrack", "-E", "expect"] if self.expect else \
            ["conntrack", "-E", "-o", "id"]
        self.proc = self.ns.popen(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self._subscribed():
            if self.proc.poll() is not None:
                fail("conntrack -E exited: %s" % self.proc.stderr.read())
            check(time.monotonic() < deadline,
                  "conntrack -E did not subscribe within 10s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        stop_process(self.proc)
        self.thread.join(5)
        return False

    def _subscribed(self):
        """Whether conntrack's netlink socket has joined its groups: its
        row in /proc/PID/net/netlink (found by inode) shows them."""
        pid = self.proc.pid
        inodes = set()
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                m = re.match(r"socket:\[(\d+)\]$", link)
                if m:
                    inodes.add(m.group(1))
            with open("/proc/%d/net/netlink" % pid) as f:
                rows = [l.split() for l in f.readlines()[1:]]
        except OSError:
            return False
        return any(r[1] == "12" and r[3] != "00000000" and r[-1] in inodes
                   for r in rows if len(r) >= 10)

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def events(self):
        """[(kind, id or None, line)] of the event lines seen so far."""
        out = []
        with self.cond:
            lines = list(self.lines)
        for line in lines:
            m = self._LINE.match(line)
            if m is None:
                continue
            ids = re.findall(r"\bid=(\d+)", line)
            out.append((m.group(1).lower(), int(ids[-1]) if ids and
                        not self.expect else None, line))
        return out

    def wait_for(self, pred, timeout=10):
        """Poll pred(events()) until true or timeout; return events()."""
        deadline = time.monotonic() + timeout
        while not pred(self.events()) and time.monotonic() < deadline:
            with self.cond:
                self.cond.wait(0.1)
        return self.events()

    def wait_count(self, n, timeout=10):
        """Wait until at least n event lines came; return them all."""
        return self.wait_for(lambda evs: len(evs) >= n, timeout)

    def wait_event(self, kind, ident, timeout=10):
        """Wait for the event (kind, ident); return all events so far."""
        return self.wait_for(
            lambda evs: any(k == kind and i == ident for k, i, _ in evs),
            timeout)


def compare_with_conntrack(d, truth):
    """Every conntrack event conntrack -E saw is in the daemon's output,
    in the same order, with the same id and kind, and nothing more."""
    ours = [(e["event"], e["id"]) for e in d.events if e["type"] == "ct"]
    theirs = truth.wait_count(len(ours))
    check_eq([(k, i) for k, i, _ in theirs], ours,
             "ct events (kind, id) conntrack -E saw vs the daemon's; "
             "conntrack -E wrote:\n  " + "\n  ".join(l for _, _, l in theirs)
             + "\n")


# ---------------------------------------------------------------------------
# Traffic, run inside a namespace with Netns.call()

def _family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _sockname(s):
    a = s.getsockname()
    return [a[0], a[1]]


def _recv_upto(sock, n):
    """Read n bytes from a stream socket, or what came before EOF."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def tcp_flow(listen_addr, listen_port, connect_addr=None, connect_port=None,
             bind_addr=None, payload="hello"):
    """One TCP connection, closed cleanly by the client first.

    The server listens on listen_addr:listen_port; the client (bound to
    bind_addr if given) connects to connect_addr:connect_port (default:
    the listening address, different when NAT is in the way), sends
    payload, reads it echoed, and shuts its side down.  The server acks
    the client's FIN at once (TCP_QUICKACK) before closing, so the kernel
    always sees ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT in
    that order (a delayed ACK would otherwise ride on the server's FIN and
    CLOSE_WAIT be skipped, or not, depending on timing).
    """
    fam = _family(listen_addr)
    srv = socket.socket(fam, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((listen_addr, listen_port))
    srv.listen(1)
    cli = socket.socket(fam, socket.SOCK_STREAM)
    cli.settimeout(5)
    if bind_addr:
        cli.bind((bind_addr, 0))
    cli.connect((connect_addr or listen_addr, connect_port or listen_port))
    conn, peer = srv.accept()
    conn.settimeout(5)
    data = payload.encode()
    cli.sendall(data)
    conn.sendall(_recv_upto(conn, len(data)))
    echo = _recv_upto(cli, len(data))
    cli.shutdown(socket.SHUT_WR)
    eof = conn.recv(1)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
    conn.close()
    end = cli.recv(1)
    result = {"client": _sockname(cli), "server_peer": [peer[0], peer[1]],
              "server": _sockname(srv), "echo_ok": echo == data,
              "eof": eof == b"" and end == b""}
    cli.close()
    srv.close()
    return result


def udp_exchange(server_addr, server_port, sends=(1,), replies=(1,),
                 bind_addr=None, connect_addr=None, connect_port=None):
    """Datagrams of the given payload sizes from a client to a server, then
    replies of the given sizes back to where they came from.  Returns the
    client's address, the peer the server saw, and the sizes received."""
    fam = _family(server_addr)
    srv = socket.socket(fam, socket.SOCK_DGRAM)
    srv.bind((server_addr, server_port))
    srv.settimeout(5)
    cli = socket.socket(fam, socket.SOCK_DGRAM)
    cli.settimeout(5)
    if bind_addr:
        cli.bind((bind_addr, 0))
    dest = (connect_addr or server_addr, connect_port or server_port)
    got, back, peer = [], [], None
    for n in sends:
        cli.sendto(b"q" * n, dest)
    for _ in sends:
        data, peer = srv.recvfrom(65536)
        got.append(len(data))
    for n in replies:
        srv.sendto(b"r" * n, peer)
    for _ in replies:
        back.append(len(cli.recv(65536)))
    result = {"client": _sockname(cli), "server_peer": [peer[0], peer[1]],
              "received": got, "replies": back}
    cli.close()
    srv.close()
    return result


def ping(addr, ident, count=1):
    """iputils ping with a chosen ICMP identifier; returns its exit status."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2",
            "-e", str(ident), addr]
    if ":" in addr:
        argv.insert(1, "-6")
    return subprocess.run(argv, capture_output=True).returncode


def _ftp_reply(sock, expect_prefix):
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    if not data.startswith(expect_prefix):
        raise RuntimeError("FTP peer sent %r" % data)
    return data


def ftp_active(addr="127.0.0.1", port=21, data_from_port=20):
    """A tiny active-mode FTP exchange: the client logs in, announces a
    data port with PORT, the server connects to it from data_from_port,
    sends a line, and both sides say goodbye.  (The client speaks first
    with USER: the kernel's FTP helper only parses a command that follows
    a newline it has seen in the same direction.)"""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(1)
    ctl = socket.create_connection((addr, port), timeout=5)
    sc, _ = srv.accept()
    sc.settimeout(5)
    sc.sendall(b"220 ctsd fake ftp\r\n")
    _ftp_reply(ctl, b"220")
    ctl.sendall(b"USER anonymous\r\n")
    _ftp_reply(sc, b"USER")
    sc.sendall(b"230 logged in\r\n")
    _ftp_reply(ctl, b"230")
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind((addr, 0))
    lst.listen(1)
    dport = lst.getsockname()[1]
    ctl.sendall(("PORT %s,%d,%d\r\n" % (addr.replace(".", ","), dport >> 8,
                                        dport & 0xff)).encode())
    _ftp_reply(sc, b"PORT")
    sc.sendall(b"200 PORT ok\r\n")
    _ftp_reply(ctl, b"200")
    data = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    data.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    data.bind((addr, data_from_port))
    data.settimeout(5)
    data.connect((addr, dport))
    dc, _ = lst.accept()
    data.sendall(b"file contents\r\n")
    data.close()
    dc.close()
    ctl.sendall(b"QUIT\r\n")
    _ftp_reply(sc, b"QUIT")
    sc.sendall(b"221 bye\r\n")
    _ftp_reply(ctl, b"221")
    result = {"ctl_client": _sockname(ctl), "ctl_server": _sockname(sc),
              "data_port": dport, "data_from": [addr, data_from_port]}
    ctl.close()
    sc.close()
    lst.close()
    srv.close()
    return result


def poll(fn, what, timeout=10, interval=0.2):
    """Call fn() every interval seconds until it returns something true,
    and return that; fail after timeout.  (For long runs, where waiting
    on every line, as Daemon.wait_for does, would cost too much.)"""
    deadline = time.monotonic() + timeout
    while True:
        r = fn()
        if r:
            return r
        if time.monotonic() >= deadline:
            fail("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


# ---------------------------------------------------------------------------
# The daemon's Unix sockets

def _check_reply(r):
    """The shape of {"type":"reply",...}: ok true with an optional result,
    or ok false with error {code, message}.  (The schema describes the
    stream, not replies: one that it refuses is recorded as a gap.)"""
    if _schema_errors(r) is not None:
        SCHEMA_GAPS.setdefault('{"type":"reply",...} lines on the sockets',
                               json.dumps(r, separators=(",", ":"))[:200])
    check(set(r) <= {"type", "id", "ok", "result", "error"} and
          isinstance(r.get("ok"), bool), "not a reply: %r" % (r,))
    if r["ok"]:
        check("error" not in r, "ok reply with an error: %r" % (r,))
        res = r.get("result")
        if isinstance(res, dict) and res.get("type") in ("ct", "expect"):
            check_schema(res)       # get answers with an event
    else:
        e = r.get("error")
        check(isinstance(e, dict) and set(e) == {"code", "message"} and
              all(isinstance(v, str) and v for v in e.values()),
              "error reply without code and message: %r" % (r,))


class Subscriber:
    """A client of the daemon's events or control socket.  Lines are read
    on a thread; replies ({"type":"reply"}) go to .replies, every other
    line to .events after a check: compact JSON, valid against the schema
    (check_schema: known gaps are recorded), seq going up among stream
    lines and never down among entry lines (snapshot, dump, get), which
    carry the number of the last stream line and take none."""

    _ids = itertools.count(1)

    def __init__(self, path, timeout=10, validate="all"):
        self.path = path
        self.validate = validate
        self._shapes = {}
        self.lines = []
        self.events = []
        self.replies = []
        self.errors = []
        self.eof = False
        self.cond = threading.Condition()
        self._last = {}
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(path)
                break
            except OSError as e:
                self.sock.close()
                check(time.monotonic() < deadline,
                      "cannot connect to %s: %s" % (path, e))
                time.sleep(0.05)
        add_cleanup(self.close)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def close(self):
        remove_cleanup(self.close)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _read(self):
        f = self.sock.makefile("rb")
        try:
            for raw in f:
                self._line(raw)
        except (OSError, ValueError):
            pass
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def _line(self, raw):
        err, ev = None, None
        try:
            check(raw.endswith(b"\n"), "line does not end with a newline")
            text = raw[:-1].decode("utf-8")
            ev = json.loads(text)
            check(isinstance(ev, dict), "not a JSON object")
            check(json.dumps(ev, separators=(",", ":"), ensure_ascii=False)
                  == text, "not compact JSON")
            if ev.get("type") == "reply":
                _check_reply(ev)
            else:
                if self.validate == "all":
                    check_schema(ev)
                else:
                    check_schema_sampled(ev, self._shapes)
                if "seq" in ev:
                    # A stream line takes the next number; an entry
                    # written for one client (snapshot, dump, get)
                    # carries the number of the last stream line.
                    if ev.get("event") in ("snapshot", "dump", "get"):
                        last = self._last.get("entry", 0)
                        check(ev["seq"] >= last, "%s seq %d after %d"
                              % (ev["event"], ev["seq"], last))
                        self._last["entry"] = ev["seq"]
                    else:
                        last = self._last.get("live", 0)
                        check(ev["seq"] > last, "live seq %d after %d"
                              % (ev["seq"], last))
                        self._last["live"] = ev["seq"]
        except (TestFailure, ValueError) as e:
            err = "line %d: %s\n  %r" % (len(self.lines) + 1, e, raw[:300])
        with self.cond:
            if err is not None:
                self.errors.append(err)
            else:
                self.lines.append(ev)
                (self.replies if ev.get("type") == "reply"
                 else self.events).append(ev)
            self.cond.notify_all()

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def wait_for(self, pred, what, timeout=10, poke=None, poke_every=0.3,
                 source="events"):
        """Poll pred(self.events) (or another list: source) until true."""
        deadline = time.monotonic() + timeout
        next_poke = time.monotonic()
        while True:
            with self.cond:
                if self.errors:
                    fail("invalid output on %s:\n%s"
                         % (self.path, "\n".join(self.errors[:10])))
                r = pred(list(getattr(self, source)))
                if r:
                    return r
                if self.eof:
                    fail("%s closed the connection while waiting for %s"
                         % (self.path, what))
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if poke is None or time.monotonic() < next_poke:
                    self.cond.wait(min(left, poke_every))
                    continue
            poke()
            next_poke = time.monotonic() + poke_every
        fail("timed out after %ss waiting for %s on %s; last lines:\n%s" % (
            timeout, what, self.path, "\n".join(
                json.dumps(l) for l in self.lines[-20:]) or "(nothing)"))

    def request(self, obj, timeout=10):
        """Send a command (an id is added) and return its reply."""
        obj = dict(obj)
        obj.setdefault("id", "r%d" % next(self._ids))
        self.send(obj)
        return self.wait_for(
            lambda rs: next((r for r in rs if r.get("id") == obj["id"]),
                            None),
            "the reply to %s" % json.dumps(obj), timeout, source="replies")

    def check_clean(self):
        if self.errors:
            fail("invalid output on %s:\n%s"
                 % (self.path, "\n".join(self.errors[:10])))


def control(path, obj, timeout=10):
    """One command on the control socket: returns (reply, the lines that
    came before it, e.g. a dump's)."""
    with Subscriber(path) as c:
        r = c.request(obj, timeout)
        c.check_clean()
        return r, list(c.events)


def control_ok(path, obj, timeout=10):
    """control() that requires "ok":true; returns (result, lines)."""
    r, lines = control(path, obj, timeout)
    check(r.get("ok") is True, "%s: %r" % (json.dumps(obj), r))
    return r.get("result"), lines


# ---------------------------------------------------------------------------
# Processes and sockets in /proc

def proc_status(pid):
    """/proc/PID/status as a dict of strings."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def socket_inodes(pid):
    """The inodes of the sockets process pid has open."""
    out = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            m = re.match(r"socket:\[(\d+)\]$",
                         os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            continue
        if m:
            out.add(int(m.group(1)))
    return out


def children(pid):
    """The pids of pid's children (by PPid in /proc/*/status)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if proc_status(int(d)).get("PPid") == str(pid):
                out.append(int(d))
        except OSError:
            pass
    return out


def netlink_rows(ns):
    """/proc/net/netlink in namespace ns, as dicts keyed by its header
    (Eth, Pid, Groups, Drops, Inode, ... as ints)."""
    lines = ns.exec(["cat", "/proc/net/netlink"]).stdout.splitlines()
    head = lines[0].split()
    rows = []
    for line in lines[1:]:
        vals = line.split()
        if len(vals) != len(head):
            continue
        row = dict(zip(head, vals))
        for k in ("Eth", "Pid", "Rmem", "Wmem", "Dump", "Locks", "Drops",
                  "Inode"):
            row[k] = int(row[k])
        row["Groups"] = int(row["Groups"], 16)
        rows.append(row)
    return rows


def conntrack_ids(ns, *args):
    """The ids of the entries conntrack -L lists (both families)."""
    ids = set()
    for fam in ("ipv4", "ipv6"):
        out = ns.conntrack("-L", "-f", fam, "-o", "id", *args,
                           check_rc=False).stdout
        ids |= {int(x) for x in re.findall(r"\bid=(\d+)", out)}
    return ids


def load_entries(ns, n, timeout=600, src_net=10, dport=53, proto="udp"):
    """Create n conntrack entries at once with conntrack -R (a file of -I
    lines): UDP from 10.<src_net>.x.y:port to 10.255.0.1:53, timeout
    `timeout`.  Returns how many conntrack -C counts afterwards."""
    import tempfile
    with tempfile.NamedTemporaryFile("w", prefix="ctsd-load-",
                                     suffix=".txt") as f:
        for i in range(n):
            f.write("-I -p %s -s 10.%d.%d.%d -d 10.255.0.1 --sport %d "
                    "--dport %d -t %d\n" % (proto, src_net, (i >> 8) & 255,
                                            i & 255, 1024 + (i >> 16),
                                            dport, timeout))
        f.flush()
        ns.conntrack("-R", f.name)
    return int(ns.conntrack("-C").stdout.strip())


def udp_flood(addr, port0, n, sources=1):
    """n datagrams from one socket per source to n distinct ports from
    port0 on: n new conntrack entries (nobody listens; an nftables rule
    on input can drop them so no ICMP error comes back).  Returns n."""
    fam = _family(addr)
    socks = [socket.socket(fam, socket.SOCK_DGRAM) for _ in range(sources)]
    for i in range(n):
        try:
            socks[i % sources].sendto(b"f", (addr, port0 + i))
        except OSError:             # an ICMP error reported back
            socks[i % sources].sendto(b"f", (addr, port0 + i))
    for s in socks:
        s.close()
    return n


# ---------------------------------------------------------------------------
# Running a test program

def main(cases, needs_root=True, needs_schema=True):
    """Run test cases (functions), TAP-style; the exit status follows the
    automake protocol (0 pass, 1 fail, 77 skip).  Arguments select cases
    by name."""
    try:
        if needs_root:
            require_root()
            require_tools()
        if needs_schema:
            validator()
    except TestFailure as e:
        print("Bail out! %s" % e)
        return 1
    wanted = sys.argv[1:]
    todo = [c for c in cases if not wanted or c.__name__ in wanted]
    t0 = time.monotonic()
    failed = []
    print("1..%d" % len(todo))
    for n, case in enumerate(todo, 1):
        t = time.monotonic()
        try:
            case()
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (n, case.__name__, e))
        except TestFailure as e:
            failed.append(case.__name__)
            print("not ok %d - %s (%.1fs)" % (n, case.__name__,
                                               time.monotonic() - t))
            bug = getattr(case, "daemon_bug", None)
            if bug:
                print("# DAEMON BUG: " + bug)
            for line in str(e).splitlines():
                print("#   " + line)
        except Exception:
            failed.append(case.__name__)
            print("not ok %d - %s (error)" % (n, case.__name__))
            for line in traceback.format_exc().splitlines():
                print("#   " + line)
        else:
            print("ok %d - %s (%.1fs)" % (n, case.__name__,
                                          time.monotonic() - t))
        sys.stdout.flush()
    _run_cleanups()
    for name, example in sorted(SCHEMA_GAPS.items()):
        print("# SCHEMA LACKS: %s, e.g. %s" % (name, example))
    print("# %d of %d failed in %.1fs%s" % (
        len(failed), len(todo), time.monotonic() - t0,
        (": " + ", ".join(failed)) if failed else ""))
    return 1 if failed else 0


def daemon_bug(description):
    """Mark a test case as exposing a known daemon bug.  The case still
    runs and still fails until the daemon is fixed; the mark only makes the
    report say so."""
    def mark(fn):
        fn.daemon_bug = description
        return fn
    return mark
