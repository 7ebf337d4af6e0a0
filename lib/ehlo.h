/* What a server's EHLO reply offers (RFC 5321 section 4.1.1.1): its
 * keywords and their parameters. SPDX-License-Identifier: MIT */
#ifndef ESMTP_EHLO_H
#define ESMTP_EHLO_H

#include <stddef.h>

typedef struct ehlo_ext {
    char *keyword;              /* upper case */
    char *params;
} ehlo_ext;

/* Zero-initialise for "nothing offered". */
typedef struct ehlo_caps {
    ehlo_ext *ext;
    size_t count;
} ehlo_caps;

/* Replaces caps with what an EHLO reply offers: text is the reply's lines
 * joined by '\n', the first of which is the server's name. Returns 0 or
 * ESMTP_ENOMEM (caps then offer nothing). */
int ehlo_parse(ehlo_caps *caps, const char *text);
/* The parameters of keyword (any case), or NULL when not offered. */
const char *ehlo_find(const ehlo_caps *caps, const char *keyword);
/* Forgets everything: nothing is offered. */
void ehlo_free(ehlo_caps *caps);

#endif
