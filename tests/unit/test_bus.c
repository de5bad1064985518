/* Unit tests for host/bus.c: topic and pattern rules, delivery on the loop
 * in order, overflow, changes to subscriptions during delivery, and
 * publishing from worker threads. Every test closes its bus, runs the loop
 * so the bus is freed, and checks that the loop closes cleanly. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bus.h"
#include "testutil.h"

/* ------------------------------------------------------------------------ */
/* A recording of deliveries: who got which topic with which JSON text. */

#define MAX_RECORDS 256

typedef struct record {
    int who;
    char topic[129];
    char json[128];
    size_t len;
} record;

typedef struct journal {
    record rec[MAX_RECORDS];
    size_t n;
} journal;

typedef struct fixture fixture;

/* One subscriber: it writes to the journal and may act on the bus. */
typedef struct sub {
    fixture *fx;
    int who;
    uint64_t id;
    int calls;
    /* Actions taken on the first call only. */
    int unsubscribe_self;
    uint64_t unsubscribe_other;
    const void *unsubscribe_owner;
    struct sub *subscribe_new; /* subscribed to "*" */
    const char *publish_topic;
    int close_bus;
} sub;

struct fixture {
    uv_loop_t loop;
    oa_bus *bus;
    journal log;
};

static void fixture_open(fixture *fx, size_t capacity)
{
    memset(fx, 0, sizeof(*fx));
    assert_int_equal(uv_loop_init(&fx->loop), 0);
    assert_int_equal(oa_bus_new(&fx->loop, capacity, &fx->bus), 0);
    assert_non_null(fx->bus);
}

/* Closes the bus, runs the loop so that it is freed, closes the loop. */
static void fixture_close(fixture *fx)
{
    oa_bus_close(fx->bus);
    fx->bus = NULL;
    assert_int_equal(uv_run(&fx->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
}

/* Runs one non-blocking loop iteration: delivers what is queued. */
static void run_once(fixture *fx)
{
    uv_run(&fx->loop, UV_RUN_NOWAIT);
}

static void on_event(void *arg, const char *topic, const char *json, size_t len)
{
    sub *s = arg;
    fixture *fx = s->fx;
    record *r;
    size_t before;

    assert_true(fx->log.n < MAX_RECORDS);
    r = &fx->log.rec[fx->log.n];
    fx->log.n++;
    r->who = s->who;
    snprintf(r->topic, sizeof(r->topic), "%s", topic);
    snprintf(r->json, sizeof(r->json), "%s", json);
    r->len = len;
    assert_int_equal(strlen(json), len);
    s->calls++;
    if (s->calls != 1) {
        return;
    }
    if (s->unsubscribe_self) {
        assert_int_equal(oa_bus_unsubscribe(fx->bus, s->id, NULL), 0);
        assert_int_equal(oa_bus_unsubscribe(fx->bus, s->id, NULL), OA_ENOENT);
    }
    if (s->unsubscribe_other != 0) {
        assert_int_equal(oa_bus_unsubscribe(fx->bus, s->unsubscribe_other, NULL), 0);
    }
    if (s->unsubscribe_owner != NULL) {
        assert_int_equal(oa_bus_unsubscribe_owner(fx->bus, s->unsubscribe_owner), 2);
    }
    if (s->subscribe_new != NULL) {
        assert_int_equal(oa_bus_subscribe(fx->bus, "*", on_event, s->subscribe_new, NULL,
                                          &s->subscribe_new->id),
                         0);
    }
    if (s->publish_topic != NULL) {
        before = fx->log.n;
        assert_int_equal(oa_bus_publish(fx->bus, s->publish_topic, "{\"from\":\"callback\"}"), 0);
        /* Neither publish nor flush delivers from inside a delivery. */
        oa_bus_flush(fx->bus);
        assert_int_equal(fx->log.n, before);
    }
    if (s->close_bus) {
        oa_bus_close(fx->bus);
    }
}

static void add_sub(fixture *fx, sub *s, int who, const char *pattern, const void *owner)
{
    s->fx = fx;
    s->who = who;
    assert_int_equal(oa_bus_subscribe(fx->bus, pattern, on_event, s, owner, &s->id), 0);
}

static void expect_record(fixture *fx, size_t i, int who, const char *topic, const char *json)
{
    assert_true(i < fx->log.n);
    assert_int_equal(fx->log.rec[i].who, who);
    assert_string_equal(fx->log.rec[i].topic, topic);
    assert_string_equal(fx->log.rec[i].json, json);
    assert_int_equal(fx->log.rec[i].len, strlen(json));
}

/* ------------------------------------------------------------------------ */

static void test_topic_valid(void **state)
{
    static const char *const good[] = {"a", "swarm.peer.connected", "A-b_9.x", "plugin.my-plugin.state"};
    static const char *const bad[] = {"", ".", "a.", ".a", "a..b", "a b", "a/b", "*", "a.*",
                                      "caf\xc3\xa9", "a\tb"};
    char longest[130];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(oa_bus_topic_valid(good[i]), 1);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(oa_bus_topic_valid(bad[i]), 0);
    }
    assert_int_equal(oa_bus_topic_valid(NULL), 0);
    memset(longest, 'a', 128);
    longest[128] = '\0';
    assert_int_equal(oa_bus_topic_valid(longest), 1);
    longest[128] = 'a';
    longest[129] = '\0';
    assert_int_equal(oa_bus_topic_valid(longest), 0);
}

static void test_match(void **state)
{
    (void)state;
    assert_int_equal(oa_bus_match("*", "swarm"), 1);
    assert_int_equal(oa_bus_match("*", "a.b.c"), 1);
    assert_int_equal(oa_bus_match("swarm.*", "swarm.peer.connected"), 1);
    assert_int_equal(oa_bus_match("swarm.*", "swarm.x"), 1);
    assert_int_equal(oa_bus_match("swarm.*", "swarm"), 0);
    assert_int_equal(oa_bus_match("swarm.*", "swarmx.a"), 0);
    assert_int_equal(oa_bus_match("swarm.peer.*", "swarm.peer.connected"), 1);
    assert_int_equal(oa_bus_match("swarm.peer.*", "swarm.peers.x"), 0);
    assert_int_equal(oa_bus_match("a.b", "a.b"), 1);
    assert_int_equal(oa_bus_match("a.b", "a.b.c"), 0);
    assert_int_equal(oa_bus_match("a.b", "a"), 0);
    /* Malformed patterns or topics match nothing. */
    assert_int_equal(oa_bus_match("a.*.b", "a.x.b"), 0);
    assert_int_equal(oa_bus_match("a*", "ab"), 0);
    assert_int_equal(oa_bus_match("*.a", "b.a"), 0);
    assert_int_equal(oa_bus_match(".*", "a"), 0);
    assert_int_equal(oa_bus_match("", "a"), 0);
    assert_int_equal(oa_bus_match("*", "a..b"), 0);
    assert_int_equal(oa_bus_match(NULL, "a"), 0);
    assert_int_equal(oa_bus_match("*", NULL), 0);
}

static void test_exact_prefix_and_star(void **state)
{
    fixture fx;
    sub exact = {0};
    sub prefix = {0};
    sub star = {0};
    sub other = {0};

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &exact, 1, "swarm.peer.connected", NULL);
    add_sub(&fx, &prefix, 2, "swarm.*", NULL);
    add_sub(&fx, &star, 3, "*", NULL);
    add_sub(&fx, &other, 4, "other", NULL);

    assert_int_equal(oa_bus_publish(fx.bus, "swarm.peer.connected", "{\"peer\":1}"), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "swarmx.a", "[1,2]"), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "swarm", NULL), 0);
    run_once(&fx);

    /* Events in publish order, each to subscribers in subscription order. */
    assert_int_equal(fx.log.n, 5);
    expect_record(&fx, 0, 1, "swarm.peer.connected", "{\"peer\":1}");
    expect_record(&fx, 1, 2, "swarm.peer.connected", "{\"peer\":1}");
    expect_record(&fx, 2, 3, "swarm.peer.connected", "{\"peer\":1}");
    expect_record(&fx, 3, 3, "swarmx.a", "[1,2]");
    expect_record(&fx, 4, 3, "swarm", "{}");
    assert_int_equal(other.calls, 0);
    fixture_close(&fx);
}

static void test_delivery_only_in_loop(void **state)
{
    fixture fx;
    sub s = {0};
    oa_bus_stats st;

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &s, 1, "*", NULL);
    assert_int_equal(oa_bus_publish(fx.bus, "a.b", "{}"), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "a.c", "{}"), 0);
    assert_int_equal(s.calls, 0);
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.published, 2);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.delivered, 0);
    assert_int_equal(st.subscribers, 1);
    assert_int_equal(st.capacity, 8192);

    run_once(&fx);
    assert_int_equal(s.calls, 2);
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.delivered, 2);

    /* oa_bus_flush delivers without the loop. */
    assert_int_equal(oa_bus_publish(fx.bus, "a.d", "{}"), 0);
    assert_int_equal(s.calls, 2);
    oa_bus_flush(fx.bus);
    assert_int_equal(s.calls, 3);
    expect_record(&fx, 2, 1, "a.d", "{}");
    fixture_close(&fx);
}

static void test_order_preserved(void **state)
{
    fixture fx;
    sub a = {0};
    sub b = {0};
    char json[32];
    int i;

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &a, 1, "seq.*", NULL);
    add_sub(&fx, &b, 2, "*", NULL);
    for (i = 0; i < 100; i++) {
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        assert_int_equal(oa_bus_publish(fx.bus, i % 2 == 0 ? "seq.even" : "seq.odd", json), 0);
    }
    run_once(&fx);
    assert_int_equal(fx.log.n, 200);
    for (i = 0; i < 100; i++) {
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        expect_record(&fx, (size_t)(2 * i), 1, i % 2 == 0 ? "seq.even" : "seq.odd", json);
        expect_record(&fx, (size_t)(2 * i + 1), 2, i % 2 == 0 ? "seq.even" : "seq.odd", json);
    }
    fixture_close(&fx);
}

static void test_invalid_refused(void **state)
{
    static const char *const bad_json[] = {"", "{", "{\"a\":1} x", "{'a':1}", "nul", "[1,]"};
    static const char *const good_json[] = {"42", "\"text\"", "[1,2]", "null", " {\"a\":[true]} "};
    fixture fx;
    sub s = {0};
    oa_bus_stats st;
    uint64_t id = 99;
    size_t i;

    (void)state;
    fixture_open(&fx, 0);
    s.fx = &fx;
    assert_int_equal(oa_bus_subscribe(fx.bus, "a.*.b", on_event, &s, NULL, &id), OA_EINVAL);
    assert_int_equal(oa_bus_subscribe(fx.bus, "", on_event, &s, NULL, &id), OA_EINVAL);
    assert_int_equal(oa_bus_subscribe(fx.bus, NULL, on_event, &s, NULL, &id), OA_EINVAL);
    assert_int_equal(oa_bus_subscribe(fx.bus, "a.", on_event, &s, NULL, &id), OA_EINVAL);
    assert_int_equal(oa_bus_subscribe(fx.bus, "*", NULL, &s, NULL, &id), OA_EINVAL);
    assert_int_equal(id, 99);
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.subscribers, 0);

    add_sub(&fx, &s, 1, "*", NULL);
    assert_int_equal(oa_bus_publish(fx.bus, "a..b", "{}"), OA_EINVAL);
    assert_int_equal(oa_bus_publish(fx.bus, "a.*", "{}"), OA_EINVAL);
    assert_int_equal(oa_bus_publish(fx.bus, "", "{}"), OA_EINVAL);
    assert_int_equal(oa_bus_publish(fx.bus, NULL, "{}"), OA_EINVAL);
    for (i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        assert_int_equal(oa_bus_publish(fx.bus, "a.b", bad_json[i]), OA_EINVAL);
    }
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.published, 0);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.dropped, 0);
    run_once(&fx);
    assert_int_equal(s.calls, 0);

    /* Any JSON value is accepted and passed on as written. */
    for (i = 0; i < sizeof(good_json) / sizeof(good_json[0]); i++) {
        assert_int_equal(oa_bus_publish(fx.bus, "a.b", good_json[i]), 0);
    }
    run_once(&fx);
    assert_int_equal(s.calls, (int)(sizeof(good_json) / sizeof(good_json[0])));
    for (i = 0; i < sizeof(good_json) / sizeof(good_json[0]); i++) {
        expect_record(&fx, i, 1, "a.b", good_json[i]);
    }
    fixture_close(&fx);
}

static void test_overflow(void **state)
{
    fixture fx;
    sub s = {0};
    oa_bus_stats st;
    char json[32];
    int i;

    (void)state;
    fixture_open(&fx, 4);
    add_sub(&fx, &s, 1, "*", NULL);
    for (i = 0; i < 10; i++) {
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        assert_int_equal(oa_bus_publish(fx.bus, "burst", json), i < 4 ? 0 : OA_EOVERFLOW);
    }
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.capacity, 4);
    assert_int_equal(st.published, 4);
    assert_int_equal(st.dropped, 6);
    assert_int_equal(st.queued, 4);

    run_once(&fx);
    assert_int_equal(s.calls, 4);
    for (i = 0; i < 4; i++) {
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        expect_record(&fx, (size_t)i, 1, "burst", json);
    }
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.delivered, 4);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.dropped, 6);

    /* Room again once delivered. */
    for (i = 0; i < 4; i++) {
        assert_int_equal(oa_bus_publish(fx.bus, "again", NULL), 0);
    }
    assert_int_equal(oa_bus_publish(fx.bus, "again", NULL), OA_EOVERFLOW);
    run_once(&fx);
    assert_int_equal(s.calls, 8);
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.published, 8);
    assert_int_equal(st.delivered, 8);
    assert_int_equal(st.dropped, 7);
    fixture_close(&fx);
}

static void test_unsubscribe_self_during_delivery(void **state)
{
    fixture fx;
    sub self = {0};
    sub after = {0};
    oa_bus_stats st;

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &self, 1, "*", NULL);
    add_sub(&fx, &after, 2, "*", NULL);
    self.unsubscribe_self = 1;
    assert_int_equal(oa_bus_publish(fx.bus, "e.one", NULL), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "e.two", NULL), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "e.three", NULL), 0);
    run_once(&fx);
    assert_int_equal(self.calls, 1);
    assert_int_equal(after.calls, 3);
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.subscribers, 1);
    assert_int_equal(st.delivered, 4);

    /* The swept list still works: later events, new subscriptions. */
    assert_int_equal(oa_bus_publish(fx.bus, "e.four", NULL), 0);
    add_sub(&fx, &self, 3, "e.*", NULL);
    assert_int_equal(self.id, 3);
    run_once(&fx);
    assert_int_equal(after.calls, 4);
    assert_int_equal(self.calls, 2);
    fixture_close(&fx);
}

static void test_unsubscribe_other_during_delivery(void **state)
{
    fixture fx;
    sub first = {0};
    sub victim = {0};
    sub last = {0};

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &first, 1, "*", NULL);
    add_sub(&fx, &victim, 2, "*", NULL);
    add_sub(&fx, &last, 3, "*", NULL);
    first.unsubscribe_other = victim.id;
    assert_int_equal(oa_bus_publish(fx.bus, "x", NULL), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "y", NULL), 0);
    run_once(&fx);
    /* The victim was after the first subscriber: it gets nothing at all. */
    assert_int_equal(victim.calls, 0);
    assert_int_equal(first.calls, 2);
    assert_int_equal(last.calls, 2);
    assert_int_equal(oa_bus_unsubscribe(fx.bus, victim.id, NULL), OA_ENOENT);

    /* Removing the last subscription during delivery, then adding one. */
    first.calls = 0;
    first.unsubscribe_other = last.id;
    assert_int_equal(oa_bus_publish(fx.bus, "z", NULL), 0);
    run_once(&fx);
    assert_int_equal(last.calls, 2);
    add_sub(&fx, &victim, 4, "*", NULL);
    assert_int_equal(oa_bus_publish(fx.bus, "w", NULL), 0);
    run_once(&fx);
    assert_int_equal(victim.calls, 1);
    assert_int_equal(first.calls, 2);
    fixture_close(&fx);
}

static void test_subscribe_during_delivery(void **state)
{
    fixture fx;
    sub adder = {0};
    sub late = {0};

    (void)state;
    fixture_open(&fx, 0);
    late.fx = &fx;
    late.who = 2;
    add_sub(&fx, &adder, 1, "*", NULL);
    adder.subscribe_new = &late;
    assert_int_equal(oa_bus_publish(fx.bus, "first", NULL), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "second", NULL), 0);
    run_once(&fx);
    /* Not the event being delivered, but the ones after it. */
    assert_int_equal(late.calls, 1);
    assert_int_equal(fx.log.n, 3);
    expect_record(&fx, 0, 1, "first", "{}");
    expect_record(&fx, 1, 1, "second", "{}");
    expect_record(&fx, 2, 2, "second", "{}");
    fixture_close(&fx);
}

static void test_publish_during_delivery(void **state)
{
    fixture fx;
    sub chain = {0};
    sub watcher = {0};
    int spins;

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &chain, 1, "start", NULL);
    add_sub(&fx, &watcher, 2, "next", NULL);
    chain.publish_topic = "next";
    assert_int_equal(oa_bus_publish(fx.bus, "start", NULL), 0);
    /* on_event checks that publish and flush inside it deliver nothing. */
    for (spins = 0; spins < 100 && watcher.calls == 0; spins++) {
        run_once(&fx);
    }
    assert_int_equal(watcher.calls, 1);
    expect_record(&fx, 1, 2, "next", "{\"from\":\"callback\"}");
    fixture_close(&fx);
}

static void test_unsubscribe_owner(void **state)
{
    static int owner_a;
    static int owner_b;
    fixture fx;
    sub a1 = {0};
    sub a2 = {0};
    sub a3 = {0};
    sub b1 = {0};
    sub none = {0};
    oa_bus_stats st;

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &a1, 1, "*", &owner_a);
    add_sub(&fx, &b1, 2, "*", &owner_b);
    add_sub(&fx, &a2, 3, "*", &owner_a);
    add_sub(&fx, &none, 4, "*", NULL);
    add_sub(&fx, &a3, 5, "*", &owner_a);
    assert_int_equal(a1.id, 1);
    assert_int_equal(a3.id, 5);

    /* Owner checks on single unsubscribe. */
    assert_int_equal(oa_bus_unsubscribe(fx.bus, a3.id, &owner_b), OA_ENOENT);
    assert_int_equal(oa_bus_unsubscribe(fx.bus, a3.id, &owner_a), 0);
    assert_int_equal(oa_bus_unsubscribe(fx.bus, 0, NULL), OA_ENOENT);
    assert_int_equal(oa_bus_unsubscribe(fx.bus, 77, NULL), OA_ENOENT);

    assert_int_equal(oa_bus_unsubscribe_owner(fx.bus, &owner_a), 2);
    assert_int_equal(oa_bus_unsubscribe_owner(fx.bus, &owner_a), 0);
    assert_int_equal(oa_bus_unsubscribe_owner(fx.bus, NULL), 0);
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.subscribers, 2);
    assert_int_equal(oa_bus_publish(fx.bus, "ev", NULL), 0);
    run_once(&fx);
    assert_int_equal(a1.calls + a2.calls + a3.calls, 0);
    assert_int_equal(b1.calls, 1);
    assert_int_equal(none.calls, 1);

    /* Ids are not reused. */
    add_sub(&fx, &a1, 6, "*", &owner_a);
    assert_int_equal(a1.id, 6);
    fixture_close(&fx);
}

static void test_unsubscribe_owner_during_delivery(void **state)
{
    static int owner_a;
    fixture fx;
    sub a1 = {0};
    sub other = {0};
    sub a2 = {0};

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &a1, 1, "*", &owner_a);
    add_sub(&fx, &other, 2, "*", NULL);
    add_sub(&fx, &a2, 3, "*", &owner_a);
    a1.unsubscribe_owner = &owner_a;
    assert_int_equal(oa_bus_publish(fx.bus, "one", NULL), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "two", NULL), 0);
    run_once(&fx);
    assert_int_equal(a1.calls, 1);
    assert_int_equal(a2.calls, 0);
    assert_int_equal(other.calls, 2);
    fixture_close(&fx);
}

static void test_close_with_queued_events(void **state)
{
    fixture fx;
    sub s = {0};

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &s, 1, "*", NULL);
    assert_int_equal(oa_bus_publish(fx.bus, "never", "{\"big\":[1,2,3]}"), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "never", NULL), 0);
    /* fixture_close runs the loop: the dropped events are not delivered. */
    fixture_close(&fx);
    assert_int_equal(s.calls, 0);
}

static void test_close_from_callback(void **state)
{
    fixture fx;
    sub closer = {0};
    sub next = {0};

    (void)state;
    fixture_open(&fx, 0);
    add_sub(&fx, &closer, 1, "*", NULL);
    add_sub(&fx, &next, 2, "*", NULL);
    closer.close_bus = 1;
    assert_int_equal(oa_bus_publish(fx.bus, "a", NULL), 0);
    assert_int_equal(oa_bus_publish(fx.bus, "b", NULL), 0);
    /* The close runs inside the delivery; the loop then frees the bus. */
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(closer.calls, 1);
    assert_int_equal(next.calls, 0);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

/* ------------------------------------------------------------------------ */
/* Four worker threads publish at once; the loop delivers every event once,
 * and each thread's events in the order that thread published them. */

#define THREADS 4
#define EVENTS_PER_THREAD 10000

typedef struct worker {
    oa_bus *bus;
    int index;
    int failures;
} worker;

typedef struct tally {
    int next[THREADS]; /* the event number each thread is expected to send next */
    int out_of_order;
    long total;
} tally;

static void worker_main(void *arg)
{
    worker *w = arg;
    char topic[32];
    char json[32];
    int i;

    snprintf(topic, sizeof(topic), "worker.%d", w->index);
    for (i = 0; i < EVENTS_PER_THREAD; i++) {
        snprintf(json, sizeof(json), "{\"i\":%d}", i);
        if (oa_bus_publish(w->bus, topic, json) != 0) {
            w->failures++;
        }
    }
}

static void on_worker_event(void *arg, const char *topic, const char *json, size_t len)
{
    tally *t = arg;
    int index = -1;
    int i = -1;

    (void)len;
    if (sscanf(topic, "worker.%d", &index) != 1 || sscanf(json, "{\"i\":%d}", &i) != 1 ||
        index < 0 || index >= THREADS) {
        t->out_of_order++;
        return;
    }
    if (i != t->next[index]) {
        t->out_of_order++;
    }
    t->next[index] = i + 1;
    t->total++;
}

static void on_watchdog(uv_timer_t *timer)
{
    int *expired = timer->data;

    *expired = 1;
}

static void test_publish_from_threads(void **state)
{
    fixture fx;
    uv_thread_t threads[THREADS];
    worker workers[THREADS];
    tally t;
    uv_timer_t watchdog;
    oa_bus_stats st;
    int expired = 0;
    int i;

    (void)state;
    memset(&t, 0, sizeof(t));
    fixture_open(&fx, (size_t)THREADS * EVENTS_PER_THREAD);
    assert_int_equal(oa_bus_subscribe(fx.bus, "worker.*", on_worker_event, &t, NULL, NULL), 0);
    /* Guards against a hang if an event were lost; never fires otherwise. */
    assert_int_equal(uv_timer_init(&fx.loop, &watchdog), 0);
    watchdog.data = &expired;
    assert_int_equal(uv_timer_start(&watchdog, on_watchdog, 120000, 0), 0);

    for (i = 0; i < THREADS; i++) {
        workers[i].bus = fx.bus;
        workers[i].index = i;
        workers[i].failures = 0;
        assert_int_equal(uv_thread_create(&threads[i], worker_main, &workers[i]), 0);
    }
    /* Deliver while the threads are still publishing. */
    while (t.total < (long)THREADS * EVENTS_PER_THREAD && !expired) {
        uv_run(&fx.loop, UV_RUN_ONCE);
    }
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(uv_thread_join(&threads[i]), 0);
        assert_int_equal(workers[i].failures, 0);
    }
    assert_int_equal(expired, 0);
    assert_int_equal(t.total, (long)THREADS * EVENTS_PER_THREAD);
    assert_int_equal(t.out_of_order, 0);
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(t.next[i], EVENTS_PER_THREAD);
    }
    oa_bus_get_stats(fx.bus, &st);
    assert_int_equal(st.published, (uint64_t)THREADS * EVENTS_PER_THREAD);
    assert_int_equal(st.delivered, (uint64_t)THREADS * EVENTS_PER_THREAD);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.queued, 0);

    uv_close((uv_handle_t *)&watchdog, NULL);
    fixture_close(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_valid),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_exact_prefix_and_star),
        cmocka_unit_test(test_delivery_only_in_loop),
        cmocka_unit_test(test_order_preserved),
        cmocka_unit_test(test_invalid_refused),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_unsubscribe_self_during_delivery),
        cmocka_unit_test(test_unsubscribe_other_during_delivery),
        cmocka_unit_test(test_subscribe_during_delivery),
        cmocka_unit_test(test_publish_during_delivery),
        cmocka_unit_test(test_unsubscribe_owner),
        cmocka_unit_test(test_unsubscribe_owner_during_delivery),
        cmocka_unit_test(test_close_with_queued_events),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_publish_from_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
