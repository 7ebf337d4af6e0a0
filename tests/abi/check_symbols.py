#!/usr/bin/env python3
"""ABI test: the exported symbols, the public declarations and the version
script must name exactly the same functions.

  check_symbols.py --nm NM --readelf READELF --lib LIBRARY --map MAPFILE HEADER...

Checks, printing every discrepancy before failing:
  * the names declared with ESMTP_EXTERN in the headers, the names listed in
    the version script and the symbols the built library defines (its
    dynamic symbol table) are the same three sets;
  * every exported symbol is versioned with the default version (@@) of the
    ESMTP_1.x node that lists it in the version script;
  * every version node is named ESMTP_1.<n>, lists names explicitly (no
    wildcards) and the script ends with "local: *;";
  * every exported name starts with "esmtp_";
  * no function or data is declared in a public header without ESMTP_EXTERN;
  * the library's SONAME is libesmtpc.so.1.
Uses only the Python standard library.
"""

import argparse
import re
import subprocess
import sys

PREFIX = "esmtp_"
NODE_RE = re.compile(r"^ESMTP_1\.[0-9]+$")
SONAME = "libesmtpc.so.1"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
# Words that may stand before a declarator's "(" without being its name.
NOT_NAMES = {
    "__attribute__", "__declspec", "const", "volatile", "void", "char", "short",
    "int", "long", "unsigned", "signed", "float", "double", "struct", "union",
    "enum", "extern", "static", "inline", "restrict", "__restrict",
}

errors = []


def fail(msg):
    errors.append(msg)


def strip_comments(text):
    """Removes C comments and string/char literal contents (keeping newlines)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(" " + "\n" * text.count("\n", i, end))
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_preprocessor(text):
    """Drops preprocessor directives, including their continuation lines."""
    out, cont = [], False
    for line in text.split("\n"):
        directive = cont or line.lstrip().startswith("#")
        cont = directive and line.rstrip().endswith("\\")
        out.append("" if directive else line)
    return "\n".join(out)


def declarations(path):
    """Yields the top-level declarations of a header, whitespace-normalised."""
    with open(path, encoding="utf-8") as f:
        text = strip_preprocessor(strip_comments(f.read()))
    text = re.sub(r'extern\s*""\s*\{', " ", text)  # extern "C" { (literal emptied)
    # Collapse brace bodies (enums, inline functions) to "{}"; a "}" with no
    # opening brace is the end of extern "C" and is dropped.
    flat, depth = [], 0
    for c in text:
        if c == "{":
            if depth == 0:
                flat.append("{}")
            depth += 1
        elif c == "}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            flat.append(c)
    for stmt in "".join(flat).split(";"):
        stmt = " ".join(stmt.split())
        if stmt:
            yield stmt


def declared_name(stmt):
    """The name a declaration declares (function or object)."""
    for m in re.finditer(r"(" + IDENT + r")\s*\(", stmt):
        if m.group(1) not in NOT_NAMES and m.group(1) != "ESMTP_EXTERN":
            return m.group(1), True
    words = re.findall(IDENT, re.sub(r"\[.*?\]|=.*$", "", stmt))
    return (words[-1] if words else None), False


def header_exports(headers):
    names = {}
    for path in headers:
        for stmt in declarations(path):
            if stmt.startswith("typedef ") or re.match(r"static\b", stmt):
                continue
            if re.match(r"(struct|union|enum)\s+" + IDENT + r"\s*(\{\})?$", stmt):
                continue  # a tag declaration, no object or function
            name, is_function = declared_name(stmt)
            if "ESMTP_EXTERN" not in stmt.split():
                fail(f"{path}: declared without ESMTP_EXTERN: {stmt};")
                continue
            if name is None:
                fail(f"{path}: cannot find the declared name in: {stmt};")
                continue
            if not is_function:
                fail(f"{path}: exported object (only functions may be exported): {name}")
            if name in names:
                fail(f"{path}: {name} declared twice")
            names[name] = path
    return set(names)


def version_script(path):
    """Returns {symbol: node} for the names the script exports."""
    with open(path, encoding="utf-8") as f:
        text = strip_comments(f.read())
    text = re.sub(r"#[^\n]*", " ", text)
    symbols = {}
    node_re = re.compile(r"(" + r"[A-Za-z_][A-Za-z0-9_.]*" + r")\s*\{(.*?)\}\s*([A-Za-z0-9_.]*)\s*;",
                         re.S)
    nodes = list(node_re.finditer(text))
    rest = node_re.sub("", text).strip()
    if not nodes:
        fail(f"{path}: no version node found")
    if rest:
        fail(f"{path}: text outside the version nodes: {rest!r}")
    seen_local = False
    for node in nodes:
        name, body = node.group(1), node.group(2)
        if not NODE_RE.match(name):
            fail(f"{path}: version node {name} is not named ESMTP_1.<n>")
        scope = "global"
        for item in body.replace(";", " ; ").split(";"):
            item = item.strip()
            if not item:
                continue
            m = re.match(r"(global|local)\s*:\s*(.*)$", item, re.S)
            if m:
                scope, item = m.group(1), m.group(2).strip()
                if not item:
                    continue
            if scope == "local":
                if item != "*":
                    fail(f"{path}: node {name}: unexpected local entry {item!r}")
                seen_local = True
                continue
            if not re.fullmatch(IDENT, item):
                fail(f"{path}: node {name}: {item!r} is not an explicit symbol name")
                continue
            if item in symbols:
                fail(f"{path}: {item} listed in both {symbols[item]} and {name}")
            symbols[item] = name
    if not seen_local:
        fail(f'{path}: no "local: *;" — unlisted symbols would be exported')
    return symbols, {n.group(1) for n in nodes}


def dynamic_symbols(nm, lib, nodes):
    """Returns {symbol: version string as nm prints it, e.g. '@@ESMTP_1.0'}."""
    out = subprocess.run([nm, "-D", "--defined-only", "--with-symbol-versions", lib],
                         check=True, capture_output=True, text=True).stdout
    symbols = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        kind, full = fields[-2], fields[-1]
        m = re.match(r"([^@]+)(@.*)?$", full)
        name, version = m.group(1), m.group(2) or ""
        if kind == "A" and name in nodes and version in ("", "@@" + name):
            continue  # the version node's own definition
        symbols[name] = version
    return symbols


def soname(readelf, lib):
    out = subprocess.run([readelf, "-d", "-W", lib], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]*)\]", out)
    return m.group(1) if m else None


def report_difference(a_name, a, b_name, b):
    for sym in sorted(a - b):
        fail(f"in {a_name} but not in {b_name}: {sym}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", required=True)
    ap.add_argument("--readelf", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("headers", nargs="+")
    args = ap.parse_args()

    declared = header_exports(args.headers)
    listed, nodes = version_script(args.map)
    exported = dynamic_symbols(args.nm, args.lib, nodes)

    sets = [("the headers (ESMTP_EXTERN)", declared),
            ("the version script", set(listed)),
            ("the library's dynamic symbols", set(exported))]
    for i, (a_name, a) in enumerate(sets):
        for b_name, b in sets[i + 1:]:
            report_difference(a_name, a, b_name, b)
            report_difference(b_name, b, a_name, a)

    for sym in sorted(declared | set(listed) | set(exported)):
        if not sym.startswith(PREFIX):
            fail(f"exported name does not start with {PREFIX}: {sym}")

    for sym, version in sorted(exported.items()):
        if not re.fullmatch(r"@@ESMTP_1\.[0-9]+", version):
            fail(f"exported symbol not versioned @@ESMTP_1.x: {sym}{version}")
        elif sym in listed and version != "@@" + listed[sym]:
            fail(f"{sym} has version {version[2:]} but the version script lists it in {listed[sym]}")

    so = soname(args.readelf, args.lib)
    if so != SONAME:
        fail(f"SONAME is {so}, expected {SONAME}")

    if errors:
        print(f"FAIL: {len(errors)} ABI problem(s):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print(f"ok: {len(declared)} functions declared, listed in the version script "
          f"and exported with version {', '.join(sorted(nodes))}; SONAME {so}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
