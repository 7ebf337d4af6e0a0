#!/usr/bin/python3
"""Sends an HTML message (with a plain-text alternative) and attachments.

    send_html.py --server smtp.example.org:587 --from me@example.org \\
                 --to you@example.net --user me@example.org report.pdf chart.png

The password comes from the environment variable ESMTP_PASSWORD, or is asked
for. By default the connection is protected (STARTTLS required, implicit TLS
on port 465); --plain sends in clear, for a local test server. The library is
found as esmtp.py does it (ESMTP_LIBRARY, else the system's loader).

Exit status: 0 when every recipient was accepted, 1 when some were refused,
2 when the session failed.
SPDX-License-Identifier: MIT
"""
import argparse
import getpass
import html
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import esmtp  # noqa: E402


def parse_args(argv):
    p = argparse.ArgumentParser(description="Send an HTML message with attachments.")
    p.add_argument("--server", required=True, help="HOST or HOST:PORT (default port 587, or 25 with --plain)")
    p.add_argument("--from", dest="sender", required=True, help="sender address (From and MAIL FROM)")
    p.add_argument("--to", action="append", required=True, help="recipient address (repeatable)")
    p.add_argument("--cc", action="append", default=[], help="Cc address (repeatable)")
    p.add_argument("--subject", default="Files for you")
    p.add_argument("--html", help="file with the HTML body (default: a short generated page)")
    tls = p.add_mutually_exclusive_group()
    tls.add_argument("--plain", action="store_true", help="no TLS at all (local test servers only)")
    tls.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (port 465)")
    p.add_argument("--ca-file", help="trust this CA (PEM) instead of the system's")
    p.add_argument("--user", help="log in with SMTP AUTH as this user")
    p.add_argument("--verbose", "-v", action="store_true", help="print the SMTP transcript")
    p.add_argument("files", nargs="*", help="files to attach")
    return p.parse_args(argv)


def split_server(text):
    """"host", "host:port", "[v6]:port" or a bare IPv6 address -> (host, port or 0)."""
    if text.startswith("[") and "]:" in text:
        host, _, port = text.rpartition(":")
        return host, int(port)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 0


def default_html(files):
    items = "".join(f"<li>{html.escape(os.path.basename(f))}</li>" for f in files)
    return ("<!DOCTYPE html><html><body><h1>Hello</h1>"
            f"<p>Attached: </p><ul>{items or '<li>(nothing)</li>'}</ul></body></html>")


def main(argv=None):
    args = parse_args(argv)
    host, port = split_server(args.server)
    port = port or (25 if args.plain else 465 if args.implicit_tls else 587)

    if args.html:
        with open(args.html, encoding="utf-8") as f:
            page = f.read()
    else:
        page = default_html(args.files)
    text = "This message is HTML; the attachments are: " + \
        (", ".join(os.path.basename(f) for f in args.files) or "none") + "\n"

    mime = esmtp.Mime(from_=args.sender, to=args.to, cc=args.cc or None, subject=args.subject,
                      text=text, html=page, headers={"X-Mailer": "esmtp send_html.py"})
    for path in args.files:
        mime.attach_file(path)    # the type is guessed from the name, the name kept

    settings = {"tls": esmtp.TLS.NONE if args.plain else
                esmtp.TLS.IMPLICIT if args.implicit_tls else esmtp.TLS.STARTTLS}
    if args.ca_file:
        settings["ca_file"] = args.ca_file
    if args.user:
        password = os.environ.get("ESMTP_PASSWORD") or getpass.getpass(f"password for {args.user}: ")
        settings.update(user=args.user, password=password)
    if args.verbose:
        arrows = {esmtp.Direction.CLIENT: "C:", esmtp.Direction.SERVER: "S:",
                  esmtp.Direction.LIBRARY: "--"}
        settings["on_transcript"] = lambda d, line: print(arrows.get(d, "?"), line, file=sys.stderr)

    with esmtp.Session(host, port, **settings) as session:
        message = session.message(body=mime)   # envelope from From/To/Cc
        try:
            session.send()
        except esmtp.EsmtpError as e:
            print(f"send_html: {e}", file=sys.stderr)
            return 2
    refused = 0
    for rcpt in message.recipients:
        print(f"{rcpt.mailbox}: {rcpt.status.name.lower()} {rcpt.code} {rcpt.enhanced} {rcpt.text}".rstrip())
        refused += not rcpt.ok
    print(f"message: {message.status.name.lower()} {message.code} {message.text}")
    return 0 if message.ok and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
