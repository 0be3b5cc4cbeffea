#!/usr/bin/env python3
"""
test_completion.py - the bash completion of ctstreamd and ctstreamctl.

Real bash with Debian's bash-completion: each check sources
/usr/share/bash-completion/bash_completion and the file under
contrib/bash-completion, sets COMP_WORDS, COMP_CWORD, COMP_LINE and
COMP_POINT as readline would, calls the completion function and reads
COMPREPLY.  What should be completed comes from the programs themselves:

  ctstreamd    every long option of --help, from --help and from the
               list the file falls back on when the daemon cannot be run;
               the values it offers for --events, --types, --kernel-proto
               and --sub-policy are accepted by ctstreamd -n; no option
               name is offered where a value is due
  ctstreamctl  the commands of --help; for each command, exactly the
               options it accepts (found by running ctstreamctl with each
               option: "does not apply" or not), short and long; the
               protocols, status flags and states it offers are accepted;
               options before the command, operands, value lists
  install      make install-dist_bashcompDATA DESTDIR=... puts both files
               where bash-completion's on-demand loader finds them

Needs bash and bash-completion (Debian: bash-completion), the built
ctstreamd and ctstreamctl, and the build tree's Makefile for the install
check; not root.  Run one case: test_completion.py NAME...
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ctsd                                              # noqa: E402
from ctsd import check, check_eq                          # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

# Source bash-completion and one file, then complete the words given as
# arguments, the last being the word under the cursor; print COMPREPLY
# one a line, then what completion options compopt set.
DRIVER = r"""
source "$BASH_COMPLETION" || exit 90
source "$1" || exit 91
func=$2
shift 2
COMP_WORDS=("$@")
COMP_CWORD=$(($# - 1))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$func" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
    "${COMP_WORDS[COMP_CWORD-1]}"
printf 'reply:%s\n' "${COMPREPLY[@]}"
"""


def build_program(name):
    env = {"ctstreamd": "CTSTREAMD", "ctstreamctl": "CTSTREAMCTL"}[name]
    path = os.environ.get(env) or os.path.join(ctsd.builddir(), "src", name)
    check(os.access(path, os.X_OK), "%s is missing (set %s)" % (path, env))
    return os.path.abspath(path)


def completion_file(name):
    return os.path.join(ctsd.srcdir(), "contrib", "bash-completion", name)


def complete(name, words, path_build=True, cwd=None):
    """COMPREPLY of the completion of words (the last one is being
    completed) for command name, as a sorted list."""
    env = dict(os.environ)
    env["BASH_COMPLETION"] = BASH_COMPLETION
    if path_build:
        env["PATH"] = os.path.dirname(build_program(name)) + ":" + \
            env.get("PATH", "/usr/bin:/bin")
    p = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", DRIVER, "driver",
         completion_file(name), "_" + name] + list(words),
        capture_output=True, text=True, env=env, cwd=cwd or "/",
        timeout=30)
    check(p.returncode == 0, "completing %r: bash exited %d: %s"
          % (words, p.returncode, p.stderr))
    # compopt outside a real completion says so; anything else is wrong.
    bad = [l for l in p.stderr.splitlines()
           if "compopt: not currently executing completion function" not in l]
    check(not bad, "completing %r: stderr: %s" % (words, "\n".join(bad)))
    return sorted(l[len("reply:"):] for l in p.stdout.splitlines()
                  if l.startswith("reply:") and l != "reply:")


_empty = []


def empty_dir():
    """A directory with no files (for options that complete file names)."""
    if not _empty:
        _empty.append(tempfile.mkdtemp(prefix="ctsd-compl-"))
        ctsd.add_cleanup(lambda: shutil.rmtree(_empty[0], ignore_errors=True))
    return _empty[0]


def check_completes(name, words, want, **kw):
    check_eq(complete(name, words, **kw), sorted(want),
             "completion of %r" % " ".join(words))


def run_prog(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL, **kw)


# ---------------------------------------------------------------------------
# ctstreamd

def daemon_help():
    """{long option: metavar or None} from ctstreamd --help."""
    p = run_prog([build_program("ctstreamd"), "--help"])
    check_eq(p.returncode, 0, "ctstreamd --help's exit status")
    opts = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^\s+(?:-\w, )?(--[a-z][a-z0-9-]*)(?: (\S+))?", line)
        if m:
            opts[m.group(1)] = m.group(2)
    check(len(opts) > 30, "ctstreamd --help lists %d options" % len(opts))
    return opts


def daemon_accepts(opt, value):
    p = run_prog([build_program("ctstreamd"), "-n", "-f", "/dev/null", opt,
                  value])
    return p.returncode == 0


@case
def ctstreamd_options():
    """`ctstreamd -` completes every long option of --help, whether the
    options come from --help or from the file's own list."""
    want = sorted(daemon_help())
    check_completes("ctstreamd", ["ctstreamd", "--"], want)
    # The daemon cannot be run (not installed, no PATH): the fallback.
    check_completes("ctstreamd", ["/nonexistent/ctstreamd", "--"], want,
                    path_build=False)
    check_completes("ctstreamd", ["ctstreamd", "--stdout", "--netns-"],
                    ["--netns-all"])
    check_completes("ctstreamd", ["ctstreamd", "--enable-"],
                    ["--enable-acct", "--enable-timestamp"])


@case
def ctstreamd_values():
    """The values ctstreamd's completion offers are ones ctstreamd -n
    accepts; after an option that takes a value no option is offered."""
    opts = daemon_help()
    empty = tempfile.mkdtemp(prefix="ctsd-compl-")
    try:
        for opt, metavar in sorted(opts.items()):
            if metavar is None:
                continue
            got = complete("ctstreamd", ["ctstreamd", opt, "-"], cwd=empty)
            check(not got, "after %s, '-' completes to %r" % (opt, got))
        with open(os.path.join(empty, "ctsd.conf"), "w"):
            pass
        check_completes("ctstreamd", ["ctstreamd", "--config", "ct"],
                        ["ctsd.conf"], cwd=empty)
        check_completes("ctstreamd", ["ctstreamd", "-f", "ct"],
                        ["ctsd.conf"], cwd=empty)
    finally:
        shutil.rmtree(empty)
    check_completes("ctstreamd", ["ctstreamd", "--events", ""],
                    ["new", "update", "destroy", "all"])
    check_completes("ctstreamd", ["ctstreamd", "--events", "new,"],
                    ["new,update", "new,destroy", "new,all"])
    check_completes("ctstreamd", ["ctstreamd", "--types", ""],
                    ["ct", "expect", "all"])
    check_completes("ctstreamd", ["ctstreamd", "--kernel-proto", "!ud"],
                    ["!udp", "!udplite"])
    check_completes("ctstreamd", ["ctstreamd", "--sub-policy", ""],
                    ["drop", "disconnect"])
    check_completes("ctstreamd", ["ctstreamd", "--events-socket", "no"],
                    ["none"], cwd=empty_dir())
    for opt in ("--events", "--types", "--kernel-proto", "--sub-policy"):
        for v in complete("ctstreamd", ["ctstreamd", opt, ""]):
            check(daemon_accepts(opt, v), "ctstreamd -n refuses %s %s, "
                  "which the completion offers" % (opt, v))


# ---------------------------------------------------------------------------
# ctstreamctl

def ctl_help():
    p = run_prog([build_program("ctstreamctl"), "--help"])
    check_eq(p.returncode, 0, "ctstreamctl --help's exit status")
    return p.stdout


def ctl_commands():
    """The commands of ctstreamctl --help's Commands section."""
    text = ctl_help()
    m = re.search(r"^Commands:\n(.*?)\n\n", text, re.S | re.M)
    check(m is not None, "no Commands section in ctstreamctl --help")
    cmds = set()
    for line in m.group(1).splitlines():
        mm = re.match(r"^  ([a-z]+)((?: \| [a-z]+)*)", line)
        if mm:
            cmds.add(mm.group(1))
            cmds.update(re.findall(r"\| ([a-z]+)", mm.group(2)))
    check(len(cmds) >= 10, "commands in ctstreamctl --help: %r" % cmds)
    return cmds


def ctl_options():
    """Every option ctstreamctl --help names, short and long."""
    opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b",
                          ctl_help()))
    check(len(opts) > 40, "options in ctstreamctl --help: %r" % opts)
    return opts


def ctl_probe(cmd, opt):
    """Whether command cmd takes option opt, and whether opt takes a
    value: ctstreamctl checks both before it connects anywhere."""
    base = [build_program("ctstreamctl"), "-C", "/nonexistent/ctl.sock",
            "-E", "/nonexistent/ev.sock", cmd]
    p = run_prog(base + [opt])
    takes_value = "a value is needed for option" in p.stderr
    if takes_value:
        p = run_prog(base + [opt, "1"])
    check(not re.search(r"unknown(, ambiguous or misused)? option",
                        p.stderr),
          "ctstreamctl %s %s: %s" % (cmd, opt, p.stderr.strip()))
    accepted = "does not apply to %s" % cmd not in p.stderr
    return accepted, takes_value


@case
def ctstreamctl_commands():
    """The commands, at the start and after global options (with and
    without values)."""
    cmds = ctl_commands() | {"help"}
    check_eq(run_prog([build_program("ctstreamctl"), "help"]).returncode, 0,
             "ctstreamctl help's exit status")
    check_completes("ctstreamctl", ["ctstreamctl", ""], cmds)
    check_completes("ctstreamctl", ["ctstreamctl", "-j", "d"],
                    [c for c in cmds if c.startswith("d")])
    check_completes("ctstreamctl", ["ctstreamctl", "-C", "/x", "--netns",
                                    "blue", "st"], ["stats"])
    check_completes("ctstreamctl", ["ctstreamctl", "--control-socket=/x",
                                    "w"], ["watch"])


@case
def ctstreamctl_options():
    """For each command, `-` completes exactly the options ctstreamctl
    accepts with it (short and long); after an option that takes a value,
    no option is offered."""
    opts = ctl_options()
    for cmd in sorted(ctl_commands() | {"help"}):
        accepted, valued = set(), set()
        for opt in sorted(opts):
            ok, v = ctl_probe(cmd, opt)
            if ok:
                accepted.add(opt)
            if v:
                valued.add(opt)
        check_completes("ctstreamctl", ["ctstreamctl", cmd, "-"], accepted)
        for opt in sorted(valued & accepted):
            got = complete("ctstreamctl", ["ctstreamctl", cmd, opt, "-"],
                           cwd=empty_dir())
            check(not got, "ctstreamctl %s %s -: offers %r" % (cmd, opt, got))


@case
def ctstreamctl_values():
    """Protocols, status flags, states and lists: what is offered is
    accepted by ctstreamctl, and the lists go on after a comma."""
    ctl = build_program("ctstreamctl")
    base = [ctl, "-C", "/nonexistent/ctl.sock", "-E", "/nonexistent/ev.sock"]

    def accepted(argv):
        p = run_prog(base + argv)
        return p.returncode == 1 and "cannot connect" in p.stderr

    protos = complete("ctstreamctl", ["ctstreamctl", "dump", "-p", ""])
    check({"tcp", "udp", "icmp", "icmpv6", "sctp"} <= set(protos),
          "protocols offered: %r" % protos)
    for v in protos:
        check(accepted(["dump", "-p", v]), "dump -p %s is refused" % v)
    statuses = complete("ctstreamctl", ["ctstreamctl", "dump", "-u", ""])
    check({"ASSURED", "SEEN_REPLY", "DST_NAT"} <= set(statuses),
          "status flags offered: %r" % statuses)
    for v in statuses:
        check(accepted(["dump", "-u", v]), "dump -u %s is refused" % v)
    states = complete("ctstreamctl", ["ctstreamctl", "dump", "--state", ""])
    check({"ESTABLISHED", "TIME_WAIT", "COOKIE_WAIT"} <= set(states),
          "states offered: %r" % states)
    for v in states:
        check(accepted(["dump", "--state", v]), "dump --state %s is "
              "refused" % v)
    tcp = complete("ctstreamctl", ["ctstreamctl", "create", "tcp",
                                   "192.0.2.1:1", "192.0.2.2:2", "--state",
                                   ""])
    check("ESTABLISHED" in tcp and "COOKIE_WAIT" not in tcp,
          "create --state offers %r" % tcp)
    for v in tcp:
        check(accepted(["create", "tcp", "192.0.2.1:1", "192.0.2.2:2",
                        "--timeout", "5", "--state", v]),
              "create --state %s is refused" % v)
    check_completes("ctstreamctl", ["ctstreamctl", "watch", "-e", "new,"],
                    ["new,update", "new,destroy"])
    check_completes("ctstreamctl", ["ctstreamctl", "watch", "--types", ""],
                    ["ct", "expect"])
    check_completes("ctstreamctl", ["ctstreamctl", "dump", "-f", ""],
                    ["ipv4", "ipv6"])
    check_completes("ctstreamctl", ["ctstreamctl", "watch", "-p", "tcp,ud"],
                    ["tcp,udp", "tcp,udplite"])
    check_completes("ctstreamctl", ["ctstreamctl", "get", ""], protos)
    check_completes("ctstreamctl", ["ctstreamctl", "delete", "-j", "ic"],
                    ["icmp", "icmpv6"])
    check_completes("ctstreamctl", ["ctstreamctl", "get", "tcp", ""], [])
    check("host" in complete("ctstreamctl", ["ctstreamctl", "stats",
                                             "--netns", ""]),
          "--netns does not offer host")


# ---------------------------------------------------------------------------
# Installation

@case
def installed():
    """make install puts both files where bash-completion loads them on
    demand, and the loader finds them there."""
    builddir = ctsd.builddir()
    if not os.path.isfile(os.path.join(builddir, "Makefile")):
        raise ctsd.Skip("no Makefile in %s (not a configured build tree)"
                        % builddir)
    dest = tempfile.mkdtemp(prefix="ctsd-compl-dest-")
    try:
        env = {k: v for k, v in os.environ.items()
               if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
        p = run_prog(["make", "-s", "-C", builddir,
                      "install-dist_bashcompDATA", "DESTDIR=" + dest],
                     env=env)
        check_eq(p.returncode, 0, "make install-dist_bashcompDATA "
                 "(stderr %r)" % p.stderr)
        found = {}
        for top, _, files in os.walk(dest):
            for f in files:
                found[f] = os.path.join(top, f)
        check_eq(sorted(found), ["ctstreamctl", "ctstreamd"],
                 "files installed")
        for name, path in found.items():
            with open(path, "rb") as a, open(completion_file(name), "rb") as b:
                check(a.read() == b.read(), "%s differs from the source"
                      % path)
        compdir = os.path.dirname(found["ctstreamctl"])
        check_eq(os.path.dirname(found["ctstreamd"]), compdir,
                 "the directory of both")
        suffix = os.sep + os.path.join("bash-completion", "completions")
        check(compdir.endswith(suffix), "installed in %s, not in a "
              "bash-completion/completions directory" % compdir[len(dest):])
        # The on-demand loader searches $XDG_DATA_DIRS/bash-completion/
        # completions: point it at the installed tree.
        env = dict(os.environ, XDG_DATA_DIRS=compdir[:-len(suffix)],
                   BASH_COMPLETION=BASH_COMPLETION)
        for name in ("ctstreamd", "ctstreamctl"):
            p = run_prog(["bash", "--norc", "--noprofile", "-c",
                          'source "$BASH_COMPLETION" && '
                          '__load_completion "$1" && complete -p "$1" && '
                          'shopt -s extdebug && declare -F "_$1"',
                          "load", name], env=env, cwd="/")
            check_eq(p.stdout.splitlines(),
                     ["complete -F _%s %s" % (name, name),
                      "_%s %d %s" % (name, 1 + [
                          i for i, l in enumerate(open(found[name]))
                          if l.startswith("_%s()" % name)][0], found[name])],
                     "bash-completion's loader for %s: what it registered, "
                     "from which file (stderr %r)" % (name, p.stderr))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def preflight():
    missing = [what for what, ok in (
        ("bash", shutil.which("bash")),
        ("bash-completion (Debian: bash-completion)",
         os.path.isfile(BASH_COMPLETION))) if not ok]
    if missing:
        print("Bail out! missing: " + ", ".join(missing))
        sys.exit(1)


if __name__ == "__main__":
    preflight()
    sys.exit(ctsd.main(CASES, needs_root=False, needs_schema=False))
