/* The base64 alphabet (RFC 4648 section 4), for the two encoders that use
 * it: SASL's (one line, sasl.c) and MIME's (76-column lines, mime_b64.c).
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_BASE64_H
#define ESMTP_BASE64_H

#include <stddef.h>

/* Encodes 1 to 3 bytes as one quantum of four characters, padded with '='. */
void base64_quantum(const unsigned char *in, size_t n, char out[4]);

#endif
