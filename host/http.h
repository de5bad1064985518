/* HTTP: the host's one listener. Two halves:
 *  - the dispatcher (router.c): a route table, authentication hook, JSON
 *    replies and streams, all on a plain oa_http_req so that tests drive it
 *    without sockets;
 *  - the server (http.c): libmicrohttpd driven from the libuv loop (its
 *    epoll fd in a uv_poll_t, MHD_run on readiness, its timeout in a
 *    uv_timer_t), turning connections into oa_http_req and back.
 * Everything runs on the loop thread. */
#ifndef OA_HOST_HTTP_H
#define OA_HOST_HTTP_H

#include <jansson.h>
#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct oa_http oa_http;

typedef struct oa_kv {
    char *name;
    char *value;
} oa_kv;

/* Who a request was authenticated as. */
typedef enum oa_auth_kind {
    OA_AUTH_NONE = 0,
    OA_AUTH_SESSION = 1, /* cookie session (CSRF token required to mutate) */
    OA_AUTH_TOKEN = 2    /* Authorization: Bearer <API token> */
} oa_auth_kind;

/* One request and, once replied, its response. Filled by the server (or by
 * a test), consumed by the dispatcher. */
struct oa_http_req {
    oa_http *http;
    char method[16];
    char *path;            /* decoded, without the query */
    oa_kv *query;          /* decoded query arguments */
    size_t nquery;
    oa_kv *headers;        /* request headers, names as received */
    size_t nheaders;
    char *body;            /* NUL-terminated; NULL when empty */
    size_t body_len;
    int body_too_large;    /* the body passed the cap and was dropped */
    char client[64];       /* "ip:port" */

    oa_auth_kind auth;
    char user[65];         /* authenticated user, "" if none */
    char session[80];      /* session id when auth is OA_AUTH_SESSION */

    /* Response. */
    int replied;           /* reply or stream set up */
    int status;
    char content_type[96];
    char *resp_body;
    size_t resp_len;
    oa_kv *resp_headers;
    size_t nresp_headers;
    oa_http_stream *stream; /* when the reply is a stream */
    int kept;              /* handler returned without replying: async */

    void *server_ctx;      /* the server's connection state; NULL in tests */
    const void *route_owner;
};

/* ---- dispatcher (router.c) ---------------------------------------------- */

/* Checks a request for a non-public route. Returns 0 and fills req->auth,
 * req->user (and req->session) when it carries a valid session or token
 * (and, for a mutating method with a session, the right CSRF token);
 * otherwise returns OA_EACCES and writes the reason for the 401/403 into
 * why, and *status (401 not logged in, 403 bad CSRF). */
typedef int (*oa_http_auth_fn)(void *arg, oa_http_req *req, int *status, char *why,
                               size_t whylen);

/* Creates the dispatcher (and, when listen is not NULL, the server on
 * "addr:port"). On failure err says why (e.g. the port is in use). */
int oa_http_new(uv_loop_t *loop, const char *listen, oa_http **out, char *err, size_t errlen);
/* Closes the listener, ends every stream, resumes and finishes every kept
 * request with 503; frees in close callbacks (run the loop afterwards). */
void oa_http_close(oa_http *h);

void oa_http_set_auth(oa_http *h, oa_http_auth_fn fn, void *arg);
/* Largest accepted request body (default 1 MiB). */
void oa_http_set_body_limit(oa_http *h, size_t bytes);
size_t oa_http_body_limit(oa_http *h);

/* Adds a route. owner is NULL for the host, or the plugin. method is "GET",
 * "POST", ..., or "*". flags are OA_HTTP_PUBLIC, OA_HTTP_PREFIX. */
int oa_http_route(oa_http *h, const void *owner, const char *method, const char *path,
                  unsigned flags, oa_http_handler fn, void *arg);
/* Removes the owner's routes, ends its streams and answers its kept
 * requests with 503. */
void oa_http_unroute_owner(oa_http *h, const void *owner);

/* Routes one complete request: 404/405 when nothing matches, 401/403 from
 * the auth hook, 413 when the body was too large, otherwise the handler.
 * Afterwards req is replied, streaming, or kept (async). */
void oa_http_dispatch(oa_http *h, oa_http_req *req);

/* ---- replies (router.c); each marks req replied ------------------------ */

const char *oa_http_query(oa_http_req *req, const char *name);
const char *oa_http_header(oa_http_req *req, const char *name);
int oa_http_set_header(oa_http_req *req, const char *name, const char *value);
int oa_http_reply(oa_http_req *req, int status, const char *content_type, const void *body,
                  size_t len);
/* Replies with the JSON value (takes the reference; NULL gives 500). */
int oa_http_reply_json(oa_http_req *req, int status, json_t *value);
/* Replies {"error": {"code": code, "message": message}}. */
int oa_http_reply_error(oa_http_req *req, int status, const char *code, const char *fmt, ...)
    OA_PRINTF(4, 5);
/* The HTTP status that fits an OA_E* code. */
int oa_http_status_for(int err);
/* Parses the body as a JSON object or array; on failure replies 400 with
 * the parser's reason and returns NULL. */
json_t *oa_http_body_json(oa_http_req *req);

/* Streams (router.c keeps the queue; the server drains it). */
int oa_http_stream_open(oa_http_req *req, int status, const char *content_type, int64_t length,
                        size_t queue_limit, oa_http_stream_cb cb, void *arg,
                        oa_http_stream **out);
int oa_http_stream_write(oa_http_stream *s, const void *data, size_t len);
size_t oa_http_stream_queued(oa_http_stream *s);
int oa_http_stream_end(oa_http_stream *s);

/* ---- server hooks (http.c <-> router.c) -------------------------------- */

/* Copies up to max queued bytes; returns the count, 0 when empty (the
 * caller waits), -1 when ended and empty. */
ssize_t oa_http_stream_take(oa_http_stream *s, char *buf, size_t max);
/* The connection ended (or the stream finished): report CLOSED, free. */
void oa_http_stream_closed(oa_http_stream *s);
/* A kept request was replied: the server resumes its connection. */
void oa_http_server_resume(oa_http *h, oa_http_req *req);
/* New stream data: the server resumes the waiting connection. */
void oa_http_server_stream_ready(oa_http *h, oa_http_stream *s);

/* Frees a request and its response (not its stream). */
void oa_http_req_free(oa_http_req *req);

/* Counters for /metrics. */
typedef struct oa_http_stats {
    uint64_t requests;
    uint64_t responses_4xx;
    uint64_t responses_5xx;
    uint64_t streams_open;
    uint64_t stream_bytes;
    uint64_t connections;
} oa_http_stats;
void oa_http_get_stats(oa_http *h, oa_http_stats *st);

#endif
