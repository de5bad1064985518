/* Offline user and token commands (openace passwd, openace token ...).
 * They open the store in the data directory beside a running engine (SQLite
 * WAL; no engine lock) and return a process exit code: 0 success, 1 a
 * refusal or failure (with a sentence on stderr), 2 a usage error. */
#ifndef OA_HOST_AUTH_CLI_H
#define OA_HOST_AUTH_CLI_H

/* openace passwd USER: creates user or changes its password (ending its
 * sessions). The password comes from standard input: on a terminal it is
 * asked twice with echo off (prompts on stderr) and both must match;
 * otherwise the first line is read. */
int oa_cli_passwd(const char *data_dir, const char *user);

/* openace token create USER NAME | token list | token revoke NAME. argv
 * holds the words after "token" (a leading "token" is skipped too). create
 * prints the new token once on stdout; list prints NAME USER CREATED. */
int oa_cli_token(const char *data_dir, int argc, char **argv);

#endif
