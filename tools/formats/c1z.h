/*
 * c1z.h - importing baton .c1z files into a store (SPEC "import").
 *
 * A v1 c1z file is the 5 bytes "C1ZF\0" followed by one zstd stream of a SQLite
 * database with tables v1_resource_types, v1_resources, v1_entitlements,
 * v1_grants, v1_assets, v1_sync_runs and v1_connector_sessions (older SDKs write
 * fewer tables and columns; whatever is there is imported).  Every row becomes
 * one record whose value is a JSON object: "type" first, then every column of
 * the row under its own name in column order, except the SQLite row id "id":
 *
 *     INTEGER -> number, REAL -> number ("%.17g"; an infinity becomes null),
 *     NULL -> null, TEXT -> string, BLOB -> "<name>_b64": base64 of the bytes.
 *     TEXT that is not valid UTF-8 or holds a NUL byte is written like a BLOB,
 *     as "<name>_b64", so the value stays valid JSON and keeps the exact bytes.
 *     A column literally named "type" is written as "type_column" so that it
 *     cannot clash with the record's own "type".  A table whose columns could
 *     write one name twice ("type" beside "type_column", "x" beside "x_b64")
 *     is refused (-EINVAL): the record would lose one of them.
 *
 * Buckets and keys (the "type" written in parentheses):
 *
 *     v1_resource_types      resource_types/<external_id>               (resource_type)
 *     v1_resources           resources/<resource_type_id>/<resource_id> (resource)
 *     v1_entitlements        entitlements/<external_id>                 (entitlement)
 *     v1_grants              grants/<external_id>                       (grant)
 *                            grants_by_entitlement/<entitlement_id>/<external_id>   (empty)
 *                            grants_by_principal/<principal_resource_type_id>/
 *                                <principal_resource_id>/<external_id>  (empty)
 *     v1_assets              assets/<external_id>                       (asset)
 *     v1_sync_runs           sync_runs/<sync_id>                        (sync_run)
 *     v1_connector_sessions  connector_sessions/<key>                   (connector_session)
 *
 * resource_id is external_id without its "<resource_type_id>:" prefix (baton
 * stores resources as "type:id" but grants name principals by the bare id), so
 * resources/<type>/<id> lines up with grants_by_principal.  An external_id that
 * lacks the prefix is used as it is.
 *
 * Each record goes to the sync named by its row's sync_id column.
 */
#ifndef SYNCSTORE_C1Z_H
#define SYNCSTORE_C1Z_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"

/* The tables import knows, in the order they are imported. */
enum c1z_table {
    C1Z_RESOURCE_TYPES,
    C1Z_RESOURCES,
    C1Z_ENTITLEMENTS,
    C1Z_GRANTS,
    C1Z_ASSETS,
    C1Z_SYNC_RUNS,
    C1Z_CONNECTOR_SESSIONS,
    C1Z_TABLE_COUNT
};

/* The SQLite table name ("v1_grants") and the main bucket ("grants") of a
 * table; static strings. */
const char *c1z_table_name(enum c1z_table table);
const char *c1z_table_bucket(enum c1z_table table);

/* What one imported sync received. */
struct c1z_sync_stats {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    uint64_t rows[C1Z_TABLE_COUNT]; /* rows imported per table */
};

struct c1z_stats {
    struct c1z_sync_stats *syncs; /* n_syncs entries in sync_id order; owned */
    size_t n_syncs;               /* syncs imported (each replaced in the store) */
    uint64_t rows;                /* rows imported, all tables */
    uint64_t table_rows[C1Z_TABLE_COUNT];
    uint64_t records; /* records written, index entries included */
};

/* Frees what c1z_import() put in stats and empties it; NULL is allowed. */
void c1z_stats_release(struct c1z_stats *stats);

/*
 * Imports the c1z file at path into the read-write store e: every sync in the
 * file (every distinct sync_id of v1_sync_runs and of the data tables, finished
 * or not), or only the n_sync_ids named ones.  Each imported sync replaces that
 * sync in the store.  All or nothing: on any error nothing is written.
 *
 * The file is decompressed into a temporary file in $TMPDIR (or /tmp) that is
 * removed before the call returns, whatever happened; memory stays bounded.
 *
 * Returns 0 and, when stats is not NULL, fills it (release it with
 * c1z_stats_release()).  Errors (with a message naming the file):
 *     -ENOENT, -EACCES, -EISDIR, ...  the file cannot be opened or read
 *     -EINVAL     not a c1z file (bad header, not SQLite, no v1 table), a
 *                 truncated or corrupt zstd stream, a table without a column
 *                 its key needs, or a row the store cannot hold (bad sync_id,
 *                 empty or too long key, ...; the message names table and row)
 *     -ENOTSUP    a c1z format newer than v1 ("C1Z3")
 *     -ENOENT     a named sync_id is not in the file (after the file opened)
 *     -EIO, -ENOSPC  reading SQLite or writing the temporary file failed
 *     and whatever loader_new()/loader_commit() return for the store.
 * On failure stats (when not NULL) is left empty.
 */
int c1z_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
               struct c1z_stats *stats, char **msg);

/* Progress of an import, as the loader reports it (loader_progress_fn in
 * loader.h: phase "reading", "sorting", "writing", "ingesting"), plus
 * "unpacking" with the bytes of a C1Z3 file read so far (records 0). */
typedef void (*c1z_progress_fn)(void *arg, const char *phase, uint64_t records, uint64_t bytes);
struct c1z_progress {
    c1z_progress_fn fn;
    void *arg;
};

/* c1z_import() with progress reports (progress may be NULL). */
int c1z_import_progress(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
                        const struct c1z_progress *progress, struct c1z_stats *stats, char **msg);

/*
 * The first step of c1z_import(), exposed for the fuzzer: checks the header at
 * the current position of f and streams the zstd body after it into out_fd
 * (written from its current offset; out_name names it in messages).  path
 * names the input in messages.  With max_bytes not 0, a body that
 * decompresses to more than max_bytes bytes is refused with -EFBIG, after
 * at most max_bytes were written.  Other errors as c1z_import(): -EINVAL (bad
 * header, corrupt or truncated zstd), -ENOTSUP (C1Z3), a negated errno from
 * reading f or writing out_fd.
 */
int c1z_decompress(FILE *f, const char *path, int out_fd, const char *out_name, uint64_t max_bytes,
                   char **msg);

#endif
