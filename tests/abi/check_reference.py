#!/usr/bin/env python3
"""ABI test: the API reference generator (docs/gen-reference.py) runs on the
public headers and its page covers the whole API.

  check_reference.py --generator docs/gen-reference.py --registry REGISTRY
                     --map lib/esmtp.map HEADER...

Runs the generator into a temporary directory (with the interpreter running
this script), then checks that the page is well-formed HTML, that every
function the version script exports has an entry (an element with its name
as id, and the name in a declaration), that the error codes and handle types
are there, and that every in-page link has a target.
"""

import argparse
import html.parser
import os
import re
import subprocess
import sys
import tempfile


class Page(html.parser.HTMLParser):
    VOID = {"meta", "br", "img", "hr", "link", "input", "col", "area", "base", "wbr"}
    OPTIONAL_END = {"li", "p", "tr", "td", "th"}

    def __init__(self):
        super().__init__()
        self.ids, self.hrefs, self.stack, self.problems = set(), [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            if a["id"] in self.ids:
                self.problems.append(f"duplicate id {a['id']!r}")
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.hrefs.append(a["href"][1:])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack[-1] != tag and self.stack[-1] in self.OPTIONAL_END:
            self.stack.pop()
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--map", required=True)
    ap.add_argument("headers", nargs="+")
    args = ap.parse_args()

    with open(args.map, encoding="utf-8") as f:
        maptext = re.sub(r"/\*.*?\*/|#[^\n]*", " ", f.read(), flags=re.S)
    functions = sorted(set(re.findall(r"\b(esmtp_[A-Za-z0-9_]+)\s*;", maptext)))
    if not functions:
        sys.exit(f"no functions found in {args.map}")

    problems = []
    with tempfile.TemporaryDirectory(prefix="esmtp-reference-") as tmp:
        out = os.path.join(tmp, "docs", "reference.html")
        proc = subprocess.run([sys.executable, args.generator, "--output", out,
                               "--registry", args.registry, *args.headers],
                              capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0 or not os.path.exists(out):
            print(f"FAIL: the generator exited with {proc.returncode}:\n{proc.stderr}",
                  file=sys.stderr)
            return 1
        with open(out, encoding="utf-8") as f:
            text = f.read()

    page = Page()
    page.feed(text)
    page.close()
    problems += page.problems
    leftover = [t for t in page.stack if t not in Page.OPTIONAL_END]
    if leftover:
        problems.append(f"unclosed elements at the end: {leftover}")
    for name in functions:
        if name not in page.ids:
            problems.append(f"no entry (id) for the function {name}")
        elif not re.search(r'<pre class="decl">[^<]*\b' + name + r"\(", text):
            problems.append(f"no declaration shown for {name}")
    for name in ["esmtp_session", "esmtp_message", "esmtp_mime", "esmtp_error",
                 "ESMTP_EINVAL", "ESMTP_ENOMECH", "esmtp_progress_cb", "ESMTP_VERSION_NUM"]:
        if name not in page.ids:
            problems.append(f"no entry for {name}")
    for target in sorted(set(page.hrefs) - page.ids):
        problems.append(f"link to #{target}, which the page does not define")
    if "since ABI 1.0" not in text:
        problems.append("no 'since ABI' notes from the registry")

    if problems:
        print(f"FAIL: {len(problems)} problem(s) with the generated reference:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"ok: the reference documents all {len(functions)} exported functions "
          f"({len(page.ids)} anchors, {len(page.hrefs)} links, all resolved)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
