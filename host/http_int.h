/* Internals shared by the dispatcher (router.c) and the server (http.c). */
#ifndef OA_HOST_HTTP_INT_H
#define OA_HOST_HTTP_INT_H

#include "http.h"

typedef struct oa_route {
    char method[16];
    char *path;
    size_t plen;
    unsigned flags;
    oa_http_handler fn;
    void *arg;
    const void *owner;
} oa_route;

typedef struct oa_chunk {
    struct oa_chunk *next;
    size_t len;
    size_t off;
    char data[];
} oa_chunk;

struct oa_http_stream {
    oa_http *http;
    const void *owner;
    oa_http_stream_cb cb;   /* NULL once the owner stopped: no more calls */
    void *arg;
    oa_chunk *head;
    oa_chunk *tail;
    size_t queued;
    size_t limit;
    int64_t length;
    int blocked;            /* a write was refused: report DRAINED later */
    int drain_pending;
    int ended;              /* no more writes; finish when the queue is empty */
    int closed;             /* the connection is gone */
    int close_pending;      /* CLOSED still to be reported, then freed */
    int waiting;            /* the server's reader found no data and waits */
    void *conn;             /* the server's connection (MHD_Connection) */
    struct oa_http_stream *next;
};

typedef struct oa_http_server oa_http_server;

struct oa_http {
    uv_loop_t *loop;
    oa_route *routes;
    size_t nroutes;
    size_t caproutes;
    oa_http_auth_fn auth_fn;
    void *auth_arg;
    size_t body_limit;
    oa_http_stats stats;
    oa_http_stream *streams;
    oa_http_req **kept;      /* requests a handler will answer later */
    size_t nkept;
    size_t capkept;
    uv_timer_t notify;       /* reports stream events outside MHD_run */
    int notify_scheduled;
    int handles_open;
    int closing;
    oa_http_server *server;  /* NULL without a listener */
};

/* http.c: the listener. */
int oa_http_server_start(oa_http *h, const char *listen, char *err, size_t errlen);
/* Resumes every waiting connection and stops the daemon; handles close
 * asynchronously and call oa_http_handle_closed() each. */
void oa_http_server_stop(oa_http *h);
/* The port actually bound (useful with port 0). */
int oa_http_server_port(oa_http *h);

/* router.c: a kept request's connection went away before it was replied. */
void oa_http_req_abandon(oa_http *h, oa_http_req *req);
/* router.c: one of the uv handles owned by h (or its server) finished
 * closing; h is freed after the last. */
void oa_http_handle_closed(oa_http *h);

#endif
