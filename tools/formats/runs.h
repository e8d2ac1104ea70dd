/*
 * runs.h - the loader's spill files: sorted runs of (on-disk key, value)
 * records written to a temporary file, and their k-way merge.
 *
 * A load bigger than one memory chunk sorts each chunk and spills it as a run;
 * at commit the runs are merged into one stream in key order, in which the
 * newest run's record wins for a key that several runs hold.  The merged
 * stream becomes SST files that do not overlap each other, so RocksDB can put
 * them below everything (global sequence number 0) when their range is empty.
 *
 * A run file is private to one load: records of
 *   key length (u32, host order), value length (u32), key bytes, value bytes
 * in strictly increasing key order.  Nothing else ever reads it.  The loader
 * owns its run files; runs_free() removes them.  Memory: one read buffer per
 * run and the largest record, whatever the size of the runs.
 */
#ifndef SYNCSTORE_RUNS_H
#define SYNCSTORE_RUNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct runs runs;

/* An empty set of runs whose files go in dir (borrowed until runs_free). */
int runs_new(const char *dir, runs **out, char **msg);

/* Starts a new run; records then go to it with runs_put, in strictly
 * increasing key order, until runs_end_run. */
int runs_begin_run(runs *r, char **msg);
int runs_put(runs *r, const void *key, size_t key_len, const void *value, size_t value_len,
             char **msg);
int runs_end_run(runs *r, char **msg);

size_t runs_count(const runs *r);
/* Bytes written to run files so far. */
uint64_t runs_bytes(const runs *r);

/* Merges every run in key order: fn(arg, key, key_len, value, value_len) once
 * per distinct key, with the record of the newest run that holds it.  Returns
 * 0, fn's first non-zero result, or an error reading the runs. */
typedef int (*runs_emit_fn)(void *arg, const char *key, size_t key_len, const char *value,
                            size_t value_len, char **msg);
int runs_merge(runs *r, runs_emit_fn fn, void *arg, char **msg);

/* Removes every run file and frees r. */
void runs_free(runs *r);

#endif
