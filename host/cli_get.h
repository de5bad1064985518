/* openace get URI: a small client that fetches content through the swarm
 * plugin, in this process (an embedded engine) or through a running
 * engine's admin API, and shows progress. */
#ifndef OA_HOST_CLI_GET_H
#define OA_HOST_CLI_GET_H

/* What the command line gave before and around "get". */
typedef struct oa_get_env {
    const char *data;    /* --data, or NULL: a temporary data directory */
    const char *plugins; /* the plugin directory (given or the default) */
    int p2p_port;        /* --p2p-port, or 0 when not given */
} oa_get_env;

/* Runs `openace get` with its own arguments argv[0..argc-1] (everything
 * after "get" that is not a global option: the URI and the options of get).
 * Returns the exit code: 0 done (or seeding with --seed until SIGINT, see
 * below), 1 failed or timed out (a sentence on stderr), 2 a usage error,
 * 130 stopped by SIGINT (143 by SIGTERM). */
int oa_cli_get(const oa_get_env *env, int argc, char **argv);

#endif
