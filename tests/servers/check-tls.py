#!/usr/bin/python3
"""Checks the TLS and AUTH test servers that ctl.sh started:

    tests/servers/check-tls.py STATE_DIR/env

Certificates (good, wrong host, expired, self-signed, pins), the Postfix
submission/smtps/client-certificate listeners (PLAIN, LOGIN, SCRAM-SHA-1,
SCRAM-SHA-256, each delivered to the Maildir), the recorder's AUTH listener
(PLAIN, LOGIN, XOAUTH2, OAUTHBEARER, EXTERNAL, SCRAM-SHA-256, -PLUS and the
failure flows) and the STARTTLS injection server.  It sends mail to
*@example.org, so run it on an instance that no test is using.  Prints one
line per check and "N passed, N failed"; exits 1 if any failed.
"""

import base64
import glob
import hashlib
import hmac
import json
import os
import smtplib
import socket
import ssl
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import authmech  # noqa: E402  (tls_exporter, for the client side of SCRAM-SHA-256-PLUS)

HOST = "127.0.0.1"
env = {}
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    passed, failed = passed + bool(ok), failed + (not ok)
    print(("PASS " if ok else "FAIL ") + name + (f"  [{detail}]" if detail else ""))


def port(key):
    return int(env[key])


def context(client_cert=False, hostname=True):
    ctx = ssl.create_default_context(cafile=env["TLS_CA_FILE"])
    ctx.check_hostname = hostname
    if client_cert:
        ctx.load_cert_chain(env["TLS_CLIENT_CERT"], env["TLS_CLIENT_KEY"])
    return ctx


def connect(key, implicit=False, starttls=True, client_cert=False):
    if implicit:
        smtp = smtplib.SMTP_SSL(HOST, port(key), context=context(client_cert), timeout=10)
    else:
        smtp = smtplib.SMTP(HOST, port(key), timeout=10)
        if starttls:
            smtp.starttls(context=context(client_cert))
    smtp.ehlo("client.test")
    return smtp


def send(smtp, rcpt, subject):
    smtp.sendmail("sender@example.org", [rcpt],
                  f"From: sender@example.org\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nbody\r\n")


def delivered(rcpt, timeout=5.0):
    local, domain = rcpt.lower().split("@")
    pattern = os.path.join(env["POSTFIX_MAILDIR"], domain, local, "new", "*")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for name in glob.glob(pattern):
            with open(name, encoding="utf-8", errors="replace") as f:
                return f.read()
        time.sleep(0.05)
    return None


def spki_pin(der):
    """base64 SHA-256 of the SubjectPublicKeyInfo in a DER certificate."""
    def items(data):
        out, i = [], 0
        while i < len(data):
            length, j = data[i + 1], i + 2
            if length & 0x80:
                n = length & 0x7F
                length, j = int.from_bytes(data[j:j + n], "big"), j + n
            out.append((data[i:j + length], data[j:j + length]))
            i = j + length
        return out
    tbs = items(items(items(der)[0][1])[0][1])
    return base64.b64encode(hashlib.sha256(tbs[6][0]).digest()).decode()  # [0] is the version


class Scram:
    """Client side of SCRAM-SHA-1/-256 (-PLUS with smtp given), as an smtplib authobject."""

    def __init__(self, user, password, digest, cbflag="n", smtp=None, spoil_binding=False):
        self.user, self.password, self.digest = user, password, digest
        self.cbflag, self.smtp, self.spoil_binding = cbflag, smtp, spoil_binding
        self.step, self.server_verified = 0, False

    def __call__(self, challenge=None):
        self.step += 1
        if self.step == 1:
            self.nonce = base64.b64encode(os.urandom(18)).decode()
            self.gs2 = f"{self.cbflag},,"
            self.bare = f"n={self.user.replace('=', '=3D').replace(',', '=2C')},r={self.nonce}"
            return self.gs2 + self.bare
        if self.step == 2:
            server_first = challenge.decode()
            attrs = dict(a.split("=", 1) for a in server_first.split(","))
            salted = hashlib.pbkdf2_hmac(self.digest, self.password.encode(),
                                         base64.b64decode(attrs["s"]), int(attrs["i"]))
            client_key = hmac.digest(salted, b"Client Key", self.digest)
            stored_key = hashlib.new(self.digest, client_key).digest()
            cbind = b""
            if self.cbflag.startswith("p="):
                cbind = authmech.tls_exporter(self.smtp.sock)
                if self.spoil_binding:
                    cbind = bytes(32)
            channel = base64.b64encode(self.gs2.encode() + cbind).decode()
            without_proof = f"c={channel},r={attrs['r']}"
            self.auth_message = f"{self.bare},{server_first},{without_proof}".encode()
            signature = hmac.digest(stored_key, self.auth_message, self.digest)
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            self.server_key = hmac.digest(salted, b"Server Key", self.digest)
            return f"{without_proof},p={base64.b64encode(proof).decode()}"
        expected = hmac.digest(self.server_key, self.auth_message, self.digest)
        self.server_verified = challenge.decode() == "v=" + base64.b64encode(expected).decode()
        return ""


def auth_and_send(name, key, mech, authobject, rcpt, *, implicit=False, client_cert=False,
                  initial=True, postfix=False):
    try:
        smtp = connect(key, implicit=implicit, client_cert=client_cert)
        code, text = smtp.auth(mech, authobject, initial_response_ok=initial)
        send(smtp, rcpt, name)
        smtp.quit()
        ok = code == 235 and (not isinstance(authobject, Scram) or authobject.server_verified)
        if postfix:
            mail = delivered(rcpt)
            ok = ok and mail is not None and f"Authenticated sender: {env['SASL_USER']}" in mail
        check(name, ok, f"{code} {text.decode()}")
    except (smtplib.SMTPException, OSError) as error:
        check(name, False, repr(error))


def auth_fails(name, key, mech, authobject, want=535, client_cert=False):
    try:
        smtp = connect(key, client_cert=client_cert)
        smtp.auth(mech, authobject)
        check(name, False, "AUTH succeeded")
    except smtplib.SMTPAuthenticationError as error:
        check(name, error.smtp_code == want, f"{error.smtp_code} {error.smtp_error.decode()}")
    except (smtplib.SMTPException, OSError) as error:
        check(name, False, repr(error))


def fixed(*answers):
    queue = list(answers)
    return lambda challenge=None: queue.pop(0)


def check_certificates():
    for key, implicit in (("AIOSMTPD_TLS_PORT", False), ("AIOSMTPD_SMTPS_PORT", True),
                          ("AIOSMTPD_AUTH_PORT", False), ("POSTFIX_STARTTLS_PORT", False),
                          ("POSTFIX_SUBMISSION_PORT", False), ("POSTFIX_SMTPS_PORT", True),
                          ("POSTFIX_CLIENTCERT_PORT", False), ("INJECT_PORT", False)):
        try:
            if key == "INJECT_PORT":
                smtp = smtplib.SMTP(HOST, port(key), timeout=10)
                smtp.ehlo("client.test")
                smtp.sock.sendall(b"STARTTLS\r\n")
                reply = b""
                while reply.count(b"\n") < 2:            # the 220 and the injected 250
                    reply += smtp.sock.recv(1024)
                smtp.sock = context().wrap_socket(smtp.sock, server_hostname=HOST)
            else:
                smtp = connect(key, implicit=implicit)
            pin = spki_pin(smtp.sock.getpeercert(binary_form=True))
            smtp.close()
            check(f"{key}: verifies as {HOST}, pin", pin == env["TLS_SERVER_PIN_SHA256"])
        except (smtplib.SMTPException, OSError) as error:
            check(f"{key}: verifies as {HOST}, pin", False, repr(error))
    # X509_V_ERR_IP_ADDRESS_MISMATCH, _CERT_HAS_EXPIRED, _DEPTH_ZERO_SELF_SIGNED_CERT
    for key, verify_code in (("POSTFIX_TLS_WRONGHOST_PORT", 64), ("POSTFIX_TLS_EXPIRED_PORT", 10),
                             ("POSTFIX_TLS_SELFSIGNED_PORT", 18)):
        try:
            connect(key).close()
            check(f"{key}: verification fails", False, "it did not")
        except ssl.SSLCertVerificationError as error:
            check(f"{key}: verification fails", error.verify_code == verify_code, error.verify_message)
    smtp = smtplib.SMTP(HOST, port("POSTFIX_TLS_SELFSIGNED_PORT"), timeout=10)
    smtp.starttls(context=ssl._create_unverified_context())
    pin = spki_pin(smtp.sock.getpeercert(binary_form=True))
    smtp.close()
    check("POSTFIX_TLS_SELFSIGNED_PORT: pin", pin == env["TLS_SELFSIGNED_PIN_SHA256"])


def check_postfix():
    user, password = env["SASL_USER"], env["SASL_PASSWORD"]
    for key, implicit in (("POSTFIX_SUBMISSION_PORT", False), ("POSTFIX_SMTPS_PORT", True)):
        tag = key.split("_")[1].lower()
        for mech, authobject in (("PLAIN", fixed(f"\0{user}\0{password}")),
                                 ("LOGIN", fixed(user, password)),
                                 ("SCRAM-SHA-1", Scram(user, password, "sha1")),
                                 ("SCRAM-SHA-256", Scram(user, password, "sha256"))):
            auth_and_send(f"{key} {mech}, delivered", key, mech, authobject,
                          f"check-{tag}-{mech.lower()}@example.org", implicit=implicit,
                          initial=mech != "LOGIN", postfix=True)
    auth_fails("POSTFIX_SUBMISSION_PORT PLAIN, wrong password", "POSTFIX_SUBMISSION_PORT", "PLAIN",
               fixed(f"\0{user}\0wrong"))
    auth_fails("POSTFIX_SUBMISSION_PORT SCRAM-SHA-256, wrong password", "POSTFIX_SUBMISSION_PORT",
               "SCRAM-SHA-256", Scram(user, "wrong", "sha256"))
    smtp = connect("POSTFIX_SUBMISSION_PORT")
    smtp.mail("sender@example.org")
    code, text = smtp.rcpt("check-noauth@example.org")
    smtp.quit()
    check("POSTFIX_SUBMISSION_PORT: RCPT without AUTH refused", code == 554, f"{code} {text.decode()}")
    smtp = connect("POSTFIX_SUBMISSION_PORT", starttls=False)
    code, text = smtp.mail("sender@example.org")
    smtp.quit()
    check("POSTFIX_SUBMISSION_PORT: MAIL before STARTTLS refused", code == 530, f"{code} {text.decode()}")
    for with_cert in (True, False):
        smtp = connect("POSTFIX_CLIENTCERT_PORT", client_cert=with_cert)
        smtp.mail("sender@example.org")
        code, text = smtp.rcpt(f"check-clientcert-{with_cert}@example.org".lower())
        smtp.quit()
        check(f"POSTFIX_CLIENTCERT_PORT: RCPT with client cert={with_cert}",
              code == (250 if with_cert else 554), f"{code} {text.decode()}")


def check_recorder_auth():
    key = "AIOSMTPD_AUTH_PORT"
    user, password, token = env["SASL_USER"], env["SASL_PASSWORD"], env["OAUTH_TOKEN"]

    def xoauth2(tok):
        return fixed(f"user={user}\x01auth=Bearer {tok}\x01\x01")

    def oauthbearer(tok, authzid=user):
        gs2 = f"n,a={authzid}," if authzid else "n,,"
        return fixed(f"{gs2}\x01host={HOST}\x01port={port(key)}\x01auth=Bearer {tok}\x01\x01")

    smtp = connect(key, starttls=False)
    check(f"{key}: no AUTH before STARTTLS", "auth" not in smtp.esmtp_features)
    smtp.quit()
    smtp = connect(key)
    mechs = set(smtp.esmtp_features.get("auth", "").split())
    code, text = smtp.mail("sender@example.org")
    smtp.quit()
    want = {"PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "EXTERNAL", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}
    check(f"{key}: mechanisms after STARTTLS", mechs == want, " ".join(sorted(mechs)))
    check(f"{key}: MAIL before AUTH refused", code == 530, f"{code} {text.decode()}")

    auth_and_send(f"{key} PLAIN", key, "PLAIN", fixed(f"\0{user}\0{password}"), "check-plain@example.org")
    auth_and_send(f"{key} LOGIN", key, "LOGIN", fixed(user, password), "check-login@example.org",
                  initial=False)
    auth_and_send(f"{key} XOAUTH2", key, "XOAUTH2", xoauth2(token), "check-xoauth2@example.org")
    auth_and_send(f"{key} XOAUTH2 after 334", key, "XOAUTH2", xoauth2(token), "check-xoauth2@example.org",
                  initial=False)
    auth_and_send(f"{key} OAUTHBEARER", key, "OAUTHBEARER", oauthbearer(token), "check-ob@example.org")
    auth_and_send(f"{key} OAUTHBEARER without a=", key, "OAUTHBEARER", oauthbearer(token, ""),
                  "check-ob@example.org")
    # smtplib sends an empty initial response as nothing: the empty answer goes after the 334
    auth_and_send(f"{key} EXTERNAL", key, "EXTERNAL", fixed("", ""), "check-external@example.org",
                  client_cert=True)
    auth_and_send(f"{key} SCRAM-SHA-256", key, "SCRAM-SHA-256", Scram(user, password, "sha256"),
                  "check-scram@example.org")
    smtp = connect(key)
    scram = Scram(user, password, "sha256", "p=tls-exporter", smtp)
    try:
        code, _ = smtp.auth("SCRAM-SHA-256-PLUS", scram)
        check(f"{key} SCRAM-SHA-256-PLUS (tls-exporter)", code == 235 and scram.server_verified)
        smtp.quit()
    except smtplib.SMTPException as error:
        check(f"{key} SCRAM-SHA-256-PLUS (tls-exporter)", False, repr(error))

    auth_fails(f"{key} PLAIN, wrong password", key, "PLAIN", fixed(f"\0{user}\0wrong"))
    auth_fails(f"{key} SCRAM-SHA-256, wrong password", key, "SCRAM-SHA-256", Scram(user, "wrong", "sha256"))
    auth_fails(f"{key} SCRAM-SHA-256 with y (downgrade)", key, "SCRAM-SHA-256",
               Scram(user, password, "sha256", "y"))
    smtp = connect(key)
    try:
        smtp.auth("SCRAM-SHA-256-PLUS", Scram(user, password, "sha256", "p=tls-exporter", smtp, True))
        check(f"{key} SCRAM-SHA-256-PLUS, wrong binding", False, "AUTH succeeded")
    except smtplib.SMTPAuthenticationError as error:
        check(f"{key} SCRAM-SHA-256-PLUS, wrong binding", error.smtp_code == 535)
    auth_fails(f"{key} EXTERNAL without a certificate", key, "EXTERNAL", fixed("", ""))
    auth_fails(f"{key} EXTERNAL for someone else", key, "EXTERNAL", fixed("other@mail.test"),
               client_cert=True)
    for mech, make, last in (("XOAUTH2", xoauth2, ""), ("OAUTHBEARER", oauthbearer, "\x01")):
        smtp = connect(key)
        code, text = smtp.docmd("AUTH", f"{mech} {base64.b64encode(make('bad')().encode()).decode()}")
        try:
            error = json.loads(base64.b64decode(text))
        except ValueError:
            error = None
        code2, text2 = smtp.docmd(base64.b64encode(last.encode()).decode())
        smtp.close()
        check(f"{key} {mech}, wrong token: 334 JSON, then 535", code == 334 and error and code2 == 535,
              f"{code} {error} / {code2}")


def check_inject():
    sock = socket.create_connection((HOST, port("INJECT_PORT")), timeout=10)
    sock.recv(1024)
    sock.sendall(b"EHLO client.test\r\n")
    time.sleep(0.1)
    sock.recv(1024)
    sock.sendall(b"STARTTLS\r\n")
    time.sleep(0.2)                               # both lines come in one write
    data = sock.recv(1024)
    sock.close()
    check("INJECT_PORT: 220 and 250 in one reply", data == b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n",
          repr(data))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        env.update(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    check_certificates()
    check_postfix()
    check_recorder_auth()
    check_inject()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
