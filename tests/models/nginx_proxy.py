"""nginx (Debian's, master_process on, one worker, nginx.conf.in) proxying
WebSockets to the project's C echo server, nginx under the shim. A
connection held open through nginx (a client written in harness.py), then
a ws-client session through it; then nginx is stopped (SIGQUIT, graceful).
The same run without the shim first. Checks:
  - host behaviour unchanged: nginx's exit status and stderr, the
    clients' output and status, identical with and without the shim;
    nginx's error log has no alert, critical or emergency line;
  - live, while the first connection is held: the worker's snapshot
    shows it twice: role server (client -> nginx, nginx's port) and role
    client (nginx -> upstream, the upstream's port), same path and query,
    both open, one message each way each; the master lists none;
  - the dumps at exit: the master's has no connection; the worker's has
    both connections twice, the session in both roles with every message
    and counter exact (the client role sees the same frames with
    directions swapped), closes as sent.
Skipped (exit 77) when nginx is not installed: Debian package nginx-light
(or nginx).
"""
import glob
import os
import shutil
import signal
import socket
import sys

import modelkit
from modelkit import check, figure, harness

HERE = os.path.dirname(os.path.abspath(__file__))
SESSION = ["text:through nginx", "binary:700", "ping:proxied-ping",
           "frag:2:two pieces", "textn:3000", "close:4005:via proxy"]


def free_port():
    """A loopback port free now (the kernel's pick, in its high range)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(nginx, env, prefix, upstream):
    port = free_port()
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(prefix, sub), exist_ok=True)
    with open(os.path.join(HERE, "nginx.conf.in")) as f:
        conf = (f.read().replace("@DIR@", prefix)
                .replace("@PORT@", str(port))
                .replace("@UPSTREAM@", str(upstream)))
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(conf)
    proc = harness.spawn([nginx, "-p", prefix, "-c",
                          os.path.join(prefix, "nginx.conf"), "-e",
                          os.path.join(prefix, "error.log")], env)

    def accepting():
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return proc.poll() is not None

    harness.wait_for(accepting, 10)
    return proc, port


def run(args, env, prefix, sock_dir=None):
    """One run through nginx. Returns what the host programs did, nginx's
    pid and error log, and the worker's pid and live snapshots."""
    os.makedirs(prefix)
    plain = harness.base_env()
    upstream = harness.echo_server(args, plain, "--threads", "--connections",
                                   "2", "--timeout", "30")
    nginx, port = start_nginx(args.nginx, env, prefix, upstream.port)
    held = harness.RawClient(port, "/held?h=1")
    echo = held.echo("held through nginx")
    live = {}
    workers = harness.wait_for(lambda: modelkit.children_of(nginx.pid), 5)
    if sock_dir:
        live["master"] = harness.live_request(sock_dir, nginx.pid)
        for pid in workers:
            live[pid] = harness.live_until(
                sock_dir, pid, lambda s: len(s["connections"]) == 2 and all(
                    c["received"]["messages"] == 1
                    and c["sent"]["messages"] == 1
                    for c in s["connections"]))
    close = held.close_handshake(1000, "held done")
    session = harness.run_client(args, plain, port, SESSION,
                                 ["--path", "/session?s=1"])
    upstream.finish()
    nginx.send_signal(signal.SIGQUIT)
    out, err = nginx.communicate(timeout=20)
    with open(os.path.join(prefix, "error.log")) as f:
        log = f.read()
    host = {"held": (echo, close), "session": session,
            "nginx": (nginx.returncode, out, err),
            "upstream": modelkit.host_view(upstream)}
    return host, nginx.pid, log, workers, live


def check_pair(snap, query, what):
    """The two legs of one proxied connection in the worker's snapshot:
    (server-role, client-role), or None when not both there."""
    legs = {c["role"]: c for c in snap["connections"]
            if c["query"] == query}
    check(set(legs) == {"server", "client"},
          f"{what}: {query} seen in both roles: {sorted(legs)}")
    return (legs["server"], legs["client"]) if len(legs) == 2 else None


def main():
    args = harness.parse_args(lambda p: p.add_argument("--nginx"))
    nginx = args.nginx or shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        print("SKIP: nginx is not installed (Debian package nginx-light)")
        sys.exit(77)
    args.nginx = nginx
    with harness.temp_dir() as tmp:
        plain, _, plain_log, plain_workers, _ = run(
            args, harness.base_env(), os.path.join(tmp, "plain"))
        check(plain["nginx"][0] == 0 and plain["session"][0] == 0,
              f"without the shim nginx proxies and exits 0: {plain} "
              f"{plain_log[-1000:]}")
        check(len(plain_workers) == 1, f"one worker: {plain_workers}")
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        host, master, log, workers, live = run(
            args, env, os.path.join(tmp, "shim"), sock_dir)
        for name in plain:
            check(host[name] == plain[name],
                  f"{name}: identical under the shim: {host[name]} vs "
                  f"{plain[name]}")
        bad = [line for line in log.splitlines()
               if any(f"[{lv}]" in line for lv in ("alert", "crit", "emerg"))]
        check(bad == [], f"nginx error log clean under the shim: {bad}")

        check(len(workers) == 1, f"one worker: {workers}")
        m = live.get("master")
        check(m is not None and m["pid"] == master
              and m["connections"] == [],
              f"master answers live and lists no connection: "
              f"{m and m['connections']}")
        worker = workers[0] if workers else None
        snap = live.get(worker)
        check(snap is not None and snap["pid"] == worker,
              f"worker {worker} answers live")
        pair = check_pair(snap, "h=1", "live") if snap else None
        if pair:
            srv, cli = pair
            check(srv["state"] == cli["state"] == "open",
                  f"live: both legs open: {srv['state']} {cli['state']}")
            check(srv["path"] == cli["path"] == "/held",
                  f"live: same path: {srv['path']} {cli['path']}")
            local_port = srv["local"].rsplit(":", 1)[1]
            check(local_port != cli["peer"].rsplit(":", 1)[1],
                  f"live: server leg on nginx's port {srv['local']}, "
                  f"client leg to the upstream {cli['peer']}")
            texts = [(x["dir"], x.get("text")) for x in srv["messages"]]
            check(texts == [("received", "held through nginx"),
                            ("sent", "held through nginx")],
                  f"live: server leg messages {texts}")
            texts = [(x["dir"], x.get("text")) for x in cli["messages"]]
            check(texts == [("sent", "held through nginx"),
                            ("received", "held through nginx")],
                  f"live: client leg messages {texts}")

        dumps = {int(os.path.basename(p)[5:-5]): harness.load_json(p)
                 for p in glob.glob(os.path.join(tmp, "dump-*.json"))}
        snap = dumps.get(master)
        check(snap is not None and snap["connections"] == [],
              "master's dump has no connection")
        snap = dumps.get(worker)
        check(snap is not None, f"worker's dump written: {sorted(dumps)}")
        if snap:
            t = snap["totals"]
            check((t["connections"], t["active"]) == (4, 0),
                  f"worker: 2 connections x 2 legs, none open: {t}")
            pair = check_pair(snap, "s=1", "dump")
            if pair:
                srv, cli = pair
                for leg, role in ((srv, "server"), (cli, "client")):
                    what = f"dump {role} leg"
                    check(leg["state"] == "closed" and leg["error"] is None,
                          f"{what}: closed, no error")
                    check(leg["close"]["code"] == 4005
                          and leg["close"]["reason"] == "via proxy",
                          f"{what}: close {leg['close']}")
                    harness.check_session(leg, SESSION, role, what)
            pair = check_pair(snap, "h=1", "dump")
            if pair:
                for leg in pair:
                    check(leg["close"]["code"] == 1000
                          and (leg["sent"]["messages"],
                               leg["received"]["messages"]) == (2, 2),
                          f"dump held {leg['role']} leg: {leg['close']}")
        left = glob.glob(os.path.join(sock_dir, "*.sock"))
        check(left == [], f"socket files removed at exit: {left}")
        figure("nginx: worker snapshot legs per proxied connection",
               "2 (server + client role)")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
