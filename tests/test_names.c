/*
 * test_names.c - the key <-> path encoding: ordinary keys map to themselves,
 * every edge case round-trips, no name is empty, ".", "..", over 255 bytes or
 * holds '/' or NUL, and every key fits in PATH_MAX below a 512-byte mountpoint.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "names.h"
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 1100

struct path {
    char names[MAX_NAMES][NAMES_NAME_MAX + 1];
    size_t lens[MAX_NAMES];
    int dirs[MAX_NAMES];
    size_t n;
    size_t bytes; /* "/name/name..." */
};

/* Walks from the bucket root to the key as the FS would list it. */
static void key_to_path(const char *key, size_t len, int also_dir, struct path *p)
{
    size_t dir = 0;
    p->n = 0;
    p->bytes = 0;
    for (;;) {
        struct names_child c;
        assert_int_equal(names_child(key, len, dir, also_dir, &c), 0);
        if (!c.belongs)
            fail_msg("key of %zu bytes does not belong below its own prefix %zu", len, dir);
        assert_true(p->n < MAX_NAMES);
        assert_true(c.name_len >= 1 && c.name_len <= NAMES_NAME_MAX);
        assert_null(memchr(c.name, '/', c.name_len));
        assert_null(memchr(c.name, '\0', c.name_len));
        assert_false(c.name_len == 1 && c.name[0] == '.');
        assert_false(c.name_len == 2 && !memcmp(c.name, "..", 2));
        memcpy(p->names[p->n], c.name, c.name_len);
        p->names[p->n][c.name_len] = 0;
        p->lens[p->n] = c.name_len;
        p->dirs[p->n] = c.is_dir;
        p->n++;
        p->bytes += 1 + c.name_len;
        if (!c.is_dir) {
            assert_int_equal(c.prefix_len, len);
            return;
        }
        assert_true(c.prefix_len > dir || (c.prefix_len == dir + 1));
        dir = c.prefix_len;
    }
}

/* Decodes a path back into the key. */
static size_t path_to_key(const struct path *p, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < p->n; i++) {
        char raw[NAMES_NAME_MAX];
        size_t rl;
        enum names_kind kind;
        assert_int_equal(names_decode(p->names[i], p->lens[i], raw, &rl, &kind), 0);
        memcpy(out + o, raw, rl);
        o += rl;
        if (i + 1 < p->n) {
            assert_int_not_equal(kind, NAMES_MARKED);
            if (kind == NAMES_PLAIN)
                out[o++] = '/';
        } else {
            assert_int_not_equal(kind, NAMES_CHUNK);
        }
    }
    return o;
}

static void round_trip(const char *key, size_t len, int also_dir)
{
    static struct path p;
    key_to_path(key, len, also_dir, &p);
    char back[8192];
    size_t n = path_to_key(&p, back);
    if (n != len || memcmp(back, key, len))
        fail_msg("round trip of a %zu-byte key gave %zu bytes", len, n);
    /* /<mountpoint of 512>/<sync_id of 128>/<bucket of 64><path> */
    assert_true(512 + 1 + 128 + 1 + 64 + p.bytes < PATH_MAX);
    if (!also_dir && names_key_is_ordinary(key, len)) {
        /* An ordinary key is at exactly bucket/key. */
        char joined[8192];
        size_t o = 0;
        for (size_t i = 0; i < p.n; i++) {
            if (i)
                joined[o++] = '/';
            memcpy(joined + o, p.names[i], p.lens[i]);
            o += p.lens[i];
        }
        assert_int_equal(o, len);
        assert_memory_equal(joined, key, len);
    }
}

static void test_ordinary(void **state)
{
    (void)state;
    const char *keys[] = {"user", "user/123", "a b/c-d_e.f", "caf\xc3\xa9/\xe2\x82\xac", "x/y/z/w",
                          "...",  "a.",       ".a",          "\xf0\x9f\x98\x80"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        assert_true(names_key_is_ordinary(keys[i], strlen(keys[i])));
        round_trip(keys[i], strlen(keys[i]), 0);
    }
    char c255[256];
    memset(c255, 'x', 255);
    assert_true(names_key_is_ordinary(c255, 255));
    round_trip(c255, 255, 0);
}

static void expect_path(const char *key, size_t len, int also_dir, const char *want)
{
    static struct path p;
    key_to_path(key, len, also_dir, &p);
    char joined[8192];
    size_t o = 0;
    for (size_t i = 0; i < p.n; i++) {
        if (i)
            joined[o++] = '/';
        memcpy(joined + o, p.names[i], p.lens[i]);
        o += p.lens[i];
    }
    joined[o] = 0;
    assert_string_equal(joined, want);
    round_trip(key, len, also_dir);
}

static void test_documented_examples(void **state)
{
    (void)state;
    /* These are the examples of docs/NAMES.md. */
    expect_path("a", 1, 1, "a%%");
    expect_path("a/b", 3, 0, "a/b");
    expect_path("a//b", 4, 0, "a/%%/b");
    expect_path("/a", 2, 0, "%%/a");
    expect_path("a/", 2, 0, "a/%%");
    expect_path("/", 1, 0, "%%/%%");
    expect_path(".", 1, 0, "%2E");
    expect_path("..", 2, 0, "%2E%2E");
    expect_path("a/../b", 6, 0, "a/%2E%2E/b");
    expect_path("50%", 3, 0, "50%25");
    expect_path("nul\0byte", 8, 0, "nul%00byte");
    expect_path("tab\there", 8, 0, "tab%09here");
    expect_path("\xff\xfe", 2, 0, "%FF%FE");
    expect_path("\xc2\x85", 2, 0, "%C2%85"); /* a C1 control */
    expect_path("caf\xc3\xa9", 5, 0, "caf\xc3\xa9");
    expect_path("a/b", 3, 1, "a/b%%");
}

static void test_long_components(void **state)
{
    (void)state;
    char key[1100];
    /* 256 plain bytes: one chunk of 252 and the rest. */
    memset(key, 'k', 256);
    static struct path p;
    key_to_path(key, 256, 0, &p);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.lens[0], 255);
    assert_memory_equal(p.names[0] + 252, "%%+", 3);
    assert_int_equal(p.lens[1], 4);
    round_trip(key, 256, 0);
    round_trip(key, 256, 1);
    /* 254 and 255 bytes are whole names, but marked they are split. */
    round_trip(key, 254, 0);
    round_trip(key, 254, 1);
    round_trip(key, 255, 1);
    key_to_path(key, 255, 1, &p);
    assert_int_equal(p.n, 2);
    /* 1024 bytes that all need escapes: the worst case for the path length. */
    memset(key, 0x01, 1024);
    round_trip(key, 1024, 0);
    round_trip(key, 1024, 1);
    key_to_path(key, 1024, 1, &p);
    assert_true(p.bytes < 3300);
    /* 1024 slashes: 1025 empty components. */
    memset(key, '/', 1024);
    round_trip(key, 1024, 0);
    /* Multi-byte characters are never cut by a split. */
    for (int i = 0; i < 340; i++)
        memcpy(key + 3 * i, "\xe2\x82\xac", 3);
    key_to_path(key, 1020, 0, &p);
    for (size_t i = 0; i < p.n; i++) {
        size_t l = p.lens[i] - (p.names[i][p.lens[i] - 1] == '+' ? 3 : 0);
        assert_int_equal(l % 3, 0);
    }
    round_trip(key, 1020, 0);
    /* A long component next to a short one that shares its first chunk. */
    memset(key, 'z', 300);
    struct names_child a, b;
    assert_int_equal(names_child(key, 300, 0, 0, &a), 0);
    assert_int_equal(names_child(key, 253, 0, 0, &b), 0);
    assert_int_equal(a.phase, 2);
    assert_int_equal(b.phase, 1);
    /* Inside the chunk directory, the short key does not belong. */
    assert_int_equal(names_child(key, 253, a.prefix_len, 0, &b), 0);
    assert_false(b.belongs);
}

static void test_decode_rejects(void **state)
{
    (void)state;
    char out[300];
    size_t n;
    enum names_kind k;
    assert_int_equal(names_decode("%", 1, out, &n, &k), -1);
    assert_int_equal(names_decode("%4", 2, out, &n, &k), -1);
    assert_int_equal(names_decode("%zz", 3, out, &n, &k), -1);
    assert_int_equal(names_decode("%2e", 3, out, &n, &k), -1); /* lowercase hex */
    assert_int_equal(names_decode("%%+", 3, out, &n, &k), -1);
    assert_int_equal(names_decode("", 0, out, &n, &k), -1);
    assert_int_equal(names_decode("%%", 2, out, &n, &k), 0);
    assert_int_equal(n, 0);
    assert_int_equal(k, NAMES_PLAIN);
    assert_int_equal(names_decode("%%%%", 4, out, &n, &k), 0);
    assert_int_equal(n, 0);
    assert_int_equal(k, NAMES_MARKED);
    assert_int_equal(names_decode("ab%%+", 5, out, &n, &k), 0);
    assert_int_equal(k, NAMES_CHUNK);
    assert_int_equal(n, 2);
}

static uint64_t rng = 7;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_random_round_trips(void **state)
{
    (void)state;
    static const char alphabet[] = "ab/./%\x00\x01\x7f\xc3\xa9\xe2\x82\xac\xff\xc2\x85 zz";
    char key[1024];
    for (int i = 0; i < 20000; i++) {
        size_t len = 1 + rnd() % (i % 10 == 0 ? 1024 : 40);
        for (size_t j = 0; j < len; j++)
            key[j] = i % 3 ? alphabet[rnd() % (sizeof alphabet - 1)] : (char)rnd();
        round_trip(key, len, (int)(rnd() & 1));
    }
}

/* Found by fuzz_names: a split component whose last chunk is "." or ".."
 * gave a name "." or ".." inside the last chunk directory. */
static void test_last_chunk_dots(void **state)
{
    (void)state;
    char key[600];
    memset(key, 'a', 504);
    static struct path p;
    memcpy(key + 504, ".", 1);
    key_to_path(key, 505, 0, &p);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.names[2], "%2E");
    round_trip(key, 505, 0);
    round_trip(key, 505, 1);
    memcpy(key + 504, "../b", 4);
    key_to_path(key, 508, 0, &p);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.names[2], "%2E%2E");
    assert_true(p.dirs[2]);
    round_trip(key, 508, 0);
    round_trip(key, 506, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ordinary),           cmocka_unit_test(test_documented_examples),
        cmocka_unit_test(test_long_components),    cmocka_unit_test(test_decode_rejects),
        cmocka_unit_test(test_random_round_trips), cmocka_unit_test(test_last_chunk_dots),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
