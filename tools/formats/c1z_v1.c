/*
 * c1z_v1.c - import of v1 c1z files: the SQLite database of the body (c1z.c
 * streams it into a temporary file) is walked table by table, row by row, and
 * every row is handed to a replace-mode loader as the records of its data
 * model type (model.h), which makes the whole file visible in one ingest at
 * the end or not at all.
 *
 * Memory stays bounded: SQLite reads through its page cache, and each row is
 * turned into one JSON value in a reused buffer before the loader copies it.
 * The temporary file is removed on every path out of c1z_v1_import().  Tables and
 * columns are discovered from the file (sqlite_master, the column names of
 * SELECT *), so files of older SDKs with fewer tables or columns import what
 * they hold; only the columns a key is built from (and sync_id) are required.
 */
#include "c1z_i.h"
#include "c1z_v1_i.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "loader.h"
#include "model.h"
#include "pb_json.h"

/* How one table maps to the store: the data model type of its rows (which
 * gives the bucket, the keys and the JSON "type") and the columns its keys
 * are built from, each with the model field it fills (sync_id is always
 * required as well). */
struct key_col {
    const char *name;
    size_t field; /* offsetof(struct model_ids, ...) */
};

struct table_def {
    const char *name;
    enum model_type type;
    struct key_col key_cols[C1Z_KEY_COLS + 1];
    const char *message; /* the protobuf message in its "data" column, or NULL */
};

#define FIELD(f) offsetof(struct model_ids, f)

static const struct table_def tables[C1Z_TABLE_COUNT] = {
    [C1Z_RESOURCE_TYPES] = {"v1_resource_types",
                            MODEL_RESOURCE_TYPE,
                            {{"external_id", FIELD(id)}, {NULL, 0}},
                            "c1.connector.v2.ResourceType"},
    [C1Z_RESOURCES] = {"v1_resources",
                       MODEL_RESOURCE,
                       {{"resource_type_id", FIELD(resource_type)},
                        {"external_id", FIELD(id)},
                        {NULL, 0}},
                       "c1.connector.v2.Resource"},
    [C1Z_ENTITLEMENTS] = {"v1_entitlements",
                          MODEL_ENTITLEMENT,
                          {{"external_id", FIELD(id)}, {NULL, 0}},
                          "c1.connector.v2.Entitlement"},
    [C1Z_GRANTS] = {"v1_grants",
                    MODEL_GRANT,
                    {{"external_id", FIELD(id)},
                     {"entitlement_id", FIELD(entitlement)},
                     {"principal_resource_type_id", FIELD(principal_type)},
                     {"principal_resource_id", FIELD(principal_id)},
                     {NULL, 0}},
                    "c1.connector.v2.Grant"},
    /* an asset's data is its content, not a message */
    [C1Z_ASSETS] = {"v1_assets", MODEL_ASSET, {{"external_id", FIELD(id)}, {NULL, 0}}, NULL},
    [C1Z_SYNC_RUNS] = {"v1_sync_runs", MODEL_SYNC_RUN, {{"sync_id", FIELD(id)}, {NULL, 0}}, NULL},
    [C1Z_CONNECTOR_SESSIONS] = {"v1_connector_sessions",
                                MODEL_CONNECTOR_SESSION,
                                {{"key", FIELD(id)}, {NULL, 0}},
                                NULL},
};

const char *c1z_table_name(enum c1z_table table)
{
    return (unsigned)table < C1Z_TABLE_COUNT ? tables[table].name : "?";
}

const char *c1z_table_bucket(enum c1z_table table)
{
    return (unsigned)table < C1Z_TABLE_COUNT
               ? model_bucket_name(model_type_bucket(tables[table].type))
               : "?";
}

/* State of one import; everything here is released by import_release(). */
struct import {
    engine *e;
    const char *path;
    char *tmp_path; /* the decompressed SQLite file, removed at the end */
    int tmp_fd;
    sqlite3 *db;
    int present[C1Z_TABLE_COUNT];
    char **found; /* every distinct sync_id of the file, sorted */
    size_t n_found;
    char **selected; /* the syncs to import, sorted, unique */
    size_t n_selected;
    struct c1z_sync_stats *sync_stats; /* parallel to selected */
    loader *l;
    struct pb_schema *schema; /* what "data" columns hold (pb_baton_schema) */
    struct buf value;
    struct buf part[C1Z_KEY_COLS];     /* a row's key columns */
    struct buf key[MODEL_RECORD_KEYS]; /* the keys joined from them */
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Appends a copy of s[0..len) to a string vector unless it is there already. */
static int strings_add_unique(char ***v, size_t *n, const char *s, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*v)[i]) == len && !memcmp((*v)[i], s, len))
            return 0;
    char **nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    nv[(*n)++] = copy;
    return 0;
}

/* Index of s[0..len) in the sorted vector, or -1. */
static long strings_find(char *const *v, size_t n, const char *s, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        size_t mlen = strlen(v[mid]);
        int c = memcmp(v[mid], s, mlen < len ? mlen : len);
        if (c == 0)
            c = mlen < len ? -1 : mlen > len;
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- SQLite ---- */

/* An error code and message for a failed SQLite call while doing `what`. */
static int sqlite_fail(struct import *im, int src, const char *what, char **msg)
{
    int primary = src & 0xff;
    if (primary == SQLITE_NOTADB)
        return engine_msgf(msg, -EINVAL, "'%s' is not a c1z file (no SQLite database inside)",
                           im->path);
    if (primary == SQLITE_CORRUPT)
        return engine_msgf(msg, -EINVAL, "'%s' is corrupt (%s: %s)", im->path, what,
                           im->db ? sqlite3_errmsg(im->db) : sqlite3_errstr(src));
    if (primary == SQLITE_NOMEM)
        return engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", im->path);
    return engine_msgf(msg, -EIO, "cannot read '%s' (%s: %s)", im->path, what,
                       im->db ? sqlite3_errmsg(im->db) : sqlite3_errstr(src));
}

static int open_db(struct import *im, char **msg)
{
    /* A URI so that immutable=1 applies: no locks, no journal lookups.  Every
     * byte outside the unreserved set is %-escaped. */
    if (!im->tmp_path)
        return engine_msgf(msg, -EINVAL, "no decompressed copy to open");
    struct buf uri = BUF_INIT;
    buf_adds(&uri, "file:");
    for (const unsigned char *p = (const unsigned char *)im->tmp_path; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("/._-~", *p))
            buf_addc(&uri, (char)*p);
        else
            buf_addf(&uri, "%%%02X", *p);
    }
    buf_adds(&uri, "?immutable=1");
    if (buf_error(&uri)) {
        buf_release(&uri);
        return engine_msgf(msg, -ENOMEM, "out of memory");
    }
    int src = sqlite3_open_v2(uri.data, &im->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    buf_release(&uri);
    if (src != SQLITE_OK) {
        int rc = sqlite_fail(im, src, "opening the database", msg);
        sqlite3_close(im->db);
        im->db = NULL;
        return rc;
    }
    return 0;
}

static int prepare(struct import *im, const char *sql, sqlite3_stmt **st, const char *what,
                   char **msg)
{
    int src = sqlite3_prepare_v2(im->db, sql, -1, st, NULL);
    if (src != SQLITE_OK) {
        *st = NULL;
        return sqlite_fail(im, src, what, msg);
    }
    return 0;
}

/* Finds which of the known tables the file holds. */
static int discover_tables(struct import *im, char **msg)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(im, "SELECT name FROM sqlite_master WHERE type = 'table'", &st,
                     "listing tables", msg);
    if (rc)
        return rc;
    int src, any = 0;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        for (int t = 0; name && t < C1Z_TABLE_COUNT; t++)
            if (!strcasecmp(name, tables[t].name))
                im->present[t] = any = 1;
    }
    if (src != SQLITE_DONE)
        rc = sqlite_fail(im, src, "listing tables", msg);
    else if (!any)
        rc = engine_msgf(msg, -EINVAL, "'%s' is not a c1z file (it holds no v1_ table)", im->path);
    sqlite3_finalize(st);
    return rc;
}

static void columns_release(struct v1_columns *c)
{
    if (c->json_name)
        free_strings(c->json_name, (size_t)c->n);
    if (c->json_name_b64)
        free_strings(c->json_name_b64, (size_t)c->n);
    memset(c, 0, sizeof(*c));
}

static int find_column(sqlite3_stmt *st, const char *name)
{
    for (int i = 0; i < sqlite3_column_count(st); i++) {
        const char *n = sqlite3_column_name(st, i);
        if (n && !strcasecmp(n, name))
            return i;
    }
    return -1;
}

static int read_columns(struct import *im, enum c1z_table t, sqlite3_stmt *st, struct v1_columns *c,
                        char **msg)
{
    const struct table_def *def = &tables[t];
    memset(c, 0, sizeof(*c));
    c->n = sqlite3_column_count(st);
    /* First, so that every later return leaves the name arrays set. */
    c->json_name = calloc((size_t)c->n + 1, sizeof(char *));
    c->json_name_b64 = calloc((size_t)c->n + 1, sizeof(char *));
    if (!c->json_name || !c->json_name_b64) {
        engine_msgf(msg, -ENOMEM, "out of memory");
        return -ENOMEM;
    }
    c->id = find_column(st, "id");
    c->data = find_column(st, "data");
    c->sync_id = find_column(st, "sync_id");
    if (c->sync_id < 0)
        return engine_msgf(msg, -EINVAL, "'%s': table %s has no column 'sync_id'", im->path,
                           def->name);
    for (int k = 0; def->key_cols[k].name; k++) {
        c->key[k] = find_column(st, def->key_cols[k].name);
        if (c->key[k] < 0)
            return engine_msgf(msg, -EINVAL, "'%s': table %s has no column '%s'", im->path,
                               def->name, def->key_cols[k].name);
    }
    for (int i = 0; i < c->n; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (!name)
            return engine_msgf(msg, -ENOMEM, "out of memory");
        if (!utf8_valid(name, strlen(name)))
            return engine_msgf(msg, -EINVAL, "'%s': table %s has a column name that is not UTF-8",
                               im->path, def->name);
        c->json_name[i] = c1z_v1_json_name(name, "");
        c->json_name_b64[i] = c1z_v1_json_name(name, "_b64");
        if (!c->json_name[i] || !c->json_name_b64[i])
            return engine_msgf(msg, -ENOMEM, "out of memory");
    }
    /* Two columns must not be able to write the same JSON name ("type" is
     * written as "type_column", TEXT that is not UTF-8 as "<name>_b64"): the
     * value would hold a name twice and lose one of the columns. */
    for (int i = 0; i < c->n; i++) {
        if (i == c->id)
            continue;
        for (int j = i + 1; j < c->n; j++) {
            if (j == c->id)
                continue;
            const char *a[2] = {c->json_name[i], c->json_name_b64[i]};
            const char *b[2] = {c->json_name[j], c->json_name_b64[j]};
            for (int x = 0; x < 4; x++)
                if (!strcmp(a[x / 2], b[x % 2]))
                    return engine_msgf(msg, -EINVAL,
                                       "'%s': table %s has columns '%s' and '%s', which would both "
                                       "be written as %.*s in a record",
                                       im->path, def->name, sqlite3_column_name(st, i),
                                       sqlite3_column_name(st, j), (int)strlen(a[x / 2]) - 2,
                                       a[x / 2] + 1);
        }
    }
    return 0;
}

/* Collects every distinct sync_id of every known table. */
static int collect_syncs(struct import *im, char **msg)
{
    int rc = 0;
    for (int t = 0; t < C1Z_TABLE_COUNT && !rc; t++) {
        if (!im->present[t])
            continue;
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT DISTINCT sync_id FROM \"%s\"", tables[t].name);
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(im->db, sql, -1, &st, NULL);
        if (src != SQLITE_OK) {
            /* Most likely no sync_id column: say so precisely. */
            sqlite3_finalize(st);
            st = NULL;
            snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", tables[t].name);
            rc = prepare(im, sql, &st, tables[t].name, msg);
            if (!rc && find_column(st, "sync_id") < 0)
                rc = engine_msgf(msg, -EINVAL, "'%s': table %s has no column 'sync_id'", im->path,
                                 tables[t].name);
            else if (!rc)
                rc = sqlite_fail(im, src, tables[t].name, msg);
            sqlite3_finalize(st);
            break;
        }
        while ((src = sqlite3_step(st)) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) == SQLITE_NULL)
                continue; /* reported when the row is imported */
            const char *s = (const char *)sqlite3_column_text(st, 0);
            int len = sqlite3_column_bytes(st, 0);
            if (!s)
                continue;
            if (memchr(s, '\0', (size_t)len)) {
                rc = engine_msgf(msg, -EINVAL, "'%s': %s has a sync_id with a NUL byte", im->path,
                                 tables[t].name);
                break;
            }
            rc = strings_add_unique(&im->found, &im->n_found, s, (size_t)len);
            if (rc) {
                rc = engine_msgf(msg, rc, "out of memory");
                break;
            }
        }
        if (!rc && src != SQLITE_DONE)
            rc = sqlite_fail(im, src, tables[t].name, msg);
        sqlite3_finalize(st);
    }
    if (!rc && im->n_found)
        qsort(im->found, im->n_found, sizeof(*im->found), cmp_str);
    return rc;
}

/* Chooses the syncs to import: the named ones, which must all be in the file,
 * or every sync found.  Each must be a valid sync_id. */
static int select_syncs(struct import *im, const char *const *names, size_t n_names, char **msg)
{
    int rc = 0;
    if (n_names) {
        for (size_t i = 0; i < n_names && !rc; i++) {
            char *m = NULL;
            rc = engine_check_sync_id(names[i], strlen(names[i]), &m);
            if (rc) {
                rc = engine_msgf(msg, rc, "%s", m ? m : "invalid sync_id");
                free(m);
                break;
            }
            if (strings_find(im->found, im->n_found, names[i], strlen(names[i])) < 0) {
                struct buf held = BUF_INIT;
                for (size_t k = 0; k < im->n_found && k < 5; k++)
                    buf_addf(&held, "%s'%s'", k ? ", " : "", im->found[k]);
                if (im->n_found > 5)
                    buf_adds(&held, ", ...");
                rc = engine_msgf(msg, -ENOENT, "'%s' holds no sync '%s' (it holds %s)", im->path,
                                 names[i], im->n_found ? held.data : "none");
                buf_release(&held);
                break;
            }
            rc = strings_add_unique(&im->selected, &im->n_selected, names[i], strlen(names[i]));
            if (rc)
                rc = engine_msgf(msg, rc, "out of memory");
        }
    } else {
        for (size_t i = 0; i < im->n_found && !rc; i++) {
            char *m = NULL;
            rc = engine_check_sync_id(im->found[i], strlen(im->found[i]), &m);
            if (rc) {
                rc = engine_msgf(msg, rc, "'%s': %s", im->path, m ? m : "invalid sync_id");
                free(m);
                break;
            }
            rc = strings_add_unique(&im->selected, &im->n_selected, im->found[i],
                                    strlen(im->found[i]));
            if (rc)
                rc = engine_msgf(msg, rc, "out of memory");
        }
    }
    if (rc)
        return rc;
    if (im->n_selected)
        qsort(im->selected, im->n_selected, sizeof(*im->selected), cmp_str);
    im->sync_stats = calloc(im->n_selected ? im->n_selected : 1, sizeof(*im->sync_stats));
    if (!im->sync_stats)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    for (size_t i = 0; i < im->n_selected; i++)
        snprintf(im->sync_stats[i].sync_id, sizeof(im->sync_stats[i].sync_id), "%s",
                 im->selected[i]);
    return 0;
}

/* ---- Rows to records ---- */

/* Copies the bytes of a key column into out; -EINVAL when it is NULL,
 * -ENOMEM. */
static int key_part(sqlite3_stmt *st, int col, struct buf *out)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return -EINVAL;
    const void *p = sqlite3_column_blob(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    buf_add(out, p, len);
    return buf_error(out);
}

/* Adds one record, adding table and row context to a loader error. */
static int add_record(struct import *im, enum c1z_table t, const char *row, const char *sync,
                      const char *bucket, const struct buf *key, const void *value, size_t len,
                      char **msg)
{
    char *m = NULL;
    int rc = loader_add(im->l, sync, bucket, key->data, key->len, value, len, &m);
    if (rc)
        engine_msgf(msg, rc, "'%s': %s %s: %s", im->path, tables[t].name, row,
                    m ? m : engine_strerror(rc));
    free(m);
    return rc;
}

static int import_row(struct import *im, enum c1z_table t, sqlite3_stmt *st,
                      const struct v1_columns *c, uint64_t ordinal, char **msg)
{
    const struct table_def *def = &tables[t];
    char row[64];
    if (c->id >= 0 && sqlite3_column_type(st, c->id) == SQLITE_INTEGER)
        snprintf(row, sizeof(row), "row id %lld", (long long)sqlite3_column_int64(st, c->id));
    else
        snprintf(row, sizeof(row), "row %llu", (unsigned long long)ordinal);

    if (sqlite3_column_type(st, c->sync_id) == SQLITE_NULL)
        return engine_msgf(msg, -EINVAL, "'%s': %s %s has no sync_id", im->path, def->name, row);
    const char *sync = (const char *)sqlite3_column_text(st, c->sync_id);
    size_t sync_len = (size_t)sqlite3_column_bytes(st, c->sync_id);
    long idx = sync ? strings_find(im->selected, im->n_selected, sync, sync_len) : -1;
    if (idx < 0)
        return 0; /* a sync that was not asked for */
    const char *sync_id = im->selected[idx];

    if (c1z_v1_row_json(&im->value, model_type_name(tables[t].type), tables[t].message, im->schema,
                        st, c))
        return engine_msgf(msg, -ENOMEM, "out of memory");

    /* Key parts are read after the value: reading a column as bytes may
     * convert it, and the value must see the stored type. */
    struct model_ids ids;
    memset(&ids, 0, sizeof ids);
    for (int k = 0; def->key_cols[k].name; k++) {
        struct buf *part = &im->part[k];
        buf_reset(part);
        int rc = key_part(st, c->key[k], part);
        if (rc == -ENOMEM)
            return engine_msgf(msg, rc, "out of memory");
        if (rc)
            return engine_msgf(msg, -EINVAL, "'%s': %s %s has a null %s", im->path, def->name, row,
                               def->key_cols[k].name);
        struct model_str *field = (struct model_str *)((char *)&ids + def->key_cols[k].field);
        *field = (struct model_str){part->data, part->len};
    }
    /* baton stores resources as "<type>:<id>"; grants name principals by the bare id. */
    if (def->type == MODEL_RESOURCE && ids.id.len > ids.resource_type.len &&
        !memcmp(ids.id.data, ids.resource_type.data, ids.resource_type.len) &&
        ids.id.data[ids.resource_type.len] == ':') {
        ids.id.data += ids.resource_type.len + 1;
        ids.id.len -= ids.resource_type.len + 1;
    }

    struct model_key keys[MODEL_RECORD_KEYS];
    size_t n = model_record_keys(def->type, &ids, keys);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        struct buf *key = &im->key[i];
        buf_reset(key);
        if (buf_grow(key, model_key_len(&keys[i])))
            return engine_msgf(msg, -ENOMEM, "out of memory");
        key->len = model_key_write(&keys[i], key->data);
        key->data[key->len] = '\0';
        rc =
            add_record(im, t, row, sync_id, model_bucket_name(keys[i].bucket), key,
                       keys[i].index ? "" : im->value.data, keys[i].index ? 0 : im->value.len, msg);
    }
    if (!rc)
        im->sync_stats[idx].rows[t]++;
    return rc;
}

static int import_table(struct import *im, enum c1z_table t, char **msg)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    struct v1_columns cols = {0};
    snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\"", tables[t].name);
    int rc = prepare(im, sql, &st, tables[t].name, msg);
    if (rc)
        return rc;
    rc = read_columns(im, t, st, &cols, msg);
    if (rc)
        goto out;
    uint64_t ordinal = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = import_row(im, t, st, &cols, ++ordinal, msg);
        if (rc)
            goto out;
    }
    if (src != SQLITE_DONE)
        rc = sqlite_fail(im, src, tables[t].name, msg);
out:
    columns_release(&cols);
    sqlite3_finalize(st);
    return rc;
}

static void import_release(struct import *im)
{
    loader_free(im->l);
    if (im->db)
        sqlite3_close(im->db);
    if (im->tmp_fd >= 0)
        close(im->tmp_fd);
    if (im->tmp_path) {
        unlink(im->tmp_path);
        free(im->tmp_path);
    }
    free_strings(im->found, im->n_found);
    free_strings(im->selected, im->n_selected);
    free(im->sync_stats);
    pb_schema_free(im->schema);
    buf_release(&im->value);
    for (int k = 0; k < C1Z_KEY_COLS; k++)
        buf_release(&im->part[k]);
    for (int k = 0; k < MODEL_RECORD_KEYS; k++)
        buf_release(&im->key[k]);
}

/* Copies text column `name` of the row into out (size bytes), or leaves it
 * empty when the column is absent or NULL. */
static void run_text(sqlite3_stmt *st, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    for (int c = 0; c < sqlite3_column_count(st); c++) {
        if (strcmp(sqlite3_column_name(st, c), name) || sqlite3_column_type(st, c) == SQLITE_NULL)
            continue;
        const unsigned char *t = sqlite3_column_text(st, c);
        snprintf(out, size, "%s", t ? (const char *)t : "");
    }
}

/* Records each imported sync's run (engine_sync_run_put) from its
 * v1_sync_runs row, when the file has one; metadata, so best effort. */
static void record_runs(struct import *im)
{
    if (!im->present[C1Z_SYNC_RUNS])
        return;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(im->db, "SELECT * FROM v1_sync_runs WHERE sync_id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return;
    for (size_t i = 0; i < im->n_selected; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, im->selected[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW)
            continue;
        struct engine_sync_run run = {.format = "c1z v1"};
        run_text(st, "started_at", run.started_at, sizeof run.started_at);
        run_text(st, "ended_at", run.ended_at, sizeof run.ended_at);
        run_text(st, "sync_type", run.type, sizeof run.type);
        engine_sync_run_put(im->e, im->selected[i], &run, NULL);
    }
    sqlite3_finalize(st);
}

/*
 * The import proper: header, body, tables, syncs, then the loader.  Nothing
 * reaches the store before loader_commit(), the last step.
 */
int c1z_v1_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
                  const struct c1z_progress *progress, struct c1z_stats *stats, char **msg)
{
    struct import im = {.e = e, .path = path, .tmp_fd = -1};
    FILE *f = NULL;
    int rc;

    buf_init(&im.value);
    for (int k = 0; k < C1Z_KEY_COLS; k++)
        buf_init(&im.part[k]);
    for (int k = 0; k < MODEL_RECORD_KEYS; k++)
        buf_init(&im.key[k]);
    if (stats)
        memset(stats, 0, sizeof(*stats));

    f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        rc = engine_msgf(msg, -err, "cannot open '%s': %s", path, strerror(err));
        goto err;
    }
    rc = c1z_check_header(f, path, msg);
    if (rc)
        goto err;
    rc = c1z_make_temp(path, &im.tmp_path, &im.tmp_fd, msg);
    if (rc)
        goto err;
    rc = c1z_decompress_body(f, path, im.tmp_fd, im.tmp_path, 0, msg);
    if (rc)
        goto err;
    fclose(f);
    f = NULL;

    rc = open_db(&im, msg);
    if (rc)
        goto err;
    rc = discover_tables(&im, msg);
    if (rc)
        goto err;
    rc = collect_syncs(&im, msg);
    if (rc)
        goto err;
    rc = select_syncs(&im, sync_ids, n_sync_ids, msg);
    if (rc)
        goto err;

    rc = pb_schema_baton(NULL, 0, &im.schema, msg);
    if (rc)
        goto err;
    struct loader_options opt = {.replace = 1};
    if (progress) {
        opt.progress = progress->fn;
        opt.progress_arg = progress->arg;
    }
    rc = loader_new(e, &opt, &im.l, msg);
    if (rc)
        goto err;
    for (size_t i = 0; i < im.n_selected; i++) {
        rc = loader_name_sync(im.l, im.selected[i], msg);
        if (rc)
            goto err;
    }
    for (int t = 0; t < C1Z_TABLE_COUNT; t++) {
        if (!im.present[t])
            continue;
        rc = import_table(&im, (enum c1z_table)t, msg);
        if (rc)
            goto err;
    }

    struct loader_stats ls = {0};
    char *m = NULL;
    rc = loader_commit(im.l, &ls, &m);
    if (rc) {
        engine_msgf(msg, rc, "cannot import '%s': %s", path, m ? m : engine_strerror(rc));
        free(m);
        goto err;
    }

    record_runs(&im);
    if (stats) {
        stats->syncs = im.sync_stats;
        stats->n_syncs = im.n_selected;
        im.sync_stats = NULL;
        stats->records = ls.records;
        for (size_t i = 0; i < stats->n_syncs; i++)
            for (int t = 0; t < C1Z_TABLE_COUNT; t++) {
                stats->table_rows[t] += stats->syncs[i].rows[t];
                stats->rows += stats->syncs[i].rows[t];
            }
    }
    import_release(&im);
    return 0;

err:
    if (f)
        fclose(f);
    import_release(&im);
    return rc;
}
