/*
 * loader.h - bulk loading of records into a store, all or nothing: the
 * sorted-run SST writer under every input format (tools/formats/).
 *
 * A loader takes records in any order (load's JSON lines, gen, import), sorts
 * them in memory-bounded chunks, spills full chunks as sorted runs, and at
 * commit merges them into SST files that do not overlap each other and hold
 * one sync each, ingested in ONE engine ingest: nothing is visible before the
 * commit and everything is after it.  Within one load the last record added
 * for a key wins.  Loaded into a range that holds nothing (a new store, a new
 * sync), the files go in below everything (global sequence number 0): what
 * the compactor's copy path takes as it is (compactor.h).
 *
 * Replace mode adds, first in the ingest, a range tombstone over every named
 * sync that holds records, so each named sync then holds exactly what this
 * load wrote.
 */
#ifndef SYNCSTORE_LOADER_H
#define SYNCSTORE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct loader loader;

/* Called every few tens of thousands of records and at each phase change:
 * phase is "reading" (records being added), "sorting" (a chunk being
 * spilled), "writing" (SST files being written) or "ingesting"; records and
 * bytes (on-disk key plus value) are those added so far. */
typedef void (*loader_progress_fn)(void *arg, const char *phase, uint64_t records, uint64_t bytes);

struct loader_options {
    int replace;                 /* make each named sync hold exactly this load's records */
    const char *default_sync;    /* --sync: the sync of lines without "sync"; may be NULL */
    size_t chunk_bytes;          /* memory for one sorted run; 0 means the default (64 MiB) */
    loader_progress_fn progress; /* may be NULL */
    void *progress_arg;
};

struct loader_stats {
    uint64_t lines;   /* input lines that held a record (loader_count_line) */
    uint64_t records; /* records added, index entries included, before last-wins */
    uint64_t syncs;   /* syncs named */
    uint64_t runs;    /* sorted runs merged (chunks of chunk_bytes) */
    uint64_t files;   /* SST files of records ingested */
};

/* Starts a load into the read-write store e.  The loader borrows e and the
 * options' strings until loader_free(). */
int loader_new(engine *e, const struct loader_options *opt, loader **out, char **msg);

/* Adds one record; every part is validated (-EINVAL with a message naming the
 * bad part) and copied.  The record's sync counts as named. */
int loader_add(loader *l, const char *sync_id, const char *bucket, const void *key, size_t key_len,
               const void *value, size_t value_len, char **msg);

/* Names a sync without adding a record to it: in replace mode it is emptied
 * even if no record of this load lands in it. */
int loader_name_sync(loader *l, const char *sync_id, char **msg);

/* The options' default_sync (NULL when none): the sync of JSON lines that
 * name none (jsonl.h). */
const char *loader_default_sync(const loader *l);

/* Counts one input line that held records, for loader_stats.lines. */
void loader_count_line(loader *l);

/* Ingests everything added so far in one call.  After a failure nothing of the
 * load is stored.  The loader can only be freed afterwards. */
int loader_commit(loader *l, struct loader_stats *stats, char **msg);

/* Frees the loader; staging files of an uncommitted load are removed. */
void loader_free(loader *l);

#endif
