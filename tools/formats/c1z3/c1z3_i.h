/*
 * c1z3_i.h - what the files of the C1Z3 envelope share: the directory the
 * payload's files are written into, and the tar reader of the two tar
 * encodings (c1z3_tar.c).
 */
#ifndef SYNCSTORE_C1Z3_I_H
#define SYNCSTORE_C1Z3_I_H

#include <stddef.h>
#include <stdint.h>

#include "c1z3_envelope.h"

/* Where the payload goes, and what was written so far. */
struct c1z3_out {
    const char *path; /* the C1Z3 file, for messages */
    int dirfd;        /* the destination directory */
    uint64_t bytes;   /* file bytes written */
    size_t n_files;
};

/* The input file, read sequentially from an offset, with progress. */
struct c1z3_in {
    const char *path;
    int fd;
    uint64_t pos, size; /* next offset to read; the file's size */
    c1z3_progress_fn progress;
    void *arg;
};

/* Creates the file `name` (len bytes, not NUL-terminated) in the directory:
 * the name must be 1..255 bytes, no '/', no NUL, not "." or "..", and new
 * (-EINVAL otherwise, `what` names the entry kind in the message).  *fd is
 * opened for writing. */
int c1z3_create_file(struct c1z3_out *out, const char *what, const char *name, size_t len, int *fd,
                     char **msg);

/* Writes all of data to fd: 0 or a negated errno. */
int c1z3_write_all(int fd, const void *data, size_t len);

/* Reads up to len bytes at in->pos: the count (0 at the end of the file) or
 * a negated errno, with a message. */
long c1z3_read(struct c1z3_in *in, void *buf, size_t len, char **msg);

/* Unpacks a tar payload that starts at in->pos and runs to the end of the
 * file, zstd-compressed when zstd is set (TAR_ZSTD) or plain (TAR). */
int c1z3_unpack_tar(struct c1z3_in *in, int zstd, struct c1z3_out *out, char **msg);

#endif
