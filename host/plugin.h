/* The host's record of one plugin: the SDK's opaque oa_plugin. Shared by the
 * registry (lifecycle) and the API (resources the plugin holds). */
#ifndef OA_HOST_PLUGIN_H
#define OA_HOST_PLUGIN_H

#include <openace/sdk.h>
#include <uv.h>

#include "registry.h"

struct oa_host;

struct oa_timer {
    uv_timer_t handle;
    oa_plugin *owner;
    oa_timer_cb cb;
    void *arg;
    int repeat;
    int closing;
    struct oa_timer *prev;
    struct oa_timer *next;
};

struct oa_plugin {
    struct oa_host *host;
    char *file;                 /* NULL for a descriptor added without a file */
    const oa_plugin_desc *desc; /* NULL when rejected before it was readable */
    char name[65];              /* "" when unknown */
    oa_plugin_state state;
    int enabled;
    int order;                  /* start position; -1 when not ordered */
    int cycle;                  /* part of a dependency cycle */
    int dep_wait;               /* not running for want of a dependency */
    int health;                 /* last OA_HEALTH_*, -1 unknown */
    uint64_t crash_count;
    char reason[512];           /* last error or rejection reason */
    char pending_error[512];    /* set_error() text for the next failure */

    void *inst;                 /* state from init() */
    int has_inst;               /* init succeeded, destroy not yet called */
    int destroy_pending;        /* stopped; destroy waits for work */
    unsigned work_inflight;
    struct oa_timer *timers;
    char *data_dir;
};

/* Implemented in api.c: releases the timers and subscriptions a plugin
 * holds (after stop()). */
void oa_api_release(oa_plugin *p);
/* Takes (and clears) the plugin's set_error() text, or "" if none. */
const char *oa_api_take_error(oa_plugin *p, char *buf, size_t len);
/* Implemented in registry.c: called by api.c when the last in-flight work of
 * a stopped plugin has finished, so that destroy() can run. */
void oa_registry_work_drained(oa_plugin *p);

#endif
