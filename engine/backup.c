/*
 * backup.c - `syncstore backup`: a point-in-time copy of a store, made from a
 * RocksDB checkpoint while a mount may hold the store.
 *
 * The copy is taken read-only (as a secondary when the store is held) and
 * retaken when the store's MANIFEST changed meanwhile; the FORMAT marker is
 * written last, once the copy opens and holds the same SST files, so a
 * backup cut short never looks like a store.
 */
#include "engine_i.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_ATTEMPTS 5

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Removes a directory tree (rm -rf); a missing path is fine. */
static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* 1 when a directory holds no entry, 0 when it does, or a negated errno. */
static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *de;
    int empty = 1;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

/* Which MANIFEST db/CURRENT names, and that file's identity and size.  Every
 * change a primary makes to the set of live files (flush, compaction, ingest,
 * a new open) appends to the MANIFEST or replaces it before any file or WAL is
 * deleted, so an unchanged manifest_id means no file a view needs went away. */
struct manifest_id {
    char name[64];
    dev_t dev;
    ino_t ino;
    off_t size;
    int ok;
};

static void manifest_id_read(const char *db_path, struct manifest_id *m)
{
    memset(m, 0, sizeof *m);
    char *current = engine_path_join(db_path, "CURRENT");
    FILE *f = current ? fopen(current, "r") : NULL;
    free(current);
    if (!f)
        return;
    int got = fgets(m->name, sizeof m->name, f) != NULL;
    fclose(f);
    m->name[strcspn(m->name, "\n")] = '\0';
    if (!got || !m->name[0] || strchr(m->name, '/'))
        return;
    char *manifest = engine_path_join(db_path, m->name);
    struct stat st;
    if (manifest && stat(manifest, &st) == 0) {
        m->dev = st.st_dev;
        m->ino = st.st_ino;
        m->size = st.st_size;
        m->ok = 1;
    }
    free(manifest);
}

static int manifest_id_same(const struct manifest_id *a, const struct manifest_id *b)
{
    return a->ok && b->ok && !strcmp(a->name, b->name) && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size;
}

/* Counts the live SST files of e and their bytes. */
static void live_sst_totals(engine *e, uint64_t *files, uint64_t *bytes)
{
    *files = *bytes = 0;
    const rocksdb_livefiles_t *lf = rocksdb_livefiles(e->db);
    if (!lf)
        return;
    int n = rocksdb_livefiles_count(lf);
    *files = (uint64_t)n;
    for (int i = 0; i < n; i++)
        *bytes += rocksdb_livefiles_size(lf, i);
    rocksdb_livefiles_destroy(lf);
}

static int checkpoint_into(engine *e, const char *dir, char **msg)
{
    char *err = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(e->db, &err);
    if (err)
        return engine_take_error(err, msg, "cannot start a checkpoint of store '%s'", e->path);
    /* No flush (log_size_for_flush: never): the store is read-only here and
     * the WAL files are copied instead. */
    rocksdb_checkpoint_create(cp, dir, UINT64_MAX, &err);
    rocksdb_checkpoint_object_destroy(cp);
    if (err)
        return engine_take_error(err, msg, "cannot copy store '%s' into '%s'", e->path, dir);
    return 0;
}

/* 1 when real path `inner` is `outer` or lies under it. */
static int path_within(const char *inner, const char *outer)
{
    size_t n = strlen(outer);
    return !strncmp(inner, outer, n) && (inner[n] == '\0' || inner[n] == '/' || n == 1);
}

/* The absolute, resolved form of a destination that may not exist yet (its
 * parent must), malloc'd; NULL with errno set. */
static char *resolve_dest(const char *dest)
{
    char *real = realpath(dest, NULL);
    if (real || errno != ENOENT)
        return real;
    char *copy = strdup(dest);
    if (!copy)
        return NULL;
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = '\0';
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    const char *dir = ".";
    if (slash == copy) {
        dir = "/";
    } else if (slash) {
        *slash = '\0';
        dir = copy;
    }
    char *parent = realpath(dir, NULL);
    char *out = NULL;
    if (parent && asprintf(&out, "%s/%s", strcmp(parent, "/") ? parent : "", base) < 0)
        out = NULL;
    free(parent);
    free(copy);
    return out;
}

int engine_backup(const char *path, const char *dest, struct engine_backup_info *info, char **msg)
{
    struct engine_backup_info local;
    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    int rc = 0, dest_existed = 0, made = 0;
    engine *e = NULL, *copy = NULL;
    char *db_path = engine_path_join(path, "db");
    char *dest_db = engine_path_join(dest, "db");
    char *dest_db_tmp = engine_path_join(dest, "db.tmp");
    char *dest_staging = engine_path_join(dest, "staging");
    char *real_store = NULL, *real_dest = NULL;
    if (!db_path || !dest_db || !dest_db_tmp || !dest_staging) {
        rc = -ENOMEM;
        goto out;
    }

    struct stat st;
    if (lstat(dest, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            rc = engine_msgf(msg, -EEXIST,
                             "backup destination '%s' already exists and is not a directory", dest);
            goto out;
        }
        int empty = dir_is_empty(dest);
        if (empty < 0) {
            rc = engine_msgf(msg, empty, "cannot read backup destination '%s': %s", dest,
                             strerror(-empty));
            goto out;
        }
        if (!empty) {
            rc = engine_msgf(msg, -EEXIST,
                             "backup destination '%s' already exists and is not empty", dest);
            goto out;
        }
        dest_existed = 1;
    } else if (errno != ENOENT) {
        rc = engine_msgf(msg, -errno, "cannot use backup destination '%s': %s", dest,
                         strerror(errno));
        goto out;
    }
    /* Never inside the store, checked before anything is made: a failure
     * below removes what it made, which must not be the store's. */
    if (!(real_store = realpath(path, NULL))) {
        rc = engine_msgf(msg, -errno, "cannot resolve '%s': %s", path, strerror(errno));
        goto out;
    }
    if (!(real_dest = resolve_dest(dest))) { /* its parent is missing */
        rc = engine_msgf(msg, -errno, "cannot create backup destination '%s': %s", dest,
                         strerror(errno));
        goto out;
    }
    if (path_within(real_dest, real_store)) {
        rc = engine_msgf(msg, -EINVAL, "backup destination '%s' is inside store '%s'", dest, path);
        goto out;
    }

    for (int attempt = 1; attempt <= BACKUP_ATTEMPTS; attempt++) {
        info->attempts = attempt;
        struct manifest_id before, after;
        manifest_id_read(db_path, &before);
        if (e && e->secondary) {
            /* Cheaper than a new open: follow the holder's latest MANIFEST and WAL. */
            char *err = NULL;
            rocksdb_try_catch_up_with_primary(e->db, &err);
            if (err) {
                rc = engine_take_error(err, msg, "cannot follow store '%s'", path);
                goto fail;
            }
        } else {
            engine_close(e);
            e = NULL;
            if ((rc = engine_open(path, ENGINE_OPEN_READ_ONLY, &e, msg)) != 0)
                goto fail;
            if (!e) {
                rc = -EIO;
                goto fail;
            }
        }
        if (attempt == 1) {
            if (!dest_existed && mkdir(dest, 0755) != 0) {
                rc = engine_msgf(msg, -errno, "cannot create backup destination '%s': %s", dest,
                                 strerror(errno));
                goto fail;
            }
            made = 1;
            if (stat(dest, &st) == 0)
                info->hard_linked = st.st_dev == e->dev;
        }
        info->secondary = e->secondary;
        rc = checkpoint_into(e, dest_db, msg);
        live_sst_totals(e, &info->files, &info->bytes);
        manifest_id_read(db_path, &after);
        if (manifest_id_same(&before, &after)) {
            if (rc)
                goto fail;
            break;
        }
        /* The holder changed the store meanwhile: the copy may lack a file or
         * a WAL that was deleted; take it again, after a pause that grows
         * (5, 10, 20, 40 ms) to step out of a burst of changes. */
        remove_tree(dest_db);
        remove_tree(dest_db_tmp);
        if (rc && msg) {
            free(*msg);
            *msg = NULL;
        }
        rc = -EAGAIN;
        if (attempt < BACKUP_ATTEMPTS) {
            struct timespec pause = {0, 5000000L << (attempt - 1)};
            nanosleep(&pause, NULL);
        }
    }
    engine_close(e);
    e = NULL;
    if (rc == -EAGAIN) {
        engine_msgf(msg, rc,
                    "store '%s' changed while it was copied, %d times in a row (its holder "
                    "flushed, compacted or ingested); nothing was kept, try again",
                    path, BACKUP_ATTEMPTS);
        goto fail;
    }
    if (mkdir(dest_staging, 0755) != 0) {
        rc = engine_msgf(msg, -errno, "cannot create '%s': %s", dest_staging, strerror(errno));
        goto fail;
    }
    /* The copy must open and hold the same SST files before it may look like a store. */
    char *inner = NULL;
    rc = engine_open(dest, ENGINE_OPEN_READ_ONLY | ENGINE_OPEN_ANY_MARKER, &copy, &inner);
    if (rc) {
        engine_msgf(msg, rc, "the copy in '%s' does not open: %s", dest,
                    inner ? inner : engine_strerror(rc));
        free(inner);
        goto fail;
    }
    uint64_t files, bytes;
    live_sst_totals(copy, &files, &bytes);
    engine_close(copy);
    if (files != info->files || bytes != info->bytes) {
        rc = engine_msgf(msg, -EIO,
                         "the copy in '%s' holds %llu SST files (%llu bytes), the store '%s' "
                         "%llu (%llu bytes)",
                         dest, (unsigned long long)files, (unsigned long long)bytes, path,
                         (unsigned long long)info->files, (unsigned long long)info->bytes);
        goto fail;
    }
    if ((rc = engine_format_write(dest, msg)) != 0)
        goto fail;
    goto out;
fail:
    engine_close(e);
    if (made) {
        if (dest_existed) { /* only what this call made in it */
            remove_tree(dest_db);
            remove_tree(dest_db_tmp);
            remove_tree(dest_staging);
            char *f = engine_path_join(dest, ENGINE_FORMAT_FILE),
                 *t = engine_path_join(dest, ENGINE_FORMAT_FILE ".tmp");
            if (f)
                unlink(f);
            if (t)
                unlink(t);
            free(f);
            free(t);
        } else {
            remove_tree(dest);
        }
    }
out:
    free(real_store);
    free(real_dest);
    free(db_path);
    free(dest_db);
    free(dest_db_tmp);
    free(dest_staging);
    return rc;
}
