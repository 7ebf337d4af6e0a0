/* SPDX-License-Identifier: MIT */
#include "protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "alloc.h"
#include "address.h"
#include "internal.h"
#include "sasl.h"

/* Output is topped up with body bytes while less than LOW is unsent, in
 * writes of up to CHUNK: large enough that the kernel gets big writes. */
#define BODY_LOW 16384
#define BODY_CHUNK 65536

static int fail(engine *e, int err, const reply *r, const char *why);
static int advance(engine *e);
static int ready_for_mail(engine *e);
static int start_body(engine *e, esmtp_message *m);
static int bdat_settled(engine *e, esmtp_message *m);
static int body_queued(engine *e, esmtp_message *m);
static void body_note(engine *e, uint64_t body_bytes);
static int body_failed(engine *e, int rc);
static int body_repeatable(const esmtp_message *m);

int engine_init(engine *e, esmtp_session *s)
{
    memset(e, 0, sizeof *e);
    e->session = s;
    reply_parser_init(&e->parser, 0, 0);
    switch (session_tls_mode(s)) {
    case ESMTP_TLS_STARTTLS:
        e->starttls = STARTTLS_REQUIRED;
        break;
    case ESMTP_TLS_STARTTLS_OPTIONAL:
        e->starttls = STARTTLS_OPTIONAL;
        break;
    case ESMTP_TLS_IMPLICIT:
        e->tls_active = 1;
        break;
    default:
        break;
    }
    return 0;
}

static void free_extensions(engine *e)
{
    for (size_t i = 0; i < e->ext_count; i++) {
        free(e->ext[i].keyword);
        free(e->ext[i].params);
    }
    free(e->ext);
    e->ext = NULL;
    e->ext_count = 0;
}

void engine_free(engine *e)
{
    reply_parser_free(&e->parser);
    ebuf_free(&e->out);
    free(e->queue);
    free_extensions(e);
    ds_free(&e->ds);
    sasl_client_free(e->sasl);
    free(e->bdat_buf);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------ output */

static int queue_bytes(engine *e, const char *p, size_t n)
{
    /* Reclaim the sent prefix before growing. */
    if (e->out_off == e->out.len) {
        ebuf_clear(&e->out);
        e->out_off = 0;
    }
    int rc = ebuf_append(&e->out, p, n);
    if (rc == 0)
        e->queued += n;
    return rc;
}

static int expect(engine *e, cmd_kind kind, esmtp_message *m, size_t rcpt)
{
    if (e->qhead == e->qlen)
        e->qhead = e->qlen = 0;
    if (e->qlen == e->qcap) {
        size_t cap = e->qcap ? e->qcap * 2 : 16;
        pending_reply *q = mem_realloc(e->queue, cap * sizeof *q);
        if (!q)
            return ESMTP_ENOMEM;
        e->queue = q;
        e->qcap = cap;
    }
    e->queue[e->qlen++] = (pending_reply){kind, m, rcpt, e->queued};
    return 0;
}

/* Queues one command line (given without CRLF) and the reply it awaits;
 * the transcript shows it as shown. */
static int command_as(engine *e, cmd_kind kind, esmtp_message *m, size_t rcpt, const char *line,
                      const char *shown)
{
    size_t n = strlen(line);
    session_transcript(e->session, ESMTP_FROM_CLIENT, shown, strlen(shown));
    int rc = queue_bytes(e, line, n);
    if (rc == 0)
        rc = queue_bytes(e, "\r\n", 2);
    if (rc == 0)
        rc = expect(e, kind, m, rcpt);
    return rc;
}

static int command(engine *e, cmd_kind kind, esmtp_message *m, size_t rcpt, const char *line)
{
    return command_as(e, kind, m, rcpt, line, line);
}

/* Room for a command line with its parameters: mailboxes are at most 512
 * bytes (checked when set), an ORCPT in RFC 6533 form at most ten times
 * that in the worst case. */
#define LINE_MAX_LEN 8192

/* Appends to a command line being built; bounded by LINE_MAX_LEN. */
static void put(char *line, size_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *line, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + *n, LINE_MAX_LEN - *n, fmt, ap);
    va_end(ap);
    if (k > 0)
        *n = *n + (size_t)k < LINE_MAX_LEN ? *n + (size_t)k : LINE_MAX_LEN - 1;
}

/* An envelope address as it goes on the wire (A-labels unless SMTPUTF8),
 * or NULL with the reason in *why. */
static const char *wire_address(const esmtp_message *m, const char *mailbox, ebuf *buf,
                                const char **why)
{
    ebuf_clear(buf);
    if (addr_for_envelope(mailbox, m->use_smtputf8, buf, why) != 0)
        return NULL;
    return ebuf_str(buf);
}

/* Starts "MAIL FROM:<address>" or "RCPT TO:<address>" (the address was
 * checked by precheck). */
static void address_command(const esmtp_message *m, const char *cmd, const char *mailbox,
                            char *line, size_t *n, ebuf *buf)
{
    const char *why;
    const char *addr = wire_address(m, mailbox, buf, &why);
    put(line, n, "%s:<%s>", cmd, addr ? addr : mailbox);
}

/* The next recipient from index i that is still open. */
static size_t next_open_rcpt(const esmtp_message *m, size_t i)
{
    while (i < m->nrcpts && m->rcpts[i]->result.status != ESMTP_STATUS_PENDING)
        i++;
    return i;
}

static int send_rcpt(engine *e, esmtp_message *m, size_t i)
{
    const esmtp_recipient *r = m->rcpts[i];
    char line[LINE_MAX_LEN];
    size_t n = 0;
    ebuf buf = {0};
    address_command(m, "RCPT TO", r->mailbox, line, &n, &buf);
    if (m->use_dsn && r->notify) {
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
    if (m->use_dsn && r->orcpt) {
        ebuf_clear(&buf);
        if (addr_orcpt(r->orcpt, &buf) == 0)
            put(line, &n, " ORCPT=%s", ebuf_str(&buf));
    }
    ebuf_free(&buf);
    m->txn.rcpts_out++;
    return command(e, CMD_RCPT, m, i, line);
}

static int send_mail(engine *e, esmtp_message *m)
{
    char line[LINE_MAX_LEN];
    size_t n = 0;
    ebuf buf = {0};
    address_command(m, "MAIL FROM", m->reverse_path, line, &n, &buf);
    size_t before_optional = n;
    /* Optional parameters, left out after a server refused them (501/555). */
    if (!m->plain_mail) {
        if (m->size_known && engine_extension(e, "SIZE"))
            put(line, &n, " SIZE=%llu", (unsigned long long)m->size);
        if (m->use_dsn && m->dsn_ret)
            put(line, &n, " RET=%s", m->dsn_ret == ESMTP_DSN_RET_FULL ? "FULL" : "HDRS");
        if (m->use_dsn && m->dsn_envid) {
            ebuf_clear(&buf);
            if (addr_xtext(m->dsn_envid, &buf) == 0)
                put(line, &n, " ENVID=%s", ebuf_str(&buf));
        }
        if (m->deliver_by && engine_extension(e, "DELIVERBY"))
            put(line, &n, " BY=%ld;%c", m->deliver_by, m->deliver_by_return ? 'R' : 'N');
        if (m->priority && engine_extension(e, "MT-PRIORITY"))
            put(line, &n, " MT-PRIORITY=%d", m->priority);
    }
    m->txn.optional_sent = n > before_optional;
    if (m->binary)
        put(line, &n, " BODY=BINARYMIME");
    else if (m->has_8bit)
        put(line, &n, " BODY=8BITMIME");
    if (m->use_smtputf8)
        put(line, &n, " SMTPUTF8");
    if (m->requiretls)
        put(line, &n, " REQUIRETLS");
    ebuf_free(&buf);
    return command(e, CMD_MAIL, m, 0, line);
}

/* ------------------------------------------------------------ outcomes */

/* The recipients this transaction carried share its outcome; those the
 * server refused at RCPT already have theirs, and those it put off with
 * 452 (too many recipients) keep that reply unless told otherwise. */
static int settle_recipients(esmtp_message *m, esmtp_status st, int code, const char *enhanced,
                             const char *text)
{
    int rc = 0;
    for (size_t i = 0; i < m->nrcpts; i++) {
        esmtp_recipient *r = m->rcpts[i];
        if (r->result.status != ESMTP_STATUS_PENDING || r->deferred)
            continue;
        int rc2 = outcome_set(&r->result, st, code, enhanced, text);
        if (rc == 0)
            rc = rc2;
    }
    return rc;
}

static int decide_message(engine *e, esmtp_message *m, esmtp_status st, int code,
                          const char *enhanced, const char *text)
{
    int rc = outcome_set(&m->result, st, code, enhanced, text);
    for (size_t i = 0; i < m->nrcpts; i++) {
        esmtp_recipient *r = m->rcpts[i];
        if (r->deferred) { /* no follow-up for them: their 452 is final */
            r->deferred = 0;
            r->result.status = ESMTP_STATUS_TEMPFAIL;
        }
    }
    int rc2 = settle_recipients(m, st, code, enhanced, text);
    int cb = session_progress(e->session, ESMTP_EVENT_MESSAGE_DONE, m, NULL, 0);
    return rc ? rc : rc2 ? rc2 : cb;
}

/* Whether a reply refuses: 4xx for now, 5xx for good. */
static int is_refusal(const reply *r)
{
    return r->code / 100 == 4 || r->code / 100 == 5;
}

/* The fate a reply gives when it is not the success of the message's own
 * end of data: a refusal decides by its class; anything else (a 2xx or 3xx
 * where no success can be) is a protocol error that delivered nothing. */
static esmtp_status refused_status(const reply *r)
{
    return r->code / 100 == 5 ? ESMTP_STATUS_PERMFAIL : ESMTP_STATUS_TEMPFAIL;
}

/* Decides a message by a reply that did not accept it. */
static int decide_refused(engine *e, esmtp_message *m, const reply *r)
{
    if (is_refusal(r))
        return decide_message(e, m, refused_status(r), r->code, r->enhanced,
                              ebuf_str(&r->text));
    ebuf why = {0};
    int rc = ebuf_append_str(&why, "unexpected reply from the server: ");
    if (rc == 0)
        rc = ebuf_append_str(&why, ebuf_str(&r->text));
    int rc2 = decide_message(e, m, ESMTP_STATUS_TEMPFAIL, r->code, r->enhanced,
                             rc ? "unexpected reply from the server" : ebuf_str(&why));
    ebuf_free(&why);
    return rc ? rc : rc2;
}

/* The reply to the message's own end of data (the dot, or BDAT LAST)
 * arrived: the only reply that can make a message and its recipients OK.
 * Recipients the server put off with 452 get a transaction of their own
 * (RFC 5321 section 4.5.3.1.10) when this one succeeded and the body can
 * be produced again. */
static int transaction_done(engine *e, esmtp_message *m, const reply *r)
{
    if (r->code / 100 != 2)
        return decide_refused(e, m, r);
    if (!(m->txn.deferred && m->txn.accepted && body_repeatable(m)))
        return decide_message(e, m, ESMTP_STATUS_OK, r->code, r->enhanced,
                              ebuf_str(&r->text));
    int rc = settle_recipients(m, ESMTP_STATUS_OK, r->code, r->enhanced, ebuf_str(&r->text));
    for (size_t i = 0; i < m->nrcpts; i++)
        m->rcpts[i]->deferred = 0;
    m->followup = 1;
    e->followups++;
    return rc;
}

/* No recipient was accepted: the message fails, temporarily if any
 * recipient might succeed later. */
static int decide_no_recipient(engine *e, esmtp_message *m)
{
    esmtp_status st = ESMTP_STATUS_PERMFAIL;
    for (size_t i = 0; i < m->nrcpts; i++)
        if (m->rcpts[i]->result.status == ESMTP_STATUS_TEMPFAIL || m->rcpts[i]->deferred)
            st = ESMTP_STATUS_TEMPFAIL;
    return decide_message(e, m, st, 0, "", "no recipient was accepted");
}

/* Whether the body can be sent again: from memory, regenerated by the
 * MIME layer, or rewound by the caller. */
static int body_repeatable(const esmtp_message *m)
{
    return !m->read_cb || m->prepare || m->rewind_cb;
}

static int is_final(const esmtp_message *m)
{
    return m->result.status != ESMTP_STATUS_PENDING;
}

/* Decides how the envelope goes to this server: SMTPUTF8 or A-labels, DSN
 * or not, REQUIRETLS possible or not. Recipients that cannot be sent to
 * get their fate here, before anything is sent. */
static int precheck_envelope(engine *e, esmtp_message *m, char *why, size_t whylen)
{
    esmtp_session *s = e->session;
    int offered = engine_extension(e, "SMTPUTF8") != NULL;
    const char *reason;
    if (m->utf8_headers || addr_local_is_utf8(m->reverse_path)) {
        if (!offered) {
            snprintf(why, whylen, "the message needs SMTPUTF8 (%s), which the server does "
                                  "not offer",
                     m->utf8_headers ? "UTF-8 headers" : "a non-ASCII sender");
            return ESMTP_EINVAL;
        }
        m->use_smtputf8 = 1;
    } else {
        m->use_smtputf8 = 0;
        for (size_t i = 0; offered && i < m->nrcpts; i++)
            m->use_smtputf8 |= addr_local_is_utf8(m->rcpts[i]->mailbox);
    }
    ebuf buf = {0};
    int rc = 0;
    if (!wire_address(m, m->reverse_path, &buf, &reason)) {
        snprintf(why, whylen, "the reverse-path: %s", reason);
        rc = ESMTP_EINVAL;
    }
    size_t open = 0;
    for (size_t i = 0; rc == 0 && i < m->nrcpts; i++) {
        esmtp_recipient *r = m->rcpts[i];
        if (r->result.status != ESMTP_STATUS_PENDING)
            continue;
        if (wire_address(m, r->mailbox, &buf, &reason)) {
            open++;
            continue;
        }
        rc = outcome_set(&r->result, ESMTP_STATUS_PERMFAIL, 0, "", reason);
        if (rc == 0)
            rc = session_progress(s, ESMTP_EVENT_RECIPIENT, m, r, 0);
    }
    ebuf_free(&buf);
    if (rc)
        return rc;
    if (open == 0) {
        snprintf(why, whylen, "no recipient can be sent to");
        return ESMTP_EINVAL;
    }
    if (m->requiretls && (!e->tls_active || !engine_extension(e, "REQUIRETLS"))) {
        snprintf(why, whylen, "REQUIRETLS was asked for, but %s",
                 e->tls_active ? "the server does not offer it" : "the connection is not TLS");
        return ESMTP_EINVAL;
    }
    int wants_dsn = m->dsn_ret || m->dsn_envid;
    for (size_t i = 0; i < m->nrcpts; i++)
        wants_dsn |= m->rcpts[i]->notify || m->rcpts[i]->orcpt;
    m->use_dsn = wants_dsn && engine_extension(e, "DSN");
    if (wants_dsn && !m->use_dsn) {
        if (m->dsn_required) {
            snprintf(why, whylen, "DSN was required, but the server does not offer it");
            return ESMTP_EINVAL;
        }
        if ((rc = session_progress(s, ESMTP_EVENT_DSN_DROPPED, m, NULL, 0)) != 0)
            return rc;
    }
    if ((m->deliver_by && !engine_extension(e, "DELIVERBY")) ||
        (m->priority && !engine_extension(e, "MT-PRIORITY")))
        return session_progress(s, ESMTP_EVENT_PARAMS_DROPPED, m, NULL, 0);
    return 0;
}

/* Checks what can be known before MAIL; fills in size and 8-bit flags of
 * bodies held in memory. Returns 0, or the local error deciding the
 * message. */
static int precheck(engine *e, esmtp_message *m, char *why, size_t whylen)
{
    if (!m->reverse_path) {
        snprintf(why, whylen, "the message has no reverse-path");
        return ESMTP_EINVAL;
    }
    if (m->nrcpts == 0) {
        snprintf(why, whylen, "the message has no recipients");
        return ESMTP_EINVAL;
    }
    if (m->prepare) {
        /* A body generator (the MIME layer) may choose its encodings from
         * the server's extensions and declare the result. */
        int rc = m->prepare(m, m->prepare_ud);
        if (rc) {
            snprintf(why, whylen, "the message could not be prepared: %s", esmtp_strerror(rc));
            return rc;
        }
    }
    if (!m->body_set) {
        snprintf(why, whylen, "the message has no body");
        return ESMTP_EINVAL;
    }
    if (m->read_cb) {
        m->size = m->declared_size;
        m->size_known = m->size_declared;
        m->has_8bit = m->declared_8bit;
    } else {
        uint64_t size;
        int has_8bit;
        if (m->newline_policy == ESMTP_NEWLINE_REJECT && !m->binary && !m->body_verbatim &&
            ds_measure(m->body, m->body_len, DS_NEWLINE_REJECT, &size, &has_8bit, NULL)) {
            snprintf(why, whylen, "the body has a bare CR or LF");
            return ESMTP_EBARENEWLINE;
        }
        m->size = m->binary ? m->body_len : m->body_size;
        m->has_8bit = m->body_8bit;
        m->size_known = 1;
    }
    if (m->binary) {
        if (!e->chunking || !engine_extension(e, "BINARYMIME")) {
            snprintf(why, whylen, "a binary body needs CHUNKING and BINARYMIME%s, which the "
                                  "server does not offer",
                     e->pipelining ? "" : " with PIPELINING");
            return ESMTP_EINVAL;
        }
    } else if (m->has_8bit && !engine_extension(e, "8BITMIME")) {
        snprintf(why, whylen,
                 "the body has 8-bit bytes and the server does not offer 8BITMIME");
        return ESMTP_E8BIT;
    }
    const char *limit = engine_extension(e, "SIZE");
    if (limit && m->size_known) {
        unsigned long long max = strtoull(limit, NULL, 10);
        if (max > 0 && m->size > max) {
            snprintf(why, whylen, "the message (%llu bytes) exceeds the server's limit of %llu",
                     (unsigned long long)m->size, max);
            return ESMTP_ETOOBIG;
        }
    }
    return precheck_envelope(e, m, why, whylen);
}

/* ------------------------------------------------------------ transactions */

static int begin_transaction(engine *e, esmtp_message *m)
{
    memset(&m->txn, 0, sizeof m->txn);
    e->cur = m;
    int rc = send_mail(e, m);
    if (rc || !e->pipelining)
        return rc;
    for (size_t i = next_open_rcpt(m, 0); rc == 0 && i < m->nrcpts; i = next_open_rcpt(m, i + 1))
        rc = send_rcpt(e, m, i);
    if (rc)
        return rc;
    if (e->chunking) {
        /* BDAT needs no go-ahead: the body follows the envelope at once. */
        m->txn.bdat = 1;
        return start_body(e, m);
    }
    return command(e, CMD_DATA, m, 0, "DATA");
}

static int on_bdat(engine *e, esmtp_message *m, int last, const reply *r)
{
    int rc = 0;
    m->txn.bdat_out--;
    if (!is_final(m) && !m->txn.restart && !m->followup) {
        if (r->code / 100 != 2)
            rc = decide_refused(e, m, r); /* the first failed chunk decides */
        else if (last)
            rc = transaction_done(e, m, r);
    }
    if (rc || m->txn.bdat_out > 0 || (e->in_body && e->body_msg == m))
        return rc;
    if (last && !m->txn.restart) {
        /* BDAT LAST ended the transaction; with PIPELINING the next one is
         * already under way. */
        if (e->cur == m)
            e->cur = NULL;
        return advance(e);
    }
    return bdat_settled(e, m);
}


static void end_transaction(engine *e, esmtp_message *m)
{
    /* A transaction cut short after MAIL was accepted leaves state on the
     * server that the next MAIL would trip over. */
    e->need_rset = m->txn.mail_ok && !m->txn.dot_queued;
    e->cur = NULL;
}

/* Starts whatever can be sent now: the next transaction, RSET, or QUIT. */
static int advance(engine *e)
{
    if (e->done || e->quit_sent || e->in_body || e->cur)
        return 0;
    /* Without PIPELINING every command waits for the previous reply. */
    if (!e->pipelining && e->qhead < e->qlen)
        return 0;
    int rc;
    if (e->need_rset) {
        e->need_rset = 0;
        rc = command(e, CMD_RSET, NULL, 0, "RSET");
        if (rc || !e->pipelining)
            return rc;
    }
    esmtp_session *s = e->session;
    for (;;) {
        esmtp_message *m = NULL;
        for (size_t i = 0; e->followups && i < e->next_msg && !m; i++)
            if (s->msgs[i]->followup)
                m = s->msgs[i];
        if (m) {
            m->followup = 0;
            e->followups--;
        } else if (e->next_msg < s->nmsgs) {
            m = s->msgs[e->next_msg++];
        } else {
            break;
        }
        if (is_final(m))
            continue;
        char why[256] = "";
        int err = precheck(e, m, why, sizeof why);
        if (err == 0)
            return begin_transaction(e, m);
        if (err == ESMTP_ECALLBACK || err == ESMTP_ENOMEM)
            return err; /* the session's trouble, not the message's */
        rc = decide_message(e, m, ESMTP_STATUS_PERMFAIL, 0, "", why);
        if (rc)
            return fail(e, rc, NULL, "a callback aborted the session");
    }
    if (e->qhead < e->qlen)
        return 0;
    e->quit_sent = 1;
    return command(e, CMD_QUIT, NULL, 0, "QUIT");
}

/* The body is complete: add the end-of-data dot. */
static int end_body(engine *e)
{
    esmtp_message *m = e->body_msg;
    body_note(e, e->queued - m->txn.body_start);
    int rc = queue_bytes(e, ".\r\n", 3);
    if (rc == 0)
        rc = expect(e, CMD_DOT, m, 0);
    if (rc)
        return rc;
    session_transcript(e->session, ESMTP_FROM_CLIENT, ".", 1);
    return body_queued(e, m);
}

static long read_body(void *ctx, void *buf, size_t len)
{
    esmtp_message *m = ctx;
    return m->read_cb(m, buf, len, m->read_ud);
}

static int start_body(engine *e, esmtp_message *m)
{
    /* Again, for a follow-up or a retry: a generator (prepare) has started
     * over already; a caller's stream is rewound. */
    if (m->read_cb && m->body_started && !m->prepare &&
        (!m->rewind_cb || m->rewind_cb(m, m->read_ud) != 0)) {
        e->body_msg = m;
        return body_failed(e, ESMTP_EREAD);
    }
    m->body_started = 1;
    if (m->read_cb)
        ds_init_cb(&e->ds, read_body, m, (int)m->newline_policy);
    else
        ds_init_mem(&e->ds, m->body, m->body_len, (int)m->newline_policy);
    e->ds.verbatim = m->binary || (!m->read_cb && m->body_verbatim);
    e->ds.reject_8bit = !m->has_8bit && !m->binary;
    e->ds.no_stuffing = m->txn.bdat;
    e->in_body = 1;
    e->body_msg = m;
    e->body_reported = 0;
    m->txn.body_start = e->queued;
    return 0;
}

/* ------------------------------------------------------------ replies */

static void parse_extensions(engine *e, const reply *r)
{
    free_extensions(e);
    const char *p = ebuf_str(&r->text);
    const char *nl = strchr(p, '\n'); /* the first line is the server's name */
    size_t lines = r->lines > 1 ? r->lines - 1 : 0;
    e->ext = mem_calloc(lines ? lines : 1, sizeof *e->ext);
    if (!e->ext)
        return; /* without memory the server simply looks extension-less */
    while (nl) {
        const char *line = nl + 1;
        nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t kw = 0;
        while (kw < len && line[kw] != ' ')
            kw++;
        if (kw == 0)
            continue;
        size_t ps = kw;
        while (ps < len && line[ps] == ' ')
            ps++;
        extension *x = &e->ext[e->ext_count];
        x->keyword = mem_strndup(line, kw);
        x->params = mem_strndup(line + ps, len - ps);
        if (!x->keyword || !x->params) {
            free(x->keyword);
            free(x->params);
            break;
        }
        for (char *c = x->keyword; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        e->ext_count++;
    }
}

const char *engine_extension(const engine *e, const char *keyword)
{
    for (size_t i = 0; i < e->ext_count; i++)
        if (strcasecmp(e->ext[i].keyword, keyword) == 0)
            return e->ext[i].params;
    return NULL;
}

/* Ends the session early but politely: every open message gets its fate
 * (from r where the error comes with one), then QUIT. */
static int stop_with_quit(engine *e, int err, const reply *r, const char *why)
{
    fail(e, err, r, why);
    e->done = 0;
    e->quit_sent = 1;
    return command(e, CMD_QUIT, NULL, 0, "QUIT");
}

static int send_hello(engine *e, cmd_kind kind)
{
    ebuf line = {0};
    int rc = ebuf_append_str(&line, kind == CMD_EHLO ? "EHLO " : "HELO ");
    if (rc == 0)
        rc = ebuf_append_str(&line, e->session->helo);
    if (rc == 0)
        rc = command(e, kind, NULL, 0, line.data);
    ebuf_free(&line);
    return rc;
}

static int on_greeting(engine *e, const reply *r)
{
    esmtp_session *s = e->session;
    if (r->code / 100 != 2) /* 554: no service here; the server waits for QUIT */
        return stop_with_quit(e, ESMTP_EREFUSED, r, "the server refused the session");
    ebuf_clear(&s->greeting);
    if (ebuf_append_str(&s->greeting, ebuf_str(&r->text)))
        return ESMTP_ENOMEM;
    s->has_greeting = 1;
    int rc = session_progress(s, ESMTP_EVENT_GREETING, NULL, NULL, 0);
    return rc ? rc : send_hello(e, CMD_EHLO);
}

/* Sends an AUTH command ("AUTH MECH" + " " + data) or, with no command,
 * a response (data). The transcript shows data redacted unless the caller
 * asked to see secrets: it is the password or token, merely encoded. */
static int auth_line(engine *e, const char *cmd, const char *data)
{
    ebuf line = {0}, shown = {0};
    const char *sep = *cmd && *data ? " " : "";
    int rc = 0;
    if (ebuf_append_str(&line, cmd) || ebuf_append_str(&line, sep) ||
        ebuf_append_str(&line, data) || ebuf_append_str(&shown, cmd) ||
        ebuf_append_str(&shown, sep) ||
        ebuf_append_str(&shown, e->session->show_secrets || !*data ? data : "<redacted>"))
        rc = ESMTP_ENOMEM;
    if (rc == 0)
        rc = command_as(e, CMD_AUTH, NULL, 0, line.data, ebuf_str(&shown));
    sasl_buf_wipe(&line);
    sasl_buf_wipe(&shown);
    return rc;
}

/* Picks a mechanism and starts AUTH. */
static int begin_auth(engine *e)
{
    esmtp_session *s = e->session;
    const char *offered = engine_extension(e, "AUTH");
    if (!offered)
        return stop_with_quit(e, ESMTP_ENOMECH, NULL,
                              "credentials are set but the server does not offer AUTH");
    char token[8192] = "";
    unsigned char cb[32];
    sasl_creds creds = {
        .user = s->auth_user,
        .password = s->auth_password,
        .host = s->host,
        .port = s->port,
    };
    if (session_channel_binding(s, cb) == 0) {
        creds.cb_data = cb;
        creds.cb_len = sizeof cb;
    }
    if (s->token_cb) {
        if (s->token_cb(s, token, sizeof token, s->token_ud) != 0)
            return ESMTP_ECALLBACK;
        token[sizeof token - 1] = '\0';
        creds.token = token;
    }
    const char *mech = sasl_choose(offered, s->auth_mechs, &creds, e->tls_active,
                                   s->auth_plaintext);
    int rc = 0;
    ebuf line = {0};
    if (!mech) {
        char why[300];
        snprintf(why, sizeof why,
                 "no usable authentication mechanism: the server offers %s%s", offered,
                 e->tls_active ? ""
                               : "; mechanisms that reveal the password need TLS "
                                 "(or esmtp_session_set_allow_plaintext_auth)");
        rc = stop_with_quit(e, ESMTP_ENOMECH, NULL, why);
    } else if ((rc = sasl_client_new(&e->sasl, mech, &creds)) == 0 &&
               (rc = sasl_client_start(e->sasl, &line)) == 0) {
        /* line is "MECH" or "MECH initial-response" */
        char cmd[64];
        size_t n = strcspn(line.data, " ");
        snprintf(cmd, sizeof cmd, "AUTH %.*s", (int)n, line.data);
        rc = auth_line(e, cmd, line.data[n] ? line.data + n + 1 : "");
    }
    sasl_buf_wipe(&line);
    OPENSSL_cleanse(token, sizeof token);
    return rc;
}

static int on_auth(engine *e, const reply *r)
{
    const char *text = ebuf_str(&r->text);
    if (r->code == 334 && !e->auth_cancelled) {
        ebuf resp = {0};
        int rc = sasl_client_step(e->sasl, text, strlen(text), &resp);
        if (rc == ESMTP_EPROTO) {
            /* RFC 4954 section 4: "*" cancels; the server answers 501. */
            e->auth_cancelled = 1;
            rc = command(e, CMD_AUTH, NULL, 0, "*");
        } else if (rc == 0) {
            rc = auth_line(e, "", ebuf_str(&resp));
        }
        sasl_buf_wipe(&resp);
        return rc;
    }
    char why[300];
    if (e->auth_cancelled) {
        snprintf(why, sizeof why, "authentication cancelled: %s",
                 sasl_client_error(e->sasl) ? sasl_client_error(e->sasl) : "bad challenge");
        return stop_with_quit(e, ESMTP_EAUTH, NULL, why);
    }
    if (r->code / 100 == 2 && r->code != 235)
        return stop_with_quit(e, ESMTP_EPROTO, r,
                              "the server answered AUTH with a success code other than 235 "
                              "(RFC 4954)");
    if (r->code != 235) {
        const char *detail = sasl_client_server_error(e->sasl);
        snprintf(why, sizeof why, "authentication with %s failed%s%s",
                 sasl_client_mech(e->sasl), detail ? " (" : "", detail ? detail : "");
        if (detail)
            strncat(why, ")", sizeof why - strlen(why) - 1);
        return stop_with_quit(e, ESMTP_EAUTH, r, why);
    }
    if (sasl_client_finish(e->sasl, text, strlen(text)) != 0) {
        snprintf(why, sizeof why, "the server accepted the login but did not prove it knows "
                                  "the password: %s", sasl_client_error(e->sasl));
        return stop_with_quit(e, ESMTP_EAUTH, NULL, why);
    }
    e->authenticated = 1;
    int rc = session_progress(e->session, ESMTP_EVENT_AUTHENTICATED, NULL, NULL, 0);
    return rc ? rc : ready_for_mail(e);
}

/* The extensions are final (after TLS, if any) and AUTH is done: mail may
 * flow. */
static int ready_for_mail(engine *e)
{
    e->pipelining = e->session->pipelining && engine_extension(e, "PIPELINING") != NULL;
    /* BDAT pays off when chunks need not wait for replies. */
    e->chunking = e->pipelining && e->session->chunking && engine_extension(e, "CHUNKING");
    return advance(e);
}

/* TLS is settled: log in if asked, then send mail. */
static int after_tls(engine *e)
{
    if (session_wants_auth(e->session) && !e->authenticated)
        return begin_auth(e);
    return ready_for_mail(e);
}

static int on_hello(engine *e, const pending_reply *p, const reply *r)
{
    if (r->code / 100 == 2) {
        if (p->kind == CMD_EHLO)
            parse_extensions(e, r);
        int rc = session_progress(e->session, ESMTP_EVENT_EXTENSIONS, NULL, NULL, 0);
        if (rc)
            return rc;
        if (e->tls_active || e->starttls == STARTTLS_NO)
            return after_tls(e);
        if (engine_extension(e, "STARTTLS"))
            return command(e, CMD_STARTTLS, NULL, 0, "STARTTLS");
        if (e->starttls == STARTTLS_REQUIRED)
            return stop_with_quit(e, ESMTP_ENOTLS, NULL,
                                  "TLS is required but the server does not offer STARTTLS "
                                  "(misconfigured, or someone on the path removed it)");
        return after_tls(e);
    }
    if (p->kind == CMD_EHLO) /* an old server: fall back to HELO (RFC 5321 section 3.2) */
        return send_hello(e, CMD_HELO);
    return stop_with_quit(e, ESMTP_EREFUSED, r, "the server refused HELO");
}

static int on_starttls(engine *e, const reply *r)
{
    if (r->code == 220) {
        e->starttls_go = 1; /* the session now runs the handshake */
        return 0;
    }
    if (r->code / 100 == 2) /* neither go-ahead nor refusal: in clear or in TLS? */
        return stop_with_quit(e, ESMTP_EPROTO, r,
                              "the server answered STARTTLS with a success code other than 220");
    if (e->starttls == STARTTLS_REQUIRED)
        return stop_with_quit(e, ESMTP_ENOTLS, r, "the server refused STARTTLS");
    return after_tls(e);
}

int engine_tls_started(engine *e)
{
    /* RFC 3207 section 4.2: forget everything learned in clear. */
    e->tls_active = 1;
    e->starttls_go = 0;
    free_extensions(e);
    reply_parser_reset(&e->parser);
    return send_hello(e, CMD_EHLO);
}

static int on_mail(engine *e, esmtp_message *m, const reply *r)
{
    if (r->code / 100 == 2) {
        m->txn.mail_ok = 1;
        return e->pipelining ? 0 : send_rcpt(e, m, next_open_rcpt(m, 0));
    }
    if ((r->code == 501 || r->code == 555) && m->txn.optional_sent && !m->plain_mail &&
        !(m->txn.bdat && !body_repeatable(m))) {
        /* Some servers refuse parameters they do not like (163.com and
         * SIZE=): try once more without the optional ones. */
        m->plain_mail = 1;
        int rc = session_progress(e->session, ESMTP_EVENT_PARAMS_DROPPED, m, NULL, 0);
        if (rc)
            return rc;
        if (!e->pipelining)
            return begin_transaction(e, m);
        m->txn.restart = 1; /* once the envelope's other replies are in */
        return 0;
    }
    int rc = decide_refused(e, m, r);
    if (rc == 0 && !e->pipelining) {
        end_transaction(e, m);
        rc = advance(e);
    }
    return rc;
}

static int on_rcpt(engine *e, esmtp_message *m, size_t i, const reply *r)
{
    m->txn.rcpts_out--;
    if (is_final(m) || m->txn.restart)
        return 0; /* MAIL failed: its reply decided, or MAIL goes again */
    esmtp_recipient *rc_ = m->rcpts[i];
    int rc;
    if (r->code / 100 == 2 || r->code == 452) {
        /* Accepted for now, the reply to the dot decides; or put off until
         * this transaction is done (452: too many recipients). */
        if (r->code == 452) {
            rc_->deferred = 1;
            m->txn.deferred++;
        } else {
            m->txn.accepted++;
        }
        rc = outcome_set(&rc_->result, ESMTP_STATUS_PENDING, r->code, r->enhanced,
                         ebuf_str(&r->text));
    } else {
        rc = outcome_set(&rc_->result, refused_status(r), r->code, r->enhanced,
                         ebuf_str(&r->text));
    }
    if (rc == 0)
        rc = session_progress(e->session, ESMTP_EVENT_RECIPIENT, m, rc_, 0);
    if (rc || m->txn.rcpts_out > 0)
        return rc;
    if (!e->pipelining && next_open_rcpt(m, i + 1) < m->nrcpts)
        return send_rcpt(e, m, next_open_rcpt(m, i + 1));
    /* The last recipient has its answer. */
    if (m->txn.accepted == 0) {
        rc = decide_no_recipient(e, m);
        if (rc == 0 && !e->pipelining) {
            end_transaction(e, m);
            rc = advance(e);
        }
        return rc;
    }
    return e->pipelining ? 0 : command(e, CMD_DATA, m, 0, "DATA");
}

static int on_data(engine *e, esmtp_message *m, const reply *r)
{
    if (m->txn.restart && r->code / 100 != 3)
        return begin_transaction(e, m); /* MAIL again, without the parameters */
    if (r->code / 100 == 3) {
        if (!is_final(m) && !m->txn.restart)
            return start_body(e, m);
        /* Nobody to deliver to, yet the server wants data: a lone dot
         * ends the transaction without a message (RFC 2920 section 3.1). */
        m->txn.dummy_dot = 1;
        m->txn.dot_queued = 1;
        int rc = command(e, CMD_DOT, m, 0, ".");
        if (rc == 0 && !m->txn.restart) {
            end_transaction(e, m);
            rc = advance(e);
        }
        return rc;
    }
    if (r->code / 100 == 2)
        return fail(e, ESMTP_EPROTO, r, "the server answered DATA with a success code");
    int rc = is_final(m) ? 0 : decide_refused(e, m, r);
    if (rc == 0) {
        end_transaction(e, m);
        rc = advance(e);
    }
    return rc;
}

static int on_dot(engine *e, esmtp_message *m, const reply *r)
{
    if (m->txn.restart)
        return begin_transaction(e, m);
    int rc = 0;
    if (!m->txn.dummy_dot)
        rc = transaction_done(e, m, r);
    if (rc == 0 && e->cur == m)
        end_transaction(e, m);
    return rc ? rc : advance(e);
}

/* Whether the server may be answering now: the oldest command awaiting a
 * reply has been sent whole. */
static int reply_due(const engine *e)
{
    return e->qhead < e->qlen && e->sent >= e->queue[e->qhead].sent_by;
}

/* A reply that began while none was due answers nothing: taking it for the
 * next command's reply would put every later reply off by one. Only a 421
 * may come at any time (RFC 5321 section 3.8). This sees an extra reply
 * only when it arrives before the next command is sent (in the same read
 * as a reply, or while the client is idle); once the command is out, the
 * two cannot be told apart. That is enough: a server sends such a line
 * right after a reply or when idle, not in the moment a command crosses. */
static int on_unsolicited(engine *e, const reply *r)
{
    if (r->code == 421)
        return fail(e, ESMTP_ESERVICE, r, "the server is closing the session");
    return fail(e, ESMTP_EPROTO, r, "the server sent a reply nobody asked for");
}

/* Dispatches one complete reply to what awaited it. */
static int on_reply(engine *e, const reply *r)
{
    pending_reply p = e->queue[e->qhead++];
    if (p.kind == CMD_QUIT) {
        e->done = 1;
        return e->error;
    }
    if (r->code == 421)
        return fail(e, ESMTP_ESERVICE, r, "the server is closing the session");
    switch (p.kind) {
    case CMD_GREETING:
        return on_greeting(e, r);
    case CMD_EHLO:
    case CMD_HELO:
        return on_hello(e, &p, r);
    case CMD_MAIL:
        return on_mail(e, p.msg, r);
    case CMD_RCPT:
        return on_rcpt(e, p.msg, p.rcpt, r);
    case CMD_DATA:
        return on_data(e, p.msg, r);
    case CMD_DOT:
        return on_dot(e, p.msg, r);
    case CMD_BDAT:
        return on_bdat(e, p.msg, (int)p.rcpt, r);
    case CMD_STARTTLS:
        return on_starttls(e, r);
    case CMD_AUTH:
        return on_auth(e, r);
    case CMD_RSET:
        return advance(e);
    case CMD_QUIT:
        break;
    }
    return 0;
}

static void on_server_line(void *ctx, const char *line, size_t len)
{
    engine *e = ctx;
    session_transcript(e->session, ESMTP_FROM_SERVER, line, len);
}

int engine_connected(engine *e)
{
    e->parser.on_line = on_server_line;
    e->parser.on_line_ctx = e;
    return expect(e, CMD_GREETING, NULL, 0);
}

/* ------------------------------------------------------------ the end */

/* Ends the session early: every message not yet decided gets its fate.
 * When the server ended the session with a refusal (421, 5xx), that reply
 * decides; otherwise a message whose dot reached the socket
 * has an unknown outcome and the others were not delivered. */
static int fail(engine *e, int err, const reply *r, const char *why)
{
    esmtp_session *s = e->session;
    if (e->error == 0) {
        e->error = err;
        if (r) {
            s->fail_code = r->code;
            snprintf(s->fail_enhanced, sizeof s->fail_enhanced, "%s", r->enhanced);
        }
        if (r)
            session_set_detail(s, "%s: %d%s%s %s", why, r->code, r->enhanced[0] ? " " : "",
                               r->enhanced, ebuf_str(&r->text));
        else
            session_set_detail(s, "%s", why);
    }
    /* A reply decides only when it refuses: a 2xx that ends the session
     * (say, to AUTH) is no success of any message. */
    int by_reply = r && is_refusal(r) &&
                   (err == ESMTP_EREFUSED || err == ESMTP_ESERVICE || err == ESMTP_EAUTH);
    for (size_t i = 0; i < s->nmsgs; i++) {
        esmtp_message *m = s->msgs[i];
        if (is_final(m))
            continue;
        if (by_reply)
            decide_refused(e, m, r);
        else if (m->txn.dot_queued && !m->txn.dummy_dot && e->sent >= m->txn.dot_end)
            decide_message(e, m, ESMTP_STATUS_UNKNOWN, 0, "",
                           "the message was sent but the session ended before the server "
                           "confirmed it; it may or may not have been accepted");
        else
            decide_message(e, m, ESMTP_STATUS_TEMPFAIL, 0, "", ebuf_str(&s->detail));
    }
    e->in_body = 0;
    e->cur = NULL;
    e->done = 1;
    return e->error;
}

/* An error from a handler that did not end the session itself. */
static int fail_local(engine *e, int rc)
{
    if (e->done)
        return e->error;
    return fail(e, rc, NULL,
                rc == ESMTP_ECALLBACK ? "a callback aborted the session" : esmtp_strerror(rc));
}

int engine_recv(engine *e, const char *data, size_t len)
{
    while (len > 0 && !e->done) {
        if (!reply_parser_started(&e->parser))
            e->unsolicited = !reply_due(e);
        size_t used = 0;
        int rc = reply_parser_feed(&e->parser, data, len, &used);
        data += used;
        len -= used;
        if (rc < 0) {
            /* After QUIT nothing is at stake: some servers answer it with
             * noise (QQ Mail). */
            if (e->quit_sent) {
                e->done = 1;
                return e->error;
            }
            char why[128];
            snprintf(why, sizeof why, "malformed reply from the server: %s",
                     e->parser.error ? e->parser.error : esmtp_strerror(rc));
            return fail(e, rc == ESMTP_ENOMEM ? rc : ESMTP_EPROTO, NULL, why);
        }
        if (rc == 1) {
            rc = e->unsolicited ? on_unsolicited(e, &e->parser.reply)
                                : on_reply(e, &e->parser.reply);
            if (rc < 0)
                return fail_local(e, rc);
            /* Anything after the 220 to STARTTLS would be read as if it
             * came over TLS: the CVE-2011-0411 injection. */
            if (e->starttls_go && (len > 0 || e->parser.line.len > 0))
                return fail(e, ESMTP_EPROTO, NULL,
                            "the server sent data after its 220 reply to STARTTLS and before "
                            "the TLS handshake (a command injection attempt?)");
        }
    }
    return e->done ? e->error : 0;
}

/* Tops the output up with body bytes. */
/* The body could not be produced. Half of it may be on the wire: only
 * dropping the connection keeps the server from delivering that. */
static int body_failed(engine *e, int rc)
{
    const char *why = rc == ESMTP_E8BIT ? "the streamed body has 8-bit bytes but was not "
                                          "declared 8-bit (esmtp_message_set_8bit)"
                      : rc == ESMTP_EBARENEWLINE ? "the body has a bare CR or LF"
                      : rc == ESMTP_EREAD        ? "the body's read callback failed"
                                                 : esmtp_strerror(rc);
    decide_message(e, e->body_msg,
                   rc == ESMTP_EREAD ? ESMTP_STATUS_TEMPFAIL : ESMTP_STATUS_PERMFAIL, 0, "", why);
    return fail(e, rc, NULL, why);
}

/* The transcript shows a body as its size, not its lines. */
static void body_note(engine *e, uint64_t body_bytes)
{
    if (e->session->transcript_cb) {
        char note[64];
        int n = snprintf(note, sizeof note, "(message body: %llu bytes)",
                         (unsigned long long)body_bytes);
        session_transcript(e->session, ESMTP_FROM_LIBRARY, note, (size_t)n);
    }
}

/* The message's last bytes are queued (the dot, or BDAT LAST). */
static int body_queued(engine *e, esmtp_message *m)
{
    m->txn.dot_queued = 1;
    m->txn.dot_end = e->queued;
    e->in_body = 0;
    ds_free(&e->ds);
    /* With PIPELINING the next transaction may follow at once, so that it
     * leaves in the same write. */
    if (e->pipelining) {
        e->cur = NULL;
        return advance(e);
    }
    return 0;
}

/* BDAT: the chunk replies are all in and no more will be sent. */
static int bdat_settled(engine *e, esmtp_message *m)
{
    if (m->txn.restart)
        return begin_transaction(e, m); /* MAIL again, without the parameters */
    if (e->cur == m)
        end_transaction(e, m);
    return advance(e);
}

/* RFC 3030 section 3: after a failed chunk, or once the transaction has
 * failed, no more chunks. */
static int stop_bdat(engine *e, esmtp_message *m)
{
    e->in_body = 0;
    ds_free(&e->ds);
    return m->txn.bdat_out == 0 ? bdat_settled(e, m) : 0;
}

/* Queues the next BDAT chunk: the body without dot-stuffing, its size
 * announced first. */
static int fill_bdat(engine *e)
{
    esmtp_message *m = e->body_msg;
    if (is_final(m) || m->txn.restart)
        return stop_bdat(e, m);
    if (!e->bdat_buf && !(e->bdat_buf = mem_malloc(BODY_CHUNK)))
        return ESMTP_ENOMEM;
    size_t got = 0, n;
    int rc = 0;
    while (rc == 0 && got < BODY_CHUNK) {
        rc = ds_read(&e->ds, e->bdat_buf + got, BODY_CHUNK - got, &n);
        got += n;
    }
    if (rc < 0)
        return body_failed(e, rc);
    char head[48];
    snprintf(head, sizeof head, "BDAT %zu%s", got, rc == 1 ? " LAST" : "");
    rc = command(e, CMD_BDAT, m, rc == 1, head);
    if (rc == 0)
        rc = queue_bytes(e, e->bdat_buf, got);
    if (rc)
        return rc;
    m->txn.bdat_out++;
    if (!e->queue[e->qlen - 1].rcpt) /* not LAST */
        return 0;
    body_note(e, e->ds.out_bytes);
    return body_queued(e, m);
}

static int fill_body(engine *e)
{
    if (e->out_off > 0) {
        ebuf_consume(&e->out, e->out_off);
        e->out_off = 0;
    }
    if (e->body_msg->txn.bdat)
        return fill_bdat(e);
    while (e->in_body && e->out.len < BODY_CHUNK) {
        size_t room = BODY_CHUNK - e->out.len, got = 0;
        int rc = ebuf_reserve(&e->out, room);
        if (rc)
            return rc;
        rc = ds_read(&e->ds, e->out.data + e->out.len, room, &got);
        e->out.len += got;
        e->out.data[e->out.len] = '\0';
        e->queued += got;
        if (rc == 1)
            return end_body(e);
        if (rc < 0)
            return body_failed(e, rc);
    }
    return 0;
}

int engine_output(engine *e, const char **data, size_t *len)
{
    if (e->in_body && e->out.len - e->out_off < BODY_LOW) {
        int rc = fill_body(e);
        if (rc < 0)
            return fail_local(e, rc);
    }
    /* Nothing was ever queued: no buffer to point into. */
    *data = e->out.data ? e->out.data + e->out_off : "";
    *len = e->out.len - e->out_off;
    return 0;
}

int engine_sent(engine *e, size_t n)
{
    e->out_off += n;
    e->sent += n;
    if (e->out_off == e->out.len) {
        ebuf_clear(&e->out);
        e->out_off = 0;
    }
    esmtp_message *m = e->body_msg;
    if (!m || e->sent <= m->txn.body_start)
        return 0;
    uint64_t end = m->txn.dot_queued ? m->txn.dot_end - 3 : e->queued;
    uint64_t done = (e->sent < end ? e->sent : end) - m->txn.body_start;
    if (done == e->body_reported)
        return 0;
    e->body_reported = done;
    int rc = session_progress(e->session, ESMTP_EVENT_BODY_BYTES, m, NULL, done);
    return rc ? fail_local(e, rc) : 0;
}

int engine_closed(engine *e, int reason, const char *why)
{
    if (e->done)
        return e->error;
    if (e->quit_sent) {
        e->done = 1;
        return e->error;
    }
    return fail(e, reason, NULL, why);
}

int engine_wants_write(const engine *e)
{
    return !e->done && (e->in_body || e->out_off < e->out.len);
}

esmtp_timeout engine_phase(const engine *e)
{
    if (engine_wants_write(e)) {
        const esmtp_message *m = e->body_msg;
        int body = e->in_body || (m && m->txn.dot_queued && e->sent < m->txn.dot_end);
        return body ? ESMTP_TIMEOUT_DATA_BLOCK : ESMTP_TIMEOUT_COMMAND;
    }
    if (e->qhead == e->qlen)
        return ESMTP_TIMEOUT_COMMAND;
    switch (e->queue[e->qhead].kind) {
    case CMD_GREETING:
        return ESMTP_TIMEOUT_GREETING;
    case CMD_DATA:
        return ESMTP_TIMEOUT_DATA_INIT;
    case CMD_DOT:
    case CMD_BDAT:
        return ESMTP_TIMEOUT_DATA_END;
    default:
        return ESMTP_TIMEOUT_COMMAND;
    }
}
