/* Admin API, plugin routes (docs/admin-api.md): everything under
 * /api/plugins: the listing, one plugin, enable/disable/restart, settings
 * (GET and PUT config) and commands. Every handler replies before it
 * returns; every change is audited. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "auth.h"
#include "config.h"
#include "host.h"
#include "http.h"
#include "loader.h"
#include "log.h"

#define NAME_MAX_LEN 64
/* Longest value shown in an audit detail; longer ones end in "...". */
#define AUDIT_VALUE_MAX 64
#define NORM_MAX 4096

/* ---- small helpers ------------------------------------------------------- */

static int reply_405(oa_http_req *req, const char *allow)
{
    oa_http_set_header(req, "Allow", allow);
    return admin_reply_err(req, 405, "method_not_allowed", "%s %s accepts only %s", req->method,
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

/* ---- plugin objects ------------------------------------------------------ */

static json_t *str_list(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && v != NULL && v[i] != NULL; i++) {
        json_array_append_new(a, admin_jstr(v[i]));
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
    json_object_set_new(o, "name", admin_jstr(info->name));
    json_object_set_new(o, "file", admin_jstr(info->file));
    json_object_set_new(o, "state", admin_jstr(oa_state_name(info->state)));
    json_object_set_new(o, "enabled", json_boolean(info->enabled));
    json_object_set_new(o, "reason", admin_jstr(info->reason != NULL ? info->reason : ""));
    json_object_set_new(o, "version", admin_jstr(d != NULL ? d->version : NULL));
    json_object_set_new(o, "kind", admin_jstr(d != NULL ? oa_kind_name(d->kind) : NULL));
    json_object_set_new(o, "summary", admin_jstr(d != NULL ? d->summary : NULL));
    json_object_set_new(o, "license", admin_jstr(d != NULL ? d->license : NULL));
    if (d != NULL) {
        snprintf(sdk, sizeof(sdk), "%u.%u", (unsigned)d->sdk_major, (unsigned)d->sdk_minor);
    }
    json_object_set_new(o, "sdk", admin_jstr(d != NULL ? sdk : NULL));
    json_object_set_new(o, "requires", str_list(d != NULL ? d->requires : NULL));
    json_object_set_new(o, "provides", str_list(d != NULL ? d->provides : NULL));
    json_object_set_new(o, "health", admin_jstr(running ? health_name(info->health) : NULL));
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
        return admin_reply_err(req, 404, "not_found", "%s", msg);
    }
    if (rc != 0) {
        /* Refusals (a dependency is off, the plugin is disabled or was
         * rejected) are conflicts; a plugin that fails to start is its
         * own failure. */
        int refused = rc == OA_ESTATE || rc == OA_EDEPEND || rc == OA_ECYCLE ||
                      rc == OA_EBUSY || rc == OA_EEXIST;
        int ours = rc == OA_ENOMEM || rc == OA_EIO;
        return admin_reply_err(req, refused ? 409 : 500,
                               refused ? "conflict" : ours ? "internal" : "plugin_error", "%s",
                               msg[0] ? msg : oa_strerror(rc));
    }
    admin_utf8_fix(msg);
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
        json_object_set_new(o, "key", admin_jstr(def->key));
        json_object_set_new(o, "type", admin_jstr(oa_config_type_name(def->type)));
        json_object_set_new(o, "value", admin_jstr(secret ? "***" : value != NULL ? value : norm));
        json_object_set_new(o, "default", admin_jstr(norm));
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
        json_object_set_new(o, "help", admin_jstr(def->help != NULL ? def->help : ""));
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
            admin_utf8_fix(err);
            json_object_set_new(fields, key, admin_jstr(err));
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
        return admin_reply_err(req, 400, "bad_request",
                               "the body must be {\"values\": {\"<setting>\": <value>, ...}} "
                               "with at least one setting");
    }
    items = calloc(json_object_size(values), sizeof(*items));
    if (items == NULL) {
        json_decref(body);
        return admin_reply_err(req, 500, "internal", "out of memory");
    }
    if (config_check_all(h, req, desc, values, items, &n) != 0) {
        rc = OA_EINVAL;
    }
    snprintf(detail, sizeof(detail), "%s", desc->name);
    keys[0] = '\0';
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = oa_host_config_store(h, desc, items[i].key, items[i].norm, err, sizeof(err));
        if (rc != 0) {
            admin_reply_err(req, 500, "internal", "%s", err);
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
            admin_reply_err(req, 500, "plugin_error", "stored %s, but applying failed: %s", keys,
                            applied[0] ? applied : oa_strerror(rc));
        }
    }
    if (rc == 0) {
        char msg[1600];
        snprintf(msg, sizeof(msg), "stored %s; %s", keys, applied);
        admin_utf8_fix(msg);
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
        return admin_reply_err(req, 409, "conflict", "plugin '%s' was rejected: %s", name,
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
        return admin_reply_err(req, 404, "not_found",
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
        admin_reply_err(req, 404, "not_found", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    case OA_ESTATE:
        admin_reply_err(req, 409, "conflict", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    case OA_EINVAL:
    case OA_ETYPE:
    case OA_ERANGE:
        admin_reply_err(req, 400, "bad_request", "%s", out != NULL ? out : oa_strerror(rc));
        break;
    default:
        admin_reply_err(req, 500, "plugin_error", "%s", out != NULL ? out : oa_strerror(rc));
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
    const char *rest = path + strlen(ADMIN_PLUGINS_PATH);
    int n = 0;
    char *p;

    if (strncmp(path, ADMIN_PLUGINS_PATH, strlen(ADMIN_PLUGINS_PATH)) != 0 ||
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

/* Every route under /api/plugins (admin_int.h). */
int admin_on_plugins(void *arg, oa_http_req *req)
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
        return admin_reply_err(req, 404, "not_found", "no route %s", req->path);
    }
    if (!method_listed(allow, req)) {
        return reply_405(req, allow);
    }
    if (req->body_too_large) {
        return admin_reply_err(req, 413, "too_large", "the request body is larger than %zu bytes",
                               oa_http_body_limit(req->http));
    }
    if (n == 0) {
        return plugins_list(h, req);
    }
    if (!name_ok(seg[0])) {
        return admin_reply_err(req, 404, "not_found",
                               "no such plugin: names are 1 to 64 of a-z, 0-9, '_' and '-'");
    }
    if (oa_registry_info_by_name(h->reg, seg[0], &info) != 0) {
        return admin_reply_err(req, 404, "not_found", "no plugin named '%s'", seg[0]);
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
