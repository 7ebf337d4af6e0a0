/*
 * bench_chunking: esmtp's message throughput over one pipelined connection
 * with CHUNKING (BDAT) and without it (DATA), against chunk_sink.
 *
 * With PIPELINING and CHUNKING, esmtp sends each message as MAIL, RCPT...,
 * "BDAT n LAST" and the body, and the next message's commands follow at
 * once: nothing waits for a reply. With DATA, each body must wait for the
 * 354 to its DATA (RFC 2920 section 3.1): one round trip per message. This
 * program measures the difference (issue 5).
 *
 * It starts chunk_sink (bench/chunk-sink.c; Postfix's smtp-sink does not
 * offer CHUNKING) on a free loopback port, pins itself and the sink to CPUs
 * (by default both to the same one, the last this process may use), and
 * for each scenario (2 KB and 20 KB messages, one recipient, 10,000
 * messages by default) runs one esmtp session with all the messages queued
 * and esmtp_session_send(), with chunking enabled (BDAT) and disabled
 * (DATA), taking turns, 3 times each; the best run counts.
 *
 * The clock (CLOCK_MONOTONIC) runs around esmtp_session_send(): from the
 * connect to the 221 reply to QUIT. Creating the session, queueing the
 * messages and freeing it are not timed. The client's CPU time (user +
 * system) over the same interval is recorded, and the sink reports its own
 * per connection, with its counters.
 *
 * Every run must pass these checks, or the program fails (exit 1):
 *  - esmtp_session_send() returns 0, every message and every recipient is
 *    ESMTP_STATUS_OK, and esmtp saw CHUNKING and PIPELINING offered;
 *  - the sink counted exactly N messages, all through BDAT LAST (chunking)
 *    or all through DATA (no BDAT at all), and N times the body's size in
 *    body octets.
 * Before the timed runs, a short session of each kind sends bodies with
 * lines that begin with dots (dot-stuffed under DATA) and must arrive with
 * the right number of octets.
 *
 * Usage: bench_chunking [--sink PATH] [--count N] [--repeat R]
 *                       [--scenario 2KB-1rcpt|20KB-1rcpt] [--cpus auto|none|S,B]
 * Environment: ESMTP_BENCH_COUNT (default 10000), ESMTP_BENCH_REPEAT
 * (default 3), ESMTP_BENCH_CPUS (default auto: sink and benchmark on the
 * same CPU; "S,B": sink on CPU S, benchmark on CPU B; "none": not pinned);
 * options override the environment. --sink defaults to chunk_sink next to
 * this program.
 *
 * Exit status: 0 when everything worked, 1 on a functional failure, 2 on a
 * usage error. Slowness never fails it.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <esmtp/esmtp.h>

#include "benchutil.h"

#define SENDER "sender@example.com"
#define RCPT "rcpt1@example.net"
#define HELO_NAME "bench.example"
#define IO_TIMEOUT_MS 60000 /* a run (or the sink) stalled this long has failed */

typedef struct scenario {
    const char *name;
    size_t body_size; /* the whole RFC 5322 message, CRLF line ends */
} scenario;

static const scenario scenarios[] = {
    {"2KB-1rcpt", 2048},
    {"20KB-1rcpt", 20480},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

enum mode { MODE_BDAT, MODE_DATA, NMODES };
static const char *const mode_names[NMODES] = {"BDAT", "DATA"};

typedef struct options {
    const char *sink_path;
    size_t count;
    int repeat;
    const char *only_scenario; /* NULL: all */
    const char *cpus;          /* auto, none or S,B */
} options;

/* What the sink printed about one connection. */
typedef struct sink_stats {
    unsigned long long messages, data, bdat, bdat_last, bytes, commands, reads, writes, joined;
    double cpu_us;
} sink_stats;

/* One timed run; wall < 0 on failure. */
typedef struct measurement {
    double wall, cpu; /* seconds */
    sink_stats sink;
} measurement;

typedef struct sink_proc {
    pid_t pid;
    int fd; /* its stdout */
    unsigned port;
    char buf[1024];
    size_t len;
} sink_proc;

/* ------------------------------------------------------------- helpers */

/* A message of exactly `size` bytes (make_body); with dots != 0 some lines
 * begin with dots, to be dot-stuffed under DATA. */
static char *chunking_body(size_t size, int dots)
{
    char headers[512];
    int n = snprintf(headers, sizeof headers,
                     "From: Bench Sender <" SENDER ">\r\n"
                     "To: <" RCPT ">\r\n"
                     "Subject: esmtp chunking benchmark\r\n"
                     "Date: Thu, 26 Nov 2026 12:00:00 +0000\r\n"
                     "Message-ID: <bench.chunking.%zu@example.com>\r\n"
                     "MIME-Version: 1.0\r\n"
                     "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
                     size);
    if (n < 0 || (size_t)n >= sizeof headers) {
        fprintf(stderr, "bench_chunking: internal error: header buffer too small\n");
        exit(1);
    }
    return make_body(headers, size,
                     "Pipelined BDAT chunks need no go-ahead from the server, unlike DATA. ",
                     dots);
}

/* ------------------------------------------------------------- CPUs */

/* Parses --cpus into the sink's and this process's CPU (-1: not pinned). */
static int parse_cpus(const char *spec, int *sink_cpu, int *bench_cpu)
{
    *sink_cpu = *bench_cpu = -1;
    if (strcmp(spec, "none") == 0)
        return 0;
    if (strcmp(spec, "auto") == 0) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) != 0)
            return 0; /* cannot tell: leave it to the scheduler */
        for (int i = CPU_SETSIZE - 1; i >= 0; i--) {
            if (CPU_ISSET(i, &set)) {
                *sink_cpu = *bench_cpu = i;
                break;
            }
        }
        return 0;
    }
    char *end;
    errno = 0;
    long s = strtol(spec, &end, 10);
    if (errno || end == spec || *end != ',' || s < 0 || s >= CPU_SETSIZE)
        return -1;
    const char *p = end + 1;
    long b = strtol(p, &end, 10);
    if (errno || end == p || *end || b < 0 || b >= CPU_SETSIZE)
        return -1;
    *sink_cpu = (int)s;
    *bench_cpu = (int)b;
    return 0;
}

static int pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

/* ------------------------------------------------------------- the sink */

/* Reads one line from the sink's stdout into line (without the newline),
 * waiting at most IO_TIMEOUT_MS. 0 on success. */
static int sink_line(sink_proc *sp, char *line, size_t linelen)
{
    double deadline = now_s() + IO_TIMEOUT_MS / 1000.0;
    for (;;) {
        char *nl = memchr(sp->buf, '\n', sp->len);
        if (nl) {
            size_t n = (size_t)(nl - sp->buf);
            snprintf(line, linelen, "%.*s", (int)n, sp->buf);
            memmove(sp->buf, nl + 1, sp->len - n - 1);
            sp->len -= n + 1;
            return 0;
        }
        if (sp->len == sizeof sp->buf)
            return -1;
        int left = (int)((deadline - now_s()) * 1000);
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = sp->fd, .events = POLLIN, .revents = 0};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t n = read(sp->fd, sp->buf + sp->len, sizeof sp->buf - sp->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1; /* the sink is gone */
        sp->len += (size_t)n;
    }
}

static int start_sink(sink_proc *sp, const char *path, int cpu)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        perror("bench_chunking: pipe");
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_chunking: fork");
        return -1;
    }
    if (pid == 0) {
        /* Do not outlive the benchmark, however it ends. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        dup2(pfd[1], STDOUT_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        char cpubuf[16];
        char *argv[] = {(char *)path, NULL, NULL, NULL};
        if (cpu >= 0) {
            snprintf(cpubuf, sizeof cpubuf, "%d", cpu);
            argv[1] = (char *)"--cpu";
            argv[2] = cpubuf;
        }
        execvp(path, argv);
        fprintf(stderr, "bench_chunking: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(pfd[1]);
    sp->pid = pid;
    sp->fd = pfd[0];
    sp->len = 0;
    char line[256];
    if (sink_line(sp, line, sizeof line) != 0 || sscanf(line, "port %u", &sp->port) != 1 ||
        sp->port == 0) {
        fprintf(stderr, "bench_chunking: %s did not report its port\n", path);
        return -1;
    }
    return 0;
}

static void stop_sink(sink_proc *sp)
{
    if (sp->pid > 0) {
        kill(sp->pid, SIGTERM);
        waitpid(sp->pid, NULL, 0);
        sp->pid = 0;
    }
    if (sp->fd >= 0)
        close(sp->fd);
    sp->fd = -1;
}

/* The counters the sink prints when a connection ends. */
static int sink_session(sink_proc *sp, sink_stats *st, char *err, size_t errlen)
{
    char line[512];
    if (sink_line(sp, line, sizeof line) != 0) {
        snprintf(err, errlen, "no counters from the sink");
        return -1;
    }
    if (sscanf(line,
               "session messages=%llu data=%llu bdat=%llu bdat_last=%llu bytes=%llu "
               "commands=%llu reads=%llu writes=%llu joined=%llu cpu_us=%lf",
               &st->messages, &st->data, &st->bdat, &st->bdat_last, &st->bytes,
               &st->commands, &st->reads, &st->writes, &st->joined, &st->cpu_us) != 10) {
        snprintf(err, errlen, "the sink's counters are unreadable: %s", line);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- esmtp */

static esmtp_session *new_session(unsigned port, enum mode mode, size_t count, const char *body,
                                  size_t body_len, char *err, size_t errlen)
{
    esmtp_session *s;
    int rc = esmtp_session_new(&s);
    if (rc != 0) {
        snprintf(err, errlen, "esmtp_session_new: %s", esmtp_strerror(rc));
        return NULL;
    }
    rc = esmtp_session_set_server(s, "127.0.0.1", port);
    if (rc == 0)
        rc = esmtp_session_set_helo_name(s, HELO_NAME);
    if (rc == 0)
        rc = esmtp_session_set_timeout(s, ESMTP_TIMEOUT_ALL, IO_TIMEOUT_MS);
    if (rc == 0)
        rc = esmtp_session_set_tls(s, ESMTP_TLS_NONE); /* the sink has no STARTTLS */
    if (rc == 0)
        rc = esmtp_session_set_pipelining(s, 1);
    if (rc == 0)
        rc = esmtp_session_set_chunking(s, mode == MODE_BDAT);
    for (size_t m = 0; rc == 0 && m < count; m++) {
        esmtp_message *msg;
        rc = esmtp_session_add_message(s, &msg);
        if (rc == 0)
            rc = esmtp_message_set_reverse_path(msg, SENDER);
        if (rc == 0)
            rc = esmtp_message_add_recipient(msg, RCPT, NULL);
        if (rc == 0)
            rc = esmtp_message_set_body(msg, body, body_len);
    }
    if (rc != 0) {
        snprintf(err, errlen, "setting up the session: %s", esmtp_strerror(rc));
        esmtp_session_free(s);
        return NULL;
    }
    return s;
}

/* The server offered what was measured, and every message and recipient
 * is OK (check_outcomes). */
static int check_session(esmtp_session *s, size_t count, char *err, size_t errlen)
{
    if (!esmtp_session_extension(s, "PIPELINING") || !esmtp_session_extension(s, "CHUNKING")) {
        snprintf(err, errlen, "the server did not offer PIPELINING and CHUNKING");
        return -1;
    }
    return check_outcomes(s, count, err, errlen);
}

/* What the sink must have seen for `count` messages of body_len octets. */
static int check_sink(const sink_stats *st, enum mode mode, size_t count, size_t body_len,
                      char *err, size_t errlen)
{
    unsigned long long want_bytes = (unsigned long long)count * body_len;
    int mode_ok = mode == MODE_BDAT ? st->bdat_last == count && st->data == 0
                                    : st->data == count && st->bdat == 0;
    if (st->messages != count || st->bytes != want_bytes || !mode_ok) {
        snprintf(err, errlen,
                 "the sink counted %llu messages (%llu by DATA, %llu by BDAT LAST; %llu BDAT "
                 "commands) and %llu body octets; expected %zu messages, all by %s, and "
                 "%llu octets",
                 st->messages, st->data, st->bdat_last, st->bdat, st->bytes, count,
                 mode == MODE_BDAT ? "BDAT LAST" : "DATA", want_bytes);
        return -1;
    }
    return 0;
}

/* One session of `count` messages; timed when it is a measurement. */
static measurement run(sink_proc *sp, enum mode mode, size_t count, const char *body,
                       size_t body_len, char *err, size_t errlen)
{
    measurement res;
    memset(&res, 0, sizeof res);
    res.wall = -1;
    esmtp_session *s = new_session(sp->port, mode, count, body, body_len, err, errlen);
    if (!s)
        return res;
    double c0 = cpu_s(), t0 = now_s();
    int rc = esmtp_session_send(s);
    double t = now_s() - t0, cpu = cpu_s() - c0;
    if (rc != 0) {
        snprintf(err, errlen, "esmtp_session_send: %s (%s)", esmtp_strerror(rc),
                 esmtp_session_detail(s));
    } else {
        rc = check_session(s, count, err, errlen);
    }
    esmtp_session_free(s); /* closes the connection if esmtp has not */
    /* Read the sink's counters whatever happened, so that the next run's
     * line is not mistaken for this one's. */
    sink_stats st;
    char scratch[256];
    if (sink_session(sp, &st, rc == 0 ? err : scratch, rc == 0 ? errlen : sizeof scratch) != 0)
        return res;
    if (rc != 0 || check_sink(&st, mode, count, body_len, err, errlen) != 0)
        return res;
    res.wall = t;
    res.cpu = cpu;
    res.sink = st;
    return res;
}

/* ------------------------------------------------------------- main */

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_chunking [--sink PATH] [--count N] [--repeat R]\n"
               "                      [--scenario 2KB-1rcpt|20KB-1rcpt] [--cpus auto|none|S,B]\n"
               "environment: ESMTP_BENCH_COUNT, ESMTP_BENCH_REPEAT, ESMTP_BENCH_CPUS\n");
}

static int parse_options(int argc, char **argv, options *o)
{
    unsigned long v;
    const char *env;
    o->sink_path = NULL;
    o->count = 10000;
    o->repeat = 3;
    o->only_scenario = NULL;
    o->cpus = "auto";
    if ((env = getenv("ESMTP_BENCH_COUNT")) && *env) {
        if (parse_number(env, 10000000, &v))
            return -1;
        o->count = v;
    }
    if ((env = getenv("ESMTP_BENCH_REPEAT")) && *env) {
        if (parse_number(env, 100, &v))
            return -1;
        o->repeat = (int)v;
    }
    if ((env = getenv("ESMTP_BENCH_CPUS")) && *env)
        o->cpus = env;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return -1;
        const char *val = argv[++i];
        if (strcmp(a, "--sink") == 0) {
            o->sink_path = val;
        } else if (strcmp(a, "--count") == 0) {
            if (parse_number(val, 10000000, &v))
                return -1;
            o->count = v;
        } else if (strcmp(a, "--repeat") == 0) {
            if (parse_number(val, 100, &v))
                return -1;
            o->repeat = (int)v;
        } else if (strcmp(a, "--scenario") == 0) {
            o->only_scenario = val;
        } else if (strcmp(a, "--cpus") == 0) {
            o->cpus = val;
        } else {
            return -1;
        }
    }
    if (o->only_scenario) {
        size_t i = 0;
        while (i < NSCENARIOS && strcmp(scenarios[i].name, o->only_scenario) != 0)
            i++;
        if (i == NSCENARIOS)
            return -1;
    }
    return 0;
}

/* The sink program: --sink, or chunk_sink in this program's directory. */
static char *default_sink(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    if (!slash)
        return strdup("chunk_sink"); /* from PATH, like this program */
    size_t dir = (size_t)(slash - argv0) + 1;
    char *p = xmalloc(dir + sizeof "chunk_sink");
    memcpy(p, argv0, dir);
    memcpy(p + dir, "chunk_sink", sizeof "chunk_sink");
    return p;
}

typedef struct summary {
    double best, median;   /* msgs/s of the fastest and of the median run */
    double cpu_us;         /* least client CPU per message, µs */
    double sink_us;        /* least sink CPU per message, µs */
    double reads, writes;  /* the sink's reads and writes per message, best run */
    double joined;         /* share of MAILs in the same read as the previous end, best run */
} summary;

static summary summarise(const measurement *runs, int n, size_t count)
{
    summary s;
    double *t = xmalloc((size_t)n * sizeof *t);
    int best = 0;
    s.cpu_us = runs[0].cpu;
    s.sink_us = runs[0].sink.cpu_us;
    for (int i = 0; i < n; i++) {
        t[i] = runs[i].wall;
        if (runs[i].wall < runs[best].wall)
            best = i;
        if (runs[i].cpu < s.cpu_us)
            s.cpu_us = runs[i].cpu;
        if (runs[i].sink.cpu_us < s.sink_us)
            s.sink_us = runs[i].sink.cpu_us;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    double mid = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
    double c = (double)count;
    s.best = c / t[0];
    s.median = c / mid;
    s.cpu_us = s.cpu_us * 1e6 / c;
    s.sink_us /= c;
    s.reads = (double)runs[best].sink.reads / c;
    s.writes = (double)runs[best].sink.writes / c;
    s.joined = count > 1 ? (double)runs[best].sink.joined / (c - 1) : 0;
    free(t);
    return s;
}

int main(int argc, char **argv)
{
    bench_prog = "bench_chunking";
    options o;
    int sink_cpu, bench_cpu;
    if (parse_options(argc, argv, &o) != 0 || parse_cpus(o.cpus, &sink_cpu, &bench_cpu) != 0) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    char *sink_path = o.sink_path ? strdup(o.sink_path) : default_sink(argv[0]);
    if (!sink_path) {
        fprintf(stderr, "bench_chunking: out of memory\n");
        return 1;
    }

    /* Pin this process first; the sink pins itself (--cpu). */
    if (bench_cpu >= 0 && pin_self(bench_cpu) != 0) {
        fprintf(stderr, "bench_chunking: cannot run on CPU %d: %s\n", bench_cpu,
                strerror(errno));
        return 2;
    }
    sink_proc sp = {.pid = 0, .fd = -1, .port = 0, .len = 0};
    if (start_sink(&sp, sink_path, sink_cpu) != 0) {
        stop_sink(&sp);
        free(sink_path);
        return 1;
    }
    char where[96];
    if (bench_cpu < 0)
        snprintf(where, sizeof where, "not pinned to CPUs");
    else
        snprintf(where, sizeof where, "sink on CPU %d, benchmark on CPU %d", sink_cpu,
                 bench_cpu);
    printf("esmtp %s chunking benchmark: chunk_sink (pid %d) on 127.0.0.1:%u; %s\n"
           "%zu messages per run, one connection, PIPELINING on; %d run(s) per mode;\n"
           "timed: esmtp_session_send() from connect to the 221 reply to QUIT; best run "
           "counts\n\n",
           esmtp_version(), (int)sp.pid, sp.port, where, o.count, o.repeat);

    char err[1024] = "";
    int failed = 0;

    /* Untimed: dot-leading lines (stuffed under DATA) must arrive intact. */
    for (int mode = 0; mode < NMODES && !failed; mode++) {
        char *body = chunking_body(3000, 1);
        measurement m = run(&sp, (enum mode)mode, 3, body, 3000, err, sizeof err);
        free(body);
        if (m.wall < 0) {
            printf("dot check (%s): FAILED: %s\n", mode_names[mode], err);
            failed = 1;
        }
    }
    if (!failed)
        printf("dot check: bodies with lines beginning with '.' arrived intact by BDAT "
               "and by DATA\n\n");

    struct result {
        const scenario *sc;
        summary sum[NMODES];
    } results[NSCENARIOS];
    size_t nresults = 0;
    measurement *runs[NMODES];
    for (int m = 0; m < NMODES; m++)
        runs[m] = xmalloc((size_t)o.repeat * sizeof *runs[m]);

    for (size_t si = 0; si < NSCENARIOS && !failed; si++) {
        const scenario *sc = &scenarios[si];
        if (o.only_scenario && strcmp(o.only_scenario, sc->name) != 0)
            continue;
        char *body = chunking_body(sc->body_size, 0);
        printf("%s: %zu-byte messages, 1 recipient\n", sc->name, sc->body_size);
        int ok = 1;
        for (int r = 0; r < o.repeat && ok; r++) {
            for (int mode = 0; mode < NMODES && ok; mode++) {
                measurement m =
                    run(&sp, (enum mode)mode, o.count, body, sc->body_size, err, sizeof err);
                if (m.wall < 0) {
                    printf("  run %d %s FAILED: %s\n", r + 1, mode_names[mode], err);
                    ok = 0;
                    break;
                }
                runs[mode][r] = m;
                double c = (double)o.count;
                printf("  run %d %s %7.3f s %8.0f msgs/s  CPU us/msg: esmtp %6.2f, sink %6.2f;"
                       "  sink reads/msg %.3f\n",
                       r + 1, mode_names[mode], m.wall, c / m.wall, m.cpu * 1e6 / c,
                       m.sink.cpu_us / c, (double)m.sink.reads / c);
            }
        }
        free(body);
        if (!ok) {
            failed = 1;
            break;
        }
        struct result *res = &results[nresults++];
        res->sc = sc;
        for (int m = 0; m < NMODES; m++)
            res->sum[m] = summarise(runs[m], o.repeat, o.count);
        printf("  checks: every run: all %zu messages and recipients OK; the sink counted "
               "%zu messages (all by BDAT LAST, or all by DATA) and %zu x %zu body octets\n",
               o.count, o.count, o.count, sc->body_size);
    }
    for (int m = 0; m < NMODES; m++)
        free(runs[m]);
    stop_sink(&sp);
    free(sink_path);

    if (nresults) {
        printf("\n%-10s %9s %9s  %-15s  %-13s  %-13s  %-15s  %s\n", "", "BDAT", "DATA",
               "BDAT/DATA", "esmtp CPU", "sink CPU", "sink reads", "MAIL joined");
        printf("%-10s %9s %9s  %-15s  %-13s  %-13s  %-15s  %s\n", "scenario", "msgs/s",
               "msgs/s", "best (median)", "us/msg B   D", "us/msg B   D", "/msg B     D",
               "B     D");
        for (size_t i = 0; i < nresults; i++) {
            const summary *b = &results[i].sum[MODE_BDAT], *d = &results[i].sum[MODE_DATA];
            char col[40];
            snprintf(col, sizeof col, "%.3f (%.3f)", b->best / d->best, b->median / d->median);
            printf("%-10s %9.0f %9.0f  %-15s  %5.2f %5.2f    %5.2f %5.2f    %5.3f %5.3f    "
                   "%4.2f  %4.2f\n",
                   results[i].sc->name, b->best, d->best, col, b->cpu_us, d->cpu_us,
                   b->sink_us, d->sink_us, b->reads, d->reads, b->joined, d->joined);
        }
        printf("\n(CPU: least over the runs; sink reads per message and \"MAIL joined\", the "
               "share of\nMAIL commands read together with the end of the previous message, "
               "from the best run)\n");
    }
    if (failed)
        printf("\nFAILED: see above\n");
    return failed ? 1 : 0;
}
