#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The program's name for messages: the last part of argv[0]. */
static const char *prog_name(char **argv)
{
    const char *slash = strrchr(argv[0], '/');
    return slash != NULL ? slash + 1 : argv[0];
}

const char *bench_opt_str(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return def;
}

int bench_opt_num(int argc, char **argv, const char *name, uint64_t def, uint64_t *out)
{
    const char *s = bench_opt_str(argc, argv, name, NULL);
    char *end = NULL;
    unsigned long long v;

    *out = def;
    if (s == NULL) {
        return 0;
    }
    v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || s[0] == '-') {
        fprintf(stderr, "%s: %s wants a number, not '%s'\n", prog_name(argv), name, s);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int bench_host_open(const char *prog, oa_host *h, const char *data, const char *plugins,
                    size_t bus_capacity)
{
    oa_host_options opt;
    char err[1024];

    memset(&opt, 0, sizeof(opt));
    opt.data_dir = data;
    opt.plugin_dir = plugins;
    opt.engine = 1;
    opt.bus_capacity = bus_capacity;
    if (oa_host_open(h, NULL, &opt, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: cannot open the host: %s\n", prog, err);
        return -1;
    }
    return 0;
}

int bench_host_close(const char *prog, oa_host *h)
{
    int rc = oa_host_close(h);

    if (rc != 0) {
        fprintf(stderr, "%s: the host left handles open at close: %s\n", prog,
                oa_strerror(rc));
        return -1;
    }
    return 0;
}
