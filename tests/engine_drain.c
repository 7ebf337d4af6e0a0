/* SPDX-License-Identifier: MIT */
#include "engine_drain.h"

#include <check.h>

char *engine_drain(engine *e)
{
    ebuf all = {0};
    ebuf_append(&all, "", 0);
    for (;;) {
        const char *p;
        size_t n;
        ck_assert_int_eq(engine_output(e, &p, &n), 0);
        if (n == 0)
            break;
        ebuf_append(&all, p, n);
        engine_sent(e, n);
    }
    return all.data;
}
