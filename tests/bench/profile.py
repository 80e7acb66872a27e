#!/usr/bin/env python3
"""Profiles the gateway's order path against the bench's static upstream.

  python3 tests/bench/profile.py --build build --tool callgrind [-n 2000]
  python3 tests/bench/profile.py --build build --tool perf [--seconds 10] [-c 1]

Starts the same static upstream (nginx over HTTPS) and the same gateway
configuration as bench.py (active session, policy on, rate_limit off,
signing), then:

  callgrind  runs the gateway under valgrind --tool=callgrind with
             collection off, sends a warm-up, switches collection on, sends
             exactly N orders one at a time over one kept-alive connection
             (or -c connections in parallel), dumps, and prints instructions
             per order: total, and without the RSA signing (signer_sign's
             inclusive cost), plus the top functions (callgrind_annotate).
             Instruction counts do not depend on other load on the machine.
  perf       runs the gateway natively, records `perf record -F 4999` (cpu-clock,
             kernel included) while wrk posts orders at -c for --seconds, and
             prints the top symbols and the CPU share per shared object.

--presign MS sets upstream.presign_max_age_ms (default 0 here, so that the
signing done per order is counted in this process's main path; with pre-
signing the gw-presign thread does the same work).  --keep keeps the work
directory (the callgrind.out and perf.data files are in it).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402


def send_orders(port, n, conns, tag):
    """Sends n order creates spread over `conns` kept-alive connections;
    returns the statuses seen (status -> count)."""
    counts = {}
    lock = threading.Lock()

    def worker(k, share):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        local = {}
        for i in range(share):
            body = bench.ORDER_BODY[:-1] + ',"client_order_id":"%s-%d-%d"}' % (tag, k, i)
            c.request("POST", bench.ORDER_PATH, body=body,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            local[r.status] = local.get(r.status, 0) + 1
        c.close()
        with lock:
            for s, v in local.items():
                counts[s] = counts.get(s, 0) + v

    th = [threading.Thread(target=worker, args=(k, n // conns + (1 if k < n % conns else 0)))
          for k in range(conns)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return counts


def callgrind_total(path):
    """Total Ir of a callgrind output file (its 'summary:' or 'totals:' line)."""
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


def annotate(path, inclusive, n=30):
    argv = ["callgrind_annotate", "--threshold=100", "--auto=no"]
    if inclusive:
        argv.append("--inclusive=yes")
    argv.append(path)
    out = subprocess.run(argv, capture_output=True, timeout=120).stdout.decode(errors="replace")
    return out


def incl_of(text, func):
    """Inclusive Ir of a function from callgrind_annotate --inclusive output."""
    best = 0
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*:" + re.escape(func) + r"(?:\s|$|')", line)
        if m:
            best = max(best, int(m.group(1).replace(",", "")))
    return best


def thread_summary(path):
    """(total Ir, signer_sign inclusive Ir, thread kind) of one per-thread
    callgrind dump; the kind is the gateway thread function found in it."""
    total = callgrind_total(path)
    incl = annotate(path, True)
    kind = "other"
    for fn, name in (("loop_main", "event loops"), ("audit_main", "audit writer"),
                     ("presign_main", "pre-signer"), ("sess_main", "sessions worker"),
                     ("ops_probe_main", "readiness probe"), ("ev_main", "events"),
                     ("ws_pump_main", "websocket pump"), ("main", "main")):
        if incl_of(incl, fn):
            kind = name
            break
    return total or 0, incl_of(incl, "signer_sign"), kind, incl


def run_callgrind(b, args):
    out = os.path.join(b.dir, "callgrind.out")
    wrapper = os.path.join(b.dir, "gw-valgrind.sh")
    with open(wrapper, "w") as f:
        f.write("#!/bin/sh\nexec valgrind --tool=callgrind --separate-threads=yes "
                "--callgrind-out-file=%s %s \"$@\"\n" % (out, b.gw_bin))
    os.chmod(wrapper, 0o755)
    b.gw_bin = wrapper
    p, port, _ = start_gateway_slow(b, args.presign)
    send_orders(port, 200, args.c, "warm")
    vpid = p.pid
    subprocess.run(["callgrind_control", "-z", str(vpid)], capture_output=True, timeout=60)
    t0 = time.time()
    counts = send_orders(port, args.n, args.c, "run%d" % int(t0))
    dt = time.time() - t0
    subprocess.run(["callgrind_control", "-d", "measured", str(vpid)], capture_output=True,
                   timeout=120)
    b.procs.stop(p, signal.SIGTERM, timeout=60)
    dumps = sorted(os.path.join(b.dir, x) for x in os.listdir(b.dir)
                   if x.startswith("callgrind.out.1-"))
    n = float(args.n)
    print("orders: %d (%s) in %.1f s under callgrind, %d connection(s), presign %d ms"
          % (args.n, counts, dt, args.c, args.presign))
    by_kind = {}
    loop_incl = []
    for d in dumps:
        total, sign, kind, incl = thread_summary(d)
        k = by_kind.setdefault(kind, [0, 0, 0])
        k[0] += total
        k[1] += sign
        k[2] += 1
        if kind == "event loops" and total:
            loop_incl.append((d, total, incl))
    print("instructions per order, by thread (time-driven background work is inflated: "
          "the run is ~50x slower under valgrind):")
    for kind, (total, sign, cnt) in sorted(by_kind.items(), key=lambda kv: -kv[1][0]):
        print("  %-18s %2d thread(s): %10.0f total, %10.0f signing, %10.0f without signing"
              % (kind, cnt, total / n, sign / n, (total - sign) / n))
    lt = by_kind.get("event loops", [0, 0, 0])
    at = by_kind.get("audit writer", [0, 0, 0])
    print("ORDER PATH (event loops + audit writer, without signing): %.0f Ir per order"
          % ((lt[0] - lt[1] + at[0] - at[1]) / n))
    for d, total, incl in loop_incl:
        print("---- %s (event loop) inclusive ----" % os.path.basename(d))
        print("\n".join(incl.splitlines()[20:20 + args.top]))
        excl = annotate(d, False)
        print("---- %s (event loop) exclusive ----" % os.path.basename(d))
        print("\n".join(excl.splitlines()[20:20 + args.top]))


def start_gateway_slow(b, presign):
    """bench.start_gateway, with longer start-up deadlines (valgrind)."""
    orig_time = time.time
    start = orig_time()

    def slow():  # stretches the harness's deadlines by 10x
        return start + (orig_time() - start) / 10.0
    bench.time.time = slow
    try:
        return b.start_gateway("prof", presign)
    finally:
        bench.time.time = orig_time


def run_perf(b, args):
    p, port, _ = b.start_gateway("prof", args.presign)
    b.wrk(port, 16, 1)
    data = os.path.join(b.dir, "perf.data")
    rec = subprocess.Popen(["perf", "record", "-F", "4999", "-e", "cpu-clock", "-o", data]
                           + (["-g"] if args.callgraph else []) + ["-p", str(p.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    m0 = b.gateway_metrics(port)
    res = b.wrk(port, args.c, args.seconds)
    m1 = b.gateway_metrics(port)
    rec.send_signal(signal.SIGINT)
    rec.wait(timeout=60)
    b.procs.stop(p, signal.SIGTERM, timeout=20)
    reqs = res["requests"]
    print("wrk c=%d %d s: %d requests, p50 %.3f ms, p99 %.3f ms" % (
        args.c, args.seconds, reqs, res["latency_us"]["p50"] / 1e3, res["latency_us"]["p99"] / 1e3))
    for argv in (["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso",
                  "--percent-limit", "0.5"],
                 ["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso,sym",
                  "--percent-limit", "0.4"],
                 ["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "comm",
                  "--percent-limit", "0.5"]):
        out = subprocess.run(argv, capture_output=True, timeout=300).stdout.decode(errors="replace")
        print("\n".join(l for l in out.splitlines() if l and not l.startswith("#"))[:12000])
    for comm in sorted(set(re.findall(r"gw-[a-z]+(?:-\d+)?", out))):
        out2 = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--comm",
                               comm, "--sort", "dso", "--percent-limit", "1"],
                              capture_output=True, timeout=300).stdout.decode(errors="replace")
        print("-- thread %s by object:" % comm)
        print("\n".join(l for l in out2.splitlines() if l and not l.startswith("#")))
    delta = {k: v - m0.get(k, 0) for k, v in m1.items()
             if ("presign" in k or "requests_total" in k or "tls" in k) and v != m0.get(k, 0)}
    print("metrics delta: %s" % json.dumps(delta, sort_keys=True))
    print("data: %s" % data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(bench.ROOT, "build"))
    ap.add_argument("--tool", choices=("callgrind", "perf"), default="callgrind")
    ap.add_argument("-n", type=int, default=2000, help="orders measured (callgrind)")
    ap.add_argument("-c", type=int, default=1, help="concurrency")
    ap.add_argument("--seconds", type=int, default=10, help="wrk run (perf)")
    ap.add_argument("--presign", type=int, default=0)
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--callgraph", action="store_true", help="perf record -g")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="gw-profile-")
    b = bench.Bench(a.build, d)
    b.dir = d
    try:
        b.check_tools()
        b.make_keys()
        b.start_upstream()
        if a.tool == "callgrind":
            run_callgrind(b, a)
        else:
            run_perf(b, a)
    except bench.BenchError as e:
        print("profile: %s" % e, file=sys.stderr)
        return 1
    finally:
        b.procs.stop_all()
        if a.keep:
            print("kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
