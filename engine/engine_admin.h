/*
 * engine_admin.h - looking after a store rather than using it: the layout's
 * names, checking (syncstore check), backing up (syncstore backup), and the
 * figures that stats and the bench print.  The product's read and write paths
 * need none of this; engine.h is included by this header.
 */
#ifndef SYNCSTORE_ENGINE_ADMIN_H
#define SYNCSTORE_ENGINE_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- The store directory ---- */

/* The entries of a store directory (the layout at the top of engine.h). */
#define ENGINE_FORMAT_FILE "FORMAT"
#define ENGINE_DB_DIR "db"
#define ENGINE_STAGING_DIR "staging"

/* Checks STORE/FORMAT with the parser engine_open uses: 0 when it holds
 * exactly the marker this build writes, "syncstore-store 1\n", and nothing
 * else; -ENOENT when it is absent; ENGINE_EFORMAT when it is a well-formed
 * marker of a newer version; ENGINE_ENOTSTORE for any other content; another
 * negated errno when it cannot be read.  msg names the file and the reason. */
int engine_check_format(const char *path, char **msg);

/* ---- Checking the contents ---- */

/* An iterator over the whole on-disk key space, without bounds: the records
 * and the metadata (keys beginning with 0x00 or 0xFF) in key order.  Reads
 * verify block checksums and do not fill the block cache, as a full pass
 * should.  engine_iter_parts() fails on metadata keys. */
engine_iter *engine_iter_new_raw(engine *e);

/* What engine_meta_problem() found. */
enum engine_meta_verdict {
    ENGINE_META_OK,           /* a record syncstore writes */
    ENGINE_META_UNKNOWN_NAME, /* the name has none of the prefixes syncstore writes */
    ENGINE_META_BAD_NAME,     /* a known prefix, but the sync_id after it is bad */
    ENGINE_META_BAD_VALUE,    /* a good name, but a value syncstore does not write */
};

/* Checks one metadata record (name: its key without the 0xFF) against the
 * names and value formats of engine.h's list.  For BAD_NAME and BAD_VALUE a
 * malloc'd reason goes to *why (unless why is NULL; the caller frees it). */
int engine_meta_problem(const char *name, size_t name_len, const char *value, size_t len,
                        char **why);

/* What engine_verify_sst_files() read. */
struct engine_sst_check {
    uint64_t files;   /* live SST files */
    uint64_t bytes;   /* their total size on disk */
    uint64_t entries; /* entries read, including those hidden by range tombstones */
    uint64_t skipped; /* times the walk jumped past a corrupt file's key range */
    int complete;     /* 1 when the walk reached the end of the key space */
};

/* Reads every block of every live SST file with checksum verification: one
 * walk over the whole key space that ignores range tombstones (RocksDB's
 * ignore_range_deletions), so data that a tombstone hides, and that a normal
 * read would skip, is read too; the block cache is not filled.  The files'
 * index, filter, properties and range-tombstone blocks are read and verified
 * when RocksDB opens each file.
 *
 * For every corruption found, bad(arg, file, reason) is called with the full
 * path of the SST file RocksDB names (NULL when it names no live SST file)
 * and RocksDB's message; the walk then goes on after that file's largest key,
 * so later files are still checked (the keys of other files inside the
 * skipped span are not).  A second error in the same file, or one that names
 * no file, ends the walk (out->complete stays 0).  Returns 0 when the walk ran,
 * whatever it found, or a negative code when it could not start. */
int engine_verify_sst_files(engine *e, struct engine_sst_check *out,
                            void (*bad)(void *arg, const char *file, const char *reason), void *arg,
                            char **msg);

/* ---- Backups ---- */

/* What engine_backup() made. */
struct engine_backup_info {
    uint64_t files;  /* SST files in the backup */
    uint64_t bytes;  /* their total size */
    int attempts;    /* checkpoints taken: > 1 when the store changed during one */
    int secondary;   /* 1 when the store was held and read as a RocksDB secondary */
    int hard_linked; /* 1 when dest is on the store's filesystem: the SST files are
                        hard links, shared with the store, not copies */
};

/* Makes dest a new store holding a point-in-time copy of the store at path:
 * a RocksDB checkpoint in dest/db (SST files hard-linked on the same
 * filesystem, copied otherwise; MANIFEST and WAL copied), an empty
 * dest/staging, and the FORMAT marker written last, by rename, once the copy
 * has been opened and found to hold the same SST files as the store; so a
 * backup cut short never looks like a store.
 *
 * The store is opened read-only, as a secondary when another process (a
 * mount) holds it, and never written: no flush, the WAL is copied.  When the
 * store's MANIFEST changes while the copy is made (a flush, compaction or
 * ingest by its holder, which may delete files the copy needs), the copy is
 * thrown away and taken again (a secondary first catches up with the holder),
 * up to 5 times; then -EAGAIN.
 *
 * dest must not exist (its parent must) or be an empty directory, and must not
 * be inside the store: else -EEXIST, -ENOTDIR or -EINVAL, and nothing is
 * touched.  On any failure everything made in dest is removed (dest itself
 * too when this call created it).  info may be NULL. */
int engine_backup(const char *path, const char *dest, struct engine_backup_info *info, char **msg);

/* ---- Figures ---- */

/* A RocksDB statistics ticker such as "rocksdb.flush.write.bytes" (0 unless the
 * store was opened with ENGINE_OPEN_STATISTICS). */
uint64_t engine_ticker(engine *e, const char *name);
/* An integer property such as "rocksdb.live-sst-files-size"; 0 when unknown. */
uint64_t engine_property(engine *e, const char *name);
/* The approximate on-disk bytes of a sync's range in SST files (RocksDB's
 * estimate from index blocks: data hidden by a range tombstone and not yet
 * compacted away still counts); 0 when unknown. */
uint64_t engine_sync_approximate_bytes(engine *e, const char *sync_id);

#endif
