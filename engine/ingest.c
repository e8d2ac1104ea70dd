/*
 * ingest.c - the one write path for bulk data: SST files built in
 * STORE/staging/ and added to the database in one
 * rocksdb_ingest_external_file() call (move_files on).
 *
 * One ingest is one version edit, so a reader sees all of it or none of it.
 * Files are ingested in the order they were begun; a later file wins over an
 * earlier one where they overlap.  Staging files belong to their ingest and
 * are removed when it is freed, whatever happened.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int engine_ingest_new(engine *e, engine_ingest **out, char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    engine_ingest *ing = calloc(1, sizeof *ing);
    if (!ing)
        return -ENOMEM;
    ing->e = e;
    ing->id = atomic_fetch_add(&e->next_ingest, 1);
    *out = ing;
    return 0;
}

int engine_ingest_slot(engine_ingest *ing, engine_sst **out)
{
    if (ing->n == ing->cap) {
        size_t cap = ing->cap ? ing->cap * 2 : 8;
        engine_sst **files = realloc(ing->files, cap * sizeof(engine_sst *));
        if (!files)
            return -ENOMEM;
        ing->files = files;
        ing->cap = cap;
    }
    engine_sst *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->ing = ing;
    if (asprintf(&w->path, "%s/%ld-%lu-%zu.sst", ing->e->staging, (long)getpid(), ing->id, ing->n) <
        0) {
        free(w);
        return -ENOMEM;
    }
    ing->files[ing->n++] = w;
    *out = w;
    return 0;
}

int engine_ingest_sst_begin(engine_ingest *ing, engine_sst **out, char **msg)
{
    engine_sst *w;
    int rc = engine_ingest_slot(ing, &w);
    if (rc)
        return rc;
    w->writer = rocksdb_sstfilewriter_create(ing->e->env_options, ing->e->options);
    char *err = NULL;
    rocksdb_sstfilewriter_open(w->writer, w->path, &err);
    if (err) {
        rc = engine_take_error(err, msg, "cannot create staging file '%s'", w->path);
        rocksdb_sstfilewriter_destroy(w->writer);
        unlink(w->path);
        free(w->path);
        free(w);
        ing->n--;
        return rc;
    }
    *out = w;
    return 0;
}

int engine_sst_put(engine_sst *w, const void *disk_key, size_t key_len, const void *value,
                   size_t value_len, char **msg)
{
    char *err = NULL;
    rocksdb_sstfilewriter_put(w->writer, disk_key, key_len, value, value_len, &err);
    if (err)
        return engine_take_error(err, msg, "cannot write staging file '%s'", w->path);
    w->entries++;
    w->added += key_len + value_len;
    return 0;
}

int engine_sst_delete_range(engine_sst *w, const void *lo, size_t lo_len, const void *hi,
                            size_t hi_len, char **msg)
{
    char *err = NULL;
    rocksdb_sstfilewriter_delete_range(w->writer, lo, lo_len, hi, hi_len, &err);
    if (err)
        return engine_take_error(err, msg, "cannot write staging file '%s'", w->path);
    w->entries++;
    return 0;
}

uint64_t engine_sst_file_size(const engine_sst *w)
{
    /* RocksDB's own figure stays 0 until the file is finished. */
    return w->writer ? w->added : w->final_size;
}

int engine_sst_finish(engine_sst *w, char **msg)
{
    if (w->finished)
        return 0;
    if (w->entries == 0) {
        /* RocksDB refuses to seal an empty file; there is nothing to ingest. */
        rocksdb_sstfilewriter_destroy(w->writer);
        w->writer = NULL;
        unlink(w->path);
        w->finished = -1;
        return 0;
    }
    char *err = NULL;
    rocksdb_sstfilewriter_finish(w->writer, &err);
    if (err)
        return engine_take_error(err, msg, "cannot finish staging file '%s'", w->path);
    struct stat st;
    if (stat(w->path, &st) == 0)
        w->final_size = (uint64_t)st.st_size;
    rocksdb_sstfilewriter_destroy(w->writer);
    w->writer = NULL;
    w->finished = 1;
    return 0;
}

size_t engine_ingest_file_count(const engine_ingest *ing)
{
    size_t n = 0;
    for (size_t i = 0; i < ing->n; i++)
        n += ing->files[i]->finished == 1;
    return n;
}

int engine_ingest_commit(engine_ingest *ing, char **msg)
{
    const char **list = calloc(ing->n ? ing->n : 1, sizeof *list);
    if (!list)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < ing->n; i++) {
        engine_sst *w = ing->files[i];
        if (!w->finished) {
            free(list);
            return engine_msgf(msg, -EINVAL, "staging file '%s' was not finished", w->path);
        }
        if (w->finished == 1)
            list[n++] = w->path;
    }
    int rc = 0;
    if (n > 0) {
        rocksdb_ingestexternalfileoptions_t *o = rocksdb_ingestexternalfileoptions_create();
        rocksdb_ingestexternalfileoptions_set_move_files(o, 1);
        rocksdb_ingestexternalfileoptions_set_snapshot_consistency(o, 1);
        rocksdb_ingestexternalfileoptions_set_allow_global_seqno(o, 1);
        rocksdb_ingestexternalfileoptions_set_allow_blocking_flush(o, 1);
        char *err = NULL;
        rocksdb_ingest_external_file(ing->e->db, list, n, o, &err);
        engine_test_pause(1);
        rocksdb_ingestexternalfileoptions_destroy(o);
        if (err)
            rc = engine_take_error(err, msg, "cannot ingest into store '%s'", ing->e->path);
    }
    free(list);
    return rc;
}

void engine_ingest_free(engine_ingest *ing)
{
    if (!ing)
        return;
    for (size_t i = 0; i < ing->n; i++) {
        engine_sst *w = ing->files[i];
        if (w->writer)
            rocksdb_sstfilewriter_destroy(w->writer);
        unlink(w->path); /* already gone after a moving ingest */
        free(w->path);
        free(w);
    }
    free(ing->files);
    free(ing);
}

int engine_ingest_append(engine_ingest *into, engine_ingest *from)
{
    if (into->n + from->n > into->cap) {
        size_t cap = into->n + from->n;
        engine_sst **files = realloc(into->files, cap * sizeof(engine_sst *));
        if (!files)
            return -ENOMEM;
        into->files = files;
        into->cap = cap;
    }
    for (size_t i = 0; i < from->n; i++) {
        from->files[i]->ing = into;
        into->files[into->n++] = from->files[i];
    }
    free(from->files);
    free(from);
    return 0;
}
