/*
 * c1z_i.h - what the files of the c1z import share: the front of the file
 * (header, zstd body, temporary file) for the readers of the formats behind
 * it.
 */
#ifndef SYNCSTORE_C1Z_I_H
#define SYNCSTORE_C1Z_I_H

#include <stdio.h>

#include "c1z.h"

/* Checks the magic at the current position of f and leaves f after it:
 * -EINVAL (not c1z), -ENOTSUP (C1Z3), or a read error. */
int c1z_check_header(FILE *f, const char *path, char **msg);

/* Streams the zstd body of f into out_fd, at most max_bytes (0: no limit);
 * the errors of c1z_decompress(). */
int c1z_decompress_body(FILE *f, const char *path, int out_fd, const char *out_name,
                        uint64_t max_bytes, char **msg);

/* Makes the temporary file that the body of the c1z file `path` is
 * decompressed into; *tmp_path is malloc'd, the caller unlinks and frees it. */
int c1z_make_temp(const char *path, char **tmp_path, int *fd, char **msg);

/* c1z_import() of a v1 file (c1z_v1.c); c1z_import() (c1z_import.c) picks
 * it or the C1Z3 import by the magic. */
int c1z_v1_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
                  const struct c1z_progress *progress, struct c1z_stats *stats, char **msg);

#endif
