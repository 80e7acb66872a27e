#!/bin/sh
# `make run`: runs the gateway. With KALSHI_API_KEY_ID and
# KALSHI_PRIVATE_KEY_FILE set it uses the configured upstream (Kalshi demo by
# default). Without credentials it runs a self-contained demo: the mock
# exchange on loopback with a fresh key pair, the gateway pointed at it, and
# curl lines that work as printed. Ctrl-C stops everything.
set -eu
BUILD=${1:-build}
GW="$BUILD/kalshi-gateway"
MOCK="$BUILD/mock-exchange"

if [ -n "${KALSHI_API_KEY_ID:-}" ] && [ -n "${KALSHI_PRIVATE_KEY_FILE:-}" ]; then
    exec "$GW" ${GATEWAY_CONFIG:+-c "$GATEWAY_CONFIG"}
fi

listen=${GATEWAY_LISTEN:-127.0.0.1:8080}
dir=$(mktemp -d "${TMPDIR:-/tmp}/kalshi-gateway-demo.XXXXXX")
mock_pid=""; gw_pid=""
cleanup() {
    trap - EXIT INT TERM
    [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null && wait "$gw_pid" 2>/dev/null || true
    [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

echo "demo: no KALSHI_API_KEY_ID/KALSHI_PRIVATE_KEY_FILE set, so running against a local mock exchange"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/key.pem" 2>/dev/null
openssl pkey -in "$dir/key.pem" -pubout -out "$dir/pub.pem" 2>/dev/null
chmod 600 "$dir/key.pem"

"$MOCK" --listen 127.0.0.1:0 --public-key "$dir/pub.pem" --key-id demo-key > "$dir/mock.out" 2> "$dir/mock.log" &
mock_pid=$!
i=0
while ! grep -q '^listening on' "$dir/mock.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "demo: mock exchange did not start" >&2; cat "$dir/mock.log" >&2; exit 1; }
    sleep 0.05
done
mock_addr=$(sed -n 's/^listening on //p' "$dir/mock.out" | head -1)

KALSHI_UPSTREAM_URL="http://$mock_addr" KALSHI_API_KEY_ID=demo-key \
KALSHI_PRIVATE_KEY_FILE="$dir/key.pem" GATEWAY_STATE_DIR="$dir/var" GATEWAY_LISTEN="$listen" \
    "$GW" ${GATEWAY_CONFIG:+-c "$GATEWAY_CONFIG"} &
gw_pid=$!
i=0
until curl -fs "http://$listen/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$gw_pid" 2>/dev/null; then
        echo "demo: the gateway did not start (is $listen in use? set GATEWAY_LISTEN)" >&2; exit 1
    fi
    sleep 0.05
done

cat <<EOT

kalshi-gateway demo: gateway on http://$listen, mock exchange on http://$mock_addr
Try, in another terminal:

  curl -s -X POST http://$listen/session/start -H 'Content-Type: application/json' -d '{"contracts_limit": 100}'
  curl -s -X POST http://$listen/trade-api/v2/portfolio/events/orders -H 'Content-Type: application/json' -d '{"ticker": "KXMOCK-26DEC31-A", "side": "bid", "count": "1.00", "price": "0.4500", "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"}'
  curl -s http://$listen/session
  curl -s -X POST http://$listen/session/end -H 'Content-Type: application/json' -d '{}'

Press Ctrl-C to stop.
EOT
wait "$gw_pid"
