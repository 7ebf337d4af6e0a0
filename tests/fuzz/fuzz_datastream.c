/* Fuzz target: the body encoder (lib/datastream.c), differential. With
 * the newline policy, dot-stuffing (off for BDAT) and reject_8bit the input
 * chooses, a body from memory and the same body from a read callback must
 * give the same bytes: those of a reference run with neither restriction,
 * or a prefix of them before an error that is due. The reference has no
 * bare CR or LF, ends with CRLF, and with the stuffing undone is the body
 * with its line ends made CRLF. ds_measure must agree, and the verbatim
 * mode must copy.
 *
 * Input: byte 0 the memory run's output capacity, byte 1 the callback
 * run's (0: a large one), byte 2 the mode (M_* below), byte 3 where the
 * callback fails (0: never, else after 4 * (b - 1) bytes), byte 4 the count
 * n of read sizes (1..8), then n read sizes (0 counts as 1), used in turn;
 * the rest is the body.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "alloc.h"
#include "buf.h"
#include "datastream.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    M_REJECT = 1 << 0,      /* DS_NEWLINE_REJECT */
    M_REJECT_8BIT = 1 << 1,
    M_NO_STUFFING = 1 << 2, /* BDAT */
    M_VERBATIM_CB = 1 << 3, /* the verbatim run reads from the callback */
    M_NOMEM = 1 << 4,       /* and has no memory for its chunk */
    M_OVERREAD = 1 << 5     /* the failing callback claims more than asked */
};

/* A read callback over the body, in the input's piece sizes. */
typedef struct source {
    const uint8_t *data;
    size_t len, pos;
    const uint8_t *sizes;
    size_t nsizes, turn;
    size_t fail_at; /* fail once this many bytes were handed out */
    int overread;   /* fail by claiming more than asked for */
    int eof;
} source;

static long source_read(void *ctx, void *buf, size_t len)
{
    source *s = ctx;
    FZ_CHECK(!s->eof); /* not asked again after the end */
    if (s->pos >= s->fail_at)
        return s->overread ? (long)len + 1 : -1;
    size_t n = s->sizes[s->turn++ % s->nsizes];
    if (n == 0)
        n = 1;
    if (n > len)
        n = len;
    if (n > s->len - s->pos)
        n = s->len - s->pos;
    if (n > s->fail_at - s->pos)
        n = s->fail_at - s->pos;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    s->eof = n == 0;
    return (long)n;
}

typedef struct way {
    int callback;
    int policy;
    int reject_8bit;
    int no_stuffing;
    int verbatim;
    size_t cap;
    size_t fail_at;
    int overread;
} way;

typedef struct result {
    ebuf out;
    int rc; /* 1 when finished, else the error */
    uint64_t in_bytes, out_bytes, stuffed;
} result;

typedef struct body {
    const uint8_t *data;
    size_t len;
    const uint8_t *sizes;
    size_t nsizes;
} body;

static int same(const ebuf *a, const void *b, size_t n)
{
    return a->len == n && (n == 0 || memcmp(a->data, b, n) == 0);
}

static int is_prefix(const ebuf *a, const ebuf *of)
{
    return a->len <= of->len && (a->len == 0 || memcmp(a->data, of->data, a->len) == 0);
}

/* Reads the stream to its end or error through a buffer of exactly cap
 * bytes, so that AddressSanitizer sees any write past it. */
static void run(const body *b, const way *w, result *r)
{
    datastream d;
    source s = {b->data, b->len, 0, b->sizes, b->nsizes, 0, w->fail_at, w->overread, 0};
    if (w->callback)
        ds_init_cb(&d, source_read, &s, w->policy);
    else
        ds_init_mem(&d, b->data, b->len, w->policy);
    d.reject_8bit = w->reject_8bit;
    d.no_stuffing = w->no_stuffing;
    d.verbatim = w->verbatim;

    char *buf = malloc(w->cap);
    FZ_CHECK(buf);
    memset(r, 0, sizeof *r);
    for (;;) {
        size_t got = (size_t)-1;
        int rc = ds_read(&d, buf, w->cap, &got);
        FZ_CHECK(got <= w->cap);
        FZ_CHECK(ebuf_append(&r->out, buf, got) == 0);
        if (rc != 0) {
            r->rc = rc;
            break;
        }
        FZ_CHECK(got == w->cap); /* "more may follow" only with a full buffer */
    }
    /* the end, or the error, is final */
    size_t got = (size_t)-1;
    FZ_CHECK(ds_read(&d, buf, w->cap, &got) == r->rc && got == 0);
    r->in_bytes = d.in_bytes;
    r->out_bytes = d.out_bytes;
    r->stuffed = d.stuffed;
    FZ_CHECK(r->out_bytes == r->out.len);
    free(buf);
    ds_free(&d);
}

/* The body with every CRLF, bare CR and bare LF made CRLF, and CRLF after
 * a last line without a line end. */
static void normalise(const uint8_t *s, size_t n, ebuf *out, int *bare)
{
    int bol = 1;
    *bare = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r' || s[i] == '\n') {
            if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
                i++;
            else
                *bare = 1;
            FZ_CHECK(ebuf_append(out, "\r\n", 2) == 0);
            bol = 1;
        } else {
            FZ_CHECK(ebuf_append(out, s + i, 1) == 0);
            bol = 0;
        }
    }
    if (!bol)
        FZ_CHECK(ebuf_append(out, "\r\n", 2) == 0);
}

static int any_8bit(const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)p)[i] >= 0x80)
            return 1;
    return 0;
}

/* Checks the shape of a complete output and undoes its dot-stuffing into
 * plain; returns the number of dots taken out. */
static uint64_t unstuff(const ebuf *o, int stuffing, ebuf *plain)
{
    uint64_t dots = 0;
    size_t i = 0;
    while (i < o->len) {
        /* every line ends with CRLF and holds no other CR or LF */
        const char *cr = memchr(o->data + i, '\r', o->len - i);
        FZ_CHECK(cr && cr + 1 < o->data + o->len && cr[1] == '\n');
        size_t end = (size_t)(cr - o->data) + 2;
        FZ_CHECK(!memchr(o->data + i, '\n', end - i - 1));
        size_t from = i;
        if (stuffing && o->data[i] == '.') {
            /* a lone "." would end the data early */
            FZ_CHECK(end - i > 3);
            FZ_CHECK(o->data[i + 1] == '.');
            from++;
            dots++;
        }
        FZ_CHECK(ebuf_append(plain, o->data + from, end - from) == 0);
        i = end;
    }
    return dots;
}

static void check_measure(const body *b, const result *ref, int bare, int has8)
{
    uint64_t size = 1;
    int m8 = -1, verbatim = -1;
    FZ_CHECK(ds_measure(b->data, b->len, DS_NEWLINE_NORMALIZE, &size, &m8, &verbatim) == 0);
    FZ_CHECK(size == ref->out_bytes - ref->stuffed && m8 == has8);
    /* verbatim exactly when nothing changes; then the plain copy agrees */
    FZ_CHECK(verbatim == same(&ref->out, b->data, b->len));

    uint64_t rsize = 1;
    int r8 = -1;
    int rc = ds_measure(b->data, b->len, DS_NEWLINE_REJECT, &rsize, &r8, NULL);
    FZ_CHECK(rc == (bare ? ESMTP_EBARENEWLINE : 0));
    if (!bare)
        FZ_CHECK(rsize == size && r8 == has8);
}

/* A reference run, then the input's policy and 8-bit rule from memory and
 * from the callback. */
static void check_mode(const body *b, const ebuf *norm, int bare, int has8, unsigned mode,
                       size_t cap0, size_t cap1, size_t fail_at)
{
    int no_stuffing = (mode & M_NO_STUFFING) != 0;
    result ref;
    way big = {0, DS_NEWLINE_NORMALIZE, 0, no_stuffing, 0, 2 * b->len + 3, (size_t)-1, 0};
    run(b, &big, &ref);
    FZ_CHECK(ref.rc == 1 && ref.in_bytes == b->len);
    FZ_CHECK((ref.out.len == 0) == (b->len == 0));
    ebuf plain = {0};
    uint64_t dots = unstuff(&ref.out, !no_stuffing, &plain);
    FZ_CHECK(same(&plain, norm->data, norm->len));
    FZ_CHECK(ref.stuffed == dots);
    ebuf_free(&plain);
    if (!no_stuffing)
        check_measure(b, &ref, bare, has8);

    int policy = (mode & M_REJECT) ? DS_NEWLINE_REJECT : DS_NEWLINE_NORMALIZE;
    int r8 = (mode & M_REJECT_8BIT) != 0;
    way wm = {0, policy, r8, no_stuffing, 0, cap0, (size_t)-1, 0};
    way wc = {1, policy, r8, no_stuffing, 0, cap1, (size_t)-1, 0};
    result m, c;
    run(b, &wm, &m);
    run(b, &wc, &c);
    FZ_CHECK(m.rc == c.rc);
    int want_bare = policy == DS_NEWLINE_REJECT && bare;
    int want_8bit = r8 && has8;
    if (m.rc == 1) {
        FZ_CHECK(!want_bare && !want_8bit);
        FZ_CHECK(same(&m.out, ref.out.data, ref.out.len));
        FZ_CHECK(same(&c.out, ref.out.data, ref.out.len));
        FZ_CHECK(m.stuffed == ref.stuffed && c.stuffed == ref.stuffed);
        FZ_CHECK(m.in_bytes == b->len && c.in_bytes == b->len);
    } else {
        FZ_CHECK((m.rc == ESMTP_EBARENEWLINE && want_bare) || (m.rc == ESMTP_E8BIT && want_8bit));
        /* what went out before the error is what would have anyway */
        FZ_CHECK(is_prefix(&m.out, &ref.out) && is_prefix(&c.out, &ref.out));
        if (m.rc == ESMTP_E8BIT)
            FZ_CHECK(!any_8bit(m.out.data, m.out.len) && !any_8bit(c.out.data, c.out.len));
    }
    ebuf_free(&m.out);
    ebuf_free(&c.out);

    /* a failing callback (an error, or more than asked): the error ends
     * the stream, after a prefix */
    if (fail_at != (size_t)-1) {
        way wf = {1, DS_NEWLINE_NORMALIZE, 0, no_stuffing, 0, cap1, fail_at,
                  (mode & M_OVERREAD) != 0};
        result f;
        run(b, &wf, &f);
        if (fail_at <= b->len) {
            FZ_CHECK(f.rc == ESMTP_EREAD && f.in_bytes <= fail_at && is_prefix(&f.out, &ref.out));
        } else {
            FZ_CHECK(f.rc == 1 && same(&f.out, ref.out.data, ref.out.len));
        }
        ebuf_free(&f.out);
    }
    ebuf_free(&ref.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    size_t cap0 = data[0] ? data[0] : 4096;
    size_t cap1 = data[1] ? data[1] : 4096;
    unsigned mode = data[2];
    size_t fail_at = data[3] ? 4 * (size_t)(data[3] - 1) : (size_t)-1;
    size_t nsizes = 1 + data[4] % 8;
    if (size < 5 + nsizes)
        return 0;
    body b = {data + 5 + nsizes, size - 5 - nsizes, data + 5, nsizes};

    ebuf norm = {0};
    int bare;
    normalise(b.data, b.len, &norm, &bare);
    check_mode(&b, &norm, bare, any_8bit(b.data, b.len), mode, cap0, cap1, fail_at);
    ebuf_free(&norm);

    /* verbatim (a BINARYMIME body, or one measured as needing nothing):
     * copied as it is, whatever the other settings say; without memory
     * for the callback's chunk: reported, and nothing sent */
    int cb = (mode & M_VERBATIM_CB) != 0, nomem = cb && (mode & M_NOMEM);
    way wv = {cb, DS_NEWLINE_REJECT, 1, 1, 1, cb ? cap1 : cap0, (size_t)-1, 0};
    result v;
    if (nomem)
        mem_fail_at(1); /* the chunk is the stream's first allocation */
    run(&b, &wv, &v);
    mem_fail_at(0);
    if (nomem)
        FZ_CHECK(v.rc == ESMTP_ENOMEM && v.out.len == 0);
    else
        FZ_CHECK(v.rc == 1 && same(&v.out, b.data, b.len) && v.in_bytes == b.len);
    ebuf_free(&v.out);
    return 0;
}
