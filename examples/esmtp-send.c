/*
 * esmtp-send: a small sendmail-like tool built on esmtp's public API only.
 *
 * Sends one message to the given envelope recipients through one SMTP
 * server, and prints one result line per recipient. The message is either
 * complete already (RFC 5322, read from a file or from standard input) or
 * built from options (subject, text and HTML bodies, attachments, inline
 * parts) with esmtp's MIME builder. Either way the body is streamed, so a
 * message of any size is sent in constant memory.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <esmtp/esmtp.h>
#include <esmtp/mime.h>

static const char *progname = "esmtp-send";

/* Exit codes, as sysexits.h numbers them (that header is not POSIX). */
enum {
    RC_OK = 0,
    RC_USAGE = 64,       /* EX_USAGE: bad command line */
    RC_DATAERR = 65,     /* EX_DATAERR: a --text or --html file is not UTF-8 */
    RC_NOINPUT = 66,     /* EX_NOINPUT: an input, password or token file cannot be read */
    RC_UNAVAILABLE = 69, /* EX_UNAVAILABLE: failed permanently */
    RC_OSERR = 71,       /* EX_OSERR: local system error (out of memory) */
    RC_TEMPFAIL = 75     /* EX_TEMPFAIL: failed temporarily or outcome unknown */
};

static void short_usage(FILE *out)
{
    fprintf(out,
            "Usage: %s {--server HOST[:PORT] | --provider NAME [--server ...]}\n"
            "       --from ADDR --to ADDR [--to ADDR ...]\n"
            "       [--message FILE |\n"
            "        [--subject TEXT] [--text FILE] [--html FILE] [--attach FILE ...]\n"
            "        [--inline CID=FILE ...] [--cc ADDR ...] [--bcc ADDR ...]\n"
            "        [--header 'NAME: VALUE' ...]]\n"
            "       [--timeout SECONDS] [--helo NAME]\n"
            "       [--no-pipelining] [--trace [--show-secrets]] [--tls MODE]\n"
            "       [--cafile FILE] [--cert FILE --key FILE] [--pin SHA256] [--insecure]\n"
            "       [--user NAME [--password-file FILE | --password-env VAR]\n"
            "                    [--oauth-token-file FILE | --oauth-token-cmd CMD]]\n"
            "       [--auth MECH[,MECH...]] [--allow-plaintext-auth]\n",
            progname);
}

static void help(void)
{
    short_usage(stdout);
    fputs("\n"
          "Sends one message to the given envelope recipients through one SMTP\n"
          "server. Either the message is complete already (RFC 5322: headers, blank\n"
          "line, body), read from FILE or from standard input without --message,\n"
          "with line ends CRLF, LF or CR; or esmtp-send builds it (MIME) when any of\n"
          "--subject, --text, --html, --attach or --inline is given. Either way it is\n"
          "streamed: its size does not matter.\n"
          "\n"
          "Options:\n"
          "  --server HOST[:PORT]  the SMTP server: a host name, an IPv4 address, or an\n"
          "                        IPv6 address in brackets ([::1] or [::1]:2525; a bare\n"
          "                        ::1 without a port works too). The port defaults to 25.\n"
          "  --from ADDR           envelope sender (MAIL FROM), without angle brackets;\n"
          "                        '' gives the null sender <>. A built message has it\n"
          "                        as its From header too (so it cannot be '' then)\n"
          "  --to ADDR             envelope recipient (RCPT TO); repeat for more. A built\n"
          "                        message lists them in its To header\n"
          "  --message FILE        read the message from FILE ('-' is standard input)\n"
          "\n"
          "Building the message (instead of --message or standard input):\n"
          "  --subject TEXT        the Subject (UTF-8; encoded as RFC 2047 needs)\n"
          "  --text FILE           the plain-text body (UTF-8; any line ends)\n"
          "  --html FILE           the HTML body (UTF-8); with --text the two become\n"
          "                        alternatives (multipart/alternative)\n"
          "  --attach FILE         attach FILE under its own name (UTF-8 names work); its\n"
          "                        content type is guessed from the extension. Repeat\n"
          "                        for more. The file is read while sending, so it must\n"
          "                        not change until esmtp-send ends. Text types (.txt,\n"
          "                        .csv, ...) travel with CRLF line ends, as MIME wants\n"
          "  --inline CID=FILE     a part the HTML shows as <img src=\"cid:CID\">, e.g.\n"
          "                        --inline logo@example.org=logo.png: CID has the form\n"
          "                        of a Message-ID without angle brackets (LEFT@RIGHT);\n"
          "                        the first '=' ends it. Repeat for more\n"
          "  --cc ADDR             a recipient listed in the Cc header; repeat for more\n"
          "  --bcc ADDR            a recipient named in no header (envelope only); repeat\n"
          "                        for more\n"
          "  --header 'NAME: VALUE'  add a header field (UTF-8 value), e.g.\n"
          "                        'X-Campaign: q3'; repeat for more. The fields these\n"
          "                        options write (From, To, Cc, Subject, Date,\n"
          "                        Message-ID, MIME-Version, Content-*, ...) are refused\n"
          "  Date and Message-ID are made up when the message is sent. --cc, --bcc and\n"
          "  --header need one of the five options above.\n"
          "\n"
          "Connection and login:\n"
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
          "  --provider NAME       use a provider's server, port, TLS mode and mechanism\n"
          "                        order: qq, 163, 126, gmail, outlook, yahoo or icloud.\n"
          "                        --server, --tls and --auth given as well win over it\n"
          "                        (a --server without a port keeps the provider's port)\n"
          "  --user NAME           log in (SMTP AUTH) as NAME\n"
          "  --password-file FILE  the password is the first line of FILE\n"
          "  --password-env VAR    the password is the value of environment variable VAR\n"
          "                        (there is no option that takes the password itself:\n"
          "                        command lines are visible to other users)\n"
          "  --oauth-token-file FILE  an OAuth 2.0 bearer token (XOAUTH2, OAUTHBEARER):\n"
          "                        the first line of FILE\n"
          "  --oauth-token-cmd CMD  run CMD with /bin/sh -c whenever a token is needed;\n"
          "                        the first line it prints is the token, and a non-zero\n"
          "                        exit status aborts the session (its standard input\n"
          "                        is /dev/null when the message comes from there)\n"
          "  --auth MECH[,MECH...]  the SASL mechanisms to consider, in order (e.g.\n"
          "                        PLAIN,LOGIN or XOAUTH2); default: the strongest that\n"
          "                        both sides support. EXTERNAL (the client certificate)\n"
          "                        is used only when listed here\n"
          "  --allow-plaintext-auth  allow mechanisms that reveal the password or token\n"
          "                        (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER) on an\n"
          "                        unencrypted connection\n"
          "  --trace               show the SMTP dialogue on standard error: 'C: ' for\n"
          "                        commands, 'S: ' for replies, '-- ' for notes; what the\n"
          "                        client sends during AUTH is shown as <redacted>\n"
          "  --show-secrets        with --trace, show the AUTH lines as sent: they carry\n"
          "                        the password (or token) in base64, which anyone who\n"
          "                        sees the output can decode\n"
          "  --help                show this text\n"
          "  --version             show the version\n"
          "\n"
          "The message, from a file or from standard input, is scanned once before\n"
          "sending, so that its size is announced (SIZE=) and 8-bit content is\n"
          "declared (BODY=8BITMIME), and it is read again for recipients that a\n"
          "server put off with 452 (too many recipients). Input that can be read only\n"
          "once (a pipe) is copied first: into memory up to 1 MiB, beyond that into an\n"
          "unnamed temporary file in $TMPDIR (default /tmp). A built message is\n"
          "scanned likewise, and its parts are encoded (quoted-printable or base64)\n"
          "where the server cannot take them as they are.\n"
          "\n"
          "Logging in: port 465 speaks implicit TLS (TLS from the first byte), port 587\n"
          "STARTTLS; the default --tls follows the port. QQ Mail, 163 and 126 want the\n"
          "authorisation code from their web settings (POP3/SMTP service), not the web\n"
          "password. Gmail and Outlook want an app password or an OAuth 2.0 token\n"
          "(--oauth-token-file or --oauth-token-cmd). A wrong password is a permanent\n"
          "failure (69).\n"
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
          "  65  a --text or --html file is not valid UTF-8 (EX_DATAERR)\n"
          "  66  the message, a --text, --html, --attach or --inline file, or the\n"
          "      password or token file cannot be opened or read (EX_NOINPUT)\n"
          "  69  not delivered to some or all recipients, and every failure is\n"
          "      permanent: do not retry (EX_UNAVAILABLE)\n"
          "  71  local system error, e.g. out of memory or no room for the temporary\n"
          "      copy of piped input (EX_OSERR)\n"
          "  75  something failed temporarily, its outcome is unknown, or the session\n"
          "      failed (no connection, timeout, 421, TLS or certificate failure, no\n"
          "      usable authentication mechanism, ...): retry later (EX_TEMPFAIL)\n",
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
    FILE *file;     /* seekable: a regular file or a spooled copy */
    const char *name;
    off_t start;    /* where the message begins (standard input may be a file
                     * read from its middle) */
    char *spool;    /* the memory behind file when spooled there, or NULL */
    int read_errno; /* 0 while reading goes well */
};

/* esmtp_rewind_cb over the body: back to its first byte. */
static int rewind_body(esmtp_message *message, void *user_data)
{
    (void)message;
    struct body_source *src = user_data;
    return fseeko(src->file, src->start, SEEK_SET);
}

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
 * Measures the body the way esmtp sends it (each line end as CRLF, a
 * missing final line end added, dot-stuffing not counted, as SIZE wants)
 * and tells whether it has 8-bit bytes. Rewinds the body afterwards.
 */
static int scan_body(struct body_source *src, uint64_t *size, int *has_8bit)
{
    FILE *f = src->file;
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
    if (ferror(f) || rewind_body(NULL, src) != 0)
        return -1;
    if (line_open)
        total += 2;
    *size = total;
    *has_8bit = any >= 0x80;
    return 0;
}

/* A body that can be read only once is copied into memory up to this
 * size, beyond it into a temporary file: memory stays bounded. */
#define SPOOL_MEM_MAX ((size_t)1 << 20)

/* An unlinked temporary file in dir, open for writing and reading, or NULL
 * (errno set). */
static FILE *open_temp_file(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/esmtp-send-XXXXXX", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    unlink(path); /* gone once closed, however esmtp-send ends */
    FILE *f = NULL;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || !(f = fdopen(fd, "w+b"))) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return f;
}

/*
 * Makes a body that can be read only once (a pipe, a terminal) seekable,
 * so that it can be scanned and sent again like a regular file: src->file
 * becomes a copy of the rest of it, at its first byte. Returns 0, or an
 * exit code (said why).
 */
static int spool_body(struct body_source *src)
{
    char *buf = malloc(SPOOL_MEM_MAX);
    if (!buf) {
        fprintf(stderr, "%s: %s\n", progname, strerror(errno));
        return RC_OSERR;
    }
    FILE *copy = NULL;
    const char *dir = NULL; /* the temporary file's, once there is one */
    int status;
    size_t n = fread(buf, 1, SPOOL_MEM_MAX, src->file);
    if (ferror(src->file))
        goto read_error;
    if (n < SPOOL_MEM_MAX) { /* all of it fits */
        if (!(copy = fmemopen(buf, n, "rb"))) {
            fprintf(stderr, "%s: %s\n", progname, strerror(errno));
            status = RC_OSERR;
            goto out;
        }
        src->spool = buf;
    } else {
        dir = getenv("TMPDIR");
        if (!dir || !*dir)
            dir = "/tmp";
        if (!(copy = open_temp_file(dir)))
            goto write_error;
        do {
            if (fwrite(buf, 1, n, copy) != n)
                goto write_error;
            n = fread(buf, 1, SPOOL_MEM_MAX, src->file);
        } while (n > 0);
        if (ferror(src->file))
            goto read_error;
        if (fflush(copy) != 0 || fseek(copy, 0, SEEK_SET) != 0)
            goto write_error;
        free(buf);
    }
    if (src->file != stdin)
        fclose(src->file);
    src->file = copy;
    return 0;

read_error:
    fprintf(stderr, "%s: cannot read %s: %s\n", progname, src->name, strerror(errno));
    status = RC_NOINPUT;
    goto out;
write_error:
    fprintf(stderr, "%s: cannot copy %s into a temporary file in %s: %s\n", progname,
            src->name, dir, strerror(errno));
    status = RC_OSERR;
out:
    if (copy)
        fclose(copy);
    free(buf);
    return status;
}

/* -------------------------------------------------------------- secrets */

/* Password and token buffers: an authorisation code or app password fits
 * easily; tokens get what the library's token callback hands over. */
#define PASSWORD_MAX 1024
#define TOKEN_MAX 8192

/* Clears memory that held a secret; the compiler may not skip it. */
static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

/*
 * Reads the first line of fd into buf (NUL-terminated, the line end and
 * any trailing CR or LF removed; everything after the line is wiped).
 * read(2) is used rather than stdio so that no copy of the secret is left
 * in a stdio buffer. Returns the line's length, -1 on a read error (errno
 * set), or -2 when the line does not fit into size - 1 bytes.
 */
static long read_first_line(int fd, char *buf, size_t size)
{
    size_t len = 0, line = 0;
    int found = 0;

    while (!found && len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            wipe(buf, size);
            errno = saved;
            return -1;
        }
        if (n == 0)
            break;
        const char *nl = memchr(buf + len, '\n', (size_t)n);
        len += (size_t)n;
        if (nl) {
            line = (size_t)(nl - buf);
            found = 1;
        }
    }
    if (!found) {
        if (len == size - 1) {
            wipe(buf, size);
            return -2;
        }
        line = len;
    }
    wipe(buf + line, size - line);
    while (line > 0 && (buf[line - 1] == '\r' || buf[line - 1] == '\n'))
        buf[--line] = '\0';
    return (long)line;
}

/* Reads a secret from the first line of a file. Returns 0 or RC_NOINPUT
 * (said why). */
static int read_secret_file(const char *path, const char *what, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s file %s: %s\n", progname, what, path,
                strerror(errno));
        return RC_NOINPUT;
    }
    long n = read_first_line(fd, buf, size);
    int saved = errno;
    close(fd);
    if (n == -1) {
        fprintf(stderr, "%s: cannot read %s file %s: %s\n", progname, what, path,
                strerror(saved));
        return RC_NOINPUT;
    }
    if (n == -2) {
        fprintf(stderr, "%s: cannot read %s file %s: its first line is longer than %zu "
                        "bytes\n", progname, what, path, size - 1);
        return RC_NOINPUT;
    }
    if (n == 0) {
        fprintf(stderr, "%s: cannot read %s file %s: its first line is empty\n", progname,
                what, path);
        return RC_NOINPUT;
    }
    return 0;
}

/* Where OAuth 2.0 tokens come from: a token read once, or a command. */
struct token_source {
    const char *cmd;     /* --oauth-token-cmd, or NULL */
    int stdin_is_body;   /* the message is read from standard input */
    char token[TOKEN_MAX]; /* --oauth-token-file's token, or "" */
};

/*
 * Runs the token command with /bin/sh -c and reads the first line it
 * prints into buf. Its standard error is ours; its standard input is
 * /dev/null when the message comes from standard input, so that it cannot
 * eat the message. Returns 0, or -1 (said why) on any failure, including
 * a non-zero exit status.
 */
static int run_token_cmd(const struct token_source *t, char *buf, size_t size)
{
    int fds[2];
    if (pipe(fds) != 0) {
        fprintf(stderr, "%s: --oauth-token-cmd: %s\n", progname, strerror(errno));
        return -1;
    }
    fflush(stdout); /* keep our output in order with the command's */
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: --oauth-token-cmd: %s\n", progname, strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        if (fds[1] != STDOUT_FILENO) {
            if (dup2(fds[1], STDOUT_FILENO) < 0)
                _exit(127);
            close(fds[1]);
        }
        if (t->stdin_is_body) {
            int null = open("/dev/null", O_RDONLY);
            if (null < 0 || dup2(null, STDIN_FILENO) < 0)
                _exit(127);
            if (null != STDIN_FILENO)
                close(null);
        }
        execl("/bin/sh", "sh", "-c", t->cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);

    long n = read_first_line(fds[0], buf, size);
    int read_errno = errno;
    /* Read the rest, so that the command does not die of SIGPIPE. */
    char rest[4096];
    ssize_t got;
    while ((got = read(fds[0], rest, sizeof rest)) != 0)
        if (got < 0 && errno != EINTR)
            break;
    wipe(rest, sizeof rest);
    close(fds[0]);

    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "%s: --oauth-token-cmd: %s\n", progname, strerror(errno));
            wipe(buf, size);
            return -1;
        }
    }
    const char *why = NULL;
    char whybuf[64];
    if (WIFSIGNALED(status)) {
        snprintf(whybuf, sizeof whybuf, "was killed by signal %d", WTERMSIG(status));
        why = whybuf;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(whybuf, sizeof whybuf, "exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        why = whybuf;
    } else if (n == -1) {
        snprintf(whybuf, sizeof whybuf, "could not be read: %s", strerror(read_errno));
        why = whybuf;
    } else if (n == -2) {
        why = "printed a line too long for a token";
    } else if (n == 0) {
        why = "printed no token";
    }
    if (why) {
        fprintf(stderr, "%s: --oauth-token-cmd %s\n", progname, why);
        wipe(buf, size);
        return -1;
    }
    return 0;
}

/* esmtp_token_cb: called before each authentication. */
static int supply_token(esmtp_session *session, char *buf, size_t size, void *user_data)
{
    (void)session;
    const struct token_source *t = user_data;
    if (size == 0)
        return -1;
    if (t->cmd)
        return run_token_cmd(t, buf, size);
    size_t len = strlen(t->token);
    if (len >= size) {
        fprintf(stderr, "%s: the OAuth token is too long (%zu bytes)\n", progname, len);
        return -1;
    }
    memcpy(buf, t->token, len + 1);
    return 0;
}

/* ------------------------------------------------------------------ main */

/* The repeatable options of a built message, kept in command-line order. */
enum part_kind { PART_ATTACH, PART_INLINE, PART_CC, PART_BCC, PART_HEADER };

struct build_item {
    enum part_kind kind;
    const char *arg;
};

struct options {
    char host[300];
    unsigned int port;
    const char *server;
    const char *from;
    const char **to;
    size_t nto;
    const char *message;
    int build;               /* a builder option was given: build the message */
    const char *subject;
    const char *text;        /* --text FILE */
    const char *html;        /* --html FILE */
    struct build_item *items; /* room for argc entries */
    size_t nitems;
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
    int tls_given;     /* --tls was given: it wins over --provider */
    const char *provider;
    const char *user;
    const char *password_file;
    const char *password_env;
    const char *token_file;
    const char *token_cmd;
    const char *auth;
    int allow_plaintext;
    int show_secrets;
};

/* A --auth list: SASL mechanism names (RFC 4422: 1 to 20 of A-Z, 0-9, '-',
 * '_'; any case is accepted) separated by commas. */
static int valid_mech_list(const char *s)
{
    size_t n = 0;
    for (;; s++) {
        if (*s == ',' || *s == '\0') {
            if (n == 0)
                return 0;
            if (*s == '\0')
                return 1;
            n = 0;
        } else if ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
                   (*s >= '0' && *s <= '9') || *s == '-' || *s == '_') {
            if (++n > 20)
                return 0;
        } else {
            return 0;
        }
    }
}

/* --tls names, in esmtp_tls_mode order. */
static const char *const tls_modes[] = {"default", "none", "starttls", "starttls-optional",
                                        "implicit"};

/* Returns -1 to go on, or the exit code to leave with. */
static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_SERVER = 256, OPT_FROM, OPT_TO, OPT_MESSAGE, OPT_TIMEOUT, OPT_HELO,
           OPT_TRACE, OPT_NO_PIPELINING, OPT_VERSION, OPT_TLS, OPT_CAFILE, OPT_CERT,
           OPT_KEY, OPT_PIN, OPT_INSECURE, OPT_PROVIDER, OPT_USER, OPT_PASSWORD_FILE,
           OPT_PASSWORD_ENV, OPT_TOKEN_FILE, OPT_TOKEN_CMD, OPT_AUTH, OPT_ALLOW_PLAINTEXT,
           OPT_SHOW_SECRETS, OPT_SUBJECT, OPT_TEXT, OPT_HTML, OPT_ATTACH, OPT_INLINE, OPT_CC,
           OPT_BCC, OPT_HEADER };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, OPT_SERVER},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"message", required_argument, NULL, OPT_MESSAGE},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"text", required_argument, NULL, OPT_TEXT},
        {"html", required_argument, NULL, OPT_HTML},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"inline", required_argument, NULL, OPT_INLINE},
        {"cc", required_argument, NULL, OPT_CC},
        {"bcc", required_argument, NULL, OPT_BCC},
        {"header", required_argument, NULL, OPT_HEADER},
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
        {"provider", required_argument, NULL, OPT_PROVIDER},
        {"user", required_argument, NULL, OPT_USER},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE},
        {"password-env", required_argument, NULL, OPT_PASSWORD_ENV},
        {"oauth-token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"oauth-token-cmd", required_argument, NULL, OPT_TOKEN_CMD},
        {"auth", required_argument, NULL, OPT_AUTH},
        {"allow-plaintext-auth", no_argument, NULL, OPT_ALLOW_PLAINTEXT},
        {"show-secrets", no_argument, NULL, OPT_SHOW_SECRETS},
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
        case OPT_SUBJECT:
            if (o->subject)
                return usage_error("--subject given twice", optarg);
            o->subject = optarg;
            o->build = 1;
            break;
        case OPT_TEXT:
            if (o->text)
                return usage_error("--text given twice", optarg);
            o->text = optarg;
            o->build = 1;
            break;
        case OPT_HTML:
            if (o->html)
                return usage_error("--html given twice", optarg);
            o->html = optarg;
            o->build = 1;
            break;
        case OPT_ATTACH:
        case OPT_INLINE:
        case OPT_CC:
        case OPT_BCC:
        case OPT_HEADER: {
            /* o->items has room for argc entries */
            struct build_item *it = &o->items[o->nitems++];
            it->arg = optarg;
            it->kind = c == OPT_ATTACH   ? PART_ATTACH
                       : c == OPT_INLINE ? PART_INLINE
                       : c == OPT_CC     ? PART_CC
                       : c == OPT_BCC    ? PART_BCC
                                         : PART_HEADER;
            if (it->kind == PART_ATTACH || it->kind == PART_INLINE)
                o->build = 1;
            if (it->kind == PART_ATTACH && !*optarg)
                return usage_error("--attach needs a file name", NULL);
            if (it->kind == PART_INLINE) {
                const char *eq = strchr(optarg, '=');
                if (!eq || eq == optarg || !eq[1])
                    return usage_error("invalid --inline (CID=FILE, e.g. "
                                       "logo@example.org=logo.png)", optarg);
            }
            if (it->kind == PART_HEADER) {
                const char *colon = strchr(optarg, ':');
                if (!colon || colon == optarg)
                    return usage_error("invalid --header ('NAME: VALUE')", optarg);
            }
            break;
        }
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
            o->tls_given = 1;
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
        case OPT_PROVIDER:
            if (esmtp_provider_find(optarg, NULL, NULL, NULL, NULL) != 0)
                return usage_error("unknown --provider (qq, 163, 126, gmail, outlook, yahoo, "
                                   "icloud)", optarg);
            o->provider = optarg;
            break;
        case OPT_USER:
            if (!*optarg)
                return usage_error("--user needs a name", NULL);
            o->user = optarg;
            break;
        case OPT_PASSWORD_FILE:
            o->password_file = optarg;
            break;
        case OPT_PASSWORD_ENV:
            if (!*optarg || strchr(optarg, '='))
                return usage_error("invalid --password-env (a variable name)", optarg);
            o->password_env = optarg;
            break;
        case OPT_TOKEN_FILE:
            o->token_file = optarg;
            break;
        case OPT_TOKEN_CMD:
            if (!*optarg)
                return usage_error("--oauth-token-cmd needs a command", NULL);
            o->token_cmd = optarg;
            break;
        case OPT_AUTH:
            if (!valid_mech_list(optarg))
                return usage_error("invalid --auth (SASL mechanism names separated by commas, "
                                   "e.g. PLAIN,LOGIN)", optarg);
            o->auth = optarg;
            break;
        case OPT_ALLOW_PLAINTEXT:
            o->allow_plaintext = 1;
            break;
        case OPT_SHOW_SECRETS:
            o->show_secrets = 1;
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
    if (!o->server && !o->provider)
        return usage_error("--server (or --provider) is required", NULL);
    if (!o->from)
        return usage_error("--from is required ('' for the null sender)", NULL);
    if (o->nto == 0)
        return usage_error("at least one --to is required", NULL);
    if (o->password_file && o->password_env)
        return usage_error("--password-file and --password-env exclude each other", NULL);
    if (o->token_file && o->token_cmd)
        return usage_error("--oauth-token-file and --oauth-token-cmd exclude each other", NULL);
    if ((o->password_file || o->password_env || o->token_file || o->token_cmd) && !o->user)
        return usage_error("a password or token needs --user", NULL);
    if (o->build && o->message)
        return usage_error("--message sends a finished message: it excludes --subject, "
                           "--text, --html, --attach and --inline", NULL);
    if (!o->build && o->nitems > 0)
        return usage_error("--cc, --bcc and --header build a message: they need --subject, "
                           "--text, --html, --attach or --inline", NULL);
    if (o->build && !*o->from)
        return usage_error("a built message needs a --from address for its From header",
                           NULL);
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

/* ------------------------------------------------------- built messages */

/* The last component of a path: the name an attachment is sent under. */
static const char *file_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Whether s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (n - i <= k || s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t j = 2; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

/*
 * Reads a whole --text or --html file into memory (*data, malloc'd, NUL
 * added). Returns -1 to go on, or the exit code (said why).
 */
static int read_text_file(const char *path, const char *option, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s file %s: %s\n", progname, option, path,
                strerror(errno));
        return RC_NOINPUT;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (cap - n < 4096) {
            size_t ncap = cap ? cap * 2 : 65536;
            char *nbuf = ncap > cap ? realloc(buf, ncap) : NULL;
            if (!nbuf) {
                err = ENOMEM;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            err = errno;
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (err) {
        free(buf);
        fprintf(stderr, "%s: cannot read %s file %s: %s\n", progname, option, path,
                strerror(err));
        return err == ENOMEM ? RC_OSERR : RC_NOINPUT;
    }
    if (!utf8_valid((const unsigned char *)buf, n)) {
        free(buf);
        fprintf(stderr, "%s: %s file %s is not valid UTF-8\n", progname, option, path);
        return RC_DATAERR;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return -1;
}

/*
 * Checks that an --attach or --inline file can be opened and is a regular
 * file: the builder reads it only while sending, and twice (to choose the
 * encoding and measure it, then to send it), so a pipe would not do.
 * Returns -1 to go on, or RC_NOINPUT (said why).
 */
static int check_part_file(const char *path, const char *option)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "%s: cannot open %s file %s: %s\n", progname, option, path,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return RC_NOINPUT;
    }
    close(fd);
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: cannot read %s file %s: %s\n", progname, option, path,
                S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
        return RC_NOINPUT;
    }
    return -1;
}

/* An --attach or --inline part from a file, sent under the file's name. */
static int add_file_part(esmtp_mime_part *part, const char *path, const char *option)
{
    int rc = esmtp_mime_part_set_file(part, path);
    if (rc)
        return setup_error(rc, option, path);
    /* The builder would take the name from the path by itself; setting it
     * makes the builder check it, so that a name that is not UTF-8 is
     * refused here rather than sent garbled. An empty name ("dir/") is
     * left for check_part_file() to explain. */
    const char *name = file_name(path);
    if (*name && (rc = esmtp_mime_part_set_filename(part, name)) != 0)
        return setup_error(rc, rc == ESMTP_EINVAL ? "this file name is not UTF-8 text (or "
                                                    "has control characters)"
                                                  : option,
                           path);
    return -1;
}

/*
 * Everything of a built message that needs no file: the header fields and
 * the attachment and inline parts (their files are checked later, with the
 * other input). Returns -1 to go on, or the exit code (said why).
 */
static int build_message(const struct options *o, esmtp_mime *mime)
{
    int rc;
    if ((rc = esmtp_mime_add_mailbox(mime, ESMTP_MIME_FROM, NULL, o->from)) != 0)
        return setup_error(rc, "invalid --from address for the From header (ASCII "
                               "local@domain)", o->from);
    for (size_t i = 0; i < o->nto; i++)
        if ((rc = esmtp_mime_add_mailbox(mime, ESMTP_MIME_TO, NULL, o->to[i])) != 0)
            return setup_error(rc, "invalid --to address for the To header (ASCII "
                                   "local@domain)", o->to[i]);
    if (o->subject && (rc = esmtp_mime_set_subject(mime, o->subject)) != 0)
        return setup_error(rc, "invalid --subject (UTF-8 text without control characters)",
                           o->subject);
    for (size_t i = 0; i < o->nitems; i++) {
        const struct build_item *it = &o->items[i];
        esmtp_mime_part *part;
        int status;
        switch (it->kind) {
        case PART_CC:
            if ((rc = esmtp_mime_add_mailbox(mime, ESMTP_MIME_CC, NULL, it->arg)) != 0)
                return setup_error(rc, "invalid --cc address for the Cc header (ASCII "
                                       "local@domain)", it->arg);
            break;
        case PART_BCC: /* the envelope only: no header names it */
            break;
        case PART_HEADER: {
            /* "NAME: VALUE"; parse_args made sure there is a colon */
            const char *colon = strchr(it->arg, ':');
            const char *value = colon + 1;
            char name[128];
            size_t n = (size_t)(colon - it->arg);
            while (*value == ' ' || *value == '\t')
                value++;
            rc = ESMTP_EINVAL;
            if (n < sizeof name) {
                memcpy(name, it->arg, n);
                name[n] = '\0';
                rc = esmtp_mime_add_header(mime, name, value);
            }
            if (rc)
                return setup_error(rc, "invalid --header ('NAME: VALUE' with a UTF-8 value; "
                                       "the fields other options set are refused)", it->arg);
            break;
        }
        case PART_ATTACH:
            if ((rc = esmtp_mime_add_attachment(mime, &part)) != 0)
                return setup_error(rc, "invalid --attach", it->arg);
            if ((status = add_file_part(part, it->arg, "invalid --attach")) >= 0)
                return status;
            break;
        case PART_INLINE: {
            /* "CID=FILE"; parse_args made sure both are there */
            const char *eq = strchr(it->arg, '=');
            size_t n = (size_t)(eq - it->arg);
            char *cid = malloc(n + 1);
            if (!cid)
                return setup_error(ESMTP_ENOMEM, NULL, NULL);
            memcpy(cid, it->arg, n);
            cid[n] = '\0';
            rc = esmtp_mime_add_inline(mime, cid, &part);
            free(cid);
            if (rc)
                return setup_error(rc, "invalid --inline CID (LEFT@RIGHT, like a Message-ID "
                                       "without angle brackets, e.g. logo@example.org)",
                                   it->arg);
            if ((status = add_file_part(part, eq + 1, "invalid --inline")) >= 0)
                return status;
            break;
        }
        }
    }
    return -1;
}

/*
 * The input of a built message: checks the part files and reads the text
 * and HTML bodies. Returns -1 to go on, or the exit code (said why).
 */
static int load_message_files(const struct options *o, esmtp_mime *mime)
{
    int status;
    for (size_t i = 0; i < o->nitems; i++) {
        const struct build_item *it = &o->items[i];
        if (it->kind == PART_ATTACH && (status = check_part_file(it->arg, "--attach")) >= 0)
            return status;
        if (it->kind == PART_INLINE &&
            (status = check_part_file(strchr(it->arg, '=') + 1, "--inline")) >= 0)
            return status;
    }
    const char *files[2] = {o->text, o->html};
    static const char *const options[2] = {"--text", "--html"};
    for (int i = 0; i < 2; i++) {
        if (!files[i])
            continue;
        char *data;
        size_t len;
        if ((status = read_text_file(files[i], options[i], &data, &len)) >= 0)
            return status;
        int rc = i == 0 ? esmtp_mime_set_text(mime, data, len)
                        : esmtp_mime_set_html(mime, data, len);
        free(data); /* the builder has its own copy */
        if (rc)
            return setup_error(rc, options[i], files[i]);
    }
    return -1;
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
    o.items = calloc((size_t)argc, sizeof *o.items);
    if (!o.to || !o.items) {
        fprintf(stderr, "%s: %s\n", progname, strerror(errno));
        free(o.to);
        free(o.items);
        return RC_OSERR;
    }
    int status = parse_args(argc, argv, &o);
    if (status >= 0) {
        free(o.to);
        free(o.items);
        return status;
    }

    esmtp_session *s = NULL;
    esmtp_message *m = NULL;
    esmtp_mime *mime = NULL; /* ours until attached to m */
    struct body_source src = {0};
    struct stat st;
    static struct token_source tok; /* lives as long as the session */
    int use_stdin = !o.build && (!o.message || strcmp(o.message, "-") == 0);
    int rc = esmtp_session_new(&s);
    if (rc) {
        status = setup_error(rc, "cannot create a session", NULL);
        goto out;
    }
    /* The provider's settings first, so that the options given explicitly
     * (--server, --tls, --auth) replace them. */
    if (o.provider && (rc = esmtp_session_use_provider(s, o.provider)) != 0) {
        status = setup_error(rc, "unknown --provider", o.provider);
        goto out;
    }
    if (o.server) {
        unsigned int port = o.port;
        if (port == 0 && o.provider) /* HOST alone keeps the provider's port */
            esmtp_provider_find(o.provider, NULL, &port, NULL, NULL);
        if ((rc = esmtp_session_set_server(s, o.host, port)) != 0) {
            status = setup_error(rc, "invalid --server", o.server);
            goto out;
        }
    }
    if (o.helo && (rc = esmtp_session_set_helo_name(s, o.helo)) != 0) {
        status = setup_error(rc, "invalid --helo", o.helo);
        goto out;
    }
    if (o.timeout_ms)
        esmtp_session_set_timeout(s, ESMTP_TIMEOUT_ALL, o.timeout_ms);
    if (o.no_pipelining)
        esmtp_session_set_pipelining(s, 0);
    if (o.tls_given || !o.provider)
        esmtp_session_set_tls(s, o.tls);
    esmtp_session_set_tls_insecure_no_verify(s, o.insecure);
    if ((o.cafile && (rc = esmtp_session_set_ca(s, o.cafile, NULL)) != 0) ||
        ((o.cert || o.key) && (rc = esmtp_session_set_client_cert(s, o.cert, o.key)) != 0) ||
        (o.pin && (rc = esmtp_session_set_tls_pin(s, o.pin)) != 0)) {
        status = setup_error(rc, "invalid TLS option (--cert needs a file; --pin a base64 "
                                 "SHA-256)", NULL);
        goto out;
    }
    if (o.auth && (rc = esmtp_session_set_auth_mechanisms(s, o.auth)) != 0) {
        status = setup_error(rc, "invalid --auth", o.auth);
        goto out;
    }
    esmtp_session_set_allow_plaintext_auth(s, o.allow_plaintext);
    esmtp_session_set_transcript_secrets(s, o.show_secrets);
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
    if (o.build) {
        /* The envelope is as given: --to, --cc and --bcc, set before the
         * builder is attached, so that attaching adds no recipients. */
        for (size_t i = 0; i < o.nitems; i++) {
            const struct build_item *it = &o.items[i];
            if ((it->kind == PART_CC || it->kind == PART_BCC) &&
                (rc = esmtp_message_add_recipient(m, it->arg, NULL)) != 0) {
                status = setup_error(rc, it->kind == PART_CC ? "invalid --cc address"
                                                             : "invalid --bcc address",
                                     it->arg);
                goto out;
            }
        }
        if ((rc = esmtp_mime_new(&mime)) != 0) {
            status = setup_error(rc, "cannot create a message", NULL);
            goto out;
        }
        if ((status = build_message(&o, mime)) >= 0)
            goto out;
    }

    /* Credentials and input come last, so that usage errors are reported
     * first. The library keeps its own copy of the password: ours is wiped
     * at once. */
    if (o.user) {
        char password[PASSWORD_MAX];
        int have_password = 0;
        if (o.password_file) {
            status = read_secret_file(o.password_file, "password", password, sizeof password);
            if (status != 0)
                goto out;
            have_password = 1;
        } else if (o.password_env) {
            const char *value = getenv(o.password_env);
            size_t len = value ? strlen(value) : 0;
            if (len == 0) {
                status = usage_error("--password-env names an unset or empty variable",
                                     o.password_env);
                goto out;
            }
            if (len >= sizeof password) {
                status = usage_error("the password in this --password-env variable is too "
                                     "long", o.password_env);
                goto out;
            }
            memcpy(password, value, len + 1);
            unsetenv(o.password_env); /* --oauth-token-cmd need not see it */
            have_password = 1;
        }
        rc = esmtp_session_set_auth(s, o.user, have_password ? password : NULL);
        wipe(password, sizeof password);
        if (rc) {
            status = setup_error(rc, "invalid --user", o.user);
            goto out;
        }
    }
    if (o.token_file || o.token_cmd) {
        tok.cmd = o.token_cmd;
        tok.stdin_is_body = use_stdin;
        if (o.token_file &&
            (status = read_secret_file(o.token_file, "token", tok.token, sizeof tok.token)) != 0)
            goto out;
        esmtp_session_set_oauth_token_cb(s, supply_token, &tok);
    }

    if (o.build) {
        if ((status = load_message_files(&o, mime)) >= 0)
            goto out;
        if ((rc = esmtp_mime_attach(m, mime)) != 0) {
            status = setup_error(rc, "cannot build the message", NULL);
            goto out;
        }
        mime = NULL; /* the message owns it now and frees it with the session */
    } else {
        src.name = use_stdin ? "standard input" : o.message;
        src.file = use_stdin ? stdin : fopen(o.message, "rb");
        if (!src.file || fstat(fileno(src.file), &st) != 0 ||
            (!use_stdin && fcntl(fileno(src.file), F_SETFD, FD_CLOEXEC) != 0)) {
            fprintf(stderr, "%s: cannot open %s: %s\n", progname, src.name,
                    strerror(errno));
            status = RC_NOINPUT;
            goto out;
        }
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: cannot read %s: %s\n", progname, src.name,
                    strerror(EISDIR));
            status = RC_NOINPUT;
            goto out;
        }
        /* Only a regular file can be read twice: anything else is copied
         * first. Then the body is scanned to declare its size and 8-bit
         * content, which a streamed body cannot reveal in advance. */
        if (!S_ISREG(st.st_mode) && (status = spool_body(&src)) != 0)
            goto out;
        uint64_t size;
        int has_8bit;
        if ((src.start = ftello(src.file)) < 0 || scan_body(&src, &size, &has_8bit) != 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", progname, src.name, strerror(errno));
            status = RC_NOINPUT;
            goto out;
        }
        if ((rc = esmtp_message_set_body_cb(m, read_body, &src)) != 0) {
            status = setup_error(rc, "cannot set the body", NULL);
            goto out;
        }
        esmtp_message_set_size(m, size);
        esmtp_message_set_8bit(m, has_8bit);
        /* and sent again, to recipients a server put off with 452 */
        esmtp_message_set_body_rewind_cb(m, rewind_body);
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
        if (rc == ESMTP_ETLSMODE)
            fprintf(stderr, "%s: choose the port's mode with --tls starttls or --tls implicit\n",
                    progname);
    }
    status = outcome_exit_code(s, rc);

out:
    esmtp_session_free(s);
    esmtp_mime_free(mime);
    wipe(tok.token, sizeof tok.token);
    if (src.file && src.file != stdin)
        fclose(src.file);
    free(src.spool); /* after the stream over it */
    free(o.to);
    free(o.items);
    return status;
}
