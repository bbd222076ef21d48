"""A server under RLIMIT_AS (rlimit_as_host.c, 200 MiB) that allocates
1 MiB blocks until malloc fails: how much of its address space the shim
leaves it. Three runs, each a fresh host that listens (so the stats
thread exists) and then allocates:
  - without the shim;
  - with the shim, before any query;
  - with the shim, after 3 snapshot queries (what `wsdbg dump` asks).

Checks: each run allocates to the end and exits 0; with the shim, before
any query and after the queries alike, the host reaches at least (without
the shim - 16 MiB). The stats thread calls neither malloc nor free
(src/shim/stats_mem.h): glibc would give it an arena of its own the first
time, reserving 64 MiB of address space (HEAP_MAX_SIZE on 64-bit), which
RLIMIT_AS counts; a shim that did reached 65 MiB less after a query.

Skipped (77) in sanitizer builds: AddressSanitizer and ThreadSanitizer
reserve terabytes of shadow address space at start, so a host under an
address-space limit of 200 MiB has none left to allocate from.
"""
import os
import subprocess
import sys

import modelkit  # noqa: F401  (puts tests/shim on the path)
from modelkit import check, figure, harness

LIMIT_MIB = 200
MARGIN_MIB = 16
QUERIES = 3


def run(args, env, sock_dir=None, queries=0):
    """One host: returns (MiB reached, VmSize kB before allocating,
    status, output)."""
    host = harness.spawn([args.host, "--as-mib", str(LIMIT_MIB)], env,
                         stdin=subprocess.PIPE)
    out = host.stdout.readline().decode(errors="replace")
    answered = 0
    for _ in range(queries if out.startswith("PORT ") else 0):
        snap = harness.live_request(sock_dir, host.pid, "snapshot")
        answered += snap is not None and snap.get("pid") == host.pid
    check(answered == queries,
          f"{queries} snapshots answered before allocating: {answered}")
    host.stdin.write(b"alloc\n")
    host.stdin.flush()
    line = host.stdout.readline().decode(errors="replace")
    host.stdin.close()
    out += line + host.stdout.read().decode(errors="replace")
    err = host.stderr.read().decode(errors="replace")
    host.wait(timeout=20)
    reached = before = None
    words = line.replace(",", "").split()
    if words[:1] == ["reached"]:
        reached, before = int(words[1]), int(words[5])
    check(host.returncode == 0 and reached is not None,
          f"the host allocated to the end and exited 0: "
          f"{host.returncode} {out!r} {err!r}")
    return reached, before


def main():
    args = harness.parse_args(
        lambda p: p.add_argument("--host", required=True))
    if args.preload_first:
        runtime = os.path.basename(args.preload_first)
        print(f"SKIP: a sanitizer build ({runtime}): its shadow memory "
              f"takes the address space RLIMIT_AS limits")
        sys.exit(77)
    with harness.temp_dir() as tmp:
        plain, plain_vm = run(args, harness.base_env())
        sock_dir = os.path.join(tmp, "sock")
        env = harness.shim_env(args, sock_dir)
        shim, shim_vm = run(args, env, sock_dir)
        queried, queried_vm = run(args, env, sock_dir, QUERIES)
        for what, mib, vm in (("without the shim", plain, plain_vm),
                              ("with the shim, before any query", shim,
                               shim_vm),
                              (f"with the shim, after {QUERIES} snapshot "
                               f"queries", queried, queried_vm)):
            figure(f"RLIMIT_AS {LIMIT_MIB} MiB, {what}",
                   f"{mib} MiB allocated (VmSize {vm} kB before)")
        if None in (plain, shim):
            return
        check(shim >= plain - MARGIN_MIB,
              f"with the shim, before any query, the host reaches within "
              f"{MARGIN_MIB} MiB of what it reaches without: {shim} vs "
              f"{plain} MiB")
        check(queried is not None and queried >= plain - MARGIN_MIB,
              f"with the shim, after {QUERIES} snapshot queries, the host "
              f"reaches within {MARGIN_MIB} MiB of what it reaches "
              f"without: {queried} vs {plain} MiB")


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
