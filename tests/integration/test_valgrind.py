#!/usr/bin/env python3
"""
test_valgrind.py - one scenario with the daemon under valgrind memcheck.

The daemon runs under memcheck in a namespace of the test's own and goes
through most of its paths once: live events on stdout and to subscribers
(filtered, with a snapshot), get, dump, stats, diagnose, a privileged
delete, bad requests, a reload, an overrun with its resync, a slow
subscriber, clients that leave mid-reply, and SIGTERM.  Then every
process valgrind followed (the daemon and its netlink helper) must report
no error and no definite or indirect leak, and the daemon must exit 0.

Needs root and valgrind; exits 77 otherwise.  Slow by nature (about 30 s).
"""

import glob
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq                         # noqa: E402

# Drop the flood's packets on input, so no ICMP error comes back.
FLOOD_RULES = ctsd.TRACK_ALL + """
table inet ctsd_drop {
	chain in {
		type filter hook input priority filter; policy accept;
		udp dport 20000-29999 drop
	}
}
"""


def valgrind_argv(logdir):
    return ["valgrind", "--tool=memcheck", "--leak-check=full",
            "--show-leak-kinds=definite,indirect",
            "--errors-for-leak-kinds=definite,indirect",
            "--error-exitcode=99", "--track-origins=yes",
            "--trace-children=no", "--child-silent-after-fork=no",
            "--log-file=" + os.path.join(logdir, "vg.%p.log")]


def check_reports(logdir):
    """Every valgrind log: no error, no definite or indirect leak."""
    logs = sorted(glob.glob(os.path.join(logdir, "vg.*.log")))
    # The daemon and its netlink helper (a fork, followed by valgrind).
    check(len(logs) >= 2, "valgrind logs: %r" % logs)
    for path in logs:
        with open(path) as f:
            text = f.read()
        name = os.path.basename(path)
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        check(m is not None, "%s has no error summary:\n%s"
              % (name, text[-3000:]))
        check_eq(int(m.group(1)), 0, "%s: memcheck errors:\n%s"
                 % (name, text[-6000:]))
        for kind in ("definitely", "indirectly"):
            m = re.search(r"%s lost: ([\d,]+) bytes" % kind, text)
            lost = int(m.group(1).replace(",", "")) if m else 0
            check_eq(lost, 0, "%s: bytes %s lost" % (name, kind))
        check("All heap blocks were freed" in text or
              "LEAK SUMMARY" in text, "%s: no leak report" % name)
    return logs


def hang_up_mid_reply(ctl):
    """A client that asks for a dump and closes without reading."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(ctl)
    s.sendall(b'{"cmd":"dump","id":"gone"}\n')
    s.close()


def scenario():
    ctsd.require_root()
    if shutil.which("valgrind") is None:
        raise ctsd.Skip("valgrind is not installed")
    if ctsd.sanitized():
        raise ctsd.Skip("the daemon is built with AddressSanitizer, "
                        "which cannot run under valgrind")
    with tempfile.TemporaryDirectory(prefix="ctsd-vg-") as tmp, \
            ctsd.Netns(nft=FLOOD_RULES) as ns:
        ev = os.path.join(tmp, "ev.sock")
        ctl = os.path.join(tmp, "ctl.sock")
        conf = os.path.join(tmp, "ctstreamd.conf")
        with open(conf, "w") as f:
            f.write("sub-hiwat = 1M\n")
        logs = os.path.join(tmp, "vg")
        os.mkdir(logs)
        # Something in the table before the daemon starts: the startup
        # dump and the snapshot have an entry to show.
        ns.call(ctsd.udp_exchange, "127.0.0.1", 7000)
        args = ["-f", conf, "--events-socket", ev, "--control-socket", ctl,
                "--rcvbuf", "4096", "--rcvbuf-max", "65536",
                "--resync-delay", "100", "--enable-acct"]
        with ctsd.Daemon(ns, args, allow_loss=True, seq_gaps=True,
                         sockets_none=False, ready_timeout=60,
                         validate="sample",
                         prefix=valgrind_argv(logs),
                         allow_stderr=[r"^ctstreamd: reload",
                                       r"^ctstreamd: configuration reloaded",
                                       r"^ctstreamd: client \d+[ :]",
                                       r"^ctstreamd: listening for ",
                                       r"^ctstreamd: deleted ",
                                       r"^ctstreamd: .*: resync"]) as d:
            sub = ctsd.Subscriber(ev, timeout=30)
            r = sub.request({"cmd": "subscribe", "snapshot": True,
                             "filter": {"proto": "udp",
                                        "not": {"dport": 9}}}, timeout=30)
            check(r.get("ok") is True, "subscribe: %r" % r)
            sub.wait_for(lambda evs: any(e.get("type") == "sync"
                                         for e in sub.lines),
                         "the sync line", timeout=30)
            slow = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            slow.connect(ev)            # never read: it falls behind

            ns.call(ctsd.udp_exchange, "127.0.0.1", 7001)
            sub.wait_for(lambda evs: any(
                e.get("event") == "new" and e["orig"].get("dport") == 7001
                for e in evs if e.get("type") == "ct"),
                "the live UDP flow", timeout=30)

            # The control socket: good and bad requests.
            sport = next(e["orig"]["sport"] for e in sub.events
                         if e.get("type") == "ct" and
                         e["orig"].get("dport") == 7001)
            res, _ = ctsd.control_ok(ctl, {"cmd": "get", "tuple": {
                "family": "ipv4", "proto": "udp", "src": "127.0.0.1",
                "dst": "127.0.0.1", "sport": sport, "dport": 7001}},
                timeout=30)
            check(res.get("event") == "get" and res["orig"]["sport"] == sport,
                  "get answered %r" % (res,))
            ct_id = res["id"]
            ctsd.control_ok(ctl, {"cmd": "dump"}, timeout=30)
            ctsd.control_ok(ctl, {"cmd": "dump", "table": "expect"},
                            timeout=30)
            ctsd.control_ok(ctl, {"cmd": "stats"}, timeout=30)
            ctsd.control_ok(ctl, {"cmd": "diagnose"}, timeout=30)
            for bad in ({"cmd": "nope"}, {"cmd": "get"},
                        {"cmd": "dump", "filter": {"proto": 5.5}}):
                r, _ = ctsd.control(ctl, bad, timeout=30)
                check(r.get("ok") is False, "%r answered %r" % (bad, r))
            with ctsd.Subscriber(ctl, timeout=30) as raw:
                raw.sock.sendall(b'{"cmd":\n\xff\xfe\n' + b"x" * 70000 +
                                 b"\n")
                raw.wait_for(lambda rs: len(rs) >= 2, "error replies",
                             timeout=30, source="replies")
            hang_up_mid_reply(ctl)
            ctsd.control_ok(ctl, {"cmd": "delete", "ct_id": ct_id},
                            timeout=30)
            sub.wait_for(lambda evs: any(
                e.get("event") == "destroy" and e.get("id") == ct_id
                for e in evs), "the deleted entry's destroy", timeout=30)

            # A reload.
            d.proc.send_signal(signal.SIGHUP)
            d.wait_stderr(r"configuration reloaded", timeout=30)

            # An overrun: a burst while the daemon is stopped, then the
            # resync that follows.
            d.proc.send_signal(signal.SIGSTOP)
            try:
                ns.call(ctsd.udp_flood, "127.0.0.1", 20000, 600)
            finally:
                d.proc.send_signal(signal.SIGCONT)
            d.wait_for(lambda evs: any(e.get("type") == "overrun"
                                       for e in evs),
                       "an overrun line", timeout=60)
            d.wait_stderr(r"resync done", timeout=60)
            sub.close()
            slow.close()
        check_eq(d.returncode, 0, "exit status under valgrind")
        found = check_reports(logs)
        print("# valgrind: %d processes, no error, no leak" % len(found))


if __name__ == "__main__":
    sys.exit(ctsd.main([scenario]))
