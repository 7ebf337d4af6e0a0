/* The main() every Check test program shares. SPDX-License-Identifier: MIT */
#ifndef ESMTP_RUN_SUITE_H
#define ESMTP_RUN_SUITE_H

#include <check.h>
#include <stdlib.h>

/* Runs the suite (forking per test unless CK_FORK=no) and gives the exit
 * status: failure when any test failed. */
static inline int run_suite(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
