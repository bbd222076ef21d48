"""The shim against a real python3-websockets server.

Starts tests/shim/echo_server.py under LD_PRELOAD=libwsdbg.so, drives it
with a websockets client that is not preloaded (text, binary, ping, a
fragmented message, a close with a code), and checks:
  - the client saw exactly what it would without the shim (the echoes);
  - the live snapshot from the server's stats socket, taken mid-session
    (before the close): the connection open, what moved so far;
  - the WSDBG_DUMP snapshot written at exit, against the schema in
    the README and src/registry/snapshot.c.
Usage: run_python_session.py --shim LIBWSDBG [--no-compression]
                             [--preload-first LIB]
(--preload-first: a sanitizer runtime that must come before the shim; the
common arguments are in harness.py.)
Prints "N passed, N failed" and exits 1 on any failure.
"""
import asyncio
import os
import sys

import websockets

import harness
from harness import check

HERE = os.path.dirname(os.path.abspath(__file__))


async def drive(port, compressed, live):
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
        check_live(live(), compressed)
        await ws.close(code=4001, reason="done here")


def moved_so_far(snap):
    """Every message of the session before the close is in snap."""
    c = snap["connections"][0] if snap["connections"] else None
    return c and c["received"]["messages"] == 5 \
        and c["sent"]["messages"] == 5


def check_live(snap, compressed):
    """The server's live snapshot before the close: every echo the client
    got has been read and written by the server (the request order is
    fixed), so the counts are exact once the shim has recorded the last
    write (live_until waits for that)."""
    check(snap is not None, "live snapshot from the server's socket")
    if snap is None:
        return
    conns = snap["connections"]
    check(len(conns) == 1, f"live: one connection: {len(conns)}")
    if not conns:
        return
    c = conns[0]
    check(c["state"] == "open", f"live: state open: {c['state']}")
    check(c["close"] is None, "live: no close yet")
    check(c["received"]["messages"] == 5 and c["sent"]["messages"] == 5,
          f"live: 5 messages each way (4 data + ping/pong): "
          f"{c['received']['messages']} {c['sent']['messages']}")
    types = [(m["dir"], m["type"]) for m in c["messages"]
             if m["dir"] == "received"]
    check([t for _, t in types] == ["text", "binary", "ping", "text",
                                    "text"], f"live: received types {types}")
    check(c["messages"][0].get("text") == '{"hello": "world"}',
          "live: first text")
    if compressed:
        check(c["messages"][0]["compressed"], "live: compressed flag")
    check(snap["totals"]["active"] == 1, "live: one active connection")


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
        # Kept both ways, compressed or not: the inflate state does not
        # crowd a connection's text out (each direction's 10 KiB prefix
        # and the close reason after them).
        long_sent = [m for m in sent if m.get("size") == 12000]
        for m, who in ((received[4], "received"),
                       (long_sent[0] if long_sent else {}, "sent")):
            check(not m.get("text_dropped", True)
                  and m.get("text", "").startswith("é" * 100),
                  f"long text {who} kept: {m.get('text_dropped')}")
        check(not received[5].get("text_dropped", True),
              "the close frame's reason kept after the long texts")
    check(any(m["type"] == "pong" for m in sent), "pong sent")
    check(c["received"]["messages"] == 6, "received message count")
    check(c["close"] and c["close"]["code"] == 4001
          and c["close"]["reason"] == "done here"
          and c["close"]["by"] == "client", "close code, reason, by")
    check(c["rtt_ms"] is None or c["rtt_ms"]["samples"] >= 0, "rtt shape")


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--no-compression", action="store_true"))
    compressed = not args.no_compression
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        argv = ["/usr/bin/python3", os.path.join(HERE, "echo_server.py")]
        if not compressed:
            argv.append("--no-compression")
        server = harness.Server(argv, env)
        asyncio.run(asyncio.wait_for(
            drive(server.port, compressed,
                  lambda: harness.live_until(sock_dir, server.pid,
                                             moved_so_far)), 20))
        server.finish()
        check(server.returncode == 0, f"server exit status 0: {server.err}")
        check("wsdbg:" not in server.err,
              f"no wsdbg warnings: {server.err}")
        dump = os.path.join(tmp, f"dump-{server.pid}.json")
        check(os.path.exists(dump), "WSDBG_DUMP written at exit")
        if os.path.exists(dump):
            snap = harness.load_json(dump)
            check(snap["wsdbg"] == 1 and snap["pid"] == server.pid,
                  "schema version and pid")
            conns = snap["connections"]
            check(len(conns) == 1, f"one connection: {len(conns)}")
            if conns:
                check(conns[0]["state"] == "closed", "state closed")
                check_connection(conns[0], compressed)
        left = [p for p in os.listdir(sock_dir) if p.endswith(".sock")] \
            if os.path.isdir(sock_dir) else []
        check(left == [], f"socket file removed at exit: {left}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
