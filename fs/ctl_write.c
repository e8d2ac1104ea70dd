/*
 * ctl_write.c - writes to /ctl/compact/<sync_id> and /ctl/delete/<sync_id>.
 *
 * A write runs its operation to the end before it returns (SPEC
 * "ctl/compact"): a compaction replaces the sync with the store at the path
 * written (compactor_run), a deletion removes it (compactor_delete).  Either
 * records a status (ctl_status.c), reports progress into it, is cancelled
 * when the writer is interrupted (a signal), and after a switch makes new
 * walks see the new data (version_switch) before the write returns.  A second
 * write for a sync whose attempt runs is refused with EBUSY.  The write's
 * answer: its size, or the errno fs_errno gives (ENODATA for an empty source).
 */
#include "fs_i.h"

#include "compactor.h"
#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

int ctl_may_write(fuse_req_t req, struct fs *fs)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    return ctx->uid == 0 || ctx->uid == fs->owner;
}

/* One running attempt, on the stack of the write that runs it. */
struct ctl_run {
    struct fs *fs;
    struct status *st;
    fuse_req_t req;
    /* Set by libfuse's thread that receives the INTERRUPT request, read by
     * the compaction's progress callback in the writing thread. */
    atomic_int interrupted;
};

static void ctl_on_interrupt(fuse_req_t req, void *data)
{
    (void)req;
    struct ctl_run *r = data;
    atomic_store(&r->interrupted, 1);
}

/* The compactor's progress callback: records the figures, and cancels the
 * operation (non-zero) once the writer is interrupted. */
static int ctl_on_progress(void *arg, uint64_t keys, uint64_t bytes)
{
    struct ctl_run *r = arg;
    pthread_mutex_lock(&r->fs->lock);
    r->st->rec.keys = keys;
    r->st->rec.bytes = bytes;
    pthread_mutex_unlock(&r->fs->lock);
    return atomic_load(&r->interrupted) || fuse_req_interrupted(r->req);
}

/* Starts an attempt for sync_id (source NULL: a deletion) and arms the
 * interrupt.  Returns 0, or an errno (already replied). */
static int ctl_begin(fuse_req_t req, struct fs *fs, const char *sync_id, const char *source,
                     struct ctl_run *run)
{
    /* The base's claim first: a refused second writer leaves the running
     * attempt's status as it is (SPEC "ctl/compact"). */
    int rc = engine_sync_claim(fs->e, sync_id);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        rc = status_begin(fs, sync_id, source, &run->st);
        pthread_mutex_unlock(&fs->lock);
        if (rc)
            engine_sync_release(fs->e, sync_id);
    }
    if (rc) {
        fuse_reply_err(req, -rc);
        return -rc;
    }
    run->fs = fs;
    run->req = req;
    atomic_init(&run->interrupted, 0);
    if (source) {
        status_persist(fs, run->st);
        dir_changed(fs, &fs->ctl_compact, &fs->statuses_mtime); /* it lists persisted statuses */
    }
    fuse_req_interrupt_func(req, ctl_on_interrupt, run);
    return 0;
}

/* Ends an attempt with the operation's code, result and message (taken):
 * switches the version when the data changed and records the outcome. */
static void ctl_end(struct fs *fs, struct ctl_run *run, const char *sync_id, int rc,
                    const struct compactor_result *res, enum engine_status_state state, char *msg)
{
    if (rc == 0 && res->outcome != COMPACTOR_CANCELLED)
        version_switch(fs, sync_id);
    pthread_mutex_lock(&fs->lock);
    status_end(fs, run->st, rc, state, res->keys, res->bytes, msg);
    pthread_mutex_unlock(&fs->lock);
    engine_sync_release(fs->e, sync_id);
}

/* A write to /ctl/compact/<sync_id>: buf holds the source store's absolute
 * path (ctl_parse_source).  Replies to req. */
void ctl_compact_write(fuse_req_t req, struct fs *fs, struct node *n, const char *buf, size_t size,
                       off_t off)
{
    char source[PATH_MAX];
    const char *sync_id = node_part(n);
    if (off != 0 || ctl_parse_source(buf, size, source, sizeof source)) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    struct ctl_run run;
    if (ctl_begin(req, fs, sync_id, source, &run))
        return;
    struct compactor_options opt = {
        .progress = ctl_on_progress, .progress_arg = &run, .claimed = 1};
    struct compactor_result res = {0};
    char *msg = NULL;
    int rc = compactor_run(fs->e, source, sync_id, &opt, &res, &msg);
    int empty = res.outcome == COMPACTOR_EMPTY;
    ctl_end(fs, &run, sync_id, rc, &res, empty ? ENGINE_STATUS_EMPTY : ENGINE_STATUS_DONE, msg);
    if (rc == 0) {
        pthread_mutex_lock(&fs->lock);
        struct engine_status *rec = &run.st->rec;
        rec->method =
            res.method == COMPACTOR_COPY ? ENGINE_STATUS_METHOD_COPY : ENGINE_STATUS_METHOD_STREAM;
        rec->files_copied = res.files_copied;
        rec->bytes_copied = res.bytes_copied;
        rec->pieces = res.pieces;
        rec->threads = res.threads;
        pthread_mutex_unlock(&fs->lock);
    }
    status_persist(fs, run.st);
    if (rc) {
        fs_log(LOG_WARNING, "compaction of %s failed: %s", sync_id, run.st->rec.error);
        fuse_reply_err(req, fs_errno(rc));
    } else if (empty) {
        fuse_reply_err(req, ENODATA);
    } else {
        fuse_reply_write(req, size);
    }
}

/* A write to /ctl/delete/<sync_id>: what it holds does not matter.  Replies
 * to req.  Its status is kept in memory only (ctl/compact shows it). */
void ctl_delete_write(fuse_req_t req, struct fs *fs, struct node *n, size_t size, off_t off)
{
    const char *sync_id = node_part(n);
    if (off != 0) {
        fuse_reply_err(req, EINVAL);
        return;
    }
    struct ctl_run run;
    if (ctl_begin(req, fs, sync_id, NULL, &run))
        return;
    struct compactor_options opt = {
        .progress = ctl_on_progress, .progress_arg = &run, .claimed = 1};
    struct compactor_result res = {0};
    char *msg = NULL;
    int rc = compactor_delete(fs->e, sync_id, &opt, &res, &msg);
    ctl_end(fs, &run, sync_id, rc, &res, ENGINE_STATUS_DONE, msg);
    if (rc) {
        fs_log(LOG_WARNING, "compaction of %s failed: %s", sync_id, run.st->rec.error);
        fuse_reply_err(req, fs_errno(rc));
    } else {
        fuse_reply_write(req, size);
    }
}
