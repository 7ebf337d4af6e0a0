/* Character rules that the envelope (address.c) and the MIME layer share:
 * UTF-8 (RFC 3629), 8-bit bytes, RFC 5322 atext, an address's local part.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_TEXT_H
#define ESMTP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the UTF-8 character at s, which has n bytes left: no overlong
 * forms, no surrogates, nothing above U+10FFFF. Returns its length and
 * stores the code point, or returns 0 when the bytes are not valid UTF-8
 * (or n is 0). */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* The length of the valid UTF-8 character at s, or 0. */
static inline size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    return utf8_decode(s, n, &cp);
}

/* Whether all n bytes are valid UTF-8. */
int utf8_valid(const char *s, size_t n);

/* Whether n bytes (a string: NULL is ASCII) have a byte >= 0x80. */
int has_non_ascii(const char *s, size_t n);
int str_non_ascii(const char *s);

/* RFC 5322 atext: ASCII letters, digits and !#$%&'*+-/=?^_`{|}~. */
int is_atext(unsigned char c);

/* The length of a mailbox's local part: up to the first '@' outside a
 * quoted string (a quoted local part may hold '@'; a domain never does,
 * though an address literal may). n when there is no '@'. Sets
 * *unterminated when a quoted string does not end. */
size_t local_part_len(const char *s, size_t n, int *unterminated);

#endif
