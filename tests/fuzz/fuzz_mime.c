/* Fuzz target: the MIME builder. The first input byte picks what the rest
 * drives:
 *   0  an address list, parsed (lib/mime_addr.c), written as a field and
 *      read back (second byte: groups allowed, RFC 6532 forms);
 *   1  unstructured text written as a field with RFC 2047 encoded words
 *      (lib/mime_word.c) and decoded back (second byte: raw UTF-8, name);
 *   2  a file name written as RFC 2231 parameters and decoded back;
 *   3  a whole message built through the public API (include/esmtp/mime.h)
 *      from a stream of commands, generated, then parsed back here: every
 *      line within 998 bytes and ended by CRLF, the announced size and
 *      8-bit flag, the header fields in order and decoding back to what
 *      was set, the tree of parts as documented, boundaries that occur
 *      only as delimiters, each leaf's encoding as asked and decoding back
 *      to its content.
 * Everything written must decode back exactly: a decoder for RFC 2047
 * words, phrases and RFC 2231 parameters is written here, independent of
 * the library's writer. SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <strings.h>
#include <time.h>

#include <esmtp/mime.h>

#include "fuzz_common.h"
#include "mime_priv.h"

/* ------------------------------------------------------------- input */

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

static unsigned next_byte(input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* The next argument: the bytes up to the next NUL (or the end). */
static char *next_str(input *in)
{
    const uint8_t *nul = memchr(in->p, 0, in->n);
    size_t len = nul ? (size_t)(nul - in->p) : in->n;
    char *s = fz_alloc(len + 1);
    memcpy(s, in->p, len);
    s[len] = '\0';
    in->p += len + (nul != NULL);
    in->n -= len + (nul != NULL);
    return s;
}

/* ------------------------------------------------------- small helpers */

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_seq((const unsigned char *)s + i, n - i)) == 0)
            return 0;
    return 1;
}

static int all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 0;
    return 1;
}

/* s without its leading and trailing white space (malloc'd). */
static char *trimmed(const char *s)
{
    while (is_wsp(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_wsp(s[n - 1]))
        n--;
    char *t = fz_alloc(n + 1);
    memcpy(t, s, n);
    t[n] = '\0';
    return t;
}

static void put(ebuf *b, const void *p, size_t n)
{
    FZ_CHECK(ebuf_append(b, p, n) == 0);
}

/* ------------------------------------------------------ header fields */

typedef struct hfield {
    char *name;
    const char *raw;   /* the field as written, folds and final CRLF included */
    size_t raw_len;
    char *value;       /* unfolded, everything after the colon */
} hfield;

typedef struct hblock {
    hfield *v;
    size_t n;
} hblock;

/* Splits a header block (fields, each ending in CRLF) into fields. A field
 * continues on lines starting with white space, none of which is empty or
 * only white space; unfolding removes the CRLFs. */
static void parse_fields(const char *s, size_t n, hblock *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < n;) {
        FZ_CHECK(!is_wsp(s[i]));
        size_t start = i;
        ebuf v = {0};
        put(&v, "", 0);
        for (;;) {
            const char *crlf = memchr(s + i, '\r', n - i);
            FZ_CHECK(crlf && (size_t)(crlf - s) + 1 < n && crlf[1] == '\n');
            size_t end = (size_t)(crlf - s);
            put(&v, s + i, end - i);
            i = end + 2;
            if (i >= n || !is_wsp(s[i]))
                break;
            size_t k = i;
            while (k < n && is_wsp(s[k]))
                k++;
            FZ_CHECK(k < n && s[k] != '\r'); /* no line of white space only */
        }
        const char *colon = memchr(v.data, ':', v.len);
        FZ_CHECK(colon != NULL);
        size_t nl = (size_t)(colon - v.data);
        FZ_CHECK(nl > 0);
        for (size_t k = 0; k < nl; k++)
            FZ_CHECK(v.data[k] > 32 && v.data[k] < 127);
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            hfield *nv = realloc(out->v, cap * sizeof *nv);
            FZ_CHECK(nv != NULL);
            out->v = nv;
        }
        hfield *f = &out->v[out->n++];
        f->name = fz_alloc(nl + 1);
        memcpy(f->name, v.data, nl);
        f->name[nl] = '\0';
        f->value = fz_alloc(v.len - nl);
        memcpy(f->value, colon + 1, v.len - nl - 1);
        f->value[v.len - nl - 1] = '\0';
        f->raw = s + start;
        f->raw_len = i - start;
        ebuf_free(&v);
    }
}

static void free_fields(hblock *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->v[i].name);
        free(b->v[i].value);
    }
    free(b->v);
}

/* A written field parsed alone. */
static void one_field(const ebuf *f, hblock *out)
{
    parse_fields(f->data, f->len, out);
    FZ_CHECK(out->n == 1);
}

/* The writer folds wherever it can: a line over 78 characters holds a
 * single token (one run of white space, then one word). */
static void check_folding(const hfield *f)
{
    const char *line = f->raw, *end = f->raw + f->raw_len;
    int first = 1;
    while (line < end) {
        const char *crlf = line;
        while (crlf[0] != '\r')
            crlf++;
        const char *p = first ? (const char *)memchr(line, ':', (size_t)(crlf - line)) + 1 : line;
        if (crlf - line > 78) {
            while (p < crlf && is_wsp(*p))
                p++;
            while (p < crlf && !is_wsp(*p))
                p++;
            FZ_CHECK(p == crlf);
        }
        line = crlf + 2;
        first = 0;
    }
}

/* ------------------------------------------------------ RFC 2047 words */

static int q_literal(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

/* When tok (n bytes) starts like an encoded word it must be a valid one
 * (RFC 2047: UTF-8, B or Q, at most 75 characters, whole characters
 * inside, Q restricted to the phrase alphabet); its text is appended to
 * out and 1 returned. Returns 0 for any other word. */
static int ew_decode(const char *tok, size_t n, ebuf *out)
{
    if (n < 2 || tok[0] != '=' || tok[1] != '?')
        return 0;
    FZ_CHECK(n <= 75 && n >= 12);
    FZ_CHECK(memcmp(tok, "=?UTF-8?", 8) == 0 && (tok[8] == 'B' || tok[8] == 'Q'));
    FZ_CHECK(tok[9] == '?' && tok[n - 2] == '?' && tok[n - 1] == '=');
    const char *t = tok + 10;
    size_t tn = n - 12;
    unsigned char *dec = fz_alloc(tn);
    size_t k = 0;
    if (tok[8] == 'B') {
        for (size_t i = 0; i < tn; i++)
            FZ_CHECK(t[i] != '\r' && t[i] != '\n');
        long b = fz_b64_decode(t, tn, dec);
        FZ_CHECK(b > 0);
        k = (size_t)b;
    } else {
        for (size_t i = 0; i < tn; i++) {
            unsigned char c = (unsigned char)t[i];
            if (c == '_') {
                dec[k++] = ' ';
            } else if (c == '=') {
                FZ_CHECK(i + 2 < tn && fz_hex(t[i + 1]) >= 0 && fz_hex(t[i + 2]) >= 0);
                dec[k++] = (unsigned char)(fz_hex(t[i + 1]) << 4 | fz_hex(t[i + 2]));
                i += 2;
            } else {
                FZ_CHECK(q_literal(c));
                dec[k++] = c;
            }
        }
        FZ_CHECK(k > 0);
    }
    FZ_CHECK(valid_utf8((const char *)dec, k));
    put(out, dec, k);
    free(dec);
    return 1;
}

/* Unstructured text back from a field value (RFC 2047 section 6.2):
 * encoded words decoded, the white space between two of them dropped,
 * every other byte as it is. The value starts with the one space the
 * writer puts after the colon, and has no white space at its end. */
static char *decode_text(const char *v, int utf8_text)
{
    ebuf out = {0};
    put(&out, "", 0);
    FZ_CHECK(*v == '\0' || *v == ' ');
    const char *p = *v ? v + 1 : v;
    int prev_ew = 0;
    while (*p) {
        const char *ws = p;
        while (is_wsp(*p))
            p++;
        const char *tok = p;
        while (*p && !is_wsp(*p))
            p++;
        FZ_CHECK(p > tok);
        FZ_CHECK(utf8_text || all_ascii(tok, (size_t)(p - tok)));
        ebuf dec = {0};
        int ew = ew_decode(tok, (size_t)(p - tok), &dec);
        if (!(ew && prev_ew))
            put(&out, ws, (size_t)(tok - ws));
        if (ew)
            put(&out, dec.data, dec.len);
        else
            put(&out, tok, (size_t)(p - tok));
        ebuf_free(&dec);
        prev_ew = ew;
    }
    return out.data;
}

/* A phrase (display name, group name) back: quoted strings unescaped,
 * atoms as they are, encoded words decoded; white space kept except
 * between two encoded words. s is trimmed. */
static char *decode_phrase(const char *s, size_t n)
{
    ebuf out = {0};
    put(&out, "", 0);
    int prev_ew = 0;
    for (size_t i = 0; i < n;) {
        size_t ws = i;
        while (i < n && is_wsp(s[i]))
            i++;
        FZ_CHECK(i < n);
        size_t t = i;
        if (s[i] == '"') {
            put(&out, s + ws, t - ws);
            for (i++; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\')
                    FZ_CHECK(++i < n);
                put(&out, s + i, 1);
            }
            FZ_CHECK(i < n);
            i++;
            prev_ew = 0;
            continue;
        }
        while (i < n && !is_wsp(s[i]) && s[i] != '"')
            i++;
        ebuf dec = {0};
        int ew = ew_decode(s + t, i - t, &dec);
        if (!(ew && prev_ew))
            put(&out, s + ws, t - ws);
        if (ew)
            put(&out, dec.data, dec.len);
        else
            put(&out, s + t, i - t);
        ebuf_free(&dec);
        prev_ew = ew;
    }
    return out.data;
}

/* The first c at or after p outside quoted strings. */
static const char *find_unquoted(const char *p, char c)
{
    int quoted = 0;
    for (; *p; p++) {
        if (quoted && *p == '\\' && p[1])
            p++;
        else if (*p == '"')
            quoted = !quoted;
        else if (!quoted && *p == c)
            return p;
    }
    return NULL;
}

static void check_phrase(const char *s, size_t n, const char *want)
{
    while (n > 0 && is_wsp(s[n - 1]))
        n--;
    while (n > 0 && is_wsp(*s))
        s++, n--;
    char *got = decode_phrase(s, n);
    FZ_CHECK(strcmp(got, want ? want : "") == 0);
    free(got);
}

/* ---------------------------------------------------------- addresses */

/* An address field's value against the list it was written from, walking
 * the writer's grammar: [phrase] "<" spec ">" or spec, "phrase:" and ";"
 * around groups, commas between list elements. The library's own parser
 * must then read the same mailboxes back. */
static void check_addresses(const char *v, const addr_list *l, int utf8_addrs)
{
    const char *p = v;
    for (size_t i = 0; i < l->n; i++) {
        const mime_addr *a = &l->v[i];
        if (a->kind != ADDR_GROUP_END) {
            FZ_CHECK(is_wsp(*p));
            while (is_wsp(*p))
                p++;
        }
        if (a->kind == ADDR_GROUP_END) {
            FZ_CHECK(*p == ';');
            p++;
        } else if (a->kind == ADDR_GROUP_START) {
            const char *colon = find_unquoted(p, ':');
            FZ_CHECK(colon != NULL);
            check_phrase(p, (size_t)(colon - p), a->name);
            p = colon + 1;
        } else {
            const char *spec = utf8_addrs || !a->ascii ? a->addr : a->ascii;
            size_t sn = strlen(spec);
            if (a->name) {
                const char *lt = find_unquoted(p, '<');
                FZ_CHECK(lt != NULL);
                check_phrase(p, (size_t)(lt - p), a->name);
                p = lt + 1;
            }
            FZ_CHECK(strncmp(p, spec, sn) == 0);
            p += sn;
            if (a->name)
                FZ_CHECK(*p++ == '>');
        }
        int next_is_member = i + 1 < l->n && l->v[i + 1].kind != ADDR_GROUP_END;
        if (next_is_member && a->kind != ADDR_GROUP_START)
            FZ_CHECK(*p++ == ',');
    }
    FZ_CHECK(*p == '\0');

    addr_list back = {0};
    FZ_CHECK(addr_list_parse(&back, v, 1) == 0);
    FZ_CHECK(back.n == l->n && back.mailboxes == l->mailboxes);
    for (size_t i = 0; i < l->n; i++) {
        const mime_addr *a = &l->v[i];
        FZ_CHECK(back.v[i].kind == a->kind);
        if (a->kind == ADDR_MAILBOX)
            FZ_CHECK(strcmp(back.v[i].addr, utf8_addrs || !a->ascii ? a->addr : a->ascii) == 0);
    }
    addr_list_free(&back);
}

static void fuzz_addresses(input *in)
{
    unsigned flags = next_byte(in);
    char *text = next_str(in);
    addr_list l = {0};
    if (addr_list_parse(&l, text, flags & 1) == 0) {
        FZ_CHECK(l.n > 0);
        ebuf b = {0};
        hdrw w = {0};
        w.utf8_addrs = (flags >> 1) & 1;
        w.utf8_text = (flags >> 2) & 1;
        hw_start(&w, &b, "To");
        hw_addresses(&w, &l);
        FZ_CHECK(hw_end(&w) == 0);
        fz_check_lines(b.data, b.len, 998);
        if (!w.utf8_addrs && !w.utf8_text && !addr_list_utf8_local(&l))
            FZ_CHECK(all_ascii(b.data, b.len));
        hblock f;
        one_field(&b, &f);
        check_addresses(f.v[0].value, &l, w.utf8_addrs);
        free_fields(&f);
        ebuf_free(&b);
    } else {
        FZ_CHECK(l.n == 0 && l.mailboxes == 0);
    }
    addr_list_free(&l);
    free(text);
}

/* ------------------------------------------------------------- text */

/* Field names of every length the writer can meet (1 to 76). */
static const char *field_name(unsigned pick)
{
    static const char names[] = "X-Fuzz-Field-Name-Long-Enough-To-Leave-Little-Room-For-"
                                "Anything-Else-On-It-Ok";
    static char buf[80];
    size_t n = 1 + pick % 76;
    memcpy(buf, names, n);
    buf[n] = '\0';
    return buf;
}

static void check_text(const hfield *f, const char *text, int utf8_text)
{
    check_folding(f);
    char *got = decode_text(f->value, utf8_text);
    char *want = trimmed(text);
    FZ_CHECK(strcmp(got, want) == 0);
    free(want);
    free(got);
}

static void fuzz_text(input *in)
{
    unsigned flags = next_byte(in);
    char *text = next_str(in);
    if (text_valid(text, 1)) {
        ebuf b = {0};
        hdrw w = {0};
        w.utf8_text = flags & 1;
        hw_start(&w, &b, flags & 2 ? field_name(flags >> 2) : "Subject");
        hw_text(&w, text);
        FZ_CHECK(hw_end(&w) == 0);
        fz_check_lines(b.data, b.len, 998);
        if (!w.utf8_text)
            FZ_CHECK(all_ascii(b.data, b.len));
        hblock f;
        one_field(&b, &f);
        check_text(&f.v[0], text, w.utf8_text);
        free_fields(&f);
        ebuf_free(&b);
    }
    free(text);
}

/* --------------------------------------------------------- RFC 2231 */

static int attr_char(unsigned char c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?=*'%", c);
}

/* The file name from Content-Disposition parameters (after the
 * disposition itself): filename*=UTF-8''... or filename*0*=UTF-8''...,
 * filename*1*=... (each segment whole characters, %XX only where needed),
 * then an ASCII filename="..." fallback; or filename="..." alone. */
static void check_filename_params(const char *p, const char *name)
{
    ebuf ext = {0};
    put(&ext, "", 0);
    int nseg = 0, single = 0;
    char *plain = NULL;
    while (*p) {
        FZ_CHECK(plain == NULL); /* the plain parameter comes last */
        FZ_CHECK(*p++ == ';');
        FZ_CHECK(is_wsp(*p));
        while (is_wsp(*p))
            p++;
        const char *eq = strchr(p, '=');
        FZ_CHECK(eq != NULL);
        size_t an = (size_t)(eq - p);
        const char *val = eq + 1;
        if (an == 8 && memcmp(p, "filename", 8) == 0) {
            FZ_CHECK(*val == '"');
            const char *close = strchr(val + 1, '"');
            FZ_CHECK(close != NULL);
            plain = fz_alloc((size_t)(close - val));
            memcpy(plain, val + 1, (size_t)(close - val - 1));
            plain[close - val - 1] = '\0';
            p = close + 1;
            continue;
        }
        int first;
        if (an == 9 && memcmp(p, "filename*", 9) == 0) {
            FZ_CHECK(nseg == 0 && !single);
            single = 1;
            first = 1;
        } else {
            char want[32];
            int wn = snprintf(want, sizeof want, "filename*%d*", nseg);
            FZ_CHECK(!single && an == (size_t)wn && memcmp(p, want, an) == 0);
            first = nseg++ == 0;
        }
        if (first) {
            FZ_CHECK(strncmp(val, "UTF-8''", 7) == 0);
            val += 7;
        }
        size_t start = ext.len, chars = 0;
        for (p = val; *p && *p != ';'; p++, chars++) {
            unsigned char c = (unsigned char)*p;
            if (c == '%') {
                FZ_CHECK(fz_hex(p[1]) >= 0 && fz_hex(p[2]) >= 0);
                c = (unsigned char)(fz_hex(p[1]) << 4 | fz_hex(p[2]));
                FZ_CHECK(!attr_char(c));
                p += 2;
                chars += 2;
            } else {
                FZ_CHECK(attr_char(c));
            }
            put(&ext, &c, 1);
        }
        FZ_CHECK(chars <= 50);
        FZ_CHECK(valid_utf8(ext.data + start, ext.len - start));
    }
    FZ_CHECK(plain != NULL);
    for (const char *c = plain; *c; c++)
        FZ_CHECK(*c >= 32 && *c < 127 && *c != '"' && *c != '\\');
    FZ_CHECK(*plain && strlen(plain) <= 50);
    if (single || nseg)
        FZ_CHECK(strcmp(ext.data, name) == 0);
    else
        FZ_CHECK(strcmp(plain, name) == 0);
    free(plain);
    ebuf_free(&ext);
}

/* A part's file name is what esmtp_mime_part_set_filename() accepts. */
static int filename_ok(const char *s)
{
    return *s && strlen(s) <= 1000 && text_valid(s, 0);
}

static void fuzz_filename(input *in)
{
    char *name = next_str(in);
    if (filename_ok(name)) {
        ebuf b = {0};
        hdrw w = {0};
        hw_start(&w, &b, "Content-Disposition");
        hw_token(&w, "attachment", 10);
        hw_filename(&w, name);
        FZ_CHECK(hw_end(&w) == 0);
        fz_check_lines(b.data, b.len, 998);
        FZ_CHECK(all_ascii(b.data, b.len));
        hblock f;
        one_field(&b, &f);
        FZ_CHECK(strncmp(f.v[0].value, " attachment", 11) == 0);
        check_filename_params(f.v[0].value + 11, name);
        free_fields(&f);
        ebuf_free(&b);
    }
    free(name);
}

/* ------------------------------------------------------------ messages */

/* The content of a part read through a callback, given out in pieces of
 * at most piece bytes; declared is the size announced for it. */
typedef struct cb_src {
    unsigned char *data;
    size_t len, pos, piece;
    uint64_t declared;
} cb_src;

#define MAX_CB 8

static long cb_read(esmtp_mime_part *part, void *buf, size_t len, void *user_data)
{
    (void)part;
    cb_src *c = user_data;
    size_t n = c->len - c->pos;
    if (n > len)
        n = len;
    if (n > c->piece)
        n = c->piece;
    memcpy(buf, c->data + c->pos, n);
    c->pos += n;
    return (long)n;
}

/* A part's content as given, whatever its source. */
static const unsigned char *part_data(const esmtp_mime_part *p, size_t *len)
{
    if (p && p->src == SRC_CB) {
        const cb_src *c = p->cb_ud;
        *len = c->len;
        return c->data;
    }
    *len = p ? p->len : 0;
    return p && p->data ? p->data : (const unsigned char *)"";
}

/* The tree of parts the documentation promises, to compare the output
 * with: multipart nodes of the simple API have no part behind them. */
typedef struct enode {
    esmtp_mime_part *part;   /* NULL: an automatic multipart or empty text */
    const char *type;
    struct enode **kids;
    size_t nkids;
} enode;

static enode *new_node(esmtp_mime_part *part, const char *type)
{
    enode *e = fz_alloc(sizeof *e);
    e->part = part;
    e->type = type;
    e->kids = NULL;
    e->nkids = 0;
    return e;
}

static void add_kid(enode *e, enode *kid)
{
    e->kids = realloc(e->kids, (e->nkids + 1) * sizeof *e->kids);
    FZ_CHECK(e->kids != NULL);
    e->kids[e->nkids++] = kid;
}

static void free_tree(enode *e)
{
    for (size_t i = 0; i < e->nkids; i++)
        free_tree(e->kids[i]);
    free(e->kids);
    free(e);
}

static enode *part_tree(esmtp_mime_part *p)
{
    if (p->src != SRC_MULTI) {
        const char *t = p->type      ? p->type
                        : p->filename ? mime_type_for_name(p->filename)
                                      : "application/octet-stream";
        return new_node(p, t);
    }
    enode *e = new_node(p, p->type ? p->type : "multipart/mixed");
    for (size_t i = 0; i < p->nkids; i++)
        add_kid(e, part_tree(p->kids[i]));
    return e;
}

/* mixed( related( alternative( text, html ), inline... ), attachment... ),
 * without the levels that are not needed; the main body part instead of
 * text and HTML when there is one; an empty text/plain for nothing. */
static enode *expected_tree(esmtp_mime *m)
{
    enode *main = NULL;
    if (m->body) {
        main = part_tree(m->body);
    } else if (m->text && m->html) {
        main = new_node(NULL, "multipart/alternative");
        add_kid(main, part_tree(m->text));
        add_kid(main, part_tree(m->html));
    } else if (m->text || m->html) {
        main = part_tree(m->text ? m->text : m->html);
    }
    static const struct {
        enum part_role role;
        const char *type;
    } wraps[] = {{ROLE_INLINE, "multipart/related"}, {ROLE_ATTACHMENT, "multipart/mixed"}};
    for (size_t w = 0; w < 2; w++) {
        enode *wrap = NULL;
        for (size_t i = 0; i < m->nparts; i++) {
            if (m->parts[i]->role != wraps[w].role)
                continue;
            if (!wrap) {
                wrap = new_node(NULL, wraps[w].type);
                if (main)
                    add_kid(wrap, main);
            }
            add_kid(wrap, part_tree(m->parts[i]));
        }
        if (wrap)
            main = wrap;
    }
    return main ? main : new_node(NULL, "text/plain");
}

/* The value of a parameter in a Content-Type value (the writer's form:
 * "; name=value" or "; name=\"value\""), malloc'd, or NULL. */
static char *param(const char *v, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = find_unquoted(v, ';'); p; p = find_unquoted(p + 1, ';')) {
        const char *q = p + 1;
        while (is_wsp(*q))
            q++;
        if (strncmp(q, name, nl) != 0 || q[nl] != '=')
            continue;
        q += nl + 1;
        size_t n;
        if (*q == '"') {
            const char *close = strchr(++q, '"');
            FZ_CHECK(close != NULL);
            n = (size_t)(close - q);
        } else {
            n = strcspn(q, "; \t");
        }
        char *r = fz_alloc(n + 1);
        memcpy(r, q, n);
        r[n] = '\0';
        return r;
    }
    return NULL;
}

/* The media type of a Content-Type value, compared case-insensitively. */
static int type_is(const char *v, const char *type)
{
    while (is_wsp(*v))
        v++;
    size_t n = strcspn(v, "; \t");
    return strlen(type) == n && strncasecmp(v, type, n) == 0;
}

static const hfield *field_at(const hblock *b, size_t *i, const char *name)
{
    if (*i < b->n && strcasecmp(b->v[*i].name, name) == 0)
        return &b->v[(*i)++];
    return NULL;
}

/* A leaf: its transfer encoding as asked, its content decoding back. */
static void check_leaf(int allow_8bit, const enode *e, const char *cte, const char *body, size_t n,
                       int root, int *has_8bit_out)
{
    esmtp_mime_part *p = e->part;
    size_t len;
    const unsigned char *data = part_data(p, &len);
    int is_text = strncasecmp(e->type, "text/", 5) == 0;
    esmtp_mime_encoding req = p ? p->enc_req : ESMTP_MIME_ENC_AUTO;
    unsigned char *want = fz_alloc(2 * len + 2);
    size_t wn = fz_crlf(data, len, want);
    int has_8bit = 0;
    for (size_t i = 0; i < wn; i++)
        has_8bit |= want[i] >= 0x80;
    while (is_wsp(*cte))
        cte++;
    unsigned char *got = fz_alloc(n + 1);
    long gn;
    if (strcmp(cte, "base64") == 0 || strcmp(cte, "quoted-printable") == 0) {
        int b64 = cte[0] == 'b';
        esmtp_mime_encoding as = b64 ? ESMTP_MIME_ENC_BASE64 : ESMTP_MIME_ENC_QP;
        /* as asked, or chosen, or the downgrade of 8bit without 8BITMIME */
        FZ_CHECK(req == ESMTP_MIME_ENC_AUTO || req == as ||
                 (!b64 && req == ESMTP_MIME_ENC_8BIT && !allow_8bit));
        fz_check_lines(body, n, 76);
        gn = b64 ? fz_b64_decode(body, n, got) : fz_qp_decode(body, n, got);
        FZ_CHECK(gn >= 0);
        if (!is_text) {
            /* non-text content is binary: exactly the bytes given */
            memcpy(want, data, len);
            wn = len;
        }
    } else {
        int eight = strcmp(cte, "8bit") == 0;
        FZ_CHECK(eight || strcmp(cte, "7bit") == 0);
        FZ_CHECK(is_text || req == ESMTP_MIME_ENC_7BIT || req == ESMTP_MIME_ENC_8BIT);
        FZ_CHECK(req != ESMTP_MIME_ENC_QP && req != ESMTP_MIME_ENC_BASE64);
        FZ_CHECK(eight == has_8bit && (!eight || allow_8bit));
        for (size_t i = 0; i < n; i++)
            FZ_CHECK(body[i] != '\0');
        /* a line like a delimiter would be ambiguous */
        for (size_t i = 0; i + 4 <= n; i++)
            FZ_CHECK(!((i == 0 || body[i - 1] == '\n') && memcmp(body + i, "--=_", 4) == 0));
        /* the message as a whole ends with CRLF */
        if (root && wn > 0 && !(wn >= 2 && want[wn - 2] == '\r' && want[wn - 1] == '\n')) {
            want[wn++] = '\r';
            want[wn++] = '\n';
        }
        memcpy(got, body, n);
        gn = (long)n;
        *has_8bit_out |= eight;
    }
    FZ_CHECK((size_t)gn == wn && (wn == 0 || memcmp(got, want, wn) == 0));
    free(got);
    free(want);
}

/* The fields of a part from index hi of h: Content-Type, then (for a leaf,
 * or a multipart holding 8bit) Content-Transfer-Encoding, then
 * Content-Disposition, Content-ID and the part's own fields, in that
 * order and nothing else. */
static void check_node(int allow_8bit, const enode *e, const hblock *h, size_t hi,
                       const char *body, size_t n, int root, int *has_8bit_out)
{
    esmtp_mime_part *p = e->part;
    /* part fields are ASCII whatever the message header is */
    for (size_t k = hi; k < h->n; k++)
        FZ_CHECK(all_ascii(h->v[k].raw, h->v[k].raw_len));
    const hfield *ct = field_at(h, &hi, "Content-Type");
    FZ_CHECK(ct != NULL && type_is(ct->value, e->type));
    const hfield *cte = field_at(h, &hi, "Content-Transfer-Encoding");
    int mine = 0; /* a leaf of this subtree went as 8bit */
    if (e->nkids == 0 && (!p || p->src != SRC_MULTI)) {
        FZ_CHECK(cte != NULL);
        if (strncasecmp(e->type, "text/", 5) == 0) {
            char *cs = param(ct->value, "charset");
            FZ_CHECK(cs && strcmp(cs, p && p->charset ? p->charset : "utf-8") == 0);
            free(cs);
        }
        const char *name = p ? p->filename : NULL;
        esmtp_mime_disposition d = p ? p->disp : ESMTP_MIME_DISP_DEFAULT;
        if (d == ESMTP_MIME_DISP_DEFAULT)
            d = p && p->role == ROLE_INLINE                 ? ESMTP_MIME_DISP_INLINE
                : (p && p->role == ROLE_ATTACHMENT) || name ? ESMTP_MIME_DISP_ATTACHMENT
                                                            : ESMTP_MIME_DISP_NONE;
        const hfield *cd = field_at(h, &hi, "Content-Disposition");
        FZ_CHECK((cd != NULL) == (d != ESMTP_MIME_DISP_NONE));
        if (cd) {
            const char *dv = d == ESMTP_MIME_DISP_INLINE ? " inline" : " attachment";
            FZ_CHECK(strncmp(cd->value, dv, strlen(dv)) == 0);
            const char *rest = cd->value + strlen(dv);
            if (name)
                check_filename_params(rest, name);
            else
                FZ_CHECK(*rest == '\0');
        }
        check_leaf(allow_8bit, e, cte->value, body, n, root, &mine);
    } else {
        char *b = param(ct->value, "boundary");
        FZ_CHECK(b != NULL && strlen(b) < 70 && *b);
        for (const char *q = b; *q; q++)
            FZ_CHECK(*q > 32 && *q < 127 && !strchr("\"\\", *q));
        if (type_is(ct->value, "multipart/related")) {
            char *t = param(ct->value, "type");
            FZ_CHECK(t && e->nkids > 0 && strcasecmp(t, e->kids[0]->type) == 0);
            free(t);
        }
        /* "--b" CRLF part CRLF "--b" CRLF part ... CRLF "--b--", and the
         * delimiter nowhere else at the start of a line */
        size_t bl = strlen(b);
        char *delim = fz_alloc(bl + 5);
        snprintf(delim, bl + 5, "\r\n--%s", b);
        size_t dl = bl + 4;
        FZ_CHECK(n >= dl && memcmp(body, delim + 2, dl - 2) == 0);
        FZ_CHECK(memcmp(body + dl - 2, "\r\n", 2) == 0);
        size_t pos = dl, kid = 0;
        int closed = 0;
        while (!closed) {
            size_t next = pos;
            while (next + dl <= n && memcmp(body + next, delim, dl) != 0)
                next++;
            FZ_CHECK(next + dl <= n);
            FZ_CHECK(kid < e->nkids);
            const char *part = body + pos;
            size_t plen = next - pos;
            /* the part's header ends at its first empty line */
            const char *sep = NULL;
            for (size_t i = 0; i + 4 <= plen; i++)
                if (memcmp(part + i, "\r\n\r\n", 4) == 0) {
                    sep = part + i;
                    break;
                }
            FZ_CHECK(sep != NULL);
            hblock kh;
            parse_fields(part, (size_t)(sep - part) + 2, &kh);
            size_t hdr = (size_t)(sep - part) + 4;
            check_node(allow_8bit, e->kids[kid], &kh, 0, sep + 4, plen - hdr, 0, &mine);
            free_fields(&kh);
            kid++;
            pos = next + dl;
            if (pos + 2 <= n && memcmp(body + pos, "--", 2) == 0) {
                closed = 1;
                pos += 2;
            } else {
                FZ_CHECK(pos + 2 <= n && memcmp(body + pos, "\r\n", 2) == 0);
                pos += 2;
            }
        }
        FZ_CHECK(kid == e->nkids);
        /* nothing after the close but the message's final CRLF */
        FZ_CHECK(root ? pos + 2 == n && memcmp(body + pos, "\r\n", 2) == 0 : pos == n);
        free(delim);
        free(b);
        FZ_CHECK((cte != NULL) == mine);
        if (cte)
            FZ_CHECK(strcmp(cte->value, " 8bit") == 0);
    }
    *has_8bit_out |= mine;
    const hfield *cid = field_at(h, &hi, "Content-ID");
    FZ_CHECK((cid != NULL) == (p && p->cid));
    if (cid) {
        FZ_CHECK(cid->value[0] == ' ' && cid->value[1] == '<');
        FZ_CHECK(strncmp(cid->value + 2, p->cid, strlen(p->cid)) == 0);
        FZ_CHECK(strcmp(cid->value + 2 + strlen(p->cid), ">") == 0);
    }
    for (size_t i = 0; p && i < p->headers.n; i++) {
        const hfield *f = field_at(h, &hi, p->headers.v[i].name);
        FZ_CHECK(f != NULL);
        check_text(f, p->headers.v[i].value, 0);
    }
    FZ_CHECK(hi == h->n);
}

/* The Date field: "Www, DD Mon YYYY HH:MM:SS +hhmm" for the time set. */
static void check_date(const char *v, const esmtp_mime *m)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const char days[] = "SunMonTueWedThuFriSat";
    char wd[4], mon[4], sign;
    int day, year, hh, mm, ss, off;
    FZ_CHECK(sscanf(v, " %3s, %d %3s %d %d:%d:%d %c%4d", wd, &day, mon, &year, &hh, &mm, &ss,
                    &sign, &off) == 9);
    const char *mp = strstr(months, mon);
    FZ_CHECK(mp && (mp - months) % 3 == 0 && (sign == '+' || sign == '-'));
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = (int)(mp - months) / 3;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    int64_t local = (int64_t)timegm(&tm);
    int minutes = (off / 100 * 60 + off % 100) * (sign == '-' ? -1 : 1);
    FZ_CHECK(off % 100 < 60 && minutes == m->date_off);
    FZ_CHECK(local - (int64_t)minutes * 60 == m->date);
    FZ_CHECK(strncmp(days + 3 * tm.tm_wday, wd, 3) == 0 && wd[3] == '\0');
}

/* Reads the whole prepared message in pieces of step bytes. */
static char *read_message(esmtp_mime *m, size_t step, size_t *len)
{
    ebuf out = {0};
    char *buf = fz_alloc(step);
    long k;
    while ((k = esmtp_mime_read(m, buf, step)) > 0) {
        FZ_CHECK((size_t)k <= step);
        put(&out, buf, (size_t)k);
    }
    FZ_CHECK(k == 0);
    FZ_CHECK(esmtp_mime_read(m, buf, step) == 0); /* the end stays the end */
    free(buf);
    *len = out.len;
    put(&out, "", 0);
    return out.data;
}

/* Every callback starts again from its beginning, as for a new attempt. */
static void rewind_sources(cb_src *cbs, size_t ncb)
{
    for (size_t i = 0; i < ncb; i++)
        cbs[i].pos = 0;
}

static void check_message(esmtp_mime *m, int allow_8bit, size_t step, cb_src *cbs, size_t ncb)
{
    enode *tree = expected_tree(m);
    /* the header is written for SMTPUTF8 when esmtp_mime_prepare() says */
    int smtputf8 = mime_needs_smtputf8(m) || (m->utf8_opt && mime_header_non_ascii(m));
    uint64_t size;
    int has_8bit;
    int rc = esmtp_mime_prepare(m, allow_8bit, &size, &has_8bit);
    FZ_CHECK(rc == 0 || rc == ESMTP_EINVAL);
    if (rc) {
        free_tree(tree);
        return;
    }
    /* a callback that gives another size than it announced fails the
     * message, and it stays failed */
    int wrong_size = 0;
    for (size_t i = 0; i < ncb; i++)
        wrong_size |= cbs[i].declared != ESMTP_MIME_SIZE_UNKNOWN && cbs[i].declared != cbs[i].len;
    if (wrong_size) {
        char buf[4096];
        long k;
        while ((k = esmtp_mime_read(m, buf, sizeof buf)) > 0)
            ;
        FZ_CHECK(k == ESMTP_EREAD && esmtp_mime_read(m, buf, sizeof buf) == ESMTP_EREAD);
        free_tree(tree);
        return;
    }
    size_t n;
    char *msg = read_message(m, step, &n);
    FZ_CHECK(size == n || (ncb > 0 && size == ESMTP_MIME_SIZE_UNKNOWN));
    int any_high = 0;
    for (size_t i = 0; i < n; i++)
        any_high |= (unsigned char)msg[i] >= 0x80;
    FZ_CHECK(has_8bit == any_high);
    fz_check_lines(msg, n, 998);
    FZ_CHECK(n >= 2 && memcmp(msg + n - 2, "\r\n", 2) == 0);

    /* the same bytes again, prepared again and read in other pieces */
    FZ_CHECK(esmtp_mime_prepare(m, allow_8bit, NULL, NULL) == 0);
    rewind_sources(cbs, ncb);
    size_t n2;
    char *again = read_message(m, step * 7 + 3, &n2);
    FZ_CHECK(n2 == n && memcmp(again, msg, n) == 0);
    free(again);

    const char *sep = strstr(msg, "\r\n\r\n");
    FZ_CHECK(sep != NULL);
    size_t hlen = (size_t)(sep - msg) + 2;
    FZ_CHECK(smtputf8 ? valid_utf8(msg, hlen) : all_ascii(msg, hlen));
    hblock h;
    parse_fields(msg, hlen, &h);
    int utf8_text = smtputf8 && m->utf8_opt;

    size_t hi = 0;
    const hfield *f = field_at(&h, &hi, "Date");
    FZ_CHECK(f != NULL);
    check_date(f->value, m);
    static const char *const names[] = {"From", "Sender", "Reply-To", "To", "Cc"};
    for (int k = ESMTP_MIME_FROM; k <= ESMTP_MIME_CC; k++) {
        if (m->addrs[k].n == 0)
            continue;
        f = field_at(&h, &hi, names[k]);
        FZ_CHECK(f != NULL);
        check_addresses(f->value, &m->addrs[k], smtputf8);
    }
    if (m->subject) {
        f = field_at(&h, &hi, "Subject");
        FZ_CHECK(f != NULL);
        check_text(f, m->subject, utf8_text);
    }
    f = field_at(&h, &hi, "Message-ID");
    FZ_CHECK(f && f->value[0] == ' ' && f->value[1] == '<');
    FZ_CHECK(strncmp(f->value + 2, m->msgid, strlen(m->msgid)) == 0);
    FZ_CHECK(strcmp(f->value + 2 + strlen(m->msgid), ">") == 0);
    const char *idf[] = {"In-Reply-To", "References"};
    const char *idv[] = {m->in_reply_to, m->references};
    for (int k = 0; k < 2; k++) {
        if (!idv[k])
            continue;
        f = field_at(&h, &hi, idf[k]);
        FZ_CHECK(f && f->value[0] == ' ' && strcmp(f->value + 1, idv[k]) == 0);
    }
    if (m->unsub_mailto || m->unsub_https) {
        f = field_at(&h, &hi, "List-Unsubscribe");
        FZ_CHECK(f != NULL);
        ebuf u = {0};
        const char *uris[] = {m->unsub_mailto, m->unsub_https};
        for (int k = 0; k < 2; k++) {
            if (!uris[k])
                continue;
            put(&u, k == 1 && uris[0] ? ", <" : " <", k == 1 && uris[0] ? 3 : 2);
            put(&u, uris[k], strlen(uris[k]));
            put(&u, ">", 1);
        }
        FZ_CHECK(strcmp(f->value, u.data) == 0);
        ebuf_free(&u);
        f = field_at(&h, &hi, "List-Unsubscribe-Post");
        FZ_CHECK((f != NULL) == m->one_click);
        if (f)
            FZ_CHECK(strcmp(f->value, " List-Unsubscribe=One-Click") == 0);
    }
    for (size_t k = 0; k < m->headers.n; k++) {
        f = field_at(&h, &hi, m->headers.v[k].name);
        FZ_CHECK(f != NULL);
        check_text(f, m->headers.v[k].value, utf8_text);
    }
    f = field_at(&h, &hi, "MIME-Version");
    FZ_CHECK(f && strcmp(f->value, " 1.0") == 0);

    int body_8bit = 0;
    check_node(allow_8bit, tree, &h, hi, sep + 4, n - hlen - 2, 1, &body_8bit);
    FZ_CHECK(body_8bit == (m->body_8bit != 0));
    free_fields(&h);
    free(msg);
    free_tree(tree);
}

/* Part content (malloc'd): the string, with \x01 standing for NUL when
 * asked, and repeated to reach the encoders' chunk boundaries. */
static unsigned char *content(input *in, unsigned flags, size_t *len)
{
    char *s = next_str(in);
    size_t n = strlen(s);
    static const size_t reps[] = {1, 3, 70, 400};
    size_t rep = reps[flags >> 6];
    if (n * rep > 70000)
        rep = 1;
    unsigned char *data = fz_alloc(n * rep);
    for (size_t r = 0; r < rep; r++)
        for (size_t i = 0; i < n; i++)
            data[r * n + i] = (flags & 0x20) && s[i] == 1 ? 0 : (unsigned char)s[i];
    free(s);
    *len = n * rep;
    return data;
}

static void set_content(esmtp_mime_part *p, input *in, unsigned flags)
{
    size_t n;
    unsigned char *data = content(in, flags, &n);
    esmtp_mime_part_set_data(p, data, n);
    free(data);
}

/* Encoding and disposition from a flag byte (0 leaves the default). A
 * callback's content is not scanned, so 7bit or 8bit would send it
 * blindly as it is: those become the default for it (but an 8bit asked
 * without 8BITMIME is still the quoted-printable downgrade). */
static void part_options(esmtp_mime_part *p, unsigned flags, int allow_8bit)
{
    esmtp_mime_encoding enc = (esmtp_mime_encoding)((flags & 7) % 5);
    if (p->src == SRC_CB &&
        (enc == ESMTP_MIME_ENC_7BIT || (enc == ESMTP_MIME_ENC_8BIT && allow_8bit)))
        enc = ESMTP_MIME_ENC_AUTO;
    if (flags & 7)
        esmtp_mime_part_set_encoding(p, enc);
    if ((flags >> 3) & 3)
        esmtp_mime_part_set_disposition(p, (esmtp_mime_disposition)((flags >> 3) & 3));
}

static void with_str(input *in, esmtp_mime_part *p, int (*set)(esmtp_mime_part *, const char *))
{
    char *s = next_str(in);
    if (*s)
        set(p, s);
    free(s);
}

#define MAX_PARTS 32

static void fuzz_message(input *in)
{
    unsigned opts = next_byte(in);
    unsigned seed = next_byte(in);
    esmtp_mime *m;
    FZ_CHECK(esmtp_mime_new(&m) == 0);
    FZ_CHECK(esmtp_mime_set_deterministic(m, seed) == 0);
    if (opts & 2)
        FZ_CHECK(esmtp_mime_set_utf8_headers(m, 1) == 0);
    esmtp_mime_part *parts[MAX_PARTS]; /* the body and its subparts */
    size_t nparts = 0;
    cb_src cbs[MAX_CB];
    size_t ncb = 0;
    esmtp_mime_part *last = NULL;
    int from = 0;
    while (in->n > 0) {
        unsigned op = next_byte(in) % 17;
        char *a = next_str(in);
        char *b;
        esmtp_mime_part *p = NULL;
        unsigned flags;
        esmtp_mime_field field;
        switch (op) {
        case 0:
            esmtp_mime_set_subject(m, a);
            break;
        case 1:
            from |= esmtp_mime_add_addresses(m, ESMTP_MIME_FROM, a) == 0;
            break;
        case 2:
            b = next_str(in);
            field = (esmtp_mime_field)(next_byte(in) % 6);
            if (esmtp_mime_add_mailbox(m, field, *a ? a : NULL, b) == 0)
                from |= field == ESMTP_MIME_FROM;
            free(b);
            break;
        case 3:
            esmtp_mime_add_addresses(m, (esmtp_mime_field)(1 + next_byte(in) % 5), a);
            break;
        case 4:
            b = next_str(in);
            esmtp_mime_add_header(m, a, b);
            free(b);
            break;
        case 5:
        case 6:
            flags = next_byte(in);
            (op == 5 ? esmtp_mime_set_text : esmtp_mime_set_html)(m, a, strlen(a));
            last = op == 5 ? m->text : m->html;
            if (last)
                part_options(last, flags, opts & 1);
            break;
        case 7:
        case 8:
            flags = next_byte(in);
            if ((op == 7 ? esmtp_mime_add_attachment(m, &p) : esmtp_mime_add_inline(m, a, &p)) != 0)
                break;
            if (op == 7 && *a)
                esmtp_mime_part_set_filename(p, a);
            with_str(in, p, esmtp_mime_part_set_type);
            set_content(p, in, flags);
            part_options(p, flags, opts & 1);
            last = p;
            break;
        case 9: /* the main body part, or a part below it */
            flags = next_byte(in);
            if (nparts == 0) {
                if (esmtp_mime_body(m, &p) != 0)
                    break;
            } else if (nparts == MAX_PARTS ||
                       esmtp_mime_part_add_subpart(parts[next_byte(in) % nparts], &p) != 0) {
                break;
            }
            parts[nparts++] = p;
            if (*a)
                esmtp_mime_part_set_type(p, a);
            if ((flags & 7) != 7) /* else left empty, to hold subparts */
                set_content(p, in, flags);
            part_options(p, flags, opts & 1);
            last = p;
            break;
        case 10:
            b = next_str(in);
            esmtp_mime_set_list_unsubscribe(m, *a ? a : NULL, *b ? b : NULL, next_byte(in) & 1);
            free(b);
            break;
        case 11:
            esmtp_mime_set_message_id(m, a);
            break;
        case 12:
            (next_byte(in) & 1 ? esmtp_mime_set_references : esmtp_mime_set_in_reply_to)(m, a);
            break;
        case 13:
            if (last) {
                b = next_str(in);
                esmtp_mime_part_add_header(last, a, b);
                free(b);
            }
            break;
        case 14:
            if (last) {
                esmtp_mime_part_set_charset(last, a);
                with_str(in, last, esmtp_mime_part_set_content_id);
            }
            break;
        case 16: { /* an attachment read through a callback */
            flags = next_byte(in);
            if (ncb == MAX_CB || esmtp_mime_add_attachment(m, &p) != 0)
                break;
            if (*a)
                esmtp_mime_part_set_filename(p, a);
            with_str(in, p, esmtp_mime_part_set_type);
            cb_src *c = &cbs[ncb++];
            c->data = content(in, flags, &c->len);
            c->pos = 0;
            c->piece = 1 + next_byte(in) * 67;
            static const int64_t off_by[] = {0, 0, 1, -1};
            unsigned sz = next_byte(in) % 4;
            c->declared = sz == 1 || (sz == 3 && c->len == 0) ? ESMTP_MIME_SIZE_UNKNOWN
                                                             : c->len + (uint64_t)off_by[sz];
            esmtp_mime_part_set_read_cb(p, cb_read, c->declared, c);
            part_options(p, flags, opts & 1);
            last = p;
            break;
        }
        default: {
            uint64_t t = 0;
            for (int i = 0; i < 5; i++)
                t = t << 8 | next_byte(in);
            int off = (int)((next_byte(in) << 8 | next_byte(in)) % 2879) - 1439;
            esmtp_mime_set_date(m, (int64_t)(t % 253402300800ULL), off);
            break;
        }
        }
        free(a);
    }
    if (!from)
        FZ_CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, NULL, "fuzz@example.org") == 0);
    check_message(m, opts & 1, 1 + (opts >> 2) * 37, cbs, ncb);
    esmtp_mime_free(m);
    for (size_t i = 0; i < ncb; i++)
        free(cbs[i].data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    input in = {data, size};
    switch (next_byte(&in) % 4) {
    case 0:
        fuzz_addresses(&in);
        break;
    case 1:
        fuzz_text(&in);
        break;
    case 2:
        fuzz_filename(&in);
        break;
    default:
        fuzz_message(&in);
        break;
    }
    return 0;
}
