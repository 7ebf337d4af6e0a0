/* SPDX-License-Identifier: MIT */
#include "memtls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

/* A helper that cannot go on: the caller's test or fuzz run is void. */
#define MUST(cond)                                                                        \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond);             \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* ------------------------------------------------------------ the client's commands */

static void scan_push(scan *sc, command c)
{
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 32;
        sc->cmds = realloc(sc->cmds, sc->cap * sizeof *sc->cmds);
        MUST(sc->cmds != NULL);
    }
    sc->cmds[sc->n++] = c;
}

void scan_more(scan *sc, const char *p, size_t len)
{
    MUST(ebuf_append(&sc->bytes, p, len) == 0);
    while (!sc->data_pending) {
        if (sc->in_chunk) {
            if (sc->bytes.len - sc->pos < sc->chunk_left)
                return;
            sc->pos += sc->chunk_left;
            sc->chunk.end = sc->pos;
            scan_push(sc, sc->chunk);
            sc->in_chunk = 0;
        }
        const char *line = ebuf_str(&sc->bytes) + sc->pos;
        const char *crlf = strstr(line, "\r\n"); /* the client sends text: no NUL */
        if (!crlf)
            return;
        command c = {sc->pos, (size_t)(crlf - line), sc->pos + (size_t)(crlf - line) + 2, CC_LINE};
        sc->pos = c.end;
        if (sc->in_body) {
            if (c.line_len == 1 && line[0] == '.') {
                sc->in_body = 0;
                scan_push(sc, (command){sc->body_start, 0, c.end, CC_DOT});
            }
        } else if (c.line_len > 5 && strncmp(line, "BDAT ", 5) == 0) {
            char *rest;
            sc->chunk_left = strtoul(line + 5, &rest, 10);
            c.kind = strncmp(rest, " LAST", 5) == 0 ? CC_LAST_CHUNK : CC_CHUNK;
            sc->chunk = c;
            sc->in_chunk = 1;
        } else {
            scan_push(sc, c);
            if (c.line_len == 4 && strncmp(line, "DATA", 4) == 0) {
                if (sc->ask_data)
                    sc->data_pending = 1;
                else
                    scan_data(sc, 1);
            }
        }
    }
}

void scan_data(scan *sc, int body)
{
    sc->in_body = body;
    sc->body_start = sc->pos;
    if (sc->data_pending) {
        sc->data_pending = 0;
        scan_more(sc, NULL, 0);
    }
}

void scan_free(scan *sc)
{
    ebuf_free(&sc->bytes);
    free(sc->cmds);
    memset(sc, 0, sizeof *sc);
}

int is_verb(const scan *sc, const command *c, const char *verb)
{
    size_t n = strlen(verb);
    return c->kind == CC_LINE && c->line_len >= n &&
           strncmp(sc->bytes.data + c->start, verb, n) == 0;
}

/* ------------------------------------------------------------ the server's replies */

int count_byte(reply_count *rc, char ch)
{
    if (ch == '\n') {
        size_t len = rc->col - (size_t)rc->cr;
        int end = len >= 3 && (len == 3 || rc->sep == ' ');
        rc->col = 0;
        rc->cr = 0;
        rc->inside = !end;
        rc->n += end;
        return end;
    }
    if (!rc->inside && rc->col < 3) {
        int d = ch >= '0' && ch <= '9' ? ch - '0' : -1;
        rc->code = rc->col == 0 ? d : rc->code < 0 || d < 0 ? -1 : rc->code * 10 + d;
    }
    if (rc->col++ == 3)
        rc->sep = ch;
    rc->cr = ch == '\r';
    return 0;
}

/* ------------------------------------------------------------ the server's TLS */

void memtls_cert_make(memtls_cert *c)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *cert = X509_new();
    X509_EXTENSION *san =
        X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:" MEMTLS_HOST);
    MUST(key && cert && san);
    X509_NAME *name = X509_get_subject_name(cert);
    MUST(X509_set_version(cert, X509_VERSION_3) &&
         ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) &&
         X509_gmtime_adj(X509_getm_notBefore(cert), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600) &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)MEMTLS_HOST, -1, -1, 0) &&
         X509_set_issuer_name(cert, name) && X509_set_pubkey(cert, key) &&
         X509_add_ext(cert, san, -1) && X509_sign(cert, key, NULL));
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/esmtp-memtls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    MUST(mkdtemp(c->dir) != NULL);
    snprintf(c->ca_file, sizeof c->ca_file, "%s/ca.pem", c->dir);
    FILE *f = fopen(c->ca_file, "w");
    MUST(f != NULL);
    MUST(PEM_write_X509(f, cert) == 1);
    MUST(fclose(f) == 0);
    c->ctx = SSL_CTX_new(TLS_server_method());
    MUST(c->ctx != NULL);
    MUST(SSL_CTX_use_certificate(c->ctx, cert) == 1);
    MUST(SSL_CTX_use_PrivateKey(c->ctx, key) == 1);
    X509_EXTENSION_free(san);
    X509_free(cert);
    EVP_PKEY_free(key);
}

void memtls_cert_free(memtls_cert *c)
{
    SSL_CTX_free(c->ctx);
    unlink(c->ca_file);
    rmdir(c->dir);
    memset(c, 0, sizeof *c);
}

void memtls_server_tls(memtls_server *s, SSL_CTX *ctx)
{
    BIO *rd = BIO_new(BIO_s_mem()), *wr = BIO_new(BIO_s_mem());
    s->ssl = SSL_new(ctx);
    MUST(rd && wr && s->ssl);
    BIO_set_mem_eof_return(rd, -1); /* no input yet is no end of stream */
    SSL_set_bio(s->ssl, rd, wr);
    SSL_set_accept_state(s->ssl);
    s->tls_from = s->out.len;
}

int memtls_server_secure(const memtls_server *s)
{
    return s->ssl && SSL_is_init_finished(s->ssl);
}

/* Moves what OpenSSL wrote onto the wire. */
static void server_flush(memtls_server *s)
{
    char buf[4096];
    int n;
    while ((n = BIO_read(SSL_get_wbio(s->ssl), buf, sizeof buf)) > 0)
        MUST(ebuf_append(&s->out, buf, (size_t)n) == 0);
}

int memtls_server_send(memtls_server *s, const char *p, size_t n)
{
    if (!s->ssl) {
        MUST(ebuf_append(&s->out, p, n) == 0);
        return 0;
    }
    int ok = n == 0 || (memtls_server_secure(s) && SSL_write(s->ssl, p, (int)n) == (int)n);
    server_flush(s);
    return ok ? 0 : -1;
}

int memtls_server_recv(memtls_server *s, const char *p, size_t n, ebuf *plain)
{
    if (!s->ssl) {
        MUST(ebuf_append(plain, p, n) == 0);
        return 0;
    }
    MUST(BIO_write(SSL_get_rbio(s->ssl), p, (int)n) == (int)n);
    char buf[16384];
    int got;
    while ((got = SSL_read(s->ssl, buf, sizeof buf)) > 0)
        MUST(ebuf_append(plain, buf, (size_t)got) == 0);
    int err = SSL_get_error(s->ssl, got);
    server_flush(s); /* the handshake's answers, tickets, alerts */
    return err == SSL_ERROR_WANT_READ ? 0 : -1;
}

void memtls_server_close(memtls_server *s)
{
    if (!s->ssl)
        return;
    SSL_shutdown(s->ssl);
    server_flush(s);
}

void memtls_server_free(memtls_server *s)
{
    SSL_free(s->ssl);
    ebuf_free(&s->out);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ the client's pump */

void memtls_client_init(memtls_client *c, engine *e, const char *ca_file,
                        const memtls_watch *watch, void *ud)
{
    memset(c, 0, sizeof *c);
    c->e = e;
    c->cfg = (tls_config){.ca_file = ca_file, .min_version = ESMTP_TLS_1_2};
    c->watch = watch;
    c->ud = ud;
}

static void client_start_tls(memtls_client *c)
{
    char why[300];
    int rc = tls_new(&c->tls, &c->cfg, MEMTLS_HOST, NULL, why, sizeof why);
    if (rc == 0) {
        c->handshaking = 1;
        rc = tls_handshake(c->tls, why, sizeof why); /* queues the ClientHello */
    }
    if (rc < 0)
        engine_closed(c->e, rc, why);
}

void memtls_client_connected(memtls_client *c, const char *helo)
{
    int rc = engine_connected(c->e, helo);
    if (rc)
        engine_closed(c->e, rc, esmtp_strerror(rc));
    else if (engine_tls_active(c->e))
        client_start_tls(c);
}

static void deliver(memtls_client *c, const char *p, size_t n, int encrypted)
{
    engine_recv(c->e, p, n);
    if (c->watch && c->watch->received)
        c->watch->received(c->ud, p, n, encrypted);
}

static void sent(memtls_client *c, size_t n)
{
    engine_sent(c->e, n);
    if (c->watch && c->watch->sent)
        c->watch->sent(c->ud, n);
}

static void taken(memtls_client *c, const char *p, size_t n)
{
    if (c->watch && c->watch->taken)
        c->watch->taken(c->ud, p, n);
}

void memtls_client_receive(memtls_client *c, const char *buf, size_t n)
{
    engine *e = c->e;
    if (engine_done(e))
        return;
    if (!c->tls) {
        deliver(c, buf, n, 0);
        if (engine_wants_tls(e))
            client_start_tls(c);
        return;
    }
    char why[300];
    int rc = tls_feed(c->tls, buf, n);
    if (rc == 0 && c->handshaking) {
        rc = tls_handshake(c->tls, why, sizeof why);
        if (rc < 0) {
            engine_closed(e, rc, why);
            return;
        }
        if (rc == 0)
            return;
        c->handshaking = 0;
        if (engine_wants_tls(e))
            rc = engine_tls_started(e);
    }
    char plain[16384];
    long got;
    while (rc == 0 && !engine_done(e) && (got = tls_read(c->tls, plain, sizeof plain)) != 0) {
        if (got < 0) {
            engine_closed(e, (int)got,
                          got == ESMTP_EIO ? "the server closed the TLS connection"
                                           : "the TLS connection failed");
            return;
        }
        deliver(c, plain, (size_t)got, 1);
    }
    if (rc < 0 && !engine_done(e))
        engine_closed(e, rc, esmtp_strerror(rc));
}

void memtls_client_transmit(memtls_client *c, ebuf *wire)
{
    engine *e = c->e;
    while (!engine_done(e)) {
        const char *data;
        size_t len;
        ebuf *net = c->tls ? tls_output(c->tls) : NULL;
        if (net && c->tls_out_off < net->len) {
            data = net->data + c->tls_out_off;
            len = net->len - c->tls_out_off;
        } else if (net) {
            /* All ciphertext is out: its plaintext has been sent. */
            ebuf_clear(net);
            c->tls_out_off = 0;
            if (c->tls_plain_pending) {
                sent(c, c->tls_plain_pending);
                c->tls_plain_pending = 0;
                continue;
            }
            if (c->handshaking || !engine_wants_write(e) || engine_output(e, &data, &len) != 0 ||
                len == 0)
                break;
            long n = tls_write(c->tls, data, len);
            if (n < 0) {
                engine_closed(e, (int)n, "the TLS connection failed while writing");
                break;
            }
            taken(c, data, (size_t)n);
            c->tls_plain_pending = (size_t)n;
            continue;
        } else if (!engine_wants_write(e) || engine_output(e, &data, &len) != 0 || len == 0) {
            break;
        }
        MUST(ebuf_append(wire, data, len) == 0);
        if (net) {
            c->tls_out_off += len;
        } else {
            taken(c, data, len);
            sent(c, len);
        }
    }
}

void memtls_client_free(memtls_client *c)
{
    tls_free(c->tls);
    c->tls = NULL;
}
