/* SPDX-License-Identifier: MIT */
#include "ehlo.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <esmtp/esmtp.h>

#include "alloc.h"

void ehlo_free(ehlo_caps *caps)
{
    for (size_t i = 0; i < caps->count; i++) {
        free(caps->ext[i].keyword);
        free(caps->ext[i].params);
    }
    free(caps->ext);
    caps->ext = NULL;
    caps->count = 0;
}

int ehlo_parse(ehlo_caps *caps, const char *text)
{
    ehlo_free(caps);
    size_t lines = 0;
    for (const char *p = strchr(text, '\n'); p; p = strchr(p + 1, '\n'))
        lines++;
    caps->ext = mem_calloc(lines ? lines : 1, sizeof *caps->ext);
    if (!caps->ext)
        return ESMTP_ENOMEM;
    for (const char *nl = strchr(text, '\n'); nl;) {
        const char *line = nl + 1;
        nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t kw = 0;
        while (kw < len && line[kw] != ' ')
            kw++;
        if (kw == 0)
            continue;
        size_t ps = kw;
        while (ps < len && line[ps] == ' ')
            ps++;
        ehlo_ext *x = &caps->ext[caps->count];
        x->keyword = mem_strndup(line, kw);
        x->params = mem_strndup(line + ps, len - ps);
        if (!x->keyword || !x->params) {
            free(x->keyword);
            free(x->params);
            ehlo_free(caps);
            return ESMTP_ENOMEM;
        }
        for (char *c = x->keyword; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        caps->count++;
    }
    return 0;
}

const char *ehlo_find(const ehlo_caps *caps, const char *keyword)
{
    for (size_t i = 0; i < caps->count; i++)
        if (strcasecmp(caps->ext[i].keyword, keyword) == 0)
            return caps->ext[i].params;
    return NULL;
}
