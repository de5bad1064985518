/* Error sentences for the swarm's parsers and builders. */
#include "swarm_err.h"

#include <stdio.h>

int oa_swarm_fail(char *err, size_t errlen, int code, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    int used;

    if (err == NULL || errlen == 0) {
        return code;
    }
    used = snprintf(err, errlen, "%s", prefix);
    if (used < 0 || (size_t)used >= errlen) {
        return code;
    }
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - (size_t)used, fmt, ap);
    va_end(ap);
    return code;
}
