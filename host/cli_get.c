/* openace get URI (see cli_get.h): fetches content through the swarm
 * plugin and shows its progress.
 *
 * Embedded mode (the default) opens a host in this process, as the engine
 * does, but starts only the swarm plugin and the transport plugins, without
 * an HTTP listener and without Lua scripts, on a temporary data directory
 * that is removed at exit (or on --data, with its lock, like an engine).
 * Plugins are switched on and off for the run in memory only; --peer sets
 * swarm.bootstrap_peers in the store for the run and the previous value is
 * put back at exit. Then it calls the swarm's command "add" and polls its
 * command "stats" every 500 ms.
 *
 * Running mode (--engine URL --token TOKEN) calls the same two commands
 * through a running engine's admin API with libcurl's easy interface. */
#include "cli_get.h"

#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "plugin.h"

#define GET_POLL_MS 500
#define GET_LINE_EVERY_MS 2000 /* progress lines when stdout is not a terminal */
#define GET_DEFAULT_P2P_PORT 8621
#define GET_MAX_PEERS 32
#define GET_HTTP_TIMEOUT_S 15L
#define GET_HTTP_BODY_MAX (16u << 20)
#define GET_TORRENT_MAX (16u << 20) /* a .torrent file sent to a running engine */
#define GET_RUNNING (-1) /* no exit code yet */

typedef struct get_opts {
    const char *uri;
    const char *out;
    const char *peers[GET_MAX_PEERS];
    size_t npeers;
    int seed;
    unsigned long timeout_s; /* 0: none */
    const char *engine;      /* running mode: the engine's base URL */
    const char *token;
    int token_given;         /* --token (not the environment) */
    char uri_buf[PATH_MAX];
    char out_buf[PATH_MAX];
} get_opts;

/* The progress display and what the last stats said. */
typedef struct progress {
    int tty;
    int on_screen;        /* a \r line is showing (tty) */
    int done_shown;       /* "done" was printed (seeding) */
    uint64_t start_ms;
    uint64_t last_line_ms;
    char state[16];
    char line[256];
} progress;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int get_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "openace get: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'openace --help'.\n");
    return 2;
}

/* "ip:port" or "[v6]:port" with a port 1-65535 and no spaces; the swarm
 * checks the address itself. */
static int valid_peer(const char *s)
{
    const char *colon = strrchr(s, ':');
    char *end = NULL;
    long port;
    if (colon == NULL || colon == s || strchr(s, ' ') != NULL || strchr(s, '\t') != NULL) {
        return 0;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    return errno == 0 && end != colon + 1 && *end == '\0' && port >= 1 && port <= 65535;
}

/* Returns -1 to go on, or an exit code. */
static int parse_get_args(get_opts *o, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        const char *with_value[] = {"--out", "--peer", "--timeout", "--engine", "--token"};
        size_t k;
        for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            size_t len = strlen(with_value[k]);
            if (strncmp(a, with_value[k], len) == 0 && (a[len] == '\0' || a[len] == '=')) {
                if (a[len] == '=') {
                    val = a + len + 1;
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    return get_usage("option %s needs a value", with_value[k]);
                }
                break;
            }
        }
        if (val != NULL) {
            const char *opt = with_value[k];
            if (strcmp(opt, "--out") == 0) {
                if (*val == '\0') {
                    return get_usage("%s", "--out wants a directory");
                }
                o->out = val;
            } else if (strcmp(opt, "--peer") == 0) {
                if (!valid_peer(val)) {
                    return get_usage("--peer wants IP:PORT (or [IPv6]:PORT), not '%s'", val);
                }
                if (o->npeers >= GET_MAX_PEERS) {
                    return get_usage("too many --peer options at '%s' (at most 32)", val);
                }
                o->peers[o->npeers++] = val;
            } else if (strcmp(opt, "--timeout") == 0) {
                char *end = NULL;
                unsigned long v;
                errno = 0;
                v = strtoul(val, &end, 10);
                if (errno != 0 || end == val || *end != '\0' || val[0] == '-' || v < 1 ||
                    v > 31536000ul) {
                    return get_usage("--timeout wants whole seconds from 1 to 31536000, not '%s'",
                                     val);
                }
                o->timeout_s = v;
            } else if (strcmp(opt, "--engine") == 0) {
                if (strncmp(val, "http://", 7) != 0 && strncmp(val, "https://", 8) != 0) {
                    return get_usage("--engine wants the engine's URL, such as "
                                     "http://127.0.0.1:6878, not '%s'",
                                     val);
                }
                o->engine = val;
            } else {
                o->token = val;
                o->token_given = 1;
            }
            continue;
        }
        if (strcmp(a, "--seed") == 0) {
            o->seed = 1;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            return get_usage("unknown option '%s'", a);
        }
        if (o->uri != NULL) {
            return get_usage("takes one URI; '%s' is one too many", a);
        }
        o->uri = a;
    }
    if (o->uri == NULL || o->uri[0] == '\0') {
        return get_usage("%s", "needs a URI: a magnet link, a 40-hex info-hash or a .torrent file");
    }
    if (o->token == NULL) {
        const char *env = getenv("OPENACE_TOKEN");
        o->token = env != NULL && *env != '\0' ? env : NULL;
    }
    if (o->engine != NULL && o->token == NULL) {
        return get_usage("%s", "--engine needs --token TOKEN (or OPENACE_TOKEN in the "
                               "environment); make one with 'openace token create USER NAME'");
    }
    if (o->engine != NULL && o->npeers > 0) {
        return get_usage("%s", "--peer works only without --engine: set the running engine's "
                               "swarm.bootstrap_peers instead");
    }
    if (o->engine == NULL && o->token_given) {
        return get_usage("%s", "--token goes with --engine URL");
    }
    return -1;
}

/* A .torrent file given by a relative path becomes absolute, since the
 * swarm (or the engine) does not share our working directory's meaning. */
static void resolve_uri(get_opts *o)
{
    struct stat st;
    if (o->uri[0] != '/' && strchr(o->uri, ':') == NULL && stat(o->uri, &st) == 0 &&
        S_ISREG(st.st_mode) && realpath(o->uri, o->uri_buf) != NULL) {
        o->uri = o->uri_buf;
    }
}

/* Embedded: OUT is created if missing, must be writable, and is made
 * absolute. Running: OUT is on the engine's machine; a relative one is
 * taken from our working directory. Returns 0, or 1 with a sentence. */
static int resolve_out(get_opts *o)
{
    const char *out = o->out != NULL ? o->out : ".";
    if (o->engine != NULL) {
        char cwd[PATH_MAX];
        if (out[0] == '/') {
            snprintf(o->out_buf, sizeof(o->out_buf), "%s", out);
        } else if (strcmp(out, ".") == 0 && getcwd(o->out_buf, sizeof(o->out_buf)) != NULL) {
            /* the working directory */
        } else if (getcwd(cwd, sizeof(cwd)) != NULL &&
                   (size_t)snprintf(o->out_buf, sizeof(o->out_buf), "%s/%s", cwd, out) <
                       sizeof(o->out_buf)) {
            /* relative to here */
        } else {
            fprintf(stderr, "openace get: cannot make %s an absolute path\n", out);
            return 1;
        }
        o->out = o->out_buf;
        return 0;
    }
    if (oa_mkdir_p(out, 0755) != 0) { /* 0755: the content is the user's */
        fprintf(stderr, "openace get: cannot create the output directory %s: %s\n", out,
                strerror(errno));
        return 1;
    }
    if (access(out, W_OK | X_OK) != 0) {
        fprintf(stderr, "openace get: cannot write into the output directory %s: %s\n", out,
                strerror(errno));
        return 1;
    }
    if (realpath(out, o->out_buf) == NULL) {
        fprintf(stderr, "openace get: cannot resolve the output directory %s: %s\n", out,
                strerror(errno));
        return 1;
    }
    o->out = o->out_buf;
    return 0;
}

/* ---- progress ------------------------------------------------------------ */

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* Bytes per second, with a unit that fits. */
static void fmt_rate(double bps, char *buf, size_t len)
{
    if (bps >= 1e6) {
        snprintf(buf, len, "%.2f MB/s", bps / 1e6);
    } else if (bps >= 1e3) {
        snprintf(buf, len, "%.1f kB/s", bps / 1e3);
    } else {
        snprintf(buf, len, "%.0f B/s", bps);
    }
}

static void progress_line(json_t *st, char *buf, size_t len)
{
    const char *state = str(st, "state");
    double total = num(st, "total_length");
    double have = num(st, "have_bytes");
    double peers = num(st, "peers");
    double seeds = num(st, "seeds");
    double pct = total > 0 ? 100.0 * have / total : 100.0 * num(st, "progress");
    char rate[32];

    if (strcmp(state, "metadata") == 0) {
        snprintf(buf, len, "metadata     asking peers for the torrent's metadata, %.0f peer%s",
                 peers, peers == 1 ? "" : "s");
        return;
    }
    if (strcmp(state, "seeding") == 0) {
        fmt_rate(num(st, "upload_rate"), rate, sizeof(rate));
        snprintf(buf, len, "seeding      %5.1f%%  %.1f/%.1f MB  up %s, %.1f MB uploaded, %.0f peer%s",
                 pct, have / 1e6, total / 1e6, rate, num(st, "uploaded") / 1e6, peers,
                 peers == 1 ? "" : "s");
        return;
    }
    fmt_rate(num(st, "download_rate"), rate, sizeof(rate));
    snprintf(buf, len, "%-12s %5.1f%%  %.1f/%.1f MB  %s  %.0f peer%s (%.0f seed%s)", state, pct,
             have / 1e6, total / 1e6, rate, peers, peers == 1 ? "" : "s", seeds,
             seeds == 1 ? "" : "s");
}

/* Ends a \r line so that the next output starts on a fresh line. */
static void progress_break(progress *pg)
{
    if (pg->on_screen) {
        fputc('\n', stdout);
        fflush(stdout);
        pg->on_screen = 0;
    }
}

static void progress_show(progress *pg, int force)
{
    uint64_t now = mono_ms();
    if (pg->tty) {
        printf("\r%s\033[K", pg->line);
        pg->on_screen = 1;
    } else if (force || now - pg->last_line_ms >= GET_LINE_EVERY_MS) {
        printf("%s\n", pg->line);
        pg->last_line_ms = now;
    }
    fflush(stdout);
}

/* Takes one stats answer: shows it and says whether the run is over.
 * Returns GET_RUNNING to go on, or the exit code. */
static int progress_update(progress *pg, const get_opts *o, json_t *st)
{
    const char *state = str(st, "state");
    int changed = strcmp(state, pg->state) != 0;

    snprintf(pg->state, sizeof(pg->state), "%s", state);
    progress_line(st, pg->line, sizeof(pg->line));
    if (strcmp(state, "error") == 0) {
        const char *err = str(st, "error");
        progress_break(pg);
        fprintf(stderr, "openace get: %s failed: %s\n",
                *str(st, "name") ? str(st, "name") : str(st, "infohash"),
                *err ? err : "the swarm reports an error without a reason");
        return 1;
    }
    progress_show(pg, changed);
    if (strcmp(state, "seeding") == 0 && !pg->done_shown) {
        double secs = (double)(mono_ms() - pg->start_ms) / 1000.0;
        double total = num(st, "total_length");
        char rate[32];
        fmt_rate(secs > 0 ? num(st, "downloaded") / secs : 0, rate, sizeof(rate));
        progress_break(pg);
        printf("done: %s, %.1f MB in %s (%.1f s, %s on average)\n", str(st, "name"), total / 1e6,
               *str(st, "dir") ? str(st, "dir") : o->out, secs, rate);
        pg->done_shown = 1;
        if (!o->seed) {
            return 0;
        }
        printf("seeding until SIGINT (Ctrl-C)\n");
        fflush(stdout);
    }
    return GET_RUNNING;
}

/* The add answer: remembers the info-hash and says what is fetched where. */
static int take_added(const char *answer, const get_opts *o, char *hash, size_t hashlen)
{
    json_t *j = json_loads(answer, 0, NULL);
    const char *ih = json_string_value(json_object_get(j, "infohash"));
    const char *name = json_string_value(json_object_get(j, "name"));
    if (ih == NULL || strlen(ih) >= hashlen) {
        fprintf(stderr, "openace get: the swarm's answer to add has no info-hash: %.200s\n",
                answer);
        json_decref(j);
        return 1;
    }
    snprintf(hash, hashlen, "%s", ih);
    printf("%s %s (%s) into %s\n",
           json_is_true(json_object_get(j, "existed")) ? "resuming" : "fetching",
           name != NULL && *name ? name : "(name not known yet)", hash, o->out);
    fflush(stdout);
    json_decref(j);
    return 0;
}

/* --timeout: a failure before the content is complete; with --seed after
 * it, the end of the seeding time. */
static int timeout_exit(progress *pg, const get_opts *o)
{
    progress_break(pg);
    if (pg->done_shown) {
        printf("stopped seeding after %lu s (--timeout)\n", o->timeout_s);
        fflush(stdout);
        return 0;
    }
    fprintf(stderr, "openace get: gave up after %lu s (--timeout): %s\n", o->timeout_s,
            pg->line[0] ? pg->line : "no progress reported yet");
    return 1;
}

/* ---- embedded mode --------------------------------------------------------- */

typedef struct get_run {
    oa_host h;
    const get_opts *o;
    progress pg;
    char hash[64];
    char stats_args[128];
    uv_timer_t poll;
    uv_timer_t deadline;
    uv_signal_t sig_int;
    uv_signal_t sig_term;
    int handles_on;
    int rc;
} get_run;

static void close_handle(uv_handle_t *hd)
{
    if (!uv_is_closing(hd)) {
        uv_close(hd, NULL);
    }
}

static void run_finish(get_run *r, int rc)
{
    if (r->rc != GET_RUNNING) {
        return;
    }
    r->rc = rc;
    if (r->handles_on) {
        close_handle((uv_handle_t *)&r->poll);
        close_handle((uv_handle_t *)&r->deadline);
        close_handle((uv_handle_t *)&r->sig_int);
        close_handle((uv_handle_t *)&r->sig_term);
        r->handles_on = 0;
    }
    oa_host_stop(&r->h);
}

static void on_poll(uv_timer_t *t)
{
    get_run *r = t->data;
    char *out = NULL;
    json_t *st;
    int rc = oa_registry_command(r->h.reg, "swarm", "stats", r->stats_args, &out);
    if (rc != 0) {
        progress_break(&r->pg);
        fprintf(stderr, "openace get: the swarm's stats failed: %s\n",
                out != NULL ? out : oa_strerror(rc));
        free(out);
        run_finish(r, 1);
        return;
    }
    st = json_loads(out != NULL ? out : "", 0, NULL);
    free(out);
    rc = st != NULL ? progress_update(&r->pg, r->o, st) : GET_RUNNING;
    json_decref(st);
    if (rc != GET_RUNNING) {
        run_finish(r, rc);
    }
}

static void on_deadline(uv_timer_t *t)
{
    get_run *r = t->data;
    run_finish(r, timeout_exit(&r->pg, r->o));
}

static void on_get_signal(uv_signal_t *s, int signum)
{
    get_run *r = s->data;
    progress_break(&r->pg);
    fprintf(stderr, "openace get: stopped by %s\n", signum == SIGINT ? "SIGINT" : "SIGTERM");
    run_finish(r, 128 + signum);
}

/* The p2p port when none was given: 8621 while it is free, else one the
 * kernel picks (so that get works beside a running engine). */
static int pick_p2p_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int one = 1;
    int port = GET_DEFAULT_P2P_PORT;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return port;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(GET_DEFAULT_P2P_PORT);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        a.sin_port = 0;
        if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(fd, (struct sockaddr *)&a, &alen) == 0) {
            port = ntohs(a.sin_port);
            oa_log_write(OA_LOG_INFO, "host", "p2p port %d is in use; using %d for this run",
                         GET_DEFAULT_P2P_PORT, port);
        }
    }
    close(fd);
    return port;
}

/* Switches, in memory only, the swarm plugin and the transports on for this
 * run and every other plugin off. Returns 0, or 1 with a sentence when the
 * swarm plugin is missing or was refused. */
static int choose_plugins(oa_host *h, const char *plugin_dir)
{
    oa_plugin_info info;
    if (oa_registry_info_by_name(h->reg, "swarm", &info) != 0) {
        fprintf(stderr,
                "openace get: the swarm plugin is not in the plugin directory %s (no swarm.so "
                "there); build it (target swarm) or give --plugins DIR\n",
                plugin_dir);
        return 1;
    }
    if (info.desc == NULL) {
        fprintf(stderr, "openace get: the swarm plugin in %s was refused: %s\n", plugin_dir,
                info.reason);
        return 1;
    }
    for (size_t i = 0; i < oa_registry_count(h->reg); i++) {
        oa_plugin *p;
        if (oa_registry_info(h->reg, i, &info) != 0 || info.desc == NULL || info.name == NULL) {
            continue;
        }
        p = oa_registry_find(h->reg, info.name);
        if (p != NULL) {
            p->enabled = strcmp(info.name, "swarm") == 0 || info.desc->kind == OA_KIND_TRANSPORT;
        }
    }
    return 0;
}

/* Why the swarm plugin does not run, with its transport's reason when that
 * is the cause. */
static void report_not_running(oa_host *h, const char *plugin_dir)
{
    oa_plugin_info info;
    oa_plugin_info tcp;
    oa_registry_info_by_name(h->reg, "swarm", &info);
    fprintf(stderr, "openace get: the swarm plugin did not start (%s): %s\n",
            oa_state_name(info.state), info.reason[0] ? info.reason : "no reason given");
    if (oa_registry_info_by_name(h->reg, "transport-tcp", &tcp) != 0) {
        fprintf(stderr, "openace get: the transport-tcp plugin is not in %s either; build it "
                        "(target transport-tcp)\n",
                plugin_dir);
    } else if (tcp.state != OA_STATE_RUNNING) {
        fprintf(stderr, "openace get: transport-tcp: %s\n",
                tcp.reason[0] ? tcp.reason : oa_state_name(tcp.state));
    }
}

/* Sets swarm.bootstrap_peers for the run; *prev gets the stored value to
 * put back (NULL: none was stored). Returns 0, or 1 with a sentence. */
static int set_peers(oa_host *h, const get_opts *o, char **prev, int *had)
{
    char list[1024];
    char err[512];
    size_t used = 0;
    *prev = NULL;
    *had = 0;
    if (o->npeers == 0) {
        return 0;
    }
    list[0] = '\0';
    for (size_t i = 0; i < o->npeers; i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? " " : "", o->peers[i]);
        if (n < 0 || (size_t)n >= sizeof(list) - used) {
            fprintf(stderr, "openace get: the --peer addresses are too long together (at most "
                            "1023 characters)\n");
            return 1;
        }
        used += (size_t)n;
    }
    *had = oa_store_config_get(h->store, "swarm", "bootstrap_peers", prev) == 0;
    if (oa_host_config_set(h, "swarm", "bootstrap_peers", list, err, sizeof(err)) != 0) {
        fprintf(stderr, "openace get: cannot set the --peer addresses: %s\n", err);
        free(*prev);
        *prev = NULL;
        *had = 0;
        return 1;
    }
    return 0;
}

static void restore_peers(oa_host *h, const get_opts *o, char *prev, int had)
{
    if (o->npeers == 0 || h->store == NULL) {
        return;
    }
    if (had) {
        oa_store_config_set(h->store, "swarm", "bootstrap_peers", prev);
    } else {
        oa_store_config_del(h->store, "swarm", "bootstrap_peers");
    }
    free(prev);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int run_embedded(const oa_get_env *env, const get_opts *o)
{
    get_run *r = calloc(1, sizeof(*r));
    oa_host_options opt;
    char tmp[PATH_MAX];
    char err[1024];
    char args[PATH_MAX * 2 + 64];
    char *answer = NULL;
    char *prev_peers = NULL;
    int had_peers = 0;
    int opened = 0;
    int rc;
    struct stat st;

    if (r == NULL) {
        fprintf(stderr, "openace get: out of memory\n");
        return 1;
    }
    r->o = o;
    r->rc = GET_RUNNING;
    r->pg.tty = isatty(STDOUT_FILENO);
    tmp[0] = '\0';
    if (stat(env->plugins, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "openace get: the plugin directory %s does not exist; get needs the swarm and "
                "transport-tcp plugins there (give --plugins DIR)\n",
                env->plugins);
        free(r);
        return 1;
    }
    if (env->data == NULL) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/openace-get-XXXXXX", t != NULL && *t != '\0' ? t : "/tmp");
        if (mkdtemp(tmp) == NULL) {
            fprintf(stderr, "openace get: cannot create a temporary data directory %s: %s\n",
                    tmp, strerror(errno));
            free(r);
            return 1;
        }
    }
    memset(&opt, 0, sizeof(opt));
    opt.data_dir = env->data != NULL ? env->data : tmp;
    opt.plugin_dir = env->plugins;
    opt.p2p_port = env->p2p_port > 0 ? env->p2p_port : pick_p2p_port();
    opt.engine = 1; /* the data directory's lock, live plugin states */
    opt.http = OA_HTTP_OFF;
    rc = oa_host_open(&r->h, NULL, &opt, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "openace get: %s\n", err);
        if (rc == OA_EBUSY) {
            fprintf(stderr, "openace get: leave out --data to fetch beside it, or use its "
                            "admin API with --engine URL --token TOKEN\n");
        }
        rc = 1;
        goto out;
    }
    opened = 1;
    if (choose_plugins(&r->h, env->plugins) != 0 ||
        set_peers(&r->h, o, &prev_peers, &had_peers) != 0) {
        rc = 1;
        goto out;
    }

    uv_timer_init(r->h.loop, &r->poll);
    uv_timer_init(r->h.loop, &r->deadline);
    uv_signal_init(r->h.loop, &r->sig_int);
    uv_signal_init(r->h.loop, &r->sig_term);
    r->poll.data = r;
    r->deadline.data = r;
    r->sig_int.data = r;
    r->sig_term.data = r;
    r->handles_on = 1;
    uv_signal_start(&r->sig_int, on_get_signal, SIGINT);
    uv_signal_start(&r->sig_term, on_get_signal, SIGTERM);

    oa_registry_start_all(r->h.reg);
    oa_log_write(OA_LOG_INFO, "host", "openace get: data %s, plugins %s, p2p port %d",
                 opt.data_dir, env->plugins, opt.p2p_port);
    {
        oa_plugin_info info;
        if (oa_registry_info_by_name(r->h.reg, "swarm", &info) != 0 ||
            info.state != OA_STATE_RUNNING) {
            report_not_running(&r->h, env->plugins);
            run_finish(r, 1);
            goto out;
        }
    }
    {
        json_t *a = json_pack("{s:s, s:s}", "uri", o->uri, "dir", o->out);
        char *txt = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        snprintf(args, sizeof(args), "%s", txt != NULL ? txt : "{}");
        free(txt);
    }
    rc = oa_registry_command(r->h.reg, "swarm", "add", args, &answer);
    if (rc != 0) {
        fprintf(stderr, "openace get: cannot add %s: %s\n", o->uri,
                answer != NULL ? answer : oa_strerror(rc));
        run_finish(r, 1);
        goto out;
    }
    if (take_added(answer, o, r->hash, sizeof(r->hash)) != 0) {
        run_finish(r, 1);
        goto out;
    }
    snprintf(r->stats_args, sizeof(r->stats_args), "{\"infohash\":\"%s\"}", r->hash);
    r->pg.start_ms = mono_ms();
    uv_timer_start(&r->poll, on_poll, 0, GET_POLL_MS);
    if (o->timeout_s > 0) {
        uv_timer_start(&r->deadline, on_deadline, (uint64_t)o->timeout_s * 1000u, 0);
    }
    uv_run(r->h.loop, UV_RUN_DEFAULT);
    if (r->rc == GET_RUNNING) {
        /* The loop ended without us (a plugin stopped it). */
        progress_break(&r->pg);
        fprintf(stderr, "openace get: the engine stopped before the content was complete\n");
        run_finish(r, 1);
    }

out:
    free(answer);
    if (opened) {
        if (r->rc == GET_RUNNING) {
            run_finish(r, rc);
        }
        restore_peers(&r->h, o, prev_peers, had_peers);
        if (oa_host_close(&r->h) != 0) {
            oa_log_write(OA_LOG_WARN, "host", "the event loop did not close cleanly");
        }
        rc = r->rc;
    }
    if (tmp[0] != '\0') {
        nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    free(r);
    return rc;
}

/* ---- running mode ---------------------------------------------------------- */

static volatile sig_atomic_t got_signal;

static void on_posix_signal(int signum)
{
    got_signal = signum;
}

typedef struct http_buf {
    char *p;
    size_t n;
    int too_big;
} http_buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    http_buf *b = arg;
    size_t len = size * nmemb;
    char *np;
    if (b->n + len > GET_HTTP_BODY_MAX) {
        b->too_big = 1;
        return 0;
    }
    np = realloc(b->p, b->n + len + 1);
    if (np == NULL) {
        return 0;
    }
    memcpy(np + b->n, data, len);
    b->n += len;
    np[b->n] = '\0';
    b->p = np;
    return len;
}

static int on_xfer(void *arg, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
    (void)arg;
    (void)dlt;
    (void)dln;
    (void)ult;
    (void)uln;
    return got_signal != 0; /* abort a request in flight on SIGINT */
}

/* POSTs args to the engine's swarm command cmd. On success *result is the
 * command's answer (json_decref it). Returns 0, or 1 with a sentence on
 * stderr (or quietly when a signal arrived). */
static int api_command(CURL *c, const get_opts *o, const char *cmd, json_t *args, json_t **result)
{
    char url[2048];
    char auth[1024];
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL;
    http_buf b = {NULL, 0, 0};
    char *body = json_dumps(args, JSON_COMPACT);
    size_t blen = strlen(o->engine);
    long status = 0;
    json_t *j = NULL;
    CURLcode cc;
    int rc = 1;

    *result = NULL;
    while (blen > 0 && o->engine[blen - 1] == '/') {
        blen--;
    }
    snprintf(url, sizeof(url), "%.*s/api/plugins/swarm/commands/%s", (int)blen, o->engine, cmd);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->token);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, auth);
    errbuf[0] = '\0';
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, GET_HTTP_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
    cc = curl_easy_perform(c);
    if (got_signal != 0) {
        goto done;
    }
    if (cc != CURLE_OK) {
        fprintf(stderr, "openace get: cannot reach the engine at %s: %s\n", url,
                errbuf[0] ? errbuf : curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    j = b.p != NULL ? json_loads(b.p, 0, NULL) : NULL;
    if (status == 200 && json_is_object(json_object_get(j, "result"))) {
        *result = json_incref(json_object_get(j, "result"));
        rc = 0;
    } else {
        const char *msg = json_string_value(json_object_get(json_object_get(j, "error"),
                                                            "message"));
        fprintf(stderr, "openace get: the engine answered %s with HTTP %ld%s: %s\n", cmd, status,
                status == 401 ? " (is the token right?)" : "",
                msg != NULL ? msg : b.p != NULL ? b.p : "no body");
    }
done:
    json_decref(j);
    free(b.p);
    free(body);
    curl_slist_free_all(hdrs);
    return rc;
}

static int signal_exit(progress *pg)
{
    progress_break(pg);
    fprintf(stderr, "openace get: stopped by %s (the content stays on the engine)\n",
            got_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 128 + got_signal;
}

/* The add arguments for a running engine: a .torrent file here is sent as
 * base64 bytes ("torrent"), since the engine may not see our files; any
 * other URI as it is. NULL with a sentence on stderr on failure. */
static json_t *remote_add_args(const get_opts *o)
{
    struct stat st;
    unsigned char *raw;
    unsigned char *b64;
    json_t *args;
    FILE *f;
    size_t n;

    if (stat(o->uri, &st) != 0 || !S_ISREG(st.st_mode)) {
        return json_pack("{s:s, s:s}", "uri", o->uri, "dir", o->out);
    }
    if (st.st_size <= 0 || (uint64_t)st.st_size > GET_TORRENT_MAX) {
        fprintf(stderr, "openace get: %s is not a .torrent file of 1 byte to 16 MiB\n", o->uri);
        return NULL;
    }
    f = fopen(o->uri, "rb");
    raw = malloc((size_t)st.st_size);
    b64 = malloc(((size_t)st.st_size + 2) / 3 * 4 + 1);
    n = f != NULL && raw != NULL && b64 != NULL ? fread(raw, 1, (size_t)st.st_size, f) : 0;
    if (n != (size_t)st.st_size) {
        fprintf(stderr, "openace get: cannot read %s: %s\n", o->uri,
                f == NULL ? strerror(errno) : "read error or out of memory");
        args = NULL;
    } else {
        EVP_EncodeBlock(b64, raw, (int)n);
        args = json_pack("{s:s, s:s}", "torrent", (const char *)b64, "dir", o->out);
    }
    if (f != NULL) {
        fclose(f);
    }
    free(raw);
    free(b64);
    return args;
}

static int run_remote(const get_opts *o)
{
    struct sigaction sa;
    progress pg;
    CURL *c;
    json_t *res = NULL;
    json_t *args;
    char hash[64] = "";
    uint64_t deadline = 0;
    int rc = GET_RUNNING;

    memset(&pg, 0, sizeof(pg));
    pg.tty = isatty(STDOUT_FILENO);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_posix_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || (c = curl_easy_init()) == NULL) {
        fprintf(stderr, "openace get: cannot set up libcurl\n");
        return 1;
    }
    args = remote_add_args(o);
    if (args == NULL) {
        rc = 1;
    } else if (api_command(c, o, "add", args, &res) != 0) {
        rc = got_signal != 0 ? signal_exit(&pg) : 1;
    } else {
        char *txt = json_dumps(res, JSON_COMPACT);
        rc = take_added(txt != NULL ? txt : "{}", o, hash, sizeof(hash));
        rc = rc == 0 ? GET_RUNNING : rc;
        free(txt);
    }
    json_decref(args);
    json_decref(res);
    pg.start_ms = mono_ms();
    if (o->timeout_s > 0) {
        deadline = pg.start_ms + (uint64_t)o->timeout_s * 1000u;
    }
    args = json_pack("{s:s}", "infohash", hash);
    while (rc == GET_RUNNING) {
        struct timespec ts = {0, GET_POLL_MS * 1000000L};
        if (got_signal != 0) {
            rc = signal_exit(&pg);
            break;
        }
        if (deadline != 0 && mono_ms() >= deadline) {
            rc = timeout_exit(&pg, o);
            break;
        }
        if (api_command(c, o, "stats", args, &res) != 0) {
            rc = got_signal != 0 ? signal_exit(&pg) : 1;
            break;
        }
        rc = progress_update(&pg, o, res);
        json_decref(res);
        res = NULL;
        if (rc == GET_RUNNING) {
            nanosleep(&ts, NULL); /* a signal cuts it short */
        }
    }
    json_decref(args);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return rc;
}

int oa_cli_get(const oa_get_env *env, int argc, char **argv)
{
    get_opts *o = calloc(1, sizeof(*o));
    int rc;
    if (o == NULL) {
        fprintf(stderr, "openace get: out of memory\n");
        return 1;
    }
    rc = parse_get_args(o, argc, argv);
    if (rc < 0) {
        resolve_uri(o);
        rc = resolve_out(o);
    }
    if (rc == 0) {
        rc = o->engine != NULL ? run_remote(o) : run_embedded(env, o);
    }
    free(o);
    return rc;
}
