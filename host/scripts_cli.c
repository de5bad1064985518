/* scripts_cli.c: being written. */
typedef int oa_placeholder_scripts_cli;
