#!/bin/sh
# make docker-check: checks docker/ without a Docker engine.
#
#   sh docker/check.sh [BUILD]            what CI runs (BUILD defaults to build)
#   sh docker/check.sh --replay [BUILD]   also replays both Dockerfile stages in
#                                         debootstrap chroots (minbase bookworm),
#                                         then serves from the runtime chroot as
#                                         uid 10001 with its secrets and curl
#                                         HEALTHCHECK (root, network to
#                                         deb.debian.org, ~5 minutes; not in CI)
#
# 1. libraries: every shared library `ldd BUILD/kalshi-gateway` lists belongs
#    (dpkg -S, through /lib vs /usr/lib aliases and symlinks) to a package the
#    runtime stage's apt-get install line names, or to one of their
#    dependencies (Depends/Pre-Depends, transitively), so apt in the runtime
#    stage installs it; the runtime stage installs no compiler or -dev package.
# 2. Dockerfile: both stages on debian:bookworm-slim; the build stage runs only
#    make targets that exist in the Makefile (deps, all, unit), copies every
#    source folder the Makefile compiles, and the runtime stage copies the
#    binary from where the Makefile puts it; non-root USER, the state directory
#    as VOLUME, HEALTHCHECK through the entry point's /healthz check, no key or
#    token baked in.
# 3. compose.yaml: parses (YAML, duplicate keys refused), known keys, every
#    secret/config referenced is defined, builds this Dockerfile, publishes on
#    loopback only; its embedded gateway configuration passes --check-config.
# 4. entry point, run directly (as uid 10001 when run as root, like the image)
#    against the mock exchange: refuses 0.0.0.0 without client identification,
#    refuses a missing key, picks up the key and admin token from the secrets
#    directory, serves with the compose configuration, `healthcheck` (the
#    HEALTHCHECK command) succeeds, tokens are enforced, requests reach the
#    exchange signed by the team key, the example bot's loop works, SIGTERM
#    stops it cleanly, also as PID 1 (unshare) as under `docker run`.
# Prints "docker-check: N passed, N failed"; non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
REPLAY=0
if [ "${1:-}" = "--replay" ]; then REPLAY=1; shift; fi
BUILD=${1:-build}
sh tests/deps.sh python3 python3-yaml openssl curl
[ "$REPLAY" = 1 ] && sh tests/deps.sh debootstrap
exec python3 - "$BUILD" "$REPLAY" <<'PYTHON'
import base64, json, os, re, shlex, shutil, signal, subprocess, sys, tempfile, time
import urllib.request, urllib.error

import yaml

BUILD, REPLAY = sys.argv[1], sys.argv[2] == "1"
ROOT = os.getcwd()
BUILD_ABS = BUILD if os.path.isabs(BUILD) else os.path.join(ROOT, BUILD)
GW = os.path.join(BUILD_ABS, "kalshi-gateway")
MOCK = os.path.join(BUILD_ABS, "mock-exchange")
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")
COMPOSE = os.path.join(ROOT, "docker", "compose.yaml")
ENTRY = os.path.join(ROOT, "docker", "entrypoint.sh")
IMAGE_UID = 10001

# Packages debian:bookworm-slim always contains, accepted even when no runtime
# package depends on them: libc6 (Essential glibc; the image's own /bin/sh and
# apt need it) and libgcc-s1 (Priority required; libc6 and apt depend on it).
# Everything else must come from the runtime stage's install line.
BASE_PACKAGES = {"libc6": "glibc, Essential in every Debian image",
                 "libgcc-s1": "Priority required, a dependency of libc6 and apt"}
NOT_RUNTIME = re.compile(r"(-dev|-dbg)$|^(build-essential|gcc|g\+\+|cpp|make|binutils|libc6-dev|pkg-config|libcmocka0)$")
RUNTIME_EXTRAS = {"ca-certificates": "TLS to Kalshi", "curl": "HEALTHCHECK (docker-entrypoint.sh healthcheck)"}

passed = failed = 0


def ok(msg):
    global passed
    passed += 1
    print("ok   %s" % msg)


def fail(msg):
    global failed
    failed += 1
    print("FAIL %s" % msg)


def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (": " + detail if detail else ""))
    return cond


def run(args, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(args, **kw)


# ---------------------------------------------------------------- Dockerfile
def parse_dockerfile(path):
    """[(stage name, base image, [(INSTRUCTION, args text)])]; joins continuations."""
    stages, logical, cur = [], [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (line.strip().startswith("#") or not line.strip()):
                continue
            if cur and line.strip().startswith("#"):
                continue  # comment lines inside a continuation are dropped, as Docker does
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            logical.append(cur + line)
            cur = ""
    if cur:
        logical.append(cur)
    for line in logical:
        instr, _, args = line.strip().partition(" ")
        instr = instr.upper()
        args = args.strip()
        if instr == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            stages.append((m.group(2) if m and m.group(2) else str(len(stages)), m.group(1) if m else args, []))
        elif stages:
            stages[-1][2].append((instr, args))
    return stages


def shell_commands(run_args):
    """The simple commands of a RUN line (shell form), split on && ; ||."""
    if run_args.startswith("["):
        return [json.loads(run_args)]
    cmds, cur = [], []
    for tok in shlex.split(run_args, posix=True):
        if tok in ("&&", ";", "||"):
            if cur:
                cmds.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        cmds.append(cur)
    return cmds


def apt_installs(stage):
    pkgs = []
    for instr, args in stage[2]:
        if instr != "RUN":
            continue
        for cmd in shell_commands(args):
            if len(cmd) >= 2 and cmd[0] in ("apt-get", "apt") and "install" in cmd:
                pkgs += [t for t in cmd[cmd.index("install") + 1:] if not t.startswith("-")]
    return pkgs


def make_targets_run(stage):
    out = []
    for instr, args in stage[2]:
        if instr != "RUN":
            continue
        for cmd in shell_commands(args):
            if cmd and cmd[0] == "make":
                out.append([t for t in cmd[1:] if not t.startswith("-") and "=" not in t] or ["all"])
            if cmd and cmd[0] in ("cc", "gcc", "clang", "ld"):
                out.append(["<direct compiler call: %s>" % " ".join(cmd)])
    return out


def make_var(name):
    p = run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "print-var", "V=" + name],
            input="print-var:\n\t@echo $(%s)\n" % name, stdin=None)
    return p.stdout.strip()


def makefile_targets():
    p = run(["make", "-pRrq", "-f", "Makefile", ":"])
    targets = set()
    for line in p.stdout.splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-/$()]+):(?!=)", line)
        if m:
            targets.add(m.group(1))
    return targets


def check_dockerfile(stages):
    print("== Dockerfile")
    check(len(stages) >= 2, "multi-stage (%d stages)" % len(stages))
    for name, base, _ in stages:
        check(base == "debian:bookworm-slim", "stage %s is FROM debian:bookworm-slim" % name, base)
    build, rt = stages[0], stages[-1]
    # build commands are the Makefile's
    targets = makefile_targets()
    runs = make_targets_run(build)
    flat = [t for r in runs for t in r]
    check(bool(flat), "build stage runs make", "no make in any RUN")
    for t in flat:
        check(t in targets, "build stage target 'make %s' exists in the Makefile" % t, "no such target")
    check("deps" in flat and "all" in flat and flat.index("deps") < flat.index("all"),
          "build stage installs packages through 'make deps' (the Makefile's DEB_PKGS) before 'make all'", str(flat))
    copies = [a for i, a in build[2] if i == "COPY"]
    copied = set()
    for a in copies:
        parts = [p for p in shlex.split(a) if not p.startswith("--")]
        copied.update(p.rstrip("/") for p in parts[:-1])
    srcs = (make_var("LIB_SRCS") + " " + make_var("MOCK_SRCS") + " " + make_var("UNIT_SRCS")).split() + ["gateway/main.c"]
    dirs = sorted({os.path.dirname(s) for s in srcs})
    missing = [d for d in dirs if not any(d == c or d.startswith(c + "/") for c in copied)]
    check(not missing and "Makefile" in copied, "build stage copies the Makefile and every source folder it compiles (%s)" % " ".join(dirs),
          "not copied: %s" % " ".join(missing or ["Makefile"]))
    # runtime stage
    rt_pkgs = apt_installs(rt)
    check(bool(rt_pkgs), "runtime stage installs: %s" % " ".join(rt_pkgs))
    bad = [p for p in rt_pkgs if NOT_RUNTIME.search(p)]
    check(not bad, "runtime stage installs no compiler, -dev or test package", " ".join(bad))
    gw_rel = make_var("GATEWAY")
    check(gw_rel == "build/kalshi-gateway", "the Makefile's default binary is build/kalshi-gateway", gw_rel)
    workdir = "/"
    for i, a in build[2]:
        if i == "WORKDIR":
            workdir = os.path.join(workdir, a)
    src = os.path.normpath(os.path.join(workdir, gw_rel))
    rt_copies = [shlex.split(a) for i, a in rt[2] if i == "COPY"]
    from_build = [c for c in rt_copies if c and c[0] == "--from=" + build[0]]
    check(any(c[1] == src for c in from_build), "runtime stage copies %s from the build stage" % src,
          str(from_build))
    check(all(c[1] == src for c in from_build), "runtime stage copies nothing else from the build stage (no objects, no test binaries)",
          str(from_build))
    ep = [c for c in rt_copies if c and c[0] == "docker/entrypoint.sh"]
    check(len(ep) == 1, "runtime stage copies docker/entrypoint.sh")
    ep_dst = ep[0][1] if ep else ""
    instrs = {}
    for i, a in rt[2]:
        instrs.setdefault(i, []).append(a)
    user = (instrs.get("USER") or [""])[-1]
    uid = user.split(":")[0]
    check(uid.isdigit() and int(uid) != 0, "runtime USER is a numeric non-root uid (%s)" % user, user)
    check(uid == str(IMAGE_UID), "USER uid matches the uid docker/check.sh runs the entry point as (%d)" % IMAGE_UID, user)
    vols = " ".join(instrs.get("VOLUME", []))
    check("/var/lib/kalshi-gateway" in vols, "the state directory /var/lib/kalshi-gateway is a VOLUME", vols)
    env = " ".join(instrs.get("ENV", []))
    check("GATEWAY_STATE_DIR=/var/lib/kalshi-gateway" in env and "GATEWAY_LISTEN=0.0.0.0:8080" in env,
          "ENV: state in the volume, listening on 0.0.0.0:8080 inside the container", env)
    bad_env = [e for e in re.findall(r"(\w+)=", env) if e not in ("GATEWAY_LISTEN", "GATEWAY_STATE_DIR")]
    check(not bad_env, "no other ENV (no key, key id or token baked into the image)", " ".join(bad_env))
    baked = [c for c in rt_copies + [shlex.split(a) for i, a in build[2] if i == "COPY"]
             if any(re.search(r"\.(pem|key)$|secret|token", p) for p in c)]
    check(not baked, "no key, token or secret file copied into the image", str(baked))
    hc = " ".join(instrs.get("HEALTHCHECK", []))
    check("healthcheck" in hc and os.path.basename(ep_dst) in hc, "HEALTHCHECK runs the entry point's /healthz check", hc)
    entry = " ".join(instrs.get("ENTRYPOINT", []))
    check(os.path.basename(ep_dst) in entry if ep_dst else False, "ENTRYPOINT is the entry point script", entry)
    with open(ENTRY) as f:
        text = f.read()
    check("/healthz" in text and "kalshi_private_key" in text and "gateway_admin_token" in text,
          "entry point checks /healthz and reads the kalshi_private_key and gateway_admin_token secrets")
    return rt_pkgs


# ---------------------------------------------------------------- libraries
def usr_alias(p):
    for d in ("/lib", "/lib64", "/bin", "/sbin"):
        if p.startswith(d + "/"):
            return "/usr" + p
        if p.startswith("/usr" + d + "/"):
            return p[4:]
    return None


def dpkg_owner(path):
    cands = []
    for p in (path, os.path.realpath(path)):
        for q in (p, usr_alias(p)):
            if q and q not in cands:
                cands.append(q)
    for q in cands:
        r = run(["dpkg-query", "-S", q])
        if r.returncode != 0:
            continue
        for line in r.stdout.splitlines():
            if line.startswith("diversion"):
                continue
            pkgs, _, _ = line.partition(": ")
            return [p.strip().split(":")[0] for p in pkgs.split(",")], q
    return None, cands


def installed_db():
    r = run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Abbrev}\t${Provides}\t${Depends}\t${Pre-Depends}\n"])
    db, provides = {}, {}
    for line in r.stdout.splitlines():
        name, st, prov, dep, pre = (line.split("\t") + ["", "", "", ""])[:5]
        if not st.startswith("ii"):
            continue
        db[name] = ", ".join(x for x in (dep, pre) if x)
        for p in prov.split(","):
            p = p.strip().split(" ")[0].split(":")[0]
            if p:
                provides.setdefault(p, set()).add(name)
    return db, provides


def closure(roots, db, provides):
    """Installed packages reachable from roots through Depends/Pre-Depends
    (alternatives and virtual packages: the installed ones), with the path."""
    seen = {r: [r] for r in roots}
    todo = list(roots)
    while todo:
        p = todo.pop()
        for group in db.get(p, "").split(","):
            for alt in group.split("|"):
                name = alt.strip().split(" ")[0].split(":")[0]
                if not name:
                    continue
                for n in ([name] if name in db else sorted(provides.get(name, ()))):
                    if n not in seen:
                        seen[n] = seen[p] + [n]
                        todo.append(n)
    return seen


def check_libraries(rt_pkgs):
    shown = os.path.join(BUILD, "kalshi-gateway")
    print("== libraries of %s (ldd) against the runtime stage" % shown)
    r = run(["ldd", GW])
    if not check(r.returncode == 0, "ldd %s" % shown, r.stderr.strip()):
        return
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        m = re.match(r"(\S+) => (\S+) \(", line)
        if m:
            libs.append((m.group(1), m.group(2)))
        elif line.startswith("/"):
            libs.append((os.path.basename(line.split()[0]), line.split()[0]))
        elif "not found" in line:
            fail("ldd: %s" % line)
    try:
        ver = open("/etc/debian_version").read().strip()
    except OSError:
        ver = "?"
    check(ver.startswith("12"), "this host is Debian 12, like debian:bookworm-slim (so dpkg answers for the image's packages)", ver)
    db, provides = installed_db()
    missing_rt = [p for p in rt_pkgs if p not in db]
    check(not missing_rt, "every runtime package is a real bookworm package (installed here)", " ".join(missing_rt))
    reach = closure(rt_pkgs, db, provides)
    base_reach = closure(list(BASE_PACKAGES), db, provides)
    direct = set()
    for soname, path in libs:
        pkgs, where = dpkg_owner(path)
        if not pkgs:
            fail("%s (%s): no package owns it (tried %s)" % (soname, path, " ".join(where)))
            continue
        pkg = pkgs[0]
        if pkg in reach:
            chain = reach[pkg]
            if len(chain) == 1:
                direct.add(pkg)
            ok("%-22s %-24s %s" % (soname, pkg, "installed by the runtime stage" if len(chain) == 1 else "via " + " -> ".join(chain)))
        elif pkg in base_reach:
            ok("%-22s %-24s in the base image (%s)" % (soname, pkg, BASE_PACKAGES.get(base_reach[pkg][0])))
        else:
            fail("%s (%s) is in package %s, which the runtime stage does not install (add it to the apt-get install line)" % (soname, path, pkg))
    unused = [p for p in rt_pkgs if p not in direct and p not in RUNTIME_EXTRAS]
    check(not unused, "every runtime package is needed (a linked library, or: %s)" %
          "; ".join("%s for %s" % kv for kv in RUNTIME_EXTRAS.items()), " ".join(unused))


# ---------------------------------------------------------------- compose
class StrictLoader(yaml.SafeLoader):
    pass


def _no_dups(loader, node, deep=False):
    keys = set()
    for k, _ in node.value:
        key = loader.construct_object(k, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, "duplicate key %r" % key, k.start_mark)
        keys.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_dups)

TOP_KEYS = {"name", "services", "volumes", "secrets", "configs", "networks", "include"}
SERVICE_KEYS = {"build", "image", "init", "restart", "environment", "configs", "secrets", "volumes", "ports",
                "read_only", "cap_drop", "security_opt", "stop_grace_period", "user", "depends_on",
                "entrypoint", "command", "healthcheck", "networks", "tmpfs", "expose", "env_file", "labels"}


def interpolate(value, env):
    """Compose interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR:?error}."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3)
        v = env.get(name)
        if op == ":-":
            return v if v else arg
        if op == ":?":
            if not v:
                raise ValueError("%s: %s" % (name, arg))
            return v
        return v or ""
    return re.sub(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", sub, value)


def check_compose():
    print("== compose.yaml")
    try:
        with open(COMPOSE) as f:
            doc = yaml.load(f, Loader=StrictLoader)
    except yaml.YAMLError as e:
        fail("compose.yaml parses: %s" % e)
        return None
    ok("compose.yaml parses (YAML, no duplicate keys)")
    check(isinstance(doc, dict) and set(doc) <= TOP_KEYS, "only known top-level keys", str(set(doc) - TOP_KEYS))
    svcs = doc.get("services") or {}
    check({"gateway", "bot"} <= set(svcs), "services: gateway and an example bot", str(list(svcs)))
    for name, s in svcs.items():
        check(set(s) <= SERVICE_KEYS, "service %s: only known keys" % name, str(set(s) - SERVICE_KEYS))
        for kind in ("secrets", "configs"):
            for ref in s.get(kind, []) or []:
                src = ref if isinstance(ref, str) else ref.get("source")
                check(src in (doc.get(kind) or {}), "service %s: %s '%s' is defined" % (name, kind[:-1], src))
        for v in s.get("volumes", []) or []:
            vol = v.split(":")[0] if isinstance(v, str) else v.get("source")
            if vol and not vol.startswith((".", "/")):
                check(vol in (doc.get("volumes") or {}), "service %s: volume '%s' is defined" % (name, vol))
    gw = svcs.get("gateway", {})
    b = gw.get("build", {})
    df = os.path.normpath(os.path.join(os.path.dirname(COMPOSE), b.get("context", "."), b.get("dockerfile", "Dockerfile")))
    check(df == DOCKERFILE, "gateway builds docker/Dockerfile with the repository as context", df)
    secrets = [r if isinstance(r, str) else r.get("source") for r in gw.get("secrets", [])]
    check("kalshi_private_key" in secrets, "gateway gets the key as secret kalshi_private_key (entry point default)")
    env = gw.get("environment", {})
    check("GATEWAY_LISTEN" not in env, "gateway keeps the image's listen address (0.0.0.0:8080 in the container)")
    check("KALSHI_PRIVATE_KEY_FILE" not in env and not any("TOKEN" in k and "FILE" not in k for k in env),
          "no key or token in the environment")
    for p in gw.get("ports", []):
        check(str(p).startswith("127.0.0.1:"), "published on the host's loopback only (%s)" % p)
    dep = svcs.get("bot", {}).get("depends_on", {})
    check(isinstance(dep, dict) and dep.get("gateway", {}).get("condition") == "service_healthy",
          "bot waits for the gateway's HEALTHCHECK (service_healthy)")
    for sname, sdef in (doc.get("secrets") or {}).items():
        check(isinstance(sdef, dict) and ("file" in sdef or "environment" in sdef or sdef.get("external")),
              "secret %s has a source" % sname)
    try:
        interpolate(json.dumps(doc), {"KALSHI_API_KEY_ID": "x"})
        ok("variable interpolation is well-formed (with KALSHI_API_KEY_ID set)")
    except ValueError as e:
        fail("interpolation: %s" % e)
    try:
        interpolate(json.dumps(doc), {})
        fail("KALSHI_API_KEY_ID unset should stop compose with a message")
    except ValueError as e:
        ok("KALSHI_API_KEY_ID unset stops compose with: %s" % e)
    return doc


# ---------------------------------------------------------------- entry point
def http(method, url, body=None, headers=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    h = dict(headers or {})
    if data is not None:
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_entrypoint(doc, tmp):
    print("== docker/entrypoint.sh, run directly")
    check(run(["sh", "-n", ENTRY]).returncode == 0, "entrypoint.sh is valid sh")
    check(os.access(ENTRY, os.X_OK), "entrypoint.sh is executable")
    as_image_user = os.geteuid() == 0 and shutil.which("setpriv") is not None
    uid = IMAGE_UID if as_image_user else os.geteuid()

    def own(path, mode):
        os.chmod(path, mode)
        if as_image_user:
            os.chown(path, IMAGE_UID, IMAGE_UID)

    os.chmod(tmp, 0o755)
    # the image's user (uid 10001) must be able to read the script and the
    # binary even when the checkout lives in a private directory (a CI
    # clone under a 0700 folder): run copies from the world-readable tmp
    entry_copy = os.path.join(tmp, "entrypoint.sh")
    gw_copy = os.path.join(tmp, "kalshi-gateway")
    shutil.copy2(ENTRY, entry_copy)
    shutil.copy2(GW, gw_copy)
    os.chmod(entry_copy, 0o755)
    os.chmod(gw_copy, 0o755)
    key = os.path.join(tmp, "team.pem")
    pub = os.path.join(tmp, "team.pub.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key], check=True)
    run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    secrets = os.path.join(tmp, "secrets")
    os.mkdir(secrets)
    own(secrets, 0o755)
    shutil.copy(key, os.path.join(secrets, "kalshi_private_key"))
    own(os.path.join(secrets, "kalshi_private_key"), 0o600)
    admin_tok = base64.b16encode(os.urandom(16)).decode().lower()
    bot_tok = base64.b16encode(os.urandom(16)).decode().lower()
    for name, tok in (("gateway_admin_token", admin_tok), ("bot_token", bot_tok)):
        with open(os.path.join(secrets, name), "w") as f:
            f.write(tok + "\n")
        own(os.path.join(secrets, name), 0o400)
    empty = os.path.join(tmp, "no-secrets")
    os.mkdir(empty)
    key_id = "docker-check-key"

    mock_out = open(os.path.join(tmp, "mock.out"), "w+")
    mock = subprocess.Popen([MOCK, "--listen", "127.0.0.1:0", "--public-key", pub, "--key-id", key_id],
                            stdout=mock_out, stderr=open(os.path.join(tmp, "mock.err"), "w"), stdin=subprocess.DEVNULL)
    procs = [mock]
    try:
        deadline = time.time() + 10
        mock_url = None
        while time.time() < deadline and mock_url is None:
            mock_out.seek(0)
            m = re.search(r"listening on (\S+)", mock_out.read())
            if m:
                mock_url = "http://" + m.group(1)
            else:
                time.sleep(0.05)
        if not check(mock_url is not None, "mock exchange started"):
            return
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "KALSHI_"))}
        base.update({"GATEWAY_BIN": gw_copy, "KALSHI_UPSTREAM_URL": mock_url, "KALSHI_API_KEY_ID": key_id,
                     "NO_PROXY": "*"})
        prefix = ["setpriv", "--reuid=%d" % IMAGE_UID, "--regid=%d" % IMAGE_UID, "--clear-groups", "--"] if as_image_user else []

        def entry(args, env, **kw):
            e = dict(base)
            e.update(env)
            return run(prefix + ["sh", entry_copy] + args, env=e, timeout=30, **kw)

        port = free_port()
        listen = "0.0.0.0:%d" % port
        state = os.path.join(tmp, "state")
        os.mkdir(state)
        own(state, 0o700)

        r = entry([], {"GATEWAY_LISTEN": listen, "SECRETS_DIR": empty, "KALSHI_PRIVATE_KEY_FILE": key,
                       "GATEWAY_STATE_DIR": state})
        check(r.returncode == 2 and "refusing to listen on 0.0.0.0" in r.stderr,
              "refuses 0.0.0.0 without admin token or clients (exit 2, clear message)", "exit %d: %s" % (r.returncode, r.stderr.strip()))
        print("     " + r.stderr.strip().replace("\n", "\n     "))
        r = entry(["--check-config"], {"GATEWAY_LISTEN": listen, "SECRETS_DIR": empty,
                                       "GATEWAY_ADMIN_TOKEN_FILE": os.path.join(secrets, "gateway_admin_token"),
                                       "GATEWAY_STATE_DIR": state})
        check(r.returncode == 2 and "no Kalshi private key" in r.stderr, "refuses to start without a key (exit 2)",
              "exit %d: %s" % (r.returncode, r.stderr.strip()))
        noclients = os.path.join(tmp, "noclients.json")
        with open(noclients, "w") as f:
            json.dump({"limits": {"max_order_contracts": "5"}}, f)
        os.chmod(noclients, 0o644)
        r = entry(["--check-config"], {"GATEWAY_LISTEN": listen, "SECRETS_DIR": empty, "KALSHI_PRIVATE_KEY_FILE": os.path.join(secrets, "kalshi_private_key"),
                                       "GATEWAY_CONFIG": noclients, "GATEWAY_STATE_DIR": state})
        check(r.returncode == 2 and "non-loopback" in r.stderr,
              "a configuration without clients on 0.0.0.0 is refused by the gateway (exit 2)",
              "exit %d: %s" % (r.returncode, r.stderr.strip()))
        r = entry(["--check-config"], {"GATEWAY_LISTEN": listen, "SECRETS_DIR": secrets, "GATEWAY_STATE_DIR": state})
        check(r.returncode == 0 and "configuration ok" in r.stdout,
              "picks up secrets kalshi_private_key and gateway_admin_token from the secrets directory (--check-config ok)",
              "exit %d: %s %s" % (r.returncode, r.stdout.strip(), r.stderr.strip()))
        locked = os.path.join(tmp, "root-owned-state")
        os.mkdir(locked, 0o755)  # like a bind mount still owned by root
        r = entry([], {"GATEWAY_LISTEN": listen, "SECRETS_DIR": secrets,
                       "GATEWAY_STATE_DIR": locked if as_image_user else "/proc/no-such-dir/state"})
        check(r.returncode == 2 and "GATEWAY_STATE_DIR" in r.stderr, "refuses a state directory it cannot write, saying why",
              "exit %d: %s" % (r.returncode, r.stderr.strip()))

        # the compose file's gateway configuration, secrets paths pointed here
        content = ((doc or {}).get("configs", {}).get("gateway_config", {}) or {}).get("content", "{}")
        content = interpolate(content, {}).replace("/run/secrets/", secrets + "/")
        cfg = os.path.join(tmp, "gateway.json")
        with open(cfg, "w") as f:
            f.write(content)
        os.chmod(cfg, 0o644)
        env = {"GATEWAY_LISTEN": listen, "SECRETS_DIR": secrets, "GATEWAY_CONFIG": cfg, "GATEWAY_STATE_DIR": state}
        r = entry(["--check-config"], env)
        check(r.returncode == 0, "compose.yaml's gateway configuration passes --check-config",
              "exit %d: %s" % (r.returncode, r.stderr.strip()))

        # serve, as the image does
        e = dict(base)
        e.update(env)
        log = open(os.path.join(tmp, "gateway.log"), "w+")
        gw = subprocess.Popen(prefix + ["sh", entry_copy], env=e, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        procs.append(gw)
        healthy = False
        deadline = time.time() + 15
        while time.time() < deadline and gw.poll() is None:
            if entry(["healthcheck"], {"GATEWAY_LISTEN": listen}).returncode == 0:
                healthy = True
                break
            time.sleep(0.2)
        log.seek(0)
        if not check(healthy, "serves on %s; 'docker-entrypoint.sh healthcheck' (the HEALTHCHECK) succeeds" % listen,
                     "exit %s: %s" % (gw.poll(), log.read()[-2000:])):
            return
        r = entry(["healthcheck"], {"GATEWAY_LISTEN": "0.0.0.0:%d" % free_port()})
        check(r.returncode != 0, "healthcheck fails when nothing listens")
        url = "http://127.0.0.1:%d" % port
        st, body = http("GET", url + "/trade-api/v2/exchange/status")
        check(st == 401, "unidentified request refused 401 on 0.0.0.0", "%d %s" % (st, body[:200]))
        http("DELETE", mock_url + "/_mock/requests")
        st, body = http("GET", url + "/trade-api/v2/exchange/status", headers={"Authorization": "Bearer " + bot_tok})
        check(st == 200, "bot token (compose config's trader client) is accepted", "%d %s" % (st, body[:200]))
        st, body = http("POST", url + "/session/start", {"contracts_limit": 10}, headers={"Authorization": "Bearer " + bot_tok})
        check(st == 403, "the trader bot cannot start sessions (403)", "%d %s" % (st, body[:200]))
        st, body = http("POST", url + "/session/start", {"contracts_limit": 10}, headers={"Authorization": "Bearer " + admin_tok})
        check(st == 201, "the admin token from the secret starts a session (201)", "%d %s" % (st, body[:300]))
        # the example bot's loop, one round, against this gateway
        cmd = (svcs_cmd(doc) or "")
        if cmd:
            script = interpolate(cmd, {}).replace("/run/secrets/", secrets + "/").replace("sleep 30", "break")
            be = dict(base)
            be["KALSHI_BASE"] = url + "/trade-api/v2"
            r = run(prefix + ["sh", "-ec", script], env=be, timeout=30)
            lines = r.stdout.splitlines()
            check(r.returncode == 0 and len(lines) == 3 and all(re.match(r"^\w+: +\{", l) for l in lines),
                  "the compose bot's loop works against the gateway (exchange, balance, markets)",
                  "exit %d: %s %s" % (r.returncode, r.stdout[-500:], r.stderr[-500:]))
        st, body = http("GET", mock_url + "/_mock/requests")
        reqs = json.loads(body).get("requests", []) if st == 200 else []
        bad = [(q.get("method"), q.get("path"), q.get("sig_valid"), (q.get("headers") or {}).get("kalshi-access-key"))
               for q in reqs if not q.get("sig_valid") or (q.get("headers") or {}).get("kalshi-access-key") != key_id]
        check(reqs and not bad, "the exchange received %d requests, all signed by the team key (KALSHI-ACCESS-KEY %s, sig_valid)"
              % (len(reqs), key_id), str(bad[:5]))
        gw.send_signal(signal.SIGTERM)
        try:
            rc = gw.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        log.seek(0)
        check(rc == 0, "SIGTERM stops it, exit 0", "exit %s: %s" % (rc, log.read()[-1500:]))
        sj = os.path.join(state, "sessions.json")
        check(os.path.exists(sj) and os.stat(sj).st_uid == uid,
              "state written to GATEWAY_STATE_DIR as uid %d (sessions.json)" % uid, str(os.listdir(state)))

        # as PID 1, as under plain `docker run` (no --init)
        if os.geteuid() == 0 and run(["unshare", "--pid", "--fork", "--mount-proc", "true"]).returncode == 0:
            e = dict(base)
            e.update(env)
            log2 = open(os.path.join(tmp, "gateway-pid1.log"), "w+")
            u = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc"] + prefix + ["sh", entry_copy], env=e,
                                 stdout=log2, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            procs.append(u)
            child, healthy = None, False
            deadline = time.time() + 15
            while time.time() < deadline and u.poll() is None:
                if child is None:
                    try:
                        kids = open("/proc/%d/task/%d/children" % (u.pid, u.pid)).read().split()
                        child = int(kids[0]) if kids else None
                    except OSError:
                        pass
                if child and entry(["healthcheck"], {"GATEWAY_LISTEN": listen}).returncode == 0:
                    healthy = True
                    break
                time.sleep(0.2)
            nspid = None
            if child:
                for line in open("/proc/%d/status" % child):
                    if line.startswith("NSpid:"):
                        nspid = line.split()[-1]
            if check(healthy and nspid == "1", "as PID 1 of its own PID namespace (exec'd, no shell left)",
                     "pid in namespace %s" % nspid):
                os.kill(child, signal.SIGTERM)
                try:
                    rc = u.wait(20)
                except subprocess.TimeoutExpired:
                    rc = None
                log2.seek(0)
                check(rc == 0, "as PID 1, SIGTERM stops it, exit 0 (no --init needed)", "exit %s: %s" % (rc, log2.read()[-1500:]))
        else:
            print("skip PID 1 check (needs root and unshare)")
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def svcs_cmd(doc):
    cmd = ((doc or {}).get("services", {}).get("bot", {}) or {}).get("command")
    if isinstance(cmd, list):
        return cmd[-1]
    return cmd


# ---------------------------------------------------------------- replay
def replay(stages, tmp):
    """Runs both stages' RUN lines in debootstrap chroots (minbase, the variant
    debian:bookworm-slim is made from), then the runtime chroot's binary."""
    print("== replay in debootstrap chroots")
    mirror = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
    roots, envs = {}, {}
    for name, base, steps in stages:
        root = os.path.join(tmp, "chroot-" + name)
        r = run(["debootstrap", "--variant=minbase", "bookworm", root, mirror], capture_output=True)
        if not check(r.returncode == 0, "debootstrap bookworm (minbase) for stage %s" % name, r.stderr[-800:]):
            return
        roots[name] = root
        # a fresh procfs only (debootstrap made /dev's nodes): nothing of the
        # host is bind-mounted, so removing the chroot can never reach it
        run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")])
        try:
            shutil.copy("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"))
            workdir, env = "/", {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
            envs[name] = env
            for instr, args in steps:
                if instr == "WORKDIR":
                    workdir = os.path.join(workdir, args)
                    os.makedirs(root + workdir, exist_ok=True)
                elif instr == "ENV":
                    for k, v in re.findall(r"(\w+)=(\S+)", args):
                        env[k] = v
                elif instr == "COPY":
                    parts = shlex.split(args)
                    frm = [p for p in parts if p.startswith("--from=")]
                    parts = [p for p in parts if not p.startswith("--")]
                    srcroot = roots[frm[0][7:]] if frm else ROOT
                    dst = parts[-1] if parts[-1].startswith("/") else os.path.join(workdir, parts[-1])
                    for src in parts[:-1]:
                        s = os.path.join(srcroot, src.lstrip("/")) if frm else os.path.join(ROOT, src)
                        d = root + dst
                        if os.path.isdir(s):
                            shutil.copytree(s, d if not dst.endswith("/") else os.path.join(d, os.path.basename(s)),
                                            dirs_exist_ok=True, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
                        else:
                            os.makedirs(os.path.dirname(d) if not dst.endswith("/") else d, exist_ok=True)
                            shutil.copy2(s, d)
                elif instr == "RUN":
                    r = run(["chroot", root, "sh", "-c", "cd %s && %s" % (shlex.quote(workdir), args)], env=env)
                    if not check(r.returncode == 0, "stage %s: RUN %s" % (name, args[:90]), (r.stdout + r.stderr)[-1500:]):
                        return
        finally:
            run(["umount", os.path.join(root, "proc")])
    rt, rt_env = roots[stages[-1][0]], envs[stages[-1][0]]
    r = run(["chroot", rt, "ldd", "/usr/local/bin/kalshi-gateway"])
    check(r.returncode == 0 and "not found" not in r.stdout, "runtime chroot: every library of the binary resolves",
          r.stdout + r.stderr)
    r = run(["chroot", rt, "sh", "-c", "command -v cc gcc make || true"])
    check(r.stdout.strip() == "", "runtime chroot: no compiler or make", r.stdout)
    # the runtime chroot serves like the container: its user, its entry point
    # and secrets, against the mock exchange on the host's loopback
    key = os.path.join(tmp, "replay-team.pem")
    pub = os.path.join(tmp, "replay-team.pub.pem")
    run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key], check=True)
    run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    sec = rt + "/run/secrets"
    os.makedirs(sec, exist_ok=True)
    shutil.copy(key, sec + "/kalshi_private_key")
    token = base64.b16encode(os.urandom(16)).decode().lower()
    with open(sec + "/gateway_admin_token", "w") as f:
        f.write(token + "\n")
    for n in ("kalshi_private_key", "gateway_admin_token"):
        os.chown(sec + "/" + n, IMAGE_UID, IMAGE_UID)
        os.chmod(sec + "/" + n, 0o400)
    mock_out = open(os.path.join(tmp, "replay-mock.out"), "w+")
    mock = subprocess.Popen([MOCK, "--listen", "127.0.0.1:0", "--public-key", pub, "--key-id", "replay-key"],
                            stdout=mock_out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    gw = None
    try:
        deadline, mock_url = time.time() + 10, None
        while time.time() < deadline and not mock_url:
            mock_out.seek(0)
            m = re.search(r"listening on (\S+)", mock_out.read())
            mock_url = "http://" + m.group(1) if m else None
            time.sleep(0.05)
        port = free_port()
        env = dict(rt_env)
        env.update({"GATEWAY_LISTEN": "0.0.0.0:%d" % port, "KALSHI_UPSTREAM_URL": mock_url, "KALSHI_API_KEY_ID": "replay-key"})
        envargs = ["env", "-i"] + ["%s=%s" % kv for kv in env.items()]
        log = open(os.path.join(tmp, "replay-gateway.log"), "w+")
        gw = subprocess.Popen(["chroot", "--userspec=%d:%d" % (IMAGE_UID, IMAGE_UID), rt] + envargs + ["docker-entrypoint.sh"],
                              stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        healthy = False
        deadline = time.time() + 15
        while time.time() < deadline and gw.poll() is None:
            if run(["chroot", "--userspec=%d:%d" % (IMAGE_UID, IMAGE_UID), rt] + envargs + ["docker-entrypoint.sh", "healthcheck"]).returncode == 0:
                healthy = True
                break
            time.sleep(0.2)
        log.seek(0)
        if check(healthy, "runtime chroot: the entry point serves as uid %d with the secrets; HEALTHCHECK (curl) passes" % IMAGE_UID,
                 log.read()[-1500:]):
            st, body = http("GET", "http://127.0.0.1:%d/trade-api/v2/exchange/status" % port,
                            headers={"Authorization": "Bearer " + token})
            check(st == 200, "runtime chroot: a request reaches the exchange (HTTP %d)" % st, body[:300])
            gw.send_signal(signal.SIGTERM)
            rc = gw.wait(20)
            check(rc == 0, "runtime chroot: SIGTERM stops it, exit 0", "exit %s" % rc)
            state = rt + "/var/lib/kalshi-gateway"
            check(os.stat(state).st_uid == IMAGE_UID and oct(os.stat(state).st_mode & 0o777) == "0o700",
                  "runtime chroot: state directory owned by %d, mode 0700" % IMAGE_UID)
    finally:
        for p in (gw, mock):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def main():
    for p in (GW, MOCK):
        if not os.access(p, os.X_OK):
            print("docker-check: %s is missing: run make first" % p, file=sys.stderr)
            return 1
    stages = parse_dockerfile(DOCKERFILE)
    rt_pkgs = check_dockerfile(stages)
    check_libraries(rt_pkgs)
    doc = check_compose()
    tmp = tempfile.mkdtemp(prefix="docker-check-")
    try:
        check_entrypoint(doc, tmp)
        if REPLAY:
            replay(stages, tmp)
    finally:
        with open("/proc/mounts") as f:
            mounted = [l.split()[1] for l in f if l.split()[1].startswith(tmp)]
        if mounted:
            print("docker-check: %s still has mounts (%s): not removed" % (tmp, " ".join(mounted)))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("docker-check: %d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


sys.exit(main())
PYTHON
