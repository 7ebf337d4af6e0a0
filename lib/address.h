/* Address helpers for internationalised mail: domains to A-labels (IDNA2008
 * with UTS #46 non-transitional processing, RFC 5890/5891), envelope
 * mailboxes with and without SMTPUTF8 (RFC 6531), and the xtext forms DSN
 * parameters use (RFC 3461, RFC 6533). Pure functions: no I/O, no global
 * state visible to the caller. Internal; not installed.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_ADDRESS_H
#define ESMTP_ADDRESS_H

#include "buf.h"

/* Every function appends to out and returns 0, or returns a negative
 * ESMTP_E* code and leaves out as it was (same length, same contents).
 * Where there is a why, a failure stores a static English reason there
 * (why may be NULL); success leaves *why untouched. */

/* Converts a domain (UTF-8 or ASCII) to its A-label (ASCII) form with
 * libidn2: UTS #46 mapping, non-transitional (so "faß" stays distinct from
 * "fass"), NFC, lower-cased. A domain that is ASCII already passes through
 * unchanged once checked: letters, digits and hyphens in dot-separated
 * labels, no label empty, starting or ending with a hyphen, or longer than
 * 63 octets, at most 253 octets in all (no trailing root dot); a label that
 * is an A-label ("xn--...") must also be one libidn2 accepts. The A-label
 * form of a non-ASCII domain must meet the same rules. An address literal
 * "[...]" passes through unchanged (its content must be RFC 5321 dcontent).
 * Returns 0, ESMTP_EINVAL (why: "invalid international domain name: <the
 * libidn2 message>", "domain too long", ...) or ESMTP_ENOMEM. */
int addr_domain_to_ascii(const char *domain, ebuf *out, const char **why);

/* Whether a mailbox "local@domain" has a non-ASCII local part, and so can
 * only be sent to a server that offers SMTPUTF8. The local part ends at the
 * first '@' outside a quoted string; a mailbox without '@' is all local
 * part. Returns 1 or 0 (0 for NULL). */
int addr_local_is_utf8(const char *mailbox);

/* The mailbox to put between the angle brackets of MAIL FROM / RCPT TO.
 * smtputf8 = 0: the domain converted to A-labels; a non-ASCII local part is
 * ESMTP_EINVAL ("the local part is not ASCII and the server does not offer
 * SMTPUTF8"). smtputf8 != 0: the mailbox exactly as given (U-labels are kept)
 * but its domain is still validated as addr_domain_to_ascii does. The local
 * part is copied as given. "" (the null reverse path) gives "", an address
 * literal domain passes through, a mailbox without '@' (RCPT TO:<postmaster>)
 * is taken as a local part only. The whole mailbox must be valid UTF-8 and
 * free of control characters. Returns 0, ESMTP_EINVAL or ESMTP_ENOMEM. */
int addr_for_envelope(const char *mailbox, int smtputf8, ebuf *out, const char **why);

/* RFC 3461 section 4 xtext: every byte outside '!'..'~', and '+' and '=',
 * becomes "+XX" (upper-case hex); the rest is copied. Works on bytes, so
 * UTF-8 comes out as one "+XX" per octet. Returns 0, ESMTP_EINVAL (NULL s)
 * or ESMTP_ENOMEM. */
int addr_xtext(const char *s, ebuf *out);

/* The value of the ORCPT parameter for an original recipient address
 * (RFC 3461 section 4.2, RFC 6533 section 3). An all-ASCII address gives
 * "rfc822;" + xtext(address). An address with non-ASCII characters gives
 * "utf-8;" + utf-8-addr-xtext: printable ASCII other than '+', '=' and '\'
 * is copied; every other character becomes "\x{HEX}", the code point in
 * upper-case hex without leading zeros ("\x{2B}" for '+', "\x{E9}" for
 * U+00E9, "\x{7528}" for U+7528). That form is 7-bit and safe whether or not
 * the server offers SMTPUTF8. Returns 0, ESMTP_EINVAL (NULL or empty
 * address, invalid UTF-8, or a control character that RFC 6533's HEXPOINT
 * cannot express: U+000A-000F, U+001A-001F) or ESMTP_ENOMEM. */
int addr_orcpt(const char *address, ebuf *out);

#endif
