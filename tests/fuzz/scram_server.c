/* SPDX-License-Identifier: MIT */
#include "scram_server.h"

#include <stdio.h>
#include <string.h>

#include <openssl/hmac.h>

#include "fuzz_common.h"

static void hmac(const scram_server *s, const unsigned char *key, const void *msg, size_t n,
                 unsigned char *out)
{
    unsigned int len = 0;
    FZ_CHECK(HMAC(s->md, key, (int)s->hlen, msg, n, out, &len) && len == s->hlen);
}

/* The value of attribute k ("k=value") at p, up to ',' or end. */
static const char *attr(const char *p, const char *end, char k, size_t *len)
{
    if (end - p < 2 || p[0] != k || p[1] != '=')
        return NULL;
    const char *e = memchr(p + 2, ',', (size_t)(end - p - 2));
    *len = (size_t)((e ? e : end) - p - 2);
    return p + 2;
}

scram_verdict scram_server_first(scram_server *s, const char *mech, const char *password,
                                 const void *msg, size_t len, const char *nonce_part,
                                 const unsigned char *salt, size_t saltlen, unsigned int iter,
                                 ebuf *out)
{
    s->md = strstr(mech, "SHA-256") ? EVP_sha256() : EVP_sha1();
    s->hlen = (unsigned int)EVP_MD_get_size(s->md);
    s->plus = strstr(mech, "-PLUS") != NULL;
    ebuf_clear(out);
    /* gs2-header "n,," / "n,a=...," / "p=tls-exporter,...", then the bare
     * message "n=user,r=nonce" */
    const char *m = msg, *end = m + len;
    const char *c1 = memchr(m, ',', len);
    const char *c2 = c1 ? memchr(c1 + 1, ',', (size_t)(end - c1 - 1)) : NULL;
    const char *want = s->plus ? "p=tls-exporter," : "n,";
    if (!c2 || strncmp(m, want, strlen(want)) != 0)
        return SCRAM_MALFORMED;
    const char *bare = c2 + 1;
    size_t n;
    const char *user = attr(bare, end, 'n', &n);
    if (!user || user + n == end)
        return SCRAM_MALFORMED;
    const char *cnonce = attr(user + n + 1, end, 'r', &n);
    if (!cnonce || n == 0)
        return SCRAM_MALFORMED;
    FZ_CHECK(ebuf_append(&s->gs2, m, (size_t)(bare - m)) == 0 &&
             ebuf_append(&s->bare, bare, (size_t)(end - bare)) == 0 &&
             ebuf_append(&s->nonce, cnonce, n) == 0 &&
             ebuf_append_str(&s->nonce, nonce_part) == 0);

    char istr[16];
    snprintf(istr, sizeof istr, ",i=%u", iter);
    FZ_CHECK(ebuf_append_str(out, "r=") == 0 && ebuf_append(out, s->nonce.data, s->nonce.len) == 0 &&
             ebuf_append_str(out, ",s=") == 0);
    fz_b64_encode(salt, saltlen, out);
    FZ_CHECK(ebuf_append_str(out, istr) == 0 && ebuf_append(&s->first, out->data, out->len) == 0);
    FZ_CHECK(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, (int)iter,
                               s->md, (int)s->hlen, s->salted) == 1);
    return SCRAM_OK;
}

scram_verdict scram_server_final(scram_server *s, const void *msg, size_t len,
                                 const unsigned char *cb, size_t cblen)
{
    /* The client-final-message without its proof, as the server sees it:
     * c=base64(gs2-header + binding),r=nonce */
    ebuf cbind = {0}, want = {0}, auth = {0};
    FZ_CHECK(ebuf_append(&cbind, s->gs2.data, s->gs2.len) == 0 &&
             (!s->plus || ebuf_append(&cbind, cb, cblen) == 0) &&
             ebuf_append_str(&want, "c=") == 0);
    fz_b64_encode(cbind.data, cbind.len, &want);
    size_t want_c = want.len;
    FZ_CHECK(ebuf_append_str(&want, ",r=") == 0 &&
             ebuf_append(&want, s->nonce.data, s->nonce.len) == 0);
    FZ_CHECK(ebuf_append(&auth, s->bare.data, s->bare.len) == 0 && ebuf_append(&auth, ",", 1) == 0 &&
             ebuf_append(&auth, s->first.data, s->first.len) == 0 &&
             ebuf_append(&auth, ",", 1) == 0 && ebuf_append(&auth, want.data, want.len) == 0);
    unsigned char skey[EVP_MAX_MD_SIZE];
    hmac(s, s->salted, "Server Key", 10, skey);
    hmac(s, skey, auth.data, auth.len, s->sig);

    const char *m = msg, *end = m + len, *p = m;
    size_t n;
    const char *c = attr(p, end, 'c', &n);
    scram_verdict v = SCRAM_OK;
    if (!c)
        v = SCRAM_MALFORMED;
    else if (n != want_c - 2 || memcmp(c, want.data + 2, n) != 0)
        v = SCRAM_BAD_BINDING;
    const char *r = v == SCRAM_OK && c + n < end ? attr(c + n + 1, end, 'r', &n) : NULL;
    if (v == SCRAM_OK && !r)
        v = SCRAM_MALFORMED;
    else if (v == SCRAM_OK && (n != s->nonce.len || memcmp(r, s->nonce.data, n) != 0))
        v = SCRAM_BAD_NONCE;
    /* no extensions: the proof comes next, and last */
    const char *proof = v == SCRAM_OK && r + n < end ? attr(r + n + 1, end, 'p', &n) : NULL;
    unsigned char got[EVP_MAX_MD_SIZE * 2];
    long glen = -1;
    if (proof && n <= 2 * EVP_MAX_MD_SIZE && proof + n == end) {
        /* strict: base64 that OpenSSL writes back the same */
        glen = fz_b64_decode(proof, n, got);
        ebuf again = {0};
        if (glen >= 0)
            fz_b64_encode(got, (size_t)glen, &again);
        if (again.len != n || memcmp(again.data, proof, n) != 0)
            glen = -1;
        ebuf_free(&again);
    }
    if (v == SCRAM_OK && glen != (long)s->hlen)
        v = SCRAM_MALFORMED;
    if (v == SCRAM_OK) {
        /* the proof is ClientKey XOR HMAC(StoredKey, AuthMessage) */
        unsigned char ckey[EVP_MAX_MD_SIZE], stored[EVP_MAX_MD_SIZE], csig[EVP_MAX_MD_SIZE];
        unsigned int sn = 0;
        hmac(s, s->salted, "Client Key", 10, ckey);
        FZ_CHECK(EVP_Digest(ckey, s->hlen, stored, &sn, s->md, NULL) == 1 && sn == s->hlen);
        hmac(s, stored, auth.data, auth.len, csig);
        for (unsigned int i = 0; i < s->hlen; i++)
            if ((got[i] ^ csig[i]) != ckey[i])
                v = SCRAM_BAD_PROOF;
    }
    ebuf_free(&cbind);
    ebuf_free(&want);
    ebuf_free(&auth);
    return v;
}

void scram_server_verifier(const scram_server *s, ebuf *out)
{
    FZ_CHECK(ebuf_append_str(out, "v=") == 0);
    fz_b64_encode(s->sig, s->hlen, out);
}

void scram_server_free(scram_server *s)
{
    ebuf_free(&s->gs2);
    ebuf_free(&s->bare);
    ebuf_free(&s->first);
    ebuf_free(&s->nonce);
}
