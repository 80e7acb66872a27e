"""Shared helpers for the end-to-end tests (standard library only).

- free_port(): a TCP port that was free a moment ago on 127.0.0.1.
- gen_keypair(dir), gen_cert(dir): RSA key pair and a self-signed certificate
  for 127.0.0.1/localhost, made with the openssl command line at run time
  (no key is ever committed).
- sign(), verify(), signed_headers(): Kalshi request signing (RSA-PSS,
  SHA-256, MGF1 SHA-256, salt length = digest) through the openssl command
  line, so the C code is checked by an independent implementation.
- http(): one raw HTTP(S) request; the request target is sent exactly as
  given (no normalisation or re-encoding); never raises on 4xx/5xx.
- Mock: starts build/mock-exchange on a free port, drives its /_mock/
  control API and stops it (SIGTERM; asserts exit 0 and no sanitizer report).

The build folder comes from GW_BUILD (default: <repo>/build).
"""
import base64
import http.client as httpclient
import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "SUMMARY: UndefinedBehaviorSanitizer",
    "WARNING: ThreadSanitizer",
)


def gw_build():
    """The build folder under test: $GW_BUILD or <repo>/build."""
    return os.environ.get("GW_BUILD") or os.path.join(ROOT, "build")


def free_port():
    """Returns a TCP port on 127.0.0.1 that was free when checked."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms():
    """Current Unix time in milliseconds."""
    return int(time.time() * 1000)


def _openssl(args, data=None):
    """Runs the openssl CLI; returns stdout bytes; raises on failure."""
    res = subprocess.run(["openssl"] + args, input=data, capture_output=True)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), res.stderr.decode(errors="replace")))
    return res.stdout


def _unique(dirpath, stem, ext):
    """A file name in dirpath that does not exist yet."""
    n = 0
    while True:
        name = os.path.join(dirpath, "%s%s%s" % (stem, "" if n == 0 else "-%d" % n, ext))
        if not os.path.exists(name):
            return name
        n += 1


def gen_keypair(dirpath):
    """Generates a 2048-bit RSA key pair in dirpath.

    Returns (private key path, PKCS#8 PEM; public key path, SubjectPublicKeyInfo PEM).
    """
    priv = _unique(dirpath, "kalshi-key", ".pem")
    pub = priv[:-4] + ".pub.pem"
    _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", priv])
    os.chmod(priv, 0o600)
    _openssl(["pkey", "-in", priv, "-pubout", "-out", pub])
    return priv, pub


def gen_cert(dirpath):
    """Generates a self-signed certificate for 127.0.0.1 and localhost.

    Returns (certificate PEM path, private key PEM path).
    """
    cert = _unique(dirpath, "tls-cert", ".pem")
    key = os.path.join(dirpath, os.path.basename(cert).replace("tls-cert", "tls-key", 1))
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
              "-days", "2", "-subj", "/CN=localhost",
              "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
              "-addext", "basicConstraints=critical,CA:TRUE"])
    os.chmod(key, 0o600)
    return cert, key


def sign(priv_pem, ts_ms, method, path, saltlen="digest"):
    """Kalshi signature (standard base64) of str(ts_ms) + method + path.

    saltlen is passed to openssl's rsa_pss_saltlen ("digest" is Kalshi's;
    "max" makes a signature Kalshi refuses).
    """
    msg = ("%s%s%s" % (ts_ms, method, path)).encode()
    sig = _openssl(["dgst", "-sha256", "-sign", priv_pem,
                    "-sigopt", "rsa_padding_mode:pss",
                    "-sigopt", "rsa_pss_saltlen:%s" % saltlen,
                    "-sigopt", "rsa_mgf1_md:sha256"], msg)
    return base64.b64encode(sig).decode()


def verify(pub_pem, ts_ms, method, path, sig_b64):
    """True when sig_b64 is a valid Kalshi signature (salt = digest length)."""
    msg = ("%s%s%s" % (ts_ms, method, path)).encode()
    try:
        raw = base64.b64decode(sig_b64, validate=True)
    except ValueError:
        return False
    with tempfile.NamedTemporaryFile(suffix=".sig") as f:
        f.write(raw)
        f.flush()
        res = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub_pem,
                              "-sigopt", "rsa_padding_mode:pss",
                              "-sigopt", "rsa_pss_saltlen:digest",
                              "-sigopt", "rsa_mgf1_md:sha256",
                              "-signature", f.name], input=msg, capture_output=True)
    return res.returncode == 0


def signed_headers(priv_pem, method, path, key_id="test-key-id", ts_ms=None, saltlen="digest"):
    """The three KALSHI-ACCESS-* headers for a request (query is not signed)."""
    ts = now_ms() if ts_ms is None else ts_ms
    bare = path.split("?", 1)[0]
    return {
        "KALSHI-ACCESS-KEY": key_id,
        "KALSHI-ACCESS-TIMESTAMP": str(ts),
        "KALSHI-ACCESS-SIGNATURE": sign(priv_pem, ts, method, bare, saltlen),
    }


def _split_url(url):
    """Splits scheme://host[:port]/target without touching the target."""
    scheme, rest = url.split("://", 1)
    slash = rest.find("/")
    hostport, target = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    if hostport.startswith("["):
        host, _, port = hostport[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = hostport.partition(":")
    port = int(port) if port else (443 if scheme == "https" else 80)
    return scheme, host, port, target


def http(method, url, body=None, headers=None, timeout=10, context=None):
    """Sends one request and returns (status, headers with lower-case names, body bytes).

    body may be bytes, str, or any other value (sent as JSON); a JSON
    Content-Type is added when a body is given and none is set. The request
    target is sent byte for byte as in url. Raises only on transport errors
    (connection refused or reset, timeouts, TLS failures, malformed answers).
    """
    scheme, host, port, target = _split_url(url)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    if body is not None and not any(k.lower() == "content-type" for k in hdrs):
        hdrs["Content-Type"] = "application/json"
    if scheme == "https":
        conn = httpclient.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = httpclient.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, target, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        out = {}
        for k, v in resp.getheaders():
            k = k.lower()
            out[k] = out[k] + ", " + v if k in out else v
        return resp.status, out, data
    finally:
        conn.close()


class Mock:
    """A running build/mock-exchange; use Mock.start(...), then stop()."""

    def __init__(self, proc, port, scheme, ssl_context, stderr_path, priv=None, key_id=None):
        self.proc = proc
        self.port = port
        self.url = "%s://127.0.0.1:%d" % (scheme, port)
        self.ssl_context = ssl_context
        self.stderr_path = stderr_path
        self.priv = priv
        self.key_id = key_id
        self._stopped = False

    @classmethod
    def start(cls, build_dir=None, pubkey=None, tls=None, extra_args=(), key_id=None, priv=None,
              timeout=10):
        """Starts the mock on a free port and waits for its listening line.

        pubkey: public key PEM to verify signatures with (None: not verified);
        tls: (cert, key) to serve HTTPS; key_id: required KALSHI-ACCESS-KEY;
        priv: private key used by signed() (defaults for convenience).
        """
        exe = os.path.join(build_dir or gw_build(), "mock-exchange")
        args = [exe, "--listen", "127.0.0.1:0"]
        if pubkey:
            args += ["--public-key", pubkey]
        if key_id:
            args += ["--key-id", key_id]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        args += list(extra_args)
        fd, stderr_path = tempfile.mkstemp(prefix="mock-exchange-", suffix=".stderr")
        with os.fdopen(fd, "wb") as err:
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
        line = {}

        def reader():
            line["text"] = proc.stdout.readline().decode(errors="replace")

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        text = line.get("text", "")
        if not text.startswith("listening on "):
            proc.kill()
            proc.wait()
            with open(stderr_path, errors="replace") as f:
                msg = f.read()
            os.unlink(stderr_path)
            raise RuntimeError("mock-exchange did not start (%r): %s" % (text, msg))
        port = int(text.strip().rsplit(":", 1)[1])
        ctx = ssl.create_default_context(cafile=tls[0]) if tls else None
        return cls(proc, port, "https" if tls else "http", ctx, stderr_path, priv=priv, key_id=key_id)

    # --- raw access -------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10):
        """http() against this mock; path is the raw request target."""
        return http(method, self.url + path, body=body, headers=headers, timeout=timeout,
                    context=self.ssl_context)

    def signed(self, method, path, body=None, headers=None, timeout=10, priv=None, key_id=None):
        """A request signed with priv (default: the key given to start())."""
        h = signed_headers(priv or self.priv, method, path, key_id or self.key_id or "test-key-id")
        h.update(headers or {})
        return self.request(method, path, body=body, headers=h, timeout=timeout)

    def signed_json(self, method, path, body=None, expect=None):
        """signed() returning (status, decoded JSON or None); asserts status when expect is set."""
        status, _, data = self.signed(method, path, body=body)
        doc = json.loads(data) if data else None
        if expect is not None and status != expect:
            raise AssertionError("%s %s: expected %d, got %d %s" % (method, path, expect, status, data[:500]))
        return status, doc

    def _control(self, method, path, body=None):
        status, _, data = self.request(method, "/_mock/" + path, body=body)
        if status != 200:
            raise AssertionError("/_mock/%s: %d %s" % (path, status, data[:500]))
        return json.loads(data)

    # --- control API ------------------------------------------------------
    # The gateway's background reads: the group watch (each active session's
    # group, every second) and the fill poll (GET /portfolio/fills, every
    # second while a session has orders). They carry a User-Agent starting
    # with "kalshi-gateway (" and can land at any time in a test's window.
    BACKGROUND_AGENT = "kalshi-gateway ("

    def requests(self, watch=False):
        """Recorded requests, oldest first. The gateway's background reads
        (group watch, fill poll) are left out unless watch=True."""
        reqs = self._control("GET", "requests")["requests"]
        if watch:
            return reqs
        return [r for r in reqs
                if not r.get("headers", {}).get("user-agent", "").startswith(self.BACKGROUND_AGENT)]

    def clear(self):
        """Forgets recorded requests."""
        self._control("DELETE", "requests")

    def fault(self, **kw):
        """Sets the fault (mode=..., delay_ms, status, body, count, skip, path_prefix, bytes, process)."""
        return self._control("PUT", "fault", kw)

    def clear_fault(self):
        """Back to normal answers."""
        return self._control("DELETE", "fault")

    def stats(self):
        """{"in_flight", "max_in_flight", "total"}."""
        return self._control("GET", "stats")

    def reset_stats(self):
        """Resets total and max_in_flight."""
        return self._control("DELETE", "stats")

    def state(self):
        """{"order_groups": [...], "orders": [...], "fills": [...]}."""
        return self._control("GET", "state")

    def reset_state(self):
        """Forgets every group, order and fill."""
        return self._control("DELETE", "state")

    def trigger_group(self, group_id):
        """Triggers a group as the exchange would (cancels its resting orders)."""
        return self._control("POST", "order_groups/%s/trigger" % group_id)

    def fill_order(self, order_id, count=None):
        """Fills a resting order (all of it, or count contracts as a string)."""
        return self._control("POST", "orders/%s/fill" % order_id, {} if count is None else {"count": count})

    def set_limits(self, limits):
        """Replaces what GET /account/limits answers."""
        return self._control("PUT", "limits", limits)

    # --- lifecycle --------------------------------------------------------
    def stderr_text(self):
        """What the mock wrote to stderr so far."""
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, timeout=15):
        """SIGTERM, wait, and assert a clean exit 0 without sanitizer reports."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("mock-exchange did not stop within %ss: %s" % (timeout, self.stderr_text()))
            err = self.stderr_text()
            if self.proc.returncode != 0:
                raise AssertionError("mock-exchange exited %d: %s" % (self.proc.returncode, err))
            for marker in SANITIZER_MARKERS:
                if marker in err:
                    raise AssertionError("mock-exchange sanitizer report: %s" % err)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()
            try:
                os.unlink(self.stderr_path)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
