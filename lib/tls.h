/* TLS over memory BIOs: OpenSSL never touches the socket, so TLS is one
 * more byte transformation between the transport and the protocol engine
 * and the event-loop API works unchanged. SPDX-License-Identifier: MIT */
#ifndef ESMTP_TLS_H
#define ESMTP_TLS_H

#include <stddef.h>

#include "buf.h"

typedef struct ssl_session_st tls_resume;  /* an OpenSSL SSL_SESSION */

typedef struct tls_config {
    const char *ca_file;         /* NULL: system trust store (with ca_dir) */
    const char *ca_dir;
    const char *cert_file;       /* client certificate, or NULL */
    const char *key_file;
    int min_version;             /* 12 or 13 */
    const char *pin;             /* base64 SHA-256 of the server's SPKI, or NULL */
    int insecure;                /* verify nothing */
} tls_config;

typedef struct tls_conn tls_conn;

/* Prepares a client connection to host (a name, which gets SNI and a
 * name check, or an IP literal, checked against IP SANs). resume, when not
 * NULL, is offered for resumption. Returns 0 or ESMTP_ETLS / ESMTP_ENOMEM
 * with the reason in err. */
int tls_new(tls_conn **out, const tls_config *cfg, const char *host, tls_resume *resume,
            char *err, size_t errlen);
void tls_free(tls_conn *t);

/* Bytes from the network. */
int tls_feed(tls_conn *t, const void *data, size_t len);

/* Drives the handshake. Returns 1 when it is complete, 0 when it needs more
 * bytes from the network, or ESMTP_ETLS / ESMTP_ECERT with the reason in
 * err. */
int tls_handshake(tls_conn *t, char *err, size_t errlen);

/* Decrypted bytes: > 0 bytes, 0 none available now, ESMTP_EIO when the
 * server closed TLS, ESMTP_ETLS on an error. */
long tls_read(tls_conn *t, void *buf, size_t len);

/* Encrypts plaintext; returns how much was taken (all of it), ESMTP_ETLS or
 * ESMTP_ENOMEM. */
long tls_write(tls_conn *t, const void *data, size_t len);

/* Encrypted bytes waiting for the network; the caller sends them and
 * clears what went out. */
ebuf *tls_output(tls_conn *t);

/* Facts about the established connection (valid until tls_free). */
const char *tls_version(const tls_conn *t);
const char *tls_cipher(const tls_conn *t);
const char *tls_peer_subject(tls_conn *t);
int tls_resumed(const tls_conn *t);
/* After a connection that ended cleanly: the session to resume next time
 * (a new reference), or NULL. */
tls_resume *tls_get_resume(tls_conn *t);
void tls_resume_free(tls_resume *r);

/* RFC 9266 tls-exporter channel binding (TLS 1.3 only): 32 bytes into out.
 * Returns 0, or ESMTP_ETLS when not available. */
int tls_exporter(tls_conn *t, unsigned char out[32]);

#endif
