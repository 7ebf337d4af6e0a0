/* SPDX-License-Identifier: MIT */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>

#include "address.h"
#include "buf.h"
#include "datastream.h"

static int report_event(policy_report report, void *ud, esmtp_event ev, esmtp_message *m,
                        esmtp_recipient *r)
{
    return report(ud, ev, m, r) ? ESMTP_ECALLBACK : 0;
}

/* Decides how the envelope goes to this server: SMTPUTF8 or A-labels, DSN
 * or not, REQUIRETLS possible or not. Recipients that cannot be sent to
 * get their fate here, before anything is sent. */
static int check_envelope(esmtp_message *m, const policy_server *srv, policy_report report,
                          void *ud, char *why, size_t whylen)
{
    int offered = ehlo_find(srv->caps, "SMTPUTF8") != NULL;
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
    int rc = addr_for_envelope(m->reverse_path, m->use_smtputf8, &buf, &reason);
    if (rc == ESMTP_EINVAL)
        snprintf(why, whylen, "the reverse-path: %s", reason);
    size_t open = 0;
    for (size_t i = 0; rc == 0 && i < m->nrcpts; i++) {
        esmtp_recipient *r = m->rcpts[i];
        if (r->result.status != ESMTP_STATUS_PENDING)
            continue;
        ebuf_clear(&buf);
        rc = addr_for_envelope(r->mailbox, m->use_smtputf8, &buf, &reason);
        if (rc == 0) {
            open++;
            continue;
        }
        if (rc != ESMTP_EINVAL)
            break;
        rc = outcome_set(&r->result, ESMTP_STATUS_PERMFAIL, 0, "", reason);
        if (rc == 0)
            rc = report_event(report, ud, ESMTP_EVENT_RECIPIENT, m, r);
    }
    ebuf_free(&buf);
    if (rc)
        return rc;
    if (open == 0) {
        snprintf(why, whylen, "no recipient can be sent to");
        return ESMTP_EINVAL;
    }
    if (m->requiretls && (!srv->tls_active || !ehlo_find(srv->caps, "REQUIRETLS"))) {
        snprintf(why, whylen, "REQUIRETLS was asked for, but %s",
                 srv->tls_active ? "the server does not offer it" : "the connection is not TLS");
        return ESMTP_EINVAL;
    }
    int wants_dsn = m->dsn_ret || m->dsn_envid;
    for (size_t i = 0; i < m->nrcpts; i++)
        wants_dsn |= m->rcpts[i]->notify || m->rcpts[i]->orcpt;
    m->use_dsn = wants_dsn && ehlo_find(srv->caps, "DSN");
    if (wants_dsn && !m->use_dsn) {
        if (m->dsn_required) {
            snprintf(why, whylen, "DSN was required, but the server does not offer it");
            return ESMTP_EINVAL;
        }
        if ((rc = report_event(report, ud, ESMTP_EVENT_DSN_DROPPED, m, NULL)) != 0)
            return rc;
    }
    if ((m->deliver_by && !ehlo_find(srv->caps, "DELIVERBY")) ||
        (m->priority && !ehlo_find(srv->caps, "MT-PRIORITY")))
        return report_event(report, ud, ESMTP_EVENT_PARAMS_DROPPED, m, NULL);
    return 0;
}

int policy_check(esmtp_message *m, const policy_server *srv, policy_report report, void *ud,
                 char *why, size_t whylen)
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
        server_caps caps = {
            .eightbitmime = ehlo_find(srv->caps, "8BITMIME") != NULL,
            .smtputf8 = ehlo_find(srv->caps, "SMTPUTF8") != NULL,
        };
        int rc = m->prepare(m, &caps, m->prepare_ud);
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
        if (!srv->chunking || !ehlo_find(srv->caps, "BINARYMIME")) {
            snprintf(why, whylen, "a binary body needs CHUNKING and BINARYMIME%s, which the "
                                  "server does not offer",
                     srv->pipelining ? "" : " with PIPELINING");
            return ESMTP_EINVAL;
        }
    } else if (m->has_8bit && !ehlo_find(srv->caps, "8BITMIME")) {
        snprintf(why, whylen,
                 "the body has 8-bit bytes and the server does not offer 8BITMIME");
        return ESMTP_E8BIT;
    }
    const char *limit = ehlo_find(srv->caps, "SIZE");
    if (limit && m->size_known) {
        unsigned long long max = strtoull(limit, NULL, 10);
        if (max > 0 && m->size > max) {
            snprintf(why, whylen, "the message (%llu bytes) exceeds the server's limit of %llu",
                     (unsigned long long)m->size, max);
            return ESMTP_ETOOBIG;
        }
    }
    return check_envelope(m, srv, report, ud, why, whylen);
}
