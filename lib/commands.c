/* SPDX-License-Identifier: MIT */
#include "commands.h"

#include <stdarg.h>
#include <stdio.h>

#include "address.h"
#include "buf.h"

/* Appends to a command line being built; bounded by COMMAND_LINE_MAX. */
static void put(char *line, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *line, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + *n, COMMAND_LINE_MAX - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < COMMAND_LINE_MAX ? *n + (size_t)k : COMMAND_LINE_MAX - 1;
}

/* Starts "MAIL FROM:<address>" or "RCPT TO:<address>", the address as it
 * goes on the wire (A-labels unless SMTPUTF8). policy_check has found it
 * good, so only memory can fail. */
static int address(const esmtp_message *m, const char *cmd, const char *mailbox, char *line,
                   size_t *n, ebuf *buf)
{
    const char *why;
    ebuf_clear(buf);
    int rc = addr_for_envelope(mailbox, m->use_smtputf8, buf, &why);
    if (rc == 0)
        put(line, n, "%s:<%s>", cmd, ebuf_str(buf));
    return rc;
}

int command_rcpt(const esmtp_message *m, const esmtp_recipient *r, char line[COMMAND_LINE_MAX])
{
    size_t n = 0;
    ebuf buf = {0};
    int rc = address(m, "RCPT TO", r->mailbox, line, &n, &buf);
    if (rc == 0 && m->use_dsn && r->notify) {
        put(line, &n, " NOTIFY=%s", r->notify == ESMTP_NOTIFY_NEVER ? "NEVER" : "");
        const char *sep = "";
        static const struct { int flag; const char *name; } names[] = {
            {ESMTP_NOTIFY_SUCCESS, "SUCCESS"}, {ESMTP_NOTIFY_FAILURE, "FAILURE"},
            {ESMTP_NOTIFY_DELAY, "DELAY"}};
        for (size_t k = 0; k < 3; k++)
            if (r->notify & names[k].flag) {
                put(line, &n, "%s%s", sep, names[k].name);
                sep = ",";
            }
    }
    if (rc == 0 && m->use_dsn && r->orcpt) {
        ebuf_clear(&buf);
        if ((rc = addr_orcpt(r->orcpt, &buf)) == 0)
            put(line, &n, " ORCPT=%s", ebuf_str(&buf));
        else if (rc == ESMTP_EINVAL) /* one that cannot be expressed is left out */
            rc = 0;
    }
    ebuf_free(&buf);
    return rc;
}

int command_mail(const esmtp_message *m, const ehlo_caps *caps, char line[COMMAND_LINE_MAX],
                 int *optional)
{
    size_t n = 0;
    ebuf buf = {0};
    int rc = address(m, "MAIL FROM", m->reverse_path, line, &n, &buf);
    size_t before_optional = n;
    /* Optional parameters, left out after a server refused them (501/555). */
    if (rc == 0 && !m->plain_mail) {
        if (m->size_known && ehlo_find(caps, "SIZE"))
            put(line, &n, " SIZE=%llu", (unsigned long long)m->size);
        if (m->use_dsn && m->dsn_ret)
            put(line, &n, " RET=%s", m->dsn_ret == ESMTP_DSN_RET_FULL ? "FULL" : "HDRS");
        if (m->use_dsn && m->dsn_envid) {
            ebuf_clear(&buf);
            if ((rc = addr_xtext(m->dsn_envid, &buf)) == 0)
                put(line, &n, " ENVID=%s", ebuf_str(&buf));
        }
        if (m->deliver_by && ehlo_find(caps, "DELIVERBY"))
            put(line, &n, " BY=%ld;%c", m->deliver_by, m->deliver_by_return ? 'R' : 'N');
        if (m->priority && ehlo_find(caps, "MT-PRIORITY"))
            put(line, &n, " MT-PRIORITY=%d", m->priority);
    }
    *optional = n > before_optional;
    if (m->binary)
        put(line, &n, " BODY=BINARYMIME");
    else if (m->has_8bit)
        put(line, &n, " BODY=8BITMIME");
    if (m->use_smtputf8)
        put(line, &n, " SMTPUTF8");
    if (m->requiretls)
        put(line, &n, " REQUIRETLS");
    ebuf_free(&buf);
    return rc;
}
