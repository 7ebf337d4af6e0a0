/* Tests for the data stream (body -> bytes after DATA).
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "datastream.h"
#include "run_suite.h"

/* ------------------------------------------------------------ helpers */

/* ESMTP_TEST_QUICK=1 shrinks the big tests (for valgrind). */
static int quick(void)
{
    const char *q = getenv("ESMTP_TEST_QUICK");
    return q && q[0] == '1';
}

/* Deterministic pseudo-random numbers (xorshift64*). */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* A read callback over a memory body, handing it out in pieces. */
typedef struct feeder {
    const unsigned char *data;
    size_t len, pos;
    size_t step;        /* bytes per call, or the maximum when rng is set */
    uint64_t rng;       /* non-zero: random piece sizes 1..step */
    size_t fail_at;     /* fail once this many bytes were handed out */
    int calls;
    int calls_after_eof;
    int eof;
} feeder;

static long feed(void *ctx, void *buf, size_t len)
{
    feeder *f = ctx;
    f->calls++;
    if (f->eof)
        f->calls_after_eof++;
    if (f->pos >= f->fail_at)
        return -1;
    size_t n = f->rng ? 1 + (size_t)(rnd(&f->rng) % f->step) : f->step;
    if (n > len)
        n = len;
    if (n > f->len - f->pos)
        n = f->len - f->pos;
    if (n > f->fail_at - f->pos)
        n = f->fail_at - f->pos;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    f->eof = n == 0;
    return (long)n;
}

typedef struct opts {
    int policy;
    int reject_8bit;
    size_t cap;     /* output capacity per ds_read */
    size_t step;    /* 0: memory source; else the callback's piece size */
    uint64_t rng;   /* with step: random piece sizes 1..step */
} opts;

typedef struct result {
    ebuf out;
    int rc;         /* 1 when finished, else the error */
    uint64_t in_bytes, out_bytes, stuffed;
} result;

/* Reads d to its end (or error) through an output buffer of exactly cap
 * bytes, so that AddressSanitizer/valgrind catch any write past cap. */
static void drain(datastream *d, size_t cap, result *r)
{
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    memset(r, 0, sizeof *r);
    for (;;) {
        size_t got = (size_t)-1;
        int rc = ds_read(d, buf, cap, &got);
        ck_assert_uint_le(got, cap);
        ck_assert_int_eq(ebuf_append(&r->out, buf, got), 0);
        if (rc != 0) {
            r->rc = rc;
            break;
        }
        ck_assert_uint_eq(got, cap); /* 0 comes only with a full buffer */
    }
    /* The end (or the error) is final. */
    size_t got = (size_t)-1;
    ck_assert_int_eq(ds_read(d, buf, cap, &got), r->rc);
    ck_assert_uint_eq(got, 0);
    r->in_bytes = d->in_bytes;
    r->out_bytes = d->out_bytes;
    r->stuffed = d->stuffed;
    free(buf);
}

static void run(const void *in, size_t len, const opts *o, result *r)
{
    datastream d;
    feeder f = {in, len, 0, o->step, o->rng, (size_t)-1, 0, 0, 0};
    if (o->step)
        ds_init_cb(&d, feed, &f, o->policy);
    else
        ds_init_mem(&d, in, len, o->policy);
    d.reject_8bit = o->reject_8bit;
    drain(&d, o->cap, r);
    ds_free(&d);
    if (o->step)
        ck_assert_int_eq(f.calls_after_eof, 0);
}

/* The bytes as a C-ish literal, for failure messages. */
static const char *show(const void *p, size_t n)
{
    static char s[4][512];
    static int which;
    char *o = s[which++ & 3], *e = o + 512 - 8;
    const unsigned char *b = p;
    char *w = o;
    for (size_t i = 0; i < n && w < e; i++) {
        if (b[i] == '\r')
            w += sprintf(w, "\\r");
        else if (b[i] == '\n')
            w += sprintf(w, "\\n");
        else if (b[i] < 0x20 || b[i] >= 0x7f)
            w += sprintf(w, "\\x%02x", b[i]);
        else
            *w++ = (char)b[i];
    }
    *w = '\0';
    return o;
}

/* Output lines that start with a dot: each got exactly one stuffed dot. */
static uint64_t count_stuffed(const char *s, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' && (i == 0 || s[i - 1] == '\n'))
            k++;
    return k;
}

static int memchr_8bit(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] >= 0x80)
            return 1;
    return 0;
}

static void check_measure(const void *in, size_t len, int policy, uint64_t want_size,
                          int want_8bit)
{
    uint64_t size = 12345;
    int has8 = -1;
    ck_assert_int_eq(ds_measure(in, len, policy, &size, &has8, NULL), 0);
    ck_assert_msg(size == want_size, "measure of \"%s\": %llu, want %llu", show(in, len),
                  (unsigned long long)size, (unsigned long long)want_size);
    ck_assert_int_eq(has8, want_8bit);
}

/* Converts in (len bytes) from memory and through callbacks, with large and
 * tiny output buffers; every way must give want (wlen bytes). */
static void expect_n(const char *in, size_t len, const char *want, size_t wlen)
{
    static const opts ways[] = {
        {DS_NEWLINE_NORMALIZE, 0, 4096, 0, 0},
        {DS_NEWLINE_NORMALIZE, 0, 8, 0, 0},
        {DS_NEWLINE_NORMALIZE, 0, 1, 0, 0},
        {DS_NEWLINE_NORMALIZE, 0, 4096, 1, 0},
        {DS_NEWLINE_NORMALIZE, 0, 8, 1, 0},
        {DS_NEWLINE_NORMALIZE, 0, 9, 3, 0},
        {DS_NEWLINE_NORMALIZE, 0, 4096, 2, 0},
        {DS_NEWLINE_NORMALIZE, 0, 8, 5, 77},
    };
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        result r;
        run(in, len, &ways[i], &r);
        ck_assert_msg(r.rc == 1, "\"%s\" way %zu: rc %d", show(in, len), i, r.rc);
        ck_assert_msg(r.out.len == wlen && memcmp(ebuf_str(&r.out), want, wlen) == 0,
                      "\"%s\" way %zu: got \"%s\", want \"%s\"", show(in, len), i,
                      show(r.out.data, r.out.len), show(want, wlen));
        ck_assert_uint_eq(r.in_bytes, len);
        ck_assert_uint_eq(r.out_bytes, wlen);
        ck_assert_uint_eq(r.stuffed, count_stuffed(want, wlen));
        ebuf_free(&r.out);
    }
    check_measure(in, len, DS_NEWLINE_NORMALIZE, wlen - count_stuffed(want, wlen),
                  memchr_8bit(in, len));
}

static void expect(const char *in, const char *want)
{
    expect_n(in, strlen(in), want, strlen(want));
}

/* Converts in with policy DS_NEWLINE_REJECT in several ways; all must
 * fail with ESMTP_EBARENEWLINE. */
static void expect_bare(const char *in)
{
    size_t len = strlen(in);
    static const opts ways[] = {
        {DS_NEWLINE_REJECT, 0, 4096, 0, 0},
        {DS_NEWLINE_REJECT, 0, 8, 0, 0},
        {DS_NEWLINE_REJECT, 0, 4096, 1, 0},
        {DS_NEWLINE_REJECT, 0, 8, 4, 5},
    };
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        result r;
        run(in, len, &ways[i], &r);
        ck_assert_msg(r.rc == ESMTP_EBARENEWLINE, "\"%s\" way %zu: rc %d, want EBARENEWLINE",
                      show(in, len), i, r.rc);
        ebuf_free(&r.out);
    }
    uint64_t size;
    int has8;
    ck_assert_int_eq(ds_measure(in, len, DS_NEWLINE_REJECT, &size, &has8, NULL),
                     ESMTP_EBARENEWLINE);
}

/* ------------------------------------------------------------ tests */

START_TEST(test_crlf_unchanged)
{
    expect("a\r\n", "a\r\n");
    expect("Subject: hi\r\n\r\nHello,\r\nworld.\r\n", "Subject: hi\r\n\r\nHello,\r\nworld.\r\n");
    expect("\r\n", "\r\n");
    expect("\r\n\r\n\r\n", "\r\n\r\n\r\n");
    expect("a.b\r\n x.\r\n", "a.b\r\n x.\r\n");
}
END_TEST

START_TEST(test_newlines_normalised)
{
    expect("a\nb\n", "a\r\nb\r\n");
    expect("a\rb\r", "a\r\nb\r\n");
    expect("a\r\nb\nc\rd\r\n", "a\r\nb\r\nc\r\nd\r\n");
    expect("\n", "\r\n");
    expect("\r", "\r\n");
    expect("\n\n", "\r\n\r\n");
    expect("\r\r", "\r\n\r\n");
    expect("\n\r", "\r\n\r\n");         /* LF then CR: two bare line ends */
    expect("\r\r\n", "\r\n\r\n");       /* bare CR, then CRLF */
    expect("a\r\n\nb", "a\r\n\r\nb\r\n");
    expect("x\n\r\ny", "x\r\n\r\ny\r\n");
}
END_TEST

START_TEST(test_dot_stuffing)
{
    expect(".a\r\n", "..a\r\n");                       /* first line */
    expect("a\r\n.b\r\nc\r\n", "a\r\n..b\r\nc\r\n");   /* middle line */
    expect(".", "..\r\n");                             /* a body of just "." */
    expect(".\r\n", "..\r\n");
    expect("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n");     /* ".\r\n" inside */
    expect("a\r\n.\r\n", "a\r\n..\r\n");
    expect("\r\n.\r\n", "\r\n..\r\n");
    expect("..\r\n", "...\r\n");
    expect(".\r\n.\r\n.\r\n", "..\r\n..\r\n..\r\n");
    expect("a.\r\n.b.\r\n", "a.\r\n..b.\r\n");
    /* smuggling-style sequences with bare line ends */
    expect("\n.\n", "\r\n..\r\n");
    expect("a\n.\nb", "a\r\n..\r\nb\r\n");
    expect("a\r.\r", "a\r\n..\r\n");
    expect("a\r\n.\n", "a\r\n..\r\n");
    expect("a\n.\r\n", "a\r\n..\r\n");
    expect("a\r.\r\nb", "a\r\n..\r\nb\r\n");
}
END_TEST

START_TEST(test_final_crlf)
{
    expect("abc", "abc\r\n");
    expect("a\r\nb", "a\r\nb\r\n");
    expect("a\r\n.", "a\r\n..\r\n");
    /* a bare line end at the very end gives one CRLF, not two */
    expect("abc\n", "abc\r\n");
    expect("abc\r", "abc\r\n");
}
END_TEST

START_TEST(test_empty_body)
{
    expect("", "");
    /* memory source without a buffer */
    datastream d;
    result r;
    ds_init_mem(&d, NULL, 0, DS_NEWLINE_NORMALIZE);
    drain(&d, 8, &r);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_uint_eq(r.out.len, 0);
    ck_assert_uint_eq(r.out_bytes, 0);
    ds_free(&d);
    ebuf_free(&r.out);
    /* a callback with nothing to give is asked exactly once */
    feeder f = {(const unsigned char *)"", 0, 0, 100, 0, (size_t)-1, 0, 0, 0};
    ds_init_cb(&d, feed, &f, DS_NEWLINE_REJECT);
    drain(&d, 8, &r);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_uint_eq(r.out.len, 0);
    ck_assert_int_eq(f.calls, 1);
    ds_free(&d);
    ds_free(&d); /* twice is harmless */
    ebuf_free(&r.out);

    uint64_t size = 99;
    int has8 = -1;
    ck_assert_int_eq(ds_measure(NULL, 0, DS_NEWLINE_REJECT, &size, &has8, NULL), 0);
    ck_assert_uint_eq(size, 0);
    ck_assert_int_eq(has8, 0);
}
END_TEST

START_TEST(test_reject_policy)
{
    expect_bare("a\nb\r\n");
    expect_bare("a\rb\r\n");
    expect_bare("a\r\nb\n");
    expect_bare("abc\r");   /* a CR at the very end is bare */
    expect_bare("\n");
    expect_bare("\r");
    expect_bare("a\r\r\n");
    expect_bare("a\n\r");

    /* clean CRLF passes, also when CR and LF arrive in different reads */
    static const char clean[] = ".a\r\n\r\nb\r\n.\r\nc";
    static const opts ways[] = {
        {DS_NEWLINE_REJECT, 0, 4096, 0, 0},
        {DS_NEWLINE_REJECT, 0, 8, 1, 0},
        {DS_NEWLINE_REJECT, 0, 4096, 3, 0},
    };
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        result r;
        run(clean, strlen(clean), &ways[i], &r);
        ck_assert_int_eq(r.rc, 1);
        ck_assert_str_eq(ebuf_str(&r.out), "..a\r\n\r\nb\r\n..\r\nc\r\n");
        ebuf_free(&r.out);
    }
    uint64_t size;
    int has8;
    ck_assert_int_eq(ds_measure(clean, strlen(clean), DS_NEWLINE_REJECT, &size, &has8, NULL), 0);
    ck_assert_uint_eq(size, strlen(clean) + 2);
}
END_TEST

START_TEST(test_split_crlf)
{
    /* CR at the end of one read and LF at the start of the next is CRLF */
    static const char *bodies[] = {
        "a\r\nb\r\n", "\r\n", "\r\n.\r\n", "ab\r\n\r\n.x\r\n", "a\r", "a\r\r\n\n.\r.",
    };
    for (size_t b = 0; b < sizeof bodies / sizeof bodies[0]; b++) {
        const char *in = bodies[b];
        opts mem = {DS_NEWLINE_NORMALIZE, 0, 4096, 0, 0};
        result want;
        run(in, strlen(in), &mem, &want);
        for (size_t step = 1; step <= 4; step++) {
            opts cb = {DS_NEWLINE_NORMALIZE, 0, 4096, step, 0};
            result r;
            run(in, strlen(in), &cb, &r);
            ck_assert_int_eq(r.rc, 1);
            ck_assert_msg(r.out.len == want.out.len &&
                          memcmp(ebuf_str(&r.out), ebuf_str(&want.out), r.out.len) == 0,
                          "\"%s\" step %zu: \"%s\" vs \"%s\"", show(in, strlen(in)), step,
                          show(r.out.data, r.out.len), show(want.out.data, want.out.len));
            ebuf_free(&r.out);
        }
        ebuf_free(&want.out);
    }
    expect("a\r\nb\r\n", "a\r\nb\r\n"); /* with step 1 among its ways */
}
END_TEST

START_TEST(test_tiny_capacity)
{
    /* lots of expansion: every byte may become two */
    static const char in[] = "\n\n\n.\n.\n..\r\r\r.a\n.b\rccccccccccccccc\n.";
    opts big = {DS_NEWLINE_NORMALIZE, 0, 4096, 0, 0};
    result want;
    run(in, strlen(in), &big, &want);
    ck_assert_int_eq(want.rc, 1);
    for (size_t cap = 1; cap <= 16; cap++) {
        for (size_t step = 0; step <= 3; step++) {
            opts o = {DS_NEWLINE_NORMALIZE, 0, cap, step, 0};
            result r;
            run(in, strlen(in), &o, &r);
            ck_assert_int_eq(r.rc, 1);
            ck_assert_msg(r.out.len == want.out.len &&
                          memcmp(ebuf_str(&r.out), ebuf_str(&want.out), r.out.len) == 0,
                          "cap %zu step %zu: \"%s\"", cap, step, show(r.out.data, r.out.len));
            ck_assert_uint_eq(r.stuffed, want.stuffed);
            ebuf_free(&r.out);
        }
    }
    ebuf_free(&want.out);
}
END_TEST

START_TEST(test_callback_error)
{
    static const char in[] = "line one\r\nline two\r\n";
    for (size_t at = 0; at <= 10; at += 5) {
        datastream d;
        result r;
        feeder f = {(const unsigned char *)in, strlen(in), 0, 3, 0, at, 0, 0, 0};
        ds_init_cb(&d, feed, &f, DS_NEWLINE_NORMALIZE);
        drain(&d, 8, &r);
        ck_assert_int_eq(r.rc, ESMTP_EREAD);
        ck_assert_uint_le(r.in_bytes, at);
        int calls = f.calls;
        size_t got;
        char buf[8];
        ck_assert_int_eq(ds_read(&d, buf, sizeof buf, &got), ESMTP_EREAD);
        ck_assert_int_eq(f.calls, calls); /* the failed callback is not asked again */
        ds_free(&d);
        ebuf_free(&r.out);
    }
}
END_TEST

START_TEST(test_8bit)
{
    static const char in[] = "caf\xc3\xa9\r\n";
    opts o = {DS_NEWLINE_NORMALIZE, 1, 4096, 0, 0};
    result r;
    run(in, strlen(in), &o, &r);
    ck_assert_int_eq(r.rc, ESMTP_E8BIT);
    ebuf_free(&r.out);
    o.step = 2;
    run(in, strlen(in), &o, &r);
    ck_assert_int_eq(r.rc, ESMTP_E8BIT);
    ebuf_free(&r.out);
    /* 8-bit on a later line, after clean output */
    static const char late[] = "one\r\ntwo\r\nthr\x80\r\n";
    o.step = 0;
    o.cap = 8;
    run(late, strlen(late), &o, &r);
    ck_assert_int_eq(r.rc, ESMTP_E8BIT);
    ebuf_free(&r.out);

    /* allowed: passes unchanged */
    expect(in, in);
    check_measure(in, strlen(in), DS_NEWLINE_NORMALIZE, strlen(in), 1);
    check_measure(".\x80", 2, DS_NEWLINE_NORMALIZE, 4, 1);

    /* 7-bit passes with reject_8bit */
    o.reject_8bit = 1;
    run("plain\r\n", 7, &o, &r);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(ebuf_str(&r.out), "plain\r\n");
    ebuf_free(&r.out);
}
END_TEST

START_TEST(test_counters)
{
    static const char in[] = ".a\nb\r\n..\r\n.";
    opts o = {DS_NEWLINE_NORMALIZE, 0, 8, 2, 0};
    result r;
    run(in, strlen(in), &o, &r);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(ebuf_str(&r.out), "..a\r\nb\r\n...\r\n..\r\n");
    ck_assert_uint_eq(r.in_bytes, strlen(in));
    ck_assert_uint_eq(r.out_bytes, strlen("..a\r\nb\r\n...\r\n..\r\n"));
    ck_assert_uint_eq(r.stuffed, 3);
    ebuf_free(&r.out);
}
END_TEST

START_TEST(test_measure_matches_read)
{
    static const char *bodies[] = {
        "", "a", "a\r\n", "a\n", "a\r", ".", ".\r\n", "\n.\n", "..\n..\r..\r\n",
        "x\r\n.\r\n", "\r\r\n\n\r", "hello\r\nworld", ".\r\n.\r\n.",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        const char *in = bodies[i];
        opts o = {DS_NEWLINE_NORMALIZE, 0, 4096, 0, 0};
        result r;
        run(in, strlen(in), &o, &r);
        check_measure(in, strlen(in), DS_NEWLINE_NORMALIZE, r.out_bytes - r.stuffed, 0);
        ebuf_free(&r.out);
    }
}
END_TEST

/* Only a body that would go out unchanged is verbatim, and the plain copy
 * then gives exactly what the converter gives. */
START_TEST(test_verbatim)
{
    static const struct {
        const char *body;
        int verbatim;
    } cases[] = {
        {"", 1}, {"a\r\n", 1}, {"Subject: x\r\n\r\nbody\r\nx.y\r\n", 1},
        {"a", 0}, {"a\n", 0}, {"a\r", 0}, {".x\r\n", 0}, {"a\r\n.\r\n", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *in = cases[i].body;
        size_t len = strlen(in);
        uint64_t size;
        int has8, verbatim;
        ck_assert_int_eq(ds_measure(in, len, DS_NEWLINE_NORMALIZE, &size, &has8, &verbatim), 0);
        ck_assert_int_eq(verbatim, cases[i].verbatim);
        if (!verbatim)
            continue;
        datastream d;
        char out[64];
        size_t n, total = 0;
        int rc;
        ds_init_mem(&d, in, len, DS_NEWLINE_NORMALIZE);
        d.verbatim = 1;
        do {
            rc = ds_read(&d, out + total, 3, &n); /* small steps */
            total += n;
        } while (rc == 0);
        ck_assert_int_eq(rc, 1);
        ck_assert_uint_eq(total, len);
        ck_assert(memcmp(out, in, len) == 0);
        ck_assert_uint_eq(d.out_bytes, len);
        ds_free(&d);
    }
}
END_TEST

/* A body of repeated lines produced on the fly, so no copy of it exists. */
typedef struct gen {
    char block[4200];
    size_t blen;
    uint64_t total, pos;
} gen;

static long gen_read(void *ctx, void *buf, size_t len)
{
    gen *g = ctx;
    if (len > 12289) /* short reads of an odd size move the chunk boundaries */
        len = 12289;
    if (len > g->total - g->pos)
        len = (size_t)(g->total - g->pos);
    char *w = buf;
    for (size_t done = 0; done < len;) {
        size_t off = (size_t)(g->pos % g->blen);
        size_t n = g->blen - off < len - done ? g->blen - off : len - done;
        memcpy(w + done, g->block + off, n);
        done += n;
        g->pos += n;
    }
    return (long)len;
}

START_TEST(test_large_stream)
{
    static const char *lines[] = {
        "From the large body test: a line of ordinary text that goes on\n",
        ".a line starting with a dot\n",
        "\n",
        "short\n",
    };
    gen *g = calloc(1, sizeof *g);
    ck_assert_ptr_nonnull(g);
    uint64_t lf = 0, dots = 0;
    for (size_t i = 0; g->blen + 100 < sizeof g->block; i++) {
        const char *l = lines[i % 4];
        memcpy(g->block + g->blen, l, strlen(l));
        g->blen += strlen(l);
        lf++;
        dots += l[0] == '.';
    }
    uint64_t mb = quick() ? 20 : 200;
    uint64_t reps = mb * 1000000 / g->blen;
    g->total = reps * g->blen;

    datastream d;
    ds_init_cb(&d, gen_read, g, DS_NEWLINE_NORMALIZE);
    static char out[65536];
    size_t got = 0;
    int rc;
    char last[2] = {0, 0}; /* the last two bytes of the output */
    do {
        rc = ds_read(&d, out, sizeof out, &got);
        for (size_t i = got > 2 ? got - 2 : 0; i < got; i++) {
            last[0] = last[1];
            last[1] = out[i];
        }
    } while (rc == 0);
    ck_assert_int_eq(rc, 1);
    ck_assert(last[0] == '\r' && last[1] == '\n');
    ck_assert_uint_eq(d.in_bytes, g->total);
    ck_assert_uint_eq(d.stuffed, reps * dots);
    ck_assert_uint_eq(d.out_bytes, g->total + reps * (lf + dots));
    ds_free(&d);
    free(g);
}
END_TEST

/* Long bodies with a single kind of line end, from memory with a large
 * output buffer: the search for the other kind must not make this slow. */
START_TEST(test_large_single_newline_kind)
{
    size_t n = 8 * 1000 * 1000;
    char *body = malloc(n);
    ck_assert_ptr_nonnull(body);
    size_t cap = 1 << 20;
    char *out = malloc(cap);
    ck_assert_ptr_nonnull(out);
    for (int kind = 0; kind < 2; kind++) {
        char nl = kind ? '\r' : '\n';
        for (size_t i = 0; i < n; i++)
            body[i] = i % 40 == 39 ? nl : 'x';
        datastream d;
        ds_init_mem(&d, body, n, DS_NEWLINE_NORMALIZE);
        size_t got;
        int rc;
        while ((rc = ds_read(&d, out, cap, &got)) == 0)
            ;
        ck_assert_int_eq(rc, 1);
        ck_assert_uint_eq(d.out_bytes, n + n / 40);
        uint64_t size;
        int has8;
        ck_assert_int_eq(ds_measure(body, n, DS_NEWLINE_NORMALIZE, &size, &has8, NULL), 0);
        ck_assert_uint_eq(size, n + n / 40);
        ds_free(&d);
    }
    free(out);
    free(body);
}
END_TEST

/* A straightforward byte-at-a-time model of the rules, as the oracle. */
static void model(const unsigned char *in, size_t n, ebuf *out, int *bare, int *has8)
{
    int bol = 1;
    *bare = *has8 = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < n && in[i + 1] == '\n')
                i++;
            else
                *bare = 1;
            ebuf_append(out, "\r\n", 2);
            bol = 1;
            continue;
        }
        if (bol && c == '.')
            ebuf_append(out, ".", 1);
        if (c >= 0x80)
            *has8 = 1;
        ebuf_append(out, &c, 1);
        bol = 0;
    }
    if (!bol)
        ebuf_append(out, "\r\n", 2);
}

static void check_output_shape(const ebuf *b, int iter)
{
    const char *s = ebuf_str(b);
    for (size_t i = 0; i < b->len; i++) {
        if (s[i] == '\r')
            ck_assert_msg(i + 1 < b->len && s[i + 1] == '\n', "iter %d: bare CR at %zu", iter, i);
        if (s[i] == '\n')
            ck_assert_msg(i > 0 && s[i - 1] == '\r', "iter %d: bare LF at %zu", iter, i);
        /* no line that is "." alone: that would end the data early */
        if (s[i] == '.' && (i == 0 || s[i - 1] == '\n'))
            ck_assert_msg(!(i + 1 < b->len && s[i + 1] == '\r'), "iter %d: lone dot at %zu",
                          iter, i);
    }
    if (b->len)
        ck_assert_msg(b->len >= 2 && s[b->len - 2] == '\r' && s[b->len - 1] == '\n',
                      "iter %d: no final CRLF", iter);
}

static void assert_same(const result *r, const ebuf *want, int iter, const char *what)
{
    ck_assert_msg(r->rc == 1, "iter %d %s: rc %d", iter, what, r->rc);
    ck_assert_msg(r->out.len == want->len && memcmp(ebuf_str(&r->out), ebuf_str(want),
                                                    want->len) == 0,
                  "iter %d %s: \"%s\" vs \"%s\"", iter, what, show(r->out.data, r->out.len),
                  show(want->data, want->len));
    ck_assert_uint_eq(r->out_bytes, want->len);
}

START_TEST(test_random_property)
{
    static const unsigned char alphabet[] = {'a', '.', '\r', '\n', 0x80};
    uint64_t seed = 0x5eed1234abcdULL;
    unsigned char body[400];
    int iters = quick() ? 600 : 3000;
    for (int iter = 0; iter < iters; iter++) {
        size_t len = (size_t)(rnd(&seed) % (iter % 10 == 0 ? 400 : 40));
        for (size_t i = 0; i < len; i++)
            body[i] = alphabet[rnd(&seed) % sizeof alphabet];
        ebuf want = {0};
        int bare, has8;
        model(body, len, &want, &bare, &has8);
        check_output_shape(&want, iter);
        uint64_t stuffed = count_stuffed(ebuf_str(&want), want.len);

        result r;
        opts mem = {DS_NEWLINE_NORMALIZE, 0, 1024, 0, 0};
        run(body, len, &mem, &r);
        assert_same(&r, &want, iter, "memory");
        check_output_shape(&r.out, iter);
        ck_assert_uint_eq(r.in_bytes, len);
        ck_assert_uint_eq(r.stuffed, stuffed);
        ebuf_free(&r.out);

        opts cb = {DS_NEWLINE_NORMALIZE, 0, 0, 0, seed | 1};
        cb.cap = 1 + (size_t)(rnd(&seed) % 40);
        cb.step = 1 + (size_t)(rnd(&seed) % 20);
        run(body, len, &cb, &r);
        assert_same(&r, &want, iter, "callback");
        ck_assert_uint_eq(r.in_bytes, len);
        ck_assert_uint_eq(r.stuffed, stuffed);
        ebuf_free(&r.out);

        opts memcap = {DS_NEWLINE_NORMALIZE, 0, 1 + (size_t)(rnd(&seed) % 40), 0, 0};
        run(body, len, &memcap, &r);
        assert_same(&r, &want, iter, "memory, small cap");
        ebuf_free(&r.out);

        /* reject policy: fails exactly when there is a bare line end */
        cb.policy = DS_NEWLINE_REJECT;
        cb.rng = seed | 1;
        run(body, len, &cb, &r);
        if (bare)
            ck_assert_msg(r.rc == ESMTP_EBARENEWLINE, "iter %d: rc %d", iter, r.rc);
        else
            assert_same(&r, &want, iter, "reject policy");
        ebuf_free(&r.out);

        /* reject_8bit: fails exactly when there is an 8-bit byte */
        mem.reject_8bit = 1;
        mem.cap = 1 + (size_t)(rnd(&seed) % 40);
        run(body, len, &mem, &r);
        if (has8)
            ck_assert_msg(r.rc == ESMTP_E8BIT, "iter %d: rc %d", iter, r.rc);
        else
            assert_same(&r, &want, iter, "reject_8bit");
        ebuf_free(&r.out);

        uint64_t size;
        int m8;
        ck_assert_int_eq(ds_measure(body, len, DS_NEWLINE_NORMALIZE, &size, &m8, NULL), 0);
        ck_assert_uint_eq(size, want.len - stuffed);
        ck_assert_int_eq(m8, has8);
        ck_assert_int_eq(ds_measure(body, len, DS_NEWLINE_REJECT, &size, &m8, NULL),
                         bare ? ESMTP_EBARENEWLINE : 0);
        ebuf_free(&want);
    }
}
END_TEST

static Suite *datastream_suite(void)
{
    Suite *s = suite_create("datastream");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_crlf_unchanged);
    tcase_add_test(tc, test_newlines_normalised);
    tcase_add_test(tc, test_dot_stuffing);
    tcase_add_test(tc, test_final_crlf);
    tcase_add_test(tc, test_empty_body);
    tcase_add_test(tc, test_reject_policy);
    tcase_add_test(tc, test_split_crlf);
    tcase_add_test(tc, test_tiny_capacity);
    tcase_add_test(tc, test_callback_error);
    tcase_add_test(tc, test_8bit);
    tcase_add_test(tc, test_counters);
    tcase_add_test(tc, test_measure_matches_read);
    tcase_add_test(tc, test_verbatim);
    tcase_add_test(tc, test_random_property);
    suite_add_tcase(s, tc);

    TCase *big = tcase_create("large");
    tcase_set_timeout(big, 120); /* generous for sanitizer and valgrind builds */
    tcase_add_test(big, test_large_stream);
    tcase_add_test(big, test_large_single_newline_kind);
    suite_add_tcase(s, big);
    return s;
}

int main(void)
{
    return run_suite(datastream_suite());
}
