/* Integration tests against real servers on loopback: aiosmtpd (exact
 * bytes), Postfix (a real MTA with strict settings) and smtp-sink (421 and
 * dropped connections). Every test runs through the blocking call and
 * through the event-loop API (_i selects which).
 * SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "run_suite.h"

#define FROM "sender@example.org"

static void check_status(esmtp_message *m, esmtp_status want)
{
    ck_assert_msg(esmtp_message_status(m) == want, "message: %s %d %s",
                  esmtp_status_name(esmtp_message_status(m)), esmtp_message_code(m),
                  esmtp_message_text(m));
}

START_TEST(aiosmtpd_receives_exact_bytes)
{
    char *to1 = itest_mailbox("exact", "example.org");
    char *to2 = itest_mailbox("exact2", "example.net");
    const char *rcpts[] = {to1, to2, NULL};
    /* Dots at line starts, a lone dot line, 8-bit text, and bare LF / CR
     * line ends that must arrive as CRLF. */
    const char body[] = "Subject: exact\r\nFrom: " FROM "\r\n\r\n.leading dot\r\n.\r\n"
                        "..two\r\ncaf\xc3\xa9\nbare lf\rbare cr\r\nno final newline";
    const char want[] = "Subject: exact\r\nFrom: " FROM "\r\n\r\n.leading dot\r\n.\r\n"
                        "..two\r\ncaf\xc3\xa9\r\nbare lf\r\nbare cr\r\nno final newline\r\n";
    esmtp_session *s = itest_session(itest_port("AIOSMTPD_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_status(m, ESMTP_STATUS_OK);
    ck_assert_ptr_nonnull(esmtp_session_extension(s, "PIPELINING"));

    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to1, &eml, &len);
    ck_assert_msg(env != NULL, "aiosmtpd recorded nothing for %s", to1);
    ck_assert_uint_eq(len, sizeof want - 1);
    ck_assert(memcmp(eml, want, len) == 0);
    char expect_env[1024];
    snprintf(expect_env, sizeof expect_env, "MAIL <%s> SIZE=%zu BODY=8BITMIME\nRCPT <%s>\nRCPT <%s>\n",
             FROM, sizeof want - 1, to1, to2);
    ck_assert_str_eq(env, expect_env);
    free(env);
    free(eml);
    free(to1);
    free(to2);
    esmtp_session_free(s);
}
END_TEST

/* A long-lived session (an application sending notifications): each run
 * sends what was added since, the decided messages are removed between
 * runs, and the server's extensions can be listed. */
START_TEST(long_lived_session_removes_decided_messages)
{
    esmtp_session *s = itest_session(itest_port("AIOSMTPD_PORT"));
    for (int run = 0; run < 3; run++) {
        char *to = itest_mailbox("longlived", "example.org");
        const char *rcpts[] = {to, NULL};
        char body[64];
        int n = snprintf(body, sizeof body, "Subject: run %d\r\n\r\nnotification %d\r\n", run, run);
        esmtp_message *m = itest_message(s, FROM, rcpts, body, (size_t)n);
        ck_assert_uint_eq(esmtp_session_message_count(s), 1);
        ck_assert_int_eq(itest_drive(s, _i), 0);
        check_status(m, ESMTP_STATUS_OK);
        char *eml;
        size_t len;
        char *env = itest_aiosmtpd_record(to, &eml, &len);
        ck_assert_msg(env != NULL, "nothing recorded for %s", to);
        ck_assert_uint_eq(len, (size_t)n);
        ck_assert(memcmp(eml, body, len) == 0);
        free(env);
        free(eml);
        free(to);
        ck_assert_int_eq(esmtp_session_remove_message(s, m), 0);
    }
    ck_assert_uint_eq(esmtp_session_message_count(s), 0);
    /* what the last EHLO offered, by name, each with its parameters */
    size_t count = esmtp_session_extension_count(s);
    int pipelining = 0, size = 0;
    for (size_t i = 0; i < count; i++) {
        const char *name = esmtp_session_extension_name(s, i);
        ck_assert_ptr_nonnull(esmtp_session_extension(s, name));
        pipelining |= strcmp(name, "PIPELINING") == 0;
        size |= strcmp(name, "SIZE") == 0 && strcmp(esmtp_session_extension(s, name), "10485760") == 0;
    }
    ck_assert(pipelining && size);
    ck_assert_ptr_null(esmtp_session_extension_name(s, count));
    esmtp_session_free(s);
}
END_TEST

START_TEST(aiosmtpd_each_recipient_has_its_own_fate)
{
    char *ok = itest_mailbox("fine", "example.org");
    char *bad = itest_mailbox("reject", "example.org");
    char *later = itest_mailbox("tempfail", "example.org");
    const char *rcpts[] = {bad, ok, later, NULL};
    const char body[] = "Subject: fates\r\n\r\nhello\r\n";
    esmtp_session *s = itest_session(itest_port("AIOSMTPD_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_status(m, ESMTP_STATUS_OK);
    esmtp_recipient *r_bad = esmtp_message_recipient(m, 0);
    esmtp_recipient *r_ok = esmtp_message_recipient(m, 1);
    esmtp_recipient *r_later = esmtp_message_recipient(m, 2);
    ck_assert_int_eq(esmtp_recipient_status(r_bad), ESMTP_STATUS_PERMFAIL);
    ck_assert_int_eq(esmtp_recipient_code(r_bad), 550);
    ck_assert_str_eq(esmtp_recipient_enhanced_code(r_bad), "5.1.1");
    ck_assert_int_eq(esmtp_recipient_status(r_later), ESMTP_STATUS_TEMPFAIL);
    ck_assert_int_eq(esmtp_recipient_code(r_later), 450);
    ck_assert_int_eq(esmtp_recipient_status(r_ok), ESMTP_STATUS_OK);
    ck_assert_int_eq(esmtp_recipient_code(r_ok), 250);

    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(ok, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_ptr_null(strstr(env, bad));
    ck_assert_ptr_null(strstr(env, later));
    free(env);
    free(eml);
    free(ok);
    free(bad);
    free(later);
    esmtp_session_free(s);
}
END_TEST

START_TEST(aiosmtpd_refused_data_and_next_message)
{
    char *to = itest_mailbox("refused", "example.org");
    char *to2 = itest_mailbox("after", "example.org");
    const char *rcpts[] = {to, NULL}, *rcpts2[] = {to2, NULL};
    const char body[] = "Subject: no\r\nX-Test-Reject-Data: yes\r\n\r\nx\r\n";
    const char body2[] = "Subject: yes\r\n\r\ny\r\n";
    esmtp_session *s = itest_session(itest_port(_i ? "AIOSMTPD_NOPIPE_PORT" : "AIOSMTPD_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    esmtp_message *m2 = itest_message(s, FROM, rcpts2, body2, sizeof body2 - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_status(m, ESMTP_STATUS_PERMFAIL);
    ck_assert_int_eq(esmtp_message_code(m), 554);
    ck_assert_int_eq(esmtp_recipient_code(esmtp_message_recipient(m, 0)), 554);
    check_status(m2, ESMTP_STATUS_OK);
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to2, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_uint_eq(len, sizeof body2 - 1);
    ck_assert(memcmp(eml, body2, len) == 0);
    free(env);
    free(eml);
    free(to);
    free(to2);
    esmtp_session_free(s);
}
END_TEST

START_TEST(postfix_per_recipient_codes)
{
    char *ok = itest_mailbox("alice", "example.org");
    char *bad = itest_mailbox("reject", "example.org");
    char *later = itest_mailbox("tempfail", "example.org");
    const char *rcpts[] = {ok, bad, later, NULL};
    const char body[] = "Subject: postfix fates\r\nMessage-ID: <fates@example.org>\r\n\r\nbody\r\n";
    esmtp_session *s = itest_session(itest_port("POSTFIX_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_status(m, ESMTP_STATUS_OK);
    ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, 0)), ESMTP_STATUS_OK);
    ck_assert_int_eq(esmtp_recipient_code(esmtp_message_recipient(m, 1)), 550);
    ck_assert_str_eq(esmtp_recipient_enhanced_code(esmtp_message_recipient(m, 1)), "5.1.1");
    ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, 2)), ESMTP_STATUS_TEMPFAIL);
    ck_assert_int_eq(esmtp_recipient_code(esmtp_message_recipient(m, 2)), 450);
    ck_assert_int_eq(esmtp_message_code(m), 250);
    ck_assert_str_eq(esmtp_message_enhanced_code(m), "2.0.0");

    size_t len;
    char *mail = itest_postfix_delivered(ok, &len);
    ck_assert_msg(mail != NULL, "Postfix delivered nothing to %s", ok);
    ck_assert_ptr_nonnull(strstr(mail, "Return-Path: <" FROM ">\n"));
    ck_assert_ptr_nonnull(strstr(mail, "Subject: postfix fates\n"));
    ck_assert_ptr_nonnull(strstr(mail, "\n\nbody\n"));
    free(mail);
    free(ok);
    free(bad);
    free(later);
    esmtp_session_free(s);
}
END_TEST

START_TEST(postfix_strict_bare_newlines_and_dots)
{
    /* smtpd_forbid_bare_newline = reject: the body's bare LFs must reach
     * Postfix as CRLF, and dot lines must survive stuffing. */
    char *to = itest_mailbox("strict", "example.org");
    const char *rcpts[] = {to, NULL};
    const char body[] = "Subject: bare\n\n.first\nsecond\n..\n.\nlast";
    esmtp_session *s = itest_session(itest_port("POSTFIX_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_status(m, ESMTP_STATUS_OK);
    size_t len;
    char *mail = itest_postfix_delivered(to, &len);
    ck_assert_ptr_nonnull(mail);
    ck_assert_ptr_nonnull(strstr(mail, "\n\n.first\nsecond\n..\n.\nlast\n"));
    free(mail);
    free(to);
    esmtp_session_free(s);
}
END_TEST

/* Several messages on one connection, with and without PIPELINING. The
 * no-pipelining listener also has smtpd_forbid_unauth_pipelining, so a
 * client that pipelined there would be cut off. */
static void several_messages(const char *port_key, int how, int pipelined)
{
    enum { N = 4 };
    char *to[N];
    esmtp_message *m[N];
    esmtp_session *s = itest_session(itest_port(port_key));
    for (int i = 0; i < N; i++) {
        to[i] = itest_mailbox("multi", "example.org");
        const char *rcpts[] = {to[i], NULL};
        char body[128];
        int n = snprintf(body, sizeof body, "Subject: message %d\r\n\r\nnumber %d\r\n", i, i);
        m[i] = itest_message(s, FROM, rcpts, body, (size_t)n);
    }
    ck_assert_int_eq(itest_drive(s, how), 0);
    ck_assert_int_eq(esmtp_session_extension(s, "PIPELINING") != NULL, pipelined);
    for (int i = 0; i < N; i++) {
        check_status(m[i], ESMTP_STATUS_OK);
        size_t len;
        char *mail = itest_postfix_delivered(to[i], &len);
        ck_assert_ptr_nonnull(mail);
        char want[64];
        snprintf(want, sizeof want, "\n\nnumber %d\n", i);
        ck_assert_ptr_nonnull(strstr(mail, want));
        free(mail);
        free(to[i]);
    }
    esmtp_session_free(s);
}

START_TEST(postfix_several_messages_pipelined)
{
    several_messages("POSTFIX_PORT", _i, 1);
}
END_TEST

START_TEST(postfix_several_messages_without_pipelining)
{
    several_messages("POSTFIX_NOPIPE_PORT", _i, 0);
}
END_TEST

/* aiosmtpd's no-PIPELINING listener cuts off a client that sends a command
 * before the previous reply arrived, so this proves one command at a time. */
START_TEST(aiosmtpd_strict_synchronisation_without_pipelining)
{
    enum { N = 3 };
    char *to[N];
    esmtp_message *m[N];
    esmtp_session *s = itest_session(itest_port("AIOSMTPD_NOPIPE_PORT"));
    for (int i = 0; i < N; i++) {
        to[i] = itest_mailbox(i == 1 ? "reject-sync" : "sync", "example.org");
        const char *rcpts[] = {to[i], NULL};
        m[i] = itest_message(s, FROM, rcpts, "Subject: sync\r\n\r\nx\r\n", 20);
    }
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_ptr_null(esmtp_session_extension(s, "PIPELINING"));
    for (int i = 0; i < N; i++) {
        check_status(m[i], i == 1 ? ESMTP_STATUS_PERMFAIL : ESMTP_STATUS_OK);
        if (i != 1) {
            char *eml = NULL;
            size_t len;
            char *env = itest_aiosmtpd_record(to[i], &eml, &len);
            ck_assert_ptr_nonnull(env);
            free(env);
            free(eml);
        }
        free(to[i]);
    }
    esmtp_session_free(s);
}
END_TEST

START_TEST(sink_421_fails_every_recipient)
{
    const char *rcpts[] = {"a@example.org", "b@example.org", NULL};
    esmtp_session *s = itest_session(itest_port("SINK_421_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    esmtp_message *m2 = itest_message(s, FROM, rcpts, "y\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ESERVICE);
    check_status(m, ESMTP_STATUS_TEMPFAIL);
    check_status(m2, ESMTP_STATUS_TEMPFAIL);
    for (size_t i = 0; i < 2; i++) {
        esmtp_recipient *r = esmtp_message_recipient(m, i);
        ck_assert_int_eq(esmtp_recipient_status(r), ESMTP_STATUS_TEMPFAIL);
        ck_assert_int_eq(esmtp_recipient_code(r), 421);
    }
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "421"));
    esmtp_session_free(s);
}
END_TEST

START_TEST(sink_drop_after_dot_is_unknown)
{
    const char *rcpts[] = {"a@example.org", NULL};
    esmtp_session *s = itest_session(itest_port("SINK_DROP_PORT"));
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_EIO);
    check_status(m, ESMTP_STATUS_UNKNOWN);
    ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, 0)), ESMTP_STATUS_UNKNOWN);
    esmtp_session_free(s);
}
END_TEST

START_TEST(sink_answering_auth_with_250_delivers_nothing)
{
    /* smtp-sink answers AUTH with 250 instead of 235: a protocol error,
     * and no MAIL may follow. */
    const char *rcpts[] = {"a@example.org", "b@y.test", NULL};
    esmtp_session *s = itest_session(itest_port("SINK_PORT"));
    ck_assert_int_eq(esmtp_session_set_auth(s, "user", "password"), 0);
    ck_assert_int_eq(esmtp_session_set_allow_plaintext_auth(s, 1), 0);
    itest_trace t;
    itest_watch(s, &t);
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_EPROTO);
    check_status(m, ESMTP_STATUS_TEMPFAIL);
    for (size_t i = 0; i < 2; i++)
        ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, i)),
                         ESMTP_STATUS_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(t.transcript, "C: AUTH PLAIN"));
    ck_assert_ptr_null(strstr(t.transcript, "C: MAIL"));
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "other than 235"));
    esmtp_session_free(s);
}
END_TEST

START_TEST(nothing_listening_is_econnect)
{
    const char *rcpts[] = {"a@example.org", NULL};
    /* A port of the servers' range that no server uses. */
    esmtp_session *s = itest_session(itest_port("SINK_PORT") + 77);
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ECONNECT);
    check_status(m, ESMTP_STATUS_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "127.0.0.1"));
    esmtp_session_free(s);
}
END_TEST

START_TEST(ipv6_literals)
{
    const char *hosts[] = {"[::1]", "::1"};
    const char *rcpts[] = {"a@example.org", NULL};
    for (size_t i = 0; i < 2; i++) {
        esmtp_session *s = itest_session(0);
        ck_assert_int_eq(esmtp_session_set_server(s, hosts[i], itest_port("SINK6_PORT")), 0);
        esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
        ck_assert_int_eq(itest_drive(s, _i), 0);
        check_status(m, ESMTP_STATUS_OK);
        esmtp_session_free(s);
    }
}
END_TEST

/* A server that accepts connections (the kernel completes the handshake)
 * but never greets: the greeting timeout must end the session. */
START_TEST(silent_server_times_out)
{
    unsigned int port = 0;
    int fd = itest_listen(&port, 4);

    const char *rcpts[] = {"a@example.org", NULL};
    esmtp_session *s = itest_session(port);
    ck_assert_int_eq(esmtp_session_set_timeout(s, ESMTP_TIMEOUT_GREETING, 300), 0);
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ETIMEOUT);
    check_status(m, ESMTP_STATUS_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "300 ms waiting for the greeting"));
    esmtp_session_free(s);
    close(fd);
}
END_TEST

/* A listener whose backlog is full drops new SYNs: the connect hangs and
 * the connect timeout must end it. */
START_TEST(connect_timeout)
{
    unsigned int port = 0;
    int fd = itest_listen(&port, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int filler = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(filler, (struct sockaddr *)&sa, sizeof sa), 0);

    const char *rcpts[] = {"a@example.org", NULL};
    esmtp_session *s = itest_session(port);
    ck_assert_int_eq(esmtp_session_set_timeout(s, ESMTP_TIMEOUT_CONNECT, 300), 0);
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ECONNECT);
    check_status(m, ESMTP_STATUS_TEMPFAIL);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "timed out"));
    esmtp_session_free(s);
    close(filler);
    close(fd);
}
END_TEST

typedef struct trace {
    char events[256];
    size_t n;
    uint64_t body_bytes;
    int errors;
    int last_error;
} trace;

static int record_event(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                        uint64_t bytes, void *ud)
{
    (void)s;
    trace *t = ud;
    static const char letters[] = "?CGERBMD";
    /* Successive body-progress events count once. */
    if (!(ev == ESMTP_EVENT_BODY_BYTES && t->n && t->events[t->n - 1] == 'B'))
        t->events[t->n++] = letters[ev];
    if (ev == ESMTP_EVENT_BODY_BYTES)
        t->body_bytes = bytes;
    ck_assert_int_eq(m != NULL, ev >= ESMTP_EVENT_RECIPIENT && ev <= ESMTP_EVENT_MESSAGE_DONE);
    ck_assert_int_eq(r != NULL, ev == ESMTP_EVENT_RECIPIENT);
    return 0;
}

static void record_error(esmtp_session *s, int error, const char *detail, void *ud)
{
    trace *t = ud;
    t->errors++;
    t->last_error = error;
    ck_assert_str_eq(detail, esmtp_session_detail(s));
}

START_TEST(events_arrive_in_order)
{
    char *a = itest_mailbox("events", "example.org");
    char *b = itest_mailbox("reject-events", "example.org");
    const char *rcpts[] = {a, b, NULL};
    const char body[] = "Subject: events\r\n\r\nbody\r\n";
    trace t = {0};
    esmtp_session *s = itest_session(itest_port("AIOSMTPD_PORT"));
    esmtp_session_set_progress_cb(s, record_event, &t);
    esmtp_session_set_error_cb(s, record_error, &t);
    itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    t.events[t.n] = '\0';
    /* connected, greeting, extensions, two recipients, body, done, disconnected */
    ck_assert_str_eq(t.events, "CGERRBMD");
    ck_assert_uint_eq(t.body_bytes, sizeof body - 1);
    ck_assert_int_eq(t.errors, 0);
    free(a);
    free(b);
    esmtp_session_free(s);
}
END_TEST

START_TEST(error_callback_once_with_detail)
{
    const char *rcpts[] = {"a@example.org", NULL};
    trace t = {0};
    esmtp_session *s = itest_session(itest_port("SINK_421_PORT"));
    esmtp_session_set_error_cb(s, record_error, &t);
    itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ESERVICE);
    ck_assert_int_eq(t.errors, 1);
    ck_assert_int_eq(t.last_error, ESMTP_ESERVICE);
    esmtp_session_free(s);
}
END_TEST

static Suite *integration_suite(void)
{
    Suite *s = suite_create("integration");
    TCase *tc = tcase_create("servers");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, aiosmtpd_receives_exact_bytes, 0, 2);
    tcase_add_loop_test(tc, long_lived_session_removes_decided_messages, 0, 2);
    tcase_add_loop_test(tc, aiosmtpd_each_recipient_has_its_own_fate, 0, 2);
    tcase_add_loop_test(tc, aiosmtpd_refused_data_and_next_message, 0, 2);
    tcase_add_loop_test(tc, postfix_per_recipient_codes, 0, 2);
    tcase_add_loop_test(tc, postfix_strict_bare_newlines_and_dots, 0, 2);
    tcase_add_loop_test(tc, postfix_several_messages_pipelined, 0, 2);
    tcase_add_loop_test(tc, postfix_several_messages_without_pipelining, 0, 2);
    tcase_add_loop_test(tc, aiosmtpd_strict_synchronisation_without_pipelining, 0, 2);
    tcase_add_loop_test(tc, sink_421_fails_every_recipient, 0, 2);
    tcase_add_loop_test(tc, sink_drop_after_dot_is_unknown, 0, 2);
    tcase_add_loop_test(tc, sink_answering_auth_with_250_delivers_nothing, 0, 2);
    tcase_add_loop_test(tc, nothing_listening_is_econnect, 0, 2);
    tcase_add_loop_test(tc, ipv6_literals, 0, 2);
    tcase_add_loop_test(tc, silent_server_times_out, 0, 2);
    tcase_add_loop_test(tc, connect_timeout, 0, 2);
    tcase_add_loop_test(tc, events_arrive_in_order, 0, 2);
    tcase_add_loop_test(tc, error_callback_once_with_detail, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    itest_need_servers();
    return run_suite(integration_suite());
}
