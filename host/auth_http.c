/* auth_http.c: being split out. */
typedef int oa_placeholder_auth_http;
