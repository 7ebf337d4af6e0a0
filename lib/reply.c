/* Reply parser. SPDX-License-Identifier: MIT */
#include "reply.h"

#include <string.h>

#include <esmtp/esmtp.h>

/* Not a protocol error, but kept in p->error too so that a parser fed again
 * without a reset fails the same way instead of parsing from a broken state. */
static const char reply_nomem[] = "out of memory";

void reply_parser_init(reply_parser *p, size_t max_line, size_t max_lines)
{
    memset(p, 0, sizeof *p);
    p->max_line = max_line ? max_line : REPLY_DEFAULT_MAX_LINE;
    p->max_lines = max_lines ? max_lines : REPLY_DEFAULT_MAX_LINES;
}

static void reply_clear(reply *r)
{
    r->code = 0;
    r->enhanced[0] = '\0';
    ebuf_clear(&r->text);
    r->lines = 0;
}

void reply_parser_reset(reply_parser *p)
{
    reply_clear(&p->reply);
    ebuf_clear(&p->line);
    p->in_reply = 0;
    p->done = 0;
    p->error = NULL;
}

void reply_parser_free(reply_parser *p)
{
    ebuf_free(&p->reply.text);
    ebuf_free(&p->line);
}

static int reply_fail(reply_parser *p, const char *why)
{
    p->error = why;
    return why == reply_nomem ? ESMTP_ENOMEM : ESMTP_EPROTO;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Counts leading digits, stopping at 4: more than 3 is invalid anyway. */
static size_t count_digits(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && i < 4 && is_digit(s[i]))
        i++;
    return i;
}

/* Length of the RFC 3463 code "cls.sss.ddd" at the start of s, or 0 if
 * there is none. The class must match the reply (cls is its first digit). */
static size_t enhanced_len(const char *s, size_t n, char cls)
{
    if (cls == '3' || n < 5 || s[0] != cls || s[1] != '.')
        return 0;
    size_t i = 2;
    size_t d = count_digits(s + i, n - i);
    if (d < 1 || d > 3)
        return 0;
    i += d;
    if (i >= n || s[i] != '.')
        return 0;
    i++;
    d = count_digits(s + i, n - i);
    if (d < 1 || d > 3)
        return 0;
    i += d;
    /* "2.0.0x" or "2.0.0.1" is text that merely looks like a code */
    if (i < n && s[i] != ' ')
        return 0;
    return i;
}

/* Handles one complete line (LF removed). Returns 1 when it ends the reply. */
static int reply_line(reply_parser *p, const char *s, size_t n)
{
    if (n && s[n - 1] == '\r')
        n--;
    if (n > p->max_line)
        return reply_fail(p, "reply line too long");
    if (p->on_line)
        p->on_line(p->on_line_ctx, s, n);
    if (p->reply.lines >= p->max_lines)
        return reply_fail(p, "too many lines in reply");
    if (memchr(s, '\0', n))
        return reply_fail(p, "NUL byte in reply");
    if (n < 3)
        return reply_fail(p, "reply line too short");
    if (!is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]))
        return reply_fail(p, "reply code is not three digits");
    if (s[0] < '2' || s[0] > '5' || s[1] > '5')
        return reply_fail(p, "reply code out of range");
    int code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
    if (p->in_reply && code != p->reply.code)
        return reply_fail(p, "reply code changed inside a multi-line reply");
    int last = n == 3 || s[3] == ' ';
    if (!last && s[3] != '-')
        return reply_fail(p, "bad character after reply code");

    const char *text = n > 3 ? s + 4 : s + n;
    size_t tlen = n > 3 ? n - 4 : 0;
    size_t elen = enhanced_len(text, tlen, s[0]);
    if (elen) {
        if (p->reply.lines == 0) {
            memcpy(p->reply.enhanced, text, elen); /* elen <= 9 */
            p->reply.enhanced[elen] = '\0';
        }
        if (elen < tlen)
            elen++; /* the space between the code and the text */
        text += elen;
        tlen -= elen;
    }

    /* the empty append of a first line without text still makes text.data
     * a valid string */
    if ((p->reply.lines && ebuf_append(&p->reply.text, "\n", 1)) ||
        ebuf_append(&p->reply.text, text, tlen))
        return reply_fail(p, reply_nomem);
    p->reply.code = code;
    p->reply.lines++;
    p->in_reply = !last;
    p->done = last;
    return last;
}

/* Keeps the part of a line that arrived so far. One byte over max_line is
 * allowed: it may be the CR of a CRLF whose LF has not come yet. Checked
 * before appending, so a flood without a newline never grows the buffer. */
static int reply_hold(reply_parser *p, const char *s, size_t n)
{
    if (p->line.len + n - 1 > p->max_line) /* n >= 1 */
        return reply_fail(p, "reply line too long");
    if (ebuf_append(&p->line, s, n))
        return reply_fail(p, reply_nomem);
    return 0;
}

int reply_parser_feed(reply_parser *p, const char *data, size_t len, size_t *consumed)
{
    size_t pos = 0;
    int rc = 0;

    *consumed = 0;
    if (p->error) /* not reset since the last error: fail the same way */
        return reply_fail(p, p->error);
    if (p->done) {
        reply_clear(&p->reply);
        p->done = 0;
    }
    while (pos < len && rc == 0) {
        const char *s = data + pos;
        size_t avail = len - pos;
        const char *nl = memchr(s, '\n', avail);
        if (!nl) {
            rc = reply_hold(p, s, avail);
            if (rc == 0)
                pos = len;
            break;
        }
        size_t span = (size_t)(nl - s);
        if (p->line.len == 0) {
            /* the common case: the whole line is in data, parse it in place */
            rc = reply_line(p, s, span);
        } else {
            if (span)
                rc = reply_hold(p, s, span);
            if (rc == 0) {
                rc = reply_line(p, p->line.data, p->line.len);
                if (rc >= 0)
                    ebuf_clear(&p->line);
            }
        }
        if (rc >= 0)
            pos += span + 1;
    }
    *consumed = pos;
    return rc;
}
