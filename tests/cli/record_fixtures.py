"""Records the snapshot files in fixtures/ from a real session; run it by
hand when the schema changes:
    python3 tests/cli/record_fixtures.py build-cli/src/cli/wsdbg
  fixtures/live.json  `wsdbg dump` while two connections are open;
  fixtures/exit.json  WSDBG_DUMP at exit: the same two, closed (one by the
                      client with 4001 "done here", the other by the
                      server going away).
Text kept is capped at 40 bytes so that truncation shows in a small file.
"""
import asyncio
import os
import subprocess
import sys
import tempfile

import cli_session


async def drive(wsdbg, port, env, live_path):
    async with cli_session.connect(port, "/chat?room=1") as a:
        await a.send("hi from a")
        await a.recv()
        async with cli_session.connect(port) as b:
            await cli_session.chat(b, '{"hello": "world"}')
            long = "x" * 100  # over the 40 bytes kept
            await b.send(long)
            await b.recv()
            subprocess.run([wsdbg, "dump", "-o", live_path], env=env,
                           check=True, timeout=10)
            await b.close(code=4001, reason="done here")
        await asyncio.sleep(1)  # the server closes a (going away)


def main():
    wsdbg = os.path.abspath(sys.argv[1])
    fixtures = os.path.join(cli_session.HERE, "fixtures")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, WSDBG_DIR=os.path.join(tmp, "sock"),
                   WSDBG_MAX_MESSAGE_SIZE="40")
        exit_dump = os.path.join(fixtures, "exit.json")
        server, port = cli_session.start_server(wsdbg, env, exit_dump)
        try:
            asyncio.run(drive(wsdbg, port, env,
                              os.path.join(fixtures, "live.json")))
            server.wait(timeout=10)
        finally:
            cli_session.stop(server)


if __name__ == "__main__":
    main()
