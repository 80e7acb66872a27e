#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet.
# As root it runs apt-get; otherwise it uses sudo when that works without a
# password; otherwise it prints the exact command to run and fails.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing"
    (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive $cmd >/dev/null) || { echo "deps: '$cmd' failed" >&2; exit 1; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "deps: installing$missing with sudo"
    (sudo -n apt-get update -q >/dev/null && sudo -n env DEBIAN_FRONTEND=noninteractive $cmd >/dev/null) || { echo "deps: 'sudo $cmd' failed" >&2; exit 1; }
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: run as root: apt-get update && $cmd" >&2
    exit 1
fi
