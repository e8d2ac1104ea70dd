/*
 * engine.h - the syncstore store engine: the only module that talks to RocksDB.
 *
 * A store is a directory that syncstore created:
 *
 *     STORE/FORMAT     the format marker, "syncstore-store <version>\n"
 *     STORE/db/        the RocksDB database (ldb and sst_dump read it)
 *     STORE/staging/   SST files being built for one ingest; emptied at every
 *                      read-write open, so a crash leaves nothing behind for long
 *
 * Records live under the on-disk key  sync_id 0x00 bucket 0x00 key , so each sync
 * is the contiguous range [sync_id 0x00, sync_id 0x01) and each bucket one range
 * inside it.  Keys whose first byte is 0x00 or 0xFF hold the store's own metadata.
 *
 * Errors.  Every function that can fail returns 0 or a negative code: either a
 * negated errno value (-ENOENT, -EINVAL, -ENOSPC, -EIO, -ENOMEM, -EACCES, ...) or
 * one of the ENGINE_E* codes below.  engine_strerror() explains any of them.  Where
 * a function takes `char **msg`, a failure also stores a malloc'd, human-readable
 * message there (lowercase, naming the input) unless msg is NULL; the caller frees
 * it.  On success *msg is left untouched.
 */
#ifndef SYNCSTORE_ENGINE_H
#define SYNCSTORE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

/* Library error codes, distinct from every errno value. */
#define ENGINE_ENOTSTORE (-10001) /* a directory that syncstore did not create */
#define ENGINE_EFORMAT (-10002)   /* a store of a newer format than this build */
#define ENGINE_ELOCKED (-10003)   /* another process holds the store read-write */
#define ENGINE_ECORRUPT (-10004)  /* RocksDB reported corruption */
#define ENGINE_ECANCELED (-10005) /* the caller cancelled the operation */

const char *engine_strerror(int code);

/* Stores a malloc'd printf-style message in *msg (when msg is not NULL) and
 * returns code: the one way every module fills its `char **msg`. */
int engine_msgf(char **msg, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Quotes bytes for a message: printable ASCII as it is, every other byte and
 * the backslash and single quote as \xHH, at most max bytes of data (then
 * "...").  Writes into out (ENGINE_QUOTE_SIZE(max) bytes always suffice; a
 * smaller out_size cuts it short) and returns out. */
#define ENGINE_QUOTE_SIZE(max) (4 * (max) + 4)
const char *engine_quote(const void *data, size_t len, size_t max, char *out, size_t out_size);

/* Limits of the data model (SPEC "Data model"). */
#define ENGINE_SYNC_ID_MAX 128
#define ENGINE_BUCKET_MAX 64
#define ENGINE_KEY_MAX 1024
#define ENGINE_VALUE_MAX (64u << 20)
#define ENGINE_FORMAT_VERSION 1
/* Longest on-disk key: sync 0x00 bucket 0x00 key. */
#define ENGINE_DISK_KEY_MAX (ENGINE_SYNC_ID_MAX + 1 + ENGINE_BUCKET_MAX + 1 + ENGINE_KEY_MAX)

/* ---- Validation: 0, or -EINVAL with a message naming the bad part. ---- */

int engine_check_sync_id(const char *sync_id, size_t len, char **msg);
int engine_check_bucket(const char *bucket, size_t len, char **msg);
int engine_check_key(const void *key, size_t len, char **msg);
int engine_check_value_len(size_t len, char **msg);

/* ---- On-disk keys (pure; no store needed). ---- */

/* Encodes sync 0x00 bucket 0x00 key into out (ENGINE_DISK_KEY_MAX bytes) and
 * returns its length.  The parts must already be valid. */
size_t engine_key_encode(char *out, const char *sync_id, const char *bucket, const void *key,
                         size_t key_len);

/* A decoded on-disk key: pointers into the encoded key (borrowed, not
 * NUL-terminated), valid as long as the encoded key is. */
struct engine_key_parts {
    const char *sync_id;
    size_t sync_id_len;
    const char *bucket;
    size_t bucket_len;
    const char *key;
    size_t key_len;
};

/* Splits an on-disk key; -EINVAL (with a message) when it is not one a sync
 * range can hold: a metadata key, a missing separator, or a bad part. */
int engine_key_decode(const void *disk_key, size_t len, struct engine_key_parts *parts, char **msg);

/* Range bounds [lo, hi) of a sync, a bucket in it, or keys with a given prefix in
 * a bucket.  Each writes into lo and hi (ENGINE_DISK_KEY_MAX + 1 bytes each) and
 * stores their lengths.  A prefix range with an empty prefix is the bucket's. */
void engine_range_sync(const char *sync_id, char *lo, size_t *lo_len, char *hi, size_t *hi_len);
void engine_range_bucket(const char *sync_id, const char *bucket, char *lo, size_t *lo_len,
                         char *hi, size_t *hi_len);
/* Returns 0, or 1 when the prefix is all 0xFF bytes and the range has no
 * finite key bound inside the bucket; then hi is the bucket's upper bound. */
int engine_range_prefix(const char *sync_id, const char *bucket, const void *prefix,
                        size_t prefix_len, char *lo, size_t *lo_len, char *hi, size_t *hi_len);

/* ---- Stores ---- */

typedef struct engine engine;

enum engine_open_flags {
    ENGINE_OPEN_READ_WRITE = 0,
    ENGINE_OPEN_READ_ONLY = 1,   /* never writes; a secondary if another process holds it */
    ENGINE_OPEN_CREATE = 2,      /* read-write, and create the store if the path is absent
                                    or an empty directory */
    ENGINE_OPEN_STATISTICS = 4,  /* collect RocksDB statistics (engine_ticker) */
    ENGINE_OPEN_RECLAIM = 8,     /* read-write: reclaim space in a background thread, starting
                                    with the hints earlier processes left (engine_reclaim_hint) */
    ENGINE_OPEN_ANY_MARKER = 16, /* with READ_ONLY: open STORE/db even when the FORMAT marker
                                    is absent or damaged (never when it names a newer
                                    format), so that `check` can look at the data anyway */
};

/* Opens the store at path.  Errors: -ENOENT (no such directory), -ENOTDIR,
 * -EACCES, ENGINE_ENOTSTORE, ENGINE_EFORMAT, ENGINE_ELOCKED (read-write open of a
 * store another process holds), -EIO.  A read-write open removes staging files
 * left by a crashed process.  *out is owned by the caller: engine_close() it. */
int engine_open(const char *path, int flags, engine **out, char **msg);

/* Closes the store and frees it; NULL is allowed.  Every iterator, snapshot and
 * ingest of the store must be freed first. */
void engine_close(engine *e);

const char *engine_path(const engine *e);
int engine_is_read_only(const engine *e);
/* 1 when a read-only open found the store held by another process and opened
 * it as a RocksDB secondary. */
int engine_is_secondary(const engine *e);

/* 1 when path names the directory of the open store e (the same device and
 * inode), 0 when not or when path cannot be looked at. */
int engine_is_store_dir(const engine *e, const char *path);

/* ---- Writers of a sync: one at a time per open store (busy.c) ----
 *
 * A compaction or deletion claims its sync for its whole run; the claims
 * belong to the open store, so every writer of a base in this process (the
 * compactor, the mount) is refused the same way. */

/* 0, -EBUSY when the sync is claimed already, or -ENOMEM. */
int engine_sync_claim(engine *e, const char *sync_id);
/* Drops a claim engine_sync_claim gave. */
void engine_sync_release(engine *e, const char *sync_id);

/* ---- Snapshots: a point-in-time view; NULL means "latest" wherever one is taken. ---- */

typedef struct engine_snapshot engine_snapshot;

/* Takes a snapshot into *out.  0, or -ENOMEM with *out untouched: a failed
 * snapshot is never a NULL that a reader would take for "latest". */
int engine_snapshot_new(engine *e, engine_snapshot **out, char **msg);
void engine_snapshot_free(engine *e, engine_snapshot *snap);

/* ---- Point reads ---- */

/* Reads one record.  On success *value is a malloc'd copy (NUL-terminated after
 * *value_len bytes for convenience) that the caller frees.  -ENOENT when absent. */
int engine_get(engine *e, const engine_snapshot *snap, const char *sync_id, const char *bucket,
               const void *key, size_t key_len, char **value, size_t *value_len, char **msg);

/* Reads the value at a raw on-disk key and keeps it pinned (no copy) until
 * engine_value_free().  -ENOENT when absent. */
typedef struct engine_value engine_value;
int engine_value_get(engine *e, const engine_snapshot *snap, const void *disk_key, size_t len,
                     engine_value **out, char **msg);
const char *engine_value_data(const engine_value *v, size_t *len);
void engine_value_free(engine_value *v);

/* ---- Iterators: bounded to a range, in key order. ----
 *
 * A constructor's only failure is running out of memory: NULL is -ENOMEM,
 * never a usable value, and every caller checks it. */

typedef struct engine_iter engine_iter;

/* An iterator over the raw on-disk range [lo, hi) (hi NULL: to the end of the
 * sync space, before the 0xFF metadata).  The bounds are copied. */
engine_iter *engine_iter_new_range(engine *e, const engine_snapshot *snap, const void *lo,
                                   size_t lo_len, const void *hi, size_t hi_len);
engine_iter *engine_iter_new_sync(engine *e, const engine_snapshot *snap, const char *sync_id);
engine_iter *engine_iter_new_bucket(engine *e, const engine_snapshot *snap, const char *sync_id,
                                    const char *bucket);
engine_iter *engine_iter_new_prefix(engine *e, const engine_snapshot *snap, const char *sync_id,
                                    const char *bucket, const void *prefix, size_t prefix_len);
/* Every record of every sync. */
engine_iter *engine_iter_new_all(engine *e, const engine_snapshot *snap);
void engine_iter_free(engine_iter *it);

void engine_iter_seek_first(engine_iter *it);
/* Seeks to the first on-disk key >= disk_key (clamped to the iterator's range). */
void engine_iter_seek(engine_iter *it, const void *disk_key, size_t len);
int engine_iter_valid(const engine_iter *it);
void engine_iter_next(engine_iter *it);
/* Borrowed until the iterator moves. */
const char *engine_iter_disk_key(const engine_iter *it, size_t *len);
const char *engine_iter_value(const engine_iter *it, size_t *len);
/* Decodes the current key; -EINVAL for a key no sync can hold (a damaged store). */
int engine_iter_parts(const engine_iter *it, struct engine_key_parts *parts, char **msg);
/* 0 when the iteration ended because the range is exhausted; else the error. */
int engine_iter_status(const engine_iter *it, char **msg);

/* ---- Listing syncs and buckets, one seek per entry (never a scan). ---- */

/* Finds the first sync_id after `after` (NULL or "" for the first) and copies it,
 * NUL-terminated, into out (ENGINE_SYNC_ID_MAX + 1 bytes).  Returns 1 when found,
 * 0 at the end, or a negative error. */
int engine_next_sync(engine *e, const engine_snapshot *snap, const char *after, char *out,
                     char **msg);
/* The same for the buckets of one sync (out: ENGINE_BUCKET_MAX + 1 bytes). */
int engine_next_bucket(engine *e, const engine_snapshot *snap, const char *sync_id,
                       const char *after, char *out, char **msg);
/* 1 when the sync holds at least one record, 0 when not, or an error. */
int engine_sync_exists(engine *e, const engine_snapshot *snap, const char *sync_id, char **msg);

/* ---- Bulk ingest: the one write path for bulk data. ----
 *
 * An ingest collects SST files written into STORE/staging/ and adds them to the
 * database in ONE rocksdb_ingest_external_file call (move_files on), so their
 * whole contents become visible at once.  Files are ingested in the order they
 * were started.  Files that overlap each other get increasing sequence numbers in
 * that order, so a later file wins over an earlier one; a range tombstone in a
 * file hides older data (and earlier files) but never keys of its own file.
 * Staging files are removed when the ingest is freed, whatever happened.
 */

typedef struct engine_ingest engine_ingest;
typedef struct engine_sst engine_sst;

int engine_ingest_new(engine *e, engine_ingest **out, char **msg);

/* Starts the next SST file of the ingest.  The writer belongs to the ingest and
 * stays valid until engine_sst_finish() or engine_ingest_free(). */
int engine_ingest_sst_begin(engine_ingest *ing, engine_sst **out, char **msg);

/* Adds a record; keys must be strictly increasing within one file. */
int engine_sst_put(engine_sst *w, const void *disk_key, size_t key_len, const void *value,
                   size_t value_len, char **msg);
/* Adds a range tombstone [lo, hi). */
int engine_sst_delete_range(engine_sst *w, const void *lo, size_t lo_len, const void *hi,
                            size_t hi_len, char **msg);
/* While writing: the key and value bytes added so far; once finished: the
 * file's size on disk. */
uint64_t engine_sst_file_size(const engine_sst *w);
/* Seals the file.  A file with no entry at all is dropped (not ingested). */
int engine_sst_finish(engine_sst *w, char **msg);

/* Number of finished files waiting to be ingested. */
size_t engine_ingest_file_count(const engine_ingest *ing);

/* Ingests every finished file in one call.  Every file must be finished. */
int engine_ingest_commit(engine_ingest *ing, char **msg);

/* Frees the ingest and removes its staging files; NULL is allowed. */
void engine_ingest_free(engine_ingest *ing);

/* The staging directory, STORE/staging (borrowed). */
const char *engine_staging_dir(const engine *e);

/* Moves every file of `from` to the end of `into` (both ingests of the same
 * store), in their order, and frees `from`: ingests built by several threads
 * at once are committed as one.  -ENOMEM leaves both as they were. */
int engine_ingest_append(engine_ingest *into, engine_ingest *from);

/* ---- Copying another store's SST files (copy.c): the compactor's copy path ----
 *
 * A store whose range holds only SST files written by an SstFileWriter and
 * ingested below everything (global sequence number 0), each wholly inside the
 * range, holds exactly what those files hold; byte copies of them, ingested into
 * another store behind a tombstone for the range, give it the same range.  The
 * source is only read (its files opened O_RDONLY, never written). */

/* A file's table properties, read from the file (engine_sst_properties). */
struct engine_copy_props {
    uint32_t external_version; /* rocksdb.external_sst_file.version; 0 when absent */
    int has_global_seqno;
    uint64_t global_seqno; /* rocksdb.external_sst_file.global_seqno */
    uint64_t entries, deletions, range_deletions;
    uint64_t raw_key_bytes; /* internal keys: user key + 8 bytes each */
    uint64_t raw_value_bytes;
};

/* Reads the table properties of the block-based SST file at path.  -EINVAL
 * (message) when it is not a table this build reads; -errno when unreadable. */
int engine_sst_properties(const char *path, struct engine_copy_props *out, char **msg);

typedef struct engine_copy_plan engine_copy_plan;

/* Decides whether [lo, hi) of src can be copied file by file.  0 with *out a
 * plan (its files in key order, at least one) when every live SST file holding
 * keys of the range lies wholly inside it, was written by an SstFileWriter
 * (external_version 2) and has global sequence number 0, no two overlap, and
 * the memtables hold nothing for the range.  1 (a malloc'd reason in *why,
 * unless why is NULL) when they do not; a negative code when the files cannot
 * be listed.  engine_copy_plan_free() the plan. */
int engine_copy_plan_new(engine *src, const char *lo, size_t lo_len, const char *hi, size_t hi_len,
                         engine_copy_plan **out, char **why);
size_t engine_copy_plan_count(const engine_copy_plan *p);
/* The full path of file i (borrowed), NULL past the end. */
const char *engine_copy_plan_path(const engine_copy_plan *p, size_t i);
/* The sums of the files' properties, and of their sizes (file_bytes may be NULL). */
void engine_copy_plan_totals(const engine_copy_plan *p, struct engine_copy_props *sum,
                             uint64_t *file_bytes);
void engine_copy_plan_free(engine_copy_plan *p);

/* Copies the plan's files, in order, into ing's staging directory as finished
 * files of the ingest: a clone (ioctl FICLONE) where the filesystem offers it,
 * else copy_file_range (else read and write), then fsync.  Adds the bytes
 * copied to *copied.  On an error (-ENOSPC, -ENOENT when the source dropped a
 * file, -EIO ...) the ingest must not be committed; freeing it removes every
 * staging file, the partial copy too. */
int engine_ingest_add_copies(engine_ingest *ing, const engine_copy_plan *p, uint64_t *copied,
                             char **msg);

/* Finds up to n - 1 keys strictly inside (lo, hi), increasing, that split the
 * range into n spans of about equal size on disk (RocksDB's approximate sizes,
 * from the files' index blocks: no data is read) into keys[] / key_lens[];
 * returns how many.  0 when the range is too small to tell. */
size_t engine_range_split(engine *e, const char *lo, size_t lo_len, const char *hi, size_t hi_len,
                          size_t n, char (*keys)[ENGINE_DISK_KEY_MAX + 1], size_t *key_lens);

/* ---- Metadata: small records outside every sync range (key 0xFF name). ---- */

int engine_meta_put(engine *e, const char *name, const void *value, size_t len, char **msg);
/* *value is malloc'd and NUL-terminated; -ENOENT when absent. */
int engine_meta_get(engine *e, const char *name, char **value, size_t *len, char **msg);
int engine_meta_delete(engine *e, const char *name, char **msg);
/* Calls fn for every metadata record whose name starts with prefix, in name
 * order; fn's arguments are borrowed for the call.  A non-zero return from fn
 * stops the walk and is returned. */
int engine_meta_list(engine *e, const char *prefix,
                     int (*fn)(void *arg, const char *name, const char *value, size_t len),
                     void *arg, char **msg);

/* The metadata syncstore writes: at most one record per sync under each of
 * these name prefixes, named "<prefix><sync_id>".  engine/meta.c owns every
 * name and value format (engine_meta_problem in engine_admin.h checks them);
 * no other module spells them.
 *   synctime/  when the sync last changed: decimal seconds since the epoch
 *   reclaim/   a reclaim hint: its generation "<seconds>.<nanoseconds>"
 *   status/    the last compaction or delete a mount ran: a status record */
#define ENGINE_META_SYNCTIME "synctime/"
#define ENGINE_META_RECLAIM "reclaim/"
#define ENGINE_META_STATUS "status/"
#define ENGINE_META_RUN "run/" /* the sync's run, as the file it was imported from says (run.c) */

/* The time a sync last changed (a load, import, compaction or delete),
 * recorded as metadata "synctime/<sync_id>".  engine_sync_time returns -ENOENT
 * when none was recorded. */
int engine_sync_touch(engine *e, const char *sync_id, char **msg);
int engine_sync_time(engine *e, const char *sync_id, int64_t *seconds);

/* ---- A sync's run: "run/<sync_id>" (run.c) ----
 *
 * What the file a sync was imported from says of its run.  `import` writes it
 * after the load; a replace-mode `load` or `gen` of the sync removes it (the
 * data no longer comes from that run); a compaction gives the base the
 * source's (or removes the base's when the source has none); `delete`
 * removes it.  Stored as one line, four fields separated by tabs:
 *     format \t started_at \t ended_at \t type
 * each printable ASCII without tabs (other bytes are written as '?'), at most
 * the sizes below; ended_at empty: the run never finished. */
struct engine_sync_run {
    char format[16];     /* "c1z v1" or "c1z3" */
    char started_at[64]; /* as the file gives it; "" when it gives none */
    char ended_at[64];   /* "" when the run is unfinished */
    char type[32];       /* "full", "partial", ...; "" when the file has none */
};

int engine_sync_run_put(engine *e, const char *sync_id, const struct engine_sync_run *run,
                        char **msg);
/* 0 and *run, -ENOENT when none is recorded, or an error. */
int engine_sync_run_get(engine *e, const char *sync_id, struct engine_sync_run *run, char **msg);
/* Removes the record; 0 also when there was none. */
int engine_sync_run_delete(engine *e, const char *sync_id, char **msg);
/* A record's value: NULL when it is well formed, else why not (static). */
const char *engine_sync_run_problem(const char *value, size_t len);

/* ---- Status records: "status/<sync_id>" ----
 *
 * What a mount persists about the last compaction or delete of a sync it ran,
 * and shows in ctl/compact/<sync_id>: one line of JSON, exactly
 *
 *   {"sync_id":"s1","state":"done","source":"/x","keys":1,"bytes":2,"seconds":0.100,"error":null}
 *
 * and a newline: "source" and "error" a JSON string (only '"' and '\\'
 * escaped as \" \\, bytes below 0x20 as \u00XX, the rest as they are) or
 * null; "keys" and "bytes" decimal; "seconds" with three decimals.  When
 * method is not NONE (an attempt that got as far as a path), the record goes
 * on after "error" with
 *   ,"method":"copy","files_copied":1,"bytes_copied":3,"pieces":2,"threads":0
 * ("copy" or "stream"; the counts decimal) before the closing brace.
 * engine_status_encode writes that text and engine_status_decode accepts
 * nothing else, so decode(encode(st)) is st and encode(decode(text)) is text.
 */

enum engine_status_state {
    ENGINE_STATUS_NONE,      /* never compacted by a mount */
    ENGINE_STATUS_RUNNING,   /* in progress (persisted as such: a mount that dies leaves it) */
    ENGINE_STATUS_DONE,      /* switched */
    ENGINE_STATUS_EMPTY,     /* the source held nothing: the sync was excised */
    ENGINE_STATUS_FAILED,    /* error says why */
    ENGINE_STATUS_CANCELLED, /* interrupted before the switch */
};

enum engine_status_method {
    ENGINE_STATUS_METHOD_NONE,   /* not known (running, failed early, older records) */
    ENGINE_STATUS_METHOD_STREAM, /* the range was streamed into new pieces */
    ENGINE_STATUS_METHOD_COPY,   /* the source's SST files were copied */
};

struct engine_status {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    enum engine_status_state state;
    char *source; /* malloc'd, or NULL for null (a delete) */
    uint64_t keys, bytes;
    double seconds;
    char *error; /* malloc'd, or NULL for null */
    enum engine_status_method method;
    uint64_t files_copied, bytes_copied, pieces, threads;
};

/* "none", "running", ... (static); NULL for a value outside the enum. */
const char *engine_status_state_name(enum engine_status_state state);

/* The record's text, malloc'd and NUL-terminated into *out, its length (the NUL
 * not counted) in *len.  0, -EINVAL for a state outside
 * the enum or a bad sync_id, or -ENOMEM. */
int engine_status_encode(const struct engine_status *st, char **out, size_t *len);

/* s as a JSON string by the record's rule above (NULL: "null"), malloc'd;
 * NULL when out of memory.  For other JSON the mount writes (ctl/stats). */
char *engine_json_quote(const char *s);

/* Parses a record.  On success st owns its strings (engine_status_release
 * them).  On failure -EINVAL with a message saying what is wrong and where;
 * nothing is left allocated, and st->sync_id holds the record's sync_id when
 * the text got that far ("" otherwise). */
int engine_status_decode(const char *text, size_t len, struct engine_status *st, char **msg);

/* Frees st's strings and sets them to NULL; st may be reused. */
void engine_status_release(struct engine_status *st);

/* Writes st as "status/<st->sync_id>" (read-write stores). */
int engine_status_put(engine *e, const struct engine_status *st, char **msg);
/* Reads and decodes the record of sync_id: 0, -ENOENT when there is none,
 * -EINVAL when it does not decode, or a read error. */
int engine_status_get(engine *e, const char *sync_id, struct engine_status *st, char **msg);

/* ---- Space reclaim ----
 *
 * A replaced sync's old records are only hidden by the range tombstone until
 * RocksDB compacts that range.  These functions get the space back without
 * delaying the switch.
 */

/* Records (persistently) that the range of sync_id holds hidden data to drop,
 * and wakes the background reclaimer when one runs (ENGINE_OPEN_RECLAIM). */
int engine_reclaim_hint(engine *e, const char *sync_id, char **msg);
/* Compacts the range of sync_id now, waiting for it, and clears its hint. */
int engine_reclaim_now(engine *e, const char *sync_id, char **msg);
/* Hints not yet acted on (for tests and stats). */
int engine_reclaim_pending(engine *e, char **msg);

#endif
