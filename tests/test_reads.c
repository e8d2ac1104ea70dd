/*
 * test_reads.c - every read of a read-write store runs at a snapshot.
 *
 * RocksDB 7.8.3 can show a read at "latest" an ingest's range tombstone
 * before the keys ingested with it (engine/read.c): a reader would see a sync
 * vanish for a moment.  The stress tests catch that only by chance; this one
 * is deterministic.  The program is linked with -Wl,--wrap for the RocksDB
 * calls that set up and make reads (CMakeLists.txt), so it sees every read
 * options object the engine creates, whether a snapshot was set on it, and
 * every get and iterator made with it.  It drives each read path of the
 * public API on a read-write store and expects no read without a snapshot;
 * on a read-only store (which needs none) the same paths must show reads
 * without one, which proves the detector sees them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"
#include "engine_admin.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The wrapped RocksDB calls (pointer types are opaque here) ---- */

#define MAX_OPTIONS 256

static struct {
    const void *ro;
    int has_snapshot;
} live[MAX_OPTIONS];
static unsigned long reads, reads_without_snapshot;

static int slot_of(const void *ro)
{
    for (int i = 0; i < MAX_OPTIONS; i++)
        if (live[i].ro == ro)
            return i;
    return -1;
}

/* A get or an iterator made with ro. */
static void count_read(const void *ro)
{
    int i = slot_of(ro);
    if (i < 0)
        fail_msg("a read with read options the engine did not create here");
    reads++;
    reads_without_snapshot += !live[i].has_snapshot;
}

void *__real_rocksdb_readoptions_create(void);
void *__wrap_rocksdb_readoptions_create(void);
void *__wrap_rocksdb_readoptions_create(void)
{
    void *ro = __real_rocksdb_readoptions_create();
    int i = slot_of(NULL);
    if (i < 0)
        fail_msg("more than %d read options alive", MAX_OPTIONS);
    live[i].ro = ro;
    live[i].has_snapshot = 0;
    return ro;
}

void __real_rocksdb_readoptions_destroy(void *ro);
void __wrap_rocksdb_readoptions_destroy(void *ro);
void __wrap_rocksdb_readoptions_destroy(void *ro)
{
    int i = slot_of(ro);
    if (i >= 0)
        live[i].ro = NULL;
    __real_rocksdb_readoptions_destroy(ro);
}

void __real_rocksdb_readoptions_set_snapshot(void *ro, const void *snap);
void __wrap_rocksdb_readoptions_set_snapshot(void *ro, const void *snap);
void __wrap_rocksdb_readoptions_set_snapshot(void *ro, const void *snap)
{
    int i = slot_of(ro);
    if (i >= 0)
        live[i].has_snapshot = snap != NULL;
    __real_rocksdb_readoptions_set_snapshot(ro, snap);
}

void *__real_rocksdb_get_pinned(void *db, const void *ro, const char *key, size_t len, char **err);
void *__wrap_rocksdb_get_pinned(void *db, const void *ro, const char *key, size_t len, char **err);
void *__wrap_rocksdb_get_pinned(void *db, const void *ro, const char *key, size_t len, char **err)
{
    count_read(ro);
    return __real_rocksdb_get_pinned(db, ro, key, len, err);
}

void *__real_rocksdb_get(void *db, const void *ro, const char *key, size_t len, size_t *vlen,
                         char **err);
void *__wrap_rocksdb_get(void *db, const void *ro, const char *key, size_t len, size_t *vlen,
                         char **err);
void *__wrap_rocksdb_get(void *db, const void *ro, const char *key, size_t len, size_t *vlen,
                         char **err)
{
    count_read(ro);
    return __real_rocksdb_get(db, ro, key, len, vlen, err);
}

void *__real_rocksdb_create_iterator(void *db, const void *ro);
void *__wrap_rocksdb_create_iterator(void *db, const void *ro);
void *__wrap_rocksdb_create_iterator(void *db, const void *ro)
{
    count_read(ro);
    return __real_rocksdb_create_iterator(db, ro);
}

/* ---- Driving every read path ---- */

struct fx {
    char *dir, *path;
    engine *e;
};

static void put(engine *e, const char *sync, const char *bucket, const char *const keys[], size_t n)
{
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(e, &ing, NULL), 0);
    engine_sst *w;
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
    for (size_t i = 0; i < n; i++) { /* keys are given in order */
        char k[ENGINE_DISK_KEY_MAX];
        size_t kl = engine_key_encode(k, sync, bucket, keys[i], strlen(keys[i]));
        assert_int_equal(engine_sst_put(w, k, kl, "v", 1, NULL), 0);
    }
    assert_int_equal(engine_sst_finish(w, NULL), 0);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->path = tu_join(f->dir, "store");
    f->e = tu_create_store(f->dir, "store");
    const char *keys[] = {"a", "b/c", "d"};
    put(f->e, "s1", "grants", keys, 3);
    put(f->e, "s2", "resources", keys, 2);
    assert_int_equal(engine_sync_touch(f->e, "s1", NULL), 0);
    struct engine_status st = {.sync_id = "s1", .state = ENGINE_STATUS_DONE};
    assert_int_equal(engine_status_put(f->e, &st, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    engine_close(f->e);
    free(f->path);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

static int count_meta(void *arg, const char *name, const char *value, size_t len)
{
    (void)name;
    (void)value;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

static void drain(engine_iter *it)
{
    assert_non_null(it);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
        ;
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
}

/* Every read the public API offers, each at "latest" (snap NULL) and, where
 * one can be given, at the caller's snapshot. */
static void read_everything(engine *e)
{
    engine_snapshot *snap = NULL;
    assert_int_equal(engine_snapshot_new(e, &snap, NULL), 0);
    for (int at = 0; at < 2; at++) {
        const engine_snapshot *s = at ? snap : NULL;
        char *v = NULL;
        size_t len;
        assert_int_equal(engine_get(e, s, "s1", "grants", "a", 1, &v, &len, NULL), 0);
        free(v);
        char disk[ENGINE_DISK_KEY_MAX];
        size_t dl = engine_key_encode(disk, "s1", "grants", "d", 1);
        engine_value *val = NULL;
        assert_int_equal(engine_value_get(e, s, disk, dl, &val, NULL), 0);
        engine_value_free(val);
        drain(engine_iter_new_sync(e, s, "s1"));
        drain(engine_iter_new_bucket(e, s, "s1", "grants"));
        drain(engine_iter_new_prefix(e, s, "s1", "grants", "b/", 2));
        drain(engine_iter_new_all(e, s));
        drain(engine_iter_new_range(e, s, disk, dl, NULL, 0));
        char out[ENGINE_SYNC_ID_MAX + 1];
        assert_int_equal(engine_next_sync(e, s, NULL, out, NULL), 1);
        assert_int_equal(engine_next_bucket(e, s, "s1", NULL, out, NULL), 1);
        assert_int_equal(engine_sync_exists(e, s, "s2", NULL), 1);
    }
    engine_snapshot_free(e, snap);
    int64_t t;
    assert_int_equal(engine_sync_time(e, "s1", &t), 0);
    int n = 0;
    assert_int_equal(engine_meta_list(e, "", count_meta, &n, NULL), 0);
    assert_true(n >= 2);
    struct engine_status st;
    memset(&st, 0, sizeof st);
    assert_int_equal(engine_status_get(e, "s1", &st, NULL), 0);
    engine_status_release(&st);
    drain(engine_iter_new_raw(e));
    struct engine_sst_check check;
    memset(&check, 0, sizeof check);
    assert_int_equal(engine_verify_sst_files(e, &check, NULL, NULL, NULL), 0);
}

static void test_read_write_reads_at_snapshots(void **state)
{
    struct fx *f = *state;
    reads = reads_without_snapshot = 0;
    read_everything(f->e);
    print_message("%lu reads of a read-write store, %lu without a snapshot\n", reads,
                  reads_without_snapshot);
    assert_true(reads >= 25); /* every path above: 25 gets and iterators */
    assert_int_equal(reads_without_snapshot, 0);
}

/* The control: a read-only store needs no snapshot, and the detector sees
 * that its reads have none. */
static void test_detector_sees_reads_without_snapshot(void **state)
{
    struct fx *f = *state;
    engine_close(f->e);
    f->e = NULL;
    assert_int_equal(engine_open(f->path, ENGINE_OPEN_READ_ONLY, &f->e, NULL), 0);
    reads = reads_without_snapshot = 0;
    read_everything(f->e);
    print_message("%lu reads of a read-only store, %lu without a snapshot\n", reads,
                  reads_without_snapshot);
    assert_true(reads >= 25); /* every path above: 25 gets and iterators */
    assert_int_equal(reads_without_snapshot, reads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_write_reads_at_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detector_sees_reads_without_snapshot, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
