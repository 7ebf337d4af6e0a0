/* Fuzz target: the SMTP engine (lib/protocol.c with policy.c, commands.c
 * and ehlo.c) driven through whole sessions against a server the input
 * plays. The target keeps its own model of the conversation: it splits
 * what the client sent into commands and what the server sent into replies
 * (with its own rules, not lib/reply.c), pairs them in order, and checks:
 *
 *  - after engine_closed() the engine is done and every message and
 *    recipient has its fate; a session that ended by itself left nothing
 *    pending either; each message got one MESSAGE_DONE, with its final
 *    status; the error, detail, reply code and TLS state agree;
 *  - a message is OK only if its last transaction had MAIL accepted, its
 *    end of data (the dot, or BDAT LAST) sent whole and then answered 2xx,
 *    and no chunk refused; a recipient is OK only if such a transaction of
 *    its message accepted its RCPT, and no later one sends it again;
 *    UNKNOWN only once the end of data left;
 *  - a reply that began before anything awaited it, or a line that is no
 *    reply line, ends the session;
 *  - nothing is sent while EHLO, HELO, STARTTLS, AUTH, DATA, QUIT or the
 *    greeting awaits its reply, nor while any command does unless
 *    PIPELINING was offered and allowed;
 *  - MAIL only outside a transaction (the last one ended with its end of
 *    data, an RSET or a refused MAIL), RCPT, DATA and BDAT only inside;
 *  - no BDAT without CHUNKING and PIPELINING (offered and allowed); no
 *    SIZE=, BODY=8BITMIME, BODY=BINARYMIME, SMTPUTF8, RET=, ENVID=,
 *    NOTIFY=, ORCPT=, REQUIRETLS (which also needs TLS), BY= or
 *    MT-PRIORITY= without the extension in the last EHLO; SIZE= within the
 *    server's limit; no DATA for BINARYMIME; 8-bit addresses only with
 *    SMTPUTF8, 8-bit body bytes only with a BODY= parameter, no bare CR or
 *    LF in a DATA body;
 *  - no STARTTLS unless asked for, offered and not yet in TLS; no AUTH
 *    unless asked for and offered, with a mechanism both sides list, and
 *    one that reveals the password only over TLS or when allowed; no MAIL
 *    before a required STARTTLS, before STARTTLS was tried when offered
 *    (optional mode), or before a required AUTH succeeded;
 *  - the transcript shows each command as sent, except that without
 *    show_secrets AUTH data is hidden and neither the password nor the
 *    token appears, plain or in base64.
 *
 * Input: 3 bytes of settings (see LLVMFuzzerTestOneInput), then per message
 * 5 bytes and 2 per recipient (see build_message), then steps until the
 * input ends: a drain byte (bits 0-1: 0 send all output, 1 the same after
 * switching show_secrets, 2 send bits 2-7 bytes of it, 3 nothing), an op
 * byte and a feed byte (0: the reply in one piece, else pieces of that
 * size). Op 0x00-0x3f answers the (op & 7) + 1 oldest commands awaiting a
 * reply, one class byte each (see answer); 0x40-0x7f a reply from
 * templates[]; 0x80-0xbf an EHLO reply built from 3 bytes (ehlo_reply);
 * 0xc0-0xff a length byte and that many raw bytes. The session ends with
 * engine_closed(ESMTP_EIO or ESMTP_ETIMEOUT).
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include <esmtp/esmtp.h>

#include "buf.h"
#include "fuzz_common.h"
#include "message.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 4
#define MAX_RCPTS 4
#define MAX_STEPS 256
#define MAX_WRITES 64 /* engine_output calls per drain: bodies are small */

/* ------------------------------------------------------------ input */

typedef struct input {
    const uint8_t *p;
    size_t n;
} input;

/* The next input byte, 0 once the input is used up. */
static uint8_t take(input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* ------------------------------------------------------------ tables */

/* Secrets with characters no address or reply template holds. */
static const char password[] = "Pa55:w0rd!secret";
static const char token[] = "ya29.T0ken;secret";
static char password_b64[64], token_b64[64];
static char long_user[401];         /* too long for an initial response */
static char big_body[70000];        /* more than one BDAT chunk */
static char medium_body[20000];     /* more than the engine's low-water mark */

static void tables_init(void)
{
    if (long_user[0])
        return;
    EVP_EncodeBlock((unsigned char *)password_b64, (const unsigned char *)password,
                    (int)strlen(password));
    EVP_EncodeBlock((unsigned char *)token_b64, (const unsigned char *)token,
                    (int)strlen(token));
    memset(long_user, 'u', sizeof long_user - 1);
    for (size_t i = 0; i < sizeof big_body; i++)
        big_body[i] = i % 64 == 62 ? '\r' : i % 64 == 63 ? '\n' : i % 640 == 0 ? '.' : 'a';
    memcpy(medium_body, big_body, sizeof medium_body);
}

/* The caller's mechanism lists. None names SCRAM: its iteration count comes
 * from the server and the engine offers no way to bound it, so a run could
 * take seconds (fuzz_sasl covers SCRAM). */
static const char *const mech_lists[] = {
    "PLAIN", "LOGIN,PLAIN", "CRAM-MD5, LOGIN", "XOAUTH2,OAUTHBEARER", "EXTERNAL",
    " plain , login ", "NOSUCH,CRAM-MD5,PLAIN,LOGIN,XOAUTH2,OAUTHBEARER,EXTERNAL", "OAUTHBEARER",
};

/* Local parts; the tag ("zs" or "zr" and an index) lets the model tell
 * which message or recipient a MAIL or RCPT is for; it replaces the '#'. */
static const char *const locals[] = {
    "#", "#.first+tag", "\"# with space\"", "#\xe7\x94\xa8\xe6\x88\xb7", "#-a.b.c",
    "\"#@quoted\"", "# bad", "#xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
};
/* Domains, none with a tag in it, not even as A-labels. */
static const char *const domains[] = {
    "@x.test", "@b\303\274cher.example",
    "@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "@[192.0.2.1]", "",
    "@xn--bcher-kva.example", "@-bad-.test", "@EXAMPLE.Test",
};
static const char *const envids[] = {NULL, "env-1", "id+1=x y", "caf\xc3\xa9"};
static const char *const orcpts[] = {NULL, "orig@x.test", "\xe7\x94\xa8@\xe4\xbe\x8b.test",
                                     "a+b=c@x.test"};
static const long deliver_by[] = {0, 60, 86400, -30};

/* In-memory bodies; 12-14 take their bytes from the input, 15 is none. */
static const struct {
    const char *s;
    size_t n;
} bodies[] = {
#define B(s) {s, sizeof s - 1}
    B("Subject: hi\r\n\r\nHello.\r\n"), B(""), B("no line end"), B(".\r\n..\r\n.x\r\n"),
    B("Subject: caf\xc3\xa9\r\n\r\n8-bit\r\n"), B("a\nb\rc\r\n"),
    B("Subject: \xe4\xbd\xa0\xe5\xa5\xbd\r\n\r\nx\r\n"), B("bin\0\xff\r\0\n"),
    {big_body, sizeof big_body}, {medium_body, sizeof medium_body},
    B("line\r\n.\r\nafter\r\n"), B("\r\n"),
#undef B
};
#define NBODIES (sizeof bodies / sizeof bodies[0])

static const size_t pieces[] = {0, 1, 2, 3, 5, 7, 16, 100, 1000, 4096, 16384, 65536,
                                11, 13, 64, 512};
static const size_t fail_after[] = {0, 1, 10, 100, 1000, 16385, 65537, 30};

/* ------------------------------------------------------------ the model */

typedef enum kind {
    K_GREETING, K_EHLO, K_HELO, K_STARTTLS, K_AUTH, K_MAIL, K_RCPT, K_DATA, K_DOT, K_BDAT,
    K_RSET, K_QUIT
} kind;

/* RFC 2920 section 3.1 and RFC 3207, 4954: nothing may follow these until
 * they are answered. */
static int ends_group(kind k)
{
    return k == K_GREETING || k == K_EHLO || k == K_HELO || k == K_STARTTLS || k == K_AUTH ||
           k == K_DATA || k == K_QUIT;
}

/* One transaction as the client sent it and the server answered it. */
typedef struct txn {
    int msg;
    int smtputf8, eightbit, binary;
    int mail_code;
    int rcpt_code[MAX_RCPTS];
    int eod_sent;               /* the dot or the BDAT LAST chunk left whole */
    int eod_code;               /* the reply to it */
    int chunk_refused;
} txn;

typedef struct cmd {
    kind k;
    size_t txn;
    int rcpt;
    int last;                   /* BDAT LAST */
    int cancel;                 /* the "*" that cancels AUTH */
} cmd;

typedef struct shown {
    char *s;
    size_t n;
    int secrets;                /* show_secrets was on when it was shown */
} shown;

typedef enum out_state { OUT_CMD, OUT_BODY, OUT_CHUNK } out_state;

typedef struct model {
    /* the client's side */
    out_state out;
    ebuf line;                  /* the command or body line being sent */
    size_t chunk_left;
    int chunk_last;
    cmd *fifo;                  /* sent whole, not yet answered; oldest at head */
    size_t head, len, cap;
    size_t enders;              /* how many of them end a group */
    txn *txns;
    size_t ntxns, txcap;
    int auth_continue;          /* a 334 asked for an AUTH response */
    int rset;                   /* RSET was sent after the last MAIL */
    /* the server's side */
    ebuf caps;                  /* the last EHLO reply's text, lines joined by '\n' */
    int have_caps;
    int tls, auth_ok, starttls_failed;
    ebuf rline;                 /* the reply line being received */
    ebuf rtext;                 /* the reply so far, as lib/reply.h describes its text */
    int rcode, in_reply, due;
    int broken;                 /* a line no reply has, or a reply nothing awaited: the
                                   engine must end the session, the model stops */
    /* the transcript's client lines */
    shown *shown;
    size_t nshown, shcap, next_shown;
} model;

typedef struct stream {
    const char *s;
    size_t n, pos, piece, fail_at;
    int rewind_fails;
} stream;

typedef struct run {
    engine e;
    engine_config cfg;
    esmtp_message *msgs[MAX_MSGS];
    size_t nmsgs;
    stream streams[MAX_MSGS];
    int null_msg;               /* the message with the null reverse-path, or -1 */
    int done_events[MAX_MSGS];
    esmtp_status done_status[MAX_MSGS];
    unsigned events, abort_at;
    const char *user;
    int no_password, with_token, authzid, creds_fail;
    model md;
} run;

static int has(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

static int starts(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && strncasecmp(s, prefix, k) == 0;
}

static int is_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* The parameters of an extension the last EHLO offered (keyword up to the
 * first space, any case; the first line is the server's name), or NULL. */
static const char *cap_find(const model *md, const char *kw, size_t *plen)
{
    if (!md->have_caps)
        return NULL;
    size_t kn = strlen(kw);
    for (const char *nl = strchr(ebuf_str(&md->caps), '\n'); nl;) {
        const char *line = nl + 1;
        nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line), k = 0;
        while (k < len && line[k] != ' ')
            k++;
        if (k == kn && strncasecmp(line, kw, kn) == 0) {
            while (k < len && line[k] == ' ')
                k++;
            if (plen)
                *plen = len - k;
            return line + k;
        }
    }
    return NULL;
}

static int offered(const model *md, const char *kw)
{
    return cap_find(md, kw, NULL) != NULL;
}

static int pipelining(const run *g)
{
    return g->cfg.pipelining && offered(&g->md, "PIPELINING");
}

/* The transaction that RCPT, DATA and BDAT belong to: MAIL was sent, and
 * neither RSET nor its end of data since. */
static txn *cur_txn(model *md)
{
    FZ_CHECK(md->ntxns > 0 && !md->rset && !md->txns[md->ntxns - 1].eod_sent);
    return &md->txns[md->ntxns - 1];
}

static void push(model *md, kind k, int rcpt, int last, int cancel)
{
    if (md->len == md->cap) {
        md->cap = md->cap ? md->cap * 2 : 16;
        md->fifo = realloc(md->fifo, md->cap * sizeof *md->fifo);
        FZ_CHECK(md->fifo != NULL);
    }
    size_t t = md->ntxns ? md->ntxns - 1 : 0;
    md->fifo[md->len++] = (cmd){k, t, rcpt, last, cancel};
    md->enders += ends_group(k);
}

/* The next transcript line of the client must show this command: as sent,
 * or, for AUTH data without show_secrets, with everything from data_off
 * hidden. */
static void check_shown(run *g, const char *s, size_t n, int auth, size_t data_off)
{
    model *md = &g->md;
    FZ_CHECK(md->next_shown < md->nshown);
    const shown *t = &md->shown[md->next_shown++];
    if (!auth || t->secrets || data_off == n || (n == 1 && s[0] == '*')) {
        FZ_CHECK(t->n == n && memcmp(t->s, s, n) == 0);
        return;
    }
    FZ_CHECK(t->n >= data_off && memcmp(t->s, s, data_off) == 0);
    char *data = fz_alloc(n - data_off + 1);
    memcpy(data, s + data_off, n - data_off);
    data[n - data_off] = '\0';
    FZ_CHECK(!has(t->s, t->n, data));
    free(data);
}

/* Whether name is in the comma-separated list (spaces around ignored). */
static int in_list(const char *list, const char *name, size_t n)
{
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *w = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        while (e > w && e[-1] == ' ')
            e--;
        if ((size_t)(e - w) == n && strncasecmp(w, name, n) == 0)
            return 1;
    }
    return 0;
}

/* Whether name is among the space- or tab-separated words of list. */
static int in_words(const char *list, size_t len, const char *name, size_t n)
{
    for (size_t i = 0; i < len;) {
        while (i < len && (list[i] == ' ' || list[i] == '\t'))
            i++;
        size_t j = i;
        while (j < len && list[j] != ' ' && list[j] != '\t')
            j++;
        if (j - i == n && strncasecmp(list + i, name, n) == 0)
            return 1;
        i = j;
    }
    return 0;
}

static void on_auth_cmd(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    size_t mech = 5, end = mech;
    while (end < n && s[end] != ' ')
        end++;
    size_t plen;
    const char *offer = cap_find(md, "AUTH", &plen);
    FZ_CHECK(g->cfg.want_auth && !md->auth_ok && offer);
    FZ_CHECK(in_words(offer, plen, s + mech, end - mech));
    FZ_CHECK(in_list(g->cfg.auth_mechs, s + mech, end - mech));
    /* sent in clear, these give the password or token away */
    FZ_CHECK(md->tls || g->cfg.allow_plaintext_auth ||
             (end - mech == 8 && strncasecmp(s + mech, "EXTERNAL", 8) == 0));
    check_shown(g, s, n, 1, end < n ? end + 1 : n);
    push(md, K_AUTH, 0, 0, 0);
}

/* "VERB:<path> params": the path, and the parameters it returns. */
static const char *split_path(const char *s, size_t n, size_t verb, const char **path,
                              size_t *plen)
{
    FZ_CHECK(n > verb && s[verb - 1] == '<');
    const char *gt = memchr(s + verb, '>', n - verb);
    FZ_CHECK(gt != NULL);
    *path = s + verb;
    *plen = (size_t)(gt - *path);
    return gt + 1;
}

/* The index after a tag ("zs3") in a path, or -1 when there is none. */
static int tag(const char *path, size_t n, char c)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (path[i] == 'z' && path[i + 1] == c && path[i + 2] >= '0' && path[i + 2] <= '9')
            return path[i + 2] - '0';
    return -1;
}

/* One parameter of MAIL (mail) or RCPT. */
static void check_param(run *g, txn *t, const char *p, size_t n, int mail)
{
    model *md = &g->md;
    if (!mail) {
        FZ_CHECK(starts(p, n, "NOTIFY=") || starts(p, n, "ORCPT="));
        FZ_CHECK(offered(md, "DSN"));
        return;
    }
    if (starts(p, n, "SIZE=")) {
        size_t plen;
        const char *limit = cap_find(md, "SIZE", &plen);
        FZ_CHECK(limit != NULL);
        char a[32] = "", b[32] = "";
        snprintf(a, sizeof a, "%.*s", (int)(plen < 31 ? plen : 31), limit);
        snprintf(b, sizeof b, "%.*s", (int)(n - 5 < 31 ? n - 5 : 31), p + 5);
        unsigned long long max = strtoull(a, NULL, 10);
        FZ_CHECK(max == 0 || strtoull(b, NULL, 10) <= max);
    } else if (n == 13 && starts(p, n, "BODY=8BITMIME")) {
        FZ_CHECK(offered(md, "8BITMIME"));
        t->eightbit = 1;
    } else if (n == 15 && starts(p, n, "BODY=BINARYMIME")) {
        FZ_CHECK(offered(md, "BINARYMIME") && offered(md, "CHUNKING"));
        t->binary = 1;
    } else if (n == 8 && starts(p, n, "SMTPUTF8")) {
        FZ_CHECK(offered(md, "SMTPUTF8"));
        t->smtputf8 = 1;
    } else if (starts(p, n, "RET=") || starts(p, n, "ENVID=")) {
        FZ_CHECK(offered(md, "DSN"));
    } else if (n == 10 && starts(p, n, "REQUIRETLS")) {
        FZ_CHECK(offered(md, "REQUIRETLS") && md->tls);
    } else if (starts(p, n, "BY=")) {
        FZ_CHECK(offered(md, "DELIVERBY"));
    } else {
        FZ_CHECK(starts(p, n, "MT-PRIORITY="));
        FZ_CHECK(offered(md, "MT-PRIORITY"));
    }
}

static void check_params(run *g, txn *t, const char *q, size_t n, int mail)
{
    for (size_t i = 0; i < n;) {
        while (i < n && q[i] == ' ')
            i++;
        size_t j = i;
        while (j < n && q[j] != ' ')
            j++;
        if (j > i)
            check_param(g, t, q + i, j - i, mail);
        i = j;
    }
}

static void on_mail(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    FZ_CHECK(g->cfg.tls != ENGINE_STARTTLS_REQUIRED || md->tls);
    FZ_CHECK(g->cfg.tls != ENGINE_STARTTLS_OPTIONAL || md->tls || md->starttls_failed ||
             !offered(md, "STARTTLS"));
    FZ_CHECK(!g->cfg.want_auth || md->auth_ok);
    /* not inside the last transaction: it ended with its end of data, an
     * RSET, or a refused MAIL */
    const txn *prev = md->ntxns ? &md->txns[md->ntxns - 1] : NULL;
    FZ_CHECK(!prev || prev->eod_sent || md->rset ||
             (prev->mail_code && prev->mail_code / 100 != 2));
    md->rset = 0;
    if (md->ntxns == md->txcap) {
        md->txcap = md->txcap ? md->txcap * 2 : 8;
        md->txns = realloc(md->txns, md->txcap * sizeof *md->txns);
        FZ_CHECK(md->txns != NULL);
    }
    txn *t = &md->txns[md->ntxns++];
    memset(t, 0, sizeof *t);
    const char *path;
    size_t plen;
    const char *q = split_path(s, n, 11, &path, &plen);
    check_params(g, t, q, n - (size_t)(q - s), 1);
    FZ_CHECK(!is_8bit(path, plen) || t->smtputf8);
    t->msg = plen ? tag(path, plen, 's') : g->null_msg;
    FZ_CHECK(t->msg >= 0 && (size_t)t->msg < g->nmsgs);
    check_shown(g, s, n, 0, 0);
    push(md, K_MAIL, 0, 0, 0);
}

/* Whether message i's transaction t was delivered by the server's word. */
static int delivered(size_t i, const txn *t)
{
    return t->msg == (int)i && t->mail_code / 100 == 2 && t->eod_sent &&
           t->eod_code / 100 == 2 && !t->chunk_refused;
}

static void on_rcpt(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    txn *t = cur_txn(md);
    const char *path;
    size_t plen;
    const char *q = split_path(s, n, 9, &path, &plen);
    check_params(g, t, q, n - (size_t)(q - s), 0);
    FZ_CHECK(!is_8bit(path, plen) || t->smtputf8);
    int r = tag(path, plen, 'r');
    FZ_CHECK(r >= 0 && (size_t)r < esmtp_message_recipient_count(g->msgs[t->msg]));
    /* a follow-up must not deliver to a recipient a second time */
    for (const txn *u = md->txns; u < t; u++)
        FZ_CHECK(!(delivered((size_t)t->msg, u) && u->rcpt_code[r] / 100 == 2));
    check_shown(g, s, n, 0, 0);
    push(md, K_RCPT, r, 0, 0);
}

/* "BDAT n" or "BDAT n LAST": the chunk of n bytes follows. */
static void on_bdat(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    FZ_CHECK(g->cfg.chunking && pipelining(g) && offered(md, "CHUNKING"));
    cur_txn(md);
    size_t i = 5, v = 0;
    FZ_CHECK(i < n && s[i] >= '0' && s[i] <= '9');
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (size_t)(s[i] - '0');
    md->chunk_last = i < n;
    FZ_CHECK(i == n || (n - i == 5 && memcmp(s + i, " LAST", 5) == 0));
    md->chunk_left = v;
    md->out = OUT_CHUNK;
    check_shown(g, s, n, 0, 0);
}

static void end_chunk(model *md)
{
    txn *t = cur_txn(md);
    if (md->chunk_last)
        t->eod_sent = 1;
    md->out = OUT_CMD;
    push(md, K_BDAT, 0, md->chunk_last, 0);
}

/* A whole command line (without CRLF) left. */
static void command_sent(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    FZ_CHECK(!memchr(s, '\r', n) && !memchr(s, '\n', n));
    if (md->auth_continue) {
        md->auth_continue = 0;
        int cancel = n == 1 && s[0] == '*';
        check_shown(g, s, n, 1, 0);
        push(md, K_AUTH, 0, 0, cancel);
    } else if (starts(s, n, "EHLO ") || starts(s, n, "HELO ")) {
        check_shown(g, s, n, 0, 0);
        push(md, s[0] == 'E' ? K_EHLO : K_HELO, 0, 0, 0);
    } else if (n == 8 && starts(s, n, "STARTTLS")) {
        FZ_CHECK(g->cfg.tls == ENGINE_STARTTLS_OPTIONAL || g->cfg.tls == ENGINE_STARTTLS_REQUIRED);
        FZ_CHECK(!md->tls && offered(md, "STARTTLS"));
        check_shown(g, s, n, 0, 0);
        push(md, K_STARTTLS, 0, 0, 0);
    } else if (starts(s, n, "AUTH ")) {
        on_auth_cmd(g, s, n);
    } else if (starts(s, n, "MAIL FROM:")) {
        on_mail(g, s, n);
    } else if (starts(s, n, "RCPT TO:")) {
        on_rcpt(g, s, n);
    } else if (n == 4 && starts(s, n, "DATA")) {
        FZ_CHECK(!cur_txn(md)->binary); /* RFC 3030: BINARYMIME goes by BDAT only */
        check_shown(g, s, n, 0, 0);
        push(md, K_DATA, 0, 0, 0);
    } else if (starts(s, n, "BDAT ")) {
        on_bdat(g, s, n);
    } else {
        FZ_CHECK((n == 4 && starts(s, n, "RSET")) || (n == 4 && starts(s, n, "QUIT")));
        check_shown(g, s, n, 0, 0);
        md->rset |= s[0] == 'R';
        push(md, s[0] == 'R' ? K_RSET : K_QUIT, 0, 0, 0);
    }
}

/* A whole body line (without CRLF) left after the 354. */
static void body_line_sent(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    if (n == 1 && s[0] == '.') {
        check_shown(g, s, n, 0, 0);
        cur_txn(md)->eod_sent = 1;
        md->out = OUT_CMD;
        push(md, K_DOT, 0, 0, 0);
        return;
    }
    FZ_CHECK(!memchr(s, '\r', n) && !memchr(s, '\n', n));
    FZ_CHECK(!is_8bit(s, n) || cur_txn(md)->eightbit);
}

/* Bytes the engine sent, as the server receives them. */
static void model_sent(run *g, const char *p, size_t n)
{
    model *md = &g->md;
    for (size_t i = 0; i < n; i++) {
        /* each byte is sent while the commands in the fifo await replies */
        FZ_CHECK(md->head == md->len || (md->enders == 0 && pipelining(g)));
        if (md->out == OUT_CHUNK) {
            size_t k = n - i < md->chunk_left ? n - i : md->chunk_left;
            FZ_CHECK(!is_8bit(p + i, k) || cur_txn(md)->eightbit || cur_txn(md)->binary);
            md->chunk_left -= k;
            i += k - 1;
            if (md->chunk_left == 0)
                end_chunk(md);
            continue;
        }
        FZ_CHECK(ebuf_append(&md->line, p + i, 1) == 0);
        size_t len = md->line.len;
        if (len < 2 || memcmp(md->line.data + len - 2, "\r\n", 2) != 0)
            continue;
        if (md->out == OUT_CMD)
            command_sent(g, md->line.data, len - 2);
        else
            body_line_sent(g, md->line.data, len - 2);
        ebuf_clear(&md->line);
        if (md->out == OUT_CHUNK && md->chunk_left == 0)
            end_chunk(md);
    }
}

/* A complete reply paired with the oldest command awaiting one. */
static void reply_done(run *g)
{
    model *md = &g->md;
    if (!md->due) {
        md->broken = 1;
        return;
    }
    cmd c = md->fifo[md->head++];
    md->enders -= ends_group(c.k);
    if (md->head == md->len)
        md->head = md->len = 0;
    int code = md->rcode, ok = code / 100 == 2;
    txn *t = c.k >= K_MAIL && c.k <= K_BDAT ? &md->txns[c.txn] : NULL;
    switch (c.k) {
    case K_EHLO:
        md->have_caps = ok;
        ebuf_clear(&md->caps);
        FZ_CHECK(ebuf_append(&md->caps, md->rtext.data, md->rtext.len) == 0);
        break;
    case K_HELO:
        md->have_caps = 0;
        break;
    case K_STARTTLS:
        md->starttls_failed |= code != 220;
        break;
    case K_AUTH:
        md->auth_continue = code == 334 && !c.cancel;
        md->auth_ok |= code == 235 && !c.cancel;
        break;
    case K_MAIL:
        t->mail_code = code;
        break;
    case K_RCPT:
        t->rcpt_code[c.rcpt] = code;
        break;
    case K_DATA:
        if (code / 100 == 3)
            md->out = OUT_BODY;
        break;
    case K_DOT:
        t->eod_code = code;
        break;
    case K_BDAT:
        t->chunk_refused |= !ok;
        if (c.last)
            t->eod_code = code;
        break;
    default:
        break;
    }
}

/* Length of an RFC 3463 code "c.d{1,3}.d{1,3}" at s whose class is the
 * reply's (not 3), or 0; the text of each line starts after it. */
static size_t enhanced_len(const char *s, size_t n, char cls)
{
    if (cls == '3' || n < 5 || s[0] != cls || s[1] != '.')
        return 0;
    size_t i = 2;
    for (int part = 0; part < 2; part++) {
        size_t d = 0;
        while (i + d < n && d < 4 && s[i + d] >= '0' && s[i + d] <= '9')
            d++;
        if (d < 1 || d > 3)
            return 0;
        i += d;
        if (part == 0 && (i >= n || s[i++] != '.'))
            return 0;
    }
    return i < n && s[i] != ' ' ? 0 : i;
}

/* One whole line from the server (LF removed). */
static void server_line(run *g, const char *s, size_t n)
{
    model *md = &g->md;
    if (n && s[n - 1] == '\r')
        n--;
    if (n < 3 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] < '0' ||
        s[2] > '9' || (n > 3 && s[3] != ' ' && s[3] != '-')) {
        md->broken = 1;
        return;
    }
    if (!md->in_reply) {
        md->rcode = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
        ebuf_clear(&md->rtext);
        FZ_CHECK(ebuf_append(&md->rtext, "", 0) == 0);
    } else {
        FZ_CHECK(ebuf_append(&md->rtext, "\n", 1) == 0);
    }
    const char *text = n > 3 ? s + 4 : s + n;
    size_t tlen = n > 3 ? n - 4 : 0, e = enhanced_len(text, tlen, s[0]);
    if (e) {
        e += e < tlen;
        text += e;
        tlen -= e;
    }
    FZ_CHECK(ebuf_append(&md->rtext, text, tlen) == 0);
    md->in_reply = n > 3 && s[3] == '-';
    if (!md->in_reply)
        reply_done(g);
}

/* Bytes the server sends, split into replies at line ends. */
static void model_recv(run *g, const char *p, size_t n)
{
    model *md = &g->md;
    for (size_t i = 0; i < n && !md->broken; i++) {
        if (!md->in_reply && md->rline.len == 0)
            md->due = md->head < md->len; /* decided when a reply begins */
        if (p[i] != '\n') {
            FZ_CHECK(ebuf_append(&md->rline, p + i, 1) == 0);
            continue;
        }
        server_line(g, ebuf_str(&md->rline), md->rline.len);
        ebuf_clear(&md->rline);
    }
}

/* The TLS handshake after STARTTLS "succeeded": everything learned in
 * clear is forgotten. */
static void tls_started(run *g)
{
    model *md = &g->md;
    md->tls = 1;
    md->have_caps = md->auth_ok = md->starttls_failed = 0;
    ebuf_clear(&md->rline);
    md->in_reply = 0;
    FZ_CHECK(engine_tls_started(&g->e) == 0);
}

/* ------------------------------------------------------------ callbacks */

static int on_event(void *ud, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                    uint64_t bytes)
{
    (void)r, (void)bytes;
    run *g = ud;
    if (ev == ESMTP_EVENT_MESSAGE_DONE) {
        size_t i = 0;
        while (i < g->nmsgs && g->msgs[i] != m)
            i++;
        FZ_CHECK(i < g->nmsgs);
        g->done_events[i]++;
        g->done_status[i] = esmtp_message_status(m);
        FZ_CHECK(g->done_status[i] != ESMTP_STATUS_PENDING);
    }
    return g->abort_at && ++g->events == g->abort_at;
}

static void on_transcript(void *ud, esmtp_direction dir, const char *line, size_t len)
{
    run *g = ud;
    model *md = &g->md;
    if (dir == ESMTP_FROM_SERVER)
        return; /* the input's own bytes */
    if (!g->cfg.show_secrets)
        FZ_CHECK(!has(line, len, password) && !has(line, len, token) &&
                 !has(line, len, password_b64) && !has(line, len, token_b64));
    if (dir != ESMTP_FROM_CLIENT)
        return;
    if (md->nshown == md->shcap) {
        md->shcap = md->shcap ? md->shcap * 2 : 16;
        md->shown = realloc(md->shown, md->shcap * sizeof *md->shown);
        FZ_CHECK(md->shown != NULL);
    }
    shown *s = &md->shown[md->nshown++];
    s->s = fz_alloc(len + 1);
    memcpy(s->s, line, len);
    s->s[len] = '\0';
    s->n = len;
    s->secrets = g->cfg.show_secrets;
}

static int on_credentials(void *ud, sasl_creds *creds, unsigned char cb[32], char *tok,
                          size_t cap)
{
    (void)cb;
    run *g = ud;
    if (g->creds_fail)
        return ESMTP_ECALLBACK;
    creds->user = g->user;
    creds->password = g->no_password ? NULL : password;
    creds->authzid = g->authzid ? "admin" : NULL;
    creds->host = "mx.test";
    creds->port = 587;
    if (g->with_token) {
        snprintf(tok, cap, "%s", token);
        creds->token = tok;
    }
    return 0;
}

static const engine_ops ops = {on_event, on_transcript, on_credentials};

static long stream_read(esmtp_message *m, void *buf, size_t len, void *ud)
{
    (void)m;
    stream *st = ud;
    if (st->fail_at && st->pos >= st->fail_at)
        return -1;
    size_t n = st->n - st->pos;
    if (st->piece && n > st->piece)
        n = st->piece;
    if (n > len)
        n = len;
    memcpy(buf, st->s + st->pos, n);
    st->pos += n;
    return (long)n;
}

static int stream_rewind(esmtp_message *m, void *ud)
{
    (void)m;
    stream *st = ud;
    st->pos = 0;
    return st->rewind_fails;
}

/* ------------------------------------------------------------ setting up */

static void make_address(char *out, size_t cap, const char *prefix, int idx, uint8_t form)
{
    const char *local = locals[form & 7], *mark = strchr(local, '#');
    snprintf(out, cap, "%.*s%s%d%s%s", (int)(mark - local), local, prefix, idx, mark + 1,
             domains[(form >> 3) & 7]);
}

/* Per message: m0 bits 0-1 recipients - 1, 2-7 the sender's address (7 in
 * bits 2-4: the null reverse-path, once); m1 bits 0-3 the body, 4 streamed,
 * 5 with a rewind callback, 6 size declared, 7 8-bit declared; m2 bits 0
 * binary, 1 UTF-8 headers, 2 REQUIRETLS, 3 bare newlines refused, 4 DSN
 * required, 5-6 RET, 7 ENVID; m3 bits 0-1 deliver-by, 2 return if late, 3
 * size declared wrong, 4-7 priority + 8; m4 the streamed body's read size
 * (bits 0-3), failure (4-6) and failing rewind (7). Per recipient: r0 its
 * address, r1 bits 0-3 NOTIFY, 4-5 ORCPT, 6-7 ENVID. */
static void build_message(run *g, input *in)
{
    size_t k = g->nmsgs;
    esmtp_message *m;
    FZ_CHECK(message_new(&m, NULL) == 0);
    g->msgs[g->nmsgs++] = m;
    uint8_t m0 = take(in), m1 = take(in), m2 = take(in), m3 = take(in), m4 = take(in);
    char addr[256];
    if (((m0 >> 2) & 7) == 7 && g->null_msg < 0) {
        g->null_msg = (int)k;
        addr[0] = '\0';
    } else {
        make_address(addr, sizeof addr, "zs", (int)k, m0 >> 2);
    }
    esmtp_message_set_reverse_path(m, addr);
    size_t nr = (m0 & 3) + 1;
    for (size_t i = 0; i < nr; i++) {
        uint8_t r0 = take(in), r1 = take(in);
        esmtp_recipient *r;
        make_address(addr, sizeof addr, "zr", (int)esmtp_message_recipient_count(m), r0);
        if (esmtp_message_add_recipient(m, addr, &r) != 0)
            continue;
        esmtp_recipient_set_dsn_notify(r, r1 & 15);
        esmtp_recipient_set_dsn_orcpt(r, orcpts[(r1 >> 4) & 3]);
        if (r1 >> 6)
            esmtp_message_set_dsn_envid(m, envids[r1 >> 6]);
    }
    const char *body = NULL;
    size_t blen = 0;
    if ((m1 & 15) < NBODIES) {
        body = bodies[m1 & 15].s;
        blen = bodies[m1 & 15].n;
    } else if ((m1 & 15) < 15) {
        blen = take(in);
        blen = blen < in->n ? blen : in->n;
        body = (const char *)in->p;
        in->p += blen;
        in->n -= blen;
    }
    stream *st = &g->streams[k];
    if (body && (m1 & 16)) {
        *st = (stream){body, blen, 0, pieces[m4 & 15], fail_after[(m4 >> 4) & 7], m4 >> 7};
        esmtp_message_set_body_cb(m, stream_read, st);
        if (m1 & 32)
            esmtp_message_set_body_rewind_cb(m, stream_rewind);
    } else if (body) {
        esmtp_message_set_body(m, body, blen);
    }
    if (m1 & 64)
        esmtp_message_set_size(m, m3 & 8 ? 1000000000 : blen);
    esmtp_message_set_8bit(m, m1 >> 7);
    esmtp_message_set_binary(m, m2 & 1);
    esmtp_message_set_utf8_headers(m, (m2 >> 1) & 1);
    esmtp_message_set_requiretls(m, (m2 >> 2) & 1);
    esmtp_message_set_newline_policy(m, (m2 >> 3) & 1 ? ESMTP_NEWLINE_REJECT
                                                      : ESMTP_NEWLINE_NORMALIZE);
    esmtp_message_set_dsn_required(m, (m2 >> 4) & 1);
    esmtp_message_set_dsn_ret(m, (esmtp_dsn_ret)((m2 >> 5) & 3));
    if (m2 >> 7)
        esmtp_message_set_dsn_envid(m, "env+id=1");
    esmtp_message_set_deliver_by(m, deliver_by[m3 & 3], (m3 >> 2) & 1);
    esmtp_message_set_priority(m, (int)(m3 >> 4) - 8);
}

/* ------------------------------------------------------------ the server */

static void put_line(ebuf *out, const char *s, size_t n, int lf)
{
    FZ_CHECK(ebuf_append(out, s, n) == 0);
    FZ_CHECK(ebuf_append_str(out, lf ? "\n" : "\r\n") == 0);
}

static const char *const ext_names[] = {
    "PIPELINING", "CHUNKING", "SIZE", "8BITMIME", "SMTPUTF8", "DSN", "AUTH", "STARTTLS",
    "BINARYMIME", "REQUIRETLS", "DELIVERBY", "MT-PRIORITY", "ENHANCEDSTATUSCODES",
};
static const char *const size_params[] = {
    "", " 0", " 10", " 100", " 1000", " 100000", " 99999999999999999999", " abc",
    "  5000", " 64", " 20", " 70000", " 19", " 1", " 200", " 30",
};
static const char *const auth_params[] = {
    " PLAIN LOGIN", " LOGIN", " CRAM-MD5 PLAIN", " XOAUTH2 OAUTHBEARER", " EXTERNAL",
    " SCRAM-SHA-256 PLAIN", " plain", "", " LOGIN PLAIN CRAM-MD5 XOAUTH2 OAUTHBEARER EXTERNAL",
    "=PLAIN LOGIN", " PLAIN\tLOGIN", " NOSUCH", " CRAM-MD5", " OAUTHBEARER", " LOGIN PLAIN",
    " XOAUTH2",
};

/* An EHLO reply: b0 and bits 0-4 of b1 pick extensions from ext_names;
 * b1 bit 5 lower case, 6 an enhanced code on each line, 7 LF line ends;
 * b2 the SIZE (bits 0-3) and AUTH (4-7) parameters. */
static void ehlo_reply(ebuf *out, uint8_t b0, uint8_t b1, uint8_t b2)
{
    unsigned mask = b0 | (unsigned)(b1 & 31) << 8;
    int lf = b1 >> 7;
    const char *enh = b1 & 64 ? "2.0.0 " : "";
    size_t count = 0, n = sizeof ext_names / sizeof *ext_names;
    for (size_t i = 0; i < n; i++)
        count += (mask >> i) & 1;
    char line[160];
    int len = snprintf(line, sizeof line, "250%c%smx.test greets you", count ? '-' : ' ', enh);
    put_line(out, line, (size_t)len, lf);
    for (size_t i = 0; i < n; i++) {
        if (!((mask >> i) & 1))
            continue;
        const char *param = i == 2 ? size_params[b2 & 15] : i == 6 ? auth_params[b2 >> 4] : "";
        len = snprintf(line, sizeof line, "250%c%s%s%s", --count ? '-' : ' ', enh,
                       ext_names[i], param);
        if (b1 & 32)
            for (int c = 4; c < len; c++)
                if (line[c] >= 'A' && line[c] <= 'Z')
                    line[c] = (char)(line[c] - 'A' + 'a');
        put_line(out, line, (size_t)len, lf);
    }
}

/* What a server says to each command when all is well. */
static const char *const success[] = {
    [K_GREETING] = "220 mx.test ESMTP ready",
    [K_HELO] = "250 mx.test",
    [K_STARTTLS] = "220 2.0.0 Ready to start TLS",
    [K_AUTH] = "235 2.7.0 Authentication successful",
    [K_MAIL] = "250 2.1.0 Sender OK",
    [K_RCPT] = "250 2.1.5 Recipient OK",
    [K_DATA] = "354 End data with <CR><LF>.<CR><LF>",
    [K_DOT] = "250 2.0.0 Ok: queued as 4FzQ",
    [K_BDAT] = "250 2.0.0 Chunk accepted",
    [K_RSET] = "250 2.0.0 Ok",
    [K_QUIT] = "221 2.0.0 Bye",
};
/* Replies out of the common path, by class byte bits 2-4. */
static const char *const odd[] = {
    "334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "334 ",
    "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+",
    "334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIn0=", "251 2.1.5 User not local; will forward",
    "354 go ahead", "250 2.0.0 Ok",
};
static const char *const temporary[] = {
    "421 4.3.2 Service shutting down", "450 4.2.1 Mailbox busy",
    "451 4.3.0 Local error in processing", "452 4.5.3 Too many recipients",
    "454 4.7.0 TLS not available", "452 4.3.1 Insufficient system storage",
    "432 4.7.12 A password transition is needed", "451 4.7.1 Greylisted, try again",
};
static const char *const permanent[] = {
    "550 5.1.1 User unknown", "554 5.7.1 Rejected", "501 5.5.4 Syntax error in parameters",
    "555 5.5.4 Parameters not recognised", "503 5.5.1 Bad sequence of commands",
    "535 5.7.8 Authentication credentials invalid", "502 5.5.2 Command not implemented",
    "552 5.3.4 Message size exceeds fixed limit",
};

/* A reply to a command of kind k: class byte bits 0-1 success, odd,
 * temporary, permanent; 2-4 which; 5 a line before it; 6 LF line ends; 7
 * no enhanced code. An EHLO success takes 3 more bytes (ehlo_reply). */
static void answer(ebuf *out, kind k, input *in)
{
    uint8_t c = take(in);
    int lf = (c >> 6) & 1;
    if ((c & 3) == 0 && k == K_EHLO) {
        uint8_t b0 = take(in), b1 = take(in), b2 = take(in);
        ehlo_reply(out, b0, b1, b2);
        return;
    }
    const char *const *table[] = {success, odd, temporary, permanent};
    const char *r = (c & 3) == 0 ? success[k] : table[c & 3][(c >> 2) & 7];
    char line[160];
    snprintf(line, sizeof line, "%s", r);
    if (c >> 7) {
        size_t e = enhanced_len(line + 4, strlen(line + 4), line[0]);
        memmove(line + 4, line + 4 + e + (e > 0), strlen(line + 4 + e + (e > 0)) + 1);
    }
    if ((c >> 5) & 1) {
        char first[16];
        int n = snprintf(first, sizeof first, "%.3s-first line", line);
        put_line(out, first, (size_t)n, lf);
    }
    put_line(out, line, strlen(line), lf);
}

/* Whole replies, as servers send them (some broken; one holds a NUL). */
static const struct {
    const char *s;
    size_t n;
} templates[] = {
#define T(s) {s, sizeof s - 1}
    T("220 mx.test ESMTP\r\n"), T("220-mx.test ESMTP\r\n220 no UCE\r\n"),
    T("554 5.7.1 No service\r\n"), T("421 4.3.2 Too busy\r\n"),
    T("250-mx.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
    T("250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n250 DSN\r\n"),
    T("250-mx.test\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"), T("250 mx.test\r\n"),
    T("502 5.5.2 What?\r\n"), T("250 2.1.0 Ok\r\n"), T("251 2.1.5 Forwarding\r\n"),
    T("354 Go\r\n"), T("421 4.4.2 Timeout\r\n"), T("451 4.3.0 Later\r\n"),
    T("452 4.5.3 Too many recipients\r\n"), T("501 5.5.4 Bad parameters\r\n"),
    T("555 5.5.4 Unsupported parameter\r\n"), T("550 5.1.1 No such user\r\n"),
    T("554 5.5.1 No valid recipients\r\n"), T("503 5.5.1 Need MAIL\r\n"),
    T("334 VXNlcm5hbWU6\r\n"), T("334 UGFzc3dvcmQ6\r\n"), T("334 \r\n"),
    T("334 PDEyMzQ1QG14LnRlc3Q+\r\n"), T("334 eyJzdGF0dXMiOiI0MDEifQ==\r\n"),
    T("334 !!bad\r\n"), T("235 2.7.0 Ok\r\n"), T("535 5.7.8 Bad credentials\r\n"),
    T("220 2.0.0 Start TLS\r\n"), T("454 4.7.0 No TLS\r\n"), T("221 2.0.0 Bye\r\n"),
    T("250-2.0.0 chunk\r\n250 2.0.0 queued\r\n"), T("250 2.0.0 Ok\r\n250 2.1.5 Ok\r\n354 Go\r\n"),
    T("250 ok\n"), T("garbage\r\n"), T("0\r\n"), T("250"), T("250 \r\n"),
    T("250-a\r\n251 b\r\n"), T("250 ok\r\n\r\n"), T("250\0ok\r\n"),
    T("220 mx.test ESMTP\r\n250 surprise\r\n"), T("552 5.3.4 Too big\r\n"),
    T("250-mx.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250 8BITMIME\r\n"),
    T("250-mx.test\r\n250-SMTPUTF8\r\n250-REQUIRETLS\r\n250-DELIVERBY 60\r\n250 MT-PRIORITY\r\n"),
    T("250 2.0.0 Ok\r\n"), T("354 \r\n"), T("235 \r\n"), T("530 5.7.0 Authentication required\r\n"),
    T("538 5.7.11 Encryption required\r\n"), T("500 5.5.1 Line too long\r\n"),
#undef T
};
#define NTEMPLATES (sizeof templates / sizeof templates[0])

/* ------------------------------------------------------------ the run */

static void check_decided(const run *g)
{
    for (size_t i = 0; i < g->nmsgs; i++) {
        const esmtp_message *m = g->msgs[i];
        FZ_CHECK(esmtp_message_status(m) != ESMTP_STATUS_PENDING);
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++)
            FZ_CHECK(esmtp_recipient_status(esmtp_message_recipient(m, j)) !=
                     ESMTP_STATUS_PENDING);
    }
}

/* Everything the engine wants to send now (partial: at most limit bytes). */
static void drain(run *g, int partial, size_t limit)
{
    for (int w = 0; w < MAX_WRITES && !engine_done(&g->e); w++) {
        const char *p;
        size_t n;
        if (engine_output(&g->e, &p, &n) != 0) {
            FZ_CHECK(engine_done(&g->e));
            break;
        }
        if (partial && n > limit)
            n = limit;
        if (n == 0)
            break;
        model_sent(g, p, n);
        if (engine_sent(&g->e, n) != 0)
            FZ_CHECK(engine_done(&g->e));
        if (partial)
            break;
    }
}

/* Feeds the server's bytes in pieces of piece bytes (0: at once). */
static void feed(run *g, const char *p, size_t n, size_t piece)
{
    while (n > 0 && !engine_done(&g->e)) {
        size_t k = piece && piece < n ? piece : n;
        model_recv(g, p, k);
        engine_recv(&g->e, p, k);
        if (g->md.broken)
            FZ_CHECK(engine_done(&g->e));
        if (engine_wants_tls(&g->e))
            tls_started(g);
        p += k;
        n -= k;
    }
}

static void step(run *g, input *in)
{
    uint8_t d = take(in), op = take(in), piece = take(in);
    if ((d & 3) == 1) {
        g->cfg.show_secrets = !g->cfg.show_secrets;
        engine_show_secrets(&g->e, g->cfg.show_secrets);
    }
    if ((d & 3) < 2)
        drain(g, 0, 0);
    else if ((d & 3) == 2)
        drain(g, 1, d >> 2);
    if (engine_wants_tls(&g->e))
        tls_started(g);
    esmtp_timeout phase = engine_phase(&g->e);
    FZ_CHECK(phase >= ESMTP_TIMEOUT_GREETING && phase <= ESMTP_TIMEOUT_DATA_END);
    ebuf bytes = {0};
    FZ_CHECK(ebuf_append(&bytes, "", 0) == 0);
    if (op < 0x40) {
        const model *md = &g->md;
        for (size_t i = 0; i <= (op & 7u) && md->head + i < md->len; i++)
            answer(&bytes, md->fifo[md->head + i].k, in);
    } else if (op < 0x80) {
        size_t t = (op & 0x3fu) % NTEMPLATES;
        FZ_CHECK(ebuf_append(&bytes, templates[t].s, templates[t].n) == 0);
    } else if (op < 0xc0) {
        uint8_t b0 = take(in), b1 = take(in), b2 = take(in);
        ehlo_reply(&bytes, b0, b1, b2);
    } else {
        size_t n = take(in);
        n = n < in->n ? n : in->n;
        FZ_CHECK(ebuf_append(&bytes, in->p, n) == 0);
        in->p += n;
        in->n -= n;
    }
    feed(g, bytes.data, bytes.len, piece);
    ebuf_free(&bytes);
}

static void check_fates(const run *g)
{
    const model *md = &g->md;
    for (size_t i = 0; i < g->nmsgs; i++) {
        const esmtp_message *m = g->msgs[i];
        const txn *last = NULL;
        for (size_t k = 0; k < md->ntxns; k++)
            if (md->txns[k].msg == (int)i)
                last = &md->txns[k];
        esmtp_status st = esmtp_message_status(m);
        FZ_CHECK(g->done_events[i] == 1 && g->done_status[i] == st);
        if (st == ESMTP_STATUS_OK)
            FZ_CHECK(last && delivered(i, last));
        if (st == ESMTP_STATUS_UNKNOWN)
            FZ_CHECK(last && last->eod_sent);
        int any_ok = 0;
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            if (esmtp_recipient_status(esmtp_message_recipient(m, j)) != ESMTP_STATUS_OK)
                continue;
            any_ok = 1;
            int justified = 0;
            for (size_t k = 0; k < md->ntxns && !justified; k++)
                justified = delivered(i, &md->txns[k]) &&
                            md->txns[k].rcpt_code[j] / 100 == 2;
            FZ_CHECK(justified);
        }
        FZ_CHECK(st != ESMTP_STATUS_OK || any_ok);
    }
}

static void run_free(run *g)
{
    engine_free(&g->e);
    for (size_t i = 0; i < g->nmsgs; i++)
        message_free(g->msgs[i]);
    model *md = &g->md;
    ebuf_free(&md->line);
    ebuf_free(&md->caps);
    ebuf_free(&md->rline);
    ebuf_free(&md->rtext);
    free(md->fifo);
    free(md->txns);
    for (size_t i = 0; i < md->nshown; i++)
        free(md->shown[i].s);
    free(md->shown);
}

/* Settings: c0 bits 0-1 TLS mode, 2 pipelining, 3 chunking, 4 AUTH, 5
 * plaintext AUTH allowed, 6 show secrets, 7 trace phases; c1 bits 0-2 the
 * mechanism list, 3-4 the user, 5 a token, 6 no password, 7 an authzid;
 * c2 bits 0-1 messages - 1, 2 close with ETIMEOUT, 3 the credentials
 * callback fails, 4-7 which event callback aborts (0: none). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const users[] = {"user", "us\xc3\xa9r", long_user, ""};
    tables_init();
    input in = {data, size};
    run *g = fz_alloc(sizeof *g);
    memset(g, 0, sizeof *g);
    g->null_msg = -1;
    uint8_t c0 = take(&in), c1 = take(&in), c2 = take(&in);
    g->cfg = (engine_config){
        .tls = (engine_tls)(c0 & 3),
        .pipelining = (c0 >> 2) & 1,
        .chunking = (c0 >> 3) & 1,
        .want_auth = (c0 >> 4) & 1,
        .auth_mechs = mech_lists[c1 & 7],
        .allow_plaintext_auth = (c0 >> 5) & 1,
        .show_secrets = (c0 >> 6) & 1,
        .trace_phases = c0 >> 7,
    };
    g->user = users[(c1 >> 3) & 3];
    g->with_token = (c1 >> 5) & 1;
    g->no_password = (c1 >> 6) & 1;
    g->authzid = c1 >> 7;
    g->creds_fail = (c2 >> 3) & 1;
    g->abort_at = c2 >> 4;
    g->md.tls = g->cfg.tls == ENGINE_TLS_IMPLICIT;
    size_t nmsgs = (c2 & 3) + 1;
    for (size_t i = 0; i < nmsgs; i++)
        build_message(g, &in);

    FZ_CHECK(engine_init(&g->e, &g->cfg, &ops, g, g->msgs, g->nmsgs) == 0);
    FZ_CHECK(engine_connected(&g->e, "client.test") == 0);
    push(&g->md, K_GREETING, 0, 0, 0);
    for (int s = 0; s < MAX_STEPS && in.n > 0 && !engine_done(&g->e); s++)
        step(g, &in);
    /* a session that ended by itself (QUIT, or an error) decided all */
    if (engine_done(&g->e))
        check_decided(g);
    int reason = (c2 >> 2) & 1 ? ESMTP_ETIMEOUT : ESMTP_EIO;
    FZ_CHECK(engine_closed(&g->e, reason, "the fuzzer closed the connection") ==
             engine_error(&g->e));
    FZ_CHECK(engine_done(&g->e));
    check_decided(g);
    check_fates(g);
    FZ_CHECK(engine_tls_active(&g->e) == g->md.tls);
    int err = engine_error(&g->e), code = engine_fail_code(&g->e);
    FZ_CHECK((err != 0) == (engine_detail(&g->e)[0] != '\0'));
    FZ_CHECK(code == 0 || (err != 0 && code >= 200 && code <= 599));
    run_free(g);
    free(g);
    return 0;
}
