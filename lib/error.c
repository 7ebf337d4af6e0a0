/* Error strings, status names and the run-time version. SPDX-License-Identifier: MIT */
#include <esmtp/esmtp.h>

const char *esmtp_strerror(int error)
{
    switch (error) {
    case ESMTP_OK: return "success";
    case ESMTP_EINVAL: return "invalid argument";
    case ESMTP_ENOMEM: return "out of memory";
    case ESMTP_ESTATE: return "not allowed in the session's current state";
    case ESMTP_ERESOLVE: return "the server's name could not be resolved";
    case ESMTP_ECONNECT: return "could not connect to the server";
    case ESMTP_ETIMEOUT: return "the server did not answer in time";
    case ESMTP_EIO: return "the connection failed or was closed";
    case ESMTP_EPROTO: return "the server broke the SMTP protocol";
    case ESMTP_EREFUSED: return "the server refused the session";
    case ESMTP_ESERVICE: return "the server closed the session (421)";
    case ESMTP_ECALLBACK: return "a callback aborted the session";
    case ESMTP_EBARENEWLINE: return "the body has a bare CR or LF";
    case ESMTP_E8BIT: return "the body has 8-bit bytes but the server does not offer 8BITMIME";
    case ESMTP_EREAD: return "the body could not be read";
    case ESMTP_ENOMESSAGE: return "there is no message to send";
    case ESMTP_ETOOBIG: return "the message exceeds the server's size limit";
    case ESMTP_ETLS: return "the TLS connection failed";
    case ESMTP_ECERT: return "the server's certificate failed verification";
    case ESMTP_ENOTLS: return "TLS is required but the server does not offer it";
    case ESMTP_ETLSMODE: return "the port speaks the other TLS mode (implicit TLS or STARTTLS)";
    case ESMTP_EAUTH: return "authentication failed";
    case ESMTP_ENOMECH: return "no usable authentication mechanism";
    }
    return "unknown error";
}

const char *esmtp_status_name(esmtp_status status)
{
    switch (status) {
    case ESMTP_STATUS_PENDING: return "pending";
    case ESMTP_STATUS_OK: return "ok";
    case ESMTP_STATUS_TEMPFAIL: return "tempfail";
    case ESMTP_STATUS_PERMFAIL: return "permfail";
    case ESMTP_STATUS_UNKNOWN: return "unknown";
    }
    return "invalid";
}

const char *esmtp_version(void)
{
    return ESMTP_VERSION_STRING;
}

unsigned int esmtp_version_num(void)
{
    return ESMTP_VERSION_NUM;
}
