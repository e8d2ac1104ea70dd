/*
 * engine_i.h - the internals that engine's own files share: the structs
 * behind the opaque handles and the few helpers one file offers the others.
 * Nothing outside engine/ includes this header (it is on engine's private
 * include path), and it is the only engine header that includes rocksdb/c.h.
 */
#ifndef SYNCSTORE_ENGINE_I_H
#define SYNCSTORE_ENGINE_I_H

#include "engine.h"
#include "engine_admin.h"
#include "engine_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <rocksdb/c.h>

/* ---- The handles ---- */

struct engine {
    char *path;    /* the store directory as given */
    char *db_path; /* STORE/db */
    char *staging; /* STORE/staging */
    char *log_dir; /* private info-log directory of a read-only open, or NULL */
    int read_only;
    int secondary;
    dev_t dev;
    ino_t ino;
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_envoptions_t *env_options;
    atomic_ulong next_ingest; /* names staging files uniquely within the process */

    /* The background reclaimer (ENGINE_OPEN_RECLAIM, reclaim.c). */
    int reclaim_running;
    pthread_t reclaim_thread;
    pthread_mutex_t reclaim_lock;
    pthread_cond_t reclaim_cond;
    int reclaim_stop;    /* under reclaim_lock */
    int reclaim_wakeups; /* under reclaim_lock: hints added since the last pass */

    /* The syncs a writer holds (busy.c). */
    pthread_mutex_t busy_lock;
    struct engine_claim *busy; /* under busy_lock */
};

struct engine_snapshot {
    const rocksdb_snapshot_t *snap;
};

struct engine_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    rocksdb_t *db;
    const rocksdb_snapshot_t *own_snap; /* taken when the caller gave none */
    char *lo, *hi;
    size_t lo_len, hi_len;
};

struct engine_sst {
    engine_ingest *ing;
    rocksdb_sstfilewriter_t *writer;
    char *path;
    uint64_t entries;
    uint64_t added;      /* key and value bytes added so far */
    uint64_t final_size; /* the file's size once finished */
    int finished;        /* 1 when sealed with at least one entry, -1 when dropped */
};

struct engine_ingest {
    engine *e;
    unsigned long id;
    engine_sst **files; /* in the order they were begun */
    size_t n, cap;
};

/* ---- Ingests (ingest.c) ---- */

/* Adds a new, empty file entry to ing with its staging path (no writer, not
 * finished): for files the engine fills itself (copy.c). */
int engine_ingest_slot(engine_ingest *ing, engine_sst **out);

/* ---- RocksDB errors (store.c) ---- */

/* Maps a RocksDB error string to our codes, stores "<what>: <rocksdb text>"
 * in *msg (when msg is not NULL), frees err and returns the code. */
int engine_take_error(char *err, char **msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- Store layout (store.c) ---- */

/* "a/b", malloc'd; NULL when out of memory. */
char *engine_path_join(const char *a, const char *b);

/* Writes STORE/FORMAT (this build's marker) by rename, so a reader sees the
 * whole marker or none. */
int engine_format_write(const char *path, char **msg);

/* ---- The busy registry (busy.c): set up and torn down with the handle ---- */

void engine_busy_init(engine *e);
void engine_busy_destroy(engine *e);

/* ---- Read options (read.c): the one way a read is set up ----
 *
 * Every read of a read-write store runs at a snapshot (read.c says why): the
 * caller's, or one of its own taken here and released by engine_read_end.  A
 * read-only store needs none (snap->snap is NULL there). */
rocksdb_readoptions_t *engine_read_begin(engine *e, const engine_snapshot *snap,
                                         const rocksdb_snapshot_t **own);
void engine_read_end(engine *e, rocksdb_readoptions_t *ro, const rocksdb_snapshot_t *own);

/* ---- Space reclaim (reclaim.c) ---- */

/* Starts and stops the background reclaimer of a read-write store. */
int engine_reclaim_start(engine *e, char **msg);
void engine_reclaim_stop(engine *e);

#endif
