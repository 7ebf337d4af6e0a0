/* Unit tests of the address helpers: IDNA, SMTPUTF8 envelope forms, xtext
 * and ORCPT. SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "address.h"
#include "buf.h"
#include "run_suite.h"

/* Converts domain and checks the result: want is the expected output, or
 * NULL when ESMTP_EINVAL (with a reason, and out left alone) is expected. */
static void domain_is(const char *domain, const char *want)
{
    ebuf out = {0};
    const char *why = NULL;
    ebuf_append_str(&out, "x"); /* the result is appended */
    int rc = addr_domain_to_ascii(domain, &out, &why);
    if (want) {
        ck_assert_msg(rc == 0, "%s: rc %d (%s)", domain, rc, why ? why : "");
        ck_assert_str_eq(ebuf_str(&out) + 1, want);
    } else {
        ck_assert_msg(rc == ESMTP_EINVAL, "%s: rc %d, out %s", domain, rc, ebuf_str(&out));
        ck_assert_ptr_nonnull(why);
        ck_assert_int_gt(strlen(why), 0);
        ck_assert_str_eq(ebuf_str(&out), "x");
    }
    ebuf_free(&out);
}

/* The same for addr_for_envelope. */
static void envelope_is(const char *mailbox, int smtputf8, const char *want)
{
    ebuf out = {0};
    const char *why = NULL;
    int rc = addr_for_envelope(mailbox, smtputf8, &out, &why);
    if (want) {
        ck_assert_msg(rc == 0, "%s: rc %d (%s)", mailbox, rc, why ? why : "");
        ck_assert_str_eq(ebuf_str(&out), want);
    } else {
        ck_assert_msg(rc == ESMTP_EINVAL, "%s: rc %d, out %s", mailbox, rc, ebuf_str(&out));
        ck_assert_ptr_nonnull(why);
        ck_assert_uint_eq(out.len, 0);
    }
    ebuf_free(&out);
}

static void xtext_is(const char *s, const char *want)
{
    ebuf out = {0};
    ck_assert_int_eq(addr_xtext(s, &out), 0);
    ck_assert_str_eq(ebuf_str(&out), want);
    ebuf_free(&out);
}

static void orcpt_is(const char *address, const char *want)
{
    ebuf out = {0};
    int rc = addr_orcpt(address, &out);
    if (want) {
        ck_assert_msg(rc == 0, "%s: rc %d", address, rc);
        ck_assert_str_eq(ebuf_str(&out), want);
    } else {
        ck_assert_msg(rc == ESMTP_EINVAL, "%s: rc %d", address, rc);
        ck_assert_uint_eq(out.len, 0);
    }
    ebuf_free(&out);
}

/* n copies of c, dot-joined into labels of at most label octets. */
static char *make_domain(size_t n, size_t label)
{
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (i % (label + 1) == label) ? '.' : 'a';
    s[n] = '\0';
    return s;
}

/* ---------------------------------------------------------------- IDN */

START_TEST(idn_u_labels)
{
    domain_is("b\xC3\xBC" "cher.example", "xn--bcher-kva.example");
    /* 例え.テスト */
    domain_is("\xE4\xBE\x8B\xE3\x81\x88.\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88",
              "xn--r8jz45g.xn--zckzah");
    /* the ideographic full stop separates labels too (UTS #46 mapping) */
    domain_is("\xE4\xBE\x8B\xE3\x81\x88\xE3\x80\x82\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88",
              "xn--r8jz45g.xn--zckzah");
}
END_TEST

START_TEST(idn_mixed_case_lowered)
{
    domain_is("B\xC3\xBC" "cher.Example", "xn--bcher-kva.example");
    /* Ü upper case maps to ü */
    domain_is("B\xC3\x9C" "CHER.EXAMPLE", "xn--bcher-kva.example");
}
END_TEST

START_TEST(idn_nontransitional)
{
    /* faß.de: transitional processing would give fass.de */
    domain_is("fa\xC3\x9F.de", "xn--fa-hia.de");
}
END_TEST

START_TEST(idn_nfc)
{
    /* u + COMBINING DIAERESIS is normalised to ü */
    domain_is("bu\xCC\x88" "cher.example", "xn--bcher-kva.example");
}
END_TEST

START_TEST(ascii_passthrough)
{
    domain_is("example.org", "example.org");
    domain_is("Mail-1.Example.ORG", "Mail-1.Example.ORG");
    domain_is("localhost", "localhost");
    domain_is("xn--bcher-kva.example", "xn--bcher-kva.example");
    domain_is("xn--fa-hia.de", "xn--fa-hia.de");
    domain_is("[192.0.2.1]", "[192.0.2.1]");
    domain_is("[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]");
}
END_TEST

START_TEST(length_limits)
{
    char label63[64], label64[65];
    memset(label63, 'a', 63), label63[63] = '\0';
    memset(label64, 'a', 64), label64[64] = '\0';
    char d[128];
    strcpy(d, label63), strcat(d, ".example");
    domain_is(d, d);
    strcpy(d, label64), strcat(d, ".example");
    domain_is(d, NULL);
    char *ok = make_domain(253, 63), *big = make_domain(254, 63);
    domain_is(ok, ok);
    domain_is(big, NULL);
    free(ok);
    free(big);
    /* a U-label whose A-label is too long */
    char u[64 * 2 + 8] = "";
    for (int i = 0; i < 60; i++)
        strcat(u, "\xC3\xBC");
    strcat(u, ".de");
    domain_is(u, NULL);
    /* U-labels whose A-label form is over 253 octets in all */
    char ul[512] = "";
    for (int i = 0; i < 5; i++)
        strcat(ul, "b\xC3\xBC" "cher-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
    strcat(ul, "de");
    domain_is(ul, NULL);
    /* an A-label form of 254 octets: libidn2 allows 255, the DNS 253 */
    char *tail = make_domain(240, 63);
    char mixed[300] = "b\xC3\xBC" "cher.";
    strcat(mixed, tail);
    free(tail);
    ebuf out = {0};
    const char *why = NULL;
    ck_assert_int_eq(addr_domain_to_ascii(mixed, &out, &why), ESMTP_EINVAL);
    ck_assert_str_eq(why, "domain too long");
    mixed[strlen(mixed) - 1] = '\0'; /* 253 */
    ck_assert_int_eq(addr_domain_to_ascii(mixed, &out, &why), 0);
    ck_assert_uint_eq(out.len, 253);
    ebuf_free(&out);
}
END_TEST

START_TEST(invalid_domains)
{
    domain_is("", NULL);
    domain_is("a..b", NULL);
    domain_is(".example", NULL);
    domain_is("example.", NULL);
    domain_is("b\xC3\xBC" "cher..example", NULL);
    domain_is("-abc.example", NULL);
    domain_is("abc-.example", NULL);
    domain_is("-b\xC3\xBC" "cher.example", NULL);
    domain_is("under_score.example", NULL);
    domain_is("exa mple.org", NULL);
    domain_is("xn--invalid-punycode", NULL);
    domain_is("xn--invalid-punycode.example", NULL);
    domain_is("xn--zz.example", NULL);
    /* invalid UTF-8: a stray continuation byte, a truncated sequence, an
     * overlong form, a surrogate, Latin-1 */
    domain_is("b\xBC" "cher.example", NULL);
    domain_is("b\xC3", NULL);
    domain_is("\xC0\xAE" "example", NULL);
    domain_is("\xED\xA0\x80.example", NULL);
    domain_is("b\xFC" "cher.example", NULL);
    /* U+2474 PARENTHESIZED DIGIT ONE maps to "(1)", no host name */
    domain_is("\xE2\x91\xB4.example", NULL);
    /* unassigned / disallowed code points */
    domain_is("\xF0\x9F\x98\x80.example", NULL);
    /* bad literals */
    domain_is("[192.0.2.1", NULL);
    domain_is("[]", NULL);
    domain_is("[a b]", NULL);
}
END_TEST

START_TEST(reasons)
{
    ebuf out = {0};
    const char *why = NULL;
    ck_assert_int_eq(addr_domain_to_ascii("-b\xC3\xBC" "cher.de", &out, &why), ESMTP_EINVAL);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strncmp(why, "invalid international domain name: ", 35) == 0, "%s", why);
    ck_assert_int_gt(strlen(why), 35);
    why = NULL;
    ck_assert_int_eq(addr_domain_to_ascii("xn--zz.de", &out, &why), ESMTP_EINVAL);
    ck_assert_msg(strncmp(why, "invalid international domain name: ", 35) == 0, "%s", why);
    char *big = make_domain(300, 50);
    ck_assert_int_eq(addr_domain_to_ascii(big, &out, &why), ESMTP_EINVAL);
    ck_assert_str_eq(why, "domain too long");
    free(big);
    /* NULL arguments, and a NULL why */
    ck_assert_int_eq(addr_domain_to_ascii(NULL, &out, &why), ESMTP_EINVAL);
    ck_assert_int_eq(addr_domain_to_ascii("a..b", &out, NULL), ESMTP_EINVAL);
    ck_assert_int_eq(addr_for_envelope(NULL, 0, &out, NULL), ESMTP_EINVAL);
    ck_assert_uint_eq(out.len, 0);
    ebuf_free(&out);
}
END_TEST

/* ----------------------------------------------------------- envelope */

/* 用户@例え.テスト */
#define CJK_LOCAL "\xE7\x94\xA8\xE6\x88\xB7"
#define CJK_DOMAIN "\xE4\xBE\x8B\xE3\x81\x88.\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88"
#define CJK_MAILBOX CJK_LOCAL "@" CJK_DOMAIN

START_TEST(envelope_forms)
{
    envelope_is(CJK_MAILBOX, 0, NULL);
    envelope_is(CJK_MAILBOX, 1, CJK_MAILBOX);
    envelope_is("user@" CJK_DOMAIN, 0, "user@xn--r8jz45g.xn--zckzah");
    envelope_is("user@b\xC3\xBC" "cher.example", 0, "user@xn--bcher-kva.example");
    envelope_is("user@b\xC3\xBC" "cher.example", 1, "user@b\xC3\xBC" "cher.example");
    envelope_is("User.Name@Example.ORG", 0, "User.Name@Example.ORG");
    envelope_is("", 0, "");
    envelope_is("", 1, "");
    envelope_is("user@[192.0.2.1]", 0, "user@[192.0.2.1]");
    envelope_is("user@[192.0.2.1]", 1, "user@[192.0.2.1]");
    envelope_is("postmaster", 0, "postmaster");
    /* a quoted local part may hold '@' */
    envelope_is("\"a@b\"@b\xC3\xBC" "cher.example", 0, "\"a@b\"@xn--bcher-kva.example");
}
END_TEST

START_TEST(envelope_reason)
{
    ebuf out = {0};
    const char *why = NULL;
    ck_assert_int_eq(addr_for_envelope(CJK_MAILBOX, 0, &out, &why), ESMTP_EINVAL);
    ck_assert_str_eq(why, "the local part is not ASCII and the server does not offer SMTPUTF8");
    ebuf_free(&out);
}
END_TEST

START_TEST(envelope_invalid)
{
    /* an invalid domain is refused with and without SMTPUTF8 */
    for (int u = 0; u <= 1; u++) {
        envelope_is("user@a..b", u, NULL);
        envelope_is("user@-x.example", u, NULL);
        envelope_is("user@xn--zz.example", u, NULL);
        envelope_is("user@", u, NULL);
        envelope_is("@example.org", u, NULL);
        envelope_is("us\xFF" "er@example.org", u, NULL);
        envelope_is("user@b\xC3" ".example", u, NULL);
        envelope_is("user@example.org\r\nRSET", u, NULL);
        envelope_is("\"user@example.org", u, NULL);
        envelope_is(CJK_LOCAL "@\xE2\x91\xB4.example", u, NULL);
    }
    /* the output keeps what was there before a failure */
    ebuf out = {0};
    ebuf_append_str(&out, "MAIL FROM:<");
    ck_assert_int_eq(addr_for_envelope("user@a..b", 0, &out, NULL), ESMTP_EINVAL);
    ck_assert_str_eq(ebuf_str(&out), "MAIL FROM:<");
    ck_assert_int_eq(addr_for_envelope("user@b\xC3\xBC" "cher.example", 0, &out, NULL), 0);
    ck_assert_str_eq(ebuf_str(&out), "MAIL FROM:<user@xn--bcher-kva.example");
    ebuf_free(&out);
}
END_TEST

START_TEST(local_is_utf8)
{
    ck_assert_int_eq(addr_local_is_utf8(CJK_MAILBOX), 1);
    ck_assert_int_eq(addr_local_is_utf8("user@" CJK_DOMAIN), 0);
    ck_assert_int_eq(addr_local_is_utf8("user@example.org"), 0);
    ck_assert_int_eq(addr_local_is_utf8("j\xC3\xB6rg@example.org"), 1);
    ck_assert_int_eq(addr_local_is_utf8("\"a@b\"@b\xC3\xBC" "cher.example"), 0);
    ck_assert_int_eq(addr_local_is_utf8("\"\xC3\xB6@b\"@example.org"), 1);
    ck_assert_int_eq(addr_local_is_utf8(""), 0);
    ck_assert_int_eq(addr_local_is_utf8(NULL), 0);
}
END_TEST

/* -------------------------------------------------------------- xtext */

START_TEST(xtext)
{
    xtext_is("a+b=c d\x7f", "a+2Bb+3Dc+20d+7F");
    xtext_is("user@example.org", "user@example.org");
    xtext_is("!~", "!~");
    xtext_is("\t\x01", "+09+01");
    xtext_is("\xC3\xBC", "+C3+BC");
    xtext_is("", "");
    ebuf out = {0};
    ck_assert_int_eq(addr_xtext(NULL, &out), ESMTP_EINVAL);
    ebuf_free(&out);
}
END_TEST

START_TEST(orcpt_ascii)
{
    orcpt_is("user@example.org", "rfc822;user@example.org");
    orcpt_is("a+b@example.org", "rfc822;a+2Bb@example.org");
    orcpt_is("\"a b=c\"@example.org", "rfc822;\"a+20b+3Dc\"@example.org");
    orcpt_is("a\\b@example.org", "rfc822;a\\b@example.org");
    orcpt_is("", NULL);
    orcpt_is(NULL, NULL);
}
END_TEST

START_TEST(orcpt_utf8)
{
    orcpt_is(CJK_MAILBOX,
             "utf-8;\\x{7528}\\x{6237}@\\x{4F8B}\\x{3048}.\\x{30C6}\\x{30B9}\\x{30C8}");
    /* '+', '=', '\' and SP become EmbeddedUnicodeChar, never xtext "+XX" */
    orcpt_is(CJK_LOCAL "+tag=x@example.org",
             "utf-8;\\x{7528}\\x{6237}\\x{2B}tag\\x{3D}x@example.org");
    orcpt_is("\"\xC3\xA9 a\\\\b\"@example.org", "utf-8;\"\\x{E9}\\x{20}a\\x{5C}\\x{5C}b\"@example.org");
    /* code points take the shortest form: 2, 3, 4, 5 digits */
    orcpt_is("\xC3\xA9\xC4\x80\xE2\x82\xAC\xF0\x9F\x98\x80@example.org",
             "utf-8;\\x{E9}\\x{100}\\x{20AC}\\x{1F600}@example.org");
    /* DEL and the controls HEXPOINT lists; the ones it cannot express */
    orcpt_is("\xC3\xA9\x7F\x01\x19@x", "utf-8;\\x{E9}\\x{7F}\\x{01}\\x{19}@x");
    orcpt_is("\xC3\xA9\x0A@x", NULL);
    orcpt_is("\xC3\xA9\x1F@x", NULL);
    /* a domain with U-labels makes the whole address utf-8 */
    orcpt_is("user@b\xC3\xBC" "cher.example", "utf-8;user@b\\x{FC}cher.example");
    /* invalid UTF-8 */
    orcpt_is("\xE7\x94@example.org", NULL);
    orcpt_is("\xED\xA0\x80@example.org", NULL);
}
END_TEST

START_TEST(orcpt_appends)
{
    ebuf out = {0};
    ebuf_append_str(&out, "ORCPT=");
    ck_assert_int_eq(addr_orcpt("\xC3\xA9\x0A@x", &out), ESMTP_EINVAL);
    ck_assert_str_eq(ebuf_str(&out), "ORCPT=");
    ck_assert_int_eq(addr_orcpt("a@b", &out), 0);
    ck_assert_str_eq(ebuf_str(&out), "ORCPT=rfc822;a@b");
    ebuf_free(&out);
}
END_TEST

static Suite *address_suite(void)
{
    Suite *s = suite_create("address");
    TCase *tc = tcase_create("idn");
    tcase_add_test(tc, idn_u_labels);
    tcase_add_test(tc, idn_mixed_case_lowered);
    tcase_add_test(tc, idn_nontransitional);
    tcase_add_test(tc, idn_nfc);
    tcase_add_test(tc, ascii_passthrough);
    tcase_add_test(tc, length_limits);
    tcase_add_test(tc, invalid_domains);
    tcase_add_test(tc, reasons);
    suite_add_tcase(s, tc);

    tc = tcase_create("envelope");
    tcase_add_test(tc, envelope_forms);
    tcase_add_test(tc, envelope_reason);
    tcase_add_test(tc, envelope_invalid);
    tcase_add_test(tc, local_is_utf8);
    suite_add_tcase(s, tc);

    tc = tcase_create("dsn");
    tcase_add_test(tc, xtext);
    tcase_add_test(tc, orcpt_ascii);
    tcase_add_test(tc, orcpt_utf8);
    tcase_add_test(tc, orcpt_appends);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(address_suite());
}
