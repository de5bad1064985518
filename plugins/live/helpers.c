/*
 * live: the pure helpers of live_int.h (argument checks, the sequence
 * resume rule, chunk timestamps, back-off, URLs, hex, the wall clock).
 * No host, no swarm: tests/live links this file alone.
 */
#include "live_int.h"

#include <time.h>

int64_t lv_wallclock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lv_hex_encode(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int64_t lv_chunk_ts(int64_t wall_ms, int has_last, int64_t last_ts)
{
    if (has_last && wall_ms <= last_ts && last_ts - wall_ms < OA_LC_CLOCK_SKEW_MS) {
        return last_ts + 1;
    }
    return wall_ms;
}


/* The first sequence number to use: 0 for a broadcast that never made a
 * chunk, else past the stored last one by a margin that covers chunks
 * made after the last store (persisted every LV_PERSIST_EVERY). */
uint64_t lv_seq_resume(int has_last, uint64_t last_seq)
{
    return has_last ? last_seq + 1 + LV_SEQ_MARGIN : 0;
}

/* The back-off after cur seconds: doubled, at most max (at least 1). */
uint32_t lv_backoff_next(uint32_t cur, uint32_t max)
{
    uint64_t n = cur == 0 ? 1 : (uint64_t)cur * 2;
    if (max < 1) {
        max = 1;
    }
    return n > max ? max : (uint32_t)n;
}

/* Splits a source: "lavfi:<graph>" gives format "lavfi" and url the graph;
 * anything else is a URL for libavformat to probe (format NULL). */
void lv_source_split(const char *source, const char **format, const char **url)
{
    if (strncmp(source, "lavfi:", 6) == 0) {
        *format = "lavfi";
        *url = source + 6;
    } else {
        *format = NULL;
        *url = source;
    }
}

/* Whether the segmenter should pace the source in real time: a generated
 * (lavfi) source, a looping file, and a local file (a path or file://)
 * are paced; network inputs (udp://, http://, rtmp:// ...) come at their
 * own pace already. */
int lv_source_realtime(const char *source, int loop)
{
    if (loop || strncmp(source, "lavfi:", 6) == 0 || strncmp(source, "file:", 5) == 0) {
        return 1;
    }
    return strstr(source, "://") == NULL;
}

/* 1 when the text is valid UTF-8 without control characters. */
int lv_text_ok(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t n;
        if (c < 0x20 || c == 0x7f) {
            return 0;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
            n = 1;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
        } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
            n = 3;
        } else {
            return 0;
        }
        if (i + n >= len) {
            return 0;
        }
        for (size_t k = 1; k <= n; k++) {
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) {
                return 0;
            }
        }
        i += n + 1;
    }
    return 1;
}

/* Checks the arguments of `start` (or a stored record: the same keys) and
 * fills *a; defaults for what is absent. 0, or OA_EINVAL with a sentence
 * a user can act on in err. */
int lv_args_parse(const json_t *o, double default_chunk, int64_t default_window,
                  lv_bc_args *a, char *err, size_t errlen)
{
    const json_t *v;
    memset(a, 0, sizeof(*a));
    a->chunk_seconds = default_chunk;
    a->window = (uint32_t)default_window;
    a->auto_start = 1;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the arguments must be a JSON object, e.g. {\"name\": \"demo\", "
                              "\"source\": \"lavfi:testsrc2\"}");
        return OA_EINVAL;
    }
    v = json_object_get(o, "name");
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > LV_NAME_MAX ||
        !lv_text_ok(json_string_value(v), json_string_length(v))) {
        snprintf(err, errlen, "\"name\" is required: the broadcast's name, 1 to %d bytes of "
                              "UTF-8 text without control characters", LV_NAME_MAX);
        return OA_EINVAL;
    }
    memcpy(a->name, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(o, "source");
    if (!json_is_string(v) || json_string_length(v) < 1 ||
        json_string_length(v) > LV_SOURCE_MAX ||
        strlen(json_string_value(v)) != json_string_length(v) ||
        strcmp(json_string_value(v), "lavfi:") == 0) {
        snprintf(err, errlen, "\"source\" is required: an FFmpeg URL or path, or "
                              "\"lavfi:<filtergraph>\" (at most %d bytes)", LV_SOURCE_MAX);
        return OA_EINVAL;
    }
    memcpy(a->source, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(o, "loop");
    if (v != NULL && !json_is_boolean(v)) {
        snprintf(err, errlen, "\"loop\" must be true or false");
        return OA_EINVAL;
    }
    a->loop = json_is_true(v);
    v = json_object_get(o, "chunk_seconds");
    if (v != NULL) {
        double d = json_number_value(v);
        if (!json_is_number(v) || !(d >= 0.2 && d <= 10.0)) {
            snprintf(err, errlen, "\"chunk_seconds\" must be a number from 0.2 to 10");
            return OA_EINVAL;
        }
        a->chunk_seconds = d;
    }
    v = json_object_get(o, "window");
    if (v != NULL) {
        if (!json_is_integer(v) || json_integer_value(v) < 4 ||
            json_integer_value(v) > 10000) {
            snprintf(err, errlen, "\"window\" must be a whole number of chunks from 4 to 10000");
            return OA_EINVAL;
        }
        a->window = (uint32_t)json_integer_value(v);
    }
    v = json_object_get(o, "trackers");
    if (v != NULL) {
        size_t i;
        const json_t *t;
        if (!json_is_array(v) || json_array_size(v) > OA_LC_MAX_TRACKERS) {
            snprintf(err, errlen, "\"trackers\" must be a list of at most %d announce URLs",
                     OA_LC_MAX_TRACKERS);
            return OA_EINVAL;
        }
        json_array_foreach(v, i, t)
        {
            const char *u = json_string_value(t);
            size_t n = u != NULL ? strlen(u) : 0;
            if (u == NULL || n >= sizeof(a->trackers[0]) || n != json_string_length(t) ||
                !(strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0 ||
                  strncmp(u, "udp://", 6) == 0) ||
                !lv_text_ok(u, n)) {
                snprintf(err, errlen, "tracker %zu is not an http://, https:// or udp:// "
                                      "announce URL shorter than 256 bytes", i + 1);
                return OA_EINVAL;
            }
            memcpy(a->trackers[a->ntrackers++], u, n + 1);
        }
    }
    v = json_object_get(o, "auto_start");
    if (v != NULL && !json_is_boolean(v)) {
        snprintf(err, errlen, "\"auto_start\" must be true or false");
        return OA_EINVAL;
    }
    if (v != NULL) {
        a->auto_start = json_is_true(v);
    }
    return 0;
}

/* The descriptor's chunk duration for chunk_seconds. */
uint32_t lv_chunk_ms(double chunk_seconds)
{
    return (uint32_t)(chunk_seconds * 1000.0 + 0.5);
}

/* Whether a stored descriptor still fits the arguments (same name, chunk
 * duration, window and trackers): then it is reused unchanged and the
 * content ID stays. */
int lv_desc_fits(const oa_lc_descriptor *d, const lv_bc_args *a)
{
    if (strcmp(d->name, a->name) != 0 || d->chunk_ms != lv_chunk_ms(a->chunk_seconds) ||
        d->window != a->window || d->tracker_count != a->ntrackers) {
        return 0;
    }
    for (size_t i = 0; i < a->ntrackers; i++) {
        if (strcmp(d->trackers[i], a->trackers[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* The content ID of a path "/live/<40 hex>.acelive" (lower-cased into
 * hex); OA_EINVAL for any other path. */
int lv_acelive_path(const char *path, char hex[41])
{
    static const char prefix[] = "/live/";
    static const char suffix[] = ".acelive";
    size_t pl = sizeof(prefix) - 1;
    size_t sl = sizeof(suffix) - 1;
    if (path == NULL || strlen(path) != pl + 40 + sl || strncmp(path, prefix, pl) != 0 ||
        strcmp(path + pl + 40, suffix) != 0) {
        return OA_EINVAL;
    }
    for (size_t i = 0; i < 40; i++) {
        char c = path[pl + i];
        if (c >= 'A' && c <= 'F') {
            c = (char)(c - 'A' + 'a');
        }
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return OA_EINVAL;
        }
        hex[i] = c;
    }
    hex[40] = '\0';
    return 0;
}

/* The base URL of answers: the listen_url setting when set (without a
 * trailing '/'), else http://<the host's http_listen>, with a wildcard
 * address replaced by 127.0.0.1. */
void lv_base_url(const char *setting, const char *http_listen, char *out, size_t len)
{
    const char *h = http_listen != NULL && http_listen[0] != '\0' ? http_listen
                                                                  : "127.0.0.1:6878";
    const char *port;
    if (setting != NULL && setting[0] != '\0') {
        size_t n = strlen(setting);
        while (n > 0 && setting[n - 1] == '/') {
            n--;
        }
        snprintf(out, len, "%.*s", (int)n, setting);
        return;
    }
    port = strrchr(h, ':');
    if (port != NULL && (strncmp(h, "0.0.0.0:", 8) == 0 || strncmp(h, "[::]:", 5) == 0 ||
                         h[0] == ':')) {
        snprintf(out, len, "http://127.0.0.1%s", port);
        return;
    }
    snprintf(out, len, "http://%s", h);
}
