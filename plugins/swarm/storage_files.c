/*
 * Storage, the files: error sentences, the walk from the root that never
 * follows a link, and the cache of open descriptors (see storage.h for the
 * interface and storage_int.h for the shared state).
 *
 * The cache lends descriptors: a call takes one (users + 1), does its
 * pread/pwrite without the lock, and gives it back. Only idle descriptors
 * are evicted, least recently used first, so none is closed under a call
 * that uses it; when all are busy, a call opens and closes its own. Files
 * are opened outside the lock, so two calls may open one file at the same
 * time: the second to finish finds the first's in the cache and uses its
 * own uncached.
 */
#include "storage_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors -------------------------------------------------------------- */

int stg_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* The system's text for e; thread-safe (GNU strerror_r, _GNU_SOURCE is set
 * for every target). */
const char *stg_errtext(int e, char *buf, size_t n)
{
    return strerror_r(e, buf, n);
}

int stg_code_of(int e)
{
    switch (e) {
    case ENOENT:
        return OA_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
    case ELOOP:
    case ENOTDIR:
        return OA_EACCES;
    default:
        return OA_EIO;
    }
}

/* Reports that a system call (what: "open", "create the folder", ...) on the
 * first n bytes of file's path failed with errno e. name, the last of those
 * components, is looked at in dir so that a link is named as such. */
static int path_fail(oa_storage *s, size_t file, size_t n, const char *what, int e, int dir,
                     const char *name, char *err, size_t errlen)
{
    struct stat st;
    char ebuf[128];
    const char *rel = s->rel[file];

    if (name != NULL && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
            return stg_fail(err, errlen, OA_EACCES,
                            "refusing %s/%.*s: it is a symbolic link, and links inside the "
                            "download folder are never followed",
                            s->root, (int)n, rel);
        }
        if (e == ENOTDIR && !S_ISDIR(st.st_mode)) {
            return stg_fail(err, errlen, OA_EACCES,
                            "refusing %s/%.*s: the torrent needs a folder there, and it is not one",
                            s->root, (int)n, rel);
        }
    }
    return stg_fail(err, errlen, stg_code_of(e), "cannot %s %s/%.*s: %s", what, s->root, (int)n,
                    rel, stg_errtext(e, ebuf, sizeof(ebuf)));
}

/* ---- paths --------------------------------------------------------------- */

/* Checks every '/'-separated component of rel again (the parser did too):
 * a path that could leave the root is refused here whatever made it. */
int stg_check_rel(const char *rel, char *err, size_t errlen)
{
    const char *p = rel;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash != NULL ? (size_t)(slash - p) : strlen(p);
        const char *why = NULL;

        if (oa_mi_check_component(p, n, &why) != 0) {
            return stg_fail(err, errlen, OA_EINVAL, "the torrent's path \"%.200s\" has %s", rel,
                            why);
        }
        if (n > NAME_MAX) {
            return stg_fail(err, errlen, OA_EINVAL,
                            "the torrent's path \"%.200s\" has a name longer than %d bytes", rel,
                            NAME_MAX);
        }
        if (slash == NULL) {
            return 0;
        }
        p = slash + 1;
    }
}

void stg_close_dir(oa_storage *s, int dir)
{
    if (dir != s->root_fd) {
        close(dir);
    }
}

/* Opens the folder that holds file, walking down from the root one
 * component at a time with O_NOFOLLOW, creating folders when create is set.
 * Stores the folder in *dirfd (stg_release with stg_close_dir()) and the offset of
 * the file's own name in its path in *last. */
int stg_walk_parent(oa_storage *s, size_t file, int create, int *dirfd, size_t *last, char *err,
                    size_t errlen)
{
    const char *rel = s->rel[file];
    char comp[NAME_MAX + 1];
    int dir = s->root_fd;
    size_t pos = 0;

    for (;;) {
        const char *slash = strchr(rel + pos, '/');
        size_t n;
        int next;

        if (slash == NULL) {
            break;
        }
        n = (size_t)(slash - (rel + pos)); /* at most NAME_MAX: stg_check_rel() */
        memcpy(comp, rel + pos, n);
        comp[n] = '\0';
        if (create && mkdirat(dir, comp, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            int rc = path_fail(s, file, pos + n, "create the folder", e, dir, comp, err, errlen);

            stg_close_dir(s, dir);
            return rc;
        }
        next = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            int e = errno;
            int rc = path_fail(s, file, pos + n, "open the folder", e, dir, comp, err, errlen);

            stg_close_dir(s, dir);
            return rc;
        }
        stg_close_dir(s, dir);
        dir = next;
        pos += n + 1;
    }
    *dirfd = dir;
    *last = pos;
    return 0;
}

/* Opens file itself: read-write unless the storage is read-only, created
 * when create is set. A file that exists but cannot be opened read-write
 * (permissions, read-only mount) is opened read-only for reading, and
 * *writable says which. O_NONBLOCK keeps a FIFO planted under the name
 * from blocking the open; anything but a regular file is refused. */
int stg_open_file(oa_storage *s, size_t file, int create, int *fd_out, int *writable, char *err,
                  size_t errlen)
{
    const char *rel = s->rel[file];
    mode_t mode = (s->mi->files[file].flags & OA_MI_FILE_EXEC) != 0 ? 0777 : 0666;
    int base = O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int ro = (s->flags & OA_STORAGE_READONLY) != 0;
    struct stat st;
    size_t last;
    int dir;
    int fd;
    int rc;

    rc = stg_walk_parent(s, file, create, &dir, &last, err, errlen);
    if (rc != 0) {
        return rc;
    }
    fd = openat(dir, rel + last, base | (ro ? O_RDONLY : O_RDWR) | (create ? O_CREAT : 0), mode);
    *writable = !ro;
    if (fd < 0 && !create && !ro && (errno == EACCES || errno == EROFS)) {
        fd = openat(dir, rel + last, base | O_RDONLY);
        *writable = 0;
    }
    if (fd < 0) {
        int e = errno;

        rc = path_fail(s, file, strlen(rel), create ? "open for writing" : "open", e, dir,
                       rel + last, err, errlen);
        stg_close_dir(s, dir);
        return rc;
    }
    stg_close_dir(s, dir);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return stg_fail(err, errlen, OA_EACCES, "refusing %s/%s: it is not a regular file", s->root,
                        rel);
    }
    base = fcntl(fd, F_GETFL);
    if (base >= 0) {
        (void)fcntl(fd, F_SETFL, base & ~O_NONBLOCK);
    }
    *fd_out = fd;
    return 0;
}

/* ---- the descriptor cache ------------------------------------------------ */

/* Lends the cached descriptor of file, if there is one that fits. */
static int cache_take(oa_storage *s, size_t file, int need_write, stg_ref *ref)
{
    int hit = 0;
    long slot;

    pthread_mutex_lock(&s->lock);
    slot = s->slot_of[file];
    if (slot >= 0 && (!need_write || s->slots[slot].writable)) {
        s->slots[slot].users++;
        s->slots[slot].used = ++s->clock;
        ref->fd = s->slots[slot].fd;
        ref->slot = slot;
        hit = 1;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

/* Puts a freshly opened descriptor into the cache and lends it. When the
 * file got cached meanwhile by another call, or every slot is busy, the
 * descriptor is lent uncached. Returns a descriptor to close (after the
 * lock), or -1. */
static int cache_put(oa_storage *s, size_t file, int fd, int writable, stg_ref *ref)
{
    int to_close = -1;
    long slot;
    size_t i;

    ref->fd = fd;
    ref->slot = -1;
    pthread_mutex_lock(&s->lock);
    slot = s->slot_of[file];
    if (slot >= 0) {
        /* Cached meanwhile. An idle read-only entry gives way to our
         * read-write descriptor; otherwise ours stays uncached. */
        if (s->slots[slot].users > 0 || s->slots[slot].writable || !writable) {
            slot = -1;
        } else {
            to_close = s->slots[slot].fd;
        }
    } else {
        for (i = 0; i < s->slot_count; i++) {
            stg_slot *c = &s->slots[i];

            if (c->fd < 0) {
                slot = (long)i;
                break;
            }
            if (c->users == 0 && (slot < 0 || c->used < s->slots[slot].used)) {
                slot = (long)i;
            }
        }
        if (slot >= 0 && s->slots[slot].fd >= 0) {
            to_close = s->slots[slot].fd;
            s->slot_of[s->slots[slot].file] = -1;
        }
    }
    if (slot >= 0) {
        stg_slot *c = &s->slots[slot];

        c->fd = fd;
        c->file = file;
        c->writable = writable;
        c->users = 1;
        c->used = ++s->clock;
        s->slot_of[file] = slot;
        ref->slot = slot;
    }
    pthread_mutex_unlock(&s->lock);
    return to_close;
}

/* Lends a descriptor of file: writable and created when need_write is set,
 * else existing (OA_ENOENT when it is not). Return it with stg_release(). */
int stg_acquire(oa_storage *s, size_t file, int need_write, stg_ref *ref, char *err, size_t errlen)
{
    int writable = 0;
    int fd = -1;
    int stale;
    int rc;

    if (cache_take(s, file, need_write, ref)) {
        return 0;
    }
    rc = stg_open_file(s, file, need_write, &fd, &writable, err, errlen);
    if (rc != 0) {
        return rc;
    }
    stale = cache_put(s, file, fd, writable, ref);
    if (stale >= 0) {
        close(stale);
    }
    return 0;
}

void stg_release(oa_storage *s, stg_ref *ref)
{
    if (ref->slot < 0) {
        close(ref->fd);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->slots[ref->slot].users--;
    pthread_mutex_unlock(&s->lock);
}

size_t oa_storage_cached_fds(oa_storage *s)
{
    size_t n = 0;
    size_t i;

    if (s == NULL) {
        return 0;
    }
    pthread_mutex_lock(&s->lock);
    for (i = 0; i < s->slot_count; i++) {
        n += s->slots[i].fd >= 0;
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}

void oa_storage_release_fds(oa_storage *s)
{
    int idle[64];
    size_t n;
    size_t i;

    if (s == NULL) {
        return;
    }
    /* Close in batches so that close() runs outside the lock. */
    do {
        n = 0;
        pthread_mutex_lock(&s->lock);
        for (i = 0; i < s->slot_count && n < sizeof(idle) / sizeof(idle[0]); i++) {
            stg_slot *c = &s->slots[i];

            if (c->fd >= 0 && c->users == 0) {
                idle[n++] = c->fd;
                s->slot_of[c->file] = -1;
                c->fd = -1;
            }
        }
        pthread_mutex_unlock(&s->lock);
        for (i = 0; i < n; i++) {
            close(idle[i]);
        }
    } while (n == sizeof(idle) / sizeof(idle[0]));
}
