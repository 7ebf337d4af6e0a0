/* Fuzz target: the SASL client mechanisms (lib/sasl.c) against a server
 * whose challenges the input makes. Every call must return one of its
 * documented codes, an error must be final, every response must be strict
 * base64, and no response may carry a secret the mechanism must not send.
 * For SCRAM the target can also play a correct server (scram_server.c:
 * OpenSSL's PBKDF2 and HMAC), and then the exchange must succeed.
 *
 * Input: a 28-byte header, then challenges separated by '\n'. Header:
 *   0  the mechanism (index into mechs[])
 *   1  flags (F_* below)
 *   2  with F_NOMEM, which allocation fails (1..256)
 *   3  the correct server's iteration count (1..64)
 *   4  its nonce part (8 bytes), 12 its salt (16 bytes)
 * A challenge's first byte says how to send the rest: bit 0 base64-encode
 * it here, bit 1 as the text of the final 235 instead of a 334.
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "alloc.h"
#include "buf.h"
#include "fuzz_common.h"
#include "sasl.h"
#include "scram_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const mechs[] = {
    "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
    "XOAUTH2", "OAUTHBEARER", "EXTERNAL",
};
#define NMECHS (sizeof mechs / sizeof mechs[0])

enum {
    F_AUTHZID = 1 << 0,  /* an authorisation identity with ',' and '=' */
    F_LONG_USER = 1 << 1, /* too long for the AUTH line: the IR waits for a 334 */
    F_SERVER = 1 << 2,   /* SCRAM: a correct server first */
    F_NOMEM = 1 << 3,    /* one allocation fails */
    F_FINAL_235 = 1 << 4, /* the correct server's signature comes with the 235 */
    F_TAMPER = 1 << 5,   /* ... and is wrong */
    F_HOSTPORT = 1 << 6  /* OAUTHBEARER host= and port= */
};

#define HEADER 28
#define MAX_ITER 64
/* Secrets with a ',' and a space, which no SCRAM nonce can hold: a
 * response that shows one did not get it from the server. */
static const char password[] = "pen,cil secret";
static const char token[] = "ya29.tok,en secret";
static const char client_nonce[] = "fuzzClientNonce";
static const unsigned char cb_data[32] = "tls-exporter channel binding 32";

typedef struct exchange {
    sasl_client *c;
    const char *mech;
    const char *user;
    const char *authzid;
    uint64_t fail_in; /* the allocation to fail, counted in lib/ calls only */
    int nomem;       /* the last lib/ call had an allocation fail */
    int nomem_ever;  /* some call had */
    int failed;      /* a call failed: later ones must say ESMTP_ESTATE */
    int finished;
    unsigned steps;  /* 334s answered */
    int ir_pending;  /* the initial response was not in the AUTH line */
} exchange;

static int is_scram(const char *mech)
{
    return strncmp(mech, "SCRAM-", 6) == 0;
}

static int contains(const ebuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len < n)
        return 0;
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->data + i, s, n) == 0)
            return 1;
    return 0;
}

/* Decodes a response strictly; it must be base64 of the alphabet only. */
static void decode(const char *s, size_t n, ebuf *raw)
{
    for (size_t i = 0; i < n; i++)
        FZ_CHECK(s[i] != '\r' && s[i] != '\n');
    FZ_CHECK(sasl_b64_decode(s, n, raw) == 0);
}

/* The failing allocation is counted only inside calls into lib/, so that
 * the target's own buffers (ebuf allocates through lib/alloc.c) never fail. */
static void lib_begin(exchange *x)
{
    if (x->fail_in)
        mem_fail_at(x->fail_in);
}

static void lib_end(exchange *x)
{
    x->nomem = 0;
    if (!x->fail_in)
        return;
    uint64_t used = mem_allocations();
    mem_fail_at(0);
    if (used >= x->fail_in) {
        x->fail_in = 0;
        x->nomem = x->nomem_ever = 1;
    } else {
        x->fail_in -= used;
    }
}

/* A call's result: a documented code, ENOMEM only when an allocation in it
 * failed, and an error that is final. */
static void check_rc(exchange *x, int rc, int allowed_proto)
{
    if (x->failed || x->finished) {
        FZ_CHECK(rc == ESMTP_ESTATE);
        return;
    }
    FZ_CHECK(rc == 0 || (rc == ESMTP_EPROTO && allowed_proto) || (rc == ESMTP_ENOMEM && x->nomem));
    if (rc) {
        const char *why = sasl_client_error(x->c);
        FZ_CHECK(why && !strstr(why, password) && !strstr(why, token));
        x->failed = 1;
    }
    const char *se = sasl_client_server_error(x->c);
    if (se) {
        size_t n = strlen(se);
        FZ_CHECK(n <= 1024);
        for (size_t i = 0; i < n; i++)
            FZ_CHECK((unsigned char)se[i] >= 0x20 && se[i] != 0x7f);
    }
}

/* What the initial response must hold (exactly, where it is fixed). */
static void check_ir(const exchange *x, const ebuf *raw)
{
    char want[1024];
    int n = -1;
    if (!strcmp(x->mech, "PLAIN"))
        n = snprintf(want, sizeof want, "%s%c%s%c%s", x->authzid ? x->authzid : "", 0, x->user,
                     0, password);
    else if (!strcmp(x->mech, "XOAUTH2"))
        n = snprintf(want, sizeof want, "user=%s\001auth=Bearer %s\001\001", x->user, token);
    else if (!strcmp(x->mech, "EXTERNAL"))
        n = snprintf(want, sizeof want, "%s", x->authzid ? x->authzid : "");
    if (n >= 0)
        FZ_CHECK(raw->len == (size_t)n && (n == 0 || memcmp(raw->data, want, (size_t)n) == 0));
    else if (!strcmp(x->mech, "OAUTHBEARER"))
        FZ_CHECK(raw->len >= 2 && memcmp(raw->data, "n,", 2) == 0 && contains(raw, token));
    else if (is_scram(x->mech))
        FZ_CHECK(!contains(raw, password) && contains(raw, client_nonce));
}

/* Checks a successful step's response (raw: decoded). */
static void check_response(exchange *x, const ebuf *raw, size_t sent)
{
    if (x->ir_pending) {
        check_ir(x, raw);
        x->ir_pending = 0;
        return;
    }
    const char *m = x->mech;
    if (!strcmp(m, "LOGIN")) {
        const char *want = x->steps == 0 ? x->user : password;
        FZ_CHECK(raw->len == strlen(want) && memcmp(raw->data, want, raw->len) == 0);
    } else if (!strcmp(m, "XOAUTH2")) {
        FZ_CHECK(sent == 0);
    } else if (!strcmp(m, "OAUTHBEARER")) {
        FZ_CHECK(raw->len == 1 && raw->data[0] == 1);
    } else {
        /* CRAM-MD5 and SCRAM send proofs, never the password itself */
        FZ_CHECK(!contains(raw, password) && !contains(raw, token));
        FZ_CHECK(strcmp(m, "PLAIN") && strcmp(m, "EXTERNAL"));
    }
}

/* One 334: returns 0 and the decoded response in raw, or the error. */
static int step(exchange *x, const char *text, size_t n, ebuf *raw)
{
    ebuf resp = {0};
    lib_begin(x);
    int rc = sasl_client_step(x->c, text, n, &resp);
    lib_end(x);
    check_rc(x, rc, 1);
    if (rc == 0) {
        decode(ebuf_str(&resp), resp.len, raw);
        check_response(x, raw, resp.len);
        x->steps++;
    } else {
        /* nothing half-made is left for the caller to send */
        FZ_CHECK(resp.len == 0);
    }
    sasl_buf_wipe(&resp);
    return rc;
}

static int finish(exchange *x, const char *text, size_t n)
{
    lib_begin(x);
    int rc = sasl_client_finish(x->c, text, n);
    lib_end(x);
    check_rc(x, rc, is_scram(x->mech));
    if (rc == 0)
        x->finished = 1;
    return rc;
}

/* ------------------------------------------------ the correct SCRAM server */

/* Plays a server that knows the password (tests/fuzz/scram_server.c), from
 * the client's first message (in first, decoded) to its signature, which
 * F_TAMPER makes wrong; the client must take it all, or refuse exactly the
 * wrong signature, unless an allocation was made to fail. */
static void correct_server(exchange *x, const ebuf *first, const uint8_t *h, unsigned flags)
{
    char part[9]; /* the server's part of the nonce: printable, no ',' */
    for (int i = 0; i < 8; i++)
        part[i] = (char)(0x2d + h[4 + i] % (0x7e - 0x2d + 1));
    part[8] = '\0';
    scram_server s = {0};
    ebuf sfirst = {0}, chal = {0}, final = {0};
    FZ_CHECK(scram_server_first(&s, x->mech, password, first->data, first->len, part, h + 12, 16,
                                1 + h[3] % MAX_ITER, &sfirst) == SCRAM_OK);
    fz_b64_encode(sfirst.data, sfirst.len, &chal);
    if (step(x, chal.data, chal.len, &final) == 0) {
        FZ_CHECK(scram_server_final(&s, final.data, final.len, cb_data, sizeof cb_data) ==
                 SCRAM_OK);
        if (flags & F_TAMPER)
            s.sig[h[4] % s.hlen] ^= (unsigned char)(1u << (h[5] % 8));
        ebuf v = {0}, v64 = {0};
        scram_server_verifier(&s, &v);
        fz_b64_encode(v.data, v.len, &v64);
        int rc;
        if (flags & F_FINAL_235) {
            rc = finish(x, v64.data, v64.len);
        } else {
            ebuf empty = {0};
            rc = step(x, v64.data, v64.len, &empty);
            FZ_CHECK(rc || empty.len == 0); /* checked, then an empty line */
            ebuf_free(&empty);
            if (rc == 0)
                rc = finish(x, NULL, 0);
        }
        FZ_CHECK(rc == ((flags & F_TAMPER) ? ESMTP_EPROTO : 0) || x->nomem_ever);
        ebuf_free(&v);
        ebuf_free(&v64);
    } else {
        FZ_CHECK(x->nomem_ever);
    }
    ebuf_free(&sfirst);
    ebuf_free(&chal);
    ebuf_free(&final);
    scram_server_free(&s);
}

/* ------------------------------------------------------------------- main */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    const uint8_t *h = data;
    unsigned flags = h[1];
    char long_user[401];
    memset(long_user, 'u', sizeof long_user - 1);
    long_user[sizeof long_user - 1] = '\0';

    exchange x = {0};
    x.mech = mechs[h[0] % NMECHS];
    x.user = (flags & F_LONG_USER) ? long_user : "us=e,r";
    x.authzid = (flags & F_AUTHZID) ? "ad,m=in" : NULL;
    sasl_creds cr = {.user = x.user, .password = password, .authzid = x.authzid,
                     .token = token, .cb_data = cb_data, .cb_len = sizeof cb_data};
    if (flags & F_HOSTPORT) {
        cr.host = "mx.example.org";
        cr.port = 587;
    }
    if (flags & F_NOMEM)
        x.fail_in = 1 + (uint64_t)h[2];

    lib_begin(&x);
    int rc = sasl_client_new(&x.c, x.mech, &cr);
    lib_end(&x);
    FZ_CHECK(rc == 0 || (rc == ESMTP_ENOMEM && x.nomem));
    if (rc) {
        FZ_CHECK(!x.c);
        return 0;
    }
    if (is_scram(x.mech)) {
        lib_begin(&x);
        rc = sasl_client_set_nonce(x.c, client_nonce);
        lib_end(&x);
        FZ_CHECK(rc == 0 || (rc == ESMTP_ENOMEM && x.nomem));
        FZ_CHECK(sasl_client_set_max_iterations(x.c, MAX_ITER) == 0);
        if (rc) {
            sasl_client_free(x.c);
            return 0;
        }
    }

    ebuf line = {0}, first = {0};
    lib_begin(&x);
    rc = sasl_client_start(x.c, &line);
    lib_end(&x);
    check_rc(&x, rc, 0);
    if (rc == 0) {
        /* "MECH", or "MECH " and the initial response, within the line limit */
        size_t mn = strlen(x.mech);
        FZ_CHECK(line.len >= mn && memcmp(line.data, x.mech, mn) == 0);
        int has_ir = strcmp(x.mech, "LOGIN") && strcmp(x.mech, "CRAM-MD5");
        if (line.len > mn) {
            FZ_CHECK(has_ir && line.data[mn] == ' ' && 5 + line.len + 2 <= SASL_MAX_AUTH_LINE);
            if (strcmp(line.data + mn + 1, "=") != 0)
                decode(line.data + mn + 1, line.len - mn - 1, &first);
            check_ir(&x, &first);
        } else {
            x.ir_pending = has_ir;
        }
        if ((flags & F_SERVER) && is_scram(x.mech)) {
            int ok = 1;
            if (x.ir_pending)
                ok = step(&x, "", 0, &first) == 0;
            if (ok)
                correct_server(&x, &first, h, flags);
            else
                FZ_CHECK(x.nomem_ever);
        }
    }
    sasl_buf_wipe(&line);
    sasl_buf_wipe(&first);

    /* then whatever challenges the input holds */
    const uint8_t *p = data + HEADER, *end = data + size;
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *e = nl ? nl : end;
        if (e > p) {
            unsigned how = p[0];
            ebuf text = {0}, raw = {0};
            if (how & 1)
                fz_b64_encode(p + 1, (size_t)(e - p - 1), &text);
            else
                FZ_CHECK(ebuf_append(&text, p + 1, (size_t)(e - p - 1)) == 0);
            if (how & 2)
                finish(&x, ebuf_str(&text), text.len);
            else
                step(&x, ebuf_str(&text), text.len, &raw);
            ebuf_free(&text);
            sasl_buf_wipe(&raw);
        }
        p = nl ? nl + 1 : end;
    }
    sasl_client_free(x.c);
    return 0;
}
