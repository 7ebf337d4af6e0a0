#!/bin/sh
# Builds esmtp and runs every test: unit, ABI and integration tests against
# real servers (started here and stopped at the end), then the same suite
# again under ASan+UBSan, then unit and integration tests under valgrind.
# Then, with clang, every libFuzzer target runs for a bounded time
# (ESMTP_FUZZ_SECONDS each, default 45). Works on a fresh Debian 12 machine
# as root. .ci/run calls exactly this.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh

state=$(mktemp -d /tmp/esmtp-test-servers.XXXXXX)
tests/servers/ctl.sh start "$state"
trap 'tests/servers/ctl.sh stop "$state" >/dev/null 2>&1 || true; rm -rf "$state"' EXIT INT TERM
export ESMTP_TEST_ENV="$state/env"
export ESMTP_TEST_REQUIRE_SERVERS=1 # a server that is not there fails, not skips

[ -f build/build.ninja ] || meson setup build
meson configure build -Dtsan=true # the thread test under ThreadSanitizer too
[ -f build-asan/build.ninja ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false

status=0
meson compile -C build
meson test -C build --print-errorlogs || status=1
meson compile -C build-asan
meson test -C build-asan --setup sanitize --print-errorlogs || status=1
meson test -C build --setup valgrind --suite unit --suite integration --print-errorlogs || status=1

fuzzlog=build/meson-logs/fuzz.txt
: >"$fuzzlog"
if command -v clang >/dev/null 2>&1; then
  [ -f build-fuzz/build.ninja ] || CC=clang meson setup build-fuzz -Dfuzzing=true \
      -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false
  targets=$(sed -n "s/^fuzz_targets = \[\(.*\)\]/\1/p" tests/fuzz/meson.build | tr -d "',")
  # shellcheck disable=SC2046 # one ninja target per fuzz target
  ninja -C build-fuzz $(for t in $targets; do echo "tests/fuzz/fuzz_$t"; done) || status=1
  tests/fuzz/run.sh build-fuzz "${ESMTP_FUZZ_SECONDS:-45}" >"$fuzzlog" 2>&1 || status=1
  cat "$fuzzlog"
fi

# One closing line over all the runs (a fuzz target counts as one test), in
# the plain form CI reads.
/usr/bin/python3 - "$fuzzlog" build/meson-logs/testlog.json \
    build-asan/meson-logs/testlog-sanitize.json build/meson-logs/testlog-valgrind.json <<'PY'
import json, sys
passed = failed = skipped = 0
for line in open(sys.argv[1]):
    if line.startswith("fuzz: ") and line.split()[2:3] == ["ok"]:
        passed += 1
    elif line.startswith("fuzz: ") and "FAILED" in line:
        failed += 1
for path in sys.argv[2:]:
    for line in open(path):
        result = json.loads(line)["result"]
        if result == "OK":
            passed += 1
        elif result == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
exit $status
