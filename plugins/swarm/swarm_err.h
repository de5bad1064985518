/* Error sentences for the swarm's parsers and builders. */
#ifndef OA_SWARM_ERR_H
#define OA_SWARM_ERR_H

#include <openace/sdk.h>
#include <stdarg.h>
#include <stddef.h>

/* Writes prefix followed by the formatted message into err (nothing when
 * err is NULL or errlen is 0; cut to fit) and returns code, so a caller can
 * write `return oa_swarm_fail(err, errlen, OA_EPROTO, "magnet: ", ...)`. */
int oa_swarm_fail(char *err, size_t errlen, int code, const char *prefix, const char *fmt, ...)
    OA_PRINTF(5, 6);

#endif
