/*
 * fs_i.h - internals shared by fs.c (the file system) and mount.c (its
 * command line and lifecycle).
 */
#ifndef SYNCSTORE_FS_I_H
#define SYNCSTORE_FS_I_H

#include "engine.h"

struct fs;
struct fuse_session;
struct fuse_lowlevel_ops;

extern const struct fuse_lowlevel_ops fs_ops;

/* The file system's state, before it has a store: fuse_session_new() needs it
 * as userdata before the daemon forks, and RocksDB must be opened after. */
struct fs *fs_new(double version_max_age);
/* Gives the file system its store (borrowed until fs_free) and starts its
 * background sweeper.  Returns 0 or a negative errno. */
int fs_start(struct fs *fs, engine *e);
void fs_set_session(struct fs *fs, struct fuse_session *se);
/* Frees the state; the store is the caller's to close afterwards. */
/* Stops the background thread (before the session goes away); fs_free does
 * it too if need be.  -1 when it did not stop within 5 s (blocked in the
 * kernel): then nothing may be freed, and the process should exit. */
int fs_stop(struct fs *fs);
void fs_free(struct fs *fs);

/* The daemon's log: syslog once daemonized, stderr only when foreground (-f);
 * priority is a syslog(3) LOG_* level. */
void fs_log_open(int foreground);
void fs_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
