/* SPDX-License-Identifier: MIT */
#include "protocol.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "commands.h"
#include "policy.h"

/* Output is topped up with body bytes while less than LOW is unsent, in
 * writes of up to CHUNK: large enough that the kernel gets big writes. */
#define BODY_LOW 16384
#define BODY_CHUNK 65536

static int close_session(engine *e, int err, const reply *r, const char *why);
static int advance(engine *e);
static int ready_for_mail(engine *e);
static int start_body(engine *e, esmtp_message *m);
static int close_transaction(engine *e, esmtp_message *m);
static int data_queued(engine *e, esmtp_message *m, txn_phase phase);
static void body_note(engine *e, uint64_t body_bytes);
static int body_failed(engine *e, int rc);
static int body_repeatable(const esmtp_message *m);

int engine_init(engine *e, const engine_config *cfg, const engine_ops *ops, void *ud,
                esmtp_message *const *msgs, size_t nmsgs)
{
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->ops = *ops;
    e->ud = ud;
    e->msgs = msgs;
    e->nmsgs = nmsgs;
    e->tls_active = cfg->tls == ENGINE_TLS_IMPLICIT;
    reply_parser_init(&e->parser, 0, 0);
    return 0;
}

void engine_free(engine *e)
{
    reply_parser_free(&e->parser);
    ebuf_free(&e->out);
    free(e->queue);
    ehlo_free(&e->caps);
    ehlo_free(&e->clear_caps);
    ds_free(&e->ds);
    sasl_client_free(e->sasl);
    free(e->bdat_buf);
    free(e->helo);
    ebuf_free(&e->greeting);
    ebuf_free(&e->detail);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------ callbacks */

static int event(engine *e, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                 uint64_t bytes)
{
    return e->ops.event && e->ops.event(e->ud, ev, m, r, bytes) ? ESMTP_ECALLBACK : 0;
}

static void transcript(engine *e, esmtp_direction dir, const char *line, size_t len)
{
    if (e->ops.transcript)
        e->ops.transcript(e->ud, dir, line, len);
}

static void note(engine *e, const char *text)
{
    transcript(e, ESMTP_FROM_LIBRARY, text, strlen(text));
}

static const char *const phase_names[] = {
    [CONN_IDLE] = "idle",           [CONN_GREETING] = "greeting",
    [CONN_HELLO] = "hello",         [CONN_STARTTLS] = "starttls",
    [CONN_TLS] = "tls",             [CONN_AUTH] = "auth",
    [CONN_AUTH_CANCELLED] = "auth-cancelled",
    [CONN_MAIL] = "mail",           [CONN_QUIT] = "quit",
    [CONN_DONE] = "done",
};

/* The one place the connection's phase changes. */
static void set_phase(engine *e, conn_phase phase)
{
    if (e->cfg.trace_phases && phase != e->phase) {
        char text[64];
        snprintf(text, sizeof text, "phase %s -> %s", phase_names[e->phase], phase_names[phase]);
        note(e, text);
    }
    e->phase = phase;
}

static void set_detail(engine *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_detail(engine *e, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ebuf_clear(&e->detail);
    ebuf_append_str(&e->detail, text); /* on ENOMEM the detail stays empty */
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

static int expect(engine *e, cmd_kind kind, esmtp_message *m, size_t rcpt, int last)
{
    if (e->qhead == e->qlen)
        e->qhead = e->qlen = 0;
    if (mem_grow(&e->queue, &e->qcap, e->qlen, sizeof *e->queue, 16))
        return ESMTP_ENOMEM;
    e->queue[e->qlen++] = (pending_reply){kind, m, rcpt, last, e->queued};
    return 0;
}

/* Queues one command line (given without CRLF) and the reply it awaits;
 * the transcript shows it as shown. */
static int command_as(engine *e, cmd_kind kind, esmtp_message *m, size_t rcpt, int last,
                      const char *line, const char *shown)
{
    size_t n = strlen(line);
    transcript(e, ESMTP_FROM_CLIENT, shown, strlen(shown));
    int rc = queue_bytes(e, line, n);
    if (rc == 0)
        rc = queue_bytes(e, "\r\n", 2);
    if (rc == 0)
        rc = expect(e, kind, m, rcpt, last);
    return rc;
}

static int command(engine *e, cmd_kind kind, esmtp_message *m, const char *line)
{
    return command_as(e, kind, m, 0, 0, line, line);
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
    char line[COMMAND_LINE_MAX];
    int rc = command_rcpt(m, m->rcpts[i], line);
    if (rc)
        return rc;
    m->txn.rcpts_out++;
    return command_as(e, CMD_RCPT, m, i, 0, line, line);
}

static int send_mail(engine *e, esmtp_message *m)
{
    char line[COMMAND_LINE_MAX];
    int rc = command_mail(m, &e->caps, line, &m->txn.optional_sent);
    return rc ? rc : command(e, CMD_MAIL, m, line);
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
    int cb = event(e, ESMTP_EVENT_MESSAGE_DONE, m, NULL, 0);
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

/* ------------------------------------------------------------ transactions */

/* The one place a transaction's phase changes. */
static void set_txn_phase(esmtp_message *m, txn_phase phase)
{
    m->txn.phase = phase;
}

/* Whether m's body is being produced now. */
static int body_running(const engine *e, const esmtp_message *m)
{
    return e->body_msg == m && m->txn.phase == TXN_BODY;
}

static int in_body(const engine *e)
{
    return e->body_msg && body_running(e, e->body_msg);
}

static int begin_transaction(engine *e, esmtp_message *m)
{
    memset(&m->txn, 0, sizeof m->txn);
    set_txn_phase(m, TXN_ENVELOPE);
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
    set_txn_phase(m, TXN_DATA);
    return command(e, CMD_DATA, m, "DATA");
}

/* The transaction's replies are all in: forget it and start what can
 * follow. */
static int close_transaction(engine *e, esmtp_message *m)
{
    /* A transaction cut short after MAIL was accepted leaves state on the
     * server that the next MAIL would trip over. */
    e->need_rset = m->txn.mail_ok && m->txn.phase < TXN_DOT;
    set_txn_phase(m, TXN_IDLE);
    if (e->cur == m)
        e->cur = NULL;
    return advance(e);
}

static int policy_event(void *ud, esmtp_event ev, esmtp_message *m, esmtp_recipient *r)
{
    return event(ud, ev, m, r, 0);
}

/* BDAT: MAIL was refused its optional parameters and the chunks' replies
 * are in. Later transactions, bodies and all, may have followed it
 * already, so it goes again (without them) only once nothing else is under
 * way: advance() starts it as it starts a follow-up. */
static int retry_plain(engine *e, esmtp_message *m)
{
    m->followup = 1;
    e->followups++;
    return close_transaction(e, m);
}

/* Starts whatever can be sent now: the next transaction, RSET, or QUIT. */
static int advance(engine *e)
{
    if (e->phase != CONN_MAIL || in_body(e) || e->cur)
        return 0;
    /* Without PIPELINING every command waits for the previous reply. */
    if (!e->pipelining && e->qhead < e->qlen)
        return 0;
    int rc;
    if (e->need_rset) {
        e->need_rset = 0;
        rc = command(e, CMD_RSET, NULL, "RSET");
        if (rc || !e->pipelining)
            return rc;
    }
    for (;;) {
        esmtp_message *m = NULL;
        for (size_t i = 0; e->followups && i < e->next_msg && !m; i++)
            if (e->msgs[i]->followup)
                m = e->msgs[i];
        if (m) {
            m->followup = 0;
            e->followups--;
        } else if (e->next_msg < e->nmsgs) {
            m = e->msgs[e->next_msg++];
        } else {
            break;
        }
        if (is_final(m))
            continue;
        char why[256] = "";
        policy_server srv = {&e->caps, e->tls_active, e->pipelining, e->chunking};
        int err = policy_check(m, &srv, policy_event, e, why, sizeof why);
        if (err == 0)
            return begin_transaction(e, m);
        if (err == ESMTP_ECALLBACK || err == ESMTP_ENOMEM)
            return err; /* the session's trouble, not the message's */
        if ((rc = decide_message(e, m, ESMTP_STATUS_PERMFAIL, 0, "", why)) != 0)
            return rc;
    }
    if (e->qhead < e->qlen)
        return 0;
    set_phase(e, CONN_QUIT);
    return command(e, CMD_QUIT, NULL, "QUIT");
}

/* The body is complete: add the end-of-data dot. */
static int end_body(engine *e)
{
    esmtp_message *m = e->body_msg;
    body_note(e, e->queued - m->txn.body_start);
    int rc = queue_bytes(e, ".\r\n", 3);
    if (rc == 0)
        rc = expect(e, CMD_DOT, m, 0, 0);
    if (rc)
        return rc;
    transcript(e, ESMTP_FROM_CLIENT, ".", 1);
    return data_queued(e, m, TXN_DOT);
}

static long read_body(void *ctx, void *buf, size_t len)
{
    esmtp_message *m = ctx;
    return m->read_cb(m, buf, len, m->read_ud);
}

static int start_body(engine *e, esmtp_message *m)
{
    e->body_msg = m;
    /* Again, for a follow-up or a retry: a generator (prepare) has started
     * over already; a caller's stream is rewound. */
    if (m->read_cb && m->body_started && !m->prepare &&
        (!m->rewind_cb || m->rewind_cb(m, m->read_ud) != 0))
        return body_failed(e, ESMTP_EREAD);
    m->body_started = 1;
    if (m->read_cb)
        ds_init_cb(&e->ds, read_body, m, (int)m->newline_policy);
    else
        ds_init_mem(&e->ds, m->body, m->body_len, (int)m->newline_policy);
    e->ds.verbatim = m->binary || (!m->read_cb && m->body_verbatim);
    e->ds.reject_8bit = !m->has_8bit && !m->binary;
    e->ds.no_stuffing = m->txn.bdat;
    set_txn_phase(m, TXN_BODY);
    e->body_reported = 0;
    m->txn.body_start = e->queued;
    return 0;
}

/* ------------------------------------------------------------ replies */

const char *engine_extension(const engine *e, const char *keyword)
{
    return ehlo_find(&e->caps, keyword);
}

size_t engine_extension_count(const engine *e)
{
    return e->caps.count;
}

const char *engine_extension_name(const engine *e, size_t index)
{
    return index < e->caps.count ? e->caps.ext[index].keyword : NULL;
}

/* Records why the session ends early (the first reason wins) and gives
 * every open message its fate: a refusal that ended the session (421, or
 * a 5xx to the greeting, HELO or AUTH) decides by its class; otherwise a
 * message whose end of data reached the socket has an unknown outcome and
 * the others were not delivered. */
static void decide_open_messages(engine *e, int err, const reply *r, const char *why)
{
    if (e->error == 0) {
        e->error = err;
        if (r) {
            e->fail_code = r->code;
            snprintf(e->fail_enhanced, sizeof e->fail_enhanced, "%s", r->enhanced);
            set_detail(e, "%s: %d%s%s %s", why, r->code, r->enhanced[0] ? " " : "",
                       r->enhanced, ebuf_str(&r->text));
        } else {
            set_detail(e, "%s", why);
        }
    }
    /* A reply decides only when it refuses: a 2xx that ends the session
     * (say, to AUTH) is no success of any message. */
    int by_reply = r && is_refusal(r) &&
                   (err == ESMTP_EREFUSED || err == ESMTP_ESERVICE || err == ESMTP_EAUTH);
    for (size_t i = 0; i < e->nmsgs; i++) {
        esmtp_message *m = e->msgs[i];
        if (is_final(m))
            continue;
        if (by_reply)
            decide_refused(e, m, r);
        else if (m->txn.phase == TXN_DOT && e->sent >= m->txn.dot_end)
            decide_message(e, m, ESMTP_STATUS_UNKNOWN, 0, "",
                           "the message was sent but the session ended before the server "
                           "confirmed it; it may or may not have been accepted");
        else
            decide_message(e, m, ESMTP_STATUS_TEMPFAIL, 0, "", ebuf_str(&e->detail));
    }
    e->cur = NULL;
}

/* Ends the session at once: the connection is to be closed. */
static int close_session(engine *e, int err, const reply *r, const char *why)
{
    decide_open_messages(e, err, r, why);
    set_phase(e, CONN_DONE);
    return e->error;
}

/* Ends the session early but politely: every open message gets its fate,
 * then QUIT. */
static int stop_with_quit(engine *e, int err, const reply *r, const char *why)
{
    decide_open_messages(e, err, r, why);
    set_phase(e, CONN_QUIT);
    return command(e, CMD_QUIT, NULL, "QUIT");
}

static int send_hello(engine *e, cmd_kind kind)
{
    ebuf line = {0};
    int rc = ebuf_append_str(&line, kind == CMD_EHLO ? "EHLO " : "HELO ");
    if (rc == 0)
        rc = ebuf_append_str(&line, e->helo);
    if (rc == 0)
        rc = command(e, kind, NULL, line.data);
    ebuf_free(&line);
    if (rc == 0)
        set_phase(e, CONN_HELLO);
    return rc;
}

static int on_greeting(engine *e, const reply *r)
{
    if (r->code / 100 != 2) /* 554: no service here; the server waits for QUIT */
        return stop_with_quit(e, ESMTP_EREFUSED, r, "the server refused the session");
    ebuf_clear(&e->greeting);
    if (ebuf_append_str(&e->greeting, ebuf_str(&r->text)))
        return ESMTP_ENOMEM;
    e->has_greeting = 1;
    int rc = event(e, ESMTP_EVENT_GREETING, NULL, NULL, 0);
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
        ebuf_append_str(&shown, e->cfg.show_secrets || !*data ? data : "<redacted>"))
        rc = ESMTP_ENOMEM;
    if (rc == 0)
        rc = command_as(e, CMD_AUTH, NULL, 0, 0, line.data, ebuf_str(&shown));
    sasl_buf_wipe(&line);
    sasl_buf_wipe(&shown);
    return rc;
}

/* Picks a mechanism and starts AUTH. */
static int begin_auth(engine *e)
{
    const char *offered = engine_extension(e, "AUTH");
    if (!offered)
        return stop_with_quit(e, ESMTP_ENOMECH, NULL,
                              "credentials are set but the server does not offer AUTH");
    char token[8192] = "";
    unsigned char cb[32];
    sasl_creds creds = {0};
    int rc = e->ops.credentials ? e->ops.credentials(e->ud, &creds, cb, token, sizeof token)
                                : 0;
    ebuf line = {0};
    const char *mech = NULL;
    if (rc == 0) {
        token[sizeof token - 1] = '\0';
        mech = sasl_choose(offered, e->cfg.auth_mechs, &creds, e->tls_active,
                           e->cfg.allow_plaintext_auth);
    }
    if (rc) {
        rc = ESMTP_ECALLBACK;
    } else if (!mech) {
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
        if (rc == 0)
            set_phase(e, CONN_AUTH);
    }
    sasl_buf_wipe(&line);
    mem_wipe(token, sizeof token);
    return rc;
}

static int on_auth(engine *e, const reply *r)
{
    const char *text = ebuf_str(&r->text);
    int cancelled = e->phase == CONN_AUTH_CANCELLED;
    if (r->code == 334 && !cancelled) {
        ebuf resp = {0};
        int rc = sasl_client_step(e->sasl, text, strlen(text), &resp);
        if (rc == ESMTP_EPROTO) {
            /* RFC 4954 section 4: "*" cancels; the server answers 501. */
            set_phase(e, CONN_AUTH_CANCELLED);
            rc = command(e, CMD_AUTH, NULL, "*");
        } else if (rc == 0) {
            rc = auth_line(e, "", ebuf_str(&resp));
        }
        sasl_buf_wipe(&resp);
        return rc;
    }
    char why[300];
    if (cancelled) {
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
    int rc = event(e, ESMTP_EVENT_AUTHENTICATED, NULL, NULL, 0);
    return rc ? rc : ready_for_mail(e);
}

/* The extensions are final (after TLS, if any) and AUTH is done: mail may
 * flow. */
static int ready_for_mail(engine *e)
{
    e->pipelining = e->cfg.pipelining && engine_extension(e, "PIPELINING") != NULL;
    /* BDAT pays off when chunks need not wait for replies. */
    e->chunking = e->pipelining && e->cfg.chunking && engine_extension(e, "CHUNKING");
    set_phase(e, CONN_MAIL);
    return advance(e);
}

/* TLS is settled: log in if asked, then send mail. */
static int after_tls(engine *e)
{
    return e->cfg.want_auth ? begin_auth(e) : ready_for_mail(e);
}

static int on_hello(engine *e, const pending_reply *p, const reply *r)
{
    if (r->code / 100 == 2) {
        int rc = p->kind == CMD_EHLO ? ehlo_parse(&e->caps, ebuf_str(&r->text)) : 0;
        if (rc == 0)
            rc = event(e, ESMTP_EVENT_EXTENSIONS, NULL, NULL, 0);
        if (rc)
            return rc;
        if (e->tls_active || e->cfg.tls == ENGINE_TLS_NONE)
            return after_tls(e);
        if (engine_extension(e, "STARTTLS")) {
            rc = command(e, CMD_STARTTLS, NULL, "STARTTLS");
            if (rc == 0)
                set_phase(e, CONN_STARTTLS);
            return rc;
        }
        if (e->cfg.tls == ENGINE_STARTTLS_REQUIRED)
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
        set_phase(e, CONN_TLS); /* the driver now runs the handshake */
        return 0;
    }
    if (!is_refusal(r)) /* neither go-ahead nor refusal: in clear or in TLS? */
        return stop_with_quit(e, ESMTP_EPROTO, r,
                              "the server answered STARTTLS with neither 220 nor a refusal");
    if (e->cfg.tls == ENGINE_STARTTLS_REQUIRED)
        return stop_with_quit(e, ESMTP_ENOTLS, r, "the server refused STARTTLS");
    return after_tls(e);
}

int engine_tls_started(engine *e)
{
    /* RFC 3207 section 4.2: forget everything learned in clear. */
    e->tls_active = 1;
    ehlo_free(&e->clear_caps);
    e->clear_caps = e->caps;
    e->caps = (ehlo_caps){0};
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
        int rc = event(e, ESMTP_EVENT_PARAMS_DROPPED, m, NULL, 0);
        if (rc)
            return rc;
        if (!e->pipelining)
            return begin_transaction(e, m);
        m->txn.restart = 1; /* once the envelope's other replies are in */
        return 0;
    }
    int rc = decide_refused(e, m, r);
    return rc == 0 && !e->pipelining ? close_transaction(e, m) : rc;
}

static int on_rcpt(engine *e, esmtp_message *m, size_t i, const reply *r)
{
    m->txn.rcpts_out--;
    if (is_final(m) || m->txn.restart)
        return 0; /* MAIL failed: its reply decided, or MAIL goes again */
    esmtp_recipient *rcpt = m->rcpts[i];
    int rc;
    if (r->code / 100 == 2 || r->code == 452) {
        /* Accepted for now, the reply to the dot decides; or put off until
         * this transaction is done (452: too many recipients). */
        if (r->code == 452) {
            rcpt->deferred = 1;
            m->txn.deferred++;
        } else {
            m->txn.accepted++;
        }
        rc = outcome_set(&rcpt->result, ESMTP_STATUS_PENDING, r->code, r->enhanced,
                         ebuf_str(&r->text));
    } else {
        rc = outcome_set(&rcpt->result, refused_status(r), r->code, r->enhanced,
                         ebuf_str(&r->text));
    }
    if (rc == 0)
        rc = event(e, ESMTP_EVENT_RECIPIENT, m, rcpt, 0);
    if (rc || m->txn.rcpts_out > 0)
        return rc;
    if (!e->pipelining && next_open_rcpt(m, i + 1) < m->nrcpts)
        return send_rcpt(e, m, next_open_rcpt(m, i + 1));
    /* The last recipient has its answer. */
    if (m->txn.accepted == 0) {
        rc = decide_no_recipient(e, m);
        return rc == 0 && !e->pipelining ? close_transaction(e, m) : rc;
    }
    if (e->pipelining)
        return 0;
    set_txn_phase(m, TXN_DATA);
    return command(e, CMD_DATA, m, "DATA");
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
        int rc = command(e, CMD_DOT, m, ".");
        if (rc || !m->txn.restart)
            return rc ? rc : data_queued(e, m, TXN_LONE_DOT);
        set_txn_phase(m, TXN_LONE_DOT); /* MAIL goes again once the dot is answered */
        return 0;
    }
    if (r->code / 100 == 2)
        return close_session(e, ESMTP_EPROTO, r, "the server answered DATA with a success code");
    int rc = is_final(m) ? 0 : decide_refused(e, m, r);
    return rc ? rc : close_transaction(e, m);
}

static int on_dot(engine *e, esmtp_message *m, const reply *r)
{
    if (m->txn.restart)
        return begin_transaction(e, m); /* MAIL again, without the parameters */
    int rc = m->txn.phase == TXN_LONE_DOT ? 0 : transaction_done(e, m, r);
    return rc ? rc : close_transaction(e, m);
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
    if (rc || m->txn.bdat_out > 0 || body_running(e, m))
        return rc;
    /* The chunk replies are all in and no more will be sent. */
    return m->txn.restart ? retry_plain(e, m) : close_transaction(e, m);
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
        return close_session(e, ESMTP_ESERVICE, r, "the server is closing the session");
    return close_session(e, ESMTP_EPROTO, r, "the server sent a reply nobody asked for");
}

/* Dispatches one complete reply to what awaited it. */
static int on_reply(engine *e, const reply *r)
{
    pending_reply p = e->queue[e->qhead++];
    if (p.kind == CMD_QUIT) {
        set_phase(e, CONN_DONE);
        return e->error;
    }
    if (r->code == 421)
        return close_session(e, ESMTP_ESERVICE, r, "the server is closing the session");
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
        return on_bdat(e, p.msg, p.last, r);
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
    transcript(ctx, ESMTP_FROM_SERVER, line, len);
}

int engine_connected(engine *e, const char *helo)
{
    free(e->helo);
    if (!(e->helo = mem_strdup(helo)))
        return ESMTP_ENOMEM;
    e->parser.on_line = on_server_line;
    e->parser.on_line_ctx = e;
    set_phase(e, CONN_GREETING);
    return expect(e, CMD_GREETING, NULL, 0, 0);
}

/* ------------------------------------------------------------ the end */

/* An error from a handler that did not end the session itself. */
static int fail_local(engine *e, int rc)
{
    if (e->phase == CONN_DONE)
        return e->error;
    return close_session(e, rc,
                         NULL, rc == ESMTP_ECALLBACK ? "a callback aborted the session"
                                                     : esmtp_strerror(rc));
}

int engine_recv(engine *e, const char *data, size_t len)
{
    while (len > 0 && e->phase != CONN_DONE) {
        if (!reply_parser_started(&e->parser))
            e->unsolicited = !reply_due(e);
        size_t used = 0;
        int rc = reply_parser_feed(&e->parser, data, len, &used);
        data += used;
        len -= used;
        if (rc < 0) {
            /* After QUIT nothing is at stake: some servers answer it with
             * noise (QQ Mail). */
            if (e->phase == CONN_QUIT) {
                set_phase(e, CONN_DONE);
                return e->error;
            }
            if (rc == ESMTP_ENOMEM)
                return close_session(e, rc, NULL, esmtp_strerror(rc));
            char why[128];
            snprintf(why, sizeof why, "malformed reply from the server: %s",
                     e->parser.error ? e->parser.error : esmtp_strerror(rc));
            return close_session(e, ESMTP_EPROTO, NULL, why);
        }
        if (rc == 1) {
            rc = e->unsolicited ? on_unsolicited(e, &e->parser.reply)
                                : on_reply(e, &e->parser.reply);
            if (rc < 0)
                return fail_local(e, rc);
            /* Anything after the 220 to STARTTLS would be read as if it
             * came over TLS: the CVE-2011-0411 injection. */
            if (e->phase == CONN_TLS && (len > 0 || reply_parser_started(&e->parser)))
                return close_session(e, ESMTP_EPROTO, NULL,
                                     "the server sent data after its 220 reply to STARTTLS and "
                                     "before the TLS handshake (a command injection attempt?)");
        }
    }
    return e->phase == CONN_DONE ? e->error : 0;
}

/* The body could not be produced. Half of it may be on the wire: only
 * dropping the connection keeps the server from delivering that. A body
 * that is wrong in itself fails for good; one that could not be read, or
 * that memory ran out for, may go another time. */
static int body_failed(engine *e, int rc)
{
    int wrong = rc == ESMTP_E8BIT || rc == ESMTP_EBARENEWLINE;
    const char *why = rc == ESMTP_E8BIT ? "the streamed body has 8-bit bytes but was not "
                                          "declared 8-bit (esmtp_message_set_8bit)"
                      : rc == ESMTP_EBARENEWLINE ? "the body has a bare CR or LF"
                      : rc == ESMTP_EREAD        ? "the body's read callback failed"
                                                 : esmtp_strerror(rc);
    decide_message(e, e->body_msg, wrong ? ESMTP_STATUS_PERMFAIL : ESMTP_STATUS_TEMPFAIL, 0, "",
                   why);
    return close_session(e, rc, NULL, why);
}

/* The transcript shows a body as its size, not its lines. */
static void body_note(engine *e, uint64_t body_bytes)
{
    char text[64];
    snprintf(text, sizeof text, "(message body: %llu bytes)", (unsigned long long)body_bytes);
    note(e, text);
}

/* The message's last bytes are queued (the dot, BDAT LAST, or a lone dot). */
static int data_queued(engine *e, esmtp_message *m, txn_phase phase)
{
    set_txn_phase(m, phase);
    m->txn.dot_end = e->queued;
    ds_free(&e->ds);
    /* With PIPELINING the next transaction may follow at once, so that it
     * leaves in the same write. */
    if (e->pipelining) {
        e->cur = NULL;
        return advance(e);
    }
    return 0;
}

/* RFC 3030 section 3: after a failed chunk, or once the transaction has
 * failed, no more chunks. */
static int stop_bdat(engine *e, esmtp_message *m)
{
    set_txn_phase(m, TXN_BODY_STOPPED);
    ds_free(&e->ds);
    if (m->txn.bdat_out > 0)
        return 0;
    return m->txn.restart ? retry_plain(e, m) : close_transaction(e, m);
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
    int last = rc == 1;
    char head[48];
    snprintf(head, sizeof head, "BDAT %zu%s", got, last ? " LAST" : "");
    rc = command_as(e, CMD_BDAT, m, 0, last, head, head);
    if (rc == 0)
        rc = queue_bytes(e, e->bdat_buf, got);
    if (rc)
        return rc;
    e->queue[e->qlen - 1].sent_by = e->queued; /* the server answers once it has the chunk */
    m->txn.bdat_out++;
    if (!last)
        return 0;
    body_note(e, e->ds.out_bytes);
    return data_queued(e, m, TXN_DOT);
}

static int fill_body(engine *e)
{
    if (e->out_off > 0) {
        ebuf_consume(&e->out, e->out_off);
        e->out_off = 0;
    }
    if (e->body_msg->txn.bdat)
        return fill_bdat(e);
    while (in_body(e) && e->out.len < BODY_CHUNK) {
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
    if (e->phase != CONN_DONE && in_body(e) && e->out.len - e->out_off < BODY_LOW) {
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
    uint64_t end = m->txn.dot_end ? m->txn.dot_end - 3 : e->queued; /* the body, not the dot */
    uint64_t done = (e->sent < end ? e->sent : end) - m->txn.body_start;
    if (done == e->body_reported)
        return 0;
    e->body_reported = done;
    int rc = event(e, ESMTP_EVENT_BODY_BYTES, m, NULL, done);
    return rc ? fail_local(e, rc) : 0;
}

int engine_closed(engine *e, int reason, const char *why)
{
    if (e->phase == CONN_DONE)
        return e->error;
    if (e->phase == CONN_QUIT) {
        set_phase(e, CONN_DONE);
        return e->error;
    }
    return close_session(e, reason, NULL, why);
}

int engine_wants_write(const engine *e)
{
    return e->phase != CONN_DONE && (in_body(e) || e->out_off < e->out.len);
}

esmtp_timeout engine_phase(const engine *e)
{
    if (engine_wants_write(e)) {
        const esmtp_message *m = e->body_msg;
        int body = in_body(e) || (m && e->sent < m->txn.dot_end);
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

/* ------------------------------------------------------------ queries */

int engine_done(const engine *e)
{
    return e->phase == CONN_DONE;
}

int engine_wants_tls(const engine *e)
{
    return e->phase == CONN_TLS;
}

int engine_tls_active(const engine *e)
{
    return e->tls_active;
}

int engine_error(const engine *e)
{
    return e->error;
}

const char *engine_detail(const engine *e)
{
    return ebuf_str(&e->detail);
}

int engine_fail_code(const engine *e)
{
    return e->fail_code;
}

const char *engine_fail_enhanced(const engine *e)
{
    return e->fail_enhanced;
}

const char *engine_greeting(const engine *e)
{
    return e->has_greeting ? ebuf_str(&e->greeting) : NULL;
}

void engine_show_secrets(engine *e, int show)
{
    e->cfg.show_secrets = show != 0;
}
