/* The `oa` table scripts use (docs/lua.md). Values cross to and from JSON
 * through lua_json.c.
 *
 * Rule for C resources: Lua may raise (argument errors, out of memory) at
 * almost any API call, and a raise skips the rest of the C function. So a
 * function here either finishes with what it allocated before calling
 * anything that may raise, or hands it to a protected helper
 * (oa_lua_push_json, push_string_owned) that releases it before
 * re-raising. */
#include "lua_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SUBS 256
#define MAX_TIMERS 256
#define AFTER_MIN_MS 1
#define EVERY_MIN_MS 10
#define TIMER_MAX_MS 1e12
#define STORE_KEY_MAX 128
#define STORE_VALUE_MAX (64 * 1024)
#define TIMER_MT "oa.timer"

struct oa_lua_sub {
    oa_lua_sub *next;
    oa_lua_script *s;
    uint64_t id; /* the bus subscription id, which is also the id oa.on returns */
    int ref;     /* the handler, in the registry */
};

struct oa_lua_timer {
    uv_timer_t handle;
    oa_lua_timer *next;
    oa_lua_script *s; /* NULL once ended */
    uint64_t id;      /* what the Lua handle holds */
    int ref;          /* the function, in the registry */
    int repeat;
};

static oa_host *host_of(lua_State *L)
{
    return oa_lua_script_of(L)->rt->host;
}

/* ---- helpers -------------------------------------------------------------- */

static int push_string_tramp(lua_State *L)
{
    lua_pushstring(L, lua_touserdata(L, 1));
    return 1;
}

/* Pushes a malloc'd string and frees it, also when pushing raises. */
static void push_string_owned(lua_State *L, char *str)
{
    int status;

    if (!lua_checkstack(L, 3)) {
        free(str);
        luaL_error(L, "out of stack space");
    }
    lua_pushcfunction(L, push_string_tramp);
    lua_pushlightuserdata(L, str);
    status = lua_pcall(L, 1, 1, 0);
    free(str);
    if (status != LUA_OK) {
        lua_error(L);
    }
}

/* Returns nil, msg: the usual failure result. */
static int fail(lua_State *L, const char *msg)
{
    lua_pushnil(L);
    lua_pushstring(L, msg);
    return 2;
}

/* ---- events --------------------------------------------------------------- */

typedef struct event_call {
    int ref;
    const char *topic;
    const char *json;
    size_t len;
} event_call;

static int event_tramp(lua_State *L)
{
    event_call *c = lua_touserdata(L, 1);
    json_t *v;

    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    lua_pushstring(L, c->topic);
    v = json_loadb(c->json, c->len, JSON_DECODE_ANY, NULL);
    if (v == NULL) {
        lua_newtable(L);
    } else {
        oa_lua_push_json(L, v);
    }
    lua_call(L, 2, 0);
    return 0;
}

static void on_event(void *arg, const char *topic, const char *json, size_t len)
{
    oa_lua_sub *sub = arg;
    event_call c = {sub->ref, topic, json, len};

    /* The handler may end this subscription (oa.off): sub is not used after. */
    oa_lua_invoke(sub->s, event_tramp, &c);
}

/* Raises when the script is being torn down (a finalizer, say). */
static void check_open(lua_State *L, oa_lua_script *s, const char *fn)
{
    if (s->closing || s->rt->host->bus == NULL) {
        luaL_error(L, "%s: the script is stopping", fn);
    }
}

/* oa.on(pattern, fn) -> id */
static int l_on(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    const char *pattern = luaL_checkstring(L, 1);
    oa_lua_sub *sub;
    int ref;
    int rc;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    check_open(L, s, "oa.on");
    if (s->nsubs >= MAX_SUBS) {
        return luaL_error(L, "oa.on: a script may hold at most %d subscriptions", MAX_SUBS);
    }
    lua_pushvalue(L, 2);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sub = calloc(1, sizeof(*sub));
    if (sub == NULL) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        return luaL_error(L, "oa.on: out of memory");
    }
    sub->s = s;
    sub->ref = ref;
    rc = oa_bus_subscribe(s->rt->host->bus, pattern, on_event, sub, s, &sub->id);
    if (rc != 0) {
        free(sub);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        if (rc != OA_EINVAL) {
            return luaL_error(L, "oa.on: %s", oa_strerror(rc));
        }
        return luaL_error(L, "oa.on: '%s' is not a valid topic pattern (words of A-Z, a-z, 0-9, "
                             "'_' and '-' joined by dots, optionally ending in \".*\"; or \"*\")",
                          pattern);
    }
    sub->next = s->subs;
    s->subs = sub;
    s->nsubs++;
    lua_pushinteger(L, (lua_Integer)sub->id);
    return 1;
}

/* oa.off(id) -> true when the subscription existed, false otherwise. */
static int l_off(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    oa_lua_sub **link = &s->subs;
    oa_lua_sub *sub;
    int isnum = 0;
    lua_Integer id = lua_tointegerx(L, 1, &isnum);

    if (!isnum || lua_type(L, 1) != LUA_TNUMBER) {
        lua_pushboolean(L, 0);
        return 1;
    }
    while (*link != NULL && (lua_Integer)(*link)->id != id) {
        link = &(*link)->next;
    }
    sub = *link;
    if (sub == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    *link = sub->next;
    s->nsubs--;
    if (s->rt->host->bus != NULL) {
        oa_bus_unsubscribe(s->rt->host->bus, sub->id, s);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, sub->ref);
    free(sub);
    lua_pushboolean(L, 1);
    return 1;
}

/* oa.emit(topic [, table]) -> true, or nil, err when the bus refuses it. */
static int l_emit(lua_State *L)
{
    const char *topic = luaL_checkstring(L, 1);
    char err[400];
    json_t *v;
    char *txt;
    int rc;

    if (!oa_bus_topic_valid(topic)) {
        return luaL_error(L, "oa.emit: '%s' is not a valid topic (words of A-Z, a-z, 0-9, '_' "
                             "and '-' joined by single dots, at most 128 bytes)",
                          topic);
    }
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
    }
    v = lua_isnoneornil(L, 2) ? json_object() : oa_lua_to_json(L, 2, err, sizeof(err));
    if (v == NULL) {
        return luaL_error(L, "oa.emit: %s", err);
    }
    txt = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    if (txt == NULL) {
        return luaL_error(L, "oa.emit: out of memory");
    }
    rc = oa_host_publish(host_of(L), topic, txt);
    free(txt);
    if (rc == OA_EOVERFLOW) {
        return fail(L, "the event bus queue is full; the event was dropped");
    }
    if (rc != 0) {
        return fail(L, oa_strerror(rc));
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- timers --------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Unlinks t from its script and closes it (freed in the close callback).
 * The function reference is left to the caller. */
static void timer_end(oa_lua_timer *t)
{
    oa_lua_script *s = t->s;
    oa_lua_timer **link = &s->timers;

    while (*link != NULL && *link != t) {
        link = &(*link)->next;
    }
    if (*link != NULL) {
        *link = t->next;
        s->ntimers--;
    }
    t->s = NULL;
    uv_timer_stop(&t->handle);
    uv_close((uv_handle_t *)&t->handle, timer_closed);
}

typedef struct timer_call {
    int ref;
    int once; /* release the reference: the timer is done */
} timer_call;

static int timer_tramp(lua_State *L)
{
    timer_call *c = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->ref);
    if (c->once) {
        luaL_unref(L, LUA_REGISTRYINDEX, c->ref);
    }
    lua_call(L, 0, 0);
    return 0;
}

static void on_timer(uv_timer_t *handle)
{
    oa_lua_timer *t = handle->data;
    oa_lua_script *s = t->s;
    timer_call c;

    if (s == NULL || s->L == NULL) {
        return;
    }
    c.ref = t->ref;
    c.once = !t->repeat;
    if (c.once) {
        timer_end(t);
    }
    /* The callback may cancel t or end the script: neither is used after. */
    if (oa_lua_invoke(s, timer_tramp, &c) != 0 && c.once && s->L != NULL) {
        luaL_unref(s->L, LUA_REGISTRYINDEX, c.ref);
    }
}

/* oa.after(ms, fn) and oa.every(ms, fn) -> timer handle */
static int start_timer(lua_State *L, int repeat)
{
    oa_lua_script *s = oa_lua_script_of(L);
    const char *fn = repeat ? "oa.every" : "oa.after";
    int min = repeat ? EVERY_MIN_MS : AFTER_MIN_MS;
    lua_Number ms = luaL_checknumber(L, 1);
    uint64_t *handle;
    oa_lua_timer *t;
    int ref;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    check_open(L, s, fn);
    if (!(ms >= min && ms <= TIMER_MAX_MS)) {
        return luaL_error(L, "%s: ms must be a number of milliseconds from %d to 1e12", fn, min);
    }
    if (s->ntimers >= MAX_TIMERS) {
        return luaL_error(L, "%s: a script may hold at most %d timers", fn, MAX_TIMERS);
    }
    handle = lua_newuserdatauv(L, sizeof(*handle), 0);
    luaL_setmetatable(L, TIMER_MT);
    lua_pushvalue(L, 2);
    ref = luaL_ref(L, LUA_REGISTRYINDEX);
    t = calloc(1, sizeof(*t));
    if (t == NULL || uv_timer_init(s->rt->host->loop, &t->handle) != 0) {
        free(t);
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        return luaL_error(L, "%s: cannot create a timer", fn);
    }
    s->next_timer_id++;
    t->handle.data = t;
    t->s = s;
    t->id = s->next_timer_id;
    t->ref = ref;
    t->repeat = repeat;
    t->next = s->timers;
    s->timers = t;
    s->ntimers++;
    *handle = t->id;
    uv_timer_start(&t->handle, on_timer, (uint64_t)ms, repeat ? (uint64_t)ms : 0);
    return 1;
}

static int l_after(lua_State *L)
{
    return start_timer(L, 0);
}

static int l_every(lua_State *L)
{
    return start_timer(L, 1);
}

/* timer:cancel() -> true when the timer was pending, false when it had
 * fired (oa.after) or was cancelled already. */
static int l_timer_cancel(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    const uint64_t *id = luaL_checkudata(L, 1, TIMER_MT);
    oa_lua_timer *t = s->timers;

    while (t != NULL && t->id != *id) {
        t = t->next;
    }
    if (t == NULL) {
        lua_pushboolean(L, 0);
        return 1;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
    timer_end(t);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_timer_tostring(lua_State *L)
{
    const uint64_t *id = luaL_checkudata(L, 1, TIMER_MT);
    lua_pushfstring(L, "oa.timer %I", (lua_Integer)*id);
    return 1;
}

void oa_lua_api_release(oa_lua_script *s)
{
    oa_bus *bus = s->rt->host->bus;
    oa_lua_sub *next;

    if (bus != NULL) {
        oa_bus_unsubscribe_owner(bus, s);
    }
    for (oa_lua_sub *sub = s->subs; sub != NULL; sub = next) {
        next = sub->next;
        free(sub);
    }
    s->subs = NULL;
    s->nsubs = 0;
    while (s->timers != NULL) {
        timer_end(s->timers);
    }
}

/* ---- plugins, commands, settings ------------------------------------------ */

/* oa.plugins.list() -> array of {name, state, enabled, version, reason} */
static int l_plugins_list(lua_State *L)
{
    oa_registry *reg = host_of(L)->reg;
    size_t n = oa_registry_count(reg);
    lua_Integer k = 0;

    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        oa_plugin_info info;
        if (oa_registry_info(reg, i, &info) != 0 || info.name == NULL) {
            continue;
        }
        lua_createtable(L, 0, 5);
        lua_pushstring(L, info.name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, oa_state_name(info.state));
        lua_setfield(L, -2, "state");
        lua_pushboolean(L, info.enabled);
        lua_setfield(L, -2, "enabled");
        if (info.desc != NULL && info.desc->version != NULL) {
            lua_pushstring(L, info.desc->version);
            lua_setfield(L, -2, "version");
        }
        lua_pushstring(L, info.reason != NULL ? info.reason : "");
        lua_setfield(L, -2, "reason");
        k++;
        lua_rawseti(L, -2, k);
    }
    return 1;
}

/* oa.plugins.state(name) -> state, or nil, err */
static int l_plugins_state(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    oa_plugin_info info;

    if (oa_registry_info_by_name(host_of(L)->reg, name, &info) != 0 || info.name == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "no plugin named '%s'", name);
        return 2;
    }
    lua_pushstring(L, oa_state_name(info.state));
    return 1;
}

typedef int (*reg_action)(oa_registry *, const char *, char *, size_t);

static int plugin_action(lua_State *L, reg_action action)
{
    const char *name = luaL_checkstring(L, 1);
    char msg[1024];
    int rc;

    msg[0] = '\0';
    rc = action(host_of(L)->reg, name, msg, sizeof(msg));
    if (rc != 0) {
        return fail(L, msg[0] != '\0' ? msg : oa_strerror(rc));
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_plugins_enable(lua_State *L)
{
    return plugin_action(L, oa_registry_enable);
}

static int l_plugins_disable(lua_State *L)
{
    return plugin_action(L, oa_registry_disable);
}

static int l_plugins_restart(lua_State *L)
{
    return plugin_action(L, oa_registry_restart);
}

/* oa.call(plugin, command [, args]) -> result, or nil, err */
static int l_call(lua_State *L)
{
    const char *plugin = luaL_checkstring(L, 1);
    const char *command = luaL_checkstring(L, 2);
    char err[1024];
    char *args = NULL;
    char *out = NULL;
    json_t *v;
    int rc;

    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        v = oa_lua_to_json(L, 3, err, sizeof(err));
        if (v == NULL) {
            return luaL_error(L, "oa.call: %s", err);
        }
        args = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        if (args == NULL) {
            return luaL_error(L, "oa.call: out of memory");
        }
    }
    rc = oa_registry_command(host_of(L)->reg, plugin, command, args != NULL ? args : "{}", &out);
    free(args);
    if (rc != 0) {
        if (out != NULL) {
            snprintf(err, sizeof(err), "%s", out);
        } else if (rc == OA_ENOTFOUND) {
            snprintf(err, sizeof(err), "plugin '%.200s' has no command '%.200s'", plugin,
                     command);
        } else {
            snprintf(err, sizeof(err), "%s", oa_strerror(rc));
        }
        free(out);
        return fail(L, err);
    }
    if (out == NULL) {
        lua_newtable(L);
        return 1;
    }
    v = json_loads(out, JSON_DECODE_ANY, NULL);
    free(out);
    if (v == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "plugin '%s' returned a result that is not JSON", plugin);
        return 2;
    }
    oa_lua_push_json(L, v);
    return 1;
}

/* oa.config.get(plugin, key) -> value text, or nil, err */
static int l_config_get(lua_State *L)
{
    const char *plugin = luaL_checkstring(L, 1);
    const char *key = luaL_checkstring(L, 2);
    char err[1024];
    char *value = NULL;
    int rc;

    err[0] = '\0';
    rc = oa_host_config_get(host_of(L), plugin, key, &value, err, sizeof(err));
    if (rc != 0) {
        free(value);
        return fail(L, err[0] != '\0' ? err : oa_strerror(rc));
    }
    push_string_owned(L, value);
    return 1;
}

/* The text form of a number that reads back as the same number. */
static void number_text(lua_State *L, int idx, char *out, size_t outlen)
{
    double d;

    if (lua_isinteger(L, idx)) {
        snprintf(out, outlen, "%lld", (long long)lua_tointeger(L, idx));
        return;
    }
    d = (double)lua_tonumber(L, idx);
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, outlen, "%.*g", prec, d);
        if (strtod(out, NULL) == d) {
            return;
        }
    }
}

/* oa.config.set(plugin, key, value) -> true, or nil, err */
static int l_config_set(lua_State *L)
{
    const char *plugin = luaL_checkstring(L, 1);
    const char *key = luaL_checkstring(L, 2);
    char num[64];
    const char *value;
    char err[1024];
    int rc;

    switch (lua_type(L, 3)) {
    case LUA_TSTRING:
        value = lua_tostring(L, 3);
        break;
    case LUA_TNUMBER:
        number_text(L, 3, num, sizeof(num));
        value = num;
        break;
    case LUA_TBOOLEAN:
        value = lua_toboolean(L, 3) ? "true" : "false";
        break;
    default:
        return luaL_argerror(L, 3, "a string, number or boolean expected");
    }
    err[0] = '\0';
    rc = oa_host_config_set(host_of(L), plugin, key, value, err, sizeof(err));
    if (rc != 0) {
        return fail(L, err[0] != '\0' ? err : oa_strerror(rc));
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- store ---------------------------------------------------------------- */

static const char *store_key(lua_State *L)
{
    size_t len;
    const char *key = luaL_checklstring(L, 1, &len);
    if (len == 0 || len > STORE_KEY_MAX || strlen(key) != len) {
        luaL_argerror(L, 1, "a key is 1 to 128 bytes of text");
    }
    return key;
}

/* oa.store.get(key) -> value, or nil when not stored (nil, err on a
 * storage error) */
static int l_store_get(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    const char *key = store_key(L);
    char *raw = NULL;
    size_t len = 0;
    json_t *v;
    int rc;

    rc = oa_store_kv_get(s->rt->host->store, s->scope, key, &raw, &len);
    if (rc == OA_ENOENT) {
        lua_pushnil(L);
        return 1;
    }
    if (rc != 0) {
        return fail(L, "the store cannot be read");
    }
    v = json_loadb(raw, len, JSON_DECODE_ANY, NULL);
    free(raw);
    if (v == NULL) {
        return fail(L, "the stored value is not JSON");
    }
    oa_lua_push_json(L, v);
    return 1;
}

/* oa.store.set(key, value) -> true, or nil, err. nil deletes the key. */
static int l_store_set(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    const char *key = store_key(L);
    char err[400];
    json_t *v;
    char *txt;
    size_t len;
    int rc;

    if (lua_isnoneornil(L, 2)) {
        rc = oa_store_kv_del(s->rt->host->store, s->scope, key);
        if (rc != 0) {
            return fail(L, "the store cannot be written");
        }
        lua_pushboolean(L, 1);
        return 1;
    }
    v = oa_lua_to_json(L, 2, err, sizeof(err));
    if (v == NULL) {
        return luaL_error(L, "oa.store.set: %s", err);
    }
    txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (txt == NULL) {
        return luaL_error(L, "oa.store.set: out of memory");
    }
    len = strlen(txt);
    if (len > STORE_VALUE_MAX) {
        free(txt);
        return luaL_error(L, "oa.store.set: the value takes %d bytes as JSON; at most %d are "
                             "allowed",
                          (int)len, STORE_VALUE_MAX);
    }
    rc = oa_store_kv_set(s->rt->host->store, s->scope, key, txt, len);
    free(txt);
    if (rc != 0) {
        return fail(L, "the store cannot be written");
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- log, time ------------------------------------------------------------ */

/* Logs tostring() of every argument, joined by spaces, with the script's
 * tag. */
static int log_at(lua_State *L, oa_log_level level)
{
    oa_lua_script *s = oa_lua_script_of(L);
    int n = lua_gettop(L);
    luaL_Buffer b;

    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) {
            luaL_addchar(&b, ' ');
        }
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    oa_log_write(level, s->tag, "%s", lua_tostring(L, -1));
    return 0;
}

static int l_log_debug(lua_State *L)
{
    return log_at(L, OA_LOG_DEBUG);
}

static int l_log_info(lua_State *L)
{
    return log_at(L, OA_LOG_INFO);
}

static int l_log_warn(lua_State *L)
{
    return log_at(L, OA_LOG_WARN);
}

static int l_log_error(lua_State *L)
{
    return log_at(L, OA_LOG_ERROR);
}

/* oa.now() -> the loop's clock in milliseconds (uv_now) */
static int l_now(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)uv_now(host_of(L)->loop));
    return 1;
}

/* ---- the table ------------------------------------------------------------ */

static void new_lib(lua_State *L, const luaL_Reg *fns)
{
    lua_newtable(L);
    luaL_setfuncs(L, fns, 0);
}

static void add_table(lua_State *L, const char *name, const luaL_Reg *fns)
{
    new_lib(L, fns);
    lua_setfield(L, -2, name);
}

void oa_lua_api_open(lua_State *L, oa_lua_script *s)
{
    static const luaL_Reg oa_fns[] = {
        {"on", l_on},     {"off", l_off},   {"emit", l_emit}, {"after", l_after},
        {"every", l_every}, {"call", l_call}, {"now", l_now},   {NULL, NULL},
    };
    static const luaL_Reg plugin_fns[] = {
        {"list", l_plugins_list},       {"state", l_plugins_state},
        {"enable", l_plugins_enable},   {"disable", l_plugins_disable},
        {"restart", l_plugins_restart}, {NULL, NULL},
    };
    static const luaL_Reg config_fns[] = {
        {"get", l_config_get}, {"set", l_config_set}, {NULL, NULL}};
    static const luaL_Reg store_fns[] = {{"get", l_store_get}, {"set", l_store_set}, {NULL, NULL}};
    static const luaL_Reg log_fns[] = {
        {"debug", l_log_debug}, {"info", l_log_info}, {"warn", l_log_warn},
        {"error", l_log_error}, {NULL, NULL},
    };
    static const luaL_Reg timer_fns[] = {{"cancel", l_timer_cancel}, {NULL, NULL}};

    luaL_newmetatable(L, TIMER_MT);
    new_lib(L, timer_fns);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_timer_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    new_lib(L, oa_fns);
    add_table(L, "plugins", plugin_fns);
    add_table(L, "config", config_fns);
    add_table(L, "store", store_fns);
    add_table(L, "log", log_fns);
    lua_pushstring(L, s->name);
    lua_setfield(L, -2, "script");
    lua_setglobal(L, "oa");
    lua_pushcfunction(L, l_log_info);
    lua_setglobal(L, "print");
}
