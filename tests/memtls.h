/* An SMTP server's side in memory, for tests and fuzz targets that run the
 * engine against a real TLS peer without sockets (issue 9): the client's
 * byte stream split into commands as a server reads it, replies told apart
 * without the library's parser, OpenSSL as the server on memory BIOs with
 * a throw-away certificate, and the client's connection pumped between the
 * "socket" and the engine as lib/conn.c pumps it. Setup failures and lack
 * of memory abort; what a test may provoke is returned.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_MEMTLS_H
#define ESMTP_MEMTLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "protocol.h"
#include "tls.h"

/* The name in the certificate, and the host the client connects to. */
#define MEMTLS_HOST "mail.test"

/* ------------------------------------------------------------ the client's commands */

/* How a client command ends: with its line, the body's dot, or a chunk. */
enum { CC_LINE, CC_DOT, CC_CHUNK, CC_LAST_CHUNK };

typedef struct command {
    size_t start;    /* its line (for the dot: where the body starts) */
    size_t line_len;
    size_t end;      /* just past its last byte */
    int kind;
} command;

/* A client's byte stream split into commands as a server reads it: each
 * is answered by one reply, in order. Zero-initialise; scan_free frees. */
typedef struct scan {
    ebuf bytes;
    size_t pos;      /* bytes taken into commands (or into the chunk below) */
    int in_body;     /* after DATA, until the dot line */
    size_t body_start;
    int in_chunk;    /* after a BDAT line, until its chunk is whole */
    size_t chunk_left;
    command chunk;
    command *cmds;
    size_t n;
    size_t cap;
    /* Set by a server that may refuse DATA: the scan stops after a DATA
     * line until scan_data() says whether a body follows. */
    int ask_data;
    int data_pending;
} scan;

/* Takes more of the client's bytes (text: no NUL) and splits off what
 * commands are whole. */
void scan_more(scan *sc, const char *p, size_t len);
/* With ask_data: the DATA just scanned was answered with a go-ahead
 * (body) or not; scanning goes on. */
void scan_data(scan *sc, int body);
void scan_free(scan *sc);
/* Whether command c is a line that starts with verb. */
int is_verb(const scan *sc, const command *c, const char *verb);

/* ------------------------------------------------------------ the server's replies */

/* Whole replies in a stream of server bytes, told apart without the
 * library's parser (verdicts must not lean on it): a line ends with LF
 * (a CR before it is no part of it), and a reply ends with a line "ddd"
 * or "ddd text". Zero-initialise. */
typedef struct reply_count {
    size_t col;    /* bytes of the line so far */
    char sep;      /* its fourth byte */
    int cr;        /* the last byte was CR */
    int code;      /* the reply's first three bytes as a number, or -1 */
    int inside;    /* the line is not the reply's first */
    size_t n;      /* replies that ended */
} reply_count;

/* Takes one byte; says whether a reply ended with it (its code is then
 * rc->code). */
int count_byte(reply_count *rc, char ch);

/* ------------------------------------------------------------ the server's TLS */

/* A throw-away self-signed Ed25519 certificate for MEMTLS_HOST (fast
 * handshakes), the server's context, and a file that holds the
 * certificate as the client's only CA. */
typedef struct memtls_cert {
    SSL_CTX *ctx;
    char dir[256];
    char ca_file[300];
} memtls_cert;

void memtls_cert_make(memtls_cert *c);
void memtls_cert_free(memtls_cert *c);

/* The server's end of the connection: in clear until memtls_server_tls. */
typedef struct memtls_server {
    SSL *ssl;        /* NULL while in clear */
    size_t tls_from; /* where in out the TLS bytes start */
    ebuf out;        /* every byte sent: in clear, then TLS records */
} memtls_server;

/* From now on TLS, the server's side of the handshake. */
void memtls_server_tls(memtls_server *s, SSL_CTX *ctx);
/* Whether the handshake is done. */
int memtls_server_secure(const memtls_server *s);
/* Sends plaintext (encrypted under TLS). Returns 0, or -1 when TLS cannot
 * take it (the handshake is not done, or TLS failed). */
int memtls_server_send(memtls_server *s, const char *p, size_t n);
/* Bytes from the client; what they hold for the server (decrypted under
 * TLS) is appended to plain. Returns 0, or -1 when TLS failed (a bad
 * record, an alert). */
int memtls_server_recv(memtls_server *s, const char *p, size_t n, ebuf *plain);
/* TLS's close_notify, if TLS is on. */
void memtls_server_close(memtls_server *s);
void memtls_server_free(memtls_server *s);

/* ------------------------------------------------------------ the client's pump */

/* What the pump did, for a caller that watches the client's side. */
typedef struct memtls_watch {
    /* n bytes from the server were given to engine_recv (encrypted: they
     * came through TLS). */
    void (*received)(void *ud, const char *p, size_t n, int encrypted);
    /* n bytes of the engine's output were taken for the wire (under TLS:
     * into tls_write). */
    void (*taken)(void *ud, const char *p, size_t n);
    /* engine_sent(n) was called. */
    void (*sent)(void *ud, size_t n);
} memtls_watch;

/* The client's connection, pumped between the socket (here: memory) and
 * the engine as lib/conn.c pumps it: receive(), transmit() and start_tls()
 * there, without the session's port-mode check, progress events and TLS
 * resumption. */
typedef struct memtls_client {
    engine *e;
    tls_config cfg;
    const memtls_watch *watch;
    void *ud;
    tls_conn *tls;            /* NULL while in clear */
    int handshaking;
    size_t tls_out_off;       /* sent part of tls_output() */
    size_t tls_plain_pending; /* plaintext encrypted but not yet on the wire */
} memtls_client;

/* A client for engine e (set up, not connected) trusting only ca_file. */
void memtls_client_init(memtls_client *c, engine *e, const char *ca_file,
                        const memtls_watch *watch, void *ud);
/* The connection is up: engine_connected(), and the handshake at once
 * for implicit TLS. */
void memtls_client_connected(memtls_client *c, const char *helo);
/* Bytes from the server (nothing happens once the engine is done). */
void memtls_client_receive(memtls_client *c, const char *buf, size_t n);
/* Sends what is waiting; the socket takes everything, into wire. */
void memtls_client_transmit(memtls_client *c, ebuf *wire);
void memtls_client_free(memtls_client *c);

#endif
