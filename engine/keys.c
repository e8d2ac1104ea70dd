/*
 * keys.c - the on-disk key layout and the limits of the data model.
 *
 * A record's on-disk key is  sync_id 0x00 bucket 0x00 key.  Neither sync_id nor
 * bucket may hold a byte <= 0x01, so for any sync S the range
 * [S 0x00, S 0x01) holds exactly S's records: a sync_id that extends S (S="s1",
 * T="s10") continues with a byte >= '-' (0x2D) and sorts after S 0x01.  The same
 * argument makes [S 0x00 B 0x00, S 0x00 B 0x01) exactly bucket B of S.  Keys that
 * begin with 0x00 or 0xFF cannot begin a sync_id, so they hold metadata.
 *
 * Nothing here touches RocksDB: these functions are pure and fuzzable.
 */
#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int engine_check_sync_id(const char *sync_id, size_t len, char **msg)
{
    char q[300];
    if (len == 0)
        return engine_msgf(msg, -EINVAL, "sync_id is empty");
    if (len > ENGINE_SYNC_ID_MAX)
        return engine_msgf(msg, -EINVAL, "sync_id '%s' is %zu bytes long, longer than %d",
                           engine_quote(sync_id, len, 64, q, sizeof q), len, ENGINE_SYNC_ID_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = sync_id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return engine_msgf(msg, -EINVAL,
                               "sync_id '%s' has a byte outside [A-Za-z0-9._-] at offset %zu",
                               engine_quote(sync_id, len, 64, q, sizeof q), i);
    }
    if ((len == 1 && sync_id[0] == '.') || (len == 2 && !memcmp(sync_id, "..", 2)))
        return engine_msgf(msg, -EINVAL, "sync_id '%.*s' is not allowed", (int)len, sync_id);
    if (len == 3 && !memcmp(sync_id, "ctl", 3))
        return engine_msgf(msg, -EINVAL, "sync_id 'ctl' is reserved");
    return 0;
}

int engine_check_bucket(const char *bucket, size_t len, char **msg)
{
    char q[300];
    if (len == 0)
        return engine_msgf(msg, -EINVAL, "bucket name is empty");
    if (len > ENGINE_BUCKET_MAX)
        return engine_msgf(msg, -EINVAL, "bucket '%s' is %zu bytes long, longer than %d",
                           engine_quote(bucket, len, 64, q, sizeof q), len, ENGINE_BUCKET_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = bucket[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return engine_msgf(msg, -EINVAL,
                               "bucket '%s' has a byte outside [a-z0-9_-] at offset %zu",
                               engine_quote(bucket, len, 64, q, sizeof q), i);
    }
    return 0;
}

int engine_check_key(const void *key, size_t len, char **msg)
{
    char q[300];
    if (len == 0)
        return engine_msgf(msg, -EINVAL, "key is empty");
    if (len > ENGINE_KEY_MAX)
        return engine_msgf(msg, -EINVAL, "key '%s' is %zu bytes long, longer than %d",
                           engine_quote(key, len, 64, q, sizeof q), len, ENGINE_KEY_MAX);
    return 0;
}

int engine_check_value_len(size_t len, char **msg)
{
    if (len > ENGINE_VALUE_MAX)
        return engine_msgf(msg, -EINVAL, "value is %zu bytes long, longer than %u (64 MiB)", len,
                           ENGINE_VALUE_MAX);
    return 0;
}

size_t engine_key_encode(char *out, const char *sync_id, const char *bucket, const void *key,
                         size_t key_len)
{
    size_t s = strlen(sync_id), b = strlen(bucket);
    memcpy(out, sync_id, s);
    out[s] = '\0';
    memcpy(out + s + 1, bucket, b);
    out[s + 1 + b] = '\0';
    if (key_len)
        memcpy(out + s + b + 2, key, key_len);
    return s + b + 2 + key_len;
}

int engine_key_decode(const void *disk_key, size_t len, struct engine_key_parts *p, char **msg)
{
    const char *k = disk_key;
    char q[300];
    const char *sep1 = memchr(k, '\0', len);
    if (!sep1)
        return engine_msgf(msg, -EINVAL, "on-disk key '%s' has no separator after the sync_id",
                           engine_quote(k, len, 64, q, sizeof q));
    size_t rest = len - (size_t)(sep1 - k) - 1;
    const char *sep2 = memchr(sep1 + 1, '\0', rest);
    if (!sep2)
        return engine_msgf(msg, -EINVAL, "on-disk key '%s' has no separator after the bucket",
                           engine_quote(k, len, 64, q, sizeof q));
    p->sync_id = k;
    p->sync_id_len = (size_t)(sep1 - k);
    p->bucket = sep1 + 1;
    p->bucket_len = (size_t)(sep2 - sep1 - 1);
    p->key = sep2 + 1;
    p->key_len = len - (size_t)(sep2 + 1 - k);
    int rc;
    char *inner = NULL;
    if ((rc = engine_check_sync_id(p->sync_id, p->sync_id_len, msg ? &inner : NULL)) ||
        (rc = engine_check_bucket(p->bucket, p->bucket_len, msg ? &inner : NULL)) ||
        (rc = engine_check_key(p->key, p->key_len, msg ? &inner : NULL))) {
        if (msg) {
            engine_msgf(msg, rc, "on-disk key '%s': %s", engine_quote(k, len, 64, q, sizeof q),
                        inner ? inner : "invalid");
            free(inner);
        }
        return rc;
    }
    return 0;
}

void engine_range_sync(const char *sync_id, char *lo, size_t *lo_len, char *hi, size_t *hi_len)
{
    size_t s = strlen(sync_id);
    memcpy(lo, sync_id, s);
    lo[s] = '\0';
    memcpy(hi, sync_id, s);
    hi[s] = '\x01';
    *lo_len = *hi_len = s + 1;
}

void engine_range_bucket(const char *sync_id, const char *bucket, char *lo, size_t *lo_len,
                         char *hi, size_t *hi_len)
{
    size_t n = engine_key_encode(lo, sync_id, bucket, NULL, 0);
    memcpy(hi, lo, n);
    hi[n - 1] = '\x01';
    *lo_len = *hi_len = n;
}

int engine_range_prefix(const char *sync_id, const char *bucket, const void *prefix,
                        size_t prefix_len, char *lo, size_t *lo_len, char *hi, size_t *hi_len)
{
    if (prefix_len == 0) {
        engine_range_bucket(sync_id, bucket, lo, lo_len, hi, hi_len);
        return 0;
    }
    size_t n = engine_key_encode(lo, sync_id, bucket, prefix, prefix_len);
    *lo_len = n;
    /* The smallest key greater than every key with this prefix: drop trailing
     * 0xFF bytes, then increment the last byte. */
    size_t base = n - prefix_len;
    size_t m = n;
    while (m > base && (unsigned char)lo[m - 1] == 0xFF)
        m--;
    if (m == base) {
        char bucket_lo[ENGINE_DISK_KEY_MAX + 1];
        size_t bucket_lo_len;
        engine_range_bucket(sync_id, bucket, bucket_lo, &bucket_lo_len, hi, hi_len);
        return 1;
    }
    memcpy(hi, lo, m);
    hi[m - 1] = (char)((unsigned char)hi[m - 1] + 1);
    *hi_len = m;
    return 0;
}
