"""A python3-websockets echo server for the shim tests.

Listens on 127.0.0.1 (port 0: the kernel picks), prints "PORT <n>" once
listening, echoes every message, and exits after its first connection has
closed (its first --connections N), or after --timeout seconds, whichever
comes first. A connection the server fails (a message over its max_size
of 1 MiB: close 1009) ends like any other.
"""
import argparse
import asyncio
import sys

import websockets


async def main(args):
    done = asyncio.Event()
    left = [args.connections]

    async def echo(ws, path=None):
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass  # failed by either side (1009...): just over
        finally:
            left[0] -= 1
            if left[0] <= 0:
                done.set()

    compression = None if args.no_compression else "deflate"
    async with websockets.serve(echo, "127.0.0.1", 0,
                                compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        try:
            await asyncio.wait_for(done.wait(), args.timeout)
        except asyncio.TimeoutError:
            print("timed out waiting for a connection", file=sys.stderr)
            return 1
        await asyncio.sleep(0.05)  # let the close handshake finish
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=20)
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--connections", type=int, default=1)
    sys.exit(asyncio.run(main(parser.parse_args())))
