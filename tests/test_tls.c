/* TLS and SMTP AUTH against real servers: aiosmtpd with STARTTLS, implicit
 * TLS and OAuth/EXTERNAL authenticators, Postfix with Cyrus SASL and
 * certificates that must be refused, and a server that injects data after
 * STARTTLS. Every test runs through both APIs (_i).
 * SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "run_suite.h"

#define FROM "sender@example.org"

/* A session to host:port in the given mode, trusting the test CA. */
static esmtp_session *tls_session(const char *host, const char *port_key, esmtp_tls_mode mode,
                                  itest_trace *w)
{
    esmtp_session *s = itest_session(0);
    ck_assert_int_eq(esmtp_session_set_server(s, host, itest_port(port_key)), 0);
    ck_assert_int_eq(esmtp_session_set_tls(s, mode), 0);
    ck_assert_int_eq(esmtp_session_set_ca(s, itest_env("TLS_CA_FILE"), NULL), 0);
    itest_watch(s, w);
    return s;
}

static esmtp_message *simple_message(esmtp_session *s, const char *to)
{
    const char *rcpts[] = {to, NULL};
    static const char body[] = "Subject: tls\r\n\r\nsecret contents\r\n";
    return itest_message(s, FROM, rcpts, body, sizeof body - 1);
}

static void expect_delivered_to_aiosmtpd(const char *to)
{
    char *eml = NULL;
    size_t len;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_msg(env != NULL, "nothing recorded for %s", to);
    ck_assert_ptr_nonnull(strstr(eml, "secret contents"));
    free(env);
    free(eml);
}

START_TEST(starttls_by_name_and_by_ip)
{
    const char *hosts[] = {"localhost", "127.0.0.1"};
    for (size_t i = 0; i < 2; i++) {
        itest_trace w;
        char *to = itest_mailbox("tls", "example.org");
        esmtp_session *s = tls_session(hosts[i], "AIOSMTPD_TLS_PORT", ESMTP_TLS_STARTTLS, &w);
        esmtp_message *m = simple_message(s, to);
        ck_assert_int_eq(itest_drive(s, _i), 0);
        ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
        ck_assert_int_eq(w.events[ESMTP_EVENT_TLS], 1);
        ck_assert_str_eq(w.tls_version, "TLSv1.3");
        ck_assert_ptr_nonnull(strstr(w.tls_subject, "CN="));
        /* EHLO again after the handshake, and STARTTLS only once */
        ck_assert_ptr_nonnull(strstr(strstr(w.transcript, "C: STARTTLS"), "C: EHLO"));
        ck_assert_ptr_null(strstr(strstr(w.transcript, "C: STARTTLS") + 1, "C: STARTTLS"));
        expect_delivered_to_aiosmtpd(to);
        /* SNI carries host names, never IP literals (RFC 6066 section 3). */
        char *session = itest_aiosmtpd_session(to);
        ck_assert_ptr_nonnull(session);
        ck_assert_ptr_nonnull(strstr(session, i == 0 ? "SNI localhost\n" : "SNI none\n"));
        free(session);
        free(to);
        esmtp_session_free(s);
    }
}
END_TEST

START_TEST(implicit_tls_and_resumption)
{
    itest_trace w;
    char *to = itest_mailbox("smtps", "example.org");
    esmtp_session *s = tls_session("localhost", "AIOSMTPD_SMTPS_PORT", ESMTP_TLS_IMPLICIT, &w);
    esmtp_message *m = simple_message(s, to);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    ck_assert_int_eq(w.events[ESMTP_EVENT_TLS], 1);
    ck_assert_int_eq(esmtp_session_tls_resumed(s), 0);
    expect_delivered_to_aiosmtpd(to);
    free(to);

    /* The same session object, the same server: the TLS session resumes. */
    to = itest_mailbox("smtps-again", "example.org");
    m = simple_message(s, to);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    ck_assert_int_eq(esmtp_session_tls_resumed(s), 1);
    expect_delivered_to_aiosmtpd(to);
    free(to);
    esmtp_session_free(s);
}
END_TEST

START_TEST(default_mode_refuses_a_server_without_starttls)
{
    itest_trace w;
    esmtp_session *s = tls_session("127.0.0.1", "AIOSMTPD_PORT", ESMTP_TLS_DEFAULT, &w);
    esmtp_message *m = simple_message(s, "never@example.org");
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ENOTLS);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_TEMPFAIL);
    ck_assert_ptr_null(strstr(w.transcript, "C: MAIL"));
    esmtp_session_free(s);
}
END_TEST

/* A certificate that must be refused, with the reason OpenSSL gives. */
static void refused(const char *port_key, const char *reason, int how)
{
    itest_trace w;
    esmtp_session *s = tls_session("localhost", port_key, ESMTP_TLS_STARTTLS, &w);
    esmtp_message *m = simple_message(s, "never@example.org");
    ck_assert_int_eq(itest_drive(s, how), ESMTP_ECERT);
    ck_assert_msg(strstr(esmtp_session_detail(s), reason) != NULL, "detail: %s",
                  esmtp_session_detail(s));
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_TEMPFAIL);
    ck_assert_ptr_null(strstr(w.transcript, "C: MAIL"));
    esmtp_session_free(s);
}

START_TEST(bad_certificates_are_refused)
{
    refused("POSTFIX_TLS_WRONGHOST_PORT", "hostname mismatch", _i);
    refused("POSTFIX_TLS_EXPIRED_PORT", "certificate has expired", _i);
    refused("POSTFIX_TLS_SELFSIGNED_PORT", "self-signed certificate", _i);
}
END_TEST

START_TEST(pins_and_ca_files_decide_trust)
{
    const char *rcpts[] = {"pin@example.org", NULL};
    /* The self-signed certificate is trusted through its pin... */
    itest_trace w;
    esmtp_session *s = tls_session("localhost", "POSTFIX_TLS_SELFSIGNED_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_tls_pin(s, itest_env("TLS_SELFSIGNED_PIN_SHA256")), 0);
    esmtp_message *m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    esmtp_session_free(s);

    /* ... or as its own CA. */
    s = tls_session("localhost", "POSTFIX_TLS_SELFSIGNED_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_ca(s, itest_env("TLS_SELFSIGNED_CERT"), NULL), 0);
    m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    esmtp_session_free(s);

    /* A pin that does not match refuses even a certificate the CA vouches for. */
    s = tls_session("localhost", "AIOSMTPD_TLS_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_tls_pin(s, itest_env("TLS_SELFSIGNED_PIN_SHA256")), 0);
    m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ECERT);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "pinned"));
    esmtp_session_free(s);

    /* The right pin for a CA-signed certificate is fine. */
    s = tls_session("localhost", "AIOSMTPD_TLS_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_tls_pin(s, itest_env("TLS_SERVER_PIN_SHA256")), 0);
    m = itest_message(s, FROM, rcpts, "x\r\n", 3);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    esmtp_session_free(s);
}
END_TEST

START_TEST(injection_after_starttls_is_refused)
{
    itest_trace w;
    esmtp_session *s = tls_session("localhost", "INJECT_PORT", ESMTP_TLS_STARTTLS, &w);
    esmtp_message *m = simple_message(s, "never@example.org");
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_EPROTO);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "injection"));
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_TEMPFAIL);
    ck_assert_int_eq(w.events[ESMTP_EVENT_TLS], 0);
    esmtp_session_free(s);
}
END_TEST

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

START_TEST(implicit_tls_against_plain_smtp_port)
{
    itest_trace w;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    esmtp_session *s = tls_session("127.0.0.1", "AIOSMTPD_PORT", ESMTP_TLS_IMPLICIT, &w);
    simple_message(s, "never@example.org");
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ETLSMODE);
    ck_assert_double_lt(seconds_since(&t0), 1.0);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "STARTTLS"));
    esmtp_session_free(s);
}
END_TEST

/* A client in clear on port 465 meets a server waiting for a TLS
 * ClientHello: silence. The test owns 127.0.0.1:465 for this (as root). */
START_TEST(plain_smtp_against_port_465)
{
    unsigned int port = 465;
    int fd = itest_listen(&port, 4);

    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    esmtp_session *s = itest_session(port);
    ck_assert_int_eq(esmtp_session_set_tls(s, ESMTP_TLS_STARTTLS), 0);
    simple_message(s, "never@example.org");
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_ETLSMODE);
    ck_assert_double_lt(seconds_since(&t0), 2.0);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "implicit TLS"));
    esmtp_session_free(s);
    close(fd);
}
END_TEST

static void base64(const unsigned char *in, size_t len, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        *out++ = abc[v >> 18 & 63];
        *out++ = abc[v >> 12 & 63];
        *out++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *out++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *out = '\0';
}

/* Neither the password nor PLAIN's or LOGIN's encodings of it show. */
static void no_secret(const char *transcript, const char *user, const char *password)
{
    unsigned char plain[512];
    char b64[1024];
    size_t ulen = strlen(user), plen = strlen(password);
    ck_assert_ptr_null(strstr(transcript, password));
    base64((const unsigned char *)password, plen, b64);
    ck_assert_ptr_null(strstr(transcript, b64));
    plain[0] = '\0';
    memcpy(plain + 1, user, ulen);
    plain[1 + ulen] = '\0';
    memcpy(plain + 2 + ulen, password, plen);
    base64(plain, 2 + ulen + plen, b64);
    ck_assert_ptr_null(strstr(transcript, b64));
}

/* Postfix with Cyrus SASL: every password mechanism it offers. */
START_TEST(postfix_auth_every_mechanism)
{
    const char *mechs[] = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"};
    const char *password = itest_env("SASL_PASSWORD");
    for (size_t i = 0; i < sizeof mechs / sizeof *mechs; i++) {
        itest_trace w;
        char *to = itest_mailbox("auth", "example.org");
        esmtp_session *s =
            tls_session("localhost", "POSTFIX_SUBMISSION_PORT", ESMTP_TLS_STARTTLS, &w);
        ck_assert_int_eq(esmtp_session_set_auth(s, itest_env("SASL_USER"), password), 0);
        ck_assert_int_eq(esmtp_session_set_auth_mechanisms(s, mechs[i]), 0);
        esmtp_message *m = simple_message(s, to);
        ck_assert_msg(itest_drive(s, _i) == 0, "%s: %s", mechs[i], esmtp_session_detail(s));
        ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
        ck_assert_int_eq(w.events[ESMTP_EVENT_AUTHENTICATED], 1);
        char want[64];
        snprintf(want, sizeof want, "C: AUTH %s", mechs[i]);
        ck_assert_ptr_nonnull(strstr(w.transcript, want));
        no_secret(w.transcript, itest_env("SASL_USER"), password);
        size_t len;
        char *mail = itest_postfix_delivered(to, &len);
        ck_assert_ptr_nonnull(mail);
        free(mail);
        free(to);
        esmtp_session_free(s);
    }
}
END_TEST

START_TEST(postfix_implicit_tls_strongest_mechanism)
{
    itest_trace w;
    char *to = itest_mailbox("smtps-auth", "example.org");
    esmtp_session *s = tls_session("localhost", "POSTFIX_SMTPS_PORT", ESMTP_TLS_DEFAULT, &w);
    /* ESMTP_TLS_DEFAULT is implicit only on 465; this port is not. */
    ck_assert_int_eq(esmtp_session_set_tls(s, ESMTP_TLS_IMPLICIT), 0);
    esmtp_session_set_auth(s, itest_env("SASL_USER"), itest_env("SASL_PASSWORD"));
    esmtp_message *m = simple_message(s, to);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: AUTH SCRAM-SHA-256 "));
    free(to);
    esmtp_session_free(s);
}
END_TEST

START_TEST(bad_password_stops_with_server_reply)
{
    itest_trace w;
    esmtp_session *s = tls_session("localhost", "POSTFIX_SUBMISSION_PORT", ESMTP_TLS_STARTTLS, &w);
    esmtp_session_set_auth(s, itest_env("SASL_USER"), "wrong password");
    esmtp_session_set_auth_mechanisms(s, "PLAIN");
    esmtp_message *m = simple_message(s, "never@example.org");
    ck_assert_int_eq(itest_drive(s, _i), ESMTP_EAUTH);
    ck_assert_ptr_nonnull(strstr(esmtp_session_detail(s), "535"));
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_PERMFAIL);
    ck_assert_int_eq(esmtp_message_code(m), 535);
    /* never goes on to send unauthenticated */
    ck_assert_ptr_null(strstr(w.transcript, "C: MAIL"));
    no_secret(w.transcript, itest_env("SASL_USER"), "wrong password");
    esmtp_session_free(s);
}
END_TEST

static int give_token(esmtp_session *s, char *buf, size_t size, void *ud)
{
    (void)s;
    snprintf(buf, size, "%s", (const char *)ud);
    return 0;
}

static void oauth(const char *mech, const char *token, int how, int want_rc)
{
    itest_trace w;
    char *to = itest_mailbox("oauth", "example.org");
    esmtp_session *s = tls_session("localhost", "AIOSMTPD_AUTH_PORT", ESMTP_TLS_STARTTLS, &w);
    esmtp_session_set_auth(s, itest_env("SASL_USER"), NULL);
    esmtp_session_set_auth_mechanisms(s, mech);
    esmtp_session_set_oauth_token_cb(s, give_token, (void *)token);
    esmtp_message *m = simple_message(s, to);
    ck_assert_msg(itest_drive(s, how) == want_rc, "%s: %s", mech, esmtp_session_detail(s));
    ck_assert_ptr_null(strstr(w.transcript, token));
    if (want_rc == 0) {
        ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
        expect_delivered_to_aiosmtpd(to);
    }
    free(to);
    esmtp_session_free(s);
}

START_TEST(oauth_mechanisms)
{
    oauth("XOAUTH2", itest_env("OAUTH_TOKEN"), _i, 0);
    oauth("OAUTHBEARER", itest_env("OAUTH_TOKEN"), _i, 0);
    oauth("XOAUTH2", "expired-token", _i, ESMTP_EAUTH);
    oauth("OAUTHBEARER", "expired-token", _i, ESMTP_EAUTH);
}
END_TEST

START_TEST(external_with_client_certificate)
{
    itest_trace w;
    char *to = itest_mailbox("external", "example.org");
    esmtp_session *s = tls_session("localhost", "AIOSMTPD_AUTH_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_client_cert(s, itest_env("TLS_CLIENT_CERT"),
                                                   itest_env("TLS_CLIENT_KEY")), 0);
    esmtp_session_set_auth_mechanisms(s, "EXTERNAL");
    esmtp_message *m = simple_message(s, to);
    ck_assert_msg(itest_drive(s, _i) == 0, "%s", esmtp_session_detail(s));
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: AUTH EXTERNAL"));
    free(to);
    esmtp_session_free(s);
}
END_TEST

/* With a password and TLS 1.3, the strongest choice is SCRAM with
 * tls-exporter channel binding. */
START_TEST(scram_plus_is_the_default_choice)
{
    itest_trace w;
    char *to = itest_mailbox("plus", "example.org");
    esmtp_session *s = tls_session("localhost", "AIOSMTPD_AUTH_PORT", ESMTP_TLS_STARTTLS, &w);
    esmtp_session_set_auth(s, itest_env("SASL_USER"), itest_env("SASL_PASSWORD"));
    esmtp_message *m = simple_message(s, to);
    ck_assert_msg(itest_drive(s, _i) == 0, "%s", esmtp_session_detail(s));
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    ck_assert_ptr_nonnull(strstr(w.transcript, "C: AUTH SCRAM-SHA-256-PLUS "));
    no_secret(w.transcript, itest_env("SASL_USER"), itest_env("SASL_PASSWORD"));
    expect_delivered_to_aiosmtpd(to);
    free(to);
    esmtp_session_free(s);
}
END_TEST

START_TEST(insecure_switch_accepts_anything)
{
    itest_trace w;
    esmtp_session *s = tls_session("localhost", "POSTFIX_TLS_WRONGHOST_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_tls_insecure_no_verify(s, 1), 0);
    esmtp_message *m = simple_message(s, "insecure@example.org");
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(m), ESMTP_STATUS_OK);
    esmtp_session_free(s);
}
END_TEST

START_TEST(minimum_tls_version)
{
    itest_trace w;
    char *to = itest_mailbox("tls13", "example.org");
    esmtp_session *s = tls_session("localhost", "AIOSMTPD_TLS_PORT", ESMTP_TLS_STARTTLS, &w);
    ck_assert_int_eq(esmtp_session_set_tls_min_version(s, ESMTP_TLS_1_3), 0);
    ck_assert_int_eq(esmtp_session_set_tls_min_version(s, (esmtp_tls_version)11), ESMTP_EINVAL);
    simple_message(s, to);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_str_eq(w.tls_version, "TLSv1.3");
    free(to);
    esmtp_session_free(s);
}
END_TEST

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("servers");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, starttls_by_name_and_by_ip, 0, 2);
    tcase_add_loop_test(tc, implicit_tls_and_resumption, 0, 2);
    tcase_add_loop_test(tc, default_mode_refuses_a_server_without_starttls, 0, 2);
    tcase_add_loop_test(tc, bad_certificates_are_refused, 0, 2);
    tcase_add_loop_test(tc, pins_and_ca_files_decide_trust, 0, 2);
    tcase_add_loop_test(tc, injection_after_starttls_is_refused, 0, 2);
    tcase_add_loop_test(tc, implicit_tls_against_plain_smtp_port, 0, 2);
    tcase_add_loop_test(tc, plain_smtp_against_port_465, 0, 2);
    tcase_add_loop_test(tc, postfix_auth_every_mechanism, 0, 2);
    tcase_add_loop_test(tc, postfix_implicit_tls_strongest_mechanism, 0, 2);
    tcase_add_loop_test(tc, bad_password_stops_with_server_reply, 0, 2);
    tcase_add_loop_test(tc, oauth_mechanisms, 0, 2);
    tcase_add_loop_test(tc, external_with_client_certificate, 0, 2);
    tcase_add_loop_test(tc, scram_plus_is_the_default_choice, 0, 2);
    tcase_add_loop_test(tc, insecure_switch_accepts_anything, 0, 2);
    tcase_add_loop_test(tc, minimum_tls_version, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    itest_need_servers();
    return run_suite(tls_suite());
}
