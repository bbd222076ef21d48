"""What a person sees on a terminal: `wsdbg conns` and `wsdbg msgs --follow`
in a real terminal (tmux 3.3, on a socket of its own), against the
project's C echo server (tests/peers) running under `wsdbg run` and
driven by Debian's python3-websockets.

  terminal.py WSDBG ECHO_SERVER [--preload-first LIB]

Checked on the pane's contents (tmux capture-pane, with -e for the
colour sequences): the coloured state dots (open green, closed grey),
dim headers, green and cyan arrows; columns aligned under their headers;
every line within the pane's width at 200, 80 and 60 columns (cut with
"…", columns left out at 60), none wrapped; no colour at all with
NO_COLOR; --follow shows a message sent after it started within the
bound and Ctrl-C ends it with exit status 0. Every process is bounded in
time and killed at the end, the tmux server with it.
"""
import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import websockets

from cli_check import check, summary

# --follow polls every 200 ms; the bound allows for a loaded machine.
FOLLOW_BOUND_S = 2.0
LONG_PATH = "/live?room=" + "x" * 70
SGR = re.compile(r"\x1b\[[0-9;]*m")


class Tmux:
    """A private tmux server (-S socket, no user config, no status line;
    panes stay after their command ends, to read its exit status)."""

    def __init__(self, tmp, env):
        self.sock = os.path.join(tmp, "tmux.sock")
        self.conf = os.path.join(tmp, "tmux.conf")
        with open(self.conf, "w") as f:
            f.write("set -g remain-on-exit on\nset -g status off\n"
                    "set -g history-limit 1000\n")
        self.env = env
        self.n = 0

    def __call__(self, *args):
        return subprocess.run(["tmux", "-S", self.sock, "-f", self.conf,
                               *args], env=self.env, capture_output=True,
                              text=True, timeout=10)

    def start(self, argv, width, height=40, env=()):
        """Runs argv in a new pane of width x height; returns its target
        name. A shell around it prints "[exit N]" after it: tmux may take
        seconds to reap a pane's process, so its own exit status comes
        late; the shell then sleeps, keeping the pane (and the end of its
        output) until kill-server. The shell catches SIGINT (its trap), so
        that Ctrl-C, sent to both, ends only the command; the command gets
        SIGINT with its default action, as from an interactive shell."""
        self.n += 1
        name = f"wsdbg-{self.n:03}"  # not a prefix of another
        extra = [a for k, v in env for a in ("-e", f"{k}={v}")]
        r = self("new-session", "-d", "-s", name, "-x", str(width), "-y",
                 str(height), *extra, "--", "sh", "-c",
                 'trap : INT; "$@"; echo "[exit $?]"; exec sleep 120', "sh",
                 *argv)
        if r.returncode != 0:
            raise RuntimeError(f"tmux new-session: {r.stderr}")
        return name

    def capture(self, target, escapes=False):
        """The pane's lines from the start of its history (tmux scrolls
        the pane when the command ends), wrapped lines joined (-J), so
        that a line wider than the pane shows as one."""
        args = ["capture-pane", "-p", "-J", "-S", "-", "-t", target]
        if escapes:
            args.insert(2, "-e")
        return self(*args).stdout.split("\n")

    def exit_status(self, target):
        """The command's exit status, from the line the wrapper prints
        after it ("[exit N]"), or None while it runs."""
        for line in self.capture(target):
            # (after "^C" when Ctrl-C was echoed)
            m = re.fullmatch(r"(?:\^C)?\[exit (\d+)\]", line.strip())
            if m:
                return int(m.group(1))
        return None

    def wait(self, pred, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = pred()
            if v:
                return v
            time.sleep(0.05)
        return pred()

    def kill(self):
        self("kill-server")


def styled(line):
    """The characters of a captured line (capture-pane -e) with their
    style: [(char, {"fg": SGR colour or None, "bold", "dim"})]."""
    out, style, i = [], {"fg": None, "bold": False, "dim": False}, 0
    while i < len(line):
        m = SGR.match(line, i)
        if not m:
            out.append((line[i], dict(style)))
            i += 1
            continue
        i = m.end()
        params = [int(p) if p else 0 for p in m.group()[2:-1].split(";")]
        while params:
            p = params.pop(0)
            if p == 0:
                style = {"fg": None, "bold": False, "dim": False}
            elif p in (1, 2):
                style["bold" if p == 1 else "dim"] = True
            elif p == 22:
                style["bold"] = style["dim"] = False
            elif 30 <= p <= 37 or 90 <= p <= 97:
                style["fg"] = p
            elif p == 39:
                style["fg"] = None
            elif p in (38, 48):  # extended colours: skip their values
                params = params[2:] if params[:1] == [5] else params[4:]
    return out


def style_of(lines, text):
    """The style of the first character of text where it first shows in
    the captured lines, or None."""
    for line in lines:
        chars = styled(line)
        plain = "".join(c for c, _ in chars)
        pos = plain.find(text)
        if pos >= 0:
            return chars[pos][1]
    return None


def content(lines):
    """The pane's lines without the trailing empty ones and without the
    "Pane is dead" line tmux adds."""
    lines = [ln for ln in lines if not ln.startswith("Pane is dead")
             and not re.fullmatch(r"(?:\^C)?\[exit \d+\]", ln.strip())]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


# ---- conns -----------------------------------------------------------------

LEFT = ("ID", "PATH", "STATE", "CLOSE")
RIGHT = ("DURATION", "MSGS →/←", "BYTES →/←", "RTT")


def check_aligned(what, lines):
    """Each cell starts (left columns) or ends (right columns) where its
    header does."""
    head = next((i for i, ln in enumerate(lines) if ln.startswith("ID  ")),
                None)
    if not check(head is not None, f"{what}: a header row", lines):
        return
    header, rows = lines[head], lines[head + 1:]
    check(len(rows) == 2, f"{what}: two rows", lines)
    for name in LEFT + RIGHT:
        pos = header.find(name)
        if pos < 0:
            continue
        for row in rows:
            if name in LEFT and not row[pos:pos + 1].strip():
                ok = not row[pos:pos + 8].strip()  # an empty cell
            elif name in LEFT:
                ok = pos == 0 or row[pos - 1] == " "
            else:
                end = pos + len(name) - 1
                ok = row[end:end + 1].strip() and row[end + 1:end + 2] in (
                    "", " ")
            check(ok, f"{what}: {name!r} column aligned",
                  "\n".join([header, row]))


def conns_checks(tmux, cli, pid, width, no_color=False):
    what = f"conns at {width} columns" + (" with NO_COLOR" if no_color
                                          else "")
    env = [("NO_COLOR", "1")] if no_color else []
    t = tmux.start([cli, "conns", pid], width, env=env)
    tmux.wait(lambda: tmux.exit_status(t) is not None, 10)
    status = tmux.exit_status(t)
    check(status == 0, f"{what}: exit status 0", f"{status}\n" + "\n".join(
        tmux.capture(t)) + tmux("display-message", "-p", "-t", t,
                                "#{pane_dead} #{pane_pid}").stdout)
    plain = content(tmux.capture(t))
    lines_e = content(tmux.capture(t, escapes=True))
    coloured = "\n".join(lines_e)
    detail = "\n".join(plain) + "\n" + repr(coloured)
    check(plain and plain[0].startswith("WebSocket  1 active, 2 total"),
          f"{what}: the summary line", detail)
    check(all(len(ln) <= width for ln in plain),
          f"{what}: every line within {width} columns (none wrapped)",
          "\n".join(f"{len(ln):3} {ln}" for ln in plain))
    check_aligned(what, plain)
    if no_color:
        check("\x1b[" not in coloured, f"{what}: no colour at all",
              repr(coloured))
    else:
        check((style_of(lines_e, "● open") or {}).get("fg") == 32,
              f"{what}: a green dot for open", repr(coloured))
        check((style_of(lines_e, "● closed") or {}).get("fg") == 90,
              f"{what}: a grey dot for closed", repr(coloured))
        check((style_of(lines_e, "PATH") or {}).get("dim"),
              f"{what}: the header dim", repr(coloured))
        check((style_of(lines_e, "WebSocket") or {}).get("bold"),
              f"{what}: the summary bold", repr(coloured))
    return plain


def conns_session(tmux, cli, pid):
    wide = conns_checks(tmux, cli, pid, 200)
    check(any(LONG_PATH in ln for ln in wide),
          "conns at 200 columns: the whole path", "\n".join(wide))
    check(any('4001 "done here" (client)' in ln for ln in wide),
          "conns at 200 columns: the close", "\n".join(wide))
    mid = conns_checks(tmux, cli, pid, 80)
    row = next((ln for ln in mid if "/live?room=" in ln), "")
    check("…" in row.split("●")[0] and LONG_PATH not in row,
          "conns at 80 columns: the path cut with …", "\n".join(mid))
    check("RTT" in mid[1] and "DURATION" in mid[1],
          "conns at 80 columns: every column kept", "\n".join(mid))
    narrow = conns_checks(tmux, cli, pid, 60)
    check("RTT" not in narrow[1] and "DURATION" not in narrow[1]
          and "MSGS" in narrow[1] and "STATE" in narrow[1],
          "conns at 60 columns: round trip and duration left out",
          "\n".join(narrow))
    conns_checks(tmux, cli, pid, 80, no_color=True)


# ---- msgs --follow -----------------------------------------------------------

async def follow_session(tmux, cli, pid, ws):
    width = 80
    t = tmux.start([cli, "msgs", pid, "--follow"], width)
    started = await asyncio.to_thread(tmux.wait, lambda: any(
        "· following" in ln for ln in tmux.capture(t)), 10)
    check(started, "--follow in tmux: started", tmux.capture(t))
    before = len(content(tmux.capture(t)))
    long_text = "sent while following in tmux " + "y" * 200
    t0 = time.monotonic()
    await ws.send(long_text)
    assert await ws.recv() == long_text
    seen = await asyncio.to_thread(tmux.wait, lambda: sum(
        "sent while following in tmux" in ln for ln in tmux.capture(t)) == 2,
        FOLLOW_BOUND_S + 3)
    took = time.monotonic() - t0
    plain = content(tmux.capture(t))
    lines_e = content(tmux.capture(t, escapes=True))
    coloured = "\n".join(lines_e)
    check(seen and took < FOLLOW_BOUND_S,
          f"--follow in tmux: the new message shows within "
          f"{FOLLOW_BOUND_S} s (took {took:.2f} s)", "\n".join(plain))
    print(f"--follow in tmux: a message sent showed after {took:.2f} s")
    new = plain[before:]
    check(len(new) == 2 and "←  text      229 B  sent while" in new[0]
          and "→  text      229 B  sent while" in new[1],
          "--follow in tmux: one row each way, in order", "\n".join(plain))
    check(all(len(ln) <= width and ln.endswith("…") for ln in new),
          "--follow in tmux: long rows cut to one line with …",
          "\n".join(f"{len(ln):3} {ln}" for ln in plain))
    check(all(len(ln) <= width for ln in plain),
          f"--follow in tmux: every line within {width} columns",
          "\n".join(f"{len(ln):3} {ln}" for ln in plain))
    rows = [ln for ln in plain if re.match(r"\d+ +\d\d:\d\d\.\d{3}  ", ln)]
    check(len(rows) >= 6
          and len({re.search(r"\d\d:\d\d", ln).start() for ln in rows}) == 1
          and len({re.search("[←→◉]", ln).start() for ln in rows}) == 1,
          "--follow in tmux: the tag, time and arrow columns aligned",
          "\n".join(rows))
    check((style_of(lines_e, "←  text      229") or {}).get("fg") == 32
          and (style_of(lines_e, "→  text      229") or {}).get("fg") == 36,
          "--follow in tmux: green ← received, cyan → sent", repr(coloured))
    check((style_of(lines_e, "00:00.000") or {}).get("dim"),
          "--follow in tmux: times dim", repr(coloured))
    tmux("send-keys", "-t", t, "C-c")
    t0 = time.monotonic()
    status = await asyncio.to_thread(
        tmux.wait, lambda: tmux.exit_status(t) is not None, 5)
    check(status and tmux.exit_status(t) == 0
          and time.monotonic() - t0 < 2,
          "--follow in tmux: Ctrl-C ends it, exit status 0",
          f"status={tmux.exit_status(t)}\n" + "\n".join(
              content(tmux.capture(t))))
    # With NO_COLOR: the same rows, no colour.
    t = tmux.start([cli, "msgs", pid, "--follow"], width,
                   env=[("NO_COLOR", "1")])
    await asyncio.to_thread(tmux.wait, lambda: any(
        "· following" in ln for ln in tmux.capture(t)), 10)
    await ws.send("and once more")
    await ws.recv()
    seen = await asyncio.to_thread(tmux.wait, lambda: any(
        "→  text       13 B  and once more" in ln for ln in tmux.capture(t)),
        FOLLOW_BOUND_S + 3)
    coloured = "\n".join(content(tmux.capture(t, escapes=True)))
    check(seen and "\x1b[" not in coloured,
          "--follow in tmux with NO_COLOR: rows, no colour", repr(coloured))
    tmux("send-keys", "-t", t, "C-c")
    await asyncio.to_thread(
        tmux.wait, lambda: tmux.exit_status(t) is not None, 5)
    check(tmux.exit_status(t) == 0, "--follow with NO_COLOR: Ctrl-C, 0",
          f"status={tmux.exit_status(t)}\n" + "\n".join(
              content(tmux.capture(t))))


async def session(tmux, cli, pid, port):
    base = f"ws://127.0.0.1:{port}"
    async with websockets.connect(base + "/chat?room=1") as ws:
        await ws.send("hello")
        await ws.recv()
        await ws.close(code=4001, reason="done here")
    async with websockets.connect(base + LONG_PATH) as ws:
        for text in ("first", "second"):
            await ws.send(text)
            await ws.recv()
        await asyncio.wait_for(await ws.ping(b"rtt"), 5)
        await asyncio.sleep(0.2)
        await asyncio.to_thread(conns_session, tmux, cli, pid)
        await follow_session(tmux, cli, pid, ws)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("wsdbg")
    p.add_argument("echo_server")
    p.add_argument("--preload-first")
    args = p.parse_args()
    if not shutil.which("tmux"):
        print("tmux is not installed (apt-get install tmux)", file=sys.stderr)
        return 1
    cli = os.path.abspath(args.wsdbg)
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items()
               if k not in ("NO_COLOR", "LD_PRELOAD", "WSDBG_LIB", "TMUX")}
        env["WSDBG_DIR"] = os.path.join(tmp, "sock")
        run_env = dict(env, ASAN_OPTIONS="detect_leaks=0")
        if args.preload_first:
            run_env["LD_PRELOAD"] = args.preload_first
        server = subprocess.Popen(
            [cli, "run", "--", args.echo_server, "--threads", "--timeout",
             "60"], env=run_env, stdout=subprocess.PIPE, text=True)
        tmux = Tmux(tmp, dict(env, TERM="xterm-256color"))
        try:
            line = server.stdout.readline()
            if not check(line.startswith("PORT "), "the echo server starts",
                         line):
                return summary()
            asyncio.run(asyncio.wait_for(session(
                tmux, cli, str(server.pid), int(line.split()[1])), 90))
        finally:
            tmux.kill()
            server.kill()
            server.wait()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
