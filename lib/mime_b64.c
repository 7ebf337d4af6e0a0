/* Base64 content transfer encoding (RFC 2045 section 6.8), streaming.
 * SPDX-License-Identifier: MIT */
#include "mime_priv.h"

#include "base64.h"

#define B64_LINE 76

/* Writes one quartet, starting a new line first when the line is full;
 * 76 is a multiple of 4, so a quartet never straddles two lines. */
static char *quartet(b64_state *st, char *o, const unsigned char *t, int n)
{
    if (st->col == B64_LINE) {
        *o++ = '\r';
        *o++ = '\n';
        st->col = 0;
    }
    base64_quantum(t, (size_t)n, o);
    st->col += 4;
    return o + 4;
}

size_t b64_encode(b64_state *st, const unsigned char *in, size_t n, int final, char *out)
{
    char *o = out;
    while (st->ncarry > 0 && st->ncarry < 3 && n > 0) {
        st->carry[st->ncarry++] = *in++;
        n--;
    }
    if (st->ncarry == 3) {
        o = quartet(st, o, st->carry, 3);
        st->ncarry = 0;
    }
    for (; n >= 3; in += 3, n -= 3)
        o = quartet(st, o, in, 3);
    while (n > 0) {
        st->carry[st->ncarry++] = *in++;
        n--;
    }
    if (final && st->ncarry > 0) {
        o = quartet(st, o, st->carry, st->ncarry);
        st->ncarry = 0;
    }
    return (size_t)(o - out);
}

size_t b64_bound(size_t n)
{
    size_t chars = (n + 2) / 3 * 4 + 4;
    return chars + (chars / B64_LINE + 1) * 2;
}

uint64_t b64_size(uint64_t n)
{
    if (n == 0)
        return 0;
    uint64_t chars = (n + 2) / 3 * 4;
    uint64_t lines = (chars + B64_LINE - 1) / B64_LINE;
    return chars + (lines - 1) * 2;
}
