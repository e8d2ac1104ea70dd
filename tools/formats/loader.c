/*
 * loader.c - memory-bounded, all-or-nothing bulk loads through one ingest:
 * the sorted-run SST writer that every input format (JSON Lines, c1z, gen)
 * hands its records to.
 *
 * Records are appended to an arena of at most chunk_bytes; when it is full the
 * chunk is sorted by on-disk key (ties by arrival, so the last record for a key
 * wins), written as one SST run into the staging area, and the arena reused.
 * Runs may overlap each other; the engine ingests them in creation order with
 * increasing sequence numbers, so a later run overrides an earlier one exactly
 * as a later line does.  Memory is the arena plus its index, whatever the size
 * of the load.
 *
 * In replace mode the first file of the ingest is a tombstone-only file with
 * one range deletion per named sync.  It is begun when the loader is created so
 * that it precedes every run, and filled at commit when the set of named syncs
 * is known.
 */
#include "loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHUNK_BYTES (64u << 20)

struct entry {
    size_t offset; /* of the on-disk key in the arena; the value follows it */
    uint32_t key_len;
    uint32_t value_len;
    uint64_t seq; /* arrival order */
};

struct loader {
    engine *e;
    struct loader_options opt;
    engine_ingest *ing;
    engine_sst *tombstones; /* replace mode only */

    char *arena;
    size_t arena_len, arena_cap;
    struct entry *entries;
    size_t n_entries, entries_cap;
    uint64_t seq;

    char **syncs; /* named syncs, sorted */
    size_t n_syncs, syncs_cap;
    char last_sync[ENGINE_SYNC_ID_MAX + 1]; /* the most recently named sync */

    struct loader_stats stats;
    int committed;
};

int loader_new(engine *e, const struct loader_options *opt, loader **out, char **msg)
{
    int rc;
    if (opt->default_sync &&
        (rc = engine_check_sync_id(opt->default_sync, strlen(opt->default_sync), msg)))
        return rc;
    loader *l = calloc(1, sizeof *l);
    if (!l)
        return -ENOMEM;
    l->e = e;
    l->opt = *opt;
    if (!l->opt.chunk_bytes)
        l->opt.chunk_bytes = DEFAULT_CHUNK_BYTES;
    if ((rc = engine_ingest_new(e, &l->ing, msg)))
        goto fail;
    if (opt->replace && (rc = engine_ingest_sst_begin(l->ing, &l->tombstones, msg)))
        goto fail;
    *out = l;
    return 0;
fail:
    loader_free(l);
    return rc;
}

void loader_free(loader *l)
{
    if (!l)
        return;
    engine_ingest_free(l->ing);
    for (size_t i = 0; i < l->n_syncs; i++)
        free(l->syncs[i]);
    free(l->syncs);
    free(l->arena);
    free(l->entries);
    free(l);
}

const char *loader_default_sync(const loader *l)
{
    return l->opt.default_sync;
}

void loader_count_line(loader *l)
{
    l->stats.lines++;
}

/* ---- Named syncs ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int loader_name_sync(loader *l, const char *sync_id, char **msg)
{
    /* last_sync starts empty, and "" is no valid sync_id: check before the shortcut. */
    if (l->last_sync[0] && !strcmp(sync_id, l->last_sync))
        return 0;
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    snprintf(l->last_sync, sizeof l->last_sync, "%s", sync_id);
    if (l->n_syncs && bsearch(&sync_id, l->syncs, l->n_syncs, sizeof *l->syncs, cmp_str))
        return 0;
    if (l->n_syncs == l->syncs_cap) {
        size_t cap = l->syncs_cap ? l->syncs_cap * 2 : 8;
        char **s = realloc(l->syncs, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        l->syncs = s;
        l->syncs_cap = cap;
    }
    char *copy = strdup(sync_id);
    if (!copy)
        return -ENOMEM;
    size_t i = l->n_syncs;
    while (i > 0 && strcmp(l->syncs[i - 1], copy) > 0) {
        l->syncs[i] = l->syncs[i - 1];
        i--;
    }
    l->syncs[i] = copy;
    l->n_syncs++;
    return 0;
}

/* ---- Runs ---- */

static int cmp_entry(const void *pa, const void *pb, void *arena)
{
    const char *sort_arena = arena;
    const struct entry *a = pa, *b = pb;
    size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
    int c = memcmp(sort_arena + a->offset, sort_arena + b->offset, n);
    if (c)
        return c;
    if (a->key_len != b->key_len)
        return a->key_len < b->key_len ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sorts the chunk and writes it as one SST run; the last record of each key wins. */
static int flush_chunk(loader *l, char **msg)
{
    if (l->n_entries == 0)
        return 0;
    qsort_r(l->entries, l->n_entries, sizeof *l->entries, cmp_entry, l->arena);
    engine_sst *w;
    int rc = engine_ingest_sst_begin(l->ing, &w, msg);
    if (rc)
        return rc;
    for (size_t i = 0; i < l->n_entries; i++) {
        const struct entry *x = &l->entries[i];
        if (i + 1 < l->n_entries) {
            const struct entry *y = &l->entries[i + 1];
            if (x->key_len == y->key_len &&
                !memcmp(l->arena + x->offset, l->arena + y->offset, x->key_len))
                continue; /* a later record replaces this one */
        }
        const char *k = l->arena + x->offset;
        if ((rc = engine_sst_put(w, k, x->key_len, k + x->key_len, x->value_len, msg)))
            return rc;
    }
    if ((rc = engine_sst_finish(w, msg)))
        return rc;
    l->stats.runs++;
    l->n_entries = 0;
    l->arena_len = 0;
    return 0;
}

int loader_add(loader *l, const char *sync_id, const char *bucket, const void *key, size_t key_len,
               const void *value, size_t value_len, char **msg)
{
    int rc;
    if (l->committed)
        return engine_msgf(msg, -EINVAL, "load already committed");
    if ((rc = loader_name_sync(l, sync_id, msg)) ||
        (rc = engine_check_bucket(bucket, strlen(bucket), msg)) ||
        (rc = engine_check_key(key, key_len, msg)) || (rc = engine_check_value_len(value_len, msg)))
        return rc;
    size_t disk_len = strlen(sync_id) + strlen(bucket) + 2 + key_len;
    size_t need = disk_len + value_len;
    if (l->arena_len + need > l->opt.chunk_bytes && (rc = flush_chunk(l, msg)))
        return rc;
    if (l->arena_len + need > l->arena_cap) {
        size_t cap = l->arena_cap ? l->arena_cap : 1 << 20;
        while (cap < l->arena_len + need)
            cap *= 2;
        if (cap > l->opt.chunk_bytes && l->arena_len + need <= l->opt.chunk_bytes)
            cap = l->opt.chunk_bytes;
        char *a = realloc(l->arena, cap);
        if (!a)
            return engine_msgf(msg, -ENOMEM, "out of memory for a %zu-byte load chunk", cap);
        l->arena = a;
        l->arena_cap = cap;
    }
    if (l->n_entries == l->entries_cap) {
        size_t cap = l->entries_cap ? l->entries_cap * 2 : 4096;
        struct entry *x = realloc(l->entries, cap * sizeof *x);
        if (!x)
            return -ENOMEM;
        l->entries = x;
        l->entries_cap = cap;
    }
    char *dst = l->arena + l->arena_len;
    engine_key_encode(dst, sync_id, bucket, key, key_len);
    if (value_len)
        memcpy(dst + disk_len, value, value_len);
    l->entries[l->n_entries++] = (struct entry){
        .offset = l->arena_len,
        .key_len = (uint32_t)disk_len,
        .value_len = (uint32_t)value_len,
        .seq = l->seq++,
    };
    l->arena_len += need;
    l->stats.records++;
    return 0;
}

int loader_commit(loader *l, struct loader_stats *stats, char **msg)
{
    int rc;
    if (l->committed)
        return engine_msgf(msg, -EINVAL, "load already committed");
    l->committed = 1;
    if ((rc = flush_chunk(l, msg)))
        return rc;
    if (l->tombstones) {
        char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
        size_t lo_len, hi_len;
        for (size_t i = 0; i < l->n_syncs; i++) {
            engine_range_sync(l->syncs[i], lo, &lo_len, hi, &hi_len);
            if ((rc = engine_sst_delete_range(l->tombstones, lo, lo_len, hi, hi_len, msg)))
                return rc;
        }
        if ((rc = engine_sst_finish(l->tombstones, msg)))
            return rc;
    }
    if ((rc = engine_ingest_commit(l->ing, msg)))
        return rc;
    for (size_t i = 0; i < l->n_syncs; i++)
        engine_sync_touch(l->e, l->syncs[i], NULL);
    l->stats.syncs = l->n_syncs;
    if (stats)
        *stats = l->stats;
    return 0;
}
