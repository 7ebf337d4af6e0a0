/* SPDX-License-Identifier: MIT */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <esmtp/esmtp.h>

/* Per thread, so that a test failing allocations disturbs no other thread. */
static _Thread_local uint64_t count, fail_at;

/* Whether the allocation about to be made is the one a test wants to fail. */
static int should_fail(void)
{
    return ++count == fail_at;
}

void mem_fail_at(uint64_t n)
{
    count = 0;
    fail_at = n;
}

uint64_t mem_allocations(void)
{
    return count;
}

void *mem_malloc(size_t n)
{
    return should_fail() ? NULL : malloc(n);
}

void *mem_calloc(size_t count_, size_t size)
{
    return should_fail() ? NULL : calloc(count_, size);
}

void *mem_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : realloc(p, n);
}

char *mem_strdup(const char *s)
{
    return should_fail() ? NULL : strdup(s);
}

char *mem_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : strndup(s, n);
}

void mem_wipe(void *p, size_t n)
{
    OPENSSL_cleanse(p, n);
}

void mem_wipe_free(char *secret)
{
    if (secret)
        mem_wipe(secret, strlen(secret));
    free(secret);
}

int mem_set_string(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && !(copy = mem_strdup(value)))
        return ESMTP_ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

int mem_grow(void *array, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap)
        return 0;
    size_t want = *cap ? *cap * 2 : first;
    if (want < *cap || want > SIZE_MAX / size)
        return ESMTP_ENOMEM;
    void *old;
    memcpy(&old, array, sizeof old); /* array is a T **, whatever T is */
    void *grown = mem_realloc(old, want * size);
    if (!grown)
        return ESMTP_ENOMEM;
    memcpy(array, &grown, sizeof grown);
    *cap = want;
    return 0;
}
