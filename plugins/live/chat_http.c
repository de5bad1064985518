/*
 * live: the chat's HTTP side (chat.h gives the routes): the prefix route on
 * /api/live/, the POST handlers, the SSE streams with their keep-alive and
 * back-pressure. chat.c keeps the history these streams read.
 *
 * An SSE client is a cursor into its stream's history ring: pump() writes
 * frames from its cursor until the host's queue for it is full, and
 * continues when the host reports the queue DRAINED. A client stuck on a
 * full queue for a minute is dropped.
 *
 * Clients live in one list per process, looked up by their stream pointer
 * when the host reports an event, like the host's own /api/events: a CLOSED
 * that comes after a stream's chat was closed finds nothing and is ignored.
 */
#include "chat_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SSE_QUEUE_LIMIT (256u * 1024u)   /* host queue per SSE client */
#define SSE_STUCK_MS 60000u              /* a full queue this long drops the client */
#define SSE_MAX_CLIENTS 256u             /* SSE clients per engine */

typedef struct chat_client {
    struct chat_client *next;   /* in g_clients */
    lv_chat *chat;
    chat_stream *st;
    oa_http_stream *stream;
    uint64_t cursor;            /* id of the next frame to send */
    uint64_t blocked_since;     /* monotonic ms of the first refused write, 0 when flowing */
    int pumping;
} chat_client;

/* Every SSE client of every chat in the process (loop thread only). */
static chat_client *g_clients;

/* ---- SSE clients ------------------------------------------------------------ */

static void client_release(chat_client *cl)
{
    chat_client **pp = &g_clients;
    while (*pp != NULL && *pp != cl) {
        pp = &(*pp)->next;
    }
    if (*pp == cl) {
        *pp = cl->next;
    }
    cl->chat->nclients--;
    free(cl);
}

/* Ends the client's response and forgets it (its CLOSED finds nothing). */
static void client_drop(chat_client *cl)
{
    cl->chat->host.api->http_stream_end(cl->stream);
    client_release(cl);
}

/* Writes frames from the client's cursor while the host takes them.
 * Returns -1 when the client was dropped (a write error), else 0. */
static int pump(chat_client *cl)
{
    const oa_host_api *api = cl->chat->host.api;
    chat_stream *st = cl->st;

    if (cl->pumping) {
        return 0;
    }
    cl->pumping = 1;
    if (cl->cursor < st->first_id) {
        cl->cursor = st->first_id; /* it fell behind the history: skip what is gone */
    }
    while (cl->cursor < st->next_id) {
        hist_entry *e = chat_hist_at(st, cl->cursor);
        int rc;
        if (e == NULL) {
            cl->cursor++;
            continue;
        }
        rc = api->http_stream_write(cl->stream, e->frame, e->frame_len);
        if (rc == OA_EOVERFLOW) {
            if (cl->blocked_since == 0) {
                cl->blocked_since = chat_mono_ms(cl->chat);
            }
            cl->pumping = 0;
            return 0;
        }
        if (rc != 0) {
            client_drop(cl);
            return -1;
        }
        cl->cursor++;
    }
    cl->blocked_since = 0;
    cl->pumping = 0;
    return 0;
}

static chat_client *client_by_stream(oa_http_stream *s)
{
    for (chat_client *cl = g_clients; cl != NULL; cl = cl->next) {
        if (cl->stream == s) {
            return cl;
        }
    }
    return NULL;
}

static void on_sse_event(void *arg, oa_http_stream *s, int event)
{
    chat_client *cl = client_by_stream(s);
    (void)arg;
    if (cl == NULL) {
        return;
    }
    if (event == OA_HTTP_STREAM_CLOSED) {
        client_release(cl);
    } else if (event == OA_HTTP_STREAM_DRAINED) {
        pump(cl);
    }
}

/* Sends the new entries of st to every client of st. */
void chat_pump_stream(lv_chat *c, chat_stream *st)
{
    chat_client *cl = g_clients;
    while (cl != NULL) {
        chat_client *next = cl->next;
        if (cl->chat == c && cl->st == st) {
            pump(cl);
        }
        cl = next;
    }
}

/* Ends every SSE client of c (of st only when st is not NULL). */
void chat_drop_clients(lv_chat *c, chat_stream *st)
{
    chat_client *cl = g_clients;
    while (cl != NULL) {
        chat_client *next = cl->next;
        if (cl->chat == c && (st == NULL || cl->st == st)) {
            client_drop(cl);
        }
        cl = next;
    }
}

/* The SSE part of chat.c's 15 s tick: the keep-alive comment, stuck
 * clients dropped. */
void chat_http_tick(lv_chat *c, uint64_t now)
{
    static const char ka[] = ": keepalive\n\n";
    chat_client *cl = g_clients;

    while (cl != NULL) {
        chat_client *next = cl->next;
        if (cl->chat == c) {
            if (cl->blocked_since != 0 && now - cl->blocked_since > SSE_STUCK_MS) {
                c->host.api->log(c->host.self, OA_LOG_INFO,
                                 "chat of %s: dropping an SSE client that read nothing for %u s",
                                 cl->st->hex, SSE_STUCK_MS / 1000);
                client_drop(cl);
            } else {
                c->host.api->http_stream_write(cl->stream, ka, sizeof(ka) - 1);
            }
        }
        cl = next;
    }
}

/* ---- HTTP ----------------------------------------------------------------------- */

static int reply_json(lv_chat *c, oa_http_req *req, int status, json_t *o)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    int rc;
    json_decref(o);
    if (s == NULL) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
        return c->host.api->http_reply(req, 500, "application/json", oom, sizeof(oom) - 1);
    }
    rc = c->host.api->http_reply(req, status, "application/json", s, strlen(s));
    free(s);
    return rc;
}

static const char *error_code(int status)
{
    switch (status) {
    case 400: return "bad_request";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 429: return "throttled";
    case 503: return "unavailable";
    default: return "internal";
    }
}

/* Replies {"error": {"code", "message"}} like the host's admin API. */
static int reply_error(lv_chat *c, oa_http_req *req, int status, const char *msg)
{
    return reply_json(c, req, status,
                      json_pack("{s:{s:s, s:s}}", "error", "code", error_code(status), "message",
                                msg));
}

static int status_for(int rc)
{
    switch (rc) {
    case OA_EINVAL:
    case OA_ERANGE:
    case OA_ETYPE: return 400;
    case OA_EACCES: return 403;
    case OA_ENOENT: return 404;
    case OA_ESTATE: return 409;
    case OA_EAGAIN: return 429;
    default: return 500;
    }
}

/* The request body as a JSON object, or NULL after a 400 reply. */
static json_t *body_object(lv_chat *c, oa_http_req *req)
{
    size_t len = 0;
    const char *body = c->host.api->http_body(req, &len);
    json_error_t jerr;
    json_t *v;
    char msg[256];

    if (body == NULL || len == 0) {
        reply_error(c, req, 400, "the request body is empty; send a JSON object");
        return NULL;
    }
    v = json_loadb(body, len, 0, &jerr);
    if (v == NULL || !json_is_object(v)) {
        snprintf(msg, sizeof(msg), "the request body must be a JSON object%s%s",
                 v == NULL ? ": " : "", v == NULL ? jerr.text : "");
        json_decref(v);
        reply_error(c, req, 400, msg);
        return NULL;
    }
    return v;
}

static int http_sse(lv_chat *c, chat_stream *st, oa_http_req *req)
{
    const oa_host_api *api = c->host.api;
    const char *last = api->http_header(req, "Last-Event-ID");
    static const char hello[] = "retry: 3000\n\n";
    chat_client *cl;
    int rc;

    if (c->nclients >= SSE_MAX_CLIENTS) {
        return reply_error(c, req, 503, "too many chat clients on this engine; try again later");
    }
    cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        return reply_error(c, req, 500, "out of memory");
    }
    cl->chat = c;
    cl->st = st;
    cl->cursor = st->first_id;
    if (last != NULL && last[0] != '\0') {
        char *end = NULL;
        unsigned long long v = strtoull(last, &end, 10);
        if (end != NULL && *end == '\0' && v + 1 > cl->cursor && v < st->next_id) {
            cl->cursor = v + 1; /* a reconnecting EventSource: only what it missed */
        }
    }
    api->http_set_header(req, "Cache-Control", "no-cache");
    api->http_set_header(req, "X-Accel-Buffering", "no");
    rc = api->http_stream_open(req, 200, "text/event-stream", -1, SSE_QUEUE_LIMIT, on_sse_event,
                               NULL, &cl->stream);
    if (rc != 0) {
        free(cl);
        return rc;
    }
    cl->next = g_clients;
    g_clients = cl;
    c->nclients++;
    api->http_stream_write(cl->stream, hello, sizeof(hello) - 1);
    pump(cl);
    return 0;
}

static int http_send(lv_chat *c, chat_stream *st, oa_http_req *req)
{
    json_t *body = body_object(c, req);
    json_t *text;
    char err[256];
    uint64_t seq = 0;
    int rc;

    if (body == NULL) {
        return 0;
    }
    text = json_object_get(body, "text");
    if (!json_is_string(text)) {
        json_decref(body);
        return reply_error(c, req, 400, "send {\"text\": \"...\"}: the message's text is missing");
    }
    if (strlen(json_string_value(text)) != json_string_length(text)) {
        json_decref(body);
        return reply_error(c, req, 400, "the text must not contain a NUL character");
    }
    rc = chat_send_text(c, st->id, json_string_value(text), &seq, err, sizeof(err));
    json_decref(body);
    if (rc != 0) {
        if (rc == OA_EAGAIN) {
            c->host.api->http_set_header(req, "Retry-After", "3");
        }
        return reply_error(c, req, status_for(rc), err);
    }
    return reply_json(c, req, 200, json_pack("{s:b, s:I}", "sent", 1, "seq", (json_int_t)seq));
}

static int http_mute(lv_chat *c, chat_stream *st, oa_http_req *req)
{
    json_t *body = body_object(c, req);
    json_t *from, *minutes;
    json_int_t min = MUTE_DEFAULT_MINUTES;
    char err[256];
    int64_t until = 0;
    int rc;

    if (body == NULL) {
        return 0;
    }
    from = json_object_get(body, "from");
    minutes = json_object_get(body, "minutes");
    if (!json_is_string(from)) {
        json_decref(body);
        return reply_error(c, req, 400,
                           "send {\"from\": \"<64 hex digits>\", \"minutes\": n}: \"from\" is "
                           "missing");
    }
    if (minutes != NULL && !json_is_integer(minutes)) {
        json_decref(body);
        return reply_error(c, req, 400, "\"minutes\" must be a whole number");
    }
    if (minutes != NULL) {
        min = json_integer_value(minutes);
    }
    rc = chat_send_mute(c, st->id, json_string_value(from), min, &until, err, sizeof(err));
    if (rc != 0) {
        json_decref(body);
        return reply_error(c, req, status_for(rc), err);
    }
    rc = reply_json(c, req, 200,
                    json_pack("{s:b, s:O, s:I}", "muted", 1, "from", from, "until",
                              (json_int_t)until));
    json_decref(body);
    return rc;
}

/* /api/live/<content_id>/chat (GET, POST) and /api/live/<content_id>/mute (POST). */
int chat_on_http(void *arg, oa_http_req *req)
{
    lv_chat *c = arg;
    const oa_host_api *api = c->host.api;
    const char *method = api->http_method(req);
    const char *path = api->http_path(req);
    const char *rest, *slash;
    uint8_t id[OA_LC_ID_LEN];
    chat_stream *st;
    char msg[160];

    if (strncmp(path, API_PREFIX "/", sizeof(API_PREFIX)) != 0) {
        return reply_error(c, req, 404, "no such live API path: use /api/live/<content_id>/chat");
    }
    rest = path + sizeof(API_PREFIX);
    slash = strchr(rest, '/');
    if (slash == NULL || chat_hex_decode(rest, (size_t)(slash - rest), id, OA_LC_ID_LEN) != 0) {
        return reply_error(c, req, 404,
                           "no such live API path: use /api/live/<content_id>/chat with a "
                           "40-hex-digit content ID");
    }
    st = chat_find_stream(c, id);
    if (strcmp(slash + 1, "chat") == 0) {
        int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (!get && strcmp(method, "POST") != 0) {
            api->http_set_header(req, "Allow", "GET, POST");
            return reply_error(c, req, 405, "use GET to read the chat and POST to send");
        }
        if (st == NULL) {
            snprintf(msg, sizeof(msg),
                     "the live stream %.40s is not open on this engine; start or watch it first",
                     rest);
            return reply_error(c, req, 404, msg);
        }
        return get ? http_sse(c, st, req) : http_send(c, st, req);
    }
    if (strcmp(slash + 1, "mute") == 0) {
        if (strcmp(method, "POST") != 0) {
            api->http_set_header(req, "Allow", "POST");
            return reply_error(c, req, 405, "use POST to mute a sender");
        }
        if (st == NULL) {
            snprintf(msg, sizeof(msg),
                     "the live stream %.40s is not open on this engine; start or watch it first",
                     rest);
            return reply_error(c, req, 404, msg);
        }
        return http_mute(c, st, req);
    }
    return reply_error(c, req, 404, "no such live API path: use /api/live/<content_id>/chat");
}
