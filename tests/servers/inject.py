#!/usr/bin/python3
"""STARTTLS response-injection server for the esmtp tests (CVE-2011-0411 pattern).

It greets, offers STARTTLS in its EHLO reply, and answers STARTTLS with

    220 2.0.0 Ready to start TLS\\r\\n250 injected\\r\\n

in one write, before the TLS handshake: a client that keeps the buffered
"250 injected" and reads it after the handshake as if the server had sent it
under TLS is vulnerable.  If the client goes on with the handshake, the
server completes it (with --cert/--key) and then acts as a minimal SMTP
server that accepts and discards everything; every reply inside TLS starts
with the code the command expects, so a client that took "250 injected" as
the reply to its first command is one reply behind from then on.

Each connection's events go to the log (stderr), one line each:
"PEER: <event>", events being "STARTTLS, injected", "handshake ok",
"handshake failed: ...", "tls < COMMAND" and "closed".
"""

import argparse
import asyncio
import logging
import signal
import ssl

INJECTED = b"220 2.0.0 Ready to start TLS\r\n250 injected\r\n"
HOSTNAME = "inject.test"


async def reply(writer, text):
    writer.write(text.encode("ascii") + b"\r\n")
    await writer.drain()


async def plain_phase(reader, writer, peer):
    """Until STARTTLS; True if the client asked for it."""
    await reply(writer, f"220 {HOSTNAME} ESMTP STARTTLS injection test server")
    while True:
        line = await reader.readline()
        if not line:
            return False
        verb = line.strip().split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            await reply(writer, f"250-{HOSTNAME}\r\n250-PIPELINING\r\n250 STARTTLS")
        elif verb == b"HELO":
            await reply(writer, f"250 {HOSTNAME}")
        elif verb == b"STARTTLS":
            writer.write(INJECTED)       # the 220 and the injected 250 in one write
            await writer.drain()
            logging.info("%s: STARTTLS, injected", peer)
            return True
        elif verb == b"QUIT":
            await reply(writer, "221 2.0.0 Bye")
            return False
        elif verb == b"NOOP":
            await reply(writer, "250 2.0.0 OK")
        else:
            await reply(writer, "530 5.7.0 Must issue a STARTTLS command first")


async def tls_phase(reader, writer, peer):
    in_data = False
    while True:
        line = await reader.readline()
        if not line:
            return
        if in_data:
            if line in (b".\r\n", b".\n"):
                in_data = False
                await reply(writer, "250 2.0.0 OK discarded")
            continue
        logging.info("%s: tls < %s", peer, line.rstrip(b"\r\n").decode("ascii", "replace"))
        verb = line.strip().split(b" ", 1)[0].upper()
        if verb == b"EHLO":
            await reply(writer, f"250-{HOSTNAME}\r\n250-PIPELINING\r\n250 8BITMIME")
        elif verb == b"HELO":
            await reply(writer, f"250 {HOSTNAME}")
        elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            await reply(writer, "250 2.0.0 OK")
        elif verb == b"DATA":
            in_data = True
            await reply(writer, "354 End data with <CR><LF>.<CR><LF>")
        elif verb == b"QUIT":
            await reply(writer, "221 2.0.0 Bye")
            return
        elif verb == b"STARTTLS":
            await reply(writer, "503 5.5.1 TLS already active")
        else:
            await reply(writer, "502 5.5.2 Command not recognized")


def make_handler(tls_context):
    async def handle(reader, writer):
        peer = "%s:%d" % writer.get_extra_info("peername")[:2]
        try:
            if await plain_phase(reader, writer, peer):
                try:
                    await writer.start_tls(tls_context)
                except (ssl.SSLError, OSError, ConnectionError) as error:
                    logging.info("%s: handshake failed: %s", peer, error)
                    return
                logging.info("%s: handshake ok", peer)
                await tls_phase(reader, writer, peer)
        except (OSError, ConnectionError, ValueError, asyncio.IncompleteReadError) as error:
            logging.info("%s: %s", peer, error)
        finally:
            logging.info("%s: closed", peer)
            writer.close()
    return handle


async def serve(args):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)
    server = await asyncio.start_server(make_handler(context), args.host, args.port)
    logging.info("listening on %s:%d", args.host, args.port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    logging.info("stopped")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True, help="server certificate (PEM)")
    parser.add_argument("--key", required=True, help="its private key (PEM)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
