/*
 * nodes.c - the node table: what each inode number the kernel holds stands for.
 *
 * Inode numbers are node addresses (the root excepted).  There is one node
 * per (version, bucket, key prefix, kind), found again through a hash table
 * by its parent and its part of the key (a key node below a key directory
 * keeps only what follows the directory's prefix: node_key puts it together),
 * so that a path keeps its inode while the kernel knows it; a node lives while
 * the kernel holds a lookup of it or of any child, and its version lives while
 * any of its nodes does.  The four directories of the root and ctl/ are static
 * members of struct fs; ctl files are new nodes at each lookup.  Everything here that touches the
 * table runs under fs->lock.
 */
#include "fs_i.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct node) <= 56, "a node stays small: the kernel may hold millions");
_Static_assert(ENGINE_VALUE_MAX <= UINT32_MAX, "a value's length fits a node's size");

/* A node's strings, in its own allocation right after it: its part of the
 * key (K_DIR, K_FILE: the bytes after its parent's prefix; compact and
 * delete files: the sync_id), NUL-ended; its name unless it ends the part;
 * its bucket unless its parent has the same; a ctl file's text. */
static char *node_strings(const struct node *n)
{
    return (char *)(uintptr_t)(n + 1);
}

const char *node_part(const struct node *n)
{
    return node_strings(n);
}

const char *node_name(const struct node *n)
{
    return node_strings(n) + n->name_off;
}

/* Whether n's key is its parent's followed by its part. */
static int node_part_of_parent(const struct node *n)
{
    return (n->kind == K_DIR || n->kind == K_FILE) && n->parent->kind == K_DIR;
}

/* The length of node_key(n). */
static size_t node_key_len(const struct node *n)
{
    size_t len = 0;
    for (const struct node *m = n;; m = m->parent) {
        len += m->part_len;
        if (!node_part_of_parent(m))
            return len;
    }
}

size_t node_key(const struct node *n, char *buf)
{
    size_t len = node_key_len(n), at = len;
    for (const struct node *m = n;; m = m->parent) {
        at -= m->part_len;
        memcpy(buf + at, node_strings(m), m->part_len);
        if (!node_part_of_parent(m))
            break;
    }
    buf[len] = '\0';
    return len;
}

/* What identifies a node besides its kind: its parent, its version, its part
 * of the key and, for a bucket, the bucket. */
static uint32_t node_hash(enum kind kind, const struct node *parent, const struct version *ver,
                          const char *bucket, const char *part, size_t part_len)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)kind;
    h = (h ^ (uint64_t)(uintptr_t)parent) * 1099511628211ull;
    h = (h ^ (uint64_t)(uintptr_t)ver) * 1099511628211ull;
    for (const char *p = kind == K_BUCKET ? bucket : NULL; p && *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xFF) * 1099511628211ull;
    for (size_t i = 0; i < part_len; i++)
        h = (h ^ (unsigned char)part[i]) * 1099511628211ull;
    return (uint32_t)(h ^ (h >> 32));
}

static uint32_t node_hash_of(const struct node *n)
{
    return node_hash((enum kind)n->kind, n->parent, n->ver, n->kind == K_BUCKET ? n->bucket : NULL,
                     node_strings(n), n->part_len);
}

static int node_table_grow(struct fs *fs)
{
    size_t size = fs->table_size ? fs->table_size * 2 : 1024;
    struct node **t = calloc(size, sizeof(struct node *));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < fs->table_size; i++) {
        struct node *n = fs->table[i];
        while (n) {
            struct node *next = n->hash_next;
            uint32_t h = node_hash_of(n);
            n->hash_next = t[h % size];
            t[h % size] = n;
            n = next;
        }
    }
    free(fs->table);
    fs->table = t;
    fs->table_size = size;
    return 0;
}

/* What a node costs the heap: its chunk (glibc's header included). */
static size_t node_bytes(struct node *n)
{
    return malloc_usable_size(n) + sizeof(size_t);
}

/* A new node in the table with one kernel lookup, its strings (node_strings)
 * copied into its own allocation. */
static struct node *node_new(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                             struct version *ver, const char *bucket, const char *part,
                             size_t part_len, uint32_t size, const char *text, uint32_t h)
{
    if (fs->table_count >= fs->table_size && node_table_grow(fs))
        return NULL;
    size_t name_len = strlen(name);
    int name_in_part = part_len >= name_len && !memcmp(part + part_len - name_len, name, name_len);
    int bucket_shared = !bucket || (parent->bucket && !strcmp(parent->bucket, bucket));
    size_t bucket_len = bucket_shared ? 0 : strlen(bucket) + 1;
    size_t text_len = text ? (size_t)size : 0;
    size_t name_off = name_in_part ? part_len - name_len : part_len + 1;
    if (part_len > ENGINE_KEY_MAX || name_off > UINT16_MAX)
        return NULL;
    struct node *n = malloc(sizeof *n + part_len + 1 + (name_in_part ? 0 : name_len + 1) +
                            bucket_len + text_len);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    char *room = node_strings(n);
    memcpy(room, part, part_len);
    room[part_len] = '\0';
    room += part_len + 1;
    n->part_len = (uint32_t)part_len;
    n->name_off = (uint16_t)name_off;
    if (!name_in_part) {
        memcpy(room, name, name_len + 1);
        room += name_len + 1;
    }
    if (text) {
        memcpy(room, text, text_len);
        n->text = room;
    } else if (bucket && bucket_shared) {
        n->bucket = parent->bucket;
    } else if (bucket) {
        memcpy(room, bucket, bucket_len);
        n->bucket = room;
    }
    fs->node_bytes += node_bytes(n);
    n->kind = (uint8_t)kind;
    n->ver = ver;
    n->size = size;
    n->nlookup = 1;
    n->parent = parent;
    parent->children++;
    if (ver && ver->superseded)
        ver->stale_pending = 1;
    if (ver)
        ver->refs++;
    n->hash_next = fs->table[h % fs->table_size];
    fs->table[h % fs->table_size] = n;
    fs->table_count++;
    return n;
}

/* Finds or makes the node, and counts one kernel lookup of it.  A key node
 * below a key directory keeps only its part of the key: what follows the
 * directory's prefix, which every key the directory holds starts with. */
struct node *node_get(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                      struct version *ver, const char *bucket, const char *prefix,
                      size_t prefix_len, uint64_t size)
{
    if (!prefix)
        prefix_len = 0;
    if (size > UINT32_MAX)
        return NULL; /* no value is (ENGINE_VALUE_MAX) */
    const char *part = prefix ? prefix : "";
    size_t part_len = prefix_len;
    if ((kind == K_DIR || kind == K_FILE) && parent->kind == K_DIR) {
        size_t skip = node_key_len(parent);
        if (skip > prefix_len)
            return NULL; /* not below parent: cannot happen (tree.c) */
        part += skip;
        part_len -= skip;
    }
    uint32_t h = node_hash(kind, parent, ver, bucket, part, part_len);
    if (fs->table_size) {
        for (struct node *n = fs->table[h % fs->table_size]; n; n = n->hash_next) {
            if (n->kind == kind && n->parent == parent && n->ver == ver &&
                n->part_len == part_len && !memcmp(node_strings(n), part, part_len) &&
                (kind != K_BUCKET || !strcmp(n->bucket, bucket))) {
                n->nlookup++;
                n->size = (uint32_t)size;
                n->inval_sent = 0; /* the kernel has an entry for it again */
                if (ver && ver->superseded)
                    ver->stale_pending = 1;
                return n;
            }
        }
    }
    return node_new(fs, parent, name, kind, ver, bucket, part, part_len, (uint32_t)size, NULL, h);
}

/* Control files get a new node at every lookup, never found again: its text
 * is the file's content as of that lookup, so that the kernel may cache it
 * like any file's and a reader still sees one text from its first byte to
 * its last; and the kernel serializes writes per inode, while a second writer
 * must reach us to be told EBUSY rather than wait.  The node of a compact or
 * delete file keeps its sync_id as its part. */
struct node *node_new_ctl(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                          const char *text, size_t text_len)
{
    int sync_file = kind == K_COMPACT_FILE || kind == K_DELETE_FILE;
    size_t part_len = sync_file ? strlen(name) : 0;
    if (text_len > UINT32_MAX)
        return NULL;
    uint32_t h = node_hash(kind, parent, NULL, NULL, name, part_len);
    return node_new(fs, parent, name, kind, NULL, NULL, sync_file ? name : "", part_len,
                    (uint32_t)text_len, text ? text : "", h);
}

static int node_static(const struct fs *fs, const struct node *n)
{
    return n == &fs->root || n == &fs->ctl || n == &fs->ctl_compact || n == &fs->ctl_delete;
}

static void node_free(struct fs *fs, struct node *n)
{
    fs->node_bytes -= node_bytes(n);
    free(n); /* its strings are in the same allocation */
}

/* Drops count lookups of the node; at none, frees it and then each parent
 * that only it kept, and the version of the last node of a version. */
void node_forget(struct fs *fs, struct node *n, uint64_t count)
{
    if (node_static(fs, n))
        return;
    n->nlookup = n->nlookup > count ? n->nlookup - count : 0;
    while (!node_static(fs, n) && n->nlookup == 0 && n->children == 0) {
        for (struct node **p = &fs->table[node_hash_of(n) % fs->table_size]; *p;
             p = &(*p)->hash_next) {
            if (*p == n) {
                *p = n->hash_next;
                break;
            }
        }
        fs->table_count--;
        struct version *ver = n->ver;
        struct node *parent = n->parent;
        if (node_is_dir(n))
            dir_cursors_drop(fs, n);
        else if (n->kind == K_FILE)
            values_drop(fs, n);
        node_free(fs, n);
        if (ver && --ver->refs == 0)
            version_free(fs, ver);
        parent->children--;
        n = parent;
    }
}

/* Frees every node and the table, leaving the versions to version_free_all. */
void node_free_all(struct fs *fs)
{
    for (size_t i = 0; i < fs->table_size; i++) {
        struct node *n = fs->table[i];
        while (n) {
            struct node *next = n->hash_next;
            node_free(fs, n);
            n = next;
        }
    }
    free(fs->table);
    fs->table = NULL;
    fs->table_size = fs->table_count = 0;
}

struct node *node_of_ino(struct fs *fs, fuse_ino_t ino)
{
    return ino == FUSE_ROOT_ID ? &fs->root : (struct node *)(uintptr_t)ino;
}

fuse_ino_t node_ino(struct fs *fs, const struct node *n)
{
    return n == &fs->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

/* ---- Kinds and attributes ---- */

int node_is_dir(const struct node *n)
{
    return n->kind != K_FILE && n->kind != K_COMPACT_FILE && n->kind != K_DELETE_FILE &&
           n->kind != K_CTL_STATS;
}

/* The files one writes to run a compaction or a deletion. */
int node_is_ctl_file(const struct node *n)
{
    return n->kind == K_COMPACT_FILE || n->kind == K_DELETE_FILE;
}

/* Whether the node belongs to no version: the root and everything of ctl/.
 * Their answers change at any time (a sync appears, a status moves on). */
int node_is_unversioned(const struct node *n)
{
    switch (n->kind) {
    case K_ROOT:
    case K_CTL:
    case K_CTL_COMPACT:
    case K_CTL_DELETE:
    case K_CTL_STATS:
    case K_COMPACT_FILE:
    case K_DELETE_FILE:
        return 1;
    case K_SYNC:
    case K_BUCKET:
    case K_DIR:
    case K_FILE:
        return 0;
    }
    return 1;
}

/* The attributes of a node (under fs->lock when it is versioned: its
 * version's mtime). */
void node_fill_attr(struct fs *fs, const struct node *n, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = node_ino(fs, n);
    st->st_uid = fs->owner;
    st->st_gid = fs->group;
    time_t t = n->ver ? n->ver->mtime : fs->mount_time;
    st->st_atime = st->st_mtime = st->st_ctime = t;
    if (n->kind == K_ROOT || n->kind == K_CTL_COMPACT) /* listings that change (dir.c) */
        st->st_mtim = st->st_ctim = n->kind == K_ROOT ? fs->root_mtime : fs->statuses_mtime;
    st->st_blksize = 4096;
    if (node_is_dir(n)) {
        int ctl_writable = n->kind == K_CTL_COMPACT || n->kind == K_CTL_DELETE;
        st->st_mode = S_IFDIR | (ctl_writable ? 0755 : 0555);
        st->st_nlink = 2;
    } else if (n->kind == K_FILE) {
        st->st_mode = S_IFREG | 0444;
        st->st_nlink = 1;
        st->st_size = (off_t)n->size;
        st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
    } else {
        st->st_mode = S_IFREG | (n->kind == K_CTL_STATS ? 0444 : 0644);
        st->st_nlink = 1;
        /* the text's, made at lookup, where reads are cached (file.c) */
        st->st_size = fs->no_open ? (off_t)n->size : 0;
    }
}

/* How long the kernel may keep a node's entry and attributes: a version never
 * changes (a replaced one's entries are invalidated by the sweeper), the
 * unversioned nodes may change at any time. */
double node_timeout(const struct node *n)
{
    return node_is_unversioned(n) ? CTL_TIMEOUT : ENTRY_TIMEOUT;
}
