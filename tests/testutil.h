/*
 * testutil.h - helpers shared by the cmocka tests: temporary directories that
 * are always removed, fresh stores, and the path of the shared test data.
 */
#ifndef SYNCSTORE_TESTUTIL_H
#define SYNCSTORE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- Skips: explicit, and never a pass ----
 *
 * A test that cannot run here (no /dev/fuse, not root, no tmpfs) calls
 * tu_skip("why"): the reason is printed, cmocka marks the test skipped, and
 * the program's exit status (tu_exit) is 77, which ctest reports as skipped
 * (SKIP_RETURN_CODE, CMakeLists.txt) and tools/test.sh fails under CI=true.
 * (A deliberately shortened run, SYNCSTORE_TEST_QUICK, uses cmocka's skip()
 * alone: that is a choice, not an inability.) */
extern int tu_skipped;
#define tu_skip(...)                                                                               \
    do {                                                                                           \
        print_message("SKIP: " __VA_ARGS__);                                                       \
        print_message("\n");                                                                       \
        tu_skipped = 1;                                                                            \
        skip();                                                                                    \
    } while (0)
/* The exit status of a test program from cmocka_run_group_tests' result:
 * 1 when a test failed, else 77 when one was skipped (tu_skip), else 0. */
int tu_exit(int failed);

/* Makes a new empty directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_mkdtemp(void);
/* Removes a directory tree (like rm -rf) and frees the path; NULL is allowed. */
void tu_rmtree(char *path);
/* path/name, malloc'd. */
char *tu_join(const char *dir, const char *name);
/* Creates and opens a new store at dir/name; fails the test on error. */
engine *tu_create_store(const char *dir, const char *name);
/* The path of a file in ../shared/data (from $SYNCSTORE_SHARED), malloc'd. */
char *tu_shared_data(const char *relpath);
/* Writes a whole file; fails the test on error. */
void tu_write_file(const char *path, const void *data, size_t len);
/* Reads a small file whole into *out (malloc'd, NUL-terminated; *len when not
 * NULL): 0, or -errno (the file may be missing: no test failure). */
int tu_read_file(const char *path, char **out, size_t *len);
/* FNV-1a over every on-disk key and value of a sync (bucket NULL) or of one
 * bucket, in key order; *count (if not NULL) gets the number of keys.  Two
 * stores hash alike exactly when those records are equal byte for byte. */
uint64_t tu_hash_range(engine *e, const char *sync_id, const char *bucket, size_t *count);
/* Runs $SYNCSTORE_BIN (./syncstore without it) with the given arguments
 * (NULL-terminated) in a new process; *out (when not NULL) gets its stdout and
 * stderr, malloc'd and NUL-terminated.  Returns the exit status (128 + the
 * signal when killed). */
int tu_syncstore(char **out, const char *arg, ...);
/* The same, and *max_rss_kb gets the process's peak resident set (KB, from
 * wait4).  ASan's quarantine is off in that process (its freed blocks would
 * count as held). */
int tu_syncstore_rss(long *max_rss_kb, char **out, const char *arg, ...);
/* The largest .sst file in a RocksDB directory (STORE/db), malloc'd; fails the
 * test when there is none. */
char *tu_largest_sst(const char *db);
/* Counts the entries of a directory other than . and ..; -1 if it cannot be read. */
int tu_count_dir(const char *path);
/* Writes the records of syncs (NULL-terminated) of `from` into the empty range
 * of `to` as new SST files without tombstones, in one ingest: one file per
 * sync, or one for all (one_file).  Files ingested into an empty range keep
 * global sequence number 0: a source the compactor's copy path takes (when
 * one file per sync). */
void tu_ingest_syncs(engine *from, engine *to, const char *const *syncs, int one_file);

#endif
