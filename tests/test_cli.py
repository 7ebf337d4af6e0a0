#!/usr/bin/python3
"""Tests of the command-line tools against the real test servers: esmtp-send
(results, exit codes, transcript, input sources, TLS, AUTH, providers, messages
built with the MIME builder) and the poll() example.

Usage: test_cli.py ESMTP_SEND POLL_TWO_SESSIONS   (ESMTP_TEST_ENV names the
servers' env file, as for the C integration tests).
SPDX-License-Identifier: MIT
"""
import base64
import email
import email.policy
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SEND, POLL = sys.argv[1], sys.argv[2]
ENV_PATH = os.environ.get("ESMTP_TEST_ENV", "/tmp/esmtp-test-servers/env")
try:
    with open(ENV_PATH) as f:
        ENV = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
except OSError:
    # 77: Meson's skip; a failure where the servers are required (CI)
    sys.stderr.write(f"the test servers are not running (no {ENV_PATH}): start them with "
                     "tests/servers/ctl.sh start DIR and set ESMTP_TEST_ENV=DIR/env\n")
    sys.exit(1 if os.environ.get("ESMTP_TEST_REQUIRE_SERVERS") == "1" else 77)

MESSAGE = b"Subject: cli\nFrom: s@example.org\n\n.dot line\nbody\n"
WIRE = MESSAGE.replace(b"\n", b"\r\n")
_counter = 0


def mailbox(prefix):
    global _counter
    _counter += 1
    return f"{prefix}-cli-{os.getpid()}-{_counter}@example.org"


def recorded_with_envelope(rcpt, timeout=10.0):
    """(the exact bytes aiosmtpd recorded for rcpt, the text of its ID.env),
    or (None, None)."""
    folder = ENV["AIOSMTPD_DIR"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir(folder):
            if name.endswith(".env"):
                with open(os.path.join(folder, name)) as f:
                    envelope = f.read()
                if f"RCPT <{rcpt}>" in envelope.split("\n"):
                    with open(os.path.join(folder, name[:-4] + ".eml"), "rb") as e:
                        return e.read(), envelope
        time.sleep(0.05)
    return None, None


def recorded(rcpt, timeout=10.0):
    """The exact bytes aiosmtpd recorded for rcpt, or None."""
    return recorded_with_envelope(rcpt, timeout)[0]


def session_record(rcpt, timeout=10.0):
    """The ID.session file the recorder wrote for rcpt's message (TLS and AUTH
    listeners only), or None."""
    folder = ENV["AIOSMTPD_DIR"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir(folder):
            if name.endswith(".env"):
                with open(os.path.join(folder, name)) as f:
                    if f"RCPT <{rcpt}>" in f.read().split("\n"):
                        with open(os.path.join(folder, name[:-4] + ".session")) as e:
                            return e.read()
        time.sleep(0.05)
    return None


def postfix_delivered_bytes(rcpt, timeout=10.0):
    """The bytes of the mail Postfix delivered to rcpt (@example.org), or None."""
    folder = os.path.join(ENV["POSTFIX_MAILDIR"], "example.org", rcpt.split("@")[0], "new")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                with open(os.path.join(folder, name), "rb") as f:
                    return f.read()
        time.sleep(0.05)
    return None


def postfix_delivered(rcpt, timeout=10.0):
    """The text of the mail Postfix delivered to rcpt (@example.org), or None."""
    data = postfix_delivered_bytes(rcpt, timeout)
    return None if data is None else data.decode(errors="replace")


def send(*args, stdin=None, stdin_file=None, tls="none", env=None):
    """Runs esmtp-send; stdin (bytes) comes through a pipe, stdin_file (an
    open file) is its standard input itself; tls=None leaves --tls out (the
    tool's default)."""
    tls_args = [] if tls is None else ["--tls", tls]
    return subprocess.run([SEND, *tls_args, *args], input=stdin, stdin=stdin_file,
                          capture_output=True, timeout=60,
                          env=None if env is None else {**os.environ, **env})


class EsmtpSend(unittest.TestCase):
    def server(self, key):
        return f"127.0.0.1:{ENV[key]}"

    def message_file(self, data=MESSAGE):
        f = tempfile.NamedTemporaryFile(delete=False)
        f.write(data)
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_delivers_file_and_prints_one_line_per_recipient(self):
        a, b = mailbox("a"), mailbox("b")
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", a, "--to", b, "--message", self.message_file())
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith(f"{a}: ok 250 2.0.0 OK id="), lines)
        self.assertTrue(lines[1].startswith(f"{b}: ok 250 2.0.0 OK id="), lines)
        self.assertEqual(recorded(a), WIRE)

    def test_reads_stdin(self):
        a = mailbox("stdin")
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", a, stdin=MESSAGE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recorded(a), WIRE)

    def test_recipient_limit_follow_up_streams_the_file_again(self):
        # Postfix answers the 3rd RCPT with 452: the file is read again for a
        # follow-up transaction, and every recipient gets the message.
        rcpts = [mailbox("many") for _ in range(3)]
        args = ["--server", self.server("POSTFIX_RCPTLIMIT_PORT"), "--from", "s@example.org",
                "--message", self.message_file()]
        for r in rcpts:
            args += ["--to", r]
        res = send(*args)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        for r in rcpts:
            self.assertIn("\n.dot line\nbody\n", postfix_delivered(r))

    def open_file(self, data):
        """data in a regular file, open for reading (for stdin_file)."""
        f = open(self.message_file(data), "rb", buffering=0)
        self.addCleanup(f.close)
        return f

    def test_too_big_for_size_is_refused_before_mail_from_any_input(self):
        # 5,000 bytes for a server that takes 1,000: measured and refused
        # locally, whether the message comes from --message, a file on
        # standard input or a pipe
        data = b"Subject: big\n\n" + b"x" * 69 + b"\n" + (b"y" * 69 + b"\n") * 70
        size = len(data.replace(b"\n", b"\r\n"))
        inputs = {"--message": (["--message", self.message_file(data)], {}),
                  "stdin file": ([], {"stdin_file": self.open_file(data)}),
                  "stdin pipe": ([], {"stdin": data})}
        for name, (args, how) in inputs.items():
            with self.subTest(name):
                a = mailbox("big")
                r = send("--server", self.server("AIOSMTPD_SMALL_PORT"), "--from",
                         "s@example.org", "--to", a, "--trace", *args, **how)
                self.assertEqual(r.returncode, 69, r.stderr)
                self.assertEqual(r.stdout.decode(), f"{a}: permfail 0 the message ({size} bytes) "
                                 "exceeds the server's limit of 1000\n")
                self.assertNotIn("C: MAIL", r.stderr.decode())

    def test_piped_stdin_declares_size_and_8bit(self):
        # TMPDIR cannot be used: a small message stays in memory
        a = mailbox("pipe")
        data = b"Subject: pipe\nFrom: s@example.org\n\n.dot line\nGr\xc3\xbc\xc3\x9fe\n"
        wire = data.replace(b"\n", b"\r\n")
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", a, stdin=data, env={"TMPDIR": "/nonexistent/tmp"})
        self.assertEqual(r.returncode, 0, r.stderr)
        got, envelope = recorded_with_envelope(a)
        self.assertEqual(got, wire)
        self.assertEqual(envelope.split("\n")[0],
                         f"MAIL <s@example.org> SIZE={len(wire)} BODY=8BITMIME")

    def test_piped_stdin_over_the_memory_limit_goes_through_a_temporary_file(self):
        lines = [b"%s%06d %s" % (b"." if i % 7 == 0 else b"", i, os.urandom(32).hex().encode())
                 for i in range(20000)]
        data = b"Subject: spooled\n\n" + b"\n".join(lines) + b"\n"
        self.assertGreater(len(data), 1 << 20)
        wire = data.replace(b"\n", b"\r\n")
        tmp = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, tmp)
        a = mailbox("spool")
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", a, stdin=data, env={"TMPDIR": tmp})
        self.assertEqual(r.returncode, 0, r.stderr)
        got, envelope = recorded_with_envelope(a)
        self.assertEqual(got, wire)
        self.assertEqual(envelope.split("\n")[0], f"MAIL <s@example.org> SIZE={len(wire)}")
        self.assertEqual(os.listdir(tmp), [])  # unlinked at once
        # it does need the temporary file
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", mailbox("nospool"), stdin=data, env={"TMPDIR": "/nonexistent/tmp"})
        self.assertEqual(r.returncode, 71, r.stderr)
        self.assertEqual(r.stdout, b"")
        self.assertIn("temporary file in /nonexistent/tmp", r.stderr.decode())

    def test_stdin_file_is_sent_from_its_current_offset(self):
        # like cat: what was read from standard input before is not sent
        f = self.open_file(b"From whoever\n" + MESSAGE)
        f.seek(len(b"From whoever\n"))
        a = mailbox("offset")
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", a, stdin_file=f)
        self.assertEqual(r.returncode, 0, r.stderr)
        got, envelope = recorded_with_envelope(a)
        self.assertEqual(got, WIRE)
        self.assertEqual(envelope.split("\n")[0], f"MAIL <s@example.org> SIZE={len(WIRE)}")

    def test_recipient_limit_follow_up_reads_stdin_again(self):
        for name in ("stdin file", "stdin pipe"):
            with self.subTest(name):
                rcpts = [mailbox("stdinmany") for _ in range(3)]
                how = ({"stdin_file": self.open_file(MESSAGE)} if name == "stdin file"
                       else {"stdin": MESSAGE})
                args = ["--server", self.server("POSTFIX_RCPTLIMIT_PORT"), "--from",
                        "s@example.org"]
                for r in rcpts:
                    args += ["--to", r]
                res = send(*args, **how)
                self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
                lines = res.stdout.decode().splitlines()
                self.assertEqual([line.split(" ")[:3] for line in lines],
                                 [[f"{r}:", "ok", "250"] for r in rcpts], lines)
                for r in rcpts:
                    self.assertIn("\n.dot line\nbody\n", postfix_delivered(r))

    def test_8bit_stdin_without_8bitmime_is_refused_before_mail(self):
        a = mailbox("no8bit")
        r = send("--server", self.server("AIOSMTPD_NO8BIT_PORT"), "--from", "s@example.org",
                 "--to", a, "--trace", stdin=b"Subject: x\n\nGr\xc3\xbc\xc3\x9fe\n")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertEqual(r.stdout.decode(), f"{a}: permfail 0 the body has 8-bit bytes and the "
                         "server does not offer 8BITMIME\n")
        self.assertNotIn("C: MAIL", r.stderr.decode())

    def test_permanent_failure_exits_69(self):
        a, bad = mailbox("fine"), mailbox("reject")
        r = send("--server", self.server("POSTFIX_PORT"), "--from", "s@example.org",
                 "--to", a, "--to", bad, "--message", self.message_file())
        self.assertEqual(r.returncode, 69, r.stderr)
        out = r.stdout.decode()
        self.assertIn(f"{a}: ok 250 2.0.0", out)
        self.assertIn(f"{bad}: permfail 550 5.1.1", out)

    def test_temporary_failure_exits_75(self):
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", mailbox("tempfail"), "--message", self.message_file())
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(": tempfail 450", r.stdout.decode())

    def test_421_exits_75_with_server_text(self):
        r = send("--server", self.server("SINK_421_PORT"), "--from", "s@example.org",
                 "--to", "x@example.org", "--message", self.message_file())
        self.assertEqual(r.returncode, 75)
        self.assertIn("421", r.stderr.decode())
        self.assertIn("x@example.org: tempfail 421", r.stdout.decode())

    def test_outcome_unknown_exits_75(self):
        r = send("--server", self.server("SINK_DROP_PORT"), "--from", "s@example.org",
                 "--to", "x@example.org", "--message", self.message_file())
        self.assertEqual(r.returncode, 75)
        self.assertIn("x@example.org: unknown", r.stdout.decode())

    def test_trace_shows_the_dialogue(self):
        a = mailbox("trace")
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", a, "--message", self.message_file(), "--trace")
        self.assertEqual(r.returncode, 0)
        err = r.stderr.decode()
        for expected in ("S: 220 ", "C: EHLO ", "S: 250-PIPELINING", "C: MAIL FROM:<s@example.org>",
                         f"C: RCPT TO:<{a}>", "C: DATA", "S: 354", "C: .", "C: QUIT"):
            self.assertIn(expected, err)
        self.assertNotIn("body", err.replace("(message body", ""))

    def test_ipv6_server(self):
        r = send("--server", f"[::1]:{ENV['SINK6_PORT']}", "--from", "s@example.org",
                 "--to", "x@example.org", "--message", self.message_file())
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_timeout_applies(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self.addCleanup(listener.close)
        start = time.monotonic()
        r = send("--server", f"127.0.0.1:{listener.getsockname()[1]}", "--from", "s@example.org",
                 "--to", "x@example.org", "--message", self.message_file(), "--timeout", "1")
        self.assertEqual(r.returncode, 75)
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn("greeting", r.stderr.decode())

    def test_usage_errors_exit_64(self):
        self.assertEqual(send("--from", "a@b", "--to", "c@d").returncode, 64)
        self.assertEqual(send("--server", "x", "--from", "a@b").returncode, 64)
        r = send("--server", "x", "--from", "a@b", "--to", "c@d\r\nRSET")
        self.assertEqual(r.returncode, 64)

    def test_unreadable_message_exits_66(self):
        r = send("--server", self.server("AIOSMTPD_PORT"), "--from", "s@example.org",
                 "--to", "x@example.org", "--message", "/nonexistent/message")
        self.assertEqual(r.returncode, 66)


class TlsAndAuth(unittest.TestCase):
    """--tls, --cafile, --user with the password and token sources, --auth,
    --show-secrets, --provider; exit codes of TLS and AUTH failures."""

    USER = ENV["SASL_USER"]
    PASSWORD = ENV["SASL_PASSWORD"]
    TOKEN = ENV["OAUTH_TOKEN"]

    def file(self, data):
        f = tempfile.NamedTemporaryFile(delete=False)
        f.write(data if isinstance(data, bytes) else data.encode())
        f.close()
        self.addCleanup(os.unlink, f.name)
        return f.name

    def message_file(self):
        return self.file(MESSAGE)

    def password_file(self, password=None):
        # CRLF: the tool strips it
        return self.file(f"{self.PASSWORD if password is None else password}\r\nignored\n")

    def submission(self, rcpt, *args, tls=None, env=None):
        """Sends to Postfix submission (STARTTLS required, then AUTH)."""
        return send("--server", f"127.0.0.1:{ENV['POSTFIX_SUBMISSION_PORT']}",
                    "--cafile", ENV["TLS_CA_FILE"], "--from", "s@example.org", "--to", rcpt,
                    "--message", self.message_file(), *args, tls=tls, env=env)

    def oauth(self, rcpt, *args, stdin=None):
        """Sends to the recorder's AUTH port with XOAUTH2."""
        msg = [] if stdin is not None else ["--message", self.message_file()]
        return send("--server", f"127.0.0.1:{ENV['AIOSMTPD_AUTH_PORT']}",
                    "--cafile", ENV["TLS_CA_FILE"], "--from", "s@example.org", "--to", rcpt,
                    "--user", self.USER, "--auth", "XOAUTH2", *msg, *args, tls=None,
                    stdin=stdin)

    # ------------------------------------------------------------- TLS

    def test_starttls_with_cafile(self):
        a = mailbox("starttls")
        r = send("--server", f"localhost:{ENV['AIOSMTPD_TLS_PORT']}", "--cafile",
                 ENV["TLS_CA_FILE"], "--from", "s@example.org", "--to", a,
                 "--message", self.message_file(), tls=None)  # the default: STARTTLS required
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recorded(a), WIRE)
        session = session_record(a)
        self.assertIn("LISTENER tls\n", session)
        self.assertIn("TLS TLSv1.", session)

    def test_implicit_tls(self):
        a = mailbox("smtps")
        r = send("--server", f"localhost:{ENV['AIOSMTPD_SMTPS_PORT']}", "--cafile",
                 ENV["TLS_CA_FILE"], "--from", "s@example.org", "--to", a,
                 "--message", self.message_file(), tls="implicit")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recorded(a), WIRE)
        session = session_record(a)
        self.assertIn("LISTENER smtps\n", session)
        self.assertIn("TLS TLSv1.", session)

    def test_bad_certificates_exit_75(self):
        for key, why in (("POSTFIX_TLS_EXPIRED_PORT", "expired"),
                         ("POSTFIX_TLS_WRONGHOST_PORT", "hostname mismatch"),
                         ("POSTFIX_TLS_SELFSIGNED_PORT", "self-signed")):
            with self.subTest(key):
                a = mailbox("cert")
                r = send("--server", f"localhost:{ENV[key]}", "--cafile", ENV["TLS_CA_FILE"],
                         "--from", "s@example.org", "--to", a, "--message",
                         self.message_file(), tls="starttls")
                self.assertEqual(r.returncode, 75, r.stderr)
                self.assertIn(why, r.stderr.decode())
                self.assertIn(f"{a}: tempfail 0", r.stdout.decode())

    def test_implicit_tls_on_a_starttls_port_exits_75(self):
        r = send("--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", "s@example.org",
                 "--to", mailbox("mode"), "--message", self.message_file(), tls="implicit")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("STARTTLS", r.stderr.decode())
        self.assertIn("--tls starttls", r.stderr.decode())

    def test_starttls_not_offered_exits_75(self):
        r = send("--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", "s@example.org",
                 "--to", mailbox("notls"), "--message", self.message_file(), tls="starttls")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("does not offer STARTTLS", r.stderr.decode())

    # ------------------------------------------------------ passwords

    def test_password_file_and_the_trace_hides_it(self):
        b64_password = base64.b64encode(self.PASSWORD.encode()).decode()
        plain = base64.b64encode(f"\0{self.USER}\0{self.PASSWORD}".encode()).decode()
        for mech in ("PLAIN", "LOGIN"):
            with self.subTest(mech):
                a = mailbox("auth")
                r = self.submission(a, "--user", self.USER, "--password-file",
                                    self.password_file(), "--auth", mech, "--trace")
                self.assertEqual(r.returncode, 0, r.stderr)
                err = r.stderr.decode()
                self.assertIn(f"C: AUTH {mech}", err)
                self.assertIn("<redacted>", err)
                self.assertIn("S: 235 ", err)
                for secret in (self.PASSWORD, b64_password, plain):
                    self.assertNotIn(secret, err)
                self.assertIn(f"(Authenticated sender: {self.USER})", postfix_delivered(a))

    def test_show_secrets_shows_the_auth_line(self):
        plain = base64.b64encode(f"\0{self.USER}\0{self.PASSWORD}".encode()).decode()
        r = self.submission(mailbox("secrets"), "--user", self.USER, "--password-file",
                            self.password_file(), "--auth", "PLAIN", "--trace",
                            "--show-secrets")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"C: AUTH PLAIN {plain}\n", r.stderr.decode())
        self.assertNotIn("<redacted>", r.stderr.decode())

    def test_password_env(self):
        a = mailbox("env")
        r = self.submission(a, "--user", self.USER, "--password-env", "ESMTP_CLI_TEST_PW",
                            env={"ESMTP_CLI_TEST_PW": self.PASSWORD})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"(Authenticated sender: {self.USER})", postfix_delivered(a))

    def test_wrong_password_exits_69(self):
        a = mailbox("wrongpw")
        r = self.submission(a, "--user", self.USER, "--password-file",
                            self.password_file("not-the-password"))
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(f"{a}: permfail 535", r.stdout.decode())
        self.assertIn("535", r.stderr.decode())

    def test_scram_sha_256(self):
        a = mailbox("scram")
        r = self.submission(a, "--user", self.USER, "--password-file", self.password_file(),
                            "--auth", "SCRAM-SHA-256", "--trace")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("C: AUTH SCRAM-SHA-256", r.stderr.decode())
        self.assertNotIn(self.PASSWORD, r.stderr.decode())
        self.assertIn(f"(Authenticated sender: {self.USER})", postfix_delivered(a))

    def test_no_auth_offered_exits_75(self):
        # Postfix offers AUTH only after STARTTLS (ESMTP_ENOMECH)
        r = self.submission(mailbox("noauth"), "--user", self.USER, "--password-file",
                            self.password_file(), tls="none")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("does not offer AUTH", r.stderr.decode())

    def test_no_usable_mechanism_exits_75(self):
        # XOAUTH2 needs a token, and only a password was given (ESMTP_ENOMECH)
        r = send("--server", f"127.0.0.1:{ENV['AIOSMTPD_AUTH_PORT']}", "--cafile",
                 ENV["TLS_CA_FILE"], "--from", "s@example.org", "--to", mailbox("nomech"),
                 "--message", self.message_file(), "--user", self.USER, "--password-file",
                 self.password_file(), "--auth", "XOAUTH2", tls=None)
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("no usable authentication mechanism", r.stderr.decode())

    # ---------------------------------------------------------- tokens

    def test_oauth_token_file(self):
        a = mailbox("tokfile")
        r = self.oauth(a, "--oauth-token-file", self.file(self.TOKEN + "\n"), "--trace")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("C: AUTH XOAUTH2 <redacted>", r.stderr.decode())
        self.assertNotIn(self.TOKEN, r.stderr.decode())
        self.assertIn(f"AUTH XOAUTH2 {self.USER}\n", session_record(a))

    def test_oauth_token_cmd(self):
        a = mailbox("tokcmd")
        token = self.file(self.TOKEN + "\n")
        r = self.oauth(a, "--oauth-token-cmd", f"cat '{token}'; echo second line")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"AUTH XOAUTH2 {self.USER}\n", session_record(a))

    def test_oauth_token_cmd_does_not_read_the_message(self):
        # the message comes from standard input: the command gets /dev/null
        a = mailbox("tokstdin")
        token = self.file(self.TOKEN + "\n")
        r = self.oauth(a, "--oauth-token-cmd", f"cat >/dev/null; cat '{token}'", stdin=MESSAGE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recorded(a), WIRE)

    def test_oauth_token_cmd_failing_exits_75(self):
        a = mailbox("tokfail")
        r = self.oauth(a, "--oauth-token-cmd", "echo ya29.whatever; exit 3")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("--oauth-token-cmd exited with status 3", r.stderr.decode())
        self.assertIn(f"{a}: tempfail 0", r.stdout.decode())

    def test_wrong_token_exits_69(self):
        a = mailbox("badtoken")
        r = self.oauth(a, "--oauth-token-cmd", "echo ya29.wrong")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(f"{a}: permfail 535", r.stdout.decode())

    # ------------------------------------------------ usage and input

    def test_credential_usage_errors_exit_64(self):
        server = f"127.0.0.1:{ENV['AIOSMTPD_PORT']}"
        base = ["--server", server, "--from", "s@example.org", "--to", "x@example.org",
                "--message", self.message_file()]
        pw = self.password_file()
        cases = {
            "both password sources": ["--user", self.USER, "--password-file", pw,
                                      "--password-env", "HOME"],
            "password without user": ["--password-file", pw],
            "password env without user": ["--password-env", "HOME"],
            "token without user": ["--oauth-token-file", pw],
            "both token sources": ["--user", self.USER, "--oauth-token-file", pw,
                                   "--oauth-token-cmd", "true"],
            "unset variable": ["--user", self.USER, "--password-env",
                               "ESMTP_CLI_TEST_SURELY_UNSET"],
            "bad mechanism list": ["--auth", "PLAIN,,LOGIN"],
            "unknown provider": ["--provider", "nosuch"],
            "no password option": ["--password", "secret"],
        }
        for name, extra in cases.items():
            with self.subTest(name):
                r = send(*base, *extra)
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertEqual(r.stdout, b"")

    def test_unreadable_secret_files_exit_66(self):
        base = ["--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", "s@example.org",
                "--to", "x@example.org", "--message", self.message_file(), "--user", self.USER]
        for extra in (["--password-file", "/nonexistent/password"],
                      ["--password-file", tempfile.gettempdir()],
                      ["--password-file", self.file(b"\n")],
                      ["--oauth-token-file", "/nonexistent/token"]):
            with self.subTest(extra):
                r = send(*base, *extra)
                self.assertEqual(r.returncode, 66, r.stderr)
                self.assertEqual(r.stdout, b"")

    # ------------------------------------------------------- providers

    def test_provider_with_explicit_overrides(self):
        # qq means smtp.qq.com:465 with implicit TLS: the explicit options win
        a = mailbox("provider")
        r = send("--provider", "qq", "--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}",
                 "--from", "s@example.org", "--to", a, "--message", self.message_file(),
                 tls="none")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(recorded(a), WIRE)

    def test_provider_tls_mode_applies_without_tls(self):
        # no --tls: qq's implicit TLS stays, and the plain port is diagnosed
        r = send("--provider", "qq", "--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}",
                 "--from", "s@example.org", "--to", mailbox("provtls"),
                 "--message", self.message_file(), tls=None)
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("STARTTLS", r.stderr.decode())

    def test_provider_makes_server_optional(self):
        # no network: stops at the missing --from, not at a missing --server
        r = send("--provider", "gmail", "--to", "x@example.org", tls=None)
        self.assertEqual(r.returncode, 64)
        self.assertIn("--from is required", r.stderr.decode())
        self.assertNotIn("--server", r.stderr.decode().splitlines()[0])

    def test_help_covers_auth(self):
        r = send("--help", tls=None)
        self.assertEqual(r.returncode, 0)
        out = r.stdout.decode()
        for expected in ("--user", "--password-file", "--password-env", "--oauth-token-file",
                         "--oauth-token-cmd", "--auth", "--allow-plaintext-auth", "--provider",
                         "--show-secrets", "base64", "465", "587", "authorisation code",
                         "app password"):
            self.assertIn(expected, out)


class BuiltMessages(unittest.TestCase):
    """--subject, --text, --html, --attach, --inline, --cc, --bcc, --header:
    esmtp-send builds the message with the MIME builder. The results are
    parsed back with Python's email package."""

    SENDER = "s@example.org"
    SUBJECT = "季度报告 📊"
    # a leading dot (dot-stuffing), non-ASCII text, LF line ends
    TEXT = "Hello 你好 👋\n.a line with a leading dot\n\nLast line: Grüße\n"
    CID = "logo@esmtp.test"  # the builder wants LEFT@RIGHT (mime.h)
    HTML = ("<html><body><p>报告 <b>Q3</b></p>\n"
            f'<img src="cid:{CID}" alt="logo"></body></html>\n')
    CSV_NAME = "数据 2026.csv"
    # text/csv is a text type: sent in canonical form (CRLF), so the file
    # has CRLF line ends to come back byte for byte
    CSV = "名称,值\r\nalpha,1\r\nbeta,2\r\n".encode()
    PDF = b"%PDF-1.4\n" + os.urandom(50000) + b"\n%%EOF\n"
    PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(self.remove_dir)
        self.text = self.file("t.txt", self.TEXT.encode())
        self.html = self.file("h.html", self.HTML.encode())
        self.pdf = self.file("report.pdf", self.PDF)
        self.csv = self.file(self.CSV_NAME, self.CSV)
        self.png = self.file("logo.png", self.PNG)

    def remove_dir(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def file(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def send_built(self, port_key, to, cc, bcc, *extra):
        return send("--server", f"127.0.0.1:{ENV[port_key]}", "--from", self.SENDER,
                    "--to", to, "--subject", self.SUBJECT, "--text", self.text,
                    "--html", self.html, "--attach", self.pdf, "--attach", self.csv,
                    "--inline", f"{self.CID}={self.png}", "--cc", cc, "--bcc", bcc,
                    "--header", "X-Campaign: q3", *extra)

    def check_built(self, data, to, cc, crlf=True):
        """Checks a built message as received (crlf) or as Postfix stored it
        (LF line ends: the text parts are compared after normalising)."""
        def norm(b):
            return b if crlf else b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(msg["Subject"], self.SUBJECT)
        self.assertEqual([a.addr_spec for a in msg["From"].addresses], [self.SENDER])
        self.assertEqual([a.addr_spec for a in msg["To"].addresses], [to])
        self.assertEqual([a.addr_spec for a in msg["Cc"].addresses], [cc])
        self.assertEqual(msg["X-Campaign"], "q3")
        self.assertIsNotNone(msg["Date"])
        self.assertIsNotNone(msg["Message-ID"])
        self.assertEqual(msg["MIME-Version"], "1.0")
        for part in msg.walk():
            self.assertIsNone(part["Bcc"])
        self.assertFalse(msg.defects, msg.defects)

        # mixed( related( alternative(text, html), inline ), pdf, csv )
        self.assertEqual(msg.get_content_type(), "multipart/mixed")
        kids = list(msg.iter_parts())
        self.assertEqual([k.get_content_type() for k in kids],
                         ["multipart/related", "application/pdf", "text/csv"])
        related = kids[0]
        rel_kids = list(related.iter_parts())
        self.assertEqual([k.get_content_type() for k in rel_kids],
                         ["multipart/alternative", "image/png"])
        alt_kids = list(rel_kids[0].iter_parts())
        self.assertEqual([k.get_content_type() for k in alt_kids], ["text/plain", "text/html"])

        text, html = alt_kids
        self.assertEqual(text.get_content().replace("\r\n", "\n"), self.TEXT)
        self.assertEqual(html.get_content().replace("\r\n", "\n"), self.HTML)

        inline = rel_kids[1]
        self.assertEqual(inline["Content-ID"], f"<{self.CID}>")
        self.assertEqual(inline.get_content_disposition(), "inline")
        self.assertEqual(inline.get_payload(decode=True), self.PNG)

        pdf, csv = kids[1:]
        self.assertEqual(pdf.get_content_disposition(), "attachment")
        self.assertEqual(pdf.get_filename(), "report.pdf")
        self.assertEqual(pdf.get_payload(decode=True), self.PDF)
        self.assertEqual(csv.get_content_disposition(), "attachment")
        self.assertEqual(csv.get_filename(), self.CSV_NAME)
        self.assertEqual(norm(csv.get_payload(decode=True)), self.CSV)
        return msg

    def test_builds_a_full_message(self):
        to, cc, bcc = mailbox("to"), mailbox("cc"), mailbox("hidden")
        r = self.send_built("AIOSMTPD_PORT", to, cc, bcc)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.decode().splitlines()
        self.assertEqual([line.split(":")[0] for line in lines], [to, cc, bcc])
        data, envelope = recorded_with_envelope(to)
        self.assertIsNotNone(data)
        # the envelope as given: no recipient added, none left out
        self.assertEqual(envelope.split("\n")[1:],
                         [f"RCPT <{to}>", f"RCPT <{cc}>", f"RCPT <{bcc}>", ""])
        self.assertTrue(envelope.startswith(f"MAIL <{self.SENDER}> SIZE={len(data)} "
                                            "BODY=8BITMIME\n"), envelope)
        self.assertNotIn(bcc.encode(), data)
        self.assertNotIn(b"\nBcc:", data.replace(b"\r\n", b"\n"))
        self.check_built(data, to, cc)
        # non-ASCII is encoded in the header fields, which stay ASCII
        head = data.split(b"\r\n\r\n", 1)[0]
        self.assertTrue(head.isascii(), head)

    def test_delivered_by_postfix(self):
        to, cc, bcc = mailbox("pto"), mailbox("pcc"), mailbox("phidden")
        r = self.send_built("POSTFIX_PORT", to, cc, bcc)
        self.assertEqual(r.returncode, 0, r.stderr)
        for rcpt in (to, cc, bcc):
            data = postfix_delivered_bytes(rcpt)
            self.assertIsNotNone(data, rcpt)
            self.assertNotIn(b"\r\n", data)  # Maildir: LF line ends
            msg = self.check_built(data, to, cc, crlf=False)
            self.assertIn(rcpt, msg["Delivered-To"])
            if rcpt != bcc:
                self.assertNotIn(bcc.encode(), data)

    def test_subject_only_does_not_read_stdin(self):
        a = mailbox("subjonly")
        r = send("--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", self.SENDER,
                 "--to", a, "--subject", "Ümlaut only", stdin=MESSAGE)
        self.assertEqual(r.returncode, 0, r.stderr)
        msg = email.message_from_bytes(recorded(a), policy=email.policy.default)
        self.assertEqual(msg["Subject"], "Ümlaut only")
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg.get_content(), "")

    def test_usage_errors_exit_64(self):
        base = ["--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", self.SENDER,
                "--to", "x@example.org"]
        msg_file = self.file("m.eml", MESSAGE)
        cases = {
            "--message with --subject": (["--message", msg_file, "--subject", "x"],
                                         "--message"),
            "--message - with --attach": (["--message", "-", "--attach", self.pdf],
                                          "--message"),
            "--cc without a built message": (["--message", msg_file, "--cc", "c@example.org"],
                                             "--cc"),
            "--header without a built message": (["--header", "X-A: b"], "--header"),
            "null sender in From": (["--from", "", "--subject", "x"], "From"),
            "CID without @": (["--inline", f"logo={self.png}"], "--inline"),
            "--inline without =": (["--inline", self.png], "--inline"),
            "header without colon": (["--subject", "x", "--header", "X-A b"], "--header"),
            "header the builder writes": (["--subject", "x", "--header", "Bcc: y@example.org"],
                                          "--header"),
            "header injection": (["--subject", "x", "--header", "X-A: a\r\nBcc: y@example.org"],
                                 "--header"),
            "bad --cc": (["--subject", "x", "--cc", "not an address"], "--cc"),
            "control character in subject": (["--subject", "a\nBcc: y@example.org"],
                                             "--subject"),
            "--subject twice": (["--subject", "a", "--subject", "b"], "--subject"),
        }
        for name, (extra, said) in cases.items():
            with self.subTest(name):
                r = send(*base, *extra, stdin=b"")
                self.assertEqual(r.returncode, 64, r.stderr)
                self.assertEqual(r.stdout, b"")
                self.assertIn(said, r.stderr.decode().splitlines()[0])

    def test_unreadable_files_exit_66(self):
        base = ["--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", self.SENDER,
                "--to", mailbox("nofile"), "--subject", "x"]
        for extra in (["--attach", "/nonexistent/report.pdf"],
                      ["--attach", self.pdf, "--attach", self.dir],
                      ["--inline", f"{self.CID}=/nonexistent/logo.png"],
                      ["--text", "/nonexistent/t.txt"],
                      ["--html", self.dir]):
            with self.subTest(extra):
                r = send(*base, *extra)
                self.assertEqual(r.returncode, 66, r.stderr)
                self.assertEqual(r.stdout, b"")
                self.assertIn("cannot", r.stderr.decode())

    def test_text_that_is_not_utf8_exits_65(self):
        r = send("--server", f"127.0.0.1:{ENV['AIOSMTPD_PORT']}", "--from", self.SENDER,
                 "--to", mailbox("latin1"), "--text", self.file("l1.txt", "Grüße\n".encode(
                     "latin-1")))
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn("not valid UTF-8", r.stderr.decode())

    def test_help_covers_building(self):
        r = send("--help", tls=None)
        self.assertEqual(r.returncode, 0)
        out = r.stdout.decode()
        for expected in ("--subject", "--text", "--html", "--attach", "--inline CID=FILE",
                         "--cc", "--bcc", "--header", "cid:"):
            self.assertIn(expected, out)


class PollExample(unittest.TestCase):
    def test_two_sessions_from_one_loop(self):
        a = mailbox("poll")
        r = subprocess.run([POLL, f"127.0.0.1:{ENV['AIOSMTPD_PORT']}",
                            f"127.0.0.1:{ENV['SINK_PORT']}", "s@example.org", a, "plain"],
                           capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIsNotNone(recorded(a))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
