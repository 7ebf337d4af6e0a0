/*
 * Helpers shared by the benchmark programs in bench/: one copy of each, so
 * that every benchmark times, allocates, parses and checks the same way.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ESMTP_BENCHUTIL_H
#define ESMTP_BENCHUTIL_H

#include <stddef.h>

#include <esmtp/esmtp.h>

/* The program's name, which the helpers' messages begin with; main sets it
 * before calling any of them. */
extern const char *bench_prog;

/* CLOCK_MONOTONIC, in seconds. */
double now_s(void);

/* This process's CPU time so far (user + system), in seconds. */
double cpu_s(void);

/* malloc() that exits with a message instead of returning NULL. */
void *xmalloc(size_t n);

/* qsort() comparison of doubles, ascending. */
int cmp_double(const void *a, const void *b);

/* A decimal number from 1 to max into *out: 0, or -1 if s is not one. */
int parse_number(const char *s, unsigned long max, unsigned long *out);

/*
 * A plain ASCII message of exactly `size` bytes, NUL-terminated: `headers`
 * (ending in the blank line), then text lines cut from `words`, of at most
 * 78 bytes, every line ending in CRLF. With dots == 0 no line begins with a
 * dot, so that esmtp sends it unchanged; with dots != 0 some lines begin
 * with "." or "..", and one is a lone "." (all dot-stuffed under DATA).
 */
char *make_body(const char *headers, size_t size, const char *words, int dots);

/* Every one of `count` messages and every recipient must be
 * ESMTP_STATUS_OK: 0, or -1 with the reason in err. */
int check_outcomes(esmtp_session *s, size_t count, char *err, size_t errlen);

#endif
