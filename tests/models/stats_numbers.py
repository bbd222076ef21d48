"""A host connection on the descriptor number the stats thread gives its
client in its own table stays recorded exactly across stats queries.

The stats thread numbers its descriptors in a table of its own: its
listening socket L is the lowest number there (0; 3 in a sanitizer build,
which keeps 0-2), the client it serves L + 1. The host's numbers are
another table, and the same number there may be a WebSocket connection
the shim tracks (a daemon that closed its stdio, an inetd-style server
whose connection is on 0 and 1). The shim must tell the two apart.

The host, a python echo server under the shim, listens, is told N = L + 1
(read from /proc/PID/task/TID/fd), puts the connection it accepts on N
(dup2) and echoes. The client sends 3 texts, asks the stats socket for a
snapshot, sends 3 more and closes. Checks, on the host's dump: the
connection is on N, has every message each way (6 texts and the close),
in order, and no error (no gap).
"""
import os
import subprocess
import sys

import modelkit  # noqa: F401  (puts tests/shim on the path)
from modelkit import check, figure, harness

# A WebSocket echo server: prints "PORT <n>", reads N from stdin, accepts
# one connection and moves it to N, echoes until the client's close.
ECHO_HOST = r"""
import base64, hashlib, os, socket, sys
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.bind(("127.0.0.1", 0))
ls.listen()
print("PORT", ls.getsockname()[1], flush=True)
n = int(sys.stdin.readline())
conn, _ = ls.accept()
if conn.fileno() != n:
    os.dup2(conn.fileno(), n)
    conn.close()
    conn = socket.socket(fileno=n)
buf = b""
while b"\r\n\r\n" not in buf:
    buf += conn.recv(4096)
key = [line.split(b":", 1)[1].strip() for line in buf.split(b"\r\n")
       if line.lower().startswith(b"sec-websocket-key:")][0]
accept = base64.b64encode(hashlib.sha1(
    key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
             + b"\r\n\r\n")
def exactly(k):
    data = b""
    while len(data) < k:
        more = conn.recv(k - len(data))
        if not more:
            raise EOFError
        data += more
    return data
while True:
    head = exactly(2)
    size, mask = head[1] & 0x7f, exactly(4)
    payload = bytes(b ^ mask[i & 3] for i, b in enumerate(exactly(size)))
    conn.sendall(bytes([0x80 | (head[0] & 0x0f), len(payload)]) + payload)
    if head[0] & 0x0f == 0x8:
        break
conn.close()
"""


def stats_listener_number(sock_dir, pid):
    """The number of the stats thread's listening socket in its own
    table, or None."""
    # Bound as <pid>.sock.new and renamed once listening (stats_server.h).
    inode = harness.socket_inode(harness.socket_path(sock_dir, pid) + ".new")
    if inode is None:
        return None
    for tid in os.listdir(f"/proc/{pid}/task"):
        if int(tid) == pid:
            continue
        try:
            for fd in os.listdir(f"/proc/{pid}/task/{tid}/fd"):
                link = os.readlink(f"/proc/{pid}/task/{tid}/fd/{fd}")
                if link == f"socket:[{inode}]":
                    return int(fd)
        except OSError:
            pass
    return None


def main():
    args = harness.parse_args()
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        dump = os.path.join(tmp, "dump.json")
        host = harness.spawn(["/usr/bin/python3", "-c", ECHO_HOST],
                             harness.shim_env(args, sock_dir, dump),
                             stdin=subprocess.PIPE)
        port = int(host.stdout.readline().split()[1])
        found = []  # the number may be 0: wait for "not None"
        harness.wait_for(lambda: found.append(stats_listener_number(
            sock_dir, host.pid)) or found[-1] is not None, 3)
        listener = found[-1]
        check(listener is not None,
              f"the stats thread's listening socket is in its own table: "
              f"{listener}")
        if listener is None:
            return
        n = listener + 1
        figure("stats thread's numbers", f"listening {listener}, "
               f"client {n}: the host's connection put on {n}")
        host.stdin.write(f"{n}\n".encode())
        host.stdin.close()
        host.stdin = None
        client = harness.RawClient(port, "/numbers")
        echoes = [client.echo(f"before {i}") for i in range(3)]
        snap = harness.live_request(sock_dir, host.pid, "snapshot")
        check(snap is not None and snap["pid"] == host.pid,
              "the stats socket answered a snapshot")
        echoes += [client.echo(f"after {i}") for i in range(3)]
        texts = [f"before {i}" for i in range(3)] + \
            [f"after {i}" for i in range(3)]
        check(echoes == texts, f"every text echoed: {echoes}")
        client.close_handshake(1000, "done")
        out, err = host.communicate(timeout=20)
        check(host.returncode == 0, f"the host exits 0: {host.returncode} "
              f"{err.decode(errors='replace')}")
        conns = harness.load_json(dump)["connections"] \
            if os.path.exists(dump) else []
        check(len(conns) == 1, f"the host's dump has its connection: "
              f"{len(conns)}")
        if len(conns) != 1:
            return
        c = conns[0]
        check(c["fd"] == n, f"the connection is on {n}: {c['fd']}")
        check(c["error"] is None,
              f"no error on the connection (no gap): {c['error']}")
        for d in ("received", "sent"):
            check(c[d]["messages"] == 7,
                  f"{d}: 6 texts and the close: {c[d]}")
            got = [m.get("text") for m in c["messages"]
                   if m["dir"] == d and m["type"] == "text"]
            check(got == texts, f"{d}: every text, in order: {got}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
