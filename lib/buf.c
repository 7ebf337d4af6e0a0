/* SPDX-License-Identifier: MIT */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "alloc.h"

int ebuf_reserve(ebuf *b, size_t n)
{
    if (n >= (size_t)-1 - b->len)
        return ESMTP_ENOMEM;
    size_t need = b->len + n + 1; /* + the NUL terminator */
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    char *p = mem_realloc(b->data, cap);
    if (!p)
        return ESMTP_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int ebuf_append(ebuf *b, const void *p, size_t n)
{
    int rc = ebuf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ebuf_append_str(ebuf *b, const char *s)
{
    return ebuf_append(b, s, strlen(s));
}

void ebuf_consume(ebuf *b, size_t n)
{
    if (n >= b->len) {
        ebuf_clear(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void ebuf_clear(ebuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void ebuf_free(ebuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *ebuf_str(const ebuf *b)
{
    return b->data ? b->data : "";
}
