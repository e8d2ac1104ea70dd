/*
 * test_load.c - loading records: raw and typed lines, the "sync" rules,
 * last-line-wins across sorted runs, --replace, all-or-nothing on every kind
 * of bad line, and `dump | load` reproducing a whole store byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "engine.h"
#include "jsonl.h"
#include "loader.h"
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Loads newline-separated lines; returns the loader's result and, on failure,
 * the 1-based number of the bad line in *bad_line. */
static int load_text(engine *e, const char *text, int replace, const char *sync, size_t chunk_bytes,
                     int *bad_line, char **msg)
{
    struct loader_options opt = {
        .replace = replace, .default_sync = sync, .chunk_bytes = chunk_bytes};
    loader *l = NULL;
    int rc = loader_new(e, &opt, &l, msg);
    if (rc)
        return rc;
    int lineno = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p + 1) : strlen(p);
        lineno++;
        if ((rc = jsonl_add_line(l, p, len, msg))) {
            if (bad_line)
                *bad_line = lineno;
            loader_free(l);
            return rc;
        }
        p += len;
    }
    rc = loader_commit(l, NULL, msg);
    loader_free(l);
    return rc;
}

static void must_load(engine *e, const char *text, int replace, const char *sync)
{
    char *msg = NULL;
    int rc = load_text(e, text, replace, sync, 0, NULL, &msg);
    if (rc)
        fail_msg("load failed: %s", msg ? msg : engine_strerror(rc));
}

static void assert_value(engine *e, const char *sync, const char *bucket, const char *key,
                         const char *want)
{
    char *v = NULL;
    size_t len = 0;
    int rc = engine_get(e, NULL, sync, bucket, key, strlen(key), &v, &len, NULL);
    if (!want) {
        if (rc != -ENOENT)
            fail_msg("%s/%s/%s should be absent", sync, bucket, key);
        return;
    }
    if (rc)
        fail_msg("%s/%s/%s: %s", sync, bucket, key, engine_strerror(rc));
    if (len != strlen(want) || memcmp(v, want, len))
        fail_msg("%s/%s/%s: got '%.*s', want '%s'", sync, bucket, key, (int)len, v, want);
    free(v);
}

static size_t count(engine *e, const char *sync, const char *bucket)
{
    engine_iter *it = bucket ? engine_iter_new_bucket(e, NULL, sync, bucket)
                      : sync ? engine_iter_new_sync(e, NULL, sync)
                             : engine_iter_new_all(e, NULL);
    size_t n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it))
        n++;
    engine_iter_free(it);
    return n;
}

/* ---- good lines ---- */

static void test_raw_lines(void **state)
{
    struct fx *f = *state;
    must_load(f->e,
              "{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k1\",\"value\":\"v1\"}\n"
              "\n"
              "   \r\n"
              "{\"sync\":\"s\",\"bucket\":\"b\",\"key_b64\":\"AAE=\",\"value_b64\":\"/wA=\"}\r\n"
              "{\"bucket\":\"other\",\"key\":\"k\",\"value\":\"\",\"sync\":\"s\"}",
              0, NULL);
    assert_value(f->e, "s", "b", "k1", "v1");
    char *v;
    size_t len;
    assert_int_equal(engine_get(f->e, NULL, "s", "b", "\x00\x01", 2, &v, &len, NULL), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(v, "\xff\x00", 2);
    free(v);
    assert_value(f->e, "s", "other", "k", "");
    assert_int_equal(count(f->e, NULL, NULL), 3);
}

static void test_typed_lines(void **state)
{
    struct fx *f = *state;
    const char *rt = "{\"type\":\"resource_type\",\"id\":\"user\",\"display_name\":\"User\"}";
    const char *res = "{\"type\":\"resource\", \"resource_type\":\"user\",\"id\":\"u1\"}";
    const char *ent = "{\"type\":\"entitlement\",\"id\":\"group:g1:member\"}";
    const char *grant = "{\"type\":\"grant\",\"id\":\"g1:u1\",\"entitlement\":\"group:g1:member\","
                        "\"principal_type\":\"user\",\"principal_id\":\"u1\",\"extra\":[1,2]}";
    char text[2048];
    snprintf(text, sizeof text, "%s\n%s\r\n%s\n%s\n", rt, res, ent, grant);
    must_load(f->e, text, 0, "sync-1");
    /* The stored value is the line exactly as given (without its line end). */
    assert_value(f->e, "sync-1", "resource_types", "user", rt);
    assert_value(f->e, "sync-1", "resources", "user/u1", res);
    assert_value(f->e, "sync-1", "entitlements", "group:g1:member", ent);
    assert_value(f->e, "sync-1", "grants", "g1:u1", grant);
    assert_value(f->e, "sync-1", "grants_by_entitlement", "group:g1:member/g1:u1", "");
    assert_value(f->e, "sync-1", "grants_by_principal", "user/u1/g1:u1", "");
    assert_int_equal(count(f->e, "sync-1", NULL), 6);
}

static void test_sync_rules(void **state)
{
    struct fx *f = *state;
    char *msg = NULL;
    int bad = 0;
    /* --sync alone, "sync" equal to --sync, and "sync" alone all work. */
    must_load(f->e, "{\"bucket\":\"b\",\"key\":\"1\",\"value\":\"\"}\n", 0, "a");
    must_load(f->e, "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"2\",\"value\":\"\"}\n", 0, "a");
    assert_int_equal(count(f->e, "a", NULL), 2);
    /* Neither: an error naming the reason. */
    assert_int_equal(load_text(f->e, "{\"bucket\":\"b\",\"key\":\"3\",\"value\":\"\"}\n", 0, NULL,
                               0, &bad, &msg),
                     -EINVAL);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(msg, "no \"sync\""));
    free(msg);
    msg = NULL;
    /* "sync" differs from --sync. */
    assert_int_equal(load_text(f->e,
                               "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"4\",\"value\":\"\"}\n"
                               "{\"sync\":\"b\",\"bucket\":\"b\",\"key\":\"5\",\"value\":\"\"}\n",
                               0, "a", 0, &bad, &msg),
                     -EINVAL);
    assert_int_equal(bad, 2);
    assert_non_null(strstr(msg, "--sync"));
    free(msg);
    msg = NULL;
    /* A bad --sync is refused before anything happens. */
    struct loader_options opt = {.default_sync = "bad/sync"};
    loader *l = NULL;
    assert_int_equal(loader_new(f->e, &opt, &l, &msg), -EINVAL);
    free(msg);
    assert_int_equal(count(f->e, NULL, NULL), 2);
}

/* Last line wins, within one sorted run and across many (a 4 KiB chunk forces
 * a run every few dozen lines). */
static void last_line_wins(struct fx *f, size_t chunk)
{
    struct buf text = BUF_INIT;
    for (int round = 0; round < 5; round++)
        for (int k = 0; k < 200; k++)
            buf_addf(&text,
                     "{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k%03d\",\"value\":\"r%d\"}\n",
                     (k * 37) % 200, round);
    char *msg = NULL;
    int rc = load_text(f->e, text.data, 0, NULL, chunk, NULL, &msg);
    if (rc)
        fail_msg("%s", msg);
    assert_int_equal(count(f->e, "s", "b"), 200);
    for (int k = 0; k < 200; k++) {
        char key[16];
        snprintf(key, sizeof key, "k%03d", k);
        assert_value(f->e, "s", "b", key, "r4");
    }
    buf_release(&text);
}

/* The last line for a key wins across sorted runs: 4096-byte chunks make
 * about a dozen runs; 64-byte ones (6 records) about 170, so the runs are
 * folded into one on the way (runs.c's cascade at 64 open runs). */
static void test_last_line_wins(void **state)
{
    last_line_wins(*state, 4096);
    last_line_wins(*state, 64);
}

static void test_replace(void **state)
{
    struct fx *f = *state;
    must_load(f->e,
              "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"old\",\"value\":\"1\"}\n"
              "{\"sync\":\"a\",\"bucket\":\"c\",\"key\":\"old\",\"value\":\"1\"}\n"
              "{\"sync\":\"b\",\"bucket\":\"b\",\"key\":\"keep\",\"value\":\"1\"}\n"
              "{\"sync\":\"c\",\"bucket\":\"b\",\"key\":\"old\",\"value\":\"1\"}\n",
              0, NULL);
    /* Without --replace, records are added. */
    must_load(f->e, "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"new\",\"value\":\"2\"}\n", 0, NULL);
    assert_int_equal(count(f->e, "a", NULL), 3);
    /* With --replace, each named sync holds exactly this load (many runs). */
    struct buf text = BUF_INIT;
    for (int k = 0; k < 300; k++)
        buf_addf(&text, "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"n%03d\",\"value\":\"x%d\"}\n",
                 k, k);
    buf_adds(&text, "{\"sync\":\"c\",\"bucket\":\"z\",\"key\":\"only\",\"value\":\"c\"}\n");
    buf_adds(&text, "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"n000\",\"value\":\"last\"}\n");
    /* a new sync, named first (sorted before a): nothing of it to replace, and
     * the syncs after it are still replaced */
    buf_adds(&text, "{\"sync\":\"0new\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"n\"}\n");
    char *msg = NULL;
    int rc = load_text(f->e, text.data, 1, NULL, 4096, NULL, &msg);
    if (rc)
        fail_msg("%s", msg);
    assert_int_equal(count(f->e, "a", NULL), 300);
    assert_value(f->e, "a", "b", "old", NULL);
    assert_value(f->e, "a", "c", "old", NULL);
    assert_value(f->e, "a", "b", "n000", "last");
    assert_value(f->e, "a", "b", "n299", "x299");
    assert_int_equal(count(f->e, "c", NULL), 1);
    assert_value(f->e, "c", "z", "only", "c");
    assert_int_equal(count(f->e, "0new", NULL), 1);
    /* b was not named: untouched. */
    assert_value(f->e, "b", "b", "keep", "1");
    assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 0);
    buf_release(&text);
}

/* A replace load naming a sync with no records of its own empties it. */
static void test_replace_named_empty_sync(void **state)
{
    struct fx *f = *state;
    must_load(f->e, "{\"sync\":\"a\",\"bucket\":\"b\",\"key\":\"old\",\"value\":\"1\"}\n", 0, NULL);
    struct loader_options opt = {.replace = 1};
    loader *l = NULL;
    assert_int_equal(loader_new(f->e, &opt, &l, NULL), 0);
    assert_int_equal(loader_name_sync(l, "a", NULL), 0);
    assert_int_equal(loader_commit(l, NULL, NULL), 0);
    loader_free(l);
    assert_int_equal(count(f->e, "a", NULL), 0);
}

/* ---- bad lines: each is reported with its reason and nothing is stored ---- */

static void test_bad_lines(void **state)
{
    struct fx *f = *state;
    must_load(f->e, "{\"sync\":\"keep\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"v\"}\n", 0,
              NULL);
    char long_key[1100];
    memset(long_key, 'k', 1025);
    long_key[1025] = 0;
    char long_line[1300];
    snprintf(long_line, sizeof long_line,
             "{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"%s\",\"value\":\"\"}", long_key);
    const struct {
        const char *line;
        const char *reason;
    } cases[] = {
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k\",", "bad JSON"},
        {"not json", "bad JSON"},
        {"[1,2]", "JSON object"},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k\",\"key_b64\":\"aw==\",\"value\":\"\"}",
         "both \"key\" and \"key_b64\""},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"\",\"value_b64\":\"\"}",
         "both \"value\" and \"value_b64\""},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"type\":\"grant\",\"id\":\"g\"}",
         "both \"type\" and \"bucket\""},
        {"{\"sync\":\"s\",\"key\":\"k\",\"value\":\"\"}", "neither \"type\" nor \"bucket\""},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"value\":\"\"}", "neither \"key\" nor \"key_b64\""},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k\"}", "neither \"value\" nor \"value_b64\""},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key_b64\":\"!!!!\",\"value\":\"\"}", "base64"},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k\",\"value\":7}", "must be a string"},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"\",\"oops\":1}",
         "unknown field \"oops\""},
        {"{\"sync\":\"s\",\"type\":\"grant\",\"id\":\"g\",\"entitlement\":\"e\","
         "\"principal_type\":\"user\"}",
         "needs \"principal_id\""},
        {"{\"sync\":\"s\",\"type\":\"resource\",\"id\":\"r\"}", "needs \"resource_type\""},
        {"{\"sync\":\"s\",\"type\":\"entitlement\"}", "needs \"id\""},
        {"{\"sync\":\"s\",\"type\":\"entitlement\",\"id\":\"\"}", "non-empty string"},
        {"{\"sync\":\"s\",\"type\":\"entitlement\",\"id\":5}", "non-empty string"},
        {"{\"sync\":\"s\",\"type\":\"user\",\"id\":\"u\"}", "unknown type \"user\""},
        {"{\"sync\":\"bad sync\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"\"}", "sync_id"},
        {"{\"sync\":\"ctl\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"\"}", "reserved"},
        {"{\"sync\":\"s\",\"bucket\":\"Bad\",\"key\":\"k\",\"value\":\"\"}", "bucket"},
        {"{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"\",\"value\":\"\"}", "key is empty"},
        {long_line, "longer than 1024"},
        {"{\"sync\":\"s\",\"sync\":\"t\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"\"}",
         "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        /* A good line before and after: the bad one sinks the whole load. */
        struct buf text = BUF_INIT;
        buf_adds(&text, "{\"sync\":\"s\",\"bucket\":\"b\",\"key\":\"good\",\"value\":\"1\"}\n");
        buf_adds(&text, cases[i].line);
        buf_adds(&text, "\n{\"sync\":\"keep\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"X\"}\n");
        char *msg = NULL;
        int bad = 0;
        int rc = load_text(f->e, text.data, i % 2, NULL, 0, &bad, &msg);
        if (rc != -EINVAL || bad != 2 || !msg || !strstr(msg, cases[i].reason))
            fail_msg("case %zu (%s): rc %d line %d msg '%s', want reason '%s'", i, cases[i].line,
                     rc, bad, msg ? msg : "", cases[i].reason);
        free(msg);
        buf_release(&text);
        assert_int_equal(count(f->e, "s", NULL), 0);
        assert_value(f->e, "keep", "b", "k", "v");
        assert_int_equal(count(f->e, NULL, NULL), 1);
        assert_int_equal(tu_count_dir(engine_staging_dir(f->e)), 0);
    }
}

/* A value over 64 MiB is refused, not truncated. */
static void test_value_too_big(void **state)
{
    struct fx *f = *state;
    struct loader_options opt = {0};
    loader *l = NULL;
    assert_int_equal(loader_new(f->e, &opt, &l, NULL), 0);
    size_t n = ENGINE_VALUE_MAX + 1;
    char *big = calloc(1, n);
    char *msg = NULL;
    assert_int_equal(loader_add(l, "s", "b", "k", 1, big, n, &msg), -EINVAL);
    assert_non_null(strstr(msg, "64 MiB"));
    free(msg);
    /* Exactly 64 MiB is fine. */
    assert_int_equal(loader_add(l, "s", "b", "k", 1, big, n - 1, NULL), 0);
    assert_int_equal(loader_commit(l, NULL, NULL), 0);
    loader_free(l);
    free(big);
    char *v;
    size_t len;
    assert_int_equal(engine_get(f->e, NULL, "s", "b", "k", 1, &v, &len, NULL), 0);
    assert_int_equal(len, ENGINE_VALUE_MAX);
    free(v);
}

/* ---- dump | load reproduces the store ---- */

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void test_dump_load_round_trip(void **state)
{
    struct fx *f = *state;
    const char *bin = getenv("SYNCSTORE_BIN");
    if (!bin || !*bin)
        tu_skip("SYNCSTORE_BIN is not set (ctest sets it)");
    struct loader_options opt = {0};
    loader *l = NULL;
    assert_int_equal(loader_new(f->e, &opt, &l, NULL), 0);
    const char *syncs[] = {"s1", "s10", "s1-a", "Z.9_"};
    const char *buckets[] = {"grants", "resources", "x-y_z"};
    size_t added = 0;
    for (int i = 0; i < 3000; i++) {
        unsigned char key[300], value[600];
        size_t kl = 1 + rnd() % 200, vl = rnd() % 500;
        int kind = (int)(rnd() % 4);
        for (size_t j = 0; j < kl; j++)
            key[j] = kind == 0   ? (unsigned char)rnd()              /* any bytes */
                     : kind == 1 ? (unsigned char)('a' + rnd() % 26) /* ASCII */
                     : kind == 2 ? (unsigned char)"\xc3\xa9/%\x00"[rnd() % 5]
                                 : (unsigned char)"\xf0\x9f\x98\x80"[j % 4];
        for (size_t j = 0; j < vl; j++)
            value[j] = (i % 3) ? (unsigned char)rnd() : (unsigned char)(' ' + rnd() % 90);
        int rc = loader_add(l, syncs[i % 4], buckets[i % 3], key, kl, value, vl, NULL);
        assert_int_equal(rc, 0);
        added++;
    }
    /* The extremes: largest key, a one-byte key, an empty value, invalid UTF-8
     * that looks almost right (overlong, surrogate, truncated). */
    unsigned char big[ENGINE_KEY_MAX];
    memset(big, 0xFF, sizeof big);
    assert_int_equal(loader_add(l, "s1", "grants", big, sizeof big, "", 0, NULL), 0);
    assert_int_equal(loader_add(l, "s1", "grants", "\xc0\xaf", 2, "\xed\xa0\x80", 3, NULL), 0);
    assert_int_equal(loader_add(l, "s1", "grants", "\xe2\x82", 2, "\"\\\n\t\x01", 5, NULL), 0);
    assert_int_equal(loader_commit(l, NULL, NULL), 0);
    loader_free(l);

    char *src = tu_join(f->dir, "store");
    char *dst = tu_join(f->dir, "copy");
    char *cmd = NULL;
    assert_true(asprintf(&cmd, "'%s' dump '%s' | '%s' load '%s' 2>/dev/null", bin, src, bin, dst) >
                0);
    assert_int_equal(system(cmd), 0);
    free(cmd);

    engine *copy = NULL;
    assert_int_equal(engine_open(dst, ENGINE_OPEN_READ_ONLY, &copy, NULL), 0);
    engine_iter *a = engine_iter_new_all(f->e, NULL), *b = engine_iter_new_all(copy, NULL);
    size_t n = 0;
    engine_iter_seek_first(a);
    engine_iter_seek_first(b);
    for (; engine_iter_valid(a); engine_iter_next(a), engine_iter_next(b), n++) {
        assert_true(engine_iter_valid(b));
        size_t ka, kb, va, vb;
        const char *pka = engine_iter_disk_key(a, &ka), *pkb = engine_iter_disk_key(b, &kb);
        assert_int_equal(ka, kb);
        assert_memory_equal(pka, pkb, ka);
        const char *pva = engine_iter_value(a, &va), *pvb = engine_iter_value(b, &vb);
        assert_int_equal(va, vb);
        if (va)
            assert_memory_equal(pva, pvb, va);
    }
    assert_false(engine_iter_valid(b));
    assert_true(n > 2900 && n <= added + 3);
    engine_iter_free(a);
    engine_iter_free(b);
    engine_close(copy);
    free(src);
    free(dst);
}

/* ---- jsonl_parse_line: the pure parser the fuzzer drives ---- */

static void test_parse_line(void **state)
{
    (void)state;
    struct jsonl_line pl;
    char *msg = NULL;
    /* A blank line: nothing, no sync. */
    assert_int_equal(jsonl_parse_line(" \t\r\n", 4, "s9", &pl, &msg), 0);
    assert_int_equal(pl.n_records, 0);
    assert_null(pl.sync);
    jsonl_line_release(&pl);
    /* A grant: three records; the first value is the line without its CRLF. */
    const char grant[] = "{\"sync\":\"s1\",\"type\":\"grant\",\"id\":\"g\",\"entitlement\":\"e\","
                         "\"principal_type\":\"user\",\"principal_id\":\"u\"}\r\n";
    size_t len = strlen(grant);
    assert_int_equal(jsonl_parse_line(grant, len, NULL, &pl, &msg), 0);
    assert_string_equal(pl.sync, "s1");
    assert_int_equal(pl.n_records, 3);
    assert_string_equal(pl.records[0].bucket, "grants");
    assert_int_equal(pl.records[0].key_len, 1);
    assert_memory_equal(pl.records[0].key, "g", 1);
    assert_ptr_equal(pl.records[0].value, grant);
    assert_int_equal(pl.records[0].value_len, len - 2);
    assert_string_equal(pl.records[1].bucket, "grants_by_entitlement");
    assert_int_equal(pl.records[1].key_len, 3);
    assert_memory_equal(pl.records[1].key, "e/g", 3);
    assert_int_equal(pl.records[1].value_len, 0);
    assert_string_equal(pl.records[2].bucket, "grants_by_principal");
    assert_int_equal(pl.records[2].key_len, 8);
    assert_memory_equal(pl.records[2].key, "user/u/g", 8);
    jsonl_line_release(&pl);
    /* A raw line with base64 bytes, its sync from --sync. */
    const char raw[] = "{\"bucket\":\"b\",\"key_b64\":\"AP8=\",\"value\":\"a\\u0000b\"}";
    assert_int_equal(jsonl_parse_line(raw, strlen(raw), "s2", &pl, &msg), 0);
    assert_string_equal(pl.sync, "s2");
    assert_int_equal(pl.n_records, 1);
    assert_int_equal(pl.records[0].key_len, 2);
    assert_memory_equal(pl.records[0].key, "\x00\xff", 2);
    assert_int_equal(pl.records[0].value_len, 3);
    assert_memory_equal(pl.records[0].value, "a\0b", 3);
    jsonl_line_release(&pl);
    /* Limits are loader_add()'s business: this parses, and the load refuses it. */
    const char bad_bucket[] = "{\"sync\":\"s1\",\"bucket\":\"NO\",\"key\":\"k\",\"value\":\"\"}";
    assert_int_equal(jsonl_parse_line(bad_bucket, strlen(bad_bucket), NULL, &pl, &msg), 0);
    assert_int_equal(pl.n_records, 1);
    jsonl_line_release(&pl);
    /* A refused line: a message, no records, and release is still safe. */
    assert_int_equal(jsonl_parse_line("{", 1, NULL, &pl, &msg), -EINVAL);
    assert_non_null(msg);
    assert_int_equal(pl.n_records, 0);
    jsonl_line_release(&pl);
    free(msg);
}

/* A "type" with a NUL byte is not the type before the NUL. */
static void test_type_with_nul(void **state)
{
    struct fx *f = *state;
    char *msg = NULL;
    int bad = 0;
    int rc = load_text(f->e, "{\"sync\":\"s\",\"type\":\"entitlement\\u0000x\",\"id\":\"e\"}\n", 0,
                       NULL, 0, &bad, &msg);
    assert_int_equal(rc, -EINVAL);
    assert_int_equal(bad, 1);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "\"type\" holds a NUL byte"));
    free(msg);
    assert_int_equal(count(f->e, NULL, NULL), 0);
}

/* Found by fuzz_load: "sync":"" matched the loader's initially empty "last
 * sync" and skipped validation, so the record went to an on-disk key starting
 * with 0x00, in the metadata space. */
static void test_empty_sync(void **state)
{
    struct fx *f = *state;
    char *msg = NULL;
    int bad = 0;
    int rc = load_text(f->e, "{\"sync\":\"\",\"bucket\":\"b\",\"key\":\"k\",\"value\":\"v\"}\n", 0,
                       NULL, 0, &bad, &msg);
    assert_int_equal(rc, -EINVAL);
    assert_int_equal(bad, 1);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "sync_id is empty"));
    free(msg);
    struct loader_options opt = {.replace = 1};
    loader *l = NULL;
    assert_int_equal(loader_new(f->e, &opt, &l, NULL), 0);
    assert_int_equal(loader_name_sync(l, "", NULL), -EINVAL);
    assert_int_equal(loader_add(l, "", "b", "k", 1, "v", 1, NULL), -EINVAL);
    assert_int_equal(loader_add(l, "s", "b", "k", 1, "v", 1, NULL), 0);
    assert_int_equal(loader_add(l, "", "b", "k", 1, "v", 1, NULL), -EINVAL);
    assert_int_equal(loader_commit(l, NULL, NULL), 0);
    loader_free(l);
    assert_int_equal(count(f->e, NULL, NULL), 1);
    /* Nothing below the first sync_id byte. */
    engine_iter *it = engine_iter_new_range(f->e, NULL, "\0", 1, "\x01", 1);
    engine_iter_seek_first(it);
    assert_false(engine_iter_valid(it));
    engine_iter_free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_line_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_named_empty_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_too_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dump_load_round_trip, setup, teardown),
        cmocka_unit_test(test_parse_line),
        cmocka_unit_test_setup_teardown(test_type_with_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_sync, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
