/* Tests for the reply parser. SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "reply.h"
#include "run_suite.h"

/* Feeds all of s in one call and expects exactly one complete reply. */
static void feed_one(reply_parser *p, const char *s)
{
    size_t used = 0;
    size_t len = strlen(s);
    int rc = reply_parser_feed(p, s, len, &used);
    ck_assert_msg(rc == 1, "feed of \"%s\" returned %d (%s)", s, rc,
                  p->error ? p->error : "no error");
    ck_assert_uint_eq(used, len);
}

/* Feeds s (len bytes, may hold NULs) to a new parser in one call and
 * expects a protocol error whose message contains why (if given). */
static void feed_bad(const char *s, size_t len, const char *why)
{
    reply_parser p;
    size_t used = 0;
    reply_parser_init(&p, 0, 0);
    int rc = reply_parser_feed(&p, s, len, &used);
    ck_assert_msg(rc == ESMTP_EPROTO, "feed of \"%s\" returned %d, expected EPROTO", s, rc);
    ck_assert_ptr_nonnull(p.error);
    if (why)
        ck_assert_msg(strstr(p.error, why) != NULL, "error \"%s\" lacks \"%s\"", p.error, why);
    reply_parser_free(&p);
}

static const char *text(const reply_parser *p)
{
    return ebuf_str(&p->reply.text);
}

START_TEST(test_single_line)
{
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    feed_one(&p, "250 OK\r\n");
    ck_assert_int_eq(p.reply.code, 250);
    ck_assert_str_eq(p.reply.enhanced, "");
    ck_assert_str_eq(text(&p), "OK");
    ck_assert_uint_eq(p.reply.lines, 1);
    ck_assert_int_eq(p.in_reply, 0);
    ck_assert_int_eq(p.done, 1);
    ck_assert_ptr_null(p.error);

    feed_one(&p, "354 Start mail input; end with <CRLF>.<CRLF>\r\n");
    ck_assert_int_eq(p.reply.code, 354);
    ck_assert_str_eq(text(&p), "Start mail input; end with <CRLF>.<CRLF>");
    ck_assert_uint_eq(p.reply.lines, 1);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_multi_line)
{
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    feed_one(&p, "250-mx.example.org Hello\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    ck_assert_int_eq(p.reply.code, 250);
    ck_assert_str_eq(text(&p), "mx.example.org Hello\nPIPELINING\n8BITMIME");
    ck_assert_uint_eq(p.reply.lines, 3);
    ck_assert_int_eq(p.in_reply, 0);

    /* continuation lines with empty text are kept as empty lines */
    feed_one(&p, "220-\r\n220-\r\n220 ready\r\n");
    ck_assert_int_eq(p.reply.code, 220);
    ck_assert_str_eq(text(&p), "\n\nready");
    ck_assert_uint_eq(p.reply.lines, 3);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_multi_line_open)
{
    reply_parser p;
    size_t used;
    reply_parser_init(&p, 0, 0);
    const char *s = "250-a\r\n250-b\r\n";
    ck_assert_int_eq(reply_parser_feed(&p, s, strlen(s), &used), 0);
    ck_assert_uint_eq(used, strlen(s));
    ck_assert_int_eq(p.in_reply, 1);
    ck_assert_int_eq(p.done, 0);
    feed_one(&p, "250 c\r\n");
    ck_assert_str_eq(text(&p), "a\nb\nc");
    ck_assert_uint_eq(p.reply.lines, 3);
    ck_assert_int_eq(p.in_reply, 0);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_enhanced)
{
    reply_parser p;
    reply_parser_init(&p, 0, 0);

    feed_one(&p, "250 2.0.0 OK\r\n");
    ck_assert_str_eq(p.reply.enhanced, "2.0.0");
    ck_assert_str_eq(text(&p), "OK");

    feed_one(&p, "550 5.1.1 <x@example.org>: Recipient address rejected\r\n");
    ck_assert_int_eq(p.reply.code, 550);
    ck_assert_str_eq(p.reply.enhanced, "5.1.1");
    ck_assert_str_eq(text(&p), "<x@example.org>: Recipient address rejected");

    /* three-digit subject and detail; code alone with no text */
    feed_one(&p, "452 4.123.456\r\n");
    ck_assert_str_eq(p.reply.enhanced, "4.123.456");
    ck_assert_str_eq(text(&p), "");

    /* only one separating space is stripped */
    feed_one(&p, "250 2.1.0  two spaces\r\n");
    ck_assert_str_eq(text(&p), " two spaces");

    /* stripped from every line that has one; enhanced is the first line's */
    feed_one(&p, "550-5.7.1 first\r\n550-second\r\n550 5.7.2 third\r\n");
    ck_assert_str_eq(p.reply.enhanced, "5.7.1");
    ck_assert_str_eq(text(&p), "first\nsecond\nthird");

    /* only the first line counts for enhanced */
    feed_one(&p, "250-no code here\r\n250 2.0.0 done\r\n");
    ck_assert_str_eq(p.reply.enhanced, "");
    ck_assert_str_eq(text(&p), "no code here\ndone");
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_enhanced_absent_or_invalid)
{
    static const struct {
        const char *in;
        const char *text;
    } cases[] = {
        {"250 OK\r\n", "OK"},
        {"550 2.0.0 x\r\n", "2.0.0 x"},      /* class differs from the code */
        {"250 5.0.0 x\r\n", "5.0.0 x"},
        {"354 3.0.0 go ahead\r\n", "3.0.0 go ahead"}, /* class 3 is not a class */
        {"250 2.0 x\r\n", "2.0 x"},          /* two parts only */
        {"250 2.0.0x\r\n", "2.0.0x"},        /* not followed by space or end */
        {"250 2.0.0.1 x\r\n", "2.0.0.1 x"},
        {"250 2.1234.0 x\r\n", "2.1234.0 x"}, /* subject too long */
        {"250 2.0.1234 x\r\n", "2.0.1234 x"}, /* detail too long */
        {"250 2..0 x\r\n", "2..0 x"},
        {"250 2.0. x\r\n", "2.0. x"},
        {"250 x 2.0.0\r\n", "x 2.0.0"},      /* not at the start */
        {"250  2.0.0 x\r\n", " 2.0.0 x"},    /* not right after the separator */
        {"250 2.a.0 x\r\n", "2.a.0 x"},
    };
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        feed_one(&p, cases[i].in);
        ck_assert_msg(p.reply.enhanced[0] == '\0', "case %zu: enhanced \"%s\"", i,
                      p.reply.enhanced);
        ck_assert_str_eq(text(&p), cases[i].text);
    }
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_empty_and_no_text)
{
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    feed_one(&p, "250 \r\n");
    ck_assert_int_eq(p.reply.code, 250);
    ck_assert_str_eq(text(&p), "");
    ck_assert_uint_eq(p.reply.lines, 1);

    feed_one(&p, "250\r\n");
    ck_assert_int_eq(p.reply.code, 250);
    ck_assert_str_eq(text(&p), "");
    ck_assert_uint_eq(p.reply.lines, 1);
    /* text is a valid C string even though nothing was in it */
    ck_assert_ptr_nonnull(p.reply.text.data);

    feed_one(&p, "250-first\r\n250\r\n");
    ck_assert_str_eq(text(&p), "first\n");
    ck_assert_uint_eq(p.reply.lines, 2);
    reply_parser_free(&p);

    /* the very first reply on a fresh parser, without text */
    reply_parser_init(&p, 0, 0);
    feed_one(&p, "221\n");
    ck_assert_ptr_nonnull(p.reply.text.data);
    ck_assert_str_eq(p.reply.text.data, "");
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_bare_lf)
{
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    feed_one(&p, "250-a\n250-b\r\n250 c\n");
    ck_assert_str_eq(text(&p), "a\nb\nc");
    ck_assert_uint_eq(p.reply.lines, 3);

    /* only one trailing CR is stripped; a CR inside the text is text */
    feed_one(&p, "250 x\r\r\n");
    ck_assert_str_eq(text(&p), "x\r");
    feed_one(&p, "250 a\rb\n");
    ck_assert_str_eq(text(&p), "a\rb");
    reply_parser_free(&p);
}
END_TEST

static const char ehlo[] =
    "250-mx.example.org Hello client.example.net [192.0.2.7]\r\n"
    "250-SIZE 52428800\r\n"
    "250-8BITMIME\r\n"
    "250-PIPELINING\r\n"
    "250-AUTH PLAIN LOGIN\r\n"
    "250-STARTTLS\r\n"
    "250-ENHANCEDSTATUSCODES\r\n"
    "250-CHUNKING\r\n"
    "250-DSN\r\n"
    "250 SMTPUTF8\r\n";

START_TEST(test_byte_at_a_time)
{
    reply_parser whole, bytes;
    reply_parser_init(&whole, 0, 0);
    reply_parser_init(&bytes, 0, 0);
    feed_one(&whole, ehlo);
    ck_assert_uint_eq(whole.reply.lines, 10);

    size_t len = strlen(ehlo);
    for (size_t i = 0; i < len; i++) {
        size_t used = 99;
        int rc = reply_parser_feed(&bytes, ehlo + i, 1, &used);
        ck_assert_int_eq(rc, i + 1 == len ? 1 : 0);
        ck_assert_uint_eq(used, 1);
    }
    ck_assert_int_eq(bytes.reply.code, whole.reply.code);
    ck_assert_str_eq(bytes.reply.enhanced, whole.reply.enhanced);
    ck_assert_str_eq(text(&bytes), text(&whole));
    ck_assert_uint_eq(bytes.reply.lines, whole.reply.lines);
    ck_assert_uint_eq(bytes.line.len, 0);

    /* and in every split into two pieces */
    for (size_t cut = 0; cut <= len; cut++) {
        size_t used;
        reply_parser_reset(&bytes);
        ck_assert_int_eq(reply_parser_feed(&bytes, ehlo, cut, &used), cut == len);
        ck_assert_uint_eq(used, cut);
        if (cut < len) {
            ck_assert_int_eq(reply_parser_feed(&bytes, ehlo + cut, len - cut, &used), 1);
            ck_assert_uint_eq(used, len - cut);
        }
        ck_assert_str_eq(text(&bytes), text(&whole));
        ck_assert_uint_eq(bytes.reply.lines, 10);
    }
    reply_parser_free(&whole);
    reply_parser_free(&bytes);
}
END_TEST

START_TEST(test_several_in_one_buffer)
{
    reply_parser p;
    size_t used;
    reply_parser_init(&p, 0, 0);

    const char *two = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n";
    ck_assert_int_eq(reply_parser_feed(&p, two, strlen(two), &used), 1);
    ck_assert_uint_eq(used, 14);
    ck_assert_str_eq(p.reply.enhanced, "2.1.0");
    ck_assert_int_eq(reply_parser_feed(&p, two + 14, strlen(two) - 14, &used), 1);
    ck_assert_uint_eq(used, 14);
    ck_assert_str_eq(p.reply.enhanced, "2.1.5");

    /* three replies, the middle one multi-line, then part of a fourth */
    const char *three = "250 a\r\n"          /* 7 */
                        "354-b\n354 c\r\n"   /* 13 */
                        "550 d\r\n"          /* 7 */
                        "250 pa";            /* 6 */
    size_t len = strlen(three), pos = 0;
    ck_assert_int_eq(reply_parser_feed(&p, three, len, &used), 1);
    ck_assert_uint_eq(used, 7);
    ck_assert_str_eq(text(&p), "a");
    pos += used;
    ck_assert_int_eq(reply_parser_feed(&p, three + pos, len - pos, &used), 1);
    ck_assert_uint_eq(used, 13);
    ck_assert_int_eq(p.reply.code, 354);
    ck_assert_str_eq(text(&p), "b\nc");
    pos += used;
    ck_assert_int_eq(reply_parser_feed(&p, three + pos, len - pos, &used), 1);
    ck_assert_uint_eq(used, 7);
    ck_assert_int_eq(p.reply.code, 550);
    pos += used;
    ck_assert_int_eq(reply_parser_feed(&p, three + pos, len - pos, &used), 0);
    ck_assert_uint_eq(used, 6);
    ck_assert_int_eq(reply_parser_feed(&p, "rt\r\n", 4, &used), 1);
    ck_assert_uint_eq(used, 4);
    ck_assert_str_eq(text(&p), "part");

    /* an empty feed consumes nothing */
    ck_assert_int_eq(reply_parser_feed(&p, "", 0, &used), 0);
    ck_assert_uint_eq(used, 0);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_line_length_limit)
{
    enum { MAX = 16 };
    char line[64];
    reply_parser p;
    size_t used;
    reply_parser_init(&p, MAX, 0);

    /* exactly MAX characters pass, with CRLF or LF, whole or split anywhere */
    memcpy(line, "250 0123456789ab\r\n", 19);
    ck_assert_uint_eq(strlen(line), MAX + 2);
    for (size_t cut = 0; cut <= MAX + 2; cut++) {
        reply_parser_reset(&p);
        ck_assert_int_eq(reply_parser_feed(&p, line, cut, &used), cut == MAX + 2);
        if (cut < MAX + 2)
            ck_assert_int_eq(reply_parser_feed(&p, line + cut, MAX + 2 - cut, &used), 1);
        ck_assert_str_eq(text(&p), "0123456789ab");
    }
    reply_parser_reset(&p);
    feed_one(&p, "250 0123456789ab\n");

    /* MAX + 1 characters fail, whole or split anywhere */
    memcpy(line, "250 0123456789abc\r\n", 20);
    for (size_t cut = 0; cut <= MAX + 3; cut++) {
        int rc;
        reply_parser_reset(&p);
        rc = reply_parser_feed(&p, line, cut, &used);
        if (rc == 0)
            rc = reply_parser_feed(&p, line + cut, MAX + 3 - cut, &used);
        ck_assert_int_eq(rc, ESMTP_EPROTO);
        ck_assert_str_eq(p.error, "reply line too long");
        ck_assert_uint_le(p.line.len, MAX + 1);
    }
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_long_line_memory_bounded)
{
    enum { CHUNK = 1000, TOTAL = 1 << 20 };
    /* ebuf doubles its capacity, so holding max_line + 2 bytes may take
     * up to twice that, but never more */
    const size_t bound = 2 * (REPLY_DEFAULT_MAX_LINE + 2);
    static char flood[TOTAL];
    reply_parser p;
    size_t used, fed = 0;
    int rc = 0;

    memset(flood, 'a', sizeof flood);
    memcpy(flood, "250 ", 4);
    reply_parser_init(&p, 0, 0);
    while (fed < TOTAL) {
        rc = reply_parser_feed(&p, flood + fed, CHUNK, &used);
        ck_assert_uint_le(p.line.cap, bound);
        if (rc != 0)
            break;
        ck_assert_uint_eq(used, CHUNK);
        fed += used;
    }
    ck_assert_int_eq(rc, ESMTP_EPROTO);
    ck_assert_str_eq(p.error, "reply line too long");
    ck_assert_uint_lt(fed, REPLY_DEFAULT_MAX_LINE + CHUNK);

    /* one huge piece without a newline is refused before it is copied */
    reply_parser_reset(&p);
    ck_assert_int_eq(reply_parser_feed(&p, flood, TOTAL, &used), ESMTP_EPROTO);
    ck_assert_uint_le(p.line.cap, bound);

    /* nor is a huge complete line copied */
    reply_parser_free(&p);
    reply_parser_init(&p, 0, 0);
    flood[TOTAL - 1] = '\n';
    ck_assert_int_eq(reply_parser_feed(&p, flood, TOTAL, &used), ESMTP_EPROTO);
    ck_assert_str_eq(p.error, "reply line too long");
    ck_assert_uint_eq(p.line.cap, 0);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_too_many_lines)
{
    reply_parser p;
    size_t used;
    reply_parser_init(&p, 0, 3);
    feed_one(&p, "250-a\r\n250-b\r\n250 c\r\n");
    ck_assert_uint_eq(p.reply.lines, 3);

    const char *four = "250-a\r\n250-b\r\n250-c\r\n250 d\r\n";
    ck_assert_int_eq(reply_parser_feed(&p, four, strlen(four), &used), ESMTP_EPROTO);
    ck_assert_str_eq(p.error, "too many lines in reply");
    reply_parser_free(&p);

    /* the default limit */
    ebuf big = {0};
    for (int i = 0; i < REPLY_DEFAULT_MAX_LINES; i++)
        ck_assert_int_eq(ebuf_append_str(&big, "250-x\r\n"), 0);
    reply_parser_init(&p, 0, 0);
    ck_assert_int_eq(reply_parser_feed(&p, big.data, big.len, &used), 0);
    ck_assert_int_eq(reply_parser_feed(&p, "250 y\r\n", 7, &used), ESMTP_EPROTO);
    ck_assert_str_eq(p.error, "too many lines in reply");
    reply_parser_free(&p);
    ebuf_free(&big);
}
END_TEST

START_TEST(test_code_changed)
{
    const char *s = "250-a\r\n251 b\r\n";
    feed_bad(s, strlen(s), "reply code changed inside a multi-line reply");
    s = "250-a\r\n350-b\r\n250 c\r\n";
    feed_bad(s, strlen(s), "reply code changed inside a multi-line reply");

    /* a code change between replies is of course fine */
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    feed_one(&p, "250 a\r\n");
    feed_one(&p, "550 b\r\n");
    ck_assert_int_eq(p.reply.code, 550);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_non_digit_code)
{
    static const char *const bad[] = {
        "abc OK\r\n", "2x0 OK\r\n", "25a OK\r\n", " 250 OK\r\n",
        "+250 OK\r\n", "OK\r\n", "-50 OK\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        feed_bad(bad[i], strlen(bad[i]), NULL);
    feed_bad("2x0 OK\r\n", 8, "reply code is not three digits");
    /* too short to hold a code, including an empty line */
    feed_bad("25\r\n", 4, "reply line too short");
    feed_bad("\r\n", 2, "reply line too short");
    feed_bad("\n", 1, "reply line too short");
}
END_TEST

START_TEST(test_bad_separator)
{
    static const char *const bad[] = {
        "250x\r\n", "250x OK\r\n", "250\tOK\r\n", "250_OK\r\n", "2500 OK\r\n",
        "250-a\r\n250x\r\n", "250\rOK\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        feed_bad(bad[i], strlen(bad[i]), "bad character after reply code");
}
END_TEST

/* Decision: like RFC 5321 section 4.2, first digit 2-5 and second 0-5;
 * 1yz (not used by SMTP) and anything else is a protocol error. */
START_TEST(test_digit_ranges)
{
    static const char *const bad[] = {
        "100 x\r\n", "199 x\r\n", "650 x\r\n", "999 x\r\n", "050 x\r\n",
        "260 x\r\n", "290 x\r\n", "569 x\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        feed_bad(bad[i], strlen(bad[i]), "reply code out of range");

    static const struct {
        const char *in;
        int code;
    } good[] = {
        {"200 x\r\n", 200}, {"259 x\r\n", 259}, {"354 x\r\n", 354},
        {"421 x\r\n", 421}, {"559 x\r\n", 559}, {"500 x\r\n", 500},
    };
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        feed_one(&p, good[i].in);
        ck_assert_int_eq(p.reply.code, good[i].code);
    }
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_nul_byte)
{
    feed_bad("250 a\0b\r\n", 9, "NUL byte in reply");
    feed_bad("\0" "50 ab\r\n", 8, "NUL byte in reply");
    feed_bad("250-a\r\n250 \0\r\n", 14, "NUL byte in reply");

    /* also when the NUL arrives in a piece of its own */
    reply_parser p;
    size_t used;
    reply_parser_init(&p, 0, 0);
    ck_assert_int_eq(reply_parser_feed(&p, "250 a", 5, &used), 0);
    ck_assert_int_eq(reply_parser_feed(&p, "\0", 1, &used), 0);
    ck_assert_int_eq(reply_parser_feed(&p, "b\r\n", 3, &used), ESMTP_EPROTO);
    ck_assert_str_eq(p.error, "NUL byte in reply");
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_reset_after_error)
{
    reply_parser p;
    size_t used;
    reply_parser_init(&p, 32, 4);

    ck_assert_int_eq(reply_parser_feed(&p, "250-a\r\n25", 9, &used), 0);
    ck_assert_int_eq(reply_parser_feed(&p, "1 b\r\n250 c\r\n", 12, &used), ESMTP_EPROTO);
    ck_assert_ptr_nonnull(p.error);

    /* fed again without a reset, it keeps failing and consumes nothing */
    ck_assert_int_eq(reply_parser_feed(&p, "250 ok\r\n", 8, &used), ESMTP_EPROTO);
    ck_assert_uint_eq(used, 0);
    reply_parser_reset(&p);
    ck_assert_int_eq(reply_parser_feed(&p, "250x\r\n", 6, &used), ESMTP_EPROTO);
    ck_assert_int_eq(reply_parser_feed(&p, "250 ok\r\n", 8, &used), ESMTP_EPROTO);
    ck_assert_uint_eq(used, 0);
    ck_assert_str_eq(p.error, "bad character after reply code");

    reply_parser_reset(&p);
    ck_assert_ptr_null(p.error);
    feed_one(&p, "250 ok\r\n");
    ck_assert_int_eq(p.reply.code, 250);
    ck_assert_str_eq(text(&p), "ok");
    ck_assert_uint_eq(p.reply.lines, 1);

    /* reset forgets a partial line and an open multi-line reply... */
    ck_assert_int_eq(reply_parser_feed(&p, "250-x\r\n250 partial", 18, &used), 0);
    reply_parser_reset(&p);
    ck_assert_uint_eq(p.line.len, 0);
    ck_assert_int_eq(p.in_reply, 0);
    feed_one(&p, "220 fresh\r\n");
    ck_assert_str_eq(text(&p), "fresh");
    ck_assert_uint_eq(p.reply.lines, 1);

    /* ...but keeps the settings */
    ck_assert_uint_eq(p.max_line, 32);
    ck_assert_uint_eq(p.max_lines, 4);
    reply_parser_free(&p);
}
END_TEST

START_TEST(test_defaults)
{
    reply_parser p;
    reply_parser_init(&p, 0, 0);
    ck_assert_uint_eq(p.max_line, REPLY_DEFAULT_MAX_LINE);
    ck_assert_uint_eq(p.max_lines, REPLY_DEFAULT_MAX_LINES);
    ck_assert_ptr_null(p.on_line);
    ck_assert_ptr_null(p.error);
    ck_assert_int_eq(p.done, 0);
    ck_assert_int_eq(p.in_reply, 0);
    reply_parser_free(&p);
}
END_TEST

typedef struct transcript {
    ebuf all;
    int calls;
} transcript;

static void record_line(void *ctx, const char *line, size_t len)
{
    transcript *t = ctx;
    t->calls++;
    ck_assert_int_eq(ebuf_append(&t->all, line, len), 0);
    ck_assert_int_eq(ebuf_append(&t->all, "|", 1), 0);
}

START_TEST(test_on_line)
{
    transcript t = {{0}, 0};
    reply_parser p;
    size_t used;
    reply_parser_init(&p, 0, 0);
    p.on_line = record_line;
    p.on_line_ctx = &t;

    const char *s = "250-2.0.0 first\r\n250-second\n250 ";
    ck_assert_int_eq(reply_parser_feed(&p, s, strlen(s), &used), 0);
    ck_assert_int_eq(t.calls, 2);
    ck_assert_int_eq(reply_parser_feed(&p, "2.0.0 last\r", 11, &used), 0);
    ck_assert_int_eq(t.calls, 2);
    ck_assert_int_eq(reply_parser_feed(&p, "\n", 1, &used), 1);
    ck_assert_int_eq(t.calls, 3);
    /* raw: codes and enhanced codes kept, CR/LF gone */
    ck_assert_str_eq(ebuf_str(&t.all), "250-2.0.0 first|250-second|250 2.0.0 last|");

    /* a malformed line is still shown before it is rejected */
    ebuf_clear(&t.all);
    ck_assert_int_eq(reply_parser_feed(&p, "25x oops\r\n", 10, &used), ESMTP_EPROTO);
    ck_assert_str_eq(ebuf_str(&t.all), "25x oops|");

    /* reset keeps the hook */
    reply_parser_reset(&p);
    ebuf_clear(&t.all);
    feed_one(&p, "221 bye\r\n");
    ck_assert_str_eq(ebuf_str(&t.all), "221 bye|");
    reply_parser_free(&p);
    ebuf_free(&t.all);
}
END_TEST

/* xorshift64: deterministic, so a failure can be reproduced */
static uint64_t rng_state;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

static void check_reply_sane(const reply_parser *p)
{
    const reply *r = &p->reply;
    ck_assert_int_ge(r->code, 200);
    ck_assert_int_le(r->code, 559);
    ck_assert_uint_ge(r->lines, 1);
    ck_assert_uint_le(r->lines, p->max_lines);
    ck_assert_ptr_nonnull(r->text.data);
    ck_assert_uint_eq(strlen(r->text.data), r->text.len);
    ck_assert_uint_lt(strlen(r->enhanced), sizeof r->enhanced);
    if (r->enhanced[0])
        ck_assert_int_eq(r->enhanced[0] - '0', r->code / 100);
}

START_TEST(test_fuzz)
{
    static const char *const seeds[] = {
        "250 OK\r\n", "250-a\r\n250-b\r\n250 c\r\n", "550 5.1.1 no such user\r\n",
        "250 \r\n", "250\n", "354 go\n", "220-x\r\n220 2.0.0 y\r\n", "421 4.4.2 bye\r\n",
    };
    static const char alphabet[] = "0123456789 -.\r\n\0abcXYZ\t\x80\xff";
    enum { ROUNDS = 4000, CAP = 512 };
    char buf[CAP];
    reply_parser p;

    rng_state = 0x9e3779b97f4a7c15u;
    reply_parser_init(&p, 40, 6);
    for (int round = 0; round < ROUNDS; round++) {
        size_t len = 0;
        /* a few seeds back to back, then mutated */
        int n = 1 + (int)(rng() % 5);
        for (int i = 0; i < n; i++) {
            const char *s = seeds[rng() % (sizeof seeds / sizeof seeds[0])];
            size_t sl = strlen(s);
            if (len + sl > CAP)
                break;
            memcpy(buf + len, s, sl);
            len += sl;
        }
        int mutations = (int)(rng() % 6);
        for (int i = 0; i < mutations && len > 0; i++) {
            size_t at = rng() % len;
            switch (rng() % 4) {
            case 0: /* replace with something interesting */
                buf[at] = alphabet[rng() % (sizeof alphabet - 1)];
                break;
            case 1: /* replace with any byte */
                buf[at] = (char)(rng() & 0xff);
                break;
            case 2: /* cut */
                len = at;
                break;
            default: /* insert a run of one character */
                {
                    size_t run = 1 + rng() % 64;
                    if (len + run > CAP)
                        run = CAP - len;
                    memmove(buf + at + run, buf + at, len - at);
                    memset(buf + at, alphabet[rng() % (sizeof alphabet - 1)], run);
                    len += run;
                }
            }
        }
        /* feed in random pieces, as many calls as it takes */
        size_t pos = 0;
        while (pos < len) {
            size_t piece = 1 + rng() % (len - pos);
            size_t used = 12345;
            int rc = reply_parser_feed(&p, buf + pos, piece, &used);
            ck_assert_uint_le(used, piece);
            ck_assert_uint_le(p.line.len, p.max_line + 1);
            if (rc == 1) {
                ck_assert_uint_ge(used, 1);
                check_reply_sane(&p);
            } else if (rc == 0) {
                ck_assert_uint_eq(used, piece);
            } else {
                ck_assert_int_eq(rc, ESMTP_EPROTO);
                ck_assert_ptr_nonnull(p.error);
                reply_parser_reset(&p);
                break;
            }
            pos += used;
        }
        if (rng() % 4 == 0)
            reply_parser_reset(&p);
    }
    reply_parser_free(&p);
}
END_TEST

static Suite *reply_suite(void)
{
    Suite *s = suite_create("reply");
    TCase *tc;

    tc = tcase_create("single_line");
    tcase_add_test(tc, test_single_line);
    tcase_add_test(tc, test_defaults);
    suite_add_tcase(s, tc);

    tc = tcase_create("multi_line");
    tcase_add_test(tc, test_multi_line);
    tcase_add_test(tc, test_multi_line_open);
    suite_add_tcase(s, tc);

    tc = tcase_create("enhanced");
    tcase_add_test(tc, test_enhanced);
    tcase_add_test(tc, test_enhanced_absent_or_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("tolerance");
    tcase_add_test(tc, test_empty_and_no_text);
    tcase_add_test(tc, test_bare_lf);
    suite_add_tcase(s, tc);

    tc = tcase_create("incremental");
    tcase_add_test(tc, test_byte_at_a_time);
    tcase_add_test(tc, test_several_in_one_buffer);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_test(tc, test_line_length_limit);
    tcase_add_test(tc, test_long_line_memory_bounded);
    tcase_add_test(tc, test_too_many_lines);
    suite_add_tcase(s, tc);

    tc = tcase_create("malformed");
    tcase_add_test(tc, test_code_changed);
    tcase_add_test(tc, test_non_digit_code);
    tcase_add_test(tc, test_bad_separator);
    tcase_add_test(tc, test_digit_ranges);
    tcase_add_test(tc, test_nul_byte);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_add_test(tc, test_reset_after_error);
    tcase_add_test(tc, test_on_line);
    suite_add_tcase(s, tc);

    tc = tcase_create("fuzz");
    /* generous, for slow runs under valgrind or sanitizers */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fuzz);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    return run_suite(reply_suite());
}
