/*
 * test_c1z3.c - the C1Z3 envelope (c1z3_envelope.h) on the real baton
 * sample: its 17 files unpack with their sizes and hashes; the same
 * directory re-packed here as TAR and TAR_ZSTD (a tar written by this test,
 * behind the sample's manifest with its payload encoding changed) unpacks to
 * the same bytes; and every corruption of a copy of the sample (truncated in
 * each part, a flipped byte in a frame, the index or the manifest, an
 * unknown encoding, engine or version, a manifest length over the cap, bad
 * tar entries) fails with -EINVAL or -ENOTSUP and a message naming the file
 * and the reason.
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

#include <nettle/sha2.h>
#include <xxhash.h>
#include <zstd.h>

#include "buf.h"
#include "c1z3_envelope.h"
#include "testutil.h"

#define SAMPLE "c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z"
#define SAMPLE_SYNC "36zGvJw3uxU1QMJKU2yPVQ1hBOC"

/* The sample's files and sizes, as its index lists them (and as the
 * reference reader, ../shared/reference/c1z3-reader/envelope.py, unpacks
 * them). */
static const struct {
    const char *name;
    long size;
} sample_files[] = {
    {"000004.sst", 985},
    {"000005.sst", 1907194},
    {"000011.sst", 4158},
    {"000012.sst", 608348},
    {"000015.sst", 296371},
    {"000016.sst", 270061},
    {"000018.sst", 982},
    {"000024.sst", 10095},
    {"000025.sst", 1398014},
    {"000026.sst", 427587},
    {"000029.sst", 4298},
    {"000030.log", 0},
    {"000031.sst", 1094},
    {"MANIFEST-000021", 2524},
    {"OPTIONS-000023", 2800},
    {"marker.format-version.000001.024", 0},
    {"marker.manifest.000001.MANIFEST-000021", 0},
};
#define N_SAMPLE_FILES (sizeof(sample_files) / sizeof(sample_files[0]))

struct fx {
    char *dir;    /* removed in teardown */
    char *sample; /* the shared sample */
    uint8_t *data;
    size_t len; /* the sample's bytes */
};

static void *read_whole(const char *path, size_t *len)
{
    char *data = NULL;
    if (tu_read_file(path, &data, len))
        fail_msg("cannot read %s", path);
    return data;
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    fx->dir = tu_mkdtemp();
    fx->sample = tu_shared_data(SAMPLE);
    fx->data = read_whole(fx->sample, &fx->len);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    tu_rmtree(fx->dir);
    free(fx->sample);
    free(fx->data);
    free(fx);
    return 0;
}

/* A new empty directory dir/name; malloc'd path. */
static char *new_dir(struct fx *fx, const char *name)
{
    char *d = tu_join(fx->dir, name);
    if (mkdir(d, 0700))
        fail_msg("mkdir %s: %s", d, strerror(errno));
    return d;
}

/* Writes bytes to dir/name; malloc'd path. */
static char *write_input(struct fx *fx, const char *name, const void *data, size_t len)
{
    char *p = tu_join(fx->dir, name);
    tu_write_file(p, data, len);
    return p;
}

static uint32_t manifest_len(const uint8_t *d)
{
    return (uint32_t)d[5] << 24 | (uint32_t)d[6] << 16 | (uint32_t)d[7] << 8 | d[8];
}

/* Offset of the first occurrence of needle in the sample's manifest. */
static size_t manifest_find(struct fx *fx, const void *needle, size_t nlen)
{
    uint32_t mlen = manifest_len(fx->data);
    for (size_t i = 9; i + nlen <= 9 + mlen; i++)
        if (!memcmp(fx->data + i, needle, nlen))
            return i;
    fail_msg("not in the manifest");
    return 0;
}

/* Unpacks path into a new directory; returns the code, *msg the message. */
static int unpack(struct fx *fx, const char *path, const char *dirname, struct c1z3_manifest *m,
                  char **msg)
{
    char *d = new_dir(fx, dirname);
    *msg = NULL;
    int rc = c1z3_unpack(path, d, m, msg);
    free(d);
    return rc;
}

/* Expects a failure with code want and a message naming path and every
 * given word. */
static void expect_fail(struct fx *fx, const char *path, int want, const char *word1,
                        const char *word2)
{
    static int n;
    char name[32];
    struct c1z3_manifest m;
    char *msg = NULL;
    snprintf(name, sizeof(name), "out-%d", n++);
    int rc = unpack(fx, path, name, &m, &msg);
    if (rc != want)
        fail_msg("%s: got %d (%s), want %d", path, rc, msg ? msg : "", want);
    assert_non_null(msg);
    if (!strstr(msg, path))
        fail_msg("message does not name the file: %s", msg);
    if (word1 && !strstr(msg, word1))
        fail_msg("message lacks '%s': %s", word1, msg);
    if (word2 && !strstr(msg, word2))
        fail_msg("message lacks '%s': %s", word2, msg);
    if (getenv("C1Z3_TEST_VERBOSE"))
        print_message("%d: %s\n", rc, msg);
    assert_null(m.engine);
    free(msg);
}

/* Every sample file is in dir with its size, and nothing else. */
static void check_unpacked(const char *dir)
{
    for (size_t i = 0; i < N_SAMPLE_FILES; i++) {
        char *p = tu_join(dir, sample_files[i].name);
        struct stat st;
        if (stat(p, &st))
            fail_msg("%s missing", p);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, sample_files[i].size);
        free(p);
    }
    assert_int_equal(tu_count_dir(dir), (int)N_SAMPLE_FILES);
}

/* Two directories hold the same files with the same bytes. */
static void check_same_dirs(const char *a, const char *b)
{
    for (size_t i = 0; i < N_SAMPLE_FILES; i++) {
        char *pa = tu_join(a, sample_files[i].name), *pb = tu_join(b, sample_files[i].name);
        size_t la, lb;
        char *da = read_whole(pa, &la), *db = read_whole(pb, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
        free(pa);
        free(pb);
    }
    assert_int_equal(tu_count_dir(a), tu_count_dir(b));
}

/* ---- A tar writer of the test's own (POSIX ustar) ---- */

static void tar_header(struct buf *t, const char *name, char type, uint64_t size,
                       const char *linkname)
{
    char h[512];
    memset(h, 0, sizeof(h));
    snprintf(h, 100, "%s", name);
    snprintf(h + 100, 8, "%07o", 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011llo", (unsigned long long)size);
    snprintf(h + 136, 12, "%011o", 0);
    h[156] = type;
    if (linkname)
        snprintf(h + 157, 100, "%s", linkname);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    buf_add(t, h, sizeof(h));
}

static void tar_pad(struct buf *t)
{
    static const char zero[512];
    if (t->len % 512)
        buf_add(t, zero, 512 - t->len % 512);
}

/* A tar of every sample file in dir, in name order, but `skip`. */
static void tar_dir(struct buf *t, const char *dir, const char *skip)
{
    for (size_t i = 0; i < N_SAMPLE_FILES; i++) {
        if (skip && !strcmp(skip, sample_files[i].name))
            continue;
        char *p = tu_join(dir, sample_files[i].name);
        size_t len;
        char *data = read_whole(p, &len);
        tar_header(t, sample_files[i].name, '0', len, NULL);
        buf_add(t, data, len);
        tar_pad(t);
        free(data);
        free(p);
    }
}

static void tar_end(struct buf *t)
{
    static const char zero[1024];
    buf_add(t, zero, sizeof(zero));
}

/* magic | length | the sample's manifest with payload_encoding = enc | payload. */
static char *envelope(struct fx *fx, const char *name, int enc, const void *payload, size_t plen)
{
    uint32_t mlen = manifest_len(fx->data);
    struct buf b = BUF_INIT;
    buf_add(&b, fx->data, 9 + mlen);
    /* Field 4 (tag 0x20) is one byte, 5, in the sample: patch it in place. */
    size_t at = manifest_find(fx, "\x20\x05", 2);
    b.data[at + 1] = (char)enc;
    buf_add(&b, payload, plen);
    assert_int_equal(buf_error(&b), 0);
    char *p = write_input(fx, name, b.data, b.len);
    buf_release(&b);
    return p;
}

/* One zstd frame with its content checksum, as baton's encoder writes it
 * (klauspost/compress zstd writes the frame checksum by default). */
static void zstd_compress(const struct buf *in, struct buf *out)
{
    size_t cap = ZSTD_compressBound(in->len);
    assert_int_equal(buf_grow(out, cap), 0);
    ZSTD_CCtx *c = ZSTD_createCCtx();
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1)));
    size_t n = ZSTD_compress2(c, out->data, cap, in->data, in->len);
    assert_false(ZSTD_isError(n));
    ZSTD_freeCCtx(c);
    out->len = n;
}

/* The sample unpacked into fx->dir/ref. */
static char *reference_dir(struct fx *fx)
{
    struct c1z3_manifest m;
    char *msg = NULL;
    char *d = new_dir(fx, "ref");
    int rc = c1z3_unpack(fx->sample, d, &m, &msg);
    if (rc)
        fail_msg("%s", msg);
    c1z3_manifest_release(&m);
    return d;
}

/* ---- The sample ---- */

static void test_sample_indexed(void **state)
{
    struct fx *fx = *state;
    struct c1z3_manifest m;
    char *msg = NULL;
    char *d = new_dir(fx, "out");
    int rc = c1z3_unpack(fx->sample, d, &m, &msg);
    if (rc)
        fail_msg("%s", msg);
    check_unpacked(d);
    assert_string_equal(m.engine, "pebble2");
    assert_int_equal(m.engine_schema_version, 24);
    assert_int_equal(m.payload_encoding, C1Z3_INDEXED_ZSTD);
    assert_int_equal(m.n_files, N_SAMPLE_FILES);
    uint64_t total = 0;
    for (size_t i = 0; i < N_SAMPLE_FILES; i++)
        total += (uint64_t)sample_files[i].size;
    assert_int_equal(m.payload_bytes, total);
    /* The descriptor set: a FileDescriptorSet naming records.proto. */
    assert_non_null(m.descriptors);
    assert_true(m.descriptors_len > 1000);
    assert_non_null(memmem(m.descriptors, m.descriptors_len, "c1/storage/v3/records.proto", 27));
    /* sync_runs: the one sync, a full sync, started before it ended. */
    assert_int_equal(m.n_sync_runs, 1);
    assert_string_equal(m.sync_runs[0].sync_id, SAMPLE_SYNC);
    assert_int_equal(m.sync_runs[0].type, 1);
    assert_true(m.sync_runs[0].started.set && m.sync_runs[0].ended.set);
    assert_true(m.sync_runs[0].started.seconds <= m.sync_runs[0].ended.seconds);
    assert_int_equal(m.id_index_format, 2);
    c1z3_manifest_release(&m);
    assert_null(m.engine);
    c1z3_manifest_release(NULL);
    free(d);
}

/* Each file's sha256, computed here, equals the one in the sample's index:
 * the unpacked bytes are the written bytes, not merely the right sizes. */
static void test_sample_hashes(void **state)
{
    struct fx *fx = *state;
    char *d = reference_dir(fx);
    size_t found = 0;
    for (size_t i = 0; i < N_SAMPLE_FILES; i++) {
        char *p = tu_join(d, sample_files[i].name);
        size_t len;
        char *data = read_whole(p, &len);
        uint8_t digest[SHA256_DIGEST_SIZE];
        struct sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, len, (const uint8_t *)data);
        sha256_digest(&c, sizeof(digest), digest);
        /* The index sits before the 28-byte footer; its entries hold the
         * digests as bytes fields. */
        if (memmem(fx->data + fx->len - 28 - 2000, 2000, digest, sizeof(digest)))
            found++;
        free(data);
        free(p);
    }
    assert_int_equal(found, N_SAMPLE_FILES);
    free(d);
}

/* ---- TAR and TAR_ZSTD, re-packed from the sample ---- */

static void test_tar(void **state)
{
    struct fx *fx = *state;
    char *ref = reference_dir(fx);
    struct buf t = BUF_INIT;
    tar_dir(&t, ref, NULL);
    tar_end(&t);
    char *path = envelope(fx, "tar.c1z", C1Z3_TAR, t.data, t.len);
    struct c1z3_manifest m;
    char *msg = NULL;
    int rc = unpack(fx, path, "tar-out", &m, &msg);
    if (rc)
        fail_msg("%s", msg);
    assert_int_equal(m.payload_encoding, C1Z3_TAR);
    assert_int_equal(m.n_files, N_SAMPLE_FILES);
    char *out = tu_join(fx->dir, "tar-out");
    check_unpacked(out);
    check_same_dirs(ref, out);
    c1z3_manifest_release(&m);
    free(out);
    free(path);
    buf_release(&t);
    free(ref);
}

static void test_tar_zstd(void **state)
{
    struct fx *fx = *state;
    char *ref = reference_dir(fx);
    struct buf t = BUF_INIT, z = BUF_INIT;
    tar_dir(&t, ref, NULL);
    tar_end(&t);
    zstd_compress(&t, &z);
    char *path = envelope(fx, "tarzstd.c1z", C1Z3_TAR_ZSTD, z.data, z.len);
    struct c1z3_manifest m;
    char *msg = NULL;
    int rc = unpack(fx, path, "tz-out", &m, &msg);
    if (rc)
        fail_msg("%s", msg);
    assert_int_equal(m.payload_encoding, C1Z3_TAR_ZSTD);
    char *out = tu_join(fx->dir, "tz-out");
    check_unpacked(out);
    check_same_dirs(ref, out);
    c1z3_manifest_release(&m);
    free(out);
    free(path);

    /* Truncated: the zstd stream cut in the middle, and just before its end. */
    char *cut = envelope(fx, "tz-cut.c1z", C1Z3_TAR_ZSTD, z.data, z.len / 2);
    expect_fail(fx, cut, -EINVAL, "truncated", NULL);
    free(cut);
    cut = envelope(fx, "tz-cut2.c1z", C1Z3_TAR_ZSTD, z.data, z.len - 3);
    expect_fail(fx, cut, -EINVAL, "truncated", NULL);
    free(cut);
    /* A corrupt zstd stream: its frame checksum fails. */
    z.data[z.len / 3] ^= 0x55;
    z.data[z.len / 3 + 1] ^= 0x55;
    char *bad = envelope(fx, "tz-bad.c1z", C1Z3_TAR_ZSTD, z.data, z.len);
    expect_fail(fx, bad, -EINVAL, NULL, NULL);
    free(bad);
    buf_release(&t);
    buf_release(&z);
    free(ref);
}

/* Tar payloads that must be refused. */
static void test_tar_bad(void **state)
{
    struct fx *fx = *state;
    char *ref = reference_dir(fx);
    struct buf full = BUF_INIT;
    tar_dir(&full, ref, NULL);
    tar_end(&full);
    const struct {
        const char *name, *linkname;
        char type;
        int want;
        const char *word;
    } cases[] = {
        {"../escape", NULL, '0', -EINVAL, "../escape"},
        {"/etc/passwd", NULL, '0', -EINVAL, "/etc/passwd"},
        {"sub/file", NULL, '0', -EINVAL, "sub/file"},
        {"link", "000004.sst", '2', -ENOTSUP, "symbolic link"},
        {"hard", "000004.sst", '1', -ENOTSUP, "hard link"},
        {"adir", NULL, '5', -ENOTSUP, "directory"},
        {"fifo", NULL, '6', -ENOTSUP, "special file"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf t = BUF_INIT;
        tar_header(&t, cases[i].name, cases[i].type, cases[i].type == '0' ? 3 : 0,
                   cases[i].linkname);
        if (cases[i].type == '0') {
            buf_add(&t, "abc", 3);
            tar_pad(&t);
        }
        tar_end(&t);
        char name[32];
        snprintf(name, sizeof(name), "tarbad-%zu.c1z", i);
        char *p = envelope(fx, name, C1Z3_TAR, t.data, t.len);
        expect_fail(fx, p, cases[i].want, cases[i].word, NULL);
        free(p);
        buf_release(&t);
    }

    /* The same file twice. */
    struct buf t = BUF_INIT;
    tar_header(&t, "x", '0', 1, NULL);
    buf_add(&t, "a", 1);
    tar_pad(&t);
    tar_header(&t, "x", '0', 1, NULL);
    buf_add(&t, "b", 1);
    tar_pad(&t);
    tar_end(&t);
    char *p = envelope(fx, "tar-dup.c1z", C1Z3_TAR, t.data, t.len);
    expect_fail(fx, p, -EINVAL, "twice", NULL);
    free(p);
    buf_release(&t);

    /* Truncated: inside a header, inside a file, before the end marker. */
    p = envelope(fx, "tar-cut1.c1z", C1Z3_TAR, full.data, 100);
    expect_fail(fx, p, -EINVAL, "truncated", NULL);
    free(p);
    p = envelope(fx, "tar-cut2.c1z", C1Z3_TAR, full.data, 512 + 2048 + 512 + 1000);
    expect_fail(fx, p, -EINVAL, "truncated", "000005.sst");
    free(p);
    p = envelope(fx, "tar-cut3.c1z", C1Z3_TAR, full.data, full.len - 1024);
    expect_fail(fx, p, -EINVAL, "end-of-archive", NULL);
    free(p);
    /* A header whose checksum fails. */
    full.data[10] ^= 1;
    p = envelope(fx, "tar-sum.c1z", C1Z3_TAR, full.data, full.len);
    expect_fail(fx, p, -EINVAL, "checksum", NULL);
    free(p);
    full.data[10] ^= 1;
    /* Bytes after the end marker. */
    buf_add(&full, "junk", 4);
    p = envelope(fx, "tar-junk.c1z", C1Z3_TAR, full.data, full.len);
    expect_fail(fx, p, -EINVAL, "after", NULL);
    free(p);
    buf_release(&full);
    free(ref);
}

/* ---- Corrupt copies of the sample ---- */

static void test_truncated(void **state)
{
    struct fx *fx = *state;
    uint32_t mlen = manifest_len(fx->data);
    const struct {
        size_t len;
        const char *word;
    } cuts[] = {
        {0, "bad header"},              /* empty */
        {3, "bad header"},              /* inside the magic */
        {7, "manifest length"},         /* inside the length */
        {9 + mlen / 2, "manifest"},     /* inside the manifest */
        {9 + mlen + 10, "footer"},      /* right after the manifest */
        {9 + mlen + 50000, "footer"},   /* inside a frame */
        {fx->len - 28 - 600, "footer"}, /* inside the index */
        {fx->len - 10, "footer"},       /* inside the footer */
        {fx->len - 1, "footer"},        /* the footer's last byte */
    };
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "cut-%zu.c1z", i);
        char *p = write_input(fx, name, fx->data, cuts[i].len);
        expect_fail(fx, p, -EINVAL, cuts[i].word, NULL);
        free(p);
    }
}

/* A copy of the sample with one byte changed (xor), refused with the words. */
static void flipped(struct fx *fx, size_t at, uint8_t x, int want, const char *w1, const char *w2)
{
    static int n;
    char name[32];
    snprintf(name, sizeof(name), "flip-%d.c1z", n++);
    fx->data[at] ^= x;
    char *p = write_input(fx, name, fx->data, fx->len);
    fx->data[at] ^= x;
    expect_fail(fx, p, want, w1, w2);
    free(p);
}

static void test_flipped(void **state)
{
    struct fx *fx = *state;
    uint32_t mlen = manifest_len(fx->data);
    /* In the frame of 000005.sst (from offset 20256, 373417 bytes): zstd
     * refuses it or a hash does. */
    flipped(fx, 20256 + 200000, 0x40, -EINVAL, "000005.sst", "corrupt");
    /* In the last bytes of a frame (its zstd checksum or last block). */
    flipped(fx, 20256 + 373417 - 2, 0x01, -EINVAL, "000005.sst", "corrupt");
    /* In the index. */
    flipped(fx, fx->len - 28 - 300, 0x01, -EINVAL, "index", "hash mismatch");
    /* In the footer's index hash. */
    flipped(fx, fx->len - 28 + 15, 0x01, -EINVAL, "index", "hash mismatch");
    /* In the manifest's descriptors: only the manifest hash in the index sees it. */
    size_t at = manifest_find(fx, "records.proto", 13);
    flipped(fx, at, 0x20, -EINVAL, "manifest", "hash mismatch");
    (void)mlen;
}

/* The per-file hashes: the index entry of 000004.sst gets a wrong xxh64 or
 * sha256 and the footer the index's new hash, so only the check of the
 * unpacked bytes against the entry can see it (zstd's own checksum holds). */
static void test_file_hashes(void **state)
{
    struct fx *fx = *state;
    char *ref = reference_dir(fx);
    char *p = tu_join(ref, "000004.sst");
    size_t len;
    char *data = read_whole(p, &len);
    uint8_t digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, len, (const uint8_t *)data);
    sha256_digest(&c, sizeof(digest), digest);
    free(data);
    free(p);
    size_t index_off = fx->len - 28 - 2000;
    uint8_t *sha = memmem(fx->data + index_off, 2000, digest, sizeof(digest));
    assert_non_null(sha);
    /* Entry fields: ... 5 raw_xxh64 (tag 0x29, 8 bytes) | 6 raw_sha256 (0x32 0x20, 32). */
    assert_int_equal(sha[-2], 0x32);
    assert_int_equal(sha[-11], 0x29);
    const uint8_t *f = fx->data + fx->len - 28;
    uint64_t ioff = 0;
    for (int i = 0; i < 8; i++)
        ioff = ioff << 8 | f[i];
    uint32_t ilen = (uint32_t)f[8] << 24 | (uint32_t)f[9] << 16 | (uint32_t)f[10] << 8 | f[11];
    const struct {
        uint8_t *at;
        const char *word;
    } cases[] = {{sha + 5, "sha256"}, {sha - 10 + 3, "xxh64"}};
    for (size_t i = 0; i < 2; i++) {
        uint8_t *copy = malloc(fx->len);
        memcpy(copy, fx->data, fx->len);
        copy[cases[i].at - fx->data] ^= 0x01;
        uint64_t h = XXH64(copy + ioff, ilen, 0);
        for (int k = 0; k < 8; k++)
            copy[fx->len - 28 + 12 + k] = (uint8_t)(h >> (56 - 8 * k));
        char name[32];
        snprintf(name, sizeof(name), "hash-%zu.c1z", i);
        char *path = write_input(fx, name, copy, fx->len);
        expect_fail(fx, path, -EINVAL, "000004.sst", cases[i].word);
        free(path);
        free(copy);
    }
    free(ref);
}

/* The manifest's fields, patched in place (same lengths). */
static void test_manifest_refused(void **state)
{
    struct fx *fx = *state;
    size_t enc = manifest_find(fx, "\x20\x05", 2) + 1;
    size_t ver = manifest_find(fx, "\x10\x18", 2) + 1;
    size_t eng = manifest_find(fx, "pebble2", 7) + 6;
    flipped(fx, enc, 5 ^ 7, -EINVAL, "payload encoding 7", NULL);
    flipped(fx, enc, 5 ^ 3, -EINVAL, "payload encoding 3", NULL);
    flipped(fx, enc, 5 ^ 0, -EINVAL, "payload encoding 0", NULL);
    flipped(fx, ver, 0x18 ^ 0x19, -EINVAL, "version 25", NULL);
    flipped(fx, eng, '2' ^ '9', -EINVAL, "pebble9", NULL);
    /* A manifest length over 16 MiB, and a file shorter than its manifest. */
    uint8_t saved[4];
    memcpy(saved, fx->data + 5, 4);
    memcpy(fx->data + 5, "\x01\x00\x00\x01", 4);
    char *p = write_input(fx, "big.c1z", fx->data, fx->len);
    expect_fail(fx, p, -EINVAL, "16 MiB", NULL);
    free(p);
    memcpy(fx->data + 5, "\x00\xff\x00\x00", 4);
    p = write_input(fx, "long.c1z", fx->data, fx->len);
    expect_fail(fx, p, -EINVAL, "truncated", NULL);
    free(p);
    memcpy(fx->data + 5, saved, 4);
    /* Not a C1Z3 file at all. */
    p = write_input(fx, "v1.c1z", "C1ZF\0rest", 9);
    expect_fail(fx, p, -EINVAL, "not a C1Z3 file", NULL);
    free(p);
}

static void test_missing_inputs(void **state)
{
    struct fx *fx = *state;
    struct c1z3_manifest m;
    char *msg = NULL;
    char *nofile = tu_join(fx->dir, "nope.c1z");
    int rc = unpack(fx, nofile, "o1", &m, &msg);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(msg, nofile));
    free(msg);
    msg = NULL;
    char *nodir = tu_join(fx->dir, "no-such-dir");
    rc = c1z3_unpack(fx->sample, nodir, &m, &msg);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(msg, nodir));
    free(msg);
    msg = NULL;
    rc = unpack(fx, fx->dir, "o2", &m, &msg);
    assert_int_equal(rc, -EISDIR);
    free(msg);
    free(nodir);
    free(nofile);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sample_indexed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sample_hashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_hashes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_inputs, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
