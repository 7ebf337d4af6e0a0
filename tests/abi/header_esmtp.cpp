// ABI test: <esmtp/esmtp.h> compiles on its own as strict ISO C++11
// (-std=c++11 -Wall -Wextra -Wpedantic -Werror, see meson.build), and its
// extern "C" guard works: the calls below link against the C library only
// if the declarations have C linkage. Nothing else may be included here.
#include <esmtp/esmtp.h>

extern "C" {
static int on_progress(esmtp_session *, esmtp_event, esmtp_message *, esmtp_recipient *,
                       uint64_t, void *)
{
    return 0;
}
}

int main()
{
    esmtp_progress_cb cb = on_progress;
    esmtp_session *session = nullptr;
    int rc = esmtp_session_new(&session);
    if (rc != ESMTP_OK || session == nullptr)
        return 1;
    rc = esmtp_session_set_progress_cb(session, cb, nullptr);
    esmtp_session_free(session);
    // Enumerators convert to int, and an enum type is usable as a parameter.
    esmtp_status status = ESMTP_STATUS_OK;
    return rc == ESMTP_OK && esmtp_status_name(status) != nullptr ? 0 : 1;
}
