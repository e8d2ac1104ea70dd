/*
 * files.c - the benchmark's file chores: sizes of stores on disk, reading a
 * tree into the page cache, removing the work directory, telling a tmpfs
 * from a disk, and copying a store with `cp -a`.
 */
#include "bench_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- Files ---- */

/* Sum of the sizes of the regular files under path, recursively. */
static uint64_t du_tree(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[PATH_MAX];
        struct stat st;
        if (snprintf(child, sizeof child, "%s/%s", path, de->d_name) >= (int)sizeof child ||
            lstat(child, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            total += du_tree(child);
        else if (S_ISREG(st.st_mode))
            total += (uint64_t)st.st_size;
    }
    closedir(d);
    return total;
}

uint64_t bench_du_store(const char *store)
{
    char db[PATH_MAX];
    snprintf(db, sizeof db, "%s/db", store);
    return du_tree(db);
}

/* Reads every regular file under path once, so that the phase about to run
 * finds it in the page cache.  This machine's kernel pages out memory that has
 * not been touched for a minute or so (DAMON), so data written by an earlier
 * phase is not reliably still cached. */
void bench_warm_tree(const char *path, char *chunk, size_t chunk_len)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISREG(st.st_mode)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return;
        while (read(fd, chunk, chunk_len) > 0)
            ;
        close(fd);
        return;
    }
    if (!S_ISDIR(st.st_mode))
        return;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char child[PATH_MAX];
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
            snprintf(child, sizeof child, "%s/%s", path, de->d_name) < (int)sizeof child)
            bench_warm_tree(child, chunk, chunk_len);
    }
    closedir(d);
}

uint64_t bench_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Removes path and everything under it; returns 0 or -errno of the first failure. */
int bench_remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    int rc = 0;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -errno;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char child[PATH_MAX];
            if (snprintf(child, sizeof child, "%s/%s", path, de->d_name) >= (int)sizeof child) {
                rc = rc ? rc : -ENAMETOOLONG;
                continue;
            }
            int r = bench_remove_tree(child);
            rc = rc ? rc : r;
        }
        closedir(d);
        if (rmdir(path) != 0 && !rc)
            rc = -errno;
    } else if (unlink(path) != 0) {
        rc = -errno;
    }
    return rc;
}

/* 1 when path is on a tmpfs or ramfs (memory, not a disk). */
int bench_on_memory_fs(const char *path)
{
    struct statfs sf;
    if (statfs(path, &sf) != 0)
        return 0;
    return sf.f_type == 0x01021994 /* TMPFS_MAGIC */ || sf.f_type == (long)0x858458f6 /* RAMFS */;
}

/* Copies the store src to dst with `cp -a`, so both start from identical files. */
int bench_copy_store(const char *src, const char *dst, char **msg)
{
    char *argv[] = {"cp", "-a", "--", (char *)src, (char *)dst, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "cp", NULL, NULL, argv, environ);
    if (rc)
        return engine_msgf(msg, -rc, "cannot run cp: %s", strerror(rc));
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return engine_msgf(msg, -errno, "cannot wait for cp: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        return engine_msgf(msg, -EIO, "cp -a '%s' '%s' failed", src, dst);
    return 0;
}