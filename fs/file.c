/*
 * file.c - open files: a key's value, or the text of a ctl file.
 *
 * A data file reads through the snapshot of its version, taken at open: its
 * value is pinned (no copy) at the first read that reaches us, and every later
 * read of that open file is served from it; with the page cache kept, a warm
 * open never reads at all.  A status or stats file holds the text made at
 * open (direct I/O: the text changes from open to open).  Creating a ctl file
 * (the shell's `>`) opens it for the write that runs the operation.
 */
#include "fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

struct open_file {
    struct open_file *prev, *next; /* fs->files: freed at exit if still open */
    /* K_FILE: the value, pinned at the first read that reaches us and then
     * served to every read of this open file. */
    pthread_mutex_t pin_lock;
    struct snapref *snap; /* the version's snapshot at open */
    struct node *node;
    engine_value *value;
    const char *data;
    size_t len;
    char *text; /* ctl files: the status or stats text at open */
    struct version *ver;
};

static void file_track(struct fs *fs, struct open_file *h)
{
    pthread_mutex_lock(&fs->lock);
    FS_LINK(fs->files, h);
    pthread_mutex_unlock(&fs->lock);
}

static void file_free(struct fs *fs, struct open_file *h)
{
    engine_value_free(h->value);
    pthread_mutex_lock(&fs->lock);
    FS_UNLINK(fs->files, h);
    if (h->node) {
        pthread_mutex_destroy(&h->pin_lock);
        version_snap_put(fs, h->snap);
    }
    pthread_mutex_unlock(&fs->lock);
    free(h->text);
    free(h);
}

void file_free_all(struct fs *fs)
{
    while (fs->files)
        file_free(fs, fs->files);
}

static void file_open_ctl(fuse_req_t req, struct fs *fs, struct node *n, struct fuse_file_info *fi)
{
    int writing = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (writing && (n->kind == K_CTL_STATS || !ctl_may_write(req, fs))) {
        fuse_reply_err(req, EACCES);
        return;
    }
    struct open_file *h = calloc(1, sizeof *h);
    if (!h) {
        fuse_reply_err(req, ENOMEM);
        return;
    }
    int rc = 0;
    if (n->kind == K_CTL_STATS)
        rc = stats_text(fs, &h->text, &h->len);
    else if (n->kind == K_COMPACT_FILE)
        rc = status_text(fs, n->prefix, &h->text, &h->len);
    if (rc) {
        free(h);
        fuse_reply_err(req, fs_errno(rc));
        return;
    }
    h->data = h->text;
    file_track(fs, h);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1; /* status text changes from read to read */
    fi->nonseekable = 0;
    fuse_reply_open(req, fi);
}

void file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_OPEN);
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    if (n->kind != K_FILE) {
        if (node_is_dir(n))
            fuse_reply_err(req, EISDIR);
        else
            file_open_ctl(req, fs, n, fi);
        return;
    }
    if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
        fuse_reply_err(req, EROFS);
        return;
    }
    struct snapref *s = version_snap_of(fs, n);
    if (!s) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    struct open_file *h = calloc(1, sizeof *h);
    if (!h) {
        version_snap_release(fs, s);
        fuse_reply_err(req, ENOMEM);
        return;
    }
    pthread_mutex_init(&h->pin_lock, NULL);
    h->snap = s;
    h->node = n; /* the kernel holds the inode while the file is open */
    h->ver = n->ver;
    file_track(fs, h);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->keep_cache = 1; /* a versioned file never changes */
    fuse_reply_open(req, fi);
}

/* Pins the value of an open data file once; returns 0 or an errno. */
static int file_pin_value(struct fs *fs, struct open_file *h)
{
    int err = 0;
    pthread_mutex_lock(&h->pin_lock);
    if (!h->value) {
        struct node *n = h->node;
        char disk[ENGINE_DISK_KEY_MAX];
        size_t dl = engine_key_encode(disk, n->ver->sync_id, n->bucket, n->prefix, n->prefix_len);
        int rc = engine_value_get(fs->e, h->snap->snap, disk, dl, &h->value, NULL);
        if (rc)
            err = rc == -ENOENT ? ESTALE : fs_errno(rc);
        else
            h->data = engine_value_data(h->value, &h->len);
    }
    pthread_mutex_unlock(&h->pin_lock);
    return err;
}

void file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_READ);
    struct fs *fs = fs_of(req);
    (void)ino;
    struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;
    if (version_expired(fs, h->ver)) {
        fuse_reply_err(req, ESTALE);
        return;
    }
    if (h->node) {
        int err = file_pin_value(fs, h);
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

void file_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_RELEASE);
    (void)ino;
    struct open_file *h = (struct open_file *)(uintptr_t)fi->fh;
    if (h)
        file_free(fs_of(req), h);
    fuse_reply_err(req, 0);
}

/* A create in ctl/compact or ctl/delete (the shell's `>`): a ctl file opened
 * for the write that follows; anywhere else EACCES or EROFS. */
void file_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                 struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_CREATE);
    (void)mode;
    struct fs *fs = fs_of(req);
    struct node *p = node_of_ino(fs, parent);
    if (p->kind != K_CTL_COMPACT && p->kind != K_CTL_DELETE) {
        fuse_reply_err(req, p->kind == K_CTL || p->kind == K_ROOT ? EACCES : EROFS);
        return;
    }
    if (!ctl_may_write(req, fs)) {
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
    e.ino = node_ino(fs, n);
    node_fill_attr(fs, n, &e.attr);
    file_track(fs, h);
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->direct_io = 1;
    fuse_reply_create(req, &e, fi);
}
