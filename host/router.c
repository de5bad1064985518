/* The HTTP dispatcher: routes, authentication hook, replies and streams. It
 * works on plain oa_http_req structs; http.c connects it to sockets. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_int.h"
#include "log.h"
#ifdef OA_HAVE_WEB
#include "web/web.h"
#endif

#define DEFAULT_BODY_LIMIT (1024u * 1024u)
#define DEFAULT_STREAM_LIMIT (1024u * 1024u)

static void notify_closed_cb(uv_handle_t *hd)
{
    oa_http_handle_closed(hd->data);
}

int oa_http_new(uv_loop_t *loop, const char *listen, oa_http **out, char *err, size_t errlen)
{
    oa_http *h = calloc(1, sizeof(*h));
    int rc;
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    h->loop = loop;
    h->body_limit = DEFAULT_BODY_LIMIT;
    uv_timer_init(loop, &h->notify);
    h->notify.data = h;
    h->handles_open = 1;
    if (listen != NULL) {
        rc = oa_http_server_start(h, listen, err, errlen);
        if (rc != 0) {
            oa_http_close(h);
            return rc;
        }
    }
    *out = h;
    return 0;
}

void oa_http_set_auth(oa_http *h, oa_http_auth_fn fn, void *arg)
{
    h->auth_fn = fn;
    h->auth_arg = arg;
}

void oa_http_set_body_limit(oa_http *h, size_t bytes)
{
    h->body_limit = bytes;
}

size_t oa_http_body_limit(oa_http *h)
{
    return h->body_limit;
}

void oa_http_get_stats(oa_http *h, oa_http_stats *st)
{
    *st = h->stats;
}

/* ---- routes ---------------------------------------------------------------- */

static int methods_overlap(const char *a, const char *b)
{
    return strcmp(a, "*") == 0 || strcmp(b, "*") == 0 || strcmp(a, b) == 0;
}

/* Whether a route's method serves a request's; HEAD is served by GET
 * routes (the server leaves the body out). */
static int method_serves(const char *route, const char *request)
{
    if (methods_overlap(route, request)) {
        return 1;
    }
    return strcmp(request, "HEAD") == 0 && strcmp(route, "GET") == 0;
}

int oa_http_route(oa_http *h, const void *owner, const char *method, const char *path,
                  unsigned flags, oa_http_handler fn, void *arg)
{
    oa_route *r;
    if (method == NULL || path == NULL || fn == NULL || path[0] != '/' ||
        strlen(method) >= sizeof(r->method) || strlen(path) > 512) {
        return OA_EINVAL;
    }
    for (size_t i = 0; i < h->nroutes; i++) {
        if (strcmp(h->routes[i].path, path) == 0 && methods_overlap(h->routes[i].method, method)) {
            return OA_EEXIST;
        }
    }
    if (h->nroutes == h->caproutes) {
        size_t cap = h->caproutes ? h->caproutes * 2 : 32;
        oa_route *v = realloc(h->routes, cap * sizeof(*v));
        if (v == NULL) {
            return OA_ENOMEM;
        }
        h->routes = v;
        h->caproutes = cap;
    }
    r = &h->routes[h->nroutes];
    memset(r, 0, sizeof(*r));
    snprintf(r->method, sizeof(r->method), "%s", method);
    r->path = strdup(path);
    if (r->path == NULL) {
        return OA_ENOMEM;
    }
    r->plen = strlen(path);
    r->flags = flags;
    r->fn = fn;
    r->arg = arg;
    r->owner = owner;
    h->nroutes++;
    return 0;
}

static int path_matches(const oa_route *r, const char *path)
{
    if (strcmp(r->path, path) == 0) {
        return 1;
    }
    if (!(r->flags & OA_HTTP_PREFIX) || strncmp(r->path, path, r->plen) != 0) {
        return 0;
    }
    /* "/api/plugins" matches "/api/plugins/x" but not "/api/pluginsx". */
    return r->path[r->plen - 1] == '/' || path[r->plen] == '/';
}

/* The longest route whose path matches; *wrong_method when only another
 * method's route matched. */
static oa_route *match(oa_http *h, const char *method, const char *path, int *wrong_method)
{
    oa_route *best = NULL;
    *wrong_method = 0;
    for (size_t i = 0; i < h->nroutes; i++) {
        oa_route *r = &h->routes[i];
        if (!path_matches(r, path)) {
            continue;
        }
        if (!method_serves(r->method, method)) {
            *wrong_method = 1;
            continue;
        }
        if (best == NULL || r->plen > best->plen ||
            (r->plen == best->plen && strcmp(best->method, "*") == 0)) {
            best = r;
        }
    }
    return best;
}

/* ---- replies ----------------------------------------------------------------- */

static void count_status(oa_http *h, int status)
{
    if (status >= 500) {
        h->stats.responses_5xx++;
    } else if (status >= 400) {
        h->stats.responses_4xx++;
    }
}

static void unkeep(oa_http *h, oa_http_req *req)
{
    for (size_t i = 0; i < h->nkept; i++) {
        if (h->kept[i] == req) {
            h->kept[i] = h->kept[--h->nkept];
            req->kept = 0;
            return;
        }
    }
}

/* A reply to a request the handler kept: wake its connection. */
static void finish_reply(oa_http_req *req)
{
    count_status(req->http, req->status);
    if (req->kept) {
        unkeep(req->http, req);
        if (req->server_ctx != NULL) {
            oa_http_server_resume(req->http, req);
        }
    }
}

const char *oa_http_query(oa_http_req *req, const char *name)
{
    for (size_t i = 0; name != NULL && i < req->nquery; i++) {
        if (strcmp(req->query[i].name, name) == 0) {
            return req->query[i].value ? req->query[i].value : "";
        }
    }
    return NULL;
}

const char *oa_http_header(oa_http_req *req, const char *name)
{
    for (size_t i = 0; name != NULL && i < req->nheaders; i++) {
        if (strcasecmp(req->headers[i].name, name) == 0) {
            return req->headers[i].value ? req->headers[i].value : "";
        }
    }
    return NULL;
}

static int header_safe(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\r' || *s == '\n') {
            return 0;
        }
    }
    return 1;
}

int oa_http_set_header(oa_http_req *req, const char *name, const char *value)
{
    oa_kv *v;
    if (req->replied || name == NULL || value == NULL || !header_safe(name) ||
        !header_safe(value) || *name == '\0') {
        return OA_EINVAL;
    }
    v = realloc(req->resp_headers, (req->nresp_headers + 1) * sizeof(*v));
    if (v == NULL) {
        return OA_ENOMEM;
    }
    req->resp_headers = v;
    v[req->nresp_headers].name = strdup(name);
    v[req->nresp_headers].value = strdup(value);
    req->nresp_headers++;
    return 0;
}

int oa_http_reply(oa_http_req *req, int status, const char *content_type, const void *body,
                  size_t len)
{
    if (req->replied) {
        return OA_ESTATE;
    }
    if (status < 100 || status > 599 || (body == NULL && len > 0)) {
        return OA_EINVAL;
    }
    req->resp_body = malloc(len + 1);
    if (req->resp_body == NULL) {
        return OA_ENOMEM;
    }
    if (len > 0) {
        memcpy(req->resp_body, body, len);
    }
    req->resp_body[len] = '\0';
    req->resp_len = len;
    req->status = status;
    snprintf(req->content_type, sizeof(req->content_type), "%s",
             content_type ? content_type : "application/octet-stream");
    req->replied = 1;
    finish_reply(req);
    return 0;
}

int oa_http_reply_json(oa_http_req *req, int status, json_t *value)
{
    char *txt = value != NULL ? json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY |
                                                      JSON_REAL_PRECISION(12))
                              : NULL;
    int rc;
    json_decref(value);
    if (txt == NULL) {
        return oa_http_reply(req, 500, "application/json",
                             "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}",
                             58);
    }
    oa_http_set_header(req, "Cache-Control", "no-store");
    rc = oa_http_reply(req, status, "application/json", txt, strlen(txt));
    free(txt);
    return rc;
}

int oa_http_reply_error(oa_http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return oa_http_reply_json(req, status,
                              json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg));
}

int oa_http_status_for(int err)
{
    switch (err) {
    case OA_EINVAL:
    case OA_ETYPE:
    case OA_ERANGE: return 400;
    case OA_EACCES: return 403;
    case OA_ENOENT:
    case OA_ENOTFOUND: return 404;
    case OA_ESTATE:
    case OA_EDEPEND:
    case OA_ECYCLE:
    case OA_EBUSY:
    case OA_EEXIST: return 409;
    case OA_EOVERFLOW: return 413;
    case OA_EAGAIN: return 503;
    case OA_ENOSYS: return 501;
    case OA_ETIMEDOUT: return 504;
    default: return 500;
    }
}

static const char *code_for_status(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "too_large";
    case 429: return "throttled";
    default: return status >= 500 ? "internal" : "bad_request";
    }
}

json_t *oa_http_body_json(oa_http_req *req)
{
    json_error_t jerr;
    json_t *v;
    if (req->body == NULL || req->body_len == 0) {
        oa_http_reply_error(req, 400, "bad_json", "the request body is empty; send a JSON object");
        return NULL;
    }
    v = json_loadb(req->body, req->body_len, 0, &jerr);
    if (v == NULL) {
        oa_http_reply_error(req, 400, "bad_json",
                            "the request body is not valid JSON: %s (line %d, column %d)",
                            jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(v) && !json_is_array(v)) {
        json_decref(v);
        oa_http_reply_error(req, 400, "bad_json", "the request body must be a JSON object");
        return NULL;
    }
    return v;
}

/* ---- dispatch -------------------------------------------------------------- */

static int keep(oa_http *h, oa_http_req *req)
{
    if (h->nkept == h->capkept) {
        size_t cap = h->capkept ? h->capkept * 2 : 16;
        oa_http_req **v = realloc(h->kept, cap * sizeof(*v));
        if (v == NULL) {
            return OA_ENOMEM;
        }
        h->kept = v;
        h->capkept = cap;
    }
    h->kept[h->nkept++] = req;
    req->kept = 1;
    return 0;
}

void oa_http_dispatch(oa_http *h, oa_http_req *req)
{
    int wrong_method = 0;
    oa_route *r;
    int rc;

    req->http = h;
    h->stats.requests++;
    if (req->path == NULL || req->path[0] != '/') {
        oa_http_reply_error(req, 400, "bad_request", "the request path must start with '/'");
        return;
    }
    r = match(h, req->method, req->path, &wrong_method);
    if (r == NULL) {
        if (wrong_method) {
            oa_http_reply_error(req, 405, "method_not_allowed", "%s is not allowed on %s",
                                req->method, req->path);
        } else {
            oa_http_reply_error(req, 404, "not_found", "no such path: %s", req->path);
        }
        return;
    }
    if (!(r->flags & OA_HTTP_PUBLIC) && req->auth == OA_AUTH_NONE) {
        char why[256] = "log in first";
        int status = 401;
        rc = h->auth_fn != NULL ? h->auth_fn(h->auth_arg, req, &status, why, sizeof(why))
                                : OA_EACCES;
        if (rc != 0) {
#ifdef OA_HAVE_WEB
            /* A browser opening an admin page is sent to the login page. */
            if (status == 401 && oa_web_reply_unauthorized(req) == 0) {
                return;
            }
#endif
            oa_http_reply_error(req, status,
                                status == 403   ? "csrf"
                                : status == 401 ? "unauthorized"
                                                : code_for_status(status),
                                "%s", why);
            return;
        }
    }
    if (req->body_too_large) {
        oa_http_reply_error(req, 413, "too_large", "the request body is larger than %zu bytes",
                            h->body_limit);
        return;
    }
    req->route_owner = r->owner;
    rc = r->fn(r->arg, req);
    if (req->replied) {
        return;
    }
    if (rc < 0) {
        int status = oa_http_status_for(rc);
        oa_http_reply_error(req, status, code_for_status(status), "%s", oa_strerror(rc));
        return;
    }
    if (keep(h, req) != 0) {
        oa_http_reply_error(req, 500, "internal", "out of memory");
    }
}

void oa_http_req_abandon(oa_http *h, oa_http_req *req)
{
    unkeep(h, req);
}

void oa_http_req_free(oa_http_req *req)
{
    if (req == NULL) {
        return;
    }
    for (size_t i = 0; i < req->nquery; i++) {
        free(req->query[i].name);
        free(req->query[i].value);
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    for (size_t i = 0; i < req->nresp_headers; i++) {
        free(req->resp_headers[i].name);
        free(req->resp_headers[i].value);
    }
    free(req->query);
    free(req->headers);
    free(req->resp_headers);
    free(req->path);
    free(req->body);
    free(req->resp_body);
    free(req);
}

/* ---- streams --------------------------------------------------------------- */

static void run_notifications(uv_timer_t *t);

static void schedule_notify(oa_http *h)
{
    if (!h->notify_scheduled && !h->closing) {
        h->notify_scheduled = 1;
        uv_timer_start(&h->notify, run_notifications, 0, 0);
    }
}

static void stream_free(oa_http_stream *s)
{
    oa_chunk *c = s->head;
    while (c != NULL) {
        oa_chunk *n = c->next;
        free(c);
        c = n;
    }
    free(s);
}

static void stream_unlink(oa_http *h, oa_http_stream *s)
{
    oa_http_stream **pp = &h->streams;
    while (*pp != NULL && *pp != s) {
        pp = &(*pp)->next;
    }
    if (*pp == s) {
        *pp = s->next;
    }
}

/* Reports DRAINED and CLOSED outside the server's callbacks. A callback may
 * open, write or end streams, so the scan restarts after each call. */
static void run_notifications(uv_timer_t *t)
{
    oa_http *h = t->data;
    int again = 1;
    h->notify_scheduled = 0;
    while (again) {
        again = 0;
        for (oa_http_stream *s = h->streams; s != NULL; s = s->next) {
            if (s->close_pending) {
                stream_unlink(h, s);
                if (h->stats.streams_open > 0) {
                    h->stats.streams_open--;
                }
                if (s->cb != NULL) {
                    s->cb(s->arg, s, OA_HTTP_STREAM_CLOSED);
                }
                stream_free(s);
                again = 1;
                break;
            }
            if (s->drain_pending) {
                s->drain_pending = 0;
                if (s->cb != NULL && !s->closed) {
                    s->cb(s->arg, s, OA_HTTP_STREAM_DRAINED);
                    again = 1;
                    break;
                }
            }
        }
    }
}

int oa_http_stream_open(oa_http_req *req, int status, const char *content_type, int64_t length,
                        size_t queue_limit, oa_http_stream_cb cb, void *arg,
                        oa_http_stream **out)
{
    oa_http *h = req->http;
    oa_http_stream *s;
    if (req->replied) {
        return OA_ESTATE;
    }
    if (h == NULL || h->closing || status < 100 || status > 599) {
        return h == NULL || h->closing ? OA_ESTATE : OA_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OA_ENOMEM;
    }
    s->http = h;
    s->owner = req->route_owner;
    s->cb = cb;
    s->arg = arg;
    s->limit = queue_limit > 0 ? queue_limit : DEFAULT_STREAM_LIMIT;
    s->length = length;
    s->next = h->streams;
    h->streams = s;
    h->stats.streams_open++;
    req->stream = s;
    req->status = status;
    snprintf(req->content_type, sizeof(req->content_type), "%s",
             content_type ? content_type : "application/octet-stream");
    req->replied = 1;
    if (out != NULL) {
        *out = s;
    }
    finish_reply(req);
    return 0;
}

int oa_http_stream_write(oa_http_stream *s, const void *data, size_t len)
{
    oa_chunk *c;
    if (s == NULL || (data == NULL && len > 0)) {
        return OA_EINVAL;
    }
    if (s->closed || s->ended || s->close_pending) {
        return OA_ESTATE;
    }
    if (len == 0) {
        return 0;
    }
    if (s->queued + len > s->limit) {
        s->blocked = 1;
        return OA_EOVERFLOW;
    }
    c = malloc(sizeof(*c) + len);
    if (c == NULL) {
        return OA_ENOMEM;
    }
    c->next = NULL;
    c->len = len;
    c->off = 0;
    memcpy(c->data, data, len);
    if (s->tail != NULL) {
        s->tail->next = c;
    } else {
        s->head = c;
    }
    s->tail = c;
    s->queued += len;
    if (s->waiting) {
        oa_http_server_stream_ready(s->http, s);
    }
    return 0;
}

size_t oa_http_stream_queued(oa_http_stream *s)
{
    return s != NULL ? s->queued : 0;
}

int oa_http_stream_end(oa_http_stream *s)
{
    if (s == NULL) {
        return OA_EINVAL;
    }
    if (s->ended || s->closed) {
        return 0;
    }
    s->ended = 1;
    if (s->waiting) {
        oa_http_server_stream_ready(s->http, s);
    } else if (s->conn == NULL && s->queued == 0) {
        /* No connection drains it (tests, or a reply never sent). */
        oa_http_stream_closed(s);
    }
    return 0;
}

ssize_t oa_http_stream_take(oa_http_stream *s, char *buf, size_t max)
{
    size_t n = 0;
    while (n < max && s->head != NULL) {
        oa_chunk *c = s->head;
        size_t k = c->len - c->off;
        if (k > max - n) {
            k = max - n;
        }
        memcpy(buf + n, c->data + c->off, k);
        n += k;
        c->off += k;
        if (c->off == c->len) {
            s->head = c->next;
            if (s->head == NULL) {
                s->tail = NULL;
            }
            free(c);
        }
    }
    s->queued -= n;
    s->http->stats.stream_bytes += n;
    if (s->blocked && s->queued <= s->limit / 4) {
        s->blocked = 0;
        s->drain_pending = 1;
        schedule_notify(s->http);
    }
    if (n == 0 && s->ended) {
        return -1;
    }
    return (ssize_t)n;
}

void oa_http_stream_closed(oa_http_stream *s)
{
    if (s->close_pending) {
        return;
    }
    s->closed = 1;
    s->conn = NULL;
    s->waiting = 0;
    s->close_pending = 1;
    schedule_notify(s->http);
}

/* Ends streams and answers kept requests of owner (all when owner_all). */
static void release(oa_http *h, const void *owner, int all)
{
    for (oa_http_stream *s = h->streams; s != NULL; s = s->next) {
        if (all || s->owner == owner) {
            s->cb = NULL; /* the owner stopped: no more callbacks into it */
            oa_http_stream_end(s);
        }
    }
    for (size_t i = 0; i < h->nkept;) {
        oa_http_req *req = h->kept[i];
        if (all || req->route_owner == owner) {
            /* Replying removes it from kept. */
            oa_http_reply_error(req, 503, "unavailable", "the handler for this request stopped");
        } else {
            i++;
        }
    }
}

void oa_http_unroute_owner(oa_http *h, const void *owner)
{
    size_t k = 0;
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->nroutes; i++) {
        if (h->routes[i].owner == owner && owner != NULL) {
            free(h->routes[i].path);
        } else {
            h->routes[k++] = h->routes[i];
        }
    }
    h->nroutes = k;
    if (owner != NULL) {
        release(h, owner, 0);
    }
}

void oa_http_handle_closed(oa_http *h)
{
    h->handles_open--;
    if (h->handles_open > 0) {
        return;
    }
    while (h->streams != NULL) {
        oa_http_stream *s = h->streams;
        h->streams = s->next;
        stream_free(s);
    }
    for (size_t i = 0; i < h->nroutes; i++) {
        free(h->routes[i].path);
    }
    free(h->routes);
    free(h->kept);
    free(h);
}

void oa_http_close(oa_http *h)
{
    if (h == NULL || h->closing) {
        return;
    }
    /* Owners still here (the host's own routes; plugins are stopped by now
     * and their callbacks cleared) hear that their streams are over. */
    for (oa_http_stream *s = h->streams; s != NULL; s = s->next) {
        if (s->cb != NULL && !s->close_pending) {
            oa_http_stream_cb cb = s->cb;
            s->cb = NULL;
            cb(s->arg, s, OA_HTTP_STREAM_CLOSED);
        }
    }
    release(h, NULL, 1);
    h->closing = 1;
    if (h->server != NULL) {
        oa_http_server_stop(h);
    }
    uv_close((uv_handle_t *)&h->notify, notify_closed_cb);
}
