"""The shim preloaded after another preloaded library (--before LIB:
AddressSanitizer's runtime with an uninstrumented host, or Debian's
jemalloc), LD_PRELOAD="LIB libwsdbg.so", into the project's C echo server
(a thread per connection) and client. The same run with LIB alone
first. Checks:
  - host behaviour unchanged: server and clients' output and status
    identical with LIB alone and with LIB then the shim;
  - LIB really is loaded in the server (its /proc/<pid>/maps), and so is
    the shim;
  - the server's dump: both sessions, every message and counter exact,
    closes as sent; each client's dump: its session in the client role.
Skipped (exit 77) when LIB is not installed (jemalloc: Debian package
libjemalloc2).
"""
import glob
import os
import sys

import modelkit
from modelkit import check, figure, harness

FIRST = ["text:after another preload", "binary:4000", "ping:pp",
         "frag:4:four little parts", "textn:20000",
         "close:4007:preload done"]
SECOND = ["text:second", "binary:0", "close:1000:bye"]


def run(args, preload, tmp=None):
    env = harness.base_env()
    env["LD_PRELOAD"] = preload
    if tmp:
        env["WSDBG_DIR"] = os.path.join(tmp, "sock")
    server_env = dict(env)
    client_env = dict(env)
    if tmp:
        server_env["WSDBG_DUMP"] = os.path.join(tmp, "server-%p.json")
        client_env["WSDBG_DUMP"] = os.path.join(tmp, "client-%p.json")
    server = harness.echo_server(args, server_env, "--threads",
                                 "--connections", "2", "--timeout", "30")
    mapped = {name: modelkit.maps_contain(server.pid, name)
              for name in (os.path.basename(args.before), "libwsdbg")}
    first = harness.run_client(args, client_env, server.port, FIRST,
                               ["--path", "/pre?n=1"])
    second = harness.run_client(args, client_env, server.port, SECOND,
                                ["--path", "/pre?n=2", "--pipeline"])
    server.finish()
    return server, {"first": first, "second": second}, mapped


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--before", required=True))
    if not os.path.exists(args.before):
        print(f"SKIP: {args.before} is not installed")
        sys.exit(77)
    lib = os.path.basename(args.before)
    with harness.temp_dir() as tmp:
        # A sanitizer build's runtime (preload_first) stays first.
        alone = " ".join(dict.fromkeys(
            ([args.preload_first] if args.preload_first else [])
            + [args.before]))
        plain_server, plain, plain_mapped = run(args, alone)
        check(plain_server.returncode == 0 and plain_mapped[lib],
              f"with {lib} alone the session runs: "
              f"{modelkit.host_view(plain_server)} {plain}")
        server, result, mapped = run(args, modelkit.shim_preload(
            args, args.before), tmp)
        check(result == plain, f"clients identical: {result} vs {plain}")
        check(modelkit.host_view(server) == modelkit.host_view(plain_server),
              f"server identical: {modelkit.host_view(server)}")
        check(mapped == {lib: True, "libwsdbg": True},
              f"both {lib} and the shim loaded in the server: {mapped}")

        snap = harness.load_json(os.path.join(tmp,
                                              f"server-{server.pid}.json"))
        conns = sorted(snap["connections"], key=lambda c: c["query"])
        check([c["query"] for c in conns] == ["n=1", "n=2"],
              f"server: both connections: {[c['query'] for c in conns]}")
        if len(conns) == 2:
            check(conns[0]["close"] == {"code": 4007,
                                        "reason": "preload done",
                                        "by": "client"}, "server: close")
            harness.check_session(conns[0], FIRST, "server", "server n=1")
            harness.check_session(conns[1], SECOND, "server", "server n=2",
                                  strict_order=False)
        clients = [harness.load_json(p)
                   for p in glob.glob(os.path.join(tmp, "client-*.json"))]
        check(len(clients) == 2, f"each client wrote its dump: "
              f"{len(clients)}")
        for snap in clients:
            c = snap["connections"][0] if snap["connections"] else None
            if c is None:
                check(False, "client dump lists its connection")
                continue
            steps = FIRST if c["query"] == "n=1" else SECOND
            harness.check_session(c, steps, "client",
                                  f"client {c['query']}",
                                  strict_order=steps is FIRST)
        figure(f"preload: shim after {lib}", "sessions exact")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
