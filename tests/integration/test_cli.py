#!/usr/bin/env python3
"""
test_cli.py - ctstreamd's command line: errors, --help, --version.

A bad command line exits 2 with exactly one line on stderr, which starts
with "ctstreamd: " and names what is wrong; nothing goes to stdout.
-V prints the version configure set; -h lists every option.  Most cases
need no privileges; those that open a namespace run only as root.

Run one case: test_cli.py NAME...
"""

import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                      # noqa: E402
from ctsd import check, check_eq, daemon_bug     # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def root_only(fn):
    def wrapper():
        if os.geteuid() != 0:
            raise ctsd.Skip("needs root")
        fn()
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def daemon(*args, timeout=5):
    """Run the daemon with args; return (status, stdout, stderr) as text.

    Unless args name a namespace, "--netns <one that does not exist>" goes
    first: should the daemon accept a command line it ought to refuse, it
    then fails to open the namespace instead of watching the host's."""
    if "--netns" not in args:
        args = ("--netns", "ctsd-%d-absent" % os.getpid()) + args
    timeout = ctsd.scaled(timeout)
    try:
        p = subprocess.run([ctsd.daemon_path()] + list(args),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        ctsd.fail("ctstreamd %s did not exit within %ss"
                  % (" ".join(args), timeout))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def one_line_error(args, status, *words):
    """The daemon refuses args: exit status, nothing on stdout, one
    printable stderr line "ctstreamd: ..." containing every word."""
    rc, out, err = daemon(*args)
    what = "ctstreamd %s" % " ".join(repr(a) for a in args)
    check_eq(rc, status, what + ": exit status (stderr %r)" % err)
    check_eq(out, "", what + ": stdout")
    check(err.endswith("\n") and err.count("\n") == 1,
          "%s: stderr is not one line: %r" % (what, err))
    check(err.startswith("ctstreamd: "),
          "%s: stderr does not start with 'ctstreamd: ': %r" % (what, err))
    check(not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", err),
          "%s: control characters in stderr: %r" % (what, err))
    for w in words:
        check(w in err, "%s: stderr does not name %r: %r" % (what, w, err))
    return err


def usage_error(args, *words):
    return one_line_error(args, 2, *words)


# ---------------------------------------------------------------------------

@case
def unknown_option():
    usage_error(["--stdout", "--bogus"], "unknown option", "--bogus")
    usage_error(["--stdout", "-x"], "unknown option", "-x")
    usage_error(["--stdout", "-dx"], "unknown option", "-x")


@case
def missing_argument():
    for opt in ("--netns", "--events", "--types", "--rcvbuf", "--labelmap"):
        usage_error(["--stdout", opt], opt, "missing argument")


@case
def bad_events():
    usage_error(["--stdout", "--events", "foo"], "--events", "'foo'")
    usage_error(["--stdout", "--events", "new,foo"], "--events", "'foo'")
    # A kind that exists, but not for a live stream.
    usage_error(["--stdout", "--events", "snapshot"], "--events",
                "'snapshot'")
    usage_error(["--stdout", "--events", ","], "--events", "empty")


@case
def bad_types():
    usage_error(["--stdout", "--types", "bar"], "--types", "'bar'")
    usage_error(["--stdout", "--types", "ct,bar"], "--types", "'bar'")


@case
def bad_rcvbuf():
    for v in ("abc", "-1", "12X", "1KB", "0x10", "3G", "4294967296", ""):
        usage_error(["--stdout", "--rcvbuf", v], "--rcvbuf", "'%s'" % v)


@case
def rcvbuf_overflow():
    for v in ("17179869184G", "18014398509481984K"):
        usage_error(["--stdout", "--rcvbuf", v], "--rcvbuf", "'%s'" % v)


@case
def bad_netns_name():
    for v in ("../../etc", "..", ".", "a/b", "", "a b"):
        usage_error(["--stdout", "--netns", v], "--netns", "'%s'" % v)
    # In a list (or a repeated --netns) each name is checked.
    usage_error(["--stdout", "--netns", "ok1,../x"], "--netns", "'../x'")
    usage_error(["--stdout", "--netns", "ok1", "--netns", "a/b"], "--netns",
                "'a/b'")


@case
def extra_argument():
    usage_error(["--stdout", "foo"], "unexpected argument", "'foo'")


@case
def no_output_option():
    none = ["--events-socket", "none", "--control-socket", "none"]
    usage_error(none, "nothing to do", "--stdout")
    usage_error(none + ["--events", "new"], "nothing to do", "--stdout")


@case
def option_with_unwanted_argument():
    for opt in ("--stdout", "--enable-acct", "--version"):
        usage_error(["--stdout", opt + "=1"], opt)


@case
def version():
    with open(os.path.join(ctsd.builddir(), "config.h")) as f:
        m = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read())
    check(m is not None, "no PACKAGE_VERSION in config.h")
    for opt in ("-V", "--version"):
        rc, out, err = daemon(opt)
        check_eq((rc, out, err), (0, "ctstreamd %s\n" % m.group(1), ""),
                 "ctstreamd %s: (status, stdout, stderr)" % opt)


def source_options():
    """The daemon's settings table, from its source (src/opts.c): each
    option's name and whether it takes an argument."""
    with open(os.path.join(ctsd.srcdir(), "src", "opts.c")) as f:
        src = f.read()
    table = re.search(r"struct optdef optdefs\[\] = \{(.*?)\n\};", src, re.S)
    check(table is not None, "no optdefs table in src/opts.c")
    opts = []
    for name, kind in re.findall(r'\{ "([a-z-]+)", (?:\'.\'|0), OT_(\w+)',
                                 table.group(1)):
        noarg = kind in ("FLAG", "COUNT") or name in (
            "check-config", "version", "help")
        opts.append((name, "no" if noarg else "required"))
    return opts


@case
def help_mentions_every_option():
    """-h and --help: exit 0, usage on stdout naming every option the
    daemon accepts.  Options in the table that -h leaves out must be
    refused as not implemented yet."""
    documented = {"stdout", "netns", "events", "types", "enable-acct",
                  "enable-timestamp", "rcvbuf", "labelmap", "debug",
                  "version", "help"}
    opts = dict(source_options())
    check(documented <= set(opts), "options missing from the source "
          "table: %r" % (documented - set(opts)))
    for flag in ("-h", "--help"):
        rc, out, err = daemon(flag)
        check_eq((rc, err), (0, ""), "ctstreamd %s: (status, stderr)" % flag)
        check(out.startswith("usage: ctstreamd"), "%s: %r" % (flag, out[:80]))
        for short in ("-d", "-V", "-h"):
            check(re.search(r"(^|\s)%s\b" % short, out),
                  "%s does not mention %s" % (flag, short))
        for name, arg in opts.items():
            if re.search(r"--%s\b" % re.escape(name), out):
                continue
            check(name not in documented,
                  "%s does not mention --%s" % (flag, name))
            args = ["--" + name] + (["x"] if arg == "required" else [])
            usage_error(["--stdout"] + args, "--" + name, "not implemented")


@case
def netns_fifo_does_not_hang():
    with tempfile.TemporaryDirectory(prefix="ctsd-") as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        p = subprocess.Popen([ctsd.daemon_path(), "--stdout", "--netns",
                              fifo], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.communicate()
            ctsd.fail("ctstreamd --netns %s still runs after 5s" % fifo)
        check(p.returncode != 0, "exit status 0 for a FIFO")
        check(b"not a network namespace" in err and fifo.encode() in err,
              "stderr: %r" % err)


@case
@root_only
def netns_does_not_exist():
    name = "ctsd-%d-does-not-exist" % os.getpid()
    check(not os.path.exists("/run/netns/" + name), name + " exists")
    rc, out, err = daemon("--stdout", "--netns", name)
    check(rc not in (0, 2), "exit status %d (stderr %r)" % (rc, err))
    check_eq(out, "", "stdout")
    check(err.startswith("ctstreamd: ") and err.count("\n") == 1,
          "stderr is not one 'ctstreamd: ' line: %r" % err)
    check(name in err and "/run/netns/" + name in err,
          "stderr does not name the namespace and its path: %r" % err)


@case
@root_only
def netns_not_a_namespace():
    for path in ("/etc/passwd", "/proc/self/ns/mnt"):
        rc, out, err = daemon("--stdout", "--netns", path)
        check(rc not in (0, 2), "%s: exit status %d (stderr %r)"
              % (path, rc, err))
        check_eq(out, "", path + ": stdout")
        check(path in err and "not a network namespace" in err,
              "%s: stderr does not refuse it as not a network namespace: %r"
              % (path, err))


if __name__ == "__main__":
    sys.exit(ctsd.main(CASES, needs_root=False, needs_schema=False))
