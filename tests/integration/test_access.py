#!/usr/bin/env python3
"""
test_access.py - who may connect to ctstreamd's sockets, and what a peer
that is neither root nor in the admin group can do.

test_control covers the privileged commands denied to nobody on a socket
of mode 0666 (and logged with its uid and pid) and allowed to the admin
group; test_subscribers the mode of the socket files.  Here: the mode,
owner and group decide who may connect at all (a user without write
permission on the socket cannot, whether it could read it or not, and
the daemon never sees the attempt), and an unprivileged peer cannot
change the table by any way in: not on the events socket, not with a
request the daemon would refuse anyway (it is denied before anything in
it is looked at), each refusal logged with its uid and pid.

Needs root; exits 77 otherwise.  Run one case: test_access.py NAME...
"""

import grp
import os
import re
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq                          # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


NOBODY = 65534
DENIED_LOG = r"^ctstreamd: client \d+ \(uid \d+, pid \d+\): " \
    r"(delete|update|flush|create) denied: not root and not in the " \
    r"admin group$"


def default_gid():
    """The group of the socket files without --socket-group: "ctstreamd"
    if it exists, else the daemon's."""
    try:
        return grp.getgrnam("ctstreamd").gr_gid
    except KeyError:
        return os.getegid()


def accepted(d):
    """The connections the daemon accepted so far (this one included)."""
    return ctsd.control_of(d, "stats")["result"]["daemon"][
        "clients_accepted"]


def try_as(path, user, group, extra=()):
    """A ping as user:group on path: ("ok", replies) or ("refused",
    the client's error)."""
    out = ctsd.run_as(path, [{"cmd": "ping", "id": 1}], user, group, extra)
    if "error" in out:
        return "refused", out["error"]
    check(out["replies"] and out["replies"][0].get("ok") is True,
          "ping as %s:%s on %s: %r" % (user, group, path, out))
    return "ok", out["replies"]


@case
def socket_mode_decides_who_connects():
    """Connecting needs write permission on the socket file: with the
    default mode 0660 (owner root) nobody cannot connect to either
    socket; with --socket-group nogroup, nobody:nogroup can and
    nobody:users cannot; with mode 0640 and group nogroup (read without
    write) nobody:nogroup cannot.  A refused connection never reaches
    the daemon: its count of accepted connections does not move."""
    cases = [
        ([], {("nogroup", ()): "refused", ("users", ()): "refused"}),
        (["--socket-group", "nogroup"],
         {("nogroup", ()): "ok", ("users", ()): "refused",
          ("users", ("nogroup",)): "ok"}),
        (["--socket-group", "nogroup", "--socket-mode", "0640"],
         {("nogroup", ()): "refused", ("users", ("nogroup",)): "refused"}),
    ]
    with ctsd.Netns() as ns:
        for args, want in cases:
            with ctsd.Daemon(ns, args, stdout=False, sockets=True) as d:
                for path in (d.events_path, d.control_path):
                    st = os.stat(path)
                    mode = 0o640 if "0640" in args else 0o660
                    gid = NOBODY if "nogroup" in args else default_gid()
                    check_eq((oct(stat.S_IMODE(st.st_mode)), st.st_uid,
                              st.st_gid), (oct(mode), 0, gid),
                             "%s with %r: mode, owner, group" % (path, args))
                    before = accepted(d)
                    for (group, extra), result in sorted(want.items()):
                        what = "nobody:%s%s on %s with %r" % (
                            group, "+" + ",".join(extra) if extra else "",
                            os.path.basename(path), args)
                        got, detail = try_as(path, "nobody", group, extra)
                        check_eq(got, result, what + " (%r)" % (detail,))
                        if got == "refused":
                            check("PermissionError" in detail,
                                  "%s: %r" % (what, detail))
                    n_ok = sum(1 for r in want.values() if r == "ok")
                    # +1: the stats connection of the count itself.
                    check_eq(accepted(d), before + n_ok + 1,
                             "connections the daemon accepted (%r)" % args)


PRIV = [
    ("events", {"cmd": "delete", "id": "e-d", "ct_id": 1}, "unknown_command"),
    ("events", {"cmd": "flush", "id": "e-f", "all": True}, "unknown_command"),
    ("events", {"cmd": "update", "id": "e-u", "ct_id": 1, "mark": 7},
     "unknown_command"),
    ("events", {"cmd": "create", "id": "e-c", "timeout": 60,
                "tuple": {"proto": "udp", "src": "10.9.9.9",
                          "dst": "10.9.9.10", "sport": 1, "dport": 2}},
     "unknown_command"),
    # Refused before their values are looked at: invalid as they are,
    # they are denied, not bad_request.  Only the framing comes first
    # (valid JSON, a known command, known members: cmd.c cmd_parse()).
    ("control", {"cmd": "flush", "id": "c-f"}, "denied"),
    ("control", {"cmd": "create", "id": "c-c"}, "denied"),
    ("control", {"cmd": "update", "id": "c-u", "ct_id": "x"}, "denied"),
    ("control", {"cmd": "delete", "id": "c-d", "tuple": 5}, "denied"),
    ("control", {"cmd": "delete", "id": "c-b", "bogus": 1}, "bad_request"),
    ("control", {"cmd": "flush", "id": "c-fa", "all": True}, "denied"),
]


@case
def unprivileged_cannot_change_the_table():
    """nobody on sockets of mode 0666: the table-changing commands are
    unknown on the events socket and denied on the control socket, even
    when the request is invalid (the refusal comes first); the table is
    unchanged (conntrack -L); each denial is logged with uid 65534 and
    the client's pid; stats lists the client with that uid and pid."""
    with ctsd.Netns(sysctls={"net.netfilter.nf_conntrack_udp_timeout":
                             600}) as ns, \
            ctsd.Daemon(ns, ["--socket-mode", "0666"], stdout=False,
                        sockets=True, allow_stderr=[DENIED_LOG]) as d:
        for port in (6001, 6002, 6003):
            ns.call(ctsd.udp_exchange, "127.0.0.1", port)
        table = ctsd.conntrack_list(ns)
        check_eq(len(table), 3, "entries before")
        pids = {}
        for kind in ("events", "control"):
            path = d.events_path if kind == "events" else d.control_path
            reqs = [r for k, r, _ in PRIV if k == kind]
            out = ctsd.run_as(path, reqs, "nobody", "nogroup")
            check("error" not in out, "%s as nobody: %r" % (kind, out))
            pids[kind] = out["pid"]
            got = [(r.get("id"), r["ok"], r.get("error", {}).get("code"))
                   for r in out["replies"]]
            check_eq(got, [(r["id"], False, code) for k, r, code in PRIV
                           if k == kind], kind + ": replies to nobody")
        check_eq(ctsd.conntrack_list(ns), table, "the table afterwards")
        want = [r["cmd"] for k, r, code in PRIV
                if k == "control" and code == "denied"]
        deadline = time.monotonic() + 5
        while True:
            logs = [l for l in d.stderr if re.search(DENIED_LOG, l)]
            if len(logs) >= len(want) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        check_eq([re.search(r"\): (\w+) denied", l).group(1) for l in logs],
                 want, "denials logged")
        for l in logs:
            check("(uid %d, pid %d)" % (NOBODY, pids["control"]) in l,
                  "a denial logged without nobody's uid and pid %d: %r"
                  % (pids["control"], l))
        # While it is connected, stats names the peer by uid and pid.
        code = ("import os, socket, sys\n"
                "s = socket.socket(socket.AF_UNIX)\n"
                "s.connect(sys.argv[1])\n"
                "print(os.getpid(), flush=True)\n"
                "sys.stdin.read()\n")
        py = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) \
            else sys.executable
        p = subprocess.Popen([py, "-c", code, d.events_path],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, user="nobody", group="nogroup",
                             cwd="/")
        ctsd.add_cleanup(lambda: ctsd.stop_process(p))
        try:
            pid = int(p.stdout.readline())
            subs = ctsd.wait_clients(d, events=1)
            check_eq([(s["uid"], s["pid"]) for s in subs
                      if s["socket"] == "events"], [(NOBODY, pid)],
                     "the events client in stats")
        finally:
            p.stdin.close()
            ctsd.stop_process(p)

if __name__ == "__main__":
    sys.exit(ctsd.main(CASES))
