#!/bin/bash
# Runs a benchmark program against its own smtp-sink (from Postfix) on
# loopback, then stops that smtp-sink by its PID.
#
#   run-bench.sh BENCH_PROGRAM [ARGS...]
#
# Environment:
#   ESMTP_BENCH_PORT  the first port to try (default 42700); the next ones
#                     are tried while a port is taken
#   SMTP_SINK         the smtp-sink program (default: from PATH or /usr/sbin)
#   ESMTP_BENCH_CPUS  where smtp-sink and the benchmark run (with taskset):
#                     "S,B"  smtp-sink on CPU S, the benchmark on CPU B
#                            ("0,0" one CPU for both, "0,1" one CPU each);
#                     "none" wherever the scheduler puts them;
#                     "auto" (the default) both on the last CPU, or "none"
#                            without taskset. Sharing one CPU gives figures
#                            that repeat; see docs/benchmarks.md.
#   ESMTP_BENCH_COUNT, ESMTP_BENCH_REPEAT are read by bench_send itself.
#
# Exits with the benchmark's status, or 77 (skip) without smtp-sink.
# SPDX-License-Identifier: MIT
set -u

if [ $# -lt 1 ]; then
    echo "usage: $0 BENCH_PROGRAM [ARGS...]" >&2
    exit 2
fi
bench=$1
shift

sink=${SMTP_SINK:-}
if [ -z "$sink" ]; then
    sink=$(command -v smtp-sink 2>/dev/null || true)
    [ -z "$sink" ] && [ -x /usr/sbin/smtp-sink ] && sink=/usr/sbin/smtp-sink
fi
if [ -z "$sink" ] || [ ! -x "$sink" ]; then
    echo "run-bench: smtp-sink not found (install postfix: scripts/install-deps.sh); skipping" >&2
    exit 77
fi

# smtp-sink refuses to run as root unless told which user to become.
user_opt=()
if [ "$(id -u)" = 0 ]; then
    user_opt=(-u nobody)
fi

cpus=${ESMTP_BENCH_CPUS:-auto}
if [ "$cpus" = auto ]; then
    if command -v taskset >/dev/null 2>&1 && command -v nproc >/dev/null 2>&1; then
        last=$(($(nproc) - 1))
        cpus="$last,$last"
    else
        cpus=none
    fi
fi
sink_pin=()
bench_pin=()
case $cpus in
none) ;;
[0-9]*,[0-9]*)
    if ! command -v taskset >/dev/null 2>&1; then
        echo "run-bench: ESMTP_BENCH_CPUS=$cpus needs taskset (util-linux)" >&2
        exit 2
    fi
    sink_pin=(taskset -c "${cpus%%,*}")
    bench_pin=(taskset -c "${cpus#*,}")
    ;;
*)
    echo "run-bench: ESMTP_BENCH_CPUS must be auto, none or S,B (e.g. 0,1)" >&2
    exit 2
    ;;
esac

workdir=$(mktemp -d "${TMPDIR:-/tmp}/esmtp-bench.XXXXXX") || exit 1
sink_pid=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$sink_pid" ]; then
        kill "$sink_pid" 2>/dev/null
        wait "$sink_pid" 2>/dev/null
    fi
    rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { # port: whether something accepts connections on 127.0.0.1:port
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

port=${ESMTP_BENCH_PORT:-42700}
for _ in $(seq 1 20); do
    if listening "$port"; then
        port=$((port + 1))
        continue
    fi
    # -c: smtp-sink counts sessions and messages on its stdout.
    "${sink_pin[@]}" "$sink" "${user_opt[@]}" -c "127.0.0.1:$port" 1024 \
        >"$workdir/sink.out" 2>"$workdir/sink.err" &
    sink_pid=$!
    up=0
    for _ in $(seq 1 100); do
        if ! kill -0 "$sink_pid" 2>/dev/null; then
            break # it could not bind (the port was taken meanwhile) or failed
        fi
        if listening "$port"; then
            up=1
            break
        fi
        sleep 0.05
    done
    if [ "$up" = 1 ] && kill -0 "$sink_pid" 2>/dev/null; then
        break
    fi
    kill "$sink_pid" 2>/dev/null
    wait "$sink_pid" 2>/dev/null
    sink_pid=
    port=$((port + 1))
done
if [ -z "$sink_pid" ]; then
    echo "run-bench: could not start smtp-sink on a port from ${ESMTP_BENCH_PORT:-42700}:" >&2
    cat "$workdir/sink.err" >&2 2>/dev/null
    exit 1
fi

if [ "$cpus" = none ]; then
    where="not pinned to CPUs"
else
    where="smtp-sink on CPU ${cpus%%,*}, benchmark on CPU ${cpus#*,}"
fi
echo "run-bench: smtp-sink (pid $sink_pid) on 127.0.0.1:$port; $where"
"${bench_pin[@]}" "$bench" --port "$port" "$@"
status=$?
# The connection used to probe the port counts as a session too.
if [ -s "$workdir/sink.out" ]; then
    echo "run-bench: smtp-sink counters: $(tr '\r' '\n' <"$workdir/sink.out" | tail -n 1)"
fi
if [ -s "$workdir/sink.err" ]; then
    echo "run-bench: smtp-sink said:" >&2
    cat "$workdir/sink.err" >&2
fi
exit "$status"
