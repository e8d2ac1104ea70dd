/*
 * test_faults.c - compactions through the mount that meet a fault: each gives
 * the writer a clear errno, the status a message naming the cause, leaves the
 * base unchanged, and the mount keeps serving reads.
 *
 *   no space        the base lives on a small tmpfs: ENOSPC, no staging file
 *                   left, and the next compaction after space is freed works
 *                   (needs root to mount the tmpfs)
 *   corrupt source  a truncated SST file, a garbage CURRENT
 *   source removed  while the compactor streams it (pause hook): the
 *                   compaction completes with the source as it was opened
 *                   (docs/STORE.md says why that is right)
 *   unreadable      the mount's owner is an unprivileged user the test
 *                   creates; a source it cannot read fails with EACCES, one it
 *                   can read is compacted (needs root for useradd)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mountutil.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct faults {
    struct fx *f;
    char *small; /* the no-space test's tmpfs, when mounted */
    struct mu_user user;
};

static int teardown_faults(void **state)
{
    struct faults *t = *state;
    if (!t)
        return 0;
    mu_run_as((uid_t)-1, (gid_t)-1);
    if (t->f)
        fx_unmount(t->f, 0);
    if (t->small) {
        umount2(t->small, MNT_DETACH);
        mu_untrack_mount(t->small);
        free(t->small);
    }
    teardown((void **)&t->f);
    if (t->user.name[0])
        mu_user_free(&t->user);
    free(t);
    *state = NULL;
    return 0;
}

static struct faults *faults_new(void **state)
{
    mu_run_as((uid_t)-1, (gid_t)-1); /* whatever a failed setup before left */
    struct faults *t = calloc(1, sizeof *t);
    assert_non_null(t);
    *state = t;
    t->f = fx_new();
    return t;
}

/* The sha256 of every file of a sync read through the mount. */
static char *tree_sum(const struct fx *f, const char *sync)
{
    char *out = NULL;
    int rc = sh(&out, "cd \"$1\" && find \"$2\" -type f | sort | xargs sha256sum | sha256sum",
                f->mnt, sync, NULL);
    if (rc)
        fail_msg("reading %s through the mount: exit %d", sync, rc);
    return out;
}

/* No file is left in BASE/staging. */
static void expect_staging_empty(const char *base)
{
    char *staging = tu_join(base, "staging");
    int n = tu_count_dir(staging);
    if (n != 0)
        fail_msg("%s holds %d entries", staging, n);
    free(staging);
}

/* The status of SYNC is failed, and its error holds `words`. */
static void expect_failed_with(const struct fx *f, const char *sync, const char *source,
                               const char *words)
{
    json_t *j = status_of(f, sync);
    check_status(j, sync, "failed", source, -1, 1);
    const char *err = json_string_value(json_object_get(j, "error"));
    if (!strstr(err, words))
        fail_msg("the status error '%s' does not say '%s'", err, words);
    print_message("status error: %s\n", err);
    json_decref(j);
}

/* A source holding `n` records of incompressible 1 KiB values for sync S. */
static void random_source(struct fx *f, const char *store, int n, unsigned seed)
{
    struct lines l;
    FILE *out = lines_open(&l);
    unsigned char value[1024];
    srand(seed);
    for (int i = 0; i < n; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "blob%06d", i);
        for (size_t j = 0; j < sizeof value; j++)
            value[j] = (unsigned char)rand();
        put_raw(out, "S", "assets", key, (size_t)kl, value, sizeof value);
    }
    lines_load(&l, f, store);
}

/* ---- no space ---- */

static int setup_nospace(void **state)
{
    struct faults *t = faults_new(state);
    struct fx *f = t->f;
    if (geteuid() != 0) {
        tu_skip("mounting a tmpfs needs root");
    }
    t->small = tu_join(f->dir, "small");
    assert_int_equal(mkdir(t->small, 0755), 0);
    if (mount("tmpfs", t->small, "tmpfs", MS_NOSUID | MS_NODEV, "size=32m")) {
        int err = errno;
        free(t->small);
        t->small = NULL;
        tu_skip("cannot mount a tmpfs: %s", strerror(err));
    }
    mu_track_mount(t->small);
    free(f->base);
    f->base = tu_join(t->small, "base");
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "K", "--grants", "100", "--seed", "2", NULL), 0);
    return fx_mount(f, NULL, NULL);
}

static void test_no_space(void **state)
{
    struct faults *t = *state;
    struct fx *f = t->f;
    char *src = src_path(f, 0, "src");
    random_source(f, src, 8192, 7); /* 8 MiB that do not compress */
    size_t src_keys;
    uint64_t src_hash = sync_hash(src, "S", &src_keys);
    uint64_t s_hash = sync_hash(f->base, "S", NULL), k_hash = sync_hash(f->base, "K", NULL);
    char *s_sum = tree_sum(f, "S"), *k_sum = tree_sum(f, "K");

    /* leave about 3 MiB free on the base's filesystem */
    struct statvfs vfs;
    assert_int_equal(statvfs(t->small, &vfs), 0);
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    assert_true(free_bytes > (6u << 20));
    char *filler = tu_join(t->small, "filler");
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(posix_fallocate(fd, 0, (off_t)(free_bytes - (3u << 20))), 0);
    close(fd);

    expect_compact_error(f, src, "S", "No space left on device");
    expect_failed_with(f, "S", src, "space");
    /* the mount keeps serving the old data; nothing is lost or left over */
    char *again = tree_sum(f, "S");
    assert_string_equal(again, s_sum);
    free(again);
    again = tree_sum(f, "K");
    assert_string_equal(again, k_sum);
    free(again);
    assert_true(sync_hash(f->base, "S", NULL) == s_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);
    expect_staging_empty(f->base);

    /* space freed: the next compaction succeeds */
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(sh_compact(f, src, "S"), 0);
    expect_status(f, "S", "done", src, (long long)src_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);
    again = tree_sum(f, "K");
    assert_string_equal(again, k_sum);
    free(again);
    expect_staging_empty(f->base);
    free(filler);
    free(s_sum);
    free(k_sum);
}

/* ---- corrupt sources ---- */

static int setup_base(void **state)
{
    struct faults *t = faults_new(state);
    struct fx *f = t->f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "K", "--grants", "100", "--seed", "2", NULL), 0);
    return fx_mount(f, NULL, NULL);
}

static void test_corrupt_source(void **state)
{
    struct faults *t = *state;
    struct fx *f = t->f;
    uint64_t s_hash = sync_hash(f->base, "S", NULL), k_hash = sync_hash(f->base, "K", NULL);
    char *s_sum = tree_sum(f, "S");

    /* a truncated SST file */
    char *trunc = src_path(f, 0, "truncated");
    assert_int_equal(syncstore("gen", trunc, "S", "--grants", "2000", "--seed", "5", NULL), 0);
    char *trunc_db = tu_join(trunc, "db");
    char *sst = tu_largest_sst(trunc_db);
    free(trunc_db);
    struct stat st;
    assert_int_equal(stat(sst, &st), 0);
    assert_int_equal(truncate(sst, st.st_size / 2), 0);
    expect_compact_error(f, trunc, "S", "Input/output error");
    expect_failed_with(f, "S", trunc, trunc);

    /* garbage in CURRENT */
    char *garbage = src_path(f, 1, "garbage");
    assert_int_equal(syncstore("gen", garbage, "S", "--grants", "100", "--seed", "6", NULL), 0);
    char *current = tu_join(garbage, "db/CURRENT");
    tu_write_file(current, "MANIFEST-\x01garbage\n", 18);
    expect_compact_error(f, garbage, "S", "Input/output error");
    expect_failed_with(f, "S", garbage, garbage);

    /* the base is unchanged and still served */
    assert_true(sync_hash(f->base, "S", NULL) == s_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);
    char *again = tree_sum(f, "S");
    assert_string_equal(again, s_sum);
    expect_staging_empty(f->base);
    free(again);
    free(s_sum);
    free(sst);
    free(current);
}

/* ---- a source removed while it is read ---- */

static int setup_stream_pause(void **state)
{
    struct faults *t = faults_new(state);
    struct fx *f = t->f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    /* pause 2 s once the compactor has streamed its first 4096 keys */
    return fx_mount(f, NULL, "SYNCSTORE_TEST_PAUSE_INGEST=0,0,2000");
}

static void test_source_removed(void **state)
{
    struct faults *t = *state;
    struct fx *f = t->f;
    char *src = src_path(f, 0, "src");
    /* a source that streams: S replaced in it, so a tombstone lies under its
     * files and they do not qualify for the copy path */
    assert_int_equal(syncstore("gen", src, "S", "--grants", "10", "--seed", "3", NULL), 0);
    assert_int_equal(syncstore("gen", src, "S", "--grants", "5000", "--seed", "8", NULL), 0);
    size_t src_keys;
    uint64_t src_hash = sync_hash(src, "S", &src_keys);
    assert_true(src_keys > 3 * 4096);

    char *ctl = mnt_path(f, "ctl/compact/S");
    const char *argv[] = {"sh", "-c", "echo \"$1\" > \"$2\"", "sh", src, ctl, NULL};
    pid_t writer = spawn((char *const *)argv, NULL, -1, 0);
    /* wait until the status shows keys streamed, then remove the source */
    long long deadline = now_ms() + 10000;
    for (;;) {
        json_t *j = status_of(f, "S");
        json_int_t keys = json_integer_value(json_object_get(j, "keys"));
        const char *state = json_string_value(json_object_get(j, "state"));
        int running = state && !strcmp(state, "running");
        json_decref(j);
        if (keys > 0) {
            assert_true(running); /* held in the pause, still reading the source */
            break;
        }
        if (now_ms() > deadline)
            fail_msg("the compaction never reported progress");
        sleep_ms(20);
    }
    assert_int_equal(sh(NULL, "rm -rf \"$1\"", src, NULL), 0);
    assert_int_equal(access(src, F_OK), -1);
    assert_int_equal(wait_child(writer, CMD_TIMEOUT_MS, NULL), 0);
    /* the source as it was opened, whole */
    expect_status(f, "S", "done", src, (long long)src_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    expect_staging_empty(f->base);
    /* and a source that is gone before the write: ENOENT, unchanged */
    expect_compact_error(f, src, "S", "No such file or directory");
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    free(ctl);
}

/* ---- a source the mount's (unprivileged) owner cannot read ---- */

static int setup_user_owner(void **state)
{
    struct faults *t = faults_new(state);
    struct fx *f = t->f;
    if (geteuid() != 0) {
        tu_skip("needs root (useradd)");
    }
    if (mu_user_new(&t->user))
        fail_msg("cannot create a second user");
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "K", "--grants", "100", "--seed", "2", NULL), 0);
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(sh(NULL, "chown -R \"$1:$2\" \"$3\" \"$4\"", t->user.name, t->user.name,
                        f->base, f->mnt, NULL),
                     0);
    int rc = fx_mount_as(f, t->user.uid, t->user.gid);
    mu_run_as(t->user.uid, t->user.gid); /* every command after */
    return rc;
}

static void test_unreadable_source(void **state)
{
    struct faults *t = *state;
    struct fx *f = t->f;
    uint64_t k_hash = sync_hash(f->base, "K", NULL);

    /* sources made by root: one readable by all, two the owner cannot read */
    mu_run_as((uid_t)-1, (gid_t)-1);
    char *ok = src_path(f, 0, "readable");
    char *closed = src_path(f, 1, "closed");
    char *current = src_path(f, 2, "current");
    assert_int_equal(syncstore("gen", ok, "S", "--grants", "150", "--seed", "3", NULL), 0);
    assert_int_equal(syncstore("gen", closed, "S", "--grants", "150", "--seed", "4", NULL), 0);
    assert_int_equal(syncstore("gen", current, "S", "--grants", "150", "--seed", "4", NULL), 0);
    assert_int_equal(sh(NULL,
                        "chmod -R a+rX \"$1\" && chmod 0700 \"$2\" && chmod 0600 \"$3/db/CURRENT\"",
                        ok, closed, current, NULL),
                     0);
    size_t ok_keys;
    uint64_t ok_hash = sync_hash(ok, "S", &ok_keys);
    mu_run_as(t->user.uid, t->user.gid);

    /* the unprivileged owner compacts a source it can read */
    assert_int_equal(sh_compact(f, ok, "S"), 0);
    expect_status(f, "S", "done", ok, (long long)ok_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == ok_hash);

    /* and is told EACCES for one it cannot */
    expect_compact_error(f, closed, "S", "Permission denied");
    expect_failed_with(f, "S", closed, closed);
    expect_compact_error(f, current, "S", "Permission denied");
    expect_failed_with(f, "S", current, "CURRENT");
    assert_true(sync_hash(f->base, "S", NULL) == ok_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);
    expect_staging_empty(f->base);
}

int main(void)
{
    if (mu_init())
        return 77; /* skipped, said why */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_space, setup_nospace, teardown_faults),
        cmocka_unit_test_setup_teardown(test_corrupt_source, setup_base, teardown_faults),
        cmocka_unit_test_setup_teardown(test_source_removed, setup_stream_pause, teardown_faults),
        cmocka_unit_test_setup_teardown(test_unreadable_source, setup_user_owner, teardown_faults),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
