/* Builds MIME messages for the round-trip test (mime_roundtrip.py): writes
 * each message as NAME.eml, the decoded content each leaf part must give
 * back as NAME.N.bin, and what every header must parse to in
 * manifest.json.  Usage: mime_build OUTDIR.  SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <esmtp/esmtp.h>

static const char *outdir;
static FILE *manifest;
static int nparts;   /* leaf parts described for the current message */

static void fail(const char *what, int rc)
{
    fprintf(stderr, "mime_build: %s: %s\n", what, esmtp_strerror(rc));
    exit(1);
}

#define CHECK(call)                      \
    do {                                 \
        int rc_ = (call);                \
        if (rc_ != 0)                    \
            fail(#call, rc_);            \
    } while (0)

static void json_str(const char *s)
{
    fputc('"', manifest);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(manifest, "\\%c", c);
        else if (c < 0x20)
            fprintf(manifest, "\\u%04x", c);
        else
            fputc(c, manifest);
    }
    fputc('"', manifest);
}

static void write_file(const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* Describes the next leaf part in walk order and stores its content. */
static void expect_part(const char *msg, const char *type, const char *filename,
                        const char *cid, const void *data, size_t len)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%d.bin", msg, nparts);
    write_file(name, data, len);
    fprintf(manifest, "%s{\"type\": ", nparts++ ? ", " : "");
    json_str(type);
    fprintf(manifest, ", \"filename\": ");
    if (filename)
        json_str(filename);
    else
        fputs("null", manifest);
    fprintf(manifest, ", \"cid\": ");
    if (cid)
        json_str(cid);
    else
        fputs("null", manifest);
    fprintf(manifest, ", \"data\": ");
    json_str(name);
    fputc('}', manifest);
}

/* Writes the message and starts its manifest entry. */
static void emit(const char *name, esmtp_mime *m, int allow_8bit, int first)
{
    uint64_t size;
    int has_8bit;
    CHECK(esmtp_mime_prepare(m, allow_8bit, &size, &has_8bit));
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.eml", outdir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    char buf[1000]; /* an odd size, so reads end in the middle of things */
    long n;
    uint64_t total = 0;
    while ((n = esmtp_mime_read(m, buf, sizeof buf)) > 0) {
        fwrite(buf, 1, (size_t)n, f);
        total += (uint64_t)n;
    }
    if (n < 0)
        fail("esmtp_mime_read", (int)n);
    fclose(f);
    fprintf(manifest, "%s\n  ", first ? "" : ",");
    json_str(name);
    fprintf(manifest, ": {\"size\": %llu, \"written\": %llu, \"allow_8bit\": %d, \"parts\": [",
            (unsigned long long)size, (unsigned long long)total, allow_8bit);
    nparts = 0;
}

static long counter_cb(esmtp_mime_part *part, void *buf, size_t len, void *user_data)
{
    (void)part;
    size_t *pos = user_data;
    size_t n = 0;
    for (; n < len && *pos < 300000; n++, (*pos)++)
        ((unsigned char *)buf)[n] = (unsigned char)((*pos * 7) ^ (*pos >> 8));
    return (long)n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mime_build OUTDIR\n");
        return 64;
    }
    outdir = argv[1];
    char mpath[4096];
    snprintf(mpath, sizeof mpath, "%s/manifest.json", outdir);
    manifest = fopen(mpath, "w");
    if (!manifest) {
        perror(mpath);
        return 1;
    }
    fputs("{", manifest);

    /* A text with what breaks naive encoders: Chinese, emoji, a line far
     * over 998 bytes, lines holding only a dot, trailing white space,
     * '=' signs, bare CR and LF line ends. */
    static char text[8000];
    strcpy(text, "你好，世界！ Hello 😀\n.\n..\nend with space \nx=y\r\nbare cr\rlast\n");
    size_t tl = strlen(text);
    for (int i = 0; i < 3000; i++)
        text[tl++] = "abc \xe4\xb8\xad"[i % 7];
    strcpy(text + tl, "\n.\nthe end");
    const char *html = "<html><body><p>你好 <b>世界</b></p><img src=\"cid:logo@example.cn\">"
                       "</body></html>\n";
    unsigned char png[3000];
    for (size_t i = 0; i < sizeof png; i++)
        png[i] = (unsigned char)(i * 31 + (i >> 3));
    unsigned char bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (unsigned char)i;
    const char *zh_name = "2024年第一季度销售报告（最终版本）非常非常非常长的文件名称用于测试.pdf";
    const char *subject = "【重要】季度报告 Quarterly report 📊 — 请查收 please review the attached "
                          "files before Friday";

    for (int allow8 = 0; allow8 < 2; allow8++) {
        esmtp_mime *m;
        CHECK(esmtp_mime_new(&m));
        CHECK(esmtp_mime_set_deterministic(m, 42));
        CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "张三 (Zhang San)", "zs@example.cn"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_TO,
                                       "\"李四\" <ls@example.cn>, \"Doe, John\" <jd@example.com>"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_CC, "王五 <ww@example.cn>"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_BCC, "hidden@example.net"));
        CHECK(esmtp_mime_set_subject(m, subject));
        CHECK(esmtp_mime_set_text(m, text, strlen(text)));
        CHECK(esmtp_mime_set_html(m, html, strlen(html)));
        esmtp_mime_part *p;
        CHECK(esmtp_mime_add_inline(m, "logo@example.cn", &p));
        CHECK(esmtp_mime_part_set_data(p, png, sizeof png));
        CHECK(esmtp_mime_part_set_type(p, "image/png"));
        CHECK(esmtp_mime_add_attachment(m, &p));
        CHECK(esmtp_mime_part_set_data(p, bin, sizeof bin));
        CHECK(esmtp_mime_part_set_filename(p, zh_name));
        CHECK(esmtp_mime_add_attachment(m, &p));
        CHECK(esmtp_mime_part_set_data(p, "col1,col2\n1,2\n", 14));
        CHECK(esmtp_mime_part_set_filename(p, "数据 data.csv"));
        const char *name = allow8 ? "chinese_8bit" : "chinese_7bit";
        emit(name, m, allow8, !allow8);
        expect_part(name, "text/plain", NULL, NULL, text, strlen(text));
        expect_part(name, "text/html", NULL, NULL, html, strlen(html));
        expect_part(name, "image/png", NULL, "logo@example.cn", png, sizeof png);
        expect_part(name, "application/pdf", zh_name, NULL, bin, sizeof bin);
        expect_part(name, "text/csv", "数据 data.csv", NULL, "col1,col2\n1,2\n", 14);
        fprintf(manifest, "], \"subject\": ");
        json_str(subject);
        fputs(", \"from\": [[\"张三 (Zhang San)\", \"zs@example.cn\"]], \"to\": [[\"李四\", "
              "\"ls@example.cn\"], [\"Doe, John\", \"jd@example.com\"]], \"cc\": [[\"王五\", "
              "\"ww@example.cn\"]]}",
              manifest);
        esmtp_mime_free(m);
    }

    /* A tree built by hand: mixed( alternative( text, related( html,
     * image ) ), a file read lazily, a callback ). */
    {
        char fpath[4096];
        snprintf(fpath, sizeof fpath, "%s/source-文件.bin", outdir);
        FILE *f = fopen(fpath, "wb");
        for (int i = 0; i < 100000; i++)
            fputc((i * 13) & 0xff, f);
        fclose(f);
        esmtp_mime *m;
        CHECK(esmtp_mime_new(&m));
        CHECK(esmtp_mime_set_deterministic(m, 7));
        CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, NULL, "a@example.org"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_TO, "Team: x@example.org, y@example.org;"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_REPLY_TO, "Support <help@example.org>"));
        CHECK(esmtp_mime_set_subject(m, "nested"));
        CHECK(esmtp_mime_set_in_reply_to(m, "<orig@example.org>"));
        CHECK(esmtp_mime_set_references(m, "<a@example.org> <orig@example.org>"));
        CHECK(esmtp_mime_set_list_unsubscribe(m, "mailto:unsub@example.org",
                                              "https://example.org/unsub?u=1", 1));
        CHECK(esmtp_mime_add_header(m, "X-Note", "ünïcödé value"));
        esmtp_mime_part *body, *alt, *t, *rel, *h, *img, *file, *cb;
        CHECK(esmtp_mime_body(m, &body));
        CHECK(esmtp_mime_part_set_type(body, "multipart/mixed"));
        CHECK(esmtp_mime_part_add_subpart(body, &alt));
        CHECK(esmtp_mime_part_set_type(alt, "multipart/alternative"));
        CHECK(esmtp_mime_part_add_subpart(alt, &t));
        CHECK(esmtp_mime_part_set_type(t, "text/plain"));
        CHECK(esmtp_mime_part_set_data(t, "plain\n", 6));
        CHECK(esmtp_mime_part_add_subpart(alt, &rel));
        CHECK(esmtp_mime_part_set_type(rel, "multipart/related"));
        CHECK(esmtp_mime_part_add_subpart(rel, &h));
        CHECK(esmtp_mime_part_set_type(h, "text/html"));
        CHECK(esmtp_mime_part_set_data(h, "<img src=\"cid:i@x\">\n", 20));
        CHECK(esmtp_mime_part_add_subpart(rel, &img));
        CHECK(esmtp_mime_part_set_type(img, "image/gif"));
        CHECK(esmtp_mime_part_set_content_id(img, "i@x"));
        CHECK(esmtp_mime_part_set_disposition(img, ESMTP_MIME_DISP_INLINE));
        CHECK(esmtp_mime_part_set_data(img, "GIF89a", 6));
        CHECK(esmtp_mime_part_add_subpart(body, &file));
        CHECK(esmtp_mime_part_set_file(file, fpath));
        CHECK(esmtp_mime_part_add_subpart(body, &cb));
        size_t pos = 0;
        CHECK(esmtp_mime_part_set_read_cb(cb, counter_cb, 300000, &pos));
        CHECK(esmtp_mime_part_set_filename(cb, "stream.dat"));
        CHECK(esmtp_mime_part_add_header(cb, "Content-Description", "generated"));
        emit("nested", m, 0, 0);
        expect_part("nested", "text/plain", NULL, NULL, "plain\n", 6);
        expect_part("nested", "text/html", NULL, NULL, "<img src=\"cid:i@x\">\n", 20);
        expect_part("nested", "image/gif", NULL, "i@x", "GIF89a", 6);
        unsigned char *fb = malloc(300000);
        for (int i = 0; i < 100000; i++)
            fb[i] = (unsigned char)((i * 13) & 0xff);
        expect_part("nested", "application/octet-stream", "source-文件.bin", NULL, fb, 100000);
        for (size_t i = 0; i < 300000; i++)
            fb[i] = (unsigned char)((i * 7) ^ (i >> 8));
        expect_part("nested", "application/octet-stream", "stream.dat", NULL, fb, 300000);
        free(fb);
        fputs("], \"subject\": \"nested\", \"from\": [[\"\", \"a@example.org\"]], \"to\": "
              "[[\"\", \"x@example.org\"], [\"\", \"y@example.org\"]], \"cc\": null}",
              manifest);
        esmtp_mime_free(m);
    }

    /* One text part, no final newline: nothing may be added to it. */
    {
        esmtp_mime *m;
        CHECK(esmtp_mime_new(&m));
        CHECK(esmtp_mime_set_deterministic(m, 9));
        CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "Ünïcode Sender", "s@example.org"));
        CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_TO, NULL, "r@example.org"));
        const char *t = "Grüße, no newline at the end";
        CHECK(esmtp_mime_set_text(m, t, strlen(t)));
        CHECK(esmtp_mime_set_subject(m, "😀"));
        emit("single", m, 0, 0);
        expect_part("single", "text/plain", NULL, NULL, t, strlen(t));
        fputs("], \"subject\": \"😀\", \"from\": [[\"Ünïcode Sender\", \"s@example.org\"]], "
              "\"to\": [[\"\", \"r@example.org\"]], \"cc\": null}",
              manifest);
        esmtp_mime_free(m);
    }
    /* Unicode domains without SMTPUTF8: A-labels in a 7-bit header. */
    {
        esmtp_mime *m;
        CHECK(esmtp_mime_new(&m));
        CHECK(esmtp_mime_set_deterministic(m, 11));
        CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "Bücher", "info@bücher.example"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_TO, "李四 <ls@例え.テスト>"));
        CHECK(esmtp_mime_set_subject(m, "IDN 域名"));
        CHECK(esmtp_mime_set_text(m, "hi\n", 3));
        emit("idn_alabels", m, 0, 0);
        expect_part("idn_alabels", "text/plain", NULL, NULL, "hi\n", 3);
        fputs("], \"subject\": \"IDN 域名\", \"from\": [[\"Bücher\", "
              "\"info@xn--bcher-kva.example\"]], \"to\": [[\"李四\", "
              "\"ls@xn--r8jz45g.xn--zckzah\"]], \"cc\": null}",
              manifest);
        esmtp_mime_free(m);
    }

    /* An internationalised header (RFC 6532), as sent with SMTPUTF8: a
     * non-ASCII local part, U-labels, raw UTF-8 display names, Subject and
     * added field; the body still 7-bit (no 8BITMIME). */
    {
        esmtp_mime *m;
        CHECK(esmtp_mime_new(&m));
        CHECK(esmtp_mime_set_deterministic(m, 12));
        CHECK(esmtp_mime_set_utf8_headers(m, 1));
        CHECK(esmtp_mime_add_mailbox(m, ESMTP_MIME_FROM, "张三", "张三@例え.テスト"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_TO,
                                       "\"Doe, 李\" <ls@bücher.example>, 用户@example.org"));
        CHECK(esmtp_mime_add_addresses(m, ESMTP_MIME_CC, "Ünïcode Team: ww@例え.テスト;"));
        CHECK(esmtp_mime_set_subject(m, subject));
        CHECK(esmtp_mime_add_header(m, "X-Note", "ünïcödé value"));
        const char *t = "Grüße\n你好\n";
        CHECK(esmtp_mime_set_text(m, t, strlen(t)));
        esmtp_mime_part *p;
        CHECK(esmtp_mime_add_attachment(m, &p));
        CHECK(esmtp_mime_part_set_data(p, bin, sizeof bin));
        CHECK(esmtp_mime_part_set_filename(p, "数据.bin"));
        emit("smtputf8", m, 0, 0);
        expect_part("smtputf8", "text/plain", NULL, NULL, t, strlen(t));
        expect_part("smtputf8", "application/octet-stream", "数据.bin", NULL, bin, sizeof bin);
        fprintf(manifest, "], \"smtputf8\": true, \"subject\": ");
        json_str(subject);
        fputs(", \"from\": [[\"张三\", \"张三@例え.テスト\"]], \"to\": [[\"Doe, 李\", "
              "\"ls@bücher.example\"], [\"\", \"用户@example.org\"]], \"cc\": [[\"\", "
              "\"ww@例え.テスト\"]], \"x-note\": \"ünïcödé value\"}",
              manifest);
        esmtp_mime_free(m);
    }
    fputs("\n}\n", manifest);
    fclose(manifest);
    return 0;
}
