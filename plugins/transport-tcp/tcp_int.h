/*
 * transport-tcp: what its files share. tcp.c is the plugin (settings,
 * lifecycle, the service table), conn.c the connections (connect, read,
 * write, close, idle), listen.c the listeners, addr.c address text.
 *
 * Memory and libuv: every connection and every listener is its own heap
 * block holding its uv handles. Closing one is two steps. The logical close
 * (tcp_conn_end, tcp_listener_close) unlinks it from the plugin, delivers
 * the user's callbacks, sets its `p` to NULL and calls uv_close; from then on
 * only libuv's callbacks touch the block, and they touch nothing but the
 * block itself: the last handle's close callback frees it. So the plugin's
 * state can be freed in destroy() while closes are still pending.
 */
#ifndef OA_TRANSPORT_TCP_INT_H
#define OA_TRANSPORT_TCP_INT_H

#include <openace/sdk.h>
#include <openace/transport.h>
#include <uv.h>

#include <stddef.h>
#include <stdint.h>

#define TCP_SERVICE_NAME OA_TRANSPORT_SERVICE_PREFIX "tcp"
#define TCP_READ_BUF (64 * 1024) /* one read buffer */
#define TCP_POOL_KEEP 4          /* read buffers kept for reuse */
#define TCP_BACKLOG 128
#define TCP_KEEPALIVE_S 60       /* idle seconds before the first keepalive probe */
#define TCP_ADDR_MAX 80          /* "[v6%ifname]:port" and its NUL */
#define TCP_MAX_SOCKS 2          /* a listener: one socket, or IPv4 + IPv6 */

typedef struct tcp_plugin tcp_plugin;
typedef struct tcp_write tcp_write;

enum tcp_conn_state { TCP_CONNECTING = 1, TCP_OPEN = 2, TCP_CLOSED = 3 };

/* One connection (opaque to users as oa_conn). */
struct oa_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;   /* connect timeout; outbound connections only */
    uv_connect_t creq;
    tcp_plugin *p;      /* NULL once closed */
    struct oa_conn *prev;
    struct oa_conn *next;
    int state;          /* enum tcp_conn_state */
    int outbound;
    int reading;
    int handles;        /* uv handles not closed yet; the last close frees */
    oa_conn_connect_cb on_connect;
    void *connect_arg;
    oa_conn_read_cb on_read;
    oa_conn_close_cb on_close;
    void *arg;
    tcp_write *wq_head; /* writes whose uv callback has not run, in order */
    tcp_write *wq_tail;
    size_t queued;      /* bytes of writes whose callback has not run */
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t last_active; /* loop time of the last byte in or out */
    char remote[TCP_ADDR_MAX];
    char local[TCP_ADDR_MAX];
};

/* One write: the uv request, the caller's callback and a copy of the data. */
struct tcp_write {
    uv_write_t req;
    struct oa_conn *c;
    tcp_write *prev;
    tcp_write *next;
    oa_conn_write_cb cb;
    void *arg;
    int reported; /* cb already called (with OA_ECANCELED at close) */
    size_t len;
    uint8_t data[];
};

/* One listener: one socket, or two (0.0.0.0 and [::]) for the default. */
struct oa_listener {
    uv_tcp_t socks[TCP_MAX_SOCKS];
    tcp_plugin *p;      /* NULL once closed */
    struct oa_listener *prev;
    struct oa_listener *next;
    int nsocks;         /* sockets initialised (each needs a uv_close) */
    int handles;        /* sockets not closed yet; the last close frees */
    int listening[TCP_MAX_SOCKS];
    int held[TCP_MAX_SOCKS]; /* libuv holds an accepted fd we have not taken */
    int port;
    int is_auto;        /* bound by auto_listen; users borrow it */
    oa_conn_accept_cb cb; /* NULL: nobody listens yet (auto listener) */
    void *arg;
    oa_timer *resume;   /* takes held connections after an adoption */
};

struct tcp_plugin {
    oa_plugin *self;
    const oa_host_api *api;
    uv_loop_t *loop;
    oa_transport svc;
    int running;        /* between start and stop: the service accepts calls */

    /* Settings. */
    char listen_addr[128]; /* "" = 0.0.0.0 and [::] on the p2p port */
    int p2p_port;
    int auto_listen;
    uint32_t max_conns;
    uint32_t connect_timeout_ms;
    uint32_t idle_timeout_s;

    oa_timer *idle_timer;
    struct oa_conn *conns;         /* connecting and open */
    struct oa_listener *listeners;
    struct oa_listener *auto_l;    /* the auto_listen listener, or NULL */
    uint32_t n_open;
    uint32_t n_connecting;
    uint32_t n_listen_socks;
    int cap_warned;
    uint64_t accept_warned_at; /* loop time of the last accept error logged */

    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t accepted;
    uint64_t refused;
    uint64_t connect_failures;

    uint8_t *pool[TCP_POOL_KEEP];
    int pool_n;
};

/* addr.c */
/* Parses "a.b.c.d:port" or "[v6]:port" (numeric only; a v6 scope as
 * "%ifname" is allowed). Ports below port_min are refused. 0 or OA_EINVAL. */
int tcp_addr_parse(const char *s, int port_min, struct sockaddr_storage *out);
/* Formats an address as "a.b.c.d:port" or "[v6]:port" (IPv4-mapped IPv6
 * addresses in IPv4 form). 0, or OA_EINVAL when buf is too small. */
int tcp_addr_format(const struct sockaddr *sa, char *buf, size_t len);
/* Maps a libuv error to an OA_E* code. */
int tcp_uv_err(int uverr);

/* conn.c */
void tcp_conn_fill_api(oa_transport *svc);
int tcp_connect(void *instance, const char *addr, uint32_t timeout_ms, oa_conn_connect_cb cb,
                void *arg, struct oa_conn **out);
/* Takes the connection waiting on server. Returns it open, or NULL when it
 * was refused (over the cap) or failed. */
struct oa_conn *tcp_conn_accept(tcp_plugin *p, uv_stream_t *server);
/* Logical close with callbacks: a connecting one reports `status` to its
 * connect callback, an open one reports `reason` to its close callback. */
void tcp_conn_end(struct oa_conn *c, int reason, int status);
/* Closes every connection (OA_CLOSE_SHUTDOWN / OA_ECANCELED). */
void tcp_conn_close_all(tcp_plugin *p);
/* Closes open connections idle for idle_timeout_s (OA_CLOSE_IDLE). */
void tcp_conn_idle_sweep(tcp_plugin *p);
void tcp_pool_free(tcp_plugin *p);

/* listen.c */
int tcp_listen(void *instance, const char *addr, oa_conn_accept_cb cb, void *arg,
               struct oa_listener **out);
void tcp_listen_close(struct oa_listener *l);
int tcp_listen_port(struct oa_listener *l);
/* Binds addr (NULL: the listen setting) without a callback; err gets a
 * sentence on failure. */
int tcp_listener_open(tcp_plugin *p, const char *addr, char *err, size_t errlen,
                      struct oa_listener **out);
/* Closes every listener, the auto listener included. */
void tcp_listener_close_all(tcp_plugin *p);

#endif
