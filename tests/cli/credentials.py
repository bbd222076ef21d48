"""Credentials in handshake headers never reach any output of the CLI.

  credentials.py WSDBG ECHO_SERVER [--preload-first LIB]

The project's C echo server (tests/peers) runs under `wsdbg run --dump`;
a python3-websockets client opens a connection whose upgrade request
carries every header that holds a credential (Cookie twice,
Authorization, Proxy-Authorization, Set-Cookie, in mixed case), each
with a value of its own, plus a harmless header that must show. Then
every command, human and --json, live and from the saved snapshots
(`wsdbg dump -o` and WSDBG_DUMP at exit), is run: no secret value may
appear in its output or its errors, and where headers are shown each
secret one shows as "[redacted]". Redaction is the registry's
(http_header_is_secret); this checks what the CLI prints.
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile

import websockets

from cli_check import check, run, sanitizer_report, summary

SECRETS = {
    "Cookie": "session=SECRET-COOKIE-1",
    "AUTHORIZATION": "Bearer SECRET-AUTH-2",
    "Proxy-Authorization": "Basic SECRET-PROXY-3",
    "set-cookie": "id=SECRET-SETCOOKIE-4",
}
SECOND_COOKIE = ("COOKIE", "theme=SECRET-COOKIE-5")
VISIBLE = ("X-Trace", "visible-trace-6")
SECRET_NAMES = ("cookie", "authorization", "proxy-authorization",
                "set-cookie")


def secret_values():
    return [v.split("=")[-1].split()[-1] for v in SECRETS.values()] + [
        SECOND_COOKIE[1].split("=")[1]]


def commands(pid, source):
    """Every command that prints something of a snapshot; source: [] for
    the live process, or ["--from", FILE]."""
    target = [] if source else [pid]
    cmds = [["conns"], ["conns", "--json"], ["msgs"], ["msgs", "--json"],
            ["msgs", "1"], ["show", "1"], ["show", "1", "--json"],
            ["stats"], ["stats", "--json"], ["dump"], ["dump", "--all"]]
    out = [[c[0], *(target if "--all" not in c else []), *c[1:], *source]
           for c in cmds]
    if not source:
        out += [["ps"], ["ps", "--json"]]
    return out


# Commands whose output holds the handshake headers.
SHOWS_HEADERS = ("conns --json", "show 1", "dump")


def check_outputs(cli, env, pid, source, label):
    for args in commands(pid, source):
        r = run([cli, *args], env)
        name = f"{label}: wsdbg {' '.join(a for a in args if a != pid)}"
        check(r.rc == 0 and not sanitizer_report(r.err),
              f"{name}: exit status 0", r.detail())
        leaked = [s for s in secret_values() if s in r.out or s in r.err]
        check(not leaked, f"{name}: no credential in the output",
              f"{leaked}\n{r.detail()}")
        shown = " ".join(a for a in args if a not in (pid, "--from")
                         and not a.endswith(".json"))
        if not any(shown.startswith(h) for h in SHOWS_HEADERS):
            continue
        check(VISIBLE[1] in r.out, f"{name}: other headers are shown",
              r.detail())
        if "--json" in args or args[0] == "dump":
            v = json.loads(r.out)
            v = v[0] if isinstance(v, list) else v  # dump --all
            conn = v["connections"][0] if "connections" in v else v
            headers = conn["headers"]
            check(all(headers.get(n) == "[redacted]" for n in SECRET_NAMES),
                  f"{name}: each secret header is \"[redacted]\"", headers)
        else:
            check(all(f"  {n}: [redacted]" in r.out for n in SECRET_NAMES),
                  f"{name}: each secret header shows [redacted]", r.out)


async def session(cli, env, server, port, tmp):
    """One connection with every credential header, open while the
    live process and a `dump -o` file are looked at."""
    headers = list(SECRETS.items()) + [SECOND_COOKIE, VISIBLE]
    pid = str(server.pid)
    async with websockets.connect(f"ws://127.0.0.1:{port}/app?room=2",
                                  extra_headers=headers) as ws:
        await ws.send("hello")
        await ws.recv()
        await asyncio.to_thread(check_outputs, cli, env, pid, [], "live")
        saved = os.path.join(tmp, "saved.json")
        r = await asyncio.to_thread(run, [cli, "dump", pid, "-o", saved],
                                    env)
        check(r.rc == 0, "dump -o", r.detail())
        await asyncio.to_thread(check_outputs, cli, env, pid,
                                ["--from", saved], "dump -o file")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("wsdbg")
    p.add_argument("echo_server")
    p.add_argument("--preload-first")
    args = p.parse_args()
    cli = os.path.abspath(args.wsdbg)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items()
               if k not in ("NO_COLOR", "LD_PRELOAD", "WSDBG_LIB")}
        env["WSDBG_DIR"] = os.path.join(tmp, "sock")
        run_env = dict(env, ASAN_OPTIONS="detect_leaks=0")
        if args.preload_first:
            run_env["LD_PRELOAD"] = args.preload_first
        at_exit = os.path.join(tmp, "exit.json")
        server = subprocess.Popen(
            [cli, "run", "--dump", at_exit, "--", args.echo_server,
             "--timeout", "30", "--connections", "1"], env=run_env,
            stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            if not check(line.startswith("PORT "), "the server starts",
                         line):
                return summary()
            asyncio.run(asyncio.wait_for(session(
                cli, env, server, int(line.split()[1]), tmp), 60))
            server.wait(timeout=20)
            pid = str(server.pid)
            check(os.path.exists(at_exit), "WSDBG_DUMP written at exit")
            if os.path.exists(at_exit):
                check_outputs(cli, env, pid, ["--from", at_exit],
                              "WSDBG_DUMP file")
                with open(at_exit, encoding="utf-8") as f:
                    raw = f.read()
                check(not any(s in raw for s in secret_values()),
                      "the WSDBG_DUMP file itself holds no credential")
        finally:
            server.kill()
            server.wait()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
