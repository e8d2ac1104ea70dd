/*
 * mountutil.h - what the mount tests share (tests/test_mount.c and the fault
 * and permission tests): time, string lists, child processes, shells, the
 * syncstore binary, and fixtures that mount a base for real.
 *
 * A fixture (fx_new) is a temporary directory holding BASE, MNT and the
 * daemon's log.  fx_mount starts `syncstore mount BASE MNT -f` by fork/exec and
 * waits for MNT/ctl; the teardown always unmounts (fusermount3 -u, then -uz;
 * waitpid with a timeout, SIGKILL if need be) and removes the directory.
 * Fixtures are also registered globally: mu_init() installs an atexit handler,
 * fatal-signal handlers and a watchdog alarm that unmount whatever is still
 * mounted, and every daemon dies with the test (PR_SET_PDEATHSIG).  Helper
 * processes run in their own process groups and are killed the same way.
 */
#ifndef SYNCSTORE_MOUNTUTIL_H
#define SYNCSTORE_MOUNTUTIL_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "engine.h"
#include "testutil.h"

/* Call first in main(): signal handlers, watchdog, SYNCSTORE_TEST_FILTER.
 * Returns -1 (after saying so) when /dev/fuse is not usable: main then
 * exits 77, a skip (testutil.h). */
int mu_init(void);

/* ---- time ---- */
long long now_ms(void);
void sleep_ms(long ms);

/* ---- growing string lists ---- */
struct strv {
    char **v;
    size_t *len;
    size_t n, cap;
};
void strv_add(struct strv *s, const char *str, size_t len);
void strv_addf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sorts (byte order, as LC_ALL=C) and drops duplicates. */
void strv_sort_unique(struct strv *s);
void strv_release(struct strv *s);
/* Splits buf at sep; an empty last piece is dropped. */
void strv_split(struct strv *s, const char *buf, size_t len, char sep);
/* Both lists, sorted and unique, are equal; otherwise names the first difference. */
void assert_same_set(struct strv *want, struct strv *got, const char *what);

/* ---- processes ---- */
#define CMD_TIMEOUT_MS 60000
/* Registers a child of ours (leading its own process group) to be killed at
 * teardown and exit if it still runs; wait_child() forgets it. */
void kid_add(pid_t pid);
/* Waits for a child; -1 (after killing its group) when it outlives timeout_ms. */
int wait_child(pid_t pid, int timeout_ms, int *raw);
/* Starts argv in its own process group with extra "NAME=VALUE" strings in its
 * environment; stdout goes to out_fd (or /dev/null when -1), stderr too when
 * merge, else it stays ours.  Killed at exit if still running. */
pid_t spawn(char *const argv[], char *const env[], int out_fd, int merge);
/* Runs argv to its end and returns its exit status (-1 on timeout); its
 * stdout (and stderr when merge) is captured into *out (malloc'd,
 * NUL-terminated) when out is not NULL. */
int run_argv(char *const argv[], char *const env[], int merge, char **out, size_t *out_len);
/* sh -c script sh args... (NULL-terminated; "$1"... need no quoting);
 * stdout into *out when out is not NULL.  Returns the exit status. */
int sh(char **out, const char *script, ...);
/* The same with stdout's length (binary output). */
int sh_bin(char **out, size_t *out_len, const char *script, ...);
/* bash -c script; stdout and stderr into *out (bash names errno in words). */
int bash(char **out, const char *script, ...);
/* The syncstore binary ($SYNCSTORE_BIN). */
const char *bin(void);
/* Runs syncstore with the given arguments (NULL-terminated); prints its
 * output when it fails; returns its exit status. */
int syncstore(const char *a1, ...);

/* Children started from now on (spawn, the shells, syncstore, fx_mount's
 * daemon) run as uid/gid, with no supplementary groups; (uid_t)-1: as we are. */
void mu_run_as(uid_t uid, gid_t gid);

/* A mount of the test's own (a tmpfs) to detach at exit if the test could
 * not (a failed setup runs no teardown); untrack it once unmounted. */
void mu_track_mount(const char *path);
void mu_untrack_mount(const char *path);

/* ---- a second, unprivileged user ---- */
struct mu_user {
    char name[32];
    uid_t uid;
    gid_t gid;
};
/* Creates a system user and its group (useradd; needs root), removed by
 * mu_user_free() or at exit.  Returns -1 (after saying why) when it cannot. */
int mu_user_new(struct mu_user *u);
void mu_user_free(struct mu_user *u);

/* ---- fixtures ---- */
struct fx {
    char *dir, *base, *mnt, *log;
    char *asan_options; /* "ASAN_OPTIONS=..." for the daemon */
    pid_t daemon;
    char *src[4]; /* source stores some tests make */
};
struct fx *fx_new(void);
/* Whether MNT is (still) the root of a mount other than its parent's. */
int is_mountpoint(const struct fx *f);
/* Stops the daemon: by fusermount3 -u (how 0) or by the signal `how`.  Never
 * leaves a mount behind.  Returns the daemon's exit status, -1 when it had to
 * be killed. */
int fx_unmount(struct fx *f, int how);
/* Mounts BASE on MNT with -f, the given -o options and one extra "NAME=VALUE"
 * in the environment (each may be NULL); waits until MNT/ctl exists.
 * Returns 0, or -1 (the log is printed). */
int fx_mount(struct fx *f, const char *opts, const char *env);
/* Mounts MNT as root the way mount.fuse3 does (allow_other, the connection
 * owned by uid) and runs the daemon as uid/gid on /dev/fd/N: an unprivileged
 * mount owner where /dev/fuse is root's alone.  Needs root. */
int fx_mount_as(struct fx *f, uid_t uid, gid_t gid);
/* A cmocka teardown: unmounts and frees the fixture in *state. */
int teardown(void **state);

/* ---- writing data ---- */
/* One raw load line with key_b64 and value_b64. */
void put_raw(FILE *out, const char *sync, const char *bucket, const void *key, size_t key_len,
             const void *value, size_t value_len);
/* A memstream to collect load lines in; lines_load loads them into a store. */
struct lines {
    FILE *f;
    char *buf;
    size_t len;
};
FILE *lines_open(struct lines *l);
void lines_load(struct lines *l, struct fx *f, const char *store);
/* DIR/name as source store number i (freed with the fixture). */
char *src_path(struct fx *f, int i, const char *name);
/* MNT/rel, malloc'd. */
char *mnt_path(const struct fx *f, const char *rel);

/* ---- reading the store ---- */
engine *open_ro(const char *store);
/* The hash of a sync in a store (tu_hash_range); *count gets the keys. */
uint64_t sync_hash(const char *store, const char *sync, size_t *count);

/* ---- ctl ---- */
/* `sh -c 'echo SRC > MNT/ctl/compact/SYNC'`: the shell's exit status. */
int sh_compact(const struct fx *f, const char *source, const char *sync);
/* The same through bash, which names the write's errno; the exit status,
 * and the text in *text. */
int bash_compact(const struct fx *f, const char *source, const char *sync, char **text);
/* The compaction fails and bash's message holds `words`. */
void expect_compact_error(const struct fx *f, const char *source, const char *sync,
                          const char *words);
/* cat MNT/ctl/compact/SYNC, parsed. */
json_t *status_of(const struct fx *f, const char *sync);
/* Checks the status fields: state, source (NULL: null), keys (-1: any),
 * error (0: null, 1: a message). */
void check_status(json_t *j, const char *sync, const char *state, const char *source,
                  long long keys, int error);
void expect_status(const struct fx *f, const char *sync, const char *state, const char *source,
                   long long keys, int error);
/* Polls the status until its state is `state` (failing after CMD_TIMEOUT_MS). */
void wait_state(const struct fx *f, const char *sync, const char *state);

#endif
