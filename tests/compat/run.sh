#!/bin/sh
# make compat: drives the gateway with Kalshi's official TypeScript SDK
# (kalshi-typescript, pinned in tests/compat/package.json and
# package-lock.json) against the mock exchange; see compat.js for what it
# checks.  Installs the SDK with `npm ci` into BUILD/compat (never into the
# source tree).  Needs node >= 18 and npm (Debian 12: apt-get install nodejs npm).
# Prints "compat: N passed, N failed"; non-zero on any failure.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "compat: '$tool' is missing; on Debian 12: apt-get install -y nodejs npm" >&2
        exit 1
    fi
done
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    echo "compat: node 18 or later is needed, found $(node --version)" >&2
    exit 1
fi
for bin in kalshi-gateway mock-exchange; do
    [ -x "$BUILD/$bin" ] || { echo "compat: $BUILD/$bin is missing: run make first" >&2; exit 1; }
done
work="$BUILD/compat"
mkdir -p "$work"
cp tests/compat/package.json tests/compat/package-lock.json tests/compat/compat.js "$work/"
echo "compat: npm ci (kalshi-typescript $(sed -n 's/.*"kalshi-typescript": *"\([^"]*\)".*/\1/p' tests/compat/package.json)) in $work"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error) || {
    echo "compat: npm ci failed (is the npm registry reachable?)" >&2
    exit 1
}
exec node "$work/compat.js" --build "$BUILD"
