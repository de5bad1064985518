/*
 * The BitTorrent peer wire (BEP 3, with BEP 5 port, BEP 6 fast extension and
 * BEP 10 extended messages): the 68-byte handshake and the length-prefixed
 * messages that follow it. The bitfield of pieces a peer has is its own
 * type, in bitfield.h; the decoder checks bitfield messages with it.
 *
 * Pure and socket-free: bytes in, messages out, and back. Nothing here logs,
 * blocks or touches the loop. A decoder or buffer is used by one thread at a
 * time; different ones may live on different threads.
 *
 * Decoding is incremental: hand oa_wire_decoder_next() whatever arrived from
 * the socket, cut anywhere, several messages at once or one byte at a time,
 * and it returns the complete messages one by one. It checks every length
 * prefix against the limit of its message kind as soon as the five header
 * bytes are in, before it stores or allocates anything for the payload, so a
 * peer can never make it hold more than the largest allowed message.
 *
 * Lengths: "message of N bytes" always means the value of the 4-byte length
 * prefix, that is the id byte and the payload, as BEP 3 counts it. A piece
 * message carrying a 16 KiB block is 16393 bytes long (16397 on the wire).
 *
 * Errors: functions return 0 (or a count) for success and a negative OA_E*
 * code from <openace/sdk.h> for failure. A peer that breaks the protocol
 * gives OA_EPROTO and a sentence naming what was wrong, for example
 * "have index 500 beyond 100 pieces".
 */
#ifndef OA_SWARM_WIRE_H
#define OA_SWARM_WIRE_H

#include <openace/sdk.h>
#include <stddef.h>
#include <stdint.h>

#define OA_WIRE_HANDSHAKE_LEN 68
#define OA_WIRE_PSTR "BitTorrent protocol"
#define OA_WIRE_PSTR_LEN 19
/* Length prefix, id, index and begin: the bytes before a piece's block. */
#define OA_WIRE_PIECE_HEADER_LEN 13

/* Default limits (see oa_wire_limits). */
#define OA_WIRE_DEFAULT_MAX_BLOCK 16384u
#define OA_WIRE_DEFAULT_MAX_BITFIELD 262144u /* bytes: 2,097,152 pieces */
#define OA_WIRE_DEFAULT_MAX_EXTENDED 65536u  /* a 16 KiB ut_metadata piece fits 4 times */
#define OA_WIRE_DEFAULT_MAX_UNKNOWN 16384u
/* No limit may be set above this. */
#define OA_WIRE_LIMIT_CEILING (64u * 1024u * 1024u)

/* Extensions announced in the reserved bytes of the handshake. */
#define OA_WIRE_EXT_EXTENDED 0x1u /* BEP 10 extension protocol: reserved[5] & 0x10 */
#define OA_WIRE_EXT_FAST 0x2u     /* BEP 6 fast extension: reserved[7] & 0x04 */
#define OA_WIRE_EXT_DHT 0x4u      /* BEP 5 DHT: reserved[7] & 0x01 */
#define OA_WIRE_EXT_ALL (OA_WIRE_EXT_EXTENDED | OA_WIRE_EXT_FAST | OA_WIRE_EXT_DHT)

/* Decoder flag: the stream starts with a handshake (see oa_wire_decoder_init). */
#define OA_WIRE_DECODE_HANDSHAKE 0x1u

/* Message kinds. A kind below 256 is the message id on the wire. */
typedef enum oa_wire_kind {
    OA_WIRE_CHOKE = 0,
    OA_WIRE_UNCHOKE = 1,
    OA_WIRE_INTERESTED = 2,
    OA_WIRE_NOT_INTERESTED = 3,
    OA_WIRE_HAVE = 4,
    OA_WIRE_BITFIELD = 5,
    OA_WIRE_REQUEST = 6,
    OA_WIRE_PIECE = 7,
    OA_WIRE_CANCEL = 8,
    OA_WIRE_PORT = 9,          /* BEP 5 */
    OA_WIRE_SUGGEST = 13,      /* BEP 6 suggest piece */
    OA_WIRE_HAVE_ALL = 14,     /* BEP 6 */
    OA_WIRE_HAVE_NONE = 15,    /* BEP 6 */
    OA_WIRE_REJECT = 16,       /* BEP 6 reject request */
    OA_WIRE_ALLOWED_FAST = 17, /* BEP 6 */
    OA_WIRE_EXTENDED = 20,     /* BEP 10 */
    OA_WIRE_HANDSHAKE = 256,   /* not length-prefixed; first on a connection */
    OA_WIRE_KEEPALIVE = 257,   /* a length prefix of zero */
    OA_WIRE_UNKNOWN = 258      /* an id this codec does not know; see id */
} oa_wire_kind;

/* The 68-byte handshake without its fixed protocol name. */
typedef struct oa_wire_handshake {
    uint8_t reserved[8];
    uint8_t info_hash[20];
    uint8_t peer_id[20];
} oa_wire_handshake;

/* One message, as the decoder returns it and as the encoders take it. Only
 * the fields named for its kind mean anything; the others are zero. */
typedef struct oa_wire_msg {
    oa_wire_kind kind;
    uint8_t id;          /* UNKNOWN: the id the peer sent (encoders send it) */
    uint8_t ext_id;      /* EXTENDED: extended message id, 0 = BEP 10 handshake */
    uint16_t port;       /* PORT: the peer's DHT port */
    uint32_t index;      /* HAVE REQUEST PIECE CANCEL SUGGEST REJECT ALLOWED_FAST */
    uint32_t begin;      /* REQUEST PIECE CANCEL REJECT: byte offset in the piece */
    uint32_t length;     /* REQUEST CANCEL REJECT: bytes asked for */
    /* BITFIELD: the bits; PIECE: the block; EXTENDED: the payload after the
     * extended id; UNKNOWN: the payload after the id. Borrowed, never owned:
     * from the decoder it stays valid until the next call on that decoder and
     * no longer than the chunk the caller fed it. */
    const uint8_t *data;
    size_t size;                 /* bytes at data */
    oa_wire_handshake handshake; /* HANDSHAKE */
} oa_wire_msg;

/* Payload limits in bytes. A zero field takes its default. */
typedef struct oa_wire_limits {
    uint32_t max_block;    /* longest block in piece, request, cancel, reject */
    uint32_t max_bitfield; /* longest bitfield while the piece count is unknown */
    uint32_t max_extended; /* longest extended payload after the extended id */
    uint32_t max_unknown;  /* longest payload of an unknown message id */
} oa_wire_limits;

/* An incremental decoder for one connection. The caller owns the struct
 * (embed it anywhere); the decoder owns its payload buffer, released by
 * oa_wire_decoder_free(). The fields are private. */
typedef struct oa_wire_decoder {
    oa_wire_limits limits;
    uint32_t piece_count; /* 0: not known yet */
    unsigned extensions;  /* OA_WIRE_EXT_* whose messages are accepted */
    int error;            /* sticky: once set, every call returns it */
    int want_handshake;
    uint32_t msg_len;     /* length prefix of the message being read */
    size_t have;          /* handshake or header bytes read so far */
    size_t pay_have;      /* payload bytes stored so far */
    uint8_t head[OA_WIRE_HANDSHAKE_LEN];
    uint8_t small[16];    /* short payloads that arrive in pieces */
    uint8_t *buf;         /* owned: longer payloads that arrive in pieces */
    size_t buf_cap;       /* never above the largest allowed payload */
    char why[160];
} oa_wire_decoder;

/* A growable output buffer. The caller owns the struct, the buffer owns data
 * until oa_wire_buf_free(); the caller may reset len to 0 to reuse it. */
typedef struct oa_wire_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} oa_wire_buf;


/* ---- names ------------------------------------------------------------- */

/* Returns a static lower-case name for a kind ("have all", "keep-alive"),
 * or "unknown" for a value that is not a kind. */
const char *oa_wire_kind_name(oa_wire_kind kind);

/* ---- handshake --------------------------------------------------------- */

/* Fills hs with info_hash, peer_id and the reserved bits for the extensions
 * in ext (OA_WIRE_EXT_*); every other reserved bit is zero. */
void oa_wire_handshake_init(oa_wire_handshake *hs, const uint8_t info_hash[20],
                            const uint8_t peer_id[20], unsigned ext);

/* Returns the OA_WIRE_EXT_* bits a handshake announces. Other reserved bits
 * are ignored. */
unsigned oa_wire_handshake_extensions(const oa_wire_handshake *hs);

/* Writes the 68 bytes of hs to out. Cannot fail. */
void oa_wire_handshake_encode(const oa_wire_handshake *hs, uint8_t out[OA_WIRE_HANDSHAKE_LEN]);

/* Reads a handshake from the first len bytes of in. Returns 0 and fills hs
 * (when not NULL) once 68 bytes are there; bytes past 68 are not looked at.
 * Returns OA_EAGAIN when fewer than 68 bytes are there and they are right so
 * far, so a caller can refuse a stranger after its first byte, and OA_EPROTO
 * with a sentence in err (when err is not NULL) when the protocol name is
 * not "BitTorrent protocol". */
int oa_wire_handshake_decode(const uint8_t *in, size_t len, oa_wire_handshake *hs, char *err,
                             size_t errlen);

/* ---- decoder ----------------------------------------------------------- */

/* Starts a decoder with limits (NULL: all defaults; a zero field: its
 * default). flags may hold OA_WIRE_DECODE_HANDSHAKE: the first thing the
 * stream yields is then the peer's handshake. The piece count starts unknown
 * and every extension's messages are accepted, until the caller says
 * otherwise. Fails with OA_EINVAL when a limit is above
 * OA_WIRE_LIMIT_CEILING; nothing is allocated until a long payload arrives
 * in pieces. Call it on a new or freed decoder: it does not free a buffer. */
int oa_wire_decoder_init(oa_wire_decoder *d, const oa_wire_limits *limits, unsigned flags);

/* Releases the decoder's buffer. Messages it returned are no longer valid.
 * Safe to call twice. */
void oa_wire_decoder_free(oa_wire_decoder *d);

/* Sets the number of pieces, once the metadata is known (0: unknown again).
 * From then on piece indexes are checked against it and a bitfield must be
 * exactly oa_bitfield_bytes(pieces) long with its spare bits zero (see
 * oa_bitfield_check() in bitfield.h). Indexes received before this call
 * were not checked. Fails with OA_ERANGE when such a bitfield would exceed
 * the max_bitfield limit. */
int oa_wire_decoder_set_piece_count(oa_wire_decoder *d, uint32_t pieces);

/* Sets which extensions were negotiated: call it after the handshakes with
 * the OA_WIRE_EXT_* bits both sides announced. A fast-extension message
 * without OA_WIRE_EXT_FAST, or an extended message without
 * OA_WIRE_EXT_EXTENDED, is then a protocol error (BEP 6 says to close). The
 * DHT bit does not restrict anything: a port message is always accepted. */
void oa_wire_decoder_set_extensions(oa_wire_decoder *d, unsigned ext);

/* Decodes from the len bytes at data. Sets *used to how many bytes it took
 * and returns:
 *   1  when *msg holds one message; call again with the bytes after *used;
 *   0  when it took every byte and the next message is not complete yet;
 *   OA_EPROTO when the peer broke the protocol: oa_wire_decoder_error() says
 *      how; the decoder is dead and every later call returns OA_EPROTO;
 *   OA_ENOMEM when a payload buffer could not be allocated: nothing is lost,
 *      and the call may be repeated with the bytes after *used;
 *   OA_EINVAL for a NULL argument.
 * An unknown message id is not an error: it comes back as OA_WIRE_UNKNOWN,
 * oa_wire_decoder_error() names the id, and the caller ignores the message or
 * closes, by its own policy. The message's data points into data when the
 * whole message was in this chunk, and into the decoder otherwise. */
int oa_wire_decoder_next(oa_wire_decoder *d, const uint8_t *data, size_t len, size_t *used,
                         oa_wire_msg *msg);

/* Returns the sentence for the last error or unknown message ("" if none).
 * It belongs to the decoder and changes on the next call. */
const char *oa_wire_decoder_error(const oa_wire_decoder *d);

/* Returns how many bytes of an unfinished message or handshake the decoder
 * holds: 0 between messages. */
size_t oa_wire_decoder_pending(const oa_wire_decoder *d);

/* ---- encoders ---------------------------------------------------------- */

/* Returns the bytes msg takes on the wire, or 0 when msg cannot be encoded:
 * a kind that is not in oa_wire_kind, data NULL with size above 0, or a
 * payload too long for the length prefix. Fields of msg that its kind does
 * not use are ignored; an OA_WIRE_UNKNOWN message is sent with msg->id and
 * its payload as they are. */
size_t oa_wire_encoded_size(const oa_wire_msg *msg);

/* Encodes msg into out, which holds cap bytes, and sets *written (when not
 * NULL). Returns OA_EINVAL when msg cannot be encoded, and OA_EOVERFLOW when
 * cap is too small, with *written set to the size needed and nothing
 * written. Encoders do not check limits: they send what they are given. */
int oa_wire_encode(const oa_wire_msg *msg, uint8_t *out, size_t cap, size_t *written);

/* Writes the 13 bytes that go before a piece's block, so that the block can
 * be sent from where it lies (a second uv_buf_t) without a copy. Returns
 * OA_ERANGE when block_len does not fit the length prefix. */
int oa_wire_encode_piece_header(uint8_t out[OA_WIRE_PIECE_HEADER_LEN], uint32_t index,
                                uint32_t begin, size_t block_len);

/* Makes an empty buffer; nothing is allocated yet. */
void oa_wire_buf_init(oa_wire_buf *b);

/* Appends msg to b, growing it. Returns OA_EINVAL when msg cannot be
 * encoded and OA_ENOMEM when b cannot grow; b is unchanged on failure. */
int oa_wire_buf_put(oa_wire_buf *b, const oa_wire_msg *msg);

/* Releases b's data and leaves it empty and reusable. */
void oa_wire_buf_free(oa_wire_buf *b);

#endif
