/* lua_sandbox.c: being written. */
typedef int oa_placeholder_lua_sandbox;
