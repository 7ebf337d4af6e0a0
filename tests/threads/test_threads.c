/* Thread safety: separate sessions may be used from separate threads at
 * once (docs/ABI.md, "Thread safety").
 *
 * THREADS threads start together; each uses only its own sessions, on
 * which it runs the whole public API that a sender uses:
 *   1. plain SMTP to smtp-sink (SINK_PORT): ROUNDS sessions of PER_ROUND
 *      messages each (50 messages per thread; 10 with ESMTP_TEST_QUICK),
 *      alternately through esmtp_session_send() and the event-loop API,
 *      half the bodies from memory and half from the MIME builder;
 *   2. TLS and AUTH: one session over STARTTLS with the test CA, logging in
 *      with the strongest mechanism (SCRAM-SHA-256-PLUS on
 *      AIOSMTPD_AUTH_PORT), so that OpenSSL's initialisation, handshakes,
 *      channel binding and SCRAM run concurrently in every thread.
 * Before that, every thread at once hits the one global table that the
 * library builds itself (libidn2's error texts).
 * Every message and every recipient must end ESMTP_STATUS_OK with 250;
 * callbacks must run on the thread that drives their session and see only
 * that session's recipients. Threads record what they saw; only the main
 * thread makes Check assertions.
 *
 * Meson runs this plainly (suite 'integration'), under Helgrind, and built
 * with ThreadSanitizer together with the library's sources
 * (tests/threads/meson.build). Argument "--no-tls" skips part 2, and
 * "--no-idn" the IDN table (for Helgrind, see helgrind.supp).
 * SPDX-License-Identifier: MIT */
#include "../itest.h"

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 8

static int rounds = 5, per_round = 10, with_tls = 1, with_idn = 1;

/* Read once by the main thread before any worker starts. */
static struct {
    unsigned int sink_port, auth_port;
    const char *ca_file, *user, *password;
} cfg;

typedef struct worker {
    int id;
    pthread_t self;        /* set by the worker itself */
    char tag[32];          /* "t3-": every mailbox of this worker starts with it */
    int sent_ok;           /* messages that ended OK with 250 */
    int sent_total;
    int done_events;       /* ESMTP_EVENT_MESSAGE_DONE seen */
    int tls_events, auth_events;
    int wrong_thread;      /* callbacks run on another thread */
    int foreign_rcpt;      /* RCPT lines of another worker's session */
    int rcpt_lines;
    char why[512];         /* the first failure */
} worker;

static pthread_barrier_t start_line;

__attribute__((format(printf, 2, 3))) static void failure(worker *w, const char *fmt, ...)
{
    if (w->why[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, sizeof w->why, fmt, ap);
    va_end(ap);
}

static int on_progress(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                       uint64_t bytes, void *ud)
{
    (void)s, (void)m, (void)r, (void)bytes;
    worker *w = ud;
    if (!pthread_equal(pthread_self(), w->self))
        w->wrong_thread++;
    if (ev == ESMTP_EVENT_MESSAGE_DONE)
        w->done_events++;
    else if (ev == ESMTP_EVENT_TLS)
        w->tls_events++;
    else if (ev == ESMTP_EVENT_AUTHENTICATED)
        w->auth_events++;
    return 0;
}

static void on_line(esmtp_session *s, esmtp_direction d, const char *line, size_t len, void *ud)
{
    (void)s;
    worker *w = ud;
    if (!pthread_equal(pthread_self(), w->self))
        w->wrong_thread++;
    static const char rcpt[] = "RCPT TO:<";
    if (d == ESMTP_FROM_CLIENT && len > sizeof rcpt - 1 &&
        memcmp(line, rcpt, sizeof rcpt - 1) == 0) {
        w->rcpt_lines++;
        size_t tl = strlen(w->tag);
        if (len < sizeof rcpt - 1 + tl || memcmp(line + sizeof rcpt - 1, w->tag, tl) != 0)
            w->foreign_rcpt++;
    }
}

static esmtp_session *new_session(worker *w, const char *host, unsigned int port)
{
    esmtp_session *s = NULL;
    if (esmtp_session_new(&s) != 0) {
        failure(w, "esmtp_session_new failed");
        return NULL;
    }
    if (esmtp_session_set_server(s, host, port) != 0 ||
        esmtp_session_set_helo_name(s, "client.test") != 0 ||
        esmtp_session_set_timeout(s, ESMTP_TIMEOUT_ALL, 60000) != 0 ||
        esmtp_session_set_progress_cb(s, on_progress, w) != 0 ||
        esmtp_session_set_transcript_cb(s, on_line, w) != 0) {
        failure(w, "setting up a session failed");
        esmtp_session_free(s);
        return NULL;
    }
    return s;
}

/* Queues message n of the session: from memory when n is even, from the
 * MIME builder when it is odd. Two recipients each. */
static int queue_message(worker *w, esmtp_session *s, int round, int n)
{
    char from[64], to1[64], to2[64];
    snprintf(from, sizeof from, "%ssender@example.org", w->tag);
    snprintf(to1, sizeof to1, "%sr%d-m%d-a@example.org", w->tag, round, n);
    snprintf(to2, sizeof to2, "%sr%d-m%d-b@example.org", w->tag, round, n);
    esmtp_message *m;
    if (esmtp_session_add_message(s, &m) != 0 || esmtp_message_set_reverse_path(m, from) != 0 ||
        esmtp_message_add_recipient(m, to1, NULL) != 0 ||
        esmtp_message_add_recipient(m, to2, NULL) != 0) {
        failure(w, "queueing message %d failed", n);
        return -1;
    }
    if (n % 2 == 0) {
        char body[512];
        int len = snprintf(body, sizeof body,
                           "From: <%s>\r\nTo: <%s>, <%s>\r\nSubject: thread %d round %d "
                           "message %d\r\n\r\nHello from thread %d.\r\n.leading dot\r\n",
                           from, to1, to2, w->id, round, n, w->id);
        if (esmtp_message_set_body(m, body, (size_t)len) != 0) {
            failure(w, "esmtp_message_set_body failed (message %d)", n);
            return -1;
        }
        return 0;
    }
    esmtp_mime *mime;
    if (esmtp_mime_new(&mime) != 0) {
        failure(w, "esmtp_mime_new failed (message %d)", n);
        return -1;
    }
    char subject[64];
    snprintf(subject, sizeof subject, "Grüße from thread %d, message %d", w->id, n);
    static const char text[] = "Plain text, UTF-8: naïve café.\n";
    static const char html[] = "<p>HTML, <b>UTF-8</b>: naïve café.</p>\n";
    static const char data[] = "attachment bytes\x01\x02\x03";
    esmtp_mime_part *att;
    if (esmtp_mime_add_mailbox(mime, ESMTP_MIME_FROM, "Thread Sender", from) != 0 ||
        esmtp_mime_add_mailbox(mime, ESMTP_MIME_TO, NULL, to1) != 0 ||
        esmtp_mime_add_mailbox(mime, ESMTP_MIME_CC, "Zweiter Empfänger", to2) != 0 ||
        esmtp_mime_set_subject(mime, subject) != 0 ||
        esmtp_mime_set_text(mime, text, sizeof text - 1) != 0 ||
        esmtp_mime_set_html(mime, html, sizeof html - 1) != 0 ||
        esmtp_mime_add_attachment(mime, &att) != 0 ||
        esmtp_mime_part_set_data(att, data, sizeof data - 1) != 0 ||
        esmtp_mime_part_set_filename(att, "daten.bin") != 0 ||
        esmtp_mime_attach(m, mime) != 0) {
        esmtp_mime_free(mime);
        failure(w, "building MIME message %d failed", n);
        return -1;
    }
    return 0; /* the message owns mime now */
}

/* Runs s to the end and counts its messages that every recipient accepted. */
static void run_and_count(worker *w, esmtp_session *s, int how)
{
    int rc = itest_drive(s, how);
    if (rc != 0)
        failure(w, "the session failed (%d): %s", rc, esmtp_session_detail(s));
    for (size_t i = 0; i < esmtp_session_message_count(s); i++) {
        esmtp_message *m = esmtp_session_message(s, i);
        int ok = esmtp_message_status(m) == ESMTP_STATUS_OK && esmtp_message_code(m) == 250;
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            esmtp_recipient *r = esmtp_message_recipient(m, j);
            ok = ok && esmtp_recipient_status(r) == ESMTP_STATUS_OK &&
                 esmtp_recipient_code(r) == 250;
        }
        if (!ok)
            failure(w, "a message was not accepted: %d %s", esmtp_message_code(m),
                    esmtp_message_text(m));
        w->sent_ok += ok;
        w->sent_total++;
    }
}

/* The library's only global state of its own: the table of libidn2 error
 * texts, built by whichever thread first needs one (lib/address.c). Every
 * worker needs one at the same moment, right after the start line. */
static void invalid_idn_host(worker *w)
{
    esmtp_session *s;
    esmtp_message *m;
    int rc = esmtp_session_new(&s);
    if (rc != 0) {
        failure(w, "esmtp_session_new failed");
        return;
    }
    rc = esmtp_session_set_server(s, "a\xe2\x80\x8d" "b.example", 25); /* a ZWJ b */
    if (rc == 0)
        rc = esmtp_session_add_message(s, &m);
    if (rc == 0)
        rc = esmtp_message_set_reverse_path(m, "a@example.org");
    if (rc == 0)
        rc = esmtp_message_add_recipient(m, "b@example.org", NULL);
    if (rc == 0)
        rc = esmtp_message_set_body(m, "\r\n", 2);
    if (rc == 0)
        rc = esmtp_session_send(s);
    if (rc >= 0 || !strstr(esmtp_session_detail(s), "international domain name"))
        failure(w, "an invalid IDN host gave %d: %s", rc, esmtp_session_detail(s));
    esmtp_session_free(s);
}

static void *work(void *arg)
{
    worker *w = arg;
    w->self = pthread_self();
    pthread_barrier_wait(&start_line);
    if (with_idn)
        invalid_idn_host(w);

    for (int round = 0; round < rounds; round++) {
        esmtp_session *s = new_session(w, "127.0.0.1", cfg.sink_port);
        if (!s)
            return NULL;
        esmtp_session_set_tls(s, ESMTP_TLS_NONE);
        for (int n = 0; n < per_round; n++)
            if (queue_message(w, s, round, n) != 0)
                break;
        run_and_count(w, s, (round + w->id) % 2 ? DRIVE_EVENT_LOOP : DRIVE_BLOCKING);
        esmtp_session_free(s);
    }

    if (with_tls) {
        esmtp_session *s = new_session(w, "localhost", cfg.auth_port);
        if (!s)
            return NULL;
        if (esmtp_session_set_tls(s, ESMTP_TLS_STARTTLS) != 0 ||
            esmtp_session_set_ca(s, cfg.ca_file, NULL) != 0 ||
            esmtp_session_set_auth(s, cfg.user, cfg.password) != 0)
            failure(w, "TLS/AUTH settings failed");
        for (int n = 0; n < 2; n++)
            queue_message(w, s, rounds, n);
        run_and_count(w, s, w->id % 2 ? DRIVE_EVENT_LOOP : DRIVE_BLOCKING);
        esmtp_session_free(s);
    }
    return NULL;
}

START_TEST(sessions_in_parallel_threads)
{
    cfg.sink_port = itest_port("SINK_PORT");
    if (with_tls) {
        cfg.auth_port = itest_port("AIOSMTPD_AUTH_PORT");
        cfg.ca_file = itest_env("TLS_CA_FILE");
        cfg.user = itest_env("SASL_USER");
        cfg.password = itest_env("SASL_PASSWORD");
    }
    static worker workers[THREADS];
    pthread_t threads[THREADS];
    ck_assert_int_eq(pthread_barrier_init(&start_line, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].id = i;
        snprintf(workers[i].tag, sizeof workers[i].tag, "t%d-", i);
        ck_assert_int_eq(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
    pthread_barrier_destroy(&start_line);

    int expected = rounds * per_round + (with_tls ? 2 : 0), total = 0;
    for (int i = 0; i < THREADS; i++) {
        worker *w = &workers[i];
        printf("thread %d: %d/%d messages accepted, %d RCPT lines, %d TLS, %d AUTH%s%s\n", i,
               w->sent_ok, expected, w->rcpt_lines, w->tls_events, w->auth_events,
               w->why[0] ? "; first failure: " : "", w->why);
        ck_assert_msg(w->why[0] == '\0', "thread %d: %s", i, w->why);
        ck_assert_int_eq(w->sent_ok, expected);
        ck_assert_int_eq(w->sent_total, expected);
        ck_assert_int_eq(w->done_events, expected);
        ck_assert_int_eq(w->rcpt_lines, 2 * expected);
        ck_assert_int_eq(w->foreign_rcpt, 0);
        ck_assert_int_eq(w->wrong_thread, 0);
        ck_assert_int_eq(w->tls_events, with_tls);
        ck_assert_int_eq(w->auth_events, with_tls);
        total += w->sent_ok;
    }
    printf("%d threads: %d messages accepted\n", THREADS, total);
}
END_TEST

int main(int argc, char **argv)
{
    itest_need_servers();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-tls") == 0) {
            with_tls = 0;
        } else if (strcmp(argv[i], "--no-idn") == 0) {
            with_idn = 0;
        } else {
            fprintf(stderr, "usage: %s [--no-tls] [--no-idn]\n", argv[0]);
            return 2;
        }
    }
    const char *quick = getenv("ESMTP_TEST_QUICK");
    if (quick && *quick && strcmp(quick, "0") != 0)
        rounds = 2, per_round = 5;

    Suite *suite = suite_create("threads");
    TCase *tc = tcase_create("parallel");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, sessions_in_parallel_threads);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
