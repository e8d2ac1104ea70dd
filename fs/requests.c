/*
 * requests.c - per-request counts and times of the mount (fs_i.h
 * "Requests"), what /ctl/stats reports as "requests": the way to see which
 * round trips a workload makes and what each costs.
 */
#include "fs_i.h"

#include <stdatomic.h>
#include <time.h>

static const char *const names[FS_REQ_COUNT] = {
    [FS_REQ_LOOKUP] = "LOOKUP",
    [FS_REQ_FORGET] = "FORGET",
    [FS_REQ_GETATTR] = "GETATTR",
    [FS_REQ_SETATTR] = "SETATTR",
    [FS_REQ_OPENDIR] = "OPENDIR",
    [FS_REQ_READDIR] = "READDIR",
    [FS_REQ_READDIRPLUS] = "READDIRPLUS",
    [FS_REQ_RELEASEDIR] = "RELEASEDIR",
    [FS_REQ_OPEN] = "OPEN",
    [FS_REQ_READ] = "READ",
    [FS_REQ_RELEASE] = "RELEASE",
    [FS_REQ_CREATE] = "CREATE",
    [FS_REQ_WRITE] = "WRITE",
    [FS_REQ_STATFS] = "STATFS",
    [FS_REQ_REFUSED] = "REFUSED",
};

const char *fs_request_name(enum fs_request r)
{
    return (unsigned)r < FS_REQ_COUNT ? names[r] : "?";
}

struct fs_request_timer fs_request_begin(struct fuse_req *req, enum fs_request r)
{
    struct fs *fs = fs_of(req);
    struct fs_request_timer t = {.c = &fs->requests[r]};
    atomic_fetch_add_explicit(&t.c->count, 1, memory_order_relaxed);
    clock_gettime(CLOCK_MONOTONIC, &t.start);
    return t;
}

void fs_request_end(struct fs_request_timer *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us =
        (int64_t)(now.tv_sec - t->start.tv_sec) * 1000000 + (now.tv_nsec - t->start.tv_nsec) / 1000;
    atomic_fetch_add_explicit(&t->c->usec, us > 0 ? (uint64_t)us : 0, memory_order_relaxed);
}
