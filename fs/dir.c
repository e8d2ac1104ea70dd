/*
 * dir.c - open directories: opendir, readdir, readdirplus, releasedir.
 *
 * A directory handle keeps the snapshot its listing started with and a
 * cursor, so that a listing of any size is read page by page as the kernel
 * asks, with nothing read whole into memory: the root lists the store's syncs
 * and a sync its buckets, one seek per name; ctl/compact lists the persisted
 * statuses; a bucket or key directory is a tree_list (tree.c) whose entries
 * this file puts into the kernel's buffer.  Offsets are positions in the
 * listing ("." is 1, ".." 2); a readdir at another offset than the handle's
 * (a seekdir) starts the listing over and skips to it.
 *
 * Where the kernel supports it, directories are opened without asking us
 * (opendir answers ENOSYS once: FUSE_CAP_NO_OPENDIR_SUPPORT), which saves an
 * OPENDIR and a RELEASEDIR per directory listed.  The kernel then keeps every
 * listing it read in its page cache: right for a version's directories,
 * which never change, and for the root and ctl/compact because their
 * modification times move on whenever they change (dir_changed).  A listing
 * read in several requests resumes from a cursor kept by directory and
 * offset (fs->cursors: at most DIR_CURSORS, the least recently used evicted;
 * dropped at a switch, so none keeps an old snapshot).
 */
#include "fs_i.h"
#include "tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct dir_handle {
    struct dir_handle *prev, *next; /* fs->dirs: freed at exit if still open */
    struct node *node;              /* the directory (the kernel holds it while listing) */
    uint64_t gen;                   /* fs->switch_gen when it was made */
    uint64_t used_at;               /* a cursor: fs->cursor_clock at its last use */
    struct snapref *snap;
    off_t next_off;                     /* the offset the cursor stands at */
    char after[ENGINE_SYNC_ID_MAX + 1]; /* name listings: the last name listed */
    int keys;                           /* a key directory: list is in use */
    struct tree_list list;              /* key directories: the tree's cursor */
    char prefix[ENGINE_KEY_MAX + 1];    /* key directories: the raw key prefix listed */
};

/* Where the entries of one readdir go. */
struct dir_out {
    fuse_req_t req;
    struct fs *fs;
    struct node *dir; /* the directory listed */
    struct dir_handle *h;
    int plus;
    char *buf;
    size_t size, used;
    off_t skip; /* entries before this offset are counted, not added */
};

/* Adds one entry; returns 0 when it did not fit.  A readdirplus entry counts
 * a lookup of its node (made here) unless fixed_ino names a static node. */
static int dir_add(struct dir_out *o, const char *name, enum kind kind, struct version *ver,
                   const char *bucket, const char *prefix, size_t prefix_len, uint64_t size,
                   fuse_ino_t fixed_ino)
{
    struct fs *fs = o->fs;
    struct dir_handle *h = o->h;
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
        /* A ctl file gets no node (and no lookup) here: its text is made at
         * the lookup of its name (file.c), which a reader of it sends. */
        int ctl_file = kind == K_COMPACT_FILE || kind == K_DELETE_FILE || kind == K_CTL_STATS;
        if (fixed_ino) {
            n = node_of_ino(fs, fixed_ino);
        } else if (!ctl_file) {
            /* The analyzer loses fs through the ino <-> pointer casts above. */
            pthread_mutex_lock(&fs->lock); // NOLINT(clang-analyzer-core.NonNullParamChecker)
            n = node_get(fs, o->dir, name, kind, ver, bucket, prefix, prefix_len, size);
            pthread_mutex_unlock(&fs->lock);
            if (!n)
                return 0;
        }
        if (ctl_file) {
            e.attr.st_mode = S_IFREG;
            e.attr.st_ino = 1; /* readdir(3) skips an entry of inode 0 */
        } else if (!strcmp(name, ".") || !strcmp(name, "..")) {
            e.attr.st_mode = S_IFDIR;
            e.attr.st_ino = fixed_ino;
        } else {
            e.ino = node_ino(fs, n);
            node_fill_attr(fs, n, &e.attr);
            e.attr_timeout = e.entry_timeout = node_timeout(n);
        }
        fuse_add_direntry_plus(o->req, o->buf + o->used, o->size - o->used, name, &e, next);
    }
    o->used += want;
    h->next_off = next;
    return 1;
}

static void dir_reset(struct dir_handle *h)
{
    h->next_off = 0;
    h->after[0] = '\0';
    if (h->keys)
        tree_list_rewind(&h->list);
}

/* A new handle on directory n, linked into fs->dirs: 0 or an errno. */
static int dir_handle_new(struct fs *fs, struct node *n, struct dir_handle **out)
{
    struct dir_handle *h = calloc(1, sizeof *h);
    if (!h)
        return ENOMEM;
    pthread_mutex_lock(&fs->lock);
    h->gen = fs->switch_gen; /* before the snapshot: a switch in between shows */
    pthread_mutex_unlock(&fs->lock);
    if (n->ver) {
        h->snap = version_snap_of(fs, n);
        if (!h->snap) {
            free(h);
            return ESTALE;
        }
    }
    if (h->snap && (n->kind == K_BUCKET || n->kind == K_DIR)) {
        /* Bucket and key-prefix nodes always belong to a version.  The node
         * outlives the handle: the kernel holds an open directory's inode. */
        struct tree_dir d = {.e = fs->e,
                             .snap = h->snap->snap,
                             .sync_id = n->ver->sync_id,
                             .bucket = n->bucket,
                             .prefix = h->prefix,
                             .prefix_len = node_key(n, h->prefix)};
        if (!d.prefix_len)
            d.prefix = NULL; /* a bucket */
        tree_list_init(&h->list, &d);
        h->keys = 1;
    }
    h->node = n;
    dir_reset(h);
    pthread_mutex_lock(&fs->lock);
    FS_LINK(fs->dirs, h);
    pthread_mutex_unlock(&fs->lock);
    *out = h;
    return 0;
}

void dir_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_OPENDIR);
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    if (!node_is_dir(n)) {
        fuse_reply_err(req, ENOTDIR);
        return;
    }
    if (fs->no_opendir) {
        /* the kernel opens this and every later directory itself */
        fuse_reply_err(req, ENOSYS);
        return;
    }
    struct dir_handle *h = NULL;
    int err = dir_handle_new(fs, n, &h);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->cache_readdir = n->ver != NULL; /* versioned listings never change */
    fi->keep_cache = n->ver != NULL;
    fuse_reply_open(req, fi);
}

/* Frees a handle (under fs->lock). */
static void dir_free_locked(struct fs *fs, struct dir_handle *h)
{
    if (h->keys)
        tree_list_release(&h->list);
    FS_UNLINK(fs->dirs, h);
    version_snap_put(fs, h->snap);
    free(h);
}

static void dir_free(struct fs *fs, struct dir_handle *h)
{
    pthread_mutex_lock(&fs->lock);
    dir_free_locked(fs, h);
    pthread_mutex_unlock(&fs->lock);
}

void dir_free_all(struct fs *fs)
{
    pthread_mutex_lock(&fs->lock);
    dir_cursors_drop(fs, NULL);
    pthread_mutex_unlock(&fs->lock);
    while (fs->dirs)
        dir_free(fs, fs->dirs);
}

void dir_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_RELEASEDIR);
    (void)ino;
    struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
    if (h) /* none when the kernel opened the directory itself */
        dir_free(fs_of(req), h);
    fuse_reply_err(req, 0);
}

/* ---- Cursors: listings without handles ---- */

void dir_cursors_drop(struct fs *fs, const struct node *n)
{
    for (size_t i = 0; i < DIR_CURSORS; i++) {
        struct dir_handle *c = fs->cursors[i];
        if (c && (!n || c->node == n)) {
            dir_free_locked(fs, c);
            fs->cursors[i] = NULL;
        }
    }
}

/* The cursor of directory d standing at offset off, taken out of the cache;
 * NULL when there is none. */
static struct dir_handle *cursor_take(struct fs *fs, struct node *d, off_t off)
{
    struct dir_handle *h = NULL;
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < DIR_CURSORS && !h; i++) {
        struct dir_handle *c = fs->cursors[i];
        if (c && c->node == d && c->next_off == off) {
            h = c;
            fs->cursors[i] = NULL;
        }
    }
    pthread_mutex_unlock(&fs->lock);
    return h;
}

/* Keeps a cursor for the request that continues its listing, unless the
 * listing ended (the kernel has read it all: an empty reply) or a switch
 * happened since it was made; the least recently used one makes room. */
static void cursor_put(struct fs *fs, struct dir_handle *h, int ended)
{
    pthread_mutex_lock(&fs->lock);
    if (ended || h->gen != fs->switch_gen || version_stale(h->node->ver)) {
        dir_free_locked(fs, h);
    } else {
        size_t slot = 0;
        for (size_t i = 0; i < DIR_CURSORS; i++) {
            if (!fs->cursors[i]) {
                slot = i;
                break;
            }
            if (fs->cursors[i]->used_at < fs->cursors[slot]->used_at)
                slot = i;
        }
        if (fs->cursors[slot])
            dir_free_locked(fs, fs->cursors[slot]);
        h->used_at = ++fs->cursor_clock;
        fs->cursors[slot] = h;
    }
    pthread_mutex_unlock(&fs->lock);
}

void dir_changed(struct fs *fs, struct node *n, struct timespec *mtime)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    pthread_mutex_lock(&fs->lock);
    /* strictly later than before, even within one clock tick */
    if (now.tv_sec < mtime->tv_sec ||
        (now.tv_sec == mtime->tv_sec && now.tv_nsec <= mtime->tv_nsec)) {
        now = *mtime;
        if (++now.tv_nsec == 1000000000L) {
            now.tv_sec++;
            now.tv_nsec = 0;
        }
    }
    *mtime = now;
    pthread_mutex_unlock(&fs->lock);
    if (fs->se) /* not a request on n: allowed while one is being answered */
        fuse_lowlevel_notify_inval_inode(fs->se, node_ino(fs, n), 0, 0);
}

/* ---- Name listings: the root, a sync, ctl/compact ---- */

/* The name after h->after from a "next name after" source (syncs, buckets,
 * statuses), into out: 1 found, 0 at the end, or a negative error. */
typedef int (*dir_next_fn)(struct fs *fs, struct node *d, struct dir_handle *h, char *out);

static int dir_next_sync(struct fs *fs, struct node *d, struct dir_handle *h, char *out)
{
    (void)d;
    return engine_next_sync(fs->e, NULL, h->after, out, NULL);
}

static int dir_next_bucket(struct fs *fs, struct node *d, struct dir_handle *h, char *out)
{
    return engine_next_bucket(fs->e, h->snap->snap, d->ver->sync_id, h->after, out, NULL);
}

static int dir_next_status(struct fs *fs, struct node *d, struct dir_handle *h, char *out)
{
    (void)d;
    /* Persisted statuses include every attempt of this mount (they are
     * written when an attempt starts). */
    return status_next(fs, h->after, out);
}

static int dir_list_names(struct dir_out *o, dir_next_fn next, enum kind child_kind)
{
    struct dir_handle *h = o->h;
    struct node *d = o->dir;
    char name[ENGINE_SYNC_ID_MAX + 1];
    for (;;) {
        int rc = next(o->fs, d, h, name);
        if (rc < 0)
            return EIO;
        if (rc == 0)
            return 0;
        if (h->next_off < o->skip) {
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
            if (!dir_add(o, name, child_kind, bucket ? d->ver : NULL, bucket ? name : NULL,
                         bucket ? NULL : name, bucket ? 0 : strlen(name), 0, 0))
                return 0;
        }
        snprintf(h->after, sizeof h->after, "%s", name);
    }
}

/* ---- Key listings ---- */

/* The tree's entries into the reply (tree_emit_fn). */
static int dir_emit_key(void *arg, const struct tree_entry *entry)
{
    struct dir_out *o = arg;
    if (o->h->next_off < o->skip) {
        o->h->next_off++;
        return 1;
    }
    return dir_add(o, entry->name, entry->is_dir ? K_DIR : K_FILE, o->dir->ver, o->dir->bucket,
                   entry->key, entry->key_len, entry->size, 0);
}

/* ---- readdir and readdirplus ---- */

/* The entries of the ctl/ directory at offsets 3, 4 and 5. */
static void dir_list_ctl(struct dir_out *o)
{
    static const char *names[] = {"compact", "delete", "stats"};
    struct fs *fs = o->fs;
    struct dir_handle *h = o->h;
    static const enum kind kinds[] = {K_CTL_COMPACT, K_CTL_DELETE, K_CTL_STATS};
    const fuse_ino_t inos[] = {node_ino(fs, &fs->ctl_compact), node_ino(fs, &fs->ctl_delete), 0};
    for (int i = 0; i < 3; i++) {
        if (h->next_off != 2 + i)
            continue;
        if (h->next_off < o->skip)
            h->next_off++;
        else if (!dir_add(o, names[i], kinds[i], NULL, NULL, NULL, 0, 0, inos[i]))
            return; /* full */
    }
}

static void dir_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                        struct fuse_file_info *fi, int plus)
{
    struct fs *fs = fs_of(req);
    struct node *d = node_of_ino(fs, ino);
    struct dir_handle *h = (struct dir_handle *)(uintptr_t)fi->fh;
    if (version_expired(fs, d->ver)) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    int cursor = h == NULL; /* the kernel opened the directory itself */
    if (cursor && !(h = cursor_take(fs, d, off))) {
        int err = dir_handle_new(fs, d, &h);
        if (err) {
            fuse_reply_err(req, err);
            return;
        }
    }
    char *buf = malloc(size);
    if (!buf) {
        if (cursor)
            cursor_put(fs, h, 1);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    struct dir_out o = {.req = req,
                        .fs = fs,
                        .dir = d,
                        .h = h,
                        .plus = plus,
                        .buf = buf,
                        .size = size,
                        .skip = off};
    if (off != h->next_off) /* a seek: start over and skip to the offset */
        dir_reset(h);
    int err = 0;
    /* "." and ".." at offsets 1 and 2; after a seek, only those past it. */
    while (h->next_off < 2 && h->next_off < o.skip)
        h->next_off++;
    if (h->next_off < 2) {
        if (h->next_off == 0 && !dir_add(&o, ".", K_DIR, NULL, NULL, NULL, 0, 0, ino))
            goto reply;
        if (h->next_off == 1 && !dir_add(&o, "..", K_DIR, NULL, NULL, NULL, 0, 0, FUSE_ROOT_ID))
            goto reply;
    }
    switch (d->kind) {
    case K_ROOT:
        if (h->next_off == 2) {
            if (o.skip > 2)
                h->next_off++;
            else if (!dir_add(&o, "ctl", K_CTL, NULL, NULL, NULL, 0, 0, node_ino(fs, &fs->ctl)))
                goto reply;
        }
        err = dir_list_names(&o, dir_next_sync, K_SYNC);
        break;
    case K_CTL:
        dir_list_ctl(&o);
        break;
    case K_CTL_COMPACT:
        err = dir_list_names(&o, dir_next_status, K_COMPACT_FILE);
        break;
    case K_CTL_DELETE:
        break;
    case K_SYNC:
        err = dir_list_names(&o, dir_next_bucket, K_BUCKET);
        break;
    case K_BUCKET:
    case K_DIR:
        err = tree_list_next(&h->list, dir_emit_key, &o);
        break;
    default:
        err = ENOTDIR;
    }
reply:
    /* the cursor goes back before the reply, so the next request finds it */
    if (cursor)
        cursor_put(fs, h, o.used == 0);
    if (err && o.used == 0)
        fuse_reply_err(req, err);
    else
        fuse_reply_buf(req, buf, o.used);
    free(buf);
}

void dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_READDIR);
    dir_readdir(req, ino, size, off, fi, 0);
}

void dir_read_plus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_READDIRPLUS);
    dir_readdir(req, ino, size, off, fi, 1);
}
