#!/usr/bin/env python3
"""Docs test: man/esmtp-send.1 renders cleanly and matches the tool.

  check-man.py --groff GROFF [--man MAN] [--mandoc MANDOC] --tool ESMTP_SEND PAGE

  * groff -man -Tutf8 -ww -z renders PAGE with all warnings on and prints
    nothing (no warning, no error);
  * with --man, "man --warnings -l PAGE" (man-db: preconv, then groff with
    warnings) prints no warning either, and the output has the page's
    sections;
  * with --mandoc, "mandoc -Tlint" reports nothing above style level;
  * every option that "ESMTP_SEND --help" lists has an entry of its own in
    the page (a .TP tag naming \\-\\-name), and every exit status that
    --help lists has its own entry in the EXIT STATUS section. So a new
    option without a man page entry fails here.
"""

import argparse
import os
import re
import subprocess
import sys


def run(cmd, **kw):
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    env.pop("MAN_KEEP_FORMATTING", None)
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    return subprocess.run(cmd, capture_output=True, text=True, env=env, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--groff", required=True)
    ap.add_argument("--man")
    ap.add_argument("--mandoc")
    ap.add_argument("--tool", required=True)
    ap.add_argument("page")
    args = ap.parse_args()
    problems = []

    proc = run([args.groff, "-man", "-Tutf8", "-ww", "-z", args.page])
    if proc.returncode != 0 or proc.stderr.strip():
        problems.append(f"groff -man -ww: exit {proc.returncode}:\n{proc.stderr.rstrip()}")
    else:
        print("ok: groff -man -Tutf8 -ww renders it without a warning")

    if args.man:
        proc = run([args.man, "--warnings", "-E", "UTF-8", "-l", args.page],
                   stdin=subprocess.DEVNULL)
        if proc.returncode != 0 or proc.stderr.strip():
            problems.append(f"man --warnings -l: exit {proc.returncode}:\n{proc.stderr.rstrip()}")
        else:
            missing = [s for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                                   "EXAMPLES") if not re.search(r"^" + s + r"$", proc.stdout,
                                                                re.M)]
            if missing:
                problems.append(f"man -l output lacks the sections {missing}")
            else:
                print("ok: man --warnings -l renders it without a warning")

    if args.mandoc:
        proc = run([args.mandoc, "-Tlint", "-Wwarning", args.page])
        if proc.returncode != 0 or proc.stdout.strip() or proc.stderr.strip():
            problems.append(f"mandoc -Tlint:\n{(proc.stdout + proc.stderr).rstrip()}")
        else:
            print("ok: mandoc -Tlint -Wwarning is silent")

    proc = run([args.tool, "--help"])
    usage = proc.stdout + proc.stderr
    options = sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", usage)))
    if not options:
        problems.append(f"{args.tool} --help lists no options (exit {proc.returncode})")
    with open(args.page, encoding="utf-8") as f:
        source = f.read()
    # The tag lines of the .TP entries (with a "\\c" continuation line).
    lines = source.split("\n")
    tags = []
    for i, ln in enumerate(lines[:-1]):
        if ln.strip() == ".TP":
            tag = lines[i + 1]
            j = i + 1
            while tag.rstrip().endswith("\\c") and j + 1 < len(lines):
                j += 1
                tag += " " + lines[j]
            tags.append(tag)
    tag_text = "\n".join(tags)
    for opt in options:
        if ("\\-\\-" + opt.replace("-", "\\-")) not in tag_text:
            problems.append(f"--{opt} is in --help but has no entry (.TP) in the man page")

    exit_section = usage.split("Exit status", 1)[1] if "Exit status" in usage else ""
    statuses = sorted(set(re.findall(r"^\s*([0-9]{1,3})\s\s", exit_section, re.M)), key=int)
    if not statuses:
        problems.append("--help lists no exit statuses")
    page_exit = re.split(r'^\.SH "?EXIT STATUS"?\s*$', source, flags=re.M)
    page_exit = re.split(r"^\.SH ", page_exit[1], flags=re.M)[0] if len(page_exit) > 1 else ""
    for st in statuses:
        if not re.search(r"^\.TP\n\.B " + st + r"\n", page_exit, re.M):
            problems.append(f"exit status {st} is in --help but has no entry under EXIT STATUS")

    if problems:
        print(f"FAIL: {len(problems)} problem(s) with {args.page}:", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print(f"ok: the page covers all {len(options)} options and {len(statuses)} exit statuses "
          "of --help")
    return 0


if __name__ == "__main__":
    sys.exit(main())
