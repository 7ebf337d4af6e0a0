#!/bin/sh
# Makes the installed static library from the internal archive: its objects
# are linked into one relocatable object whose hidden symbols become local,
# so that a program linking libesmtpc.a statically sees only the esmtp_*
# API, as it would from the shared library, and none of the internal names
# (engine_init, ebuf_append, ...) that could clash with its own.
#   make-static.sh OBJCOPY AR INPUT.a OUTPUT.a CC [CC ARGS...]
set -eu
objcopy=$1 ar=$2 input=$3 output=$4
shift 4
tmp="$output.o"
"$@" -r -nostdlib -Wl,--whole-archive "$input" -Wl,--no-whole-archive -o "$tmp"
$objcopy --localize-hidden "$tmp"
rm -f "$output"
$ar rcs "$output" "$tmp"
rm -f "$tmp"
