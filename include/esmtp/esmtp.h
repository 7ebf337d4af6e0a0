/*
 * esmtp: a C library that sends e-mail over ESMTP.
 * SPDX-License-Identifier: MIT
 *
 * Conventions used throughout this header:
 *  - Every handle is opaque. Constructors take the new handle as their first
 *    (out) argument and return 0 or a negative ESMTP_E* code; destructors
 *    accept NULL and then do nothing.
 *  - Functions that return int return 0 (or a documented non-negative value)
 *    on success and a negative ESMTP_E* code on failure.
 *  - Strings passed in are copied unless a comment says otherwise. Strings
 *    returned are owned by the library and stay valid as stated.
 *  - Callbacks take the session first and the caller's user_data last. A
 *    callback must not call back into the same session, except for the
 *    read-only getters.
 *  - A session and everything it owns must be used from one thread at a time.
 *    Different sessions may be used from different threads at once.
 */
#ifndef ESMTP_ESMTP_H
#define ESMTP_ESMTP_H

#include <stddef.h>
#include <stdint.h>

#include <esmtp/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library builds only with a linker that takes a version script (ELF):
 * the public symbols are those marked here and listed in lib/esmtp.map. */
#if defined(__GNUC__) && __GNUC__ >= 4
#  define ESMTP_EXTERN __attribute__((visibility("default")))
#else
#  define ESMTP_EXTERN
#endif

/* ---------------------------------------------------------------- errors */

/** Error codes. Every failure is one of these negative values. */
typedef enum esmtp_error {
    ESMTP_OK = 0,             /**< success */
    ESMTP_EINVAL = -1,        /**< an argument is invalid (NULL, CR/LF in an address, ...) */
    ESMTP_ENOMEM = -2,        /**< out of memory */
    ESMTP_ESTATE = -3,        /**< the call is not allowed in the session's current state */
    ESMTP_ERESOLVE = -4,      /**< the server's host name could not be resolved */
    ESMTP_ECONNECT = -5,      /**< no address of the server accepted a connection */
    ESMTP_ETIMEOUT = -6,      /**< the server did not answer within the phase's timeout */
    ESMTP_EIO = -7,           /**< the connection failed or was closed by the server */
    ESMTP_EPROTO = -8,        /**< the server broke the protocol (malformed or unexpected reply) */
    ESMTP_EREFUSED = -9,      /**< the server refused the session (greeting or EHLO/HELO rejected) */
    ESMTP_ESERVICE = -10,     /**< the server closed the session with 421 */
    ESMTP_ECALLBACK = -11,    /**< a callback returned non-zero and so aborted the session */
    ESMTP_EBARENEWLINE = -12, /**< the body has a bare CR or LF and the message rejects them */
    ESMTP_E8BIT = -13,        /**< the body has 8-bit bytes and the server does not offer 8BITMIME */
    ESMTP_EREAD = -14,        /**< the body's read callback reported an error */
    ESMTP_ENOMESSAGE = -15,   /**< there is nothing to send */
    ESMTP_ETOOBIG = -16,      /**< the message is larger than the server's SIZE limit */
    ESMTP_ETLS = -17,         /**< the TLS handshake or TLS connection failed */
    ESMTP_ECERT = -18,        /**< the server's certificate failed verification */
    ESMTP_ENOTLS = -19,       /**< TLS was required but the server does not offer STARTTLS */
    ESMTP_ETLSMODE = -20,     /**< the port speaks the other TLS mode (implicit TLS vs STARTTLS) */
    ESMTP_EAUTH = -21,        /**< authentication failed (the detail has the server's reply) */
    ESMTP_ENOMECH = -22       /**< no usable authentication mechanism (none offered, or
                                   only password mechanisms on an unencrypted connection) */
} esmtp_error;

/**
 * A short English description of an error code. Never NULL; the string is
 * static. Unknown codes give "unknown error".
 */
ESMTP_EXTERN const char *esmtp_strerror(int error);

/* --------------------------------------------------------------- version */

/**
 * The library's version as "MAJOR.MINOR.PATCH" (static string). Compare with
 * ESMTP_VERSION_STRING to detect a header/library mismatch.
 */
ESMTP_EXTERN const char *esmtp_version(void);

/** The library's version as ESMTP_VERSION_NUM encodes it: 0xMMmmpp. */
ESMTP_EXTERN unsigned int esmtp_version_num(void);

/* ---------------------------------------------------------------- handles */

/** A connection to one server, carrying a queue of messages. */
typedef struct esmtp_session esmtp_session;
/** One message (envelope plus body) queued on a session; owned by it. */
typedef struct esmtp_message esmtp_message;
/** One envelope recipient of a message; owned by the message. */
typedef struct esmtp_recipient esmtp_recipient;

/* -------------------------------------------------------------- outcomes */

/** The fate of a message or of one recipient. */
typedef enum esmtp_status {
    ESMTP_STATUS_PENDING = 0,  /**< not decided yet */
    ESMTP_STATUS_OK = 1,       /**< the server accepted responsibility for delivery */
    ESMTP_STATUS_TEMPFAIL = 2, /**< not delivered; a retry may succeed (4xx, 421, connection lost) */
    ESMTP_STATUS_PERMFAIL = 3, /**< not delivered; the server (or esmtp) refused it for good */
    ESMTP_STATUS_UNKNOWN = 4   /**< the whole body was sent but the final reply never came:
                                    the message may or may not have been accepted */
} esmtp_status;

/* --------------------------------------------------------------- session */

/**
 * Creates a session. The caller owns *out and frees it with
 * esmtp_session_free(). Nothing is connected until the session is run.
 */
ESMTP_EXTERN int esmtp_session_new(esmtp_session **out);

/**
 * Closes the connection if one is open (without QUIT) and frees the session
 * with all its messages and recipients. NULL is a no-op.
 */
ESMTP_EXTERN void esmtp_session_free(esmtp_session *session);

/**
 * Attaches a pointer of the caller's to a session, message or recipient (a
 * binding's own object, for instance), which esmtp never uses; NULL until
 * set. The setters return 0, or ESMTP_EINVAL for a NULL object, and may be
 * called at any time, from callbacks too.
 */
ESMTP_EXTERN int esmtp_session_set_user_data(esmtp_session *session, void *user_data);
/** The pointer given to esmtp_session_set_user_data(), or NULL. */
ESMTP_EXTERN void *esmtp_session_user_data(const esmtp_session *session);
/** Like esmtp_session_set_user_data(), for a message. */
ESMTP_EXTERN int esmtp_message_set_user_data(esmtp_message *message, void *user_data);
/** The pointer given to esmtp_message_set_user_data(), or NULL. */
ESMTP_EXTERN void *esmtp_message_user_data(const esmtp_message *message);
/** Like esmtp_session_set_user_data(), for a recipient. */
ESMTP_EXTERN int esmtp_recipient_set_user_data(esmtp_recipient *recipient, void *user_data);
/** The pointer given to esmtp_recipient_set_user_data(), or NULL. */
ESMTP_EXTERN void *esmtp_recipient_user_data(const esmtp_recipient *recipient);

/**
 * Sets the server. host is a DNS name, an IPv4 address, or an IPv6 address
 * with or without brackets ("::1" or "[::1]"). port 0 means 25.
 */
ESMTP_EXTERN int esmtp_session_set_server(esmtp_session *session, const char *host,
                                          unsigned int port);

/**
 * Sets the name sent in EHLO/HELO. By default esmtp uses the host's name when
 * it is fully qualified, otherwise the address literal of the local end of
 * the connection ("[192.0.2.1]"), as RFC 5321 section 4.1.4 asks.
 */
ESMTP_EXTERN int esmtp_session_set_helo_name(esmtp_session *session, const char *name);

/** The phases that have their own timeout (RFC 5321 section 4.5.3.2). */
typedef enum esmtp_timeout {
    ESMTP_TIMEOUT_CONNECT = 0,    /**< TCP connect to each address; default 30 s */
    ESMTP_TIMEOUT_GREETING = 1,   /**< the server's 220 greeting; default 5 min */
    ESMTP_TIMEOUT_COMMAND = 2,    /**< EHLO, MAIL, RCPT, RSET, NOOP, QUIT replies; default 5 min */
    ESMTP_TIMEOUT_DATA_INIT = 3,  /**< the 354 reply to DATA; default 2 min */
    ESMTP_TIMEOUT_DATA_BLOCK = 4, /**< progress while sending the body; default 3 min */
    ESMTP_TIMEOUT_DATA_END = 5,   /**< the reply to the final dot; default 10 min */
    ESMTP_TIMEOUT_ALL = 6         /**< with esmtp_session_set_timeout(): every phase above */
} esmtp_timeout;

/** Sets a phase's timeout in milliseconds (at least 1). */
ESMTP_EXTERN int esmtp_session_set_timeout(esmtp_session *session, esmtp_timeout phase,
                                           unsigned int milliseconds);

/**
 * Enables (1, the default) or disables (0) PIPELINING. When enabled it is
 * used only if the server offers it.
 */
ESMTP_EXTERN int esmtp_session_set_pipelining(esmtp_session *session, int enable);

/* ------------------------------------------------------------------ TLS */

/** How the connection is protected. */
typedef enum esmtp_tls_mode {
    ESMTP_TLS_DEFAULT = 0,           /**< implicit TLS on port 465, STARTTLS required elsewhere */
    ESMTP_TLS_NONE = 1,              /**< plain SMTP: nothing is encrypted */
    ESMTP_TLS_STARTTLS = 2,          /**< STARTTLS, and stop before MAIL if it is not offered */
    ESMTP_TLS_STARTTLS_OPTIONAL = 3, /**< STARTTLS when offered, else go on in clear */
    ESMTP_TLS_IMPLICIT = 4           /**< TLS from the first byte (usually port 465) */
} esmtp_tls_mode;

/** Sets the TLS mode. The default protects the connection. */
ESMTP_EXTERN int esmtp_session_set_tls(esmtp_session *session, esmtp_tls_mode mode);

/**
 * Trusts the CA certificates in a PEM file and/or a hashed directory
 * (c_rehash) instead of the system's trust store. Either may be NULL.
 */
ESMTP_EXTERN int esmtp_session_set_ca(esmtp_session *session, const char *ca_file,
                                      const char *ca_dir);

/** Presents a client certificate (PEM, with its chain) and its private key (PEM). */
ESMTP_EXTERN int esmtp_session_set_client_cert(esmtp_session *session, const char *cert_file,
                                               const char *key_file);

/** TLS protocol versions, for esmtp_session_set_tls_min_version(). */
typedef enum esmtp_tls_version {
    ESMTP_TLS_1_2 = 12, /**< TLS 1.2 (RFC 5246) */
    ESMTP_TLS_1_3 = 13  /**< TLS 1.3 (RFC 8446) */
} esmtp_tls_version;

/** Sets the lowest TLS version accepted (default ESMTP_TLS_1_2). */
ESMTP_EXTERN int esmtp_session_set_tls_min_version(esmtp_session *session,
                                                   esmtp_tls_version version);

/**
 * Pins the server's public key: the base64 SHA-256 of its
 * SubjectPublicKeyInfo (as "openssl x509 -pubkey | openssl pkey -pubin
 * -outform der | openssl dgst -sha256 -binary | base64" prints it). With a
 * pin, a certificate that matches it is trusted even when no CA vouches for
 * it (the host name must still match); one that does not match is always
 * refused. NULL removes the pin.
 */
ESMTP_EXTERN int esmtp_session_set_tls_pin(esmtp_session *session, const char *sha256_base64);

/**
 * INSECURE: with 1, esmtp accepts any certificate for any host, so anyone
 * on the path can read and change the mail. For tests only. Default 0.
 */
ESMTP_EXTERN int esmtp_session_set_tls_insecure_no_verify(esmtp_session *session, int insecure);

/** The negotiated TLS version ("TLSv1.3"), or NULL without TLS. */
ESMTP_EXTERN const char *esmtp_session_tls_version(const esmtp_session *session);
/** The negotiated cipher suite, or NULL without TLS. */
ESMTP_EXTERN const char *esmtp_session_tls_cipher(const esmtp_session *session);
/** The subject of the server's certificate (one line, RFC 2253), or NULL. */
ESMTP_EXTERN const char *esmtp_session_tls_peer_subject(const esmtp_session *session);
/** 1 when the TLS session was resumed from an earlier connection, else 0. */
ESMTP_EXTERN int esmtp_session_tls_resumed(const esmtp_session *session);

/* ------------------------------------------------------ authentication */

/**
 * Logs in with SMTP AUTH (RFC 4954) as user. password may be NULL for token
 * or certificate (EXTERNAL) mechanisms. Both are copied; the password is
 * wiped from memory when replaced or when the session is freed. Once
 * credentials are set the session never sends mail unauthenticated: if
 * authentication fails, it stops (ESMTP_EAUTH, with the server's reply).
 */
ESMTP_EXTERN int esmtp_session_set_auth(esmtp_session *session, const char *user,
                                        const char *password);

/**
 * The SASL mechanisms to consider, comma-separated in order of preference
 * (e.g. "PLAIN,LOGIN"). NULL (the default) picks the strongest both sides
 * support: OAUTHBEARER, XOAUTH2 (with a token), SCRAM-SHA-256-PLUS,
 * SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5, PLAIN, LOGIN. EXTERNAL (the TLS
 * client certificate) is used only when listed here.
 */
ESMTP_EXTERN int esmtp_session_set_auth_mechanisms(esmtp_session *session, const char *list);

/**
 * Allows mechanisms that reveal the password or token (PLAIN, LOGIN,
 * CRAM-MD5, XOAUTH2, OAUTHBEARER) on an unencrypted connection (1). The
 * default (0) refuses them there with ESMTP_ENOMECH.
 */
ESMTP_EXTERN int esmtp_session_set_allow_plaintext_auth(esmtp_session *session, int allow);

/**
 * OAuth 2.0 token callback, called before each authentication so that the
 * application can hand over a fresh bearer token: write it into buf (at
 * most size bytes, NUL-terminated) and return 0, or return non-zero to
 * abort (ESMTP_ECALLBACK). With a token, XOAUTH2 and OAUTHBEARER become
 * usable (user is set with esmtp_session_set_auth()).
 */
typedef int (*esmtp_token_cb)(esmtp_session *session, char *buf, size_t size,
                              void *user_data);

/** Sets (or with NULL clears) the OAuth 2.0 token callback. */
ESMTP_EXTERN int esmtp_session_set_oauth_token_cb(esmtp_session *session, esmtp_token_cb cb,
                                                  void *user_data);

/**
 * Shows AUTH commands and responses in the transcript as sent (1). By
 * default (0) they appear redacted, because they carry the password or
 * token in a reversible form.
 */
ESMTP_EXTERN int esmtp_session_set_transcript_secrets(esmtp_session *session, int show);

/*
 * The settings, as set (by the setters above or a provider preset). The
 * strings are the session's copies: valid until set again or the session
 * is freed. NULL session: NULL, 0 or ESMTP_TLS_DEFAULT.
 */
/** The server's name or address as given, or NULL before one was set. */
ESMTP_EXTERN const char *esmtp_session_server(const esmtp_session *session);
/** The server's port (25 until one was set). */
ESMTP_EXTERN unsigned int esmtp_session_port(const esmtp_session *session);
/** The TLS mode as set (ESMTP_TLS_DEFAULT until one was set). */
ESMTP_EXTERN esmtp_tls_mode esmtp_session_tls(const esmtp_session *session);
/** A phase's timeout in milliseconds, or 0 for ESMTP_TIMEOUT_ALL or a bad phase. */
ESMTP_EXTERN unsigned int esmtp_session_timeout(const esmtp_session *session,
                                                esmtp_timeout phase);
/** The user name for AUTH, or NULL when none was set. */
ESMTP_EXTERN const char *esmtp_session_auth_user(const esmtp_session *session);
/** The AUTH mechanism list as set, or NULL (any usable one). */
ESMTP_EXTERN const char *esmtp_session_auth_mechanisms(const esmtp_session *session);

/* ------------------------------------------------------------- providers */

/**
 * Looks up a mail provider's submission settings by name (case-insensitive):
 * "qq", "163", "126", "gmail", "outlook" (Microsoft 365), "yahoo", "icloud".
 * Any out argument may be NULL. The strings are static. mechanisms is the
 * order of SASL mechanisms the provider prefers. Returns 0, or ESMTP_EINVAL
 * for an unknown name.
 */
ESMTP_EXTERN int esmtp_provider_find(const char *name, const char **host, unsigned int *port,
                                     esmtp_tls_mode *mode, const char **mechanisms);

/**
 * Configures the session for a provider (see esmtp_provider_find()): server,
 * port, TLS mode and mechanism order. Credentials are still the caller's:
 * QQ Mail, 163 and 126 want the authorisation code from their web settings
 * instead of the web password; Gmail and Outlook want an app password or an
 * OAuth 2.0 token.
 */
ESMTP_EXTERN int esmtp_session_use_provider(esmtp_session *session, const char *name);

/* ------------------------------------------------------------- callbacks */

/** Progress events, reported through esmtp_progress_cb. */
typedef enum esmtp_event {
    ESMTP_EVENT_CONNECTED = 1,    /**< the TCP connection is up */
    ESMTP_EVENT_GREETING = 2,     /**< the 220 greeting arrived (see esmtp_session_greeting()) */
    ESMTP_EVENT_EXTENSIONS = 3,   /**< EHLO/HELO done; esmtp_session_extension() now answers */
    ESMTP_EVENT_RECIPIENT = 4,    /**< the server answered a RCPT: recipient is set */
    ESMTP_EVENT_BODY_BYTES = 5,   /**< more of message's body was sent: bytes is the total so far */
    ESMTP_EVENT_MESSAGE_DONE = 6, /**< message has its final status */
    ESMTP_EVENT_DISCONNECTED = 7, /**< the connection is closed */
    ESMTP_EVENT_TLS = 8,          /**< TLS is up: see esmtp_session_tls_version(),
                                       esmtp_session_tls_cipher(), esmtp_session_tls_peer_subject() */
    ESMTP_EVENT_AUTHENTICATED = 9, /**< the server accepted the credentials */
    ESMTP_EVENT_DSN_DROPPED = 10,  /**< message goes to a server without DSN: its DSN
                                        requests are dropped */
    ESMTP_EVENT_PARAMS_DROPPED = 11 /**< message goes without some optional parameters:
                                         the server lacks the extension, or refused
                                         MAIL with them (501/555) and esmtp retried */
} esmtp_event;

/**
 * Progress callback. message and recipient are NULL when the event has none;
 * bytes is 0 except for ESMTP_EVENT_BODY_BYTES. Returning non-zero aborts
 * the session with ESMTP_ECALLBACK.
 */
typedef int (*esmtp_progress_cb)(esmtp_session *session, esmtp_event event,
                                 esmtp_message *message, esmtp_recipient *recipient,
                                 uint64_t bytes, void *user_data);

/**
 * Error callback: called once when the session fails, with the error code
 * and the same text esmtp_session_detail() returns.
 */
typedef void (*esmtp_error_cb)(esmtp_session *session, int error, const char *detail,
                               void *user_data);

/** Who a transcript line comes from. */
typedef enum esmtp_direction {
    ESMTP_FROM_CLIENT = 0, /**< a command esmtp sent */
    ESMTP_FROM_SERVER = 1, /**< a reply line the server sent */
    ESMTP_FROM_LIBRARY = 2 /**< a note, e.g. how many body bytes were sent */
} esmtp_direction;

/**
 * Transcript callback: one protocol line, without its CRLF, not
 * NUL-terminated (use len). Message bodies are not shown line by line.
 */
typedef void (*esmtp_transcript_cb)(esmtp_session *session, esmtp_direction direction,
                                    const char *line, size_t len, void *user_data);

/** Sets (or with NULL clears) the progress callback. */
ESMTP_EXTERN int esmtp_session_set_progress_cb(esmtp_session *session, esmtp_progress_cb cb,
                                               void *user_data);
/** Sets (or with NULL clears) the error callback. */
ESMTP_EXTERN int esmtp_session_set_error_cb(esmtp_session *session, esmtp_error_cb cb,
                                            void *user_data);
/** Sets (or with NULL clears) the transcript callback. */
ESMTP_EXTERN int esmtp_session_set_transcript_cb(esmtp_session *session,
                                                 esmtp_transcript_cb cb, void *user_data);

/* -------------------------------------------------------------- messages */

/**
 * Queues a new, empty message on the session. The session owns it; *out
 * stays valid until the session is freed.
 */
ESMTP_EXTERN int esmtp_session_add_message(esmtp_session *session, esmtp_message **out);

/**
 * Sets the envelope sender (MAIL FROM). "" gives the null reverse-path <>.
 * The address is given without angle brackets; control characters, spaces
 * outside a quoted local part and angle brackets are rejected (ESMTP_EINVAL).
 */
ESMTP_EXTERN int esmtp_message_set_reverse_path(esmtp_message *message, const char *mailbox);
/**
 * The reverse-path as set (or taken from an attached MIME builder's
 * header), or NULL before one was. Valid until it is set again or the
 * message is freed.
 */
ESMTP_EXTERN const char *esmtp_message_reverse_path(const esmtp_message *message);

/**
 * Adds an envelope recipient (RCPT TO), validated like the reverse-path. If
 * out is not NULL it receives the recipient, owned by the message.
 */
ESMTP_EXTERN int esmtp_message_add_recipient(esmtp_message *message, const char *mailbox,
                                             esmtp_recipient **out);

/**
 * Sets the body: a complete RFC 5322 message (headers, blank line, body).
 * The bytes are copied. Line ends may be CRLF, LF or CR (see
 * esmtp_message_set_newline_policy()); esmtp dot-stuffs and terminates it.
 */
ESMTP_EXTERN int esmtp_message_set_body(esmtp_message *message, const void *data, size_t len);

/**
 * Read callback for bodies that are streamed: fill buf with up to len bytes
 * and return how many, 0 at the end, or a negative value on error (the
 * message then fails with ESMTP_EREAD).
 */
typedef long (*esmtp_read_cb)(esmtp_message *message, void *buf, size_t len, void *user_data);

/**
 * Streams the body from a callback, in bounded chunks while sending, so
 * memory stays constant. user_data must stay valid until the session is
 * freed. Because the body is not known in advance, set
 * esmtp_message_set_size() and esmtp_message_set_8bit() if they apply.
 */
ESMTP_EXTERN int esmtp_message_set_body_cb(esmtp_message *message, esmtp_read_cb cb,
                                           void *user_data);

/**
 * Rewind callback for a streamed body: start the body over from its first
 * byte and return 0, or return non-zero when that is impossible. It gets
 * the read callback's user_data.
 */
typedef int (*esmtp_rewind_cb)(esmtp_message *message, void *user_data);

/**
 * Lets esmtp send a streamed body more than once, which it needs to give
 * recipients that a server put off (452, too many recipients) a follow-up
 * transaction, and to retry a refused MAIL without its optional parameters
 * once the body has started to go out as BDAT. Without it those recipients
 * keep their 452. Bodies in memory and from the MIME builder need none.
 */
ESMTP_EXTERN int esmtp_message_set_body_rewind_cb(esmtp_message *message, esmtp_rewind_cb cb);

/**
 * Declares the size of a streamed body in bytes (with CRLF line ends), so
 * that SIZE= can be sent. Bodies set from memory are measured instead and
 * ignore this. May be called before or after esmtp_message_set_body_cb().
 */
ESMTP_EXTERN int esmtp_message_set_size(esmtp_message *message, uint64_t size);

/**
 * Declares that a streamed body contains 8-bit bytes (1) so that
 * BODY=8BITMIME is sent, or that it does not (0, the default). A streamed
 * body that turns out to hold 8-bit bytes without this declaration fails
 * with ESMTP_E8BIT; the connection is then dropped so that nothing is
 * delivered corrupted. Bodies set from memory are scanned instead and
 * ignore this. May be called before or after esmtp_message_set_body_cb().
 */
ESMTP_EXTERN int esmtp_message_set_8bit(esmtp_message *message, int has_8bit);

/** What to do with a bare CR or bare LF in a body. */
typedef enum esmtp_newline_policy {
    ESMTP_NEWLINE_NORMALIZE = 0, /**< turn each into CRLF (default) */
    ESMTP_NEWLINE_REJECT = 1     /**< fail the message with ESMTP_EBARENEWLINE */
} esmtp_newline_policy;

/** Sets the message's bare CR/LF policy. */
ESMTP_EXTERN int esmtp_message_set_newline_policy(esmtp_message *message,
                                                  esmtp_newline_policy policy);

/* ------------------------------------------------------------ extensions */

/** What a delivery status notification returns of the message (RFC 3461 RET). */
typedef enum esmtp_dsn_ret {
    ESMTP_DSN_RET_DEFAULT = 0, /**< the server decides */
    ESMTP_DSN_RET_FULL = 1,    /**< the whole message */
    ESMTP_DSN_RET_HDRS = 2     /**< the headers only */
} esmtp_dsn_ret;

/** Asks for RET=FULL or RET=HDRS in delivery status notifications. */
ESMTP_EXTERN int esmtp_message_set_dsn_ret(esmtp_message *message, esmtp_dsn_ret ret);

/**
 * Sets the envelope identifier that DSNs quote (RFC 3461 ENVID; printable
 * ASCII, at most 100 characters; esmtp encodes it as xtext). NULL removes it.
 */
ESMTP_EXTERN int esmtp_message_set_dsn_envid(esmtp_message *message, const char *envid);

/**
 * With 1, a server without DSN fails the message (ESMTP_STATUS_PERMFAIL)
 * instead of receiving it without the DSN requests. By default (0) the
 * requests are dropped and ESMTP_EVENT_DSN_DROPPED reports it.
 */
ESMTP_EXTERN int esmtp_message_set_dsn_required(esmtp_message *message, int required);

/** RFC 3461 NOTIFY flags for esmtp_recipient_set_dsn_notify(). */
typedef enum esmtp_notify {
    ESMTP_NOTIFY_NEVER = 1,   /**< never send a DSN (alone) */
    ESMTP_NOTIFY_SUCCESS = 2, /**< a DSN when the message is delivered */
    ESMTP_NOTIFY_FAILURE = 4, /**< a DSN when delivery fails */
    ESMTP_NOTIFY_DELAY = 8    /**< a DSN when delivery is delayed */
} esmtp_notify;

/**
 * When the recipient's DSNs are sent: ESMTP_NOTIFY_NEVER alone, or any of
 * SUCCESS, FAILURE and DELAY; 0 (the default) leaves it to the server.
 */
ESMTP_EXTERN int esmtp_recipient_set_dsn_notify(esmtp_recipient *recipient, int flags);

/**
 * The original recipient address for DSNs (RFC 3461 ORCPT; RFC 6533's
 * utf-8 form for a non-ASCII address). NULL removes it.
 */
ESMTP_EXTERN int esmtp_recipient_set_dsn_orcpt(esmtp_recipient *recipient, const char *address);

/**
 * Requires TLS all the way to the recipient (RFC 8689 REQUIRETLS): the
 * message is only sent over TLS to a server that offers REQUIRETLS;
 * otherwise it fails (ESMTP_STATUS_PERMFAIL) without being sent.
 */
ESMTP_EXTERN int esmtp_message_set_requiretls(esmtp_message *message, int require);

/**
 * Asks for delivery within seconds (RFC 2852 DELIVERBY): when return_if_late
 * is 1 the message is to be returned if it cannot be delivered in time (R),
 * else only a DSN is sent (N). 0 seconds removes the request. Dropped, with
 * ESMTP_EVENT_PARAMS_DROPPED, by a server that does not offer DELIVERBY.
 */
ESMTP_EXTERN int esmtp_message_set_deliver_by(esmtp_message *message, long seconds,
                                              int return_if_late);

/**
 * The message's priority, -9 (lowest) to 9 (RFC 6710 MT-PRIORITY); 0 is
 * normal and sends nothing. Dropped, with ESMTP_EVENT_PARAMS_DROPPED, by a
 * server that does not offer MT-PRIORITY.
 */
ESMTP_EXTERN int esmtp_message_set_priority(esmtp_message *message, int priority);

/**
 * Declares that the message's headers are UTF-8 (RFC 6532), so that it must
 * be sent with SMTPUTF8 (RFC 6531). Without this, SMTPUTF8 is used only when
 * an envelope address has a non-ASCII local part. A message that needs it
 * fails (ESMTP_STATUS_PERMFAIL) at a server that does not offer it;
 * domains in Unicode are sent as A-labels otherwise.
 */
ESMTP_EXTERN int esmtp_message_set_utf8_headers(esmtp_message *message, int utf8);

/**
 * Declares the body binary (RFC 3030 BINARYMIME): it is sent exactly as
 * given, without line-end conversion, in BDAT chunks with BODY=BINARYMIME.
 * This needs a server that offers CHUNKING, BINARYMIME and PIPELINING;
 * elsewhere the message fails (ESMTP_STATUS_PERMFAIL) without being sent.
 */
ESMTP_EXTERN int esmtp_message_set_binary(esmtp_message *message, int binary);

/**
 * Enables (1, the default) or disables (0) CHUNKING (RFC 3030): when the
 * server offers it with PIPELINING, bodies go out as BDAT chunks, without
 * dot-stuffing and without waiting for a 354.
 */
ESMTP_EXTERN int esmtp_session_set_chunking(esmtp_session *session, int enable);

/* ------------------------------------------------------- running a session */

/**
 * Blocking: connects, sends every queued message and quits. Returns 0 when
 * the session ran its course, whatever the server decided about each
 * message (read esmtp_message_status() and esmtp_recipient_status()), or a
 * negative code when it ended early (connection failure, timeout, 421,
 * protocol error); unfinished messages then hold TEMPFAIL or UNKNOWN.
 */
ESMTP_EXTERN int esmtp_session_send(esmtp_session *session);

/** Readiness bits used by the event-loop API. */
typedef enum esmtp_want {
    ESMTP_WANT_READ = 1, /**< wait until the socket is readable */
    ESMTP_WANT_WRITE = 2 /**< wait until the socket is writable */
} esmtp_want;

/**
 * Event loop: resolves the server (a blocking getaddrinfo() call), reads
 * the text parts of MIME-built messages that come from files (to choose
 * their encodings: the only reading of a body that is not paced by the
 * socket), and starts a non-blocking connect. These two are what may block;
 * esmtp_session_process() does not, except in the callbacks it calls (a
 * body's read callback, the OAuth token callback). Then, until esmtp_session_process() returns
 * non-zero, wait on esmtp_session_fd() for esmtp_session_want() for at most
 * esmtp_session_timeout_ms() and call esmtp_session_process(). Read the
 * three getters again after every call: the socket changes when esmtp tries
 * the server's next address. Messages already decided by an earlier run
 * are skipped.
 *
 * Returns 0 when the run is under way. ESMTP_EINVAL, ESMTP_ESTATE and
 * ESMTP_ENOMESSAGE mean nothing was started and nothing decided; any other
 * negative code means the run is already over (e.g. ESMTP_ERESOLVE, or
 * ESMTP_ECONNECT when no address could even be tried) and every message has
 * its status.
 */
ESMTP_EXTERN int esmtp_session_start(esmtp_session *session);

/** The socket to watch, or -1 when there is none. */
ESMTP_EXTERN int esmtp_session_fd(const esmtp_session *session);

/** The esmtp_want bits to wait for on esmtp_session_fd(). */
ESMTP_EXTERN int esmtp_session_want(const esmtp_session *session);

/**
 * Milliseconds until the current phase times out (0 when it already has),
 * or -1 when no timeout is running.
 */
ESMTP_EXTERN int esmtp_session_timeout_ms(const esmtp_session *session);

/**
 * Does all the work that can be done now. ready holds the esmtp_want bits the
 * socket is ready for, or 0 when the wait timed out; when poll() reports an
 * error or hang-up on the socket, pass the bits that were asked for, so that
 * esmtp's own read or connect finds the error. Returns 0 while the session
 * goes on, 1 when it has finished normally, or a negative code when it ended
 * early (as esmtp_session_send() would).
 */
ESMTP_EXTERN int esmtp_session_process(esmtp_session *session, int ready);

/* -------------------------------------------------------------- results */

/**
 * A description of the session's last failure, complete in itself and with
 * the server's reply where there was one (e.g. "the server is closing the
 * session: 421 4.3.2 Service shutting down"). "" when there is none. Valid
 * until the session next runs or is freed.
 */
ESMTP_EXTERN const char *esmtp_session_detail(const esmtp_session *session);

/**
 * The reply code of the server reply that ended the session early (e.g.
 * 421, or 535 for a failed login), or 0 when no reply did.
 */
ESMTP_EXTERN int esmtp_session_reply_code(const esmtp_session *session);

/** The enhanced status code of that reply ("4.3.2"), or "". */
ESMTP_EXTERN const char *esmtp_session_enhanced_code(const esmtp_session *session);

/**
 * The greeting's text (without the code), or NULL before it arrives. Valid
 * until the session next runs or is freed.
 */
ESMTP_EXTERN const char *esmtp_session_greeting(const esmtp_session *session);

/**
 * Whether the server offered an EHLO keyword (case-insensitive): NULL if not,
 * otherwise its parameters ("" when it has none), e.g. "10240000" for SIZE.
 * After STARTTLS it answers from the EHLO given over TLS. The string stays
 * valid until the session next runs or is freed, across STARTTLS too.
 */
ESMTP_EXTERN const char *esmtp_session_extension(const esmtp_session *session,
                                                 const char *keyword);

/**
 * The number of keywords the server's EHLO offered (after STARTTLS, those
 * offered over TLS), and the index-th of them in upper case (NULL past the
 * end), in the server's order; esmtp_session_extension() gives each one's
 * parameters. Valid as esmtp_session_extension()'s strings.
 */
ESMTP_EXTERN size_t esmtp_session_extension_count(const esmtp_session *session);
/** See esmtp_session_extension_count(). */
ESMTP_EXTERN const char *esmtp_session_extension_name(const esmtp_session *session,
                                                      size_t index);

/**
 * Removes a message from its session and frees it, with its recipients
 * and an attached MIME builder: every pointer and string it gave out dies
 * with it, and the messages after it move up one index. A long-lived
 * session removes the messages it has decided so that it does not grow
 * (and keeps its TLS session for resumption); a pending message may be
 * removed so that it is not sent. Returns 0, ESMTP_EINVAL (NULL, or a
 * message of another session) or ESMTP_ESTATE (while the session runs).
 */
ESMTP_EXTERN int esmtp_session_remove_message(esmtp_session *session, esmtp_message *message);

/** The session that owns message (NULL for NULL). */
ESMTP_EXTERN esmtp_session *esmtp_message_session(const esmtp_message *message);
/** The message that recipient belongs to (NULL for NULL). */
ESMTP_EXTERN esmtp_message *esmtp_recipient_message(const esmtp_recipient *recipient);

/** The number of messages queued on the session. */
ESMTP_EXTERN size_t esmtp_session_message_count(const esmtp_session *session);
/** The index-th message (0-based, in the order added), or NULL. */
ESMTP_EXTERN esmtp_message *esmtp_session_message(const esmtp_session *session, size_t index);

/** The message's fate. */
ESMTP_EXTERN esmtp_status esmtp_message_status(const esmtp_message *message);
/**
 * The reply code that decided the message's fate (the reply to the final
 * dot, or to MAIL or DATA if those failed), or 0 when esmtp decided it
 * (connection lost, local error).
 */
ESMTP_EXTERN int esmtp_message_code(const esmtp_message *message);
/**
 * The RFC 3463 enhanced status code of that reply ("2.0.0"), or "". The
 * strings a message or recipient returns stay valid until the session that
 * owns them is freed; read again, they give the latest outcome.
 */
ESMTP_EXTERN const char *esmtp_message_enhanced_code(const esmtp_message *message);
/** The text of that reply, or esmtp's explanation when the code is 0. */
ESMTP_EXTERN const char *esmtp_message_text(const esmtp_message *message);

/** The number of recipients of a message. */
ESMTP_EXTERN size_t esmtp_message_recipient_count(const esmtp_message *message);
/** The index-th recipient (0-based, in the order added), or NULL. */
ESMTP_EXTERN esmtp_recipient *esmtp_message_recipient(const esmtp_message *message,
                                                      size_t index);

/** The recipient's address as given. */
ESMTP_EXTERN const char *esmtp_recipient_mailbox(const esmtp_recipient *recipient);
/**
 * The recipient's fate: the RCPT reply when the server refused it there,
 * otherwise the message's fate.
 */
ESMTP_EXTERN esmtp_status esmtp_recipient_status(const esmtp_recipient *recipient);
/** The code of the reply that decided the recipient's fate, or 0 (see esmtp_message_code()). */
ESMTP_EXTERN int esmtp_recipient_code(const esmtp_recipient *recipient);
/** The enhanced status code of that reply, or "" (valid as esmtp_message_enhanced_code()'s). */
ESMTP_EXTERN const char *esmtp_recipient_enhanced_code(const esmtp_recipient *recipient);
/**
 * The text of that reply, or esmtp's explanation. Read during an event and
 * kept, it stays valid after a later reply decides the recipient again,
 * until the session is freed.
 */
ESMTP_EXTERN const char *esmtp_recipient_text(const esmtp_recipient *recipient);

/** A static name for a status: "pending", "ok", "tempfail", "permfail", "unknown". */
ESMTP_EXTERN const char *esmtp_status_name(esmtp_status status);

#ifdef __cplusplus
}
#endif

/* The MIME builder needs the declarations above, so it comes last. */
#include <esmtp/mime.h>

#endif /* ESMTP_ESMTP_H */
