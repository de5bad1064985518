/* The libraries a script's state gets.
 *
 * base without dofile, loadfile and warn; load forced to text;
 * collectgarbage limited to "collect" and "count"; setmetatable refusing
 * __gc (Lua runs finalizers with hooks off, out of the budget's reach);
 * xpcall running its handler after the error has unwound (see lua.c).
 * string, table, math, utf8, coroutine, os.time/clock/date, and a require
 * that only reads <modules_dir>/<name>.lua as text.
 *
 * Library functions that loop in C, where the count hook never runs, are
 * bounded: string.rep of an empty string, table.move, table.insert and
 * table.remove over huge ranges here, and the pattern functions
 * (string.find, match, gmatch, gsub) by the budgeted matcher of
 * lua_pattern.c. */
#include "lua_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define MODULE_NAME_MAX 64
#define MODULE_MAX_BYTES ((size_t)1 << 20)
#define MODULE_CACHE "oa.modules"

/* load(chunk [, chunkname [, mode [, env]]]) with the mode forced to "t". */
static int sb_load(lua_State *L)
{
    int has_env = !lua_isnone(L, 4);
    int top;

    lua_settop(L, has_env ? 4 : 2);
    top = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushliteral(L, "t");
    if (has_env) {
        lua_pushvalue(L, 4);
    }
    lua_call(L, has_env ? 4 : 3, LUA_MULTRET);
    return lua_gettop(L) - top;
}

/* Calls the function in upvalue 1 with the arguments; returns its results. */
static int call_wrapped(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* collectgarbage([opt]) for "collect" (the default) and "count" only. */
static int sb_collectgarbage(lua_State *L)
{
    const char *opt = luaL_optstring(L, 1, "collect");
    if (strcmp(opt, "collect") != 0 && strcmp(opt, "count") != 0) {
        return luaL_error(L, "collectgarbage: option '%s' is not available to scripts "
                             "(only \"collect\" and \"count\")",
                          opt);
    }
    lua_settop(L, 1);
    return call_wrapped(L);
}

/* setmetatable(t, mt), refusing a metatable with a __gc field: Lua runs
 * finalizers with hooks off, out of reach of the time budget. */
static int sb_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL) {
            return luaL_error(L, "setmetatable: __gc metamethods are not available to scripts");
        }
        lua_pop(L, 1);
    }
    lua_settop(L, 2);
    return call_wrapped(L);
}

/* The end of xpcall: true and the results, or false and what the handler
 * made of the error. base is the stack index of the first result. */
static int xpcall_finish(lua_State *L, int status, lua_KContext base)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        lua_pushvalue(L, 2);
        lua_insert(L, -2);
        lua_pcall(L, 1, 1, 0); /* an error in the handler becomes the result */
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_pushboolean(L, 1);
    lua_insert(L, (int)base);
    return lua_gettop(L) - (int)base + 1;
}

/* xpcall(f, handler, ...) that runs the handler after the error has
 * unwound, like a pcall followed by a call. Lua's own xpcall runs the
 * handler where the error was raised, which for an error raised by the
 * budget hook means with hooks off: a looping handler could not be
 * stopped. Scripts have no debug library, so they cannot tell the
 * difference. Yields inside f are allowed, as with xpcall. */
static int sb_xpcall_k(lua_State *L, int status, lua_KContext base)
{
    return xpcall_finish(L, status, base);
}

static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    int status;

    luaL_checktype(L, 2, LUA_TFUNCTION);
    luaL_checkstack(L, n + 2, "too many arguments");
    lua_pushvalue(L, 1);
    for (int i = 3; i <= n; i++) {
        lua_pushvalue(L, i);
    }
    status = lua_pcallk(L, n - 2, LUA_MULTRET, 0, n + 1, sb_xpcall_k);
    return xpcall_finish(L, status, n + 1);
}

/* Library functions that can loop in C, where the hook never runs, get a
 * bound first: string.rep of an empty string, and the element shifts of
 * table.move, table.insert and table.remove over huge ranges (a table
 * holding only t[2^k] has a border of 2^40 with 41 entries). No real table
 * within the memory cap has more than mem_cap / 8 elements. */
static lua_Integer elements_max(lua_State *L)
{
    return (lua_Integer)(oa_lua_script_of(L)->mem_cap / 8);
}

static int sb_rep(lua_State *L)
{
    size_t len;
    size_t seplen;

    luaL_checklstring(L, 1, &len);
    luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &seplen);
    if (len == 0 && seplen == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    return call_wrapped(L);
}

static int sb_move(lua_State *L)
{
    lua_Integer from = luaL_checkinteger(L, 2);
    lua_Integer to = luaL_checkinteger(L, 3);

    if (to >= from && (lua_Unsigned)to - (lua_Unsigned)from >= (lua_Unsigned)elements_max(L)) {
        return luaL_error(L, "table.move: at most %I elements can be moved at once",
                          elements_max(L));
    }
    return call_wrapped(L);
}

static int sb_shift(lua_State *L)
{
    if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL) {
        return luaL_error(L, "table.insert and table.remove do not take a table with a __len "
                             "metamethod in scripts");
    }
    if (lua_type(L, 1) == LUA_TTABLE && (lua_Integer)lua_rawlen(L, 1) > elements_max(L)) {
        return luaL_error(L, "table.insert and table.remove take tables of at most %I "
                             "elements",
                          elements_max(L));
    }
    return call_wrapped(L);
}

static void wrap_field(lua_State *L, const char *lib, const char *name, lua_CFunction wrapper)
{
    lua_getglobal(L, lib);
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

static int module_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MODULE_NAME_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
            return 0;
        }
    }
    return 1;
}

/* Reads <modules_dir>/<name>.lua into a Lua-owned buffer (pushed), so that
 * nothing leaks if Lua raises. Returns its length, or -1 when the file is
 * missing or unreadable (nothing pushed). */
static long read_module(lua_State *L, const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    char *buf;
    FILE *f;
    size_t got;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s.lua", dir, name) >= sizeof(path)) {
        return -1;
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return -1;
    }
    if ((size_t)st.st_size > MODULE_MAX_BYTES) {
        luaL_error(L, "require: module '%s' is larger than %d KiB", name,
                   (int)(MODULE_MAX_BYTES / 1024));
    }
    buf = lua_newuserdatauv(L, (size_t)st.st_size + 1, 0);
    f = fopen(path, "rb");
    if (f == NULL) {
        lua_pop(L, 1);
        return -1;
    }
    got = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    return (long)got;
}

/* require(name): <modules_dir>/<name>.lua, names of [a-z0-9_], loaded as
 * text, run once per script with the name as its argument; its result (true
 * when it returns nothing) is cached. */
static int sb_require(lua_State *L)
{
    oa_lua_script *s = oa_lua_script_of(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    char chunk[MODULE_NAME_MAX + 8];
    long n;

    if (!module_name_valid(name, len)) {
        return luaL_error(L, "require: module name '%s' is not allowed (use 1 to %d "
                             "characters of a-z, 0-9 and _)",
                          name, MODULE_NAME_MAX);
    }
    if (s->rt->modules_dir == NULL) {
        return luaL_error(L, "require: no modules directory is configured, so module '%s' "
                             "cannot be found",
                          name);
    }
    lua_settop(L, 1);
    lua_getfield(L, LUA_REGISTRYINDEX, MODULE_CACHE); /* 2 */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 2) != LUA_TNIL) {
        if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1)) {
            return luaL_error(L, "require: module '%s' is still loading (a require loop) or "
                                 "failed to load earlier",
                              name);
        }
        return 1;
    }
    lua_pop(L, 1);
    n = read_module(L, s->rt->modules_dir, name); /* 3: buffer */
    if (n < 0) {
        return luaL_error(L, "require: module '%s' not found in the modules directory", name);
    }
    snprintf(chunk, sizeof(chunk), "=%s.lua", name);
    if (luaL_loadbufferx(L, lua_touserdata(L, 3), (size_t)n, chunk, "t") != LUA_OK) {
        return lua_error(L);
    }
    lua_pushvalue(L, 1);
    lua_pushboolean(L, 0);
    lua_rawset(L, 2); /* loading */
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, 2);
    return 1;
}

static void wrap_global(lua_State *L, const char *name, lua_CFunction wrapper)
{
    lua_getglobal(L, name);
    lua_pushcclosure(L, wrapper, 1);
    lua_setglobal(L, name);
}

/* Opens the safe libraries, the budgeted pattern functions and the oa
 * table; see lua_int.h. */
int oa_lua_sandbox_open(lua_State *L)
{
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine},
        {NULL, NULL},
    };
    static const char *const os_keep[] = {"time", "clock", "date", NULL};
    static const char *const base_drop[] = {"dofile", "loadfile", "warn", NULL};
    oa_lua_script *s = lua_touserdata(L, 1);

    for (const luaL_Reg *lib = libs; lib->name != NULL; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    for (size_t i = 0; base_drop[i] != NULL; i++) {
        lua_pushnil(L);
        lua_setglobal(L, base_drop[i]);
    }
    wrap_global(L, "load", sb_load);
    wrap_global(L, "collectgarbage", sb_collectgarbage);
    wrap_global(L, "setmetatable", sb_setmetatable);
    lua_pushcfunction(L, sb_require);
    lua_setglobal(L, "require");
    lua_pushcfunction(L, sb_xpcall);
    lua_setglobal(L, "xpcall");
    wrap_field(L, LUA_STRLIBNAME, "rep", sb_rep);
    wrap_field(L, LUA_TABLIBNAME, "move", sb_move);
    wrap_field(L, LUA_TABLIBNAME, "insert", sb_shift);
    wrap_field(L, LUA_TABLIBNAME, "remove", sb_shift);
    oa_lua_pattern_open(L);

    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
    lua_createtable(L, 0, 3);
    for (size_t i = 0; os_keep[i] != NULL; i++) {
        lua_getfield(L, -2, os_keep[i]);
        lua_setfield(L, -2, os_keep[i]);
    }
    lua_setglobal(L, LUA_OSLIBNAME);
    lua_pop(L, 1);

    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, MODULE_CACHE);
    oa_lua_api_open(L, s);
    return 0;
}
