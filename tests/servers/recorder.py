#!/usr/bin/python3
"""Byte-exact SMTP recorder for the esmtp integration tests.

Runs two aiosmtpd listeners in one process, sharing one record directory:
one advertises PIPELINING, the other does not and disconnects a client that
sends a command before reading the previous reply.  Both advertise SIZE and
8BITMIME.  For every accepted message it writes, into the record directory:

  ID.eml  the message exactly as received (dot-unstuffed, CRLF kept)
  ID.env  the envelope, written after ID.eml:
            MAIL <address> [params as received]
            RCPT <address> [params as received]   (one line per recipient)

Both files appear atomically (written to a temporary name, then renamed), so
a reader that sees ID.env can read ID.eml in full.

Test hooks: a recipient whose local part starts with "reject" gets a 550,
one starting with "tempfail" a 450; a message with the header line
"X-Test-Reject-Data: yes" gets a 554 and is not recorded.

With --cert/--key it also runs TLS listeners that record the same way:
--tls-port (STARTTLS), --smtps-port (implicit TLS) and --auth-port
(STARTTLS, then AUTH is required before MAIL: PLAIN, LOGIN and the mechanisms
in authmech.py).  For messages taken on these it also writes ID.session,
before ID.env:

  LISTENER tls|smtps|auth
  TLS <protocol> <cipher>           or: TLS none
  SNI <server name the client sent> or: SNI none
  CLIENTCERT <identity>             only if a verified client certificate came
  AUTH <mechanism> <user>           or: AUTH none

Listeners for the ESMTP extensions (extensions.py), recording the same way:
--ext-port (SMTPUTF8, DSN, CHUNKING/BDAT, BINARYMIME, DELIVERBY, MT-PRIORITY,
ENHANCEDSTATUSCODES, STARTTLS with --cert, then REQUIRETLS; writes
ID.session with LISTENER ext), --quirk-port (501 to any MAIL parameter),
--no8bit-port (PIPELINING and SIZE only) and --small-port (SIZE 1000,
CHUNKING, ENHANCEDSTATUSCODES).

Must be run with /usr/bin/python3 (Debian's aiosmtpd).
"""

import argparse
import asyncio
import collections
import functools
import itertools
import logging
import os
import re
import signal
import ssl
import time

from aiosmtpd.smtp import SMTP

import authmech
import extensions

SIZE_LIMIT = 10485760
SMALL_SIZE_LIMIT = 1000
EXT_FEATURES = ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "DSN",
                "CHUNKING", "BINARYMIME", "DELIVERBY", "MT-PRIORITY", "STARTTLS", "REQUIRETLS")
SMALL_FEATURES = ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING")
AUTH_LINE_LIMIT = 12288   # RFC 4954 4: AUTH lines and SASL responses up to 12288 octets
REJECT_DATA_HEADER = re.compile(rb"^X-Test-Reject-Data:[ \t]*yes[ \t]*\r?$", re.I | re.M)


class RecordingSMTP(SMTP):
    """aiosmtpd's SMTP plus two things:

    - it remembers the raw MAIL/RCPT argument, so that parameters are recorded
      as the client sent them (aiosmtpd hands the hooks upper-cased ones);
    - with strict_sync (the listener without PIPELINING), a client that sends
      anything before it has read the reply due gets "554 5.5.0 Error: SMTP
      protocol synchronization" and is disconnected, as Postfix does.
    """

    raw_arg = ""

    def __init__(self, handler, *, strict_sync, long_auth_lines=False, **kwargs):
        super().__init__(handler, **kwargs)
        self.strict_sync = strict_sync
        self.out_of_sync = False
        self.long_auth_lines = long_auth_lines
        if long_auth_lines:
            # aiosmtpd cuts every line at 1001 bytes (StreamReader limit) and
            # commands at 512: let AUTH lines and SASL responses be longer
            # (OAuth tokens).  Message lines are still checked against 1001.
            limits = collections.defaultdict(lambda: self.command_size_limit)
            limits["AUTH"] = AUTH_LINE_LIMIT
            self.command_size_limits = limits

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(reader, writer)
        if self.long_auth_lines:
            reader._limit = AUTH_LINE_LIMIT

    def client_ran_ahead(self):
        # Input already buffered while a reply is still due can only come from
        # a client that did not wait for that reply.
        return self.strict_sync and bool(self._reader._buffer)

    async def push(self, status):
        if self.out_of_sync:
            return
        if self.client_ran_ahead():
            self.out_of_sync = True
            logging.info("%s: input before reply, disconnecting", self.session.peer)
            await super().push("554 5.5.0 Error: SMTP protocol synchronization")
            self._reader._buffer.clear()  # process nothing more of this client
            self.transport.close()
            return
        await super().push(status)

    @functools.wraps(SMTP.smtp_MAIL)
    async def smtp_MAIL(self, arg):
        self.raw_arg = arg or ""
        await super().smtp_MAIL(arg)

    @functools.wraps(SMTP.smtp_RCPT)
    async def smtp_RCPT(self, arg):
        self.raw_arg = arg or ""
        await super().smtp_RCPT(arg)


def envelope_line(verb, server, address, options):
    """'VERB <address> params...' with the params in the client's spelling."""
    raw_params = server.raw_arg.split()[-len(options):] if options else []
    if [p.upper() for p in raw_params] != options:
        raw_params = options
    path = address if address == "<>" else f"<{address}>"
    return " ".join([verb, path] + raw_params)


def local_part(address):
    return address.rpartition("@")[0] if "@" in address else address


def write_atomically(path, data):
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Recorder:
    # listener: name written to ID.session (None: no ID.session, as on the
    # plain listeners); offers_auth: False hides aiosmtpd's AUTH line;
    # hidden: other EHLO keywords of aiosmtpd's to hide (e.g. "8BITMIME").
    # (The extension listeners make their EHLO reply themselves: extensions.py.)
    def __init__(self, record_dir, ids, pipelining, listener=None, offers_auth=True, hidden=()):
        self.record_dir = record_dir
        self.ids = ids
        self.pipelining = pipelining
        self.listener = listener
        self.offers_auth = offers_auth
        self.hidden = {keyword.upper() for keyword in hidden}

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if not self.offers_auth:
            responses = [r for r in responses if not r[4:].upper().startswith("AUTH")]
        if self.hidden:
            responses = [r for r in responses if r[4:].split(" ")[0].upper() not in self.hidden]
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        envelope.record_lines = [envelope_line("MAIL", server, address, options)]
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        local = local_part(address).lower()
        if local.startswith("reject"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        if local.startswith("tempfail"):
            return f"450 4.2.0 <{address}>: Try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        envelope.record_lines.append(envelope_line("RCPT", server, address, options))
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if server.out_of_sync or server.client_ran_ahead():
            return "554 5.5.0 Error: SMTP protocol synchronization"  # not recorded
        content = envelope.original_content
        headers = content.split(b"\r\n\r\n", 1)[0]
        if REJECT_DATA_HEADER.search(headers):
            return "554 5.6.0 Message rejected by test"
        msg_id = next(self.ids)
        base = os.path.join(self.record_dir, msg_id)
        write_atomically(base + ".eml", content)
        if self.listener:
            write_atomically(base + ".session", session_text(self.listener, server, session))
        text = "".join(line + "\n" for line in envelope.record_lines)
        write_atomically(base + ".env", text.encode("utf-8", "surrogateescape"))
        return f"250 2.0.0 OK id={msg_id}"


class ExtSMTP(extensions.ExtendedSMTP, RecordingSMTP):
    """The extension listeners: their own EHLO, MAIL, RCPT and BDAT."""


class QuirkSMTP(extensions.RefuseMailParameters, RecordingSMTP):
    """501 to MAIL with parameters (a provider's quirk)."""


class No8bitSMTP(extensions.SizeParameterOnly, RecordingSMTP):
    """555 to MAIL parameters other than SIZE (8BITMIME and SMTPUTF8 not offered)."""


class AuthRecorder(authmech.AuthMechanisms, Recorder):
    def __init__(self, *args, credentials, scram_plus, **kwargs):
        super().__init__(*args, **kwargs)
        self.credentials = credentials
        self.scram_plus = scram_plus


def session_text(listener, server, session):
    ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
    lines = [f"LISTENER {listener}"]
    if ssl_object:
        lines.append(f"TLS {ssl_object.version()} {ssl_object.cipher()[0]}")
        lines.append(f"SNI {getattr(ssl_object, 'sni', None) or 'none'}")
        identity = authmech.peer_identity(server)
        if identity:
            lines.append(f"CLIENTCERT {identity}")
    else:
        lines.append("TLS none")
    auth = session.auth_data if session.authenticated else None
    lines.append(f"AUTH {auth.mechanism} {auth.login}" if auth else "AUTH none")
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape")


def remember_sni(ssl_object, server_name, context):
    """Keeps the name the client asked for (SNI), for ID.session."""
    ssl_object.sni = server_name


def tls_contexts(args):
    """(plain server context, one that also asks for a client certificate)"""
    plain = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    plain.load_cert_chain(args.cert, args.key)
    asking = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=args.ca)
    asking.load_cert_chain(args.cert, args.key)
    asking.verify_mode = ssl.CERT_OPTIONAL   # a certificate the CA does not verify fails the handshake
    plain.sni_callback = asking.sni_callback = remember_sni
    return plain, asking


def message_ids():
    for n in itertools.count(1):
        yield f"{time.time_ns()}-{n:06d}"


async def serve(args):
    loop = asyncio.get_running_loop()
    ids = message_ids()
    # (port, handler, extra SMTP arguments, ssl context of an implicit-TLS listener);
    # extra may name another SMTP class ("class") than RecordingSMTP.
    listeners = [(args.port, Recorder(args.dir, ids, True), {}, None),
                 (args.nopipe_port, Recorder(args.dir, ids, False), {}, None)]
    no_auth = {"auth_exclude_mechanism": ["PLAIN", "LOGIN"]}
    plain_ctx = asking_ctx = None
    if args.cert:
        plain_ctx, asking_ctx = tls_contexts(args)
        if args.tls_port:
            listeners.append((args.tls_port, Recorder(args.dir, ids, True, "tls", False),
                              dict(no_auth, tls_context=plain_ctx), None))
        if args.smtps_port:
            listeners.append((args.smtps_port, Recorder(args.dir, ids, True, "smtps", False),
                              dict(no_auth), plain_ctx))
        if args.auth_port:
            scram_plus = authmech.exporter_works(args.cert, args.key)
            logging.info("tls-exporter %s: SCRAM-SHA-256-PLUS %s", "works" if scram_plus else "unavailable",
                         "offered" if scram_plus else "not offered")
            credentials = authmech.Credentials(args.sasl_user, args.sasl_password, args.oauth_token)
            handler = AuthRecorder(args.dir, ids, True, "auth",
                                   credentials=credentials, scram_plus=scram_plus)
            listeners.append((args.auth_port, handler, {
                "tls_context": asking_ctx,
                "auth_required": True,
                "auth_require_tls": True,
                "authenticator": credentials.authenticator,
                "auth_exclude_mechanism": [] if scram_plus else ["SCRAM-SHA-256-PLUS"],
                "long_auth_lines": True,
            }, None))
    if args.ext_port:
        features = EXT_FEATURES if plain_ctx else \
            tuple(f for f in EXT_FEATURES if f not in ("STARTTLS", "REQUIRETLS"))
        ext = dict(no_auth, features=features, tls_context=plain_ctx)
        ext["class"] = ExtSMTP
        listeners.append((args.ext_port, Recorder(args.dir, ids, True, "ext", False), ext, None))
    if args.quirk_port:
        listeners.append((args.quirk_port, Recorder(args.dir, ids, True), {"class": QuirkSMTP}, None))
    if args.no8bit_port:
        listeners.append((args.no8bit_port, Recorder(args.dir, ids, True, hidden=["8BITMIME"]),
                          {"class": No8bitSMTP}, None))
    if args.small_port:
        small = dict(no_auth, features=SMALL_FEATURES, data_size_limit=SMALL_SIZE_LIMIT)
        small["class"] = ExtSMTP
        listeners.append((args.small_port, Recorder(args.dir, ids, True), small, None))
    servers = []
    for port, handler, extra, implicit_tls in listeners:
        def factory(handler=handler, extra=extra):
            settings = {"data_size_limit": SIZE_LIMIT, **extra}
            cls = settings.pop("class", RecordingSMTP)
            return cls(
                handler,
                hostname="recorder.test",
                decode_data=False,
                strict_sync=not handler.pipelining,
                loop=loop,
                **settings,
            )

        servers.append(await loop.create_server(factory, args.host, port, ssl=implicit_tls))
        kind = handler.listener or "plain"
        if "class" in extra:
            kind += ", " + extra["class"].__name__
        logging.info("listening on %s:%d (pipelining=%s, %s)", args.host, port, handler.pipelining, kind)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()
    logging.info("stopped")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="record directory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="listener with PIPELINING")
    parser.add_argument("--nopipe-port", type=int, required=True, help="listener without PIPELINING")
    parser.add_argument("--tls-port", type=int, help="STARTTLS listener (needs --cert, --key)")
    parser.add_argument("--smtps-port", type=int, help="implicit-TLS listener")
    parser.add_argument("--auth-port", type=int,
                        help="STARTTLS listener requiring AUTH (also needs --ca, --sasl-user, ...)")
    parser.add_argument("--ext-port", type=int,
                        help="extension listener (SMTPUTF8, DSN, CHUNKING, ...; STARTTLS with --cert)")
    parser.add_argument("--quirk-port", type=int, help="listener refusing MAIL parameters with 501")
    parser.add_argument("--no8bit-port", type=int, help="listener without 8BITMIME (PIPELINING, SIZE only)")
    parser.add_argument("--small-port", type=int, help="listener with SIZE 1000 and CHUNKING")
    parser.add_argument("--cert", help="server certificate (PEM)")
    parser.add_argument("--key", help="its private key (PEM)")
    parser.add_argument("--ca", help="CA that verifies client certificates (for EXTERNAL)")
    parser.add_argument("--sasl-user", help="the one user name AUTH accepts")
    parser.add_argument("--sasl-password", help="its password (PLAIN, LOGIN, SCRAM)")
    parser.add_argument("--oauth-token", help="its bearer token (XOAUTH2, OAUTHBEARER)")
    args = parser.parse_args()
    if (args.tls_port or args.smtps_port or args.auth_port) and not (args.cert and args.key):
        parser.error("the TLS listeners need --cert and --key")
    if args.auth_port and not (args.ca and args.sasl_user and args.sasl_password and args.oauth_token):
        parser.error("--auth-port needs --ca, --sasl-user, --sasl-password and --oauth-token")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # aiosmtpd 1.4.3 warns about its own use of Session.login_data on every AUTH
    logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
