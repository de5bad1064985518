/*
 * Live streams, the pure parts (issue 7): Ed25519 keys and signatures, the
 * live descriptor and its content ID, signed chunk headers, the sliding
 * window with its anti-replay rule, the messages of the "oa_live" BEP 10
 * extension, and chat messages. Used by the swarm (which carries and
 * verifies live streams) and by the live plugin (which signs them).
 *
 * Pure: bytes in, structs out, and back; no logging, no loop, no global
 * state. Crypto is OpenSSL's EVP (Ed25519, SHA-256, SHA-1). Errors: 0 or a
 * negative OA_E* code, with one sentence in err where an err is taken.
 * Wire format: docs/live-protocol.md says every byte.
 *
 * Files: livecore.c (keys, descriptor, chunk headers, window), livewire.c
 * (extension messages), livechat.c (chat messages, text tokens, limits).
 */
#ifndef OA_SWARM_LIVECORE_H
#define OA_SWARM_LIVECORE_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

#define OA_LC_KEY_LEN 32   /* Ed25519 public key, and private seed */
#define OA_LC_SIG_LEN 64   /* Ed25519 signature */
#define OA_LC_HASH_LEN 32  /* SHA-256 */
#define OA_LC_ID_LEN 20    /* SHA-1: content ID and info-hash */

#define OA_LC_VERSION 1                   /* "oa_live" key of a descriptor */
#define OA_LC_MAX_DESCRIPTOR 16384u       /* bytes */
#define OA_LC_MAX_CHUNK (16u * 1024 * 1024) /* a chunk larger than this is refused */
#define OA_LC_BLOCK 16384u                /* block size of chunk requests */
#define OA_LC_MAX_BLOCK 131072u           /* largest block a peer may ask for */
#define OA_LC_MAX_MSG (OA_LC_MAX_BLOCK + 1024u) /* largest extension payload */

/* ---- keys and signatures ----------------------------------------------- */

/* Makes a new key pair from the system's randomness. */
int oa_lc_keygen(uint8_t seed[OA_LC_KEY_LEN], uint8_t pub[OA_LC_KEY_LEN]);
/* The public key of a private seed. */
int oa_lc_pubkey(const uint8_t seed[OA_LC_KEY_LEN], uint8_t pub[OA_LC_KEY_LEN]);
/* Signs len bytes at msg. */
int oa_lc_sign(const uint8_t seed[OA_LC_KEY_LEN], const void *msg, size_t len,
               uint8_t sig[OA_LC_SIG_LEN]);
/* 0 when sig is pub's signature of msg; OA_EPROTO when not. */
int oa_lc_verify(const uint8_t pub[OA_LC_KEY_LEN], const void *msg, size_t len,
                 const uint8_t sig[OA_LC_SIG_LEN]);
void oa_lc_sha256(const void *data, size_t len, uint8_t out[OA_LC_HASH_LEN]);
void oa_lc_sha1(const void *data, size_t len, uint8_t out[OA_LC_ID_LEN]);
/* 1 when len bytes at s are valid UTF-8 without a NUL, overlong forms,
 * surrogates or code points above U+10FFFF; else 0. */
int oa_lc_utf8_valid(const char *s, size_t len);
/* 40 lowercase hex digits and a NUL from 20 bytes; and back (any case;
 * OA_EINVAL for anything but 40 hex digits). */
void oa_lc_hex40(const uint8_t id[OA_LC_ID_LEN], char out[41]);
int oa_lc_unhex40(const char *hex, uint8_t id[OA_LC_ID_LEN]);

/* ---- the live descriptor (the transport file of a live stream) --------- */

/* Bencoded, canonical (keys sorted), no other keys:
 *   d 5:audio <codec> 7:bitrate i<bits/s>e 8:chunk_ms i<ms>e 7:created i<unix s>e
 *     6:height i<px>e 4:name <utf-8> 7:oa_live i1e 6:pubkey <32 bytes>
 *     8:trackers l <url>... e 5:video <codec> 5:width i<px>e 6:window i<chunks>e e
 * The content ID is the SHA-1 of exactly these bytes; it is also the live
 * swarm's info-hash, and what ut_metadata (BEP 9) serves in place of an
 * info dictionary. */
#define OA_LC_MAX_TRACKERS 8
typedef struct oa_lc_descriptor {
    char name[128];                 /* 1..127 bytes of UTF-8 */
    uint8_t pubkey[OA_LC_KEY_LEN];
    uint32_t chunk_ms;              /* target chunk duration, 100..60000 */
    uint32_t window;                /* chunks peers keep, 4..10000 */
    int64_t created;                /* unix seconds, > 0 */
    char trackers[OA_LC_MAX_TRACKERS][256]; /* http(s) or udp announce URLs */
    size_t tracker_count;
    char video[32];                 /* libavcodec names; "" when none */
    char audio[32];
    uint32_t width, height;         /* 0 when unknown */
    uint64_t bitrate;               /* bits per second, 0 when unknown */
} oa_lc_descriptor;

/* Writes d into a new malloc'd buffer. OA_EINVAL (with a sentence) for a
 * field out of its range above. */
int oa_lc_desc_encode(const oa_lc_descriptor *d, uint8_t **out, size_t *len, char *err,
                      size_t errlen);
/* Parses a descriptor. Only the canonical form is accepted: bytes that do
 * not encode back to themselves, unknown keys, a wrong oa_live version or a
 * field out of range are OA_EPROTO with a sentence. */
int oa_lc_desc_decode(const void *buf, size_t len, oa_lc_descriptor *d, char *err,
                      size_t errlen);
/* Cheap test for "looks like a descriptor" (a bencoded dictionary with the
 * oa_live key), before a full decode. 1 or 0. */
int oa_lc_desc_is(const void *buf, size_t len);
/* The content ID of descriptor bytes (their SHA-1). */
void oa_lc_content_id(const void *buf, size_t len, uint8_t id[OA_LC_ID_LEN]);

/* ---- signed chunk headers ---------------------------------------------- */

/* What the broadcaster signs for each chunk. The signed message is 64
 * bytes, every integer big-endian:
 *   seq (8) | ts_ms (8) | sha256 (32) | pts_us (8) | duration_us (8)
 * "Sequence, timestamp, hash" as the design says, plus the chunk's media
 * timing so that a viewer's playlists need not be parsed out of the TS. */
typedef struct oa_lc_chunk {
    uint64_t seq;                   /* 0, 1, 2 ... never reused by one key */
    int64_t ts_ms;                  /* unix ms when the source made it */
    uint32_t size;                  /* bytes, 1..OA_LC_MAX_CHUNK */
    int64_t pts_us;                 /* first PTS, -1 unknown */
    int64_t duration_us;            /* 0 unknown */
    uint8_t hash[OA_LC_HASH_LEN];   /* SHA-256 of the chunk's bytes */
    uint8_t sig[OA_LC_SIG_LEN];
} oa_lc_chunk;

/* Fills *c for len bytes at data and signs it. */
int oa_lc_chunk_sign(const uint8_t seed[OA_LC_KEY_LEN], uint64_t seq, int64_t ts_ms,
                     int64_t pts_us, int64_t duration_us, const void *data, size_t len,
                     oa_lc_chunk *c);
/* 0 when c's signature is pub's; OA_EPROTO (sentence) otherwise. Also
 * refuses a size of 0 or above OA_LC_MAX_CHUNK. */
int oa_lc_chunk_verify(const uint8_t pub[OA_LC_KEY_LEN], const oa_lc_chunk *c, char *err,
                       size_t errlen);
/* 0 when len bytes at data are the chunk c describes (size and SHA-256);
 * OA_EPROTO (sentence) otherwise. */
int oa_lc_chunk_check_data(const oa_lc_chunk *c, const void *data, size_t len, char *err,
                           size_t errlen);

/* ---- the sliding window: what a peer keeps and forwards ---------------- */

/* The anti-replay rule. A peer knows the newest sequence it accepted (the
 * edge) and its timestamp. A signed chunk header is refused when
 *   - seq + window <= edge: older than the window (a replay, or too late);
 *   - ts_ms < now_ms - max_age_ms: made too long ago (a replay of an older
 *     run of the same broadcast), max_age_ms = window * chunk_ms + 30 s;
 *   - ts_ms > now_ms + 30 s: from the future (a clock far off);
 *   - seq > edge and ts_ms < edge_ts_ms: newer number, older time.
 * A seq above the edge moves the edge (a jump: the chunks between are
 * lost, or the source restarted and skipped ahead). */
#define OA_LC_CLOCK_SKEW_MS 30000
typedef struct oa_lc_window {
    uint32_t window;                /* chunks, from the descriptor */
    uint32_t chunk_ms;
    int has_edge;
    uint64_t edge;
    int64_t edge_ts_ms;
} oa_lc_window;

void oa_lc_window_init(oa_lc_window *w, uint32_t window, uint32_t chunk_ms);
/* 0 when a chunk header (already signature-checked) passes the rule above;
 * OA_ERANGE with a sentence when not. Does not move the edge. */
int oa_lc_window_check(const oa_lc_window *w, uint64_t seq, int64_t ts_ms, int64_t now_ms,
                       char *err, size_t errlen);
/* Moves the edge to seq (with its ts) when seq is newer. */
void oa_lc_window_advance(oa_lc_window *w, uint64_t seq, int64_t ts_ms);
/* The oldest sequence inside the window (0 before any edge). */
uint64_t oa_lc_window_first(const oa_lc_window *w);

/* ---- "oa_live" extension messages (BEP 10 payloads) -------------------- */

/* Each payload is one bencoded dictionary with "t" (the type), followed,
 * for DATA only, by the block's raw bytes. Keys per type:
 *   HAVE     t=0 first last             the sender holds first..last
 *                                       (sent after the handshake and when
 *                                        the window moves; last is its edge)
 *   ANNOUNCE t=1 seq ts size pts dur hash sig
 *                                       a new chunk, complete at the sender
 *   REQUEST  t=2 seq off len            a block of a chunk (len <= OA_LC_MAX_BLOCK)
 *   DATA     t=3 seq off + bytes        the block
 *   REJECT   t=4 seq off                the sender will not send it
 *   CHAT     t=5 msg                    a chat message (livechat below), gossiped
 *   ACK      t=6 up                     the sender's upload to others (bytes,
 *                                       total), so the source can favour relays
 */
typedef enum oa_lc_msg_type {
    OA_LC_HAVE = 0,
    OA_LC_ANNOUNCE = 1,
    OA_LC_REQUEST = 2,
    OA_LC_DATA = 3,
    OA_LC_REJECT = 4,
    OA_LC_CHAT = 5,
    OA_LC_ACK = 6
} oa_lc_msg_type;

typedef struct oa_lc_msg {
    oa_lc_msg_type type;
    uint64_t first, last;           /* HAVE */
    oa_lc_chunk chunk;              /* ANNOUNCE */
    uint64_t seq;                   /* REQUEST, DATA, REJECT */
    uint32_t off, len;              /* REQUEST (len), DATA, REJECT (off) */
    const uint8_t *data;            /* DATA: points into the parsed payload; len is its size */
    const uint8_t *chat;            /* CHAT: the message's bytes, in the payload */
    size_t chat_len;
    uint64_t up;                    /* ACK */
} oa_lc_msg;

/* Writes m into a new malloc'd payload. DATA takes m->data/len. */
int oa_lc_msg_encode(const oa_lc_msg *m, uint8_t **out, size_t *len);
/* Parses a payload (len <= OA_LC_MAX_MSG). Pointers in *m point into
 * payload. OA_EPROTO (sentence) for anything malformed: not a dictionary,
 * unknown type, a missing or wrong-typed key, a hash or sig of the wrong
 * length, a block too big, DATA without bytes, trailing bytes elsewhere. */
int oa_lc_msg_decode(const uint8_t *payload, size_t len, oa_lc_msg *m, char *err,
                     size_t errlen);

/* ---- chat ---------------------------------------------------------------- */

/* A chat message, bencoded canonical:
 *   d 4:from <32-byte pubkey> 4:kind i0|1e 3:seq i<n>e 6:stream <20-byte id>
 *     [6:target <32-byte pubkey> 5:until i<unix s>e]  (kind 1 only)
 *     4:text <utf-8>  (kind 0 only) 2:ts i<unix ms>e 3:sig <64 bytes> e
 * The signature is over the same dictionary without "sig" (its canonical
 * bytes). kind 0 is a message; kind 1 is a mute, valid only when "from" is
 * the stream's broadcaster key: target's messages are dropped until
 * "until". seq is per sender and grows; (from, seq) identifies a message
 * for de-duplication. */
#define OA_LC_CHAT_MAX_TEXT 500u         /* bytes of text */
#define OA_LC_CHAT_MAX 1024u             /* bytes of an encoded message */
#define OA_LC_CHAT_MAX_TOKENS 16
typedef struct oa_lc_chat {
    int kind;                        /* 0 message, 1 mute */
    uint8_t from[OA_LC_KEY_LEN];
    uint64_t seq;
    uint8_t stream[OA_LC_ID_LEN];
    int64_t ts_ms;
    char text[OA_LC_CHAT_MAX_TEXT + 1];
    uint8_t target[OA_LC_KEY_LEN];   /* kind 1 */
    int64_t until;                   /* kind 1, unix seconds */
    uint8_t sig[OA_LC_SIG_LEN];
} oa_lc_chat;

/* Fills from (seed's public key) and sig, and writes the message. OA_EINVAL
 * for text that is empty, too long or not valid UTF-8 (kind 0). */
int oa_lc_chat_sign(const uint8_t seed[OA_LC_KEY_LEN], oa_lc_chat *c, uint8_t **out,
                    size_t *len, char *err, size_t errlen);
/* Parses and verifies the signature. OA_EPROTO (sentence) for a malformed
 * or badly signed message, a text too long or not UTF-8. */
int oa_lc_chat_decode(const void *buf, size_t len, oa_lc_chat *c, char *err, size_t errlen);

/* Tokens of a message's text: "@name" (letters, digits, '_', '-', '.',
 * 1..32 of them, after the start or a space) and ":emote:" (letters,
 * digits, '_', '+', '-', 1..32, between colons). Byte offsets into text. */
typedef struct oa_lc_token {
    int kind;                        /* 'm' mention, 'e' emote */
    size_t off, len;                 /* the whole token, '@' or colons included */
    char name[33];                   /* without '@' or colons */
} oa_lc_token;
/* Returns how many tokens were found (at most max are written). */
size_t oa_lc_chat_tokens(const char *text, oa_lc_token *out, size_t max);

/* Per-sender rate limit: a token bucket of burst messages refilled at
 * per_min a minute. The caller keeps one per sender. */
typedef struct oa_lc_bucket {
    double tokens;
    int64_t last_ms;
} oa_lc_bucket;
/* 1 when a message may pass now (and takes a token), 0 when over the limit. */
int oa_lc_bucket_take(oa_lc_bucket *b, int64_t now_ms, unsigned burst, unsigned per_min);

#endif
