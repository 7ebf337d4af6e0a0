/* Encoder throughput: base64 and quoted-printable in MB/s of input, next
 * to memcpy on the same machine. SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "mime_priv.h"

#define CHUNK GEN_RAW          /* what the generator encodes at a time */
#define TOTAL (256u << 20)     /* input bytes per measurement */

typedef size_t (*encode_fn)(const unsigned char *in, size_t n, char *out);

static b64_state b64;
static qp_state qp;

static size_t run_memcpy(const unsigned char *in, size_t n, char *out)
{
    memcpy(out, in, n);
    return n;
}

static size_t run_b64(const unsigned char *in, size_t n, char *out)
{
    return b64_encode(&b64, in, n, 0, out);
}

static size_t run_qp(const unsigned char *in, size_t n, char *out)
{
    return qp_encode(&qp, in, n, 0, out);
}

static void measure(const char *name, encode_fn fn, const unsigned char *in, char *out)
{
    volatile size_t sink = 0;
    double t0 = now_s();
    for (size_t done = 0; done < TOTAL; done += CHUNK)
        sink += fn(in, CHUNK, out);
    double dt = now_s() - t0;
    printf("%-28s %8.1f MB/s\n", name, (double)TOTAL / dt / 1e6);
    (void)sink;
}

int main(void)
{
    unsigned char *bin = malloc(CHUNK), *text = malloc(CHUNK);
    char *out = malloc(qp_bound(CHUNK));
    if (!bin || !text || !out)
        return 1;
    uint64_t x = 88172645463325252ULL;
    static const char words[] = "The quick brown fox jumps over the lazy dog. caf\xc3\xa9 = 1\n";
    for (size_t i = 0; i < CHUNK; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        bin[i] = (unsigned char)x;
        text[i] = (unsigned char)words[i % (sizeof words - 1)];
    }
    measure("memcpy", run_memcpy, bin, out);
    measure("base64 (binary)", run_b64, bin, out);
    measure("quoted-printable (text)", run_qp, text, out);
    qp.binary = 1;
    measure("quoted-printable (binary)", run_qp, bin, out);
    free(bin);
    free(text);
    free(out);
    return 0;
}
