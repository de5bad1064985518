/*
 * streamer: one played file of one swarm content, shared by every session
 * and reader of it. Reads go through a cache of blocks (one or more whole
 * pieces each): a block is read from the swarm once, however many readers
 * want it, and is kept while the cache has room, least recently used out
 * first. A reader that finds its block missing parks on it; the read also
 * moves the swarm's playhead there and starts read-ahead, so that pieces
 * come in playback order.
 */
#include "streamer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_BLOCK (256u * 1024u)
#define MAX_BLOCK (4u * 1024u * 1024u)

static const char *const video_ext[] = {".ts", ".m2ts", ".mts", ".mp4", ".m4v", ".mkv",
                                        ".avi", ".mov", ".webm", ".flv", ".mpg", ".mpeg",
                                        ".wmv", ".vob", ".ogv", ".3gp", NULL};

static int is_video(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot == NULL) {
        return 0;
    }
    for (size_t i = 0; video_ext[i] != NULL; i++) {
        if (strcasecmp(dot, video_ext[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* ---- waiters ------------------------------------------------------------- */

static void wake_all(st_wait **list, int status)
{
    st_wait *w = *list;
    *list = NULL;
    while (w != NULL) {
        st_wait *next = w->next;
        w->next = NULL;
        w->block = NULL;
        w->cb(w, status);
        w = next;
    }
}

static void unlink_wait(st_wait **list, st_wait *w)
{
    for (st_wait **pp = list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            w->next = NULL;
            return;
        }
    }
}

static size_t count_waiting(st_content *c)
{
    size_t n = 0;
    for (st_block *b = c->blocks; b != NULL; b = b->next) {
        if (b->data == NULL && b->waiters != NULL) {
            n++;
        }
    }
    return n;
}

static void update_waiting(st_content *c)
{
    uint64_t now = c->p->api->now_ms(c->p->self);
    if (count_waiting(c) == 0) {
        c->waiting_since_ms = 0;
        c->stalled = 0;
    } else if (c->waiting_since_ms == 0) {
        c->waiting_since_ms = now;
    }
}

/* ---- ready --------------------------------------------------------------- */

static void pick_file(st_content *c)
{
    const oa_swarm *sw = c->p->swarm;
    size_t n = sw->file_count(c->h);
    int best = -1;
    uint64_t best_len = 0;
    int best_video = 0;
    oa_swarm_file f;
    if (c->want_index >= 0) {
        if ((size_t)c->want_index >= n) {
            snprintf(c->error, sizeof(c->error),
                     "_idx %d is out of range: the content has %zu file%s", c->want_index, n,
                     n == 1 ? "" : "s");
            c->ready = OA_ENOENT;
            return;
        }
        best = c->want_index;
    } else {
        for (size_t i = 0; i < n; i++) {
            int v;
            if (sw->file(c->h, i, &f) != 0) {
                continue;
            }
            v = is_video(f.path);
            if (best < 0 || (v && !best_video) || (v == best_video && f.length > best_len)) {
                best = (int)i;
                best_len = f.length;
                best_video = v;
            }
        }
    }
    if (best < 0 || sw->file(c->h, (size_t)best, &f) != 0) {
        snprintf(c->error, sizeof(c->error), "the content has no playable file");
        c->ready = OA_ENOENT;
        return;
    }
    if (f.length == 0) {
        snprintf(c->error, sizeof(c->error), "file %d (%s) is empty", best, f.path);
        c->ready = OA_ENOENT;
        return;
    }
    c->file_index = best;
    snprintf(c->name, sizeof(c->name), "%s", f.path);
    c->file_offset = f.offset;
    c->file_length = f.length;
    c->ready = 1;
}

static void record_content_id(st_content *c)
{
    const oa_swarm *sw = c->p->swarm;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (c->content_id[0] != '\0' || !OA_SWARM_HAS(sw, metainfo)) {
        return;
    }
    if (st_catalog_id_for(c->p, c->infohash, c->content_id) == 0) {
        return;
    }
    if (sw->metainfo(c->h, &bytes, &len) == 0) {
        st_catalog_add(c->p, bytes, len, c->infohash, c->content_id);
        c->p->api->free(bytes);
    }
}

static void on_ready(void *arg, oa_swarm_handle *h, int status)
{
    st_content *c = arg;
    oa_swarm_stats st;
    (void)h;
    if (status < 0) {
        c->ready = status;
        memset(&st, 0, sizeof(st));
        st.size = sizeof(st);
        c->p->swarm->stats(c->h, &st);
        snprintf(c->error, sizeof(c->error), "the content failed: %s",
                 st.error[0] != '\0' ? st.error : oa_strerror(status));
    } else {
        memset(&st, 0, sizeof(st));
        st.size = sizeof(st);
        c->p->swarm->stats(c->h, &st);
        c->block_size = st.piece_length;
        if (c->block_size < MIN_BLOCK) {
            c->block_size = MIN_BLOCK - MIN_BLOCK % (st.piece_length ? st.piece_length : 1);
        }
        if (c->block_size > MAX_BLOCK || c->block_size == 0) {
            c->block_size = MAX_BLOCK;
        }
        pick_file(c);
        if (c->ready > 0) {
            record_content_id(c);
            c->p->api->log(c->p->self, OA_LOG_INFO, "%s: playing file %d \"%s\" (%llu bytes)",
                           c->infohash, c->file_index, c->name,
                           (unsigned long long)c->file_length);
        }
    }
    if (c->ready < 0) {
        c->p->api->log(c->p->self, OA_LOG_WARN, "%s: %s", c->infohash, c->error);
    }
    st_content_wake_ready(c);
}

/* Wakes the callbacks parked until the content is ready, with 0 when it is
 * or its failure status. */
void st_content_wake_ready(st_content *c)
{
    wake_all(&c->ready_waiters, c->ready > 0 ? 0 : c->ready);
}

/* ---- open, refs ---------------------------------------------------------- */

int st_content_open(st_plugin *p, const char *uri, const void *torrent, size_t len,
                    int want_index, st_content **out, char *err, size_t errlen)
{
    st_content *c = calloc(1, sizeof(*c));
    uint8_t ih[20];
    int rc;
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return OA_ENOMEM;
    }
    c->p = p;
    c->want_index = want_index;
    c->file_index = -1;
    c->playhead = UINT64_MAX;
    rc = p->swarm->open(p->swarm->instance, uri, torrent, len, on_ready, c, &c->h);
    if (rc != 0) {
        snprintf(err, errlen, "the swarm refused the content: %s",
                 rc == OA_EPROTO   ? "the .torrent is malformed"
                 : rc == OA_EINVAL ? "bad magnet link, info-hash or .torrent"
                 : rc == OA_EAGAIN ? "its content limit is reached"
                                   : oa_strerror(rc));
        free(c);
        return rc;
    }
    p->swarm->info_hash(c->h, ih);
    st_hex(ih, sizeof(ih), c->infohash);
    /* The same file of the same content is shared. */
    for (st_content *o = p->contents; o != NULL; o = o->next) {
        if (strcmp(o->infohash, c->infohash) == 0 && o->want_index == want_index &&
            o->ready >= 0) {
            p->swarm->close(c->h);
            free(c);
            *out = o;
            return 0;
        }
    }
    c->next = p->contents;
    p->contents = c;
    *out = c;
    return 0;
}

void st_content_ref(st_content *c)
{
    c->refs++;
}

static void block_free(st_content *c, st_block *b)
{
    if (b->read != NULL) {
        c->p->swarm->read_cancel(b->read);
    }
    if (b->data != NULL) {
        c->block_bytes -= b->len;
    }
    wake_all(&b->waiters, OA_ECANCELED);
    free(b->data);
    free(b);
    c->nblocks--;
}

void st_content_unref(st_content *c)
{
    st_plugin *p = c->p;
    if (--c->refs > 0) {
        return;
    }
    for (st_content **pp = &p->contents; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    if (c->is_live) {
        st_live_free(c);
        wake_all(&c->ready_waiters, OA_ECANCELED);
        free(c);
        return;
    }
    st_hls_free(c);
    while (c->blocks != NULL) {
        st_block *b = c->blocks;
        c->blocks = b->next;
        block_free(c, b);
    }
    wake_all(&c->ready_waiters, OA_ECANCELED);
    p->swarm->close(c->h);
    free(c);
}

void st_content_when_ready(st_content *c, st_wait *w)
{
    if (c->ready != 0) {
        w->block = NULL;
        w->cb(w, c->ready > 0 ? 0 : c->ready);
        return;
    }
    w->next = c->ready_waiters;
    c->ready_waiters = w;
}

void st_content_unwait(st_content *c, st_wait *w)
{
    if (w->block != NULL) {
        unlink_wait(&w->block->waiters, w);
        w->block = NULL;
        update_waiting(c);
    } else {
        unlink_wait(&c->ready_waiters, w);
    }
}

/* ---- the block cache ----------------------------------------------------- */

static size_t cache_limit_blocks(st_content *c)
{
    uint64_t bytes = (uint64_t)c->p->cfg.cache_mb * 1024 * 1024;
    size_t n = (size_t)(bytes / c->block_size);
    return n < 4 ? 4 : n;
}

static st_block *find_block(st_content *c, uint64_t index)
{
    for (st_block *b = c->blocks; b != NULL; b = b->next) {
        if (b->index == index) {
            return b;
        }
    }
    return NULL;
}

/* Drops least recently used verified blocks nobody waits for until there
 * is room for one more. Returns 0 when there is room. */
static int make_room(st_content *c)
{
    size_t limit = cache_limit_blocks(c);
    while (c->nblocks >= limit) {
        st_block *victim = NULL;
        st_block **vp = NULL;
        for (st_block **pp = &c->blocks; *pp != NULL; pp = &(*pp)->next) {
            st_block *b = *pp;
            if (b->data != NULL && b->waiters == NULL && b->pinned == 0 &&
                (victim == NULL || b->used_ms < victim->used_ms)) {
                victim = b;
                vp = pp;
            }
        }
        if (victim == NULL) {
            return OA_EOVERFLOW;
        }
        *vp = victim->next;
        block_free(c, victim);
    }
    return 0;
}

static void block_done(st_content *c, st_block *b, int status, const uint8_t *data, size_t len)
{
    uint64_t now = c->p->api->now_ms(c->p->self);
    b->read = NULL;
    if (status == 0) {
        b->data = malloc(len > 0 ? len : 1);
        if (b->data == NULL) {
            status = OA_ENOMEM;
        } else {
            memcpy(b->data, data, len);
            b->len = len;
            c->block_bytes += len;
            b->used_ms = now;
            c->last_progress_ms = now;
            c->stalled = 0;
        }
    }
    if (status != 0) {
        /* A failed block is dropped; its waiters hear why. */
        for (st_block **pp = &c->blocks; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == b) {
                *pp = b->next;
                break;
            }
        }
        c->p->api->log(c->p->self, OA_LOG_WARN, "%s: reading block %llu failed: %s",
                       c->infohash, (unsigned long long)b->index, oa_strerror(status));
        block_free(c, b);
        update_waiting(c);
        return;
    }
    {
        /* Woken readers read more and may make room in the cache: b stays
         * pinned until every waiter has had it. */
        st_wait *list = b->waiters;
        b->waiters = NULL;
        update_waiting(c);
        b->pinned++;
        wake_all(&list, 0);
        b->pinned--;
    }
}

static void on_block_read(void *arg, oa_swarm_handle *h, int status, const uint8_t *data,
                          size_t len)
{
    st_block *b = arg;
    (void)h;
    block_done(b->owner, b, status, data, len);
}

/* Starts reading block index. A block a reader waits for is read even
 * when the cache is full of blocks in use (the excess is bounded by the
 * number of readers); read-ahead is not. */
static st_block *start_block(st_content *c, uint64_t index, int demanded)
{
    uint64_t off = index * c->block_size;
    uint64_t file_end = c->file_offset + c->file_length;
    uint64_t len;
    st_block *b;
    int rc;
    if (off >= file_end) {
        return NULL;
    }
    len = file_end - off;
    if (len > c->block_size) {
        len = c->block_size;
    }
    if (make_room(c) != 0 && !demanded) {
        return NULL;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return NULL;
    }
    b->index = index;
    b->owner = c;
    rc = c->p->swarm->read(c->h, off, (size_t)len, on_block_read, b, &b->read);
    if (rc != 0) {
        c->p->api->log(c->p->self, OA_LOG_WARN, "%s: cannot read at %llu: %s", c->infohash,
                       (unsigned long long)off, oa_strerror(rc));
        free(b);
        return NULL;
    }
    b->next = c->blocks;
    c->blocks = b;
    c->nblocks++;
    return b;
}

static void readahead(st_content *c, uint64_t index)
{
    uint64_t n = (uint64_t)c->p->cfg.readahead_mb * 1024 * 1024 / c->block_size;
    uint64_t last_index = (c->file_offset + c->file_length - 1) / c->block_size;
    if (n < 1) {
        n = 1;
    }
    for (uint64_t k = index + 1; k <= index + n && k <= last_index; k++) {
        if (find_block(c, k) == NULL && start_block(c, k, 0) == NULL) {
            break;
        }
    }
}

static void move_playhead(st_content *c, uint64_t off)
{
    uint64_t window = (uint64_t)c->p->cfg.readahead_mb * 1024 * 1024 + c->block_size;
    if (c->playhead != UINT64_MAX && off >= c->playhead && off < c->playhead + window) {
        return;
    }
    if (c->p->swarm->set_playhead(c->h, off, 0) == 0) {
        c->playhead = off;
    }
}

int st_content_get(st_content *c, uint64_t off, st_wait *w, st_block **out)
{
    uint64_t coff;
    uint64_t index;
    st_block *b;
    if (c->ready <= 0) {
        return c->ready < 0 ? c->ready : OA_ESTATE;
    }
    if (off >= c->file_length) {
        return OA_ERANGE;
    }
    coff = c->file_offset + off;
    index = coff / c->block_size;
    b = find_block(c, index);
    if (b == NULL) {
        move_playhead(c, index * c->block_size);
        b = start_block(c, index, 1);
        if (b == NULL) {
            return OA_EOVERFLOW;
        }
    }
    /* Read-ahead makes room in the cache: the block asked for is pinned
     * (when verified) or has a waiter (when not) so that it stays. */
    if (b->data == NULL) {
        w->block = b;
        w->next = b->waiters;
        b->waiters = w;
        move_playhead(c, index * c->block_size);
        update_waiting(c);
        readahead(c, index);
        return OA_EAGAIN;
    }
    b->used_ms = c->p->api->now_ms(c->p->self);
    b->pinned++;
    readahead(c, index);
    b->pinned--;
    *out = b;
    return 0;
}

const uint8_t *st_block_bytes(st_content *c, st_block *b, uint64_t off, size_t *n)
{
    uint64_t coff = c->file_offset + off;
    uint64_t start = b->index * c->block_size;
    uint64_t skip = coff - start;
    uint64_t file_end = c->file_offset + c->file_length;
    uint64_t have = b->len - skip;
    if (start + b->len > file_end) {
        have = file_end - coff;
    }
    *n = (size_t)have;
    return b->data + skip;
}

void st_content_stats(st_content *c, oa_swarm_stats *st)
{
    if (c->is_live) {
        oa_live_status ls;
        st_live_stats(c, st, &ls);
        return;
    }
    memset(st, 0, sizeof(*st));
    st->size = sizeof(*st);
    c->p->swarm->stats(c->h, st);
}

void st_content_tick(st_content *c, uint64_t now)
{
    uint64_t since;
    uint64_t limit = (uint64_t)c->p->cfg.stall_seconds * 1000;
    if (c->is_live) {
        st_live_tick(c, now);
        return;
    }
    if (c->waiting_since_ms == 0 || c->stalled) {
        return;
    }
    since = c->waiting_since_ms > c->last_progress_ms ? c->waiting_since_ms
                                                      : c->last_progress_ms;
    if (now - since < limit) {
        return;
    }
    st_content_stall(c, (now - since) / 1000, "readers have waited for data that does not come");
}

/* Marks the content stalled: publishes streamer.stall for each of its
 * sessions (live ones say so) and logs why. */
void st_content_stall(st_content *c, uint64_t seconds, const char *why)
{
    c->stalled = 1;
    for (st_session *s = c->p->sessions; s != NULL; s = s->next) {
        char json[256];
        if (s->c != c) {
            continue;
        }
        snprintf(json, sizeof(json), "{\"session\":\"%s\",\"infohash\":\"%s\",\"seconds\":%llu%s}",
                 s->id, c->infohash, (unsigned long long)seconds,
                 c->is_live ? ",\"live\":true" : "");
        c->p->api->publish(c->p->self, "streamer.stall", json);
    }
    c->p->api->log(c->p->self, OA_LOG_WARN, "%s: stalled %llu s: %s", c->infohash,
                   (unsigned long long)seconds, why);
}
