/* lua_api.c: being written. */
typedef int oa_placeholder_lua_api;
