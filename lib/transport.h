/* Transport: name resolution and a non-blocking TCP connection that tries
 * each address in turn. The only layer that touches sockets.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_TRANSPORT_H
#define ESMTP_TRANSPORT_H

#include <stddef.h>

struct addrinfo;

typedef struct transport {
    int fd;                   /* -1 when closed */
    struct addrinfo *addrs;   /* every address of the server */
    struct addrinfo *next;    /* the next address to try */
    char peer[64];            /* the address being tried, for messages */
} transport;

void transport_init(transport *t);

/* Resolves host (a name, an IPv4 address, or an IPv6 address with or
 * without brackets) and port. Returns 0 or ESMTP_ERESOLVE / ESMTP_ENOMEM;
 * on failure err receives the resolver's message. */
int transport_resolve(transport *t, const char *host, unsigned int port, char *err,
                      size_t errlen);

/* Starts a non-blocking connect to the next untried address. Returns 0 when
 * a connect is under way (wait for writability, then call
 * transport_connect_result), or ESMTP_ECONNECT when no address is left.
 * err receives why the attempts so far failed. */
int transport_connect_next(transport *t, char *err, size_t errlen);

/* After the socket became writable: 0 when connected (TCP_NODELAY is then
 * set), ESMTP_ECONNECT otherwise with the reason in err. */
int transport_connect_result(transport *t, char *err, size_t errlen);

/* The local address as an RFC 5321 address literal ("[192.0.2.1]" or
 * "[IPv6:2001:db8::1]"). Returns 0 or ESMTP_EIO. */
int transport_local_literal(const transport *t, char *out, size_t outlen);

/* Non-blocking I/O. Both return the number of bytes moved, 0 when the
 * socket is not ready, or ESMTP_EIO on an error or (recv) the end of the
 * stream, which sets *eof. */
long transport_send(transport *t, const void *buf, size_t len);
long transport_recv(transport *t, void *buf, size_t len, int *eof);

void transport_close(transport *t);
void transport_free(transport *t);

#endif
