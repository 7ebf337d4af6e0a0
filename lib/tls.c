/* SPDX-License-Identifier: MIT */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <esmtp/esmtp.h>

#include "alloc.h"

struct tls_conn {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in;             /* network -> OpenSSL */
    BIO *out;            /* OpenSSL -> network */
    ebuf net_out;
    char *pin;
    SSL_SESSION *resume; /* the newest session ticket the server gave */
    char subject[512];
};

/* Collects what OpenSSL produced for the network. */
static int flush(tls_conn *t)
{
    size_t n;
    while ((n = BIO_ctrl_pending(t->out)) > 0) {
        if (ebuf_reserve(&t->net_out, n))
            return ESMTP_ENOMEM;
        int got = BIO_read(t->out, t->net_out.data + t->net_out.len, (int)n);
        if (got <= 0)
            break;
        t->net_out.len += (size_t)got;
        t->net_out.data[t->net_out.len] = '\0';
    }
    return 0;
}

/* The library's own allocations failing: ESMTP_ENOMEM, with its reason,
 * which the session reports as the detail. */
static int no_memory(char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", esmtp_strerror(ESMTP_ENOMEM));
    return ESMTP_ENOMEM;
}

/* With a pin, the pin vouches for the key instead of a CA: chain errors
 * pass here and the pin is checked once the handshake is done. Name
 * mismatches never pass. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    if (ok)
        return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    tls_conn *t = SSL_get_app_data(ssl);
    int err = X509_STORE_CTX_get_error(store);
    return t->pin && err != X509_V_ERR_HOSTNAME_MISMATCH && err != X509_V_ERR_IP_ADDRESS_MISMATCH;
}

static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    tls_conn *t = SSL_get_app_data(ssl);
    SSL_SESSION_free(t->resume);
    t->resume = sess;
    return 1; /* we keep the reference */
}

/* The first OpenSSL error as text, or fallback. */
static void openssl_reason(char *err, size_t errlen, const char *what, const char *fallback)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(err, errlen, "%s: %s", what, e ? buf : fallback);
    ERR_clear_error();
}

int tls_new(tls_conn **out, const tls_config *cfg, const char *host, tls_resume *resume,
            char *err, size_t errlen)
{
    tls_conn *t = mem_calloc(1, sizeof *t);
    if (!t)
        return no_memory(err, errlen);
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(t->ctx, cfg->min_version >= 13 ? TLS1_3_VERSION
                                                                  : TLS1_2_VERSION);
    if (cfg->insecure) {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, verify_cb);
        int loaded = cfg->ca_file || cfg->ca_dir
                         ? SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, cfg->ca_dir)
                         : SSL_CTX_set_default_verify_paths(t->ctx);
        if (!loaded) {
            openssl_reason(err, errlen, "cannot load the CA certificates", "unknown error");
            tls_free(t);
            return ESMTP_ETLS;
        }
    }
    if (cfg->cert_file &&
        (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert_file) != 1 ||
         SSL_CTX_use_PrivateKey_file(t->ctx, cfg->key_file ? cfg->key_file : cfg->cert_file,
                                     SSL_FILETYPE_PEM) != 1 ||
         SSL_CTX_check_private_key(t->ctx) != 1)) {
        openssl_reason(err, errlen, "cannot use the client certificate", "unknown error");
        tls_free(t);
        return ESMTP_ETLS;
    }
    SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(t->ctx, new_session_cb);
    if (cfg->pin && !(t->pin = mem_strdup(cfg->pin))) {
        tls_free(t);
        return no_memory(err, errlen);
    }

    t->ssl = SSL_new(t->ctx);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->in || !t->out) {
        BIO_free(t->in);
        BIO_free(t->out);
        t->in = t->out = NULL;
        goto fail;
    }
    /* An empty input BIO means "wait for more", not end of stream. */
    BIO_set_mem_eof_return(t->in, -1);
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_app_data(t->ssl, t);
    SSL_set_connect_state(t->ssl);

    char name[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    snprintf(name, sizeof name, "%.*s", (int)n, host);
    unsigned char ip[16];
    if (inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1) {
        /* IP literals are matched against IP SANs; SNI takes no IPs. */
        if (!cfg->insecure && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name) != 1)
            goto fail;
    } else {
        if (SSL_set_tlsext_host_name(t->ssl, name) != 1)
            goto fail;
        /* The name the caller gave, never a DNS-canonicalised one. */
        if (!cfg->insecure && SSL_set1_host(t->ssl, name) != 1)
            goto fail;
    }
    if (resume)
        SSL_set_session(t->ssl, resume);
    *out = t;
    return 0;

fail:
    openssl_reason(err, errlen, "cannot set up TLS", "out of memory");
    tls_free(t);
    return ESMTP_ETLS;
}

void tls_free(tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees the BIOs too */
    SSL_CTX_free(t->ctx);
    SSL_SESSION_free(t->resume);
    ebuf_free(&t->net_out);
    free(t->pin);
    free(t);
}

int tls_feed(tls_conn *t, const void *data, size_t len)
{
    return BIO_write(t->in, data, (int)len) == (int)len ? 0 : ESMTP_ENOMEM;
}

/* Whether the server's key matches the pin: 1 or 0, or ESMTP_ENOMEM (a
 * key that could not be checked is no mismatch to report). */
static int pin_matches(tls_conn *t)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    EVP_PKEY *key = cert ? X509_get0_pubkey(cert) : NULL;
    int len = key ? i2d_PUBKEY(key, NULL) : -1;
    if (len <= 0)
        return 0;
    unsigned char *der = mem_malloc((size_t)len), *p = der;
    if (!der)
        return ESMTP_ENOMEM;
    unsigned char digest[32];
    unsigned char b64[48];
    unsigned int dlen = 0;
    int ok = i2d_PUBKEY(key, &p) == len &&
             EVP_Digest(der, (size_t)len, digest, &dlen, EVP_sha256(), NULL) == 1 &&
             EVP_EncodeBlock(b64, digest, (int)dlen) == 44 && strcmp((char *)b64, t->pin) == 0;
    free(der);
    return ok;
}

int tls_handshake(tls_conn *t, char *err, size_t errlen)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(t->ssl);
    if (flush(t))
        return no_memory(err, errlen);
    if (rc == 1) {
        int pinned = t->pin ? pin_matches(t) : 1;
        if (pinned == ESMTP_ENOMEM)
            return no_memory(err, errlen);
        if (!pinned) {
            snprintf(err, errlen, "the server's public key does not match the pinned key");
            return ESMTP_ECERT;
        }
        return 1;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    long vr = SSL_get_verify_result(t->ssl);
    if (vr != X509_V_OK) {
        snprintf(err, errlen, "the server's certificate failed verification: %s",
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return ESMTP_ECERT;
    }
    openssl_reason(err, errlen, "TLS handshake failed", "the connection ended");
    return ESMTP_ETLS;
}

long tls_read(tls_conn *t, void *buf, size_t len)
{
    ERR_clear_error();
    int n = SSL_read(t->ssl, buf, len > 1 << 30 ? 1 << 30 : (int)len);
    if (flush(t))
        return ESMTP_ENOMEM;
    if (n > 0)
        return n;
    int e = SSL_get_error(t->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    ERR_clear_error();
    return e == SSL_ERROR_ZERO_RETURN ? ESMTP_EIO : ESMTP_ETLS;
}

long tls_write(tls_conn *t, const void *data, size_t len)
{
    ERR_clear_error();
    int n = SSL_write(t->ssl, data, len > 1 << 30 ? 1 << 30 : (int)len);
    if (flush(t))
        return ESMTP_ENOMEM;
    if (n > 0)
        return n;
    ERR_clear_error();
    return ESMTP_ETLS;
}

ebuf *tls_output(tls_conn *t)
{
    return &t->net_out;
}

const char *tls_version(const tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *tls_cipher(const tls_conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

const char *tls_peer_subject(tls_conn *t)
{
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    BIO *mem = cert ? BIO_new(BIO_s_mem()) : NULL;
    t->subject[0] = '\0';
    if (mem) {
        X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        int n = BIO_read(mem, t->subject, sizeof t->subject - 1);
        t->subject[n > 0 ? n : 0] = '\0';
        BIO_free(mem);
    }
    return t->subject;
}

int tls_resumed(const tls_conn *t)
{
    return SSL_session_reused(t->ssl);
}

tls_resume *tls_get_resume(tls_conn *t)
{
    /* SSL_free() would mark the session unusable after a connection that
     * did not shut TLS down; this one ended cleanly at the SMTP level. */
    SSL_set_shutdown(t->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_SESSION *s = t->resume ? t->resume : SSL_get_session(t->ssl);
    if (s && SSL_SESSION_is_resumable(s) && SSL_SESSION_up_ref(s) == 1)
        return s;
    return NULL;
}

void tls_resume_free(tls_resume *r)
{
    SSL_SESSION_free(r);
}

int tls_exporter(tls_conn *t, unsigned char out[32])
{
    static const char label[] = "EXPORTER-Channel-Binding";
    if (SSL_version(t->ssl) != TLS1_3_VERSION ||
        SSL_export_keying_material(t->ssl, out, 32, label, sizeof label - 1, NULL, 0, 0) != 1)
        return ESMTP_ETLS;
    return 0;
}
