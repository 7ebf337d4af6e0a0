/* Tests for the MIME builder: each encoder against RFC examples and its own
 * rules, address parsing, and the generator's exact size and streaming.
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <esmtp/esmtp.h>

#include "engine_drain.h"
#include "internal.h"
#include "mime_priv.h"
#include "run_suite.h"

/* ------------------------------------------------------------ helpers */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int b64_value(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

/* A plain base64 decoder (skips CRLF); returns the length or -1. */
static long b64_decode(const char *in, size_t n, unsigned char *out)
{
    long k = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\r' || in[i] == '\n' || in[i] == '=')
            continue;
        int d = b64_value(in[i]);
        if (d < 0)
            return -1;
        v = v << 6 | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (unsigned char)(v >> bits);
        }
    }
    return k;
}

/* A quoted-printable decoder (RFC 2045 6.7); returns the length or -1. */
static long qp_decode(const char *in, size_t n, unsigned char *out)
{
    long k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != '=') {
            out[k++] = (unsigned char)in[i];
        } else if (i + 2 < n + 0 && in[i + 1] == '\r' && in[i + 2] == '\n') {
            i += 2;
        } else if (i + 2 < n) {
            unsigned v;
            char h[3] = {in[i + 1], in[i + 2], 0};
            if (sscanf(h, "%2X", &v) != 1)
                return -1;
            out[k++] = (unsigned char)v;
            i += 2;
        } else {
            return -1;
        }
    }
    return k;
}

/* Every CRLF-separated line of s is at most max characters. */
static size_t longest_line(const char *s, size_t n)
{
    size_t best = 0, cur = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
            if (cur > best)
                best = cur;
            cur = 0;
            i++;
        } else {
            cur++;
        }
    }
    return cur > best ? cur : best;
}

static char *b64_all(const void *in, size_t n, size_t *outlen)
{
    char *out = malloc(b64_bound(n));
    b64_state st = {0};
    *outlen = b64_encode(&st, in, n, 1, out);
    return out;
}

static char *qp_all(const void *in, size_t n, int binary, size_t *outlen)
{
    char *out = malloc(qp_bound(n) + 1);
    qp_state st = {0};
    st.binary = binary;
    *outlen = qp_encode(&st, in, n, 1, out);
    out[*outlen] = '\0';
    return out;
}

/* ------------------------------------------------------------ base64 */

START_TEST(b64_rfc4648_vectors)
{
    /* RFC 4648 section 10 */
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const exp[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        size_t n;
        char *out = b64_all(in[i], strlen(in[i]), &n);
        ck_assert_uint_eq(n, strlen(exp[i]));
        ck_assert(memcmp(out, exp[i], n) == 0);
        ck_assert_uint_eq(b64_size(strlen(in[i])), n);
        free(out);
    }
}
END_TEST

START_TEST(b64_lines_and_streaming)
{
    uint64_t seed = 7;
    for (size_t len = 0; len < 700; len += 1 + len / 5) {
        unsigned char *data = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            data[i] = (unsigned char)rnd(&seed);
        size_t n;
        char *whole = b64_all(data, len, &n);
        ck_assert_uint_eq(b64_size(len), n);
        ck_assert_uint_le(longest_line(whole, n), 76);
        ck_assert(n < 2 || memcmp(whole + n - 2, "\r\n", 2) != 0); /* no CRLF at the end */
        /* in random pieces: the same bytes */
        char *pieces = malloc(b64_bound(len) + 64);
        b64_state st = {0};
        size_t k = 0;
        for (size_t i = 0; i < len;) {
            size_t step = 1 + rnd(&seed) % 80;
            if (step > len - i)
                step = len - i;
            k += b64_encode(&st, data + i, step, 0, pieces + k);
            i += step;
        }
        k += b64_encode(&st, NULL, 0, 1, pieces + k);
        ck_assert_uint_eq(k, n);
        ck_assert(memcmp(pieces, whole, n) == 0);
        unsigned char *back = malloc(len + 1);
        ck_assert_int_eq(b64_decode(whole, n, back), (long)len);
        ck_assert(len == 0 || memcmp(back, data, len) == 0);
        free(back);
        free(pieces);
        free(whole);
        free(data);
    }
}
END_TEST

/* ---------------------------------------------------- quoted-printable */

START_TEST(qp_rules)
{
    size_t n;
    char *o;
    /* rule 1 and 2: '=' and 8-bit bytes encoded, printable ASCII literal */
    o = qp_all("a=b caf\xc3\xa9", 9, 0, &n);
    ck_assert_str_eq(o, "a=3Db caf=C3=A9");
    free(o);
    /* rule 3: white space at the end of a line or of the text encoded */
    o = qp_all("end \nx\t\r\ny ", 11, 0, &n);
    ck_assert_str_eq(o, "end=20\r\nx=09\r\ny=20");
    free(o);
    /* line ends: LF, CR and CRLF all become CRLF */
    o = qp_all("a\nb\rc\r\nd", 8, 0, &n);
    ck_assert_str_eq(o, "a\r\nb\r\nc\r\nd");
    free(o);
    /* a line of only "." (and any line starting with one) is made safe */
    o = qp_all("x\n.\n..y", 7, 0, &n);
    ck_assert_str_eq(o, "x\r\n=2E\r\n=2E.y");
    free(o);
    /* binary mode: CR and LF are data */
    o = qp_all("a\r\nb", 4, 1, &n);
    ck_assert_str_eq(o, "a=0D=0Ab");
    free(o);
    /* rule 5: soft line breaks keep lines within 76 */
    char line[200];
    memset(line, 'x', sizeof line);
    o = qp_all(line, sizeof line, 0, &n);
    ck_assert_uint_le(longest_line(o, n), 76);
    ck_assert(strstr(o, "=\r\n") != NULL);
    free(o);
}
END_TEST

START_TEST(qp_roundtrip_random)
{
    uint64_t seed = 99;
    for (int round = 0; round < 200; round++) {
        size_t len = rnd(&seed) % 600;
        unsigned char *data = malloc(len + 1);
        for (size_t i = 0; i < len; i++) {
            /* mostly text with spaces, dots, '=' and line ends */
            static const char pool[] = "ab .=\t\n\r\xc3\xa9xyz";
            data[i] = rnd(&seed) % 4 ? (unsigned char)pool[rnd(&seed) % (sizeof pool - 1)]
                                     : (unsigned char)rnd(&seed);
        }
        int binary = round % 2;
        size_t n;
        char *whole = qp_all(data, len, binary, &n);
        ck_assert_uint_le(longest_line(whole, n), 76);
        /* no encoded line ends in white space, none starts with '.' */
        for (size_t i = 0; i + 1 < n; i++) {
            if (whole[i] == '\r' && whole[i + 1] == '\n') {
                ck_assert(i == 0 || (whole[i - 1] != ' ' && whole[i - 1] != '\t'));
                ck_assert(i + 2 >= n || whole[i + 2] != '.');
            }
        }
        ck_assert(n == 0 || (whole[n - 1] != ' ' && whole[n - 1] != '\t'));
        /* in pieces: the same output */
        char *pieces = malloc(qp_bound(len) + 8);
        qp_state st = {0};
        st.binary = binary;
        size_t k = 0;
        for (size_t i = 0; i < len;) {
            size_t step = 1 + rnd(&seed) % 50;
            if (step > len - i)
                step = len - i;
            k += qp_encode(&st, data + i, step, 0, pieces + k);
            i += step;
        }
        k += qp_encode(&st, NULL, 0, 1, pieces + k);
        ck_assert_uint_eq(k, n);
        ck_assert(memcmp(pieces, whole, n) == 0);
        /* decodes back: exactly in binary mode, with CRLF line ends in text */
        unsigned char *back = malloc(n + 1);
        long b = qp_decode(whole, n, back);
        char *expect = malloc(2 * len + 1);
        int cr = 0;
        size_t e = binary ? (memcpy(expect, data, len), len)
                          : crlf_normalize(&cr, data, len, expect);
        ck_assert_int_eq(b, (long)e);
        ck_assert(e == 0 || memcmp(back, expect, e) == 0);
        free(expect);
        free(back);
        free(pieces);
        free(whole);
        free(data);
    }
}
END_TEST

/* -------------------------------------------------------- encoded words */

/* Writes a field with the header writer and returns it (malloc'd). */
static char *field(const char *name, const char *text, int phrase)
{
    ebuf b = {0};
    hdrw w = {0};
    hw_start(&w, &b, name);
    if (phrase)
        hw_phrase(&w, text);
    else
        hw_text(&w, text);
    ck_assert_int_eq(hw_end(&w), 0);
    return b.data;
}

/* Decodes an unstructured field body back to text: unfolds, decodes each
 * encoded word (checking it is whole UTF-8 and at most 75 characters),
 * drops white space between adjacent encoded words. */
static char *undo_field(const char *f)
{
    const char *p = strchr(f, ':') + 1;
    char *unfolded = malloc(strlen(p) + 1);
    size_t u = 0;
    for (; *p; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            p++;
            continue;
        }
        unfolded[u++] = *p;
    }
    unfolded[u] = '\0';
    char *out = malloc(u * 2 + 1);
    size_t k = 0;
    int prev_ew = 0;
    size_t ws_start = 0;
    const char *s = unfolded;
    if (*s == ' ')
        s++;
    while (*s) {
        if (strncmp(s, "=?UTF-8?", 8) == 0) {
            const char *end = strstr(s + 10, "?=");
            ck_assert_ptr_nonnull(end);
            ck_assert_uint_le((size_t)(end + 2 - s), 75);
            if (prev_ew)
                k = ws_start; /* white space between encoded words is dropped */
            size_t start = k;
            if (s[8] == 'B') {
                long n = b64_decode(s + 10, (size_t)(end - s - 10), (unsigned char *)out + k);
                ck_assert_int_ge(n, 0);
                k += (size_t)n;
            } else {
                for (const char *q = s + 10; q < end; q++) {
                    if (*q == '_') {
                        out[k++] = ' ';
                    } else if (*q == '=') {
                        unsigned v;
                        char h[3] = {q[1], q[2], 0};
                        ck_assert_int_eq(sscanf(h, "%2X", &v), 1);
                        out[k++] = (char)v;
                        q += 2;
                    } else {
                        out[k++] = *q;
                    }
                }
            }
            /* each encoded word holds whole characters */
            out[k] = '\0';
            ck_assert(text_valid(out + start, 1));
            s = end + 2;
            prev_ew = 1;
            ws_start = k;
            /* the next encoded word must not follow without white space */
            ck_assert(strncmp(s, "=?", 2) != 0);
            continue;
        }
        if (*s != ' ' && *s != '\t')
            prev_ew = 0;
        out[k++] = *s++;
    }
    out[k] = '\0';
    free(unfolded);
    return out;
}

static void check_text_roundtrip(const char *text)
{
    char *f = field("Subject", text, 0);
    ck_assert_uint_le(longest_line(f, strlen(f)), 78);
    /* folded only before white space that was there (RFC 5322 2.2.3) */
    for (const char *crlf = strstr(f, "\r\n"); crlf[2]; crlf = strstr(crlf + 2, "\r\n"))
        ck_assert(crlf[2] == ' ' || crlf[2] == '\t');
    char *back = undo_field(f);
    ck_assert_str_eq(back, text);
    free(back);
    free(f);
}

START_TEST(rfc2047_text)
{
    char *f = field("Subject", "plain ASCII subject", 0);
    ck_assert_str_eq(f, "Subject: plain ASCII subject\r\n");
    free(f);
    f = field("Subject", "\xe4\xbd\xa0\xe5\xa5\xbd", 0); /* 你好 */
    ck_assert_str_eq(f, "Subject: =?UTF-8?B?5L2g5aW9?=\r\n");
    free(f);
    /* mostly ASCII: Q is shorter; the space inside is kept as '_' */
    f = field("Subject", "to Z\xc3\xbcrich-Flughafen \xc3\xa0 pied", 0);
    ck_assert_str_eq(f, "Subject: to =?UTF-8?Q?Z=C3=BCrich-Flughafen_=C3=A0?= pied\r\n");
    free(f);
    /* short and 8-bit: B is shorter */
    f = field("Subject", "caf\xc3\xa9", 0);
    ck_assert_str_eq(f, "Subject: =?UTF-8?B?Y2Fmw6k=?=\r\n");
    free(f);
    check_text_roundtrip("Re: \xe4\xbd\xa0\xe5\xa5\xbd \xe4\xb8\x96\xe7\x95\x8c and more");
    check_text_roundtrip("a  b   c"); /* runs of spaces kept */
    check_text_roundtrip("=?UTF-8?B?not-an-encoded-word?= literal");
    /* long Chinese text: folded, split only between characters */
    char big[2000] = "";
    for (int i = 0; i < 60; i++)
        strcat(big, i % 7 == 6 ? "\xe4\xb8\xad " : "\xe4\xb8\xad\xf0\x9f\x98\x80");
    strcat(big, "end");
    check_text_roundtrip(big);
    /* one enormous ASCII word can't be folded: it is encoded and split */
    char word[1200];
    memset(word, 'w', sizeof word - 1);
    word[sizeof word - 1] = '\0';
    check_text_roundtrip(word);
}
END_TEST

/* Issue 9: a TAB between words was written as a space. */
START_TEST(rfc2047_tab_ascii)
{
    char *f = field("Subject", "a\tb \tc\t d", 0);
    ck_assert_str_eq(f, "Subject: a\tb \tc\t d\r\n");
    free(f);
    check_text_roundtrip("a\tb \tc\t d");
}
END_TEST

START_TEST(rfc2047_tab_folded)
{
    /* folds go before the TABs, which stay TABs */
    char big[1000] = "";
    for (int i = 0; i < 40; i++)
        strcat(big, i % 3 ? "tab\tseparated" : "words \t");
    strcat(big, "end");
    char *f = field("Subject", big, 0);
    ck_assert_ptr_nonnull(strstr(f, "\r\n\t"));
    free(f);
    check_text_roundtrip(big);
}
END_TEST

START_TEST(rfc2047_tab_encoded)
{
    /* a TAB next to an encoded word stays outside it; one between two
     * encoded words is carried inside the encoded text */
    char *f = field("Subject", "x\t\xc3\xa9", 0);
    ck_assert_str_eq(f, "Subject: x\t=?UTF-8?B?w6k=?=\r\n");
    free(f);
    f = field("Subject", "caf\xc3\xa9\tna\xc3\xafve\tx", 0);
    ck_assert_str_eq(f, "Subject: =?UTF-8?B?Y2Fmw6kJbmHDr3Zl?=\tx\r\n");
    free(f);
    check_text_roundtrip("caf\xc3\xa9\tna\xc3\xafve\tx \t\xc3\xa9\t\ty");
    /* long: encoded words folded, plain words between them */
    char intl[2000] = "";
    for (int i = 0; i < 30; i++)
        strcat(intl, i % 4 ? "\xe4\xb8\xad\xe6\x96\x87\t" : "plain\t");
    strcat(intl, "\xc3\xa9");
    check_text_roundtrip(intl);
}
END_TEST

START_TEST(rfc2047_phrase)
{
    char *f = field("From", "John Doe", 1);
    ck_assert_str_eq(f, "From: John Doe\r\n");
    free(f);
    f = field("From", "Doe, John \"JD\"", 1);
    ck_assert_str_eq(f, "From: \"Doe, John \\\"JD\\\"\"\r\n");
    free(f);
    f = field("From", "\xe5\xbc\xa0\xe4\xb8\x89", 1);
    ck_assert_str_eq(f, "From: =?UTF-8?B?5byg5LiJ?=\r\n");
    free(f);
}
END_TEST

/* Found by fuzz_mime: short atoms before one too long for a line were
 * written, then the whole name again as encoded words. */
START_TEST(rfc2047_phrase_long_atom)
{
    char name[128] = "Li S";
    memset(name + 4, 'c', 90);
    strcpy(name + 94, "i");
    char *f = field("From", name, 1);
    ck_assert_uint_le(longest_line(f, strlen(f)), 78);
    ck_assert(strncmp(f, "From: =?UTF-8?", 14) == 0);
    char *back = undo_field(f);
    ck_assert_str_eq(back, name);
    free(back);
    free(f);
}
END_TEST

/* ----------------------------------------------------------- RFC 2231 */

static char *filename_field(const char *name)
{
    ebuf b = {0};
    hdrw w = {0};
    hw_start(&w, &b, "Content-Disposition");
    hw_token(&w, "attachment", 10);
    hw_filename(&w, name);
    ck_assert_int_eq(hw_end(&w), 0);
    return b.data;
}

START_TEST(rfc2231_filename)
{
    char *f = filename_field("report.pdf");
    ck_assert_str_eq(f, "Content-Disposition: attachment; filename=\"report.pdf\"\r\n");
    free(f);
    f = filename_field("\xe6\x8a\xa5\xe5\x91\x8a.pdf"); /* 报告.pdf */
    ck_assert_str_eq(f, "Content-Disposition: attachment; filename*=UTF-8''%E6%8A%A5%E5%91%8A.pdf;"
                        "\r\n filename=\"__.pdf\"\r\n");
    free(f);
    /* long: continued, each segment whole characters, every line short */
    char name[400] = "";
    for (int i = 0; i < 30; i++)
        strcat(name, "\xe6\x96\x87\xe4\xbb\xb6 ");
    strcat(name, "x.txt");
    f = filename_field(name);
    ck_assert_uint_le(longest_line(f, strlen(f)), 78);
    ck_assert_ptr_nonnull(strstr(f, "filename*0*=UTF-8''%E6%96%87"));
    ck_assert_ptr_nonnull(strstr(f, "filename*1*="));
    /* a segment never ends inside a %XX triplet or a character: each
     * starts with '%E6' or '%E4' (a lead byte) or an ASCII character */
    for (char *p = strstr(f, "filename*1*="); p; p = strstr(p + 1, "*=")) {
        const char *v = strchr(p, '=') + 1;
        ck_assert(v[0] != '%' || v[1] == 'E' || v[1] == '2');
    }
    free(f);
}
END_TEST

/* ----------------------------------------------------------- addresses */

static char *addresses(const char *list, int *rc)
{
    addr_list l = {0};
    *rc = addr_list_parse(&l, list, 1);
    ebuf b = {0};
    hdrw w = {0};
    hw_start(&w, &b, "To");
    hw_addresses(&w, &l);
    hw_end(&w);
    addr_list_free(&l);
    return b.data;
}

START_TEST(rfc5322_addresses)
{
    int rc;
    char *f = addresses("alice@example.org", &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(f, "To: alice@example.org\r\n");
    free(f);
    /* RFC 5322 appendix A.1.2 style: display names, quoting, groups */
    f = addresses("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>,"
                  " A Group(Some people):Chris Jones <c@(Chris's host.)public.example>,"
                  " joe@example.org, \"John\" <jdoe@one.test> (my dear friend); "
                  "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>, Undisclosed:;",
                  &rc);
    ck_assert_int_eq(rc, ESMTP_EINVAL); /* CFWS inside an addr-spec is obsolete */
    free(f);
    f = addresses("Pete <pete@silly.test>, A Group:Chris Jones <c@public.example>,"
                  " joe@example.org, \"John\" <jdoe@one.test> (my dear friend); ,"
                  "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>, Undisclosed:;",
                  &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(f, "To: Pete <pete@silly.test>, A Group: Chris Jones <c@public.example>,\r\n"
                        " joe@example.org, John <jdoe@one.test>;, \"Giant; \\\"Big\\\" Box\"\r\n"
                        " <sysservices@example.net>, Undisclosed:;\r\n");
    free(f);
    f = addresses("\"\xe6\x9d\x8e\xe5\x9b\x9b\" <ls@example.cn>", &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(f, "To: =?UTF-8?B?5p2O5Zub?= <ls@example.cn>\r\n");
    free(f);
    static const char *const bad[] = {
        "", "no-at-sign", "a@b, <unterminated@x", "x@y z@w", "a@@b", "\"open@x",
        "a@b\r\nBcc: evil@x", "<a@b>>", "group: a@b", ".a@b", "a..b@c",
        "\xc3@x.org", "a@b\xc3\xbc" "cher..example", "a@-b\xc3\xbc" "cher.example",
        "a@\xe2\x91\xb4.example", "\"\xc3\" <a@x.org>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        f = addresses(bad[i], &rc);
        ck_assert_msg(rc == ESMTP_EINVAL, "accepted: %s", bad[i]);
        free(f);
    }
}
END_TEST

START_TEST(header_injection)
{
    esmtp_mime *m;
    ck_assert_int_eq(esmtp_mime_new(&m), 0);
    esmtp_mime_part *p;
    ck_assert_int_eq(esmtp_mime_add_attachment(m, &p), 0);
    ck_assert_int_eq(esmtp_mime_set_subject(m, "hi\r\nBcc: x@y"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_subject(m, "hi\nthere"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_subject(m, "bad \xff utf-8"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_header(m, "X-Evil\r\nBcc", "v"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_header(m, "X-A", "v\r\nBcc: x@y"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_header(m, "X A", "v"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_header(m, "Content-Type", "text/evil"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_header(m, "bcc", "x"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_header(m, "X-Mailer", "esmtp \xe2\x9c\x93"), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "A\r\nB", "a@b.c"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "A", "a@b.c\r\n"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_TO, "A", "a b@c"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_part_set_filename(p, "a\r\n.txt"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_part_set_type(p, "text/plain\r\nX: y"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_part_set_type(p, "text/plain; x=y"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_part_set_content_id(p, "a>b@c"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_message_id(m, "<a@b>\r\n"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_references(m, "<a@b> <c@d"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_list_unsubscribe(m, "mailto:a@b\r\n", NULL, 0),
                     ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_list_unsubscribe(m, "mailto:a@b", NULL, 1), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_set_list_unsubscribe(m, NULL, "http://x", 0), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_SENDER, NULL, "s@b.c"), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_SENDER, NULL, "t@b.c"), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_FROM, "g: a@b.c;"), ESMTP_EINVAL);
    /* no From: cannot be prepared */
    ck_assert_int_eq(esmtp_mime_prepare(m, 0, NULL, NULL), ESMTP_EINVAL);
    esmtp_mime_free(m);
    esmtp_mime_free(NULL);
}
END_TEST

/* ----------------------------------------------------------- generator */

/* Reads the whole prepared message in pieces of step bytes. */
static char *read_all(esmtp_mime *m, size_t step, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *out = malloc(cap);
    for (;;) {
        if (n + step + 1 > cap)
            out = realloc(out, cap *= 2);
        long k = esmtp_mime_read(m, out + n, step);
        ck_assert_int_ge(k, 0);
        if (k == 0)
            break;
        n += (size_t)k;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static esmtp_mime *sample(void)
{
    esmtp_mime *m;
    ck_assert_int_eq(esmtp_mime_new(&m), 0);
    ck_assert_int_eq(esmtp_mime_set_deterministic(m, 1234), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "Me", "me@example.org"), 0);
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_TO, "you@example.net"), 0);
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_BCC, "secret@example.net"), 0);
    ck_assert_int_eq(esmtp_mime_set_subject(m, "test"), 0);
    return m;
}

/* Issue 10: what prepare needs to read is read before the run
 * (mime_scan, from esmtp_session_start), so that prepare, inside the run,
 * reads nothing until the builder changes. Shown by changing the file
 * behind the builder's back: prepare still decides by what was scanned. */
START_TEST(prepare_uses_what_was_scanned_before_the_run)
{
    char tmpl[] = "/tmp/esmtp-scan-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "caf\xc3\xa9\n", 6), 6);
    esmtp_mime *m = sample();
    esmtp_mime_part *p;
    ck_assert_int_eq(esmtp_mime_add_attachment(m, &p), 0);
    ck_assert_int_eq(esmtp_mime_part_set_file(p, tmpl), 0);
    ck_assert_int_eq(esmtp_mime_part_set_type(p, "text/plain"), 0);
    ck_assert_int_eq(mime_scan(m), 0);
    /* the same size, now plain ASCII */
    ck_assert_int_eq(pwrite(fd, "cafe!\n", 6, 0), 6);
    /* as the engine prepares an attached message */
    ck_assert_int_eq(mime_prepare(m, 1, 0), 0);
    ck_assert_int_eq(p->enc, ESMTP_MIME_ENC_8BIT); /* as scanned */
    /* a change through the builder: read again */
    ck_assert_int_eq(esmtp_mime_part_set_filename(p, "a.txt"), 0);
    ck_assert_int_eq(mime_prepare(m, 1, 0), 0);
    ck_assert_int_eq(p->enc, ESMTP_MIME_ENC_7BIT);
    close(fd);
    unlink(tmpl);
    esmtp_mime_free(m);
}
END_TEST

static long counting_cb(esmtp_mime_part *part, void *buf, size_t len, void *ud)
{
    (void)part;
    size_t *left = ud;
    size_t n = len < *left ? len : *left;
    memset(buf, 0xa5, n);
    *left -= n;
    return (long)n;
}

START_TEST(gen_exact_size)
{
    /* many shapes and read sizes: the bytes read always match the size */
    static const char *const texts[] = {
        "", "hello", "hello\n", "line\r\nline\rline\n", ".\n..\n", "caf\xc3\xa9\n",
        "--=_looks like a boundary\n", "trailing \n", "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xbd\xa0",
    };
    char tmpl[] = "/tmp/esmtp-mime-XXXXXX";
    int fd = mkstemp(tmpl);
    ck_assert_int_ge(fd, 0);
    unsigned char blob[70000];
    uint64_t seed = 5;
    for (size_t i = 0; i < sizeof blob; i++)
        blob[i] = (unsigned char)rnd(&seed);
    ck_assert_int_eq(write(fd, blob, sizeof blob), (long)sizeof blob);
    close(fd);
    for (size_t t = 0; t < sizeof texts / sizeof *texts; t++) {
        for (int shape = 0; shape < 4; shape++) {
            for (int allow8 = 0; allow8 < 2; allow8++) {
                esmtp_mime *m = sample();
                size_t left = 1000;
                ck_assert_int_eq(esmtp_mime_set_text(m, texts[t], strlen(texts[t])), 0);
                if (shape >= 1)
                    ck_assert_int_eq(esmtp_mime_set_html(m, "<p>x</p>", 8), 0);
                if (shape >= 2) {
                    esmtp_mime_part *p;
                    ck_assert_int_eq(esmtp_mime_add_attachment(m, &p), 0);
                    ck_assert_int_eq(esmtp_mime_part_set_file(p, tmpl), 0);
                    ck_assert_int_eq(esmtp_mime_part_set_filename(p, "data.bin"), 0);
                }
                if (shape >= 3) {
                    esmtp_mime_part *p;
                    ck_assert_int_eq(esmtp_mime_add_inline(m, "i@x", &p), 0);
                    ck_assert_int_eq(esmtp_mime_part_set_read_cb(p, counting_cb, 1000, &left), 0);
                }
                uint64_t size;
                int h8;
                ck_assert_int_eq(esmtp_mime_prepare(m, allow8, &size, &h8), 0);
                size_t steps[] = {1, 7, 4096, 100000};
                char *first = NULL;
                size_t first_len = 0;
                for (size_t s = 0; s < 4; s++) {
                    left = 1000;
                    ck_assert_int_eq(esmtp_mime_prepare(m, allow8, &size, &h8), 0);
                    size_t n;
                    char *out = read_all(m, steps[s], &n);
                    ck_assert_uint_eq(n, size);
                    ck_assert(n >= 2 && memcmp(out + n - 2, "\r\n", 2) == 0);
                    ck_assert_ptr_null(strstr(out, "secret@"));
                    int high = 0;
                    for (const char *c = texts[t]; *c; c++)
                        high |= (unsigned char)*c >= 0x80;
                    ck_assert_int_eq(h8, allow8 && high);
                    if (!first) {
                        first = out;
                        first_len = n;
                    } else {
                        ck_assert(n == first_len && memcmp(out, first, n) == 0);
                        free(out);
                    }
                }
                free(first);
                esmtp_mime_free(m);
            }
        }
    }
    unlink(tmpl);
}
END_TEST

START_TEST(gen_encoding_choice)
{
    esmtp_mime *m = sample();
    esmtp_mime_part *body, *a, *b, *c, *d;
    ck_assert_int_eq(esmtp_mime_body(m, &body), 0);
    ck_assert_int_eq(esmtp_mime_set_text(m, "x", 1), ESMTP_ESTATE);
    ck_assert_int_eq(esmtp_mime_part_set_type(body, "multipart/mixed"), 0);
    ck_assert_int_eq(esmtp_mime_part_add_subpart(body, &a), 0);
    ck_assert_int_eq(esmtp_mime_part_add_subpart(body, &b), 0);
    ck_assert_int_eq(esmtp_mime_part_add_subpart(body, &c), 0);
    ck_assert_int_eq(esmtp_mime_part_add_subpart(body, &d), 0);
    ck_assert_int_eq(esmtp_mime_part_set_data(body, "x", 1), ESMTP_ESTATE);
    esmtp_mime_part_set_type(a, "text/plain");
    esmtp_mime_part_set_data(a, "plain ascii\n", 12);
    esmtp_mime_part_set_type(b, "text/plain");
    /* Chinese text: base64 is shorter than quoted-printable */
    const char *zh = "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\n";
    esmtp_mime_part_set_data(b, zh, strlen(zh));
    esmtp_mime_part_set_type(c, "text/plain");
    esmtp_mime_part_set_data(c, "caf\xc3\xa9 au lait\n", 14);
    esmtp_mime_part_set_data(d, "\x00\x01\x02", 3);
    ck_assert_int_eq(esmtp_mime_prepare(m, 0, NULL, NULL), 0);
    ck_assert_int_eq(a->enc, ESMTP_MIME_ENC_7BIT);
    ck_assert_int_eq(b->enc, ESMTP_MIME_ENC_BASE64);
    ck_assert_int_eq(c->enc, ESMTP_MIME_ENC_QP);
    ck_assert_int_eq(d->enc, ESMTP_MIME_ENC_BASE64);
    int h8;
    ck_assert_int_eq(esmtp_mime_prepare(m, 1, NULL, &h8), 0);
    ck_assert_int_eq(h8, 1);
    ck_assert_int_eq(b->enc, ESMTP_MIME_ENC_8BIT);
    ck_assert_int_eq(c->enc, ESMTP_MIME_ENC_8BIT);
    /* forced encodings: 8bit is downgraded without 8BITMIME, 7bit refused */
    esmtp_mime_part_set_encoding(c, ESMTP_MIME_ENC_8BIT);
    ck_assert_int_eq(esmtp_mime_prepare(m, 0, NULL, NULL), 0);
    ck_assert_int_eq(c->enc, ESMTP_MIME_ENC_QP);
    esmtp_mime_part_set_encoding(c, ESMTP_MIME_ENC_7BIT);
    ck_assert_int_eq(esmtp_mime_prepare(m, 1, NULL, NULL), ESMTP_EINVAL);
    ck_assert_int_eq(esmtp_mime_read(m, &h8, 1), ESMTP_ESTATE);
    esmtp_mime_free(m);
}
END_TEST

START_TEST(gen_boundary_safety)
{
    /* a text that starts lines like our boundaries is never sent as is */
    esmtp_mime *m = sample();
    const char *t = "--=_0000000000000000_0000\n";
    esmtp_mime_set_text(m, t, strlen(t));
    esmtp_mime_set_html(m, "<b>", 3);
    ck_assert_int_eq(esmtp_mime_prepare(m, 1, NULL, NULL), 0);
    ck_assert_int_eq(m->text->enc, ESMTP_MIME_ENC_QP);
    size_t n;
    char *out = read_all(m, 999, &n);
    ck_assert_ptr_nonnull(strstr(out, "--=3D_0000"));
    free(out);
    esmtp_mime_free(m);
}
END_TEST

START_TEST(gen_deterministic)
{
    esmtp_mime *m1 = sample(), *m2 = sample();
    esmtp_mime_set_text(m1, "a", 1);
    esmtp_mime_set_text(m2, "a", 1);
    esmtp_mime_set_html(m1, "b", 1);
    esmtp_mime_set_html(m2, "b", 1);
    ck_assert_int_eq(esmtp_mime_prepare(m1, 0, NULL, NULL), 0);
    ck_assert_int_eq(esmtp_mime_prepare(m2, 0, NULL, NULL), 0);
    size_t n1, n2;
    char *o1 = read_all(m1, 10, &n1), *o2 = read_all(m2, 10, &n2);
    ck_assert(n1 == n2 && memcmp(o1, o2, n1) == 0);
    ck_assert_ptr_nonnull(strstr(o1, "Date: Sat, 01 Jan 2000 00:00:00 +0000\r\n"));
    ck_assert_ptr_nonnull(strstr(o1, "@example.org>\r\n"));
    ck_assert_ptr_null(strstr(o1, "Bcc"));
    free(o1);
    free(o2);
    esmtp_mime_free(m1);
    esmtp_mime_free(m2);
}
END_TEST

START_TEST(gen_read_errors)
{
    esmtp_mime *m = sample();
    esmtp_mime_part *p;
    esmtp_mime_add_attachment(m, &p);
    esmtp_mime_part_set_file(p, "/nonexistent/file");
    ck_assert_int_eq(esmtp_mime_prepare(m, 0, NULL, NULL), ESMTP_EREAD);
    /* a callback that gives less than it announced fails the read */
    size_t left = 10;
    esmtp_mime_part_set_read_cb(p, counting_cb, 20, &left);
    ck_assert_int_eq(esmtp_mime_prepare(m, 0, NULL, NULL), 0);
    char buf[4096];
    long n;
    while ((n = esmtp_mime_read(m, buf, sizeof buf)) > 0)
        ;
    ck_assert_int_eq(n, ESMTP_EREAD);
    esmtp_mime_free(m);
}
END_TEST

/* What prepare sees with no server: nothing offered. */
static const server_caps no_server = {0, 0};

START_TEST(attach_envelope)
{
    esmtp_session *s;
    esmtp_message *msg;
    ck_assert_int_eq(esmtp_session_new(&s), 0);
    ck_assert_int_eq(esmtp_session_add_message(s, &msg), 0);
    esmtp_mime *m = sample();
    esmtp_mime_add_addresses(m, ESMTP_MIME_CC, "You <YOU@example.net>, team: c@example.com;");
    esmtp_mime_set_text(m, "hi\n", 3);
    ck_assert_int_eq(esmtp_mime_attach(msg, m), 0);
    ck_assert_int_eq(esmtp_mime_attach(msg, m), ESMTP_ESTATE);
    ck_assert_str_eq(msg->reverse_path, "me@example.org");
    ck_assert_uint_eq(esmtp_message_recipient_count(msg), 3);
    ck_assert_str_eq(esmtp_recipient_mailbox(esmtp_message_recipient(msg, 0)), "you@example.net");
    ck_assert_str_eq(esmtp_recipient_mailbox(esmtp_message_recipient(msg, 1)), "c@example.com");
    ck_assert_str_eq(esmtp_recipient_mailbox(esmtp_message_recipient(msg, 2)),
                     "secret@example.net");
    /* what the protocol engine does before MAIL */
    ck_assert_ptr_nonnull(msg->prepare);
    ck_assert_int_eq(msg->prepare(msg, &no_server, msg->prepare_ud), 0);
    ck_assert_int_eq(msg->size_declared, 1);
    ck_assert_int_eq(msg->declared_8bit, 0);
    char buf[8192];
    long n = msg->read_cb(msg, buf, sizeof buf, msg->read_ud);
    ck_assert_int_eq(n, (long)msg->declared_size);
    esmtp_session_free(s); /* frees the attached builder too */
}
END_TEST

/* ------------------------------------------- IDN and SMTPUTF8 (RFC 6532) */

#define BUECHER "b\xc3\xbc" "cher.example"              /* bücher.example */
#define BUECHER_A "xn--bcher-kva.example"
/* 例え.テスト */
#define JP_DOMAIN "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"
#define JP_DOMAIN_A "xn--r8jz45g.xn--zckzah"
#define LISI "\xe6\x9d\x8e\xe5\x9b\x9b"                   /* 李四 */
#define YONGHU "\xe7\x94\xa8\xe6\x88\xb7"                 /* 用户 */
#define NIHAO "\xe4\xbd\xa0\xe5\xa5\xbd"                  /* 你好 */

/* Prepares without a session and reads the whole message; checks that the
 * size announced is the size read and what *has_8bit says. */
static char *prepared(esmtp_mime *m, int allow8, int *h8)
{
    uint64_t size;
    ck_assert_int_eq(esmtp_mime_prepare(m, allow8, &size, h8), 0);
    size_t n;
    char *out = read_all(m, 13, &n);
    ck_assert_uint_eq(n, size);
    int high = 0;
    for (size_t i = 0; i < n; i++)
        high |= (unsigned char)out[i] >= 0x80;
    ck_assert_int_eq(*h8, high);
    return out;
}

/* Found by fuzz_mime: values the setters accept were cut by fixed buffers
 * (a Content-ID past 150 characters), or read past them (a long https
 * URI in List-Unsubscribe, a long root type in multipart/related). */
START_TEST(gen_long_values)
{
    char uri[900] = "https://example.org/";
    memset(uri + 20, 'u', sizeof uri - 21);
    char cid[251];
    memset(cid, 'c', 64);
    cid[64] = '@';
    memset(cid + 65, 'd', 185);
    cid[250] = '\0';
    char type[256];
    memset(type, 't', 127);
    type[127] = '/';
    memset(type + 128, 's', 127);
    type[255] = '\0';
    esmtp_mime *m = sample();
    ck_assert_int_eq(esmtp_mime_set_list_unsubscribe(m, NULL, uri, 0), 0);
    esmtp_mime_part *body, *p;
    ck_assert_int_eq(esmtp_mime_body(m, &body), 0);
    ck_assert_int_eq(esmtp_mime_part_set_type(body, type), 0);
    ck_assert_int_eq(esmtp_mime_part_set_data(body, "x", 1), 0);
    ck_assert_int_eq(esmtp_mime_add_inline(m, cid, &p), 0);
    ck_assert_int_eq(esmtp_mime_part_set_data(p, "y", 1), 0);
    int h8;
    char *out = prepared(m, 0, &h8);
    char want[1100];
    snprintf(want, sizeof want, "List-Unsubscribe: <%s>\r\n", uri);
    ck_assert_ptr_nonnull(strstr(out, want));
    snprintf(want, sizeof want, "Content-ID: <%s>\r\n", cid);
    ck_assert_ptr_nonnull(strstr(out, want));
    snprintf(want, sizeof want, "type=\"%s\"\r\n", type);
    ck_assert_ptr_nonnull(strstr(out, want));
    free(out);
    esmtp_mime_free(m);
}
END_TEST

static esmtp_mime *idn_sample(void)
{
    esmtp_mime *m;
    ck_assert_int_eq(esmtp_mime_new(&m), 0);
    ck_assert_int_eq(esmtp_mime_set_deterministic(m, 99), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "Me", "me@" BUECHER), 0);
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_TO,
                                              LISI " <ls@" JP_DOMAIN ">, x@example.org"), 0);
    ck_assert_int_eq(esmtp_mime_set_subject(m, NIHAO " world"), 0);
    ck_assert_int_eq(esmtp_mime_set_text(m, "hi\n", 3), 0);
    return m;
}

START_TEST(idn_domains_in_headers)
{
    esmtp_mime *m = idn_sample();
    /* invalid domains are refused at the call, and nothing is added */
    static const char *const bad[] = {
        "a@-" BUECHER, "a@" "b\xc3\xbc" "cher..example", "a@\xe2\x91\xb4.example",
        "a@b\xc3", "a@\xf0\x9f\x98\x80.example", "\xff@example.org",
        "a@xn--zz.example", "a@XN--invalid-punycode.example",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(esmtp_mime_add_mailbox(m, ESMTP_MIME_CC, NULL, bad[i]) == ESMTP_EINVAL,
                      "accepted: %s", bad[i]);
        ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_CC, bad[i]), ESMTP_EINVAL);
    }
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_TO,
                                              "ok@example.org, bad@\xe2\x91\xb4.example"),
                     ESMTP_EINVAL);
    ck_assert_uint_eq(m->addrs[ESMTP_MIME_TO].mailboxes, 2);
    ck_assert_uint_eq(m->addrs[ESMTP_MIME_CC].n, 0);
    /* ASCII domains as before, A-labels included (checked, kept as given) */
    ck_assert_int_eq(
        esmtp_mime_add_mailbox(m, ESMTP_MIME_REPLY_TO, NULL, "r@XN--bcher-kva.example"), 0);
    ck_assert_int_eq(
        esmtp_mime_add_mailbox(m, ESMTP_MIME_REPLY_TO, NULL, "r@under_score.example"), 0);

    /* no SMTPUTF8: A-labels and encoded words, a 7-bit header */
    int h8;
    char *out = prepared(m, 1, &h8);
    ck_assert_int_eq(h8, 0);
    ck_assert_ptr_nonnull(strstr(out, "\r\nFrom: Me <me@" BUECHER_A ">\r\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "\r\nTo: =?UTF-8?B?5p2O5Zub?= <ls@" JP_DOMAIN_A ">, x@example.org\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nSubject: =?UTF-8?B?5L2g5aW9?= world\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "@" BUECHER_A ">\r\nMIME-Version"));
    ck_assert_ptr_nonnull(
        strstr(out, "\r\nReply-To: r@XN--bcher-kva.example, r@under_score.example\r\n"));
    free(out);

    /* asked for, and available (no server: the switch says so): RFC 6532 */
    ck_assert_int_eq(esmtp_mime_set_utf8_headers(m, 1), 0);
    out = prepared(m, 0, &h8);
    ck_assert_int_eq(h8, 1);
    ck_assert_ptr_nonnull(strstr(out, "\r\nFrom: Me <me@" BUECHER ">\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nTo: " LISI " <ls@" JP_DOMAIN ">, x@example.org\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nSubject: " NIHAO " world\r\n"));
    ck_assert_ptr_null(strstr(out, "=?UTF-8?"));
    /* the Message-ID stays ASCII */
    ck_assert_ptr_nonnull(strstr(out, "@" BUECHER_A ">\r\nMIME-Version"));
    /* the body is not affected: still 7bit */
    ck_assert_ptr_nonnull(strstr(out, "Content-Transfer-Encoding: 7bit\r\n"));
    free(out);

    /* and back */
    ck_assert_int_eq(esmtp_mime_set_utf8_headers(m, 0), 0);
    out = prepared(m, 0, &h8);
    ck_assert_int_eq(h8, 0);
    ck_assert_ptr_nonnull(strstr(out, "<ls@" JP_DOMAIN_A ">"));
    free(out);
    esmtp_mime_free(m);
}
END_TEST

START_TEST(utf8_raw_text)
{
    /* with the switch, only non-ASCII text changes form; display names
     * needing quotes are quoted strings, and "=?" words are still encoded */
    esmtp_mime *m;
    ck_assert_int_eq(esmtp_mime_new(&m), 0);
    ck_assert_int_eq(esmtp_mime_set_deterministic(m, 3), 0);
    ck_assert_int_eq(esmtp_mime_set_utf8_headers(m, 1), 0);
    ck_assert_int_eq(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "Doe, " LISI, "d@example.org"), 0);
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_TO,
                                              "Plain Name <p@example.org>, \"a \\\"" LISI
                                              "\\\"  b\" <q@example.org>"),
                     0);
    ck_assert_int_eq(esmtp_mime_add_header(m, "X-Note", "=?x?= " NIHAO "  two"), 0);
    ck_assert_int_eq(esmtp_mime_set_subject(m, "plain ascii subject"), 0);
    int h8;
    char *out = prepared(m, 0, &h8);
    ck_assert_ptr_nonnull(strstr(out, "\r\nFrom: \"Doe, " LISI "\" <d@example.org>\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nTo: Plain Name <p@example.org>, \"a \\\"" LISI
                                      "\\\"  b\" <q@example.org>\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nSubject: plain ascii subject\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nX-Note: =?UTF-8?B?PT94Pz0=?= " NIHAO "  two\r\n"));
    free(out);

    /* a long UTF-8 text folds between words, never inside one, and a word
     * too long for a line (HDR_RAW_WORD) becomes encoded words */
    char subj[3000] = "";
    for (int i = 0; i < 40; i++)
        strcat(subj, NIHAO " ");
    for (int i = 0; i < 400; i++)
        strcat(subj, NIHAO);
    ck_assert_int_eq(esmtp_mime_set_subject(m, subj), 0);
    size_t n;
    uint64_t size;
    ck_assert_int_eq(esmtp_mime_prepare(m, 0, &size, &h8), 0);
    out = read_all(m, 4096, &n);
    ck_assert_uint_eq(n, size);
    ck_assert_uint_le(longest_line(out, n), 998);
    char *hdr_end = strstr(out, "\r\n\r\n");
    ck_assert_uint_le(longest_line(out, (size_t)(hdr_end - out)), 78);
    ck_assert_ptr_nonnull(strstr(out, "Subject: " NIHAO " " NIHAO));
    ck_assert_ptr_nonnull(strstr(out, NIHAO " =?UTF-8?B?"));
    free(out);
    esmtp_mime_free(m);
}
END_TEST

START_TEST(utf8_local_part_needs_smtputf8)
{
    esmtp_session *s;
    esmtp_message *msg;
    ck_assert_int_eq(esmtp_session_new(&s), 0);

    /* a non-ASCII local part in the header: the message needs SMTPUTF8 */
    ck_assert_int_eq(esmtp_session_add_message(s, &msg), 0);
    esmtp_mime *m = idn_sample();
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_CC, YONGHU "@" JP_DOMAIN), 0);
    ck_assert_int_eq(msg->utf8_headers, 0);
    ck_assert_int_eq(esmtp_mime_attach(msg, m), 0);
    ck_assert_int_eq(msg->utf8_headers, 1);
    /* the envelope keeps the addresses as given: the session converts them */
    ck_assert_str_eq(msg->reverse_path, "me@" BUECHER);
    ck_assert_str_eq(esmtp_recipient_mailbox(esmtp_message_recipient(msg, 0)),
                     "ls@" JP_DOMAIN);
    ck_assert_str_eq(esmtp_recipient_mailbox(esmtp_message_recipient(msg, 2)),
                     YONGHU "@" JP_DOMAIN);
    /* prepared for a server that does not offer it (none here): the flag
     * stays, so the session fails the message before sending */
    ck_assert_int_eq(msg->prepare(msg, &no_server, msg->prepare_ud), 0);
    ck_assert_int_eq(msg->utf8_headers, 1);
    /* without the address, the builder takes its flag back */
    addr_list_truncate(&m->addrs[ESMTP_MIME_CC], 0);
    ck_assert_int_eq(msg->prepare(msg, &no_server, msg->prepare_ud), 0);
    ck_assert_int_eq(msg->utf8_headers, 0);
    ck_assert_int_eq(msg->declared_8bit, 0);

    /* in Bcc it is an envelope matter only (the session's, per recipient) */
    ck_assert_int_eq(esmtp_session_add_message(s, &msg), 0);
    m = idn_sample();
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_BCC, YONGHU "@" JP_DOMAIN), 0);
    ck_assert_int_eq(esmtp_mime_attach(msg, m), 0);
    ck_assert_int_eq(msg->utf8_headers, 0);
    ck_assert_int_eq(msg->prepare(msg, &no_server, msg->prepare_ud), 0);
    ck_assert_int_eq(msg->utf8_headers, 0);

    /* the caller's own declaration is left alone */
    ck_assert_int_eq(esmtp_session_add_message(s, &msg), 0);
    ck_assert_int_eq(esmtp_message_set_utf8_headers(msg, 1), 0);
    m = idn_sample();
    ck_assert_int_eq(esmtp_mime_attach(msg, m), 0);
    ck_assert_int_eq(msg->prepare(msg, &no_server, msg->prepare_ud), 0);
    ck_assert_int_eq(msg->utf8_headers, 1);

    /* standalone: the addresses go as given (there is no other form), the
     * rest as usual unless asked for */
    m = idn_sample();
    ck_assert_int_eq(esmtp_mime_add_addresses(m, ESMTP_MIME_REPLY_TO,
                                              LISI " <" YONGHU "@example.org>"), 0);
    int h8;
    char *out = prepared(m, 0, &h8);
    ck_assert_int_eq(h8, 1);
    ck_assert_ptr_nonnull(
        strstr(out, "\r\nReply-To: =?UTF-8?B?5p2O5Zub?= <" YONGHU "@example.org>\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nTo: =?UTF-8?B?5p2O5Zub?= <ls@" JP_DOMAIN ">"));
    ck_assert_ptr_nonnull(strstr(out, "\r\nSubject: =?UTF-8?B?5L2g5aW9?= world\r\n"));
    free(out);
    esmtp_mime_free(m);
    esmtp_session_free(s);
}
END_TEST

/* ---------------------------------------- through the protocol engine */

typedef struct srv {
    engine eng;
    engine *e;
    esmtp_message *msg;
} srv;

/* An engine with no callbacks and no session, sending g->msg. */
static esmtp_message *srv_message(srv *g)
{
    static const engine_config cfg = {.tls = ENGINE_TLS_NONE, .pipelining = 1, .chunking = 1};
    static const engine_ops ops = {0};
    memset(g, 0, sizeof *g);
    g->e = &g->eng;
    ck_assert_int_eq(message_new(&g->msg, NULL), 0);
    ck_assert_int_eq(engine_init(g->e, &cfg, &ops, NULL, &g->msg, 1), 0);
    return g->msg;
}

static void srv_free(srv *g)
{
    engine_free(g->e);
    message_free(g->msg); /* frees the attached builder too */
}

static char *srv_out(srv *g)
{
    return engine_drain(g->e);
}

/* A session whose server offers the given EHLO keywords, with one message
 * made from the builder; the engine is left waiting for what it sends. */
static esmtp_message *srv_start(srv *g, esmtp_mime *m, const char *ehlo)
{
    esmtp_message *msg = srv_message(g);
    ck_assert_int_eq(esmtp_mime_attach(msg, m), 0);
    ck_assert_int_eq(engine_connected(g->e, "client.test"), 0);
    ck_assert_int_eq(engine_recv(g->e, "220 mail.test\r\n", 15), 0);
    free(srv_out(g));
    ck_assert_int_eq(engine_recv(g->e, ehlo, strlen(ehlo)), 0);
    return msg;
}

static void srv_feed(srv *g, const char *r)
{
    ck_assert_int_eq(engine_recv(g->e, r, strlen(r)), 0);
}

/* Sends the whole transaction (PIPELINING): returns the MAIL command line
 * and the data, and checks SIZE= against the data's length (nothing in
 * these messages is dot-stuffed). */
static void srv_send(srv *g, char **mail, char **data)
{
    char *env = srv_out(g);
    char *eol = strstr(env, "\r\n");
    ck_assert_ptr_nonnull(eol);
    *mail = strndup(env, (size_t)(eol - env));
    srv_feed(g, "250 ok\r\n");
    for (const char *p = env; (p = strstr(p, "RCPT TO:")) != NULL; p++)
        srv_feed(g, "250 ok\r\n");
    free(env);
    srv_feed(g, "354 go\r\n");
    char *d = srv_out(g);
    size_t n = strlen(d);
    ck_assert(n >= 5 && strcmp(d + n - 5, "\r\n.\r\n") == 0);
    d[n - 3] = '\0';
    const char *sz = strstr(*mail, " SIZE=");
    ck_assert_ptr_nonnull(sz);
    ck_assert_uint_eq(strtoull(sz + 6, NULL, 10), n - 3);
    *data = d;
    srv_feed(g, "250 queued\r\n");
}

#define EHLO_UTF8 "250-mail.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n" \
                  "250 SMTPUTF8\r\n"
#define EHLO_ASCII "250-mail.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n250 8BITMIME\r\n"

START_TEST(smtputf8_through_the_engine)
{
    srv g;
    char *mail, *data;

    /* a Unicode domain alone: A-labels everywhere, SMTPUTF8 not declared
     * even though the server offers it */
    esmtp_message *msg = srv_start(&g, idn_sample(), EHLO_UTF8);
    srv_send(&g, &mail, &data);
    ck_assert_ptr_null(strstr(mail, "SMTPUTF8"));
    ck_assert_ptr_null(strstr(mail, "BODY="));
    ck_assert_ptr_nonnull(strstr(mail, "MAIL FROM:<me@" BUECHER_A ">"));
    ck_assert_ptr_nonnull(strstr(data, "\r\nTo: =?UTF-8?B?5p2O5Zub?= <ls@" JP_DOMAIN_A ">"));
    ck_assert_ptr_nonnull(strstr(data, "\r\nSubject: =?UTF-8?B?5L2g5aW9?= world\r\n"));
    ck_assert_int_eq(esmtp_message_status(msg), ESMTP_STATUS_OK);
    free(mail);
    free(data);
    srv_free(&g);

    /* asked for UTF-8 headers and offered: SMTPUTF8, raw UTF-8, U-labels */
    esmtp_mime *m = idn_sample();
    esmtp_mime_set_utf8_headers(m, 1);
    msg = srv_start(&g, m, EHLO_UTF8);
    srv_send(&g, &mail, &data);
    ck_assert_ptr_nonnull(strstr(mail, "MAIL FROM:<me@" BUECHER ">"));
    ck_assert_ptr_nonnull(strstr(mail, " BODY=8BITMIME SMTPUTF8"));
    ck_assert_ptr_nonnull(strstr(data, "\r\nTo: " LISI " <ls@" JP_DOMAIN ">, x@example.org\r\n"));
    ck_assert_ptr_nonnull(strstr(data, "\r\nSubject: " NIHAO " world\r\n"));
    ck_assert_int_eq(esmtp_message_status(msg), ESMTP_STATUS_OK);
    free(mail);
    free(data);
    srv_free(&g);

    /* asked for, but not offered: the usual 7-bit header, no SMTPUTF8 */
    m = idn_sample();
    esmtp_mime_set_utf8_headers(m, 1);
    msg = srv_start(&g, m, EHLO_ASCII);
    srv_send(&g, &mail, &data);
    ck_assert_ptr_null(strstr(mail, "SMTPUTF8"));
    ck_assert_ptr_null(strstr(mail, "BODY="));
    ck_assert_ptr_nonnull(strstr(data, "<ls@" JP_DOMAIN_A ">"));
    ck_assert_ptr_nonnull(strstr(data, "\r\nSubject: =?UTF-8?B?5L2g5aW9?= world\r\n"));
    for (const char *p = data; *p; p++)
        ck_assert_int_lt((unsigned char)*p, 0x80);
    ck_assert_int_eq(esmtp_message_status(msg), ESMTP_STATUS_OK);
    free(mail);
    free(data);
    srv_free(&g);

    /* a non-ASCII local part in Cc, offered: SMTPUTF8; the addresses as
     * given, the Subject still encoded (not asked for) */
    m = idn_sample();
    esmtp_mime_add_addresses(m, ESMTP_MIME_CC, YONGHU "@" JP_DOMAIN);
    msg = srv_start(&g, m, EHLO_UTF8);
    char *env = srv_out(&g);
    ck_assert_ptr_nonnull(strstr(env, " SMTPUTF8\r\n"));
    ck_assert_ptr_nonnull(strstr(env, "RCPT TO:<" YONGHU "@" JP_DOMAIN ">\r\n"));
    free(env);
    srv_feed(&g, "250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"); /* 3 RCPTs */
    data = srv_out(&g);
    ck_assert_ptr_nonnull(strstr(data, "\r\nCc: " YONGHU "@" JP_DOMAIN "\r\n"));
    ck_assert_ptr_nonnull(strstr(data, "<ls@" JP_DOMAIN ">"));
    ck_assert_ptr_nonnull(strstr(data, "\r\nSubject: =?UTF-8?B?5L2g5aW9?= world\r\n"));
    free(data);
    srv_free(&g);

    /* the same, not offered: the message fails before any data is sent,
     * even with an ASCII envelope chosen by the caller */
    m = idn_sample();
    esmtp_mime_add_addresses(m, ESMTP_MIME_CC, YONGHU "@" JP_DOMAIN);
    msg = srv_message(&g);
    ck_assert_int_eq(esmtp_message_set_reverse_path(msg, "bounce@example.org"), 0);
    ck_assert_int_eq(esmtp_message_add_recipient(msg, "x@example.org", NULL), 0);
    ck_assert_int_eq(esmtp_mime_attach(msg, m), 0);
    ck_assert_int_eq(engine_connected(g.e, "client.test"), 0);
    srv_feed(&g, "220 mail.test\r\n");
    free(srv_out(&g));
    srv_feed(&g, EHLO_ASCII);
    env = srv_out(&g);
    ck_assert_str_eq(env, "QUIT\r\n");
    free(env);
    ck_assert_int_eq(esmtp_message_status(msg), ESMTP_STATUS_PERMFAIL);
    ck_assert_ptr_nonnull(strstr(esmtp_message_text(msg), "SMTPUTF8"));
    srv_free(&g);
}
END_TEST

START_TEST(type_guessing)
{
    ck_assert_str_eq(mime_type_for_name("a.PDF"), "application/pdf");
    ck_assert_str_eq(mime_type_for_name("photo.jpeg"), "image/jpeg");
    ck_assert_str_eq(mime_type_for_name("noext"), "application/octet-stream");
    ck_assert_str_eq(mime_type_for_name("x.unknownext"), "application/octet-stream");
}
END_TEST

static Suite *mime_suite(void)
{
    Suite *s = suite_create("mime");
    TCase *tc = tcase_create("base64");
    tcase_add_test(tc, b64_rfc4648_vectors);
    tcase_add_test(tc, b64_lines_and_streaming);
    suite_add_tcase(s, tc);
    tc = tcase_create("quoted-printable");
    tcase_add_test(tc, qp_rules);
    tcase_add_test(tc, qp_roundtrip_random);
    suite_add_tcase(s, tc);
    tc = tcase_create("headers");
    tcase_add_test(tc, rfc2047_text);
    tcase_add_test(tc, rfc2047_tab_ascii);
    tcase_add_test(tc, rfc2047_tab_folded);
    tcase_add_test(tc, rfc2047_tab_encoded);
    tcase_add_test(tc, rfc2047_phrase);
    tcase_add_test(tc, rfc2047_phrase_long_atom);
    tcase_add_test(tc, rfc2231_filename);
    tcase_add_test(tc, rfc5322_addresses);
    tcase_add_test(tc, header_injection);
    tcase_add_test(tc, type_guessing);
    suite_add_tcase(s, tc);
    tc = tcase_create("generator");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gen_exact_size);
    tcase_add_test(tc, gen_encoding_choice);
    tcase_add_test(tc, gen_boundary_safety);
    tcase_add_test(tc, gen_long_values);
    tcase_add_test(tc, gen_deterministic);
    tcase_add_test(tc, gen_read_errors);
    tcase_add_test(tc, attach_envelope);
    suite_add_tcase(s, tc);
    tc = tcase_create("smtputf8");
    tcase_add_test(tc, idn_domains_in_headers);
    tcase_add_test(tc, utf8_raw_text);
    tcase_add_test(tc, utf8_local_part_needs_smtputf8);
    tcase_add_test(tc, smtputf8_through_the_engine);
    tcase_add_test(tc, prepare_uses_what_was_scanned_before_the_run);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(mime_suite());
}
