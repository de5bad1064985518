/* Internal to storage, shared by storage.c (pieces onto byte ranges,
 * hashing, the resume check, the public calls) and storage_files.c (errors,
 * the walk that refuses links, the descriptor cache). Not installed and not
 * for other files: storage.h is the interface. */
#ifndef OA_SWARM_STORAGE_INT_H
#define OA_SWARM_STORAGE_INT_H

#include "storage.h"

#include <openace/sdk.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Files that never exist on disk: their bytes read as zeros. */
#define STG_NOT_STORED (OA_MI_FILE_PAD | OA_MI_FILE_SYMLINK)

/* One cached descriptor. */
typedef struct stg_slot {
    int fd;         /* owned; -1 when the slot is free */
    size_t file;    /* index into mi->files */
    unsigned users; /* calls using fd now: it is not closed while above 0 */
    int writable;   /* opened read-write */
    uint64_t used;  /* cache clock at the last use, for least recently used */
} stg_slot;

/* A descriptor lent to one call by stg_acquire(); returned by
 * stg_release(). */
typedef struct stg_ref {
    int fd;
    long slot; /* -1: not in the cache, stg_release() closes fd */
} stg_ref;

struct oa_storage {
    const oa_metainfo *mi; /* borrowed: outlives the storage */
    char *root;            /* the root folder as given, for messages; owned */
    int root_fd;           /* owned */
    unsigned flags;        /* OA_STORAGE_* */
    char **rel;            /* per file: its path below the root; owned */
    EVP_MD *sha1;          /* fetched once, shared by every thread; owned */

    pthread_mutex_t lock; /* guards everything below */
    stg_slot *slots;      /* slot_count of them; owned */
    size_t slot_count;
    long *slot_of; /* per file: its slot, or -1; owned */
    uint64_t clock;
};

/* Writes a sentence into err (may be NULL) and returns code. */
int stg_fail(char *err, size_t errlen, int code, const char *fmt, ...) OA_PRINTF(4, 5);

/* The system's text for errno e, thread-safe; buf holds it if needed. */
const char *stg_errtext(int e, char *buf, size_t n);

/* The OA_E* code for errno e: OA_ENOENT, OA_EACCES or OA_EIO. */
int stg_code_of(int e);

/* Checks every '/'-separated component of a path below the root: OA_EINVAL
 * with err set for an unsafe or too long one. */
int stg_check_rel(const char *rel, char *err, size_t errlen);

/* Opens the folder holding file by walking from the root without following
 * links, creating folders when create is set. Stores the folder in *dirfd
 * (give it back with stg_close_dir()) and where the file's own name starts
 * in s->rel[file] in *last. */
int stg_walk_parent(oa_storage *s, size_t file, int create, int *dirfd, size_t *last, char *err,
                    size_t errlen);
void stg_close_dir(oa_storage *s, int dir);

/* Opens file itself (see storage_files.c); the caller closes *fd. */
int stg_open_file(oa_storage *s, size_t file, int create, int *fd, int *writable, char *err,
                  size_t errlen);

/* Lends a descriptor of file through the cache: writable and created when
 * need_write is set, else existing (OA_ENOENT when it is not). Give it back
 * with stg_release(). */
int stg_acquire(oa_storage *s, size_t file, int need_write, stg_ref *ref, char *err, size_t errlen);
void stg_release(oa_storage *s, stg_ref *ref);

#endif
