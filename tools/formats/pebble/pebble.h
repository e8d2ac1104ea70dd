/*
 * pebble.h - a read-only reader of the Pebble databases inside C1Z3 files
 * (issue 10; ../shared/reference/C1Z3.md).  RocksDB cannot read Pebble's
 * columnar tables, so this module decodes them itself.
 *
 * What it reads (facts from cockroachdb/pebble, cited in the .c files):
 *   - the directory: marker.format-version.* (format major version 24),
 *     marker.manifest.* naming the MANIFEST, OPTIONS-* (comparer must be
 *     leveldb.BytewiseComparator), WAL files *.log (must be empty);
 *   - the MANIFEST: the LevelDB-style record log of version edits, Pebble's
 *     tags; ingested tables take their sequence number from the MANIFEST
 *     (smallest == largest), virtual tables are bounded views of their backing;
 *   - tables of TableFormatPebblev7: footer, metaindex, index (one or two
 *     levels), columnar data blocks, the range-deletion block, CRC32c block
 *     checksums, uncompressed or Snappy blocks.
 *
 * The iterator yields the live user keys in ascending byte order with their
 * SET values: for each user key the newest sequence number wins, point
 * deletions (DEL, SINGLEDEL, DELSIZED) and range deletions (applying to lower
 * sequence numbers in every level) are applied.  Memory: one index and one
 * data block per open table, one table per level at a time (every level-0
 * table is its own level), plus the range deletions of the database.
 *
 * Errors (negative errno, message in *msg, malloc'd, the caller frees it):
 *   -EINVAL   corrupt or truncated input: a bad checksum (naming the file and
 *             the block), a bad footer or magic, a record that ends early;
 *   -ENOTSUP  a feature this reader does not implement, named: value blocks or
 *             blob references, compression other than none/Snappy, range keys,
 *             MERGE keys, another table format or format major version, another
 *             comparer, a non-empty WAL, an unknown MANIFEST tag;
 *   -ENOENT   a file the MANIFEST or a marker names is missing;
 *   -ENOMEM, or the errno of a failed read.
 * Nothing is ever returned from a table it could not read completely and
 * correctly: an error ends the iteration.
 */
#ifndef SYNCSTORE_PEBBLE_H
#define SYNCSTORE_PEBBLE_H

#include <stddef.h>

typedef struct pebble_db pebble_db;
typedef struct pebble_iter pebble_iter;

/* Opens the database in dir (read-only, nothing written): replays the MANIFEST
 * named by marker.manifest.*, checks the format version marker, the OPTIONS
 * comparer, that the WAL is empty and that every live table's file exists. */
int pebble_open(const char *dir, pebble_db **out, char **msg);
void pebble_close(pebble_db *db);

/* An iterator over the live keys; it may outlive nothing: free it before
 * closing db.  Reads every table's range deletions first. */
int pebble_iter_new(pebble_db *db, pebble_iter **out, char **msg);
/* 1: *key and *val hold the next live key and its value, borrowed until the next
 * call; 0: the end; < 0: an error (and every later call returns it again). */
int pebble_iter_next(pebble_iter *it, const void **key, size_t *klen, const void **val,
                     size_t *vlen, char **msg);
void pebble_iter_free(pebble_iter *it);

#endif
