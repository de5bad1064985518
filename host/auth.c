/* auth.c: being written. */
typedef int oa_placeholder_auth;
