/* lua_json.c: being written. */
typedef int oa_placeholder_lua_json;
