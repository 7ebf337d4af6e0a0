#!/usr/bin/env python3
"""MIME round trip: messages built by esmtp (tests/mime_build.c) are parsed
back with Python's email package (policy=default) and compared field by
field and, for decoded content, byte by byte.

A message marked "smtputf8" in the manifest has an internationalised header
(RFC 6532: raw UTF-8, as sent with SMTPUTF8). Python's BytesParser keeps
non-ASCII header bytes as surrogate escapes whatever the policy (and
policy.SMTPUTF8 only changes how messages are written), so such a message
is decoded as UTF-8 first and parsed as text with policy.SMTPUTF8; its
body is 7-bit, so nothing is lost.

  mime_roundtrip.py MIME_BUILD

Text parts are compared after line-end normalisation (MIME text has CRLF
line ends on the wire); every other part must decode to exactly the bytes
that went in. Uses only the Python standard library.
"""

import json
import re
import subprocess
import sys
import tempfile
from email import policy
from email.parser import BytesParser, Parser

errors = []


def check(cond, what):
    if not cond:
        errors.append(what)


def norm_text(b):
    return b.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def check_wire(name, raw, info):
    head, _, body = raw.partition(b"\r\n\r\n")
    utf8 = info.get("smtputf8", False)
    check(b"\n" not in raw.replace(b"\r\n", b""), f"{name}: a bare LF")
    check(b"\r" not in raw.replace(b"\r\n", b""), f"{name}: a bare CR")
    check(raw.endswith(b"\r\n"), f"{name}: does not end with CRLF")
    for line in raw.split(b"\r\n"):
        check(len(line) <= 998, f"{name}: a line of {len(line)} bytes")
    for line in head.split(b"\r\n"):
        check(len(line) <= 78, f"{name}: header line over 78: {line[:60]!r}")
        if not utf8:
            check(all(b < 0x80 for b in line), f"{name}: 8-bit header: {line[:60]!r}")
    if utf8:
        # RFC 6532: UTF-8 text as is, no encoded words, and 8-bit bytes in
        # the header only
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as e:
            check(False, f"{name}: header is not UTF-8: {e}")
        check(any(b >= 0x80 for b in head), f"{name}: no UTF-8 in the header")
        check(b"=?" not in head, f"{name}: an encoded word in a UTF-8 header")
        check(all(b < 0x80 for b in body), f"{name}: 8-bit byte in the body")
    # adjacent encoded words must be separated by white space (cpython gh-144156)
    check(b"?==?" not in head, f"{name}: adjacent encoded words")
    check(not re.search(rb"(?im)^bcc:", head), f"{name}: Bcc leaked into the header")
    check(info["size"] == len(raw) == info["written"],
          f"{name}: announced size {info['size']}, wrote {info['written']}, file {len(raw)}")
    if not info["allow_8bit"]:
        # (SMTPUTF8 itself carries a UTF-8 header)
        check(all(b < 0x80 for b in (body if utf8 else raw)),
              f"{name}: 8-bit byte without 8BITMIME")


def check_encoded_lines(name, msg):
    """base64 and quoted-printable lines are at most 76 characters."""
    for part in msg.walk():
        cte = (part.get("Content-Transfer-Encoding") or "").lower()
        if cte in ("base64", "quoted-printable"):
            body = part.get_payload(decode=False)
            for line in body.splitlines():
                check(len(line) <= 76, f"{name}: {cte} line of {len(line)}")
                check(line != ".", f"{name}: a {cte} line holding only a dot")


def addresses(header):
    if header is None:
        return None
    return [[a.display_name, a.addr_spec] for a in header.addresses]


def main(build):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([build, out], check=True)
        with open(f"{out}/manifest.json", encoding="utf-8") as f:
            manifest = json.load(f)
        for name, info in manifest.items():
            with open(f"{out}/{name}.eml", "rb") as f:
                raw = f.read()
            check_wire(name, raw, info)
            if info.get("smtputf8"):
                msg = Parser(policy=policy.SMTPUTF8).parsestr(raw.decode("utf-8"))
            else:
                msg = BytesParser(policy=policy.default).parsebytes(raw)
            check(not msg.defects, f"{name}: defects {msg.defects}")
            check(str(msg["subject"]) == info["subject"],
                  f"{name}: subject {str(msg['subject'])!r} != {info['subject']!r}")
            for field in ("from", "to", "cc"):
                got = addresses(msg[field])
                check(got == info[field], f"{name}: {field} {got!r} != {info[field]!r}")
            check(msg["date"] is not None and msg["date"].datetime is not None,
                  f"{name}: no valid Date")
            check(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", str(msg["message-id"]).strip()),
                  f"{name}: bad Message-ID {msg['message-id']!r}")
            check(msg["mime-version"] == "1.0", f"{name}: MIME-Version")
            check_encoded_lines(name, msg)
            leaves = [p for p in msg.walk() if not p.is_multipart()]
            check(len(leaves) == len(info["parts"]),
                  f"{name}: {len(leaves)} leaf parts, expected {len(info['parts'])}")
            for i, (part, want) in enumerate(zip(leaves, info["parts"])):
                where = f"{name} part {i}"
                check(not part.defects, f"{where}: defects {part.defects}")
                check(part.get_content_type() == want["type"],
                      f"{where}: type {part.get_content_type()} != {want['type']}")
                check(part.get_filename() == want["filename"],
                      f"{where}: filename {part.get_filename()!r} != {want['filename']!r}")
                cid = part.get("Content-ID")
                check((cid and str(cid).strip()) == (want["cid"] and f"<{want['cid']}>"),
                      f"{where}: Content-ID {cid!r}")
                with open(f"{out}/{want['data']}", "rb") as f:
                    data = f.read()
                content = part.get_content()
                if isinstance(content, str):
                    got = norm_text(content.encode("utf-8"))
                    check(got == norm_text(data),
                          f"{where}: text differs ({len(got)} vs {len(norm_text(data))} bytes)")
                    # and exactly, CRLF for CRLF, before decoding to str
                    payload = part.get_payload(decode=True)
                    check(payload == norm_text(data).replace(b"\n", b"\r\n"),
                          f"{where}: decoded bytes differ from CRLF-normalised input")
                else:
                    check(content == data, f"{where}: content differs ({len(content)} vs {len(data)})")
            if "x-note" in info:
                check(str(msg["x-note"]) == info["x-note"],
                      f"{name}: X-Note {str(msg['x-note'])!r} != {info['x-note']!r}")
            for h in ("in-reply-to", "references", "list-unsubscribe", "x-note",
                      "list-unsubscribe-post"):
                if msg[h] is not None:
                    print(f"  {name} {h}: {str(msg[h])}")
            print(f"ok: {name}: {len(raw)} bytes, {len(leaves)} parts")
    if errors:
        print(f"FAIL: {len(errors)} problem(s):", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: mime_roundtrip.py MIME_BUILD")
    sys.exit(main(sys.argv[1]))
