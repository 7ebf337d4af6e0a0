/*
 * chunk_sink: a minimal, fast SMTP sink that offers PIPELINING and CHUNKING,
 * for bench_chunking (Postfix's smtp-sink does not offer CHUNKING).
 *
 *   chunk_sink [--port P] [--cpu N]
 *
 * It listens on 127.0.0.1:P (P = 0, the default, picks a free port), prints
 * "port P" on stdout and then serves one connection at a time, forever
 * (stop it with a signal). --cpu N pins it to CPU N (sched_setaffinity).
 *
 * The dialogue: 220 greeting; EHLO gets PIPELINING, CHUNKING, 8BITMIME and
 * "SIZE 0" (no limit); HELO, MAIL, RCPT, RSET and NOOP get 250 (MAIL inside
 * a transaction, RCPT without MAIL, DATA/BDAT without a recipient get 503);
 * DATA gets 354, then the body is read up to the lone "." line (a leading
 * dot of any other line is removed, as RFC 5321 section 4.5.2 says) and
 * answered 250; "BDAT n [LAST]" reads exactly n octets and answers 250;
 * QUIT gets 221 and the connection is closed. Nothing is stored.
 *
 * Input is read in large pieces (256 KiB) and may hold any number of
 * pipelined commands and bodies; a line, a dot terminator or a chunk split
 * across reads is carried over to the next read. The replies produced by
 * one read are written together, in one write().
 *
 * When a connection ends, one line of counters is printed on stdout:
 *
 *   session messages=M data=D bdat=B bdat_last=L bytes=X commands=C
 *           reads=R writes=W joined=J cpu_us=U
 *
 * (on one line): M messages accepted, D of them through DATA and L through
 * BDAT LAST; B BDAT commands; X body octets received (after removing dot
 * stuffing; the terminating "." line not counted); C command lines; R
 * read() calls that returned data; W reply writes; J MAIL commands that
 * arrived in the same read() as the end of the previous message; U this
 * process's CPU time (user + system) from accept() to close(), in µs.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP (256 * 1024) /* one read()'s worth; also the longest command line */

enum state { ST_CMD, ST_DATA, ST_BDAT };

typedef struct counters {
    unsigned long long messages, data, bdat, bdat_last, bytes, commands, reads, writes, joined;
} counters;

typedef struct conn {
    int fd;
    char *in;
    size_t start, end; /* unprocessed input is in[start..end) */
    char *out;
    size_t olen, ocap;
    enum state st;
    int line_start;          /* DATA: the next byte starts a line */
    unsigned long long left; /* BDAT: octets of the chunk still to come */
    int chunk_last;          /* BDAT: this chunk is the LAST one */
    int chunk_refused;       /* BDAT: answer 503 once the chunk is in */
    int in_txn;              /* MAIL accepted, transaction open */
    unsigned long rcpts;     /* recipients accepted in the transaction */
    int used_bdat;           /* the transaction has had a BDAT chunk */
    unsigned long long done_read; /* the read in which the last message ended */
    counters n;
} conn;

static void die(const char *what)
{
    fprintf(stderr, "chunk_sink: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void reply(conn *c, const char *text)
{
    size_t len = strlen(text);
    if (c->olen + len > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 4096;
        while (cap < c->olen + len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p) {
            fprintf(stderr, "chunk_sink: out of memory\n");
            exit(1);
        }
        c->out = p;
        c->ocap = cap;
    }
    memcpy(c->out + c->olen, text, len);
    c->olen += len;
}

/* Writes the batched replies. Returns -1 when the connection is gone. */
static int flush(conn *c)
{
    size_t off = 0;
    if (c->olen == 0)
        return 0;
    while (off < c->olen) {
        ssize_t n = write(c->fd, c->out + off, c->olen - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    c->olen = 0;
    c->n.writes++;
    return 0;
}

static void end_txn(conn *c)
{
    c->in_txn = 0;
    c->rcpts = 0;
    c->used_bdat = 0;
}

static void message_done(conn *c)
{
    c->n.messages++;
    c->done_read = c->n.reads;
    end_txn(c);
}

/* Is the line the verb, alone or followed by a space? */
static int verb(const char *line, size_t len, const char *v)
{
    size_t vl = strlen(v);
    return len >= vl && strncasecmp(line, v, vl) == 0 && (len == vl || line[vl] == ' ');
}

/* "BDAT n [LAST]": 0 on success. */
static int parse_bdat(const char *line, size_t len, unsigned long long *size, int *last)
{
    char buf[64];
    if (len < 6 || len >= sizeof buf)
        return -1;
    memcpy(buf, line + 5, len - 5);
    buf[len - 5] = '\0';
    char *p = buf, *end;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    *size = strtoull(p, &end, 10);
    if (errno)
        return -1;
    p = end;
    *last = 0;
    if (*p == '\0')
        return 0;
    if (*p != ' ')
        return -1;
    while (*p == ' ')
        p++;
    if (strcasecmp(p, "LAST") != 0)
        return -1;
    *last = 1;
    return 0;
}

static void chunk_done(conn *c)
{
    c->st = ST_CMD;
    if (c->chunk_refused) {
        reply(c, "503 5.5.1 Error: need RCPT first\r\n");
        return;
    }
    if (c->chunk_last) {
        reply(c, "250 2.0.0 Ok: queued\r\n");
        c->n.bdat_last++;
        message_done(c);
    } else {
        reply(c, "250 2.0.0 Ok: chunk received\r\n");
    }
}

/* One command line, without its line end. Returns 1 after QUIT. */
static int command(conn *c, const char *line, size_t len)
{
    c->n.commands++;
    if (verb(line, len, "MAIL")) {
        if (c->in_txn) {
            reply(c, "503 5.5.1 Error: nested MAIL command\r\n");
        } else {
            if (c->n.messages > 0 && c->done_read == c->n.reads)
                c->n.joined++;
            c->in_txn = 1;
            reply(c, "250 2.1.0 Ok\r\n");
        }
    } else if (verb(line, len, "RCPT")) {
        if (!c->in_txn) {
            reply(c, "503 5.5.1 Error: need MAIL command\r\n");
        } else {
            c->rcpts++;
            reply(c, "250 2.1.5 Ok\r\n");
        }
    } else if (verb(line, len, "BDAT")) {
        unsigned long long size;
        int last;
        if (parse_bdat(line, len, &size, &last) != 0) {
            reply(c, "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
            return 0;
        }
        c->n.bdat++;
        c->chunk_refused = !c->in_txn || c->rcpts == 0;
        c->used_bdat = 1;
        c->chunk_last = last;
        c->left = size;
        c->st = ST_BDAT;
        if (size == 0)
            chunk_done(c);
    } else if (verb(line, len, "DATA")) {
        if (!c->in_txn || c->rcpts == 0) {
            reply(c, "503 5.5.1 Error: need RCPT command\r\n");
        } else if (c->used_bdat) {
            reply(c, "503 5.5.1 Error: DATA after BDAT\r\n");
        } else {
            reply(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
            c->st = ST_DATA;
            c->line_start = 1;
        }
    } else if (verb(line, len, "EHLO")) {
        end_txn(c);
        reply(c, "250-chunk-sink.localhost\r\n"
                 "250-PIPELINING\r\n"
                 "250-CHUNKING\r\n"
                 "250-8BITMIME\r\n"
                 "250 SIZE 0\r\n");
    } else if (verb(line, len, "HELO")) {
        end_txn(c);
        reply(c, "250 chunk-sink.localhost\r\n");
    } else if (verb(line, len, "RSET")) {
        end_txn(c);
        reply(c, "250 2.0.0 Ok\r\n");
    } else if (verb(line, len, "NOOP")) {
        reply(c, "250 2.0.0 Ok\r\n");
    } else if (verb(line, len, "QUIT")) {
        reply(c, "221 2.0.0 Bye\r\n");
        return 1;
    } else {
        reply(c, "500 5.5.2 Error: command not recognized\r\n");
    }
    return 0;
}

/*
 * DATA: consumes body lines up to and including the "." line. Returns 1
 * when the body is complete, 0 when more input is needed.
 */
static int data_body(conn *c)
{
    while (c->start < c->end) {
        const char *s = c->in + c->start;
        size_t avail = c->end - c->start;
        if (c->line_start && s[0] == '.') {
            /* The end (".\r\n", or ".\n" leniently), or a stuffed dot. */
            if (avail < 2 || (s[1] == '\r' && avail < 3))
                return 0; /* wait until the line's end is known */
            if (s[1] == '\n' || (s[1] == '\r' && s[2] == '\n')) {
                c->start += s[1] == '\n' ? 2 : 3;
                return 1;
            }
            c->start++; /* the stuffed dot is not part of the body */
            s++;
            avail--;
        }
        const char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) + 1 : avail;
        c->n.bytes += take;
        c->start += take;
        c->line_start = nl != NULL;
    }
    return 0;
}

/* Processes the buffered input. Returns 1 after QUIT, -1 on a line too long. */
static int process(conn *c)
{
    while (c->start < c->end) {
        switch (c->st) {
        case ST_CMD: {
            const char *s = c->in + c->start;
            const char *nl = memchr(s, '\n', c->end - c->start);
            if (!nl)
                return c->start == 0 && c->end == IN_CAP ? -1 : 0;
            size_t len = (size_t)(nl - s);
            c->start += len + 1;
            if (len > 0 && s[len - 1] == '\r')
                len--;
            if (command(c, s, len))
                return 1;
            break;
        }
        case ST_DATA:
            if (!data_body(c))
                return 0;
            c->st = ST_CMD;
            c->n.data++;
            message_done(c);
            reply(c, "250 2.0.0 Ok: queued\r\n");
            break;
        case ST_BDAT: {
            size_t avail = c->end - c->start;
            size_t take = c->left < avail ? (size_t)c->left : avail;
            c->start += take;
            c->left -= take;
            if (!c->chunk_refused)
                c->n.bytes += take;
            if (c->left == 0)
                chunk_done(c);
            break;
        }
        }
    }
    return 0;
}

static double cpu_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void serve(int fd, char *in)
{
    double cpu0 = cpu_us();
    conn c;
    memset(&c, 0, sizeof c);
    c.fd = fd;
    c.in = in;
    c.st = ST_CMD;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    reply(&c, "220 chunk-sink.localhost ESMTP chunk_sink\r\n");
    int rc = flush(&c);
    while (rc == 0) {
        /* Keep only the unprocessed tail (a partial line, at most a few
         * bytes of a body) and read as much as fits after it. */
        if (c.start == c.end) {
            c.start = c.end = 0;
        } else if (c.start > 0 && c.end == IN_CAP) {
            memmove(c.in, c.in + c.start, c.end - c.start);
            c.end -= c.start;
            c.start = 0;
        }
        ssize_t n = read(fd, c.in + c.end, IN_CAP - c.end);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the client closed the connection, or it failed */
        c.n.reads++;
        c.end += (size_t)n;
        int pr = process(&c);
        if (pr < 0)
            reply(&c, "500 5.5.0 Error: line too long\r\n");
        if (flush(&c) != 0 || pr != 0)
            break;
    }
    close(fd);
    free(c.out);
    printf("session messages=%llu data=%llu bdat=%llu bdat_last=%llu bytes=%llu "
           "commands=%llu reads=%llu writes=%llu joined=%llu cpu_us=%.0f\n",
           c.n.messages, c.n.data, c.n.bdat, c.n.bdat_last, c.n.bytes, c.n.commands,
           c.n.reads, c.n.writes, c.n.joined, cpu_us() - cpu0);
    fflush(stdout);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long port = 0, cpu = 0;
    int pin = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--port") == 0 &&
            parse_uint(argv[i + 1], 65535, &port) == 0) {
            i++;
        } else if (i + 1 < argc && strcmp(argv[i], "--cpu") == 0 &&
                   parse_uint(argv[i + 1], CPU_SETSIZE - 1, &cpu) == 0) {
            pin = 1;
            i++;
        } else {
            fprintf(stderr, "usage: chunk_sink [--port P] [--cpu N]\n");
            return 2;
        }
    }
    if (pin) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET((int)cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die("sched_setaffinity");
    }
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    if (ls < 0)
        die("socket");
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) != 0)
        die("bind");
    if (listen(ls, 16) != 0)
        die("listen");
    socklen_t salen = sizeof sa;
    if (getsockname(ls, (struct sockaddr *)&sa, &salen) != 0)
        die("getsockname");
    printf("port %u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);

    char *in = malloc(IN_CAP);
    if (!in) {
        fprintf(stderr, "chunk_sink: out of memory\n");
        return 1;
    }
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        serve(fd, in);
    }
}
