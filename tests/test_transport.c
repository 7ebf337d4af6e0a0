/* Unit tests of the transport layer on loopback sockets the test owns.
 * SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <check.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <esmtp/esmtp.h>

#include "transport.h"
#include "run_suite.h"

/* A listening socket on 127.0.0.1; its port goes to *port. */
static int listener(unsigned int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* A port on ::1 where nothing listens. */
static unsigned int closed_v6_port(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin6_port);
}

/* Connects the way the session does; returns 0 once connected. */
static int connect_any(transport *t, char *err, size_t errlen)
{
    while (transport_connect_next(t, err, errlen) == 0) {
        struct pollfd pfd = {t->fd, POLLOUT, 0};
        ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
        if (transport_connect_result(t, err, errlen) == 0)
            return 0;
    }
    return -1;
}

START_TEST(tries_each_address_in_turn)
{
    unsigned int port, dead_port = closed_v6_port();
    int lfd = listener(&port);
    char err[256];
    transport t, other;
    transport_init(&t);
    transport_init(&other);
    /* The first address refuses; the second (another port, as a server
     * with two addresses would have) accepts. */
    ck_assert_int_eq(transport_resolve(&t, "[::1]", dead_port, err, sizeof err), 0);
    ck_assert_int_eq(transport_resolve(&other, "127.0.0.1", port, err, sizeof err), 0);
    t.addrs->ai_next = other.addrs;
    other.addrs = NULL;
    ck_assert_int_eq(connect_any(&t, err, sizeof err), 0);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", port);
    ck_assert_str_eq(t.peer, want);
    char literal[64];
    ck_assert_int_eq(transport_local_literal(&t, literal, sizeof literal), 0);
    ck_assert_str_eq(literal, "[127.0.0.1]");
    transport_free(&t);
    transport_free(&other);
    close(lfd);
}
END_TEST

START_TEST(all_addresses_refuse)
{
    char err[256];
    transport t;
    transport_init(&t);
    ck_assert_int_eq(transport_resolve(&t, "::1", closed_v6_port(), err, sizeof err), 0);
    ck_assert_int_eq(connect_any(&t, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "[::1]"));
    ck_assert_ptr_nonnull(strstr(err, "refused"));
    ck_assert_int_eq(t.fd, -1);
    transport_free(&t);
}
END_TEST

START_TEST(bad_names)
{
    char err[256];
    transport t;
    transport_init(&t);
    ck_assert_int_eq(transport_resolve(&t, "[]", 25, err, sizeof err), ESMTP_ERESOLVE);
    ck_assert_int_eq(transport_resolve(&t, "[not-an-ip]", 25, err, sizeof err), ESMTP_ERESOLVE);
    ck_assert_int_eq(transport_resolve(&t, "no-such-host.invalid", 25, err, sizeof err),
                     ESMTP_ERESOLVE);
    ck_assert_ptr_nonnull(strstr(err, "no-such-host.invalid"));
    transport_free(&t);
}
END_TEST

START_TEST(nodelay_is_set)
{
    unsigned int port;
    int lfd = listener(&port);
    char err[256];
    transport t;
    transport_init(&t);
    ck_assert_int_eq(transport_resolve(&t, "127.0.0.1", port, err, sizeof err), 0);
    ck_assert_int_eq(connect_any(&t, err, sizeof err), 0);
    int on = 0;
    socklen_t len = sizeof on;
    ck_assert_int_eq(getsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
    ck_assert_int_ne(on, 0);
    transport_free(&t);
    close(lfd);
}
END_TEST

static Suite *transport_suite(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("sockets");
    tcase_add_test(tc, tries_each_address_in_turn);
    tcase_add_test(tc, all_addresses_refuse);
    tcase_add_test(tc, bad_names);
    tcase_add_test(tc, nodelay_is_set);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(transport_suite());
}
