/*
 * fuzz_keys.c - libFuzzer target for the on-disk key decoder (engine/keys.c).
 *
 * Input: a raw on-disk key, as a damaged store or a foreign SST could hold it.
 * Checks that engine_key_decode() either refuses it with -EINVAL and a message
 * or splits it into parts that pass the data model's checks, lie inside the
 * input, and encode back (engine_key_encode) to exactly the input bytes; and
 * that the key lies inside the ranges engine_range_sync/_bucket/_prefix give
 * for its own sync, bucket and key prefixes.  The validation functions are
 * also run on the whole input with a message, which must then be set.
 */
#include "engine.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static int cmp_bytes(const void *a, size_t al, const void *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* lo <= key < hi */
static int in_range(const char *key, size_t len, const char *lo, size_t lo_len, const char *hi,
                    size_t hi_len)
{
    return cmp_bytes(lo, lo_len, key, len) <= 0 && cmp_bytes(key, len, hi, hi_len) < 0;
}

/* A validation function on arbitrary bytes: 0, or -EINVAL with a message. */
static void check_validator(int rc, char *msg)
{
    CHECK(rc == 0 || rc == -EINVAL);
    CHECK(rc == 0 ? msg == NULL : msg != NULL);
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *k = (const char *)data;
    char *msg = NULL;
    check_validator(engine_check_sync_id(k, size, &msg), msg);
    msg = NULL;
    check_validator(engine_check_bucket(k, size, &msg), msg);
    msg = NULL;
    check_validator(engine_check_key(k, size, &msg), msg);

    struct engine_key_parts p;
    msg = NULL;
    int rc = engine_key_decode(data, size, &p, &msg);
    CHECK(engine_key_decode(data, size, &p, NULL) == rc);
    if (rc) {
        CHECK(rc == -EINVAL && msg);
        free(msg);
        return 0;
    }
    CHECK(!msg);
    CHECK(size <= ENGINE_DISK_KEY_MAX);
    CHECK(data[0] != 0x00 && data[0] != 0xFF);
    CHECK(p.sync_id == k);
    CHECK(p.bucket == p.sync_id + p.sync_id_len + 1 && p.key == p.bucket + p.bucket_len + 1);
    CHECK(p.key + p.key_len == k + size);
    CHECK(engine_check_sync_id(p.sync_id, p.sync_id_len, NULL) == 0);
    CHECK(engine_check_bucket(p.bucket, p.bucket_len, NULL) == 0);
    CHECK(engine_check_key(p.key, p.key_len, NULL) == 0);

    char sync[ENGINE_SYNC_ID_MAX + 1], bucket[ENGINE_BUCKET_MAX + 1];
    memcpy(sync, p.sync_id, p.sync_id_len);
    sync[p.sync_id_len] = '\0';
    memcpy(bucket, p.bucket, p.bucket_len);
    bucket[p.bucket_len] = '\0';
    char again[ENGINE_DISK_KEY_MAX];
    size_t n = engine_key_encode(again, sync, bucket, p.key, p.key_len);
    CHECK(n == size && !memcmp(again, data, size));

    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync, lo, &lo_len, hi, &hi_len);
    CHECK(in_range(k, size, lo, lo_len, hi, hi_len));
    engine_range_bucket(sync, bucket, lo, &lo_len, hi, &hi_len);
    CHECK(in_range(k, size, lo, lo_len, hi, hi_len));
    /* Every prefix of the key, the whole key included, holds the key (the
     * first and last few: the ones in between behave alike). */
    for (size_t plen = 0; plen <= p.key_len; plen++) {
        if (plen == 5 && p.key_len > 10)
            plen = p.key_len - 5;
        int open = engine_range_prefix(sync, bucket, p.key, plen, lo, &lo_len, hi, &hi_len);
        CHECK(open == 0 || open == 1);
        CHECK(in_range(k, size, lo, lo_len, hi, hi_len));
        /* The range holds no key without the prefix: lo is the prefix itself,
         * and hi is no longer than it (its successor, or the bucket's end). */
        CHECK(lo_len == size - p.key_len + plen && !memcmp(lo, k, lo_len));
        CHECK(hi_len <= lo_len);
        if (open)
            for (size_t i = 0; i < plen; i++)
                CHECK((unsigned char)p.key[i] == 0xFF);
    }
    return 0;
}
