/* The SMTP engine. It does no I/O and knows nothing of the session above
 * it: the driver feeds it the bytes the server sent, asks it for the bytes
 * to send, and asks which phase's timeout applies; the engine decides every
 * message's and recipient's fate and reports through the callbacks given
 * at creation (nghttp2's model). SPDX-License-Identifier: MIT */
#ifndef ESMTP_PROTOCOL_H
#define ESMTP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "datastream.h"
#include "ehlo.h"
#include "message.h"
#include "reply.h"
#include "sasl.h"

/* How the connection is to be secured. */
typedef enum engine_tls {
    ENGINE_TLS_NONE,
    ENGINE_TLS_IMPLICIT,        /* the connection is TLS from the start */
    ENGINE_STARTTLS_OPTIONAL,   /* STARTTLS when offered, else in clear */
    ENGINE_STARTTLS_REQUIRED    /* STARTTLS or nothing */
} engine_tls;

/* The run's settings, copied by engine_init. The strings are borrowed: they
 * must stay valid and unchanged until engine_free. */
typedef struct engine_config {
    engine_tls tls;
    int pipelining;             /* allowed, when the server offers it */
    int chunking;               /* BDAT allowed, when the server offers it (and PIPELINING) */
    int want_auth;              /* log in before sending mail */
    const char *auth_mechs;     /* the caller's mechanism list, or NULL: any */
    int allow_plaintext_auth;   /* mechanisms that reveal the password without TLS */
    int show_secrets;           /* the transcript shows AUTH data unredacted */
    int trace_phases;           /* the transcript notes every phase change */
} engine_config;

/* The callbacks through which the engine reports and asks; ud is given to
 * each. */
typedef struct engine_ops {
    /* A progress event; non-zero aborts the session (ESMTP_ECALLBACK). */
    int (*event)(void *ud, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                 uint64_t bytes);
    /* A transcript line (without CRLF); may be NULL. */
    void (*transcript)(void *ud, esmtp_direction dir, const char *line, size_t len);
    /* AUTH is about to start: fill in the credentials (strings borrowed
     * until the call returns with AUTH started), the tls-exporter channel
     * binding into cb (then set creds->cb_data to it) if there is one, and
     * an OAuth token into token (cap bytes) if there is one. Returns 0 or
     * ESMTP_ECALLBACK. */
    int (*credentials)(void *ud, sasl_creds *creds, unsigned char cb[32], char *token,
                       size_t cap);
} engine_ops;

/* The commands whose replies the engine waits for. */
typedef enum cmd_kind {
    CMD_GREETING,
    CMD_EHLO,
    CMD_HELO,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_DOT,
    CMD_BDAT,
    CMD_STARTTLS,
    CMD_AUTH,
    CMD_RSET,
    CMD_QUIT
} cmd_kind;

typedef struct pending_reply {
    cmd_kind kind;
    esmtp_message *msg;
    size_t rcpt;                /* the recipient's index, for CMD_RCPT */
    int last;                   /* BDAT ... LAST */
    uint64_t sent_by;           /* the reply can come once this much output was sent */
} pending_reply;

/* Where the connection stands. Changed only by set_phase() in protocol.c. */
typedef enum conn_phase {
    CONN_IDLE,                  /* not connected yet */
    CONN_GREETING,              /* waiting for the greeting */
    CONN_HELLO,                 /* EHLO or HELO sent */
    CONN_STARTTLS,              /* STARTTLS sent */
    CONN_TLS,                   /* STARTTLS accepted: the driver runs the handshake */
    CONN_AUTH,                  /* an AUTH exchange is under way */
    CONN_AUTH_CANCELLED,        /* a bad challenge was answered with "*" */
    CONN_MAIL,                  /* transactions */
    CONN_QUIT,                  /* QUIT sent: nothing is at stake any more */
    CONN_DONE                   /* over: close the connection */
} conn_phase;

typedef struct engine {
    engine_config cfg;
    engine_ops ops;
    void *ud;
    esmtp_message *const *msgs; /* the run's messages, in order */
    size_t nmsgs;
    char *helo;                 /* the name EHLO gives */

    conn_phase phase;
    reply_parser parser;
    int unsolicited;            /* the reply being read began while none was due */

    ebuf out;                   /* bytes to send; out.data + out_off is unsent */
    size_t out_off;
    uint64_t queued;            /* bytes ever queued */
    uint64_t sent;              /* bytes ever sent */

    pending_reply *queue;       /* replies awaited, oldest at head */
    size_t qhead;
    size_t qlen;
    size_t qcap;

    ehlo_caps caps;             /* what the last EHLO offered */
    ehlo_caps clear_caps;       /* what EHLO offered before STARTTLS: kept, as the
                                   strings handed out live until engine_free */
    int tls_active;             /* the connection is encrypted */
    int pipelining;             /* negotiated */
    int chunking;               /* BDAT instead of DATA */
    char *bdat_buf;             /* one chunk of body, BODY_CHUNK bytes */

    size_t next_msg;            /* index of the next message to consider */
    esmtp_message *cur;         /* the transaction that blocks new commands */
    esmtp_message *body_msg;    /* the message whose body is being sent or was last */
    datastream ds;
    uint64_t body_reported;     /* body bytes announced by ESMTP_EVENT_BODY_BYTES */
    int need_rset;
    size_t followups;           /* messages waiting for a follow-up transaction */

    sasl_client *sasl;          /* the AUTH exchange under way */

    ebuf greeting;              /* the greeting's text, once it came */
    int has_greeting;
    ebuf detail;                /* why the session ended early, or "" */
    int fail_code;              /* the reply that ended it, or 0 */
    char fail_enhanced[16];
    int error;                  /* 0, or why the session ended early */
} engine;

/* Prepares an engine for one connection that sends msgs (borrowed; the
 * array and messages must outlive the engine). ops and cfg are copied.
 * Returns 0. */
int engine_init(engine *e, const engine_config *cfg, const engine_ops *ops, void *ud,
                esmtp_message *const *msgs, size_t nmsgs);
/* Frees what the engine holds; a zeroed engine may be freed too. */
void engine_free(engine *e);

/* The connection is up: wait for the greeting, then say EHLO helo (copied).
 * Returns 0 or ESMTP_ENOMEM. */
int engine_connected(engine *e, const char *helo);

/* Bytes from the server. Returns 0, or the error that ended the session
 * (engine_done() is then true and every message has its final status). */
int engine_recv(engine *e, const char *data, size_t len);

/* The bytes waiting to be sent (the body is produced here, in bounded
 * chunks); *data stays valid until the next call into the engine. Returns
 * 0 or an error that ended the session. */
int engine_output(engine *e, const char **data, size_t *len);

/* n bytes of the output were sent. Returns 0 or an error (a callback). */
int engine_sent(engine *e, size_t n);

/* The connection ended (end of stream, I/O error) or the phase timed out:
 * reason is ESMTP_EIO, ESMTP_ETIMEOUT or the driver's own error. Decides
 * every unfinished message's fate. Returns engine_error() afterwards. */
int engine_closed(engine *e, int reason, const char *why);

/* The TLS handshake after STARTTLS succeeded: forget the extensions and
 * say EHLO again. Returns 0 or ESMTP_ENOMEM. */
int engine_tls_started(engine *e);

/* Whether the engine has bytes to send. */
int engine_wants_write(const engine *e);

/* Which timeout applies to what the engine is waiting for now. */
esmtp_timeout engine_phase(const engine *e);

/* The queries a driver reads the engine's state by. */
int engine_done(const engine *e);           /* over: close the connection */
int engine_wants_tls(const engine *e);      /* STARTTLS accepted: start the handshake */
int engine_tls_active(const engine *e);
int engine_error(const engine *e);          /* 0, or why the session ended early */
/* Why the session ended early ("" when it did not); valid until the
 * engine is initialised again or freed, as are the strings below. */
const char *engine_detail(const engine *e);
int engine_fail_code(const engine *e);      /* the reply that ended it, or 0 */
const char *engine_fail_enhanced(const engine *e);
const char *engine_greeting(const engine *e); /* NULL before the greeting */

/* The server's parameters for an EHLO keyword, or NULL if not offered. */
const char *engine_extension(const engine *e, const char *keyword);
/* The keywords offered, in the server's order. */
size_t engine_extension_count(const engine *e);
const char *engine_extension_name(const engine *e, size_t index);

/* Changes whether the transcript shows AUTH data unredacted (the one
 * setting that may change during a run). */
void engine_show_secrets(engine *e, int show);

#endif
