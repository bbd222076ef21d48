"""The shim against a real python3-websockets server.

Starts tests/shim/echo_server.py under LD_PRELOAD=libwsdbg.so, drives it
with a websockets client that is not preloaded (text, binary, ping, a
fragmented message, a close with a code), and checks:
  - the client saw exactly what it would without the shim (the echoes);
  - the live snapshot from the server's stats socket (when it has one);
  - the WSDBG_DUMP snapshot written at exit, against the schema in
    ../shared/DESIGN.md.
Usage: run_python_session.py LIBWSDBG [--no-compression]
                              [--preload-first LIB]
(--preload-first: a sanitizer runtime that must come before the shim.)
Prints "N passed, N failed" and exits 1 on any failure.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


async def drive(port, compressed):
    uri = f"ws://127.0.0.1:{port}/echo?room=7"
    compression = "deflate" if compressed else None
    async with websockets.connect(uri, compression=compression,
                                  extra_headers={"Cookie": "session=s3cret"}
                                  ) as ws:
        await ws.send('{"hello": "world"}')
        check(await ws.recv() == '{"hello": "world"}', "text echoed")
        await ws.send(bytes(range(200)))
        check(await ws.recv() == bytes(range(200)), "binary echoed")
        pong = await ws.ping(b"probe-1")
        await asyncio.wait_for(pong, 5)
        await ws.send(["part one, ", "part two"])
        check(await ws.recv() == "part one, part two", "fragments echoed")
        await ws.send("é" * 6000)  # 12000 bytes: over the 10 KiB kept
        check(await ws.recv() == "é" * 6000, "long text echoed")
        await ws.close(code=4001, reason="done here")


def live_snapshot(sock_dir, pid):
    path = os.path.join(sock_dir, f"{pid}.sock")
    if not os.path.exists(path):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"snapshot\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return json.loads(data)


def check_connection(c, compressed):
    check(c["role"] == "server", "role is server")
    check(c["path"] == "/echo" and c["query"] == "room=7", "path and query")
    check(c["headers"].get("cookie") not in (None, "session=s3cret"),
          "cookie is redacted")
    check(c["local"].startswith("127.0.0.1:"), "local address")
    check(c["peer"].startswith("127.0.0.1:"), "peer address")
    if compressed:
        check("permessage-deflate" in (c["extensions"] or ""),
              "permessage-deflate negotiated")
    msgs = c["messages"]
    received = [m for m in msgs if m["dir"] == "received"]
    sent = [m for m in msgs if m["dir"] == "sent"]
    types = [m["type"] for m in received]
    check(types == ["text", "binary", "ping", "text", "text", "close"],
          f"received types in order: {types}")
    if len(received) >= 6:
        check(received[0]["text"] == '{"hello": "world"}', "first text kept")
        check(received[0]["compressed"] == compressed, "compressed flag")
        check(received[1]["size"] == 200, "binary size")
        check(received[3]["text"] == "part one, part two"
              and received[3]["frames"] >= 2, "fragmented message")
        check(received[4]["size"] == 12000 and received[4]["truncated"],
              "long text size and truncation")
    check(any(m["type"] == "pong" for m in sent), "pong sent")
    check(c["received"]["messages"] == 6, "received message count")
    check(c["close"] and c["close"]["code"] == 4001
          and c["close"]["reason"] == "done here"
          and c["close"]["by"] == "client", "close code, reason, by")
    check(c["rtt_ms"] is None or c["rtt_ms"]["samples"] >= 0, "rtt shape")


def main():
    lib = os.path.abspath(sys.argv[1])
    compressed = "--no-compression" not in sys.argv
    preload = lib
    if "--preload-first" in sys.argv:
        preload = sys.argv[sys.argv.index("--preload-first") + 1] + " " + lib
    with tempfile.TemporaryDirectory() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = dict(os.environ, LD_PRELOAD=preload, WSDBG_DIR=sock_dir,
                   ASAN_OPTIONS="detect_leaks=0",
                   WSDBG_DUMP=os.path.join(tmp, "dump-%p.json"))
        args = ["/usr/bin/python3", os.path.join(HERE, "echo_server.py")]
        if not compressed:
            args.append("--no-compression")
        server = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            check(line.startswith("PORT "), f"server started: {line!r}")
            port = int(line.split()[1])
            asyncio.run(asyncio.wait_for(drive(port, compressed), 20))
            out, err = server.communicate(timeout=20)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        check(server.returncode == 0, f"server exit status 0: {err}")
        check("wsdbg:" not in err, f"no wsdbg warnings: {err}")
        dump = os.path.join(tmp, f"dump-{server.pid}.json")
        check(os.path.exists(dump), "WSDBG_DUMP written at exit")
        if os.path.exists(dump):
            with open(dump, encoding="utf-8") as f:
                snap = json.load(f)
            check(snap["wsdbg"] == 1 and snap["pid"] == server.pid,
                  "schema version and pid")
            conns = snap["connections"]
            check(len(conns) == 1, f"one connection: {len(conns)}")
            if conns:
                check(conns[0]["state"] == "closed", "state closed")
                check_connection(conns[0], compressed)
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
