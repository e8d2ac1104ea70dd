/*
 * c1z.c - import of baton .c1z files: check the header, stream the zstd body
 * into a temporary SQLite file, then walk the known tables row by row and hand
 * every row to a replace-mode loader, which makes the whole file visible in one
 * ingest at the end or not at all.
 *
 * Memory stays bounded: zstd decodes through two fixed buffers, SQLite reads
 * through its page cache, and each row is turned into one JSON value in a
 * reused buffer before the loader copies it.  The temporary file is removed on
 * every path out of c1z_import().  Tables and columns are discovered from the
 * file (sqlite_master, the column names of SELECT *), so files of older SDKs
 * with fewer tables or columns import what they hold; only the columns a key
 * is built from (and sync_id) are required.
 */
#include "c1z.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zstd.h>

#include "buf.h"
#include "loader.h"

#define C1Z_MAGIC_V1 "C1ZF\0"
#define C1Z_MAGIC_LEN 5
#define C1Z_KEY_COLS 4

/* How one table maps to the store: its JSON "type", its bucket, and the
 * columns its keys are built from (sync_id is always required as well). */
struct table_def {
    const char *name;
    const char *bucket;
    const char *type;
    const char *key_cols[C1Z_KEY_COLS + 1];
};

static const struct table_def tables[C1Z_TABLE_COUNT] = {
    [C1Z_RESOURCE_TYPES] = {"v1_resource_types",
                            "resource_types",
                            "resource_type",
                            {"external_id", NULL}},
    [C1Z_RESOURCES] = {"v1_resources",
                       "resources",
                       "resource",
                       {"resource_type_id", "external_id", NULL}},
    [C1Z_ENTITLEMENTS] = {"v1_entitlements", "entitlements", "entitlement", {"external_id", NULL}},
    [C1Z_GRANTS] = {"v1_grants",
                    "grants",
                    "grant",
                    {"external_id", "entitlement_id", "principal_resource_type_id",
                     "principal_resource_id", NULL}},
    [C1Z_ASSETS] = {"v1_assets", "assets", "asset", {"external_id", NULL}},
    [C1Z_SYNC_RUNS] = {"v1_sync_runs", "sync_runs", "sync_run", {"sync_id", NULL}},
    [C1Z_CONNECTOR_SESSIONS] = {"v1_connector_sessions",
                                "connector_sessions",
                                "connector_session",
                                {"key", NULL}},
};

const char *c1z_table_name(enum c1z_table table)
{
    return (unsigned)table < C1Z_TABLE_COUNT ? tables[table].name : "?";
}

const char *c1z_table_bucket(enum c1z_table table)
{
    return (unsigned)table < C1Z_TABLE_COUNT ? tables[table].bucket : "?";
}

void c1z_stats_release(struct c1z_stats *stats)
{
    if (!stats)
        return;
    free(stats->syncs);
    memset(stats, 0, sizeof(*stats));
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
    struct buf value;
    struct buf key[3];
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

/* ---- Header and zstd body ---- */

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Checks the magic at the start of f and leaves f after it. */
static int check_header(FILE *f, const char *path, char **msg)
{
    unsigned char magic[C1Z_MAGIC_LEN];
    size_t n = fread(magic, 1, sizeof(magic), f);
    if (n < sizeof(magic) && ferror(f)) {
        int err = errno ? errno : EIO;
        return engine_msgf(msg, -err, "cannot read '%s': %s", path, strerror(err));
    }
    if (n >= 4 && !memcmp(magic, "C1Z3", 4))
        return engine_msgf(msg, -ENOTSUP,
                           "'%s' is a c1z file of format C1Z3, which is newer than this "
                           "syncstore supports (only v1, C1ZF)",
                           path);
    if (n < sizeof(magic) || memcmp(magic, C1Z_MAGIC_V1, C1Z_MAGIC_LEN))
        return engine_msgf(msg, -EINVAL, "'%s' is not a c1z file (bad header)", path);
    return 0;
}

/* Streams the zstd body of f into out_fd, at most max_bytes (0: no limit). */
static int decompress_body(FILE *f, const char *path, int out_fd, const char *out_name,
                           uint64_t max_bytes, char **msg)
{
    size_t in_cap = ZSTD_DStreamInSize(), out_cap = ZSTD_DStreamOutSize();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    void *in = malloc(in_cap), *out = malloc(out_cap);
    int rc = 0, seen_input = 0;
    size_t last = 0;
    uint64_t total = 0;

    if (!dctx || !in || !out) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory decompressing '%s'", path);
        goto out;
    }
    for (;;) {
        size_t n = fread(in, 1, in_cap, f);
        if (n == 0) {
            if (ferror(f)) {
                int err = errno ? errno : EIO;
                rc = engine_msgf(msg, -err, "cannot read '%s': %s", path, strerror(err));
                goto out;
            }
            break;
        }
        seen_input = 1;
        ZSTD_inBuffer ib = {in, n, 0};
        ZSTD_outBuffer ob;
        do {
            ob = (ZSTD_outBuffer){out, out_cap, 0};
            last = ZSTD_decompressStream(dctx, &ob, &ib);
            if (ZSTD_isError(last)) {
                rc = engine_msgf(msg, -EINVAL, "'%s' is corrupt (zstd: %s)", path,
                                 ZSTD_getErrorName(last));
                goto out;
            }
            total += ob.pos;
            if (max_bytes && total > max_bytes) {
                rc = engine_msgf(msg, -EFBIG, "'%s' decompresses to more than %llu bytes", path,
                                 (unsigned long long)max_bytes);
                goto out;
            }
            rc = write_all(out_fd, out, ob.pos);
            if (rc) {
                rc = engine_msgf(msg, rc, "cannot write temporary file '%s' for '%s': %s", out_name,
                                 path, strerror(-rc));
                goto out;
            }
        } while (ib.pos < ib.size || ob.pos == ob.size);
    }
    if (!seen_input) {
        rc = engine_msgf(msg, -EINVAL, "'%s' is truncated (nothing after the c1z header)", path);
        goto out;
    }
    if (last != 0)
        rc = engine_msgf(msg, -EINVAL, "'%s' is truncated (the zstd stream ends early)", path);
out:
    ZSTD_freeDCtx(dctx);
    free(in);
    free(out);
    return rc;
}

int c1z_decompress(FILE *f, const char *path, int out_fd, const char *out_name, uint64_t max_bytes,
                   char **msg)
{
    int rc = check_header(f, path, msg);
    if (rc)
        return rc;
    return decompress_body(f, path, out_fd, out_name, max_bytes, msg);
}

static int make_temp_file(struct import *im, char **msg)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if (asprintf(&im->tmp_path, "%s/syncstore-import-XXXXXX", dir) < 0) {
        im->tmp_path = NULL;
        return engine_msgf(msg, -ENOMEM, "out of memory");
    }
    im->tmp_fd = mkostemp(im->tmp_path, O_CLOEXEC);
    if (im->tmp_fd < 0) {
        int err = errno;
        free(im->tmp_path);
        im->tmp_path = NULL;
        return engine_msgf(msg, -err, "cannot create a temporary file in '%s' to import '%s': %s",
                           dir, im->path, strerror(err));
    }
    return 0;
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

/* Column positions of one table's SELECT *. */
struct columns {
    int n;
    int id;                /* the row id column "id", or -1 */
    int sync_id;           /* always found */
    int key[C1Z_KEY_COLS]; /* the table's key columns, in table_def order */
    char **json_name;      /* `,"name":` per column */
    char **json_name_b64;  /* `,"name_b64":` per column */
};

static void columns_release(struct columns *c)
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

static char *json_field_name(const char *name, const char *suffix)
{
    struct buf b = BUF_INIT;
    struct buf n = BUF_INIT;
    buf_adds(&n, !strcmp(name, "type") ? "type_column" : name);
    buf_adds(&n, suffix);
    buf_addc(&b, ',');
    buf_add_json_string(&b, n.data, n.len);
    buf_addc(&b, ':');
    buf_release(&n);
    return buf_detach(&b, NULL);
}

static int read_columns(struct import *im, enum c1z_table t, sqlite3_stmt *st, struct columns *c,
                        char **msg)
{
    const struct table_def *def = &tables[t];
    memset(c, 0, sizeof(*c));
    c->n = sqlite3_column_count(st);
    c->id = find_column(st, "id");
    c->sync_id = find_column(st, "sync_id");
    if (c->sync_id < 0)
        return engine_msgf(msg, -EINVAL, "'%s': table %s has no column 'sync_id'", im->path,
                           def->name);
    for (int k = 0; def->key_cols[k]; k++) {
        c->key[k] = find_column(st, def->key_cols[k]);
        if (c->key[k] < 0)
            return engine_msgf(msg, -EINVAL, "'%s': table %s has no column '%s'", im->path,
                               def->name, def->key_cols[k]);
    }
    c->json_name = calloc((size_t)c->n + 1, sizeof(char *));
    c->json_name_b64 = calloc((size_t)c->n + 1, sizeof(char *));
    if (!c->json_name || !c->json_name_b64)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    for (int i = 0; i < c->n; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (!name)
            return engine_msgf(msg, -ENOMEM, "out of memory");
        if (!utf8_valid(name, strlen(name)))
            return engine_msgf(msg, -EINVAL, "'%s': table %s has a column name that is not UTF-8",
                               im->path, def->name);
        c->json_name[i] = json_field_name(name, "");
        c->json_name_b64[i] = json_field_name(name, "_b64");
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

/* Appends the JSON value of the current row to im->value. */
static void row_value(struct import *im, enum c1z_table t, sqlite3_stmt *st,
                      const struct columns *c)
{
    struct buf *v = &im->value;
    buf_reset(v);
    buf_adds(v, "{\"type\":");
    buf_add_json_string(v, tables[t].type, strlen(tables[t].type));
    for (int i = 0; i < c->n; i++) {
        if (i == c->id)
            continue;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            buf_adds(v, c->json_name[i]);
            buf_addf(v, "%lld", (long long)sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT: {
            double d = sqlite3_column_double(st, i);
            buf_adds(v, c->json_name[i]);
            if (isfinite(d))
                buf_addf(v, "%.17g", d);
            else
                buf_adds(v, "null");
            break;
        }
        case SQLITE_TEXT: {
            const unsigned char *s = sqlite3_column_text(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            if (!s)
                s = (const unsigned char *)"";
            if (!memchr(s, '\0', len) && utf8_valid(s, len)) {
                buf_adds(v, c->json_name[i]);
                buf_add_json_string(v, s, len);
            } else {
                buf_adds(v, c->json_name_b64[i]);
                buf_addc(v, '"');
                buf_add_base64(v, s, len);
                buf_addc(v, '"');
            }
            break;
        }
        case SQLITE_BLOB: {
            const void *p = sqlite3_column_blob(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            buf_adds(v, c->json_name_b64[i]);
            buf_addc(v, '"');
            buf_add_base64(v, p, len);
            buf_addc(v, '"');
            break;
        }
        default:
            buf_adds(v, c->json_name[i]);
            buf_adds(v, "null");
            break;
        }
    }
    buf_addc(v, '}');
}

/* Copies the bytes of a key column into out; -EINVAL when it is NULL. */
static int key_part(sqlite3_stmt *st, int col, struct buf *out)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return -EINVAL;
    const void *p = sqlite3_column_blob(st, col);
    size_t len = (size_t)sqlite3_column_bytes(st, col);
    buf_add(out, p, len);
    return 0;
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
                      const struct columns *c, uint64_t ordinal, char **msg)
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

    row_value(im, t, st, c);

    /* Key parts are read after the value: reading a column as bytes may
     * convert it, and the value must see the stored type. */
    for (int k = 0; k < 3; k++)
        buf_reset(&im->key[k]);
    int rc = 0;
    const char *null_col = NULL;
    switch (t) {
    case C1Z_RESOURCES: {
        struct buf *key = &im->key[0];
        struct buf ext = BUF_INIT;
        if (key_part(st, c->key[0], key))
            null_col = def->key_cols[0];
        else if (key_part(st, c->key[1], &ext))
            null_col = def->key_cols[1];
        if (!null_col) {
            size_t skip = 0;
            if (ext.len > key->len && !memcmp(ext.data, key->data, key->len) &&
                ext.data[key->len] == ':')
                skip = key->len + 1;
            buf_addc(key, '/');
            buf_add(key, ext.data + skip, ext.len - skip);
        }
        buf_release(&ext);
        break;
    }
    case C1Z_GRANTS: {
        struct buf *grant = &im->key[0], *by_ent = &im->key[1], *by_pr = &im->key[2];
        if (key_part(st, c->key[0], grant)) {
            null_col = def->key_cols[0];
            break;
        }
        if (key_part(st, c->key[1], by_ent)) {
            null_col = def->key_cols[1];
            break;
        }
        buf_addc(by_ent, '/');
        buf_add(by_ent, grant->data, grant->len);
        if (key_part(st, c->key[2], by_pr)) {
            null_col = def->key_cols[2];
            break;
        }
        buf_addc(by_pr, '/');
        if (key_part(st, c->key[3], by_pr)) {
            null_col = def->key_cols[3];
            break;
        }
        buf_addc(by_pr, '/');
        buf_add(by_pr, grant->data, grant->len);
        break;
    }
    default:
        if (key_part(st, c->key[0], &im->key[0]))
            null_col = def->key_cols[0];
        break;
    }
    if (null_col)
        return engine_msgf(msg, -EINVAL, "'%s': %s %s has a null %s", im->path, def->name, row,
                           null_col);

    rc = add_record(im, t, row, sync_id, def->bucket, &im->key[0], im->value.data, im->value.len,
                    msg);
    if (!rc && t == C1Z_GRANTS)
        rc = add_record(im, t, row, sync_id, "grants_by_entitlement", &im->key[1], "", 0, msg);
    if (!rc && t == C1Z_GRANTS)
        rc = add_record(im, t, row, sync_id, "grants_by_principal", &im->key[2], "", 0, msg);
    if (!rc)
        im->sync_stats[idx].rows[t]++;
    return rc;
}

static int import_table(struct import *im, enum c1z_table t, char **msg)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    struct columns cols = {0};
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
    buf_release(&im->value);
    for (int k = 0; k < 3; k++)
        buf_release(&im->key[k]);
}

/*
 * The import proper: header, body, tables, syncs, then the loader.  Nothing
 * reaches the store before loader_commit(), the last step.
 */
int c1z_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
               struct c1z_stats *stats, char **msg)
{
    struct import im = {.e = e, .path = path, .tmp_fd = -1};
    FILE *f = NULL;
    int rc;

    buf_init(&im.value);
    for (int k = 0; k < 3; k++)
        buf_init(&im.key[k]);
    if (stats)
        memset(stats, 0, sizeof(*stats));

    f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        rc = engine_msgf(msg, -err, "cannot open '%s': %s", path, strerror(err));
        goto err;
    }
    rc = check_header(f, path, msg);
    if (rc)
        goto err;
    rc = make_temp_file(&im, msg);
    if (rc)
        goto err;
    rc = decompress_body(f, path, im.tmp_fd, im.tmp_path, 0, msg);
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

    struct loader_options opt = {.replace = 1};
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
