/*
 * fs.c - the store as a FUSE file system, with old-or-new consistency.
 *
 * Tree:  /                       the syncs and ctl/
 *        /<sync_id>/             a *version* of the sync: its buckets
 *        /<sync_id>/<bucket>/... keys, '/' a directory delimiter (names.h)
 *        /ctl/compact/<sync_id>  write a source path to compact; read the status
 *        /ctl/delete/<sync_id>   write anything to delete the sync
 *        /ctl/stats              the store's figures
 *
 * Consistency follows gcsfuse's generations: the directory /<sync_id> is a
 * version, holding a RocksDB snapshot taken when the version was made, and
 * every inode below it belongs to that version and reads through its snapshot.
 * A compaction through ctl/ marks the sync's version superseded and, before the
 * write returns, invalidates the root's entry for /<sync_id>
 * (fuse_lowlevel_notify_inval_entry; a ctl write is not a related request for
 * that entry), so the next walk from the root looks it up again and gets a new
 * version, while walks already inside the old one keep reading the old
 * snapshot.  So the kernel may cache entries, attributes, pages and listings
 * for a long time.  A superseded version lives while the kernel holds any of
 * its inodes, up to the age set by -o version_max_age; past that its snapshot
 * is released and its inodes answer ESTALE.  After every switch the versions
 * that are still current get a fresh snapshot (same content for their sync)
 * so that no current version keeps other syncs' old data from being reclaimed.
 *
 * Inode numbers are node addresses (root excepted); one node per (version,
 * bucket, key prefix, kind), found again through a hash table so that a path
 * keeps its inode while the kernel knows it.  Listings stream from bounded
 * iterators and resume from a cursor kept in the directory handle: nothing is
 * read whole into memory.  One mutex guards the node table and versions; it is
 * never held across RocksDB iteration of a listing, a compaction, or a call
 * into the kernel.
 */
#define FUSE_USE_VERSION 312

#include "fs.h"
#include "fs_i.h"

#include "compactor.h"
#include "engine.h"
#include "engine_admin.h"
#include "names.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define ENTRY_TIMEOUT 86400.0 /* versioned: safe to cache for long */
#define CTL_TIMEOUT 0.0

enum kind {
    K_ROOT,
    K_CTL,
    K_CTL_COMPACT,
    K_CTL_DELETE,
    K_CTL_STATS,
    K_COMPACT_FILE,
    K_DELETE_FILE,
    K_SYNC,
    K_BUCKET,
    K_DIR,
    K_FILE,
};

/* A reference-counted snapshot: directory handles keep the one they started
 * with even if their version moves to a fresh one. */
struct snapref {
    engine_snapshot *snap;
    int refs;
};

struct version {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    int stale_pending;    /* replaced, and the kernel may hold entries not yet invalidated */
    struct snapref *snap; /* NULL once expired */
    int superseded;
    double superseded_at;
    time_t mtime;
    uint64_t refs; /* nodes of this version */
    struct version *next;
};

struct node {
    enum kind kind;
    uint64_t nlookup;
    struct version *ver; /* K_SYNC and below */
    char *bucket;        /* K_BUCKET and below */
    char *prefix;        /* K_DIR: raw key prefix; K_FILE: the key; ctl files: sync_id */
    size_t prefix_len;
    uint64_t size; /* K_FILE: the value's length */
    uint64_t hash;
    struct node *hash_next;
    /* Where the kernel holds it: the directory and the name of its entry.  A
     * node lives while the kernel knows it (nlookup) or any child of it. */
    struct node *parent;
    char *name;
    uint64_t children;
    int inval_sent; /* of a replaced version: no lookup since we invalidated its entry */
};

struct status {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    char state[16];
    char *source;
    uint64_t keys, bytes;
    double started, seconds;
    char *error;
    int running;
    uint64_t done, failed; /* this mount's finished attempts */
    struct status *next;
};

struct fs {
    engine *e;
    struct fuse_session *se;
    uid_t owner;
    gid_t group;
    double version_max_age;
    time_t mount_time;
    pthread_mutex_t lock;
    struct node root, ctl, ctl_compact, ctl_delete, ctl_stats;
    struct node **table;
    size_t table_size, table_count;
    struct version *versions; /* every live version, current ones first per sync */
    struct status *statuses;  /* in-memory statuses of this mount's attempts */
    struct dir_handle *dirs;  /* open directories (a client may hold them at exit) */
    struct open_file *files;  /* open files */
    uint64_t compactions_done, compactions_failed, compactions_running;
    volatile int stop_sweeper;
    uint64_t switch_gen; /* bumped by every switch (after_switch) */
    int sweeper_running;
    pthread_t sweeper;
    pthread_cond_t sweeper_cond;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* ---- Snapshots and versions (under fs->lock) ---- */

static struct snapref *snapref_new(engine *e)
{
    struct snapref *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    s->snap = engine_snapshot_new(e);
    s->refs = 1;
    return s;
}

static void snapref_put(struct fs *fs, struct snapref *s)
{
    if (s && --s->refs == 0) {
        engine_snapshot_free(fs->e, s->snap);
        free(s);
    }
}

static struct version *version_current(struct fs *fs, const char *sync_id)
{
    for (struct version *v = fs->versions; v; v = v->next)
        if (!v->superseded && !strcmp(v->sync_id, sync_id))
            return v;
    return NULL;
}

static void version_unlink_free(struct fs *fs, struct version *ver)
{
    for (struct version **p = &fs->versions; *p; p = &(*p)->next) {
        if (*p == ver) {
            *p = ver->next;
            break;
        }
    }
    snapref_put(fs, ver->snap);
    free(ver);
}

/* Expires superseded versions older than the age limit. */
static void versions_sweep(struct fs *fs)
{
    double now = now_seconds();
    for (struct version *v = fs->versions; v; v = v->next) {
        if (v->superseded && v->snap && now - v->superseded_at > fs->version_max_age) {
            snapref_put(fs, v->snap);
            v->snap = NULL;
        }
    }
}

static int version_stale(const struct version *v)
{
    return v && !v->snap;
}

/* ---- Nodes (under fs->lock) ---- */

static uint64_t node_hash(enum kind kind, const struct version *ver, const char *bucket,
                          const char *prefix, size_t prefix_len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
    h = (h ^ (uint64_t)(uintptr_t)ver) * 1099511628211ull;
    for (const char *p = bucket; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull;
    for (size_t i = 0; i < prefix_len; i++)
        h = (h ^ (unsigned char)prefix[i]) * 1099511628211ull;
    return h;
}

static int table_grow(struct fs *fs)
{
    size_t size = fs->table_size ? fs->table_size * 2 : 1024;
    struct node **t = calloc(size, sizeof(struct node *));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < fs->table_size; i++) {
        struct node *n = fs->table[i];
        while (n) {
            struct node *next = n->hash_next;
            n->hash_next = t[n->hash % size];
            t[n->hash % size] = n;
            n = next;
        }
    }
    free(fs->table);
    fs->table = t;
    fs->table_size = size;
    return 0;
}

/* Finds or makes the node, and counts one kernel lookup of it.  Control files
 * get a new node at every lookup: the kernel serializes writes per inode, and
 * a second writer must reach us to be told EBUSY rather than wait. */
static struct node *node_get(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                             struct version *ver, const char *bucket, const char *prefix,
                             size_t prefix_len, uint64_t size)
{
    uint64_t h = node_hash(kind, ver, bucket, prefix, prefix_len);
    int unique = kind == K_COMPACT_FILE || kind == K_DELETE_FILE;
    if (fs->table_size && !unique) {
        for (struct node *n = fs->table[h % fs->table_size]; n; n = n->hash_next) {
            if (n->hash == h && n->kind == kind && n->ver == ver && n->prefix_len == prefix_len &&
                (!prefix_len || !memcmp(n->prefix, prefix, prefix_len)) &&
                ((!n->bucket && !bucket) || (n->bucket && bucket && !strcmp(n->bucket, bucket)))) {
                n->nlookup++;
                n->size = size;
                n->inval_sent = 0; /* the kernel has an entry for it again */
                if (ver && ver->superseded)
                    ver->stale_pending = 1;
                return n;
            }
        }
    }
    if (fs->table_count >= fs->table_size && table_grow(fs))
        return NULL;
    struct node *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->ver = ver;
    n->size = size;
    n->hash = h;
    if (bucket && !(n->bucket = strdup(bucket)))
        goto fail;
    if (!(n->name = strdup(name)))
        goto fail;
    if (prefix_len) {
        if (!(n->prefix = malloc(prefix_len + 1)))
            goto fail;
        memcpy(n->prefix, prefix, prefix_len);
        n->prefix[prefix_len] = '\0';
        n->prefix_len = prefix_len;
    }
    n->nlookup = 1;
    n->parent = parent;
    parent->children++;
    if (ver && ver->superseded)
        ver->stale_pending = 1;
    if (ver)
        ver->refs++;
    n->hash_next = fs->table[h % fs->table_size];
    fs->table[h % fs->table_size] = n;
    fs->table_count++;
    return n;
fail:
    free(n->bucket);
    free(n->name);
    free(n);
    return NULL;
}

static int node_static(const struct fs *fs, const struct node *n)
{
    return n == &fs->root || n == &fs->ctl || n == &fs->ctl_compact || n == &fs->ctl_delete ||
           n == &fs->ctl_stats;
}

static void node_forget(struct fs *fs, struct node *n, uint64_t count)
{
    if (node_static(fs, n))
        return;
    n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
    /* Free it, and then each parent that only it kept. */
    while (!node_static(fs, n) && n->nlookup == 0 && n->children == 0) {
        for (struct node **p = &fs->table[n->hash % fs->table_size]; *p; p = &(*p)->hash_next) {
            if (*p == n) {
                *p = n->hash_next;
                break;
            }
        }
        fs->table_count--;
        struct version *ver = n->ver;
        struct node *parent = n->parent;
        free(n->bucket);
        free(n->prefix);
        free(n->name);
        free(n);
        if (ver && --ver->refs == 0)
            version_unlink_free(fs, ver);
        parent->children--;
        n = parent;
    }
}

static struct node *node_of(struct fs *fs, fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &fs->root : (struct node *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct fs *fs, struct node *n)
{
    return n == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

/* ---- Attributes ---- */

static int node_is_dir(const struct node *n)
{
    return n->kind != K_FILE && n->kind != K_COMPACT_FILE && n->kind != K_DELETE_FILE &&
           n->kind != K_CTL_STATS;
}

static void fill_attr(struct fs *fs, struct node *n, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = ino_of(fs, n);
    st->st_uid = fs->owner;
    st->st_gid = fs->group;
    time_t t = n->ver ? n->ver->mtime : fs->mount_time;
    st->st_atime = st->st_mtime = st->st_ctime = t;
    st->st_blksize = 4096;
    if (node_is_dir(n)) {
        int ctl_writable = n->kind == K_CTL_COMPACT || n->kind == K_CTL_DELETE;
        st->st_mode = S_IFDIR | (ctl_writable ? 0755 : 0555);
        st->st_nlink = 2;
    } else if (n->kind == K_FILE) {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)n->size;
        st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
    } else {
        st->st_mode = S_IFREG | (n->kind == K_CTL_STATS ? 0444 : 0644);
        st->st_nlink = 1;
    }
}

/* How long the kernel may keep a node's entry and attributes: a version never
 * changes (a replaced one's entries are invalidated by the sweeper). */
static double node_timeout(const struct node *n)
{
    return n->kind <= K_DELETE_FILE ? CTL_TIMEOUT : ENTRY_TIMEOUT;
}

static void reply_entry(fuse_req_t req, struct fs *fs, struct node *n)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = ino_of(fs, n);
    fill_attr(fs, n, &e.attr);
    e.attr_timeout = e.entry_timeout = node_timeout(n);
    fuse_reply_entry(req, &e);
}

/* ---- Errors ---- */

/* Maps our codes to the errno a ctl writer sees (SPEC "ctl/compact"). */
static int to_errno(int rc)
{
    switch (rc) {
    case -ENOENT:
    case -ENOTDIR:
    case -EACCES:
    case -EINVAL:
    case -EBUSY:
    case -ENOSPC:
        return -rc;
    case ENGINE_ENOTSTORE:
    case ENGINE_EFORMAT:
        return EINVAL;
    case ENGINE_ECANCELED:
        return EINTR;
    default:
        return EIO;
    }
}

/* ---- Lookups in the key tree ---- */

/* The first key in [prefix, prefix's end) at the version's snapshot, copied
 * into out.  Returns its length, 0 when none. */
static size_t first_key(struct fs *fs, struct snapref *s, const char *sync_id, const char *bucket,
                        const char *prefix, size_t prefix_len, char *out)
{
    engine_iter *it = engine_iter_new_prefix(fs->e, s->snap, sync_id, bucket, prefix, prefix_len);
    if (!it)
        return 0;
    engine_iter_seek_first(it);
    size_t n = 0;
    if (engine_iter_valid(it)) {
        struct engine_key_parts p;
        if (engine_iter_parts(it, &p, NULL) == 0) {
            memcpy(out, p.key, p.key_len);
            n = p.key_len;
        }
    }
    engine_iter_free(it);
    return n;
}

static int key_is_dir(struct fs *fs, struct snapref *s, const char *sync_id, const char *bucket,
                      const char *key, size_t key_len)
{
    char prefix[ENGINE_KEY_MAX + 1], out[ENGINE_KEY_MAX];
    memcpy(prefix, key, key_len);
    prefix[key_len] = '/';
    return first_key(fs, s, sync_id, bucket, prefix, key_len + 1, out) > 0;
}

/* The length of the key's value, or -ENOENT. */
static int64_t value_len(struct fs *fs, struct snapref *s, const char *sync_id, const char *bucket,
                         const char *key, size_t key_len)
{
    char disk[ENGINE_DISK_KEY_MAX];
    size_t n = engine_key_encode(disk, sync_id, bucket, key, key_len);
    engine_value *v = NULL;
    int rc = engine_value_get(fs->e, s->snap, disk, n, &v, NULL);
    if (rc)
        return rc;
    size_t len;
    engine_value_data(v, &len);
    engine_value_free(v);
    return (int64_t)len;
}

/* Resolves name in directory (sync, bucket, prefix): fills what the child is.
 * Returns 0, or an errno. */
struct resolved {
    int is_dir;
    char key[ENGINE_KEY_MAX + 2];
    size_t key_len; /* the child's prefix (dir) or key (file) */
    uint64_t size;
};

static int resolve(struct fs *fs, struct snapref *s, const char *sync_id, const char *bucket,
                   const char *dir, size_t dir_len, const char *name, struct resolved *r)
{
    char raw[NAMES_NAME_MAX + 1];
    size_t raw_len;
    enum names_kind kind;
    size_t name_len = strlen(name);
    r->is_dir = 0;
    r->key_len = 0;
    r->size = 0; /* directories have none */
    if (names_decode(name, name_len, raw, &raw_len, &kind))
        return ENOENT;
    if (dir_len + raw_len > ENGINE_KEY_MAX)
        return ENOENT;
    char cand[ENGINE_KEY_MAX + 2];
    if (dir_len) /* a bucket's dir is NULL */
        memcpy(cand, dir, dir_len);
    memcpy(cand + dir_len, raw, raw_len);
    size_t cand_len = dir_len + raw_len;
    struct names_child c;

    if (kind == NAMES_CHUNK) {
        /* The first key below the chunk that names_child puts in it. */
        engine_iter *it = engine_iter_new_prefix(fs->e, s->snap, sync_id, bucket, cand, cand_len);
        int found = 0;
        for (engine_iter_seek_first(it); !found && engine_iter_valid(it); engine_iter_next(it)) {
            struct engine_key_parts p;
            if (engine_iter_parts(it, &p, NULL))
                break;
            int also = 0;
            if (names_child(p.key, p.key_len, dir_len, 0, &c) || !c.belongs)
                continue;
            if (c.is_final) {
                also = key_is_dir(fs, s, sync_id, bucket, p.key, p.key_len);
                if (names_child(p.key, p.key_len, dir_len, also, &c) || !c.belongs)
                    continue;
            }
            if (c.phase == 2 && c.name_len == name_len && !memcmp(c.name, name, name_len)) {
                r->is_dir = 1;
                memcpy(r->key, p.key, c.prefix_len);
                r->key_len = c.prefix_len;
                found = 1;
            }
        }
        engine_iter_free(it);
        return found ? 0 : ENOENT;
    }

    /* A file: the key itself. */
    if (cand_len > 0) {
        int64_t len = value_len(fs, s, sync_id, bucket, cand, cand_len);
        if (len >= 0) {
            int also = key_is_dir(fs, s, sync_id, bucket, cand, cand_len);
            if (names_child(cand, cand_len, dir_len, also, &c) == 0 && c.belongs && !c.is_dir &&
                c.name_len == name_len && !memcmp(c.name, name, name_len)) {
                r->is_dir = 0;
                memcpy(r->key, cand, cand_len);
                r->key_len = cand_len;
                r->size = (uint64_t)len;
                return 0;
            }
        }
    }
    if (kind == NAMES_MARKED)
        return ENOENT;
    /* A directory of a whole component: keys below cand + "/". */
    if (cand_len + 1 > ENGINE_KEY_MAX)
        return ENOENT;
    cand[cand_len] = '/';
    char first[ENGINE_KEY_MAX];
    size_t fl = first_key(fs, s, sync_id, bucket, cand, cand_len + 1, first);
    if (!fl)
        return ENOENT;
    if (names_child(first, fl, dir_len, 0, &c) || !c.belongs || !c.is_dir || c.phase != 1 ||
        c.name_len != name_len || memcmp(c.name, name, name_len))
        return ENOENT;
    r->is_dir = 1;
    memcpy(r->key, cand, cand_len + 1);
    r->key_len = cand_len + 1;
    return 0;
}

/* Takes a reference on the snapshot of a node's version; NULL when stale. */
static struct snapref *node_snap(struct fs *fs, struct node *n)
{
    pthread_mutex_lock(&fs->lock);
    versions_sweep(fs);
    struct snapref *s = n->ver ? n->ver->snap : NULL;
    if (s)
        s->refs++;
    pthread_mutex_unlock(&fs->lock);
    return s;
}

static void snap_put(struct fs *fs, struct snapref *s)
{
    pthread_mutex_lock(&fs->lock);
    snapref_put(fs, s);
    pthread_mutex_unlock(&fs->lock);
}

/* ---- ctl status ---- */

static struct status *status_find(struct fs *fs, const char *sync_id)
{
    for (struct status *s = fs->statuses; s; s = s->next)
        if (!strcmp(s->sync_id, sync_id))
            return s;
    return NULL;
}

/* Writes a JSON string, or null. */
static void json_str(FILE *f, const char *s)
{
    if (!s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            fprintf(f, "\\u%04x", (unsigned char)*p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void status_json(const struct status *st, int running_now, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    fprintf(f, "{\"sync_id\":\"%s\",\"state\":\"%s\",\"source\":", st->sync_id, st->state);
    json_str(f, st->source);
    double secs = running_now ? now_seconds() - st->started : st->seconds;
    fprintf(f, ",\"keys\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"error\":",
            (unsigned long long)st->keys, (unsigned long long)st->bytes, secs);
    json_str(f, st->error);
    fputs("}\n", f);
    fclose(f);
}

/* Persists a status so that it survives a remount ("status/<sync_id>"). */
static void status_persist(struct fs *fs, const struct status *st)
{
    char *json = NULL;
    size_t len = 0;
    status_json(st, 0, &json, &len);
    char name[sizeof "status/" + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, "status/%s", st->sync_id);
    engine_meta_put(fs->e, name, json, len, NULL);
    free(json);
}

/* The status text of a sync: this mount's attempt, else the persisted one,
 * else state "none". */
static void status_text(struct fs *fs, const char *sync_id, char **out, size_t *len)
{
    pthread_mutex_lock(&fs->lock);
    struct status *st = status_find(fs, sync_id);
    if (st) {
        status_json(st, st->running, out, len);
        pthread_mutex_unlock(&fs->lock);
        return;
    }
    pthread_mutex_unlock(&fs->lock);
    char name[sizeof "status/" + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, "status/%s", sync_id);
    if (engine_meta_get(fs->e, name, out, len, NULL) == 0)
        return;
    struct status none = {.state = "none"};
    snprintf(none.sync_id, sizeof none.sync_id, "%s", sync_id);
    status_json(&none, 0, out, len);
}

static int has_status(struct fs *fs, const char *sync_id)
{
    pthread_mutex_lock(&fs->lock);
    int found = status_find(fs, sync_id) != NULL;
    pthread_mutex_unlock(&fs->lock);
    if (found)
        return 1;
    char name[sizeof "status/" + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, "status/%s", sync_id);
    char *v = NULL;
    if (engine_meta_get(fs->e, name, &v, NULL, NULL) == 0) {
        free(v);
        return 1;
    }
    return 0;
}

/* ---- lookup, forget, getattr ---- */

/* The sync directory in the root: the sync's current version, or a new one
 * with a snapshot taken now.  A switch between taking that snapshot and
 * publishing the version would make a pre-switch snapshot current (and every
 * later walk would read the replaced data), so the snapshot is retaken when a
 * switch happened meanwhile. */
static int lookup_sync(struct fs *fs, struct node *root, const char *name, struct node **out)
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
        if (!(nv->snap = snapref_new(fs->e))) {
            free(nv);
            return ENOMEM;
        }
        int64_t t;
        nv->mtime = engine_sync_time(fs->e, name, &t) == 0 ? (time_t)t : fs->mount_time;
        if (engine_sync_exists(fs->e, nv->snap->snap, name, NULL) != 1) {
            snapref_put(fs, nv->snap);
            free(nv);
            return ENOENT;
        }
        pthread_mutex_lock(&fs->lock);
        if (fs->switch_gen != gen && attempt < 8) {
            pthread_mutex_unlock(&fs->lock);
            snapref_put(fs, nv->snap);
            free(nv);
            continue;
        }
        if ((v = version_current(fs, name)) != NULL) { /* another lookup made one */
            snapref_put(fs, nv->snap);
            free(nv);
        } else {
            nv->next = fs->versions;
            fs->versions = nv;
            v = nv;
        }
        *out = node_get(fs, root, name, K_SYNC, v, NULL, NULL, 0, 0);
        if (v->refs == 0 && !*out) /* nothing references it */
            version_unlink_free(fs, v);
        pthread_mutex_unlock(&fs->lock);
        return *out ? 0 : ENOMEM;
    }
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct fs *fs = fs_of(req);
    struct node *p = node_of(fs, parent);
    struct node *n = NULL;
    int err = ENOENT;
    size_t name_len = strlen(name);

    switch (p->kind) {
    case K_ROOT:
        if (!strcmp(name, "ctl")) {
            n = &fs->ctl;
            break;
        }
        if (engine_check_sync_id(name, name_len, NULL))
            break;
        err = lookup_sync(fs, p, name, &n);
        goto reply;
    case K_CTL:
        if (!strcmp(name, "compact"))
            n = &fs->ctl_compact;
        else if (!strcmp(name, "delete"))
            n = &fs->ctl_delete;
        else if (!strcmp(name, "stats"))
            n = &fs->ctl_stats;
        break;
    case K_CTL_COMPACT:
    case K_CTL_DELETE:
        if (engine_check_sync_id(name, name_len, NULL))
            break;
        /* compact/<sync_id>: a sync with a status, or one the base holds
         * (its state "none") */
        if (p->kind == K_CTL_COMPACT
                ? !has_status(fs, name) && engine_sync_exists(fs->e, NULL, name, NULL) != 1
                : engine_sync_exists(fs->e, NULL, name, NULL) != 1)
            break;
        pthread_mutex_lock(&fs->lock);
        n = node_get(fs, p, name, p->kind == K_CTL_COMPACT ? K_COMPACT_FILE : K_DELETE_FILE, NULL,
                     NULL, name, name_len, 0);
        pthread_mutex_unlock(&fs->lock);
        if (!n)
            err = ENOMEM;
        goto reply;
    case K_SYNC:
    case K_BUCKET:
    case K_DIR: {
        struct snapref *s = node_snap(fs, p);
        if (!s) {
            err = ESTALE;
            break;
        }
        if (p->kind == K_SYNC) {
            if (engine_check_bucket(name, name_len, NULL) == 0) {
                engine_iter *it = engine_iter_new_bucket(fs->e, s->snap, p->ver->sync_id, name);
                engine_iter_seek_first(it);
                int exists = engine_iter_valid(it);
                engine_iter_free(it);
                if (exists) {
                    pthread_mutex_lock(&fs->lock);
                    n = node_get(fs, p, name, K_BUCKET, p->ver, name, NULL, 0, 0);
                    pthread_mutex_unlock(&fs->lock);
                }
            }
        } else {
            struct resolved r;
            err = resolve(fs, s, p->ver->sync_id, p->bucket, p->prefix, p->prefix_len, name, &r);
            if (!err) {
                pthread_mutex_lock(&fs->lock);
                n = node_get(fs, p, name, r.is_dir ? K_DIR : K_FILE, p->ver, p->bucket, r.key,
                             r.key_len, r.size);
                pthread_mutex_unlock(&fs->lock);
            }
        }
        snap_put(fs, s);
        if (!n && !err)
            err = ENOENT;
        goto reply;
    }
    default:
        err = ENOTDIR;
    }
reply:
    if (n)
        reply_entry(req, fs, n);
    else
        fuse_reply_err(req, err ? err : ENOENT);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    struct fs *fs = fs_of(req);
    pthread_mutex_lock(&fs->lock);
    node_forget(fs, node_of(fs, ino), nlookup);
    pthread_mutex_unlock(&fs->lock);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    struct fs *fs = fs_of(req);
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < count; i++)
        node_forget(fs, node_of(fs, forgets[i].ino), forgets[i].nlookup);
    pthread_mutex_unlock(&fs->lock);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of(fs, ino);
    pthread_mutex_lock(&fs->lock);
    versions_sweep(fs);
    int stale = version_stale(n->ver);
    struct stat st;
    fill_attr(fs, n, &st);
    pthread_mutex_unlock(&fs->lock);
    if (stale) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    int ctl = n->kind <= K_DELETE_FILE;
    fuse_reply_attr(req, &st, ctl ? CTL_TIMEOUT : ENTRY_TIMEOUT);
}

static int may_write_ctl(fuse_req_t req, struct fs *fs)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    return ctx->uid == 0 || ctx->uid == fs->owner;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of(fs, ino);
    /* Only the shell's O_TRUNC of a control file: a no-op. */
    if ((n->kind == K_COMPACT_FILE || n->kind == K_DELETE_FILE) &&
        !(to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)) &&
        (!(to_set & FUSE_SET_ATTR_SIZE) || attr->st_size == 0)) {
        if (!may_write_ctl(req, fs)) {
            fuse_reply_err(req, EACCES);
            return;
        }
        struct stat st;
        fill_attr(fs, n, &st);
        fuse_reply_attr(req, &st, CTL_TIMEOUT);
        return;
    }
    fuse_reply_err(req, n->kind == K_FILE || node_is_dir(n) ? EROFS : EACCES);
}

/* ---- Directory listings ---- */

struct dir_handle {
    struct dir_handle *prev, *next; /* fs->dirs: freed at exit if still open */
    struct snapref *snap;
    engine_iter *it, *aux;                /* key directories: the listing's iterators */
    off_t next_off;                       /* the offset the cursor stands at */
    int phase;                            /* key dirs: 1 or 2; 3 when done */
    char cursor[ENGINE_DISK_KEY_MAX + 2]; /* where to resume (a name, or a raw key) */
    size_t cursor_len;
    char last_name[NAMES_NAME_MAX + 1]; /* last name of this phase, for dedupe */
    size_t last_name_len;
    int done;
};

struct dir_out {
    fuse_req_t req;
    struct fs *fs;
    struct node *dir; /* the directory listed */
    int plus;
    char *buf;
    size_t size, used;
};

/* Adds one entry; returns 0 when it did not fit. */
static int dir_add(struct dir_out *o, struct dir_handle *h, const char *name, enum kind kind,
                   struct version *ver, const char *bucket, const char *prefix, size_t prefix_len,
                   uint64_t size, fuse_ino_t fixed_ino)
{
    struct fs *fs = o->fs;
    off_t next = h->next_off + 1;
    size_t want;
    if (!o->plus) {
        struct stat st = {.st_ino = fixed_ino ? fixed_ino : 1,
                          .st_mode = (kind == K_FILE || kind == K_COMPACT_FILE ||
                                      kind == K_DELETE_FILE || kind == K_CTL_STATS)
                                         ? S_IFREG
                                         : S_IFDIR};
        want = fuse_add_direntry(o->req, o->buf + o->used, o->size - o->used, name, &st, next);
        if (want > o->size - o->used)
            return 0;
    } else {
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        /* Size the entry first: a node is made only for an entry that fits. */
        want = fuse_add_direntry_plus(o->req, NULL, 0, name, &e, next);
        if (want > o->size - o->used)
            return 0;
        struct node *n = NULL;
        if (fixed_ino) {
            n = node_of(fs, fixed_ino);
        } else {
            /* The analyzer loses fs through the ino <-> pointer casts above. */
            pthread_mutex_lock(&fs->lock); // NOLINT(clang-analyzer-core.NonNullParamChecker)
            n = node_get(fs, o->dir, name, kind, ver, bucket, prefix, prefix_len, size);
            pthread_mutex_unlock(&fs->lock);
            if (!n)
                return 0;
        }
        if (!strcmp(name, ".") || !strcmp(name, "..")) {
            e.attr.st_mode = S_IFDIR;
            e.attr.st_ino = fixed_ino;
        } else {
            e.ino = ino_of(fs, n);
            fill_attr(fs, n, &e.attr);
            e.attr_timeout = e.entry_timeout = node_timeout(n);
        }
        fuse_add_direntry_plus(o->req, o->buf + o->used, o->size - o->used, name, &e, next);
    }
    o->used += want;
    h->next_off = next;
    return 1;
}

/* Open handles are linked into the fs so that those still open when the
 * session ends (the kernel sends no release then) are freed too. */
#define LINK(head, h)                                                                              \
    do {                                                                                           \
        (h)->prev = NULL;                                                                          \
        (h)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (h);                                                                    \
        (head) = (h);                                                                              \
    } while (0)
#define UNLINK(head, h)                                                                            \
    do {                                                                                           \
        if ((h)->prev)                                                                             \
            (h)->prev->next = (h)->next;                                                           \
        else                                                                                       \
            (head) = (h)->next;                                                                    \
        if ((h)->next)                                                                             \
            (h)->next->prev = (h)->prev;                                                           \
    } while (0)

static void dir_reset(struct dir_handle *h)
{
    h->next_off = 0;
    h->phase = 1;
    h->cursor_len = 0;
    h->last_name_len = 0;
    h->done = 0;
}

/* Lists the keys below a directory, from the handle's cursor, until the buffer
 * is full.  Two phases (names.h): whole names, then chunk directories.  All
 * keys below a child's prefix give that same child, except that in phase 1 a
 * chunk directory's raw prefix also starts whole names; so a child's subtree
 * is skipped with one seek except for a chunk directory in phase 1. */
static int list_keys(struct dir_out *o, struct dir_handle *h, struct node *d, off_t skip)
{
    struct fs *fs = o->fs;
    const char *sync_id = d->ver->sync_id, *bucket = d->bucket;
    size_t dir_len = d->prefix_len;
    /* The iterators live as long as the handle: the kernel sends one readdir
     * at a time per open directory, each a page of entries. */
    if (!h->it)
        h->it = engine_iter_new_prefix(fs->e, h->snap->snap, sync_id, bucket, d->prefix, dir_len);
    if (!h->aux)
        h->aux = engine_iter_new_bucket(fs->e, h->snap->snap, sync_id, bucket);
    if (!h->it || !h->aux)
        return ENOMEM;
    engine_iter *it = h->it, *aux = h->aux;
    char disk[ENGINE_DISK_KEY_MAX + 2];
    char key[ENGINE_KEY_MAX + 1];
    int full = 0, err = 0;
    while (!full && !err && h->phase <= 2) {
        if (h->cursor_len)
            engine_iter_seek(it, disk,
                             engine_key_encode(disk, sync_id, bucket, h->cursor, h->cursor_len));
        else
            engine_iter_seek_first(it);
        while (engine_iter_valid(it)) {
            struct engine_key_parts p;
            if (engine_iter_parts(it, &p, NULL)) {
                err = EIO;
                break;
            }
            size_t key_len = p.key_len, vlen = 0;
            memcpy(key, p.key, key_len);
            engine_iter_value(it, &vlen);
            struct names_child c;
            int rc = names_child(key, key_len, dir_len, 0, &c);
            /* A key that is also a directory may be here only as a marked
             * name, when marking makes it split (a 254 or 255-byte last
             * component): it then belongs with also_dir and not without. */
            int only_marked = rc == 0 && !c.belongs;
            if (only_marked)
                rc = names_child(key, key_len, dir_len, 1, &c);
            if (rc || !c.belongs) {
                engine_iter_next(it);
                continue;
            }
            int advanced = 0;
            if (c.is_final) {
                /* Also a directory: a key below key + "/"?  Such keys sort
                 * right after the key among keys that extend it, so unless the
                 * next key extends this one, the answer is no without a seek. */
                engine_iter_next(it);
                advanced = 1;
                int also = 0;
                if (engine_iter_valid(it) && engine_iter_parts(it, &p, NULL) == 0 &&
                    p.key_len > key_len && !memcmp(p.key, key, key_len)) {
                    key[key_len] = '/';
                    size_t pl = engine_key_encode(disk, sync_id, bucket, key, key_len + 1);
                    engine_iter_seek(aux, disk, pl);
                    size_t al;
                    const char *ak = engine_iter_valid(aux) ? engine_iter_disk_key(aux, &al) : NULL;
                    also = ak && al >= pl && !memcmp(ak, disk, pl);
                }
                if ((only_marked && !also) ||
                    (also && (names_child(key, key_len, dir_len, 1, &c) || !c.belongs)))
                    continue;
            }
            if (c.phase == h->phase &&
                !(c.name_len == h->last_name_len && !memcmp(c.name, h->last_name, c.name_len))) {
                if (h->next_off >= skip) {
                    /* The cursor stays at this key until its entry is in. */
                    memcpy(h->cursor, key, key_len);
                    h->cursor_len = key_len;
                    char name[NAMES_NAME_MAX + 1];
                    memcpy(name, c.name, c.name_len);
                    name[c.name_len] = '\0';
                    if (!dir_add(o, h, name, c.is_dir ? K_DIR : K_FILE, d->ver, bucket, key,
                                 c.is_dir ? c.prefix_len : key_len, c.is_dir ? 0 : vlen, 0)) {
                        full = 1;
                        break;
                    }
                } else {
                    h->next_off++;
                }
                memcpy(h->last_name, c.name, c.name_len);
                h->last_name_len = c.name_len;
            }
            /* Advance: past the child's subtree, or to the next key. */
            if (c.is_dir && (c.phase == 1 || h->phase == 2)) {
                size_t n = c.prefix_len;
                memcpy(h->cursor, key, n);
                while (n > dir_len && (unsigned char)h->cursor[n - 1] == 0xFF)
                    n--;
                if (n == dir_len)
                    break; /* everything left is below this child */
                h->cursor[n - 1] = (char)((unsigned char)h->cursor[n - 1] + 1);
                h->cursor_len = n;
                engine_iter_seek(
                    it, disk, engine_key_encode(disk, sync_id, bucket, h->cursor, h->cursor_len));
            } else {
                memcpy(h->cursor, key, key_len);
                h->cursor[key_len] = '\0';
                h->cursor_len = key_len + 1;
                if (!advanced)
                    engine_iter_next(it);
            }
        }
        if (full || err)
            break;
        if (engine_iter_status(it, NULL)) {
            err = EIO;
            break;
        }
        h->phase++;
        h->cursor_len = 0;
        h->last_name_len = 0;
    }
    return err;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct node *n = node_of(fs, ino);
    if (!node_is_dir(n)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    struct dir_handle *h = calloc(1, sizeof *h);
    if (!h) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    dir_reset(h);
    if (n->ver) {
        h->snap = node_snap(fs, n);
        if (!h->snap) {
            free(h);
            fuse_reply_err(req, ESTALE);
            return;
        }
    }
    pthread_mutex_lock(&fs->lock);
    LINK(fs->dirs, h);
    pthread_mutex_unlock(&fs->lock);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->cache_readdir = n->ver != NULL; /* versioned listings never change */
    fi->keep_cache = n->ver != NULL;
    fuse_reply_open(req, fi);
}

static void dir_handle_free(struct fs *fs, struct dir_handle *h)
{
    engine_iter_free(h->it);
    engine_iter_free(h->aux);
    pthread_mutex_lock(&fs->lock);
    UNLINK(fs->dirs, h);
    snapref_put(fs, h->snap);
    pthread_mutex_unlock(&fs->lock);
    free(h);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    dir_handle_free(fs_of(req), (struct dir_handle *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

/* Lists names from a "next name after" source (syncs, buckets, statuses). */
typedef int (*next_name_fn)(struct fs *fs, struct node *d, struct dir_handle *h, char *out);

static int next_sync_name(struct fs *fs, struct node *d, struct dir_handle *h, char *out)
{
    (void)d;
    h->cursor[h->cursor_len] = '\0';
    return engine_next_sync(fs->e, NULL, h->cursor, out, NULL);
}

static int next_bucket_name(struct fs *fs, struct node *d, struct dir_handle *h, char *out)
{
    h->cursor[h->cursor_len] = '\0';
    return engine_next_bucket(fs->e, h->snap->snap, d->ver->sync_id, h->cursor, out, NULL);
}

struct status_walk {
    const char *after;
    char *out;
    int found;
};

static int status_walk_fn(void *arg, const char *name, const char *value, size_t len)
{
    (void)value;
    (void)len;
    struct status_walk *w = arg;
    const char *sync = name + strlen("status/");
    if (strcmp(sync, w->after) <= 0)
        return 0;
    snprintf(w->out, ENGINE_SYNC_ID_MAX + 1, "%s", sync);
    w->found = 1;
    return 1;
}

static int next_status_name(struct fs *fs, struct node *d, struct dir_handle *h, char *out)
{
    (void)d;
    h->cursor[h->cursor_len] = '\0';
    /* Persisted statuses include every attempt of this mount (they are
     * written when an attempt starts). */
    struct status_walk w = {.after = h->cursor, .out = out};
    int rc = engine_meta_list(fs->e, "status/", status_walk_fn, &w, NULL);
    if (rc < 0)
        return rc;
    return w.found;
}

static int list_names(struct dir_out *o, struct dir_handle *h, struct node *d, next_name_fn next,
                      enum kind child_kind, off_t skip)
{
    char name[ENGINE_SYNC_ID_MAX + 1];
    for (;;) {
        int rc = next(o->fs, d, h, name);
        if (rc < 0)
            return EIO;
        if (rc == 0)
            return 0;
        if (h->next_off < skip) {
            h->next_off++;
        } else if (child_kind == K_SYNC && o->plus) {
            /* A listing of the root makes no versions: its entries carry no
             * attributes and count no lookup (ino 0, kernel fuse_direntplus_link);
             * st_ino is non-zero because readdir() skips entries whose d_ino is 0. */
            struct fuse_entry_param e;
            memset(&e, 0, sizeof e);
            e.attr.st_mode = S_IFDIR;
            e.attr.st_ino = 2;
            size_t want = fuse_add_direntry_plus(o->req, o->buf + o->used, o->size - o->used, name,
                                                 &e, h->next_off + 1);
            if (want > o->size - o->used)
                return 0;
            o->used += want;
            h->next_off++;
        } else {
            int bucket = child_kind == K_BUCKET;
            if (!dir_add(o, h, name, child_kind, bucket ? d->ver : NULL, bucket ? name : NULL,
                         bucket ? NULL : name, bucket ? 0 : strlen(name), 0, 0))
                return 0;
        }
        h->cursor_len = strlen(name);
        memcpy(h->cursor, name, h->cursor_len);
    }
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi, int plus)
{
    struct fs *fs = fs_of(req);
    struct node *d = node_of(fs, ino);
    struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
    if (d->ver) {
        pthread_mutex_lock(&fs->lock);
        versions_sweep(fs);
        int stale = version_stale(d->ver);
        pthread_mutex_unlock(&fs->lock);
        if (stale) {
            fuse_reply_err(req, ESTALE);
            return;
        }
    }
    char *buf = malloc(size);
    if (!buf) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct dir_out o = {.req = req, .fs = fs, .dir = d, .plus = plus, .buf = buf, .size = size};
    if (off != h->next_off) /* a seek: start over and skip to the offset */
        dir_reset(h);
    off_t skip = off;
    int err = 0;
    /* "." and ".." at offsets 1 and 2; after a seek, only those past it. */
    while (h->next_off < 2 && h->next_off < skip)
        h->next_off++;
    if (h->next_off < 2) {
        if (h->next_off == 0 && !dir_add(&o, h, ".", K_DIR, NULL, NULL, NULL, 0, 0, ino))
            goto reply;
        if (h->next_off == 1 && !dir_add(&o, h, "..", K_DIR, NULL, NULL, NULL, 0, 0, FUSE_ROOT_ID))
            goto reply;
    }
    switch (d->kind) {
    case K_ROOT:
        if (h->next_off == 2) {
            if (skip > 2)
                h->next_off++;
            else if (!dir_add(&o, h, "ctl", K_CTL, NULL, NULL, NULL, 0, 0, ino_of(fs, &fs->ctl)))
                goto reply;
        }
        err = list_names(&o, h, d, next_sync_name, K_SYNC, skip);
        break;
    case K_CTL: {
        static const char *names[] = {"compact", "delete", "stats"};
        struct node *nodes[] = {&fs->ctl_compact, &fs->ctl_delete, &fs->ctl_stats};
        for (int i = 0; i < 3; i++) {
            if (h->next_off != 2 + i)
                continue;
            if (h->next_off < skip)
                h->next_off++;
            else if (!dir_add(&o, h, names[i], nodes[i]->kind, NULL, NULL, NULL, 0, 0,
                              ino_of(fs, nodes[i])))
                goto reply;
        }
        break;
    }
    case K_CTL_COMPACT:
        err = list_names(&o, h, d, next_status_name, K_COMPACT_FILE, skip);
        break;
    case K_CTL_DELETE:
        break;
    case K_SYNC:
        err = list_names(&o, h, d, next_bucket_name, K_BUCKET, skip);
        break;
    case K_BUCKET:
    case K_DIR:
        err = list_keys(&o, h, d, skip);
        break;
    default:
        err = ENOTDIR;
    }
reply:
    if (err && o.used == 0)
        fuse_reply_err(req, err);
    else
        fuse_reply_buf(req, buf, o.used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, fi, 1);
}

/* ---- Files ---- */

struct open_file {
    struct open_file *prev, *next; /* fs->files: freed at exit if still open */
    /* K_FILE: the value, pinned at the first read that reaches us (with the
     * page cache kept, a warm open never reads) and then served to every read
     * of this open file. */
    pthread_mutex_t pin_lock;
    struct snapref *snap; /* the version's snapshot at open */
    struct node *node;
    engine_value *value;
    const char *data;
    size_t len;
    char *text; /* ctl files: the status or stats text at open */
    struct version *ver;
};

static void track_file(struct fs *fs, struct open_file *h);

/* One sync's figures in /ctl/stats (under fs->lock; bytes read before). */
static void stats_sync(FILE *f, struct fs *fs, const char *sync_id, uint64_t bytes, double now,
                       int *first)
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
    json_str(f, sync_id);
    fprintf(f,
            ":{\"approximate_bytes\":%llu,"
            "\"compactions\":{\"done\":%llu,\"failed\":%llu,\"running\":%d},"
            "\"old_versions\":{\"pinned\":%zu,\"oldest_seconds\":%.1f}}",
            (unsigned long long)bytes, (unsigned long long)(st ? st->done : 0),
            (unsigned long long)(st ? st->failed : 0), st ? st->running : 0, pinned, oldest);
}

/* The /ctl/stats text: store-wide figures, then every sync of the store (one
 * seek each) and every sync this mount compacted or deleted that is gone. */
static void stats_text(struct fs *fs, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    double now = now_seconds();
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
    json_str(f, engine_path(fs->e));
    fprintf(f,
            ",\"compactions\":{\"done\":%llu,\"failed\":%llu,\"running\":%llu},"
            "\"versions\":{\"current\":%zu,\"old_pinned\":%zu,\"oldest_old_seconds\":%.1f},"
            "\"inodes\":%zu,",
            (unsigned long long)fs->compactions_done, (unsigned long long)fs->compactions_failed,
            (unsigned long long)fs->compactions_running, versions, superseded, oldest,
            fs->table_count);
    pthread_mutex_unlock(&fs->lock);
    fprintf(f,
            "\"live_sst_bytes\":%llu,\"pending_compaction_bytes\":%llu,"
            "\"estimated_keys\":%llu,\"reclaim_pending\":%d,\"syncs\":{",
            (unsigned long long)engine_property(fs->e, "rocksdb.live-sst-files-size"),
            (unsigned long long)engine_property(fs->e, "rocksdb.estimate-pending-compaction-bytes"),
            (unsigned long long)engine_property(fs->e, "rocksdb.estimate-num-keys"),
            engine_reclaim_pending(fs->e, NULL));
    /* One snapshot for both lists, so that no sync shows twice; the engine is
     * read without fs->lock, which every FUSE request takes. */
    engine_snapshot *snap = engine_snapshot_new(fs->e);
    char sync_id[ENGINE_SYNC_ID_MAX + 1] = "";
    int first = 1;
    while (engine_next_sync(fs->e, snap, sync_id, sync_id, NULL) == 1) {
        uint64_t bytes = engine_sync_approximate_bytes(fs->e, sync_id);
        pthread_mutex_lock(&fs->lock);
        stats_sync(f, fs, sync_id, bytes, now, &first);
        pthread_mutex_unlock(&fs->lock);
    }
    /* then the syncs this mount compacted or deleted that are gone (statuses
     * live until fs_free, so the list can be walked between locks) */
    pthread_mutex_lock(&fs->lock);
    struct status *st = fs->statuses;
    pthread_mutex_unlock(&fs->lock);
    for (; st; st = st->next) {
        if (engine_sync_exists(fs->e, snap, st->sync_id, NULL) == 1)
            continue;
        pthread_mutex_lock(&fs->lock);
        stats_sync(f, fs, st->sync_id, 0, now, &first);
        pthread_mutex_unlock(&fs->lock);
    }
    engine_snapshot_free(fs->e, snap);
    fputs("}}\n", f);
    fclose(f);
}

static void open_ctl_file(fuse_req_t req, struct fs *fs, struct node *n, struct fuse_file_info *fi)
{
    int writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (writing && (n->kind == K_CTL_STATS || !may_write_ctl(req, fs))) {
        fuse_reply_err(req, EACCES);
        return;
    }
    struct open_file *h = calloc(1, sizeof *h);
    if (!h) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    if (n->kind == K_CTL_STATS)
        stats_text(fs, &h->text, &h->len);
    else if (n->kind == K_COMPACT_FILE)
        status_text(fs, n->prefix, &h->text, &h->len);
    h->data = h->text;
    track_file(fs, h);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1; /* status text changes from read to read */
    fi->nonseekable = 0;
    fuse_reply_open(req, fi);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    struct node *n = node_of(fs, ino);
    if (n->kind != K_FILE) {
        if (node_is_dir(n))
            fuse_reply_err(req, EISDIR);
        else
            open_ctl_file(req, fs, n, fi);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    struct snapref *s = node_snap(fs, n);
    if (!s) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    struct open_file *h = calloc(1, sizeof *h);
    if (!h) {
        snap_put(fs, s);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_init(&h->pin_lock, NULL);
    h->snap = s;
    h->node = n; /* the kernel holds the inode while the file is open */
    h->ver = n->ver;
    track_file(fs, h);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->keep_cache = 1; /* a versioned file never changes */
    fuse_reply_open(req, fi);
}

/* Pins the value of an open data file once; returns 0 or an errno. */
static int pin_value(struct fs *fs, struct open_file *h)
{
    int err = 0;
    pthread_mutex_lock(&h->pin_lock);
    if (!h->value) {
        struct node *n = h->node;
        char disk[ENGINE_DISK_KEY_MAX];
        size_t dl = engine_key_encode(disk, n->ver->sync_id, n->bucket, n->prefix, n->prefix_len);
        int rc = engine_value_get(fs->e, h->snap->snap, disk, dl, &h->value, NULL);
        if (rc)
            err = rc == -ENOENT ? ESTALE : to_errno(rc);
        else
            h->data = engine_value_data(h->value, &h->len);
    }
    pthread_mutex_unlock(&h->pin_lock);
    return err;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct fs *fs = fs_of(req);
    (void)ino;
    struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;
    if (h->ver) {
        pthread_mutex_lock(&fs->lock);
        versions_sweep(fs);
        int stale = version_stale(h->ver);
        pthread_mutex_unlock(&fs->lock);
        if (stale) {
            fuse_reply_err(req, ESTALE);
            return;
        }
    }
    if (h->node) {
        int err = pin_value(fs, h);
        if (err) {
            fuse_reply_err(req, err);
            return;
        }
    }
    if (off < 0 || (size_t)off >= h->len) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    size_t n = h->len - (size_t)off < size ? h->len - (size_t)off : size;
    fuse_reply_buf(req, h->data + off, n);
}

static void track_file(struct fs *fs, struct open_file *h)
{
    pthread_mutex_lock(&fs->lock);
    LINK(fs->files, h);
    pthread_mutex_unlock(&fs->lock);
}

static void open_file_free(struct fs *fs, struct open_file *h)
{
    engine_value_free(h->value);
    pthread_mutex_lock(&fs->lock);
    UNLINK(fs->files, h);
    if (h->node) {
        pthread_mutex_destroy(&h->pin_lock);
        snapref_put(fs, h->snap);
    }
    pthread_mutex_unlock(&fs->lock);
    free(h->text);
    free(h);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;
    if (h)
        open_file_free(fs_of(req), h);
    fuse_reply_err(req, 0);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    (void)mode;
    struct fs *fs = fs_of(req);
    struct node *p = node_of(fs, parent);
    if (p->kind != K_CTL_COMPACT && p->kind != K_CTL_DELETE) {
        fuse_reply_err(req, p->kind == K_CTL || p->kind == K_ROOT ? EACCES : EROFS);
        return;
    }
    if (!may_write_ctl(req, fs)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    if (engine_check_sync_id(name, strlen(name), NULL)) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    pthread_mutex_lock(&fs->lock);
    struct node *n =
        node_get(fs, p, name, p->kind == K_CTL_COMPACT ? K_COMPACT_FILE : K_DELETE_FILE, NULL, NULL,
                 name, strlen(name), 0);
    pthread_mutex_unlock(&fs->lock);
    struct open_file *h = calloc(1, sizeof *h);
    if (!n || !h) {
        free(h);
        if (n) { /* the kernel will never know it */
            pthread_mutex_lock(&fs->lock);
            node_forget(fs, n, 1);
            pthread_mutex_unlock(&fs->lock);
        }
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = ino_of(fs, n);
    fill_attr(fs, n, &e.attr);
    track_file(fs, h);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    fuse_reply_create(req, &e, fi);
}

/* ---- Compaction through ctl ---- */

struct ctl_run {
    struct fs *fs;
    struct status *st;
    fuse_req_t req;
    volatile int interrupted;
};

static void on_interrupt(fuse_req_t req, void *data)
{
    (void)req;
    struct ctl_run *r = data;
    r->interrupted = 1;
}

static int on_progress(void *arg, uint64_t keys, uint64_t bytes)
{
    struct ctl_run *r = arg;
    pthread_mutex_lock(&r->fs->lock);
    r->st->keys = keys;
    r->st->bytes = bytes;
    pthread_mutex_unlock(&r->fs->lock);
    return r->interrupted || fuse_req_interrupted(r->req);
}

/* After a switch of sync_id: new walks get a new version; current versions of
 * other syncs move to a fresh snapshot so that they pin no replaced data. */
static void after_switch(struct fs *fs, const char *sync_id)
{
    pthread_mutex_lock(&fs->lock);
    fs->switch_gen++;
    for (struct version *v = fs->versions; v; v = v->next) {
        if (v->superseded || !v->snap)
            continue;
        if (!strcmp(v->sync_id, sync_id)) {
            v->superseded = 1;
            v->superseded_at = now_seconds();
            v->stale_pending = 1;
        } else {
            struct snapref *fresh = snapref_new(fs->e);
            if (fresh) {
                snapref_put(fs, v->snap);
                v->snap = fresh;
            }
        }
    }
    versions_sweep(fs);
    pthread_mutex_unlock(&fs->lock);
    /* Not a request related to the root's entry: allowed before we reply. */
    fuse_lowlevel_notify_inval_entry(fs->se, FUSE_ROOT_ID, sync_id, strlen(sync_id));
}

static void ctl_compact_write(fuse_req_t req, struct fs *fs, struct node *n, const char *buf,
                              size_t size, off_t off, int is_delete)
{
    char source[PATH_MAX];
    const char *sync_id = n->prefix;
    if (off != 0 || (!is_delete && ctl_parse_source(buf, size, source, sizeof source))) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    /* Refuse a second run of the same sync before touching its status. */
    pthread_mutex_lock(&fs->lock);
    struct status *st = status_find(fs, sync_id);
    if (st && st->running) {
        pthread_mutex_unlock(&fs->lock);
        fuse_reply_err(req, EBUSY);
        return;
    }
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) {
            pthread_mutex_unlock(&fs->lock);
            fuse_reply_err(req, ENOMEM);
            return;
        }
        snprintf(st->sync_id, sizeof st->sync_id, "%s", sync_id);
        st->next = fs->statuses;
        fs->statuses = st;
    }
    free(st->source);
    free(st->error);
    st->source = is_delete ? NULL : strdup(source);
    st->error = NULL;
    st->keys = st->bytes = 0;
    st->seconds = 0;
    st->started = now_seconds();
    st->running = 1;
    snprintf(st->state, sizeof st->state, "running");
    fs->compactions_running++;
    pthread_mutex_unlock(&fs->lock);
    if (!is_delete)
        status_persist(fs, st);

    struct ctl_run run = {.fs = fs, .st = st, .req = req};
    fuse_req_interrupt_func(req, on_interrupt, &run);
    struct compactor_options opt = {.progress = on_progress, .progress_arg = &run};
    struct compactor_result res;
    char *msg = NULL;
    int rc = is_delete ? compactor_delete(fs->e, sync_id, &opt, &res, &msg)
                       : compactor_run(fs->e, source, sync_id, &opt, &res, &msg);
    int switched = rc == 0 && res.outcome != COMPACTOR_CANCELLED;
    if (switched)
        after_switch(fs, sync_id);

    pthread_mutex_lock(&fs->lock);
    st->running = 0;
    st->seconds = now_seconds() - st->started;
    st->keys = res.keys;
    st->bytes = res.bytes;
    fs->compactions_running--;
    if (rc == ENGINE_ECANCELED)
        snprintf(st->state, sizeof st->state, "cancelled");
    else if (rc)
        snprintf(st->state, sizeof st->state, "failed");
    else
        snprintf(st->state, sizeof st->state, "%s",
                 res.outcome == COMPACTOR_EMPTY && !is_delete ? "empty" : "done");
    if (rc) {
        st->error = msg ? msg : strdup(engine_strerror(rc));
        msg = NULL;
        fs->compactions_failed++;
        st->failed++;
    } else {
        fs->compactions_done++;
        st->done++;
    }
    pthread_mutex_unlock(&fs->lock);
    free(msg);
    if (!is_delete)
        status_persist(fs, st);
    if (rc)
        fs_log(LOG_WARNING, "compaction of %s failed: %s", sync_id, st->error);

    if (rc)
        fuse_reply_err(req, to_errno(rc));
    else if (!is_delete && res.outcome == COMPACTOR_EMPTY)
        fuse_reply_err(req, ENODATA);
    else
        fuse_reply_write(req, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of(fs, ino);
    if (n->kind != K_COMPACT_FILE && n->kind != K_DELETE_FILE) {
        fuse_reply_err(req, n->kind == K_FILE ? EROFS : EBADF);
        return;
    }
    if (!may_write_ctl(req, fs)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    ctl_compact_write(req, fs, n, buf, size, off, n->kind == K_DELETE_FILE);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    (void)ino;
    struct fs *fs = fs_of(req);
    struct statvfs sv;
    if (statvfs(engine_path(fs->e), &sv) != 0)
        memset(&sv, 0, sizeof sv);
    sv.f_namemax = NAMES_NAME_MAX;
    fuse_reply_statfs(req, &sv);
}

/* Data is read-only: every mutation of it answers EROFS. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent;
    (void)name;
    (void)mode;
    fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent;
    (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    (void)parent;
    (void)name;
    (void)newparent;
    (void)newname;
    (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    (void)ino;
    (void)newparent;
    (void)newname;
    fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link;
    (void)parent;
    (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent;
    (void)name;
    (void)mode;
    (void)rdev;
    fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    (void)ino;
    (void)name;
    (void)value;
    (void)size;
    (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino;
    (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    (void)userdata;
    /* readdirplus when the reader goes on to stat the entries (ls -l, du,
     * tar), plain readdir with 4x more entries per request when it does not
     * (find -type f): the kernel decides, per directory. */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
    /* Large values stream in 1 MiB requests (libfuse derives max_pages from
     * max_write; its buffers hold 256 pages). */
    conn->max_write = 1 << 20;
    conn->max_readahead = 1 << 20;
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .open = op_open,
    .read = op_read,
    .release = op_release,
    .create = op_create,
    .write = op_write,
    .statfs = op_statfs,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .rename = op_rename,
    .link = op_link,
    .symlink = op_symlink,
    .mknod = op_mknod,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
    /* no getxattr/listxattr: the kernel remembers ENOSYS and stops asking */
};

/* ---- Lifecycle ---- */

/* A cached entry the kernel should drop: name in directory parent. */
struct stale_entry {
    fuse_ino_t parent;
    char *name;
};

/* The entries of replaced versions that the kernel may still cache (under
 * fs->lock), each returned once per lookup of it.  An entry is valid for a
 * day, and the kernel keeps an unused one until memory runs short: the entries
 * a walk of a replaced version used (at the switch or after it) would keep
 * their nodes, so the version and its snapshot of replaced data, for as long.
 * An invalidated entry is unhashed: dropped at once if unused, else as soon as
 * its last user lets go, and the kernel then forgets its node.  (The sync
 * directory's own entry was invalidated by the switch; its name in the root
 * now means the new version, so it is not touched again.) */
static size_t stale_entries(struct fs *fs, struct stale_entry **out)
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
            if (!(list[n].name = strdup(c->name)))
                break;
            list[n++].parent = ino_of(fs, c->parent);
            c->inval_sent = 1;
        }
    }
    *out = list;
    return n;
}

static void *sweeper_main(void *arg)
{
    struct fs *fs = arg;
    pthread_mutex_lock(&fs->lock);
    while (!fs->stop_sweeper) {
        versions_sweep(fs);
        struct stale_entry *stale;
        size_t n = stale_entries(fs, &stale);
        if (n) {
            /* Never notify under the lock: the kernel takes the directory's
             * lock, which a lookup we are serving may hold while it waits
             * for ours. */
            pthread_mutex_unlock(&fs->lock);
            for (size_t i = 0; i < n; i++) {
                if (!fs->stop_sweeper)
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

/* Marks statuses persisted as running by a mount that died as failed. */
static int fix_status(void *arg, const char *name, const char *value, size_t len)
{
    struct fs *fs = arg;
    if (!memmem(value, len, "\"state\":\"running\"", 17))
        return 0;
    struct status st = {0};
    snprintf(st.sync_id, sizeof st.sync_id, "%s", name + strlen("status/"));
    snprintf(st.state, sizeof st.state, "failed");
    st.error = "interrupted: the mount stopped while the compaction ran; the base was not "
               "changed unless the sync's data shows it";
    status_persist(fs, &st);
    return 0;
}

struct fs *fs_new(double version_max_age)
{
    struct fs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    fs->owner = getuid();
    fs->group = getgid();
    fs->version_max_age = version_max_age;
    fs->mount_time = time(NULL);
    pthread_mutex_init(&fs->lock, NULL);
    pthread_cond_init(&fs->sweeper_cond, NULL);
    fs->root.kind = K_ROOT;
    fs->ctl.kind = K_CTL;
    fs->ctl_compact.kind = K_CTL_COMPACT;
    fs->ctl_delete.kind = K_CTL_DELETE;
    fs->ctl_stats.kind = K_CTL_STATS;
    return fs;
}

int fs_start(struct fs *fs, engine *e)
{
    fs->e = e;
    engine_meta_list(e, "status/", fix_status, fs, NULL);
    int rc = pthread_create(&fs->sweeper, NULL, sweeper_main, fs);
    if (rc)
        return -rc;
    fs->sweeper_running = 1;
    return 0;
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
    fs->se = se;
}

int fs_stop(struct fs *fs)
{
    if (!fs || !fs->sweeper_running)
        return 0;
    pthread_mutex_lock(&fs->lock);
    fs->stop_sweeper = 1;
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

void fs_free(struct fs *fs)
{
    if (!fs || fs_stop(fs) != 0)
        return; /* the background thread still runs: leave everything to the exit */
    while (fs->dirs)
        dir_handle_free(fs, fs->dirs);
    while (fs->files)
        open_file_free(fs, fs->files);
    for (size_t i = 0; i < fs->table_size; i++) {
        struct node *n = fs->table[i];
        while (n) {
            struct node *next = n->hash_next;
            free(n->bucket);
            free(n->prefix);
            free(n->name);
            free(n);
            n = next;
        }
    }
    free(fs->table);
    while (fs->versions) {
        struct version *v = fs->versions;
        fs->versions = v->next;
        snapref_put(fs, v->snap);
        free(v);
    }
    while (fs->statuses) {
        struct status *s = fs->statuses;
        fs->statuses = s->next;
        free(s->source);
        free(s->error);
        free(s);
    }
    pthread_mutex_destroy(&fs->lock);
    pthread_cond_destroy(&fs->sweeper_cond);
    free(fs);
}
