/* Header fields: folding (RFC 5322 section 2.2.3), encoded words (RFC 2047)
 * and RFC 2231 file name parameters. SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "mime_priv.h"

/* ------------------------------------------------------------ validation */

int text_valid(const char *s, int tab_ok)
{
    if (!s)
        return 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            if (!(tab_ok && p[i] == '\t'))
                return 0;
        }
        size_t k = utf8_seq(p + i, n - i);
        if (k == 0)
            return 0;
        i += k;
    }
    return 1;
}

int field_name_valid(const char *s)
{
    if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < 33 || s[n] > 126 || s[n] == ':')
            return 0;
    return n <= 76;
}

/* dot-atom-text; with utf8, RFC 6532's UTF8-non-ascii is atext too. */
static int dot_atom_valid(const char *s, size_t n, int utf8)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = 1;
        if (c == '.') {
            if (s[i + 1] == '.') /* i + 1 < n: the last byte is no dot */
                return 0;
        } else if (c >= 0x80) {
            k = utf8 ? utf8_seq((const unsigned char *)s + i, n - i) : 0;
            if (k == 0)
                return 0;
        } else if (!is_atext(c)) {
            return 0;
        }
        i += k;
    }
    return 1;
}

static int addr_spec_check(const char *s, size_t n, int utf8)
{
    if (n == 0 || n > 254)
        return 0;
    size_t at;
    if (s[0] == '"') {
        /* quoted local part: printable ASCII (and UTF-8), with \" and \\
         * escapes */
        size_t i = 1;
        while (i < n && s[i] != '"') {
            if (s[i] == '\\' && i + 1 < n)
                i++;
            unsigned char c = (unsigned char)s[i];
            size_t k = 1;
            if (c >= 0x80 && utf8)
                k = utf8_seq((const unsigned char *)s + i, n - i);
            else if (c < 32 || c > 126)
                k = 0;
            if (k == 0)
                return 0;
            i += k;
        }
        if (i >= n || i + 1 >= n || s[i + 1] != '@')
            return 0;
        at = i + 1;
    } else {
        const char *a = memchr(s, '@', n);
        if (!a)
            return 0;
        at = (size_t)(a - s);
        if (!dot_atom_valid(s, at, utf8))
            return 0;
    }
    if (at > 64 + 2 * (s[0] == '"'))
        return 0;
    const char *d = s + at + 1;
    size_t dn = n - at - 1;
    if (dn >= 2 && d[0] == '[' && d[dn - 1] == ']') {
        for (size_t k = 1; k + 1 < dn; k++)
            if (d[k] < 33 || d[k] > 126 || d[k] == '[' || d[k] == ']' || d[k] == '\\')
                return 0;
        return 1;
    }
    return dot_atom_valid(d, dn, utf8);
}

int addr_spec_valid(const char *s, size_t n)
{
    return addr_spec_check(s, n, 0);
}

int addr_spec_valid_utf8(const char *s, size_t n)
{
    return addr_spec_check(s, n, 1);
}

/* ---------------------------------------------------------- the writer */

static void put(hdrw *w, const void *p, size_t n)
{
    if (!w->err && ebuf_append(w->out, p, n) != 0)
        w->err = ESMTP_ENOMEM;
}

void hw_start(hdrw *w, ebuf *out, const char *name)
{
    w->out = out;
    w->col = 0;
    w->line_has_token = 0;
    put(w, name, strlen(name));
    put(w, ":", 1);
    w->col = strlen(name) + 1;
}

/* Folds when the next len columns (with their leading space) would not fit;
 * a line is never left without a token, so the first one stays on it. */
static void fold_for(hdrw *w, size_t len)
{
    if (w->line_has_token && w->col + 1 + len > HDR_FOLD) {
        put(w, "\r\n", 2);
        w->col = 0;
        w->line_has_token = 0;
    }
}

/* A token after the white space character that separates it from the
 * previous one; a fold puts CRLF before that character (RFC 5322 section
 * 2.2.3), so unfolding gives it back. */
static void token_after(hdrw *w, char wsp, const char *tok, size_t len)
{
    fold_for(w, len);
    put(w, &wsp, 1);
    put(w, tok, len);
    w->col += 1 + len;
    w->line_has_token = 1;
}

void hw_token(hdrw *w, const char *tok, size_t len)
{
    token_after(w, ' ', tok, len);
}

void hw_glue(hdrw *w, const char *s, size_t len)
{
    put(w, s, len);
    w->col += len;
}

int hw_end(hdrw *w)
{
    put(w, "\r\n", 2);
    return w->err;
}

/* -------------------------------------------------------- encoded words */

#define EW_PREFIX "=?UTF-8?"
#define EW_OVERHEAD 12       /* "=?UTF-8?B?" + "?=" */
#define EW_MAX 75            /* RFC 2047 section 2 */

static const char hexd[] = "0123456789ABCDEF";

/* Q is restricted to these in every context (RFC 2047 section 5 (3)), so
 * the same encoded words are valid in phrases and in free text. */
static int q_literal(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_len(unsigned char c)
{
    return q_literal(c) || c == ' ' ? 1 : 3;
}

static size_t b_len(size_t bytes)
{
    return (bytes + 2) / 3 * 4;
}

static void write_word(hdrw *w, char wsp, const unsigned char *s, size_t n, int use_b)
{
    char buf[EW_MAX + 1];
    size_t k = 0;
    memcpy(buf, EW_PREFIX, 8);
    k = 8;
    buf[k++] = use_b ? 'B' : 'Q';
    buf[k++] = '?';
    if (use_b) {
        b64_state st = {0};
        k += b64_encode(&st, s, n, 1, buf + k);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (q_literal(s[i])) {
                buf[k++] = (char)s[i];
            } else if (s[i] == ' ') {
                buf[k++] = '_';
            } else {
                buf[k++] = '=';
                buf[k++] = hexd[s[i] >> 4];
                buf[k++] = hexd[s[i] & 15];
            }
        }
    }
    buf[k++] = '?';
    buf[k++] = '=';
    token_after(w, wsp, buf, k);
}

/* Encoded words for s, the first after wsp: decoders drop the white space
 * between encoded words, but keep the one before the first. */
static void encoded_after(hdrw *w, char wsp, const unsigned char *s, size_t n)
{
    size_t qtotal = 0;
    for (size_t i = 0; i < n; i++)
        qtotal += q_len(s[i]);
    int use_b = b_len(n) < qtotal;
    size_t i = 0;
    while (i < n) {
        /* Room for this word: the rest of this line, or a fresh line when
         * the line already holds a token and the next character does not fit. */
        size_t room = w->col + 1 < HDR_FOLD ? HDR_FOLD - (w->col + 1) : 0;
        size_t first = utf8_seq(s + i, n - i);
        if (first == 0)
            first = 1; /* callers validate; never loop forever */
        size_t first_cost = use_b ? b_len(first) : 0;
        for (size_t k = 0; !use_b && k < first; k++)
            first_cost += q_len(s[i + k]);
        if (room < EW_OVERHEAD + first_cost && w->line_has_token) {
            put(w, "\r\n", 2);
            w->col = 0;
            w->line_has_token = 0;
            room = HDR_FOLD - 1;
        }
        if (room > EW_MAX)
            room = EW_MAX;
        size_t budget = room > EW_OVERHEAD ? room - EW_OVERHEAD : 0;
        /* Take whole characters while they fit. */
        size_t j = i, qcost = 0;
        while (j < n) {
            size_t k = utf8_seq(s + j, n - j);
            if (k == 0)
                k = 1;
            size_t cost;
            if (use_b) {
                cost = b_len(j + k - i);
            } else {
                cost = qcost;
                for (size_t t = 0; t < k; t++)
                    cost += q_len(s[j + t]);
            }
            if (cost > budget && j > i)
                break;
            qcost = cost;
            j += k;
        }
        write_word(w, i == 0 ? wsp : ' ', s + i, j - i, use_b);
        i = j;
    }
}

void hw_encoded(hdrw *w, const unsigned char *s, size_t n, int phrase)
{
    (void)phrase; /* the restricted Q alphabet suits both contexts */
    encoded_after(w, ' ', s, n);
}

/* ------------------------------------------------------ free text, phrases */

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* A word goes out as is only if it is printable ASCII (or, with utf8_text,
 * UTF-8), fits on a line and cannot be mistaken for an encoded word. tlen
 * is its length with the extra white space kept before it. A non-ASCII
 * word cannot be folded, so it may pass HDR_FOLD, though not HDR_RAW_WORD. */
static int word_as_is(const hdrw *w, const char *s, size_t n, size_t tlen)
{
    if (n >= 2 && s[0] == '=' && s[1] == '?')
        return 0;
    int ascii = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80)
            ascii = 0;
        else if (c < 33 || c == 127)
            return 0;
    }
    if (!ascii && !w->utf8_text)
        return 0;
    return tlen + 1 <= (ascii ? HDR_FOLD - 1 : HDR_RAW_WORD);
}

void hw_text(hdrw *w, const char *utf8)
{
    const char *p = utf8;
    while (is_wsp(*p))
        p++;
    const char *seg = NULL; /* a run of words merged into encoded words */
    const char *seg_end = NULL;
    char seg_wsp = ' ';
    const char *ws = p;     /* the white space before the current word */
    while (*p) {
        const char *wstart = p;
        while (*p && !is_wsp(*p))
            p++;
        /* The first white space character (a space or a TAB, as given)
         * separates the token; the rest stays in it, so that unfolding
         * gives back the text exactly. */
        char wsp = ws < wstart ? *ws : ' ';
        const char *tok = ws < wstart ? ws + 1 : wstart;
        size_t tlen = (size_t)(p - tok);
        if (!word_as_is(w, wstart, (size_t)(p - wstart), tlen)) {
            /* Encoded words next to each other are merged with the white
             * space between them, which decoders would otherwise drop. */
            if (!seg) {
                seg = tok;
                seg_wsp = wsp;
            }
            seg_end = p;
        } else {
            if (seg)
                encoded_after(w, seg_wsp, (const unsigned char *)seg, (size_t)(seg_end - seg));
            seg = NULL;
            token_after(w, wsp, tok, tlen);
        }
        ws = p;
        while (is_wsp(*p))
            p++;
    }
    if (seg)
        encoded_after(w, seg_wsp, (const unsigned char *)seg, (size_t)(seg_end - seg));
}

/* Splits s at single spaces into tokens (extra spaces stay at the start of
 * the next token, so unfolding gives s back). dry: only checks that every
 * token, with the space before it, fits in max columns. */
static int space_tokens(hdrw *w, const char *s, size_t n, size_t max, int dry)
{
    for (size_t i = 0; i < n;) {
        size_t start = i;
        while (i < n && s[i] == ' ')
            i++;
        while (i < n && s[i] != ' ')
            i++;
        if (dry && i - start + 1 > max)
            return 0;
        if (!dry)
            hw_token(w, s + start, i - start);
        if (i < n)
            i++; /* the space hw_token puts back */
    }
    return 1;
}

/* RFC 6532 phrase: UTF-8 atoms, or a quoted string holding UTF-8. Returns 0
 * when a word is too long to go unfolded (encoded words then). */
static int raw_phrase(hdrw *w, const char *utf8, size_t n)
{
    int atoms = n > 0 && !strstr(utf8, "=?");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c == ' ' ? (i == 0 || i + 1 == n || utf8[i + 1] == ' ') : !(is_atext(c) || c >= 0x80))
            atoms = 0;
    }
    if (atoms)
        return space_tokens(w, utf8, n, HDR_RAW_WORD, 1) &&
               space_tokens(w, utf8, n, HDR_RAW_WORD, 0);
    ebuf q = {0};
    int ok = ebuf_append(&q, "\"", 1) == 0;
    for (size_t i = 0; ok && i < n; i++) {
        if ((utf8[i] == '"' || utf8[i] == '\\') && ebuf_append(&q, "\\", 1) != 0)
            ok = 0;
        if (ok && ebuf_append(&q, utf8 + i, 1) != 0)
            ok = 0;
    }
    if (ok && ebuf_append(&q, "\"", 1) != 0)
        ok = 0;
    if (!ok) {
        ebuf_free(&q);
        w->err = ESMTP_ENOMEM;
        return 1;
    }
    ok = space_tokens(w, q.data, q.len, HDR_RAW_WORD, 1);
    if (ok)
        space_tokens(w, q.data, q.len, HDR_RAW_WORD, 0);
    ebuf_free(&q);
    return ok;
}

void hw_phrase(hdrw *w, const char *utf8)
{
    size_t n = strlen(utf8);
    int ascii = 1, atoms = n > 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c < 32 || c > 126)
            ascii = 0;
        if (c == ' ' ? (i == 0 || i + 1 == n || utf8[i + 1] == ' ') : !is_atext(c))
            atoms = 0;
    }
    if (n >= 2 && strstr(utf8, "=?"))
        atoms = 0;
    if (!ascii && w->utf8_text && raw_phrase(w, utf8, n))
        return;
    if (ascii && atoms) {
        /* every atom must fit on a line before any is written: a long one
         * makes the whole name encoded words */
        if (space_tokens(w, utf8, n, HDR_FOLD - 1, 1))
            space_tokens(w, utf8, n, HDR_FOLD - 1, 0);
        else
            hw_encoded(w, (const unsigned char *)utf8, n, 1);
        return;
    }
    size_t esc = 0;
    for (size_t i = 0; i < n; i++)
        esc += utf8[i] == '"' || utf8[i] == '\\';
    if (ascii && n + esc + 2 + 1 <= HDR_FOLD - 1) {
        char q[HDR_FOLD];
        size_t k = 0;
        q[k++] = '"';
        for (size_t i = 0; i < n; i++) {
            if (utf8[i] == '"' || utf8[i] == '\\')
                q[k++] = '\\';
            q[k++] = utf8[i];
        }
        q[k++] = '"';
        hw_token(w, q, k);
        return;
    }
    hw_encoded(w, (const unsigned char *)utf8, n, 1);
}

/* ----------------------------------------------------------- RFC 2231 */

/* Characters of value per parameter: with its name and a continuation
 * number a parameter still fits on a folded line. */
#define PARAM_CHUNK 50

/* attribute-char (RFC 2231 section 7): token characters except * ' % */
static int attr_char(unsigned char c)
{
    return c > 32 && c < 127 && !strchr("()<>@,;:\\\"/[]?=*'%", c);
}

/* A plain ASCII fallback for old readers: each other character becomes
 * '_'; a long name is cut in the middle, keeping its extension. */
static void ascii_fallback(const char *name, char *out, size_t cap)
{
    char tmp[1024];
    size_t k = 0;
    const unsigned char *s = (const unsigned char *)name;
    size_t n = strlen(name);
    for (size_t i = 0; i < n && k + 1 < sizeof tmp;) {
        size_t len = utf8_seq(s + i, n - i);
        int keep = len == 1 && s[i] >= 32 && s[i] < 127 && s[i] != '"' && s[i] != '\\';
        tmp[k++] = keep ? (char)s[i] : '_';
        i += len ? len : 1;
    }
    tmp[k] = '\0';
    if (k < cap) {
        memcpy(out, tmp, k + 1);
        return;
    }
    const char *dot = strrchr(tmp, '.');
    size_t ext = dot && strlen(dot) < cap / 2 ? strlen(dot) : 0;
    size_t head = cap - 1 - ext;
    memcpy(out, tmp, head);
    memcpy(out + head, tmp + k - ext, ext);
    out[head + ext] = '\0';
}

void hw_filename(hdrw *w, const char *utf8)
{
    size_t n = strlen(utf8);
    int plain = n <= PARAM_CHUNK;
    for (size_t i = 0; i < n && plain; i++)
        if ((unsigned char)utf8[i] < 32 || (unsigned char)utf8[i] > 126 || utf8[i] == '"' ||
            utf8[i] == '\\')
            plain = 0;
    char tok[PARAM_CHUNK + 32];
    size_t k;
    if (plain) {
        k = (size_t)snprintf(tok, sizeof tok, "filename=\"%s\"", utf8);
        hw_glue(w, ";", 1);
        hw_token(w, tok, k);
        return;
    }
    /* filename*=UTF-8''%XX..., split into filename*0*, *1*, ... when long;
     * a segment never ends inside a character. It comes before the ASCII
     * fallback: readers that take the first of the two (Python's email)
     * then get the real name, and old ones ignore it. */
    size_t total = 0;
    const unsigned char *s = (const unsigned char *)utf8;
    for (size_t i = 0; i < n; i++)
        total += attr_char(s[i]) ? 1 : 3;
    int continued = total > PARAM_CHUNK;
    size_t i = 0;
    for (unsigned seg = 0; i < n; seg++) {
        char val[PARAM_CHUNK + 16];
        size_t v = 0;
        while (i < n) {
            size_t len = utf8_seq(s + i, n - i);
            if (len == 0)
                len = 1;
            size_t cost = 0;
            for (size_t j = 0; j < len; j++)
                cost += attr_char(s[i + j]) ? 1 : 3;
            if (v > 0 && v + cost > PARAM_CHUNK)
                break;
            for (size_t j = 0; j < len; j++) {
                unsigned char c = s[i + j];
                if (attr_char(c)) {
                    val[v++] = (char)c;
                } else {
                    val[v++] = '%';
                    val[v++] = hexd[c >> 4];
                    val[v++] = hexd[c & 15];
                }
            }
            i += len;
        }
        if (continued)
            k = (size_t)snprintf(tok, sizeof tok, "filename*%u*=%s%.*s", seg,
                                 seg == 0 ? "UTF-8''" : "", (int)v, val);
        else
            k = (size_t)snprintf(tok, sizeof tok, "filename*=UTF-8''%.*s", (int)v, val);
        hw_glue(w, ";", 1);
        hw_token(w, tok, k);
    }
    char fb[PARAM_CHUNK + 1];
    ascii_fallback(utf8, fb, sizeof fb);
    k = (size_t)snprintf(tok, sizeof tok, "filename=\"%s\"", fb);
    hw_glue(w, ";", 1);
    hw_token(w, tok, k);
}
