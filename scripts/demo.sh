#!/bin/sh
# The demo: installs what esmtp needs, builds it, starts a local aiosmtpd
# that records what it receives, sends a real message to it through
# esmtp-send (with the protocol transcript), and shows what the server got.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build esmtp-send >/dev/null

dir=$(mktemp -d /tmp/esmtp-demo.XXXXXX)
port=${ESMTP_DEMO_PORT:-42525}
/usr/bin/python3 tests/servers/recorder.py --dir "$dir" --port "$port" \
    --nopipe-port $((port + 1)) >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
for _ in $(seq 50); do
    /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" \
        2>/dev/null && break
    sleep 0.1
done

cat >"$dir/message.txt" <<MSG
From: Demo Sender <sender@example.org>
To: Alice <alice@example.org>
Subject: Hello from esmtp
Date: $(date -R)
Message-ID: <demo.$(date +%s).$$@example.org>

This message was sent by esmtp-send through libesmtpc.
.A line that starts with a dot arrives intact.
MSG

echo "== esmtp-send --trace (transcript on stderr, one result line per recipient on stdout)"
status=0
build/examples/esmtp-send --server "127.0.0.1:$port" --tls none --from sender@example.org \
    --to alice@example.org --to bob@example.org --to rejected@example.org \
    --message "$dir/message.txt" --trace 2>&1 || status=$?
echo "== exit status: $status (69: a recipient was refused for good, as the server's test hook does for 'reject*')"
for env in "$dir"/*.env; do
    echo "== envelope the server recorded ($env)"
    cat "$env"
    printf "== message bytes the server recorded (CR shown as %s)\n" "\\r"
    sed 's/\r/\\r/' "${env%.env}.eml"
done
