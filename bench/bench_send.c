/*
 * bench_send: message throughput of esmtp over one connection, compared with
 * ideal clients that push a precomputed byte stream.
 *
 * For each scenario (message size x recipients; N messages, 10,000 by
 * default) it times three clients against an SMTP sink (Postfix's
 * smtp-sink, which run-bench.sh starts), each sending the same bytes:
 *
 *  pipelined  The whole session (EHLO, then MAIL / RCPT... / DATA / body /
 *             "." per message, then QUIT) is built in memory beforehand and
 *             written through one TCP connection (TCP_NODELAY) with large
 *             non-blocking writes while a poll() loop reads and checks the
 *             replies, until the 221 to QUIT. It never waits for a reply
 *             (except the greeting), so it is the sink's throughput limit.
 *             It is not a valid SMTP client: RFC 2920 section 3.1 forbids
 *             sending anything after DATA (or EHLO) before its reply.
 *  lockstep   The same precomputed bytes and loop, but it waits where
 *             RFC 2920 requires: for the EHLO reply, and for each 354
 *             before the body. So: the fastest possible correct client, one
 *             round trip per message and no work of its own.
 *  esmtp      One session with all messages queued (bodies from memory),
 *             esmtp_session_send(); then every message and every recipient
 *             must be ESMTP_STATUS_OK.
 *
 * Each clock (CLOCK_MONOTONIC) runs from just before the connection is
 * opened to just after the 221 reply to QUIT has been read: the connect is
 * included for all three. Building the stream, queueing the messages and
 * freeing the session are not timed. The client's own CPU time (user +
 * system, CLOCK_PROCESS_CPUTIME_ID) over the same interval is recorded too. Each
 * measurement is repeated (3 times by default, the clients taking turns)
 * and the best run (shortest time) counts; the ratio of the medians is
 * printed too.
 *
 * Before the timed runs, an untimed esmtp session of two messages is
 * recorded through the transcript callback and its command lines must equal
 * the precomputed stream's, so that all clients send identical bytes.
 *
 * The exit status is 0 when everything worked, 1 when something failed
 * functionally (a refused or missing reply, a message not OK), 2 on a usage
 * error, 77 (skip) when no server answers. Slowness never fails it.
 *
 * Usage: bench_send [--host H] [--port P] [--count N] [--repeat R]
 *                   [--scenario NAME] [--only CLIENT[,CLIENT...]]
 * Environment: ESMTP_BENCH_HOST, ESMTP_BENCH_PORT (default 42700),
 * ESMTP_BENCH_COUNT (default 10000), ESMTP_BENCH_REPEAT (default 3);
 * options override the environment.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <esmtp/esmtp.h>

#include "benchutil.h"

#define SENDER "sender@example.com"
#define HELO_NAME "bench.example"
#define IO_TIMEOUT_MS 60000 /* a run that stalls this long has failed */

typedef struct scenario {
    const char *name;
    size_t body_size; /* the whole RFC 5322 message, CRLF line ends */
    size_t nrcpts;
} scenario;

static const scenario scenarios[] = {
    {"2KB-1rcpt", 2048, 1},
    {"20KB-1rcpt", 20480, 1},
    {"2KB-5rcpt", 2048, 5},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

typedef struct options {
    const char *host;
    unsigned port;
    size_t count;
    int repeat;
    const char *only_scenario; /* NULL: all */
    int run[3];                /* by client */
} options;

enum client { CL_PIPELINED, CL_LOCKSTEP, CL_ESMTP, NCLIENTS };
static const char *const client_names[NCLIENTS] = {"pipelined", "lockstep", "esmtp"};

/* One timed run: wall-clock and client CPU seconds; wall < 0 on failure. */
typedef struct measurement {
    double wall;
    double cpu;
} measurement;

/* ------------------------------------------------------------- helpers */

/* A growable byte buffer. */
typedef struct bytes {
    char *data;
    size_t len;
    size_t cap;
} bytes;

static void bytes_reserve(bytes *b, size_t n)
{
    if (b->len + n <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        fprintf(stderr, "bench_send: out of memory (%zu bytes)\n", cap);
        exit(1);
    }
    b->data = p;
    b->cap = cap;
}

static void bytes_add(bytes *b, const void *p, size_t n)
{
    bytes_reserve(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void bytes_addf(bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bytes_addf(bytes *b, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        fprintf(stderr, "bench_send: line too long\n");
        exit(1);
    }
    bytes_add(b, line, (size_t)n);
}

static void bytes_free(bytes *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ------------------------------------------------------------- content */

static void rcpt_address(char *out, size_t outlen, size_t i)
{
    snprintf(out, outlen, "rcpt%zu@example.net", i + 1);
}

/*
 * A scenario's message of exactly sc->body_size bytes (make_body: no line
 * starts with a dot), so that esmtp sends it unchanged (no normalisation, no
 * dot-stuffing) and the precomputed stream can carry the same bytes.
 */
static char *scenario_body(const scenario *sc)
{
    bytes h = {0};
    bytes_addf(&h, "From: Bench Sender <" SENDER ">\r\n");
    bytes_addf(&h, "To:");
    for (size_t i = 0; i < sc->nrcpts; i++) {
        char rcpt[64];
        rcpt_address(rcpt, sizeof rcpt, i);
        bytes_addf(&h, "%s <%s>", i == 0 ? "" : ",\r\n", rcpt);
    }
    bytes_addf(&h, "\r\n");
    bytes_addf(&h, "Subject: esmtp throughput benchmark (%s)\r\n", sc->name);
    bytes_addf(&h, "Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n");
    bytes_addf(&h, "Message-ID: <bench.%s@example.com>\r\n", sc->name);
    bytes_addf(&h, "MIME-Version: 1.0\r\n");
    bytes_addf(&h, "Content-Type: text/plain; charset=us-ascii\r\n\r\n");
    bytes_add(&h, "", 1);
    char *body = make_body(h.data, sc->body_size,
                           "The quick brown fox jumps over the lazy dog while "
                           "the benchmark counts messages per second. ",
                           0);
    bytes_free(&h);
    return body;
}

/*
 * The client's side of a whole session as esmtp writes it: EHLO, per
 * message MAIL (with SIZE= when the server offers SIZE), RCPTs, DATA, the
 * body and the dot, then QUIT. With body == NULL only the command lines are
 * produced (the body is left out), for comparison with esmtp's transcript.
 * When gates is not NULL it receives count + 1 offsets: gates[0] is the end
 * of the EHLO line, gates[k + 1] the end of message k's DATA line; a client
 * that obeys RFC 2920 may not write past gates[0] before the reply to EHLO,
 * nor past gates[k + 1] before the 354 to message k's DATA.
 */
static void build_session(bytes *out, const scenario *sc, size_t count, const char *body,
                          size_t body_len, int with_size, size_t *gates)
{
    bytes_addf(out, "EHLO " HELO_NAME "\r\n");
    if (gates)
        gates[0] = out->len;
    for (size_t m = 0; m < count; m++) {
        if (with_size)
            bytes_addf(out, "MAIL FROM:<" SENDER "> SIZE=%zu\r\n", body_len);
        else
            bytes_addf(out, "MAIL FROM:<" SENDER ">\r\n");
        for (size_t i = 0; i < sc->nrcpts; i++) {
            char rcpt[64];
            rcpt_address(rcpt, sizeof rcpt, i);
            bytes_addf(out, "RCPT TO:<%s>\r\n", rcpt);
        }
        bytes_addf(out, "DATA\r\n");
        if (gates)
            gates[m + 1] = out->len;
        if (body)
            bytes_add(out, body, body_len);
        bytes_addf(out, ".\r\n");
    }
    bytes_addf(out, "QUIT\r\n");
}

/* ------------------------------------------------------------- sockets */

static int open_connection(const options *o, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof service, "%u", o->port);
    int rc = getaddrinfo(o->host, service, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", o->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            break;
        snprintf(err, errlen, "connect to %s:%u: %s", o->host, o->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ------------------------------------------------------------- stream runs */

/* Reads SMTP replies from the server and checks each against what the
 * session asked for (smtp-sink answers in order). */
typedef struct reply_check {
    size_t nrcpts;
    size_t count;       /* messages */
    size_t replies;     /* complete replies so far */
    size_t n354;        /* 354 replies to DATA */
    size_t dots_ok;     /* 2xx replies to final dots */
    int got_quit;       /* the 221 to QUIT arrived */
    int failed;
    char why[256];
    char line[1024];    /* a partial line carried over between reads */
    size_t line_len;
} reply_check;

/* Which command the n-th reply answers. */
enum { R_GREETING, R_EHLO, R_MAIL, R_RCPT, R_DATA, R_DOT, R_QUIT, R_EXTRA };

static int reply_kind(const reply_check *c, size_t n)
{
    if (n == 0)
        return R_GREETING;
    if (n == 1)
        return R_EHLO;
    size_t per = c->nrcpts + 3, k = n - 2;
    if (k < c->count * per) {
        size_t j = k % per;
        if (j == 0)
            return R_MAIL;
        if (j <= c->nrcpts)
            return R_RCPT;
        return j == c->nrcpts + 1 ? R_DATA : R_DOT;
    }
    return k == c->count * per ? R_QUIT : R_EXTRA;
}

static void check_fail(reply_check *c, const char *line, size_t len)
{
    if (c->failed)
        return;
    c->failed = 1;
    snprintf(c->why, sizeof c->why, "reply #%zu was unexpected: %.*s", c->replies,
             (int)(len > 200 ? 200 : len), line);
}

static void check_line(reply_check *c, const char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
        line[2] < '0' || line[2] > '9') {
        check_fail(c, line, len);
        return;
    }
    if (len > 3 && line[3] == '-')
        return; /* a continuation line */
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    int ok;
    switch (reply_kind(c, c->replies)) {
    case R_GREETING:
        ok = code == 220;
        break;
    case R_DATA:
        ok = code == 354;
        c->n354 += ok;
        break;
    case R_DOT:
        ok = code / 100 == 2;
        c->dots_ok += ok;
        break;
    case R_QUIT:
        ok = code == 221;
        c->got_quit = 1;
        break;
    case R_EXTRA:
        ok = 0;
        break;
    default:
        ok = code / 100 == 2;
        break;
    }
    if (!ok)
        check_fail(c, line, len);
    c->replies++;
}

static void check_feed(reply_check *c, const char *data, size_t len)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (c->line_len + n > sizeof c->line) {
            check_fail(c, "(overlong reply line)", 21);
            c->line_len = 0;
        } else {
            memcpy(c->line + c->line_len, data, n);
            c->line_len += n;
        }
        if (!nl)
            return;
        check_line(c, c->line, c->line_len);
        c->line_len = 0;
        data += n + 1;
        len -= n + 1;
    }
}

/* Reads until the socket has nothing more. Returns 0 while the connection
 * is open, 1 at its end (the 221, or EOF), -1 on an error. */
static int read_replies(int fd, reply_check *c, char *buf, size_t buflen)
{
    for (;;) {
        ssize_t n = recv(fd, buf, buflen, MSG_DONTWAIT);
        if (n > 0) {
            check_feed(c, buf, (size_t)n);
            if (c->got_quit)
                return 1;
            continue;
        }
        if (n == 0)
            return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return -1;
    }
}

/*
 * One run of a precomputed client: connect, wait for the greeting, then
 * write the session while reading the replies; with lockstep, writing stops
 * at each gate (see build_session) until its reply has come.
 */
static measurement run_stream(const options *o, const scenario *sc, const bytes *session,
                              const size_t *gates, int lockstep, char *err, size_t errlen)
{
    static char buf[65536];
    measurement res = {-1, 0};
    reply_check c;
    memset(&c, 0, sizeof c);
    c.nrcpts = sc->nrcpts;
    c.count = o->count;

    double c0 = cpu_s(), t0 = now_s();
    int fd = open_connection(o, err, errlen);
    if (fd < 0)
        return res;
    size_t off = 0;
    for (;;) {
        /* The greeting comes first for everyone. */
        size_t limit = c.replies == 0 ? 0 : session->len;
        if (lockstep && c.replies > 0)
            limit = c.replies < 2 ? gates[0] : c.n354 < o->count ? gates[c.n354 + 1] : session->len;
        struct pollfd p = {.fd = fd, .events = POLLIN | (off < limit ? POLLOUT : 0),
                           .revents = 0};
        int n = poll(&p, 1, IO_TIMEOUT_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen,
                     "stalled: no progress for %d ms (%zu of %zu bytes sent, %zu replies)",
                     IO_TIMEOUT_MS, off, session->len, c.replies);
            break;
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            int r = read_replies(fd, &c, buf, sizeof buf);
            if (r < 0) {
                snprintf(err, errlen, "recv: %s", strerror(errno));
                break;
            }
            if (r > 0 || c.failed)
                break;
            /* What the replies just allowed goes out at once. */
            if (lockstep && c.replies > 0)
                limit = c.replies < 2 ? gates[0]
                        : c.n354 < o->count ? gates[c.n354 + 1] : session->len;
            else if (c.replies > 0)
                limit = session->len;
        }
        if (off < limit) {
            ssize_t w = send(fd, session->data + off, limit - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                snprintf(err, errlen, "send: %s", strerror(errno));
                break;
            }
        }
    }
    close(fd);
    double t = now_s() - t0, cpu = cpu_s() - c0;
    if (c.failed) {
        snprintf(err, errlen, "%s", c.why);
        return res;
    }
    if (!c.got_quit)
        return res; /* err already says why */
    if (c.dots_ok != o->count) {
        snprintf(err, errlen, "%zu of %zu messages accepted", c.dots_ok, o->count);
        return res;
    }
    res.wall = t;
    res.cpu = cpu;
    return res;
}

/* ------------------------------------------------------------- esmtp run */

static esmtp_session *new_session(const options *o, char *err, size_t errlen)
{
    esmtp_session *s;
    int rc = esmtp_session_new(&s);
    if (rc != 0) {
        snprintf(err, errlen, "esmtp_session_new: %s", esmtp_strerror(rc));
        return NULL;
    }
    rc = esmtp_session_set_server(s, o->host, o->port);
    if (rc == 0)
        rc = esmtp_session_set_helo_name(s, HELO_NAME);
    if (rc == 0)
        rc = esmtp_session_set_timeout(s, ESMTP_TIMEOUT_ALL, IO_TIMEOUT_MS);
    /* smtp-sink has no STARTTLS; plain SMTP is what is measured. */
    if (rc == 0)
        rc = esmtp_session_set_tls(s, ESMTP_TLS_NONE);
    if (rc != 0) {
        snprintf(err, errlen, "setting up the session: %s", esmtp_strerror(rc));
        esmtp_session_free(s);
        return NULL;
    }
    return s;
}

static int queue_messages(esmtp_session *s, const scenario *sc, size_t count, const char *body,
                          size_t body_len, char *err, size_t errlen)
{
    for (size_t m = 0; m < count; m++) {
        esmtp_message *msg;
        int rc = esmtp_session_add_message(s, &msg);
        if (rc == 0)
            rc = esmtp_message_set_reverse_path(msg, SENDER);
        for (size_t i = 0; rc == 0 && i < sc->nrcpts; i++) {
            char rcpt[64];
            rcpt_address(rcpt, sizeof rcpt, i);
            rc = esmtp_message_add_recipient(msg, rcpt, NULL);
        }
        if (rc == 0)
            rc = esmtp_message_set_body(msg, body, body_len);
        if (rc != 0) {
            snprintf(err, errlen, "queueing message %zu: %s", m, esmtp_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static measurement run_esmtp(const options *o, const scenario *sc, const char *body,
                             size_t body_len, char *err, size_t errlen)
{
    measurement res = {-1, 0};
    esmtp_session *s = new_session(o, err, errlen);
    if (!s)
        return res;
    if (queue_messages(s, sc, o->count, body, body_len, err, errlen) != 0) {
        esmtp_session_free(s);
        return res;
    }
    double c0 = cpu_s(), t0 = now_s();
    int rc = esmtp_session_send(s);
    double t = now_s() - t0, cpu = cpu_s() - c0;
    if (rc != 0) {
        snprintf(err, errlen, "esmtp_session_send: %s (%s)", esmtp_strerror(rc),
                 esmtp_session_detail(s));
    } else if (check_outcomes(s, o->count, err, errlen) == 0) {
        res.wall = t;
        res.cpu = cpu;
    }
    esmtp_session_free(s);
    return res;
}

/* ------------------------------------------------------------- fairness */

/* Collects the command lines esmtp writes (transcript, client side). */
static void collect_client_lines(esmtp_session *s, esmtp_direction dir, const char *line,
                                 size_t len, void *user_data)
{
    (void)s;
    if (dir != ESMTP_FROM_CLIENT)
        return;
    bytes_add(user_data, line, len);
    bytes_add(user_data, "\r\n", 2);
}

/*
 * An untimed esmtp session of two messages with a transcript, whose command
 * lines must be exactly those of the precomputed stream: so all clients
 * send the same bytes. Also tells whether the server offers SIZE (esmtp
 * then adds SIZE= to MAIL, and so must the stream).
 */
static int probe_commands(const options *o, const scenario *sc, const char *body,
                          size_t body_len, int *with_size, char *err, size_t errlen)
{
    esmtp_session *s = new_session(o, err, errlen);
    if (!s)
        return -1;
    bytes seen = {0}, want = {0};
    esmtp_session_set_transcript_cb(s, collect_client_lines, &seen);
    int rc = queue_messages(s, sc, 2, body, body_len, err, errlen);
    if (rc == 0) {
        rc = esmtp_session_send(s);
        if (rc != 0)
            snprintf(err, errlen, "esmtp_session_send: %s (%s)", esmtp_strerror(rc),
                     esmtp_session_detail(s));
    }
    if (rc == 0)
        rc = check_outcomes(s, 2, err, errlen);
    if (rc == 0) {
        *with_size = esmtp_session_extension(s, "SIZE") != NULL;
        build_session(&want, sc, 2, NULL, body_len, *with_size, NULL);
        if (want.len != seen.len || memcmp(want.data, seen.data, want.len) != 0) {
            snprintf(err, errlen,
                     "esmtp's commands differ from the precomputed stream's:\n"
                     "--- esmtp\n%.*s--- stream\n%.*s",
                     (int)(seen.len > 400 ? 400 : seen.len), seen.data ? seen.data : "",
                     (int)(want.len > 400 ? 400 : want.len), want.data ? want.data : "");
            rc = -1;
        }
    }
    bytes_free(&seen);
    bytes_free(&want);
    esmtp_session_free(s);
    return rc == 0 ? 0 : -1;
}

/* ------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_send [--host H] [--port P] [--count N] [--repeat R]\n"
               "                  [--scenario 2KB-1rcpt|20KB-1rcpt|2KB-5rcpt]\n"
               "                  [--only pipelined,lockstep,esmtp]\n"
               "environment: ESMTP_BENCH_HOST, ESMTP_BENCH_PORT, ESMTP_BENCH_COUNT, "
               "ESMTP_BENCH_REPEAT\n");
}

/* "pipelined,esmtp" -> o->run[] */
static int parse_clients(const char *list, options *o)
{
    for (int i = 0; i < NCLIENTS; i++)
        o->run[i] = 0;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < NCLIENTS; i++)
            if (strlen(client_names[i]) == n && strncmp(p, client_names[i], n) == 0)
                o->run[i] = found = 1;
        if (!found)
            return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    return o->run[CL_PIPELINED] || o->run[CL_LOCKSTEP] || o->run[CL_ESMTP] ? 0 : -1;
}

static int parse_options(int argc, char **argv, options *o)
{
    unsigned long v;
    const char *env;
    o->host = "127.0.0.1";
    o->port = 42700;
    o->count = 10000;
    o->repeat = 3;
    o->only_scenario = NULL;
    for (int i = 0; i < NCLIENTS; i++)
        o->run[i] = 1;
    if ((env = getenv("ESMTP_BENCH_HOST")) && *env)
        o->host = env;
    if ((env = getenv("ESMTP_BENCH_PORT")) && *env) {
        if (parse_number(env, 65535, &v))
            return -1;
        o->port = (unsigned)v;
    }
    if ((env = getenv("ESMTP_BENCH_COUNT")) && *env) {
        if (parse_number(env, 10000000, &v))
            return -1;
        o->count = v;
    }
    if ((env = getenv("ESMTP_BENCH_REPEAT")) && *env) {
        if (parse_number(env, 100, &v))
            return -1;
        o->repeat = (int)v;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return -1;
        const char *val = argv[++i];
        if (strcmp(a, "--host") == 0) {
            o->host = val;
        } else if (strcmp(a, "--port") == 0) {
            if (parse_number(val, 65535, &v))
                return -1;
            o->port = (unsigned)v;
        } else if (strcmp(a, "--count") == 0) {
            if (parse_number(val, 10000000, &v))
                return -1;
            o->count = v;
        } else if (strcmp(a, "--repeat") == 0) {
            if (parse_number(val, 100, &v))
                return -1;
            o->repeat = (int)v;
        } else if (strcmp(a, "--scenario") == 0) {
            o->only_scenario = val;
        } else if (strcmp(a, "--only") == 0) {
            if (parse_clients(val, o))
                return -1;
        } else {
            return -1;
        }
    }
    if (o->only_scenario) {
        size_t i = 0;
        while (i < NSCENARIOS && strcmp(scenarios[i].name, o->only_scenario) != 0)
            i++;
        if (i == NSCENARIOS)
            return -1;
    }
    return 0;
}

/* The figures of one client in one scenario, over its runs. */
typedef struct summary {
    double best;       /* msgs/s of the fastest run */
    double median;     /* msgs/s of the median run */
    double cpu_us;     /* least client CPU per message over the runs, in us */
} summary;

static summary summarise(const measurement *runs, int n, size_t count)
{
    summary s;
    double *t = xmalloc((size_t)n * sizeof *t);
    double cpu = runs[0].cpu;
    for (int i = 0; i < n; i++) {
        t[i] = runs[i].wall;
        if (runs[i].cpu < cpu)
            cpu = runs[i].cpu;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double mid = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    s.best = (double)count / t[0];
    s.median = (double)count / mid;
    s.cpu_us = cpu * 1e6 / (double)count;
    free(t);
    return s;
}

static void ratio(char *out, size_t outlen, int have, double a, double b)
{
    if (have)
        snprintf(out, outlen, "%.3f", a / b);
    else
        snprintf(out, outlen, "-");
}

int main(int argc, char **argv)
{
    bench_prog = "bench_send";
    options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* Is a server there at all? */
    char err[1024] = "";
    int fd = open_connection(&o, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "bench_send: no SMTP server at %s:%u (%s); skipping\n", o.host, o.port,
                err);
        return 77;
    }
    close(fd);

    printf("esmtp %s send benchmark against %s:%u: %zu messages per run, %d run(s) "
           "per client;\ntimed from connect to the 221 reply to QUIT; best run counts\n\n",
           esmtp_version(), o.host, o.port, o.count, o.repeat);

    struct result {
        const scenario *sc;
        summary sum[NCLIENTS];
    } results[NSCENARIOS];
    size_t nresults = 0;
    int failed = 0;
    measurement *runs[NCLIENTS];
    for (int c = 0; c < NCLIENTS; c++)
        runs[c] = xmalloc((size_t)o.repeat * sizeof *runs[c]);
    size_t *gates = xmalloc((o.count + 1) * sizeof *gates);

    for (size_t si = 0; si < NSCENARIOS; si++) {
        const scenario *sc = &scenarios[si];
        if (o.only_scenario && strcmp(o.only_scenario, sc->name) != 0)
            continue;
        size_t body_len = sc->body_size;
        char *body = scenario_body(sc);
        int with_size = 0;
        if (probe_commands(&o, sc, body, body_len, &with_size, err, sizeof err) != 0) {
            printf("%s: FAILED (command check): %s\n", sc->name, err);
            free(body);
            failed = 1;
            continue;
        }
        bytes session = {0};
        if (o.run[CL_PIPELINED] || o.run[CL_LOCKSTEP])
            build_session(&session, sc, o.count, body, body_len, with_size, gates);
        printf("%s: %zu-byte messages, %zu recipient(s)\n", sc->name, body_len, sc->nrcpts);

        int ok = 1;
        for (int r = 0; r < o.repeat && ok; r++) {
            for (int c = 0; c < NCLIENTS && ok; c++) {
                if (!o.run[c])
                    continue;
                measurement m;
                if (c == CL_ESMTP)
                    m = run_esmtp(&o, sc, body, body_len, err, sizeof err);
                else
                    m = run_stream(&o, sc, &session, gates, c == CL_LOCKSTEP, err, sizeof err);
                if (m.wall < 0) {
                    printf("  run %d %-9s FAILED: %s\n", r + 1, client_names[c], err);
                    ok = 0;
                    break;
                }
                runs[c][r] = m;
                printf("  run %d %-9s %7.3f s %8.0f msgs/s  CPU %6.2f us/msg\n", r + 1,
                       client_names[c], m.wall, (double)o.count / m.wall,
                       m.cpu * 1e6 / (double)o.count);
            }
        }
        bytes_free(&session);
        free(body);
        if (!ok) {
            failed = 1;
            continue;
        }
        struct result *res = &results[nresults++];
        memset(res, 0, sizeof *res);
        res->sc = sc;
        for (int c = 0; c < NCLIENTS; c++)
            if (o.run[c])
                res->sum[c] = summarise(runs[c], o.repeat, o.count);
    }
    for (int c = 0; c < NCLIENTS; c++)
        free(runs[c]);
    free(gates);

    /* msgs/s of the best run, ratios of best runs (and of medians), and
     * the client's CPU time per message (least over the runs). */
    printf("\n%-10s %9s %9s %9s  %-17s %-17s %s\n", "", "pipelined", "lockstep", "esmtp",
           "esmtp/pipelined", "esmtp/lockstep", "CPU us/msg");
    printf("%-10s %9s %9s %9s  %-17s %-17s %s\n", "scenario", "msgs/s", "msgs/s", "msgs/s",
           "best (median)", "best (median)", "lockstep esmtp");
    int have_p = o.run[CL_PIPELINED], have_l = o.run[CL_LOCKSTEP], have_e = o.run[CL_ESMTP];
    for (size_t i = 0; i < nresults; i++) {
        const summary *s = results[i].sum;
        char rate[NCLIENTS][24], rp[24], rpm[24], rl[24], rlm[24], col_p[64], col_l[64];
        char cpu_l[24] = "-", cpu_e[24] = "-";
        for (int c = 0; c < NCLIENTS; c++) {
            if (o.run[c])
                snprintf(rate[c], sizeof rate[c], "%.0f", s[c].best);
            else
                snprintf(rate[c], sizeof rate[c], "-");
        }
        ratio(rp, sizeof rp, have_p && have_e, s[CL_ESMTP].best, s[CL_PIPELINED].best);
        ratio(rpm, sizeof rpm, have_p && have_e, s[CL_ESMTP].median, s[CL_PIPELINED].median);
        ratio(rl, sizeof rl, have_l && have_e, s[CL_ESMTP].best, s[CL_LOCKSTEP].best);
        ratio(rlm, sizeof rlm, have_l && have_e, s[CL_ESMTP].median, s[CL_LOCKSTEP].median);
        snprintf(col_p, sizeof col_p, "%s (%s)", rp, rpm);
        snprintf(col_l, sizeof col_l, "%s (%s)", rl, rlm);
        if (have_l)
            snprintf(cpu_l, sizeof cpu_l, "%.2f", s[CL_LOCKSTEP].cpu_us);
        if (have_e)
            snprintf(cpu_e, sizeof cpu_e, "%.2f", s[CL_ESMTP].cpu_us);
        printf("%-10s %9s %9s %9s  %-17s %-17s %6s %6s\n", results[i].sc->name,
               rate[CL_PIPELINED], rate[CL_LOCKSTEP], rate[CL_ESMTP], col_p, col_l, cpu_l,
               cpu_e);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("\npeak RSS %ld KiB (mostly the precomputed stream and esmtp's copies of the "
               "bodies)\n",
               ru.ru_maxrss);
    if (failed)
        printf("\nFAILED: see above\n");
    return failed ? 1 : 0;
}
