/* auth_cli.c: being written. */
typedef int oa_placeholder_auth_cli;
