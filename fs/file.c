/*
 * file.c - files: reads of data values and ctl texts; opens and creates.
 *
 * No file has an open handle: a read needs only its inode.
 *
 *  - A data file reads its key at its version's snapshot (values.c), so every
 *    read of one inode sees one value; the kernel keeps its pages (the value
 *    never changes).
 *  - A ctl file's text (a status, the stats) is made when its name is looked
 *    up and kept in its node, a new node at each lookup (nodes.c): a reader
 *    sees one text from the first byte to the last, and the next open of the
 *    path gets the text of then.
 *
 * On a read-write mount every open reaches us: an open for writing of a data
 * file fails there (EROFS), before the kernel could put a writer's bytes in
 * the pages other readers share; ctl files are opened for direct I/O (their
 * size shows 0, so that the shell's `>>` writes at offset 0 too).  On a
 * read-only mount (-o ro) the VFS refuses every open for writing itself, so
 * where the kernel supports it (Linux 3.14+: FUSE_CAP_NO_OPEN_SUPPORT) open
 * answers ENOSYS once and the kernel then opens and releases every file
 * without asking us, which saves an OPEN and a RELEASE per file read; a ctl
 * file then shows its text's size, and its pages are cached as any file's.
 *
 * Creating a ctl file (the shell's `>` for a sync the base does not hold)
 * makes its node for the write that runs the operation.
 */
#include "fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

int file_ctl_node(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                  struct node **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = 0;
    if (kind == K_CTL_STATS)
        rc = stats_text(fs, &text, &len);
    else if (kind == K_COMPACT_FILE)
        rc = status_text(fs, name, &text, &len);
    if (rc)
        return rc == -ENOMEM ? ENOMEM : fs_errno(rc);
    pthread_mutex_lock(&fs->lock);
    *out = node_new_ctl(fs, parent, name, kind, text, len);
    pthread_mutex_unlock(&fs->lock);
    free(text);
    return *out ? 0 : ENOMEM;
}

void file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_OPEN);
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    if (node_is_dir(n)) {
        fuse_reply_err(req, EISDIR);
        return;
    }
    if (fs->no_open) {
        /* the kernel opens this and every later file itself */
        fuse_reply_err(req, ENOSYS);
        return;
    }
    int writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
    if (writing && n->kind == K_FILE) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (writing && (n->kind == K_CTL_STATS || !ctl_may_write(req, fs))) {
        fuse_reply_err(req, EACCES);
        return;
    }
    fi->fh = 0;
    if (n->kind == K_FILE)
        fi->keep_cache = 1; /* a version's value never changes */
    else
        fi->direct_io = 1; /* the size shows 0: every read reaches the node's text */
    fuse_reply_open(req, fi);
}

void file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_READ);
    (void)fi;
    struct fs *fs = fs_of(req);
    struct node *n = node_of_ino(fs, ino);
    if (off < 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    if (n->kind != K_FILE) { /* a ctl file: its text */
        size_t len = n->size, at = (size_t)off < len ? (size_t)off : len;
        fuse_reply_buf(req, n->text + at, len - at < size ? len - at : size);
        return;
    }
    struct value_ref v;
    int err = value_get(fs, n, (uint64_t)off + size, &v);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    size_t at = (size_t)off < v.len ? (size_t)off : v.len;
    fuse_reply_buf(req, v.data + at, v.len - at < size ? v.len - at : size);
    value_put(fs, &v);
}

void file_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    FS_REQUEST(req, FS_REQ_RELEASE);
    (void)ino;
    (void)fi;
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
    struct node *n = NULL;
    int err =
        file_ctl_node(fs, p, name, p->kind == K_CTL_COMPACT ? K_COMPACT_FILE : K_DELETE_FILE, &n);
    if (err) {
        fuse_reply_err(req, err);
        return;
    }
    struct fuse_entry_param e;
    memset(&e, 0, sizeof e);
    e.ino = node_ino(fs, n);
    node_fill_attr(fs, n, &e.attr);
    fi->fh = 0;
    fi->direct_io = 1; /* what the write runs changes the status: nothing to cache */
    fuse_reply_create(req, &e, fi);
}
