/*
 * oa_bench_host: one measurement run of the host's own costs, for
 * bench/host/run.sh, which runs it several times and prints the median.
 *
 *   oa_bench_host ports
 *       prints two free ports, "HTTP P2P" (the P2P one free for TCP and UDP),
 *       for starting an engine beside whatever else runs on the machine.
 *
 *   oa_bench_host enable --plugins DIR --data DIR [--plugin NAME] [--iterations N]
 *       opens a host as the engine does, starts every plugin, then disables
 *       and enables NAME (default example-echo) N times (default 1000),
 *       timing oa_registry_enable alone with uv_hrtime.
 *
 *   oa_bench_host bus [--events N] [--threads T] [--capacity C]
 *       publishes N events (default 1000000) of topic "bench.event" with the
 *       payload {"n":123} to one C subscriber on "bench.*" and times publish
 *       plus delivery. T = 0 (default): the loop thread publishes in batches
 *       of C (default 8192, the bus default) and runs the loop to deliver
 *       each batch. T > 0: T worker threads publish N/T each while the loop
 *       delivers; C defaults to N so that nothing needs to be dropped.
 *
 * Each run prints one line of key=value pairs on stdout (times in
 * microseconds, rates in events per second). Exit status 0 on success, 1
 * when the host misbehaved (the reason on stderr), 2 on a usage error.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "bench_util.h"
#include "bus.h"
#include "host.h"
#include "loader.h"
#include "log.h"
#include "registry.h"

#define BENCH_TOPIC "bench.event"
#define BENCH_PATTERN "bench.*"
#define BENCH_PAYLOAD "{\"n\":123}"
#define BENCH_MAX_THREADS 64

static int usage(void)
{
    fprintf(stderr,
            "usage: oa_bench_host ports\n"
            "       oa_bench_host enable --plugins DIR --data DIR [--plugin NAME] "
            "[--iterations N]\n"
            "       oa_bench_host bus [--events N] [--threads T] [--capacity C]\n");
    return 2;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* Median of a sorted array of n > 0 values. */
static double median_sorted(const uint64_t *v, size_t n)
{
    if (n % 2 == 1) {
        return (double)v[n / 2];
    }
    return ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

/* Nearest-rank percentile p (0-100) of a sorted array of n > 0 values. */
static uint64_t percentile_sorted(const uint64_t *v, size_t n, unsigned p)
{
    size_t rank = (n * p + 99) / 100;
    return v[rank == 0 ? 0 : rank - 1];
}

/* ---- ports ----------------------------------------------------------------- */

/* Binds a socket of type to addr:port (port 0: any) and returns it, or -1.
 * *port receives the port bound. */
static int bind_port(int type, uint32_t addr, int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, type, 0);

    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(addr);
    sa.sin_port = htons((uint16_t)*port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Prints a free loopback TCP port and a port free for TCP and UDP on every
 * address. Both sockets stay bound until both ports are chosen, so the two
 * differ. */
static int cmd_ports(void)
{
    int http = 0;
    int http_fd = bind_port(SOCK_STREAM, INADDR_LOOPBACK, &http);

    if (http_fd < 0) {
        perror("oa_bench_host: no free TCP port on 127.0.0.1");
        return 1;
    }
    for (int attempt = 0; attempt < 50; attempt++) {
        int p2p = 0;
        int tcp_fd = bind_port(SOCK_STREAM, INADDR_ANY, &p2p);
        int udp_fd;

        if (tcp_fd < 0) {
            continue;
        }
        udp_fd = bind_port(SOCK_DGRAM, INADDR_ANY, &p2p);
        close(tcp_fd);
        if (udp_fd < 0) {
            continue;
        }
        close(udp_fd);
        close(http_fd);
        printf("%d %d\n", http, p2p);
        return 0;
    }
    close(http_fd);
    fprintf(stderr, "oa_bench_host: found no port free for both TCP and UDP\n");
    return 1;
}

/* ---- plugin enable latency ------------------------------------------------ */

static int plugin_running(oa_host *h, const char *name)
{
    oa_plugin_info info;
    return oa_registry_info_by_name(h->reg, name, &info) == 0 &&
           info.state == OA_STATE_RUNNING;
}

/* Runs one disable + enable cycle; *enable_ns and *disable_ns receive the
 * time each call took. Returns 0, or 1 after saying what went wrong. */
static int toggle_once(oa_host *h, const char *name, uint64_t *enable_ns, uint64_t *disable_ns)
{
    char msg[1024];
    uint64_t t0;
    uint64_t t1;
    int rc;

    t0 = uv_hrtime();
    rc = oa_registry_disable(h->reg, name, msg, sizeof(msg));
    t1 = uv_hrtime();
    if (rc != 0 || plugin_running(h, name)) {
        fprintf(stderr, "oa_bench_host: disabling %s: %s (%s)\n", name, oa_strerror(rc), msg);
        return 1;
    }
    *disable_ns = t1 - t0;
    /* Let closes and state events finish outside the timed part. */
    uv_run(h->loop, UV_RUN_NOWAIT);

    t0 = uv_hrtime();
    rc = oa_registry_enable(h->reg, name, msg, sizeof(msg));
    t1 = uv_hrtime();
    if (rc != 0 || !plugin_running(h, name)) {
        fprintf(stderr, "oa_bench_host: enabling %s: %s (%s)\n", name, oa_strerror(rc), msg);
        return 1;
    }
    *enable_ns = t1 - t0;
    uv_run(h->loop, UV_RUN_NOWAIT);
    return 0;
}

static int cmd_enable(int argc, char **argv)
{
    const char *plugins = bench_opt_str(argc, argv, "--plugins", NULL);
    const char *data = bench_opt_str(argc, argv, "--data", NULL);
    const char *name = bench_opt_str(argc, argv, "--plugin", "example-echo");
    uint64_t iterations;
    uint64_t *en = NULL;
    uint64_t *dis = NULL;
    uint64_t warmup_en;
    uint64_t warmup_dis;
    oa_host h;
    int running;
    int failed = 0;

    if (plugins == NULL || data == NULL ||
        bench_opt_num(argc, argv, "--iterations", 1000, &iterations) != 0 || iterations == 0) {
        return usage();
    }
    en = calloc((size_t)iterations, sizeof(*en));
    dis = calloc((size_t)iterations, sizeof(*dis));
    if (en == NULL || dis == NULL) {
        fprintf(stderr, "oa_bench_host: out of memory\n");
        free(en);
        free(dis);
        return 1;
    }

    if (bench_host_open("oa_bench_host", &h, data, plugins, 0) != 0) {
        free(en);
        free(dis);
        return 1;
    }
    running = oa_registry_start_all(h.reg);
    uv_run(h.loop, UV_RUN_NOWAIT);
    if (!plugin_running(&h, name)) {
        fprintf(stderr, "oa_bench_host: plugin %s is not running after start_all (is it in %s?)\n",
                name, plugins);
        failed = 1;
    }

    /* Warm-up: first-touch of code and SQLite pages. */
    for (int i = 0; i < 20 && !failed; i++) {
        failed = toggle_once(&h, name, &warmup_en, &warmup_dis);
    }
    for (uint64_t i = 0; i < iterations && !failed; i++) {
        failed = toggle_once(&h, name, &en[i], &dis[i]);
    }

    if (bench_host_close("oa_bench_host", &h) != 0) {
        failed = 1;
    }
    if (!failed) {
        size_t n = (size_t)iterations;
        qsort(en, n, sizeof(*en), cmp_u64);
        qsort(dis, n, sizeof(*dis), cmp_u64);
        printf("enable plugin=%s plugins_running=%d iterations=%zu median_us=%.2f p95_us=%.2f "
               "min_us=%.2f max_us=%.2f disable_median_us=%.2f\n",
               name, running, n, median_sorted(en, n) / 1e3,
               (double)percentile_sorted(en, n, 95) / 1e3, (double)en[0] / 1e3,
               (double)en[n - 1] / 1e3, median_sorted(dis, n) / 1e3);
    }
    free(en);
    free(dis);
    return failed ? 1 : 0;
}

/* ---- bus throughput ------------------------------------------------------- */

typedef struct bus_bench {
    uv_loop_t loop;
    oa_bus *bus;
    uv_async_t wake;     /* a poster finished */
    uv_mutex_t gate;     /* posters wait for go, so that all start together */
    uv_cond_t gate_cond;
    int go;
    uint64_t events;     /* to publish in all */
    unsigned threads;
    uint64_t seen;       /* loop thread: subscriber calls */
    uint64_t bad;        /* loop thread: deliveries with an unexpected payload */
    atomic_uint_fast64_t accepted; /* publishes that returned 0 */
    atomic_uint_fast64_t refused;  /* publishes that failed */
    atomic_uint done;              /* posters finished */
} bus_bench;

typedef struct poster {
    bus_bench *b;
    uint64_t count;
} poster;

static void on_event(void *arg, const char *topic, const char *json, size_t len)
{
    bus_bench *b = arg;
    (void)topic;
    if (len != sizeof(BENCH_PAYLOAD) - 1 || memcmp(json, BENCH_PAYLOAD, len) != 0) {
        b->bad++;
    }
    b->seen++;
}

static void on_wake(uv_async_t *a)
{
    (void)a; /* the loop thread re-reads the counters after uv_run returns */
}

/* Publishes count events; returns how many the bus accepted. */
static uint64_t publish_n(oa_bus *bus, uint64_t count)
{
    uint64_t ok = 0;
    for (uint64_t i = 0; i < count; i++) {
        if (oa_bus_publish(bus, BENCH_TOPIC, BENCH_PAYLOAD) == 0) {
            ok++;
        }
    }
    return ok;
}

static void poster_main(void *arg)
{
    poster *p = arg;
    bus_bench *b = p->b;
    uint64_t ok;

    uv_mutex_lock(&b->gate);
    while (!b->go) {
        uv_cond_wait(&b->gate_cond, &b->gate);
    }
    uv_mutex_unlock(&b->gate);
    ok = publish_n(b->bus, p->count);
    atomic_fetch_add(&b->accepted, ok);
    atomic_fetch_add(&b->refused, p->count - ok);
    atomic_fetch_add(&b->done, 1);
    uv_async_send(&b->wake);
}

/* The loop thread publishes in batches of capacity and runs the loop after
 * each batch until the subscriber has seen it. */
static void run_on_loop(bus_bench *b, size_t capacity)
{
    uint64_t left = b->events;
    while (left > 0) {
        uint64_t n = left < capacity ? left : capacity;
        uint64_t ok = publish_n(b->bus, n);
        uint64_t want = b->seen + ok;
        atomic_fetch_add(&b->accepted, ok);
        atomic_fetch_add(&b->refused, n - ok);
        while (b->seen < want) {
            uv_run(&b->loop, UV_RUN_ONCE);
        }
        left -= n;
    }
}

/* Worker threads publish while the loop thread delivers; *t0 is taken as
 * they are let go. Returns 0, or 1 when a thread could not be started (the
 * ones started still run to the end). */
static int run_threads(bus_bench *b, uint64_t *t0)
{
    uv_thread_t tid[BENCH_MAX_THREADS];
    poster ps[BENCH_MAX_THREADS];
    unsigned started = 0;
    int failed = 0;

    for (unsigned i = 0; i < b->threads; i++) {
        ps[i].b = b;
        ps[i].count = b->events / b->threads + (i < b->events % b->threads ? 1 : 0);
        if (uv_thread_create(&tid[i], poster_main, &ps[i]) != 0) {
            fprintf(stderr, "oa_bench_host: cannot start poster thread %u\n", i);
            failed = 1;
            break;
        }
        started++;
    }
    b->threads = started;
    uv_mutex_lock(&b->gate);
    b->go = 1;
    uv_cond_broadcast(&b->gate_cond);
    uv_mutex_unlock(&b->gate);
    *t0 = uv_hrtime();
    for (;;) {
        unsigned done = atomic_load(&b->done);
        uint64_t accepted = atomic_load(&b->accepted);
        if (done == b->threads && b->seen >= accepted) {
            break;
        }
        uv_run(&b->loop, UV_RUN_ONCE);
    }
    for (unsigned i = 0; i < started; i++) {
        uv_thread_join(&tid[i]);
    }
    return failed;
}

static int cmd_bus(int argc, char **argv)
{
    bus_bench b;
    oa_bus_stats st;
    uint64_t events;
    uint64_t threads;
    uint64_t capacity;
    uint64_t t0;
    uint64_t t1;
    double secs;
    int failed = 0;
    int rc;

    if (bench_opt_num(argc, argv, "--events", 1000000, &events) != 0 ||
        bench_opt_num(argc, argv, "--threads", 0, &threads) != 0 || events == 0 ||
        threads > BENCH_MAX_THREADS) {
        return usage();
    }
    if (bench_opt_num(argc, argv, "--capacity", threads == 0 ? 8192 : events, &capacity) != 0 ||
        capacity == 0) {
        return usage();
    }

    memset(&b, 0, sizeof(b));
    atomic_init(&b.accepted, 0);
    atomic_init(&b.refused, 0);
    atomic_init(&b.done, 0);
    b.events = events;
    b.threads = (unsigned)threads;
    if (uv_loop_init(&b.loop) != 0) {
        fprintf(stderr, "oa_bench_host: cannot create a loop\n");
        return 1;
    }
    rc = oa_bus_new(&b.loop, (size_t)capacity, &b.bus);
    if (rc != 0) {
        fprintf(stderr, "oa_bench_host: cannot create the bus: %s\n", oa_strerror(rc));
        uv_loop_close(&b.loop);
        return 1;
    }
    rc = oa_bus_subscribe(b.bus, BENCH_PATTERN, on_event, &b, NULL, NULL);
    if (rc != 0) {
        fprintf(stderr, "oa_bench_host: cannot subscribe: %s\n", oa_strerror(rc));
        failed = 1;
    }
    uv_async_init(&b.loop, &b.wake, on_wake);
    uv_mutex_init(&b.gate);
    uv_cond_init(&b.gate_cond);

    if (!failed && b.threads == 0) {
        t0 = uv_hrtime();
        run_on_loop(&b, (size_t)capacity);
        t1 = uv_hrtime();
    } else if (!failed) {
        failed = run_threads(&b, &t0);
        t1 = uv_hrtime();
    } else {
        t0 = 0;
        t1 = 0;
    }

    oa_bus_get_stats(b.bus, &st);
    uv_cond_destroy(&b.gate_cond);
    uv_mutex_destroy(&b.gate);
    uv_close((uv_handle_t *)&b.wake, NULL);
    oa_bus_close(b.bus);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&b.loop) != 0) {
        fprintf(stderr, "oa_bench_host: the bus left handles open at close\n");
        failed = 1;
    }
    if (b.bad != 0) {
        fprintf(stderr, "oa_bench_host: %llu events arrived with a wrong payload\n",
                (unsigned long long)b.bad);
        failed = 1;
    }
    if (failed) {
        return 1;
    }
    secs = (double)(t1 - t0) / 1e9;
    printf("bus threads=%u events=%llu capacity=%llu seconds=%.4f events_per_s=%.0f "
           "published=%llu delivered=%llu dropped=%llu refused=%llu\n",
           b.threads, (unsigned long long)events, (unsigned long long)capacity, secs,
           (double)b.seen / secs, (unsigned long long)st.published,
           (unsigned long long)st.delivered, (unsigned long long)st.dropped,
           (unsigned long long)atomic_load(&b.refused));
    return 0;
}

int main(int argc, char **argv)
{
    int rc;

    if (argc < 2) {
        return usage();
    }
    oa_log_init(OA_LOG_WARN, 0, 0);
    if (strcmp(argv[1], "ports") == 0) {
        rc = cmd_ports();
    } else if (strcmp(argv[1], "enable") == 0) {
        rc = cmd_enable(argc, argv);
    } else if (strcmp(argv[1], "bus") == 0) {
        rc = cmd_bus(argc, argv);
    } else {
        rc = usage();
    }
    oa_loader_exit();
    oa_log_shutdown();
    return rc;
}
