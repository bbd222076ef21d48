"""Security end to end, one case per run (--case), each with a preloaded
host (the project's ws-echo-server, or raw-host) that must behave exactly
as without the shim:

  dir-other-owner      WSDBG_DIR exists, owned by another uid (nobody);
  dir-symlink          WSDBG_DIR is a symlink to a safe directory of ours;
  dir-world-writable   WSDBG_DIR has mode 0777;
  dir-group-writable   WSDBG_DIR has mode 0770;
  sock-regular-file    $WSDBG_DIR/<pid>.sock is a regular file;
  sock-other-socket    ... is a socket bound by another uid;
  sock-symlink         ... is a symlink to a file elsewhere;
  default-dir-squatted a host running as nobody without WSDBG_DIR finds
                       its default directory ($XDG_RUNTIME_DIR/wsdbg)
                       made by root first;
     each refused with exactly one stderr line naming the path and the
     reason, nothing created or removed, the host's session identical;
  peer-other-uid       a request from another uid (nobody) over the live
                       socket gets no byte; root's is answered; the
                       directory the shim made is 0700 and the socket 0600;
  metadata             WSDBG_CAPTURE=metadata: sizes, types, frames and
                       times kept, no payload (text, hex, ping data, close
                       reason) anywhere in the live snapshot or the dump;
  credentials-server   Cookie (twice), Authorization, Proxy-Authorization
                       (one folded over two lines), X-Api-Key and an
                       access_token in the query in a request to a
                       preloaded server: redacted, no secret anywhere in
                       the live snapshot or the dump;
  credentials-client   a preloaded client sends them and the answer sets
                       a cookie (Set-Cookie): no secret anywhere;
  dump-private         the WSDBG_DUMP file holds message content: mode
                       0600, and a symlink planted at its path by another
                       user is not followed.
"""
import os
import socket
import stat
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "shim"))
import harness  # noqa: E402
from harness import check  # noqa: E402

import frames as F  # noqa: E402

NOBODY = 65534
SESSION = ["text:first", "binary:10", "ping:p", "frag:2:two parts",
           "close:1001:going away"]
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
             "--clear-groups"]

# Started by /bin/sh without the shim: prints its pid, waits for a line
# on stdin (the test prepares <pid>.sock meanwhile), then becomes the
# host with the shim preloaded (exec keeps the pid).
WRAPPER = 'echo $$; read go; exec env LD_PRELOAD="$WSDBG_TEST_PRELOAD" "$@"'


def preload_of(args):
    return (args.preload_first + " " if args.preload_first else "") \
        + args.shim


def start_server(argv, env, prepare=None):
    """Starts a host that prints "PORT <n>" first. With prepare, the host
    goes through WRAPPER and prepare(pid) runs before its first
    instruction; env's LD_PRELOAD is applied only then."""
    if prepare is None:
        return harness.Server(argv, env)
    env = dict(env)
    env["WSDBG_TEST_PRELOAD"] = env.pop("LD_PRELOAD", "")
    proc = harness.spawn(["/bin/sh", "-c", WRAPPER, "sh"] + argv, env,
                         stdin=subprocess.PIPE)
    pid = int(proc.stdout.readline())
    prepare(pid)
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    proc.stdin = None
    server = harness.Server.__new__(harness.Server)
    server.proc, server.pid = proc, pid
    line = proc.stdout.readline().decode(errors="replace")
    if not line.startswith("PORT "):
        raise RuntimeError(f"server did not start: {line!r} "
                           f"{proc.stderr.read()!r}")
    server.port = int(line.split()[1])
    server.out = server.err = server.returncode = None
    return server


def echo_session(args, env, prefix=(), prepare=None):
    """ws-echo-server (one connection) and a ws-client SESSION; returns
    (server, client result). With a prefix (setpriv) the shim is preloaded
    only into the host, through env(1) after the prefix."""
    argv = [args.server, "--connections", "1", "--timeout", "20"]
    if prefix and env.get("LD_PRELOAD"):
        env = dict(env)
        argv = ["env", "LD_PRELOAD=" + env.pop("LD_PRELOAD")] + argv
    server = start_server(list(prefix) + argv, env, prepare)
    result = harness.run_client(args, harness.base_env(), server.port,
                                SESSION)
    server.finish()
    return server, result


def listing(path):
    """What a refusal must leave alone: the entries under path."""
    if not os.path.isdir(path):
        return None
    return sorted(os.listdir(path))


def refused(args, tmp, sock_dir, reason, prepare_dir=None,
            prepare_sock=None, prefix=(), env_extra=None, shown_dir=None,
            watch=None):
    """Runs the echo session without the shim, then with it against an
    unsafe socket directory or socket path; checks the refusal."""
    _, want = echo_session(args, harness.base_env(), prefix)
    if prepare_dir:
        prepare_dir()
    env = harness.shim_env(args, sock_dir)
    for k, v in (env_extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    watch = watch or sock_dir
    before = listing(watch)
    prepare = None
    if prepare_sock:
        def prepare(pid):
            prepare_sock(os.path.join(sock_dir, f"{pid}.sock"))
            nonlocal before
            before = listing(watch)
    server, got = echo_session(args, env, prefix, prepare)
    lines = server.err.splitlines()
    shown = shown_dir or sock_dir
    check(len(lines) == 1 and lines[0].startswith(
        "wsdbg: stats socket disabled: ") and shown in lines[0]
        and reason in lines[0],
        f"exactly one stderr line naming {shown!r} and {reason!r}: "
        f"{server.err!r}")
    check(server.returncode == 0, f"host exit 0: {server.returncode}")
    check(want[0] == 0 and got == want,
          f"client saw the same session as without the shim:\n{got}\nvs\n"
          f"{want}")
    check(listing(watch) == before,
          f"nothing created or removed in {watch}: {listing(watch)} vs "
          f"{before}")


def dir_other_owner(args, tmp):
    d = os.path.join(tmp, "sock")

    def prepare():
        os.mkdir(d, 0o700)
        os.chown(d, NOBODY, NOBODY)
    refused(args, tmp, d, f"is owned by uid {NOBODY}, not by uid 0",
            prepare_dir=prepare)


def dir_symlink(args, tmp):
    d = os.path.join(tmp, "sock")
    real = os.path.join(tmp, "real")

    def prepare():
        os.mkdir(real, 0o700)
        os.symlink(real, d)
    refused(args, tmp, d, "is a symbolic link", prepare_dir=prepare,
            watch=real)


def dir_mode(mode):
    def run(args, tmp):
        d = os.path.join(tmp, "sock")

        def prepare():
            os.mkdir(d)
            os.chmod(d, mode)
        refused(args, tmp, d, f"has mode {mode:04o}", prepare_dir=prepare)
    return run


def sock_regular_file(args, tmp):
    d = os.path.join(tmp, "sock")

    def prepare(path):
        with open(path, "w") as f:
            f.write("someone's data\n")
    refused(args, tmp, d, "exists and is not a socket of ours",
            prepare_dir=lambda: os.mkdir(d, 0o700), prepare_sock=prepare)
    files = [n for n in os.listdir(d)]
    check(len(files) == 1, f"the file is still there: {files}")
    if files:
        with open(os.path.join(d, files[0])) as f:
            check(f.read() == "someone's data\n", "its content untouched")


def sock_other_socket(args, tmp):
    d = os.path.join(tmp, "sock")
    holder = []

    def prepare(path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(1)
        os.chown(path, NOBODY, NOBODY)
        holder.append(s)
    refused(args, tmp, d, "exists and is not a socket of ours",
            prepare_dir=lambda: os.mkdir(d, 0o700), prepare_sock=prepare)
    for s in holder:
        st = os.lstat(s.getsockname())
        check(stat.S_ISSOCK(st.st_mode) and st.st_uid == NOBODY,
              "the other user's socket is still there, still theirs")
        s.close()


def sock_symlink(args, tmp):
    d = os.path.join(tmp, "sock")
    target = os.path.join(tmp, "target")
    with open(target, "w") as f:
        f.write("precious\n")

    def prepare(path):
        os.symlink(target, path)
    refused(args, tmp, d, "exists and is not a socket of ours",
            prepare_dir=lambda: os.mkdir(d, 0o700), prepare_sock=prepare)
    with open(target) as f:
        check(f.read() == "precious\n", "the symlink's target is untouched")
    check(os.path.isfile(target) and not os.path.islink(target),
          "the target is still a plain file")


def default_dir_squatted(args, tmp):
    # nobody must reach the binaries and tmp; the shim then looks at
    # $XDG_RUNTIME_DIR/wsdbg, which root made first.
    os.chmod(tmp, 0o711)
    run = os.path.join(tmp, "run")
    d = os.path.join(run, "wsdbg")

    def prepare():
        os.mkdir(run, 0o755)
        os.mkdir(d, 0o700)
    refused(args, tmp, d, f"is owned by uid 0, not by uid {NOBODY}",
            prepare_dir=prepare, prefix=AS_NOBODY,
            env_extra={"WSDBG_DIR": None, "XDG_RUNTIME_DIR": run})


ASK_AS_NOBODY = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(b"snapshot\\n")
except OSError:
    pass
data = b""
try:
    while chunk := s.recv(65536):
        data += chunk
except ConnectionResetError:
    pass
print(len(data))
"""


def peer_other_uid(args, tmp):
    d = os.path.join(tmp, "sock")
    _, want = echo_session(args, harness.base_env())
    env = harness.shim_env(args, d)
    server = start_server([args.server, "--connections", "1", "--timeout",
                           "20"], env)
    path = harness.socket_path(d, server.pid)
    harness.wait_for(lambda: os.path.exists(path))
    st_dir, st_sock = os.lstat(d), os.lstat(path)
    check(stat.S_IMODE(st_dir.st_mode) == 0o700 and st_dir.st_uid == 0,
          f"directory made 0700, ours: {oct(st_dir.st_mode)}")
    check(stat.S_ISSOCK(st_sock.st_mode)
          and stat.S_IMODE(st_sock.st_mode) == 0o600
          and st_sock.st_uid == 0,
          f"socket 0600, ours: {oct(st_sock.st_mode)}")
    # Open the way for nobody, so that only SO_PEERCRED stands in it.
    os.chmod(tmp, 0o711)
    os.chmod(d, 0o711)
    os.chmod(path, 0o666)
    other = harness.spawn(AS_NOBODY + [sys.executable, "-c", ASK_AS_NOBODY,
                                       path], harness.base_env())
    out, err = other.communicate(timeout=10)
    check(other.returncode == 0 and out.strip() == b"0",
          f"nobody connected and got no byte: {out!r} {err!r}")
    snap = harness.live_request(d, server.pid)
    check(snap is not None and snap.get("pid") == server.pid,
          "root is answered")
    got = harness.run_client(args, harness.base_env(), server.port, SESSION)
    server.finish()
    check(server.returncode == 0 and server.err == "",
          f"host exit 0, stderr empty: {server.err!r}")
    check(got == want, f"the host's session as without the shim: {got}")


# ---- content and secrets ---------------------------------------------------

METADATA_STEPS = ["text:SECRET-TEXT-one", "textn:300",
                  "binary:64", "ping:SECRET-PING",
                  "frag:3:SECRET-FRAGMENTED-message",
                  "close:4000:SECRET-REASON"]


def assert_absent(text, needles, where):
    found = [n for n in needles if n in text]
    check(not found, f"{where}: no payload in it: found {found}" + "".join(
        f"; {n!r} in ...{text[max(0, text.index(n) - 60):text.index(n) + 30]!r}..."
        for n in found))


def metadata(args, tmp):
    d = os.path.join(tmp, "sock")
    env = harness.shim_env(args, d, os.path.join(tmp, "dump-%p.json"),
                           capture="metadata", show_binary=1)
    server = harness.echo_server(args, env, "--connections", "2",
                                 "--timeout", "20")
    r1 = harness.run_client(args, harness.base_env(), server.port,
                            METADATA_STEPS)
    check(r1[0] == 0, f"session 1 echoed: {r1}")
    live_text = harness.live_request(d, server.pid, raw=True)
    r2 = harness.run_client(args, harness.base_env(), server.port,
                            ["text:SECRET-SECOND", "close"])
    check(r2[0] == 0, f"session 2 echoed: {r2}")
    server.finish()
    check(server.returncode == 0 and server.err == "",
          f"host exit 0, stderr empty: {server.err!r}")
    with open(os.path.join(tmp, f"dump-{server.pid}.json"), "rb") as f:
        dump_text = f.read().decode()
    # Every payload, as text and as the hex a preview would show; from
    # the generated text a run of letters, which JSON would not escape.
    _, long_text, _ = harness.step_message("textn:300")
    _, binary, _ = harness.step_message("binary:64")
    needles = ["SECRET", long_text[33:59].decode(), binary.hex()[:16],
               b"SECRET-PING".hex(), b"SECRET".hex()]
    assert_absent(live_text, needles, "live snapshot")
    assert_absent(dump_text, needles, "dump")
    snap = harness.load_json(os.path.join(tmp, f"dump-{server.pid}.json"))
    check(snap["config"]["capture"] == "metadata", "config says metadata")
    conns = sorted(snap["connections"], key=lambda c: c["opened_at"])
    check(len(conns) == 2, f"two connections: {len(conns)}")
    if not conns:
        return
    c = conns[0]
    msgs, wire = harness.expected_session(METADATA_STEPS)
    got = [(m["dir"], m["type"], m["size"], m["frames"])
           for m in c["messages"]]
    want = [(dr, t, len(p), fr) for dr, t, p, fr in msgs]
    check(got == want, f"every message's direction, type, size and frames "
          f"kept: {got}")
    check(all(isinstance(m["t"], float) and m["t"] >= c["opened_at"]
              for m in c["messages"]), "every message has its time")
    content = [(m["type"], k) for m in c["messages"]
               for k in ("text", "hex") if k in m]
    check(content == [], f"no text or hex key on any message: {content}")
    for dr in ("sent", "received"):
        check(c[dr]["wire_bytes"] == wire[dr]
              and c[dr]["messages"] == sum(1 for m in msgs if m[0] == dr),
              f"{dr} counters kept: {c[dr]}")
    check(c["close"] is not None and c["close"]["code"] == 4000,
          f"the close code is kept: {c['close']}")
    check(c["rtt_ms"] is not None and c["rtt_ms"]["samples"] == 1,
          f"ping round-trip timed: {c['rtt_ms']}")


SECRETS = {
    "Cookie": "session=SECRET-COOKIE-1",
    "cookie": "second=SECRET-COOKIE-2",
    "Authorization": "Bearer SECRET-BEARER-TOKEN",
    # An obsolete line folding (RFC 9112 5.2): the secret on the second
    # line still belongs to the header.
    "Proxy-Authorization": "Basic\r\n\tSECRET-PROXY-FOLDED",
    "X-Api-Key": "SECRET-API-KEY",
}


def credentials_server(args, tmp):
    d = os.path.join(tmp, "sock")
    dump = os.path.join(tmp, "dump-%p.json")
    env = harness.shim_env(args, d, dump)
    server = harness.Server([args.host, "server", "--timeout", "20"], env)
    head = F.upgrade_request("/private?room=1&access_token=SECRET-Q&v=2", [
        f"{k}: {v}" for k, v in SECRETS.items()])
    with socket.create_connection(("127.0.0.1", server.port),
                                  timeout=10) as s:
        s.sendall(head)
        answer = b""
        while b"welcome" not in answer:
            answer += s.recv(65536)
        s.sendall(F.frame(0x1, b"visible text"))
        snap = harness.live_until(d, server.pid, lambda j: any(
            m.get("text") == "visible text" for m in
            harness.all_messages(j)))
        live_text = harness.live_request(d, server.pid, raw=True)
        s.sendall(F.frame(0x8, F.close_payload(1000)))
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
    server.finish()
    check(server.returncode == 0 and server.err == "",
          f"host exit 0, stderr empty: {server.err!r}")
    with open(os.path.join(tmp, f"dump-{server.pid}.json")) as f:
        dump_text = f.read()
    assert_absent(live_text, ["SECRET"], "live snapshot")
    assert_absent(dump_text, ["SECRET"], "dump")
    headers = snap["connections"][0]["headers"] if snap and \
        snap["connections"] else {}
    redacted = {k: v for k, v in headers.items()
                if k in ("cookie", "authorization", "proxy-authorization",
                         "x-api-key")}
    check(redacted == {"cookie": "[redacted]",
                       "authorization": "[redacted]",
                       "proxy-authorization": "[redacted]",
                       "x-api-key": "[redacted]"},
          f"the four headers are listed, redacted: {redacted}")
    query = snap["connections"][0]["query"] if snap and \
        snap["connections"] else None
    check(query == "room=1&access_token=[redacted]&v=2",
          f"the query's token is redacted, the rest kept: {query!r}")
    check("visible text" in dump_text, "the message itself is kept")


def credentials_client(args, tmp):
    d = os.path.join(tmp, "sock")
    dump = os.path.join(tmp, "dump-%p.json")
    env = harness.shim_env(args, d, dump)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)

    def answer():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                + F.accept_of("dGhlIHNhbXBsZSBub25jZQ==").encode()
                + b"\r\nSet-Cookie: id=SECRET-SET-COOKIE; HttpOnly\r\n\r\n")
            while len(data) < data.index(b"\r\n\r\n") + 4 + 6 + 7:
                data += conn.recv(65536)
            conn.sendall(F.frame(0x8, F.close_payload(1000), mask=False))
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):
                pass

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    proc = harness.spawn([args.host, "client",
                          str(listener.getsockname()[1]), "--header",
                          "Cookie: session=SECRET-CLIENT-COOKIE",
                          "--header", "Authorization: Basic SECRET-CLIENT",
                          "--header",
                          "Proxy-Authorization: Basic SECRET-CLIENT-PROXY"],
                         env)
    out, err = proc.communicate(timeout=20)
    t.join(10)
    listener.close()
    check(proc.returncode == 0 and err == b"",
          f"host exit 0, stderr empty: {err!r}")
    with open(os.path.join(tmp, f"dump-{proc.pid}.json")) as f:
        dump_text = f.read()
    assert_absent(dump_text, ["SECRET"], "client-role dump")
    snap = harness.load_json(os.path.join(tmp, f"dump-{proc.pid}.json"))
    c = snap["connections"][0] if snap["connections"] else {}
    check(c.get("role") == "client" and c.get("status") == 101,
          f"the client connection is recorded: {c.get('role')} "
          f"{c.get('status')}")


def dump_private(args, tmp):
    # Like /tmp: world-writable and sticky, so anyone may plant a name.
    shared = os.path.join(tmp, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    os.chmod(tmp, 0o711)
    d = os.path.join(tmp, "sock")
    old = os.umask(0o022)  # the usual umask
    try:
        env = harness.shim_env(args, d, os.path.join(shared, "d-%p.json"))
        server, result = echo_session(args, env)
    finally:
        os.umask(old)
    check(result[0] == 0, f"session echoed: {result}")
    st = os.lstat(os.path.join(shared, f"d-{server.pid}.json"))
    check(stat.S_IMODE(st.st_mode) == 0o600,
          f"the dump (message content) is mode 0600: "
          f"{oct(stat.S_IMODE(st.st_mode))}")

    # Another user plants a symlink where the next dump will go.
    target = os.path.join(tmp, "precious")
    with open(target, "w") as f:
        f.write("precious\n")

    def plant(pid):
        link = os.path.join(shared, f"d-{pid}.json")
        os.symlink(target, link)
        os.lchown(link, NOBODY, NOBODY)
    env2 = harness.shim_env(args, d, os.path.join(shared, "d-%p.json"))
    server2, result2 = echo_session(args, env2, prepare=lambda pid: plant(
        pid))
    check(result2[0] == 0 and server2.returncode == 0,
          f"the host is not disturbed: {server2.returncode}")
    with open(target) as f:
        check(f.read() == "precious\n",
              "the file behind the planted symlink is not overwritten")


CASES = {
    "dir-other-owner": dir_other_owner,
    "dir-symlink": dir_symlink,
    "dir-world-writable": dir_mode(0o777),
    "dir-group-writable": dir_mode(0o770),
    "sock-regular-file": sock_regular_file,
    "sock-other-socket": sock_other_socket,
    "sock-symlink": sock_symlink,
    "default-dir-squatted": default_dir_squatted,
    "peer-other-uid": peer_other_uid,
    "metadata": metadata,
    "credentials-server": credentials_server,
    "credentials-client": credentials_client,
    "dump-private": dump_private,
}


def main():
    args = harness.parse_args(lambda p: (
        p.add_argument("--host", required=True),
        p.add_argument("--case", required=True, choices=CASES)))
    if os.geteuid() != 0:
        check(False, "runs as root (it needs a second uid)")
        return
    with harness.temp_dir() as tmp:
        CASES[args.case](args, tmp)


if __name__ == "__main__":
    sys.exit(harness.run_scenario(main))
