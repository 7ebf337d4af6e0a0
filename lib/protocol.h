/* The SMTP state machine. It does no I/O: the session feeds it the bytes the
 * server sent and asks it for the bytes to send, and it says which phase's
 * timeout applies. It decides every message's and recipient's fate.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_PROTOCOL_H
#define ESMTP_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "datastream.h"
#include "reply.h"

/* The commands whose replies the engine waits for. */
typedef enum cmd_kind {
    CMD_GREETING,
    CMD_EHLO,
    CMD_HELO,
    CMD_MAIL,
    CMD_RCPT,
    CMD_DATA,
    CMD_DOT,
    CMD_BDAT,                   /* rcpt is 1 for BDAT ... LAST */
    CMD_STARTTLS,
    CMD_AUTH,
    CMD_RSET,
    CMD_QUIT
} cmd_kind;

typedef struct pending_reply {
    cmd_kind kind;
    esmtp_message *msg;
    size_t rcpt;                /* the recipient's index, for CMD_RCPT */
    uint64_t sent_by;           /* the reply can come once this much output was sent */
} pending_reply;

/* Per-message transaction state (lives in the message). */
typedef struct txn_state {
    int mail_ok;                /* MAIL FROM was accepted */
    size_t accepted;            /* recipients accepted by RCPT */
    size_t deferred;            /* recipients put off with 452 */
    size_t rcpts_out;           /* RCPT replies still to come */
    int optional_sent;          /* MAIL carried optional parameters */
    int restart;                /* MAIL refused them: send it again without */
    int bdat;                   /* the body goes as BDAT chunks */
    size_t bdat_out;            /* BDAT replies still to come */
    int dummy_dot;              /* 354 came with nobody to deliver to: a lone dot was sent */
    int dot_queued;             /* the end-of-data dot has been queued ... */
    uint64_t body_start;        /* ... and where the body and the dot sit in the output */
    uint64_t dot_end;
} txn_state;

typedef struct extension {
    char *keyword;              /* upper case */
    char *params;
} extension;

typedef struct engine {
    esmtp_session *session;
    reply_parser parser;

    ebuf out;                   /* bytes to send; out.data + out_off is unsent */
    size_t out_off;
    uint64_t queued;            /* bytes ever queued */
    uint64_t sent;              /* bytes ever sent */

    pending_reply *queue;       /* replies awaited, oldest at head */
    size_t qhead;
    size_t qlen;
    size_t qcap;
    int unsolicited;            /* the reply being read began while none was due */

    extension *ext;
    size_t ext_count;
    int pipelining;             /* negotiated */
    int chunking;               /* BDAT instead of DATA */
    char *bdat_buf;             /* one chunk of body, BODY_CHUNK bytes */

    size_t next_msg;            /* index of the next message to consider */
    esmtp_message *cur;         /* the transaction that blocks new commands */
    esmtp_message *body_msg;    /* the message whose body is being sent or was last */
    datastream ds;
    int in_body;
    uint64_t body_reported;     /* body bytes announced by ESMTP_EVENT_BODY_BYTES */
    int need_rset;
    int quit_sent;
    size_t followups;           /* messages waiting for a follow-up transaction */

    enum { STARTTLS_NO, STARTTLS_OPTIONAL, STARTTLS_REQUIRED } starttls;
    int tls_active;             /* the connection is encrypted */
    int starttls_go;            /* STARTTLS was accepted: the session must start TLS */

    struct sasl_client *sasl;   /* the AUTH exchange under way */
    int authenticated;
    int auth_cancelled;         /* a bad challenge was answered with "*" */

    int done;                   /* the session is over: close the connection */
    int error;                  /* 0, or why the session ended early */
} engine;

/* Prepares the engine for a new connection. Returns 0 or ESMTP_ENOMEM. */
int engine_init(engine *e, esmtp_session *s);
void engine_free(engine *e);

/* The connection is up: wait for the greeting. Returns 0 or ESMTP_ENOMEM. */
int engine_connected(engine *e);

/* Bytes from the server. Returns 0, or the error that ended the session
 * (e->done is then set and every message has its final status). */
int engine_recv(engine *e, const char *data, size_t len);

/* The bytes waiting to be sent (the body is produced here, in bounded
 * chunks). Returns 0 or an error that ended the session. */
int engine_output(engine *e, const char **data, size_t *len);

/* n bytes of the output were sent. Returns 0 or an error (a callback). */
int engine_sent(engine *e, size_t n);

/* The connection ended (end of stream, I/O error) or the phase timed out:
 * reason is ESMTP_EIO or ESMTP_ETIMEOUT. Decides every unfinished message's
 * fate. Returns e->error afterwards. */
int engine_closed(engine *e, int reason, const char *why);

/* The TLS handshake after STARTTLS succeeded: forget the extensions and
 * say EHLO again. Returns 0 or ESMTP_ENOMEM. */
int engine_tls_started(engine *e);

/* Whether the engine has bytes to send. */
int engine_wants_write(const engine *e);

/* Which timeout applies to what the engine is waiting for now. */
esmtp_timeout engine_phase(const engine *e);

/* The server's parameters for an EHLO keyword, or NULL if not offered. */
const char *engine_extension(const engine *e, const char *keyword);

#endif
