/*
 * hooks.c - what tests and benchmarks reach into the engine for
 * (engine_test.h), kept out of the rooms the product uses.
 *
 * engine_test_pause() sleeps at named points so that crash, cancel and fault
 * tests can hit the moments around an ingest.  engine_replace_with_batch() is
 * the baseline that bulk ingest is measured against by the bench: the only
 * other atomic way RocksDB offers to replace a sync, one WriteBatch.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Pause points ---- */

void engine_test_pause(int which)
{
    const char *spec = getenv(ENGINE_PAUSE_ENV);
    if (!spec || !*spec)
        return;
    if (which < 0 || which > 3)
        return;
    /* "MS_BEFORE,MS_AFTER[,MS_STREAM[,MS_COPY]]": take the field for `which` */
    const char *p = spec;
    for (int i = 0; i < which && p; i++) {
        p = strchr(p, ',');
        if (p)
            p++;
    }
    if (!p)
        return;
    char *end;
    errno = 0;
    long ms = strtol(p, &end, 10);
    if (errno || end == p || ms > 600000)
        return;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- The put-loop baseline ---- */

int engine_replace_with_batch(engine *e, const char *sync_id, engine_iter *source, uint64_t *keys,
                              char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range(b, lo, lo_len, hi, hi_len);
    uint64_t n = 0;
    for (; engine_iter_valid(source); engine_iter_next(source), n++) {
        size_t kl, vl;
        const char *k = engine_iter_disk_key(source, &kl);
        const char *v = engine_iter_value(source, &vl);
        rocksdb_writebatch_put(b, k, kl, v, vl);
    }
    int rc = engine_iter_status(source, msg);
    if (rc == 0) {
        rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
        char *err = NULL;
        rocksdb_write(e->db, wo, b, &err);
        rocksdb_writeoptions_destroy(wo);
        if (err)
            rc = engine_take_error(err, msg, "cannot write to store '%s'", e->path);
    }
    rocksdb_writebatch_destroy(b);
    if (keys)
        *keys = n;
    return rc;
}
