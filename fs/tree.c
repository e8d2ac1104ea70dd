/*
 * tree.c - resolving names and listing key directories at one snapshot.
 *
 * The key <-> path encoding itself is names.c's (pure); what it cannot know
 * is which keys exist, and that is this room's part: whether a key is also a
 * directory (a key below key + "/"), which key a split-chunk name leads to,
 * and the listing cursor.  A listing streams from bounded iterators in key
 * order and skips each child's subtree with one seek, so a directory of a
 * million keys below it costs one seek per entry, not a scan.  Nothing here
 * knows FUSE (tree.h).
 */
#include "tree.h"

#include <errno.h>
#include <string.h>

int tree_bucket_exists(engine *e, const engine_snapshot *snap, const char *sync_id,
                       const char *bucket)
{
    engine_iter *it = engine_iter_new_bucket(e, snap, sync_id, bucket);
    if (!it)
        return -ENOMEM;
    engine_iter_seek_first(it);
    int exists = engine_iter_valid(it);
    engine_iter_free(it);
    return exists;
}

/* ---- Resolving ---- */

/* The errno of resolve for an engine error: what the store could not answer
 * is never "no such name". */
static int tree_errno(long rc)
{
    return rc == -ENOMEM ? ENOMEM : EIO;
}

/* The first key in [prefix, prefix's end) of the directory's bucket, copied
 * into out (ENGINE_KEY_MAX bytes).  Returns its length, 0 when none, or a
 * negative error (-ENOMEM, a read error, -EINVAL for a damaged key). */
static long tree_first_key(const struct tree_dir *d, const char *prefix, size_t prefix_len,
                           char *out)
{
    engine_iter *it =
        engine_iter_new_prefix(d->e, d->snap, d->sync_id, d->bucket, prefix, prefix_len);
    if (!it)
        return -ENOMEM;
    engine_iter_seek_first(it);
    long n = 0;
    if (engine_iter_valid(it)) {
        struct engine_key_parts p;
        n = engine_iter_parts(it, &p, NULL);
        if (n == 0) {
            memcpy(out, p.key, p.key_len);
            n = (long)p.key_len;
        }
    } else {
        n = engine_iter_status(it, NULL);
    }
    engine_iter_free(it);
    return n;
}

/* Whether a key of the bucket is also a directory: a key below key + "/".
 * 1, 0, or a negative error. */
static int tree_key_is_dir(const struct tree_dir *d, const char *key, size_t key_len)
{
    char prefix[ENGINE_KEY_MAX + 1], out[ENGINE_KEY_MAX];
    memcpy(prefix, key, key_len);
    prefix[key_len] = '/';
    long n = tree_first_key(d, prefix, key_len + 1, out);
    return n < 0 ? (int)n : n > 0;
}

/* The length of the key's value, or -ENOENT. */
static int64_t tree_value_len(const struct tree_dir *d, const char *key, size_t key_len)
{
    char disk[ENGINE_DISK_KEY_MAX];
    size_t n = engine_key_encode(disk, d->sync_id, d->bucket, key, key_len);
    engine_value *v = NULL;
    int rc = engine_value_get(d->e, d->snap, disk, n, &v, NULL);
    if (rc)
        return rc;
    size_t len;
    engine_value_data(v, &len);
    engine_value_free(v);
    return (int64_t)len;
}

/* A chunk name "...%%+": the first key below the chunk's raw bytes that
 * names_child puts in a phase-2 directory of that very name. */
static int tree_resolve_chunk(const struct tree_dir *d, const char *cand, size_t cand_len,
                              const char *name, size_t name_len, struct tree_found *r)
{
    engine_iter *it = engine_iter_new_prefix(d->e, d->snap, d->sync_id, d->bucket, cand, cand_len);
    if (!it)
        return ENOMEM;
    size_t dir_len = d->prefix_len;
    struct names_child c;
    int found = 0, err = 0;
    for (engine_iter_seek_first(it); !found && !err && engine_iter_valid(it);
         engine_iter_next(it)) {
        struct engine_key_parts p;
        if (engine_iter_parts(it, &p, NULL)) {
            err = EIO;
            break;
        }
        int also = 0;
        if (names_child(p.key, p.key_len, dir_len, 0, &c) || !c.belongs)
            continue;
        if (c.is_final) {
            also = tree_key_is_dir(d, p.key, p.key_len);
            if (also < 0) {
                err = tree_errno(also);
                break;
            }
            if (names_child(p.key, p.key_len, dir_len, also, &c) || !c.belongs)
                continue;
        }
        if (c.phase == 2 && c.name_len == name_len && !memcmp(c.name, name, name_len)) {
            r->is_dir = 1;
            memcpy(r->key, p.key, c.prefix_len);
            r->key_len = c.prefix_len;
            found = 1;
        }
    }
    if (!found && !err && engine_iter_status(it, NULL))
        err = EIO;
    engine_iter_free(it);
    return err ? err : found ? 0 : ENOENT;
}

int tree_resolve(const struct tree_dir *d, const char *name, struct tree_found *r)
{
    char raw[NAMES_NAME_MAX + 1];
    size_t raw_len;
    enum names_kind kind;
    size_t name_len = strlen(name), dir_len = d->prefix_len;
    r->is_dir = 0;
    r->key_len = 0;
    r->size = 0; /* directories have none */
    if (names_decode(name, name_len, raw, &raw_len, &kind))
        return ENOENT;
    if (dir_len + raw_len > ENGINE_KEY_MAX)
        return ENOENT;
    char cand[ENGINE_KEY_MAX + 2];
    if (dir_len) /* a bucket's prefix is NULL */
        memcpy(cand, d->prefix, dir_len);
    memcpy(cand + dir_len, raw, raw_len);
    size_t cand_len = dir_len + raw_len;
    struct names_child c;

    if (kind == NAMES_CHUNK)
        return tree_resolve_chunk(d, cand, cand_len, name, name_len, r);

    /* A file: the key itself. */
    if (cand_len > 0) {
        int64_t len = tree_value_len(d, cand, cand_len);
        if (len < 0 && len != -ENOENT)
            return tree_errno((long)len);
        if (len >= 0) {
            int also = tree_key_is_dir(d, cand, cand_len);
            if (also < 0)
                return tree_errno(also);
            if (names_child(cand, cand_len, dir_len, also, &c) == 0 && c.belongs && !c.is_dir &&
                c.name_len == name_len && !memcmp(c.name, name, name_len)) {
                r->is_dir = 0;
                memcpy(r->key, cand, cand_len);
                r->key_len = cand_len;
                r->size = (uint64_t)len;
                return 0;
            }
        }
    }
    if (kind == NAMES_MARKED)
        return ENOENT;
    /* A directory of a whole component: keys below cand + "/". */
    if (cand_len + 1 > ENGINE_KEY_MAX)
        return ENOENT;
    cand[cand_len] = '/';
    char first[ENGINE_KEY_MAX];
    long fl = tree_first_key(d, cand, cand_len + 1, first);
    if (fl < 0)
        return tree_errno(fl);
    if (fl == 0)
        return ENOENT;
    if (names_child(first, (size_t)fl, dir_len, 0, &c) || !c.belongs || !c.is_dir || c.phase != 1 ||
        c.name_len != name_len || memcmp(c.name, name, name_len))
        return ENOENT;
    r->is_dir = 1;
    memcpy(r->key, cand, cand_len + 1);
    r->key_len = cand_len + 1;
    return 0;
}

/* ---- Listing ---- */

void tree_list_init(struct tree_list *l, const struct tree_dir *dir)
{
    memset(l, 0, sizeof *l);
    l->dir = *dir;
    tree_list_rewind(l);
}

void tree_list_rewind(struct tree_list *l)
{
    l->phase = 1;
    l->cursor_len = 0;
    l->last_name_len = 0;
}

int tree_list_done(const struct tree_list *l)
{
    return l->phase > 2;
}

void tree_list_release(struct tree_list *l)
{
    engine_iter_free(l->it);
    engine_iter_free(l->aux);
    l->it = l->aux = NULL;
}

/* Lists the keys below the directory from the cursor until emit declines an
 * entry.  Two phases (names.h): whole names, then chunk directories.  All
 * keys below a child's prefix give that same child, except that in phase 1 a
 * chunk directory's raw prefix also starts whole names; so a child's subtree
 * is skipped with one seek except for a chunk directory in phase 1. */
int tree_list_next(struct tree_list *l, tree_emit_fn emit, void *arg)
{
    const struct tree_dir *d = &l->dir;
    const char *sync_id = d->sync_id, *bucket = d->bucket;
    size_t dir_len = d->prefix_len;
    /* The iterators live as long as the list: FUSE sends one readdir at a
     * time per open directory, each a page of entries. */
    if (!l->it)
        l->it = engine_iter_new_prefix(d->e, d->snap, sync_id, bucket, d->prefix, dir_len);
    if (!l->aux)
        l->aux = engine_iter_new_bucket(d->e, d->snap, sync_id, bucket);
    if (!l->it || !l->aux)
        return ENOMEM;
    engine_iter *it = l->it, *aux = l->aux;
    char disk[ENGINE_DISK_KEY_MAX + 2];
    char key[ENGINE_KEY_MAX + 1];
    int full = 0, err = 0;
    while (!full && !err && l->phase <= 2) {
        if (l->cursor_len)
            engine_iter_seek(it, disk,
                             engine_key_encode(disk, sync_id, bucket, l->cursor, l->cursor_len));
        else
            engine_iter_seek_first(it);
        while (engine_iter_valid(it)) {
            struct engine_key_parts p;
            if (engine_iter_parts(it, &p, NULL)) {
                err = EIO;
                break;
            }
            size_t key_len = p.key_len, vlen = 0;
            memcpy(key, p.key, key_len);
            engine_iter_value(it, &vlen);
            struct names_child c;
            int rc = names_child(key, key_len, dir_len, 0, &c);
            /* A key that is also a directory may be here only as a marked
             * name, when marking makes it split (a 254 or 255-byte last
             * component): it then belongs with also_dir and not without. */
            int only_marked = rc == 0 && !c.belongs;
            if (only_marked)
                rc = names_child(key, key_len, dir_len, 1, &c);
            if (rc || !c.belongs) {
                engine_iter_next(it);
                continue;
            }
            int advanced = 0;
            if (c.is_final) {
                /* Also a directory: a key below key + "/"?  Such keys sort
                 * right after the key among keys that extend it, so unless the
                 * next key extends this one, the answer is no without a seek. */
                engine_iter_next(it);
                advanced = 1;
                int also = 0;
                if (engine_iter_valid(it) && engine_iter_parts(it, &p, NULL) == 0 &&
                    p.key_len > key_len && !memcmp(p.key, key, key_len)) {
                    key[key_len] = '/';
                    size_t pl = engine_key_encode(disk, sync_id, bucket, key, key_len + 1);
                    engine_iter_seek(aux, disk, pl);
                    size_t al;
                    const char *ak = engine_iter_valid(aux) ? engine_iter_disk_key(aux, &al) : NULL;
                    also = ak && al >= pl && !memcmp(ak, disk, pl);
                }
                if ((only_marked && !also) ||
                    (also && (names_child(key, key_len, dir_len, 1, &c) || !c.belongs)))
                    continue;
            }
            if (c.phase == l->phase &&
                !(c.name_len == l->last_name_len && !memcmp(c.name, l->last_name, c.name_len))) {
                /* The cursor stays at this key until its entry is taken. */
                memcpy(l->cursor, key, key_len);
                l->cursor_len = key_len;
                char name[NAMES_NAME_MAX + 1];
                memcpy(name, c.name, c.name_len);
                name[c.name_len] = '\0';
                struct tree_entry e = {.name = name,
                                       .name_len = c.name_len,
                                       .is_dir = c.is_dir,
                                       .key = key,
                                       .key_len = c.is_dir ? c.prefix_len : key_len,
                                       .size = c.is_dir ? 0 : vlen};
                if (!emit(arg, &e)) {
                    full = 1;
                    break;
                }
                memcpy(l->last_name, c.name, c.name_len);
                l->last_name_len = c.name_len;
            }
            /* Advance: past the child's subtree, or to the next key. */
            if (c.is_dir && (c.phase == 1 || l->phase == 2)) {
                size_t n = c.prefix_len;
                memcpy(l->cursor, key, n);
                while (n > dir_len && (unsigned char)l->cursor[n - 1] == 0xFF)
                    n--;
                if (n == dir_len)
                    break; /* everything left is below this child */
                l->cursor[n - 1] = (char)((unsigned char)l->cursor[n - 1] + 1);
                l->cursor_len = n;
                engine_iter_seek(
                    it, disk, engine_key_encode(disk, sync_id, bucket, l->cursor, l->cursor_len));
            } else {
                memcpy(l->cursor, key, key_len);
                l->cursor[key_len] = '\0';
                l->cursor_len = key_len + 1;
                if (!advanced)
                    engine_iter_next(it);
            }
        }
        if (full || err)
            break;
        if (engine_iter_status(it, NULL)) {
            err = EIO;
            break;
        }
        l->phase++;
        l->cursor_len = 0;
        l->last_name_len = 0;
    }
    return err;
}
