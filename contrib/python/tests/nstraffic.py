"""Make TCP and UDP flows on the loopback of the namespace it runs in.

Run inside a test namespace (ip netns exec NS python3 nstraffic.py ...).
It sets up the flows, prints one JSON line describing them, and then
either closes them at once or, with --hold, keeps them open until its
standard input reaches end of file, closes them and prints "closed".

    --tcp N        N TCP connections to one listening port (data both ways)
    --udp N        N UDP flows (one datagram each way) to one bound port
    --family 4|6   127.0.0.1 or ::1 (default 4)
    --tcp-port P   port of the TCP server (default: any free port)
    --udp-port P   port of the UDP server (default: any free port)
    --hold         keep the flows open until standard input is closed
    --payload N    bytes the TCP client sends on each connection (default 5)

Only loopback addresses of the namespace are ever used.
"""

import argparse
import json
import socket
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", type=int, default=0)
    ap.add_argument("--udp", type=int, default=0)
    ap.add_argument("--family", type=int, choices=(4, 6), default=4)
    ap.add_argument("--tcp-port", type=int, default=0)
    ap.add_argument("--udp-port", type=int, default=0)
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--payload", type=int, default=5)
    a = ap.parse_args()

    fam = socket.AF_INET if a.family == 4 else socket.AF_INET6
    host = "127.0.0.1" if a.family == 4 else "::1"
    out = {"family": "ipv4" if a.family == 4 else "ipv6", "tcp": [], "udp": []}
    keep = []

    if a.tcp:
        srv = socket.socket(fam, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((host, a.tcp_port))
        srv.listen(max(a.tcp, 16))
        port = srv.getsockname()[1]
        out["tcp_port"] = port
        keep.append(srv)
        for _ in range(a.tcp):
            c = socket.create_connection((host, port), timeout=10)
            s, _addr = srv.accept()
            c.sendall(b"x" * a.payload)
            got = 0
            while got < a.payload:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += len(chunk)
            s.sendall(b"pong")
            c.recv(16)
            sport = c.getsockname()[1]
            out["tcp"].append({"proto": "tcp", "src": host, "dst": host,
                               "sport": sport, "dport": port})
            keep.append((c, s))

    if a.udp:
        us = socket.socket(fam, socket.SOCK_DGRAM)
        us.bind((host, a.udp_port))
        port = us.getsockname()[1]
        out["udp_port"] = port
        keep.append(us)
        for _ in range(a.udp):
            u = socket.socket(fam, socket.SOCK_DGRAM)
            u.settimeout(10)
            u.sendto(b"ping", (host, port))
            _data, addr = us.recvfrom(64)
            us.sendto(b"pong", addr)
            u.recv(64)
            out["udp"].append({"proto": "udp", "src": host, "dst": host,
                               "sport": u.getsockname()[1], "dport": port})
            keep.append(u)

    print(json.dumps(out), flush=True)
    if a.hold:
        sys.stdin.read()
    for k in keep:
        if isinstance(k, tuple):
            c, s = k
            c.close()
            s.close()
        else:
            k.close()
    if a.hold:
        print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
