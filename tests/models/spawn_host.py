"""A python3-websockets server that starts a child process for every
message, for tests/models/spawn_children.py: the model of servers that
shell out (CGI-style helpers, image converters) while WebSocket
connections stay open.

For each text message it runs a child and answers with what the child
did, alternating:
  - subprocess.run(["/bin/echo", "-n", TEXT]) (CPython's _posixsubprocess:
    vfork then exec, descriptors closed in the child): answers
    "echo: <the child's output>";
  - os.posix_spawn("/bin/sh", ["sh", "-c", "exit N"]) and waitpid, with N
    the message's length mod 50: answers "spawn: exit N".
Listens on 127.0.0.1 (the kernel picks the port), prints "PORT <n>",
exits after --connections connections have closed (or --timeout
seconds), printing "connections C, messages M, children K".
"""
import argparse
import asyncio
import os
import subprocess
import sys

import websockets


async def main(args):
    counts = {"connections": 0, "messages": 0, "children": 0}
    done = asyncio.Event()

    def child_for(text):
        counts["children"] += 1
        if counts["messages"] % 2:
            out = subprocess.run(["/bin/echo", "-n", text],
                                 capture_output=True, check=True).stdout
            return "echo: " + out.decode()
        code = len(text.encode()) % 50
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", f"exit {code}"],
                             os.environ)
        _, status = os.waitpid(pid, 0)
        return f"spawn: exit {os.waitstatus_to_exitcode(status)}"

    async def handler(ws, path=None):
        try:
            async for message in ws:
                counts["messages"] += 1
                await ws.send(child_for(message))
        finally:
            counts["connections"] += 1
            if counts["connections"] == args.connections:
                done.set()

    async with websockets.serve(handler, "127.0.0.1", 0,
                                compression=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        try:
            await asyncio.wait_for(done.wait(), args.timeout)
        except asyncio.TimeoutError:
            print("timed out", file=sys.stderr)
            return 3
        await asyncio.sleep(0.05)  # let the last close handshake finish
    print(f"connections {counts['connections']}, messages "
          f"{counts['messages']}, children {counts['children']}")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--connections", type=int, default=3)
    p.add_argument("--timeout", type=float, default=30)
    sys.exit(asyncio.run(main(p.parse_args())))
