/*
 * sqlite.c - the SQLite side of the benchmark: the same records as baton's c1z
 * v1 tables (filled, untimed, from the generated stores), and the timed phase
 * that replaces a sync the way the baton SDK did: ATTACH the source, then in
 * one transaction DELETE and INSERT ... SELECT per table.
 */
#include "bench_i.h"

#include "buf.h"
#include "c1z.h"
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <string.h>

/* ---- SQLite: the c1z v1 schema and the baton SDK's way of replacing a sync ---- */

/* The tables and indexes of a baton c1z v1 file that hold a sync's records, as
 * `sqlite3 .schema` prints them for a real file. */
static const char sqlite_schema_tables[] =
    "CREATE TABLE v1_resource_types (id integer primary key, external_id text not null,"
    " data blob not null, sync_id text not null, discovered_at datetime not null);"
    "CREATE TABLE v1_resources (id integer primary key, resource_type_id text not null,"
    " external_id text not null, parent_resource_type_id text, parent_resource_id text,"
    " data blob not null, sync_id text not null, discovered_at datetime not null);"
    "CREATE TABLE v1_entitlements (id integer primary key, resource_type_id text not null,"
    " resource_id text not null, external_id text not null, data blob not null,"
    " sync_id text not null, discovered_at datetime not null);"
    "CREATE TABLE v1_grants (id integer primary key, resource_type_id text not null,"
    " resource_id text not null, entitlement_id text not null,"
    " principal_resource_type_id text not null, principal_resource_id text not null,"
    " external_id text not null, expansion blob, needs_expansion integer not null default 0,"
    " data blob not null, sync_id text not null, discovered_at datetime not null);";

static const char sqlite_schema_indexes[] =
    "CREATE UNIQUE INDEX idx_resource_types_external_sync_v1 on v1_resource_types"
    " (external_id, sync_id);"
    "CREATE INDEX idx_resources_resource_type_id_v1 on v1_resources (resource_type_id);"
    "CREATE INDEX idx_resources_external_sync_v1 on v1_resources"
    " (parent_resource_type_id, parent_resource_id);"
    "CREATE UNIQUE INDEX idx_resources_parent_resource_id_v1 on v1_resources"
    " (external_id, sync_id);"
    "CREATE INDEX idx_entitlements_resource_id_v1 on v1_entitlements"
    " (resource_type_id, resource_id);"
    "CREATE UNIQUE INDEX idx_entitlements_external_sync_v1 on v1_entitlements"
    " (external_id, sync_id);"
    "CREATE INDEX idx_grants_resource_type_id_resource_id_v1 on v1_grants"
    " (resource_type_id, resource_id);"
    "CREATE INDEX idx_grants_principal_id_v1 on v1_grants"
    " (principal_resource_type_id, principal_resource_id);"
    "CREATE INDEX idx_grants_entitlement_id_principal_id_v1 on v1_grants"
    " (entitlement_id, principal_resource_type_id, principal_resource_id);"
    "CREATE UNIQUE INDEX idx_grants_external_sync_v1 on v1_grants (external_id, sync_id);"
    "CREATE INDEX idx_grants_sync_expansion_v1 on v1_grants (sync_id)"
    " where expansion is not null;"
    "CREATE INDEX idx_grants_sync_needs_expansion_v1 on v1_grants (sync_id)"
    " where needs_expansion = 1;";

/* How the typed records of a c1z table's bucket (c1z_table_bucket(), as the
 * import maps them) become the table's rows.  Each column takes a JSON field
 * of the record by name, or one of: "=data" the record's JSON bytes, "=sync"
 * its sync_id, "=time" a fixed discovered_at, "=rid" the resource's external
 * id <resource_type>:<id>, "=null", "=zero". */
struct sqlite_table {
    enum c1z_table table;
    int nfields;
    const char *columns; /* every column but id, in the order of fields */
    const char *fields[11];
};

static const struct sqlite_table sqlite_tables[] = {
    {C1Z_RESOURCE_TYPES,
     4,
     "external_id, data, sync_id, discovered_at",
     {"id", "=data", "=sync", "=time"}},
    {C1Z_RESOURCES,
     7,
     "resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data, sync_id,"
     " discovered_at",
     {"resource_type", "=rid", "=null", "=null", "=data", "=sync", "=time"}},
    {C1Z_ENTITLEMENTS,
     6,
     "resource_type_id, resource_id, external_id, data, sync_id, discovered_at",
     {"resource_type", "resource_id", "id", "=data", "=sync", "=time"}},
    {C1Z_GRANTS,
     11,
     "resource_type_id, resource_id, entitlement_id, principal_resource_type_id,"
     " principal_resource_id, external_id, expansion, needs_expansion, data, sync_id,"
     " discovered_at",
     {"resource_type", "resource_id", "entitlement", "principal_type", "principal_id", "id",
      "=null", "=zero", "=data", "=sync", "=time"}},
};

#define SQLITE_NTABLES (sizeof sqlite_tables / sizeof *sqlite_tables)

static int sql_fail(sqlite3 *db, const char *what, char **msg)
{
    return engine_msgf(msg, -EIO, "sqlite: %s: %s", what,
                       db ? sqlite3_errmsg(db) : "out of memory");
}

static int sql_exec(sqlite3 *db, const char *sql, char **msg)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK)
        return 0;
    int rc = engine_msgf(msg, -EIO, "sqlite: %s", err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    return rc;
}

/* Runs one statement with ?1 bound to sync_id and adds the rows it changed. */
static int sql_run_sync(sqlite3 *db, const char *sql, const char *sync_id, uint64_t *changes,
                        char **msg)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(db, sql, msg);
    int rc = 0;
    sqlite3_bind_text(st, 1, sync_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(db, sql, msg);
    else if (changes)
        *changes += (uint64_t)sqlite3_changes(db);
    sqlite3_finalize(st);
    return rc;
}

static const char *json_field(json_t *obj, const char *name)
{
    return json_string_value(json_object_get(obj, name));
}

/* Binds one record's columns to the table's insert statement. */
static int sqlite_bind_record(sqlite3_stmt *st, const struct sqlite_table *t, json_t *obj,
                              const char *value, size_t value_len, const char *sync_id,
                              struct buf *tmp, char **msg)
{
    for (int i = 0; i < t->nfields; i++) {
        const char *f = t->fields[i];
        int col = i + 1;
        if (!strcmp(f, "=data")) {
            sqlite3_bind_blob64(st, col, value, value_len, SQLITE_STATIC);
        } else if (!strcmp(f, "=sync")) {
            sqlite3_bind_text(st, col, sync_id, -1, SQLITE_STATIC);
        } else if (!strcmp(f, "=time")) {
            sqlite3_bind_text(st, col, BENCH_DISCOVERED_AT, -1, SQLITE_STATIC);
        } else if (!strcmp(f, "=null")) {
            sqlite3_bind_null(st, col);
        } else if (!strcmp(f, "=zero")) {
            sqlite3_bind_int(st, col, 0);
        } else if (!strcmp(f, "=rid")) {
            const char *type = json_field(obj, "resource_type"), *id = json_field(obj, "id");
            if (!type || !id)
                return engine_msgf(msg, -EINVAL, "%s record without resource_type or id",
                                   c1z_table_bucket(t->table));
            buf_reset(tmp);
            buf_addf(tmp, "%s:%s", type, id);
            if (buf_error(tmp))
                return -ENOMEM;
            sqlite3_bind_text(st, col, tmp->data, (int)tmp->len, SQLITE_TRANSIENT);
        } else {
            const char *s = json_field(obj, f);
            if (!s)
                return engine_msgf(msg, -EINVAL, "%s record without \"%s\"",
                                   c1z_table_bucket(t->table), f);
            sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
        }
    }
    return 0;
}

/* Inserts the typed records of one bucket of one sync as rows of its table. */
static int sqlite_fill_bucket(sqlite3 *db, engine *e, const struct sqlite_table *t,
                              const char *sync_id, uint64_t *rows, char **msg)
{
    struct buf sql = BUF_INIT, tmp = BUF_INIT;
    sqlite3_stmt *st = NULL;
    engine_iter *it = NULL;
    int rc = 0;
    buf_addf(&sql, "INSERT INTO %s (%s) VALUES (", c1z_table_name(t->table), t->columns);
    for (int i = 0; i < t->nfields; i++)
        buf_addf(&sql, "%s?%d", i ? ", " : "", i + 1);
    buf_addc(&sql, ')');
    if ((rc = buf_error(&sql)))
        goto out;
    if (sqlite3_prepare_v2(db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, sql.data, msg);
        goto out;
    }
    if (!(it = engine_iter_new_bucket(e, NULL, sync_id, c1z_table_bucket(t->table)))) {
        rc = -ENOMEM;
        goto out;
    }
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t vl;
        const char *v = engine_iter_value(it, &vl);
        json_error_t jerr;
        json_t *obj = json_loadb(v, vl, 0, &jerr);
        if (!obj) {
            rc = engine_msgf(msg, -EINVAL, "%s record is not JSON: %s", c1z_table_bucket(t->table),
                             jerr.text);
            goto out;
        }
        rc = sqlite_bind_record(st, t, obj, v, vl, sync_id, &tmp, msg);
        if (rc == 0 && sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, c1z_table_name(t->table), msg);
        json_decref(obj);
        sqlite3_reset(st);
        if (rc)
            goto out;
        (*rows)++;
    }
    rc = engine_iter_status(it, msg);
out:
    engine_iter_free(it);
    sqlite3_finalize(st);
    buf_release(&sql);
    buf_release(&tmp);
    return rc;
}

/* Writes the typed records of the given syncs of store_path into a new SQLite
 * file with the c1z v1 schema.  The fill itself is not timed, so it runs
 * without a journal and without fsync; the file then has its indexes. */
static int sqlite_fill(const char *store_path, const char *db_path, const char *const *syncs,
                       size_t nsyncs, uint64_t *rows, char **msg)
{
    engine *e = NULL;
    sqlite3 *db = NULL;
    int rc = engine_open(store_path, ENGINE_OPEN_READ_ONLY, &e, msg);
    if (rc)
        goto out;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = sql_fail(db, db_path, msg);
        goto out;
    }
    if ((rc = sql_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN", msg)) ||
        (rc = sql_exec(db, sqlite_schema_tables, msg)))
        goto out;
    for (size_t s = 0; s < nsyncs; s++)
        for (size_t i = 0; i < SQLITE_NTABLES; i++)
            if ((rc = sqlite_fill_bucket(db, e, &sqlite_tables[i], syncs[s], rows, msg)))
                goto out;
    if ((rc = sql_exec(db, sqlite_schema_indexes, msg)) || (rc = sql_exec(db, "COMMIT", msg)))
        goto out;
out:
    if (db && sqlite3_close(db) != SQLITE_OK && rc == 0)
        rc = sql_fail(db, db_path, msg);
    engine_close(e);
    return rc;
}

int bench_phase_sqlite_fill(struct bench *b)
{
    const char *base_syncs[] = {BENCH_SYNC, BENCH_OTHER}, *source_syncs[] = {BENCH_SYNC};
    char *msg = NULL;
    double t0 = bench_now();
    int rc = sqlite_fill(b->base, b->sqlite_base, base_syncs, 2, &b->sqlite_base_rows, &msg);
    if (rc == 0)
        rc =
            sqlite_fill(b->source, b->sqlite_source, source_syncs, 1, &b->sqlite_source_rows, &msg);
    if (rc)
        return cli_fail(rc, msg, "sqlite");
    b->sqlite_fill_seconds = bench_now() - t0;
    b->sqlite_base_bytes = bench_file_size(b->sqlite_base);
    b->sqlite_source_bytes = bench_file_size(b->sqlite_source);
    return 0;
}

/* The baton SDK's replacement of a sync: one transaction of DELETE and
 * INSERT ... SELECT per table from the attached source. */
int bench_phase_sqlite(struct bench *b)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    struct buf sql = BUF_INIT;
    double t0 = bench_now();
    int rc = 0;
    if (sqlite3_open_v2(b->sqlite_base, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = sql_fail(db, b->sqlite_base, &msg);
        goto out;
    }
    /* The default rollback journal (DELETE), fsync'd like a careful writer. */
    if ((rc = sql_exec(db, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL", &msg)))
        goto out;
    buf_adds(&sql, "ATTACH DATABASE ");
    buf_add_json_string(&sql, b->sqlite_source, strlen(b->sqlite_source));
    buf_adds(&sql, " AS src");
    if ((rc = buf_error(&sql)) || (rc = sql_exec(db, sql.data, &msg)) ||
        (rc = sql_exec(db, "BEGIN", &msg)))
        goto out;
    for (size_t i = 0; i < SQLITE_NTABLES; i++) {
        const struct sqlite_table *t = &sqlite_tables[i];
        double ts = bench_now();
        buf_reset(&sql);
        const char *table = c1z_table_name(t->table);
        buf_addf(&sql, "DELETE FROM main.%s WHERE sync_id = ?1", table);
        if ((rc = buf_error(&sql)) ||
            (rc = sql_run_sync(db, sql.data, BENCH_SYNC, &b->sqlite_deleted, &msg)))
            goto out;
        double tm = bench_now();
        b->sqlite_delete_seconds += tm - ts;
        buf_reset(&sql);
        buf_addf(&sql, "INSERT INTO main.%s (%s) SELECT %s FROM src.%s WHERE sync_id = ?1", table,
                 t->columns, t->columns, table);
        if ((rc = buf_error(&sql)) ||
            (rc = sql_run_sync(db, sql.data, BENCH_SYNC, &b->sqlite_inserted, &msg)))
            goto out;
        b->sqlite_insert_seconds += bench_now() - tm;
    }
    double tc = bench_now();
    if ((rc = sql_exec(db, "COMMIT", &msg)))
        goto out;
    b->sqlite_commit_seconds = bench_now() - tc;
    b->sqlite_seconds = bench_now() - t0;
    if (b->sqlite_inserted != b->sqlite_source_rows)
        rc = engine_msgf(&msg, -EIO, "sqlite: inserted %llu rows, the source holds %llu",
                         (unsigned long long)b->sqlite_inserted,
                         (unsigned long long)b->sqlite_source_rows);
out:
    if (db)
        sqlite3_close(db);
    buf_release(&sql);
    return rc ? cli_fail(rc, msg, b->sqlite_base) : 0;
}