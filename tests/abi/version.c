/* ABI test: the version the library reports, the version its headers
 * declare and the project's version (meson.project_version(), passed as
 * argv[1]) are one and the same. */
#include <esmtp/esmtp.h>

#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "FAIL: %s\n", what);
        failures++;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PROJECT_VERSION\n", argv[0]);
        return 2;
    }
    const char *project = argv[1];
    const char *lib = esmtp_version();
    unsigned int lib_num = esmtp_version_num();

    printf("project %s, header %s (0x%06x), library %s (0x%06x)\n", project,
           ESMTP_VERSION_STRING, (unsigned int)ESMTP_VERSION_NUM, lib ? lib : "(null)", lib_num);

    check(lib != NULL, "esmtp_version() returned NULL");
    if (lib != NULL) {
        check(strcmp(lib, ESMTP_VERSION_STRING) == 0,
              "esmtp_version() differs from ESMTP_VERSION_STRING");
        check(strcmp(lib, project) == 0, "esmtp_version() differs from the project version");
        check(lib == esmtp_version(), "esmtp_version() does not return a static string");
    }
    check(lib_num == (unsigned int)ESMTP_VERSION_NUM,
          "esmtp_version_num() differs from ESMTP_VERSION_NUM");
    check(strcmp(ESMTP_VERSION_STRING, project) == 0,
          "ESMTP_VERSION_STRING differs from the project version");

    /* The project version must be MAJOR.MINOR.PATCH and agree with the
     * header's component macros and with the packed number. */
    unsigned int major, minor, patch;
    int end = 0;
    if (sscanf(project, "%u.%u.%u%n", &major, &minor, &patch, &end) != 3 ||
        project[end] != '\0') {
        check(0, "the project version is not MAJOR.MINOR.PATCH");
    } else {
        check(major == ESMTP_VERSION_MAJOR && minor == ESMTP_VERSION_MINOR &&
                  patch == ESMTP_VERSION_PATCH,
              "ESMTP_VERSION_MAJOR/MINOR/PATCH differ from the project version");
        check(major < 256 && minor < 256 && patch < 256,
              "a version component does not fit in 0xMMmmpp");
        check(((major << 16) | (minor << 8) | patch) == lib_num,
              "esmtp_version_num() does not encode the project version as 0xMMmmpp");
    }

    if (failures)
        return 1;
    printf("ok\n");
    return 0;
}
