#!/bin/sh
# Builds esmtp and runs every test: unit, ABI and integration tests against
# real servers (started here and stopped at the end), then the same suite
# again under ASan+UBSan, then unit and integration tests under valgrind.
# Works on a fresh Debian 12 machine as root. .ci/run calls exactly this.
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

# One closing line over all three runs, in the plain form CI reads.
/usr/bin/python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog-sanitize.json \
    build/meson-logs/testlog-valgrind.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
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
