/*
 * poll-two-sessions: esmtp's event-loop API, by example.
 *
 *   poll-two-sessions HOST:PORT HOST:PORT FROM TO [plain]
 *
 * With "plain" the sessions send in clear (for local test servers);
 * otherwise esmtp's default applies: TLS, verified.
 *
 * Sends one small message through each of two servers (they may be the same
 * server twice) at the same time, from a single thread and a single poll()
 * loop. Nothing here blocks except the name lookup in esmtp_session_start().
 * The same loop scales to any number of sessions, or can be folded into an
 * existing event loop (libevent, epoll, a GUI main loop, ...).
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <esmtp/esmtp.h>

#define NSESSIONS 2

struct job {
    const char *server; /* as given on the command line, for messages */
    char host[300];
    unsigned int port;
    esmtp_session *session;
    int plain;          /* send in clear */
    int result;         /* 0 while running; then 1 (finished) or < 0 (failed) */
};

/*
 * Splits HOST:PORT; an IPv6 host goes in brackets ("[::1]:2525") and keeps
 * them, which tells esmtp it is an address, not a name.
 */
static int split_server(const char *arg, char *host, size_t hostlen, unsigned int *port)
{
    const char *colon = arg[0] == '[' ? strstr(arg, "]:") : strrchr(arg, ':');
    if (!colon)
        return -1;
    if (arg[0] == '[')
        colon++; /* keep the ']' */
    size_t n = (size_t)(colon - arg);
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (n == 0 || n >= hostlen || colon[1] < '0' || colon[1] > '9' || *end || p == 0 ||
        p > 65535)
        return -1;
    memcpy(host, arg, n);
    host[n] = '\0';
    *port = (unsigned int)p;
    return 0;
}

/* Progress events show the two sessions advancing side by side. */
static int on_progress(esmtp_session *session, esmtp_event event, esmtp_message *message,
                       esmtp_recipient *recipient, uint64_t bytes, void *user_data)
{
    (void)session;
    (void)message;
    (void)recipient;
    (void)bytes;
    const struct job *job = user_data;
    const char *what = event == ESMTP_EVENT_CONNECTED      ? "connected"
                       : event == ESMTP_EVENT_GREETING     ? "greeted"
                       : event == ESMTP_EVENT_MESSAGE_DONE ? "message decided"
                       : event == ESMTP_EVENT_DISCONNECTED ? "disconnected"
                                                           : NULL;
    if (what)
        printf("[%s] %s\n", job->server, what);
    return 0; /* non-zero would abort the session */
}

/* Creates a session with one short message: headers, blank line, body. */
static int setup(struct job *job, int index, const char *from, const char *to)
{
    /* RFC 5322 wants a Date; the C locale keeps the names in English. */
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));

    char body[1024];
    snprintf(body, sizeof body,
             "From: <%s>\r\n"
             "To: <%s>\r\n"
             "Subject: poll-two-sessions, session %d\r\n"
             "Date: %s\r\n"
             "\r\n"
             "Hello from session %d of poll-two-sessions, sent through %s.\r\n",
             from, to, index + 1, date, index + 1, job->server);

    esmtp_message *m;
    int rc = esmtp_session_new(&job->session);
    if (rc == 0)
        rc = esmtp_session_set_server(job->session, job->host, job->port);
    if (rc == 0 && job->plain)
        rc = esmtp_session_set_tls(job->session, ESMTP_TLS_NONE);
    if (rc == 0)
        rc = esmtp_session_set_progress_cb(job->session, on_progress, job);
    if (rc == 0)
        rc = esmtp_session_add_message(job->session, &m);
    if (rc == 0)
        rc = esmtp_message_set_reverse_path(m, from);
    if (rc == 0)
        rc = esmtp_message_add_recipient(m, to, NULL);
    if (rc == 0)
        rc = esmtp_message_set_body(m, body, strlen(body)); /* copied */
    if (rc)
        fprintf(stderr, "poll-two-sessions: %s: %s\n", job->server, esmtp_strerror(rc));
    return rc;
}

/* Translates esmtp's wishes into poll() events. */
static short poll_events(int want)
{
    return (short)((want & ESMTP_WANT_READ ? POLLIN : 0) |
                   (want & ESMTP_WANT_WRITE ? POLLOUT : 0));
}

/* Translates what poll() saw back into esmtp readiness bits. */
static int ready_bits(short revents, int want)
{
    int ready = (revents & POLLIN ? ESMTP_WANT_READ : 0) |
                (revents & POLLOUT ? ESMTP_WANT_WRITE : 0);
    /* An error or hang-up is found out by the read (or connect) that esmtp
     * was waiting for, so report the socket as ready for it. */
    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        ready |= want;
    return ready & want;
}

/* The loop: one poll() for all live sessions, then let each do its work. */
static int run(struct job *jobs, int n)
{
    int live = 0;
    for (int i = 0; i < n; i++) {
        /* start() resolves the name (blocking) and begins a non-blocking
         * connect; a negative result means the session is already over. */
        int rc = esmtp_session_start(jobs[i].session);
        jobs[i].result = rc < 0 ? rc : 0;
        live += rc == 0;
    }

    while (live > 0) {
        struct pollfd pfd[NSESSIONS];
        int want[NSESSIONS];
        int timeout = -1; /* -1: wait forever, if no session has a deadline */

        /* Ask each session afresh: its socket, its wishes and its deadline
         * change as it goes (e.g. it tries the server's next address). */
        for (int i = 0; i < n; i++) {
            want[i] = 0;
            pfd[i].fd = -1; /* poll() skips negative descriptors */
            pfd[i].events = pfd[i].revents = 0;
            if (jobs[i].result != 0)
                continue;
            want[i] = esmtp_session_want(jobs[i].session);
            pfd[i].fd = esmtp_session_fd(jobs[i].session);
            pfd[i].events = poll_events(want[i]);
            int t = esmtp_session_timeout_ms(jobs[i].session);
            if (t >= 0 && (timeout < 0 || t < timeout))
                timeout = t; /* wake for the earliest deadline */
        }

        if (poll(pfd, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll-two-sessions: poll");
            return -1;
        }

        /* Every live session gets its turn, even with nothing ready (ready
         * == 0): that is how it notices that its deadline has passed. */
        for (int i = 0; i < n; i++) {
            if (jobs[i].result != 0)
                continue;
            int rc = esmtp_session_process(jobs[i].session, ready_bits(pfd[i].revents, want[i]));
            if (rc != 0) {
                jobs[i].result = rc; /* 1: ran its course; < 0: failed */
                live--;
            }
        }
    }
    return 0;
}

/* Prints a session's results; returns 1 if everything was delivered. */
static int report(const struct job *job)
{
    int delivered = job->result == 1;
    if (job->result < 0)
        printf("[%s] session failed: %s: %s\n", job->server, esmtp_strerror(job->result),
               esmtp_session_detail(job->session));
    for (size_t i = 0; i < esmtp_session_message_count(job->session); i++) {
        const esmtp_message *m = esmtp_session_message(job->session, i);
        delivered &= esmtp_message_status(m) == ESMTP_STATUS_OK;
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            const esmtp_recipient *r = esmtp_message_recipient(m, j);
            esmtp_status st = esmtp_recipient_status(r);
            delivered &= st == ESMTP_STATUS_OK;
            const char *enhanced = esmtp_recipient_enhanced_code(r);
            /* Reply texts may span lines; a real tool would fold them. */
            printf("[%s] %s: %s %d%s%s %s\n", job->server, esmtp_recipient_mailbox(r),
                   esmtp_status_name(st), esmtp_recipient_code(r), *enhanced ? " " : "",
                   enhanced, esmtp_recipient_text(r));
        }
    }
    return delivered;
}

int main(int argc, char **argv)
{
    int plain = argc == 6 && strcmp(argv[5], "plain") == 0;
    if (argc != 5 && !plain) {
        fprintf(stderr, "usage: poll-two-sessions HOST:PORT HOST:PORT FROM TO [plain]\n");
        return 64;
    }
    struct job jobs[NSESSIONS];
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < NSESSIONS; i++) {
        jobs[i].server = argv[1 + i];
        jobs[i].plain = plain;
        if (split_server(jobs[i].server, jobs[i].host, sizeof jobs[i].host, &jobs[i].port)) {
            fprintf(stderr, "poll-two-sessions: bad HOST:PORT '%s'\n", jobs[i].server);
            return 64;
        }
    }
    int ok = 1;
    for (int i = 0; i < NSESSIONS && ok; i++)
        ok = setup(&jobs[i], i, argv[3], argv[4]) == 0;

    if (ok && run(jobs, NSESSIONS) == 0) {
        for (int i = 0; i < NSESSIONS; i++)
            ok &= report(&jobs[i]);
    } else {
        ok = 0;
    }

    for (int i = 0; i < NSESSIONS; i++)
        esmtp_session_free(jobs[i].session); /* NULL-safe */
    return ok ? 0 : 1;
}
