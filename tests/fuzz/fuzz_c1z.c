/*
 * fuzz_c1z.c - libFuzzer target for the c1z reader (tools/formats/c1z.c, c1z_v1.c): the
 * header check, the zstd stream decompression and the SQLite walk of import.
 *
 * Input: one flag byte, then the body.  Flag bit 0 clear: the body is a c1z
 * file as it would be on disk.  Set: the body is a SQLite database image, and
 * the fuzzer wraps it into a c1z file itself (the header and one zstd frame),
 * so that mutations reach SQLite and the table walk instead of dying in zstd.
 * Bit 1: import only the sync "s1" (the named-sync path).
 *
 * Step 1, c1z_decompress() from memory into a memfd, capped at 1 MiB so that
 * the fuzzer never fills a disk: an error carries a message; at most the cap
 * is written; and the streaming decoder agrees with libzstd's one-shot
 * ZSTD_decompress() on the body: what it accepts, one-shot decodes to the
 * same bytes, and a body one-shot decodes within the cap is not called
 * truncated or too big (one-shot may accept more: it ignores window sizes).
 *
 * Step 2, when step 1 succeeded: the real c1z_v1_import() of the same bytes into
 * an in-memory engine (fake_engine.c, which checks every SST file the loader
 * writes).  A failure carries a message, leaves stats empty and commits
 * nothing.  A success commits once; its figures add up (three records per
 * grant, one per other row); every stored key is a valid on-disk key of an
 * imported sync and one of the import's buckets; every record value is a JSON
 * object without duplicate names whose "type" matches its table, and index
 * entries are empty.
 */
#include "c1z.h"
#include "c1z_i.h"
#include "engine.h"
#include "fake_engine.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

#define OUT_MAX (1u << 20)
#define MAGIC "C1ZF\0"
#define MAGIC_LEN 5

static char *one_shot; /* OUT_MAX + 1 bytes */
static char *streamed; /* OUT_MAX bytes */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    one_shot = malloc(OUT_MAX + 1);
    streamed = malloc(OUT_MAX);
    CHECK(one_shot && streamed);
    /* Import's temporary SQLite files: in memory when possible. */
    if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    return 0;
}

static int memfd_with(const void *data, size_t len)
{
    int fd = memfd_create("fuzz-c1z", MFD_CLOEXEC);
    CHECK(fd >= 0);
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        CHECK(n > 0);
        p += n;
        len -= (size_t)n;
    }
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

/* Step 1; returns the result of c1z_decompress(). */
static int check_decompress(const char *file, size_t file_len)
{
    int in = memfd_with(file, file_len);
    FILE *f = fdopen(in, "rb");
    CHECK(f);
    int out = memfd_create("fuzz-c1z-out", MFD_CLOEXEC);
    CHECK(out >= 0);
    char *msg = NULL;
    int rc = c1z_decompress(f, "fuzz.c1z", out, "out", OUT_MAX, &msg);
    fclose(f);
    off_t out_len = lseek(out, 0, SEEK_CUR);
    CHECK(out_len >= 0 && out_len <= OUT_MAX);
    if (rc) {
        CHECK(rc < 0 && msg);
    } else {
        CHECK(!msg);
        CHECK(pread(out, streamed, (size_t)out_len, 0) == out_len);
    }
    close(out);

    int v1 = file_len >= MAGIC_LEN && !memcmp(file, MAGIC, MAGIC_LEN);
    if (!v1) {
        CHECK(rc == -EINVAL || rc == -ENOTSUP);
    } else if (file_len > MAGIC_LEN) {
        size_t r = ZSTD_decompress(one_shot, OUT_MAX + 1, file + MAGIC_LEN, file_len - MAGIC_LEN);
        /* The one-shot decoder is laxer: it enforces no window size, so it
         * takes frames whose matches reach further back than their window,
         * which the streaming one calls corrupt.  But what the streaming side
         * accepts, one-shot decodes to the same bytes; and a body one-shot
         * decodes whole within the cap is neither truncated nor too big. */
        if (rc == 0)
            CHECK(!ZSTD_isError(r) && r == (size_t)out_len && !memcmp(one_shot, streamed, r));
        else if (!ZSTD_isError(r) && r <= OUT_MAX)
            CHECK(rc != -EFBIG && !strstr(msg, "truncated"));
    }
    free(msg);
    return rc;
}

static const struct {
    const char *bucket, *type;
} kinds[] = {
    {"resource_types", "resource_type"},
    {"resources", "resource"},
    {"entitlements", "entitlement"},
    {"grants", "grant"},
    {"assets", "asset"},
    {"sync_runs", "sync_run"},
    {"connector_sessions", "connector_session"},
    {"grants_by_entitlement", NULL},
    {"grants_by_principal", NULL},
};

static void check_record(const struct c1z_stats *st, const char *key, size_t key_len,
                         const char *value, size_t value_len)
{
    struct engine_key_parts p;
    CHECK(engine_key_decode(key, key_len, &p, NULL) == 0);
    int sync_found = 0;
    for (size_t i = 0; i < st->n_syncs; i++)
        if (strlen(st->syncs[i].sync_id) == p.sync_id_len &&
            !memcmp(st->syncs[i].sync_id, p.sync_id, p.sync_id_len))
            sync_found = 1;
    CHECK(sync_found);
    size_t kind = sizeof kinds / sizeof *kinds;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strlen(kinds[i].bucket) == p.bucket_len &&
            !memcmp(kinds[i].bucket, p.bucket, p.bucket_len))
            kind = i;
    CHECK(kind < sizeof kinds / sizeof *kinds);
    if (!kinds[kind].type) {
        CHECK(value_len == 0);
        return;
    }
    json_error_t err;
    json_t *v = json_loadb(value, value_len, JSON_REJECT_DUPLICATES, &err);
    CHECK(v && json_is_object(v));
    json_t *type = json_object_get(v, "type");
    CHECK(type && json_is_string(type) && !strcmp(json_string_value(type), kinds[kind].type));
    json_decref(v);
}

/* Step 2. */
static void check_import(const char *file, size_t file_len, int named)
{
    int in = memfd_with(file, file_len);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", in);
    engine *e = fake_engine_new();
    const char *const names[] = {"s1"};
    struct c1z_stats st;
    char *msg = NULL;
    int rc = c1z_v1_import(e, path, named ? names : NULL, named ? 1 : 0, NULL, &st, &msg);
    close(in);
    if (rc) {
        CHECK(rc < 0 && msg);
        CHECK(st.n_syncs == 0 && !st.syncs && st.rows == 0 && st.records == 0);
        CHECK(fake_engine_commits(e) == 0 && fake_engine_count(e) == 0);
        free(msg);
        fake_engine_free(e);
        return;
    }
    CHECK(!msg);
    CHECK(fake_engine_commits(e) == 1);
    if (named)
        CHECK(st.n_syncs == 1 && !strcmp(st.syncs[0].sync_id, "s1"));
    uint64_t rows = 0, table_rows[C1Z_TABLE_COUNT] = {0};
    for (size_t i = 0; i < st.n_syncs; i++) {
        CHECK(engine_check_sync_id(st.syncs[i].sync_id, strlen(st.syncs[i].sync_id), NULL) == 0);
        if (i)
            CHECK(strcmp(st.syncs[i - 1].sync_id, st.syncs[i].sync_id) < 0);
        for (int t = 0; t < C1Z_TABLE_COUNT; t++) {
            rows += st.syncs[i].rows[t];
            table_rows[t] += st.syncs[i].rows[t];
        }
    }
    CHECK(rows == st.rows);
    for (int t = 0; t < C1Z_TABLE_COUNT; t++)
        CHECK(table_rows[t] == st.table_rows[t]);
    CHECK(st.records == st.rows + 2 * st.table_rows[C1Z_GRANTS]);
    CHECK(fake_engine_count(e) <= st.records);
    for (size_t i = 0; i < fake_engine_count(e); i++) {
        const char *k, *v;
        size_t kl, vl;
        fake_engine_record(e, i, &k, &kl, &v, &vl);
        check_record(&st, k, kl, v, vl);
    }
    c1z_stats_release(&st);
    fake_engine_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int wrap = data[0] & 1, named = data[0] & 2;
    const char *body = (const char *)data + 1;
    size_t body_len = size - 1;
    char *file = NULL;
    size_t file_len;
    if (wrap) {
        size_t cap = ZSTD_compressBound(body_len);
        file = malloc(MAGIC_LEN + cap);
        CHECK(file);
        memcpy(file, MAGIC, MAGIC_LEN);
        size_t n = ZSTD_compress(file + MAGIC_LEN, cap, body, body_len, 1);
        CHECK(!ZSTD_isError(n));
        file_len = MAGIC_LEN + n;
    } else {
        file = malloc(body_len ? body_len : 1);
        CHECK(file);
        memcpy(file, body, body_len);
        file_len = body_len;
    }
    if (check_decompress(file, file_len) == 0)
        check_import(file, file_len, named);
    free(file);
    return 0;
}
