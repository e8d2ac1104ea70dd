/*
 * engine.c - stores over RocksDB: layout, open modes, reads, and bulk ingest.
 *
 * This is the one file that includes rocksdb/c.h.  Every RocksDB error string
 * passes through take_error(), which maps it into syncstore's error space
 * (engine.h) and a message naming the store; nothing else looks at errptr.
 *
 * Read-only opens never write into the store: RocksDB's info log goes to a
 * private temporary directory, and when another process holds the store
 * read-write (its LOCK file is locked) the store is opened as a RocksDB
 * secondary, which follows the primary's files instead of assuming they stay.
 *
 * Bulk data enters only through SST files built in STORE/staging/ and ingested
 * in one rocksdb_ingest_external_file() call: one version edit, so a reader
 * sees all of an ingest or none of it.
 */
#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <rocksdb/c.h>

#define FORMAT_FILE "FORMAT"
#define FORMAT_MAGIC "syncstore-store"

struct engine {
    char *path;    /* the store directory as given */
    char *db_path; /* STORE/db */
    char *staging; /* STORE/staging */
    char *log_dir; /* private info-log directory of a read-only open, or NULL */
    int read_only;
    int secondary;
    dev_t dev;
    ino_t ino;
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_envoptions_t *env_options;
    atomic_ulong next_ingest; /* names staging files uniquely within the process */

    /* The background reclaimer (ENGINE_OPEN_RECLAIM). */
    int reclaim_running;
    pthread_t reclaim_thread;
    pthread_mutex_t reclaim_lock;
    pthread_cond_t reclaim_cond;
    int reclaim_stop;    /* under reclaim_lock */
    int reclaim_wakeups; /* under reclaim_lock: hints added since the last pass */
};

struct engine_snapshot {
    const rocksdb_snapshot_t *snap;
};

struct engine_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    rocksdb_t *db;
    const rocksdb_snapshot_t *own_snap; /* taken when the caller gave none */
    char *lo, *hi;
    size_t lo_len, hi_len;
};

struct engine_sst {
    engine_ingest *ing;
    rocksdb_sstfilewriter_t *writer;
    char *path;
    uint64_t entries;
    uint64_t added;      /* key and value bytes added so far */
    uint64_t final_size; /* the file's size once finished */
    int finished;        /* 1 when sealed with at least one entry, -1 when dropped */
};

struct engine_ingest {
    engine *e;
    unsigned long id;
    engine_sst **files; /* in the order they were begun */
    size_t n, cap;
};

/* ---- Errors ---- */

/* Maps a RocksDB error string to our codes, builds "<what>: <rocksdb text>",
 * and frees err. */
static int take_error(char *err, char **msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int take_error(char *err, char **msg, const char *fmt, ...)
{
    int code = -EIO;
    if (strstr(err, "No space left") || strstr(err, "ENOSPC"))
        code = -ENOSPC;
    else if (strstr(err, "While lock file") || strstr(err, "lock hold by current process"))
        code = ENGINE_ELOCKED;
    else if (strstr(err, "Corruption"))
        code = ENGINE_ECORRUPT;
    else if (strstr(err, "Permission denied"))
        code = -EACCES;
    else if (strstr(err, "No such file or directory"))
        code = -ENOENT;
    if (msg) {
        char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
            what = NULL;
        va_end(ap);
        if (asprintf(msg, "%s: %s", what ? what : "rocksdb", err) < 0)
            *msg = NULL;
        free(what);
    }
    rocksdb_free(err);
    return code;
}

const char *engine_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case ENGINE_ENOTSTORE:
        return "not a syncstore store";
    case ENGINE_EFORMAT:
        return "store format is newer than this syncstore";
    case ENGINE_ELOCKED:
        return "store is held by another process";
    case ENGINE_ECORRUPT:
        return "store is corrupted";
    case ENGINE_ECANCELED:
        return "cancelled";
    default:
        return code < 0 && code > -4096 ? strerror(-code) : "unknown error";
    }
}

/* ---- Store layout ---- */

static char *path_join(const char *a, const char *b)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", a, b) < 0)
        return NULL;
    return p;
}

/* Reads STORE/FORMAT.  Returns the version (> 0), 0 when the file is absent, or
 * a negative code. */
static int read_format(const char *path, char **msg)
{
    char *file = path_join(path, FORMAT_FILE);
    if (!file)
        return -ENOMEM;
    FILE *f = fopen(file, "r");
    free(file);
    if (!f) {
        if (errno == ENOENT)
            return 0;
        return engine_msgf(msg, -errno, "cannot read the format marker of store '%s': %s", path,
                           strerror(errno));
    }
    char line[64] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    /* "syncstore-store N\n", N a positive decimal */
    size_t magic = strlen(FORMAT_MAGIC);
    if (ok && !strncmp(line, FORMAT_MAGIC, magic) && line[magic] == ' ' && line[magic + 1] >= '1' &&
        line[magic + 1] <= '9') {
        char *end;
        errno = 0;
        long version = strtol(line + magic + 1, &end, 10);
        if (!errno && version <= INT_MAX && !strcmp(end, "\n"))
            return (int)version;
    }
    return engine_msgf(msg, ENGINE_ENOTSTORE, "'%s' is not a syncstore store (bad FORMAT marker)",
                       path);
}

static int write_format(const char *path, char **msg)
{
    char *file = path_join(path, FORMAT_FILE);
    char *tmp = path_join(path, FORMAT_FILE ".tmp");
    int rc = -ENOMEM;
    if (!file || !tmp)
        goto out;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = engine_msgf(msg, -errno, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    char text[64];
    int n = snprintf(text, sizeof text, FORMAT_MAGIC " %d\n", ENGINE_FORMAT_VERSION);
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        rc = engine_msgf(msg, errno ? -errno : -EIO, "cannot write '%s': %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    close(fd);
    if (rename(tmp, file) != 0) {
        rc = engine_msgf(msg, -errno, "cannot create '%s': %s", file, strerror(errno));
        unlink(tmp);
        goto out;
    }
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    free(file);
    free(tmp);
    return rc;
}

/* 1 when the directory holds nothing but what an interrupted creation leaves. */
static int dir_is_creatable(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *de;
    int ok = 1;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "staging") ||
            !strcmp(n, FORMAT_FILE ".tmp"))
            continue;
        ok = 0;
        break;
    }
    closedir(d);
    return ok;
}

/* Removes every file in the staging directory (leftovers of a crash). */
static void clean_staging(const char *staging)
{
    DIR *d = opendir(staging);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(dfd, de->d_name, 0);
    closedir(d);
}

/* Removes a directory that holds only files. */
static void remove_flat_dir(int parent_fd, const char *name)
{
    int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            unlinkat(fd, de->d_name, 0);
    closedir(d);
    unlinkat(parent_fd, name, AT_REMOVEDIR);
}

/* The private directory for RocksDB's info log of a read-only open (it must
 * write one somewhere, and never into the store): $TMPDIR/syncstore-ro-UID/
 * PID-XXXXXX, removed at close.  A process killed before it closed leaves its
 * directory behind, so each open first removes those of processes that are
 * gone.  When the per-user directory is not ours alone (0700, owned by us),
 * the log goes to a plain $TMPDIR/syncstore-ro-XXXXXX. */
static char *make_log_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char *parent = NULL, *dir = NULL;
    struct stat st;
    if (asprintf(&parent, "%s/syncstore-ro-%u", tmp, (unsigned)geteuid()) >= 0 &&
        (mkdir(parent, 0700) == 0 || errno == EEXIST) && lstat(parent, &st) == 0 &&
        S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0) {
        DIR *d = opendir(parent);
        if (d) {
            struct dirent *de;
            while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (pid > 0 && *end == '-' && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
                    remove_flat_dir(dirfd(d), de->d_name);
            }
            closedir(d);
        }
        if (asprintf(&dir, "%s/%d-XXXXXX", parent, (int)getpid()) < 0)
            dir = NULL;
    } else if (asprintf(&dir, "%s/syncstore-ro-XXXXXX", tmp) < 0) {
        dir = NULL;
    }
    free(parent);
    if (dir && !mkdtemp(dir)) {
        int err = errno;
        free(dir);
        dir = NULL;
        errno = err;
    }
    return dir;
}

/* 1 when another process holds a lock on db/LOCK (a read-write RocksDB open). */
static int lock_held_elsewhere(const char *db_path)
{
    char *lock = path_join(db_path, "LOCK");
    if (!lock)
        return 0;
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    free(lock);
    if (fd < 0)
        return 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

static void reclaim_stop(engine *e);

static void engine_free_fields(engine *e)
{
    reclaim_stop(e);
    if (e->db)
        rocksdb_close(e->db);
    if (e->options)
        rocksdb_options_destroy(e->options);
    if (e->env_options)
        rocksdb_envoptions_destroy(e->env_options);
    if (e->log_dir) {
        /* The private log directory holds only RocksDB's info logs. */
        clean_staging(e->log_dir);
        rmdir(e->log_dir);
        free(e->log_dir);
    }
    free(e->path);
    free(e->db_path);
    free(e->staging);
    free(e);
}

static rocksdb_options_t *make_options(int create, int statistics)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, (unsigned char)create);
    rocksdb_options_increase_parallelism(o, 2);
    rocksdb_options_set_keep_log_file_num(o, 4);
    rocksdb_options_set_max_log_file_size(o, 4 << 20);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    if (statistics)
        rocksdb_options_enable_statistics(o);
    return o;
}

static int reclaim_start(engine *e, char **msg);

int engine_open(const char *path, int flags, engine **out, char **msg)
{
    int create = (flags & ENGINE_OPEN_CREATE) != 0;
    int read_only = !create && (flags & ENGINE_OPEN_READ_ONLY) != 0;
    int rc;
    char *err = NULL;
    *out = NULL;

    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT || !create)
            return engine_msgf(msg, -errno, "cannot open store '%s': %s", path, strerror(errno));
        if (mkdir(path, 0755) != 0)
            return engine_msgf(msg, -errno, "cannot create store '%s': %s", path, strerror(errno));
        if (stat(path, &st) != 0)
            return engine_msgf(msg, -errno, "cannot open store '%s': %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return engine_msgf(msg, -ENOTDIR, "store '%s' is not a directory", path);
    if (access(path, R_OK | X_OK) != 0)
        return engine_msgf(msg, -errno, "cannot open store '%s': %s", path, strerror(errno));

    /* ENGINE_OPEN_ANY_MARKER: a missing or damaged marker is check's to report. */
    int any_marker = read_only && (flags & ENGINE_OPEN_ANY_MARKER);
    int version = read_format(path, any_marker ? NULL : msg);
    if (any_marker && version <= 0)
        version = ENGINE_FORMAT_VERSION;
    if (version < 0)
        return version;
    if (version == 0 && !(create && dir_is_creatable(path)))
        return engine_msgf(msg, ENGINE_ENOTSTORE,
                           "'%s' is not a syncstore store (no FORMAT marker)%s", path,
                           create ? " and not empty" : "");
    if (version > ENGINE_FORMAT_VERSION)
        return engine_msgf(msg, ENGINE_EFORMAT,
                           "store '%s' has format %d, newer than this syncstore's %d", path,
                           version, ENGINE_FORMAT_VERSION);

    engine *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->read_only = read_only;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->path = strdup(path);
    e->db_path = path_join(path, "db");
    e->staging = path_join(path, "staging");
    if (!e->path || !e->db_path || !e->staging) {
        rc = -ENOMEM;
        goto fail;
    }
    e->options = make_options(version == 0, (flags & ENGINE_OPEN_STATISTICS) != 0);
    e->env_options = rocksdb_envoptions_create();

    if (version == 0) {
        if (mkdir(e->staging, 0755) != 0 && errno != EEXIST) {
            rc = engine_msgf(msg, -errno, "cannot create '%s': %s", e->staging, strerror(errno));
            goto fail;
        }
    }

    if (read_only) {
        if (!(e->log_dir = make_log_dir())) {
            rc = engine_msgf(msg, -errno, "cannot make a temporary directory: %s", strerror(errno));
            goto fail;
        }
        rocksdb_options_set_db_log_dir(e->options, e->log_dir);
        if (lock_held_elsewhere(e->db_path)) {
            e->secondary = 1;
            rocksdb_options_set_max_open_files(e->options, -1);
            e->db = rocksdb_open_as_secondary(e->options, e->db_path, e->log_dir, &err);
        } else {
            e->db = rocksdb_open_for_read_only(e->options, e->db_path, 0, &err);
        }
        if (err) {
            rc = take_error(err, msg, "cannot open store '%s' read-only", path);
            goto fail;
        }
    } else {
        e->db = rocksdb_open(e->options, e->db_path, &err);
        if (err) {
            rc = take_error(err, msg, "cannot open store '%s'", path);
            if (rc == ENGINE_ELOCKED && msg) {
                free(*msg);
                *msg = NULL;
                engine_msgf(msg, rc,
                            "store '%s' is held by another process (a mount or another "
                            "syncstore command); stop it first",
                            path);
            }
            goto fail;
        }
        if (mkdir(e->staging, 0755) != 0 && errno != EEXIST) {
            rc = engine_msgf(msg, -errno, "cannot create '%s': %s", e->staging, strerror(errno));
            goto fail;
        }
        clean_staging(e->staging);
        if (version == 0 && (rc = write_format(path, msg)) != 0)
            goto fail;
        if ((flags & ENGINE_OPEN_RECLAIM) && (rc = reclaim_start(e, msg)) != 0)
            goto fail;
    }
    *out = e;
    return 0;
fail:
    engine_free_fields(e);
    return rc;
}

void engine_close(engine *e)
{
    if (e)
        engine_free_fields(e);
}

const char *engine_path(const engine *e)
{
    return e->path;
}

const char *engine_staging_dir(const engine *e)
{
    return e->staging;
}

int engine_is_read_only(const engine *e)
{
    return e->read_only;
}

int engine_is_secondary(const engine *e)
{
    return e->secondary;
}

int engine_same_store(const engine *a, const engine *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

/* ---- Snapshots ---- */

engine_snapshot *engine_snapshot_new(engine *e)
{
    engine_snapshot *s = malloc(sizeof *s);
    if (!s)
        return NULL;
    /* A read-only instance is its own snapshot (see "Reads" below). */
    s->snap = e->read_only ? NULL : rocksdb_create_snapshot(e->db);
    return s;
}

void engine_snapshot_free(engine *e, engine_snapshot *snap)
{
    if (!snap)
        return;
    if (snap->snap)
        rocksdb_release_snapshot(e->db, snap->snap);
    free(snap);
}

/* ---- Reads ----
 *
 * Every read runs at a snapshot, the caller's or one taken for it.  RocksDB
 * 7.8.3 can make an ingested file's range tombstone visible to a read at the
 * latest sequence number before the same file's keys are (when a flush or
 * compaction commits at the same moment): such a read sees the replaced sync
 * gone and the new one not yet there.  Reads at an explicit snapshot never
 * showed it (tests/test_compactor_stress.c; a RocksDB-only reproduction gave
 * 2,450 bad gets in 1.35M without a snapshot, 0 with one).  A read-only or
 * secondary instance never moves (we never catch up with a primary), so it
 * needs no snapshot, and a secondary refuses them.
 */

static rocksdb_pinnableslice_t *get_pinned(engine *e, const engine_snapshot *snap, const char *key,
                                           size_t len, char **err)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    const rocksdb_snapshot_t *own = snap || e->read_only ? NULL : rocksdb_create_snapshot(e->db);
    if (snap && snap->snap)
        rocksdb_readoptions_set_snapshot(ro, snap->snap);
    else if (own)
        rocksdb_readoptions_set_snapshot(ro, own);
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(e->db, ro, key, len, err);
    rocksdb_readoptions_destroy(ro);
    if (own)
        rocksdb_release_snapshot(e->db, own); /* the pinned value stays valid */
    return v;
}

int engine_get(engine *e, const engine_snapshot *snap, const char *sync_id, const char *bucket,
               const void *key, size_t key_len, char **value, size_t *value_len, char **msg)
{
    int rc;
    if ((rc = engine_check_sync_id(sync_id, strlen(sync_id), msg)) ||
        (rc = engine_check_bucket(bucket, strlen(bucket), msg)) ||
        (rc = engine_check_key(key, key_len, msg)))
        return rc;
    char disk[ENGINE_DISK_KEY_MAX];
    size_t n = engine_key_encode(disk, sync_id, bucket, key, key_len);
    char *err = NULL;
    rocksdb_pinnableslice_t *v = get_pinned(e, snap, disk, n, &err);
    if (err)
        return take_error(err, msg, "cannot read store '%s'", e->path);
    if (!v)
        return -ENOENT;
    size_t len;
    const char *data = rocksdb_pinnableslice_value(v, &len);
    char *copy = malloc(len + 1);
    if (!copy) {
        rocksdb_pinnableslice_destroy(v);
        return -ENOMEM;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    rocksdb_pinnableslice_destroy(v);
    *value = copy;
    *value_len = len;
    return 0;
}

struct engine_value {
    rocksdb_pinnableslice_t *slice;
};

int engine_value_get(engine *e, const engine_snapshot *snap, const void *disk_key, size_t len,
                     engine_value **out, char **msg)
{
    char *err = NULL;
    rocksdb_pinnableslice_t *v = get_pinned(e, snap, disk_key, len, &err);
    if (err)
        return take_error(err, msg, "cannot read store '%s'", e->path);
    if (!v)
        return -ENOENT;
    engine_value *ev = malloc(sizeof *ev);
    if (!ev) {
        rocksdb_pinnableslice_destroy(v);
        return -ENOMEM;
    }
    ev->slice = v;
    *out = ev;
    return 0;
}

const char *engine_value_data(const engine_value *v, size_t *len)
{
    return rocksdb_pinnableslice_value(v->slice, len);
}

void engine_value_free(engine_value *v)
{
    if (!v)
        return;
    rocksdb_pinnableslice_destroy(v->slice);
    free(v);
}

/* ---- Iterators ---- */

static const char all_lo[] = "\x01";
static const char all_hi[] = "\xff";

engine_iter *engine_iter_new_range(engine *e, const engine_snapshot *snap, const void *lo,
                                   size_t lo_len, const void *hi, size_t hi_len)
{
    if (!hi) {
        hi = all_hi;
        hi_len = 1;
    }
    engine_iter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->lo = malloc(lo_len ? lo_len : 1);
    it->hi = malloc(hi_len ? hi_len : 1);
    if (!it->lo || !it->hi) {
        free(it->lo);
        free(it->hi);
        free(it);
        return NULL;
    }
    memcpy(it->lo, lo, lo_len);
    memcpy(it->hi, hi, hi_len);
    it->lo_len = lo_len;
    it->hi_len = hi_len;
    it->ro = rocksdb_readoptions_create();
    it->db = e->db;
    if (snap && snap->snap) {
        rocksdb_readoptions_set_snapshot(it->ro, snap->snap);
    } else if (!snap && !e->read_only) {
        it->own_snap = rocksdb_create_snapshot(e->db);
        rocksdb_readoptions_set_snapshot(it->ro, it->own_snap);
    }
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, it->lo, it->lo_len);
    rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->hi, it->hi_len);
    it->it = rocksdb_create_iterator(e->db, it->ro);
    return it;
}

engine_iter *engine_iter_new_sync(engine *e, const engine_snapshot *snap, const char *sync_id)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    return engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
}

engine_iter *engine_iter_new_bucket(engine *e, const engine_snapshot *snap, const char *sync_id,
                                    const char *bucket)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_bucket(sync_id, bucket, lo, &lo_len, hi, &hi_len);
    return engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
}

engine_iter *engine_iter_new_prefix(engine *e, const engine_snapshot *snap, const char *sync_id,
                                    const char *bucket, const void *prefix, size_t prefix_len)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_prefix(sync_id, bucket, prefix, prefix_len, lo, &lo_len, hi, &hi_len);
    return engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
}

engine_iter *engine_iter_new_all(engine *e, const engine_snapshot *snap)
{
    return engine_iter_new_range(e, snap, all_lo, 1, all_hi, 1);
}

void engine_iter_free(engine_iter *it)
{
    if (!it)
        return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    if (it->own_snap)
        rocksdb_release_snapshot(it->db, it->own_snap);
    free(it->lo);
    free(it->hi);
    free(it);
}

void engine_iter_seek_first(engine_iter *it)
{
    rocksdb_iter_seek(it->it, it->lo, it->lo_len);
}

void engine_iter_seek(engine_iter *it, const void *disk_key, size_t len)
{
    rocksdb_iter_seek(it->it, disk_key, len);
}

int engine_iter_valid(const engine_iter *it)
{
    return rocksdb_iter_valid(it->it);
}

void engine_iter_next(engine_iter *it)
{
    rocksdb_iter_next(it->it);
}

const char *engine_iter_disk_key(const engine_iter *it, size_t *len)
{
    return rocksdb_iter_key(it->it, len);
}

const char *engine_iter_value(const engine_iter *it, size_t *len)
{
    return rocksdb_iter_value(it->it, len);
}

int engine_iter_parts(const engine_iter *it, struct engine_key_parts *parts, char **msg)
{
    size_t len;
    const char *k = rocksdb_iter_key(it->it, &len);
    return engine_key_decode(k, len, parts, msg);
}

int engine_iter_status(const engine_iter *it, char **msg)
{
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    if (err)
        return take_error(err, msg, "cannot read store");
    return 0;
}

/* ---- Listing ---- */

/* Finds the first key in [lo, hi) and copies its part number `part` (0: sync,
 * 1: bucket) into out. */
static int next_name(engine *e, const engine_snapshot *snap, const char *lo, size_t lo_len,
                     const char *hi, size_t hi_len, int part, char *out, char **msg)
{
    engine_iter *it = engine_iter_new_range(e, snap, lo, lo_len, hi, hi_len);
    if (!it)
        return -ENOMEM;
    engine_iter_seek_first(it);
    int rc = 0;
    if (engine_iter_valid(it)) {
        struct engine_key_parts p;
        rc = engine_iter_parts(it, &p, msg);
        if (rc == 0) {
            if (part == 0) {
                memcpy(out, p.sync_id, p.sync_id_len);
                out[p.sync_id_len] = '\0';
            } else {
                memcpy(out, p.bucket, p.bucket_len);
                out[p.bucket_len] = '\0';
            }
            rc = 1;
        } else {
            rc = ENGINE_ECORRUPT;
        }
    } else {
        rc = engine_iter_status(it, msg);
    }
    engine_iter_free(it);
    return rc;
}

int engine_next_sync(engine *e, const engine_snapshot *snap, const char *after, char *out,
                     char **msg)
{
    char lo[ENGINE_SYNC_ID_MAX + 2];
    size_t lo_len;
    if (!after || !*after) {
        lo[0] = '\x01';
        lo_len = 1;
    } else {
        size_t n = strlen(after);
        if (n > ENGINE_SYNC_ID_MAX)
            return engine_msgf(msg, -EINVAL, "sync_id is longer than %d", ENGINE_SYNC_ID_MAX);
        memcpy(lo, after, n);
        lo[n] = '\x01';
        lo_len = n + 1;
    }
    return next_name(e, snap, lo, lo_len, all_hi, 1, 0, out, msg);
}

int engine_next_bucket(engine *e, const engine_snapshot *snap, const char *sync_id,
                       const char *after, char *out, char **msg)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    if (after && *after) {
        if ((rc = engine_check_bucket(after, strlen(after), msg)))
            return rc;
        /* sync 0x00 after 0x01: past every key of bucket `after`. */
        lo_len = engine_key_encode(lo, sync_id, after, NULL, 0);
        lo[lo_len - 1] = '\x01';
    }
    return next_name(e, snap, lo, lo_len, hi, hi_len, 1, out, msg);
}

int engine_sync_exists(engine *e, const engine_snapshot *snap, const char *sync_id, char **msg)
{
    engine_iter *it = engine_iter_new_sync(e, snap, sync_id);
    if (!it)
        return -ENOMEM;
    engine_iter_seek_first(it);
    int rc = engine_iter_valid(it) ? 1 : engine_iter_status(it, msg);
    engine_iter_free(it);
    return rc;
}

/* ---- Bulk ingest ---- */

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

int engine_ingest_sst_begin(engine_ingest *ing, engine_sst **out, char **msg)
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
    w->writer = rocksdb_sstfilewriter_create(ing->e->env_options, ing->e->options);
    char *err = NULL;
    rocksdb_sstfilewriter_open(w->writer, w->path, &err);
    if (err) {
        int rc = take_error(err, msg, "cannot create staging file '%s'", w->path);
        rocksdb_sstfilewriter_destroy(w->writer);
        unlink(w->path);
        free(w->path);
        free(w);
        return rc;
    }
    ing->files[ing->n++] = w;
    *out = w;
    return 0;
}

int engine_sst_put(engine_sst *w, const void *disk_key, size_t key_len, const void *value,
                   size_t value_len, char **msg)
{
    char *err = NULL;
    rocksdb_sstfilewriter_put(w->writer, disk_key, key_len, value, value_len, &err);
    if (err)
        return take_error(err, msg, "cannot write staging file '%s'", w->path);
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
        return take_error(err, msg, "cannot write staging file '%s'", w->path);
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
        return take_error(err, msg, "cannot finish staging file '%s'", w->path);
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

void engine_test_pause(int which)
{
    const char *spec = getenv(ENGINE_PAUSE_ENV);
    if (!spec || !*spec)
        return;
    if (which < 0 || which > 2)
        return;
    /* "MS_BEFORE,MS_AFTER[,MS_STREAM]": take the field for `which` */
    const char *p = spec;
    for (int i = 0; i < which && p; i++) {
        p = strchr(p, ',');
        if (p)
            p++;
    }
    if (!p)
        return;
    char *end;
    errno = 0;
    long ms = strtol(p, &end, 10);
    if (errno || end == p || ms > 600000)
        return;
    if (ms > 0) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
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
            rc = take_error(err, msg, "cannot ingest into store '%s'", ing->e->path);
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

/* ---- Metadata ---- */

#define META_PREFIX '\xff'

static char *meta_key(const char *name, size_t *len)
{
    size_t n = strlen(name);
    char *k = malloc(n + 1);
    if (!k)
        return NULL;
    k[0] = META_PREFIX;
    memcpy(k + 1, name, n);
    *len = n + 1;
    return k;
}

int engine_meta_put(engine *e, const char *name, const void *value, size_t len, char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    size_t klen;
    char *k = meta_key(name, &klen);
    if (!k)
        return -ENOMEM;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_put(e->db, wo, k, klen, value, len, &err);
    rocksdb_writeoptions_destroy(wo);
    free(k);
    if (err)
        return take_error(err, msg, "cannot write metadata '%s' of store '%s'", name, e->path);
    return 0;
}

int engine_meta_get(engine *e, const char *name, char **value, size_t *len, char **msg)
{
    size_t klen;
    char *k = meta_key(name, &klen);
    if (!k)
        return -ENOMEM;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    char *err = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(e->db, ro, k, klen, &err);
    rocksdb_readoptions_destroy(ro);
    free(k);
    if (err)
        return take_error(err, msg, "cannot read metadata '%s' of store '%s'", name, e->path);
    if (!v)
        return -ENOENT;
    size_t n;
    const char *data = rocksdb_pinnableslice_value(v, &n);
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, data, n);
        copy[n] = '\0';
    }
    rocksdb_pinnableslice_destroy(v);
    if (!copy)
        return -ENOMEM;
    *value = copy;
    if (len)
        *len = n;
    return 0;
}

int engine_meta_delete(engine *e, const char *name, char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    size_t klen;
    char *k = meta_key(name, &klen);
    if (!k)
        return -ENOMEM;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_delete(e->db, wo, k, klen, &err);
    rocksdb_writeoptions_destroy(wo);
    free(k);
    if (err)
        return take_error(err, msg, "cannot delete metadata '%s' of store '%s'", name, e->path);
    return 0;
}

int engine_meta_list(engine *e, const char *prefix,
                     int (*fn)(void *arg, const char *name, const char *value, size_t len),
                     void *arg, char **msg)
{
    size_t lo_len;
    char *lo = meta_key(prefix, &lo_len);
    if (!lo)
        return -ENOMEM;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(ro, lo, lo_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, ro);
    int rc = 0;
    char name[ENGINE_DISK_KEY_MAX + 1];
    for (rocksdb_iter_seek(it, lo, lo_len); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < lo_len || memcmp(k, lo, lo_len))
            break;
        if (kl - 1 > ENGINE_DISK_KEY_MAX)
            continue;
        memcpy(name, k + 1, kl - 1);
        name[kl - 1] = '\0';
        const char *v = rocksdb_iter_value(it, &vl);
        if ((rc = fn(arg, name, v, vl)) != 0)
            break;
    }
    if (rc == 0) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err)
            rc = take_error(err, msg, "cannot read metadata of store '%s'", e->path);
    }
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    free(lo);
    return rc;
}

int engine_sync_touch(engine *e, const char *sync_id, char **msg)
{
    char name[sizeof "synctime/" + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, "synctime/%.128s", sync_id);
    char value[32];
    int n = snprintf(value, sizeof value, "%lld", (long long)time(NULL));
    return engine_meta_put(e, name, value, (size_t)n, msg);
}

int engine_sync_time(engine *e, const char *sync_id, int64_t *seconds)
{
    char name[sizeof "synctime/" + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, "synctime/%.128s", sync_id);
    char *v = NULL;
    int rc = engine_meta_get(e, name, &v, NULL, NULL);
    if (rc)
        return rc;
    *seconds = strtoll(v, NULL, 10);
    free(v);
    return 0;
}

/* ---- Space reclaim ---- */

#define RECLAIM_PREFIX "reclaim/"

static int compact_sync_range(engine *e, const char *sync_id, char **msg)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    rocksdb_compactoptions_t *o = rocksdb_compactoptions_create();
    rocksdb_compactoptions_set_exclusive_manual_compaction(o, 0);
    /* The C API reports no error from a manual compaction; a failed one leaves
     * the space to RocksDB's own compactions, and the data is correct either way. */
    rocksdb_compact_range_opt(e->db, o, lo, lo_len, hi, hi_len);
    rocksdb_compactoptions_destroy(o);
    (void)msg;
    return 0;
}

int engine_reclaim_hint(engine *e, const char *sync_id, char **msg)
{
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    char name[sizeof RECLAIM_PREFIX + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, RECLAIM_PREFIX "%s", sync_id);
    /* The value is a generation: a pass deletes the hint only if no newer
     * replacement of the sync came in while it compacted. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char gen[64];
    int n = snprintf(gen, sizeof gen, "%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
    if ((rc = engine_meta_put(e, name, gen, (size_t)n, msg)))
        return rc;
    if (e->reclaim_running) {
        pthread_mutex_lock(&e->reclaim_lock);
        e->reclaim_wakeups++;
        pthread_cond_signal(&e->reclaim_cond);
        pthread_mutex_unlock(&e->reclaim_lock);
    }
    return 0;
}

int engine_reclaim_now(engine *e, const char *sync_id, char **msg)
{
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    if ((rc = compact_sync_range(e, sync_id, msg)))
        return rc;
    char name[sizeof RECLAIM_PREFIX + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, RECLAIM_PREFIX "%s", sync_id);
    return engine_meta_delete(e, name, msg);
}

static int count_hint(void *arg, const char *name, const char *value, size_t len)
{
    (void)name;
    (void)value;
    (void)len;
    (*(int *)arg)++;
    return 0;
}

int engine_reclaim_pending(engine *e, char **msg)
{
    int n = 0;
    int rc = engine_meta_list(e, RECLAIM_PREFIX, count_hint, &n, msg);
    return rc ? rc : n;
}

struct hint {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    char gen[64];
};

struct hint_walk {
    const char *after; /* the last sync_id handled, "" at the start of a pass */
    struct hint *h;
};

/* Takes the first hint whose sync_id sorts after w->after. */
static int hint_after(void *arg, const char *name, const char *value, size_t len)
{
    struct hint_walk *w = arg;
    const char *sync_id = name + strlen(RECLAIM_PREFIX);
    if (strcmp(sync_id, w->after) <= 0 || strlen(sync_id) > ENGINE_SYNC_ID_MAX)
        return 0;
    memcpy(w->h->sync_id, sync_id, strlen(sync_id) + 1);
    if (len >= sizeof w->h->gen)
        len = sizeof w->h->gen - 1;
    memcpy(w->h->gen, value, len);
    w->h->gen[len] = '\0';
    return 1;
}

/* Hints are handled in sync_id order, each after the one last handled, so a
 * hint that could not be cleared never starves the others. */
static int next_hint(engine *e, const char *after, struct hint *h)
{
    struct hint_walk w = {.after = after, .h = h};
    return engine_meta_list(e, RECLAIM_PREFIX, hint_after, &w, NULL) == 1;
}

static int reclaim_should_stop(engine *e)
{
    pthread_mutex_lock(&e->reclaim_lock);
    int stop = e->reclaim_stop;
    pthread_mutex_unlock(&e->reclaim_lock);
    return stop;
}

static void *reclaim_main(void *arg)
{
    engine *e = arg;
    for (;;) {
        /* One pass over every hint. */
        char after[ENGINE_SYNC_ID_MAX + 1] = "";
        struct hint h;
        while (!reclaim_should_stop(e) && next_hint(e, after, &h)) {
            snprintf(after, sizeof after, "%s", h.sync_id);
            if (engine_check_sync_id(h.sync_id, strlen(h.sync_id), NULL))
                continue;
            compact_sync_range(e, h.sync_id, NULL);
            if (reclaim_should_stop(e))
                break; /* the compaction may have been cut short: keep the hint */
            char name[sizeof RECLAIM_PREFIX + ENGINE_SYNC_ID_MAX];
            snprintf(name, sizeof name, RECLAIM_PREFIX "%s", h.sync_id);
            char *now = NULL;
            size_t len;
            if (engine_meta_get(e, name, &now, &len, NULL) == 0 && now && !strcmp(now, h.gen))
                engine_meta_delete(e, name, NULL);
            free(now);
        }
        pthread_mutex_lock(&e->reclaim_lock);
        while (!e->reclaim_stop && e->reclaim_wakeups == 0)
            pthread_cond_wait(&e->reclaim_cond, &e->reclaim_lock);
        int stop = e->reclaim_stop;
        e->reclaim_wakeups = 0;
        pthread_mutex_unlock(&e->reclaim_lock);
        if (stop)
            return NULL;
    }
}

static int reclaim_start(engine *e, char **msg)
{
    pthread_mutex_init(&e->reclaim_lock, NULL);
    pthread_cond_init(&e->reclaim_cond, NULL);
    int rc = pthread_create(&e->reclaim_thread, NULL, reclaim_main, e);
    if (rc) {
        pthread_mutex_destroy(&e->reclaim_lock);
        pthread_cond_destroy(&e->reclaim_cond);
        return engine_msgf(msg, -rc, "cannot start the reclaim thread: %s", strerror(rc));
    }
    e->reclaim_running = 1;
    return 0;
}

/* Stops the reclaimer, cutting a running compaction short: its hint stays for
 * the next open. */
static void reclaim_stop(engine *e)
{
    if (!e->reclaim_running)
        return;
    pthread_mutex_lock(&e->reclaim_lock);
    e->reclaim_stop = 1;
    pthread_cond_signal(&e->reclaim_cond);
    pthread_mutex_unlock(&e->reclaim_lock);
    rocksdb_disable_manual_compaction(e->db);
    pthread_join(e->reclaim_thread, NULL);
    pthread_mutex_destroy(&e->reclaim_lock);
    pthread_cond_destroy(&e->reclaim_cond);
    e->reclaim_running = 0;
}

/* ---- Figures ---- */

uint64_t engine_ticker(engine *e, const char *name)
{
    char *stats = rocksdb_options_statistics_get_string(e->options);
    if (!stats)
        return 0;
    uint64_t value = 0;
    size_t n = strlen(name);
    for (const char *p = stats; (p = strstr(p, name)) != NULL; p += n) {
        if ((p == stats || p[-1] == '\n') && !strncmp(p + n, " COUNT : ", 9)) {
            value = strtoull(p + n + 9, NULL, 10);
            break;
        }
    }
    rocksdb_free(stats);
    return value;
}

uint64_t engine_property(engine *e, const char *name)
{
    uint64_t v = 0;
    if (rocksdb_property_int(e->db, name, &v) != 0)
        return 0;
    return v;
}

uint64_t engine_sync_approximate_bytes(engine *e, const char *sync_id)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    const char *los[] = {lo}, *his[] = {hi};
    uint64_t size = 0;
    char *err = NULL;
    rocksdb_approximate_sizes(e->db, 1, los, &lo_len, his, &hi_len, &size, &err);
    if (err) {
        rocksdb_free(err);
        return 0;
    }
    return size;
}

/* ---- Baseline ---- */

int engine_replace_with_batch(engine *e, const char *sync_id, engine_iter *source, uint64_t *keys,
                              char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range(b, lo, lo_len, hi, hi_len);
    uint64_t n = 0;
    for (; engine_iter_valid(source); engine_iter_next(source), n++) {
        size_t kl, vl;
        const char *k = engine_iter_disk_key(source, &kl);
        const char *v = engine_iter_value(source, &vl);
        rocksdb_writebatch_put(b, k, kl, v, vl);
    }
    int rc = engine_iter_status(source, msg);
    if (rc == 0) {
        rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
        char *err = NULL;
        rocksdb_write(e->db, wo, b, &err);
        rocksdb_writeoptions_destroy(wo);
        if (err)
            rc = take_error(err, msg, "cannot write to store '%s'", e->path);
    }
    rocksdb_writebatch_destroy(b);
    if (keys)
        *keys = n;
    return rc;
}

/* ---- Checking a store ---- */

int engine_check_format(const char *path, char **msg)
{
    char *file = path_join(path, FORMAT_FILE);
    if (!file)
        return -ENOMEM;
    int rc;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        rc = err == ENOENT ? engine_msgf(msg, -ENOENT, "format marker '%s' is missing", file)
                           : engine_msgf(msg, -err, "cannot read format marker '%s': %s", file,
                                         strerror(err));
        free(file);
        return rc;
    }
    /* A marker is one short line: read a little more than one to see a tail. */
    char text[64];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof text - 1 && (n = read(fd, text + len, sizeof text - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            close(fd);
            rc = engine_msgf(msg, -err, "cannot read format marker '%s': %s", file, strerror(err));
            free(file);
            return rc;
        }
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    char want[64];
    int want_len = snprintf(want, sizeof want, FORMAT_MAGIC " %d\n", ENGINE_FORMAT_VERSION);
    /* A well-formed marker of another version: the magic, digits, a newline, the end. */
    long version = 0;
    const char *digits = text + strlen(FORMAT_MAGIC " ");
    char *end = NULL;
    if (strlen(text) == len && !strncmp(text, FORMAT_MAGIC " ", strlen(FORMAT_MAGIC " ")) &&
        *digits >= '1' && *digits <= '9')
        version = strtol(digits, &end, 10);
    if (len == (size_t)want_len && !memcmp(text, want, len))
        rc = 0;
    else if (end && end[0] == '\n' && end[1] == '\0' && version > ENGINE_FORMAT_VERSION &&
             version < 1000000)
        rc = engine_msgf(msg, ENGINE_EFORMAT,
                         "format marker '%s' names format %ld, newer than this syncstore's %d",
                         file, version, ENGINE_FORMAT_VERSION);
    else {
        /* Quote what is there, escaped, so a binary marker prints sanely. */
        char shown[sizeof text * 4 + 1];
        size_t o = 0;
        for (size_t i = 0; i < len && i < 40; i++) {
            unsigned char c = (unsigned char)text[i];
            if (c >= 0x20 && c < 0x7F && c != '\\' && c != '\'')
                shown[o++] = (char)c;
            else
                o += (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", c);
        }
        shown[o] = '\0';
        rc = engine_msgf(msg, ENGINE_ENOTSTORE,
                         "format marker '%s' does not hold \"" FORMAT_MAGIC
                         " %d\\n\" but '%s'%s (%zu bytes)",
                         file, ENGINE_FORMAT_VERSION, shown, len > 40 ? "..." : "", len);
    }
    free(file);
    return rc;
}

static void set_full_scan(rocksdb_readoptions_t *ro)
{
    rocksdb_readoptions_set_verify_checksums(ro, 1);
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_readoptions_set_readahead_size(ro, 2u << 20);
}

engine_iter *engine_iter_new_raw(engine *e)
{
    engine_iter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    /* Empty bounds: engine_iter_seek_first() seeks to "", the first key. */
    it->lo = malloc(1);
    it->hi = malloc(1);
    if (!it->lo || !it->hi) {
        free(it->lo);
        free(it->hi);
        free(it);
        return NULL;
    }
    it->ro = rocksdb_readoptions_create();
    it->db = e->db;
    if (!e->read_only) {
        it->own_snap = rocksdb_create_snapshot(e->db);
        rocksdb_readoptions_set_snapshot(it->ro, it->own_snap);
    }
    set_full_scan(it->ro);
    it->it = rocksdb_create_iterator(e->db, it->ro);
    return it;
}

/* The index of the live SST file that a RocksDB message names (".../000123.sst"), or -1. */
static int livefile_named(const rocksdb_livefiles_t *lf, int n, const char *text)
{
    for (const char *p = strstr(text, ".sst"); p; p = strstr(p + 1, ".sst")) {
        const char *q = p;
        while (q > text && q[-1] >= '0' && q[-1] <= '9')
            q--;
        size_t len = (size_t)(p + 4 - q);
        if (q == p)
            continue;
        for (int i = 0; i < n; i++) {
            const char *name = rocksdb_livefiles_name(lf, i);
            const char *base = strrchr(name, '/');
            base = base ? base + 1 : name;
            if (strlen(base) == len && !memcmp(base, q, len))
                return i;
        }
    }
    return -1;
}

int engine_verify_sst_files(engine *e, struct engine_sst_check *out,
                            void (*bad)(void *arg, const char *file, const char *reason), void *arg,
                            char **msg)
{
    memset(out, 0, sizeof *out);
    const rocksdb_livefiles_t *lf = rocksdb_livefiles(e->db);
    if (!lf)
        return engine_msgf(msg, -EIO, "cannot list the SST files of store '%s'", e->path);
    int n = rocksdb_livefiles_count(lf);
    out->files = (uint64_t)n;
    for (int i = 0; i < n; i++)
        out->bytes += rocksdb_livefiles_size(lf, i);
    char *reported = calloc((size_t)n + 1, 1); /* per file: a corruption was reported */
    char *from = NULL;                         /* where the walk resumes; NULL: the start */
    size_t from_len = 0;
    if (!reported) {
        rocksdb_livefiles_destroy(lf);
        return -ENOMEM;
    }
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    set_full_scan(ro);
    rocksdb_readoptions_set_ignore_range_deletions(ro, 1);
    const rocksdb_snapshot_t *snap = e->read_only ? NULL : rocksdb_create_snapshot(e->db);
    if (snap)
        rocksdb_readoptions_set_snapshot(ro, snap);
    int rc = 0;
    for (;;) {
        rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, ro);
        if (from)
            rocksdb_iter_seek(it, from, from_len);
        else
            rocksdb_iter_seek_to_first(it);
        for (; rocksdb_iter_valid(it); rocksdb_iter_next(it))
            out->entries++;
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        rocksdb_iter_destroy(it);
        if (!err) {
            out->complete = 1;
            break;
        }
        int i = livefile_named(lf, n, err);
        char *file = NULL;
        if (i >= 0) {
            const char *name = rocksdb_livefiles_name(lf, i);
            file = path_join(e->db_path, name[0] == '/' ? name + 1 : name);
        }
        bad(arg, file, err);
        free(file);
        rocksdb_free(err);
        if (i < 0 || reported[i])
            break;
        reported[i] = 1;
        /* Resume at the smallest key after the file's largest: largest 0x00. */
        size_t len;
        const char *largest = rocksdb_livefiles_largestkey(lf, i, &len);
        char *next = realloc(from, len + 1);
        if (!next) {
            rc = -ENOMEM;
            break;
        }
        from = next;
        memcpy(from, largest, len);
        from[len] = '\0';
        from_len = len + 1;
        out->skipped++;
    }
    if (snap)
        rocksdb_release_snapshot(e->db, snap);
    rocksdb_readoptions_destroy(ro);
    rocksdb_livefiles_destroy(lf);
    free(from);
    free(reported);
    return rc;
}

/* ---- Backups ---- */

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
    char *current = path_join(db_path, "CURRENT");
    FILE *f = current ? fopen(current, "r") : NULL;
    free(current);
    if (!f)
        return;
    int got = fgets(m->name, sizeof m->name, f) != NULL;
    fclose(f);
    m->name[strcspn(m->name, "\n")] = '\0';
    if (!got || !m->name[0] || strchr(m->name, '/'))
        return;
    char *manifest = path_join(db_path, m->name);
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
        return take_error(err, msg, "cannot start a checkpoint of store '%s'", e->path);
    /* No flush (log_size_for_flush: never): the store is read-only here and
     * the WAL files are copied instead. */
    rocksdb_checkpoint_create(cp, dir, UINT64_MAX, &err);
    rocksdb_checkpoint_object_destroy(cp);
    if (err)
        return take_error(err, msg, "cannot copy store '%s' into '%s'", e->path, dir);
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
    char *db_path = path_join(path, "db");
    char *dest_db = path_join(dest, "db");
    char *dest_db_tmp = path_join(dest, "db.tmp");
    char *dest_staging = path_join(dest, "staging");
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
                rc = take_error(err, msg, "cannot follow store '%s'", path);
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
    if ((rc = write_format(dest, msg)) != 0)
        goto fail;
    goto out;
fail:
    engine_close(e);
    if (made) {
        if (dest_existed) { /* only what this call made in it */
            remove_tree(dest_db);
            remove_tree(dest_db_tmp);
            remove_tree(dest_staging);
            char *f = path_join(dest, FORMAT_FILE), *t = path_join(dest, FORMAT_FILE ".tmp");
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
