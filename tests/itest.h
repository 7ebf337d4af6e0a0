/* Helpers for the integration tests: where the real servers run, how to
 * drive a session through either API, and what the servers recorded.
 * SPDX-License-Identifier: MIT */
#ifndef ESMTP_ITEST_H
#define ESMTP_ITEST_H

#include <stddef.h>

#include <esmtp/esmtp.h>

/* The ways to run a session; each integration test runs through both. */
enum { DRIVE_BLOCKING = 0, DRIVE_EVENT_LOOP = 1 };

/* Called first by every program that needs the test servers: when they
 * are not running (no env file), exits 77, which Meson reports as a skip,
 * or 1 with ESMTP_TEST_REQUIRE_SERVERS=1 (scripts/test.sh and CI set it, so
 * that a server that failed to start fails the run there). */
void itest_need_servers(void);

/* A value from the servers' env file (tests/servers/ctl.sh); aborts the
 * test with a clear message when the servers are not running. */
const char *itest_env(const char *key);
unsigned int itest_port(const char *key);

/* A mailbox unique to this process and call: "<prefix>-<pid>-<n>@<domain>". */
char *itest_mailbox(const char *prefix, const char *domain);

/* Runs the session to the end, through esmtp_session_send() or through the
 * event-loop API with its own poll() loop. Returns what esmtp_session_send()
 * would. */
int itest_drive(esmtp_session *s, int how);

/* A new session in clear (ESMTP_TLS_NONE) to 127.0.0.1:port (no server
 * set when port is 0) with short timeouts (10 s). */
esmtp_session *itest_session(unsigned int port);

/* Queues a message from memory. */
esmtp_message *itest_message(esmtp_session *s, const char *from, const char *const *to,
                             const char *body, size_t len);

/* Waits (up to 10 s) for aiosmtpd to record a message for rcpt; returns its
 * envelope text ("MAIL <from> params\nRCPT <to>\n") and sets *eml and *eml_len to the exact
 * bytes received. Both are malloc'd. NULL when nothing arrived. */
char *itest_aiosmtpd_record(const char *rcpt, char **eml, size_t *eml_len);

/* The ID.session record (listener, TLS, SNI, AUTH) of the message aiosmtpd
 * took for rcpt on a TLS listener; malloc'd, NULL when there is none. */
char *itest_aiosmtpd_session(const char *rcpt);

/* Waits (up to 15 s) for Postfix to deliver to rcpt's Maildir and returns
 * the first message's contents (LF line ends, as Postfix stores them). */
char *itest_postfix_delivered(const char *rcpt, size_t *len);

/* How many messages Postfix has delivered to rcpt's Maildir so far. */
size_t itest_postfix_count(const char *rcpt);

/* What a session's callbacks reported: events counted by kind, the TLS
 * facts at ESMTP_EVENT_TLS, and the transcript as "C: ", "S: ", "- " lines. */
typedef struct itest_trace {
    int events[16];
    char tls_version[32];
    char tls_subject[256];
    char transcript[32768];
} itest_trace;

/* Clears t and records s's progress events and transcript into it. */
void itest_watch(esmtp_session *s, itest_trace *t);

/* A socket listening on 127.0.0.1:*port (0: any free port, which is then
 * stored in *port) that accepts nothing itself. */
int itest_listen(unsigned int *port, int backlog);

/* Reads a whole file; NULL if it cannot. */
char *itest_read_file(const char *path, size_t *len);

#endif
