/* Fuzz target: the base64 and quoted-printable encoders (lib/mime_b64.c,
 * lib/mime_qp.c) and line-end normalising, differentially. Base64 must be
 * OpenSSL's EVP_EncodeBlock output in lines of 76 and decode back with
 * EVP_DecodeBlock; quoted-printable must decode back (a strict decoder
 * written here) to the CRLF-normalised input in text mode and to the input
 * itself in binary mode, within RFC 2045's line rules. Fed in pieces, every
 * encoder must give the same bytes as in one call. The first input byte
 * seeds the piece sizes; the whole input is the data.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>

#include "fuzz_common.h"
#include "mime_priv.h"

/* Piece sizes from a small generator seeded by the input. */
static size_t next_piece(uint32_t *s, size_t left)
{
    *s = *s * 1103515245u + 12345u;
    size_t step = 1 + (*s >> 16) % 97;
    return step < left ? step : left;
}

static void check_base64(const uint8_t *data, size_t size, uint32_t seed)
{
    char *out = fz_alloc(b64_bound(size));
    b64_state st = {0};
    size_t n = b64_encode(&st, data, size, 1, out);
    FZ_CHECK(n <= b64_bound(size));
    FZ_CHECK(n == b64_size(size));
    fz_check_lines(out, n, 76);
    /* every line but the last is full, and no CRLF ends the output */
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\r')
            FZ_CHECK(i % 78 == 76);
    FZ_CHECK(n < 2 || out[n - 1] != '\n');

    /* the same characters as OpenSSL's, once the line breaks are gone */
    unsigned char *ref = fz_alloc((size + 2) / 3 * 4 + 1);
    int rn = EVP_EncodeBlock(ref, data, (int)size);
    char *flat = fz_alloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] != '\r' && out[i] != '\n')
            flat[k++] = out[i];
    FZ_CHECK(rn >= 0 && k == (size_t)rn);
    FZ_CHECK(memcmp(flat, ref, k) == 0);

    unsigned char *back = fz_alloc(n);
    long b = fz_b64_decode(out, n, back);
    FZ_CHECK(b == (long)size);
    FZ_CHECK(size == 0 || memcmp(back, data, size) == 0);

    /* in pieces: the same bytes */
    char *pieces = fz_alloc(b64_bound(size) + 8);
    b64_state ps = {0};
    size_t p = 0;
    for (size_t i = 0; i < size;) {
        size_t step = next_piece(&seed, size - i);
        p += b64_encode(&ps, data + i, step, 0, pieces + p);
        i += step;
    }
    p += b64_encode(&ps, NULL, 0, 1, pieces + p);
    FZ_CHECK(p == n && memcmp(pieces, out, n) == 0);

    free(pieces);
    free(back);
    free(flat);
    free(ref);
    free(out);
}

static void check_qp(const uint8_t *data, size_t size, int binary, uint32_t seed)
{
    char *out = fz_alloc(qp_bound(size));
    qp_state st = {0};
    st.binary = binary;
    size_t n = qp_encode(&st, data, size, 1, out);
    FZ_CHECK(n <= qp_bound(size));
    fz_check_lines(out, n, 76);
    for (size_t i = 0; i < n; i++) {
        int line_start = i == 0 || out[i - 1] == '\n';
        /* a line of "." would end DATA: a dot never starts a line */
        FZ_CHECK(!line_start || out[i] != '.');
        if (out[i] == '\r') {
            /* rule 3: no white space before a line break */
            FZ_CHECK(i == 0 || (out[i - 1] != ' ' && out[i - 1] != '\t'));
            /* binary: CR and LF are data, so every break is a soft one */
            FZ_CHECK(!binary || (i > 0 && out[i - 1] == '='));
        }
    }
    FZ_CHECK(n == 0 || (out[n - 1] != ' ' && out[n - 1] != '\t'));
    /* a soft break never ends the output: it would join the next line */
    FZ_CHECK(n < 3 || memcmp(out + n - 3, "=\r\n", 3) != 0);

    unsigned char *back = fz_alloc(n);
    long b = fz_qp_decode(out, n, back);
    FZ_CHECK(b >= 0);
    if (binary) {
        FZ_CHECK((size_t)b == size && (size == 0 || memcmp(back, data, size) == 0));
    } else {
        unsigned char *want = fz_alloc(2 * size);
        size_t w = fz_crlf(data, size, want);
        FZ_CHECK((size_t)b == w && (w == 0 || memcmp(back, want, w) == 0));
        free(want);
    }

    char *pieces = fz_alloc(qp_bound(size) + 8);
    qp_state ps = {0};
    ps.binary = binary;
    size_t p = 0;
    for (size_t i = 0; i < size;) {
        size_t step = next_piece(&seed, size - i);
        p += qp_encode(&ps, data + i, step, 0, pieces + p);
        i += step;
    }
    p += qp_encode(&ps, NULL, 0, 1, pieces + p);
    FZ_CHECK(p == n && memcmp(pieces, out, n) == 0);

    free(pieces);
    free(back);
    free(out);
}

/* crlf_normalize, whole and in pieces (a CR at the end of one piece and an
 * LF at the start of the next are one line end), against fz_crlf. */
static void check_crlf(const uint8_t *data, size_t size, uint32_t seed)
{
    unsigned char *want = fz_alloc(2 * size);
    size_t w = fz_crlf(data, size, want);
    char *out = fz_alloc(2 * size);
    int cr = 0;
    size_t n = 0;
    for (size_t i = 0; i < size;) {
        size_t step = next_piece(&seed, size - i);
        n += crlf_normalize(&cr, data + i, step, out + n);
        i += step;
    }
    FZ_CHECK(n == w && (w == 0 || memcmp(out, want, w) == 0));
    free(out);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t seed = size ? data[0] : 0;
    check_base64(data, size, seed);
    check_qp(data, size, 0, seed);
    check_qp(data, size, 1, seed);
    check_crlf(data, size, seed);
    return 0;
}
