/* The host: owns the loop, the store, the bus and the registry, and the
 * oa_host_api table handed to plugins. */
#ifndef OA_HOST_HOST_H
#define OA_HOST_HOST_H

#include <openace/sdk.h>
#include <uv.h>

#include "auth.h"
#include "bus.h"
#include "http.h"
#include "log.h"
#include "lua.h"
#include "registry.h"
#include "scripts.h"
#include "store.h"

#define OA_HOST_VERSION "0.1.0"

/* What HTTP the host sets up. */
typedef enum oa_http_mode {
    OA_HTTP_OFF = 0,      /* offline commands */
    OA_HTTP_DISPATCH = 1, /* routes and auth without a socket (tests) */
    OA_HTTP_LISTEN = 2    /* the engine: listen on http_listen */
} oa_http_mode;

typedef struct oa_host_options {
    const char *data_dir;    /* created if missing */
    const char *plugin_dir;  /* NULL: no scan */
    const char *http_listen; /* "127.0.0.1:6878" */
    int p2p_port;            /* 8621 */
    size_t bus_capacity;     /* 0: default */
    unsigned health_interval_ms; /* 0: no health polling */
    int engine;              /* this process runs plugins: lock the data dir,
                                record live states, apply settings */
    oa_http_mode http;       /* OA_HTTP_OFF unless set */
    const char *scripts_dir; /* example scripts imported at the first start (NULL: none) */
} oa_host_options;

typedef struct oa_host {
    uv_loop_t *loop;
    uv_loop_t *own_loop; /* created by oa_host_open when none was given */
    oa_store *store;
    oa_bus *bus;
    oa_registry *reg;
    oa_http *http; /* NULL with OA_HTTP_OFF */
    oa_auth *auth; /* NULL with OA_HTTP_OFF */
    oa_lua *lua;          /* engine only, from oa_host_run to oa_host_stop */
    oa_scripts *scripts;  /* engine only, likewise */
    char *scripts_dir;
    oa_host_api api;
    char *data_dir;
    char *plugin_dir;
    char *http_listen;
    char p2p_port[16];
    uint64_t started_ms;
    unsigned health_interval_ms;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    uv_timer_t health_timer;
    int signals_on;
    int health_on;
    int stopping;
    int persist_states; /* this process runs the plugins: record live states */
    int lock_fd;        /* data directory lock while running, -1 otherwise */
} oa_host;

/* Opens the data directory and the store, creates the bus and registry,
 * and scans the plugin directory (loading and checking, not starting).
 * loop may be NULL for the default loop. On failure err has a sentence. */
int oa_host_open(oa_host *h, uv_loop_t *loop, const oa_host_options *opt, char *err,
                 size_t errlen);

/* Starts enabled plugins, publishes host.started, watches SIGINT/SIGTERM
 * and runs the loop until one arrives or oa_host_stop() is called; then stops
 * plugins in reverse order. Returns 0. */
int oa_host_run(oa_host *h);

/* mkdir -p: creates path and its missing parents with mode. Returns 0, or
 * -1 with errno set (ENAMETOOLONG past PATH_MAX). */
int oa_mkdir_p(const char *path, unsigned mode);
/* Asks a running host to stop (loop thread). */
void oa_host_stop(oa_host *h);

/* Stops plugins still running, closes every handle, the store, and (if the
 * host created it) checks the loop closes cleanly. Returns 0, or OA_EBUSY if
 * the loop still had open handles. */
int oa_host_close(oa_host *h);

/* Sets a plugin setting: validated against the schema (which needs the
 * plugin's descriptor), stored, published as config.changed and applied to
 * the plugin if it runs. On refusal nothing is stored and err names the key
 * and reason. Works offline (no running plugins) too. */
int oa_host_config_set(oa_host *h, const char *plugin, const char *key, const char *value,
                       char *err, size_t errlen);
/* The validate-store-publish part of oa_host_config_set, without applying
 * the value to a running plugin (used when a plugin sets its own value). */
int oa_host_config_store(oa_host *h, const oa_plugin_desc *desc, const char *key,
                         const char *value, char *err, size_t errlen);
/* Stored value or default. *value allocated (free()). */
int oa_host_config_get(oa_host *h, const char *plugin, const char *key, char **value,
                       char *err, size_t errlen);

/* The host API (api.c). */
void oa_api_init(oa_host *h, oa_host_api *api);
/* Host-side publish with the "host" tag. */
int oa_host_publish(oa_host *h, const char *topic, const char *json);

#endif
