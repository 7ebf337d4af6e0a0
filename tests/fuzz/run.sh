#!/bin/sh
# Runs every libFuzzer target of a -Dfuzzing=true build for a bounded time.
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
# New inputs go to a scratch corpus (the committed seeds are only read);
# a crash, leak or sanitizer report fails the run and leaves the input in
# BUILD_DIR/fuzz-artifacts/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$1 seconds=$2
shift 2
targets=${*:-$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" "$here/meson.build" | tr -d "',")}
mkdir -p "$build/fuzz-artifacts"
status=0
for t in $targets; do
  bin="$build/tests/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: $t FAILED (not built)" >&2; status=1; continue; }
  scratch=$(mktemp -d)
  dict=""
  [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
  echo "fuzz: $t for ${seconds}s"
  # shellcheck disable=SC2086
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz-artifacts/$t-" $dict "$scratch" "$here/corpus/$t" \
      >"$build/fuzz-artifacts/$t.log" 2>&1; then
    echo "fuzz: $t FAILED (log: $build/fuzz-artifacts/$t.log)" >&2
    tail -n 40 "$build/fuzz-artifacts/$t.log" >&2
    status=1
  else
    printf 'fuzz: %s ok ' "$t"
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
      "$build/fuzz-artifacts/$t.log" | tr '\n' ' '
    echo
  fi
  rm -rf "$scratch"
done
exit $status
