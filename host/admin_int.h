/* Admin API internals shared by admin_api.c (status, metrics, logs, audit,
 * events and the registration of every admin route) and admin_plugins.c
 * (the routes under /api/plugins). Not part of the host's interface:
 * everything else includes admin_api.h. Loop thread only. */
#ifndef OA_HOST_ADMIN_INT_H
#define OA_HOST_ADMIN_INT_H

#include <jansson.h>
#include <openace/sdk.h>

#include "http.h"

/* The prefix every plugin route lives under. */
#define ADMIN_PLUGINS_PATH "/api/plugins"

/* admin_api.c: replaces every non-ASCII byte of s in place when s is not
 * valid UTF-8, so that it can go into a JSON string (messages may quote
 * cut-off values). */
void admin_utf8_fix(char *s);
/* admin_api.c: a new JSON string for s (the caller owns the reference),
 * null for NULL or when memory runs out; invalid UTF-8 is repaired. */
json_t *admin_jstr(const char *s);
/* admin_api.c: formats an error sentence, makes it safe for JSON and
 * replies to req with status and code. Always returns 0, so that a
 * handler can return it. */
int admin_reply_err(oa_http_req *req, int status, const char *code, const char *fmt, ...)
    OA_PRINTF(4, 5);

/* admin_plugins.c: the handler of every route under ADMIN_PLUGINS_PATH
 * (registered with OA_HTTP_PREFIX for any method); arg is the oa_host.
 * Replies 404 for a path of no route there, 405 for a method the path does
 * not take, and otherwise as docs/admin-api.md describes. */
int admin_on_plugins(void *arg, oa_http_req *req);

#endif
