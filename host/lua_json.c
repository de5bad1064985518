/* The conversion between Lua values and JSON, for the `oa` table
 * (lua_api.c).
 *
 * JSON from Lua: booleans, numbers (integers stay integers; NaN and
 * infinities are refused), UTF-8 strings, and tables: an array when its
 * keys are exactly 1..n (n >= 1), an object otherwise (the empty table is
 * {}; integer keys become decimal text). Functions, userdata, threads,
 * other key types, cycles and nesting deeper than 64 are refused with an
 * error naming the place. JSON to Lua: objects and arrays become tables,
 * null becomes nil (so the key is absent).
 *
 * Lua to JSON never raises (it only reads the stack), so the tree it builds
 * cannot leak; JSON to Lua may raise at any push, so it runs protected and
 * releases the tree before re-raising. */
#include "lua_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ENC_DEPTH_MAX 64

/* ---- Lua to JSON ---------------------------------------------------------- */

typedef struct enc {
    const void *tables[ENC_DEPTH_MAX]; /* the tables being converted, outermost first */
    int depth;
    char path[160];
    size_t plen;
    char err[320];
} enc;

static void enc_fail(enc *e, const char *fmt, ...) OA_PRINTF(2, 3);

static void enc_fail(enc *e, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (e->err[0] != '\0') {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof(e->err), fmt, ap);
    va_end(ap);
    n = strlen(e->err);
    if (e->plen > 0 && n < sizeof(e->err)) {
        snprintf(e->err + n, sizeof(e->err) - n, " (at %s)", e->path);
    }
}

/* Appends a path segment; returns the length to restore afterwards. */
static size_t enc_push_path(enc *e, const char *key, lua_Integer index)
{
    size_t old = e->plen;
    int n;

    if (e->plen >= sizeof(e->path) - 1) {
        return old;
    }
    if (key != NULL) {
        n = snprintf(e->path + e->plen, sizeof(e->path) - e->plen, "%s%s",
                     e->plen > 0 ? "." : "", key);
    } else {
        n = snprintf(e->path + e->plen, sizeof(e->path) - e->plen, "[%lld]", (long long)index);
    }
    e->plen += (size_t)n;
    if (e->plen >= sizeof(e->path)) {
        e->plen = sizeof(e->path) - 1;
    }
    return old;
}

static void enc_pop_path(enc *e, size_t old)
{
    e->plen = old;
    e->path[old] = '\0';
}

static json_t *enc_value(lua_State *L, int idx, enc *e);

/* 1..n with n >= 1 and nothing else: an array of n. Otherwise 0. */
static lua_Integer array_length(lua_State *L, int idx)
{
    lua_Integer count = 0;
    lua_Integer max = 0;
    int array = 1;

    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        count++;
        if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
            if (lua_tointeger(L, -2) > max) {
                max = lua_tointeger(L, -2);
            }
        } else {
            array = 0;
        }
        lua_pop(L, 1);
    }
    return array && count > 0 && max == count ? count : 0;
}

static json_t *enc_array(lua_State *L, int idx, lua_Integer n, enc *e)
{
    json_t *out = json_array();

    for (lua_Integer i = 1; out != NULL && i <= n; i++) {
        size_t mark = enc_push_path(e, NULL, i);
        json_t *v;
        lua_rawgeti(L, idx, i);
        v = enc_value(L, lua_gettop(L), e);
        lua_pop(L, 1);
        enc_pop_path(e, mark);
        if (v == NULL || json_array_append_new(out, v) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

static json_t *enc_object(lua_State *L, int idx, enc *e)
{
    json_t *out = json_object();
    char num[32];

    lua_pushnil(L);
    while (out != NULL && lua_next(L, idx) != 0) {
        const char *key;
        size_t klen;
        size_t mark;
        json_t *v;

        if (lua_type(L, -2) == LUA_TSTRING) {
            key = lua_tolstring(L, -2, &klen);
        } else if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2)) {
            snprintf(num, sizeof(num), "%lld", (long long)lua_tointeger(L, -2));
            key = num;
            klen = strlen(num);
        } else {
            enc_fail(e, "a table key of type %s cannot become a JSON object key",
                     luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(out);
            return NULL;
        }
        mark = enc_push_path(e, key, 0);
        v = enc_value(L, lua_gettop(L), e);
        if (v != NULL && json_object_setn_new(out, key, klen, v) != 0) {
            enc_fail(e, "a table key that is not valid UTF-8 cannot become JSON");
            v = NULL;
        }
        enc_pop_path(e, mark);
        lua_pop(L, 1);
        if (v == NULL) {
            lua_pop(L, 1);
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *enc_table(lua_State *L, int idx, enc *e)
{
    const void *p = lua_topointer(L, idx);
    lua_Integer n;
    json_t *out;

    for (int i = 0; i < e->depth; i++) {
        if (e->tables[i] == p) {
            enc_fail(e, "a table that contains itself (a cycle) cannot become JSON");
            return NULL;
        }
    }
    if (e->depth >= ENC_DEPTH_MAX) {
        enc_fail(e, "tables nested deeper than %d levels cannot become JSON", ENC_DEPTH_MAX);
        return NULL;
    }
    if (!lua_checkstack(L, 4)) {
        enc_fail(e, "out of stack space");
        return NULL;
    }
    e->tables[e->depth] = p;
    e->depth++;
    n = array_length(L, idx);
    out = n > 0 ? enc_array(L, idx, n, e) : enc_object(L, idx, e);
    e->depth--;
    if (out == NULL) {
        enc_fail(e, "out of memory");
    }
    return out;
}

static json_t *enc_value(lua_State *L, int idx, enc *e)
{
    json_t *v = NULL;
    size_t len;
    const char *str;
    double d;

    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            return json_integer((json_int_t)lua_tointeger(L, idx));
        }
        d = (double)lua_tonumber(L, idx);
        if (!isfinite(d)) {
            enc_fail(e, "NaN and infinite numbers cannot become JSON");
            return NULL;
        }
        return json_real(d);
    case LUA_TSTRING:
        str = lua_tolstring(L, idx, &len);
        v = json_stringn(str, len);
        if (v == NULL) {
            enc_fail(e, "a string that is not valid UTF-8 cannot become JSON");
        }
        return v;
    case LUA_TTABLE:
        return enc_table(L, idx, e);
    default:
        enc_fail(e, "a %s value cannot become JSON", luaL_typename(L, idx));
        return NULL;
    }
}

/* The JSON form of the value at idx; see lua_int.h. */
json_t *oa_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
    enc e;
    int top = lua_gettop(L);
    json_t *v;

    memset(&e, 0, sizeof(e));
    v = enc_value(L, lua_absindex(L, idx), &e);
    lua_settop(L, top);
    if (v == NULL) {
        snprintf(err, errlen, "%s", e.err[0] != '\0' ? e.err : "cannot convert the value to JSON");
    }
    return v;
}

/* ---- JSON to Lua ---------------------------------------------------------- */

/* Pushes the Lua form of v. May raise. */
static void push_json(lua_State *L, json_t *v)
{
    const char *key;
    size_t key_len;
    json_t *item;
    size_t i;

    luaL_checkstack(L, 3, "JSON nested too deeply");
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        lua_createtable(L, 0, (int)json_object_size(v));
        json_object_keylen_foreach(v, key, key_len, item)
        {
            lua_pushlstring(L, key, key_len);
            push_json(L, item);
            lua_rawset(L, -3);
        }
        break;
    case JSON_ARRAY:
        lua_createtable(L, (int)json_array_size(v), 0);
        json_array_foreach(v, i, item)
        {
            push_json(L, item);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        break;
    case JSON_REAL:
        lua_pushnumber(L, (lua_Number)json_real_value(v));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    default:
        lua_pushnil(L);
        break;
    }
}

static int push_json_tramp(lua_State *L)
{
    push_json(L, lua_touserdata(L, 1));
    return 1;
}

/* Pushes the Lua form of v and releases v; see lua_int.h. */
void oa_lua_push_json(lua_State *L, json_t *v)
{
    int status;

    if (!lua_checkstack(L, 3)) {
        json_decref(v);
        luaL_error(L, "out of stack space");
    }
    lua_pushcfunction(L, push_json_tramp);
    lua_pushlightuserdata(L, v);
    status = lua_pcall(L, 1, 1, 0);
    json_decref(v);
    if (status != LUA_OK) {
        lua_error(L);
    }
}
