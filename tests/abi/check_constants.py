#!/usr/bin/env python3
"""ABI test: the values of the public constants never change.

  check_constants.py --baseline abi/constants.txt --include INCLUDE_DIR -- CC [ARG...] -- HEADER...
  check_constants.py --write abi/constants.txt   --include INCLUDE_DIR -- CC [ARG...] -- HEADER...

(The second "--" may be left out when CC has no arguments: then the first
word after "--" is CC and the rest are headers.)

Programs compile enumerators and constant macros into themselves, so their
values are ABI as much as function signatures are. abidiff only sees the
enums that an exported function's signature reaches; the error codes
(functions return int) and esmtp_want/esmtp_notify are out of its sight.
This check covers every enumerator of every enum in the public headers and
every object-like ESMTP_* macro (except the include guards, ESMTP_EXTERN
and the release-specific ESMTP_VERSION_* macros).

The names come from the headers; the values come from the C compiler
(a generated program prints them), so any constant expression works.

Check mode: every name in the baseline must still exist with the same
value. New names pass and are listed (enums may grow).
Write mode (abi/update-baseline.sh): writes the current names and values.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
EXCLUDED_MACROS = re.compile(r"^(ESMTP_EXTERN|ESMTP_VERSION_\w+|ESMTP_\w+_H)$")


def strip_comments(text):
    """Removes comments and the contents of literals, keeping newlines."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] not in (q, "\n"):
                j += 2 if text[j] == "\\" else 1
            out.append(q + q)
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def constant_names(headers):
    names = []
    for path in headers:
        with open(path, encoding="utf-8") as f:
            code = strip_comments(f.read())
        for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+(" + IDENT + r")(\(?)", code, re.M):
            name, function_like = m.group(1), m.group(2)
            if not function_like and name.startswith("ESMTP_") \
                    and not EXCLUDED_MACROS.match(name):
                names.append(name)
        nopp = re.sub(r"^[ \t]*#.*(\\\n.*)*$", "", code, flags=re.M)
        for m in re.finditer(r"\benum\b\s*(" + IDENT + r")?\s*\{([^}]*)\}", nopp):
            for item in m.group(2).split(","):
                item = item.strip()
                if item:
                    em = re.match(IDENT, item)
                    if not em:
                        sys.exit(f"{path}: cannot read enumerator {item!r}")
                    names.append(em.group(0))
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        sys.exit(f"constant declared twice: {', '.join(dup)}")
    return names


def evaluate(names, cc, include):
    lines = ["#include <esmtp/esmtp.h>", "#include <stdint.h>", "#include <stdio.h>",
             "int main(void)", "{"]
    for n in names:
        lines.append(f'    if (({n}) < 0) printf("%s %jd\\n", "{n}", (intmax_t)({n}));')
        lines.append(f'    else printf("%s %ju\\n", "{n}", (uintmax_t)({n}));')
    lines += ["    return 0;", "}", ""]
    with tempfile.TemporaryDirectory(prefix="esmtp-constants-") as tmp:
        c = os.path.join(tmp, "constants.c")
        exe = os.path.join(tmp, "constants")
        with open(c, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        proc = subprocess.run([*cc, "-I", include, "-w", c, "-o", exe],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit("cannot compile the constants program:\n" + proc.stderr)
        out = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    values = {}
    for line in out.splitlines():
        name, value = line.split()
        values[name] = int(value)
    return values


def read_baseline(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) != 2 or not re.fullmatch(r"-?[0-9]+", fields[1]):
                sys.exit(f"{path}:{number}: expected NAME VALUE: {line!r}")
            values[fields[0]] = int(fields[1])
    return values


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    i = argv.index("--")
    opts, rest = argv[:i], argv[i + 1:]
    if "--" in rest:
        j = rest.index("--")
        cc, headers = rest[:j], rest[j + 1:]
    else:
        cc, headers = rest[:1], rest[1:]
    ap = argparse.ArgumentParser()
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--baseline")
    mode.add_argument("--write")
    ap.add_argument("--include", required=True)
    args = ap.parse_args(opts)
    if not cc or not headers:
        sys.exit("no compiler or no headers given")

    names = constant_names(headers)
    values = evaluate(names, cc, args.include)

    if args.write:
        with open(args.write, "w", encoding="utf-8") as f:
            f.write("# The public constants of libesmtpc.so.1 and their values: they never\n"
                    "# change (docs/ABI.md). Written by abi/update-baseline.sh;\n"
                    "# checked by tests/abi/check_constants.py.\n")
            for n in sorted(values):
                f.write(f"{n} {values[n]}\n")
        print(f"wrote {len(values)} constants to {args.write}")
        return 0

    baseline = read_baseline(args.baseline)
    errors = []
    for n, v in sorted(baseline.items()):
        if n not in values:
            errors.append(f"{n} (= {v}) is gone from the public headers")
        elif values[n] != v:
            errors.append(f"{n} changed its value from {v} to {values[n]}")
    added = sorted(set(values) - set(baseline))
    for n in added:
        print(f"added (fine, not in the baseline yet): {n} = {values[n]}")
    if errors:
        print(f"FAIL: {len(errors)} public constant(s) changed; programs built against "
              "libesmtpc.so.1 have the old values compiled in (docs/ABI.md):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print(f"ok: {len(baseline)} constants of the baseline keep their values"
          + (f"; {len(added)} added" if added else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
