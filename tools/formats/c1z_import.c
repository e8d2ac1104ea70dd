/*
 * c1z_import.c - c1z_import(): a baton .c1z file of either format, told apart
 * by its first 5 bytes (SPEC "import"): "C1ZF\0" is v1 (c1z_v1.c), "C1Z3\0"
 * is C1Z3 (c1z3/c1z3_import.c).  Anything else is refused by the v1 reader's
 * header check, which names the file and the reason.
 */
#include "c1z3_envelope.h"
#include "c1z3_import.h"
#include "c1z_i.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int c1z_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
               struct c1z_stats *stats, char **msg)
{
    return c1z_import_progress(e, path, sync_ids, n_sync_ids, NULL, stats, msg);
}

int c1z_import_progress(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
                        const struct c1z_progress *progress, struct c1z_stats *stats, char **msg)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        return engine_msgf(msg, -err, "cannot open '%s': %s", path, strerror(err));
    }
    unsigned char magic[C1Z3_MAGIC_LEN];
    size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    if (n == sizeof magic && !memcmp(magic, C1Z3_MAGIC, C1Z3_MAGIC_LEN))
        return c1z3_import(e, path, sync_ids, n_sync_ids, progress, stats, msg);
    return c1z_v1_import(e, path, sync_ids, n_sync_ids, progress, stats, msg);
}
