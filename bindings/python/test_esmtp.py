#!/usr/bin/python3
"""Tests of the ctypes binding (esmtp.py) against the real test servers.

Usage: ESMTP_LIBRARY=.../libesmtpc.so.1 ESMTP_TEST_ENV=STATE_DIR/env test_esmtp.py [unittest args]
(the servers: tests/servers/ctl.sh start STATE_DIR; see tests/servers/README.md).
SPDX-License-Identifier: MIT
"""
import asyncio
import email
import email.policy
import gc
import io
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import esmtp  # noqa: E402
from esmtp import Event, Status, TLS, ErrorCode  # noqa: E402

ENV_PATH = os.environ.get("ESMTP_TEST_ENV", "/tmp/esmtp-test-servers/env")
try:
    with open(ENV_PATH) as f:
        ENV = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
except OSError:
    # 77: Meson's skip; a failure where the servers are required (CI)
    sys.stderr.write(f"the test servers are not running (no {ENV_PATH}): start them with "
                     "tests/servers/ctl.sh start DIR and set ESMTP_TEST_ENV=DIR/env\n")
    sys.exit(1 if os.environ.get("ESMTP_TEST_REQUIRE_SERVERS") == "1" else 77)

HOST = ENV["SMTP_HOST"]
# Under ASan the library is instrumented (meson.build preloads the runtime):
# its quarantine makes RSS grow by design, so the RSS check cannot hold there.
SANITIZED = os.environ.get("ESMTP_TEST_SANITIZED") == "1"

_counter = 0


def mailbox(prefix="rcpt"):
    """A fresh address, so that each test finds its own recorded message."""
    global _counter
    _counter += 1
    return f"{prefix}-py-{os.getpid()}-{_counter}@example.org"


def recorded(rcpt, timeout=10.0, with_session=False):
    """(bytes aiosmtpd recorded for rcpt, its ID.env text[, ID.session text]), or Nones."""
    folder = ENV["AIOSMTPD_DIR"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".env"):
                continue
            with open(os.path.join(folder, name)) as f:
                envelope = f.read()
            if f"RCPT <{rcpt}>" in envelope.split("\n"):
                base = os.path.join(folder, name[:-4])
                with open(base + ".eml", "rb") as f:
                    data = f.read()
                if not with_session:
                    return data, envelope
                with open(base + ".session") as f:
                    return data, envelope, f.read()
        time.sleep(0.05)
    return (None, None, None) if with_session else (None, None)


def nothing_recorded_for(rcpt):
    return recorded(rcpt, timeout=0.5)[0] is None


def plain(port_key="AIOSMTPD_PORT", **settings):
    """A session in clear to one of the servers."""
    return esmtp.Session(HOST, int(ENV[port_key]), tls=TLS.NONE, **settings)


def tls_session(port_key, **settings):
    settings.setdefault("tls", TLS.STARTTLS)
    settings.setdefault("ca_file", ENV["TLS_CA_FILE"])
    return esmtp.Session(HOST, int(ENV[port_key]), **settings)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Boom(Exception):
    """What the raising callbacks raise."""


class BindingTestCase(unittest.TestCase):
    def setUp(self):
        # ctypes reports an exception that escaped a callback through
        # sys.unraisablehook ("Exception ignored on calling ctypes callback
        # function"): the binding must never let one escape.
        self.unraisable = []
        self._old_hook = sys.unraisablehook
        sys.unraisablehook = self.unraisable.append

    def tearDown(self):
        sys.unraisablehook = self._old_hook
        self.assertEqual([u.exc_value for u in self.unraisable], [], "an exception escaped into C")
        self.assertEqual(esmtp._registry, {}, "callback registry entries outlived their objects")


# ---------------------------------------------------------------- sending


class SendTests(BindingTestCase):
    def test_send_recorded_bytes(self):
        sender, rcpt = mailbox("from"), mailbox()
        body = b"Subject: python\nFrom: " + sender.encode() + b"\n\n.leading dot\nline 2\n\xc3\xa9t\xc3\xa9\n"
        with plain() as s:
            message = s.message(sender, [rcpt], body)
            self.assertEqual(message.status, Status.PENDING)
            result = s.send()
            self.assertEqual(result, [message])
            self.assertIn("recorder.test", s.greeting)
            self.assertEqual(s.extension("SIZE"), "10485760")
            self.assertEqual(s.extension("pipelining"), "")
            self.assertIsNone(s.extension("CHUNKING"))
            self.assertIsNone(s.tls_version)
            self.assertEqual(s.detail, "")
        data, envelope = recorded(rcpt)
        self.assertEqual(data, body.replace(b"\n", b"\r\n"))
        lines = envelope.splitlines()
        self.assertTrue(lines[0].startswith(f"MAIL <{sender}> SIZE="), lines)
        self.assertIn("BODY=8BITMIME", lines[0])
        self.assertEqual(lines[1:], [f"RCPT <{rcpt}>"])
        # Results outlive the session.
        self.assertTrue(s.closed)
        self.assertEqual((message.status, message.code, message.enhanced), (Status.OK, 250, "2.0.0"))
        self.assertTrue(message.text.startswith("OK id="), message.text)
        self.assertTrue(message.ok)
        [r] = message.recipients
        self.assertEqual((r.mailbox, r.status, r.code), (rcpt, Status.OK, 250))
        self.assertIn("recorder.test", s.greeting)
        with self.assertRaises(esmtp.StateError):
            s.extension("SIZE")
        with self.assertRaises(esmtp.StateError):
            s.send()

    def test_str_body_null_sender_and_two_messages(self):
        r1, r2 = mailbox(), mailbox()
        with plain() as s:
            m1 = s.message("", r1, "Subject: one\n\nüber\n")
            m2 = s.message(mailbox("from"), (r2,), bytearray(b"Subject: two\r\n\r\n2\r\n"))
            s.send()
        self.assertTrue(m1.ok and m2.ok)
        data, envelope = recorded(r1)
        self.assertEqual(data, "Subject: one\r\n\r\nüber\r\n".encode())
        self.assertTrue(envelope.startswith("MAIL <> "), envelope)
        self.assertEqual(recorded(r2)[0], b"Subject: two\r\n\r\n2\r\n")

    def test_partly_rejected_recipients(self):
        ok, rejected, later = mailbox(), mailbox("reject"), mailbox("tempfail")
        with plain() as s:
            message = s.message(mailbox("from"), [ok, rejected, later], b"Subject: partly\n\nx\n")
            s.send()                                   # no exception: the server decided
        self.assertEqual(message.status, Status.OK)
        r_ok, r_rej, r_tmp = message.recipients
        self.assertIsInstance(r_rej, esmtp.Recipient)
        self.assertEqual([r.mailbox for r in message.recipients], [ok, rejected, later])
        self.assertEqual((r_ok.status, r_ok.code), (Status.OK, 250))
        self.assertEqual((r_rej.status, r_rej.code, r_rej.enhanced), (Status.PERMFAIL, 550, "5.1.1"))
        self.assertIn("Recipient address rejected", r_rej.text)
        self.assertEqual((r_tmp.status, r_tmp.code, r_tmp.enhanced), (Status.TEMPFAIL, 450, "4.2.0"))
        self.assertIn("Try again later", r_tmp.text)
        self.assertFalse(r_rej.ok or r_tmp.ok)
        _, envelope = recorded(ok)
        self.assertEqual(envelope.splitlines()[1:], [f"RCPT <{ok}>"])

    def test_every_recipient_rejected(self):
        with plain() as s:
            message = s.message(mailbox("from"), [mailbox("reject"), mailbox("reject")], "Subject: no\n\n")
            s.send()
        self.assertEqual(message.status, Status.PERMFAIL)
        self.assertEqual([r.code for r in message.recipients], [550, 550])

    def test_streamed_bodies(self):
        big = b"Subject: stream\n\n" + b"".join(b"line %06d .\n.dot\n" % i for i in range(20000))
        r1, r2, r3 = mailbox(), mailbox(), mailbox()
        with plain() as s:
            m1 = s.message(mailbox("from"), r1, io.BytesIO(big))          # readinto()
            m1.set_size(len(big.replace(b"\n", b"\r\n")))
            m2 = s.message(mailbox("from"), r2, (c for c in ["Subject: gen\n\n", "ä" * 50, "\n"] * 100),
                           eight_bit=True)                                # an iterable of str
            m3 = s.message(mailbox("from"), r3, io.StringIO("Subject: text\n\nhello\n"))   # read() -> str
            s.send()
        self.assertTrue(m1.ok and m2.ok and m3.ok, [m1, m2, m3])
        data, envelope = recorded(r1)
        self.assertEqual(data, big.replace(b"\n", b"\r\n"))
        self.assertIn(f"SIZE={len(data)}", envelope)
        self.assertEqual(recorded(r2)[0], ("Subject: gen\r\n\r\n" + "ä" * 50 + "\r\n").encode() * 100)
        self.assertEqual(recorded(r3)[0], b"Subject: text\r\n\r\nhello\r\n")

    def test_with_a_file(self):
        with tempfile.NamedTemporaryFile("wb+") as f:
            f.write(b"Subject: file\n\nfrom a file\n")
            f.flush()
            f.seek(0)
            rcpt = mailbox()
            with plain() as s:
                s.message(mailbox("from"), rcpt, f)
                s.send()
        self.assertEqual(recorded(rcpt)[0], b"Subject: file\r\n\r\nfrom a file\r\n")

    def test_invalid_arguments_raise_value_errors(self):
        with plain() as s:
            with self.assertRaises(esmtp.InvalidArgumentError) as cm:
                s.message("not an address@example.org")
            self.assertIsInstance(cm.exception, ValueError)
            self.assertEqual(cm.exception.code, ErrorCode.EINVAL)
            self.assertEqual(cm.exception.name, "ESMTP_EINVAL")
            self.assertIn("esmtp_message_set_reverse_path", cm.exception.detail)
            with self.assertRaises(esmtp.InvalidArgumentError):
                s.message("a@example.org", ["b@example.org\r\nRCPT TO:<c@example.org>"])
            with self.assertRaises(ValueError):
                s.message("a\0b@example.org")
            queued = len(s.messages)
            with self.assertRaises(TypeError):
                s.message("a@example.org", [], 42)
            self.assertEqual(len(s.messages), queued)          # refused before queueing
            with self.assertRaises(TypeError):
                esmtp.Session(no_such_setting=1)
        with self.assertRaises(esmtp.InvalidArgumentError):
            esmtp.provider("no-such-provider")

    def test_nothing_to_send(self):
        with plain() as s, self.assertRaises(esmtp.MessageError) as cm:
            s.send()
        self.assertEqual(cm.exception.code, ErrorCode.ENOMESSAGE)

    def test_connection_refused_is_temporary(self):
        with socket.socket() as probe:               # a port where nothing listens
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        with esmtp.Session(HOST, port, tls=TLS.NONE, timeout=5) as s:
            message = s.message(mailbox("from"), mailbox(), "Subject: x\n\n")
            with self.assertRaises(esmtp.ConnectError) as cm:
                s.send()
        e = cm.exception
        self.assertEqual(e.code, ErrorCode.ECONNECT)
        self.assertTrue(e.temporary)
        self.assertIn(str(port), e.detail)
        self.assertEqual(message.status, Status.TEMPFAIL)

    def test_421_carries_the_servers_reply(self):
        with plain("SINK_421_PORT") as s:
            message = s.message(mailbox("from"), mailbox(), "Subject: x\n\n")
            with self.assertRaises(esmtp.ServerError) as cm:
                s.send()
        e = cm.exception
        self.assertEqual(e.code, ErrorCode.ESERVICE)
        self.assertEqual((e.reply_code, e.enhanced_code), (421, "4.0.0"))
        self.assertIn("421 4.0.0 Server closing connection", e.detail)
        self.assertIn("421 4.0.0 Server closing connection", str(e))
        self.assertTrue(e.temporary)
        self.assertEqual(message.status, Status.TEMPFAIL)
        self.assertEqual(message.code, 421)

    def test_settings_are_readable(self):
        with esmtp.Session("127.0.0.1", 2525, tls=TLS.STARTTLS_OPTIONAL, pipelining=False,
                           chunking=False, helo_name="client.example", auth_mechanisms=["PLAIN", "LOGIN"],
                           timeout={esmtp.Timeout.CONNECT: 2.5}, ca_file=ENV["TLS_CA_FILE"],
                           user="u", password="p") as s:
            self.assertEqual(s.server, ("127.0.0.1", 2525))
            self.assertEqual((s.tls, s.pipelining, s.chunking), (TLS.STARTTLS_OPTIONAL, False, False))
            self.assertEqual((s.helo_name, s.user, s.ca_file), ("client.example", "u", ENV["TLS_CA_FILE"]))
            self.assertEqual(s.auth_mechanisms, ["PLAIN", "LOGIN"])
            self.assertEqual(s.get_timeout(esmtp.Timeout.CONNECT), 2.5)
            self.assertIsNone(s.get_timeout(esmtp.Timeout.DATA_END))
            s.tls_min_version = esmtp.TLSVersion.TLS_1_3
            s.provider = "qq"
            info = esmtp.provider("qq")
            self.assertEqual(s.server, (info.host, info.port))
            self.assertEqual(s.tls, info.tls)
        gmail = esmtp.provider("Gmail")
        self.assertEqual((gmail.host, gmail.port, gmail.tls), ("smtp.gmail.com", 587, TLS.STARTTLS))
        self.assertIn("XOAUTH2", gmail.mechanisms)
        self.assertIn("TLS", esmtp.strerror(ErrorCode.ENOTLS))
        self.assertEqual(esmtp.strerror(12345), "unknown error")
        self.assertRegex(esmtp.library_version(), r"^\d+\.\d+\.\d+$")


# -------------------------------------------------------------------- TLS


class TLSTests(BindingTestCase):
    def test_starttls_required_but_not_offered(self):
        rcpt = mailbox()
        errors = []
        with esmtp.Session(HOST, int(ENV["AIOSMTPD_PORT"]), tls=TLS.STARTTLS, on_error=errors.append) as s:
            message = s.message(mailbox("from"), rcpt, "Subject: x\n\n")
            with self.assertRaises(esmtp.TLSError) as cm:
                s.send()
        e = cm.exception
        self.assertEqual(e.code, ErrorCode.ENOTLS)
        self.assertEqual(e.strerror, esmtp.strerror(ErrorCode.ENOTLS))
        self.assertTrue(e.detail)
        self.assertEqual(s.detail, e.detail)          # frozen at close
        self.assertNotEqual(message.status, Status.OK)
        self.assertEqual(len(errors), 1)               # on_error saw the same failure first
        self.assertEqual((errors[0].code, errors[0].detail), (e.code, e.detail))
        self.assertTrue(nothing_recorded_for(rcpt))

    def test_expired_certificate(self):
        with tls_session("POSTFIX_TLS_EXPIRED_PORT") as s:
            s.message(mailbox("from"), mailbox(), "Subject: x\n\n")
            with self.assertRaises(esmtp.TLSError) as cm:
                s.send()
        self.assertEqual(cm.exception.code, ErrorCode.ECERT)
        self.assertIn("expired", cm.exception.detail)
        self.assertTrue(cm.exception.permanent)

    def test_implicit_tls_against_a_plain_port(self):
        with esmtp.Session(HOST, int(ENV["AIOSMTPD_PORT"]), tls=TLS.IMPLICIT,
                           ca_file=ENV["TLS_CA_FILE"], timeout=10) as s:
            s.message(mailbox("from"), mailbox(), "Subject: x\n\n")
            with self.assertRaises(esmtp.TLSError) as cm:
                s.send()
        self.assertEqual(cm.exception.code, ErrorCode.ETLSMODE)

    def test_starttls_success(self):
        rcpt = mailbox()
        events = []
        with tls_session("AIOSMTPD_TLS_PORT", on_progress=lambda ev, *_: events.append(ev)) as s:
            message = s.message(mailbox("from"), rcpt, "Subject: tls\n\nsecret\n")
            s.send()
            self.assertTrue(s.tls_version.startswith("TLSv1."), s.tls_version)
            self.assertTrue(s.tls_cipher)
            self.assertIn("CN=mail.test", s.tls_peer_subject)
        self.assertTrue(message.ok)
        self.assertIn(Event.TLS, events)
        self.assertLess(events.index(Event.TLS), events.index(Event.RECIPIENT))
        self.assertTrue(s.tls_version.startswith("TLSv1."))   # still readable after close
        data, _, session_record = recorded(rcpt, with_session=True)
        self.assertEqual(data, b"Subject: tls\r\n\r\nsecret\r\n")
        self.assertIn("TLS TLSv1.", session_record)

    def test_pin_instead_of_a_ca(self):
        with esmtp.Session(HOST, int(ENV["POSTFIX_TLS_SELFSIGNED_PORT"]), tls=TLS.STARTTLS,
                           tls_pin=ENV["TLS_SELFSIGNED_PIN_SHA256"]) as s:
            message = s.message(mailbox("from"), mailbox(), "Subject: pinned\n\n")
            s.send()
        self.assertTrue(message.ok, message)
        with esmtp.Session(HOST, int(ENV["POSTFIX_TLS_SELFSIGNED_PORT"]), tls=TLS.STARTTLS,
                           tls_pin=ENV["TLS_SERVER_PIN_SHA256"]) as s:    # the wrong key
            s.message(mailbox("from"), mailbox(), "Subject: pinned\n\n")
            with self.assertRaises(esmtp.TLSError) as cm:
                s.send()
        self.assertEqual(cm.exception.code, ErrorCode.ECERT)


# ------------------------------------------------------------------- AUTH


class AuthTests(BindingTestCase):
    def auth_session(self, **settings):
        return tls_session("AIOSMTPD_AUTH_PORT", **settings)

    def test_plain_login(self):
        rcpt = mailbox()
        events = []
        with self.auth_session(user=ENV["SASL_USER"], password=ENV["SASL_PASSWORD"],
                               auth_mechanisms="PLAIN",
                               on_progress=lambda ev, *_: events.append(ev)) as s:
            message = s.message(mailbox("from"), rcpt, "Subject: auth\n\n")
            s.send()
        self.assertTrue(message.ok)
        self.assertIn(Event.AUTHENTICATED, events)
        _, _, session_record = recorded(rcpt, with_session=True)
        self.assertIn(f"AUTH PLAIN {ENV['SASL_USER']}", session_record)

    def test_wrong_password(self):
        with self.auth_session(user=ENV["SASL_USER"], password="wrong", auth_mechanisms="PLAIN") as s:
            message = s.message(mailbox("from"), mailbox(), "Subject: auth\n\n")
            with self.assertRaises(esmtp.AuthError) as cm:
                s.send()
        e = cm.exception
        self.assertEqual(e.code, ErrorCode.EAUTH)
        self.assertEqual((e.reply_code, e.enhanced_code), (535, "5.7.8"))
        self.assertTrue(e.permanent)
        self.assertNotEqual(message.status, Status.OK)

    def test_oauth_token_callback(self):
        rcpt = mailbox()
        asked = []

        def token():
            asked.append(1)
            return ENV["OAUTH_TOKEN"]
        with self.auth_session(user=ENV["SASL_USER"], oauth_token=token, auth_mechanisms="XOAUTH2") as s:
            message = s.message(mailbox("from"), rcpt, "Subject: oauth\n\n")
            s.send()
        self.assertTrue(message.ok)
        self.assertEqual(len(asked), 1)
        _, _, session_record = recorded(rcpt, with_session=True)
        self.assertIn("AUTH XOAUTH2", session_record)

    def test_oauth_token_string_and_none(self):
        with self.auth_session(user=ENV["SASL_USER"], oauth_token=ENV["OAUTH_TOKEN"],
                               auth_mechanisms="OAUTHBEARER") as s:
            message = s.message(mailbox("from"), mailbox(), "Subject: oauth\n\n")
            s.send()
        self.assertTrue(message.ok)
        with self.auth_session(user=ENV["SASL_USER"], oauth_token=lambda: None,
                               auth_mechanisms="XOAUTH2") as s:
            s.message(mailbox("from"), mailbox(), "Subject: oauth\n\n")
            with self.assertRaises(esmtp.CallbackError) as cm:
                s.send()
        self.assertEqual(cm.exception.code, ErrorCode.ECALLBACK)

    def test_no_password_mechanism_in_clear(self):
        with plain(user="u", password="p") as s:
            s.message(mailbox("from"), mailbox(), "Subject: x\n\n")
            with self.assertRaises(esmtp.AuthError) as cm:
                s.send()
        self.assertEqual(cm.exception.code, ErrorCode.ENOMECH)


# -------------------------------------------------------------- callbacks


class CallbackTests(BindingTestCase):
    def test_events_in_order(self):
        body = b"Subject: events\n\n" + b"x" * 100000 + b"\n"
        r1, r2 = mailbox(), mailbox()
        events, lines = [], []
        with plain(on_progress=lambda *a: events.append(a),
                   on_transcript=lambda d, line: lines.append((d, line))) as s:
            message = s.message(mailbox("from"), [r1, r2], body)
            s.send()
        kinds = [e[0] for e in events]
        self.assertEqual(kinds[:5], [Event.CONNECTED, Event.GREETING, Event.EXTENSIONS,
                                     Event.RECIPIENT, Event.RECIPIENT])
        self.assertEqual(kinds[-2:], [Event.MESSAGE_DONE, Event.DISCONNECTED])
        self.assertEqual(set(kinds[5:-2]), {Event.BODY_BYTES})
        # The recipient events carry the very objects the message lists.
        self.assertIs(events[3][1], message)
        self.assertEqual([e[2] for e in events[3:5]], message.recipients)
        self.assertIs(events[3][2], message.recipients[0])
        self.assertIs(events[-2][1], message)
        self.assertEqual([e[1:3] for e in events[:3]], [(None, None)] * 3)
        sizes = [e[3] for e in events if e[0] == Event.BODY_BYTES]
        self.assertEqual(sizes, sorted(sizes))
        self.assertEqual(sizes[-1], len(body.replace(b"\n", b"\r\n")))
        # The transcript: greeting, EHLO, ..., QUIT and its reply.
        self.assertEqual(lines[0][0], esmtp.Direction.SERVER)
        self.assertTrue(lines[0][1].startswith("220 "))
        self.assertEqual(lines[1][0], esmtp.Direction.CLIENT)
        self.assertTrue(lines[1][1].startswith("EHLO "))
        self.assertIn((esmtp.Direction.CLIENT, f"RCPT TO:<{r2}>"), lines)
        self.assertEqual(lines[-2], (esmtp.Direction.CLIENT, "QUIT"))
        self.assertTrue(lines[-1][1].startswith("221"))

    def assert_aborted(self, session_factory, raising, rcpt=None):
        """Runs a session whose callback raises: send() must raise that very
        exception, and the session must be left clean."""
        exc = Boom("from the callback")
        raising.exc = exc
        with session_factory() as s:
            message = s.message(mailbox("from"), rcpt or mailbox(), "Subject: abort\n\n")
            with self.assertRaises(Boom) as cm:
                s.send()
            self.assertIs(cm.exception, exc)
            self.assertIsNone(s._pending)
        self.assertNotEqual(message.status, Status.OK)
        return cm.exception, message

    def test_raising_progress_callback(self):
        seen = []

        def progress(event, message, recipient, nbytes):
            seen.append(event)
            if event == Event.RECIPIENT:
                raise progress.exc
        rcpt = mailbox()
        exc, message = self.assert_aborted(lambda: plain(on_progress=progress), progress, rcpt)
        self.assertEqual(seen[-1], Event.RECIPIENT)   # no callback after the one that raised
        self.assertEqual(seen.count(Event.RECIPIENT), 1)
        self.assertIn("ESMTP_ECALLBACK", "".join(getattr(exc, "__notes__", [])))
        self.assertEqual(message.status, Status.TEMPFAIL)
        self.assertTrue(nothing_recorded_for(rcpt))
        # The process lives on and a new session works.
        with plain() as s:
            m = s.message(mailbox("from"), mailbox(), "Subject: after\n\n")
            s.send()
        self.assertTrue(m.ok)

    def test_raising_transcript_callback(self):
        def transcript(direction, line):
            if line.startswith("EHLO"):
                raise transcript.exc
        rcpt = mailbox()
        self.assert_aborted(lambda: plain(on_transcript=transcript), transcript, rcpt)
        self.assertTrue(nothing_recorded_for(rcpt))

    def test_raising_error_callback(self):
        def on_error(error):
            raise on_error.exc
        self.assert_aborted(lambda: esmtp.Session(HOST, int(ENV["AIOSMTPD_PORT"]), tls=TLS.STARTTLS,
                                                  on_error=on_error), on_error)

    def test_raising_token_callback(self):
        def token():
            raise token.exc
        self.assert_aborted(lambda: tls_session("AIOSMTPD_AUTH_PORT", user=ENV["SASL_USER"],
                                                oauth_token=token, auth_mechanisms="XOAUTH2"), token)

    def test_raising_body_reader(self):
        class Body:
            def __init__(self):
                self.calls = 0

            def read(self, n):
                self.calls += 1
                if self.calls == 1:
                    return b"Subject: half\n\n" + b"y" * 1000
                raise Body.exc
        rcpt = mailbox()
        exc = Boom("reader")
        Body.exc = exc
        with plain() as s:
            message = s.message(mailbox("from"), rcpt, Body())
            with self.assertRaises(Boom) as cm:
                s.send()
        self.assertIs(cm.exception, exc)
        self.assertNotEqual(message.status, Status.OK)
        self.assertTrue(nothing_recorded_for(rcpt))

    def test_keyboard_interrupt_in_a_callback(self):
        def progress(event, *_):
            if event == Event.GREETING:
                raise KeyboardInterrupt
        with plain(on_progress=progress) as s:
            s.message(mailbox("from"), mailbox(), "Subject: ^C\n\n")
            with self.assertRaises(KeyboardInterrupt):
                s.send()

    def test_close_inside_a_callback_is_refused(self):
        box = {}

        def progress(event, *_):
            if event == Event.GREETING:
                box["s"].close()
        with plain(on_progress=progress) as s:
            box["s"] = s
            s.message(mailbox("from"), mailbox(), "Subject: close\n\n")
            with self.assertRaises(esmtp.StateError):
                s.send()
            self.assertFalse(s.closed)
        self.assertTrue(s.closed)

    def test_raising_callback_in_the_event_loop(self):
        def progress(event, *_):
            if event == Event.EXTENSIONS:
                raise progress.exc
        progress.exc = Boom("loop")
        with plain(on_progress=progress) as s:
            s.message(mailbox("from"), mailbox(), "Subject: loop\n\n")
            s.start()
            with self.assertRaises(Boom):
                while not s.process(self.wait(s)):
                    pass

    @staticmethod
    def wait(session):
        want, fd, timeout = session.want(), session.fileno(), session.timeout_ms()
        r = [fd] if want & esmtp.Want.READ else []
        w = [fd] if want & esmtp.Want.WRITE else []
        rr, ww, _ = select.select(r, w, [], None if timeout < 0 else timeout / 1000)
        return (esmtp.Want.READ if rr else 0) | (esmtp.Want.WRITE if ww else 0)


# ------------------------------------------------------------------- MIME


class MimeTests(BindingTestCase):
    def test_mime_message(self):
        sender, to, cc, bcc = mailbox("from"), mailbox("to"), mailbox("cc"), mailbox("bcc")
        pdf = bytes(range(256)) * 40
        png = b"\x89PNG\r\n\x1a\n" + bytes(100)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notes.txt")
            with open(path, "w") as f:
                f.write("plain notes\n")
            mime = esmtp.Mime(from_=("Zhang San", sender), to=f"Li Si <{to}>", cc=[cc], bcc=bcc,
                              subject="你好, report", text="See the HTML.\n",
                              html='<p>Report <img src="cid:logo@example.org"></p>\n',
                              headers={"X-Mailer": "esmtp-python test"},
                              attachments=[(pdf, "report.pdf", "application/pdf"), path])
            mime.inline("logo@example.org", png, content_type="image/png")
            mime.attach_stream(io.BytesIO(b"streamed,data\n"), size=14, filename="s.csv",
                               content_type="text/csv")
            with plain() as s:
                message = s.message(body=mime)                  # envelope from the header fields
                self.assertEqual([r.mailbox for r in message.recipients], [to, cc, bcc])
                with self.assertRaises(esmtp.StateError):       # the message owns it now
                    mime.set_subject("changed")
                s.send()
            self.assertIsNone(mime._ptr)                        # freed with the session
        self.assertTrue(message.ok, message)
        self.assertTrue(all(r.ok for r in message.recipients))
        data, envelope = recorded(bcc)
        self.assertTrue(envelope.startswith(f"MAIL <{sender}>"))
        self.assertEqual(set(envelope.splitlines()[1:]), {f"RCPT <{a}>" for a in (to, cc, bcc)})
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(msg["Subject"], "你好, report")
        self.assertEqual(msg["From"].addresses[0].display_name, "Zhang San")
        self.assertEqual(msg["To"].addresses[0].addr_spec, to)
        self.assertIsNone(msg["Bcc"])
        self.assertEqual(msg["X-Mailer"], "esmtp-python test")
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        self.assertEqual(msg.get_body(("plain",)).get_content(), "See the HTML.\r\n")
        self.assertIn("cid:logo@example.org", msg.get_body(("html",)).get_content())
        attachments = {p.get_filename(): p for p in msg.iter_attachments()}
        self.assertEqual(set(attachments), {"report.pdf", "notes.txt", "s.csv"})
        self.assertEqual(attachments["report.pdf"].get_content(), pdf)
        self.assertEqual(attachments["report.pdf"].get_content_type(), "application/pdf")
        self.assertEqual(attachments["notes.txt"].get_content(), "plain notes\r\n")
        self.assertEqual(attachments["s.csv"].get_content().replace("\r\n", "\n"), "streamed,data\n")
        inline = [p for p in msg.walk() if p["Content-ID"] == "<logo@example.org>"]
        self.assertEqual(len(inline), 1)
        self.assertEqual(inline[0].get_content(), png)

    def test_as_bytes_is_deterministic(self):
        def build():
            return (esmtp.Mime(from_="a@example.org", to="b@example.org", deterministic=7,
                               subject="same", text="same text\n")
                    .add_header("X-Test", "1"))
        with build() as m1, build() as m2:
            first = m1.as_bytes()
            self.assertEqual(first, m2.as_bytes())
            self.assertEqual(first, m1.as_bytes())                 # prepare() restarts
            size, has_8bit = m1.prepare()
            self.assertEqual((size, has_8bit), (len(first), False))
        self.assertIn(b"Date: Sat, 01 Jan 2000 00:00:00 +0000\r\n", first)
        self.assertIn(b"X-Test: 1\r\n", first)
        m1.close()                                                 # twice is fine

    def test_custom_structure_and_errors(self):
        with esmtp.Mime(from_="a@example.org", to="b@example.org", deterministic=1) as m:
            related = m.body().set_type("multipart/related")
            related.add_subpart().set_type("text/html").set_data("<b>hi</b>")
            related.add_subpart().set_type("image/gif").set_data(b"GIF89a").set_content_id("g@x")
            data = m.as_bytes()
            self.assertIn(b"multipart/related", data)
            with self.assertRaises(esmtp.InvalidArgumentError):
                m.add_header("X-Bad", "line\r\nBcc: evil@example.org")
            with self.assertRaises(esmtp.InvalidArgumentError):
                m.add_header("From", "someone")

    def test_raising_stream_part(self):
        def chunks():
            yield b"first"
            raise Boom("part")
        rcpt = mailbox()
        mime = esmtp.Mime(from_=mailbox("from"), to=rcpt, text="x\n")
        mime.attach_stream(chunks(), filename="f.bin")
        with plain() as s:
            message = s.message(body=mime)
            with self.assertRaises(Boom):
                s.send()
        self.assertNotEqual(message.status, Status.OK)
        self.assertTrue(nothing_recorded_for(rcpt))


# ------------------------------------------------------------- event loops


class EventLoopTests(BindingTestCase):
    def test_manual_loop(self):
        rcpt = mailbox()
        with plain() as s:
            message = s.message(mailbox("from"), rcpt, "Subject: loop\n\n")
            self.assertTrue(s.start())
            rounds = 0
            while not s.process(CallbackTests.wait(s)):
                rounds += 1
            self.assertGreater(rounds, 2)
        self.assertTrue(message.ok)
        self.assertEqual(recorded(rcpt)[0], b"Subject: loop\r\n\r\n")

    def test_run_all(self):
        sessions = [plain(), plain("SINK_PORT"), plain("AIOSMTPD_NOPIPE_PORT"),
                    esmtp.Session(HOST, int(ENV["AIOSMTPD_PORT"]), tls=TLS.STARTTLS)]
        try:
            messages = [s.message(mailbox("from"), mailbox(), "Subject: all\n\n") for s in sessions]
            results = esmtp.run_all(sessions)
        finally:
            for s in sessions:
                s.close()
        self.assertEqual(results[:3], [None, None, None])
        self.assertIsInstance(results[3], esmtp.TLSError)
        self.assertTrue(all(m.ok for m in messages[:3]))

    def test_send_async(self):
        async def main():
            sessions = [plain() for _ in range(3)]
            try:
                messages = [s.message(mailbox("from"), mailbox(), "Subject: async\n\n") for s in sessions]
                await asyncio.gather(*(s.send_async() for s in sessions))
                return messages
            finally:
                for s in sessions:
                    s.close()
        messages = asyncio.run(main())
        self.assertTrue(all(m.ok for m in messages))

    def test_threads(self):
        results = [None] * 8

        def worker(i):
            try:
                with plain("SINK_PORT", on_progress=lambda *a: None) as s:
                    m = s.message(mailbox("from"), [mailbox(), mailbox()], "Subject: thread\n\n" + "z" * 10000)
                    s.send()
                    results[i] = m.ok
            except BaseException as e:   # noqa: B036
                results[i] = e
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [True] * 8)


# ----------------------------------------------------------------- example


class ExampleTests(BindingTestCase):
    def test_send_html(self):
        to, rejected = mailbox("to"), mailbox("reject")
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "data.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(3000))
            with open(path, "rb") as f:
                content = f.read()
            cmd = [sys.executable, os.path.join(HERE, "send_html.py"), "--plain",
                   "--server", f"{HOST}:{ENV['AIOSMTPD_PORT']}", "--from", mailbox("from"),
                   "--to", to, "--to", rejected, "--subject", "Example", path]
            run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 1, run.stderr)               # one recipient refused
        self.assertIn(f"{to}: ok 250", run.stdout)
        self.assertIn(f"{rejected}: permfail 550 5.1.1", run.stdout)
        msg = email.message_from_bytes(recorded(to)[0], policy=email.policy.default)
        self.assertEqual(msg["Subject"], "Example")
        self.assertIn("data.bin", msg.get_body(("html",)).get_content())
        [attachment] = list(msg.iter_attachments())
        self.assertEqual((attachment.get_filename(), attachment.get_content()), ("data.bin", content))


# -------------------------------------------------------------------- leak


class LeakTests(BindingTestCase):
    SENDS = 1000

    def send_one(self, i, port):
        events = []
        with esmtp.Session(HOST, port, tls=TLS.NONE, on_progress=lambda *a: events.append(a[0]),
                           on_transcript=lambda d, line: None, on_error=lambda e: None) as s:
            if i % 10 == 0:
                body = esmtp.Mime(from_="s@example.org", to="r@example.org", subject=f"leak {i}",
                                  text="text\n", html="<p>html</p>",
                                  attachments=[(b"x" * 2000, "x.bin")])
                m = s.message(body=body)
            elif i % 10 == 1:
                m = s.message("s@example.org", ["r@example.org"], io.BytesIO(b"Subject: s\n\n" + b"y" * 5000))
            else:
                m = s.message("s@example.org", ["r@example.org", "q@example.org"],
                              b"Subject: leak\n\n" + b"z" * 5000)
            s.send()
        if not m.ok or events[-1] != Event.DISCONNECTED:
            raise AssertionError(f"send {i}: {m} {events}")

    def test_no_leak_over_1000_sends(self):
        port = int(ENV["SINK_PORT"])
        start = time.monotonic()
        for i in range(100):
            self.send_one(i, port)
        gc.collect()
        after_100 = rss_bytes()
        for i in range(100, self.SENDS):
            self.send_one(i, port)
        gc.collect()
        after_all = rss_bytes()
        growth = after_all - after_100
        print(f"\nRSS after 100 sends {after_100 / 1024:.0f} KiB, after {self.SENDS} "
              f"{after_all / 1024:.0f} KiB (growth {growth / 1024:.0f} KiB, "
              f"{time.monotonic() - start:.1f} s)", file=sys.stderr)
        self.assertEqual(esmtp._registry, {})
        if SANITIZED:
            self.skipTest("RSS is not meaningful under ASan (its quarantine grows by design)")
        # 900 more sessions, each with several KiB of C and Python objects:
        # a leak of even one body or session per send would be megabytes.
        self.assertLess(growth, 512 * 1024, "RSS grew over 900 sends")


if __name__ == "__main__":
    unittest.main(verbosity=2)
