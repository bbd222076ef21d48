"""The project's C echo server and client, both under the shim, with one
pair of I/O calls (--io read|recv|readv|recvmsg|recvfrom, meaning
read/write, recv/send, readv/writev, recvmsg/sendmsg, recvfrom/sendto on
both sides). With --fortified the peers are the -D_FORTIFY_SOURCE=2
builds (tests/peers/meson.build), and the scenario first checks that both
import the C library's __read_chk, __recv_chk and __recvfrom_chk (so the
reads go through those entry points, which the shim must hook too).

Two connections: a step-by-step session (text, binary with a 16-bit
length, ping, a text in 3 fragments, a 70000-byte text with a 64-bit
length, an empty binary, close 4001), then a pipelined one whose client
writes every byte with its own call. Checks:
  - host behaviour unchanged: the clients' output and every exit status,
    and the server's output, are byte-identical to a run without the shim;
  - the server's live socket, between the connections, shows the first
    one closed with every message;
  - the server's WSDBG_DUMP: both connections, every message both ways in
    order with type, size, frames, text and truncation; counters (messages,
    bytes, frames, wire bytes) exact; path, query, addresses, close code,
    reason and who closed; state closed; totals;
  - each client's WSDBG_DUMP: the same session from the client role, with
    the ping's round trip measured;
  - every socket file is gone after exit.
"""
import glob
import os
import subprocess
import sys

import harness
from harness import check

# Two texts that are not UTF-8 (a byte 0xff; a long one whose last
# character is cut), echoed as they came: flagged each way.
MAIN = ["text:hello wsdbg", "binary:300", "ping:probe-1",
        "frag:3:part one, part two", "textn:70000", "binary:0",
        "text:grüße, 世界", "texthex:6f6bff6f6b",
        "texthex:" + "e282ac" * 100 + "c3", "close:4001:done here"]
SECOND = ["text:pipelined one", "ping:p", "binary:130", "frag:2:ab",
          "close:1000:bye"]


def run(args, shim, tmp):
    """One run of both connections, with or without the shim. Returns
    what the host programs did, the server's pid and a live snapshot taken
    between the connections."""
    sock_dir = os.path.join(tmp, "sock")
    io = ["--io", args.io]
    if shim:
        server_env = harness.shim_env(
            args, sock_dir, os.path.join(tmp, "server-%p.json"))
        client_env = harness.shim_env(
            args, sock_dir, os.path.join(tmp, "client-%p.json"))
    else:
        server_env = client_env = harness.base_env()
    server = harness.echo_server(args, server_env, "--connections", "2",
                                 "--timeout", "20", *io)
    first = harness.run_client(args, client_env, server.port, MAIN,
                               io + ["--path", "/echo?room=7"])
    live = pong = None
    if shim:
        pong = harness.live_request(sock_dir, server.pid, "ping", raw=True)
        # The client may exit before the server's shim has recorded the
        # end (it records after the real call returns): wait for it.
        live = harness.live_until(
            sock_dir, server.pid, lambda s: s["connections"] and
            s["connections"][0]["state"] == "closed")
    second = harness.run_client(args, client_env, server.port, SECOND,
                                io + ["--pipeline", "--bytewise"])
    server.finish()
    host = {"first client": first, "second client": second,
            "server": (server.returncode, server.out, server.err)}
    return host, server, live, pong


def check_server_conn(c, steps, port, what, path, query, close,
                      strict_order=True):
    check(c["role"] == "server", f"{what}: role server")
    check(c["state"] == "closed", f"{what}: state closed: {c['state']}")
    check(c["path"] == path and c["query"] == query,
          f"{what}: path and query {c['path']!r} {c['query']!r}")
    check(c["local"] == f"127.0.0.1:{port}", f"{what}: local {c['local']}")
    check(c["peer"].startswith("127.0.0.1:") and c["peer"] != c["local"],
          f"{what}: peer {c['peer']}")
    check(c["headers"].get("user-agent") == "wsdbg-test-peer",
          f"{what}: request headers kept")
    check(c["close"] == close, f"{what}: close {c['close']} == {close}")
    check(c["closed_at"] is not None and c["closed_at"] >= c["opened_at"],
          f"{what}: closed_at set")
    check(c["error"] is None, f"{what}: no decoding error: {c['error']}")
    check(c["messages_dropped"] == 0, f"{what}: nothing dropped")
    harness.check_session(c, steps, "server", what,
                          strict_order=strict_order)


FORTIFIED_READS = {"__read_chk", "__recv_chk", "__recvfrom_chk"}


def imported_symbols(path):
    """The dynamic symbols an executable imports, without versions."""
    out = subprocess.run(["nm", "-D", "--undefined-only", path],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-1].split("@")[0] for line in out.splitlines()
            if line.strip()}


def extra(p):
    p.add_argument("--io", required=True,
                   choices=["read", "recv", "readv", "recvmsg", "recvfrom"])
    p.add_argument("--fortified", action="store_true")


def main():
    args = harness.parse_args(extra)
    if args.fortified:
        for exe in (args.server, args.client):
            got = imported_symbols(exe) & FORTIFIED_READS
            check(got == FORTIFIED_READS,
                  f"{os.path.basename(exe)} imports the fortified reads: "
                  f"{sorted(got)}")
    close_main = {"code": 4001, "reason": "done here", "by": "client"}
    close_second = {"code": 1000, "reason": "bye", "by": "client"}
    with harness.temp_dir() as plain_tmp, harness.temp_dir() as tmp:
        plain, _, _, _ = run(args, False, plain_tmp)
        traced, server, live, pong = run(args, True, tmp)

        for name in plain:
            check(plain[name][0] == 0,
                  f"without the shim, {name} exits 0: {plain[name]}")
            check(traced[name] == plain[name],
                  f"{name}: status and output byte-identical under the "
                  f"shim:\n{traced[name]}\nvs\n{plain[name]}")

        check(pong == "pong\n", f"live socket answers ping: {pong!r}")
        check(live is not None, "live snapshot while the server runs")
        if live:
            check(live["pid"] == server.pid, "live snapshot pid")
            conns = live["connections"]
            check(len(conns) == 1, f"live: one connection: {len(conns)}")
            if conns:
                check_server_conn(conns[0], MAIN, server.port,
                                  "live first connection", "/echo",
                                  "room=7", close_main)

        dump_path = os.path.join(tmp, f"server-{server.pid}.json")
        check(os.path.exists(dump_path), "server dump written at exit")
        if os.path.exists(dump_path):
            snap = harness.load_json(dump_path)
            check(snap["wsdbg"] == 1 and snap["pid"] == server.pid,
                  "server dump: schema 1, pid")
            check(snap["process"] == os.path.basename(args.server),
                  f"server dump: process {snap['process']}")
            conns = sorted(snap["connections"], key=lambda c: c["opened_at"])
            check(len(conns) == 2, f"server dump: two connections: "
                  f"{len(conns)}")
            if len(conns) == 2:
                check_server_conn(conns[0], MAIN, server.port,
                                  "dump first connection", "/echo",
                                  "room=7", close_main)
                check_server_conn(conns[1], SECOND, server.port,
                                  "dump pipelined connection", "/echo",
                                  None, close_second, strict_order=False)
            t = snap["totals"]
            main_msgs, _ = harness.expected_session(MAIN)
            second_msgs, _ = harness.expected_session(SECOND)
            n_recv = sum(1 for m in main_msgs + second_msgs
                         if m[0] == "received")
            check((t["connections"], t["active"], t["closed"]) == (2, 0, 2),
                  f"server totals: connections/active/closed {t}")
            check(t["messages_received"] == n_recv
                  and t["messages_sent"] == n_recv,
                  f"server totals: {n_recv} messages each way")

        client_dumps = sorted(glob.glob(os.path.join(tmp, "client-*.json")))
        check(len(client_dumps) == 2,
              f"each client wrote its dump: {client_dumps}")
        by_steps = {}
        for path in client_dumps:
            snap = harness.load_json(path)
            check(path.endswith(f"-{snap['pid']}.json"),
                  f"client dump %p is its pid: {path}")
            conns = snap["connections"]
            check(len(conns) == 1, f"client dump {path}: one connection")
            if len(conns) == 1:
                c = conns[0]
                steps = MAIN if c["query"] == "room=7" else SECOND
                by_steps[id(steps)] = True
                name = "first" if steps is MAIN else "pipelined"
                what = f"client view of {name}"
                check(c["role"] == "client", f"{what}: role client")
                check(c["state"] == "closed", f"{what}: state closed")
                check(c["peer"] == f"127.0.0.1:{server.port}",
                      f"{what}: peer is the server")
                close = close_main if steps is MAIN else close_second
                check(c["close"] == close, f"{what}: close {c['close']}")
                check(c["rtt_ms"] is not None
                      and c["rtt_ms"]["samples"] == 1
                      and 0 <= c["rtt_ms"]["last"] < 5000,
                      f"{what}: ping round trip measured: {c['rtt_ms']}")
                harness.check_session(c, steps, "client", what,
                                      strict_order=steps is MAIN)
        check(len(by_steps) == 2, "one client dump per session")

        left = glob.glob(os.path.join(tmp, "sock", "*.sock"))
        check(left == [], f"socket files removed at exit: {left}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
