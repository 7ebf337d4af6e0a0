/* Data stream: message body to the bytes sent after DATA (RFC 5321 4.5.2,
 * 2.3.8). SPDX-License-Identifier: MIT */
#include "datastream.h"

#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "alloc.h"

void ds_init_mem(datastream *d, const void *data, size_t len, int policy)
{
    memset(d, 0, sizeof *d);
    /* never NULL, so that pointer arithmetic on it stays defined */
    d->mem = data ? data : (const void *)"";
    d->mem_len = len;
    d->next_cr = d->next_lf = d->mem;
    d->policy = policy;
    d->at_line_start = 1;
}

void ds_init_cb(datastream *d, ds_read_fn fn, void *ctx, int policy)
{
    memset(d, 0, sizeof *d);
    d->fn = fn;
    d->fn_ctx = ctx;
    d->policy = policy;
    d->at_line_start = 1;
}

void ds_free(datastream *d)
{
    free(d->chunk);
    d->chunk = NULL;
}

/* Points [*p, *end) at the unread input, pulling the next chunk from the
 * callback once the current one is used up. *p == *end at the end. */
static int ds_fill(datastream *d, const unsigned char **p, const unsigned char **end)
{
    if (!d->fn) {
        *p = d->mem + d->mem_pos;
        *end = d->mem + d->mem_len;
        return 0;
    }
    if (d->chunk_pos == d->chunk_len && !d->src_eof) {
        if (!d->chunk && !(d->chunk = mem_malloc(DS_CHUNK)))
            return ESMTP_ENOMEM;
        long n = d->fn(d->fn_ctx, d->chunk, DS_CHUNK);
        if (n < 0 || n > DS_CHUNK) /* more than asked would overrun chunk */
            return ESMTP_EREAD;
        d->chunk_pos = 0;
        d->chunk_len = (size_t)n;
        d->src_eof = n == 0;
        /* the buffer is reused: positions found in the old data are void */
        d->next_cr = d->next_lf = d->chunk;
    }
    *p = d->chunk + d->chunk_pos;
    *end = d->chunk + d->chunk_len;
    return 0;
}

static void ds_take(datastream *d, size_t n)
{
    if (d->fn)
        d->chunk_pos += n;
    else
        d->mem_pos += n;
    d->in_bytes += n;
}

/* Appends n bytes at out + *o; out == NULL only counts them (ds_measure). */
static void ds_put(unsigned char *out, size_t *o, const void *src, size_t n)
{
    if (out)
        memcpy(out + *o, src, n);
    *o += n;
}

/*
 * The first c in [q, end), or end. *memo holds the previous answer and
 * nothing before it is c, so the search resumes there: without this a body
 * with only LF line ends would be searched for CR to the end of the window
 * once per line.
 */
static const unsigned char *ds_find(const unsigned char **memo, const unsigned char *q,
                                    const unsigned char *end, int c)
{
    const unsigned char *m = *memo;
    if (m >= end)
        return end;
    if (m < q)
        m = q;
    else if (*m == c)
        return m;
    const unsigned char *f = memchr(m, c, (size_t)(end - m));
    *memo = f ? f : end;
    return *memo;
}

/*
 * The length of the run at p (p < end) that passes through unchanged: text up
 * to the first CR or LF, extended over each CRLF pair unless a dot follows
 * it (that dot needs stuffing). *eol tells whether the run ends with CRLF.
 */
static size_t ds_run(datastream *d, const unsigned char *p, const unsigned char *end, int *eol)
{
    const unsigned char *q = p;
    for (;;) {
        const unsigned char *cr = ds_find(&d->next_cr, q, end, '\r');
        const unsigned char *lf = ds_find(&d->next_lf, q, end, '\n');
        if (lf == end || lf - cr != 1) {
            const unsigned char *stop = cr < lf ? cr : lf;
            *eol = q > p && stop == q; /* nothing after the last CRLF */
            return (size_t)(stop - p);
        }
        q = lf + 1;
        if (q == end || (*q == '.' && !d->no_stuffing)) {
            *eol = 1;
            return (size_t)(q - p);
        }
    }
}

static int ds_any_8bit(const unsigned char *p, size_t n)
{
    /* a word at a time; memcpy makes the unaligned load well-defined */
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; n - i >= sizeof w; i += sizeof w) {
        memcpy(&w, p + i, sizeof w);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= p[i];
    return (acc & 0x8080808080808080u) != 0;
}

/* Ends a line. When only the CR fits, the LF is owed to the next call, so
 * that every step needs just one byte of room. */
static void ds_crlf(datastream *d, unsigned char *out, size_t *o, size_t room)
{
    d->owe_lf = room < 2;
    ds_put(out, o, "\r\n", d->owe_lf ? 1 : 2);
    d->at_line_start = 1;
}

/*
 * The one conversion routine behind ds_read and ds_measure. Converts into
 * out[0, cap), or only counts when out is NULL. has_8bit, when not NULL, is
 * set once an 8-bit byte passes.
 */
static int ds_convert(datastream *d, unsigned char *out, size_t cap, size_t *outlen,
                      int *has_8bit)
{
    size_t o = 0;
    int rc = d->error;

    while (!rc && !d->finished && o < cap) {
        size_t room = cap - o;
        if (d->owe_lf) {
            ds_put(out, &o, "\n", 1);
            d->owe_lf = 0;
            continue;
        }
        const unsigned char *p, *end;
        rc = ds_fill(d, &p, &end);
        if (rc)
            break;
        int c = p < end ? *p : -1; /* -1: the body has ended */

        if (d->pending_cr || c == '\n') {
            /* A line end: a CR with its LF, or a bare CR or LF. The CR's
             * LF may only now have arrived in a new chunk. */
            if (!(d->pending_cr && c == '\n') && d->policy == DS_NEWLINE_REJECT) {
                rc = ESMTP_EBARENEWLINE;
                break;
            }
            if (c == '\n')
                ds_take(d, 1);
            d->pending_cr = 0;
            ds_crlf(d, out, &o, room);
        } else if (c < 0) {
            /* the end: first a CRLF for a last line without one */
            if (d->at_line_start)
                d->finished = 1;
            else
                ds_crlf(d, out, &o, room);
        } else if (c == '\r') {
            /* decided by the next byte, which may be in the next chunk */
            ds_take(d, 1);
            d->pending_cr = 1;
        } else if (d->at_line_start && c == '.' && !d->no_stuffing) {
            /* the extra dot; the line's own one goes out with its run */
            ds_put(out, &o, ".", 1);
            d->stuffed++;
            d->at_line_start = 0;
        } else {
            size_t n = (size_t)(end - p);
            int eol;
            size_t k = ds_run(d, p, p + (n < room ? n : room), &eol);
            if ((d->reject_8bit || (has_8bit && !*has_8bit)) && ds_any_8bit(p, k)) {
                if (d->reject_8bit) {
                    rc = ESMTP_E8BIT;
                    break;
                }
                *has_8bit = 1;
            }
            ds_put(out, &o, p, k);
            ds_take(d, k);
            d->at_line_start = eol;
        }
    }
    d->out_bytes += o;
    *outlen = o;
    if (rc) {
        d->error = rc;
        return rc;
    }
    return d->finished;
}

int ds_read(datastream *d, char *out, size_t cap, size_t *outlen)
{
    if (!d->verbatim)
        return ds_convert(d, (unsigned char *)out, cap, outlen, NULL);
    /* Nothing to convert: a plain copy. */
    size_t o = 0;
    int rc = d->error;
    while (rc == 0 && !d->finished && o < cap) {
        const unsigned char *p, *end;
        if ((rc = ds_fill(d, &p, &end)) != 0)
            break;
        if (p == end) {
            d->finished = 1;
            break;
        }
        size_t n = (size_t)(end - p) < cap - o ? (size_t)(end - p) : cap - o;
        memcpy(out + o, p, n);
        ds_take(d, n);
        o += n;
    }
    d->out_bytes += o;
    *outlen = o;
    if (rc) {
        d->error = rc;
        return rc;
    }
    return d->finished;
}

int ds_measure(const void *data, size_t len, int policy, uint64_t *size, int *has_8bit,
               int *verbatim)
{
    datastream d;
    size_t n;
    int rc;

    ds_init_mem(&d, data, len, policy);
    *has_8bit = 0;
    /* in steps, so that a count beyond SIZE_MAX (32-bit) cannot wrap */
    while ((rc = ds_convert(&d, NULL, (size_t)-1, &n, has_8bit)) == 0)
        ;
    *size = rc < 0 ? 0 : d.out_bytes - d.stuffed;
    if (verbatim) /* nothing added: no line end converted, no dot doubled */
        *verbatim = rc >= 0 && d.out_bytes == len && d.stuffed == 0;
    return rc < 0 ? rc : 0;
}
