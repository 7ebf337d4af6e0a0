/* Reply parser: turns the server's bytes into complete SMTP replies.
 * Incremental and strict; does no I/O. SPDX-License-Identifier: MIT */
#ifndef ESMTP_REPLY_H
#define ESMTP_REPLY_H

#include <stddef.h>

#include "buf.h"

/* Default bounds: RFC 5321 allows 512 octets per reply line; real servers
 * send longer ones, so allow more, but never unbounded. */
#define REPLY_DEFAULT_MAX_LINE 4096
#define REPLY_DEFAULT_MAX_LINES 256

typedef struct reply {
    int code;            /* 200..599 */
    char enhanced[16];   /* RFC 3463 code of the first line ("2.1.5"), or "" */
    ebuf text;           /* each line's text, after "250-"/"250 " and after the
                            enhanced code if the line starts with it, lines
                            joined with '\n', NUL-terminated */
    size_t lines;        /* number of lines in the reply */
} reply;

/* Called for every complete raw line (without CR/LF), before it is parsed. */
typedef void (*reply_line_fn)(void *ctx, const char *line, size_t len);

typedef struct reply_parser {
    reply reply;          /* the reply just completed (valid after feed returns 1) */
    ebuf line;            /* the line being assembled */
    size_t max_line;
    size_t max_lines;
    int in_reply;         /* a multi-line reply is open */
    int done;             /* reply is complete; the next feed starts a new one */
    const char *error;    /* static description of the last protocol error */
    reply_line_fn on_line;
    void *on_line_ctx;
} reply_parser;

/* max_line / max_lines of 0 select the defaults. */
void reply_parser_init(reply_parser *p, size_t max_line, size_t max_lines);
/* Forgets any partial input (e.g. after STARTTLS); keeps the settings. */
void reply_parser_reset(reply_parser *p);
void reply_parser_free(reply_parser *p);

/*
 * Consumes bytes up to and including the end of the first reply that
 * completes, and stores in *consumed how many it took.
 * Returns 1 when a reply is complete (read p->reply; it stays valid until the
 * next call), 0 when all bytes were consumed and the reply is not complete
 * yet, ESMTP_EPROTO on malformed input (p->error says why) or ESMTP_ENOMEM.
 * After an error the parser must be reset before it is fed again.
 *
 * Lines end in CRLF; a bare LF is accepted as a line end too (a trailing CR
 * is stripped). A line is "DDD", "DDD text" or "DDD-text" where the first
 * digit is 2-5 and the second 0-5; "DDD " with empty text is fine. Errors:
 * a line longer than max_line (memory stays bounded), more than max_lines
 * lines, a non-digit code, a code that changes inside a multi-line reply,
 * any other character after the code, and NUL bytes.
 */
int reply_parser_feed(reply_parser *p, const char *data, size_t len, size_t *consumed);

/* Whether part of a reply has been read: the next byte fed continues it. */
static inline int reply_parser_started(const reply_parser *p)
{
    return p->in_reply || p->line.len > 0;
}

#endif
