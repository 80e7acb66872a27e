"""Starting the real gateway binary for end-to-end tests.

Gateway.start(...) writes an optional JSON config, starts build/kalshi-gateway
on a free loopback port with the given environment, waits for /healthz, and
keeps its stderr in a file for assertions. stop() sends SIGTERM and returns the
exit code. Everything is cleaned up by stop() (call it in tearDown).
"""
import json
import os
import signal
import subprocess
import tempfile
import time

import harness

BUILD = os.environ.get("GW_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))


def binary():
    return os.path.join(BUILD, "kalshi-gateway")


def base_env(extra=None):
    """An environment without any of the gateway's variables, plus extra."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("GATEWAY_") or k.startswith("KALSHI_"))}
    env.update(extra or {})
    return env


def run(args, env=None, timeout=20):
    """Runs the gateway binary to completion (for --check-config and the
    like); returns (exit code, stdout, stderr)."""
    p = subprocess.run([binary()] + list(args), env=base_env(env), capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class Gateway:
    def __init__(self):
        self.proc = None
        self.port = None
        self.dir = None
        self.log_path = None

    @classmethod
    def start(cls, mock=None, keys=None, config=None, env=None, args=(), port=None,
              wait_ready=False, state_dir=None, threads=None):
        """mock: a harness.Mock (its url becomes KALSHI_UPSTREAM_URL);
        keys: (private_pem, public_pem) for KALSHI_PRIVATE_KEY_FILE;
        config: a dict written as the -c file."""
        g = cls()
        g.dir = tempfile.mkdtemp(prefix="gw-e2e-")
        g.port = port or harness.free_port()
        e = {"GATEWAY_STATE_DIR": state_dir or os.path.join(g.dir, "var")}
        if mock is not None:
            e["KALSHI_UPSTREAM_URL"] = mock.url
        if keys is not None:
            e["KALSHI_API_KEY_ID"] = "test-key-id"
            e["KALSHI_PRIVATE_KEY_FILE"] = keys[0]
        e.update(env or {})
        argv = [binary(), "--listen", "127.0.0.1:%d" % g.port]
        cfg = dict(config or {})
        if threads is not None:
            cfg.setdefault("server", {})["threads"] = threads
        if cfg:
            path = os.path.join(g.dir, "gateway.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            argv += ["-c", path]
        argv += list(args)
        g.log_path = os.path.join(g.dir, "gateway.log")
        g.log = open(g.log_path, "w")
        g.proc = subprocess.Popen(argv, env=base_env(e), stdout=g.log, stderr=subprocess.STDOUT)
        g.url = "http://127.0.0.1:%d" % g.port
        deadline = time.time() + 10
        while time.time() < deadline:
            if g.proc.poll() is not None:
                raise RuntimeError("gateway exited %d: %s" % (g.proc.returncode, g.logs()))
            try:
                st, _, _ = harness.http("GET", g.url + "/healthz", timeout=1)
                if st == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            g.stop()
            raise RuntimeError("gateway did not answer /healthz: " + g.logs())
        if wait_ready:
            g.wait_ready()
        return g

    def wait_ready(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            st, _, body = self.request("GET", "/readyz")
            if st == 200:
                return
            time.sleep(0.1)
        raise AssertionError("gateway not ready: %s" % body)

    def request(self, method, path, body=None, headers=None, timeout=15):
        """Sends one request; body may be a dict (sent as JSON) or bytes."""
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
            h.setdefault("Content-Type", "application/json")
        return harness.http(method, self.url + path, body=body, headers=h, timeout=timeout)

    def json(self, method, path, body=None, headers=None, timeout=15):
        st, hd, raw = self.request(method, path, body, headers, timeout)
        try:
            return st, hd, json.loads(raw) if raw else None
        except ValueError:
            return st, hd, raw

    def logs(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        return self.proc.returncode

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the gateway; returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("gateway did not stop within %ds" % timeout)
        try:
            self.log.close()
        except Exception:
            pass
        return self.proc.returncode


def sanitized_build():
    """Whether the build under test has AddressSanitizer (its folder name
    says so: build-address-undefined/). Long load and kill tests skip there
    or run a reduced count."""
    return "address" in os.path.basename(os.path.normpath(BUILD))


def proc_fd_count(pid):
    """Open file descriptors of process pid (entries of /proc/PID/fd)."""
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_rss_kb(pid):
    """Resident set size of process pid in KiB (VmRSS of /proc/PID/status)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def wait_stopped(pid, timeout=5.0):
    """After SIGSTOP: waits until every thread of pid is stopped (state T in
    /proc/PID/task/*/stat), since the signal takes effect asynchronously."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = []
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except OSError:
                pass  # the thread exited
        if states and all(s in ("T", "t") for s in states):
            return
        time.sleep(0.0005)
    raise AssertionError("process %d did not stop" % pid)
