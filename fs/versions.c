/*
 * versions.c - versions of a sync: snapshot references, switches, the sweeper.
 *
 * Consistency follows gcsfuse's generations: the directory /<sync_id> is a
 * version, holding a RocksDB snapshot taken when the version was made, and
 * every inode below it belongs to that version and reads through its snapshot.
 * A compaction through ctl/ marks the sync's version superseded and, before the
 * write returns, invalidates the root's entry for /<sync_id>
 * (fuse_lowlevel_notify_inval_entry; a ctl write is not a related request for
 * that entry), so the next walk from the root looks it up again and gets a new
 * version, while walks already inside the old one keep reading the old
 * snapshot.  A superseded version lives while the kernel holds any of its
 * inodes, up to the age set by -o version_max_age; past that its snapshot is
 * released and its inodes answer ESTALE.  After every switch the versions
 * that are still current get a fresh snapshot (same content for their sync)
 * so that no current version keeps other syncs' old data from being reclaimed.
 *
 * The sweeper, a background thread, expires old versions once a second, drops
 * the cached values no read used for VALUE_IDLE_SECONDS (values.c), and
 * asks the kernel to drop the entries of replaced versions it may still cache.
 */
#include "fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- Snapshot references ---- */

struct snapref *version_snap_new(engine *e)
{
    struct snapref *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    if (engine_snapshot_new(e, &s->snap, NULL)) {
        free(s);
        return NULL; /* a version reads through its own snapshot or does not exist */
    }
    s->refs = 1;
    return s;
}

void version_snap_put(struct fs *fs, struct snapref *s)
{
    if (s && --s->refs == 0) {
        engine_snapshot_free(fs->e, s->snap);
        free(s);
    }
}

struct snapref *version_snap_of(struct fs *fs, struct node *n)
{
    pthread_mutex_lock(&fs->lock);
    version_sweep(fs);
    struct snapref *s = n->ver ? n->ver->snap : NULL;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&fs->lock);
    return s;
}

void version_snap_release(struct fs *fs, struct snapref *s)
{
    pthread_mutex_lock(&fs->lock);
    version_snap_put(fs, s);
    pthread_mutex_unlock(&fs->lock);
}

/* ---- Versions (under fs->lock) ---- */

static struct version *version_current(struct fs *fs, const char *sync_id)
{
    for (struct version *v = fs->versions; v; v = v->next)
        if (!v->superseded && !strcmp(v->sync_id, sync_id))
            return v;
    return NULL;
}

void version_free(struct fs *fs, struct version *ver)
{
    for (struct version **p = &fs->versions; *p; p = &(*p)->next) {
        if (*p == ver) {
            *p = ver->next;
            break;
        }
    }
    version_snap_put(fs, ver->snap);
    free(ver);
}

void version_free_all(struct fs *fs)
{
    while (fs->versions) {
        struct version *v = fs->versions;
        fs->versions = v->next;
        version_snap_put(fs, v->snap);
        free(v);
    }
}

void version_sweep(struct fs *fs)
{
    double now = fs_now();
    int expired = 0;
    for (struct version *v = fs->versions; v; v = v->next) {
        if (v->superseded && v->snap && now - v->superseded_at > fs->version_max_age) {
            version_snap_put(fs, v->snap);
            v->snap = NULL;
            expired = 1;
        }
    }
    if (expired) { /* a listing's cursor must not keep the snapshot, nor a value its data */
        dir_cursors_drop(fs, NULL);
        values_drop(fs, NULL);
    }
}

int version_stale(const struct version *v)
{
    return v && !v->snap;
}

int version_expired(struct fs *fs, const struct version *v)
{
    if (!v)
        return 0;
    pthread_mutex_lock(&fs->lock);
    version_sweep(fs);
    int stale = version_stale(v);
    pthread_mutex_unlock(&fs->lock);
    return stale;
}

/* The sync directory in the root: the sync's current version, or a new one
 * with a snapshot taken now.  A switch between taking that snapshot and
 * publishing the version would make a pre-switch snapshot current (and every
 * later walk would read the replaced data), so the snapshot is retaken when a
 * switch happened meanwhile.  *out gets one lookup of the node. */
int version_lookup(struct fs *fs, struct node *root, const char *name, struct node **out)
{
    for (int attempt = 0;; attempt++) {
        pthread_mutex_lock(&fs->lock);
        struct version *v = version_current(fs, name);
        if (v) {
            *out = node_get(fs, root, name, K_SYNC, v, NULL, NULL, 0, 0);
            pthread_mutex_unlock(&fs->lock);
            return *out ? 0 : ENOMEM;
        }
        uint64_t gen = fs->switch_gen;
        pthread_mutex_unlock(&fs->lock);

        struct version *nv = calloc(1, sizeof *nv);
        if (!nv)
            return ENOMEM;
        snprintf(nv->sync_id, sizeof nv->sync_id, "%s", name);
        if (!(nv->snap = version_snap_new(fs->e))) {
            free(nv);
            return ENOMEM;
        }
        int64_t t;
        nv->mtime = engine_sync_time(fs->e, name, &t) == 0 ? (time_t)t : fs->mount_time;
        int exists = engine_sync_exists(fs->e, nv->snap->snap, name, NULL);
        if (exists != 1) {
            version_snap_put(fs, nv->snap);
            free(nv);
            return exists == 0 ? ENOENT : exists == -ENOMEM ? ENOMEM : EIO;
        }
        pthread_mutex_lock(&fs->lock);
        if (fs->switch_gen != gen && attempt < 8) {
            pthread_mutex_unlock(&fs->lock);
            version_snap_put(fs, nv->snap);
            free(nv);
            continue;
        }
        if ((v = version_current(fs, name)) != NULL) { /* another lookup made one */
            version_snap_put(fs, nv->snap);
            free(nv);
        } else {
            nv->next = fs->versions;
            fs->versions = nv;
            v = nv;
        }
        *out = node_get(fs, root, name, K_SYNC, v, NULL, NULL, 0, 0);
        if (v->refs == 0 && !*out) /* nothing references it */
            version_free(fs, v);
        pthread_mutex_unlock(&fs->lock);
        return *out ? 0 : ENOMEM;
    }
}

/* Marks the current version of sync_id superseded, moves the current
 * versions of other syncs to a fresh snapshot so that they pin no replaced
 * data, and invalidates the root's entry of the sync. */
void version_switch(struct fs *fs, const char *sync_id)
{
    pthread_mutex_lock(&fs->lock);
    fs->switch_gen++;
    for (struct version *v = fs->versions; v; v = v->next) {
        if (v->superseded || !v->snap)
            continue;
        if (!strcmp(v->sync_id, sync_id)) {
            v->superseded = 1;
            v->superseded_at = fs_now();
            v->stale_pending = 1;
        } else {
            struct snapref *fresh = version_snap_new(fs->e);
            if (fresh) {
                version_snap_put(fs, v->snap);
                v->snap = fresh;
            }
        }
    }
    version_sweep(fs);
    dir_cursors_drop(fs, NULL); /* none keeps a snapshot of before */
    pthread_mutex_unlock(&fs->lock);
    /* Not a request related to the root's entry: allowed before we reply. */
    fuse_lowlevel_notify_inval_entry(fs->se, FUSE_ROOT_ID, sync_id, strlen(sync_id));
    /* the sync may be new or gone, and its status with it */
    dir_changed(fs, &fs->root, &fs->root_mtime);
    dir_changed(fs, &fs->ctl_compact, &fs->statuses_mtime);
}

/* ---- The sweeper ---- */

/* A cached entry the kernel should drop: name in directory parent. */
struct stale_entry {
    fuse_ino_t parent;
    char *name;
};

/* The entries of replaced versions that the kernel may still cache (under
 * fs->lock), each returned once per lookup of it; *out is malloc'd, as is
 * each name.  An entry is valid for a day, and the kernel keeps an unused one
 * until memory runs short: the entries a walk of a replaced version used (at
 * the switch or after it) would keep their nodes, so the version and its
 * snapshot of replaced data, for as long.  An invalidated entry is unhashed:
 * dropped at once if unused, else as soon as its last user lets go, and the
 * kernel then forgets its node.  (The sync directory's own entry was
 * invalidated by the switch; its name in the root now means the new version,
 * so it is not touched again.) */
static size_t version_stale_entries(struct fs *fs, struct stale_entry **out)
{
    *out = NULL;
    int any = 0;
    for (struct version *v = fs->versions; v; v = v->next) {
        any |= v->stale_pending;
        v->stale_pending = 0; /* this scan covers what is there now */
    }
    if (!any)
        return 0; /* nothing was looked up in a replaced version since the last scan */
    size_t n = 0, cap = 0;
    struct stale_entry *list = NULL;
    for (size_t i = 0; i < fs->table_size; i++) {
        for (struct node *c = fs->table[i]; c; c = c->hash_next) {
            if (!c->ver || !c->ver->superseded || c->inval_sent || c->kind == K_SYNC)
                continue;
            if (n == cap) {
                size_t grown = cap ? cap * 2 : 64;
                struct stale_entry *l = realloc(list, grown * sizeof *l);
                if (!l) {
                    *out = list;
                    return n;
                }
                list = l;
                cap = grown;
            }
            if (!(list[n].name = strdup(node_name(c))))
                break;
            list[n++].parent = node_ino(fs, c->parent);
            c->inval_sent = 1;
        }
    }
    *out = list;
    return n;
}

static void *version_sweeper_main(void *arg)
{
    struct fs *fs = arg;
    pthread_mutex_lock(&fs->lock);
    while (!atomic_load(&fs->stop_sweeper)) {
        version_sweep(fs);
        values_drop_idle(fs, VALUE_IDLE_SECONDS);
        struct stale_entry *stale;
        size_t n = version_stale_entries(fs, &stale);
        if (n) {
            /* Never notify under the lock: the kernel takes the directory's
             * lock, which a lookup we are serving may hold while it waits
             * for ours. */
            pthread_mutex_unlock(&fs->lock);
            for (size_t i = 0; i < n; i++) {
                if (!atomic_load(&fs->stop_sweeper))
                    fuse_lowlevel_notify_inval_entry(fs->se, stale[i].parent, stale[i].name,
                                                     strlen(stale[i].name));
                free(stale[i].name);
            }
            pthread_mutex_lock(&fs->lock);
        }
        free(stale);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&fs->sweeper_cond, &fs->lock, &ts);
    }
    pthread_mutex_unlock(&fs->lock);
    return NULL;
}

/* Starts the sweeper thread: 0 or a negative errno. */
int version_sweeper_start(struct fs *fs)
{
    int rc = pthread_create(&fs->sweeper, NULL, version_sweeper_main, fs);
    if (rc)
        return -rc;
    fs->sweeper_running = 1;
    return 0;
}

/* Stops the sweeper, waiting at most 5 s: 0, or -1 when it did not stop. */
int version_sweeper_stop(struct fs *fs)
{
    if (!fs->sweeper_running)
        return 0;
    pthread_mutex_lock(&fs->lock);
    atomic_store(&fs->stop_sweeper, 1);
    pthread_cond_signal(&fs->sweeper_cond);
    pthread_mutex_unlock(&fs->lock);
    /* An invalidation waits for the kernel's lock on its directory; a lookup
     * left unanswered when the session loop ended may hold that lock until
     * the connection goes away. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    if (pthread_timedjoin_np(fs->sweeper, NULL, &deadline) != 0)
        return -1;
    fs->sweeper_running = 0;
    return 0;
}
