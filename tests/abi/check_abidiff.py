#!/usr/bin/env python3
"""ABI test: the library built now is compatible with the committed 1.0
baseline (abi/libesmtpc.so.1.abi), as libabigail's abidiff sees it.

  check_abidiff.py --abidiff ABIDIFF --readelf READELF --baseline ABI_XML
                   --headers-dir INCLUDE_DIR --lib LIBRARY

abidiff compares the functions the baseline records (name, symbol version,
return and parameter types, and every public type they reach: typedefs,
enums, callback signatures) with the same in LIBRARY's ELF symbols and
DWARF. Only types defined in INCLUDE_DIR count; the opaque structs'
insides are private and may change freely.

Policy (docs/ABI.md, "How the checks enforce it"):
  * ABIDIFF_ABI_INCOMPATIBLE_CHANGE (8): a function of the baseline is
    gone, or moved to another version node -> FAIL.
  * ABIDIFF_ABI_CHANGE (4) -> FAIL unless it comes only from added
    functions. abidiff is run again with --no-added-syms: any change left
    (a parameter or return type, a callback typedef, an enumerator removed,
    renamed or renumbered) fails. Added enumerators are among abidiff's
    "harmless" changes and pass: enums may grow (callers must handle
    unknown values).
  * ABIDIFF_ERROR (1) or ABIDIFF_USAGE_ERROR (2) -> FAIL.
  * Added functions pass; they are listed in the output. The baseline is
    regenerated (abi/update-baseline.sh) when a release adds them.
  * A library without DWARF (a build without -g) cannot be compared type
    by type: the test is skipped (exit 77) with a message, not passed.
"""

import argparse
import subprocess
import sys

ABIDIFF_ERROR = 1
ABIDIFF_USAGE_ERROR = 2
ABIDIFF_ABI_CHANGE = 4
ABIDIFF_ABI_INCOMPATIBLE_CHANGE = 8
SKIP = 77


def has_debug_info(readelf, lib):
    out = subprocess.run([readelf, "-S", "-W", lib], check=True,
                         capture_output=True, text=True).stdout
    return ".debug_info" in out


def abidiff(args, extra):
    cmd = [args.abidiff, "--headers-dir2", args.headers_dir, "--no-show-locs",
           *extra, args.baseline, args.lib]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode, (proc.stdout + proc.stderr).rstrip(), cmd


def bits(status):
    names = [(ABIDIFF_ERROR, "ERROR"), (ABIDIFF_USAGE_ERROR, "USAGE_ERROR"),
             (ABIDIFF_ABI_CHANGE, "ABI_CHANGE"),
             (ABIDIFF_ABI_INCOMPATIBLE_CHANGE, "ABI_INCOMPATIBLE_CHANGE")]
    return "|".join(n for b, n in names if status & b) or "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--abidiff", required=True)
    ap.add_argument("--readelf", required=True)
    ap.add_argument("--baseline", required=True)
    ap.add_argument("--headers-dir", required=True)
    ap.add_argument("--lib", required=True)
    args = ap.parse_args()

    if not has_debug_info(args.readelf, args.lib):
        print(f"SKIP: {args.lib} has no DWARF (.debug_info): abidiff cannot compare "
              "types without it. Build with debug info (the default buildtype "
              "debugoptimized has it).")
        return SKIP

    status, report, cmd = abidiff(args, [])
    print("$ " + " ".join(cmd))
    print(report)
    print(f"abidiff exit status {status} ({bits(status)})")

    if status & (ABIDIFF_ERROR | ABIDIFF_USAGE_ERROR):
        print("FAIL: abidiff could not compare the baseline with the library", file=sys.stderr)
        return 1
    if status & ABIDIFF_ABI_INCOMPATIBLE_CHANGE:
        print("FAIL: incompatible ABI change (a function of the 1.0 ABI was removed or "
              "changed its symbol version). See docs/ABI.md.", file=sys.stderr)
        return 1
    if status & ABIDIFF_ABI_CHANGE:
        # Is it only additions?
        status2, report2, cmd2 = abidiff(args, ["--no-added-syms"])
        if status2 != 0:
            print("$ " + " ".join(cmd2))
            print(report2)
            print(f"FAIL: the ABI changed beyond added functions (abidiff --no-added-syms "
                  f"exit status {status2}, {bits(status2)}): an existing function's "
                  "parameter or return type, a callback type or an enumerator changed. "
                  "Add a new function instead (docs/ABI.md).", file=sys.stderr)
            return 1
        print("ok: compatible with the baseline; the changes above are added functions "
              "only (regenerate the baseline with abi/update-baseline.sh when they are "
              "released)")
        return 0
    print("ok: the ABI is the baseline's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
