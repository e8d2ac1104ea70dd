/*
 * ops.c - the request handlers and the op table: what each FUSE request does.
 *
 * Tree:  /                       the syncs and ctl/
 *        /<sync_id>/             a *version* of the sync: its buckets (versions.c)
 *        /<sync_id>/<bucket>/... keys, '/' a directory delimiter (names.h, tree.c)
 *        /ctl/compact/<sync_id>  write a source path to compact; read the status
 *        /ctl/delete/<sync_id>   write anything to delete the sync
 *        /ctl/stats              the store's figures
 *
 * Here are the handlers of lookups, attributes and writes, and the EROFS
 * answers to every mutation of the data; directory handles are dir.c's, open
 * files file.c's, and what a ctl write runs ctl_write.c's.  Every handler
 * replies exactly once.  Because a version never changes, the kernel may
 * cache entries, attributes, pages and listings below /<sync_id> for a long
 * time (node_timeout); the root and ctl/ are never cached.
 */
#include "fs_i.h"

#include "names.h"
#include "tree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

static void op_reply_entry(fuse_req_t req, struct fs *fs, struct node *n)
{
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = node_ino(fs, n);
    node_fill_attr(fs, n, &e.attr);
    e.attr_timeout = e.entry_timeout = node_timeout(n);
    fuse_reply_entry(req, &e);
}

/* ---- lookup, forget, getattr, setattr ---- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    FS_REQUEST(req, FS_REQ_LOOKUP);
    struct fs *fs = fs_of(req);
    struct node *p = node_of_ino(fs, parent);
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
        err = version_lookup(fs, p, name, &n);
        goto reply;
    case K_CTL:
        if (!strcmp(name, "compact")) {
            n = &fs->ctl_compact;
        } else if (!strcmp(name, "delete")) {
            n = &fs->ctl_delete;
        } else if (!strcmp(name, "stats")) {
            err = file_ctl_node(fs, p, name, K_CTL_STATS, &n);
            goto reply;
        }
        break;
    case K_CTL_COMPACT:
    case K_CTL_DELETE:
        if (engine_check_sync_id(name, name_len, NULL))
            break;
        /* compact/<sync_id>: a sync with a status, or one the base holds
         * (its state "none") */
        int has = p->kind == K_CTL_COMPACT ? status_exists(fs, name) : 0;
        if (has == 0)
            has = engine_sync_exists(fs->e, NULL, name, NULL);
        if (has < 0)
            err = has == -ENOMEM ? ENOMEM : EIO;
        if (has != 1)
            break;
        err = file_ctl_node(fs, p, name, p->kind == K_CTL_COMPACT ? K_COMPACT_FILE : K_DELETE_FILE,
                            &n);
        goto reply;
    case K_SYNC:
    case K_BUCKET:
    case K_DIR: {
        struct snapref *s = version_snap_of(fs, p);
        if (!s) {
            err = ESTALE;
            break;
        }
        if (p->kind == K_SYNC) {
            if (engine_check_bucket(name, name_len, NULL) == 0) {
                int exists = tree_bucket_exists(fs->e, s->snap, p->ver->sync_id, name);
                if (exists < 0)
                    err = ENOMEM;
                if (exists > 0) {
                    pthread_mutex_lock(&fs->lock);
                    n = node_get(fs, p, name, K_BUCKET, p->ver, name, NULL, 0, 0);
                    pthread_mutex_unlock(&fs->lock);
                }
            }
        } else {
            char prefix[ENGINE_KEY_MAX + 1];
            size_t prefix_len = node_key(p, prefix);
            struct tree_dir d = {.e = fs->e,
                                 .snap = s->snap,
                                 .sync_id = p->ver->sync_id,
                                 .bucket = p->bucket,
                                 .prefix = prefix_len ? prefix : NULL,
                                 .prefix_len = prefix_len};
            struct tree_found r;
            err = tree_resolve(&d, name, &r);
            if (!err) {
                pthread_mutex_lock(&fs->lock);
                n = node_get(fs, p, name, r.is_dir ? K_DIR : K_FILE, p->ver, p->bucket, r.key,
                             r.key_len, r.size);
                pthread_mutex_unlock(&fs->lock);
            }
        }
        version_snap_release(fs, s);
        if (!n && !err)
            err = ENOENT;
        goto reply;
    }
    default:
        err = ENOTDIR;
    }
reply:
    if (n)
        op_reply_entry(req, fs, n);
    else
        fuse_reply_err(req, err ? err : ENOENT);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    FS_REQUEST(req, FS_REQ_FORGET);
    struct fs *fs = fs_of(req);
    pthread_mutex_lock(&fs->lock);
    node_forget(fs, node_of_ino(fs, ino), nlookup);
    pthread_mutex_unlock(&fs->lock);
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    FS_REQUEST(req, FS_REQ_FORGET);
    struct fs *fs = fs_of(req);
    pthread_mutex_lock(&fs->lock);
    for (size_t i = 0; i < count; i++)
        node_forget(fs, node_of_ino(fs, forgets[i].ino), forgets[i].nlookup);
    pthread_mutex_unlock(&fs->lock);
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_GETATTR);
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    pthread_mutex_lock(&fs->lock);
    version_sweep(fs);
    int stale = version_stale(n->ver);
    struct stat st;
    node_fill_attr(fs, n, &st);
    pthread_mutex_unlock(&fs->lock);
    if (stale) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    fuse_reply_attr(req, &st, node_timeout(n));
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_SETATTR);
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    /* Only the shell's O_TRUNC of a control file: a no-op. */
    if (node_is_ctl_file(n) &&
        !(to_set & ~(FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                     FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME)) &&
        (!(to_set & FUSE_SET_ATTR_SIZE) || attr->st_size == 0)) {
        if (!ctl_may_write(req, fs)) {
            fuse_reply_err(req, EACCES);
            return;
        }
        struct stat st;
        node_fill_attr(fs, n, &st);
        fuse_reply_attr(req, &st, CTL_TIMEOUT);
        return;
    }
    fuse_reply_err(req, n->kind == K_FILE || node_is_dir(n) ? EROFS : EACCES);
}

/* ---- Writes, statfs ---- */

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_WRITE);
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    if (!node_is_ctl_file(n)) { /* opened for writing by the kernel alone (file.c) */
        fuse_reply_err(req, n->kind == K_FILE ? EROFS : EACCES);
        return;
    }
    if (!ctl_may_write(req, fs)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    if (n->kind == K_DELETE_FILE)
        ctl_delete_write(req, fs, n, size, off);
    else
        ctl_compact_write(req, fs, n, buf, size, off);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    FS_REQUEST(req, FS_REQ_STATFS);
    (void)ino;
    struct fs *fs = fs_of(req);
    struct statvfs sv;
    if (statvfs(engine_path(fs->e), &sv) != 0)
        memset(&sv, 0, sizeof sv);
    sv.f_namemax = NAMES_NAME_MAX;
    fuse_reply_statfs(req, &sv);
}

/* ---- Data is read-only: every mutation of it answers EROFS ---- */

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)parent;
    (void)name;
    (void)mode;
    fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)parent;
    (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)parent;
    (void)name;
    (void)newparent;
    (void)newname;
    (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)ino;
    (void)newparent;
    (void)newname;
    fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)link;
    (void)parent;
    (void)name;
    fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)parent;
    (void)name;
    (void)mode;
    (void)rdev;
    fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)ino;
    (void)name;
    (void)value;
    (void)size;
    (void)flags;
    fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    FS_REQUEST(req, FS_REQ_REFUSED);
    (void)ino;
    (void)name;
    fuse_reply_err(req, EROFS);
}

/* ---- The session and the table ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct fs *fs = userdata;
    /* Files opened by the kernel alone (file.c) on a read-only mount, where
     * the VFS refuses every open for writing. */
    fs->no_open = (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && fs->read_only;
    /* Directories opened by the kernel alone (dir.c), unless turned off for
     * a comparison (BENCHMARKS.md, issue 12): SYNCSTORE_FS_OPENDIR=1. */
    const char *opendir = getenv("SYNCSTORE_FS_OPENDIR");
    fs->no_opendir = (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) && !(opendir && *opendir == '1');
    /* readdirplus when the reader goes on to stat the entries (ls -l, du,
     * tar), plain readdir with 4x more entries per request when it does not
     * (find -type f): the kernel decides, per directory (it lists the first
     * page with attributes, the rest without unless a lookup came between).
     * -o readdirplus=always: every page with attributes. */
    if (conn->capable & FUSE_CAP_READDIRPLUS)
        conn->want |= FUSE_CAP_READDIRPLUS;
    if ((conn->capable & FUSE_CAP_READDIRPLUS_AUTO) && !fs->readdirplus_always)
        conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
    else
        conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want &= ~FUSE_CAP_CACHE_SYMLINKS;
    /* O_TRUNC as a SETATTR of size 0 (answered EROFS for a data file), not
     * as a flag of an OPEN that the kernel may never send: libfuse asks for
     * atomic O_TRUNC by default. */
    conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
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
    .opendir = dir_open,
    .readdir = dir_read,
    .readdirplus = dir_read_plus,
    .releasedir = dir_release,
    .open = file_open,
    .read = file_read,
    .release = file_release,
    .create = file_create,
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
