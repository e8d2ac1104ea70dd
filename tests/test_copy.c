/*
 * test_copy.c - the compactor's two paths on real stores: which one a source
 * takes (a fresh seqno-0 source copies; an upsert, a file spanning two syncs,
 * files RocksDB compacted itself stream), that both leave the same bytes in
 * every bucket and leave the source's files (bytes and mtimes) as they were,
 * the parallel stream's tiling, and faults: no space during the copy
 * (ENOSPC, base unchanged, staging empty) and a copy RocksDB refuses (it
 * streams instead, the base unchanged by the refusal).
 *
 * Faults are injected with -Wl,--wrap (CMakeLists.txt TEST_LINK_test_copy) on
 * copy_file_range, ioctl (FICLONE) and rocksdb_ingest_external_file; each
 * wrapper passes through unless its test turns it on.
 *
 * A qualifying source is built the way a new sync is written: the records
 * of a loaded scratch store streamed into one SST file (no tombstone) and
 * ingested into an empty range, which keeps its global sequence number at 0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "compactor.h"
#include "engine.h"
#include "engine_admin.h"
#include "engine_test.h"
#include "jsonl.h"
#include "loader.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Fault injection ---- */

static int fail_copy_errno; /* copy_file_range fails with this (0: passes through) */
static int refuse_ingests;  /* ingests of more than one file to refuse (-1: every one) */
static int ingest_calls;

ssize_t __real_copy_file_range(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                               unsigned int flags);
ssize_t __wrap_copy_file_range(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                               unsigned int flags);
ssize_t __wrap_copy_file_range(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                               unsigned int flags)
{
    if (fail_copy_errno) {
        /* half the chunk lands, then the disk is full */
        ssize_t n = __real_copy_file_range(fd_in, off_in, fd_out, off_out, len / 2, flags);
        if (n <= 0)
            return n;
        errno = fail_copy_errno;
        return -1;
    }
    return __real_copy_file_range(fd_in, off_in, fd_out, off_out, len, flags);
}

int __real_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (fail_copy_errno) { /* no clone: the copy goes through copy_file_range */
        errno = EOPNOTSUPP;
        return -1;
    }
    return __real_ioctl(fd, req, arg);
}

void __real_rocksdb_ingest_external_file(void *db, const char *const *files, size_t n,
                                         const void *opt, char **errptr);
void __wrap_rocksdb_ingest_external_file(void *db, const char *const *files, size_t n,
                                         const void *opt, char **errptr);
void __wrap_rocksdb_ingest_external_file(void *db, const char *const *files, size_t n,
                                         const void *opt, char **errptr)
{
    ingest_calls++;
    if (refuse_ingests < 0 || (refuse_ingests > 0 && n > 1)) {
        if (refuse_ingests > 0)
            refuse_ingests--;
        *errptr = strdup("Corruption: injected refusal of the ingest");
        return;
    }
    __real_rocksdb_ingest_external_file(db, files, n, opt, errptr);
}

/* ---- Fixture ---- */

static size_t chunk_bytes; /* the loader's chunk: 0 its default; small to force spilled runs */
static struct loader_stats last_load;

struct fx {
    char *dir;
    engine *base;
    char *source;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->base = tu_create_store(f->dir, "base");
    f->source = tu_join(f->dir, "source");
    fail_copy_errno = 0;
    refuse_ingests = 0;
    ingest_calls = 0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    engine_close(f->base);
    free(f->source);
    tu_rmtree(f->dir);
    free(f);
    fail_copy_errno = 0;
    refuse_ingests = 0;
    chunk_bytes = 0;
    return 0;
}

static const char *buckets[] = {"resource_types",        "resources",
                                "entitlements",          "grants",
                                "grants_by_entitlement", "grants_by_principal"};

/* A sync of n grants with every standard bucket, through the loader. */
static void put_sync(engine *e, const char *sync, int n, const char *tag, int replace)
{
    struct loader_options opt = {.replace = replace, .chunk_bytes = chunk_bytes};
    loader *l = NULL;
    assert_int_equal(loader_new(e, &opt, &l, NULL), 0);
    char line[1024];
    char *msg = NULL;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int len = snprintf(line, sizeof line, __VA_ARGS__);                                        \
        if (jsonl_add_line(l, line, (size_t)len, &msg))                                            \
            fail_msg("%s: %s", line, msg);                                                         \
    } while (0)
    ADD("{\"sync\":\"%s\",\"type\":\"resource_type\",\"id\":\"user\",\"tag\":\"%s\"}", sync, tag);
    for (int g = 0; g < 5; g++) {
        ADD("{\"sync\":\"%s\",\"type\":\"resource\",\"resource_type\":\"group\",\"id\":\"%s-g%d\"}",
            sync, tag, g);
        ADD("{\"sync\":\"%s\",\"type\":\"entitlement\",\"id\":\"group:%s-g%d:member\"}", sync, tag,
            g);
    }
    for (int i = 0; i < n; i++) {
        ADD("{\"sync\":\"%s\",\"type\":\"resource\",\"resource_type\":\"user\",\"id\":\"%s-u%d\"}",
            sync, tag, i);
        ADD("{\"sync\":\"%s\",\"type\":\"grant\",\"id\":\"%s-grant-%d\","
            "\"entitlement\":\"group:%s-g%d:member\",\"principal_type\":\"user\","
            "\"principal_id\":\"%s-u%d\"}",
            sync, tag, i, tag, i % 5, tag, i);
    }
#undef ADD
    assert_int_equal(loader_commit(l, &last_load, NULL), 0);
    loader_free(l);
}

/* A qualifying source at f->source holding syncs (n grants each). */
static void make_source(struct fx *f, const char *const *syncs, int n, int one_file)
{
    char *sp = tu_join(f->dir, "scratch");
    engine *scratch = NULL;
    assert_int_equal(engine_open(sp, ENGINE_OPEN_CREATE, &scratch, NULL), 0);
    for (size_t s = 0; syncs[s]; s++)
        put_sync(scratch, syncs[s], n, syncs[s], 1);
    engine *src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_CREATE, &src, NULL), 0);
    tu_ingest_syncs(scratch, src, syncs, one_file);
    engine_close(src);
    engine_close(scratch);
    tu_rmtree(sp);
}

static int compact(engine *base, const char *source, const char *sync, int no_copy, int threads,
                   struct compactor_result *r)
{
    struct compactor_options opt = {.no_copy = no_copy, .threads = threads};
    char *msg = NULL;
    int rc = compactor_run(base, source, sync, &opt, r, &msg);
    if (rc)
        print_message("compactor_run: %s\n", msg ? msg : engine_strerror(rc));
    free(msg);
    return rc;
}

static engine *open_ro(const char *path)
{
    engine *e = NULL;
    assert_int_equal(engine_open(path, ENGINE_OPEN_READ_ONLY, &e, NULL), 0);
    return e;
}

/* Every bucket of sync equal in a and b, and the whole range. */
static void assert_same_sync(engine *a, engine *b, const char *sync)
{
    for (size_t i = 0; i < sizeof buckets / sizeof *buckets; i++) {
        size_t na, nb;
        uint64_t ha = tu_hash_range(a, sync, buckets[i], &na);
        uint64_t hb = tu_hash_range(b, sync, buckets[i], &nb);
        if (na != nb || ha != hb)
            fail_msg("bucket %s of %s differs: %zu vs %zu keys", buckets[i], sync, na, nb);
    }
    size_t na, nb;
    assert_true(tu_hash_range(a, sync, NULL, &na) == tu_hash_range(b, sync, NULL, &nb));
    assert_int_equal(na, nb);
}

static void assert_source_equal(struct fx *f, const char *sync)
{
    engine *src = open_ro(f->source);
    assert_same_sync(f->base, src, sync);
    engine_close(src);
}

/* ---- Which path ---- */

static void test_fresh_source_copies(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 300, 0);
    put_sync(f->base, "S", 50, "old", 1);
    put_sync(f->base, "R", 3, "before", 1);
    put_sync(f->base, "T", 3, "after", 1);
    uint64_t hr = tu_hash_range(f->base, "R", NULL, NULL);
    uint64_t ht = tu_hash_range(f->base, "T", NULL, NULL);
    struct compactor_result r;
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_string_equal(compactor_method_name(r.method), "copy");
    assert_int_equal(r.outcome, COMPACTOR_DONE);
    assert_int_equal(r.files_copied, 1);
    assert_true(r.bytes_copied > 0);
    assert_int_equal(r.copy_refused, 0);
    assert_source_equal(f, "S");
    size_t n;
    engine *src = open_ro(f->source);
    tu_hash_range(src, "S", NULL, &n);
    engine_close(src);
    assert_int_equal(r.keys, n);
    assert_true(tu_hash_range(f->base, "R", NULL, NULL) == hr);
    assert_true(tu_hash_range(f->base, "T", NULL, NULL) == ht);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);
    /* the base still checks out, and a second copy of the same source works
     * (the base's sync now overlaps everything the copies hold) */
    struct engine_sst_check chk;
    assert_int_equal(engine_verify_sst_files(f->base, &chk, NULL, NULL, NULL), 0);
    assert_true(chk.complete);
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_source_equal(f, "S");
}

static void test_copy_equals_stream(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 500, 0);
    engine *other = tu_create_store(f->dir, "other");
    put_sync(f->base, "S", 40, "old", 1);
    put_sync(other, "S", 70, "older", 1);
    struct compactor_result rc_copy, rc_stream;
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &rc_copy), 0);
    assert_int_equal(compact(other, f->source, "S", 1, 1, &rc_stream), 0);
    assert_int_equal(rc_copy.method, COMPACTOR_COPY);
    assert_int_equal(rc_stream.method, COMPACTOR_STREAM);
    assert_int_equal(rc_stream.threads, 1);
    assert_same_sync(f->base, other, "S");
    /* the copy path's figures come from the files' properties: they agree */
    assert_int_equal(rc_copy.keys, rc_stream.keys);
    assert_int_equal(rc_copy.bytes, rc_stream.bytes);
    engine_close(other);
}

/* A store that got the sync by a (streaming) compaction into a range it did
 * not hold: seqno-0 pieces whose tombstones end where the next piece starts,
 * the last at the range's end.  Those copy, and give the same bytes. */
static void test_compacted_into_new_store_copies(void **state)
{
    struct fx *f = *state;
    char *gp = tu_join(f->dir, "gen");
    engine *g = NULL;
    assert_int_equal(engine_open(gp, ENGINE_OPEN_CREATE, &g, NULL), 0);
    put_sync(g, "S", 2000, "loaded", 1);
    engine_close(g);
    engine *src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_CREATE, &src, NULL), 0);
    put_sync(src, "R", 3, "r", 1);
    /* streamed on purpose: the pieces, not the loader's files, are under test */
    struct compactor_options o = {.threads = 2, .piece_bytes = 65536, .no_copy = 1};
    struct compactor_result r;
    assert_int_equal(compactor_run(src, gp, "S", &o, &r, NULL), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_true(r.pieces > 2);
    engine_close(src);
    put_sync(f->base, "S", 30, "old", 1);
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_true(r.files_copied > 2);
    engine *gen = open_ro(gp);
    assert_same_sync(f->base, gen, "S");
    engine_close(gen);
    /* and again over the copies (the base's sync now overlaps them) */
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_source_equal(f, "S");
    struct engine_sst_check chk;
    assert_int_equal(engine_verify_sst_files(f->base, &chk, NULL, NULL, NULL), 0);
    assert_true(chk.complete);
    free(gp);
}

/* What the loader writes into empty ranges qualifies as it is: its spilled
 * runs are merged into files of one sync each that overlap nothing, so they
 * sit at global sequence number 0.  Replacing a sync that holds records keeps
 * the tombstone, and that sync streams; a new sync added later copies. */
static void test_loader_sources_copy(void **state)
{
    struct fx *f = *state;
    engine *src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_CREATE, &src, NULL), 0);
    chunk_bytes = 16384; /* many runs: the merge is under test */
    put_sync(src, "A", 400, "a", 1);
    assert_true(last_load.runs > 3);
    assert_int_equal(last_load.files, 1);
    put_sync(src, "B", 300, "b", 1); /* a new sync beside A */
    assert_true(last_load.runs > 3);
    engine_close(src);
    put_sync(f->base, "A", 20, "old", 1);
    struct compactor_result r;
    assert_int_equal(compact(f->base, f->source, "A", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_int_equal(r.files_copied, 1);
    assert_int_equal(compact(f->base, f->source, "B", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_source_equal(f, "A");
    assert_source_equal(f, "B");

    /* replacing A, which holds records: a tombstone under the new files */
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_WRITE, &src, NULL), 0);
    put_sync(src, "A", 50, "a2", 1);
    engine_close(src);
    assert_int_equal(compact(f->base, f->source, "A", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_non_null(strstr(r.reason, "global sequence number"));
    assert_source_equal(f, "A");
    size_t n;
    tu_hash_range(f->base, "A", "grants", &n);
    assert_int_equal(n, 50); /* exactly the replacing load's grants */
    assert_int_equal(compact(f->base, f->source, "B", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY); /* B's files were not touched */
    assert_source_equal(f, "B");
}

static void test_upsert_streams(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 100, 0);
    engine *src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_WRITE, &src, NULL), 0);
    put_sync(src, "S", 3, "upsert", 0); /* added to the sync, overlapping it */
    engine_close(src);
    struct compactor_result r;
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_int_equal(r.copy_refused, 0);
    print_message("streamed because: %s\n", r.reason);
    assert_non_null(strstr(r.reason, "global sequence number"));
    assert_source_equal(f, "S");
}

static void test_two_syncs(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"A", "B", NULL};
    make_source(f, syncs, 80, 0); /* one file per sync */
    struct compactor_result r;
    assert_int_equal(compact(f->base, f->source, "A", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_int_equal(compact(f->base, f->source, "B", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    assert_source_equal(f, "A");
    assert_source_equal(f, "B");

    /* one file holding both syncs: each streams */
    tu_rmtree(f->source);
    f->source = tu_join(f->dir, "source");
    make_source(f, syncs, 90, 1);
    assert_int_equal(compact(f->base, f->source, "A", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_non_null(strstr(r.reason, "beyond the sync's range"));
    assert_int_equal(compact(f->base, f->source, "B", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_source_equal(f, "A");
    assert_source_equal(f, "B");
}

static void test_rocksdb_compacted_streams(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 120, 0);
    engine *src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_WRITE, &src, NULL), 0);
    /* an upsert overlaps the sync's file; RocksDB's own compaction of the
     * range then merges both into files it writes itself */
    put_sync(src, "S", 3, "upsert", 0);
    assert_int_equal(engine_reclaim_now(src, "S", NULL), 0);
    engine_close(src);
    struct compactor_result r;
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    print_message("streamed because: %s\n", r.reason);
    assert_non_null(strstr(r.reason, "not written by an SstFileWriter"));
    assert_source_equal(f, "S");
}

static void test_memtable_writes_stream(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 60, 0);
    /* the sync rewritten by a WriteBatch: the new records sit in the WAL and,
     * at the next open, in a memtable; the SST files still look copyable */
    char *sp = tu_join(f->dir, "scratch2");
    engine *scratch = NULL;
    assert_int_equal(engine_open(sp, ENGINE_OPEN_CREATE, &scratch, NULL), 0);
    put_sync(scratch, "S", 25, "batch", 1);
    engine *src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_WRITE, &src, NULL), 0);
    engine_iter *it = engine_iter_new_sync(scratch, NULL, "S");
    engine_iter_seek_first(it);
    uint64_t n = 0;
    assert_int_equal(engine_replace_with_batch(src, "S", it, &n, NULL), 0);
    engine_iter_free(it);
    engine_close(src);
    engine_close(scratch);
    tu_rmtree(sp);
    struct compactor_result r;
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_non_null(strstr(r.reason, "memtables"));
    assert_int_equal(r.keys, n);
    assert_source_equal(f, "S");
}

/* ---- The source is never changed ---- */

struct file_state {
    char name[256];
    char sha[65];
    struct timespec mtime;
    off_t size;
};

static size_t snapshot_files(const char *db, struct file_state *out, size_t max)
{
    DIR *d = opendir(db);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        if (de->d_name[0] == '.')
            continue;
        struct file_state *s = &out[n++];
        snprintf(s->name, sizeof s->name, "%s", de->d_name);
        char *path = tu_join(db, de->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        s->mtime = st.st_mtim;
        s->size = st.st_size;
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
        FILE *p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%64s", s->sha), 1);
        assert_int_equal(pclose(p), 0);
        free(path);
    }
    closedir(d);
    return n;
}

static void assert_files_same(const struct file_state *a, size_t na, const struct file_state *b,
                              size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && strcmp(a[i].name, b[j].name))
            j++;
        if (j == nb)
            fail_msg("source file %s is gone", a[i].name);
        if (strcmp(a[i].sha, b[j].sha) || a[i].size != b[j].size)
            fail_msg("source file %s changed", a[i].name);
        if (a[i].mtime.tv_sec != b[j].mtime.tv_sec || a[i].mtime.tv_nsec != b[j].mtime.tv_nsec)
            fail_msg("source file %s has a new mtime", a[i].name);
    }
}

static void test_source_files_unchanged(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", "U", NULL};
    make_source(f, syncs, 200, 0);
    char *db = tu_join(f->source, "db");
    static struct file_state before[64], after[64];
    size_t nb = snapshot_files(db, before, 64);
    assert_true(nb > 3);
    struct compactor_result r;
    put_sync(f->base, "S", 10, "old", 1);
    assert_int_equal(compact(f->base, f->source, "S", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    size_t na = snapshot_files(db, after, 64);
    assert_files_same(before, nb, after, na);
    assert_int_equal(compact(f->base, f->source, "U", 1, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    na = snapshot_files(db, after, 64);
    assert_files_same(before, nb, after, na);
    /* and the base, after another copy over a sync the stream put there */
    assert_int_equal(compact(f->base, f->source, "U", 0, 0, &r), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    na = snapshot_files(db, after, 64);
    assert_files_same(before, nb, after, na);
    free(db);
}

/* ---- The parallel stream ---- */

static void test_parallel_stream(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 3000, 0);
    engine *one = tu_create_store(f->dir, "one");
    put_sync(f->base, "S", 30, "old", 1);
    put_sync(f->base, "R", 3, "before", 1);
    put_sync(f->base, "T", 3, "after", 1);
    struct compactor_options o4 = {.no_copy = 1, .threads = 4, .piece_bytes = 16384};
    struct compactor_options o1 = {.no_copy = 1, .threads = 1};
    struct compactor_result r4, r1;
    assert_int_equal(compactor_run(f->base, f->source, "S", &o4, &r4, NULL), 0);
    assert_int_equal(compactor_run(one, f->source, "S", &o1, &r1, NULL), 0);
    print_message("4 threads asked: %llu spans, %llu pieces\n", (unsigned long long)r4.threads,
                  (unsigned long long)r4.pieces);
    assert_true(r4.threads > 1);
    assert_true(r4.pieces > r4.threads);
    assert_int_equal(r1.threads, 1);
    assert_int_equal(r4.keys, r1.keys);
    assert_int_equal(r4.bytes, r1.bytes);
    assert_same_sync(f->base, one, "S");
    assert_source_equal(f, "S");
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);
    size_t n;
    tu_hash_range(f->base, "R", "grants", &n);
    assert_int_equal(n, 3);
    tu_hash_range(f->base, "T", "grants", &n);
    assert_int_equal(n, 3);
    engine_close(one);
}

/* ---- Faults ---- */

static void test_copy_no_space(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 400, 0);
    put_sync(f->base, "S", 20, "old", 1);
    uint64_t h = tu_hash_range(f->base, "S", NULL, NULL);
    fail_copy_errno = ENOSPC;
    struct compactor_result r;
    char *msg = NULL;
    int rc = compactor_run(f->base, f->source, "S", NULL, &r, &msg);
    fail_copy_errno = 0;
    assert_int_equal(rc, -ENOSPC);
    assert_non_null(msg);
    print_message("%s\n", msg);
    assert_non_null(strstr(msg, "cannot copy SST file"));
    free(msg);
    assert_true(tu_hash_range(f->base, "S", NULL, NULL) == h);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);
}

static void test_refused_copy_streams(void **state)
{
    struct fx *f = *state;
    const char *syncs[] = {"S", NULL};
    make_source(f, syncs, 200, 0);
    put_sync(f->base, "S", 20, "old", 1);
    uint64_t h = tu_hash_range(f->base, "S", NULL, NULL);
    /* every ingest refused: the copy and then the stream; the base as it was */
    refuse_ingests = -1;
    ingest_calls = 0;
    struct compactor_result r;
    char *msg = NULL;
    assert_int_not_equal(compactor_run(f->base, f->source, "S", NULL, &r, &msg), 0);
    free(msg);
    assert_int_equal(ingest_calls, 2);
    assert_true(tu_hash_range(f->base, "S", NULL, NULL) == h);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);

    /* only the copy refused: it streams, and the result is the source's */
    refuse_ingests = 1;
    ingest_calls = 0;
    assert_int_equal(compact(f->base, f->source, "S", 0, 1, &r), 0);
    assert_int_equal(ingest_calls, 2);
    assert_int_equal(r.method, COMPACTOR_STREAM);
    assert_int_equal(r.copy_refused, 1);
    assert_non_null(strstr(r.reason, "injected refusal"));
    assert_source_equal(f, "S");
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_source_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_equals_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compacted_into_new_store_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loader_sources_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_syncs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rocksdb_compacted_streams, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memtable_writes_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_files_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_no_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_copy_streams, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
