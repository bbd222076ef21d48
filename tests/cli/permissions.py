"""Another user's process: the CLI run as nobody (uid 65534) against a
process of root's, and root against one of nobody's. Needs root (skipped
with exit status 77 otherwise).

  permissions.py WSDBG ECHO_SERVER [--preload-first LIB]

Root bypasses file modes and the stats server answers root, so a real
refusal is seen from the other side: the project's C echo server runs as
root under `wsdbg run` (its socket directory mode 0700, socket 0600, as
the shim makes them) and nobody asks. Three layers, each a clear line
and exit status 1: the directory cannot be read; opened up (0755), the
socket cannot be connected to (0600); opened up too (0666), the server
itself refuses a peer that is neither its user nor root (SO_PEERCRED) by
closing without a word. Root, asking nobody's process, is answered.
WSDBG_TEST_VERBOSE=1 prints each command nobody runs and its error line.
"""
import argparse
import asyncio
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import websockets

from cli_check import check, expect, run, summary

NOBODY = 65534


def start_server(cli, echo_server, env, user=None):
    kw = {"user": user, "group": user, "extra_groups": []} if user else {}
    server = subprocess.Popen(
        [cli, "run", "--", echo_server, "--timeout", "30"], env=env,
        stdout=subprocess.PIPE, text=True, **kw)
    line = server.stdout.readline()
    if not line.startswith("PORT "):
        server.kill()
        server.wait()
        raise RuntimeError(f"server did not start: {line!r}")
    return server, int(line.split()[1])


async def connect_and_hold(port, seconds_fn):
    async with websockets.connect(f"ws://127.0.0.1:{port}/perm") as ws:
        await ws.send("hello")
        await ws.recv()
        await asyncio.to_thread(seconds_fn)


def as_nobody(cli, root_server, env):
    pid = str(root_server.pid)
    sock_dir = env["WSDBG_DIR"]
    sock = os.path.join(sock_dir, f"{pid}.sock")
    st = os.stat(sock_dir)
    check(stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0,
          "root's socket directory is 0700, root's", oct(st.st_mode))

    def nobody(*args):
        r = run([cli, *args], env, user=NOBODY)
        if os.environ.get("WSDBG_TEST_VERBOSE"):
            print(f"$ wsdbg {' '.join(args)}  # as nobody\n{r.err}", end="")
        return r

    # 1. The directory, as the shim makes it: not even listed.
    for args in (["conns"], ["conns", pid], ["ps"], ["dump", "--all"],
                 ["msgs", "--follow"]):
        expect(f"nobody, directory 0700: wsdbg {' '.join(args)}",
               nobody(*args), 1,
               err=[f"permission denied on the socket directory {sock_dir}",
                    "belongs to uid 0"], max_seconds=5)
    # 2. The directory opened up: the socket itself (0600) refuses.
    os.chmod(sock_dir, 0o755)
    for args in (["conns"], ["msgs", pid, "1"], ["show", "1"],
                 ["msgs", "--follow"]):
        expect(f"nobody, socket 0600: wsdbg {' '.join(args)}",
               nobody(*args), 1,
               err=[f"permission denied on {sock}", "belongs to uid 0",
                    "only that user and root may ask"], max_seconds=5)
    r = nobody("ps")
    expect("nobody, socket 0600: wsdbg ps lists it, not answering", r, 0,
           out=[f"{pid}  ws-echo-server  not answering"], max_seconds=5)
    check(r.err.count("\n") == 1 and "permission denied" in r.err,
          "nobody, socket 0600: ps says why on one line", r.detail())
    # 3. The socket opened up too: the server checks the peer's uid.
    os.chmod(sock, 0o666)
    for args in (["conns"], ["dump", pid], ["stats"]):
        expect(f"nobody, socket 0666: wsdbg {' '.join(args)}",
               nobody(*args), 1,
               err=[f"process {pid} closed {sock} without answering",
                    "only its user or root may ask"], max_seconds=5)
    # Root is answered all along.
    expect("root is answered", run([cli, "conns", pid], env), 0,
           out=["WebSocket  1 active, 1 total", "/perm"])


def nobody_server(cli, echo_server, env, tmp):
    """Root asks a process of nobody's: answered (root may ask)."""
    sock_dir = os.path.join(tmp, "nobody-sock")
    os.mkdir(sock_dir, 0o700)
    os.chown(sock_dir, NOBODY, NOBODY)
    env = dict(env, WSDBG_DIR=sock_dir)
    server, port = start_server(cli, echo_server, env, user=NOBODY)
    try:
        asyncio.run(asyncio.wait_for(connect_and_hold(port, lambda: expect(
            "root asks nobody's process", run([cli, "conns"], env), 0,
            out=["WebSocket  1 active, 1 total", "/perm"])), 30))
    finally:
        server.kill()
        server.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("wsdbg")
    p.add_argument("echo_server")
    p.add_argument("--preload-first")
    args = p.parse_args()
    if os.geteuid() != 0:
        print("needs root: it runs the CLI as uid 65534", file=sys.stderr)
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        # Programs nobody may run, wherever the build tree is.
        os.chmod(tmp, 0o755)
        bin_dir = os.path.join(tmp, "bin")
        os.mkdir(bin_dir, 0o755)
        cli = shutil.copy(args.wsdbg, bin_dir)
        echo = shutil.copy(args.echo_server, bin_dir)
        shim = os.path.join(os.path.dirname(os.path.abspath(args.wsdbg)),
                            "..", "shim", "libwsdbg.so")
        env = {k: v for k, v in os.environ.items()
               if k not in ("NO_COLOR", "LD_PRELOAD", "WSDBG_LIB")}
        env.update(WSDBG_DIR=os.path.join(tmp, "sock"),
                   WSDBG_LIB=shutil.copy(shim, bin_dir),
                   ASAN_OPTIONS="detect_leaks=0")
        run_env = dict(env)
        if args.preload_first:
            run_env["LD_PRELOAD"] = args.preload_first
        server, port = start_server(cli, echo, run_env)
        try:
            asyncio.run(asyncio.wait_for(connect_and_hold(
                port, lambda: as_nobody(cli, server, env)), 60))
        finally:
            server.kill()
            server.wait()
        nobody_server(cli, echo, run_env, tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
