/*
 * live: the chat of live streams (chat.h is the contract): the history,
 * messages, the commands and the lv_chat_* entry points. chat_http.c serves
 * the HTTP routes and SSE streams; chat_int.h is what the two share.
 *
 * Each open stream keeps its history as a ring of ready-made SSE frames
 * ("id: N\nevent: chat|mute\ndata: <json>\n\n"), numbered by a per-stream
 * counter, bounded by age (one hour), count and bytes.
 */
#include "chat_int.h"
#include "live_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_MAX_AGE_MS (3600u * 1000u)  /* one hour */
#define HIST_MAX_COUNT 2000u             /* messages per stream */
#define HIST_MAX_BYTES (1024u * 1024u)   /* frame bytes per stream */
#define TICK_MS 15000u                   /* keep-alive comment and history pruning */
#define MUTE_MAX_MINUTES 10080           /* a week */

/* ---- small helpers ------------------------------------------------------- */

static int hex_val(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    if (ch >= 'A' && ch <= 'F') {
        return ch - 'A' + 10;
    }
    return -1;
}

/* Exactly 2*n hex digits into n bytes; 0 or OA_EINVAL. */
int chat_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (slen != 2 * n) {
        return OA_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hex_val(s[2 * i]);
        int lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return OA_EINVAL;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

uint64_t chat_mono_ms(lv_chat *c)
{
    return c->host.api->now_ms(c->host.self);
}

/* The next seq for a message this engine signs: above the last one and
 * not below the wall clock in ms, so it keeps growing across restarts. */
static uint64_t next_seq(lv_chat *c)
{
    int64_t now = lv_wallclock_ms();
    uint64_t s = c->seq + 1;
    if (now > 0 && (uint64_t)now > s) {
        s = (uint64_t)now;
    }
    c->seq = s;
    return s;
}

chat_stream *chat_find_stream(lv_chat *c, const uint8_t id[20])
{
    for (chat_stream *st = c->streams; st != NULL; st = st->next) {
        if (memcmp(st->id, id, OA_LC_ID_LEN) == 0) {
            return st;
        }
    }
    return NULL;
}

/* ---- history -------------------------------------------------------------- */

hist_entry *chat_hist_at(chat_stream *st, uint64_t id)
{
    if (id < st->first_id || id >= st->first_id + st->count) {
        return NULL;
    }
    return &st->ring[(st->head + (size_t)(id - st->first_id)) % st->cap];
}

static void hist_drop_oldest(chat_stream *st)
{
    hist_entry *e = &st->ring[st->head];
    st->bytes -= e->frame_len;
    free(e->frame);
    e->frame = NULL;
    st->head = (st->head + 1) % st->cap;
    st->count--;
    st->first_id++;
}

/* Drops entries older than an hour, and more while over the count or
 * byte limit with extra_bytes more to come. */
static void hist_prune(chat_stream *st, uint64_t now, size_t extra_count, size_t extra_bytes)
{
    while (st->count > 0) {
        hist_entry *e = &st->ring[st->head];
        int old = now >= e->recv_ms && now - e->recv_ms > HIST_MAX_AGE_MS;
        if (!old && st->count + extra_count <= HIST_MAX_COUNT &&
            st->bytes + extra_bytes <= HIST_MAX_BYTES) {
            break;
        }
        hist_drop_oldest(st);
    }
}

/* Moves the ring into a larger array (entries in order from index 0). */
static int hist_grow(chat_stream *st)
{
    size_t cap = st->cap ? st->cap * 2 : 16;
    hist_entry *v;
    if (cap > HIST_MAX_COUNT) {
        cap = HIST_MAX_COUNT;
    }
    v = calloc(cap, sizeof(*v));
    if (v == NULL) {
        return OA_ENOMEM;
    }
    for (size_t i = 0; i < st->count; i++) {
        v[i] = st->ring[(st->head + i) % st->cap];
    }
    free(st->ring);
    st->ring = v;
    st->cap = cap;
    st->head = 0;
    return 0;
}

/* Appends one frame (json is copied into it) and returns its id, or
 * OA_ENOMEM. The oldest entries go first when a limit is reached. */
static int hist_add(lv_chat *c, chat_stream *st, const char *event, const char *json,
                    uint64_t *id_out)
{
    size_t jlen = strlen(json);
    size_t cap = jlen + strlen(event) + 64;
    hist_entry *e;
    char *frame = malloc(cap);
    int head;

    if (frame == NULL) {
        return OA_ENOMEM;
    }
    head = snprintf(frame, cap, "id: %llu\nevent: %s\ndata: ", (unsigned long long)st->next_id,
                    event);
    memcpy(frame + head, json, jlen);
    memcpy(frame + head + jlen, "\n\n", 3);
    hist_prune(st, chat_mono_ms(c), 1, (size_t)head + jlen + 2);
    if (st->count == st->cap && hist_grow(st) != 0) {
        free(frame);
        return OA_ENOMEM;
    }
    e = &st->ring[(st->head + st->count) % st->cap];
    e->recv_ms = chat_mono_ms(c);
    e->frame = frame;
    e->frame_len = (size_t)head + jlen + 2;
    e->json_off = (size_t)head;
    e->json_len = jlen;
    if (st->count == 0) {
        st->first_id = st->next_id;
    }
    st->count++;
    st->bytes += e->frame_len;
    *id_out = st->next_id++;
    return 0;
}

static void hist_free(chat_stream *st)
{
    while (st->count > 0) {
        hist_drop_oldest(st);
    }
    free(st->ring);
    st->ring = NULL;
    st->cap = 0;
}

/* Every 15 s: the keep-alive comment, stuck clients dropped, old history
 * pruned, expired mutes forgotten. */
static void on_tick(void *arg, oa_timer *t)
{
    lv_chat *c = arg;
    uint64_t now = chat_mono_ms(c);
    int64_t now_s = lv_wallclock_ms() / 1000;
    (void)t;

    chat_http_tick(c, now);
    for (chat_stream *st = c->streams; st != NULL; st = st->next) {
        size_t k = 0;
        hist_prune(st, now, 0, 0);
        for (size_t i = 0; i < st->nmutes; i++) {
            if (st->mutes[i].until > now_s) {
                st->mutes[k++] = st->mutes[i];
            }
        }
        st->nmutes = k;
    }
}

/* ---- messages ---------------------------------------------------------------- */

static int is_muted(const chat_stream *st, const uint8_t from[32], int64_t now_s)
{
    for (size_t i = 0; i < st->nmutes; i++) {
        if (memcmp(st->mutes[i].target, from, OA_LC_KEY_LEN) == 0 && st->mutes[i].until > now_s) {
            return 1;
        }
    }
    return 0;
}

static void mute_add(chat_stream *st, const uint8_t target[32], int64_t until)
{
    size_t i;
    for (i = 0; i < st->nmutes; i++) {
        if (memcmp(st->mutes[i].target, target, OA_LC_KEY_LEN) == 0) {
            break;
        }
    }
    if (i == st->nmutes) {
        if (st->nmutes == MAX_MUTES) {
            /* Full: the one that ends first makes room. */
            size_t first = 0;
            for (size_t k = 1; k < st->nmutes; k++) {
                if (st->mutes[k].until < st->mutes[first].until) {
                    first = k;
                }
            }
            i = first;
        } else {
            st->nmutes++;
        }
    }
    memcpy(st->mutes[i].target, target, OA_LC_KEY_LEN);
    st->mutes[i].until = until;
}

/* Adds name to arr unless it is there already. */
static void add_unique(json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(v), name) == 0) {
            return;
        }
    }
    json_array_append_new(arr, json_string(name));
}

/* The JSON object of a decoded message (chat.h gives its fields). */
static json_t *message_json(const chat_stream *st, const oa_lc_chat *m)
{
    char from[65];
    json_t *o;
    lv_hex_encode(m->from, OA_LC_KEY_LEN, from);
    if (m->kind == 1) {
        char target[65];
        lv_hex_encode(m->target, OA_LC_KEY_LEN, target);
        return json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I}", "event", "mute", "content_id",
                         st->hex, "from", from, "seq", (json_int_t)m->seq, "target", target,
                         "until", (json_int_t)m->until, "ts_ms", (json_int_t)m->ts_ms);
    }
    o = json_pack("{s:s, s:s, s:I, s:s, s:[], s:[], s:I}", "content_id", st->hex, "from", from,
                  "seq", (json_int_t)m->seq, "text", m->text, "mentions", "emotes", "ts_ms",
                  (json_int_t)m->ts_ms);
    if (o != NULL) {
        oa_lc_token tok[OA_LC_CHAT_MAX_TOKENS];
        size_t n = oa_lc_chat_tokens(m->text, tok, OA_LC_CHAT_MAX_TOKENS);
        json_t *mentions = json_object_get(o, "mentions");
        json_t *emotes = json_object_get(o, "emotes");
        if (n > OA_LC_CHAT_MAX_TOKENS) {
            n = OA_LC_CHAT_MAX_TOKENS;
        }
        for (size_t i = 0; i < n; i++) {
            add_unique(tok[i].kind == 'm' ? mentions : emotes, tok[i].name);
        }
    }
    return o;
}

void lv_chat_received(lv_chat *c, const uint8_t id[20], const uint8_t *msg, size_t len)
{
    const oa_host_api *api;
    chat_stream *st;
    oa_lc_chat *m;
    char err[160];
    json_t *o;
    char *json;
    uint64_t hid;
    int rc;

    if (c == NULL || id == NULL || msg == NULL) {
        return;
    }
    api = c->host.api;
    st = chat_find_stream(c, id);
    if (st == NULL) {
        api->log(c->host.self, OA_LOG_DEBUG, "chat: a message for a stream not open here, ignored");
        return;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return;
    }
    rc = oa_lc_chat_decode(msg, len, m, err, sizeof(err));
    if (rc == 0 && memcmp(m->stream, id, OA_LC_ID_LEN) != 0) {
        snprintf(err, sizeof(err), "the message belongs to another stream");
        rc = OA_EPROTO;
    }
    if (rc == 0 && m->kind == 1 && memcmp(m->from, st->pub, OA_LC_KEY_LEN) != 0) {
        snprintf(err, sizeof(err), "a mute not signed by the broadcaster");
        rc = OA_EPROTO;
    }
    if (rc == 0 && m->kind == 0 && is_muted(st, m->from, lv_wallclock_ms() / 1000)) {
        snprintf(err, sizeof(err), "the sender is muted");
        rc = OA_EACCES;
    }
    if (rc != 0) {
        api->log(c->host.self, OA_LOG_DEBUG, "chat of %s: message ignored: %s", st->hex, err);
        free(m);
        return;
    }
    if (m->kind == 1) {
        mute_add(st, m->target, m->until);
    }
    o = message_json(st, m);
    json = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (json == NULL) {
        free(m);
        return;
    }
    if (hist_add(c, st, m->kind == 1 ? "mute" : "chat", json, &hid) == 0) {
        chat_pump_stream(c, st);
    }
    api->publish(c->host.self, m->kind == 1 ? "live.chat.mute" : "live.chat", json);
    free(json);
    free(m);
}

/* ---- sending ------------------------------------------------------------------ */

/* Checks the text of a message before signing: a sentence in err. */
static int text_check(const char *text, char *err, size_t errlen)
{
    size_t len = strlen(text);
    int blank = 1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
            blank = 0;
            break;
        }
    }
    if (len == 0 || blank) {
        snprintf(err, errlen, "the message is empty: send a \"text\" with something to say");
        return OA_EINVAL;
    }
    if (len > OA_LC_CHAT_MAX_TEXT) {
        snprintf(err, errlen, "the message is %zu bytes long; at most %u bytes are allowed", len,
                 OA_LC_CHAT_MAX_TEXT);
        return OA_EINVAL;
    }
    return 0;
}

/* Signs m with seed and hands it to the swarm. 0, or OA_E* with err. */
static int sign_send(lv_chat *c, const uint8_t *seed, oa_lc_chat *m, char *err, size_t errlen)
{
    uint8_t *out = NULL;
    size_t len = 0;
    int rc = oa_lc_chat_sign(seed, m, &out, &len, err, errlen);
    if (rc != 0) {
        if (rc != OA_EINVAL) {
            snprintf(err, errlen, "the message could not be signed: %s", oa_strerror(rc));
        }
        return rc;
    }
    rc = c->host.send(c->host.arg, m->stream, out, len);
    free(out);
    switch (rc) {
    case 0:
        break;
    case OA_ENOENT:
        snprintf(err, errlen, "the live stream is not open on this engine; start or watch it first");
        break;
    case OA_EAGAIN:
        snprintf(err, errlen, "too many messages: wait a few seconds before sending again");
        break;
    default:
        snprintf(err, errlen, "the swarm did not take the message: %s", oa_strerror(rc));
        break;
    }
    return rc;
}

/* Sends text as this engine's message on stream id; *seq gets its seq. */
int chat_send_text(lv_chat *c, const uint8_t id[20], const char *text, uint64_t *seq,
                   char *err, size_t errlen)
{
    chat_stream *st = chat_find_stream(c, id);
    oa_lc_chat *m;
    int rc;

    if (st == NULL) {
        snprintf(err, errlen, "the live stream is not open on this engine; start or watch it first");
        return OA_ENOENT;
    }
    if (is_muted(st, c->node_pub, lv_wallclock_ms() / 1000)) {
        snprintf(err, errlen, "the broadcaster muted this engine's chat on this stream for now; "
                              "peers drop its messages until the mute ends");
        return OA_EACCES;
    }
    rc = text_check(text, err, errlen);
    if (rc != 0) {
        return rc;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    m->kind = 0;
    m->seq = next_seq(c);
    memcpy(m->stream, id, OA_LC_ID_LEN);
    m->ts_ms = lv_wallclock_ms();
    snprintf(m->text, sizeof(m->text), "%s", text);
    rc = sign_send(c, c->host.node_seed, m, err, errlen);
    *seq = m->seq;
    free(m);
    return rc;
}

/* Sends the broadcaster's mute of target for minutes on stream id. */
int chat_send_mute(lv_chat *c, const uint8_t id[20], const char *target_hex,
                   json_int_t minutes, int64_t *until, char *err, size_t errlen)
{
    const uint8_t *seed;
    uint8_t self_pub[OA_LC_KEY_LEN];
    oa_lc_chat *m;
    chat_stream *st = chat_find_stream(c, id);
    int rc;

    if (st == NULL) {
        snprintf(err, errlen, "the live stream is not open on this engine; start or watch it first");
        return OA_ENOENT;
    }
    seed = c->host.broadcaster_seed != NULL ? c->host.broadcaster_seed(c->host.arg, id) : NULL;
    if (seed == NULL) {
        snprintf(err, errlen, "only the engine that broadcasts this stream can mute a sender");
        return OA_ESTATE;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    if (target_hex == NULL ||
        chat_hex_decode(target_hex, strlen(target_hex), m->target, OA_LC_KEY_LEN) != 0) {
        snprintf(err, errlen, "\"from\" must be the sender's public key: 64 hex digits, as in the "
                              "\"from\" of its messages");
        free(m);
        return OA_EINVAL;
    }
    if (minutes < 1 || minutes > MUTE_MAX_MINUTES) {
        snprintf(err, errlen, "\"minutes\" must be a whole number from 1 to %d",
                 MUTE_MAX_MINUTES);
        free(m);
        return OA_EINVAL;
    }
    if (oa_lc_pubkey(seed, self_pub) == 0 && memcmp(self_pub, m->target, OA_LC_KEY_LEN) == 0) {
        snprintf(err, errlen, "the broadcaster cannot mute itself");
        free(m);
        return OA_EINVAL;
    }
    m->kind = 1;
    m->seq = next_seq(c);
    memcpy(m->stream, id, OA_LC_ID_LEN);
    m->ts_ms = lv_wallclock_ms();
    m->until = m->ts_ms / 1000 + (int64_t)minutes * 60;
    rc = sign_send(c, seed, m, err, errlen);
    *until = m->until;
    free(m);
    return rc;
}

/* ---- commands -------------------------------------------------------------------- */

/* *out gets a plain sentence (the SDK's rule for a failed command). */
static int command_error(lv_chat *c, int rc, const char *msg, char **out)
{
    *out = c->host.api->str_dup(msg);
    return rc;
}

static int command_ok(lv_chat *c, json_t *o, char **out)
{
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL) {
        return command_error(c, OA_ENOMEM, "out of memory", out);
    }
    *out = c->host.api->str_dup(s);
    free(s);
    return *out != NULL ? 0 : OA_ENOMEM;
}

static json_t *history_json(chat_stream *st)
{
    json_t *arr = json_array();
    for (uint64_t id = st->first_id; arr != NULL && id < st->next_id; id++) {
        hist_entry *e = chat_hist_at(st, id);
        json_t *m = e != NULL ? json_loadb(e->frame + e->json_off, e->json_len, 0, NULL) : NULL;
        if (m != NULL) {
            json_array_append_new(arr, m);
        }
    }
    return json_pack("{s:o*}", "messages", arr);
}

int lv_chat_command(lv_chat *c, const char *name, const char *json_args, char **out)
{
    json_t *args, *cid;
    uint8_t id[OA_LC_ID_LEN];
    chat_stream *st;
    char err[256];
    int rc;

    *out = NULL;
    if (c == NULL || name == NULL) {
        return OA_EINVAL;
    }
    if (strcmp(name, "chat") != 0 && strcmp(name, "chat_history") != 0 &&
        strcmp(name, "chat_mute") != 0) {
        return OA_ENOTFOUND;
    }
    args = json_loads(json_args != NULL ? json_args : "{}", 0, NULL);
    if (!json_is_object(args)) {
        json_decref(args);
        return command_error(c, OA_EINVAL, "the arguments must be a JSON object", out);
    }
    cid = json_object_get(args, "content_id");
    if (!json_is_string(cid) ||
        chat_hex_decode(json_string_value(cid), json_string_length(cid), id,
                        OA_LC_ID_LEN) != 0) {
        json_decref(args);
        return command_error(c, OA_EINVAL, "\"content_id\" must be the stream's 40 hex digits",
                             out);
    }
    st = chat_find_stream(c, id);
    if (strcmp(name, "chat_history") == 0) {
        json_decref(args);
        if (st == NULL) {
            return command_error(c, OA_ENOENT,
                                 "the live stream is not open on this engine; start or watch it "
                                 "first",
                                 out);
        }
        hist_prune(st, chat_mono_ms(c), 0, 0);
        return command_ok(c, history_json(st), out);
    }
    if (strcmp(name, "chat") == 0) {
        json_t *text = json_object_get(args, "text");
        uint64_t seq = 0;
        if (!json_is_string(text) ||
            strlen(json_string_value(text)) != json_string_length(text)) {
            json_decref(args);
            return command_error(c, OA_EINVAL, "\"text\" must be a string without NUL characters",
                                 out);
        }
        rc = chat_send_text(c, id, json_string_value(text), &seq, err, sizeof(err));
        json_decref(args);
        if (rc != 0) {
            return command_error(c, rc, err, out);
        }
        return command_ok(c, json_pack("{s:b, s:I}", "sent", 1, "seq", (json_int_t)seq), out);
    } else {
        json_t *from = json_object_get(args, "from");
        json_t *minutes = json_object_get(args, "minutes");
        int64_t until = 0;
        if (minutes != NULL && !json_is_integer(minutes)) {
            json_decref(args);
            return command_error(c, OA_EINVAL, "\"minutes\" must be a whole number", out);
        }
        rc = chat_send_mute(c, id, json_string_value(from),
                            minutes != NULL ? json_integer_value(minutes) : MUTE_DEFAULT_MINUTES,
                            &until, err, sizeof(err));
        if (rc != 0) {
            json_decref(args);
            return command_error(c, rc, err, out);
        }
        rc = command_ok(c, json_pack("{s:b, s:O, s:I}", "muted", 1, "from", from, "until",
                                     (json_int_t)until),
                        out);
        json_decref(args);
        return rc;
    }
}

/* ---- streams and lifecycle ---------------------------------------------------------- */

void lv_chat_stream_open(lv_chat *c, const uint8_t id[20], const uint8_t broadcaster_pub[32])
{
    chat_stream *st;
    if (c == NULL || id == NULL) {
        return;
    }
    st = chat_find_stream(c, id);
    if (st != NULL) {
        st->refs++;
        if (broadcaster_pub != NULL) {
            memcpy(st->pub, broadcaster_pub, OA_LC_KEY_LEN);
        }
        return;
    }
    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        c->host.api->log(c->host.self, OA_LOG_ERROR, "chat: out of memory opening a stream");
        return;
    }
    memcpy(st->id, id, OA_LC_ID_LEN);
    oa_lc_hex40(id, st->hex);
    if (broadcaster_pub != NULL) {
        memcpy(st->pub, broadcaster_pub, OA_LC_KEY_LEN);
    }
    st->refs = 1;
    /* SSE ids grow across restarts too, so a reconnecting browser's
     * Last-Event-ID from an earlier run does not hide new messages. */
    st->next_id = (uint64_t)lv_wallclock_ms();
    st->first_id = st->next_id;
    st->next = c->streams;
    c->streams = st;
}

static void stream_free(lv_chat *c, chat_stream *st)
{
    chat_drop_clients(c, st);
    hist_free(st);
    free(st);
}

void lv_chat_stream_close(lv_chat *c, const uint8_t id[20])
{
    chat_stream **pp;
    if (c == NULL || id == NULL) {
        return;
    }
    for (pp = &c->streams; *pp != NULL; pp = &(*pp)->next) {
        chat_stream *st = *pp;
        if (memcmp(st->id, id, OA_LC_ID_LEN) == 0) {
            if (--st->refs > 0) {
                return;
            }
            *pp = st->next;
            stream_free(c, st);
            return;
        }
    }
}

lv_chat *lv_chat_new(const lv_chat_host *host)
{
    lv_chat *c;
    int rc;

    if (host == NULL || host->api == NULL || host->self == NULL || host->node_seed == NULL ||
        host->send == NULL) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        host->api->log(host->self, OA_LOG_ERROR, "chat: out of memory");
        return NULL;
    }
    c->host = *host;
    rc = oa_lc_pubkey(host->node_seed, c->node_pub);
    if (rc != 0) {
        host->api->log(host->self, OA_LOG_ERROR, "chat: the engine's chat key is unusable: %s",
                       oa_strerror(rc));
        free(c);
        return NULL;
    }
    rc = host->api->timer_start(host->self, TICK_MS, TICK_MS, on_tick, c, &c->tick);
    if (rc != 0) {
        host->api->log(host->self, OA_LOG_ERROR, "chat: cannot start its timer: %s",
                       oa_strerror(rc));
        free(c);
        return NULL;
    }
    if (!OA_API_HAS(host->api, http_stream_end)) {
        host->api->log(host->self, OA_LOG_WARN,
                       "chat: this host has no HTTP API for plugins (SDK < 1.1); chat works "
                       "through commands only");
        return c;
    }
    rc = host->api->http_route(host->self, "*", API_PREFIX, OA_HTTP_PREFIX, chat_on_http, c);
    if (rc == OA_ENOSYS) {
        host->api->log(host->self, OA_LOG_WARN,
                       "chat: the host serves no HTTP; chat works through commands only");
    } else if (rc != 0) {
        host->api->log(host->self, OA_LOG_ERROR,
                       "chat: cannot add the HTTP route %s/: %s (another plugin holds it?)",
                       API_PREFIX, oa_strerror(rc));
        host->api->timer_stop(c->tick);
        free(c);
        return NULL;
    }
    return c;
}

void lv_chat_free(lv_chat *c)
{
    if (c == NULL) {
        return;
    }
    if (c->tick != NULL) {
        c->host.api->timer_stop(c->tick);
    }
    while (c->streams != NULL) {
        chat_stream *st = c->streams;
        c->streams = st->next;
        stream_free(c, st);
    }
    chat_drop_clients(c, NULL);
    free(c);
}
