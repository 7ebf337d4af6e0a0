#!/usr/bin/env python3
"""ABI test: rules the public headers follow so that the ABI can be kept.

  check_header_rules.py HEADER...

  * No varargs ("...") anywhere in a declaration: neither public functions
    nor callback types may take variable arguments (they cannot be wrapped
    or forwarded portably, and bindings cannot call them).
  * No struct or union layout is exposed: handles are opaque, declared only
    as "typedef struct x x;" — a definition "struct x { ... }" (named or
    anonymous, also union) would freeze its size and member offsets.
Comments, string literals and preprocessor directives are ignored.
"""

import re
import sys


def code_lines(text):
    """Returns (line number, code) pairs with comments and literals blanked."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("\n" * text.count("\n", i, end) or " ")
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
    lines, cont = [], False
    for number, line in enumerate("".join(out).split("\n"), 1):
        directive = cont or line.lstrip().startswith("#")
        cont = directive and line.rstrip().endswith("\\")
        lines.append((number, "" if directive else line))
    return lines


def main(headers):
    problems = []
    for path in headers:
        with open(path, encoding="utf-8") as f:
            lines = code_lines(f.read())
        for number, line in lines:
            if "..." in line:
                problems.append(f"{path}:{number}: varargs in the public API: {line.strip()}")
        # Layout definitions may span lines ("struct x\n{"), so look at the
        # whole code with line numbers recovered from offsets.
        code = "\n".join(line for _, line in lines)
        for m in re.finditer(r"\b(struct|union)\b(\s+[A-Za-z_][A-Za-z0-9_]*)?\s*\{", code):
            number = code.count("\n", 0, m.start()) + 1
            what = " ".join(m.group(0).split())
            problems.append(f"{path}:{number}: public {m.group(1)} layout exposed: {what} ...")
    if problems:
        print(f"FAIL: {len(problems)} problem(s) in the public headers:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"ok: {len(headers)} headers: no varargs, no struct or union layout")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: check_header_rules.py HEADER...")
    sys.exit(main(sys.argv[1:]))
