"""Shared plumbing for the shim's integration tests (tests/shim/*.py).

Each scenario script runs real programs on loopback with libwsdbg.so
preloaded, reads the WSDBG_DUMP snapshots they write at exit and asks their
live stats sockets ($WSDBG_DIR/<pid>.sock, protocol in
src/shim/stats_server.h), and records checks. Every process it starts is
in a session of its own and is killed, with whatever it forked, when the
scenario ends however it ends (failure, exception, time budget, SIGTERM).

Common arguments (meson passes them, see meson.build):
  --shim LIB            the built libwsdbg.so
  --server EXE          the project's ws-echo-server (tests/peers)
  --client EXE          the project's ws-client (tests/peers)
  --preload-first LIB   a sanitizer runtime that must come before the shim
  --budget S            seconds the whole scenario may take (default 45)
A scenario adds its own with harness.parse_args(extra=...).

A scenario ends with harness.finish(), which prints "N passed, N failed"
and returns the exit status (1 on any failure).
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

_checks = 0
_failures = []
_procs = []


def check(cond, what):
    """Records one check; a failed one is printed at once."""
    global _checks
    _checks += 1
    if not cond:
        _failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr, flush=True)
    return bool(cond)


def failed():
    return len(_failures)


def finish():
    """Prints the summary line; returns the exit status."""
    kill_all()
    print(f"{_checks - len(_failures)} passed, {len(_failures)} failed",
          flush=True)
    return 1 if _failures or _checks == 0 else 0


class BudgetExceeded(Exception):
    pass


def _on_alarm(signum, frame):
    raise BudgetExceeded("time budget exceeded")


def _on_term(signum, frame):
    kill_all()
    sys.exit(1)


def parse_args(extra=None, description=None):
    """Parses the common arguments (plus extra(parser)), arms the time
    budget and the clean-up on SIGTERM."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--shim", required=True)
    p.add_argument("--server")
    p.add_argument("--client")
    p.add_argument("--preload-first")
    p.add_argument("--budget", type=int, default=45)
    if extra:
        extra(p)
    args = p.parse_args()
    args.shim = os.path.abspath(args.shim)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGTERM, _on_term)
    signal.alarm(args.budget)
    return args


def run_scenario(main):
    """Runs main(), turning an exception into a failed check; returns the
    exit status for sys.exit."""
    try:
        main()
    except BudgetExceeded:
        check(False, "scenario finished within its time budget")
    except Exception as e:  # a broken assumption is a failed check
        import traceback
        traceback.print_exc()
        check(False, f"scenario ran to the end: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
    return finish()


# ---- environments ----------------------------------------------------------

def base_env():
    """The caller's environment without any preload or WSDBG_ setting, and
    without leak checking (interpreters and the shim's process-lifetime
    registry are not leaks)."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("WSDBG_")}
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
    return env


def shim_env(args, sock_dir, dump=None, **wsdbg):
    """base_env() with the shim preloaded, WSDBG_DIR=sock_dir, WSDBG_DUMP
    (when given) and any WSDBG_<NAME>=value from wsdbg (max_messages=5)."""
    env = base_env()
    preload = args.shim
    if args.preload_first:
        preload = args.preload_first + " " + preload
    env["LD_PRELOAD"] = preload
    env["WSDBG_DIR"] = sock_dir
    if dump:
        env["WSDBG_DUMP"] = dump
    for name, value in wsdbg.items():
        env["WSDBG_" + name.upper()] = str(value)
    return env


# ---- processes -------------------------------------------------------------

def spawn(argv, env, **kw):
    """Starts argv in a session of its own (so kill_all also reaches what
    it forks), stdout and stderr piped, stdin closed unless given."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            **kw)
    _procs.append(proc)
    return proc


def kill_all():
    """Kills every process started here and its session, then reaps."""
    for proc in _procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (proc.stdout, proc.stderr, proc.stdin):
            if f:
                f.close()
    _procs.clear()


class Server:
    """A server that prints "PORT <n>" first: started, port read."""

    def __init__(self, argv, env):
        self.proc = spawn(argv, env)
        self.pid = self.proc.pid
        line = self.proc.stdout.readline().decode(errors="replace")
        if not line.startswith("PORT "):
            err = self.proc.stderr.read().decode(errors="replace")
            raise RuntimeError(f"server did not start: {line!r} {err!r}")
        self.port = int(line.split()[1])
        self.out = self.err = None
        self.returncode = None

    def finish(self, timeout=20):
        """Waits for the server to exit by itself; returns its status.
        out and err hold the rest of its stdout and its stderr."""
        out, err = self.proc.communicate(timeout=timeout)
        self.out = out.decode(errors="replace")
        self.err = err.decode(errors="replace")
        self.returncode = self.proc.returncode
        return self.returncode


def echo_server(args, env, *opts):
    """The project's ws-echo-server with opts, started."""
    return Server([args.server] + list(opts), env)


def run_client(args, env, port, steps, opts=(), timeout=20):
    """Runs the project's ws-client to the end; returns (status, stdout
    bytes, stderr text)."""
    proc = spawn([args.client] + list(opts) + [str(port)] + list(steps), env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err.decode(errors="replace")


# ---- snapshots -------------------------------------------------------------

def socket_path(sock_dir, pid):
    return os.path.join(sock_dir, f"{pid}.sock")


def socket_inode(path):
    """The inode of the Unix socket bound to path, or None."""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path:
                return int(fields[6])
    return None


def live_request(sock_dir, pid, line="snapshot", raw=False):
    """Sends one request line to pid's stats socket; returns the answer
    parsed as JSON (or as text with raw), None when there is no socket."""
    path = socket_path(sock_dir, pid)
    if not os.path.exists(path):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    text = data.decode()
    return text if raw else json.loads(text)


def wait_for(predicate, timeout=3.0, step=0.02):
    """Polls predicate() until it returns something true or timeout
    passes; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(step)


def live_until(sock_dir, pid, predicate, line="snapshot", timeout=3.0):
    """Asks pid's socket until predicate(answer) holds or timeout passes;
    returns the last answer. The shim records bytes after the real call
    returns, so a peer may see a message a moment before the snapshot
    lists it: a check of "what moved so far" waits for it."""
    last = [None]

    def attempt():
        last[0] = live_request(sock_dir, pid, line)
        return last[0] is not None and predicate(last[0])

    wait_for(attempt, timeout)
    return last[0]


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def all_messages(snap):
    return [m for c in snap["connections"] for m in c.get("messages", [])]


def max_seq(snap):
    return max((m["seq"] for m in all_messages(snap)), default=0)


def temp_dir():
    return tempfile.TemporaryDirectory(prefix="wsdbg-shim-test-")


# ---- the expected view of a scripted ws-client session ---------------------

def step_message(step):
    """What a ws-client step sends: (type, payload bytes, frames)."""
    kind, _, rest = step.partition(":")
    if kind == "text":
        return "text", rest.encode(), 1
    if kind == "texthex":
        return "text", bytes.fromhex(rest), 1
    if kind == "textn":
        n = int(rest)
        return "text", bytes(32 + i % 95 for i in range(n)), 1
    if kind == "binary":
        n = int(rest)
        return "binary", bytes((i * 31 + 7) & 0xff for i in range(n)), 1
    if kind == "ping":
        return "ping", rest.encode(), 1
    if kind == "frag":
        k, _, text = rest.partition(":")
        return "text", text.encode(), int(k)
    if kind == "close":
        if not rest:
            return "close", b"", 1
        code, _, reason = rest.partition(":")
        return "close", int(code).to_bytes(2, "big") + reason.encode(), 1
    raise ValueError(step)


def frag_sizes(n, k):
    """ws-client's split of n bytes into k frames."""
    per = n // k
    return [per] * (k - 1) + [n - per * (k - 1)]


def wire_size(n, masked):
    """Bytes a frame with n payload bytes takes (RFC 6455 5.2)."""
    return 2 + (0 if n < 126 else 2 if n <= 0xffff else 8) \
        + (4 if masked else 0) + n


def expected_session(steps):
    """The messages an echo session of steps moves, in order, from the
    server's side: a list of (dir, type, payload, frames), and the wire
    bytes each way {"received": n, "sent": n}."""
    msgs = []
    wire = {"received": 0, "sent": 0}
    for step in steps:
        typ, payload, frames = step_message(step)
        msgs.append(("received", typ, payload, frames))
        for size in frag_sizes(len(payload), frames):
            wire["received"] += wire_size(size, True)
        echo = "pong" if typ == "ping" else typ
        msgs.append(("sent", echo, payload, 1))
        wire["sent"] += wire_size(len(payload), False)
    return msgs, wire


def flip(direction):
    return "sent" if direction == "received" else "received"


def check_session(conn, steps, role, what, max_text=10240,
                  strict_order=True):
    """Checks one connection of a snapshot against the echo session of
    steps run to its end: counters both ways (messages, payload bytes,
    frames, wire bytes), and each kept message's direction, type, size,
    frames, text and truncation, in order each way, and with strict_order
    (a session that waits for each echo) in order across both ways. role
    is "server" or "client" (the client's view is the server's with
    directions swapped)."""
    msgs, wire = expected_session(steps)
    if role == "client":
        msgs = [(flip(d), t, p, f) for d, t, p, f in msgs]
        wire = {"received": wire["sent"], "sent": wire["received"]}
    for d in ("received", "sent"):
        mine = [m for m in msgs if m[0] == d]
        counts = conn[d]
        check(counts["messages"] == len(mine),
              f"{what}: {d} messages {counts['messages']} == {len(mine)}")
        nbytes = sum(len(m[2]) for m in mine)
        check(counts["bytes"] == nbytes,
              f"{what}: {d} bytes {counts['bytes']} == {nbytes}")
        nframes = sum(m[3] for m in mine)
        check(counts["frames"] == nframes,
              f"{what}: {d} frames {counts['frames']} == {nframes}")
        check(counts.get("wire_bytes") == wire[d],
              f"{what}: {d} wire bytes {counts.get('wire_bytes')} == "
              f"{wire[d]}")
    kept = conn["messages"]
    check(len(kept) == len(msgs),
          f"{what}: {len(kept)} messages kept == {len(msgs)}")
    seqs = [m["seq"] for m in kept]
    check(seqs == sorted(seqs) and len(set(seqs)) == len(seqs),
          f"{what}: seq numbers increase")
    if strict_order:
        got = [(m["dir"], m["type"]) for m in kept]
        want = [(d, t) for d, t, _, _ in msgs]
        check(got == want, f"{what}: messages in order both ways: {got}")
    for d in ("received", "sent"):
        mine = [m for m in msgs if m[0] == d]
        seen = [m for m in kept if m["dir"] == d]
        for i, (m, (_, typ, payload, frames)) in enumerate(zip(seen, mine)):
            label = f"{what}: {d} message {i} ({typ} {len(payload)})"
            got = (m["type"], m["size"], m["frames"])
            check(got == (typ, len(payload), frames),
                  f"{label}: type/size/frames {got}")
            if typ == "text":
                # Bytes that are not UTF-8 are shown as U+FFFD, and the
                # whole text judged, kept part or not.
                text = payload.decode(errors="replace")
                check(m.get("text") == text[:max_text],
                      f"{label}: text kept")
                valid = text.encode() == payload
                check(m["utf8_valid"] == valid,
                      f"{label}: utf8_valid {m['utf8_valid']} == {valid}")
                check(m["truncated"] == (len(payload) > max_text),
                      f"{label}: truncated flag")
            if typ == "close" and len(payload) >= 2:
                check(m.get("code") == int.from_bytes(payload[:2], "big"),
                      f"{label}: close code")
                # an empty reason is left out (nothing kept)
                check(m.get("text", "") == payload[2:].decode(),
                      f"{label}: close reason")


# ---- a minimal client of our own, for holding a connection open ------------

class RawClient:
    """A WebSocket client written here in a few lines, for scenarios that
    need a connection to stay open while they look (ws-client runs a
    whole script at once). Frames are masked (RFC 6455 5.3)."""

    def __init__(self, port, path="/raw"):
        import base64
        import hashlib
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
            .digest()).decode()
        if not head.startswith(b"HTTP/1.1 101") or \
                f"sec-websocket-accept: {accept}".lower().encode() \
                not in head.lower():
            raise RuntimeError(f"upgrade refused: {head!r}")

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def _need(self, n):
        while len(self.buf) < n:
            self._more()

    def send(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n <= 0xffff:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        key = os.urandom(4)
        body = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(head + key + body)

    def recv(self):
        """One frame from the server: (opcode, payload)."""
        self._need(2)
        n = self.buf[1] & 0x7f
        off = 2
        if n == 126:
            self._need(4)
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self._need(10)
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        self._need(off + n)
        opcode, payload = self.buf[0] & 0x0f, self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return opcode, payload

    def echo(self, text):
        """Sends a text and returns the echoed payload."""
        self.send(0x1, text.encode())
        return self.recv()[1].decode()

    def close_handshake(self, code, reason):
        """Sends a close, reads the server's close and end of file."""
        self.send(0x8, code.to_bytes(2, "big") + reason.encode())
        reply = self.recv()
        try:
            while self.sock.recv(4096):
                pass
        finally:
            self.sock.close()
        return reply

    def drop(self):
        """Ends the TCP connection without a close frame."""
        self.sock.close()
