/* RFC 5322 addresses: parsing address lists (mailboxes and groups) and
 * writing them as header field bodies, with RFC 6532's UTF-8 and IDNA
 * domains (written as A-labels unless the message goes with SMTPUTF8).
 * SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "address.h"
#include "mime_priv.h"

/* ------------------------------------------------------------------ list */

static char *dup_n(const char *s, size_t n)
{
    char *d = mem_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Whether an ASCII domain has a label that claims to be an A-label. */
static int has_alabel(const char *d)
{
    for (const char *p = d; *p; p++)
        if ((p == d || p[-1] == '.') && strncasecmp(p, "xn--", 4) == 0)
            return 1;
    return 0;
}

/* Fills in a mailbox's A-label form: a Unicode domain must be valid IDNA
 * (UTS #46), and the addr-spec must stay within 254 octets in that form.
 * An ASCII domain is kept as it is, but its A-labels must be valid too. */
static int mailbox_forms(mime_addr *a)
{
    const char *addr = a->addr;
    int unterminated; /* cannot be: the syntax was checked */
    size_t local = local_part_len(addr, strlen(addr), &unterminated);
    a->utf8_local = addr_local_is_utf8(addr);
    if (!addr[local])
        return 0;
    const char *domain = addr + local + 1;
    if (!str_non_ascii(domain)) {
        if (domain[0] == '[' || !has_alabel(domain))
            return 0;
        ebuf scratch = {0};
        int rc = addr_domain_to_ascii(domain, &scratch, NULL);
        ebuf_free(&scratch);
        return rc;
    }
    ebuf out = {0};
    int rc = ebuf_append(&out, addr, local + 1) ? ESMTP_ENOMEM : 0;
    if (rc == 0)
        rc = addr_domain_to_ascii(domain, &out, NULL);
    if (rc == 0 && out.len > 254)
        rc = ESMTP_EINVAL;
    if (rc) {
        ebuf_free(&out);
        return rc;
    }
    a->ascii = out.data;
    return 0;
}

int addr_list_add(addr_list *l, int kind, const char *name, size_t name_len,
                  const char *addr, size_t addr_len)
{
    if (mem_grow(&l->v, &l->cap, l->n, sizeof *l->v, 4))
        return ESMTP_ENOMEM;
    mime_addr a = {kind, NULL, NULL, NULL, 0};
    if (kind == ADDR_MAILBOX && (!addr || !addr_spec_valid_utf8(addr, addr_len)))
        return ESMTP_EINVAL;
    if ((name && name_len && !(a.name = dup_n(name, name_len))) ||
        (addr && !(a.addr = dup_n(addr, addr_len)))) {
        free(a.name);
        return ESMTP_ENOMEM;
    }
    int rc = kind == ADDR_MAILBOX ? mailbox_forms(&a) : 0;
    if (rc) {
        free(a.name);
        free(a.addr);
        return rc;
    }
    l->v[l->n++] = a;
    l->mailboxes += kind == ADDR_MAILBOX;
    return 0;
}

void addr_list_truncate(addr_list *l, size_t keep)
{
    while (l->n > keep) {
        mime_addr *a = &l->v[--l->n];
        l->mailboxes -= a->kind == ADDR_MAILBOX;
        free(a->name);
        free(a->addr);
        free(a->ascii);
    }
}

void addr_list_free(addr_list *l)
{
    addr_list_truncate(l, 0);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* --------------------------------------------------------------- parsing */

typedef struct lexer {
    const char *p;
    ebuf word;      /* the current phrase or addr-spec being collected */
    int err;
    int nomem;      /* memory ran out: the list may well be valid */
} lexer;

/* Appends to a word being read; -1 when memory runs out. */
static int lx_append(lexer *lx, ebuf *out, const void *s, size_t n)
{
    if (ebuf_append(out, s, n) == 0)
        return 0;
    lx->nomem = 1;
    return -1;
}

/* addr_list_add for the parser: non-zero when the entry was not added. */
static int lx_add(lexer *lx, addr_list *l, int kind, const char *name, size_t name_len,
                  const char *addr, size_t addr_len)
{
    int rc = addr_list_add(l, kind, name, name_len, addr, addr_len);
    lx->nomem |= rc == ESMTP_ENOMEM;
    return rc;
}

/* atext, and RFC 6532's UTF-8 in an address list. */
static int is_atext_utf8(unsigned char c)
{
    return is_atext(c) || c >= 0x80;
}

/* Skips white space and (nested) comments. */
static void skip_cfws(lexer *lx)
{
    for (;;) {
        while (*lx->p == ' ' || *lx->p == '\t')
            lx->p++;
        if (*lx->p != '(')
            return;
        int depth = 0;
        do {
            if (*lx->p == '\\' && lx->p[1])
                lx->p++;
            else if (*lx->p == '(')
                depth++;
            else if (*lx->p == ')')
                depth--;
            lx->p++;
        } while (depth > 0 && *lx->p);
        if (depth > 0) {
            lx->err = 1;
            return;
        }
    }
}

/* Reads a quoted string; raw keeps the quotes and escapes (for a local
 * part), otherwise the content is unescaped (for a display name). */
static int read_quoted(lexer *lx, ebuf *out, int raw)
{
    const char *p = lx->p + 1;
    if (raw && lx_append(lx, out, "\"", 1))
        return -1;
    for (; *p && *p != '"'; p++) {
        if (*p == '\\' && p[1]) {
            if (raw && lx_append(lx, out, p, 1))
                return -1;
            p++;
        }
        if (lx_append(lx, out, p, 1))
            return -1;
    }
    if (*p != '"')
        return -1;
    if (raw && lx_append(lx, out, "\"", 1))
        return -1;
    lx->p = p + 1;
    return 0;
}

/* A phrase: words (atoms, quoted strings, obsolete dots) joined by one
 * space. Returns the number of words read. */
static int read_phrase(lexer *lx, ebuf *out)
{
    int words = 0;
    for (;;) {
        skip_cfws(lx);
        if (lx->err)
            return -1;
        const char *s = lx->p;
        if (*s == '"' || is_atext_utf8((unsigned char)*s) || (*s == '.' && words > 0)) {
            if (words++ && lx_append(lx, out, " ", 1))
                return -1;
            if (*s == '"') {
                if (read_quoted(lx, out, 0))
                    return -1;
            } else {
                while (is_atext_utf8((unsigned char)*lx->p) || *lx->p == '.')
                    lx->p++;
                if (lx_append(lx, out, s, (size_t)(lx->p - s)))
                    return -1;
            }
            continue;
        }
        return words;
    }
}

/* addr-spec: local-part "@" domain, without CFWS inside. */
static int read_addr_spec(lexer *lx, ebuf *out)
{
    skip_cfws(lx);
    if (*lx->p == '"') {
        if (read_quoted(lx, out, 1))
            return -1;
    } else {
        const char *s = lx->p;
        while (is_atext_utf8((unsigned char)*lx->p) || *lx->p == '.')
            lx->p++;
        if (lx_append(lx, out, s, (size_t)(lx->p - s)))
            return -1;
    }
    if (*lx->p != '@')
        return -1;
    const char *s = lx->p++;
    if (*lx->p == '[') {
        while (*lx->p && *lx->p != ']')
            lx->p++;
        if (*lx->p++ != ']')
            return -1;
    } else {
        while (is_atext_utf8((unsigned char)*lx->p) || *lx->p == '.')
            lx->p++;
    }
    if (lx_append(lx, out, s, (size_t)(lx->p - s)))
        return -1;
    skip_cfws(lx);
    const char *a = ebuf_str(out);
    return lx->err || !addr_spec_valid_utf8(a, out->len) ? -1 : 0;
}

static int read_mailbox(lexer *lx, addr_list *l)
{
    ebuf name = {0}, spec = {0};
    const char *start = lx->p;
    int rc = -1;
    int words = read_phrase(lx, &name);
    if (words < 0)
        goto out;
    if (*lx->p == '<') {
        lx->p++;
        if (read_addr_spec(lx, &spec) || *lx->p != '>')
            goto out;
        lx->p++;
        skip_cfws(lx);
    } else {
        /* no angle brackets: the words read were the local part */
        lx->p = start;
        ebuf_clear(&name);
        if (read_addr_spec(lx, &spec))
            goto out;
    }
    if (!text_valid(ebuf_str(&name), 1))
        goto out;
    rc = lx_add(lx, l, ADDR_MAILBOX, name.data, name.len, spec.data, spec.len);
out:
    ebuf_free(&name);
    ebuf_free(&spec);
    return rc;
}

/* An address: a mailbox, or a group "name: mailbox, ...;". */
static int read_address(lexer *lx, addr_list *l, int allow_groups)
{
    const char *start = lx->p;
    ebuf name = {0};
    int words = read_phrase(lx, &name);
    int is_group = words > 0 && *lx->p == ':';
    if (!is_group) {
        ebuf_free(&name);
        lx->p = start;
        return words < 0 ? -1 : read_mailbox(lx, l);
    }
    int rc = -1;
    lx->p++;
    if (!allow_groups || !text_valid(ebuf_str(&name), 1) ||
        lx_add(lx, l, ADDR_GROUP_START, name.data, name.len, NULL, 0))
        goto out;
    skip_cfws(lx);
    while (*lx->p != ';') {
        if (read_mailbox(lx, l))
            goto out;
        if (*lx->p == ',')
            lx->p++;
        else if (*lx->p != ';')
            goto out;
        skip_cfws(lx);
    }
    lx->p++;
    skip_cfws(lx);
    rc = lx_add(lx, l, ADDR_GROUP_END, NULL, 0, NULL, 0);
out:
    ebuf_free(&name);
    return rc;
}

int addr_list_parse(addr_list *l, const char *text, int allow_groups)
{
    if (!text_valid(text, 1))
        return ESMTP_EINVAL;
    size_t keep = l->n;
    lexer lx = {.p = text};
    int any = 0;
    for (;;) {
        skip_cfws(&lx);
        if (!*lx.p)
            break;
        if (*lx.p == ',') { /* empty list elements are allowed (obs-addr-list) */
            lx.p++;
            continue;
        }
        if (read_address(&lx, l, allow_groups) || lx.err)
            goto fail;
        any = 1;
        if (*lx.p == ',')
            lx.p++;
        else if (*lx.p)
            goto fail;
    }
    if (any)
        return 0;
fail:
    addr_list_truncate(l, keep);
    return lx.nomem ? ESMTP_ENOMEM : ESMTP_EINVAL;
}

/* --------------------------------------------------------------- writing */

void hw_addresses(hdrw *w, const addr_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const mime_addr *a = &l->v[i];
        if (a->kind == ADDR_GROUP_END) {
            hw_glue(w, ";", 1);
        } else if (a->kind == ADDR_GROUP_START) {
            hw_phrase(w, a->name ? a->name : "");
            hw_glue(w, ":", 1);
        } else {
            /* as given for SMTPUTF8 (RFC 6532), else with A-labels */
            const char *spec = w->utf8_addrs || !a->ascii ? a->addr : a->ascii;
            size_t n = strlen(spec);
            char *tok = mem_malloc(n + 3);
            if (!tok) {
                w->err = ESMTP_ENOMEM;
                return;
            }
            if (a->name) {
                hw_phrase(w, a->name);
                tok[0] = '<';
                memcpy(tok + 1, spec, n);
                tok[n + 1] = '>';
                hw_token(w, tok, n + 2);
            } else {
                hw_token(w, spec, n);
            }
            free(tok);
        }
        /* a comma between list elements; a group's members are separated
         * the same way, and nothing follows its last member but ';' */
        int next_is_member = i + 1 < l->n && l->v[i + 1].kind != ADDR_GROUP_END;
        if (next_is_member && a->kind != ADDR_GROUP_START)
            hw_glue(w, ",", 1);
    }
}

int addr_list_utf8_local(const addr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == ADDR_MAILBOX && l->v[i].utf8_local)
            return 1;
    return 0;
}

int addr_list_non_ascii(const addr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (str_non_ascii(l->v[i].name) || str_non_ascii(l->v[i].addr))
            return 1;
    return 0;
}
