/* Admin API, script routes (docs/admin-api.md, "Scripts"): everything under
 * /api/scripts: the listing, one script with its source and recent log,
 * create or replace (PUT), enable, disable and delete. The work is done by
 * scripts.c; this file turns requests into calls and results into JSON.
 * Every handler replies before it returns; every change is audited. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "auth.h"
#include "host.h"
#include "http.h"
#include "log.h"
#include "scripts.h"

#define SCRIPTS_PATH "/api/scripts"
/* Log lines shown with one script. */
#define SCRIPT_LOG_LINES 100
/* Longest error quoted in an audit detail. */
#define AUDIT_ERR_MAX 160
#define LOG_CHUNK 64

/* ---- small helpers ------------------------------------------------------- */

static int method_is(const oa_http_req *req, const char *m)
{
    if (strcmp(m, "GET") == 0 && strcmp(req->method, "HEAD") == 0) {
        return 1;
    }
    return strcmp(req->method, m) == 0;
}

static int reply_405(oa_http_req *req, const char *allow)
{
    oa_http_set_header(req, "Allow", allow);
    return admin_reply_err(req, 405, "method_not_allowed", "%s %s accepts only %s", req->method,
                           req->path, allow);
}

/* Records an audit entry for a change made by req's user. detail is
 * "name" or "name (refused: <first line of the error>)". */
static void audit(oa_scripts *s, oa_http_req *req, const char *action, const char *name,
                  const char *refusal)
{
    const char *who = req->user[0] != '\0' ? req->user : NULL;
    char detail[AUDIT_ERR_MAX + 100];
    int rc;

    if (refusal != NULL) {
        snprintf(detail, sizeof(detail), "%s (refused: %.*s)", name,
                 (int)strcspn(refusal, "\n") < AUDIT_ERR_MAX ? (int)strcspn(refusal, "\n")
                                                             : AUDIT_ERR_MAX,
                 refusal);
    } else {
        snprintf(detail, sizeof(detail), "%s", name);
    }
    rc = oa_audit_add(oa_scripts_host(s)->store, who, req->client, action, detail);
    if (rc != 0) {
        oa_log_write(OA_LOG_WARN, "host", "cannot record audit entry %s (%s): %s", action,
                     detail, oa_strerror(rc));
    }
}

static void iso_time_ms(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];

    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

/* The newest lines (at most max) script name logged, tag "lua:<name>" (cut
 * to the log's tag size as the log cuts it), oldest first, from the
 * in-memory log ring. Returns how many were copied. */
static size_t script_log(const char *name, oa_log_line *out, size_t max)
{
    char tag[sizeof(((oa_log_line *)NULL)->tag)];
    oa_log_line *chunk;
    uint64_t after = 0;
    size_t count = 0; /* lines matched so far */
    size_t got;

    if (max == 0 || name == NULL) {
        return 0;
    }
    chunk = malloc(LOG_CHUNK * sizeof(*chunk));
    if (chunk == NULL) {
        return 0;
    }
    /* The log cuts long tags to its field; cut ours the same way. */
    snprintf(tag, sizeof(tag), "lua:%s", name);
    for (;;) {
        got = oa_log_recent(after, chunk, LOG_CHUNK);
        if (got == 0) {
            break;
        }
        for (size_t i = 0; i < got; i++) {
            after = chunk[i].seq;
            if (strcmp(chunk[i].tag, tag) == 0) {
                /* out works as a ring of the newest max lines. */
                out[count % max] = chunk[i];
                count++;
            }
        }
    }
    free(chunk);
    if (count > max) {
        /* Rotate so that the oldest kept line comes first. */
        size_t start = count % max;
        oa_log_line *tmp = malloc(max * sizeof(*tmp));
        if (tmp == NULL) {
            return 0;
        }
        for (size_t i = 0; i < max; i++) {
            tmp[i] = out[(start + i) % max];
        }
        memcpy(out, tmp, max * sizeof(*tmp));
        free(tmp);
        count = max;
    }
    return count;
}

/* ---- script objects ------------------------------------------------------ */

/* {name, enabled, running, failures, last_error} and, for one script,
 * "source" and "log". */
static json_t *script_json(const oa_script_view *v, int full)
{
    json_t *o = json_object();

    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "name", admin_jstr(v->name));
    json_object_set_new(o, "enabled", json_boolean(v->enabled));
    json_object_set_new(o, "running", json_boolean(v->running));
    json_object_set_new(o, "failures", json_integer((json_int_t)v->failures));
    json_object_set_new(o, "last_error", admin_jstr(v->last_error));
    if (full) {
        oa_log_line *lines = malloc(SCRIPT_LOG_LINES * sizeof(*lines));
        size_t n = lines != NULL ? script_log(v->name, lines, SCRIPT_LOG_LINES) : 0;
        json_t *log = json_array();

        json_object_set_new(o, "source", admin_jstr(v->source));
        for (size_t i = 0; log != NULL && i < n; i++) {
            char when[40];

            iso_time_ms(lines[i].time_ms, when, sizeof(when));
            json_array_append_new(log, json_pack("{s:I, s:s, s:s, s:o}", "seq",
                                                 (json_int_t)lines[i].seq, "time", when,
                                                 "level", oa_log_level_name(lines[i].level),
                                                 "msg", admin_jstr(lines[i].msg)));
        }
        json_object_set_new(o, "log", log != NULL ? log : json_array());
        free(lines);
    }
    return o;
}

/* The full object of one script, or NULL when it cannot be read. */
static json_t *script_json_by_name(oa_scripts *s, const char *name)
{
    oa_script_view v;
    json_t *o;

    if (oa_scripts_get(s, name, &v) != 0) {
        return NULL;
    }
    o = script_json(&v, 1);
    oa_script_view_free(&v);
    return o;
}

/* 200 {"ok": true, "script": {...}} after a change. */
static int reply_ok(oa_scripts *s, oa_http_req *req, const char *name)
{
    json_t *o = script_json_by_name(s, name);

    return oa_http_reply_json(req, 200, json_pack("{s:b, s:o}", "ok", 1, "script",
                                                  o != NULL ? o : json_null()));
}

/* 400 invalid_value with the script's error and, when it names one, its
 * line: {"error": {"code", "message", "line"}}. */
static int reply_script_error(oa_http_req *req, const char *err)
{
    int line = oa_scripts_error_line(err);
    json_t *e = json_pack("{s:s, s:o}", "code", "invalid_value", "message", admin_jstr(err));

    if (e != NULL && line > 0) {
        json_object_set_new(e, "line", json_integer(line));
    }
    return oa_http_reply_json(req, 400, json_pack("{s:o}", "error", e != NULL ? e : json_null()));
}

/* Replies to a failed change: not found, the script's error, or a store
 * fault. */
static int reply_change_error(oa_http_req *req, int rc, const char *err)
{
    switch (rc) {
    case OA_ENOENT:
        return admin_reply_err(req, 404, "not_found", "%s", err);
    case OA_EINVAL:
        return reply_script_error(req, err);
    default:
        return admin_reply_err(req, 500, "internal", "%s", err[0] != '\0' ? err : oa_strerror(rc));
    }
}

/* ---- handlers ------------------------------------------------------------ */

static int scripts_list(oa_scripts *s, oa_http_req *req)
{
    oa_script_view *v = NULL;
    size_t n = 0;
    json_t *list;
    int rc = oa_scripts_list(s, &v, &n);

    if (rc != 0) {
        return admin_reply_err(req, 500, "internal", "cannot list the scripts: %s",
                               oa_strerror(rc));
    }
    list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        json_array_append_new(list, script_json(&v[i], 0));
    }
    oa_script_views_free(v, n);
    return oa_http_reply_json(req, 200, json_pack("{s:o}", "scripts", list));
}

static int script_get(oa_scripts *s, oa_http_req *req, const char *name)
{
    json_t *o = script_json_by_name(s, name);

    if (o == NULL) {
        return admin_reply_err(req, 404, "not_found", "no script named '%s'", name);
    }
    return oa_http_reply_json(req, 200, o);
}

/* PUT /api/scripts/{name} {"source": "...", "enabled": true|false} */
static int script_put(oa_scripts *s, oa_http_req *req, const char *name)
{
    json_t *body;
    json_t *src;
    json_t *en;
    char err[4096] = "";
    int enabled = -1;
    int rc;

    if (!oa_scripts_name_valid(name)) {
        return admin_reply_err(req, 400, "invalid_value",
                               "script names are 1-64 characters of a-z, 0-9, '_' and '-'");
    }
    body = oa_http_body_json(req);
    if (body == NULL) {
        return 0; /* oa_http_body_json replied */
    }
    src = json_object_get(body, "source");
    en = json_object_get(body, "enabled");
    if (!json_is_object(body) || !json_is_string(src) || (en != NULL && !json_is_boolean(en))) {
        json_decref(body);
        return admin_reply_err(req, 400, "bad_request",
                               "the body must be {\"source\": \"<Lua text>\"} with an optional "
                               "\"enabled\": true or false");
    }
    if (en != NULL) {
        enabled = json_is_true(en);
    }
    rc = oa_scripts_put(s, name, json_string_value(src), enabled, err, sizeof(err));
    json_decref(body);
    audit(s, req, "script.put", name, rc == 0 ? NULL : err);
    if (rc != 0) {
        return reply_change_error(req, rc, err);
    }
    return reply_ok(s, req, name);
}

/* POST /api/scripts/{name}/enable|disable, DELETE /api/scripts/{name} */
static int script_change(oa_scripts *s, oa_http_req *req, const char *name,
                         const char *action)
{
    char err[4096] = "";
    char act[32];
    int rc;

    if (strcmp(action, "enable") == 0) {
        rc = oa_scripts_enable(s, name, err, sizeof(err));
    } else if (strcmp(action, "disable") == 0) {
        rc = oa_scripts_disable(s, name, err, sizeof(err));
    } else {
        rc = oa_scripts_delete(s, name, err, sizeof(err));
    }
    if (rc == OA_ENOENT) {
        return admin_reply_err(req, 404, "not_found", "no script named '%s'", name);
    }
    snprintf(act, sizeof(act), "script.%s", action);
    audit(s, req, act, name, rc == 0 ? NULL : err);
    if (rc != 0) {
        return reply_change_error(req, rc, err);
    }
    if (strcmp(action, "delete") == 0) {
        return oa_http_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
    }
    return reply_ok(s, req, name);
}

/* ---- /api/scripts/... dispatch ------------------------------------------- */

/* Splits the path after /api/scripts into at most 2 non-empty segments (in
 * buf). Returns the count, or -1 for any other shape. */
static int split_path(const char *path, char *buf, size_t buflen, char **seg)
{
    const char *rest = path + strlen(SCRIPTS_PATH);
    char *slash;

    if (strncmp(path, SCRIPTS_PATH, strlen(SCRIPTS_PATH)) != 0 ||
        (rest[0] != '\0' && rest[0] != '/')) {
        return -1;
    }
    if (rest[0] == '/') {
        rest++;
    }
    if (rest[0] == '\0') {
        return 0;
    }
    if (strlen(rest) >= buflen) {
        return -1;
    }
    memcpy(buf, rest, strlen(rest) + 1);
    seg[0] = buf;
    slash = strchr(buf, '/');
    if (slash == NULL) {
        return 1;
    }
    *slash = '\0';
    seg[1] = slash + 1;
    if (buf[0] == '\0' || seg[1][0] == '\0' || strchr(seg[1], '/') != NULL) {
        return -1;
    }
    return 2;
}

static int on_scripts(void *arg, oa_http_req *req)
{
    oa_scripts *s = arg;
    char buf[256];
    char *seg[2] = {NULL, NULL};
    int n = split_path(req->path, buf, sizeof(buf), seg);
    int action = n == 2 && (strcmp(seg[1], "enable") == 0 || strcmp(seg[1], "disable") == 0);

    if (n < 0 || (n == 2 && !action)) {
        return admin_reply_err(req, 404, "not_found", "no route %s", req->path);
    }
    if (n == 0 && !method_is(req, "GET")) {
        return reply_405(req, "GET");
    }
    if (n == 1 && !method_is(req, "GET") && !method_is(req, "PUT") &&
        !method_is(req, "DELETE")) {
        return reply_405(req, "GET, PUT, DELETE");
    }
    if (n == 2 && !method_is(req, "POST")) {
        return reply_405(req, "POST");
    }
    if (req->body_too_large) {
        return admin_reply_err(req, 413, "too_large", "the request body is larger than %zu bytes",
                               oa_http_body_limit(req->http));
    }
    if (n == 0) {
        return scripts_list(s, req);
    }
    if (method_is(req, "PUT")) {
        return script_put(s, req, seg[0]);
    }
    if (!oa_scripts_name_valid(seg[0])) {
        return admin_reply_err(req, 404, "not_found",
                               "no such script: names are 1 to 64 of a-z, 0-9, '_' and '-'");
    }
    if (n == 2) {
        return script_change(s, req, seg[0], seg[1]);
    }
    if (method_is(req, "DELETE")) {
        return script_change(s, req, seg[0], "delete");
    }
    return script_get(s, req, seg[0]);
}

int oa_admin_scripts_register(oa_host *h, oa_scripts *s)
{
    int rc;

    if (h == NULL || h->http == NULL || s == NULL || oa_scripts_host(s) != h) {
        return OA_EINVAL;
    }
    /* Owned by s: oa_scripts_close removes the route again. */
    rc = oa_http_route(h->http, s, "*", SCRIPTS_PATH, OA_HTTP_PREFIX, on_scripts, s);
    if (rc != 0) {
        oa_log_write(OA_LOG_ERROR, "host", "cannot add route * %s: %s", SCRIPTS_PATH,
                     oa_strerror(rc));
    }
    return rc;
}
