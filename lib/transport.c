/* SPDX-License-Identifier: MIT */
#include "transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <esmtp/esmtp.h>

void transport_init(transport *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
}

int transport_resolve(transport *t, const char *host, unsigned int port, char *err,
                      size_t errlen)
{
    char name[256];
    size_t n = strlen(host);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    /* "[::1]" is an address literal: strip the brackets, and do not let the
     * resolver treat what is inside as a name. */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
        hints.ai_flags |= AI_NUMERICHOST;
    }
    if (n == 0 || n >= sizeof name) {
        snprintf(err, errlen, "invalid host name");
        return ESMTP_ERESOLVE;
    }
    memcpy(name, host, n);
    name[n] = '\0';

    char service[8];
    snprintf(service, sizeof service, "%u", port);
    if (t->addrs) {
        freeaddrinfo(t->addrs);
        t->addrs = NULL;
    }
    int rc = getaddrinfo(name, service, &hints, &t->addrs);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", name, gai_strerror(rc));
        t->addrs = NULL;
        return rc == EAI_MEMORY ? ESMTP_ENOMEM : ESMTP_ERESOLVE;
    }
    t->next = t->addrs;
    return 0;
}

static void describe(const struct sockaddr *sa, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
        snprintf(out, outlen, "%s:%u", ip, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
        snprintf(out, outlen, "[%s]:%u", ip, port);
    }
}

int transport_connect_next(transport *t, char *err, size_t errlen)
{
    transport_close(t);
    while (t->next) {
        struct addrinfo *ai = t->next;
        t->next = ai->ai_next;
        describe(ai->ai_addr, t->peer, sizeof t->peer);
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, errlen, "socket for %s: %s", t->peer, strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
            t->fd = fd;
            return 0;
        }
        snprintf(err, errlen, "connect to %s: %s", t->peer, strerror(errno));
        close(fd);
    }
    return ESMTP_ECONNECT;
}

int transport_connect_result(transport *t, char *err, size_t errlen)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr != 0) {
        snprintf(err, errlen, "connect to %s: %s", t->peer, strerror(soerr));
        return ESMTP_ECONNECT;
    }
    /* Commands are written whole and in batches; Nagle would only delay the
     * last segment of each batch while waiting for an ACK. */
    int one = 1;
    setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return 0;
}

int transport_local_literal(const transport *t, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char ip[INET6_ADDRSTRLEN];
    if (getsockname(t->fd, (struct sockaddr *)&ss, &len) != 0)
        return ESMTP_EIO;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]", ip);
    } else {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[IPv6:%s]", ip);
    }
    return 0;
}

long transport_send(transport *t, const void *buf, size_t len)
{
    ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return (long)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return ESMTP_EIO;
}

long transport_recv(transport *t, void *buf, size_t len, int *eof)
{
    *eof = 0;
    ssize_t n = recv(t->fd, buf, len, 0);
    if (n > 0)
        return (long)n;
    if (n == 0) {
        *eof = 1;
        return ESMTP_EIO;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return 0;
    return ESMTP_EIO;
}

void transport_close(transport *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
}

void transport_free(transport *t)
{
    transport_close(t);
    if (t->addrs)
        freeaddrinfo(t->addrs);
    t->addrs = t->next = NULL;
}
