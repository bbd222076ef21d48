#!/usr/bin/python3
"""run_bench.py - wsdbg's benchmark suite: the host's cost of running under
wsdbg, side by side with the alternatives. tools/bench.sh builds and runs
it; see tools/bench/README.md for what each figure means.

    run_bench.py --build DIR [--quick] [--reps N] [--duration S]
                 [--sections c,python,node,deflate,hooks,capture,memory]
                 [--out FILE]

Throughput: the C echo server (wsbench-echo) pinned to one core, the load
generator (wsbench-load) to another, measured in interleaved repetitions
(for each repetition, each shape, every variant once: A B C D E A B C D
E ...) so a slow patch of the machine hits every variant alike:
  bare      the server alone
  wsdbg     LD_PRELOAD=libwsdbg.so (defaults; stats socket in a temp dir)
  forward   LD_PRELOAD=libwsbench-forward.so (forwards only: the floor)
  strace    strace -f -o /dev/null (pinned with the server)
  tshark    the server alone while tshark -i lo dissects its port (-Y
            websocket, output discarded; not pinned); its drop rate shown
plus python3-websockets and node ws echo servers alone and under wsdbg.
Under wsdbg every run is checked against the stats socket: the messages
wsdbg counted each way must equal the messages the load generator sent.

Each figure is the median of the repetitions with (min-max); ratios are
medians over the bare server's median in the same run. Every process is
started in its own session and killed (the group) at the end, on error or
on Ctrl-C; every wait has a timeout.
"""
import argparse
import atexit
import datetime
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVERS = os.path.join(HERE, "servers")
DEBIAN_PYTHON = "/usr/bin/python3"
NODE_PATH = "/usr/share/nodejs"

# name: (connections, window, size, label)
SHAPES = {
    "p16": (8, 16, 16, "16 B pipelined 8x16"),
    "p128": (8, 16, 128, "128 B pipelined 8x16"),
    "p4k": (8, 16, 4096, "4 KiB pipelined 8x16"),
    "p64k": (8, 16, 65536, "64 KiB pipelined 8x16"),
    "r128": (64, 1, 128, "128 B one per read 64x1"),
    "lat": (1, 1, 128, "latency 128 B 1x1"),
}


def in_rep_order(plan, rep):
    """The plan as repetition rep runs it: a shape's variants (consecutive
    entries of one server, shape and compression) in their order on even
    repetitions and reversed on odd ones, A B C then C B A, so that no
    variant always runs first or last beside the bare server it is
    paired with, whatever way the machine's load drifts within a
    repetition."""
    groups = []
    for p in plan:
        if groups and (groups[-1][0][0], groups[-1][0][2],
                       groups[-1][0][3]) == (p[0], p[2], p[3]):
            groups[-1].append(p)
        else:
            groups.append([p])
    return [p for g in groups for p in (g[::-1] if rep % 2 else g)]


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        b = os.path.join(self.build, "tools", "bench")
        self.echo = os.path.join(b, "wsbench-echo")
        self.load = os.path.join(b, "wsbench-load")
        self.hooks = os.path.join(b, "wsbench-hooks")
        self.capture = os.path.join(b, "wsbench-capture")
        self.forward = os.path.join(b, "libwsbench-forward.so")
        self.shim = os.path.join(self.build, "src", "shim", "libwsdbg.so")
        for f in (self.echo, self.load, self.hooks, self.capture,
                  self.forward, self.shim):
            if not os.path.exists(f):
                sys.exit("run_bench: %s is missing: build first" % f)
        self.tmp = tempfile.mkdtemp(prefix="wsbench-")
        self.wsdbg_dir = os.path.join(self.tmp, "wsdbg")
        self.procs = []
        ncpu = os.cpu_count() or 1
        self.server_cpu, self.load_cpu = ("0", "1") if ncpu >= 2 else \
            ("0", "0")
        self.results = {}
        self.notes = []
        self.count = 0

    # ---- processes -------------------------------------------------------

    def spawn(self, cmd, env=None, stdin=subprocess.DEVNULL,
              stderr=subprocess.DEVNULL):
        e = dict(os.environ)
        e.pop("LD_PRELOAD", None)
        e["TMPDIR"] = self.tmp
        if env:
            e.update(env)
        p = subprocess.Popen(cmd, env=e, stdin=stdin,
                             stdout=subprocess.PIPE, stderr=stderr,
                             text=True, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=5):
        """Ends p's whole process group: sig, then SIGKILL."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if p in self.procs:
            self.procs.remove(p)

    def cleanup(self):
        for p in list(self.procs):
            self.stop(p, wait=1)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @staticmethod
    def readline(p, timeout):
        ready, _, _ = select.select([p.stdout], [], [], timeout)
        return p.stdout.readline() if ready else ""

    # ---- servers ---------------------------------------------------------

    def server_cmd(self, server, variant, deflate=False):
        """The command and environment for one server under one variant."""
        pin = ["taskset", "-c", self.server_cpu]
        env = {}
        if server == "c":
            cmd = [self.echo]
        elif server == "python":
            cmd = [DEBIAN_PYTHON, os.path.join(SERVERS, "echo_websockets.py")]
            if deflate:
                cmd.append("--deflate")
        else:
            cmd = ["node", os.path.join(SERVERS, "echo_ws.js")]
            env["NODE_PATH"] = NODE_PATH
        if variant.startswith("wsdbg"):
            env["LD_PRELOAD"] = self.args.shim_b if variant == "wsdbg-b" \
                else self.shim
            env["WSDBG_DIR"] = self.wsdbg_dir
            if variant == "wsdbg-noinflate":
                env["WSDBG_INFLATE"] = "0"
            if variant == "wsdbg-metadata":
                env["WSDBG_CAPTURE"] = "metadata"
        elif variant.startswith("forward"):
            env["LD_PRELOAD"] = self.forward
            if variant == "forward+thread":
                env["WSBENCH_FORWARD_THREAD"] = "1"
        elif variant == "strace":
            cmd = ["strace", "-f", "-o", "/dev/null"] + cmd
        return pin + cmd, env

    def start_server(self, server, variant, deflate=False, extra_env=None):
        cmd, env = self.server_cmd(server, variant, deflate)
        if extra_env:
            env.update(extra_env)
        p = self.spawn(cmd, env)
        line = self.readline(p, 20).split()
        if len(line) != 4 or line[0] != "PORT":
            self.stop(p)
            raise RuntimeError("%s/%s did not start: %r" %
                               (server, variant, line))
        return p, int(line[1]), int(line[3])

    def stats(self, pid, request="summary"):
        """The wsdbg snapshot of process pid, or None."""
        path = os.path.join(self.wsdbg_dir, "%d.sock" % pid)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(path)
            s.sendall((request + "\n").encode())
            data = b""
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            s.close()
            return json.loads(data)
        except (OSError, ValueError):
            return None

    # ---- one measurement -------------------------------------------------

    def start_tshark(self, port):
        p = self.spawn(["tshark", "-i", "lo", "-f", "tcp port %d" % port,
                        "-l", "-Y", "websocket"],
                       stderr=subprocess.PIPE)
        # Capturing starts when tshark says so on stderr.
        deadline = time.time() + 30
        while time.time() < deadline:
            ready, _, _ = select.select([p.stderr], [], [], 1)
            if ready:
                line = p.stderr.readline()
                if not line:
                    break
                if "Capturing on" in line:
                    time.sleep(0.5)
                    return p
        self.stop(p)
        raise RuntimeError("tshark did not start capturing")

    def stop_tshark(self, p):
        """Stops tshark; returns its drop rate (0..1) or None."""
        captured = dropped = None
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            err = ""
        self.stop(p)
        m = re.search(r"(\d+) packets? captured", err or "")
        if m:
            captured = int(m.group(1))
        m = re.search(r"(\d+) packets? dropped", err or "")
        dropped = int(m.group(1)) if m else 0
        if captured is None or captured + dropped == 0:
            return None
        return dropped / (captured + dropped)

    def measure(self, server, variant, shape, deflate=False,
                binary=False):
        conns, window, size, _ = SHAPES[shape]
        p, port, pid = self.start_server(server, variant, deflate)
        tshark = None
        try:
            if variant == "tshark":
                tshark = self.start_tshark(port)
            cmd = ["taskset", "-c", self.load_cpu, self.load,
                   "--port", str(port), "--server-pid", str(pid),
                   "--conns", str(conns), "--window", str(window),
                   "--size", str(size), "--warmup", str(self.args.warmup),
                   "--duration", str(self.args.duration)]
            if deflate:
                cmd.append("--deflate")
            if binary:
                cmd.append("--binary")
            timeout = self.args.warmup + self.args.duration + 30
            res = subprocess.run(cmd, capture_output=True, text=True,
                                 timeout=timeout)
            if res.returncode != 0 or not res.stdout.strip():
                raise RuntimeError("%s/%s %s: load generator failed: %s" %
                                   (server, variant, shape,
                                    res.stderr.strip()))
            r = json.loads(res.stdout)
            if tshark:
                r["drop_rate"] = self.stop_tshark(tshark)
                tshark = None
            if variant.startswith("wsdbg"):
                snap = self.stats(pid)
                t = snap["totals"] if snap else {}
                r["wsdbg_counted"] = (
                    t.get("messages_received") == r["sent"] and
                    t.get("messages_sent") == r["echoed"])
                if not r["wsdbg_counted"]:
                    self.notes.append(
                        "%s/%s %s: wsdbg counted %s received, %s sent; "
                        "the load generator sent %d, got %d back" %
                        (server, variant, shape,
                         t.get("messages_received"), t.get("messages_sent"),
                         r["sent"], r["echoed"]))
            return r
        finally:
            if tshark:
                self.stop(tshark)
            self.stop(p)

    def record(self, key, r):
        self.results.setdefault(key, []).append(r)
        self.count += 1
        cpu = r.get("server_cpu_ns_per_msg")
        print("  [%d] %-34s %10.0f msg/s %9s ns/msg" %
              (self.count, "/".join(key), r["msgs_per_s"],
               "%.0f" % cpu if cpu else "-"), file=sys.stderr, flush=True)

    # ---- sections --------------------------------------------------------

    def run_throughput(self, sections):
        quick = self.args.quick
        plan = []  # (server, variant, shape, deflate)

        def chosen(shapes):  # of shapes, those --shapes asks for
            return [sh for sh in shapes
                    if not self.args.shapes or sh in self.args.shapes]
        c_shapes = chosen(SHAPES)
        heavy_shapes = ["p128", "r128"] if quick else \
            ["p128", "p4k", "p64k", "r128"]
        if "c" in sections:
            for shape in c_shapes:
                for v in ("bare", "wsdbg", "forward"):
                    plan.append(("c", v, shape, False))
                if self.args.shim_b:
                    plan.append(("c", "wsdbg-b", shape, False))
                # What storing the messages' content costs: the same
                # decoding and counting, nothing kept (WSDBG_CAPTURE).
                if shape in heavy_shapes:
                    plan.append(("c", "wsdbg-metadata", shape, False))
                if shape in heavy_shapes and shutil.which("strace"):
                    plan.append(("c", "strace", shape, False))
                if shape in heavy_shapes and shutil.which("tshark"):
                    plan.append(("c", "tshark", shape, False))
        peer_shapes = chosen(["p128"] if quick else ["p128", "p4k", "r128"])
        for server in ("python", "node"):
            if server not in sections:
                continue
            # Controls: any preload's cost (forward), and for the
            # single-threaded python server, what a second thread in the
            # process costs it (forward+thread; wsdbg's stats server is
            # one). node runs threads of its own already.
            controls = ("forward", "forward+thread") \
                if server == "python" else ("forward",)
            if self.args.shim_b:
                controls += ("wsdbg-b",)
            for shape in peer_shapes:
                for v in ("bare", "wsdbg") + controls:
                    plan.append((server, v, shape, False))
        if self.args.variants:
            plan = [p for p in plan if p[1] == "bare" or
                    p[1] in self.args.variants]
        if "deflate" in sections:
            for shape in (["p4k"] if quick else ["p128", "p4k"]):
                for v in ("bare", "wsdbg", "wsdbg-noinflate"):
                    plan.append(("python", v, shape, True))
        reps = self.args.reps
        print("throughput: %d measurements x %d repetitions, %.1f s each" %
              (len(plan), reps, self.args.warmup + self.args.duration),
              file=sys.stderr)
        for rep in range(reps):
            for server, variant, shape, deflate in in_rep_order(plan, rep):
                key = (server + ("-deflate" if deflate else ""), variant,
                       shape)
                try:
                    r = self.measure(server, variant, shape, deflate)
                    r["rep"] = rep
                    self.record(key, r)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    self.notes.append("rep %d %s: %s" % (rep + 1,
                                                         "/".join(key), e))
                    print("  failed: %s" % e, file=sys.stderr)

    def run_hooks(self):
        """ns per hooked call on a pipe, and instructions per call."""
        n = 200000 if self.args.quick else 500000
        variants = [("bare", {}), ("forward", {"LD_PRELOAD": self.forward}),
                    ("forward+thread", {"LD_PRELOAD": self.forward,
                                        "WSBENCH_FORWARD_THREAD": "1"}),
                    ("wsdbg", {"LD_PRELOAD": self.shim,
                               "WSDBG_DIR": self.wsdbg_dir})]
        times = {v: [] for v, _ in variants}
        for rep in range(max(self.args.reps, 9)):
            for v, env in (variants[::-1] if rep % 2 else variants):
                p = self.spawn(["taskset", "-c", self.server_cpu, self.hooks,
                                "--iterations", str(n)], env)
                try:
                    out, _ = p.communicate(timeout=60)
                    times[v].append({"rep": rep, "ns": json.loads(out)[
                        "ns_per_call"]})
                finally:
                    self.stop(p)
        ir = {}
        if shutil.which("valgrind"):
            for v, env in variants:
                counts = []
                for iters in (20000, 120000):
                    p = self.spawn(
                        ["valgrind", "--tool=callgrind",
                         "--callgrind-out-file=/dev/null", self.hooks,
                         "--iterations", str(iters)], env,
                        stderr=subprocess.PIPE)
                    try:
                        _, err = p.communicate(timeout=300)
                    finally:
                        self.stop(p)
                    m = re.search(r"Collected : (\d+)", err)
                    counts.append(int(m.group(1)) if m else None)
                if None not in counts:
                    ir[v] = (counts[1] - counts[0]) / (2 * 100000)
        self.results["hooks"] = {"ns": times, "ir": ir}

    def run_capture(self):
        cmd = ["taskset", "-c", self.server_cpu, self.capture]
        if self.args.quick:
            cmd.append("--quick")
        p = self.spawn(cmd)
        try:
            out, _ = p.communicate(timeout=600)
        finally:
            self.stop(p)
        if p.returncode != 0:
            self.notes.append("wsbench-capture failed (status %s)" %
                              p.returncode)
        self.results["capture"] = out
        if shutil.which("valgrind"):
            self.results["capture_ir"] = self.capture_counts()
            self.results["server_ir"] = self.server_counts()

    # (label, connections, frames per call, size, KiB evicted per call)
    COUNTED = [("text 16 B, 16 per call", 8, 16, 16, 0),
               ("text 128 B, 16 per call", 8, 16, 128, 0),
               ("text 4096 B, 16 per call", 8, 16, 4096, 0),
               ("text 128 B, 1 per call, 64 conns in turn, "
                "128 KiB evicted", 64, 1, 128, 128)]

    def capture_counts(self):
        """Instructions and first-level data cache misses per frame of
        decode and record (callgrind; the same from run to run)."""
        rows = []
        for label, conns, batch, size, evict in self.COUNTED:
            p = self.spawn(["valgrind", "--tool=callgrind",
                            "--cache-sim=yes",
                            "--toggle-collect=counted_call",
                            "--callgrind-out-file=/dev/null", self.capture,
                            "--count", str(conns), str(batch), str(size),
                            str(evict)],
                           stderr=subprocess.PIPE)
            try:
                out, err = p.communicate(timeout=300)
            finally:
                self.stop(p)
            events = re.search(r"Events\s*:\s*(.*)", err or "")
            counts = re.search(r"Collected\s*:\s*([\d ]+)", err or "")
            try:
                frames = json.loads(out)["frames"]
            except (ValueError, KeyError, TypeError):
                frames = 0
            if p.returncode != 0 or not events or not counts or \
                    not frames:
                self.notes.append("callgrind on wsbench-capture --count "
                                  "failed for %s" % label)
                continue
            names = events.group(1).split()
            values = [int(v) for v in counts.group(1).split()]
            ev = dict(zip(names, values + [0] * (len(names) -
                                                 len(values))))
            rows.append({"label": label, "frames": frames,
                         "ir": ev["Ir"] / frames,
                         "d1": (ev.get("D1mr", 0) +
                                ev.get("D1mw", 0)) / frames})
        return rows

    # (label, connections, window, size)
    SERVER_COUNTED = [("128 B pipelined (8 x 16)", 8, 16, 128),
                      ("128 B, one message per read (64 x 1)", 64, 1, 128)]

    def server_counts(self):
        """Instructions per message of wsdbg's work in the echo server
        itself (callgrind, collecting inside shim_record_io only: what the
        hooks hand over after the real call, so the socket's lock, the
        clock, decoding and recording, without the C library's part),
        over the messages recorded both ways. Two runs of each shape, a
        short and a long one, and the difference between them, so that
        the handshakes and the first messages of each connection (a ring
        still growing) are not counted. It adds to the in-process rows
        what only the shim does, the same from run to run."""
        rows = []
        runs = (0.5, 1.5) if self.args.quick else (1.0, 3.0)
        for label, conns, window, size in self.SERVER_COUNTED:
            got = [self.server_count(conns, window, size, d) for d in runs]
            # Nothing counted (the function renamed, inlined or split
            # by the compiler) is a failed row, not a row of 0.
            if None in got or got[1][1] <= got[0][1] or \
                    got[1][0] <= got[0][0]:
                self.notes.append("callgrind on the echo server failed "
                                  "for %s" % label)
                continue
            (ir0, msgs0), (ir1, msgs1) = got
            rows.append({"label": label, "messages": msgs1 - msgs0,
                         "ir": (ir1 - ir0) / (msgs1 - msgs0)})
        return rows

    def server_count(self, conns, window, size, duration):
        """(instructions inside shim_record_io, messages recorded both ways)
        of one run of the echo server under wsdbg and callgrind, or
        None."""
        cmd, env = self.server_cmd("c", "wsdbg")
        out = os.path.join(self.tmp, "server.callgrind")
        cmd = cmd[:3] + ["valgrind", "--tool=callgrind",
                         "--toggle-collect=shim_record_io",
                         "--callgrind-out-file=" + out] + cmd[3:]
        p = self.spawn(cmd, env)
        try:
            line = self.readline(p, 60).split()
            if len(line) != 4 or line[0] != "PORT":
                return None
            subprocess.run(
                ["taskset", "-c", self.load_cpu, self.load, "--port",
                 line[1], "--conns", str(conns), "--window", str(window),
                 "--size", str(size), "--warmup", "0.2", "--duration",
                 str(duration)],
                capture_output=True, timeout=120, check=True)
            snap = self.stats(int(line[3]))
        except subprocess.SubprocessError:
            return None
        finally:
            self.stop(p, wait=60)
        t = snap["totals"] if snap else {}
        msgs = t.get("messages_received", 0) + t.get("messages_sent", 0)
        ir = None
        if os.path.exists(out):
            with open(out) as f:
                m = re.search(r"^(?:summary|totals):\s*(\d+)", f.read(),
                              re.M)
            ir = int(m.group(1)) if m else None
            os.unlink(out)
        return (ir, msgs) if ir is not None and msgs else None

    @staticmethod
    def proc_status(pid):
        fields = {}
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    fields[k] = int(v.split()[0]) * 1024
        return fields

    def idle_connections(self, variant, n, extra_env):
        """Server RSS (and wsdbg's view) with n idle open connections."""
        p, port, pid = self.start_server("c", variant, extra_env=extra_env)
        loader = None
        try:
            before = self.proc_status(pid)["VmRSS"]
            loader = self.spawn(["taskset", "-c", self.load_cpu, self.load,
                                 "--port", str(port), "--idle", str(n),
                                 "--hold", "120"], stdin=subprocess.PIPE)
            line = self.readline(loader, 120)
            if not line.startswith("READY"):
                raise RuntimeError("%d idle connections: %r" % (n, line))
            time.sleep(0.5)
            st = self.proc_status(pid)
            r = {"rss": st["VmRSS"], "rss_before": before}
            if variant == "wsdbg":
                snap = self.stats(pid)
                t = snap["totals"] if snap else {}
                r.update(connections=t.get("connections"),
                         active=t.get("active"),
                         untracked=t.get("untracked"),
                         listed=len(snap["connections"]) if snap else None,
                         memory_used=t.get("memory_used"))
            r["server_alive"] = p.poll() is None
            return r
        finally:
            if loader:
                self.stop(loader)
            self.stop(p)

    def busy_connections(self, variant, extra_env):
        """Server peak RSS over 1,000 connections with 1 KiB traffic."""
        p, port, pid = self.start_server("c", variant, extra_env=extra_env)
        try:
            before = self.proc_status(pid)["VmHWM"]
            res = subprocess.run(
                ["taskset", "-c", self.load_cpu, self.load, "--port",
                 str(port), "--server-pid", str(pid), "--conns", "1000",
                 "--window", "1", "--size", "1024", "--warmup", "0.2",
                 "--duration", "1.5"],
                capture_output=True, text=True, timeout=60)
            if res.returncode != 0:
                raise RuntimeError("1000 busy connections: " + res.stderr)
            r = json.loads(res.stdout)
            r.update(hwm=self.proc_status(pid)["VmHWM"], hwm_before=before)
            if variant == "wsdbg":
                snap = self.stats(pid)
                t = snap["totals"] if snap else {}
                r.update(memory_used=t.get("memory_used"),
                         tracked=t.get("tracked"))
            return r
        finally:
            self.stop(p)

    def run_memory(self):
        n = 10000
        cases = [("bare", "bare", {}), ("wsdbg", "wsdbg", {}),
                 ("wsdbg", "wsdbg max_connections=10000",
                  {"WSDBG_MAX_CONNECTIONS": "10000"})]
        idle = {label: [] for _, label, _ in cases}
        busy = {label: [] for _, label, _ in cases}
        for _ in range(1 if self.args.quick else 2):
            for variant, label, env in cases:
                try:
                    idle[label].append(self.idle_connections(variant, n,
                                                             env))
                except (RuntimeError, KeyError, OSError) as e:
                    self.notes.append("idle %s: %s" % (label, e))
                benv = dict(env)
                if "WSDBG_MAX_CONNECTIONS" in benv:
                    benv["WSDBG_MAX_CONNECTIONS"] = "1000"
                try:
                    busy[label].append(self.busy_connections(variant, benv))
                except (RuntimeError, KeyError, OSError,
                        subprocess.TimeoutExpired) as e:
                    self.notes.append("busy %s: %s" % (label, e))
        self.results["memory"] = {"idle": idle, "busy": busy, "n": n}


# ---- the report ----------------------------------------------------------

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def span(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return (fmt % statistics.median(values)) + " (" + (fmt % min(values)) + \
        "-" + (fmt % max(values)) + ")"


def si(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2f M" % (v / 1e6)
    if v >= 1e3:
        return "%.1f k" % (v / 1e3)
    return "%.0f" % v


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    debian = "?"
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        pass
    gcc = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True,
                         text=True).stdout.strip()
    return "%s, %s, %d cores, Linux %s, Debian %s, gcc %s" % (
        platform.machine(), model, os.cpu_count() or 0, platform.release(),
        debian, gcc or "?")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


VARIANT_NAMES = {"bare": "alone", "wsdbg": "wsdbg", "forward": "forward-only",
                 "strace": "strace -f", "tshark": "tshark capture",
                 "wsdbg-noinflate": "wsdbg, WSDBG_INFLATE=0",
                 "wsdbg-metadata": "wsdbg, WSDBG_CAPTURE=metadata",
                 "forward+thread": "forward-only + 1 idle thread",
                 "wsdbg-b": "wsdbg B (--shim-b)"}
SERVER_NAMES = {"c": "C epoll", "python": "python3-websockets",
                "node": "node ws", "python-deflate": "python3-websockets deflate"}


def throughput_table(run):
    res = run.results
    lines = ["| shape | server | variant | msgs/s median (min-max) | ratio | "
             "server CPU ns/msg (min-max) | ratio | MB/s | RTT p50 / p99 µs "
             "| note |", "|---|---|---|---|---|---|---|---|---|---|"]
    for shape in SHAPES:
        for server in ("c", "python", "node", "python-deflate"):
            base = res.get((server, "bare", shape))
            if not base:
                continue
            for variant in ("bare", "wsdbg", "wsdbg-b", "wsdbg-noinflate",
                            "wsdbg-metadata", "forward", "forward+thread",
                            "strace", "tshark"):
                rs = res.get((server, variant, shape))
                if not rs:
                    continue
                rates = [r["msgs_per_s"] for r in rs]
                cpus = [r["server_cpu_ns_per_msg"] for r in rs]
                rate = med(rates)
                note = []
                if variant == "tshark":
                    drops = [r.get("drop_rate") for r in rs]
                    if med(drops) is not None:
                        note.append("drops " + span([d * 100 for d in drops
                                                     if d is not None],
                                                    "%.0f") + " %")
                if variant.startswith("wsdbg") and not all(
                        r.get("wsdbg_counted") for r in rs):
                    note.append("COUNTS DIFFER")
                load = med([r["load_cpu_util"] for r in rs])
                if load is not None and load > 0.9:
                    note.append("load gen %.0f%% busy" % (load * 100))
                lines.append(
                    "| %s | %s | %s | %s | %s | %s | %s | %.1f | %s / %s | %s |"
                    % (SHAPES[shape][3], SERVER_NAMES[server],
                       VARIANT_NAMES[variant],
                       span(rates, "%.0f") if rate < 1e4 else
                       "%s (%s-%s)" % (si(rate), si(min(rates)),
                                       si(max(rates))),
                       span(paired_ratios(base, rs, "msgs_per_s"),
                            "%.3f"),
                       span(cpus, "%.0f"),
                       span(paired_ratios(base, rs, "server_cpu_ns_per_msg"),
                            "%.3f"),
                       med([r["mb_per_s"] for r in rs]),
                       "%.0f" % med([r["rtt_p50_us"] for r in rs]),
                       "%.0f" % med([r["rtt_p99_us"] for r in rs]),
                       ", ".join(note)))
    return "\n".join(lines)


def paired(base, runs, field):
    """(variant's figure, base's figure) for each repetition that measured
    both. A repetition runs the variants of a shape (or of the hooked
    call) back to back, so each pair was measured seconds apart: the
    machine's slower swings of load cancel in a pair's ratio or
    difference, which they do not between two medians."""
    alone = {r.get("rep"): r.get(field) for r in base}
    return [(r[field], alone[r.get("rep")]) for r in runs
            if r.get(field) and alone.get(r.get("rep"))]


def paired_ratios(base, runs, field):
    return [v / b for v, b in paired(base, runs, field)]


def paired_diffs(base, runs, field):
    return [v - b for v, b in paired(base, runs, field)]


def ratio(run, server, variant, shape, field):
    b = run.results.get((server, "bare", shape))
    v = run.results.get((server, variant, shape))
    if not b or not v:
        return None
    return med(paired_ratios(b, v, field))


def targets(run):
    """The performance targets against this run. Where the shape had a
    forward-only control, its ratio is shown beside: a preload that does
    nothing, measured in the same repetitions, which on a noisy machine
    can miss the aim too. A target wsdbg misses is not judged by this run
    when the control missed it as well and wsdbg's ratio over the
    control's would meet it; otherwise it is not met."""
    out = []

    def meets(value, limit, higher_is_better):
        return value >= limit if higher_is_better else value <= limit

    def check(name, value, limit, higher_is_better, fmt="%.3f",
              control=None):
        shown = fmt % control if control is not None else "-"
        aim = "%s %s" % (">=" if higher_is_better else "<=", fmt % limit)
        if value is None:
            out.append("| %s | not measured | %s | %s | |" %
                       (name, shown, aim))
            return
        if meets(value, limit, higher_is_better):
            verdict = "met"
        elif control and not meets(control, limit, higher_is_better) and \
                meets(value / control, limit, higher_is_better):
            # Missed, but so did a preload that does nothing, and
            # against it wsdbg would meet the aim.
            verdict = "not judged: the control misses it too"
        else:
            verdict = "NOT MET"
        out.append("| %s | %s | %s | %s | %s |" %
                   (name, fmt % value, shown, aim, verdict))

    def check_ratio(name, server, shape, metric, limit):
        check(name, ratio(run, server, "wsdbg", shape, metric), limit,
              metric == "msgs_per_s",
              control=ratio(run, server, "forward", shape, metric))

    out.append("| target | measured | forward-only, same run | aim | |")
    out.append("|---|---|---|---|---|")
    check_ratio("64x1 128 B throughput ratio", "c", "r128", "msgs_per_s",
                0.98)
    check_ratio("64x1 128 B CPU/msg ratio", "c", "r128",
                "server_cpu_ns_per_msg", 1.03)
    check_ratio("8x16 128 B throughput ratio", "c", "p128", "msgs_per_s",
                0.90)
    check_ratio("8x16 128 B CPU/msg ratio", "c", "p128",
                "server_cpu_ns_per_msg", 1.10)
    check_ratio("8x16 4 KiB throughput ratio", "c", "p4k", "msgs_per_s",
                0.97)
    check_ratio("8x16 64 KiB throughput ratio", "c", "p64k", "msgs_per_s",
                0.97)
    for server in ("python", "node"):
        for shape in ("p128", "p4k", "r128"):
            if ratio(run, server, "wsdbg", shape, "msgs_per_s") is not None:
                check_ratio("%s %s throughput ratio" %
                            (SERVER_NAMES[server], SHAPES[shape][3]),
                            server, shape, "msgs_per_s", 0.99)
    hooks = run.results.get("hooks")
    if hooks:
        ns = hooks["ns"]
        if ns.get("wsdbg") and ns.get("forward"):
            check("hooked call on a pipe, ns over forward-only",
                  med(paired_diffs(ns["forward"], ns["wsdbg"], "ns")), 5,
                  False, "%.1f")
        if ns.get("wsdbg") and ns.get("forward+thread"):
            # wsdbg's own path: the same threading as the host under it.
            check("hooked call on a pipe, ns over forward-only + 1 thread",
                  med(paired_diffs(ns["forward+thread"], ns["wsdbg"],
                                   "ns")), 5, False, "%.1f")
    mem = run.results.get("memory")
    if mem:
        n = mem["n"]
        bare = med([r["rss"] for r in mem["idle"]["bare"]])
        full = med([r["rss"] for r in
                    mem["idle"]["wsdbg max_connections=10000"]])
        if bare and full:
            check("RSS per idle tracked connection over bare, bytes",
                  (full - bare) / n, 4096, False, "%.0f")
    return "\n".join(out)


def hooks_table(run):
    h = run.results.get("hooks")
    if not h:
        return ""
    lines = ["| variant | ns per call, median (min-max) | over forward-only, "
             "paired per repetition "
             "| instructions per call (callgrind) | over forward-only |",
             "|---|---|---|---|---|"]
    fwd = h["ns"].get("forward", [])
    fwd_ir = h["ir"].get("forward")
    for v in ("bare", "forward", "forward+thread", "wsdbg"):
        runs = h["ns"].get(v, [])
        ir = h["ir"].get(v)
        over = paired_diffs(fwd, runs, "ns")
        lines.append("| %s | %s | %s | %s | %s |" % (
            v, span([r["ns"] for r in runs], "%.1f"),
            "%+.1f (%+.1f to %+.1f)" % (med(over), min(over), max(over))
            if over else "-",
            "%.1f" % ir if ir is not None else "-",
            "%+.1f" % (ir - fwd_ir) if ir is not None and fwd_ir else "-"))
    return "\n".join(lines)


def memory_table(run):
    m = run.results.get("memory")
    if not m:
        return ""
    n = m["n"]
    lines = ["| %d idle open connections | server RSS | over bare, per "
             "connection | wsdbg: connections seen / detailed / listed | "
             "stored data |" % n, "|---|---|---|---|---|"]
    bare = med([r["rss"] for r in m["idle"].get("bare", [])])
    for label, rs in m["idle"].items():
        if not rs:
            continue
        rss = med([r["rss"] for r in rs])
        r0 = rs[-1]
        seen = "-"
        if "connections" in r0:
            seen = "%s / %s / %s%s" % (
                r0.get("connections"), r0.get("active"), r0.get("listed"),
                "" if r0.get("server_alive") else " (server died)")
        lines.append("| %s | %.1f MiB | %s | %s | %s |" % (
            label, rss / 2**20,
            "%.0f B" % ((rss - bare) / n) if bare and label != "bare" else "-",
            seen, r0.get("memory_used", "-")))
    lines += ["", "| 1,000 connections, 1 KiB messages, window 1 | server "
              "peak RSS | over bare, per connection | msgs/s | stored data |",
              "|---|---|---|---|---|"]
    bare = med([r["hwm"] for r in m["busy"].get("bare", [])])
    for label, rs in m["busy"].items():
        if not rs:
            continue
        label = label.replace("10000", "1000")
        hwm = med([r["hwm"] for r in rs])
        lines.append("| %s | %.1f MiB | %s | %s | %s |" % (
            label, hwm / 2**20,
            "%.0f B" % ((hwm - bare) / 1000) if bare and label != "bare"
            else "-", si(med([r["msgs_per_s"] for r in rs])),
            rs[-1].get("memory_used", "-")))
    return "\n".join(lines)


def report(run, started, load_start):
    a = run.args
    parts = ["# wsdbg benchmark",
             "",
             "%s; %s; build %s; load average %s at start, %s at end; "
             "%d repetitions of %.1f s (+%.1f s warm-up), server on CPU %s, "
             "load generator on CPU %s%s." % (
                 started.strftime("%Y-%m-%d %H:%M"), machine(),
                 a.buildtype, load_start, loadavg(), a.reps, a.duration,
                 a.warmup, run.server_cpu, run.load_cpu,
                 ", --quick" if a.quick else ""),
             ""]
    if any(isinstance(k, tuple) for k in run.results):
        parts += ["## Throughput (text messages; ratios to the same "
                  "server alone)", "", throughput_table(run), ""]
    if run.results.get("hooks"):
        parts += ["## A hooked call on a pipe (write + read of 1 byte)", "",
                  hooks_table(run), ""]
    if run.results.get("capture"):
        parts += ["## Decode and record (wsbench-capture)", "",
                  run.results["capture"].strip(), ""]
    if run.results.get("capture_ir"):
        parts += ["Decode and record under callgrind, per frame (the "
                  "same from run to run: `wsbench-capture --count`)", "",
                  "| frames | instructions | first-level data cache "
                  "misses |", "|---|---|---|"]
        parts += ["| %s | %.0f | %.1f |" % (r["label"], r["ir"], r["d1"])
                  for r in run.results["capture_ir"]]
        parts += [""]
    if run.results.get("server_ir"):
        parts += ["wsdbg's work in the C echo server under callgrind, per "
                  "message recorded (each way counts one; inside "
                  "`shim_record_io`: the socket's lock, the clock, decoding "
                  "and recording; the difference between a short and a "
                  "long run)", "",
                  "| shape | messages recorded (difference) | instructions "
                  "per message |",
                  "|---|---|---|"]
        parts += ["| %s | %d | %.0f |" % (r["label"], r["messages"], r["ir"])
                  for r in run.results["server_ir"]]
        parts += [""]
    if run.results.get("memory"):
        parts += ["## Memory (C echo server, process RSS)", "",
                  memory_table(run), ""]
    parts += ["## Targets", "", targets(run), ""]
    if run.notes:
        parts += ["## Notes", ""] + ["- " + n for n in run.notes] + [""]
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--buildtype", default="?")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--warmup", type=float)
    ap.add_argument("--sections",
                    default="c,python,node,deflate,hooks,capture,memory")
    ap.add_argument("--out")
    # A/B of two builds of the shim: another libwsdbg.so measured beside
    # this build's on every shape of every server (variant "wsdbg B").
    ap.add_argument("--shim-b", metavar="PATH",
                    help="another build's libwsdbg.so, measured beside "
                    "this one on every shape (variant wsdbg-b)")
    ap.add_argument("--shapes", type=lambda v: v.split(","),
                    help="shapes to run, of: " + ",".join(SHAPES) +
                    " (python and node run p128, p4k, r128 at most)")
    ap.add_argument("--variants", type=lambda v: v.split(","),
                    help="variants to run, of: bare,wsdbg,forward,"
                    "forward+thread,wsdbg-b,wsdbg-metadata,strace,tshark "
                    "(default: all that apply; bare is always run, the "
                    "ratios need it)")
    args = ap.parse_args()
    if args.reps is None:
        args.reps = 2 if args.quick else 5
    if args.duration is None:
        args.duration = 0.5 if args.quick else 1.2
    if args.warmup is None:
        args.warmup = 0.2 if args.quick else 0.3
    sections = set(args.sections.split(","))
    run = Runner(args)
    atexit.register(run.cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    started = datetime.datetime.now()
    load_start = loadavg()
    t0 = time.time()
    try:
        run.run_throughput(sections)
        if "hooks" in sections:
            run.run_hooks()
        if "capture" in sections:
            run.run_capture()
        if "memory" in sections:
            run.run_memory()
    except KeyboardInterrupt:
        print("interrupted: partial results", file=sys.stderr)
    text = report(run, started, load_start)
    text += "\nTook %.0f s.\n" % (time.time() - t0)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
        raw = {"/".join(k) if isinstance(k, tuple) else k: v
               for k, v in run.results.items()}
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(raw, f, indent=1)


if __name__ == "__main__":
    main()
