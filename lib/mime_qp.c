/* Quoted-printable content transfer encoding (RFC 2045 section 6.7),
 * streaming, and line-end normalisation for text sent as is.
 * SPDX-License-Identifier: MIT */
#include "mime_priv.h"

/* Characters before a soft line break: 75, so that with its '=' a line is
 * at most 76 (rule 5). */
#define QP_MAX 75

static const char hex[] = "0123456789ABCDEF";

/* Writes one input byte, literally or as =XX, breaking the line first when
 * it would not fit. */
static char *put(qp_state *st, char *o, unsigned char c, int force)
{
    int lit = !force && ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t');
    int need = lit ? 1 : 3;
    if (st->col + need > QP_MAX) {
        *o++ = '=';
        *o++ = '\r';
        *o++ = '\n';
        st->col = 0;
    }
    /* A dot at the start of a line is encoded: a line holding only "."
     * would end DATA if anything on the way forgot to dot-stuff. */
    if (lit && c == '.' && st->col == 0) {
        lit = 0;
        need = 3;
    }
    if (lit) {
        *o++ = (char)c;
    } else {
        o[0] = '=';
        o[1] = hex[c >> 4];
        o[2] = hex[c & 15];
        o += 3;
    }
    st->col += need;
    return o;
}

/* White space is held back one byte: before a line break (or the end) it
 * must be encoded, or transports may strip it (rule 3). */
static char *flush_pending(qp_state *st, char *o, int at_line_end)
{
    if (st->pending >= 0) {
        o = put(st, o, (unsigned char)st->pending, at_line_end);
        st->pending = -1;
    }
    return o;
}

size_t qp_encode(qp_state *st, const unsigned char *in, size_t n, int final, char *out)
{
    char *o = out;
    if (!st->started) {
        st->pending = -1;
        st->started = 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (!st->binary && (c == '\r' || c == '\n')) {
            int second_of_crlf = st->prev_cr && c == '\n';
            st->prev_cr = c == '\r';
            if (second_of_crlf)
                continue;
            o = flush_pending(st, o, 1);
            *o++ = '\r';
            *o++ = '\n';
            st->col = 0;
            continue;
        }
        st->prev_cr = 0;
        o = flush_pending(st, o, 0);
        if (c == ' ' || c == '\t')
            st->pending = c;
        else
            o = put(st, o, c, 0);
    }
    if (final)
        o = flush_pending(st, o, 1);
    return (size_t)(o - out);
}

size_t qp_bound(size_t n)
{
    /* each byte: at most a soft break and =XX; plus a held space */
    return (n + 1) * 6;
}

size_t crlf_normalize(int *prev_cr, const unsigned char *in, size_t n, char *out)
{
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = in[i];
        if (c == '\n' && *prev_cr) {
            *prev_cr = 0;
            continue;
        }
        *prev_cr = c == '\r';
        if (c == '\r' || c == '\n') {
            *o++ = '\r';
            *o++ = '\n';
        } else {
            *o++ = (char)c;
        }
    }
    return (size_t)(o - out);
}
