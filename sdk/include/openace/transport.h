/*
 * OpenAce transport service (SDK 1.1): stream connections for the swarm.
 *
 * A transport plugin (TCP, uTP, a third party's) registers one oa_transport
 * struct with api->service_register(self, "transport.<name>", version,
 * &its_struct) and lists "transport" in its descriptor's provides; the swarm
 * requires "transport" and looks the structs up by name. Every function is
 * called on the host's loop thread and calls back on it. Like every service
 * struct, oa_transport starts with its size and only grows at the end.
 *
 * Ownership: connections belong to the transport. A connection lives from a
 * successful connect/accept until its close callback has been called; after
 * that the pointer is invalid. Data handed to write is copied.
 *
 * Closing is synchronous for the caller: close() calls every unfinished
 * write's callback with OA_ECANCELED, then the close callback (reason
 * OA_CLOSE_LOCAL), all before it returns; nothing is called for that
 * connection afterwards, and it must not be touched again. close() on a
 * connection still connecting calls its connect callback with OA_ECANCELED
 * (and no close callback, since it never opened). When the transport plugin
 * stops, it does the same for every connection (reason OA_CLOSE_SHUTDOWN)
 * before its stop() returns.
 *
 * Addresses are numeric: "1.2.3.4:6881" or "[2001:db8::1]:6881". Calls
 * return 0 or a negative OA_E*: OA_EINVAL (bad argument or address),
 * OA_ESTATE (transport stopped, or connection closing), OA_EAGAIN (the
 * connection cap is reached), OA_EBUSY (listener already adopted), OA_EIO
 * (a socket error, with the reason in the plugin's log).
 */
#ifndef OPENACE_TRANSPORT_H
#define OPENACE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OA_TRANSPORT_SERVICE_PREFIX "transport." /* "transport.tcp", ... */
#define OA_TRANSPORT_VERSION 1

typedef struct oa_conn oa_conn;         /* one connection */
typedef struct oa_listener oa_listener; /* one listening endpoint */

/* Why a connection closed (the reason argument of oa_conn_close_cb). */
#define OA_CLOSE_LOCAL 0     /* close() was called */
#define OA_CLOSE_EOF 1       /* the peer closed its side */
#define OA_CLOSE_ERROR 2     /* a socket error (reset, unreachable, ...) */
#define OA_CLOSE_IDLE 3      /* idle longer than the transport allows */
#define OA_CLOSE_SHUTDOWN 4  /* the transport plugin is stopping */

/* A new inbound connection. It does not read until read_start. */
typedef void (*oa_conn_accept_cb)(void *arg, oa_conn *conn);
/* An outbound connect finished: status 0 (conn usable) or a negative OA_E*
 * (OA_ETIMEDOUT, OA_EIO, ...; conn is then already gone). */
typedef void (*oa_conn_connect_cb)(void *arg, oa_conn *conn, int status);
/* Bytes arrived (len > 0; data valid only during the call). */
typedef void (*oa_conn_read_cb)(void *arg, oa_conn *conn, const uint8_t *data, size_t len);
/* The connection is gone; reason is OA_CLOSE_*. Called exactly once for
 * every connection that was accepted or connected successfully. */
typedef void (*oa_conn_close_cb)(void *arg, oa_conn *conn, int reason);
/* A write reached the kernel (status 0) or failed. */
typedef void (*oa_conn_write_cb)(void *arg, oa_conn *conn, int status);

/* The caller sets size to sizeof(oa_transport_stats) before calling stats();
 * the transport fills the fields that fit in both its and the caller's
 * version of the struct (the struct only grows at the end). */
typedef struct oa_transport_stats {
    uint32_t size;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint32_t connections;       /* open now */
    uint32_t listeners;
    uint64_t accepted;          /* since start */
    uint64_t refused;           /* over the connection cap */
    uint64_t connect_failures;
} oa_transport_stats;

typedef struct oa_transport {
    uint32_t size;              /* sizeof(oa_transport) of the provider */
    const char *name;           /* "tcp" */
    void *instance;             /* pass as the first argument below */

    /* Listens on addr ("0.0.0.0:8621", "[::]:8621"). NULL means the
     * transport's own configured address; by default every address (IPv4
     * and IPv6: one listener, several sockets) on the host's p2p port. */
    int (*listen)(void *instance, const char *addr, oa_conn_accept_cb cb, void *arg,
                  oa_listener **out);
    void (*listen_close)(oa_listener *l);
    /* The port a listener is bound to (useful with port 0). */
    int (*listen_port)(oa_listener *l);

    /* Connects to "ip:port" / "[v6]:port" within timeout_ms (0: the
     * transport's default). On OA_E* return the callback is not called. */
    int (*connect)(void *instance, const char *addr, uint32_t timeout_ms, oa_conn_connect_cb cb,
                   void *arg, oa_conn **out);

    /* Sets the read and close callbacks (required before read_start). */
    void (*set_callbacks)(oa_conn *c, oa_conn_read_cb on_read, oa_conn_close_cb on_close,
                          void *arg);
    /* Reading on and off, for back-pressure. */
    int (*read_start)(oa_conn *c);
    int (*read_stop)(oa_conn *c);
    /* Queues a copy of data; cb (may be NULL) when it reached the kernel. */
    int (*write)(oa_conn *c, const void *data, size_t len, oa_conn_write_cb cb, void *arg);
    /* Bytes queued and not yet written to the kernel. */
    size_t (*write_queued)(oa_conn *c);
    /* Closes now: see "Closing" above. */
    void (*close)(oa_conn *c);

    /* "ip:port" of each end; OA_EINVAL if buf is too small. */
    int (*remote_addr)(oa_conn *c, char *buf, size_t len);
    int (*local_addr)(oa_conn *c, char *buf, size_t len);
    /* Bytes moved on this connection. */
    void (*conn_bytes)(oa_conn *c, uint64_t *in, uint64_t *out);
    void (*stats)(void *instance, oa_transport_stats *st);
} oa_transport;

#ifdef __cplusplus
}
#endif

#endif /* OPENACE_TRANSPORT_H */
