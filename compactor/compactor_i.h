/*
 * compactor_i.h - what the compactor's files share: each path builds one
 * engine ingest for [lo, hi) of a sync, and compactor.c commits it.
 *   stream.c  the streaming path: tiled pieces, one thread per span
 *   copy.c    the copy path: a tombstone-only piece and byte copies of the
 *             source's own SST files
 */
#ifndef SYNCSTORE_COMPACTOR_I_H
#define SYNCSTORE_COMPACTOR_I_H

#include "compactor.h"

#include <time.h>

#define COMPACTOR_PROGRESS_EVERY 4096
#define COMPACTOR_THREADS_MAX 16

/* A sync's range. */
struct compactor_range {
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
};

static inline double compactor_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Streams [lo, hi) of src (NULL: nothing, an excision) into tiled pieces of a
 * new ingest of base, *out, checks the tiling, and fills res's keys, bytes,
 * pieces, sst_bytes and threads.  ENGINE_ECANCELED when the progress callback
 * cancelled.  *out is set (and the caller frees it) whatever the result. */
int compactor_stream(engine *base, engine *src, const struct compactor_range *r,
                     const struct compactor_options *opt, struct compactor_result *res,
                     engine_ingest **out, char **msg);

/* Builds an ingest of base from copies of the plan's files behind a
 * tombstone-only piece over [lo, hi), *out (set whatever the result: the
 * caller frees it), and fills res's keys, bytes, pieces, sst_bytes,
 * files_copied and bytes_copied. */
int compactor_copy(engine *base, const engine_copy_plan *plan, const struct compactor_range *r,
                   const struct compactor_options *opt, struct compactor_result *res,
                   engine_ingest **out, char **msg);

#endif
