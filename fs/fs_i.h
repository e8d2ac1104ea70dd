/*
 * fs_i.h - internals shared by the files of fs/ (not by anything outside it).
 *
 * The rooms:  fs.c        the state's life (new, start, stop, free)
 *             ops.c       request handlers of the root, ctl/ and lookups; the op table
 *             dir.c       directory handles and listings (readdir, readdirplus)
 *             file.c      reads of files: data values and ctl texts; opens, creates
 *             values.c    the value cache: values read in more than one request
 *             nodes.c     the node table: inode <-> (version, bucket, key prefix, kind)
 *             versions.c  versions: snapshot references, switches, the sweeper
 *             tree.c      resolve and list keys at a snapshot (tree.h; no FUSE)
 *             ctl_write.c compact and delete writes to ctl/
 *             ctl_status.c the compaction status records
 *             ctl_stats.c the /ctl/stats text
 *             ctl.c       the ctl write parser (pure; fs.h)
 *             requests.c  per-request counts and times, for /ctl/stats
 *             names.c     the key <-> path encoding (pure; names.h)
 *             mount.c     the command line and the daemon (fs.h)
 *
 * One mutex, fs->lock, guards the node table, the versions, the statuses and
 * the lists of open handles; it is never held across RocksDB iteration of a
 * listing, a compaction, or a call into the kernel.  "(under fs->lock)" on a
 * declaration means the caller holds it.
 */
#ifndef SYNCSTORE_FS_I_H
#define SYNCSTORE_FS_I_H

#define FUSE_USE_VERSION 312

#include "engine.h"

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* ---- The state ---- */

#define ENTRY_TIMEOUT 86400.0 /* versioned: safe to cache for long */
#define CTL_TIMEOUT 0.0

enum kind {
    K_ROOT,
    K_CTL,
    K_CTL_COMPACT,
    K_CTL_DELETE,
    K_CTL_STATS,
    K_COMPACT_FILE,
    K_DELETE_FILE,
    K_SYNC,
    K_BUCKET,
    K_DIR,
    K_FILE,
};

/* A reference-counted snapshot: directory handles keep the one they started
 * with even if their version moves to a fresh one. */
struct snapref {
    engine_snapshot *snap;
    int refs;
};

/* A version of one sync: the directory /<sync_id> and everything below it. */
struct version {
    char sync_id[ENGINE_SYNC_ID_MAX + 1];
    int stale_pending;    /* replaced, and the kernel may hold entries not yet invalidated */
    struct snapref *snap; /* NULL once expired */
    int superseded;
    double superseded_at;
    time_t mtime;
    uint64_t refs; /* nodes of this version */
    struct version *next;
};

/* 56 bytes, and one allocation with its strings (nodes.c: node_part,
 * node_name): the kernel may hold millions. */
struct node {
    struct version *ver; /* K_SYNC and below */
    union {
        const char *bucket; /* K_BUCKET and below (the parent's when it has the same) */
        const char *text;   /* ctl files: their text, made at lookup (`size` bytes) */
    };
    /* Where the kernel holds it: the directory of its entry.  A node lives
     * while the kernel knows it (nlookup) or any child of it. */
    struct node *parent;
    struct node *hash_next;
    uint64_t nlookup;
    uint32_t size;     /* K_FILE: the value's length (<= ENGINE_VALUE_MAX); ctl files: the text's */
    uint32_t part_len; /* of node_part */
    uint32_t children;
    uint16_t name_off;  /* where node_name starts in its strings */
    uint8_t kind;       /* enum kind */
    uint8_t inval_sent; /* of a replaced version: no lookup since we invalidated its entry */
};

/* The status of this mount's latest compaction or deletion of one sync. */
struct status {
    struct engine_status rec; /* what ctl/compact/<sync_id> shows and status/ persists */
    double started;
    int running;
    uint64_t done, failed; /* this mount's finished attempts */
    struct status *next;
};

struct dir_handle;
struct value_entry;

/* ---- Requests (requests.c) ----
 *
 * Every handler of fs_ops counts its request and the time it took (entry to
 * return: the reply is sent inside it) with FS_REQUEST at its top; /ctl/stats
 * reports them.  Requests libfuse answers itself (FLUSH, ...) are not seen. */
enum fs_request {
    FS_REQ_LOOKUP,
    FS_REQ_FORGET,
    FS_REQ_GETATTR,
    FS_REQ_SETATTR,
    FS_REQ_OPENDIR,
    FS_REQ_READDIR,
    FS_REQ_READDIRPLUS,
    FS_REQ_RELEASEDIR,
    FS_REQ_OPEN,
    FS_REQ_READ,
    FS_REQ_RELEASE,
    FS_REQ_CREATE,
    FS_REQ_WRITE,
    FS_REQ_STATFS,
    FS_REQ_REFUSED, /* mkdir, unlink, rmdir, rename, link, symlink, mknod, xattrs: EROFS/EPERM */
    FS_REQ_COUNT
};

struct fs_request_counter {
    _Atomic uint64_t count, usec;
};

/* The request's name in /ctl/stats ("LOOKUP"; static). */
const char *fs_request_name(enum fs_request r);

struct fs_request_timer {
    struct fs_request_counter *c;
    struct timespec start;
};
struct fs_request_timer fs_request_begin(struct fuse_req *req, enum fs_request r);
void fs_request_end(struct fs_request_timer *t);

/* At the top of a handler: counts the request and, when the handler returns,
 * its time. */
#define FS_REQUEST(req, r)                                                                         \
    struct fs_request_timer fs_request_timer_ __attribute__((cleanup(fs_request_end), unused)) =   \
        fs_request_begin((req), (r))

/* Listings read without a directory handle (the kernel opens directories
 * without asking us: FUSE_CAP_NO_OPENDIR_SUPPORT) resume from a cursor kept
 * by directory and offset; at most this many are kept (dir.c). */
#define DIR_CURSORS 64

/* A data file's value read in more than one request (a file larger than the
 * kernel's read) is kept for the requests that follow: at most this many
 * values and bytes (values.c). */
#define VALUE_CACHE_SLOTS 16
#define VALUE_CACHE_BYTES ((size_t)256 << 20)
#define VALUE_IDLE_SECONDS 10.0

struct fs {
    engine *e;
    struct fuse_session *se;
    uid_t owner;
    gid_t group;
    double version_max_age;
    time_t mount_time;
    pthread_mutex_t lock;
    struct node root, ctl, ctl_compact, ctl_delete;
    struct node **table;
    size_t table_size, table_count;
    size_t node_bytes;        /* the heap the nodes of the table hold (nodes.c) */
    struct version *versions; /* every live version, current ones first per sync */
    struct status *statuses;  /* in-memory statuses of this mount's attempts */
    struct dir_handle *dirs;  /* open directories (a client may hold them at exit) */
    uint64_t compactions_done, compactions_failed, compactions_running;
    atomic_int stop_sweeper; /* set under fs->lock; read by the sweeper without it */
    uint64_t switch_gen;     /* bumped by every switch (version_switch) */
    int sweeper_running;
    pthread_t sweeper;
    pthread_cond_t sweeper_cond;
    struct fs_request_counter requests[FS_REQ_COUNT];
    int no_opendir;                          /* opendir answers ENOSYS (op_init) */
    int no_open;                             /* open answers ENOSYS (op_init) */
    int read_only;                           /* mounted -o ro */
    int readdirplus_always;                  /* -o readdirplus=always */
    struct dir_handle *cursors[DIR_CURSORS]; /* listings without handles; empty slots NULL */
    uint64_t cursor_clock;                   /* for evicting the least recently used */
    /* The modification times of the two unversioned listings that change: the
     * root (a switch adds or removes a sync) and ctl/compact (a status is
     * persisted); the kernel keeps a listing while the time stays. */
    struct timespec root_mtime, statuses_mtime;
    /* The value cache (values.c): values read in more than one request. */
    struct value_entry *values[VALUE_CACHE_SLOTS]; /* empty slots NULL */
    size_t value_bytes;                            /* of entries not yet freed */
    uint64_t value_clock;                          /* for evicting the least recently used */
    uint64_t value_hits, value_misses; /* reads served from it; RocksDB reads of such values */
};

/* The per-mount state of a request. */
static inline struct fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Seconds on the monotonic clock. */
static inline double fs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Open handles are linked into the fs so that those still open when the
 * session ends (the kernel sends no release then) are freed too. */
#define FS_LINK(head, h)                                                                           \
    do {                                                                                           \
        (h)->prev = NULL;                                                                          \
        (h)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (h);                                                                    \
        (head) = (h);                                                                              \
    } while (0)
#define FS_UNLINK(head, h)                                                                         \
    do {                                                                                           \
        if ((h)->prev)                                                                             \
            (h)->prev->next = (h)->next;                                                           \
        else                                                                                       \
            (head) = (h)->next;                                                                    \
        if ((h)->next)                                                                             \
            (h)->next->prev = (h)->prev;                                                           \
    } while (0)

/* ---- The state's life (fs.c; mount.c drives it) ---- */

extern const struct fuse_lowlevel_ops fs_ops;

/* The file system's state, before it has a store: fuse_session_new() needs it
 * as userdata before the daemon forks, and RocksDB must be opened after. */
struct fs *fs_new(double version_max_age, int read_only, int readdirplus_always);
/* Gives the file system its store (borrowed until fs_free) and starts its
 * background sweeper.  Returns 0 or a negative errno. */
int fs_start(struct fs *fs, engine *e);
void fs_set_session(struct fs *fs, struct fuse_session *se);
/* Stops the background thread (before the session goes away); fs_free does
 * it too if need be.  -1 when it did not stop within 5 s (blocked in the
 * kernel): then nothing may be freed, and the process should exit. */
int fs_stop(struct fs *fs);
/* Frees the state; the store is the caller's to close afterwards. */
void fs_free(struct fs *fs);

/* Maps an engine or compactor code to the errno a FUSE reply carries
 * (SPEC "ctl/compact"): the one conversion. */
int fs_errno(int rc);

/* The daemon's log (mount.c): syslog once daemonized, stderr only when
 * foreground (-f); priority is a syslog(3) LOG_* level. */
void fs_log_open(int foreground);
void fs_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- The node table (nodes.c; under fs->lock unless said) ---- */

/* Finds or makes the node and counts one kernel lookup of it; NULL when out
 * of memory.  The node is the table's until node_forget frees it. */
struct node *node_get(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                      struct version *ver, const char *bucket, const char *prefix,
                      size_t prefix_len, uint64_t size);
/* A node's part of the key (K_DIR: of the raw key prefix, K_FILE: of the key;
 * below a key directory what follows its prefix, else all of it) and, for a
 * compact or delete file, the sync_id; NUL-terminated.  Its name, the name of
 * its entry in its parent (no static node has either). */
const char *node_part(const struct node *n);
const char *node_name(const struct node *n);
/* A key node's raw key prefix (K_DIR) or key (K_FILE, K_BUCKET: empty) into
 * buf, ENGINE_KEY_MAX + 1 bytes, NUL-terminated; returns its length. */
size_t node_key(const struct node *n, char *buf);
/* A new node of a ctl file (K_CTL_STATS, K_COMPACT_FILE, K_DELETE_FILE),
 * with a copy of its text; one kernel lookup counted.  Every lookup of a
 * ctl file makes a new one (nodes.c).  NULL when out of memory. */
struct node *node_new_ctl(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                          const char *text, size_t text_len);
/* Drops count kernel lookups; frees the node, and parents only it kept, at 0. */
void node_forget(struct fs *fs, struct node *n, uint64_t count);
/* Frees every node of the table (fs_free). */
void node_free_all(struct fs *fs);
/* The node of an inode number and back (no lock needed). */
struct node *node_of_ino(struct fs *fs, fuse_ino_t ino);
fuse_ino_t node_ino(struct fs *fs, const struct node *n);
/* Kinds (no lock needed). */
int node_is_dir(const struct node *n);
int node_is_ctl_file(const struct node *n);
int node_is_unversioned(const struct node *n);
/* The attributes the kernel sees, and how long it may keep them. */
void node_fill_attr(struct fs *fs, const struct node *n, struct stat *st);
double node_timeout(const struct node *n);

/* ---- Versions (versions.c) ---- */

/* A new snapshot reference (one ref), or NULL when out of memory. */
struct snapref *version_snap_new(engine *e);
/* Drops one reference (under fs->lock); NULL is allowed. */
void version_snap_put(struct fs *fs, struct snapref *s);
/* Takes a reference on the snapshot of a node's version; NULL when stale.
 * Takes fs->lock; the reference is given back with version_snap_release. */
struct snapref *version_snap_of(struct fs *fs, struct node *n);
void version_snap_release(struct fs *fs, struct snapref *s);
/* Whether a version has expired (its snapshot released); NULL, the version
 * of unversioned nodes, never does.  version_stale: under fs->lock;
 * version_expired sweeps first and takes fs->lock. */
int version_stale(const struct version *v);
int version_expired(struct fs *fs, const struct version *v);
/* Expires superseded versions older than the age limit (under fs->lock). */
void version_sweep(struct fs *fs);
/* Unlinks and frees a version no node refers to (under fs->lock). */
void version_free(struct fs *fs, struct version *ver);
/* Frees every version (fs_free). */
void version_free_all(struct fs *fs);
/* The sync directory in the root (a lookup of name in root): 0 or an errno. */
int version_lookup(struct fs *fs, struct node *root, const char *name, struct node **out);
/* After a switch of sync_id (a compaction or deletion through ctl/): new
 * walks get a new version, the others get fresh snapshots.  Takes fs->lock. */
void version_switch(struct fs *fs, const char *sync_id);
/* The background sweeper: started by fs_start, stopped by fs_stop. */
int version_sweeper_start(struct fs *fs);
int version_sweeper_stop(struct fs *fs);

/* ---- Directory handles (dir.c) ---- */

void dir_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void dir_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void dir_read_plus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   struct fuse_file_info *fi);
void dir_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
/* Frees every handle still open, cursors too (fs_free). */
void dir_free_all(struct fs *fs);
/* Drops the cursors of directory node n (being freed), or all of them with
 * NULL (a switch, an expired version: none may keep a snapshot); under
 * fs->lock. */
void dir_cursors_drop(struct fs *fs, const struct node *n);
/* A listing that changes was changed: its time moves on and the kernel drops
 * its cached pages (not under fs->lock). */
void dir_changed(struct fs *fs, struct node *n, struct timespec *mtime);

/* ---- Files (file.c) ---- */

void file_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void file_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                 struct fuse_file_info *fi);
/* A new node for the ctl file name in parent (ctl/, ctl/compact or
 * ctl/delete), holding its text as of now; one kernel lookup counted.  0 or
 * an errno. */
int file_ctl_node(struct fs *fs, struct node *parent, const char *name, enum kind kind,
                  struct node **out);

/* ---- The value cache (values.c; values_drop* under fs->lock) ---- */

/* One read's view of a data file's value: from the cache or read for it. */
struct value_ref {
    struct value_entry *entry; /* the cache's, or NULL */
    engine_value *own;         /* read for this request alone, or NULL */
    const char *data;
    size_t len;
};
/* The value of data file n at its version's snapshot, for a read that ends
 * at byte `end`: kept in the cache when it goes on past it.  0, ESTALE (the
 * version expired, or the key is gone from its snapshot), ENOMEM or EIO.
 * Given back with value_put. */
int value_get(struct fs *fs, struct node *n, uint64_t end, struct value_ref *out);
void value_put(struct fs *fs, struct value_ref *r);
/* Drops the cached values of node n (being freed), or with NULL those of
 * expired versions. */
void values_drop(struct fs *fs, const struct node *n);
/* Drops the values unused for `idle` seconds, or every one with 0. */
void values_drop_idle(struct fs *fs, double idle);
/* How many values the cache holds (under fs->lock). */
size_t values_count(const struct fs *fs);

/* ---- ctl writes (ctl_write.c) ---- */

/* Whether the request's caller may write the control files: the mount's
 * owner, or root. */
int ctl_may_write(fuse_req_t req, struct fs *fs);
/* A write to /ctl/compact/<sync_id> and to /ctl/delete/<sync_id>: each runs
 * the operation to its end and replies to req. */
void ctl_compact_write(fuse_req_t req, struct fs *fs, struct node *n, const char *buf, size_t size,
                       off_t off);
void ctl_delete_write(fuse_req_t req, struct fs *fs, struct node *n, size_t size, off_t off);

/* ---- Status records (ctl_status.c) ---- */

/* This mount's status of a sync (under fs->lock), or NULL. */
struct status *status_find(struct fs *fs, const char *sync_id);
/* Starts an attempt (under fs->lock, the caller holding the sync's
 * engine_sync_claim): 0 or -ENOMEM.
 * source (NULL for a deletion) is copied.  *out is the fs's until fs_free. */
int status_begin(struct fs *fs, const char *sync_id, const char *source, struct status **out);
/* Ends an attempt (under fs->lock) with the engine code rc, the state of a
 * success (DONE, EMPTY) and the figures; takes msg (malloc'd, or NULL). */
void status_end(struct fs *fs, struct status *st, int rc, enum engine_status_state state,
                uint64_t keys, uint64_t bytes, char *msg);
/* Persists a status as metadata status/<sync_id>, so that it survives a remount. */
void status_persist(struct fs *fs, const struct status *st);
/* The status text of a sync (malloc'd JSON, the caller frees): this mount's
 * attempt, else the persisted one, else state "none".  Takes fs->lock.
 * 0, or a negative error (-ENOMEM; the persisted record unreadable). */
int status_text(struct fs *fs, const char *sync_id, char **out, size_t *len);
/* Whether the sync has a status (this mount's or a persisted one): 1, 0, or a
 * negative error. */
int status_exists(struct fs *fs, const char *sync_id);
/* The first sync after `after` with a persisted status, into out
 * (ENGINE_SYNC_ID_MAX + 1 bytes): 1 found, 0 none, or a negative error. */
int status_next(struct fs *fs, const char *after, char *out);
/* Marks the statuses persisted as running by a mount that died as failed. */
void status_fix_interrupted(struct fs *fs);
/* Frees this mount's statuses (fs_free). */
void status_free_all(struct fs *fs);

/* ---- /ctl/stats (ctl_stats.c) ---- */

/* The /ctl/stats text, malloc'd; the caller frees it.  0 or -ENOMEM. */
int stats_text(struct fs *fs, char **out, size_t *len);

#endif
