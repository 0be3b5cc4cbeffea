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
interpreter under ip netns exec and returns the function's JSON result;
Netns.spawn() runs one in the background (report(), stop_requested()).

The sockets: Daemon(..., sockets=True) puts the events and control
sockets in a temporary directory of its own (events_path, control_path;
stdout=False leaves out --stdout).  Client connects to one and checks
every line it reads with check_socket_line(): one compact JSON object per
line; event, overrun and lost lines valid against the schema; reply, sync
and error lines too when the schema describes them, otherwise checked by
hand and reported at the end (schema_lacks); live lines in increasing
order of seq.  A compiled form of the schema (fast_validator) checks bulk
lines, jsonschema explains every refusal and checks a sample of each kind
of line.  run_as() runs a client as another user; parse_conntrack_line()
and conntrack_list() read conntrack's text as ground truth.

Environment: CTSTREAMD (the daemon), CTSTREAMD_SRCDIR, CTSTREAMD_BUILDDIR,
as make check sets them; CTSTREAMD_SCHEMA overrides the schema path (for
trying a draft schema); CTSTREAMD_TIME_SCALE multiplies every plain
timeout (see scaled()).  Only the Python standard library and jsonschema.
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

# The factor of every plain timeout, that is a wait for something that
# must come and fails only when it has not come in time: 1, or more for
# a daemon that is slower by build, as the sanitizer build's is (its
# make check sets CTSTREAMD_TIME_SCALE).  What a test asserts about time
# (check(took <= ...), a bound the daemon promises) is never scaled.
TIME_SCALE = max(1.0, float(os.environ.get("CTSTREAMD_TIME_SCALE") or 1))


def scaled(seconds):
    """A plain timeout of `seconds` for this build (TIME_SCALE)."""
    return seconds * TIME_SCALE

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

# Conntrack on, and the FTP helper on connections to port 21 (the kernel
# no longer assigns helpers by port by itself).
FTP_RULES = """
table inet ctsd_ftp {
	ct helper ftp-std {
		type "ftp" protocol tcp;
	}
	chain out {
		type filter hook output priority filter; policy accept;
		ct state new counter
		tcp dport 21 ct helper set "ftp-std"
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


def sanitized():
    """Whether the daemon under test is built with AddressSanitizer."""
    with open(daemon_path(), "rb") as f:
        return b"__asan_init" in f.read()


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


def require_tools(more=()):
    """Fail, naming the package, when a tool the tests run is missing
    (TOOLS, and more: pairs of tool and package)."""
    tools = dict(TOOLS)
    tools.update(dict(more))
    missing = ["%s (package %s)" % (t, p) for t, p in sorted(tools.items())
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
    timeout = scaled(timeout)
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
    timeout = scaled(timeout)
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

    def spawn(self, fn, *args):
        """Start fn(*args) in a fresh interpreter inside the namespace and
        return a Spawned handle at once: fn runs on while the test goes
        on, reports with report(), and is told to stop by the end of its
        standard input (stop_requested(), wait_for_stdin_eof())."""
        return Spawned(self, fn, args)

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
    allow_loss: overrun and lost lines are expected (and LOSS_STDERR and
    RETRY_STDERR lines on stderr); seq_gaps: seq must only go up (other
    clients' snapshots, gets and dumps take numbers too); validate: "all", or
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
                 sockets_none=True, stdout=True, sockets=False):
        self.label = netns or (ns.name if ns is not None else None)
        # No sockets unless a test asks for them: tests run in parallel
        # and must not share /run/ctstreamd.  sockets=True puts both in a
        # temporary directory of this daemon (events_path, control_path),
        # removed when it stops; stdout=False leaves out --stdout.
        where = ["--netns-all"] if netns_all else ["--netns", self.label]
        self.sockdir = self.events_path = self.control_path = None
        sock_args = ["--events-socket", "none", "--control-socket", "none"] \
            if sockets_none else []
        if sockets:
            self.sockdir = make_socket_dir()
            self.events_path = os.path.join(self.sockdir, "events.sock")
            self.control_path = os.path.join(self.sockdir, "control.sock")
            sock_args = ["--events-socket", self.events_path,
                         "--control-socket", self.control_path]
        self.argv = list(prefix) + [daemon_path()] + \
            (["--stdout"] if stdout else []) + where + sock_args + list(args)
        self.allow_loss = allow_loss
        self.seq_gaps = seq_gaps
        self.validate = validate
        self.env = env
        self._last_seq = 0
        self._shapes = {}
        lab = r"[^ :]+" if netns_all else re.escape(self.label)
        if allow_loss:
            allow_stderr = list(allow_stderr) + LOSS_STDERR + RETRY_STDERR
        self.allow = [re.compile(p) for p in [
            r"^ctstreamd: monitoring %s: types [a-z,]+, events [a-z,]+, "
            r"receive buffer \d+ bytes(, reliable( \(expectations on a "
            r"socket of their own\))?)?(, kernel filter)?$" % lab,
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
        deadline = time.monotonic() + scaled(self.ready_timeout)
        with self.cond:
            while not self.ready:
                left = deadline - time.monotonic()
                if self.proc.poll() is not None or left <= 0:
                    break
                self.cond.wait(min(left, 0.1))
        if not self.ready:
            self._terminate()
            fail("daemon not ready within %ss (exit status %s); stderr:\n%s"
                 % (scaled(self.ready_timeout), self.proc.returncode,
                    "\n".join(self.stderr)))

    def _terminate(self):
        remove_cleanup(self._terminate)
        if self.proc is not None:
            self.returncode = stop_process(self.proc)
            for t in self._threads:
                t.join(5)
        self._remove_sockdir()

    def _remove_sockdir(self):
        if self.sockdir is not None:
            remove_socket_dir(self.sockdir)
            self.sockdir = None

    def stop(self):
        """SIGTERM; require exit 0, output fully valid, stderr expected."""
        if self.proc is None:
            return
        remove_cleanup(self._terminate)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(scaled(10))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("daemon did not exit within %ss of SIGTERM" % scaled(10))
        for t in self._threads:
            t.join(5)
        self._remove_sockdir()
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
        timeout = scaled(timeout)
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
        timeout = scaled(timeout)
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
# An event socket in logs: the namespace's label, and for the expectation
# socket of --reliable "LABEL (expectations)".
_SOCK = r"[^ :]+( \(expectations\))?"

LOSS_STDERR = [
    r"^ctstreamd: %s: event socket overrun: the kernel dropped \d+ "
    r"messages$" % _SOCK,
    r"^ctstreamd: %s: receive buffer grown to \d+ bytes$" % _SOCK,
    r"^ctstreamd: %s: receive buffer at its maximum \(\d+ bytes, "
    r"--rcvbuf-max\): overruns will go on losing events \(this is logged "
    r"once\)$" % _SOCK,
    r"^ctstreamd: [^ :]+: resync done: \d+ entries added, \d+ vanished$",
]

# What --reliable logs when the kernel retries deliveries (no loss).
RETRY_STDERR = [
    r"^ctstreamd: [^ :]+: \d+ event deliveries failed on a full receive "
    r"buffer and are retried by the kernel \(--reliable\), \d+ so far$",
    r"^ctstreamd: [^ :]+: receive buffer grown to \d+ bytes$",
    r"^ctstreamd: [^ :]+: receive buffer at its maximum \(\d+ bytes, "
    r"--rcvbuf-max\): the kernel will go on retrying deliveries \(this is "
    r"logged once\)$",
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
    # Other suites' floods (make check -j2) fill stdout faster than the
    # harness reads it; at exit the daemon says what it did not write.
    r"^ctstreamd: standard output: \d+ bytes not written at exit ",
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

    def __init__(self, ns, expect=False, extended=False):
        self.ns = ns
        self.expect = expect
        self.extended = extended        # -o id,extended: lines name family
        self.lines = []
        self.cond = threading.Condition()

    def __enter__(self):
        # (Its event socket keeps the default receive buffer: conntrack
        # 1.4.7 applies -b to another socket.  A flood of events at once
        # overruns it; tests pace floods by what it saw.)
        argv = ["conntrack", "-E", "expect"] if self.expect else \
            ["conntrack", "-E", "-o", "id,extended" if self.extended
             else "id"]
        self.proc = self.ns.popen(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + scaled(10)
        while not self._subscribed():
            if self.proc.poll() is not None:
                fail("conntrack -E exited: %s" % self.proc.stderr.read())
            check(time.monotonic() < deadline,
                  "conntrack -E did not subscribe within %ss" % scaled(10))
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
        timeout = scaled(timeout)
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

    def parsed(self):
        """The conntrack event lines seen so far, parsed with
        parse_conntrack_line() (kind, id, family with extended, tuples,
        flags)."""
        return [parse_conntrack_line(line) for _, _, line in self.events()]


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


def udp_server(port):
    """A UDP socket bound to 127.0.0.1:port, for udp_flow()."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", port))
    srv.settimeout(5)
    return srv


def udp_flow(srv, port):
    """One UDP flow to srv (a query and its answer, from a new port): a
    NEW and an UPDATE event."""
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.settimeout(5)
    c.sendto(b"q", ("127.0.0.1", port))
    data, peer = srv.recvfrom(100)
    srv.sendto(b"r", peer)
    c.recv(100)
    c.close()


def udp_trickle(server_port, pause=0.003):
    """Until told to stop (Netns.spawn): a UDP exchange every `pause`
    seconds or so (NEW and UPDATE events at a pace conntrack -E keeps up
    with); reports once the first is done, returns how many it made."""
    srv = udp_server(server_port)
    n = 0
    while not stop_requested():
        udp_flow(srv, server_port)
        n += 1
        if n == 1:
            report({"started": True})
        time.sleep(pause)
    srv.close()
    return n


def check_no_loss(ns, truth, client, port=5999, what="the subscriber"):
    """A last UDP exchange to port (the marker) in ns; once client (a
    Client of the events socket that receives every ct event) has its
    update, its (event, id) list up to that update must be conntrack
    -E's (truth), each connection's events in the same order, without
    overrun or lost lines.  Returns how
    many it compared."""
    m = ns.call(udp_exchange, "127.0.0.1", port)
    mk = client.wait_line(lambda l: l.get("event") == "update" and
                          l.get("orig", {}).get("sport") == m["client"][1],
                          "the marker's update on " + what, timeout=20)
    evs = truth.wait_event("update", mk["id"], timeout=20)
    ours = client.kind_ids()
    theirs = [(k, i) for k, i, _ in evs]
    # Up to the marker: what came after it may have reached one side only.
    end = ("update", mk["id"])
    for seq in (ours, theirs):
        if end in seq:
            del seq[seq.index(end) + 1:]
    # Events of different connections made at once on two CPUs may reach
    # two sockets in different orders (each CPU delivers its event to the
    # listeners in turn): what must agree is every connection's own order.
    def by_id(seq):
        out = {}
        for k, i in seq:
            out.setdefault(i, []).append(k)
        return out
    if ours != theirs and (len(ours) != len(theirs) or
                           by_id(ours) != by_id(theirs)):
        n = next((j for j, (a, b) in enumerate(zip(ours, theirs))
                  if a != b), min(len(ours), len(theirs)))
        fail("%s's events vs conntrack -E: %d and %d events, the first "
             "difference at %d: %r vs %r (conntrack -E: %r)" % (
                 what, len(ours), len(theirs), n, ours[n:n + 4],
                 theirs[n:n + 4], [l for _, _, l in evs[n:n + 2]]))
    return len(ours)


def poll(fn, what, timeout=10, interval=0.2):
    """Call fn() every interval seconds until it returns something true,
    and return that; fail after timeout.  (For long runs, where waiting
    on every line, as Daemon.wait_for does, would cost too much.)"""
    timeout = scaled(timeout)
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
        timeout = scaled(timeout)
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
        timeout = scaled(timeout)
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
# Functions running in the background inside a namespace (Netns.spawn)

def _boot_code(fn):
    """The source that runs a module-level function fn of this file or of
    a test script in a fresh interpreter; its arguments come as JSON in
    argv[1], its result goes to stdout as a CTSD-RESULT line."""
    mod = sys.modules[fn.__module__]
    path = os.path.abspath(mod.__file__)
    return (
        "import importlib.util, json, sys\n"
        "sys.path.insert(0, %r)\n"
        "spec = importlib.util.spec_from_file_location('ctsd_child', %r)\n"
        "m = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\n"
        "r = getattr(m, %r)(*json.loads(sys.argv[1]))\n"
        "print('CTSD-RESULT ' + json.dumps(r), flush=True)\n"
    ) % (HERE, path, fn.__name__)


def report(obj):
    """From a spawned function: tell the test something (one JSON value),
    now.  The test reads it with Spawned.wait_report()."""
    sys.stdout.write("CTSD-REPORT " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def stop_requested():
    """From a spawned function: whether the test closed our standard
    input (the request to stop).  Does not block."""
    import select
    r, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(r) and sys.stdin.buffer.read1(4096) == b""


def wait_for_stdin_eof():
    """From a spawned function: block until the test closes our standard
    input."""
    while sys.stdin.buffer.read1(4096) != b"":
        pass


class Spawned:
    """A function running in the background inside a namespace."""

    def __init__(self, ns, fn, args):
        self.name = fn.__name__
        self.proc = ns.popen([PYTHON, "-c", _boot_code(fn), json.dumps(args)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.reports = []
        self.result = None
        self.has_result = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                if line.startswith("CTSD-REPORT "):
                    self.reports.append(json.loads(line[12:]))
                elif line.startswith("CTSD-RESULT "):
                    self.result = json.loads(line[12:])
                    self.has_result = True
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def wait_report(self, pred=lambda r: True, timeout=10):
        """Wait for a report that satisfies pred and return it."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for r in self.reports:
                    if pred(r):
                        return r
                if self.proc.poll() is not None and not self.thread.is_alive():
                    fail("%s exited (%s) without the report awaited; "
                         "stderr:\n%s" % (self.name, self.proc.returncode,
                                          self.proc.stderr.read().decode()))
                left = deadline - time.monotonic()
                check(left > 0, "%s: no report awaited within %ss (got %r)"
                      % (self.name, timeout, self.reports[-5:]))
                self.cond.wait(min(left, 0.2))

    def send(self, text):
        """Write text to its standard input (for a function that reads
        commands from it, one a line)."""
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def finish(self, timeout=20):
        """Close its standard input (the request to stop), wait for it to
        end and return its result."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        timeout = scaled(timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("%s did not stop within %ss of being asked to"
                 % (self.name, timeout))
        self.thread.join(5)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        check(self.proc.returncode == 0 and self.has_result,
              "%s exited %s without a result; stderr:\n%s"
              % (self.name, self.proc.returncode, err))
        return self.result


# ---------------------------------------------------------------------------
# The daemon's sockets

def make_socket_dir():
    """A temporary directory for a daemon's sockets, removed at exit.  It
    is searchable by everyone, so that the socket mode alone decides who
    may connect (tests connect as nobody too)."""
    import tempfile
    path = tempfile.mkdtemp(prefix="ctsd-sock-%d-" % os.getpid())
    os.chmod(path, 0o755)
    add_cleanup(lambda: shutil.rmtree(path, ignore_errors=True))
    return path


def remove_socket_dir(path):
    shutil.rmtree(path, ignore_errors=True)


# The line types the daemon writes on its sockets, besides standard
# output's ct, expect, overrun and lost.
SOCKET_ONLY_TYPES = ("reply", "sync", "error")

# Line types the schema does not know (found while checking socket lines);
# main() reports them.
schema_lacks = set()
_schema_types = None


def schema_line_types():
    """The values of "type" the schema's top-level oneOf accepts."""
    global _schema_types
    if _schema_types is not None:
        return _schema_types
    validator()
    with open(schema_path(), encoding="utf-8") as f:
        schema = json.load(f)
    defs = schema.get("$defs", {})
    types = set()

    def collect(node, depth=0):
        if not isinstance(node, dict) or depth > 8:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            collect(defs.get(ref[len("#/$defs/"):]), depth + 1)
        t = node.get("properties", {}).get("type", {})
        if "const" in t:
            types.add(t["const"])
        for v in t.get("enum", []):
            types.add(v)
        for key in ("oneOf", "anyOf"):
            for sub in node.get(key, []):
                collect(sub, depth + 1)
    collect(schema)
    _schema_types = types
    return types


# ---------------------------------------------------------------------------
# A fast validator for bulk lines
#
# jsonschema takes about 2 ms per event line: too slow for the tens of
# thousands of lines a flood, a snapshot or a dump brings.  The schema uses
# a small set of keywords, so it is compiled here into Python source that
# says valid or not (formats are checked by jsonschema's own format
# checker).  jsonschema stays the reference: a line the compiled form
# refuses is explained (or, should they disagree, the disagreement
# reported) by jsonschema, and validate_schema() has jsonschema check
# every line too until a sample of each kind of line agreed, then one in
# SCHEMA_SAMPLE.  A schema with a keyword the compiler does not know is
# left to jsonschema alone.

SCHEMA_SAMPLE = 1024
SCHEMA_FULL_PER_KIND = 100
_ANNOTATIONS = {"$schema", "$id", "$comment", "$defs", "title",
                "description", "examples", "default", "deprecated"}


class _Unsupported(Exception):
    pass


def _json_equal(a, b):
    """Equality as JSON means it: true is not 1, 1.0 is 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k])
                                            for k in a)
    return type(a) is type(b) and a == b


class _Codegen:
    """Compile a schema into Python source: one function per schema node,
    its keywords as straight-line tests (a call per keyword costs more
    than the test).  Functions of $defs are shared, and those of scalar
    nodes remember their verdicts (addresses, names and times repeat from
    line to line)."""

    SCALAR = {"string", "integer", "number", "boolean", "null"}

    def __init__(self, defs, checker):
        self.defs = defs
        self.src = []
        self.ns = {"_json_equal": _json_equal, "_checker": checker,
                   "_unique": _unique_items}
        self.count = 0
        self.refs = {}

    def const(self, value):
        """A name for a constant in the generated module."""
        self.count += 1
        name = "_k%d" % self.count
        self.ns[name] = value
        return name

    def ref(self, name):
        if name not in self.defs:
            raise _Unsupported("$ref to a missing definition " + name)
        if name not in self.refs:
            self.refs[name] = None              # recursion: named below
            self.refs[name] = self.node(self.defs[name])
        return self.refs[name] or "_ref_" + name

    @staticmethod
    def type_expr(t):
        return {
            "object": "type(v) is dict",
            "array": "type(v) is list",
            "string": "type(v) is str",
            "boolean": "type(v) is bool",
            "null": "v is None",
            "integer": "(type(v) is int or (type(v) is float and "
                       "v.is_integer()))",
            "number": "(type(v) is int or type(v) is float)",
        }.get(t) or _raise(_Unsupported("type " + repr(t)))

    @staticmethod
    def const_expr(x, c, cname):
        """A test that x equals the constant c (named cname)."""
        if isinstance(c, str):
            return "(type(%s) is str and %s == %s)" % (x, x, cname)
        if isinstance(c, int) and not isinstance(c, bool):
            return "((type(%s) is int or type(%s) is float) and %s == %s)" \
                % (x, x, x, cname)
        return "_json_equal(%s, %s)" % (x, cname)

    def node(self, schema):
        """Generate the function of a schema node; return its name."""
        if schema is True or (isinstance(schema, dict) and
                              not set(schema) - _ANNOTATIONS):
            return "_true"
        if schema is False:
            return "_false"
        if not isinstance(schema, dict):
            raise _Unsupported("schema node %r" % (schema,))
        keys = set(schema) - _ANNOTATIONS
        if keys == {"$ref"}:
            return self.ref(self._refname(schema["$ref"]))
        self.count += 1
        name = "_n%d" % self.count
        body = []
        for kw, arg in schema.items():
            if kw in _ANNOTATIONS or kw in ("then", "else"):
                continue
            body.extend(self.keyword(schema, kw, arg))
        t = schema.get("type")
        scalar = t is not None and \
            set(t if isinstance(t, list) else [t]) <= self.SCALAR
        fn = name + "_" if scalar else name
        self.src.append("def %s(v):\n%s    return True\n" % (
            fn, "".join("    " + l + "\n" for l in body)))
        if scalar:
            memo = self.const({})
            self.src.append(
                "def %s(v):\n"
                "    t = type(v)\n"
                "    if t is str or t is int or t is float:\n"
                "        r = %s.get((t, v))\n"
                "        if r is None:\n"
                "            r = %s(v)\n"
                "            if len(%s) < 65536:\n"
                "                %s[(t, v)] = r\n"
                "        return r\n"
                "    return %s(v)\n" % (name, memo, fn, memo, memo, fn))
        return name

    @staticmethod
    def _refname(ref):
        if not ref.startswith("#/$defs/"):
            raise _Unsupported("$ref " + ref)
        return ref[len("#/$defs/"):]

    def keyword(self, schema, kw, arg):
        """The lines (in a function of v) that return False unless kw
        holds."""
        if kw == "$ref":
            return ["if not %s(v): return False"
                    % self.ref(self._refname(arg))]
        if kw == "type":
            ts = arg if isinstance(arg, list) else [arg]
            return ["if not (%s): return False"
                    % " or ".join(self.type_expr(t) for t in ts)]
        if kw == "const":
            return ["if not %s: return False"
                    % self.const_expr("v", arg, self.const(arg))]
        if kw == "enum":
            if all(isinstance(x, str) for x in arg):
                return ["if not (type(v) is str and v in %s): return False"
                        % self.const(frozenset(arg))]
            return ["if not any(_json_equal(v, x) for x in %s): "
                    "return False" % self.const(list(arg))]
        if kw == "pattern":
            return ["if type(v) is str and %s.search(v) is None: "
                    "return False" % self.const(re.compile(arg))]
        if kw == "minLength":
            return ["if type(v) is str and len(v) < %d: return False"
                    % arg]
        if kw in ("minimum", "maximum"):
            return ["if (type(v) is int or type(v) is float) and v %s %s: "
                    "return False" % ("<" if kw == "minimum" else ">",
                                      self.const(arg))]
        if kw == "format":
            return ["if not _checker.conforms(v, %s): return False"
                    % self.const(arg)]
        if kw == "required":
            if not arg:
                return []
            return ["if type(v) is dict and not (%s): return False"
                    % " and ".join("%s in v" % self.const(k) for k in arg)]
        if kw == "minProperties":
            return ["if type(v) is dict and len(v) < %d: return False"
                    % arg]
        if kw == "dependentRequired":
            out = []
            for k, need in arg.items():
                out.append("if type(v) is dict and %s in v and not (%s): "
                           "return False" % (self.const(k), " and ".join(
                               "%s in v" % self.const(x) for x in need)
                               or "True"))
            return out
        if kw in ("properties", "additionalProperties"):
            if kw == "additionalProperties" and "properties" in schema:
                return []                       # with "properties"
            if "patternProperties" in schema:
                raise _Unsupported("patternProperties")
            props = {k: self.node(x) for k, x in
                     schema.get("properties", {}).items()}
            extra = schema.get("additionalProperties", True)
            table = self.const(None)
            self.src.append("%s = {%s}\n" % (table, ", ".join(
                "%r: %s" % (k, f) for k, f in props.items())))
            if extra is True:
                if len(props) <= 4:
                    return ["if type(v) is dict:"] + [
                        "    if %r in v and not %s(v[%r]): return False"
                        % (k, f, k) for k, f in props.items()]
                return ["if type(v) is dict:",
                        "    for k, x in v.items():",
                        "        f = %s.get(k)" % table,
                        "        if f is not None and not f(x): "
                        "return False"]
            if extra is False:
                return ["if type(v) is dict:",
                        "    for k, x in v.items():",
                        "        f = %s.get(k)" % table,
                        "        if f is None or not f(x): return False"]
            fe = self.node(extra)
            return ["if type(v) is dict:",
                    "    for k, x in v.items():",
                    "        f = %s.get(k, %s)" % (table, fe),
                    "        if not f(x): return False"]
        if kw == "propertyNames":
            f = self.node(arg)
            return ["if type(v) is dict:",
                    "    for k in v:",
                    "        if not %s(k): return False" % f]
        if kw == "items":
            if "prefixItems" in schema:
                raise _Unsupported("prefixItems")
            f = self.node(arg)
            return ["if type(v) is list:",
                    "    for x in v:",
                    "        if not %s(x): return False" % f]
        if kw == "uniqueItems":
            return ["if type(v) is list and not _unique(v): return False"] \
                if arg else []
        if kw == "allOf":
            return ["if not %s(v): return False" % self.node(x) for x in arg]
        if kw == "anyOf":
            return ["if not (%s): return False" % " or ".join(
                "%s(v)" % self.node(x) for x in arg)]
        if kw == "oneOf":
            fs = [self.node(x) for x in arg]
            keys = [_type_const(x, self.defs) for x in arg]
            count = "sum((%s)) != 1" % ", ".join("%s(v)" % f for f in fs) \
                if len(fs) > 1 else "not %s(v)" % fs[0]
            if None not in keys and len(set(keys)) == len(keys):
                # Each branch requires its own "type": only that branch
                # can hold.
                by = self.const(None)
                self.src.append("%s = {%s}\n" % (by, ", ".join(
                    "%r: %s" % (k, f) for k, f in zip(keys, fs))))
                return ["f = %s.get(v.get('type')) if type(v) is dict and "
                        "type(v.get('type')) is str else None" % by,
                        "if f is not None:",
                        "    if not f(v): return False",
                        "elif %s: return False" % count]
            return ["if %s: return False" % count]
        if kw == "not":
            return ["if %s(v): return False" % self.node(arg)]
        if kw == "if":
            cond = _const_member(arg)
            if cond is not None:
                k, c = cond
                test = "type(v) is dict and %s in v and %s" % (
                    self.const(k), self.const_expr(
                        "v[%s]" % self.const(k), c, self.const(c)))
            else:
                test = "%s(v)" % self.node(arg)
            out = ["if %s:" % test]
            out.append("    if not %s(v): return False"
                       % self.node(schema["then"]) if "then" in schema
                       else "    pass")
            if "else" in schema:
                out += ["elif not %s(v): return False"
                        % self.node(schema["else"])]
            return out
        raise _Unsupported("keyword " + kw)

    def compile(self, schema):
        top = self.node(schema)
        # Definitions reached only through recursion are named _ref_NAME.
        for name, fn in self.refs.items():
            self.src.append("_ref_%s = %s\n" % (name, fn))
        self.src.append("_true = lambda v: True\n_false = lambda v: False\n")
        code = "\n".join(self.src)
        exec(compile(code, "<ctsd compiled schema>", "exec"), self.ns)
        return self.ns[top] if top not in ("_true", "_false") else \
            self.ns[top]


def _raise(e):
    raise e


def _unique_items(v):
    """JSON uniqueness of the items of a list (1 and true differ)."""
    for i in range(len(v)):
        for j in range(i + 1, len(v)):
            if _json_equal(v[i], v[j]):
                return False
    return True


def _const_member(schema):
    """(K, C) for the common condition {"properties":{K:{"const":C}},
    "required":[K]}, or None."""
    if not isinstance(schema, dict) or \
            set(schema) != {"properties", "required"} or \
            len(schema["properties"]) != 1:
        return None
    (k, cond), = schema["properties"].items()
    if schema["required"] != [k] or set(cond) != {"const"}:
        return None
    return k, cond["const"]


def _type_const(schema, defs):
    """The value a schema requires of member "type" (required, const), or
    None: lets oneOf look only at the branch of a line's type."""
    for _ in range(8):
        if isinstance(schema, dict) and set(schema) & {"$ref"} and \
                "properties" not in schema:
            schema = defs.get(schema["$ref"][len("#/$defs/"):], {})
            continue
        break
    if not isinstance(schema, dict) or \
            "type" not in schema.get("required", []):
        return None
    c = schema.get("properties", {}).get("type", {})
    return c.get("const") if isinstance(c.get("const"), str) else None


_fast = None


def fast_validator():
    """The compiled form of the schema (a function obj -> bool), or None
    when the schema uses a keyword the compiler does not know."""
    global _fast
    if _fast is None:
        v = validator()
        checker = v.format_checker
        with open(schema_path(), encoding="utf-8") as f:
            schema = json.load(f)
        try:
            _fast = _Codegen(schema.get("$defs", {}), checker).compile(
                schema)
        except _Unsupported as e:
            print("# the schema uses %s: lines are validated by jsonschema "
                  "alone (slow)" % e)
            _fast = False
    return _fast or None


_schema_seen = {}
_schema_lock = threading.Lock()


def validate_schema(obj, what="line"):
    """Validate obj against the event schema; fail with jsonschema's best
    error.  The compiled schema checks every line; jsonschema checks the
    first SCHEMA_FULL_PER_KIND lines of each type and event, then one in
    SCHEMA_SAMPLE, and explains every refusal."""
    fast = fast_validator()
    key = (obj.get("type"), obj.get("event"))
    with _schema_lock:
        n = _schema_seen.get(key, 0)
        _schema_seen[key] = n + 1
    ok = fast(obj) if fast is not None else None
    if ok is not False and fast is not None and \
            n >= SCHEMA_FULL_PER_KIND and n % SCHEMA_SAMPLE != 0:
        return
    errors = list(validator().iter_errors(obj))
    if errors:
        import jsonschema
        best = jsonschema.exceptions.best_match(errors)
        fail("%s: schema: at %s: %s%s\n  %s" % (
            what, "/".join(str(p) for p in best.absolute_path) or "(top)",
            best.message, " (and ctsd's compiled schema accepted it: a bug "
            "in ctsd.py)" if ok else "", json.dumps(obj)[:600]))
    check(ok is not False, "%s: ctsd's compiled schema refuses a line "
          "jsonschema accepts (a bug in ctsd.py): %s"
          % (what, json.dumps(obj)[:600]))


def _no_space_outside_strings(text):
    """Whether a JSON text has no white space between tokens."""
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in " \t\r\n":
            return False
    return True


def _check_error_obj(err, what):
    check(isinstance(err, dict) and set(err) == {"code", "message"},
          "%s: error must be {code, message}: %r" % (what, err))
    check(isinstance(err["code"], str) and re.match(r"^[a-z_]+$", err["code"]),
          "%s: error code %r" % (what, err["code"]))
    check(isinstance(err["message"], str) and err["message"],
          "%s: empty error message" % what)


def _check_structure(obj, what):
    """Check a reply, sync or error line by hand, for a schema that does
    not describe it (yet)."""
    t = obj["type"]
    if t == "reply":
        check(set(obj) <= {"type", "id", "ok", "result", "error"},
              "%s: unexpected members %r" % (what, sorted(obj)))
        check(isinstance(obj.get("ok"), bool), "%s: ok must be a boolean"
              % what)
        if "id" in obj:
            check(isinstance(obj["id"], (str, int, float)) and
                  not isinstance(obj["id"], bool),
                  "%s: id must be a string or a number" % what)
        if obj["ok"]:
            check("error" not in obj, "%s: ok reply with an error" % what)
            if "result" in obj:
                check(isinstance(obj["result"], dict),
                      "%s: result must be an object" % what)
        else:
            check("result" not in obj, "%s: failed reply with a result"
                  % what)
            _check_error_obj(obj.get("error"), what)
    elif t == "sync":
        check(set(obj) <= {"type", "entries", "time", "error"},
              "%s: unexpected members %r" % (what, sorted(obj)))
        check(isinstance(obj.get("entries"), int) and obj["entries"] >= 0,
              "%s: entries must be a non-negative integer" % what)
        parse_time(obj.get("time"), digits=6)
        if "error" in obj:
            _check_error_obj(obj["error"], what)
    elif t == "error":
        check(set(obj) == {"type", "error"},
              "%s: unexpected members %r" % (what, sorted(obj)))
        _check_error_obj(obj["error"], what)


def check_socket_line(raw):
    """Check one line read from a socket and return it parsed: UTF-8, one
    compact JSON object without duplicate members, ended by a newline.
    Event, overrun and lost lines are validated against the schema, and
    so are reply, sync and error lines when the schema knows them;
    otherwise those are checked by hand and the gap is recorded in
    schema_lacks.  The entry in a reply's result (get) is an event line
    and is validated as one."""
    check(raw.endswith(b"\n"), "line does not end with a newline: %r"
          % raw[-80:])
    text = raw[:-1].decode("utf-8")

    def no_dups(pairs):
        keys = [k for k, _ in pairs]
        check(len(keys) == len(set(keys)), "duplicate member in %r" % keys)
        return dict(pairs)
    obj = json.loads(text)
    check(isinstance(obj, dict), "not a JSON object: %r" % text[:200])
    t = obj.get("type")
    if t in ("ct", "expect"):
        # Written by the daemon's own encoder: exactly Python's compact
        # form (which a duplicate member would not survive either).
        check_eq(json.dumps(obj, separators=(",", ":"), ensure_ascii=False),
                 text, "event line in compact form")
    else:
        json.loads(text, object_pairs_hook=no_dups)
        check(_no_space_outside_strings(text), "not compact JSON: %r"
              % text[:200])
    check(isinstance(t, str), "no type: %r" % text[:200])
    what = "%s line" % t
    if t in SOCKET_ONLY_TYPES and t not in schema_line_types():
        schema_lacks.add(t)
        _check_structure(obj, what)
    else:
        check(t in schema_line_types() or t in SOCKET_ONLY_TYPES,
              "line of an unknown type %r" % t)
        validate_schema(obj, what)
    if t in ("ct", "expect"):
        parse_time(obj["time"], digits=6)
    if t == "reply" and obj.get("ok") and \
            isinstance(obj.get("result"), dict) and \
            obj["result"].get("type") in ("ct", "expect"):
        validate_schema(obj["result"], "the entry in a reply")
    return obj


LIVE_KINDS = ("new", "update", "destroy")


class Client:
    """One connection to a daemon socket (events or control).

    A thread only receives (so that a client reads as fast as the daemon
    writes, whatever checking costs); the lines are split, checked with
    check_socket_line() and kept in order in lines when the test looks
    (lines, wait_for, ...).  Live lines (events new/update/destroy,
    overrun) must come in increasing order of seq; snapshot and dump
    lines, which carry the number of the last stream line, never go
    down.  With read=False nothing is read
    until start_reading() (a client that stalls).  on_chunk, if set, is
    called by the receiving thread with the size of each read (to read
    slowly).
    """

    _ids = itertools.count(1)

    def __init__(self, path, read=True, name=None):
        self.path = path
        self.name = name or os.path.basename(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(scaled(10))
        self.sock.connect(path)
        self.sock.settimeout(None)
        self._lines = []
        self._chunks = []
        self._buf = b""
        self.raw = []
        self.errors = []
        self.eof = False            # the daemon closed (all read)
        self.nbytes = 0
        self.cond = threading.Condition()
        self.thread = None
        self.last_seq = {}
        self.on_chunk = None
        self.recv_size = 1 << 20
        # A last line cut short by the end of the connection: an error,
        # unless the test sets allow_partial_tail to look at it itself.
        self.allow_partial_tail = False
        self.partial_tail = None
        if read:
            self.start_reading()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start_reading(self):
        if self.thread is None:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(self.recv_size)
            except OSError:
                data = b""
            if data and self.on_chunk is not None:
                self.on_chunk(len(data))
            with self.cond:
                if data:
                    self._chunks.append(data)
                    self.nbytes += len(data)
                else:
                    self.eof = True
                self.cond.notify_all()
            if not data:
                return

    def _order(self, obj):
        t, kind = obj.get("type"), obj.get("event")
        if t == "overrun" or (t in ("ct", "expect") and kind in LIVE_KINDS):
            key = "live"
        elif t in ("ct", "expect"):
            key = kind
        else:
            return
        last = self.last_seq.get(key, 0)
        if key == "live":
            check(obj["seq"] > last, "live line seq %d after seq %d: live "
                  "lines must come in increasing order of seq"
                  % (obj["seq"], last))
        else:
            # Snapshot and dump lines take no number: they carry the
            # number of the last stream line, so they never go down.
            check(obj["seq"] >= last, "%s line seq %d after seq %d: %s "
                  "lines never go down in seq" % (key, obj["seq"], last,
                                                   key))
        self.last_seq[key] = obj["seq"]

    def _parse(self):
        """Check and keep the complete lines received (cond held)."""
        if self._chunks:
            data = self._buf + b"".join(self._chunks)
            self._chunks = []
            parts = data.split(b"\n")
            self._buf = parts.pop()
            for p in parts:
                raw = p + b"\n"
                self.raw.append(raw)
                try:
                    obj = check_socket_line(raw)
                    self._order(obj)
                except (TestFailure, ValueError) as e:
                    self.errors.append("%s: %s\n  %r" % (self.name, e,
                                                         raw[:300]))
                    continue
                self._lines.append(obj)
        if self.eof and self._buf and not self._chunks:
            if self.allow_partial_tail:
                self.partial_tail = self._buf
            else:
                self.errors.append("%s: unterminated last line %r"
                                   % (self.name, self._buf[:200]))
            self._buf = b""

    @property
    def lines(self):
        """Every valid line received so far, parsed, in order."""
        with self.cond:
            self._parse()
            return self._lines

    def raise_errors(self):
        with self.cond:
            self._parse()
            if self.errors:
                fail("invalid lines from the %s socket:\n%s" % (
                    self.name, "\n".join(self.errors[:10])))

    def send(self, data):
        """Send a request (an object, as one line) or raw bytes."""
        if not isinstance(data, (bytes, bytearray)):
            data = (json.dumps(data) + "\n").encode()
        self.sock.sendall(data)

    def wait_for(self, pred, what, timeout=10):
        """Poll pred(lines) until it returns something true; return it.
        pred runs at most every 10 ms (lines come in many small reads, and
        a predicate may scan them all)."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                self._parse()
                if self.errors:
                    break
                last = time.monotonic()
                r = pred(self._lines)
                if r:
                    return r
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof and not self._chunks):
                    break
                self.cond.wait(min(left, 0.5))
                while not self.eof:
                    pause = last + 0.01 - time.monotonic()
                    if pause <= 0:
                        break
                    self.cond.wait(pause)
        self.raise_errors()
        fail("%s socket: %s waiting for %s; last lines:\n%s" % (
            self.name, "connection closed" if self.eof else
            "timed out after %ss" % timeout, what,
            "\n".join(r.decode("utf-8", "replace").rstrip()[:300]
                      for r in self.raw[-8:]) or "(nothing)"))

    def wait_eof(self, timeout=10):
        """Wait until the daemon closes the connection."""
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.eof:
                left = deadline - time.monotonic()
                check(left > 0, "%s socket: the daemon did not close the "
                      "connection within %ss" % (self.name, timeout))
                self.cond.wait(min(left, 0.5))
        self.raise_errors()

    def wait_line(self, match, what, timeout=10):
        """Wait for the first line for which match(line) holds; return
        it.  Lines are looked at once each (a dump has 100,000)."""
        seen = [0]

        def pred(ls):
            for i in range(seen[0], len(ls)):
                if match(ls[i]):
                    return ls[i]
            seen[0] = len(ls)
            return None
        return self.wait_for(pred, what, timeout)

    def replies(self):
        return [l for l in self.lines if l["type"] == "reply"]

    def reply_to(self, rid, timeout=10):
        """Wait for the (first) reply with id rid."""
        return self.wait_line(
            lambda l: l["type"] == "reply" and "id" in l and
            l["id"] == rid and type(l["id"]) is type(rid),
            "the reply to request id %r" % (rid,), timeout)

    def request(self, cmd, wait=10, **members):
        """Send {"cmd":cmd,"id":N,...members} and return its reply (within
        wait seconds)."""
        rid = "%s-%d" % (cmd, next(Client._ids))
        req = {"cmd": cmd, "id": rid}
        req.update(members)
        self.send(req)
        return self.reply_to(rid, wait)

    def ok(self, cmd, wait=10, **members):
        """request() that must succeed; returns its result."""
        r = self.request(cmd, wait=wait, **members)
        check(r.get("ok") is True, "%s %r failed: %r" % (cmd, members, r))
        return r.get("result")

    def error(self, cmd, code, wait=10, **members):
        """request() that must fail with code; returns the error."""
        r = self.request(cmd, wait=wait, **members)
        check(r.get("ok") is False, "%s %r: expected error %s, got %r"
              % (cmd, members, code, r))
        check_eq(r["error"]["code"], code, "%s %r: error code (message %r)"
                 % (cmd, members, r["error"]["message"]))
        return r["error"]

    def events(self):
        """The event lines (ct and expect) received so far."""
        return [l for l in self.lines if l["type"] in ("ct", "expect")]

    def kind_ids(self, types=("ct",)):
        """(event, id) of the live event lines of these types; fails if
        an overrun or a lost line came (a comparison with conntrack -E
        means nothing then)."""
        losses = [l for l in self.lines if l["type"] in ("overrun", "lost")]
        check(not losses, "%s socket: the daemon reports lost lines: %r"
              % (self.name, losses[:3]))
        return [(l["event"], l["id"]) for l in self.events()
                if l["type"] in types and l["event"] in LIVE_KINDS]

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self.thread is not None:
            # A connection the daemon never accepted (a hung daemon) does
            # not wake the receiving thread up: it ends with the daemon.
            self.thread.join(1)


class SocatClient(Client):
    """A subscriber that only reads, as fast as C reads: socat -u
    UNIX-CONNECT:path into a file, which a thread follows.  Lines are
    checked as Client checks them.  For floods under small watermarks,
    where a Python reader is not scheduled often enough to stay below
    them on a busy machine."""

    def __init__(self, path, name=None):
        import tempfile
        self.path = path
        self.name = name or "socat"
        fd, self.outfile = tempfile.mkstemp(prefix="ctsd-socat-")
        self.out = os.fdopen(fd, "wb")
        add_cleanup(self._remove)
        self.proc = subprocess.Popen(
            ["socat", "-u", "UNIX-CONNECT:" + path, "STDOUT"],
            stdin=subprocess.DEVNULL, stdout=self.out,
            stderr=subprocess.PIPE)
        add_cleanup(self._kill)
        self._lines = []
        self._chunks = []
        self._buf = b""
        self.raw = []
        self.errors = []
        self.eof = False
        self.nbytes = 0
        self.cond = threading.Condition()
        self.last_seq = {}
        self.on_chunk = None
        self.allow_partial_tail = False
        self.partial_tail = None
        self.sock = None
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self):
        with open(self.outfile, "rb") as f:
            while True:
                exited = self.proc.poll() is not None
                data = f.read(1 << 20)
                with self.cond:
                    if data:
                        self._chunks.append(data)
                        self.nbytes += len(data)
                    elif exited:
                        self.eof = True
                    self.cond.notify_all()
                if not data:
                    if exited:
                        return
                    time.sleep(0.005)

    def _kill(self):
        remove_cleanup(self._kill)
        stop_process(self.proc, signal.SIGKILL)

    def _remove(self):
        remove_cleanup(self._remove)
        try:
            os.unlink(self.outfile)
        except OSError:
            pass

    def send(self, data):
        fail("a socat -u client sends nothing")

    def start_reading(self):
        pass

    def shutdown_write(self):
        pass

    def close(self):
        self._kill()
        self.thread.join(5)
        self.out.close()
        self._remove()


def keep_pinging(clients, seconds, pause=0.1):
    """Ping every client (Client) in turn for seconds: each must answer
    (a daemon that goes on serving its clients while something else is
    going on).  Returns how many rounds were made."""
    end = time.monotonic() + seconds
    rounds = 0
    while True:
        for c in clients:
            r = c.request("ping")
            check(r.get("ok") is True, "%s socket: ping: %r" % (c.name, r))
        rounds += 1
        if time.monotonic() >= end:
            return rounds
        time.sleep(pause)


def connect_refused_line(path, timeout=10):
    """Connect and read everything until the daemon closes; return the
    raw bytes (for a connection the daemon refuses)."""
    timeout = scaled(timeout)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        fail("the daemon did not close the connection within %ss (read %r)"
             % (timeout, data[:300]))
    finally:
        s.close()
    return data


def control_of(d, cmd, wait=10, **members):
    """One request on a fresh connection to d's control socket; returns
    the reply (the connection is closed after).  (control() takes a path
    and a request object.)"""
    with Client(d.control_path, name="control") as c:
        return c.request(cmd, wait=wait, **members)


def wait_clients(d, events=None, controls=None, timeout=10):
    """Poll stats until the daemon has accepted this many clients of the
    events socket (and of the control socket, the one asking included);
    returns the subscriber_list."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while True:
        r = control_of(d, "stats")
        check(r.get("ok"), "stats failed: %r" % r)
        subs = r["result"]["daemon"]["subscriber_list"]
        ev = sum(1 for s in subs if s.get("socket") == "events")
        ctl = sum(1 for s in subs if s.get("socket") == "control")
        if (events is None or ev >= events) and \
                (controls is None or ctl >= controls):
            return subs
        check(time.monotonic() < deadline, "the daemon has %d events "
              "clients and %d control clients after %ss, expected %s and %s"
              % (ev, ctl, timeout, events, controls))
        time.sleep(0.02)


def vmrss(pid):
    """A process's resident set size in bytes (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    fail("no VmRSS for pid %d" % pid)


# A client for run_as(): connects to argv[1], sends the request lines of
# argv[2] (a JSON list) one after the other, each once the previous one is
# answered, and prints what it read as one JSON object.
_AS_CLIENT = r"""
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10 * float(os.environ.get("CTSTREAMD_TIME_SCALE") or 1))
out = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(),
       "groups": os.getgroups(), "lines": []}
try:
    s.connect(sys.argv[1])
    buf = b""
    for req in json.loads(sys.argv[2]):
        s.sendall((json.dumps(req) + "\n").encode())
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("closed")
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        out["lines"].append(line.decode())
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
print(json.dumps(out))
"""


def run_as(path, requests, user, group, extra_groups=()):
    """Run a client of the socket at path as another user: it sends each
    request and reads one line for it.  Returns {"pid", "uid", "gid",
    "groups", "replies" (checked and parsed), "error" (if any)}."""
    py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) \
        else PYTHON
    try:
        p = subprocess.run([py, "-c", _AS_CLIENT, path, json.dumps(requests)],
                           capture_output=True, text=True,
                           timeout=scaled(30), user=user, group=group,
                           extra_groups=list(extra_groups), cwd="/")
    except subprocess.TimeoutExpired:
        fail("client as %s:%s did not finish within %ss"
             % (user, group, scaled(30)))
    check(p.returncode == 0, "client as %s:%s exited %d: %s"
          % (user, group, p.returncode, p.stderr))
    out = json.loads(p.stdout)
    out["replies"] = [check_socket_line((l + "\n").encode())
                      for l in out.pop("lines")]
    return out


# ---------------------------------------------------------------------------
# conntrack's text output as ground truth

def parse_conntrack_line(line):
    """Parse a line of conntrack -L, -G or -E (with -o id or -o
    id,extended) into {"kind" (for -E), "family" (extended), "proto",
    "protonum", "timeout", "state", "orig", "reply", "unreplied",
    "assured", "mark", "zone", "use", "helper", "id"}.  Tuples hold src,
    dst, sport, dport, icmp_type, icmp_code, icmp_id as the daemon writes
    them."""
    toks = line.split()
    r = {"kind": None, "family": None, "unreplied": False, "assured": False,
         "state": None, "orig": {}, "reply": {}}
    i = 0
    m = re.match(r"^\[(NEW|UPDATE|DESTROY)\]$", toks[0]) if toks else None
    if m:
        r["kind"] = m.group(1).lower()
        i = 1
    if toks[i] in ("ipv4", "ipv6"):
        r["family"] = toks[i]
        i += 2
    r["proto"] = toks[i]
    r["protonum"] = int(toks[i + 1])
    i += 2
    if re.match(r"^\d+$", toks[i]):
        r["timeout"] = int(toks[i])
        i += 1
    if "=" not in toks[i] and not toks[i].startswith("["):
        r["state"] = toks[i]
        i += 1
    names = {"src": "src", "dst": "dst", "sport": "sport", "dport": "dport",
             "type": "icmp_type", "code": "icmp_code", "id": "icmp_id",
             "packets": "packets", "bytes": "bytes"}
    section = None
    for tok in toks[i:]:
        if tok == "[UNREPLIED]":
            r["unreplied"] = True
            continue
        if tok == "[ASSURED]":
            r["assured"] = True
            continue
        if tok.startswith("["):
            continue
        if "=" not in tok:
            continue
        k, v = tok.split("=", 1)
        if k == "src" and section is None:
            section = "orig"
        elif k == "src" and section == "orig":
            section = "reply"
        elif section in ("orig", "reply") and k not in names:
            section = "meta"
        elif section == "reply" and k == "id" and "icmp_id" in r["reply"]:
            section = "meta"
        elif section == "reply" and k == "id" and \
                r["protonum"] not in (1, 58):
            section = "meta"
        if section in ("orig", "reply"):
            key = names[k]
            r[section][key] = v if key in ("src", "dst") else int(v)
        elif section == "meta":
            if k in ("mark", "zone", "use", "id"):
                r[k] = int(v)
            elif k == "helper":
                r[k] = v
            elif k in ("portid",):
                pass
            else:
                r[k] = v
    return r


def conntrack_list(ns, *args, table=None):
    """conntrack -L [table] -o id,extended ARGS in the namespace, parsed
    (expectations with parse_expect_line)."""
    argv = ["-L"] + ([table] if table else []) + list(args)
    if table != "expect":
        argv += ["-o", "id,extended"]
    p = ns.conntrack(*argv)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    parse = parse_expect_line if table == "expect" else parse_conntrack_line
    out = [parse(l) for l in lines]
    m = re.search(r"(\d+) (flow entries|expectations) have been shown",
                  p.stderr)
    check(m is not None and int(m.group(1)) == len(out),
          "conntrack %s: %d lines but stderr says %r" % (
              " ".join(argv), len(out), p.stderr.strip()))
    return out


def parse_expect_line(line):
    """Parse a line of conntrack -L expect: {"timeout", "protonum",
    "tuple", "mask", "master", "class", "helper"}."""
    toks = line.split()
    r = {"timeout": int(toks[0]), "tuple": {}, "mask": {}, "master": {}}
    section = "tuple"
    for tok in toks[1:]:
        if "=" not in tok:
            continue
        k, v = tok.split("=", 1)
        if k == "proto":
            r["protonum"] = int(v)
        elif k in ("src", "dst"):
            r["tuple"][k] = v
        elif k in ("mask-src", "mask-dst"):
            section = "mask"
            r["mask"][k[5:]] = v
        elif k in ("master-src", "master-dst"):
            section = "master"
            r["master"][k[7:]] = v
        elif k in ("sport", "dport"):
            r[section][k] = int(v)
        elif k == "class":
            r["class"] = int(v)
        elif k == "helper":
            r["helper"] = v
        else:
            r[k] = v
    return r


# ---------------------------------------------------------------------------
# Running a test program

def main(cases, needs_root=True, needs_schema=True, tools=()):
    """Run test cases (functions), TAP-style; the exit status follows the
    automake protocol (0 pass, 1 fail, 77 skip).  Arguments select cases
    by name.  tools: (tool, package) pairs needed besides TOOLS."""
    try:
        if needs_root:
            require_root()
            require_tools(tools)
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
    if schema_lacks:
        print("# the schema lacks the line types %s: those lines were "
              "checked by hand (see check_socket_line)"
              % ", ".join(sorted(schema_lacks)))
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
