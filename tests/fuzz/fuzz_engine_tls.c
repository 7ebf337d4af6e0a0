/* Fuzz target: the SMTP engine with a real TLS peer (issue 9). The client
 * is pumped as lib/conn.c pumps it and the server is OpenSSL on memory
 * BIOs (tests/memtls.c) with a scripted SMTP responder, which plays
 * STARTTLS or implicit TLS, AUTH PLAIN, SCRAM-SHA-256 and
 * SCRAM-SHA-256-PLUS (tests/fuzz/scram_server.c; the binding is the server
 * side's own tls-exporter value) and one or two messages, while the input
 * tampers with what it sends. The server splits what it sent into replies
 * with its own rules (memtls's counter, not lib/reply.c) and pairs the
 * k-th with the client's k-th command, as the engine must. Checks:
 *
 *  - after engine_closed() the engine is done and every message and
 *    recipient has its fate; a message is OK only if one of its
 *    transactions had MAIL, a recipient, each chunk and the end of data
 *    (a dot after a body, or BDAT LAST) answered with whole 2xx replies
 *    that reached the engine; a recipient OK only in such a transaction
 *    that accepted its RCPT; UNKNOWN only once an end of data was sent;
 *  - what the engine was given through TLS is a prefix of what the server
 *    wrote into TLS (a corrupted record delivers nothing), and in clear a
 *    prefix of the wire;
 *  - nothing follows STARTTLS before the 220; after the 220 the client's
 *    first bytes are a TLS record; bytes injected in clear after the 220
 *    end the session in the read that brought them, and no server line is
 *    read between the 220 and the handshake (CVE-2011-0411);
 *  - no MAIL before a required (or implicit) TLS handshake, or in clear
 *    after STARTTLS was accepted or, untampered, offered and not tried; no
 *    MAIL before a requested AUTH got its 235 and, for SCRAM, a correct
 *    server signature the server sent as made; PLAIN only over TLS unless
 *    allowed; -PLUS only over TLS 1.3;
 *  - the client's SCRAM messages are right (a correct server checks the
 *    proof and, for -PLUS, that c= binds this connection); it accepts no
 *    wrong server signature, and none made over another channel binding;
 *    an untampered run that starts AUTH authenticates.
 *
 * Input: a HEADER-byte header (below), then records until the input ends:
 * [answer number][kind][length][length bytes]. The answer number counts
 * the server's replies, 0 being the greeting (the first record for a
 * number counts); kind % 5: 0 the bytes instead of the answer, 1 the code
 * of every line (of the first only with bit 7) from 3 bytes, 2 the bytes
 * as the first line's text, 3 no answer at all, 4 the bytes injected after
 * the 220 to STARTTLS. SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include <esmtp/esmtp.h>

#include "../memtls.h"
#include "buf.h"
#include "fuzz_common.h"
#include "message.h"
#include "protocol.h"
#include "scram_server.h"
#include "tls.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The header:
 *   0  bits 0-1 TLS (0 implicit, 1 and 3 STARTTLS required, 2 optional),
 *      bit 2 PIPELINING allowed, 3 CHUNKING allowed, 4 AUTH wanted,
 *      5 plaintext AUTH allowed, 6 the server speaks TLS 1.2 at most (no
 *      tls-exporter), 7 a second message
 *   1  the EHLO keywords in clear (bit i: keywords[i]), 2 under TLS
 *   3  bits 0-2 the AUTH mechanisms offered (auth_mechs[]), bits 3-5 the
 *      client's list (client_mechs[])
 *   4  bits 0-3 the SCRAM iteration count - 1, bit 4 the server signature
 *      with the 235 (else in a 334), bits 5-6 tampering (1 the signature,
 *      2 the server's channel binding), bit 7 a long second body
 *   5  bits 0-1 and 2-3 recipients of each message - 1 (at most 3), bit 4
 *      a user name too long for an initial response in the AUTH line
 *   6  the client's reads, in bytes (0: all there is)
 *   7  little-endian 16 bits: TLS bytes the client gets (0: all)
 *   9  little-endian 16 bits: the TLS byte to corrupt, plus 1 (0: none),
 *      11 the XOR applied (0 taken as 1) */
#define HEADER 12
#define MAX_RECORDS 32

enum { TLS_IMPLICIT, TLS_REQUIRED, TLS_OPTIONAL };
enum { MUT_RAW, MUT_CODE, MUT_TEXT, MUT_SILENT, MUT_INJECT };
enum { TAMPER_NONE, TAMPER_SIG, TAMPER_CB };
enum { MECH_PLAIN, MECH_SCRAM, MECH_SCRAM_PLUS, NMECHS };

enum { KW_STARTTLS = 0, KW_AUTH = 3 };
static const char *const keywords[8] = {"STARTTLS", "PIPELINING", "CHUNKING", "AUTH",
                                        "8BITMIME", "SIZE 1000000", "SIZE 64", "SMTPUTF8"};
static const char *const auth_mechs[NMECHS] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"};
static const char *const client_mechs[8] = {
    NULL, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "SCRAM-SHA-256-PLUS, PLAIN",
    "plain,scram-sha-256", "LOGIN", "scram-sha-256-plus,scram-sha-256",
};

#define PASSWORD "pass word,1"
#define NONCE_PART "srvNonce"
static char long_user[400];
static const unsigned char salt[16] = "fuzz-engine-salt";

static memtls_cert cert; /* made once: a key per run would cost more than the run */

/* ------------------------------------------------------------ the input */

typedef struct record {
    unsigned answer;
    int kind;
    int first_line_only;
    const uint8_t *bytes;
    size_t len;
} record;

typedef struct settings {
    int tls;
    int pipelining, chunking, want_auth, plaintext_auth, tls12, nmsgs;
    unsigned kw_clear, kw_tls, offered;
    const char *client_mechs;
    unsigned iterations;
    int sig_in_235, tamper, long_body;
    size_t rcpts[2];
    const char *user;
    size_t read_size;
    size_t cut;          /* 0: none */
    size_t corrupt;      /* the TLS byte + 1, 0: none */
    unsigned char xor_mask;
    record records[MAX_RECORDS];
    size_t nrecords;
    const record *inject;
} settings;

static void parse(settings *s, const uint8_t *h, size_t size)
{
    memset(s, 0, sizeof *s);
    static const int modes[4] = {TLS_IMPLICIT, TLS_REQUIRED, TLS_OPTIONAL, TLS_REQUIRED};
    s->tls = modes[h[0] & 3];
    s->pipelining = h[0] >> 2 & 1;
    s->chunking = h[0] >> 3 & 1;
    s->want_auth = h[0] >> 4 & 1;
    s->plaintext_auth = h[0] >> 5 & 1;
    s->tls12 = h[0] >> 6 & 1;
    s->nmsgs = 1 + (h[0] >> 7);
    s->kw_clear = h[1];
    s->kw_tls = h[2];
    s->offered = h[3] & 7;
    s->client_mechs = client_mechs[h[3] >> 3 & 7];
    s->iterations = 1 + (h[4] & 15u);
    s->sig_in_235 = h[4] >> 4 & 1;
    s->tamper = h[4] >> 5 & 3;
    if (s->tamper > TAMPER_CB)
        s->tamper = TAMPER_NONE;
    s->long_body = h[4] >> 7;
    for (int i = 0; i < 2; i++) {
        s->rcpts[i] = 1 + (h[5] >> (2 * i) & 3u);
        if (s->rcpts[i] > 3)
            s->rcpts[i] = 3;
    }
    s->user = h[5] >> 4 & 1 ? long_user : "fuzz";
    s->read_size = h[6];
    s->cut = (size_t)h[7] | (size_t)h[8] << 8;
    s->corrupt = (size_t)h[9] | (size_t)h[10] << 8;
    s->xor_mask = h[11] ? h[11] : 1;
    for (size_t at = HEADER; at + 3 <= size && s->nrecords < MAX_RECORDS;) {
        record *r = &s->records[s->nrecords++];
        r->answer = h[at];
        r->kind = h[at + 1] % 5;
        r->first_line_only = h[at + 1] >> 7;
        r->bytes = h + at + 3;
        r->len = h[at + 2] < size - at - 3 ? h[at + 2] : size - at - 3;
        if (r->kind == MUT_INJECT && !s->inject)
            s->inject = r;
        at += 3 + r->len;
    }
}

/* ------------------------------------------------------------ the server */

/* A transaction as the server saw it: command numbers (the reply to
 * command c is reply c + 1, the greeting being reply 0). */
typedef struct txn {
    size_t msg;
    size_t mail;
    size_t rcpt[8];
    size_t rcpt_of[8];  /* which of the message's recipients */
    size_t nrcpts;
    size_t chunk[8];
    size_t nchunks;
    int has_eod;
    size_t eod;         /* the dot after a body, or BDAT LAST */
} txn;

typedef struct server {
    const settings *set;
    memtls_server io;
    scan in;
    size_t answered;     /* commands answered */
    size_t queued;       /* ends of data answered */
    size_t mutations;    /* records applied */
    int closed;          /* QUIT answered, or TLS failed: deaf from now on */
    int greeted;
    int hello_due;       /* TLS started: the client's next bytes are a ClientHello */
    ebuf batch;          /* answered, not yet written */
    ebuf r;              /* every reply byte written, in clear then in TLS (not the injected) */
    size_t r_clear;      /* how much of r went in clear */
    size_t inject_at;    /* where the injected bytes start in io.out, 0: none */
    reply_count rc;      /* over r */
    size_t *ends;        /* reply k ends at ends[k] in r, */
    int *codes;          /* with codes[k] */
    size_t nreplies, cap;
    int offered_starttls;  /* the last EHLO in clear offered it, untampered */
    int starttls_sent;
    size_t starttls_cmd;
    /* AUTH */
    int in_auth;         /* the next line answers a 334 */
    int auth_step;       /* what the server waits for */
    int auth_mech;
    int auth_started;    /* the client began an exchange */
    int auth_any_mech[NMECHS];
    size_t auth_last;    /* the exchange's latest command */
    scram_server scram;
    int sig_good;        /* a correct signature went out as made */
    int sig_bad;         /* a wrong one did (tampered) */
    txn txns[16];
    size_t ntxns;
    txn *cur;
} server;

enum { STEP_NONE, STEP_PLAIN, STEP_SCRAM_FIRST, STEP_SCRAM_FINAL, STEP_SCRAM_ACK };

static void keep_reply_bytes(server *s, const char *p, size_t n)
{
    FZ_CHECK(ebuf_append(&s->r, p, n) == 0 && ebuf_append(&s->batch, p, n) == 0);
    for (size_t i = 0; i < n; i++) {
        if (!count_byte(&s->rc, p[i]))
            continue;
        if (s->nreplies == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->ends = realloc(s->ends, s->cap * sizeof *s->ends);
            s->codes = realloc(s->codes, s->cap * sizeof *s->codes);
            FZ_CHECK(s->ends && s->codes);
        }
        s->ends[s->nreplies] = s->r.len - n + i + 1;
        s->codes[s->nreplies++] = s->rc.code;
    }
}

/* The code of reply k, or -1 while it is not whole. */
static int reply_code(const server *s, size_t k)
{
    return k < s->nreplies ? s->codes[k] : -1;
}

static const record *record_for(const settings *set, size_t answer)
{
    for (size_t i = 0; i < set->nrecords; i++)
        if (set->records[i].kind != MUT_INJECT && set->records[i].answer == answer)
            return &set->records[i];
    return NULL;
}

/* Writes the answer to the command being served (text: CRLF-terminated
 * lines), or what the input puts instead. Returns whether its text is as
 * scripted. */
static int answer(server *s, const char *text)
{
    size_t k = s->answered; /* the greeting is answer 0, command c's answer c + 1 */
    const record *m = k < 256 ? record_for(s->set, k) : NULL;
    if (!m) {
        keep_reply_bytes(s, text, strlen(text));
        return 1;
    }
    s->mutations++;
    if (m->kind == MUT_RAW) {
        keep_reply_bytes(s, (const char *)m->bytes, m->len);
    } else if (m->kind == MUT_CODE) {
        char code[3] = {'2', '0', '0'};
        if (m->len >= 3) {
            code[0] = (char)('2' + m->bytes[0] % 4);
            code[1] = (char)('0' + m->bytes[1] % 6);
            code[2] = (char)('0' + m->bytes[2] % 10);
        }
        for (const char *line = text; *line;) {
            const char *nl = strchr(line, '\n') + 1;
            int change = line == text || !m->first_line_only;
            keep_reply_bytes(s, change ? code : line, 3);
            keep_reply_bytes(s, line + 3, (size_t)(nl - line - 3));
            line = nl;
        }
        return 1;
    } else if (m->kind == MUT_TEXT) {
        const char *nl = strchr(text, '\n') + 1;
        keep_reply_bytes(s, text, 4);
        keep_reply_bytes(s, (const char *)m->bytes, m->len);
        keep_reply_bytes(s, "\r\n", 2);
        keep_reply_bytes(s, nl, strlen(nl));
    }
    return 0;
}

static void flush(server *s)
{
    if (!s->io.ssl)
        s->r_clear += s->batch.len;
    /* replies answer commands, which come over a finished handshake */
    FZ_CHECK(memtls_server_send(&s->io, s->batch.data, s->batch.len) == 0);
    ebuf_clear(&s->batch);
}

static void start_tls(server *s)
{
    memtls_server_tls(&s->io, cert.ctx);
    if (s->set->tls12)
        FZ_CHECK(SSL_set_max_proto_version(s->io.ssl, TLS1_2_VERSION) == 1);
    s->hello_due = 1;
}

static void ehlo(server *s)
{
    unsigned kw = s->io.ssl ? s->set->kw_tls : s->set->kw_clear;
    char auth[64] = "AUTH";
    for (int j = 0; j < NMECHS; j++)
        if (s->set->offered >> j & 1) {
            strcat(auth, " ");
            strcat(auth, auth_mechs[j]);
        }
    const char *lines[9] = {MEMTLS_HOST};
    size_t n = 1;
    for (int i = 0; i < 8; i++)
        if (kw >> i & 1)
            lines[n++] = i == KW_AUTH ? auth : keywords[i];
    char text[512] = "";
    for (size_t i = 0; i < n; i++) {
        strcat(text, i + 1 < n ? "250-" : "250 ");
        strcat(text, lines[i]);
        strcat(text, "\r\n");
    }
    int untouched = answer(s, text);
    if (!s->io.ssl)
        s->offered_starttls = untouched && s->mutations == 0 && (kw >> KW_STARTTLS & 1);
}

/* The tls-exporter binding as the server's end of the connection has it
 * (RFC 9266), computed here with OpenSSL, not by lib/tls.c. */
static void server_binding(server *s, unsigned char cb[32])
{
    static const char label[] = "EXPORTER-Channel-Binding";
    FZ_CHECK(SSL_version(s->io.ssl) == TLS1_3_VERSION);
    FZ_CHECK(SSL_export_keying_material(s->io.ssl, cb, 32, label, sizeof label - 1, NULL, 0,
                                        0) == 1);
}

/* Decodes an AUTH line's base64 (OpenSSL's) into out, NUL-terminated. */
static long decode(const char *p, size_t n, ebuf *out)
{
    ebuf_clear(out);
    FZ_CHECK(ebuf_reserve(out, n + 1) == 0);
    long len = fz_b64_decode(p, n, (unsigned char *)out->data);
    out->len = len > 0 ? (size_t)len : 0;
    out->data[out->len] = '\0';
    return len;
}

static void scram_answer_first(server *s, const ebuf *first)
{
    ebuf msg = {0}, text = {0};
    FZ_CHECK(scram_server_first(&s->scram, auth_mechs[s->auth_mech], PASSWORD, first->data,
                                first->len, NONCE_PART, salt, sizeof salt, s->set->iterations,
                                &msg) == SCRAM_OK);
    FZ_CHECK(ebuf_append_str(&text, "334 ") == 0);
    fz_b64_encode(msg.data, msg.len, &text);
    FZ_CHECK(ebuf_append_str(&text, "\r\n") == 0);
    answer(s, text.data);
    s->auth_step = STEP_SCRAM_FINAL;
    ebuf_free(&msg);
    ebuf_free(&text);
}

static void scram_answer_final(server *s, const ebuf *final)
{
    unsigned char cb[32] = {0};
    int plus = s->auth_mech == MECH_SCRAM_PLUS;
    if (plus) {
        server_binding(s, cb);
        if (s->set->tamper == TAMPER_CB)
            cb[0] ^= 1; /* as a server on the far side of a man in the middle sees it */
    }
    scram_verdict v = scram_server_final(&s->scram, final->data, final->len, cb, sizeof cb);
    int bad_cb = plus && s->set->tamper == TAMPER_CB;
    /* The client's messages are its own: the only wrong thing can be the
     * binding, when the server sees another. */
    FZ_CHECK(v == (bad_cb ? SCRAM_BAD_BINDING : SCRAM_OK));
    if (s->set->tamper == TAMPER_SIG)
        s->scram.sig[s->set->iterations % s->scram.hlen] ^= 0x10;
    int wrong = bad_cb || s->set->tamper == TAMPER_SIG;
    /* A lying server says yes whatever it found. */
    ebuf v64 = {0}, text = {0};
    scram_server_verifier(&s->scram, &v64);
    FZ_CHECK(ebuf_append_str(&text, s->set->sig_in_235 ? "235 2.7.0 " : "334 ") == 0);
    fz_b64_encode(v64.data, v64.len, &text);
    FZ_CHECK(ebuf_append_str(&text, "\r\n") == 0);
    int as_made = answer(s, text.data);
    s->sig_good = as_made && !wrong;
    s->sig_bad = as_made && wrong;
    s->auth_step = s->set->sig_in_235 ? STEP_NONE : STEP_SCRAM_ACK;
    ebuf_free(&v64);
    ebuf_free(&text);
}

/* "\0user\0password", the only PLAIN response the client may send. */
static void check_plain(const server *s, const char *p, size_t n)
{
    ebuf raw = {0}, want = {0};
    FZ_CHECK(ebuf_append(&want, "", 1) == 0 && ebuf_append_str(&want, s->set->user) == 0 &&
             ebuf_append(&want, "", 1) == 0 && ebuf_append_str(&want, PASSWORD) == 0);
    FZ_CHECK(decode(p, n, &raw) == (long)want.len && memcmp(raw.data, want.data, want.len) == 0);
    ebuf_free(&raw);
    ebuf_free(&want);
}

/* "AUTH MECH [initial response]". */
static void auth_begin(server *s, const char *line, size_t len)
{
    const char *mech = line + 5, *sp = memchr(mech, ' ', len - 5);
    size_t mlen = sp ? (size_t)(sp - mech) : len - 5;
    int m = -1;
    for (int i = 0; i < NMECHS; i++)
        if (strlen(auth_mechs[i]) == mlen && strncmp(mech, auth_mechs[i], mlen) == 0)
            m = i;
    int secure = memtls_server_secure(&s->io);
    if (s->mutations == 0)
        FZ_CHECK(m >= 0 && (s->set->offered >> m & 1)); /* only what was offered */
    if (m < 0) {
        answer(s, "504 5.5.4 Unrecognized authentication type\r\n");
        return;
    }
    /* the password in clear only when allowed; -PLUS only with a binding */
    FZ_CHECK(m != MECH_PLAIN || secure || s->set->plaintext_auth);
    FZ_CHECK(m != MECH_SCRAM_PLUS || (secure && SSL_version(s->io.ssl) == TLS1_3_VERSION));
    s->auth_started = 1;
    s->auth_any_mech[m] = 1;
    s->auth_mech = m;
    s->sig_good = s->sig_bad = 0;
    scram_server_free(&s->scram);
    memset(&s->scram, 0, sizeof s->scram);
    const char *ir = sp ? sp + 1 : NULL;
    size_t irlen = sp ? len - (size_t)(ir - line) : 0;
    if (!ir) {
        s->auth_step = m == MECH_PLAIN ? STEP_PLAIN : STEP_SCRAM_FIRST;
        answer(s, "334 \r\n");
    } else if (m == MECH_PLAIN) {
        check_plain(s, ir, irlen);
        answer(s, "235 2.7.0 Authentication successful\r\n");
    } else {
        ebuf first = {0};
        FZ_CHECK(decode(ir, irlen, &first) > 0);
        scram_answer_first(s, &first);
        ebuf_free(&first);
    }
}

/* A line that answers a 334. */
static void auth_response(server *s, const char *line, size_t len)
{
    int step = s->auth_step;
    s->auth_step = STEP_NONE;
    if (len == 1 && line[0] == '*') {
        answer(s, "501 5.7.0 Authentication cancelled\r\n");
        return;
    }
    ebuf msg = {0};
    if (step == STEP_PLAIN) {
        check_plain(s, line, len);
        answer(s, "235 2.7.0 Authentication successful\r\n");
    } else if (step == STEP_SCRAM_FIRST) {
        FZ_CHECK(decode(line, len, &msg) > 0);
        scram_answer_first(s, &msg);
    } else if (step == STEP_SCRAM_FINAL) {
        FZ_CHECK(decode(line, len, &msg) > 0);
        scram_answer_final(s, &msg);
    } else if (step == STEP_SCRAM_ACK) {
        /* the client took the signature: it must have been right */
        FZ_CHECK(len == 0 && s->sig_good && !s->sig_bad);
        answer(s, "235 2.7.0 Authentication successful\r\n");
    } else {
        answer(s, "535 5.7.8 Error: authentication failed\r\n"); /* no 334 was meant */
    }
    ebuf_free(&msg);
}

/* Which message or recipient an address names: "<mI@" or "<rIJ@". */
static size_t address_digit(const char *line, size_t len, char kind, size_t which)
{
    const char *a = memchr(line, '<', len);
    FZ_CHECK(a && a[1] == kind && a[2 + which] >= '0' && a[2 + which] <= '9');
    return (size_t)(a[2 + which] - '0');
}

static void mail(server *s, size_t c, const char *line, size_t len)
{
    int secure = memtls_server_secure(&s->io);
    if (s->set->tls != TLS_OPTIONAL)
        FZ_CHECK(secure);
    else if (!secure)
        FZ_CHECK(s->starttls_sent ? reply_code(s, s->starttls_cmd + 1) >= 300 /* refused */
                                  : !s->offered_starttls);
    if (s->set->want_auth)
        FZ_CHECK(s->auth_started && reply_code(s, s->auth_last + 1) == 235 &&
                 (s->auth_mech == MECH_PLAIN || (s->sig_good && !s->sig_bad)));
    FZ_CHECK(s->ntxns < sizeof s->txns / sizeof *s->txns);
    s->cur = &s->txns[s->ntxns++];
    *s->cur = (txn){.msg = address_digit(line, len, 'm', 0), .mail = c};
    answer(s, "250 2.1.0 Ok\r\n");
}

static void command_line(server *s, size_t c, const command *cmd)
{
    const char *line = s->in.bytes.data + cmd->start;
    size_t len = cmd->line_len;
    if (is_verb(&s->in, cmd, "EHLO ")) {
        ehlo(s);
    } else if (is_verb(&s->in, cmd, "HELO ")) {
        answer(s, "250 " MEMTLS_HOST "\r\n");
    } else if (is_verb(&s->in, cmd, "STARTTLS") && len == 8) {
        FZ_CHECK(!s->io.ssl); /* only in clear */
        s->starttls_sent = 1;
        s->starttls_cmd = c;
        answer(s, "220 2.0.0 Ready to start TLS\r\n");
        /* nothing may follow STARTTLS before its reply (RFC 3207) */
        FZ_CHECK(s->in.pos == s->in.bytes.len && s->answered == s->in.n);
        /* TLS only after a whole 220, so that what follows is no part of it */
        if (reply_code(s, c + 1) != 220 || s->rc.col || s->rc.inside)
            return;
        flush(s);
        if (s->set->inject && s->set->inject->len) {
            s->inject_at = s->io.out.len;
            s->mutations++;
            FZ_CHECK(ebuf_append(&s->io.out, s->set->inject->bytes, s->set->inject->len) == 0);
        }
        start_tls(s);
    } else if (is_verb(&s->in, cmd, "AUTH ")) {
        auth_begin(s, line, len);
    } else if (is_verb(&s->in, cmd, "MAIL FROM:")) {
        mail(s, c, line, len);
    } else if (is_verb(&s->in, cmd, "RCPT TO:")) {
        /* inside the transaction MAIL opened, for its message */
        FZ_CHECK(s->cur && s->cur->nrcpts < 8 && address_digit(line, len, 'r', 0) == s->cur->msg);
        s->cur->rcpt_of[s->cur->nrcpts] = address_digit(line, len, 'r', 1);
        s->cur->rcpt[s->cur->nrcpts++] = c;
        answer(s, "250 2.1.5 Ok\r\n");
    } else if (is_verb(&s->in, cmd, "DATA") && len == 4) {
        answer(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
        /* the client sends a body if it took the reply for a go-ahead */
        scan_data(&s->in, reply_code(s, c + 1) / 100 == 3);
    } else if (is_verb(&s->in, cmd, "RSET") && len == 4) {
        s->cur = NULL;
        answer(s, "250 2.0.0 Ok\r\n");
    } else if (is_verb(&s->in, cmd, "QUIT") && len == 4) {
        answer(s, "221 2.0.0 Bye\r\n");
        flush(s);
        memtls_server_close(&s->io);
        s->closed = 1;
    } else {
        FZ_CHECK(!"a command the client has no reason to send");
    }
}

static void end_of_data(server *s, size_t c, const command *cmd)
{
    int lone = cmd->kind == CC_DOT && cmd->end - cmd->start == 3;
    if (s->cur && !lone) {
        s->cur->has_eod = 1;
        s->cur->eod = c;
    }
    char text[64];
    snprintf(text, sizeof text, "250 2.0.0 Ok: queued as Q%zu\r\n", ++s->queued);
    answer(s, text);
}

static void serve(server *s, size_t c)
{
    const command *cmd = &s->in.cmds[c];
    size_t prev = s->auth_last;
    int in_auth = s->in_auth;
    s->answered = c + 1;
    if (cmd->kind == CC_DOT || cmd->kind == CC_LAST_CHUNK) {
        end_of_data(s, c, cmd);
    } else if (cmd->kind == CC_CHUNK) {
        FZ_CHECK(s->cur && s->cur->nchunks < 8);
        s->cur->chunk[s->cur->nchunks++] = c;
        answer(s, "250 2.0.0 Ok: chunk received\r\n");
    } else if (in_auth) {
        auth_response(s, s->in.bytes.data + cmd->start, cmd->line_len);
    } else {
        command_line(s, c, cmd);
    }
    /* The AUTH exchange goes on while its replies are 334s: the client
     * follows what it was sent, whatever the server meant. */
    int auth_cmd = in_auth || (cmd->kind == CC_LINE && is_verb(&s->in, cmd, "AUTH "));
    s->auth_last = auth_cmd ? c : prev;
    s->in_auth = auth_cmd && reply_code(s, c + 1) == 334;
    if (!s->in_auth)
        s->auth_step = STEP_NONE;
}

static void greet(server *s)
{
    if (!s->greeted)
        answer(s, "220 " MEMTLS_HOST " ESMTP fuzz\r\n");
    s->greeted = 1;
}

static void server_recv(server *s, const char *p, size_t n)
{
    if (s->closed)
        return;
    if (s->hello_due && n) {
        FZ_CHECK(p[0] == 0x16); /* a TLS handshake record, nothing in clear */
        s->hello_due = 0;
    }
    ebuf plain = {0};
    int rc = memtls_server_recv(&s->io, p, n, &plain);
    if (rc == 0)
        scan_more(&s->in, plain.data, plain.len);
    ebuf_free(&plain);
    if (rc != 0) {
        s->closed = 1;
        return;
    }
    if (memtls_server_secure(&s->io))
        greet(s);
    while (!s->closed && s->answered < s->in.n)
        serve(s, s->answered);
    flush(s);
}

static void server_free(server *s)
{
    memtls_server_free(&s->io);
    scan_free(&s->in);
    ebuf_free(&s->batch);
    ebuf_free(&s->r);
    free(s->ends);
    free(s->codes);
    scram_server_free(&s->scram);
}

/* ------------------------------------------------------------ the client */

typedef struct run {
    settings set;
    server srv;
    engine eng;
    memtls_client cl;
    esmtp_message *msgs[2];
    ebuf clear;          /* given to the engine in clear */
    ebuf secure;         /* given to it through TLS */
    ebuf lines;          /* the server lines the transcript showed, each ended by LF */
    int authenticated;
} run;

static void watch_received(void *ud, const char *p, size_t n, int encrypted)
{
    run *r = ud;
    FZ_CHECK(ebuf_append(encrypted ? &r->secure : &r->clear, p, n) == 0);
    /* bytes that came in clear after the 220 to STARTTLS end the session
     * at once (the CVE-2011-0411 injection) */
    if (!encrypted && r->srv.inject_at && r->clear.len > r->srv.inject_at)
        FZ_CHECK(engine_done(&r->eng) && engine_error(&r->eng) == ESMTP_EPROTO);
}

static const memtls_watch watch = {watch_received, NULL, NULL};

static int on_event(void *ud, esmtp_event ev, esmtp_message *m, esmtp_recipient *rc,
                    uint64_t bytes)
{
    (void)m;
    (void)rc;
    (void)bytes;
    run *r = ud;
    if (ev == ESMTP_EVENT_AUTHENTICATED)
        r->authenticated = 1;
    return 0;
}

static void on_transcript(void *ud, esmtp_direction dir, const char *line, size_t len)
{
    (void)line;
    (void)len;
    run *r = ud;
    if (dir != ESMTP_FROM_SERVER)
        return;
    /* between the 220 to STARTTLS and the handshake nothing is read */
    FZ_CHECK(!engine_wants_tls(&r->eng));
    FZ_CHECK(ebuf_append(&r->lines, line, len) == 0 && ebuf_append(&r->lines, "\n", 1) == 0);
}

/* As lib/conn.c gives them: the binding only from TLS 1.3. */
static int on_credentials(void *ud, sasl_creds *creds, unsigned char cb[32], char *token,
                          size_t cap)
{
    (void)token;
    (void)cap;
    run *r = ud;
    creds->user = r->set.user;
    creds->password = PASSWORD;
    if (r->cl.tls && !r->cl.handshaking && tls_exporter(r->cl.tls, cb) == 0) {
        creds->cb_data = cb;
        creds->cb_len = 32;
    }
    return 0;
}

static const engine_ops ops = {on_event, on_transcript, on_credentials};

static void add_messages(run *r)
{
    static char long_body[70000]; /* two BDAT chunks */
    if (!long_body[0]) {
        size_t n = (size_t)snprintf(long_body, sizeof long_body, "Subject: long\r\n\r\n");
        for (int i = 0; n + 40 < sizeof long_body; i++)
            n += (size_t)snprintf(long_body + n, sizeof long_body - n,
                                  "Line %05d of the long body\r\n", i);
    }
    const char *bodies[2] = {"Subject: tls 1\r\n\r\n.A line with a dot.\r\nThe end.\r\n",
                             r->set.long_body ? long_body : "Subject: tls 2\r\n\r\nNo CRLF"};
    for (int i = 0; i < r->set.nmsgs; i++) {
        esmtp_message *m;
        char addr[64];
        FZ_CHECK(message_new(&m, NULL) == 0);
        snprintf(addr, sizeof addr, "m%d@fuzz.test", i);
        FZ_CHECK(esmtp_message_set_reverse_path(m, addr) == 0);
        for (size_t j = 0; j < r->set.rcpts[i]; j++) {
            snprintf(addr, sizeof addr, "r%d%zu@fuzz.test", i, j);
            FZ_CHECK(esmtp_message_add_recipient(m, addr, NULL) == 0);
        }
        FZ_CHECK(esmtp_message_set_body(m, bodies[i], strlen(bodies[i])) == 0);
        r->msgs[i] = m;
    }
}

/* Moves bytes until neither side has anything more for the other. The
 * client gets the server's bytes in reads of the input's size, TLS bytes
 * only up to the cut, and the corrupted one corrupted. */
static void pump(run *r)
{
    const settings *set = &r->set;
    memtls_server *io = &r->srv.io;
    ebuf wire = {0};
    size_t given = 0;
    int corrupted = 0;
    for (int moved = 1; moved;) {
        moved = 0;
        if (set->corrupt && !corrupted && io->ssl && io->out.len >= io->tls_from + set->corrupt) {
            io->out.data[io->tls_from + set->corrupt - 1] ^= (char)set->xor_mask;
            corrupted = 1;
            r->srv.mutations++;
        }
        size_t avail = io->out.len;
        if (set->cut && io->ssl && avail > io->tls_from + set->cut)
            avail = io->tls_from + set->cut;
        if (given < avail && !engine_done(&r->eng)) {
            size_t n = avail - given;
            if (set->read_size && n > set->read_size)
                n = set->read_size;
            memtls_client_receive(&r->cl, io->out.data + given, n);
            given += n;
            moved = 1;
        }
        ebuf_clear(&wire);
        memtls_client_transmit(&r->cl, &wire);
        if (wire.len) {
            server_recv(&r->srv, wire.data, wire.len);
            moved = 1;
        }
    }
    if (set->cut && io->ssl && io->out.len > io->tls_from + set->cut)
        r->srv.mutations++; /* the cut withheld something */
    ebuf_free(&wire);
}

/* ------------------------------------------------------------ the verdict */

/* Reply k came whole to the engine, with a 2xx code. */
static int accepted(const run *r, size_t k)
{
    const server *s = &r->srv;
    size_t got = (r->clear.len < s->r_clear ? r->clear.len : s->r_clear) + r->secure.len;
    return k < s->nreplies && s->ends[k] <= got && s->codes[k] / 100 == 2;
}

/* Whether transaction t delivered its message: MAIL, a recipient, every
 * chunk and the end of data accepted. */
static int delivered(const run *r, const txn *t)
{
    int rcpt = 0;
    for (size_t i = 0; i < t->nrcpts; i++)
        rcpt |= accepted(r, t->rcpt[i] + 1);
    for (size_t i = 0; i < t->nchunks; i++)
        if (!accepted(r, t->chunk[i] + 1))
            return 0;
    return rcpt && accepted(r, t->mail + 1) && t->has_eod && accepted(r, t->eod + 1);
}

static int rcpt_accepted(const run *r, const txn *t, size_t j)
{
    for (size_t i = 0; i < t->nrcpts; i++)
        if (t->rcpt_of[i] == j && accepted(r, t->rcpt[i] + 1))
            return 1;
    return 0;
}

static int is_prefix(const ebuf *b, const char *of, size_t len)
{
    return b->len <= len && (b->len == 0 || memcmp(b->data, of, b->len) == 0);
}

/* Appends the whole lines of p (n bytes) to out as the parser cuts them:
 * at LF, without a CR before it, each then ended by LF. */
static void whole_lines(const char *p, size_t n, ebuf *out)
{
    for (const char *end = p + n, *nl; p < end && (nl = memchr(p, '\n', (size_t)(end - p)));
         p = nl + 1) {
        size_t len = (size_t)(nl - p);
        FZ_CHECK(ebuf_append(out, p, len && p[len - 1] == '\r' ? len - 1 : len) == 0 &&
                 ebuf_append(out, "\n", 1) == 0);
    }
}

static void check(run *r)
{
    const server *s = &r->srv;
    FZ_CHECK(engine_done(&r->eng) && !engine_wants_write(&r->eng));
    /* TLS delivers what the server wrote, or nothing */
    FZ_CHECK(is_prefix(&r->clear, ebuf_str(&s->io.out), s->io.out.len));
    FZ_CHECK(is_prefix(&r->secure, ebuf_str(&s->r) + s->r_clear, s->r.len - s->r_clear));
    /* the engine read the server's lines, in order, and nothing else: no
     * injected byte, nothing kept from before TLS */
    ebuf want = {0};
    whole_lines(ebuf_str(&s->r), s->r_clear, &want);
    whole_lines(ebuf_str(&s->r) + s->r_clear, s->r.len - s->r_clear, &want);
    FZ_CHECK(is_prefix(&r->lines, ebuf_str(&want), want.len));
    ebuf_free(&want);
    for (int i = 0; i < r->set.nmsgs; i++) {
        const esmtp_message *m = r->msgs[i];
        esmtp_status st = esmtp_message_status(m);
        FZ_CHECK(st != ESMTP_STATUS_PENDING);
        int ok = 0, sent = 0;
        for (size_t t = 0; t < s->ntxns; t++)
            if (s->txns[t].msg == (size_t)i) {
                ok |= delivered(r, &s->txns[t]);
                sent |= s->txns[t].has_eod;
            }
        FZ_CHECK(st != ESMTP_STATUS_OK || ok);
        FZ_CHECK(st != ESMTP_STATUS_UNKNOWN || sent);
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            esmtp_status rs = esmtp_recipient_status(esmtp_message_recipient(m, j));
            FZ_CHECK(rs != ESMTP_STATUS_PENDING);
            int rok = 0;
            for (size_t t = 0; t < s->ntxns; t++)
                if (s->txns[t].msg == (size_t)i)
                    rok |= delivered(r, &s->txns[t]) && rcpt_accepted(r, &s->txns[t], j);
            FZ_CHECK(rs != ESMTP_STATUS_OK || rok);
        }
    }
    /* a wrong server signature, or one over another binding, never
     * passes; a run nothing tampered with logs in */
    int wrong = (r->set.tamper == TAMPER_SIG &&
                 (s->auth_any_mech[MECH_SCRAM] || s->auth_any_mech[MECH_SCRAM_PLUS])) ||
                (r->set.tamper == TAMPER_CB && s->auth_any_mech[MECH_SCRAM_PLUS]);
    FZ_CHECK(!wrong || !r->authenticated);
    if (s->mutations == 0 && s->auth_started && !wrong)
        FZ_CHECK(r->authenticated);
}

static void cert_free(void)
{
    memtls_cert_free(&cert);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memtls_cert_make(&cert);
    atexit(cert_free); /* its temporary CA file */
    memset(long_user, 'u', sizeof long_user - 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HEADER)
        return 0;
    run *r = calloc(1, sizeof *r);
    FZ_CHECK(r != NULL);
    parse(&r->set, data, size);
    r->srv.set = &r->set;
    add_messages(r);
    static const engine_tls modes[] = {[TLS_IMPLICIT] = ENGINE_TLS_IMPLICIT,
                                       [TLS_REQUIRED] = ENGINE_STARTTLS_REQUIRED,
                                       [TLS_OPTIONAL] = ENGINE_STARTTLS_OPTIONAL};
    const engine_config cfg = {
        .tls = modes[r->set.tls],
        .pipelining = r->set.pipelining,
        .chunking = r->set.chunking,
        .want_auth = r->set.want_auth,
        .auth_mechs = r->set.client_mechs,
        .allow_plaintext_auth = r->set.plaintext_auth,
    };
    FZ_CHECK(engine_init(&r->eng, &cfg, &ops, r, r->msgs, (size_t)r->set.nmsgs) == 0);
    memtls_client_init(&r->cl, &r->eng, cert.ca_file, &watch, r);
    r->srv.in.ask_data = 1; /* the server may refuse DATA */
    if (r->set.tls == TLS_IMPLICIT) {
        start_tls(&r->srv); /* the greeting waits for the handshake */
    } else {
        greet(&r->srv);
        flush(&r->srv);
    }
    memtls_client_connected(&r->cl, "client.test");
    pump(r);
    engine_closed(&r->eng, ESMTP_EIO, "the connection was cut");
    check(r);

    memtls_client_free(&r->cl);
    engine_free(&r->eng);
    for (int i = 0; i < r->set.nmsgs; i++)
        message_free(r->msgs[i]);
    server_free(&r->srv);
    ebuf_free(&r->clear);
    ebuf_free(&r->secure);
    ebuf_free(&r->lines);
    free(r);
    return 0;
}
