/*
 * loader.c - memory-bounded, all-or-nothing bulk loads through one ingest:
 * the sorted-run SST writer that every input format (JSON Lines, c1z, gen)
 * hands its records to.
 *
 * Records are appended to an arena of at most chunk_bytes.  When it is full the
 * chunk is sorted by on-disk key (ties by arrival, so the last record for a key
 * wins) and spilled as a sorted run to a temporary file (runs.h), and the arena
 * is reused.  At commit the runs and the last chunk are merged in key order,
 * the newest record of a key winning, and written as SST files that never
 * overlap each other and each hold ONE sync's keys (a new file starts at every
 * sync and every FILE_TARGET bytes).  A load that fits one chunk is written
 * straight from memory.  Memory is the arena plus its index and a small read
 * buffer per run, whatever the size of the load.
 *
 * Why this shape (SPEC "Compaction", the copy path): files that do not overlap
 * each other or anything in the store go in below everything, at global
 * sequence number 0, and such files of a source can later be ingested as byte
 * copies by the compactor without reading a record.  So a replace-mode load
 * adds a range tombstone only for named syncs that hold records already: the
 * tombstone-only file comes first in the ingest (RocksDB then gives the data
 * files higher sequence numbers, above the tombstone); a load into empty
 * ranges, a new store or a new sync, has no tombstone at all.
 */
#include "loader.h"
#include "runs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHUNK_BYTES (64u << 20)
#define FILE_TARGET (256ull << 20) /* bytes of one output SST file, about */
#define PROGRESS_EVERY 65536       /* records between progress reports */

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
    runs *runs;      /* spilled chunks */
    engine_sst *out; /* the output file being written, or NULL */
    char out_sync[ENGINE_SYNC_ID_MAX + 1];
    uint64_t bytes;         /* key and value bytes added */
    uint64_t written;       /* records written to output files */
    uint64_t written_bytes; /* their key and value bytes */

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
    if ((rc = engine_ingest_new(e, &l->ing, msg)) ||
        (rc = runs_new(engine_staging_dir(e), &l->runs, msg)))
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
    runs_free(l->runs);
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
    if (!(l->n_syncs && bsearch(&sync_id, l->syncs, l->n_syncs, sizeof *l->syncs, cmp_str))) {
        if (l->n_syncs == l->syncs_cap) {
            size_t cap = l->syncs_cap ? l->syncs_cap * 2 : 8;
            char **s = realloc(l->syncs, cap * sizeof *s);
            if (!s)
                return engine_msgf(msg, -ENOMEM, "out of memory");
            l->syncs = s;
            l->syncs_cap = cap;
        }
        char *copy = strdup(sync_id);
        if (!copy)
            return engine_msgf(msg, -ENOMEM, "out of memory");
        size_t i = l->n_syncs;
        while (i > 0 && strcmp(l->syncs[i - 1], copy) > 0) {
            l->syncs[i] = l->syncs[i - 1];
            i--;
        }
        l->syncs[i] = copy;
        l->n_syncs++;
    }
    /* only once it is recorded: the shortcut above must never skip a sync */
    snprintf(l->last_sync, sizeof l->last_sync, "%s", sync_id);
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

static void progress(loader *l, const char *phase)
{
    if (l->opt.progress)
        l->opt.progress(l->opt.progress_arg, phase, l->stats.records, l->bytes);
}

/* Sorts the chunk and calls fn for each key's last record. */
static int chunk_each(loader *l, runs_emit_fn fn, void *arg, char **msg)
{
    if (l->n_entries == 0)
        return 0; /* no arena, nothing to sort (qsort_r wants a real array) */
    qsort_r(l->entries, l->n_entries, sizeof *l->entries, cmp_entry, l->arena);
    for (size_t i = 0; i < l->n_entries; i++) {
        const struct entry *x = &l->entries[i];
        if (i + 1 < l->n_entries) {
            const struct entry *y = &l->entries[i + 1];
            if (x->key_len == y->key_len &&
                !memcmp(l->arena + x->offset, l->arena + y->offset, x->key_len))
                continue; /* a later record replaces this one */
        }
        const char *k = l->arena + x->offset;
        int rc = fn(arg, k, x->key_len, k + x->key_len, x->value_len, msg);
        if (rc)
            return rc;
    }
    l->n_entries = 0;
    l->arena_len = 0;
    return 0;
}

static int spill_one(void *arg, const char *key, size_t key_len, const char *value,
                     size_t value_len, char **msg)
{
    return runs_put(arg, key, key_len, value, value_len, msg);
}

/* Writes the full chunk as a sorted run to a spill file. */
static int spill_chunk(loader *l, char **msg)
{
    if (l->n_entries == 0)
        return 0;
    progress(l, "sorting");
    int rc;
    if ((rc = runs_begin_run(l->runs, msg)) || (rc = chunk_each(l, spill_one, l->runs, msg)) ||
        (rc = runs_end_run(l->runs, msg)))
        return rc;
    l->stats.runs++;
    progress(l, "reading");
    return 0;
}

/* The sync of an on-disk key: the bytes before its first NUL. */
static size_t key_sync_len(const char *key, size_t key_len)
{
    const char *z = memchr(key, 0, key_len);
    return z ? (size_t)(z - key) : key_len;
}

static int out_finish(loader *l, char **msg)
{
    if (!l->out)
        return 0;
    int rc = engine_sst_finish(l->out, msg);
    l->out = NULL;
    if (rc == 0)
        l->stats.files++;
    return rc;
}

/* Adds one record, in key order, to the output: a new file at each sync and
 * every FILE_TARGET bytes, so that no file spans two syncs. */
static int out_put(void *arg, const char *key, size_t key_len, const char *value, size_t value_len,
                   char **msg)
{
    loader *l = arg;
    size_t sl = key_sync_len(key, key_len);
    int rc;
    if (l->out && (strlen(l->out_sync) != sl || memcmp(l->out_sync, key, sl) ||
                   engine_sst_file_size(l->out) >= FILE_TARGET)) {
        if ((rc = out_finish(l, msg)))
            return rc;
    }
    if (!l->out) {
        if (sl > ENGINE_SYNC_ID_MAX)
            return engine_msgf(msg, -EINVAL, "a record's key names no sync");
        if ((rc = engine_ingest_sst_begin(l->ing, &l->out, msg)))
            return rc;
        memcpy(l->out_sync, key, sl);
        l->out_sync[sl] = 0;
    }
    l->written_bytes += key_len + value_len;
    if (++l->written % PROGRESS_EVERY == 0 && l->opt.progress)
        l->opt.progress(l->opt.progress_arg, "writing", l->written, l->written_bytes);
    return engine_sst_put(l->out, key, key_len, value, value_len, msg);
}

int loader_add(loader *l, const char *sync_id, const char *bucket, const void *key, size_t key_len,
               const void *value, size_t value_len, char **msg)
{
    int rc;
    if (l->committed)
        return engine_msgf(msg, -EINVAL, "load already committed");
    /* every part is checked before the sync is named: a refused record names nothing */
    if ((rc = engine_check_sync_id(sync_id, strlen(sync_id), msg)) ||
        (rc = engine_check_bucket(bucket, strlen(bucket), msg)) ||
        (rc = engine_check_key(key, key_len, msg)) ||
        (rc = engine_check_value_len(value_len, msg)) || (rc = loader_name_sync(l, sync_id, msg)))
        return rc;
    size_t disk_len = strlen(sync_id) + strlen(bucket) + 2 + key_len;
    size_t need = disk_len + value_len;
    if (l->arena_len + need > l->opt.chunk_bytes && (rc = spill_chunk(l, msg)))
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
    l->bytes += need;
    if (++l->stats.records % PROGRESS_EVERY == 0)
        progress(l, "reading");
    return 0;
}

/* In replace mode: a tombstone-only file, first in the ingest, over every
 * named sync that holds records now.  None when none does. */
static int add_tombstones(loader *l, char **msg)
{
    engine_sst *t = NULL;
    int rc = 0;
    for (size_t i = 0; i < l->n_syncs && rc == 0; i++) {
        int has = engine_sync_exists(l->e, NULL, l->syncs[i], msg);
        if (has < 0) {
            rc = has;
            break;
        }
        if (has == 0)
            continue; /* nothing to replace: no tombstone over an empty range */
        if (!t && (rc = engine_ingest_sst_begin(l->ing, &t, msg)))
            break;
        char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
        size_t lo_len, hi_len;
        engine_range_sync(l->syncs[i], lo, &lo_len, hi, &hi_len);
        rc = engine_sst_delete_range(t, lo, lo_len, hi, hi_len, msg);
    }
    if (rc == 0 && t)
        rc = engine_sst_finish(t, msg);
    return rc;
}

int loader_commit(loader *l, struct loader_stats *stats, char **msg)
{
    int rc;
    if (l->committed)
        return engine_msgf(msg, -EINVAL, "load already committed");
    l->committed = 1;
    if (l->opt.replace && (rc = add_tombstones(l, msg)))
        return rc;
    if (runs_count(l->runs) == 0) {
        /* it all fit one chunk: straight from memory */
        if (l->n_entries)
            l->stats.runs++;
        progress(l, "writing");
        rc = chunk_each(l, out_put, l, msg);
    } else {
        rc = spill_chunk(l, msg);
        if (rc == 0) {
            progress(l, "writing");
            rc = runs_merge(l->runs, out_put, l, msg);
        }
    }
    if (rc || (rc = out_finish(l, msg)))
        return rc;
    progress(l, "ingesting");
    if ((rc = engine_ingest_commit(l->ing, msg)))
        return rc;
    for (size_t i = 0; i < l->n_syncs; i++) {
        engine_sync_touch(l->e, l->syncs[i], NULL);
        /* replaced: its data no longer comes from the run an import recorded
         * (an import records its own after this commit) */
        if (l->opt.replace)
            engine_sync_run_delete(l->e, l->syncs[i], NULL);
    }
    l->stats.syncs = l->n_syncs;
    if (stats)
        *stats = l->stats;
    return 0;
}
