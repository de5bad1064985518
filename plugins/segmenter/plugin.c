/*
 * segmenter: cuts audio/video inputs into MPEG-TS chunks at keyframes, for
 * HLS, progressive playback and live broadcasts (media.h). Streams MPEG-TS
 * carries are remuxed; raw video and PCM audio are encoded (segenc.h).
 *
 * It registers the service "segmenter" (OA_SEGMENTER_SERVICE,
 * OA_SEGMENTER_VERSION) in start() and provides "segmenter". Each job
 * (segjob.h) demuxes (and encodes) on a thread of its own and delivers
 * chunks on the host's loop. Jobs still open when the plugin stops are closed then; their
 * threads are joined on libuv's pool, never on the loop.
 *
 * Settings:
 *   max_jobs   jobs open at once; more are refused with OA_EAGAIN (live)
 *
 * Commands: stats {} -> {"jobs": open jobs, "max_jobs": the limit,
 *           "opened": jobs opened since start, "refused": refused for the limit}.
 */
#include "segjob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct seg_plugin {
    oa_plugin *self;
    const oa_host_api *api;
    uv_loop_t *loop;
    int running;
    oa_segmenter service;
    oa_media_job **jobs; /* open jobs, unordered */
    size_t njobs;
    size_t cap;
    int64_t max_jobs;
    uint64_t opened;
    uint64_t refused;
} seg_plugin;

/* ---- jobs ------------------------------------------------------------------ */

static void job_log(void *log_arg, int level, const char *msg)
{
    seg_plugin *p = log_arg;
    p->api->log(p->self, (oa_log_level)level, "%s", msg);
}

static int track(seg_plugin *p, oa_media_job *job)
{
    if (p->njobs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        oa_media_job **jobs = realloc(p->jobs, cap * sizeof(*jobs));
        if (jobs == NULL) {
            return OA_ENOMEM;
        }
        p->jobs = jobs;
        p->cap = cap;
    }
    p->jobs[p->njobs++] = job;
    return 0;
}

static void untrack(seg_plugin *p, oa_media_job *job)
{
    for (size_t i = 0; i < p->njobs; i++) {
        if (p->jobs[i] == job) {
            p->jobs[i] = p->jobs[--p->njobs];
            return;
        }
    }
}

/* ---- the service ------------------------------------------------------------- */

static int svc_open(void *instance, const oa_segmenter_opts *opts, const oa_media_source *src,
                    oa_media_open_cb on_open, oa_media_chunk_cb on_chunk,
                    oa_media_end_cb on_end, void *arg, oa_media_job **out)
{
    seg_plugin *p = instance;
    segjob_cbs cbs;
    oa_media_job *job = NULL;
    char why[200];
    int rc;

    if (p == NULL || !p->running) {
        return OA_ESTATE;
    }
    if ((int64_t)p->njobs >= p->max_jobs) {
        p->refused++;
        p->api->log(p->self, OA_LOG_WARN,
                    "refused a job: %zu jobs are open, the most allowed (raise the "
                    "segmenter's max_jobs setting to allow more)",
                    p->njobs);
        return OA_EAGAIN;
    }
    memset(&cbs, 0, sizeof(cbs));
    cbs.on_open = on_open;
    cbs.on_chunk = on_chunk;
    cbs.on_end = on_end;
    cbs.arg = arg;
    cbs.log = job_log;
    cbs.log_arg = p;
    why[0] = '\0';
    rc = segjob_open(p->loop, opts, src, &cbs, &job, why, sizeof(why));
    if (rc != 0) {
        if (why[0] != '\0') {
            p->api->log(p->self, OA_LOG_WARN, "refused a job: %s", why);
        }
        return rc;
    }
    rc = track(p, job);
    if (rc != 0) {
        segjob_close(job, NULL, NULL);
        return rc;
    }
    segjob_set_owner(job, p);
    p->opened++;
    *out = job;
    return 0;
}

static int svc_source_data(oa_media_job *job, int status, const uint8_t *data, size_t len)
{
    return segjob_source_data(job, status, data, len);
}

static void svc_pause(oa_media_job *job, int paused)
{
    segjob_pause(job, paused);
}

static int svc_info(oa_media_job *job, oa_media_info *info)
{
    return segjob_info(job, info);
}

static void svc_close(oa_media_job *job)
{
    seg_plugin *p;

    if (job == NULL) {
        return;
    }
    p = segjob_owner(job);
    if (p != NULL) {
        untrack(p, job);
    }
    segjob_close(job, NULL, NULL);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int seg_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    seg_plugin *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        api->set_error(self, "out of memory");
        return OA_ENOMEM;
    }
    p->self = self;
    p->api = api;
    *state = p;
    return 0;
}

static int seg_start(void *state)
{
    seg_plugin *p = state;
    int rc = p->api->config_get_int(p->self, "max_jobs", &p->max_jobs);

    if (rc != 0) {
        p->api->set_error(p->self, "cannot read the max_jobs setting: %s", oa_strerror(rc));
        return rc;
    }
    p->loop = p->api->loop(p->self);
    if (p->loop == NULL) {
        p->api->set_error(p->self, "the host gave no event loop");
        return OA_EDEPEND;
    }
    memset(&p->service, 0, sizeof(p->service));
    p->service.size = sizeof(p->service);
    p->service.instance = p;
    p->service.open = svc_open;
    p->service.source_data = svc_source_data;
    p->service.pause = svc_pause;
    p->service.info = svc_info;
    p->service.close = svc_close;
    p->opened = 0;
    p->refused = 0;
    p->running = 1;
    rc = p->api->service_register(p->self, OA_SEGMENTER_SERVICE, OA_SEGMENTER_VERSION,
                                  &p->service);
    if (rc != 0) {
        p->running = 0;
        p->api->set_error(p->self, "cannot register the segmenter service: %s",
                          oa_strerror(rc));
        return rc;
    }
    return 0;
}

static void seg_stop(void *state)
{
    seg_plugin *p = state;
    size_t n = p->njobs;

    p->running = 0;
    while (p->njobs > 0) {
        oa_media_job *job = p->jobs[--p->njobs];
        segjob_set_owner(job, NULL);
        segjob_close(job, NULL, NULL);
    }
    if (n > 0) {
        p->api->log(p->self, OA_LOG_INFO, "stopped; closed %zu job(s) still open", n);
    }
}

static void seg_destroy(void *state)
{
    seg_plugin *p = state;
    free(p->jobs);
    free(p);
}

static int seg_command(void *state, const char *name, const char *json_args, char **out)
{
    seg_plugin *p = state;
    char buf[200];

    (void)json_args;
    if (strcmp(name, "stats") != 0) {
        return OA_ENOTFOUND;
    }
    snprintf(buf, sizeof(buf),
             "{\"jobs\": %zu, \"max_jobs\": %lld, \"opened\": %llu, \"refused\": %llu}",
             p->njobs, (long long)p->max_jobs, (unsigned long long)p->opened,
             (unsigned long long)p->refused);
    *out = p->api->str_dup(buf);
    return *out != NULL ? 0 : OA_ENOMEM;
}

static int seg_configure(void *state, const char *key, const char *value)
{
    seg_plugin *p = state;
    (void)value;
    if (strcmp(key, "max_jobs") == 0) {
        /* Jobs above a lowered limit keep running; new ones wait for room. */
        return p->api->config_get_int(p->self, "max_jobs", &p->max_jobs);
    }
    return OA_ENOSYS;
}

/* ---- descriptor ----------------------------------------------------------------- */

static const oa_config_def seg_config[] = {
    {.key = "max_jobs", .type = OA_CFG_INT, .default_value = "16", .min = 1, .max = 1024,
     .flags = OA_CFG_LIVE,
     .help = "Most inputs cut at once; more are refused until one is closed."},
    {.key = NULL},
};

static const char *const seg_provides[] = {"segmenter", NULL};

static const oa_plugin_desc seg_desc = {
    OA_PLUGIN_HEADER,
    .name = "segmenter",
    .version = "0.1.0",
    .kind = OA_KIND_ENGINE,
    .summary = "Cuts audio and video inputs into MPEG-TS chunks at keyframes, as the "
               "segmenter service; encodes to H.264/AAC what MPEG-TS cannot carry.",
    .license = "MIT",
    .requires = NULL,
    .provides = seg_provides,
    .config = seg_config,
    .init = seg_init,
    .start = seg_start,
    .stop = seg_stop,
    .destroy = seg_destroy,
    .health = NULL,
    .command = seg_command,
    .configure = seg_configure,
};

OA_PLUGIN_ENTRY(seg_desc)
