/* Sends one message with a 1 GiB attachment, built by the MIME layer and
 * streamed from a read callback, to smtp-sink, and reports the time and
 * the process's peak memory: the builder and the session must stay within
 * a few MiB whatever the attachment's size.
 *
 *   bench_bigmime --port PORT [--mib N]     (run through run-bench.sh)
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <esmtp/esmtp.h>

#include "benchutil.h"

/* Pseudo-random bytes (incompressible, so base64 does real work), made on
 * the fly: no copy of the attachment exists anywhere. */
typedef struct source {
    uint64_t left;
    uint64_t state;
} source;

static long produce(esmtp_mime_part *part, void *buf, size_t len, void *user_data)
{
    (void)part;
    source *src = user_data;
    if (len > src->left)
        len = (size_t)src->left;
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i += 8) {
        src->state = src->state * 6364136223846793005u + 1442695040888963407u;
        uint64_t v = src->state;
        memcpy(p + i, &v, len - i < 8 ? len - i : 8);
    }
    src->left -= len;
    return (long)len;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    unsigned port = 0;
    uint64_t mib = 1024;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--mib") == 0)
            mib = strtoull(argv[i + 1], NULL, 10);
    }
    if (!port) {
        fprintf(stderr, "usage: bench_bigmime --port PORT [--mib N]\n");
        return 2;
    }
    long rss_before = peak_rss_kib();
    source src = {mib << 20, 42};
    esmtp_session *s;
    esmtp_message *m;
    esmtp_mime *mime;
    esmtp_mime_part *att;
    int rc = esmtp_session_new(&s);
    if (rc == 0)
        rc = esmtp_session_set_server(s, "127.0.0.1", port);
    if (rc == 0)
        rc = esmtp_session_set_tls(s, ESMTP_TLS_NONE); /* smtp-sink speaks plain SMTP */
    if (rc == 0)
        rc = esmtp_session_add_message(s, &m);
    if (rc == 0)
        rc = esmtp_mime_new(&mime);
    if (rc == 0)
        rc = esmtp_mime_add_mailbox(mime, ESMTP_MIME_FROM, NULL, "sender@example.org");
    if (rc == 0)
        rc = esmtp_mime_add_mailbox(mime, ESMTP_MIME_TO, NULL, "rcpt@example.net");
    if (rc == 0)
        rc = esmtp_mime_set_subject(mime, "一个很大的附件 (a very large attachment)");
    if (rc == 0)
        rc = esmtp_mime_set_text(mime, "See the attachment.\n", 20);
    if (rc == 0)
        rc = esmtp_mime_add_attachment(mime, &att);
    if (rc == 0)
        rc = esmtp_mime_part_set_read_cb(att, produce, src.left, &src);
    if (rc == 0)
        rc = esmtp_mime_part_set_filename(att, "大文件.bin");
    if (rc == 0)
        rc = esmtp_mime_attach(m, mime);
    if (rc) {
        fprintf(stderr, "bench_bigmime: setup failed: %s\n", esmtp_strerror(rc));
        return 1;
    }
    double t0 = now_s();
    rc = esmtp_session_send(s);
    double secs = now_s() - t0;
    int ok = rc == 0 && esmtp_message_status(m) == ESMTP_STATUS_OK && src.left == 0;
    printf("attachment %llu MiB, sent in %.2f s (%.0f MiB/s of attachment), result %s\n",
           (unsigned long long)mib, secs, (double)mib / secs,
           ok ? "ok" : esmtp_session_detail(s));
    printf("peak RSS %ld KiB (%ld KiB before the session)\n", peak_rss_kib(), rss_before);
    esmtp_session_free(s);
    return ok ? 0 : 1;
}
