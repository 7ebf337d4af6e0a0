#!/usr/bin/env python3
"""ABI test: docs/symbols-in-versions, the registry of public symbols, is
complete and agrees with the version script and the library.

  check_registry.py --registry docs/symbols-in-versions --map lib/esmtp.map
                    --nm NM --lib LIBRARY --lib-version LIB_VERSION HEADER...

Checks, printing every discrepancy before failing:
  * every line is "NAME INTRODUCED [DEPRECATED|-] [LAST]" with versions X.Y,
    names are unique and sorted;
  * the names without LAST are exactly the functions the library exports
    and exactly the names the version script lists;
  * each name's INTRODUCED is the version node that lists it
    (1.0 <-> ESMTP_1.0) and the version the library gives it (@@ESMTP_1.0);
  * no name has a LAST: nothing is ever removed from libesmtpc.so.1;
  * DEPRECATED is not before INTRODUCED nor after the newest node, and the
    function's doc comment in the headers says "Deprecated" and names an
    existing, not deprecated esmtp_* function as its replacement;
  * the newest version node is the X.Y of LIB_VERSION (meson.build's
    lib_version, which names libesmtpc.so.1.Y.Z): adding a node ESMTP_1.1
    means lib_version 1.1.0.
Uses only the Python standard library (and check_symbols.py next to it).
"""

import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check_symbols  # noqa: E402  (version script and nm parsers)

VERSION = re.compile(r"^([0-9]+)\.([0-9]+)$")
errors = []


def fail(msg):
    errors.append(msg)


def vkey(v):
    m = VERSION.match(v)
    return (int(m.group(1)), int(m.group(2)))


def read_registry(path):
    entries = {}
    order = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split()
            where = f"{path}:{number}"
            if not 2 <= len(fields) <= 4:
                fail(f"{where}: expected NAME INTRODUCED [DEPRECATED|-] [LAST]: {line.rstrip()!r}")
                continue
            name, introduced = fields[0], fields[1]
            deprecated = fields[2] if len(fields) > 2 and fields[2] != "-" else None
            last = fields[3] if len(fields) > 3 else None
            if not re.fullmatch(check_symbols.IDENT, name):
                fail(f"{where}: {name!r} is not a C identifier")
                continue
            bad = [v for v in (introduced, deprecated, last) if v and not VERSION.match(v)]
            if bad:
                fail(f"{where}: {name}: version {bad[0]!r} is not X.Y")
                continue
            if name in entries:
                fail(f"{where}: {name} listed twice")
                continue
            entries[name] = (introduced, deprecated, last, where)
            order.append(name)
    if order != sorted(order):
        first = next(a for a, b in zip(order, sorted(order)) if a != b)
        fail(f"{path}: names are not sorted (first out of place: {first})")
    return entries


def doc_comment(headers, name):
    """The /** ... */ comment right before NAME's declaration, or None."""
    pattern = re.compile(r"/\*\*((?:(?!\*/).)*)\*/\s*ESMTP_EXTERN\b[^;]*?\b" + name + r"\s*\(",
                         re.S)
    for path in headers:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        # The nearest comment: the last match whose declaration is NAME's.
        found = None
        for m in pattern.finditer(text):
            found = m.group(1)
        if found is not None:
            # Drop text belonging to an earlier declaration, if the regex
            # spanned one: keep what follows the last "*/" inside.
            return found.split("*/")[-1]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("--nm", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--lib-version", required=True)
    ap.add_argument("headers", nargs="+")
    args = ap.parse_args()

    entries = read_registry(args.registry)
    listed, nodes = check_symbols.version_script(args.map)
    errors.extend(check_symbols.errors)
    exported = check_symbols.dynamic_symbols(args.nm, args.lib, nodes)

    present = {n for n, e in entries.items() if e[2] is None}
    for name in sorted(set(listed) - set(entries)):
        node = listed[name]
        fail(f"{name} is in {args.map} ({node}) but not in {args.registry}; add the line:\n"
             f"    {name:<46}{node[len('ESMTP_'):]}")
    for name in sorted(set(exported) - set(entries) - set(listed)):
        fail(f"{name} is exported by the library but not in {args.registry}")
    for name in sorted(present - set(listed)):
        fail(f"{args.registry} lists {name}, which {args.map} does not")
    for name in sorted(present - set(exported)):
        fail(f"{args.registry} lists {name}, which the library does not export")

    node_versions = sorted((n[len("ESMTP_"):] for n in nodes if VERSION.match(n[len("ESMTP_"):])),
                           key=vkey)
    newest = node_versions[-1] if node_versions else None
    deprecated_names = {n for n, e in entries.items() if e[1]}

    for name, (introduced, deprecated, last, where) in sorted(entries.items()):
        if last is not None:
            fail(f"{where}: {name} has a Last version ({last}): nothing may be removed from "
                 "libesmtpc.so.1 (docs/ABI.md)")
        if name in listed and listed[name] != "ESMTP_" + introduced:
            fail(f"{where}: {name} is introduced in {introduced} but {args.map} lists it "
                 f"in {listed[name]}")
        version = exported.get(name)
        if version is not None and version != "@@ESMTP_" + introduced:
            fail(f"{where}: {name} is introduced in {introduced} but the library exports it "
                 f"as {name}{version}")
        if deprecated:
            if vkey(deprecated) < vkey(introduced):
                fail(f"{where}: {name} is deprecated ({deprecated}) before it was "
                     f"introduced ({introduced})")
            if newest and vkey(deprecated) > vkey(newest):
                fail(f"{where}: {name} is deprecated in {deprecated}, after the newest "
                     f"version node ESMTP_{newest}")
            doc = doc_comment(args.headers, name)
            if doc is None:
                fail(f"{name} is deprecated but has no doc comment in the headers")
            elif not re.search(r"\bdeprecated\b", doc, re.I):
                fail(f"{name} is deprecated ({deprecated}) but its doc comment does not say so")
            else:
                replacements = set(re.findall(r"\b(esmtp_[a-z0-9_]+)\s*\(", doc)) - {name}
                good = [r for r in replacements
                        if r in present and r not in deprecated_names]
                if not good:
                    fail(f"{name} is deprecated but its doc comment names no replacement: "
                         "say \"Deprecated: use esmtp_other() ...\" with an existing function "
                         "that is not deprecated itself")

    if newest is not None:
        m = re.match(r"^([0-9]+)\.([0-9]+)(\.[0-9]+)?$", args.lib_version)
        if not m:
            fail(f"lib_version {args.lib_version!r} is not X.Y.Z")
        elif f"{m.group(1)}.{m.group(2)}" != newest:
            fail(f"the newest version node is ESMTP_{newest} but lib_version in meson.build "
                 f"is {args.lib_version}: make it {newest}.0")

    if errors:
        print(f"FAIL: {len(errors)} problem(s) with the symbol registry:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    counts = {}
    for introduced, _, _, _ in entries.values():
        counts[introduced] = counts.get(introduced, 0) + 1
    summary = ", ".join(f"{counts[v]} in {v}" for v in sorted(counts, key=vkey))
    print(f"ok: {len(entries)} symbols registered ({summary}), "
          f"{len(deprecated_names)} deprecated; they match {args.map} and the library")
    return 0


if __name__ == "__main__":
    sys.exit(main())
