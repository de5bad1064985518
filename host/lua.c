/* The Lua runtime: one lua_State per script, all on the loop thread.
 *
 * Memory: each state gets its own allocator (cap_alloc) that counts what the
 * state holds and refuses growth past limits.memory_bytes; Lua then raises
 * "not enough memory" inside the script.
 *
 * Time: a count hook runs every HOOK_COUNT instructions and compares
 * uv_hrtime() with the deadline of the current call. Past it, the script is
 * killed: the hook raises, and from then on it fires at every instruction
 * of every coroutine it reaches and raises again, so a pcall in the script
 * cannot swallow the kill; the flag is cleared when the next outermost call
 * starts. C code that loops out of the hook's reach (the pattern matcher)
 * checks oa_lua_budget_over itself and stops the call the same way through
 * oa_lua_budget_stop. Lua turns hooks off while a __gc finalizer runs, so
 * scripts may not install finalizers (setmetatable refuses a __gc field);
 * and it runs a message handler raised from a hook with hooks off, so
 * xpcall runs its handler after the error has unwound instead.
 *
 * Calls: every call into Lua is lua_pcall with a message handler that adds
 * a traceback. Data that C must release (JSON trees, malloc'd strings)
 * never crosses a point where Lua may raise; see lua_api.c.
 *
 * Sandbox: the libraries a state gets are set up in lua_sandbox.c. */
#include "lua_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_COUNT 1000
#define DEFAULT_BUDGET_MS 100
#define BUDGET_MAX_MS (24u * 3600u * 1000u)
#define DEFAULT_MEMORY ((size_t)4 << 20)
#define DEFAULT_MAX_FAILURES 5
#define ERR_MAX 4096

/* ---- memory --------------------------------------------------------------- */

/* The lua_Alloc of every script state: realloc with accounting and a cap.
 * Shrinking never fails (Lua relies on that). */
static void *cap_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    oa_lua_script *s = ud;
    size_t old = ptr != NULL ? osize : 0;
    void *p;

    if (nsize == 0) {
        free(ptr);
        s->mem_used -= old;
        return NULL;
    }
    if (nsize > old && (nsize > s->mem_cap || s->mem_used - old > s->mem_cap - nsize)) {
        s->oom = 1;
        return NULL;
    }
    p = realloc(ptr, nsize);
    if (p == NULL) {
        if (nsize <= old) {
            return ptr;
        }
        s->oom = 1;
        return NULL;
    }
    s->mem_used = s->mem_used - old + nsize;
    return p;
}

oa_lua_script *oa_lua_script_of(lua_State *L)
{
    void *ud = NULL;
    lua_getallocf(L, &ud);
    return ud;
}

static int on_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    oa_log_write(OA_LOG_ERROR, "host", "unprotected error in a Lua script: %s", msg);
    abort();
    return 0;
}

/* ---- time budget ---------------------------------------------------------- */

/* Marks the current call of s killed, with the budget error in kill_msg
 * naming the line ar is at (or only the script when ar is NULL or has no
 * line). */
static void budget_kill(oa_lua_script *s, const lua_Debug *ar)
{
    s->killed = 1;
    if (ar != NULL && ar->currentline > 0) {
        snprintf(s->kill_msg, sizeof(s->kill_msg),
                 "%s:%d: stopped: the call ran longer than its %llu ms time budget",
                 ar->short_src, ar->currentline, (unsigned long long)s->rt->limits.budget_ms);
    } else {
        snprintf(s->kill_msg, sizeof(s->kill_msg),
                 "%s: stopped: the call ran longer than its %llu ms time budget", s->name,
                 (unsigned long long)s->rt->limits.budget_ms);
    }
}

static void budget_hook(lua_State *L, lua_Debug *ar)
{
    oa_lua_script *s = oa_lua_script_of(L);

    if (!s->killed) {
        if (uv_hrtime() < s->deadline_ns) {
            if (lua_gethookcount(L) != HOOK_COUNT) {
                /* A coroutine left at 1 by an earlier kill. */
                lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_COUNT);
            }
            return;
        }
        budget_kill(s, lua_getinfo(L, "Sl", ar) != 0 ? ar : NULL);
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    lua_pushstring(L, s->kill_msg);
    lua_error(L);
}

int oa_lua_budget_over(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);

    return s->killed || uv_hrtime() >= s->deadline_ns;
}

int oa_lua_budget_stop(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    lua_Debug ar;

    if (!s->killed) {
        /* The line of the innermost Lua function: level 0 is the C
         * function that is stopping, and pcall levels have no line. */
        int level = 1;
        int found = 0;
        while (!found && lua_getstack(L, level, &ar) != 0) {
            found = lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0;
            level++;
        }
        budget_kill(s, found ? &ar : NULL);
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
    lua_pushstring(L, s->kill_msg);
    return lua_error(L);
}

/* Starts the budget of an outermost call. */
static void budget_start(oa_lua_script *s)
{
    s->deadline_ns = uv_hrtime() + s->rt->limits.budget_ms * 1000000u;
    s->killed = 0;
    s->oom = 0;
    lua_sethook(s->L, budget_hook, LUA_MASKCOUNT, HOOK_COUNT);
}

/* ---- protected calls ------------------------------------------------------ */

/* Message handler: the error text plus a traceback. */
static int message_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
            msg = lua_tostring(L, -1);
        } else {
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        }
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* The error object on top of the stack as text, without converting it
 * (which could allocate outside protection). */
static const char *error_text(lua_State *L)
{
    if (lua_type(L, -1) == LUA_TSTRING) {
        return lua_tostring(L, -1);
    }
    return "(error object is not a string)";
}

/* The length of the UTF-8 sequence lead byte c starts, 0 if none. */
static size_t utf8_lead(unsigned char c)
{
    if (c < 0x80) {
        return 1;
    }
    if ((c & 0xE0) == 0xC0) {
        return 2;
    }
    if ((c & 0xF0) == 0xE0) {
        return 3;
    }
    return (c & 0xF8) == 0xF0 ? 4 : 0;
}

/* Replaces every byte that is not part of well-formed UTF-8 (no overlong
 * forms, surrogates or code points past U+10FFFF) with '?', so that error
 * text can travel in JSON (the bus, the admin API). */
static void utf8_scrub(char *text)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char *p = (unsigned char *)text;

    while (*p != '\0') {
        size_t n = utf8_lead(p[0]);
        uint32_t cp = n <= 1 ? p[0] : p[0] & (0x7Fu >> n);
        size_t i = 1;

        while (i < n && (p[i] & 0xC0) == 0x80) {
            cp = (cp << 6) | (p[i] & 0x3Fu);
            i++;
        }
        if (n == 0 || i < n || cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            *p = '?';
            n = 1;
        }
        p += n;
    }
}

/* Calls the function below the nargs arguments on top of s's stack,
 * protected and under the budget, and pops them. Returns 0, or OA_EFAIL,
 * OA_ETIMEDOUT or OA_ENOMEM with err set to "name:line: message" and, when
 * there is one, a traceback. */
static int protected_call(oa_lua_script *s, int nargs, char *err, size_t errlen)
{
    lua_State *L = s->L;
    int base = lua_gettop(L) - nargs;
    int status;
    int rc = 0;

    lua_pushcfunction(L, message_handler);
    lua_insert(L, base);
    if (s->depth == 0) {
        budget_start(s);
    }
    s->depth++;
    s->calls++;
    status = lua_pcall(L, nargs, 0, base);
    s->depth--;
    if (status != LUA_OK) {
        if (s->killed) {
            rc = OA_ETIMEDOUT;
            if (lua_type(L, -1) == LUA_TSTRING && status != LUA_ERRERR) {
                snprintf(err, errlen, "%s", lua_tostring(L, -1));
            } else {
                snprintf(err, errlen, "%s", s->kill_msg);
            }
        } else if (status == LUA_ERRMEM || (status == LUA_ERRERR && s->oom)) {
            rc = OA_ENOMEM;
            snprintf(err, errlen, "%s: not enough memory: the script may use at most %zu KiB",
                     s->name, s->mem_cap / 1024);
        } else {
            rc = OA_EFAIL;
            snprintf(err, errlen, "%s", error_text(L));
        }
    }
    if (s->depth == 0) {
        s->killed = 0;
    }
    if (rc != 0) {
        utf8_scrub(err);
    }
    lua_settop(L, base - 1);
    return rc;
}

/* ---- scripts -------------------------------------------------------------- */

static int name_valid(const char *name)
{
    size_t len = name != NULL ? strlen(name) : 0;
    if (len == 0 || len > OA_LUA_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.')) {
            return 0;
        }
    }
    return 1;
}

static oa_lua_script *find_script(oa_lua *rt, const char *name)
{
    for (oa_lua_script *s = rt->scripts; s != NULL; s = s->next) {
        if (strcmp(s->name, name) == 0) {
            return s;
        }
    }
    return NULL;
}

/* Ends the script's timers and subscriptions and closes its state. */
static void script_close(oa_lua_script *s)
{
    if (s->L == NULL) {
        return;
    }
    s->closing = 1;
    s->running = 0;
    oa_lua_api_release(s);
    lua_close(s->L);
    s->L = NULL;
}

static void script_free(oa_lua_script *s)
{
    script_close(s);
    free(s->last_error);
    free(s);
}

/* A new record with an open sandboxed state, not linked into the runtime. */
static int script_new(oa_lua *rt, const char *name, oa_lua_script **out, char *err,
                      size_t errlen)
{
    oa_lua_script *s = calloc(1, sizeof(*s));
    int status;

    if (s == NULL) {
        snprintf(err, errlen, "%s: out of memory", name);
        return OA_ENOMEM;
    }
    s->rt = rt;
    s->mem_cap = rt->limits.memory_bytes;
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->tag, sizeof(s->tag), "lua:%s", name);
    snprintf(s->scope, sizeof(s->scope), "script:%s", name);
    s->L = lua_newstate(cap_alloc, s);
    if (s->L == NULL) {
        snprintf(err, errlen, "%s: not enough memory to create a Lua state", name);
        free(s);
        return OA_ENOMEM;
    }
    lua_atpanic(s->L, on_panic);
    lua_sethook(s->L, budget_hook, LUA_MASKCOUNT, HOOK_COUNT);
    lua_pushcfunction(s->L, oa_lua_sandbox_open);
    lua_pushlightuserdata(s->L, s);
    budget_start(s);
    status = lua_pcall(s->L, 1, 0, 0);
    if (status != LUA_OK) {
        snprintf(err, errlen, "%s: cannot set up the script: %s", name,
                 status == LUA_ERRMEM ? "not enough memory" : error_text(s->L));
        script_free(s);
        return status == LUA_ERRMEM ? OA_ENOMEM : OA_EFAIL;
    }
    *out = s;
    return 0;
}

/* Compiles source as the main chunk of s and runs it. */
static int run_main(oa_lua_script *s, const char *source, char *err, size_t errlen)
{
    char chunk[OA_LUA_NAME_MAX + 2];
    int status;

    snprintf(chunk, sizeof(chunk), "=%s", s->name);
    s->oom = 0;
    status = luaL_loadbufferx(s->L, source, strlen(source), chunk, "t");
    if (status != LUA_OK) {
        if (status == LUA_ERRMEM) {
            snprintf(err, errlen, "%s: not enough memory to compile the script (limit %zu KiB)",
                     s->name, s->mem_cap / 1024);
        } else {
            snprintf(err, errlen, "%s", error_text(s->L));
            utf8_scrub(err);
        }
        lua_pop(s->L, 1);
        return status == LUA_ERRMEM ? OA_ENOMEM : OA_EINVAL;
    }
    return protected_call(s, 0, err, errlen);
}

/* Publishes {"script": name} plus the fields of extra (taken over; may be
 * NULL) on topic. */
static void publish(oa_lua *rt, const char *topic, const char *name, json_t *extra)
{
    json_t *ev = json_pack("{s:s}", "script", name);
    char *txt;

    if (ev != NULL && extra != NULL) {
        json_object_update(ev, extra);
    }
    json_decref(extra);
    txt = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    if (txt != NULL) {
        oa_host_publish(rt->host, topic, txt);
    }
    free(txt);
    json_decref(ev);
}

/* The first line of an error (its message without the traceback). */
static void first_line(char *out, size_t outlen, const char *err)
{
    size_t n = strcspn(err, "\n");
    snprintf(out, outlen, "%.*s", (int)n, err);
}

/* Applies the failure policy to a callback error. s may be freed when this
 * returns (by the disabled callback). */
static void callback_failed(oa_lua_script *s, const char *err)
{
    oa_lua *rt = s->rt;
    char name[OA_LUA_NAME_MAX + 1];
    char reason[1024];
    char line[768];
    char *copy = strdup(err);

    s->failures++;
    if (copy != NULL) {
        free(s->last_error);
        s->last_error = copy;
    }
    oa_log_write(OA_LOG_ERROR, s->tag, "callback failed (%u in a row): %s", s->failures, err);
    publish(rt, "script.error", s->name,
            json_pack("{s:s, s:I}", "error", err, "failures", (json_int_t)s->failures));
    if (s->failures < rt->limits.max_failures) {
        return;
    }
    first_line(line, sizeof(line), err);
    snprintf(reason, sizeof(reason),
             "script '%s' was disabled after %u callback errors in a row; the last one: %s",
             s->name, s->failures, line);
    oa_log_write(OA_LOG_ERROR, s->tag, "%s", reason);
    script_close(s);
    snprintf(name, sizeof(name), "%s", s->name);
    publish(rt, "script.disabled", name, json_pack("{s:s}", "reason", reason));
    if (rt->on_disabled != NULL) {
        rt->on_disabled(rt->on_disabled_arg, name, reason);
    }
}

int oa_lua_invoke(oa_lua_script *s, lua_CFunction fn, void *ud)
{
    char err[ERR_MAX];
    int rc;

    if (s == NULL || s->L == NULL || s->closing || !s->running) {
        return OA_ESTATE;
    }
    if (s->depth > 0) {
        oa_log_write(OA_LOG_WARN, s->tag, "callback skipped: the script is already running");
        return OA_ESTATE;
    }
    lua_pushcfunction(s->L, fn);
    lua_pushlightuserdata(s->L, ud);
    rc = protected_call(s, 1, err, sizeof(err));
    if (rc == 0) {
        s->failures = 0;
        return 0;
    }
    callback_failed(s, err);
    return 0;
}

/* ---- public functions ----------------------------------------------------- */

/* Creates the runtime for host h; see lua.h. Zero fields of limits take
 * their defaults; a budget above a day is cut to a day. OA_EINVAL without
 * a host or out, OA_ENOMEM. */
int oa_lua_new(oa_host *h, const oa_lua_limits *limits, const char *modules_dir, oa_lua **out)
{
    oa_lua *rt;

    if (h == NULL || h->loop == NULL || out == NULL) {
        return OA_EINVAL;
    }
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        return OA_ENOMEM;
    }
    rt->host = h;
    if (limits != NULL) {
        rt->limits = *limits;
    }
    if (rt->limits.budget_ms == 0) {
        rt->limits.budget_ms = DEFAULT_BUDGET_MS;
    }
    if (rt->limits.budget_ms > BUDGET_MAX_MS) {
        rt->limits.budget_ms = BUDGET_MAX_MS; /* keeps the deadline from wrapping */
    }
    if (rt->limits.memory_bytes == 0) {
        rt->limits.memory_bytes = DEFAULT_MEMORY;
    }
    if (rt->limits.max_failures == 0) {
        rt->limits.max_failures = DEFAULT_MAX_FAILURES;
    }
    if (modules_dir != NULL) {
        rt->modules_dir = strdup(modules_dir);
        if (rt->modules_dir == NULL) {
            free(rt);
            return OA_ENOMEM;
        }
    }
    *out = rt;
    return 0;
}

/* Unloads every script (publishing script.unloaded for those running) and
 * frees the runtime. Call it before oa_host_close: timers close through the
 * host's loop and subscriptions live on its bus. */
void oa_lua_free(oa_lua *rt)
{
    oa_lua_script *next;

    if (rt == NULL) {
        return;
    }
    for (oa_lua_script *s = rt->scripts; s != NULL; s = next) {
        int was_running = s->running;
        char name[OA_LUA_NAME_MAX + 1];
        next = s->next;
        snprintf(name, sizeof(name), "%s", s->name);
        script_free(s);
        if (was_running) {
            publish(rt, "script.unloaded", name, NULL);
        }
    }
    free(rt->modules_dir);
    free(rt);
}

/* Loads or atomically reloads script name; see lua.h. Besides the codes
 * listed there: OA_EINVAL for a bad name (1 to 64 bytes of [A-Za-z0-9_.-])
 * or a NULL source, OA_EBUSY when the script of that name is inside a call. */
int oa_lua_load(oa_lua *rt, const char *name, const char *source, char *err, size_t errlen)
{
    oa_lua_script *old;
    oa_lua_script *s = NULL;
    oa_lua_script **link;
    char err_sink[1];
    int rc;

    if (err == NULL || errlen == 0) {
        err = err_sink;
        errlen = sizeof(err_sink);
    }
    err[0] = '\0';
    if (rt == NULL || !name_valid(name)) {
        snprintf(err, errlen, "a script name is 1 to %d characters of A-Z, a-z, 0-9, '_', '-' "
                              "and '.'",
                 OA_LUA_NAME_MAX);
        return OA_EINVAL;
    }
    if (source == NULL) {
        snprintf(err, errlen, "%s: no source given", name);
        return OA_EINVAL;
    }
    old = find_script(rt, name);
    if (old != NULL && old->depth > 0) {
        snprintf(err, errlen, "%s: the script is running a call; try again", name);
        return OA_EBUSY;
    }
    rc = script_new(rt, name, &s, err, errlen);
    if (rc != 0) {
        return rc;
    }
    rc = run_main(s, source, err, errlen);
    if (rc != 0) {
        oa_log_write(OA_LOG_WARN, s->tag, "load failed: %s", err);
        script_free(s);
        return rc;
    }
    s->running = 1;
    /* The new state is complete: only now does the old one go. */
    link = &rt->scripts;
    while (*link != NULL && *link != old) {
        link = &(*link)->next;
    }
    if (old != NULL) {
        s->next = old->next;
        script_free(old);
    }
    *link = s;
    oa_log_write(OA_LOG_INFO, s->tag, "%s", old != NULL ? "reloaded" : "loaded");
    /* name may have pointed into the old record (oa_lua_info): use s's. */
    publish(rt, "script.loaded", s->name, json_pack("{s:b}", "reload", old != NULL));
    return 0;
}

/* Unloads script name: its timers and subscriptions end, its state closes,
 * script.unloaded is published. A record left by the failure policy is
 * removed too, but OA_ENOENT is returned for it as for an unknown name.
 * OA_EBUSY when the script is inside a call. */
int oa_lua_unload(oa_lua *rt, const char *name)
{
    oa_lua_script **link;
    oa_lua_script *s;
    char copy[OA_LUA_NAME_MAX + 1];
    int was_running;

    if (rt == NULL || name == NULL) {
        return OA_EINVAL;
    }
    for (link = &rt->scripts; *link != NULL; link = &(*link)->next) {
        if (strcmp((*link)->name, name) == 0) {
            break;
        }
    }
    s = *link;
    if (s == NULL) {
        return OA_ENOENT;
    }
    if (s->depth > 0) {
        return OA_EBUSY;
    }
    *link = s->next;
    was_running = s->running;
    snprintf(copy, sizeof(copy), "%s", s->name);
    script_free(s);
    if (!was_running) {
        return OA_ENOENT;
    }
    oa_log_write(OA_LOG_INFO, "host", "script '%s' unloaded", copy);
    publish(rt, "script.unloaded", copy, NULL);
    return 0;
}

/* Fills info for script name (running or disabled by the failure policy);
 * OA_ENOENT when there is no such record. */
int oa_lua_info(oa_lua *rt, const char *name, oa_lua_script_info *info)
{
    oa_lua_script *s;

    if (rt == NULL || name == NULL || info == NULL) {
        return OA_EINVAL;
    }
    s = find_script(rt, name);
    if (s == NULL) {
        return OA_ENOENT;
    }
    info->name = s->name;
    info->running = s->running;
    info->failures = s->failures;
    info->calls = s->calls;
    info->memory_bytes = s->mem_used;
    info->last_error = s->last_error != NULL ? s->last_error : "";
    return 0;
}

/* Names of the scripts the runtime holds (running, or disabled by the
 * failure policy), in load order; returns how many were written. */
size_t oa_lua_list(oa_lua *rt, const char **names, size_t max)
{
    size_t n = 0;

    if (rt == NULL || names == NULL) {
        return 0;
    }
    for (oa_lua_script *s = rt->scripts; s != NULL && n < max; s = s->next) {
        names[n] = s->name;
        n++;
    }
    return n;
}

/* Sets the callback run when the failure policy disables a script. */
void oa_lua_on_disabled(oa_lua *rt, oa_lua_disabled_cb cb, void *arg)
{
    if (rt == NULL) {
        return;
    }
    rt->on_disabled = cb;
    rt->on_disabled_arg = arg;
}
