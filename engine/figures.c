/*
 * figures.c - numbers about a store for stats and benchmarks: RocksDB
 * statistics tickers, integer properties, and the approximate size of a
 * sync's range.  None of them fails: an unknown figure reads as 0.
 */
#include "engine_i.h"

#include <stdlib.h>
#include <string.h>

uint64_t engine_ticker(engine *e, const char *name)
{
    char *stats = rocksdb_options_statistics_get_string(e->options);
    if (!stats)
        return 0;
    uint64_t value = 0;
    size_t n = strlen(name);
    for (const char *p = stats; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == stats || p[-1] == '\n') && !strncmp(p + n, " COUNT : ", 9)) {
            value = strtoull(p + n + 9, NULL, 10);
            break;
        }
    }
    rocksdb_free(stats);
    return value;
}

uint64_t engine_property(engine *e, const char *name)
{
    uint64_t v = 0;
    if (rocksdb_property_int(e->db, name, &v) != 0)
        return 0;
    return v;
}

uint64_t engine_sync_approximate_bytes(engine *e, const char *sync_id)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    const char *los[] = {lo}, *his[] = {hi};
    uint64_t size = 0;
    char *err = NULL;
    rocksdb_approximate_sizes(e->db, 1, los, &lo_len, his, &hi_len, &size, &err);
    if (err) {
        rocksdb_free(err);
        return 0;
    }
    return size;
}
