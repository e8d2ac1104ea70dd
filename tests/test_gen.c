/*
 * test_gen.c - the synthetic sync of `syncstore gen`: the same options give the
 * same bytes, a different seed different ones; exactly N grants with both
 * indexes; every grant's principal and entitlement exist; entitlement
 * popularity is visibly skewed; a second gen replaces the sync and leaves other
 * syncs alone; N = 0 works; and the command line validates its arguments.
 * Each test works in its own temporary directory, removed in teardown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "engine.h"
#include "gen.h"
#include "loader.h"
#include "testutil.h"

struct fixture {
    char *dir;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->dir = tu_mkdtemp();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* Generates sync_id into e through a replace-mode loader, as cmd_gen does. */
static void gen_into(engine *e, const char *sync_id, uint64_t grants, uint64_t seed,
                     struct gen_stats *stats)
{
    struct loader_options lopt = {.replace = 1, .default_sync = NULL, .chunk_bytes = 0};
    struct gen_options gopt = {.sync_id = sync_id, .grants = grants, .seed = seed};
    loader *l = NULL;
    char *msg = NULL;
    int rc = loader_new(e, &lopt, &l, &msg);
    if (rc)
        fail_msg("loader_new: %s", msg ? msg : engine_strerror(rc));
    rc = gen_run(l, &gopt, stats, &msg);
    if (rc)
        fail_msg("gen_run: %s", msg ? msg : engine_strerror(rc));
    struct loader_stats lstats;
    rc = loader_commit(l, &lstats, &msg);
    if (rc)
        fail_msg("loader_commit: %s", msg ? msg : engine_strerror(rc));
    loader_free(l);
}

static uint64_t count_iter(engine_iter *it)
{
    uint64_t n = 0;
    assert_non_null(it);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
        n++;
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    return n;
}

static uint64_t count_bucket(engine *e, const char *sync_id, const char *bucket)
{
    return count_iter(engine_iter_new_bucket(e, NULL, sync_id, bucket));
}

/* 1 when the iterators yield the same keys and values, else 0; frees both. */
static int same_records(engine_iter *a, engine_iter *b)
{
    int same = 1;
    assert_non_null(a);
    assert_non_null(b);
    engine_iter_seek_first(a);
    engine_iter_seek_first(b);
    while (same && engine_iter_valid(a) && engine_iter_valid(b)) {
        size_t ka, kb, va, vb;
        const char *pka = engine_iter_disk_key(a, &ka), *pkb = engine_iter_disk_key(b, &kb);
        if (ka != kb || memcmp(pka, pkb, ka))
            same = 0;
        const char *pva = engine_iter_value(a, &va), *pvb = engine_iter_value(b, &vb);
        if (va != vb || (va && memcmp(pva, pvb, va)))
            same = 0;
        engine_iter_next(a);
        engine_iter_next(b);
    }
    if (engine_iter_valid(a) || engine_iter_valid(b))
        same = 0;
    assert_int_equal(engine_iter_status(a, NULL), 0);
    assert_int_equal(engine_iter_status(b, NULL), 0);
    engine_iter_free(a);
    engine_iter_free(b);
    return same;
}

static int same_stores(engine *a, engine *b)
{
    return same_records(engine_iter_new_all(a, NULL), engine_iter_new_all(b, NULL));
}

static int record_exists(engine *e, const char *sync_id, const char *bucket, const char *key,
                         size_t key_len)
{
    char *value = NULL;
    size_t value_len = 0;
    int rc = engine_get(e, NULL, sync_id, bucket, key, key_len, &value, &value_len, NULL);
    free(value);
    if (rc && rc != -ENOENT)
        fail_msg("engine_get %s/%.*s: %s", bucket, (int)key_len, key, engine_strerror(rc));
    return rc == 0;
}

/* ---- Tests ---- */

static void test_deterministic(void **state)
{
    struct fixture *f = *state;
    engine *a = tu_create_store(f->dir, "a");
    engine *b = tu_create_store(f->dir, "b");
    gen_into(a, "S", 3000, 7, NULL);
    gen_into(b, "S", 3000, 7, NULL);
    assert_true(same_stores(a, b));
    assert_int_equal(count_bucket(a, "S", "grants"), 3000);
    engine_close(a);
    engine_close(b);
}

static void test_seed_changes_content(void **state)
{
    struct fixture *f = *state;
    engine *a = tu_create_store(f->dir, "a");
    engine *b = tu_create_store(f->dir, "b");
    gen_into(a, "S", 2000, 1, NULL);
    gen_into(b, "S", 2000, 2, NULL);
    assert_false(same_stores(a, b));
    /* Different content, same shape. */
    assert_int_equal(count_bucket(a, "S", "grants"), 2000);
    assert_int_equal(count_bucket(b, "S", "grants"), 2000);
    assert_int_equal(count_bucket(a, "S", "resources"), count_bucket(b, "S", "resources"));
    assert_int_equal(count_bucket(a, "S", "entitlements"), count_bucket(b, "S", "entitlements"));
    engine_close(a);
    engine_close(b);
}

/* Exact counts, and every index entry points at records that exist. */
static void test_counts_and_integrity(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 5000;
    engine *e = tu_create_store(f->dir, "s");
    struct gen_stats st;
    gen_into(e, "S", n, 42, &st);

    assert_int_equal(st.grants, n);
    assert_int_equal(st.resource_types, 4);
    assert_int_equal(st.resources, st.users + st.groups + st.apps + st.roles);
    assert_true(st.users >= n / 20);
    assert_int_equal(count_bucket(e, "S", "grants"), n);
    assert_int_equal(count_bucket(e, "S", "grants_by_entitlement"), n);
    assert_int_equal(count_bucket(e, "S", "grants_by_principal"), n);
    assert_int_equal(count_bucket(e, "S", "resource_types"), 4);
    assert_int_equal(count_bucket(e, "S", "resources"), st.resources);
    assert_int_equal(count_bucket(e, "S", "entitlements"), st.entitlements);
    assert_int_equal(count_bucket(e, "S", "grants"), n);

    char key[ENGINE_KEY_MAX + 1];
    uint64_t seen = 0, group_principals = 0;
    engine_iter *it = engine_iter_new_bucket(e, NULL, "S", "grants_by_principal");
    assert_non_null(it);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        struct engine_key_parts p;
        assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
        assert_true(p.key_len <= ENGINE_KEY_MAX);
        memcpy(key, p.key, p.key_len);
        key[p.key_len] = '\0';
        /* <principal_type>/<principal_id>/<grant_id> */
        char *s1 = strchr(key, '/');
        assert_non_null(s1);
        char *s2 = strchr(s1 + 1, '/');
        assert_non_null(s2);
        const char *grant_id = s2 + 1;
        assert_true(!strncmp(key, "user/", 5) || !strncmp(key, "group/", 6));
        group_principals += !strncmp(key, "group/", 6);
        assert_true(record_exists(e, "S", "resources", key, (size_t)(s2 - key)));
        assert_true(record_exists(e, "S", "grants", grant_id, strlen(grant_id)));
        /* The grant id ends with :<principal_type>:<principal_id>. */
        char suffix[300];
        snprintf(suffix, sizeof(suffix), ":%.*s:%.*s", (int)(s1 - key), key, (int)(s2 - s1 - 1),
                 s1 + 1);
        size_t gl = strlen(grant_id), sl = strlen(suffix);
        assert_true(gl > sl && !strcmp(grant_id + gl - sl, suffix));
        seen++;
    }
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    assert_int_equal(seen, n);
    assert_true(group_principals > 0);
    assert_true(group_principals < n / 2);

    seen = 0;
    it = engine_iter_new_bucket(e, NULL, "S", "grants_by_entitlement");
    assert_non_null(it);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        struct engine_key_parts p;
        assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
        memcpy(key, p.key, p.key_len);
        key[p.key_len] = '\0';
        /* <entitlement_id>/<grant_id>, the grant id starting <entitlement_id>: */
        char *slash = strchr(key, '/');
        assert_non_null(slash);
        size_t ent_len = (size_t)(slash - key);
        assert_true(record_exists(e, "S", "entitlements", key, ent_len));
        assert_true(record_exists(e, "S", "grants", slash + 1, strlen(slash + 1)));
        assert_int_equal(strncmp(slash + 1, key, ent_len), 0);
        assert_int_equal(slash[1 + ent_len], ':');
        seen++;
    }
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    assert_int_equal(seen, n);

    /* A grant record is the typed line, with its sync. */
    it = engine_iter_new_bucket(e, NULL, "S", "grants");
    assert_non_null(it);
    engine_iter_seek_first(it);
    assert_true(engine_iter_valid(it));
    size_t vlen;
    const char *v = engine_iter_value(it, &vlen);
    assert_true(vlen > 20 && !strncmp(v, "{\"type\":\"grant\"", 15));
    assert_non_null(memmem(v, vlen, "\"sync\":\"S\"", 10));
    engine_iter_free(it);
    engine_close(e);
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The most popular entitlement has many more grants than the median one. */
static void test_zipf_skew(void **state)
{
    struct fixture *f = *state;
    const uint64_t n = 20000;
    engine *e = tu_create_store(f->dir, "s");
    struct gen_stats st;
    gen_into(e, "S", n, 1, &st);

    uint64_t *counts = calloc(st.entitlements, sizeof(*counts));
    assert_non_null(counts);
    char prev[ENGINE_KEY_MAX + 1] = "";
    size_t prev_len = 0, ents = 0;
    engine_iter *it = engine_iter_new_bucket(e, NULL, "S", "grants_by_entitlement");
    assert_non_null(it);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        struct engine_key_parts p;
        assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
        const char *slash = memchr(p.key, '/', p.key_len);
        assert_non_null(slash);
        size_t len = (size_t)(slash - p.key);
        if (!ents || len != prev_len || memcmp(prev, p.key, len)) {
            assert_true(ents < st.entitlements);
            memcpy(prev, p.key, len);
            prev_len = len;
            ents++;
        }
        counts[ents - 1]++;
    }
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);

    /* Entitlements without grants count as 0. */
    qsort(counts, st.entitlements, sizeof(*counts), cmp_u64_desc);
    uint64_t max = counts[0], median = counts[st.entitlements / 2];
    print_message("entitlements %" PRIu64 ", top %" PRIu64 ", median %" PRIu64 "\n",
                  st.entitlements, max, median);
    assert_true(max >= 8 * (median ? median : 1));
    /* The top tenth holds far more than a tenth of the grants. */
    uint64_t top = 0;
    for (uint64_t i = 0; i < st.entitlements / 10; i++)
        top += counts[i];
    assert_true(top > n / 3);
    free(counts);
    engine_close(e);
}

/* A second gen replaces the sync (fewer records, nothing left over) and leaves
 * other syncs alone. */
static void test_replaces_sync(void **state)
{
    struct fixture *f = *state;
    engine *a = tu_create_store(f->dir, "a");
    engine *b = tu_create_store(f->dir, "b");
    gen_into(a, "OTHER", 200, 9, NULL);
    gen_into(a, "S", 3000, 1, NULL);
    assert_int_equal(count_bucket(a, "S", "grants"), 3000);
    gen_into(a, "S", 1000, 1, NULL);
    assert_int_equal(count_bucket(a, "S", "grants"), 1000);
    assert_int_equal(count_bucket(a, "S", "grants_by_entitlement"), 1000);
    assert_int_equal(count_bucket(a, "S", "grants_by_principal"), 1000);
    assert_int_equal(count_bucket(a, "OTHER", "grants"), 200);

    /* Exactly what a fresh gen writes. */
    gen_into(b, "S", 1000, 1, NULL);
    assert_true(
        same_records(engine_iter_new_sync(a, NULL, "S"), engine_iter_new_sync(b, NULL, "S")));
    engine_close(a);
    engine_close(b);
}

static void test_zero_grants(void **state)
{
    struct fixture *f = *state;
    engine *e = tu_create_store(f->dir, "s");
    struct gen_stats st;
    gen_into(e, "S", 0, 1, &st);
    assert_int_equal(st.grants, 0);
    assert_true(st.users >= 10);
    assert_int_equal(count_bucket(e, "S", "grants"), 0);
    assert_int_equal(count_bucket(e, "S", "grants_by_entitlement"), 0);
    assert_int_equal(count_bucket(e, "S", "grants_by_principal"), 0);
    assert_int_equal(count_bucket(e, "S", "resource_types"), 4);
    assert_int_equal(count_bucket(e, "S", "resources"), st.resources);
    assert_int_equal(count_bucket(e, "S", "entitlements"), st.entitlements);
    assert_true(st.entitlements > 0);

    /* A later gen with N = 0 empties the grants of a bigger one. */
    gen_into(e, "T", 500, 1, NULL);
    gen_into(e, "T", 0, 1, NULL);
    assert_int_equal(count_bucket(e, "T", "grants"), 0);
    assert_int_equal(count_bucket(e, "T", "grants_by_principal"), 0);
    assert_int_equal(count_bucket(e, "T", "resources"), st.resources);
    engine_close(e);
}

static void test_small_counts(void **state)
{
    struct fixture *f = *state;
    engine *e = tu_create_store(f->dir, "s");
    static const uint64_t ns[] = {1, 2, 7, 99, 401};
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
        char sync_id[32];
        snprintf(sync_id, sizeof(sync_id), "n%" PRIu64, ns[i]);
        gen_into(e, sync_id, ns[i], 3, NULL);
        assert_int_equal(count_bucket(e, sync_id, "grants"), ns[i]);
        assert_int_equal(count_bucket(e, sync_id, "grants_by_principal"), ns[i]);
    }
    engine_close(e);
}

static void test_bad_options(void **state)
{
    struct fixture *f = *state;
    engine *e = tu_create_store(f->dir, "s");
    struct loader_options lopt = {.replace = 1};
    loader *l = NULL;
    assert_int_equal(loader_new(e, &lopt, &l, NULL), 0);
    char *msg = NULL;
    struct gen_options bad_sync = {.sync_id = "a/b", .grants = 1, .seed = 1};
    assert_int_equal(gen_run(l, &bad_sync, NULL, &msg), -EINVAL);
    assert_non_null(msg);
    free(msg);
    msg = NULL;
    struct gen_options too_many = {.sync_id = "S", .grants = GEN_GRANTS_MAX + 1, .seed = 1};
    assert_int_equal(gen_run(l, &too_many, NULL, &msg), -EINVAL);
    assert_non_null(msg);
    free(msg);
    loader_free(l);
    engine_close(e);
}

static int run_cmd(int argc, const char **argv)
{
    return cmd_gen(argc, (char **)argv);
}

/* The command line: validation, exit codes, and the same bytes as gen_run. */
static void test_command_line(void **state)
{
    struct fixture *f = *state;
    char *store = tu_join(f->dir, "cli");

    const char *help[] = {"gen", "--help"};
    assert_int_equal(run_cmd(2, help), 0);
    const char *missing[] = {"gen", store};
    assert_int_equal(run_cmd(2, missing), EXIT_USAGE);
    const char *none[] = {"gen"};
    assert_int_equal(run_cmd(1, none), EXIT_USAGE);
    const char *ctl[] = {"gen", store, "ctl"};
    assert_int_equal(run_cmd(3, ctl), EXIT_USAGE);
    const char *bad_sync[] = {"gen", store, "a/b"};
    assert_int_equal(run_cmd(3, bad_sync), EXIT_USAGE);
    const char *dotdot[] = {"gen", store, ".."};
    assert_int_equal(run_cmd(3, dotdot), EXIT_USAGE);
    const char *bad_n[] = {"gen", store, "S", "--grants", "12x"};
    assert_int_equal(run_cmd(5, bad_n), EXIT_USAGE);
    const char *neg_n[] = {"gen", store, "S", "--grants", "-1"};
    assert_int_equal(run_cmd(5, neg_n), EXIT_USAGE);
    const char *no_n[] = {"gen", store, "S", "--grants"};
    assert_int_equal(run_cmd(4, no_n), EXIT_USAGE);
    const char *big_n[] = {"gen", store, "S", "--grants", "1000000001"};
    assert_int_equal(run_cmd(5, big_n), EXIT_USAGE);
    const char *bad_seed[] = {"gen", store, "S", "--seed", "x"};
    assert_int_equal(run_cmd(5, bad_seed), EXIT_USAGE);
    const char *unknown[] = {"gen", store, "S", "--bogus"};
    assert_int_equal(run_cmd(4, unknown), EXIT_USAGE);
    const char *extra[] = {"gen", store, "S", "extra"};
    assert_int_equal(run_cmd(4, extra), EXIT_USAGE);
    /* None of these created the store. */
    assert_int_equal(tu_count_dir(store), -1);

    const char *ok[] = {"gen", store, "S", "--grants", "300", "--seed=5"};
    assert_int_equal(run_cmd(6, ok), 0);
    const char *defaults[] = {"gen", store, "D"};
    assert_int_equal(run_cmd(3, defaults), 0);

    engine *e = NULL;
    assert_int_equal(engine_open(store, ENGINE_OPEN_READ_WRITE, &e, NULL), 0);
    assert_int_equal(count_bucket(e, "S", "grants"), 300);
    assert_int_equal(count_bucket(e, "D", "grants"), 1000);
    engine *ref = tu_create_store(f->dir, "ref");
    gen_into(ref, "S", 300, 5, NULL);
    assert_true(
        same_records(engine_iter_new_sync(e, NULL, "S"), engine_iter_new_sync(ref, NULL, "S")));
    engine_close(ref);
    engine_close(e);
    free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_changes_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_and_integrity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zipf_skew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaces_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_grants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_line, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
