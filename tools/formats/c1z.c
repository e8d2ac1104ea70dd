/*
 * c1z.c - the front of every c1z file: the magic that says which format it is
 * (v1 "C1ZF\0"; "C1Z3", newer, is refused for now), and the zstd body
 * streamed into a temporary file through two fixed buffers, so memory stays
 * bounded whatever the file's size.  c1z_v1.c reads the SQLite database that
 * a v1 body holds.
 */
#include "c1z_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#define C1Z_MAGIC_V1 "C1ZF\0"
#define C1Z_MAGIC_LEN 5

void c1z_stats_release(struct c1z_stats *stats)
{
    if (!stats)
        return;
    free(stats->syncs);
    memset(stats, 0, sizeof(*stats));
}

/* ---- Header and zstd body ---- */

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Checks the magic at the start of f and leaves f after it. */
int c1z_check_header(FILE *f, const char *path, char **msg)
{
    unsigned char magic[C1Z_MAGIC_LEN];
    size_t n = fread(magic, 1, sizeof(magic), f);
    if (n < sizeof(magic) && ferror(f)) {
        int err = errno ? errno : EIO;
        return engine_msgf(msg, -err, "cannot read '%s': %s", path, strerror(err));
    }
    if (n >= 4 && !memcmp(magic, "C1Z3", 4))
        return engine_msgf(msg, -ENOTSUP,
                           "'%s' is a c1z file of format C1Z3, which this reader (v1, C1ZF) "
                           "does not read: c1z_import() reads it with the C1Z3 import",
                           path);
    if (n < sizeof(magic) || memcmp(magic, C1Z_MAGIC_V1, C1Z_MAGIC_LEN))
        return engine_msgf(msg, -EINVAL, "'%s' is not a c1z file (bad header)", path);
    return 0;
}

/* Streams the zstd body of f into out_fd, at most max_bytes (0: no limit). */
int c1z_decompress_body(FILE *f, const char *path, int out_fd, const char *out_name,
                        uint64_t max_bytes, char **msg)
{
    size_t in_cap = ZSTD_DStreamInSize(), out_cap = ZSTD_DStreamOutSize();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    void *in = malloc(in_cap), *out = malloc(out_cap);
    int rc = 0, seen_input = 0;
    size_t last = 0;
    uint64_t total = 0;

    if (!dctx || !in || !out) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory decompressing '%s'", path);
        goto out;
    }
    for (;;) {
        size_t n = fread(in, 1, in_cap, f);
        if (n == 0) {
            if (ferror(f)) {
                int err = errno ? errno : EIO;
                rc = engine_msgf(msg, -err, "cannot read '%s': %s", path, strerror(err));
                goto out;
            }
            break;
        }
        seen_input = 1;
        ZSTD_inBuffer ib = {in, n, 0};
        ZSTD_outBuffer ob;
        do {
            ob = (ZSTD_outBuffer){out, out_cap, 0};
            last = ZSTD_decompressStream(dctx, &ob, &ib);
            if (ZSTD_isError(last)) {
                rc = engine_msgf(msg, -EINVAL, "'%s' is corrupt (zstd: %s)", path,
                                 ZSTD_getErrorName(last));
                goto out;
            }
            total += ob.pos;
            if (max_bytes && total > max_bytes) {
                rc = engine_msgf(msg, -EFBIG, "'%s' decompresses to more than %llu bytes", path,
                                 (unsigned long long)max_bytes);
                goto out;
            }
            rc = write_all(out_fd, out, ob.pos);
            if (rc) {
                rc = engine_msgf(msg, rc, "cannot write temporary file '%s' for '%s': %s", out_name,
                                 path, strerror(-rc));
                goto out;
            }
        } while (ib.pos < ib.size || ob.pos == ob.size);
    }
    if (!seen_input) {
        rc = engine_msgf(msg, -EINVAL, "'%s' is truncated (nothing after the c1z header)", path);
        goto out;
    }
    if (last != 0)
        rc = engine_msgf(msg, -EINVAL, "'%s' is truncated (the zstd stream ends early)", path);
out:
    ZSTD_freeDCtx(dctx);
    free(in);
    free(out);
    return rc;
}

int c1z_decompress(FILE *f, const char *path, int out_fd, const char *out_name, uint64_t max_bytes,
                   char **msg)
{
    int rc = c1z_check_header(f, path, msg);
    if (rc)
        return rc;
    return c1z_decompress_body(f, path, out_fd, out_name, max_bytes, msg);
}

/* Makes the temporary file that the body of the c1z file `path` is
 * decompressed into: $TMPDIR (or /tmp)/syncstore-import-XXXXXX, open on *fd;
 * *tmp_path is malloc'd and the caller unlinks and frees it. */
int c1z_make_temp(const char *path, char **tmp_path, int *fd, char **msg)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    if (asprintf(tmp_path, "%s/syncstore-import-XXXXXX", dir) < 0) {
        *tmp_path = NULL;
        return engine_msgf(msg, -ENOMEM, "out of memory");
    }
    *fd = mkostemp(*tmp_path, O_CLOEXEC);
    if (*fd < 0) {
        int err = errno;
        free(*tmp_path);
        *tmp_path = NULL;
        return engine_msgf(msg, -err, "cannot create a temporary file in '%s' to import '%s': %s",
                           dir, path, strerror(err));
    }
    return 0;
}
