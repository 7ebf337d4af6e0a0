/* Submission settings of the mail providers people use most. Each entry
 * follows the provider's own published client settings.
 * SPDX-License-Identifier: MIT */
#include <strings.h>

#include <esmtp/esmtp.h>

typedef struct provider {
    const char *name;
    const char *host;
    unsigned int port;
    esmtp_tls_mode mode;
    const char *mechanisms;
} provider;

static const provider providers[] = {
    /* QQ, 163 and 126: implicit TLS on 465 (their STARTTLS on 587 works too),
     * AUTH LOGIN or PLAIN with the authorisation code. */
    {"qq", "smtp.qq.com", 465, ESMTP_TLS_IMPLICIT, "LOGIN,PLAIN"},
    {"163", "smtp.163.com", 465, ESMTP_TLS_IMPLICIT, "LOGIN,PLAIN"},
    {"126", "smtp.126.com", 465, ESMTP_TLS_IMPLICIT, "LOGIN,PLAIN"},
    /* Gmail and Microsoft 365: STARTTLS on 587, OAuth 2.0 or app passwords. */
    {"gmail", "smtp.gmail.com", 587, ESMTP_TLS_STARTTLS, "OAUTHBEARER,XOAUTH2,PLAIN,LOGIN"},
    {"outlook", "smtp.office365.com", 587, ESMTP_TLS_STARTTLS, "XOAUTH2,LOGIN"},
    {"yahoo", "smtp.mail.yahoo.com", 465, ESMTP_TLS_IMPLICIT, "OAUTHBEARER,XOAUTH2,PLAIN,LOGIN"},
    {"icloud", "smtp.mail.me.com", 587, ESMTP_TLS_STARTTLS, "PLAIN,LOGIN"},
};

int esmtp_provider_find(const char *name, const char **host, unsigned int *port,
                        esmtp_tls_mode *mode, const char **mechanisms)
{
    for (size_t i = 0; name && i < sizeof providers / sizeof *providers; i++) {
        const provider *p = &providers[i];
        if (strcasecmp(name, p->name) != 0)
            continue;
        if (host)
            *host = p->host;
        if (port)
            *port = p->port;
        if (mode)
            *mode = p->mode;
        if (mechanisms)
            *mechanisms = p->mechanisms;
        return 0;
    }
    return ESMTP_EINVAL;
}

int esmtp_session_use_provider(esmtp_session *s, const char *name)
{
    const char *host, *mechanisms;
    unsigned int port;
    esmtp_tls_mode mode;
    int rc = esmtp_provider_find(name, &host, &port, &mode, &mechanisms);
    if (rc == 0)
        rc = esmtp_session_set_server(s, host, port);
    if (rc == 0)
        rc = esmtp_session_set_tls(s, mode);
    if (rc == 0)
        rc = esmtp_session_set_auth_mechanisms(s, mechanisms);
    return rc;
}
