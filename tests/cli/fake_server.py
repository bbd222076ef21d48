"""A stand-in for a process's stats socket that misbehaves on purpose, for
the CLI's bad-peer tests (bad_peers.py).

FakeServer starts a real process that only sleeps (so `wsdbg ps` and
`wsdbg conns PID` find a live pid, named "sleep"), binds <dir>/<pid>.sock
(mode 0600) in its place, and answers every client with one behaviour,
from a thread of the calling test. It notes each request line it reads.

Behaviours:
  answer    the payload bytes, then close (a good or a hostile snapshot)
  garbage   binary bytes that are no JSON, then close
  slow      the payload one byte every 100 ms (never done within 2 s)
  silent    reads the request, then says nothing and keeps the socket open
  close     closes each connection at once, without reading
  endless   '{"wsdbg": 1, "x": "aaaa...' without end, until the client
            goes away
  error     an error answer, {"wsdbg": 1, "error": "..."}
  first-then-garbage
            the payload to the first client, garbage to the others (a
            process that goes bad while --follow watches it)

Like the real stats server, it takes a connection closed before any byte
(the CLI's check that something listens, when it lists the sockets) as
nothing to answer: not a client, no request noted.

Run by hand: python3 fake_server.py DIR BEHAVIOUR [SNAPSHOT-FILE]
(prints the pid; Ctrl-C stops it).
"""
import os
import socket
import subprocess
import sys
import threading
import time

BEHAVIOURS = ("answer", "garbage", "slow", "silent", "close", "endless",
              "error", "first-then-garbage")
# Starts with terminal commands (clear the screen, set the window title):
# error lines that quote it must show them escaped.
GARBAGE = b"\x1b[2J\x1b]0;pwned\x07" + bytes(range(256)) * 4


class FakeServer:
    def __init__(self, sock_dir, behaviour, payload=b"", pid=None):
        assert behaviour in BEHAVIOURS, behaviour
        self.behaviour = behaviour
        self.payload = payload
        self.requests = []
        self.clients = 0
        self._stop = threading.Event()
        self._open = []
        self._lock = threading.Lock()
        # The process the socket claims to be; it must stay alive.
        self.sleeper = None
        if pid is None:
            self.sleeper = subprocess.Popen(["sleep", "120"])
            pid = self.sleeper.pid
        self.pid = pid
        self.path = os.path.join(sock_dir, f"{pid}.sock")
        os.makedirs(sock_dir, mode=0o700, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self.thread.join(5)
        for c in self._open:
            c.close()
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
        if self.sleeper:
            self.sleeper.kill()
            self.sleeper.wait()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            # A thread per client, so that a stuck one (silent) does not
            # hold up the next; stop() closes what is left.
            threading.Thread(target=self._client, args=(conn,),
                             daemon=True).start()

    def _read_line(self, conn):
        """Reads the request line and notes it; returns which client this
        is (1 for the first), or 0 when the connection ended before any
        byte (a probe, not a client)."""
        conn.settimeout(1)
        data = b""
        try:
            while b"\n" not in data and len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        if not data:
            return 0
        with self._lock:
            self.clients += 1
            self.requests.append(data.split(b"\n")[0].decode("utf-8",
                                                             "replace"))
            return self.clients

    def _client(self, conn):
        b = self.behaviour
        try:
            if b == "close":
                conn.close()
                return
            client = self._read_line(conn)
            if not client:
                conn.close()
                return
            if b == "first-then-garbage":
                b = "answer" if client == 1 else "garbage"
            conn.settimeout(5)
            if b == "answer":
                conn.sendall(self.payload)
            elif b == "garbage":
                conn.sendall(GARBAGE)
            elif b == "error":
                conn.sendall(b'{"wsdbg": 1, "error": "unknown request: '
                             b'\\"snapshot\\""}\n')
            elif b == "slow":
                for i in range(len(self.payload)):
                    if self._stop.wait(0.1):
                        break
                    conn.sendall(self.payload[i:i + 1])
            elif b == "silent":
                self._open.append(conn)
                self._stop.wait()
                return
            elif b == "endless":
                conn.sendall(b'{"wsdbg": 1, "x": "')
                chunk = b"a" * 65536
                while not self._stop.is_set():
                    conn.sendall(chunk)
        except OSError:
            pass  # the client went away: what the CLI is meant to do
        conn.close()


def main():
    sock_dir, behaviour = sys.argv[1:3]
    payload = b""
    if len(sys.argv) > 3:
        with open(sys.argv[3], "rb") as f:
            payload = f.read()
    with FakeServer(sock_dir, behaviour, payload) as fake:
        print(f"pid {fake.pid}, socket {fake.path}", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
