#!/bin/sh
# record-corpus.sh NLRECORD OUTDIR - record real ctnetlink messages.
#
# As root.  Makes a private network namespace fz-PID, switches on its
# (and only its) accounting and timestamps, loads a ruleset there that
# makes conntrack track locally generated traffic (with an FTP helper, a
# mark and a zone), and records with NLRECORD (fuzz/nlrecord) while
# TCP, UDP, ICMP and ICMPv6, IPv4 and IPv6 traffic and FTP control
# connections (PORT, EPRT and a PASV reply, each making an expectation)
# run on its loopback; then dumps both tables and flushes them, so that
# destroy events are recorded too.  Every message ends up in OUTDIR as
# one file named after its SHA-1.  The namespace is deleted on exit; the
# initial namespace's ruleset and sysctls are never touched.
set -eu
nlrecord=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
outdir=$2
ns=fz-$$
tmp=$(mktemp -d)

cleanup() {
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

ip netns add "$ns"
in_ns() { ip netns exec "$ns" "$@"; }
in_ns ip link set lo up
in_ns sysctl -qw net.netfilter.nf_conntrack_acct=1 \
    net.netfilter.nf_conntrack_timestamp=1
printf '%s\n' \
    'table inet t {' \
    ' ct helper ftp-std { type "ftp" protocol tcp; }' \
    ' chain raw { type filter hook output priority -300; udp dport 7777 ct zone set 5; }' \
    ' chain c {' \
    '  type filter hook output priority 0;' \
    '  tcp dport 21 ct helper set "ftp-std"' \
    '  udp dport 9999 ct mark set 0x2a' \
    '  ct state new counter' \
    ' }' \
    '}' | in_ns nft -f -

mkdir -p "$tmp/ev" "$tmp/dump"
in_ns "$nlrecord" -t 12 -n 5000 "$tmp/ev" >"$tmp/ready" &
rec=$!
i=0
while ! grep -q listening "$tmp/ready" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "record-corpus: recorder did not start" >&2; exit 1; }
	sleep 0.1
done

in_ns python3 - <<'PY'
import socket, threading, time

def serve(fam, addr, port, reply=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(8)
    def run():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            if reply:
                c.sendall(reply)
            try:
                c.recv(4096)
                c.sendall(b"200 OK\r\n")
            except OSError:
                pass
            time.sleep(0.2)
            c.close()
    threading.Thread(target=run, daemon=True).start()
    return s

serve(socket.AF_INET, "127.0.0.1", 8080)
serve(socket.AF_INET6, "::1", 8080)

def ftp_server(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 21))
    s.listen(8)
    replies = {b"USER": b"331 go on\r\n", b"PORT": b"200 OK\r\n",
               b"EPRT": b"200 OK\r\n",
               b"PASV": b"227 Entering Passive Mode (127,0,0,1,195,80)\r\n",
               b"EPSV": b"229 Entering Extended Passive Mode (|||50001|)\r\n"}
    def run():
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            c.sendall(b"220 fake ftp\r\n")
            while True:
                try:
                    line = c.recv(4096)
                except OSError:
                    break
                if not line:
                    break
                c.sendall(replies.get(line[:4], b"500 ?\r\n"))
            c.close()
    threading.Thread(target=run, daemon=True).start()

ftp_server(socket.AF_INET, "127.0.0.1")
ftp_server(socket.AF_INET6, "::1")

def ftp(fam, addr, cmds):
    # The helper parses only commands that follow the first data
    # exchanged, so log in first, as a real client does.
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.connect((addr, 21))
    c.recv(4096)
    for cmd in [b"USER anonymous\r\n"] + cmds:
        c.sendall(cmd)
        c.recv(4096)
    time.sleep(0.2)
    c.close()

def tcp(fam, addr, port, data):
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.connect((addr, port))
    c.sendall(data)
    try:
        c.recv(4096)
    except OSError:
        pass
    time.sleep(0.3)
    c.close()

tcp(socket.AF_INET, "127.0.0.1", 8080, b"GET / HTTP/1.0\r\n\r\n")
tcp(socket.AF_INET6, "::1", 8080, b"hello\n")
ftp(socket.AF_INET, "127.0.0.1", [b"PORT 127,0,0,1,200,10\r\n", b"PASV\r\n"])
ftp(socket.AF_INET6, "::1", [b"EPRT |2|::1|5282|\r\n", b"EPSV\r\n"])
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for port in (9999, 7777, 53):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.sendto(b"x" * 40, (addr, port))
        u.close()
# A refused TCP connection: a SYN and a RST.
try:
    tcp(socket.AF_INET, "127.0.0.1", 1, b"")
except OSError:
    pass
# SCTP, where the kernel has it.
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132)
    s.settimeout(0.5)
    s.connect(("127.0.0.1", 5000))
except OSError:
    pass
time.sleep(0.5)
PY
in_ns ping -q -c 2 -i 0.2 127.0.0.1 >/dev/null 2>&1 || true
in_ns ping -q -6 -c 2 -i 0.2 ::1 >/dev/null 2>&1 || true
sleep 1
in_ns "$nlrecord" -d -t 0 "$tmp/dump" >/dev/null
in_ns conntrack -F >/dev/null 2>&1 || true
in_ns conntrack -X >/dev/null 2>&1 || true
wait "$rec"

mkdir -p "$outdir"
for f in "$tmp"/ev/* "$tmp"/dump/*; do
	[ -f "$f" ] || continue
	cp "$f" "$outdir/$(sha1sum "$f" | cut -c1-40)"
done
echo "record-corpus: $(ls "$tmp/ev" | wc -l) events and $(ls "$tmp/dump" | wc -l) dump entries recorded"
