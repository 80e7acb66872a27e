#!/bin/sh
# The dashboard's browser test: drives GET /ui in Debian's headless Chromium
# (/usr/bin/chromium, package chromium) through playwright-core (pinned in
# tests/ui/package.json and package-lock.json; it never downloads a browser)
# against the gateway and the mock exchange; see dashboard.js for what it
# checks.  Installs playwright-core with `npm ci` into BUILD/ui/node (never
# into the source tree); the screenshot goes to BUILD/ui/dashboard.png.
# Needs node >= 18, npm and chromium (Debian 12: apt-get install nodejs npm
# chromium).  Prints "ui: N passed, N failed"; non-zero on any failure.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "ui: '$tool' is missing; on Debian 12: apt-get install -y nodejs npm" >&2
        exit 1
    fi
done
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)'; then
    echo "ui: node 18 or later is needed, found $(node --version)" >&2
    exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "ui: $CHROMIUM is missing; on Debian 12: apt-get install -y chromium" >&2
    exit 1
fi
for bin in kalshi-gateway mock-exchange; do
    [ -x "$BUILD/$bin" ] || { echo "ui: $BUILD/$bin is missing: run make first" >&2; exit 1; }
done
work="$BUILD/ui/node"
mkdir -p "$work"
cp tests/ui/package.json tests/ui/package-lock.json tests/ui/dashboard.js "$work/"
echo "ui: npm ci (playwright-core $(sed -n 's/.*"playwright-core": *"\([^"]*\)".*/\1/p' tests/ui/package.json)) in $work; $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
(cd "$work" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error) || {
    echo "ui: npm ci failed (is the npm registry reachable?)" >&2
    exit 1
}
exec node "$work/dashboard.js" --build "$BUILD" --out "$BUILD/ui" --chromium "$CHROMIUM"
