/*
 * reclaim.c - getting the space of replaced data back.
 *
 * A replaced sync's old records are only hidden by the range tombstone until
 * RocksDB compacts that range.  A compaction leaves a persistent hint
 * (metadata "reclaim/<sync_id>", meta.c owns the name) and moves on; the
 * background thread of a store opened with ENGINE_OPEN_RECLAIM compacts each
 * hinted range and clears its hint, so the switch is never delayed and a hint
 * outlives a crash.
 */
#include "engine_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECLAIM_PREFIX ENGINE_META_RECLAIM

static int compact_sync_range(engine *e, const char *sync_id, char **msg)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    rocksdb_compactoptions_t *o = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_exclusive_manual_compaction(o, 0);
    /* The C API reports no error from a manual compaction; a failed one leaves
     * the space to RocksDB's own compactions, and the data is correct either way. */
    rocksdb_compact_range_opt(e->db, o, lo, lo_len, hi, hi_len);
    rocksdb_compactoptions_destroy(o);
    (void)msg;
    return 0;
}

int engine_reclaim_hint(engine *e, const char *sync_id, char **msg)
{
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    char name[sizeof RECLAIM_PREFIX + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, RECLAIM_PREFIX "%s", sync_id);
    /* The value is a generation: a pass deletes the hint only if no newer
     * replacement of the sync came in while it compacted. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char gen[64];
    int n = snprintf(gen, sizeof gen, "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
    if ((rc = engine_meta_put(e, name, gen, (size_t)n, msg)))
        return rc;
    if (e->reclaim_running) {
        pthread_mutex_lock(&e->reclaim_lock);
        e->reclaim_wakeups++;
        pthread_cond_signal(&e->reclaim_cond);
        pthread_mutex_unlock(&e->reclaim_lock);
    }
    return 0;
}

int engine_reclaim_now(engine *e, const char *sync_id, char **msg)
{
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    if ((rc = compact_sync_range(e, sync_id, msg)))
        return rc;
    char name[sizeof RECLAIM_PREFIX + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, RECLAIM_PREFIX "%s", sync_id);
    return engine_meta_delete(e, name, msg);
}

static int count_hint(void *arg, const char *name, const char *value, size_t len)
{
    (void)name;
    (void)value;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

int engine_reclaim_pending(engine *e, char **msg)
{
    int n = 0;
    int rc = engine_meta_list(e, RECLAIM_PREFIX, count_hint, &n, msg);
    return rc ? rc : n;
}

struct hint {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    char gen[64];
};

struct hint_walk {
    const char *after; /* the last sync_id handled, "" at the start of a pass */
    struct hint *h;
};

/* Takes the first hint whose sync_id sorts after w->after. */
static int hint_after(void *arg, const char *name, const char *value, size_t len)
{
    struct hint_walk *w = arg;
    const char *sync_id = name + strlen(RECLAIM_PREFIX);
    if (strcmp(sync_id, w->after) <= 0 || strlen(sync_id) > ENGINE_SYNC_ID_MAX)
        return 0;
    memcpy(w->h->sync_id, sync_id, strlen(sync_id) + 1);
    if (len >= sizeof w->h->gen)
        len = sizeof w->h->gen - 1;
    memcpy(w->h->gen, value, len);
    w->h->gen[len] = '\0';
    return 1;
}

/* Hints are handled in sync_id order, each after the one last handled, so a
 * hint that could not be cleared never starves the others. */
static int next_hint(engine *e, const char *after, struct hint *h)
{
    struct hint_walk w = {.after = after, .h = h};
    return engine_meta_list(e, RECLAIM_PREFIX, hint_after, &w, NULL) == 1;
}

static int reclaim_should_stop(engine *e)
{
    pthread_mutex_lock(&e->reclaim_lock);
    int stop = e->reclaim_stop;
    pthread_mutex_unlock(&e->reclaim_lock);
    return stop;
}

static void *reclaim_main(void *arg)
{
    engine *e = arg;
    for (;;) {
        /* One pass over every hint. */
        char after[ENGINE_SYNC_ID_MAX + 1] = "";
        struct hint h;
        while (!reclaim_should_stop(e) && next_hint(e, after, &h)) {
            snprintf(after, sizeof after, "%s", h.sync_id);
            if (engine_check_sync_id(h.sync_id, strlen(h.sync_id), NULL))
                continue;
            compact_sync_range(e, h.sync_id, NULL);
            if (reclaim_should_stop(e))
                break; /* the compaction may have been cut short: keep the hint */
            char name[sizeof RECLAIM_PREFIX + ENGINE_SYNC_ID_MAX];
            snprintf(name, sizeof name, RECLAIM_PREFIX "%s", h.sync_id);
            char *now = NULL;
            size_t len;
            if (engine_meta_get(e, name, &now, &len, NULL) == 0 && now && !strcmp(now, h.gen))
                engine_meta_delete(e, name, NULL);
            free(now);
        }
        pthread_mutex_lock(&e->reclaim_lock);
        while (!e->reclaim_stop && e->reclaim_wakeups == 0)
            pthread_cond_wait(&e->reclaim_cond, &e->reclaim_lock);
        int stop = e->reclaim_stop;
        e->reclaim_wakeups = 0;
        pthread_mutex_unlock(&e->reclaim_lock);
        if (stop)
            return NULL;
    }
}

int engine_reclaim_start(engine *e, char **msg)
{
    pthread_mutex_init(&e->reclaim_lock, NULL);
    pthread_cond_init(&e->reclaim_cond, NULL);
    int rc = pthread_create(&e->reclaim_thread, NULL, reclaim_main, e);
    if (rc) {
        pthread_mutex_destroy(&e->reclaim_lock);
        pthread_cond_destroy(&e->reclaim_cond);
        return engine_msgf(msg, -rc, "cannot start the reclaim thread: %s", strerror(rc));
    }
    e->reclaim_running = 1;
    return 0;
}

/* Stops the reclaimer, cutting a running compaction short: its hint stays for
 * the next open. */
void engine_reclaim_stop(engine *e)
{
    if (!e->reclaim_running)
        return;
    pthread_mutex_lock(&e->reclaim_lock);
    e->reclaim_stop = 1;
    pthread_cond_signal(&e->reclaim_cond);
    pthread_mutex_unlock(&e->reclaim_lock);
    rocksdb_disable_manual_compaction(e->db);
    pthread_join(e->reclaim_thread, NULL);
    pthread_mutex_destroy(&e->reclaim_lock);
    pthread_cond_destroy(&e->reclaim_cond);
    e->reclaim_running = 0;
}
