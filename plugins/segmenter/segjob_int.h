/*
 * The inside of a segmenter job, shared by its loop side (segjob.c) and its
 * worker thread (segwork.c).
 *
 * The worker and the loop meet under job->mu:
 *  - a source read: the worker posts (offset, len, buffer) and waits; the
 *    loop forwards it to src.read(); source_data() copies into the buffer
 *    and wakes the worker;
 *  - results: the open status, chunks (a queue), the end status; the worker
 *    queues them and wakes the loop through job->async;
 *  - flow: the worker waits while the queue is full (one chunk when paused);
 *  - stop: close() sets stopping and wakes every wait; URL inputs see it
 *    through libavformat's interrupt callback.
 */
#ifndef OA_SEGMENTER_SEGJOB_INT_H
#define OA_SEGMENTER_SEGJOB_INT_H

#include <stdatomic.h>

#include "segjob.h"

/* Chunks queued ahead of the loop before the worker waits. */
#define SEGJOB_QUEUE_MAX 4
/* Bytes asked for in one source read. */
#define SEGJOB_READ_SIZE (256 * 1024)

enum segjob_read_state {
    SEGJOB_RD_IDLE = 0,  /* no read outstanding */
    SEGJOB_RD_POSTED = 1, /* the worker asked; the loop has not forwarded it */
    SEGJOB_RD_ASKED = 2, /* forwarded to src.read(); waiting for source_data() */
    SEGJOB_RD_DONE = 3   /* answered; the worker picks it up */
};

typedef struct segjob_chunk {
    struct segjob_chunk *next;
    oa_media_chunk c;
    uint8_t *data; /* av_malloc'd, av_free */
} segjob_chunk;

struct oa_media_job {
    uv_loop_t *loop;
    uv_async_t async;
    uv_thread_t thread;
    uv_work_t reap;
    uv_mutex_t mu;
    uv_cond_t cond;

    /* Fixed at open. */
    oa_segmenter_opts opts; /* url and format point into the strings below */
    char *url;
    char *format;
    int has_src;
    oa_media_source src;
    segjob_cbs cbs;

    /* Loop thread only. */
    int closed;
    int thread_started;
    int opened;          /* on_open(0) delivered: info() works */
    int open_delivered;
    int end_delivered;
    void *owner;
    void (*done)(void *done_arg);
    void *done_arg;

    /* Read by the interrupt callback without the lock. */
    atomic_int stopping;

    /* Under mu. */
    segjob_log_fn log;
    void *log_arg;
    int paused;
    int rd_state;
    uint64_t rd_off;
    size_t rd_len;
    uint8_t *rd_buf;
    int rd_status;
    size_t rd_got;
    int open_ready;
    int open_status;
    char open_reason[512];
    oa_media_info info;
    segjob_chunk *q_head;
    segjob_chunk *q_tail;
    size_t q_len;
    int end_ready;
    int end_status;
    char end_reason[512];
};

/* The worker thread's body (segwork.c). */
void segjob_worker(void *arg);

/* Logs through the job's hook, if it still has one. Any thread; must not
 * be called with job->mu held. */
void segjob_log(oa_media_job *job, int level, const char *fmt, ...) OA_PRINTF(3, 4);

/* Wakes the loop side. Any thread. */
void segjob_wake_loop(oa_media_job *job);

#endif
