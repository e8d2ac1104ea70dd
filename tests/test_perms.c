/*
 * test_perms.c - who may do what through a mount shared with -o allow_other.
 *
 * The test (as root) creates a second, unprivileged user and mounts a base as
 * root with allow_other.  That user reads every file and the control files'
 * texts, gets EACCES for every write to a control file (compact, delete,
 * stats, and creating a new compact file); nobody, the owner included, can
 * write, create, rename, link or delete anything in the data tree (EROFS); the
 * owner can compact, and the other user then reads the new data.
 *
 * A second mount is owned by an unprivileged user (mounted for it, as
 * mount.fuse3 does, with allow_other): root may write its control files
 * (compact and delete work), and a third user may write none of them.
 * Skipped unless run as root (useradd and allow_other need it).
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
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <unistd.h>

struct perms {
    struct fx *f;
    struct mu_user user;
    char *src;
};

static int setup(void **state)
{
    if (geteuid() != 0) {
        tu_skip("needs root (useradd, allow_other)");
    }
    struct perms *p = calloc(1, sizeof *p);
    assert_non_null(p);
    *state = p;
    if (mu_user_new(&p->user))
        fail_msg("cannot create a second user");
    p->f = fx_new();
    /* the other user must reach MNT inside the fixture's directory */
    assert_int_equal(chmod(p->f->dir, 0755), 0);
    assert_int_equal(syncstore("gen", p->f->base, "S", "--grants", "200", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", p->f->base, "K", "--grants", "100", "--seed", "2", NULL), 0);
    p->src = src_path(p->f, 0, "src");
    assert_int_equal(syncstore("gen", p->src, "S", "--grants", "150", "--seed", "3", NULL), 0);
    return fx_mount(p->f, "allow_other", NULL);
}

static int teardown_perms(void **state)
{
    struct perms *p = *state;
    if (!p)
        return 0;
    mu_run_as((uid_t)-1, (gid_t)-1);
    teardown((void **)&p->f);
    mu_user_free(&p->user);
    free(p);
    *state = NULL;
    return 0;
}

/* ---- checks run in a child as a given user ---- */

static int failures;

/* The call failed with EROFS: the data tree is read-only for everyone (the
 * mount checks no permissions there, so EACCES would be a regression). */
static void expect_erofs(int rc, const char *what, const char *path)
{
    int e = errno;
    if (rc != -1) {
        fprintf(stderr, "%s %s: succeeded; wanted EROFS\n", what, path);
        failures++;
    } else if (e != EROFS) {
        fprintf(stderr, "%s %s: %s; wanted EROFS\n", what, path, strerror(e));
        failures++;
    }
}

static void expect_eacces(int rc, const char *what, const char *path)
{
    int e = errno;
    if (rc != -1 || e != EACCES) {
        fprintf(stderr, "%s %s: %s; wanted EACCES\n", what, path,
                rc == -1 ? strerror(e) : "succeeded");
        failures++;
    }
}

static int open_close(const char *path, int flags)
{
    int fd = open(path, flags, 0644);
    if (fd >= 0)
        close(fd);
    return fd < 0 ? -1 : 0;
}

/* Every way to change the data tree fails (run as anyone). */
static void data_refusals(const char *mnt)
{
    char file[4096], dir[4096], other[4096], sync[4096], fresh[4096];
    snprintf(file, sizeof file, "%s/S/resource_types/user", mnt);
    snprintf(dir, sizeof dir, "%s/S/resource_types", mnt);
    snprintf(other, sizeof other, "%s/S/resource_types/renamed", mnt);
    snprintf(sync, sizeof sync, "%s/S", mnt);
    snprintf(fresh, sizeof fresh, "%s/NEW", mnt);
    expect_erofs(open_close(file, O_WRONLY), "open for writing", file);
    expect_erofs(open_close(file, O_RDWR), "open read-write", file);
    expect_erofs(open_close(file, O_WRONLY | O_TRUNC), "open truncating", file);
    expect_erofs(open_close(other, O_WRONLY | O_CREAT), "create", other);
    expect_erofs(truncate(file, 0), "truncate", file);
    expect_erofs(unlink(file), "unlink", file);
    expect_erofs(rename(file, other), "rename", file);
    expect_erofs(rename(sync, fresh), "rename", sync);
    expect_erofs(mkdir(fresh, 0755), "mkdir", fresh);
    expect_erofs(mkdir(other, 0755), "mkdir", other);
    expect_erofs(rmdir(dir), "rmdir", dir);
    expect_erofs(rmdir(sync), "rmdir", sync);
    expect_erofs(symlink("user", other), "symlink", other);
    /* the kernel's protected_hardlinks may refuse a non-owner first (EPERM) */
    int rc = link(file, other);
    if (!(rc == -1 && errno == EPERM && geteuid() != 0))
        expect_erofs(rc, "link", other);
    expect_erofs(chmod(file, 0777), "chmod", file);
    expect_erofs(mknod(other, S_IFIFO | 0644, 0), "mknod", other);
    expect_erofs(setxattr(file, "user.x", "1", 1, 0), "setxattr", file);
    expect_erofs(removexattr(file, "user.x"), "removexattr", file);
}

/* Every write to a control file is refused with EACCES (a non-owner). */
static void ctl_refusals(const char *mnt)
{
    char path[4096];
    const char *files[] = {"ctl/compact/S", "ctl/delete/S", "ctl/stats"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", mnt, files[i]);
        expect_eacces(open_close(path, O_WRONLY), "open for writing", path);
        expect_eacces(open_close(path, O_WRONLY | O_TRUNC), "open truncating", path);
    }
    snprintf(path, sizeof path, "%s/ctl/compact/NEW", mnt);
    expect_eacces(open_close(path, O_WRONLY | O_CREAT | O_TRUNC), "create", path);
    snprintf(path, sizeof path, "%s/ctl/delete/K", mnt);
    expect_eacces(open_close(path, O_WRONLY | O_CREAT | O_TRUNC), "create", path);
}

/* Runs fn(mnt) in a child as uid/gid; fails the test when it reports any
 * failure (each is printed by the child). */
static void check_as(uid_t uid, gid_t gid, void (*fn)(const char *), const char *mnt)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (uid != geteuid() && (setgroups(0, NULL) || setgid(gid) || setuid(uid)))
            _exit(126);
        failures = 0;
        fn(mnt);
        fflush(NULL);
        _exit(failures ? 1 : 0);
    }
    kid_add(pid);
    int rc = wait_child(pid, CMD_TIMEOUT_MS, NULL);
    if (rc)
        fail_msg("checks as uid %d: exit %d (see above)", (int)uid, rc);
}

static void test_other_user(void **state)
{
    struct perms *p = *state;
    struct fx *f = p->f;
    uint64_t s_hash = sync_hash(f->base, "S", NULL), k_hash = sync_hash(f->base, "K", NULL);

    /* what root reads through the mount, the other user reads too */
    char *root_tree = NULL, *root_s = NULL;
    assert_int_equal(
        sh(&root_tree, "cd \"$1\" && find S K -type f | sort | xargs sha256sum", f->mnt, NULL), 0);
    assert_int_equal(
        sh(&root_s, "cd \"$1\" && find S -type f | sort | xargs sha256sum", f->mnt, NULL), 0);
    assert_true(strlen(root_tree) > 1000);
    mu_run_as(p->user.uid, p->user.gid);
    char *user_tree = NULL, *whoami = NULL;
    assert_int_equal(sh(&whoami, "id -u", NULL), 0);
    assert_int_equal(atoi(whoami), (int)p->user.uid);
    assert_int_equal(
        sh(&user_tree, "cd \"$1\" && find S K -type f | sort | xargs sha256sum", f->mnt, NULL), 0);
    assert_string_equal(user_tree, root_tree);
    assert_int_equal(sh(NULL, "cat \"$1/ctl/stats\" \"$1/ctl/compact/S\" >/dev/null", f->mnt, NULL),
                     0);

    /* ...but may write no control file: EACCES, also through a shell */
    char *text = NULL;
    assert_int_not_equal(bash_compact(f, p->src, "S", &text), 0);
    if (!strstr(text, "Permission denied"))
        fail_msg("echo SRC > ctl/compact/S as another user: '%s'", text);
    free(text);
    mu_run_as((uid_t)-1, (gid_t)-1);
    check_as(p->user.uid, p->user.gid, ctl_refusals, f->mnt);
    expect_status(f, "S", "none", NULL, 0, 0);

    /* nobody changes the data tree: not the other user, not the owner */
    check_as(p->user.uid, p->user.gid, data_refusals, f->mnt);
    check_as(geteuid(), getegid(), data_refusals, f->mnt);
    assert_true(sync_hash(f->base, "S", NULL) == s_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);

    /* the owner compacts; the other user reads the new data */
    size_t src_keys;
    uint64_t src_hash = sync_hash(p->src, "S", &src_keys);
    assert_int_equal(sh_compact(f, p->src, "S"), 0);
    expect_status(f, "S", "done", p->src, (long long)src_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);
    char *root_after = NULL, *user_after = NULL;
    assert_int_equal(
        sh(&root_after, "cd \"$1\" && find S -type f | sort | xargs sha256sum", f->mnt, NULL), 0);
    mu_run_as(p->user.uid, p->user.gid);
    assert_int_equal(
        sh(&user_after, "cd \"$1\" && find S -type f | sort | xargs sha256sum", f->mnt, NULL), 0);
    mu_run_as((uid_t)-1, (gid_t)-1);
    assert_string_equal(user_after, root_after);
    assert_string_not_equal(root_after, root_s);

    free(root_tree);
    free(user_tree);
    free(whoami);
    free(root_s);
    free(root_after);
    free(user_after);
}

/* ---- a mount owned by another user: root writes, a third user cannot ---- */

struct owned {
    struct fx *f;
    struct mu_user owner, third;
    char *src, *src2; /* borrowed from f (src_path) */
};

static int setup_owned(void **state)
{
    if (geteuid() != 0) {
        tu_skip("needs root (useradd, mounting for another user)");
    }
    struct owned *o = calloc(1, sizeof *o);
    assert_non_null(o);
    *state = o;
    if (mu_user_new(&o->owner) || mu_user_new(&o->third))
        fail_msg("cannot create two users");
    assert_int_not_equal(o->owner.uid, o->third.uid);
    struct fx *f = o->f = fx_new();
    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "200", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "K", "--grants", "100", "--seed", "2", NULL), 0);
    o->src = src_path(f, 0, "src");
    o->src2 = src_path(f, 1, "src2");
    assert_int_equal(syncstore("gen", o->src, "S", "--grants", "150", "--seed", "3", NULL), 0);
    assert_int_equal(syncstore("gen", o->src2, "S", "--grants", "120", "--seed", "4", NULL), 0);
    /* the daemon runs as the owner: it must read the sources, own the base */
    assert_int_equal(sh(NULL, "chmod -R a+rX \"$1\" \"$2\" && chown -R \"$3:$3\" \"$4\" \"$5\"",
                        o->src, o->src2, o->owner.name, f->base, f->mnt, NULL),
                     0);
    return fx_mount_as(f, o->owner.uid, o->owner.gid);
}

static int teardown_owned(void **state)
{
    struct owned *o = *state;
    if (!o)
        return 0;
    mu_run_as((uid_t)-1, (gid_t)-1);
    teardown((void **)&o->f);
    mu_user_free(&o->owner);
    mu_user_free(&o->third);
    free(o); /* src and src2 belong to the fixture (src_path) */
    *state = NULL;
    return 0;
}

static void test_root_writes_another_users_mount(void **state)
{
    struct owned *o = *state;
    struct fx *f = o->f;
    uint64_t k_hash = sync_hash(f->base, "K", NULL), s_hash = sync_hash(f->base, "S", NULL);

    /* the mount is the owner's: its files say so */
    char *out = NULL;
    assert_int_equal(sh(&out, "stat -c %u \"$1/S\"", f->mnt, NULL), 0);
    assert_int_equal(atoi(out), (int)o->owner.uid);
    free(out);

    /* a third user reads, but may write no control file */
    check_as(o->third.uid, o->third.gid, ctl_refusals, f->mnt);
    mu_run_as(o->third.uid, o->third.gid);
    char *text = NULL;
    assert_int_not_equal(bash_compact(f, o->src, "S", &text), 0);
    if (!strstr(text, "Permission denied"))
        fail_msg("echo SRC > ctl/compact/S as a third user: '%s'", text);
    free(text);
    mu_run_as((uid_t)-1, (gid_t)-1);
    expect_status(f, "S", "none", NULL, 0, 0);
    assert_true(sync_hash(f->base, "S", NULL) == s_hash);

    /* root compacts through the owner's mount... */
    size_t src_keys;
    uint64_t src_hash = sync_hash(o->src, "S", &src_keys);
    assert_int_equal(sh_compact(f, o->src, "S"), 0);
    expect_status(f, "S", "done", o->src, (long long)src_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);

    /* ...and deletes a sync through it */
    char *del = mnt_path(f, "ctl/delete/K");
    assert_int_equal(sh(NULL, "echo yes > \"$1\"", del, NULL), 0);
    free(del);
    struct stat st;
    char *k_dir = mnt_path(f, "K");
    assert_int_equal(stat(k_dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    free(k_dir);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);

    /* the owner compacts too */
    mu_run_as(o->owner.uid, o->owner.gid);
    uint64_t src2_hash = sync_hash(o->src2, "S", &src_keys);
    assert_int_equal(sh_compact(f, o->src2, "S"), 0);
    mu_run_as((uid_t)-1, (gid_t)-1);
    expect_status(f, "S", "done", o->src2, (long long)src_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == src2_hash);

    /* and the third user still cannot */
    check_as(o->third.uid, o->third.gid, ctl_refusals, f->mnt);
    assert_true(sync_hash(f->base, "S", NULL) == src2_hash);
}

int main(void)
{
    if (mu_init())
        return 77; /* skipped, said why */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_other_user, setup, teardown_perms),
        cmocka_unit_test_setup_teardown(test_root_writes_another_users_mount, setup_owned,
                                        teardown_owned),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
