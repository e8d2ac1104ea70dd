/*
 * test_compactor.c - compaction on real stores: the seed system's five cases on
 * every standard bucket, tiling, bad inputs (each leaving the base unchanged),
 * a source that is never written, space reclaim, delete, and the real c1z pair
 * (unexpanded base, expanded source).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "c1z.h"
#include "compactor.h"
#include "engine.h"
#include "engine_admin.h"
#include "engine_test.h"
#include "jsonl.h"
#include "loader.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct fx {
    char *dir;
    engine *base;
    char *source; /* path of the source store (created by tests that need one) */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->base = tu_create_store(f->dir, "base");
    f->source = tu_join(f->dir, "source");
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
    return 0;
}

static const char *buckets[] = {"resource_types",        "resources",
                                "entitlements",          "grants",
                                "grants_by_entitlement", "grants_by_principal"};

/* Writes a sync of n grants with every standard bucket: typed lines through the
 * loader, replacing the sync.  `tag` makes the content differ between calls. */
static void put_sync(engine *e, const char *sync, int n, const char *tag)
{
    struct loader_options opt = {.replace = 1};
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
    ADD("{\"sync\":\"%s\",\"type\":\"resource_type\",\"id\":\"group\",\"tag\":\"%s\"}", sync, tag);
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
    assert_int_equal(loader_commit(l, NULL, NULL), 0);
    loader_free(l);
}

static engine *create_store(const char *path)
{
    engine *e = NULL;
    char *msg = NULL;
    if (engine_open(path, ENGINE_OPEN_CREATE, &e, &msg))
        fail_msg("create %s: %s", path, msg);
    return e;
}

static uint64_t hash_range(engine *e, const char *sync, const char *bucket, size_t *count)
{
    return tu_hash_range(e, sync, bucket, count);
}

static size_t count_bucket(engine *e, const char *sync, const char *bucket)
{
    size_t n;
    hash_range(e, sync, bucket, &n);
    return n;
}

/* Every bucket of sync in a equals the same bucket in b, byte for byte. */
static void assert_same_sync(engine *a, engine *b, const char *sync)
{
    for (size_t i = 0; i < sizeof buckets / sizeof *buckets; i++) {
        size_t na, nb;
        uint64_t ha = hash_range(a, sync, buckets[i], &na);
        uint64_t hb = hash_range(b, sync, buckets[i], &nb);
        if (na != nb || ha != hb)
            fail_msg("bucket %s of %s differs: %zu vs %zu keys", buckets[i], sync, na, nb);
    }
    size_t na, nb;
    assert_true(hash_range(a, sync, NULL, &na) == hash_range(b, sync, NULL, &nb));
    assert_int_equal(na, nb);
}

static int compact(struct fx *f, const char *sync, uint64_t piece, struct compactor_result *r)
{
    /* one streaming thread: these tests count the pieces (test_copy.c covers
     * the copy path and the parallel stream) */
    /* These cases are the streaming path's (pieces, tiling); test_copy.c has
     * the copy path's, which the loader's fresh sources would take. */
    struct compactor_options opt = {.piece_bytes = piece, .threads = 1, .no_copy = 1};
    char *msg = NULL;
    int rc = compactor_run(f->base, f->source, sync, &opt, r, &msg);
    if (rc && rc != ENGINE_ECANCELED)
        print_message("compactor_run: %s\n", msg ? msg : engine_strerror(rc));
    free(msg);
    return rc;
}

/* ---- the seed system's cases ---- */

static void test_into_empty_base(void **state)
{
    struct fx *f = *state;
    engine *src = create_store(f->source);
    put_sync(src, "S", 200, "fresh");
    engine_close(src);
    struct compactor_result r;
    assert_int_equal(compact(f, "S", 0, &r), 0);
    assert_int_equal(r.outcome, COMPACTOR_DONE);
    assert_int_equal(r.pieces, 1);
    assert_int_equal(count_bucket(f->base, "S", "grants"), 200);
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_ONLY, &src, NULL), 0);
    assert_same_sync(f->base, src, "S");
    size_t n;
    hash_range(src, "S", NULL, &n);
    assert_int_equal(r.keys, n);
    engine_close(src);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);
}

static void test_stale_grants_replaced(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "S", 500, "stale");
    assert_int_equal(count_bucket(f->base, "S", "grants_by_principal"), 500);
    engine *src = create_store(f->source);
    put_sync(src, "S", 50, "fresh");
    engine_close(src);
    struct compactor_result r;
    assert_int_equal(compact(f, "S", 0, &r), 0);
    for (size_t i = 3; i < 6; i++)
        assert_int_equal(count_bucket(f->base, "S", buckets[i]), 50);
    /* No stale index entry: every index key names a fresh grant. */
    const char *idx[] = {"grants_by_entitlement", "grants_by_principal"};
    for (int b = 0; b < 2; b++) {
        engine_iter *it = engine_iter_new_bucket(f->base, NULL, "S", idx[b]);
        for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
            struct engine_key_parts p;
            assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
            assert_null(memmem(p.key, p.key_len, "stale", 5));
        }
        engine_iter_free(it);
    }
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_ONLY, &src, NULL), 0);
    assert_same_sync(f->base, src, "S");
    engine_close(src);
}

static void test_other_sync_untouched(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "A", 100, "a-old");
    put_sync(f->base, "B", 100, "b");
    put_sync(f->base, "A1", 10, "prefix-neighbour");
    size_t nb, na1;
    uint64_t hb = hash_range(f->base, "B", NULL, &nb);
    uint64_t ha1 = hash_range(f->base, "A1", NULL, &na1);
    engine *src = create_store(f->source);
    put_sync(src, "A", 25, "a-new");
    put_sync(src, "B", 7, "b-in-source"); /* must not leak into the base's B */
    engine_close(src);
    struct compactor_result r;
    assert_int_equal(compact(f, "A", 0, &r), 0);
    assert_int_equal(count_bucket(f->base, "A", "grants"), 25);
    size_t n;
    assert_true(hash_range(f->base, "B", NULL, &n) == hb);
    assert_int_equal(n, nb);
    assert_true(hash_range(f->base, "A1", NULL, &n) == ha1);
    assert_int_equal(n, na1);
}

static void test_empty_source_excises(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "S", 30, "old");
    put_sync(f->base, "T", 30, "t");
    engine *src = create_store(f->source);
    put_sync(src, "other", 3, "x"); /* a real store with nothing under S */
    engine_close(src);
    struct compactor_result r;
    assert_int_equal(compact(f, "S", 0, &r), 0);
    assert_int_equal(r.outcome, COMPACTOR_EMPTY);
    assert_int_equal(r.keys, 0);
    assert_int_equal(r.pieces, 1);
    assert_int_equal(engine_sync_exists(f->base, NULL, "S", NULL), 0);
    assert_int_equal(engine_sync_exists(f->base, NULL, "other", NULL), 0);
    assert_int_equal(count_bucket(f->base, "T", "grants"), 30);
    /* Excising a sync the base never had is the same empty outcome. */
    assert_int_equal(compact(f, "never", 0, &r), 0);
    assert_int_equal(r.outcome, COMPACTOR_EMPTY);
}

/* Each bad input: the expected code, a message naming it, the base unchanged. */
static void test_bad_inputs(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "S", 20, "keep");
    size_t n0;
    uint64_t h0 = hash_range(f->base, "S", NULL, &n0);
    engine *src = create_store(f->source);
    put_sync(src, "S", 5, "new");
    engine_close(src);

    char *missing = tu_join(f->dir, "missing");
    char *file = tu_join(f->dir, "file");
    tu_write_file(file, "x", 1);
    char *plain = tu_join(f->dir, "plain");
    mkdir(plain, 0755);
    char *plain_file = tu_join(plain, "data");
    tu_write_file(plain_file, "x", 1);
    char *base_path = tu_join(f->dir, "base");
    char *base_alias = tu_join(f->dir, "base/../base");
    char long_id[200];
    memset(long_id, 's', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    const struct {
        const char *source, *sync;
        int rc;
        const char *words;
    } cases[] = {
        {missing, "S", -ENOENT, "missing"},
        {file, "S", -ENOTDIR, "not a directory"},
        {plain, "S", ENGINE_ENOTSTORE, "not a syncstore store"},
        {base_path, "S", -EINVAL, "base store itself"},
        {base_alias, "S", -EINVAL, "base store itself"},
        {f->source, "bad/id", -EINVAL, "sync_id"},
        {f->source, "ctl", -EINVAL, "reserved"},
        {f->source, "..", -EINVAL, "not allowed"},
        {f->source, "", -EINVAL, "empty"},
        {f->source, long_id, -EINVAL, "longer than 128"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *msg = NULL;
        struct compactor_result r;
        int rc = compactor_run(f->base, cases[i].source, cases[i].sync, NULL, &r, &msg);
        if (rc != cases[i].rc || !msg || !strstr(msg, cases[i].words))
            fail_msg("case %zu: rc %d msg '%s', want %d and '%s'", i, rc, msg ? msg : "",
                     cases[i].rc, cases[i].words);
        free(msg);
        size_t n;
        assert_true(hash_range(f->base, "S", NULL, &n) == h0);
        assert_int_equal(n, n0);
        assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);
    }
    free(missing);
    free(file);
    free(plain);
    free(plain_file);
    free(base_path);
    free(base_alias);
}

/* The base held by another process: a second read-write open is refused with a
 * message naming the store. */
static void test_base_held_elsewhere(void **state)
{
    struct fx *f = *state;
    char *base_path = tu_join(f->dir, "base");
    char *out = NULL;
    assert_int_equal(tu_syncstore(NULL, "gen", f->source, "S", "--grants", "5", NULL), 0);
    int rc = tu_syncstore(&out, "compact", base_path, f->source, "S", NULL);
    if (rc == 0 || !strstr(out, "held by another process") || !strstr(out, base_path))
        fail_msg("compact while the base is held: exit %d, '%s'", rc, out);
    free(out);
    free(base_path);
}

/* Whether a process other than this one holds store's RocksDB LOCK (the
 * layout: docs/STORE.md). */
static int lock_held_elsewhere(const char *store)
{
    char *lock = NULL;
    assert_true(asprintf(&lock, "%s/db/LOCK", store) > 0);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    free(lock);
    if (fd < 0)
        return 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

/* A source another process holds read-write (here a `syncstore compact` into
 * it, held in its pause before the ingest) is read as a RocksDB secondary:
 * the compaction works and copies the source's sync exactly. */
static void test_source_held_elsewhere(void **state)
{
    struct fx *f = *state;
    engine *src = create_store(f->source);
    put_sync(src, "S", 300, "held");
    engine_close(src);
    char *other = tu_join(f->dir, "other");
    src = create_store(other);
    put_sync(src, "X", 10, "x");
    engine_close(src);
    const char *bin = getenv("SYNCSTORE_BIN");
    if (!bin || !*bin)
        tu_skip("SYNCSTORE_BIN is not set (ctest sets it)");

    fflush(NULL);
    pid_t holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        setenv(ENGINE_PAUSE_ENV, "4000,0", 1);
        if (!freopen("/dev/null", "w", stdout))
            _exit(126);
        execl(bin, bin, "compact", f->source, other, "X", (char *)NULL);
        _exit(127);
    }
    int held = 0;
    for (int i = 0; i < 2000 && !held; i++) { /* a guard of 20 s */
        held = lock_held_elsewhere(f->source);
        if (!held)
            usleep(10 * 1000); /* polling the condition */
    }
    if (!held) {
        kill(holder, SIGKILL);
        waitpid(holder, NULL, 0);
        fail_msg("the holder never opened the source read-write");
    }
    struct compactor_result r;
    char *msg = NULL;
    int rc = compactor_run(f->base, f->source, "S", NULL, &r, &msg);
    int still_held = lock_held_elsewhere(f->source);
    int status = 0;
    assert_int_equal(waitpid(holder, &status, 0), holder);
    if (rc)
        fail_msg("compacting from a held source: %s", msg ? msg : engine_strerror(rc));
    assert_true(still_held); /* the compaction ran while the source was held */
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(r.outcome, COMPACTOR_DONE);
    assert_int_equal(count_bucket(f->base, "S", "grants"), 300);
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_ONLY, &src, NULL), 0);
    assert_same_sync(f->base, src, "S");
    engine_close(src);
    free(other);
}

/* ---- tiling ---- */

static void test_pieces_equal_one(void **state)
{
    struct fx *f = *state;
    engine *src = create_store(f->source);
    put_sync(src, "S", 400, "tiles");
    engine_close(src);
    put_sync(f->base, "S", 300, "old");
    put_sync(f->base, "R", 3, "before");
    put_sync(f->base, "T", 3, "after");
    struct compactor_result r;
    assert_int_equal(compact(f, "S", 4096, &r), 0);
    assert_true(r.pieces >= 5);
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_ONLY, &src, NULL), 0);
    assert_same_sync(f->base, src, "S");
    /* Boundary keys survive: the first key of every piece but the first is a
     * tombstone boundary too; reading every source key from the base proves it. */
    engine_iter *it = engine_iter_new_sync(src, NULL, "S");
    size_t checked = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), checked++) {
        struct engine_key_parts p;
        assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
        char sync[8], bucket[ENGINE_BUCKET_MAX + 1];
        memcpy(bucket, p.bucket, p.bucket_len);
        bucket[p.bucket_len] = 0;
        strcpy(sync, "S");
        char *v = NULL;
        size_t vl, sl;
        assert_int_equal(engine_get(f->base, NULL, sync, bucket, p.key, p.key_len, &v, &vl, NULL),
                         0);
        const char *sv = engine_iter_value(it, &sl);
        assert_int_equal(vl, sl);
        assert_memory_equal(v, sv, vl);
        free(v);
    }
    engine_iter_free(it);
    assert_int_equal(checked, r.keys);
    engine_close(src);
    assert_int_equal(count_bucket(f->base, "R", "grants"), 3);
    assert_int_equal(count_bucket(f->base, "T", "grants"), 3);

    /* The same compaction in one piece gives the same sync. */
    uint64_t tiled = hash_range(f->base, "S", NULL, NULL);
    put_sync(f->base, "S", 10, "reset");
    assert_int_equal(compact(f, "S", 0, &r), 0);
    assert_int_equal(r.pieces, 1);
    assert_true(hash_range(f->base, "S", NULL, NULL) == tiled);
}

static void test_tiling_check(void **state)
{
    (void)state;
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t ll, hl;
    engine_range_sync("S", lo, &ll, hi, &hl);
    const char *k1 = "S\0b\0k1", *k2 = "S\0b\0k5", *k3 = "S\0b\0k9";
#define P(l, ll_, h, hl_, fi, fl, la, lal)                                                         \
    {                                                                                              \
        l, h, fi, la, ll_, hl_, fl, lal                                                            \
    }
    struct compactor_piece good[] = {
        P(lo, ll, k2, 6, k1, 6, k1, 6),
        P(k2, 6, hi, hl, k2, 6, k3, 6),
    };
    assert_int_equal(compactor_check_tiling(good, 2, lo, ll, hi, hl, NULL), 0);
    /* A single tombstone-only piece over the whole range is a tiling. */
    struct compactor_piece whole[] = {P(lo, ll, hi, hl, NULL, 0, NULL, 0)};
    assert_int_equal(compactor_check_tiling(whole, 1, lo, ll, hi, hl, NULL), 0);

    char *msg = NULL;
    struct compactor_piece overlap[] = {
        P(lo, ll, k3, 6, k1, 6, k2, 6),
        P(k2, 6, hi, hl, k2, 6, k3, 6),
    };
    assert_int_equal(compactor_check_tiling(overlap, 2, lo, ll, hi, hl, &msg), -EINVAL);
    assert_non_null(strstr(msg, "overlap"));
    free(msg);
    msg = NULL;
    struct compactor_piece gap[] = {
        P(lo, ll, k1, 6, NULL, 0, NULL, 0),
        P(k2, 6, hi, hl, k2, 6, k3, 6),
    };
    assert_int_equal(compactor_check_tiling(gap, 2, lo, ll, hi, hl, &msg), -EINVAL);
    assert_non_null(strstr(msg, "gap"));
    free(msg);
    msg = NULL;
    struct compactor_piece outside[] = {
        P(lo, ll, k2, 6, k1, 6, k3, 6), /* holds k3 beyond its end k2 */
        P(k2, 6, hi, hl, k2, 6, k3, 6),
    };
    assert_int_equal(compactor_check_tiling(outside, 2, lo, ll, hi, hl, &msg), -EINVAL);
    assert_non_null(strstr(msg, "outside"));
    free(msg);
    struct compactor_piece late_start[] = {P(k1, 6, hi, hl, k1, 6, k1, 6)};
    assert_int_equal(compactor_check_tiling(late_start, 1, lo, ll, hi, hl, NULL), -EINVAL);
    struct compactor_piece early_end[] = {P(lo, ll, k3, 6, k1, 6, k1, 6)};
    assert_int_equal(compactor_check_tiling(early_end, 1, lo, ll, hi, hl, NULL), -EINVAL);
    struct compactor_piece empty_piece[] = {
        P(lo, ll, k2, 6, NULL, 0, NULL, 0),
        P(k2, 6, k2, 6, NULL, 0, NULL, 0),
        P(k2, 6, hi, hl, NULL, 0, NULL, 0),
    };
    assert_int_equal(compactor_check_tiling(empty_piece, 3, lo, ll, hi, hl, NULL), -EINVAL);
    assert_int_equal(compactor_check_tiling(good, 0, lo, ll, hi, hl, NULL), -EINVAL);
#undef P
}

/* ---- the source is never written ---- */

static char *listing(const char *dir)
{
    char *cmd = NULL, *out = NULL;
    size_t len = 0;
    assert_true(asprintf(&cmd,
                         "cd '%s' && find . -type f -printf '%%p %%s %%T@\\n' | sort && "
                         "find . -type f -exec md5sum {} + | sort",
                         dir) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    FILE *mem = open_memstream(&out, &len);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, n, mem);
    assert_int_equal(pclose(p), 0);
    fclose(mem);
    free(cmd);
    return out;
}

static void test_source_never_written(void **state)
{
    struct fx *f = *state;
    engine *src = create_store(f->source);
    put_sync(src, "S", 100, "src");
    engine_close(src);
    char *before = listing(f->source);
    struct compactor_result r;
    assert_int_equal(compact(f, "S", 4096, &r), 0);
    assert_int_equal(compact(f, "absent", 0, &r), 0);
    char *after = listing(f->source);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

/* ---- delete and reclaim ---- */

static void test_delete(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "S", 20, "s");
    put_sync(f->base, "S1", 20, "s1");
    struct compactor_result r;
    char *msg = NULL;
    assert_int_equal(compactor_delete(f->base, "S", NULL, &r, NULL), 0);
    assert_int_equal(engine_sync_exists(f->base, NULL, "S", NULL), 0);
    assert_int_equal(count_bucket(f->base, "S1", "grants"), 20);
    assert_int_equal(compactor_delete(f->base, "S", NULL, &r, &msg), -ENOENT);
    assert_non_null(strstr(msg, "no sync 'S'"));
    free(msg);
    assert_int_equal(compactor_delete(f->base, "ctl", NULL, &r, NULL), -EINVAL);
}

/* Whether a writer holds the sync's claim: a claim of our own is refused. */
static int held_by_someone(engine *e, const char *sync_id)
{
    int rc = engine_sync_claim(e, sync_id);
    if (rc == 0)
        engine_sync_release(e, sync_id);
    return rc == -EBUSY;
}

/* The busy registry is the base's: a claim held by another writer of the
 * base (the mount holds one while its ctl write runs) refuses compaction and
 * deletion of that sync with the base unchanged; another sync, or another
 * base, is not affected; a caller that holds the claim says so. */
static void test_claims_belong_to_the_base(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "S", 20, "old");
    engine *src = create_store(f->source);
    put_sync(src, "S", 30, "new");
    put_sync(src, "U", 5, "u");
    engine_close(src);
    uint64_t before = hash_range(f->base, "S", NULL, NULL);

    assert_int_equal(engine_sync_claim(f->base, "S"), 0);
    assert_int_equal(engine_sync_claim(f->base, "S"), -EBUSY);
    assert_int_equal(held_by_someone(f->base, "S"), 1);
    char *msg = NULL;
    struct compactor_result r;
    assert_int_equal(compactor_run(f->base, f->source, "S", NULL, &r, &msg), -EBUSY);
    assert_non_null(strstr(msg, "already running"));
    free(msg);
    assert_int_equal(compactor_delete(f->base, "S", NULL, &r, NULL), -EBUSY);
    assert_true(hash_range(f->base, "S", NULL, NULL) == before);
    assert_int_equal(tu_count_dir(engine_staging_dir(f->base)), 0);

    /* Another sync of the same base runs. */
    assert_int_equal(compact(f, "U", 0, &r), 0);
    assert_int_equal(count_bucket(f->base, "U", "grants"), 5);

    /* The holder runs its own compaction and keeps its claim after it. */
    struct compactor_options held = {.claimed = 1};
    assert_int_equal(compactor_run(f->base, f->source, "S", &held, &r, NULL), 0);
    assert_int_equal(count_bucket(f->base, "S", "grants"), 30);
    assert_int_equal(held_by_someone(f->base, "S"), 1);
    engine_sync_release(f->base, "S");
    assert_int_equal(held_by_someone(f->base, "S"), 0);
    assert_int_equal(compact(f, "S", 0, &r), 0);
    assert_int_equal(held_by_someone(f->base, "S"), 0); /* the compactor's own claim is gone */
}

static void test_reclaim(void **state)
{
    struct fx *f = *state;
    put_sync(f->base, "S", 3000, "old-and-rather-long-to-take-space");
    engine *src = create_store(f->source);
    put_sync(src, "S", 3000, "new-and-rather-long-to-take-space");
    engine_close(src);
    /* Without reclaim: a persisted hint. */
    struct compactor_result r;
    assert_int_equal(compact(f, "S", 0, &r), 0);
    assert_int_equal(engine_reclaim_pending(f->base, NULL), 1);
    uint64_t both = engine_property(f->base, "rocksdb.total-sst-files-size");
    /* A reclaiming open acts on it in the background. */
    char *base_path = tu_join(f->dir, "base");
    engine_close(f->base);
    f->base = NULL;
    assert_int_equal(
        engine_open(base_path, ENGINE_OPEN_READ_WRITE | ENGINE_OPEN_RECLAIM, &f->base, NULL), 0);
    int pending = 1;
    for (int i = 0; i < 200 && pending; i++) {
        pending = engine_reclaim_pending(f->base, NULL);
        if (pending)
            usleep(50 * 1000);
    }
    assert_int_equal(pending, 0);
    uint64_t one = engine_property(f->base, "rocksdb.total-sst-files-size");
    print_message("sst bytes: %llu with both copies, %llu after reclaim\n",
                  (unsigned long long)both, (unsigned long long)one);
    assert_true(one < both * 3 / 4);
    assert_int_equal(count_bucket(f->base, "S", "grants"), 3000);
    /* With reclaim: no hint left behind. */
    struct compactor_options opt = {.reclaim = 1};
    assert_int_equal(compactor_run(f->base, f->source, "S", &opt, &r, NULL), 0);
    assert_true(r.reclaim_seconds > 0);
    assert_int_equal(engine_reclaim_pending(f->base, NULL), 0);
    free(base_path);
}

/* ---- real data ---- */

static void test_real_c1z_pair(void **state)
{
    struct fx *f = *state;
    char *unexpanded = tu_shared_data("c1z/sync.36zfOAoWMxQdISbixanQCRBiX7E.unexpanded");
    char *expanded = tu_shared_data("c1z/sync.36zfOAoWMxQdISbixanQCRBiX7E.expanded");
    const char *sync = "36zfOAoWMxQdISbixanQCRBiX7E";
    struct c1z_stats st = {0};
    char *msg = NULL;
    if (c1z_import(f->base, unexpanded, NULL, 0, &st, &msg))
        fail_msg("import: %s", msg);
    c1z_stats_release(&st);
    put_sync(f->base, "other", 10, "o");
    uint64_t other = hash_range(f->base, "other", NULL, NULL);
    engine *src = create_store(f->source);
    if (c1z_import(src, expanded, NULL, 0, &st, &msg))
        fail_msg("import: %s", msg);
    c1z_stats_release(&st);
    engine_close(src);
    assert_int_equal(count_bucket(f->base, sync, "grants"), 2909);

    struct compactor_result r;
    assert_int_equal(compact(f, sync, 64 * 1024, &r), 0);
    assert_int_equal(r.outcome, COMPACTOR_DONE);
    assert_int_equal(count_bucket(f->base, sync, "grants"), 14981);
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_ONLY, &src, NULL), 0);
    /* Key for key, every bucket the files have. */
    engine_iter *a = engine_iter_new_sync(f->base, NULL, sync);
    engine_iter *b = engine_iter_new_sync(src, NULL, sync);
    size_t n = 0;
    engine_iter_seek_first(a);
    engine_iter_seek_first(b);
    for (; engine_iter_valid(b); engine_iter_next(a), engine_iter_next(b), n++) {
        assert_true(engine_iter_valid(a));
        size_t ka, kb, va, vb;
        const char *pa = engine_iter_disk_key(a, &ka), *pb = engine_iter_disk_key(b, &kb);
        assert_int_equal(ka, kb);
        assert_memory_equal(pa, pb, ka);
        pa = engine_iter_value(a, &va);
        pb = engine_iter_value(b, &vb);
        assert_int_equal(va, vb);
        if (va)
            assert_memory_equal(pa, pb, va);
    }
    assert_false(engine_iter_valid(a));
    assert_int_equal(n, r.keys);
    engine_iter_free(a);
    engine_iter_free(b);
    engine_close(src);
    assert_true(hash_range(f->base, "other", NULL, NULL) == other);
    free(unexpanded);
    free(expanded);
}

/* A source imported from a C1Z3 file replaces the same sync imported from its
 * v1 twin in the base: the base then equals the source, by the copy path (a
 * fresh import writes files that qualify). */
static void test_c1z3_source_into_v1_base(void **state)
{
    const char *quick = getenv("SYNCSTORE_TEST_QUICK");
    if (quick && *quick == '1') {
        /* the valgrind run: two 102,157-row imports under memcheck take
         * minutes; the tests and asan stages run it, test_import's quick
         * run imports the C1Z3 file under memcheck */
        print_message("    skipped in the quick run (SYNCSTORE_TEST_QUICK)\n");
        skip();
    }
    struct fx *f = *state;
    char *v1 = tu_shared_data("c1z/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded");
    char *v3 = tu_shared_data("c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z");
    const char *sync = "36zGvJw3uxU1QMJKU2yPVQ1hBOC";
    struct c1z_stats st = {0};
    char *msg = NULL;
    if (c1z_import(f->base, v1, NULL, 0, &st, &msg))
        fail_msg("import: %s", msg);
    c1z_stats_release(&st);
    engine *src = create_store(f->source);
    if (c1z_import(src, v3, NULL, 0, &st, &msg))
        fail_msg("import: %s", msg);
    c1z_stats_release(&st);
    engine_close(src);
    size_t before;
    uint64_t old = hash_range(f->base, sync, NULL, &before);
    struct engine_sync_run run;
    assert_int_equal(engine_sync_run_get(f->base, sync, &run, NULL), 0);
    assert_string_equal(run.format, "c1z v1");
    struct compactor_result r;
    assert_int_equal(compactor_run(f->base, f->source, sync, NULL, &r, &msg), 0);
    assert_int_equal(r.method, COMPACTOR_COPY);
    /* the run record follows the data: the source's */
    assert_int_equal(engine_sync_run_get(f->base, sync, &run, NULL), 0);
    assert_string_equal(run.format, "c1z3");
    src = NULL;
    assert_int_equal(engine_open(f->source, ENGINE_OPEN_READ_ONLY, &src, NULL), 0);
    assert_same_sync(f->base, src, sync);
    size_t n;
    assert_true(hash_range(f->base, sync, NULL, &n) != old); /* the values differ by format */
    assert_int_equal(n, before);                             /* the keys do not */
    engine_close(src);
    /* a source without a run record (gen, load) leaves the base without one */
    char *plain = tu_join(f->dir, "plain");
    src = create_store(plain);
    put_sync(src, sync, 5, "p");
    engine_close(src);
    assert_int_equal(compactor_run(f->base, plain, sync, NULL, &r, &msg), 0);
    assert_int_equal(engine_sync_run_get(f->base, sync, &run, NULL), -ENOENT);
    free(plain);
    free(v1);
    free(v3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiling_check),
        cmocka_unit_test_setup_teardown(test_into_empty_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_grants_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_sync_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_source_excises, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_held_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_held_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pieces_equal_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_never_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims_belong_to_the_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reclaim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_c1z_pair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_c1z3_source_into_v1_base, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
