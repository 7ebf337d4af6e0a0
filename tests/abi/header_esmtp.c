/* ABI test: <esmtp/esmtp.h> compiles on its own as strict ISO C11
 * (-std=c11 -Wall -Wextra -Wpedantic -Werror, see meson.build) and its
 * functions link against the library. Nothing else may be included here. */
#include <esmtp/esmtp.h>

static int on_progress(esmtp_session *session, esmtp_event event, esmtp_message *message,
                       esmtp_recipient *recipient, uint64_t bytes, void *user_data)
{
    (void)session, (void)event, (void)message, (void)recipient, (void)bytes, (void)user_data;
    return 0;
}

int main(void)
{
    esmtp_progress_cb cb = on_progress;
    esmtp_session *session = NULL;
    size_t len = sizeof(esmtp_error) + sizeof(esmtp_status) + sizeof(esmtp_want);
    int rc = esmtp_session_new(&session);
    if (rc != ESMTP_OK || session == NULL || len == 0)
        return 1;
    rc = esmtp_session_set_progress_cb(session, cb, NULL);
    esmtp_session_free(session);
    return rc == ESMTP_OK && esmtp_strerror(ESMTP_EINVAL) != NULL ? 0 : 1;
}
