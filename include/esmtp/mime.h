/*
 * esmtp MIME builder: compose RFC 5322 / MIME messages (UTF-8 headers, text
 * and HTML, attachments, inline parts) and stream them into a message.
 * SPDX-License-Identifier: MIT
 *
 * Conventions are those of <esmtp/esmtp.h>. In addition:
 *  - All text given to the builder is UTF-8; invalid UTF-8, CR, LF and other
 *    control characters (except TAB in free text) in a header name or value
 *    are refused with ESMTP_EINVAL, so no header can be injected.
 *  - An esmtp_mime owns every esmtp_mime_part created through it; parts are
 *    freed with it and are never freed on their own.
 *  - Nothing is encoded until the message is prepared (by the session, once
 *    the server's extensions are known, or by esmtp_mime_prepare()): the
 *    transfer encodings, the boundaries and the exact size are chosen then.
 *
 * Typical use:
 *
 *     esmtp_mime *mime;
 *     esmtp_mime_new(&mime);
 *     esmtp_mime_add_mailbox(mime, ESMTP_MIME_FROM, "Zhang San", "zs@example.org");
 *     esmtp_mime_add_addresses(mime, ESMTP_MIME_TO, "Li Si <ls@example.org>, bob@example.net");
 *     esmtp_mime_set_subject(mime, "你好");
 *     esmtp_mime_set_text(mime, text, strlen(text));
 *     esmtp_mime_set_html(mime, html, strlen(html));
 *     esmtp_mime_part *att;
 *     esmtp_mime_add_attachment(mime, &att);
 *     esmtp_mime_part_set_file(att, "/tmp/report.pdf");
 *     if (esmtp_mime_attach(message, mime) != 0)  // the envelope comes from the headers
 *         esmtp_mime_free(mime);          // attach failed: still the caller's
 *     esmtp_session_send(session);
 *     esmtp_session_free(session);        // frees the attached builder too
 */
#ifndef ESMTP_MIME_H
#define ESMTP_MIME_H

#include <stddef.h>
#include <stdint.h>

#include <esmtp/esmtp.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A message being built: its header fields and its tree of parts. */
typedef struct esmtp_mime esmtp_mime;
/** One body part (a leaf with content, or a multipart); owned by its esmtp_mime. */
typedef struct esmtp_mime_part esmtp_mime_part;

/** The address header fields. */
typedef enum esmtp_mime_field {
    ESMTP_MIME_FROM = 0,     /**< From: one or more mailboxes (no groups) */
    ESMTP_MIME_SENDER = 1,   /**< Sender: one mailbox; required when From has several */
    ESMTP_MIME_REPLY_TO = 2, /**< Reply-To */
    ESMTP_MIME_TO = 3,       /**< To */
    ESMTP_MIME_CC = 4,       /**< Cc */
    ESMTP_MIME_BCC = 5       /**< Bcc: envelope only, never written as a header */
} esmtp_mime_field;

/** Content-Transfer-Encoding of a leaf part. */
typedef enum esmtp_mime_encoding {
    ESMTP_MIME_ENC_AUTO = 0,   /**< chosen when prepared (the default) */
    ESMTP_MIME_ENC_7BIT = 1,   /**< text as is; fails (EINVAL) on 8-bit bytes or lines over 998 */
    ESMTP_MIME_ENC_8BIT = 2,   /**< text as is; downgraded to quoted-printable without 8BITMIME */
    ESMTP_MIME_ENC_QP = 3,     /**< quoted-printable */
    ESMTP_MIME_ENC_BASE64 = 4  /**< base64 */
} esmtp_mime_encoding;

/** Content-Disposition of a part. */
typedef enum esmtp_mime_disposition {
    ESMTP_MIME_DISP_DEFAULT = 0,    /**< attachment for esmtp_mime_add_attachment() and parts
                                         with a file name, inline for esmtp_mime_add_inline(),
                                         otherwise none */
    ESMTP_MIME_DISP_NONE = 1,       /**< no Content-Disposition field */
    ESMTP_MIME_DISP_INLINE = 2,     /**< inline */
    ESMTP_MIME_DISP_ATTACHMENT = 3  /**< attachment */
} esmtp_mime_disposition;

/** The size of a read-callback part whose length is not known in advance. */
#define ESMTP_MIME_SIZE_UNKNOWN UINT64_MAX

/* ------------------------------------------------------------- handle */

/**
 * Creates an empty message builder. The caller owns *out and frees it with
 * esmtp_mime_free().
 */
ESMTP_EXTERN int esmtp_mime_new(esmtp_mime **out);

/** Frees the builder and all its parts. NULL is a no-op. */
ESMTP_EXTERN void esmtp_mime_free(esmtp_mime *mime);

/* ------------------------------------------------------------- headers */

/**
 * Adds one mailbox to an address field. display_name (UTF-8, may be NULL or
 * "") is quoted or RFC 2047-encoded as needed; addr_spec is "local@domain"
 * without angle brackets. Both strings are copied.
 *
 * addr_spec may hold UTF-8 (RFC 6532, valid UTF-8 only). A Unicode domain
 * must be a valid IDNA domain (UTS #46), else ESMTP_EINVAL; it is written
 * as A-labels ("xn--...") unless the message goes with SMTPUTF8. A
 * non-ASCII local part (in From, Sender, Reply-To, To or Cc) can only be
 * sent with SMTPUTF8: the message then needs it (see
 * esmtp_message_set_utf8_headers()) and fails at a server without it. The
 * same holds for the addresses of esmtp_mime_add_addresses().
 */
ESMTP_EXTERN int esmtp_mime_add_mailbox(esmtp_mime *mime, esmtp_mime_field field,
                                        const char *display_name, const char *addr_spec);

/**
 * Parses an RFC 5322 address list ("A <a@x>, \"B, C\" <b@y>, team: c@z;")
 * and adds every mailbox and group to a field. Comments are dropped; groups
 * are refused in From and Sender. Nothing is added when the list is invalid
 * (ESMTP_EINVAL). The string is not kept.
 */
ESMTP_EXTERN int esmtp_mime_add_addresses(esmtp_mime *mime, esmtp_mime_field field,
                                          const char *address_list);

/** Sets the Subject (UTF-8, copied); encoded with RFC 2047 when needed. */
ESMTP_EXTERN int esmtp_mime_set_subject(esmtp_mime *mime, const char *subject);

/**
 * Sets the Message-ID, with or without angle brackets ("id@domain"). By
 * default a unique one in the sender's domain is made when first prepared.
 */
ESMTP_EXTERN int esmtp_mime_set_message_id(esmtp_mime *mime, const char *message_id);

/** Sets In-Reply-To: one or more message IDs "<a@b> <c@d>" (copied). */
ESMTP_EXTERN int esmtp_mime_set_in_reply_to(esmtp_mime *mime, const char *message_ids);

/** Sets References: one or more message IDs "<a@b> <c@d>" (copied). */
ESMTP_EXTERN int esmtp_mime_set_references(esmtp_mime *mime, const char *message_ids);

/**
 * Sets the Date: seconds since the epoch and the zone's offset from UTC in
 * minutes (-1439..1439). By default the time when first prepared, with the
 * local zone's offset.
 */
ESMTP_EXTERN int esmtp_mime_set_date(esmtp_mime *mime, int64_t unix_time,
                                     int utc_offset_minutes);

/**
 * Sets List-Unsubscribe (RFC 2369) from a mailto: URI and/or an https: URI
 * (either may be NULL, not both). one_click adds List-Unsubscribe-Post:
 * List-Unsubscribe=One-Click (RFC 8058) and requires the https URI.
 */
ESMTP_EXTERN int esmtp_mime_set_list_unsubscribe(esmtp_mime *mime, const char *mailto_uri,
                                                 const char *https_uri, int one_click);

/**
 * Adds a header field written after the standard ones. name is a field
 * name ("X-Mailer"); the fields the builder writes itself (From, Date,
 * MIME-Version, Content-*, ...) are refused. value is unstructured UTF-8
 * text, RFC 2047-encoded where needed. Both are copied.
 */
ESMTP_EXTERN int esmtp_mime_add_header(esmtp_mime *mime, const char *name, const char *value);

/**
 * Asks for an internationalised header (RFC 6532) when SMTPUTF8 is
 * available: the Subject, display names and added fields as raw UTF-8
 * instead of RFC 2047 encoded words, and addresses as given (U-labels).
 * When on (utf8 != 0) and the header has non-ASCII text, the message is
 * sent with SMTPUTF8 if the server offers it, and as usual (encoded words,
 * A-labels, no SMTPUTF8) if it does not. Off by default: SMTPUTF8 is then
 * used only when an address needs it, and only addresses are written in
 * UTF-8. Without a session (esmtp_mime_prepare()), SMTPUTF8 counts as
 * available when this is on.
 */
ESMTP_EXTERN int esmtp_mime_set_utf8_headers(esmtp_mime *mime, int utf8);

/**
 * Deterministic mode, for tests: boundaries come from seed, the Date is
 * 2000-01-01 00:00:00 +0000 unless set, and the Message-ID derives from
 * seed unless set. The same input then always gives the same bytes.
 */
ESMTP_EXTERN int esmtp_mime_set_deterministic(esmtp_mime *mime, uint64_t seed);

/* ---------------------------------------------------- simple structure */

/*
 * The simple calls below build the usual tree when the message is
 * prepared: multipart/mixed( multipart/related( multipart/alternative(
 * text, html ), inline parts... ), attachments... ), leaving out every level
 * that is not needed.
 */

/** Sets the text/plain body (UTF-8, copied; any line ends). */
ESMTP_EXTERN int esmtp_mime_set_text(esmtp_mime *mime, const char *text, size_t len);

/** Sets the text/html body (UTF-8, copied; any line ends). */
ESMTP_EXTERN int esmtp_mime_set_html(esmtp_mime *mime, const char *html, size_t len);

/**
 * Adds an attachment part; set its content with esmtp_mime_part_set_data(),
 * _set_file() or _set_read_cb(). *out is owned by mime.
 */
ESMTP_EXTERN int esmtp_mime_add_attachment(esmtp_mime *mime, esmtp_mime_part **out);

/**
 * Adds an inline part shown by the HTML body, which refers to it as
 * "cid:content_id". content_id is "left@right" without angle brackets
 * (copied). *out is owned by mime.
 */
ESMTP_EXTERN int esmtp_mime_add_inline(esmtp_mime *mime, const char *content_id,
                                       esmtp_mime_part **out);

/**
 * For any other structure: the main body part, created on the first call
 * and used instead of the text and HTML bodies (attachments and inline
 * parts still wrap it). Build a tree below it with
 * esmtp_mime_part_add_subpart(). ESMTP_ESTATE if a text or HTML body is
 * set. *out is owned by mime.
 */
ESMTP_EXTERN int esmtp_mime_body(esmtp_mime *mime, esmtp_mime_part **out);

/* --------------------------------------------------------------- parts */

/**
 * Makes part a multipart (multipart/mixed unless esmtp_mime_part_set_type()
 * says otherwise) and adds a new, empty child part at its end. ESMTP_ESTATE
 * if part already has content. *out is owned by the part's esmtp_mime.
 */
ESMTP_EXTERN int esmtp_mime_part_add_subpart(esmtp_mime_part *part, esmtp_mime_part **out);

/** Sets a leaf's content from memory (copied). */
ESMTP_EXTERN int esmtp_mime_part_set_data(esmtp_mime_part *part, const void *data, size_t len);

/**
 * Sets a leaf's content from a file, opened and read in chunks only while
 * the message is prepared and sent. The path is copied; the file must not
 * change until the message is sent. The file name (without directories)
 * becomes the part's file name unless one is set.
 */
ESMTP_EXTERN int esmtp_mime_part_set_file(esmtp_mime_part *part, const char *path);

/**
 * Read callback for a part's content: fill buf with up to len bytes and
 * return how many, 0 at the end, or a negative value on error (the message
 * then fails with ESMTP_EREAD).
 */
typedef long (*esmtp_mime_read_cb)(esmtp_mime_part *part, void *buf, size_t len,
                                   void *user_data);

/**
 * Sets a leaf's content from a callback, called only while the message is
 * sent (once per attempt, from the start; it cannot be read twice, so the
 * content is not scanned: such parts default to base64, or to
 * quoted-printable for text types). size is the exact number of bytes the
 * callback will give, or ESMTP_MIME_SIZE_UNKNOWN (then SIZE= is not sent);
 * a different count fails the message. user_data must stay valid until the
 * message is sent.
 */
ESMTP_EXTERN int esmtp_mime_part_set_read_cb(esmtp_mime_part *part, esmtp_mime_read_cb cb,
                                             uint64_t size, void *user_data);

/**
 * Sets the content type "type/subtype" (copied), e.g. "image/png" or
 * "multipart/related". Without it the type is guessed from the file name's
 * extension, else application/octet-stream (multipart/mixed for multiparts).
 */
ESMTP_EXTERN int esmtp_mime_part_set_type(esmtp_mime_part *part, const char *type);

/** Sets the charset parameter of a text part (default "utf-8"; copied). */
ESMTP_EXTERN int esmtp_mime_part_set_charset(esmtp_mime_part *part, const char *charset);

/**
 * Sets the file name (UTF-8, copied), written as an RFC 2231 filename*
 * parameter when not plain ASCII, with an ASCII filename fallback.
 */
ESMTP_EXTERN int esmtp_mime_part_set_filename(esmtp_mime_part *part, const char *filename);

/** Sets the Content-Disposition. */
ESMTP_EXTERN int esmtp_mime_part_set_disposition(esmtp_mime_part *part,
                                                 esmtp_mime_disposition disposition);

/** Sets the Content-ID ("left@right", no angle brackets; copied). */
ESMTP_EXTERN int esmtp_mime_part_set_content_id(esmtp_mime_part *part, const char *content_id);

/** Forces a leaf's transfer encoding (see esmtp_mime_encoding). */
ESMTP_EXTERN int esmtp_mime_part_set_encoding(esmtp_mime_part *part,
                                              esmtp_mime_encoding encoding);

/**
 * Adds a header field to a part (e.g. Content-Description), with the same
 * rules as esmtp_mime_add_header().
 */
ESMTP_EXTERN int esmtp_mime_part_add_header(esmtp_mime_part *part, const char *name,
                                            const char *value);

/* ------------------------------------------------------------- output */

/**
 * Makes mime the body of message. If the message has no reverse-path yet,
 * it becomes the Sender (or the first From) address; if it has no
 * recipients yet, every To, Cc and Bcc address becomes one (once each).
 * The encodings and the exact size are chosen when the session prepares
 * the message, once it knows whether the server offers 8BITMIME.
 *
 * On success the message owns mime: it is freed with the session, and the
 * caller must neither change nor free it. On failure it stays the caller's.
 * A builder can be attached to one message only. ESMTP_EINVAL when there is
 * no From address.
 *
 * When the header needs SMTPUTF8 (a non-ASCII local part), the message is
 * marked as esmtp_message_set_utf8_headers() does: it is sent with SMTPUTF8
 * or fails, before any data is sent, at a server that does not offer it.
 */
ESMTP_EXTERN int esmtp_mime_attach(esmtp_message *message, esmtp_mime *mime);

/**
 * Prepares the message for esmtp_mime_read() without a session, e.g. to
 * save a copy or to use another transport. allow_8bit says whether 8bit
 * parts may be produced. *size (may be NULL) receives the exact byte count
 * esmtp_mime_read() will give, or ESMTP_MIME_SIZE_UNKNOWN; *has_8bit (may
 * be NULL) whether any byte is >= 0x80. Lines end with CRLF; nothing is
 * dot-stuffed. Each call restarts the output from its beginning. The
 * header is written for SMTPUTF8 (UTF-8, RFC 6532) when an address has a
 * non-ASCII local part, or when esmtp_mime_set_utf8_headers() is on and it
 * has non-ASCII text; *has_8bit then counts its bytes too.
 */
ESMTP_EXTERN int esmtp_mime_prepare(esmtp_mime *mime, int allow_8bit, uint64_t *size,
                                    int *has_8bit);

/**
 * Reads the next bytes of a prepared message into buf (at most len).
 * Returns the count, 0 at the end, or a negative ESMTP_E* code
 * (ESMTP_ESTATE when not prepared, ESMTP_EREAD when content could not be
 * read).
 */
ESMTP_EXTERN long esmtp_mime_read(esmtp_mime *mime, void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* ESMTP_MIME_H */
