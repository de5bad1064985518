/* Event bus: publish/subscribe by topic with "prefix.*" and "*" patterns.
 * Events are queued (bounded; overflow is dropped and counted) and delivered
 * later on the loop thread, never inside publish. oa_bus_publish may be
 * called from any thread; every other function, and every subscriber
 * callback, runs on the loop thread. */
#ifndef OA_HOST_BUS_H
#define OA_HOST_BUS_H

#include <openace/sdk.h>
#include <uv.h>

typedef struct oa_bus oa_bus;

typedef struct oa_bus_stats {
    uint64_t published; /* accepted into the queue */
    uint64_t delivered; /* subscriber calls made */
    uint64_t dropped;   /* refused because the queue was full */
    size_t queued;      /* waiting now */
    size_t capacity;
    size_t subscribers;
} oa_bus_stats;

/* Creates a bus on loop holding at most capacity queued events (0 for the
 * default, 8192). Its uv handle is closed by oa_bus_close. */
int oa_bus_new(uv_loop_t *loop, size_t capacity, oa_bus **out);
/* Drops queued events, closes the handle; the bus is freed in the close
 * callback, so run the loop once more afterwards. */
void oa_bus_close(oa_bus *bus);

/* Returns 1 when a topic is well-formed: words of [A-Za-z0-9_-] joined by
 * single dots, at most 128 bytes. */
int oa_bus_topic_valid(const char *topic);
/* Returns 1 when pattern matches topic. */
int oa_bus_match(const char *pattern, const char *topic);

/* Queues an event. json NULL means "{}"; invalid JSON gives OA_EINVAL.
 * Full queue: OA_EOVERFLOW and the dropped counter grows. Any thread. */
int oa_bus_publish(oa_bus *bus, const char *topic, const char *json);

/* owner is an opaque tag (the plugin) used by oa_bus_unsubscribe_owner. */
int oa_bus_subscribe(oa_bus *bus, const char *pattern, oa_event_cb cb, void *arg,
                     const void *owner, uint64_t *id);
/* OA_ENOENT when no such id (or owner mismatch, when owner is not NULL). */
int oa_bus_unsubscribe(oa_bus *bus, uint64_t id, const void *owner);
/* Ends every subscription of owner. Returns how many. */
size_t oa_bus_unsubscribe_owner(oa_bus *bus, const void *owner);

/* Delivers every queued event now (used at shutdown and by tests). */
void oa_bus_flush(oa_bus *bus);
void oa_bus_get_stats(oa_bus *bus, oa_bus_stats *st);

#endif
