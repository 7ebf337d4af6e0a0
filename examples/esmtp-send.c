/*
 * esmtp-send: a small sendmail-like tool built on esmtp's public API only.
 *
 * Sends one complete RFC 5322 message, read from a file or from standard
 * input, to the given envelope recipients through one SMTP server, and
 * prints one result line per recipient. The body is streamed, so a message
 * of any size is sent in constant memory.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <esmtp/esmtp.h>

static const char *progname = "esmtp-send";

/* Exit codes, as sysexits.h numbers them (that header is not POSIX). */
enum {
    RC_OK = 0,
    RC_USAGE = 64,       /* EX_USAGE: bad command line */
    RC_NOINPUT = 66,     /* EX_NOINPUT: the message file cannot be read */
    RC_UNAVAILABLE = 69, /* EX_UNAVAILABLE: failed permanently */
    RC_OSERR = 71,       /* EX_OSERR: local system error (out of memory) */
    RC_TEMPFAIL = 75     /* EX_TEMPFAIL: failed temporarily or outcome unknown */
};

static void short_usage(FILE *out)
{
    fprintf(out,
            "Usage: %s --server HOST[:PORT] --from ADDR --to ADDR [--to ADDR ...]\n"
            "       [--message FILE] [--timeout SECONDS] [--helo NAME]\n"
            "       [--no-pipelining] [--trace] [--tls MODE] [--cafile FILE]\n"
            "       [--cert FILE --key FILE] [--pin SHA256] [--insecure]\n",
            progname);
}

static void help(void)
{
    short_usage(stdout);
    fputs("\n"
          "Sends one complete RFC 5322 message (headers, blank line, body) to the\n"
          "given envelope recipients through one SMTP server. The message is read\n"
          "from FILE, or from standard input without --message, and is streamed:\n"
          "its size does not matter. Line ends may be CRLF, LF or CR.\n"
          "\n"
          "Options:\n"
          "  --server HOST[:PORT]  the SMTP server: a host name, an IPv4 address, or an\n"
          "                        IPv6 address in brackets ([::1] or [::1]:2525; a bare\n"
          "                        ::1 without a port works too). The port defaults to 25.\n"
          "  --from ADDR           envelope sender (MAIL FROM), without angle brackets;\n"
          "                        '' gives the null sender <>\n"
          "  --to ADDR             envelope recipient (RCPT TO); repeat for more\n"
          "  --message FILE        read the message from FILE ('-' is standard input)\n"
          "  --timeout SECONDS     time limit for every protocol phase (default: those of\n"
          "                        RFC 5321, e.g. 5 minutes for a command reply)\n"
          "  --helo NAME           the name to send in EHLO/HELO\n"
          "  --no-pipelining       do not use PIPELINING even if the server offers it\n"
          "  --tls MODE            none, starttls (required), starttls-optional or\n"
          "                        implicit; default: implicit on port 465, else starttls\n"
          "  --cafile FILE         trust the CA certificates in FILE (PEM) instead of the\n"
          "                        system's\n"
          "  --cert FILE --key FILE  present this client certificate and key (PEM)\n"
          "  --pin SHA256          trust the server key whose SubjectPublicKeyInfo has this\n"
          "                        base64 SHA-256 (the host name must still match)\n"
          "  --insecure            INSECURE: accept any certificate (tests only)\n"
          "  --trace               show the SMTP dialogue on standard error: 'C: ' for\n"
          "                        commands, 'S: ' for replies, '-- ' for notes\n"
          "  --help                show this text\n"
          "  --version             show the version\n"
          "\n"
          "A message file is scanned once before sending, so that its size is\n"
          "announced (SIZE=) and 8-bit content is declared (BODY=8BITMIME). Standard\n"
          "input is not scanned and must therefore be 7-bit ASCII: send 8-bit messages\n"
          "with --message FILE.\n"
          "\n"
          "Output: one line per recipient on standard output,\n"
          "  ADDRESS: STATUS CODE [ENHANCED-CODE] TEXT\n"
          "where STATUS is ok, tempfail, permfail or unknown (the message was sent but\n"
          "its confirmation never came), CODE is the server's reply code or 0 when\n"
          "esmtp decided by itself, and the lines of a multi-line reply are joined with\n"
          "' / '. If the session failed, a line on standard error says why.\n"
          "\n"
          "Exit status (sysexits.h):\n"
          "   0  every recipient accepted the message\n"
          "  64  usage error: bad option, missing or invalid argument (EX_USAGE)\n"
          "  66  the message file cannot be opened or read (EX_NOINPUT)\n"
          "  69  not delivered to some or all recipients, and every failure is\n"
          "      permanent: do not retry (EX_UNAVAILABLE)\n"
          "  71  local system error, e.g. out of memory (EX_OSERR)\n"
          "  75  something failed temporarily, its outcome is unknown, or the session\n"
          "      failed (no connection, timeout, 421, ...): retry later (EX_TEMPFAIL)\n",
          stdout);
}

/* A usage error: says what, points to --help, and gives the exit code. */
static int usage_error(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "%s: %s '%s'\n", progname, what, arg);
    else
        fprintf(stderr, "%s: %s\n", progname, what);
    short_usage(stderr);
    fprintf(stderr, "Try '%s --help' for more information.\n", progname);
    return RC_USAGE;
}

/* ---------------------------------------------------------------- parsing */

/* A decimal number without sign or spaces, within [min, max]. */
static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/*
 * Splits HOST[:PORT]. A host in brackets is an IPv6 literal and keeps its
 * brackets, which tell esmtp not to look it up as a name. Several colons
 * without brackets make a bare IPv6 address without a port. *port is 0
 * (esmtp's default, 25) when none is given.
 */
static int parse_server(const char *arg, char *host, size_t hostlen, unsigned int *port)
{
    const char *host_end;
    const char *port_str = NULL;

    if (arg[0] == '[') {
        const char *close = strchr(arg, ']');
        if (!close || close == arg + 1)
            return -1;
        host_end = close + 1;
        if (*host_end == ':')
            port_str = host_end + 1;
        else if (*host_end != '\0')
            return -1;
    } else {
        const char *colon = strchr(arg, ':');
        if (colon && !strchr(colon + 1, ':')) {
            host_end = colon;
            port_str = colon + 1;
        } else {
            host_end = arg + strlen(arg);
        }
    }
    size_t n = (size_t)(host_end - arg);
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, arg, n);
    host[n] = '\0';

    *port = 0;
    if (port_str) {
        unsigned long p;
        if (parse_uint(port_str, 1, 65535, &p) != 0)
            return -1;
        *port = (unsigned int)p;
    }
    return 0;
}

/* ------------------------------------------------------------- printing */

/*
 * Writes len bytes of server or library text on one line: the line breaks
 * of a multi-line reply become " / ", and other control characters are
 * shown as \xHH so that a hostile server cannot drive the terminal.
 */
static void put_text(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs(" / ", out);
        else if ((c < 0x20 && c != '\t') || c == 0x7f)
            fprintf(out, "\\x%02X", c);
        else
            fputc(c, out);
    }
}

static void on_transcript(esmtp_session *session, esmtp_direction direction, const char *line,
                          size_t len, void *user_data)
{
    (void)session;
    (void)user_data;
    const char *prefix = direction == ESMTP_FROM_CLIENT   ? "C: "
                         : direction == ESMTP_FROM_SERVER ? "S: "
                                                          : "-- ";
    fputs(prefix, stderr);
    put_text(stderr, line, len);
    fputc('\n', stderr);
}

static void print_recipient(const esmtp_recipient *r)
{
    const char *enhanced = esmtp_recipient_enhanced_code(r);
    const char *text = esmtp_recipient_text(r);

    printf("%s: %s %d", esmtp_recipient_mailbox(r),
           esmtp_status_name(esmtp_recipient_status(r)), esmtp_recipient_code(r));
    if (*enhanced)
        printf(" %s", enhanced);
    if (*text) {
        putchar(' ');
        put_text(stdout, text, strlen(text));
    }
    putchar('\n');
}

/* ----------------------------------------------------------------- body */

/* The streamed body: the open message and the first read error, if any. */
struct body_source {
    FILE *file;
    const char *name;
    int read_errno; /* 0 while reading goes well */
};

/* esmtp_read_cb over a FILE*: called while sending, a chunk at a time. */
static long read_body(esmtp_message *message, void *buf, size_t len, void *user_data)
{
    (void)message;
    struct body_source *src = user_data;
    if (len > LONG_MAX)
        len = LONG_MAX;
    errno = 0;
    size_t n = fread(buf, 1, len, src->file);
    if (n == 0 && ferror(src->file)) {
        src->read_errno = errno ? errno : EIO;
        return -1; /* esmtp drops the connection: nothing half-sent is delivered */
    }
    return (long)n;
}

/*
 * Measures a message file the way esmtp sends it (each line end as CRLF, a
 * missing final line end added, dot-stuffing not counted, as SIZE wants)
 * and tells whether it has 8-bit bytes. Rewinds the file afterwards.
 */
static int scan_body(FILE *f, uint64_t *size, int *has_8bit)
{
    unsigned char buf[65536];
    uint64_t total = 0;
    unsigned char any = 0;
    int after_cr = 0;   /* the previous byte was a CR (already counted as CRLF) */
    int line_open = 0;  /* bytes follow the last line end */
    size_t n;

    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = buf[i];
            any |= c;
            if (c == '\n') {
                total += after_cr ? 0 : 2; /* CRLF was counted at the CR */
                after_cr = line_open = 0;
            } else if (c == '\r') {
                total += 2;
                after_cr = 1;
                line_open = 0;
            } else {
                total += 1;
                after_cr = 0;
                line_open = 1;
            }
        }
    }
    if (ferror(f) || fseek(f, 0, SEEK_SET) != 0)
        return -1;
    if (line_open)
        total += 2;
    *size = total;
    *has_8bit = any >= 0x80;
    return 0;
}

/* ------------------------------------------------------------------ main */

struct options {
    char host[300];
    unsigned int port;
    const char *server;
    const char *from;
    const char **to;
    size_t nto;
    const char *message;
    unsigned int timeout_ms; /* 0: the library's defaults */
    const char *helo;
    int trace;
    int no_pipelining;
    esmtp_tls_mode tls;
    const char *cafile;
    const char *cert;
    const char *key;
    const char *pin;
    int insecure;
};

/* --tls names, in esmtp_tls_mode order. */
static const char *const tls_modes[] = {"default", "none", "starttls", "starttls-optional",
                                        "implicit"};

/* Returns -1 to go on, or the exit code to leave with. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_SERVER = 256, OPT_FROM, OPT_TO, OPT_MESSAGE, OPT_TIMEOUT, OPT_HELO,
           OPT_TRACE, OPT_NO_PIPELINING, OPT_VERSION, OPT_TLS, OPT_CAFILE, OPT_CERT,
           OPT_KEY, OPT_PIN, OPT_INSECURE };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"helo", required_argument, NULL, OPT_HELO},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"no-pipelining", no_argument, NULL, OPT_NO_PIPELINING},
        {"tls", required_argument, NULL, OPT_TLS},
        {"cafile", required_argument, NULL, OPT_CAFILE},
        {"cert", required_argument, NULL, OPT_CERT},
        {"key", required_argument, NULL, OPT_KEY},
        {"pin", required_argument, NULL, OPT_PIN},
        {"insecure", no_argument, NULL, OPT_INSECURE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    unsigned long v;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SERVER:
            if (parse_server(optarg, o->host, sizeof o->host, &o->port) != 0)
                return usage_error("invalid --server", optarg);
            o->server = optarg;
            break;
        case OPT_FROM:
            o->from = optarg;
            break;
        case OPT_TO:
            o->to[o->nto++] = optarg; /* o->to has room for argc entries */
            break;
        case OPT_MESSAGE:
            o->message = optarg;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, 1, UINT_MAX / 1000, &v) != 0)
                return usage_error("invalid --timeout (whole seconds, at least 1)", optarg);
            o->timeout_ms = (unsigned int)v * 1000;
            break;
        case OPT_HELO:
            o->helo = optarg;
            break;
        case OPT_TRACE:
            o->trace = 1;
            break;
        case OPT_NO_PIPELINING:
            o->no_pipelining = 1;
            break;
        case OPT_TLS: {
            size_t i = 0;
            while (i < sizeof tls_modes / sizeof *tls_modes && strcmp(optarg, tls_modes[i]) != 0)
                i++;
            if (i == sizeof tls_modes / sizeof *tls_modes)
                return usage_error("invalid --tls (none, starttls, starttls-optional, implicit)",
                                   optarg);
            o->tls = (esmtp_tls_mode)i;
            break;
        }
        case OPT_CAFILE:
            o->cafile = optarg;
            break;
        case OPT_CERT:
            o->cert = optarg;
            break;
        case OPT_KEY:
            o->key = optarg;
            break;
        case OPT_PIN:
            o->pin = optarg;
            break;
        case OPT_INSECURE:
            o->insecure = 1;
            break;
        case 'h':
            help();
            return RC_OK;
        case OPT_VERSION:
            printf("%s (esmtp %s)\n", progname, esmtp_version());
            return RC_OK;
        default: /* getopt_long has said what is wrong */
            short_usage(stderr);
            fprintf(stderr, "Try '%s --help' for more information.\n", progname);
            return RC_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument", argv[optind]);
    if (!o->server)
        return usage_error("--server is required", NULL);
    if (!o->from)
        return usage_error("--from is required ('' for the null sender)", NULL);
    if (o->nto == 0)
        return usage_error("at least one --to is required", NULL);
    return -1;
}

/* Maps a failed setup call to an exit code; EINVAL means a bad argument. */
static int setup_error(int rc, const char *what, const char *arg)
{
    if (rc == ESMTP_EINVAL)
        return usage_error(what, arg);
    fprintf(stderr, "%s: %s\n", progname, esmtp_strerror(rc));
    return rc == ESMTP_ENOMEM ? RC_OSERR : RC_TEMPFAIL;
}

/*
 * The exit code from the outcomes: any temporary or undecided failure wins
 * (a retry may help), then permanent ones. A failed session leaves every
 * unfinished message TEMPFAIL or UNKNOWN, so it shows up here too.
 */
static int outcome_exit_code(const esmtp_session *s, int rc)
{
    int temp = 0, perm = 0;
    for (size_t i = 0; i < esmtp_session_message_count(s); i++) {
        const esmtp_message *m = esmtp_session_message(s, i);
        esmtp_status st = esmtp_message_status(m);
        perm |= st == ESMTP_STATUS_PERMFAIL;
        temp |= st != ESMTP_STATUS_PERMFAIL && st != ESMTP_STATUS_OK;
        for (size_t j = 0; j < esmtp_message_recipient_count(m); j++) {
            st = esmtp_recipient_status(esmtp_message_recipient(m, j));
            perm |= st == ESMTP_STATUS_PERMFAIL;
            /* TEMPFAIL, UNKNOWN, or never decided */
            temp |= st != ESMTP_STATUS_PERMFAIL && st != ESMTP_STATUS_OK;
        }
    }
    if (temp)
        return RC_TEMPFAIL;
    if (perm)
        return RC_UNAVAILABLE;
    return rc < 0 ? RC_TEMPFAIL : RC_OK;
}

int main(int argc, char **argv)
{
    if (argc > 0 && argv[0][0]) {
        const char *slash = strrchr(argv[0], '/');
        progname = slash ? slash + 1 : argv[0];
    }
    struct options o;
    memset(&o, 0, sizeof o);
    o.to = calloc((size_t)argc, sizeof *o.to);
    if (!o.to) {
        fprintf(stderr, "%s: %s\n", progname, strerror(errno));
        return RC_OSERR;
    }
    int status = parse_args(argc, argv, &o);
    if (status >= 0) {
        free(o.to);
        return status;
    }

    esmtp_session *s = NULL;
    esmtp_message *m = NULL;
    struct body_source src = {NULL, NULL, 0};
    struct stat st;
    int use_stdin = !o.message || strcmp(o.message, "-") == 0;
    int rc = esmtp_session_new(&s);
    if (rc == 0)
        rc = esmtp_session_set_server(s, o.host, o.port);
    if (rc) {
        status = setup_error(rc, "invalid --server", o.server);
        goto out;
    }
    if (o.helo && (rc = esmtp_session_set_helo_name(s, o.helo)) != 0) {
        status = setup_error(rc, "invalid --helo", o.helo);
        goto out;
    }
    if (o.timeout_ms)
        esmtp_session_set_timeout(s, ESMTP_TIMEOUT_ALL, o.timeout_ms);
    if (o.no_pipelining)
        esmtp_session_set_pipelining(s, 0);
    esmtp_session_set_tls(s, o.tls);
    esmtp_session_set_tls_insecure_no_verify(s, o.insecure);
    if ((o.cafile && (rc = esmtp_session_set_ca(s, o.cafile, NULL)) != 0) ||
        ((o.cert || o.key) && (rc = esmtp_session_set_client_cert(s, o.cert, o.key)) != 0) ||
        (o.pin && (rc = esmtp_session_set_tls_pin(s, o.pin)) != 0)) {
        status = setup_error(rc, "invalid TLS option (--cert needs a file; --pin a base64 "
                                 "SHA-256)", NULL);
        goto out;
    }
    if (o.trace)
        esmtp_session_set_transcript_cb(s, on_transcript, NULL);

    if ((rc = esmtp_session_add_message(s, &m)) != 0 ||
        (rc = esmtp_message_set_reverse_path(m, o.from)) != 0) {
        status = setup_error(rc, "invalid --from address", o.from);
        goto out;
    }
    for (size_t i = 0; i < o.nto; i++) {
        if ((rc = esmtp_message_add_recipient(m, o.to[i], NULL)) != 0) {
            status = setup_error(rc, "invalid --to address", o.to[i]);
            goto out;
        }
    }

    /* The input comes last, so that usage errors are reported first. */
    src.name = use_stdin ? "standard input" : o.message;
    src.file = use_stdin ? stdin : fopen(o.message, "rb");
    if (!src.file || fstat(fileno(src.file), &st) != 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", progname, src.name, strerror(errno));
        status = RC_NOINPUT;
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        fprintf(stderr, "%s: cannot read %s: %s\n", progname, src.name, strerror(EISDIR));
        status = RC_NOINPUT;
        goto out;
    }
    if ((rc = esmtp_message_set_body_cb(m, read_body, &src)) != 0) {
        status = setup_error(rc, "cannot set the body", NULL);
        goto out;
    }
    /* Only a regular file can be read twice: scan it to declare its size
     * and 8-bit content, which a streamed body cannot reveal in advance. */
    if (!use_stdin && S_ISREG(st.st_mode)) {
        uint64_t size;
        int has_8bit;
        if (scan_body(src.file, &size, &has_8bit) != 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", progname, src.name, strerror(errno));
            status = RC_NOINPUT;
            goto out;
        }
        esmtp_message_set_size(m, size);
        esmtp_message_set_8bit(m, has_8bit);
    }

    rc = esmtp_session_send(s);

    for (size_t i = 0; i < esmtp_message_recipient_count(m); i++)
        print_recipient(esmtp_message_recipient(m, i));
    fflush(stdout);
    if (src.read_errno)
        fprintf(stderr, "%s: cannot read %s: %s\n", progname, src.name,
                strerror(src.read_errno));
    if (rc < 0) {
        /* The detail says it all (with the server's reply); the generic
         * text is only a fallback. */
        const char *detail = esmtp_session_detail(s);
        fprintf(stderr, "%s: ", progname);
        if (*detail)
            put_text(stderr, detail, strlen(detail));
        else
            fputs(esmtp_strerror(rc), stderr);
        fputc('\n', stderr);
        if (rc == ESMTP_E8BIT && use_stdin)
            fprintf(stderr, "%s: standard input cannot be declared 8-bit in advance; "
                            "send this message with --message FILE\n", progname);
    }
    status = outcome_exit_code(s, rc);

out:
    esmtp_session_free(s);
    if (src.file && src.file != stdin)
        fclose(src.file);
    free(o.to);
    return status;
}
