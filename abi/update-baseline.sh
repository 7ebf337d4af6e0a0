#!/bin/sh
# Regenerates the ABI baseline that the 'abi' test suite compares every build
# with (docs/ABI.md):
#   abi/libesmtpc.so.1.abi   abidw's record of the exported functions and the
#                            public types they reach (tests/abi/check_abidiff.py)
#   abi/constants.txt        the value of every public enumerator and constant
#                            macro (tests/abi/check_constants.py)
#
# Run it ONLY when a release adds API, after docs/symbols-in-versions and
# lib/esmtp.map list the new functions, and commit the result with the
# release. Never run it to make a failing ABI check pass: a failure means
# an existing function, type or value changed, which breaks programs already
# built against libesmtpc.so.1. Change the code back instead.
#
#   abi/update-baseline.sh [BUILD_DIR]
#
# Without BUILD_DIR the library is built from this source tree in a
# throw-away directory (needs meson, a C compiler and abigail-tools). With
# BUILD_DIR, that build's library is used; it must have debug info (-g).
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
command -v abidw >/dev/null || { echo "update-baseline: abidw not found: apt-get install abigail-tools" >&2; exit 1; }

tmp=
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
if [ $# -ge 1 ]; then
  build=$(cd "$1" && pwd)
else
  tmp=$(mktemp -d /tmp/esmtp-abi-baseline.XXXXXX)
  build="$tmp/build"
  meson setup "$build" "$src" --buildtype=debugoptimized -Dtests=false -Dbenchmarks=false >"$tmp/setup.log" ||
    { cat "$tmp/setup.log" >&2; exit 1; }
  meson compile -C "$build" esmtpc >"$tmp/compile.log" || { cat "$tmp/compile.log" >&2; exit 1; }
fi
lib="$build/lib/libesmtpc.so.1"
[ -e "$lib" ] || { echo "update-baseline: $lib not found" >&2; exit 1; }
readelf -S -W "$lib" | grep -q '\.debug_info' ||
  { echo "update-baseline: $lib has no debug info: build it with -g" >&2; exit 1; }

# Only types defined in include/esmtp count (--headers-dir, then
# --drop-private-types); only exported functions (--exported-interfaces-only).
# No paths, source locations or DT_NEEDED entries, so that the file changes
# only when the ABI does.
abidw --headers-dir include/esmtp --drop-private-types --exported-interfaces-only \
      --drop-undefined-syms --no-corpus-path --no-comp-dir-path --no-show-locs \
      --no-elf-needed --type-id-style hash \
      --out-file abi/libesmtpc.so.1.abi "$lib"
# Translation units are named by their path from the build directory
# ("../../../work/main/lib/session.c"): keep only the part in the tree.
sed -i "s|path='[^']*/lib/|path='lib/|" abi/libesmtpc.so.1.abi
python3 tests/abi/check_constants.py --write abi/constants.txt \
        --include include -- ${CC:-cc} -- include/esmtp/esmtp.h include/esmtp/mime.h include/esmtp/version.h

echo "wrote abi/libesmtpc.so.1.abi ($(grep -c '<elf-symbol ' abi/libesmtpc.so.1.abi) functions) and abi/constants.txt ($(grep -c . abi/constants.txt) lines)"
