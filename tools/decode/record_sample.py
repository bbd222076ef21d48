#!/usr/bin/python3
"""Record a real WebSocket session as a .wstrace transcript.

Starts, all on 127.0.0.1 and inside one asyncio loop:

  * a websockets server (a tiny chat/echo service),
  * a TCP relay that forwards bytes both ways and records every chunk it
    relays, with its direction and the time since the recording started,
  * a websockets client that talks to the server through the relay.

Connection 1 negotiates permessage-deflate (websockets' default) and the
subprotocol "chat.v1"; connection 2 turns compression off. What each side
sends is also written into the transcript as "# expect {...}" comment lines
(one JSON object per message, in send order per direction), so a test can
compare a decoder's output with what was really sent.

Usage: /usr/bin/python3 tools/decode/record_sample.py [OUTPUT]
  (default OUTPUT: samples/chat.wstrace next to this script)

Needs Debian's python3-websockets (10.x, legacy asyncio API); run it with
/usr/bin/python3, not a pyenv python without the package.

The .wstrace format (version 1), one record per line, UTF-8 text:

  <seconds.micros> <conn-id> <c2s|s2c> <hex bytes>

  seconds.micros  time since the recording started, e.g. 0.012345
  conn-id         a token naming the TCP connection (here 1, 2, ...)
  c2s / s2c       client-to-server / server-to-client
  hex bytes       the chunk as relayed, two lower-case hex digits a byte

Lines starting with '#' are comments; empty lines are ignored. Records of
one connection and direction are in stream order.
"""

import asyncio
import datetime
import json
import os
import platform
import random
import sys
import time

import websockets

TIMEOUT = 20.0  # seconds: the whole recording, or it is aborted
C2S, S2C = "c2s", "s2c"


class Recorder:
    """Collects relayed chunks and the expected messages."""

    def __init__(self):
        self.t0 = time.monotonic()
        self.chunks = []    # (t, conn, dir, bytes)
        self.expected = []  # dicts, see expect()

    def chunk(self, conn, direction, data):
        self.chunks.append((time.monotonic() - self.t0, conn, direction, data))

    def expect(self, conn, direction, kind, payload=b"", frames=1,
               code=None, reason=None):
        """Notes a message that a peer is about to send (or that websockets
        sends by itself, such as pongs and close echoes)."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        e = {"conn": str(conn), "dir": direction, "type": kind,
             "size": len(payload), "frames": frames}
        if kind == "close":
            # Payload: 2-byte status code, then the UTF-8 reason.
            e["size"] = 2 + len(reason.encode("utf-8"))
            e["code"] = code
            e["reason"] = reason
        elif kind == "binary":
            e["hex_head"] = payload[:32].hex()
        else:
            # First 200 characters: enough to compare with a kept prefix.
            e["text_head"] = payload.decode("utf-8")[:200]
        self.expected.append(e)


REC = Recorder()
CONN_OF_PATH = {"/chat?room=1": 1, "/status": 2}


# ---------------------------------------------------------------- relay --

async def pump(conn, direction, reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            REC.chunk(conn, direction, data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        if writer.can_write_eof() and not writer.is_closing():
            try:
                writer.write_eof()
            except OSError:
                pass


async def start_relay(server_port):
    next_id = [0]
    tasks = []

    async def on_client(c_reader, c_writer):
        next_id[0] += 1
        conn = next_id[0]
        s_reader, s_writer = await asyncio.open_connection("127.0.0.1",
                                                           server_port)
        both = asyncio.gather(pump(conn, C2S, c_reader, s_writer),
                              pump(conn, S2C, s_reader, c_writer))
        tasks.append(both)
        try:
            await both
        finally:
            for w in (s_writer, c_writer):
                w.close()

    relay = await asyncio.start_server(on_client, "127.0.0.1", 0)
    return relay, tasks


# --------------------------------------------------------------- server --

async def server_send(ws, conn, message):
    if isinstance(message, bytes):
        REC.expect(conn, S2C, "binary", message)
    else:
        REC.expect(conn, S2C, "text", message)
    await ws.send(message)


async def handler(ws):
    conn = CONN_OF_PATH[ws.path]
    try:
        await serve_messages(ws, conn)
    except websockets.ConnectionClosedError:
        pass  # closed with a code other than 1000/1001: expected for conn 2
    # The client closed: websockets echoes its close frame (RFC 6455 5.5.1).
    await ws.wait_closed()
    REC.expect(conn, S2C, "close", code=ws.close_code, reason=ws.close_reason)


async def serve_messages(ws, conn):
    async for message in ws:
        if isinstance(message, bytes):
            await server_send(ws, conn, message)  # echo binary as is
            continue
        try:
            obj = json.loads(message)
        except ValueError:
            obj = {"type": "raw"}
        kind = obj.get("type") if isinstance(obj, dict) else None
        if kind == "hello":
            reply = {"type": "welcome", "user": obj.get("user"),
                     "room": 1 if conn == 1 else None, "online": 3}
        elif kind == "history":
            reply = {"type": "ack", "items": len(obj["items"]),
                     "bytes": len(message.encode("utf-8"))}
        elif kind == "ping-me":
            # A server-initiated ping; the client's pong comes back c2s.
            REC.expect(conn, S2C, "ping", b"srv-ping-1")
            REC.expect(conn, C2S, "pong", b"srv-ping-1")
            waiter = await ws.ping(b"srv-ping-1")
            await waiter
            reply = {"type": "pinged"}
        else:
            reply = {"type": "echo", "text": message}
        await server_send(ws, conn, json.dumps(reply, ensure_ascii=False))


# --------------------------------------------------------------- client --

async def client_send(ws, conn, message, fragments=None):
    if fragments is not None:
        whole = "".join(fragments)
        # websockets 10 sends each fragment as a frame, then ends the
        # message with an empty FIN continuation frame: one frame more.
        REC.expect(conn, C2S, "text", whole, frames=len(fragments) + 1)
        await ws.send(fragments)
        return
    REC.expect(conn, C2S, "binary" if isinstance(message, bytes) else "text",
               message)
    await ws.send(message)


async def client_close(ws, conn, code, reason):
    REC.expect(conn, C2S, "close", code=code, reason=reason)
    await ws.close(code=code, reason=reason)


def history_json():
    """About 20 KB of chat history: long enough to be truncated at 10 KiB."""
    rnd = random.Random(6455)
    users = ["alice", "bob", "carol", "dave"]
    words = ("the build is green again after the flaky websocket test was "
             "fixed by waiting for the close handshake before asserting").split()
    items = []
    for i in range(150):
        text = " ".join(rnd.choice(words) for _ in range(rnd.randint(5, 14)))
        items.append({"id": 1000 + i, "user": rnd.choice(users),
                      "ts": 1764000000 + 7 * i, "text": text})
    return json.dumps({"type": "history", "items": items})


async def chat_session(port):
    conn = 1
    uri = f"ws://127.0.0.1:{port}/chat?room=1"
    async with websockets.connect(uri, subprotocols=["chat.v1"],
                                  ping_interval=None,
                                  open_timeout=5) as ws:
        await client_send(ws, conn, json.dumps({"type": "hello",
                                                "user": "alice"}))
        await ws.recv()
        await asyncio.sleep(0.05)

        await client_send(ws, conn, history_json())
        await ws.recv()
        await asyncio.sleep(0.03)

        blob = random.Random(7692).randbytes(300)
        await client_send(ws, conn, blob)
        await ws.recv()
        await asyncio.sleep(0.02)

        REC.expect(conn, C2S, "ping", b"ping-1")
        REC.expect(conn, S2C, "pong", b"ping-1")
        waiter = await ws.ping(b"ping-1")
        await waiter
        await asyncio.sleep(0.02)

        await client_send(ws, conn, "Café au lait ☕ — 日本語のテキスト 🎉👍")
        await ws.recv()
        await asyncio.sleep(0.02)

        await client_send(ws, conn, None,
                          fragments=["part one, ", "part two, ",
                                     "part three: done"])
        await ws.recv()
        await asyncio.sleep(0.02)

        await client_send(ws, conn, json.dumps({"type": "ping-me"}))
        await ws.recv()
        await asyncio.sleep(0.02)

        await client_close(ws, conn, 1000, "bye")


async def plain_session(port):
    conn = 2
    uri = f"ws://127.0.0.1:{port}/status"
    async with websockets.connect(uri, compression=None, ping_interval=None,
                                  open_timeout=5) as ws:
        await client_send(ws, conn, json.dumps({"type": "hello",
                                                "user": "monitor"}))
        await ws.recv()
        await asyncio.sleep(0.02)
        # Uncompressed and over 10 KiB: truncated without inflate involved.
        await client_send(ws, conn, json.dumps({"type": "report",
                                                "log": "x" * 12000}))
        await ws.recv()
        await asyncio.sleep(0.02)
        await client_close(ws, conn, 4001, "custom reason")


async def record():
    async with websockets.serve(handler, "127.0.0.1", 0,
                                subprotocols=["chat.v1"],
                                ping_interval=None) as server:
        server_port = server.sockets[0].getsockname()[1]
        relay, tasks = await start_relay(server_port)
        relay_port = relay.sockets[0].getsockname()[1]
        try:
            await chat_session(relay_port)
            await plain_session(relay_port)
            # Let the relay see both sides' EOF.
            await asyncio.wait_for(asyncio.gather(*tasks), 5)
        finally:
            for t in tasks:
                t.cancel()
            relay.close()
            await relay.wait_closed()


def write_transcript(path):
    now = datetime.datetime.now(datetime.timezone.utc)
    with open(path, "w", encoding="utf-8") as f:
        f.write("# wstrace 1\n")
        f.write("# Recorded by tools/decode/record_sample.py on "
                f"{now:%Y-%m-%d %H:%M:%S} UTC\n")
        f.write(f"# with Python {platform.python_version()}, websockets "
                f"{websockets.__version__} (server, relay and client on "
                "127.0.0.1).\n")
        f.write("# Format: <seconds.micros> <conn-id> <c2s|s2c> <hex bytes>"
                ", one line per relayed chunk;\n")
        f.write("# seconds since the recording started. '#' lines are "
                "comments.\n")
        f.write("# conn 1: /chat?room=1, permessage-deflate, subprotocol "
                "chat.v1, closed 1000 \"bye\"\n")
        f.write("# conn 2: /status, no compression, closed 4001 "
                "\"custom reason\"\n")
        f.write("# Expected messages, in send order per connection and "
                "direction:\n")
        for e in REC.expected:
            f.write("# expect " + json.dumps(e, ensure_ascii=False) + "\n")
        for t, conn, direction, data in REC.chunks:
            f.write(f"{t:.6f} {conn} {direction} {data.hex()}\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "samples", "chat.wstrace")
    asyncio.run(asyncio.wait_for(record(), TIMEOUT))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    write_transcript(out)
    print(f"{out}: {len(REC.chunks)} chunks, {len(REC.expected)} messages, "
          f"{os.path.getsize(out)} bytes")


if __name__ == "__main__":
    main()
