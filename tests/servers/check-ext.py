#!/usr/bin/python3
"""Checks the extension servers that ctl.sh started, with raw SMTP sessions:

    tests/servers/check-ext.py STATE_DIR/env

AIOSMTPD_EXT_PORT (EHLO, every parameter recorded as sent, pipelined BDAT
chunks with binary octets, multi-line BDAT replies, DATA, STARTTLS then
REQUIRETLS, the refusals), AIOSMTPD_QUIRK_PORT, AIOSMTPD_NO8BIT_PORT,
AIOSMTPD_SMALL_PORT, POSTFIX_RCPTLIMIT_PORT, and on POSTFIX_PORT: pipelined
BDAT with a success DSN back in the sender's Maildir, and where UTF-8 and
IDN addresses are delivered.  It sends mail, so run it on an instance that no
test is using.  Prints one line per check and "N passed, N failed"; exits 1
if any failed.
"""

import glob
import os
import re
import socket
import ssl
import sys
import time

RUN = f"{os.getpid()}-{int(time.time() * 1000) % 100000000}"
results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok or not detail else f": {detail}"))


def mailbox(tag, domain="example.org"):
    return f"{tag}-{RUN}@{domain}"


class Session:
    """A raw SMTP connection: send bytes, read whole replies (lists of lines)."""

    def __init__(self, port, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def reply(self):
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                lines.append("<EOF>")
                return lines
            lines.append(line.rstrip(b"\r\n").decode("utf-8", "surrogateescape"))
            if line[3:4] != b"-":
                return lines

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def command(self, data):
        self.send(data)
        return self.reply()

    def ehlo(self):
        return self.command("EHLO client.test\r\n")

    def starttls(self, ca_file):
        reply = self.command("STARTTLS\r\n")
        ctx = ssl.create_default_context(cafile=ca_file)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.file = self.sock.makefile("rb")
        return reply

    def closed(self):
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return True

    def close(self):
        try:
            self.send("QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.sock.close()


def one(lines):
    return lines[0] if len(lines) == 1 else "\n".join(lines)


def record_of(record_dir, rcpt):
    """(ID.env text, ID.eml bytes, ID.session text or None) for the message to RCPT."""
    deadline = time.time() + 3
    while time.time() < deadline:
        for env_path in glob.glob(os.path.join(record_dir, "*.env")):
            with open(env_path, "rb") as f:
                text = f.read().decode("utf-8", "surrogateescape")
            if re.search(f"^RCPT <{re.escape(rcpt)}>", text, re.M):
                base = env_path[:-4]
                with open(base + ".eml", "rb") as f:
                    eml = f.read()
                session = None
                if os.path.exists(base + ".session"):
                    with open(base + ".session", encoding="utf-8") as f:
                        session = f.read()
                return text, eml, session
        time.sleep(0.05)
    return None, None, None


def recorded(record_dir, rcpt):
    return any(f"RCPT <{rcpt}>" in open(p, encoding="utf-8", errors="surrogateescape").read()
               for p in glob.glob(os.path.join(record_dir, "*.env")))


def delivered(maildir, path, pattern=None, timeout=5):
    """Messages (bytes) in MAILDIR/PATH/new/, waiting for one (matching PATTERN)."""
    deadline = time.time() + timeout
    while True:
        found = []
        for name in sorted(glob.glob(os.path.join(maildir, path, "new", "*"))):
            with open(name, "rb") as f:
                data = f.read()
            if pattern is None or re.search(pattern, data):
                found.append(data)
        if found or time.time() > deadline:
            return found
        time.sleep(0.1)


def ehlo_lines(*keywords):
    lines = ["recorder.test"] + list(keywords) + ["HELP"]
    return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]


def check_ext(env):
    port = int(env["AIOSMTPD_EXT_PORT"])
    records = env["AIOSMTPD_DIR"]
    s = Session(port)
    check("ext: EHLO", s.ehlo() == ehlo_lines(
        "PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN",
        "CHUNKING", "BINARYMIME", "DELIVERBY 86400", "MT-PRIORITY MIXER", "STARTTLS"))

    # everything in one write: MAIL, RCPT, two BDAT chunks (binary, dots, bare LF/CR)
    to = mailbox("ext-bdat")
    chunk1 = b"From: a@example.org\r\nSubject: bdat\r\n\r\n"
    chunk2 = b"\x00\x01\xff\r\n.\r\n..two dots\r\nbare\nLF\rCR\r\nQUIT\r\nno end"
    mail = "MAIL FROM:<sender@example.org> SIZE=10 BODY=BINARYMIME SMTPUTF8 RET=HDRS ENVID=x+2B1 " \
           "BY=120;R MT-PRIORITY=-3"
    rcpt = f"RCPT TO:<{to}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{to}"
    s.send(f"{mail}\r\n{rcpt}\r\n".encode() + b"BDAT %d\r\n" % len(chunk1) + chunk1
           + b"BDAT %d LAST\r\n" % len(chunk2) + chunk2)
    got = [one(r) for r in s.replies(4)]
    want = ["250 2.1.0 OK", "250 2.1.5 OK", f"250 2.0.0 {len(chunk1)} octets received",
            f"250 2.0.0 {len(chunk2)} octets received, OK id="]
    check("ext: pipelined MAIL, RCPT, BDAT, BDAT LAST replies",
          got[:3] == want[:3] and got[3].startswith(want[3]), got)
    text, eml, session = record_of(records, to)
    check("ext: ID.env has every parameter as sent",
          text == f"MAIL <sender@example.org> SIZE=10 BODY=BINARYMIME SMTPUTF8 RET=HDRS ENVID=x+2B1 "
                  f"BY=120;R MT-PRIORITY=-3\nRCPT <{to}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{to}\n", text)
    check("ext: ID.eml is the chunks, byte for byte", eml == chunk1 + chunk2, eml)
    check("ext: ID.session", session == "LISTENER ext\nTLS none\nAUTH none\n", session)

    # a "multiline..." recipient: two-line replies to every BDAT
    to = mailbox("multiline")
    s.send(f"MAIL FROM:<sender@example.org>\r\nRCPT TO:<{to}>\r\n".encode()
           + b"BDAT 3\r\nabcBDAT 0\r\nBDAT 2 LAST\r\nde")
    got = s.replies(5)
    ok = got[:2] == [["250 2.1.0 OK"], ["250 2.1.5 OK"]] \
        and got[2] == ["250-2.0.0 3 octets received", "250 2.0.0 OK"] \
        and got[3] == ["250-2.0.0 0 octets received", "250 2.0.0 OK"] \
        and got[4][0] == "250-2.0.0 2 octets received" and got[4][1].startswith("250 2.0.0 OK id=")
    check("ext: multi-line BDAT replies for a multiline... recipient", ok, got)
    text, eml, _ = record_of(records, to)
    check("ext: multi-chunk message recorded", eml == b"abcde", eml)

    # DATA still works (dot-unstuffed), with UTF-8 and SMTPUTF8
    to = mailbox("用户-ext")
    s.send(f"MAIL FROM:<ä@example.org> smtputf8\r\nRCPT TO:<{to}> ORCPT=utf-8;{to}\r\nDATA\r\n".encode())
    got = [one(r) for r in s.replies(3)]
    s.send("Subject: ü\r\n\r\n..dot\r\n.\r\n".encode())
    final = one(s.reply())
    check("ext: DATA with SMTPUTF8", got == ["250 2.1.0 OK", "250 2.1.5 OK",
                                             "354 End data with <CR><LF>.<CR><LF>"]
          and final.startswith("250 2.0.0 OK id="), (got, final))
    text, eml, _ = record_of(records, to)
    check("ext: UTF-8 envelope and message recorded as sent",
          text == f"MAIL <ä@example.org> smtputf8\nRCPT <{to}> ORCPT=utf-8;{to}\n"
          and eml == "Subject: ü\r\n\r\n.dot\r\n".encode(), (text, eml))

    # refusals
    s.send("MAIL FROM:<ä@example.org>\r\n"
           "MAIL FROM:<a@example.org> REQUIRETLS\r\n"
           "MAIL FROM:<a@example.org> FOO=bar\r\n"
           "MAIL FROM:<a@example.org> RET=X\r\n"
           "MAIL FROM:<a@example.org> BY=10\r\n"
           "MAIL FROM:<a@example.org> MT-PRIORITY=10\r\n"
           "MAIL FROM:<a@example.org> ENVID=a=b\r\n"
           "MAIL FROM:<a@example.org> RET=FULL ret=HDRS\r\n"
           "MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n"
           "RCPT TO:<ä@example.org>\r\n"
           "RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS\r\n"
           "RCPT TO:<b@example.org> ORCPT=b@example.org\r\n"
           "RCPT TO:<b@example.org> FOO\r\n"
           f"RCPT TO:<{mailbox('reject')}>\r\n"
           f"RCPT TO:<{mailbox('tempfail')}>\r\n"
           "RCPT TO:<b@example.org>\r\n"
           "DATA\r\nRSET\r\n".encode())
    got = [one(r) for r in s.replies(18)]
    want = ["553 5.6.7 Must declare SMTPUTF8 to send unicode address",
            "530 5.7.10 REQUIRETLS needs TLS",
            "555 5.5.4 Unsupported option: FOO=bar",
            "501 5.5.4 Bad RET parameter: RET=X",
            "501 5.5.4 Bad BY parameter: BY=10",
            "501 5.5.4 Bad MT-PRIORITY parameter: MT-PRIORITY=10",
            "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]",
            "501 5.5.4 Duplicate RET parameter",
            "250 2.1.0 OK",
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address",
            "501 5.5.4 Bad NOTIFY parameter: NOTIFY=NEVER,SUCCESS",
            "501 5.5.4 Bad ORCPT parameter: ORCPT=b@example.org",
            "555 5.5.4 Unsupported option: FOO",
            f"550 5.1.1 <{mailbox('reject')}>: Recipient address rejected",
            f"450 4.2.0 <{mailbox('tempfail')}>: Try again later",
            "250 2.1.5 OK",
            "503 5.5.1 Error: BODY=BINARYMIME needs BDAT, not DATA",
            "250 2.0.0 OK"]
    check("ext: refusals", got == want, [(g, w) for g, w in zip(got, want) if g != w])

    # BDAT out of sequence: the chunk is skipped (even if it looks like commands)
    to = mailbox("ext-late")
    s.send(b"BDAT 6\r\nQUIT\r\nBDAT 2 LAST\r\nxx"
           + f"MAIL FROM:<a@example.org>\r\nBDAT 1\r\nyRCPT TO:<{to}>\r\nBDAT 0 LAST\r\nNOOP\r\n".encode())
    got = [one(r) for r in s.replies(7)]
    want = ["503 5.5.1 Error: need MAIL command", "503 5.5.1 Error: need MAIL command",
            "250 2.1.0 OK", "503 5.5.1 Error: need RCPT command", "503 5.5.1 Error: RCPT after BDAT",
            "503 5.5.1 Error: need RCPT command", "250 2.0.0 OK"]
    check("ext: BDAT out of sequence is answered 503 and skipped", got == want and not recorded(records, to), got)

    # a rejected message and a rejected (tempfail) recipient with BDAT
    to = mailbox("ext-rej")
    body = b"X-Test-Reject-Data: yes\r\n\r\nx\r\n"
    s.send(f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\n".encode() + b"BDAT %d LAST\r\n" % len(body) + body)
    got = [one(r) for r in s.replies(3)]
    check("ext: X-Test-Reject-Data with BDAT", got[2] == "554 5.6.0 Message rejected by test"
          and not recorded(records, to), got)
    s.close()

    # a BDAT without a size cannot be skipped: 521 and hang up
    s = Session(port)
    s.ehlo()
    got = s.command("BDAT\r\n")
    check("ext: malformed BDAT gets 521 and the connection closes",
          got == ["521 5.5.4 Syntax: BDAT <size> [LAST]"] and s.closed(), got)

    # STARTTLS, then REQUIRETLS is offered and accepted
    s = Session(port)
    s.ehlo()
    got = s.starttls(env["TLS_CA_FILE"])
    ehlo = s.ehlo()
    check("ext: STARTTLS, then EHLO offers REQUIRETLS", got == ["220 2.0.0 Ready to start TLS"]
          and ehlo == ehlo_lines("PIPELINING", "SIZE 10485760", "8BITMIME", "SMTPUTF8",
                                 "ENHANCEDSTATUSCODES", "DSN", "CHUNKING", "BINARYMIME",
                                 "DELIVERBY 86400", "MT-PRIORITY MIXER", "REQUIRETLS"), (got, ehlo))
    to = mailbox("ext-requiretls")
    s.send(f"MAIL FROM:<a@example.org> REQUIRETLS\r\nRCPT TO:<{to}>\r\nBDAT 3 LAST\r\nabc".encode())
    got = [one(r) for r in s.replies(3)]
    text, eml, session = record_of(records, to)
    check("ext: MAIL REQUIRETLS over TLS", got[:2] == ["250 2.1.0 OK", "250 2.1.5 OK"]
          and got[2].startswith("250 2.0.0 3 octets received, OK id=")
          and text == f"MAIL <a@example.org> REQUIRETLS\nRCPT <{to}>\n"
          and session.startswith("LISTENER ext\nTLS TLSv1.3 ") and "SNI localhost\n" in session,
          (got, text, session))
    s.close()


def check_quirk(env):
    records = env["AIOSMTPD_DIR"]
    s = Session(int(env["AIOSMTPD_QUIRK_PORT"]))
    check("quirk: EHLO", s.ehlo() == ehlo_lines("SIZE 10485760", "8BITMIME", "PIPELINING"))
    to = mailbox("quirk")
    s.send(f"MAIL FROM:<a@example.org> SIZE=10\r\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
           f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\nDATA\r\n")
    got = [one(r) for r in s.replies(5)]
    s.send("x\r\n.\r\n")
    final = one(s.reply())
    check("quirk: MAIL with parameters gets 501, without them 250",
          got == ["501 5.5.4 Invalid MAIL FROM parameters"] * 2 + ["250 OK", "250 OK",
                                                                     "354 End data with <CR><LF>.<CR><LF>"]
          and final.startswith("250 2.0.0 OK id="), (got, final))
    text, _, _ = record_of(records, to)
    check("quirk: recorded", text == f"MAIL <a@example.org>\nRCPT <{to}>\n", text)
    s.close()


def check_no8bit(env):
    records = env["AIOSMTPD_DIR"]
    s = Session(int(env["AIOSMTPD_NO8BIT_PORT"]))
    check("no8bit: EHLO", s.ehlo() == ehlo_lines("SIZE 10485760", "PIPELINING"))
    to = mailbox("no8bit")
    s.send(f"MAIL FROM:<a@example.org> BODY=8BITMIME\r\nMAIL FROM:<a@example.org> SMTPUTF8\r\n"
           f"MAIL FROM:<a@example.org> BODY=7BIT\r\nMAIL FROM:<a@example.org> SIZE=20\r\n"
           f"RCPT TO:<ä@example.org>\r\nRCPT TO:<{to}>\r\nBDAT 1 LAST\r\nDATA\r\n".encode())
    got = [one(r) for r in s.replies(8)]
    refused = "555 MAIL FROM parameters not recognized or not implemented"
    want = [refused] * 3 + ["250 OK", "500 Error: strict ASCII mode", "250 OK",
                            '500 Error: command "BDAT" not recognized', "354 End data with <CR><LF>.<CR><LF>"]
    s.send(b"caf\xc3\xa9\r\n.\r\n")
    final = one(s.reply())
    check("no8bit: BODY= and SMTPUTF8 refused, UTF-8 address refused, no BDAT", got == want, got)
    text, eml, _ = record_of(records, to)
    check("no8bit: 8-bit text is still recorded as sent", final.startswith("250 2.0.0 OK id=")
          and text == f"MAIL <a@example.org> SIZE=20\nRCPT <{to}>\n" and eml == b"caf\xc3\xa9\r\n",
          (final, text, eml))
    s.close()


def check_small(env):
    records = env["AIOSMTPD_DIR"]
    s = Session(int(env["AIOSMTPD_SMALL_PORT"]))
    check("small: EHLO", s.ehlo() == ehlo_lines("PIPELINING", "SIZE 1000", "8BITMIME",
                                                "ENHANCEDSTATUSCODES", "CHUNKING"))
    to = mailbox("small")
    s.send(f"MAIL FROM:<a@example.org> SIZE=1001\r\nMAIL FROM:<a@example.org> SIZE=1000 RET=HDRS\r\n"
           f"MAIL FROM:<a@example.org> SIZE=1000\r\nRCPT TO:<{to}>\r\nDATA\r\n")
    got = [one(r) for r in s.replies(5)]
    check("small: SIZE=1001 gets 552", got == [
        "552 5.3.4 Message size exceeds fixed maximum message size", "555 5.5.4 Unsupported option: RET=HDRS",
        "250 2.1.0 OK", "250 2.1.5 OK", "354 End data with <CR><LF>.<CR><LF>"], got)
    s.send(b"x" * 998 + b"\r\n.\r\n")               # exactly 1000 octets
    fits = one(s.reply())
    s.send(f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\nDATA\r\n")
    s.replies(3)
    s.send(b"y" * 997 + b"\r\n\r\n.\r\n")         # 1001 octets
    over = one(s.reply())
    check("small: DATA of 1000 octets taken, of 1001 refused with 552",
          fits.startswith("250 2.0.0 OK id=")
          and over == "552 5.3.4 Message size exceeds fixed maximum message size", (fits, over))
    to2 = mailbox("small-bdat")
    s.send(f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{to2}>\r\n".encode()
           + b"BDAT 600\r\n" + b"a" * 600 + b"BDAT 600\r\n" + b"b" * 600 + b"BDAT 1 LAST\r\nc"
           + f"MAIL FROM:<a@example.org>\r\nRCPT TO:<{to2}>\r\n".encode()
           + b"BDAT 1000 LAST\r\n" + b"d" * 1000)
    got = [one(r) for r in s.replies(8)]
    check("small: BDAT beyond 1000 octets refused with 552 up to LAST, then a new transaction",
          got[:5] == ["250 2.1.0 OK", "250 2.1.5 OK", "250 2.0.0 600 octets received",
                      "552 5.3.4 Message size exceeds fixed maximum message size",
                      "552 5.3.4 Message size exceeds fixed maximum message size"]
          and got[5:7] == ["250 2.1.0 OK", "250 2.1.5 OK"]
          and got[7].startswith("250 2.0.0 1000 octets received, OK id="), got)
    _, eml, _ = record_of(records, to2)
    check("small: only the message that fits is recorded", eml == b"d" * 1000, eml and eml[:20])
    s.close()


def check_postfix(env):
    maildir = env["POSTFIX_MAILDIR"]
    s = Session(int(env["POSTFIX_RCPTLIMIT_PORT"]))
    s.ehlo()
    r = [mailbox(f"limit{i}") for i in range(3)]
    s.send(f"MAIL FROM:<{mailbox('limitsender')}>\r\n" + "".join(f"RCPT TO:<{a}>\r\n" for a in r) + "DATA\r\n")
    got = [one(x) for x in s.replies(5)]
    s.send("Subject: limit\r\n\r\nx\r\n.\r\n")
    final = one(s.reply())
    check("postfix rcptlimit: 3rd RCPT gets 452 4.5.3",
          got[:4] == ["250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "452 4.5.3 Error: too many recipients"]
          and final.startswith("250 2.0.0 Ok: queued as "), (got, final))
    check("postfix rcptlimit: the first two delivered",
          all(delivered(maildir, f"example.org/{a.split('@')[0]}") for a in r[:2]))
    s.close()

    # BDAT (pipelined, two chunks) with DSN parameters: a success DSN comes back
    s = Session(int(env["POSTFIX_PORT"]))
    ehlo = s.ehlo()
    check("postfix: EHLO offers CHUNKING, DSN, SMTPUTF8, ENHANCEDSTATUSCODES",
          all(f"250-{k}" in ehlo or f"250 {k}" in ehlo for k in
              ("CHUNKING", "DSN", "SMTPUTF8", "ENHANCEDSTATUSCODES", "8BITMIME", "PIPELINING")), ehlo)
    sender, to = mailbox("dsnsender"), mailbox("dsnrcpt")
    chunk1 = b"Subject: bdat dsn\r\n\r\n.leading dot\r\n"
    chunk2 = b"last line\r\n"
    s.send(f"MAIL FROM:<{sender}> RET=HDRS ENVID=env+2B{RUN}\r\n"
           f"RCPT TO:<{to}> NOTIFY=SUCCESS ORCPT=rfc822;{to}\r\n".encode()
           + b"BDAT %d\r\n" % len(chunk1) + chunk1 + b"BDAT %d LAST\r\n" % len(chunk2) + chunk2)
    got = [one(x) for x in s.replies(4)]
    check("postfix: pipelined BDAT", got[:3] == ["250 2.1.0 Ok", "250 2.1.5 Ok",
                                                 f"250 2.0.0 Ok: {len(chunk1)} bytes"]
          and got[3].startswith(f"250 2.0.0 Ok: {len(chunk1) + len(chunk2)} bytes queued as "), got)
    mail = delivered(maildir, f"example.org/{to.split('@')[0]}")
    check("postfix: BDAT message delivered", mail and b"\n\n.leading dot\nlast line\n" in mail[0], mail)
    dsn = delivered(maildir, f"example.org/{sender.split('@')[0]}", rb"Successful Mail Delivery Report")
    ok = bool(dsn) and all(x in dsn[0] for x in (
        b"Original-Envelope-Id: env+" + RUN.encode(), b"Status: 2.0.0", b"Action: relayed",
        b"Original-Recipient: rfc822;" + to.encode(), b"Final-Recipient: rfc822; " + to.encode()))
    check("postfix: success DSN in the sender's Maildir", ok, dsn)

    # UTF-8 and IDN addresses: where they land
    cases = [(f"用户-{RUN}@example.org", f"example.org/用户-{RUN}"),
             (f"Straße-{RUN}@Bücher.example", f"bücher.example/strasse-{RUN}"),
             (f"ÄRGER-{RUN}@bücher.example", f"bücher.example/ärger-{RUN}"),
             (f"idn-{RUN}@xn--bcher-kva.example", f"bücher.example/idn-{RUN}")]
    s.send(f"MAIL FROM:<ä-{RUN}@example.org> SMTPUTF8\r\n"
           + "".join(f"RCPT TO:<{a}>\r\n" for a, _ in cases) + "DATA\r\n")
    got = [one(x) for x in s.replies(len(cases) + 2)]
    s.send("Subject: ünïcödé\r\n\r\nx\r\n.\r\n")
    got.append(one(s.reply()))
    check("postfix: SMTPUTF8 transaction", got[-1].startswith("250 2.0.0 Ok: queued as "), got)
    for address, path in cases:
        check(f"postfix: {address} lands in {path}/new/", delivered(maildir, path))
    s.close()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check-ext.py STATE_DIR/env")
    with open(sys.argv[1], encoding="utf-8") as f:
        env = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    for part in (check_ext, check_quirk, check_no8bit, check_small, check_postfix):
        try:
            part(env)
        except (OSError, ValueError, IndexError, TypeError, AttributeError) as e:
            check(f"{part.__name__} ran to the end", False, repr(e))
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
