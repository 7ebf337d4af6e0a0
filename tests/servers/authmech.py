"""SASL mechanisms for the recorder's AUTH listener (aiosmtpd 1.4.3).

aiosmtpd offers PLAIN and LOGIN itself (checked by Credentials.authenticator);
AuthMechanisms adds, as auth_* methods of the handler:

  XOAUTH2             user=U ^A auth=Bearer T ^A ^A
  OAUTHBEARER         RFC 7628 (gs2 header, then ^A-separated key=value pairs)
  EXTERNAL            RFC 4422: the identity of a client certificate that the
                      test CA verified during the TLS handshake
  SCRAM-SHA-256       RFC 5802 / RFC 7677
  SCRAM-SHA-256-PLUS  the same with tls-exporter channel binding (RFC 9266)

aiosmtpd calls each one as method(smtp_server, args) where args is the AUTH
command split on blanks (args[1], if there, is the initial response) and sends
the reply that the returned AuthResult asks for.  On a failed login the
result has handled=False, so that aiosmtpd sends the 535 (with handled=True
it would send nothing and the client would wait for ever).

Python 3.11's ssl module has no keying-material exporter; tls_exporter() gets
it from OpenSSL through ctypes, and exporter_works() checks that once with an
in-memory handshake (without it, SCRAM-SHA-256-PLUS is not offered).
"""

import base64
import ctypes
import hashlib
import hmac
import json
import logging
import os
import ssl
import sys
from typing import NamedTuple, Optional

from aiosmtpd.smtp import MISSING, AuthResult

log = logging.getLogger("recorder.auth")

SCRAM_ITERATIONS = 4096
INVALID = "535 5.7.8 Authentication credentials invalid"


class AuthInfo(NamedTuple):
    """What a successful AUTH leaves in session.auth_data (login: who)."""
    mechanism: str
    login: str


class Credentials:
    def __init__(self, user, password, token):
        self.user = user
        self.password = password
        self.token = token

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd's authenticator= for its own PLAIN and LOGIN."""
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        if login == self.user and password == self.password:
            return AuthResult(success=True, auth_data=AuthInfo(mechanism, login))
        log.info("%s: bad user name or password for %r", mechanism, login)
        return AuthResult(success=False, handled=False)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def initial_response(server, args) -> Optional[bytes]:
    """The client's first SASL message: the initial response on the AUTH line
    ("=" meaning empty), else the answer to an empty 334.  None if the client
    aborted or sent bad base64 (the 501 has then been sent)."""
    if len(args) > 1:
        if args[1] == "=":
            return b""
        try:
            return base64.b64decode(args[1], validate=True)
        except ValueError:
            await server.push("501 5.5.2 Can't decode base64")
            return None
    answer = await server.challenge_auth("")
    return None if answer is MISSING else answer


async def malformed(server, what):
    await server.push(f"501 5.5.2 Malformed {what} message")
    return AuthResult(success=False, handled=True)


def split_pairs(data: bytes) -> Optional[dict]:
    """'k=v^Ak=v^A^A' (the ^A^A already checked) -> {k: v}, None if malformed."""
    pairs = {}
    for item in data[:-2].split(b"\x01"):
        key, eq, value = item.partition(b"=")
        if not eq or not key:
            return None
        pairs[key.decode("ascii", "replace").lower()] = value.decode("utf-8", "replace")
    return pairs


def bearer_token(auth_value: str) -> Optional[str]:
    scheme, _, token = auth_value.partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def peer_identity(server) -> Optional[str]:
    """Who the verified TLS client certificate names (SAN e-mail, else CN)."""
    ssl_object = server.transport.get_extra_info("ssl_object") if server.transport else None
    cert = ssl_object.getpeercert() if ssl_object else None
    if not cert:          # no certificate (an unverifiable one fails the handshake)
        return None
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "email":
            return value
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


# --- tls-exporter (RFC 9266) through ctypes -----------------------------------

EXPORTER_LABEL = b"EXPORTER-Channel-Binding"

try:
    _libssl = ctypes.CDLL("libssl.so.3")
    _libssl.SSL_get_version.argtypes = [ctypes.c_void_p]
    _libssl.SSL_get_version.restype = ctypes.c_char_p
    _libssl.SSL_export_keying_material.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
        ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    _libssl.SSL_export_keying_material.restype = ctypes.c_int
except (OSError, AttributeError):
    _libssl = None


def _ssl_pointer(ssl_object) -> Optional[int]:
    """The SSL* inside a Python ssl.SSLObject/SSLSocket.  In CPython 3.7-3.13
    _ssl's PySSLSocket starts with PyObject_HEAD, a PyObject *Socket, then
    SSL *ssl.  Only trusted when SSL_get_version() on it agrees with Python."""
    if _libssl is None or not (3, 7) <= sys.version_info[:2] <= (3, 13):
        return None
    inner = getattr(ssl_object, "_sslobj", None)
    if inner is None or type(inner).__name__ != "_SSLSocket":
        return None
    offset = object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)
    pointer = ctypes.c_void_p.from_address(id(inner) + offset).value
    if not pointer:
        return None
    version = _libssl.SSL_get_version(pointer)
    if version is None or version.decode("ascii", "replace") != ssl_object.version():
        return None
    return pointer


def tls_exporter(ssl_object) -> Optional[bytes]:
    """The 32-byte tls-exporter channel binding of a TLS connection."""
    pointer = _ssl_pointer(ssl_object) if ssl_object else None
    if pointer is None:
        return None
    out = ctypes.create_string_buffer(32)
    if _libssl.SSL_export_keying_material(pointer, out, 32, EXPORTER_LABEL,
                                          len(EXPORTER_LABEL), None, 0, 0) != 1:
        return None
    return out.raw


def exporter_works(cert_file, key_file) -> bool:
    """Handshakes two in-memory TLS endpoints and checks that both ends get
    the same 32-byte exporter value."""
    try:
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert_file, key_file)
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.check_hostname = False
        client_ctx.verify_mode = ssl.CERT_NONE
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        client = client_ctx.wrap_bio(c_in, c_out, server_side=False)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        done = {"client": False, "server": False}
        for _ in range(10):
            for name, end in (("client", client), ("server", server)):
                if not done[name]:
                    try:
                        end.do_handshake()
                        done[name] = True
                    except ssl.SSLWantReadError:
                        pass
            s_in.write(c_out.read())
            c_in.write(s_out.read())
            if all(done.values()):
                break
        values = tls_exporter(client), tls_exporter(server)
        return values[0] is not None and values[0] == values[1]
    except (ssl.SSLError, OSError, ValueError) as error:
        log.warning("tls-exporter self-test failed: %s", error)
        return False


# --- the mechanisms ------------------------------------------------------------

class AuthMechanisms:
    """Mixin for the handler of the AUTH listener; needs self.credentials and
    self.scram_plus (whether SCRAM-SHA-256-PLUS is offered)."""

    credentials: Credentials
    scram_plus = False

    async def auth_XOAUTH2(self, server, args):
        data = await initial_response(server, args)
        if data is None:
            return AuthResult(success=False, handled=True)
        pairs = split_pairs(data) if data.endswith(b"\x01\x01") else None
        if not pairs or "user" not in pairs or "auth" not in pairs:
            return await malformed(server, "XOAUTH2")
        user, token = pairs["user"], bearer_token(pairs["auth"])
        if user == self.credentials.user and token == self.credentials.token:
            return AuthResult(success=True, auth_data=AuthInfo("XOAUTH2", user))
        log.info("XOAUTH2: bad user or token for %r", user)
        error = {"status": "401", "schemes": "Bearer", "scope": "https://mail.test/"}
        answer = await server.challenge_auth(json.dumps(error))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=INVALID)

    async def auth_OAUTHBEARER(self, server, args):
        data = await initial_response(server, args)
        if data is None:
            return AuthResult(success=False, handled=True)
        head, sep, rest = data.partition(b"\x01")
        gs2 = head.split(b",")
        if (not sep or not rest.endswith(b"\x01\x01") or len(gs2) != 3 or gs2[2]
                or gs2[0] not in (b"n", b"y") or (gs2[1] and not gs2[1].startswith(b"a="))):
            return await malformed(server, "OAUTHBEARER")
        pairs = split_pairs(rest)
        if not pairs or "auth" not in pairs:
            return await malformed(server, "OAUTHBEARER")
        authzid = scram_unescape(gs2[1][2:].decode("utf-8", "replace"))
        token = bearer_token(pairs["auth"])
        if token == self.credentials.token and authzid in ("", self.credentials.user):
            return AuthResult(success=True,
                              auth_data=AuthInfo("OAUTHBEARER", authzid or self.credentials.user))
        log.info("OAUTHBEARER: bad token or user %r", authzid)
        error = {"status": "invalid_token", "schemes": "bearer", "scope": "https://mail.test/"}
        answer = await server.challenge_auth(json.dumps(error))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message=INVALID)

    async def auth_EXTERNAL(self, server, args):
        authzid = await initial_response(server, args)
        if authzid is None:
            return AuthResult(success=False, handled=True)
        identity = peer_identity(server)
        if identity is None:
            log.info("EXTERNAL without a verified client certificate")
            return AuthResult(success=False, handled=False,
                              message="535 5.7.8 No verified client certificate")
        wanted = authzid.decode("utf-8", "replace")
        if wanted not in ("", identity):
            log.info("EXTERNAL: %r may not act as %r", identity, wanted)
            return AuthResult(success=False, handled=False, message=INVALID)
        return AuthResult(success=True, auth_data=AuthInfo("EXTERNAL", identity))

    async def auth_SCRAM__SHA__256(self, server, args):
        return await self._scram(server, args, plus=False)

    async def auth_SCRAM__SHA__256__PLUS(self, server, args):
        return await self._scram(server, args, plus=True)

    async def _scram(self, server, args, plus):
        mech = "SCRAM-SHA-256-PLUS" if plus else "SCRAM-SHA-256"
        first = await initial_response(server, args)
        if first is None:
            return AuthResult(success=False, handled=True)
        try:
            cbflag, authz, bare = first.decode("utf-8").split(",", 2)
            attrs = bare.split(",")
            if not (attrs[0].startswith("n=") and attrs[1].startswith("r=") and len(attrs[1]) > 2):
                raise ValueError
            if authz and not authz.startswith("a="):
                raise ValueError
        except (UnicodeDecodeError, ValueError, IndexError):
            return await malformed(server, mech)
        user = scram_unescape(attrs[0][2:])
        client_nonce = attrs[1][2:]

        # Channel binding: PLUS needs p=tls-exporter; without PLUS, "p=" is an
        # error, and so is "y" (the client could bind) when PLUS is offered.
        cbind = b""
        if plus:
            if cbflag != "p=tls-exporter":
                log.info("%s: channel binding flag %r", mech, cbflag)
                return AuthResult(success=False, handled=False,
                                  message="535 5.7.8 SCRAM channel binding must be p=tls-exporter")
            cbind = tls_exporter(server.transport.get_extra_info("ssl_object"))
            if cbind is None:
                return AuthResult(success=False, handled=False,
                                  message="454 4.7.0 tls-exporter unavailable")
        elif cbflag.startswith("p=") or (cbflag == "y" and self.scram_plus) or cbflag not in ("n", "y"):
            log.info("%s: channel binding flag %r", mech, cbflag)
            return AuthResult(success=False, handled=False,
                              message="535 5.7.8 SCRAM channel binding flag rejected")

        salt = os.urandom(16)
        nonce = client_nonce + b64(os.urandom(18))
        server_first = f"r={nonce},s={b64(salt)},i={SCRAM_ITERATIONS}"
        final = await server.challenge_auth(server_first)
        if final is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            without_proof, proof_b64 = final.decode("utf-8").rsplit(",p=", 1)
            proof = base64.b64decode(proof_b64, validate=True)
            fattrs = without_proof.split(",")
            if not (fattrs[0].startswith("c=") and fattrs[1].startswith("r=")):
                raise ValueError
            channel = base64.b64decode(fattrs[0][2:], validate=True)
        except (UnicodeDecodeError, ValueError, IndexError):
            return await malformed(server, mech)

        salted = hashlib.pbkdf2_hmac("sha256", self.credentials.password.encode(), salt,
                                     SCRAM_ITERATIONS)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        auth_message = f"{bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        recovered = bytes(a ^ b for a, b in zip(proof, signature))
        gs2_header = f"{cbflag},{authz},".encode()
        checks = {
            "nonce": fattrs[1][2:] == nonce,
            "channel binding": channel == gs2_header + cbind,
            "user": user == self.credentials.user and authz in ("", "a=" + scram_escape(user)),
            "proof": len(proof) == 32 and hmac.compare_digest(
                hashlib.sha256(recovered).digest(), stored_key),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            log.info("%s: failed %s for %r", mech, ", ".join(failed), user)
            return AuthResult(success=False, handled=False, message=INVALID)

        server_key = hmac.digest(salted, b"Server Key", "sha256")
        verifier = hmac.digest(server_key, auth_message, "sha256")
        answer = await server.challenge_auth("v=" + b64(verifier))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        if answer:
            return AuthResult(success=False, handled=False,
                              message="535 5.7.8 Expected an empty response to the server-final message")
        return AuthResult(success=True, auth_data=AuthInfo(mech, user))


def scram_unescape(name: str) -> str:
    return name.replace("=2C", ",").replace("=3D", "=")


def scram_escape(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")
