"""ESMTP extensions for the recorder's extension listeners (recorder.py).

Mixins for recorder.RecordingSMTP (aiosmtpd's SMTP):

ExtendedSMTP
    Its own EHLO, MAIL and RCPT, so that it can offer and check the
    parameters of SMTPUTF8 (RFC 6531), DSN (RFC 3461), BINARYMIME and
    CHUNKING (RFC 3030), DELIVERBY (RFC 2852), MT-PRIORITY (RFC 6710) and
    REQUIRETLS (RFC 8689), plus BDAT and ENHANCEDSTATUSCODES (RFC 2034).
    Which of them a listener offers is its `features`; a parameter of an
    extension not offered gets 555.  Parameters are recorded as sent.
RefuseMailParameters
    "501 5.5.4 Invalid MAIL FROM parameters" to any MAIL with parameters.
SizeParameterOnly
    555 to every MAIL parameter but SIZE (for a listener offering neither
    8BITMIME nor SMTPUTF8).

Only aiosmtpd 1.4.3 (Debian 12) is known to work: this uses its internals
(_reader, _getaddr, _call_handler_hook, _set_post_data_state).
"""

import re

from aiosmtpd.smtp import Envelope, syntax

SIZE_EXCEEDED = "552 5.3.4 Message size exceeds fixed maximum message size"
BAD_UTF8 = "500 5.5.2 Error: bad UTF-8 syntax"
NEED_SMTPUTF8 = "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
REQUIRETLS_NEEDS_TLS = "530 5.7.10 REQUIRETLS needs TLS"
BDAT_SYNTAX = "521 5.5.4 Syntax: BDAT <size> [LAST]"
MAIL_SYNTAX = "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]"
RCPT_SYNTAX = "501 5.5.4 Syntax: RCPT TO:<address> [parameters]"

# EHLO keywords in the order they are offered; the values are their parameters.
KEYWORDS = {
    "PIPELINING": None,
    "SIZE": "size",              # the listener's data_size_limit
    "8BITMIME": None,
    "SMTPUTF8": None,
    "ENHANCEDSTATUSCODES": None,
    "DSN": None,
    "CHUNKING": None,
    "BINARYMIME": None,
    "DELIVERBY": "86400",        # min-by-time in seconds
    "MT-PRIORITY": "MIXER",      # the priority assignment policy
    "STARTTLS": None,            # only before TLS (and only with a tls_context)
    "REQUIRETLS": None,          # only after TLS
}

ESMTP_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# esmtp-value (RFC 5321), or with SMTPUTF8 any UTF-8 but space and controls (RFC 6531)
ESMTP_VALUE = re.compile(r"[^\x00-\x20=\x7f]+")
XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")           # RFC 3461 4
ADDR_TYPE = re.compile(r"[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+")        # atom, no "="
# RFC 6533 utf-8-addr-xtext / -unitext: QCHAR, non-ASCII UTF-8, or \x{HEX}
UTF8_ADDR_TEXT = re.compile(r"(?:[!-*,-<>-\[\]-~]|[^\x00-\x7f]|\\x\{[0-9A-Fa-f]{2,6}\})+")
BY_VALUE = re.compile(r"[+-]?[0-9]{1,9};[NR]T?", re.I)            # RFC 2852 4
MT_PRIORITY_VALUE = re.compile(r"[+-]?[0-9]")                    # RFC 6710 3: -9..9
BDAT_ARG = re.compile(r"([0-9]{1,18})(?: +(LAST))?", re.I)
ENHANCED_CODE = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}(?: |$)")

# ENHANCEDSTATUSCODES: the code added to aiosmtpd's own replies that lack one
DEFAULT_ENHANCED = {
    "500": "5.5.2", "501": "5.5.4", "502": "5.5.1", "503": "5.5.1", "504": "5.5.4",
    "530": "5.7.0", "538": "5.7.11", "552": "5.3.4", "555": "5.5.4",
}
# aiosmtpd's own texts that these listeners say differently
REPLACED_REPLIES = {
    "552 Error: Too much mail data": SIZE_EXCEEDED,
}


def with_enhanced_code(status):
    """'503 Error: need RCPT command' -> '503 5.5.1 Error: need RCPT command'"""
    code, sep, text = status[:3], status[3:4], status[4:]
    if not code.isdigit() or code[0] not in "245" or sep not in (" ", "-", "") \
            or "\n" in status or ENHANCED_CODE.match(text):
        return status
    enhanced = DEFAULT_ENHANCED.get(code, code[0] + ".0.0")
    return f"{code}{sep or ' '}{enhanced} {text}" if text else f"{code} {enhanced}"


def split_params(text):
    """['KEY=value', ...] -> [(KEY, value or None, token)], or None if malformed."""
    params = []
    for token in text.split():
        keyword, eq, value = token.partition("=")
        if not ESMTP_KEYWORD.fullmatch(keyword) or (eq and not ESMTP_VALUE.fullmatch(value)):
            return None
        params.append((keyword.upper(), value if eq else None, token))
    return params


def non_ascii(text):
    return any(ord(c) > 127 for c in text)


def bad_utf8(text):
    # aiosmtpd decodes arguments with surrogateescape: invalid bytes are lone surrogates
    return any("\udc80" <= c <= "\udcff" for c in text)


def valid_orcpt(value):
    addr_type, semi, address = value.partition(";")
    if not semi or not ADDR_TYPE.fullmatch(addr_type) or not address:
        return False
    if addr_type.lower() == "utf-8":             # RFC 6533 utf-8-addr-xtext / -unitext
        return UTF8_ADDR_TEXT.fullmatch(address) is not None
    return XTEXT.fullmatch(address) is not None


def valid_notify(value):
    words = value.upper().split(",")
    if words == ["NEVER"]:
        return True
    return len(set(words)) == len(words) and set(words) <= {"SUCCESS", "FAILURE", "DELAY"}


class MailNotes:
    """What the parameters of one MAIL command asked for (kept if MAIL succeeds)."""

    def __init__(self):
        self.body = "7BIT"
        self.smtp_utf8 = False
        self.requiretls = False

    def apply(self, envelope):
        envelope.body = self.body
        envelope.smtp_utf8 = self.smtp_utf8
        envelope.requiretls = self.requiretls


class ExtendedEnvelope(Envelope):
    def __init__(self):
        super().__init__()
        self.body = "7BIT"
        self.requiretls = False
        self.chunks = None          # list of BDAT chunks once the first one came
        self.chunk_total = 0
        self.bdat_error = None      # the reply that every further chunk gets
        self.multiline = False      # a "multiline..." recipient: two-line BDAT replies


class ExtendedSMTP:
    """Mixin (before recorder.RecordingSMTP) for a listener that offers the
    EHLO keywords named in `features` (see KEYWORDS)."""

    def __init__(self, handler, *, features, **kwargs):
        features = frozenset(features)
        unknown = features - KEYWORDS.keys()
        assert not unknown, f"unknown features {unknown}"
        self.features = features
        super().__init__(handler, enable_SMTPUTF8="SMTPUTF8" in features, **kwargs)
        # RFC 3461 4: MAIL +100 (ENVID), RCPT +500 (NOTIFY, ORCPT); the others
        # add a few more: allow 1024 octets each (aiosmtpd's reader cuts at 1001
        # unless told otherwise; DATA still checks message lines against 1001).
        self.command_size_limits = _Limits(self.command_size_limit, MAIL=1024, RCPT=1024)

    def _client_connected_cb(self, reader, writer):
        super()._client_connected_cb(reader, writer)
        reader._limit = max(reader._limit, 1026)

    def _create_envelope(self):
        return ExtendedEnvelope()

    def offers(self, feature):
        return feature in self.features

    def ehlo_keywords(self):
        tls = self._tls_protocol is not None
        keywords = []
        for name, value in KEYWORDS.items():
            if name not in self.features:
                continue
            if name == "STARTTLS" and (tls or not self.tls_context):
                continue
            if name == "REQUIRETLS" and not tls:
                continue
            if value == "size":
                if not self.data_size_limit:
                    continue
                value = str(self.data_size_limit)
            keywords.append(f"{name} {value}" if value else name)
        return keywords

    def enhanced_codes(self):
        """Whether replies must carry enhanced status codes (RFC 2034: after EHLO)."""
        return self.session.extended_smtp and self.offers("ENHANCEDSTATUSCODES")

    async def push(self, status, raw=False):
        if isinstance(status, str) and not raw and self.session.extended_smtp:
            status = REPLACED_REPLIES.get(status, status)
            if self.enhanced_codes():
                status = with_enhanced_code(status)
        await super().push(status)

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname):
        if not hostname:
            await self.push("501 Syntax: EHLO hostname", raw=True)
            return
        self._set_rset_state()
        self.session.extended_smtp = True
        self.session.host_name = hostname
        lines = [self.hostname] + self.ehlo_keywords() + ["HELP"]
        text = "\r\n".join(f"250-{line}" for line in lines[:-1]) + f"\r\n250 {lines[-1]}"
        await self.push(text, raw=True)

    def in_bdat(self):
        return self.envelope.chunks is not None or self.envelope.bdat_error is not None

    def parse_path(self, arg, keyword):
        """(address, [(KEY, value, token)]) of 'FROM:<a@b> K=V ...', or None."""
        if arg is None:
            return None
        rest = self._strip_command_keyword(keyword, arg)
        if rest is None:
            return None
        address, params = self._getaddr(rest)
        if not address:
            return None
        params = split_params(params or "")
        if params is None or (params and not self.session.extended_smtp):
            return None
        return address, params

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_MAIL(self, arg):
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("MAIL"):
            return
        if arg and bad_utf8(arg):
            return await self.push(BAD_UTF8)
        if self.envelope.mail_from:
            return await self.push("503 5.5.1 Error: nested MAIL command")
        parsed = self.parse_path(arg, "FROM:")
        if parsed is None:
            return await self.push(MAIL_SYNTAX)
        address, params = parsed
        notes = MailNotes()
        seen = set()
        for keyword, value, token in params:
            if keyword in seen:
                return await self.push(f"501 5.5.4 Duplicate {keyword} parameter")
            seen.add(keyword)
            status = self.check_mail_parameter(keyword, value, token, notes)
            if status:
                return await self.push(status)
        if non_ascii(address) and not notes.smtp_utf8:
            return await self.push(NEED_SMTPUTF8)
        self.raw_arg = arg
        options = [token.upper() for _, _, token in params]
        status = await self._call_handler_hook("MAIL", address, options)
        if status == "250 OK" and self.enhanced_codes():
            status = "250 2.1.0 OK"
        if status.startswith("250"):
            notes.apply(self.envelope)
        else:
            self._set_rset_state()   # the hook may have filled the envelope in
        await self.push(status)

    def check_mail_parameter(self, keyword, value, token, notes):
        """None if KEYWORD=value is fine (and noted in NOTES), else the reply."""
        unsupported = f"555 5.5.4 Unsupported option: {token}"
        bad = f"501 5.5.4 Bad {keyword} parameter: {token}"
        if keyword == "SIZE" and self.offers("SIZE"):
            if value is None or not value.isascii() or not value.isdigit() or len(value) > 20:
                return bad
            if self.data_size_limit and int(value) > self.data_size_limit:
                return SIZE_EXCEEDED
        elif keyword == "BODY" and (self.offers("8BITMIME") or self.offers("BINARYMIME")):
            body = (value or "").upper()
            allowed = {"7BIT"}
            if self.offers("8BITMIME"):
                allowed.add("8BITMIME")
            if self.offers("BINARYMIME"):
                allowed.add("BINARYMIME")
            if body not in allowed:
                return unsupported if body in ("8BITMIME", "BINARYMIME") else bad
            notes.body = body
        elif keyword == "SMTPUTF8" and self.offers("SMTPUTF8"):
            if value is not None:
                return bad
            notes.smtp_utf8 = True
        elif keyword == "RET" and self.offers("DSN"):
            if (value or "").upper() not in ("FULL", "HDRS"):
                return bad
        elif keyword == "ENVID" and self.offers("DSN"):
            if value is None or len(value) > 100 or not XTEXT.fullmatch(value):
                return bad
        elif keyword == "BY" and self.offers("DELIVERBY"):
            if value is None or not BY_VALUE.fullmatch(value):
                return bad
        elif keyword == "MT-PRIORITY" and self.offers("MT-PRIORITY"):
            if value is None or not MT_PRIORITY_VALUE.fullmatch(value):
                return bad
        elif keyword == "REQUIRETLS" and self.offers("REQUIRETLS"):
            if value is not None:
                return bad
            if self._tls_protocol is None:
                return REQUIRETLS_NEEDS_TLS
            notes.requiretls = True
        else:
            return unsupported
        return None

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg):
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("RCPT"):
            return
        if not self.envelope.mail_from:
            return await self.push("503 5.5.1 Error: need MAIL command")
        if self.in_bdat():
            return await self.push("503 5.5.1 Error: RCPT after BDAT")
        if arg and bad_utf8(arg):
            return await self.push(BAD_UTF8)
        parsed = self.parse_path(arg, "TO:")
        if parsed is None:
            return await self.push(RCPT_SYNTAX)
        address, params = parsed
        seen = set()
        for keyword, value, token in params:
            if keyword in seen:
                return await self.push(f"501 5.5.4 Duplicate {keyword} parameter")
            seen.add(keyword)
            bad = f"501 5.5.4 Bad {keyword} parameter: {token}"
            if keyword == "NOTIFY" and self.offers("DSN"):
                if value is None or not valid_notify(value):
                    return await self.push(bad)
            elif keyword == "ORCPT" and self.offers("DSN"):
                if value is None or not valid_orcpt(value):
                    return await self.push(bad)
            else:
                return await self.push(f"555 5.5.4 Unsupported option: {token}")
        if non_ascii(address) and not self.envelope.smtp_utf8:
            return await self.push(NEED_SMTPUTF8)
        self.raw_arg = arg
        options = [token.upper() for _, _, token in params]
        status = await self._call_handler_hook("RCPT", address, options)
        if status == "250 OK":
            if self.enhanced_codes():
                status = "250 2.1.5 OK"
            local = address.rpartition("@")[0] if "@" in address else address
            if local.lower().startswith("multiline"):
                self.envelope.multiline = True
        await self.push(status)

    @syntax("DATA")
    async def smtp_DATA(self, arg):
        envelope = self.envelope
        if envelope.mail_from and envelope.rcpt_tos and not arg:
            if self.in_bdat():
                return await self.push("503 5.5.1 Error: DATA after BDAT")
            if envelope.body == "BINARYMIME":
                return await self.push("503 5.5.1 Error: BODY=BINARYMIME needs BDAT, not DATA")
        await super().smtp_DATA(arg)

    @syntax("BDAT <size> [LAST]", when="chunking")
    async def smtp_BDAT(self, arg):
        if not self.offers("CHUNKING"):
            return await self.push('500 Error: command "BDAT" not recognized')
        match = BDAT_ARG.fullmatch(arg or "")
        if not match:
            # The chunk's length is unknown, so its octets cannot be skipped:
            # like Postfix, hang up.
            await self.push(BDAT_SYNTAX)
            self.transport.close()
            return
        size, last = int(match[1]), match[2] is not None
        envelope = self.envelope
        if not self.session.extended_smtp:       # no EHLO (or HELO): no CHUNKING
            error = "503 5.5.1 Error: send EHLO first"
        elif not envelope.mail_from:
            error = "503 5.5.1 Error: need MAIL command"
        elif envelope.bdat_error:
            error = envelope.bdat_error
        elif not envelope.rcpt_tos:
            error = "503 5.5.1 Error: need RCPT command"
        elif self.data_size_limit and envelope.chunk_total + size > self.data_size_limit:
            error = SIZE_EXCEEDED
        else:
            error = None
        # The octets follow the command whatever the verdict: read them all.
        chunk = await self.read_chunk(size, keep=error is None)
        if chunk is None:
            return
        multiline = envelope.multiline
        if error:
            if envelope.mail_from:
                envelope.bdat_error = error
                envelope.chunks = None
            status = error
        else:
            if envelope.chunks is None:
                envelope.chunks = []
            envelope.chunks.append(chunk)
            envelope.chunk_total += size
            status = "250 2.0.0 OK"
            if last:
                content = b"".join(envelope.chunks)
                envelope.chunks = []
                envelope.original_content = content
                envelope.content = content
                status = await self._call_handler_hook("DATA")
        if last and (envelope.mail_from or envelope.rcpt_tos):
            self._set_post_data_state()          # BDAT LAST always ends the transaction
        await self.push(bdat_reply(status, size, multiline))

    @property
    def chunking(self):
        return self.offers("CHUNKING")

    async def read_chunk(self, size, keep):
        """The next SIZE octets (b"" if not KEEP), or None if the client left."""
        parts = []
        left = size
        while left:
            piece = await self._reader.read(min(left, 65536))
            if not piece:
                return None
            left -= len(piece)
            if keep:
                parts.append(piece)
            self._reset_timeout()
        return b"".join(parts)


def bdat_reply(status, size, multiline):
    """The reply to one BDAT of SIZE octets whose outcome is STATUS ("250 2.0.0 OK",
    the DATA hook's "250 2.0.0 OK id=..." or an error)."""
    code, _, rest = status.partition(" ")
    enhanced, _, text = rest.partition(" ")
    if not ENHANCED_CODE.match(enhanced + " "):
        enhanced, text = DEFAULT_ENHANCED.get(code, code[0] + ".0.0"), rest
        status = f"{code} {enhanced} {text}"
    if multiline:                                # Exim style: always two lines
        return f"{code}-{enhanced} {size} octets received\r\n{status}"
    if code != "250":
        return status
    if text == "OK":
        return f"250 {enhanced} {size} octets received"
    return f"250 {enhanced} {size} octets received, {text}"


class _Limits(dict):
    """command_size_limits: per-command limits with a default."""

    def __init__(self, default, **limits):
        super().__init__(limits)
        self.default = default

    def __missing__(self, key):
        return self.default


class RefuseMailParameters:
    """Mixin (before recorder.RecordingSMTP): 501 to MAIL with any parameter."""

    async def smtp_MAIL(self, arg):
        if self.session.host_name and arg:
            rest = self._strip_command_keyword("FROM:", arg)
            if rest is not None:
                address, params = self._getaddr(rest)
                if address and params and params.strip():
                    return await self.push("501 5.5.4 Invalid MAIL FROM parameters")
        await super().smtp_MAIL(arg)


class SizeParameterOnly:
    """Mixin (before recorder.RecordingSMTP): 555 to MAIL parameters but SIZE."""

    async def smtp_MAIL(self, arg):
        if self.session.host_name and arg:
            rest = self._strip_command_keyword("FROM:", arg)
            if rest is not None:
                address, params = self._getaddr(rest)
                for token in (params or "").split() if address else ():
                    if token.partition("=")[0].upper() != "SIZE":
                        return await self.push(
                            "555 MAIL FROM parameters not recognized or not implemented")
        await super().smtp_MAIL(arg)
