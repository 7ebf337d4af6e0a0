/* Messages built with the MIME layer, delivered through real servers:
 * aiosmtpd must record exactly the bytes the builder produces on its own,
 * and Postfix must accept and deliver them. Both APIs run (_i).
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"
#include "run_suite.h"

static unsigned char binary[3000];

/* The same message every time (deterministic mode): Chinese subject and
 * names, emoji, a line holding only a dot, HTML with an inline image, and
 * a binary attachment with a non-ASCII file name. */
static esmtp_mime *build(const char *to)
{
    esmtp_mime *m;
    esmtp_mime_part *p;
    static const char text[] = "你好，这是季度报告。\n.\nA line with only a dot above. 📊\n";
    static const char html[] = "<p>你好 <img src=\"cid:logo@example.org\"></p>\n";
    ck_assert_int_eq(esmtp_mime_new(&m), 0);
    ck_assert_int_eq(esmtp_mime_set_deterministic(m, 42), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "张三", "sender@example.org"), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_TO, "李四", to), 0);
    ck_assert_int_eq(esmtp_mime_set_subject(m, "【重要】季度报告 Quarterly report 📊"), 0);
    ck_assert_int_eq(esmtp_mime_set_text(m, text, sizeof text - 1), 0);
    ck_assert_int_eq(esmtp_mime_set_html(m, html, sizeof html - 1), 0);
    ck_assert_int_eq(esmtp_mime_add_inline(m, "logo@example.org", &p), 0);
    ck_assert_int_eq(esmtp_mime_part_set_data(p, binary, 200), 0);
    ck_assert_int_eq(esmtp_mime_part_set_type(p, "image/png"), 0);
    ck_assert_int_eq(esmtp_mime_add_attachment(m, &p), 0);
    ck_assert_int_eq(esmtp_mime_part_set_data(p, binary, sizeof binary), 0);
    ck_assert_int_eq(esmtp_mime_part_set_filename(p, "数据 2026.bin"), 0);
    return m;
}

/* What the builder alone produces for the same input. */
static char *reference(const char *to, int allow_8bit, size_t *len)
{
    esmtp_mime *m = build(to);
    uint64_t size;
    ck_assert_int_eq(esmtp_mime_prepare(m, allow_8bit, &size, NULL), 0);
    char *out = malloc((size_t)size + 1);
    size_t n = 0;
    long got;
    while ((got = esmtp_mime_read(m, out + n, (size_t)size + 1 - n)) > 0)
        n += (size_t)got;
    ck_assert_int_eq(got, 0);
    ck_assert_uint_eq(n, size);
    esmtp_mime_free(m);
    *len = n;
    return out;
}

static void fill_binary(void)
{
    unsigned x = 12345;
    for (size_t i = 0; i < sizeof binary; i++)
        binary[i] = (unsigned char)((x = x * 1103515245u + 12345u) >> 16);
}

START_TEST(aiosmtpd_records_the_builders_bytes)
{
    fill_binary();
    char *to = itest_mailbox("mime", "example.org");
    esmtp_session *s = itest_session(itest_port("AIOSMTPD_PORT"));
    esmtp_message *msg;
    ck_assert_int_eq(esmtp_session_add_message(s, &msg), 0);
    ck_assert_int_eq(esmtp_mime_attach(msg, build(to)), 0);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(msg), ESMTP_STATUS_OK);

    size_t want_len, len;
    char *want = reference(to, 1, &want_len), *eml;
    char *env = itest_aiosmtpd_record(to, &eml, &len);
    ck_assert_ptr_nonnull(env);
    ck_assert_uint_eq(len, want_len);
    ck_assert(memcmp(eml, want, len) == 0);
    char mail_line[128];
    snprintf(mail_line, sizeof mail_line, "MAIL <sender@example.org> SIZE=%zu", want_len);
    ck_assert_ptr_nonnull(strstr(env, mail_line));
    free(want);
    free(eml);
    free(env);
    free(to);
    esmtp_session_free(s);
}
END_TEST

START_TEST(postfix_delivers_built_message)
{
    fill_binary();
    char *to = itest_mailbox("mime", "example.org");
    esmtp_session *s = itest_session(itest_port("POSTFIX_PORT"));
    esmtp_message *msg;
    ck_assert_int_eq(esmtp_session_add_message(s, &msg), 0);
    ck_assert_int_eq(esmtp_mime_attach(msg, build(to)), 0);
    ck_assert_int_eq(itest_drive(s, _i), 0);
    ck_assert_int_eq(esmtp_message_status(msg), ESMTP_STATUS_OK);

    /* Postfix stores LF line ends and adds its own trace headers in front. */
    size_t want_len, len;
    char *want = reference(to, 1, &want_len);
    char *lf = malloc(want_len + 1);
    size_t n = 0;
    for (size_t i = 0; i < want_len; i++)
        if (!(want[i] == '\r' && i + 1 < want_len && want[i + 1] == '\n'))
            lf[n++] = want[i];
    lf[n] = '\0';
    char *mail = itest_postfix_delivered(to, &len);
    ck_assert_ptr_nonnull(mail);
    ck_assert_msg(len >= n && memcmp(mail + len - n, lf, n) == 0,
                  "the delivered message does not end with the built one");
    free(lf);
    free(want);
    free(mail);
    free(to);
    esmtp_session_free(s);
}
END_TEST

static Suite *mime_send_suite(void)
{
    Suite *s = suite_create("mime-send");
    TCase *tc = tcase_create("servers");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, aiosmtpd_records_the_builders_bytes, 0, 2);
    tcase_add_loop_test(tc, postfix_delivers_built_message, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    itest_need_servers();
    return run_suite(mime_send_suite());
}
