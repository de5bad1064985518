/*
 * example-echo: the smallest complete OpenAce plugin.
 *
 * It shows every part a plugin has: a config schema, the lifecycle, a timer
 * that publishes events, a bus subscription, named commands with JSON in and
 * out, a health report, a live setting, and the per-plugin key-value store.
 * The SDK guide (docs/sdk.md) walks through this file.
 *
 * Settings:
 *   greeting     text put in front of every echo            (default "hello")
 *   interval_ms  how often to publish echo.tick; 0 = never  (default 0, live)
 *   fail_start   refuse to start, to try failure handling   (default false)
 *
 * Events: publishes "echo.tick" {"n": N} every interval_ms and answers
 * "echo.ping" events with "echo.pong" carrying the same payload.
 *
 * HTTP (SDK 1.1, when the host has it): GET /echo?text=... answers
 *   {"echo": "<greeting> <text>"}; it needs an admin login like every route
 *   not marked OA_HTTP_PUBLIC.
 *
 * Commands:
 *   echo  {"text": "..."} -> {"echo": "<greeting> <text>", "count": N}
 *   stats {}               -> {"echoes": N, "ticks": N, "pings": N, "total_echoes": N}
 *   fail  {}               -> an error, to try error handling
 */
#include <openace/sdk.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct echo {
    oa_plugin *self;
    const oa_host_api *api;
    char *greeting;
    oa_timer *tick;
    uint64_t ticks;
    uint64_t pings;
    uint64_t echoes;
    uint64_t total_echoes; /* kept in the plugin's key-value store */
} echo;

/* ---- events and timers ---------------------------------------------------- */

static void on_tick(void *arg, oa_timer *t)
{
    echo *e = arg;
    char json[64];
    (void)t;
    e->ticks++;
    snprintf(json, sizeof(json), "{\"n\":%llu}", (unsigned long long)e->ticks);
    e->api->publish(e->self, "echo.tick", json);
}

static void on_ping(void *arg, const char *topic, const char *json, size_t len)
{
    echo *e = arg;
    (void)topic;
    (void)len;
    e->pings++;
    e->api->publish(e->self, "echo.pong", json);
}

static int start_ticking(echo *e)
{
    int64_t ms = 0;
    if (e->tick != NULL) {
        e->api->timer_stop(e->tick);
        e->tick = NULL;
    }
    e->api->config_get_int(e->self, "interval_ms", &ms);
    if (ms <= 0) {
        return 0;
    }
    return e->api->timer_start(e->self, (uint64_t)ms, (uint64_t)ms, on_tick, e, &e->tick);
}

/* ---- commands ------------------------------------------------------------- */

/* Finds the string value of "key" in a flat JSON object. A real plugin would
 * link jansson; this one stays dependency-free to remain the smallest. It
 * handles the escapes \" and \\ and refuses anything fancier. */
static int json_string_field(const char *json, const char *key, char *out, size_t outlen)
{
    char pat[80];
    const char *p;
    size_t n = 0;
    snprintf(pat, sizeof(pat), "\"%s\"", key);
    p = strstr(json, pat);
    if (p == NULL) {
        return OA_ENOENT;
    }
    p += strlen(pat);
    while (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n') {
        p++;
    }
    if (*p != '"') {
        return OA_ETYPE;
    }
    for (p++; *p != '\0' && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            if (*p != '"' && *p != '\\') {
                return OA_EINVAL;
            }
        }
        if (n + 1 >= outlen) {
            return OA_ERANGE;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
    return *p == '"' ? 0 : OA_EINVAL;
}

/* Appends s to out as JSON string content (quotes and backslashes escaped,
 * control characters dropped). */
static size_t json_escape(char *out, size_t len, const char *s)
{
    size_t n = 0;
    for (; *s != '\0' && n + 2 < len; s++) {
        if (*s == '"' || *s == '\\') {
            out[n++] = '\\';
        }
        if ((unsigned char)*s >= 0x20) {
            out[n++] = *s;
        }
    }
    out[n] = '\0';
    return n;
}

static int cmd_echo(echo *e, const char *args, char **out)
{
    char text[256];
    char esc_text[600];
    char esc_greet[600];
    char buf[1400];
    int rc = json_string_field(args, "text", text, sizeof(text));
    if (rc != 0) {
        e->api->set_error(e->self, "echo needs {\"text\": \"...\"} of at most 255 bytes");
        return OA_EINVAL;
    }
    e->echoes++;
    e->total_echoes++;
    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)e->total_echoes);
    e->api->kv_set(e->self, "total_echoes", buf, strlen(buf));
    json_escape(esc_text, sizeof(esc_text), text);
    json_escape(esc_greet, sizeof(esc_greet), e->greeting);
    snprintf(buf, sizeof(buf), "{\"echo\":\"%s %s\",\"count\":%llu}", esc_greet, esc_text,
             (unsigned long long)e->echoes);
    *out = e->api->str_dup(buf);
    return *out != NULL ? 0 : OA_ENOMEM;
}

static int echo_command(void *state, const char *name, const char *args, char **out)
{
    echo *e = state;
    char buf[256];
    if (strcmp(name, "echo") == 0) {
        return cmd_echo(e, args, out);
    }
    if (strcmp(name, "stats") == 0) {
        snprintf(buf, sizeof(buf),
                 "{\"echoes\":%llu,\"ticks\":%llu,\"pings\":%llu,\"total_echoes\":%llu}",
                 (unsigned long long)e->echoes, (unsigned long long)e->ticks,
                 (unsigned long long)e->pings, (unsigned long long)e->total_echoes);
        *out = e->api->str_dup(buf);
        return *out != NULL ? 0 : OA_ENOMEM;
    }
    if (strcmp(name, "fail") == 0) {
        *out = e->api->str_dup("asked to fail");
        return OA_EFAIL;
    }
    return OA_ENOTFOUND;
}

/* ---- HTTP (SDK 1.1) --------------------------------------------------------- */

static int on_http_echo(void *arg, oa_http_req *req)
{
    echo *e = arg;
    const char *text = e->api->http_query(req, "text");
    char esc_text[600];
    char esc_greet[600];
    char buf[1300];
    if (text == NULL || strlen(text) > 255) {
        const char *msg = "{\"error\":{\"code\":\"bad_request\","
                          "\"message\":\"give ?text= of at most 255 bytes\"}}";
        return e->api->http_reply(req, 400, "application/json", msg, strlen(msg));
    }
    json_escape(esc_text, sizeof(esc_text), text);
    json_escape(esc_greet, sizeof(esc_greet), e->greeting);
    snprintf(buf, sizeof(buf), "{\"echo\":\"%s %s\"}", esc_greet, esc_text);
    return e->api->http_reply(req, 200, "application/json", buf, strlen(buf));
}

/* ---- health and live settings ------------------------------------------- */

static int echo_health(void *state, char **detail)
{
    echo *e = state;
    char buf[64];
    snprintf(buf, sizeof(buf), "{\"ticks\":%llu}", (unsigned long long)e->ticks);
    *detail = e->api->str_dup(buf);
    return OA_HEALTH_OK;
}

static int echo_configure(void *state, const char *key, const char *value)
{
    echo *e = state;
    (void)value;
    if (strcmp(key, "interval_ms") == 0) {
        return start_ticking(e);
    }
    return OA_ENOSYS; /* anything else: let the host restart us */
}

/* ---- lifecycle ------------------------------------------------------------ */

static int echo_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    echo *e = calloc(1, sizeof(*e));
    char *saved = NULL;
    int rc;
    if (e == NULL) {
        return OA_ENOMEM;
    }
    e->self = self;
    e->api = api;
    rc = api->config_get(self, "greeting", &e->greeting);
    if (rc != 0) {
        free(e);
        return rc;
    }
    if (api->kv_get(self, "total_echoes", &saved, NULL) == 0) {
        e->total_echoes = strtoull(saved, NULL, 10);
        api->free(saved);
    }
    *state = e;
    return 0;
}

static int echo_start(void *state)
{
    echo *e = state;
    int fail = 0;
    int rc;
    e->api->config_get_bool(e->self, "fail_start", &fail);
    if (fail) {
        e->api->set_error(e->self, "fail_start is set; clear it with "
                                   "'openace config set example-echo fail_start false'");
        return OA_EFAIL;
    }
    rc = e->api->subscribe(e->self, "echo.ping", on_ping, e, NULL);
    if (rc != 0) {
        return rc;
    }
    rc = start_ticking(e);
    if (rc != 0) {
        return rc;
    }
    /* Fields added after SDK 1.0 are checked before use. This plugin claims
     * 1.1 (OA_PLUGIN_HEADER), so only 1.1+ hosts load it; one that claims
     * 1.0 keeps the same check and runs on 1.0 hosts without the route.
     * The host removes the route when the plugin stops. */
    if (OA_API_HAS(e->api, http_route)) {
        rc = e->api->http_route(e->self, "GET", "/echo", 0, on_http_echo, e);
        if (rc != 0 && rc != OA_ENOSYS) {
            return rc;
        }
    }
    e->api->log(e->self, OA_LOG_INFO, "ready; greeting '%s'", e->greeting);
    return 0;
}

static void echo_stop(void *state)
{
    echo *e = state;
    /* The host would release these anyway; a tidy plugin does it itself. */
    if (e->tick != NULL) {
        e->api->timer_stop(e->tick);
        e->tick = NULL;
    }
}

static void echo_destroy(void *state)
{
    echo *e = state;
    e->api->free(e->greeting);
    free(e);
}

/* ---- descriptor ----------------------------------------------------------- */

static const oa_config_def echo_config[] = {
    {.key = "greeting", .type = OA_CFG_STRING, .default_value = "hello", .max = 64,
     .help = "Text put in front of every echo."},
    {.key = "interval_ms", .type = OA_CFG_INT, .default_value = "0", .min = 0, .max = 3600000,
     .help = "How often to publish echo.tick, in milliseconds; 0 turns it off.",
     .flags = OA_CFG_LIVE},
    {.key = "fail_start", .type = OA_CFG_BOOL, .default_value = "false",
     .help = "Refuse to start, to try the host's failure handling."},
    {.key = NULL},
};

static const char *const echo_provides[] = {"echo", NULL};

static const oa_plugin_desc echo_desc = {
    OA_PLUGIN_HEADER,
    .name = "example-echo",
    .version = "1.0.0",
    .kind = OA_KIND_ENGINE,
    .summary = "Echoes commands and events back; the SDK guide's example.",
    .license = "MIT",
    .requires = NULL,
    .provides = echo_provides,
    .config = echo_config,
    .init = echo_init,
    .start = echo_start,
    .stop = echo_stop,
    .destroy = echo_destroy,
    .health = echo_health,
    .command = echo_command,
    .configure = echo_configure,
};

OA_PLUGIN_ENTRY(echo_desc)
