/*
 * fake_engine.c - the write side of engine/'s API in memory, for the fuzzers.
 *
 * The loader and the c1z import write through engine_ingest_*: SST files of
 * sorted records and range tombstones, ingested in one call.  Here each file
 * is a list in memory and the store a sorted array.  The fake enforces what
 * RocksDB's SST writer and the engine's contract require, and aborts (a fuzzer
 * finding) when a caller breaks it:
 *
 *   - keys strictly increasing within one file (RocksDB refuses otherwise);
 *   - every key a valid on-disk key (engine_key_decode() accepts it) and every
 *     value within ENGINE_VALUE_MAX;
 *   - range tombstones with lo < hi;
 *   - every file finished before the commit, nothing added after finishing,
 *     one commit per ingest;
 *   - the loader's promise (loader.h): files of records never overlap each
 *     other, follow each other in key order, and each holds one sync's keys.
 *
 * The loader's spill files go in the real temporary directory ($TMPDIR, else
 * /tmp): engine_staging_dir() names it.
 *
 * A commit applies the files in the order they were begun: a file's range
 * tombstones hide what the store and earlier files hold, then its records are
 * written, so a later file wins over an earlier one, as the real ingest does.
 */
#include "fake_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(x)                                                                                 \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

struct item {
    char *key;
    size_t key_len;
    char *value;
    size_t value_len;
};

struct range {
    char *lo, *hi;
    size_t lo_len, hi_len;
};

struct engine {
    struct item *items; /* sorted by key */
    size_t n, cap;
    size_t commits;
};

struct engine_sst {
    struct item *puts;
    size_t n, cap;
    struct range *dels;
    size_t n_dels;
    int finished;
};

struct engine_ingest {
    engine *e;
    struct engine_sst **files;
    size_t n;
    int committed;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    REQUIRE(p);
    return p;
}

static char *copy(const void *data, size_t len)
{
    char *p = xmalloc(len);
    if (len)
        memcpy(p, data, len);
    return p;
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* Index of the first item >= key. */
static size_t lower_bound(const engine *e, const char *key, size_t len)
{
    size_t lo = 0, hi = e->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_bytes(e->items[mid].key, e->items[mid].key_len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void store_put(engine *e, const char *key, size_t key_len, const char *value,
                      size_t value_len)
{
    size_t i = lower_bound(e, key, key_len);
    if (i < e->n && !cmp_bytes(e->items[i].key, e->items[i].key_len, key, key_len)) {
        free(e->items[i].value);
        e->items[i].value = copy(value, value_len);
        e->items[i].value_len = value_len;
        return;
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 64;
        e->items = realloc(e->items, e->cap * sizeof *e->items);
        REQUIRE(e->items);
    }
    memmove(e->items + i + 1, e->items + i, (e->n - i) * sizeof *e->items);
    e->items[i] = (struct item){copy(key, key_len), key_len, copy(value, value_len), value_len};
    e->n++;
}

static void store_delete_range(engine *e, const struct range *r)
{
    size_t a = lower_bound(e, r->lo, r->lo_len), b = lower_bound(e, r->hi, r->hi_len);
    if (a >= b)
        return;
    for (size_t i = a; i < b; i++) {
        free(e->items[i].key);
        free(e->items[i].value);
    }
    memmove(e->items + a, e->items + b, (e->n - b) * sizeof *e->items);
    e->n -= b - a;
}

engine *fake_engine_new(void)
{
    engine *e = xmalloc(sizeof *e);
    memset(e, 0, sizeof *e);
    return e;
}

void fake_engine_free(engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        free(e->items[i].key);
        free(e->items[i].value);
    }
    free(e->items);
    free(e);
}

void fake_engine_put(engine *e, const void *disk_key, size_t key_len, const void *value,
                     size_t value_len)
{
    store_put(e, disk_key, key_len, value, value_len);
}

size_t fake_engine_count(const engine *e)
{
    return e->n;
}

void fake_engine_record(const engine *e, size_t i, const char **key, size_t *key_len,
                        const char **value, size_t *value_len)
{
    REQUIRE(i < e->n);
    *key = e->items[i].key;
    *key_len = e->items[i].key_len;
    *value = e->items[i].value;
    *value_len = e->items[i].value_len;
}

size_t fake_engine_commits(const engine *e)
{
    return e->commits;
}

/* ---- engine.h ---- */

int engine_sync_run_put(engine *e, const char *sync_id, const struct engine_sync_run *run,
                        char **msg)
{
    (void)msg;
    REQUIRE(e && run && run->format[0]);
    return engine_check_sync_id(sync_id, strlen(sync_id), NULL) ? -EINVAL : 0;
}

int engine_sync_run_delete(engine *e, const char *sync_id, char **msg)
{
    (void)msg;
    REQUIRE(e);
    return engine_check_sync_id(sync_id, strlen(sync_id), NULL) ? -EINVAL : 0;
}

const char *engine_staging_dir(const engine *e)
{
    (void)e;
    const char *t = getenv("TMPDIR");
    return t && *t ? t : "/tmp";
}

int engine_sync_exists(engine *e, const engine_snapshot *snap, const char *sync_id, char **msg)
{
    (void)snap;
    (void)msg;
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    size_t i = lower_bound(e, lo, lo_len);
    return i < e->n && cmp_bytes(e->items[i].key, e->items[i].key_len, hi, hi_len) < 0;
}

uint64_t engine_sst_file_size(const engine_sst *w)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        n += w->puts[i].key_len + w->puts[i].value_len;
    return n;
}

int engine_sync_touch(engine *e, const char *sync_id, char **msg)
{
    (void)msg;
    REQUIRE(e);
    return engine_check_sync_id(sync_id, strlen(sync_id), NULL) ? -EINVAL : 0;
}

int engine_ingest_new(engine *e, engine_ingest **out, char **msg)
{
    (void)msg;
    engine_ingest *ing = xmalloc(sizeof *ing);
    memset(ing, 0, sizeof *ing);
    ing->e = e;
    *out = ing;
    return 0;
}

int engine_ingest_sst_begin(engine_ingest *ing, engine_sst **out, char **msg)
{
    (void)msg;
    REQUIRE(!ing->committed);
    engine_sst *w = xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    ing->files = realloc(ing->files, (ing->n + 1) * sizeof(engine_sst *));
    REQUIRE(ing->files);
    ing->files[ing->n++] = w;
    *out = w;
    return 0;
}

int engine_sst_put(engine_sst *w, const void *disk_key, size_t key_len, const void *value,
                   size_t value_len, char **msg)
{
    (void)msg;
    REQUIRE(!w->finished);
    struct engine_key_parts parts;
    REQUIRE(engine_key_decode(disk_key, key_len, &parts, NULL) == 0);
    REQUIRE(value_len <= ENGINE_VALUE_MAX);
    if (w->n) {
        const struct item *last = &w->puts[w->n - 1];
        REQUIRE(cmp_bytes(last->key, last->key_len, disk_key, key_len) < 0);
    }
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->puts = realloc(w->puts, w->cap * sizeof *w->puts);
        REQUIRE(w->puts);
    }
    w->puts[w->n++] =
        (struct item){copy(disk_key, key_len), key_len, copy(value, value_len), value_len};
    return 0;
}

int engine_sst_delete_range(engine_sst *w, const void *lo, size_t lo_len, const void *hi,
                            size_t hi_len, char **msg)
{
    (void)msg;
    REQUIRE(!w->finished);
    REQUIRE(cmp_bytes(lo, lo_len, hi, hi_len) < 0);
    w->dels = realloc(w->dels, (w->n_dels + 1) * sizeof *w->dels);
    REQUIRE(w->dels);
    w->dels[w->n_dels++] = (struct range){copy(lo, lo_len), copy(hi, hi_len), lo_len, hi_len};
    return 0;
}

int engine_sst_finish(engine_sst *w, char **msg)
{
    (void)msg;
    REQUIRE(!w->finished);
    w->finished = 1;
    return 0;
}

int engine_ingest_commit(engine_ingest *ing, char **msg)
{
    (void)msg;
    REQUIRE(!ing->committed);
    ing->committed = 1;
    const struct item *prev = NULL; /* the last record of the previous file of records */
    for (size_t i = 0; i < ing->n; i++) {
        const engine_sst *w = ing->files[i];
        REQUIRE(w->finished);
        if (!w->n)
            continue;
        const struct item *first = &w->puts[0], *last = &w->puts[w->n - 1];
        if (prev)
            REQUIRE(cmp_bytes(prev->key, prev->key_len, first->key, first->key_len) < 0);
        const char *z = memchr(first->key, 0, first->key_len);
        REQUIRE(z);
        size_t sl = (size_t)(z - first->key) + 1; /* the sync and its NUL */
        REQUIRE(last->key_len >= sl && !memcmp(last->key, first->key, sl));
        prev = last;
    }
    for (size_t i = 0; i < ing->n; i++) {
        const engine_sst *w = ing->files[i];
        for (size_t k = 0; k < w->n_dels; k++)
            store_delete_range(ing->e, &w->dels[k]);
        for (size_t k = 0; k < w->n; k++)
            store_put(ing->e, w->puts[k].key, w->puts[k].key_len, w->puts[k].value,
                      w->puts[k].value_len);
    }
    ing->e->commits++;
    return 0;
}

void engine_ingest_free(engine_ingest *ing)
{
    if (!ing)
        return;
    for (size_t i = 0; i < ing->n; i++) {
        engine_sst *w = ing->files[i];
        for (size_t k = 0; k < w->n; k++) {
            free(w->puts[k].key);
            free(w->puts[k].value);
        }
        for (size_t k = 0; k < w->n_dels; k++) {
            free(w->dels[k].lo);
            free(w->dels[k].hi);
        }
        free(w->puts);
        free(w->dels);
        free(w);
    }
    free(ing->files);
    free(ing);
}
