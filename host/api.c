/* The oa_host_api table: what a plugin can ask of the host. Resources a
 * plugin takes through it (timers, subscriptions, work, services) are tracked
 * per plugin and released when the plugin stops. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "host.h"
#include "plugin.h"

/* ---- memory and errors ---------------------------------------------------- */

static void *api_alloc(size_t size)
{
    return malloc(size == 0 ? 1 : size);
}

static char *api_str_dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void api_free(void *p)
{
    free(p);
}

static void api_log(oa_plugin *self, oa_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    oa_log_vwrite(level, self != NULL ? self->name : "plugin", fmt, ap);
    va_end(ap);
}

static void api_set_error(oa_plugin *self, const char *fmt, ...)
{
    va_list ap;
    if (self == NULL) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(self->pending_error, sizeof(self->pending_error), fmt, ap);
    va_end(ap);
}

const char *oa_api_take_error(oa_plugin *p, char *buf, size_t len)
{
    snprintf(buf, len, "%s", p->pending_error);
    p->pending_error[0] = '\0';
    return buf;
}

/* ---- config ----------------------------------------------------------------- */

static int api_config_get(oa_plugin *self, const char *key, char **value)
{
    char err[256];
    return oa_host_config_get(self->host, self->name, key, value, err, sizeof(err));
}

static int api_config_get_int(oa_plugin *self, const char *key, int64_t *value)
{
    const oa_config_def *def = oa_config_find(self->desc->config, key);
    char *s = NULL;
    int rc;
    if (def == NULL) {
        return OA_ENOENT;
    }
    if (def->type != OA_CFG_INT) {
        return OA_ETYPE;
    }
    rc = api_config_get(self, key, &s);
    if (rc == 0) {
        *value = strtoll(s, NULL, 10);
    }
    free(s);
    return rc;
}

static int api_config_get_double(oa_plugin *self, const char *key, double *value)
{
    const oa_config_def *def = oa_config_find(self->desc->config, key);
    char *s = NULL;
    int rc;
    if (def == NULL) {
        return OA_ENOENT;
    }
    if (def->type != OA_CFG_DOUBLE && def->type != OA_CFG_INT) {
        return OA_ETYPE;
    }
    rc = api_config_get(self, key, &s);
    if (rc == 0) {
        *value = strtod(s, NULL);
    }
    free(s);
    return rc;
}

static int api_config_get_bool(oa_plugin *self, const char *key, int *value)
{
    const oa_config_def *def = oa_config_find(self->desc->config, key);
    char *s = NULL;
    int rc;
    if (def == NULL) {
        return OA_ENOENT;
    }
    if (def->type != OA_CFG_BOOL) {
        return OA_ETYPE;
    }
    rc = api_config_get(self, key, &s);
    if (rc == 0) {
        *value = strcmp(s, "true") == 0;
    }
    free(s);
    return rc;
}

static int api_config_set(oa_plugin *self, const char *key, const char *value)
{
    char err[512];
    int rc = oa_host_config_store(self->host, self->desc, key, value, err, sizeof(err));
    if (rc != 0) {
        api_set_error(self, "%s", err);
    }
    return rc;
}

/* ---- bus -------------------------------------------------------------------- */

static int api_publish(oa_plugin *self, const char *topic, const char *json)
{
    return oa_host_publish(self->host, topic, json);
}

static int api_subscribe(oa_plugin *self, const char *pattern, oa_event_cb cb, void *arg,
                         uint64_t *id)
{
    if (cb == NULL) {
        return OA_EINVAL;
    }
    return oa_bus_subscribe(self->host->bus, pattern, cb, arg, self, id);
}

static int api_unsubscribe(oa_plugin *self, uint64_t id)
{
    return oa_bus_unsubscribe(self->host->bus, id, self);
}

static struct uv_loop_s *api_loop(oa_plugin *self)
{
    return self->host->loop;
}

/* ---- timers ----------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void timer_unlink_close(oa_timer *t)
{
    oa_plugin *p = t->owner;
    if (t->closing) {
        return;
    }
    t->closing = 1;
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else if (p->timers == t) {
        p->timers = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    }
    t->prev = NULL;
    t->next = NULL;
    uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, timer_closed);
}

static void timer_fired(uv_timer_t *h)
{
    oa_timer *t = h->data;
    t->cb(t->arg, t);
    /* The callback may have stopped the timer (closing set). */
    if (!t->repeat && !t->closing) {
        timer_unlink_close(t);
    }
}

static int api_timer_start(oa_plugin *self, uint64_t timeout_ms, uint64_t repeat_ms,
                           oa_timer_cb cb, void *arg, oa_timer **timer)
{
    oa_timer *t;
    if (cb == NULL) {
        return OA_EINVAL;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return OA_ENOMEM;
    }
    if (uv_timer_init(self->host->loop, &t->handle) != 0) {
        free(t);
        return OA_EIO;
    }
    t->handle.data = t;
    t->owner = self;
    t->cb = cb;
    t->arg = arg;
    t->repeat = repeat_ms != 0;
    t->next = self->timers;
    if (self->timers != NULL) {
        self->timers->prev = t;
    }
    self->timers = t;
    uv_timer_start(&t->handle, timer_fired, timeout_ms, repeat_ms);
    if (timer != NULL) {
        *timer = t;
    }
    return 0;
}

static void api_timer_stop(oa_timer *timer)
{
    if (timer != NULL) {
        timer_unlink_close(timer);
    }
}

/* ---- work ------------------------------------------------------------------- */

typedef struct oa_work {
    uv_work_t req;
    oa_plugin *owner;
    oa_work_cb work;
    oa_after_work_cb done;
    void *arg;
} oa_work;

/* A plugin's job on a libuv worker thread. Jobs may use OpenSSL (hashing,
 * libcurl's TLS), which keeps per-thread state; libuv's threads can outlive
 * OpenSSL's cleanup at exit, and their state would then never be freed, so
 * it is released after each job (the next use makes it again). */
static void work_run(uv_work_t *req)
{
    oa_work *w = req->data;
    w->work(w->arg);
    OPENSSL_thread_stop();
}

static void work_after(uv_work_t *req, int status)
{
    oa_work *w = req->data;
    oa_plugin *p = w->owner;
    int rc = 0;
    if (status != 0 || p->state != OA_STATE_RUNNING || p->destroy_pending) {
        rc = OA_ECANCELED;
    }
    p->work_inflight--;
    if (w->done != NULL) {
        w->done(w->arg, rc);
    }
    free(w);
    oa_registry_work_drained(p);
}

static int api_queue_work(oa_plugin *self, oa_work_cb work, oa_after_work_cb done, void *arg)
{
    oa_work *w;
    if (work == NULL) {
        return OA_EINVAL;
    }
    if (self->state != OA_STATE_RUNNING && self->state != OA_STATE_STARTING) {
        return OA_ESTATE;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return OA_ENOMEM;
    }
    w->req.data = w;
    w->owner = self;
    w->work = work;
    w->done = done;
    w->arg = arg;
    if (uv_queue_work(self->host->loop, &w->req, work_run, work_after) != 0) {
        free(w);
        return OA_EIO;
    }
    self->work_inflight++;
    return 0;
}

/* ---- kv, services, misc --------------------------------------------------- */

static int api_kv_get(oa_plugin *self, const char *key, char **value, size_t *len)
{
    if (key == NULL || value == NULL) {
        return OA_EINVAL;
    }
    return oa_store_kv_get(self->host->store, self->name, key, value, len);
}

static int api_kv_set(oa_plugin *self, const char *key, const void *value, size_t len)
{
    if (key == NULL || (value == NULL && len > 0)) {
        return OA_EINVAL;
    }
    return oa_store_kv_set(self->host->store, self->name, key, value, len);
}

static int api_kv_del(oa_plugin *self, const char *key)
{
    if (key == NULL) {
        return OA_EINVAL;
    }
    return oa_store_kv_del(self->host->store, self->name, key);
}

static int api_service_register(oa_plugin *self, const char *name, uint32_t version,
                                const void *iface)
{
    return oa_registry_service_register(self->host->reg, self, name, version, iface);
}

static int api_service_unregister(oa_plugin *self, const char *name)
{
    if (name == NULL) {
        return OA_EINVAL;
    }
    return oa_registry_service_unregister(self->host->reg, self, name);
}

static const void *api_service_lookup(oa_plugin *self, const char *name, uint32_t min_version,
                                      uint32_t *version)
{
    return oa_registry_service_lookup(self->host->reg, name, min_version, version);
}

static const char *api_data_dir(oa_plugin *self)
{
    if (self->data_dir == NULL) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/plugins", self->host->data_dir);
        mkdir(path, 0750);
        snprintf(path, sizeof(path), "%s/plugins/%s", self->host->data_dir, self->name);
        if (mkdir(path, 0750) != 0 && errno != EEXIST) {
            oa_log_write(OA_LOG_WARN, self->name, "cannot create %s: %s", path, strerror(errno));
        }
        self->data_dir = strdup(path);
    }
    return self->data_dir;
}

static const char *api_host_option(oa_plugin *self, const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    if (strcmp(name, "p2p_port") == 0) {
        return self->host->p2p_port;
    }
    if (strcmp(name, "http_listen") == 0) {
        return self->host->http_listen;
    }
    if (strcmp(name, "data_dir") == 0) {
        return self->host->data_dir;
    }
    return NULL;
}

static uint64_t api_now_ms(oa_plugin *self)
{
    return uv_now(self->host->loop);
}

/* ---- HTTP (SDK 1.1) ---------------------------------------------------------- */

static int api_http_route(oa_plugin *self, const char *method, const char *path, unsigned flags,
                          oa_http_handler handler, void *arg)
{
    if (self->host->http == NULL) {
        return OA_ENOSYS;
    }
    return oa_http_route(self->host->http, self, method, path, flags, handler, arg);
}

static const char *api_http_method(oa_http_req *req)
{
    return req->method;
}

static const char *api_http_path(oa_http_req *req)
{
    return req->path;
}

static const char *api_http_body(oa_http_req *req, size_t *len)
{
    if (len != NULL) {
        *len = req->body_len;
    }
    return req->body != NULL ? req->body : "";
}

static const char *api_http_user(oa_http_req *req)
{
    return req->user[0] != '\0' ? req->user : NULL;
}

static const char *api_http_client(oa_http_req *req)
{
    return req->client;
}

void oa_api_release(oa_plugin *p)
{
    if (p->host->http != NULL) {
        oa_http_unroute_owner(p->host->http, p);
    }
    while (p->timers != NULL) {
        timer_unlink_close(p->timers);
    }
    if (p->host->bus != NULL) {
        oa_bus_unsubscribe_owner(p->host->bus, p);
    }
}

void oa_api_init(oa_host *h, oa_host_api *api)
{
    (void)h;
    memset(api, 0, sizeof(*api));
    api->size = (uint32_t)sizeof(*api);
    api->sdk_major = OA_SDK_MAJOR;
    api->sdk_minor = OA_SDK_MINOR;
    api->host_version = OA_HOST_VERSION;
    api->alloc = api_alloc;
    api->str_dup = api_str_dup;
    api->free = api_free;
    api->log = api_log;
    api->set_error = api_set_error;
    api->config_get = api_config_get;
    api->config_get_int = api_config_get_int;
    api->config_get_double = api_config_get_double;
    api->config_get_bool = api_config_get_bool;
    api->config_set = api_config_set;
    api->publish = api_publish;
    api->post = api_publish;
    api->subscribe = api_subscribe;
    api->unsubscribe = api_unsubscribe;
    api->loop = api_loop;
    api->timer_start = api_timer_start;
    api->timer_stop = api_timer_stop;
    api->queue_work = api_queue_work;
    api->kv_get = api_kv_get;
    api->kv_set = api_kv_set;
    api->kv_del = api_kv_del;
    api->service_register = api_service_register;
    api->service_unregister = api_service_unregister;
    api->service_lookup = api_service_lookup;
    api->data_dir = api_data_dir;
    api->host_option = api_host_option;
    api->now_ms = api_now_ms;
    api->http_route = api_http_route;
    api->http_method = api_http_method;
    api->http_path = api_http_path;
    api->http_query = oa_http_query;
    api->http_header = oa_http_header;
    api->http_body = api_http_body;
    api->http_user = api_http_user;
    api->http_client = api_http_client;
    api->http_set_header = oa_http_set_header;
    api->http_reply = oa_http_reply;
    api->http_stream_open = oa_http_stream_open;
    api->http_stream_write = oa_http_stream_write;
    api->http_stream_queued = oa_http_stream_queued;
    api->http_stream_end = oa_http_stream_end;
}
