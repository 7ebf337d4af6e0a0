/* The session behind the public opaque handle, shared by session.c (its
 * options and results), conn.c (its run) and message.c. Not installed. SPDX-License-Identifier: MIT */
#ifndef ESMTP_INTERNAL_H
#define ESMTP_INTERNAL_H

#include <stdint.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "message.h"
#include "protocol.h"
#include "tls.h"
#include "transport.h"

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

    void *user_data;             /* the caller's, never used here */
    esmtp_progress_cb progress_cb;
    void *progress_ud;
    esmtp_error_cb error_cb;
    void *error_ud;
    esmtp_transcript_cb transcript_cb;
    void *transcript_ud;

    esmtp_message **msgs;
    size_t nmsgs;
    size_t msgs_cap;

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

/* Whether the session is between runs: most settings may change only then. */
int session_idle(const esmtp_session *s);
/* The TLS connection of the last run once its handshake is done, while its
 * TLS object lives (until the next run or esmtp_session_free), or NULL. */
tls_conn *session_tls(const esmtp_session *s);

#endif
