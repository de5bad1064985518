/* Admin API (docs/admin-api.md): status, plugins and their lifecycle,
 * settings, commands, logs, audit, events over SSE and Prometheus metrics.
 * Every handler replies before it returns; every change is audited. */
#include "admin_api.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "config.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"

#define PLUGINS_PATH "/api/plugins"
#define NAME_MAX_LEN 64
/* Longest value shown in an audit detail; longer ones end in "...". */
#define AUDIT_VALUE_MAX 64
#define NORM_MAX 4096
#define LOGS_DEFAULT_LIMIT 200
#define LOGS_MAX_LIMIT 1000
#define LOGS_CHUNK 64
#define AUDIT_DEFAULT_LIMIT 100
#define AUDIT_MAX_LIMIT 1000
#define SSE_QUEUE_LIMIT (256 * 1024)
#define SSE_KEEPALIVE_MS 15000
#define SSE_MAX_PATTERNS 16
#define TOPIC_MAX 128

/* ---- small helpers ------------------------------------------------------- */

/* Replaces every non-ASCII byte when s is not valid UTF-8, so that it can
 * go into a JSON string (messages may quote cut-off values). */
static void utf8_fix(char *s)
{
    json_t *t = json_string(s);
    if (t != NULL) {
        json_decref(t);
        return;
    }
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s >= 0x80) {
            *s = '?';
        }
    }
}

/* A JSON string for s, null for NULL; invalid UTF-8 is repaired. */
static json_t *jstr(const char *s)
{
    json_t *t;
    char *copy;
    if (s == NULL) {
        return json_null();
    }
    t = json_string(s);
    if (t != NULL) {
        return t;
    }
    copy = strdup(s);
    if (copy == NULL) {
        return json_null();
    }
    utf8_fix(copy);
    t = json_string(copy);
    free(copy);
    return t != NULL ? t : json_null();
}

static int reply_err(oa_http_req *req, int status, const char *code, const char *fmt, ...)
    OA_PRINTF(4, 5);

/* Formats an error sentence, makes it safe for JSON and replies with it. */
static int reply_err(oa_http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    utf8_fix(msg);
    oa_http_reply_error(req, status, code, "%s", msg);
    return 0;
}

static int reply_405(oa_http_req *req, const char *allow)
{
    oa_http_set_header(req, "Allow", allow);
    return reply_err(req, 405, "method_not_allowed", "%s %s accepts only %s", req->method,
                     req->path, allow);
}

/* Whether req's method is m; HEAD counts as GET (the server leaves the
 * body out). */
static int method_is(const oa_http_req *req, const char *m)
{
    if (strcmp(m, "GET") == 0 && strcmp(req->method, "HEAD") == 0) {
        return 1;
    }
    return strcmp(req->method, m) == 0;
}

/* Records an audit entry for a change made by req's user; a failure to
 * record is logged, not fatal to the change already made. */
static void audit(oa_host *h, oa_http_req *req, const char *action, const char *detail)
{
    const char *who = req->user[0] != '\0' ? req->user : NULL;
    int rc = oa_audit_add(h->store, who, req->client, action, detail);
    if (rc != 0) {
        oa_log_write(OA_LOG_WARN, "host", "cannot record audit entry %s (%s): %s", action,
                     detail, oa_strerror(rc));
    }
}

/* Parses a whole decimal number without sign. Returns 0 or OA_EINVAL. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        return OA_EINVAL;
    }
    for (; *s != '\0'; s++) {
        unsigned d;
        if (*s < '0' || *s > '9') {
            return OA_EINVAL;
        }
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return OA_EINVAL;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Reads a query argument as a number in [lo, hi]; absent gives def. On a
 * bad value replies 400 and returns OA_EINVAL. */
static int query_num(oa_http_req *req, const char *name, uint64_t def, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    const char *s = oa_http_query(req, name);
    if (s == NULL) {
        *out = def;
        return 0;
    }
    if (parse_u64(s, out) != 0 || *out < lo || *out > hi) {
        reply_err(req, 400, "bad_request", "'%s' must be a whole number from %" PRIu64
                  " to %" PRIu64 "; got '%.40s'", name, lo, hi, s);
        return OA_EINVAL;
    }
    return 0;
}

/* Plugin names: 1-64 bytes of [a-z0-9_-]. */
static int name_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= NAME_MAX_LEN) {
            return 0;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
            return 0;
        }
    }
    return n > 0;
}

/* Command names: 1-64 bytes of [A-Za-z0-9_.-]. */
static int command_ok(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (n >= NAME_MAX_LEN) {
            return 0;
        }
        if (!word && c != '_' && c != '-' && c != '.') {
            return 0;
        }
    }
    return n > 0;
}

/* Resident memory of this process in KiB from /proc/self/status, or 0. */
static uint64_t rss_kib(void)
{
    char line[256];
    unsigned long long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            if (sscanf(line + 6, "%llu", &kib) != 1) {
                kib = 0;
            }
            break;
        }
    }
    fclose(f);
    return kib;
}

static double uptime_s(oa_host *h)
{
    uint64_t now = uv_now(h->loop);
    return now > h->started_ms ? (double)(now - h->started_ms) / 1000.0 : 0.0;
}

/* ---- plugin objects ------------------------------------------------------ */

static json_t *str_list(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && v != NULL && v[i] != NULL; i++) {
        json_array_append_new(a, jstr(v[i]));
    }
    return a;
}

static const char *health_name(int hv)
{
    switch (hv) {
    case OA_HEALTH_OK: return "ok";
    case OA_HEALTH_DEGRADED: return "degraded";
    case OA_HEALTH_BAD: return "bad";
    default: return NULL;
    }
}

static int has_commands(const oa_plugin_desc *d)
{
    return d != NULL && OA_DESC_HAS(d, command) && d->command != NULL;
}

/* The contract's plugin object for one registry entry. */
static json_t *plugin_json(const oa_plugin_info *info)
{
    const oa_plugin_desc *d = info->desc;
    json_t *o = json_object();
    char sdk[24];
    int running = info->state == OA_STATE_RUNNING;

    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "name", jstr(info->name));
    json_object_set_new(o, "file", jstr(info->file));
    json_object_set_new(o, "state", jstr(oa_state_name(info->state)));
    json_object_set_new(o, "enabled", json_boolean(info->enabled));
    json_object_set_new(o, "reason", jstr(info->reason != NULL ? info->reason : ""));
    json_object_set_new(o, "version", jstr(d != NULL ? d->version : NULL));
    json_object_set_new(o, "kind", jstr(d != NULL ? oa_kind_name(d->kind) : NULL));
    json_object_set_new(o, "summary", jstr(d != NULL ? d->summary : NULL));
    json_object_set_new(o, "license", jstr(d != NULL ? d->license : NULL));
    if (d != NULL) {
        snprintf(sdk, sizeof(sdk), "%u.%u", (unsigned)d->sdk_major, (unsigned)d->sdk_minor);
    }
    json_object_set_new(o, "sdk", jstr(d != NULL ? sdk : NULL));
    json_object_set_new(o, "requires", str_list(d != NULL ? d->requires : NULL));
    json_object_set_new(o, "provides", str_list(d != NULL ? d->provides : NULL));
    json_object_set_new(o, "health", jstr(running ? health_name(info->health) : NULL));
    json_object_set_new(o, "crash_count", json_integer((json_int_t)info->crash_count));
    json_object_set_new(o, "has_commands", json_boolean(has_commands(d)));
    return o;
}

static json_t *plugin_json_by_name(oa_host *h, const char *name)
{
    oa_plugin_info info;
    if (oa_registry_info_by_name(h->reg, name, &info) != 0) {
        return json_null();
    }
    return plugin_json(&info);
}

static int plugins_list(oa_host *h, oa_http_req *req)
{
    json_t *list = json_array();
    size_t n = oa_registry_count(h->reg);
    for (size_t i = 0; list != NULL && i < n; i++) {
        oa_plugin_info info;
        if (oa_registry_info(h->reg, i, &info) == 0) {
            json_array_append_new(list, plugin_json(&info));
        }
    }
    return oa_http_reply_json(req, 200, json_pack("{s:o}", "plugins", list));
}

static int plugin_get(oa_host *h, oa_http_req *req, const char *name)
{
    oa_plugin_info info;
    json_t *o;
    char *detail = NULL;

    oa_registry_info_by_name(h->reg, name, &info);
    if (info.state == OA_STATE_RUNNING) {
        /* Asking refreshes the cached health the listing shows. */
        oa_registry_health(h->reg, name, &detail);
        oa_registry_info_by_name(h->reg, name, &info);
    }
    o = plugin_json(&info);
    if (o != NULL && detail != NULL) {
        json_t *d = json_loads(detail, JSON_DECODE_ANY, NULL);
        if (d != NULL) {
            json_object_set_new(o, "health_detail", d);
        }
    }
    free(detail);
    return oa_http_reply_json(req, 200, o);
}

/* POST /api/plugins/{name}/enable|disable|restart */
static int plugin_action(oa_host *h, oa_http_req *req, const char *name, const char *action)
{
    char msg[1024];
    char act[32];
    char detail[1200];
    int rc;

    msg[0] = '\0';
    if (strcmp(action, "enable") == 0) {
        rc = oa_registry_enable(h->reg, name, msg, sizeof(msg));
    } else if (strcmp(action, "disable") == 0) {
        rc = oa_registry_disable(h->reg, name, msg, sizeof(msg));
    } else {
        rc = oa_registry_restart(h->reg, name, msg, sizeof(msg));
    }
    snprintf(act, sizeof(act), "plugin.%s", action);
    if (rc == 0) {
        snprintf(detail, sizeof(detail), "%s", name);
    } else {
        snprintf(detail, sizeof(detail), "%s (failed: %s)", name, msg);
    }
    audit(h, req, act, detail);
    if (rc == OA_ENOENT) {
        return reply_err(req, 404, "not_found", "%s", msg);
    }
    if (rc != 0) {
        /* Refusals (a dependency is off, the plugin is disabled or was
         * rejected) are conflicts; a plugin that fails to start is its
         * own failure. */
        int refused = rc == OA_ESTATE || rc == OA_EDEPEND || rc == OA_ECYCLE ||
                      rc == OA_EBUSY || rc == OA_EEXIST;
        int ours = rc == OA_ENOMEM || rc == OA_EIO;
        return reply_err(req, refused ? 409 : 500,
                         refused ? "conflict" : ours ? "internal" : "plugin_error", "%s",
                         msg[0] ? msg : oa_strerror(rc));
    }
    utf8_fix(msg);
    return oa_http_reply_json(req, 200, json_pack("{s:b, s:s, s:o}", "ok", 1, "message", msg,
                                                  "plugin", plugin_json_by_name(h, name)));
}

/* ---- settings ------------------------------------------------------------ */

static json_t *choices_json(const char *choices)
{
    json_t *a = json_array();
    const char *p = choices;
    while (a != NULL) {
        const char *bar = strchr(p, '|');
        size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);
        json_t *s = json_stringn(p, len);
        json_array_append_new(a, s != NULL ? s : json_string(""));
        if (bar == NULL) {
            break;
        }
        p = bar + 1;
    }
    return a;
}

static json_t *range_value(const oa_config_def *def, double v)
{
    if (def->type == OA_CFG_INT) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

/* The settings array of GET config: one object per schema entry. */
static json_t *settings_json(oa_host *h, const oa_plugin_desc *desc)
{
    json_t *a = json_array();
    const oa_config_def *cfg = desc->config;

    for (size_t i = 0; a != NULL && cfg != NULL && cfg[i].key != NULL; i++) {
        const oa_config_def *def = &cfg[i];
        int secret = (def->flags & OA_CFG_SECRET) != 0;
        char norm[NORM_MAX];
        char err[512];
        char *value = NULL;
        json_t *o = json_object();

        if (o == NULL) {
            break;
        }
        if (oa_config_validate(def, def->default_value, norm, sizeof(norm), err,
                               sizeof(err)) != 0) {
            snprintf(norm, sizeof(norm), "%s", def->default_value ? def->default_value : "");
        }
        oa_host_config_get(h, desc->name, def->key, &value, err, sizeof(err));
        json_object_set_new(o, "key", jstr(def->key));
        json_object_set_new(o, "type", jstr(oa_config_type_name(def->type)));
        json_object_set_new(o, "value", jstr(secret ? "***" : value != NULL ? value : norm));
        json_object_set_new(o, "default", jstr(norm));
        if ((def->type == OA_CFG_INT || def->type == OA_CFG_DOUBLE) &&
            (def->min != 0 || def->max != 0)) {
            json_object_set_new(o, "min", range_value(def, def->min));
            json_object_set_new(o, "max", range_value(def, def->max));
        }
        if (def->type == OA_CFG_STRING && def->max > 0) {
            json_object_set_new(o, "max_length", json_integer((json_int_t)def->max));
        }
        if (def->type == OA_CFG_STRING && def->choices != NULL) {
            json_object_set_new(o, "choices", choices_json(def->choices));
        }
        json_object_set_new(o, "help", jstr(def->help != NULL ? def->help : ""));
        json_object_set_new(o, "live", json_boolean((def->flags & OA_CFG_LIVE) != 0));
        json_object_set_new(o, "secret", json_boolean(secret));
        json_array_append_new(a, o);
        free(value);
    }
    return a;
}

static int config_get(oa_host *h, oa_http_req *req, const oa_plugin_desc *desc)
{
    return oa_http_reply_json(req, 200, json_pack("{s:s, s:o}", "plugin", desc->name,
                                                  "settings", settings_json(h, desc)));
}

/* The text form of a JSON setting value: strings as they are, integers in
 * decimal, whole reals without decimals, other reals in the shortest form
 * that reads back exactly, booleans as true/false. Returns a malloc'd
 * string, or NULL with a sentence in err for any other type. */
static char *value_text(const char *key, json_t *v, char *err, size_t errlen)
{
    char buf[64];
    double d;
    switch (json_typeof(v)) {
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, errlen, "setting '%s' must not contain NUL characters", key);
            return NULL;
        }
        return strdup(json_string_value(v));
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    case JSON_REAL:
        d = json_real_value(v);
        if (d == floor(d) && fabs(d) < 1e15) {
            snprintf(buf, sizeof(buf), "%.0f", d);
            return strdup(buf);
        }
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, d);
            if (strtod(buf, NULL) == d) {
                break;
            }
        }
        return strdup(buf);
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    default:
        snprintf(err, errlen, "setting '%s' must be a string, a number or a boolean; got %s",
                 key, json_is_null(v) ? "null" : json_is_array(v) ? "an array" : "an object");
        return NULL;
    }
}

/* One value of a PUT: its definition, normalised text and whether it
 * differs from what was in effect. */
typedef struct cfg_item {
    const char *key;
    const oa_config_def *def;
    char *norm;
    int changed;
} cfg_item;

/* Appends " key=value" (secrets as ***, long values cut) to the audit
 * detail. Entries go in whole, so that the text stays valid UTF-8; once
 * one does not fit, " ..." ends the detail. */
static void detail_add(char *buf, size_t len, const cfg_item *it)
{
    static const char more[] = " ...";
    size_t used = strlen(buf);
    const char *v = (it->def->flags & OA_CFG_SECRET) ? "***" : it->norm;
    size_t vlen = strlen(v);
    size_t show = vlen;
    size_t need;

    if (used >= sizeof(more) - 1 && strcmp(buf + used - (sizeof(more) - 1), more) == 0) {
        return;
    }
    if (show > AUDIT_VALUE_MAX) {
        /* Cut before a UTF-8 continuation byte, never inside a character. */
        show = AUDIT_VALUE_MAX;
        while (show > 0 && ((unsigned char)v[show] & 0xC0) == 0x80) {
            show--;
        }
    }
    need = (size_t)snprintf(NULL, 0, " %s=%.*s%s", it->key, (int)show, v,
                            show < vlen ? "..." : "");
    if (used + need < len) {
        snprintf(buf + used, len - used, " %s=%.*s%s", it->key, (int)show, v,
                 show < vlen ? "..." : "");
    } else if (used + sizeof(more) <= len) {
        memcpy(buf + used, more, sizeof(more));
    }
}

/* Checks every value of body {"values": {...}} against the schema. Fills
 * items (n entries) and returns 0, or replies 400 and returns OA_EINVAL. */
static int config_check_all(oa_host *h, oa_http_req *req, const oa_plugin_desc *desc,
                            json_t *values, cfg_item *items, size_t *n)
{
    json_t *fields = json_object();
    const char *key;
    json_t *v;
    char first[600];
    size_t nbad = 0;

    first[0] = '\0';
    *n = 0;
    json_object_foreach(values, key, v) {
        char err[600];
        char norm[NORM_MAX];
        char *text = NULL;
        char *old = NULL;
        cfg_item *it = &items[*n];
        int rc = OA_EINVAL;

        err[0] = '\0';
        it->key = key;
        it->def = oa_config_find(desc->config, key);
        if (it->def == NULL) {
            snprintf(err, sizeof(err), "plugin '%s' has no setting '%s'", desc->name, key);
        } else {
            text = value_text(key, v, err, sizeof(err));
        }
        if (text != NULL) {
            rc = oa_config_validate(it->def, text, norm, sizeof(norm), err, sizeof(err));
        }
        if (rc == 0) {
            it->norm = strdup(norm);
        }
        if (rc == 0 && it->norm == NULL) {
            snprintf(err, sizeof(err), "setting '%s' could not be read: out of memory", key);
            rc = OA_ENOMEM;
        }
        free(text);
        if (rc != 0) {
            utf8_fix(err);
            json_object_set_new(fields, key, jstr(err));
            if (nbad == 0) {
                snprintf(first, sizeof(first), "%s", err);
            }
            nbad++;
            continue;
        }
        oa_host_config_get(h, desc->name, key, &old, err, sizeof(err));
        it->changed = old == NULL || strcmp(old, norm) != 0;
        free(old);
        (*n)++;
    }
    if (nbad == 0) {
        json_decref(fields);
        return 0;
    }
    if (nbad > 1) {
        snprintf(first + strlen(first), sizeof(first) - strlen(first), " (and %zu more)",
                 nbad - 1);
    }
    oa_http_reply_json(req, 400, json_pack("{s:{s:s, s:s, s:o}}", "error", "code",
                                           "invalid_value", "message", first, "fields",
                                           fields));
    return OA_EINVAL;
}

/* Applies changed settings to a running plugin: live through configure()
 * when every changed key allows it, otherwise one restart. */
static int config_apply(oa_host *h, const oa_plugin_desc *desc, cfg_item *items, size_t n,
                        char *msg, size_t msglen)
{
    oa_plugin_info info;
    size_t nchanged = 0;
    int live = OA_DESC_HAS(desc, configure) && desc->configure != NULL;
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        if (items[i].changed) {
            nchanged++;
            live = live && (items[i].def->flags & OA_CFG_LIVE) != 0;
        }
    }
    if (nchanged == 0) {
        snprintf(msg, msglen, "no value changed");
        return 0;
    }
    if (oa_registry_info_by_name(h->reg, desc->name, &info) != 0 ||
        info.state != OA_STATE_RUNNING) {
        snprintf(msg, msglen, "'%s' is not running; the values apply when it starts",
                 desc->name);
        return 0;
    }
    if (!live) {
        return oa_registry_restart(h->reg, desc->name, msg, msglen);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (items[i].changed) {
            rc = oa_registry_apply_config(h->reg, desc->name, items[i].key, items[i].norm, msg,
                                          msglen);
        }
    }
    return rc;
}

static int config_put(oa_host *h, oa_http_req *req, const oa_plugin_desc *desc)
{
    json_t *body = oa_http_body_json(req);
    json_t *values;
    cfg_item *items = NULL;
    size_t n = 0;
    char detail[2000];
    char applied[1024];
    char err[600];
    char keys[512];
    int rc = 0;

    if (body == NULL) {
        return 0; /* oa_http_body_json replied */
    }
    values = json_is_object(body) ? json_object_get(body, "values") : NULL;
    if (!json_is_object(values) || json_object_size(values) == 0) {
        json_decref(body);
        return reply_err(req, 400, "bad_request",
                         "the body must be {\"values\": {\"<setting>\": <value>, ...}} with at "
                         "least one setting");
    }
    items = calloc(json_object_size(values), sizeof(*items));
    if (items == NULL) {
        json_decref(body);
        return reply_err(req, 500, "internal", "out of memory");
    }
    if (config_check_all(h, req, desc, values, items, &n) != 0) {
        rc = OA_EINVAL;
    }
    snprintf(detail, sizeof(detail), "%s", desc->name);
    keys[0] = '\0';
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = oa_host_config_store(h, desc, items[i].key, items[i].norm, err, sizeof(err));
        if (rc != 0) {
            reply_err(req, 500, "internal", "%s", err);
            break;
        }
        detail_add(detail, sizeof(detail), &items[i]);
        snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%s", i ? ", " : "",
                 items[i].key);
    }
    if (rc == 0) {
        audit(h, req, "plugin.config", detail);
        applied[0] = '\0';
        rc = config_apply(h, desc, items, n, applied, sizeof(applied));
        if (rc != 0) {
            reply_err(req, 500, "plugin_error", "stored %s, but applying failed: %s", keys,
                      applied[0] ? applied : oa_strerror(rc));
        }
    }
    if (rc == 0) {
        char msg[1600];
        snprintf(msg, sizeof(msg), "stored %s; %s", keys, applied);
        utf8_fix(msg);
        oa_http_reply_json(req, 200, json_pack("{s:b, s:s, s:o}", "ok", 1, "message", msg,
                                               "settings", settings_json(h, desc)));
    }
    for (size_t i = 0; i < n; i++) {
        free(items[i].norm);
    }
    free(items);
    json_decref(body);
    return 0;
}

static int plugin_config(oa_host *h, oa_http_req *req, const char *name)
{
    oa_plugin_info info;
    oa_registry_info_by_name(h->reg, name, &info);
    if (info.desc == NULL) {
        return reply_err(req, 409, "conflict", "plugin '%s' was rejected: %s", name,
                         info.reason);
    }
    if (method_is(req, "GET")) {
        return config_get(h, req, info.desc);
    }
    return config_put(h, req, info.desc);
}

/* ---- commands ------------------------------------------------------------ */

static int body_blank(const oa_http_req *req)
{
    for (size_t i = 0; req->body != NULL && i < req->body_len; i++) {
        char c = req->body[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            return 0;
        }
    }
    return 1;
}

/* POST /api/plugins/{name}/commands/{command} */
static int plugin_command(oa_host *h, oa_http_req *req, const char *name, const char *cmd)
{
    const char *args = "{}";
    char detail[256];
    char *out = NULL;
    json_t *res;
    int rc;

    if (!command_ok(cmd)) {
        return reply_err(req, 404, "not_found",
                         "plugin '%s' has no such command: command names are 1 to 64 of "
                         "A-Z, a-z, 0-9, '_', '-' and '.'", name);
    }
    if (!body_blank(req)) {
        json_t *chk = oa_http_body_json(req);
        if (chk == NULL) {
            return 0; /* replied 400 */
        }
        json_decref(chk);
        args = req->body;
    }
    rc = oa_registry_command(h->reg, name, cmd, args, &out);
    snprintf(detail, sizeof(detail), "%s %s%s", name, cmd, rc == 0 ? "" : " (failed)");
    audit(h, req, "plugin.command", detail);
    if (rc == 0) {
        res = json_loads(out != NULL ? out : "{}", JSON_DECODE_ANY, NULL);
        free(out);
        return oa_http_reply_json(req, 200, json_pack("{s:o}", "result",
                                                      res != NULL ? res : json_object()));
    }
    switch (rc) {
    case OA_ENOENT:
    case OA_ENOSYS:
    case OA_ENOTFOUND:
        reply_err(req, 404, "not_found", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    case OA_ESTATE:
        reply_err(req, 409, "conflict", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    case OA_EINVAL:
    case OA_ETYPE:
    case OA_ERANGE:
        reply_err(req, 400, "bad_request", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    default:
        reply_err(req, 500, "plugin_error", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    }
    free(out);
    return 0;
}

/* ---- /api/plugins/... dispatch ------------------------------------------- */

static int is_action(const char *s)
{
    return strcmp(s, "enable") == 0 || strcmp(s, "disable") == 0 || strcmp(s, "restart") == 0;
}

/* Splits the part of the path after /api/plugins into at most 3 non-empty
 * segments (in buf). Returns the count, or -1 for any other shape. */
static int split_path(const char *path, char *buf, size_t buflen, char **seg)
{
    const char *rest = path + strlen(PLUGINS_PATH);
    int n = 0;
    char *p;

    if (strncmp(path, PLUGINS_PATH, strlen(PLUGINS_PATH)) != 0 ||
        (rest[0] != '\0' && rest[0] != '/')) {
        return -1;
    }
    if (rest[0] == '/') {
        rest++;
    }
    if (strlen(rest) >= buflen) {
        return -1;
    }
    memcpy(buf, rest, strlen(rest) + 1);
    if (buf[0] == '\0') {
        return 0;
    }
    p = buf;
    for (;;) {
        char *slash = strchr(p, '/');
        if (*p == '/' || *p == '\0' || n == 3) {
            return -1;
        }
        seg[n++] = p;
        if (slash == NULL) {
            return n;
        }
        *slash = '\0';
        p = slash + 1;
    }
}

/* Whether req's method is one of the ", "-separated methods in allow. */
static int method_listed(const char *allow, const oa_http_req *req)
{
    const char *method = method_is(req, "GET") ? "GET" : req->method;
    size_t len = strlen(method);
    const char *p = allow;
    while (len > 0 && p != NULL) {
        if (strncmp(p, method, len) == 0 && (p[len] == '\0' || p[len] == ',')) {
            return 1;
        }
        p = strchr(p, ',');
        if (p != NULL) {
            p += strspn(p, ", ");
        }
    }
    return 0;
}

/* Every route under /api/plugins. */
static int on_plugins(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    char buf[512];
    char *seg[3];
    const char *allow;
    oa_plugin_info info;
    int n = split_path(req->path, buf, sizeof(buf), seg);

    if (n == 0 || n == 1) {
        allow = "GET";
    } else if (n == 2 && is_action(seg[1])) {
        allow = "POST";
    } else if (n == 2 && strcmp(seg[1], "config") == 0) {
        allow = "GET, PUT";
    } else if (n == 3 && strcmp(seg[1], "commands") == 0) {
        allow = "POST";
    } else {
        return reply_err(req, 404, "not_found", "no route %s", req->path);
    }
    if (!method_listed(allow, req)) {
        return reply_405(req, allow);
    }
    if (req->body_too_large) {
        return reply_err(req, 413, "too_large", "the request body is larger than %zu bytes",
                         oa_http_body_limit(req->http));
    }
    if (n == 0) {
        return plugins_list(h, req);
    }
    if (!name_ok(seg[0])) {
        return reply_err(req, 404, "not_found",
                         "no such plugin: names are 1 to 64 of a-z, 0-9, '_' and '-'");
    }
    if (oa_registry_info_by_name(h->reg, seg[0], &info) != 0) {
        return reply_err(req, 404, "not_found", "no plugin named '%s'", seg[0]);
    }
    if (n == 1) {
        return plugin_get(h, req, seg[0]);
    }
    if (n == 3) {
        return plugin_command(h, req, seg[0], seg[2]);
    }
    if (strcmp(seg[1], "config") == 0) {
        return plugin_config(h, req, seg[0]);
    }
    return plugin_action(h, req, seg[0], seg[1]);
}

/* ---- status and metrics -------------------------------------------------- */

static const oa_plugin_state all_states[] = {
    OA_STATE_RUNNING, OA_STATE_FAILED,   OA_STATE_DISABLED,
    OA_STATE_REJECTED, OA_STATE_DISCOVERED, OA_STATE_STARTING,
};
#define NSTATES (sizeof(all_states) / sizeof(all_states[0]))

/* Counts plugins per state, indexed like all_states. */
static size_t count_states(oa_host *h, uint64_t *counts)
{
    size_t n = oa_registry_count(h->reg);
    memset(counts, 0, NSTATES * sizeof(*counts));
    for (size_t i = 0; i < n; i++) {
        oa_plugin_info info;
        if (oa_registry_info(h->reg, i, &info) != 0) {
            continue;
        }
        for (size_t k = 0; k < NSTATES; k++) {
            if (info.state == all_states[k]) {
                counts[k]++;
            }
        }
    }
    return n;
}

static void http_stats(oa_host *h, oa_http_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (h->http != NULL) {
        oa_http_get_stats(h->http, st);
    }
}

static int on_status(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    uint64_t counts[NSTATES];
    size_t total = count_states(h, counts);
    json_t *plugins = json_pack("{s:I}", "total", (json_int_t)total);
    oa_bus_stats bs;
    oa_http_stats hs;
    char sdk[16];

    for (size_t k = 0; plugins != NULL && k < NSTATES; k++) {
        json_object_set_new(plugins, oa_state_name(all_states[k]),
                            json_integer((json_int_t)counts[k]));
    }
    memset(&bs, 0, sizeof(bs));
    if (h->bus != NULL) {
        oa_bus_get_stats(h->bus, &bs);
    }
    http_stats(h, &hs);
    snprintf(sdk, sizeof(sdk), "%d.%d", OA_SDK_MAJOR, OA_SDK_MINOR);
    return oa_http_reply_json(
        req, 200,
        json_pack("{s:s, s:s, s:f, s:I, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}}", "version",
                  OA_HOST_VERSION, "sdk", sdk, "uptime_s", uptime_s(h), "rss_kib",
                  (json_int_t)rss_kib(), "plugins", plugins, "bus", "published",
                  (json_int_t)bs.published, "delivered", (json_int_t)bs.delivered, "dropped",
                  (json_int_t)bs.dropped, "queued", (json_int_t)bs.queued, "http", "requests",
                  (json_int_t)hs.requests, "streams_open", (json_int_t)hs.streams_open));
}

/* Writes one metric's HELP and TYPE lines. */
static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes a label value with \, " and newline escaped. */
static void metric_label(FILE *f, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            fputc('\\', f);
            fputc(*v, f);
        } else if (*v == '\n') {
            fputs("\\n", f);
        } else {
            fputc(*v, f);
        }
    }
}

static void metrics_plugins(FILE *f, oa_host *h)
{
    uint64_t counts[NSTATES];
    size_t n = count_states(h, counts);
    oa_plugin_info info;

    metric_head(f, "openace_plugins", "gauge", "Plugins known to the engine, by state.");
    for (size_t k = 0; k < NSTATES; k++) {
        fprintf(f, "openace_plugins{state=\"%s\"} %" PRIu64 "\n", oa_state_name(all_states[k]),
                counts[k]);
    }
    metric_head(f, "openace_plugin_up", "gauge", "1 when the plugin is running, else 0.");
    for (size_t i = 0; i < n; i++) {
        if (oa_registry_info(h->reg, i, &info) == 0 && info.name != NULL) {
            fputs("openace_plugin_up{plugin=\"", f);
            metric_label(f, info.name);
            fprintf(f, "\"} %d\n", info.state == OA_STATE_RUNNING);
        }
    }
    metric_head(f, "openace_plugin_crashes_total", "counter",
                "Times the plugin failed while running or starting.");
    for (size_t i = 0; i < n; i++) {
        if (oa_registry_info(h->reg, i, &info) == 0 && info.name != NULL) {
            fputs("openace_plugin_crashes_total{plugin=\"", f);
            metric_label(f, info.name);
            fprintf(f, "\"} %" PRIu64 "\n", info.crash_count);
        }
    }
}

static int on_metrics(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    oa_bus_stats bs;
    oa_http_stats hs;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc;

    if (f == NULL) {
        return reply_err(req, 500, "internal", "out of memory");
    }
    memset(&bs, 0, sizeof(bs));
    if (h->bus != NULL) {
        oa_bus_get_stats(h->bus, &bs);
    }
    http_stats(h, &hs);
    metric_head(f, "openace_uptime_seconds", "gauge", "Seconds since the engine started.");
    fprintf(f, "openace_uptime_seconds %.3f\n", uptime_s(h));
    metric_head(f, "openace_resident_memory_bytes", "gauge", "Resident memory of the engine.");
    fprintf(f, "openace_resident_memory_bytes %" PRIu64 "\n", rss_kib() * 1024);
    metrics_plugins(f, h);
    metric_head(f, "openace_bus_events_published_total", "counter",
                "Events accepted by the bus.");
    fprintf(f, "openace_bus_events_published_total %" PRIu64 "\n", bs.published);
    metric_head(f, "openace_bus_events_delivered_total", "counter",
                "Event deliveries to subscribers.");
    fprintf(f, "openace_bus_events_delivered_total %" PRIu64 "\n", bs.delivered);
    metric_head(f, "openace_bus_events_dropped_total", "counter",
                "Events refused because the bus queue was full.");
    fprintf(f, "openace_bus_events_dropped_total %" PRIu64 "\n", bs.dropped);
    metric_head(f, "openace_http_requests_total", "counter", "HTTP requests received.");
    fprintf(f, "openace_http_requests_total %" PRIu64 "\n", hs.requests);
    metric_head(f, "openace_http_responses_total", "counter", "HTTP error responses, by class.");
    fprintf(f, "openace_http_responses_total{class=\"4xx\"} %" PRIu64 "\n", hs.responses_4xx);
    fprintf(f, "openace_http_responses_total{class=\"5xx\"} %" PRIu64 "\n", hs.responses_5xx);
    metric_head(f, "openace_http_streams_open", "gauge", "Streaming responses open now.");
    fprintf(f, "openace_http_streams_open %" PRIu64 "\n", hs.streams_open);
    if (fclose(f) != 0) {
        free(text);
        return reply_err(req, 500, "internal", "out of memory");
    }
    rc = oa_http_reply(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    return rc;
}

/* ---- logs and audit ------------------------------------------------------ */

static void iso_time_ms(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

static int log_match(const oa_log_line *l, int has_level, oa_log_level level, const char *tag,
                     const char *q)
{
    if (has_level && l->level > level) {
        return 0;
    }
    if (tag != NULL && strcmp(l->tag, tag) != 0) {
        return 0;
    }
    return q == NULL || strcasestr(l->msg, q) != NULL;
}

static json_t *log_json(const oa_log_line *l)
{
    char when[40];
    iso_time_ms(l->time_ms, when, sizeof(when));
    return json_pack("{s:I, s:s, s:s, s:o, s:o}", "seq", (json_int_t)l->seq, "time", when,
                     "level", oa_log_level_name(l->level), "tag", jstr(l->tag), "msg",
                     jstr(l->msg));
}

static int on_logs(void *arg, oa_http_req *req)
{
    const char *lv = oa_http_query(req, "level");
    const char *tag = oa_http_query(req, "plugin");
    const char *q = oa_http_query(req, "q");
    oa_log_level level = OA_LOG_TRACE;
    uint64_t after;
    uint64_t limit;
    uint64_t last;
    oa_log_line *chunk;
    json_t *lines;
    size_t count = 0;

    (void)arg;
    if (lv != NULL && oa_log_parse_level(lv, &level) != 0) {
        return reply_err(req, 400, "bad_request",
                         "'level' must be error, warn, info, debug or trace; got '%.40s'", lv);
    }
    if (query_num(req, "after", 0, 0, UINT64_MAX, &after) != 0 ||
        query_num(req, "limit", LOGS_DEFAULT_LIMIT, 1, LOGS_MAX_LIMIT, &limit) != 0) {
        return 0;
    }
    tag = tag != NULL && *tag != '\0' ? tag : NULL;
    q = q != NULL && *q != '\0' ? q : NULL;
    chunk = malloc(LOGS_CHUNK * sizeof(*chunk));
    lines = json_array();
    if (chunk == NULL || lines == NULL) {
        free(chunk);
        json_decref(lines);
        return reply_err(req, 500, "internal", "out of memory");
    }
    last = after;
    while (count < limit) {
        size_t got = oa_log_recent(last, chunk, LOGS_CHUNK);
        if (got == 0) {
            break;
        }
        for (size_t i = 0; i < got && count < limit; i++) {
            last = chunk[i].seq;
            if (log_match(&chunk[i], lv != NULL, level, tag, q)) {
                json_array_append_new(lines, log_json(&chunk[i]));
                count++;
            }
        }
    }
    free(chunk);
    return oa_http_reply_json(req, 200, json_pack("{s:o, s:I}", "lines", lines, "last_seq",
                                                  (json_int_t)last));
}

static int on_audit(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    uint64_t limit;
    uint64_t before;
    json_t *entries = NULL;
    int rc;

    if (query_num(req, "limit", AUDIT_DEFAULT_LIMIT, 1, AUDIT_MAX_LIMIT, &limit) != 0 ||
        query_num(req, "before", 0, 0, INT64_MAX, &before) != 0) {
        return 0;
    }
    rc = oa_audit_list(h->store, (int64_t)before, (int)limit, &entries);
    if (rc != 0) {
        return reply_err(req, 500, "internal", "cannot read the audit log: %s",
                         oa_strerror(rc));
    }
    return oa_http_reply_json(req, 200, json_pack("{s:o}", "entries", entries));
}

/* ---- events (SSE) -------------------------------------------------------- */

/* One /api/events client. It ends when its stream reports CLOSED or when
 * the host stops, whichever comes first; it is freed in the close callback
 * of its keep-alive timer. */
typedef struct sse_client {
    oa_host *h;
    oa_http_stream *stream;
    uv_timer_t keepalive;
    uint64_t dropped; /* events lost since the last one that went out */
    struct sse_client *next;
} sse_client;

/* Open event clients of every host in the process (loop thread only). A
 * stream's callback gets the host and finds its client here by stream, so
 * that a CLOSED reported after the host stopped and released the client
 * never reaches freed memory. */
static sse_client *g_sse_clients;

static void sse_free(uv_handle_t *hd)
{
    free(hd->data);
}

/* Unlinks c, ends its subscriptions and closes its timer (which frees c). */
static void sse_release(sse_client *c)
{
    sse_client **pp = &g_sse_clients;
    while (*pp != NULL && *pp != c) {
        pp = &(*pp)->next;
    }
    if (*pp == c) {
        *pp = c->next;
    }
    c->stream = NULL;
    if (c->h->bus != NULL) {
        oa_bus_unsubscribe_owner(c->h->bus, c);
    }
    uv_timer_stop(&c->keepalive);
    uv_close((uv_handle_t *)&c->keepalive, sse_free);
}

static void sse_on_event(void *arg, const char *topic, const char *json, size_t len)
{
    sse_client *c = arg;
    size_t cap = len + strlen(topic) + 96;
    char *buf;
    size_t n = 0;
    int rc;

    if (c->stream == NULL) {
        return;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        c->dropped++;
        return;
    }
    if (c->dropped > 0) {
        n = (size_t)snprintf(buf, cap, "event: dropped\ndata: {\"dropped\":%" PRIu64 "}\n\n",
                             c->dropped);
    }
    n += (size_t)snprintf(buf + n, cap - n, "event: %s\ndata: ", topic);
    /* A newline in valid JSON is whitespace: a space keeps one data line. */
    for (size_t i = 0; i < len; i++) {
        buf[n++] = json[i] == '\n' || json[i] == '\r' ? ' ' : json[i];
    }
    buf[n++] = '\n';
    buf[n++] = '\n';
    rc = oa_http_stream_write(c->stream, buf, n);
    if (rc == OA_EOVERFLOW) {
        c->dropped++;
    } else if (rc == 0) {
        c->dropped = 0;
    }
    free(buf);
}

static void sse_on_timer(uv_timer_t *t)
{
    sse_client *c = t->data;
    static const char ka[] = ": keep-alive\n\n";
    if (c->stream != NULL) {
        oa_http_stream_write(c->stream, ka, sizeof(ka) - 1);
    }
}

static void sse_on_stream(void *arg, oa_http_stream *s, int event)
{
    oa_host *h = arg;
    if (event != OA_HTTP_STREAM_CLOSED) {
        return;
    }
    for (sse_client *c = g_sse_clients; c != NULL; c = c->next) {
        if (c->h == h && c->stream == s) {
            sse_release(c);
            return;
        }
    }
}

/* host.stopping: end every event stream of this host now. The dispatcher
 * closes after this without reporting CLOSED to the streams it ends, so
 * waiting for CLOSED would leave the clients and their timers behind. */
static void sse_on_host_stopping(void *arg, const char *topic, const char *json, size_t len)
{
    oa_host *h = arg;
    sse_client *c = g_sse_clients;
    (void)topic;
    (void)json;
    (void)len;
    while (c != NULL) {
        sse_client *next = c->next;
        if (c->h == h) {
            oa_http_stream_end(c->stream);
            sse_release(c);
        }
        c = next;
    }
}

static int pattern_ok(const char *p)
{
    size_t len = strlen(p);
    char word[TOPIC_MAX + 1];
    if (strcmp(p, "*") == 0) {
        return 1;
    }
    if (len == 0 || len > TOPIC_MAX) {
        return 0;
    }
    if (len >= 3 && strcmp(p + len - 2, ".*") == 0) {
        memcpy(word, p, len - 2);
        word[len - 2] = '\0';
        return oa_bus_topic_valid(word);
    }
    return oa_bus_topic_valid(p);
}

/* Splits topics ("a.*, b.c") into pats. Replies 400 and returns -1 when a
 * pattern is malformed or there are too many; else returns the count. */
static int parse_topics(oa_http_req *req, const char *topics,
                        char pats[SSE_MAX_PATTERNS][TOPIC_MAX + 1])
{
    const char *p = topics != NULL && *topics != '\0' ? topics : "*";
    int n = 0;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (n == SSE_MAX_PATTERNS) {
            reply_err(req, 400, "bad_request", "at most %d topic patterns are allowed",
                      SSE_MAX_PATTERNS);
            return -1;
        }
        if (len <= TOPIC_MAX) {
            memcpy(pats[n], p, len);
            pats[n][len] = '\0';
        }
        if (len > TOPIC_MAX || !pattern_ok(pats[n])) {
            reply_err(req, 400, "bad_request",
                      "topic pattern '%.*s' is not valid: use '*', a topic such as "
                      "'plugin.state' or a prefix such as 'plugin.*'",
                      (int)(len > 80 ? 80 : len), p);
            return -1;
        }
        n++;
        if (comma == NULL) {
            return n;
        }
        p = comma + 1;
    }
}

static int on_events(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    char pats[SSE_MAX_PATTERNS][TOPIC_MAX + 1];
    static const char hello[] = ": connected\n\n";
    int n = parse_topics(req, oa_http_query(req, "topics"), pats);
    sse_client *c;
    int rc;

    if (n < 0) {
        return 0;
    }
    if (h->bus == NULL || h->stopping) {
        return reply_err(req, 409, "conflict", "the engine is stopping");
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return reply_err(req, 500, "internal", "out of memory");
    }
    c->h = h;
    uv_timer_init(h->loop, &c->keepalive);
    c->keepalive.data = c;
    oa_http_set_header(req, "Cache-Control", "no-cache");
    rc = oa_http_stream_open(req, 200, "text/event-stream", -1, SSE_QUEUE_LIMIT, sse_on_stream,
                             h, &c->stream);
    if (rc != 0) {
        uv_close((uv_handle_t *)&c->keepalive, sse_free);
        return rc; /* the dispatcher answers with a fitting status */
    }
    /* req belongs to the stream from here on. */
    c->next = g_sse_clients;
    g_sse_clients = c;
    /* Keep-alives alone never hold the loop open. */
    uv_timer_start(&c->keepalive, sse_on_timer, SSE_KEEPALIVE_MS, SSE_KEEPALIVE_MS);
    uv_unref((uv_handle_t *)&c->keepalive);
    for (int i = 0; i < n; i++) {
        rc = oa_bus_subscribe(h->bus, pats[i], sse_on_event, c, c, NULL);
        if (rc != 0) {
            oa_log_write(OA_LOG_WARN, "host", "event stream: cannot subscribe to %s: %s",
                         pats[i], oa_strerror(rc));
            oa_http_stream_end(c->stream);
            sse_release(c);
            return 0;
        }
    }
    oa_http_stream_write(c->stream, hello, sizeof(hello) - 1);
    return 0;
}

/* ---- registration -------------------------------------------------------- */

int oa_admin_api_register(oa_host *h)
{
    static const struct {
        const char *method;
        const char *path;
        unsigned flags;
        oa_http_handler fn;
    } routes[] = {
        {"GET", "/api/status", 0, on_status},
        {"*", PLUGINS_PATH, OA_HTTP_PREFIX, on_plugins},
        {"GET", "/api/logs", 0, on_logs},
        {"GET", "/api/audit", 0, on_audit},
        {"GET", "/api/events", 0, on_events},
        {"GET", "/metrics", 0, on_metrics},
    };
    int rc;

    if (h == NULL || h->http == NULL || h->bus == NULL) {
        return OA_EINVAL;
    }
    rc = oa_bus_subscribe(h->bus, "host.stopping", sse_on_host_stopping, h, NULL, NULL);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc = oa_http_route(h->http, NULL, routes[i].method, routes[i].path, routes[i].flags,
                           routes[i].fn, h);
        if (rc != 0) {
            oa_log_write(OA_LOG_ERROR, "host", "cannot add route %s %s: %s", routes[i].method,
                         routes[i].path, oa_strerror(rc));
            return rc;
        }
    }
    return 0;
}
