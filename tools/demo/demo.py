"""The live demo: a real WebSocket server nobody here wrote, watched by
wsdbg while scripted clients talk to it.

Starts Debian's python3-websockets echo server (tests/shim/echo_server.py)
under `wsdbg run --dump`, connects a client that sends text, JSON, binary,
a ping, a fragmented message and a long message, then shows what wsdbg
sees from outside the server: `wsdbg ps`, `wsdbg conns`, `wsdbg msgs`.
The client closes with code 1000; the server exits and the snapshot it
leaves is shown with `wsdbg conns --from`.

Usage: demo.py BUILD_DIR   (run by tools/demo.sh)
"""
import asyncio
import json
import os
import subprocess
import sys
import tempfile

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def banner(text):
    print(f"\n\033[1m$ {text}\033[0m" if sys.stdout.isatty()
          else f"\n$ {text}", flush=True)


def wsdbg(build, *args):
    cmd = [os.path.join(build, "src", "cli", "wsdbg"), *args]
    banner("wsdbg " + " ".join(args))
    subprocess.run(cmd, check=False)


async def talk(port, build):
    uri = f"ws://127.0.0.1:{port}/chat?room=lobby"
    async with websockets.connect(uri) as ws:
        await ws.send("hello from the demo")
        await ws.recv()
        await ws.send(json.dumps({"type": "subscribe", "channels":
                                  ["prices", "news"], "id": 7}))
        await ws.recv()
        await ws.send(bytes(range(64)))
        await ws.recv()
        await asyncio.wait_for(await ws.ping(b"are you there?"), 5)
        await ws.send(["a message ", "in three ", "fragments"])
        await ws.recv()
        await ws.send(json.dumps({"type": "history", "items": [
            {"id": i, "text": "café ☕ " * 4} for i in range(200)]},
            ensure_ascii=False))
        await ws.recv()
        # Look from outside while the connection is open.
        pid = str(SERVER.pid)
        await asyncio.to_thread(wsdbg, build, "ps")
        await asyncio.to_thread(wsdbg, build, "conns", pid)
        await asyncio.to_thread(wsdbg, build, "msgs", pid)
        await ws.close(code=1000, reason="demo over")


def main():
    global SERVER
    build = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = os.path.join(tmp, "snapshot.json")
        env = dict(os.environ, WSDBG_DIR=os.path.join(tmp, "sockets"))
        SERVER = subprocess.Popen(
            [os.path.join(build, "src", "cli", "wsdbg"), "run", "--dump",
             snapshot, "--", "/usr/bin/python3",
             os.path.join(ROOT, "tests", "shim", "echo_server.py")],
            env=env, stdout=subprocess.PIPE, text=True)
        os.environ["WSDBG_DIR"] = env["WSDBG_DIR"]
        try:
            line = SERVER.stdout.readline()
            port = int(line.split()[1])
            print(f"python3-websockets echo server, pid {SERVER.pid}, "
                  f"port {port}, running under wsdbg")
            asyncio.run(asyncio.wait_for(talk(port, build), 30))
            SERVER.wait(timeout=20)
        finally:
            if SERVER.poll() is None:
                SERVER.kill()
                SERVER.wait()
        kept = os.path.join(ROOT, "build", "demo-snapshot.json")
        os.replace(snapshot, kept)
        print(f"\nThe server has exited; its snapshot (WSDBG_DUMP) is "
              f"{os.path.relpath(kept, ROOT)}.")
        wsdbg(build, "conns", "--from", os.path.relpath(kept, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
