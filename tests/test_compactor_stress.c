/*
 * test_compactor_stress.c - the compactor under pressure: the guarantees of SPEC
 * "Compaction" checked with concurrency, crashes and a full disk rather than
 * one call at a time.
 *
 * Every test builds the same small world in a temporary directory (removed in
 * teardown): two source stores holding sync S with different contents A and B
 * (different keys and values in every standard bucket: gen with different
 * seeds and sizes plus marker records), and a base holding S = A, its prefix
 * neighbours T0 ("stres", sorted just before S) and T ("stress-t", just after),
 * and a sync U.  A sync's identity is an FNV-1a 64 digest of every on-disk key
 * and value in order, so "all-old or all-new" becomes "digest is A's or B's".
 *
 *   readers   three reader threads (snapshot iteration; plain iteration and
 *             point reads without a snapshot; point reads at one snapshot)
 *             run while the main thread compacts S 200+ times, alternating A
 *             and B; no reader may ever see a mix.  (With RocksDB 7.8.3 a read
 *             without a snapshot can, rarely, see the ingested range tombstone
 *             without the ingested keys: S empty, or a key of both versions
 *             missing.  This test then fails, intermittently, as it should.)
 *   crash     50+ trials: a child process compacts S in a loop (the library in
 *             a re-executed copy of this program, or the syncstore binary in a
 *             shell loop) and is SIGKILLed at a random moment, some of them
 *             inside the engine's test-only pauses around the ingest call; the
 *             reopened base holds exactly A or B, T is untouched and staging is
 *             empty.  The RNG seed is printed; SYNCSTORE_TEST_SEED replays it.
 *   no space  the base lives on a small tmpfs (skipped, visibly, when mounting
 *             is not allowed) filled almost full: -ENOSPC, base unchanged,
 *             staging empty; after freeing space the same compaction succeeds.
 *   busy      a second compaction of S while one is blocked in its progress
 *             callback gets -EBUSY; a compaction of U at the same time succeeds.
 *   cancel    a progress callback that cancels, mid-stream or at the very end,
 *             leaves the base unchanged and staging empty.
 *
 * The crash children are started with fork+exec only (nothing but exec runs
 * after fork), so RocksDB threads in this process do no harm.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "compactor.h"
#include "engine.h"
#include "engine_test.h"
#include "gen.h"
#include "loader.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SYNC_S "stress"
#define SYNC_T "stress-t" /* sorts right after S's range */
#define SYNC_T0 "stres"   /* sorts right before S's range */
#define SYNC_U "other"

/* The full campaigns; SYNCSTORE_TEST_QUICK=1 (the valgrind run, ~30x slower)
 * runs a tenth of the readers' rounds and no crash trials (their timing needs
 * a parent at full speed; they run natively and under ASan). */
static int quick(void)
{
    const char *q = getenv("SYNCSTORE_TEST_QUICK");
    return q && *q && strcmp(q, "0");
}
#define READER_ROUNDS (quick() ? 20 : 200)    /* compactions while the readers run (at least 200) */
#define READER_MIN_ITERS (quick() ? 10 : 100) /* each reader must finish this many passes */
#define CRASH_TRIALS 50                       /* at least 50 */
#define CHILD_FLAG "--crash-child"

static const char *const buckets[] = {
    "resource_types",        "resources",           "entitlements", "grants",
    "grants_by_entitlement", "grants_by_principal",
};
#define NBUCKETS (sizeof buckets / sizeof *buckets)

/* ---- Digests ---- */

struct digest {
    uint64_t hash;
    uint64_t keys;
};

static void fnv(uint64_t *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        *h ^= p[i];
        *h *= 0x100000001b3ULL;
    }
}

/* Digests what the iterator yields (lengths included, so that no two different
 * sequences of keys and values run together) and frees it.  Returns the
 * iterator's status; never calls cmocka, so reader threads can use it. */
static int digest_iter(engine_iter *it, struct digest *d)
{
    if (!it)
        return -ENOMEM;
    d->hash = 0xcbf29ce484222325ULL;
    d->keys = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_disk_key(it, &kl);
        const char *v = engine_iter_value(it, &vl);
        uint64_t lens[2] = {kl, vl};
        fnv(&d->hash, lens, sizeof lens);
        fnv(&d->hash, k, kl);
        fnv(&d->hash, v, vl);
        d->keys++;
    }
    int rc = engine_iter_status(it, NULL);
    engine_iter_free(it);
    return rc;
}

static int digest_eq(struct digest a, struct digest b)
{
    return a.hash == b.hash && a.keys == b.keys;
}

static struct digest digest_sync(engine *e, const engine_snapshot *snap, const char *sync)
{
    struct digest d;
    int rc = digest_iter(engine_iter_new_sync(e, snap, sync), &d);
    if (rc)
        fail_msg("iterating sync '%s': %s", sync, engine_strerror(rc));
    return d;
}

static engine *open_store(const char *path, int flags)
{
    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(path, flags, &e, &msg);
    if (rc)
        fail_msg("opening store %s: %s", path, msg ? msg : engine_strerror(rc));
    return e;
}

static struct digest store_digest(const char *path, const char *sync)
{
    engine *e = open_store(path, ENGINE_OPEN_READ_ONLY);
    struct digest d = digest_sync(e, NULL, sync);
    engine_close(e);
    return d;
}

/* ---- Building syncs ---- */

static void must(int rc, const char *what, char *msg)
{
    if (rc)
        fail_msg("%s: %s", what, msg ? msg : engine_strerror(rc));
}

/* Replaces sync in e with gen's sync for (grants, seed); with a tag, also adds
 * to every standard bucket a key only this version has ("zz-stress-only-TAG")
 * and a key every version has with a value naming the version ("00-stress-both"
 * = "version TAG"). */
static void gen_sync(engine *e, const char *sync, uint64_t grants, uint64_t seed, const char *tag)
{
    struct loader_options lopt = {.replace = 1};
    struct gen_options gopt = {.sync_id = sync, .grants = grants, .seed = seed};
    loader *l = NULL;
    char *msg = NULL;
    must(loader_new(e, &lopt, &l, &msg), "loader_new", msg);
    must(gen_run(l, &gopt, NULL, &msg), "gen_run", msg);
    for (size_t i = 0; tag && i < NBUCKETS; i++) {
        char only[64], both[64];
        snprintf(only, sizeof only, "zz-stress-only-%s", tag);
        snprintf(both, sizeof both, "version %s", tag);
        must(loader_add(l, sync, buckets[i], only, strlen(only), tag, strlen(tag), &msg),
             "loader_add", msg);
        must(loader_add(l, sync, buckets[i], "00-stress-both", 14, both, strlen(both), &msg),
             "loader_add", msg);
    }
    must(loader_commit(l, NULL, &msg), "loader_commit", msg);
    loader_free(l);
}

/* Adds n records of incompressible bytes (value_len each) to sync, replacing it. */
static void random_sync(engine *e, const char *sync, size_t n, size_t value_len, uint64_t seed)
{
    struct loader_options lopt = {.replace = 1};
    loader *l = NULL;
    char *msg = NULL;
    char *value = malloc(value_len);
    assert_non_null(value);
    must(loader_new(e, &lopt, &l, &msg), "loader_new", msg);
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < value_len; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            value[j] = (char)(x >> 24);
        }
        char key[32];
        snprintf(key, sizeof key, "blob-%08zu", i);
        must(loader_add(l, sync, buckets[i % NBUCKETS], key, strlen(key), value, value_len, &msg),
             "loader_add", msg);
    }
    must(loader_commit(l, NULL, &msg), "loader_commit", msg);
    loader_free(l);
    free(value);
}

/* ---- The world every test starts from ---- */

struct world {
    char *dir;
    char *base, *src_a, *src_b, *tmp;
    struct digest a, b, t, t0, u_old, u_new;
    engine *e; /* the base, when a test holds it open */
    char *mnt; /* the no-space test's tmpfs, when mounted */
    int mounted;
    char skip_why[256];
};

static void build_world(struct world *w, const char *base_dir)
{
    w->src_a = tu_join(w->dir, "src-a");
    w->src_b = tu_join(w->dir, "src-b");
    w->base = tu_join(base_dir, "base");
    w->tmp = tu_join(w->dir, "tmp");
    assert_int_equal(mkdir(w->tmp, 0755), 0);

    engine *e = tu_create_store(w->dir, "src-a");
    gen_sync(e, SYNC_S, 120, 11, "A");
    engine_close(e);
    e = tu_create_store(w->dir, "src-b");
    gen_sync(e, SYNC_S, 200, 22, "B");
    gen_sync(e, SYNC_U, 80, 66, NULL);
    engine_close(e);
    e = open_store(w->base, ENGINE_OPEN_CREATE);
    gen_sync(e, SYNC_T0, 50, 44, NULL);
    gen_sync(e, SYNC_S, 120, 11, "A");
    gen_sync(e, SYNC_T, 100, 33, NULL);
    gen_sync(e, SYNC_U, 50, 55, NULL);
    w->t = digest_sync(e, NULL, SYNC_T);
    w->t0 = digest_sync(e, NULL, SYNC_T0);
    w->u_old = digest_sync(e, NULL, SYNC_U);
    struct digest base_s = digest_sync(e, NULL, SYNC_S);
    engine_close(e);

    w->a = store_digest(w->src_a, SYNC_S);
    w->b = store_digest(w->src_b, SYNC_S);
    w->u_new = store_digest(w->src_b, SYNC_U);
    assert_true(digest_eq(base_s, w->a));
    assert_false(digest_eq(w->a, w->b));
    assert_false(digest_eq(w->u_old, w->u_new));
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->dir = tu_mkdtemp();
    *state = w;
    build_world(w, w->dir);
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    engine_close(w->e);
    if (w->mounted && umount2(w->mnt, 0) != 0 && umount2(w->mnt, MNT_DETACH) != 0)
        fprintf(stderr, "warning: cannot unmount %s: %s\n", w->mnt, strerror(errno));
    free(w->mnt);
    free(w->base);
    free(w->src_a);
    free(w->src_b);
    free(w->tmp);
    tu_rmtree(w->dir);
    free(w);
    return 0;
}

static void check_staging_empty(engine *e)
{
    int n = tu_count_dir(engine_staging_dir(e));
    if (n != 0)
        fail_msg("staging dir %s holds %d entries, expected none", engine_staging_dir(e), n);
}

static void check_others(const struct world *w, engine *e)
{
    assert_true(digest_eq(digest_sync(e, NULL, SYNC_T), w->t));
    assert_true(digest_eq(digest_sync(e, NULL, SYNC_T0), w->t0));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
    if (ms <= 0)
        return;
    long long ns = (long long)(ms * 1e6);
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ======== 1. Readers during compaction ======== */

enum { READER_SNAPSHOT, READER_ITERATOR, READER_POINT, NREADERS };
static const char *const reader_names[NREADERS] = {
    "snapshot iteration", "plain iteration and reads", "point reads at a snapshot"};

struct readers {
    engine *e;
    const struct world *w;
    atomic_int stop;
    atomic_int failed;
    pthread_mutex_t lock;
    char failure[1024];
    /* Per reader, written only by its own thread until joined. */
    uint64_t iters[NREADERS], seen_a[NREADERS], seen_b[NREADERS];
};

struct reader_arg {
    struct readers *r;
    int kind;
};

static void reader_fail(struct readers *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void reader_fail(struct readers *r, const char *fmt, ...)
{
    pthread_mutex_lock(&r->lock);
    if (!atomic_load(&r->failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->failure, sizeof r->failure, fmt, ap);
        va_end(ap);
        atomic_store(&r->failed, 1);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Classifies a digest of S: 'A', 'B', or 0 for anything else (a mix). */
static int which_version(const struct world *w, struct digest d)
{
    return digest_eq(d, w->a) ? 'A' : digest_eq(d, w->b) ? 'B' : 0;
}

/* One pass of point reads at one snapshot: every bucket's A-only key, B-only
 * key and shared key must all tell the same version.  Returns 'A', 'B' or 0. */
static int point_pass(struct readers *r, const engine_snapshot *snap)
{
    int version = -1;
    for (size_t i = 0; i < NBUCKETS; i++) {
        char *v[3] = {NULL, NULL, NULL};
        size_t len[3] = {0, 0, 0};
        int rc[3];
        const char *keys[3] = {"zz-stress-only-A", "zz-stress-only-B", "00-stress-both"};
        for (int k = 0; k < 3; k++)
            rc[k] = engine_get(r->e, snap, SYNC_S, buckets[i], keys[k], strlen(keys[k]), &v[k],
                               &len[k], NULL);
        int here = 0;
        if (rc[0] == 0 && rc[1] == -ENOENT && rc[2] == 0 && !strcmp(v[2], "version A"))
            here = 'A';
        else if (rc[0] == -ENOENT && rc[1] == 0 && rc[2] == 0 && !strcmp(v[2], "version B"))
            here = 'B';
        if (!here || (version != -1 && here != version)) {
            reader_fail(r,
                        "point reads at one snapshot mix versions: bucket %s: only-A rc %d, "
                        "only-B rc %d, both rc %d '%s' (earlier buckets: %c)",
                        buckets[i], rc[0], rc[1], rc[2], rc[2] == 0 ? v[2] : "",
                        version > 0 ? version : '?');
            here = 0;
        }
        for (int k = 0; k < 3; k++)
            free(v[k]);
        if (!here)
            return 0;
        version = here;
    }
    return version;
}

/* Point reads without a snapshot, each one alone: the key every version has
 * must always be there, holding one version's value. */
static int plain_gets(struct readers *r)
{
    for (size_t i = 0; i < NBUCKETS; i++) {
        char *v = NULL;
        size_t len;
        int rc = engine_get(r->e, NULL, SYNC_S, buckets[i], "00-stress-both", 14, &v, &len, NULL);
        int ok = rc == 0 && (!strcmp(v, "version A") || !strcmp(v, "version B"));
        if (!ok)
            reader_fail(r, "a point read without a snapshot of %s/%s/00-stress-both: rc %d (%s)",
                        SYNC_S, buckets[i], rc, rc ? engine_strerror(rc) : v);
        free(v);
        if (!ok)
            return 0;
    }
    return 1;
}

static void *reader_main(void *p)
{
    struct reader_arg *arg = p;
    struct readers *r = arg->r;
    const struct world *w = r->w;
    int kind = arg->kind;
    while (!atomic_load(&r->stop) && !atomic_load(&r->failed)) {
        int version = 0;
        struct digest s = {0, 0}, t = {0, 0};
        int rc = 0, rc_t = 0;
        if (kind == READER_SNAPSHOT) {
            engine_snapshot *snap = NULL;
            if (engine_snapshot_new(r->e, &snap, NULL)) {
                reader_fail(r, "engine_snapshot_new failed");
                break;
            }
            rc = digest_iter(engine_iter_new_sync(r->e, snap, SYNC_S), &s);
            rc_t = digest_iter(engine_iter_new_sync(r->e, snap, SYNC_T), &t);
            engine_snapshot_free(r->e, snap);
        } else if (kind == READER_ITERATOR) {
            rc = digest_iter(engine_iter_new_sync(r->e, NULL, SYNC_S), &s);
            rc_t = digest_iter(engine_iter_new_sync(r->e, NULL, SYNC_T), &t);
            if (!rc && !rc_t && !plain_gets(r))
                break;
        } else {
            engine_snapshot *snap = NULL;
            if (engine_snapshot_new(r->e, &snap, NULL)) {
                reader_fail(r, "engine_snapshot_new failed");
                break;
            }
            version = point_pass(r, snap);
            rc_t = digest_iter(engine_iter_new_sync(r->e, snap, SYNC_T), &t);
            engine_snapshot_free(r->e, snap);
            if (!version)
                break;
        }
        if (rc || rc_t) {
            reader_fail(r, "%s: iterator status %s", reader_names[kind],
                        engine_strerror(rc ? rc : rc_t));
            break;
        }
        if (kind != READER_POINT && !(version = which_version(w, s))) {
            reader_fail(r,
                        "%s saw a mix: sync %s has %" PRIu64 " keys, digest %016" PRIx64
                        "; A is %" PRIu64 " keys %016" PRIx64 ", B %" PRIu64 " keys %016" PRIx64,
                        reader_names[kind], SYNC_S, s.keys, s.hash, w->a.keys, w->a.hash, w->b.keys,
                        w->b.hash);
            break;
        }
        if (!digest_eq(t, w->t)) {
            reader_fail(r, "%s: sync %s changed (%" PRIu64 " keys)", reader_names[kind], SYNC_T,
                        t.keys);
            break;
        }
        r->iters[kind]++;
        if (version == 'A')
            r->seen_a[kind]++;
        else
            r->seen_b[kind]++;
    }
    return NULL;
}

static void test_readers_during_compaction(void **state)
{
    struct world *w = *state;
    w->e = open_store(w->base, ENGINE_OPEN_READ_WRITE);
    struct readers r = {.e = w->e, .w = w, .lock = PTHREAD_MUTEX_INITIALIZER};
    struct reader_arg args[NREADERS];
    pthread_t threads[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        args[i] = (struct reader_arg){&r, i};
        assert_int_equal(pthread_create(&threads[i], NULL, reader_main, &args[i]), 0);
    }

    double t0 = now_ms();
    int rc = 0, round = 0;
    char *msg = NULL;
    struct compactor_result res = {0};
    uint64_t max_pieces = 0;
    int wrong_after = 0;
    double ingest_ms = 0, reclaim_ms = 0;
    for (; round < READER_ROUNDS && !atomic_load(&r.failed); round++) {
        int to_b = round % 2 == 0; /* the base starts with A */
        struct compactor_options opt = {
            .piece_bytes = round % 4 == 1   ? 4096
                           : round % 4 == 2 ? 16384
                                            : 0,
            .reclaim = round % 25 == 24,
        };
        rc = compactor_run(w->e, to_b ? w->src_b : w->src_a, SYNC_S, &opt, &res, &msg);
        if (rc || res.outcome != COMPACTOR_DONE)
            break;
        ingest_ms += res.ingest_seconds * 1e3;
        reclaim_ms += res.reclaim_seconds * 1e3;
        if (opt.piece_bytes && res.pieces > max_pieces)
            max_pieces = res.pieces;
        struct digest now;
        if (digest_iter(engine_iter_new_sync(w->e, NULL, SYNC_S), &now) ||
            which_version(w, now) != (to_b ? 'B' : 'A')) {
            wrong_after = 1;
            break;
        }
    }
    double compact_ms = now_ms() - t0;
    atomic_store(&r.stop, 1);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(threads[i], NULL);

    print_message("readers: switches took %.0f ms in all, reclaims %.0f ms\n", ingest_ms,
                  reclaim_ms);
    print_message("readers: %d compactions of %" PRIu64 "/%" PRIu64
                  " keys in %.0f ms (up to %" PRIu64 " pieces each)\n",
                  round, w->a.keys, w->b.keys, compact_ms, max_pieces);
    for (int i = 0; i < NREADERS; i++)
        print_message("readers: %-26s %6" PRIu64 " passes (A %" PRIu64 ", B %" PRIu64 ")\n",
                      reader_names[i], r.iters[i], r.seen_a[i], r.seen_b[i]);
    if (atomic_load(&r.failed))
        fail_msg("reader failed after %d compactions: %s", round, r.failure);
    if (rc)
        fail_msg("compaction %d failed: %s", round, msg ? msg : engine_strerror(rc));
    assert_int_equal(res.outcome, COMPACTOR_DONE);
    if (wrong_after)
        fail_msg("after compaction %d the base's sync is not the source's", round);
    assert_int_equal(round, READER_ROUNDS);
    assert_true(max_pieces > 1);
    for (int i = 0; i < NREADERS; i++) {
        if (r.iters[i] < READER_MIN_ITERS)
            fail_msg("reader '%s' finished only %" PRIu64 " passes (want %d)", reader_names[i],
                     r.iters[i], READER_MIN_ITERS);
        if (!r.seen_a[i] || !r.seen_b[i])
            fail_msg("reader '%s' never saw both versions", reader_names[i]);
    }
    check_others(w, w->e);
    check_staging_empty(w->e);
    pthread_mutex_destroy(&r.lock);
}

/* ======== 2. Crash at a random moment ======== */

/* The child (argv: base src_a src_b sync fd keys_a keys_b): compacts S in a
 * loop, B then A then B..., writing one marker byte per step to fd: 'R' base
 * open, 'a'/'b' compaction towards A/B started, 'P' a progress call reporting
 * every key (after streaming, before the switch; the compactor makes its last
 * one right before the commit, after the engine's "before" pause), 'D'
 * compaction returned 0, 'E' an error (then it exits 1).  Nothing reaches the
 * base before a 'P', which is what the parent checks. */
static int child_fd = -1;

static void child_mark(char c)
{
    while (write(child_fd, &c, 1) < 0 && errno == EINTR) {
    }
}

static int child_progress(void *arg, uint64_t keys, uint64_t bytes)
{
    (void)bytes;
    if (keys == *(const uint64_t *)arg)
        child_mark('P');
    return 0;
}

static int crash_child(char **argv)
{
    const char *base = argv[0], *src_a = argv[1], *src_b = argv[2], *sync = argv[3];
    child_fd = atoi(argv[4]);
    uint64_t keys_a = strtoull(argv[5], NULL, 10), keys_b = strtoull(argv[6], NULL, 10);
    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(base, ENGINE_OPEN_READ_WRITE, &e, &msg);
    if (rc) {
        fprintf(stderr, "crash child: %s\n", msg ? msg : engine_strerror(rc));
        child_mark('E');
        return 1;
    }
    child_mark('R');
    for (unsigned long i = 0;; i++) {
        int to_b = i % 2 == 0;
        struct compactor_options opt = {
            .piece_bytes = i % 3 == 0 ? 4096 : 0,
            .no_copy = 1, /* kills land while streaming; the crash campaign kills copies */
            .progress = child_progress,
            .progress_arg = to_b ? &keys_b : &keys_a,
            .reclaim = i % 7 == 3,
        };
        child_mark(to_b ? 'b' : 'a');
        rc = compactor_run(e, to_b ? src_b : src_a, sync, &opt, NULL, &msg);
        if (rc) {
            fprintf(stderr, "crash child: compaction %lu: %s\n", i,
                    msg ? msg : engine_strerror(rc));
            child_mark('E');
            engine_close(e);
            return 1;
        }
        child_mark('D');
    }
}

/* An environment for a child: ours without name=..., plus the given entries. */
static char **child_env(const char *pause, const char *tmpdir)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 3, sizeof *env);
    assert_non_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], ENGINE_PAUSE_ENV "=", strlen(ENGINE_PAUSE_ENV) + 1) &&
            strncmp(environ[i], "TMPDIR=", 7))
            env[k++] = environ[i];
    /* Read-only opens make their log dirs under TMPDIR; a killed child leaves
     * them behind, so they go into the test's own directory. */
    assert_true(asprintf(&env[k++], "TMPDIR=%s", tmpdir) > 0);
    if (pause)
        assert_true(asprintf(&env[k++], "%s=%s", ENGINE_PAUSE_ENV, pause) > 0);
    return env;
}

static void child_env_free(char **env)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    for (char **p = env; *p; p++) {
        int ours = 1;
        for (size_t i = 0; i < n; i++)
            if (*p == environ[i])
                ours = 0;
        if (ours)
            free(*p);
    }
    free(env);
}

/* fork+exec in a new process group; only async-signal-safe calls in the child. */
static pid_t spawn(char *const argv[], char *const envp[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Kills the whole group and reaps all of it (this process is a subreaper, so
 * the shell's children come back to it); returns the leader's wait status. */
static int kill_and_reap(pid_t pgid)
{
    kill(-pgid, SIGKILL);
    int leader_status = -1;
    for (;;) {
        int st;
        pid_t p = waitpid(-pgid, &st, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p == pgid)
            leader_status = st;
    }
    return leader_status;
}

/* What the parent sees of a child: its marker bytes, and the creation and
 * closing of files in the base's staging directory (inotify). */
struct markers {
    char seq[1 << 16];
    size_t n;
    int p_count;
    double last_p_ms;      /* when the latest 'P' arrived */
    double last_close_ms;  /* when a staging file was last closed after writing */
    double last_create_ms; /* when a staging file was last created */
    unsigned long fs_events;
    int eof;
};

/* Reads what arrives on the marker pipe and the inotify fd within timeout_ms
 * (-1: no limit), returning after the first read that got anything, or at
 * EOF of the pipe. */
static void markers_pump(int fd, int ifd, struct markers *m, int timeout_ms)
{
    struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = ifd, .events = POLLIN}};
    for (;;) {
        int pr = poll(pfd, ifd >= 0 ? 2 : 1, timeout_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return;
        if (ifd >= 0 && (pfd[1].revents & POLLIN)) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            ssize_t got = read(ifd, buf, sizeof buf);
            double now = now_ms();
            for (ssize_t off = 0; got > 0 && off < got;) {
                const struct inotify_event *ev = (const struct inotify_event *)(buf + off);
                if (ev->mask & IN_CREATE)
                    m->last_create_ms = now;
                if (ev->mask & IN_CLOSE_WRITE)
                    m->last_close_ms = now;
                m->fs_events++;
                off += (ssize_t)(sizeof *ev + ev->len);
            }
        }
        if (pfd[0].revents & (POLLIN | POLLHUP)) {
            char buf[256];
            ssize_t got = read(fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                m->eof = 1;
                return;
            }
            for (ssize_t i = 0; i < got; i++) {
                if (m->n < sizeof m->seq)
                    m->seq[m->n++] = buf[i];
                if (buf[i] == 'P') {
                    m->p_count++;
                    m->last_p_ms = now_ms();
                }
            }
        }
        return;
    }
}

/* Pumps until the given time (or EOF). */
static void markers_until(int fd, int ifd, struct markers *m, double until)
{
    while (!m->eof && now_ms() < until)
        markers_pump(fd, ifd, m, (int)(until - now_ms()) + 1);
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

struct crash_stats {
    int trials, cli_trials, lib_trials;
    int outcome_a, outcome_b;
    int killed_idle, killed_streaming, killed_streamed;
    int paused_before; /* inside the pause before the switch, all pieces written */
    int paused_after;  /* after the switch, before compactor_run returned */
    int at_ingest;     /* within 3 ms after the last progress call */
    int staging_leftovers;
};

/* What the marker sequence says the base must hold: `current` (the version of
 * the last compaction that returned), and, when the kill came after streaming
 * ended but before the return, possibly `target` as well. */
struct expectation {
    int current, target;
    int streamed; /* 1: either may hold; 0: only current */
    int started;
};

static struct expectation expect_from(const struct markers *m)
{
    struct expectation x = {.current = 'A', .target = 0};
    for (size_t i = 0; i < m->n; i++) {
        switch (m->seq[i]) {
        case 'a':
        case 'b':
            x.target = m->seq[i] == 'a' ? 'A' : 'B';
            x.started = 1;
            x.streamed = 0;
            break;
        case 'P':
            x.streamed = 1;
            break;
        case 'D':
            x.current = x.target;
            x.started = 0;
            x.streamed = 0;
            break;
        default:
            break;
        }
    }
    return x;
}

enum kill_mode {
    KILL_RANDOM,    /* a random moment after the start */
    KILL_BEFORE,    /* in the pause before the switch: all pieces written and closed */
    KILL_AT_INGEST, /* 0-3 ms after the last progress call: in or at the ingest call */
    KILL_AFTER,     /* in the pause after the switch */
};
static const char *const kill_names[] = {"at random", "in the pause before the switch",
                                         "at the ingest call", "in the pause after the switch"};

static enum kill_mode pick_mode(int cli, int before_ms, int after_ms, uint64_t *rng)
{
    unsigned r = (unsigned)(rng_next(rng) % 6);
    if (cli)
        return KILL_RANDOM;
    if (before_ms && after_ms)
        return r < 2 ? KILL_BEFORE : r < 4 ? KILL_AFTER : r < 5 ? KILL_AT_INGEST : KILL_RANDOM;
    if (before_ms)
        return r < 4 ? KILL_BEFORE : KILL_RANDOM;
    if (after_ms)
        return r < 4 ? KILL_AFTER : KILL_AT_INGEST;
    return r < 4 ? KILL_RANDOM : KILL_AT_INGEST;
}

static void crash_trial(struct world *w, int trial, uint64_t *rng, const char *bin,
                        struct crash_stats *cs)
{
    /* The after-pause windows are wide enough that a slow ingest (an fsync on
     * a busy disk) still leaves room to land in them. */
    static const char *const pauses[] = {NULL, "40,0", "0,60", "25,50"};
    const char *pause = pauses[trial % 4];
    int before_ms = 0, after_ms = 0;
    if (pause)
        sscanf(pause, "%d,%d", &before_ms, &after_ms);
    int cli = bin && trial % 5 == 4;
    enum kill_mode mode = pick_mode(cli, before_ms, after_ms, rng);
    int kth = 1 + (int)(rng_next(rng) % 3); /* which compaction a targeted kill aims at */

    char name[32];
    snprintf(name, sizeof name, "trial-%d", trial);
    char *base = tu_join(w->dir, name);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", w->base, base);
    assert_int_equal(system(cmd), 0);
    char *staging = tu_join(base, "staging");
    int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(ifd >= 0);
    assert_true(inotify_add_watch(ifd, staging, IN_CREATE | IN_CLOSE_WRITE) >= 0);

    char **env = child_env(pause, w->tmp);
    int fds[2] = {-1, -1};
    pid_t pid;
    char self[4096];
    double kill_after_ms = 0;
    if (cli) {
        static const char loop[] =
            "while :; do "
            "\"$0\" compact \"$1\" \"$2\" \"$4\" --piece-size 4096 >/dev/null || exit 1; "
            "\"$0\" compact \"$1\" \"$3\" \"$4\" >/dev/null || exit 1; done";
        char *argv[] = {"/bin/sh", "-c",     (char *)loop, (char *)bin, base,
                        w->src_b,  w->src_a, SYNC_S,       NULL};
        pid = spawn(argv, env);
        kill_after_ms = (double)(rng_next(rng) % 500);
        sleep_ms(kill_after_ms);
    } else {
        assert_int_equal(pipe(fds), 0);
        assert_int_equal(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
        ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
        assert_true(sl > 0);
        self[sl] = 0;
        char fdstr[16], keys_a[24], keys_b[24];
        snprintf(fdstr, sizeof fdstr, "%d", fds[1]);
        snprintf(keys_a, sizeof keys_a, "%" PRIu64, w->a.keys);
        snprintf(keys_b, sizeof keys_b, "%" PRIu64, w->b.keys);
        char *argv[] = {self,   CHILD_FLAG, base,   w->src_a, w->src_b,
                        SYNC_S, fdstr,      keys_a, keys_b,   NULL};
        pid = spawn(argv, env);
        close(fds[1]);
    }
    child_env_free(env);

    struct markers *m = calloc(1, sizeof *m);
    assert_non_null(m);
    int aimed = 0;    /* a targeted kill found its moment */
    int quiet = 0;    /* KILL_BEFORE: nothing happened between the aim and the kill */
    size_t aim_n = 0; /* markers and staging events seen at the aim */
    unsigned long aim_fs = 0;
    if (!cli) {
        double start = now_ms();
        if (mode == KILL_RANDOM) {
            kill_after_ms = (double)(rng_next(rng) % 300);
            markers_until(fds[0], ifd, m, start + kill_after_ms);
        } else if (mode == KILL_BEFORE) {
            /* The k-th time the last staging file is closed and no other is
             * created for 3 ms: all pieces are written, and the child sleeps
             * in the pause before its last progress call and the switch. */
            int found = 0;
            double seen_close = 0;
            while (!m->eof && now_ms() - start < 20000 && found < kth) {
                markers_pump(fds[0], ifd, m, 1);
                if (m->last_close_ms > seen_close && m->last_create_ms < m->last_close_ms &&
                    now_ms() - m->last_close_ms >= 3) {
                    seen_close = m->last_close_ms;
                    found++;
                }
            }
            aimed = found == kth;
            aim_n = m->n;
            aim_fs = m->fs_events;
            kill_after_ms = 3 + (double)(rng_next(rng) % (uint64_t)(before_ms - 6));
            markers_until(fds[0], ifd, m, seen_close + kill_after_ms);
            quiet = aimed && m->n == aim_n && m->fs_events == aim_fs;
        } else {
            while (m->p_count < kth && !m->eof && now_ms() - start < 20000)
                markers_pump(fds[0], ifd, m, 100);
            aimed = m->p_count >= kth;
            kill_after_ms = mode == KILL_AT_INGEST
                                ? (double)(rng_next(rng) % 4)
                                : 15 + (double)(rng_next(rng) % (uint64_t)(after_ms - 17));
            markers_until(fds[0], ifd, m, m->last_p_ms + kill_after_ms);
        }
    }
    int status = kill_and_reap(pid);
    if (!cli) {
        while (!m->eof) /* everything the child wrote before it died */
            markers_pump(fds[0], -1, m, -1);
        close(fds[0]);
    }
    close(ifd);
    char seq_tail[64];
    size_t from = m->n > 40 ? m->n - 40 : 0;
    snprintf(seq_tail, sizeof seq_tail, "%.*s", (int)(m->n - from), m->seq + from);
    char what[256];
    snprintf(what, sizeof what, "trial %d (%s, pause %s, kill %s +%.0f ms, markers ...%s)", trial,
             cli ? "cli" : "library", pause ? pause : "none", kill_names[mode], kill_after_ms,
             seq_tail);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("%s: the child ended before the kill (wait status 0x%x)", what, status);
    if (mode != KILL_RANDOM && !aimed)
        fail_msg("%s: the moment to kill at never came within 20 s", what);

    int left = tu_count_dir(staging);
    free(staging);
    if (left > 0)
        cs->staging_leftovers++;

    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(base, ENGINE_OPEN_READ_WRITE, &e, &msg);
    if (rc)
        fail_msg("%s: reopening the base: %s", what, msg ? msg : engine_strerror(rc));
    w->e = e;
    struct digest s = digest_sync(e, NULL, SYNC_S);
    int got = which_version(w, s);
    if (!got)
        fail_msg("%s: sync %s is neither A nor B after the crash (%" PRIu64 " keys)", what, SYNC_S,
                 s.keys);
    if (!digest_eq(digest_sync(e, NULL, SYNC_T), w->t) ||
        !digest_eq(digest_sync(e, NULL, SYNC_T0), w->t0))
        fail_msg("%s: a neighbouring sync changed", what);
    int n = tu_count_dir(engine_staging_dir(e));
    if (n != 0)
        fail_msg("%s: staging holds %d files after reopening", what, n);
    w->e = NULL;
    engine_close(e);

    if (!cli) {
        struct expectation x = expect_from(m);
        if (x.streamed ? got != x.current && got != x.target : got != x.current)
            fail_msg("%s: base holds %c, but the child's markers allow only %c%s%c", what, got,
                     x.current, x.streamed ? " or " : "", x.streamed ? x.target : ' ');
        if (x.streamed)
            cs->killed_streamed++;
        else if (x.started)
            cs->killed_streaming++;
        else
            cs->killed_idle++;
        if (mode == KILL_BEFORE && quiet && x.started && !x.streamed)
            cs->paused_before++;
        if (mode == KILL_AFTER && x.streamed && got == x.target && x.current != x.target)
            cs->paused_after++;
        if (mode == KILL_AT_INGEST && x.streamed)
            cs->at_ingest++;
    }
    if (got == 'A')
        cs->outcome_a++;
    else
        cs->outcome_b++;
    cs->trials++;
    if (cli)
        cs->cli_trials++;
    else
        cs->lib_trials++;
    free(m);
    tu_rmtree(base);
}

static void test_crash_at_random_moments(void **state)
{
    struct world *w = *state;
    if (quick()) {
        print_message("crash: skipped in the quick run (SYNCSTORE_TEST_QUICK)\n");
        skip();
    }
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    const char *bin = getenv("SYNCSTORE_BIN");
    if (bin && access(bin, X_OK) != 0) {
        print_message("crash: SYNCSTORE_BIN '%s' is not executable; library children only\n", bin);
        bin = NULL;
    }
    const char *seed_env = getenv("SYNCSTORE_TEST_SEED");
    uint64_t seed = seed_env && *seed_env ? strtoull(seed_env, NULL, 0)
                                          : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    print_message("crash: seed %" PRIu64 " (replay with SYNCSTORE_TEST_SEED=%" PRIu64 ")\n", seed,
                  seed);
    uint64_t rng = seed;
    struct crash_stats cs = {0};
    double t0 = now_ms();
    for (int trial = 0; trial < CRASH_TRIALS; trial++)
        crash_trial(w, trial, &rng, bin, &cs);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    print_message("crash: %d trials (%d library, %d cli) in %.0f ms: base held A %d times, B %d "
                  "times\n",
                  cs.trials, cs.lib_trials, cs.cli_trials, now_ms() - t0, cs.outcome_a,
                  cs.outcome_b);
    print_message("crash: library kills: %d idle, %d before the last progress call, %d after it "
                  "and before the return; %d in the pause before the switch (all pieces "
                  "written), %d at the ingest call, %d in the pause after the switch; %d left "
                  "staging files\n",
                  cs.killed_idle, cs.killed_streaming, cs.killed_streamed, cs.paused_before,
                  cs.at_ingest, cs.paused_after, cs.staging_leftovers);
    assert_true(cs.trials >= CRASH_TRIALS);
    assert_true(cs.outcome_a > 0 && cs.outcome_b > 0);
    assert_true(cs.paused_before > 0);
    assert_true(cs.paused_after > 0);
}

/* ======== 3. No space ======== */

static int setup_nospace(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->dir = tu_mkdtemp();
    *state = w;
    w->mnt = tu_join(w->dir, "mnt");
    assert_int_equal(mkdir(w->mnt, 0755), 0);
    if (mount("tmpfs", w->mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=24m") != 0) {
        snprintf(w->skip_why, sizeof w->skip_why, "cannot mount a tmpfs at %s: %s", w->mnt,
                 strerror(errno));
        return 0;
    }
    w->mounted = 1;
    return 0;
}

static void test_no_space(void **state)
{
    struct world *w = *state;
    if (!w->mounted) {
        tu_skip("no space: %s (mounting a tmpfs needs root or CAP_SYS_ADMIN)", w->skip_why);
    }
    /* The base on the tmpfs; the source, 6 MiB of incompressible values, outside. */
    w->base = tu_join(w->mnt, "base");
    w->e = open_store(w->base, ENGINE_OPEN_CREATE);
    gen_sync(w->e, SYNC_S, 200, 7, "A");
    gen_sync(w->e, SYNC_T, 100, 33, NULL);
    w->t = digest_sync(w->e, NULL, SYNC_T);
    engine *src = tu_create_store(w->dir, "src");
    random_sync(src, SYNC_S, 6144, 1024, 99);
    struct digest want = digest_sync(src, NULL, SYNC_S);
    engine_close(src);
    char *src_path = tu_join(w->dir, "src");

    /* Leave about 2 MiB free. */
    struct statvfs vfs;
    assert_int_equal(statvfs(w->mnt, &vfs), 0);
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    assert_true(free_bytes > (4u << 20));
    char *filler = tu_join(w->mnt, "filler");
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(posix_fallocate(fd, 0, (off_t)(free_bytes - (2u << 20))), 0);
    close(fd);
    assert_int_equal(statvfs(w->mnt, &vfs), 0);
    print_message("no space: %.1f MiB free on the tmpfs, source sync %" PRIu64 " keys\n",
                  (double)vfs.f_bavail * vfs.f_frsize / 1048576.0, want.keys);

    struct digest before = digest_sync(w->e, NULL, SYNC_S);
    char *msg = NULL;
    struct compactor_result res;
    struct compactor_options opt = {.piece_bytes = 256 << 10}; /* several pieces before it fails */
    int rc = compactor_run(w->e, src_path, SYNC_S, &opt, &res, &msg);
    print_message("no space: rc %d (%s): %s\n", rc, engine_strerror(rc),
                  msg ? msg : "(no message)");
    assert_int_equal(rc, -ENOSPC);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "space"));
    free(msg);
    msg = NULL;
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_S), before));
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_T), w->t));
    check_staging_empty(w->e);

    assert_int_equal(unlink(filler), 0);
    free(filler);
    rc = compactor_run(w->e, src_path, SYNC_S, &opt, &res, &msg);
    if (rc)
        fail_msg("compaction after freeing space: %s", msg ? msg : engine_strerror(rc));
    assert_int_equal(res.outcome, COMPACTOR_DONE);
    assert_true(res.pieces > 1);
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_S), want));
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_T), w->t));
    check_staging_empty(w->e);
    free(src_path);
    engine_close(w->e);
    w->e = NULL;
}

/* ======== 4. Busy ======== */

struct blocked_run {
    engine *e;
    const char *src;
    sem_t entered, release;
    int calls;
    int rc;
    char *msg;
    struct compactor_result res;
};

static int block_progress(void *arg, uint64_t keys, uint64_t bytes)
{
    (void)keys;
    (void)bytes;
    struct blocked_run *b = arg;
    if (b->calls++ == 0) {
        sem_post(&b->entered);
        while (sem_wait(&b->release) != 0 && errno == EINTR) {
        }
    }
    return 0;
}

static void *blocked_main(void *p)
{
    struct blocked_run *b = p;
    struct compactor_options opt = {
        .piece_bytes = 4096, .progress = block_progress, .progress_arg = b};
    b->rc = compactor_run(b->e, b->src, SYNC_S, &opt, &b->res, &b->msg);
    return NULL;
}

static void test_busy(void **state)
{
    struct world *w = *state;
    w->e = open_store(w->base, ENGINE_OPEN_READ_WRITE);
    struct blocked_run b = {.e = w->e, .src = w->src_b};
    assert_int_equal(sem_init(&b.entered, 0, 0), 0);
    assert_int_equal(sem_init(&b.release, 0, 0), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, blocked_main, &b), 0);

    /* Everything the blocked compaction must not see fail is recorded first and
     * checked only after it is released and joined. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    int entered;
    while ((entered = sem_timedwait(&b.entered, &deadline)) != 0 && errno == EINTR) {
    }
    int busy_rc = 0, delete_rc = 0, u_rc = 0;
    char *busy_msg = NULL, *delete_msg = NULL, *u_msg = NULL;
    struct digest s_during = {0}, u_after = {0};
    struct compactor_result u_res = {0};
    int busy_unchanged = 0;
    if (entered == 0) {
        busy_rc = compactor_run(w->e, w->src_a, SYNC_S, NULL, NULL, &busy_msg);
        delete_rc = compactor_delete(w->e, SYNC_S, NULL, NULL, &delete_msg);
        s_during = digest_sync(w->e, NULL, SYNC_S);
        busy_unchanged = digest_eq(s_during, w->a);
        u_rc = compactor_run(w->e, w->src_b, SYNC_U, NULL, &u_res, &u_msg);
        u_after = digest_sync(w->e, NULL, SYNC_U);
    }
    sem_post(&b.release);
    pthread_join(th, NULL);

    assert_int_equal(entered, 0);
    print_message("busy: second compaction: rc %d: %s\n", busy_rc, busy_msg ? busy_msg : "");
    assert_int_equal(busy_rc, -EBUSY);
    assert_non_null(busy_msg);
    assert_non_null(strstr(busy_msg, "already running"));
    assert_non_null(strstr(busy_msg, SYNC_S));
    assert_int_equal(delete_rc, -EBUSY);
    assert_true(busy_unchanged);
    if (u_rc)
        fail_msg("compaction of %s during the blocked one: %s", SYNC_U,
                 u_msg ? u_msg : engine_strerror(u_rc));
    assert_int_equal(u_res.outcome, COMPACTOR_DONE);
    assert_true(digest_eq(u_after, w->u_new));
    if (b.rc)
        fail_msg("the blocked compaction: %s", b.msg ? b.msg : engine_strerror(b.rc));
    assert_int_equal(b.res.outcome, COMPACTOR_DONE);
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_S), w->b));
    check_others(w, w->e);
    check_staging_empty(w->e);
    /* The claim is gone: S can be compacted again. */
    char *msg = NULL;
    int rc = compactor_run(w->e, w->src_a, SYNC_S, NULL, NULL, &msg);
    if (rc)
        fail_msg("compaction after the busy one: %s", msg ? msg : engine_strerror(rc));
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_S), w->a));
    free(busy_msg);
    free(delete_msg);
    free(u_msg);
    free(b.msg);
    sem_destroy(&b.entered);
    sem_destroy(&b.release);
}

/* ======== 5. Cancel ======== */

struct canceller {
    uint64_t cancel_at_keys; /* cancel at the first call reporting at least this many */
    uint64_t calls;
    uint64_t last_keys;
};

static int cancel_progress(void *arg, uint64_t keys, uint64_t bytes)
{
    (void)bytes;
    struct canceller *c = arg;
    c->calls++;
    c->last_keys = keys;
    return keys >= c->cancel_at_keys;
}

static void test_cancel(void **state)
{
    struct world *w = *state;
    /* A source large enough for progress calls in mid-stream ("every few
     * thousand keys"). */
    engine *src = tu_create_store(w->dir, "src-big");
    gen_sync(src, SYNC_S, 3000, 77, "C");
    struct digest big = digest_sync(src, NULL, SYNC_S);
    engine_close(src);
    assert_true(big.keys > 2 * 4096);
    char *src_path = tu_join(w->dir, "src-big");

    w->e = open_store(w->base, ENGINE_OPEN_READ_WRITE);
    for (int mode = 0; mode < 3; mode++) {
        /* 0: the first call, mid-stream; 1: the call after the last key, right
         * before the switch; 2: mid-stream with small pieces already sealed. */
        struct canceller c = {.cancel_at_keys = mode == 1 ? big.keys : 1};
        struct compactor_options opt = {
            .piece_bytes = mode == 2 ? 4096 : 0,
            .no_copy = 1, /* cancelled mid-stream */
            .progress = cancel_progress,
            .progress_arg = &c,
        };
        struct compactor_result res = {0};
        char *msg = NULL;
        int rc = compactor_run(w->e, src_path, SYNC_S, &opt, &res, &msg);
        assert_int_equal(rc, ENGINE_ECANCELED);
        assert_int_equal(res.outcome, COMPACTOR_CANCELLED);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "cancel"));
        free(msg);
        assert_int_equal(res.keys, c.last_keys);
        if (mode == 1)
            assert_int_equal(c.last_keys, big.keys);
        else
            assert_true(c.calls == 1 && c.last_keys > 0 && c.last_keys < big.keys);
        assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_S), w->a));
        check_others(w, w->e);
        check_staging_empty(w->e);
    }
    /* Nothing stays claimed or staged: the same compaction then goes through. */
    struct compactor_result res;
    char *msg = NULL;
    int rc = compactor_run(w->e, src_path, SYNC_S, NULL, &res, &msg);
    if (rc)
        fail_msg("compaction after cancelling: %s", msg ? msg : engine_strerror(rc));
    assert_int_equal(res.outcome, COMPACTOR_DONE);
    assert_true(digest_eq(digest_sync(w->e, NULL, SYNC_S), big));
    check_staging_empty(w->e);
    free(src_path);
}

int main(int argc, char **argv)
{
    if (argc == 9 && !strcmp(argv[1], CHILD_FLAG))
        return crash_child(argv + 2);
    const char *filter = getenv("SYNCSTORE_TEST_FILTER"); /* e.g. "test_crash*" */
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_space, setup_nospace, teardown),
        cmocka_unit_test_setup_teardown(test_readers_during_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_at_random_moments, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
