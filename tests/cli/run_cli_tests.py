"""Tests of the wsdbg CLI, run by meson (suite 'cli').

  run_cli_tests.py WSDBG FIXTURES offline
      every viewing command against the saved snapshots in FIXTURES
      (see record_fixtures.py), usage errors, corrupt files, colours;
  run_cli_tests.py WSDBG FIXTURES live [--preload-first LIB]
      a python3-websockets echo server started with `wsdbg run`, a real
      client, then ps, conns, msgs and dump against the live pid; `wsdbg
      run` itself (arguments, exit status, warnings, LD_PRELOAD).
(--preload-first: a sanitizer runtime that must come before the shim.)
Every child is bounded in time and killed at the end. Prints
"N passed, N failed"; exits 1 on any failure.
"""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import cli_session

passed = 0
failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}" + (f"\n  {detail}" if detail else ""),
              file=sys.stderr)


class Cli:
    def __init__(self, exe, env):
        self.exe = exe
        self.env = env

    def __call__(self, *args, env=None):
        r = subprocess.run([self.exe, *args], env=env or self.env,
                           capture_output=True, text=True, timeout=15)
        return r.returncode, r.stdout, r.stderr

    def expect(self, what, args, rc, out=(), err=(), no_out=(), env=None):
        """Runs wsdbg with args; checks the exit status, that stdout holds
        each of out and none of no_out, and, when rc != 0, that stderr is
        one line holding each of err."""
        code, stdout, stderr = self(*args, env=env)
        detail = f"rc={code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        check(code == rc, f"{what}: exit status {rc}", detail)
        for s in out:
            check(s in stdout, f"{what}: output has {s!r}", detail)
        for s in no_out:
            check(s not in stdout, f"{what}: output lacks {s!r}", detail)
        if rc != 0:
            check(stderr.count("\n") == 1 and stderr.endswith("\n"),
                  f"{what}: one line on stderr", detail)
        for s in err:
            check(s in stderr, f"{what}: stderr has {s!r}", detail)
        return stdout


def timeline(stdout):
    """The timeline rows of msgs output (the header line dropped)."""
    return stdout.splitlines()[1:]


# ---- against saved snapshots ---------------------------------------------

def offline(cli, fixtures, tmp):
    exit_json = os.path.join(fixtures, "exit.json")
    live_json = os.path.join(fixtures, "live.json")
    with open(exit_json, encoding="utf-8") as f:
        snap = json.load(f)

    cli.expect("conns of a closed session", ["conns", "--from", exit_json],
               0, out=["WebSocket  0 active, 2 total", "python3 pid",
                       "ID  PATH", "/chat?room=1", "/echo?room=7",
                       "● closed", '4001 "done here" (client)',
                       "1001 (server)", "6/6", "354 B/354 B", "0.10 ms"])
    out = cli.expect("conns of a live snapshot", ["conns", "--from",
                                                 live_json],
                     0, out=["WebSocket  2 active, 2 total", "● open"],
                     no_out=["closed", "\033["])
    check(len(out.splitlines()) == 4, "conns: summary, header, 2 rows", out)
    out = cli.expect("conns --json", ["conns", "--json", "--from",
                                      exit_json], 0)
    j = json.loads(out)
    check([c["id"] for c in j["connections"]] == ["1", "2"]
          and all("messages" not in c for c in j["connections"]),
          "conns --json: the connections without their messages")
    cli.expect("conns names the snapshot's process",
               ["conns", "python3", "--from", exit_json], 0,
               out=["2 total"])
    cli.expect("conns of another pid in a file",
               ["conns", "1", "--from", exit_json], 1,
               err=["process 1 is not attached"])

    out = cli.expect("msgs of one connection",
                     ["msgs", "--from", exit_json, "2"], 0,
                     out=["connection 2",
                          '←  text       18 B [deflate]  {"hello": "world"}',
                          "→  binary    200 B [deflate]  [binary 200 B]",
                          '←  ping        7 B  "probe-1"',
                          '→  pong        7 B  "probe-1"',
                          "[3 frames]  part one, part two",
                          "100 B [deflate] [truncated]  " + "x" * 40 + "…",
                          '←  close      11 B  4001 private use "done here"',
                          "◉  open    /echo?room=7",
                          '◉  closed  4001 "done here" (client)'],
                     no_out=["hi from a"])
    rows = timeline(out)
    check(len(rows) == 14 and rows[0].startswith("00:00.000  ◉  open")
          and rows[-1].startswith("00:00.008  ◉  closed"),
          "msgs: open, 12 messages, closed, in order", out)
    out = cli.expect("msgs across connections",
                     ["msgs", "--from", exit_json], 0,
                     out=["1  00:00.001  ←  text        9 B [deflate]  "
                          "hi from a", "2  00:00.001  ←  text"])
    check(len(timeline(out)) == 20, "msgs: every row of both connections",
          out)
    out = cli.expect("msgs --dir sent", ["msgs", "--from", exit_json,
                                         "--dir", "sent", "2"], 0)
    rows = timeline(out)
    check(len(rows) == 6 and all("  →  " in r for r in rows),
          "--dir sent: only the 6 sent messages, no open/close rows", out)
    out = cli.expect("msgs --type ping,pong",
                     ["msgs", "--from", exit_json, "--type", "ping,pong"], 0)
    rows = timeline(out)
    check(len(rows) == 2 and "ping" in rows[0] and "pong" in rows[1],
          "--type ping,pong: exactly the ping and the pong", out)
    out = cli.expect("msgs --grep --json",
                     ["msgs", "--from", exit_json, "--grep", "hel+o",
                      "--json"], 0)
    j = json.loads(out)
    check(len(j) == 2 and all(m["conn"] == "2" and "hello" in m["text"]
                              for m in j),
          "--grep: the two hello messages, tagged with their connection", out)
    j = json.loads(cli.expect("msgs --limit", ["msgs", "--from", exit_json,
                                               "--json", "--limit", "2"], 0))
    want = sorted((m["t"], m["seq"]) for c in snap["connections"]
                  for m in c["messages"])[-2:]
    check([(m["t"], m["seq"]) for m in j] == want,
          "--limit 2: the last two messages", json.dumps(j))
    cli.expect("msgs of a missing connection",
               ["msgs", "--from", exit_json, "python3", "9"], 1,
               err=["no connection 9"])
    cli.expect("msgs selecting nothing",
               ["msgs", "--from", exit_json, "--grep", "nothing-like-it"],
               1, err=["no message matches"])

    j = json.loads(cli.expect("dump --from", ["dump", "--from", live_json],
                              0))
    check(j["wsdbg"] == 1 and len(j["connections"]) == 2
          and j["connections"][1]["messages"][0]["text"] ==
          '{"hello": "world"}', "dump --from: the same snapshot")
    dumped = os.path.join(tmp, "all.json")
    cli.expect("dump --all -o", ["dump", "--all", "--from", live_json, "-o",
                                 dumped], 0)
    with open(dumped, encoding="utf-8") as f:
        arr = json.load(f)
    check(isinstance(arr, list) and len(arr) == 1, "dump --all: an array")
    two = os.path.join(tmp, "two.json")
    other = json.loads(json.dumps(arr[0]))
    other["pid"] = 4242
    other["process"] = "node"
    with open(two, "w", encoding="utf-8") as f:
        json.dump([arr[0], other], f)
    cli.expect("a two-process file needs a PID", ["conns", "--from", two],
               2, err=["2 processes are attached", "4242 node"])
    cli.expect("a two-process file by name", ["conns", "node", "--from",
                                              two], 0, out=["node pid 4242"])

    # Broken input: one line each, jansson's position for bad JSON.
    corrupt = os.path.join(tmp, "corrupt.json")
    with open(corrupt, "w") as f:
        f.write('{"wsdbg": 1,\n  "connections": [,]}\n')
    for cmd in ("conns", "msgs", "dump"):
        cli.expect(f"{cmd} of a corrupt file", [cmd, "--from", corrupt], 1,
                   err=[f"{corrupt}:2:", "corrupt snapshot file"])
    notsnap = os.path.join(tmp, "other.json")
    with open(notsnap, "w") as f:
        f.write('{"hello": 1}\n')
    cli.expect("a JSON file that is no snapshot",
               ["conns", "--from", notsnap], 1, err=["not a wsdbg snapshot"])
    cli.expect("a missing file", ["msgs", "--from", os.path.join(
        tmp, "missing.json")], 1, err=["missing.json"])

    # Usage errors exit 2 with one line.
    cli.expect("no command", [], 2)
    cli.expect("unknown command", ["frobnicate"], 2,
               err=["unknown command 'frobnicate'"])
    cli.expect("unknown option", ["conns", "--bogus"], 2,
               err=["unknown option --bogus"])
    cli.expect("missing option value", ["msgs", "--limit"], 2,
               err=["--limit needs a value"])
    cli.expect("bad --dir", ["msgs", "--dir", "up"], 2, err=["--dir"])
    cli.expect("bad --type", ["msgs", "--type", "text,blob"], 2,
               err=["unknown message type 'blob'"])
    cli.expect("bad --limit", ["msgs", "--limit", "0"], 2, err=["--limit"])
    cli.expect("bad --grep", ["msgs", "--grep", "(", "--from", exit_json],
               2, err=["bad --grep pattern"])
    cli.expect("too many arguments", ["conns", "1", "2"], 2,
               err=["unexpected argument '2'"])
    cli.expect("dump PID and --all", ["dump", "--all", "1"], 2)
    cli.expect("run without a command", ["run"], 2,
               err=["missing the command"])
    for cmd in ("run", "ps", "conns", "msgs", "dump"):
        cli.expect(f"{cmd} --help", [cmd, "--help"], 0,
                   out=[f"usage: wsdbg {cmd}"])
    cli.expect("wsdbg --help", ["--help"], 0, out=["commands:", "conns"])

    # Colours: only on a terminal, never with NO_COLOR.
    if shutil.which("script"):
        for no_color, want in (("", True), ("1", False)):
            env = dict(cli.env, NO_COLOR=no_color, TERM="xterm")
            cmd = f"'{cli.exe}' conns --from '{exit_json}'"
            r = subprocess.run(["script", "-qec", cmd, "/dev/null"],
                               env=env, capture_output=True, text=True,
                               timeout=15)
            check(("\033[90m● closed" in r.stdout) == want
                  and ("\033[" in r.stdout) == want,
                  f"colours on a terminal with NO_COLOR={no_color!r}",
                  repr(r.stdout))


# ---- against a live process ----------------------------------------------

def make_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()


def dead_pid():
    p = subprocess.Popen(["/bin/true"])
    p.wait()
    return p.pid


async def live_session(cli, port, server, sock_dir, tmp):
    pid = str(server.pid)
    async with cli_session.connect(port) as ws:
        await cli_session.chat(ws, "hello live")
        await asyncio.sleep(0.2)
        run = asyncio.to_thread
        out = await run(cli.expect, "ps", ["ps"], 0,
                        ["PID  NAME", "python3"])
        row = [r.split() for r in out.splitlines() if r.split()[0] == pid]
        check(row == [[pid, "python3", "1", "1", "8"]],
              "ps: pid, name, 1 open, 1 total, 8 messages", out)
        ps_json = json.loads((await run(cli, "ps", "--json"))[1])
        check(ps_json[0]["pid"] == server.pid
              and ps_json[0]["totals"]["active"] == 1, "ps --json", ps_json)
        for target in ([pid], ["python3"], []):
            await run(cli.expect, f"conns {target}", ["conns", *target], 0,
                      ["WebSocket  1 active, 1 total", f"python3 pid {pid}",
                       "/echo?room=7", "● open", "4/4"])
        out = await run(cli.expect, "msgs of the live pid",
                        ["msgs", pid, "1"], 0,
                        ["◉  open    /echo?room=7",
                         "←  text       10 B [deflate]  hello live",
                         "→  text       10 B [deflate]  hello live",
                         '←  ping        7 B  "probe-1"',
                         "[3 frames]  part one, part two"],
                        no_out=["closed"])
        check(len(timeline(out)) == 9, "msgs: open and 8 messages", out)
        await run(cli.expect, "msgs with a lone CONN", ["msgs", "1"], 0,
                  ["connection 1", "hello live"])
        j = json.loads((await run(cli, "msgs", "python3", "--json",
                                  "--dir", "received"))[1])
        check([m["type"] for m in j] == ["text", "binary", "ping", "text"]
              and all(m["conn"] == "1" for m in j),
              "msgs --json --dir received of the live process", j)
        dumped = os.path.join(tmp, "live-dump.json")
        await run(cli.expect, "dump -o", ["dump", pid, "-o", dumped], 0)
        with open(dumped, encoding="utf-8") as f:
            d = json.load(f)
        check(d["pid"] == server.pid and d["connections"][0]["state"] ==
              "open" and len(d["connections"][0]["messages"]) == 8,
              "dump: the live snapshot with its 8 messages")
        j = json.loads(await run(cli.expect, "dump --all", ["dump", "--all"],
                                 0))
        check(len(j) == 1 and j[0]["pid"] == server.pid, "dump --all")
        await run(cli.expect, "conns of a dead pid", ["conns", str(
            dead_pid())], 1, err=["no such process"])
        await run(cli.expect, "conns of a process without the shim",
                  ["conns", str(os.getpid())], 1, err=["not attached"])
        await run(cli.expect, "conns of an unknown name",
                  ["conns", "no-such-name"], 1,
                  err=["no attached process is named no-such-name"])
        await ws.close(code=4001, reason="done here")


def live(cli, shim, preload_first, tmp):
    sock_dir = os.path.join(tmp, "sock")
    cli.env["WSDBG_DIR"] = sock_dir
    cli.expect("ps with nothing attached", ["ps"], 1,
               err=["no process is attached"])
    cli.expect("conns with nothing attached", ["conns"], 1,
               err=["no process is attached"])
    os.makedirs(sock_dir, mode=0o700, exist_ok=True)
    stale = os.path.join(sock_dir, f"{dead_pid()}.sock")
    make_socket(stale)
    cli.expect("ps skips a stale socket", ["ps"], 1)
    check(not os.path.exists(stale), "ps removed the stale socket")

    run_env = dict(cli.env, ASAN_OPTIONS="detect_leaks=0")
    if preload_first:
        run_env["LD_PRELOAD"] = preload_first
    exit_dump = os.path.join(tmp, "exit-%p.json")
    server, port = cli_session.start_server(cli.exe, run_env, exit_dump)
    try:
        asyncio.run(asyncio.wait_for(
            live_session(cli, port, server, sock_dir, tmp), 60))
        out, err = server.communicate(timeout=20)
        check(server.returncode == 0, "wsdbg run: the server's exit status",
              err)
        check("wsdbg:" not in err, "wsdbg run: no warning for python3", err)
    finally:
        cli_session.stop(server)
    dump = os.path.join(tmp, f"exit-{server.pid}.json")
    check(os.path.exists(dump), "run --dump: written at exit, %p the pid")
    if os.path.exists(dump):
        cli.expect("conns of the exit dump", ["conns", "--from", dump], 0,
                   ['4001 "done here" (client)', "● closed"])
    run_checks(cli, shim, preload_first, tmp)


def run_checks(cli, shim, preload_first, tmp):
    # A sanitizer runtime (sanitizer builds) must stay first: wsdbg run
    # keeps it there and puts the shim right after it.
    first = f"{preload_first}:" if preload_first else ""
    env = dict(cli.env, LD_PRELOAD=f"{first}/nonexistent/libother.so")
    r = subprocess.run([cli.exe, "run", "--", "/bin/sh", "-c",
                        'echo "$1|$2|$LD_PRELOAD"; exit 7', "sh", "a b",
                        "--dump"], env=env, capture_output=True, text=True,
                       timeout=15)
    check(r.returncode == 7, "run: the exit status passes through", r)
    check(r.stdout == f"a b|--dump|{first}{os.path.realpath(shim)}:"
          "/nonexistent/libother.so\n",
          "run: arguments pass through; shim prepended to LD_PRELOAD",
          r.stdout)
    cli.expect("run of a statically linked program",
               ["run", "/sbin/ldconfig", "--version"], 0,
               err=["statically linked"])
    cli.expect("run of a missing program", ["run", "no-such-program-x"],
               127, err=["cannot run no-such-program-x"])
    cli.expect("run with WSDBG_LIB missing", ["run", "true"], 1,
               err=["WSDBG_LIB=/nonexistent.so"],
               env=dict(cli.env, WSDBG_LIB="/nonexistent.so"))
    if os.geteuid() == 0:
        setuid = os.path.join(tmp, "setuid-true")
        shutil.copy("/bin/true", setuid)
        os.chown(setuid, 65534, -1)
        os.chmod(setuid, 0o4755)
        cli.expect("run of a setuid program", ["run", setuid], 0,
                   err=["is setuid"])


def main():
    exe, fixtures, mode = sys.argv[1:4]
    preload_first = None
    if "--preload-first" in sys.argv:
        preload_first = sys.argv[sys.argv.index("--preload-first") + 1]
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "WSDBG_LIB", "LD_PRELOAD")}
    cli = Cli(os.path.abspath(exe), env)
    with tempfile.TemporaryDirectory() as tmp:
        if mode == "offline":
            offline(cli, fixtures, tmp)
        else:
            shim = os.path.join(os.path.dirname(cli.exe), "..", "shim",
                                "libwsdbg.so")
            live(cli, shim, preload_first, tmp)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
