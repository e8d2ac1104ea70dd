/*
 * bench.c - `syncstore bench compact`: measures the compactor against the other
 * ways of replacing one sync, on the same generated data, in one run.
 *
 * The run builds, in a fresh work directory on a real disk: a base store holding
 * sync S (gen seed 1) and sync T (seed 3), an identical copy of it (cp -a), a
 * source store holding S with different contents (seed 2), and the same rows as
 * SQLite files with the baton c1z v1 schema.  The base is settled (the loader's
 * L0 backlog compacted) before it is copied, so both RocksDB methods start from
 * the same base at rest.  Then it times, each phase with its inputs just read
 * into the page cache (which cannot be dropped reliably) and every dirty page
 * written back first:
 *
 *   ours      compactor_run(base, source, S): tiled SST pieces, one ingest;
 *             then, apart, the reclaim of the old data's space
 *   put-loop  engine_replace_with_batch on the copy: one WriteBatch holding a
 *             DeleteRange and a Put per record of the source's range
 *   SQLite    what the baton SDK did: ATTACH the source, then in one transaction
 *             DELETE the sync's rows from each table and INSERT ... SELECT them
 *             from the source (rollback journal, synchronous=FULL)
 *   floor     reading the source's range alone plus writing and fsyncing as
 *             many bytes as ours wrote into SSTs: what no method can beat
 *
 * Every phase runs in a forked child so that its peak RSS is its own; the parent
 * never opens a store (RocksDB's threads and fork do not mix) and collects the
 * figures from a shared anonymous mapping.  Misses of the targets are reported,
 * not failures: the command fails only when a phase fails or the two RocksDB
 * methods do not end with the same store.
 */
#include "buf.h"
#include "commands.h"
#include "compactor.h"
#include "engine_admin.h"
#include "engine_test.h"
#include "gen.h"
#include "loader.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char bench_usage[] =
    "usage: syncstore bench compact [--grants N] [--dir DIR] [--keep] [--json]\n"
    "\n"
    "Measures `compact` against the other ways of replacing a sync, on the same\n"
    "generated data, and prints one table with the targets of issue 3.\n"
    "\n"
    "It builds a base store holding sync S (gen seed 1) and sync T (seed 3), a\n"
    "source store holding S with other contents (seed 2), each with N grants\n"
    "(about 3 N keys per sync), and the same rows as SQLite files with the baton\n"
    "c1z v1 schema.  Then it times, each in its own process (peak RSS per phase)\n"
    "with its inputs read into the page cache first (warm; it is not dropped):\n"
    "\n"
    "  ours      the compactor (SST pieces, one ingest), the bytes the base's\n"
    "            RocksDB wrote for the switch, and apart the space reclaim\n"
    "  put-loop  one WriteBatch with a DeleteRange and a Put per record, on an\n"
    "            identical copy of the base\n"
    "  SQLite    ATTACH, then DELETE and INSERT ... SELECT per table in one\n"
    "            transaction (rollback journal, synchronous=FULL)\n"
    "  floor     reading the source range plus writing and fsyncing as many\n"
    "            bytes as ours wrote\n"
    "\n"
    "options:\n"
    "  --grants N  grants per sync (default 1000000)\n"
    "  --dir DIR   make the work directory under DIR (default $TMPDIR, or\n"
    "              /var/tmp when $TMPDIR is unset or a tmpfs)\n"
    "  --keep      keep the work directory (its path is printed)\n"
    "  --json      print one JSON object instead of the table\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 the benchmark ran (missed targets are reported, not failures),\n"
    "1 a phase failed, 2 command-line error, 130 interrupted.  The work directory\n"
    "needs about 3.5 GB per million grants while it runs.\n";

#define BENCH_SYNC "S"  /* the sync replaced */
#define BENCH_OTHER "T" /* the sync that must stay untouched */
#define BENCH_SEED_BASE 1
#define BENCH_SEED_SOURCE 2
#define BENCH_SEED_OTHER 3
#define BENCH_DISCOVERED_AT "2024-01-01 00:00:00"
#define BENCH_WRITE_CHUNK (1u << 20)
#define BENCH_SETTLE_MAX 1800 /* seconds a store may take to finish its compactions */

/* Targets of issue 3. */
#define TARGET_VS_PUT 5.0        /* ours at least this many times faster */
#define TARGET_VS_SQLITE 20.0    /* ditto */
#define TARGET_VS_FLOOR 1.5      /* ours at most this many times the floor */
#define TARGET_INGEST_MS 20.0    /* the ingest call */
#define TARGET_RSS_MB 100.0      /* peak RSS of ours */
#define TARGET_SWITCH_RATIO 1.1  /* bytes written for the switch / SST bytes */
#define TARGET_RECLAIM_RATIO 1.1 /* db size after reclaim / before the switch */

/* Everything the phases share: set up by the parent, filled in by the children
 * in a MAP_SHARED mapping. */
struct bench {
    uint64_t grants;
    double load_before, load_after; /* 1-minute load averages around the run */
    char dir[PATH_MAX];
    char base[PATH_MAX], base_put[PATH_MAX], source[PATH_MAX];
    char sqlite_base[PATH_MAX], sqlite_source[PATH_MAX], floor_file[PATH_MAX];

    /* setup */
    double setup_seconds, settle_seconds, sqlite_fill_seconds;
    uint64_t base_keys, source_keys;
    uint64_t sqlite_base_rows, sqlite_source_rows, sqlite_base_bytes, sqlite_source_bytes;

    /* ours */
    double ours_settle_seconds, ours_seconds, ingest_seconds;
    uint64_t ours_keys, ours_bytes, pieces, sst_bytes;
    uint64_t flush_bytes, compact_bytes, written_bytes;
    long ours_rss_kb;
    double reclaim_seconds;
    uint64_t reclaim_compact_bytes;
    long reclaim_rss_kb;
    uint64_t du_before, du_switch, du_reclaim;

    /* put-loop */
    double put_settle_seconds, put_seconds;
    uint64_t put_keys, put_written_bytes;
    long put_rss_kb;

    /* SQLite */
    double sqlite_seconds, sqlite_delete_seconds, sqlite_insert_seconds, sqlite_commit_seconds;
    uint64_t sqlite_deleted, sqlite_inserted;
    long sqlite_rss_kb;

    /* floor */
    double floor_read_seconds, floor_write_seconds;
    uint64_t floor_keys, floor_bytes;
    long floor_rss_kb;

    /* verify */
    uint64_t verified_keys;
};

static volatile sig_atomic_t bench_interrupted;

static void bench_on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double mb(uint64_t bytes)
{
    return (double)bytes / 1e6;
}

static double rss_mb(long kb)
{
    return (double)kb * 1024 / 1e6;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* ---- Files ---- */

/* Sum of the sizes of the regular files under path, recursively. */
static uint64_t du_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[PATH_MAX];
        struct stat st;
        if (snprintf(child, sizeof child, "%s/%s", path, de->d_name) >= (int)sizeof child ||
            lstat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            total += du_tree(child);
        else if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

static uint64_t du_store(const char *store)
{
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/db", store);
    return du_tree(db);
}

/* Reads every regular file under path once, so that the phase about to run
 * finds it in the page cache.  This machine's kernel pages out memory that has
 * not been touched for a minute or so (DAMON), so data written by an earlier
 * phase is not reliably still cached. */
static void warm_tree(const char *path, char *chunk, size_t chunk_len)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISREG(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        while (read(fd, chunk, chunk_len) > 0)
            ;
        close(fd);
        return;
    }
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char child[PATH_MAX];
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            snprintf(child, sizeof child, "%s/%s", path, de->d_name) < (int)sizeof child)
            warm_tree(child, chunk, chunk_len);
    }
    closedir(d);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Removes path and everything under it; returns 0 or -errno of the first failure. */
static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -errno;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char child[PATH_MAX];
            if (snprintf(child, sizeof child, "%s/%s", path, de->d_name) >= (int)sizeof child) {
                rc = rc ? rc : -ENAMETOOLONG;
                continue;
            }
            int r = remove_tree(child);
            rc = rc ? rc : r;
        }
        closedir(d);
        if (rmdir(path) != 0 && !rc)
            rc = -errno;
    } else if (unlink(path) != 0) {
        rc = -errno;
    }
    return rc;
}

/* 1 when path is on a tmpfs or ramfs (memory, not a disk). */
static int on_memory_fs(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return 0;
    return sf.f_type == 0x01021994 /* TMPFS_MAGIC */ || sf.f_type == (long)0x858458f6 /* RAMFS */;
}

/* Copies the store src to dst with `cp -a`, so both start from identical files. */
static int copy_store(const char *src, const char *dst, char **msg)
{
    char *argv[] = {"cp", "-a", "--", (char *)src, (char *)dst, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "cp", NULL, NULL, argv, environ);
    if (rc)
        return engine_msgf(msg, -rc, "cannot run cp: %s", strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return engine_msgf(msg, -errno, "cannot wait for cp: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        return engine_msgf(msg, -EIO, "cp -a '%s' '%s' failed", src, dst);
    return 0;
}

/* ---- Building the stores ---- */

/* Waits until the open store has no flush or compaction pending or running:
 * a base at rest, as a long-lived mount keeps it.  The loader leaves each of
 * its sorted runs in L0 and RocksDB compacts them at the next read-write open;
 * unsettled, that backlog would run during whichever method is timed first. */
static int settle_store(engine *e, double *seconds, char **msg)
{
    double t0 = now_seconds();
    while (engine_property(e, "rocksdb.compaction-pending") ||
           engine_property(e, "rocksdb.num-running-compactions") ||
           engine_property(e, "rocksdb.mem-table-flush-pending") ||
           engine_property(e, "rocksdb.num-running-flushes")) {
        if (now_seconds() - t0 > BENCH_SETTLE_MAX)
            return engine_msgf(msg, -ETIMEDOUT, "store '%s' is still compacting after %d s",
                               engine_path(e), BENCH_SETTLE_MAX);
        struct timespec pause = {0, 20L * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    *seconds = now_seconds() - t0;
    return 0;
}

/* Creates the store at path holding the given generated syncs, in one load. */
static int gen_store(const char *path, const struct gen_options *syncs, size_t n, uint64_t *keys,
                     char **msg)
{
    engine *e = NULL;
    loader *l = NULL;
    struct loader_options lopt = {.replace = 1};
    struct loader_stats stats;
    int rc = engine_open(path, ENGINE_OPEN_CREATE, &e, msg);
    if (rc)
        goto out;
    if ((rc = loader_new(e, &lopt, &l, msg)))
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = gen_run(l, &syncs[i], NULL, msg)))
            goto out;
    if ((rc = loader_commit(l, &stats, msg)))
        goto out;
    *keys = stats.records;
out:
    loader_free(l);
    engine_close(e);
    return rc;
}

static int phase_setup(struct bench *b)
{
    char *msg = NULL;
    const char *what = b->base;
    double t0 = now_seconds();
    struct gen_options base[] = {
        {.sync_id = BENCH_SYNC, .grants = b->grants, .seed = BENCH_SEED_BASE},
        {.sync_id = BENCH_OTHER, .grants = b->grants, .seed = BENCH_SEED_OTHER},
    };
    struct gen_options source = {
        .sync_id = BENCH_SYNC, .grants = b->grants, .seed = BENCH_SEED_SOURCE};
    engine *e = NULL;
    int rc = gen_store(b->base, base, 2, &b->base_keys, &msg);
    if (rc)
        goto err;
    if ((rc = engine_open(b->base, ENGINE_OPEN_READ_WRITE, &e, &msg)))
        goto err;
    rc = settle_store(e, &b->settle_seconds, &msg);
    engine_close(e);
    if (rc)
        goto err;
    what = b->source;
    if ((rc = gen_store(b->source, &source, 1, &b->source_keys, &msg)))
        goto err;
    what = b->base_put;
    if ((rc = copy_store(b->base, b->base_put, &msg)))
        goto err;
    b->setup_seconds = now_seconds() - t0;
    return 0;
err:
    return cli_fail(rc, msg, what);
}

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

/* How a bucket's typed records become a table's rows.  Each column takes a JSON
 * field of the record by name, or one of: "=data" the record's JSON bytes,
 * "=sync" its sync_id, "=time" a fixed discovered_at, "=rid" the resource's
 * external id <resource_type>:<id>, "=null", "=zero". */
struct sqlite_table {
    const char *bucket;
    const char *table;
    const char *columns; /* every column but id, in the order of fields */
    const char *fields[11];
    int nfields;
};

static const struct sqlite_table sqlite_tables[] = {
    {"resource_types",
     "v1_resource_types",
     "external_id, data, sync_id, discovered_at",
     {"id", "=data", "=sync", "=time"},
     4},
    {"resources",
     "v1_resources",
     "resource_type_id, external_id, parent_resource_type_id, parent_resource_id, data, sync_id,"
     " discovered_at",
     {"resource_type", "=rid", "=null", "=null", "=data", "=sync", "=time"},
     7},
    {"entitlements",
     "v1_entitlements",
     "resource_type_id, resource_id, external_id, data, sync_id, discovered_at",
     {"resource_type", "resource_id", "id", "=data", "=sync", "=time"},
     6},
    {"grants",
     "v1_grants",
     "resource_type_id, resource_id, entitlement_id, principal_resource_type_id,"
     " principal_resource_id, external_id, expansion, needs_expansion, data, sync_id,"
     " discovered_at",
     {"resource_type", "resource_id", "entitlement", "principal_type", "principal_id", "id",
      "=null", "=zero", "=data", "=sync", "=time"},
     11},
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
                                   t->bucket);
            buf_reset(tmp);
            buf_addf(tmp, "%s:%s", type, id);
            sqlite3_bind_text(st, col, tmp->data, (int)tmp->len, SQLITE_TRANSIENT);
        } else {
            const char *s = json_field(obj, f);
            if (!s)
                return engine_msgf(msg, -EINVAL, "%s record without \"%s\"", t->bucket, f);
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
    buf_addf(&sql, "INSERT INTO %s (%s) VALUES (", t->table, t->columns);
    for (int i = 0; i < t->nfields; i++)
        buf_addf(&sql, "%s?%d", i ? ", " : "", i + 1);
    buf_addc(&sql, ')');
    if (sqlite3_prepare_v2(db, sql.data, -1, &st, NULL) != SQLITE_OK) {
        rc = sql_fail(db, sql.data, msg);
        goto out;
    }
    if (!(it = engine_iter_new_bucket(e, NULL, sync_id, t->bucket))) {
        rc = -ENOMEM;
        goto out;
    }
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t vl;
        const char *v = engine_iter_value(it, &vl);
        json_error_t jerr;
        json_t *obj = json_loadb(v, vl, 0, &jerr);
        if (!obj) {
            rc = engine_msgf(msg, -EINVAL, "%s record is not JSON: %s", t->bucket, jerr.text);
            goto out;
        }
        rc = sqlite_bind_record(st, t, obj, v, vl, sync_id, &tmp, msg);
        if (rc == 0 && sqlite3_step(st) != SQLITE_DONE)
            rc = sql_fail(db, t->table, msg);
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

static int phase_sqlite_fill(struct bench *b)
{
    const char *base_syncs[] = {BENCH_SYNC, BENCH_OTHER}, *source_syncs[] = {BENCH_SYNC};
    char *msg = NULL;
    double t0 = now_seconds();
    int rc = sqlite_fill(b->base, b->sqlite_base, base_syncs, 2, &b->sqlite_base_rows, &msg);
    if (rc == 0)
        rc =
            sqlite_fill(b->source, b->sqlite_source, source_syncs, 1, &b->sqlite_source_rows, &msg);
    if (rc)
        return cli_fail(rc, msg, "sqlite");
    b->sqlite_fill_seconds = now_seconds() - t0;
    b->sqlite_base_bytes = file_size(b->sqlite_base);
    b->sqlite_source_bytes = file_size(b->sqlite_source);
    return 0;
}

/* The baton SDK's replacement of a sync: one transaction of DELETE and
 * INSERT ... SELECT per table from the attached source. */
static int phase_sqlite(struct bench *b)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    struct buf sql = BUF_INIT;
    double t0 = now_seconds();
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
    if ((rc = sql_exec(db, sql.data, &msg)) || (rc = sql_exec(db, "BEGIN", &msg)))
        goto out;
    for (size_t i = 0; i < SQLITE_NTABLES; i++) {
        const struct sqlite_table *t = &sqlite_tables[i];
        double ts = now_seconds();
        buf_reset(&sql);
        buf_addf(&sql, "DELETE FROM main.%s WHERE sync_id = ?1", t->table);
        if ((rc = sql_run_sync(db, sql.data, BENCH_SYNC, &b->sqlite_deleted, &msg)))
            goto out;
        double tm = now_seconds();
        b->sqlite_delete_seconds += tm - ts;
        buf_reset(&sql);
        buf_addf(&sql, "INSERT INTO main.%s (%s) SELECT %s FROM src.%s WHERE sync_id = ?1",
                 t->table, t->columns, t->columns, t->table);
        if ((rc = sql_run_sync(db, sql.data, BENCH_SYNC, &b->sqlite_inserted, &msg)))
            goto out;
        b->sqlite_insert_seconds += now_seconds() - tm;
    }
    double tc = now_seconds();
    if ((rc = sql_exec(db, "COMMIT", &msg)))
        goto out;
    b->sqlite_commit_seconds = now_seconds() - tc;
    b->sqlite_seconds = now_seconds() - t0;
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

/* ---- The RocksDB methods ---- */

struct tickers {
    uint64_t flush, compact, written;
};

static void tickers_read(engine *e, struct tickers *t)
{
    t->flush = engine_ticker(e, "rocksdb.flush.write.bytes");
    t->compact = engine_ticker(e, "rocksdb.compact.write.bytes");
    t->written = engine_ticker(e, "rocksdb.bytes.written");
}

static long self_peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/* Ours: compactor_run with the default piece size, the switch's write bytes
 * from the base's statistics, then the reclaim, timed apart. */
static int phase_ours(struct bench *b)
{
    engine *e = NULL;
    char *msg = NULL;
    const char *what = b->base;
    struct tickers t0, t1, t2;
    struct compactor_options opt = {.reclaim = 0};
    struct compactor_result r;
    int rc = engine_open(b->base, ENGINE_OPEN_READ_WRITE | ENGINE_OPEN_STATISTICS, &e, &msg);
    if (rc)
        goto err;
    if ((rc = settle_store(e, &b->ours_settle_seconds, &msg)))
        goto err;
    b->du_before = du_store(b->base);
    tickers_read(e, &t0);
    if ((rc = compactor_run(e, b->source, BENCH_SYNC, &opt, &r, &msg)))
        goto err;
    tickers_read(e, &t1);
    b->ours_rss_kb = self_peak_rss_kb();
    if (r.outcome != COMPACTOR_DONE) {
        rc = engine_msgf(&msg, -EIO, "compaction outcome '%s', expected 'done'",
                         compactor_outcome_name(r.outcome));
        goto err;
    }
    b->ours_seconds = r.seconds;
    b->ingest_seconds = r.ingest_seconds;
    b->ours_keys = r.keys;
    b->ours_bytes = r.bytes;
    b->pieces = r.pieces;
    b->sst_bytes = r.sst_bytes;
    b->flush_bytes = t1.flush - t0.flush;
    b->compact_bytes = t1.compact - t0.compact;
    b->written_bytes = t1.written - t0.written;
    b->du_switch = du_store(b->base);

    double t = now_seconds();
    if ((rc = engine_reclaim_now(e, BENCH_SYNC, &msg)))
        goto err;
    b->reclaim_seconds = now_seconds() - t;
    tickers_read(e, &t2);
    b->reclaim_compact_bytes = t2.compact - t1.compact;
    engine_close(e);
    b->du_reclaim = du_store(b->base);
    return 0;
err:
    engine_close(e);
    return cli_fail(rc, msg, what);
}

/* Put-loop: one WriteBatch with a DeleteRange and a Put per source record. */
static int phase_put(struct bench *b)
{
    engine *e = NULL, *src = NULL;
    engine_iter *it = NULL;
    char *msg = NULL;
    const char *what = b->base_put;
    struct tickers t0, t1;
    int rc = engine_open(b->base_put, ENGINE_OPEN_READ_WRITE | ENGINE_OPEN_STATISTICS, &e, &msg);
    if (rc)
        goto out;
    if ((rc = settle_store(e, &b->put_settle_seconds, &msg)))
        goto out;
    tickers_read(e, &t0);
    double t = now_seconds();
    what = b->source;
    if ((rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg)))
        goto out;
    if (!(it = engine_iter_new_sync(src, NULL, BENCH_SYNC))) {
        rc = -ENOMEM;
        goto out;
    }
    engine_iter_seek_first(it);
    what = b->base_put;
    if ((rc = engine_replace_with_batch(e, BENCH_SYNC, it, &b->put_keys, &msg)))
        goto out;
    b->put_seconds = now_seconds() - t;
    tickers_read(e, &t1);
    b->put_written_bytes = t1.written - t0.written;
out:
    engine_iter_free(it);
    engine_close(src);
    engine_close(e);
    return rc ? cli_fail(rc, msg, what) : 0;
}

/* Floor: read the source range touching every byte of each key and value, then
 * write and fsync as many bytes as ours put into SSTs. */
static int phase_floor(struct bench *b)
{
    engine *src = NULL;
    engine_iter *it = NULL;
    char *msg = NULL, *chunk = NULL;
    const char *what = b->source;
    int fd = -1;
    double t0 = now_seconds();
    int rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg);
    if (rc)
        goto out;
    if (!(it = engine_iter_new_sync(src, NULL, BENCH_SYNC))) {
        rc = -ENOMEM;
        goto out;
    }
    unsigned sum = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)engine_iter_disk_key(it, &kl);
        const unsigned char *v = (const unsigned char *)engine_iter_value(it, &vl);
        for (size_t i = 0; i < kl; i++)
            sum += k[i];
        for (size_t i = 0; i < vl; i++)
            sum += v[i];
        b->floor_keys++;
        b->floor_bytes += kl + vl;
    }
    if ((rc = engine_iter_status(it, &msg)))
        goto out;
    double t1 = now_seconds();
    b->floor_read_seconds = t1 - t0;

    what = b->floor_file;
    if (!(chunk = malloc(BENCH_WRITE_CHUNK))) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < BENCH_WRITE_CHUNK; i++)
        chunk[i] = (char)(i * 131 + sum);
    if ((fd = open(b->floor_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        goto out;
    }
    for (uint64_t left = b->sst_bytes; left > 0;) {
        size_t n = left < BENCH_WRITE_CHUNK ? (size_t)left : BENCH_WRITE_CHUNK;
        ssize_t w = write(fd, chunk, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            goto out;
        }
        left -= (uint64_t)w;
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
    b->floor_write_seconds = now_seconds() - t1;
out:
    if (fd >= 0) {
        close(fd);
        unlink(b->floor_file);
    }
    free(chunk);
    engine_iter_free(it);
    engine_close(src);
    return rc ? cli_fail(rc, msg, what) : 0;
}

/* Compares two iterators record by record; returns 0, or -EIO with a message
 * naming the first difference. */
static int iters_equal(engine_iter *a, engine_iter *b, const char *what, uint64_t *keys, char **msg)
{
    engine_iter_seek_first(a);
    engine_iter_seek_first(b);
    for (; engine_iter_valid(a) && engine_iter_valid(b); engine_iter_next(a), engine_iter_next(b)) {
        size_t akl, bkl, avl, bvl;
        const char *ak = engine_iter_disk_key(a, &akl), *bk = engine_iter_disk_key(b, &bkl);
        const char *av = engine_iter_value(a, &avl), *bv = engine_iter_value(b, &bvl);
        if (akl != bkl || memcmp(ak, bk, akl) || avl != bvl || memcmp(av, bv, avl))
            return engine_msgf(msg, -EIO, "%s differ at record %llu", what,
                               (unsigned long long)*keys);
        (*keys)++;
    }
    int rc = engine_iter_status(a, msg);
    if (rc == 0)
        rc = engine_iter_status(b, msg);
    if (rc == 0 && (engine_iter_valid(a) || engine_iter_valid(b)))
        rc = engine_msgf(msg, -EIO, "%s differ: one ends after %llu records", what,
                         (unsigned long long)*keys);
    return rc;
}

/* Checks that ours and the put-loop ended with the same store, and that its S
 * is the source's. */
static int phase_verify(struct bench *b)
{
    engine *base = NULL, *put = NULL, *src = NULL;
    engine_iter *ia = NULL, *ib = NULL;
    char *msg = NULL;
    const char *what = b->base;
    uint64_t n = 0;
    int rc = engine_open(b->base, ENGINE_OPEN_READ_ONLY, &base, &msg);
    if (rc)
        goto out;
    what = b->base_put;
    if ((rc = engine_open(b->base_put, ENGINE_OPEN_READ_ONLY, &put, &msg)))
        goto out;
    what = b->source;
    if ((rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg)))
        goto out;
    what = "verify";
    ia = engine_iter_new_all(base, NULL);
    ib = engine_iter_new_all(put, NULL);
    if (!ia || !ib) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = iters_equal(ia, ib, "the bases after ours and after the put-loop", &n, &msg)))
        goto out;
    engine_iter_free(ia);
    engine_iter_free(ib);
    ia = engine_iter_new_sync(base, NULL, BENCH_SYNC);
    ib = engine_iter_new_sync(src, NULL, BENCH_SYNC);
    if (!ia || !ib) {
        rc = -ENOMEM;
        goto out;
    }
    n = 0;
    if ((rc = iters_equal(ia, ib, "the base's and the source's sync " BENCH_SYNC, &n, &msg)))
        goto out;
    b->verified_keys = n;
out:
    engine_iter_free(ia);
    engine_iter_free(ib);
    engine_close(src);
    engine_close(put);
    engine_close(base);
    return rc ? cli_fail(rc, msg, what) : 0;
}

/* ---- Running the phases ---- */

struct phase {
    const char *name;
    int (*run)(struct bench *b);
    long *rss_kb;        /* where the child's whole peak RSS goes, or NULL */
    const char *warm[3]; /* files read into the page cache first; NULL ends */
};

/* Writes back the dirty pages of the work directory's filesystem, so that no
 * phase pays for an earlier one's writes in its fsyncs.  The page cache itself
 * stays warm: dropping it needs root and is not reliable. */
static void write_back(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

/* Runs one phase in a forked child and waits for it.  Returns 0, EXIT_WORK
 * (the child printed why), or 130 when interrupted. */
static int run_phase(struct bench *b, const struct phase *p, int progress)
{
    if (progress)
        fprintf(stderr, "bench: %s...\n", p->name);
    char *chunk = malloc(BENCH_WRITE_CHUNK);
    for (int i = 0; chunk && i < 3 && p->warm[i]; i++)
        warm_tree(p->warm[i], chunk, BENCH_WRITE_CHUNK);
    free(chunk);
    write_back(b->dir);
    if (bench_interrupted)
        return 130;
    fflush(NULL);
    double t0 = now_seconds();
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot fork for the %s phase: %s", p->name, strerror(errno));
        return EXIT_WORK;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int status = p->run(b);
        fflush(NULL);
        _exit(status);
    }
    int status;
    struct rusage ru;
    for (;;) {
        if (wait4(pid, &status, 0, &ru) == pid)
            break;
        if (errno != EINTR) {
            cli_error("cannot wait for the %s phase: %s", p->name, strerror(errno));
            return EXIT_WORK;
        }
        if (bench_interrupted)
            kill(pid, SIGTERM);
    }
    if (bench_interrupted)
        return 130;
    if (WIFSIGNALED(status)) {
        cli_error("the %s phase was killed by signal %d", p->name, WTERMSIG(status));
        return EXIT_WORK;
    }
    if (WEXITSTATUS(status))
        return EXIT_WORK;
    if (p->rss_kb)
        *p->rss_kb = ru.ru_maxrss;
    if (progress)
        fprintf(stderr, "bench: %s: %.1f s\n", p->name, now_seconds() - t0);
    return 0;
}

/* ---- Report ---- */

struct target {
    const char *name;
    double value, target;
    int kind; /* how value must compare with target */
    const char *unit;
};

enum { AT_LEAST, AT_MOST, BELOW };

static const char *const target_ops[] = {">=", "<=", "<"};

static int target_pass(const struct target *t)
{
    switch (t->kind) {
    case AT_LEAST:
        return t->value >= t->target;
    case AT_MOST:
        return t->value <= t->target;
    default:
        return t->value < t->target;
    }
}

static size_t bench_targets(const struct bench *b, struct target *t)
{
    uint64_t switch_bytes = b->sst_bytes + b->flush_bytes + b->compact_bytes + b->written_bytes;
    double floor = b->floor_read_seconds + b->floor_write_seconds;
    size_t n = 0;
    t[n++] = (struct target){"put-loop / ours", ratio(b->put_seconds, b->ours_seconds),
                             TARGET_VS_PUT, AT_LEAST, "x"};
    t[n++] = (struct target){"SQLite / ours", ratio(b->sqlite_seconds, b->ours_seconds),
                             TARGET_VS_SQLITE, AT_LEAST, "x"};
    t[n++] = (struct target){"ours / floor", ratio(b->ours_seconds, floor), TARGET_VS_FLOOR,
                             AT_MOST, "x"};
    t[n++] =
        (struct target){"ingest call", b->ingest_seconds * 1e3, TARGET_INGEST_MS, BELOW, " ms"};
    t[n++] =
        (struct target){"peak RSS of ours", rss_mb(b->ours_rss_kb), TARGET_RSS_MB, BELOW, " MB"};
    t[n++] = (struct target){"switch bytes / SST bytes",
                             ratio((double)switch_bytes, (double)b->sst_bytes), TARGET_SWITCH_RATIO,
                             AT_MOST, "x"};
    t[n++] = (struct target){"db size after reclaim / before",
                             ratio((double)b->du_reclaim, (double)b->du_before),
                             TARGET_RECLAIM_RATIO, AT_MOST, "x"};
    return n;
}

static void print_table(const struct bench *b, int memory_fs)
{
    double floor = b->floor_read_seconds + b->floor_write_seconds;
    uint64_t switch_bytes = b->sst_bytes + b->flush_bytes + b->compact_bytes + b->written_bytes;
    struct target t[8];
    size_t nt = bench_targets(b, t);

    printf("bench compact: %llu grants per sync; sync " BENCH_SYNC ": %llu keys, %.1f MB of keys "
           "and values\n",
           (unsigned long long)b->grants, (unsigned long long)b->ours_keys, mb(b->ours_bytes));
    printf("base: syncs " BENCH_SYNC " and " BENCH_OTHER " (%llu keys); source: "
           "sync " BENCH_SYNC " with other contents (%llu keys)\n",
           (unsigned long long)b->base_keys, (unsigned long long)b->source_keys);
    printf("work directory: %s%s\n", b->dir, memory_fs ? " (a tmpfs: not a disk!)" : "");
    printf("each phase: its inputs read into the page cache first (warm, not dropped), dirty "
           "pages written back\n");
    printf("machine: %ld CPUs, 1-minute load average %.2f before the run, %.2f after\n",
           sysconf(_SC_NPROCESSORS_ONLN), b->load_before, b->load_after);
    printf("base settled first (its L0 backlog from the loader compacted: %.1f s), then copied "
           "for the put-loop\n\n",
           b->settle_seconds);

    printf("%-10s %10s %9s %10s  %s\n", "method", "seconds", "vs ours", "peak RSS", "notes");
    printf("%-10s %10.3f %8.2fx %7.1f MB  %llu piece%s, %.1f MB of SST, ingest %.1f ms\n", "ours",
           b->ours_seconds, 1.0, rss_mb(b->ours_rss_kb), (unsigned long long)b->pieces,
           b->pieces == 1 ? "" : "s", mb(b->sst_bytes), b->ingest_seconds * 1e3);
    printf("%-10s %10.3f %8.2fx %7.1f MB  one WriteBatch, %llu Puts, WAL not fsync'd\n", "put-loop",
           b->put_seconds, ratio(b->put_seconds, b->ours_seconds), rss_mb(b->put_rss_kb),
           (unsigned long long)b->put_keys);
    printf("%-10s %10.3f %8.2fx %7.1f MB  DELETE %.3f s + INSERT %.3f s + COMMIT %.3f s\n",
           "SQLite", b->sqlite_seconds, ratio(b->sqlite_seconds, b->ours_seconds),
           rss_mb(b->sqlite_rss_kb), b->sqlite_delete_seconds, b->sqlite_insert_seconds,
           b->sqlite_commit_seconds);
    printf("%-10s %10.3f %8.2fx %7.1f MB  read %.3f s + write %.1f MB and fsync %.3f s\n", "floor",
           floor, ratio(floor, b->ours_seconds), rss_mb(b->floor_rss_kb), b->floor_read_seconds,
           mb(b->sst_bytes), b->floor_write_seconds);

    printf("\nswitch bytes: %llu = SST %llu + flush %llu + compaction %llu + WAL %llu\n",
           (unsigned long long)switch_bytes, (unsigned long long)b->sst_bytes,
           (unsigned long long)b->flush_bytes, (unsigned long long)b->compact_bytes,
           (unsigned long long)b->written_bytes);
    printf("reclaim (apart): %.3f s, %.1f MB compacted, peak RSS %.1f MB; db size %.1f MB "
           "before, %.1f MB after the switch, %.1f MB after reclaim\n",
           b->reclaim_seconds, mb(b->reclaim_compact_bytes), rss_mb(b->reclaim_rss_kb),
           mb(b->du_before), mb(b->du_switch), mb(b->du_reclaim));
    printf("SQLite: journal_mode DELETE, synchronous FULL; %llu rows deleted, %llu inserted; "
           "files: base %.1f MB (%llu rows), source %.1f MB (%llu rows)\n",
           (unsigned long long)b->sqlite_deleted, (unsigned long long)b->sqlite_inserted,
           mb(b->sqlite_base_bytes), (unsigned long long)b->sqlite_base_rows,
           mb(b->sqlite_source_bytes), (unsigned long long)b->sqlite_source_rows);
    printf("checked: ours and the put-loop left identical stores; " BENCH_SYNC
           " equals the source's (%llu keys)\n\n",
           (unsigned long long)b->verified_keys);

    printf("%-32s %12s %12s  %s\n", "target", "measured", "target", "result");
    for (size_t i = 0; i < nt; i++) {
        char measured[32], target[32];
        snprintf(measured, sizeof measured, "%.2f%s", t[i].value, t[i].unit);
        snprintf(target, sizeof target, "%s %.4g%s", target_ops[t[i].kind], t[i].target, t[i].unit);
        printf("%-32s %12s %12s  %s\n", t[i].name, measured, target,
               target_pass(&t[i]) ? "PASS" : "MISS");
    }
}

static void print_json(const struct bench *b, int memory_fs, int kept)
{
    double floor = b->floor_read_seconds + b->floor_write_seconds;
    uint64_t switch_bytes = b->sst_bytes + b->flush_bytes + b->compact_bytes + b->written_bytes;
    struct target t[8];
    size_t nt = bench_targets(b, t);
    struct buf j = BUF_INIT;
    buf_addf(&j, "{\"grants\":%llu,\"dir\":", (unsigned long long)b->grants);
    buf_add_json_string(&j, b->dir, strlen(b->dir));
    buf_addf(&j,
             ",\"cpus\":%ld,\"load_before\":%.2f,\"load_after\":%.2f,\"kept\":%s,\"memory_fs\":%s,"
             "\"page_cache\":\"warm\",\"base_keys\":%llu,"
             "\"source_keys\":%llu,\"setup_seconds\":%.6f,\"sqlite_fill_seconds\":%.6f",
             sysconf(_SC_NPROCESSORS_ONLN), b->load_before, b->load_after, kept ? "true" : "false",
             memory_fs ? "true" : "false", (unsigned long long)b->base_keys,
             (unsigned long long)b->source_keys, b->setup_seconds, b->sqlite_fill_seconds);
    buf_addf(&j,
             ",\"ours\":{\"settle_seconds\":%.6f,\"seconds\":%.6f,\"ingest_seconds\":%.6f,\"peak_"
             "rss_bytes\":%llu,"
             "\"keys\":%llu,\"bytes\":%llu,\"pieces\":%llu,\"sst_bytes\":%llu,"
             "\"flush_write_bytes\":%llu,\"compact_write_bytes\":%llu,\"bytes_written\":%llu,"
             "\"switch_bytes\":%llu,\"reclaim_seconds\":%.6f,\"reclaim_compact_write_bytes\":%llu,"
             "\"reclaim_peak_rss_bytes\":%llu,\"db_bytes_before\":%llu,"
             "\"db_bytes_after_switch\":%llu,\"db_bytes_after_reclaim\":%llu}",
             b->ours_settle_seconds, b->ours_seconds, b->ingest_seconds,
             (unsigned long long)b->ours_rss_kb * 1024, (unsigned long long)b->ours_keys,
             (unsigned long long)b->ours_bytes, (unsigned long long)b->pieces,
             (unsigned long long)b->sst_bytes, (unsigned long long)b->flush_bytes,
             (unsigned long long)b->compact_bytes, (unsigned long long)b->written_bytes,
             (unsigned long long)switch_bytes, b->reclaim_seconds,
             (unsigned long long)b->reclaim_compact_bytes,
             (unsigned long long)b->reclaim_rss_kb * 1024, (unsigned long long)b->du_before,
             (unsigned long long)b->du_switch, (unsigned long long)b->du_reclaim);
    buf_addf(&j,
             ",\"put_loop\":{\"settle_seconds\":%.6f,\"seconds\":%.6f,\"vs_ours\":%.4f,\"peak_rss_"
             "bytes\":%llu,"
             "\"keys\":%llu,\"bytes_written\":%llu}",
             b->put_settle_seconds, b->put_seconds, ratio(b->put_seconds, b->ours_seconds),
             (unsigned long long)b->put_rss_kb * 1024, (unsigned long long)b->put_keys,
             (unsigned long long)b->put_written_bytes);
    buf_addf(&j,
             ",\"sqlite\":{\"seconds\":%.6f,\"vs_ours\":%.4f,\"peak_rss_bytes\":%llu,"
             "\"journal_mode\":\"delete\",\"synchronous\":\"full\",\"delete_seconds\":%.6f,"
             "\"insert_seconds\":%.6f,\"commit_seconds\":%.6f,\"rows_deleted\":%llu,"
             "\"rows_inserted\":%llu,\"base_file_bytes\":%llu,\"source_file_bytes\":%llu}",
             b->sqlite_seconds, ratio(b->sqlite_seconds, b->ours_seconds),
             (unsigned long long)b->sqlite_rss_kb * 1024, b->sqlite_delete_seconds,
             b->sqlite_insert_seconds, b->sqlite_commit_seconds,
             (unsigned long long)b->sqlite_deleted, (unsigned long long)b->sqlite_inserted,
             (unsigned long long)b->sqlite_base_bytes, (unsigned long long)b->sqlite_source_bytes);
    buf_addf(&j,
             ",\"floor\":{\"seconds\":%.6f,\"vs_ours\":%.4f,\"peak_rss_bytes\":%llu,"
             "\"read_seconds\":%.6f,\"write_seconds\":%.6f,\"keys\":%llu,\"bytes\":%llu,"
             "\"write_bytes\":%llu}",
             floor, ratio(floor, b->ours_seconds), (unsigned long long)b->floor_rss_kb * 1024,
             b->floor_read_seconds, b->floor_write_seconds, (unsigned long long)b->floor_keys,
             (unsigned long long)b->floor_bytes, (unsigned long long)b->sst_bytes);
    buf_addf(&j, ",\"verified_keys\":%llu,\"targets\":[", (unsigned long long)b->verified_keys);
    for (size_t i = 0; i < nt; i++) {
        buf_addf(&j, "%s{\"name\":", i ? "," : "");
        buf_add_json_string(&j, t[i].name, strlen(t[i].name));
        buf_addf(&j, ",\"value\":%.6g,\"op\":\"%s\",\"target\":%.6g,\"pass\":%s}", t[i].value,
                 target_ops[t[i].kind], t[i].target, target_pass(&t[i]) ? "true" : "false");
    }
    buf_adds(&j, "]}");
    puts(j.data);
    buf_release(&j);
}

/* ---- The command ---- */

/* Matches "--name VALUE" or "--name=VALUE" (see cmd_gen.c). */
static int bench_option(const char *name, char **argv, int argc, int *i, const char **value)
{
    size_t n = strlen(name);
    const char *arg = argv[*i];
    if (strncmp(arg, name, n))
        return 0;
    if (arg[n] == '=') {
        *value = arg + n + 1;
        return 1;
    }
    if (arg[n])
        return 0;
    *value = *i + 1 < argc ? argv[++*i] : NULL;
    return 1;
}

/* Names a file of the work directory; dir is short enough (checked). */
static void bench_path(char out[PATH_MAX], const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        out[0] = '\0';
}

/* The parent of the work directory: --dir, else $TMPDIR unless it is a
 * tmpfs, else /var/tmp. */
static const char *bench_parent_dir(const char *dir)
{
    if (dir)
        return dir;
    const char *tmp = getenv("TMPDIR");
    if (tmp && *tmp && !on_memory_fs(tmp))
        return tmp;
    return "/var/tmp";
}

static int bench_compact(unsigned long long grants, const char *dir_option, int keep, int json)
{
    const char *parent = bench_parent_dir(dir_option);
    struct bench *b =
        mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) {
        cli_error("cannot map the shared results: %s", strerror(errno));
        return EXIT_WORK;
    }
    memset(b, 0, sizeof *b);
    b->grants = grants;
    int status = EXIT_WORK, made = 0;
    if ((size_t)snprintf(b->dir, sizeof b->dir, "%s/syncstore-bench-XXXXXX", parent) >=
        sizeof b->dir - 32) {
        cli_error("work directory parent '%s' is too long", parent);
        status = EXIT_USAGE;
        goto out;
    }
    if (!mkdtemp(b->dir)) {
        cli_error("cannot make a work directory under '%s': %s", parent, strerror(errno));
        goto out;
    }
    made = 1;
    int memory_fs = on_memory_fs(b->dir);
    if (memory_fs)
        fprintf(stderr, "syncstore: warning: '%s' is a tmpfs: the figures will not be a disk's\n",
                b->dir);
    bench_path(b->base, b->dir, "base");
    bench_path(b->base_put, b->dir, "base-put");
    bench_path(b->source, b->dir, "source");
    bench_path(b->sqlite_base, b->dir, "base.sqlite");
    bench_path(b->sqlite_source, b->dir, "source.sqlite");
    bench_path(b->floor_file, b->dir, "floor.bin");

    struct sigaction sa = {.sa_handler = bench_on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    const struct phase phases[] = {
        {"building the stores", phase_setup, NULL, {NULL}},
        {"filling the SQLite files", phase_sqlite_fill, NULL, {NULL}},
        {"ours (compactor_run, then reclaim)",
         phase_ours,
         &b->reclaim_rss_kb,
         {b->source, b->base, NULL}},
        {"put-loop (engine_replace_with_batch)",
         phase_put,
         &b->put_rss_kb,
         {b->source, b->base_put, NULL}},
        {"SQLite (DELETE + INSERT ... SELECT)",
         phase_sqlite,
         &b->sqlite_rss_kb,
         {b->sqlite_source, b->sqlite_base, NULL}},
        {"floor (read the source, write and fsync)",
         phase_floor,
         &b->floor_rss_kb,
         {b->source, NULL}},
        {"checking the results", phase_verify, NULL, {NULL}},
    };
    int progress = isatty(2);
    getloadavg(&b->load_before, 1);
    for (size_t i = 0; i < sizeof phases / sizeof *phases; i++)
        if ((status = run_phase(b, &phases[i], progress)))
            break;
    getloadavg(&b->load_after, 1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (status == 130)
        cli_error("interrupted");
    if (status)
        goto out;
    if (json)
        print_json(b, memory_fs, keep);
    else
        print_table(b, memory_fs);
out:
    if (made && keep) {
        fprintf(stderr, "bench: kept the work directory %s\n", b->dir);
    } else if (made) {
        int rc = remove_tree(b->dir);
        if (rc) {
            cli_error("cannot remove the work directory '%s': %s", b->dir, strerror(-rc));
            status = status ? status : EXIT_WORK;
        }
    }
    munmap(b, sizeof *b);
    return status;
}

int cmd_bench(int argc, char **argv)
{
    unsigned long long grants = 1000000;
    const char *dir = NULL;
    int keep = 0, json = 0, status;
    if (argc < 2) {
        cli_error("bench needs a benchmark name: compact (see 'syncstore bench --help')");
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        fputs(bench_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "compact")) {
        cli_error("unknown benchmark '%s' (see 'syncstore bench --help')", argv[1]);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        if (cli_is_help(arg)) {
            fputs(bench_usage, stdout);
            return 0;
        } else if (!strcmp(arg, "--keep")) {
            keep = 1;
        } else if (!strcmp(arg, "--json")) {
            json = 1;
        } else if (bench_option("--grants", argv, argc, &i, &value)) {
            if ((status = cli_parse_u64("--grants", value, GEN_GRANTS_MAX, &grants)))
                return status;
        } else if (bench_option("--dir", argv, argc, &i, &value)) {
            if (!value || !*value) {
                cli_error("--dir needs a directory");
                return EXIT_USAGE;
            }
            dir = value;
        } else {
            cli_error("unknown option '%s' for bench compact (see 'syncstore bench --help')", arg);
            return EXIT_USAGE;
        }
    }
    if (dir) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            cli_error("--dir '%s' is not a directory", dir);
            return EXIT_USAGE;
        }
    }
    return bench_compact(grants, dir, keep, json);
}
