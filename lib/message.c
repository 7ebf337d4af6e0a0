/* Messages and recipients: the envelope, the body source and the outcomes.
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "datastream.h"
#include "internal.h"

int outcome_set(outcome *o, esmtp_status status, int code, const char *enhanced,
                const char *text)
{
    o->status = status;
    o->code = code;
    size_t n = strlen(enhanced);
    if (n >= sizeof o->enhanced)
        n = 0;
    memcpy(o->enhanced, enhanced, n);
    o->enhanced[n] = '\0';
    size_t len = strlen(text);
    outcome_text *t = mem_malloc(sizeof *t + len + 1);
    o->text = NULL;
    if (!t)
        return ESMTP_ENOMEM;
    memcpy(t->text, text, len + 1);
    t->older = o->texts;
    o->texts = t;
    o->text = t->text;
    return 0;
}

void outcome_free(outcome *o)
{
    while (o->texts) {
        outcome_text *t = o->texts;
        o->texts = t->older;
        free(t);
    }
    o->text = NULL;
}

/* An address goes between angle brackets on a command line, so anything
 * that could end or extend the command is refused: control characters
 * (CR/LF injection), angle brackets, and spaces outside a quoted local
 * part. Bytes >= 0x80 are left to the SMTPUTF8 layer. */
static int valid_mailbox(const char *s, int allow_empty)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n == 0)
        return allow_empty;
    if (n > 512)
        return 0;
    int quoted = 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
            return 0;
        if (c == '"')
            quoted = !quoted;
        else if (c == '\\' && quoted && p[1])
            p++;
        else if (c == ' ' && !quoted)
            return 0;
    }
    return !quoted;
}

int esmtp_session_add_message(esmtp_session *s, esmtp_message **out)
{
    if (!s || !out)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    int rc = mem_grow(&s->msgs, &s->msgs_cap, s->nmsgs, sizeof *s->msgs, 8);
    if (rc)
        return rc;
    esmtp_message *m;
    rc = message_new(&m, s);
    if (rc)
        return rc;
    s->msgs[s->nmsgs++] = m;
    *out = m;
    return 0;
}

int esmtp_session_remove_message(esmtp_session *s, esmtp_message *m)
{
    if (!s || !m || m->session != s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    size_t i = 0;
    while (s->msgs[i] != m)
        i++;
    memmove(&s->msgs[i], &s->msgs[i + 1], (s->nmsgs - i - 1) * sizeof *s->msgs);
    s->nmsgs--;
    message_free(m);
    return 0;
}

int message_new(esmtp_message **out, esmtp_session *session)
{
    esmtp_message *m = mem_calloc(1, sizeof *m);
    if (!m)
        return ESMTP_ENOMEM;
    m->session = session;
    *out = m;
    return 0;
}

void message_free(esmtp_message *m)
{
    for (size_t i = 0; i < m->nrcpts; i++) {
        free(m->rcpts[i]->mailbox);
        free(m->rcpts[i]->orcpt);
        outcome_free(&m->rcpts[i]->result);
        free(m->rcpts[i]);
    }
    free(m->rcpts);
    free(m->reverse_path);
    free(m->dsn_envid);
    free(m->body);
    if (m->prepare_free)
        m->prepare_free(m->prepare_ud);
    outcome_free(&m->result);
    free(m);
}

int message_locked(const esmtp_message *m)
{
    const esmtp_session *s = m->session;
    return s && (s->state == SESSION_CONNECTING || s->state == SESSION_RUNNING);
}

static int editable(const esmtp_message *m)
{
    return !message_locked(m) && m->result.status == ESMTP_STATUS_PENDING;
}

int esmtp_message_set_reverse_path(esmtp_message *m, const char *mailbox)
{
    if (!m || !valid_mailbox(mailbox, 1))
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    return mem_set_string(&m->reverse_path, mailbox);
}

int esmtp_message_add_recipient(esmtp_message *m, const char *mailbox, esmtp_recipient **out)
{
    if (!m || !valid_mailbox(mailbox, 0))
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    if (mem_grow(&m->rcpts, &m->rcpts_cap, m->nrcpts, sizeof *m->rcpts, 4))
        return ESMTP_ENOMEM;
    esmtp_recipient *r = mem_calloc(1, sizeof *r);
    if (!r || !(r->mailbox = mem_strdup(mailbox))) {
        free(r);
        return ESMTP_ENOMEM;
    }
    r->message = m;
    m->rcpts[m->nrcpts++] = r;
    if (out)
        *out = r;
    return 0;
}

int esmtp_message_set_body(esmtp_message *m, const void *data, size_t len)
{
    if (!m || (!data && len))
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    unsigned char *copy = mem_malloc(len ? len : 1);
    if (!copy)
        return ESMTP_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    /* Measured here, once, rather than on the way to the wire. */
    ds_measure(copy, len, DS_NEWLINE_NORMALIZE, &m->body_size, &m->body_8bit,
               &m->body_verbatim);
    free(m->body);
    m->body = copy;
    m->body_len = len;
    m->read_cb = NULL;
    m->read_ud = NULL;
    m->body_set = 1;
    return 0;
}

int esmtp_message_set_body_cb(esmtp_message *m, esmtp_read_cb cb, void *user_data)
{
    if (!m || !cb)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    free(m->body);
    m->body = NULL;
    m->body_len = 0;
    m->read_cb = cb;
    m->read_ud = user_data;
    m->body_set = 1;
    return 0;
}

int esmtp_message_set_size(esmtp_message *m, uint64_t size)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->declared_size = size;
    m->size_declared = 1;
    return 0;
}

int esmtp_message_set_8bit(esmtp_message *m, int has_8bit)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->declared_8bit = has_8bit != 0;
    return 0;
}

int esmtp_message_set_newline_policy(esmtp_message *m, esmtp_newline_policy policy)
{
    if (!m || (policy != ESMTP_NEWLINE_NORMALIZE && policy != ESMTP_NEWLINE_REJECT))
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->newline_policy = policy;
    return 0;
}

esmtp_status esmtp_message_status(const esmtp_message *m)
{
    return m ? m->result.status : ESMTP_STATUS_PENDING;
}

int esmtp_message_code(const esmtp_message *m)
{
    return m ? m->result.code : 0;
}

const char *esmtp_message_enhanced_code(const esmtp_message *m)
{
    return m ? m->result.enhanced : "";
}

const char *esmtp_message_text(const esmtp_message *m)
{
    return m && m->result.text ? m->result.text : "";
}

size_t esmtp_message_recipient_count(const esmtp_message *m)
{
    return m ? m->nrcpts : 0;
}

esmtp_recipient *esmtp_message_recipient(const esmtp_message *m, size_t index)
{
    return m && index < m->nrcpts ? m->rcpts[index] : NULL;
}

const char *esmtp_recipient_mailbox(const esmtp_recipient *r)
{
    return r ? r->mailbox : "";
}

esmtp_status esmtp_recipient_status(const esmtp_recipient *r)
{
    return r ? r->result.status : ESMTP_STATUS_PENDING;
}

int esmtp_recipient_code(const esmtp_recipient *r)
{
    return r ? r->result.code : 0;
}

const char *esmtp_recipient_enhanced_code(const esmtp_recipient *r)
{
    return r ? r->result.enhanced : "";
}

const char *esmtp_recipient_text(const esmtp_recipient *r)
{
    return r && r->result.text ? r->result.text : "";
}

/* Replaces *slot with a copy of value (NULL clears it). */
int esmtp_message_set_dsn_ret(esmtp_message *m, esmtp_dsn_ret ret)
{
    if (!m || (unsigned)ret > ESMTP_DSN_RET_HDRS)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->dsn_ret = ret;
    return 0;
}

int esmtp_message_set_dsn_envid(esmtp_message *m, const char *envid)
{
    if (!m)
        return ESMTP_EINVAL;
    if (envid) {
        size_t n = strlen(envid);
        if (n == 0 || n > 100)
            return ESMTP_EINVAL;
        for (const char *p = envid; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                return ESMTP_EINVAL;
    }
    if (!editable(m))
        return ESMTP_ESTATE;
    return mem_set_string(&m->dsn_envid, envid);
}

int esmtp_message_set_dsn_required(esmtp_message *m, int required)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->dsn_required = required != 0;
    return 0;
}

int esmtp_recipient_set_dsn_notify(esmtp_recipient *r, int flags)
{
    const int all = ESMTP_NOTIFY_SUCCESS | ESMTP_NOTIFY_FAILURE | ESMTP_NOTIFY_DELAY;
    if (!r || (flags != 0 && flags != ESMTP_NOTIFY_NEVER && (flags & ~all)))
        return ESMTP_EINVAL;
    if (!editable(r->message))
        return ESMTP_ESTATE;
    r->notify = flags;
    return 0;
}

int esmtp_recipient_set_dsn_orcpt(esmtp_recipient *r, const char *address)
{
    if (!r || (address && !valid_mailbox(address, 0)))
        return ESMTP_EINVAL;
    if (!editable(r->message))
        return ESMTP_ESTATE;
    return mem_set_string(&r->orcpt, address);
}

int esmtp_message_set_requiretls(esmtp_message *m, int require)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->requiretls = require != 0;
    return 0;
}

int esmtp_message_set_deliver_by(esmtp_message *m, long seconds, int return_if_late)
{
    /* RFC 2852: with R the time must be positive; N allows any. */
    if (!m || seconds < -999999999L || seconds > 999999999L || (return_if_late && seconds < 0))
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->deliver_by = seconds;
    m->deliver_by_return = return_if_late != 0;
    return 0;
}

int esmtp_message_set_priority(esmtp_message *m, int priority)
{
    if (!m || priority < -9 || priority > 9)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->priority = priority;
    return 0;
}

int esmtp_message_set_utf8_headers(esmtp_message *m, int utf8)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->utf8_headers = utf8 != 0;
    return 0;
}

int esmtp_message_set_binary(esmtp_message *m, int binary)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->binary = binary != 0;
    return 0;
}

int esmtp_message_set_body_rewind_cb(esmtp_message *m, esmtp_rewind_cb cb)
{
    if (!m)
        return ESMTP_EINVAL;
    if (!editable(m))
        return ESMTP_ESTATE;
    m->rewind_cb = cb;
    return 0;
}

esmtp_session *esmtp_message_session(const esmtp_message *m)
{
    return m ? m->session : NULL;
}

esmtp_message *esmtp_recipient_message(const esmtp_recipient *r)
{
    return r ? r->message : NULL;
}

const char *esmtp_message_reverse_path(const esmtp_message *m)
{
    return m ? m->reverse_path : NULL;
}

int esmtp_message_set_user_data(esmtp_message *m, void *user_data)
{
    if (!m)
        return ESMTP_EINVAL;
    m->user_data = user_data;
    return 0;
}

void *esmtp_message_user_data(const esmtp_message *m)
{
    return m ? m->user_data : NULL;
}

int esmtp_recipient_set_user_data(esmtp_recipient *r, void *user_data)
{
    if (!r)
        return ESMTP_EINVAL;
    r->user_data = user_data;
    return 0;
}

void *esmtp_recipient_user_data(const esmtp_recipient *r)
{
    return r ? r->user_data : NULL;
}
