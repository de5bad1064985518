/* Internal to the Lua runtime, shared by its files. Loop thread only.
 *   lua.c          states, memory cap, time budget, protected calls, load
 *                  and failure policy
 *   lua_sandbox.c  the libraries a script gets (safe subset, bounded
 *                  wrappers, require)
 *   lua_pattern.c  string.find, match, gmatch and gsub under the budget
 *   lua_api.c      the `oa` table
 *   lua_json.c     the conversion between Lua values and JSON
 *
 * The Lua headers are included as <lauxlib.h> and <lualib.h>, which bring
 * Lua's own "lua.h" from their directory: host/lua.h shadows <lua.h> on
 * the include path. */
#ifndef OA_HOST_LUA_INT_H
#define OA_HOST_LUA_INT_H

#include <jansson.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>

#include "host.h"
#include "lua.h"

#define OA_LUA_NAME_MAX 64 /* script names: 1 to 64 bytes of [A-Za-z0-9_.-] */

typedef struct oa_lua_sub oa_lua_sub;     /* one oa.on subscription (lua_api.c) */
typedef struct oa_lua_timer oa_lua_timer; /* one oa.after/oa.every timer (lua_api.c) */
typedef struct oa_lua_script oa_lua_script;

/* One loaded script. The record outlives its lua_State when the failure
 * policy disables the script (running 0, L NULL) until it is unloaded or
 * loaded again. */
struct oa_lua_script {
    oa_lua *rt;
    oa_lua_script *next; /* load order */
    char name[OA_LUA_NAME_MAX + 1];
    char tag[OA_LUA_NAME_MAX + 8]; /* "lua:<name>", the log tag */
    char scope[OA_LUA_NAME_MAX + 8]; /* "script:<name>", the store scope */
    lua_State *L;        /* NULL once closed */
    int running;         /* loaded and not disabled by the failure policy */
    int closing;         /* being torn down: no new timers or subscriptions */
    int depth;           /* calls into Lua in progress (0 or 1) */

    /* Memory (the allocator's ud is this record). */
    size_t mem_used;
    size_t mem_cap;
    int oom;             /* the allocator refused something during this call */

    /* Budget of the current call. */
    uint64_t deadline_ns; /* uv_hrtime() after which the hook kills the call */
    int killed;           /* the hook raises at every instruction until the
                             outermost call returns */
    char kill_msg[256];

    /* Failure policy and statistics. */
    unsigned failures;   /* consecutive callback errors */
    uint64_t calls;
    char *last_error;    /* NULL when none */

    /* Resources, owned by lua_api.c. */
    oa_lua_sub *subs;
    size_t nsubs;
    oa_lua_timer *timers;
    size_t ntimers;
    uint64_t next_timer_id;
};

struct oa_lua {
    oa_host *host;
    oa_lua_limits limits;
    char *modules_dir;       /* NULL: require finds nothing */
    oa_lua_script *scripts;  /* load order */
    oa_lua_disabled_cb on_disabled;
    void *on_disabled_arg;
};

/* The script a lua_State (or one of its coroutines) belongs to. */
oa_lua_script *oa_lua_script_of(lua_State *L);

/* Calls fn(ud) as a callback of script s: protected, with a traceback,
 * under the time budget, with the failure policy applied to an error (log,
 * script.error, and after limits.max_failures in a row the script is
 * disabled). fn runs as a lua_CFunction whose only argument is ud as a light
 * userdata. Returns 0 when the call ran (successfully or not; s may have
 * been freed by the disabled callback then, so the caller must not touch s
 * afterwards), or OA_ESTATE when the script is closed or already inside a
 * call, in which case nothing ran and s is untouched. */
int oa_lua_invoke(oa_lua_script *s, lua_CFunction fn, void *ud);

/* Nonzero when the current call into the script that owns L has run past
 * its time budget, or was already stopped. For C code that loops where the
 * count hook cannot reach (lua_pattern.c); cheap enough to call every few
 * thousand steps. */
int oa_lua_budget_over(lua_State *L);

/* Stops the current call of the script that owns L as the count hook does:
 * the call is marked killed, so every pcall in the script re-raises, and
 * the budget error ("name:line: stopped: the call ran longer than its N ms
 * time budget", the line of the innermost Lua function) is raised. Never
 * returns. */
int oa_lua_budget_stop(lua_State *L);

/* Opens the libraries of a script's state (lua_sandbox.c) and then the
 * `oa` table; a lua_CFunction run protected, whose only argument is the
 * script as a light userdata. */
int oa_lua_sandbox_open(lua_State *L);

/* Replaces find, match, gmatch and gsub in the global string table (which
 * string methods also reach) with the budgeted ones of lua_pattern.c. May
 * raise on out-of-memory. */
void oa_lua_pattern_open(lua_State *L);

/* The JSON form of the Lua value at idx (lua_json.c), owned by the caller,
 * or NULL with a sentence naming the offending place in err. Never raises
 * and leaves the stack as it found it. */
json_t *oa_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);

/* Pushes the Lua form of v and releases v, also when the conversion raises
 * (out of memory, the budget): then v is released first and the error
 * re-raised. JSON null becomes nil. */
void oa_lua_push_json(lua_State *L, json_t *v);

/* Installs the global `oa` table (and `print`, an alias of oa.log.info) in
 * the state of s. Raises on out-of-memory, so it runs protected. */
void oa_lua_api_open(lua_State *L, oa_lua_script *s);

/* Ends every subscription and timer of s (timers close through libuv and
 * are freed in their close callback). Calls nothing in Lua. */
void oa_lua_api_release(oa_lua_script *s);

#endif
