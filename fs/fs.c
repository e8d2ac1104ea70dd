/*
 * fs.c - the file system's state: made, started, stopped and freed.
 *
 * The store as a FUSE file system, with old-or-new consistency: each sync
 * directory is a version that reads through one snapshot (versions.c), so a
 * walk inside it sees the sync as it was, whatever compactions run meanwhile;
 * the kernel may therefore cache everything below it for long.  struct fs
 * (fs_i.h) holds the node table, the versions, this mount's statuses, the
 * listing cursors and the value cache under one mutex; fs_i.h lists the rooms that share it.
 *
 * The state is made before the daemon forks (fuse_session_new needs it) and
 * gets its store after (RocksDB's threads do not survive a fork): mount.c
 * calls fs_new, fs_set_session, fs_start, then fs_stop and fs_free.
 */
#include "fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct fs *fs_new(double version_max_age, int read_only, int readdirplus_always)
{
    struct fs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    fs->owner = getuid();
    fs->group = getgid();
    fs->version_max_age = version_max_age;
    fs->read_only = read_only;
    fs->readdirplus_always = readdirplus_always;
    fs->mount_time = time(NULL);
    fs->root_mtime.tv_sec = fs->statuses_mtime.tv_sec = fs->mount_time;
    atomic_init(&fs->stop_sweeper, 0);
    pthread_mutex_init(&fs->lock, NULL);
    pthread_cond_init(&fs->sweeper_cond, NULL);
    fs->root.kind = K_ROOT;
    fs->ctl.kind = K_CTL;
    fs->ctl_compact.kind = K_CTL_COMPACT;
    fs->ctl_delete.kind = K_CTL_DELETE;
    return fs;
}

int fs_start(struct fs *fs, engine *e)
{
    fs->e = e;
    status_fix_interrupted(fs);
    return version_sweeper_start(fs);
}

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
    fs->se = se;
}

int fs_stop(struct fs *fs)
{
    if (!fs)
        return 0;
    return version_sweeper_stop(fs);
}

void fs_free(struct fs *fs)
{
    if (!fs || fs_stop(fs) != 0)
        return; /* the background thread still runs: leave everything to the exit */
    dir_free_all(fs);
    values_drop_idle(fs, 0);
    node_free_all(fs);
    version_free_all(fs);
    status_free_all(fs);
    pthread_mutex_destroy(&fs->lock);
    pthread_cond_destroy(&fs->sweeper_cond);
    free(fs);
}

int fs_errno(int rc)
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
