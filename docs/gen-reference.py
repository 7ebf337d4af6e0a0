#!/usr/bin/env python3
"""The esmtp API reference, generated from the public headers.

  gen-reference.py --output reference.html [--registry docs/symbols-in-versions] HEADER...
  gen-reference.py --check [--map lib/esmtp.map] HEADER...

The headers are the documentation: every public declaration carries a doc
comment, either "/** ... */" right before it or "/**< ... */" right after
it (on enumerators). This script reads them with a small C-header scanner
(no compiler, standard library only) and

  --output FILE   writes one self-contained HTML page: an index, then each
                  header's functions, types, callbacks, enums with their
                  values, and macros, in header order, cross-linked;
  --check         fails (exit 1), listing each one, when a public item has
                  no doc comment: a function declared with ESMTP_EXTERN, a
                  typedef (handle, enum, callback), an enumerator (every
                  error code is one), or an ESMTP_* macro (one doc comment
                  may cover a run of #define lines with no blank line
                  between them). With --map, it also fails when the
                  functions it found are not exactly those the version
                  script exports, so that nothing escapes the check unseen.

Scanner rules, which the headers follow: declarations end with ';' at file
scope; "extern \"C\"" braces live inside "#ifdef __cplusplus" blocks, which
are skipped; a "/* ---- name */" comment starts a section; the file's first
comment is its introduction. Include guards and ESMTP_EXTERN itself are not
public items.
"""

import argparse
import html
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PRIVATE_MACROS = re.compile(r"^(ESMTP_EXTERN|ESMTP_\w+_H)$")


class Item:
    """One documented (or undocumented) thing in a header."""

    def __init__(self, kind, name, code, line, path):
        self.kind = kind      # function, handle, callback, enum, typedef, enumerator,
        self.name = name      # macro, other; or section, note, intro (no name)
        self.code = code
        self.line = line
        self.path = path
        self.doc = None
        self.value = None     # enumerators: the text after '=', if any
        self.members = []     # enums: their enumerators
        self.parent = None    # enumerators: their enum


def clean_doc(body):
    """The text of a comment body without its leading '*' column."""
    lines = body.split("\n")
    out = []
    for ln in lines:
        s = ln.strip()
        if s.startswith("*") and not s.startswith("*/"):
            s = ln.lstrip()[1:]
            if s.startswith(" "):
                s = s[1:]
        else:
            s = ln
        out.append(s.rstrip())
    # Dedent and trim blank first/last lines.
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    indents = [len(x) - len(x.lstrip()) for x in out if x.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(x[cut:] for x in out)


def tokens(text):
    """Yields (kind, text, first line, last line): doc, trail, comment, pp, code."""
    i, n, line = 0, len(text), 1
    at_line_start = True
    code, code_line = [], 1

    def flush():
        nonlocal code
        if code:
            s = "".join(code)
            code = []
            return ("code", s, code_line, code_line + s.count("\n"))
        return None

    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            t = flush()
            if t:
                yield t
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            raw = text[i:end]
            first = line
            line += raw.count("\n")
            if raw.startswith("/**<"):
                yield ("trail", clean_doc(raw[4:-2]), first, line)
            elif raw.startswith("/**") and raw != "/**/":
                yield ("doc", clean_doc(raw[3:-2]), first, line)
            else:
                yield ("comment", raw[2:-2], first, line)
            i = end
            at_line_start = False
            continue
        if text.startswith("//", i):
            t = flush()
            if t:
                yield t
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield ("comment", text[i + 2:end], line, line)
            i = end
            continue
        if c == "#" and at_line_start:
            t = flush()
            if t:
                yield t
            j, first = i, line
            while True:
                end = text.find("\n", j)
                end = n if end < 0 else end
                if text[j:end].rstrip().endswith("\\") and end < n:
                    j = end + 1
                    line += 1
                    continue
                break
            yield ("pp", text[i:end], first, line)
            i = end
            continue
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if not code:
                code_line = line
            code.append(text[i:j + 1])
            i = j + 1
            at_line_start = False
            continue
        if not code:
            code_line = line
        code.append(c)
        if c == "\n":
            line += 1
            at_line_start = True
        elif not c.isspace():
            at_line_start = False
        i += 1
    t = flush()
    if t:
        yield t


def classify(stmt, line, path):
    s = " ".join(stmt.split()).rstrip(";").rstrip()
    if s.startswith("typedef"):
        if re.search(r"\benum\b[^{]*\{", s):
            m = re.search(r"\}\s*(" + IDENT + r")\s*$", s)
            return Item("enum", m.group(1) if m else None, stmt, line, path)
        m = re.search(r"\(\s*\*\s*(" + IDENT + r")\s*\)\s*\(", s)
        if m:
            return Item("callback", m.group(1), stmt, line, path)
        if re.match(r"typedef\s+(struct|union)\s+" + IDENT + r"\s+" + IDENT + r"$", s):
            return Item("handle", s.split()[-1], stmt, line, path)
        words = re.findall(IDENT, s)
        return Item("typedef", words[-1] if words else None, stmt, line, path)
    if re.search(r"\bESMTP_EXTERN\b", s):
        rest = re.sub(r"\bESMTP_EXTERN\b", "", s)
        m = re.search(r"(" + IDENT + r")\s*\(", rest)
        return Item("function", m.group(1) if m else None, stmt, line, path)
    words = re.findall(IDENT, s)
    return Item("other", words[-1] if words else None, stmt, line, path)


def parse(path):
    """Returns the header's items in order."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    items = []
    cond = []              # preprocessor frames: True when skipped (__cplusplus)
    pending = None         # a doc comment waiting for its declaration
    stmt, stmt_line, stmt_doc = [], 0, None
    depth = 0
    enum_members = None    # list while inside an enum body
    member, member_line, member_doc, member_trail = [], 0, None, None
    last_member = None
    last_stmt_item = None
    macro_group = None     # (doc, last line) of a documented run of #defines
    first_comment_seen = False

    def finish_member():
        nonlocal member, member_doc, member_trail, last_member
        s = " ".join("".join(member).split())
        if s:
            m = re.match(r"(" + IDENT + r")\s*(?:=\s*(.*))?$", s)
            it = Item("enumerator", m.group(1) if m else s, s, member_line, path)
            it.value = m.group(2) if m else None
            it.doc = member_doc or member_trail
            enum_members.append(it)
            last_member = it
        member, member_doc, member_trail = [], None, None

    for kind, body, first, last in tokens(text):
        if any(cond) and not (kind == "pp" and re.match(r"#\s*(if|ifdef|ifndef|endif|else|elif)\b",
                                                         body)):
            continue
        if kind == "pp":
            d = body.lstrip("#").strip()
            if re.match(r"(ifdef\s+__cplusplus|if\s+defined\s*\(?\s*__cplusplus)", d):
                cond.append(True)
            elif re.match(r"if", d):
                cond.append(False)
            elif re.match(r"endif", d):
                if cond:
                    cond.pop()
            elif not any(cond):
                m = re.match(r"define\s+(" + IDENT + r")(\(?)", d)
                if m and not PRIVATE_MACROS.match(m.group(1)):
                    it = Item("macro", m.group(1), body.strip(), first, path)
                    if pending is not None:
                        it.doc = pending
                        macro_group = (pending, last)
                    elif macro_group and macro_group[1] == first - 1:
                        it.doc = macro_group[0]
                        macro_group = (macro_group[0], last)
                    else:
                        macro_group = None
                    items.append(it)
                else:
                    macro_group = None
            pending = None
            continue
        if kind == "comment":
            if not first_comment_seen and not items:
                it = Item("intro", None, "", first, path)
                it.doc = clean_doc(body)
                items.append(it)
            elif depth == 0 and not stmt:
                m = re.match(r"\s*-{3,}\s*(.*?)\s*$", body)
                if m and "\n" not in body:
                    it = Item("section", None, "", first, path)
                    it.doc = m.group(1)
                    items.append(it)
                elif body.startswith("\n"):
                    it = Item("note", None, "", first, path)
                    it.doc = clean_doc(body)
                    items.append(it)
                pending = None
            first_comment_seen = True
            macro_group = None
            continue
        first_comment_seen = True
        if kind == "doc":
            if depth == 1 and enum_members is not None:
                if "".join(member).strip():
                    finish_member()
                member_doc = body
            elif depth == 0 and not stmt:
                pending = body
            macro_group = None
            continue
        if kind == "trail":
            if depth == 1 and enum_members is not None:
                if "".join(member).strip():
                    member_trail = body
                elif last_member is not None and last_member.doc is None:
                    last_member.doc = body
            elif depth == 0 and not stmt and last_stmt_item is not None \
                    and last_stmt_item.doc is None:
                last_stmt_item.doc = body
            continue
        # code
        for ch_index, ch in enumerate(body):
            if depth == 1 and enum_members is not None:
                if ch == ",":
                    finish_member()
                    stmt.append(ch)
                elif ch == "}":
                    finish_member()
                    depth = 0
                    stmt.append(ch)
                else:
                    if not member and not ch.isspace():
                        member_line = first + body.count("\n", 0, ch_index)
                    if member or not ch.isspace():
                        member.append(ch)
                    stmt.append(ch)
                continue
            if not stmt and ch.isspace():
                continue
            if not stmt:
                stmt_line = first + body.count("\n", 0, ch_index)
                stmt_doc, pending = pending, None
                macro_group = None
            stmt.append(ch)
            if ch == "{":
                depth += 1
                if re.search(r"\benum\b", "".join(stmt)):
                    enum_members, last_member = [], None
            elif ch == "}":
                depth = max(depth - 1, 0)
            elif ch == ";" and depth == 0:
                it = classify("".join(stmt).strip(), stmt_line, path)
                it.doc = stmt_doc
                if enum_members is not None:
                    it.members = enum_members or []
                    for mem in it.members:
                        mem.parent = it
                items.append(it)
                last_stmt_item = it
                stmt, stmt_doc, enum_members = [], None, None
    return items


def all_items(items):
    for it in items:
        yield it
        yield from it.members


# ------------------------------------------------------------------ check

def check(paths, map_path):
    problems = []
    functions = set()
    counts = {}
    for path in paths:
        for it in all_items(parse(path)):
            if it.kind in ("section", "note", "intro"):
                continue
            counts[it.kind] = counts.get(it.kind, 0) + 1
            where = f"{path}:{it.line}"
            if it.name is None:
                problems.append(f"{where}: cannot read the name of: {' '.join(it.code.split())}")
                continue
            if it.kind == "function":
                functions.add(it.name)
            if not (it.doc and it.doc.strip()):
                what = {"function": "function", "handle": "typedef (handle)",
                        "callback": "typedef (callback)", "enum": "typedef (enum)",
                        "typedef": "typedef", "enumerator": "enum value",
                        "macro": "macro", "other": "declaration"}[it.kind]
                if it.kind == "enumerator" and it.parent is not None:
                    what += f" of {it.parent.name}"
                problems.append(f"{where}: {what} {it.name} has no /** ... */ or /**< ... */ "
                                "doc comment")
    if map_path:
        with open(map_path, encoding="utf-8") as f:
            text = re.sub(r"/\*.*?\*/|#[^\n]*", " ", f.read(), flags=re.S)
        exported = set(re.findall(r"\b(esmtp_[A-Za-z0-9_]+)\s*;", text))
        for name in sorted(exported - functions):
            problems.append(f"{map_path}: {name} is exported, but no ESMTP_EXTERN declaration "
                            "of it was found in the headers (the scanner missed it?)")
        for name in sorted(functions - exported):
            problems.append(f"{name} is declared ESMTP_EXTERN but {map_path} does not export it")
    if problems:
        print(f"FAIL: {len(problems)} public item(s) without documentation or unaccounted for:",
              file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    summary = ", ".join(f"{v} {k}s" for k, v in sorted(counts.items()))
    print(f"ok: every public item is documented ({summary})")
    return 0


# ------------------------------------------------------------------- html

CSS = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
pre, code { font-family: monospace; }
pre { background: #f5f5f5; padding: .6em .8em; overflow-x: auto; }
pre.decl { border-left: 3px solid #36c; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2.5em; }
h3 { margin-top: 2em; color: #444; }
h4 { margin: 1.6em 0 .3em; font-family: monospace; font-size: 1.05em; }
.kind { color: #777; font-weight: normal; font-family: sans-serif; font-size: .85em; }
.since { color: #777; font-size: .85em; }
.deprecated { color: #a00; font-weight: bold; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: .2em .5em; vertical-align: top; text-align: left; }
td.value { font-family: monospace; white-space: nowrap; }
ul.index { columns: 2; font-family: monospace; font-size: .9em; }
"""


def read_registry(path):
    reg = {}
    if not path:
        return reg
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.lstrip().startswith("#"):
                fields = line.split()
                if len(fields) >= 2:
                    dep = fields[2] if len(fields) > 2 and fields[2] != "-" else None
                    reg[fields[0]] = (fields[1], dep)
    return reg


class Html:
    def __init__(self, anchors):
        self.anchors = anchors

    def link(self, escaped_text, skip=None):
        def repl(m):
            name = m.group(1)
            if name in self.anchors and name != skip:
                return f'<a href="#{name}">{name}</a>'
            return name
        return re.sub(r"\b((?:esmtp|ESMTP)_[A-Za-z0-9_]+)\b", repl, escaped_text)

    def prose(self, text, skip=None):
        """Paragraphs from blank-line separated text; indented lines become <pre>."""
        out, para, code = [], [], []

        def end_para():
            if para:
                out.append("<p>" + self.link(html.escape(" ".join(para)), skip) + "</p>")
                para.clear()

        def end_code():
            if code:
                while code and not code[-1].strip():
                    code.pop()
                out.append("<pre>" + self.link(html.escape("\n".join(code)), skip) + "</pre>")
                code.clear()

        lines = text.split("\n")
        list_mode = False
        for ln in lines:
            if ln.startswith("    ") and (code or not para):
                end_para()
                code.append(ln[4:])
                continue
            if code and not ln.strip():
                code.append("")
                continue
            end_code()
            if not ln.strip():
                end_para()
                if list_mode:
                    out.append("</ul>")
                    list_mode = False
                continue
            m = re.match(r"\s*[-*]\s+(.*)", ln)
            if m:
                end_para()
                if not list_mode:
                    out.append("<ul>")
                    list_mode = True
                out.append("<li>" + self.link(html.escape(m.group(1)), skip))
                continue
            if list_mode and ln.startswith(" "):
                out[-1] += " " + self.link(html.escape(ln.strip()), skip)
                continue
            if list_mode:
                out.append("</ul>")
                list_mode = False
            para.append(ln.strip())
        end_code()
        end_para()
        if list_mode:
            out.append("</ul>")
        return "\n".join(out)


def signature(it):
    code = re.sub(r"\bESMTP_EXTERN\s+", "", it.code)
    lines = code.split("\n")
    if len(lines) > 1:
        # Continuation lines were aligned under "ESMTP_EXTERN ..."; shift them back.
        shift = len("ESMTP_EXTERN ") if "ESMTP_EXTERN" in it.code else 0
        lines = [lines[0]] + [ln[shift:] if ln[:shift].strip() == "" else ln.strip()
                              for ln in lines[1:]]
    return "\n".join(lines)


def enum_signature(it):
    first = " ".join(it.code.split("{", 1)[0].split())
    return first + " { ... } " + it.name + ";"


KIND_LABEL = {"function": "function", "handle": "opaque handle type", "callback": "callback type",
              "enum": "enum type", "typedef": "type", "macro": "macro", "other": "declaration"}


def write_html(paths, out_path, registry_path):
    registry = read_registry(registry_path)
    parsed = [(p, parse(p)) for p in paths]
    anchors = set()
    index = []
    for _, items in parsed:
        for it in all_items(items):
            if it.name and it.kind not in ("section", "note", "intro"):
                anchors.add(it.name)
                index.append(it)
    version = None
    for _, items in parsed:
        for it in items:
            if it.kind == "macro" and it.name == "ESMTP_VERSION_STRING":
                m = re.search(r'"([^"]*)"', it.code)
                version = m.group(1) if m else None
    h = Html(anchors)
    title = "esmtp API reference" + (f" ({version})" if version else "")
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
           f"<h1>{html.escape(title)}</h1>",
           "<p>Generated from the public headers by <code>docs/gen-reference.py</code>. "
           "Link with <code>pkg-config --cflags --libs esmtpc</code>; include "
           "<code>&lt;esmtp/esmtp.h&gt;</code>. The ABI promise is in "
           "<code>docs/ABI.md</code>.</p>",
           "<h2>Index</h2>", '<ul class="index">']
    for it in sorted(index, key=lambda x: x.name.lower()):
        out.append(f'<li><a href="#{it.name}">{it.name}</a></li>')
    out.append("</ul>")

    for path, items in parsed:
        base = os.path.basename(path)
        out.append(f'<h2 id="{html.escape(base)}">&lt;esmtp/{html.escape(base)}&gt;</h2>')
        for it in items:
            if it.kind == "intro":
                out.append(h.prose(it.doc))
            elif it.kind == "section":
                out.append(f"<h3>{html.escape(it.doc)}</h3>")
            elif it.kind == "note":
                out.append(h.prose(it.doc))
            else:
                if it.name is None:
                    continue
                label = KIND_LABEL.get(it.kind, it.kind)
                out.append(f'<h4 id="{it.name}">{it.name} <span class="kind">{label}</span></h4>')
                if it.name in registry:
                    since, dep = registry[it.name]
                    note = f'<span class="since">since ABI {html.escape(since)}</span>'
                    if dep:
                        note += f' <span class="deprecated">deprecated in {html.escape(dep)}</span>'
                    out.append(f"<p>{note}</p>")
                sig = enum_signature(it) if it.kind == "enum" else signature(it)
                out.append('<pre class="decl">' + html.escape(sig) + "</pre>")
                if it.doc:
                    out.append(h.prose(it.doc, skip=it.name))
                if it.members:
                    out.append("<table><tr><th>name</th><th>value</th><th></th></tr>")
                    for mem in it.members:
                        out.append(f'<tr id="{mem.name}"><td><code>{mem.name}</code></td>'
                                   f'<td class="value">{html.escape(mem.value or "")}</td>'
                                   f"<td>{h.link(html.escape(' '.join((mem.doc or '').split())))}"
                                   "</td></tr>")
                    out.append("</table>")
    out += ["</body>", "</html>", ""]
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    os.replace(tmp, out_path)
    print(f"wrote {out_path}: {len(index)} items from {len(paths)} headers")
    return 0


def main():
    ap = argparse.ArgumentParser(description="esmtp API reference from the public headers")
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--output", help="write the HTML reference here")
    mode.add_argument("--check", action="store_true",
                      help="fail when a public item has no doc comment")
    ap.add_argument("--registry", help="docs/symbols-in-versions, for 'since' notes")
    ap.add_argument("--map", help="with --check: lib/esmtp.map, to cross-check the functions")
    ap.add_argument("headers", nargs="+")
    args = ap.parse_args()
    if args.check:
        return check(args.headers, args.map)
    return write_html(args.headers, args.output, args.registry)


if __name__ == "__main__":
    sys.exit(main())
