/*
 * tree.h - the keys of a bucket as a tree of directories, at one snapshot.
 *
 * A key directory is a bucket (an empty prefix) or the keys below a raw key
 * prefix in it; its entries are the names names.h gives.  tree_resolve finds
 * what one name in a directory stands for; a tree_list streams a directory's
 * entries through a callback, from a cursor that survives between calls, so
 * that a listing of any size reads one page at a time and holds nothing but
 * the cursor.  No FUSE here: the file system (dir.c) puts the entries into
 * its reply buffers, and tests/test_tree.c checks the tree against a real
 * store without a mount.
 *
 * Errors are positive errno values (ENOENT, ENOMEM, EIO), as the FUSE replies
 * take them.
 */
#ifndef SYNCSTORE_TREE_H
#define SYNCSTORE_TREE_H

#include "engine.h"
#include "names.h"

#include <stddef.h>
#include <stdint.h>

/* ---- Where: a key directory (every pointer borrowed) ---- */

struct tree_dir {
    engine *e;
    const engine_snapshot *snap; /* NULL: the latest data at each read */
    const char *sync_id;
    const char *bucket;
    const char *prefix; /* raw key bytes every key below starts with; NULL for a bucket */
    size_t prefix_len;
};

/* 1 when the sync holds a record in the bucket at the snapshot, 0 when not,
 * -ENOMEM when no iterator could be made. */
int tree_bucket_exists(engine *e, const engine_snapshot *snap, const char *sync_id,
                       const char *bucket);

/* ---- Resolving one name ---- */

/* What a name in a key directory stands for. */
struct tree_found {
    int is_dir;
    char key[ENGINE_KEY_MAX + 2];
    size_t key_len; /* the child's raw prefix (a directory) or its key (a file) */
    uint64_t size;  /* a file's value length; 0 for a directory */
};

/* Resolves name (NUL-terminated) in dir: 0 and *out filled, or ENOENT when
 * no key has that name there (also for names not in canonical form), or
 * ENOMEM, or EIO when the store could not be read (never ENOENT then). */
int tree_resolve(const struct tree_dir *dir, const char *name, struct tree_found *out);

/* ---- Listing a directory ---- */

/* One entry of a listing; every pointer is borrowed for the callback. */
struct tree_entry {
    const char *name; /* NUL-terminated */
    size_t name_len;
    int is_dir;
    const char *key; /* the child's raw prefix (a directory) or its key (a file) */
    size_t key_len;
    uint64_t size; /* a file's value length; 0 for a directory */
};

/* Takes one entry: returns 1 to go on, 0 when it could not take the entry
 * (its buffer is full): the listing then stops before it, and the next
 * tree_list_next offers the same entry again. */
typedef int (*tree_emit_fn)(void *arg, const struct tree_entry *entry);

/* A listing and its cursor.  Entries come in two phases (names.h): whole
 * names, then split-chunk directories; each name once, in key order within a
 * phase.  Opaque apart from tree_list_done. */
struct tree_list {
    struct tree_dir dir;
    engine_iter *it, *aux;           /* made at the first tree_list_next, kept until release */
    int phase;                       /* 1 or 2; 3 when done */
    char cursor[ENGINE_KEY_MAX + 2]; /* the raw key to resume from */
    size_t cursor_len;
    char last_name[NAMES_NAME_MAX + 1]; /* last name of this phase, to list it once */
    size_t last_name_len;
};

/* Starts a listing of dir (copied; what it points to must outlive the list). */
void tree_list_init(struct tree_list *l, const struct tree_dir *dir);
/* Moves the cursor back to the first entry (the iterators are kept). */
void tree_list_rewind(struct tree_list *l);
/* Offers entries to emit from the cursor on until emit returns 0 or the
 * listing ends.  Returns 0, ENOMEM (no iterator) or EIO (a read failed, or a
 * key no sync can hold). */
int tree_list_next(struct tree_list *l, tree_emit_fn emit, void *arg);
/* 1 once every entry was taken. */
int tree_list_done(const struct tree_list *l);
/* Frees the iterators; the list may be initialized again afterwards. */
void tree_list_release(struct tree_list *l);

#endif
