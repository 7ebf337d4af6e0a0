/* SPDX-License-Identifier: MIT */
#include "itest.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ENV "/tmp/esmtp-test-servers/env"

char *itest_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = n;
    }
    return buf;
}

static const char *env_path(void)
{
    const char *path = getenv("ESMTP_TEST_ENV");
    return path ? path : DEFAULT_ENV;
}

void itest_need_servers(void)
{
    if (access(env_path(), R_OK) == 0)
        return;
    const char *require = getenv("ESMTP_TEST_REQUIRE_SERVERS");
    int required = require && strcmp(require, "1") == 0;
    fprintf(stderr, "%s: the test servers are not running (no %s): start them with "
                    "tests/servers/ctl.sh start DIR and set ESMTP_TEST_ENV=DIR/env, or use "
                    "scripts/test.sh, which does both\n",
            required ? "FAIL" : "SKIP", env_path());
    exit(required ? 1 : 77);
}

const char *itest_env(const char *key)
{
    static char *env;
    const char *path = env_path();
    if (!env)
        env = itest_read_file(path, NULL);
    if (!env)
        ck_abort_msg("the test servers are not running (no %s): start them with "
                     "tests/servers/ctl.sh start DIR and set ESMTP_TEST_ENV=DIR/env, "
                     "or use scripts/test.sh, which does both", path);
    size_t klen = strlen(key);
    for (const char *line = env; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        if ((size_t)(end - line) > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
            /* Values point into the file's text, so each stays valid. */
            static char *values;
            if (!values) {
                values = strdup(env);
                ck_assert_ptr_nonnull(values);
                for (char *nl = values; (nl = strchr(nl, '\n')); nl++)
                    *nl = '\0';
            }
            return values + (line - env) + klen + 1;
        }
        line = *end ? end + 1 : end;
    }
    ck_abort_msg("%s has no %s", path, key);
    return NULL;
}

unsigned int itest_port(const char *key)
{
    return (unsigned int)strtoul(itest_env(key), NULL, 10);
}

char *itest_mailbox(const char *prefix, const char *domain)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char *out = malloc(256);
    ck_assert_ptr_nonnull(out);
    snprintf(out, 256, "%s-%ld-%ld-%u@%s", prefix, (long)getpid(), (long)ts.tv_nsec, ++counter,
             domain);
    return out;
}

int itest_drive(esmtp_session *s, int how)
{
    if (how == DRIVE_BLOCKING)
        return esmtp_session_send(s);
    int rc = esmtp_session_start(s);
    while (rc == 0) {
        int want = esmtp_session_want(s);
        struct pollfd pfd = {esmtp_session_fd(s), 0, 0};
        pfd.events = (short)((want & ESMTP_WANT_READ ? POLLIN : 0) |
                             (want & ESMTP_WANT_WRITE ? POLLOUT : 0));
        int n = poll(&pfd, 1, esmtp_session_timeout_ms(s));
        int ready = 0;
        if (n > 0) {
            if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
                ready |= want & ESMTP_WANT_READ;
            if (pfd.revents & (POLLOUT | POLLHUP | POLLERR))
                ready |= want & ESMTP_WANT_WRITE;
        }
        rc = esmtp_session_process(s, ready);
    }
    return rc == 1 ? 0 : rc;
}

esmtp_session *itest_session(unsigned int port)
{
    esmtp_session *s;
    ck_assert_int_eq(esmtp_session_new(&s), 0);
    if (port)
        ck_assert_int_eq(esmtp_session_set_server(s, "127.0.0.1", port), 0);
    ck_assert_int_eq(esmtp_session_set_helo_name(s, "client.test"), 0);
    ck_assert_int_eq(esmtp_session_set_tls(s, ESMTP_TLS_NONE), 0);
    ck_assert_int_eq(esmtp_session_set_timeout(s, ESMTP_TIMEOUT_ALL, 10000), 0);
    return s;
}

esmtp_message *itest_message(esmtp_session *s, const char *from, const char *const *to,
                             const char *body, size_t len)
{
    esmtp_message *m;
    ck_assert_int_eq(esmtp_session_add_message(s, &m), 0);
    ck_assert_int_eq(esmtp_message_set_reverse_path(m, from), 0);
    for (; *to; to++)
        ck_assert_int_eq(esmtp_message_add_recipient(m, *to, NULL), 0);
    ck_assert_int_eq(esmtp_message_set_body(m, body, len), 0);
    return m;
}

static void nap(void)
{
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Waits (up to 10 s) for the record of a message to rcpt; returns its
 * envelope text and puts the records' common path (without ".env") in base. */
static char *find_record(const char *rcpt, char *base, size_t baselen)
{
    const char *dir = itest_env("AIOSMTPD_DIR");
    char needle[300];
    snprintf(needle, sizeof needle, "RCPT <%s>", rcpt);
    size_t nl = strlen(needle);
    for (int tries = 0; tries < 200; tries++, nap()) {
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t n = strlen(de->d_name);
            if (n < 5 || strcmp(de->d_name + n - 4, ".env") != 0)
                continue;
            snprintf(base, baselen, "%s/%.*s", dir, (int)(n - 4), de->d_name);
            char path[1100];
            snprintf(path, sizeof path, "%s.env", base);
            char *env = itest_read_file(path, NULL);
            const char *hit = env ? strstr(env, needle) : NULL;
            if (hit && (hit[nl] == '\n' || hit[nl] == ' ' || hit[nl] == '\0')) {
                closedir(d);
                return env;
            }
            free(env);
        }
        closedir(d);
    }
    return NULL;
}

char *itest_aiosmtpd_record(const char *rcpt, char **eml, size_t *eml_len)
{
    char base[1024], path[1100];
    char *env = find_record(rcpt, base, sizeof base);
    if (env) {
        snprintf(path, sizeof path, "%s.eml", base);
        *eml = itest_read_file(path, eml_len);
    }
    return env;
}

char *itest_aiosmtpd_session(const char *rcpt)
{
    char base[1024], path[1100];
    char *env = find_record(rcpt, base, sizeof base);
    if (!env)
        return NULL;
    free(env);
    snprintf(path, sizeof path, "%s.session", base);
    return itest_read_file(path, NULL);
}

/* rcpt's Maildir "new" folder, as tests/servers/ctl.sh lays it out. */
static void maildir_of(const char *rcpt, char *out, size_t outlen)
{
    const char *at = strrchr(rcpt, '@');
    ck_assert_ptr_nonnull(at);
    snprintf(out, outlen, "%s/%s/%.*s/new", itest_env("POSTFIX_MAILDIR"), at + 1,
             (int)(at - rcpt), rcpt);
}

size_t itest_postfix_count(const char *rcpt)
{
    char dir[1024];
    maildir_of(rcpt, dir, sizeof dir);
    DIR *d = opendir(dir);
    size_t count = 0;
    if (!d)
        return 0;
    for (struct dirent *de; (de = readdir(d));)
        count += de->d_name[0] != '.';
    closedir(d);
    return count;
}

char *itest_postfix_delivered(const char *rcpt, size_t *len)
{
    char dir[1024];
    maildir_of(rcpt, dir, sizeof dir);
    for (int tries = 0; tries < 300; tries++, nap()) {
        DIR *d = opendir(dir);
        if (!d)
            continue;
        for (struct dirent *de; (de = readdir(d));) {
            if (de->d_name[0] == '.')
                continue;
            char path[2048];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            closedir(d);
            return itest_read_file(path, len);
        }
        closedir(d);
    }
    return NULL;
}

static int trace_event(esmtp_session *s, esmtp_event ev, esmtp_message *m, esmtp_recipient *r,
                       uint64_t bytes, void *ud)
{
    (void)m, (void)r, (void)bytes;
    itest_trace *t = ud;
    if ((unsigned)ev < sizeof t->events / sizeof *t->events)
        t->events[ev]++;
    if (ev == ESMTP_EVENT_TLS) {
        snprintf(t->tls_version, sizeof t->tls_version, "%s", esmtp_session_tls_version(s));
        snprintf(t->tls_subject, sizeof t->tls_subject, "%s", esmtp_session_tls_peer_subject(s));
        ck_assert_ptr_nonnull(esmtp_session_tls_cipher(s));
    }
    return 0;
}

static void trace_line(esmtp_session *s, esmtp_direction d, const char *line, size_t len,
                       void *ud)
{
    (void)s;
    itest_trace *t = ud;
    size_t used = strlen(t->transcript);
    snprintf(t->transcript + used, sizeof t->transcript - used, "%c: %.*s\n",
             d == ESMTP_FROM_CLIENT ? 'C' : d == ESMTP_FROM_SERVER ? 'S' : '-', (int)len, line);
}

void itest_watch(esmtp_session *s, itest_trace *t)
{
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(esmtp_session_set_progress_cb(s, trace_event, t), 0);
    ck_assert_int_eq(esmtp_session_set_transcript_cb(s, trace_line, t), 0);
}

int itest_listen(unsigned int *port, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0, "cannot bind port %u", *port);
    ck_assert_int_eq(listen(fd, backlog), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}
