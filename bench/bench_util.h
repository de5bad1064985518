/* Helpers shared by the benchmark programs (bench/host, bench/lua): their
 * command-line options and opening and closing a host as the engine does.
 * Messages go to stderr and start with the program's name. */
#ifndef OA_BENCH_UTIL_H
#define OA_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "host.h"

/* Returns the value that follows the option name in argv (argv[1] onwards),
 * or def when the option is absent. The string belongs to argv. */
const char *bench_opt_str(int argc, char **argv, const char *name, const char *def);

/* Reads option name as a non-negative decimal number into *out (def when
 * the option is absent). Returns 0, or -1 for a value that is not such a
 * number, after saying so on stderr. */
int bench_opt_num(int argc, char **argv, const char *name, uint64_t def, uint64_t *out);

/* Opens h as the engine does (engine=1) on the data directory data, with
 * the plugins in plugins (NULL: none) and a bus of bus_capacity events (0:
 * the default). Returns 0, or -1 after printing why on stderr, prefixed
 * with prog; h then needs no close. */
int bench_host_open(const char *prog, oa_host *h, const char *data, const char *plugins,
                    size_t bus_capacity);

/* Closes h. Returns 0, or -1 when the host left handles open (said on
 * stderr, prefixed with prog), which a benchmark counts as a failed run. */
int bench_host_close(const char *prog, oa_host *h);

#endif
