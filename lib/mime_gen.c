/* The MIME generator: chooses each part's transfer encoding, lays the
 * message out as literal bytes and leaf contents, computes its exact size,
 * and produces it on demand in bounded memory. SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "mime_priv.h"

/* The encoded output of one raw chunk, in the worst case (quoted-printable). */
#define GEN_OBUF (GEN_RAW * 6 + 64)

/* ------------------------------------------------------------- sources */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The size of a leaf's content when it can be known without reading it. */
static int source_size(esmtp_mime_part *p, uint64_t *size, int *known)
{
    *known = 1;
    switch (p->src) {
    case SRC_MEM:
        *size = p->len;
        return 0;
    case SRC_FILE: {
        struct stat st;
        if (stat(p->path, &st) != 0 || !S_ISREG(st.st_mode))
            return ESMTP_EREAD;
        *size = (uint64_t)st.st_size;
        return 0;
    }
    case SRC_CB:
        *size = p->cb_size;
        *known = p->cb_size != ESMTP_MIME_SIZE_UNKNOWN;
        return 0;
    default:
        *size = 0;
        return 0;
    }
}

static int src_open(src_reader *r, esmtp_mime_part *p)
{
    memset(r, 0, sizeof *r);
    r->part = p;
    r->fd = -1;
    if (p->src == SRC_FILE) {
        r->fd = open(p->path, O_RDONLY | O_CLOEXEC);
        if (r->fd < 0)
            return ESMTP_EREAD;
    }
    return 0;
}

static void src_close(src_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

/* Fills buf as far as the source allows: a short count means the end.
 * A source that gives more or less than its known size is an error, as the
 * size was announced (and the encoding chosen) from it. */
static long src_read(src_reader *r, unsigned char *buf, size_t cap)
{
    esmtp_mime_part *p = r->part;
    size_t got = 0;
    while (got < cap && !r->eof) {
        long n;
        size_t want = cap - got;
        if (p->src == SRC_MEM) {
            n = (long)(p->len - r->pos < want ? p->len - r->pos : want);
            if (n > 0)
                memcpy(buf + got, p->data + r->pos, (size_t)n);
        } else if (p->src == SRC_FILE) {
            ssize_t k = read(r->fd, buf + got, want);
            if (k < 0 && errno == EINTR)
                continue;
            n = k;
        } else if (p->src == SRC_CB) {
            n = p->cb(p, buf + got, want, p->cb_ud);
            if (n > (long)want)
                n = -1;
        } else {
            n = 0;
        }
        if (n < 0)
            return ESMTP_EREAD;
        if (n == 0)
            r->eof = 1;
        got += (size_t)n;
        r->pos += (uint64_t)n;
    }
    int bounded = p->src != SRC_CB || p->cb_size != ESMTP_MIME_SIZE_UNKNOWN;
    if (bounded && (r->pos > p->raw_size || (r->eof && r->pos != p->raw_size)))
        return ESMTP_EREAD;
    return (long)got;
}

/* ------------------------------------------------------------ scanning */

/* One pass over a leaf's content: what decides its encoding, and its size
 * in each. Text may go as is only if it has no NUL, no line over 998 bytes
 * and no line starting like our boundaries ("--=_"), which base64 and
 * quoted-printable output can never contain. */
static int scan(esmtp_mime *mime, esmtp_mime_part *p, scan_stats *st)
{
    gen_state *g = &mime->gen;
    src_reader r;
    int rc = src_open(&r, p);
    if (rc)
        return rc;
    memset(st, 0, sizeof *st);
    st->norm_ends_crlf = st->qp_ends_crlf = 1;
    qp_state qp = {0};
    qp.binary = !p->is_text;
    int prev_cr = 0;
    size_t line = 0, matched = 0;
    static const char pfx[] = "--=_";
    for (;;) {
        long n = src_read(&r, g->raw, GEN_RAW);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        int final = (size_t)n < GEN_RAW;
        size_t k = crlf_normalize(&prev_cr, g->raw, (size_t)n, (char *)g->norm);
        for (size_t i = 0; i < k; i++) {
            unsigned char c = g->norm[i];
            if (c == '\n') {
                line = matched = 0;
                continue;
            }
            if (c == '\r')
                continue;
            if (++line > 998)
                st->long_line = 1;
            if (line <= 4 && matched == line - 1 && c == (unsigned char)pfx[line - 1] &&
                ++matched == 4)
                st->dashes = 1;
            st->has_8bit |= c >= 0x80;
            st->has_nul |= c == 0;
        }
        if (k)
            st->norm_ends_crlf = g->norm[k - 1] == '\n';
        st->norm_len += k;
        size_t q = qp_encode(&qp, g->raw, (size_t)n, final, g->obuf);
        if (q)
            st->qp_ends_crlf = g->obuf[q - 1] == '\n';
        st->qp_len += q;
        if (final)
            break;
    }
    src_close(&r);
    return rc;
}

/* --------------------------------------------------------- the decisions */

static int is_type(const char *type, const char *prefix)
{
    return strncasecmp(type, prefix, strlen(prefix)) == 0;
}

static void new_boundary(esmtp_mime *mime, esmtp_mime_part *p, unsigned seq)
{
    /* "=_" cannot occur in base64 or quoted-printable output, all
     * boundaries have the same length (none is a prefix of another), and
     * the sequence number keeps nested ones distinct */
    snprintf(p->boundary, sizeof p->boundary, "=_%016" PRIx64 "_%04x", mime_random(mime),
             seq & 0xffff);
}

/* The file name a part is sent with: the one set, or its file's, or NULL. */
static const char *leaf_name(const esmtp_mime_part *p)
{
    return p->filename ? p->filename : p->path ? base_name(p->path) : NULL;
}

/* A leaf's content type as written, and whether it is text. */
static void leaf_type(esmtp_mime_part *p)
{
    const char *name = leaf_name(p);
    p->eff_type = p->type ? p->type : name ? mime_type_for_name(name) : "application/octet-stream";
    p->is_text = is_type(p->eff_type, "text/");
}

/* Whether a leaf's encoding depends on its content (leaf_type first). A
 * callback's content cannot be read twice, so it is never scanned. */
static int needs_scan(const esmtp_mime_part *p)
{
    int base64 = !p->is_text && (p->enc_req == ESMTP_MIME_ENC_AUTO ||
                                 p->enc_req == ESMTP_MIME_ENC_BASE64);
    return !base64 && p->src != SRC_CB;
}

static int decide_leaf(esmtp_mime *mime, esmtp_mime_part *p, int allow_8bit)
{
    leaf_type(p);
    if (is_type(p->eff_type, "multipart/"))
        return ESMTP_EINVAL;
    int rc = source_size(p, &p->raw_size, &p->size_known);
    if (rc)
        return rc;
    esmtp_mime_encoding req = p->enc_req;
    p->has_8bit = 0;
    if ((req == ESMTP_MIME_ENC_AUTO && !p->is_text) ||
        (req == ESMTP_MIME_ENC_BASE64 && !p->is_text)) {
        p->enc = ESMTP_MIME_ENC_BASE64;
        p->out_size = b64_size(p->raw_size);
        p->ends_crlf = p->raw_size == 0;
        return 0;
    }
    if (p->src == SRC_CB) {
        /* cannot be read twice, so not scanned: trust what was asked */
        if (req == ESMTP_MIME_ENC_AUTO || (req == ESMTP_MIME_ENC_8BIT && !allow_8bit))
            req = ESMTP_MIME_ENC_QP;
        p->enc = req;
        p->has_8bit = req == ESMTP_MIME_ENC_8BIT;
        p->size_known = 0;
        return 0;
    }
    /* what mime_scan() read, unless the content's size changed since */
    scan_stats st = p->scanned;
    if ((!p->scan_valid || p->scanned_size != p->raw_size) && (rc = scan(mime, p, &st)) != 0)
        return rc;
    int as_is_ok = !st.has_nul && !st.long_line && !st.dashes;
    uint64_t b64_len = b64_size(st.norm_len);
    switch (req) {
    case ESMTP_MIME_ENC_AUTO:
        if (as_is_ok && !st.has_8bit)
            req = ESMTP_MIME_ENC_7BIT;
        else if (as_is_ok && allow_8bit)
            req = ESMTP_MIME_ENC_8BIT;
        else
            req = st.qp_len <= b64_len ? ESMTP_MIME_ENC_QP : ESMTP_MIME_ENC_BASE64;
        break;
    case ESMTP_MIME_ENC_7BIT:
        if (!as_is_ok || st.has_8bit)
            return ESMTP_EINVAL;
        break;
    case ESMTP_MIME_ENC_8BIT:
        if (!as_is_ok)
            return ESMTP_EINVAL;
        if (!st.has_8bit)
            req = ESMTP_MIME_ENC_7BIT;
        else if (!allow_8bit)
            req = ESMTP_MIME_ENC_QP; /* the downgrade RFC 6152 asks for */
        break;
    default:
        break;
    }
    p->enc = req;
    p->has_8bit = req == ESMTP_MIME_ENC_8BIT;
    if (req == ESMTP_MIME_ENC_QP) {
        p->out_size = st.qp_len;
        p->ends_crlf = st.qp_ends_crlf;
    } else if (req == ESMTP_MIME_ENC_BASE64) {
        p->out_size = b64_len;
        p->ends_crlf = st.norm_len == 0;
    } else {
        p->out_size = st.norm_len;
        p->ends_crlf = st.norm_ends_crlf;
    }
    p->size_known = 1;
    return 0;
}

static int decide(esmtp_mime *mime, esmtp_mime_part *p, int allow_8bit, unsigned *seq,
                  int depth)
{
    if (depth > 64)
        return ESMTP_EINVAL;
    if (p->src != SRC_MULTI)
        return decide_leaf(mime, p, allow_8bit);
    p->eff_type = p->type ? p->type : "multipart/mixed";
    if (!is_type(p->eff_type, "multipart/") || p->nkids == 0)
        return ESMTP_EINVAL;
    new_boundary(mime, p, (*seq)++);
    p->has_8bit = 0;
    p->size_known = 1;
    for (size_t i = 0; i < p->nkids; i++) {
        int rc = decide(mime, p->kids[i], allow_8bit, seq, depth + 1);
        if (rc)
            return rc;
        p->has_8bit |= p->kids[i]->has_8bit;
        p->size_known &= p->kids[i]->size_known;
    }
    return 0;
}

/* --------------------------------------------------------------- layout */

static int push_kid(esmtp_mime_part *parent, esmtp_mime_part *kid)
{
    if (mem_grow(&parent->kids, &parent->kids_cap, parent->nkids, sizeof *parent->kids, 4))
        return ESMTP_ENOMEM;
    parent->kids[parent->nkids++] = kid;
    return 0;
}

/* A part the generator makes itself, whole or not at all: one left without
 * its type would be taken for an empty leaf by the next preparation. */
static int auto_part(esmtp_mime *mime, esmtp_mime_part **slot, const char *type,
                     enum part_src src)
{
    char *copy = mem_strdup(type);
    esmtp_mime_part *p;
    int rc = copy ? mime_new_part(mime, ROLE_PLAIN, &p) : ESMTP_ENOMEM;
    if (rc) {
        free(copy);
        return rc;
    }
    p->type = copy;
    p->src = src;
    *slot = p;
    return 0;
}

/* A multipart made by the simple API, reused on every preparation. */
static int auto_node(esmtp_mime *mime, esmtp_mime_part **slot, const char *type)
{
    int rc = *slot ? 0 : auto_part(mime, slot, type, SRC_MULTI);
    if (rc == 0)
        (*slot)->nkids = 0;
    return rc;
}

/* Wraps main (may be NULL) and the parts of a role into a multipart. */
static int wrap(esmtp_mime *mime, esmtp_mime_part **slot, const char *type,
                esmtp_mime_part **main, enum part_role role)
{
    size_t count = 0;
    for (size_t i = 0; i < mime->nparts; i++)
        count += mime->parts[i]->role == role;
    if (count == 0)
        return 0;
    int rc = auto_node(mime, slot, type);
    if (rc == 0 && *main)
        rc = push_kid(*slot, *main);
    for (size_t i = 0; rc == 0 && i < mime->nparts; i++)
        if (mime->parts[i]->role == role)
            rc = push_kid(*slot, mime->parts[i]);
    if (rc == 0)
        *main = *slot;
    return rc;
}

/* The tree the simple API describes: mixed(related(alternative(text,
 * html), inline...), attachment...), without levels that are not needed. */
static int assemble(esmtp_mime *mime, esmtp_mime_part **root)
{
    esmtp_mime_part *main = mime->body;
    int rc;
    if (!main && mime->text && mime->html) {
        if ((rc = auto_node(mime, &mime->auto_alt, "multipart/alternative")) != 0 ||
            (rc = push_kid(mime->auto_alt, mime->text)) != 0 ||
            (rc = push_kid(mime->auto_alt, mime->html)) != 0)
            return rc;
        main = mime->auto_alt;
    } else if (!main) {
        main = mime->text ? mime->text : mime->html;
    }
    if ((rc = wrap(mime, &mime->auto_rel, "multipart/related", &main, ROLE_INLINE)) != 0 ||
        (rc = wrap(mime, &mime->auto_mixed, "multipart/mixed", &main, ROLE_ATTACHMENT)) != 0)
        return rc;
    if (!main) { /* nothing at all: an empty text body */
        if ((rc = auto_part(mime, &mime->text, "text/plain", SRC_MEM)) != 0)
            return rc;
        main = mime->text;
    }
    *root = main;
    return 0;
}

/* Appends one step to the output program. */
static int prog_add(esmtp_mime *mime, gen_item item)
{
    if (mem_grow(&mime->prog, &mime->prog_cap, mime->nprog, sizeof *mime->prog, 16))
        return ESMTP_ENOMEM;
    mime->prog[mime->nprog++] = item;
    return 0;
}

/* Records the literal bytes appended to mime->lit since offset off. */
static int lit_commit(esmtp_mime *mime, size_t off)
{
    size_t n = mime->lit.len - off;
    gen_item *last = mime->nprog ? &mime->prog[mime->nprog - 1] : NULL;
    if (last && !last->leaf && last->off + last->len == off) {
        last->len += n;
        return 0;
    }
    return prog_add(mime, (gen_item){NULL, off, n});
}

static int lit_add(esmtp_mime *mime, const char *s, size_t n)
{
    size_t off = mime->lit.len;
    return ebuf_append(&mime->lit, s, n) ? ESMTP_ENOMEM : lit_commit(mime, off);
}

static int leaf_add(esmtp_mime *mime, esmtp_mime_part *p)
{
    return prog_add(mime, (gen_item){p, 0, 0});
}

static const char *enc_name(esmtp_mime_encoding e)
{
    switch (e) {
    case ESMTP_MIME_ENC_8BIT: return "8bit";
    case ESMTP_MIME_ENC_QP: return "quoted-printable";
    case ESMTP_MIME_ENC_BASE64: return "base64";
    default: return "7bit";
    }
}

/* A token made of three pieces (name="value", <id>), put together in
 * scratch: a fixed buffer would cut the long values the setters accept. */
static void token3(hdrw *w, ebuf *scratch, const char *a, const char *b, const char *c)
{
    ebuf_clear(scratch);
    if (ebuf_append_str(scratch, a) || ebuf_append_str(scratch, b) ||
        ebuf_append_str(scratch, c))
        w->err = ESMTP_ENOMEM;
    else
        hw_token(w, scratch->data, scratch->len);
}

/* Content-* fields of a part, into the literal buffer. */
static int part_headers(esmtp_mime *mime, esmtp_mime_part *p)
{
    ebuf *out = &mime->lit;
    size_t start = out->len;
    hdrw w = {0};
    ebuf tok = {0};
    hw_start(&w, out, "Content-Type");
    hw_token(&w, p->eff_type, strlen(p->eff_type));
    if (p->src == SRC_MULTI) {
        hw_glue(&w, ";", 1);
        token3(&w, &tok, "boundary=\"", p->boundary, "\"");
        if (is_type(p->eff_type, "multipart/related")) {
            /* RFC 2387: the type of the root part */
            hw_glue(&w, ";", 1);
            token3(&w, &tok, "type=\"", p->kids[0]->eff_type, "\"");
        }
    } else if (p->is_text) {
        hw_glue(&w, ";", 1);
        token3(&w, &tok, "charset=", p->charset ? p->charset : "utf-8", "");
    }
    hw_end(&w);
    if (p->src != SRC_MULTI || p->has_8bit) {
        hw_start(&w, out, "Content-Transfer-Encoding");
        const char *e = enc_name(p->src == SRC_MULTI ? ESMTP_MIME_ENC_8BIT : p->enc);
        hw_token(&w, e, strlen(e));
        hw_end(&w);
    }
    const char *name = leaf_name(p);
    esmtp_mime_disposition d = p->disp;
    if (d == ESMTP_MIME_DISP_DEFAULT)
        d = p->role == ROLE_INLINE                   ? ESMTP_MIME_DISP_INLINE
            : p->role == ROLE_ATTACHMENT || name     ? ESMTP_MIME_DISP_ATTACHMENT
                                                     : ESMTP_MIME_DISP_NONE;
    if (d != ESMTP_MIME_DISP_NONE && p->src != SRC_MULTI) {
        hw_start(&w, out, "Content-Disposition");
        const char *v = d == ESMTP_MIME_DISP_INLINE ? "inline" : "attachment";
        hw_token(&w, v, strlen(v));
        if (name)
            hw_filename(&w, name);
        hw_end(&w);
    }
    if (p->cid) {
        hw_start(&w, out, "Content-ID");
        token3(&w, &tok, "<", p->cid, ">");
        hw_end(&w);
    }
    for (size_t i = 0; i < p->headers.n; i++) {
        hw_start(&w, out, p->headers.v[i].name);
        hw_text(&w, p->headers.v[i].value);
        hw_end(&w);
    }
    ebuf_free(&tok);
    return w.err ? w.err : lit_commit(mime, start);
}

static int layout(esmtp_mime *mime, esmtp_mime_part *p)
{
    if (p->src != SRC_MULTI)
        return leaf_add(mime, p);
    char line[64];
    for (size_t i = 0; i < p->nkids; i++) {
        int n = snprintf(line, sizeof line, "%s--%s\r\n", i ? "\r\n" : "", p->boundary);
        int rc = lit_add(mime, line, (size_t)n);
        if (rc || (rc = part_headers(mime, p->kids[i])) != 0 || (rc = lit_add(mime, "\r\n", 2)) ||
            (rc = layout(mime, p->kids[i])) != 0)
            return rc;
    }
    int n = snprintf(line, sizeof line, "\r\n--%s--", p->boundary);
    return lit_add(mime, line, (size_t)n);
}

/* ----------------------------------------------------- message headers */

static const char *addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "localhost";
}

static const mime_addr *first_mailbox(const addr_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].kind == ADDR_MAILBOX)
            return &l->v[i];
    return NULL;
}

static void format_date(int64_t t, int off, char *buf, size_t cap)
{
    static const char days[][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t local = (time_t)(t + (int64_t)off * 60);
    struct tm tm;
    gmtime_r(&local, &tm);
    int a = off < 0 ? -off : off;
    snprintf(buf, cap, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
             tm.tm_sec, off < 0 ? '-' : '+', a / 60, a % 60);
}

/* The message's header fields. smtputf8: written for SMTPUTF8 (RFC 6532),
 * with addresses as given and, when the caller asked for it, free text and
 * display names as raw UTF-8. */
static int message_headers(esmtp_mime *mime, int smtputf8)
{
    static const char *const names[] = {"From", "Sender", "Reply-To", "To", "Cc"};
    ebuf *out = &mime->lit;
    size_t start = out->len;
    hdrw w = {0};
    w.utf8_addrs = smtputf8;
    w.utf8_text = smtputf8 && mime->utf8_opt;
    ebuf tok = {0};
    char date[64];
    format_date(mime->date, mime->date_off, date, sizeof date);
    hw_start(&w, out, "Date");
    hw_token(&w, date, strlen(date));
    hw_end(&w);
    for (int f = ESMTP_MIME_FROM; f <= ESMTP_MIME_CC; f++) { /* never Bcc */
        if (mime->addrs[f].n == 0)
            continue;
        hw_start(&w, out, names[f]);
        hw_addresses(&w, &mime->addrs[f]);
        hw_end(&w);
    }
    if (mime->subject) {
        hw_start(&w, out, "Subject");
        hw_text(&w, mime->subject);
        hw_end(&w);
    }
    hw_start(&w, out, "Message-ID");
    token3(&w, &tok, "<", mime->msgid, ">");
    hw_end(&w);
    const char *idf[] = {"In-Reply-To", "References"};
    const char *idv[] = {mime->in_reply_to, mime->references};
    for (int i = 0; i < 2; i++) {
        if (!idv[i])
            continue;
        hw_start(&w, out, idf[i]);
        for (const char *p = idv[i]; *p;) {
            const char *e = strchr(p, ' ');
            size_t k = e ? (size_t)(e - p) : strlen(p);
            hw_token(&w, p, k);
            p += k + (e != NULL);
        }
        hw_end(&w);
    }
    if (mime->unsub_mailto || mime->unsub_https) {
        hw_start(&w, out, "List-Unsubscribe");
        const char *uris[] = {mime->unsub_mailto, mime->unsub_https};
        for (int i = 0; i < 2; i++) {
            if (!uris[i])
                continue;
            if (i == 1 && uris[0])
                hw_glue(&w, ",", 1);
            token3(&w, &tok, "<", uris[i], ">");
        }
        hw_end(&w);
        if (mime->one_click) {
            hw_start(&w, out, "List-Unsubscribe-Post");
            hw_token(&w, "List-Unsubscribe=One-Click", 26);
            hw_end(&w);
        }
    }
    for (size_t i = 0; i < mime->headers.n; i++) {
        hw_start(&w, out, mime->headers.v[i].name);
        hw_text(&w, mime->headers.v[i].value);
        hw_end(&w);
    }
    hw_start(&w, out, "MIME-Version");
    hw_token(&w, "1.0", 3);
    hw_end(&w);
    ebuf_free(&tok);
    return w.err ? w.err : lit_commit(mime, start);
}

/* ------------------------------------------------------------ prepare */

static void gen_reset(esmtp_mime *mime)
{
    gen_state *g = &mime->gen;
    if (g->in_leaf)
        src_close(&g->src);
    unsigned char *raw = g->raw, *norm = g->norm;
    char *obuf = g->obuf;
    memset(g, 0, sizeof *g);
    g->raw = raw;
    g->norm = norm;
    g->obuf = obuf;
    g->src.fd = -1;
}

void mime_gen_free(esmtp_mime *mime)
{
    gen_reset(mime);
    free(mime->gen.raw);
    free(mime->gen.norm);
    free(mime->gen.obuf);
    mime->gen.raw = mime->gen.norm = NULL;
    mime->gen.obuf = NULL;
    ebuf_free(&mime->lit);
    free(mime->prog);
    mime->prog = NULL;
    mime->nprog = mime->prog_cap = 0;
}

static int check_addresses(const esmtp_mime *mime)
{
    size_t from = mime->addrs[ESMTP_MIME_FROM].mailboxes;
    size_t sender = mime->addrs[ESMTP_MIME_SENDER].mailboxes;
    /* RFC 5322 3.6.2: several authors need a Sender */
    return from == 0 || sender > 1 || (from > 1 && sender == 0) ? ESMTP_EINVAL : 0;
}

static int make_ids(esmtp_mime *mime)
{
    if (!mime->date_set) {
        if (mime->deterministic) {
            mime->date = 946684800; /* 2000-01-01 00:00:00 UTC */
            mime->date_off = 0;
        } else {
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            mime->date = (int64_t)now;
            mime->date_off = (int)(tm.tm_gmtoff / 60);
        }
        mime->date_set = 1;
    }
    if (!mime->msgid) {
        const addr_list *s = &mime->addrs[ESMTP_MIME_SENDER];
        const mime_addr *a = first_mailbox(s->mailboxes ? s : &mime->addrs[ESMTP_MIME_FROM]);
        if (mime->deterministic)
            mime->rng = (mime->seed ^ 0x6d73672d6964ULL) | 1;
        char buf[320];
        uint64_t x = mime_random(mime), y = mime_random(mime);
        /* the domain in A-labels: a Message-ID is ASCII in every mode */
        snprintf(buf, sizeof buf, "%016" PRIx64 ".%016" PRIx64 "@%s", x, y,
                 addr_domain(a->ascii ? a->ascii : a->addr));
        if (!(mime->msgid = mem_strdup(buf)))
            return ESMTP_ENOMEM;
    }
    return 0;
}

/* The generator's buffers, kept from one use to the next. */
static int gen_buffers(gen_state *g)
{
    if (!g->raw && !(g->raw = mem_malloc(GEN_RAW)))
        return ESMTP_ENOMEM;
    if (!g->norm && !(g->norm = mem_malloc(2 * GEN_RAW)))
        return ESMTP_ENOMEM;
    if (!g->obuf && !(g->obuf = mem_malloc(GEN_OBUF)))
        return ESMTP_ENOMEM;
    return 0;
}

int mime_scan(esmtp_mime *mime)
{
    int rc = gen_buffers(&mime->gen);
    for (size_t i = 0; rc == 0 && i < mime->nparts; i++) {
        esmtp_mime_part *p = mime->parts[i];
        if (p->src == SRC_MULTI || p->src == SRC_NONE)
            continue;
        leaf_type(p);
        p->scan_valid = 0;
        if (!needs_scan(p))
            continue;
        int known;
        if ((rc = source_size(p, &p->raw_size, &known)) == 0 &&
            (rc = scan(mime, p, &p->scanned)) == 0) {
            p->scanned_size = p->raw_size;
            p->scan_valid = 1;
        }
    }
    return rc;
}

void mime_forget_scans(esmtp_mime *mime)
{
    for (size_t i = 0; i < mime->nparts; i++)
        mime->parts[i]->scan_valid = 0;
}

int mime_prepare(esmtp_mime *mime, int allow_8bit, int smtputf8)
{
    gen_reset(mime);
    mime->prepared = 0;
    ebuf_clear(&mime->lit);
    mime->nprog = 0;
    int rc = gen_buffers(&mime->gen);
    if (rc == 0)
        rc = check_addresses(mime);
    if (rc || (rc = make_ids(mime)) != 0)
        return rc;
    if (mime->deterministic)
        mime->rng = mime->seed | 1;
    esmtp_mime_part *root;
    unsigned seq = 0;
    if ((rc = assemble(mime, &root)) != 0 || (rc = decide(mime, root, allow_8bit, &seq, 0)) != 0)
        return rc;
    if ((rc = message_headers(mime, smtputf8)) != 0)
        return rc;
    mime->hdr_8bit = 0;
    for (size_t i = 0; i < mime->lit.len; i++)
        mime->hdr_8bit |= (unsigned char)mime->lit.data[i] >= 0x80;
    if ((rc = part_headers(mime, root)) != 0 ||
        (rc = lit_add(mime, "\r\n", 2)) != 0 || (rc = layout(mime, root)) != 0)
        return rc;
    /* The message ends with CRLF (a multipart's closing delimiter needs
     * one; the data stream would add it anyway). A quoted-printable body
     * ends with a soft line break instead, which adds nothing to it. */
    uint64_t tail = 0;
    mime->tail = "";
    if (root->src == SRC_MULTI) {
        if ((rc = lit_add(mime, "\r\n", 2)) != 0)
            return rc;
    } else {
        mime->tail = root->enc == ESMTP_MIME_ENC_QP ? "=\r\n" : "\r\n";
        tail = root->ends_crlf ? 0 : strlen(mime->tail);
    }
    mime->size = mime->lit.len + tail;
    mime->size_known = 1;
    for (size_t i = 0; i < mime->nprog; i++) {
        const esmtp_mime_part *p = mime->prog[i].leaf;
        if (p) {
            mime->size += p->out_size;
            mime->size_known &= p->size_known;
        }
    }
    mime->body_8bit = root->has_8bit;
    mime->has_8bit = mime->body_8bit || mime->hdr_8bit;
    mime->prepared = 1;
    return 0;
}

/* --------------------------------------------------------- generating */

/* Encodes the next chunk of the current leaf into obuf. */
static int leaf_step(gen_state *g, esmtp_mime_part *p)
{
    long n = src_read(&g->src, g->raw, GEN_RAW);
    if (n < 0)
        return (int)n;
    int final = (size_t)n < GEN_RAW;
    size_t k;
    switch (p->enc) {
    case ESMTP_MIME_ENC_QP:
        g->olen = qp_encode(&g->qp, g->raw, (size_t)n, final, g->obuf);
        break;
    case ESMTP_MIME_ENC_BASE64:
        if (p->is_text) {
            k = crlf_normalize(&g->norm_cr, g->raw, (size_t)n, (char *)g->norm);
            g->olen = b64_encode(&g->b64, g->norm, k, final, g->obuf);
        } else {
            g->olen = b64_encode(&g->b64, g->raw, (size_t)n, final, g->obuf);
        }
        break;
    default:
        g->olen = crlf_normalize(&g->norm_cr, g->raw, (size_t)n, g->obuf);
        break;
    }
    g->opos = 0;
    if (final) {
        src_close(&g->src);
        g->in_leaf = 0;
        g->item++;
    }
    return 0;
}

static void note_last(gen_state *g, const char *p, size_t n)
{
    if (n >= 2) {
        g->last[0] = p[n - 2];
        g->last[1] = p[n - 1];
    } else if (n == 1) {
        g->last[0] = g->last[1];
        g->last[1] = p[0];
    }
}

long mime_read(esmtp_mime *mime, void *buf, size_t len)
{
    if (!mime->prepared)
        return ESMTP_ESTATE;
    gen_state *g = &mime->gen;
    if (g->error)
        return g->error;
    char *out = buf;
    size_t done = 0;
    while (done < len) {
        const char *src;
        size_t avail;
        int from_obuf = g->opos < g->olen;
        if (from_obuf) {
            src = g->obuf + g->opos;
            avail = g->olen - g->opos;
        } else if (g->item < mime->nprog && !mime->prog[g->item].leaf) {
            const gen_item *it = &mime->prog[g->item];
            src = mime->lit.data + it->off + g->lit_pos;
            avail = it->len - g->lit_pos;
        } else if (g->item < mime->nprog) {
            esmtp_mime_part *p = mime->prog[g->item].leaf;
            int rc = 0;
            if (!g->in_leaf) {
                memset(&g->b64, 0, sizeof g->b64);
                memset(&g->qp, 0, sizeof g->qp);
                g->qp.binary = !p->is_text;
                g->norm_cr = 0;
                rc = src_open(&g->src, p);
                g->in_leaf = rc == 0;
            }
            if (rc == 0)
                rc = leaf_step(g, p);
            if (rc) {
                g->error = rc;
                return done ? (long)done : rc;
            }
            continue;
        } else if (!g->tail_done) {
            g->tail_done = 1;
            if (*mime->tail && !(g->last[0] == '\r' && g->last[1] == '\n')) {
                g->olen = strlen(mime->tail);
                memcpy(g->obuf, mime->tail, g->olen);
                g->opos = 0;
            }
            continue;
        } else {
            break;
        }
        size_t k = avail < len - done ? avail : len - done;
        memcpy(out + done, src, k);
        note_last(g, src, k);
        done += k;
        if (from_obuf) {
            g->opos += k;
        } else {
            g->lit_pos += k;
            if (g->lit_pos == mime->prog[g->item].len) {
                g->lit_pos = 0;
                g->item++;
            }
        }
    }
    return (long)done;
}
