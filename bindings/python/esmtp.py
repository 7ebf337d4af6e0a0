"""esmtp for Python: send e-mail over ESMTP with libesmtpc, through ctypes.

A pure-Python module: nothing to compile. It loads ``libesmtpc.so.1`` (the
path in the environment variable ESMTP_LIBRARY if set, otherwise whatever the
system's dynamic loader finds) and wraps the C API in Python objects::

    import esmtp

    with esmtp.Session("smtp.example.org", 587, user="me@example.org",
                       password="secret") as session:
        message = session.message("me@example.org", ["you@example.net"],
                                  "Subject: hi\\n\\nHello.\\n")
        session.send()
    for rcpt in message.recipients:
        print(rcpt.mailbox, rcpt.status.name, rcpt.code, rcpt.text)

Conventions:

- Sessions and MIME builders own C memory: use them as context managers or
  call ``close()``. A session's messages and recipients keep their results
  after the session is closed (they are copied out when it closes).
- A failed session run raises ``EsmtpError`` (or a subclass) carrying the
  error code, its description and the session's detail, which quotes the
  server's reply when there was one. What the server decided about each
  message and each recipient is never an exception: read ``Message.status``
  and ``Recipient.status``.
- Callbacks are plain Python callables. One that raises aborts the session
  (the C side stops with ESMTP_ECALLBACK) and the exception is raised again
  from ``send()`` / ``process()``; no later callback of that run is called.
- A session and everything it owns must be used from one thread at a time;
  different sessions may be used from different threads at once (ctypes
  releases the GIL during the C calls).

SPDX-License-Identifier: MIT
"""

import asyncio
import collections
import ctypes
import datetime
import enum
import itertools
import os
import select
import weakref

__all__ = [
    "Session", "Message", "Recipient", "Mime", "Part",
    "EsmtpError", "InvalidArgumentError", "OutOfMemoryError", "StateError",
    "ConnectError", "ServerError", "CallbackError", "MessageError", "TLSError",
    "AuthError",
    "ErrorCode", "Status", "TLS", "TLSVersion", "Timeout", "Event", "Direction",
    "Want", "DsnRet", "Notify", "Field", "Encoding", "Disposition",
    "ProviderInfo", "provider", "library_version", "strerror", "run_all",
]

# ------------------------------------------------------------------ loading

_c_int, _c_uint, _c_long = ctypes.c_int, ctypes.c_uint, ctypes.c_long
_c_size, _c_u64, _c_i64 = ctypes.c_size_t, ctypes.c_uint64, ctypes.c_int64
_P = ctypes.c_void_p       # every opaque handle, and user_data
_S = ctypes.c_char_p       # NUL-terminated strings (in and out)
_PP = ctypes.POINTER(ctypes.c_void_p)

# Callback types, exactly as esmtp.h and mime.h declare them. user_data is a
# small integer key into _registry (never a Python object's address), so a
# late call from C after the Python side is gone finds nothing and aborts.
_PROGRESS_CB = ctypes.CFUNCTYPE(_c_int, _P, _c_int, _P, _P, _c_u64, _P)
_ERROR_CB = ctypes.CFUNCTYPE(None, _P, _c_int, _S, _P)
_TRANSCRIPT_CB = ctypes.CFUNCTYPE(None, _P, _c_int, _P, _c_size, _P)
_READ_CB = ctypes.CFUNCTYPE(_c_long, _P, _P, _c_size, _P)  # esmtp_read_cb and esmtp_mime_read_cb
_TOKEN_CB = ctypes.CFUNCTYPE(_c_int, _P, _P, _c_size, _P)

_SIGNATURES = {
    # errors, version
    "esmtp_strerror": (_S, [_c_int]),
    "esmtp_version": (_S, []),
    "esmtp_version_num": (_c_uint, []),
    # session
    "esmtp_session_new": (_c_int, [_PP]),
    "esmtp_session_free": (None, [_P]),
    "esmtp_session_set_server": (_c_int, [_P, _S, _c_uint]),
    "esmtp_session_set_helo_name": (_c_int, [_P, _S]),
    "esmtp_session_set_timeout": (_c_int, [_P, _c_int, _c_uint]),
    "esmtp_session_set_pipelining": (_c_int, [_P, _c_int]),
    "esmtp_session_set_chunking": (_c_int, [_P, _c_int]),
    # TLS
    "esmtp_session_set_tls": (_c_int, [_P, _c_int]),
    "esmtp_session_set_ca": (_c_int, [_P, _S, _S]),
    "esmtp_session_set_client_cert": (_c_int, [_P, _S, _S]),
    "esmtp_session_set_tls_min_version": (_c_int, [_P, _c_int]),
    "esmtp_session_set_tls_pin": (_c_int, [_P, _S]),
    "esmtp_session_set_tls_insecure_no_verify": (_c_int, [_P, _c_int]),
    "esmtp_session_tls_version": (_S, [_P]),
    "esmtp_session_tls_cipher": (_S, [_P]),
    "esmtp_session_tls_peer_subject": (_S, [_P]),
    "esmtp_session_tls_resumed": (_c_int, [_P]),
    # AUTH, providers
    "esmtp_session_set_auth": (_c_int, [_P, _S, _S]),
    "esmtp_session_set_auth_mechanisms": (_c_int, [_P, _S]),
    "esmtp_session_set_allow_plaintext_auth": (_c_int, [_P, _c_int]),
    "esmtp_session_set_oauth_token_cb": (_c_int, [_P, _TOKEN_CB, _P]),
    "esmtp_session_set_transcript_secrets": (_c_int, [_P, _c_int]),
    "esmtp_provider_find": (_c_int, [_S, ctypes.POINTER(_S), ctypes.POINTER(_c_uint),
                                     ctypes.POINTER(_c_int), ctypes.POINTER(_S)]),
    "esmtp_session_use_provider": (_c_int, [_P, _S]),
    # callbacks
    "esmtp_session_set_progress_cb": (_c_int, [_P, _PROGRESS_CB, _P]),
    "esmtp_session_set_error_cb": (_c_int, [_P, _ERROR_CB, _P]),
    "esmtp_session_set_transcript_cb": (_c_int, [_P, _TRANSCRIPT_CB, _P]),
    # messages
    "esmtp_session_add_message": (_c_int, [_P, _PP]),
    "esmtp_message_set_reverse_path": (_c_int, [_P, _S]),
    "esmtp_message_add_recipient": (_c_int, [_P, _S, _PP]),
    "esmtp_message_set_body": (_c_int, [_P, _S, _c_size]),
    "esmtp_message_set_body_cb": (_c_int, [_P, _READ_CB, _P]),
    "esmtp_message_set_size": (_c_int, [_P, _c_u64]),
    "esmtp_message_set_8bit": (_c_int, [_P, _c_int]),
    "esmtp_message_set_newline_policy": (_c_int, [_P, _c_int]),
    # extensions
    "esmtp_message_set_dsn_ret": (_c_int, [_P, _c_int]),
    "esmtp_message_set_dsn_envid": (_c_int, [_P, _S]),
    "esmtp_message_set_dsn_required": (_c_int, [_P, _c_int]),
    "esmtp_recipient_set_dsn_notify": (_c_int, [_P, _c_int]),
    "esmtp_recipient_set_dsn_orcpt": (_c_int, [_P, _S]),
    "esmtp_message_set_requiretls": (_c_int, [_P, _c_int]),
    "esmtp_message_set_deliver_by": (_c_int, [_P, _c_long, _c_int]),
    "esmtp_message_set_priority": (_c_int, [_P, _c_int]),
    "esmtp_message_set_utf8_headers": (_c_int, [_P, _c_int]),
    "esmtp_message_set_binary": (_c_int, [_P, _c_int]),
    # running
    "esmtp_session_send": (_c_int, [_P]),
    "esmtp_session_start": (_c_int, [_P]),
    "esmtp_session_fd": (_c_int, [_P]),
    "esmtp_session_want": (_c_int, [_P]),
    "esmtp_session_timeout_ms": (_c_int, [_P]),
    "esmtp_session_process": (_c_int, [_P, _c_int]),
    # results
    "esmtp_session_detail": (_S, [_P]),
    "esmtp_session_reply_code": (_c_int, [_P]),
    "esmtp_session_enhanced_code": (_S, [_P]),
    "esmtp_session_greeting": (_S, [_P]),
    "esmtp_session_extension": (_S, [_P, _S]),
    "esmtp_session_message_count": (_c_size, [_P]),
    "esmtp_session_message": (_P, [_P, _c_size]),
    "esmtp_message_status": (_c_int, [_P]),
    "esmtp_message_code": (_c_int, [_P]),
    "esmtp_message_enhanced_code": (_S, [_P]),
    "esmtp_message_text": (_S, [_P]),
    "esmtp_message_recipient_count": (_c_size, [_P]),
    "esmtp_message_recipient": (_P, [_P, _c_size]),
    "esmtp_recipient_mailbox": (_S, [_P]),
    "esmtp_recipient_status": (_c_int, [_P]),
    "esmtp_recipient_code": (_c_int, [_P]),
    "esmtp_recipient_enhanced_code": (_S, [_P]),
    "esmtp_recipient_text": (_S, [_P]),
    "esmtp_status_name": (_S, [_c_int]),
    # owners, removal, the extension list
    "esmtp_session_remove_message": (_c_int, [_P, _P]),
    "esmtp_session_extension_count": (_c_size, [_P]),
    "esmtp_session_extension_name": (_S, [_P, _c_size]),
    "esmtp_message_session": (_P, [_P]),
    "esmtp_recipient_message": (_P, [_P]),
    # settings, as set
    "esmtp_session_server": (_S, [_P]),
    "esmtp_session_port": (_c_uint, [_P]),
    "esmtp_session_tls": (_c_int, [_P]),
    "esmtp_session_timeout": (_c_uint, [_P, _c_int]),
    "esmtp_session_auth_user": (_S, [_P]),
    "esmtp_session_auth_mechanisms": (_S, [_P]),
    "esmtp_message_reverse_path": (_S, [_P]),
    # the caller's pointers
    "esmtp_session_set_user_data": (_c_int, [_P, _P]),
    "esmtp_session_user_data": (_P, [_P]),
    "esmtp_message_set_user_data": (_c_int, [_P, _P]),
    "esmtp_message_user_data": (_P, [_P]),
    "esmtp_recipient_set_user_data": (_c_int, [_P, _P]),
    "esmtp_recipient_user_data": (_P, [_P]),
    # MIME builder
    "esmtp_mime_new": (_c_int, [_PP]),
    "esmtp_mime_free": (None, [_P]),
    "esmtp_mime_add_mailbox": (_c_int, [_P, _c_int, _S, _S]),
    "esmtp_mime_add_addresses": (_c_int, [_P, _c_int, _S]),
    "esmtp_mime_set_subject": (_c_int, [_P, _S]),
    "esmtp_mime_set_message_id": (_c_int, [_P, _S]),
    "esmtp_mime_set_in_reply_to": (_c_int, [_P, _S]),
    "esmtp_mime_set_references": (_c_int, [_P, _S]),
    "esmtp_mime_set_date": (_c_int, [_P, _c_i64, _c_int]),
    "esmtp_mime_set_list_unsubscribe": (_c_int, [_P, _S, _S, _c_int]),
    "esmtp_mime_add_header": (_c_int, [_P, _S, _S]),
    "esmtp_mime_set_utf8_headers": (_c_int, [_P, _c_int]),
    "esmtp_mime_set_deterministic": (_c_int, [_P, _c_u64]),
    "esmtp_mime_set_text": (_c_int, [_P, _S, _c_size]),
    "esmtp_mime_set_html": (_c_int, [_P, _S, _c_size]),
    "esmtp_mime_add_attachment": (_c_int, [_P, _PP]),
    "esmtp_mime_add_inline": (_c_int, [_P, _S, _PP]),
    "esmtp_mime_body": (_c_int, [_P, _PP]),
    "esmtp_mime_part_add_subpart": (_c_int, [_P, _PP]),
    "esmtp_mime_part_set_data": (_c_int, [_P, _S, _c_size]),
    "esmtp_mime_part_set_file": (_c_int, [_P, _S]),
    "esmtp_mime_part_set_read_cb": (_c_int, [_P, _READ_CB, _c_u64, _P]),
    "esmtp_mime_part_set_type": (_c_int, [_P, _S]),
    "esmtp_mime_part_set_charset": (_c_int, [_P, _S]),
    "esmtp_mime_part_set_filename": (_c_int, [_P, _S]),
    "esmtp_mime_part_set_disposition": (_c_int, [_P, _c_int]),
    "esmtp_mime_part_set_content_id": (_c_int, [_P, _S]),
    "esmtp_mime_part_set_encoding": (_c_int, [_P, _c_int]),
    "esmtp_mime_part_add_header": (_c_int, [_P, _S, _S]),
    "esmtp_mime_attach": (_c_int, [_P, _P]),
    "esmtp_mime_prepare": (_c_int, [_P, _c_int, ctypes.POINTER(_c_u64), ctypes.POINTER(_c_int)]),
    "esmtp_mime_read": (_c_long, [_P, _P, _c_size]),
}


class _Lib:
    """The C functions, each with its argtypes and restype declared. A
    function missing from an older library raises NotImplementedError when
    called, instead of making the module fail to load."""

    def __init__(self, path):
        self.path = path
        self.dll = ctypes.CDLL(path)
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                fn = getattr(self.dll, name)
            except AttributeError:
                setattr(self, name[len("esmtp_"):], _missing(name, path))
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            setattr(self, name[len("esmtp_"):], fn)


def _missing(name, path):
    def call(*_args):
        raise NotImplementedError(f"{path} has no {name}(): the library is too old")
    return call


_lib = _Lib(os.environ.get("ESMTP_LIBRARY") or "libesmtpc.so.1")

ESMTP_MIME_SIZE_UNKNOWN = 2**64 - 1


def library_version():
    """The loaded library's version, e.g. "0.1.0"."""
    return _lib.version().decode()


def _text(raw):
    """A string the library returned (bytes or None) as str or None."""
    return None if raw is None else raw.decode("utf-8", "replace")


def _cstr(value, what="string"):
    """A Python str (or bytes) for a const char * argument; None stays NULL."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, os.PathLike):
        value = os.fsencode(value)
    elif not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what} must be str or bytes, not {type(value).__name__}")
    if b"\0" in value:
        raise InvalidArgumentError(ErrorCode.EINVAL, f"{what} contains a NUL character")
    return bytes(value)


def _path(value):
    return None if value is None else _cstr(os.fspath(value), "path")


def _data(value, what="data"):
    """Bytes for a (pointer, length) argument: bytes-like as is, str as UTF-8."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


# -------------------------------------------------------------- enumerations


class ErrorCode(enum.IntEnum):
    """esmtp_error: every failure is one of these negative values."""
    OK = 0
    EINVAL = -1
    ENOMEM = -2
    ESTATE = -3
    ERESOLVE = -4
    ECONNECT = -5
    ETIMEOUT = -6
    EIO = -7
    EPROTO = -8
    EREFUSED = -9
    ESERVICE = -10
    ECALLBACK = -11
    EBARENEWLINE = -12
    E8BIT = -13
    EREAD = -14
    ENOMESSAGE = -15
    ETOOBIG = -16
    ETLS = -17
    ECERT = -18
    ENOTLS = -19
    ETLSMODE = -20
    EAUTH = -21
    ENOMECH = -22


class Status(enum.IntEnum):
    """The fate of a message or recipient (esmtp_status)."""
    PENDING = 0
    OK = 1
    TEMPFAIL = 2
    PERMFAIL = 3
    UNKNOWN = 4


class TLS(enum.IntEnum):
    """How the connection is protected (esmtp_tls_mode)."""
    DEFAULT = 0
    NONE = 1
    STARTTLS = 2
    STARTTLS_OPTIONAL = 3
    IMPLICIT = 4


class TLSVersion(enum.IntEnum):
    TLS_1_2 = 12
    TLS_1_3 = 13


class Timeout(enum.IntEnum):
    """The phases with a timeout of their own (esmtp_timeout)."""
    CONNECT = 0
    GREETING = 1
    COMMAND = 2
    DATA_INIT = 3
    DATA_BLOCK = 4
    DATA_END = 5
    ALL = 6


class Event(enum.IntEnum):
    """Progress events (esmtp_event)."""
    CONNECTED = 1
    GREETING = 2
    EXTENSIONS = 3
    RECIPIENT = 4
    BODY_BYTES = 5
    MESSAGE_DONE = 6
    DISCONNECTED = 7
    TLS = 8
    AUTHENTICATED = 9
    DSN_DROPPED = 10
    PARAMS_DROPPED = 11


class Direction(enum.IntEnum):
    """Who a transcript line comes from (esmtp_direction)."""
    CLIENT = 0
    SERVER = 1
    LIBRARY = 2


class Want(enum.IntFlag):
    """Readiness bits of the event-loop API (esmtp_want)."""
    NONE = 0
    READ = 1
    WRITE = 2


class DsnRet(enum.IntEnum):
    DEFAULT = 0
    FULL = 1
    HDRS = 2


class Notify(enum.IntFlag):
    NEVER = 1
    SUCCESS = 2
    FAILURE = 4
    DELAY = 8


class Field(enum.IntEnum):
    """Address header fields of the MIME builder (esmtp_mime_field)."""
    FROM = 0
    SENDER = 1
    REPLY_TO = 2
    TO = 3
    CC = 4
    BCC = 5


class Encoding(enum.IntEnum):
    """Content-Transfer-Encoding of a part (esmtp_mime_encoding)."""
    AUTO = 0
    SEVEN_BIT = 1
    EIGHT_BIT = 2
    QUOTED_PRINTABLE = 3
    BASE64 = 4


class Disposition(enum.IntEnum):
    """Content-Disposition of a part (esmtp_mime_disposition)."""
    DEFAULT = 0
    NONE = 1
    INLINE = 2
    ATTACHMENT = 3


def _enum(cls, value):
    try:
        return cls(value)
    except ValueError:
        return value          # a value from a newer library: keep the int


# -------------------------------------------------------------------- errors


def strerror(code):
    """The library's short English description of an error code."""
    return _text(_lib.strerror(int(code)))


# Failures that a later attempt may not meet, when no server reply says otherwise.
_TEMPORARY_CODES = frozenset({
    ErrorCode.ERESOLVE, ErrorCode.ECONNECT, ErrorCode.ETIMEOUT, ErrorCode.EIO,
    ErrorCode.ESERVICE, ErrorCode.ENOMEM,
})


class EsmtpError(Exception):
    """A failure reported by esmtp.

    code: the ErrorCode (a negative int); strerror: its description;
    detail: the session's detail, complete in itself, with the server's reply
    where there was one ("" when none); reply_code and enhanced_code: that
    reply's code (int) and RFC 3463 code (str), or None; temporary: whether a
    later attempt may succeed (a 4xx reply, or a network-level failure);
    permanent: the opposite.
    """

    def __init__(self, code, detail="", reply_code=None, enhanced_code=None):
        self.code = _enum(ErrorCode, code)
        self.strerror = strerror(code)
        self.detail = detail or ""
        self.reply_code = reply_code or None
        self.enhanced_code = enhanced_code or None
        super().__init__(int(code), self.detail or self.strerror)

    @property
    def name(self):
        """The C name of the code, e.g. "ESMTP_ENOTLS"."""
        return "ESMTP_" + self.code.name if isinstance(self.code, ErrorCode) else str(self.code)

    @property
    def temporary(self):
        if self.reply_code is not None:
            return 400 <= self.reply_code < 500
        return self.code in _TEMPORARY_CODES

    @property
    def permanent(self):
        return not self.temporary

    def __str__(self):
        if self.detail and self.detail != self.strerror:
            return f"{self.name}: {self.strerror}: {self.detail}"
        return f"{self.name}: {self.strerror}"


class InvalidArgumentError(EsmtpError, ValueError):
    """ESMTP_EINVAL: an argument was refused (bad address, CR/LF, ...)."""


class OutOfMemoryError(EsmtpError, MemoryError):
    """ESMTP_ENOMEM."""


class StateError(EsmtpError):
    """ESMTP_ESTATE: not allowed now (the session is running or closed)."""


class ConnectError(EsmtpError):
    """ESMTP_ERESOLVE, ECONNECT, ETIMEOUT, EIO: the network failed."""


class ServerError(EsmtpError):
    """ESMTP_EPROTO, EREFUSED, ESERVICE: the server broke or ended the session."""


class CallbackError(EsmtpError):
    """ESMTP_ECALLBACK without a Python exception (e.g. no OAuth token)."""


class MessageError(EsmtpError):
    """ESMTP_EBARENEWLINE, E8BIT, EREAD, ENOMESSAGE, ETOOBIG."""


class TLSError(EsmtpError):
    """ESMTP_ETLS, ECERT, ENOTLS, ETLSMODE."""


class AuthError(EsmtpError):
    """ESMTP_EAUTH, ENOMECH."""


_ERROR_CLASSES = {
    ErrorCode.EINVAL: InvalidArgumentError,
    ErrorCode.ENOMEM: OutOfMemoryError,
    ErrorCode.ESTATE: StateError,
    ErrorCode.ERESOLVE: ConnectError,
    ErrorCode.ECONNECT: ConnectError,
    ErrorCode.ETIMEOUT: ConnectError,
    ErrorCode.EIO: ConnectError,
    ErrorCode.EPROTO: ServerError,
    ErrorCode.EREFUSED: ServerError,
    ErrorCode.ESERVICE: ServerError,
    ErrorCode.ECALLBACK: CallbackError,
    ErrorCode.EBARENEWLINE: MessageError,
    ErrorCode.E8BIT: MessageError,
    ErrorCode.EREAD: MessageError,
    ErrorCode.ENOMESSAGE: MessageError,
    ErrorCode.ETOOBIG: MessageError,
    ErrorCode.ETLS: TLSError,
    ErrorCode.ECERT: TLSError,
    ErrorCode.ENOTLS: TLSError,
    ErrorCode.ETLSMODE: TLSError,
    ErrorCode.EAUTH: AuthError,
    ErrorCode.ENOMECH: AuthError,
}


def _error(code, detail="", reply_code=None, enhanced_code=None):
    return _ERROR_CLASSES.get(code, EsmtpError)(code, detail, reply_code, enhanced_code)


def _check(rc, what):
    """Raises for a negative return code of a setter; what names the call."""
    if rc < 0:
        raise _error(rc, f"{what}: {strerror(rc)}")
    return rc


# ----------------------------------------------------------------- callbacks
#
# One trampoline per callback type, created once and kept for the life of the
# module, so no C function pointer that a session holds can ever dangle. The
# user_data is a key into _registry, which maps it to a weak reference to the
# Python object the call is for (a Session or a _Reader). Every trampoline
# catches every exception: an exception must never unwind into C. It is stored
# on the session, the C side is told to stop (non-zero or -1), and the
# session's send()/process() raises it once the C call has returned.

_registry = {}
_keys = itertools.count(1)


def _register(obj):
    key = next(_keys)
    _registry[key] = weakref.ref(obj)
    return key


def _lookup(key):
    ref = _registry.get(key)
    return ref() if ref is not None else None


def _unregister(key):
    _registry.pop(key, None)


@_PROGRESS_CB
def _progress_trampoline(_session, event, message, recipient, nbytes, key):
    session = _lookup(key)
    if session is None or session._pending is not None:
        return 1                   # stop: a callback already failed, or nobody is listening
    callback = session._on_progress
    if callback is None:
        return 0
    try:
        msg = session._message_for(message)
        rcpt = msg._recipient_for(recipient) if (msg is not None and recipient) else None
        callback(_enum(Event, event), msg, rcpt, nbytes)
    except BaseException as exc:   # noqa: B036 - KeyboardInterrupt too: never into C
        session._fail(exc)
        return 1
    return 0


@_ERROR_CB
def _error_trampoline(_session, code, detail, key):
    session = _lookup(key)
    if session is None or session._pending is not None or session._on_error is None:
        return
    try:
        session._on_error(session._run_error(code, _text(detail)))
    except BaseException as exc:   # noqa: B036
        session._fail(exc)


@_TRANSCRIPT_CB
def _transcript_trampoline(_session, direction, line, length, key):
    session = _lookup(key)
    if session is None or session._pending is not None or session._on_transcript is None:
        return
    try:
        text = ctypes.string_at(line, length).decode("utf-8", "replace") if length else ""
        session._on_transcript(_enum(Direction, direction), text)
    except BaseException as exc:   # noqa: B036
        session._fail(exc)         # the next progress event stops the session


@_TOKEN_CB
def _token_trampoline(_session, buf, size, key):
    session = _lookup(key)
    if session is None or session._pending is not None or session._token is None:
        return 1
    try:
        token = session._token() if callable(session._token) else session._token
        if token is None:
            return 1               # ECALLBACK: CallbackError from send()
        token = _cstr(token, "OAuth token")
        if len(token) >= size:
            raise ValueError(f"the OAuth token is {len(token)} bytes; at most {size - 1} fit")
        ctypes.memmove(buf, token + b"\0", len(token) + 1)
        return 0
    except BaseException as exc:   # noqa: B036
        session._fail(exc)
        return 1


@_READ_CB
def _read_trampoline(_handle, buf, size, key):
    reader = _lookup(key)
    if reader is None:
        return -1
    return reader.read_into(buf, size)


def _streamable(source):
    return any(hasattr(source, a) for a in ("readinto", "read", "__iter__"))


def _check_body(body):
    """Refuses a body of the wrong type before anything is queued."""
    if not (body is None or isinstance(body, (bytes, bytearray, memoryview, str, Mime))
            or _streamable(body)):
        raise TypeError("body must be bytes, str, a Mime, a file-like object or an iterable "
                        f"of chunks, not {type(body).__name__}")


class _Reader:
    """Feeds a read callback (a message body or a MIME part) from a binary
    file-like object (readinto() or read()), a text one, or an iterable of
    bytes/str chunks."""

    def __init__(self, source):
        if isinstance(source, (bytes, bytearray, memoryview, str)):
            raise TypeError("use set_body()/set_data() for data in memory")
        if not _streamable(source):
            raise TypeError("a body or part must be bytes, str, a Mime, a file-like object or an "
                            f"iterable of chunks, not {type(source).__name__}")
        self.source = source
        self.readinto = getattr(source, "readinto", None)
        self.read = getattr(source, "read", None)
        self.chunks = iter(source) if self.readinto is None and self.read is None else None
        self.left = b""            # bytes produced but not yet handed over
        self.session = None        # weak reference, once a session owns it
        self.exc = None
        self.key = _register(self)

    def read_into(self, buf, size):
        session = self.session() if self.session is not None else None
        if self.exc is not None or (session is not None and session._pending is not None):
            return -1
        try:
            if not self.left and self.readinto is not None:
                view = memoryview((ctypes.c_ubyte * size).from_address(buf))
                got = self.readinto(view)
                if got is None:
                    raise BlockingIOError("the body's file is non-blocking and had no data")
                if isinstance(got, int) and got >= 0:
                    return min(got, size)
                raise TypeError("readinto() must return a byte count")
            while not self.left:
                if self.read is not None:
                    chunk = self.read(size)
                else:
                    chunk = next(self.chunks, b"")
                if not chunk:
                    return 0
                self.left = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
            n = min(size, len(self.left))
            ctypes.memmove(buf, self.left, n)
            self.left = self.left[n:]
            return n
        except BaseException as exc:   # noqa: B036
            self.exc = exc
            if session is not None:
                session._fail(exc)
            return -1

    def close(self):
        _unregister(self.key)


# ------------------------------------------------------------------ sessions

_UNSET = object()


class Session:
    """An ESMTP session: one server, a queue of messages, and their results.

    Every keyword argument names a property below (tls=TLS.NONE,
    ca_file=..., pipelining=False, on_progress=fn, ...) or one of:
    user/password (set_auth), provider (use_provider, applied first),
    timeout (seconds for every phase, or {Timeout.X: seconds}),
    client_cert/client_key (set_client_cert).
    """

    def __init__(self, host=None, port=0, **settings):
        self._ptr = None
        self._key = None
        out = ctypes.c_void_p()
        _check(_lib.session_new(ctypes.byref(out)), "esmtp_session_new")
        self._ptr = out.value
        self._key = _register(self)
        self._messages = []
        self._by_address = {}      # C message address -> Message
        self._pending = None       # the first exception a callback raised in this run
        self._in_c = False         # inside send()/start()/process(): callbacks may run
        self._settings = {}
        self._on_progress = self._on_error = self._on_transcript = None
        self._token = None
        self._frozen = None
        # The progress and error trampolines are always installed: the progress
        # one is how a failed callback of another kind stops the session.
        _lib.session_set_progress_cb(self._ptr, _progress_trampoline, self._key)
        _lib.session_set_error_cb(self._ptr, _error_trampoline, self._key)

        provider_name = settings.pop("provider", None)
        if provider_name is not None:
            self.use_provider(provider_name)
        if host is not None:
            self.set_server(host, port)
        user, password = settings.pop("user", None), settings.pop("password", None)
        if user is not None or password is not None:
            self.set_auth(user, password)
        cert, key = settings.pop("client_cert", None), settings.pop("client_key", None)
        if cert is not None or key is not None:
            self.set_client_cert(cert, key)
        timeout = settings.pop("timeout", None)
        if isinstance(timeout, dict):
            for phase, seconds in timeout.items():
                self.set_timeout(phase, seconds)
        elif timeout is not None:
            self.set_timeout(Timeout.ALL, timeout)
        for name, value in settings.items():
            if not isinstance(getattr(type(self), name, None), property) or name in _READ_ONLY:
                raise TypeError(f"Session() got an unexpected keyword argument {name!r}")
            setattr(self, name, value)

    # -- lifetime

    def close(self):
        """Frees the session (closing any connection without QUIT). Messages
        and recipients keep their results. Safe to call twice."""
        if self._ptr is None:
            return
        if self._in_c:
            raise StateError(ErrorCode.ESTATE, "close() from inside a callback of the same session")
        self._frozen = {
            "greeting": self.greeting, "detail": self.detail,
            "reply_code": self._result("reply_code", _lib.session_reply_code, int),
            "enhanced_code": self._result("enhanced_code", _lib.session_enhanced_code),
            "tls_version": self.tls_version, "tls_cipher": self.tls_cipher,
            "tls_peer_subject": self.tls_peer_subject, "tls_resumed": self.tls_resumed,
        }
        for message in self._messages:
            message._freeze()
        ptr, self._ptr = self._ptr, None
        _lib.session_free(ptr)
        _unregister(self._key)
        for message in self._messages:
            message._release()
        self._by_address.clear()
        self._on_progress = self._on_error = self._on_transcript = None
        self._token = None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def __del__(self):
        try:
            if self._ptr is not None and not self._in_c:
                self.close()
        except Exception:          # interpreter shutdown: the library may be gone
            pass

    @property
    def closed(self):
        return self._ptr is None

    def _live(self, what="this"):
        if self._ptr is None:
            raise StateError(ErrorCode.ESTATE, f"{what}: the session is closed")
        return self._ptr

    def _changing(self, what):
        if self._in_c:
            raise StateError(ErrorCode.ESTATE, f"{what} from inside a callback of the same session")
        return self._live(what)

    def __repr__(self):
        server = self._settings.get("server")
        state = "closed" if self._ptr is None else "open"
        return f"<esmtp.Session {server[0]}:{server[1]} {state}>" if server else f"<esmtp.Session {state}>"

    # -- callbacks support

    def _fail(self, exc):
        if self._pending is None:
            self._pending = exc

    def _message_for(self, address):
        if not address:
            return None
        message = self._by_address.get(address)
        if message is None:            # not made through this wrapper: cannot happen, but be safe
            message = Message(self, address)
            self._messages.append(message)
            self._by_address[address] = message
        return message

    def _finish_run(self, rc):
        """After a C call that runs the session: the callback's exception
        first, else the error code."""
        exc, self._pending = self._pending, None
        for message in self._messages:
            for reader in message._readers():
                reader.exc = None
        if exc is not None:
            if rc < 0 and hasattr(exc, "add_note"):
                exc.add_note(f"esmtp: raised by a callback; the session ended with {self._run_error(rc)}")
            raise exc
        if rc < 0:
            raise self._run_error(rc)

    # -- settings (write-through to C; the getters return what was set)

    def set_server(self, host, port=0):
        """Sets the server: a DNS name or an IP address; port 0 means 25."""
        _check(_lib.session_set_server(self._changing("set_server"), _cstr(host, "host"), int(port)),
               "esmtp_session_set_server")
        self._settings["server"] = (host, int(port) or 25)

    @property
    def server(self):
        """(host, port) as last set."""
        return self._settings.get("server")

    @server.setter
    def server(self, value):
        if isinstance(value, str):
            self.set_server(value)
        else:
            self.set_server(*value)

    def _simple(name, cfunc, convert, doc):   # noqa: N805 - a helper run in the class body
        def get(self):
            return self._settings.get(name)

        def set_(self, value):
            rc = getattr(_lib, cfunc)(self._changing(name), convert(value))
            _check(rc, "esmtp_" + cfunc)
            self._settings[name] = value
        return property(get, set_, doc=doc)

    helo_name = _simple("helo_name", "session_set_helo_name", _cstr, "The name sent in EHLO/HELO.")
    tls = _simple("tls", "session_set_tls", int, "The TLS mode (a TLS value).")
    tls_min_version = _simple("tls_min_version", "session_set_tls_min_version", int,
                              "The lowest TLS version accepted (TLSVersion).")
    tls_pin = _simple("tls_pin", "session_set_tls_pin", _cstr,
                      "Base64 SHA-256 of the server's SubjectPublicKeyInfo, or None.")
    tls_insecure_no_verify = _simple(
        "tls_insecure_no_verify", "session_set_tls_insecure_no_verify", bool,
        "INSECURE: accept any certificate for any host. For tests only.")
    auth_mechanisms = _simple(
        "auth_mechanisms", "session_set_auth_mechanisms",
        lambda v: _cstr(v if v is None or isinstance(v, str) else ",".join(v)),
        "SASL mechanisms in order of preference: 'PLAIN,LOGIN' or a list; None for the default.")
    allow_plaintext_auth = _simple("allow_plaintext_auth", "session_set_allow_plaintext_auth", bool,
                                   "Allow password mechanisms on an unencrypted connection.")
    transcript_secrets = _simple("transcript_secrets", "session_set_transcript_secrets", bool,
                                 "Show AUTH exchanges unredacted in the transcript.")
    pipelining = _simple("pipelining", "session_set_pipelining", bool, "Use PIPELINING when offered.")
    chunking = _simple("chunking", "session_set_chunking", bool, "Use CHUNKING (BDAT) when offered.")
    del _simple

    def set_ca(self, ca_file=None, ca_dir=None):
        """Trusts the CAs in a PEM file and/or a hashed directory instead of
        the system's store."""
        _check(_lib.session_set_ca(self._changing("set_ca"), _path(ca_file), _path(ca_dir)),
               "esmtp_session_set_ca")
        self._settings["ca_file"], self._settings["ca_dir"] = ca_file, ca_dir

    ca_file = property(lambda self: self._settings.get("ca_file"),
                       lambda self, v: self.set_ca(v, self._settings.get("ca_dir")),
                       doc="PEM file of trusted CAs.")
    ca_dir = property(lambda self: self._settings.get("ca_dir"),
                      lambda self, v: self.set_ca(self._settings.get("ca_file"), v),
                      doc="Hashed directory of trusted CAs.")

    def set_client_cert(self, cert_file, key_file):
        """Presents a client certificate (PEM, with its chain) and its key."""
        _check(_lib.session_set_client_cert(self._changing("set_client_cert"), _path(cert_file),
                                            _path(key_file)), "esmtp_session_set_client_cert")
        self._settings["client_cert"] = (cert_file, key_file)

    @property
    def client_cert(self):
        """(cert_file, key_file) as last set."""
        return self._settings.get("client_cert")

    def set_auth(self, user, password=None):
        """Logs in as user with SMTP AUTH. password may be None for token or
        EXTERNAL mechanisms. Once set, mail is never sent unauthenticated."""
        _check(_lib.session_set_auth(self._changing("set_auth"), _cstr(user, "user"),
                                     _cstr(password, "password")), "esmtp_session_set_auth")
        self._settings["user"] = user      # the password stays in C only

    @property
    def user(self):
        return self._settings.get("user")

    @property
    def oauth_token(self):
        """An OAuth 2.0 bearer token (str) or a callable returning a fresh one
        (or None to give up), asked before each authentication."""
        return self._token

    @oauth_token.setter
    def oauth_token(self, value):
        ptr = self._changing("oauth_token")
        if value is None:
            _check(_lib.session_set_oauth_token_cb(ptr, _TOKEN_CB(), None),
                   "esmtp_session_set_oauth_token_cb")
        else:
            if not (callable(value) or isinstance(value, (str, bytes))):
                raise TypeError("oauth_token must be a str or a callable")
            _check(_lib.session_set_oauth_token_cb(ptr, _token_trampoline, self._key),
                   "esmtp_session_set_oauth_token_cb")
        self._token = value

    def use_provider(self, name):
        """Server, port, TLS mode and mechanisms of a known provider ("gmail",
        "outlook", "qq", "163", ...); credentials are still yours."""
        _check(_lib.session_use_provider(self._changing("use_provider"), _cstr(name, "provider")),
               "esmtp_session_use_provider")
        info = provider(name)
        self._settings.update(provider=name, server=(info.host, info.port), tls=info.tls,
                              auth_mechanisms=info.mechanisms)

    @property
    def provider(self):
        return self._settings.get("provider")

    @provider.setter
    def provider(self, name):
        self.use_provider(name)

    def set_timeout(self, phase, seconds):
        """Sets a phase's timeout (Timeout.ALL for every phase) in seconds."""
        ms = max(1, int(round(float(seconds) * 1000)))
        _check(_lib.session_set_timeout(self._changing("set_timeout"), int(phase), ms),
               "esmtp_session_set_timeout")
        if int(phase) == Timeout.ALL:
            for p in Timeout:
                self._settings[("timeout", p)] = seconds
        else:
            self._settings[("timeout", Timeout(phase))] = seconds

    def get_timeout(self, phase):
        """The timeout last set for a phase in seconds, or None (the default)."""
        return self._settings.get(("timeout", _enum(Timeout, phase)))

    # -- callbacks

    @property
    def on_progress(self):
        """fn(event: Event, message: Message|None, recipient: Recipient|None,
        nbytes: int), called for every progress event. Raise to abort."""
        return self._on_progress

    @on_progress.setter
    def on_progress(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("on_progress must be callable")
        self._on_progress = fn

    @property
    def on_error(self):
        """fn(error: EsmtpError), called once when a run fails (before send()
        raises the same error)."""
        return self._on_error

    @on_error.setter
    def on_error(self, fn):
        if fn is not None and not callable(fn):
            raise TypeError("on_error must be callable")
        self._on_error = fn

    @property
    def on_transcript(self):
        """fn(direction: Direction, line: str): every protocol line (bodies
        are not shown line by line; AUTH is redacted unless
        transcript_secrets). Raising aborts at the next progress event."""
        return self._on_transcript

    @on_transcript.setter
    def on_transcript(self, fn):
        ptr = self._changing("on_transcript")
        if fn is not None and not callable(fn):
            raise TypeError("on_transcript must be callable")
        if fn is None:
            _check(_lib.session_set_transcript_cb(ptr, _TRANSCRIPT_CB(), None),
                   "esmtp_session_set_transcript_cb")
        elif self._on_transcript is None:
            _check(_lib.session_set_transcript_cb(ptr, _transcript_trampoline, self._key),
                   "esmtp_session_set_transcript_cb")
        self._on_transcript = fn

    # -- messages

    def message(self, sender=None, to=(), body=None, **options):
        """Queues a message and returns it.

        sender: the envelope sender ("" for the null sender <>); to: one
        address or an iterable of them; body: bytes or str (a complete RFC 5322
        message), a Mime builder (sender and recipients then default to its
        addresses), or a binary/text file-like object or an iterable of chunks
        (streamed while sending). options: any Message setter by name without
        "set_" (size, eight_bit, reject_bare_newlines, dsn_ret, dsn_envid,
        dsn_required, requiretls, deliver_by, priority, utf8_headers, binary).
        """
        ptr = self._changing("message()")
        _check_body(body)
        if isinstance(body, Mime):
            body._live("message()")            # not attached elsewhere, not freed
        out = ctypes.c_void_p()
        _check(_lib.session_add_message(ptr, ctypes.byref(out)), "esmtp_session_add_message")
        message = Message(self, out.value)
        self._messages.append(message)
        self._by_address[out.value] = message
        if sender is not None:
            message.set_sender(sender)
        for address in ([to] if isinstance(to, str) else to):
            message.add_recipient(address)
        if body is not None:
            message.set_body(body)
        for name, value in options.items():
            setter = getattr(message, "set_" + name, None)
            if setter is None:
                raise TypeError(f"message() got an unexpected keyword argument {name!r}")
            if isinstance(value, tuple):
                setter(*value)
            else:
                setter(value)
        return message

    @property
    def messages(self):
        """The session's messages, in the order added."""
        return list(self._messages)

    # -- running

    def send(self):
        """Connects, sends every pending message and quits (blocking). Returns
        the messages; read their status. Raises EsmtpError when the session
        ended early, or what a callback raised."""
        ptr = self._changing("send()")
        self._pending = None
        self._in_c = True
        try:
            rc = _lib.session_send(ptr)
        finally:
            self._in_c = False
        self._finish_run(rc)
        return self.messages

    def start(self):
        """Event loop: starts a run (resolving the name blocks) and returns
        True; then, until process() returns True, wait for want() on
        fileno() for at most timeout_ms() and call process(). Raises when the
        run could not start or failed at once."""
        ptr = self._changing("start()")
        self._pending = None
        self._in_c = True
        try:
            rc = _lib.session_start(ptr)
        finally:
            self._in_c = False
        self._finish_run(rc)
        return True

    def fileno(self):
        """The socket to watch, or -1. Read again after every process()."""
        return _lib.session_fd(self._live("fileno()"))

    def want(self):
        """The Want bits to wait for on fileno()."""
        return Want(_lib.session_want(self._live("want()")))

    def timeout_ms(self):
        """Milliseconds until the current phase times out, 0 when it has, or
        -1 when no timeout runs."""
        return _lib.session_timeout_ms(self._live("timeout_ms()"))

    def process(self, ready):
        """Does the work that can be done now; ready is the Want bits the
        socket is ready for (0 when the wait timed out; on error or hang-up
        pass what want() asked for). Returns False while the run goes on,
        True when it finished; raises like send() when it ended early."""
        ptr = self._changing("process()")
        self._in_c = True
        try:
            rc = _lib.session_process(ptr, int(ready))
        finally:
            self._in_c = False
        if rc == 0:            # still running (a failed callback stops it at the next event)
            return False
        self._finish_run(rc if rc < 0 else 0)
        return True

    async def send_async(self):
        """send() on the running asyncio loop, through the event-loop API.
        Resolving the server's name still blocks: give an IP address or
        resolve it first if that matters."""
        loop = asyncio.get_running_loop()
        self.start()
        while True:
            fd, want, timeout = self.fileno(), self.want(), self.timeout_ms()
            ready = 0
            if fd >= 0 and want:
                future = loop.create_future()

                def wake(bit, future=future):
                    if not future.done():
                        future.set_result(bit)
                if want & Want.READ:
                    loop.add_reader(fd, wake, Want.READ)
                if want & Want.WRITE:
                    loop.add_writer(fd, wake, Want.WRITE)
                try:
                    ready = await asyncio.wait_for(future, None if timeout < 0 else timeout / 1000)
                except asyncio.TimeoutError:
                    ready = 0
                finally:
                    loop.remove_reader(fd)
                    loop.remove_writer(fd)
            elif timeout != 0:
                await asyncio.sleep(0.05 if timeout < 0 else timeout / 1000)
            if self.process(ready):
                return self.messages

    # -- results

    def _run_error(self, rc, detail=None):
        """The exception for a run that ended with rc: the detail, and the
        server's reply that ended it, as the library reports them."""
        return _error(rc, self.detail if detail is None else detail,
                      self._result("reply_code", _lib.session_reply_code, int),
                      self._result("enhanced_code", _lib.session_enhanced_code))

    def _result(self, name, cfunc, convert=_text):
        if self._ptr is None:
            return self._frozen[name] if self._frozen else None
        return convert(cfunc(self._ptr))

    @property
    def detail(self):
        """The last failure, with the server's reply where there was one; ""."""
        return self._result("detail", _lib.session_detail) or ""

    @property
    def greeting(self):
        """The greeting's text (without the code), or None."""
        return self._result("greeting", _lib.session_greeting)

    @property
    def tls_version(self):
        """The negotiated TLS version ("TLSv1.3"), or None."""
        return self._result("tls_version", _lib.session_tls_version)

    @property
    def tls_cipher(self):
        return self._result("tls_cipher", _lib.session_tls_cipher)

    @property
    def tls_peer_subject(self):
        """The server certificate's subject (RFC 2253), or None."""
        return self._result("tls_peer_subject", _lib.session_tls_peer_subject)

    @property
    def tls_resumed(self):
        if self._ptr is None:
            return bool(self._frozen and self._frozen["tls_resumed"])
        return bool(_lib.session_tls_resumed(self._ptr))

    def extension(self, keyword):
        """None if the server did not offer keyword in EHLO, else its
        parameters ("" when none). Only while the session is open."""
        return _text(_lib.session_extension(self._live("extension()"), _cstr(keyword, "keyword")))


_READ_ONLY = frozenset({"closed", "messages", "detail", "greeting", "tls_version", "tls_cipher",
                        "tls_peer_subject", "tls_resumed", "user", "client_cert"})


class _Result:
    """The status, code, enhanced code and text shared by messages and
    recipients: read live from C while the session is open, frozen after."""

    _status_fn = _code_fn = _enhanced_fn = _text_fn = None

    def _get(self, name, cfunc):
        if self._frozen is not None:
            return self._frozen[name]
        ptr = self._ptr_checked()
        return cfunc(ptr)

    def _snapshot(self):
        return {"status": self.status, "code": self.code, "enhanced": self.enhanced,
                "text": self.text}

    @property
    def status(self):
        """A Status: PENDING until decided."""
        return _enum(Status, self._get("status", type(self)._status_fn))

    @property
    def code(self):
        """The reply code that decided, or 0 when esmtp decided."""
        return self._get("code", type(self)._code_fn)

    @property
    def enhanced(self):
        """The RFC 3463 enhanced status code of that reply ("2.0.0"), or ""."""
        value = self._get("enhanced", type(self)._enhanced_fn)
        return value if isinstance(value, str) else (_text(value) or "")

    @property
    def text(self):
        """The text of that reply, or esmtp's explanation."""
        value = self._get("text", type(self)._text_fn)
        return value if isinstance(value, str) else (_text(value) or "")

    @property
    def ok(self):
        return self.status == Status.OK


class Message(_Result):
    """A message queued on a session (made by Session.message())."""

    _status_fn = staticmethod(lambda p: _lib.message_status(p))
    _code_fn = staticmethod(lambda p: _lib.message_code(p))
    _enhanced_fn = staticmethod(lambda p: _lib.message_enhanced_code(p))
    _text_fn = staticmethod(lambda p: _lib.message_text(p))

    def __init__(self, session, ptr):
        self._session = session
        self._ptr = ptr
        self._frozen = None
        self._recipients = []
        self._by_address = {}
        self._reader = None        # a streamed body
        self._mime = None          # an attached Mime builder
        self.sender = None

    def _ptr_checked(self):
        if self._ptr is None:
            raise StateError(ErrorCode.ESTATE, "the message's session is closed")
        return self._ptr

    def _changing(self, what):
        ptr = self._ptr_checked()
        self._session._changing(what)
        return ptr

    def _readers(self):
        readers = [self._reader] if self._reader is not None else []
        if self._mime is not None:
            readers.extend(self._mime._readers)
        return readers

    def _freeze(self):
        self._sync_recipients()
        self._frozen = self._snapshot()
        for rcpt in self._recipients:
            rcpt._freeze()

    def _release(self):
        """The session was freed: nothing here points into C any more."""
        self._ptr = None
        self._session = None
        self._by_address.clear()
        for reader in self._readers():
            reader.close()
        if self._mime is not None:
            self._mime._released()
        for rcpt in self._recipients:
            rcpt._ptr = None

    def __repr__(self):
        return f"<esmtp.Message from {self.sender!r} {self.status.name} {self.code}>"

    # -- envelope

    def set_sender(self, mailbox):
        """The envelope sender (MAIL FROM), without angle brackets; "" for <>."""
        _check(_lib.message_set_reverse_path(self._changing("set_sender"), _cstr(mailbox, "sender")),
               "esmtp_message_set_reverse_path")
        self.sender = mailbox

    def add_recipient(self, mailbox, notify=None, orcpt=None):
        """Adds an envelope recipient (RCPT TO) and returns its Recipient."""
        out = ctypes.c_void_p()
        _check(_lib.message_add_recipient(self._changing("add_recipient"), _cstr(mailbox, "recipient"),
                                          ctypes.byref(out)), "esmtp_message_add_recipient")
        rcpt = self._recipient_for(out.value)
        if notify is not None:
            rcpt.set_dsn_notify(notify)
        if orcpt is not None:
            rcpt.set_dsn_orcpt(orcpt)
        return rcpt

    def _recipient_for(self, address):
        rcpt = self._by_address.get(address)
        if rcpt is None:
            self._sync_recipients()
            rcpt = self._by_address.get(address)
        return rcpt

    def _sync_recipients(self):
        """Wraps the recipients C added on its own (from a Mime's To/Cc/Bcc)."""
        if self._ptr is None:
            return
        count = _lib.message_recipient_count(self._ptr)
        for i in range(len(self._recipients), count):
            address = _lib.message_recipient(self._ptr, i)
            rcpt = Recipient(self, address)
            self._recipients.append(rcpt)
            self._by_address[address] = rcpt

    @property
    def recipients(self):
        """The Recipient objects, in the order added."""
        self._sync_recipients()
        return list(self._recipients)

    # -- body

    def set_body(self, body):
        """bytes/str: a complete RFC 5322 message, copied; Mime: attached (the
        message owns it from then on); a file-like object or an iterable of
        chunks: streamed while sending (see set_size() and set_eight_bit())."""
        ptr = self._changing("set_body")
        if isinstance(body, Mime):
            body._attach_to(self)
        elif isinstance(body, (bytes, bytearray, memoryview, str)):
            data = _data(body, "body")
            _check(_lib.message_set_body(ptr, data, len(data)), "esmtp_message_set_body")
        else:
            reader = _Reader(body)
            reader.session = weakref.ref(self._session)
            rc = _lib.message_set_body_cb(ptr, _read_trampoline, reader.key)
            if rc < 0:
                reader.close()
                _check(rc, "esmtp_message_set_body_cb")
            if self._reader is not None:
                self._reader.close()
            self._reader = reader

    def _flag(self, cfunc, value, what):
        _check(getattr(_lib, cfunc)(self._changing(what), value), "esmtp_" + cfunc)

    def set_size(self, size):
        """The size of a streamed body (CRLF line ends), for SIZE=."""
        self._flag("message_set_size", int(size), "set_size")

    def set_eight_bit(self, has_8bit=True):
        """Declares that a streamed body has 8-bit bytes (BODY=8BITMIME)."""
        self._flag("message_set_8bit", int(bool(has_8bit)), "set_eight_bit")

    def set_reject_bare_newlines(self, reject=True):
        """Fail (ESMTP_EBARENEWLINE) instead of turning bare CR/LF into CRLF."""
        self._flag("message_set_newline_policy", int(bool(reject)), "set_reject_bare_newlines")

    def set_dsn_ret(self, ret):
        self._flag("message_set_dsn_ret", int(ret), "set_dsn_ret")

    def set_dsn_envid(self, envid):
        self._flag("message_set_dsn_envid", _cstr(envid, "envid"), "set_dsn_envid")

    def set_dsn_required(self, required=True):
        self._flag("message_set_dsn_required", int(bool(required)), "set_dsn_required")

    def set_requiretls(self, require=True):
        self._flag("message_set_requiretls", int(bool(require)), "set_requiretls")

    def set_deliver_by(self, seconds, return_if_late=False):
        _check(_lib.message_set_deliver_by(self._changing("set_deliver_by"), int(seconds),
                                           int(bool(return_if_late))), "esmtp_message_set_deliver_by")

    def set_priority(self, priority):
        self._flag("message_set_priority", int(priority), "set_priority")

    def set_utf8_headers(self, utf8=True):
        self._flag("message_set_utf8_headers", int(bool(utf8)), "set_utf8_headers")

    def set_binary(self, binary=True):
        self._flag("message_set_binary", int(bool(binary)), "set_binary")


class Recipient(_Result):
    """One envelope recipient of a message, with its own result."""

    _status_fn = staticmethod(lambda p: _lib.recipient_status(p))
    _code_fn = staticmethod(lambda p: _lib.recipient_code(p))
    _enhanced_fn = staticmethod(lambda p: _lib.recipient_enhanced_code(p))
    _text_fn = staticmethod(lambda p: _lib.recipient_text(p))

    def __init__(self, message, ptr):
        self.message = message
        self._ptr = ptr
        self._frozen = None
        self.mailbox = _text(_lib.recipient_mailbox(ptr))

    def _ptr_checked(self):
        if self._ptr is None:
            raise StateError(ErrorCode.ESTATE, "the recipient's session is closed")
        return self._ptr

    def _freeze(self):
        self._frozen = self._snapshot()

    def __repr__(self):
        return f"<esmtp.Recipient {self.mailbox!r} {self.status.name} {self.code}>"

    def set_dsn_notify(self, flags):
        """Notify flags (NEVER alone, or SUCCESS|FAILURE|DELAY); 0 = server's choice."""
        _check(_lib.recipient_set_dsn_notify(self._changing(), int(flags)),
               "esmtp_recipient_set_dsn_notify")

    def set_dsn_orcpt(self, address):
        _check(_lib.recipient_set_dsn_orcpt(self._changing(), _cstr(address, "orcpt")),
               "esmtp_recipient_set_dsn_orcpt")

    def _changing(self):
        self.message._changing("recipient setter")
        return self._ptr_checked()


# ---------------------------------------------------------------- providers

ProviderInfo = collections.namedtuple("ProviderInfo", "host port tls mechanisms")


def provider(name):
    """A provider's submission settings: ProviderInfo(host, port, tls,
    mechanisms). InvalidArgumentError for an unknown name."""
    host, mechanisms = ctypes.c_char_p(), ctypes.c_char_p()
    port, mode = ctypes.c_uint(), ctypes.c_int()
    _check(_lib.provider_find(_cstr(name, "provider"), ctypes.byref(host), ctypes.byref(port),
                              ctypes.byref(mode), ctypes.byref(mechanisms)),
           f"esmtp_provider_find({name!r})")
    return ProviderInfo(_text(host.value), port.value, _enum(TLS, mode.value), _text(mechanisms.value))


# -------------------------------------------------------------- MIME builder


class Mime:
    """The MIME builder: headers, text and HTML bodies, attachments, inline
    parts. Give it to Session.message(body=...) (the message then owns it) or
    render it with as_bytes(). Keyword arguments: from_, sender, reply_to, to,
    cc, bcc (see add()), subject, text, html, headers (a dict or pairs),
    attachments (paths, or (data, filename[, content_type]) tuples),
    message_id, date, deterministic (a seed), utf8_headers.
    """

    def __init__(self, *, from_=None, sender=None, reply_to=None, to=None, cc=None, bcc=None,
                 subject=None, text=None, html=None, headers=None, attachments=(),
                 message_id=None, date=None, deterministic=None, utf8_headers=None):
        self._ptr = None
        out = ctypes.c_void_p()
        _check(_lib.mime_new(ctypes.byref(out)), "esmtp_mime_new")
        self._ptr = out.value
        self._owner = None         # the Message that owns it once attached
        self._readers = []
        try:
            for field, value in ((Field.FROM, from_), (Field.SENDER, sender),
                                 (Field.REPLY_TO, reply_to), (Field.TO, to), (Field.CC, cc),
                                 (Field.BCC, bcc)):
                if value is not None:
                    self.add(field, value)
            if deterministic is not None:
                self.set_deterministic(deterministic)
            if subject is not None:
                self.set_subject(subject)
            if text is not None:
                self.set_text(text)
            if html is not None:
                self.set_html(html)
            for name, value in (headers.items() if isinstance(headers, dict) else headers or ()):
                self.add_header(name, value)
            for item in attachments:
                if isinstance(item, tuple):
                    self.attach_bytes(*item)
                else:
                    self.attach_file(item)
            if message_id is not None:
                self.set_message_id(message_id)
            if date is not None:
                self.set_date(date)
            if utf8_headers is not None:
                self.set_utf8_headers(utf8_headers)
        except BaseException:
            self.close()
            raise

    # -- lifetime

    def close(self):
        """Frees the builder unless a message owns it (then its session does)."""
        if self._ptr is not None and self._owner is None:
            ptr, self._ptr = self._ptr, None
            _lib.mime_free(ptr)
            for reader in self._readers:
                reader.close()

    def _released(self):
        self._ptr = None
        for reader in self._readers:
            reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _live(self, what):
        if self._ptr is None:
            raise StateError(ErrorCode.ESTATE, f"{what}: the builder is freed")
        if self._owner is not None:
            raise StateError(ErrorCode.ESTATE, f"{what}: the builder belongs to a message now")
        return self._ptr

    def _attach_to(self, message):
        rc = _lib.mime_attach(message._ptr_checked(), self._live("attach"))
        _check(rc, "esmtp_mime_attach")
        self._owner = message
        message._mime = self
        session = weakref.ref(message._session)
        for reader in self._readers:
            reader.session = session
        message._sync_recipients()

    # -- headers

    def add(self, field, addresses):
        """Adds addresses to a field (Field.TO, ...): a str holding an RFC 5322
        list ("A <a@x>, b@y"), a (display_name, addr_spec) tuple, or a list of
        either. Returns self."""
        ptr = self._live("add")
        if isinstance(addresses, (str, tuple)):
            addresses = [addresses]
        for item in addresses:
            if isinstance(item, tuple):
                name, addr = item
                _check(_lib.mime_add_mailbox(ptr, int(field), _cstr(name, "display name"),
                                             _cstr(addr, "address")),
                       f"esmtp_mime_add_mailbox({item!r})")
            else:
                _check(_lib.mime_add_addresses(ptr, int(field), _cstr(item, "address list")),
                       f"esmtp_mime_add_addresses({item!r})")
        return self

    def from_(self, addresses):
        return self.add(Field.FROM, addresses)

    def to(self, addresses):
        return self.add(Field.TO, addresses)

    def cc(self, addresses):
        return self.add(Field.CC, addresses)

    def bcc(self, addresses):
        return self.add(Field.BCC, addresses)

    def reply_to(self, addresses):
        return self.add(Field.REPLY_TO, addresses)

    def _set(self, cfunc, *args):
        _check(getattr(_lib, cfunc)(self._live(cfunc), *args), "esmtp_" + cfunc)
        return self

    def set_subject(self, subject):
        return self._set("mime_set_subject", _cstr(subject, "subject"))

    def set_message_id(self, message_id):
        return self._set("mime_set_message_id", _cstr(message_id, "Message-ID"))

    def set_in_reply_to(self, message_ids):
        return self._set("mime_set_in_reply_to", _cstr(message_ids, "In-Reply-To"))

    def set_references(self, message_ids):
        return self._set("mime_set_references", _cstr(message_ids, "References"))

    def set_date(self, when, utc_offset_minutes=None):
        """An aware datetime, or seconds since the epoch with an offset in
        minutes (default 0)."""
        if isinstance(when, datetime.datetime):
            if when.tzinfo is None:
                when = when.astimezone()
            offset = when.utcoffset()
            minutes = int(offset.total_seconds() // 60) if offset else 0
            return self._set("mime_set_date", int(when.timestamp()), minutes)
        return self._set("mime_set_date", int(when), int(utc_offset_minutes or 0))

    def set_list_unsubscribe(self, mailto_uri=None, https_uri=None, one_click=False):
        return self._set("mime_set_list_unsubscribe", _cstr(mailto_uri), _cstr(https_uri),
                         int(bool(one_click)))

    def add_header(self, name, value):
        """A custom header field (e.g. "X-Mailer"); unstructured UTF-8 text."""
        return self._set("mime_add_header", _cstr(name, "header name"), _cstr(value, "header value"))

    def set_utf8_headers(self, utf8=True):
        return self._set("mime_set_utf8_headers", int(bool(utf8)))

    def set_deterministic(self, seed):
        """Same input, same bytes: for tests."""
        return self._set("mime_set_deterministic", int(seed))

    # -- bodies and parts

    def set_text(self, text):
        data = _data(text, "text")
        return self._set("mime_set_text", data, len(data))

    def set_html(self, html):
        data = _data(html, "html")
        return self._set("mime_set_html", data, len(data))

    def _new_part(self, cfunc, *args):
        out = ctypes.c_void_p()
        _check(getattr(_lib, cfunc)(self._live(cfunc), *args, ctypes.byref(out)), "esmtp_" + cfunc)
        return Part(self, out.value)

    def attachment(self):
        """A new, empty attachment Part: set its content and type."""
        return self._new_part("mime_add_attachment")

    def attach_bytes(self, data, filename=None, content_type=None):
        """An attachment from memory."""
        part = self.attachment().set_data(data)
        return part._describe(filename, content_type)

    def attach_file(self, path, filename=None, content_type=None):
        """An attachment read from a file while sending; its name becomes the
        file name unless filename says otherwise."""
        part = self.attachment().set_file(path)
        return part._describe(filename, content_type)

    def attach_stream(self, source, size=None, filename=None, content_type=None):
        """An attachment read from a file-like object or iterable while sending;
        size is its exact byte count if known."""
        part = self.attachment().set_stream(source, size)
        return part._describe(filename, content_type)

    def inline(self, content_id, data=None, *, path=None, content_type=None, filename=None):
        """An inline part that the HTML refers to as "cid:content_id"."""
        part = self._new_part("mime_add_inline", _cstr(content_id, "Content-ID"))
        if path is not None:
            part.set_file(path)
        elif data is not None:
            part.set_data(data)
        return part._describe(filename, content_type)

    def body(self):
        """The main body Part, for any other structure (build below it with
        Part.add_subpart())."""
        return self._new_part("mime_body")

    # -- output

    def prepare(self, allow_8bit=True):
        """Prepares the rendering; returns (size or None, has_8bit)."""
        size, has_8bit = ctypes.c_uint64(), ctypes.c_int()
        self._set("mime_prepare", int(bool(allow_8bit)), ctypes.byref(size), ctypes.byref(has_8bit))
        return (None if size.value == ESMTP_MIME_SIZE_UNKNOWN else size.value), bool(has_8bit.value)

    def read(self, size=65536):
        """The next bytes of the prepared message; b"" at the end."""
        ptr = self._live("read")
        buf = ctypes.create_string_buffer(size)
        n = _lib.mime_read(ptr, buf, size)
        if n < 0:
            exc = next((r.exc for r in self._readers if r.exc is not None), None)
            for reader in self._readers:
                reader.exc = None
            if exc is not None:
                raise exc
            raise _error(n, "esmtp_mime_read")
        return buf.raw[:n]

    def as_bytes(self, allow_8bit=True):
        """The whole message as esmtp would send it (CRLF, not dot-stuffed)."""
        self.prepare(allow_8bit)
        chunks = []
        while True:
            chunk = self.read()
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


class Part:
    """A MIME body part, owned by its Mime. Setters return the part."""

    def __init__(self, mime, ptr):
        self._mime = mime
        self._ptr = ptr

    def _set(self, cfunc, *args):
        self._mime._live(cfunc)
        _check(getattr(_lib, cfunc)(self._ptr, *args), "esmtp_" + cfunc)
        return self

    def _describe(self, filename, content_type):
        if filename is not None:
            self.set_filename(filename)
        if content_type is not None:
            self.set_type(content_type)
        return self

    def set_data(self, data):
        data = _data(data)
        return self._set("mime_part_set_data", data, len(data))

    def set_file(self, path):
        return self._set("mime_part_set_file", _path(path))

    def set_stream(self, source, size=None):
        reader = _Reader(source)
        try:
            self._set("mime_part_set_read_cb", _read_trampoline,
                      ESMTP_MIME_SIZE_UNKNOWN if size is None else int(size), reader.key)
        except BaseException:
            reader.close()
            raise
        self._mime._readers.append(reader)
        return self

    def set_type(self, content_type):
        return self._set("mime_part_set_type", _cstr(content_type, "content type"))

    def set_charset(self, charset):
        return self._set("mime_part_set_charset", _cstr(charset, "charset"))

    def set_filename(self, filename):
        return self._set("mime_part_set_filename", _cstr(filename, "file name"))

    def set_disposition(self, disposition):
        return self._set("mime_part_set_disposition", int(disposition))

    def set_content_id(self, content_id):
        return self._set("mime_part_set_content_id", _cstr(content_id, "Content-ID"))

    def set_encoding(self, encoding):
        return self._set("mime_part_set_encoding", int(encoding))

    def add_header(self, name, value):
        return self._set("mime_part_add_header", _cstr(name, "header name"),
                         _cstr(value, "header value"))

    def add_subpart(self):
        out = ctypes.c_void_p()
        self._set("mime_part_add_subpart", ctypes.byref(out))
        return Part(self._mime, out.value)


# ------------------------------------------------------------- event loops


def run_all(sessions, poll_timeout_ms=None):
    """Runs several sessions at once on one thread with poll(). Returns, per
    session, None or the exception its run raised (never raises itself)."""
    results = {}
    active = []
    for session in sessions:
        try:
            if session.start():
                active.append(session)
            else:
                results[session] = None
        except BaseException as exc:   # noqa: B036
            results[session] = exc
    while active:
        poller = select.poll()
        timeout = poll_timeout_ms
        for session in active:
            fd, want, left = session.fileno(), session.want(), session.timeout_ms()
            if fd >= 0 and want:
                poller.register(fd, (select.POLLIN if want & Want.READ else 0)
                                | (select.POLLOUT if want & Want.WRITE else 0))
            if left >= 0:
                timeout = left if timeout is None else min(timeout, left)
        events = dict(poller.poll(timeout))
        for session in list(active):
            fd, want = session.fileno(), session.want()
            revents = events.get(fd, 0) if fd >= 0 else 0
            ready = 0
            if revents & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                ready = int(want)
            else:
                if revents & select.POLLIN:
                    ready |= Want.READ
                if revents & select.POLLOUT:
                    ready |= Want.WRITE
            if not ready and session.timeout_ms() != 0:
                continue
            try:
                done = session.process(ready)
            except BaseException as exc:   # noqa: B036
                results[session], done = exc, True
            else:
                if done:
                    results[session] = None
            if done:
                active.remove(session)
    return [results[s] for s in sessions]
