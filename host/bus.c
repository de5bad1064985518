/* Event bus: a bounded queue filled by publishers on any thread and drained
 * on the loop thread by a uv_async_t, which hands each event to every
 * matching subscriber.
 *
 * Threads: oa_bus_publish may be called from any thread while the bus is
 * open. Every other function, and every subscriber callback, runs on the
 * loop thread. The queue and the published/dropped counters are guarded by
 * the bus mutex; the subscription list belongs to the loop thread.
 *
 * The bus's async handle is referenced: an open bus keeps uv_run() in
 * UV_RUN_DEFAULT mode going until oa_bus_close. */
#include "bus.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define OA_BUS_DEFAULT_CAPACITY 8192
#define OA_BUS_TOPIC_MAX 128

typedef struct bus_event {
    struct bus_event *next;
    size_t json_len;
    char *json;    /* points into data, after the topic */
    char data[];   /* topic NUL json NUL */
} bus_event;

typedef struct bus_sub {
    struct bus_sub *next;
    uint64_t id;
    oa_event_cb cb;
    void *arg;
    const void *owner;
    int dead; /* unsubscribed during delivery; freed by the sweep */
    char pattern[OA_BUS_TOPIC_MAX + 1];
} bus_sub;

struct oa_bus {
    uv_loop_t *loop;
    uv_async_t async;

    /* Guarded by lock. */
    uv_mutex_t lock;
    bus_event *head;
    bus_event *tail;
    size_t queued;
    size_t capacity;
    uint64_t published;
    uint64_t dropped;
    int closing;

    /* Loop thread only. */
    bus_sub *subs;
    bus_sub *subs_tail;
    size_t live_subs;
    size_t dead_subs;
    uint64_t next_id;
    uint64_t delivered;
    int delivering;
};

static void free_events(bus_event *ev)
{
    bus_event *next;

    while (ev != NULL) {
        next = ev->next;
        free(ev);
        ev = next;
    }
}

static void free_subs(oa_bus *bus)
{
    bus_sub *s = bus->subs;
    bus_sub *next;

    while (s != NULL) {
        next = s->next;
        free(s);
        s = next;
    }
    bus->subs = NULL;
    bus->subs_tail = NULL;
    bus->live_subs = 0;
    bus->dead_subs = 0;
}

/* Frees the subscriptions marked dead during a delivery batch. */
static void sweep_subs(oa_bus *bus)
{
    bus_sub **link = &bus->subs;
    bus_sub *s;

    bus->subs_tail = NULL;
    while (*link != NULL) {
        s = *link;
        if (s->dead) {
            *link = s->next;
            free(s);
            continue;
        }
        bus->subs_tail = s;
        link = &s->next;
    }
    bus->dead_subs = 0;
}

/* Ends one subscription: unlinked and freed at once, or only marked dead
 * while a delivery batch walks the list. prev is the entry before s, or
 * NULL. Returns 1 when s was unlinked. */
static int remove_sub(oa_bus *bus, bus_sub *prev, bus_sub *s)
{
    bus->live_subs--;
    if (bus->delivering) {
        s->dead = 1;
        bus->dead_subs++;
        return 0;
    }
    if (prev == NULL) {
        bus->subs = s->next;
    } else {
        prev->next = s->next;
    }
    if (bus->subs_tail == s) {
        bus->subs_tail = prev;
    }
    free(s);
    return 1;
}

static int word_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* Returns 1 when the first len bytes of s are words joined by single dots. */
static int words_valid(const char *s, size_t len)
{
    size_t i;
    int word_len = 0;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (word_len == 0) {
                return 0;
            }
            word_len = 0;
            continue;
        }
        if (!word_char(s[i])) {
            return 0;
        }
        word_len++;
    }
    return word_len > 0;
}

/* Returns 1 when a topic is well-formed: words of [A-Za-z0-9_-] joined by
 * single dots, 1 to 128 bytes. NULL is not. */
int oa_bus_topic_valid(const char *topic)
{
    size_t len;

    if (topic == NULL) {
        return 0;
    }
    len = strnlen(topic, OA_BUS_TOPIC_MAX + 1);
    if (len > OA_BUS_TOPIC_MAX) {
        return 0;
    }
    return words_valid(topic, len);
}

/* Returns 1 for "*", for a valid topic, and for a valid topic followed by
 * ".*"; at most 128 bytes. */
static int pattern_valid(const char *pattern)
{
    size_t len;

    if (pattern == NULL) {
        return 0;
    }
    len = strnlen(pattern, OA_BUS_TOPIC_MAX + 1);
    if (len > OA_BUS_TOPIC_MAX) {
        return 0;
    }
    if (len == 1 && pattern[0] == '*') {
        return 1;
    }
    if (len >= 3 && pattern[len - 2] == '.' && pattern[len - 1] == '*') {
        return words_valid(pattern, len - 2);
    }
    return words_valid(pattern, len);
}

/* Matches a pattern and a topic already known to be valid. */
static int match_valid(const char *pattern, const char *topic)
{
    size_t plen;

    if (pattern[0] == '*' && pattern[1] == '\0') {
        return 1;
    }
    plen = strlen(pattern);
    if (pattern[plen - 1] == '*') {
        /* "a.b.*": the topic starts with "a.b." and, being valid, has at
         * least one more word. */
        return strncmp(pattern, topic, plen - 1) == 0;
    }
    return strcmp(pattern, topic) == 0;
}

/* Returns 1 when pattern ("*", "prefix.*" or an exact topic) matches topic,
 * and 0 otherwise, including when either of them is malformed. */
int oa_bus_match(const char *pattern, const char *topic)
{
    if (!pattern_valid(pattern) || !oa_bus_topic_valid(topic)) {
        return 0;
    }
    return match_valid(pattern, topic);
}

/* Hands every event of the queue as it is now to the matching subscribers,
 * in publish order, each to subscribers in subscription order. Events
 * published meanwhile wait for the next batch. */
static void deliver_batch(oa_bus *bus)
{
    bus_event *batch;
    bus_event *ev;
    bus_sub *last;
    bus_sub *s;

    if (bus->delivering) {
        return;
    }
    uv_mutex_lock(&bus->lock);
    batch = bus->head;
    bus->head = NULL;
    bus->tail = NULL;
    bus->queued = 0;
    uv_mutex_unlock(&bus->lock);

    bus->delivering = 1;
    while (batch != NULL && !bus->closing) {
        ev = batch;
        batch = ev->next;
        /* Subscriptions added by a callback from here on start with the
         * next event. */
        last = bus->subs_tail;
        for (s = bus->subs; s != NULL && !bus->closing; s = s->next) {
            if (!s->dead && match_valid(s->pattern, ev->data)) {
                bus->delivered++;
                s->cb(s->arg, ev->data, ev->json, ev->json_len);
            }
            if (s == last) {
                break;
            }
        }
        free(ev);
    }
    bus->delivering = 0;
    free_events(batch);
    if (bus->closing) {
        /* A callback closed the bus; oa_bus_close left this to us. */
        free_subs(bus);
        return;
    }
    if (bus->dead_subs > 0) {
        sweep_subs(bus);
    }
}

static void on_async(uv_async_t *handle)
{
    deliver_batch(handle->data);
}

static void on_close(uv_handle_t *handle)
{
    oa_bus *bus = handle->data;

    uv_mutex_destroy(&bus->lock);
    free(bus);
}

/* Creates a bus on loop (capacity 0 means 8192) and stores it in *out. The
 * caller ends it with oa_bus_close. OA_EINVAL for a NULL argument, OA_ENOMEM
 * or OA_EIO when memory or the async handle cannot be had. */
int oa_bus_new(uv_loop_t *loop, size_t capacity, oa_bus **out)
{
    oa_bus *bus;

    if (loop == NULL || out == NULL) {
        return OA_EINVAL;
    }
    bus = calloc(1, sizeof(*bus));
    if (bus == NULL) {
        return OA_ENOMEM;
    }
    if (uv_mutex_init(&bus->lock) != 0) {
        free(bus);
        return OA_EIO;
    }
    if (uv_async_init(loop, &bus->async, on_async) != 0) {
        uv_mutex_destroy(&bus->lock);
        free(bus);
        return OA_EIO;
    }
    bus->async.data = bus;
    bus->loop = loop;
    bus->capacity = capacity == 0 ? OA_BUS_DEFAULT_CAPACITY : capacity;
    bus->next_id = 1;
    *out = bus;
    return 0;
}

/* Drops queued events and every subscription, and closes the async handle;
 * the bus is freed in its close callback, so the loop must run once more.
 * May be called from a subscriber callback (delivery stops after it). No
 * bus function may be called afterwards, and publishers on other threads
 * must have stopped before it is called. */
void oa_bus_close(oa_bus *bus)
{
    bus_event *queue;

    if (bus == NULL) {
        return;
    }
    uv_mutex_lock(&bus->lock);
    if (bus->closing) {
        uv_mutex_unlock(&bus->lock);
        return;
    }
    bus->closing = 1;
    queue = bus->head;
    bus->head = NULL;
    bus->tail = NULL;
    bus->queued = 0;
    uv_mutex_unlock(&bus->lock);
    free_events(queue);
    if (!bus->delivering) {
        free_subs(bus);
    }
    uv_close((uv_handle_t *)&bus->async, on_close);
}

/* Copies topic and json (NULL for "{}") into the queue and wakes the loop.
 * Refuses a malformed topic or JSON text with OA_EINVAL and a full queue with
 * OA_EOVERFLOW (counted as dropped); nothing is queued then. Never calls a
 * subscriber. Any thread, until oa_bus_close. */
int oa_bus_publish(oa_bus *bus, const char *topic, const char *json)
{
    bus_event *ev;
    json_t *parsed;
    json_error_t jerr;
    size_t topic_len;
    size_t json_len;

    if (bus == NULL || !oa_bus_topic_valid(topic)) {
        return OA_EINVAL;
    }
    if (json == NULL) {
        json = "{}";
    }
    parsed = json_loads(json, JSON_DECODE_ANY, &jerr);
    if (parsed == NULL) {
        return OA_EINVAL;
    }
    json_decref(parsed);

    topic_len = strlen(topic);
    json_len = strlen(json);
    ev = malloc(sizeof(*ev) + topic_len + 1 + json_len + 1);
    if (ev == NULL) {
        return OA_ENOMEM;
    }
    ev->next = NULL;
    ev->json_len = json_len;
    memcpy(ev->data, topic, topic_len + 1);
    ev->json = ev->data + topic_len + 1;
    memcpy(ev->json, json, json_len + 1);

    uv_mutex_lock(&bus->lock);
    if (bus->closing) {
        uv_mutex_unlock(&bus->lock);
        free(ev);
        return OA_ESTATE;
    }
    if (bus->queued >= bus->capacity) {
        bus->dropped++;
        uv_mutex_unlock(&bus->lock);
        free(ev);
        return OA_EOVERFLOW;
    }
    if (bus->tail == NULL) {
        bus->head = ev;
    } else {
        bus->tail->next = ev;
    }
    bus->tail = ev;
    bus->queued++;
    bus->published++;
    /* Sent under the lock so that it cannot race with uv_close in
     * oa_bus_close, which sets closing under the same lock first. */
    uv_async_send(&bus->async);
    uv_mutex_unlock(&bus->lock);
    return 0;
}

/* Subscribes cb(arg, ...) to the topics pattern matches; *id (id may be
 * NULL) receives the subscription id, counting from 1. A subscription added
 * by a callback does not receive the event being delivered. OA_EINVAL for a
 * malformed pattern or a NULL bus or cb, OA_ENOMEM. Loop thread. */
int oa_bus_subscribe(oa_bus *bus, const char *pattern, oa_event_cb cb, void *arg,
                     const void *owner, uint64_t *id)
{
    bus_sub *s;

    if (bus == NULL || cb == NULL || !pattern_valid(pattern)) {
        return OA_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OA_ENOMEM;
    }
    strcpy(s->pattern, pattern);
    s->cb = cb;
    s->arg = arg;
    s->owner = owner;
    s->id = bus->next_id++;
    if (bus->subs_tail == NULL) {
        bus->subs = s;
    } else {
        bus->subs_tail->next = s;
    }
    bus->subs_tail = s;
    bus->live_subs++;
    if (id != NULL) {
        *id = s->id;
    }
    return 0;
}

/* Ends subscription id; it receives nothing more, even later in the batch
 * being delivered. With owner not NULL the subscription must belong to
 * owner. OA_ENOENT when there is no such (live) subscription. Loop thread. */
int oa_bus_unsubscribe(oa_bus *bus, uint64_t id, const void *owner)
{
    bus_sub *prev = NULL;
    bus_sub *s;

    if (bus == NULL) {
        return OA_EINVAL;
    }
    for (s = bus->subs; s != NULL; s = s->next) {
        if (s->id == id && !s->dead) {
            if (owner != NULL && s->owner != owner) {
                return OA_ENOENT;
            }
            remove_sub(bus, prev, s);
            return 0;
        }
        prev = s;
    }
    return OA_ENOENT;
}

/* Ends every subscription of owner and returns how many there were. A NULL
 * owner matches nothing: subscriptions without an owner end by id. Loop
 * thread. */
size_t oa_bus_unsubscribe_owner(oa_bus *bus, const void *owner)
{
    bus_sub *prev = NULL;
    bus_sub *s;
    bus_sub *next;
    size_t n = 0;

    if (bus == NULL || owner == NULL) {
        return 0;
    }
    for (s = bus->subs; s != NULL; s = next) {
        next = s->next;
        if (s->owner == owner && !s->dead) {
            n++;
            if (remove_sub(bus, prev, s)) {
                continue; /* unlinked: prev stays the entry before next */
            }
        }
        prev = s;
    }
    return n;
}

/* Delivers the events queued now, before returning. Events published by the
 * callbacks meanwhile stay queued for the loop. Called from a subscriber
 * callback it does nothing. Loop thread. */
void oa_bus_flush(oa_bus *bus)
{
    if (bus == NULL || bus->closing) {
        return;
    }
    deliver_batch(bus);
}

/* Fills *st with the counters; see oa_bus_stats. Loop thread. */
void oa_bus_get_stats(oa_bus *bus, oa_bus_stats *st)
{
    if (bus == NULL || st == NULL) {
        return;
    }
    memset(st, 0, sizeof(*st));
    uv_mutex_lock(&bus->lock);
    st->published = bus->published;
    st->dropped = bus->dropped;
    st->queued = bus->queued;
    st->capacity = bus->capacity;
    uv_mutex_unlock(&bus->lock);
    st->delivered = bus->delivered;
    st->subscribers = bus->live_subs;
}
