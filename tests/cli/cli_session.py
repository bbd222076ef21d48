"""Shared by the CLI tests and the fixture recorder: a python3-websockets
echo server (tests/shim/echo_server.py) started with `wsdbg run`, and the
clients that talk to it. Debian's python3-websockets is the real peer."""
import asyncio
import os
import subprocess
import sys

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
ECHO_SERVER = os.path.join(HERE, "..", "shim", "echo_server.py")


def start_server(wsdbg, env, dump=None, timeout=20):
    """`wsdbg run [--dump DUMP] -- python3 echo_server.py`; returns the
    Popen (its pid is the server's: run execs) and the port."""
    args = [wsdbg, "run"]
    if dump:
        args += ["--dump", dump]
    args += ["--", "/usr/bin/python3", ECHO_SERVER, "--timeout",
             str(timeout)]
    server = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        out, err = server.communicate()
        raise RuntimeError(f"server did not start: {line!r} {err}")
    return server, int(line.split()[1])


async def chat(ws, text):
    """One of everything: text, binary, ping, a fragmented text."""
    await ws.send(text)
    assert await ws.recv() == text
    await ws.send(bytes(range(200)))
    assert await ws.recv() == bytes(range(200))
    pong = await ws.ping(b"probe-1")
    await asyncio.wait_for(pong, 5)
    await ws.send(["part one, ", "part two"])
    assert await ws.recv() == "part one, part two"


def connect(port, path="/echo?room=7"):
    return websockets.connect(f"ws://127.0.0.1:{port}{path}")


def stop(proc):
    if proc.poll() is None:
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError):
        pass


if __name__ == "__main__":
    sys.exit("a module for run_cli_tests.py and record_fixtures.py")
