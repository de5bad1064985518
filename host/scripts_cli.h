/* openace script run FILE.lua: runs one Lua script once, for testing, the
 * way the engine would run it, and reports whether it succeeded. */
#ifndef OA_HOST_SCRIPTS_CLI_H
#define OA_HOST_SCRIPTS_CLI_H

/* The default for timeout_ms. */
#define OA_CLI_SCRIPT_TIMEOUT_MS 5000u

/* Runs file as a script named after it (its base name without ".lua",
 * lower-cased, other characters than a-z 0-9 _ - made '_') against an
 * offline host: the host opens a scratch copy of <data_dir>/openace.db (so
 * the script reads the real settings and oa.store values, and nothing it
 * changes is kept) and loads, but does not start, the plugins of
 * plugin_dir (may be NULL). require() looks in the file's directory. The
 * script runs under the engine's limits: its main chunk, then the loop
 * until none of its timers remain (and no event is queued) or timeout_ms
 * (0: OA_CLI_SCRIPT_TIMEOUT_MS) passes. Its log lines (tag lua:<name>, info
 * and above) go to stderr as they happen. Returns the exit code: 0 when the
 * main chunk and every callback succeeded, 1 otherwise (the first error,
 * "name:line: message", is printed to stderr). */
int oa_cli_script_run(const char *data_dir, const char *plugin_dir, const char *file,
                      unsigned timeout_ms);

#endif
