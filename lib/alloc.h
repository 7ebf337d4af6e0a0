/* The library's allocator: every allocation in lib/ goes through here, so
 * that a test can make any one of them fail and check that the failure is
 * reported and unwound. SPDX-License-Identifier: MIT */
#ifndef ESMTP_ALLOC_H
#define ESMTP_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *mem_malloc(size_t n);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t n);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);

/* Makes room for one more element in a growable array: array points to
 * the array's pointer (T **), which holds *cap elements of size bytes, n of
 * them in use. When n == *cap the capacity doubles (starting at first).
 * Returns 0 or ESMTP_ENOMEM (the array is then unchanged). */
int mem_grow(void *array, size_t *cap, size_t n, size_t size, size_t first);

/* Replaces *slot with a copy of value (NULL empties it) and frees the old
 * string. Returns 0 or ESMTP_ENOMEM (*slot is then unchanged). */
int mem_set_string(char **slot, const char *value);

/* Overwrites n bytes of a secret (the compiler may not skip it). */
void mem_wipe(void *p, size_t n);
/* Wipes and frees a string that held a secret; NULL is fine. */
void mem_wipe_free(char *secret);

/* For tests only. The nth allocation made by this thread from now on fails
 * (n = 1 is the next one; 0: none fails), and the count of this thread's
 * allocations starts again from zero. */
void mem_fail_at(uint64_t n);
/* The allocations this thread made since the last mem_fail_at(). */
uint64_t mem_allocations(void);

#endif
