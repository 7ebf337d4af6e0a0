/* The message model: messages, their recipients and their fates. It sits
 * below the engine, which decides each fate, and knows nothing of the
 * session that owns the messages. Not installed. SPDX-License-Identifier: MIT */
#ifndef ESMTP_MESSAGE_H
#define ESMTP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include <esmtp/esmtp.h>

/* One text an outcome ever had. */
typedef struct outcome_text {
    struct outcome_text *older;
    char text[];
} outcome_text;

/* The fate of a message or recipient and the reply that decided it. */
typedef struct outcome {
    esmtp_status status;
    int code;
    char enhanced[16];
    const char *text;            /* the current one, in texts, or NULL */
    outcome_text *texts;         /* every text it had, newest first: a string
                                    handed out stays valid until outcome_free */
} outcome;

/* Records an outcome; returns 0 or ESMTP_ENOMEM (the status is set even
 * then, with an empty text). */
int outcome_set(outcome *o, esmtp_status status, int code, const char *enhanced,
                const char *text);
void outcome_free(outcome *o);

/* What the server offers that a body generator chooses its encodings by. */
typedef struct server_caps {
    int eightbitmime;
    int smtputf8;
} server_caps;

/* Where one message's transaction stands, as far as the client has sent it. */
typedef enum txn_phase {
    TXN_IDLE,                   /* no transaction under way */
    TXN_ENVELOPE,               /* MAIL and RCPT sent */
    TXN_DATA,                   /* DATA sent, its 354 awaited */
    TXN_BODY,                   /* the body is being sent (after 354, or as BDAT chunks) */
    TXN_BODY_STOPPED,           /* BDAT chunks stopped after a refusal: the replies to
                                   those sent are awaited */
    TXN_DOT,                    /* the end of data (dot, or BDAT LAST) is queued */
    TXN_LONE_DOT                /* 354 came with nobody to deliver to: a lone dot was
                                   queued that ends the transaction without a message */
} txn_phase;

/* The engine's per-message transaction state. */
typedef struct txn_state {
    txn_phase phase;
    int mail_ok;                /* MAIL FROM was accepted */
    int restart;                /* MAIL refused the optional parameters: send it again
                                   without, once the envelope's other replies are in */
    int optional_sent;          /* MAIL carried optional parameters */
    int bdat;                   /* the body goes as BDAT chunks */
    size_t accepted;            /* recipients accepted by RCPT */
    size_t deferred;            /* recipients put off with 452 */
    size_t rcpts_out;           /* RCPT replies still to come */
    size_t bdat_out;            /* BDAT replies still to come */
    uint64_t body_start;        /* where the body and, once queued, the end of data */
    uint64_t dot_end;           /* sit in the engine's output */
} txn_state;

struct esmtp_recipient {
    esmtp_message *message;
    void *user_data;             /* the caller's, never used here */
    char *mailbox;
    outcome result;
    int notify;                  /* ESMTP_NOTIFY_* flags, 0: not asked */
    int deferred;                /* 452 in this transaction: try in the next */
    char *orcpt;                 /* original recipient for DSNs, or NULL */
};

struct esmtp_message {
    esmtp_session *session;      /* the owner, or NULL (a test's message) */
    void *user_data;             /* the caller's, never used here */
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
    int (*prepare)(esmtp_message *m, const server_caps *caps, void *ud);
    /* Called before the run connects: reads now what prepare would have to
     * read (a generator's text parts), so that prepare, called inside the
     * run, does not block an event loop. Returns 0 or an ESMTP_E* code,
     * which prepare will then meet again. NULL: nothing to read. */
    int (*scan)(esmtp_message *m, void *ud);
    void *prepare_ud;             /* for prepare and scan */
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
    int followup;                /* another transaction is due: for recipients put
                                    off with 452, or MAIL again without its optional
                                    parameters after a BDAT transaction */
    int use_smtputf8;            /* decided before MAIL for this server */
    int use_dsn;

    outcome result;
    txn_state txn;
};

/* A new, empty message owned by session (NULL: by the caller, who frees it
 * with message_free). Returns 0 or ESMTP_ENOMEM. */
int message_new(esmtp_message **out, esmtp_session *session);
/* Frees a message and its recipients. */
void message_free(esmtp_message *m);
/* Whether the message may not be changed now: its session is sending. */
int message_locked(const esmtp_message *m);

#endif
