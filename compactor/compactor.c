/*
 * compactor.c - replace a sync with one ingest: the copy path when the
 * source's files allow it (copy.c), the streaming path otherwise (stream.c);
 * the tiling check; claims, source checks and the switch.
 *
 * Both paths build one engine ingest for the sync's range and hand it to
 * switch_to(), which commits it in ONE call: one version edit, so the whole
 * sync, every bucket, switches at once.  A copy attempt that RocksDB refuses
 * leaves the base as it was (an ingest is all or nothing) and the range is
 * streamed instead.
 */
#include "compactor_i.h"
#include "engine_test.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *compactor_method_name(enum compactor_method method)
{
    return method == COMPACTOR_COPY ? "copy" : "stream";
}

const char *compactor_outcome_name(enum compactor_outcome outcome)
{
    switch (outcome) {
    case COMPACTOR_DONE:
        return "done";
    case COMPACTOR_EMPTY:
        return "empty";
    case COMPACTOR_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

/* ---- Tiling ---- */

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

int compactor_check_tiling(const struct compactor_piece *pieces, size_t n, const char *lo,
                           size_t lo_len, const char *hi, size_t hi_len, char **msg)
{
    if (n == 0)
        return engine_msgf(msg, -EINVAL, "tiling has no piece");
    if (key_cmp(pieces[0].lo, pieces[0].lo_len, lo, lo_len))
        return engine_msgf(msg, -EINVAL, "tiling: piece 0 does not start at the range start");
    if (key_cmp(pieces[n - 1].hi, pieces[n - 1].hi_len, hi, hi_len))
        return engine_msgf(msg, -EINVAL, "tiling: piece %zu does not end at the range end", n - 1);
    for (size_t i = 0; i < n; i++) {
        const struct compactor_piece *p = &pieces[i];
        if (key_cmp(p->lo, p->lo_len, p->hi, p->hi_len) >= 0)
            return engine_msgf(msg, -EINVAL, "tiling: piece %zu is empty or reversed", i);
        if (i + 1 < n && key_cmp(p->hi, p->hi_len, pieces[i + 1].lo, pieces[i + 1].lo_len))
            return engine_msgf(msg, -EINVAL,
                               "tiling: piece %zu does not end where piece %zu starts (%s)", i,
                               i + 1,
                               key_cmp(p->hi, p->hi_len, pieces[i + 1].lo, pieces[i + 1].lo_len) > 0
                                   ? "they overlap"
                                   : "a gap");
        if (p->first_len == 0)
            continue;
        if (key_cmp(p->first, p->first_len, p->lo, p->lo_len) < 0 ||
            key_cmp(p->last, p->last_len, p->hi, p->hi_len) >= 0 ||
            key_cmp(p->first, p->first_len, p->last, p->last_len) > 0)
            return engine_msgf(msg, -EINVAL, "tiling: piece %zu holds keys outside its span", i);
    }
    return 0;
}

/* ---- The switch ---- */

/* Commits the ingest a path built, then the bookkeeping. */
static int switch_to(engine *base, engine *src, engine_ingest *ing, const char *sync_id,
                     const struct compactor_options *opt, struct compactor_result *res, char **msg)
{
    engine_test_pause(0);
    /* The last moment a cancel is honoured: right before the switch. */
    if (opt && opt->progress && opt->progress(opt->progress_arg, res->keys, res->bytes))
        return ENGINE_ECANCELED;
    double t = compactor_now();
    int rc = engine_ingest_commit(ing, msg);
    res->ingest_seconds = compactor_now() - t;
    if (rc)
        return rc;
    res->outcome = res->keys ? COMPACTOR_DONE : COMPACTOR_EMPTY;
    /* The switch is done; what follows is bookkeeping and giving space back:
     * the sync's time, its run record (the source's, or none), reclaim. */
    engine_sync_touch(base, sync_id, NULL);
    struct engine_sync_run run;
    if (src && engine_sync_run_get(src, sync_id, &run, NULL) == 0)
        engine_sync_run_put(base, sync_id, &run, NULL);
    else
        engine_sync_run_delete(base, sync_id, NULL);
    if (opt && opt->reclaim) {
        t = compactor_now();
        engine_reclaim_now(base, sync_id, NULL);
        res->reclaim_seconds = compactor_now() - t;
    } else {
        engine_reclaim_hint(base, sync_id, NULL);
    }
    return 0;
}

/* 1 when a failed copy attempt should give way to streaming: RocksDB refused
 * the copies, or the source dropped a file while it was copied (a source
 * held by another process).  Running out of space or memory, or a cancel,
 * is the compaction's failure. */
static int fall_back(int rc)
{
    return rc != 0 && rc != -ENOSPC && rc != -ENOMEM && rc != ENGINE_ECANCELED;
}

static void set_reason(struct compactor_result *res, const char *why)
{
    snprintf(res->reason, sizeof res->reason, "%s", why ? why : "");
}

/* Tries the copy path: 0 done, 1 not taken (res->reason says why), or an
 * error after which the base is unchanged. */
static int try_copy(engine *base, engine *src, const struct compactor_range *r, const char *sync_id,
                    const struct compactor_options *opt, struct compactor_result *res, char **msg)
{
    engine_copy_plan *plan = NULL;
    char *why = NULL;
    int rc = engine_copy_plan_new(src, r->lo, r->lo_len, r->hi, r->hi_len, &plan, &why);
    if (rc) {
        if (rc == 1)
            set_reason(res, why);
        free(why);
        return rc;
    }
    engine_ingest *ing = NULL;
    char *err = NULL;
    rc = compactor_copy(base, plan, r, opt, res, &ing, &err);
    if (rc == 0)
        rc = switch_to(base, src, ing, sync_id, opt, res, &err);
    engine_ingest_free(ing); /* removes every staging file */
    engine_copy_plan_free(plan);
    if (rc == 0) {
        res->method = COMPACTOR_COPY;
        free(err);
        return 0;
    }
    if (!fall_back(rc)) {
        if (msg)
            *msg = err;
        else
            free(err);
        return rc;
    }
    /* The base is as it was: RocksDB's ingest is all or nothing. */
    res->copy_refused = 1;
    set_reason(res, err ? err : engine_strerror(rc));
    free(err);
    struct compactor_result keep = *res;
    memset(res, 0, sizeof *res);
    res->copy_refused = 1;
    memcpy(res->reason, keep.reason, sizeof res->reason);
    return 1;
}

/* Replaces sync_id's range from src (NULL: excise only). */
static int replace_range(engine *base, engine *src, const char *sync_id,
                         const struct compactor_options *opt, struct compactor_result *res,
                         char **msg)
{
    struct compactor_range r;
    engine_range_sync(sync_id, r.lo, &r.lo_len, r.hi, &r.hi_len);
    int rc = 1;
    if (src && !(opt && opt->no_copy))
        rc = try_copy(base, src, &r, sync_id, opt, res, msg);
    else
        set_reason(res, src ? "the copy path was turned off" : "an excision");
    if (rc != 1)
        goto out;
    res->method = COMPACTOR_STREAM;
    engine_ingest *ing = NULL;
    rc = compactor_stream(base, src, &r, opt, res, &ing, msg);
    if (rc == 0)
        rc = switch_to(base, src, ing, sync_id, opt, res, msg);
    engine_ingest_free(ing); /* removes every staging file */
out:
    if (rc == ENGINE_ECANCELED) {
        res->outcome = COMPACTOR_CANCELLED;
        if (msg && !*msg)
            engine_msgf(msg, rc, "compaction of sync '%s' cancelled before the switch", sync_id);
    }
    return rc;
}

/* Checks the source path before opening it, so each fault gets its own code. */
static int check_source(engine *base, const char *source_path, char **msg)
{
    struct stat st;
    if (stat(source_path, &st) != 0)
        return engine_msgf(msg, -errno, "source '%s': %s", source_path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return engine_msgf(msg, -ENOTDIR, "source '%s' is not a directory", source_path);
    if (access(source_path, R_OK | X_OK) != 0)
        return engine_msgf(msg, -errno, "source '%s' is not readable: %s", source_path,
                           strerror(errno));
    if (engine_is_store_dir(base, source_path))
        return engine_msgf(msg, -EINVAL, "source '%s' is the base store itself", source_path);
    return 0;
}

/* Claims the sync for this run unless the caller holds it (opt->claimed). */
static int claim(engine *base, const char *sync_id, const struct compactor_options *opt, char **msg)
{
    if (opt && opt->claimed)
        return 0;
    int rc = engine_sync_claim(base, sync_id);
    if (rc == -EBUSY)
        return engine_msgf(msg, rc, "a compaction of sync '%s' is already running", sync_id);
    if (rc)
        return engine_msgf(msg, rc, "cannot claim sync '%s': out of memory", sync_id);
    return 0;
}

int compactor_run(engine *base, const char *source_path, const char *sync_id,
                  const struct compactor_options *opt, struct compactor_result *result, char **msg)
{
    struct compactor_result res = {0};
    double t0 = compactor_now();
    engine *src = NULL;
    int claimed = 0;
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        goto out;
    if ((rc = check_source(base, source_path, msg)))
        goto out;
    if ((rc = claim(base, sync_id, opt, msg)))
        goto out;
    claimed = !(opt && opt->claimed);
    char *open_msg = NULL;
    if ((rc = engine_open(source_path, ENGINE_OPEN_READ_ONLY, &src, &open_msg))) {
        engine_msgf(msg, rc, "bad source: %s", open_msg ? open_msg : engine_strerror(rc));
        free(open_msg);
        goto out;
    }
    rc = replace_range(base, src, sync_id, opt, &res, msg);
out:
    engine_close(src);
    if (claimed)
        engine_sync_release(base, sync_id);
    res.seconds = compactor_now() - t0;
    if (result)
        *result = res;
    return rc;
}

int compactor_delete(engine *base, const char *sync_id, const struct compactor_options *opt,
                     struct compactor_result *result, char **msg)
{
    struct compactor_result res = {0};
    double t0 = compactor_now();
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        goto out;
    if ((rc = claim(base, sync_id, opt, msg)))
        goto out;
    rc = engine_sync_exists(base, NULL, sync_id, msg);
    if (rc == 0)
        rc = engine_msgf(msg, -ENOENT, "store '%s' has no sync '%s'", engine_path(base), sync_id);
    else if (rc == 1)
        rc = replace_range(base, NULL, sync_id, opt, &res, msg);
    if (!(opt && opt->claimed))
        engine_sync_release(base, sync_id);
out:
    res.seconds = compactor_now() - t0;
    if (result)
        *result = res;
    return rc;
}
