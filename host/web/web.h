/* The admin UI: HTML, CSS and JavaScript embedded into the binary at build
 * time (host/web/assets/, see host/web/CMakeLists.txt) and served by the
 * host's HTTP dispatcher. */
#ifndef OA_HOST_WEB_H
#define OA_HOST_WEB_H

#include "http.h"

/* Registers the UI's routes on h, owned by the host (owner NULL):
 *   GET /            public, 302 to /admin/
 *   GET /login       public, the login page
 *   GET /assets/...  public, CSS/JS/images (no HTML, no secrets)
 *   GET /admin/...   needs a login, the app (one page for every path)
 * Returns 0, or the first negative OA_E* code from oa_http_route (routes
 * added before the failure stay registered). */
int oa_web_register(oa_http *h);

/* For the dispatcher, when a request has no valid login: if it is a GET
 * (or HEAD) of a page of the app (/admin or below), replies 401 with a tiny
 * HTML page that sends the browser on to /login?next=<path> and returns 0,
 * so that a browser lands on the login page rather than on a JSON error.
 * Otherwise replies nothing and returns OA_ENOENT (the caller answers as
 * usual). */
int oa_web_reply_unauthorized(oa_http_req *req);

/* The embedded file at path (relative to assets/, e.g. "app.html"), or NULL.
 * *size gets its length; the data is static. */
const void *oa_web_asset_data(const char *path, const char **content_type, size_t *size);

#endif
