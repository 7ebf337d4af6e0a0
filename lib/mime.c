/* The MIME builder's public API: the handle, its setters, and attaching a
 * built message to an esmtp_message. SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "message.h"
#include "mime_priv.h"

/* ------------------------------------------------------------- helpers */

uint64_t mime_random(esmtp_mime *mime)
{
    /* xorshift64*: enough to make boundaries and IDs unpredictable to
     * content authors; the seed comes from the system's entropy */
    uint64_t x = mime->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    mime->rng = x;
    return x * 2685821657736338717ULL;
}

int hdr_list_add(hdr_list *l, const char *name, const char *value)
{
    if (mem_grow(&l->v, &l->cap, l->n, sizeof *l->v, 4))
        return ESMTP_ENOMEM;
    hdr_field f = {mem_strdup(name), mem_strdup(value)};
    if (!f.name || !f.value) {
        free(f.name);
        free(f.value);
        return ESMTP_ENOMEM;
    }
    l->v[l->n++] = f;
    return 0;
}

void hdr_list_free(hdr_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Changes are refused while a session is sending the message; any change
 * means the message must be prepared again. */
static int editable(esmtp_mime *mime)
{
    if (!mime)
        return ESMTP_EINVAL;
    if (mime->attached && message_locked(mime->attached))
        return ESMTP_ESTATE;
    mime->prepared = 0;
    mime_forget_scans(mime);
    return 0;
}

int mime_new_part(esmtp_mime *mime, enum part_role role, esmtp_mime_part **out)
{
    if (mem_grow(&mime->parts, &mime->parts_cap, mime->nparts, sizeof *mime->parts, 8))
        return ESMTP_ENOMEM;
    esmtp_mime_part *p = mem_calloc(1, sizeof *p);
    if (!p)
        return ESMTP_ENOMEM;
    p->mime = mime;
    p->role = role;
    p->cb_size = ESMTP_MIME_SIZE_UNKNOWN;
    mime->parts[mime->nparts++] = p;
    *out = p;
    return 0;
}

static void part_free(esmtp_mime_part *p)
{
    free(p->data);
    free(p->path);
    free(p->type);
    free(p->charset);
    free(p->filename);
    free(p->cid);
    hdr_list_free(&p->headers);
    free(p->kids);
    free(p);
}

/* "left@right" as in a msg-id (RFC 5322 3.6.4), without the brackets. */
static int id_valid(const char *s, size_t n)
{
    return n > 0 && n <= 250 && s[0] != '"' && addr_spec_valid(s, n);
}

/* Normalises a list of "<id>" separated by white space into *dst. */
static int set_id_list(esmtp_mime *mime, char **dst, const char *ids)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!ids || !text_valid(ids, 1))
        return ESMTP_EINVAL;
    ebuf out = {0};
    const char *p = ids;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '>');
        if (*p != '<' || !e || !id_valid(p + 1, (size_t)(e - p - 1))) {
            ebuf_free(&out);
            return ESMTP_EINVAL;
        }
        if ((out.len && ebuf_append(&out, " ", 1)) || ebuf_append(&out, p, (size_t)(e - p + 1))) {
            ebuf_free(&out);
            return ESMTP_ENOMEM;
        }
        p = e + 1;
    }
    if (!out.len)
        return ESMTP_EINVAL;
    free(*dst);
    *dst = out.data;
    return 0;
}

/* Fields the builder writes itself, refused as custom headers. */
static int reserved_name(const char *name, int for_part)
{
    static const char *const message_fields[] = {
        "From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID",
        "In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post",
    };
    static const char *const part_fields[] = {
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
        "Content-ID",
    };
    for (size_t i = 0; i < sizeof part_fields / sizeof *part_fields; i++)
        if (strcasecmp(name, part_fields[i]) == 0)
            return 1;
    for (size_t i = 0; !for_part && i < sizeof message_fields / sizeof *message_fields; i++)
        if (strcasecmp(name, message_fields[i]) == 0)
            return 1;
    return 0;
}

/* A token (RFC 2045): printable ASCII without specials. */
static int token_valid(const char *s, size_t n)
{
    if (n == 0 || n > 127)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 32 || s[i] >= 127 || strchr("()<>@,;:\\\"/[]?=", s[i]))
            return 0;
    return 1;
}

/* ------------------------------------------------------------- handle */

int esmtp_mime_new(esmtp_mime **out)
{
    if (!out)
        return ESMTP_EINVAL;
    esmtp_mime *mime = mem_calloc(1, sizeof *mime);
    if (!mime)
        return ESMTP_ENOMEM;
    uint64_t seed = 0;
    if (getentropy(&seed, sizeof seed) != 0)
        seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)mime ^ ((uint64_t)getpid() << 32);
    mime->rng = seed | 1;
    *out = mime;
    return 0;
}

void esmtp_mime_free(esmtp_mime *mime)
{
    if (!mime)
        return;
    mime_gen_free(mime);
    for (size_t i = 0; i <= ESMTP_MIME_BCC; i++)
        addr_list_free(&mime->addrs[i]);
    free(mime->subject);
    free(mime->msgid);
    free(mime->in_reply_to);
    free(mime->references);
    free(mime->unsub_mailto);
    free(mime->unsub_https);
    hdr_list_free(&mime->headers);
    for (size_t i = 0; i < mime->nparts; i++)
        part_free(mime->parts[i]);
    free(mime->parts);
    free(mime);
}

/* ------------------------------------------------------------- headers */

int esmtp_mime_add_mailbox(esmtp_mime *mime, esmtp_mime_field field, const char *display_name,
                           const char *addr_spec)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if ((unsigned)field > ESMTP_MIME_BCC || !addr_spec ||
        !addr_spec_valid_utf8(addr_spec, strlen(addr_spec)) ||
        (display_name && !text_valid(display_name, 0)))
        return ESMTP_EINVAL;
    addr_list *l = &mime->addrs[field];
    if (field == ESMTP_MIME_SENDER && l->mailboxes > 0)
        return ESMTP_EINVAL;
    return addr_list_add(l, ADDR_MAILBOX, display_name, display_name ? strlen(display_name) : 0,
                         addr_spec, strlen(addr_spec));
}

int esmtp_mime_add_addresses(esmtp_mime *mime, esmtp_mime_field field, const char *list)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if ((unsigned)field > ESMTP_MIME_BCC || !list)
        return ESMTP_EINVAL;
    addr_list *l = &mime->addrs[field];
    size_t keep = l->n;
    int groups = field != ESMTP_MIME_FROM && field != ESMTP_MIME_SENDER;
    rc = addr_list_parse(l, list, groups);
    if (rc == 0 && field == ESMTP_MIME_SENDER && l->mailboxes > 1) {
        addr_list_truncate(l, keep);
        rc = ESMTP_EINVAL;
    }
    return rc;
}

int esmtp_mime_set_subject(esmtp_mime *mime, const char *subject)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!subject || !text_valid(subject, 1))
        return ESMTP_EINVAL;
    return mem_set_string(&mime->subject, subject);
}

int esmtp_mime_set_message_id(esmtp_mime *mime, const char *id)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!id)
        return ESMTP_EINVAL;
    size_t n = strlen(id);
    if (n >= 2 && id[0] == '<' && id[n - 1] == '>') {
        id++;
        n -= 2;
    }
    if (!id_valid(id, n))
        return ESMTP_EINVAL;
    char *copy = mem_strndup(id, n);
    if (!copy)
        return ESMTP_ENOMEM;
    free(mime->msgid);
    mime->msgid = copy;
    return 0;
}

int esmtp_mime_set_in_reply_to(esmtp_mime *mime, const char *ids)
{
    return set_id_list(mime, mime ? &mime->in_reply_to : NULL, ids);
}

int esmtp_mime_set_references(esmtp_mime *mime, const char *ids)
{
    return set_id_list(mime, mime ? &mime->references : NULL, ids);
}

int esmtp_mime_set_date(esmtp_mime *mime, int64_t unix_time, int utc_offset_minutes)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (utc_offset_minutes < -1439 || utc_offset_minutes > 1439 || unix_time < 0 ||
        unix_time > 253402300799LL) /* the year 9999 */
        return ESMTP_EINVAL;
    mime->date = unix_time;
    mime->date_off = utc_offset_minutes;
    mime->date_set = 1;
    return 0;
}

/* A URI that can go between angle brackets in List-Unsubscribe. */
static int uri_valid(const char *s, const char *scheme)
{
    if (!s)
        return 1;
    size_t n = strlen(s), k = strlen(scheme);
    if (n <= k || n > 900 || strncasecmp(s, scheme, k) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 32 || s[i] >= 127 || s[i] == '<' || s[i] == '>' || s[i] == '"' ||
            s[i] == ',')
            return 0;
    return 1;
}

int esmtp_mime_set_list_unsubscribe(esmtp_mime *mime, const char *mailto_uri,
                                    const char *https_uri, int one_click)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if ((!mailto_uri && !https_uri) || !uri_valid(mailto_uri, "mailto:") ||
        !uri_valid(https_uri, "https://") || (one_click && !https_uri))
        return ESMTP_EINVAL;
    char *a = NULL, *b = NULL;
    if (mem_set_string(&a, mailto_uri) || mem_set_string(&b, https_uri)) {
        free(a);
        return ESMTP_ENOMEM;
    }
    free(mime->unsub_mailto);
    free(mime->unsub_https);
    mime->unsub_mailto = a;
    mime->unsub_https = b;
    mime->one_click = one_click != 0;
    return 0;
}

int esmtp_mime_add_header(esmtp_mime *mime, const char *name, const char *value)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!field_name_valid(name) || reserved_name(name, 0) || !text_valid(value, 1))
        return ESMTP_EINVAL;
    return hdr_list_add(&mime->headers, name, value);
}

int esmtp_mime_set_utf8_headers(esmtp_mime *mime, int utf8)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    mime->utf8_opt = utf8 != 0;
    return 0;
}

int esmtp_mime_set_deterministic(esmtp_mime *mime, uint64_t seed)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    mime->deterministic = 1;
    mime->seed = seed;
    return 0;
}

/* ---------------------------------------------------- simple structure */

static int set_body_text(esmtp_mime *mime, esmtp_mime_part **slot, const char *type,
                         const char *text, size_t len)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!text && len)
        return ESMTP_EINVAL;
    if (mime->body)
        return ESMTP_ESTATE;
    esmtp_mime_part *p = *slot;
    if (!p) {
        char *copy = mem_strdup(type);
        if (!copy)
            return ESMTP_ENOMEM;
        if ((rc = mime_new_part(mime, ROLE_PLAIN, &p)) != 0) {
            free(copy);
            return rc;
        }
        p->type = copy;
    }
    rc = esmtp_mime_part_set_data(p, text, len);
    if (rc && !*slot) {
        /* The part just made is the last one: a failed call leaves no
         * empty body behind. */
        mime->nparts--;
        part_free(p);
        return rc;
    }
    *slot = p;
    return rc;
}

int esmtp_mime_set_text(esmtp_mime *mime, const char *text, size_t len)
{
    return set_body_text(mime, mime ? &mime->text : NULL, "text/plain", text, len);
}

int esmtp_mime_set_html(esmtp_mime *mime, const char *html, size_t len)
{
    return set_body_text(mime, mime ? &mime->html : NULL, "text/html", html, len);
}

int esmtp_mime_add_attachment(esmtp_mime *mime, esmtp_mime_part **out)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!out)
        return ESMTP_EINVAL;
    return mime_new_part(mime, ROLE_ATTACHMENT, out);
}

int esmtp_mime_add_inline(esmtp_mime *mime, const char *content_id, esmtp_mime_part **out)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!out || !content_id || !id_valid(content_id, strlen(content_id)))
        return ESMTP_EINVAL;
    /* copied first, so that a failed call leaves no inline part behind */
    char *cid = mem_strdup(content_id);
    if (!cid)
        return ESMTP_ENOMEM;
    esmtp_mime_part *p;
    if ((rc = mime_new_part(mime, ROLE_INLINE, &p)) != 0) {
        free(cid);
        return rc;
    }
    p->cid = cid;
    *out = p;
    return 0;
}

int esmtp_mime_body(esmtp_mime *mime, esmtp_mime_part **out)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    if (!out)
        return ESMTP_EINVAL;
    if (mime->text || mime->html)
        return ESMTP_ESTATE;
    if (!mime->body && (rc = mime_new_part(mime, ROLE_PLAIN, &mime->body)) != 0)
        return rc;
    *out = mime->body;
    return 0;
}

/* --------------------------------------------------------------- parts */

static int part_editable(esmtp_mime_part *part)
{
    return part ? editable(part->mime) : ESMTP_EINVAL;
}

/* Content may be set (or replaced) on a part that is not a multipart. */
static int leaf_editable(esmtp_mime_part *part)
{
    int rc = part_editable(part);
    if (rc == 0 && part->src == SRC_MULTI)
        rc = ESMTP_ESTATE;
    if (rc == 0) {
        free(part->data);
        part->data = NULL;
        part->len = 0;
        free(part->path);
        part->path = NULL;
        part->cb = NULL;
        part->src = SRC_NONE;
    }
    return rc;
}

int esmtp_mime_part_add_subpart(esmtp_mime_part *part, esmtp_mime_part **out)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if (!out)
        return ESMTP_EINVAL;
    if (part->src != SRC_NONE && part->src != SRC_MULTI)
        return ESMTP_ESTATE;
    if (mem_grow(&part->kids, &part->kids_cap, part->nkids, sizeof *part->kids, 4))
        return ESMTP_ENOMEM;
    esmtp_mime_part *kid;
    if ((rc = mime_new_part(part->mime, ROLE_PLAIN, &kid)) != 0)
        return rc;
    part->src = SRC_MULTI;
    part->kids[part->nkids++] = kid;
    *out = kid;
    return 0;
}

int esmtp_mime_part_set_data(esmtp_mime_part *part, const void *data, size_t len)
{
    if (!part || (!data && len))
        return ESMTP_EINVAL;
    unsigned char *copy = mem_malloc(len ? len : 1);
    if (!copy)
        return ESMTP_ENOMEM;
    int rc = leaf_editable(part);
    if (rc) {
        free(copy);
        return rc;
    }
    if (len)
        memcpy(copy, data, len);
    part->data = copy;
    part->len = len;
    part->src = SRC_MEM;
    return 0;
}

int esmtp_mime_part_set_file(esmtp_mime_part *part, const char *path)
{
    if (!part || !path || !*path)
        return ESMTP_EINVAL;
    char *copy = mem_strdup(path);
    if (!copy)
        return ESMTP_ENOMEM;
    int rc = leaf_editable(part);
    if (rc) {
        free(copy);
        return rc;
    }
    part->path = copy;
    part->src = SRC_FILE;
    return 0;
}

int esmtp_mime_part_set_read_cb(esmtp_mime_part *part, esmtp_mime_read_cb cb, uint64_t size,
                                void *user_data)
{
    if (!part || !cb)
        return ESMTP_EINVAL;
    int rc = leaf_editable(part);
    if (rc)
        return rc;
    part->cb = cb;
    part->cb_ud = user_data;
    part->cb_size = size;
    part->src = SRC_CB;
    return 0;
}

int esmtp_mime_part_set_type(esmtp_mime_part *part, const char *type)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    const char *slash = type ? strchr(type, '/') : NULL;
    if (!slash || !token_valid(type, (size_t)(slash - type)) ||
        !token_valid(slash + 1, strlen(slash + 1)))
        return ESMTP_EINVAL;
    return mem_set_string(&part->type, type);
}

int esmtp_mime_part_set_charset(esmtp_mime_part *part, const char *charset)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if (!charset || !token_valid(charset, strlen(charset)))
        return ESMTP_EINVAL;
    return mem_set_string(&part->charset, charset);
}

int esmtp_mime_part_set_filename(esmtp_mime_part *part, const char *filename)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if (!filename || !*filename || strlen(filename) > 1000 || !text_valid(filename, 0))
        return ESMTP_EINVAL;
    return mem_set_string(&part->filename, filename);
}

int esmtp_mime_part_set_disposition(esmtp_mime_part *part, esmtp_mime_disposition d)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if ((unsigned)d > ESMTP_MIME_DISP_ATTACHMENT)
        return ESMTP_EINVAL;
    part->disp = d;
    return 0;
}

int esmtp_mime_part_set_content_id(esmtp_mime_part *part, const char *content_id)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if (!content_id || !id_valid(content_id, strlen(content_id)))
        return ESMTP_EINVAL;
    return mem_set_string(&part->cid, content_id);
}

int esmtp_mime_part_set_encoding(esmtp_mime_part *part, esmtp_mime_encoding enc)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if ((unsigned)enc > ESMTP_MIME_ENC_BASE64)
        return ESMTP_EINVAL;
    part->enc_req = enc;
    return 0;
}

int esmtp_mime_part_add_header(esmtp_mime_part *part, const char *name, const char *value)
{
    int rc = part_editable(part);
    if (rc)
        return rc;
    if (!field_name_valid(name) || reserved_name(name, 1) || !text_valid(value, 1))
        return ESMTP_EINVAL;
    return hdr_list_add(&part->headers, name, value);
}

/* ------------------------------------------------------------- output */

int mime_needs_smtputf8(const esmtp_mime *mime)
{
    for (int f = ESMTP_MIME_FROM; f <= ESMTP_MIME_CC; f++) /* Bcc is never written */
        if (addr_list_utf8_local(&mime->addrs[f]))
            return 1;
    return 0;
}

int mime_header_non_ascii(const esmtp_mime *mime)
{
    for (int f = ESMTP_MIME_FROM; f <= ESMTP_MIME_CC; f++)
        if (addr_list_non_ascii(&mime->addrs[f]))
            return 1;
    if (str_non_ascii(mime->subject))
        return 1;
    for (size_t i = 0; i < mime->headers.n; i++)
        if (str_non_ascii(mime->headers.v[i].value))
            return 1;
    return 0;
}

/* The attached message needs SMTPUTF8 when its header does: the session
 * then uses it, or fails the message before sending anything. The flag is
 * the builder's to take back only when the builder set it. */
static void claim_utf8(esmtp_message *m, esmtp_mime *mime, int needed)
{
    if (mime->utf8_forced) {
        m->utf8_headers = 0;
        mime->utf8_forced = 0;
    }
    if (needed && !m->utf8_headers) {
        m->utf8_headers = 1;
        mime->utf8_forced = 1;
    }
}

static long message_body_cb(esmtp_message *m, void *buf, size_t len, void *user_data)
{
    (void)m;
    long n = mime_read(user_data, buf, len);
    return n < 0 ? -1 : n;
}

/* The message owns an attached builder and frees it with itself. */
static void free_attached(void *user_data)
{
    esmtp_mime_free(user_data);
}

/* Runs before MAIL, once the server's extensions are known: 8bit parts
 * only if it offers 8BITMIME, the header in UTF-8 (RFC 6532) only if the
 * message goes with SMTPUTF8, and the exact size for SIZE=. The public
 * setters refuse changes while the session runs, so the declarations are
 * made directly.
 *
 * SMTPUTF8 is used when the header needs it (a non-ASCII local part), when
 * the caller asked for a UTF-8 header (esmtp_mime_set_utf8_headers) that
 * has non-ASCII text and the server offers it, or when the caller declared
 * the message's header UTF-8 (esmtp_message_set_utf8_headers) and the
 * server offers it. A message that needs it at a server without it is
 * failed by the session (precheck_envelope) before anything is sent. */
static int message_prepare(esmtp_message *m, const server_caps *caps, void *user_data)
{
    esmtp_mime *mime = user_data;
    int allow_8bit = caps->eightbitmime;
    int offered = caps->smtputf8;
    int needs = mime_needs_smtputf8(mime);
    int wants = mime->utf8_opt && offered && mime_header_non_ascii(mime);
    claim_utf8(m, mime, needs || wants);
    int smtputf8 = needs || wants || (m->utf8_headers && offered);
    int rc = mime_prepare(mime, allow_8bit, smtputf8);
    if (rc)
        return rc;
    m->declared_size = mime->size;
    m->size_declared = mime->size_known;
    /* SMTPUTF8 carries a UTF-8 header by itself; BODY=8BITMIME too when
     * offered, as the data then has 8-bit bytes */
    m->declared_8bit = mime->body_8bit || (mime->hdr_8bit && allow_8bit);
    return 0;
}

static int message_scan(esmtp_message *m, void *user_data)
{
    (void)m;
    return mime_scan(user_data);
}

/* Adds addr as a recipient unless it is one already. */
static int add_envelope_rcpt(esmtp_message *m, const char *addr)
{
    for (size_t i = 0; i < m->nrcpts; i++)
        if (strcasecmp(m->rcpts[i]->mailbox, addr) == 0)
            return 0;
    return esmtp_message_add_recipient(m, addr, NULL);
}

int esmtp_mime_attach(esmtp_message *m, esmtp_mime *mime)
{
    if (!m || !mime)
        return ESMTP_EINVAL;
    if (mime->attached)
        return ESMTP_ESTATE;
    const addr_list *from = &mime->addrs[ESMTP_MIME_FROM];
    const addr_list *sender = &mime->addrs[ESMTP_MIME_SENDER];
    if (from->mailboxes == 0)
        return ESMTP_EINVAL;
    int rc = esmtp_message_set_body_cb(m, message_body_cb, mime);
    if (rc)
        return rc;
    int had_sender = m->reverse_path != NULL;
    size_t had_rcpts = m->nrcpts;
    if (!had_sender) {
        const addr_list *l = sender->mailboxes ? sender : from;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].kind == ADDR_MAILBOX) {
                rc = esmtp_message_set_reverse_path(m, l->v[i].addr);
                break;
            }
        }
    }
    for (int f = ESMTP_MIME_TO; rc == 0 && had_rcpts == 0 && f <= ESMTP_MIME_BCC; f++) {
        const addr_list *l = &mime->addrs[f];
        for (size_t i = 0; rc == 0 && i < l->n; i++)
            if (l->v[i].kind == ADDR_MAILBOX)
                rc = add_envelope_rcpt(m, l->v[i].addr);
    }
    if (rc) {
        /* The builder stays the caller's, who may free it: the message
         * must not keep it as its body, nor half an envelope taken from
         * its header (recipients just added hold nothing but their
         * mailbox). */
        m->read_cb = NULL;
        m->read_ud = NULL;
        m->body_set = 0;
        if (!had_sender) {
            free(m->reverse_path);
            m->reverse_path = NULL;
        }
        while (m->nrcpts > had_rcpts) {
            esmtp_recipient *r = m->rcpts[--m->nrcpts];
            free(r->mailbox);
            free(r);
        }
        return rc;
    }
    m->prepare = message_prepare;
    m->scan = message_scan;
    m->prepare_ud = mime;
    m->prepare_free = free_attached;
    mime->attached = m;
    /* known now: a non-ASCII local part in the header needs SMTPUTF8 */
    claim_utf8(m, mime, mime_needs_smtputf8(mime));
    return 0;
}

int esmtp_mime_prepare(esmtp_mime *mime, int allow_8bit, uint64_t *size, int *has_8bit)
{
    int rc = editable(mime);
    if (rc)
        return rc;
    /* no server here: SMTPUTF8 counts as offered when the caller asked for
     * a UTF-8 header, and a non-ASCII local part needs it anyway */
    int smtputf8 = mime_needs_smtputf8(mime) || (mime->utf8_opt && mime_header_non_ascii(mime));
    rc = mime_prepare(mime, allow_8bit != 0, smtputf8);
    if (rc)
        return rc;
    if (size)
        *size = mime->size_known ? mime->size : ESMTP_MIME_SIZE_UNKNOWN;
    if (has_8bit)
        *has_8bit = mime->has_8bit;
    return 0;
}

long esmtp_mime_read(esmtp_mime *mime, void *buf, size_t len)
{
    if (!mime || (!buf && len))
        return ESMTP_EINVAL;
    return mime_read(mime, buf, len);
}
