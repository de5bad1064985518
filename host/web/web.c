/* web.c: serves the embedded admin UI (assets.h) on the host's dispatcher.
 * Every answer carries Cache-Control: no-cache and an ETag, so a browser
 * revalidates each time and gets a 304 while the binary is unchanged. */
#include "web.h"

#include <stdio.h>
#include <string.h>

#include "assets.h"

/* The page a browser opens; both live at the root of assets/. */
#define WEB_LOGIN_PAGE "login.html"
#define WEB_APP_PAGE "app.html"

/* Pages are our own files: scripts and styles from this origin only, no
 * inline code, no framing. */
#define WEB_CSP                                                                             \
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "      \
    "form-action 'self'; frame-ancestors 'none'"

static const oa_web_asset *find_asset(const char *path)
{
    for (size_t i = 0; i < oa_web_nassets; i++) {
        if (strcmp(oa_web_assets[i].path, path) == 0) {
            return &oa_web_assets[i];
        }
    }
    return NULL;
}

const void *oa_web_asset_data(const char *path, const char **content_type, size_t *size)
{
    const oa_web_asset *a = find_asset(path);

    if (a == NULL) {
        return NULL;
    }
    if (content_type != NULL) {
        *content_type = a->content_type;
    }
    if (size != NULL) {
        *size = a->size;
    }
    return a->data;
}

static int is_html(const oa_web_asset *a)
{
    return strncmp(a->content_type, "text/html", 9) == 0;
}

/* Replies with one asset: 304 when the browser already has this version. */
static int serve(oa_http_req *req, const oa_web_asset *a)
{
    const char *inm = oa_http_header(req, "If-None-Match");

    oa_http_set_header(req, "Cache-Control", "no-cache");
    oa_http_set_header(req, "ETag", a->etag);
    oa_http_set_header(req, "X-Content-Type-Options", "nosniff");
    if (is_html(a)) {
        oa_http_set_header(req, "Content-Security-Policy", WEB_CSP);
        oa_http_set_header(req, "X-Frame-Options", "DENY");
        oa_http_set_header(req, "Referrer-Policy", "same-origin");
    }
    if (inm != NULL && strstr(inm, a->etag) != NULL) {
        return oa_http_reply(req, 304, a->content_type, NULL, 0);
    }
    return oa_http_reply(req, 200, a->content_type, a->data, a->size);
}

static int not_found(oa_http_req *req)
{
    return oa_http_reply_error(req, 404, "not_found", "no such file: %s", req->path);
}

static int redirect(oa_http_req *req, const char *location)
{
    static const char body[] = "Moved.\n";

    oa_http_set_header(req, "Location", location);
    oa_http_set_header(req, "Cache-Control", "no-cache");
    return oa_http_reply(req, 302, "text/plain; charset=utf-8", body, sizeof(body) - 1);
}

static int on_root(void *arg, oa_http_req *req)
{
    (void)arg;
    return redirect(req, "/admin/");
}

static int on_login(void *arg, oa_http_req *req)
{
    const oa_web_asset *a = find_asset(WEB_LOGIN_PAGE);

    (void)arg;
    return a != NULL ? serve(req, a) : not_found(req);
}

/* /assets/<path>: anything but HTML (the pages have their own routes, and
 * the app's page must stay behind the login). */
static int on_asset(void *arg, oa_http_req *req)
{
    static const char prefix[] = "/assets/";
    const oa_web_asset *a;

    (void)arg;
    if (strncmp(req->path, prefix, sizeof(prefix) - 1) != 0) {
        return not_found(req);
    }
    a = find_asset(req->path + sizeof(prefix) - 1);
    if (a == NULL || is_html(a)) {
        return not_found(req);
    }
    return serve(req, a);
}

/* /admin and everything below: the one-page app, which routes in the
 * browser. */
static int on_admin(void *arg, oa_http_req *req)
{
    const oa_web_asset *a = find_asset(WEB_APP_PAGE);

    (void)arg;
    if (strcmp(req->path, "/admin") == 0) {
        return redirect(req, "/admin/");
    }
    return a != NULL ? serve(req, a) : not_found(req);
}

int oa_web_register(oa_http *h)
{
    int rc = oa_http_route(h, NULL, "GET", "/", OA_HTTP_PUBLIC, on_root, NULL);

    if (rc == 0) {
        rc = oa_http_route(h, NULL, "GET", "/login", OA_HTTP_PUBLIC, on_login, NULL);
    }
    if (rc == 0) {
        rc = oa_http_route(h, NULL, "GET", "/assets", OA_HTTP_PUBLIC | OA_HTTP_PREFIX, on_asset,
                           NULL);
    }
    if (rc == 0) {
        rc = oa_http_route(h, NULL, "GET", "/admin", OA_HTTP_PREFIX, on_admin, NULL);
    }
    return rc;
}

/* Percent-encodes s into out for a query value; keeps only characters that
 * need no escaping in a URL or in an HTML attribute. */
static void url_encode(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    for (; *s != '\0' && n + 4 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
}

static int is_app_page(const char *path)
{
    return path != NULL && (strcmp(path, "/admin") == 0 || strncmp(path, "/admin/", 7) == 0);
}

int oa_web_reply_unauthorized(oa_http_req *req)
{
    char next[512];
    char body[1536]; /* two copies of next and ~250 bytes of HTML */
    int len;

    if ((strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) ||
        !is_app_page(req->path)) {
        return OA_ENOENT;
    }
    url_encode(req->path, next, sizeof(next));
    len = snprintf(body, sizeof(body),
                   "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta http-equiv=\"refresh\" content=\"0; url=/login?next=%s\">"
                   "<title>Log in - OpenAce</title></head><body>"
                   "<p>Please <a href=\"/login?next=%s\">log in</a>.</p></body></html>\n",
                   next, next);
    if (len < 0 || (size_t)len >= sizeof(body)) {
        len = 0;
    }
    oa_http_set_header(req, "Cache-Control", "no-store");
    return oa_http_reply(req, 401, "text/html; charset=utf-8", body, (size_t)len);
}
