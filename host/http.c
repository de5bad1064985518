/* The HTTP listener: libmicrohttpd in external-epoll mode, driven from the
 * libuv loop. Its epoll fd sits in a uv_poll_t (MHD_run on readiness), its
 * timeout in a uv_timer_t. Connections become oa_http_req for the
 * dispatcher; kept requests and streams wait suspended, never blocking a
 * thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_int.h"
#include "log.h"

#define CONNECTION_LIMIT 1024
#define CONNECTION_TIMEOUT_S 120
#define STREAM_BLOCK (64u * 1024u)

struct oa_http_server {
    oa_http *h;
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    int port;
    int handles; /* open uv handles; freed after the last closes */
};

/* Per connection: the request being built and whether it waits. */
typedef struct conn_ctx {
    oa_http_req *req;
    struct MHD_Connection *conn;
    int dispatched;
    int queued;
    int suspended;
} conn_ctx;

static void run_daemon(oa_http_server *srv);

static void on_timer(uv_timer_t *t)
{
    run_daemon(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_daemon(p->data);
}

/* Lets MHD work, then arms the timer with MHD's next timeout. */
static void run_daemon(oa_http_server *srv)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (srv->daemon == NULL) {
        return;
    }
    MHD_run(srv->daemon);
    if (MHD_get_timeout(srv->daemon, &ms) == MHD_YES) {
        uv_timer_start(&srv->timer, on_timer, (uint64_t)ms, 0);
    } else {
        uv_timer_stop(&srv->timer);
    }
}

/* Runs MHD soon (after a resume), outside whatever callback we are in. */
static void kick(oa_http_server *srv)
{
    uv_timer_start(&srv->timer, on_timer, 0, 0);
}

/* ---- request assembly ------------------------------------------------------ */

static int add_kv(oa_kv **v, size_t *n, const char *name, const char *value)
{
    oa_kv *nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (nv == NULL) {
        return OA_ENOMEM;
    }
    *v = nv;
    nv[*n].name = strdup(name ? name : "");
    nv[*n].value = strdup(value ? value : "");
    (*n)++;
    return 0;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    oa_http_req *req = cls;
    (void)kind;
    if (req->nquery < 256) {
        add_kv(&req->query, &req->nquery, key, value);
    }
    return MHD_YES;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    oa_http_req *req = cls;
    (void)kind;
    if (req->nheaders < 256) {
        add_kv(&req->headers, &req->nheaders, key, value);
    }
    return MHD_YES;
}

static void client_address(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ci != NULL && ci->client_addr != NULL) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
            port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            port = ntohs(in6->sin6_port);
        }
    }
    if (strchr(ip, ':') != NULL) {
        snprintf(out, len, "[%s]:%d", ip, port);
    } else {
        snprintf(out, len, "%s:%d", ip, port);
    }
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    oa_http_stream *s = cls;
    ssize_t n;
    (void)pos;
    n = oa_http_stream_take(s, buf, max);
    if (n < 0) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n == 0) {
        /* Nothing yet: park the connection until a write or end. */
        s->waiting = 1;
        MHD_suspend_connection(s->conn);
    }
    return n;
}

static void stream_done(void *cls)
{
    oa_http_stream_closed(cls);
}

static enum MHD_Result queue_reply(conn_ctx *cc)
{
    oa_http_req *req = cc->req;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (req->stream != NULL) {
        oa_http_stream *s = req->stream;
        s->conn = cc->conn;
        resp = MHD_create_response_from_callback(
            s->length < 0 ? MHD_SIZE_UNKNOWN : (uint64_t)s->length, STREAM_BLOCK, stream_reader,
            s, stream_done);
    } else {
        resp = MHD_create_response_from_buffer(req->resp_len, req->resp_body,
                                               MHD_RESPMEM_MUST_COPY);
    }
    if (resp == NULL) {
        if (req->stream != NULL) {
            req->stream->conn = NULL;
            oa_http_stream_closed(req->stream);
        }
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, req->content_type);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    for (size_t i = 0; i < req->nresp_headers; i++) {
        MHD_add_response_header(resp, req->resp_headers[i].name, req->resp_headers[i].value);
    }
    ret = MHD_queue_response(cc->conn, (unsigned)req->status, resp);
    MHD_destroy_response(resp);
    cc->queued = 1;
    return ret;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_size, void **con_cls)
{
    oa_http *h = cls;
    conn_ctx *cc = *con_cls;
    oa_http_req *req;
    (void)version;

    if (cc == NULL) {
        cc = calloc(1, sizeof(*cc));
        req = calloc(1, sizeof(*req));
        if (cc == NULL || req == NULL) {
            free(cc);
            free(req);
            return MHD_NO;
        }
        cc->req = req;
        cc->conn = c;
        req->http = h;
        req->server_ctx = cc;
        snprintf(req->method, sizeof(req->method), "%s", method);
        req->path = strdup(url ? url : "/");
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_query, req);
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, req);
        client_address(c, req->client, sizeof(req->client));
        *con_cls = cc;
        return MHD_YES;
    }
    req = cc->req;
    if (*upload_size > 0) {
        size_t add = *upload_size;
        if (!req->body_too_large && req->body_len + add <= h->body_limit) {
            char *b = realloc(req->body, req->body_len + add + 1);
            if (b == NULL) {
                return MHD_NO;
            }
            memcpy(b + req->body_len, upload_data, add);
            req->body = b;
            req->body_len += add;
            req->body[req->body_len] = '\0';
        } else {
            req->body_too_large = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cc->queued) {
        return MHD_YES;
    }
    if (!cc->dispatched) {
        cc->dispatched = 1;
        oa_http_dispatch(h, req);
    }
    if (req->replied) {
        return queue_reply(cc);
    }
    /* Kept: the handler answers later; park the connection. */
    cc->suspended = 1;
    MHD_suspend_connection(c);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    oa_http *h = cls;
    conn_ctx *cc = *con_cls;
    (void)c;
    (void)toe;
    if (cc == NULL) {
        return;
    }
    if (cc->req->kept) {
        oa_http_req_abandon(h, cc->req);
    }
    oa_http_req_free(cc->req);
    free(cc);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    oa_http *h = cls;
    (void)c;
    (void)socket_ctx;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        h->stats.connections++;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    oa_log_vwrite(OA_LOG_DEBUG, "http", fmt, ap);
}

/* ---- server hooks ----------------------------------------------------------- */

void oa_http_server_resume(oa_http *h, oa_http_req *req)
{
    conn_ctx *cc = req->server_ctx;
    if (h->server == NULL || cc == NULL || !cc->suspended) {
        return;
    }
    cc->suspended = 0;
    MHD_resume_connection(cc->conn);
    kick(h->server);
}

void oa_http_server_stream_ready(oa_http *h, oa_http_stream *s)
{
    if (h->server == NULL || s->conn == NULL || !s->waiting) {
        return;
    }
    s->waiting = 0;
    MHD_resume_connection(s->conn);
    kick(h->server);
}

/* ---- start and stop ------------------------------------------------------------ */

/* Parses "addr:port" or "[v6addr]:port". */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    char *end = NULL;
    long port;
    size_t hl;

    if (colon == NULL) {
        return OA_EINVAL;
    }
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port < 0 || port > 65535) {
        return OA_EINVAL;
    }
    hl = (size_t)(colon - listen);
    if (hl >= sizeof(host)) {
        return OA_EINVAL;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
            return OA_EINVAL;
        }
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*in6);
        return 0;
    }
    {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        if (strcmp(host, "localhost") == 0) {
            snprintf(host, sizeof(host), "127.0.0.1");
        }
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1) {
            return OA_EINVAL;
        }
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *sl = sizeof(*in);
    }
    return 0;
}

static int open_listener(const char *addr, int *fd_out, int *port_out, char *err,
                         size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    int one = 1;
    int fd;

    if (parse_listen(addr, &ss, &sl) != 0) {
        snprintf(err, errlen, "cannot listen on '%s': want ADDR:PORT, e.g. 127.0.0.1:6878",
                 addr);
        return OA_EINVAL;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        return OA_EIO;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s%s", addr, strerror(errno),
                 errno == EADDRINUSE ? " (another program, or another openace, uses it; pick "
                                       "another with --http)"
                                     : "");
        close(fd);
        return OA_EIO;
    }
    sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    return 0;
}

static void server_handle_closed(uv_handle_t *hd)
{
    oa_http_server *srv = hd->data;
    oa_http *h = srv->h;
    srv->handles--;
    if (srv->handles == 0) {
        free(srv);
    }
    oa_http_handle_closed(h);
}

int oa_http_server_start(oa_http *h, const char *listen, char *err, size_t errlen)
{
    oa_http_server *srv;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    int fd = -1;
    int rc;

    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    srv->h = h;
    rc = open_listener(listen, &fd, &srv->port, err, errlen);
    if (rc != 0) {
        free(srv);
        return rc;
    }
    srv->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, h, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTION_LIMIT,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(err, errlen, "cannot start the HTTP server on %s", listen);
        close(fd);
        free(srv);
        return OA_EIO;
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL || uv_poll_init(h->loop, &srv->poll, info->epoll_fd) != 0) {
        snprintf(err, errlen, "cannot watch the HTTP server's epoll descriptor");
        MHD_stop_daemon(srv->daemon);
        free(srv);
        return OA_EIO;
    }
    srv->poll.data = srv;
    uv_timer_init(h->loop, &srv->timer);
    srv->timer.data = srv;
    h->handles_open += 2;
    srv->handles = 2;
    h->server = srv;
    uv_poll_start(&srv->poll, UV_READABLE, on_poll);
    run_daemon(srv);
    oa_log_write(OA_LOG_INFO, "http", "listening on %s (port %d)", listen, srv->port);
    return 0;
}

int oa_http_server_port(oa_http *h)
{
    return h->server != NULL ? h->server->port : 0;
}

void oa_http_server_stop(oa_http *h)
{
    oa_http_server *srv = h->server;
    if (srv == NULL) {
        return;
    }
    /* MHD must not stop with suspended connections: wake them all. Kept
     * requests were answered and streams ended before this. */
    for (oa_http_stream *s = h->streams; s != NULL; s = s->next) {
        if (s->waiting && s->conn != NULL) {
            s->waiting = 0;
            MHD_resume_connection(s->conn);
        }
    }
    MHD_run(srv->daemon);
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    uv_poll_stop(&srv->poll);
    uv_timer_stop(&srv->timer);
    uv_close((uv_handle_t *)&srv->poll, server_handle_closed);
    uv_close((uv_handle_t *)&srv->timer, server_handle_closed);
    h->server = NULL;
}
