// ABI test: <esmtp/version.h> compiles on its own as strict ISO C++11.
// Nothing else may be included here.
#include <esmtp/version.h>

#if !ESMTP_VERSION_AT_LEAST(ESMTP_VERSION_MAJOR, ESMTP_VERSION_MINOR, ESMTP_VERSION_PATCH)
#  error "ESMTP_VERSION_AT_LEAST() rejects the headers' own version"
#endif

static const char version[] = ESMTP_VERSION_STRING;

int main()
{
    static const long num = ESMTP_VERSION_NUM;
    return version[0] != '\0' && num >= 0 ? 0 : 1;
}
