/* The public session: options, callbacks, and the loop that moves bytes
 * between the transport and the protocol engine. The blocking call is a
 * plain poll() loop over the event-loop API. SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* RFC 5321 section 4.5.3.2; the connect timeout is Postfix's. */
static const unsigned int default_timeouts[ESMTP_TIMEOUT_ALL] = {
    [ESMTP_TIMEOUT_CONNECT] = 30 * 1000,
    [ESMTP_TIMEOUT_GREETING] = 5 * 60 * 1000,
    [ESMTP_TIMEOUT_COMMAND] = 5 * 60 * 1000,
    [ESMTP_TIMEOUT_DATA_INIT] = 2 * 60 * 1000,
    [ESMTP_TIMEOUT_DATA_BLOCK] = 3 * 60 * 1000,
    [ESMTP_TIMEOUT_DATA_END] = 10 * 60 * 1000,
};

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

int esmtp_session_new(esmtp_session **out)
{
    if (!out)
        return ESMTP_EINVAL;
    esmtp_session *s = calloc(1, sizeof *s);
    if (!s)
        return ESMTP_ENOMEM;
    s->port = 25;
    s->pipelining = 1;
    memcpy(s->timeouts, default_timeouts, sizeof s->timeouts);
    transport_init(&s->tr);
    *out = s;
    return 0;
}

void esmtp_session_free(esmtp_session *s)
{
    if (!s)
        return;
    transport_free(&s->tr);
    engine_free(&s->eng);
    for (size_t i = 0; i < s->nmsgs; i++)
        message_free(s->msgs[i]);
    free(s->msgs);
    free(s->host);
    free(s->helo_name);
    ebuf_free(&s->detail);
    ebuf_free(&s->greeting);
    free(s);
}

static int idle(const esmtp_session *s)
{
    return s->state == SESSION_IDLE || s->state == SESSION_DONE;
}

/* Replaces *slot with a copy of value. */
static int set_string(char **slot, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return ESMTP_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

int esmtp_session_set_server(esmtp_session *s, const char *host, unsigned int port)
{
    if (!s || !host || !*host || port > 65535)
        return ESMTP_EINVAL;
    if (!idle(s))
        return ESMTP_ESTATE;
    s->port = port ? port : 25;
    return set_string(&s->host, host);
}

int esmtp_session_set_helo_name(esmtp_session *s, const char *name)
{
    if (!s || !name || !*name || strlen(name) > 255)
        return ESMTP_EINVAL;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return ESMTP_EINVAL;
    if (!idle(s))
        return ESMTP_ESTATE;
    return set_string(&s->helo_name, name);
}

int esmtp_session_set_timeout(esmtp_session *s, esmtp_timeout phase, unsigned int ms)
{
    if (!s || ms == 0 || (unsigned)phase > ESMTP_TIMEOUT_ALL)
        return ESMTP_EINVAL;
    if (phase == ESMTP_TIMEOUT_ALL) {
        for (int i = 0; i < ESMTP_TIMEOUT_ALL; i++)
            s->timeouts[i] = ms;
    } else {
        s->timeouts[phase] = ms;
    }
    return 0;
}

int esmtp_session_set_pipelining(esmtp_session *s, int enable)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!idle(s))
        return ESMTP_ESTATE;
    s->pipelining = enable != 0;
    return 0;
}

int esmtp_session_set_progress_cb(esmtp_session *s, esmtp_progress_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->progress_cb = cb;
    s->progress_ud = user_data;
    return 0;
}

int esmtp_session_set_error_cb(esmtp_session *s, esmtp_error_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->error_cb = cb;
    s->error_ud = user_data;
    return 0;
}

int esmtp_session_set_transcript_cb(esmtp_session *s, esmtp_transcript_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->transcript_cb = cb;
    s->transcript_ud = user_data;
    return 0;
}

void session_set_detail(esmtp_session *s, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    ebuf_clear(&s->detail);
    ebuf_append_str(&s->detail, text); /* on ENOMEM the detail stays empty */
}

int session_progress(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                     uint64_t bytes)
{
    if (!s->progress_cb)
        return 0;
    return s->progress_cb(s, ev, m, r, bytes, s->progress_ud) ? ESMTP_ECALLBACK : 0;
}

void session_transcript(esmtp_session *s, esmtp_direction dir, const char *line, size_t len)
{
    if (s->transcript_cb)
        s->transcript_cb(s, dir, line, len, s->transcript_ud);
}

/* ------------------------------------------------------------ running */

/* The run is over: close the connection and report. Returns what
 * esmtp_session_process() returns. */
static int finish(esmtp_session *s)
{
    int err = s->eng.error;
    transport_close(&s->tr);
    s->state = SESSION_DONE;
    s->deadline_ms = 0;
    s->result = err ? err : 1;
    if (s->connected) {
        s->connected = 0;
        session_progress(s, ESMTP_EVENT_DISCONNECTED, NULL, NULL, 0);
    }
    if (err && s->error_cb)
        s->error_cb(s, err, ebuf_str(&s->detail), s->error_ud);
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
    if (!idle(s))
        return ESMTP_ESTATE;
    if (!s->host)
        return ESMTP_EINVAL;
    size_t pending = 0;
    for (size_t i = 0; i < s->nmsgs; i++)
        pending += s->msgs[i]->result.status == ESMTP_STATUS_PENDING;
    if (pending == 0)
        return ESMTP_ENOMESSAGE;

    engine_free(&s->eng);
    engine_init(&s->eng, s);
    ebuf_clear(&s->detail);
    ebuf_clear(&s->greeting);
    s->has_greeting = 0;
    s->result = 0;
    s->state = SESSION_CONNECTING;

    char why[300];
    int rc = transport_resolve(&s->tr, s->host, s->port, why, sizeof why);
    if (rc)
        return fail_run(s, rc, why);
    rc = connect_next(s, why, sizeof why);
    return rc < 0 ? rc : 0;
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
    s->deadline_ms = now_ms() + s->timeouts[ESMTP_TIMEOUT_GREETING];
    int rc = session_progress(s, ESMTP_EVENT_CONNECTED, NULL, NULL, 0);
    if (rc == 0)
        rc = engine_connected(&s->eng);
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

static int process_running(esmtp_session *s, int ready)
{
    engine *e = &s->eng;
    int progressed = 0;
    if (ready & ESMTP_WANT_READ) {
        char buf[16384];
        while (!e->done) {
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
            engine_recv(e, buf, (size_t)n);
        }
    }
    /* Write whatever the replies just released without waiting for the
     * next poll: that is what keeps a pipelined session to one round trip
     * per message. */
    while (!e->done && engine_wants_write(e)) {
        const char *data;
        size_t len;
        if (engine_output(e, &data, &len) != 0 || len == 0)
            break;
        long n = transport_send(&s->tr, data, len);
        if (n < 0) {
            engine_closed(e, ESMTP_EIO, "the connection failed while writing");
            break;
        }
        if (n == 0)
            break;
        progressed = 1;
        engine_sent(e, (size_t)n);
    }
    if (e->done)
        return finish(s);
    uint64_t now = now_ms();
    esmtp_timeout phase = engine_phase(e);
    if (progressed) {
        s->deadline_ms = now + s->timeouts[phase];
    } else if (now >= s->deadline_ms) {
        char why[128];
        snprintf(why, sizeof why, "timed out after %u ms waiting for %s",
                 s->timeouts[phase], phase_names[phase]);
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
    if (s->state == SESSION_RUNNING)
        return ESMTP_WANT_READ | (engine_wants_write(&s->eng) ? ESMTP_WANT_WRITE : 0);
    return 0;
}

int esmtp_session_timeout_ms(const esmtp_session *s)
{
    if (!s || (s->state != SESSION_CONNECTING && s->state != SESSION_RUNNING))
        return -1;
    uint64_t now = now_ms();
    if (now >= s->deadline_ms)
        return 0;
    uint64_t left = s->deadline_ms - now;
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

/* ------------------------------------------------------------ results */

const char *esmtp_session_detail(const esmtp_session *s)
{
    return s ? ebuf_str(&s->detail) : "";
}

const char *esmtp_session_greeting(const esmtp_session *s)
{
    return s && s->has_greeting ? ebuf_str(&s->greeting) : NULL;
}

const char *esmtp_session_extension(const esmtp_session *s, const char *keyword)
{
    return s && keyword ? engine_extension(&s->eng, keyword) : NULL;
}

size_t esmtp_session_message_count(const esmtp_session *s)
{
    return s ? s->nmsgs : 0;
}

esmtp_message *esmtp_session_message(const esmtp_session *s, size_t index)
{
    return s && index < s->nmsgs ? s->msgs[index] : NULL;
}
