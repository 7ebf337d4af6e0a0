/* The public session: its options and callbacks, and the results of its
 * last run. The run itself is in conn.c. SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "internal.h"

/* RFC 5321 section 4.5.3.2; the connect timeout is Postfix's. */
static const unsigned int default_timeouts[ESMTP_TIMEOUT_ALL] = {
    [ESMTP_TIMEOUT_CONNECT] = 30 * 1000,
    [ESMTP_TIMEOUT_GREETING] = 5 * 60 * 1000,
    [ESMTP_TIMEOUT_COMMAND] = 5 * 60 * 1000,
    [ESMTP_TIMEOUT_DATA_INIT] = 2 * 60 * 1000,
    [ESMTP_TIMEOUT_DATA_BLOCK] = 3 * 60 * 1000,
    [ESMTP_TIMEOUT_DATA_END] = 10 * 60 * 1000,
};

int esmtp_session_new(esmtp_session **out)
{
    if (!out)
        return ESMTP_EINVAL;
    esmtp_session *s = mem_calloc(1, sizeof *s);
    if (!s)
        return ESMTP_ENOMEM;
    s->port = 25;
    s->pipelining = 1;
    s->chunking = 1;
    s->tls_cfg.min_version = ESMTP_TLS_1_2;
    memcpy(s->timeouts, default_timeouts, sizeof s->timeouts);
    transport_init(&s->tr);
    *out = s;
    return 0;
}

void esmtp_session_free(esmtp_session *s)
{
    if (!s)
        return;
    transport_free(&s->tr);
    engine_free(&s->eng);
    for (size_t i = 0; i < s->nmsgs; i++)
        message_free(s->msgs[i]);
    free(s->msgs);
    free(s->host);
    free(s->helo_name);
    free(s->auth_user);
    mem_wipe_free(s->auth_password);
    free(s->auth_mechs);
    tls_free(s->tls);
    tls_resume_free(s->resume);
    free(s->resume_host);
    free((char *)s->tls_cfg.ca_file);
    free((char *)s->tls_cfg.ca_dir);
    free((char *)s->tls_cfg.cert_file);
    free((char *)s->tls_cfg.key_file);
    free((char *)s->tls_cfg.pin);
    ebuf_free(&s->host_ascii);
    free(s);
}

int session_idle(const esmtp_session *s)
{
    return s->state == SESSION_IDLE || s->state == SESSION_DONE;
}

int esmtp_session_set_server(esmtp_session *s, const char *host, unsigned int port)
{
    if (!s || !host || !*host || port > 65535)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->port = port ? port : 25;
    return mem_set_string(&s->host, host);
}

int esmtp_session_set_helo_name(esmtp_session *s, const char *name)
{
    if (!s || !name || !*name || strlen(name) > 255)
        return ESMTP_EINVAL;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    return mem_set_string(&s->helo_name, name);
}

int esmtp_session_set_timeout(esmtp_session *s, esmtp_timeout phase, unsigned int ms)
{
    if (!s || ms == 0 || (unsigned)phase > ESMTP_TIMEOUT_ALL)
        return ESMTP_EINVAL;
    if (phase == ESMTP_TIMEOUT_ALL) {
        for (int i = 0; i < ESMTP_TIMEOUT_ALL; i++)
            s->timeouts[i] = ms;
    } else {
        s->timeouts[phase] = ms;
    }
    return 0;
}

int esmtp_session_set_pipelining(esmtp_session *s, int enable)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->pipelining = enable != 0;
    return 0;
}

int esmtp_session_set_tls(esmtp_session *s, esmtp_tls_mode mode)
{
    if (!s || (unsigned)mode > ESMTP_TLS_IMPLICIT)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->tls_mode = mode;
    return 0;
}

/* Replaces a TLS setting's string (NULL clears it). */
static int set_tls_string(const esmtp_session *s, const char **slot, const char *value)
{
    if (!session_idle(s))
        return ESMTP_ESTATE;
    char *copy = (char *)*slot; /* the session's own copy */
    int rc = mem_set_string(&copy, value);
    *slot = copy;
    return rc;
}

int esmtp_session_set_ca(esmtp_session *s, const char *ca_file, const char *ca_dir)
{
    if (!s)
        return ESMTP_EINVAL;
    int rc = set_tls_string(s, &s->tls_cfg.ca_file, ca_file);
    return rc ? rc : set_tls_string(s, &s->tls_cfg.ca_dir, ca_dir);
}

int esmtp_session_set_client_cert(esmtp_session *s, const char *cert_file, const char *key_file)
{
    if (!s || (key_file && !cert_file))
        return ESMTP_EINVAL;
    int rc = set_tls_string(s, &s->tls_cfg.cert_file, cert_file);
    return rc ? rc : set_tls_string(s, &s->tls_cfg.key_file, key_file);
}

int esmtp_session_set_tls_min_version(esmtp_session *s, esmtp_tls_version version)
{
    if (!s || (version != ESMTP_TLS_1_2 && version != ESMTP_TLS_1_3))
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->tls_cfg.min_version = version;
    return 0;
}

int esmtp_session_set_tls_pin(esmtp_session *s, const char *sha256_base64)
{
    /* 32 bytes in base64 are 44 characters ending in '=' */
    if (!s || (sha256_base64 && (strlen(sha256_base64) != 44 || sha256_base64[43] != '=')))
        return ESMTP_EINVAL;
    return set_tls_string(s, &s->tls_cfg.pin, sha256_base64);
}

int esmtp_session_set_tls_insecure_no_verify(esmtp_session *s, int insecure)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->tls_cfg.insecure = insecure != 0;
    return 0;
}

tls_conn *session_tls(const esmtp_session *s)
{
    return s && s->tls && !s->tls_handshaking ? s->tls : NULL;
}

int esmtp_session_set_auth(esmtp_session *s, const char *user, const char *password)
{
    if (!s || !user || !*user)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    char *u = mem_strdup(user), *p = password ? mem_strdup(password) : NULL;
    if (!u || (password && !p)) {
        free(u);
        mem_wipe_free(p);
        return ESMTP_ENOMEM;
    }
    free(s->auth_user);
    mem_wipe_free(s->auth_password);
    s->auth_user = u;
    s->auth_password = p;
    return 0;
}

int esmtp_session_set_auth_mechanisms(esmtp_session *s, const char *list)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    return mem_set_string(&s->auth_mechs, list);
}

int esmtp_session_set_allow_plaintext_auth(esmtp_session *s, int allow)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->auth_plaintext = allow != 0;
    return 0;
}

int esmtp_session_set_oauth_token_cb(esmtp_session *s, esmtp_token_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->token_cb = cb;
    s->token_ud = user_data;
    return 0;
}

int esmtp_session_set_transcript_secrets(esmtp_session *s, int show)
{
    if (!s)
        return ESMTP_EINVAL;
    s->show_secrets = show != 0;
    engine_show_secrets(&s->eng, s->show_secrets); /* takes effect in a run, too */
    return 0;
}

const char *esmtp_session_tls_version(const esmtp_session *s)
{
    return session_tls(s) ? tls_version(s->tls) : NULL;
}

const char *esmtp_session_tls_cipher(const esmtp_session *s)
{
    return session_tls(s) ? tls_cipher(s->tls) : NULL;
}

const char *esmtp_session_tls_peer_subject(const esmtp_session *s)
{
    return session_tls(s) ? tls_peer_subject(s->tls) : NULL;
}

int esmtp_session_tls_resumed(const esmtp_session *s)
{
    return session_tls(s) ? tls_resumed(s->tls) : 0;
}

int esmtp_session_set_chunking(esmtp_session *s, int enable)
{
    if (!s)
        return ESMTP_EINVAL;
    if (!session_idle(s))
        return ESMTP_ESTATE;
    s->chunking = enable != 0;
    return 0;
}

int esmtp_session_set_progress_cb(esmtp_session *s, esmtp_progress_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->progress_cb = cb;
    s->progress_ud = user_data;
    return 0;
}

int esmtp_session_set_error_cb(esmtp_session *s, esmtp_error_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->error_cb = cb;
    s->error_ud = user_data;
    return 0;
}

int esmtp_session_set_transcript_cb(esmtp_session *s, esmtp_transcript_cb cb, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->transcript_cb = cb;
    s->transcript_ud = user_data;
    return 0;
}

/* ------------------------------------------------------------ results */

const char *esmtp_session_detail(const esmtp_session *s)
{
    return s ? engine_detail(&s->eng) : "";
}

int esmtp_session_reply_code(const esmtp_session *s)
{
    return s ? engine_fail_code(&s->eng) : 0;
}

const char *esmtp_session_enhanced_code(const esmtp_session *s)
{
    return s ? engine_fail_enhanced(&s->eng) : "";
}

const char *esmtp_session_greeting(const esmtp_session *s)
{
    return s ? engine_greeting(&s->eng) : NULL;
}

const char *esmtp_session_extension(const esmtp_session *s, const char *keyword)
{
    return s && keyword ? engine_extension(&s->eng, keyword) : NULL;
}

size_t esmtp_session_message_count(const esmtp_session *s)
{
    return s ? s->nmsgs : 0;
}

esmtp_message *esmtp_session_message(const esmtp_session *s, size_t index)
{
    return s && index < s->nmsgs ? s->msgs[index] : NULL;
}

size_t esmtp_session_extension_count(const esmtp_session *s)
{
    return s ? engine_extension_count(&s->eng) : 0;
}

const char *esmtp_session_extension_name(const esmtp_session *s, size_t index)
{
    return s ? engine_extension_name(&s->eng, index) : NULL;
}

/* ------------------------------------------------------------ the settings */

const char *esmtp_session_server(const esmtp_session *s)
{
    return s ? s->host : NULL;
}

unsigned int esmtp_session_port(const esmtp_session *s)
{
    return s ? s->port : 0;
}

esmtp_tls_mode esmtp_session_tls(const esmtp_session *s)
{
    return s ? s->tls_mode : ESMTP_TLS_DEFAULT;
}

unsigned int esmtp_session_timeout(const esmtp_session *s, esmtp_timeout phase)
{
    return s && (unsigned)phase < ESMTP_TIMEOUT_ALL ? s->timeouts[phase] : 0;
}

const char *esmtp_session_auth_user(const esmtp_session *s)
{
    return s ? s->auth_user : NULL;
}

const char *esmtp_session_auth_mechanisms(const esmtp_session *s)
{
    return s ? s->auth_mechs : NULL;
}

int esmtp_session_set_user_data(esmtp_session *s, void *user_data)
{
    if (!s)
        return ESMTP_EINVAL;
    s->user_data = user_data;
    return 0;
}

void *esmtp_session_user_data(const esmtp_session *s)
{
    return s ? s->user_data : NULL;
}
