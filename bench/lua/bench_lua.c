/*
 * oa_bench_lua: event delivery to a Lua handler and to a C subscriber, side
 * by side on one host's bus, for bench/lua/run.sh, which prints the medians
 * and the ratio Lua/C.
 *
 *   oa_bench_lua --data DIR [--events N] [--runs R] [--warmup W] [--capacity C]
 *                [--batch B]
 *
 * Opens a host as the engine does (oa_host_open with data directory DIR,
 * engine=1, no plugins; the bus holds C events, default 8192, the bus
 * default) and a Lua runtime on it (oa_lua_new, default limits). Then R
 * rounds (default 5), each of three runs in this order, every run publishing
 * N events (default 500000) of topic "bench.event" with the payload
 * {"n":1}:
 *
 *   c     a C subscriber on "bench.*" that decodes the payload with jansson
 *         and adds up n: the work the Lua handler does, in C;
 *   lua   the script below, freshly loaded for the run (oa_lua_load) and
 *         unloaded after it, whose handler on "bench.*" adds up ev.n, so
 *         that the JSON-to-table conversion is part of what is measured;
 *   bare  a C subscriber on "bench.*" that only counts: the bus's own cost,
 *         for reference.
 *
 *       local n = 0; oa.on("bench.*", function(topic, ev) n = n + ev.n end)
 *
 * Only the subscriber under test is on "bench.*" during a run. The loop
 * thread publishes a batch of B events (default C; oa_bus_publish validates
 * the JSON), then runs the loop until the bus has delivered it, and so on.
 * The run is timed with uv_hrtime, the time spent delivering (inside
 * uv_run) is also timed alone, and the loop thread's CPU time over the run
 * is taken too (CLOCK_THREAD_CPUTIME_ID), which a busy machine disturbs
 * less. A round of W events (default N/10) per kind comes first, untimed
 * and not printed, to warm caches and the allocator. A --batch above
 * --capacity makes the bus drop events, which shows the check below at work.
 *
 * A run fails, and the program exits 1, when the bus dropped or refused an
 * event, or when the subscriber's sum is not N (the Lua script reports its
 * sum by emitting "benchctl.sum" when it sees "benchctl.report", outside
 * the timed part), or when the script failed or was disabled.
 *
 * Each run prints one line of key=value pairs on stdout (times in seconds,
 * rates in events per second). Exit status 0 on success, 1 when a run
 * failed or the host misbehaved (the reason on stderr), 2 on a usage error.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "bench_util.h"
#include "bus.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "lua.h"

#define BENCH_TOPIC "bench.event"
#define BENCH_PATTERN "bench.*"
#define BENCH_PAYLOAD "{\"n\":1}"
#define BENCH_SCRIPT "bench"
#define REPORT_TOPIC "benchctl.report"
#define SUM_TOPIC "benchctl.sum"

/* The measured handler is the first line; the second reports the sum on
 * another topic (not under bench.*) when the benchmark asks for it. */
static const char script_source[] =
    "local n = 0; oa.on(\"bench.*\", function(topic, ev) n = n + ev.n end)\n"
    "oa.on(\"" REPORT_TOPIC "\", function() oa.emit(\"" SUM_TOPIC "\", {n = n}) end)\n";

typedef enum kind { KIND_C, KIND_LUA, KIND_BARE, KIND_COUNT } kind;

static const char *const kind_names[KIND_COUNT] = {"c", "lua", "bare"};

typedef struct bench {
    oa_host h;
    oa_lua *rt;
    uint64_t capacity;
    uint64_t batch;      /* events published between two deliveries */
    uint64_t sum;        /* c and bare: what the subscriber added up */
    uint64_t bad;        /* c: payloads without an integer n */
    uint64_t lua_sum;    /* lua: the sum the script reported */
    int lua_reported;    /* lua: the report arrived */
    uint64_t dropped;    /* all runs: events the bus dropped */
    uint64_t refused;    /* all runs: publishes that failed */
} bench;

typedef struct run_result {
    uint64_t accepted;   /* publishes that returned 0 */
    uint64_t refused;    /* publishes that failed */
    uint64_t dropped;    /* the bus's dropped counter grew by this much */
    uint64_t sum;
    uint64_t total_ns;   /* publish + delivery */
    uint64_t deliver_ns; /* inside uv_run */
    uint64_t cpu_ns;     /* CPU time of the loop thread, publish + delivery */
    uint64_t lua_calls;  /* lua: calls into the script during the run */
    size_t lua_mem;      /* lua: bytes the script held after the run */
} run_result;

static int usage(void)
{
    fprintf(stderr, "usage: oa_bench_lua --data DIR [--events N] [--runs R] [--warmup W] "
                    "[--capacity C] [--batch B]\n");
    return 2;
}

/* ---- subscribers ------------------------------------------------------------ */

/* The C counterpart of the Lua handler: decode, read n, add it up. */
static void on_event_c(void *arg, const char *topic, const char *json, size_t len)
{
    bench *b = arg;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    json_t *n = json_object_get(v, "n");

    (void)topic;
    if (json_is_integer(n)) {
        b->sum += (uint64_t)json_integer_value(n);
    } else {
        b->bad++;
    }
    json_decref(v);
}

static void on_event_bare(void *arg, const char *topic, const char *json, size_t len)
{
    bench *b = arg;
    (void)topic;
    (void)json;
    (void)len;
    b->sum++;
}

/* Receives the Lua script's {"n": sum}. */
static void on_sum(void *arg, const char *topic, const char *json, size_t len)
{
    bench *b = arg;
    json_t *v = json_loadb(json, len, JSON_DECODE_ANY, NULL);
    json_t *n = json_object_get(v, "n");

    (void)topic;
    if (json_is_integer(n) && json_integer_value(n) >= 0) {
        b->lua_sum = (uint64_t)json_integer_value(n);
        b->lua_reported = 1;
    }
    json_decref(v);
}

/* ---- one run ------------------------------------------------------------------ */

/* CPU time of the calling thread, in nanoseconds: unlike uv_hrtime it does
 * not count the time other processes on the machine held the CPU. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t bus_dropped(bench *b)
{
    oa_bus_stats st;
    oa_bus_get_stats(b->h.bus, &st);
    return st.dropped;
}

static size_t bus_queued(bench *b)
{
    oa_bus_stats st;
    oa_bus_get_stats(b->h.bus, &st);
    return st.queued;
}

/* Runs the loop until the bus queue is empty. The bus hands a whole queue
 * to its subscribers in one callback, so when uv_run returns with nothing
 * queued, everything published before has been delivered. */
static void drain(bench *b)
{
    while (bus_queued(b) > 0) {
        uv_run(b->h.loop, UV_RUN_ONCE);
    }
}

/* Publishes events in batches of b->batch, delivering each batch
 * before the next; fills the counters and times of r. */
static void publish_and_deliver(bench *b, uint64_t events, run_result *r)
{
    uint64_t left = events;
    uint64_t c0 = thread_cpu_ns();
    uint64_t t0 = uv_hrtime();

    while (left > 0) {
        uint64_t n = left < b->batch ? left : b->batch;
        uint64_t d0;

        for (uint64_t i = 0; i < n; i++) {
            if (oa_bus_publish(b->h.bus, BENCH_TOPIC, BENCH_PAYLOAD) == 0) {
                r->accepted++;
            } else {
                r->refused++;
            }
        }
        d0 = uv_hrtime();
        drain(b);
        r->deliver_ns += uv_hrtime() - d0;
        left -= n;
    }
    r->total_ns = uv_hrtime() - t0;
    r->cpu_ns = thread_cpu_ns() - c0;
}

/* Asks the script for its sum and waits for the answer. Returns 0, or 1
 * when none came (the script failed or no longer runs). */
static int lua_report(bench *b)
{
    b->lua_reported = 0;
    if (oa_bus_publish(b->h.bus, REPORT_TOPIC, NULL) != 0) {
        fprintf(stderr, "oa_bench_lua: cannot publish %s\n", REPORT_TOPIC);
        return 1;
    }
    /* The report is delivered in one loop turn and the answer, published
     * from the handler, in the next; an empty queue means no answer. */
    drain(b);
    if (!b->lua_reported) {
        fprintf(stderr, "oa_bench_lua: the script did not report its sum\n");
        return 1;
    }
    return 0;
}

/* Checks that the script runs and has recorded no error; returns 0 or 1. */
static int lua_healthy(bench *b, oa_lua_script_info *info)
{
    if (oa_lua_info(b->rt, BENCH_SCRIPT, info) != 0) {
        fprintf(stderr, "oa_bench_lua: the script is gone\n");
        return 1;
    }
    if (!info->running || info->last_error[0] != '\0') {
        fprintf(stderr, "oa_bench_lua: the script %s: %s\n",
                info->running ? "failed" : "was disabled", info->last_error);
        return 1;
    }
    return 0;
}

/* One run of kind k with events events. Returns 0, or 1 after saying what
 * went wrong. */
static int run_once(bench *b, kind k, uint64_t events, run_result *r)
{
    oa_lua_script_info info;
    char err[4096];
    uint64_t id = 0;
    uint64_t calls0 = 0;
    uint64_t dropped0;
    int failed = 0;
    int rc;

    memset(r, 0, sizeof(*r));
    b->sum = 0;
    b->bad = 0;
    if (k == KIND_LUA) {
        rc = oa_lua_load(b->rt, BENCH_SCRIPT, script_source, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "oa_bench_lua: cannot load the script (%s): %s\n", oa_strerror(rc),
                    err);
            return 1;
        }
        if (lua_healthy(b, &info) != 0) {
            oa_lua_unload(b->rt, BENCH_SCRIPT);
            return 1;
        }
        calls0 = info.calls;
    } else {
        rc = oa_bus_subscribe(b->h.bus, BENCH_PATTERN, k == KIND_C ? on_event_c : on_event_bare,
                              b, NULL, &id);
        if (rc != 0) {
            fprintf(stderr, "oa_bench_lua: cannot subscribe: %s\n", oa_strerror(rc));
            return 1;
        }
    }
    drain(b); /* script.loaded and the like, before the clock starts */
    dropped0 = bus_dropped(b);

    publish_and_deliver(b, events, r);

    r->dropped = bus_dropped(b) - dropped0;
    if (k == KIND_LUA) {
        failed = lua_healthy(b, &info);
        if (!failed) {
            r->lua_calls = info.calls - calls0;
            r->lua_mem = info.memory_bytes;
            failed = lua_report(b);
        }
        r->sum = b->lua_sum;
        oa_lua_unload(b->rt, BENCH_SCRIPT);
    } else {
        r->sum = b->sum;
        oa_bus_unsubscribe(b->h.bus, id, NULL);
    }
    drain(b);

    b->dropped += r->dropped;
    b->refused += r->refused;
    if (r->dropped != 0 || r->refused != 0) {
        fprintf(stderr, "oa_bench_lua: %s: the bus dropped %llu and refused %llu of %llu events\n",
                kind_names[k], (unsigned long long)r->dropped, (unsigned long long)r->refused,
                (unsigned long long)events);
        failed = 1;
    }
    if (b->bad != 0) {
        fprintf(stderr, "oa_bench_lua: %s: %llu payloads without an integer n\n", kind_names[k],
                (unsigned long long)b->bad);
        failed = 1;
    }
    if (!failed && r->sum != events) {
        fprintf(stderr, "oa_bench_lua: %s: the subscriber's sum is %llu, not the %llu events sent\n",
                kind_names[k], (unsigned long long)r->sum, (unsigned long long)events);
        failed = 1;
    }
    if (!failed && k == KIND_LUA && r->lua_calls != events) {
        fprintf(stderr, "oa_bench_lua: lua: %llu calls into the script for %llu events\n",
                (unsigned long long)r->lua_calls, (unsigned long long)events);
        failed = 1;
    }
    return failed;
}

static void print_run(kind k, unsigned round, uint64_t events, const run_result *r)
{
    double secs = (double)r->total_ns / 1e9;
    double dsecs = (double)r->deliver_ns / 1e9;
    double csecs = (double)r->cpu_ns / 1e9;

    printf("run=%u kind=%s events=%llu seconds=%.4f events_per_s=%.0f ns_per_event=%.1f "
           "cpu_seconds=%.4f cpu_events_per_s=%.0f deliver_seconds=%.4f deliver_events_per_s=%.0f "
           "sum=%llu dropped=%llu refused=%llu",
           round, kind_names[k], (unsigned long long)events, secs, (double)events / secs,
           (double)r->total_ns / (double)events, csecs, (double)events / csecs, dsecs,
           (double)events / dsecs,
           (unsigned long long)r->sum, (unsigned long long)r->dropped,
           (unsigned long long)r->refused);
    if (k == KIND_LUA) {
        printf(" lua_calls=%llu lua_kib=%zu", (unsigned long long)r->lua_calls, r->lua_mem / 1024);
    }
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *data = bench_opt_str(argc, argv, "--data", NULL);
    uint64_t events;
    uint64_t runs;
    uint64_t warmup;
    run_result r;
    bench b;
    uint64_t sum_id = 0;
    int failed = 0;
    int rc;

    memset(&b, 0, sizeof(b));
    if (data == NULL || bench_opt_num(argc, argv, "--events", 500000, &events) != 0 ||
        bench_opt_num(argc, argv, "--runs", 5, &runs) != 0 ||
        bench_opt_num(argc, argv, "--capacity", 8192, &b.capacity) != 0 || events == 0 ||
        runs == 0 || b.capacity == 0) {
        return usage();
    }
    if (bench_opt_num(argc, argv, "--warmup", events / 10, &warmup) != 0 ||
        bench_opt_num(argc, argv, "--batch", b.capacity, &b.batch) != 0 || b.batch == 0) {
        return usage();
    }
    oa_log_init(OA_LOG_WARN, 0, 0);

    if (bench_host_open("oa_bench_lua", &b.h, data, NULL, (size_t)b.capacity) != 0) {
        oa_log_shutdown();
        return 1;
    }
    rc = oa_lua_new(&b.h, NULL, NULL, &b.rt);
    if (rc != 0) {
        fprintf(stderr, "oa_bench_lua: cannot create the Lua runtime: %s\n", oa_strerror(rc));
        failed = 1;
    }
    if (!failed) {
        rc = oa_bus_subscribe(b.h.bus, SUM_TOPIC, on_sum, &b, NULL, &sum_id);
        if (rc != 0) {
            fprintf(stderr, "oa_bench_lua: cannot subscribe: %s\n", oa_strerror(rc));
            failed = 1;
        }
    }
    drain(&b);

    /* Warm-up, untimed and unprinted, but checked like the rest. */
    for (int k = 0; k < KIND_COUNT && !failed && warmup > 0; k++) {
        failed = run_once(&b, (kind)k, warmup, &r);
    }
    for (unsigned round = 1; round <= runs && !failed; round++) {
        for (int k = 0; k < KIND_COUNT && !failed; k++) {
            failed = run_once(&b, (kind)k, events, &r);
            if (!failed) {
                print_run((kind)k, round, events, &r);
            }
        }
    }

    oa_lua_free(b.rt);
    if (sum_id != 0) {
        oa_bus_unsubscribe(b.h.bus, sum_id, NULL);
    }
    if (bench_host_close("oa_bench_lua", &b.h) != 0) {
        failed = 1;
    }
    printf("total dropped=%llu refused=%llu\n", (unsigned long long)b.dropped,
           (unsigned long long)b.refused);
    oa_loader_exit();
    oa_log_shutdown();
    return failed ? 1 : 0;
}
