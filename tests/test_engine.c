/*
 * test_engine.c - the store engine on real RocksDB stores in temp directories:
 * key layout and limits, snapshots, listing, bulk ingest (upsert and replace),
 * and the ways opening a store can fail.
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
#include <sys/stat.h>
#include <unistd.h>

struct fx {
    char *dir;
    engine *e;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->e = tu_create_store(f->dir, "store");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    engine_close(f->e);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* Ingests records "sync/bucket/key=value" given as (sync, bucket, key, value)
 * quadruples; sorted by on-disk key here so callers can list them freely. */
struct rec {
    const char *sync, *bucket, *key, *value;
};

static int cmp_disk(const void *a, const void *b)
{
    char ka[ENGINE_DISK_KEY_MAX], kb[ENGINE_DISK_KEY_MAX];
    const struct rec *x = a, *y = b;
    size_t la = engine_key_encode(ka, x->sync, x->bucket, x->key, strlen(x->key));
    size_t lb = engine_key_encode(kb, y->sync, y->bucket, y->key, strlen(y->key));
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? c : (la > lb) - (la < lb);
}

/* Writes one SST file of recs into ing (sorted copy). */
static void add_file(engine_ingest *ing, struct rec *recs, size_t n)
{
    struct rec *sorted = malloc(n * sizeof *sorted);
    memcpy(sorted, recs, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_disk);
    engine_sst *w;
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        char k[ENGINE_DISK_KEY_MAX];
        size_t kl = engine_key_encode(k, sorted[i].sync, sorted[i].bucket, sorted[i].key,
                                      strlen(sorted[i].key));
        assert_int_equal(engine_sst_put(w, k, kl, sorted[i].value, strlen(sorted[i].value), NULL),
                         0);
    }
    assert_int_equal(engine_sst_finish(w, NULL), 0);
    free(sorted);
}

static void add_tombstone_file(engine_ingest *ing, const char *sync)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t ll, hl;
    engine_range_sync(sync, lo, &ll, hi, &hl);
    engine_sst *w;
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
    assert_int_equal(engine_sst_delete_range(w, lo, ll, hi, hl, NULL), 0);
    assert_int_equal(engine_sst_finish(w, NULL), 0);
}

static void put_all(engine *e, struct rec *recs, size_t n)
{
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(e, &ing, NULL), 0);
    add_file(ing, recs, n);
    char *msg = NULL;
    int rc = engine_ingest_commit(ing, &msg);
    if (rc)
        fail_msg("ingest: %s", msg);
    engine_ingest_free(ing);
}

static char *get(engine *e, const engine_snapshot *s, const char *sync, const char *bucket,
                 const char *key)
{
    char *v = NULL;
    size_t len;
    int rc = engine_get(e, s, sync, bucket, key, strlen(key), &v, &len, NULL);
    if (rc == -ENOENT)
        return NULL;
    assert_int_equal(rc, 0);
    return v;
}

static void assert_get(engine *e, const engine_snapshot *s, const char *sync, const char *bucket,
                       const char *key, const char *want)
{
    char *v = get(e, s, sync, bucket, key);
    if (!want) {
        if (v)
            fail_msg("%s/%s/%s: expected absent, got '%s'", sync, bucket, key, v);
        return;
    }
    if (!v)
        fail_msg("%s/%s/%s: expected '%s', got nothing", sync, bucket, key, want);
    assert_string_equal(v, want);
    free(v);
}

static size_t count_sync(engine *e, const engine_snapshot *s, const char *sync)
{
    engine_iter *it = engine_iter_new_sync(e, s, sync);
    size_t n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
        n++;
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    return n;
}

/* ---- keys and limits ---- */

static void test_prefix_syncs_do_not_overlap(void **state)
{
    (void)state;
    char lo1[ENGINE_DISK_KEY_MAX + 1], hi1[ENGINE_DISK_KEY_MAX + 1];
    size_t l1, h1;
    engine_range_sync("s1", lo1, &l1, hi1, &h1);
    /* Every key of s10, s1-x, s1.x, s1_x sorts at or past the end of s1's range. */
    const char *others[] = {"s10", "s1-", "s1.", "s1_", "s1A", "s1z"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        char k[ENGINE_DISK_KEY_MAX];
        size_t kl = engine_key_encode(k, others[i], "b", "\x00", 1);
        size_t n = kl < h1 ? kl : h1;
        int c = memcmp(k, hi1, n);
        assert_true(c > 0 || (c == 0 && kl >= h1));
    }
    /* And every key of s1 is inside it, including the smallest and largest. */
    char k[ENGINE_DISK_KEY_MAX];
    size_t kl = engine_key_encode(k, "s1", "-", "\x00", 1);
    assert_true(kl > l1 && memcmp(k, lo1, l1) >= 0);
    char big[ENGINE_KEY_MAX];
    memset(big, 0xFF, sizeof big);
    char bucket[ENGINE_BUCKET_MAX + 1];
    memset(bucket, 'z', ENGINE_BUCKET_MAX);
    bucket[ENGINE_BUCKET_MAX] = 0;
    kl = engine_key_encode(k, "s1", bucket, big, sizeof big);
    assert_true(memcmp(k, hi1, h1) < 0);
}

static void test_prefix_syncs_in_store(void **state)
{
    struct fx *f = *state;
    struct rec recs[] = {
        {"s1", "b", "k", "one"},  {"s10", "b", "k", "ten"}, {"s1-x", "b", "k", "dash"},
        {"s1", "b2", "k", "two"}, {"s", "b", "k", "s"},
    };
    put_all(f->e, recs, 5);
    assert_int_equal(count_sync(f->e, NULL, "s1"), 2);
    assert_int_equal(count_sync(f->e, NULL, "s10"), 1);
    assert_int_equal(count_sync(f->e, NULL, "s"), 1);
    /* Excising s1 leaves s10, s1-x and s alone. */
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(f->e, &ing, NULL), 0);
    add_tombstone_file(ing, "s1");
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
    assert_int_equal(count_sync(f->e, NULL, "s1"), 0);
    assert_get(f->e, NULL, "s10", "b", "k", "ten");
    assert_get(f->e, NULL, "s1-x", "b", "k", "dash");
    assert_get(f->e, NULL, "s", "b", "k", "s");
}

static void test_key_encode_decode(void **state)
{
    (void)state;
    char k[ENGINE_DISK_KEY_MAX];
    const char key[] = {'a', 0, '/', (char)0xFF, 'z'};
    size_t n = engine_key_encode(k, "sync.1", "grants", key, sizeof key);
    assert_int_equal(n, 6 + 1 + 6 + 1 + sizeof key);
    struct engine_key_parts p;
    assert_int_equal(engine_key_decode(k, n, &p, NULL), 0);
    assert_int_equal(p.sync_id_len, 6);
    assert_memory_equal(p.sync_id, "sync.1", 6);
    assert_int_equal(p.bucket_len, 6);
    assert_memory_equal(p.bucket, "grants", 6);
    assert_int_equal(p.key_len, sizeof key);
    assert_memory_equal(p.key, key, sizeof key);

    char *msg = NULL;
    assert_int_equal(engine_key_decode("\x00meta", 5, &p, &msg), -EINVAL);
    assert_non_null(strstr(msg, "on-disk key"));
    free(msg);
    assert_int_equal(engine_key_decode("nosep", 5, &p, NULL), -EINVAL);
    assert_int_equal(engine_key_decode("s\0b", 3, &p, NULL), -EINVAL);       /* one separator */
    assert_int_equal(engine_key_decode("s\0b\0", 4, &p, NULL), -EINVAL);     /* empty key */
    assert_int_equal(engine_key_decode("s\0B\0k", 5, &p, NULL), -EINVAL);    /* bad bucket */
    assert_int_equal(engine_key_decode("\xff\0b\0k", 5, &p, NULL), -EINVAL); /* metadata */
}

static void test_limits(void **state)
{
    (void)state;
    char s[300];
    char *msg = NULL;
    memset(s, 'a', sizeof s);
    assert_int_equal(engine_check_sync_id(s, 1, NULL), 0);
    assert_int_equal(engine_check_sync_id(s, 128, NULL), 0);
    assert_int_equal(engine_check_sync_id(s, 129, &msg), -EINVAL);
    assert_non_null(strstr(msg, "longer than 128"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_check_sync_id("", 0, &msg), -EINVAL);
    assert_non_null(strstr(msg, "empty"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_check_sync_id("a/b", 3, &msg), -EINVAL);
    assert_non_null(strstr(msg, "a/b"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_check_sync_id("A.z-_09", 7, NULL), 0);
    assert_int_equal(engine_check_sync_id(".", 1, NULL), -EINVAL);
    assert_int_equal(engine_check_sync_id("..", 2, NULL), -EINVAL);
    assert_int_equal(engine_check_sync_id("...", 3, NULL), 0);
    assert_int_equal(engine_check_sync_id("ctl", 3, &msg), -EINVAL);
    assert_non_null(strstr(msg, "reserved"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_check_sync_id("ctl2", 4, NULL), 0);
    assert_int_equal(engine_check_sync_id("a\0b", 3, NULL), -EINVAL);
    assert_int_equal(engine_check_sync_id("a b", 3, NULL), -EINVAL);

    assert_int_equal(engine_check_bucket(s, 64, NULL), 0);
    assert_int_equal(engine_check_bucket(s, 65, &msg), -EINVAL);
    assert_non_null(strstr(msg, "longer than 64"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_check_bucket("", 0, NULL), -EINVAL);
    assert_int_equal(engine_check_bucket("Grants", 6, NULL), -EINVAL);
    assert_int_equal(engine_check_bucket("a.b", 3, NULL), -EINVAL);
    assert_int_equal(engine_check_bucket("grants_by-x9", 12, NULL), 0);

    char key[ENGINE_KEY_MAX + 1];
    memset(key, 0, sizeof key);
    assert_int_equal(engine_check_key(key, 0, NULL), -EINVAL);
    assert_int_equal(engine_check_key(key, 1, NULL), 0);
    assert_int_equal(engine_check_key(key, ENGINE_KEY_MAX, NULL), 0);
    assert_int_equal(engine_check_key(key, ENGINE_KEY_MAX + 1, &msg), -EINVAL);
    assert_non_null(strstr(msg, "longer than 1024"));
    free(msg);
    msg = NULL;

    assert_int_equal(engine_check_value_len(0, NULL), 0);
    assert_int_equal(engine_check_value_len(ENGINE_VALUE_MAX, NULL), 0);
    assert_int_equal(engine_check_value_len(ENGINE_VALUE_MAX + 1, &msg), -EINVAL);
    assert_non_null(strstr(msg, "64 MiB"));
    free(msg);
}

static void test_get_rejects_bad_parts(void **state)
{
    struct fx *f = *state;
    char *v, *msg = NULL;
    size_t len;
    assert_int_equal(engine_get(f->e, NULL, "ctl", "b", "k", 1, &v, &len, &msg), -EINVAL);
    free(msg);
    assert_int_equal(engine_get(f->e, NULL, "s", "B", "k", 1, &v, &len, NULL), -EINVAL);
    assert_int_equal(engine_get(f->e, NULL, "s", "b", "k", 0, &v, &len, NULL), -EINVAL);
    assert_int_equal(engine_get(f->e, NULL, "s", "b", "k", 1, &v, &len, NULL), -ENOENT);
}

/* ---- snapshots, iterators, listing ---- */

/* Fault injection (-Wl,--wrap=malloc, CMakeLists.txt): when set, the next
 * malloc made by the engine's code (or this file's) returns NULL. */
static int fail_next_malloc;
void *__real_malloc(size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_malloc(size_t size)
{
    if (fail_next_malloc) {
        fail_next_malloc = 0;
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(size);
}

/* A snapshot that cannot be taken is an error, never the NULL that every
 * reader takes for "latest" (a mount would then serve a version whose data
 * moves under it). */
static void test_snapshot_out_of_memory(void **state)
{
    struct fx *f = *state;
    struct rec old[] = {{"s", "b", "k", "old"}};
    put_all(f->e, old, 1);
    engine_snapshot *untouched = (engine_snapshot *)&untouched, *snap = untouched;
    char *msg = NULL;
    fail_next_malloc = 1;
    assert_int_equal(engine_snapshot_new(f->e, &snap, &msg), -ENOMEM);
    assert_int_equal(fail_next_malloc, 0); /* the engine's allocation is the one that failed */
    assert_ptr_equal(snap, untouched);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "out of memory"));
    free(msg);

    /* The next one works and holds the data as it was. */
    assert_int_equal(engine_snapshot_new(f->e, &snap, NULL), 0);
    struct rec fresh[] = {{"s", "b", "k", "new"}};
    put_all(f->e, fresh, 1);
    char *v = NULL;
    size_t len = 0;
    assert_int_equal(engine_get(f->e, snap, "s", "b", "k", 1, &v, &len, NULL), 0);
    assert_memory_equal(v, "old", 3);
    free(v);
    engine_snapshot_free(f->e, snap);
}

static void test_snapshot_isolation(void **state)
{
    struct fx *f = *state;
    struct rec old[] = {{"s", "b", "k1", "old1"}, {"s", "b", "k2", "old2"}, {"t", "b", "k", "t"}};
    put_all(f->e, old, 3);
    engine_snapshot *snap = NULL;
    assert_int_equal(engine_snapshot_new(f->e, &snap, NULL), 0);
    engine_iter *it_before = engine_iter_new_sync(f->e, snap, "s");

    /* Replace sync s: tombstone first, then the new data. */
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(f->e, &ing, NULL), 0);
    add_tombstone_file(ing, "s");
    struct rec fresh[] = {{"s", "b", "k2", "new2"}, {"s", "b", "k3", "new3"}};
    add_file(ing, fresh, 2);
    assert_int_equal(engine_ingest_file_count(ing), 2);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);

    /* The snapshot still sees the old sync, through get and iterators. */
    assert_get(f->e, snap, "s", "b", "k1", "old1");
    assert_get(f->e, snap, "s", "b", "k2", "old2");
    assert_get(f->e, snap, "s", "b", "k3", NULL);
    assert_int_equal(count_sync(f->e, snap, "s"), 2);
    const char *want_old[] = {"old1", "old2"};
    size_t i = 0;
    for (engine_iter_seek_first(it_before); engine_iter_valid(it_before);
         engine_iter_next(it_before), i++) {
        size_t vl;
        const char *v = engine_iter_value(it_before, &vl);
        assert_true(i < 2);
        assert_int_equal(vl, strlen(want_old[i]));
        assert_memory_equal(v, want_old[i], vl);
    }
    assert_int_equal(i, 2);
    engine_iter_free(it_before);

    /* The latest view sees exactly the new sync; t is untouched. */
    assert_get(f->e, NULL, "s", "b", "k1", NULL);
    assert_get(f->e, NULL, "s", "b", "k2", "new2");
    assert_get(f->e, NULL, "s", "b", "k3", "new3");
    assert_get(f->e, NULL, "t", "b", "k", "t");
    engine_snapshot_free(f->e, snap);
}

static void test_list_syncs_and_buckets(void **state)
{
    struct fx *f = *state;
    struct rec recs[] = {
        {"b-sync", "grants", "g", "1"}, {"a", "resources", "r", "2"}, {"a", "grants", "g", "3"},
        {"a", "grants", "h", "4"},      {"a10", "x", "k", "5"},       {"a1", "y", "k", "6"},
    };
    put_all(f->e, recs, 6);
    const char *want[] = {"a", "a1", "a10", "b-sync"};
    char name[ENGINE_SYNC_ID_MAX + 1] = "";
    size_t n = 0;
    int rc;
    while ((rc = engine_next_sync(f->e, NULL, name, name, NULL)) == 1) {
        assert_true(n < 4);
        assert_string_equal(name, want[n]);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 4);

    const char *want_b[] = {"grants", "resources"};
    char b[ENGINE_BUCKET_MAX + 1] = "";
    n = 0;
    while ((rc = engine_next_bucket(f->e, NULL, "a", b, b, NULL)) == 1) {
        assert_true(n < 2);
        assert_string_equal(b, want_b[n]);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 2);
    assert_int_equal(engine_sync_exists(f->e, NULL, "a1", NULL), 1);
    assert_int_equal(engine_sync_exists(f->e, NULL, "a2", NULL), 0);
    assert_int_equal(engine_next_bucket(f->e, NULL, "zzz", NULL, b, NULL), 0);
}

static void test_prefix_iterator(void **state)
{
    struct fx *f = *state;
    struct rec recs[] = {
        {"s", "resources", "user/1", "u1"},  {"s", "resources", "user/2", "u2"},
        {"s", "resources", "users", "x"},    {"s", "resources", "group/1", "g1"},
        {"s", "resources2", "user/3", "no"},
    };
    put_all(f->e, recs, 5);
    engine_iter *it = engine_iter_new_prefix(f->e, NULL, "s", "resources", "user/", 5);
    size_t n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        struct engine_key_parts p;
        assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
        assert_int_equal(p.key_len, 6);
        assert_memory_equal(p.key, "user/", 5);
        n++;
    }
    assert_int_equal(n, 2);
    /* Seeking inside the range works, and past it finds nothing. */
    char k[ENGINE_DISK_KEY_MAX];
    size_t kl = engine_key_encode(k, "s", "resources", "user/2", 6);
    engine_iter_seek(it, k, kl);
    assert_true(engine_iter_valid(it));
    engine_iter_next(it);
    assert_false(engine_iter_valid(it));
    engine_iter_free(it);

    /* A prefix of 0xFF bytes has no finite successor: bounded by the bucket. */
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t ll, hl;
    assert_int_equal(engine_range_prefix("s", "b", "\xff\xff", 2, lo, &ll, hi, &hl), 1);
    assert_int_equal(hl, 4);
    assert_memory_equal(hi, "s\0b\x01", 4);
}

/* ---- bulk ingest ---- */

static void test_ingest_upsert_later_file_wins(void **state)
{
    struct fx *f = *state;
    struct rec base[] = {{"s", "b", "a", "base-a"}, {"s", "b", "z", "base-z"}};
    put_all(f->e, base, 2);
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(f->e, &ing, NULL), 0);
    struct rec run1[] = {
        {"s", "b", "a", "run1-a"}, {"s", "b", "m", "run1-m"}, {"s", "b", "q", "run1-q"}};
    struct rec run2[] = {{"s", "b", "m", "run2-m"}, {"s", "b", "n", "run2-n"}};
    add_file(ing, run1, 3);
    add_file(ing, run2, 2);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
    assert_get(f->e, NULL, "s", "b", "a", "run1-a");
    assert_get(f->e, NULL, "s", "b", "m", "run2-m"); /* the later run wins */
    assert_get(f->e, NULL, "s", "b", "n", "run2-n");
    assert_get(f->e, NULL, "s", "b", "q", "run1-q");
    assert_get(f->e, NULL, "s", "b", "z", "base-z"); /* upsert keeps the rest */
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 0);
}

static void test_ingest_replace(void **state)
{
    struct fx *f = *state;
    struct rec base[] = {{"s", "b", "a", "old"}, {"s", "c", "x", "old"}, {"t", "b", "a", "t"}};
    put_all(f->e, base, 3);
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(f->e, &ing, NULL), 0);
    add_tombstone_file(ing, "s");
    struct rec run1[] = {{"s", "b", "a", "new-a1"}, {"s", "b", "b", "new-b"}};
    struct rec run2[] = {{"s", "b", "a", "new-a2"}};
    add_file(ing, run1, 2);
    add_file(ing, run2, 1);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
    assert_get(f->e, NULL, "s", "b", "a", "new-a2");
    assert_get(f->e, NULL, "s", "b", "b", "new-b");
    assert_get(f->e, NULL, "s", "c", "x", NULL);
    assert_int_equal(count_sync(f->e, NULL, "s"), 2);
    assert_get(f->e, NULL, "t", "b", "a", "t");
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 0);
}

static void test_ingest_abandoned_leaves_nothing(void **state)
{
    struct fx *f = *state;
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(f->e, &ing, NULL), 0);
    struct rec run[] = {{"s", "b", "a", "x"}};
    add_file(ing, run, 1);
    engine_sst *w;
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0); /* left unfinished */
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 2);
    char *msg = NULL;
    assert_int_equal(engine_ingest_commit(ing, &msg), -EINVAL);
    assert_non_null(strstr(msg, "not finished"));
    free(msg);
    engine_ingest_free(ing);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 0);
    assert_int_equal(count_sync(f->e, NULL, "s"), 0);
}

static void test_ingest_empty_file_dropped(void **state)
{
    struct fx *f = *state;
    engine_ingest *ing;
    assert_int_equal(engine_ingest_new(f->e, &ing, NULL), 0);
    engine_sst *w;
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
    assert_int_equal(engine_sst_finish(w, NULL), 0);
    assert_int_equal(engine_ingest_file_count(ing), 0);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
}

/* ---- opening ---- */

static void test_open_errors(void **state)
{
    struct fx *f = *state;
    engine *e = NULL;
    char *msg = NULL;

    char *missing = tu_join(f->dir, "missing");
    assert_int_equal(engine_open(missing, ENGINE_OPEN_READ_WRITE, &e, &msg), -ENOENT);
    assert_non_null(strstr(msg, missing));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_open(missing, ENGINE_OPEN_READ_ONLY, &e, NULL), -ENOENT);
    free(missing);

    char *file = tu_join(f->dir, "file");
    tu_write_file(file, "x", 1);
    assert_int_equal(engine_open(file, ENGINE_OPEN_CREATE, &e, &msg), -ENOTDIR);
    free(msg);
    msg = NULL;
    free(file);

    char *other = tu_join(f->dir, "other");
    mkdir(other, 0755);
    char *junk = tu_join(other, "junk");
    tu_write_file(junk, "x", 1);
    assert_int_equal(engine_open(other, ENGINE_OPEN_READ_WRITE, &e, &msg), ENGINE_ENOTSTORE);
    assert_non_null(strstr(msg, "not a syncstore store"));
    free(msg);
    msg = NULL;
    /* create refuses a non-empty directory that is not a store */
    assert_int_equal(engine_open(other, ENGINE_OPEN_CREATE, &e, NULL), ENGINE_ENOTSTORE);
    assert_int_equal(tu_count_dir(other), 1);
    free(junk);

    char *store = tu_join(f->dir, "store");
    char *marker = tu_join(store, "FORMAT");
    engine_close(f->e);
    f->e = NULL;
    tu_write_file(marker, "syncstore-store 2\n", 18);
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_WRITE, &e, &msg), ENGINE_EFORMAT);
    assert_non_null(strstr(msg, "newer"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_ONLY, &e, NULL), ENGINE_EFORMAT);
    tu_write_file(marker, "garbage\n", 8);
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_ONLY, &e, NULL), ENGINE_ENOTSTORE);
    tu_write_file(marker, "syncstore-store 1\n", 18);
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_WRITE, &f->e, NULL), 0);
    free(marker);
    free(store);
    free(other);
}

/* Open and `check` read FORMAT with one parser: a marker with a tail after its
 * line is no store for either (open used to read only the first line). */
static void test_format_marker_tail(void **state)
{
    struct fx *f = *state;
    engine *e = NULL;
    char *msg = NULL;
    char *store = tu_join(f->dir, "store");
    char *marker = tu_join(store, "FORMAT");
    engine_close(f->e);
    f->e = NULL;
    tu_write_file(marker, "syncstore-store 1\ngarbage\n", 26);

    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_ONLY, &e, &msg), ENGINE_ENOTSTORE);
    assert_null(e);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "not a syncstore store"));
    assert_non_null(strstr(msg, marker));
    assert_non_null(strstr(msg, "does not hold"));
    free(msg);
    msg = NULL;
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_WRITE, &e, NULL), ENGINE_ENOTSTORE);
    assert_int_equal(engine_check_format(store, &msg), ENGINE_ENOTSTORE);
    assert_non_null(strstr(msg, marker));
    free(msg);
    /* `check` still looks at the data behind a damaged marker. */
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_ONLY | ENGINE_OPEN_ANY_MARKER, &e, NULL),
                     0);
    engine_close(e);

    tu_write_file(marker, "syncstore-store 1\n", 18);
    assert_int_equal(engine_check_format(store, NULL), 0);
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_WRITE, &f->e, NULL), 0);
    free(marker);
    free(store);
}

/* The status record codec writes exactly the text mounts have always
 * persisted and reads back nothing else. */
/* The record's string rule, for the mount's other JSON (ctl/stats). */
static void test_json_quote(void **state)
{
    (void)state;
    char *q = engine_json_quote("a\"b\\c\n\x01\xc3\xa9");
    assert_string_equal(q, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa9\"");
    free(q);
    q = engine_json_quote(NULL);
    assert_string_equal(q, "null");
    free(q);
}

static void test_status_codec(void **state)
{
    (void)state;
    struct engine_status st = {.sync_id = "s1",
                               .state = ENGINE_STATUS_FAILED,
                               .source = "/x\"y\\z\n",
                               .keys = 1,
                               .bytes = 18446744073709551615ull,
                               .seconds = 0.1,
                               .error = NULL};
    char *text;
    size_t len;
    assert_int_equal(engine_status_encode(&st, &text, &len), 0);
    const char *want =
        "{\"sync_id\":\"s1\",\"state\":\"failed\",\"source\":\"/x\\\"y\\\\z\\u000a\","
        "\"keys\":1,\"bytes\":18446744073709551615,\"seconds\":0.100,\"error\":null}\n";
    assert_string_equal(text, want);
    assert_int_equal(len, strlen(want));

    struct engine_status back;
    assert_int_equal(engine_status_decode(text, len, &back, NULL), 0);
    assert_string_equal(back.sync_id, "s1");
    assert_int_equal(back.state, ENGINE_STATUS_FAILED);
    assert_string_equal(back.source, st.source);
    assert_null(back.error);
    assert_int_equal(back.keys, 1);
    assert_true(back.bytes == st.bytes);
    char *again;
    size_t again_len;
    assert_int_equal(engine_status_encode(&back, &again, &again_len), 0);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, text, len);
    engine_status_release(&back);
    assert_null(back.source);
    free(again);
    free(text);

    static const char *const bad[] = {
        "",
        "{\"sync_id\":\"s2\"}",
        "{\"sync_id\":\"s1\",\"state\":\"sleeping\",\"source\":null,\"keys\":0,\"bytes\":0,"
        "\"seconds\":0.000,\"error\":null}\n",
        "{\"sync_id\":\"s1\",\"state\":\"done\",\"source\":null,\"keys\":01,\"bytes\":0,"
        "\"seconds\":0.000,\"error\":null}\n",
        "{\"sync_id\":\"s1\",\"state\":\"done\",\"source\":null,\"keys\":0,\"bytes\":0,"
        "\"seconds\":0.0,\"error\":null}\n",
        "{\"sync_id\":\"s1\",\"state\":\"done\",\"source\":\"a\\nb\",\"keys\":0,\"bytes\":0,"
        "\"seconds\":0.000,\"error\":null}\n",
        "{\"sync_id\":\"s1\",\"state\":\"done\",\"source\":null,\"keys\":0,\"bytes\":0,"
        "\"seconds\":0.000,\"error\":null}\n ",
        "{\"sync_id\": \"s1\",\"state\":\"done\",\"source\":null,\"keys\":0,\"bytes\":0,"
        "\"seconds\":0.000,\"error\":null}\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *msg = NULL;
        assert_int_equal(engine_status_decode(bad[i], strlen(bad[i]), &back, &msg), -EINVAL);
        assert_non_null(msg);
        assert_null(back.source);
        assert_null(back.error);
        free(msg);
    }
    /* How far a bad record got: its sync_id is known. */
    engine_status_decode(bad[1], strlen(bad[1]), &back, NULL);
    assert_string_equal(back.sync_id, "s2");
    char *msg = NULL;
    engine_status_decode(bad[2], strlen(bad[2]), &back, &msg);
    assert_non_null(strstr(msg, "\"state\" is not one of none, running"));
    free(msg);

    for (int s = ENGINE_STATUS_NONE; s <= ENGINE_STATUS_CANCELLED; s++)
        assert_non_null(engine_status_state_name((enum engine_status_state)s));
    assert_null(engine_status_state_name((enum engine_status_state)99));
    st.state = (enum engine_status_state)99;
    assert_int_equal(engine_status_encode(&st, &text, &len), -EINVAL);
}

/* engine_meta_problem knows each metadata name and value format. */
static void test_meta_problem(void **state)
{
    (void)state;
    char *why = NULL;
#define VERDICT(name, value) engine_meta_problem(name, strlen(name), value, strlen(value), &why)
    assert_int_equal(VERDICT("synctime/s1", "1700000000"), ENGINE_META_OK);
    assert_int_equal(VERDICT("reclaim/s1", "1700000000.000000001"), ENGINE_META_OK);
    const char *status = "{\"sync_id\":\"s1\",\"state\":\"running\",\"source\":\"/x\",\"keys\":3,"
                         "\"bytes\":4,\"seconds\":1.250,\"error\":null}\n";
    assert_int_equal(VERDICT("status/s1", status), ENGINE_META_OK);
    assert_null(why);

    assert_int_equal(VERDICT("bogus/s1", "1"), ENGINE_META_UNKNOWN_NAME);
    assert_int_equal(VERDICT("synctime/", "1"), ENGINE_META_UNKNOWN_NAME);
    assert_null(why);
    assert_int_equal(VERDICT("reclaim/a b", "1.000000001"), ENGINE_META_BAD_NAME);
    assert_non_null(strstr(why, "sync_id 'a b'"));
    free(why);
    why = NULL;
    assert_int_equal(VERDICT("synctime/s1", "soon"), ENGINE_META_BAD_VALUE);
    assert_non_null(strstr(why, "not a time"));
    free(why);
    why = NULL;
    assert_int_equal(VERDICT("reclaim/s1", "1.5"), ENGINE_META_BAD_VALUE);
    free(why);
    why = NULL;
    assert_int_equal(VERDICT("status/s2", status), ENGINE_META_BAD_VALUE);
    assert_non_null(strstr(why, "does not match the key"));
    free(why);
    why = NULL;
    assert_int_equal(VERDICT("status/s1", "{}"), ENGINE_META_BAD_VALUE);
    assert_non_null(strstr(why, "not a status record"));
    free(why);
    why = NULL;
    /* run records: four tab-separated printable fields, a format first */
    assert_int_equal(VERDICT("run/s1", "c1z3\t2026-01-01T00:00:00Z\t\tfull"), ENGINE_META_OK);
    assert_null(why);
    const char *bad_runs[] = {"c1z3\tx\ty", "c1z3\ta\tb\tc\td", "\ta\tb\tc", "c1z3\ta\nb\tc\td",
                              "c1z3-with-a-very-long-format\ta\tb\tc"};
    for (size_t i = 0; i < sizeof bad_runs / sizeof *bad_runs; i++) {
        assert_int_equal(VERDICT("run/s1", bad_runs[i]), ENGINE_META_BAD_VALUE);
        assert_non_null(strstr(why, "run record"));
        free(why);
        why = NULL;
    }
#undef VERDICT
}

/* A run record round-trips; bytes a field may not hold become '?'; a
 * missing one is -ENOENT; delete removes it. */
static void test_sync_run(void **state)
{
    struct fx *f = *state;
    struct engine_sync_run run = {
        .format = "c1z v1", .started_at = "2025-12-17 13:10\t15", .ended_at = "", .type = "full"};
    struct engine_sync_run got;
    assert_int_equal(engine_sync_run_get(f->e, "s1", &got, NULL), -ENOENT);
    assert_int_equal(engine_sync_run_put(f->e, "s1", &run, NULL), 0);
    assert_int_equal(engine_sync_run_get(f->e, "s1", &got, NULL), 0);
    assert_string_equal(got.format, "c1z v1");
    assert_string_equal(got.started_at, "2025-12-17 13:10?15");
    assert_string_equal(got.ended_at, "");
    assert_string_equal(got.type, "full");
    assert_int_equal(engine_sync_run_delete(f->e, "s1", NULL), 0);
    assert_int_equal(engine_sync_run_get(f->e, "s1", &got, NULL), -ENOENT);
    assert_int_equal(engine_sync_run_delete(f->e, "s1", NULL), 0);
}

/* Status records through a store. */
static void test_status_put_get(void **state)
{
    struct fx *f = *state;
    struct engine_status st = {.sync_id = "s1", .state = ENGINE_STATUS_DONE, .keys = 7};
    assert_int_equal(engine_status_put(f->e, &st, NULL), 0);
    struct engine_status got;
    assert_int_equal(engine_status_get(f->e, "s1", &got, NULL), 0);
    assert_int_equal(got.state, ENGINE_STATUS_DONE);
    assert_int_equal(got.keys, 7);
    assert_null(got.source);
    engine_status_release(&got);
    assert_int_equal(engine_status_get(f->e, "s2", &got, NULL), -ENOENT);
    assert_int_equal(engine_meta_put(f->e, ENGINE_META_STATUS "s3", "x", 1, NULL), 0);
    char *msg = NULL;
    assert_int_equal(engine_status_get(f->e, "s3", &got, &msg), -EINVAL);
    assert_non_null(strstr(msg, "status/s3"));
    free(msg);
}

/* One quoting for every message. */
static void test_quote(void **state)
{
    (void)state;
    char q[ENGINE_QUOTE_SIZE(4)];
    assert_string_equal(engine_quote("a'b\\", 4, 4, q, sizeof q), "a\\x27b\\x5c");
    assert_string_equal(engine_quote("abcdef", 6, 4, q, sizeof q), "abcd...");
    assert_string_equal(engine_quote("\xff\x00", 2, 4, q, sizeof q), "\\xff\\x00");
    char small[8];
    assert_string_equal(engine_quote("\x01\x02\x03", 3, 64, small, sizeof small), "\\x01...");
}

static void test_locked_store(void **state)
{
    struct fx *f = *state;
    struct rec recs[] = {{"s", "b", "k", "v"}};
    put_all(f->e, recs, 1);
    char *store = tu_join(f->dir, "store");
    /* A second process (a fresh one: a fork of ours would inherit RocksDB's
     * threads half-alive) cannot open it read-write, but can read it. */
    char *out = NULL;
    int rc = tu_syncstore(&out, "gen", store, "x", "--grants", "1", NULL);
    if (rc == 0 || !strstr(out, "held by another process") || !strstr(out, store))
        fail_msg("gen while the store is held: exit %d, '%s'", rc, out);
    free(out);
    rc = tu_syncstore(&out, "dump", store, NULL);
    if (rc != 0 || !strstr(out, "\"k\"") || !strstr(out, "\"v\""))
        fail_msg("dump while the store is held: exit %d, '%s'", rc, out);
    free(out);
    free(store);
}

static void test_read_only_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct rec recs[] = {{"s", "b", "k", "v"}};
    put_all(f->e, recs, 1);
    engine_close(f->e);
    f->e = NULL;
    char *store = tu_join(f->dir, "store");
    char *db = tu_join(store, "db");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && ls -l --time-style=full-iso . > ../listing.before", db);
    assert_int_equal(system(cmd), 0);
    engine *e = NULL;
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_ONLY, &e, NULL), 0);
    assert_true(engine_is_read_only(e));
    assert_get(e, NULL, "s", "b", "k", "v");
    engine_ingest *ing;
    char *msg = NULL;
    assert_int_equal(engine_ingest_new(e, &ing, &msg), -EROFS);
    free(msg);
    engine_close(e);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && ls -l --time-style=full-iso . > ../listing.after && "
             "cmp ../listing.before ../listing.after",
             db);
    assert_int_equal(system(cmd), 0);
    free(db);
    free(store);
}

/* A read-only open's info log lives in $TMPDIR/syncstore-ro-UID/PID-XXXXXX,
 * removed at close; an open removes what killed processes left there. */
static void test_read_only_log_dirs(void **state)
{
    struct fx *f = *state;
    char *store = tu_join(f->dir, "store");
    char *tmp = tu_join(f->dir, "tmp");
    assert_int_equal(mkdir(tmp, 0700), 0);
    char *parent = NULL, *dead = NULL, *alive = NULL;
    assert_true(asprintf(&parent, "%s/syncstore-ro-%u", tmp, (unsigned)geteuid()) > 0);
    assert_true(asprintf(&dead, "%s/2147483646-dead01", parent) > 0); /* no such pid */
    assert_true(asprintf(&alive, "%s/%d-alive1", parent, (int)getpid()) > 0);
    assert_int_equal(mkdir(parent, 0700), 0);
    assert_int_equal(mkdir(dead, 0700), 0);
    assert_int_equal(mkdir(alive, 0700), 0);
    char *dead_log = tu_join(dead, "LOG");
    tu_write_file(dead_log, "x", 1);

    char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmp, 1);
    engine *e = NULL;
    int rc = engine_open(store, ENGINE_OPEN_READ_ONLY, &e, NULL);
    int during = tu_count_dir(parent); /* the live one and ours */
    engine_close(e);
    if (old)
        setenv("TMPDIR", old, 1);
    else
        unsetenv("TMPDIR");
    free(old);
    assert_int_equal(rc, 0);
    assert_int_equal(during, 2);
    struct stat st;
    assert_int_equal(stat(dead, &st), -1);     /* a dead process's: removed */
    assert_int_equal(stat(alive, &st), 0);     /* a live process's: kept */
    assert_int_equal(tu_count_dir(parent), 1); /* ours: removed at close */
    free(dead_log);
    free(parent);
    free(dead);
    free(alive);
    free(tmp);
    free(store);
}

static void test_staging_cleaned_at_open(void **state)
{
    struct fx *f = *state;
    char *store = tu_join(f->dir, "store");
    char *left = tu_join(engine_staging_dir(f->e), "123-0-0.sst");
    engine_close(f->e);
    tu_write_file(left, "partial", 7);
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_ONLY, &f->e, NULL), 0);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 1); /* read-only: untouched */
    engine_close(f->e);
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_WRITE, &f->e, NULL), 0);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 0);
    free(left);
    free(store);
}

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(engine_strerror(0), "success");
    assert_non_null(strstr(engine_strerror(ENGINE_ELOCKED), "another process"));
    assert_string_equal(engine_strerror(-ENOSPC), strerror(ENOSPC));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_syncs_do_not_overlap),
        cmocka_unit_test(test_key_encode_decode),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_status_codec),
        cmocka_unit_test(test_json_quote),
        cmocka_unit_test(test_meta_problem),
        cmocka_unit_test(test_quote),
        cmocka_unit_test_setup_teardown(test_status_put_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_syncs_in_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_rejects_bad_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_out_of_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_syncs_and_buckets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_iterator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_upsert_later_file_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_abandoned_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ingest_empty_file_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_format_marker_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staging_cleaned_at_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_log_dirs, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
