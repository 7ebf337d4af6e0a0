/* A session's run: connecting, TLS, and the loop that moves bytes between
 * the transport and the engine. The blocking call is a plain poll() loop
 * over the event-loop API. SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "alloc.h"
#include "internal.h"
#include "sasl.h"

static const char *const phase_names[ESMTP_TIMEOUT_ALL] = {
    [ESMTP_TIMEOUT_CONNECT] = "connecting",
    [ESMTP_TIMEOUT_GREETING] = "the greeting",
    [ESMTP_TIMEOUT_COMMAND] = "a command reply",
    [ESMTP_TIMEOUT_DATA_INIT] = "the reply to DATA",
    [ESMTP_TIMEOUT_DATA_BLOCK] = "sending the body",
    [ESMTP_TIMEOUT_DATA_END] = "the reply to the end of data",
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The TLS mode in force: ESMTP_TLS_DEFAULT resolved by the port. */
static esmtp_tls_mode tls_mode(const esmtp_session *s)
{
    if (s->tls_mode != ESMTP_TLS_DEFAULT)
        return s->tls_mode;
    return s->port == 465 ? ESMTP_TLS_IMPLICIT : ESMTP_TLS_STARTTLS;
}

/* Whether the caller asked for AUTH. */
static int wants_auth(const esmtp_session *s)
{
    /* EXTERNAL needs no user name: the certificate speaks. */
    return s->auth_user ||
           (s->auth_mechs && sasl_choose("EXTERNAL", s->auth_mechs, NULL, 1, 0) != NULL);
}

/* Reports a progress event; returns ESMTP_ECALLBACK if the callback asked
 * to abort, else 0. */
static int progress(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                    uint64_t bytes)
{
    if (!s->progress_cb)
        return 0;
    return s->progress_cb(s, ev, m, r, bytes, s->progress_ud) ? ESMTP_ECALLBACK : 0;
}

/* ------------------------------------------------------------ the engine's callbacks */

/* The only place that knows both the session and the engine: the engine's
 * events, transcript lines and requests for credentials go to the
 * session's callbacks and settings. */
static int on_engine_event(void *ud, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                        uint64_t bytes)
{
    return progress(ud, ev, m, r, bytes);
}

static void on_engine_transcript(void *ud, esmtp_direction dir, const char *line, size_t len)
{
    esmtp_session *s = ud;
    if (s->transcript_cb)
        s->transcript_cb(s, dir, line, len, s->transcript_ud);
}

static int on_engine_credentials(void *ud, sasl_creds *creds, unsigned char cb[32], char *token,
                              size_t cap)
{
    esmtp_session *s = ud;
    creds->user = s->auth_user;
    creds->password = s->auth_password;
    creds->host = s->host;
    creds->port = s->port;
    /* RFC 9266 tls-exporter binding: TLS 1.3 only, so none may be had. */
    if (session_tls(s) && tls_exporter(s->tls, cb) == 0) {
        creds->cb_data = cb;
        creds->cb_len = 32;
    }
    if (s->token_cb) {
        if (s->token_cb(s, token, cap, s->token_ud) != 0)
            return ESMTP_ECALLBACK;
        creds->token = token;
    }
    return 0;
}

static const engine_ops session_engine_ops = {
    .event = on_engine_event,
    .transcript = on_engine_transcript,
    .credentials = on_engine_credentials,
};

static void start_engine(esmtp_session *s)
{
    static const engine_tls modes[] = {
        [ESMTP_TLS_NONE] = ENGINE_TLS_NONE,
        [ESMTP_TLS_IMPLICIT] = ENGINE_TLS_IMPLICIT,
        [ESMTP_TLS_STARTTLS] = ENGINE_STARTTLS_REQUIRED,
        [ESMTP_TLS_STARTTLS_OPTIONAL] = ENGINE_STARTTLS_OPTIONAL,
    };
    engine_config cfg = {
        .tls = modes[tls_mode(s)],
        .pipelining = s->pipelining,
        .chunking = s->chunking,
        .want_auth = wants_auth(s),
        .auth_mechs = s->auth_mechs,
        .allow_plaintext_auth = s->auth_plaintext,
        .show_secrets = s->show_secrets,
    };
    engine_free(&s->eng);
    engine_init(&s->eng, &cfg, &session_engine_ops, s, s->msgs, s->nmsgs);
}

/* ------------------------------------------------------------ running */

/* Keeps the TLS session of a connection that ended well, to resume it
 * when the same server is contacted again. */
static void keep_resume(esmtp_session *s)
{
    tls_resume *r = session_tls(s) && !engine_error(&s->eng) ? tls_get_resume(s->tls) : NULL;
    if (!r)
        return;
    char *host = mem_strdup(s->host);
    if (!host) {
        tls_resume_free(r);
        return;
    }
    tls_resume_free(s->resume);
    free(s->resume_host);
    s->resume = r;
    s->resume_host = host;
    s->resume_port = s->port;
}

/* The run is over: close the connection and report. Returns what
 * esmtp_session_process() returns. */
static int finish(esmtp_session *s)
{
    int err = engine_error(&s->eng);
    keep_resume(s);
    transport_close(&s->tr);
    s->state = SESSION_DONE;
    s->deadline_ms = 0;
    s->result = err ? err : 1;
    if (s->connected) {
        s->connected = 0;
        progress(s, ESMTP_EVENT_DISCONNECTED, NULL, NULL, 0);
    }
    if (err && s->error_cb)
        s->error_cb(s, err, engine_detail(&s->eng), s->error_ud);
    return s->result;
}

/* Ends a run that failed before or while connecting. */
static int fail_run(esmtp_session *s, int err, const char *why)
{
    engine_closed(&s->eng, err, why);
    return finish(s);
}

static int connect_next(esmtp_session *s, char *why, size_t whylen)
{
    if (transport_connect_next(&s->tr, why, whylen) != 0)
        return fail_run(s, ESMTP_ECONNECT, why);
    s->state = SESSION_CONNECTING;
    s->deadline_ms = now_ms() + s->timeouts[ESMTP_TIMEOUT_CONNECT];
    return 0;
}

int esmtp_session_start(esmtp_session *s)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    if (!s->host)
        return ESMTP_EINVAL;
    size_t pending = 0;
    for (size_t i = 0; i < s->nmsgs; i++)
        pending += s->msgs[i]->result.status == ESMTP_STATUS_PENDING;
    if (pending == 0)
        return ESMTP_ENOMESSAGE;

    start_engine(s);
    tls_free(s->tls);
    s->tls = NULL;
    s->tls_handshaking = 0;
    s->tls_out_off = s->tls_plain_pending = 0;
    s->got_bytes = 0;
    s->silence_ms = 0;
    s->result = 0;
    s->state = SESSION_CONNECTING;

    /* Whatever a body generator must read to choose its encodings is read
     * here, not inside esmtp_session_process(). Any other failure comes
     * back when the message is prepared, and decides it then. */
    for (size_t i = 0; i < s->nmsgs; i++) {
        esmtp_message *m = s->msgs[i];
        if (m->result.status == ESMTP_STATUS_PENDING && m->scan &&
            m->scan(m, m->prepare_ud) == ESMTP_ENOMEM)
            return fail_run(s, ESMTP_ENOMEM, esmtp_strerror(ESMTP_ENOMEM));
    }

    /* A Unicode host name is looked up, sent as SNI and matched against the
     * certificate as its A-labels. IP literals pass unchanged. */
    char why[300];
    const char *reason;
    ebuf_clear(&s->host_ascii);
    int rc = addr_domain_to_ascii(s->host, &s->host_ascii, &reason);
    if (rc == ESMTP_EINVAL && strchr(s->host, ':'))
        rc = ebuf_append_str(&s->host_ascii, s->host); /* an IPv6 literal without brackets */
    if (rc) {
        snprintf(why, sizeof why, "the server's name: %s", reason);
        return fail_run(s, rc == ESMTP_ENOMEM ? rc : ESMTP_ERESOLVE, why);
    }
    rc = transport_resolve(&s->tr, ebuf_str(&s->host_ascii), s->port, why, sizeof why);
    if (rc)
        return fail_run(s, rc, why);
    rc = connect_next(s, why, sizeof why);
    return rc < 0 ? rc : 0;
}

/* Starts the TLS handshake (at once for implicit TLS, after STARTTLS). */
static int start_tls(esmtp_session *s)
{
    char why[300];
    int same_server = s->resume && s->resume_port == s->port && strcmp(s->resume_host, s->host) == 0;
    int rc = tls_new(&s->tls, &s->tls_cfg, ebuf_str(&s->host_ascii),
                     same_server ? s->resume : NULL, why,
                     sizeof why);
    if (rc == 0) {
        s->tls_handshaking = 1;
        rc = tls_handshake(s->tls, why, sizeof why); /* queues the ClientHello */
    }
    if (rc < 0) {
        engine_closed(&s->eng, rc, why);
        return rc;
    }
    return 0;
}

static int on_connected(esmtp_session *s)
{
    s->state = SESSION_RUNNING;
    s->connected = 1;
    s->helo = s->helo_name;
    if (!s->helo) {
        /* RFC 5321 section 4.1.4: a fully qualified name, else an address
         * literal. */
        char host[256];
        if (gethostname(host, sizeof host) == 0 && (host[sizeof host - 1] = '\0', strchr(host, '.')))
            snprintf(s->helo_auto, sizeof s->helo_auto, "%s", host);
        else if (transport_local_literal(&s->tr, s->helo_auto, sizeof s->helo_auto) != 0)
            snprintf(s->helo_auto, sizeof s->helo_auto, "[127.0.0.1]");
        s->helo = s->helo_auto;
    }
    uint64_t now = now_ms();
    s->deadline_ms = now + s->timeouts[ESMTP_TIMEOUT_GREETING];
    /* Port 465 speaks implicit TLS almost everywhere: a client in clear
     * there meets silence, which should not take minutes to explain. */
    if (s->port == 465 && !engine_tls_active(&s->eng))
        s->silence_ms = now + 1000;
    int rc = progress(s, ESMTP_EVENT_CONNECTED, NULL, NULL, 0);
    if (rc == 0)
        rc = engine_connected(&s->eng, s->helo);
    if (rc == 0 && engine_tls_active(&s->eng) && start_tls(s) < 0)
        return finish(s);
    if (rc)
        return fail_run(s, rc, rc == ESMTP_ECALLBACK ? "a callback aborted the session"
                                                     : esmtp_strerror(rc));
    return 0;
}

static int process_connecting(esmtp_session *s, int ready)
{
    char why[300];
    if (ready & ESMTP_WANT_WRITE) {
        if (transport_connect_result(&s->tr, why, sizeof why) == 0)
            return on_connected(s);
        return connect_next(s, why, sizeof why);
    }
    if (now_ms() >= s->deadline_ms) {
        snprintf(why, sizeof why, "connect to %s timed out", s->tr.peer);
        return connect_next(s, why, sizeof why);
    }
    return 0;
}

/* The first bytes from the server tell whether both ends speak the same
 * mode: a TLS record in clear, or an SMTP greeting where TLS was due. */
static int check_port_mode(esmtp_session *s, const unsigned char *b, size_t n)
{
    char why[300];
    if (s->got_bytes)
        return 0;
    s->got_bytes = 1;
    s->silence_ms = 0;
    if (!s->tls && n >= 2 && b[0] >= 0x14 && b[0] <= 0x17 && b[1] == 0x03) {
        snprintf(why, sizeof why,
                 "the server on port %u answered with TLS: it speaks implicit TLS; "
                 "use ESMTP_TLS_IMPLICIT", s->port);
    } else if (s->tls && s->tls_handshaking && n >= 4 && b[0] >= '2' && b[0] <= '5' &&
               b[1] >= '0' && b[1] <= '9' && b[2] >= '0' && b[2] <= '9' &&
               (b[3] == ' ' || b[3] == '-')) {
        size_t len = 0;
        while (len < n && len < 80 && b[len] >= ' ' && b[len] < 0x7f)
            len++;
        snprintf(why, sizeof why,
                 "the server on port %u sent a plain SMTP greeting (\"%.*s\") where TLS "
                 "was expected: it speaks STARTTLS; use ESMTP_TLS_STARTTLS", s->port, (int)len,
                 (const char *)b);
    } else {
        return 0;
    }
    engine_closed(&s->eng, ESMTP_ETLSMODE, why);
    return ESMTP_ETLSMODE;
}

/* Moves bytes that arrived from the network into the engine, through TLS
 * when it is on. */
static void receive(esmtp_session *s, const char *buf, size_t n)
{
    engine *e = &s->eng;
    if (check_port_mode(s, (const unsigned char *)buf, n))
        return;
    if (!s->tls) {
        engine_recv(e, buf, n);
        if (engine_wants_tls(e))
            start_tls(s);
        return;
    }
    char why[300];
    int rc = tls_feed(s->tls, buf, n);
    if (rc == 0 && s->tls_handshaking) {
        rc = tls_handshake(s->tls, why, sizeof why);
        if (rc < 0) {
            engine_closed(e, rc, why);
            return;
        }
        if (rc == 0)
            return;
        s->tls_handshaking = 0;
        rc = progress(s, ESMTP_EVENT_TLS, NULL, NULL, 0);
        if (rc == 0 && engine_wants_tls(e))
            rc = engine_tls_started(e);
    }
    char plain[16384];
    long got;
    while (rc == 0 && !engine_done(e) && (got = tls_read(s->tls, plain, sizeof plain)) != 0) {
        if (got < 0) {
            engine_closed(e, (int)got,
                          got == ESMTP_EIO      ? "the server closed the TLS connection"
                          : got == ESMTP_ENOMEM ? esmtp_strerror(ESMTP_ENOMEM)
                                                : "the TLS connection failed");
            return;
        }
        engine_recv(e, plain, (size_t)got);
    }
    if (rc < 0 && !engine_done(e))
        engine_closed(e, rc, rc == ESMTP_ECALLBACK ? "a callback aborted the session"
                                                   : esmtp_strerror(rc));
}

/* Sends what is waiting. Returns 1 if bytes left, 0 if not, < 0 when the
 * connection failed (the engine then knows). */
static int transmit(esmtp_session *s)
{
    engine *e = &s->eng;
    int progressed = 0;
    while (!engine_done(e)) {
        const char *data;
        size_t len;
        ebuf *net = s->tls ? tls_output(s->tls) : NULL;
        if (net && s->tls_out_off < net->len) {
            data = net->data + s->tls_out_off;
            len = net->len - s->tls_out_off;
        } else if (net) {
            /* All ciphertext is out: its plaintext has been sent. */
            ebuf_clear(net);
            s->tls_out_off = 0;
            if (s->tls_plain_pending) {
                engine_sent(e, s->tls_plain_pending);
                s->tls_plain_pending = 0;
                continue;
            }
            if (s->tls_handshaking || !engine_wants_write(e) ||
                engine_output(e, &data, &len) != 0 || len == 0)
                break;
            long n = tls_write(s->tls, data, len);
            if (n < 0) {
                engine_closed(e, (int)n, n == ESMTP_ENOMEM ? esmtp_strerror(ESMTP_ENOMEM)
                                                           : "the TLS connection failed while writing");
                break;
            }
            s->tls_plain_pending = (size_t)n;
            continue;
        } else if (!engine_wants_write(e) || engine_output(e, &data, &len) != 0 || len == 0) {
            break;
        }
        long n = transport_send(&s->tr, data, len);
        if (n < 0) {
            engine_closed(e, ESMTP_EIO, "the connection failed while writing");
            break;
        }
        if (n == 0)
            break;
        progressed = 1;
        if (net)
            s->tls_out_off += (size_t)n;
        else
            engine_sent(e, (size_t)n);
    }
    return progressed;
}

static int process_running(esmtp_session *s, int ready)
{
    engine *e = &s->eng;
    int progressed = 0;
    if (ready & ESMTP_WANT_READ) {
        char buf[16384];
        while (!engine_done(e)) {
            int eof;
            long n = transport_recv(&s->tr, buf, sizeof buf, &eof);
            if (n == 0)
                break;
            if (n < 0) {
                engine_closed(e, ESMTP_EIO,
                              eof ? "the server closed the connection"
                                  : "the connection failed while reading");
                break;
            }
            progressed = 1;
            receive(s, buf, (size_t)n);
        }
    }
    /* Write whatever the replies just released without waiting for the
     * next poll: that is what keeps a pipelined session to one round trip
     * per message. */
    progressed |= transmit(s);
    if (engine_done(e))
        return finish(s);
    uint64_t now = now_ms();
    esmtp_timeout phase = engine_phase(e);
    if (s->silence_ms && now >= s->silence_ms) {
        char why[200];
        snprintf(why, sizeof why,
                 "no greeting within 1 s on port %u, which normally speaks implicit TLS: "
                 "use ESMTP_TLS_IMPLICIT", s->port);
        engine_closed(e, ESMTP_ETLSMODE, why);
        return finish(s);
    }
    if (progressed) {
        s->deadline_ms = now + s->timeouts[phase];
    } else if (now >= s->deadline_ms) {
        char why[256];
        /* A server that never said a word may be waiting for a TLS
         * ClientHello: worth a hint. */
        snprintf(why, sizeof why, "timed out after %u ms waiting for %s%s", s->timeouts[phase],
                 phase_names[phase],
                 !s->got_bytes && !s->tls ? " (if this port speaks implicit TLS, use "
                                            "ESMTP_TLS_IMPLICIT)" : "");
        engine_closed(e, ESMTP_ETIMEOUT, why);
        return finish(s);
    }
    return 0;
}

int esmtp_session_process(esmtp_session *s, int ready)
{
    if (!s)
        return ESMTP_EINVAL;
    switch (s->state) {
    case SESSION_CONNECTING:
        return process_connecting(s, ready);
    case SESSION_RUNNING:
        return process_running(s, ready);
    case SESSION_DONE:
        return s->result;
    default:
        return ESMTP_ESTATE;
    }
}

int esmtp_session_fd(const esmtp_session *s)
{
    return s && (s->state == SESSION_CONNECTING || s->state == SESSION_RUNNING) ? s->tr.fd : -1;
}

int esmtp_session_want(const esmtp_session *s)
{
    if (!s)
        return 0;
    if (s->state == SESSION_CONNECTING)
        return ESMTP_WANT_WRITE;
    if (s->state != SESSION_RUNNING)
        return 0;
    int write = s->tls ? tls_output(s->tls)->len > s->tls_out_off || s->tls_plain_pending ||
                             (!s->tls_handshaking && engine_wants_write(&s->eng))
                       : engine_wants_write(&s->eng);
    return ESMTP_WANT_READ | (write ? ESMTP_WANT_WRITE : 0);
}

int esmtp_session_timeout_ms(const esmtp_session *s)
{
    if (!s || (s->state != SESSION_CONNECTING && s->state != SESSION_RUNNING))
        return -1;
    uint64_t now = now_ms();
    uint64_t deadline = s->deadline_ms;
    if (s->silence_ms && s->silence_ms < deadline)
        deadline = s->silence_ms;
    if (now >= deadline)
        return 0;
    uint64_t left = deadline - now;
    return left > INT_MAX ? INT_MAX : (int)left;
}

int esmtp_session_send(esmtp_session *s)
{
    int rc = esmtp_session_start(s);
    while (rc == 0) {
        struct pollfd pfd = {.fd = esmtp_session_fd(s), .events = 0, .revents = 0};
        int want = esmtp_session_want(s);
        if (want & ESMTP_WANT_READ)
            pfd.events |= POLLIN;
        if (want & ESMTP_WANT_WRITE)
            pfd.events |= POLLOUT;
        int n = poll(&pfd, 1, esmtp_session_timeout_ms(s));
        if (n < 0 && errno == EINTR)
            continue;
        int ready = 0;
        if (n > 0) {
            /* Errors and hang-ups are reported through the read or
             * connect path that asked for them. */
            if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
                ready |= want & ESMTP_WANT_READ ? ESMTP_WANT_READ : ESMTP_WANT_WRITE;
            if (pfd.revents & (POLLOUT | POLLERR | POLLHUP))
                ready |= ESMTP_WANT_WRITE;
        }
        rc = esmtp_session_process(s, ready);
    }
    return rc == 1 ? 0 : rc;
}

