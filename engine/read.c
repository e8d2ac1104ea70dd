/*
 * read.c - reading a store: snapshots, point reads, bounded iterators, and
 * listing the syncs and buckets one seek at a time.
 *
 * Every read runs at a snapshot, the caller's or one taken for it.  RocksDB
 * 7.8.3 can make an ingested file's range tombstone visible to a read at the
 * latest sequence number before the same file's keys are (when a flush or
 * compaction commits at the same moment): such a read sees the replaced sync
 * gone and the new one not yet there.  Reads at an explicit snapshot never
 * showed it (tests/test_compactor_stress.c; a RocksDB-only reproduction gave
 * 2,450 bad gets in 1.35M without a snapshot, 0 with one).  A read-only or
 * secondary instance never moves (we never catch up with a primary), so it
 * needs no snapshot, and a secondary refuses them.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Snapshots ---- */

int engine_snapshot_new(engine *e, engine_snapshot **out, char **msg)
{
    engine_snapshot *s = malloc(sizeof *s);
    if (!s)
        return engine_msgf(msg, -ENOMEM, "cannot take a snapshot of store '%s': out of memory",
                           e->path);
    /* A read-only instance is its own snapshot (see "Reads" below). */
    s->snap = e->read_only ? NULL : rocksdb_create_snapshot(e->db);
    *out = s;
    return 0;
}

void engine_snapshot_free(engine *e, engine_snapshot *snap)
{
    if (!snap)
        return;
    if (snap->snap)
        rocksdb_release_snapshot(e->db, snap->snap);
    free(snap);
}

/* ---- Read options ---- */

rocksdb_readoptions_t *engine_read_begin(engine *e, const engine_snapshot *snap,
                                         const rocksdb_snapshot_t **own)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    *own = NULL;
    if (snap && snap->snap) {
        rocksdb_readoptions_set_snapshot(ro, snap->snap);
    } else if (!snap && !e->read_only) {
        *own = rocksdb_create_snapshot(e->db);
        rocksdb_readoptions_set_snapshot(ro, *own);
    }
    return ro;
}

void engine_read_end(engine *e, rocksdb_readoptions_t *ro, const rocksdb_snapshot_t *own)
{
    rocksdb_readoptions_destroy(ro);
    if (own)
        rocksdb_release_snapshot(e->db, own);
}

/* ---- Point reads ---- */

static rocksdb_pinnableslice_t *get_pinned(engine *e, const engine_snapshot *snap, const char *key,
                                           size_t len, char **err)
{
    const rocksdb_snapshot_t *own;
    rocksdb_readoptions_t *ro = engine_read_begin(e, snap, &own);
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(e->db, ro, key, len, err);
    engine_read_end(e, ro, own); /* the pinned value stays valid */
    return v;
}

int engine_get(engine *e, const engine_snapshot *snap, const char *sync_id, const char *bucket,
               const void *key, size_t key_len, char **value, size_t *value_len, char **msg)
{
    int rc;
    if ((rc = engine_check_sync_id(sync_id, strlen(sync_id), msg)) ||
        (rc = engine_check_bucket(bucket, strlen(bucket), msg)) ||
        (rc = engine_check_key(key, key_len, msg)))
        return rc;
    char disk[ENGINE_DISK_KEY_MAX];
    size_t n = engine_key_encode(disk, sync_id, bucket, key, key_len);
    char *err = NULL;
    rocksdb_pinnableslice_t *v = get_pinned(e, snap, disk, n, &err);
    if (err)
        return engine_take_error(err, msg, "cannot read store '%s'", e->path);
    if (!v)
        return -ENOENT;
    size_t len;
    const char *data = rocksdb_pinnableslice_value(v, &len);
    char *copy = malloc(len + 1);
    if (!copy) {
        rocksdb_pinnableslice_destroy(v);
        return -ENOMEM;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    rocksdb_pinnableslice_destroy(v);
    *value = copy;
    *value_len = len;
    return 0;
}

struct engine_value {
    rocksdb_pinnableslice_t *slice;
};

int engine_value_get(engine *e, const engine_snapshot *snap, const void *disk_key, size_t len,
                     engine_value **out, char **msg)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *v = get_pinned(e, snap, disk_key, len, &err);
    if (err)
        return engine_take_error(err, msg, "cannot read store '%s'", e->path);
    if (!v)
        return -ENOENT;
    engine_value *ev = malloc(sizeof *ev);
    if (!ev) {
        rocksdb_pinnableslice_destroy(v);
        return -ENOMEM;
    }
    ev->slice = v;
    *out = ev;
    return 0;
}

const char *engine_value_data(const engine_value *v, size_t *len)
{
    return rocksdb_pinnableslice_value(v->slice, len);
}

void engine_value_free(engine_value *v)
{
    if (!v)
        return;
    rocksdb_pinnableslice_destroy(v->slice);
    free(v);
}

/* ---- Iterators ---- */

static const char all_lo[] = "\x01";
static const char all_hi[] = "\xff";

engine_iter *engine_iter_new_range(engine *e, const engine_snapshot *snap, const void *lo,
                                   size_t lo_len, const void *hi, size_t hi_len)
{
    if (!hi) {
        hi = all_hi;
        hi_len = 1;
    }
    engine_iter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->lo = malloc(lo_len ? lo_len : 1);
    it->hi = malloc(hi_len ? hi_len : 1);
    if (!it->lo || !it->hi) {
        free(it->lo);
        free(it->hi);
        free(it);
        return NULL;
    }
    memcpy(it->lo, lo, lo_len);
    memcpy(it->hi, hi, hi_len);
    it->lo_len = lo_len;
    it->hi_len = hi_len;
    it->db = e->db;
    it->ro = engine_read_begin(e, snap, &it->own_snap);
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, it->lo, it->lo_len);
    rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->hi, it->hi_len);
    it->it = rocksdb_create_iterator(e->db, it->ro);
    return it;
}

engine_iter *engine_iter_new_sync(engine *e, const engine_snapshot *snap, const char *sync_id)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    return engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
}

engine_iter *engine_iter_new_bucket(engine *e, const engine_snapshot *snap, const char *sync_id,
                                    const char *bucket)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_bucket(sync_id, bucket, lo, &lo_len, hi, &hi_len);
    return engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
}

engine_iter *engine_iter_new_prefix(engine *e, const engine_snapshot *snap, const char *sync_id,
                                    const char *bucket, const void *prefix, size_t prefix_len)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_prefix(sync_id, bucket, prefix, prefix_len, lo, &lo_len, hi, &hi_len);
    return engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
}

engine_iter *engine_iter_new_all(engine *e, const engine_snapshot *snap)
{
    return engine_iter_new_range(e, snap, all_lo, 1, all_hi, 1);
}

void engine_iter_free(engine_iter *it)
{
    if (!it)
        return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    if (it->own_snap)
        rocksdb_release_snapshot(it->db, it->own_snap);
    free(it->lo);
    free(it->hi);
    free(it);
}

void engine_iter_seek_first(engine_iter *it)
{
    rocksdb_iter_seek(it->it, it->lo, it->lo_len);
}

void engine_iter_seek(engine_iter *it, const void *disk_key, size_t len)
{
    rocksdb_iter_seek(it->it, disk_key, len);
}

int engine_iter_valid(const engine_iter *it)
{
    return rocksdb_iter_valid(it->it);
}

void engine_iter_next(engine_iter *it)
{
    rocksdb_iter_next(it->it);
}

const char *engine_iter_disk_key(const engine_iter *it, size_t *len)
{
    return rocksdb_iter_key(it->it, len);
}

const char *engine_iter_value(const engine_iter *it, size_t *len)
{
    return rocksdb_iter_value(it->it, len);
}

int engine_iter_parts(const engine_iter *it, struct engine_key_parts *parts, char **msg)
{
    size_t len;
    const char *k = rocksdb_iter_key(it->it, &len);
    return engine_key_decode(k, len, parts, msg);
}

int engine_iter_status(const engine_iter *it, char **msg)
{
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    if (err)
        return engine_take_error(err, msg, "cannot read store");
    return 0;
}

/* ---- Listing ---- */

/* Finds the first key in [lo, hi) and copies its part number `part` (0: sync,
 * 1: bucket) into out. */
static int next_name(engine *e, const engine_snapshot *snap, const char *lo, size_t lo_len,
                     const char *hi, size_t hi_len, int part, char *out, char **msg)
{
    engine_iter *it = engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
    if (!it)
        return -ENOMEM;
    engine_iter_seek_first(it);
    int rc = 0;
    if (engine_iter_valid(it)) {
        struct engine_key_parts p;
        rc = engine_iter_parts(it, &p, msg);
        if (rc == 0) {
            if (part == 0) {
                memcpy(out, p.sync_id, p.sync_id_len);
                out[p.sync_id_len] = '\0';
            } else {
                memcpy(out, p.bucket, p.bucket_len);
                out[p.bucket_len] = '\0';
            }
            rc = 1;
        } else {
            rc = ENGINE_ECORRUPT;
        }
    } else {
        rc = engine_iter_status(it, msg);
    }
    engine_iter_free(it);
    return rc;
}

int engine_next_sync(engine *e, const engine_snapshot *snap, const char *after, char *out,
                     char **msg)
{
    char lo[ENGINE_SYNC_ID_MAX + 2];
    size_t lo_len;
    if (!after || !*after) {
        lo[0] = '\x01';
        lo_len = 1;
    } else {
        size_t n = strlen(after);
        if (n > ENGINE_SYNC_ID_MAX)
            return engine_msgf(msg, -EINVAL, "sync_id is longer than %d", ENGINE_SYNC_ID_MAX);
        memcpy(lo, after, n);
        lo[n] = '\x01';
        lo_len = n + 1;
    }
    return next_name(e, snap, lo, lo_len, all_hi, 1, 0, out, msg);
}

int engine_next_bucket(engine *e, const engine_snapshot *snap, const char *sync_id,
                       const char *after, char *out, char **msg)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    if (after && *after) {
        if ((rc = engine_check_bucket(after, strlen(after), msg)))
            return rc;
        /* sync 0x00 after 0x01: past every key of bucket `after`. */
        lo_len = engine_key_encode(lo, sync_id, after, NULL, 0);
        lo[lo_len - 1] = '\x01';
    }
    return next_name(e, snap, lo, lo_len, hi, hi_len, 1, out, msg);
}

int engine_sync_exists(engine *e, const engine_snapshot *snap, const char *sync_id, char **msg)
{
    engine_iter *it = engine_iter_new_sync(e, snap, sync_id);
    if (!it)
        return -ENOMEM;
    engine_iter_seek_first(it);
    int rc = engine_iter_valid(it) ? 1 : engine_iter_status(it, msg);
    engine_iter_free(it);
    return rc;
}
