/* A growable byte buffer shared by the layers. SPDX-License-Identifier: MIT */
#ifndef ESMTP_BUF_H
#define ESMTP_BUF_H

#include <stddef.h>

/* Zero-initialise to get an empty buffer. data is always NUL-terminated
 * once anything was appended, so text can be read as a C string. */
typedef struct ebuf {
    char *data;
    size_t len;
    size_t cap;
} ebuf;

/* Each returns 0 or ESMTP_ENOMEM (the buffer is unchanged then). */
int ebuf_append(ebuf *b, const void *p, size_t n);
int ebuf_append_str(ebuf *b, const char *s);
/* Makes room for n more bytes after len without changing len. */
int ebuf_reserve(ebuf *b, size_t n);

/* Drops the first n bytes (n <= len). */
void ebuf_consume(ebuf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void ebuf_clear(ebuf *b);
/* Frees the memory and empties the buffer. */
void ebuf_free(ebuf *b);
/* The contents as a C string ("" when empty). */
const char *ebuf_str(const ebuf *b);

#endif
