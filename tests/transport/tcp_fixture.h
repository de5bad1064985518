/*
 * The fixture of the transport tests: an engine-mode host that loads the
 * built transport-tcp.so (and nothing else), the loop run until a condition
 * holds, raw loopback sockets for the other end where a test needs one, and
 * the callbacks of a service user that record what happened to each end.
 */
#ifndef OA_TEST_TCP_FIXTURE_H
#define OA_TEST_TCP_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <openace/transport.h>

#include "host.h"

#define MIB (1024u * 1024u)
#define PLUGIN "transport-tcp"
#define MAX_SIDES 16

typedef struct fx fx;

/* One end of a connection, as a user of the service sees it. */
typedef struct side {
    fx *f;
    oa_conn *c;
    int connect_calls;
    int connect_status;
    int closed;
    int close_reason;
    int write_in_close_rc;
    int read_on_connect;
    uint32_t rx_seed;   /* the pattern expected */
    uint64_t rx;
    uint64_t rx_bad;
    uint64_t stop_at;   /* read_stop once this much arrived (0: never) */
    uint64_t rx_at_stop;
    uint64_t tx;        /* bytes the ticker queued */
    int stopped;
    int close_in_read;
    int writes_ok;
    int writes_canceled;
    int writes_failed;
} side;

struct fx {
    char *data;
    char *plugins;
    oa_host h;
    int open;
    const oa_transport *t;
    uv_timer_t deadline;
    int expired;
    side acc[MAX_SIDES]; /* inbound, in accept order */
    int naccepted;
    int accept_bare;     /* record accepted connections without callbacks */
    int accept_read;     /* start reading at once */
    side out[MAX_SIDES]; /* outbound */
};

/* ---- the loop ------------------------------------------------------------- */

void fx_deadline_start(fx *f, uint64_t ms);

/* Runs the loop until cond holds or ms of loop time passed. Tests assert
 * cond afterwards; the limit only keeps a failing test from hanging. */
#define WAIT_FOR(f, cond, ms)                                                                \
    do {                                                                                     \
        fx_deadline_start((f), (ms));                                                        \
        while (!(cond) && !(f)->expired) {                                                   \
            uv_run((f)->h.loop, UV_RUN_ONCE);                                                \
        }                                                                                    \
        uv_timer_stop(&(f)->deadline);                                                       \
    } while (0)
#define RUN_FOR(f, ms) WAIT_FOR(f, 0, ms)

/* ---- the host -------------------------------------------------------------- */

/* cmocka setup and teardown: temporary data and plugin directories; the
 * teardown closes a host still open and checks oa_host_close() == 0. */
int fx_setup(void **state);
int fx_teardown(void **state);
/* Opens the host with settings (key, value pairs, then NULL), starts the
 * plugins and looks up the service into f->t (NULL when it did not start).
 * p2p_port 0 means 18621. Returns how many plugins run. */
int fx_host_up(fx *f, int p2p_port, ...);
/* Closes the host and asserts that the loop closed cleanly. */
void fx_host_down(fx *f);
/* Sets a setting through the host, as the admin API does (live settings
 * reach the running plugin's configure()). */
void fx_config(fx *f, const char *key, const char *value);
oa_transport_stats fx_stats(fx *f);
int fx_have_ipv6(void);

/* ---- raw sockets ------------------------------------------------------------ */

/* A socket on 127.0.0.1:0, listening with backlog when backlog >= 0. */
int fx_raw_socket(int backlog, int *port);
/* A blocking connect to 127.0.0.1:port (done by the kernel, before any
 * accept). */
int fx_raw_connect(int port);
/* A port free on 0.0.0.0 right now. */
int fx_free_port(void);

/* ---- the service user --------------------------------------------------------- */

/* Byte i of the test stream with this seed. */
uint8_t fx_pat(uint32_t seed, uint64_t i);
/* Callbacks; arg is the side (fx for accept). They check each byte against
 * the side's rx_seed pattern and count what happened. */
void fx_on_read(void *arg, oa_conn *c, const uint8_t *d, size_t n);
void fx_on_close(void *arg, oa_conn *c, int reason);
void fx_on_write(void *arg, oa_conn *c, int status);
void fx_on_accept(void *arg, oa_conn *c);
void fx_on_connect(void *arg, oa_conn *c, int status);
/* Queues total bytes of pattern seed, from stream offset from, in writes
 * of chunk bytes. Returns the number of writes. */
int fx_send(side *s, uint32_t seed, uint64_t from, uint64_t total, size_t chunk);
/* Listens on addr, connects to it and returns both ends: out[k] and the
 * next acc[]. *l gets the listener, or it is closed when l is NULL. */
void fx_pair(fx *f, const char *addr, int k, side **client, side **server, oa_listener **l);

#endif
