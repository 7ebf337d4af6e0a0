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

Must be run with /usr/bin/python3 (Debian's aiosmtpd).
"""

import argparse
import asyncio
import functools
import itertools
import logging
import os
import re
import signal
import time

from aiosmtpd.smtp import SMTP

SIZE_LIMIT = 10485760
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

    def __init__(self, handler, *, strict_sync, **kwargs):
        super().__init__(handler, **kwargs)
        self.strict_sync = strict_sync
        self.out_of_sync = False

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
    def __init__(self, record_dir, ids, pipelining):
        self.record_dir = record_dir
        self.ids = ids
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
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
        text = "".join(line + "\n" for line in envelope.record_lines)
        write_atomically(base + ".env", text.encode("utf-8", "surrogateescape"))
        return f"250 2.0.0 OK id={msg_id}"


def message_ids():
    for n in itertools.count(1):
        yield f"{time.time_ns()}-{n:06d}"


async def serve(args):
    loop = asyncio.get_running_loop()
    ids = message_ids()
    listeners = [(args.port, True), (args.nopipe_port, False)]
    servers = []
    for port, pipelining in listeners:
        handler = Recorder(args.dir, ids, pipelining)

        def factory(handler=handler, pipelining=pipelining):
            return RecordingSMTP(
                handler,
                hostname="recorder.test",
                data_size_limit=SIZE_LIMIT,
                decode_data=False,
                strict_sync=not pipelining,
                loop=loop,
            )

        servers.append(await loop.create_server(factory, args.host, port))
        logging.info("listening on %s:%d (pipelining=%s)", args.host, port, pipelining)

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
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    os.makedirs(args.dir, exist_ok=True)
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
