/*
 * store.c - a store directory: its layout, the FORMAT marker, and opening
 * and closing the RocksDB database in it.
 *
 *     STORE/FORMAT     "syncstore-store 1\n", written last by rename
 *     STORE/db/        the RocksDB database
 *     STORE/staging/   SST files of ingests in progress; emptied at every
 *                      read-write open
 *
 * The marker has one parser, format_read(): engine_open() and `check`
 * (engine_check_format) agree on what a store is, byte for byte.
 *
 * Read-only opens never write into the store: RocksDB's info log goes to a
 * private temporary directory, and when another process holds the store
 * read-write (its LOCK file is locked) the store is opened as a RocksDB
 * secondary, which follows the primary's files instead of assuming they stay.
 *
 * Every RocksDB error string of engine/ passes through engine_take_error(),
 * which maps it into syncstore's error space (engine.h) and a message naming
 * the store; nothing else looks at errptr.
 */
#include "engine_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_MAGIC "syncstore-store"
/* A marker is one short line: read a little more than one to see a tail. */
#define FORMAT_READ_MAX 63

/* ---- RocksDB errors ---- */

int engine_take_error(char *err, char **msg, const char *fmt, ...)
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

/* ---- Store layout ---- */

char *engine_path_join(const char *a, const char *b)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", a, b) < 0)
        return NULL;
    return p;
}

/* ---- The format marker ---- */

/* The one FORMAT parser.  Reads STORE/FORMAT and returns 0 with *version when
 * it holds exactly "syncstore-store N\n" (N a positive decimal without a
 * leading zero, below 1000000) and nothing else; -ENOENT when the file is
 * absent; ENGINE_ENOTSTORE for any other content; another negated errno when
 * it cannot be read.  Every failure but -ENOENT stores a message naming the
 * file and the reason. */
static int format_read(const char *path, int *version, char **msg)
{
    char *file = engine_path_join(path, ENGINE_FORMAT_FILE);
    if (!file)
        return -ENOMEM;
    int rc;
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        rc = err == ENOENT ? -ENOENT
                           : engine_msgf(msg, -err, "cannot read format marker '%s': %s", file,
                                         strerror(err));
        goto out;
    }
    char text[FORMAT_READ_MAX + 1];
    size_t len = 0;
    ssize_t n;
    while (len < FORMAT_READ_MAX && (n = read(fd, text + len, FORMAT_READ_MAX - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            close(fd);
            rc = engine_msgf(msg, -err, "cannot read format marker '%s': %s", file, strerror(err));
            goto out;
        }
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    const size_t magic = strlen(FORMAT_MAGIC " ");
    const char *digits = text + magic;
    char *end = NULL;
    long v = 0;
    if (strlen(text) == len && !strncmp(text, FORMAT_MAGIC " ", magic) && *digits >= '1' &&
        *digits <= '9') {
        errno = 0;
        v = strtol(digits, &end, 10);
    }
    if (end && !errno && end[0] == '\n' && end[1] == '\0' && v < 1000000) {
        *version = (int)v;
        rc = 0;
    } else {
        /* Quote what is there, escaped, so a binary marker prints sanely. */
        char shown[ENGINE_QUOTE_SIZE(40)];
        engine_quote(text, len, 40, shown, sizeof shown);
        rc = engine_msgf(msg, ENGINE_ENOTSTORE,
                         "format marker '%s' does not hold \"" FORMAT_MAGIC
                         " %d\\n\" but '%s' (%zu bytes)",
                         file, ENGINE_FORMAT_VERSION, shown, len);
    }
out:
    free(file);
    return rc;
}

int engine_check_format(const char *path, char **msg)
{
    int version = 0;
    int rc = format_read(path, &version, msg);
    if (rc == -ENOENT)
        return engine_msgf(msg, rc, "format marker '%s/" ENGINE_FORMAT_FILE "' is missing", path);
    if (rc)
        return rc;
    if (version > ENGINE_FORMAT_VERSION)
        return engine_msgf(msg, ENGINE_EFORMAT,
                           "format marker '%s/" ENGINE_FORMAT_FILE
                           "' names format %d, newer than this syncstore's %d",
                           path, version, ENGINE_FORMAT_VERSION);
    if (version < ENGINE_FORMAT_VERSION)
        return engine_msgf(msg, ENGINE_ENOTSTORE,
                           "format marker '%s/" ENGINE_FORMAT_FILE
                           "' names format %d, which this syncstore does not read",
                           path, version);
    return 0;
}

int engine_format_write(const char *path, char **msg)
{
    char *file = engine_path_join(path, ENGINE_FORMAT_FILE);
    char *tmp = engine_path_join(path, ENGINE_FORMAT_FILE ".tmp");
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

/* 1 when the directory holds nothing but what an interrupted creation leaves,
 * 0 when it holds more, -errno when it cannot be listed. */
static int dir_is_creatable(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    struct dirent *de;
    int ok = 1;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..") || !strcmp(n, "staging") ||
            !strcmp(n, ENGINE_FORMAT_FILE ".tmp"))
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

/* 1 when another process holds a lock on db/LOCK (a read-write RocksDB open),
 * 0 when not (or no LOCK to look at), -ENOMEM. */
static int lock_held_elsewhere(const char *db_path)
{
    char *lock = engine_path_join(db_path, "LOCK");
    if (!lock)
        return -ENOMEM;
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    free(lock);
    if (fd < 0)
        return 0;
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    int held = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
    close(fd);
    return held;
}

static void engine_free_fields(engine *e)
{
    engine_reclaim_stop(e);
    engine_busy_destroy(e);
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

/* Undoes a creation that failed after RocksDB made db/ (dir_is_creatable
 * found none): db/ and staging go, so that the directory is left empty and the
 * next creation can begin again (with db/ there, it would refuse the
 * directory as not a store).  Only while this open holds db/'s lock and no
 * marker is there: another process's store is never touched. */
static void undo_create(engine *e)
{
    int version;
    if (!e->db || format_read(e->path, &version, NULL) != -ENOENT)
        return;
    engine_reclaim_stop(e);
    rocksdb_close(e->db);
    e->db = NULL;
    remove_flat_dir(AT_FDCWD, e->db_path);
    rmdir(e->staging);
}

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

    /* version 0: no marker.  ENGINE_OPEN_ANY_MARKER: a missing or damaged
     * marker is check's to report (a newer one still stops the open). */
    int any_marker = read_only && (flags & ENGINE_OPEN_ANY_MARKER);
    int version = 0;
    char *why = NULL;
    rc = format_read(path, &version, any_marker || !msg ? NULL : &why);
    if (rc == 0 && version < ENGINE_FORMAT_VERSION)
        rc = engine_msgf(msg ? &why : NULL, ENGINE_ENOTSTORE,
                         "format %d is not one this syncstore reads", version);
    if (any_marker && rc) {
        rc = 0;
        version = ENGINE_FORMAT_VERSION;
    }
    if (rc && rc != -ENOENT) {
        engine_msgf(msg, rc,
                    rc == ENGINE_ENOTSTORE ? "'%s' is not a syncstore store: %s"
                                           : "cannot open store '%s': %s",
                    path, why ? why : engine_strerror(rc));
        free(why);
        return rc;
    }
    int creatable = version == 0 && create ? dir_is_creatable(path) : 0;
    if (creatable < 0)
        return engine_msgf(msg, creatable, "cannot open store '%s': %s", path,
                           engine_strerror(creatable));
    if (version == 0 && !creatable)
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
    engine_busy_init(e);
    e->read_only = read_only;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->path = strdup(path);
    e->db_path = engine_path_join(path, "db");
    e->staging = engine_path_join(path, "staging");
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
        int held = lock_held_elsewhere(e->db_path);
        if (held < 0) {
            rc = held;
            goto fail;
        }
        if (held) {
            e->secondary = 1;
            rocksdb_options_set_max_open_files(e->options, -1);
            e->db = rocksdb_open_as_secondary(e->options, e->db_path, e->log_dir, &err);
        } else {
            e->db = rocksdb_open_for_read_only(e->options, e->db_path, 0, &err);
        }
        if (err) {
            rc = engine_take_error(err, msg, "cannot open store '%s' read-only", path);
            goto fail;
        }
    } else {
        e->db = rocksdb_open(e->options, e->db_path, &err);
        if (err) {
            rc = engine_take_error(err, msg, "cannot open store '%s'", path);
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
        if (version == 0 && (rc = engine_format_write(path, msg)) != 0)
            goto fail;
        if ((flags & ENGINE_OPEN_RECLAIM) && (rc = engine_reclaim_start(e, msg)) != 0)
            goto fail;
    }
    *out = e;
    return 0;
fail:
    if (version == 0) /* past dir_is_creatable: this open was creating the store */
        undo_create(e);
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

int engine_is_store_dir(const engine *e, const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino;
}
