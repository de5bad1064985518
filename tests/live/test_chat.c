/*
 * plugins/live/chat.c against a fake host: the HTTP routes (send, SSE with
 * history, mute), the history limits, back-pressure, the "live.chat"
 * event and the chat commands. Messages are real livecore chat messages;
 * the fake swarm hands each sent message straight back as accepted, like
 * the real one does once it verified it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "chat.h"
#include "livecore.h"

/* ---- the fake host ---------------------------------------------------------- */

struct oa_http_stream {
    char *buf;          /* everything written */
    size_t len;
    size_t queued;      /* written and not yet "sent" */
    size_t limit;
    int ended;
    oa_http_stream_cb cb;
    void *arg;
};

struct oa_http_req {
    const char *method;
    const char *path;
    const char *body;
    const char *last_event_id;
    int status;
    char *reply;
    char retry_after[16];
    oa_http_stream *stream;
};

struct oa_timer {
    oa_timer_cb cb;
    void *arg;
    int stopped;
};

typedef struct fake {
    uint64_t now;
    oa_http_handler handler;
    void *handler_arg;
    char route[64];
    struct oa_timer timer;
    int timers;
    char *events[64];
    size_t nevents;
    /* the fake swarm */
    lv_chat *chat;
    int send_rc;
    int echo;
    int sends;
    uint8_t last_msg[OA_LC_CHAT_MAX];
    size_t last_len;
    int is_broadcaster;
} fake;

static fake F;
static uint8_t node_seed[32], node_pub[32];
static uint8_t bc_seed[32], bc_pub[32];
static uint8_t other_seed[32], other_pub[32];
static uint8_t sid[20];
static char sid_hex[41];

static void *f_alloc(size_t n) { return malloc(n); }
static char *f_str_dup(const char *s) { return strdup(s); }
static void f_free(void *p) { free(p); }

static void f_log(oa_plugin *self, oa_log_level level, const char *fmt, ...)
{
    (void)self;
    (void)level;
    (void)fmt;
}

static int f_publish(oa_plugin *self, const char *topic, const char *json)
{
    char buf[4096];
    (void)self;
    snprintf(buf, sizeof(buf), "%s %s", topic, json);
    if (F.nevents < 64) {
        F.events[F.nevents++] = strdup(buf);
    }
    return 0;
}

static int f_timer_start(oa_plugin *self, uint64_t timeout, uint64_t repeat, oa_timer_cb cb,
                         void *arg, oa_timer **t)
{
    (void)self;
    (void)timeout;
    (void)repeat;
    F.timer.cb = cb;
    F.timer.arg = arg;
    F.timer.stopped = 0;
    F.timers++;
    *t = &F.timer;
    return 0;
}

static void f_timer_stop(oa_timer *t)
{
    t->stopped = 1;
    F.timers--;
}

static uint64_t f_now(oa_plugin *self)
{
    (void)self;
    return F.now;
}

static int f_route(oa_plugin *self, const char *method, const char *path, unsigned flags,
                   oa_http_handler h, void *arg)
{
    (void)self;
    assert_string_equal(method, "*");
    assert_true(flags & OA_HTTP_PREFIX);
    snprintf(F.route, sizeof(F.route), "%s", path);
    F.handler = h;
    F.handler_arg = arg;
    return 0;
}

static const char *f_method(oa_http_req *r) { return r->method; }
static const char *f_path(oa_http_req *r) { return r->path; }
static const char *f_query(oa_http_req *r, const char *n) { (void)r; (void)n; return NULL; }

static const char *f_header(oa_http_req *r, const char *name)
{
    return strcmp(name, "Last-Event-ID") == 0 ? r->last_event_id : NULL;
}

static const char *f_body(oa_http_req *r, size_t *len)
{
    if (len != NULL) {
        *len = r->body ? strlen(r->body) : 0;
    }
    return r->body;
}

static const char *f_user(oa_http_req *r) { (void)r; return "admin"; }
static const char *f_client(oa_http_req *r) { (void)r; return "127.0.0.1:1"; }

static int f_set_header(oa_http_req *r, const char *name, const char *value)
{
    if (strcmp(name, "Retry-After") == 0) {
        snprintf(r->retry_after, sizeof(r->retry_after), "%s", value);
    }
    return 0;
}

static int f_reply(oa_http_req *r, int status, const char *ct, const void *body, size_t len)
{
    assert_int_equal(r->status, 0);
    assert_string_equal(ct, "application/json");
    r->status = status;
    r->reply = strndup(body, len);
    return 0;
}

static int f_stream_open(oa_http_req *r, int status, const char *ct, int64_t length,
                         size_t limit, oa_http_stream_cb cb, void *arg, oa_http_stream **out)
{
    oa_http_stream *s = calloc(1, sizeof(*s));
    assert_string_equal(ct, "text/event-stream");
    assert_true(length < 0);
    s->limit = limit;
    s->cb = cb;
    s->arg = arg;
    r->status = status;
    r->stream = s;
    *out = s;
    return 0;
}

static int f_stream_write(oa_http_stream *s, const void *data, size_t len)
{
    if (s->ended) {
        return OA_ESTATE;
    }
    if (s->queued + len > s->limit) {
        return OA_EOVERFLOW;
    }
    s->buf = realloc(s->buf, s->len + len + 1);
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    s->buf[s->len] = '\0';
    s->queued += len;
    return 0;
}

static size_t f_stream_queued(oa_http_stream *s) { return s->queued; }

static int f_stream_end(oa_http_stream *s)
{
    s->ended = 1;
    return 0;
}

/* The client read everything queued: the host reports DRAINED. */
static void drain(oa_http_stream *s)
{
    s->queued = 0;
    s->cb(s->arg, s, OA_HTTP_STREAM_DRAINED);
}

static void stream_free(oa_http_stream *s)
{
    free(s->buf);
    free(s);
}

static oa_host_api API;

static int swarm_send(void *arg, const uint8_t id[20], const uint8_t *msg, size_t len)
{
    (void)arg;
    F.sends++;
    if (F.send_rc != 0) {
        return F.send_rc;
    }
    assert_true(len <= sizeof(F.last_msg));
    memcpy(F.last_msg, msg, len);
    F.last_len = len;
    if (F.echo) {
        lv_chat_received(F.chat, id, msg, len);
    }
    return 0;
}

static const uint8_t *swarm_bc_seed(void *arg, const uint8_t id[20])
{
    (void)arg;
    return F.is_broadcaster && memcmp(id, sid, 20) == 0 ? bc_seed : NULL;
}

static int setup(void **state)
{
    lv_chat_host h;
    (void)state;
    memset(&F, 0, sizeof(F));
    F.now = 1000;
    F.echo = 1;
    memset(&API, 0, sizeof(API));
    API.size = sizeof(API);
    API.alloc = f_alloc;
    API.str_dup = f_str_dup;
    API.free = f_free;
    API.log = f_log;
    API.publish = f_publish;
    API.timer_start = f_timer_start;
    API.timer_stop = f_timer_stop;
    API.now_ms = f_now;
    API.http_route = f_route;
    API.http_method = f_method;
    API.http_path = f_path;
    API.http_query = f_query;
    API.http_header = f_header;
    API.http_body = f_body;
    API.http_user = f_user;
    API.http_client = f_client;
    API.http_set_header = f_set_header;
    API.http_reply = f_reply;
    API.http_stream_open = f_stream_open;
    API.http_stream_write = f_stream_write;
    API.http_stream_queued = f_stream_queued;
    API.http_stream_end = f_stream_end;

    assert_int_equal(oa_lc_keygen(node_seed, node_pub), 0);
    assert_int_equal(oa_lc_keygen(bc_seed, bc_pub), 0);
    assert_int_equal(oa_lc_keygen(other_seed, other_pub), 0);
    for (int i = 0; i < 20; i++) {
        sid[i] = (uint8_t)(0xa0 + i);
    }
    oa_lc_hex40(sid, sid_hex);

    memset(&h, 0, sizeof(h));
    h.self = (oa_plugin *)&F;
    h.api = &API;
    h.node_seed = node_seed;
    h.send = swarm_send;
    h.broadcaster_seed = swarm_bc_seed;
    F.chat = lv_chat_new(&h);
    assert_non_null(F.chat);
    assert_string_equal(F.route, "/api/live");
    assert_int_equal(F.timers, 1);
    lv_chat_stream_open(F.chat, sid, bc_pub);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    lv_chat_free(F.chat);
    assert_int_equal(F.timers, 0);
    for (size_t i = 0; i < F.nevents; i++) {
        free(F.events[i]);
    }
    return 0;
}

/* Runs one request; the reply (or stream) stays in *r. */
static int request(oa_http_req *r, const char *method, const char *path, const char *body)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    r->body = body;
    return F.handler(F.handler_arg, r);
}

static void chat_path(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "/api/live/%s/%s", sid_hex, what);
}

static json_t *reply_json(const oa_http_req *r)
{
    json_t *v = json_loads(r->reply, 0, NULL);
    assert_non_null(v);
    return v;
}

/* Posts text and checks it was sent. */
static void post_text(const char *text)
{
    oa_http_req r;
    char path[128], body[1024];
    json_t *b = json_pack("{s:s}", "text", text);
    char *s = json_dumps(b, JSON_COMPACT);
    snprintf(body, sizeof(body), "%s", s);
    free(s);
    json_decref(b);
    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&r, "POST", path, body), 0);
    assert_int_equal(r.status, 200);
    free(r.reply);
}

/* A message signed by seed, as another engine would send it. */
static void receive_from(const uint8_t *seed, uint64_t seq, const char *text)
{
    oa_lc_chat m;
    uint8_t *out = NULL;
    size_t len = 0;
    char err[128];
    memset(&m, 0, sizeof(m));
    m.kind = 0;
    m.seq = seq;
    memcpy(m.stream, sid, 20);
    m.ts_ms = 1700000000000 + (int64_t)seq;
    snprintf(m.text, sizeof(m.text), "%s", text);
    assert_int_equal(oa_lc_chat_sign(seed, &m, &out, &len, err, sizeof(err)), 0);
    lv_chat_received(F.chat, sid, out, len);
    free(out);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* ---- tests --------------------------------------------------------------------- */

static void test_send_and_sse(void **state)
{
    oa_http_req sse, r;
    char path[128];
    json_t *v, *msg;
    const char *data;
    (void)state;

    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&sse, "GET", path, NULL), 0);
    assert_int_equal(sse.status, 200);
    assert_non_null(sse.stream);

    assert_int_equal(request(&r, "POST", path, "{\"text\":\"hi @bob :wave: and @bob\"}"), 0);
    assert_int_equal(r.status, 200);
    v = reply_json(&r);
    assert_true(json_is_true(json_object_get(v, "sent")));
    assert_true(json_integer_value(json_object_get(v, "seq")) > 1600000000000);
    json_decref(v);
    free(r.reply);
    assert_int_equal(F.sends, 1);

    /* The SSE client got it as one chat event with the parsed tokens. */
    assert_non_null(sse.stream->buf);
    assert_int_equal(count(sse.stream->buf, "event: chat\n"), 1);
    data = strstr(sse.stream->buf, "data: ");
    assert_non_null(data);
    msg = json_loadb(data + 6, strcspn(data + 6, "\n"), 0, NULL);
    assert_non_null(msg);
    assert_string_equal(json_string_value(json_object_get(msg, "content_id")), sid_hex);
    assert_string_equal(json_string_value(json_object_get(msg, "text")), "hi @bob :wave: and @bob");
    assert_int_equal(strlen(json_string_value(json_object_get(msg, "from"))), 64);
    assert_int_equal(json_array_size(json_object_get(msg, "mentions")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(msg, "mentions"), 0)),
                        "bob");
    assert_string_equal(json_string_value(json_array_get(json_object_get(msg, "emotes"), 0)),
                        "wave");
    assert_true(json_is_integer(json_object_get(msg, "ts_ms")));
    json_decref(msg);

    /* And Lua got "live.chat". */
    assert_int_equal(F.nevents, 1);
    assert_true(strncmp(F.events[0], "live.chat {", 11) == 0);
    assert_non_null(strstr(F.events[0], "\"mentions\":[\"bob\"]"));

    /* A second message: seq grows. */
    post_text("second");
    assert_int_equal(count(sse.stream->buf, "event: chat\n"), 2);

    /* Keep-alive on the timer. */
    F.now += 15000;
    F.timer.cb(F.timer.arg, &F.timer);
    assert_non_null(strstr(sse.stream->buf, ": keepalive\n\n"));

    /* The stream closes: the SSE response ends; a late CLOSED is harmless. */
    lv_chat_stream_close(F.chat, sid);
    assert_true(sse.stream->ended);
    sse.stream->cb(sse.stream->arg, sse.stream, OA_HTTP_STREAM_CLOSED);
    stream_free(sse.stream);
    assert_int_equal(request(&r, "POST", path, "{\"text\":\"late\"}"), 0);
    assert_int_equal(r.status, 404);
    free(r.reply);
}

static void test_history_then_live(void **state)
{
    oa_http_req sse, sse2;
    char path[128];
    const char *last_id;
    char idbuf[32];
    (void)state;

    post_text("one");
    receive_from(other_seed, 5, "two from another engine");
    post_text("three");

    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&sse, "GET", path, NULL), 0);
    assert_int_equal(count(sse.stream->buf, "event: chat\n"), 3);
    assert_true(strstr(sse.stream->buf, "one") < strstr(sse.stream->buf, "two from"));
    assert_true(strstr(sse.stream->buf, "two from") < strstr(sse.stream->buf, "three"));

    /* A reconnecting EventSource with Last-Event-ID of the second gets the third only. */
    last_id = strstr(sse.stream->buf, "id: ");
    last_id = strstr(last_id + 1, "id: "); /* the second frame's id */
    snprintf(idbuf, sizeof(idbuf), "%.*s", (int)strcspn(last_id + 4, "\n"), last_id + 4);
    memset(&sse2, 0, sizeof(sse2));
    sse2.method = "GET";
    sse2.path = path;
    sse2.last_event_id = idbuf;
    assert_int_equal(F.handler(F.handler_arg, &sse2), 0);
    assert_int_equal(count(sse2.stream->buf, "event: chat\n"), 1);
    assert_non_null(strstr(sse2.stream->buf, "three"));

    /* chat_history has the three, in order. */
    {
        char args[128], *out = NULL;
        json_t *v, *arr;
        snprintf(args, sizeof(args), "{\"content_id\":\"%s\"}", sid_hex);
        assert_int_equal(lv_chat_command(F.chat, "chat_history", args, &out), 0);
        v = json_loads(out, 0, NULL);
        arr = json_object_get(v, "messages");
        assert_int_equal(json_array_size(arr), 3);
        assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 1), "text")),
                            "two from another engine");
        assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 1), "seq")), 5);
        json_decref(v);
        free(out);
    }

    /* Free with open clients: their responses end. */
    lv_chat_free(F.chat);
    F.chat = NULL;
    assert_true(sse.stream->ended);
    assert_true(sse2.stream->ended);
    stream_free(sse.stream);
    stream_free(sse2.stream);
}

static void test_errors(void **state)
{
    oa_http_req r;
    char path[128], big[700];
    uint8_t other_id[20];
    char other_hex[41];
    (void)state;

    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&r, "POST", path, "{\"text\":\"\"}"), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.reply, "empty"));
    free(r.reply);
    assert_int_equal(request(&r, "POST", path, "{\"text\":\"   \"}"), 0);
    assert_int_equal(r.status, 400);
    free(r.reply);

    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"text\":\"", 9);
    memcpy(big + sizeof(big) - 3, "\"}", 3);
    assert_int_equal(request(&r, "POST", path, big), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.reply, "at most 500 bytes"));
    free(r.reply);

    assert_int_equal(request(&r, "POST", path, "not json"), 0);
    assert_int_equal(r.status, 400);
    free(r.reply);
    assert_int_equal(request(&r, "POST", path, "{\"txt\":1}"), 0);
    assert_int_equal(r.status, 400);
    free(r.reply);
    assert_int_equal(F.sends, 0);

    /* Over the swarm's rate limit. */
    F.send_rc = OA_EAGAIN;
    assert_int_equal(request(&r, "POST", path, "{\"text\":\"spam\"}"), 0);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.retry_after, "3");
    free(r.reply);
    F.send_rc = 0;

    /* A stream not open here, a bad ID, a bad path, a wrong method. */
    memset(other_id, 7, sizeof(other_id));
    oa_lc_hex40(other_id, other_hex);
    snprintf(path, sizeof(path), "/api/live/%s/chat", other_hex);
    assert_int_equal(request(&r, "GET", path, NULL), 0);
    assert_int_equal(r.status, 404);
    free(r.reply);
    assert_int_equal(request(&r, "POST", "/api/live/xyz/chat", "{\"text\":\"a\"}"), 0);
    assert_int_equal(r.status, 404);
    free(r.reply);
    chat_path(path, sizeof(path), "other");
    assert_int_equal(request(&r, "GET", path, NULL), 0);
    assert_int_equal(r.status, 404);
    free(r.reply);
    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&r, "DELETE", path, NULL), 0);
    assert_int_equal(r.status, 405);
    free(r.reply);
    assert_int_equal(request(&r, "GET", "/api/live", NULL), 0);
    assert_int_equal(r.status, 404);
    free(r.reply);

    /* Malformed, foreign and forged bytes from the swarm are ignored. */
    lv_chat_received(F.chat, sid, (const uint8_t *)"d3:foo3:bare", 12);
    lv_chat_received(F.chat, other_id, (const uint8_t *)"x", 1);
    assert_int_equal(F.nevents, 0);
}

static void test_mute(void **state)
{
    oa_http_req r, sse;
    char path[128], body[256], from_hex[65], *out = NULL;
    oa_lc_chat m;
    char err[128];
    json_t *v;
    (void)state;

    for (int i = 0; i < 32; i++) {
        snprintf(from_hex + 2 * i, 3, "%02x", other_pub[i]);
    }
    snprintf(body, sizeof(body), "{\"from\":\"%s\",\"minutes\":5}", from_hex);
    chat_path(path, sizeof(path), "mute");

    /* Not the broadcaster: 409. */
    assert_int_equal(request(&r, "POST", path, body), 0);
    assert_int_equal(r.status, 409);
    free(r.reply);

    F.is_broadcaster = 1;
    assert_int_equal(request(&r, "POST", path, "{\"from\":\"abc\"}"), 0);
    assert_int_equal(r.status, 400);
    free(r.reply);
    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&sse, "GET", path, NULL), 0);
    chat_path(path, sizeof(path), "mute");
    assert_int_equal(request(&r, "POST", path, body), 0);
    assert_int_equal(r.status, 200);
    v = reply_json(&r);
    assert_true(json_is_true(json_object_get(v, "muted")));
    assert_true(json_integer_value(json_object_get(v, "until")) > 1600000000);
    json_decref(v);
    free(r.reply);

    /* What went to the swarm: a kind 1 signed by the broadcaster key. */
    assert_int_equal(oa_lc_chat_decode(F.last_msg, F.last_len, &m, err, sizeof(err)), 0);
    assert_int_equal(m.kind, 1);
    assert_memory_equal(m.from, bc_pub, 32);
    assert_memory_equal(m.target, other_pub, 32);

    /* SSE shows it as a mute event, not as chat, and Lua gets live.chat.mute. */
    assert_int_equal(count(sse.stream->buf, "event: mute\n"), 1);
    assert_int_equal(count(sse.stream->buf, "event: chat\n"), 0);
    assert_non_null(strstr(sse.stream->buf, "\"event\":\"mute\""));
    assert_non_null(strstr(sse.stream->buf, from_hex));
    assert_int_equal(F.nevents, 1);
    assert_true(strncmp(F.events[0], "live.chat.mute ", 15) == 0);

    /* The muted sender's later messages do not show. */
    receive_from(other_seed, 9, "still talking");
    assert_int_equal(count(sse.stream->buf, "event: chat\n"), 0);
    assert_null(strstr(sse.stream->buf, "still talking"));

    /* A mute signed by someone else is ignored. */
    memset(&m, 0, sizeof(m));
    m.kind = 1;
    m.seq = 3;
    memcpy(m.stream, sid, 20);
    m.ts_ms = 1700000000000;
    memcpy(m.target, bc_pub, 32);
    m.until = 4000000000;
    {
        uint8_t *enc = NULL;
        size_t len = 0;
        assert_int_equal(oa_lc_chat_sign(other_seed, &m, &enc, &len, err, sizeof(err)), 0);
        lv_chat_received(F.chat, sid, enc, len);
        free(enc);
    }
    assert_int_equal(count(sse.stream->buf, "event: mute\n"), 1);

    /* When this engine's own key is muted, sending is refused with 403. */
    memset(&m, 0, sizeof(m));
    m.kind = 1;
    m.seq = 4;
    memcpy(m.stream, sid, 20);
    m.ts_ms = 1700000000000;
    memcpy(m.target, node_pub, 32);
    m.until = 4000000000;
    {
        uint8_t *enc = NULL;
        size_t len = 0;
        int sends = F.sends;
        assert_int_equal(oa_lc_chat_sign(bc_seed, &m, &enc, &len, err, sizeof(err)), 0);
        lv_chat_received(F.chat, sid, enc, len);
        free(enc);
        assert_int_equal(count(sse.stream->buf, "event: mute\n"), 2);
        chat_path(path, sizeof(path), "chat");
        assert_int_equal(request(&r, "POST", path, "{\"text\":\"am I muted?\"}"), 0);
        assert_int_equal(r.status, 403);
        assert_non_null(strstr(r.reply, "muted"));
        free(r.reply);
        assert_int_equal(F.sends, sends);
    }

    /* The chat_mute command does the same. */
    {
        char args[256];
        snprintf(args, sizeof(args), "{\"content_id\":\"%s\",\"from\":\"%s\"}", sid_hex, from_hex);
        assert_int_equal(lv_chat_command(F.chat, "chat_mute", args, &out), 0);
        assert_non_null(strstr(out, "\"muted\":true"));
        free(out);
    }
    lv_chat_stream_close(F.chat, sid);
    stream_free(sse.stream);
}

static void test_limits_and_backpressure(void **state)
{
    oa_http_req sse;
    char path[128], text[480];
    size_t n_chat;
    (void)state;

    /* 2100 messages: the history keeps at most 2000, and at most 1 MiB. */
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (int i = 0; i < 2100; i++) {
        receive_from(other_seed, (uint64_t)i + 1, i % 2 ? "short" : text);
    }
    {
        char args[128], *out = NULL;
        json_t *v;
        size_t n;
        snprintf(args, sizeof(args), "{\"content_id\":\"%s\"}", sid_hex);
        assert_int_equal(lv_chat_command(F.chat, "chat_history", args, &out), 0);
        v = json_loads(out, 0, NULL);
        n = json_array_size(json_object_get(v, "messages"));
        assert_true(n > 100 && n <= 2000);
        /* The newest one is kept. */
        assert_int_equal(json_integer_value(json_object_get(
                             json_array_get(json_object_get(v, "messages"), n - 1), "seq")),
                         2100);
        json_decref(v);
        free(out);
    }

    /* A new SSE client gets what fits in its queue, then the rest as it reads. */
    chat_path(path, sizeof(path), "chat");
    assert_int_equal(request(&sse, "GET", path, NULL), 0);
    assert_true(sse.stream->queued <= sse.stream->limit);
    n_chat = count(sse.stream->buf, "event: chat\n");
    assert_true(n_chat > 0);
    for (int i = 0; i < 100; i++) {
        drain(sse.stream);
        if (sse.stream->queued == 0) {
            break; /* it wrote nothing more: caught up */
        }
    }
    assert_true(count(sse.stream->buf, "event: chat\n") > n_chat);
    assert_non_null(strstr(sse.stream->buf, "\"seq\":2100,"));

    /* A client that stops reading is dropped after a minute of a full queue. */
    for (int i = 0; i < 600; i++) {
        receive_from(other_seed, 3000 + (uint64_t)i, text);
    }
    assert_false(sse.stream->ended);
    F.now += 30000;
    F.timer.cb(F.timer.arg, &F.timer);
    assert_false(sse.stream->ended);
    F.now += 31000;
    F.timer.cb(F.timer.arg, &F.timer);
    assert_true(sse.stream->ended);
    stream_free(sse.stream);

    /* An hour later the history is empty. */
    F.now += 3600u * 1000u + 1;
    F.timer.cb(F.timer.arg, &F.timer);
    {
        char args[128], *out = NULL;
        snprintf(args, sizeof(args), "{\"content_id\":\"%s\"}", sid_hex);
        assert_int_equal(lv_chat_command(F.chat, "chat_history", args, &out), 0);
        assert_string_equal(out, "{\"messages\":[]}");
        free(out);
    }
}

static void test_commands(void **state)
{
    char args[256], *out = NULL;
    (void)state;

    snprintf(args, sizeof(args), "{\"content_id\":\"%s\",\"text\":\"from lua :smile:\"}", sid_hex);
    assert_int_equal(lv_chat_command(F.chat, "chat", args, &out), 0);
    assert_non_null(strstr(out, "\"sent\":true"));
    free(out);
    assert_int_equal(F.nevents, 1);
    assert_non_null(strstr(F.events[0], "\"emotes\":[\"smile\"]"));

    snprintf(args, sizeof(args), "{\"content_id\":\"%s\",\"text\":\"\"}", sid_hex);
    assert_int_equal(lv_chat_command(F.chat, "chat", args, &out), OA_EINVAL);
    assert_non_null(out);
    assert_non_null(strstr(out, "empty"));
    free(out);

    assert_int_equal(lv_chat_command(F.chat, "chat", "{\"content_id\":\"zz\",\"text\":\"a\"}", &out),
                     OA_EINVAL);
    free(out);
    assert_int_equal(lv_chat_command(F.chat, "chat_history",
                                     "{\"content_id\":\"0000000000000000000000000000000000000000\"}",
                                     &out),
                     OA_ENOENT);
    free(out);
    assert_int_equal(lv_chat_command(F.chat, "nope", "{}", &out), OA_ENOTFOUND);
    assert_null(out);

    /* Open twice, close once: still open. */
    lv_chat_stream_open(F.chat, sid, bc_pub);
    lv_chat_stream_close(F.chat, sid);
    snprintf(args, sizeof(args), "{\"content_id\":\"%s\"}", sid_hex);
    assert_int_equal(lv_chat_command(F.chat, "chat_history", args, &out), 0);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_and_sse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_then_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits_and_backpressure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
