#!/usr/bin/python3
"""Echo server on Debian's python3-websockets (asyncio), for the benchmark.

    echo_websockets.py [--deflate] [--timeout S]

Listens on 127.0.0.1 (a port the kernel picks), prints "PORT <port> PID
<pid>" once listening, and echoes every message back as it came (text as
text, binary as binary). Compression is off unless --deflate, which
accepts permessage-deflate (websockets' defaults). Keepalive pings are off
so a run's frames are only the benchmark's. Exits on SIGTERM/SIGINT, or
after --timeout seconds (default 900).
"""
import asyncio
import os
import signal
import sys

import websockets


async def echo(ws, path=None):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    deflate = "--deflate" in sys.argv
    timeout = 900.0
    if "--timeout" in sys.argv:
        timeout = float(sys.argv[sys.argv.index("--timeout") + 1])
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with websockets.serve(echo, "127.0.0.1", 0,
                                compression="deflate" if deflate else None,
                                ping_interval=None, max_size=None,
                                max_queue=None) as server:
        port = server.sockets[0].getsockname()[1]
        print("PORT %d PID %d" % (port, os.getpid()), flush=True)
        try:
            await asyncio.wait_for(stop, timeout)
        except asyncio.TimeoutError:
            sys.exit(3)


asyncio.run(main())
