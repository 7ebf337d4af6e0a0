/* Faults at every byte (issue 9). The engine is fed a real Postfix
 * session's replies cut short after each byte, and fed them only as far as
 * a server that stops reading at each byte of the client's output would
 * answer; a live STARTTLS server in memory is cut after each byte of its
 * TLS stream. Whatever the cut, the engine must end, decide every message
 * and recipient, and call a message delivered only on the whole 2xx reply
 * to its own end of data.
 *
 * The Postfix sessions are fixtures (tests/fixtures/cuts-*), recorded by
 * this program with --record (tests/fixtures/record-cuts.sh) rather than
 * at test time: the offsets stay the same from run to run (Postfix's queue
 * ids differ in every session), so a failing cut is reproducible, and the
 * test needs no servers and runs with the unit tests, under valgrind too.
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "itest.h"
#include "memtls.h"
#include "run_suite.h"

/* ck_assert marks a point (a write to Check's log) on every success: too
 * slow for the checks after each of thousands of cuts. */
#define require(cond, ...)             \
    do {                               \
        if (!(cond))                   \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

static const char *fixtures; /* the directory of the recordings */

/* ------------------------------------------------------------ the engine */

#define NMSGS 2

/* The messages of every run, added to session s (when recording) or the
 * caller's (s NULL). The second envelope leaves with the first message's
 * end of data; the first body has a line to dot-stuff, the second does not
 * end in CRLF. */
static void add_messages(esmtp_session *s, esmtp_message *msgs[NMSGS])
{
    static const char *const to[NMSGS][3] = {{"cuts-a@example.org", "cuts-b@example.org", NULL},
                                             {"cuts-c@example.org", NULL}};
    char body[NMSGS][1024] = {"Subject: cut 1\r\n\r\nThe first message.\r\n"
                              ".A line that starts with a dot.\r\n"};
    size_t n = (size_t)snprintf(body[1], sizeof body[1], "Subject: cut 2\r\n\r\n");
    for (int i = 1; i <= 16; i++)
        n += (size_t)snprintf(body[1] + n, sizeof body[1] - n, "%sLine %02d of the second message",
                              i > 1 ? "\r\n" : "", i);
    for (size_t i = 0; i < NMSGS; i++) {
        esmtp_message *m;
        ck_assert_int_eq(s ? esmtp_session_add_message(s, &m) : message_new(&m, NULL), 0);
        ck_assert_int_eq(esmtp_message_set_reverse_path(m, "cuts@example.org"), 0);
        for (const char *const *r = to[i]; *r; r++)
            ck_assert_int_eq(esmtp_message_add_recipient(m, *r, NULL), 0);
        ck_assert_int_eq(esmtp_message_set_body(m, body[i], strlen(body[i])), 0);
        msgs[i] = m;
    }
}

/* The engine under test and its messages. */
typedef struct rig {
    engine eng;
    engine *e;
    esmtp_message *msgs[NMSGS];
} rig;

/* The only code that knows how an engine is made and configured. */
static void rig_setup(rig *g, int chunking, engine_tls tls)
{
    static const engine_ops no_callbacks = {0};
    const engine_config cfg = {.tls = tls, .pipelining = 1, .chunking = chunking};
    memset(g, 0, sizeof *g);
    g->e = &g->eng;
    add_messages(NULL, g->msgs);
    ck_assert_int_eq(engine_init(g->e, &cfg, &no_callbacks, NULL, g->msgs, NMSGS), 0);
    ck_assert_int_eq(engine_connected(g->e, "client.test"), 0);
}

static void rig_free(rig *g)
{
    engine_free(g->e);
    for (size_t i = 0; i < NMSGS; i++)
        message_free(g->msgs[i]);
}

/* ------------------------------------------------------------ one run, and its verdict */

/* The client's side of a run as an observer sees it. */
typedef struct track {
    scan out;            /* what the engine gave the socket (or TLS) */
    uint64_t sent;       /* how much of it it was told was sent */
    reply_count replies; /* the whole replies that reached it */
} track;

static void track_init(track *t)
{
    memset(t, 0, sizeof *t);
}

static void track_free(track *t)
{
    scan_free(&t->out);
}

static void track_received(track *t, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        count_byte(&t->replies, p[i]);
}

static void track_sent(rig *g, track *t, size_t n)
{
    engine_sent(g->e, n);
    t->sent += n;
}

/* Takes the engine's output into a socket that accepts room bytes in all
 * (engine_drain() takes everything). */
static void drain(rig *g, track *t, uint64_t room)
{
    const char *p;
    size_t n;
    while (t->sent < room) {
        require(engine_output(g->e, &p, &n) == 0, "engine_output failed: %s", engine_detail(g->e));
        if (n == 0)
            break;
        if (n > room - t->sent)
            n = (size_t)(room - t->sent);
        scan_more(&t->out, p, n);
        track_sent(g, t, n);
    }
}

/* Hands server bytes to the engine (an error shows in its final result). */
static void deliver(rig *g, track *t, const char *p, size_t n)
{
    engine_recv(g->e, p, n);
    track_received(t, p, n);
}

static const char *const status_names[] = {"PENDING", "OK", "TEMPFAIL", "PERMFAIL", "UNKNOWN"};

static void expect_fate(const rig *g, size_t i, esmtp_status want, const char *what, size_t k)
{
    const esmtp_message *m = g->msgs[i];
    esmtp_status st = esmtp_message_status(m);
    require(st == want, "%s %zu: message %zu is %s, not %s (%s)", what, k, i, status_names[st],
            status_names[want], esmtp_message_text(m));
    for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
        st = esmtp_recipient_status(esmtp_message_recipient(m, j));
        require(st == want, "%s %zu: recipient %zu of message %zu is %s, not %s", what, k, j, i,
                status_names[st], status_names[want]);
    }
}

/* The phase for the reply the engine waits for. */
static esmtp_timeout phase_awaited(const track *t)
{
    if (t->replies.n == 0)
        return ESMTP_TIMEOUT_GREETING;
    if (t->replies.n > t->out.n) /* all answered: the engine works (TLS) */
        return ESMTP_TIMEOUT_COMMAND;
    const command *c = &t->out.cmds[t->replies.n - 1];
    if (c->kind != CC_LINE)
        return ESMTP_TIMEOUT_DATA_END;
    return is_verb(&t->out, c, "DATA") ? ESMTP_TIMEOUT_DATA_INIT : ESMTP_TIMEOUT_COMMAND;
}

/* Whether the timeout the driver would apply fits what the engine does:
 * writing a body (or else a command; BDAT's envelope counts as either), or
 * waiting for the reply to the oldest command without one (the greeting
 * before any). */
static int phase_fits(const rig *g, const track *t)
{
    esmtp_timeout phase = engine_phase(g->e);
    if (engine_wants_write(g->e))
        return phase == ESMTP_TIMEOUT_DATA_BLOCK ||
               (phase == ESMTP_TIMEOUT_COMMAND && !t->out.in_body && !t->out.in_chunk);
    return phase == phase_awaited(t);
}

/* Ends a run with the connection lost (reason) and checks the outcome
 * against what crossed the wire: a message is OK when the whole reply to
 * its end of data reached the engine, UNKNOWN when its end of data was
 * sent but that reply did not come whole, else TEMPFAIL. The server
 * answers every end of data with 2xx. */
static void check_cut(rig *g, const track *t, int reason, const char *what, size_t k)
{
    require(engine_done(g->e) || phase_fits(g, t), "%s %zu: phase %d", what, k, engine_phase(g->e));
    int rc = engine_closed(g->e, reason, "cut");
    require(engine_done(g->e) && !engine_wants_write(g->e), "%s %zu: the engine goes on", what, k);
    size_t m = 0, ok = 0;
    for (size_t c = 0; c < t->out.n; c++) {
        const command *cmd = &t->out.cmds[c];
        if (cmd->kind != CC_DOT && cmd->kind != CC_LAST_CHUNK)
            continue;
        require(m < NMSGS, "%s %zu: more ends of data than messages", what, k);
        /* reply c + 1 answers command c: the greeting comes first */
        esmtp_status want = t->replies.n > c + 1 ? ESMTP_STATUS_OK
                            : t->sent >= cmd->end  ? ESMTP_STATUS_UNKNOWN
                                                   : ESMTP_STATUS_TEMPFAIL;
        ok += want == ESMTP_STATUS_OK;
        expect_fate(g, m++, want, what, k);
    }
    while (m < NMSGS)
        expect_fate(g, m++, ESMTP_STATUS_TEMPFAIL, what, k);
    /* With every message delivered QUIT is due, and nothing is at stake
     * any more: a cut then is no failure. */
    require(rc == (ok == NMSGS ? 0 : reason), "%s %zu: the session ended with %d (%s)", what, k,
            rc, engine_detail(g->e));
}

/* ------------------------------------------------------------ the Postfix recordings */

typedef struct recording {
    const char *name;  /* tests/fixtures/cuts-NAME.server and .outcome */
    int chunking;
    char *server;      /* every byte Postfix sent */
    size_t len;
    char *outcome;     /* the real session's outcome, as describe() puts it */
    size_t ends[32];   /* where each reply ends in server */
    size_t nreplies;
} recording;

/* One session sends both messages with DATA, the other with BDAT. */
static const struct {
    const char *name;
    int chunking;
} sessions[2] = {{"data", 0}, {"bdat", 1}};

static void describe(esmtp_message *const msgs[NMSGS], ebuf *out)
{
    char line[1024];
    for (size_t i = 0; i < NMSGS; i++) {
        const esmtp_message *m = msgs[i];
        snprintf(line, sizeof line, "message %zu: %s %d %s %s\n", i,
                 status_names[esmtp_message_status(m)], esmtp_message_code(m),
                 esmtp_message_enhanced_code(m), esmtp_message_text(m));
        ck_assert_int_eq(ebuf_append_str(out, line), 0);
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            const esmtp_recipient *r = esmtp_message_recipient(m, j);
            snprintf(line, sizeof line, "  %s: %s %d %s %s\n", esmtp_recipient_mailbox(r),
                     status_names[esmtp_recipient_status(r)], esmtp_recipient_code(r),
                     esmtp_recipient_enhanced_code(r), esmtp_recipient_text(r));
            ck_assert_int_eq(ebuf_append_str(out, line), 0);
        }
    }
}

static void fixture_path(char *path, size_t len, const char *name, const char *ext)
{
    ck_assert_int_lt(snprintf(path, len, "%s/cuts-%s.%s", fixtures, name, ext), (int)len);
}

static void load(recording *r, size_t i)
{
    char path[4096];
    memset(r, 0, sizeof *r);
    r->name = sessions[i].name;
    r->chunking = sessions[i].chunking;
    fixture_path(path, sizeof path, r->name, "server");
    r->server = itest_read_file(path, &r->len);
    ck_assert_msg(r->server != NULL, "cannot read %s", path);
    fixture_path(path, sizeof path, r->name, "outcome");
    r->outcome = itest_read_file(path, NULL);
    ck_assert_msg(r->outcome != NULL, "cannot read %s", path);
    reply_count count = {0};
    for (size_t off = 0; off < r->len; off++)
        if (count_byte(&count, r->server[off])) {
            ck_assert_uint_lt(r->nreplies, sizeof r->ends / sizeof *r->ends);
            r->ends[r->nreplies++] = off + 1;
        }
    ck_assert_uint_gt(r->nreplies, 0);
    ck_assert_uint_eq(r->ends[r->nreplies - 1], r->len);
}

static void unload(recording *r)
{
    free(r->server);
    free(r->outcome);
}

/* Replays a recording into the engine as the server paced it: a reply goes
 * in only once the client has sent the command it answers (the greeting
 * at once), and the replies to a pipelined batch go in together. The
 * server's bytes stop after server_cut; it reads the client's only up to
 * client_cut; the socket takes room bytes from the client. */
static void replay(rig *g, track *t, const recording *r, size_t server_cut, size_t client_cut,
                   uint64_t room)
{
    rig_setup(g, r->chunking, ENGINE_TLS_NONE);
    track_init(t);
    size_t fed = 0;
    while (!engine_done(g->e)) {
        drain(g, t, room);
        size_t due = 1; /* replies the server has sent: the greeting, one per command read */
        while (due <= t->out.n && t->out.cmds[due - 1].end <= client_cut)
            due++;
        require(due <= r->nreplies, "%s: the engine sent more commands than Postfix answered",
                r->name);
        size_t upto = r->ends[due - 1] < server_cut ? r->ends[due - 1] : server_cut;
        if (upto <= fed)
            break;
        deliver(g, t, r->server + fed, upto - fed);
        fed = upto;
    }
}

static void replay_free(rig *g, track *t)
{
    track_free(t);
    rig_free(g);
}

START_TEST(replay_gives_the_real_outcome)
{
    for (size_t i = 0; i < 2; i++) {
        recording r;
        load(&r, i);
        rig g;
        track t;
        replay(&g, &t, &r, r.len, SIZE_MAX, UINT64_MAX);
        ck_assert_msg(engine_done(g.e), "%s: the replay did not end the session", r.name);
        ck_assert_uint_eq(t.replies.n, r.nreplies);
        size_t eods = 0; /* each message's end of data, as the recording's session sent it */
        for (size_t c = 0; c < t.out.n; c++)
            eods += t.out.cmds[c].kind == (r.chunking ? CC_LAST_CHUNK : CC_DOT);
        ck_assert_uint_eq(eods, NMSGS);
        ebuf got = {0};
        describe(g.msgs, &got);
        ck_assert_str_eq(ebuf_str(&got), r.outcome);
        for (size_t m = 0; m < NMSGS; m++)
            ck_assert_int_eq(esmtp_message_status(g.msgs[m]), ESMTP_STATUS_OK);
        check_cut(&g, &t, ESMTP_EIO, r.name, r.len);
        ebuf_free(&got);
        replay_free(&g, &t);
        unload(&r);
    }
}
END_TEST

START_TEST(cut_after_every_byte_of_the_replies)
{
    for (size_t i = 0; i < 2; i++) {
        recording r;
        load(&r, i);
        char what[64];
        snprintf(what, sizeof what, "%s: replies cut after byte", r.name);
        for (size_t k = 0; k <= r.len; k++) {
            rig g;
            track t;
            replay(&g, &t, &r, k, SIZE_MAX, UINT64_MAX);
            check_cut(&g, &t, ESMTP_EIO, what, k);
            replay_free(&g, &t);
        }
        unload(&r);
    }
}
END_TEST

START_TEST(server_stops_reading_at_every_byte)
{
    for (size_t i = 0; i < 2; i++) {
        recording r;
        load(&r, i);
        rig g;
        track t;
        replay(&g, &t, &r, r.len, SIZE_MAX, UINT64_MAX);
        size_t total = t.out.bytes.len;
        replay_free(&g, &t);
        char what[2][80];
        snprintf(what[0], sizeof what[0], "%s: server stops reading after byte", r.name);
        snprintf(what[1], sizeof what[1], "%s: server stops reading (socket full) after byte",
                 r.name);
        for (size_t k = 0; k <= total; k++) {
            /* The socket took everything the client wrote, or no more than
             * the server read: the end of data may be out or not. */
            for (int full = 0; full <= 1; full++) {
                replay(&g, &t, &r, r.len, k, full ? k : UINT64_MAX);
                check_cut(&g, &t, ESMTP_ETIMEOUT, what[full], k);
                replay_free(&g, &t);
            }
        }
        unload(&r);
    }
}
END_TEST

/* ------------------------------------------------------------ a STARTTLS server in memory */

static memtls_cert cert; /* trusted by the client as its only CA */

static void tls_server_up(void)
{
    memtls_cert_make(&cert);
}

static void tls_server_down(void)
{
    memtls_cert_free(&cert);
}

/* A scripted SMTP server: greeting, EHLO (STARTTLS in clear, PIPELINING
 * and CHUNKING under TLS), STARTTLS, MAIL, RCPT, DATA and its dot, BDAT,
 * QUIT; it writes its replies when it has read all it was given, as
 * servers flush. */
typedef struct peer {
    memtls_server srv; /* srv.out: every byte sent, in clear, then TLS records */
    scan in;           /* the client's commands, decrypted */
    size_t answered;
    size_t queued;     /* messages accepted */
    int closed;        /* QUIT was answered */
    ebuf replies;      /* answered, not yet written */
} peer;

static void peer_say(peer *p, const char *text)
{
    require(ebuf_append_str(&p->replies, text) == 0, "out of memory");
}

static void peer_flush(peer *p)
{
    require(memtls_server_send(&p->srv, p->replies.data, p->replies.len) == 0,
            "the server cannot write");
    ebuf_clear(&p->replies);
}

static void peer_answer(peer *p, const command *c)
{
    char text[64];
    if (c->kind == CC_DOT || c->kind == CC_LAST_CHUNK) {
        snprintf(text, sizeof text, "250 2.0.0 Ok: queued as Q%zu\r\n", ++p->queued);
        peer_say(p, text);
    } else if (c->kind == CC_CHUNK) {
        peer_say(p, "250 2.0.0 Ok: chunk received\r\n");
    } else if (is_verb(&p->in, c, "EHLO")) {
        peer_say(p, p->srv.ssl ? "250-mail.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"
                               : "250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
    } else if (is_verb(&p->in, c, "STARTTLS")) {
        peer_say(p, "220 2.0.0 Ready to start TLS\r\n");
        peer_flush(p);
        memtls_server_tls(&p->srv, cert.ctx);
    } else if (is_verb(&p->in, c, "MAIL")) {
        peer_say(p, "250 2.1.0 Ok\r\n");
    } else if (is_verb(&p->in, c, "RCPT")) {
        peer_say(p, "250 2.1.5 Ok\r\n");
    } else if (is_verb(&p->in, c, "DATA")) {
        peer_say(p, "354 End data with <CR><LF>.<CR><LF>\r\n");
    } else if (is_verb(&p->in, c, "QUIT")) {
        peer_say(p, "221 2.0.0 Bye\r\n");
        peer_flush(p);
        memtls_server_close(&p->srv);
        p->closed = 1;
    } else {
        ck_abort_msg("the server got \"%.*s\"", (int)c->line_len, p->in.bytes.data + c->start);
    }
}

/* Bytes from the client. */
static void peer_recv(peer *p, const char *data, size_t n)
{
    if (p->closed)
        return;
    ebuf plain = {0};
    require(memtls_server_recv(&p->srv, data, n, &plain) == 0, "the server's TLS failed");
    scan_more(&p->in, plain.data, plain.len);
    ebuf_free(&plain);
    while (!p->closed && p->answered < p->in.n)
        peer_answer(p, &p->in.cmds[p->answered++]);
    peer_flush(p);
}

static void peer_free(peer *p)
{
    memtls_server_free(&p->srv);
    scan_free(&p->in);
    ebuf_free(&p->replies);
}

/* ------------------------------------------------------------ the client's pump */

/* The client's side as the track sees it, through lib/conn.c's pump
 * (tests/memtls.c). */
static void watch_received(void *ud, const char *p, size_t n, int encrypted)
{
    (void)encrypted;
    track_received(ud, p, n);
}

static void watch_taken(void *ud, const char *p, size_t n)
{
    track *t = ud;
    scan_more(&t->out, p, n);
}

static void watch_sent(void *ud, size_t n)
{
    track *t = ud;
    t->sent += n;
}

static const memtls_watch tracked = {watch_received, watch_taken, watch_sent};

typedef struct tls_result {
    size_t server_bytes; /* all the server sent */
    int handshook;       /* the client finished the handshake */
    size_t delivered;    /* messages OK */
} tls_result;

/* One STARTTLS session against the live server, the client getting only
 * the first cut bytes of what the server sends. */
static tls_result tls_run(int chunking, size_t cut, const char *what)
{
    rig g;
    track t;
    peer p;
    memtls_client c;
    rig_setup(&g, chunking, ENGINE_STARTTLS_REQUIRED);
    track_init(&t);
    memtls_client_init(&c, g.e, cert.ca_file, &tracked, &t);
    memset(&p, 0, sizeof p);
    peer_say(&p, "220 mail.test ESMTP\r\n");
    peer_flush(&p);
    ebuf wire = {0};
    size_t given = 0;
    for (int moved = 1; moved;) {
        size_t upto = p.srv.out.len < cut ? p.srv.out.len : cut;
        moved = given < upto && !engine_done(g.e);
        if (moved)
            memtls_client_receive(&c, p.srv.out.data + given, upto - given);
        given = upto;
        ebuf_clear(&wire);
        memtls_client_transmit(&c, &wire);
        if (wire.len) {
            peer_recv(&p, wire.data, wire.len);
            moved = 1;
        }
    }
    check_cut(&g, &t, ESMTP_EIO, what, cut);
    tls_result res = {p.srv.out.len, c.tls && !c.handshaking, 0};
    for (size_t m = 0; m < NMSGS; m++)
        res.delivered += esmtp_message_status(g.msgs[m]) == ESMTP_STATUS_OK;
    ebuf_free(&wire);
    memtls_client_free(&c);
    peer_free(&p);
    track_free(&t);
    rig_free(&g);
    return res;
}

START_TEST(starttls_cut_after_every_byte)
{
    /* Every byte of the first few KB (that is, all of it), then a stride;
     * under valgrind a stride from the start. */
    int quick = getenv("ESMTP_TEST_QUICK") != NULL;
    size_t every = quick ? 0 : 8192, stride = quick ? 23 : 7;
    for (int chunking = 0; chunking <= 1; chunking++) {
        char what[64];
        snprintf(what, sizeof what, "STARTTLS, %s: cut after byte", chunking ? "BDAT" : "DATA");
        tls_result whole = tls_run(chunking, SIZE_MAX, what);
        ck_assert(whole.handshook);
        ck_assert_uint_eq(whole.delivered, NMSGS);
        size_t before = 0, after = 0;
        for (size_t k = 0; k < whole.server_bytes; k += k < every ? 1 : stride) {
            tls_result res = tls_run(chunking, k, what);
            before += !res.handshook;
            after += res.handshook;
        }
        ck_assert_uint_gt(before, 0);
        ck_assert_uint_gt(after, 0);
    }
}
END_TEST

/* ------------------------------------------------------------ recording */

static void keep_server_bytes(esmtp_session *s, esmtp_direction d, const char *line, size_t len,
                              void *ud)
{
    (void)s;
    /* Postfix ends every line with CRLF, which the parser takes off. */
    if (d == ESMTP_FROM_SERVER)
        ck_assert(ebuf_append(ud, line, len) == 0 && ebuf_append(ud, "\r\n", 2) == 0);
}

static void write_fixture(const char *name, const char *ext, const ebuf *b)
{
    char path[4096];
    fixture_path(path, sizeof path, name, ext);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    ck_assert_uint_eq(fwrite(b->data, 1, b->len, f), b->len);
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(record_postfix)
{
    for (size_t i = 0; i < 2; i++) {
        esmtp_session *s = itest_session(itest_port("POSTFIX_PORT"));
        ck_assert_int_eq(esmtp_session_set_chunking(s, sessions[i].chunking), 0);
        esmtp_message *msgs[NMSGS];
        add_messages(s, msgs);
        ebuf server = {0}, fate = {0};
        esmtp_session_set_transcript_cb(s, keep_server_bytes, &server);
        ck_assert_int_eq(esmtp_session_send(s), 0);
        ck_assert_ptr_nonnull(esmtp_session_extension(s, "PIPELINING"));
        ck_assert_ptr_nonnull(esmtp_session_extension(s, "CHUNKING"));
        for (size_t m = 0; m < NMSGS; m++)
            ck_assert_int_eq(esmtp_message_status(msgs[m]), ESMTP_STATUS_OK);
        describe(msgs, &fate);
        write_fixture(sessions[i].name, "server", &server);
        write_fixture(sessions[i].name, "outcome", &fate);
        ebuf_free(&server);
        ebuf_free(&fate);
        esmtp_session_free(s);
    }
}
END_TEST

static Suite *cuts_suite(int record)
{
    Suite *s = suite_create("cuts");
    TCase *tc = tcase_create(record ? "record" : "postfix");
    tcase_set_timeout(tc, 300); /* generous for sanitizer and valgrind builds */
    if (record) {
        tcase_add_test(tc, record_postfix);
        suite_add_tcase(s, tc);
        return s;
    }
    tcase_add_test(tc, replay_gives_the_real_outcome);
    tcase_add_test(tc, cut_after_every_byte_of_the_replies);
    tcase_add_test(tc, server_stops_reading_at_every_byte);
    suite_add_tcase(s, tc);
    tc = tcase_create("starttls");
    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, tls_server_up, tls_server_down);
    tcase_add_test(tc, starttls_cut_after_every_byte);
    suite_add_tcase(s, tc);
    return s;
}

/* test_cuts FIXTURES runs the tests; test_cuts --record FIXTURES records
 * the Postfix sessions anew (the test servers must be running). */
int main(int argc, char **argv)
{
    int record = argc == 3 && strcmp(argv[1], "--record") == 0;
    if (argc != 2 && !record) {
        fprintf(stderr, "usage: %s [--record] FIXTURE_DIR\n", argv[0]);
        return EXIT_FAILURE;
    }
    fixtures = argv[argc - 1];
    return run_suite(cuts_suite(record));
}
