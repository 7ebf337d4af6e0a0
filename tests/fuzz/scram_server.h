/* A correct SCRAM server (RFC 5802 and 7677, with RFC 9266's tls-exporter
 * binding for -PLUS) that fuzz targets check the library's client against:
 * PBKDF2, HMAC and base64 by OpenSSL, never by the code under test. It
 * reads and writes the messages decoded; the caller carries them in AUTH's
 * base64. SPDX-License-Identifier: MIT */
#ifndef ESMTP_SCRAM_SERVER_H
#define ESMTP_SCRAM_SERVER_H

#include <stddef.h>

#include <openssl/evp.h>

#include "buf.h"

/* What was wrong with a client's message, the first thing found. */
typedef enum scram_verdict {
    SCRAM_OK,
    SCRAM_MALFORMED,   /* not the message due, in the form a client must send */
    SCRAM_BAD_BINDING, /* c= is not the gs2 header (and, for -PLUS, the server's binding) */
    SCRAM_BAD_NONCE,   /* r= is not the nonce the server sent */
    SCRAM_BAD_PROOF    /* the proof is not the password's */
} scram_verdict;

/* One exchange. Zero-initialise; scram_server_free frees. */
typedef struct scram_server {
    const EVP_MD *md;
    unsigned int hlen;
    int plus;                               /* -PLUS: c= carries the binding */
    ebuf gs2;                               /* the client's gs2 header ("n,," ...) */
    ebuf bare;                              /* client-first-message-bare */
    ebuf first;                             /* the server-first-message sent */
    ebuf nonce;                             /* the client's nonce and the server's part */
    unsigned char salted[EVP_MAX_MD_SIZE];  /* SaltedPassword */
    unsigned char sig[EVP_MAX_MD_SIZE];     /* ServerSignature, once the final message came */
} scram_server;

/* Takes the client-first-message of mech (SCRAM-SHA-1, SCRAM-SHA-256 or
 * SCRAM-SHA-256-PLUS) and puts the server-first-message into out (which it
 * empties first): the client's nonce with nonce_part appended (printable,
 * no ','), the salt and the iteration count. Returns SCRAM_OK or
 * SCRAM_MALFORMED. */
scram_verdict scram_server_first(scram_server *s, const char *mech, const char *password,
                                 const void *msg, size_t len, const char *nonce_part,
                                 const unsigned char *salt, size_t saltlen, unsigned int iter,
                                 ebuf *out);

/* Takes the client-final-message: c= must be the gs2 header and, for
 * -PLUS, cb (the binding as the server sees it), r= the nonce, then the
 * proof. Whatever the verdict, s->sig gets the ServerSignature of the
 * exchange as the server sees it: a server whose binding differs from the
 * client's signs something the client did not say. */
scram_verdict scram_server_final(scram_server *s, const void *msg, size_t len,
                                 const unsigned char *cb, size_t cblen);

/* Appends the server-final-message: "v=" and s->sig in base64. */
void scram_server_verifier(const scram_server *s, ebuf *out);

void scram_server_free(scram_server *s);

#endif
