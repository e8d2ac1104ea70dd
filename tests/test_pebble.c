/*
 * test_pebble.c - the read-only Pebble reader (tools/formats/pebble/) on the
 * shared C1Z3 sample's database: exactly the live keys C1Z3.md counts, in
 * ascending order, range deletions applied, virtual-table bounds and ingested
 * tables' MANIFEST sequence numbers honoured (proved by version edits this
 * test appends to the sample's MANIFEST), and every bad input refused with
 * the right code and a message naming the file: a flipped byte, a truncated
 * table, a missing table, zstd/MinLZ blocks, a non-empty WAL, another format
 * version or comparer, unknown or unsupported MANIFEST tags.  The columnar
 * decoders are also checked on small hand-built columns.
 *
 * The sample's directory is unpacked once per run, by a small INDEXED_ZSTD
 * unpacker of this test's own (frames and index; the envelope's hashes are
 * tools/formats/c1z3's business), into a temporary directory; each test that
 * changes files works on its own copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "pb_wire.h"
#include "pebble.h"
#include "pebble_i.h"
#include "testutil.h"

#define SAMPLE "c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z"
#define MANIFEST "MANIFEST-000021"

static char *sample_root; /* the temporary directory; sample_dir below it */
static char *sample_dir;

/* ---- Unpacking the sample (a test stand-in for the envelope reader) ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
    char *data = NULL;
    if (tu_read_file(path, &data, len) < 0)
        return NULL;
    return (uint8_t *)data;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

static int unpack_sample(const char *dir)
{
    char *path = tu_shared_data(SAMPLE);
    size_t len;
    uint8_t *f = slurp(path, &len);
    free(path);
    if (!f)
        return -1;
    assert_true(len > 28 && memcmp(f, "C1Z3\0", 5) == 0);
    assert_memory_equal(f + len - 8, "C1ZIDX1\0", 8);
    uint64_t ioff = be(f + len - 28, 8), ilen = be(f + len - 20, 4);
    assert_true(ioff + ilen <= len - 28);
    struct pb_reader r, er;
    struct pb_field fl, ef;
    pb_reader_init(&r, f + ioff, ilen);
    int files = 0;
    while (pb_next(&r, &fl) == 1) {
        if (fl.number != 1)
            continue;
        char name[256] = {0};
        uint64_t off = 0, csize = 0, rsize = 0;
        pb_reader_init(&er, fl.data, fl.len);
        while (pb_next(&er, &ef) == 1) {
            if (ef.number == 1 && ef.len < sizeof(name))
                memcpy(name, ef.data, ef.len);
            else if (ef.number == 2)
                off = ef.u64;
            else if (ef.number == 3)
                csize = ef.u64;
            else if (ef.number == 4)
                rsize = ef.u64;
        }
        assert_true(name[0] && !strchr(name, '/') && off + csize <= ioff);
        uint8_t *out = malloc(rsize ? rsize : 1);
        size_t got = ZSTD_decompress(out, rsize, f + off, csize);
        assert_false(ZSTD_isError(got));
        assert_int_equal(got, rsize);
        char *p = tu_join(dir, name);
        tu_write_file(p, out, rsize);
        free(p);
        free(out);
        files++;
    }
    free(f);
    assert_int_equal(files, 17);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    sample_root = tu_mkdtemp();
    sample_dir = tu_join(sample_root, "sample");
    assert_int_equal(mkdir(sample_dir, 0700), 0);
    if (unpack_sample(sample_dir) < 0) { /* no shared data: every test skips */
        free(sample_dir);
        sample_dir = NULL;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(sample_dir);
    tu_rmtree(sample_root);
    return 0;
}

#define NEED_SAMPLE()                                                                              \
    do {                                                                                           \
        if (!sample_dir)                                                                           \
            tu_skip("the C1Z3 sample %s is not in $SYNCSTORE_SHARED", SAMPLE);                     \
    } while (0)

/* A copy of the sample's directory that a test may change; tu_rmtree it. */
static char *copy_sample(void)
{
    char *root = tu_mkdtemp();
    DIR *d = opendir(sample_dir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *src = tu_join(sample_dir, de->d_name), *dst = tu_join(root, de->d_name);
        size_t len;
        uint8_t *data = slurp(src, &len);
        assert_non_null(data);
        tu_write_file(dst, data, len);
        free(data);
        free(src);
        free(dst);
    }
    closedir(d);
    return root;
}

/* ---- Reading ---- */

struct scan {
    size_t n;
    size_t types[256];
    bool ascending;
    int rc;
    char *msg;
    bool found;       /* `want` was seen */
    const char *want; /* a key to look for */
    size_t want_len;
    uint8_t sync_run[128]; /* the 03 06 value's first bytes */
    size_t sync_run_len;
};

static void scan(const char *dir, struct scan *s)
{
    memset(s->types, 0, sizeof(s->types));
    s->n = 0;
    s->ascending = true;
    s->found = false;
    s->msg = NULL;
    pebble_db *db = NULL;
    pebble_iter *it = NULL;
    s->rc = pebble_open(dir, &db, &s->msg);
    if (s->rc < 0)
        return;
    s->rc = pebble_iter_new(db, &it, &s->msg);
    if (s->rc < 0) {
        pebble_close(db);
        return;
    }
    uint8_t *prev = NULL;
    size_t plen = 0;
    const void *k, *v;
    size_t kl, vl;
    while ((s->rc = pebble_iter_next(it, &k, &kl, &v, &vl, &s->msg)) == 1) {
        const uint8_t *kk = k;
        if (prev) {
            int c = memcmp(prev, kk, plen < kl ? plen : kl);
            if (c > 0 || (c == 0 && plen >= kl))
                s->ascending = false;
        }
        free(prev);
        prev = malloc(kl ? kl : 1);
        memcpy(prev, kk, kl);
        plen = kl;
        s->n++;
        if (kl >= 2)
            s->types[kk[1]]++;
        if (s->want && kl == s->want_len && memcmp(kk, s->want, kl) == 0)
            s->found = true;
        if (kl == 2 && kk[0] == 3 && kk[1] == 6) {
            s->sync_run_len = vl < sizeof(s->sync_run) ? vl : sizeof(s->sync_run);
            memcpy(s->sync_run, v, s->sync_run_len);
        }
    }
    /* a second call after the end or an error returns the same */
    char *m2 = NULL;
    int again = pebble_iter_next(it, &k, &kl, &v, &vl, &m2);
    assert_int_equal(again, s->rc);
    free(m2);
    free(prev);
    pebble_iter_free(it);
    pebble_close(db);
}

static void expect_error(const char *dir, int code, const char *needle1, const char *needle2)
{
    struct scan s = {0};
    scan(dir, &s);
    if (s.rc != code || !s.msg || !strstr(s.msg, needle1) || (needle2 && !strstr(s.msg, needle2)))
        fail_msg("expected %d naming '%s' and '%s', got %d: %s", code, needle1,
                 needle2 ? needle2 : "", s.rc, s.msg ? s.msg : "(no message)");
    free(s.msg);
}

/* The number of point entries (every kind) in one table file. */
static size_t table_rows(const char *dir, const char *name, const char *first_prefix,
                         size_t prefix_len)
{
    char *path = tu_join(dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    struct pebble_table *t;
    char *msg = NULL;
    assert_int_equal(pebble_table_open(dup(fileno(f)), path, &t, &msg), 0);
    fclose(f);
    const uint8_t *k, *v;
    size_t kl, vl, n = 0;
    uint64_t seq;
    unsigned kind;
    int rc;
    while ((rc = pebble_table_next(t, &k, &kl, &seq, &kind, &v, &vl, &msg)) == 1) {
        if (first_prefix)
            assert_memory_equal(k, first_prefix, prefix_len);
        n++;
    }
    assert_int_equal(rc, 0);
    pebble_table_close(t);
    free(path);
    return n;
}

/* ---- The sample ---- */

static void test_sample_live_keys(void **state)
{
    (void)state;
    NEED_SAMPLE();
    struct scan s = {0};
    /* a grant of the sample (v3 keys: tuple elements separated by 00) */
    static const char grant[] = "\x03\x04\x00group\x00group-0000000\x00"
                                "1\x00"
                                "admin\x00user\x00user-0000000";
    s.want = grant;
    s.want_len = sizeof(grant) - 1;
    scan(sample_dir, &s);
    if (s.rc != 0)
        fail_msg("%d: %s", s.rc, s.msg);
    /* C1Z3.md: 169,162 live keys; per bucket as the v1 twin */
    assert_int_equal(s.n, 169162);
    assert_true(s.ascending);
    assert_int_equal(s.types[0x01], 4);           /* resource_types */
    assert_int_equal(s.types[0x02], 35217);       /* resources */
    assert_int_equal(s.types[0x03], 334);         /* entitlements */
    assert_int_equal(s.types[0x04], 66601);       /* grants */
    assert_int_equal(s.types[0x05], 0);           /* assets */
    assert_int_equal(s.types[0x06], 1);           /* sync_runs */
    assert_int_equal(s.types[0x07], 66601 + 401); /* indexes 04 and 05 */
    assert_int_equal(s.types[0xff], 3);           /* engine meta */
    assert_true(s.found);
    /* the sync run record names the sync: field 1, 27 bytes */
    assert_true(s.sync_run_len > 29);
    assert_int_equal(s.sync_run[0], 0x0a);
    assert_int_equal(s.sync_run[1], 27);
    assert_memory_equal(s.sync_run + 2, "36zGvJw3uxU1QMJKU2yPVQ1hBOC", 27);
}

/* The sample's L0 table 000031 deletes [03 07 02, 03 07 04) and [03 07 06,
 * 03 07 08) at seqnums 35-38; table 000011 (L6, ingested at seqnum 19) holds
 * only 03 07 02 keys: all of them are physically there and none is live. */
static void test_range_deletion_applied(void **state)
{
    (void)state;
    NEED_SAMPLE();
    static const char first[] = "\x03\x07\x02\x00group\x00group-0000000\x00group:group-0000000:"
                                "admin";
    size_t rows = table_rows(sample_dir, "000011.sst", "\x03\x07\x02", 3);
    assert_true(rows > 0);
    struct scan s = {0};
    s.want = first;
    s.want_len = sizeof(first) - 1;
    scan(sample_dir, &s);
    assert_int_equal(s.rc, 0);
    assert_false(s.found);
    /* only indexes 04 and 05 survive of type 07 (second key byte 07) */
    assert_int_equal(s.types[0x07], 66601 + 401);
}

/* ---- Appending version edits to the sample's MANIFEST ---- */

struct enc {
    uint8_t b[512];
    size_t n;
};

static void put_uv(struct enc *e, uint64_t v)
{
    while (v >= 0x80) {
        e->b[e->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    e->b[e->n++] = (uint8_t)v;
}

static void put_bytes(struct enc *e, const void *p, size_t n)
{
    put_uv(e, n);
    memcpy(e->b + e->n, p, n);
    e->n += n;
}

/* An internal key: user key, then the LE trailer seq << 8 | SET. */
static void put_ikey(struct enc *e, const char *user, size_t n, uint64_t seq)
{
    uint8_t k[128];
    memcpy(k, user, n);
    uint64_t t = seq << 8 | 1;
    for (int i = 0; i < 8; i++)
        k[n + (size_t)i] = (uint8_t)(t >> (8 * i));
    put_bytes(e, k, n + 8);
}

/* Appends e as one full record (chunk type 1) to dir's MANIFEST. */
static void append_edit(const char *dir, const struct enc *e)
{
    char *path = tu_join(dir, MANIFEST);
    size_t len;
    uint8_t *old = slurp(path, &len);
    assert_non_null(old);
    assert_true(len % 32768 + 7 + e->n <= 32768); /* stays in the block */
    uint8_t *buf = malloc(len + 7 + e->n);
    memcpy(buf, old, len);
    uint8_t *h = buf + len;
    h[4] = (uint8_t)e->n;
    h[5] = (uint8_t)(e->n >> 8);
    h[6] = 1;
    memcpy(h + 7, e->b, e->n);
    uint32_t crc = pebble_crc_mask(pebble_crc32c(0, h + 6, 1 + e->n));
    for (int i = 0; i < 4; i++)
        h[i] = (uint8_t)(crc >> (8 * i));
    tu_write_file(path, buf, len + 7 + e->n);
    free(buf);
    free(old);
    free(path);
}

/* A new-table entry (tag 103) with custom fields; backing 0: physical. */
static void put_new_table(struct enc *e, int level, uint64_t num, const char *lo, size_t lon,
                          const char *hi, size_t hin, uint64_t sseq, uint64_t lseq,
                          uint64_t backing)
{
    put_uv(e, 103);
    put_uv(e, (uint64_t)level);
    put_uv(e, num);
    put_uv(e, 1000); /* size */
    put_ikey(e, lo, lon, sseq);
    put_ikey(e, hi, hin, lseq);
    put_uv(e, sseq);
    put_uv(e, lseq);
    if (backing) {
        put_uv(e, 66);
        put_uv(e, backing);
    }
    put_uv(e, 1);
}

/* Re-adding ingested table 000011 at seqnum 50 puts its keys above the range
 * deletions (35-38): they come back, so its MANIFEST seqnum is what counts (the
 * keys in the file carry seqnum 0). */
static void test_ingested_seqnum(void **state)
{
    (void)state;
    NEED_SAMPLE();
    char *dir = copy_sample();
    size_t rows = table_rows(dir, "000011.sst", NULL, 0);
    struct enc e = {.n = 0};
    put_uv(&e, 6); /* delete L6 000011 */
    put_uv(&e, 6);
    put_uv(&e, 11);
    put_new_table(&e, 6, 11, "\x03\x07\x02", 3, "\x03\x07\x02\xff", 4, 50, 50, 0);
    append_edit(dir, &e);
    struct scan s = {0};
    scan(dir, &s);
    if (s.rc != 0)
        fail_msg("%d: %s", s.rc, s.msg);
    assert_int_equal(s.n, 169162 + rows);
    assert_true(s.ascending);
    tu_rmtree(dir);
}

/* Virtual table 000027 shows only 03 06 of its backing 000018 (which also has
 * the 03 ff keys).  Replacing it with a view of backing 000018 bounded to
 * [03 ff keyspace_version] hides the sync run (the lower bound); one bounded
 * to [03 06] hides keyspace_version (the upper bound). */
static void test_virtual_bounds(void **state)
{
    (void)state;
    NEED_SAMPLE();
    char *dir = copy_sample();
    struct enc e = {.n = 0};
    static const char ksv[] = "\x03\xffkeyspace_version";
    put_uv(&e, 6); /* delete L0 000027 (virtual, [03 06]) */
    put_uv(&e, 0);
    put_uv(&e, 27);
    put_new_table(&e, 0, 40, ksv, sizeof(ksv) - 1, ksv, sizeof(ksv) - 1, 10, 26, 18);
    append_edit(dir, &e);
    struct scan s = {0};
    scan(dir, &s);
    if (s.rc != 0)
        fail_msg("%d: %s", s.rc, s.msg);
    assert_int_equal(s.types[0x06], 0);
    assert_int_equal(s.n, 169162 - 1);
    tu_rmtree(dir);

    /* Both views replaced by one bounded to [03 06]: keyspace_version (only in
     * 000018) goes; stats stays (L0 000031 has a newer one). */
    dir = copy_sample();
    e.n = 0;
    put_uv(&e, 6);
    put_uv(&e, 0);
    put_uv(&e, 27);
    put_uv(&e, 6);
    put_uv(&e, 0);
    put_uv(&e, 28);
    put_new_table(&e, 0, 41, "\x03\x06", 2, "\x03\x06", 2, 10, 26, 18);
    append_edit(dir, &e);
    s.want = ksv;
    s.want_len = sizeof(ksv) - 1;
    scan(dir, &s);
    if (s.rc != 0)
        fail_msg("%d: %s", s.rc, s.msg);
    assert_false(s.found);
    assert_int_equal(s.types[0x06], 1);
    assert_int_equal(s.types[0xff], 2);
    assert_int_equal(s.n, 169162 - 1);
    tu_rmtree(dir);
}

static void test_manifest_names_missing_table(void **state)
{
    (void)state;
    NEED_SAMPLE();
    char *dir = copy_sample();
    struct enc e = {.n = 0};
    put_new_table(&e, 6, 99, "\x05", 1, "\x06", 1, 41, 41, 0);
    append_edit(dir, &e);
    expect_error(dir, -ENOENT, "000099.sst", MANIFEST);
    tu_rmtree(dir);
    /* and a file of the sample removed */
    dir = copy_sample();
    char *p = tu_join(dir, "000005.sst");
    assert_int_equal(unlink(p), 0);
    free(p);
    expect_error(dir, -ENOENT, "000005.sst", "missing");
    tu_rmtree(dir);
}

static void test_manifest_refusals(void **state)
{
    (void)state;
    NEED_SAMPLE();
    struct {
        uint64_t tag;
        int code;
        const char *needle;
    } cases[] = {
        {99, -ENOTSUP, "unknown version-edit tag 99"},
        {104, -ENOTSUP, "range keys"},
        {107, -ENOTSUP, "blob files"},
        {200, -ENOTSUP, "column families"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = copy_sample();
        struct enc e = {.n = 0};
        put_uv(&e, cases[i].tag);
        put_uv(&e, 0);
        append_edit(dir, &e);
        expect_error(dir, cases[i].code, cases[i].needle, MANIFEST);
        tu_rmtree(dir);
    }
    /* custom fields that change the keys: refused */
    char *dir = copy_sample();
    struct enc e = {.n = 0};
    put_uv(&e, 103);
    put_uv(&e, 6);
    put_uv(&e, 41);
    put_uv(&e, 10);
    put_ikey(&e, "\x05", 1, 41);
    put_ikey(&e, "\x06", 1, 41);
    put_uv(&e, 41);
    put_uv(&e, 41);
    put_uv(&e, 67); /* synthetic prefix */
    put_bytes(&e, "p", 1);
    put_uv(&e, 1);
    append_edit(dir, &e);
    expect_error(dir, -ENOTSUP, "synthetic key prefix", "000041");
    tu_rmtree(dir);
    /* deleting a table that is not there: corrupt */
    dir = copy_sample();
    e.n = 0;
    put_uv(&e, 6);
    put_uv(&e, 3);
    put_uv(&e, 5);
    append_edit(dir, &e);
    expect_error(dir, -EINVAL, "000005", "level 3");
    tu_rmtree(dir);
}

/* ---- Corruption ---- */

static void flip(const char *dir, const char *name, long off)
{
    char *p = tu_join(dir, name);
    size_t len;
    uint8_t *d = slurp(p, &len);
    assert_non_null(d);
    size_t at = off < 0 ? len - (size_t)(-off) : (size_t)off;
    assert_true(at < len);
    d[at] ^= 0x40;
    tu_write_file(p, d, len);
    free(d);
    free(p);
}

static void test_checksum_flip(void **state)
{
    (void)state;
    NEED_SAMPLE();
    /* a byte in a data block of 000005.sst (the first block starts at 0) */
    char *dir = copy_sample();
    flip(dir, "000005.sst", 1000);
    expect_error(dir, -EINVAL, "000005.sst", "checksum mismatch in data block");
    tu_rmtree(dir);
    /* the footer */
    dir = copy_sample();
    flip(dir, "000005.sst", -30);
    expect_error(dir, -EINVAL, "000005.sst", "footer");
    tu_rmtree(dir);
    /* the MANIFEST */
    dir = copy_sample();
    flip(dir, MANIFEST, 100);
    expect_error(dir, -EINVAL, MANIFEST, "checksum mismatch");
    tu_rmtree(dir);
}

static void truncate_file(const char *dir, const char *name, size_t keep)
{
    char *p = tu_join(dir, name);
    assert_int_equal(truncate(p, (off_t)keep), 0);
    free(p);
}

static void test_truncated(void **state)
{
    (void)state;
    NEED_SAMPLE();
    size_t keeps[] = {0, 30, 100000, 1907194 - 1};
    for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++) {
        char *dir = copy_sample();
        truncate_file(dir, "000005.sst", keeps[i]);
        expect_error(dir, -EINVAL, "000005.sst", NULL);
        tu_rmtree(dir);
    }
    char *dir = copy_sample();
    truncate_file(dir, MANIFEST, 2000);
    expect_error(dir, -EINVAL, MANIFEST, "truncated");
    tu_rmtree(dir);
}

static uint64_t get_uv(const uint8_t **q)
{
    uint64_t v = 0;
    for (int s = 0;; s += 7) {
        uint8_t c = *(*q)++;
        v |= (uint64_t)(c & 0x7f) << s;
        if (c < 0x80)
            return v;
    }
}

/* Rewrites the compression byte of 000004.sst's metaindex block (found from
 * the footer) with a valid checksum: the type alone must refuse it. */
static void set_compression(const char *dir, uint8_t type)
{
    char *p = tu_join(dir, "000004.sst");
    size_t len;
    uint8_t *d = slurp(p, &len);
    const uint8_t *q = d + len - 61 + 1; /* after the checksum type */
    uint64_t off = get_uv(&q), blen = get_uv(&q);
    assert_true(off + blen + 5 <= len - 61);
    d[off + blen] = type;
    uint32_t crc = pebble_crc_mask(pebble_crc32c(0, d + off, blen + 1));
    for (int i = 0; i < 4; i++)
        d[off + blen + 1 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    tu_write_file(p, d, len);
    free(d);
    free(p);
}

static void test_unsupported_compression(void **state)
{
    (void)state;
    NEED_SAMPLE();
    struct {
        uint8_t type;
        const char *name;
    } cases[] = {{7, "zstd"}, {8, "MinLZ"}, {4, "lz4"}, {42, "unknown"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *dir = copy_sample();
        set_compression(dir, cases[i].type);
        expect_error(dir, -ENOTSUP, "000004.sst", cases[i].name);
        tu_rmtree(dir);
    }
}

static void test_directory_refusals(void **state)
{
    (void)state;
    NEED_SAMPLE();
    /* a non-empty WAL */
    char *dir = copy_sample();
    char *p = tu_join(dir, "000030.log");
    tu_write_file(p, "x", 1);
    free(p);
    expect_error(dir, -ENOTSUP, "000030.log", "WAL");
    tu_rmtree(dir);
    /* another format major version */
    dir = copy_sample();
    char *a = tu_join(dir, "marker.format-version.000001.024");
    char *b = tu_join(dir, "marker.format-version.000002.025");
    assert_int_equal(rename(a, b), 0);
    free(a);
    free(b);
    expect_error(dir, -ENOTSUP, "format major version 25", NULL);
    tu_rmtree(dir);
    /* another comparer in OPTIONS */
    dir = copy_sample();
    p = tu_join(dir, "OPTIONS-000023");
    char *opt;
    size_t len;
    assert_int_equal(tu_read_file(p, &opt, &len), 0);
    char *c = strstr(opt, "comparer=leveldb.BytewiseComparator");
    assert_non_null(c);
    memcpy(c + 9, "cockroach_comparator", 20);
    tu_write_file(p, opt, len);
    free(opt);
    free(p);
    expect_error(dir, -ENOTSUP, "OPTIONS-000023", "comparer 'cockroach_comparator");
    tu_rmtree(dir);
    /* no MANIFEST marker: not a Pebble database */
    dir = copy_sample();
    p = tu_join(dir, "marker.manifest.000001.MANIFEST-000021");
    assert_int_equal(unlink(p), 0);
    free(p);
    expect_error(dir, -EINVAL, "not a Pebble database", NULL);
    tu_rmtree(dir);
}

/* ---- The columnar decoders on hand-built columns ---- */

static void test_colblk_uints(void **state)
{
    (void)state;
    /* delta width 1: base 1000, values +0 +5 +255 */
    uint8_t b[32] = {0x81, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0, 5, 255};
    struct col_uints u;
    uint32_t end;
    assert_int_equal(col_uints_decode(b, 0, 12, 3, &u, &end), 0);
    assert_int_equal(end, 12);
    assert_int_equal(col_uints_at(&u, 0), 1000);
    assert_int_equal(col_uints_at(&u, 1), 1005);
    assert_int_equal(col_uints_at(&u, 2), 1255);
    assert_int_equal(col_uints_decode(b, 0, 11, 3, &u, &end), -EINVAL); /* truncated */
    /* width 2 at offset 2: the values align to 2, so they start at 4 */
    uint8_t c[8] = {0xee, 0xee, 0x02, 0, 0x34, 0x12, 0xff, 0xff};
    assert_int_equal(col_uints_decode(c, 2, 8, 2, &u, &end), 0);
    assert_int_equal(end, 8);
    assert_int_equal(col_uints_at(&u, 0), 0x1234);
    assert_int_equal(col_uints_at(&u, 1), 0xffff);
    /* constant: delta width 0, no data (fuzz_c1z3's first finding: reading
     * one computed NULL + 0, undefined behaviour that clang's UBSan reports) */
    uint8_t k[9] = {0x80, 7};
    assert_int_equal(col_uints_decode(k, 0, 9, 5, &u, &end), 0);
    assert_null(u.p);
    assert_int_equal(col_uints_at(&u, 0), 7);
    assert_int_equal(col_uints_at(&u, 4), 7);
    /* bad widths */
    uint8_t w3[4] = {3, 0, 0, 0}, d8[16] = {0x88};
    assert_int_equal(col_uints_decode(w3, 0, 4, 1, &u, &end), -EINVAL);
    assert_int_equal(col_uints_decode(d8, 0, 16, 1, &u, &end), -EINVAL);
}

static void test_colblk_bytes_and_prefix(void **state)
{
    (void)state;
    /* bytes: 3 slices "ab", "", "cde": offsets 0,2,2,5 (width 1) then data */
    uint8_t b[] = {1, 0, 2, 2, 5, 'a', 'b', 'c', 'd', 'e'};
    struct col_bytes r;
    uint32_t end;
    const uint8_t *p;
    size_t n;
    assert_int_equal(col_bytes_decode(b, 0, sizeof(b), 3, &r, &end), 0);
    assert_int_equal(end, sizeof(b));
    col_bytes_at(&r, 0, &p, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "ab", 2);
    col_bytes_at(&r, 1, &p, &n);
    assert_int_equal(n, 0);
    col_bytes_at(&r, 2, &p, &n);
    assert_memory_equal(p, "cde", 3);
    assert_int_equal(col_bytes_decode(b, 0, sizeof(b) - 1, 3, &r, &end), -EINVAL);
    uint8_t down[] = {1, 0, 3, 2, 5, 'a', 'b', 'c', 'd', 'e'}; /* offsets descend */
    assert_int_equal(col_bytes_decode(down, 0, sizeof(down), 3, &r, &end), -EINVAL);

    /* prefix bytes, bundle shift 2 (four rows a bundle), keys "app", "apple",
     * "apple" (a duplicate: an empty suffix repeats the key before it),
     * "apricot": shared prefix "ap", bundle 0 prefix "", then the rows'
     * suffixes "p", "ple", "", "ricot". */
    const char *keys[] = {"app", "apple", "apple", "apricot"};
    const char *sl[] = {"", "p", "ple", "", "ricot"}; /* bundle prefix, rows */
    uint8_t pb[64];
    size_t o = 0;
    pb[o++] = 2; /* shift */
    pb[o++] = 1; /* offsets: width 1, 4 rows + 1 bundle + 1 */
    uint8_t offs[6];
    uint8_t data[32];
    size_t dn = 2;
    memcpy(data, "ap", 2);
    offs[0] = 2;
    for (int i = 0; i < 5; i++) {
        memcpy(data + dn, sl[i], strlen(sl[i]));
        dn += strlen(sl[i]);
        offs[i + 1] = (uint8_t)dn;
    }
    memcpy(pb + o, offs, 6);
    o += 6;
    memcpy(pb + o, data, dn);
    o += dn;
    struct col_prefix px;
    assert_int_equal(col_prefix_decode(pb, 0, (uint32_t)o, 4, &px), 0);
    for (uint32_t row = 0; row < 4; row++) {
        const uint8_t *part[3];
        size_t pn[3];
        col_prefix_at(&px, row, part, pn);
        char k[32];
        size_t kn = 0;
        for (int i = 0; i < 3; i++) {
            memcpy(k + kn, part[i], pn[i]);
            kn += pn[i];
        }
        assert_int_equal(kn, strlen(keys[row]));
        assert_memory_equal(k, keys[row], kn);
    }
    assert_int_equal(col_prefix_decode(pb, 0, (uint32_t)o - 1, 4, &px), -EINVAL);
}

static void test_colblk_bitmap_and_header(void **state)
{
    (void)state;
    /* bitmap at offset 3: encoding byte, pad to 8, one word, one summary */
    uint8_t b[24] = {0};
    b[3] = 0;
    b[8] = 0x05; /* rows 0 and 2 */
    b[16] = 0x01;
    struct col_bitmap bm;
    assert_int_equal(col_bitmap_decode(b, 3, 24, 10, &bm), 0);
    assert_true(col_bitmap_at(&bm, 0));
    assert_false(col_bitmap_at(&bm, 1));
    assert_true(col_bitmap_at(&bm, 2));
    assert_int_equal(col_bitmap_decode(b, 3, 23, 10, &bm), -EINVAL);
    uint8_t z[1] = {1}; /* all zero */
    assert_int_equal(col_bitmap_decode(z, 0, 1, 100, &bm), 0);
    assert_false(col_bitmap_at(&bm, 99));
    uint8_t bad[1] = {2};
    assert_int_equal(col_bitmap_decode(bad, 0, 1, 1, &bm), -EINVAL);

    /* header: version 1, one uint column of 2 rows at offset 12 */
    uint8_t blk[] = {1, 1, 0, 2, 0, 0, 0, 2, 12, 0, 0, 0, 1, 4, 9, 0};
    struct colblk c;
    struct col_uints u;
    assert_int_equal(colblk_init(&c, blk, sizeof(blk), 0), 0);
    assert_int_equal(c.rows, 2);
    assert_int_equal(colblk_uints(&c, 0, c.rows, &u), 0);
    assert_int_equal(col_uints_at(&u, 1), 9);
    struct col_bytes r;
    assert_int_equal(colblk_bytes(&c, 0, c.rows, &r), -EINVAL); /* wrong type */
    assert_int_equal(colblk_uints(&c, 1, c.rows, &u), -EINVAL); /* no column 1 */
    blk[0] = 2;
    assert_int_equal(colblk_init(&c, blk, sizeof(blk), 0), -ENOTSUP);
    blk[0] = 1;
    blk[8] = 200; /* column offset past the block */
    assert_int_equal(colblk_init(&c, blk, sizeof(blk), 0), 0);
    assert_int_equal(colblk_uints(&c, 0, c.rows, &u), -EINVAL);
}

static void test_crc32c(void **state)
{
    (void)state;
    /* the CRC32c check value (RFC 3720 B.4: 32 bytes of zeros -> 8a9136aa) */
    uint8_t z[32] = {0};
    assert_int_equal(pebble_crc32c(0, "123456789", 9), 0xe3069283);
    assert_int_equal(pebble_crc32c(0, z, 32), 0x8a9136aa);
    /* incremental equals whole */
    assert_int_equal(pebble_crc32c(pebble_crc32c(0, "12345", 5), "6789", 4), 0xe3069283);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_live_keys),
        cmocka_unit_test(test_range_deletion_applied),
        cmocka_unit_test(test_ingested_seqnum),
        cmocka_unit_test(test_virtual_bounds),
        cmocka_unit_test(test_manifest_names_missing_table),
        cmocka_unit_test(test_manifest_refusals),
        cmocka_unit_test(test_checksum_flip),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_unsupported_compression),
        cmocka_unit_test(test_directory_refusals),
        cmocka_unit_test(test_colblk_uints),
        cmocka_unit_test(test_colblk_bytes_and_prefix),
        cmocka_unit_test(test_colblk_bitmap_and_header),
        cmocka_unit_test(test_crc32c),
    };
    return tu_exit(cmocka_run_group_tests(tests, group_setup, group_teardown));
}
