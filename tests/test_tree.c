/*
 * test_tree.c - the key tree (fs/tree.c) against a real store, without FUSE.
 *
 * Each test ingests records into a fresh store, then resolves names and lists
 * directories through tree.h at a snapshot and checks what the mounted view
 * would show: keys that are also directories, marked names, escaped names,
 * split components, a listing of thousands of keys below one prefix among
 * other syncs and buckets, a listing resumed from its cursor (the declined
 * entry offered again, a rewind starting over), and a snapshot that does not
 * see a later ingest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char *dir;
    engine *e;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->e = tu_create_store(f->dir, "store");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    engine_close(f->e);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- Putting records in ---- */

struct rec {
    char disk[ENGINE_DISK_KEY_MAX];
    size_t disk_len;
    size_t value_len;
};

static int rec_cmp(const void *a, const void *b)
{
    const struct rec *x = a, *y = b;
    size_t n = x->disk_len < y->disk_len ? x->disk_len : y->disk_len;
    int c = memcmp(x->disk, y->disk, n);
    return c ? c : (x->disk_len > y->disk_len) - (x->disk_len < y->disk_len);
}

/* Ingests keys (with lens, or NUL-terminated when lens is NULL) into one
 * bucket of one sync, in one SST; key i gets a value of i + 1 bytes. */
static void put_keys(engine *e, const char *sync_id, const char *bucket, const char **keys,
                     const size_t *lens, size_t n)
{
    struct rec *recs = calloc(n, sizeof *recs);
    assert_non_null(recs);
    for (size_t i = 0; i < n; i++) {
        size_t kl = lens ? lens[i] : strlen(keys[i]);
        recs[i].disk_len = engine_key_encode(recs[i].disk, sync_id, bucket, keys[i], kl);
        recs[i].value_len = i + 1;
    }
    qsort(recs, n, sizeof *recs, rec_cmp);
    char *value = malloc(n + 1);
    assert_non_null(value);
    memset(value, 'v', n + 1);
    engine_ingest *ing = NULL;
    engine_sst *w = NULL;
    assert_int_equal(engine_ingest_new(e, &ing, NULL), 0);
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(
            engine_sst_put(w, recs[i].disk, recs[i].disk_len, value, recs[i].value_len, NULL), 0);
    assert_int_equal(engine_sst_finish(w, NULL), 0);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
    free(value);
    free(recs);
}

static void put(engine *e, const char *sync_id, const char *bucket, const char **keys, size_t n)
{
    put_keys(e, sync_id, bucket, keys, NULL, n);
}

/* ---- Reading the tree ---- */

#define MAX_ENTRIES 4096

struct listing {
    size_t n;
    char names[MAX_ENTRIES][NAMES_NAME_MAX + 1];
    int is_dir[MAX_ENTRIES];
    char keys[MAX_ENTRIES][ENGINE_KEY_MAX + 2];
    size_t key_lens[MAX_ENTRIES];
    uint64_t sizes[MAX_ENTRIES];
    size_t take; /* entries to take before declining one (0: no limit) */
    size_t taken;
    size_t offered;
};

static int collect(void *arg, const struct tree_entry *entry)
{
    struct listing *l = arg;
    l->offered++;
    if (l->take && l->taken == l->take)
        return 0;
    assert_true(l->n < MAX_ENTRIES);
    assert_int_equal(strlen(entry->name), entry->name_len);
    assert_true(entry->name_len >= 1 && entry->name_len <= NAMES_NAME_MAX);
    memcpy(l->names[l->n], entry->name, entry->name_len + 1);
    l->is_dir[l->n] = entry->is_dir;
    memcpy(l->keys[l->n], entry->key, entry->key_len);
    l->key_lens[l->n] = entry->key_len;
    l->sizes[l->n] = entry->size;
    l->n++;
    l->taken++;
    return 1;
}

static struct tree_dir dir_at(engine *e, const engine_snapshot *snap, const char *prefix,
                              size_t prefix_len)
{
    struct tree_dir d = {.e = e,
                         .snap = snap,
                         .sync_id = "s1",
                         .bucket = "b1",
                         .prefix = prefix,
                         .prefix_len = prefix_len};
    return d;
}

/* Lists a whole directory in one call. */
static struct listing *list_all(const struct tree_dir *d)
{
    struct listing *l = calloc(1, sizeof *l);
    assert_non_null(l);
    struct tree_list tl;
    tree_list_init(&tl, d);
    assert_int_equal(tree_list_next(&tl, collect, l), 0);
    assert_true(tree_list_done(&tl));
    tree_list_release(&tl);
    return l;
}

static void expect_entry(const struct listing *l, size_t i, const char *name, int is_dir,
                         const char *key, uint64_t size)
{
    assert_true(i < l->n);
    assert_string_equal(l->names[i], name);
    assert_int_equal(l->is_dir[i], is_dir);
    assert_int_equal(l->key_lens[i], strlen(key));
    assert_memory_equal(l->keys[i], key, strlen(key));
    assert_int_equal(l->sizes[i], size);
}

static void expect_resolve(const struct tree_dir *d, const char *name, int is_dir, const char *key,
                           uint64_t size)
{
    struct tree_found r;
    assert_int_equal(tree_resolve(d, name, &r), 0);
    assert_int_equal(r.is_dir, is_dir);
    assert_int_equal(r.key_len, strlen(key));
    assert_memory_equal(r.key, key, strlen(key));
    assert_int_equal(r.size, size);
}

static void expect_no_entry(const struct tree_dir *d, const char *name)
{
    struct tree_found r;
    assert_int_equal(tree_resolve(d, name, &r), ENOENT);
}

/* ---- The tests ---- */

/* '/' makes directories; a directory resolves to its prefix with the '/'. */
static void test_directories(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"a/b/c", "a/d", "e"}; /* values of 1, 2 and 3 bytes */
    put(f->e, "s1", "b1", keys, 3);
    engine_snapshot *snap = NULL;
    assert_int_equal(engine_snapshot_new(f->e, &snap, NULL), 0);

    struct tree_dir root = dir_at(f->e, snap, NULL, 0);
    struct listing *l = list_all(&root);
    assert_int_equal(l->n, 2);
    expect_entry(l, 0, "a", 1, "a/", 0);
    expect_entry(l, 1, "e", 0, "e", 3);
    free(l);
    expect_resolve(&root, "a", 1, "a/", 0);
    expect_resolve(&root, "e", 0, "e", 3);
    expect_no_entry(&root, "b");
    expect_no_entry(&root, "a%%");  /* a is no key: no marked file */
    expect_no_entry(&root, "a%2F"); /* not canonical */

    struct tree_dir a = dir_at(f->e, snap, "a/", 2);
    l = list_all(&a);
    assert_int_equal(l->n, 2);
    expect_entry(l, 0, "b", 1, "a/b/", 0);
    expect_entry(l, 1, "d", 0, "a/d", 2);
    free(l);
    expect_resolve(&a, "d", 0, "a/d", 2);
    struct tree_dir ab = dir_at(f->e, snap, "a/b/", 4);
    expect_resolve(&ab, "c", 0, "a/b/c", 1);
    engine_snapshot_free(f->e, snap);
}

/* A key that is also a directory is the file "<name>%%" beside the directory. */
static void test_marked(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"a", "a/b", "c"};
    put(f->e, "s1", "b1", keys, 3);
    struct tree_dir root = dir_at(f->e, NULL, NULL, 0);
    struct listing *l = list_all(&root);
    assert_int_equal(l->n, 3);
    /* in key order: the key "a" (marked) comes before the keys below a/ */
    expect_entry(l, 0, "a%%", 0, "a", 1);
    expect_entry(l, 1, "a", 1, "a/", 0);
    expect_entry(l, 2, "c", 0, "c", 3);
    free(l);
    expect_resolve(&root, "a%%", 0, "a", 1);
    expect_resolve(&root, "a", 1, "a/", 0);
    expect_resolve(&root, "c", 0, "c", 3);
    expect_no_entry(&root, "c%%"); /* c is no directory: its name is not marked */
}

/* Escapes: '%', control bytes, ".", and an empty component. */
static void test_escaped(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"100%", "new\nline", ".", "x//y"};
    put(f->e, "s1", "b1", keys, 4);
    struct tree_dir root = dir_at(f->e, NULL, NULL, 0);
    struct listing *l = list_all(&root);
    assert_int_equal(l->n, 4);
    /* in key order: "." (0x2E) < "100%" < "new\nline" < "x//y" */
    expect_entry(l, 0, "%2E", 0, ".", 3);
    expect_entry(l, 1, "100%25", 0, "100%", 1);
    expect_entry(l, 2, "new%0Aline", 0, "new\nline", 2);
    expect_entry(l, 3, "x", 1, "x/", 0);
    free(l);
    expect_resolve(&root, "100%25", 0, "100%", 1);
    expect_resolve(&root, "new%0Aline", 0, "new\nline", 2);
    expect_resolve(&root, "%2E", 0, ".", 3);
    expect_no_entry(&root, "100%");
    expect_no_entry(&root, "new%0aline"); /* lowercase hex is not what names.c writes */

    struct tree_dir x = dir_at(f->e, NULL, "x/", 2);
    l = list_all(&x);
    assert_int_equal(l->n, 1);
    expect_entry(l, 0, "%%", 1, "x//", 0);
    free(l);
    expect_resolve(&x, "%%", 1, "x//", 0);
    struct tree_dir xx = dir_at(f->e, NULL, "x//", 3);
    expect_resolve(&xx, "y", 0, "x//y", 4);
}

/* A 600-byte component: two chunk directories of 252 bytes, then the rest. */
static void test_split(void **state)
{
    struct fixture *f = *state;
    char key[601];
    memset(key, 'k', 600);
    key[600] = '\0';
    const char *keys[] = {key, "short"};
    put(f->e, "s1", "b1", keys, 2);

    char chunk[NAMES_NAME_MAX + 1];
    memset(chunk, 'k', NAMES_CHUNK_MAX);
    memcpy(chunk + NAMES_CHUNK_MAX, "%%+", sizeof "%%+");
    size_t dir_len = 0;
    for (int level = 0; level < 2; level++) {
        struct tree_dir d = dir_at(f->e, NULL, key, dir_len);
        struct listing *l = list_all(&d);
        /* the root also holds "short", a whole name, listed first (phase 1) */
        size_t at = level == 0 ? 1 : 0;
        assert_int_equal(l->n, at + 1);
        if (level == 0)
            expect_entry(l, 0, "short", 0, "short", 2);
        assert_string_equal(l->names[at], chunk);
        assert_true(l->is_dir[at]);
        assert_int_equal(l->key_lens[at], dir_len + NAMES_CHUNK_MAX);
        free(l);
        struct tree_found r;
        assert_int_equal(tree_resolve(&d, chunk, &r), 0);
        assert_true(r.is_dir);
        assert_int_equal(r.key_len, dir_len + NAMES_CHUNK_MAX);
        dir_len = r.key_len;
    }
    struct tree_dir last = dir_at(f->e, NULL, key, dir_len);
    struct listing *l = list_all(&last);
    assert_int_equal(l->n, 1);
    assert_int_equal(strlen(l->names[0]), 600 - 2 * NAMES_CHUNK_MAX);
    expect_entry(l, 0, l->names[0], 0, key, 1);
    struct tree_found r;
    assert_int_equal(tree_resolve(&last, l->names[0], &r), 0);
    assert_false(r.is_dir);
    assert_int_equal(r.key_len, 600);
    free(l);
}

#define MANY 3000

static char many_keys[MANY][16];

/* Fills s1/b1 with d/0000 .. d/2999 beside c and e/x, and the same prefix in
 * another bucket and another sync, which a listing must not show. */
static void put_many(engine *e)
{
    const char *keys[MANY + 2];
    for (int i = 0; i < MANY; i++) {
        snprintf(many_keys[i], sizeof many_keys[i], "d/%04d", i);
        keys[i] = many_keys[i];
    }
    keys[MANY] = "c";
    keys[MANY + 1] = "e/x";
    put(e, "s1", "b1", keys, MANY + 2);
    const char *other[] = {"d/zz", "a"};
    put(e, "s1", "b0", other, 2);
    put(e, "s1", "b2", other, 2);
    put(e, "s0", "b1", other, 2);
    put(e, "s2", "b1", other, 2);
}

static void test_prefix_listing(void **state)
{
    struct fixture *f = *state;
    put_many(f->e);
    struct tree_dir root = dir_at(f->e, NULL, NULL, 0);
    struct listing *l = list_all(&root);
    assert_int_equal(l->n, 3); /* d's 3000 keys are one entry, skipped with one seek */
    expect_entry(l, 0, "c", 0, "c", MANY + 1);
    expect_entry(l, 1, "d", 1, "d/", 0);
    expect_entry(l, 2, "e", 1, "e/", 0);
    free(l);

    struct tree_dir d = dir_at(f->e, NULL, "d/", 2);
    l = list_all(&d);
    assert_int_equal(l->n, MANY);
    for (size_t i = 0; i < MANY; i++) {
        char name[8];
        snprintf(name, sizeof name, "%04zu", i);
        expect_entry(l, i, name, 0, many_keys[i], i + 1);
    }
    free(l);
    expect_no_entry(&d, "zz"); /* only in other buckets */
    assert_int_equal(tree_bucket_exists(f->e, NULL, "s1", "b1"), 1);
    assert_int_equal(tree_bucket_exists(f->e, NULL, "s1", "b3"), 0);
    assert_int_equal(tree_bucket_exists(f->e, NULL, "s3", "b1"), 0);
}

/* A listing that stops when its buffer is full resumes from its cursor with
 * the entry it declined; a rewind starts it over. */
static void test_resume(void **state)
{
    struct fixture *f = *state;
    put_many(f->e);
    struct tree_dir d = dir_at(f->e, NULL, "d/", 2);
    struct listing *whole = list_all(&d);

    struct listing *l = calloc(1, sizeof *l);
    assert_non_null(l);
    struct tree_list tl;
    tree_list_init(&tl, &d);
    int calls = 0;
    while (!tree_list_done(&tl)) {
        l->take = 7;
        l->taken = 0;
        l->offered = 0;
        size_t before = l->n;
        assert_int_equal(tree_list_next(&tl, collect, l), 0);
        calls++;
        assert_true(calls <= MANY / 7 + 2);
        if (!tree_list_done(&tl)) {
            assert_int_equal(l->n - before, 7);
            assert_int_equal(l->offered, 8); /* the 8th was declined */
        }
    }
    assert_int_equal(l->n, whole->n);
    for (size_t i = 0; i < l->n; i++)
        assert_string_equal(l->names[i], whole->names[i]);

    /* Rewind in the middle of a listing: it starts over, iterators kept. */
    tree_list_rewind(&tl);
    assert_false(tree_list_done(&tl));
    memset(l, 0, sizeof *l);
    l->take = 100;
    assert_int_equal(tree_list_next(&tl, collect, l), 0);
    tree_list_rewind(&tl);
    memset(l, 0, sizeof *l);
    assert_int_equal(tree_list_next(&tl, collect, l), 0);
    assert_true(tree_list_done(&tl));
    assert_int_equal(l->n, MANY);
    assert_string_equal(l->names[0], "0000");
    tree_list_release(&tl);
    free(l);
    free(whole);
}

/* A snapshot lists and resolves the data as it was when it was taken. */
static void test_snapshot(void **state)
{
    struct fixture *f = *state;
    const char *keys[] = {"d/1", "old"};
    put(f->e, "s1", "b1", keys, 2);
    engine_snapshot *snap = NULL;
    assert_int_equal(engine_snapshot_new(f->e, &snap, NULL), 0);
    const char *later[] = {"d/2", "new", "old/x"};
    put(f->e, "s1", "b1", later, 3);

    struct tree_dir then = dir_at(f->e, snap, NULL, 0), now = dir_at(f->e, NULL, NULL, 0);
    struct listing *l = list_all(&then);
    assert_int_equal(l->n, 2);
    expect_entry(l, 0, "d", 1, "d/", 0);
    expect_entry(l, 1, "old", 0, "old", 2);
    free(l);
    expect_no_entry(&then, "new");
    expect_no_entry(&then, "old%%");
    expect_resolve(&then, "old", 0, "old", 2);
    struct tree_dir d_then = dir_at(f->e, snap, "d/", 2);
    l = list_all(&d_then);
    assert_int_equal(l->n, 1);
    free(l);
    assert_int_equal(tree_bucket_exists(f->e, snap, "s1", "b1"), 1);

    l = list_all(&now);
    assert_int_equal(l->n, 4); /* d, new, old (a directory now), old%% */
    expect_entry(l, 0, "d", 1, "d/", 0);
    expect_entry(l, 1, "new", 0, "new", 2);
    expect_entry(l, 2, "old%%", 0, "old", 2);
    expect_entry(l, 3, "old", 1, "old/", 0);
    free(l);
    expect_resolve(&now, "old%%", 0, "old", 2);
    engine_snapshot_free(f->e, snap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
