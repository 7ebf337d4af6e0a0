/* Fuzz target: the address helpers of lib/address.c (IDNA domains through
 * libidn2, envelope mailboxes with and without SMTPUTF8, xtext, ORCPT).
 * The input, up to its first NUL, is taken as a domain, a mailbox and a
 * DSN value. Invariants: a failure leaves the buffer as it was and gives a
 * reason; an accepted domain comes out as LDH labels within the DNS limits
 * and converts to itself again; an envelope mailbox never holds a control
 * character, is ASCII without SMTPUTF8, keeps its local part, and is
 * accepted with SMTPUTF8 whenever it is without; xtext and ORCPT decode
 * back to the input and use only the characters their RFCs allow.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>

#include <esmtp/esmtp.h>

#include "address.h"
#include "fuzz_common.h"
#include "mime_priv.h"

static int non_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_seq((const unsigned char *)s + i, n - i)) == 0)
            return 0;
    return 1;
}

static int is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-';
}

/* A host name as DNS takes it: LDH labels of 1..63 octets, no hyphen at
 * either end, 253 octets in all. */
static int dns_name(const char *d, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && d[i] != '.') {
            if (!is_ldh(d[i]))
                return 0;
            continue;
        }
        if (i == start || i - start > 63 || d[start] == '-' || d[i - 1] == '-')
            return 0;
        start = i + 1;
    }
    return 1;
}

static int has_alabel(const char *d, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i++)
        if ((i == 0 || d[i - 1] == '.') && (d[i] | 0x20) == 'x' && (d[i + 1] | 0x20) == 'n' &&
            d[i + 2] == '-' && d[i + 3] == '-')
            return 1;
    return 0;
}

/* The local part's length: up to the first '@' outside a quoted string. */
static size_t local_len(const char *s, size_t n)
{
    int quoted = 0;
    for (size_t i = 0; i < n; i++) {
        if (quoted && s[i] == '\\' && i + 1 < n)
            i++;
        else if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == '@')
            return i;
    }
    return n;
}

/* Runs f into a buffer that already holds a prefix: on failure the buffer
 * must be unchanged and a reason given. Returns the result (malloc'd, the
 * prefix dropped) or NULL. */
typedef int (*conv_fn)(const char *in, int flag, ebuf *out, const char **why);

static char *convert(conv_fn f, const char *in, int flag)
{
    ebuf out = {0};
    FZ_CHECK(ebuf_append_str(&out, "#") == 0);
    const char *why = NULL;
    int rc = f(in, flag, &out, &why);
    FZ_CHECK(rc == 0 || rc == ESMTP_EINVAL);
    char *res = NULL;
    if (rc == 0) {
        res = fz_alloc(out.len);
        memcpy(res, out.data + 1, out.len);
    } else {
        FZ_CHECK(out.len == 1 && strcmp(out.data, "#") == 0);
        FZ_CHECK(why != NULL && *why != '\0');
    }
    FZ_CHECK(out.data[0] == '#');
    ebuf_free(&out);
    return res;
}

static int domain_fn(const char *in, int flag, ebuf *out, const char **why)
{
    (void)flag;
    return addr_domain_to_ascii(in, out, why);
}

static int envelope_fn(const char *in, int smtputf8, ebuf *out, const char **why)
{
    return addr_for_envelope(in, smtputf8, out, why);
}

static char *domain_ascii(const char *d)
{
    return convert(domain_fn, d, 0);
}

static void check_domain(const char *d)
{
    size_t n = strlen(d);
    char *a = domain_ascii(d);
    int ascii = !non_ascii(d, n);
    /* plain host names are always accepted; A-labels are libidn2's call */
    if (ascii && dns_name(d, n) && !has_alabel(d, n))
        FZ_CHECK(a != NULL);
    if (!a)
        return;
    size_t an = strlen(a);
    if (d[0] == '[') {
        FZ_CHECK(strcmp(a, d) == 0);
        for (size_t i = 1; i + 1 < an; i++)
            FZ_CHECK(a[i] > 32 && a[i] < 127 && a[i] != '[' && a[i] != ']' && a[i] != '\\');
    } else {
        FZ_CHECK(dns_name(a, an));
        if (ascii)
            FZ_CHECK(strcmp(a, d) == 0);
        else
            for (size_t i = 0; i < an; i++)
                FZ_CHECK(!(a[i] >= 'A' && a[i] <= 'Z'));
    }
    /* the A-label form is a fixed point */
    char *again = domain_ascii(a);
    FZ_CHECK(again != NULL && strcmp(again, a) == 0);
    free(again);
    free(a);
}

static void check_envelope(const char *m)
{
    size_t n = strlen(m);
    char *r0 = convert(envelope_fn, m, 0);
    char *r1 = convert(envelope_fn, m, 1);
    size_t local = local_len(m, n);
    int utf8_local = non_ascii(m, local);
    FZ_CHECK(addr_local_is_utf8(m) == utf8_local);
    /* SMTPUTF8 only lifts the ASCII rule for the local part */
    if (r0)
        FZ_CHECK(r1 != NULL && !utf8_local);
    if (r1 && !utf8_local)
        FZ_CHECK(r0 != NULL);
    if (r1) {
        FZ_CHECK(strcmp(r1, m) == 0);
        for (size_t i = 0; i < n; i++)
            FZ_CHECK((unsigned char)m[i] >= 0x20 && m[i] != 0x7f);
    }
    if (r0) {
        size_t rn = strlen(r0);
        FZ_CHECK(!non_ascii(r0, rn));
        FZ_CHECK(rn >= local && memcmp(r0, m, local) == 0);
        if (local < n) {
            /* the domain as addr_domain_to_ascii gives it */
            char *d = domain_ascii(m + local + 1);
            FZ_CHECK(d != NULL && r0[local] == '@' && strcmp(r0 + local + 1, d) == 0);
            free(d);
        } else {
            FZ_CHECK(rn == n);
        }
        /* converting the result again changes nothing */
        char *again = convert(envelope_fn, r0, 0);
        FZ_CHECK(again != NULL && strcmp(again, r0) == 0);
        free(again);
    }
    free(r0);
    free(r1);
}

static void check_xtext(const char *s)
{
    ebuf out = {0};
    FZ_CHECK(ebuf_append_str(&out, "#") == 0);
    FZ_CHECK(addr_xtext(s, &out) == 0);
    const char *x = out.data + 1;
    size_t k = 0, n = strlen(s);
    for (const char *p = x; *p; p++) {
        unsigned char c = (unsigned char)*p;
        FZ_CHECK(c >= '!' && c <= '~' && c != '=');
        unsigned char v = c;
        if (c == '+') {
            FZ_CHECK(fz_hex(p[1]) >= 0 && fz_hex(p[2]) >= 0);
            v = (unsigned char)(fz_hex(p[1]) << 4 | fz_hex(p[2]));
            /* only what xchar cannot carry is encoded */
            FZ_CHECK(v < '!' || v > '~' || v == '+' || v == '=');
            p += 2;
        }
        FZ_CHECK(k < n && (unsigned char)s[k++] == v);
    }
    FZ_CHECK(k == n);
    ebuf_free(&out);
}

/* Decodes one UTF-8 character (the input is valid UTF-8 when used). */
static size_t utf8_cp(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
    uint32_t v = s[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++)
        v = v << 6 | (s[i] & 0x3f);
    *cp = v;
    return len;
}

/* What addr_orcpt must accept: any ASCII address; otherwise valid UTF-8
 * whose controls RFC 6533's HEXPOINT can express (not 0A-0F or 1A-1F). */
static int orcpt_expressible(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (!non_ascii(s, n))
        return 1;
    if (!valid_utf8(s, n))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 && (c & 0x0f) > 9)
            return 0;
    }
    return 1;
}

static void check_orcpt(const char *s)
{
    size_t n = strlen(s);
    ebuf out = {0};
    FZ_CHECK(ebuf_append_str(&out, "#") == 0);
    int rc = addr_orcpt(s, &out);
    int want = orcpt_expressible(s, n);
    FZ_CHECK(rc == (want ? 0 : ESMTP_EINVAL));
    if (rc) {
        FZ_CHECK(out.len == 1);
        ebuf_free(&out);
        return;
    }
    const char *x = out.data + 1;
    for (const char *p = x; *p; p++)
        FZ_CHECK(*p >= '!' && *p <= '~');
    if (!non_ascii(s, n)) {
        FZ_CHECK(strncmp(x, "rfc822;", 7) == 0);
        ebuf_free(&out);
        return; /* the rest is xtext, checked above */
    }
    FZ_CHECK(strncmp(x, "utf-8;", 6) == 0);
    /* utf-8-addr-xtext: QCHARs as they are, the rest "\x{HEX}" in the
     * shortest upper-case form of two digits at least */
    const unsigned char *in = (const unsigned char *)s;
    size_t k = 0;
    for (const char *p = x + 6; *p;) {
        uint32_t want_cp;
        FZ_CHECK(k < n);
        size_t len = utf8_cp(in + k, &want_cp);
        int qchar = want_cp >= 0x21 && want_cp <= 0x7e && want_cp != '+' && want_cp != '=' &&
                    want_cp != '\\';
        if (qchar) {
            FZ_CHECK((unsigned char)*p == want_cp);
            p++;
        } else {
            FZ_CHECK(strncmp(p, "\\x{", 3) == 0);
            p += 3;
            uint32_t cp = 0;
            size_t digits = 0;
            for (; *p != '}'; p++, digits++) {
                FZ_CHECK(fz_hex(*p) >= 0 && digits < 6);
                cp = cp << 4 | (uint32_t)fz_hex(*p);
            }
            p++;
            FZ_CHECK(digits >= 2 && (digits == 2 || p[-1 - (long)digits] != '0'));
            FZ_CHECK(cp == want_cp);
        }
        k += len;
    }
    FZ_CHECK(k == n);
    ebuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a C string: everything up to the first NUL */
    char *s = fz_alloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    check_domain(s);
    const char *at = strrchr(s, '@');
    if (at)
        check_domain(at + 1);
    check_envelope(s);
    check_xtext(s);
    check_orcpt(s);
    free(s);
    return 0;
}
