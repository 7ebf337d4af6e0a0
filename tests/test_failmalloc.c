/* Allocation failure (issue 9): a representative session runs once for
 * every N = 1, 2, 3, ... with the library's Nth allocation failing, until a
 * run makes fewer than N allocations (so that nothing failed). Whatever
 * fails, the run must neither crash nor leak (ASan, valgrind), must end
 * with 0 or an ESMTP_E* code, must leave no message or recipient pending,
 * must call nothing OK that the server did not take, and must say
 * ESMTP_ENOMEM; the last, clean run delivers everything. Two sessions
 * share the work (no server offers all of it), and the MIME builder has
 * its own run, without a server.
 *
 * Only lib/'s own allocations (lib/alloc.c) are counted and failed: those
 * that OpenSSL, libidn2 and the C library (getaddrinfo) make for it are
 * not. In the sessions the set-up is not counted either: what fails is
 * inside esmtp_session_send(), which prepares the MIME message too.
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "itest.h"
#include "run_suite.h"

#define FROM "sender@example.org"

static const char plain_body[] = "Subject: plain\r\n\r\nThe plain one.\r\n.\r\nEnd.\r\n";
static unsigned char blob[3000];

/* Under valgrind (ESMTP_TEST_QUICK=1) a TLS session costs about 0.2 s and
 * every N took 25 s: it tests every 3rd N and the final clean run, about
 * 10 s. ASan runs every N. */
static uint64_t stride(void)
{
    const char *q = getenv("ESMTP_TEST_QUICK");
    return q && q[0] == '1' ? 3 : 1;
}

/* A call that fails for lack of memory must change nothing, so that made
 * again it gives what one successful call gives. A run fails only one
 * allocation, so the second attempt succeeds. */
#define AGAIN(call)                                                                      \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ == ESMTP_ENOMEM)                                                         \
            rc_ = (call);                                                                \
        ck_assert_msg(rc_ == 0, "%s: %s", #call, esmtp_strerror(rc_));                   \
    } while (0)

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------ one run */

typedef struct run {
    uint64_t n;        /* the allocation that fails */
    uint64_t made;     /* the allocations the run made */
    uint64_t settled;  /* those made by the time every message was decided */
    size_t decided;
    int deferred;      /* RCPTs answered with 452 */
    int rc;
} run;

static int watch(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                 uint64_t bytes, void *ud)
{
    (void)m, (void)bytes;
    run *t = ud;
    if (ev == ESMTP_EVENT_MESSAGE_DONE && ++t->decided == esmtp_session_message_count(s))
        t->settled = mem_allocations();
    if (ev == ESMTP_EVENT_RECIPIENT)
        t->deferred += esmtp_recipient_code(r) == 452;
    return 0;
}

/* Sends s with the library's nth allocation from now on failing. */
static void send_failing(esmtp_session *s, uint64_t n, run *t)
{
    *t = (run){.n = n, .settled = UINT64_MAX};
    ck_assert_int_eq(esmtp_session_set_progress_cb(s, watch, t), 0);
    mem_fail_at(n);
    t->rc = esmtp_session_send(s);
    t->made = mem_allocations();
    mem_fail_at(0);
}

/* Whether the failure could still change an outcome: it came before every
 * message was decided. After that only QUIT and keeping the TLS session
 * for resumption are left, which may fail quietly. */
static int failed_in_time(const run *t)
{
    return t->made >= t->n && t->n <= t->settled;
}

/* No server here refuses anything, so only the lack of memory can keep a
 * message or a recipient from being delivered: it is then TEMPFAIL (with
 * the library's reason, or the 452 of a recipient whose follow-up never
 * came) or UNKNOWN (the data went out, the reply did not come in). Never
 * PERMFAIL: memory may come back. */
static void check_outcome(const run *t, const char *what, esmtp_status st, int code,
                          const char *text)
{
    ck_assert_msg(st != ESMTP_STATUS_PENDING, "N=%" PRIu64 ": %s left pending", t->n, what);
    if (!failed_in_time(t)) {
        ck_assert_msg(st == ESMTP_STATUS_OK,
                      "N=%" PRIu64 " (nothing at stake failed): %s is %s: %d %s", t->n, what,
                      esmtp_status_name(st), code, text);
        return;
    }
    ck_assert_msg(st == ESMTP_STATUS_OK || st == ESMTP_STATUS_TEMPFAIL ||
                      st == ESMTP_STATUS_UNKNOWN,
                  "N=%" PRIu64 ": %s is %s: %d %s", t->n, what, esmtp_status_name(st), code, text);
    if (st == ESMTP_STATUS_TEMPFAIL)
        ck_assert_msg(code == 452 || (code == 0 && strstr(text, "out of memory")),
                      "N=%" PRIu64 ": %s is tempfail with %d \"%s\"", t->n, what, code, text);
}

/* What every run must show, whichever allocation failed. */
static void check_run(esmtp_session *s, const run *t)
{
    const char *detail = esmtp_session_detail(s);
    ck_assert_msg(t->rc <= 0 && t->rc >= ESMTP_ENOMECH, "N=%" PRIu64 ": result %d", t->n, t->rc);
    if (failed_in_time(t))
        ck_assert_msg(t->rc == ESMTP_ENOMEM, "N=%" PRIu64 ": %s instead of ESMTP_ENOMEM (%s)",
                      t->n, esmtp_strerror(t->rc), detail);
    else
        ck_assert_msg(t->rc == 0 || (t->made >= t->n && t->rc == ESMTP_ENOMEM),
                      "N=%" PRIu64 ": %s (%s)", t->n, esmtp_strerror(t->rc), detail);
    /* The detail says so too, and blames no one else for it. */
    if (t->rc == ESMTP_ENOMEM)
        ck_assert_msg(strstr(detail, "out of memory") && !strstr(detail, "malformed"),
                      "N=%" PRIu64 ": detail \"%s\"", t->n, detail);
    for (size_t i = 0; i < esmtp_session_message_count(s); i++) {
        esmtp_message *m = esmtp_session_message(s, i);
        char what[32];
        snprintf(what, sizeof what, "message %zu", i);
        check_outcome(t, what, esmtp_message_status(m), esmtp_message_code(m),
                      esmtp_message_text(m));
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            esmtp_recipient *r = esmtp_message_recipient(m, j);
            check_outcome(t, esmtp_recipient_mailbox(r), esmtp_recipient_status(r),
                          esmtp_recipient_code(r), esmtp_recipient_text(r));
        }
    }
}

static int is_ok(esmtp_recipient *r)
{
    return esmtp_recipient_status(r) == ESMTP_STATUS_OK;
}

static void report(const char *name, uint64_t runs, uint64_t allocations,
                   const struct timespec *t0)
{
    printf("%s: %" PRIu64 " allocations in the clean run, %" PRIu64 " runs (N stride %" PRIu64
           "), %.1f s\n",
           name, allocations, runs, stride(), seconds_since(t0));
    fflush(stdout);
}

/* ---------------------------------------------- aiosmtpd: TLS, AUTH, MIME */

/* Text and HTML, an inline image and two attachments (binary with a
 * non-ASCII name, and text), To, Cc from an address list, and Bcc (which
 * may have a Unicode domain), the same bytes every time. */
static esmtp_mime *mime_message(const char *to, const char *cc, const char *bcc)
{
    static const char text[] = "Grüße, the figures are attached.\n.\nA line with only a dot.\n";
    static const char html[] = "<p>Grüße <img src=\"cid:chart@example.org\"></p>\n";
    static const char csv[] = "quarter,total\nQ1,12\nQ2,15\n";
    char cc_list[300];
    snprintf(cc_list, sizeof cc_list, "\"Wang, Wu\" <%s>", cc);
    esmtp_mime *mime;
    esmtp_mime_part *p;
    AGAIN(esmtp_mime_new(&mime));
    AGAIN(esmtp_mime_set_deterministic(mime, 9));
    AGAIN(esmtp_mime_add_mailbox(mime, ESMTP_MIME_FROM, "张三", FROM));
    AGAIN(esmtp_mime_add_mailbox(mime, ESMTP_MIME_TO, "Li Si", to));
    AGAIN(esmtp_mime_add_addresses(mime, ESMTP_MIME_CC, cc_list));
    AGAIN(esmtp_mime_add_mailbox(mime, ESMTP_MIME_BCC, NULL, bcc));
    AGAIN(esmtp_mime_set_subject(mime, "Quarterly report 季度报告"));
    AGAIN(esmtp_mime_set_text(mime, text, sizeof text - 1));
    AGAIN(esmtp_mime_set_html(mime, html, sizeof html - 1));
    AGAIN(esmtp_mime_add_inline(mime, "chart@example.org", &p));
    AGAIN(esmtp_mime_part_set_data(p, blob, 300));
    AGAIN(esmtp_mime_part_set_type(p, "image/png"));
    AGAIN(esmtp_mime_add_attachment(mime, &p));
    AGAIN(esmtp_mime_part_set_data(p, blob, sizeof blob));
    AGAIN(esmtp_mime_part_set_filename(p, "数据.bin"));
    AGAIN(esmtp_mime_add_attachment(mime, &p));
    AGAIN(esmtp_mime_part_set_data(p, csv, sizeof csv - 1));
    AGAIN(esmtp_mime_part_set_filename(p, "figures.csv"));
    return mime;
}

/* The whole output of a prepared builder. */
static char *mime_output(esmtp_mime *mime, uint64_t size, size_t *len)
{
    char *out = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(out);
    size_t n = 0;
    long got;
    while ((got = esmtp_mime_read(mime, out + n, (size_t)size + 1 - n)) > 0)
        n += (size_t)got;
    ck_assert_int_eq(got, 0);
    ck_assert_uint_eq(n, size);
    *len = n;
    return out;
}

/* The bytes the builder alone makes of mime_message(), 8BITMIME allowed
 * (the listener offers it). */
static char *mime_bytes(const char *to, const char *cc, const char *bcc, size_t *len)
{
    esmtp_mime *mime = mime_message(to, cc, bcc);
    uint64_t size;
    ck_assert_int_eq(esmtp_mime_prepare(mime, 1, &size, NULL), 0);
    char *out = mime_output(mime, size, len);
    esmtp_mime_free(mime);
    return out;
}

static void fill_blob(void)
{
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (unsigned char)(i * 7 + i / 256);
}

/* aiosmtpd recorded exactly want for rcpt. */
static void expect_recorded(const run *t, const char *rcpt, const char *want, size_t want_len)
{
    char *eml = NULL;
    size_t len = 0;
    char *env = itest_aiosmtpd_record(rcpt, &eml, &len);
    ck_assert_msg(env != NULL, "N=%" PRIu64 ": %s is OK but aiosmtpd has nothing for it", t->n,
                  rcpt);
    ck_assert_msg(len == want_len && memcmp(eml, want, len) == 0,
                  "N=%" PRIu64 ": aiosmtpd recorded other bytes for %s", t->n, rcpt);
    free(env);
    free(eml);
}

/* STARTTLS (CA and pin), then AUTH (SCRAM-SHA-256-PLUS, the default choice
 * with TLS 1.3), then two pipelined transactions: the MIME message (to
 * three recipients, one with a Unicode domain sent as A-labels) and a
 * plain one. */
START_TEST(aiosmtpd_starttls_auth_mime)
{
    fill_blob();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t runs = 0;
    for (uint64_t n = 1;; n += stride(), runs++) {
        char *to = itest_mailbox("fm-to", "example.org");
        char *cc = itest_mailbox("fm-cc", "example.org");
        char *bcc_wire = itest_mailbox("fm-bcc", "xn--bcher-kva.example");
        char bcc[300];
        snprintf(bcc, sizeof bcc, "%.*s@bücher.example", (int)strcspn(bcc_wire, "@"), bcc_wire);
        char *plain_to = itest_mailbox("fm-plain", "example.org");
        const char *plain_rcpts[] = {plain_to, NULL};
        const char *mime_wire[] = {to, cc, bcc_wire};
        esmtp_session *s = itest_session(itest_port("AIOSMTPD_AUTH_PORT"));
        ck_assert_int_eq(esmtp_session_set_tls(s, ESMTP_TLS_STARTTLS), 0);
        ck_assert_int_eq(esmtp_session_set_ca(s, itest_env("TLS_CA_FILE"), NULL), 0);
        ck_assert_int_eq(esmtp_session_set_tls_pin(s, itest_env("TLS_SERVER_PIN_SHA256")), 0);
        ck_assert_int_eq(esmtp_session_set_auth(s, itest_env("SASL_USER"),
                                                itest_env("SASL_PASSWORD")), 0);
        esmtp_message *mime_msg;
        ck_assert_int_eq(esmtp_session_add_message(s, &mime_msg), 0);
        ck_assert_int_eq(esmtp_mime_attach(mime_msg, mime_message(to, cc, bcc)), 0);
        ck_assert_uint_eq(esmtp_message_recipient_count(mime_msg), 3);
        esmtp_message *plain_msg =
            itest_message(s, FROM, plain_rcpts, plain_body, sizeof plain_body - 1);

        run t;
        send_failing(s, n, &t);
        check_run(s, &t);
        char *want = NULL;
        size_t want_len = 0;
        for (size_t i = 0; i < 3; i++) {
            if (!is_ok(esmtp_message_recipient(mime_msg, i)))
                continue;
            if (!want)
                want = mime_bytes(to, cc, bcc, &want_len);
            expect_recorded(&t, mime_wire[i], want, want_len);
        }
        if (is_ok(esmtp_message_recipient(plain_msg, 0)))
            expect_recorded(&t, plain_to, plain_body, sizeof plain_body - 1);
        if (t.made < n) {
            /* the clean run went the whole way: TLS 1.3, SCRAM with channel
             * binding, pipelined */
            ck_assert_ptr_nonnull(esmtp_session_extension(s, "PIPELINING"));
            char *session = itest_aiosmtpd_session(to);
            ck_assert_ptr_nonnull(session);
            ck_assert_ptr_nonnull(strstr(session, "TLS TLSv1.3 "));
            ck_assert_ptr_nonnull(strstr(session, "AUTH SCRAM-SHA-256-PLUS "));
            free(session);
        }
        free(want);
        esmtp_session_free(s);
        free(to);
        free(cc);
        free(bcc_wire);
        free(plain_to);
        if (t.made < n) {
            report("aiosmtpd (STARTTLS, AUTH, MIME, pipelined)", runs + 1, t.made, &t0);
            break;
        }
    }
}
END_TEST

/* ------------------------------------------ Postfix: 452 and a follow-up */

/* Three recipients where Postfix takes two per transaction: the third gets
 * 452 and a follow-up transaction of its own, pipelined, as BDAT chunks. */
START_TEST(postfix_recipient_limit_followup)
{
    static const char body[] = "Subject: limit\r\n\r\nfor all three\r\n";
    enum { NRCPT = 3 };
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t runs = 0;
    for (uint64_t n = 1;; n += stride(), runs++) {
        char *to[NRCPT];
        const char *rcpts[NRCPT + 1] = {NULL};
        for (int i = 0; i < NRCPT; i++)
            rcpts[i] = to[i] = itest_mailbox("fm-limit", "example.org");
        esmtp_session *s = itest_session(itest_port("POSTFIX_RCPTLIMIT_PORT"));
        esmtp_message *m = itest_message(s, FROM, rcpts, body, sizeof body - 1);

        run t;
        send_failing(s, n, &t);
        check_run(s, &t);
        for (int i = 0; i < NRCPT; i++) {
            esmtp_recipient *r = esmtp_message_recipient(m, (size_t)i);
            if (is_ok(r)) {
                size_t len;
                char *mail = itest_postfix_delivered(to[i], &len);
                ck_assert_msg(mail != NULL && strstr(mail, "\n\nfor all three\n"),
                              "N=%" PRIu64 ": %s is OK but Postfix delivered nothing to it",
                              t.n, to[i]);
                free(mail);
            }
            /* Delivery takes Postfix a moment, so this can miss a late one;
             * but a recipient called TEMPFAIL got no end of data at all. */
            ck_assert_msg(esmtp_recipient_status(r) != ESMTP_STATUS_TEMPFAIL ||
                              itest_postfix_count(to[i]) == 0,
                          "N=%" PRIu64 ": %s is tempfail but was delivered", t.n, to[i]);
            free(to[i]);
        }
        if (t.made < n) {
            /* the clean run went the whole way: pipelined BDAT, one 452 */
            ck_assert_ptr_nonnull(esmtp_session_extension(s, "PIPELINING"));
            ck_assert_ptr_nonnull(esmtp_session_extension(s, "CHUNKING"));
            ck_assert_int_eq(t.deferred, 1);
        }
        esmtp_session_free(s);
        if (t.made < n) {
            report("Postfix (452, follow-up, BDAT, pipelined)", runs + 1, t.made, &t0);
            break;
        }
    }
}
END_TEST

/* --------------------------------------------- the builder on its own */

/* Building, attaching and preparing the MIME message with the Nth
 * allocation failing and each failed call made again: the result must be
 * what it is without failures, and a failed attach must leave the message
 * as it was (no half envelope from the header). No server is involved. */
START_TEST(mime_builder_failures_change_nothing)
{
    static const char to[] = "to@example.org", cc[] = "cc@example.org",
                      bcc[] = "kunde@bücher.example";
    fill_blob();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t want_len;
    char *want = mime_bytes(to, cc, bcc, &want_len);
    const char *rcpts[] = {to, cc, bcc};
    uint64_t runs = 0;
    for (uint64_t n = 1;; n += stride(), runs++) {
        esmtp_session *s = itest_session(0); /* never sent */
        esmtp_message *m;
        ck_assert_int_eq(esmtp_session_add_message(s, &m), 0);
        mem_fail_at(n);
        esmtp_mime *mime = mime_message(to, cc, bcc);
        int rc = esmtp_mime_attach(m, mime);
        if (rc == ESMTP_ENOMEM) {
            ck_assert_msg(esmtp_message_recipient_count(m) == 0,
                          "N=%" PRIu64 ": a failed attach left recipients", n);
            rc = esmtp_mime_attach(m, mime);
        }
        ck_assert_int_eq(rc, 0);
        uint64_t size;
        AGAIN(esmtp_mime_prepare(mime, 1, &size, NULL));
        uint64_t made = mem_allocations();
        mem_fail_at(0);
        size_t len;
        char *got = mime_output(mime, size, &len);
        ck_assert_msg(len == want_len && memcmp(got, want, len) == 0,
                      "N=%" PRIu64 ": the builder made other bytes", n);
        ck_assert_uint_eq(esmtp_message_recipient_count(m), 3);
        for (size_t i = 0; i < 3; i++)
            ck_assert_str_eq(esmtp_recipient_mailbox(esmtp_message_recipient(m, i)), rcpts[i]);
        free(got);
        esmtp_session_free(s);
        if (made < n) {
            report("MIME builder (build, attach, prepare)", runs + 1, made, &t0);
            break;
        }
    }
    free(want);
}
END_TEST

static Suite *failmalloc_suite(void)
{
    Suite *s = suite_create("failmalloc");
    TCase *tc = tcase_create("servers");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, aiosmtpd_starttls_auth_mime);
    tcase_add_test(tc, postfix_recipient_limit_followup);
    tcase_add_test(tc, mime_builder_failures_change_nothing);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    itest_need_servers();
    return run_suite(failmalloc_suite());
}
