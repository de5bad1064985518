/*
 * Chat messages of live streams (livecore.h): signed canonical bencoded
 * messages and mutes, the @mention and :emote: tokens of a text, and the
 * per-sender token bucket. Byte by byte in docs/live-protocol.md.
 */
#include "livecore.h"
#include "livecore_int.h"

#include "bencode.h"
#include "swarm_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Error sentences start with "live chat: ". */
#define hfail(err, errlen, code, ...) \
    oa_swarm_fail((err), (errlen), (code), "live chat: ", __VA_ARGS__)

#define TOKEN_MAX_NAME 32

/* Checks c's fields; 0 or code with a sentence. */
static int chat_check(const oa_lc_chat *c, int code, char *err, size_t errlen)
{
    size_t n;

    if (c->kind != 0 && c->kind != 1) {
        return hfail(err, errlen, code, "kind %d is neither 0 (message) nor 1 (mute)", c->kind);
    }
    if (c->seq > (uint64_t)INT64_MAX || c->ts_ms < 0) {
        return hfail(err, errlen, code, "seq or ts is out of range");
    }
    if (c->kind == 1) {
        if (c->until < 0) {
            return hfail(err, errlen, code, "a mute's end time is negative");
        }
        return 0;
    }
    n = strnlen(c->text, sizeof(c->text));
    if (n == 0) {
        return hfail(err, errlen, code, "the message is empty");
    }
    if (n > OA_LC_CHAT_MAX_TEXT) {
        return hfail(err, errlen, code, "the message is longer than %u bytes",
                     OA_LC_CHAT_MAX_TEXT);
    }
    if (!oa_lc_utf8_valid(c->text, n)) {
        return hfail(err, errlen, code, "the message is not valid UTF-8");
    }
    return 0;
}

/* Writes c canonically, with its signature when with_sig. */
static int chat_write(const oa_lc_chat *c, int with_sig, uint8_t **out, size_t *len)
{
    oa_benc_writer w;

    oa_benc_writer_init(&w);
    oa_benc_dict_begin(&w);
    oa_benc_put_str(&w, "from");
    oa_benc_put_bytes(&w, c->from, OA_LC_KEY_LEN);
    oa_benc_put_str(&w, "kind");
    oa_benc_put_int(&w, c->kind);
    oa_benc_put_str(&w, "seq");
    oa_benc_put_int(&w, (int64_t)c->seq);
    if (with_sig) {
        oa_benc_put_str(&w, "sig");
        oa_benc_put_bytes(&w, c->sig, OA_LC_SIG_LEN);
    }
    oa_benc_put_str(&w, "stream");
    oa_benc_put_bytes(&w, c->stream, OA_LC_ID_LEN);
    if (c->kind == 1) {
        oa_benc_put_str(&w, "target");
        oa_benc_put_bytes(&w, c->target, OA_LC_KEY_LEN);
    } else {
        oa_benc_put_str(&w, "text");
        oa_benc_put_str(&w, c->text);
    }
    oa_benc_put_str(&w, "ts");
    oa_benc_put_int(&w, c->ts_ms);
    if (c->kind == 1) {
        oa_benc_put_str(&w, "until");
        oa_benc_put_int(&w, c->until);
    }
    oa_benc_end(&w);
    return oa_benc_writer_finish(&w, out, len);
}

int oa_lc_chat_sign(const uint8_t seed[OA_LC_KEY_LEN], oa_lc_chat *c, uint8_t **out,
                    size_t *len, char *err, size_t errlen)
{
    uint8_t *body = NULL;
    size_t body_len = 0;
    int rc;

    if (out != NULL) {
        *out = NULL;
    }
    if (len != NULL) {
        *len = 0;
    }
    if (seed == NULL || c == NULL || out == NULL || len == NULL) {
        return hfail(err, errlen, OA_EINVAL, "nothing to sign");
    }
    rc = chat_check(c, OA_EINVAL, err, errlen);
    if (rc < 0) {
        return rc;
    }
    if (c->kind == 1) {
        memset(c->text, 0, sizeof(c->text));
    } else {
        memset(c->target, 0, sizeof(c->target));
        c->until = 0;
    }
    rc = oa_lc_pubkey(seed, c->from);
    if (rc < 0) {
        return hfail(err, errlen, rc, "could not derive the sender's key (%s)", oa_strerror(rc));
    }
    rc = chat_write(c, 0, &body, &body_len);
    if (rc == 0) {
        rc = oa_lc_sign(seed, body, body_len, c->sig);
    }
    free(body);
    if (rc == 0) {
        rc = chat_write(c, 1, out, len);
    }
    if (rc < 0) {
        return hfail(err, errlen, rc, "could not sign the message (%s)", oa_strerror(rc));
    }
    if (*len > OA_LC_CHAT_MAX) {
        free(*out);
        *out = NULL;
        *len = 0;
        return hfail(err, errlen, OA_EINVAL, "the message would be larger than %u bytes",
                     OA_LC_CHAT_MAX);
    }
    return 0;
}

/* Reads an integer under key within lo..hi. */
static int chat_int(const oa_benc_node *d, const char *key, int64_t lo, int64_t hi, int64_t *v,
                    char *err, size_t errlen)
{
    int rc = oa_benc_dict_int(d, key, v);

    if (rc < 0 || *v < lo || *v > hi) {
        return hfail(err, errlen, OA_EPROTO, "\"%s\" is missing, not an integer or out of range",
                     key);
    }
    return 0;
}

/* Reads a byte string of exactly n bytes under key. */
static int chat_fixed(const oa_benc_node *d, const char *key, uint8_t *dst, size_t n, char *err,
                      size_t errlen)
{
    const uint8_t *p;
    size_t got;

    if (oa_benc_dict_bytes(d, key, &p, &got) < 0 || got != n) {
        return hfail(err, errlen, OA_EPROTO, "\"%s\" is missing or not %zu bytes", key, n);
    }
    memcpy(dst, p, n);
    return 0;
}

/* Fills the chat message out from a decoded dictionary. */
static int chat_fields(const oa_benc_node *d, void *out, char *err, size_t errlen)
{
    oa_lc_chat *c = out;
    int64_t v;
    const uint8_t *p;
    size_t n;
    int rc;

    rc = chat_int(d, "kind", 0, 1, &v, err, errlen);
    if (rc < 0) {
        return rc;
    }
    c->kind = (int)v;
    rc = chat_fixed(d, "from", c->from, OA_LC_KEY_LEN, err, errlen);
    if (rc == 0) {
        rc = chat_fixed(d, "stream", c->stream, OA_LC_ID_LEN, err, errlen);
    }
    if (rc == 0) {
        rc = chat_fixed(d, "sig", c->sig, OA_LC_SIG_LEN, err, errlen);
    }
    if (rc == 0) {
        rc = chat_int(d, "seq", 0, INT64_MAX, &v, err, errlen);
        c->seq = (uint64_t)v;
    }
    if (rc == 0) {
        rc = chat_int(d, "ts", 0, INT64_MAX, &c->ts_ms, err, errlen);
    }
    if (rc < 0) {
        return rc;
    }
    if (c->kind == 1) {
        rc = chat_fixed(d, "target", c->target, OA_LC_KEY_LEN, err, errlen);
        if (rc == 0) {
            rc = chat_int(d, "until", 0, INT64_MAX, &c->until, err, errlen);
        }
        return rc;
    }
    if (oa_benc_dict_bytes(d, "text", &p, &n) < 0) {
        return hfail(err, errlen, OA_EPROTO, "\"text\" is missing or not a string");
    }
    if (n == 0 || n > OA_LC_CHAT_MAX_TEXT) {
        return hfail(err, errlen, OA_EPROTO, "a text of %zu bytes is outside 1..%u", n,
                     OA_LC_CHAT_MAX_TEXT);
    }
    if (!oa_lc_utf8_valid((const char *)p, n)) {
        return hfail(err, errlen, OA_EPROTO, "the text is not valid UTF-8");
    }
    memcpy(c->text, p, n);
    c->text[n] = '\0';
    return 0;
}

int oa_lc_chat_decode(const void *buf, size_t len, oa_lc_chat *c, char *err, size_t errlen)
{
    uint8_t *again = NULL;
    size_t again_len = 0;
    int rc;

    if (c == NULL || (buf == NULL && len > 0)) {
        return hfail(err, errlen, OA_EINVAL, "nothing to decode");
    }
    memset(c, 0, sizeof(*c));
    rc = oa_lc_decode_dict(buf, len, OA_LC_CHAT_MAX, 2, 32, "live chat: ", "message",
                           chat_fields, c, err, errlen);
    if (rc == 0) {
        rc = chat_write(c, 1, &again, &again_len);
        if (rc == 0 && (again_len != len || memcmp(again, buf, len) != 0)) {
            rc = hfail(err, errlen, OA_EPROTO,
                       "a message is not in canonical form (unknown or misplaced keys)");
        }
        free(again);
        again = NULL;
    }
    if (rc == 0) {
        rc = chat_write(c, 0, &again, &again_len);
        if (rc == 0 && oa_lc_verify(c->from, again, again_len, c->sig) != 0) {
            rc = hfail(err, errlen, OA_EPROTO, "a message's signature is not its sender's");
        }
        free(again);
    }
    if (rc < 0) {
        memset(c, 0, sizeof(*c));
        return rc < 0 && rc != OA_ENOMEM ? OA_EPROTO : rc;
    }
    return 0;
}

/* ---- tokens -------------------------------------------------------------- */

static int is_alnum(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int mention_char(char ch)
{
    return is_alnum(ch) || ch == '_' || ch == '-' || ch == '.';
}

static int emote_char(char ch)
{
    return is_alnum(ch) || ch == '_' || ch == '+' || ch == '-';
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Stores a token when there is room; counts it always. */
static void add_token(oa_lc_token *out, size_t max, size_t *count, int kind, size_t off,
                      size_t len, const char *name, size_t name_len)
{
    if (*count < max && out != NULL) {
        oa_lc_token *t = &out[*count];

        t->kind = kind;
        t->off = off;
        t->len = len;
        memcpy(t->name, name, name_len);
        t->name[name_len] = '\0';
    }
    (*count)++;
}

size_t oa_lc_chat_tokens(const char *text, oa_lc_token *out, size_t max)
{
    size_t count = 0;
    size_t i = 0;

    if (text == NULL) {
        return 0;
    }
    while (text[i] != '\0') {
        if (text[i] == '@' && (i == 0 || is_space(text[i - 1]))) {
            size_t j = i + 1;
            size_t end;

            while (mention_char(text[j])) {
                j++;
            }
            /* A sentence's full stop is not part of the name. */
            end = j;
            while (end > i + 1 && text[end - 1] == '.') {
                end--;
            }
            /* The name must end where the text does or at an ASCII byte that
             * is not a name character: "@josé" is not "@jos". */
            if (end > i + 1 && end - i - 1 <= TOKEN_MAX_NAME &&
                (unsigned char)text[j] < 0x80) {
                add_token(out, max, &count, 'm', i, end - i, text + i + 1, end - i - 1);
            }
            i = j > i + 1 ? j : i + 1;
            continue;
        }
        if (text[i] == ':') {
            size_t j = i + 1;

            while (emote_char(text[j])) {
                j++;
            }
            if (text[j] == ':' && j > i + 1 && j - i - 1 <= TOKEN_MAX_NAME) {
                add_token(out, max, &count, 'e', i, j - i + 1, text + i + 1, j - i - 1);
                i = j + 1;
                continue;
            }
            /* The closing colon of a failed emote may open the next one. */
            i = j > i + 1 ? j : i + 1;
            continue;
        }
        i++;
    }
    return count;
}

/* ---- rate limit ----------------------------------------------------------- */

int oa_lc_bucket_take(oa_lc_bucket *b, int64_t now_ms, unsigned burst, unsigned per_min)
{
    if (b == NULL || burst == 0) {
        return 0;
    }
    if (b->last_ms == 0) {
        /* A zeroed bucket starts full. */
        b->tokens = burst;
    } else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * per_min / 60000.0;
        if (b->tokens > burst) {
            b->tokens = burst;
        }
    }
    if (b->last_ms == 0 || now_ms > b->last_ms) {
        b->last_ms = now_ms != 0 ? now_ms : 1;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 1;
    }
    return 0;
}
