/*
 * loader.c - memory-bounded, all-or-nothing bulk loads through one ingest.
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

#include "buf.h"

#include <errno.h>
#include <jansson.h>
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

/* ---- JSON lines ---- */

static const char *get_string(json_t *obj, const char *name, size_t *len)
{
    json_t *v = json_object_get(obj, name);
    if (!v || !json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* Reads a required non-empty string field of a typed line. */
static int need_id(json_t *obj, const char *name, const char *type, const char **out, size_t *len,
                   char **msg)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return engine_msgf(msg, -EINVAL, "a \"%s\" line needs \"%s\"", type, name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return engine_msgf(msg, -EINVAL, "\"%s\" of a \"%s\" line must be a non-empty string", name,
                           type);
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 0;
}

/* Reads "name" or "name_b64" (exactly one) into out. */
static int bytes_field(json_t *obj, const char *name, struct buf *out, char **msg)
{
    char b64name[32];
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    json_t *plain = json_object_get(obj, name);
    json_t *b64 = json_object_get(obj, b64name);
    if (plain && b64)
        return engine_msgf(msg, -EINVAL, "line has both \"%s\" and \"%s\"", name, b64name);
    if (!plain && !b64)
        return engine_msgf(msg, -EINVAL, "line has neither \"%s\" nor \"%s\"", name, b64name);
    json_t *v = plain ? plain : b64;
    if (!json_is_string(v))
        return engine_msgf(msg, -EINVAL, "\"%s\" must be a string", plain ? name : b64name);
    if (plain) {
        buf_add(out, json_string_value(v), json_string_length(v));
        return 0;
    }
    if (base64_decode(json_string_value(v), json_string_length(v), out))
        return engine_msgf(msg, -EINVAL, "\"%s\" is not valid base64", b64name);
    return 0;
}

static void set_record(struct loader_line *pl, size_t i, const char *bucket, const char *key,
                       size_t key_len, const char *value, size_t value_len)
{
    pl->records[i] = (struct loader_record){bucket, key, key_len, value, value_len};
    if (pl->n_records < i + 1)
        pl->n_records = i + 1;
}

static int parse_raw(struct loader_line *pl, json_t *obj, char **msg)
{
    const char *key_name;
    json_t *v;
    json_object_foreach(obj, key_name, v)
    {
        if (strcmp(key_name, "sync") && strcmp(key_name, "bucket") && strcmp(key_name, "key") &&
            strcmp(key_name, "key_b64") && strcmp(key_name, "value") &&
            strcmp(key_name, "value_b64"))
            return engine_msgf(msg, -EINVAL, "unknown field \"%s\" in a raw line", key_name);
    }
    size_t bucket_len;
    const char *bucket = get_string(obj, "bucket", &bucket_len);
    if (!bucket)
        return engine_msgf(msg, -EINVAL, "\"bucket\" must be a string");
    if (strlen(bucket) != bucket_len)
        return engine_msgf(msg, -EINVAL, "bucket name holds a NUL byte");
    struct buf *key = &pl->owned[0], *value = &pl->owned[1];
    int rc;
    if ((rc = bytes_field(obj, "key", key, msg)) || (rc = bytes_field(obj, "value", value, msg)))
        return rc;
    set_record(pl, 0, bucket, key->data, key->len, value->data, value->len);
    return 0;
}

/* Joins up to three id parts with '/' into out. */
static void join_key(struct buf *out, const char *a, size_t al, const char *b, size_t bl,
                     const char *c, size_t cl)
{
    buf_reset(out);
    buf_add(out, a, al);
    if (b) {
        buf_addc(out, '/');
        buf_add(out, b, bl);
    }
    if (c) {
        buf_addc(out, '/');
        buf_add(out, c, cl);
    }
}

static int parse_typed(struct loader_line *pl, json_t *obj, const char *type, size_t type_len,
                       const char *line, size_t len, char **msg)
{
    const char *id = NULL, *a = NULL, *b = NULL, *ent = NULL;
    size_t id_len = 0, a_len = 0, b_len = 0, ent_len = 0;
    int rc;
    if ((rc = need_id(obj, "id", type, &id, &id_len, msg)))
        return rc;
    if (strlen(type) != type_len) {
        /* strcmp() below would see only the part before the NUL. */
        rc = engine_msgf(msg, -EINVAL, "\"type\" holds a NUL byte");
    } else if (!strcmp(type, "resource_type")) {
        set_record(pl, 0, "resource_types", id, id_len, line, len);
    } else if (!strcmp(type, "entitlement")) {
        set_record(pl, 0, "entitlements", id, id_len, line, len);
    } else if (!strcmp(type, "resource")) {
        if ((rc = need_id(obj, "resource_type", type, &a, &a_len, msg)))
            return rc;
        join_key(&pl->owned[0], a, a_len, id, id_len, NULL, 0);
        set_record(pl, 0, "resources", pl->owned[0].data, pl->owned[0].len, line, len);
    } else if (!strcmp(type, "grant")) {
        if ((rc = need_id(obj, "entitlement", type, &ent, &ent_len, msg)) ||
            (rc = need_id(obj, "principal_type", type, &a, &a_len, msg)) ||
            (rc = need_id(obj, "principal_id", type, &b, &b_len, msg)))
            return rc;
        set_record(pl, 0, "grants", id, id_len, line, len);
        join_key(&pl->owned[1], ent, ent_len, id, id_len, NULL, 0);
        set_record(pl, 1, "grants_by_entitlement", pl->owned[1].data, pl->owned[1].len, "", 0);
        join_key(&pl->owned[2], a, a_len, b, b_len, id, id_len);
        set_record(pl, 2, "grants_by_principal", pl->owned[2].data, pl->owned[2].len, "", 0);
    } else {
        rc = engine_msgf(msg, -EINVAL,
                         "unknown type \"%s\" (resource_type, resource, entitlement or grant)",
                         type);
    }
    return rc;
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

void loader_line_release(struct loader_line *pl)
{
    if (pl->json)
        json_decref(pl->json);
    for (int i = 0; i < LOADER_LINE_RECORDS; i++)
        buf_release(&pl->owned[i]);
    memset(pl, 0, sizeof *pl);
    for (int i = 0; i < LOADER_LINE_RECORDS; i++)
        buf_init(&pl->owned[i]);
}

int loader_parse_line(const char *line, size_t len, const char *default_sync,
                      struct loader_line *pl, char **msg)
{
    memset(pl, 0, sizeof *pl);
    for (int i = 0; i < LOADER_LINE_RECORDS; i++)
        buf_init(&pl->owned[i]);
    if (len && line[len - 1] == '\n')
        len--;
    if (len && line[len - 1] == '\r')
        len--;
    if (is_blank(line, len))
        return 0;
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return engine_msgf(msg, -EINVAL, "bad JSON at column %d: %s", jerr.column, jerr.text);
    pl->json = obj;
    if (!json_is_object(obj))
        return engine_msgf(msg, -EINVAL, "a line must be a JSON object");
    json_t *sync_v = json_object_get(obj, "sync");
    const char *sync = default_sync;
    if (sync_v) {
        if (!json_is_string(sync_v))
            return engine_msgf(msg, -EINVAL, "\"sync\" must be a string");
        const char *s = json_string_value(sync_v);
        if (strlen(s) != json_string_length(sync_v))
            return engine_msgf(msg, -EINVAL, "\"sync\" holds a NUL byte");
        if (sync && strcmp(sync, s))
            return engine_msgf(msg, -EINVAL, "\"sync\" is '%s' but --sync is '%s'", s, sync);
        sync = s;
    }
    if (!sync)
        return engine_msgf(msg, -EINVAL, "line has no \"sync\" and no --sync was given");
    pl->sync = sync;
    json_t *type = json_object_get(obj, "type");
    json_t *bucket = json_object_get(obj, "bucket");
    int rc;
    if (type && bucket)
        rc = engine_msgf(msg, -EINVAL, "line has both \"type\" and \"bucket\"");
    else if (type && !json_is_string(type))
        rc = engine_msgf(msg, -EINVAL, "\"type\" must be a string");
    else if (type)
        rc =
            parse_typed(pl, obj, json_string_value(type), json_string_length(type), line, len, msg);
    else if (bucket)
        rc = parse_raw(pl, obj, msg);
    else
        rc = engine_msgf(msg, -EINVAL, "line has neither \"type\" nor \"bucket\"");
    if (rc)
        pl->n_records = 0;
    return rc;
}

int loader_add_line(loader *l, const char *line, size_t len, char **msg)
{
    struct loader_line pl;
    int rc = loader_parse_line(line, len, l->opt.default_sync, &pl, msg);
    for (size_t i = 0; !rc && i < pl.n_records; i++) {
        const struct loader_record *r = &pl.records[i];
        rc = loader_add(l, pl.sync, r->bucket, r->key, r->key_len, r->value, r->value_len, msg);
    }
    if (rc == 0 && pl.n_records)
        l->stats.lines++;
    loader_line_release(&pl);
    return rc;
}
