/*
 * loader.h - bulk loading of records into a store, all or nothing.
 *
 * A loader takes records in any order (load's JSON lines, gen, import), sorts
 * them in memory-bounded chunks, writes each chunk as a sorted SST run into the
 * store's staging area, and at commit ingests every run in ONE engine ingest:
 * nothing is visible before the commit and everything is after it.  Within one
 * load the last record added for a key wins (later runs override earlier ones).
 *
 * Replace mode adds, first in the ingest, a range tombstone over every sync the
 * load named, so each named sync then holds exactly what this load wrote.
 */
#ifndef SYNCSTORE_LOADER_H
#define SYNCSTORE_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "engine.h"

typedef struct loader loader;

struct loader_options {
    int replace;              /* make each named sync hold exactly this load's records */
    const char *default_sync; /* --sync: the sync of lines without "sync"; may be NULL */
    size_t chunk_bytes;       /* memory for one sorted run; 0 means the default (64 MiB) */
};

struct loader_stats {
    uint64_t lines;   /* JSON lines that held a record */
    uint64_t records; /* records added, index entries included, before last-wins */
    uint64_t syncs;   /* syncs named */
    uint64_t runs;    /* sorted SST runs ingested */
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

/* Parses one JSON line (SPEC "load": raw or typed; a trailing "\r" is allowed)
 * and adds its records.  A blank line adds nothing and returns 0.  A bad line
 * returns -EINVAL and a message that says why (the caller adds the line
 * number).  The line need not be NUL-terminated.  This is
 * loader_parse_line() followed by loader_add() of each record. */
int loader_add_line(loader *l, const char *line, size_t len, char **msg);

/* ---- Parsing one JSON line, touching no store (fuzzed: tests/fuzz) ---- */

/* One record of a parsed line.  bucket is NUL-terminated; key and value are
 * byte strings that may hold NUL. */
struct loader_record {
    const char *bucket;
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
};

#define LOADER_LINE_RECORDS 3

/* A parsed line: its sync (NUL-terminated; NULL for a blank line) and its
 * records: none for a blank line, one for a raw line and for a typed
 * resource_type, resource or entitlement, three for a grant (the grant, then
 * its grants_by_entitlement and grants_by_principal entries).  The pointers
 * borrow from the line (a typed record's value is the line itself), from
 * default_sync and from the struct's private fields: they stay valid until
 * loader_line_release() and while the line and default_sync do. */
struct loader_line {
    const char *sync;
    size_t n_records;
    struct loader_record records[LOADER_LINE_RECORDS];
    void *json;                            /* private: the parsed object */
    struct buf owned[LOADER_LINE_RECORDS]; /* private: decoded or joined bytes */
};

/* Parses one JSON line (as loader_add_line() does) into *out, which is always
 * initialized and must be released with loader_line_release(), whatever the
 * result.  Returns 0, or -EINVAL and a message for a line that is not one of
 * SPEC's forms.  The parts are not checked against the data model's limits
 * here (sync_id and bucket syntax, key and value lengths): loader_add() does
 * that, so a line that parses may still be refused when its records are added. */
int loader_parse_line(const char *line, size_t len, const char *default_sync,
                      struct loader_line *out, char **msg);
void loader_line_release(struct loader_line *pl);

/* Ingests everything added so far in one call.  After a failure nothing of the
 * load is stored.  The loader can only be freed afterwards. */
int loader_commit(loader *l, struct loader_stats *stats, char **msg);

/* Frees the loader; staging files of an uncommitted load are removed. */
void loader_free(loader *l);

#endif
