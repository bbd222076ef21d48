"""A deflate bomb against a real python3-websockets server, with and
without the shim: wsdbg's work inside the host's read() must stay bounded.

A client of our own sends one permessage-deflate text frame of about 1 MB
that inflates to 1 GiB of zeros (RFC 7692 7.2.1: raw DEFLATE, wbits -15,
the 00 00 ff ff tail stripped); the server (tests/shim/echo_server.py,
websockets' max_size of 1 MiB) inflates 1 MiB of it and closes with 1009.
Meanwhile a second connection of the same server echoes small texts.
Each round measures:
  - answer: from the bomb's first byte sent to the server's close frame;
  - echo: the slowest echo of the second connection under way then.
The bare server (no wsdbg; in a sanitizer build its runtime preloaded,
as under the shim) and the shimmed one take turns, ROUNDS rounds each;
the shim's median of each figure must be within MARGIN of the bare one.
Without the inflate cap the shim inflated the whole gigabyte inside the
server's read(): medians of 5.2 s to answer instead of 0.12 s, echoes
2.5 s late instead of 0.10 s (plain build, loaded machine).

Then the shimmed server's WSDBG_DUMP must list each bomb as a compressed
text inflated up to the cap and flagged ("size_is_lower_bound"), the
server's close 1009 after it, no decoding error, the echoes whole, the
totals counting the capped messages; and `wsdbg msgs` must show them
capped ("≥1.0 MB", "[inflate capped]").

Usage: python_deflate_bomb.py --shim LIB --cli WSDBG [--preload-first LIB]
Prints "N passed, N failed" and exits 1 on any failure.
"""
import base64
import hashlib
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib

import harness
from harness import check

HERE = os.path.dirname(os.path.abspath(__file__))

ROUNDS = 5
# What the shim may add to the median answer and echo times: bare + this.
# The capped bomb costs the shim 2.3 ms of work inside the read (5 ms
# under ASan), measured in-process; the rest is the noise of a loaded
# 2-core machine (load averages of 6 to 380 while measuring): over 13
# plain runs the shim's medians came -0.02..+0.06 s from the bare ones
# (answer) and -0.02..+0.04 s (echo), over 7 ASan runs -0.07..+0.08 s
# and -0.05..+0.03 s; the uncapped shim's were 5.1 s and 2.4 s over.
MARGIN = 0.25
CAP = 1 << 20  # WSDBG_MAX_INFLATE's default


def bomb_payload():
    """1 GiB of zeros as a permessage-deflate message body, about 1 MB:
    16 MiB compressed once, then again (referring back to the zeros
    before it) 63 times, each ending in a sync flush; the last flush's
    00 00 ff ff removed (RFC 7692 7.2.1)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    seg = bytes(1 << 24)
    first = c.compress(seg) + c.flush(zlib.Z_SYNC_FLUSH)
    rest = c.compress(seg) + c.flush(zlib.Z_SYNC_FLUSH)
    body = first + rest * 63
    assert body.endswith(b"\x00\x00\xff\xff")
    return body[:-4]


def masked_frame(first_byte, payload):
    """A masked frame (RFC 6455 5.2, 5.3) with a 64-bit length."""
    key = os.urandom(4)
    n = len(payload)
    mask = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")) \
        .to_bytes(n, "big")
    return bytes([first_byte, 0x80 | 127]) + n.to_bytes(8, "big") + key \
        + body


class BombClient:
    """A raw client that offers permessage-deflate."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /bomb HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Extensions: permessage-deflate; "
            f"client_max_window_bits\r\n\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
            .digest()).decode()
        lower = head.lower()
        if not head.startswith(b"HTTP/1.1 101") or \
                f"sec-websocket-accept: {accept}".lower().encode() \
                not in lower or b"permessage-deflate" not in lower:
            raise RuntimeError(f"upgrade without deflate: {head!r}")

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def close_code(self):
        """Reads frames until a close; returns its code."""
        while True:
            while len(self.buf) < 2:
                self._more()
            n, off = self.buf[1] & 0x7f, 2
            if n == 126:
                while len(self.buf) < 4:
                    self._more()
                n, off = int.from_bytes(self.buf[2:4], "big"), 4
            while len(self.buf) < off + n:
                self._more()
            opcode, payload = self.buf[0] & 0x0f, self.buf[off:off + n]
            self.buf = self.buf[off + n:]
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big") if n >= 2 else None


class Echoer(threading.Thread):
    """Echoes a small text over its own connection every 5 ms and keeps
    each echo's (start, seconds)."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = harness.RawClient(port, "/echo")
        self.samples = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                t = time.monotonic()
                text = f"echo {i}"
                if self.client.echo(text) != text:
                    raise RuntimeError("echo differs")
                self.samples.append((t, time.monotonic() - t))
                i += 1
                time.sleep(0.005)
        except Exception as e:  # reported by the main thread
            self.error = e

    def worst_during(self, t0, t1):
        """The slowest echo that was under way at some time in [t0, t1]."""
        return max((d for t, d in self.samples if t <= t1 and t + d >= t0),
                   default=0.0)

    def finish(self):
        self.stop.set()
        self.join(10)
        self.client.close_handshake(1000, "done")


def one_round(port, frame):
    """One bomb and the echoes beside it: (answer s, worst echo s, code)."""
    echoer = Echoer(port)
    echoer.start()
    time.sleep(0.05)  # a few echoes before
    bomb = BombClient(port)
    t0 = time.monotonic()
    bomb.sock.sendall(frame)
    code = bomb.close_code()
    t1 = time.monotonic()
    bomb.sock.close()
    time.sleep(0.05)  # a few echoes after
    echoer.finish()
    check(echoer.error is None, f"echo connection ran: {echoer.error}")
    return t1 - t0, echoer.worst_during(t0, t1), code


def check_dump(snap, rounds):
    conns = snap["connections"]
    bombs = [c for c in conns if c["path"] == "/bomb"]
    echoes = [c for c in conns if c["path"] == "/echo"]
    check(len(bombs) == rounds and len(echoes) == rounds,
          f"{rounds} bomb and {rounds} echo connections: "
          f"{len(bombs)} {len(echoes)}")
    for c in bombs:
        got = [m for m in c["messages"] if m["dir"] == "received"
               and m["type"] == "text"]
        check(len(got) == 1, f"the bomb listed once: {len(got)}")
        if got:
            m = got[0]
            check(m["compressed"] and m["inflated"]
                  and m["size_is_lower_bound"] and m["truncated"],
                  f"the bomb flagged inflated up to the cap: {m}"[:300])
            check(m["size"] == CAP, f"its size is the cap: {m['size']}")
            check(m.get("text", "") == "\0" * 10240,
                  "its kept text is the first 10 KiB of zeros")
        check(c["close"] is not None and c["close"]["code"] == 1009
              and c["close"]["by"] == "server",
              f"the server's close 1009 recorded: {c['close']}")
        check(c["error"] is None, f"no decoding error: {c['error']}")
        check(c["received"]["wire_bytes"] > 1000000,
              f"every byte counted: {c['received']['wire_bytes']}")
    for c in echoes:
        texts = [m for m in c["messages"] if m["type"] == "text"]
        check(texts and all(m.get("text", "").startswith("echo ")
                            and not m["compressed"] for m in texts),
              "the echoes recorded whole")
    t = snap["totals"]
    check(t["inflate_capped_received"] == rounds
          and t["not_inflated_received"] == 0
          and t["inflate_capped_sent"] == 0,
          f"totals: {rounds} capped received: "
          f"{t['inflate_capped_received']}")
    check(snap["config"]["max_inflate"] == CAP, "config shows the cap")


def check_cli(cli, dump, env, snap):
    for c in snap["connections"]:
        if c["path"] != "/bomb":
            continue
        r = subprocess.run([cli, "msgs", "--from", dump, c["id"]], env=env,
                           capture_output=True, text=True, timeout=15)
        rows = r.stdout.splitlines()
        check(r.returncode == 0 and len(rows) == 5
              and "←  text    ≥1.0 MB [deflate] [inflate capped]  "
              "\\u0000" in rows[2]
              and "→  close       2 B  1009 message too big" in rows[3],
              f"wsdbg msgs shows the bomb capped, then the close:\n"
              f"{r.stdout[:600]}{r.stderr}")


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--cli", required=True))
    frame = masked_frame(0xc1, bomb_payload())  # FIN, RSV1, text
    check(1000000 < len(frame) < 1100000, f"a 1 MB frame: {len(frame)}")
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        dump = os.path.join(tmp, "dump-%p.json")
        bare_env = harness.base_env()
        if args.preload_first:
            bare_env["LD_PRELOAD"] = args.preload_first
        argv = ["/usr/bin/python3", os.path.join(HERE, "echo_server.py"),
                "--connections", str(2 * ROUNDS), "--timeout", "90"]
        servers = {"bare": harness.Server(argv, bare_env),
                   "shim": harness.Server(argv, harness.shim_env(
                       args, sock_dir, dump))}
        figures = {"bare": [], "shim": []}
        for _ in range(ROUNDS):
            for mode in ("bare", "shim"):
                answer, echo, code = one_round(servers[mode].port, frame)
                check(code == 1009, f"{mode}: closed with 1009: {code}")
                figures[mode].append((answer, echo))
        for mode, rows in figures.items():
            print(f"{mode}: answer " + ", ".join(
                f"{a:.3f}" for a, _ in rows) + " s; worst echo " +
                ", ".join(f"{e:.3f}" for _, e in rows) + " s", flush=True)
        for i, what in enumerate(("answer", "worst echo")):
            bare = statistics.median(r[i] for r in figures["bare"])
            shim = statistics.median(r[i] for r in figures["shim"])
            check(shim <= bare + MARGIN,
                  f"{what}: the shim's median {shim:.3f} s within "
                  f"{MARGIN} s of the bare {bare:.3f} s")
        for mode, server in servers.items():
            server.finish(timeout=30)
            check(server.returncode == 0,
                  f"{mode} server exit status 0: {server.err[-500:]}")
        check("wsdbg:" not in servers["shim"].err,
              f"no wsdbg warnings: {servers['shim'].err[-500:]}")
        path = dump.replace("%p", str(servers["shim"].pid))
        check(os.path.exists(path), "WSDBG_DUMP written at exit")
        if os.path.exists(path):
            snap = harness.load_json(path)
            check_dump(snap, ROUNDS)
            check_cli(args.cli, path, harness.base_env(), snap)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
