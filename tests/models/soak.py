"""Soak: connections opening and closing without pause for --seconds
(ws-load-client --duration: rounds of 20 connections at once, 30
messages each, closed; the next round at once) through the C echo server
(a thread per connection) under the shim, default limits (50 connections
kept, so closed ones are evicted all the time). Every 0.5 s the server's
RSS and the registry's memory_used are sampled (a "summary" request).
With --checker valgrind the server runs under valgrind's memcheck, with
--checker lsan under LeakSanitizer (a sanitizer build: ASan's runtime is
preloaded first); both report at the server's exit. Checks:
  - the client's every echo matched; the server exits 0 (the checker
    found no error) - and the dump's totals count exactly the
    connections and messages the client made;
  - memory_used never exceeds max_memory; RSS is flat: its peak in the
    second half of the run is within 2 MiB (4 MiB under ASan) of its peak
    in the first half (skipped under valgrind, whose own memory use is
    what RSS shows);
  - valgrind: no byte definitely or indirectly lost, no error;
    lsan: no leak report.
Prints the samples and the figures. tools' soak.sh runs it for 30 s.
"""
import os
import re
import shutil
import sys
import time

import modelkit
from modelkit import check, figure, harness

ROUND_CONNS = 20
MESSAGES = 30
SIZE = 64
RSS_SLACK_KIB = 2048
# Under ASan the allocator's per-thread caches and size classes add their
# own noise (2.7 MiB seen between halves of a clean run).
RSS_SLACK_KIB_LSAN = 4096


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--load-client", required=True),
        p.add_argument("--seconds", type=int, default=6),
        p.add_argument("--checker", default="none",
                       choices=["none", "valgrind", "lsan"])))
    with harness.temp_dir() as tmp:
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir,
                               os.path.join(tmp, "dump-%p.json"))
        argv = [args.server, "--threads", "--timeout",
                str(args.seconds + (12 if args.checker == "valgrind" else 4))]
        vg_log = os.path.join(tmp, "valgrind.log")
        if args.checker == "valgrind":
            valgrind = shutil.which("valgrind")
            if not valgrind:
                print("SKIP: valgrind is not installed (Debian package "
                      "valgrind)")
                sys.exit(77)
            argv = [valgrind, "--tool=memcheck", "--leak-check=full",
                    "--show-leak-kinds=definite,indirect",
                    "--errors-for-leak-kinds=definite,indirect",
                    "--error-exitcode=99", f"--log-file={vg_log}"] + argv
        elif args.checker == "lsan":
            check(args.preload_first is not None,
                  "lsan needs the sanitizer build (--preload-first)")
            # ASan's quarantine of freed blocks (256 MiB by default) would
            # show as RSS growth that is not wsdbg's: keep it small.
            env["ASAN_OPTIONS"] = ("detect_leaks=1:exitcode=23:"
                                   "quarantine_size_mb=1")
        server = harness.Server(argv, env)
        sampler = modelkit.Sampler(sock_dir, server.pid, 0.5)
        start = time.monotonic()
        proc = harness.spawn([args.load_client, "--connections",
                              str(ROUND_CONNS), "--messages", str(MESSAGES),
                              "--size", str(SIZE), "--window", "4",
                              "--duration", str(args.seconds), "--timeout",
                              str(args.seconds + 30), str(server.port)],
                             harness.base_env())
        out, err = proc.communicate(timeout=args.seconds + 40)
        seconds = time.monotonic() - start
        time.sleep(1)  # a last sample, all closed
        sampler.stop()
        server.finish(timeout=args.seconds + 60)
        out = out.decode()
        m = re.search(r"connections (\d+), messages sent (\d+), echoes "
                      r"matched (\d+), closes matched (\d+)", out)
        check(proc.returncode == 0 and m and m[2] == m[3]
              and m[1] == m[4],
              f"client: every echo and close matched: {out!r} {err!r}")
        check(server.returncode == 0,
              f"server exit 0 ({args.checker}): {server.returncode} "
              f"{server.err[-3000:]}")
        if args.checker == "lsan":
            check("LeakSanitizer" not in server.err,
                  f"no leak reported: {server.err[-3000:]}")
        if args.checker == "valgrind":
            with open(vg_log) as f:
                log = f.read()
            for kind in ("definitely lost", "indirectly lost"):
                lost = re.search(kind + r": ([\d,]+) bytes", log)
                check(lost is None or lost[1] == "0",
                      f"valgrind: {kind}: {lost and lost[1]} bytes")
            errs = re.search(r"ERROR SUMMARY: (\d+) errors", log)
            check(errs and errs[1] == "0",
                  f"valgrind: error summary {errs and errs[0]}\n{log[-3000:]}")
            figure("soak under valgrind: definitely / indirectly lost",
                   "0 / 0 bytes" if errs and errs[1] == "0" else "see log")

        snap = harness.load_json(os.path.join(tmp, f"dump-{server.pid}.json"))
        t = snap["totals"]
        if m:
            conns = int(m[1])
            msgs = conns * (MESSAGES + 1)
            check((t["connections"], t["messages_received"],
                   t["messages_sent"], t["active"])
                  == (conns, msgs, msgs, 0),
                  f"dump totals exact: {conns} connections, {msgs} "
                  f"messages each way: {t}")
        samples = sampler.samples
        check(len(samples) >= args.seconds, f"samples taken: {len(samples)}")
        check(all(s[1]["memory_used"] <= s[2]["max_memory"]
                  for s in samples), "memory_used within max_memory")
        print("   t(s)  connections  messages_in  memory_used  rss_kib")
        for s in samples:
            print(f"{s[0]:7.1f}  {s[1]['connections']:11}  "
                  f"{s[1]['messages_received']:11}  "
                  f"{s[1]['memory_used']:11}  {s[3]}")
        half = len(samples) // 2
        first = max((s[3] or 0 for s in samples[:half]), default=0)
        second = max((s[3] or 0 for s in samples[half:]), default=0)
        if args.checker != "valgrind":
            slack = (RSS_SLACK_KIB_LSAN if args.checker == "lsan"
                     else RSS_SLACK_KIB)
            check(second <= first + slack,
                  f"RSS flat: peak {first} KiB in the first half, "
                  f"{second} KiB in the second")
        figure(f"soak ({args.checker}) seconds", f"{seconds:.1f}")
        figure(f"soak ({args.checker}) connections opened and closed",
               t["connections"])
        figure(f"soak ({args.checker}) messages each way",
               t["messages_received"])
        figure(f"soak ({args.checker}) RSS KiB peak first / second half",
               f"{first} / {second}")
        figure(f"soak ({args.checker}) peak memory_used / cap",
               f"{sampler.max_memory_used()} / "
               f"{samples[0][2]['max_memory'] if samples else '?'}")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
