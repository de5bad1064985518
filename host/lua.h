/* Lua automation runtime: one lua_State per script, all on the loop thread.
 * Every call into Lua goes through lua_pcall with a traceback; an
 * instruction-count hook with a wall-clock budget stops runaway code (and a
 * killed call cannot be resumed by a pcall inside the script); a capped
 * allocator bounds each script's memory; only safe libraries are opened.
 * Scripts talk to the engine through the `oa` table (docs/lua.md).
 *
 * This module knows nothing of where sources are stored: scripts.c keeps
 * them in SQLite and calls oa_lua_load/unload. */
#ifndef OA_HOST_LUA_H
#define OA_HOST_LUA_H

#include <stddef.h>
#include <stdint.h>

struct oa_host;
typedef struct oa_lua oa_lua;

typedef struct oa_lua_limits {
    uint64_t budget_ms;     /* wall-clock budget per call into Lua (default 100) */
    size_t memory_bytes;    /* per script (default 4 MiB) */
    unsigned max_failures;  /* consecutive callback errors before the script is
                               disabled (default 5) */
} oa_lua_limits;

typedef struct oa_lua_script_info {
    const char *name;
    int running;            /* loaded and not disabled by the failure policy */
    unsigned failures;      /* consecutive callback errors */
    uint64_t calls;         /* calls into the script so far */
    size_t memory_bytes;    /* in use now */
    const char *last_error; /* "" when none; "name:line: message" plus traceback */
} oa_lua_script_info;

/* Called when the failure policy disables a script (after its state is
 * closed); reason is a sentence with the last error. */
typedef void (*oa_lua_disabled_cb)(void *arg, const char *name, const char *reason);

/* Creates the runtime for host h (its loop, bus, registry, store and log).
 * limits may be NULL for the defaults. modules_dir (may be NULL) is the only
 * place `require` looks: <modules_dir>/<name>.lua, names [a-z0-9_]. */
int oa_lua_new(struct oa_host *h, const oa_lua_limits *limits, const char *modules_dir,
               oa_lua **out);
/* Unloads every script (timers and subscriptions end) and frees. */
void oa_lua_free(oa_lua *L);

/* Compiles source (text only, never bytecode) as script name and runs its
 * main chunk under the limits. On success the script replaces any running
 * script of that name (whose timers and subscriptions end) and 0 is
 * returned. On failure nothing changes — a running script of that name keeps
 * running — and err gets "name:line: message" and, for runtime errors, a
 * traceback; the code is OA_EINVAL (syntax), OA_EFAIL (runtime error),
 * OA_ETIMEDOUT (over budget) or OA_ENOMEM (over the memory cap). */
int oa_lua_load(oa_lua *L, const char *name, const char *source, char *err, size_t errlen);
/* Stops a script. OA_ENOENT when none of that name runs. */
int oa_lua_unload(oa_lua *L, const char *name);

/* What a script is doing. OA_ENOENT when unknown. Strings are valid until
 * the next call into the runtime. */
int oa_lua_info(oa_lua *L, const char *name, oa_lua_script_info *info);
/* Names of loaded scripts, in load order; count returned, up to max. */
size_t oa_lua_list(oa_lua *L, const char **names, size_t max);

void oa_lua_on_disabled(oa_lua *L, oa_lua_disabled_cb cb, void *arg);

#endif
