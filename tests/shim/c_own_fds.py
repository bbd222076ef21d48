"""A host that goes after the number where the shim keeps its stats
socket (own_fd_host.c, one --case per run): close() and I/O on it, a
close() loop over every number, close_range (0, ~0U included), closefrom
(3), dup2 onto it, and close_range(3, ~0U, CLOSE_RANGE_UNSHARE) from the
only thread. The number is that of the listening socket (bound to
<pid>.sock.new); the same number is then given to the same host without
the shim.

Two ways the shim keeps it, one per run of this scenario:
  - (default) in a descriptor table of the server thread's own: the
    socket is in no table of the host's (/proc/<pid>/fd), only in the
    thread's (/proc/<pid>/task/<tid>/fd), and whatever the host does to
    the number leaves it alone;
  - --shared (the test-only libwsdbg-faulty.so with
    WSDBG_FAULT_SHARED_FDS=1: a kernel that refuses the thread a table of
    its own): in the host's table, moved high and guarded by the hooks
    (own_fds.h); the number is found in /proc/<pid>/fd.

Checks, per case:
  - the host sees exactly what it sees without the shim: every call's
    result and errno, the numbers open() gives after closing everything,
    its output and exit status;
  - the stats socket still answers ("ping", and a snapshot with the
    host's pid) after the host is done with the number;
  - the listening socket is the very one the shim made, at the same
    number, untouched (shared, for dup2: moved, the host's pipe on the
    number); with a private table none of the host's descriptors is on
    it, before or after;
  - with CLOSE_RANGE_UNSHARE the host's descriptors really end (the
    test's end of a pipe the host held sees end of file at once, not when
    the host exits);
  - the socket file is gone once the host has exited.
"""
import os
import subprocess
import sys

import harness
from harness import check

CASES = ["close", "loop", "close_range", "closefrom", "dup2", "unshare"]


def fds_on_socket(pid, inode):
    """pid's descriptor numbers open on socket inode."""
    found = []
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == f"socket:[{inode}]":
                found.append(int(name))
        except OSError:
            pass
    return sorted(found)


def shim_listener(sock_dir, pid):
    """(fd numbers, inode) of the shim's listening socket in pid. It is
    bound as <pid>.sock.new and renamed to <pid>.sock once listening
    (stats_server.h), so the kernel lists it under the first name."""
    inode = harness.socket_inode(harness.socket_path(sock_dir, pid) + ".new")
    return (fds_on_socket(pid, inode) if inode else [], inode)


def private_listener(sock_dir, pid):
    """((tid, fd) pairs outside the host's own table, inode) of the
    shim's listening socket in pid: the descriptors its threads hold in
    tables of their own."""
    inode = harness.socket_inode(harness.socket_path(sock_dir, pid) + ".new")
    if not inode:
        return ([], None)
    host = set(fds_on_socket(pid, inode))
    found = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            fds = fds_on_socket(f"{pid}/task/{tid}", inode)
        except OSError:
            continue
        if int(tid) != pid and not host:
            found += [(int(tid), fd) for fd in fds]
    return (sorted(found), inode)


def read_out(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def run(args, env, tmp, case, target, sock_dir=None):
    """Runs the host once; target(pid) names the number. Returns what the
    host showed and, with the shim, what was seen of the shim."""
    out = os.path.join(tmp, case + ".out")
    go = os.path.join(tmp, case + ".go")
    seen = {}
    # For "unshare": a pipe whose write end only the host holds.
    r_end, w_end = os.pipe()
    os.set_inheritable(w_end, True)
    proc = harness.spawn([args.host, "--case", case, "--out", out,
                          "--go", go], env, stdin=subprocess.PIPE,
                         pass_fds=(w_end,))
    os.close(w_end)
    try:
        ready = proc.stdout.readline()
        n = target(proc.pid)
        seen["target"] = n
        if sock_dir:
            seen["before"] = shim_listener(sock_dir, proc.pid)
            seen["private before"] = private_listener(sock_dir, proc.pid)
        proc.stdin.write(f"{n}\n".encode())
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it
        harness.wait_for(lambda: "WAIT" in read_out(out), 10)
        if case == "unshare":
            os.set_blocking(r_end, False)
            seen["pipe ended"] = harness.wait_for(
                lambda: _ended(r_end), 3)
        if sock_dir:
            seen["after"] = shim_listener(sock_dir, proc.pid)
            seen["private after"] = private_listener(sock_dir, proc.pid)
            try:
                seen["number now"] = os.readlink(f"/proc/{proc.pid}/fd/{n}")
            except OSError:
                seen["number now"] = None
            try:
                seen["ping"] = harness.live_request(sock_dir, proc.pid,
                                                    "ping", raw=True)
                seen["pid"] = harness.live_request(sock_dir, proc.pid,
                                                   "summary")["pid"]
            except OSError as e:
                seen["ping"] = f"{type(e).__name__}: {e}"
        open(go, "w").close()
        rest, err = proc.communicate(timeout=15)
    finally:
        os.close(r_end)
    host = (proc.returncode, ready + rest, err, read_out(out))
    return host, proc.pid, seen


def _ended(fd):
    try:
        return os.read(fd, 1) == b""
    except BlockingIOError:
        return False


def main():
    def extra(p):
        p.add_argument("--host", required=True)
        p.add_argument("--shared", action="store_true",
                       help="the server's descriptors in the host's table "
                       "(libwsdbg-faulty.so, WSDBG_FAULT_SHARED_FDS=1)")
    args = harness.parse_args(extra)
    cases = CASES
    if args.preload_first and "tsan" in os.path.basename(args.preload_first):
        # ThreadSanitizer's runtime starts a thread of its own once the
        # shim's exists, sharing the descriptor table: the host is then
        # not the table's only user, and UNSHARE is passed on as it is.
        print("unshare case skipped under ThreadSanitizer (its own "
              "thread shares the descriptor table)")
        cases = [c for c in CASES if c != "unshare"]
    with harness.temp_dir() as tmp:
        for case in cases:
            sock_dir = os.path.join(tmp, "sock-" + case)
            env = harness.shim_env(args, sock_dir)
            if args.shared:
                env["WSDBG_FAULT_SHARED_FDS"] = "1"
            target = (_first_listener_fd if args.shared
                      else _first_private_fd)
            os.makedirs(os.path.join(tmp, "shim-" + case))
            os.makedirs(os.path.join(tmp, "plain-" + case))
            shim, pid, seen = run(
                args, env, os.path.join(tmp, "shim-" + case), case,
                lambda p: target(sock_dir, p), sock_dir)
            n = seen.get("target")
            plain, _, plain_seen = run(
                args, harness.base_env(), os.path.join(tmp, "plain-" + case),
                case, lambda p: n)
            what = f"{case} on the shim's number {n}"
            check(plain[0] == 0 and "END" in plain[3],
                  f"{what}: without the shim the host runs: {plain}")
            check(shim == plain, f"{what}: the host sees the same with "
                  f"and without the shim:\n{shim}\nvs\n{plain}")
            check(seen.get("ping") == "pong\n",
                  f"{what}: the stats socket answers after: "
                  f"{seen.get('ping')!r}")
            check(seen.get("pid") == pid,
                  f"{what}: the snapshot is the host's: {seen.get('pid')}")
            if not args.shared:
                check_private(what, seen, n)
                continue
            fds, inode = seen.get("before", ([], None))
            check(fds == [n],
                  f"{what}: one descriptor on the listening socket, the "
                  f"number targeted: {fds}")
            after_fds, after_inode = seen.get("after", ([], None))
            if case == "dup2":
                check(after_inode is not None and after_inode != inode
                      and len(after_fds) == 1 and after_fds != fds,
                      f"{what}: the shim's socket moved to another number "
                      f"{after_fds} (inode {after_inode} vs {inode})")
                check(str(seen.get("number now")).startswith("pipe:"),
                      f"{what}: the number is the host's pipe: "
                      f"{seen.get('number now')}")
            else:
                check((after_fds, after_inode) == (fds, inode),
                      f"{what}: the listening socket is untouched: "
                      f"{after_fds} inode {after_inode}, was {fds} "
                      f"inode {inode}")
            if case == "unshare":
                check(plain_seen.get("pipe ended"),
                      f"{what}: without the shim the pipe ends at once")
                check(seen.get("pipe ended"),
                      f"{what}: with the shim the host's descriptors "
                      f"really end")
            check(harness.wait_for(lambda: not os.path.exists(
                harness.socket_path(sock_dir, pid)), 3),
                f"{what}: the socket file is removed at exit")


def check_private(what, seen, n):
    """The checks of a run where the server's table is its own."""
    before, inode = seen.get("private before", ([], None))
    after, after_inode = seen.get("private after", ([], None))
    check(seen.get("before", ([], None))[0] == []
          and seen.get("after", ([], None))[0] == [],
          f"{what}: none of the host's descriptors is on the shim's "
          f"socket: {seen.get('before')} {seen.get('after')}")
    check(len(before) == 1 and inode is not None,
          f"{what}: one descriptor on the listening socket, in the "
          f"server thread's own table: {before}")
    check((after, after_inode) == (before, inode),
          f"{what}: the listening socket is untouched: {after} inode "
          f"{after_inode}, was {before} inode {inode}")
    if "pipe ended" in seen:
        check(seen["pipe ended"], f"{what}: with the shim the host's "
              f"descriptors really end")


def _first_private_fd(sock_dir, pid):
    """With the shim's socket in its thread's own table, no number of the
    host's is the shim's: the number to go after is one the host has not
    opened, up where a shared table would put the shim's (clear of the
    numbers the cases' own pipes take), once the socket is up (-1: no
    socket)."""
    found = harness.wait_for(lambda: private_listener(sock_dir, pid)[0], 3)
    if not found:
        return -1
    opened = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
    return min(n for n in range(1000, 1 << 16) if n not in opened)


def _first_listener_fd(sock_dir, pid):
    """The number of the shim's listening socket in pid (-1: none)."""
    fds = harness.wait_for(lambda: shim_listener(sock_dir, pid)[0], 3)
    return fds[0] if fds else -1


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
