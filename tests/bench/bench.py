#!/usr/bin/env python3
"""make bench: the gateway next to nginx on loopback, measured with wrk.

Everything runs on 127.0.0.1 with free ports and a temporary directory:
  upstream  a static nginx (tests/bench/upstream.conf.in) answering fixed JSON
            over HTTPS (certificate made at run time) and plain HTTP;
  direct    wrk straight to the upstream over plain HTTP (the floor);
  nginx     a second nginx instance (tests/bench/proxy.conf.in) relaying to
            the upstream over a kept-alive TLS pool (a well-built hop);
  gateway   build/kalshi-gateway with an active session, policy on,
            rate_limit.tier off, signing every request; once with
            upstream.presign_max_age_ms 100 and once with 0.
wrk (tests/bench/order.lua) POSTs a V2 order with a fresh client_order_id at
each concurrency. Per cell: requests/s, p50/p99, socket errors, non-2xx, CPU
seconds per 1000 requests of the proxy process (utime+stime from /proc) and
its peak RSS (VmHWM). Prints one table and writes BUILD/bench/bench-<UTC
time>.json and BUILD/bench/latest.json, with the machine's RSA-2048 sign
time and the target ratios.

Environment (all optional): BENCH_QUICK=1 (about a minute), BENCH_DURATION
(seconds per cell; 10, quick 2), BENCH_WARMUP (2, quick 1),
BENCH_CONCURRENCY ("1,16,128"), BENCH_BUDGET_S (total time the optional runs
may not push past; 285, quick 75), BENCH_GROWTH_S and BENCH_GROWTH_C (the
three RSS-growth runs: 10 s, quick 3, at c=128), BENCH_C1000_S (5, quick 3),
BENCH_PACE_MS and BENCH_PACED_S (a paced c=1 run per target, one order every
5 ms for 5 s, quick 2 s; 0 = skip),
BENCH_NGINX_WORKERS (1), BENCH_NGINX_KEEPALIVE (32), BENCH_UPSTREAM_WORKERS
(1), BENCH_GW_THREADS (server.threads, 0 = one per core), BENCH_UPSTREAM_H2=1
(the upstream offers HTTP/2), BENCH_KEEP=1 (keep the temporary directory). Every process started here is stopped at the
end, also on failure and Ctrl-C (each lives in its own process group; the
group ids are listed in WORKDIR/pgids for tests/bench/run.sh to reap if this
script itself is killed).
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK_TCK = os.sysconf("SC_CLK_TCK")

ORDER_PATH = "/trade-api/v2/portfolio/events/orders"
ORDER_BODY = ('{"ticker":"KXBENCH-26DEC31-A","side":"bid","count":"1.00","price":"0.5000",'
              '"time_in_force":"immediate_or_cancel",'
              '"self_trade_prevention_type":"taker_at_cross"}')
TLS_METRIC = "kalshi_gateway_upstream_tls_handshakes_total"


class BenchError(Exception):
    """A set-up step failed; the message says which and why."""


def env_int(name, default):
    v = os.environ.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise BenchError("%s must be an integer, not %r" % (name, v))


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cmd(argv, timeout=60, input_bytes=None):
    p = subprocess.run(argv, capture_output=True, timeout=timeout, input=input_bytes)
    if p.returncode != 0:
        raise BenchError("%s failed (exit %d): %s" % (" ".join(argv), p.returncode,
                                                     p.stderr.decode(errors="replace").strip()))
    return p.stdout.decode(errors="replace")


def http_req(port, method, path, body=None, timeout=10, headers=None):
    """One plain HTTP request to 127.0.0.1:port; (status, headers, body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode(errors="replace")
    finally:
        conn.close()


# ---- /proc readings ---------------------------------------------------------

def proc_stat(pid):
    """(ppid, utime+stime ticks) of a process (threads included), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[1]), int(rest[11]) + int(rest[12])


def proc_status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[0] == pid:
                out.append(int(name))
    return sorted(out)


def cpu_ticks(pids):
    total = 0
    for p in pids:
        st = proc_stat(p)
        if st:
            total += st[1]
    return total


def task_ticks(pid):
    """{thread name: utime+stime ticks} of each thread of pid (threads with
    the same name are added up)."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        key = "%s[%s]" % (name, tid)
        out[key] = int(rest[11]) + int(rest[12])
    return out


def host_cpu():
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


# ---- processes --------------------------------------------------------------

class Procs:
    """Processes started by the harness, each in its own process group."""

    def __init__(self, pgid_file):
        self.live = []
        self.pgid_file = pgid_file

    def _write(self):
        if self.pgid_file:
            with open(self.pgid_file, "w") as f:
                f.write("".join("%d\n" % p.pid for _, p in self.live))

    def start(self, name, argv, env=None, log_path=None, stdout=None):
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                 stdout=stdout if stdout is not None else out,
                                 stderr=out, start_new_session=True)
        finally:
            if log_path:
                out.close()
        self.live.append((name, p))
        self._write()
        return p

    @staticmethod
    def _group_alive(pgid):
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def stop(self, p, sig=signal.SIGTERM, timeout=15):
        """Stops p (sig, then SIGKILL after timeout) and anything left in its
        group. Returns p's exit code."""
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            except ProcessLookupError:
                pass
        if self._group_alive(p.pid):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not self._group_alive(p.pid):
                    break
                time.sleep(0.02)
        self.live = [(n, q) for n, q in self.live if q is not p]
        self._write()
        return p.returncode

    def stop_all(self):
        for _, p in reversed(list(self.live)):
            try:
                self.stop(p, timeout=5)
            except Exception as e:  # keep going: every process must go
                log("could not stop pid %d: %s" % (p.pid, e))
        if self.pgid_file:
            try:
                os.unlink(self.pgid_file)
            except OSError:
                pass


# ---- the harness ------------------------------------------------------------

class Bench:
    def __init__(self, build, workdir=None):
        self.build = os.path.abspath(build)
        self.quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
        self.duration = env_int("BENCH_DURATION", 2 if self.quick else 10)
        self.warmup = env_int("BENCH_WARMUP", 1 if self.quick else 2)
        conc = os.environ.get("BENCH_CONCURRENCY", "1,16,128")
        try:
            self.concurrency = [int(x) for x in conc.split(",") if x.strip()]
        except ValueError:
            raise BenchError("BENCH_CONCURRENCY must be a comma-separated list of integers")
        self.budget = env_int("BENCH_BUDGET_S", 75 if self.quick else 285)
        self.growth_s = env_int("BENCH_GROWTH_S", 3 if self.quick else 10)
        self.growth_c = env_int("BENCH_GROWTH_C", 128)
        self.c1000_s = env_int("BENCH_C1000_S", 3 if self.quick else 5)
        # a paced c=1 run per target: one order every BENCH_PACE_MS (wrk's
        # delay()), so the latency of an order is measured below the rate
        # one core can sign at (a closed loop at c=1 asks for more
        # signatures a second than RSA-2048 can make; see README)
        self.pace_ms = env_int("BENCH_PACE_MS", 5)
        self.paced_s = env_int("BENCH_PACED_S", 2 if self.quick else 5)
        self.paced = {}
        self.nginx_workers = env_int("BENCH_NGINX_WORKERS", 1)
        self.nginx_keepalive = env_int("BENCH_NGINX_KEEPALIVE", 32)
        self.upstream_workers = env_int("BENCH_UPSTREAM_WORKERS", 1)
        self.gw_threads = env_int("BENCH_GW_THREADS", 0)
        self.h2 = os.environ.get("BENCH_UPSTREAM_H2", "") not in ("", "0")
        self.keep = os.environ.get("BENCH_KEEP", "") not in ("", "0")
        self.ncpu = os.cpu_count() or 1
        self.workdir = workdir
        self.procs = Procs(os.path.join(workdir, "pgids") if workdir else None)
        self.t0 = time.time()
        self.dir = None
        self.cells = []
        self.failures = []
        self.extras = {}
        self.extra_cells = []   # (label, cell) of the runs outside the main grid
        self.targets = []
        self.gw_logs = {}
        self.nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
        self.wrk_bin = shutil.which("wrk") or "/usr/bin/wrk"

    def elapsed(self):
        return time.time() - self.t0

    # -- set-up --

    def check_tools(self):
        missing = [b for b in (self.nginx_bin, self.wrk_bin) if not os.access(b, os.X_OK)]
        if missing:
            raise BenchError("missing %s; run as root: apt-get update && apt-get install -y "
                             "--no-install-recommends nginx-light wrk" % ", ".join(missing))
        gw = os.path.join(self.build, "kalshi-gateway")
        if not os.access(gw, os.X_OK):
            raise BenchError("%s is missing: run make" % gw)
        self.gw_bin = gw

    def make_keys(self):
        d = self.dir
        self.cert = os.path.join(d, "upstream-cert.pem")
        self.cert_key = os.path.join(d, "upstream-key.pem")
        run_cmd(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", self.cert_key, "-out", self.cert, "-days", "2",
                 "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                 "-addext", "basicConstraints=critical,CA:TRUE"])
        self.gw_key = os.path.join(d, "kalshi-key.pem")
        run_cmd(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", self.gw_key])
        os.chmod(self.gw_key, 0o600)
        os.chmod(self.cert_key, 0o600)

    def rsa_speed(self):
        out = run_cmd(["openssl", "speed", "-seconds", "2", "rsa2048"], timeout=60)
        m = re.search(r"^rsa\s+2048 bits\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)", out, re.M)
        if not m:
            raise BenchError("cannot read 'openssl speed -seconds 2 rsa2048' output:\n" + out)
        self.rsa = {"sign_s": float(m.group(1)), "verify_s": float(m.group(2)),
                    "sign_per_s": float(m.group(3)), "verify_per_s": float(m.group(4)),
                    "line": m.group(0).strip(),
                    "command": "openssl speed -seconds 2 rsa2048"}
        log("RSA-2048 sign %.3f ms (%.0f/s)" % (self.rsa["sign_s"] * 1e3, self.rsa["sign_per_s"]))

    def limiter_cost(self):
        """The shared rate limiter's cost per admission decision
        (build/bench_ratelimit: cost lookup + try-admit with refill and the
        fairness check, over a mix of reads, creates, cancels and batches)."""
        exe = os.path.join(self.build, "bench_ratelimit")
        if not os.path.exists(exe):
            raise BenchError("%s is missing: run make" % exe)
        out = run_cmd([exe], timeout=120)
        try:
            self.limiter = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError("cannot read %s output:\n%s" % (exe, out))
        self.limiter["target_ns"] = 5000
        log("rate limiter: %.1f ns per admission decision (target < 5000 ns)"
            % self.limiter["limiter_ns_per_request"])

    def render(self, template, prefix, values):
        with open(os.path.join(HERE, template)) as f:
            text = f.read()
        values = dict(values, PREFIX=prefix)
        for k, v in values.items():
            text = text.replace("@%s@" % k, str(v))
        left = re.findall(r"@[A-Z0-9_]+@", text)
        if left:
            raise BenchError("%s: unfilled %s" % (template, ", ".join(sorted(set(left)))))
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            os.makedirs(os.path.join(prefix, sub), exist_ok=True)
        path = os.path.join(prefix, "nginx.conf")
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_nginx(self, name, template, values):
        prefix = os.path.join(self.dir, name)
        os.makedirs(prefix, exist_ok=True)
        conf = self.render(template, prefix, values)
        errlog = os.path.join(prefix, "error.log")
        out = run_cmd_rc([self.nginx_bin, "-t", "-p", prefix, "-e", errlog, "-c", conf])
        if out[0] != 0:
            raise BenchError("nginx %s: bad configuration: %s" % (name, out[1]))
        p = self.procs.start(name, [self.nginx_bin, "-p", prefix, "-e", errlog, "-c", conf],
                             log_path=os.path.join(prefix, "stderr.log"))
        return p, prefix, errlog

    def wait_port(self, port, p, what, errlog, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if p.poll() is not None:
                raise BenchError("%s exited %d: %s" % (what, p.returncode, tail(errlog, 20)))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise BenchError("%s does not listen on port %d: %s" % (what, port, tail(errlog, 20)))

    def start_upstream(self):
        self.up_https = free_port()
        self.up_http = free_port()
        p, prefix, errlog = self.start_nginx("upstream", "upstream.conf.in", {
            "WORKERS": self.upstream_workers, "CERT": self.cert, "CERTKEY": self.cert_key,
            "HTTPS_PORT": self.up_https, "HTTP_PORT": self.up_http,
            "HTTP2": " http2" if self.h2 else ""})
        self.wait_port(self.up_https, p, "upstream nginx", errlog)
        self.wait_port(self.up_http, p, "upstream nginx", errlog)
        self.upstream = p
        self.up_connlog = os.path.join(prefix, "connections.log")
        st, _, body = http_req(self.up_http, "POST", ORDER_PATH, ORDER_BODY)
        if st != 201:
            raise BenchError("upstream answered %d to an order POST: %s" % (st, body))

    def tls_connections(self, by_request=False):
        """Lines in the upstream's connection log for its HTTPS port:
        (total, resumed), or with by_request a list of "METHOD path" of each
        connection's first request."""
        total = resumed = 0
        first = []
        try:
            with open(self.up_connlog) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 5 and parts[4] == str(self.up_https):
                        total += 1
                        resumed += parts[3] == "r"
                        first.append(" ".join(parts[5:7]))
        except OSError:
            pass
        return first if by_request else (total, resumed)

    def start_proxy(self):
        self.proxy_port = free_port()
        p, prefix, errlog = self.start_nginx("proxy", "proxy.conf.in", {
            "WORKERS": self.nginx_workers, "CERT": self.cert, "KEEPALIVE": self.nginx_keepalive,
            "HTTPS_PORT": self.up_https, "PORT": self.proxy_port})
        self.wait_port(self.proxy_port, p, "proxy nginx", errlog)
        self.proxy_errlog = errlog
        st, _, body = http_req(self.proxy_port, "POST", ORDER_PATH, ORDER_BODY)
        if st != 201:
            raise BenchError("proxy nginx answered %d to an order POST: %s\n%s" %
                             (st, body, tail(errlog, 20)))
        return p

    def gateway_config(self, presign_ms):
        return {
            "log_level": "info",
            "rate_limit": {"tier": "off"},
            "upstream": {"max_connections": 32, "presign_max_age_ms": presign_ms},
            "server": {"threads": self.gw_threads},
            # policy on: the order is parsed, checked against these limits and
            # rewritten (the session's group, a client_order_id when absent)
            "limits": {"max_order_contracts": "100", "max_order_cost": "250",
                       "min_price": "0.01", "max_price": "0.99",
                       "tickers": ["KXBENCH-*"], "deny_tickers": ["KXBTC*"]},
        }

    def start_gateway(self, label, presign_ms):
        d = os.path.join(self.dir, "gateway-%s" % label)
        os.makedirs(d, exist_ok=True)
        port = free_port()
        cfg = self.gateway_config(presign_ms)
        cfg_path = os.path.join(d, "gateway.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f, indent=1)
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("GATEWAY_") or k.startswith("KALSHI_"))}
        env.update({
            "KALSHI_UPSTREAM_URL": "https://127.0.0.1:%d" % self.up_https,
            "KALSHI_API_KEY_ID": "bench",
            "KALSHI_PRIVATE_KEY_FILE": self.gw_key,
            "KALSHI_CA_FILE": self.cert,
            "GATEWAY_STATE_DIR": os.path.join(d, "var"),
            "GATEWAY_LISTEN": "127.0.0.1:%d" % port,
        })
        logp = os.path.join(d, "gateway.log")
        self.gw_logs[label] = logp
        p = self.procs.start("gateway-" + label, [self.gw_bin, "-c", cfg_path], env=env,
                             log_path=logp)
        deadline = time.time() + 10
        while True:
            if p.poll() is not None:
                raise BenchError("gateway (%s) exited %d at start:\n%s" %
                                 (label, p.returncode, tail(logp, 30)))
            try:
                if http_req(port, "GET", "/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise BenchError("gateway (%s) does not answer /healthz:\n%s" % (label, tail(logp, 30)))
            time.sleep(0.05)
        deadline = time.time() + 20
        while True:
            st, _, body = http_req(port, "GET", "/readyz")
            if st == 200:
                break
            if time.time() > deadline or p.poll() is not None:
                raise BenchError("gateway (%s) not ready: %d %s\n%s" % (label, st, body, tail(logp, 30)))
            time.sleep(0.1)
        st, _, body = http_req(port, "POST", "/session/start", '{"contracts_limit": 1000000}')
        if st != 201:
            raise BenchError("gateway (%s): POST /session/start answered %d: %s\n%s" %
                             (label, st, body, tail(logp, 30)))
        st, hd, body = http_req(port, "POST", ORDER_PATH, ORDER_BODY)
        if st != 201:
            raise BenchError("gateway (%s): a single order POST answered %d: %s\n%s" %
                             (label, st, body, tail(logp, 30)))
        return p, port, cfg

    def gateway_metrics(self, port):
        try:
            st, _, body = http_req(port, "GET", "/metrics", timeout=5)
        except OSError as e:
            return {"_error": str(e)}
        if st != 200:
            return {"_error": "GET /metrics answered %d" % st}
        out = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                parts = line.rsplit(None, 1)
                if len(parts) == 2:
                    try:
                        out[parts[0]] = float(parts[1])
                    except ValueError:
                        pass
        return out

    # -- measurement --

    def wrk(self, port, c, seconds, capture=False, pace_ms=0):
        threads = max(1, min(c, self.ncpu))
        argv = [self.wrk_bin, "-t%d" % threads, "-c%d" % c, "-d%ds" % seconds,
                "--timeout", "5s", "-s", os.path.join(HERE, "order.lua"),
                "http://127.0.0.1:%d%s" % (port, ORDER_PATH)]
        env = dict(os.environ)
        env["BENCH_CAPTURE"] = "1" if capture else "0"
        env["BENCH_PACE_MS"] = str(pace_ms)
        outp = os.path.join(self.dir, "wrk.out")
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(outp, "wb") as out:
            p = self.procs.start("wrk", argv, env=env, log_path=outp + ".err", stdout=out)
            try:
                p.wait(timeout=seconds + 30)
            except subprocess.TimeoutExpired:
                self.procs.stop(p, signal.SIGKILL)
                raise BenchError("wrk did not finish: %s" % " ".join(argv))
            self.procs.stop(p)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(outp) as f:
            text = f.read()
        m = re.search(r"^BENCH_RESULT (\{.*\})$", text, re.M)
        if p.returncode != 0 or not m:
            raise BenchError("wrk failed (exit %s): %s\n%s%s" % (p.returncode, " ".join(argv), text,
                                                                tail(outp + ".err", 20)))
        res = json.loads(m.group(1))
        res["threads"] = threads
        res["wrk_cpu_s"] = round((ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime), 3)
        res["wrk_text"] = text[:m.start()].strip()
        return res

    def measure(self, target, port, c, seconds, pids_fn, gw_port=None, record=True, pace_ms=0):
        """One cell: wrk at concurrency c against port; CPU and RSS of the
        processes pids_fn() returns (the proxy), plus the upstream's."""
        pids = pids_fn()
        up_pids = self.nginx_workers_of(self.upstream)
        cpu0, up0, host0 = cpu_ticks(pids), cpu_ticks(up_pids), host_cpu()
        tls0 = self.tls_connections()
        m0 = self.gateway_metrics(gw_port) if gw_port else None
        tasks0 = task_ticks(pids[0]) if gw_port and pids else {}
        res = self.wrk(port, c, seconds, pace_ms=pace_ms)
        tasks1 = task_ticks(pids[0]) if gw_port and pids else {}
        cpu1, up1, host1 = cpu_ticks(pids), cpu_ticks(up_pids), host_cpu()
        tls1 = self.tls_connections()
        m1 = self.gateway_metrics(gw_port) if gw_port else None
        reqs = res["requests"]
        dur = res["duration_us"] / 1e6
        e = res["errors"]
        cell = {
            "target": target, "concurrency": c, "threads": res["threads"], "pace_ms": pace_ms,
            "duration_s": round(dur, 3), "requests": reqs,
            "rps": round(reqs / dur, 1) if dur > 0 else 0,
            "latency_us": res["latency_us"],
            "errors": e,
            "socket_errors": e["connect"] + e["read"] + e["write"] + e["timeout"],
            "non_2xx": e["status"],
            "proxy_pids": pids,
            "proxy_cpu_s": None, "proxy_cpu_s_per_1k": None,
            "upstream_cpu_s": round((up1 - up0) / CLK_TCK, 3),
            "upstream_cpu_s_per_1k": round((up1 - up0) / CLK_TCK / (reqs / 1000.0), 5) if reqs else None,
            "host_cpu_busy_pct": round(100.0 * (host1[0] - host0[0]) / max(1, host1[1] - host0[1]), 1),
            "wrk_cpu_s": res["wrk_cpu_s"],
            # CPU used by anything outside this benchmark (other tenants):
            # busy minus proxy, upstream and wrk, as % of all CPUs
            "other_cpu_pct": round(100.0 * max(0, (host1[0] - host0[0]) - (cpu1 - cpu0) - (up1 - up0)
                                               - res["wrk_cpu_s"] * CLK_TCK)
                                   / max(1, host1[1] - host0[1]), 1),
            "upstream_tls_connections": tls1[0] - tls0[0],  # new TLS connections the upstream saw
            "upstream_tls_resumed": tls1[1] - tls0[1],
            "peak_rss_kb": None, "rss_kb": None,
        }
        if pids:
            cell["proxy_cpu_s"] = round((cpu1 - cpu0) / CLK_TCK, 3)
            if reqs:
                cell["proxy_cpu_s_per_1k"] = round(cell["proxy_cpu_s"] / (reqs / 1000.0), 5)
            hwm = [proc_status_kb(p, "VmHWM") for p in pids]
            rss = [proc_status_kb(p, "VmRSS") for p in pids]
            cell["peak_rss_kb"] = sum(x for x in hwm if x)
            cell["rss_kb"] = sum(x for x in rss if x)
        if m0 is not None and m1 is not None:
            cell["gateway_metrics_delta"] = {
                k: m1[k] - m0.get(k, 0) for k in m1
                if k.startswith("kalshi_gateway_") and "_bucket" not in k and m1[k] != m0.get(k, 0)}
        if tasks1:
            # CPU seconds of each gateway thread in this cell: shows whether
            # the work is spread over the event loops
            cell["gateway_thread_cpu_s"] = {
                k: round((v - tasks0.get(k, 0)) / CLK_TCK, 2) for k, v in sorted(tasks1.items())
                if v - tasks0.get(k, 0) > 0}
        if cell["socket_errors"] or cell["non_2xx"]:
            self.diagnose(cell, port, c)
        if record:
            self.cells.append(cell)
        log("%-18s c=%-4d %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  sock err %d  non-2xx %d  "
            "CPU %s s/1k  [%.0fs]" % (
                target, c, cell["rps"], cell["latency_us"]["p50"] / 1e3,
                cell["latency_us"]["p99"] / 1e3, cell["socket_errors"], cell["non_2xx"],
                fmt(cell["proxy_cpu_s_per_1k"], "%.4f"), self.elapsed()))
        return cell

    def diagnose(self, cell, port, c):
        """After a cell with errors: a short run that records the failing
        answers, and the tail of the proxy's log. Reports; changes nothing."""
        f = {"target": cell["target"], "concurrency": c, "socket_errors": cell["socket_errors"],
             "errors": cell["errors"], "non_2xx": cell["non_2xx"], "requests": cell["requests"]}
        try:
            d = self.wrk(port, c, 1, capture=True)
            f["diagnostic_run"] = {"requests": d["requests"], "errors": d["errors"],
                                   "samples": d.get("samples", [])}
        except BenchError as e:
            f["diagnostic_run"] = {"error": str(e)}
        t = cell["target"]
        if t.startswith("gateway"):
            label = t.split(" ", 1)[1] if " " in t else t
            logp = self.gw_logs.get(label)
            if logp:
                f["log_excerpt"], f["log_request_statuses"] = gateway_log_excerpt(logp, 30)
        elif t.startswith("nginx"):
            f["log_tail"] = tail(self.proxy_errlog, 40)
        cell["failure"] = f
        self.failures.append(f)

    @staticmethod
    def nginx_workers_of(p):
        return children_of(p.pid)

    def remaining_cost(self, targets_left):
        per_cell = self.duration + 1.5
        return targets_left * (len(self.concurrency) * per_cell + self.warmup + 4)

    def allowed(self, cost, targets_left, what):
        need = self.elapsed() + cost + self.remaining_cost(targets_left) + 5
        if need > self.budget:
            log("skipping %s: %.0f s would end at %.0f s, over the %d s budget" %
                (what, cost, need, self.budget))
            return False
        return True

    # -- the run --

    def run(self):
        self.check_tools()
        with open("/proc/loadavg") as f:
            self.loadavg_start = f.read().split()[:3]
        if float(self.loadavg_start[0]) > 0.5 * self.ncpu:
            log("warning: load average %s on %d CPUs before starting: other work will disturb "
                "the numbers (see the 'other' column)" % (self.loadavg_start[0], self.ncpu))
        self.dir = self.workdir or tempfile.mkdtemp(prefix="gw-bench-")
        log("temporary directory %s (%s)" % (self.dir, "kept" if self.keep else "removed at the end"))
        self.make_keys()
        self.rsa_speed()
        self.limiter_cost()
        self.start_upstream()
        log("upstream nginx: https %d, http %d%s" % (self.up_https, self.up_http,
                                                     " (HTTP/2 offered)" if self.h2 else ""))
        # 1. direct
        self.targets.append({"name": "direct", "what": "wrk -> upstream nginx over plain HTTP",
                             "port": self.up_http})
        self.wrk(self.up_http, 16, self.warmup)
        for c in self.concurrency:
            self.measure("direct", self.up_http, c, self.duration, lambda: [])
        self.measure_paced("direct", self.up_http, lambda: [])
        # 2. nginx proxy
        proxy = self.start_proxy()
        self.targets.append({"name": "nginx", "port": self.proxy_port,
                             "what": "nginx reverse proxy, keep-alive TLS pool (keepalive %d)"
                             % self.nginx_keepalive,
                             "workers": self.nginx_workers})
        tls_before = self.tls_connections()
        self.wrk(self.proxy_port, 16, self.warmup)
        pids = lambda: self.nginx_workers_of(proxy)
        for c in self.concurrency:
            self.measure("nginx", self.proxy_port, c, self.duration, pids)
        self.measure_paced("nginx", self.proxy_port, pids)
        tls_after = self.tls_connections()
        self.targets[-1]["upstream_tls_connections"] = tls_after[0] - tls_before[0]
        self.targets[-1]["upstream_tls_resumed"] = tls_after[1] - tls_before[1]
        if self.allowed(self.c1000_s + 2, 2, "nginx at c=1000"):
            cell = self.measure("nginx", self.proxy_port, 1000, self.c1000_s, pids, record=False)
            self.extras["nginx_c1000"] = cell
            self.extra_cells.append(("nginx (%d s)" % self.c1000_s, cell))
        self.procs.stop(proxy, signal.SIGQUIT)
        # 3. gateway, with and without pre-signing
        for i, (label, presign) in enumerate((("presign=100ms", 100), ("presign=off", 0))):
            self.run_gateway(label, presign, extras=(i == 0), targets_left=1 - i)
        self.report()

    def run_gateway(self, label, presign, extras, targets_left):
        name = "gateway %s" % label
        tls_before = self.tls_connections()
        first_before = len(self.tls_connections(by_request=True))
        t = {"name": name, "presign_max_age_ms": presign}
        self.targets.append(t)
        try:
            gw, port, cfg = self.start_gateway(label, presign)
        except BenchError as e:
            t["error"] = str(e)
            self.failures.append({"target": name, "error": str(e)})
            log(str(e))
            return
        t.update({"port": port, "config": cfg, "pid": gw.pid,
                  "what": "kalshi-gateway, active session, policy on, rate_limit off, signing"})
        t["upstream_tls_connections_at_start"] = self.tls_connections()[0] - tls_before[0]
        t["metrics_at_start"] = self.gateway_metrics(port)
        self.wrk(port, 16, self.warmup)
        pids = lambda: [gw.pid] if gw.poll() is None else []
        for c in self.concurrency:
            if gw.poll() is not None:
                msg = "gateway (%s) exited %s before c=%d:\n%s" % (
                    label, gw.returncode, c, gateway_log_excerpt(self.gw_logs[label], 40)[0])
                self.failures.append({"target": name, "concurrency": c, "error": msg})
                log(msg)
                break
            try:
                self.measure(name, port, c, self.duration, pids, gw_port=port)
            except BenchError as e:
                msg = "%s c=%d: %s\n%s" % (name, c, e, gateway_log_excerpt(self.gw_logs[label], 30)[0])
                self.failures.append({"target": name, "concurrency": c, "error": msg})
                log(msg)
        if gw.poll() is None:
            self.measure_paced(name, port, pids, gw_port=port)
        if extras and gw.poll() is None:
            if self.allowed(3 * (self.growth_s + 1), targets_left, "the RSS growth runs"):
                runs = []
                for k in range(3):
                    cell = self.measure(name, port, self.growth_c, self.growth_s, pids,
                                        gw_port=port, record=False)
                    self.extra_cells.append(("%s run %d/3" % (label, k + 1), cell))
                    runs.append({"run": k + 1, "requests": cell["requests"],
                                 "rss_kb": cell["rss_kb"], "peak_rss_kb": cell["peak_rss_kb"],
                                 "rps": cell["rps"], "socket_errors": cell["socket_errors"],
                                 "non_2xx": cell["non_2xx"]})
                self.extras["gateway_rss_growth"] = {
                    "target": name, "concurrency": self.growth_c, "seconds_each": self.growth_s,
                    "runs": runs,
                    "growth_kb": (runs[2]["rss_kb"] - runs[0]["rss_kb"])
                    if runs[0]["rss_kb"] is not None and runs[2]["rss_kb"] is not None else None}
            if self.allowed(self.c1000_s + 2, targets_left, "gateway at c=1000"):
                cell = self.measure(name, port, 1000, self.c1000_s, pids, gw_port=port, record=False)
                self.extras["gateway_c1000"] = cell
                self.extra_cells.append(("%s (%d s)" % (label, self.c1000_s), cell))
        m = self.gateway_metrics(port) if gw.poll() is None else {}
        t["metrics_at_end"] = m
        t["upstream_tls_connections"] = self.tls_connections()[0] - tls_before[0]
        t["upstream_tls_resumed"] = self.tls_connections()[1] - tls_before[1]
        # what each new upstream connection was opened for (its first request)
        by = {}
        for r in self.tls_connections(by_request=True)[first_before:]:
            by[r] = by.get(r, 0) + 1
        t["upstream_tls_connections_by_first_request"] = by
        t["tls_handshakes_metric"] = m.get(TLS_METRIC)
        hit, miss = (m.get('kalshi_gateway_presign_total{result="hit"}'),
                     m.get('kalshi_gateway_presign_total{result="miss"}'))
        t["presign_metric"] = {"hit": hit, "miss": miss}
        if presign and hit is not None:
            t["presign_used"] = hit > 0
        t["peak_rss_kb"] = proc_status_kb(gw.pid, "VmHWM")
        t["threads"] = len(os.listdir("/proc/%d/task" % gw.pid)) if gw.poll() is None else None
        was_alive = gw.poll() is None
        rc = self.procs.stop(gw, signal.SIGTERM, timeout=20)
        t["exit_code"] = rc
        if was_alive and rc != 0:
            self.failures.append({"target": name, "error": "gateway exited %s on SIGTERM" % rc,
                                  "log_tail": tail(self.gw_logs[label], 20)})
        t["log_excerpt"], t["log_request_statuses"] = gateway_log_excerpt(self.gw_logs[label], 15)

    # -- report --

    def measure_paced(self, target, port, pids_fn, gw_port=None):
        if self.pace_ms <= 0 or self.paced_s <= 0:
            return
        try:
            cell = self.measure(target, port, 1, self.paced_s, pids_fn, gw_port=gw_port,
                                record=False, pace_ms=self.pace_ms)
        except BenchError as e:
            log("%s paced c=1: %s" % (target, e))
            return
        self.paced[target] = cell
        self.extra_cells.append(("%s paced 1/%dms" % (target.replace("gateway ", ""), self.pace_ms),
                                 cell))

    def cell(self, target, c):
        for x in self.cells:
            if x["target"] == target and x["concurrency"] == c:
                return x
        return None

    def ratios(self):
        out = {}
        sign = self.rsa["sign_s"]
        gws = [t["name"] for t in self.targets if t["name"].startswith("gateway")]
        c1 = 1 if 1 in self.concurrency else self.concurrency[0]
        d, n = self.cell("direct", c1), self.cell("nginx", c1)
        for g in gws:
            r = {}
            gc = self.cell(g, c1)
            if d and n and gc:
                added_n = n["latency_us"]["p50"] - d["latency_us"]["p50"]
                added_g = gc["latency_us"]["p50"] - d["latency_us"]["p50"]
                r["latency_added_p50_c%d" % c1] = {
                    "gateway_us": added_g, "nginx_us": added_n,
                    "ratio": round(added_g / added_n, 2) if added_n > 0 else None}
            dp, np_, gp = self.paced.get("direct"), self.paced.get("nginx"), self.paced.get(g)
            if dp and np_ and gp:
                added_n = np_["latency_us"]["p50"] - dp["latency_us"]["p50"]
                added_g = gp["latency_us"]["p50"] - dp["latency_us"]["p50"]
                r["latency_added_p50_c1_paced"] = {
                    "pace_ms": self.pace_ms, "gateway_us": added_g, "nginx_us": added_n,
                    "ratio": round(added_g / added_n, 2) if added_n > 0 else None}
            cpu = {}
            for c in self.concurrency:
                gc, nc = self.cell(g, c), self.cell("nginx", c)
                if gc and nc and gc["proxy_cpu_s_per_1k"] is not None and nc["proxy_cpu_s_per_1k"]:
                    g_us = gc["proxy_cpu_s_per_1k"] * 1e3
                    n_us = nc["proxy_cpu_s_per_1k"] * 1e3
                    cpu["c%d" % c] = {"gateway_us_per_req": round(g_us, 1),
                                      "rsa_sign_us": round(sign * 1e6, 1),
                                      "gateway_minus_sign_us": round(g_us - sign * 1e6, 1),
                                      "nginx_us_per_req": round(n_us, 1),
                                      "ratio": round((g_us - sign * 1e6) / n_us, 2)}
            r["cpu_per_request_minus_sign_vs_nginx"] = cpu
            mine = [x for x in self.cells if x["target"] == g]
            r["errors"] = {"socket_errors": sum(x["socket_errors"] for x in mine),
                           "non_2xx": sum(x["non_2xx"] for x in mine),
                           "requests": sum(x["requests"] for x in mine)}
            t = next(x for x in self.targets if x["name"] == g)
            big = self.cell(g, max(self.concurrency))
            by = t.get("upstream_tls_connections_by_first_request") or {}
            r["upstream_tls_handshakes"] = {
                "gateway_metric": t.get("tls_handshakes_metric") if t.get("tls_handshakes_metric") is not None else "n/a",
                "seen_by_upstream": t.get("upstream_tls_connections"),
                "seen_by_upstream_resumed": t.get("upstream_tls_resumed"),
                # the target: no more than upstream.max_connections over the
                # c=max run; the background threads (readiness probe,
                # sessions worker) keep one connection each besides
                "max_connections": (t.get("config") or {}).get("upstream", {}).get("max_connections"),
                "in_c%d_cell" % max(self.concurrency):
                    (big or {}).get("gateway_metrics_delta", {}).get(TLS_METRIC, 0) if big else None,
                "opened_for_orders": sum(v for k, v in by.items() if k.startswith("POST ") and "/orders" in k)}
            out[g] = r
        cmax = max(self.concurrency)
        out["p99_over_p50_c%d" % cmax] = {
            x["target"]: round(x["latency_us"]["p99"] / max(1, x["latency_us"]["p50"]), 2)
            for x in self.cells if x["concurrency"] == cmax}
        nt = next((x for x in self.targets if x["name"] == "nginx"), {})
        out["nginx_upstream_tls_handshakes_seen_by_upstream"] = nt.get("upstream_tls_connections")
        for k in ("nginx_c1000", "gateway_c1000"):
            x = self.extras.get(k)
            out["peak_rss_kb_" + k] = x["peak_rss_kb"] if x else "skipped"
            if x:
                out["errors_" + k] = {"socket_errors": x["socket_errors"], "non_2xx": x["non_2xx"],
                                      "requests": x["requests"]}
        g = self.extras.get("gateway_rss_growth")
        out["gateway_rss_growth_kb_3_runs"] = (
            {"rss_kb": [r["rss_kb"] for r in g["runs"]], "growth_kb": g["growth_kb"],
             "seconds_each": g["seconds_each"], "concurrency": g["concurrency"],
             "requests": [r["requests"] for r in g["runs"]]} if g else "skipped")
        return out

    def table(self):
        rows = []
        hdr = ("%-24s %5s %9s %9s %9s %8s %8s %9s %9s %6s %9s %6s" %
               ("target", "c", "req/s", "p50 ms", "p99 ms", "sock err", "non-2xx",
                "CPU s/1k", "upst s/1k", "up TLS", "peak RSS", "other"))
        rows.append(hdr)
        rows.append("-" * len(hdr))
        prev = None
        listing = [(x["target"], x) for x in self.cells]
        if self.extra_cells:
            listing.append(("--- extra runs", None))
            listing += self.extra_cells
        for name, x in listing:
            if prev and prev != name.split(" run ")[0]:
                rows.append("")
            prev = name.split(" run ")[0]
            if x is None:
                rows.append(name + " (RSS growth: %d s each at c=%d, current RSS in the summary; c=1000: "
                            "1000 client connections)" % (self.growth_s, self.growth_c))
                continue
            rows.append("%-24s %5d %9.0f %9.3f %9.3f %8d %8d %9s %9s %6d %9s %5.0f%%" % (
                name[:24], x["concurrency"], x["rps"], x["latency_us"]["p50"] / 1e3,
                x["latency_us"]["p99"] / 1e3, x["socket_errors"], x["non_2xx"],
                fmt(x["proxy_cpu_s_per_1k"], "%.4f"), fmt(x["upstream_cpu_s_per_1k"], "%.4f"),
                x["upstream_tls_connections"], fmt_kb(x["peak_rss_kb"]), x["other_cpu_pct"]))
        rows.append("")
        rows.append("CPU s/1k: CPU seconds per 1000 requests of the proxy process (nginx: its "
                    "workers; gateway: all threads); upst s/1k: the same for the upstream nginx;")
        rows.append("up TLS: new TLS connections the upstream saw during the cell; peak RSS: "
                    "VmHWM of the proxy process;")
        rows.append("other: CPU used outside the benchmark during the cell (%% of %d CPUs; "
                    "above a few %% the cell is disturbed)." % self.ncpu)
        return "\n".join(rows)

    def summary_lines(self, r):
        L = []
        L.append("RSA-2048 sign (openssl speed -seconds 2 rsa2048): %.1f us (%.0f/s)" %
                 (self.rsa["sign_s"] * 1e6, self.rsa["sign_per_s"]))
        L.append("rate limiter cost per request (build/bench_ratelimit): %.3f us (target < 5 us: %s)"
                 % (self.limiter["limiter_ns_per_request"] / 1000.0,
                    "met" if self.limiter["limiter_ns_per_request"] < 5000 else "MISSED"))
        for g in [t["name"] for t in self.targets if t["name"].startswith("gateway")]:
            if g not in r:
                continue
            x = r[g]
            L.append("%s:" % g)
            for k, v in x.items():
                if k.startswith("latency_added"):
                    L.append("  %s: gateway +%.0f us vs nginx +%.0f us over direct -> ratio %s" % (
                        k, v["gateway_us"], v["nginx_us"], fmt(v["ratio"], "%.2f")))
            for c, v in x["cpu_per_request_minus_sign_vs_nginx"].items():
                L.append("  CPU/request %s: gateway %.1f us - sign %.1f us = %.1f us vs nginx %.1f us"
                         " -> ratio %.2f" % (c, v["gateway_us_per_req"], v["rsa_sign_us"],
                                              v["gateway_minus_sign_us"], v["nginx_us_per_req"],
                                              v["ratio"]))
            t = next(y for y in self.targets if y["name"] == g)
            pm = t.get("presign_metric") or {}
            if t.get("presign_max_age_ms"):
                if pm.get("hit") is None:
                    L.append("  pre-signing: no kalshi_gateway_presign_total metric; cannot tell if used")
                else:
                    L.append("  pre-signing: %d hits, %d misses (kalshi_gateway_presign_total)%s" % (
                        pm["hit"], pm["miss"] or 0,
                        "" if pm["hit"] else " -> NOT USED: this row measures signing at dispatch"))
            e = x["errors"]
            L.append("  errors: %d socket, %d non-2xx in %d requests" % (
                e["socket_errors"], e["non_2xx"], e["requests"]))
            h = x["upstream_tls_handshakes"]
            L.append("  upstream TLS handshakes: %s (gateway metric), %s new connections seen by the"
                     " upstream (%s resumed)" % (h["gateway_metric"], h["seen_by_upstream"],
                                                  h["seen_by_upstream_resumed"]))
            ck = [k for k in h if k.startswith("in_c")]
            if ck:
                L.append("    %s during the %s run, %s opened for orders; upstream.max_connections %s"
                         % (h[ck[0]], ck[0][3:].replace("_cell", ""), h["opened_for_orders"],
                            h["max_connections"]))
            by = t.get("upstream_tls_connections_by_first_request") or {}
            if by:
                L.append("    opened for: " + ", ".join(
                    "%s x%d" % (k, v) for k, v in sorted(by.items(), key=lambda kv: -kv[1])[:5]))
        L.append("nginx: %s new upstream TLS connections seen by the upstream" %
                 r.get("nginx_upstream_tls_handshakes_seen_by_upstream"))
        k = [k for k in r if k.startswith("p99_over_p50")][0]
        L.append("%s: %s" % (k, ", ".join("%s %.2f" % (t, v) for t, v in r[k].items())))
        for k in ("nginx_c1000", "gateway_c1000"):
            v = r["peak_rss_kb_" + k]
            e = r.get("errors_" + k)
            L.append("peak RSS at c=1000 (%s): %s%s" % (
                k.split("_")[0], fmt_kb(v) if isinstance(v, int) else v,
                "  (%d requests, %d socket errors, %d non-2xx)" % (
                    e["requests"], e["socket_errors"], e["non_2xx"]) if e else ""))
        g = r["gateway_rss_growth_kb_3_runs"]
        if isinstance(g, dict):
            L.append("gateway RSS over 3 x %d s at c=%d: %s -> growth %s" % (
                g["seconds_each"], g["concurrency"], " / ".join(fmt_kb(v) for v in g["rss_kb"]),
                fmt_kb(g["growth_kb"])))
        else:
            L.append("gateway RSS growth: %s" % g)
        return L

    def report(self):
        r = self.ratios()
        table = self.table()
        lines = self.summary_lines(r)
        if self.failures:
            lines.append("FAILURES (%d): see 'failures' in the JSON" % len(self.failures))
            for f in self.failures:
                lines.append("  %s c=%s: %s" % (f.get("target"), f.get("concurrency", "-"),
                                               short_failure(f)))
        now = datetime.datetime.now(datetime.timezone.utc)
        doc = {
            "schema": "kalshi-gateway-bench/1",
            "started_at": datetime.datetime.fromtimestamp(self.t0, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "elapsed_s": round(self.elapsed(), 1),
            "quick": self.quick,
            "settings": {"duration_s": self.duration, "warmup_s": self.warmup,
                         "concurrency": self.concurrency, "nginx_workers": self.nginx_workers,
                         "nginx_keepalive": self.nginx_keepalive,
                         "upstream_workers": self.upstream_workers,
                         "gateway_threads": self.gw_threads, "upstream_http2": self.h2,
                         "growth_s": self.growth_s, "growth_c": self.growth_c,
                         "c1000_s": self.c1000_s, "budget_s": self.budget,
                         "order_path": ORDER_PATH, "order_body_without_client_order_id": ORDER_BODY,
                         "notes": ["latency from wrk (us), no coordinated-omission correction",
                                   "non_2xx is wrk's status error count (status >= 400)",
                                   "CPU: utime+stime from /proc/PID/stat of the proxy process "
                                   "(nginx: its worker processes; gateway: its PID, all threads)",
                                   "peak RSS: VmHWM of the same processes (kB)"]},
            "machine": dict(machine_info(), loadavg_at_start=self.loadavg_start),
            "versions": self.versions(),
            "rsa2048": self.rsa,
            "rate_limiter": self.limiter,
            "targets": self.targets,
            "cells": self.cells,
            "extras": self.extras,
            "ratios": r,
            "failures": self.failures,
            "table": table,
            "summary": lines,
        }
        outdir = os.path.join(self.build, "bench")
        os.makedirs(outdir, exist_ok=True)
        path = os.path.join(outdir, "bench-%s.json" % now.strftime("%Y%m%dT%H%M%SZ"))
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
        shutil.copyfile(path, os.path.join(outdir, "latest.json"))
        print()
        print("kalshi-gateway benchmark (%s, %d s per cell, %d CPUs; %s)" % (
            "quick" if self.quick else "full", self.duration, self.ncpu,
            doc["machine"].get("cpu_model", "?")))
        print(table)
        print()
        for line in lines:
            print(line)
        print()
        print("written %s and %s/latest.json in %.0f s" % (path, outdir, self.elapsed()))
        self.failed = bool(self.failures)

    def versions(self):
        v = {}
        for name, argv in (("nginx", [self.nginx_bin, "-v"]), ("wrk", [self.wrk_bin, "-v"]),
                           ("openssl", ["openssl", "version"]),
                           ("gateway", [self.gw_bin, "--version"])):
            try:
                p = subprocess.run(argv, capture_output=True, timeout=10)
                v[name] = (p.stdout + p.stderr).decode(errors="replace").strip().splitlines()[0]
            except Exception as e:
                v[name] = "unknown (%s)" % e
        try:
            rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, timeout=10).stdout.decode().strip()
            dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--",
                                    "gateway", "policy", "upstream", "conf"],
                                   capture_output=True, timeout=10).stdout.decode().strip()
            v["git"] = rev + ("-dirty" if dirty else "")
        except Exception:
            pass
        return v

    def cleanup(self):
        self.procs.stop_all()
        if self.dir and not self.keep and not self.workdir:
            shutil.rmtree(self.dir, ignore_errors=True)


def run_cmd_rc(argv):
    p = subprocess.run(argv, capture_output=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


REQ_LINE = re.compile(r"\s(GET|POST|PUT|DELETE|PATCH|HEAD) \S+ (\d{3}) ")


def gateway_log_excerpt(path, n):
    """The last n lines of a gateway log that are not 2xx request lines, and
    the count of request lines per status."""
    keep, counts = [], {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = REQ_LINE.search(line)
                if m:
                    counts[m.group(2)] = counts.get(m.group(2), 0) + 1
                    if m.group(2).startswith("2"):
                        continue
                keep.append(line)
                if len(keep) > 4 * n:
                    del keep[:-n]
    except OSError:
        pass
    return "".join(keep[-n:]), counts


def fmt(v, f):
    return "-" if v is None else f % v


def fmt_kb(v):
    if v is None:
        return "-"
    return "%.1f MB" % (v / 1024.0)


def short_failure(f):
    if "error" in f:
        return f["error"].splitlines()[0]
    d = f.get("diagnostic_run", {})
    return "%d socket errors %s, %d non-2xx of %d requests; samples: %s" % (
        f["socket_errors"], f["errors"], f["non_2xx"], f["requests"],
        "; ".join(d.get("samples", [])[:2]) or d.get("error", "none captured"))


def machine_info():
    m = {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    m["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            m["mem_total_kb"] = int(f.readline().split()[1])
    except OSError:
        pass
    try:
        with open("/etc/debian_version") as f:
            m["debian"] = f.read().strip()
    except OSError:
        pass
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--workdir", default=None,
                    help="an empty directory to work in (default: a new temporary one); "
                         "the ids of the process groups started go to WORKDIR/pgids")
    a = ap.parse_args()

    def on_signal(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    # SIGINT too: a shell that starts us in the background leaves it ignored,
    # and Python then would not raise KeyboardInterrupt
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    b = None
    rc = 0
    try:
        b = Bench(a.build, a.workdir)
        b.run()
        if b.failed:
            log("the run had failures (listed above and in the JSON)")
            rc = 1
    except BenchError as e:
        log("error: %s" % e)
        rc = 1
    except KeyboardInterrupt:
        log("interrupted; stopping everything")
        rc = 130
    finally:
        if b is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            b.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
