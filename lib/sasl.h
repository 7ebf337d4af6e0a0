/* SASL client mechanisms for SMTP AUTH (RFC 4954), without I/O.
 * SPDX-License-Identifier: MIT
 *
 * The engine drives one exchange like this:
 *
 *   sasl_client_new(&c, mech, &creds)          mech from sasl_choose()
 *   sasl_client_start(c, &line)                send "AUTH " + line
 *   on 334 <text>: sasl_client_step(c, text, len, &resp)
 *                  0: send resp (may be an empty line); error: send "*"
 *                  (the server answers 501) and fail with the error
 *   on 235 <text>: sasl_client_finish(c, text, len); an error means the
 *                  server did not prove who it is (SCRAM): fail the session
 *   on 4xx/5xx:    authentication failed; sasl_client_server_error() may
 *                  hold the reason a server gave in a challenge (OAuth
 *                  JSON, SCRAM e=)
 *   sasl_client_free(c)
 *
 * Every text argument is the base64 exactly as the server sent it after
 * "334 " / "235 " (no CRLF). Output lines are appended to the caller's
 * buffer, without CRLF. Output of PLAIN, LOGIN, XOAUTH2 and OAUTHBEARER
 * carries the password or token (base64 is no protection): wipe it with
 * sasl_buf_wipe() and keep it out of transcripts.
 */
#ifndef ESMTP_SASL_H
#define ESMTP_SASL_H

#include <stddef.h>

#include "buf.h"

/* What the caller knows. Only what the mechanism needs must be set; the
 * rest may be NULL/0. sasl_client_new() copies what it uses. */
typedef struct sasl_creds {
    const char *user;              /* authentication identity */
    const char *password;          /* PLAIN, LOGIN, CRAM-MD5, SCRAM-* */
    const char *authzid;           /* authorisation identity, or NULL */
    const char *token;             /* OAuth 2.0 bearer token: XOAUTH2, OAUTHBEARER */
    const char *host;              /* OAUTHBEARER host=, or NULL to omit */
    unsigned int port;             /* OAUTHBEARER port=, or 0 to omit */
    const unsigned char *cb_data;  /* tls-exporter channel binding (RFC 9266:
                                      32 bytes, label "EXPORTER-Channel-Binding",
                                      empty context), or NULL */
    size_t cb_len;
} sasl_creds;

typedef struct sasl_client sasl_client;

/* Longest AUTH command line (with CRLF) that carries an initial response,
 * RFC 4954 section 4 with RFC 5321's 512-octet command limit. A longer one
 * is sent without it and answered to the server's empty 334 instead. */
#define SASL_MAX_AUTH_LINE 512
/* SCRAM iteration counts above this are refused (a hostile server could
 * otherwise make the client spin). */
#define SASL_SCRAM_MAX_ITERATIONS 10000000

/*
 * Creates a client for mech (case-insensitive; one of PLAIN, LOGIN,
 * CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-256-PLUS, XOAUTH2,
 * OAUTHBEARER, EXTERNAL). Returns 0, ESMTP_ENOMEM, or ESMTP_EINVAL for an
 * unknown mechanism or credentials it cannot use (missing user, password,
 * token or channel binding; a 0x01 byte in an OAuth field).
 */
int sasl_client_new(sasl_client **out, const char *mech, const sasl_creds *creds);
/* Wipes every secret the client holds and frees it. NULL is a no-op. */
void sasl_client_free(sasl_client *c);

/* The mechanism's canonical (upper-case) name; static. */
const char *sasl_client_mech(const sasl_client *c);

/*
 * Appends what follows "AUTH ": the mechanism name, then, when it has an
 * initial response that fits in SASL_MAX_AUTH_LINE, " " and the response
 * in base64 ("=" for an empty one). Call once. Returns 0, ESMTP_ESTATE or
 * ESMTP_ENOMEM (or ESMTP_EIO if the random generator fails).
 */
int sasl_client_start(sasl_client *c, ebuf *line);

/*
 * Answers one 334 challenge: appends the base64 response line to response
 * (possibly nothing: then send an empty line). Returns 0, ESMTP_EPROTO when
 * the challenge is malformed or not acceptable at this point (the reason is
 * in sasl_client_error()), ESMTP_ESTATE when the exchange already failed or
 * was not started, or ESMTP_ENOMEM.
 *
 * Per mechanism: a challenge that stands for the initial response not sent
 * in AUTH gets it whatever it says. LOGIN answers the first challenge with
 * the user and the second with the password, whatever their text. XOAUTH2
 * and OAUTHBEARER treat any other challenge as the server's error report:
 * they keep its text (sasl_client_server_error()) and answer with an empty
 * line (XOAUTH2) or "AQ==" (OAUTHBEARER's 0x01), after which the server
 * sends its final 5xx. SCRAM answers server-first with client-final and a
 * server-final ("v=...") with an empty line, once it has checked it.
 */
int sasl_client_step(sasl_client *c, const char *challenge, size_t len, ebuf *response);

/*
 * Call on 235. For SCRAM the server's signature must have been checked:
 * either in a 334 before, or here from data (the 235's text; pass it, or
 * NULL/0 if there is none: it is only read when no 334 carried the
 * signature). Other mechanisms ignore data. Returns 0 when the exchange is
 * complete; ESMTP_EPROTO when SCRAM's server signature is missing,
 * malformed or wrong, or the 235 came before the client's proof: the
 * server is not to be trusted, end the session; ESMTP_ESTATE when not
 * started, already finished or failed before.
 */
int sasl_client_finish(sasl_client *c, const char *data, size_t len);

/* Why the last call failed (static), or NULL. */
const char *sasl_client_error(const sasl_client *c);
/* The error text the server sent in a challenge (OAuth JSON, SCRAM e=),
 * with control characters replaced by '?', or NULL. Valid until free. */
const char *sasl_client_server_error(const sasl_client *c);

/* Tests only: use this nonce (printable ASCII without ',') instead of a
 * random one. Call before sasl_client_start. Returns 0, ESMTP_EINVAL,
 * ESMTP_ESTATE (not SCRAM, or already started) or ESMTP_ENOMEM. */
int sasl_client_set_nonce(sasl_client *c, const char *nonce);

/* Tests only: refuse SCRAM iteration counts above max (1 ..
 * SASL_SCRAM_MAX_ITERATIONS), so that a fuzzer's server cannot make each
 * run slow. Call before sasl_client_start. Returns 0, ESMTP_EINVAL or
 * ESMTP_ESTATE (not SCRAM, or already started). */
int sasl_client_set_max_iterations(sasl_client *c, unsigned long max);

/*
 * Picks a mechanism, or returns NULL when none is acceptable.
 * offered: the AUTH keyword's parameters (space-separated, any case).
 * wanted: the caller's choice, comma-separated in order of preference (any
 * case, spaces around names ignored, unknown names skipped), or NULL for
 * the default order: OAUTHBEARER, XOAUTH2 (these two only with a token),
 * SCRAM-SHA-256-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN.
 * EXTERNAL is only chosen when wanted names it.
 * A mechanism is acceptable when offered, when creds has what it needs
 * (-PLUS: channel binding data, on an encrypted connection) and, on a
 * connection that is not encrypted, when it sends no reusable secret
 * (SCRAM-*, EXTERNAL) or allow_plaintext is set.
 * The returned name is static (canonical case). creds may be NULL.
 */
const char *sasl_choose(const char *offered, const char *wanted, const sasl_creds *creds,
                        int encrypted, int allow_plaintext);

/* Base64 (RFC 4648, with padding). Both append to out and return 0 or
 * ESMTP_ENOMEM; decoding is strict and returns ESMTP_EPROTO (out unchanged)
 * for a length that is not a multiple of 4, a byte outside the alphabet
 * (whitespace included), misplaced padding or non-zero unused bits. */
int sasl_b64_encode(const void *in, size_t len, ebuf *out);
int sasl_b64_decode(const char *in, size_t len, ebuf *out);

/* Overwrites all of b's memory (OPENSSL_cleanse) and frees it. */
void sasl_buf_wipe(ebuf *b);

#endif
