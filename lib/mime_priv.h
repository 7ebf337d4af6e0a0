/* The MIME builder's internals: encoders, header writer, address lists and
 * the structures behind esmtp_mime and esmtp_mime_part. Not installed.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_MIME_PRIV_H
#define ESMTP_MIME_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "text.h"

/* ------------------------------------------------------------ base64 */

/* Streaming base64 (RFC 2045 section 6.8): lines of 76 characters joined by
 * CRLF, with no CRLF after the last line (a MIME delimiter supplies it).
 * Zero-initialise. */
typedef struct b64_state {
    unsigned char carry[3];
    int ncarry;
    int col;
} b64_state;

/* Encodes n bytes (final: and flushes the rest) into out, which must hold
 * b64_bound(n) bytes. Returns the count written. */
size_t b64_encode(b64_state *st, const unsigned char *in, size_t n, int final, char *out);
size_t b64_bound(size_t n);
/* The exact output size for n input bytes. */
uint64_t b64_size(uint64_t n);

/* --------------------------------------------------- quoted-printable */

/* Streaming quoted-printable (RFC 2045 section 6.7). In text mode CR, LF and
 * CRLF are line breaks written as CRLF; in binary mode they are encoded.
 * Lines stay within 76 characters; trailing white space, '=', controls and
 * 8-bit bytes are encoded, and so is a '.' starting a line (a line of only
 * "." would end the SMTP DATA). Zero-initialise, then set binary. */
typedef struct qp_state {
    int binary;
    int col;
    int pending;   /* a space or tab held until we know what follows, or -1 */
    int prev_cr;
    int started;
} qp_state;

size_t qp_encode(qp_state *st, const unsigned char *in, size_t n, int final, char *out);
size_t qp_bound(size_t n);

/* ------------------------------------------------- line end normalising */

/* CR, LF and CRLF all become CRLF; *prev_cr carries a CR across calls.
 * out must hold 2 * n bytes. Returns the count written. */
size_t crlf_normalize(int *prev_cr, const unsigned char *in, size_t n, char *out);

/* ------------------------------------------------------ header writer */

/* The longest line the writer aims for, and the hard limit (RFC 5322 2.1.1). */
#define HDR_FOLD 78
#define HDR_MAX 998

/* Writes one header field into a buffer, folding between tokens. */
typedef struct hdrw {
    ebuf *out;
    size_t col;
    int line_has_token;
    int err;           /* the first ESMTP_ENOMEM */
    /* RFC 6532 (only for a message sent with SMTPUTF8): utf8_addrs writes
     * addresses as given (U-labels, UTF-8 local parts) instead of with
     * A-labels; utf8_text writes phrases and free text as raw UTF-8 instead
     * of encoded words. Both are left alone by hw_start(). */
    int utf8_addrs;
    int utf8_text;
} hdrw;

/* The longest word written as raw UTF-8 (utf8_text): longer ones become
 * encoded words, so that no line can pass HDR_MAX whatever the field name. */
#define HDR_RAW_WORD 900

void hw_start(hdrw *w, ebuf *out, const char *name);
/* A token, preceded by a space or, when the line is full, by CRLF SP. */
void hw_token(hdrw *w, const char *tok, size_t len);
/* Bytes glued to the previous token (",", ";"). */
void hw_glue(hdrw *w, const char *s, size_t len);
/* Ends the field with CRLF; returns 0 or ESMTP_ENOMEM. */
int hw_end(hdrw *w);

/* Unstructured text (Subject, custom fields): words that need it become
 * RFC 2047 encoded words; adjacent ones are merged so that no white space
 * is lost, and encoded words are always separated by folding white space.
 * With utf8_text, non-ASCII words are written as they are. */
void hw_text(hdrw *w, const char *utf8);
/* A display name: atoms, a quoted string, or encoded words (phrase rules);
 * with utf8_text, atoms and quoted strings may hold UTF-8 (RFC 6532). */
void hw_phrase(hdrw *w, const char *utf8);
/* Encodes bytes as RFC 2047 encoded words, B or Q whichever is shorter,
 * never splitting a UTF-8 character. phrase restricts Q to RFC 2047 5(3). */
void hw_encoded(hdrw *w, const unsigned char *s, size_t n, int phrase);
/* The RFC 2231 filename parameters (with "; " before each). */
void hw_filename(hdrw *w, const char *utf8);

/* ---------------------------------------------------------- validation */

/* Valid UTF-8 without controls other than TAB (tab_ok). */
int text_valid(const char *s, int tab_ok);
/* A field name: ASCII letters, digits, '-' and other ftext; starts with a letter. */
int field_name_valid(const char *s);
/* dot-atom-text "@" (dot-atom-text / domain literal), ASCII. */
int addr_spec_valid(const char *s, size_t n);
/* The same with RFC 6532's UTF-8 (valid UTF-8 only) in the local part
 * (atoms and quoted strings) and in a dot-atom domain. Syntax only: a
 * Unicode domain is checked by addr_list_add(). */
int addr_spec_valid_utf8(const char *s, size_t n);

/* ------------------------------------------------------------ addresses */

enum { ADDR_MAILBOX, ADDR_GROUP_START, ADDR_GROUP_END };

typedef struct mime_addr {
    int kind;
    char *name;    /* display name or group name (UTF-8), may be NULL */
    char *addr;    /* addr-spec as given (UTF-8), for ADDR_MAILBOX */
    char *ascii;   /* addr with its domain in A-labels; NULL when that is addr */
    int utf8_local; /* the local part is not ASCII: only SMTPUTF8 can carry it */
} mime_addr;

typedef struct addr_list {
    mime_addr *v;
    size_t n, cap;
    size_t mailboxes;
} addr_list;

/* Adds an entry; a mailbox's addr must have valid syntax
 * (addr_spec_valid_utf8), and a Unicode domain must convert to A-labels
 * (UTS #46) with an addr-spec of at most 254 octets in that form, else
 * ESMTP_EINVAL. */
int addr_list_add(addr_list *l, int kind, const char *name, size_t name_len,
                  const char *addr, size_t addr_len);
/* Parses an address list and appends it; on error l is unchanged. */
int addr_list_parse(addr_list *l, const char *text, int allow_groups);
/* Drops the entries from index keep on. */
void addr_list_truncate(addr_list *l, size_t keep);
void addr_list_free(addr_list *l);
/* Writes the list as a field body, comma-separated. */
void hw_addresses(hdrw *w, const addr_list *l);
/* Whether a mailbox of the list has a non-ASCII local part. */
int addr_list_utf8_local(const addr_list *l);
/* Whether anything in the list (names, addresses) is not ASCII. */
int addr_list_non_ascii(const addr_list *l);

/* --------------------------------------------------------------- types */

/* A content type guessed from a file name's extension; never NULL. */
const char *mime_type_for_name(const char *filename);

/* ------------------------------------------------------------- builder */

typedef struct hdr_field {
    char *name;
    char *value;
} hdr_field;

typedef struct hdr_list {
    hdr_field *v;
    size_t n, cap;
} hdr_list;

enum part_src { SRC_NONE, SRC_MEM, SRC_FILE, SRC_CB, SRC_MULTI };

/* What one pass over a leaf's content found: what decides its encoding,
 * and its size in each. */
typedef struct scan_stats {
    uint64_t norm_len;     /* bytes with CRLF line ends */
    uint64_t qp_len;       /* bytes as quoted-printable */
    int has_8bit, has_nul, long_line, dashes;
    int norm_ends_crlf, qp_ends_crlf;
} scan_stats;
enum part_role { ROLE_PLAIN, ROLE_ATTACHMENT, ROLE_INLINE };

struct esmtp_mime_part {
    esmtp_mime *mime;
    enum part_src src;
    enum part_role role;
    unsigned char *data;
    size_t len;
    char *path;
    esmtp_mime_read_cb cb;
    void *cb_ud;
    uint64_t cb_size;
    char *type;
    char *charset;
    char *filename;
    char *cid;
    esmtp_mime_disposition disp;
    esmtp_mime_encoding enc_req;
    hdr_list headers;
    esmtp_mime_part **kids;    /* not owned: the esmtp_mime owns every part */
    size_t nkids, kids_cap;

    /* read by mime_scan(), until the builder changes */
    scan_stats scanned;
    uint64_t scanned_size;     /* the content's size then */
    int scan_valid;

    /* chosen when prepared */
    esmtp_mime_encoding enc;
    int is_text;
    int has_8bit;              /* this part (or a descendant) is sent as 8bit */
    uint64_t raw_size;         /* input bytes, when known */
    uint64_t out_size;         /* encoded bytes, when size_known */
    int size_known;
    int ends_crlf;             /* the encoded content is empty or ends with CRLF */
    const char *eff_type;      /* the content type written */
    char boundary[32];
};

/* One step of the output: literal bytes, or a leaf's encoded content. */
typedef struct gen_item {
    esmtp_mime_part *leaf;     /* NULL: literal bytes lit[off, off+len) */
    size_t off, len;
} gen_item;

/* Reading a leaf's content: memory, file descriptor or callback. */
typedef struct src_reader {
    esmtp_mime_part *part;
    int fd;
    uint64_t pos;
    int eof;
} src_reader;

/* The streaming state while the message is read. */
typedef struct gen_state {
    size_t item;
    size_t lit_pos;
    int in_leaf;
    src_reader src;
    int norm_cr;
    b64_state b64;
    qp_state qp;
    unsigned char *raw;        /* GEN_RAW input bytes */
    unsigned char *norm;       /* 2 * GEN_RAW normalised bytes */
    char *obuf;                /* encoded output */
    size_t olen, opos;
    char last[2];              /* the last two bytes produced */
    int tail_done;
    int error;
} gen_state;

#define GEN_RAW 16384

struct esmtp_mime {
    addr_list addrs[ESMTP_MIME_BCC + 1];
    char *subject;
    char *msgid;               /* without brackets */
    char *in_reply_to;         /* normalised "<a> <b>" */
    char *references;
    int date_set;
    int64_t date;
    int date_off;
    char *unsub_mailto, *unsub_https;
    int one_click;
    hdr_list headers;
    int deterministic;
    uint64_t seed;
    uint64_t rng;
    int utf8_opt;              /* esmtp_mime_set_utf8_headers() */
    int utf8_forced;           /* we set the attached message's utf8_headers */

    esmtp_mime_part *text, *html, *body;
    esmtp_mime_part **parts;   /* every part, owned */
    size_t nparts, parts_cap;
    esmtp_mime_part *auto_alt, *auto_rel, *auto_mixed;
    esmtp_message *attached;

    /* prepared output */
    int prepared;
    ebuf lit;
    gen_item *prog;
    size_t nprog, prog_cap;
    uint64_t size;
    int size_known;
    int has_8bit;              /* body_8bit || hdr_8bit */
    int body_8bit;             /* a part is sent as 8bit */
    int hdr_8bit;              /* the header holds UTF-8 (written for SMTPUTF8) */
    const char *tail;          /* added when the output does not end with CRLF */
    gen_state gen;
};

/* mime_gen.c */
/* smtputf8: the message goes with SMTPUTF8, so its header may be written as
 * RFC 6532 UTF-8 (addresses as given; free text raw with utf8_opt). */
int mime_prepare(esmtp_mime *mime, int allow_8bit, int smtputf8);
/* Reads, now, every leaf whose encoding depends on its content, so that
 * mime_prepare() need not read it again (until the builder changes).
 * Returns 0 or an ESMTP_E* code. */
int mime_scan(esmtp_mime *mime);
/* Forgets what mime_scan() read: the builder changed. */
void mime_forget_scans(esmtp_mime *mime);
long mime_read(esmtp_mime *mime, void *buf, size_t len);
void mime_gen_free(esmtp_mime *mime);

/* mime.c */
int hdr_list_add(hdr_list *l, const char *name, const char *value);
void hdr_list_free(hdr_list *l);
int mime_new_part(esmtp_mime *mime, enum part_role role, esmtp_mime_part **out);
uint64_t mime_random(esmtp_mime *mime);
/* Whether a header field that is written (From, Sender, Reply-To, To, Cc)
 * has a mailbox with a non-ASCII local part: the message needs SMTPUTF8. */
int mime_needs_smtputf8(const esmtp_mime *mime);
/* Whether any text of the message header (addresses, names, Subject, added
 * fields) is not ASCII: what utf8_opt would write as raw UTF-8. */
int mime_header_non_ascii(const esmtp_mime *mime);

#endif
