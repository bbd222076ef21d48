"""The peer of chromium.py: one python3-websockets server on 127.0.0.1
(port 0: the kernel picks) that serves a page over HTTP and echoes its
WebSocket, not under the shim.

  GET /          the page: its script opens ws://<host>/chromium?x=1,
                 sends PAGE_SENDS one at a time, each after the echo of
                 the one before, then closes 4001 "chromium done", and
                 writes what it saw into <pre id="result">;
  GET /gate      an image of the page that is answered (204) only once
                 the WebSocket has closed: the page's load event waits
                 for it, and `chromium --dump-dom` waits for that;
  ws /chromium   echoes every message.
Prints "PORT <n>", then one JSON line per thing seen: {"http": path},
{"ws": path}, {"type": "text", "text": ...} or {"type": "binary", "hex":
...} for each message received, {"close": [code, reason]}. Exits once
the gate has been answered, or after --timeout seconds (status 1).
"""
import argparse
import asyncio
import http
import json
import sys

from websockets.exceptions import ConnectionClosed
from websockets.legacy.server import serve

PAGE = """<!DOCTYPE html>
<html><body><pre id="result">pending</pre><script>
const sends = [
  'hello from chromium',
  'caf\\u00e9 \\u2603 \\u{1F600}',
  Uint8Array.from({length: 200}, (_, i) => (i * 31 + 7) & 255),
  Array.from({length: 3000}, (_, i) => String.fromCharCode(32 + i % 95))
    .join(''),
];
const seen = [];
const bytes = (m) => typeof m === 'string' ? new TextEncoder().encode(m)
                                           : new Uint8Array(m);
const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const ws = new WebSocket('ws://' + location.host + '/chromium?x=1');
ws.binaryType = 'arraybuffer';
ws.onopen = () => ws.send(sends[0]);
ws.onmessage = (e) => {
  const want = sends[seen.length], got = bytes(e.data);
  seen.push(`echo ${typeof e.data === 'string' ? 'text' : 'binary'} ` +
            `${got.length} ${same(got, bytes(want)) ? 'same' : 'DIFFERENT'}`);
  if (seen.length < sends.length) ws.send(sends[seen.length]);
  else ws.close(4001, 'chromium done');
};
ws.onerror = () => seen.push('error');
ws.onclose = (e) => {
  seen.push(`close ${e.code} ${e.reason} ${e.wasClean ? 'clean' : 'unclean'}`);
  document.getElementById('result').textContent = seen.join('\\n');
};
</script><img src="/gate"></body></html>
"""

# What the page sends, as (type, payload bytes), for chromium.py.
PAGE_SENDS = [
    ("text", "hello from chromium".encode()),
    ("text", "caf\u00e9 \u2603 \U0001F600".encode()),
    ("binary", bytes((i * 31 + 7) & 0xff for i in range(200))),
    ("text", bytes(32 + i % 95 for i in range(3000))),
]
CLOSE = (4001, "chromium done")


def say(**what):
    print(json.dumps(what), flush=True)


async def main(args):
    closed = asyncio.Event()
    answered = asyncio.get_running_loop().create_future()

    async def echo(ws, path=None):
        say(ws=ws.path)
        try:
            async for message in ws:
                if isinstance(message, str):
                    say(type="text", text=message)
                else:
                    say(type="binary", hex=message.hex())
                await ws.send(message)
        except ConnectionClosed:
            pass  # how the loop ends on a close code other than 1000/1001
        await ws.wait_closed()
        say(close=[ws.close_code, ws.close_reason])
        closed.set()

    async def http_request(path, headers):
        if path.startswith("/chromium"):
            return None  # the WebSocket handshake
        say(http=path)
        if path == "/":
            return (http.HTTPStatus.OK,
                    [("Content-Type", "text/html; charset=utf-8")],
                    PAGE.encode())
        if path == "/gate":
            await closed.wait()
            # The answer goes out after this returns.
            asyncio.get_running_loop().call_later(
                0.5, lambda: answered.done() or answered.set_result(0))
            return http.HTTPStatus.NO_CONTENT, [], b""
        return http.HTTPStatus.NOT_FOUND, [], b""

    async with serve(echo, "127.0.0.1", 0, process_request=http_request,
                     ) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        try:
            return await asyncio.wait_for(answered, args.timeout)
        except asyncio.TimeoutError:
            print("timed out before the page was done", file=sys.stderr)
            return 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=30)
    sys.exit(asyncio.run(main(parser.parse_args())))
