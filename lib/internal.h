/* The structures behind the public opaque handles, shared by the session,
 * message and protocol layers. Not installed. SPDX-License-Identifier: MIT */
#ifndef ESMTP_INTERNAL_H
#define ESMTP_INTERNAL_H

#include <stdint.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "protocol.h"
#include "tls.h"
#include "transport.h"

/* The fate of a message or recipient and the reply that decided it. */
typedef struct outcome {
    esmtp_status status;
    int code;
    char enhanced[16];
    char *text;
} outcome;

/* Records an outcome; returns 0 or ESMTP_ENOMEM (the status is set even
 * then, with an empty text). */
int outcome_set(outcome *o, esmtp_status status, int code, const char *enhanced,
                const char *text);
void outcome_free(outcome *o);

struct esmtp_recipient {
    esmtp_message *message;
    char *mailbox;
    outcome result;
    int notify;                  /* ESMTP_NOTIFY_* flags, 0: not asked */
    int deferred;                /* 452 in this transaction: try in the next */
    char *orcpt;                 /* original recipient for DSNs, or NULL */
};

struct esmtp_message {
    esmtp_session *session;
    char *reverse_path;          /* NULL until set */
    esmtp_recipient **rcpts;
    size_t nrcpts;
    size_t rcpts_cap;

    int body_set;
    unsigned char *body;         /* copied body, when not streamed */
    size_t body_len;
    uint64_t body_size;          /* body measured once, when set: its size, */
    int body_8bit;               /* whether it has 8-bit bytes, */
    int body_verbatim;           /* and whether it goes out unchanged */
    esmtp_read_cb read_cb;
    void *read_ud;
    esmtp_rewind_cb rewind_cb;   /* NULL: a streamed body goes out once only */
    int body_started;            /* the body has been read before */
    uint64_t declared_size;      /* what the caller said of a streamed body */
    int size_declared;
    int declared_8bit;
    uint64_t size;               /* what MAIL announces: measured, or declared */
    int size_known;
    int has_8bit;
    esmtp_newline_policy newline_policy;
    /* Called once the server's extensions are known, before MAIL; may set
     * the body and its declarations. Returns 0 or an ESMTP_E* code. */
    int (*prepare)(esmtp_message *m, void *ud);
    void *prepare_ud;
    void (*prepare_free)(void *ud); /* frees prepare_ud with the message, or NULL */

    esmtp_dsn_ret dsn_ret;
    char *dsn_envid;
    int dsn_required;
    int requiretls;
    long deliver_by;             /* seconds, 0: not asked */
    int deliver_by_return;
    int priority;                /* -9..9, 0: not asked */
    int utf8_headers;
    int binary;                  /* BINARYMIME: sent exactly as given */
    int plain_mail;              /* the server refused MAIL's optional parameters:
                                    send them no more */
    int followup;                /* recipients wait for another transaction */
    int use_smtputf8;            /* decided before MAIL for this server */
    int use_dsn;

    outcome result;
    txn_state txn;               /* the protocol engine's per-transaction state */
};

enum session_state {
    SESSION_IDLE = 0,
    SESSION_CONNECTING,
    SESSION_RUNNING,
    SESSION_DONE
};

struct esmtp_session {
    char *host;
    ebuf host_ascii;             /* host with A-labels, for the run */
    unsigned int port;
    char *helo_name;             /* NULL: chosen when connected */
    unsigned int timeouts[ESMTP_TIMEOUT_ALL];
    int pipelining;
    int chunking;

    esmtp_tls_mode tls_mode;
    tls_config tls_cfg;          /* its strings are owned by the session */

    char *auth_user;             /* NULL: no AUTH */
    char *auth_password;         /* wiped when replaced or freed */
    char *auth_mechs;            /* the caller's list, or NULL */
    int auth_plaintext;
    esmtp_token_cb token_cb;
    void *token_ud;
    int show_secrets;

    esmtp_progress_cb progress_cb;
    void *progress_ud;
    esmtp_error_cb error_cb;
    void *error_ud;
    esmtp_transcript_cb transcript_cb;
    void *transcript_ud;

    esmtp_message **msgs;
    size_t nmsgs;
    size_t msgs_cap;

    ebuf detail;
    int fail_code;               /* the reply that ended the session early, or 0 */
    char fail_enhanced[16];
    ebuf greeting;
    int has_greeting;

    enum session_state state;
    int connected;
    const char *helo;            /* helo_name, or helo_auto when none was set */
    char helo_auto[300];
    int result;                  /* the run's result once SESSION_DONE */
    transport tr;
    engine eng;
    uint64_t deadline_ms;        /* monotonic; 0 when no timeout runs */
    uint64_t silence_ms;         /* when a silent server counts as speaking TLS, or 0 */
    int got_bytes;               /* the server has sent something */

    tls_conn *tls;               /* NULL while the connection is in clear */
    int tls_handshaking;
    size_t tls_out_off;          /* sent part of tls_output() */
    size_t tls_plain_pending;    /* plaintext encrypted but not yet on the wire */
    tls_resume *resume;          /* for the next connection to resume_host:resume_port */
    char *resume_host;
    unsigned int resume_port;
};

/* The TLS mode in force: ESMTP_TLS_DEFAULT resolved by the port. */
esmtp_tls_mode session_tls_mode(const esmtp_session *s);
/* Whether the caller asked for AUTH. */
int session_wants_auth(const esmtp_session *s);
/* RFC 9266 tls-exporter channel binding of the current TLS connection: 32
 * bytes into out. Returns 0, or ESMTP_ETLS when there is none (no TLS, or
 * TLS before 1.3). */
int session_channel_binding(esmtp_session *s, unsigned char out[32]);

/* Frees a message and its recipients (the session owns messages). */
void message_free(esmtp_message *m);

/* Replaces the session's detail message. */
void session_set_detail(esmtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Reports a progress event; returns ESMTP_ECALLBACK if the callback asked
 * to abort, else 0. */
int session_progress(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                     uint64_t bytes);
void session_transcript(esmtp_session *s, esmtp_direction dir, const char *line, size_t len);

#endif
