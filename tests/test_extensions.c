/* ESMTP extensions against real servers: CHUNKING/BDAT, SMTPUTF8 and IDN,
 * DSN, REQUIRETLS, DELIVERBY, MT-PRIORITY, SIZE limits, recipient limits
 * and a server that refuses MAIL parameters. Each used when offered and
 * not when not. Every test runs through both APIs (_i).
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "run_suite.h"

#define FROM "sender@example.org"

static esmtp_session *session(const char *port_key, itest_trace *w)
{
    esmtp_session *s = itest_session(itest_port(port_key));
    itest_watch(s, w);
    return s;
}

static void check_ok(esmtp_message *m)
{
    ck_assert_msg(esmtp_message_status(m) == ESMTP_STATUS_OK, "message: %s %d %s",
                  esmtp_status_name(esmtp_message_status(m)), esmtp_message_code(m),
                  esmtp_message_text(m));
}

/* BDAT sends the body as it is: lines with leading dots are not doubled,
 * and the server records exactly the body. */
START_TEST(bdat_when_offered)
{
    itest_trace w;
    char *to = itest_mailbox("bdat", "example.org");
    char *multi = itest_mailbox("multiline", "example.org");
    const char *rcpts[] = {to, NULL}, *rcpts2[] = {multi, NULL};
    static const char body[] = "Subject: bdat\r\n\r\n.leading dot\r\n..\r\n.\r\nend\r\n";
    esmtp_session *s = session("AIOSMTPD_EXT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    esmtp_message *m2 = itest_message(s, FROM, rcpts2, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    check_ok(m2);
    /* Exim-style multi-line BDAT reply */
    ck_assert_ptr_nonnull(strchr(esmtp_message_text(m2), '\n'));
    char want[64];
    snprintf(want, sizeof want, "C: BDAT %zu LAST\n", sizeof body - 1);
    ck_assert_ptr_nonnull(strstr(w.transcript, want));
    ck_assert_ptr_null(strstr(w.transcript, "C: DATA"));
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_uint_eq(len, sizeof body - 1);
    ck_assert(memcmp(eml, body, len) == 0);
    free(env);
    free(eml);
    free(to);
    free(multi);
    esmtp_session_free(s);
}
END_TEST

START_TEST(parameters_when_offered)
{
    itest_trace w;
    char *to = itest_mailbox("params", "example.org");
    const char *rcpts[] = {to, NULL};
    esmtp_session *s = session("AIOSMTPD_EXT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, "Subject: p\r\n\r\nx\r\n", 17);
    esmtp_message_set_dsn_ret(m, ESMTP_DSN_RET_HDRS);
    esmtp_message_set_dsn_envid(m, "env id+1");
    esmtp_recipient_set_dsn_notify(esmtp_message_recipient(m, 0),
                                   ESMTP_NOTIFY_SUCCESS | ESMTP_NOTIFY_DELAY);
    esmtp_recipient_set_dsn_orcpt(esmtp_message_recipient(m, 0), to);
    esmtp_message_set_deliver_by(m, 7200, 0);
    esmtp_message_set_priority(m, 4);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    ck_assert_int_eq(w.events[ESMTP_EVENT_DSN_DROPPED] + w.events[ESMTP_EVENT_PARAMS_DROPPED], 0);
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_ptr_nonnull(env);
    char want[512];
    snprintf(want, sizeof want,
             "MAIL <" FROM "> SIZE=17 RET=HDRS ENVID=env+20id+2B1 BY=7200;N MT-PRIORITY=4\n"
             "RCPT <%s> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;%s\n", to, to);
    ck_assert_str_eq(env, want);
    free(env);
    free(eml);
    free(to);
    esmtp_session_free(s);
}
END_TEST

START_TEST(nothing_declared_that_is_not_offered)
{
    /* smtp-sink offers neither SIZE nor CHUNKING nor SMTPUTF8 */
    itest_trace w;
    const char *rcpts[] = {"a@example.org", NULL};
    esmtp_session *s = session("SINK_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    esmtp_message_set_priority(m, 2);
    esmtp_message_set_deliver_by(m, 60, 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    ck_assert_int_eq(w.events[ESMTP_EVENT_PARAMS_DROPPED], 1);
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: MAIL FROM:<" FROM ">\n"));
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: DATA\n"));
    esmtp_session_free(s);
}
END_TEST

START_TEST(smtputf8_and_idn)
{
    itest_trace w;
    char *ascii = itest_mailbox("idn", "bücher.example");
    const char *rcpts[] = {"用户@example.org", ascii, NULL};
    static const char body[] = "Subject: utf8\r\n\r\n你好\r\n";
    /* offered: SMTPUTF8 declared because a local part needs it */
    esmtp_session *s = session("AIOSMTPD_EXT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(ascii, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_ptr_nonnull(strstr(env, " SMTPUTF8"));
    ck_assert_ptr_nonnull(strstr(env, "RCPT <用户@example.org>"));
    free(env);
    free(eml);
    esmtp_session_free(s);

    /* not offered: the UTF-8 local part fails alone, the Unicode domain
     * goes as A-labels, and SMTPUTF8 is not declared */
    s = session("AIOSMTPD_NO8BIT_PORT", &w);
    m = itest_message(s, FROM, rcpts, "Subject: a\r\n\r\nx\r\n", 17);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, 0)), ESMTP_STATUS_PERMFAIL);
    ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, 1)), ESMTP_STATUS_OK);
    ck_assert_ptr_null(strstr(w.transcript, "SMTPUTF8\n"));
    char alabel[256];
    snprintf(alabel, sizeof alabel, "%.*s@xn--bcher-kva.example", (int)(strchr(ascii, '@') - ascii),
             ascii);
    env = itest_aiosmtpd_record(alabel, &eml, &len);
    ck_assert_msg(env != NULL, "nothing recorded for %s", alabel);
    ck_assert_ptr_null(strstr(env, "SMTPUTF8"));
    free(env);
    free(eml);
    free(ascii);
    esmtp_session_free(s);
}
END_TEST

START_TEST(eight_bit_and_size_refused_before_sending)
{
    itest_trace w;
    const char *rcpts[] = {"a@example.org", NULL};
    esmtp_session *s = session("AIOSMTPD_NO8BIT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, "caf\xc3\xa9\r\n", 7);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_PERMFAIL);
    ck_assert_ptr_nonnull(strstr(esmtp_message_text(m), "8BITMIME"));
    ck_assert_ptr_null(strstr(w.transcript, "C: MAIL"));
    esmtp_session_free(s);

    char big[3000];
    memset(big, 'x', sizeof big);
    s = session("AIOSMTPD_SMALL_PORT", &w);
    m = itest_message(s, FROM, rcpts, big, sizeof big);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_PERMFAIL);
    ck_assert_ptr_nonnull(strstr(esmtp_message_text(m), "limit of 1000"));
    ck_assert_ptr_null(strstr(w.transcript, "C: MAIL"));
    esmtp_session_free(s);
}
END_TEST

START_TEST(mail_parameters_refused_then_retried)
{
    itest_trace w;
    char *to = itest_mailbox("quirk", "example.org");
    const char *rcpts[] = {to, NULL};
    esmtp_session *s = session("AIOSMTPD_QUIRK_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, "Subject: q\r\n\r\nx\r\n", 17);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    ck_assert_int_eq(w.events[ESMTP_EVENT_PARAMS_DROPPED], 1);
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: MAIL FROM:<" FROM "> SIZE=17\n"));
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: MAIL FROM:<" FROM ">\n"));
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_ptr_nonnull(env);
    free(env);
    free(eml);
    free(to);
    esmtp_session_free(s);
}
END_TEST

START_TEST(requiretls_only_over_tls)
{
    itest_trace w;
    char *to = itest_mailbox("requiretls", "example.org");
    const char *rcpts[] = {to, NULL};
    esmtp_session *s = session("AIOSMTPD_EXT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, "Subject: r\r\n\r\nx\r\n", 17);
    esmtp_message_set_requiretls(m, 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_PERMFAIL);
    ck_assert_ptr_null(strstr(w.transcript, "C: MAIL"));
    esmtp_session_free(s);

    s = session("AIOSMTPD_EXT_PORT", &w);
    esmtp_session_set_server(s, "localhost", itest_port("AIOSMTPD_EXT_PORT"));
    esmtp_session_set_tls(s, ESMTP_TLS_STARTTLS);
    esmtp_session_set_ca(s, itest_env("TLS_CA_FILE"), NULL);
    m = itest_message(s, FROM, rcpts, "Subject: r\r\n\r\nx\r\n", 17);
    esmtp_message_set_requiretls(m, 1);
    ck_assert_msg(itest_drive(s, _i) == 0, "%s", esmtp_session_detail(s));
    check_ok(m);
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_ptr_nonnull(strstr(env, " REQUIRETLS"));
    free(env);
    free(eml);
    free(to);
    esmtp_session_free(s);
}
END_TEST

/* Postfix with smtpd_recipient_limit = 2: five recipients take three
 * transactions, and every one of them gets the message. */
START_TEST(postfix_recipient_limit)
{
    enum { N = 5 };
    itest_trace w;
    char *to[N];
    const char *rcpts[N + 1];
    for (int i = 0; i < N; i++)
        rcpts[i] = to[i] = itest_mailbox("limit", "example.org");
    rcpts[N] = NULL;
    esmtp_session *s = session("POSTFIX_RCPTLIMIT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, "Subject: many\r\n\r\nfor all\r\n", 26);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(esmtp_recipient_status(esmtp_message_recipient(m, (size_t)i)),
                         ESMTP_STATUS_OK);
        size_t len;
        char *mail = itest_postfix_delivered(to[i], &len);
        ck_assert_msg(mail != NULL, "nothing delivered to %s", to[i]);
        ck_assert_ptr_nonnull(strstr(mail, "\n\nfor all\n"));
        free(mail);
        free(to[i]);
    }
    /* three MAIL commands: 2 + 2 + 1 recipients */
    const char *p = w.transcript;
    int mails = 0;
    while ((p = strstr(p, "C: MAIL FROM")) != NULL) {
        mails++;
        p++;
    }
    ck_assert_int_eq(mails, 3);
    esmtp_session_free(s);
}
END_TEST

/* Postfix offers CHUNKING, DSN, SMTPUTF8 and ENHANCEDSTATUSCODES. */
START_TEST(postfix_chunking_and_enhanced_codes)
{
    itest_trace w;
    char *to = itest_mailbox("pfbdat", "example.org");
    char *bad = itest_mailbox("reject", "example.org");
    const char *rcpts[] = {to, bad, NULL};
    static const char body[] = "Subject: pf\r\n\r\n.dot\r\nline\r\n";
    esmtp_session *s = session("POSTFIX_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: BDAT "));
    ck_assert_str_eq(esmtp_message_enhanced_code(m), "2.0.0");
    ck_assert_str_eq(esmtp_recipient_enhanced_code(esmtp_message_recipient(m, 1)), "5.1.1");
    size_t len;
    char *mail = itest_postfix_delivered(to, &len);
    ck_assert_ptr_nonnull(mail);
    ck_assert_ptr_nonnull(strstr(mail, "\n\n.dot\nline\n"));
    free(mail);
    free(to);
    free(bad);
    esmtp_session_free(s);
}
END_TEST

START_TEST(binarymime_exact_bytes)
{
    itest_trace w;
    char *to = itest_mailbox("binary", "example.org");
    const char *rcpts[] = {to, NULL};
    static const char body[] = "Subject: bin\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                               "\x00\x01\n.\r\r\n\xff bare LF\nend";
    esmtp_session *s = session("AIOSMTPD_EXT_PORT", &w);
    esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);
    ck_assert_int_eq(esmtp_message_set_binary(m, 1), 0);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    char *eml;
    size_t len;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_ptr_nonnull(strstr(env, " BODY=BINARYMIME"));
    ck_assert_uint_eq(len, sizeof body - 1);
    ck_assert(memcmp(eml, body, len) == 0);
    free(env);
    free(eml);
    free(to);
    esmtp_session_free(s);
}
END_TEST

/* Postfix with DSN: a success notification comes back to the sender, and
 * quotes the ENVID; a UTF-8 local part is delivered with SMTPUTF8. */
START_TEST(postfix_dsn_and_smtputf8)
{
    itest_trace w;
    char *sender = itest_mailbox("dsnsender", "example.org");
    char *to = itest_mailbox("dsn", "example.org");
    char utf8[128];
    snprintf(utf8, sizeof utf8, "用户-%s", to); /* unique, with a UTF-8 local part */
    const char *rcpts[] = {to, utf8, NULL};
    esmtp_session *s = session("POSTFIX_PORT", &w);
    esmtp_message *m = itest_message(s, sender, rcpts, "Subject: dsn\r\n\r\nx\r\n", 18);
    esmtp_message_set_dsn_envid(m, "envid-42");
    esmtp_message_set_dsn_ret(m, ESMTP_DSN_RET_HDRS);
    esmtp_recipient_set_dsn_notify(esmtp_message_recipient(m, 0),
                                   ESMTP_NOTIFY_SUCCESS | ESMTP_NOTIFY_FAILURE);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    check_ok(m);
    ck_assert_ptr_nonnull(strstr(w.transcript, " SMTPUTF8"));
    ck_assert_ptr_nonnull(strstr(w.transcript, "NOTIFY=SUCCESS,FAILURE"));
    size_t len;
    char *mail = itest_postfix_delivered(utf8, &len);
    ck_assert_msg(mail != NULL, "nothing delivered to %s", utf8);
    free(mail);
    char *dsn = itest_postfix_delivered(sender, &len);
    ck_assert_msg(dsn != NULL, "no DSN came back to %s", sender);
    ck_assert_ptr_nonnull(strstr(dsn, "Original-Envelope-Id: envid-42"));
    ck_assert_ptr_nonnull(strstr(dsn, "Status: 2.0.0"));
    free(dsn);
    free(sender);
    free(to);
    esmtp_session_free(s);
}
END_TEST

static Suite *extensions_suite(void)
{
    Suite *s = suite_create("extensions");
    TCase *tc = tcase_create("servers");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, bdat_when_offered, 0, 2);
    tcase_add_loop_test(tc, parameters_when_offered, 0, 2);
    tcase_add_loop_test(tc, nothing_declared_that_is_not_offered, 0, 2);
    tcase_add_loop_test(tc, smtputf8_and_idn, 0, 2);
    tcase_add_loop_test(tc, eight_bit_and_size_refused_before_sending, 0, 2);
    tcase_add_loop_test(tc, mail_parameters_refused_then_retried, 0, 2);
    tcase_add_loop_test(tc, requiretls_only_over_tls, 0, 2);
    tcase_add_loop_test(tc, postfix_recipient_limit, 0, 2);
    tcase_add_loop_test(tc, postfix_chunking_and_enhanced_codes, 0, 2);
    tcase_add_loop_test(tc, binarymime_exact_bytes, 0, 2);
    tcase_add_loop_test(tc, postfix_dsn_and_smtputf8, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    itest_need_servers();
    return run_suite(extensions_suite());
}
