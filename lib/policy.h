/* What can be known before MAIL: whether a message can go to this server
 * at all, and how its envelope goes there. Stateless: the engine asks it
 * once per transaction. SPDX-License-Identifier: MIT */
#ifndef ESMTP_POLICY_H
#define ESMTP_POLICY_H

#include <stddef.h>

#include "ehlo.h"
#include "message.h"

/* The server as the transaction will meet it. */
typedef struct policy_server {
    const ehlo_caps *caps;
    int tls_active;
    int pipelining;             /* negotiated */
    int chunking;               /* BDAT negotiated */
} policy_server;

/* Reports an event; non-zero aborts the session. */
typedef int (*policy_report)(void *ud, esmtp_event ev, esmtp_message *m, esmtp_recipient *r);

/* Checks m before MAIL: runs its prepare hook, fills in the size and 8-bit
 * flags of a body held in memory, decides whether the envelope uses
 * SMTPUTF8 and DSN, and refuses (PERMFAIL, reported) the recipients that
 * cannot be sent to. Returns 0; or the local error that decides the
 * message, with the reason in why; or ESMTP_ECALLBACK or ESMTP_ENOMEM,
 * which are the session's trouble rather than the message's. */
int policy_check(esmtp_message *m, const policy_server *srv, policy_report report, void *ud,
                 char *why, size_t whylen);

#endif
