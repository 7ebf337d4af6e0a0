#!/usr/bin/python3
"""Tests of the command-line tools against the real test servers: esmtp-send
(results, exit codes, transcript, input sources) and the poll() example.

Usage: test_cli.py ESMTP_SEND POLL_TWO_SESSIONS   (ESMTP_TEST_ENV names the
servers' env file, as for the C integration tests).
SPDX-License-Identifier: MIT
"""
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
    sys.exit(f"the test servers are not running (no {ENV_PATH}); see tests/servers/README.md")

MESSAGE = b"Subject: cli\nFrom: s@example.org\n\n.dot line\nbody\n"
WIRE = MESSAGE.replace(b"\n", b"\r\n")
_counter = 0


def mailbox(prefix):
    global _counter
    _counter += 1
    return f"{prefix}-cli-{os.getpid()}-{_counter}@example.org"


def recorded(rcpt, timeout=10.0):
    """The exact bytes aiosmtpd recorded for rcpt, or None."""
    folder = ENV["AIOSMTPD_DIR"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir(folder):
            if name.endswith(".env"):
                with open(os.path.join(folder, name)) as f:
                    if f"RCPT <{rcpt}>" in f.read().split("\n"):
                        with open(os.path.join(folder, name[:-4] + ".eml"), "rb") as e:
                            return e.read()
        time.sleep(0.05)
    return None


def send(*args, stdin=None, tls="none"):
    return subprocess.run([SEND, "--tls", tls, *args], input=stdin, capture_output=True,
                          timeout=60)


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
