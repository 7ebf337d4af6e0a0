/* SPDX-License-Identifier: MIT */
#include "base64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_quantum(const unsigned char *in, size_t n, char out[4])
{
    unsigned v = (unsigned)in[0] << 16 | (n > 1 ? (unsigned)in[1] << 8 : 0) | (n > 2 ? in[2] : 0);
    out[0] = alphabet[v >> 18];
    out[1] = alphabet[(v >> 12) & 63];
    out[2] = n > 1 ? alphabet[(v >> 6) & 63] : '=';
    out[3] = n > 2 ? alphabet[v & 63] : '=';
}
