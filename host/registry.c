/* Registry: plugin records, their states and their lifecycle (start, stop,
 * enable, disable, restart at run time; commands, health, settings; info for
 * listings). The directory scan is in scan.c, dependencies and the start
 * order in deps.c, the service registry in service.c; registry_int.h holds
 * what these files share. */
#include "registry.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "plugin.h"
#include "registry_int.h"

/* A growing message for the user, e.g. "disabled a; also stopped b, c". */
typedef struct msgbuf {
    char *s;
    size_t len;
    size_t cap;
} msgbuf;

static void msg_add(msgbuf *m, const char *fmt, ...) OA_PRINTF(2, 3);

static void msg_add(msgbuf *m, const char *fmt, ...)
{
    va_list ap;
    int w;
    if (m == NULL || m->s == NULL || m->cap == 0 || m->len + 1 >= m->cap) {
        return;
    }
    va_start(ap, fmt);
    w = vsnprintf(m->s + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (w > 0) {
        m->len += (size_t)w;
        if (m->len >= m->cap) {
            m->len = m->cap - 1;
        }
    }
}

/* Appends name to a list labelled e.g. "stopped": "; stopped a, b". */
static void msg_item(msgbuf *m, const char *label, const char *name)
{
    char marker[32];
    if (m == NULL || m->s == NULL) {
        return;
    }
    snprintf(marker, sizeof(marker), "; %s ", label);
    msg_add(m, "%s%s", strstr(m->s, marker) != NULL ? ", " : marker, name);
}

const char *oa_state_name(oa_plugin_state s)
{
    switch (s) {
    case OA_STATE_DISCOVERED: return "discovered";
    case OA_STATE_REJECTED: return "rejected";
    case OA_STATE_DISABLED: return "disabled";
    case OA_STATE_STARTING: return "starting";
    case OA_STATE_RUNNING: return "running";
    case OA_STATE_FAILED: return "failed";
    }
    return "unknown";
}

int oa_registry_new(oa_host *host, oa_registry **out)
{
    oa_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL) {
        return OA_ENOMEM;
    }
    reg->host = host;
    *out = reg;
    return 0;
}

int reg_usable(const oa_plugin *p)
{
    return p->desc != NULL && p->state != OA_STATE_REJECTED;
}

oa_plugin *oa_registry_find(oa_registry *reg, const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < reg->n; i++) {
        if (reg_usable(reg->v[i]) && strcmp(reg->v[i]->name, name) == 0) {
            return reg->v[i];
        }
    }
    /* A rejected entry can still be named in messages and listings. */
    for (size_t i = 0; i < reg->n; i++) {
        if (strcmp(reg->v[i]->name, name) == 0) {
            return reg->v[i];
        }
    }
    return NULL;
}

/* Writes the record's current state to the store (best effort). */
static void persist(oa_registry *reg, oa_plugin *p)
{
    oa_plugin_row row;
    char file[600];
    if (reg->host == NULL || reg->host->store == NULL) {
        return;
    }
    memset(&row, 0, sizeof(row));
    if (p->file != NULL) {
        row.file = p->file;
    } else {
        snprintf(file, sizeof(file), "(built-in)/%s", p->name);
        row.file = file;
    }
    row.name = p->name[0] ? p->name : NULL;
    if (p->desc != NULL) {
        row.version = (char *)p->desc->version;
        row.kind = (char *)oa_kind_name(p->desc->kind);
        row.summary = (char *)p->desc->summary;
        row.sdk_major = (int)p->desc->sdk_major;
        row.sdk_minor = (int)p->desc->sdk_minor;
    }
    row.state = (char *)oa_state_name(p->state);
    row.last_error = p->reason;
    row.enabled = p->enabled;
    if (p->file != NULL) {
        struct stat st;
        if (stat(p->file, &st) == 0) {
            row.mtime = (int64_t)st.st_mtime;
            row.size = (int64_t)st.st_size;
        }
    }
    oa_store_plugin_row_put(reg->host->store, &row);
}

void reg_set_state(oa_registry *reg, oa_plugin *p, oa_plugin_state s, const char *reason)
{
    json_t *ev;
    char *txt;
    oa_plugin_state old = p->state;

    p->state = s;
    if (reason != NULL) {
        snprintf(p->reason, sizeof(p->reason), "%s", reason);
    }
    if (reg->host != NULL && reg->host->persist_states) {
        persist(reg, p);
    }
    if (old == s && reason == NULL) {
        return;
    }
    if (s == OA_STATE_FAILED || s == OA_STATE_REJECTED) {
        oa_log_write(OA_LOG_WARN, "host", "plugin %s%s%s: %s", p->name[0] ? p->name : "",
                     p->name[0] ? " " : "", oa_state_name(s), p->reason);
    } else {
        oa_log_write(OA_LOG_INFO, "host", "plugin %s: %s%s%s%s", p->name, oa_state_name(s),
                     p->reason[0] ? " (" : "", p->reason, p->reason[0] ? ")" : "");
    }
    if (reg->host == NULL || reg->host->bus == NULL) {
        return;
    }
    ev = json_pack("{s:s?, s:s?, s:s, s:s, s:b}", "name", p->name[0] ? p->name : NULL, "file",
                   p->file, "state", oa_state_name(s), "reason", p->reason, "enabled",
                   p->enabled);
    txt = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (txt != NULL) {
        oa_host_publish(reg->host, "plugin.state", txt);
    }
    free(txt);
    json_decref(ev);
}

static int grow(oa_registry *reg)
{
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 16;
        oa_plugin **v = realloc(reg->v, cap * sizeof(*v));
        oa_plugin **l = realloc(reg->list, cap * sizeof(*l));
        if (v != NULL) {
            reg->v = v;
        }
        if (l != NULL) {
            reg->list = l;
        }
        if (v == NULL || l == NULL) {
            return OA_ENOMEM;
        }
        reg->cap = cap;
    }
    return 0;
}

static oa_plugin *new_record(oa_registry *reg, const char *file)
{
    oa_plugin *p;
    if (grow(reg) != 0) {
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    if (file != NULL) {
        p->file = strdup(file);
        if (p->file == NULL) {
            free(p);
            return NULL;
        }
    }
    p->host = reg->host;
    p->order = -1;
    p->health = -1;
    reg->v[reg->n++] = p;
    reg->list[reg->nlist++] = p;
    return p;
}

void oa_registry_add_rejected(oa_registry *reg, const char *file, const char *name,
                              const char *reason)
{
    oa_plugin *p = new_record(reg, file);
    if (p == NULL) {
        return;
    }
    if (name != NULL) {
        snprintf(p->name, sizeof(p->name), "%s", name);
    }
    p->enabled = 1;
    if (name != NULL && reg->host != NULL && reg->host->store != NULL) {
        oa_store_plugin_enabled_get(reg->host->store, name, &p->enabled);
    }
    p->state = OA_STATE_DISCOVERED;
    reg_set_state(reg, p, OA_STATE_REJECTED, reason);
    if (reg->host != NULL && reg->host->store != NULL && !reg->host->persist_states) {
        /* Rejections are recorded offline too: none is silent. */
        persist(reg, p);
    }
}

int oa_registry_add(oa_registry *reg, const char *file, const oa_plugin_desc *desc, char *err,
                    size_t errlen)
{
    char why[512];
    oa_plugin *p;
    int rc = oa_loader_check_desc(desc, why, sizeof(why));

    if (rc != 0) {
        snprintf(err, errlen, "%s", why);
        oa_registry_add_rejected(reg, file, NULL, why);
        return rc;
    }
    for (size_t i = 0; i < reg->n; i++) {
        oa_plugin *o = reg->v[i];
        if (reg_usable(o) && strcmp(o->name, desc->name) == 0) {
            snprintf(why, sizeof(why), "duplicate plugin name '%s': already loaded from %s",
                     desc->name, o->file ? o->file : "a built-in descriptor");
            snprintf(err, errlen, "%s", why);
            oa_registry_add_rejected(reg, file, desc->name, why);
            return OA_EEXIST;
        }
    }
    p = new_record(reg, file);
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    p->desc = desc;
    snprintf(p->name, sizeof(p->name), "%s", desc->name);
    p->enabled = 1;
    if (reg->host != NULL && reg->host->store != NULL) {
        oa_plugin_row row;
        oa_store_plugin_enabled_get(reg->host->store, desc->name, &p->enabled);
        if (file != NULL && oa_store_plugin_row_by_file(reg->host->store, file, &row) == 0) {
            p->crash_count = (uint64_t)row.crash_count;
            oa_store_plugin_row_free(&row);
        } else if (!reg->host->persist_states) {
            /* Offline: record a file the store has not seen yet. */
            p->state = p->enabled ? OA_STATE_DISCOVERED : OA_STATE_DISABLED;
            persist(reg, p);
        }
    }
    reg_set_state(reg, p, p->enabled ? OA_STATE_DISCOVERED : OA_STATE_DISABLED, "");
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void destroy_instance(oa_plugin *p)
{
    if (p->has_inst) {
        p->has_inst = 0;
        p->destroy_pending = 0;
        p->desc->destroy(p->inst);
        p->inst = NULL;
    }
}

void oa_registry_work_drained(oa_plugin *p)
{
    if (p->destroy_pending && p->work_inflight == 0) {
        destroy_instance(p);
    }
}

static void record_failure(oa_registry *reg, oa_plugin *p, const char *what, int rc)
{
    char why[512];
    char extra[400];
    oa_api_take_error(p, extra, sizeof(extra));
    snprintf(why, sizeof(why), "%s failed: %s", what, extra[0] ? extra : oa_strerror(rc));
    p->crash_count++;
    if (reg->host != NULL && reg->host->store != NULL) {
        oa_store_plugin_crash_inc(reg->host->store, p->name);
    }
    reg_set_state(reg, p, OA_STATE_FAILED, why);
}

/* Starts one plugin whose dependencies run. Returns 0 or a negative code,
 * with the reason in p->reason. */
static int start_one(oa_registry *reg, oa_plugin *p)
{
    char why[512];
    int rc;

    if (p->state == OA_STATE_RUNNING) {
        return 0;
    }
    if (!reg_usable(p)) {
        return OA_ESTATE;
    }
    if (p->destroy_pending) {
        reg_set_state(reg, p, p->state, "still finishing background work from its last run");
        return OA_EBUSY;
    }
    if (p->cycle) {
        reg_set_state(reg, p, OA_STATE_FAILED, NULL);
        return OA_ECYCLE;
    }
    if (!reg_deps_running(reg, p, why, sizeof(why))) {
        p->dep_wait = 1;
        reg_set_state(reg, p, OA_STATE_FAILED, why);
        return OA_EDEPEND;
    }
    p->dep_wait = 0;
    reg_set_state(reg, p, OA_STATE_STARTING, "");
    p->pending_error[0] = '\0';
    p->inst = NULL;
    rc = p->desc->init(p, &reg->host->api, &p->inst);
    if (rc != 0) {
        oa_api_release(p);
        reg_unregister_services(reg, p);
        record_failure(reg, p, "init", rc);
        return rc < 0 ? rc : OA_EFAIL;
    }
    p->has_inst = 1;
    rc = p->desc->start(p->inst);
    if (rc != 0) {
        oa_api_release(p);
        reg_unregister_services(reg, p);
        record_failure(reg, p, "start", rc);
        if (p->work_inflight > 0) {
            p->destroy_pending = 1;
        } else {
            destroy_instance(p);
        }
        return rc < 0 ? rc : OA_EFAIL;
    }
    reg_set_state(reg, p, OA_STATE_RUNNING, "");
    return 0;
}

/* Stops p (and first, every running plugin that needs it) and leaves it in
 * state s with reason. Dependents stopped are named in m. */
static void stop_one(oa_registry *reg, oa_plugin *p, oa_plugin_state s, const char *reason,
                     msgbuf *m)
{
    if (p->state == OA_STATE_RUNNING) {
        /* Dependents first, latest in start order first. */
        for (int k = (int)reg->nlist - 1; k >= 0; k--) {
            oa_plugin *q = reg->list[k];
            if (q != p && q->state == OA_STATE_RUNNING && reg_depends_on(reg, q, p)) {
                char why[512];
                snprintf(why, sizeof(why), "requires '%s', which %s", p->name,
                         s == OA_STATE_DISABLED ? "was disabled" : "was stopped");
                stop_one(reg, q, OA_STATE_FAILED, why, m);
                q->dep_wait = 1;
                msg_item(m, "stopped", q->name);
            }
        }
        p->desc->stop(p->inst);
        oa_api_release(p);
        reg_unregister_services(reg, p);
        if (p->work_inflight > 0) {
            p->destroy_pending = 1;
        } else {
            destroy_instance(p);
        }
    }
    reg_set_state(reg, p, s, reason);
}

/* Starts enabled plugins that were waiting for a dependency. Names them in m. */
static void start_waiting(oa_registry *reg, msgbuf *m)
{
    int progress = 1;
    while (progress) {
        progress = 0;
        for (size_t k = 0; k < reg->nlist; k++) {
            oa_plugin *p = reg->list[k];
            char why[512];
            if (!reg_usable(p) || !p->enabled || p->state == OA_STATE_RUNNING || p->cycle ||
                p->destroy_pending || !p->dep_wait || !reg_deps_running(reg, p, why, sizeof(why))) {
                continue;
            }
            if (start_one(reg, p) == 0) {
                msg_item(m, "started", p->name);
                progress = 1;
            }
        }
    }
}

int oa_registry_start_all(oa_registry *reg)
{
    int running = 0;
    for (size_t k = 0; k < reg->nlist; k++) {
        oa_plugin *p = reg->list[k];
        if (!reg_usable(p)) {
            continue;
        }
        if (!p->enabled) {
            reg_set_state(reg, p, OA_STATE_DISABLED, NULL);
            continue;
        }
        if (start_one(reg, p) == 0) {
            running++;
        }
    }
    return running;
}

void oa_registry_stop_all(oa_registry *reg)
{
    for (int k = (int)reg->nlist - 1; k >= 0; k--) {
        oa_plugin *p = reg->list[k];
        if (p->state == OA_STATE_RUNNING) {
            stop_one(reg, p, p->enabled ? OA_STATE_DISCOVERED : OA_STATE_DISABLED, "host stopped",
                     NULL);
        }
    }
}

static oa_plugin *find_usable(oa_registry *reg, const char *name, msgbuf *m, int *rc)
{
    oa_plugin *p = oa_registry_find(reg, name);
    if (p == NULL) {
        msg_add(m, "no plugin named '%s'", name ? name : "");
        *rc = OA_ENOENT;
        return NULL;
    }
    if (!reg_usable(p)) {
        msg_add(m, "plugin '%s' was rejected: %s", p->name, p->reason);
        *rc = OA_ESTATE;
        return NULL;
    }
    return p;
}

static int set_enabled(oa_registry *reg, oa_plugin *p, int on, msgbuf *m)
{
    if (reg->host != NULL && reg->host->store != NULL) {
        int rc = oa_store_plugin_enabled_set(reg->host->store, p->name, on);
        if (rc != 0) {
            msg_add(m, "cannot store the setting for '%s': %s", p->name, oa_strerror(rc));
            return rc;
        }
    }
    p->enabled = on;
    return 0;
}

int oa_registry_enable(oa_registry *reg, const char *name, char *msg, size_t msglen)
{
    msgbuf m = {msg, 0, msglen};
    int rc = 0;
    oa_plugin *p;

    if (msg != NULL && msglen > 0) {
        msg[0] = '\0';
    }
    p = find_usable(reg, name, &m, &rc);
    if (p == NULL) {
        return rc;
    }
    rc = set_enabled(reg, p, 1, &m);
    if (rc != 0) {
        return rc;
    }
    if (p->state == OA_STATE_RUNNING) {
        msg_add(&m, "plugin '%s' is already running", p->name);
        return 0;
    }
    rc = start_one(reg, p);
    if (rc != 0) {
        msg_add(&m, "plugin '%s' is enabled but did not start: %s", p->name, p->reason);
        return rc;
    }
    msg_add(&m, "enabled and started '%s'", p->name);
    start_waiting(reg, &m);
    return 0;
}

int oa_registry_disable(oa_registry *reg, const char *name, char *msg, size_t msglen)
{
    msgbuf m = {msg, 0, msglen};
    int rc = 0;
    oa_plugin *p;

    if (msg != NULL && msglen > 0) {
        msg[0] = '\0';
    }
    p = find_usable(reg, name, &m, &rc);
    if (p == NULL) {
        return rc;
    }
    rc = set_enabled(reg, p, 0, &m);
    if (rc != 0) {
        return rc;
    }
    msg_add(&m, "disabled '%s'", p->name);
    stop_one(reg, p, OA_STATE_DISABLED, "disabled by an administrator", &m);
    if (msg != NULL && strstr(msg, "; stopped ") != NULL) {
        msg_add(&m, " (they require it)");
    }
    return 0;
}

int oa_registry_restart(oa_registry *reg, const char *name, char *msg, size_t msglen)
{
    msgbuf m = {msg, 0, msglen};
    int rc = 0;
    oa_plugin *p;

    if (msg != NULL && msglen > 0) {
        msg[0] = '\0';
    }
    p = find_usable(reg, name, &m, &rc);
    if (p == NULL) {
        return rc;
    }
    if (!p->enabled) {
        msg_add(&m, "plugin '%s' is disabled; enable it instead", p->name);
        return OA_ESTATE;
    }
    msg_add(&m, "restarted '%s'", p->name);
    stop_one(reg, p, OA_STATE_DISCOVERED, "restarting", &m);
    rc = start_one(reg, p);
    if (rc != 0) {
        m.len = 0;
        msg_add(&m, "plugin '%s' did not start again: %s", p->name, p->reason);
        return rc;
    }
    start_waiting(reg, &m);
    return 0;
}

int oa_registry_command(oa_registry *reg, const char *name, const char *command,
                        const char *json_args, char **out)
{
    oa_plugin *p = oa_registry_find(reg, name);
    char errbuf[512];
    char *res = NULL;
    json_t *chk;
    int rc;

    *out = NULL;
    if (p == NULL || !reg_usable(p)) {
        snprintf(errbuf, sizeof(errbuf), "no plugin named '%s'", name ? name : "");
        *out = strdup(errbuf);
        return OA_ENOENT;
    }
    if (p->state != OA_STATE_RUNNING) {
        snprintf(errbuf, sizeof(errbuf), "plugin '%s' is not running (%s)", p->name,
                 oa_state_name(p->state));
        *out = strdup(errbuf);
        return OA_ESTATE;
    }
    if (!OA_DESC_HAS(p->desc, command) || p->desc->command == NULL) {
        snprintf(errbuf, sizeof(errbuf), "plugin '%s' has no commands", p->name);
        *out = strdup(errbuf);
        return OA_ENOSYS;
    }
    if (command == NULL || *command == '\0') {
        *out = strdup("no command name given");
        return OA_EINVAL;
    }
    if (json_args == NULL || *json_args == '\0') {
        json_args = "{}";
    }
    chk = json_loads(json_args, JSON_DECODE_ANY, NULL);
    if (chk == NULL) {
        *out = strdup("command arguments are not valid JSON");
        return OA_EINVAL;
    }
    json_decref(chk);
    p->pending_error[0] = '\0';
    rc = p->desc->command(p->inst, command, json_args, &res);
    if (rc != 0) {
        if (res == NULL) {
            char extra[512];
            oa_api_take_error(p, extra, sizeof(extra));
            if (extra[0] == '\0' && rc == OA_ENOTFOUND) {
                snprintf(extra, sizeof(extra), "plugin '%s' has no command '%s'", p->name,
                         command);
            }
            res = strdup(extra[0] ? extra : oa_strerror(rc));
        }
        *out = res;
        return rc < 0 ? rc : OA_EFAIL;
    }
    if (res == NULL) {
        res = strdup("{}");
    }
    chk = res != NULL ? json_loads(res, JSON_DECODE_ANY, NULL) : NULL;
    if (chk == NULL) {
        free(res);
        snprintf(errbuf, sizeof(errbuf), "plugin '%s' answered command '%s' with invalid JSON",
                 p->name, command);
        *out = strdup(errbuf);
        return OA_EPROTO;
    }
    json_decref(chk);
    *out = res;
    return 0;
}

int oa_registry_health(oa_registry *reg, const char *name, char **detail)
{
    oa_plugin *p = oa_registry_find(reg, name);
    int h;
    *detail = NULL;
    if (p == NULL || !reg_usable(p)) {
        return OA_ENOENT;
    }
    if (p->state != OA_STATE_RUNNING) {
        return OA_ESTATE;
    }
    if (!OA_DESC_HAS(p->desc, health) || p->desc->health == NULL) {
        p->health = OA_HEALTH_OK;
        return OA_HEALTH_OK;
    }
    h = p->desc->health(p->inst, detail);
    if (h < OA_HEALTH_OK || h > OA_HEALTH_BAD) {
        h = OA_HEALTH_BAD;
    }
    p->health = h;
    return h;
}

int oa_registry_apply_config(oa_registry *reg, const char *name, const char *key,
                             const char *value, char *msg, size_t msglen)
{
    oa_plugin *p = oa_registry_find(reg, name);
    const oa_config_def *def;
    int rc;

    if (msg != NULL && msglen > 0) {
        msg[0] = '\0';
    }
    if (p == NULL || !reg_usable(p) || p->state != OA_STATE_RUNNING) {
        return 0;
    }
    def = oa_config_find(p->desc->config, key);
    if (def != NULL && (def->flags & OA_CFG_LIVE) && OA_DESC_HAS(p->desc, configure) &&
        p->desc->configure != NULL) {
        rc = p->desc->configure(p->inst, key, value);
        if (rc == 0) {
            snprintf(msg, msglen, "applied to '%s' while running", p->name);
            return 0;
        }
    }
    return oa_registry_restart(reg, name, msg, msglen);
}

size_t oa_registry_count(oa_registry *reg)
{
    return reg->nlist;
}

static void fill_info(oa_plugin *p, oa_plugin_info *info)
{
    info->name = p->name[0] ? p->name : NULL;
    info->file = p->file;
    info->desc = reg_usable(p) ? p->desc : NULL;
    info->state = p->state;
    info->reason = p->reason;
    info->enabled = p->enabled;
    info->health = p->health;
    info->crash_count = p->crash_count;
    info->order = p->order;
}

int oa_registry_info(oa_registry *reg, size_t i, oa_plugin_info *info)
{
    if (i >= reg->nlist) {
        return OA_ENOENT;
    }
    fill_info(reg->list[i], info);
    return 0;
}

int oa_registry_info_by_name(oa_registry *reg, const char *name, oa_plugin_info *info)
{
    oa_plugin *p = oa_registry_find(reg, name);
    if (p == NULL) {
        return OA_ENOENT;
    }
    fill_info(p, info);
    return 0;
}

void oa_registry_free(oa_registry *reg)
{
    if (reg == NULL) {
        return;
    }
    oa_registry_stop_all(reg);
    for (size_t i = 0; i < reg->n; i++) {
        oa_plugin *p = reg->v[i];
        /* Work still in flight at process end: the loop is gone, so destroy
         * now; the work callbacks can no longer run. */
        destroy_instance(p);
        free(p->file);
        free(p->data_dir);
        free(p);
    }
    free(reg->v);
    free(reg->list);
    free(reg->svc);
    free(reg);
}
