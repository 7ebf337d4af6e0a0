/* Address helpers for internationalised mail. SPDX-License-Identifier: MIT */
#include "address.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <idn2.h>

#include <esmtp/esmtp.h>

#include "text.h"

#define DOMAIN_MAX 253
#define LABEL_MAX 63

static const char hex_upper[] = "0123456789ABCDEF";

static int fail(const char **why, const char *reason, int rc)
{
    if (why)
        *why = reason;
    return rc;
}

/* Drops whatever was appended to out since it had length len. */
static void rewind_to(ebuf *out, size_t len)
{
    out->len = len;
    if (out->data)
        out->data[len] = '\0';
}

/* ------------------------------------------------------------- UTF-8 */

/* ---------------------------------------------- libidn2 error reasons */

/* The reasons must be static strings, so "invalid international domain
 * name: " + idn2_strerror() is built once for every code libidn2 documents
 * and kept. The first caller builds the table; any caller racing it waits
 * (no dependency on a thread library for a once-only init). */
#define IDN_PREFIX "invalid international domain name: "

static const int idn2_codes[] = {
    IDN2_MALLOC, IDN2_NO_CODESET, IDN2_ICONV_FAIL,
    IDN2_ENCODING_ERROR, IDN2_NFC, IDN2_PUNYCODE_BAD_INPUT, IDN2_PUNYCODE_BIG_OUTPUT,
    IDN2_PUNYCODE_OVERFLOW, IDN2_TOO_BIG_DOMAIN, IDN2_TOO_BIG_LABEL, IDN2_INVALID_ALABEL,
    IDN2_UALABEL_MISMATCH, IDN2_INVALID_FLAGS,
    IDN2_NOT_NFC, IDN2_2HYPHEN, IDN2_HYPHEN_STARTEND, IDN2_LEADING_COMBINING,
    IDN2_DISALLOWED, IDN2_CONTEXTJ, IDN2_CONTEXTJ_NO_RULE, IDN2_CONTEXTO,
    IDN2_CONTEXTO_NO_RULE, IDN2_UNASSIGNED, IDN2_BIDI, IDN2_DOT_IN_LABEL,
    IDN2_INVALID_TRANSITIONAL, IDN2_INVALID_NONTRANSITIONAL,
#if defined(IDN2_VERSION_NUMBER) && IDN2_VERSION_NUMBER >= 0x02020000
    IDN2_ALABEL_ROUNDTRIP_FAILED,
#endif
};
#define IDN2_NCODES (sizeof idn2_codes / sizeof idn2_codes[0])

static char idn2_reasons[IDN2_NCODES][160];
static atomic_int idn2_reasons_state; /* 0 unbuilt, 1 building, 2 built */

static const char *idn2_reason(int rc)
{
    if (atomic_load(&idn2_reasons_state) != 2) {
        int expected = 0;
        if (atomic_compare_exchange_strong(&idn2_reasons_state, &expected, 1)) {
            for (size_t i = 0; i < IDN2_NCODES; i++)
                snprintf(idn2_reasons[i], sizeof idn2_reasons[i], "%s%s", IDN_PREFIX,
                         idn2_strerror(idn2_codes[i]));
            atomic_store(&idn2_reasons_state, 2);
        } else {
            while (atomic_load(&idn2_reasons_state) != 2)
                sched_yield();
        }
    }
    for (size_t i = 0; i < IDN2_NCODES; i++)
        if (idn2_codes[i] == rc)
            return idn2_reasons[i];
    return "invalid international domain name";
}

/* ------------------------------------------------------------ domains */

static int is_ldh(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-';
}

/* Checks an ASCII domain of n octets: LDH labels of 1..63 octets that
 * neither start nor end with a hyphen, 253 octets at most. Sets *alabel when
 * a label starts with "xn--" (any case). Returns NULL or the reason. */
static const char *check_ldh_domain(const char *d, size_t n, int *alabel)
{
    if (n == 0)
        return "domain is empty";
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '.') {
            if (!is_ldh((unsigned char)d[i]))
                return "domain has a character other than a letter, digit, hyphen or dot";
            continue;
        }
        size_t len = i - start;
        if (len == 0)
            return "domain has an empty label";
        if (len > LABEL_MAX)
            return "domain label longer than 63 octets";
        if (d[start] == '-' || d[i - 1] == '-')
            return "domain label starts or ends with a hyphen";
        if (alabel && len >= 4 && (d[start] == 'x' || d[start] == 'X') &&
            (d[start + 1] == 'n' || d[start + 1] == 'N') && d[start + 2] == '-' &&
            d[start + 3] == '-')
            *alabel = 1;
        start = i + 1;
    }
    if (n > DOMAIN_MAX)
        return "domain too long";
    return NULL;
}

/* An RFC 5321 address literal: "[" 1*dcontent "]", dcontent being
 * printable ASCII other than '[', '\' and ']'. */
static int valid_literal(const char *d, size_t n)
{
    if (n < 3 || d[0] != '[' || d[n - 1] != ']')
        return 0;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
            return 0;
    }
    return 1;
}

/* Runs libidn2 over a NUL-terminated domain. On success *res is the
 * A-label form, to be released with idn2_free(). */
static int idn_lookup(const char *domain, char **res, const char **why)
{
    uint8_t *o = NULL;
    /* Non-transitional UTS #46 processing; it implies IDN2_NFC_INPUT.
     * IDN2_USE_STD3_ASCII_RULES is not used: libidn2 then silently drops
     * the characters STD3 disallows (a_b becomes ab) instead of refusing
     * them; the LDH check on the result refuses them instead. */
    int rc = idn2_lookup_u8((const uint8_t *)domain, &o, IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
        idn2_free(o);
        if (rc == IDN2_MALLOC)
            return fail(why, "out of memory", ESMTP_ENOMEM);
        /* libidn2 says "longer than 255 characters" for 254 and up; the
         * limit that matters is the DNS's 253 (without the root dot). */
        if (rc == IDN2_TOO_BIG_DOMAIN)
            return fail(why, "domain too long", ESMTP_EINVAL);
        return fail(why, idn2_reason(rc), ESMTP_EINVAL);
    }
    *res = (char *)o;
    return 0;
}

/* addr_domain_to_ascii for a domain of n octets, not necessarily
 * NUL-terminated. */
static int domain_to_ascii(const char *d, size_t n, ebuf *out, const char **why)
{
    if (n == 0)
        return fail(why, "domain is empty", ESMTP_EINVAL);
    if (d[0] == '[') {
        if (!valid_literal(d, n))
            return fail(why, "invalid address literal", ESMTP_EINVAL);
        return ebuf_append(out, d, n);
    }

    if (!has_non_ascii(d, n)) {
        int alabel = 0;
        const char *r = check_ldh_domain(d, n, &alabel);
        if (r)
            return fail(why, r, ESMTP_EINVAL);
        if (alabel) {
            /* Only libidn2 can tell whether an A-label is valid Punycode
             * that decodes to a valid U-label (and the Bidi rule spans
             * labels), so the whole domain goes through it; the input is
             * kept as given. */
            char copy[DOMAIN_MAX + 1], *res = NULL;
            memcpy(copy, d, n);
            copy[n] = '\0';
            int rc = idn_lookup(copy, &res, why);
            if (rc)
                return rc;
            idn2_free(res);
        }
        return ebuf_append(out, d, n);
    }

    if (!utf8_valid(d, n))
        return fail(why, "domain is not valid UTF-8", ESMTP_EINVAL);
    ebuf tmp = {0};
    int rc = ebuf_append(&tmp, d, n); /* for the NUL terminator */
    if (rc)
        return fail(why, "out of memory", rc);
    char *res = NULL;
    rc = idn_lookup(tmp.data, &res, why);
    ebuf_free(&tmp);
    if (rc)
        return rc;
    /* UTS #46 maps some characters to ASCII that is no host name
     * ("\u2474" to "(1)"), and libidn2 leaves empty labels alone. */
    const char *r = check_ldh_domain(res, strlen(res), NULL);
    if (r) {
        idn2_free(res);
        return fail(why, r, ESMTP_EINVAL);
    }
    rc = ebuf_append_str(out, res);
    idn2_free(res);
    if (rc)
        return fail(why, "out of memory", rc);
    return 0;
}

int addr_domain_to_ascii(const char *domain, ebuf *out, const char **why)
{
    if (!domain || !out)
        return fail(why, "no domain", ESMTP_EINVAL);
    size_t len = out->len;
    int rc = domain_to_ascii(domain, strlen(domain), out, why);
    if (rc) {
        if (rc == ESMTP_ENOMEM && why)
            *why = "out of memory";
        rewind_to(out, len);
    }
    return rc;
}

/* ---------------------------------------------------------- mailboxes */

int addr_local_is_utf8(const char *mailbox)
{
    if (!mailbox)
        return 0;
    size_t n = strlen(mailbox);
    int unterminated;
    return has_non_ascii(mailbox, local_part_len(mailbox, n, &unterminated));
}

int addr_for_envelope(const char *mailbox, int smtputf8, ebuf *out, const char **why)
{
    if (!mailbox || !out)
        return fail(why, "no mailbox", ESMTP_EINVAL);
    size_t n = strlen(mailbox);
    if (n == 0)
        return 0; /* the null reverse path */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)mailbox[i];
        if (c < 0x20 || c == 0x7F)
            return fail(why, "mailbox has a control character", ESMTP_EINVAL);
    }
    if (!utf8_valid(mailbox, n))
        return fail(why, "mailbox is not valid UTF-8", ESMTP_EINVAL);

    int unterminated;
    size_t local = local_part_len(mailbox, n, &unterminated);
    if (unterminated)
        return fail(why, "mailbox has an unterminated quoted string", ESMTP_EINVAL);
    if (local == 0)
        return fail(why, "mailbox has an empty local part", ESMTP_EINVAL);
    if (!smtputf8 && has_non_ascii(mailbox, local))
        return fail(why, "the local part is not ASCII and the server does not offer SMTPUTF8",
                    ESMTP_EINVAL);
    if (local == n) /* no domain: RCPT TO:<postmaster> */
        return ebuf_append(out, mailbox, n);

    const char *domain = mailbox + local + 1;
    size_t dlen = n - local - 1;
    size_t start = out->len;
    int rc;
    if (smtputf8) {
        ebuf scratch = {0};
        rc = domain_to_ascii(domain, dlen, &scratch, why);
        ebuf_free(&scratch);
        if (rc == 0)
            rc = ebuf_append(out, mailbox, n);
    } else {
        rc = ebuf_append(out, mailbox, local + 1);
        if (rc == 0)
            rc = domain_to_ascii(domain, dlen, out, why);
    }
    if (rc) {
        if (rc == ESMTP_ENOMEM && why)
            *why = "out of memory";
        rewind_to(out, start);
    }
    return rc;
}

/* ------------------------------------------------------------- xtext */

static int xtext_append(const char *s, size_t n, ebuf *out)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (c >= '!' && c <= '~' && c != '+' && c != '=') {
            rc = ebuf_append(out, &s[i], 1);
        } else {
            char h[3] = {'+', hex_upper[c >> 4], hex_upper[c & 0x0F]};
            rc = ebuf_append(out, h, sizeof h);
        }
        if (rc)
            return rc;
    }
    return 0;
}

int addr_xtext(const char *s, ebuf *out)
{
    if (!s || !out)
        return ESMTP_EINVAL;
    size_t len = out->len;
    int rc = xtext_append(s, strlen(s), out);
    if (rc)
        rewind_to(out, len);
    return rc;
}

/* Whether RFC 6533's HEXPOINT can express an ASCII code point: the xtext
 * specials and '\' ("20", "2B", "3D", "5C", "7F") and the controls its
 * ( ( "0"/"1" ) %x31-39 ) / "10" lists, that is 01-09 and 10-19. */
static int hexpoint_ascii(uint32_t cp)
{
    if (cp == 0x20 || cp == '+' || cp == '=' || cp == '\\' || cp == 0x7F)
        return 1;
    return cp >= 0x01 && cp <= 0x19 && (cp & 0x0F) <= 9;
}

/* RFC 6533 section 3 utf-8-addr-xtext = 1*(QCHAR / EmbeddedUnicodeChar):
 * QCHAR is printable ASCII except '+', '=' and '\' and is copied; anything
 * else becomes "\x{" HEXPOINT "}", the shortest upper-case hex form. */
static int utf8_addr_xtext_append(const char *s, size_t n, ebuf *out)
{
    const unsigned char *p = (const unsigned char *)s;
    while (n) {
        uint32_t cp;
        size_t k = utf8_decode(p, n, &cp);
        if (!k)
            return ESMTP_EINVAL;
        int rc;
        if (cp >= 0x21 && cp <= 0x7E && cp != '+' && cp != '=' && cp != '\\') {
            rc = ebuf_append(out, p, 1);
        } else {
            if (cp < 0x80 && !hexpoint_ascii(cp))
                return ESMTP_EINVAL;
            char e[12]; /* "\x{" + at most 6 digits + "}" */
            size_t m = 0;
            e[m++] = '\\', e[m++] = 'x', e[m++] = '{';
            int shift = 20;
            while (shift > 0 && !(cp >> shift))
                shift -= 4;
            if (cp < 0x100)
                shift = 4; /* two digits at least: "\x{2B}", never "\x{9}" */
            for (; shift >= 0; shift -= 4)
                e[m++] = hex_upper[(cp >> shift) & 0x0F];
            e[m++] = '}';
            rc = ebuf_append(out, e, m);
        }
        if (rc)
            return rc;
        p += k;
        n -= k;
    }
    return 0;
}

int addr_orcpt(const char *address, ebuf *out)
{
    if (!address || !out || !*address)
        return ESMTP_EINVAL;
    size_t n = strlen(address);
    size_t len = out->len;
    int rc;
    if (!has_non_ascii(address, n)) {
        rc = ebuf_append_str(out, "rfc822;");
        if (rc == 0)
            rc = xtext_append(address, n, out);
    } else {
        rc = ebuf_append_str(out, "utf-8;");
        if (rc == 0)
            rc = utf8_addr_xtext_append(address, n, out);
    }
    if (rc)
        rewind_to(out, len);
    return rc;
}
