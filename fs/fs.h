/*
 * fs.h - the FUSE view of a store (SPEC "The mounted view").
 *
 * This header is free of FUSE types so that tools/ can call it; fs/ is the only
 * code that includes the FUSE headers.
 */
#ifndef SYNCSTORE_FS_H
#define SYNCSTORE_FS_H

#include <stddef.h>

/* `syncstore mount STORE MOUNTPOINT [-f] [-o OPT,...]` and the mount.fuse3 form
 * `syncstore STORE MOUNTPOINT -o OPT,...`: argv[0] is "mount" in the first form
 * and the program name in the second.  Returns the exit status. */
int fs_main(int argc, char **argv);

/* Parses what one write() to /ctl/compact/<sync_id> holds: an absolute path,
 * one trailing newline allowed, no NUL, shorter than PATH_MAX.  Copies the path
 * NUL-terminated into out (out_size bytes).  Returns 0 or -EINVAL. */
int ctl_parse_source(const char *buf, size_t len, char *out, size_t out_size);

#endif
