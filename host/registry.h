/* Registry: the plugins the host knows, their states, their dependency
 * order and their lifecycle (enable, disable, restart at run time), plus the
 * service registry. Loop thread only. */
#ifndef OA_HOST_REGISTRY_H
#define OA_HOST_REGISTRY_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

struct oa_host;
typedef struct oa_registry oa_registry;

typedef enum oa_plugin_state {
    OA_STATE_DISCOVERED = 0, /* loaded and checked, not started yet */
    OA_STATE_REJECTED,       /* refused by the loader; see reason */
    OA_STATE_DISABLED,       /* switched off by an administrator */
    OA_STATE_STARTING,
    OA_STATE_RUNNING,
    OA_STATE_FAILED          /* init/start failed, or a dependency is missing */
} oa_plugin_state;

const char *oa_state_name(oa_plugin_state s);

/* A read-only view of one plugin (or rejected file) for listings. */
typedef struct oa_plugin_info {
    const char *name;   /* NULL for a file rejected before its name was read */
    const char *file;   /* NULL for a descriptor added without a file */
    const oa_plugin_desc *desc; /* NULL when rejected */
    oa_plugin_state state;
    const char *reason; /* last error or rejection reason; "" if none */
    int enabled;
    int health;         /* OA_HEALTH_*, or -1 when unknown */
    uint64_t crash_count;
    int order;          /* start position, -1 if not ordered */
} oa_plugin_info;

int oa_registry_new(struct oa_host *host, oa_registry **out);
/* Stops everything still running (reverse order), then frees. */
void oa_registry_free(oa_registry *reg);

/* Loads every *.so in dir that is new or changed since the last scan;
 * rejected files are kept with their reason. Then resolves dependencies.
 * Returns the number of plugins added, or a negative OA_E* if dir cannot be
 * read (then err says why). */
int oa_registry_scan(oa_registry *reg, const char *dir, char *err, size_t errlen);

/* Adds a descriptor (from a file already loaded, or built into a test).
 * file may be NULL. On refusal (bad descriptor, duplicate name) the entry is
 * kept as rejected with the reason copied into err, and a negative code is
 * returned. Call oa_registry_resolve afterwards. */
int oa_registry_add(oa_registry *reg, const char *file, const oa_plugin_desc *desc, char *err,
                    size_t errlen);
/* Records a file the loader refused. name may be NULL. */
void oa_registry_add_rejected(oa_registry *reg, const char *file, const char *name,
                              const char *reason);

/* Computes the start order. Plugins in a cycle or with a requirement nobody
 * provides become failed with a reason naming the chain. */
void oa_registry_resolve(oa_registry *reg);

/* Starts every enabled plugin in dependency order. Returns how many run. */
int oa_registry_start_all(oa_registry *reg);
/* Stops every running plugin in reverse order. */
void oa_registry_stop_all(oa_registry *reg);

/* Run-time control. Each persists the enabled flag (enable/disable) and
 * writes a sentence for the user into msg: what happened, including the
 * dependents stopped or started along the way, or why it failed. */
int oa_registry_enable(oa_registry *reg, const char *name, char *msg, size_t msglen);
int oa_registry_disable(oa_registry *reg, const char *name, char *msg, size_t msglen);
int oa_registry_restart(oa_registry *reg, const char *name, char *msg, size_t msglen);

/* Calls a plugin's command. *out receives the plugin's JSON (success) or
 * error sentence (failure), allocated; free(). */
int oa_registry_command(oa_registry *reg, const char *name, const char *command,
                        const char *json_args, char **out);

/* Asks a running plugin for its health; *detail as for the SDK callback. */
int oa_registry_health(oa_registry *reg, const char *name, char **detail);

/* Applies a new, already stored and validated setting to a running plugin:
 * configure() for OA_CFG_LIVE keys when the plugin has it, a restart
 * otherwise. Does nothing when the plugin does not run. */
int oa_registry_apply_config(oa_registry *reg, const char *name, const char *key,
                             const char *value, char *msg, size_t msglen);

/* Lookup and listing. */
oa_plugin *oa_registry_find(oa_registry *reg, const char *name);
size_t oa_registry_count(oa_registry *reg);
/* Fills info for entry i (0..count-1), in start order, then rejects. */
int oa_registry_info(oa_registry *reg, size_t i, oa_plugin_info *info);
int oa_registry_info_by_name(oa_registry *reg, const char *name, oa_plugin_info *info);

/* Services (used by the host API). */
int oa_registry_service_register(oa_registry *reg, oa_plugin *owner, const char *name,
                                 uint32_t version, const void *iface);
int oa_registry_service_unregister(oa_registry *reg, oa_plugin *owner, const char *name);
const void *oa_registry_service_lookup(oa_registry *reg, const char *name, uint32_t min_version,
                                       uint32_t *version);

#endif
