/* The openace command line. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth_cli.h"
#include "cli_get.h"
#include "config.h"
#include "host.h"
#include "loader.h"
#include "scripts_cli.h"

#ifndef OA_PLUGIN_INSTALL_DIR
#define OA_PLUGIN_INSTALL_DIR "/usr/local/lib/openace/plugins"
#endif

static const char usage_text[] =
    "Usage: openace [OPTIONS]                 run the engine until SIGINT/SIGTERM\n"
    "       openace [OPTIONS] COMMAND ...     an offline command (works beside a running engine)\n"
    "\n"
    "Commands:\n"
    "  plugins [--json]                 list the plugins with state and reason\n"
    "  plugins enable NAME              enable a plugin (stored; a running engine applies it\n"
    "  plugins disable NAME             at its next start)\n"
    "  plugin-info FILE.so [--json]     load one plugin file and print its descriptor, or the\n"
    "                                   reason it would be refused (exit 1)\n"
    "  config get PLUGIN [KEY]          print a setting (stored value or default); without\n"
    "                                   KEY, every setting of the plugin with its help\n"
    "  config set PLUGIN KEY VALUE      validate against the plugin's schema and store\n"
    "  passwd USER                      set an admin user's password (read from standard\n"
    "                                   input; creates the user if new; ends its sessions)\n"
    "  token create USER NAME           make an API token for scripts (shown only once)\n"
    "  token list                       list API tokens\n"
    "  token revoke NAME                revoke an API token\n"
    "  script run FILE.lua [MS]         run a Lua script once, for testing: against a scratch\n"
    "                                   copy of the data (plugins loaded, not started), until\n"
    "                                   it has no timers left or MS ms (default 5000) pass;\n"
    "                                   exit 1 if it fails (the error and line are printed)\n"
    "  get URI [GET OPTIONS]            fetch a magnet link, 40-hex info-hash or .torrent file\n"
    "                                   and show progress; exit 0 once every piece is verified\n"
    "\n"
    "Options:\n"
    "  --data DIR          data directory: SQLite database, plugin files, lock\n"
    "                      (default: ./var from a build tree, else $OPENACE_DATA,\n"
    "                      /var/lib/openace as root, ~/.local/share/openace otherwise)\n"
    "  --http ADDR:PORT    HTTP listener for players and the admin UI (default 127.0.0.1:6878;\n"
    "                      the admin UI is at http://ADDR:PORT/admin/)\n"
    "  --p2p-port N        TCP/UDP port for peers, 1-65535 (default 8621)\n"
    "  --plugins DIR       plugin directory (default: ../plugins beside the executable in a\n"
    "                      build tree, else " OA_PLUGIN_INSTALL_DIR ")\n"
    "  --log-level LEVEL   error, warn, info, debug or trace (default info for the engine,\n"
    "                      warn for offline commands)\n"
    "  --log-json          log as JSON lines instead of text\n"
    "  --json              machine-readable output for plugins and plugin-info\n"
    "  --version           print the host and SDK versions\n"
    "  -h, --help          this text\n"
    "\n"
    "Options of get (global options may be given too):\n"
    "  --out DIR           where the content goes, created if missing (default: the current\n"
    "                      directory)\n"
    "  --peer ADDR         a peer to try, IP:PORT or [IPv6]:PORT; repeatable (sets\n"
    "                      swarm.bootstrap_peers for this run; the old value is put back)\n"
    "  --seed              keep seeding once complete, until SIGINT\n"
    "  --timeout SECONDS   give up after this long (exit 1)\n"
    "  --engine URL        use a running engine's admin API (e.g. http://127.0.0.1:6878) instead\n"
    "                      of an engine in this process; DIR is then on the engine's machine\n"
    "  --token TOKEN       API token for --engine (see 'token create'; default $OPENACE_TOKEN)\n"
    "  Without --engine, get runs an engine in this process with only the swarm and transport\n"
    "  plugins (no HTTP listener, no scripts; other plugins are off for the run, nothing about\n"
    "  that is stored), on a temporary data directory that is removed at exit, so it works\n"
    "  beside a running engine; with --data it uses that directory and its lock like an engine\n"
    "  (its catalog resumes too). The p2p port is --p2p-port, else 8621, or a free one when\n"
    "  8621 is taken. Exit status of get: 0 complete, 1 failed or timed out, 2 usage error,\n"
    "  130 SIGINT (also with --seed), 143 SIGTERM.\n"
    "\n"
    "Exit status: 0 success, 1 refused or failed (the reason is printed), 2 usage error.\n";

typedef struct cli {
    const char *data;
    const char *http;
    const char *plugins;
    int p2p_port;
    int log_json;
    int json;
    int level_set;
    oa_log_level level;
    char *pos[8];
    int npos;
    char *get_args[64]; /* what follows "get", other than global options */
    int nget;
    char exe_dir[PATH_MAX];
    int build_tree;
    char data_buf[PATH_MAX];
    char plugins_buf[PATH_MAX];
    char scripts_buf[PATH_MAX];
} cli;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "openace: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'openace --help'.\n");
    return 2;
}

static int dir_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Works out where the executable lives and whether that is a build tree
 * (bin/ beside plugins/ and CMakeCache.txt). */
static void find_defaults(cli *c)
{
    char exe[PATH_MAX];
    char probe[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    c->exe_dir[0] = '\0';
    if (n > 0) {
        exe[n] = '\0';
        snprintf(c->exe_dir, sizeof(c->exe_dir), "%s", dirname(exe));
    }
    snprintf(probe, sizeof(probe), "%s/../CMakeCache.txt", c->exe_dir);
    c->build_tree = c->exe_dir[0] != '\0' && access(probe, F_OK) == 0;

    if (c->plugins == NULL) {
        if (c->build_tree) {
            char up[PATH_MAX + 16];
            snprintf(up, sizeof(up), "%s/../plugins", c->exe_dir);
            if (realpath(up, c->plugins_buf) == NULL) {
                memcpy(c->plugins_buf, up, sizeof(c->plugins_buf) - 1);
                c->plugins_buf[sizeof(c->plugins_buf) - 1] = '\0';
            }
        } else {
            snprintf(c->plugins_buf, sizeof(c->plugins_buf), "%s", OA_PLUGIN_INSTALL_DIR);
        }
        c->plugins = c->plugins_buf;
    }
#ifdef OA_SOURCE_DIR
    if (c->build_tree) {
        snprintf(c->scripts_buf, sizeof(c->scripts_buf), "%s/scripts/lua", OA_SOURCE_DIR);
    }
#endif
#ifdef OA_SCRIPTS_INSTALL_DIR
    if (!c->build_tree) {
        snprintf(c->scripts_buf, sizeof(c->scripts_buf), "%s", OA_SCRIPTS_INSTALL_DIR);
    }
#endif
    if (c->data == NULL) {
        const char *env = getenv("OPENACE_DATA");
        const char *home = getenv("HOME");
        const char *xdg = getenv("XDG_DATA_HOME");
        if (c->build_tree) {
            snprintf(c->data_buf, sizeof(c->data_buf), "var");
        } else if (env != NULL && *env != '\0') {
            snprintf(c->data_buf, sizeof(c->data_buf), "%s", env);
        } else if (geteuid() == 0) {
            snprintf(c->data_buf, sizeof(c->data_buf), "/var/lib/openace");
        } else if (xdg != NULL && *xdg != '\0') {
            snprintf(c->data_buf, sizeof(c->data_buf), "%s/openace", xdg);
        } else {
            snprintf(c->data_buf, sizeof(c->data_buf), "%s/.local/share/openace",
                     home ? home : ".");
        }
        c->data = c->data_buf;
    }
}

static int parse_port(const char *s, int *out)
{
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535) {
        return OA_ERANGE;
    }
    *out = (int)v;
    return 0;
}

static int valid_listen(const char *s)
{
    const char *colon = strrchr(s, ':');
    int port;
    if (colon == NULL || colon == s) {
        return 0;
    }
    return parse_port(colon + 1, &port) == 0;
}

/* Returns -1 to continue, or an exit code. */
static int parse_args(cli *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        char *val = NULL;
        const char *opts_with_value[] = {"--data", "--http", "--p2p-port", "--plugins",
                                         "--log-level"};
        int takes = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("openace %s (SDK %d.%d)\n", OA_HOST_VERSION, OA_SDK_MAJOR, OA_SDK_MINOR);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            c->json = 1;
            continue;
        }
        if (strcmp(a, "--log-json") == 0) {
            c->log_json = 1;
            continue;
        }
        for (size_t k = 0; k < sizeof(opts_with_value) / sizeof(opts_with_value[0]); k++) {
            size_t len = strlen(opts_with_value[k]);
            if (strncmp(a, opts_with_value[k], len) == 0 && (a[len] == '\0' || a[len] == '=')) {
                takes = 1;
                if (a[len] == '=') {
                    val = a + len + 1;
                } else if (i + 1 < argc) {
                    val = argv[++i];
                } else {
                    return usage_error("option %s needs a value", opts_with_value[k]);
                }
                a[len] = '\0';
                break;
            }
        }
        if (takes) {
            if (strcmp(a, "--data") == 0) {
                c->data = val;
            } else if (strcmp(a, "--http") == 0) {
                if (!valid_listen(val)) {
                    return usage_error("--http wants ADDR:PORT with a port 1-65535, not '%s'",
                                       val);
                }
                c->http = val;
            } else if (strcmp(a, "--p2p-port") == 0) {
                if (parse_port(val, &c->p2p_port) != 0) {
                    return usage_error("--p2p-port wants a number 1-65535, not '%s'", val);
                }
            } else if (strcmp(a, "--plugins") == 0) {
                c->plugins = val;
            } else if (oa_log_parse_level(val, &c->level) != 0) {
                return usage_error("--log-level wants error, warn, info, debug or trace, not "
                                   "'%s'",
                                   val);
            } else {
                c->level_set = 1;
            }
            continue;
        }
        if (c->npos > 0 && strcmp(c->pos[0], "get") == 0) {
            /* The URI and get's own options: cli_get.c parses them. */
            if (c->nget >= (int)(sizeof(c->get_args) / sizeof(c->get_args[0]))) {
                return usage_error("too many arguments starting at '%s'", a);
            }
            c->get_args[c->nget++] = a;
            continue;
        }
        if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        }
        if (c->npos >= (int)(sizeof(c->pos) / sizeof(c->pos[0]))) {
            return usage_error("too many arguments starting at '%s'", a);
        }
        c->pos[c->npos++] = a;
    }
    return -1;
}

static int open_host(cli *c, oa_host *h, int engine)
{
    oa_host_options opt;
    char err[1024];
    int rc;
    memset(&opt, 0, sizeof(opt));
    opt.data_dir = c->data;
    opt.plugin_dir = c->plugins;
    opt.http_listen = c->http;
    opt.p2p_port = c->p2p_port;
    opt.engine = engine;
    opt.http = engine ? OA_HTTP_LISTEN : OA_HTTP_OFF;
    opt.health_interval_ms = engine ? 10000 : 0;
    opt.scripts_dir = c->scripts_buf[0] != '\0' ? c->scripts_buf : NULL;
    if (!dir_exists(c->plugins)) {
        if (c->plugins != c->plugins_buf) {
            fprintf(stderr, "openace: plugin directory %s does not exist\n", c->plugins);
            return 1;
        }
        oa_log_write(OA_LOG_WARN, "host", "plugin directory %s does not exist; no plugins",
                     c->plugins);
        opt.plugin_dir = NULL;
    }
    rc = oa_host_open(h, NULL, &opt, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "openace: %s\n", err);
        return 1;
    }
    return 0;
}

/* Tells whether an engine holds the data directory lock, and its pid. */
static int engine_running(const char *data, long *pid)
{
    char path[PATH_MAX + 32];
    char buf[32];
    int fd;
    int running = 0;
    snprintf(path, sizeof(path), "%s/openace.lock", data);
    *pid = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        running = 1;
        if (n > 0) {
            buf[n] = '\0';
            *pid = strtol(buf, NULL, 10);
        }
    } else {
        flock(fd, LOCK_UN);
    }
    close(fd);
    return running;
}

static json_t *str_list(const char *const *l)
{
    json_t *a = json_array();
    for (size_t i = 0; l != NULL && l[i] != NULL; i++) {
        json_array_append_new(a, json_string(l[i]));
    }
    return a;
}

static json_t *schema_json(const oa_config_def *cfg)
{
    json_t *a = json_array();
    for (size_t i = 0; cfg != NULL && cfg[i].key != NULL; i++) {
        const oa_config_def *d = &cfg[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:b, s:b}", "key", d->key, "type",
                              oa_config_type_name(d->type), "default", d->default_value, "help",
                              d->help, "live", (d->flags & OA_CFG_LIVE) != 0, "secret",
                              (d->flags & OA_CFG_SECRET) != 0);
        if (d->min != 0 || d->max != 0) {
            json_object_set_new(o, "min", json_real(d->min));
            json_object_set_new(o, "max", json_real(d->max));
        }
        if (d->choices != NULL) {
            json_object_set_new(o, "choices", json_string(d->choices));
        }
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *desc_json(const oa_plugin_desc *d)
{
    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:o, s:o, s:o, s:{s:b, s:b, s:b}}",
                     "name", d->name, "version", d->version, "kind", oa_kind_name(d->kind),
                     "summary", d->summary, "license", d->license, "requires",
                     str_list(d->requires), "provides", str_list(d->provides), "config",
                     schema_json(d->config), "callbacks", "health",
                     OA_DESC_HAS(d, health) && d->health != NULL, "command",
                     OA_DESC_HAS(d, command) && d->command != NULL, "configure",
                     OA_DESC_HAS(d, configure) && d->configure != NULL);
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s != NULL) {
        puts(s);
    }
    free(s);
}

static void join_list(char *buf, size_t len, const char *const *l)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; l != NULL && l[i] != NULL && used < len; i++) {
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", l[i]);
    }
    if (buf[0] == '\0') {
        snprintf(buf, len, "-");
    }
}

static int cmd_plugin_info(cli *c)
{
    const oa_plugin_desc *d = NULL;
    char err[1024];
    char name[65];
    char sdk[32];
    char req[512];
    char prov[512];
    int rc;

    if (c->npos != 2) {
        return usage_error("%s", "plugin-info takes one FILE.so");
    }
    /* Probe in a child first, so a crashing library cannot take this
     * command down with it. */
    rc = oa_loader_probe(c->pos[1], 10000, name, sizeof(name), err, sizeof(err));
    if (rc == 0) {
        rc = oa_loader_load(c->pos[1], &d, err, sizeof(err));
    }
    if (rc != 0) {
        if (c->json) {
            json_t *j = json_pack("{s:s, s:b, s:s}", "file", c->pos[1], "loadable", 0, "reason",
                                  err);
            print_json(j);
            json_decref(j);
        }
        fprintf(stderr, "openace: %s is refused: %s\n", c->pos[1], err);
        return 1;
    }
    snprintf(sdk, sizeof(sdk), "%u.%u", d->sdk_major, d->sdk_minor);
    if (c->json) {
        json_t *j = desc_json(d);
        json_object_set_new(j, "sdk", json_string(sdk));
        json_object_set_new(j, "file", json_string(c->pos[1]));
        json_object_set_new(j, "loadable", json_true());
        print_json(j);
        json_decref(j);
        return 0;
    }
    join_list(req, sizeof(req), d->requires);
    join_list(prov, sizeof(prov), d->provides);
    printf("file:      %s\nname:      %s\nversion:   %s\nkind:      %s\nsummary:   %s\n"
           "license:   %s\nsdk:       %s (host %d.%d)\nrequires:  %s\nprovides:  %s\n"
           "callbacks: init start stop destroy%s%s%s\n",
           c->pos[1], d->name, d->version, oa_kind_name(d->kind), d->summary ? d->summary : "-",
           d->license ? d->license : "-", sdk, OA_SDK_MAJOR, OA_SDK_MINOR, req, prov,
           OA_DESC_HAS(d, health) && d->health ? " health" : "",
           OA_DESC_HAS(d, command) && d->command ? " command" : "",
           OA_DESC_HAS(d, configure) && d->configure ? " configure" : "");
    printf("settings:%s\n", d->config == NULL || d->config[0].key == NULL ? "  none" : "");
    for (size_t i = 0; d->config != NULL && d->config[i].key != NULL; i++) {
        const oa_config_def *cd = &d->config[i];
        printf("  %-20s %-7s default %-12s%s %s\n", cd->key, oa_config_type_name(cd->type),
               cd->default_value, (cd->flags & OA_CFG_LIVE) ? " (live)" : "",
               cd->help ? cd->help : "");
    }
    return 0;
}

static int cmd_plugins_list(cli *c, oa_host *h)
{
    long pid = 0;
    int running = engine_running(c->data, &pid);
    oa_plugin_row *rows = NULL;
    size_t nrows = 0;
    json_t *arr = json_array();

    /* A running engine records live states in the store; without one, the
     * states are what this process found when it loaded each file. */
    if (running) {
        oa_store_plugin_rows(h->store, &rows, &nrows);
    }
    for (size_t i = 0; i < oa_registry_count(h->reg); i++) {
        oa_plugin_info info;
        const char *state;
        const char *reason;
        json_t *o;
        oa_registry_info(h->reg, i, &info);
        state = oa_state_name(info.state);
        reason = info.reason;
        for (size_t r = 0; running && r < nrows; r++) {
            if (info.file != NULL && rows[r].file != NULL && strcmp(rows[r].file, info.file) == 0 &&
                rows[r].state != NULL) {
                state = rows[r].state;
                reason = rows[r].last_error ? rows[r].last_error : "";
            }
        }
        o = json_pack("{s:s?, s:s?, s:s, s:b, s:s, s:I}", "name", info.name, "file", info.file,
                      "state", state, "enabled", info.enabled, "reason", reason, "crash_count",
                      (json_int_t)info.crash_count);
        if (info.desc != NULL) {
            json_object_set_new(o, "version", json_string(info.desc->version));
            json_object_set_new(o, "kind", json_string(oa_kind_name(info.desc->kind)));
            json_object_set_new(o, "summary", json_string(info.desc->summary ? info.desc->summary : ""));
            json_object_set_new(o, "requires", str_list(info.desc->requires));
            json_object_set_new(o, "provides", str_list(info.desc->provides));
        }
        json_array_append_new(arr, o);
    }
    oa_store_plugin_rows_free(rows, nrows);

    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:b, s:o}", "data", c->data, "plugin_dir", c->plugins,
                              "engine_running", running, "plugins", arr);
        if (running) {
            json_object_set_new(j, "engine_pid", json_integer(pid));
        }
        print_json(j);
        json_decref(j);
        return 0;
    }
    printf("data %s, plugins %s; engine %s", c->data, c->plugins,
           running ? "running" : "not running");
    if (running) {
        printf(" (pid %ld): states are live\n", pid);
    } else {
        printf(": states are from loading the files now\n");
    }
    printf("%-20s %-11s %-8s %-9s %-10s %s\n", "NAME", "STATE", "ENABLED", "VERSION", "KIND",
           "REASON / FILE");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *reason = json_string_value(json_object_get(o, "reason"));
        const char *file = json_string_value(json_object_get(o, "file"));
        const char *ver = json_string_value(json_object_get(o, "version"));
        const char *kind = json_string_value(json_object_get(o, "kind"));
        printf("%-20s %-11s %-8s %-9s %-10s %s\n", name ? name : "?",
               json_string_value(json_object_get(o, "state")),
               json_is_true(json_object_get(o, "enabled")) ? "yes" : "no", ver ? ver : "-",
               kind ? kind : "-", reason && *reason ? reason : (file ? file : ""));
    }
    if (json_array_size(arr) == 0) {
        printf("(no plugins in %s)\n", c->plugins);
    }
    json_decref(arr);
    return 0;
}

static int cmd_plugins_toggle(cli *c, oa_host *h, int on)
{
    oa_plugin_info info;
    long pid;
    int rc;
    if (c->npos != 3) {
        return usage_error("plugins %s takes one NAME", on ? "enable" : "disable");
    }
    if (oa_registry_info_by_name(h->reg, c->pos[2], &info) != 0) {
        fprintf(stderr, "openace: no plugin named '%s' in %s\n", c->pos[2], c->plugins);
        return 1;
    }
    if (info.desc == NULL) {
        fprintf(stderr, "openace: plugin '%s' was rejected: %s\n", c->pos[2], info.reason);
        return 1;
    }
    rc = oa_store_plugin_enabled_set(h->store, c->pos[2], on);
    if (rc != 0) {
        fprintf(stderr, "openace: cannot store the setting: %s\n", oa_strerror(rc));
        return 1;
    }
    printf("%s '%s'", on ? "enabled" : "disabled", c->pos[2]);
    if (engine_running(c->data, &pid)) {
        printf("; the running engine (pid %ld) applies it at its next start\n", pid);
    } else {
        printf("\n");
    }
    return 0;
}

/* Whether a setting is flagged OA_CFG_SECRET (never echoed). */
static int is_secret(oa_host *h, const char *plugin, const char *key)
{
    oa_plugin_info info;
    const oa_config_def *d;
    if (oa_registry_info_by_name(h->reg, plugin, &info) != 0 || info.desc == NULL) {
        return 0;
    }
    d = oa_config_find(info.desc->config, key);
    return d != NULL && (d->flags & OA_CFG_SECRET) != 0;
}

static int cmd_config(cli *c, oa_host *h)
{
    char err[1024];
    char *val = NULL;
    int rc;
    int is_get = c->npos >= 2 && strcmp(c->pos[1], "get") == 0;
    int is_set = c->npos >= 2 && strcmp(c->pos[1], "set") == 0;

    if (is_get && c->npos == 3) {
        oa_plugin_info info;
        if (oa_registry_info_by_name(h->reg, c->pos[2], &info) != 0 || info.desc == NULL) {
            fprintf(stderr, "openace: no loadable plugin named '%s'\n", c->pos[2]);
            return 1;
        }
        for (size_t i = 0; info.desc->config != NULL && info.desc->config[i].key != NULL; i++) {
            const oa_config_def *d = &info.desc->config[i];
            if (oa_host_config_get(h, c->pos[2], d->key, &val, err, sizeof(err)) == 0) {
                printf("%-20s = %-16s # %s, default %s%s%s\n", d->key,
                       (d->flags & OA_CFG_SECRET) ? "***" : val, oa_config_type_name(d->type),
                       d->default_value, d->help ? ": " : "", d->help ? d->help : "");
            }
            free(val);
            val = NULL;
        }
        return 0;
    }
    if (is_get && c->npos == 4) {
        rc = oa_host_config_get(h, c->pos[2], c->pos[3], &val, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "openace: %s\n", err);
            return 1;
        }
        /* Asked for by name, a secret is shown: this is the owner's shell. */
        printf("%s\n", val);
        free(val);
        return 0;
    }
    if (is_set && c->npos == 5) {
        rc = oa_host_config_set(h, c->pos[2], c->pos[3], c->pos[4], err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "openace: refused: %s\n", err);
            return 1;
        }
        rc = oa_host_config_get(h, c->pos[2], c->pos[3], &val, err, sizeof(err));
        printf("stored %s.%s = %s\n", c->pos[2], c->pos[3],
               is_secret(h, c->pos[2], c->pos[3]) ? "***" : rc == 0 ? val : c->pos[4]);
        free(val);
        return 0;
    }
    return usage_error("%s", "use: config get PLUGIN [KEY] | config set PLUGIN KEY VALUE");
}

static int cmd_script(cli *c)
{
    char *end = NULL;
    unsigned long ms = 0;

    if (c->npos < 3 || c->npos > 4 || strcmp(c->pos[1], "run") != 0) {
        return usage_error("%s", "use: script run FILE.lua [MS]");
    }
    if (c->npos == 4) {
        errno = 0;
        ms = strtoul(c->pos[3], &end, 10);
        if (errno != 0 || end == c->pos[3] || *end != '\0' || ms < 1 || ms > 3600000) {
            return usage_error("script run: MS must be a number from 1 to 3600000, not '%s'",
                               c->pos[3]);
        }
    }
    return oa_cli_script_run(c->data, c->plugins, c->pos[2], (unsigned)ms);
}

static int run_engine(cli *c)
{
    oa_host h;
    int rc = open_host(c, &h, 1);
    if (rc != 0) {
        return rc;
    }
    oa_host_run(&h);
    rc = oa_host_close(&h);
    oa_log_write(OA_LOG_INFO, "host", "stopped");
    return rc == 0 ? 0 : 1;
}

int oa_cli_main(int argc, char **argv)
{
    cli c;
    oa_host h;
    oa_get_env get_env;
    int rc;

    memset(&c, 0, sizeof(c));
    c.level = OA_LOG_INFO;
    rc = parse_args(&c, argc, argv);
    if (rc >= 0) {
        return rc;
    }
    memset(&get_env, 0, sizeof(get_env));
    get_env.data = c.data;
    get_env.p2p_port = c.p2p_port;
    find_defaults(&c);
    get_env.plugins = c.plugins;
    signal(SIGPIPE, SIG_IGN);
    if (!c.level_set && c.npos > 0) {
        c.level = OA_LOG_WARN;
    }
    oa_log_init(c.level, c.log_json, 0);

    if (c.npos == 0) {
        rc = run_engine(&c);
    } else if (strcmp(c.pos[0], "plugin-info") == 0) {
        rc = cmd_plugin_info(&c);
    } else if (strcmp(c.pos[0], "plugins") == 0 || strcmp(c.pos[0], "config") == 0) {
        int list = strcmp(c.pos[0], "plugins") == 0 && c.npos == 1;
        int toggle = strcmp(c.pos[0], "plugins") == 0 && c.npos >= 2 &&
                     (strcmp(c.pos[1], "enable") == 0 || strcmp(c.pos[1], "disable") == 0);
        if (strcmp(c.pos[0], "plugins") == 0 && !list && !toggle) {
            rc = usage_error("unknown plugins subcommand '%s' (use enable or disable)", c.pos[1]);
        } else {
            rc = open_host(&c, &h, 0);
            if (rc == 0) {
                if (list) {
                    rc = cmd_plugins_list(&c, &h);
                } else if (toggle) {
                    rc = cmd_plugins_toggle(&c, &h, strcmp(c.pos[1], "enable") == 0);
                } else {
                    rc = cmd_config(&c, &h);
                }
                oa_host_close(&h);
            }
        }
    } else if (strcmp(c.pos[0], "passwd") == 0 || strcmp(c.pos[0], "token") == 0) {
        /* Setting a password before the first start is fine: make the data
         * directory if it is not there yet. */
        if (oa_mkdir_p(c.data, 0750) != 0) {
            fprintf(stderr, "openace: cannot create data directory %s: %s\n", c.data,
                    strerror(errno));
            rc = 1;
        } else if (strcmp(c.pos[0], "passwd") == 0) {
            rc = c.npos == 2 ? oa_cli_passwd(c.data, c.pos[1])
                             : usage_error("%s", "passwd takes one USER");
        } else {
            rc = oa_cli_token(c.data, c.npos, c.pos);
        }
    } else if (strcmp(c.pos[0], "script") == 0) {
        rc = cmd_script(&c);
    } else if (strcmp(c.pos[0], "get") == 0) {
        rc = oa_cli_get(&get_env, c.nget, c.get_args);
    } else {
        rc = usage_error("unknown command '%s'", c.pos[0]);
    }
    oa_loader_exit();
    oa_log_shutdown();
    return rc;
}
