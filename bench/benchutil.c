/*
 * Helpers shared by the benchmark programs; see benchutil.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "benchutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *bench_prog = "bench";

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "%s: out of memory (%zu bytes)\n", bench_prog, n);
        exit(1);
    }
    return p;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int parse_number(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

char *make_body(const char *headers, size_t size, const char *words, int dots)
{
    size_t len = strlen(headers), nwords = strlen(words);
    if (len + 3 > size) {
        fprintf(stderr, "%s: body size %zu is too small\n", bench_prog, size);
        exit(1);
    }
    char *b = xmalloc(size + 1);
    memcpy(b, headers, len);
    size_t w = 0, line = 0;
    while (len < size) {
        size_t left = size - len; /* at least 3 */
        size_t text = left - 2 > 76 ? 76 : left - 2;
        if (left - (text + 2) > 0 && left - (text + 2) < 3)
            text -= 3; /* leave room for a last line of at least one byte */
        for (size_t i = 0; i < text; i++) {
            char ch = words[w++ % nwords];
            if (i == 0 && (ch == ' ' || ch == '.'))
                ch = 'x';
            if (dots && i == 0 && line % 3 == 0)
                ch = '.';
            if (dots && i == 1 && line % 6 == 0)
                ch = '.';
            b[len++] = ch;
        }
        if (dots && line == 4 && text >= 1) {
            len -= text - 1; /* a line of a single dot */
            b[len - 1] = '.';
        }
        b[len++] = '\r';
        b[len++] = '\n';
        line++;
    }
    if (len != size) {
        fprintf(stderr, "%s: internal error: body is %zu bytes, not %zu\n", bench_prog, len,
                size);
        exit(1);
    }
    b[len] = '\0';
    return b;
}

int check_outcomes(esmtp_session *s, size_t count, char *err, size_t errlen)
{
    size_t n = esmtp_session_message_count(s);
    if (n != count) {
        snprintf(err, errlen, "%zu messages queued, %zu expected", n, count);
        return -1;
    }
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        esmtp_message *m = esmtp_session_message(s, i);
        int ok = esmtp_message_status(m) == ESMTP_STATUS_OK;
        for (size_t r = 0; ok && r < esmtp_message_recipient_count(m); r++)
            ok = esmtp_recipient_status(esmtp_message_recipient(m, r)) == ESMTP_STATUS_OK;
        if (!ok && bad++ == 0)
            first = i;
    }
    if (bad) {
        esmtp_message *m = esmtp_session_message(s, first);
        snprintf(err, errlen, "%zu of %zu messages not OK; the first (#%zu): %s %d %s", bad, n,
                 first, esmtp_status_name(esmtp_message_status(m)), esmtp_message_code(m),
                 esmtp_message_text(m));
        return -1;
    }
    return 0;
}
