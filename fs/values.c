/*
 * values.c - the value cache: data files' values read in more than one request.
 *
 * Files are read without open handles (the kernel opens them without asking
 * us: FUSE_CAP_NO_OPEN_SUPPORT), so a value is not pinned per open file: each
 * READ reads its node's key at the node's version's snapshot, which never
 * changes, so every read of one inode sees one value, whatever compactions
 * ran since.  Most values fit in the kernel's first read (its readahead asks
 * for up to 1 MiB); one that goes on past a read is kept here, pinned (no
 * copy), for the reads that follow, so that a 64 MiB file is read from
 * RocksDB once and not 64 times.
 *
 * At most VALUE_CACHE_SLOTS values and VALUE_CACHE_BYTES bytes are kept, the
 * least recently used evicted first; a value is dropped when its node is
 * freed (node addresses are inode numbers, and are reused), when its version
 * expires (reads then answer ESTALE), and after VALUE_IDLE_SECONDS unused
 * (the sweeper), so an idle mount holds none.  An entry evicted while a
 * request replies from it is freed by the last of them.  Everything here
 * runs under fs->lock except the RocksDB read and the reply.
 */
#include "fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct value_entry {
    const struct node *node;
    engine_value *value;
    const char *data;
    size_t len;
    unsigned refs;  /* requests replying from it */
    int cached;     /* in fs->values; when not, the last request frees it */
    uint64_t used;  /* fs->value_clock at the last use */
    double used_at; /* fs_now() at the last use */
};

static void entry_free(struct fs *fs, struct value_entry *v)
{
    fs->value_bytes -= v->len;
    engine_value_free(v->value);
    free(v);
}

/* Takes slot i's entry out of the cache; freed now unless in use. */
static void slot_drop(struct fs *fs, size_t i)
{
    struct value_entry *v = fs->values[i];
    fs->values[i] = NULL;
    v->cached = 0;
    if (v->refs == 0)
        entry_free(fs, v);
}

void values_drop(struct fs *fs, const struct node *n)
{
    for (size_t i = 0; i < VALUE_CACHE_SLOTS; i++) {
        struct value_entry *v = fs->values[i];
        if (v && (n ? v->node == n : version_stale(v->node->ver)))
            slot_drop(fs, i);
    }
}

void values_drop_idle(struct fs *fs, double idle)
{
    double now = fs_now();
    for (size_t i = 0; i < VALUE_CACHE_SLOTS; i++)
        if (fs->values[i] && (idle <= 0 || now - fs->values[i]->used_at >= idle))
            slot_drop(fs, i);
}

size_t values_count(const struct fs *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < VALUE_CACHE_SLOTS; i++)
        n += fs->values[i] != NULL;
    return n;
}

static struct value_entry *values_find(struct fs *fs, const struct node *n)
{
    for (size_t i = 0; i < VALUE_CACHE_SLOTS; i++)
        if (fs->values[i] && fs->values[i]->node == n)
            return fs->values[i];
    return NULL;
}

static void entry_use(struct fs *fs, struct value_entry *v, struct value_ref *out)
{
    v->refs++;
    v->used = ++fs->value_clock;
    v->used_at = fs_now();
    out->entry = v;
    out->data = v->data;
    out->len = v->len;
}

/* Keeps a value read for a request (which then replies from the entry), if
 * it fits: room is made by evicting the least recently used. */
static void values_keep(struct fs *fs, struct node *n, struct value_ref *r)
{
    /* the bytes of entries evicted but still in use stay counted until
     * freed: evict nothing when they leave no room */
    size_t cached = 0;
    for (size_t i = 0; i < VALUE_CACHE_SLOTS; i++)
        cached += fs->values[i] ? fs->values[i]->len : 0;
    if (r->len > VALUE_CACHE_BYTES || fs->value_bytes - cached + r->len > VALUE_CACHE_BYTES)
        return;
    struct value_entry *v = calloc(1, sizeof *v);
    if (!v)
        return; /* the request replies from its own copy */
    for (;;) {
        size_t free_slot = VALUE_CACHE_SLOTS, oldest = VALUE_CACHE_SLOTS;
        for (size_t i = 0; i < VALUE_CACHE_SLOTS; i++) {
            if (!fs->values[i])
                free_slot = i;
            else if (oldest == VALUE_CACHE_SLOTS || fs->values[i]->used < fs->values[oldest]->used)
                oldest = i;
        }
        if (free_slot < VALUE_CACHE_SLOTS && fs->value_bytes + r->len <= VALUE_CACHE_BYTES) {
            v->node = n;
            v->value = r->own;
            v->data = r->data;
            v->len = r->len;
            v->cached = 1;
            fs->value_bytes += v->len;
            fs->values[free_slot] = v;
            r->own = NULL;
            entry_use(fs, v, r);
            return;
        }
        if (oldest == VALUE_CACHE_SLOTS) { /* entries in use hold the bytes */
            free(v);
            return;
        }
        slot_drop(fs, oldest);
    }
}

int value_get(struct fs *fs, struct node *n, uint64_t end, struct value_ref *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&fs->lock);
    version_sweep(fs);
    struct snapref *s = n->ver->snap;
    if (!s) {
        pthread_mutex_unlock(&fs->lock);
        return ESTALE;
    }
    struct value_entry *v = values_find(fs, n);
    if (v) {
        fs->value_hits++;
        entry_use(fs, v, out);
        pthread_mutex_unlock(&fs->lock);
        return 0;
    }
    s->refs++;
    pthread_mutex_unlock(&fs->lock);

    char key[ENGINE_KEY_MAX + 1], disk[ENGINE_DISK_KEY_MAX];
    size_t key_len = node_key(n, key);
    size_t dl = engine_key_encode(disk, n->ver->sync_id, n->bucket, key, key_len);
    int rc = engine_value_get(fs->e, s->snap, disk, dl, &out->own, NULL);
    if (!rc)
        out->data = engine_value_data(out->own, &out->len);

    pthread_mutex_lock(&fs->lock);
    version_snap_put(fs, s);
    if (!rc && end < out->len) { /* more reads will follow */
        fs->value_misses++;
        if ((v = values_find(fs, n)) != NULL) { /* another request kept it meanwhile */
            engine_value_free(out->own);
            out->own = NULL;
            entry_use(fs, v, out);
        } else {
            values_keep(fs, n, out);
        }
    }
    pthread_mutex_unlock(&fs->lock);
    if (rc)
        return rc == -ENOENT ? ESTALE : fs_errno(rc);
    return 0;
}

void value_put(struct fs *fs, struct value_ref *r)
{
    if (r->entry) {
        pthread_mutex_lock(&fs->lock);
        struct value_entry *v = r->entry;
        if (--v->refs == 0 && !v->cached)
            entry_free(fs, v);
        pthread_mutex_unlock(&fs->lock);
    }
    engine_value_free(r->own);
    memset(r, 0, sizeof *r);
}
