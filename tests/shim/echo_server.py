"""A python3-websockets echo server for the shim tests.

Listens on 127.0.0.1 (port 0: the kernel picks), prints "PORT <n>" once
listening, echoes every message, and exits after its first connection has
closed, or after --timeout seconds, whichever comes first.
"""
import argparse
import asyncio
import sys

import websockets


async def main(args):
    done = asyncio.Event()

    async def echo(ws, path=None):
        try:
            async for message in ws:
                await ws.send(message)
        finally:
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
    sys.exit(asyncio.run(main(parser.parse_args())))
