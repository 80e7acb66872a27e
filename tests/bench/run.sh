#!/bin/sh
# make bench: tests/bench/run.sh BUILD_DIR
# Installs nginx-light and wrk when missing (apt-get as root, or sudo;
# otherwise prints the apt-get line and fails), then runs tests/bench/bench.py,
# which starts everything on loopback, prints the table and writes
# BUILD_DIR/bench/bench-<time>.json and BUILD_DIR/bench/latest.json.
# BENCH_QUICK=1 gives a run of about a minute; see bench.py for the rest.
# If bench.py itself dies without cleaning up, the trap below stops the
# process groups it had started (and only those).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}

sh "$root/tests/deps.sh" nginx-light wrk || exit 1
for b in nginx wrk; do
    command -v $b >/dev/null 2>&1 || [ -x /usr/sbin/$b ] || [ -x /usr/bin/$b ] || {
        echo "bench: $b not found; run as root: apt-get update && apt-get install -y --no-install-recommends nginx-light wrk" >&2
        exit 1
    }
done
[ -x "$build/kalshi-gateway" ] || { echo "bench: $build/kalshi-gateway is missing: run make" >&2; exit 1; }
PATH="$PATH:/usr/sbin"
export PATH

work=$(mktemp -d "${TMPDIR:-/tmp}/gw-bench-XXXXXX")
pgids="$work/pgids"
reap() {
    if [ -s "$pgids" ]; then
        while read -r g; do
            [ -n "$g" ] && kill -KILL "-$g" 2>/dev/null
        done < "$pgids"
    fi
    if [ -n "${BENCH_KEEP:-}" ] && [ "${BENCH_KEEP:-}" != 0 ]; then
        echo "bench: kept $work"
    else
        rm -rf "$work"
    fi
}
trap reap EXIT
trap 'exit 130' INT TERM HUP

start=$(date +%s)
python3 "$here/bench.py" --build "$build" --workdir "$work"
rc=$?
echo "bench: total $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
