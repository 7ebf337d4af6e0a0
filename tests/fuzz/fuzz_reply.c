/* Fuzz target: the reply parser (lib/reply.c), differential. The same bytes
 * are fed whole and in pieces whose sizes the input chooses; both must give
 * the same replies and the same error at the same place, and every reply
 * must keep the parser's contract (lib/reply.h).
 *
 * Input: byte 0 max_line (0: the default), byte 1 max_lines (0: the
 * default), byte 2 the count n of piece sizes (1..8), then n piece sizes
 * (0 feeds an empty piece), used in turn; the rest is the server's bytes.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "fuzz_common.h"
#include "reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one way of feeding saw: the replies and the error, serialised so
 * that two ways compare with one memcmp. */
typedef struct outcome {
    ebuf log;
    ebuf raw; /* the current reply's raw lines (from on_line), '\n'-joined */
    size_t raw_lines;
} outcome;

static void log_bytes(outcome *o, const void *p, size_t n)
{
    FZ_CHECK(ebuf_append(&o->log, &n, sizeof n) == 0);
    FZ_CHECK(ebuf_append(&o->log, p, n) == 0);
}

static void on_line(void *ctx, const char *line, size_t len)
{
    outcome *o = ctx;
    FZ_CHECK(!memchr(line, '\n', len));
    if (o->raw_lines++)
        FZ_CHECK(ebuf_append(&o->raw, "\n", 1) == 0);
    FZ_CHECK(ebuf_append(&o->raw, line, len) == 0);
}

static int digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of a run of 1..3 digits at s, or 0. */
static size_t digits13(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && i < 4 && digit(s[i]))
        i++;
    return i <= 3 ? i : 0;
}

/* The enhanced code is "c.d{1,3}.d{1,3}" with c the reply's class, not 3. */
static void check_enhanced(const char *e, int code)
{
    size_t n = strlen(e);
    if (n == 0)
        return;
    FZ_CHECK(n >= 5 && e[0] - '0' == code / 100 && e[0] != '3' && e[1] == '.');
    size_t i = 2, d = digits13(e + i, n - i);
    FZ_CHECK(d);
    i += d;
    FZ_CHECK(i < n && e[i] == '.');
    i++;
    d = digits13(e + i, n - i);
    FZ_CHECK(d && i + d == n);
}

/* One text line against its raw line: "DDD" / "DDD-" / "DDD " with the
 * reply's code, then (after an enhanced code of the reply's class that the
 * parser took off) exactly the text. */
static void check_line(const char *raw, size_t rn, const char *text, size_t tn, int code,
                       int last)
{
    FZ_CHECK(rn >= 3 && (raw[0] - '0') * 100 + (raw[1] - '0') * 10 + (raw[2] - '0') == code);
    FZ_CHECK(rn == 3 ? last : raw[3] == (last ? ' ' : '-'));
    const char *rest = rn > 3 ? raw + 4 : raw + rn;
    size_t restn = rn > 3 ? rn - 4 : 0;
    FZ_CHECK(tn <= restn && memcmp(rest + restn - tn, text, tn) == 0);
    size_t cut = restn - tn;
    if (cut) {
        /* what was taken off is an enhanced code and its space, which only
         * an empty text may lack */
        char code_only[16];
        size_t clen = rest[cut - 1] == ' ' ? cut - 1 : cut;
        FZ_CHECK(clen < sizeof code_only && (!tn || clen < cut));
        memcpy(code_only, rest, clen);
        code_only[clen] = '\0';
        check_enhanced(code_only, code);
    }
}

static void check_reply(const reply_parser *p, outcome *o)
{
    const reply *r = &p->reply;
    FZ_CHECK(r->code / 100 >= 2 && r->code / 100 <= 5 && r->code / 10 % 10 <= 5);
    FZ_CHECK(r->lines >= 1 && r->lines <= p->max_lines && r->lines == o->raw_lines);
    FZ_CHECK(memchr(r->enhanced, '\0', sizeof r->enhanced));
    check_enhanced(r->enhanced, r->code);
    FZ_CHECK(r->text.data && strlen(r->text.data) == r->text.len);
    FZ_CHECK(r->text.len <= r->lines * (p->max_line + 1));

    /* text: one line per raw line, joined by '\n' and nothing else */
    const char *t = r->text.data, *tend = t + r->text.len;
    const char *w = o->raw.data, *wend = w + o->raw.len;
    for (size_t i = 0; i < r->lines; i++) {
        const char *tnl = memchr(t, '\n', (size_t)(tend - t));
        const char *wnl = memchr(w, '\n', (size_t)(wend - w));
        const char *te = tnl ? tnl : tend, *we = wnl ? wnl : wend;
        FZ_CHECK((tnl == NULL) == (i + 1 == r->lines) && (wnl == NULL) == (i + 1 == r->lines));
        check_line(w, (size_t)(we - w), t, (size_t)(te - t), r->code, i + 1 == r->lines);
        t = te + (tnl != NULL);
        w = we + (wnl != NULL);
    }
    /* the enhanced code comes from the first line only */
    if (r->enhanced[0])
        FZ_CHECK(strncmp(o->raw.data + 4, r->enhanced, strlen(r->enhanced)) == 0);

    log_bytes(o, &r->code, sizeof r->code);
    log_bytes(o, r->enhanced, strlen(r->enhanced));
    log_bytes(o, r->text.data, r->text.len);
    log_bytes(o, &r->lines, sizeof r->lines);
    ebuf_clear(&o->raw);
    o->raw_lines = 0;
}

/* Where an error was: the start of the line that holds the first byte the
 * parser did not take. */
static size_t line_start(const uint8_t *s, size_t at)
{
    while (at > 0 && s[at - 1] != '\n')
        at--;
    return at;
}

static void check_error(reply_parser *p, outcome *o, int rc, const uint8_t *s, size_t at)
{
    FZ_CHECK(rc == ESMTP_EPROTO && p->error);
    size_t where = line_start(s, at);
    log_bytes(o, &where, sizeof where);
    log_bytes(o, p->error, strlen(p->error));
    /* fed again without a reset, it fails the same way and takes nothing */
    const char *why = p->error;
    size_t used = 1;
    FZ_CHECK(reply_parser_feed(p, "250 ok\r\n", 8, &used) == rc && used == 0 && p->error == why);
}

/* Feeds s[0, len) in pieces: sizes[i % nsizes] bytes at a time, or all of
 * it in one piece when nsizes is 0. */
static void run(const uint8_t *s, size_t len, size_t max_line, size_t max_lines,
                const uint8_t *sizes, size_t nsizes, outcome *o)
{
    reply_parser p;
    reply_parser_init(&p, max_line, max_lines);
    p.on_line = on_line;
    p.on_line_ctx = o;
    size_t pos = 0, turn = 0;
    int stop = 0;
    while (!stop && pos < len) {
        size_t piece = nsizes ? sizes[turn++ % nsizes] : len;
        if (piece > len - pos)
            piece = len - pos;
        size_t off = 0;
        /* a piece may hold several replies: feed until it is used up */
        do {
            size_t used = (size_t)-1;
            int rc = reply_parser_feed(&p, (const char *)s + pos + off, piece - off, &used);
            FZ_CHECK(used <= piece - off);
            /* memory stays bounded: ebuf starts at 64 bytes and doubles */
            FZ_CHECK(p.line.len <= p.max_line + 1 &&
                  (p.line.cap <= 64 || p.line.cap <= 2 * (p.max_line + 2)));
            if (rc < 0) {
                check_error(&p, o, rc, s, pos + off + used);
                stop = 1;
                break;
            }
            off += used;
            if (rc == 1) {
                FZ_CHECK(used >= 1 && s[pos + off - 1] == '\n' && !p.in_reply && p.line.len == 0);
                check_reply(&p, o);
            } else {
                FZ_CHECK(rc == 0 && off == piece);
            }
        } while (off < piece);
        pos += piece;
    }
    /* whatever is left open is part of the outcome too */
    if (!stop) {
        log_bytes(o, &p.in_reply, sizeof p.in_reply);
        log_bytes(o, &p.line.len, sizeof p.line.len);
    }
    reply_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t max_line = data[0], max_lines = data[1];
    size_t nsizes = 1 + data[2] % 8;
    if (size < 3 + nsizes)
        return 0;
    const uint8_t *sizes = data + 3, *s = data + 3 + nsizes;
    size_t len = size - 3 - nsizes;
    /* all-empty pieces would never move on */
    int any = 0;
    for (size_t i = 0; i < nsizes; i++)
        any |= sizes[i] != 0;
    if (!any)
        return 0;

    outcome whole = {{0}, {0}, 0}, split = {{0}, {0}, 0};
    run(s, len, max_line, max_lines, NULL, 0, &whole);
    run(s, len, max_line, max_lines, sizes, nsizes, &split);
    FZ_CHECK(whole.log.len == split.log.len &&
          memcmp(whole.log.data, split.log.data, whole.log.len) == 0);
    ebuf_free(&whole.log);
    ebuf_free(&whole.raw);
    ebuf_free(&split.log);
    ebuf_free(&split.raw);
    return 0;
}
