/* SASL client mechanisms for SMTP AUTH. SPDX-License-Identifier: MIT */
#include "sasl.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <esmtp/esmtp.h>

#include "alloc.h"
#include "base64.h"

/* ------------------------------------------------------------ mechanisms */

typedef enum mech_id {
    M_OAUTHBEARER,
    M_XOAUTH2,
    M_SCRAM,
    M_CRAM_MD5,
    M_PLAIN,
    M_LOGIN,
    M_EXTERNAL
} mech_id;

enum {
    F_USER = 1 << 0,     /* needs a non-empty user */
    F_PASSWORD = 1 << 1, /* needs a password (may be empty) */
    F_TOKEN = 1 << 2,    /* needs a non-empty bearer token */
    F_CB = 1 << 3,       /* needs channel binding data (and TLS) */
    F_CLEAR_OK = 1 << 4, /* sends nothing an eavesdropper could reuse */
    F_DEFAULT = 1 << 5   /* part of the default order */
};

typedef struct mech {
    const char *name;
    mech_id id;
    unsigned flags;
    const char *digest; /* SCRAM's hash, as EVP names it */
    size_t hlen;        /* its output size */
} mech;

/* In the default order of preference. */
static const mech mechs[] = {
    {"OAUTHBEARER", M_OAUTHBEARER, F_TOKEN | F_DEFAULT, NULL, 0},
    {"XOAUTH2", M_XOAUTH2, F_USER | F_TOKEN | F_DEFAULT, NULL, 0},
    {"SCRAM-SHA-256-PLUS", M_SCRAM, F_USER | F_PASSWORD | F_CB | F_CLEAR_OK | F_DEFAULT,
     "SHA256", 32},
    {"SCRAM-SHA-256", M_SCRAM, F_USER | F_PASSWORD | F_CLEAR_OK | F_DEFAULT, "SHA256", 32},
    {"SCRAM-SHA-1", M_SCRAM, F_USER | F_PASSWORD | F_CLEAR_OK | F_DEFAULT, "SHA1", 20},
    {"CRAM-MD5", M_CRAM_MD5, F_USER | F_PASSWORD | F_DEFAULT, NULL, 0},
    {"PLAIN", M_PLAIN, F_USER | F_PASSWORD | F_DEFAULT, NULL, 0},
    {"LOGIN", M_LOGIN, F_USER | F_PASSWORD | F_DEFAULT, NULL, 0},
    {"EXTERNAL", M_EXTERNAL, F_CLEAR_OK, NULL, 0},
};
#define NMECHS (sizeof mechs / sizeof mechs[0])

#define SCRAM_MAX_HASH 32

static int ascii_lower(int ch)
{
    return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

/* Case-insensitive (ASCII only, whatever the locale) match of s[0..n) and z. */
static int name_eq(const char *s, size_t n, const char *z)
{
    for (size_t i = 0; i < n; i++, z++)
        if (!*z || ascii_lower((unsigned char)s[i]) != ascii_lower((unsigned char)*z))
            return 0;
    return *z == '\0';
}

static const mech *find_mech(const char *name, size_t n)
{
    for (size_t i = 0; i < NMECHS; i++)
        if (name_eq(name, n, mechs[i].name))
            return &mechs[i];
    return NULL;
}

static int has_byte(const char *s, int ch)
{
    return s && strchr(s, ch) != NULL;
}

/* Does creds hold what m needs? */
static int creds_fit(const mech *m, const sasl_creds *cr)
{
    if ((m->flags & F_USER) && !(cr->user && *cr->user))
        return 0;
    if ((m->flags & F_PASSWORD) && !cr->password)
        return 0;
    if ((m->flags & F_TOKEN) && !(cr->token && *cr->token))
        return 0;
    if ((m->flags & F_CB) && !(cr->cb_data && cr->cb_len))
        return 0;
    /* 0x01 separates the OAuth key/value pairs. */
    if ((m->flags & F_TOKEN) && (has_byte(cr->user, 1) || has_byte(cr->authzid, 1) ||
                                 has_byte(cr->token, 1) || has_byte(cr->host, 1)))
        return 0;
    return 1;
}

/* ---------------------------------------------------------------- buffers */

void sasl_buf_wipe(ebuf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    ebuf_free(b);
}

/* Like ebuf_reserve, but a buffer that moves is wiped first: for buffers
 * this file owns that hold secrets. */
static int sec_reserve(ebuf *b, size_t n)
{
    if (n >= SIZE_MAX - b->len - 1)
        return ESMTP_ENOMEM;
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = mem_malloc(cap);
    if (!p)
        return ESMTP_ENOMEM;
    if (b->data) {
        memcpy(p, b->data, b->len + 1);
        OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    } else {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

static int sec_append(ebuf *b, const void *p, size_t n)
{
    int rc = sec_reserve(b, n);
    return rc ? rc : ebuf_append(b, p, n);
}

static int sec_append_str(ebuf *b, const char *s)
{
    return sec_append(b, s, strlen(s));
}

static char *sec_strdup(const char *s, int *rc)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *p = mem_malloc(n);
    if (!p)
        *rc = ESMTP_ENOMEM;
    else
        memcpy(p, s, n);
    return p;
}

/* ----------------------------------------------------------------- base64 */

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

int sasl_b64_encode(const void *in, size_t len, ebuf *out)
{
    const unsigned char *p = in;
    if (len > (SIZE_MAX / 4 - 1) * 3)
        return ESMTP_ENOMEM;
    size_t olen = (len + 2) / 3 * 4;
    int rc = ebuf_reserve(out, olen);
    if (rc)
        return rc;
    char *o = out->data + out->len;
    for (size_t i = 0; i < len; i += 3, o += 4)
        base64_quantum(p + i, len - i < 3 ? len - i : 3, o);
    out->len += olen;
    out->data[out->len] = '\0';
    return 0;
}

int sasl_b64_decode(const char *in, size_t len, ebuf *out)
{
    if (len % 4)
        return ESMTP_EPROTO;
    int rc = ebuf_reserve(out, len / 4 * 3);
    if (rc)
        return rc;
    unsigned char *o = (unsigned char *)out->data + out->len;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char ch = (unsigned char)in[i + k];
            if (ch == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) /* a data byte after '=' */
                goto bad;
            v[k] = b64_value(ch);
            if (v[k] < 0)
                goto bad;
        }
        unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
                          (unsigned long)v[2] << 6 | (unsigned long)v[3];
        /* The bits that padding leaves unused must be zero (canonical). */
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            goto bad;
        o[n++] = (unsigned char)(w >> 16);
        if (pad < 2)
            o[n++] = (unsigned char)(w >> 8);
        if (pad < 1)
            o[n++] = (unsigned char)w;
    }
    out->len += n;
    out->data[out->len] = '\0';
    return 0;
bad:
    OPENSSL_cleanse(o, n);
    out->data[out->len] = '\0';
    return ESMTP_EPROTO;
}

/* ----------------------------------------------------------------- client */

typedef enum cstate { ST_NEW, ST_STARTED, ST_DONE, ST_FAILED } cstate;

struct sasl_client {
    const mech *m;
    char *user;
    char *password;
    char *authzid;
    char *token;
    char *host;
    unsigned int port;
    unsigned char *cb;
    size_t cb_len;

    cstate state;
    int ir_pending;   /* the initial response waits for an empty 334 */
    unsigned int steps;
    int oauth_error;  /* the server sent its error challenge */

    /* SCRAM */
    char *nonce;
    ebuf gs2;         /* gs2-header */
    ebuf first_bare;  /* client-first-message-bare */
    int scram_stage;  /* 0 client-first sent, 1 client-final sent, 2 verified */
    unsigned long max_iter; /* SASL_SCRAM_MAX_ITERATIONS, lower in tests */
    unsigned char server_sig[SCRAM_MAX_HASH];

    const char *err;
    char *server_err;
};

const char *sasl_client_mech(const sasl_client *c)
{
    return c->m->name;
}

const char *sasl_client_error(const sasl_client *c)
{
    return c->err;
}

const char *sasl_client_server_error(const sasl_client *c)
{
    return c->server_err;
}

void sasl_client_free(sasl_client *c)
{
    if (!c)
        return;
    mem_wipe_free(c->user);
    mem_wipe_free(c->password);
    mem_wipe_free(c->authzid);
    mem_wipe_free(c->token);
    mem_wipe_free(c->host);
    if (c->cb) {
        OPENSSL_cleanse(c->cb, c->cb_len);
        free(c->cb);
    }
    mem_wipe_free(c->nonce);
    sasl_buf_wipe(&c->gs2);
    sasl_buf_wipe(&c->first_bare);
    free(c->server_err);
    OPENSSL_cleanse(c, sizeof *c);
    free(c);
}

int sasl_client_new(sasl_client **out, const char *mech_name, const sasl_creds *creds)
{
    static const sasl_creds none;
    if (!out)
        return ESMTP_EINVAL;
    *out = NULL;
    if (!mech_name)
        return ESMTP_EINVAL;
    const mech *m = find_mech(mech_name, strlen(mech_name));
    if (!creds)
        creds = &none;
    if (!m || !creds_fit(m, creds))
        return ESMTP_EINVAL;
    sasl_client *c = mem_calloc(1, sizeof *c);
    if (!c)
        return ESMTP_ENOMEM;
    c->m = m;
    c->max_iter = SASL_SCRAM_MAX_ITERATIONS;
    int rc = 0;
    c->user = sec_strdup(creds->user, &rc);
    c->authzid = sec_strdup(creds->authzid, &rc);
    if (m->flags & F_PASSWORD)
        c->password = sec_strdup(creds->password, &rc);
    if (m->flags & F_TOKEN) {
        c->token = sec_strdup(creds->token, &rc);
        c->host = sec_strdup(creds->host, &rc);
        c->port = creds->port;
    }
    if (m->flags & F_CB) {
        c->cb = mem_malloc(creds->cb_len);
        if (c->cb) {
            memcpy(c->cb, creds->cb_data, creds->cb_len);
            c->cb_len = creds->cb_len;
        } else {
            rc = ESMTP_ENOMEM;
        }
    }
    if (rc) {
        sasl_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

static int valid_nonce(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == ',')
            return 0;
    return 1;
}

int sasl_client_set_nonce(sasl_client *c, const char *nonce)
{
    if (!nonce || !*nonce || !valid_nonce(nonce, strlen(nonce)))
        return ESMTP_EINVAL;
    if (c->m->id != M_SCRAM || c->state != ST_NEW)
        return ESMTP_ESTATE;
    int rc = 0;
    char *p = sec_strdup(nonce, &rc);
    if (rc)
        return rc;
    mem_wipe_free(c->nonce);
    c->nonce = p;
    return 0;
}

int sasl_client_set_max_iterations(sasl_client *c, unsigned long max)
{
    if (max < 1 || max > SASL_SCRAM_MAX_ITERATIONS)
        return ESMTP_EINVAL;
    if (c->m->id != M_SCRAM || c->state != ST_NEW)
        return ESMTP_ESTATE;
    c->max_iter = max;
    return 0;
}

/* Marks the exchange failed; returns rc. */
static int fail(sasl_client *c, int rc, const char *why)
{
    c->state = ST_FAILED;
    c->err = why;
    return rc;
}

/* Keeps the server's error text, made printable and bounded. */
static void keep_server_error(sasl_client *c, const char *s, size_t n)
{
    if (n > 1024)
        n = 1024;
    char *p = mem_malloc(n + 1);
    if (!p)
        return; /* only a diagnostic */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        p[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    p[n] = '\0';
    free(c->server_err);
    c->server_err = p;
}

/* RFC 5802 saslname: '=' and ',' escaped as =3D and =2C. */
static int append_saslname(ebuf *b, const char *s)
{
    int rc = 0;
    for (; *s && !rc; s++) {
        if (*s == '=')
            rc = sec_append_str(b, "=3D");
        else if (*s == ',')
            rc = sec_append_str(b, "=2C");
        else
            rc = sec_append(b, s, 1);
    }
    return rc;
}

/* Prepares SCRAM's gs2-header and client-first-message-bare. */
static int scram_prepare(sasl_client *c)
{
    if (!c->nonce) {
        unsigned char raw[18];
        ebuf nb = {0};
        if (RAND_bytes(raw, sizeof raw) != 1)
            return fail(c, ESMTP_EIO, "the random number generator failed");
        int rc = sasl_b64_encode(raw, sizeof raw, &nb);
        OPENSSL_cleanse(raw, sizeof raw);
        if (rc) {
            ebuf_free(&nb);
            return rc;
        }
        c->nonce = nb.data; /* 24 characters of the base64 alphabet: no ',' */
    }
    int rc = sec_append_str(&c->gs2, (c->m->flags & F_CB) ? "p=tls-exporter," : "n,");
    if (!rc && c->authzid && *c->authzid) {
        rc = sec_append_str(&c->gs2, "a=");
        if (!rc)
            rc = append_saslname(&c->gs2, c->authzid);
    }
    if (!rc)
        rc = sec_append_str(&c->gs2, ",");
    if (!rc)
        rc = sec_append_str(&c->first_bare, "n=");
    if (!rc)
        rc = append_saslname(&c->first_bare, c->user);
    if (!rc)
        rc = sec_append_str(&c->first_bare, ",r=");
    if (!rc)
        rc = sec_append_str(&c->first_bare, c->nonce);
    return rc;
}

/* Builds the initial response (raw bytes) into ir, which the caller wipes.
 * Returns 0, 1 when the mechanism has none, or ESMTP_ENOMEM. */
static int build_ir(const sasl_client *c, ebuf *ir)
{
    int rc = 0;
    switch (c->m->id) {
    case M_PLAIN:
        if (c->authzid)
            rc = sec_append_str(ir, c->authzid);
        if (!rc)
            rc = sec_append(ir, "", 1);
        if (!rc)
            rc = sec_append_str(ir, c->user);
        if (!rc)
            rc = sec_append(ir, "", 1);
        if (!rc)
            rc = sec_append_str(ir, c->password);
        break;
    case M_EXTERNAL:
        rc = sec_append_str(ir, c->authzid ? c->authzid : "");
        break;
    case M_XOAUTH2:
        rc = sec_append_str(ir, "user=");
        if (!rc)
            rc = sec_append_str(ir, c->user);
        if (!rc)
            rc = sec_append_str(ir, "\001auth=Bearer ");
        if (!rc)
            rc = sec_append_str(ir, c->token);
        if (!rc)
            rc = sec_append_str(ir, "\001\001");
        break;
    case M_OAUTHBEARER: {
        const char *a = c->authzid && *c->authzid ? c->authzid : c->user;
        rc = sec_append_str(ir, "n,");
        if (!rc && a && *a) {
            rc = sec_append_str(ir, "a=");
            if (!rc)
                rc = append_saslname(ir, a);
        }
        if (!rc)
            rc = sec_append_str(ir, ",\001");
        if (!rc && c->host && *c->host) {
            rc = sec_append_str(ir, "host=");
            if (!rc)
                rc = sec_append_str(ir, c->host);
            if (!rc)
                rc = sec_append_str(ir, "\001");
        }
        if (!rc && c->port) {
            char port[24];
            snprintf(port, sizeof port, "port=%u\001", c->port);
            rc = sec_append_str(ir, port);
        }
        if (!rc)
            rc = sec_append_str(ir, "auth=Bearer ");
        if (!rc)
            rc = sec_append_str(ir, c->token);
        if (!rc)
            rc = sec_append_str(ir, "\001\001");
        break;
    }
    case M_SCRAM:
        rc = sec_append(ir, c->gs2.data, c->gs2.len);
        if (!rc)
            rc = sec_append(ir, c->first_bare.data, c->first_bare.len);
        break;
    case M_LOGIN:
    case M_CRAM_MD5:
        return 1;
    }
    return rc;
}

int sasl_client_start(sasl_client *c, ebuf *line)
{
    if (c->state != ST_NEW)
        return ESMTP_ESTATE;
    int rc = 0;
    if (c->m->id == M_SCRAM && (rc = scram_prepare(c)) != 0)
        return c->state == ST_FAILED ? rc : fail(c, rc, "out of memory");
    ebuf ir = {0};
    int has = build_ir(c, &ir);
    if (has < 0) {
        sasl_buf_wipe(&ir);
        return fail(c, has, "out of memory");
    }
    size_t name = strlen(c->m->name);
    size_t enc = (ir.len + 2) / 3 * 4;
    if (enc == 0)
        enc = 1; /* "=" */
    /* "AUTH " name " " response CRLF */
    int send_ir = has == 0 && 5 + name + 1 + enc + 2 <= SASL_MAX_AUTH_LINE;
    /* One reservation up front: line never moves once it holds a secret. */
    rc = ebuf_reserve(line, name + 1 + enc);
    if (!rc)
        rc = ebuf_append(line, c->m->name, name);
    if (!rc && send_ir) {
        rc = ebuf_append(line, " ", 1);
        if (!rc)
            rc = ir.len ? sasl_b64_encode(ir.data, ir.len, line) : ebuf_append(line, "=", 1);
    }
    sasl_buf_wipe(&ir);
    if (rc)
        return fail(c, rc, "out of memory");
    c->ir_pending = has == 0 && !send_ir;
    c->state = ST_STARTED;
    return 0;
}

/* Appends b64(raw) to out and wipes raw. */
static int respond(sasl_client *c, ebuf *raw, ebuf *out)
{
    int rc = raw->len ? sasl_b64_encode(raw->data, raw->len, out) : 0;
    sasl_buf_wipe(raw);
    return rc ? fail(c, rc, "out of memory") : 0;
}

static int cram_md5(sasl_client *c, const ebuf *chal, ebuf *out)
{
    if (chal->len == 0)
        return fail(c, ESMTP_EPROTO, "the CRAM-MD5 challenge is empty");
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    static const unsigned char nokey[1];
    size_t plen = strlen(c->password);
    const void *key = plen ? (const void *)c->password : (const void *)nokey;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "MD5", NULL, key, plen, (const unsigned char *)chal->data,
                   chal->len, mac, sizeof mac, &maclen) ||
        maclen != 16)
        return fail(c, ESMTP_EPROTO, "HMAC-MD5 is not available");
    static const char hex[] = "0123456789abcdef";
    char digest[33];
    for (size_t i = 0; i < 16; i++) {
        digest[2 * i] = hex[mac[i] >> 4];
        digest[2 * i + 1] = hex[mac[i] & 15];
    }
    digest[32] = '\0';
    OPENSSL_cleanse(mac, sizeof mac);
    ebuf raw = {0};
    int rc = sec_append_str(&raw, c->user);
    if (!rc)
        rc = sec_append_str(&raw, " ");
    if (!rc)
        rc = sec_append(&raw, digest, 32);
    OPENSSL_cleanse(digest, sizeof digest);
    if (rc) {
        sasl_buf_wipe(&raw);
        return fail(c, rc, "out of memory");
    }
    return respond(c, &raw, out);
}

/* One HMAC with the mechanism's hash; out holds hlen bytes. */
static int scram_hmac(const mech *m, const unsigned char *key, size_t keylen, const void *data,
                      size_t len, unsigned char *out)
{
    size_t outlen = 0;
    return EVP_Q_mac(NULL, "HMAC", NULL, m->digest, NULL, key, keylen, data, len, out,
                     SCRAM_MAX_HASH, &outlen) &&
                   outlen == m->hlen
               ? 0
               : -1;
}

/* Finds "k=" at *p and returns its value's length (up to ',' or end), or -1. */
static long attr(const char **p, const char *end, char k)
{
    const char *s = *p;
    if (end - s < 2 || s[0] != k || s[1] != '=')
        return -1;
    s += 2;
    const char *e = memchr(s, ',', (size_t)(end - s));
    if (!e)
        e = end;
    *p = s;
    return (long)(e - s);
}

static int scram_server_first(sasl_client *c, const ebuf *msg, ebuf *out)
{
    const mech *m = c->m;
    const char *p = msg->data, *end = msg->data + msg->len;
    if (memchr(p, '\0', msg->len))
        return fail(c, ESMTP_EPROTO, "the SCRAM server-first-message contains a NUL byte");
    if (msg->len >= 2 && p[0] == 'm' && p[1] == '=')
        return fail(c, ESMTP_EPROTO, "the SCRAM server requires an unsupported extension");

    long nlen = attr(&p, end, 'r');
    if (nlen < 0)
        return fail(c, ESMTP_EPROTO, "the SCRAM server-first-message has no nonce (r=)");
    const char *nonce = p;
    size_t cn = strlen(c->nonce);
    if ((size_t)nlen <= cn || memcmp(nonce, c->nonce, cn) != 0)
        return fail(c, ESMTP_EPROTO, "the SCRAM server nonce does not extend the client's");
    if (!valid_nonce(nonce, (size_t)nlen))
        return fail(c, ESMTP_EPROTO, "the SCRAM server nonce has invalid characters");
    p += nlen;

    long slen = -1;
    if (p < end) { /* *p is the ',' that ended r= */
        p++;
        slen = attr(&p, end, 's');
    }
    if (slen < 0)
        return fail(c, ESMTP_EPROTO, "the SCRAM server-first-message has no salt (s=)");
    const char *salt_b64 = p;
    p += slen;

    long ilen = -1;
    if (p < end) {
        p++;
        ilen = attr(&p, end, 'i');
    }
    if (ilen < 0)
        return fail(c, ESMTP_EPROTO, "the SCRAM server-first-message has no iteration count (i=)");
    unsigned long iter = 0;
    int digits = ilen > 0 && p[0] != '0';
    for (long k = 0; k < ilen && digits; k++) {
        if (p[k] < '0' || p[k] > '9')
            digits = 0;
        else if (iter <= c->max_iter) /* max_iter * 10 + 9 cannot wrap */
            iter = iter * 10 + (unsigned long)(p[k] - '0');
    }
    if (!digits)
        return fail(c, ESMTP_EPROTO, "the SCRAM iteration count is invalid");
    if (iter > c->max_iter)
        return fail(c, ESMTP_EPROTO, "the SCRAM iteration count is too large");
    ebuf salt = {0};
    int src = sasl_b64_decode(salt_b64, (size_t)slen, &salt);
    if (src == ESMTP_ENOMEM)
        return fail(c, src, "out of memory");
    if (src || salt.len == 0 || salt.len > INT_MAX) {
        ebuf_free(&salt);
        return fail(c, ESMTP_EPROTO, "the SCRAM salt is not valid base64");
    }
    /* Anything after i= is an extension we may ignore. */

    int rc = 0;
    const char *why = "out of memory";
    unsigned char salted[SCRAM_MAX_HASH], ckey[SCRAM_MAX_HASH], skey[SCRAM_MAX_HASH];
    unsigned char stored[SCRAM_MAX_HASH], csig[SCRAM_MAX_HASH];
    unsigned int stored_len = 0;
    ebuf cbind = {0}, final = {0}, authmsg = {0};
    const EVP_MD *md = EVP_get_digestbyname(m->digest);

    /* client-final-message-without-proof */
    rc = sec_append(&cbind, c->gs2.data, c->gs2.len);
    if (!rc && c->cb)
        rc = sec_append(&cbind, c->cb, c->cb_len);
    if (!rc)
        rc = sec_append_str(&final, "c=");
    if (!rc)
        rc = sec_reserve(&final, (cbind.len + 2) / 3 * 4 + 4 + (size_t)nlen + 4 +
                                     (SCRAM_MAX_HASH + 2) / 3 * 4);
    if (!rc)
        rc = sasl_b64_encode(cbind.data, cbind.len, &final);
    if (!rc)
        rc = sec_append_str(&final, ",r=");
    if (!rc)
        rc = sec_append(&final, nonce, (size_t)nlen);
    /* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
    if (!rc)
        rc = sec_append(&authmsg, c->first_bare.data, c->first_bare.len);
    if (!rc)
        rc = sec_append(&authmsg, ",", 1);
    if (!rc)
        rc = sec_append(&authmsg, msg->data, msg->len);
    if (!rc)
        rc = sec_append(&authmsg, ",", 1);
    if (!rc)
        rc = sec_append(&authmsg, final.data, final.len);

    if (!rc) {
        rc = ESMTP_EPROTO;
        why = "SCRAM's hash functions are not available";
        if (md &&
            PKCS5_PBKDF2_HMAC(c->password, (int)strlen(c->password),
                              (const unsigned char *)salt.data, (int)salt.len, (int)iter, md,
                              (int)m->hlen, salted) == 1 &&
            scram_hmac(m, salted, m->hlen, "Client Key", 10, ckey) == 0 &&
            scram_hmac(m, salted, m->hlen, "Server Key", 10, skey) == 0 &&
            EVP_Digest(ckey, m->hlen, stored, &stored_len, md, NULL) == 1 &&
            stored_len == m->hlen &&
            scram_hmac(m, stored, m->hlen, authmsg.data, authmsg.len, csig) == 0 &&
            scram_hmac(m, skey, m->hlen, authmsg.data, authmsg.len, c->server_sig) == 0)
            rc = 0;
    }
    if (!rc) {
        for (size_t k = 0; k < m->hlen; k++)
            csig[k] ^= ckey[k]; /* ClientProof */
        rc = sec_append_str(&final, ",p=");
        if (!rc)
            rc = sasl_b64_encode(csig, m->hlen, &final);
        why = "out of memory";
    }
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(ckey, sizeof ckey);
    OPENSSL_cleanse(skey, sizeof skey);
    OPENSSL_cleanse(stored, sizeof stored);
    OPENSSL_cleanse(csig, sizeof csig);
    ebuf_free(&salt);
    sasl_buf_wipe(&cbind);
    sasl_buf_wipe(&authmsg);
    if (rc) {
        sasl_buf_wipe(&final);
        return fail(c, rc, why);
    }
    c->scram_stage = 1;
    return respond(c, &final, out);
}

/* Checks a server-final-message ("v=..." or "e=..."). */
static int scram_server_final(sasl_client *c, const ebuf *msg)
{
    const char *p = msg->data, *end = msg->data + msg->len;
    long n = attr(&p, end, 'e');
    if (n >= 0) {
        keep_server_error(c, p, (size_t)n);
        return fail(c, ESMTP_EPROTO, "the SCRAM server reported an error (e=)");
    }
    n = attr(&p, end, 'v');
    if (n < 0)
        return fail(c, ESMTP_EPROTO, "the SCRAM server-final-message has no signature (v=)");
    ebuf sig = {0};
    int rc = sasl_b64_decode(p, (size_t)n, &sig);
    if (rc == ESMTP_ENOMEM)
        return fail(c, rc, "out of memory");
    int ok = rc == 0 && sig.len == c->m->hlen &&
             CRYPTO_memcmp(sig.data, c->server_sig, c->m->hlen) == 0;
    ebuf_free(&sig);
    if (!ok)
        return fail(c, ESMTP_EPROTO, "the SCRAM server signature is wrong: the server "
                                     "does not know the password");
    c->scram_stage = 2;
    return 0;
}

int sasl_client_step(sasl_client *c, const char *challenge, size_t len, ebuf *response)
{
    if (c->state != ST_STARTED)
        return ESMTP_ESTATE;
    if (c->ir_pending) {
        /* The server's "go ahead" for the initial response left out of the
         * AUTH line; its text does not matter (some send "334 PLAIN supported"). */
        ebuf ir = {0};
        int rc = build_ir(c, &ir);
        if (rc) {
            sasl_buf_wipe(&ir);
            return fail(c, rc, "out of memory");
        }
        c->ir_pending = 0;
        return respond(c, &ir, response);
    }

    ebuf chal = {0};
    int rc = sasl_b64_decode(challenge, len, &chal);
    if (rc == ESMTP_ENOMEM)
        return fail(c, rc, "out of memory");
    if (rc && !(c->m->flags & F_TOKEN)) {
        ebuf_free(&chal);
        return fail(c, ESMTP_EPROTO, "the server's challenge is not valid base64");
    }

    switch (c->m->id) {
    case M_LOGIN:
        if (c->steps > 1) {
            rc = fail(c, ESMTP_EPROTO, "the server sent a third LOGIN challenge");
        } else {
            /* The text varies ("Username:", "User Name\0", ...): go by order. */
            const char *v = c->steps == 0 ? c->user : c->password;
            rc = sasl_b64_encode(v, strlen(v), response);
            if (rc)
                rc = fail(c, rc, "out of memory");
        }
        break;
    case M_CRAM_MD5:
        rc = c->steps ? fail(c, ESMTP_EPROTO, "the server sent a second CRAM-MD5 challenge")
                      : cram_md5(c, &chal, response);
        break;
    case M_XOAUTH2:
    case M_OAUTHBEARER:
        if (c->oauth_error) {
            rc = fail(c, ESMTP_EPROTO, "the server sent another challenge after its OAuth error");
            break;
        }
        /* The server's error report (JSON): answer with the dummy response
         * so that it sends its final reply. */
        if (rc == 0)
            keep_server_error(c, chal.data, chal.len);
        else
            keep_server_error(c, challenge, len);
        c->oauth_error = 1;
        rc = c->m->id == M_OAUTHBEARER ? sasl_b64_encode("\001", 1, response) : 0;
        if (rc)
            rc = fail(c, rc, "out of memory");
        break;
    case M_SCRAM:
        if (c->scram_stage == 0)
            rc = scram_server_first(c, &chal, response);
        else if (c->scram_stage == 1)
            rc = scram_server_final(c, &chal); /* then an empty response */
        else
            rc = fail(c, ESMTP_EPROTO, "the server sent a challenge after SCRAM completed");
        break;
    case M_PLAIN:
    case M_EXTERNAL:
        rc = fail(c, ESMTP_EPROTO, "the server sent a challenge after the initial response");
        break;
    }
    ebuf_free(&chal);
    if (rc == 0)
        c->steps++;
    return rc;
}

int sasl_client_finish(sasl_client *c, const char *data, size_t len)
{
    if (c->state != ST_STARTED)
        return ESMTP_ESTATE;
    if (c->m->id == M_SCRAM) {
        if (c->ir_pending || c->scram_stage == 0)
            return fail(c, ESMTP_EPROTO,
                        "the server accepted SCRAM authentication before the client's proof");
        if (c->scram_stage == 1) {
            if (!data || !len)
                return fail(c, ESMTP_EPROTO, "the SCRAM server did not send its signature");
            ebuf msg = {0};
            int rc = sasl_b64_decode(data, len, &msg);
            if (rc == 0)
                rc = scram_server_final(c, &msg);
            else if (rc == ESMTP_ENOMEM)
                rc = fail(c, rc, "out of memory");
            else
                rc = fail(c, ESMTP_EPROTO, "the SCRAM server did not send a valid signature");
            ebuf_free(&msg);
            if (rc)
                return rc;
        }
    }
    c->state = ST_DONE;
    return 0;
}

/* --------------------------------------------------------------- choosing */

/* Is name among the space-separated words of list? */
static int offered_has(const char *list, const char *name)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *w = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (p > w && name_eq(w, (size_t)(p - w), name))
            return 1;
    }
    return 0;
}

static int acceptable(const mech *m, const char *offered, const sasl_creds *cr, int encrypted,
                      int allow_plaintext)
{
    if (!offered_has(offered, m->name) || !creds_fit(m, cr))
        return 0;
    if ((m->flags & F_CB) && !encrypted)
        return 0;
    if (!encrypted && !allow_plaintext && !(m->flags & F_CLEAR_OK))
        return 0;
    return 1;
}

const char *sasl_choose(const char *offered, const char *wanted, const sasl_creds *creds,
                        int encrypted, int allow_plaintext)
{
    static const sasl_creds none;
    if (!offered)
        return NULL;
    if (!creds)
        creds = &none;
    if (!wanted) {
        for (size_t i = 0; i < NMECHS; i++)
            if ((mechs[i].flags & F_DEFAULT) &&
                acceptable(&mechs[i], offered, creds, encrypted, allow_plaintext))
                return mechs[i].name;
        return NULL;
    }
    const char *p = wanted;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *w = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > w && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        const mech *m = e > w ? find_mech(w, (size_t)(e - w)) : NULL;
        if (m && acceptable(m, offered, creds, encrypted, allow_plaintext))
            return m->name;
    }
    return NULL;
}
