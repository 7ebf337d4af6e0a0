/* Unit tests of the SASL client mechanisms, with the RFCs' test vectors.
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

#include "sasl.h"
#include "run_suite.h"

/* ---------------------------------------------------------------- helpers */

/* base64 of raw, as a string the caller frees. */
static char *b64(const void *raw, size_t n)
{
    ebuf b = {0};
    ck_assert_int_eq(sasl_b64_encode(raw, n, &b), 0);
    return b.data;
}

/* Asserts that the base64 text in b decodes to exactly raw[0..n). */
static void assert_decodes_to(const ebuf *b, const void *raw, size_t n)
{
    ebuf d = {0};
    ck_assert_int_eq(sasl_b64_decode(b->data ? b->data : "", b->len, &d), 0);
    ck_assert_uint_eq(d.len, n);
    ck_assert(memcmp(d.data, raw, n) == 0);
    ebuf_free(&d);
}

/* Feeds raw as a base64 challenge; returns step's result, response in *out. */
static int step_raw(sasl_client *c, const void *raw, size_t n, ebuf *out)
{
    char *t = b64(raw, n);
    ebuf_clear(out);
    int rc = sasl_client_step(c, t, strlen(t), out);
    free(t);
    return rc;
}

static int step_text(sasl_client *c, const char *text, ebuf *out)
{
    ebuf_clear(out);
    return sasl_client_step(c, text, strlen(text), out);
}

static int finish_text(sasl_client *c, const char *text)
{
    return sasl_client_finish(c, text, text ? strlen(text) : 0);
}

static sasl_client *client(const char *mech, const sasl_creds *cr)
{
    sasl_client *c = NULL;
    ck_assert_int_eq(sasl_client_new(&c, mech, cr), 0);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void assert_start(sasl_client *c, const char *want)
{
    ebuf line = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ck_assert_str_eq(ebuf_str(&line), want);
    ebuf_free(&line);
}

static const sasl_creds pencil = {.user = "user", .password = "pencil"};

/* ----------------------------------------------------------------- base64 */

START_TEST(b64_rfc4648_vectors)
{
    static const char *const raw[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                      "Zm9vYmFy"};
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        ebuf e = {0}, d = {0};
        ck_assert_int_eq(sasl_b64_encode(raw[i], strlen(raw[i]), &e), 0);
        ck_assert_str_eq(ebuf_str(&e), enc[i]);
        ck_assert_int_eq(sasl_b64_decode(enc[i], strlen(enc[i]), &d), 0);
        ck_assert_str_eq(ebuf_str(&d), raw[i]);
        ebuf_free(&e);
        ebuf_free(&d);
    }
}
END_TEST

START_TEST(b64_round_trip_binary)
{
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)(255 - i);
    for (size_t n = 0; n <= sizeof all; n++) {
        ebuf e = {0}, d = {0};
        ck_assert_int_eq(sasl_b64_encode(all, n, &e), 0);
        ck_assert_uint_eq(e.len, (n + 2) / 3 * 4);
        ck_assert_int_eq(sasl_b64_decode(e.data, e.len, &d), 0);
        ck_assert_uint_eq(d.len, n);
        ck_assert(n == 0 || memcmp(d.data, all, n) == 0);
        ebuf_free(&e);
        ebuf_free(&d);
    }
    /* Both append. */
    ebuf b = {0};
    ebuf_append_str(&b, "x:");
    ck_assert_int_eq(sasl_b64_encode("foo", 3, &b), 0);
    ck_assert_int_eq(sasl_b64_decode("YmFy", 4, &b), 0);
    ck_assert_str_eq(ebuf_str(&b), "x:Zm9vbar");
    ebuf_free(&b);
}
END_TEST

START_TEST(b64_strict_rejects)
{
    static const char *const bad[] = {
        "Zg=",      /* length */
        "Zg",       "Zm9vY",  "=",        "Z===",     "====",  /* padding */
        "Zg==Zm9v", /* padding in the middle */
        "Z=g=",     "Zm=v",   "Zh==",     "Zm9=",              /* non-zero unused bits */
        " Zg=",     "Zg==\r\n", "Zm9v\n", "Zm9v ",  "Zm-v",  "Zm_v", "Zm9\x80",
        "Zm\0v",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ebuf d = {0};
        ebuf_append_str(&d, "keep");
        size_t n = strlen(bad[i]);
        if (i == sizeof bad / sizeof bad[0] - 1)
            n = 4; /* the embedded NUL */
        ck_assert_msg(sasl_b64_decode(bad[i], n, &d) == ESMTP_EPROTO, "accepted #%zu", i);
        ck_assert_str_eq(ebuf_str(&d), "keep");
        ck_assert_uint_eq(d.len, 4);
        ebuf_free(&d);
    }
}
END_TEST

/* ------------------------------------------------------------------ PLAIN */

START_TEST(plain_without_authzid)
{
    sasl_client *c = client("PLAIN", &pencil);
    ck_assert_str_eq(sasl_client_mech(c), "PLAIN");
    assert_start(c, "PLAIN AHVzZXIAcGVuY2ls");
    ck_assert_int_eq(finish_text(c, NULL), 0);
    sasl_client_free(c);
}
END_TEST

START_TEST(plain_with_authzid)
{
    sasl_creds cr = pencil;
    cr.authzid = "admin";
    sasl_client *c = client("plain", &cr); /* any case */
    ck_assert_str_eq(sasl_client_mech(c), "PLAIN");
    assert_start(c, "PLAIN YWRtaW4AdXNlcgBwZW5jaWw=");
    /* No challenge is expected after the initial response. */
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_EPROTO);
    ck_assert_ptr_nonnull(sasl_client_error(c));
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_ESTATE);
    ck_assert_int_eq(finish_text(c, NULL), ESMTP_ESTATE);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(long_initial_response_waits_for_334)
{
    char pw[600];
    memset(pw, 'p', sizeof pw - 1);
    pw[sizeof pw - 1] = '\0';
    sasl_creds cr = {.user = "user", .password = pw};
    sasl_client *c = client("PLAIN", &cr);
    assert_start(c, "PLAIN");
    ebuf r = {0};
    /* Whatever the go-ahead says, even not base64 (Exchange: "PLAIN supported"). */
    ck_assert_int_eq(step_text(c, "PLAIN supported", &r), 0);
    char raw[620];
    size_t n = (size_t)snprintf(raw, sizeof raw, "%cuser%c%s", 0, 0, pw);
    assert_decodes_to(&r, raw, n);
    ck_assert_int_eq(finish_text(c, NULL), 0);
    sasl_buf_wipe(&r);
    ck_assert_ptr_null(r.data);
    sasl_client_free(c);

    /* The longest line that still carries it: "AUTH PLAIN " + b64 + CRLF = 512. */
    char pw2[400];
    size_t len = (512 - 13) / 4 * 3 - 6; /* raw = "\0user\0" + password */
    memset(pw2, 'q', len);
    pw2[len] = '\0';
    cr.password = pw2;
    c = client("PLAIN", &cr);
    ebuf line = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ck_assert_uint_eq(5 + line.len + 2, 5 + 6 + (len + 6 + 2) / 3 * 4 + 2);
    ck_assert_uint_le(5 + line.len + 2, 512);
    ck_assert_ptr_nonnull(strchr(line.data, ' '));
    ebuf_free(&line);
    sasl_client_free(c);
}
END_TEST

/* ------------------------------------------------------------------ LOGIN */

START_TEST(login_standard)
{
    sasl_client *c = client("LOGIN", &pencil);
    assert_start(c, "LOGIN");
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "VXNlcm5hbWU6", &r), 0); /* "Username:" */
    ck_assert_str_eq(ebuf_str(&r), "dXNlcg==");
    ck_assert_int_eq(step_text(c, "UGFzc3dvcmQ6", &r), 0); /* "Password:" */
    ck_assert_str_eq(ebuf_str(&r), "cGVuY2ls");
    ck_assert_int_eq(step_text(c, "UGFzc3dvcmQ6", &r), ESMTP_EPROTO);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(login_odd_challenges)
{
    /* aiosmtpd: "User Name\0", "Password\0"; others send anything: order counts. */
    sasl_client *c = client("LOGIN", &pencil);
    assert_start(c, "LOGIN");
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "VXNlciBOYW1lAA==", &r), 0);
    ck_assert_str_eq(ebuf_str(&r), "dXNlcg==");
    ck_assert_int_eq(step_text(c, "UGFzc3dvcmQA", &r), 0);
    ck_assert_str_eq(ebuf_str(&r), "cGVuY2ls");
    ck_assert_int_eq(finish_text(c, "2.7.0 Authentication successful"), 0);
    sasl_client_free(c);

    c = client("LOGIN", &pencil);
    assert_start(c, "LOGIN");
    ck_assert_int_eq(step_text(c, "", &r), 0);
    ck_assert_str_eq(ebuf_str(&r), "dXNlcg==");
    ck_assert_int_eq(step_raw(c, "Passwort?", 9, &r), 0);
    ck_assert_str_eq(ebuf_str(&r), "cGVuY2ls");
    sasl_client_free(c);

    /* A challenge that is not base64 is refused. */
    c = client("LOGIN", &pencil);
    assert_start(c, "LOGIN");
    ebuf_clear(&r);
    ck_assert_int_eq(step_text(c, "Username:", &r), ESMTP_EPROTO);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_str_eq(sasl_client_error(c), "the server's challenge is not valid base64");
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

/* --------------------------------------------------------------- CRAM-MD5 */

START_TEST(cram_md5_rfc2195)
{
    sasl_creds cr = {.user = "tim", .password = "tanstaaftanstaaf"};
    sasl_client *c = client("CRAM-MD5", &cr);
    assert_start(c, "CRAM-MD5");
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+", &r), 0);
    ck_assert_str_eq(ebuf_str(&r), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
    assert_decodes_to(&r, "tim b913a602c7eda7a495b4e6e7334d3890", 36);
    /* One challenge only. */
    ck_assert_int_eq(step_text(c, "PDE+", &r), ESMTP_EPROTO);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(cram_md5_edge_cases)
{
    sasl_creds cr = {.user = "u", .password = ""};
    sasl_client *c = client("CRAM-MD5", &cr);
    assert_start(c, "CRAM-MD5");
    ebuf r = {0};
    ck_assert_int_eq(step_raw(c, "<1@x>", 5, &r), 0);
    assert_decodes_to(&r, "u 1f38caa9f91a66169c1c7cc6276d601c", 34);
    sasl_client_free(c);

    c = client("CRAM-MD5", &pencil);
    assert_start(c, "CRAM-MD5");
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_EPROTO);
    sasl_client_free(c);

    c = client("CRAM-MD5", &pencil);
    assert_start(c, "CRAM-MD5");
    ck_assert_int_eq(step_text(c, "<1896.697170952@postoffice>", &r), ESMTP_EPROTO);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

/* ------------------------------------------------------------------- SCRAM */

static const char sha1_first[] =
    "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
static const char sha1_final[] = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
                                 "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
static const char sha1_server_final[] = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";

static const char sha256_first[] = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                   "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char sha256_final[] = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                   "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char sha256_server_final[] = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/* A SCRAM client with a fixed nonce, started; checks client-first. */
static sasl_client *scram_client(const char *mech, const sasl_creds *cr, const char *nonce,
                                 const char *client_first)
{
    sasl_client *c = client(mech, cr);
    ck_assert_int_eq(sasl_client_set_nonce(c, nonce), 0);
    ebuf line = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    char *ir = b64(client_first, strlen(client_first));
    char want[512];
    snprintf(want, sizeof want, "%s %s", sasl_client_mech(c), ir);
    ck_assert_str_eq(ebuf_str(&line), want);
    free(ir);
    ebuf_free(&line);
    return c;
}

START_TEST(scram_sha1_rfc5802)
{
    sasl_client *c =
        scram_client("SCRAM-SHA-1", &pencil, "fyko+d2lbbFgONRv9qkxdawL",
                     "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    ebuf r = {0};
    ck_assert_int_eq(step_raw(c, sha1_first, strlen(sha1_first), &r), 0);
    assert_decodes_to(&r, sha1_final, strlen(sha1_final));
    /* server-final as a 334: checked, then an empty response. */
    ck_assert_int_eq(step_raw(c, sha1_server_final, strlen(sha1_server_final), &r), 0);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_int_eq(finish_text(c, NULL), 0);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(scram_sha256_rfc7677)
{
    sasl_client *c = scram_client("SCRAM-SHA-256", &pencil, "rOprNGfwEbeRWgbNEkqO",
                                  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ebuf r = {0};
    ck_assert_int_eq(step_raw(c, sha256_first, strlen(sha256_first), &r), 0);
    assert_decodes_to(&r, sha256_final, strlen(sha256_final));
    ck_assert_int_eq(step_raw(c, sha256_server_final, strlen(sha256_server_final), &r), 0);
    ck_assert_uint_eq(r.len, 0);
    /* The signature was seen: the 235's human text is ignored. */
    ck_assert_int_eq(finish_text(c, "2.7.0 Authentication successful"), 0);
    /* No more challenges after completion. */
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_ESTATE);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(scram_signature_in_235)
{
    sasl_client *c = scram_client("SCRAM-SHA-256", &pencil, "rOprNGfwEbeRWgbNEkqO",
                                  "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ebuf r = {0};
    ck_assert_int_eq(step_raw(c, sha256_first, strlen(sha256_first), &r), 0);
    char *v = b64(sha256_server_final, strlen(sha256_server_final));
    ck_assert_int_eq(finish_text(c, v), 0);
    free(v);
    sasl_client_free(c);

    /* 235 without any signature: the server proved nothing. */
    c = scram_client("SCRAM-SHA-256", &pencil, "rOprNGfwEbeRWgbNEkqO",
                     "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ck_assert_int_eq(step_raw(c, sha256_first, strlen(sha256_first), &r), 0);
    ck_assert_int_eq(finish_text(c, NULL), ESMTP_EPROTO);
    ck_assert_str_eq(sasl_client_error(c), "the SCRAM server did not send its signature");
    sasl_client_free(c);

    /* ... or only human text. */
    c = scram_client("SCRAM-SHA-256", &pencil, "rOprNGfwEbeRWgbNEkqO",
                     "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ck_assert_int_eq(step_raw(c, sha256_first, strlen(sha256_first), &r), 0);
    ck_assert_int_eq(finish_text(c, "2.7.0 Authentication successful"), ESMTP_EPROTO);
    sasl_client_free(c);

    /* 235 before the client's proof. */
    c = scram_client("SCRAM-SHA-256", &pencil, "rOprNGfwEbeRWgbNEkqO",
                     "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ck_assert_int_eq(finish_text(c, NULL), ESMTP_EPROTO);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(scram_tampered_signature)
{
    static const char *const bad[] = {
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G5=", /* last bits differ: not canonical */
        "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", /* one bit flipped */
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9",     /* truncated, not base64 */
        "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9AA==", /* wrong length */
        "v=",
        sha1_server_final, /* another exchange's */
        "e=invalid-proof",
        "x=1",
    };
    for (int via_235 = 0; via_235 < 2; via_235++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            sasl_client *c = scram_client("SCRAM-SHA-256", &pencil, "rOprNGfwEbeRWgbNEkqO",
                                          "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
            ebuf r = {0};
            ck_assert_int_eq(step_raw(c, sha256_first, strlen(sha256_first), &r), 0);
            ebuf_clear(&r);
            if (via_235) {
                char *t = b64(bad[i], strlen(bad[i]));
                ck_assert_msg(finish_text(c, t) == ESMTP_EPROTO, "235 accepted #%zu", i);
                free(t);
            } else {
                ck_assert_msg(step_raw(c, bad[i], strlen(bad[i]), &r) == ESMTP_EPROTO,
                              "334 accepted #%zu", i);
                ck_assert_uint_eq(r.len, 0);
                ck_assert_int_eq(finish_text(c, NULL), ESMTP_ESTATE);
            }
            ck_assert_ptr_nonnull(sasl_client_error(c));
            if (bad[i][0] == 'e') {
                ck_assert_str_eq(sasl_client_server_error(c), "invalid-proof");
            }
            ebuf_free(&r);
            sasl_client_free(c);
        }
    }
}
END_TEST

START_TEST(scram_sha256_plus)
{
    unsigned char cb[32];
    for (int i = 0; i < 32; i++)
        cb[i] = (unsigned char)i;
    sasl_creds cr = pencil;
    cr.cb_data = cb;
    cr.cb_len = sizeof cb;
    sasl_client *c = scram_client("SCRAM-SHA-256-PLUS", &cr, "rOprNGfwEbeRWgbNEkqO",
                                  "p=tls-exporter,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    ebuf r = {0};
    ck_assert_int_eq(step_raw(c, sha256_first, strlen(sha256_first), &r), 0);
    static const char want[] =
        "c=cD10bHMtZXhwb3J0ZXIsLAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f,"
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        "p=QC6CS20quADQRb3mT99YUH+n3VJxUvzuK0K0E1Vrs2M=";
    assert_decodes_to(&r, want, strlen(want));
    static const char v[] = "v=2GiAgapEppLVlUXbxUDksL3VgYHzuqiK5tR4mhJGgvs=";
    ck_assert_int_eq(step_raw(c, v, strlen(v), &r), 0);
    ck_assert_int_eq(finish_text(c, NULL), 0);
    ebuf_free(&r);
    sasl_client_free(c);

    /* Without channel binding data there is no -PLUS client. */
    sasl_client *none = NULL;
    ck_assert_int_eq(sasl_client_new(&none, "SCRAM-SHA-256-PLUS", &pencil), ESMTP_EINVAL);
    ck_assert_ptr_null(none);
}
END_TEST

START_TEST(scram_saslname_escaping)
{
    sasl_creds cr = {.user = "u=s,er", .password = "pw", .authzid = "a,b=c"};
    sasl_client *c = scram_client("SCRAM-SHA-1", &cr, "abc", "n,a=a=2Cb=3Dc,n=u=3Ds=2Cer,r=abc");
    sasl_client_free(c);
    /* OAUTHBEARER's a= is a saslname too. */
    sasl_creds ob = {.user = "x,y=z", .token = "t"};
    c = client("OAUTHBEARER", &ob);
    ebuf line = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ebuf enc = {0};
    ebuf_append_str(&enc, line.data + strlen("OAUTHBEARER "));
    static const char want[] = "n,a=x=2Cy=3Dz,\001auth=Bearer t\001\001";
    assert_decodes_to(&enc, want, sizeof want - 1);
    ebuf_free(&enc);
    ebuf_free(&line);
    sasl_client_free(c);
}
END_TEST

START_TEST(scram_random_nonce)
{
    char nonces[2][64];
    for (int i = 0; i < 2; i++) {
        sasl_client *c = client("SCRAM-SHA-256", &pencil);
        ebuf line = {0}, raw = {0};
        ck_assert_int_eq(sasl_client_start(c, &line), 0);
        const char *sp = strchr(line.data, ' ');
        ck_assert_ptr_nonnull(sp);
        ck_assert_int_eq(sasl_b64_decode(sp + 1, strlen(sp + 1), &raw), 0);
        ck_assert_int_eq(strncmp(raw.data, "n,,n=user,r=", 12), 0);
        ck_assert_uint_eq(strlen(raw.data + 12), 24);
        ck_assert_ptr_null(strchr(raw.data + 12, ','));
        snprintf(nonces[i], sizeof nonces[i], "%s", raw.data + 12);
        /* Too late to set a nonce now. */
        ck_assert_int_eq(sasl_client_set_nonce(c, "abc"), ESMTP_ESTATE);
        ebuf_free(&line);
        ebuf_free(&raw);
        sasl_client_free(c);
    }
    ck_assert_str_ne(nonces[0], nonces[1]);

    sasl_client *c = client("SCRAM-SHA-1", &pencil);
    ck_assert_int_eq(sasl_client_set_nonce(c, "a,b"), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_set_nonce(c, ""), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_set_nonce(c, "a b"), ESMTP_EINVAL);
    sasl_client_free(c);
    c = client("PLAIN", &pencil);
    ck_assert_int_eq(sasl_client_set_nonce(c, "abc"), ESMTP_ESTATE);
    sasl_client_free(c);
}
END_TEST

START_TEST(scram_malformed_server_first)
{
    static const struct {
        const char *msg;
        const char *why; /* substring of the error, or NULL */
    } bad[] = {
        {"", "no nonce"},
        {"s=QSXCR+Q6sek8bf92,i=4096", "no nonce"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096", "no salt"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92", "no iteration"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,i=4096,s=QSXCR+Q6sek8bf92", "no salt"},
        {"r=XXXX+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096", "nonce"},
        {"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096", "nonce"},   /* nothing added */
        {"r=fyko+d2lbbFgONRv9qkxdaw,s=QSXCR+Q6sek8bf92,i=4096", "nonce"},    /* shorter */
        {"r=fyko+d2lbbFgONRv9qkxdawL3 c,s=QSXCR+Q6sek8bf92,i=4096", "nonce"}, /* space */
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf9,i=4096", "salt"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=,i=4096", "salt"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=", "iteration"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=0", "iteration"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=-1", "iteration"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4k", "iteration"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=10000001", "too large"},
        {"r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=99999999999999999999999",
         "too large"},
        {"m=ext,r=fyko+d2lbbFgONRv9qkxdawL3rfc,s=QSXCR+Q6sek8bf92,i=4096", "extension"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sasl_client *c = scram_client("SCRAM-SHA-1", &pencil, "fyko+d2lbbFgONRv9qkxdawL",
                                      "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        ebuf r = {0};
        ck_assert_msg(step_raw(c, bad[i].msg, strlen(bad[i].msg), &r) == ESMTP_EPROTO,
                      "accepted #%zu: %s", i, bad[i].msg);
        ck_assert_uint_eq(r.len, 0);
        ck_assert_msg(strstr(sasl_client_error(c), bad[i].why) != NULL, "#%zu: %s", i,
                      sasl_client_error(c));
        ebuf_free(&r);
        sasl_client_free(c);
    }
    /* Not base64 at all. */
    sasl_client *c = scram_client("SCRAM-SHA-1", &pencil, "fyko+d2lbbFgONRv9qkxdawL",
                                  "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, sha1_first, &r), ESMTP_EPROTO);
    sasl_client_free(c);

    /* Extensions after i= are ignored; the test vector still holds. */
    c = scram_client("SCRAM-SHA-1", &pencil, "fyko+d2lbbFgONRv9qkxdawL",
                     "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
    ck_assert_int_eq(step_raw(c, "r=fyko+d2lbbFgONRv9qkxdawLX,s=QSXCR+Q6sek8bf92,i=1,x=y", 53,
                              &r),
                     0);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

/* The tests-only cap on i= (fuzzing): lowers the limit, never raises it. */
START_TEST(scram_max_iterations_hook)
{
    sasl_client *c = client("SCRAM-SHA-1", &pencil);
    ck_assert_int_eq(sasl_client_set_max_iterations(c, 0), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_set_max_iterations(c, SASL_SCRAM_MAX_ITERATIONS + 1),
                     ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_set_max_iterations(c, 4096), 0);
    ck_assert_int_eq(sasl_client_set_nonce(c, "fyko+d2lbbFgONRv9qkxdawL"), 0);
    ebuf line = {0}, r = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ck_assert_int_eq(sasl_client_set_max_iterations(c, 64), ESMTP_ESTATE);
    ck_assert_int_eq(step_raw(c, sha1_first, strlen(sha1_first), &r), 0); /* i=4096 */
    assert_decodes_to(&r, sha1_final, strlen(sha1_final));
    sasl_client_free(c);

    /* one below the server's count: refused like a count above the default */
    c = client("SCRAM-SHA-1", &pencil);
    ck_assert_int_eq(sasl_client_set_max_iterations(c, 4095), 0);
    ck_assert_int_eq(sasl_client_set_nonce(c, "fyko+d2lbbFgONRv9qkxdawL"), 0);
    ebuf_clear(&line);
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ck_assert_int_eq(step_raw(c, sha1_first, strlen(sha1_first), &r), ESMTP_EPROTO);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_str_eq(sasl_client_error(c), "the SCRAM iteration count is too large");
    sasl_client_free(c);

    c = client("PLAIN", &pencil);
    ck_assert_int_eq(sasl_client_set_max_iterations(c, 64), ESMTP_ESTATE);
    sasl_client_free(c);
    ebuf_free(&line);
    ebuf_free(&r);
}
END_TEST

START_TEST(scram_deferred_initial_response)
{
    /* A user name long enough to push client-first past the AUTH line limit. */
    char user[400];
    memset(user, 'u', sizeof user - 1);
    user[sizeof user - 1] = '\0';
    sasl_creds cr = {.user = user, .password = "pencil"};
    sasl_client *c = client("SCRAM-SHA-256", &cr);
    ck_assert_int_eq(sasl_client_set_nonce(c, "abc"), 0);
    assert_start(c, "SCRAM-SHA-256");
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "", &r), 0);
    char want[512];
    size_t n = (size_t)snprintf(want, sizeof want, "n,,n=%s,r=abc", user);
    assert_decodes_to(&r, want, n);
    /* Then the exchange proceeds. */
    ck_assert_int_eq(step_raw(c, "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096", 34, &r), 0);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

/* ------------------------------------------------------------------ OAuth */

START_TEST(xoauth2_exact)
{
    sasl_creds cr = {.user = "someuser@example.com",
                     .token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"};
    sasl_client *c = client("XOAUTH2", &cr);
    assert_start(c, "XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdD"
                    "RxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
    ck_assert_int_eq(finish_text(c, NULL), 0);
    ck_assert_ptr_null(sasl_client_server_error(c));
    sasl_client_free(c);
}
END_TEST

START_TEST(xoauth2_error_challenge)
{
    sasl_creds cr = {.user = "someuser@example.com", .token = "expired"};
    sasl_client *c = client("XOAUTH2", &cr);
    ebuf line = {0}, r = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    /* The server's JSON error as a 334: answer with an empty line. */
    ebuf_append_str(&r, "junk");
    ebuf_clear(&r);
    static const char json[] = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJ"
                               "odHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==";
    ck_assert_int_eq(sasl_client_step(c, json, sizeof json - 1, &r), 0);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_str_eq(sasl_client_server_error(c),
                     "{\"status\":\"401\",\"schemes\":\"bearer\",\"scope\":\"https://mail.google.com/\"}");
    /* A second challenge is a protocol error. */
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_EPROTO);
    ebuf_free(&line);
    ebuf_free(&r);
    sasl_client_free(c);

    /* Error text that is not base64 is still kept, made printable. */
    c = client("XOAUTH2", &cr);
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ck_assert_int_eq(step_text(c, "bad token\x1b[0m", &r), 0);
    ck_assert_uint_eq(r.len, 0);
    ck_assert_str_eq(sasl_client_server_error(c), "bad token?[0m");
    ebuf_free(&line);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(oauthbearer_exact)
{
    /* RFC 7628 section 4.1. */
    sasl_creds cr = {.user = "user@example.com",
                     .token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
                     .host = "server.example.com",
                     .port = 143};
    sasl_client *c = client("OAUTHBEARER", &cr);
    assert_start(c, "OAUTHBEARER bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBv"
                    "cnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMj"
                    "l0Q2c9PQEB");
    ck_assert_int_eq(finish_text(c, NULL), 0);
    sasl_client_free(c);

    /* authzid wins over user; no host or port when not given. */
    sasl_creds cr2 = {.user = "u", .authzid = "boss", .token = "T"};
    c = client("OAUTHBEARER", &cr2);
    ebuf line = {0}, enc = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ebuf_append_str(&enc, line.data + strlen("OAUTHBEARER "));
    static const char want[] = "n,a=boss,\001auth=Bearer T\001\001";
    assert_decodes_to(&enc, want, sizeof want - 1);
    ebuf_free(&enc);
    ebuf_free(&line);
    sasl_client_free(c);
}
END_TEST

START_TEST(oauthbearer_error_challenge)
{
    sasl_creds cr = {.user = "user@example.com", .token = "expired", .host = "h", .port = 587};
    sasl_client *c = client("OAUTHBEARER", &cr);
    ebuf line = {0}, r = {0};
    ck_assert_int_eq(sasl_client_start(c, &line), 0);
    ck_assert_int_eq(step_raw(c, "{\"status\":\"invalid_token\"}", 26, &r), 0);
    ck_assert_str_eq(ebuf_str(&r), "AQ=="); /* the 0x01 dummy response */
    ck_assert_str_eq(sasl_client_server_error(c), "{\"status\":\"invalid_token\"}");
    ck_assert_int_eq(step_text(c, "AQ==", &r), ESMTP_EPROTO);
    ebuf_free(&line);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

/* --------------------------------------------------------------- EXTERNAL */

START_TEST(external)
{
    sasl_client *c = client("EXTERNAL", NULL);
    assert_start(c, "EXTERNAL =");
    ck_assert_int_eq(finish_text(c, NULL), 0);
    sasl_client_free(c);

    sasl_creds cr = {.authzid = "user"};
    c = client("EXTERNAL", &cr);
    assert_start(c, "EXTERNAL dXNlcg==");
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_EPROTO);
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

/* ------------------------------------------------------------ constructor */

START_TEST(new_rejects_unusable)
{
    sasl_client *c = (sasl_client *)&c; /* must be reset to NULL */
    ck_assert_int_eq(sasl_client_new(&c, "DIGEST-MD5", &pencil), ESMTP_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(sasl_client_new(&c, "PLAIN ", &pencil), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_new(&c, NULL, &pencil), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_new(NULL, "PLAIN", &pencil), ESMTP_EINVAL);
    sasl_creds nopw = {.user = "user"};
    ck_assert_int_eq(sasl_client_new(&c, "PLAIN", &nopw), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_new(&c, "SCRAM-SHA-1", &nopw), ESMTP_EINVAL);
    sasl_creds nouser = {.user = "", .password = "pw"};
    ck_assert_int_eq(sasl_client_new(&c, "LOGIN", &nouser), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_new(&c, "CRAM-MD5", NULL), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_new(&c, "XOAUTH2", &pencil), ESMTP_EINVAL);
    sasl_creds tok = {.user = "u", .token = "a\001b"};
    ck_assert_int_eq(sasl_client_new(&c, "XOAUTH2", &tok), ESMTP_EINVAL);
    tok.token = "ab";
    tok.host = "h\001";
    ck_assert_int_eq(sasl_client_new(&c, "OAUTHBEARER", &tok), ESMTP_EINVAL);
    tok.host = NULL;
    tok.user = NULL;
    ck_assert_int_eq(sasl_client_new(&c, "XOAUTH2", &tok), ESMTP_EINVAL);
    ck_assert_int_eq(sasl_client_new(&c, "OAUTHBEARER", &tok), 0);
    sasl_client_free(c);
    sasl_client_free(NULL);
}
END_TEST

START_TEST(state_errors)
{
    sasl_client *c = client("LOGIN", &pencil);
    ebuf r = {0};
    ck_assert_int_eq(step_text(c, "", &r), ESMTP_ESTATE);
    ck_assert_int_eq(finish_text(c, NULL), ESMTP_ESTATE);
    ck_assert_int_eq(sasl_client_start(c, &r), 0);
    ck_assert_int_eq(sasl_client_start(c, &r), ESMTP_ESTATE);
    ck_assert_ptr_null(sasl_client_error(c));
    ebuf_free(&r);
    sasl_client_free(c);
}
END_TEST

START_TEST(credentials_are_copied)
{
    char user[] = "user", pw[] = "pencil";
    sasl_creds cr = {.user = user, .password = pw};
    sasl_client *c = client("PLAIN", &cr);
    memset(user, 'x', 4);
    memset(pw, 'x', 6);
    assert_start(c, "PLAIN AHVzZXIAcGVuY2ls");
    sasl_client_free(c);
}
END_TEST

/* --------------------------------------------------------------- choosing */

START_TEST(choose_default_order)
{
    const char *all = "LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 SCRAM-SHA-256-PLUS "
                      "XOAUTH2 OAUTHBEARER EXTERNAL";
    unsigned char cb[32] = {0};
    sasl_creds cr = pencil;
    ck_assert_str_eq(sasl_choose(all, NULL, &cr, 1, 0), "SCRAM-SHA-256");
    cr.cb_data = cb;
    cr.cb_len = sizeof cb;
    ck_assert_str_eq(sasl_choose(all, NULL, &cr, 1, 0), "SCRAM-SHA-256-PLUS");
    ck_assert_str_eq(sasl_choose("SCRAM-SHA-1 PLAIN", NULL, &cr, 1, 0), "SCRAM-SHA-1");
    ck_assert_str_eq(sasl_choose("PLAIN LOGIN CRAM-MD5", NULL, &cr, 1, 0), "CRAM-MD5");
    ck_assert_str_eq(sasl_choose("LOGIN PLAIN", NULL, &cr, 1, 0), "PLAIN");
    ck_assert_str_eq(sasl_choose("LOGIN", NULL, &cr, 1, 0), "LOGIN");
    ck_assert_ptr_null(sasl_choose("GSSAPI NTLM", NULL, &cr, 1, 0));
    ck_assert_ptr_null(sasl_choose("", NULL, &cr, 1, 0));
    ck_assert_ptr_null(sasl_choose(NULL, NULL, &cr, 1, 0));
    /* EXTERNAL never by default. */
    ck_assert_ptr_null(sasl_choose("EXTERNAL", NULL, &cr, 1, 0));
    ck_assert_ptr_null(sasl_choose("EXTERNAL", NULL, NULL, 1, 1));
}
END_TEST

START_TEST(choose_case_and_spacing)
{
    ck_assert_str_eq(sasl_choose("  login\tplain  scram-sha-1 ", NULL, &pencil, 1, 0),
                     "SCRAM-SHA-1");
    ck_assert_str_eq(sasl_choose("Plain", NULL, &pencil, 1, 0), "PLAIN");
    /* Whole words only. */
    ck_assert_ptr_null(sasl_choose("PLAINX XPLAIN SCRAM-SHA-256-PLUSX", NULL, &pencil, 1, 0));
    ck_assert_str_eq(sasl_choose("SCRAM-SHA-256-PLUS PLAIN", NULL, &pencil, 1, 0), "PLAIN");
}
END_TEST

START_TEST(choose_caller_order)
{
    const char *offered = "PLAIN LOGIN SCRAM-SHA-256 EXTERNAL";
    ck_assert_str_eq(sasl_choose(offered, "LOGIN,PLAIN", &pencil, 1, 0), "LOGIN");
    ck_assert_str_eq(sasl_choose(offered, " plain , scram-sha-256", &pencil, 1, 0), "PLAIN");
    ck_assert_str_eq(sasl_choose(offered, "CRAM-MD5,BOGUS,,scram-sha-256", &pencil, 1, 0),
                     "SCRAM-SHA-256");
    ck_assert_ptr_null(sasl_choose(offered, "CRAM-MD5", &pencil, 1, 0));
    ck_assert_ptr_null(sasl_choose(offered, "", &pencil, 1, 0));
    /* EXTERNAL when named, with or without credentials, even in clear. */
    ck_assert_str_eq(sasl_choose(offered, "EXTERNAL,PLAIN", NULL, 0, 0), "EXTERNAL");
    ck_assert_str_eq(sasl_choose(offered, "external", &pencil, 1, 0), "EXTERNAL");
    /* A named mechanism still needs its credentials. */
    ck_assert_str_eq(sasl_choose("XOAUTH2 PLAIN", "XOAUTH2,PLAIN", &pencil, 1, 0), "PLAIN");
}
END_TEST

START_TEST(choose_plaintext_policy)
{
    const char *all = "LOGIN PLAIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2 OAUTHBEARER";
    sasl_creds cr = pencil;
    cr.token = "tok";
    /* In clear only SCRAM, unless allowed. */
    ck_assert_str_eq(sasl_choose(all, NULL, &cr, 0, 0), "SCRAM-SHA-256");
    ck_assert_ptr_null(sasl_choose("PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER", NULL, &cr, 0, 0));
    ck_assert_ptr_null(sasl_choose(all, "PLAIN,XOAUTH2", &cr, 0, 0));
    ck_assert_str_eq(sasl_choose(all, "PLAIN,SCRAM-SHA-1", &cr, 0, 0), "SCRAM-SHA-1");
    ck_assert_str_eq(sasl_choose("PLAIN LOGIN CRAM-MD5", NULL, &cr, 0, 1), "CRAM-MD5");
    ck_assert_str_eq(sasl_choose(all, "PLAIN", &cr, 0, 1), "PLAIN");
    ck_assert_str_eq(sasl_choose(all, NULL, &cr, 0, 1), "OAUTHBEARER");
}
END_TEST

START_TEST(choose_plus_needs_binding)
{
    const char *offered = "SCRAM-SHA-256-PLUS SCRAM-SHA-256";
    unsigned char cb[32] = {1};
    sasl_creds cr = pencil;
    ck_assert_str_eq(sasl_choose(offered, NULL, &cr, 1, 0), "SCRAM-SHA-256");
    ck_assert_ptr_null(sasl_choose(offered, "SCRAM-SHA-256-PLUS", &cr, 1, 0));
    cr.cb_data = cb;
    ck_assert_str_eq(sasl_choose(offered, NULL, &cr, 1, 0), "SCRAM-SHA-256"); /* cb_len 0 */
    cr.cb_len = sizeof cb;
    ck_assert_str_eq(sasl_choose(offered, NULL, &cr, 1, 0), "SCRAM-SHA-256-PLUS");
    /* Channel binding only means something over TLS. */
    ck_assert_str_eq(sasl_choose(offered, NULL, &cr, 0, 1), "SCRAM-SHA-256");
    /* The caller's order still rules. */
    ck_assert_str_eq(sasl_choose(offered, "SCRAM-SHA-256,SCRAM-SHA-256-PLUS", &cr, 1, 0),
                     "SCRAM-SHA-256");
}
END_TEST

START_TEST(choose_oauth_only_with_token)
{
    const char *offered = "PLAIN XOAUTH2 OAUTHBEARER";
    ck_assert_str_eq(sasl_choose(offered, NULL, &pencil, 1, 0), "PLAIN");
    sasl_creds cr = pencil;
    cr.token = "tok";
    ck_assert_str_eq(sasl_choose(offered, NULL, &cr, 1, 0), "OAUTHBEARER");
    ck_assert_str_eq(sasl_choose("PLAIN XOAUTH2", NULL, &cr, 1, 0), "XOAUTH2");
    ck_assert_str_eq(sasl_choose(offered, "xoauth2", &cr, 1, 0), "XOAUTH2");
    cr.token = "";
    ck_assert_str_eq(sasl_choose(offered, NULL, &cr, 1, 0), "PLAIN");
    /* A token without a password: only the token mechanisms. */
    sasl_creds t = {.token = "tok"};
    ck_assert_str_eq(sasl_choose(offered, NULL, &t, 1, 0), "OAUTHBEARER");
    ck_assert_ptr_null(sasl_choose("PLAIN XOAUTH2", NULL, &t, 1, 0)); /* XOAUTH2 needs a user */
}
END_TEST

/* ------------------------------------------------------------------ suite */

static Suite *sasl_suite(void)
{
    Suite *s = suite_create("sasl");
    TCase *tc = tcase_create("base64");
    tcase_add_test(tc, b64_rfc4648_vectors);
    tcase_add_test(tc, b64_round_trip_binary);
    tcase_add_test(tc, b64_strict_rejects);
    suite_add_tcase(s, tc);

    tc = tcase_create("mechanisms");
    tcase_add_test(tc, plain_without_authzid);
    tcase_add_test(tc, plain_with_authzid);
    tcase_add_test(tc, long_initial_response_waits_for_334);
    tcase_add_test(tc, login_standard);
    tcase_add_test(tc, login_odd_challenges);
    tcase_add_test(tc, cram_md5_rfc2195);
    tcase_add_test(tc, cram_md5_edge_cases);
    tcase_add_test(tc, xoauth2_exact);
    tcase_add_test(tc, xoauth2_error_challenge);
    tcase_add_test(tc, oauthbearer_exact);
    tcase_add_test(tc, oauthbearer_error_challenge);
    tcase_add_test(tc, external);
    tcase_add_test(tc, new_rejects_unusable);
    tcase_add_test(tc, state_errors);
    tcase_add_test(tc, credentials_are_copied);
    suite_add_tcase(s, tc);

    tc = tcase_create("scram");
    tcase_set_timeout(tc, 30); /* PBKDF2 under valgrind */
    tcase_add_test(tc, scram_sha1_rfc5802);
    tcase_add_test(tc, scram_sha256_rfc7677);
    tcase_add_test(tc, scram_signature_in_235);
    tcase_add_test(tc, scram_tampered_signature);
    tcase_add_test(tc, scram_sha256_plus);
    tcase_add_test(tc, scram_saslname_escaping);
    tcase_add_test(tc, scram_random_nonce);
    tcase_add_test(tc, scram_malformed_server_first);
    tcase_add_test(tc, scram_max_iterations_hook);
    tcase_add_test(tc, scram_deferred_initial_response);
    suite_add_tcase(s, tc);

    tc = tcase_create("choose");
    tcase_add_test(tc, choose_default_order);
    tcase_add_test(tc, choose_case_and_spacing);
    tcase_add_test(tc, choose_caller_order);
    tcase_add_test(tc, choose_plaintext_policy);
    tcase_add_test(tc, choose_plus_needs_binding);
    tcase_add_test(tc, choose_oauth_only_with_token);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(sasl_suite());
}
