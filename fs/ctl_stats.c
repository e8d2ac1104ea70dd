/*
 * ctl_stats.c - the /ctl/stats text: the store's and the mount's figures.
 *
 * One JSON object (SPEC "ctl/stats"), made whole at each lookup of the file:
 * the store's path, this mount's compactions, versions and inodes, its value
 * cache (values.c), the heap as the allocator sees it, its FUSE requests (count and total
 * microseconds per kind, requests.c), RocksDB's size figures, and per sync its approximate size,
 * its compactions (with the method of the latest finished one: "copy", "stream" or null) and the
 * old versions it pins.  The engine is read without fs->lock, which every FUSE request takes; the
 * mount's own figures are read under it.
 */
#include "engine_admin.h"
#include "fs_i.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes s as a JSON string to f (engine_json_quote: the status record's
 * rule).  Out of memory counts in *oom, which stats_text reports. */
static void stats_json_string(FILE *f, const char *s, int *oom)
{
    char *q = engine_json_quote(s);
    if (q)
        fputs(q, f);
    else
        *oom = 1;
    free(q);
}

/* One sync's figures (under fs->lock; bytes read before). */
static void stats_sync(FILE *f, struct fs *fs, const char *sync_id, uint64_t bytes, double now,
                       int *first, int *oom)
{
    const struct status *st = status_find(fs, sync_id);
    size_t pinned = 0;
    double oldest = 0;
    for (const struct version *v = fs->versions; v; v = v->next) {
        if (v->superseded && v->snap && !strcmp(v->sync_id, sync_id)) {
            pinned++;
            if (now - v->superseded_at > oldest)
                oldest = now - v->superseded_at;
        }
    }
    fputs(*first ? "" : ",", f);
    *first = 0;
    stats_json_string(f, sync_id, oom);
    fprintf(f,
            ":{\"approximate_bytes\":%llu,"
            "\"compactions\":{\"done\":%llu,\"failed\":%llu,\"running\":%d,\"method\":%s},"
            "\"old_versions\":{\"pinned\":%zu,\"oldest_seconds\":%.1f}}",
            (unsigned long long)bytes, (unsigned long long)(st ? st->done : 0),
            (unsigned long long)(st ? st->failed : 0), st ? st->running : 0,
            !st || st->rec.method == ENGINE_STATUS_METHOD_NONE ? "null"
            : st->rec.method == ENGINE_STATUS_METHOD_COPY      ? "\"copy\""
                                                               : "\"stream\"",
            pinned, oldest);
}

/* Store-wide figures, then every sync of the store (one seek each) and every
 * sync this mount compacted or deleted that is gone.  *out is malloc'd. */
int stats_text(struct fs *fs, char **out, size_t *len)
{
    *out = NULL;
    engine_snapshot *snap;
    if (engine_snapshot_new(fs->e, &snap, NULL))
        return -ENOMEM;
    FILE *f = open_memstream(out, len);
    if (!f) {
        engine_snapshot_free(fs->e, snap);
        return -ENOMEM;
    }
    double now = fs_now();
    int oom = 0;
    pthread_mutex_lock(&fs->lock);
    size_t versions = 0, superseded = 0;
    double oldest = 0;
    for (struct version *v = fs->versions; v; v = v->next) {
        versions += !v->superseded;
        if (v->superseded && v->snap) {
            superseded++;
            if (now - v->superseded_at > oldest)
                oldest = now - v->superseded_at;
        }
    }
    fputs("{\"store\":", f);
    stats_json_string(f, engine_path(fs->e), &oom);
    fprintf(f,
            ",\"compactions\":{\"done\":%llu,\"failed\":%llu,\"running\":%llu},"
            "\"versions\":{\"current\":%zu,\"old_pinned\":%zu,\"oldest_old_seconds\":%.1f},"
            "\"inodes\":%zu,\"inode_bytes\":%zu,"
            "\"value_cache\":{\"values\":%zu,\"bytes\":%zu,\"hits\":%llu,\"misses\":%llu},",
            (unsigned long long)fs->compactions_done, (unsigned long long)fs->compactions_failed,
            (unsigned long long)fs->compactions_running, versions, superseded, oldest,
            fs->table_count, fs->node_bytes + fs->table_size * sizeof(struct node *),
            values_count(fs), fs->value_bytes, (unsigned long long)fs->value_hits,
            (unsigned long long)fs->value_misses);
    pthread_mutex_unlock(&fs->lock);
    /* the allocator's view of the daemon's heap, all arenas (glibc) */
    struct mallinfo2 mi = mallinfo2();
    fprintf(f, "\"heap\":{\"in_use\":%zu,\"free\":%zu,\"mmapped\":%zu},", mi.uordblks + mi.hblkhd,
            mi.fordblks, mi.hblkhd);
    fputs("\"requests\":{", f);
    for (int r = 0; r < FS_REQ_COUNT; r++)
        fprintf(f, "%s\"%s\":{\"count\":%llu,\"us\":%llu}", r ? "," : "",
                fs_request_name((enum fs_request)r),
                (unsigned long long)atomic_load(&fs->requests[r].count),
                (unsigned long long)atomic_load(&fs->requests[r].usec));
    fputs("},", f);
    fprintf(f,
            "\"live_sst_bytes\":%llu,\"pending_compaction_bytes\":%llu,"
            "\"estimated_keys\":%llu,\"reclaim_pending\":%d,\"syncs\":{",
            (unsigned long long)engine_property(fs->e, "rocksdb.live-sst-files-size"),
            (unsigned long long)engine_property(fs->e, "rocksdb.estimate-pending-compaction-bytes"),
            (unsigned long long)engine_property(fs->e, "rocksdb.estimate-num-keys"),
            engine_reclaim_pending(fs->e, NULL));
    /* One snapshot for both lists, so that no sync shows twice. */
    char sync_id[ENGINE_SYNC_ID_MAX + 1] = "";
    int first = 1;
    while (engine_next_sync(fs->e, snap, sync_id, sync_id, NULL) == 1) {
        uint64_t bytes = engine_sync_approximate_bytes(fs->e, sync_id);
        pthread_mutex_lock(&fs->lock);
        stats_sync(f, fs, sync_id, bytes, now, &first, &oom);
        pthread_mutex_unlock(&fs->lock);
    }
    /* then the syncs this mount compacted or deleted that are gone (statuses
     * live until fs_free, so the list can be walked between locks) */
    pthread_mutex_lock(&fs->lock);
    struct status *st = fs->statuses;
    pthread_mutex_unlock(&fs->lock);
    for (; st; st = st->next) {
        if (engine_sync_exists(fs->e, snap, st->rec.sync_id, NULL) == 1)
            continue;
        pthread_mutex_lock(&fs->lock);
        stats_sync(f, fs, st->rec.sync_id, 0, now, &first, &oom);
        pthread_mutex_unlock(&fs->lock);
    }
    engine_snapshot_free(fs->e, snap);
    fputs("}}\n", f);
    int failed = ferror(f) || oom;
    if (fclose(f) || failed) {
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}
