/* Data stream: turns a message body into the bytes sent after DATA.
 * Line ends become CRLF (or bare CR/LF is an error), leading dots are
 * doubled, and the body is made to end with CRLF. The terminating ".\r\n"
 * is not part of it. Memory stays bounded for any body size.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_DATASTREAM_H
#define ESMTP_DATASTREAM_H

#include <stddef.h>
#include <stdint.h>

/* Returns bytes read into buf (at most len), 0 at the end, < 0 on error. */
typedef long (*ds_read_fn)(void *ctx, void *buf, size_t len);

enum {
    DS_NEWLINE_NORMALIZE = 0,
    DS_NEWLINE_REJECT = 1
};

/* The size of the chunks pulled from a read callback. */
#define DS_CHUNK 16384

typedef struct datastream {
    /* source: memory (mem != NULL or len == 0 with fn == NULL) or callback */
    const unsigned char *mem;
    size_t mem_len;
    size_t mem_pos;
    ds_read_fn fn;
    void *fn_ctx;
    unsigned char *chunk;  /* callback input, DS_CHUNK bytes, allocated lazily */
    size_t chunk_len;
    size_t chunk_pos;
    int src_eof;

    int policy;            /* DS_NEWLINE_* */
    int reject_8bit;       /* fail with ESMTP_E8BIT on a byte >= 0x80 */
    int no_stuffing;       /* BDAT: line ends are still made CRLF, but dots
                              are not doubled (RFC 3030) */
    int verbatim;          /* ds_read only copies: set for a memory body that
                              ds_measure found needs no conversion, and for
                              a BINARYMIME body, which must not be changed */

    /* conversion state */
    int at_line_start;     /* the next byte starts a line; the output so far
                              is empty or ends with CRLF */
    int pending_cr;        /* a CR was seen; its LF (if any) has not yet */
    int owe_lf;            /* a CRLF was cut after its CR by a full buffer */
    int finished;
    int error;             /* the first failure; every later call returns it */
    /* the next CR / LF in the current input, or where the last search for
     * one stopped: nothing before it is searched twice */
    const unsigned char *next_cr;
    const unsigned char *next_lf;

    uint64_t in_bytes;     /* source bytes consumed */
    uint64_t out_bytes;    /* bytes produced */
    uint64_t stuffed;      /* dots added by dot-stuffing */
} datastream;

void ds_init_mem(datastream *d, const void *data, size_t len, int policy);
void ds_init_cb(datastream *d, ds_read_fn fn, void *ctx, int policy);
void ds_free(datastream *d);

/*
 * Writes up to cap (>= 1) output bytes into out and stores the count in
 * *outlen. Returns 0 when more output may follow (out is then full: *outlen
 * == cap), 1 when the stream is finished (the last bytes, possibly none, are
 * in out), or a negative code:
 * ESMTP_EBARENEWLINE (policy DS_NEWLINE_REJECT and a bare CR or LF),
 * ESMTP_E8BIT (reject_8bit and an 8-bit byte), ESMTP_EREAD (the callback
 * failed), ESMTP_ENOMEM. On an error *outlen counts the bytes converted
 * before it; the error is final and every later call returns it again.
 * An empty body gives no bytes. A body whose last line lacks a line end gets
 * CRLF; one that ends in a bare CR or LF gets just that one CRLF (normalised).
 */
int ds_read(datastream *d, char *out, size_t cap, size_t *outlen);

/*
 * Measures a memory body in one pass with the same rules: *size is the
 * number of bytes the body takes with CRLF line ends and the final CRLF, not
 * counting dot-stuffing (as RFC 1870 SIZE wants), *has_8bit whether any
 * byte is >= 0x80, *verbatim (may be NULL) whether the body goes out
 * unchanged (set datastream.verbatim then, for a plain copy). Returns 0 or
 * ESMTP_EBARENEWLINE (policy DS_NEWLINE_REJECT).
 */
int ds_measure(const void *data, size_t len, int policy, uint64_t *size, int *has_8bit,
               int *verbatim);

#endif
