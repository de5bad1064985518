/* lua_pattern.c: being written. */
typedef int oa_placeholder_lua_pattern;
