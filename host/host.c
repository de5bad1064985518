/* The host: wiring of store, bus, registry and loop; run and shutdown. */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_api.h"
#include "config.h"
#include "loader.h"
#include "plugin.h"
#ifdef OA_HAVE_WEB
#include "web/web.h"
#endif

int oa_mkdir_p(const char *path, unsigned mode)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST) {
                return -1;
            }
            buf[i] = c;
        }
    }
    return 0;
}

int oa_host_publish(oa_host *h, const char *topic, const char *json)
{
    if (h->bus == NULL) {
        return OA_ESTATE;
    }
    return oa_bus_publish(h->bus, topic, json);
}

/* Takes the data directory lock, so that two engines never share one data
 * directory. Offline commands do not take it (SQLite WAL lets them work
 * beside a running engine). */
static int take_lock(oa_host *h, char *err, size_t errlen)
{
    char path[4096];
    char pid[32];
    int fd;
    snprintf(path, sizeof(path), "%s/openace.lock", h->data_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        return OA_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t got = read(fd, pid, sizeof(pid) - 1);
        pid[got > 0 ? got : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen,
                 "data directory %s is in use by another openace (pid %s); stop it or use "
                 "another --data directory",
                 h->data_dir, pid[0] ? pid : "unknown");
        close(fd);
        return OA_EBUSY;
    }
    if (ftruncate(fd, 0) == 0) {
        int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
        if (write(fd, pid, (size_t)len) != len) {
            oa_log_write(OA_LOG_WARN, "host", "cannot write pid to %s", path);
        }
    }
    h->lock_fd = fd;
    return 0;
}

/* The listener (or a socket-less dispatcher), authentication, and the
 * host's own routes: login, admin API, admin UI. */
static int open_http(oa_host *h, const char *listen, char *err, size_t errlen)
{
    char password[64];
    int rc = oa_http_new(h->loop, listen, &h->http, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = oa_auth_new(h->store, &h->auth);
    if (rc != 0) {
        snprintf(err, errlen, "cannot set up authentication: %s", oa_strerror(rc));
        return rc;
    }
    /* Password hashing for logins runs on worker threads. */
    oa_auth_set_loop(h->auth, h->loop);
    oa_http_set_auth(h->http, oa_auth_http_check, h->auth);
    rc = oa_auth_ensure_admin(h->auth, password, sizeof(password));
    if (rc == 1) {
        /* On the console only: the log ring is readable through the API. */
        oa_log_write_private(OA_LOG_WARN, "host",
                             "created user 'admin'; its password was printed on the console",
                             "created user 'admin' with password %s (shown only this once; "
                             "change it with 'openace passwd admin')",
                             password);
    }
    rc = oa_auth_register_routes(h->auth, h->http);
    if (rc == 0) {
        rc = oa_admin_api_register(h);
    }
#ifdef OA_HAVE_WEB
    if (rc == 0) {
        rc = oa_web_register(h->http);
    }
#endif
    if (rc != 0) {
        snprintf(err, errlen, "cannot register the host's HTTP routes: %s", oa_strerror(rc));
    }
    return rc;
}

int oa_host_open(oa_host *h, uv_loop_t *loop, const oa_host_options *opt, char *err,
                 size_t errlen)
{
    char path[4096];
    int rc;

    memset(h, 0, sizeof(*h));
    h->lock_fd = -1;
    if (opt->data_dir == NULL || *opt->data_dir == '\0') {
        snprintf(err, errlen, "no data directory given");
        return OA_EINVAL;
    }
    if (loop == NULL) {
        h->own_loop = calloc(1, sizeof(uv_loop_t));
        if (h->own_loop == NULL || uv_loop_init(h->own_loop) != 0) {
            free(h->own_loop);
            h->own_loop = NULL;
            snprintf(err, errlen, "cannot create the event loop");
            return OA_ENOMEM;
        }
        loop = h->own_loop;
    }
    h->loop = loop;
    h->data_dir = strdup(opt->data_dir);
    h->http_listen = strdup(opt->http_listen ? opt->http_listen : "127.0.0.1:6878");
    h->plugin_dir = opt->plugin_dir ? strdup(opt->plugin_dir) : NULL;
    h->scripts_dir = opt->scripts_dir ? strdup(opt->scripts_dir) : NULL;
    snprintf(h->p2p_port, sizeof(h->p2p_port), "%d", opt->p2p_port > 0 ? opt->p2p_port : 8621);
    h->health_interval_ms = opt->health_interval_ms;
    h->persist_states = opt->engine;
    h->started_ms = uv_now(loop);
    oa_api_init(h, &h->api);

    if (oa_mkdir_p(h->data_dir, 0750) != 0) {
        snprintf(err, errlen, "cannot create data directory %s: %s", h->data_dir,
                 strerror(errno));
        rc = OA_EIO;
        goto fail;
    }
    if (opt->engine) {
        rc = take_lock(h, err, errlen);
        if (rc != 0) {
            goto fail;
        }
    }
    snprintf(path, sizeof(path), "%s/openace.db", h->data_dir);
    rc = oa_store_open(path, &h->store, err, errlen);
    if (rc != 0) {
        goto fail;
    }
    rc = oa_bus_new(h->loop, opt->bus_capacity, &h->bus);
    if (rc != 0) {
        snprintf(err, errlen, "cannot create the event bus: %s", oa_strerror(rc));
        goto fail;
    }
    rc = oa_registry_new(h, &h->reg);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (opt->http != OA_HTTP_OFF) {
        rc = open_http(h, opt->http == OA_HTTP_LISTEN ? h->http_listen : NULL, err, errlen);
        if (rc != 0) {
            goto fail;
        }
    }
    if (h->plugin_dir != NULL) {
        rc = oa_registry_scan(h->reg, h->plugin_dir, err, errlen);
        if (rc < 0) {
            goto fail;
        }
    }
    return 0;

fail:
    oa_host_close(h);
    return rc;
}

static void on_signal(uv_signal_t *s, int signum)
{
    oa_host *h = s->data;
    oa_log_write(OA_LOG_INFO, "host", "received %s, stopping", signum == SIGINT ? "SIGINT" : "SIGTERM");
    oa_host_stop(h);
}

static const char *health_name(int hv)
{
    return hv == OA_HEALTH_OK ? "ok" : hv == OA_HEALTH_DEGRADED ? "degraded" : "bad";
}

static void on_health_timer(uv_timer_t *t)
{
    oa_host *h = t->data;
    for (size_t i = 0; i < oa_registry_count(h->reg); i++) {
        oa_plugin_info info;
        char *detail = NULL;
        int before;
        int now;
        if (oa_registry_info(h->reg, i, &info) != 0 || info.state != OA_STATE_RUNNING) {
            continue;
        }
        before = info.health;
        now = oa_registry_health(h->reg, info.name, &detail);
        if (now >= 0 && now != before) {
            json_t *d = detail != NULL ? json_loads(detail, 0, NULL) : NULL;
            json_t *ev = json_pack("{s:s, s:s, s:o?}", "name", info.name, "health",
                                   health_name(now), "detail", d);
            char *txt = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
            if (txt != NULL) {
                oa_host_publish(h, "plugin.health", txt);
            }
            if (now != OA_HEALTH_OK) {
                oa_log_write(OA_LOG_WARN, "host", "plugin %s health: %s", info.name,
                             health_name(now));
            }
            free(txt);
            json_decref(ev);
        }
        free(detail);
    }
}

/* The Lua runtime and the stored scripts (engine only); a failure here is
 * logged and leaves the engine running without scripts. */
static void open_scripts(oa_host *h)
{
    /* Modules for require() live in <data>/lua/<name>.lua. */
    char modules[4096];
    int rc;
    snprintf(modules, sizeof(modules), "%s/lua", h->data_dir);
    if (mkdir(modules, 0750) != 0 && errno != EEXIST) {
        oa_log_write(OA_LOG_WARN, "host", "cannot create %s: %s; require() finds nothing",
                     modules, strerror(errno));
    }
    rc = oa_lua_new(h, NULL, modules, &h->lua);
    if (rc == 0) {
        rc = oa_scripts_open(h, h->lua, h->scripts_dir, &h->scripts);
    }
    if (rc == 0 && h->http != NULL) {
        rc = oa_admin_scripts_register(h, h->scripts);
    }
    if (rc != 0) {
        oa_log_write(OA_LOG_ERROR, "host", "Lua scripts are off: %s", oa_strerror(rc));
    }
}

static void close_scripts(oa_host *h)
{
    oa_scripts_close(h->scripts);
    h->scripts = NULL;
    oa_lua_free(h->lua);
    h->lua = NULL;
}

int oa_host_run(oa_host *h)
{
    char buf[256];
    int running;

    uv_signal_init(h->loop, &h->sig_int);
    uv_signal_init(h->loop, &h->sig_term);
    h->sig_int.data = h;
    h->sig_term.data = h;
    uv_signal_start(&h->sig_int, on_signal, SIGINT);
    uv_signal_start(&h->sig_term, on_signal, SIGTERM);
    h->signals_on = 1;
    if (h->health_interval_ms > 0) {
        uv_timer_init(h->loop, &h->health_timer);
        h->health_timer.data = h;
        uv_timer_start(&h->health_timer, on_health_timer, h->health_interval_ms,
                       h->health_interval_ms);
        h->health_on = 1;
    }
    h->started_ms = uv_now(h->loop);
    running = oa_registry_start_all(h->reg);
    if (h->persist_states) {
        open_scripts(h);
    }
    oa_log_write(OA_LOG_INFO, "host",
                 "openace %s (SDK %d.%d) running: %d plugin(s), data %s, http %s, p2p port %s",
                 OA_HOST_VERSION, OA_SDK_MAJOR, OA_SDK_MINOR, running, h->data_dir,
                 h->http_listen, h->p2p_port);
    snprintf(buf, sizeof(buf), "{\"version\":\"%s\",\"plugins_running\":%d}", OA_HOST_VERSION,
             running);
    oa_host_publish(h, "host.started", buf);
    if (!h->stopping) {
        uv_run(h->loop, UV_RUN_DEFAULT);
    }
    oa_host_stop(h);
    return 0;
}

static void close_quiet(uv_handle_t *hd)
{
    if (!uv_is_closing(hd)) {
        uv_close(hd, NULL);
    }
}

void oa_host_stop(oa_host *h)
{
    if (h->stopping) {
        return;
    }
    h->stopping = 1;
    if (h->bus != NULL) {
        oa_host_publish(h, "host.stopping", NULL);
        oa_bus_flush(h->bus);
    }
    /* Scripts end before plugins stop, so none reacts to the shutdown. */
    close_scripts(h);
    if (h->reg != NULL) {
        oa_registry_stop_all(h->reg);
    }
    if (h->signals_on) {
        close_quiet((uv_handle_t *)&h->sig_int);
        close_quiet((uv_handle_t *)&h->sig_term);
        h->signals_on = 0;
    }
    if (h->health_on) {
        close_quiet((uv_handle_t *)&h->health_timer);
        h->health_on = 0;
    }
    uv_stop(h->loop);
}

static void close_leftover(uv_handle_t *hd, void *arg)
{
    (void)arg;
    if (!uv_is_closing(hd)) {
        oa_log_write(OA_LOG_WARN, "host", "closing a %s handle a plugin left open",
                     uv_handle_type_name(uv_handle_get_type(hd)));
        uv_close(hd, NULL);
    }
}

int oa_host_close(oa_host *h)
{
    int rc = 0;

    if (h->loop != NULL) {
        oa_host_stop(h);
        if (h->http != NULL) {
            /* Cancel logins in flight first; the router answers them 503. */
            oa_auth_set_loop(h->auth, NULL);
            oa_http_close(h->http);
            h->http = NULL;
        }
        if (h->bus != NULL) {
            oa_bus_close(h->bus);
            h->bus = NULL;
        }
        /* Finish closes and in-flight work (destroy runs when it drains). */
        uv_run(h->loop, UV_RUN_DEFAULT);
        uv_walk(h->loop, close_leftover, NULL);
        uv_run(h->loop, UV_RUN_DEFAULT);
    }
    oa_registry_free(h->reg);
    h->reg = NULL;
    oa_auth_free(h->auth);
    h->auth = NULL;
    oa_store_close(h->store);
    h->store = NULL;
    if (h->own_loop != NULL) {
        if (uv_loop_close(h->own_loop) != 0) {
            rc = OA_EBUSY;
        } else {
            free(h->own_loop);
        }
        h->own_loop = NULL;
    }
    if (h->lock_fd >= 0) {
        close(h->lock_fd);
        h->lock_fd = -1;
    }
    free(h->data_dir);
    free(h->plugin_dir);
    free(h->scripts_dir);
    free(h->http_listen);
    h->data_dir = NULL;
    h->plugin_dir = NULL;
    h->scripts_dir = NULL;
    h->http_listen = NULL;
    h->loop = NULL;
    return rc;
}

/* ---- settings ----------------------------------------------------------- */

static const oa_plugin_desc *plugin_desc(oa_host *h, const char *plugin, char *err,
                                         size_t errlen)
{
    oa_plugin_info info;
    if (plugin == NULL || oa_registry_info_by_name(h->reg, plugin, &info) != 0) {
        snprintf(err, errlen, "no plugin named '%s'", plugin ? plugin : "");
        return NULL;
    }
    if (info.desc == NULL) {
        snprintf(err, errlen, "plugin '%s' was rejected: %s", plugin, info.reason);
        return NULL;
    }
    return info.desc;
}

static const oa_config_def *find_def(const oa_plugin_desc *d, const char *key, char *err,
                                     size_t errlen)
{
    const oa_config_def *def = oa_config_find(d->config, key);
    size_t len;
    if (def != NULL) {
        return def;
    }
    len = (size_t)snprintf(err, errlen, "plugin '%s' has no setting '%s'", d->name,
                           key ? key : "");
    for (size_t i = 0; d->config != NULL && d->config[i].key != NULL && len < errlen; i++) {
        len += (size_t)snprintf(err + len, errlen - len, "%s%s", i == 0 ? "; its settings: " : ", ",
                                d->config[i].key);
    }
    if (d->config == NULL || d->config[0].key == NULL) {
        snprintf(err + len, len < errlen ? errlen - len : 0, "; it has no settings");
    }
    return NULL;
}

int oa_host_config_get(oa_host *h, const char *plugin, const char *key, char **value, char *err,
                       size_t errlen)
{
    const oa_plugin_desc *d = plugin_desc(h, plugin, err, errlen);
    const oa_config_def *def;
    int rc;
    *value = NULL;
    if (d == NULL) {
        return OA_ENOENT;
    }
    def = find_def(d, key, err, errlen);
    if (def == NULL) {
        return OA_ENOENT;
    }
    rc = oa_store_config_get(h->store, d->name, key, value);
    if (rc == OA_ENOENT) {
        /* Defaults are validated at load, so this only normalises ("yes"
         * becomes "true"). */
        char norm[4096];
        rc = oa_config_validate(def, def->default_value, norm, sizeof(norm), err, errlen);
        *value = rc == 0 ? strdup(norm) : NULL;
        if (rc == 0 && *value == NULL) {
            rc = OA_ENOMEM;
        }
    }
    return rc;
}

int oa_host_config_store(oa_host *h, const oa_plugin_desc *desc, const char *key,
                         const char *value, char *err, size_t errlen)
{
    const oa_config_def *def = find_def(desc, key, err, errlen);
    char norm[4096];
    json_t *ev;
    char *txt;
    int rc;

    if (def == NULL) {
        return OA_ENOENT;
    }
    rc = oa_config_validate(def, value, norm, sizeof(norm), err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = oa_store_config_set(h->store, desc->name, key, norm);
    if (rc != 0) {
        snprintf(err, errlen, "cannot store setting '%s': %s", key, oa_strerror(rc));
        return rc;
    }
    snprintf(err, errlen, "%s", "");
    ev = json_pack("{s:s, s:s, s:s}", "plugin", desc->name, "key", key, "value",
                   (def->flags & OA_CFG_SECRET) ? "***" : norm);
    txt = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (txt != NULL) {
        oa_host_publish(h, "config.changed", txt);
    }
    free(txt);
    json_decref(ev);
    return 0;
}

int oa_host_config_set(oa_host *h, const char *plugin, const char *key, const char *value,
                       char *err, size_t errlen)
{
    const oa_plugin_desc *d = plugin_desc(h, plugin, err, errlen);
    char *stored = NULL;
    int rc;
    if (d == NULL) {
        return OA_ENOENT;
    }
    rc = oa_host_config_store(h, d, key, value, err, errlen);
    if (rc != 0 || !h->persist_states) {
        return rc;
    }
    if (oa_store_config_get(h->store, d->name, key, &stored) == 0) {
        rc = oa_registry_apply_config(h->reg, d->name, key, stored, err, errlen);
        if (rc != 0) {
            oa_log_write(OA_LOG_WARN, "host", "setting %s.%s stored but not applied: %s",
                         d->name, key, err);
        }
    }
    free(stored);
    return rc;
}
