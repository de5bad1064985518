/*
 * live-probe: a test plugin that drives the swarm's live service (issue 7)
 * through commands, for tests/interop/test_live_swarm.py. It makes keys and
 * descriptors with livecore, publishes signed chunks of random bytes, joins
 * streams as a viewer and records what it is given, in order.
 *
 * Commands (JSON in, JSON out):
 *   source  {name, chunk_ms?, window?}     -> {content_id, descriptor (base64)}
 *   publish {content_id, size}              -> {seq, sha256}
 *   view    {content_id, descriptor?}       -> {content_id}
 *   got     {content_id}                    -> {descriptor, chunks:[{seq,sha256,gap,size}],
 *                                               chats, peers_joined, peers_left}
 *   chat    {content_id, text, seq?, ts_ms?, new_key?, send?}
 *                                           -> {rc} (send false: {msg: the signed
 *                                              message, hex}; new_key: a fresh sender key
 *                                              from now on)
 *   stats   {content_id}                    -> the live stats
 *   close   {content_id}                    -> {}
 * Built apart from build/plugins (build/tests/live-plugins).
 */
#include <openace/sdk.h>
#include <openace/swarm.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "livecore.h"

#define PROBE_MAX_GOT 4096

typedef struct probe_got {
    uint64_t seq;
    char sha[65];
    int gap;
    size_t size;
} probe_got;

typedef struct probe_stream {
    struct probe_stream *next;
    struct probe *pr;
    uint8_t id[OA_LC_ID_LEN];
    char hex[41];
    uint8_t seed[OA_LC_KEY_LEN];  /* source only */
    int publish;
    oa_swarm_handle *h;
    uint64_t next_seq;
    int64_t last_ts;
    int have_desc;
    int desc_status;
    probe_got *got;
    size_t ngot;
    size_t chats, joined, left;
    uint8_t chat_seed[OA_LC_KEY_LEN];
    uint64_t chat_seq;
} probe_stream;

typedef struct probe {
    oa_plugin *self;
    const oa_host_api *api;
    const oa_swarm *swarm;
    probe_stream *streams;
} probe;

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex_of(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int reply(probe *pr, json_t *j, char **out)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s == NULL) {
        return OA_ENOMEM;
    }
    *out = pr->api->str_dup(s);
    free(s);
    return 0;
}

static int fail(probe *pr, char **out, int rc, const char *msg)
{
    *out = pr->api->str_dup(msg);
    return rc;
}

static probe_stream *find(probe *pr, json_t *args)
{
    const char *hex = json_string_value(json_object_get(args, "content_id"));
    probe_stream *s;
    for (s = pr->streams; hex != NULL && s != NULL; s = s->next) {
        if (strcmp(s->hex, hex) == 0) {
            return s;
        }
    }
    return NULL;
}

/* ---- callbacks -------------------------------------------------------------- */

static void on_desc(void *arg, oa_swarm_handle *h, int status, const char *reason,
                    const uint8_t *desc, size_t len)
{
    probe_stream *s = arg;
    (void)h;
    (void)desc;
    (void)len;
    s->have_desc = status == 0;
    s->desc_status = status;
    if (status != 0) {
        s->pr->api->log(s->pr->self, OA_LOG_WARN, "descriptor failed: %s", reason);
    }
}

static void on_chunk(void *arg, oa_swarm_handle *h, const oa_swarm_live_chunk *c)
{
    probe_stream *s = arg;
    uint8_t sha[32];
    (void)h;
    if (s->ngot == PROBE_MAX_GOT) {
        return;
    }
    oa_lc_sha256(c->data, c->len, sha);
    s->got[s->ngot].seq = c->seq;
    hex_of(sha, 32, s->got[s->ngot].sha);
    s->got[s->ngot].gap = c->gap;
    s->got[s->ngot].size = c->len;
    s->ngot++;
}

static void on_chat(void *arg, oa_swarm_handle *h, const uint8_t *msg, size_t len)
{
    probe_stream *s = arg;
    (void)h;
    (void)msg;
    (void)len;
    s->chats++;
}

static void on_peer(void *arg, oa_swarm_handle *h, const char *addr, int joined)
{
    probe_stream *s = arg;
    (void)h;
    (void)addr;
    if (joined) {
        s->joined++;
    } else {
        s->left++;
    }
}

static int open_stream(probe *pr, probe_stream *s, const uint8_t *desc, size_t len, char **out)
{
    oa_swarm_live_cbs cbs;
    int rc;
    memset(&cbs, 0, sizeof(cbs));
    cbs.size = sizeof(cbs);
    cbs.descriptor = on_desc;
    cbs.chunk = on_chunk;
    cbs.chat = on_chat;
    cbs.peer = on_peer;
    s->pr = pr;
    s->got = calloc(PROBE_MAX_GOT, sizeof(*s->got));
    if (s->got == NULL) {
        free(s);
        return OA_ENOMEM;
    }
    oa_lc_keygen(s->chat_seed, (uint8_t[OA_LC_KEY_LEN]){0});
    rc = pr->swarm->live_open(pr->swarm->instance, s->id, desc, len, s->publish, &cbs, s, &s->h);
    if (rc != 0) {
        free(s->got);
        free(s);
        return fail(pr, out, rc, "live_open failed");
    }
    s->next = pr->streams;
    pr->streams = s;
    return 0;
}

/* ---- commands ---------------------------------------------------------------- */

static int cmd_source(probe *pr, json_t *args, char **out)
{
    oa_lc_descriptor d;
    probe_stream *s;
    uint8_t *desc = NULL;
    size_t len = 0;
    char err[160];
    char b64[OA_LC_MAX_DESCRIPTOR * 2];
    const char *name = json_string_value(json_object_get(args, "name"));
    json_int_t chunk_ms = json_integer_value(json_object_get(args, "chunk_ms"));
    json_int_t window = json_integer_value(json_object_get(args, "window"));
    int rc;
    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "%s", name != NULL ? name : "probe");
    d.chunk_ms = chunk_ms > 0 ? (uint32_t)chunk_ms : 500;
    d.window = window > 0 ? (uint32_t)window : 30;
    d.created = (int64_t)time(NULL);
    snprintf(d.video, sizeof(d.video), "h264");
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OA_ENOMEM;
    }
    oa_lc_keygen(s->seed, d.pubkey);
    rc = oa_lc_desc_encode(&d, &desc, &len, err, sizeof(err));
    if (rc != 0) {
        free(s);
        return fail(pr, out, rc, err);
    }
    oa_lc_content_id(desc, len, s->id);
    oa_lc_hex40(s->id, s->hex);
    s->publish = 1;
    rc = open_stream(pr, s, desc, len, out);
    if (rc != 0) {
        free(desc);
        return rc;
    }
    EVP_EncodeBlock((unsigned char *)b64, desc, (int)len);
    free(desc);
    return reply(pr, json_pack("{s:s, s:s}", "content_id", s->hex, "descriptor", b64), out);
}

static int cmd_publish(probe *pr, json_t *args, char **out)
{
    probe_stream *s = find(pr, args);
    json_int_t size = json_integer_value(json_object_get(args, "size"));
    oa_lc_chunk c;
    oa_swarm_live_chunk lc;
    uint8_t *data;
    char sha[65];
    int64_t ts;
    int rc;
    if (s == NULL || !s->publish || size <= 0 || size > 4 * 1024 * 1024) {
        return fail(pr, out, OA_EINVAL, "publish needs a source content_id and a size");
    }
    data = malloc((size_t)size);
    if (data == NULL) {
        return OA_ENOMEM;
    }
    RAND_bytes(data, (int)size);
    ts = unix_ms();
    if (ts <= s->last_ts) {
        ts = s->last_ts + 1;
    }
    s->last_ts = ts;
    oa_lc_chunk_sign(s->seed, s->next_seq, ts, (int64_t)s->next_seq * 500000, 500000, data,
                     (size_t)size, &c);
    memset(&lc, 0, sizeof(lc));
    lc.seq = c.seq;
    lc.ts_ms = c.ts_ms;
    lc.pts_us = c.pts_us;
    lc.duration_us = c.duration_us;
    memcpy(lc.hash, c.hash, 32);
    memcpy(lc.sig, c.sig, 64);
    lc.data = data;
    lc.len = (size_t)size;
    rc = pr->swarm->live_publish(s->h, &lc);
    free(data);
    if (rc != 0) {
        return fail(pr, out, rc, "live_publish failed");
    }
    hex_of(c.hash, 32, sha);
    s->next_seq++;
    return reply(pr, json_pack("{s:I, s:s}", "seq", (json_int_t)c.seq, "sha256", sha), out);
}

static int cmd_view(probe *pr, json_t *args, char **out)
{
    const char *hex = json_string_value(json_object_get(args, "content_id"));
    const char *b64 = json_string_value(json_object_get(args, "descriptor"));
    uint8_t desc[OA_LC_MAX_DESCRIPTOR + 4];
    int len = 0;
    probe_stream *s;
    int rc;
    if (hex == NULL || find(pr, args) != NULL) {
        return fail(pr, out, OA_EINVAL, "view needs a new content_id");
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OA_ENOMEM;
    }
    if (oa_lc_unhex40(hex, s->id) != 0) {
        free(s);
        return fail(pr, out, OA_EINVAL, "content_id is not 40 hex digits");
    }
    oa_lc_hex40(s->id, s->hex);
    if (b64 != NULL) {
        size_t n = strlen(b64);
        if (n > sizeof(desc) / 3 * 4) {
            free(s);
            return fail(pr, out, OA_EINVAL, "descriptor too long");
        }
        len = EVP_DecodeBlock(desc, (const unsigned char *)b64, (int)n);
        while (len > 0 && n > 0 && b64[n - 1] == '=') {
            len--;
            n--;
        }
    }
    rc = open_stream(pr, s, b64 != NULL ? desc : NULL, (size_t)(len > 0 ? len : 0), out);
    if (rc != 0) {
        return rc;
    }
    return reply(pr, json_pack("{s:s}", "content_id", s->hex), out);
}

static int cmd_got(probe *pr, json_t *args, char **out)
{
    probe_stream *s = find(pr, args);
    json_t *arr;
    size_t i;
    if (s == NULL) {
        return fail(pr, out, OA_ENOENT, "no such stream");
    }
    arr = json_array();
    for (i = 0; i < s->ngot; i++) {
        json_array_append_new(arr, json_pack("{s:I, s:s, s:b, s:I}", "seq",
                                             (json_int_t)s->got[i].seq, "sha256", s->got[i].sha,
                                             "gap", s->got[i].gap, "size",
                                             (json_int_t)s->got[i].size));
    }
    return reply(pr, json_pack("{s:b, s:i, s:o, s:I, s:I, s:I}", "descriptor", s->have_desc,
                               "descriptor_status", s->desc_status, "chunks", arr, "chats",
                               (json_int_t)s->chats, "peers_joined", (json_int_t)s->joined,
                               "peers_left", (json_int_t)s->left),
                 out);
}

static int cmd_chat(probe *pr, json_t *args, char **out)
{
    probe_stream *s = find(pr, args);
    const char *text = json_string_value(json_object_get(args, "text"));
    oa_lc_chat c;
    uint8_t *msg = NULL;
    size_t len = 0;
    char err[160];
    int rc;
    if (s == NULL || text == NULL) {
        return fail(pr, out, OA_EINVAL, "chat needs content_id and text");
    }
    if (json_is_true(json_object_get(args, "new_key"))) {
        oa_lc_keygen(s->chat_seed, (uint8_t[OA_LC_KEY_LEN]){0});
    }
    memset(&c, 0, sizeof(c));
    c.kind = 0;
    c.seq = ++s->chat_seq;
    if (json_is_integer(json_object_get(args, "seq"))) {
        c.seq = (uint64_t)json_integer_value(json_object_get(args, "seq"));
    }
    memcpy(c.stream, s->id, OA_LC_ID_LEN);
    c.ts_ms = unix_ms();
    if (json_is_integer(json_object_get(args, "ts_ms"))) {
        c.ts_ms = (int64_t)json_integer_value(json_object_get(args, "ts_ms"));
    }
    snprintf(c.text, sizeof(c.text), "%s", text);
    rc = oa_lc_chat_sign(s->chat_seed, &c, &msg, &len, err, sizeof(err));
    if (rc != 0) {
        return fail(pr, out, rc, err);
    }
    if (json_is_false(json_object_get(args, "send"))) {
        char hex[2 * OA_LC_CHAT_MAX + 1];
        hex_of(msg, len, hex);
        hex[2 * len] = '\0';
        free(msg);
        return reply(pr, json_pack("{s:s}", "msg", hex), out);
    }
    rc = pr->swarm->live_chat(s->h, msg, len);
    free(msg);
    return reply(pr, json_pack("{s:i}", "rc", rc), out);
}

static int cmd_stats(probe *pr, json_t *args, char **out)
{
    probe_stream *s = find(pr, args);
    oa_swarm_live_stats st;
    if (s == NULL) {
        return fail(pr, out, OA_ENOENT, "no such stream");
    }
    memset(&st, 0, sizeof(st));
    st.size = sizeof(st);
    pr->swarm->live_stats(s->h, &st);
    return reply(pr,
                 json_pack("{s:b, s:I, s:I, s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:i, s:s}",
                           "have_descriptor", st.have_descriptor, "first", (json_int_t)st.first,
                           "last", (json_int_t)st.last, "peers", (int)st.peers, "downloaded",
                           (json_int_t)st.downloaded, "uploaded", (json_int_t)st.uploaded,
                           "chunks_in", (json_int_t)st.chunks_in, "rejected",
                           (json_int_t)st.rejected, "latency_median_ms",
                           (int)st.latency_median_ms, "latency_p95_ms", (int)st.latency_p95_ms,
                           "latency_samples", (int)st.latency_samples, "error", st.error),
                 out);
}

static void stream_close(probe *pr, probe_stream *s)
{
    probe_stream **pp;
    for (pp = &pr->streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (s->h != NULL) {
        pr->swarm->close(s->h);
    }
    free(s->got);
    free(s);
}

static int cmd_close(probe *pr, json_t *args, char **out)
{
    probe_stream *s = find(pr, args);
    if (s == NULL) {
        return fail(pr, out, OA_ENOENT, "no such stream");
    }
    stream_close(pr, s);
    return reply(pr, json_object(), out);
}

static int probe_command(void *state, const char *name, const char *json_args, char **out)
{
    probe *pr = state;
    json_t *args = json_loads(json_args != NULL ? json_args : "{}", 0, NULL);
    int rc;
    if (args == NULL) {
        return fail(pr, out, OA_EINVAL, "arguments are not JSON");
    }
    if (strcmp(name, "source") == 0) {
        rc = cmd_source(pr, args, out);
    } else if (strcmp(name, "publish") == 0) {
        rc = cmd_publish(pr, args, out);
    } else if (strcmp(name, "view") == 0) {
        rc = cmd_view(pr, args, out);
    } else if (strcmp(name, "got") == 0) {
        rc = cmd_got(pr, args, out);
    } else if (strcmp(name, "chat") == 0) {
        rc = cmd_chat(pr, args, out);
    } else if (strcmp(name, "stats") == 0) {
        rc = cmd_stats(pr, args, out);
    } else if (strcmp(name, "close") == 0) {
        rc = cmd_close(pr, args, out);
    } else {
        rc = OA_ENOTFOUND;
    }
    json_decref(args);
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------------- */

static int probe_init(oa_plugin *self, const oa_host_api *api, void **state)
{
    probe *pr = calloc(1, sizeof(*pr));
    if (pr == NULL) {
        return OA_ENOMEM;
    }
    pr->self = self;
    pr->api = api;
    *state = pr;
    return 0;
}

static int probe_start(void *state)
{
    probe *pr = state;
    pr->swarm = pr->api->service_lookup(pr->self, OA_SWARM_SERVICE, OA_SWARM_VERSION, NULL);
    if (pr->swarm == NULL || !OA_SWARM_HAS(pr->swarm, live_stats)) {
        pr->api->set_error(pr->self, "the swarm service with live streams is not running");
        return OA_EDEPEND;
    }
    return 0;
}

static void probe_stop(void *state)
{
    probe *pr = state;
    while (pr->streams != NULL) {
        stream_close(pr, pr->streams);
    }
}

static void probe_destroy(void *state)
{
    free(state);
}

static const char *const probe_requires[] = {"swarm", NULL};

static const oa_plugin_desc probe_desc = {
    OA_PLUGIN_HEADER,
    .name = "live-probe",
    .version = "0.1.0",
    .kind = OA_KIND_ENGINE,
    .summary = "Test plugin: drives the swarm's live streams through commands.",
    .license = "MIT",
    .requires = probe_requires,
    .provides = NULL,
    .config = NULL,
    .init = probe_init,
    .start = probe_start,
    .stop = probe_stop,
    .destroy = probe_destroy,
    .health = NULL,
    .command = probe_command,
    .configure = NULL,
};

OA_PLUGIN_ENTRY(probe_desc)
