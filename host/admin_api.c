/* Admin API (docs/admin-api.md): status, logs, audit, events over SSE and
 * Prometheus metrics, the helpers the admin routes share, and the one
 * registration of every admin route; the /api/plugins routes are in
 * admin_plugins.c. Every handler replies before it returns. */
#include "admin_api.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "auth.h"
#include "host.h"
#include "http.h"
#include "log.h"

#define LOGS_DEFAULT_LIMIT 200
#define LOGS_MAX_LIMIT 1000
#define LOGS_CHUNK 64
#define AUDIT_DEFAULT_LIMIT 100
#define AUDIT_MAX_LIMIT 1000
#define SSE_QUEUE_LIMIT (256 * 1024)
#define SSE_KEEPALIVE_MS 15000
#define SSE_MAX_PATTERNS 16
#define TOPIC_MAX 128

/* ---- helpers shared with admin_plugins.c (admin_int.h) ------------------ */

/* Replaces every non-ASCII byte when s is not valid UTF-8, so that it can
 * go into a JSON string (messages may quote cut-off values). */
void admin_utf8_fix(char *s)
{
    json_t *t = json_string(s);
    if (t != NULL) {
        json_decref(t);
        return;
    }
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s >= 0x80) {
            *s = '?';
        }
    }
}

/* A JSON string for s, null for NULL; invalid UTF-8 is repaired. */
json_t *admin_jstr(const char *s)
{
    json_t *t;
    char *copy;
    if (s == NULL) {
        return json_null();
    }
    t = json_string(s);
    if (t != NULL) {
        return t;
    }
    copy = strdup(s);
    if (copy == NULL) {
        return json_null();
    }
    admin_utf8_fix(copy);
    t = json_string(copy);
    free(copy);
    return t != NULL ? t : json_null();
}

/* Formats an error sentence, makes it safe for JSON and replies with it. */
int admin_reply_err(oa_http_req *req, int status, const char *code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    admin_utf8_fix(msg);
    oa_http_reply_error(req, status, code, "%s", msg);
    return 0;
}

/* ---- small helpers ------------------------------------------------------- */

/* Parses a whole decimal number without sign. Returns 0 or OA_EINVAL. */
static int parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        return OA_EINVAL;
    }
    for (; *s != '\0'; s++) {
        unsigned d;
        if (*s < '0' || *s > '9') {
            return OA_EINVAL;
        }
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return OA_EINVAL;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Reads a query argument as a number in [lo, hi]; absent gives def. On a
 * bad value replies 400 and returns OA_EINVAL. */
static int query_num(oa_http_req *req, const char *name, uint64_t def, uint64_t lo, uint64_t hi,
                     uint64_t *out)
{
    const char *s = oa_http_query(req, name);
    if (s == NULL) {
        *out = def;
        return 0;
    }
    if (parse_u64(s, out) != 0 || *out < lo || *out > hi) {
        admin_reply_err(req, 400, "bad_request", "'%s' must be a whole number from %" PRIu64
                        " to %" PRIu64 "; got '%.40s'", name, lo, hi, s);
        return OA_EINVAL;
    }
    return 0;
}

/* Resident memory of this process in KiB from /proc/self/status, or 0. */
static uint64_t rss_kib(void)
{
    char line[256];
    unsigned long long kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            if (sscanf(line + 6, "%llu", &kib) != 1) {
                kib = 0;
            }
            break;
        }
    }
    fclose(f);
    return kib;
}

static double uptime_s(oa_host *h)
{
    uint64_t now = uv_now(h->loop);
    return now > h->started_ms ? (double)(now - h->started_ms) / 1000.0 : 0.0;
}

/* ---- status and metrics -------------------------------------------------- */

static const oa_plugin_state all_states[] = {
    OA_STATE_RUNNING, OA_STATE_FAILED,   OA_STATE_DISABLED,
    OA_STATE_REJECTED, OA_STATE_DISCOVERED, OA_STATE_STARTING,
};
#define NSTATES (sizeof(all_states) / sizeof(all_states[0]))

/* Counts plugins per state, indexed like all_states. */
static size_t count_states(oa_host *h, uint64_t *counts)
{
    size_t n = oa_registry_count(h->reg);
    memset(counts, 0, NSTATES * sizeof(*counts));
    for (size_t i = 0; i < n; i++) {
        oa_plugin_info info;
        if (oa_registry_info(h->reg, i, &info) != 0) {
            continue;
        }
        for (size_t k = 0; k < NSTATES; k++) {
            if (info.state == all_states[k]) {
                counts[k]++;
            }
        }
    }
    return n;
}

static void http_stats(oa_host *h, oa_http_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (h->http != NULL) {
        oa_http_get_stats(h->http, st);
    }
}

static int on_status(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    uint64_t counts[NSTATES];
    size_t total = count_states(h, counts);
    json_t *plugins = json_pack("{s:I}", "total", (json_int_t)total);
    oa_bus_stats bs;
    oa_http_stats hs;
    char sdk[16];

    for (size_t k = 0; plugins != NULL && k < NSTATES; k++) {
        json_object_set_new(plugins, oa_state_name(all_states[k]),
                            json_integer((json_int_t)counts[k]));
    }
    memset(&bs, 0, sizeof(bs));
    if (h->bus != NULL) {
        oa_bus_get_stats(h->bus, &bs);
    }
    http_stats(h, &hs);
    snprintf(sdk, sizeof(sdk), "%d.%d", OA_SDK_MAJOR, OA_SDK_MINOR);
    return oa_http_reply_json(
        req, 200,
        json_pack("{s:s, s:s, s:f, s:I, s:o, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}}", "version",
                  OA_HOST_VERSION, "sdk", sdk, "uptime_s", uptime_s(h), "rss_kib",
                  (json_int_t)rss_kib(), "plugins", plugins, "bus", "published",
                  (json_int_t)bs.published, "delivered", (json_int_t)bs.delivered, "dropped",
                  (json_int_t)bs.dropped, "queued", (json_int_t)bs.queued, "http", "requests",
                  (json_int_t)hs.requests, "streams_open", (json_int_t)hs.streams_open));
}

/* Writes one metric's HELP and TYPE lines. */
static void metric_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Writes a label value with \, " and newline escaped. */
static void metric_label(FILE *f, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"') {
            fputc('\\', f);
            fputc(*v, f);
        } else if (*v == '\n') {
            fputs("\\n", f);
        } else {
            fputc(*v, f);
        }
    }
}

static void metrics_plugins(FILE *f, oa_host *h)
{
    uint64_t counts[NSTATES];
    size_t n = count_states(h, counts);
    oa_plugin_info info;

    metric_head(f, "openace_plugins", "gauge", "Plugins known to the engine, by state.");
    for (size_t k = 0; k < NSTATES; k++) {
        fprintf(f, "openace_plugins{state=\"%s\"} %" PRIu64 "\n", oa_state_name(all_states[k]),
                counts[k]);
    }
    metric_head(f, "openace_plugin_up", "gauge", "1 when the plugin is running, else 0.");
    for (size_t i = 0; i < n; i++) {
        if (oa_registry_info(h->reg, i, &info) == 0 && info.name != NULL) {
            fputs("openace_plugin_up{plugin=\"", f);
            metric_label(f, info.name);
            fprintf(f, "\"} %d\n", info.state == OA_STATE_RUNNING);
        }
    }
    metric_head(f, "openace_plugin_crashes_total", "counter",
                "Times the plugin failed while running or starting.");
    for (size_t i = 0; i < n; i++) {
        if (oa_registry_info(h->reg, i, &info) == 0 && info.name != NULL) {
            fputs("openace_plugin_crashes_total{plugin=\"", f);
            metric_label(f, info.name);
            fprintf(f, "\"} %" PRIu64 "\n", info.crash_count);
        }
    }
}

static int on_metrics(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    oa_bus_stats bs;
    oa_http_stats hs;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    int rc;

    if (f == NULL) {
        return admin_reply_err(req, 500, "internal", "out of memory");
    }
    memset(&bs, 0, sizeof(bs));
    if (h->bus != NULL) {
        oa_bus_get_stats(h->bus, &bs);
    }
    http_stats(h, &hs);
    metric_head(f, "openace_uptime_seconds", "gauge", "Seconds since the engine started.");
    fprintf(f, "openace_uptime_seconds %.3f\n", uptime_s(h));
    metric_head(f, "openace_resident_memory_bytes", "gauge", "Resident memory of the engine.");
    fprintf(f, "openace_resident_memory_bytes %" PRIu64 "\n", rss_kib() * 1024);
    metrics_plugins(f, h);
    metric_head(f, "openace_bus_events_published_total", "counter",
                "Events accepted by the bus.");
    fprintf(f, "openace_bus_events_published_total %" PRIu64 "\n", bs.published);
    metric_head(f, "openace_bus_events_delivered_total", "counter",
                "Event deliveries to subscribers.");
    fprintf(f, "openace_bus_events_delivered_total %" PRIu64 "\n", bs.delivered);
    metric_head(f, "openace_bus_events_dropped_total", "counter",
                "Events refused because the bus queue was full.");
    fprintf(f, "openace_bus_events_dropped_total %" PRIu64 "\n", bs.dropped);
    metric_head(f, "openace_http_requests_total", "counter", "HTTP requests received.");
    fprintf(f, "openace_http_requests_total %" PRIu64 "\n", hs.requests);
    metric_head(f, "openace_http_responses_total", "counter", "HTTP error responses, by class.");
    fprintf(f, "openace_http_responses_total{class=\"4xx\"} %" PRIu64 "\n", hs.responses_4xx);
    fprintf(f, "openace_http_responses_total{class=\"5xx\"} %" PRIu64 "\n", hs.responses_5xx);
    metric_head(f, "openace_http_streams_open", "gauge", "Streaming responses open now.");
    fprintf(f, "openace_http_streams_open %" PRIu64 "\n", hs.streams_open);
    if (fclose(f) != 0) {
        free(text);
        return admin_reply_err(req, 500, "internal", "out of memory");
    }
    rc = oa_http_reply(req, 200, "text/plain; version=0.0.4", text, len);
    free(text);
    return rc;
}

/* ---- logs and audit ------------------------------------------------------ */

static void iso_time_ms(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char base[32];
    gmtime_r(&t, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", base, (int)(ms % 1000));
}

static int log_match(const oa_log_line *l, int has_level, oa_log_level level, const char *tag,
                     const char *q)
{
    if (has_level && l->level > level) {
        return 0;
    }
    if (tag != NULL && strcmp(l->tag, tag) != 0) {
        return 0;
    }
    return q == NULL || strcasestr(l->msg, q) != NULL;
}

static json_t *log_json(const oa_log_line *l)
{
    char when[40];
    iso_time_ms(l->time_ms, when, sizeof(when));
    return json_pack("{s:I, s:s, s:s, s:o, s:o}", "seq", (json_int_t)l->seq, "time", when,
                     "level", oa_log_level_name(l->level), "tag", admin_jstr(l->tag), "msg",
                     admin_jstr(l->msg));
}

static int on_logs(void *arg, oa_http_req *req)
{
    const char *lv = oa_http_query(req, "level");
    const char *tag = oa_http_query(req, "plugin");
    const char *q = oa_http_query(req, "q");
    oa_log_level level = OA_LOG_TRACE;
    uint64_t after;
    uint64_t limit;
    uint64_t last;
    oa_log_line *chunk;
    json_t *lines;
    size_t count = 0;

    (void)arg;
    if (lv != NULL && oa_log_parse_level(lv, &level) != 0) {
        return admin_reply_err(req, 400, "bad_request",
                               "'level' must be error, warn, info, debug or trace; got '%.40s'",
                               lv);
    }
    if (query_num(req, "after", 0, 0, UINT64_MAX, &after) != 0 ||
        query_num(req, "limit", LOGS_DEFAULT_LIMIT, 1, LOGS_MAX_LIMIT, &limit) != 0) {
        return 0;
    }
    tag = tag != NULL && *tag != '\0' ? tag : NULL;
    q = q != NULL && *q != '\0' ? q : NULL;
    chunk = malloc(LOGS_CHUNK * sizeof(*chunk));
    lines = json_array();
    if (chunk == NULL || lines == NULL) {
        free(chunk);
        json_decref(lines);
        return admin_reply_err(req, 500, "internal", "out of memory");
    }
    last = after;
    while (count < limit) {
        size_t got = oa_log_recent(last, chunk, LOGS_CHUNK);
        if (got == 0) {
            break;
        }
        for (size_t i = 0; i < got && count < limit; i++) {
            last = chunk[i].seq;
            if (log_match(&chunk[i], lv != NULL, level, tag, q)) {
                json_array_append_new(lines, log_json(&chunk[i]));
                count++;
            }
        }
    }
    free(chunk);
    return oa_http_reply_json(req, 200, json_pack("{s:o, s:I}", "lines", lines, "last_seq",
                                                  (json_int_t)last));
}

static int on_audit(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    uint64_t limit;
    uint64_t before;
    json_t *entries = NULL;
    int rc;

    if (query_num(req, "limit", AUDIT_DEFAULT_LIMIT, 1, AUDIT_MAX_LIMIT, &limit) != 0 ||
        query_num(req, "before", 0, 0, INT64_MAX, &before) != 0) {
        return 0;
    }
    rc = oa_audit_list(h->store, (int64_t)before, (int)limit, &entries);
    if (rc != 0) {
        return admin_reply_err(req, 500, "internal", "cannot read the audit log: %s",
                               oa_strerror(rc));
    }
    return oa_http_reply_json(req, 200, json_pack("{s:o}", "entries", entries));
}

/* ---- events (SSE) -------------------------------------------------------- */

/* One /api/events client. It ends when its stream reports CLOSED or when
 * the host stops, whichever comes first; it is freed in the close callback
 * of its keep-alive timer. */
typedef struct sse_client {
    oa_host *h;
    oa_http_stream *stream;
    uv_timer_t keepalive;
    uint64_t dropped; /* events lost since the last one that went out */
    struct sse_client *next;
} sse_client;

/* Open event clients of every host in the process (loop thread only). A
 * stream's callback gets the host and finds its client here by stream, so
 * that a CLOSED reported after the host stopped and released the client
 * never reaches freed memory. */
static sse_client *g_sse_clients;

static void sse_free(uv_handle_t *hd)
{
    free(hd->data);
}

/* Unlinks c, ends its subscriptions and closes its timer (which frees c). */
static void sse_release(sse_client *c)
{
    sse_client **pp = &g_sse_clients;
    while (*pp != NULL && *pp != c) {
        pp = &(*pp)->next;
    }
    if (*pp == c) {
        *pp = c->next;
    }
    c->stream = NULL;
    if (c->h->bus != NULL) {
        oa_bus_unsubscribe_owner(c->h->bus, c);
    }
    uv_timer_stop(&c->keepalive);
    uv_close((uv_handle_t *)&c->keepalive, sse_free);
}

static void sse_on_event(void *arg, const char *topic, const char *json, size_t len)
{
    sse_client *c = arg;
    size_t cap = len + strlen(topic) + 96;
    char *buf;
    size_t n = 0;
    int rc;

    if (c->stream == NULL) {
        return;
    }
    buf = malloc(cap);
    if (buf == NULL) {
        c->dropped++;
        return;
    }
    if (c->dropped > 0) {
        n = (size_t)snprintf(buf, cap, "event: dropped\ndata: {\"dropped\":%" PRIu64 "}\n\n",
                             c->dropped);
    }
    n += (size_t)snprintf(buf + n, cap - n, "event: %s\ndata: ", topic);
    /* A newline in valid JSON is whitespace: a space keeps one data line. */
    for (size_t i = 0; i < len; i++) {
        buf[n++] = json[i] == '\n' || json[i] == '\r' ? ' ' : json[i];
    }
    buf[n++] = '\n';
    buf[n++] = '\n';
    rc = oa_http_stream_write(c->stream, buf, n);
    if (rc == OA_EOVERFLOW) {
        c->dropped++;
    } else if (rc == 0) {
        c->dropped = 0;
    }
    free(buf);
}

static void sse_on_timer(uv_timer_t *t)
{
    sse_client *c = t->data;
    static const char ka[] = ": keep-alive\n\n";
    if (c->stream != NULL) {
        oa_http_stream_write(c->stream, ka, sizeof(ka) - 1);
    }
}

static void sse_on_stream(void *arg, oa_http_stream *s, int event)
{
    oa_host *h = arg;
    if (event != OA_HTTP_STREAM_CLOSED) {
        return;
    }
    for (sse_client *c = g_sse_clients; c != NULL; c = c->next) {
        if (c->h == h && c->stream == s) {
            sse_release(c);
            return;
        }
    }
}

/* host.stopping: end every event stream of this host now. The dispatcher
 * closes after this without reporting CLOSED to the streams it ends, so
 * waiting for CLOSED would leave the clients and their timers behind. */
static void sse_on_host_stopping(void *arg, const char *topic, const char *json, size_t len)
{
    oa_host *h = arg;
    sse_client *c = g_sse_clients;
    (void)topic;
    (void)json;
    (void)len;
    while (c != NULL) {
        sse_client *next = c->next;
        if (c->h == h) {
            oa_http_stream_end(c->stream);
            sse_release(c);
        }
        c = next;
    }
}

static int pattern_ok(const char *p)
{
    size_t len = strlen(p);
    char word[TOPIC_MAX + 1];
    if (strcmp(p, "*") == 0) {
        return 1;
    }
    if (len == 0 || len > TOPIC_MAX) {
        return 0;
    }
    if (len >= 3 && strcmp(p + len - 2, ".*") == 0) {
        memcpy(word, p, len - 2);
        word[len - 2] = '\0';
        return oa_bus_topic_valid(word);
    }
    return oa_bus_topic_valid(p);
}

/* Splits topics ("a.*, b.c") into pats. Replies 400 and returns -1 when a
 * pattern is malformed or there are too many; else returns the count. */
static int parse_topics(oa_http_req *req, const char *topics,
                        char pats[SSE_MAX_PATTERNS][TOPIC_MAX + 1])
{
    const char *p = topics != NULL && *topics != '\0' ? topics : "*";
    int n = 0;

    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ') {
            len--;
        }
        if (n == SSE_MAX_PATTERNS) {
            admin_reply_err(req, 400, "bad_request", "at most %d topic patterns are allowed",
                            SSE_MAX_PATTERNS);
            return -1;
        }
        if (len <= TOPIC_MAX) {
            memcpy(pats[n], p, len);
            pats[n][len] = '\0';
        }
        if (len > TOPIC_MAX || !pattern_ok(pats[n])) {
            admin_reply_err(req, 400, "bad_request",
                            "topic pattern '%.*s' is not valid: use '*', a topic such as "
                            "'plugin.state' or a prefix such as 'plugin.*'",
                            (int)(len > 80 ? 80 : len), p);
            return -1;
        }
        n++;
        if (comma == NULL) {
            return n;
        }
        p = comma + 1;
    }
}

static int on_events(void *arg, oa_http_req *req)
{
    oa_host *h = arg;
    char pats[SSE_MAX_PATTERNS][TOPIC_MAX + 1];
    static const char hello[] = ": connected\n\n";
    int n = parse_topics(req, oa_http_query(req, "topics"), pats);
    sse_client *c;
    int rc;

    if (n < 0) {
        return 0;
    }
    if (h->bus == NULL || h->stopping) {
        return admin_reply_err(req, 409, "conflict", "the engine is stopping");
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return admin_reply_err(req, 500, "internal", "out of memory");
    }
    c->h = h;
    uv_timer_init(h->loop, &c->keepalive);
    c->keepalive.data = c;
    oa_http_set_header(req, "Cache-Control", "no-cache");
    rc = oa_http_stream_open(req, 200, "text/event-stream", -1, SSE_QUEUE_LIMIT, sse_on_stream,
                             h, &c->stream);
    if (rc != 0) {
        uv_close((uv_handle_t *)&c->keepalive, sse_free);
        return rc; /* the dispatcher answers with a fitting status */
    }
    /* req belongs to the stream from here on. */
    c->next = g_sse_clients;
    g_sse_clients = c;
    /* Keep-alives alone never hold the loop open. */
    uv_timer_start(&c->keepalive, sse_on_timer, SSE_KEEPALIVE_MS, SSE_KEEPALIVE_MS);
    uv_unref((uv_handle_t *)&c->keepalive);
    for (int i = 0; i < n; i++) {
        rc = oa_bus_subscribe(h->bus, pats[i], sse_on_event, c, c, NULL);
        if (rc != 0) {
            oa_log_write(OA_LOG_WARN, "host", "event stream: cannot subscribe to %s: %s",
                         pats[i], oa_strerror(rc));
            oa_http_stream_end(c->stream);
            sse_release(c);
            return 0;
        }
    }
    oa_http_stream_write(c->stream, hello, sizeof(hello) - 1);
    return 0;
}

/* ---- registration -------------------------------------------------------- */

int oa_admin_api_register(oa_host *h)
{
    static const struct {
        const char *method;
        const char *path;
        unsigned flags;
        oa_http_handler fn;
    } routes[] = {
        {"GET", "/api/status", 0, on_status},
        {"*", ADMIN_PLUGINS_PATH, OA_HTTP_PREFIX, admin_on_plugins},
        {"GET", "/api/logs", 0, on_logs},
        {"GET", "/api/audit", 0, on_audit},
        {"GET", "/api/events", 0, on_events},
        {"GET", "/metrics", 0, on_metrics},
    };
    int rc;

    if (h == NULL || h->http == NULL || h->bus == NULL) {
        return OA_EINVAL;
    }
    rc = oa_bus_subscribe(h->bus, "host.stopping", sse_on_host_stopping, h, NULL, NULL);
    if (rc != 0) {
        return rc;
    }
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        rc = oa_http_route(h->http, NULL, routes[i].method, routes[i].path, routes[i].flags,
                           routes[i].fn, h);
        if (rc != 0) {
            oa_log_write(OA_LOG_ERROR, "host", "cannot add route %s %s: %s", routes[i].method,
                         routes[i].path, oa_strerror(rc));
            return rc;
        }
    }
    return 0;
}
