/*
 * verify.c - reading every byte of a store for `check`: the unbounded raw
 * iterator over records and metadata, and the checksum walk over every live
 * SST file (engine_verify_sst_files) that also reads what range tombstones
 * hide and steps past a damaged file to check the ones after it.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void set_full_scan(rocksdb_readoptions_t *ro)
{
    rocksdb_readoptions_set_verify_checksums(ro, 1);
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_readoptions_set_readahead_size(ro, 2u << 20);
}

engine_iter *engine_iter_new_raw(engine *e)
{
    engine_iter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    /* Empty bounds: engine_iter_seek_first() seeks to "", the first key. */
    it->lo = malloc(1);
    it->hi = malloc(1);
    if (!it->lo || !it->hi) {
        free(it->lo);
        free(it->hi);
        free(it);
        return NULL;
    }
    it->db = e->db;
    it->ro = engine_read_begin(e, NULL, &it->own_snap);
    set_full_scan(it->ro);
    it->it = rocksdb_create_iterator(e->db, it->ro);
    return it;
}

/* The index of the live SST file that a RocksDB message names (".../000123.sst"), or -1. */
static int livefile_named(const rocksdb_livefiles_t *lf, int n, const char *text)
{
    for (const char *p = strstr(text, ".sst"); p; p = strstr(p + 1, ".sst")) {
        const char *q = p;
        while (q > text && q[-1] >= '0' && q[-1] <= '9')
            q--;
        size_t len = (size_t)(p + 4 - q);
        if (q == p)
            continue;
        for (int i = 0; i < n; i++) {
            const char *name = rocksdb_livefiles_name(lf, i);
            const char *base = strrchr(name, '/');
            base = base ? base + 1 : name;
            if (strlen(base) == len && !memcmp(base, q, len))
                return i;
        }
    }
    return -1;
}

int engine_verify_sst_files(engine *e, struct engine_sst_check *out,
                            void (*bad)(void *arg, const char *file, const char *reason), void *arg,
                            char **msg)
{
    memset(out, 0, sizeof *out);
    const rocksdb_livefiles_t *lf = rocksdb_livefiles(e->db);
    if (!lf)
        return engine_msgf(msg, -EIO, "cannot list the SST files of store '%s'", e->path);
    int n = rocksdb_livefiles_count(lf);
    out->files = (uint64_t)n;
    for (int i = 0; i < n; i++)
        out->bytes += rocksdb_livefiles_size(lf, i);
    char *reported = calloc((size_t)n + 1, 1); /* per file: a corruption was reported */
    char *from = NULL;                         /* where the walk resumes; NULL: the start */
    size_t from_len = 0;
    if (!reported) {
        rocksdb_livefiles_destroy(lf);
        return -ENOMEM;
    }
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro = engine_read_begin(e, NULL, &snap);
    set_full_scan(ro);
    rocksdb_readoptions_set_ignore_range_deletions(ro, 1);
    int rc = 0;
    for (;;) {
        rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, ro);
        if (from)
            rocksdb_iter_seek(it, from, from_len);
        else
            rocksdb_iter_seek_to_first(it);
        for (; rocksdb_iter_valid(it); rocksdb_iter_next(it))
            out->entries++;
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        rocksdb_iter_destroy(it);
        if (!err) {
            out->complete = 1;
            break;
        }
        int i = livefile_named(lf, n, err);
        char *file = NULL;
        if (i >= 0) {
            const char *name = rocksdb_livefiles_name(lf, i);
            file = engine_path_join(e->db_path, name[0] == '/' ? name + 1 : name);
        }
        bad(arg, file, err);
        free(file);
        rocksdb_free(err);
        if (i < 0 || reported[i])
            break;
        reported[i] = 1;
        /* Resume at the smallest key after the file's largest: largest 0x00. */
        size_t len;
        const char *largest = rocksdb_livefiles_largestkey(lf, i, &len);
        char *next = realloc(from, len + 1);
        if (!next) {
            rc = -ENOMEM;
            break;
        }
        from = next;
        memcpy(from, largest, len);
        from[len] = '\0';
        from_len = len + 1;
        out->skipped++;
    }
    engine_read_end(e, ro, snap);
    rocksdb_livefiles_destroy(lf);
    free(from);
    free(reported);
    return rc;
}
