/*
 * compactor.h - replace one sync of a base store with a source store's copy,
 * atomically, with one SST ingest (SPEC "Compaction").
 *
 * compactor_run() opens the source read-only and takes one of two paths for
 * its range [S 0x00, S 0x01):
 *
 *   copy    when every live SST file of the source holding keys of the sync
 *           lies wholly inside the range, was written by an SstFileWriter and
 *           sits at global sequence number 0 (engine_copy_plan_new: what load,
 *           gen and import write for a new sync), those files are copied byte
 *           for byte into the base's staging area and ingested behind a
 *           tombstone-only piece over the range.  No record is read.  When
 *           RocksDB refuses the copies the base is unchanged and the range is
 *           streamed instead (result.copy_refused).
 *   stream  otherwise: the range is read in key order, one thread per span,
 *           into SST pieces in the base's staging area, each carrying the
 *           range tombstone for its own key span so that the pieces tile the
 *           range exactly; the tiling is checked.
 *
 * Either way every file goes to the base in ONE ingest call: readers of the
 * base see the old sync or the new one, never a mix, and both paths give the
 * same bytes.  No value is decoded and nothing is written record by record.
 * The source is never written: its files are only read (opened O_RDONLY).
 * The compactor owns the staging files it makes (the engine's ingests remove
 * them on every path) and nothing else; the caller owns base.
 */
#ifndef SYNCSTORE_COMPACTOR_H
#define SYNCSTORE_COMPACTOR_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define COMPACTOR_PIECE_DEFAULT (256ull << 20) /* target bytes of one SST piece */
#define COMPACTOR_PIECE_MIN 4096ull

enum compactor_outcome {
    COMPACTOR_DONE,      /* the base's sync now equals the source's */
    COMPACTOR_EMPTY,     /* the source held nothing: the base's sync was excised */
    COMPACTOR_CANCELLED, /* the progress callback cancelled before the switch */
};

const char *compactor_outcome_name(enum compactor_outcome outcome);

enum compactor_method {
    COMPACTOR_STREAM, /* the range was read and written into new pieces */
    COMPACTOR_COPY,   /* the source's own SST files were copied */
};

/* "stream" or "copy" (static). */
const char *compactor_method_name(enum compactor_method method);

/* Called every few thousand keys while streaming and once more right before
 * the switch, with the keys and bytes (on-disk key plus value lengths) streamed
 * so far.  Returning non-zero cancels the compaction; the base is left
 * unchanged. */
typedef int (*compactor_progress_fn)(void *arg, uint64_t keys, uint64_t bytes);

struct compactor_options {
    uint64_t piece_bytes; /* target SST piece size; 0: COMPACTOR_PIECE_DEFAULT */
    compactor_progress_fn progress;
    void *progress_arg;
    int reclaim; /* 1: wait for the old data's space to be reclaimed; 0: leave a hint */
    int claimed; /* 1: the caller holds engine_sync_claim(base, sync_id) for the run */
    int threads; /* streaming threads; 0: one per online core (at most 16) */
    int no_copy; /* 1: always stream (benchmarks and tests compare the paths) */
};

struct compactor_result {
    enum compactor_outcome outcome;
    uint64_t keys;          /* records ingested */
    uint64_t bytes;         /* their key and value bytes */
    uint64_t pieces;        /* SST files ingested */
    uint64_t sst_bytes;     /* size of those files */
    double seconds;         /* the whole operation */
    double ingest_seconds;  /* the ingest call alone: the switch */
    double reclaim_seconds; /* waiting for reclaim (options.reclaim) */
    enum compactor_method method;
    uint64_t files_copied; /* copy: the source's SST files copied */
    uint64_t bytes_copied; /* copy: their bytes */
    double copy_seconds;   /* copy: copying them into staging, fsync included */
    uint64_t threads;      /* stream: threads (spans) that built the pieces */
    int copy_refused;      /* 1: a copy was tried, RocksDB refused it, and it streamed */
    char reason[256];      /* stream: why the copy path was not taken (or was refused) */
};

/* Replaces sync_id in the read-write base with its copy in the store at
 * source_path (by copy or by stream: result->method).  Returns 0 (result->outcome DONE or EMPTY),
 * ENGINE_ECANCELED (outcome CANCELLED), or an error, after which the base is unchanged: -EINVAL bad
 * sync_id, or the source is the base itself -ENOENT  source missing             -ENOTDIR  source
 * not a directory -EACCES  source unreadable          ENGINE_ENOTSTORE / ENGINE_EFORMAT  not a
 * store -EBUSY   a compaction of this sync is already running in this process (the base's claims:
 * engine_sync_claim) -ENOSPC  no space for the pieces or the copies -EIO (or another code) anything
 * else Staging files are removed on every path.  result may be NULL. */
int compactor_run(engine *base, const char *source_path, const char *sync_id,
                  const struct compactor_options *options, struct compactor_result *result,
                  char **msg);

/* Removes sync_id from the base atomically: the same excision as an empty
 * source.  -ENOENT when the base holds no such sync. */
int compactor_delete(engine *base, const char *sync_id, const struct compactor_options *options,
                     struct compactor_result *result, char **msg);

/* ---- Tiling (exposed for tests) ---- */

/* One piece's span [lo, hi) and the first and last keys it holds (none when
 * first_len is 0: a tombstone-only piece).  Pointers are borrowed. */
struct compactor_piece {
    const char *lo, *hi, *first, *last;
    size_t lo_len, hi_len, first_len, last_len;
};

/* Checks that pieces tile [lo, hi) exactly: the first starts at lo, the last
 * ends at hi, each ends where the next starts, none is empty, and every piece's
 * keys lie inside its span.  -EINVAL with a message naming the fault. */
int compactor_check_tiling(const struct compactor_piece *pieces, size_t n, const char *lo,
                           size_t lo_len, const char *hi, size_t hi_len, char **msg);

#endif
