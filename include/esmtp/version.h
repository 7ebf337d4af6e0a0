/* esmtp compile-time version. SPDX-License-Identifier: MIT */
#ifndef ESMTP_VERSION_H
#define ESMTP_VERSION_H

/** The major version of these headers. */
#define ESMTP_VERSION_MAJOR 0
/** The minor version of these headers. */
#define ESMTP_VERSION_MINOR 1
/** The patch level of these headers. */
#define ESMTP_VERSION_PATCH 0
/** The version of these headers as "MAJOR.MINOR.PATCH". */
#define ESMTP_VERSION_STRING "0.1.0"
/** The version as one number, 0xMMmmpp, for #if comparisons. */
#define ESMTP_VERSION_NUM \
    ((ESMTP_VERSION_MAJOR << 16) | (ESMTP_VERSION_MINOR << 8) | ESMTP_VERSION_PATCH)
/** True when the headers are at least version MAJOR.MINOR.PATCH. */
#define ESMTP_VERSION_AT_LEAST(major, minor, patch) \
    (ESMTP_VERSION_NUM >= (((major) << 16) | ((minor) << 8) | (patch)))

#endif /* ESMTP_VERSION_H */
