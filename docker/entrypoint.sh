#!/bin/sh
# Container entry point for kalshi-gateway (also runnable directly: docker/check.sh does).
#
#   docker-entrypoint.sh [serve] [GATEWAY FLAGS...]  checks the setup, then execs the gateway
#   docker-entrypoint.sh --check-config              validates and exits (0 ok, 2 problems)
#   docker-entrypoint.sh healthcheck                 GET /healthz on the listening port (HEALTHCHECK)
#   docker-entrypoint.sh session start|status|...    the gateway's control client
#   docker-entrypoint.sh COMMAND [ARGS...]           runs COMMAND (e.g. sh) instead
#
# Defaults (each can be overridden through the environment):
#   GATEWAY_LISTEN            0.0.0.0:8080 (inside the container only; publish the port as you like)
#   GATEWAY_STATE_DIR         /var/lib/kalshi-gateway (a volume in the image)
#   KALSHI_PRIVATE_KEY_FILE   /run/secrets/kalshi_private_key (Docker secret), when that file exists
#   GATEWAY_ADMIN_TOKEN_FILE  /run/secrets/gateway_admin_token (Docker secret), when that file exists
#   GATEWAY_CONFIG            unset (a JSON file, e.g. with the bots in "clients")
#   GATEWAY_BIN               kalshi-gateway (from PATH)
# GATEWAY_LISTEN always wins over a "listen" in the configuration file (environment
# beats file); the health check uses the same variable.
#
# Listening on anything but loopback is refused unless callers must identify:
# GATEWAY_ADMIN_TOKEN_FILE is set, or GATEWAY_CONFIG names a configuration with
# clients (the gateway itself makes the final check and exits 2 otherwise).
# Refusals exit 2, like every configuration error of the gateway.
set -eu

SECRETS_DIR=${SECRETS_DIR:-/run/secrets}
: "${GATEWAY_LISTEN:=0.0.0.0:8080}"
: "${GATEWAY_STATE_DIR:=/var/lib/kalshi-gateway}"
: "${GATEWAY_BIN:=kalshi-gateway}"
export GATEWAY_LISTEN GATEWAY_STATE_DIR

if [ -z "${KALSHI_PRIVATE_KEY_FILE:-}" ] && [ -f "$SECRETS_DIR/kalshi_private_key" ]; then
    KALSHI_PRIVATE_KEY_FILE=$SECRETS_DIR/kalshi_private_key
    export KALSHI_PRIVATE_KEY_FILE
fi
if [ -z "${GATEWAY_ADMIN_TOKEN_FILE:-}" ] && [ -f "$SECRETS_DIR/gateway_admin_token" ]; then
    GATEWAY_ADMIN_TOKEN_FILE=$SECRETS_DIR/gateway_admin_token
    export GATEWAY_ADMIN_TOKEN_FILE
fi

say() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
refuse() { say "$@"; exit 2; }

# The host and port of GATEWAY_LISTEN ("0.0.0.0:8080", "[::]:8080").
listen_host() { h=${GATEWAY_LISTEN%:*}; h=${h#[}; printf '%s' "${h%]}"; }
listen_port() { printf '%s' "${GATEWAY_LISTEN##*:}"; }
is_loopback() {
    case "$(listen_host)" in
        127.*|localhost|::1) return 0 ;;
        *) return 1 ;;
    esac
}

# Everything a misconfigured container should say before the gateway starts.
precheck() {
    uid=$(id -u)
    if ! is_loopback && [ -z "${GATEWAY_ADMIN_TOKEN_FILE:-}" ] && [ -z "${GATEWAY_CONFIG:-}" ]; then
        refuse "refusing to listen on $GATEWAY_LISTEN without client identification." \
               "Give an admin token as Docker secret 'gateway_admin_token' (or set GATEWAY_ADMIN_TOKEN_FILE)" \
               "and/or a configuration with clients (GATEWAY_CONFIG), or set GATEWAY_LISTEN=127.0.0.1:PORT."
    fi
    for v in GATEWAY_ADMIN_TOKEN_FILE GATEWAY_CONFIG KALSHI_CA_FILE; do
        eval "f=\${$v:-}"
        [ -z "$f" ] && continue
        [ -r "$f" ] || refuse "$v: cannot read '$f' as uid $uid" \
            "(a file secret keeps its host owner and mode: chown $uid it, or make it readable)"
    done
    if [ -z "${KALSHI_PRIVATE_KEY_FILE:-}" ]; then
        if [ -z "${GATEWAY_CONFIG:-}" ]; then
            refuse "no Kalshi private key: give it as Docker secret 'kalshi_private_key'" \
                   "(mounted at $SECRETS_DIR/kalshi_private_key) or set KALSHI_PRIVATE_KEY_FILE," \
                   "and set KALSHI_API_KEY_ID."
        fi
    elif [ ! -r "$KALSHI_PRIVATE_KEY_FILE" ]; then
        if [ -e "$KALSHI_PRIVATE_KEY_FILE" ]; then
            refuse "KALSHI_PRIVATE_KEY_FILE: cannot read '$KALSHI_PRIVATE_KEY_FILE' as uid $uid" \
                   "(a file secret keeps its host owner and mode: chown $uid it and chmod 600)"
        fi
        refuse "KALSHI_PRIVATE_KEY_FILE: '$KALSHI_PRIVATE_KEY_FILE' does not exist" \
               "(give the key as Docker secret 'kalshi_private_key')"
    fi
    if [ -d "$GATEWAY_STATE_DIR" ]; then
        [ -w "$GATEWAY_STATE_DIR" ] || refuse "GATEWAY_STATE_DIR: '$GATEWAY_STATE_DIR' is not writable by uid $uid" \
            "(a bind mount keeps its host owner: chown $uid it, or use a named volume)"
    else
        parent=$(dirname "$GATEWAY_STATE_DIR")
        [ -w "$parent" ] || refuse "GATEWAY_STATE_DIR: cannot create '$GATEWAY_STATE_DIR' as uid $uid"
    fi
}

healthcheck() {
    case "$(listen_host)" in
        0.0.0.0|"") h=127.0.0.1 ;;
        ::|*:*) h="[::1]" ;;
        *) h=$(listen_host) ;;
    esac
    exec curl -fsS --max-time 3 -o /dev/null "http://$h:$(listen_port)/healthz"
}

cmd=${1:-serve}
case "$cmd" in
    serve)
        [ $# -gt 0 ] && shift
        ;;
    -*)
        ;;
    healthcheck)
        healthcheck
        ;;
    session)
        exec "$GATEWAY_BIN" "$@"
        ;;
    *)
        exec "$@"
        ;;
esac

precheck
# The gateway reads GATEWAY_CONFIG itself, validates everything else (key
# format, clients and that a non-loopback listen has some, limits) and exits 2
# with "SOURCE:FIELD: message" lines; exec so it gets the signals directly.
exec "$GATEWAY_BIN" "$@"
