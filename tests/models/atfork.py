"""Fork safety with other libraries' fork handlers (atfork_host.c, which
links atfork_writer.c): the host holds two WebSocket connections to
ws-echo-server, a second thread echoes on one of them without pause, and
the main thread forks --forks times, each child calling _exit at once;
the writer library, whose handlers are registered before the shim's,
writes a frame on the other connection from its prepare handler (in the
parent) and from its child handler (in the child, before the shim's child
handler has run). A child whose handler waited on a lock that the busy
thread held at fork time would never end. Meanwhile this script asks the
host's stats socket for whole snapshots without pause (up to 2,000
messages kept per connection), so that the stats thread holds that lock
for long copies too. Measured with the shim as it was before it marked
the fork window (a child handler only): 4, 7 and 9 children of 1,000
hung in three runs with the queries, 1 in 1,000 without them.

The host holds /dev/null open on 3-9, as a host with files open does,
so that its connections and pidfds are 10 and up. The stats thread
numbers its own descriptors from 0 (3 in a sanitizer build) in a table
of its own; whether the shim tells a host connection from the thread's
socket of the same number is not this scenario's question
(models_connection_on_a_number_the_stats_thread_uses_stays_recorded_exactly
asks it), and ThreadSanitizer, which keeps one state per descriptor
number for the whole process, would take the host closing a pidfd with
the number of the thread's socket for a race.

The host runs once without the shim (fewer forks) first. Checks:
  - the premise: ld.so initialises the writer library before the
    preloaded shim (LD_DEBUG=files), so its handlers are registered first;
  - no child hangs (none unfinished 5 s after its fork), every child
    exits 0 with its frame written whole, the host exits 0, every frame
    the handlers wrote comes back from the echo server;
  - the stats socket answered all along;
  - the host's dump: the busy connection counted exactly (its echoes
    plus the close, each way) through all the forks; on the writer's
    connection the prepare handler's frames, written inside the shim's
    fork window, are marked unseen (a gap in the sent direction), not
    recorded, and the echoes are all received;
  - no socket file is left (the children never started a stats server).
"""
import glob
import os
import re
import sys
import threading

from modelkit import check, figure, harness


def parse(out):
    """The host's three result lines as a dict of numbers."""
    found = {}
    for line in out.splitlines():
        words = line.split()
        if words and words[0] in ("forks", "busy_echoes", "atfork_echoes"):
            # "forks N exited_ok N ..." / "busy_echoes N" /
            # "atfork_echoes prepare N child N"
            if words[0] == "busy_echoes":
                found["busy_echoes"] = int(words[1])
                continue
            pairs = words if words[0] == "forks" else words[1:]
            for k in range(0, len(pairs) - 1, 2):
                found[pairs[k]] = int(pairs[k + 1])
    return found


class Asker:
    """Asks pid's stats socket for snapshots on a thread of its own,
    one after the other, until stop(); counts the answers and keeps the
    problems met."""

    def __init__(self, sock_dir, pid):
        self.sock_dir, self.pid = sock_dir, pid
        self.answers, self.errors = 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        path = harness.socket_path(self.sock_dir, self.pid)
        # A snapshot of this pid, not an error answer; parsing each one
        # would take the CPU the host needs.
        head = f'{{\n  "wsdbg": 1,\n  "pid": {self.pid},'
        harness.wait_for(lambda: os.path.exists(path), 5)
        while not self._stop.is_set():
            try:
                answer = harness.live_request(self.sock_dir, self.pid,
                                              "snapshot", raw=True)
            except OSError as e:
                answer = f"{type(e).__name__}: {e}"
            if answer and answer.startswith(head):
                self.answers += 1
            elif answer is not None and os.path.exists(path):
                # (Not the host ending: it removes the file first.)
                self.errors.append(f"answer {answer[:80]!r}")

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        return self


def run_host(args, env, forks, sock_dir=None):
    """One run against a fresh echo server, asking the host's stats
    socket all along when sock_dir is given; returns (status, numbers,
    stderr, host pid, asker)."""
    server = harness.echo_server(args, harness.base_env(), "--threads",
                                 "--connections", "2", "--timeout",
                                 str(args.budget))
    host = harness.spawn([args.host, str(server.port), "--forks",
                          str(forks), "--hang-ms", str(args.hang_ms),
                          "--fd-base", "10", "--timeout",
                          str(args.budget)], env)
    asker = Asker(sock_dir, host.pid) if sock_dir else None
    out, err = host.communicate(timeout=args.budget)
    if asker:
        asker.stop()
    server.finish()
    return (host.returncode, parse(out.decode()),
            err.decode(errors="replace"), host.pid, asker)


def init_order(args, env):
    """The libraries ld.so initialised in the host, in order."""
    proc = harness.spawn([args.host, "1"], dict(env, LD_DEBUG="files"))
    _, err = proc.communicate(timeout=20)
    return [os.path.basename(m) for m in re.findall(
        r"calling init: (\S+)", err.decode(errors="replace"))]


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--host", required=True),
        p.add_argument("--forks", type=int, default=1000),
        p.add_argument("--hang-ms", type=int, default=5000)))
    forks = args.forks
    with harness.temp_dir() as tmp:
        status, plain, err, _, _ = run_host(args, harness.base_env(), 100)
        check(status == 0 and plain.get("exited_ok") == 100,
              f"without the shim the host forks 100 times: {status} "
              f"{plain} {err}")

        sock_dir = os.path.join(tmp, "sock")
        dump = os.path.join(tmp, "dump-%p.json")
        env = harness.shim_env(args, sock_dir, dump, max_messages=2000)
        order = init_order(args, env)
        writer = "libwsdbg-test-atfork-writer.so"
        shim = os.path.basename(args.shim)
        check(writer in order and shim in order
              and order.index(writer) < order.index(shim),
              f"the writer library is initialised before the shim, so "
              f"its fork handlers are registered first: {order}")

        status, got, err, pid, asker = run_host(args, env, forks,
                                                sock_dir)
        hung = got.get("hung")
        figure(f"atfork: children hung of {forks} forks", hung)
        check(hung == 0, f"no child hangs: {hung} of {forks} not finished "
              f"{args.hang_ms} ms after fork\n{err[-2000:]}")
        check(got.get("forks") == forks and got.get("exited_ok") == forks
              and got.get("failed") == 0,
              f"every child exits 0 with its frame written whole: {got}")
        check(got.get("prepare") == forks and got.get("child") == forks,
              f"every frame the handlers wrote comes back: {got}")
        check(status == 0, f"the host exits 0: {status} {err[-2000:]}")
        check(asker.answers > 0 and not asker.errors,
              f"the stats socket answered all along: {asker.answers} "
              f"snapshots, errors {asker.errors[:3]}")
        figure("atfork: snapshots answered during the forks", asker.answers)

        snap = None
        path = os.path.join(tmp, f"dump-{pid}.json")
        if os.path.exists(path):
            snap = harness.load_json(path)
        check(snap is not None, "the host wrote its dump")
        conns = {c["path"]: c for c in snap["connections"]} if snap else {}
        busy, writer_conn = conns.get("/busy"), conns.get("/atfork")
        echoes = got.get("busy_echoes", -1)
        check(busy is not None and busy["sent"]["messages"] == echoes + 1
              and busy["received"]["messages"] == echoes + 1
              and busy["error"] is None,
              f"the busy connection counted exactly through the forks: "
              f"{echoes} echoes + close each way: "
              f"{busy and (busy['sent'], busy['received'], busy['error'])}")
        check(writer_conn is not None
              and writer_conn["error_name"] == "gap"
              and writer_conn["error"].startswith("sent:")
              and writer_conn["sent"]["messages"] == 0,
              f"the prepare handler's frames, inside the shim's fork "
              f"window, are marked unseen, not recorded: "
              f"{writer_conn and (writer_conn['error'], writer_conn['sent'])}")
        check(writer_conn is not None
              and writer_conn["received"]["messages"] == 2 * forks + 1,
              f"the writer's connection received every echo and the close: "
              f"{writer_conn and writer_conn['received']}")
        left = glob.glob(os.path.join(sock_dir, "*.sock"))
        check(left == [], f"no socket file left: {left}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
