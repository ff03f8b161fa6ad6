#!/bin/sh
# The agent container's entrypoint: enroll once (a new data dir and a token given), then run.
# Extra arguments are passed to `shareai-agent run`. SHAREAI_TLS=1 (and SHAREAI_TLS_CA=/path/ca.pem
# for a private CA) talk TLS to a coordinator started with --tls-cert/--tls-key.
set -eu

TLS_ARGS=""
if [ -n "${SHAREAI_TLS_CA:-}" ]; then
    [ -r "$SHAREAI_TLS_CA" ] || { echo "agent: SHAREAI_TLS_CA=$SHAREAI_TLS_CA is not readable" >&2; exit 1; }
    TLS_ARGS="--tls --tls-ca $SHAREAI_TLS_CA"
elif [ "${SHAREAI_TLS:-0}" = 1 ]; then
    TLS_ARGS="--tls"
fi

DATA_DIR="${SHAREAI_DATA_DIR:-/var/lib/shareai}"
MARKER="$DATA_DIR/.enrolled-by-container"

if [ ! -f "$MARKER" ]; then
    # The token reaches `shareai-agent enroll` through the environment or its 0600 file, never argv
    # (`ps` shows argv to every user).
    token_source=""
    if [ -n "${SHAREAI_TOKEN:-}" ]; then
        token_source="env"
    elif [ -n "${SHAREAI_TOKEN_FILE:-}" ]; then
        # The compose file's token service writes it (mode 0600); wait for it rather than race it.
        tries=0
        while [ ! -s "$SHAREAI_TOKEN_FILE" ] && [ "$tries" -lt 60 ]; do
            tries=$((tries + 1))
            sleep 1
        done
        [ -s "$SHAREAI_TOKEN_FILE" ] || { echo "agent: no token in $SHAREAI_TOKEN_FILE" >&2; exit 1; }
        token_source="file"
    fi
    if [ -n "$token_source" ]; then
        : "${SHAREAI_COORDINATOR:?set SHAREAI_COORDINATOR=HOST:PORT (the coordinator gRPC address)}"
        name="${SHAREAI_NODE_NAME:-$(hostname)}"
        if [ "$token_source" = "env" ]; then
            # shellcheck disable=SC2086 # TLS_ARGS is a list of words by design (no spaces in the CA path)
            SHAREAI_ENROLL_TOKEN=$SHAREAI_TOKEN shareai-agent enroll --coordinator "$SHAREAI_COORDINATOR" \
                --data-dir "$DATA_DIR" --name "$name" $TLS_ARGS
        else
            # shellcheck disable=SC2086 # TLS_ARGS is a list of words by design
            shareai-agent enroll --token-file "$SHAREAI_TOKEN_FILE" --coordinator "$SHAREAI_COORDINATOR" \
                --data-dir "$DATA_DIR" --name "$name" $TLS_ARGS
        fi
        touch "$MARKER"
    fi
fi

# Where the coordinator reaches this node. The coordinator accepts only the address the node's own
# connection comes from (or its [nodes] allowed_networks), never a host name: in a container that is
# the container's IP. SHAREAI_ADVERTISE_URL overrides (e.g. a published port on the host's address).
if [ -z "${SHAREAI_ADVERTISE_URL:-}" ]; then
    ip=$(hostname -i 2>/dev/null | awk '{print $1}')
    if [ -n "$ip" ]; then
        SHAREAI_ADVERTISE_URL="http://$ip:${SHAREAI_PORT:-8001}/v1"
    fi
fi
if [ -n "${SHAREAI_ADVERTISE_URL:-}" ]; then
    set -- --advertise-url "$SHAREAI_ADVERTISE_URL" "$@"
fi
# shellcheck disable=SC2086 # TLS_ARGS is a list of words by design
exec shareai-agent run --data-dir "$DATA_DIR" $TLS_ARGS \
    --model "$SHAREAI_MODEL" --model-name "$SHAREAI_MODEL_NAME" --chat-format "$SHAREAI_CHAT_FORMAT" \
    --host 0.0.0.0 --port "${SHAREAI_PORT:-8001}" "$@"
