/* Checks shared by the fuzz targets: an invariant that fails aborts, so
 * that libFuzzer and the replay test both stop on it; reference decoders
 * for base64 (OpenSSL's) and quoted-printable (written here, strict), to
 * compare the library's encoders against, and OpenSSL's base64 encoder for
 * what a target sends. SPDX-License-Identifier: MIT */
#ifndef ESMTP_FUZZ_COMMON_H
#define ESMTP_FUZZ_COMMON_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"

#define FZ_CHECK(cond)                                                            \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                       \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* malloc that cannot fail quietly: a target has no way to go on without it. */
static inline void *fz_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    FZ_CHECK(p != NULL);
    return p;
}

/* Lines end with CRLF only (no bare CR or LF) and hold at most max
 * characters before their CRLF. */
static inline void fz_check_lines(const char *s, size_t n, size_t max)
{
    size_t col = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            FZ_CHECK(i + 1 < n && s[i + 1] == '\n');
            i++;
            col = 0;
        } else {
            FZ_CHECK(s[i] != '\n');
            FZ_CHECK(++col <= max);
        }
    }
}

static inline int fz_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1; /* RFC 2045 6.7 (1): upper case only */
}

/* Decodes quoted-printable into out (which holds n bytes): "=XX" is a byte,
 * "=" CRLF a soft line break, CRLF a line break. Returns the length, or -1
 * for anything an encoder must not write (lower-case hex, a lone '=', a
 * bare CR or LF, a byte outside printable ASCII, space and TAB). */
static inline long fz_qp_decode(const char *in, size_t n, unsigned char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '=') {
            if (i + 2 < n && in[i + 1] == '\r' && in[i + 2] == '\n') {
                i += 2;
                continue;
            }
            if (i + 2 >= n || fz_hex(in[i + 1]) < 0 || fz_hex(in[i + 2]) < 0)
                return -1;
            out[k++] = (unsigned char)(fz_hex(in[i + 1]) << 4 | fz_hex(in[i + 2]));
            i += 2;
        } else if (c == '\r') {
            if (i + 1 >= n || in[i + 1] != '\n')
                return -1;
            out[k++] = '\r';
            out[k++] = '\n';
            i++;
        } else if ((c >= 33 && c <= 126) || c == ' ' || c == '\t') {
            out[k++] = c;
        } else {
            return -1;
        }
    }
    return (long)k;
}

/* Decodes base64 lines (CRLF between them) with OpenSSL into out, which
 * holds n bytes. Returns the length, or -1 when OpenSSL refuses it. */
static inline long fz_b64_decode(const char *in, size_t n, unsigned char *out)
{
    char *flat = fz_alloc(n + 1);
    size_t k = 0, pad = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] != '\r' && in[i] != '\n')
            flat[k++] = in[i];
    flat[k] = '\0';
    if (k % 4 != 0) {
        free(flat);
        return -1;
    }
    if (k > 0 && flat[k - 1] == '=')
        pad = k > 1 && flat[k - 2] == '=' ? 2 : 1;
    unsigned char *tmp = fz_alloc(k / 4 * 3 + 1);
    int len = k ? EVP_DecodeBlock(tmp, (const unsigned char *)flat, (int)k) : 0;
    long rc = -1;
    if (len >= 0 && (size_t)len >= pad) {
        rc = (long)((size_t)len - pad);
        memcpy(out, tmp, (size_t)rc);
    }
    free(tmp);
    free(flat);
    return rc;
}

/* Appends the base64 of raw (n bytes) to out, made by OpenSSL. */
static inline void fz_b64_encode(const void *raw, size_t n, ebuf *out)
{
    FZ_CHECK(ebuf_reserve(out, (n + 2) / 3 * 4) == 0);
    int k = EVP_EncodeBlock((unsigned char *)out->data + out->len, raw, (int)n);
    out->len += (size_t)k;
    out->data[out->len] = '\0';
}

/* CR, LF and CRLF all as CRLF: what a text part gives back. out holds
 * 2 * n bytes; returns the length. A reference for crlf_normalize(), kept
 * independent of it. */
static inline size_t fz_crlf(const unsigned char *in, size_t n, unsigned char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\r' || in[i] == '\n') {
            if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
                i++;
            out[k++] = '\r';
            out[k++] = '\n';
        } else {
            out[k++] = in[i];
        }
    }
    return k;
}

#endif
