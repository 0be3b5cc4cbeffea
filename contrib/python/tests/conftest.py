"""Fixtures: a private network namespace with conntrack on, a live
ctstreamd monitoring it, traffic inside it, and the conntrack tool.

The live tests need root (they are skipped otherwise), ip, nft and
conntrack.  The daemon is $CTSTREAMD, by default the build tree's
src/ctstreamd.  Nothing outside the test namespace is changed: the
session checks at its end that the initial namespace's ruleset and
conntrack sysctls are as they were.

CTSTREAMD_TESTS_STRICT=1 turns the expected failures for known daemon
bugs (see needs_kernel_queries) into failures.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import pytest

import ctstreamd

HERE = os.path.dirname(os.path.abspath(__file__))
TRAFFIC = os.path.join(HERE, "nstraffic.py")
DEFAULT_DAEMON = os.path.normpath(os.path.join(HERE, "..", "..", "..", "src", "ctstreamd"))
STRICT = os.environ.get("CTSTREAMD_TESTS_STRICT", "") not in ("", "0", "no")

Event = Dict[str, Any]


# --------------------------------------------------------------------------
# helpers


_ports = itertools.count(21000)


def port() -> int:
    """A port number no other test uses (the namespace is private)."""
    return next(_ports)


def run(cmd: Sequence[str], check: bool = True, input: Optional[str] = None,
        timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), input=input, capture_output=True,
                          text=True, check=check, timeout=timeout)


def wait_for(pred: Callable[[], Any], timeout: float = 10.0,
             interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def collect(stream: ctstreamd.EventStream, pred: Callable[[Event], bool],
            timeout: float = 10.0) -> List[Event]:
    """Read items until one satisfies pred; return all items read."""
    seen: List[Event] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(
                f"no matching item within {timeout} s; saw {len(seen)}: "
                + json.dumps(seen[-5:])[:2000])
        item = stream.poll(left)
        if item is None:
            if stream.ended:
                raise AssertionError("the stream ended")
            continue
        seen.append(item)
        if pred(item):
            return seen


def drain(stream: ctstreamd.EventStream, quiet: float = 0.3,
          limit: float = 10.0) -> List[Event]:
    """Read items until none arrives for `quiet` seconds."""
    out: List[Event] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        item = stream.poll(quiet)
        if item is None:
            break
        out.append(item)
    return out


_CT_LINE = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(.*)$")


def parse_conntrack(text: str) -> List[Dict[str, Any]]:
    """Parse `conntrack -L/-G -o id` lines (default output format)."""
    out = []
    for line in text.splitlines():
        m = _CT_LINE.match(line.strip())
        if not m:
            continue
        proto, protonum, timeout, rest = m.groups()
        e: Dict[str, Any] = {"proto": proto, "protonum": int(protonum),
                             "timeout": int(timeout), "flags": []}
        words = rest.split()
        if words and "=" not in words[0] and not words[0].startswith("["):
            e["state"] = words[0]
        tuples: List[Dict[str, Any]] = [{}, {}]
        d = -1
        for w in words:
            if w.startswith("[") and w.endswith("]"):
                e["flags"].append(w[1:-1])
                continue
            if "=" not in w:
                continue
            k, v = w.split("=", 1)
            if k == "src":
                d += 1
            if k in ("src", "dst") and 0 <= d < 2:
                tuples[d][k] = v
            elif k in ("sport", "dport", "packets", "bytes", "type", "code") and 0 <= d < 2:
                tuples[d][k] = int(v)
            elif k in ("mark", "use", "id", "zone"):
                # ICMP tuples carry an id= too: the entry's id comes last.
                e[k] = int(v)
            else:
                e[k] = v
        e["orig"], e["reply"] = tuples
        out.append(e)
    return out


# --------------------------------------------------------------------------
# the namespace


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name

    def exec(self, *cmd: str, check: bool = True, input: Optional[str] = None,
             timeout: float = 30) -> subprocess.CompletedProcess:
        return run(["ip", "netns", "exec", self.name, *cmd], check=check,
                   input=input, timeout=timeout)

    def conntrack(self, *args: str, check: bool = True) -> List[Dict[str, Any]]:
        r = self.exec("conntrack", *args, "-o", "id", check=check)
        return parse_conntrack(r.stdout)

    def conntrack_ids(self) -> set:
        return {e["id"] for e in self.conntrack("-L")}

    def flush(self) -> None:
        self.exec("conntrack", "-F", check=False)

    def traffic(self, **kw: Any) -> "Traffic":
        return Traffic(self, **kw)


class Traffic:
    """nstraffic.py in the namespace; .info describes the flows."""

    def __init__(self, ns: Netns, tcp: int = 0, udp: int = 0, family: int = 4,
                 hold: bool = False, payload: int = 5, tcp_port: int = 0,
                 udp_port: int = 0) -> None:
        cmd = ["ip", "netns", "exec", ns.name, sys.executable, TRAFFIC,
               "--tcp", str(tcp), "--udp", str(udp), "--family", str(family),
               "--payload", str(payload), "--tcp-port", str(tcp_port),
               "--udp-port", str(udp_port)]
        if hold:
            cmd.append("--hold")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise AssertionError(f"nstraffic failed: {err}")
        self.info: Dict[str, Any] = json.loads(line)
        self.hold = hold
        if not hold:
            self.proc.wait(timeout=30)

    @property
    def tcp(self) -> List[Dict[str, Any]]:
        return self.info["tcp"]

    @property
    def udp(self) -> List[Dict[str, Any]]:
        return self.info["udp"]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self) -> "Traffic":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _initial_state() -> Dict[str, str]:
    """What the tests must never change in the initial namespace."""
    st: Dict[str, str] = {}
    r = run(["nft", "list", "ruleset"], check=False)
    st["ruleset"] = hashlib.sha256(r.stdout.encode()).hexdigest()
    for k in ("nf_conntrack_events", "nf_conntrack_acct",
              "nf_conntrack_timestamp"):
        try:
            with open(f"/proc/sys/net/netfilter/{k}") as f:
                st[k] = f.read().strip()
        except OSError:
            st[k] = "?"
    return st


def _requirements() -> Optional[str]:
    if os.geteuid() != 0:
        return "the live tests need root"
    for tool in ("ip", "nft", "conntrack"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not os.access(daemon_binary(), os.X_OK):
        return f"no daemon at {daemon_binary()} (set CTSTREAMD)"
    return None


def daemon_binary() -> str:
    return os.environ.get("CTSTREAMD") or DEFAULT_DAEMON


@pytest.fixture(scope="session")
def netns() -> Iterator[Netns]:
    why = _requirements()
    if why:
        pytest.skip(why)
    before = _initial_state()
    name = f"ctpy-{os.getpid()}"
    run(["ip", "netns", "add", name])
    try:
        ns = Netns(name)
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        ns.exec("nft", "-f", "-", input="table inet t {\n chain c { type filter "
                "hook output priority 0; ct state new counter; }\n}\n")
        yield ns
    finally:
        run(["ip", "netns", "del", name], check=False)
    after = _initial_state()
    assert after == before, "the initial namespace was changed"


# --------------------------------------------------------------------------
# the daemon


class Daemon:
    """One ctstreamd monitoring the test namespace."""

    def __init__(self, ns: Netns, tag: str = "d", extra: Sequence[str] = ()) -> None:
        self.ns = ns
        self.dir = tempfile.mkdtemp(prefix=f"ctpy-{tag}-")
        os.chmod(self.dir, 0o711)     # other users may reach the sockets
        self.events_path = os.path.join(self.dir, "ev.sock")
        self.control_path = os.path.join(self.dir, "ctl.sock")
        self.conf = os.path.join(self.dir, "ctstreamd.conf")
        with open(self.conf, "w"):
            pass
        self.extra = list(extra)
        self.proc: Optional[subprocess.Popen] = None
        self.log: List[str] = []
        self.starts = 0

    def argv(self) -> List[str]:
        return [daemon_binary(), "--config", self.conf, "--netns", self.ns.name,
                "--events-socket", self.events_path,
                "--control-socket", self.control_path,
                "--socket-mode", "0666", "--set-events-sysctl",
                "--enable-acct", "--resync-delay", "100", *self.extra]

    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None or self.proc.poll() is not None
        proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        ready = threading.Event()
        log = self.log

        def reader() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.append(line.rstrip("\n"))
                if re.search(r"\bready\b", line):
                    ready.set()

        threading.Thread(target=reader, daemon=True).start()
        self.proc = proc
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("ctstreamd did not become ready:\n"
                                     + "\n".join(log[-30:]))
        self.starts += 1

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def client(self, timeout: float = 10.0) -> ctstreamd.Client:
        return ctstreamd.Client(self.events_path, self.control_path,
                                timeout=timeout)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def daemon(netns: Netns) -> Iterator[Daemon]:
    d = Daemon(netns, "shared")
    d.start()
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture
def client(daemon: Daemon) -> ctstreamd.Client:
    if daemon.proc is None or daemon.proc.poll() is not None:
        daemon.start()
    return daemon.client()


@pytest.fixture
def make_daemon(netns: Netns) -> Iterator[Callable[..., Daemon]]:
    """A daemon of the test's own (for restarts, pauses, odd options)."""
    made: List[Daemon] = []

    def make(*extra: str) -> Daemon:
        d = Daemon(netns, f"t{len(made)}", extra)
        made.append(d)
        d.start()
        return d

    yield make
    for d in made:
        d.cleanup()


# --------------------------------------------------------------------------
# known daemon bugs

_KQ_BUG: Dict[str, Optional[str]] = {}


def kernel_query_bug(client: ctstreamd.Client) -> Optional[str]:
    """Probe once whether the daemon can query the kernel at all.

    ctstreamd 0.1.0 drops every capability after startup (priv.c), but
    nfnetlink checks CAP_NET_ADMIN of the task sending each request
    (netlink_net_capable), so every get, dump, snapshot, change and
    kernel statistic fails with kernel_error "EPERM"."""
    if "v" not in _KQ_BUG:
        try:
            list(client.dump(table="expect"))
            _KQ_BUG["v"] = None
        except ctstreamd.KernelError as e:
            if "EPERM" in e.message or "not permitted" in e.message:
                _KQ_BUG["v"] = ("daemon bug: kernel requests fail with EPERM "
                                "because the daemon drops CAP_NET_ADMIN after "
                                f"startup ({e.message})")
            else:
                raise
    return _KQ_BUG["v"]


def needs_kernel_queries(client: ctstreamd.Client) -> None:
    bug = kernel_query_bug(client)
    if bug and not STRICT:
        pytest.xfail(bug)
    if bug:
        pytest.fail(bug)


def pytest_report_header(config: Any) -> List[str]:
    return [f"ctstreamd client: {ctstreamd.__file__}",
            f"ctstreamd daemon: {daemon_binary()}"]
