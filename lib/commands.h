/* The MAIL FROM and RCPT TO command lines, with their parameters, as a
 * message's envelope goes to one server. SPDX-License-Identifier: MIT */
#ifndef ESMTP_COMMANDS_H
#define ESMTP_COMMANDS_H

#include "ehlo.h"
#include "message.h"

/* Room for a command line with its parameters: mailboxes are at most 512
 * bytes (checked when set), an ORCPT in RFC 6533 form at most ten times
 * that in the worst case. */
#define COMMAND_LINE_MAX 8192

/* "MAIL FROM:<...>" and the parameters the server offers and the message
 * asks for (the optional ones only until the server refused them). Sets
 * *optional when the line carries optional parameters. The envelope must
 * have passed policy_check. Returns 0 or ESMTP_ENOMEM. */
int command_mail(const esmtp_message *m, const ehlo_caps *caps, char line[COMMAND_LINE_MAX],
                 int *optional);
/* "RCPT TO:<...>" for m's recipient r, with its DSN parameters. Returns 0
 * or ESMTP_ENOMEM. */
int command_rcpt(const esmtp_message *m, const esmtp_recipient *r,
                 char line[COMMAND_LINE_MAX]);

#endif
