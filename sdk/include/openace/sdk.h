/*
 * OpenAce plugin SDK.
 *
 * A plugin is one shared object that exports exactly one symbol,
 * oa_plugin_entry(), returning a pointer to a static oa_plugin_desc. The host
 * checks the descriptor, then drives the plugin through its lifecycle
 * callbacks. Everything the plugin needs from the host comes through the
 * const oa_host_api table handed to init(): plugins never link against host
 * symbols.
 *
 * Threading: every callback the host makes into a plugin runs on the host's
 * one loop thread, and every oa_host_api function must be called on that
 * thread, except the ones marked "any thread".
 *
 * Compatibility: the host loads a plugin when the plugin's sdk_major equals
 * OA_SDK_MAJOR of the host and its sdk_minor is not newer than the host's.
 * oa_plugin_desc, oa_host_api and every service struct only ever grow at the
 * end; each carries its size so that either side can tell which fields the
 * other one knows.
 */
#ifndef OPENACE_SDK_H
#define OPENACE_SDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OA_SDK_MAJOR 1
#define OA_SDK_MINOR 1 /* 1.1: HTTP routes and streams appended to oa_host_api */

#if defined(__GNUC__) || defined(__clang__)
#define OA_EXPORT __attribute__((visibility("default")))
#define OA_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define OA_EXPORT
#define OA_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------ */
/* Errors. Functions return 0 for success or one of these negative codes.
 * Values never change; retired values stay reserved. */

#define OA_OK 0
#define OA_EINVAL -1     /* invalid argument */
#define OA_ENOMEM -2     /* out of memory */
#define OA_ENOENT -3     /* no such item */
#define OA_EEXIST -4     /* already exists */
#define OA_ESTATE -5     /* not allowed in the current state */
#define OA_ERANGE -6     /* value out of range */
#define OA_ETYPE -7      /* value of the wrong type */
#define OA_EIO -8        /* input/output or storage error */
#define OA_EVERSION -9   /* incompatible version */
#define OA_EDEPEND -10   /* dependency missing or not running */
#define OA_ECYCLE -11    /* dependency cycle */
#define OA_ENOSYS -12    /* not supported by this plugin or host */
#define OA_EBUSY -13     /* busy; try again later */
#define OA_EAGAIN -14    /* resource temporarily unavailable; retry */
#define OA_ECANCELED -15 /* operation canceled */
#define OA_ETIMEDOUT -16 /* timed out */
#define OA_EOVERFLOW -17 /* a bounded queue or buffer is full */
#define OA_EFAIL -18     /* a plugin callback reported failure */
#define OA_EPROTO -19    /* protocol error from a peer */
#define OA_ENOTFOUND -20 /* a named service or command does not exist */
#define OA_EACCES -21    /* permission denied */

/* Returns a static English sentence fragment for an OA_E* code. */
static inline const char *oa_strerror(int err)
{
    switch (err) {
    case OA_OK: return "success";
    case OA_EINVAL: return "invalid argument";
    case OA_ENOMEM: return "out of memory";
    case OA_ENOENT: return "no such item";
    case OA_EEXIST: return "already exists";
    case OA_ESTATE: return "not allowed in the current state";
    case OA_ERANGE: return "value out of range";
    case OA_ETYPE: return "value of the wrong type";
    case OA_EIO: return "input/output or storage error";
    case OA_EVERSION: return "incompatible version";
    case OA_EDEPEND: return "dependency missing or not running";
    case OA_ECYCLE: return "dependency cycle";
    case OA_ENOSYS: return "not supported";
    case OA_EBUSY: return "busy";
    case OA_EAGAIN: return "temporarily unavailable";
    case OA_ECANCELED: return "canceled";
    case OA_ETIMEDOUT: return "timed out";
    case OA_EOVERFLOW: return "queue or buffer full";
    case OA_EFAIL: return "plugin reported failure";
    case OA_EPROTO: return "protocol error";
    case OA_ENOTFOUND: return "not found";
    case OA_EACCES: return "permission denied";
    default: return "unknown error";
    }
}

/* ------------------------------------------------------------------------ */
/* Log levels. */

typedef enum oa_log_level {
    OA_LOG_ERROR = 0,
    OA_LOG_WARN = 1,
    OA_LOG_INFO = 2,
    OA_LOG_DEBUG = 3,
    OA_LOG_TRACE = 4
} oa_log_level;

/* ------------------------------------------------------------------------ */
/* Configuration schema. A plugin declares its settings as an array of
 * oa_config_def terminated by an entry whose key is NULL. Values travel as
 * text; the host validates every value against its definition before it is
 * stored, whoever sets it (UI, API, Lua, command line). */

typedef enum oa_config_type {
    OA_CFG_BOOL = 1,   /* "true" or "false" (accepts 1/0, yes/no, on/off) */
    OA_CFG_INT = 2,    /* 64-bit signed decimal integer */
    OA_CFG_DOUBLE = 3, /* finite decimal number */
    OA_CFG_STRING = 4  /* UTF-8 text */
} oa_config_type;

/* The setting can be changed while the plugin runs: the host calls the
 * plugin's configure() callback instead of restarting it. */
#define OA_CFG_LIVE 0x1u
/* The setting is a secret: never echoed back by listings or logs. */
#define OA_CFG_SECRET 0x2u

typedef struct oa_config_def {
    const char *key;           /* [a-z0-9_.-], at most 64 bytes */
    oa_config_type type;
    const char *default_value; /* text form; must itself be valid */
    /* INT and DOUBLE: the allowed range [min, max] applies when min != 0 or
     * max != 0. STRING: max > 0 is the longest allowed length in bytes. */
    double min;
    double max;
    /* STRING only: NULL, or the allowed values separated by '|'. */
    const char *choices;
    const char *help; /* one sentence shown in the UI and --help */
    unsigned flags;   /* OA_CFG_LIVE, OA_CFG_SECRET */
} oa_config_def;

/* ------------------------------------------------------------------------ */
/* Opaque handles. */

typedef struct oa_plugin oa_plugin; /* the host's handle for one plugin instance */
typedef struct oa_timer oa_timer;   /* a timer started through the host */
typedef struct oa_host_api oa_host_api;
typedef struct oa_http_req oa_http_req;       /* one HTTP request (SDK 1.1) */
typedef struct oa_http_stream oa_http_stream; /* a long response (SDK 1.1) */
struct uv_loop_s;

/* ------------------------------------------------------------------------ */
/* Callback types. */

/* An event from the bus: topic and its JSON text (len bytes, NUL-terminated).
 * Both are valid only during the call. */
typedef void (*oa_event_cb)(void *arg, const char *topic, const char *json, size_t len);

/* A timer fired. A one-shot timer is released by the host after this call
 * returns; a repeating one lives until timer_stop() or the plugin stops. */
typedef void (*oa_timer_cb)(void *arg, oa_timer *timer);

/* Runs on a worker thread. Must not call oa_host_api functions except those
 * marked "any thread". */
typedef void (*oa_work_cb)(void *arg);

/* Runs on the loop thread after the work function returned. status is 0, or
 * OA_ECANCELED when the plugin was stopped while the work ran (the plugin's
 * state is still valid then: destroy() waits for every pending done call). */
typedef void (*oa_after_work_cb)(void *arg, int status);

/* HTTP (SDK 1.1). A handler runs on the loop thread. It either replies
 * before it returns (http_reply, or http_stream_open), or keeps req and
 * replies later from any loop callback (the connection waits, suspended).
 * Returning a negative OA_E* code without replying makes the host answer
 * with an error status that fits the code (OA_EINVAL 400, OA_ENOENT 404,
 * OA_EACCES 403, OA_ESTATE 409, OA_EOVERFLOW 413, others 500). */
typedef int (*oa_http_handler)(void *arg, oa_http_req *req);

/* A stream's state changed. OA_HTTP_STREAM_DRAINED: the queue fell below a
 * quarter of its limit, write more. OA_HTTP_STREAM_CLOSED: the client went
 * away or the response finished; the stream pointer is invalid afterwards. */
#define OA_HTTP_STREAM_DRAINED 1
#define OA_HTTP_STREAM_CLOSED 2
typedef void (*oa_http_stream_cb)(void *arg, oa_http_stream *stream, int event);

/* Route flags. */
#define OA_HTTP_PUBLIC 0x1u /* no login needed (e.g. playback paths) */
#define OA_HTTP_PREFIX 0x2u /* path matches itself and everything below "path/" */

/* ------------------------------------------------------------------------ */
/* The plugin descriptor. */

typedef enum oa_plugin_kind {
    OA_KIND_TRANSPORT = 1,
    OA_KIND_ENGINE = 2,
    OA_KIND_HWACCEL = 3,
    OA_KIND_CODEC = 4
} oa_plugin_kind;

/* Health as reported by the optional health() callback. */
#define OA_HEALTH_OK 0
#define OA_HEALTH_DEGRADED 1
#define OA_HEALTH_BAD 2

typedef struct oa_plugin_desc {
    /* Filled by OA_PLUGIN_HEADER. */
    uint32_t sdk_major;
    uint32_t sdk_minor;
    uint32_t struct_size; /* sizeof(oa_plugin_desc) as the plugin was built */

    const char *name;    /* unique, [a-z0-9_-], at most 64 bytes */
    const char *version; /* the plugin's own version, e.g. "1.2.0" */
    oa_plugin_kind kind;
    const char *summary; /* one line */
    const char *license; /* SPDX identifier */

    /* NULL-terminated lists, or NULL. A required name matches another
     * plugin's name or an entry of its provides list. */
    const char *const *requires;
    const char *const *provides;

    /* Settings, terminated by a NULL key; or NULL for none. */
    const oa_config_def *config;

    /* Lifecycle, all mandatory, all on the loop thread.
     * init: allocate state; the plugin keeps `self` and `api` for later calls.
     *   Return 0, or a negative OA_E* code (after api->set_error() with a
     *   sentence). On failure destroy() is not called.
     * start: begin work (listen, subscribe, start timers). On failure the
     *   host calls destroy() without stop().
     * stop: end work. The host then releases what the plugin still holds
     *   through the host API (timers, subscriptions, services).
     * destroy: free state. Called exactly once after a successful init. */
    int (*init)(oa_plugin *self, const oa_host_api *api, void **state);
    int (*start)(void *state);
    void (*stop)(void *state);
    void (*destroy)(void *state);

    /* Optional (may be NULL). health: returns OA_HEALTH_*; may set *detail to
     * a JSON object text allocated with api->str_dup (the host frees it). */
    int (*health)(void *state, char **detail);

    /* Optional. A named command with a JSON argument text (never NULL; "{}"
     * when there are none). On success returns 0 and sets *out to JSON text
     * allocated with api->str_dup/api->alloc (the host frees it). On failure
     * returns a negative OA_E* code and may set *out to an error sentence
     * (plain text, same allocation rule). Unknown command: OA_ENOTFOUND. */
    int (*command)(void *state, const char *name, const char *json_args, char **out);

    /* Optional. A setting flagged OA_CFG_LIVE changed while running (through
     * the API, UI, Lua or a running engine's own commands; offline command
     * line changes apply at the next start); value is already validated.
     * Return 0 when applied; any error (OA_ENOSYS by convention) makes the
     * host restart the plugin instead. Not called for the plugin's own
     * api->config_set. */
    int (*configure)(void *state, const char *key, const char *value);
} oa_plugin_desc;

/* The smallest struct_size a host accepts: everything up to destroy. */
#define OA_PLUGIN_DESC_MIN_SIZE (offsetof(oa_plugin_desc, destroy) + sizeof(void (*)(void *)))

/* Fills the version and size fields in a designated initializer. */
#define OA_PLUGIN_HEADER                                                                  \
    .sdk_major = OA_SDK_MAJOR, .sdk_minor = OA_SDK_MINOR,                                 \
    .struct_size = (uint32_t)sizeof(oa_plugin_desc)

/* The one exported symbol, named by this macro for the loader. */
#define OA_PLUGIN_ENTRY_SYMBOL "oa_plugin_entry"
typedef const oa_plugin_desc *(*oa_plugin_entry_fn)(void);

/* Defines the plugin's entry point returning &desc. */
#define OA_PLUGIN_ENTRY(desc)                                                             \
    OA_EXPORT const oa_plugin_desc *oa_plugin_entry(void);                                \
    OA_EXPORT const oa_plugin_desc *oa_plugin_entry(void) { return &(desc); }

/* ------------------------------------------------------------------------ */
/* The host API. Handed to init(); valid until destroy() returns. Check
 * api->size >= OA_API_HAS(field) before using a field added after 1.0. */

#define OA_API_HAS(api, field)                                                            \
    ((api)->size >= offsetof(oa_host_api, field) + sizeof((api)->field))

struct oa_host_api {
    uint32_t size;      /* sizeof(oa_host_api) in the host */
    uint32_t sdk_major; /* the host's SDK version */
    uint32_t sdk_minor;
    const char *host_version;

    /* Memory for values that cross to the host (command output, health
     * detail, config and kv values returned to the plugin). Any thread. */
    void *(*alloc)(size_t size);
    char *(*str_dup)(const char *s);
    void (*free)(void *p);

    /* Logging with the plugin's name as tag. Any thread. */
    void (*log)(oa_plugin *self, oa_log_level level, const char *fmt, ...) OA_PRINTF(3, 4);
    /* Records a sentence that explains the next failure returned to the
     * host (from init, start, command). Any thread. */
    void (*set_error)(oa_plugin *self, const char *fmt, ...) OA_PRINTF(2, 3);

    /* Configuration: the stored value, or the schema default. *value is
     * allocated (free with api->free). OA_ENOENT for a key not in the
     * schema. */
    int (*config_get)(oa_plugin *self, const char *key, char **value);
    int (*config_get_int)(oa_plugin *self, const char *key, int64_t *value);
    int (*config_get_double)(oa_plugin *self, const char *key, double *value);
    int (*config_get_bool)(oa_plugin *self, const char *key, int *value);
    /* Validates and stores a value of the plugin's own schema. On OA_EINVAL,
     * OA_ERANGE or OA_ETYPE nothing is stored. */
    int (*config_set)(oa_plugin *self, const char *key, const char *value);

    /* Event bus. Topics are dot-separated words. A pattern is an exact topic,
     * "prefix.*" (any topic below prefix) or "*". json is a JSON text or NULL
     * for "{}"; invalid JSON is refused with OA_EINVAL. Delivery is always
     * later, on the loop thread, never inside publish. When the bus queue is
     * full the event is dropped, counted, and OA_EOVERFLOW returned. */
    int (*publish)(oa_plugin *self, const char *topic, const char *json);
    /* Same as publish. Any thread. */
    int (*post)(oa_plugin *self, const char *topic, const char *json);
    /* Subscribes; *id (may be NULL) identifies it for unsubscribe. The
     * subscription ends at unsubscribe or when the plugin stops. */
    int (*subscribe)(oa_plugin *self, const char *pattern, oa_event_cb cb, void *arg,
                     uint64_t *id);
    int (*unsubscribe)(oa_plugin *self, uint64_t id);

    /* The host's libuv loop, for plugins that run their own handles. The
     * plugin must close its handles in stop(). */
    struct uv_loop_s *(*loop)(oa_plugin *self);

    /* Timers. repeat_ms 0 is one-shot. *timer (may be NULL) is for
     * timer_stop, which may be called from the timer's own callback. */
    int (*timer_start)(oa_plugin *self, uint64_t timeout_ms, uint64_t repeat_ms,
                       oa_timer_cb cb, void *arg, oa_timer **timer);
    void (*timer_stop)(oa_timer *timer);

    /* Runs work(arg) on a worker thread, then done(arg, status) on the loop.
     * If it returns an error, neither callback is called. */
    int (*queue_work)(oa_plugin *self, oa_work_cb work, oa_after_work_cb done, void *arg);

    /* Per-plugin persistent key-value store (SQLite). kv_get allocates
     * *value (free with api->free), NUL-terminated, *len may be NULL. */
    int (*kv_get)(oa_plugin *self, const char *key, char **value, size_t *len);
    int (*kv_set)(oa_plugin *self, const char *key, const void *value, size_t len);
    int (*kv_del)(oa_plugin *self, const char *key);

    /* Service registry: a named, versioned struct of function pointers that
     * starts with a uint32_t size field. A service lives until unregistered
     * or until the plugin that registered it stops. lookup returns NULL when
     * no service of that name has version >= min_version; *version (may be
     * NULL) receives the registered version. Callers should list the
     * providing plugin in requires so that it starts first. */
    int (*service_register)(oa_plugin *self, const char *name, uint32_t version,
                            const void *iface);
    int (*service_unregister)(oa_plugin *self, const char *name);
    const void *(*service_lookup)(oa_plugin *self, const char *name, uint32_t min_version,
                                  uint32_t *version);

    /* Where the plugin may keep files: <data dir>/plugins/<name>, created on
     * first call. Valid until destroy. */
    const char *(*data_dir)(oa_plugin *self);
    /* Host-wide settings a plugin may need: "p2p_port", "http_listen",
     * "data_dir". Returns NULL for an unknown name. Valid until destroy. */
    const char *(*host_option)(oa_plugin *self, const char *name);
    /* Milliseconds of a monotonic clock (the loop's cached time). */
    uint64_t (*now_ms)(oa_plugin *self);

    /* ---- SDK 1.1: HTTP on the host's listener ---------------------------
     * Check OA_API_HAS(api, http_route) before use. */

    /* Routes method ("GET", "POST", ..., or "*") and path to handler.
     * Without OA_HTTP_PUBLIC the host requires an admin session or API
     * token (and the CSRF token for a mutating request with a cookie)
     * before the handler runs. The longest matching path wins; a path
     * another plugin or the host holds is OA_EEXIST. Routes end when the
     * plugin stops. */
    int (*http_route)(oa_plugin *self, const char *method, const char *path, unsigned flags,
                      oa_http_handler handler, void *arg);

    /* Request accessors; strings valid until the reply is sent. query and
     * header return NULL when absent (header names are case-insensitive);
     * body is NUL-terminated, *len (may be NULL) gets its size; user is
     * the authenticated user, NULL on a public route without login. */
    const char *(*http_method)(oa_http_req *req);
    const char *(*http_path)(oa_http_req *req);
    const char *(*http_query)(oa_http_req *req, const char *name);
    const char *(*http_header)(oa_http_req *req, const char *name);
    const char *(*http_body)(oa_http_req *req, size_t *len);
    const char *(*http_user)(oa_http_req *req);
    const char *(*http_client)(oa_http_req *req); /* client address, "ip:port" */

    /* Adds a response header (before the reply). */
    int (*http_set_header)(oa_http_req *req, const char *name, const char *value);
    /* Replies with a body (copied). After this req is invalid. */
    int (*http_reply)(oa_http_req *req, int status, const char *content_type, const void *body,
                      size_t len);

    /* Starts a long response: length -1 when unknown (chunked). Data goes
     * out as it is written; on_event reports DRAINED and CLOSED. After this
     * req is invalid; *stream is valid until CLOSED is reported. */
    int (*http_stream_open)(oa_http_req *req, int status, const char *content_type,
                            int64_t length, size_t queue_limit, oa_http_stream_cb on_event,
                            void *arg, oa_http_stream **stream);
    /* Queues a copy of data. OA_EOVERFLOW (nothing queued) when the queue
     * would pass its limit: wait for DRAINED, or drop. */
    int (*http_stream_write)(oa_http_stream *stream, const void *data, size_t len);
    /* Bytes queued and not yet handed to the socket. */
    size_t (*http_stream_queued)(oa_http_stream *stream);
    /* Ends the response once the queue is sent; CLOSED follows. */
    int (*http_stream_end)(oa_http_stream *stream);
};

#ifdef __cplusplus
}
#endif

#endif /* OPENACE_SDK_H */
