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
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

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

    # A close whose code may not be sent (RFC 6455 7.4.2) is marked.
    bad = json.loads(json.dumps(snap))
    for m in bad["connections"][1]["messages"]:
        if m["type"] == "close" and m["dir"] == "received":
            m["code"], m["code_valid"] = 999, False
    bad_json = os.path.join(tmp, "bad-code.json")
    with open(bad_json, "w") as f:
        json.dump(bad, f)
    out = cli.expect("msgs marks an invalid close code",
                     ["msgs", "--from", bad_json, "2", "--type", "close"], 0,
                     out=["[invalid code]"])
    check(sum("[invalid code]" in r for r in timeline(out)) == 1,
          "only the close whose code is invalid is marked", out)

    # A compressed message inflated only up to WSDBG_MAX_INFLATE (its size
    # a lower bound), and one not inflated (its window lost after it).
    capped = json.loads(json.dumps(snap))
    for m in capped["connections"][1]["messages"]:
        if m["seq"] == 11:
            m.update(size=1 << 20, inflated=True, size_is_lower_bound=True,
                     truncated=True)
        elif m["seq"] == 9:
            m.update(size=37, inflated=False, size_is_lower_bound=False,
                     truncated=False)
            del m["text"]
    capped["totals"].update(inflate_capped_received=1,
                            not_inflated_received=1,
                            bytes_received=(1 << 20) + 300)
    capped_json = os.path.join(tmp, "capped.json")
    with open(capped_json, "w") as f:
        json.dump(capped, f)
    out = cli.expect("msgs shows a capped size as a lower bound",
                     ["msgs", "--from", capped_json, "2", "--dir",
                      "received"], 0,
                     out=["←  text    ≥1.0 MB [deflate] [inflate capped]  "
                          + "x" * 40 + "…",
                          "←  text       37 B [deflate] [3 frames] "
                          "[not inflated]\n"],
                     no_out=["part one", "[inflate capped] [truncated]"])
    cli.expect("show a capped message", ["show", "2", "11", "--from",
                                         capped_json], 0,
               out=["type         text, at least 1.0 MB (1048576 bytes), "
                    "1 frame, compressed (permessage-deflate)",
                    "inflated     the first 1.0 MB, then stopped at "
                    "WSDBG_MAX_INFLATE: the size is a lower bound",
                    "utf-8        valid as far as inflated",
                    "kept         the first 40 B of at least 1.0 MB "
                    "(truncated"])
    cli.expect("show a message not inflated", ["show", "2", "9", "--from",
                                               capped_json], 0,
               out=["type         text, 37 B on the wire, 3 frames, "
                    "compressed",
                    "inflated     no: an earlier message this way passed "
                    "WSDBG_MAX_INFLATE",
                    "utf-8        not judged (not inflated)",
                    "kept         nothing (not inflated)"])
    capped["config"]["inflate"] = False
    with open(capped_json, "w") as f:
        json.dump(capped, f)
    cli.expect("show a message not inflated with inflate off",
               ["show", "2", "9", "--from", capped_json], 0,
               out=["inflated     no (WSDBG_INFLATE=0)"])
    cli.expect("stats counts capped and uninflated messages",
               ["stats", "--from", capped_json], 0,
               out=["bytes             365 B     ≥1.0 MB",
                    "inflating\n  capped              0           1\n"
                    "  not at all          0           1\n"])
    j = json.loads(cli.expect("stats --json counts them",
                              ["stats", "--json", "--from", capped_json],
                              0))
    check(j["received"]["inflate_capped"] == 1
          and j["received"]["not_inflated"] == 1
          and j["sent"]["inflate_capped"] == 0,
          "stats --json: inflate_capped and not_inflated each way",
          json.dumps(j))

    out = cli.expect("stats of a closed session",
                     ["stats", "--from", exit_json], 0,
                     out=["python3 pid 19686 · WebSocket statistics",
                          "connections  2 total: 0 active, 2 closed, "
                          "0 rejected, 0 evicted, 0 expired, 0 untracked",
                          "                 SENT →  RECEIVED ←",
                          "messages              8           8",
                          "  ping                0           1",
                          "  pong                1           0",
                          "  close               2           2",
                          "bytes             365 B       365 B",
                          "frames                8          10",
                          "on the wire       297 B       352 B",
                          "durations    2 closed: min 8 ms, median 37 ms, "
                          "max 66 ms",
                          "rtt          1 sample: min 0.10 ms, avg 0.10 ms, "
                          "max 0.10 ms"])
    check(len(out.splitlines()) == 14, "stats: 14 lines", out)
    j = json.loads(cli.expect("stats --json", ["stats", "--json", "--from",
                                               live_json], 0))
    check(j["connections"]["total"] == 2 and j["connections"]["active"] == 2
          and j["sent"]["messages"] == 6 and j["received"]["frames"] == 8
          and j["sent"]["by_type"]["pong"] == 1
          and j["received"]["by_type"]["ping"] == 1
          and j["durations"] is None and j["rtt_ms"]["samples"] == 1,
          "stats --json: the live snapshot's figures", json.dumps(j))
    j = json.loads(cli.expect("stats --json of a closed session",
                              ["stats", "--json", "--from", exit_json], 0))
    d = sorted(c["duration"] for c in snap["connections"])
    check(j["durations"] == {"count": 2, "min": d[0], "max": d[1],
                             "median": (d[0] + d[1]) / 2},
          "stats --json: durations of the closed connections", json.dumps(j))
    empty = os.path.join(tmp, "empty.json")
    with open(empty, "w", encoding="utf-8") as f:
        e = json.loads(json.dumps(snap))
        e["connections"] = []
        e["totals"] = {k: 0 for k in e["totals"] if k != "by_type"}
        json.dump(e, f)
    cli.expect("stats with no connection", ["stats", "--from", empty], 1,
               out=["0 total"], err=["has seen no WebSocket connection"])
    cli.expect("stats of another pid", ["stats", "1", "--from", exit_json],
               1, err=["process 1 is not attached"])
    cli.expect("stats with two arguments", ["stats", "1", "2"], 2,
               err=["unexpected argument '2'"])

    out = cli.expect("show a connection", ["show", "2", "--from",
                                           exit_json], 0,
                     out=["connection 2 · python3 pid 19686",
                          "state        closed (server, fd 10)",
                          "target       /echo?room=7",
                          "peer         127.0.0.1:45618",
                          "status       101",
                          "extensions   permessage-deflate; "
                          "server_max_window_bits=12",
                          'close        4001 "done here" (client)  '
                          "(private use)",
                          "messages              6           6",
                          "frames                6           8",
                          "kept         12 messages, 0 dropped from the "
                          "ring; by type (→/←): text 3/3 binary 1/1 "
                          "ping 0/1 pong 1/0 close 1/1",
                          "rtt          1 sample: last 0.10 ms",
                          "  user-agent: Python/3.11 websockets/10.4"])
    cli.expect("show PID CONN", ["show", "python3", "1", "--from",
                                 exit_json], 0,
               out=["connection 1 ·", "target       /chat?room=1",
                    "rtt          -"])
    cli.expect("show a JSON message", ["show", "2", "3", "--from",
                                       exit_json], 0,
               out=["message 3 of connection 2", "direction    ← received",
                    "type         text, 18 B, 1 frame, compressed",
                    "kept         all of it",
                    '{\n  "hello": "world"\n}\n'])
    cli.expect("show a truncated message", ["show", "python3", "2", "11",
                                            "--from", exit_json], 0,
               out=["kept         the first 40 B of 100 B (truncated",
                    "\n" + "x" * 40 + "…\n"], no_out=["{"])
    cli.expect("show a close message", ["show", "2", "13", "--from",
                                        exit_json], 0,
               out=["close code   4001 (private use)", "\ndone here\n"])
    j = json.loads(cli.expect("show --json", ["show", "2", "3", "--json",
                                              "--from", exit_json], 0))
    check(j["seq"] == 3 and j["conn"] == "2" and j["text"] ==
          '{"hello": "world"}', "show --json: the message", json.dumps(j))
    j = json.loads(cli.expect("show --json of a connection",
                              ["show", "2", "--json", "--from", exit_json],
                              0))
    check(j["id"] == "2" and "messages" not in j and
          j["close"]["code"] == 4001, "show --json: the connection")
    cli.expect("show a missing connection", ["show", "9", "--from",
                                             exit_json], 1,
               err=["no connection 9"])
    cli.expect("show a missing message", ["show", "2", "99", "--from",
                                          exit_json], 1,
               err=["no message 99 kept on connection 2"])
    cli.expect("show without CONN", ["show", "--from", exit_json], 2,
               err=["missing the connection id"])
    cli.expect("show a bad SEQ", ["show", "2", "x", "--from", exit_json], 2,
               err=["SEQ is a message number"])

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
    for cmd in ("conns", "msgs", "stats", "dump"):
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
    cli.expect("msgs --follow --from", ["msgs", "--follow", "--from",
                                        exit_json], 2,
               err=["--follow", "--from"])
    cli.expect("run without a command", ["run"], 2,
               err=["missing the command"])
    for cmd in ("run", "ps", "conns", "msgs", "show", "stats", "dump"):
        cli.expect(f"{cmd} --help", [cmd, "--help"], 0,
                   out=[f"usage: wsdbg {cmd}"])
    cli.expect("wsdbg --help", ["--help"], 0, out=["commands:", "conns",
                                                   "stats"])
    cli.expect("msgs --help mentions --follow", ["msgs", "--help"], 0,
               out=["--follow", "ring overtaken"])

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
        await run(cli.expect, "stats of the live pid", ["stats", pid], 0,
                  [f"python3 pid {pid} · WebSocket statistics",
                   "connections  1 total: 1 active, 0 closed",
                   "messages              4           4",
                   "  ping                0           1",
                   "durations    no closed connection tracked"])
        await run(cli.expect, "show of the live connection",
                  ["show", pid, "1"], 0,
                  ["connection 1 · python3 pid", "state        open",
                   "target       /echo?room=7", "messages              4"])
        await run(cli.expect, "msgs with a lone CONN", ["msgs", "1"], 0,
                  ["connection 1", "hello live"])
        # Asked for alone (conn=ID): an id the process does not have.
        await run(cli.expect, "msgs of a connection the process lacks",
                  ["msgs", pid, "9"], 1, err=["no connection 9 in python3"])
        await run(cli.expect, "show of a connection the process lacks",
                  ["show", "1f"], 1, err=["no connection 1f in python3"])
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


# ---- msgs --follow against a live process --------------------------------

class Follower:
    """`wsdbg msgs ARGS --follow` in the background, its stdout read line
    by line as it comes."""

    def __init__(self, cli, args):
        self.proc = subprocess.Popen([cli.exe, "msgs", *args, "--follow"],
                                     env=cli.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of output
            self.cond.notify_all()

    def wait_for(self, pred, timeout):
        """Waits until pred(lines) holds; returns whether it did."""
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.lines):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def finish(self, timeout=5):
        """Waits for the exit; returns (status, stdout lines, stderr)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(5)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        return self.proc.returncode, [ln for ln in self.lines if ln], err


def has(*texts):
    return lambda lines: all(any(ln and t in ln for ln in lines)
                             for t in texts)


async def follow_session(cli, port, server):
    pid = str(server.pid)
    async with cli_session.connect(port) as ws:
        await cli_session.chat(ws, "before follow")
        await asyncio.sleep(0.2)
        f = Follower(cli, [pid])
        started = await asyncio.to_thread(
            f.wait_for, has("following", "part one, part two"), 5)
        check(started, "--follow: the current timeline first", f.lines)
        t0 = time.monotonic()
        await ws.send("sent while following")
        await ws.recv()
        seen = await asyncio.to_thread(
            f.wait_for, has("←  text       20 B [deflate]  sent while "
                            "following", "→  text       20 B"), 2)
        check(seen and time.monotonic() - t0 < 2,
              "--follow: a new message shows within 2 s", f.lines)
        # A burst of 40 messages through a ring of 4: each shows or is
        # counted as dropped, none twice.
        for i in range(20):
            await ws.send(f"burst {i:02}")
        for i in range(20):
            await ws.recv()
        await ws.send("after the burst")
        await ws.recv()
        await asyncio.to_thread(f.wait_for, has("→  text       15 B"), 3)
        f.proc.send_signal(signal.SIGINT)
        rc, lines, err = await asyncio.to_thread(f.finish)
        check(rc == 0 and err == "", "--follow: SIGINT stops it, exit 0",
              f"rc={rc} err={err!r}")
        shown = sum(1 for ln in lines if "burst " in ln)
        dropped = [ln for ln in lines if "dropped (ring overtaken)" in ln]
        lost = sum(int(ln.split()[1]) for ln in dropped)
        check(dropped and all(ln.startswith("… ") for ln in dropped),
              "--follow: the ring overtook it and it says so", lines)
        check(shown + lost == 40 and len(set(lines)) == len(lines),
              "--follow: every burst message shown or counted dropped",
              f"shown={shown} lost={lost}\n" + "\n".join(lines))
        # One connection, then the process exits (it does when its first
        # connection closes).
        f = Follower(cli, [pid, "1"])
        started = await asyncio.to_thread(f.wait_for, has("following"), 5)
        check(started, "--follow CONN: started", f.lines)
        await ws.close(code=4001, reason="done here")
    rc, lines, err = await asyncio.to_thread(f.finish, 10)
    check(rc == 0 and err == "" and lines[-1] == f"process {pid} exited",
          "--follow: the process exits, one line, exit 0",
          f"rc={rc} err={err!r}\n" + "\n".join(lines))
    # (The close itself may come too late for a last poll: the server
    # exits at once.)
    check(lines[0].startswith(f"python3 pid {pid} · connection 1 ·")
          and all(ln.startswith("00:") for ln in lines[1:-1]),
          "--follow CONN: the connection's rows", "\n".join(lines))


def follow_live(cli, run_env):
    env = dict(run_env, WSDBG_MAX_MESSAGES="4")
    server, port = cli_session.start_server(cli.exe, env)
    try:
        asyncio.run(asyncio.wait_for(follow_session(cli, port, server), 60))
        server.communicate(timeout=20)
    finally:
        cli_session.stop(server)


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
    follow_live(cli, run_env)
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
