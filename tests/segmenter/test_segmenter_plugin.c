/*
 * The segmenter plugin (plugins/segmenter/plugin.c) in a real host: the
 * service it registers, the max_jobs limit, and jobs still open when the
 * plugin stops (closed then, with no callback afterwards, and the loop
 * closing cleanly).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openace/media.h>

#include "host.h"
#include "testutil.h"
#include "testutil_host.h"

const oa_plugin_desc *oa_plugin_entry(void);

typedef struct fx {
    oa_host h;
    char *dir;
    char *input;
    const oa_segmenter *seg;
    int opens;
    int open_status;
    size_t chunks;
    int last_seen;
    int ends;
    int end_status;
    int stopped; /* the plugin stopped: no callback may come */
    int after_stop;
    uv_timer_t wait;
    int waited;
} fx;

static void on_open(void *arg, oa_media_job *job, int status, const char *reason)
{
    fx *f = arg;
    (void)job;
    (void)reason;
    f->after_stop += f->stopped;
    f->opens++;
    f->open_status = status;
}

static void on_chunk(void *arg, const oa_media_chunk *c)
{
    fx *f = arg;
    f->after_stop += f->stopped;
    assert_int_equal(c->seq, f->chunks);
    f->chunks++;
    if (c->flags & OA_MEDIA_LAST) {
        f->last_seen = 1;
    }
}

static void on_end(void *arg, oa_media_job *job, int status, const char *reason)
{
    fx *f = arg;
    (void)job;
    (void)reason;
    f->after_stop += f->stopped;
    f->ends++;
    f->end_status = status;
}

static int open_job(fx *f, oa_media_job **job)
{
    oa_segmenter_opts o;
    memset(&o, 0, sizeof(o));
    o.size = sizeof(o);
    o.url = f->input;
    o.target_seconds = 1;
    return f->seg->open(f->seg->instance, &o, NULL, on_open, on_chunk, on_end, f, job);
}

static void run_until(fx *f, const int *flag)
{
    uint64_t t0 = uv_hrtime();
    while (!*flag) {
        uv_run(f->h.loop, UV_RUN_ONCE);
        if (uv_hrtime() - t0 > 60000000000ULL) {
            fail_msg("timed out");
        }
    }
}

static void on_wait(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    char cmd[1024];
    char err[512];
    uint32_t version = 0;

    oa_log_init(OA_LOG_ERROR, 0, 0);
    f->dir = oa_test_tmpdir();
    f->input = oa_test_path(f->dir, "in.ts");
    snprintf(cmd, sizeof(cmd),
             "ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "
             "testsrc=size=160x120:rate=25 -t 3 -c:v libx264 -preset ultrafast -g 25 "
             "-pix_fmt yuv420p -f mpegts '%s'",
             f->input);
    assert_int_equal(system(cmd), 0);
    oa_test_host_open(&f->h, f->dir, NULL, OA_HTTP_OFF);
    assert_int_equal(oa_registry_add(f->h.reg, NULL, oa_plugin_entry(), err, sizeof(err)), 0);
    assert_int_equal(
        oa_host_config_set(&f->h, "segmenter", "max_jobs", "1", err, sizeof(err)), 0);
    oa_registry_resolve(f->h.reg);
    assert_int_equal(oa_registry_start_all(f->h.reg), 1);
    f->seg = oa_registry_service_lookup(f->h.reg, OA_SEGMENTER_SERVICE, OA_SEGMENTER_VERSION,
                                        &version);
    assert_non_null(f->seg);
    assert_int_equal(version, OA_SEGMENTER_VERSION);
    assert_true(f->seg->size >= sizeof(oa_segmenter));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char *input = f->input;
    /* Every test is a leak check: the loop must close with nothing open. */
    oa_test_host_close(&f->h, f->dir);
    free(input);
    free(f);
    return 0;
}

static void test_job_and_limit(void **state)
{
    fx *f = *state;
    oa_media_job *a = NULL;
    oa_media_job *b = NULL;
    oa_media_info info;
    char *out = NULL;

    assert_int_equal(open_job(f, &a), 0);
    /* max_jobs is 1: a second job waits for room. */
    assert_int_equal(open_job(f, &b), OA_EAGAIN);
    assert_null(b);
    run_until(f, &f->ends);
    assert_int_equal(f->opens, 1);
    assert_int_equal(f->open_status, 0);
    assert_int_equal(f->end_status, 0);
    assert_int_equal(f->chunks, 3);
    assert_true(f->last_seen);
    info.size = sizeof(info);
    assert_int_equal(f->seg->info(a, &info), 0);
    assert_string_equal(info.video_codec, "h264");
    assert_false(info.has_audio);
    /* source_data without an outstanding read. */
    assert_int_equal(f->seg->source_data(a, 0, NULL, 0), OA_ESTATE);
    assert_int_equal(oa_registry_command(f->h.reg, "segmenter", "stats", "{}", &out), 0);
    assert_non_null(strstr(out, "\"jobs\": 1"));
    assert_non_null(strstr(out, "\"refused\": 1"));
    free(out);
    f->seg->close(a);
    /* Room again. */
    assert_int_equal(open_job(f, &b), 0);
    f->seg->close(b);
}

static void test_stop_closes_open_jobs(void **state)
{
    fx *f = *state;
    oa_media_job *a = NULL;
    char *out = NULL;

    assert_int_equal(open_job(f, &a), 0);
    run_until(f, &f->opens);
    /* The plugin stops with the job open: no callback afterwards. */
    oa_registry_stop_all(f->h.reg);
    f->stopped = 1;
    assert_null(oa_registry_service_lookup(f->h.reg, OA_SEGMENTER_SERVICE, 1, NULL));
    assert_int_not_equal(oa_registry_command(f->h.reg, "segmenter", "stats", "{}", &out), 0);
    free(out);
    /* Give a callback that should not come the time to come. */
    uv_timer_init(f->h.loop, &f->wait);
    f->wait.data = &f->waited;
    uv_timer_start(&f->wait, on_wait, 500, 0);
    run_until(f, &f->waited);
    uv_close((uv_handle_t *)&f->wait, NULL);
    assert_int_equal(f->after_stop, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_and_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_closes_open_jobs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
