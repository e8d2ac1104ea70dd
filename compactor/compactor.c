/*
 * compactor.c - replace a sync with one ingest of tiled SST pieces.
 *
 * The source's range [S 0x00, S 0x01) is streamed in key order into pieces of
 * about piece_bytes.  Piece i covers [lo_i, lo_{i+1}) where lo_0 = S 0x00, the
 * last ends at S 0x01, and every other boundary is the first key of the next
 * piece; each piece holds its keys and a range tombstone over its own span.
 * Within a piece the tombstone hides only older data, never the piece's own
 * keys (same sequence number).  RocksDB 7.8.3 may give the pieces one sequence
 * number or consecutive ones (a tombstone ending at the next piece's first key
 * counts as touching it); either way no tombstone reaches into another piece's
 * span, so no piece hides another's keys.  Overlapping pieces would break that
 * (a later piece's tombstone would delete an earlier piece's new keys, which
 * RocksDB accepts silently), so the tiling is checked before the ingest.
 *
 * All pieces go to the base in ONE engine ingest: one version edit, so the
 * whole sync, every bucket, switches at once.  Values are copied as bytes,
 * never decoded.  Memory is one SST block builder plus two key buffers per
 * piece, whatever the sync's size.
 */
#include "compactor.h"
#include "engine_test.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_EVERY 4096

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* ---- Pieces ---- */

struct keybuf {
    char data[ENGINE_DISK_KEY_MAX + 1];
    size_t len;
};

struct piece {
    engine_sst *sst;
    struct keybuf lo, hi, first, last;
    uint64_t keys;
};

struct pieces {
    struct piece *v;
    size_t n, cap;
};

static void keybuf_set(struct keybuf *b, const char *data, size_t len)
{
    memcpy(b->data, data, len);
    b->len = len;
}

static struct piece *piece_begin(struct pieces *ps, engine_ingest *ing, const char *lo,
                                 size_t lo_len, int *rc, char **msg)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        struct piece *v = realloc(ps->v, cap * sizeof *v);
        if (!v) {
            *rc = -ENOMEM;
            return NULL;
        }
        ps->v = v;
        ps->cap = cap;
    }
    struct piece *p = &ps->v[ps->n];
    memset(p, 0, sizeof *p);
    if ((*rc = engine_ingest_sst_begin(ing, &p->sst, msg)))
        return NULL;
    keybuf_set(&p->lo, lo, lo_len);
    ps->n++;
    return p;
}

/* Seals a piece at hi: its tombstone covers [lo, hi). */
static int piece_end(struct piece *p, const char *hi, size_t hi_len, uint64_t *sst_bytes,
                     char **msg)
{
    keybuf_set(&p->hi, hi, hi_len);
    int rc = engine_sst_delete_range(p->sst, p->lo.data, p->lo.len, hi, hi_len, msg);
    if (rc == 0)
        rc = engine_sst_finish(p->sst, msg);
    if (rc == 0)
        *sst_bytes += engine_sst_file_size(p->sst);
    return rc;
}

/* Streams [lo, hi) of `source` (NULL: nothing) into tiled pieces of ing. */
static int write_pieces(engine_ingest *ing, engine_iter *source, const char *lo, size_t lo_len,
                        const char *hi, size_t hi_len, const struct compactor_options *opt,
                        struct pieces *ps, struct compactor_result *res, char **msg)
{
    uint64_t target = opt && opt->piece_bytes ? opt->piece_bytes : COMPACTOR_PIECE_DEFAULT;
    if (target < COMPACTOR_PIECE_MIN)
        target = COMPACTOR_PIECE_MIN;
    int rc = 0;
    struct piece *p = piece_begin(ps, ing, lo, lo_len, &rc, msg);
    if (!p)
        return rc;
    if (source) {
        for (engine_iter_seek_first(source); engine_iter_valid(source); engine_iter_next(source)) {
            size_t kl, vl;
            const char *k = engine_iter_disk_key(source, &kl);
            const char *v = engine_iter_value(source, &vl);
            if (p->keys && engine_sst_file_size(p->sst) >= target) {
                if ((rc = piece_end(p, k, kl, &res->sst_bytes, msg)))
                    return rc;
                if (!(p = piece_begin(ps, ing, k, kl, &rc, msg)))
                    return rc;
            }
            if ((rc = engine_sst_put(p->sst, k, kl, v, vl, msg)))
                return rc;
            if (p->keys++ == 0)
                keybuf_set(&p->first, k, kl);
            keybuf_set(&p->last, k, kl);
            res->keys++;
            res->bytes += kl + vl;
            if (opt && opt->progress && res->keys % PROGRESS_EVERY == 0 &&
                opt->progress(opt->progress_arg, res->keys, res->bytes))
                return ENGINE_ECANCELED;
            if (res->keys == PROGRESS_EVERY)
                engine_test_pause(2);
        }
        if ((rc = engine_iter_status(source, msg)))
            return rc;
    }
    if ((rc = piece_end(p, hi, hi_len, &res->sst_bytes, msg)))
        return rc;
    res->pieces = ps->n;
    return 0;
}

static int verify(const struct pieces *ps, const char *lo, size_t lo_len, const char *hi,
                  size_t hi_len, char **msg)
{
    struct compactor_piece *view = calloc(ps->n, sizeof *view);
    if (!view)
        return -ENOMEM;
    for (size_t i = 0; i < ps->n; i++) {
        const struct piece *p = &ps->v[i];
        view[i] = (struct compactor_piece){
            .lo = p->lo.data,
            .lo_len = p->lo.len,
            .hi = p->hi.data,
            .hi_len = p->hi.len,
            .first = p->first.data,
            .first_len = p->keys ? p->first.len : 0,
            .last = p->last.data,
            .last_len = p->keys ? p->last.len : 0,
        };
    }
    int rc = compactor_check_tiling(view, ps->n, lo, lo_len, hi, hi_len, msg);
    free(view);
    return rc;
}

/* Builds and ingests the pieces for sync_id from source (NULL: excise only). */
static int replace_range(engine *base, engine_iter *source, const char *sync_id,
                         const struct compactor_options *opt, struct compactor_result *res,
                         char **msg)
{
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(sync_id, lo, &lo_len, hi, &hi_len);
    struct pieces ps = {0};
    engine_ingest *ing = NULL;
    int rc = engine_ingest_new(base, &ing, msg);
    if (rc)
        goto out;
    if ((rc = write_pieces(ing, source, lo, lo_len, hi, hi_len, opt, &ps, res, msg)))
        goto out;
    if ((rc = verify(&ps, lo, lo_len, hi, hi_len, msg)))
        goto out;
    engine_test_pause(0);
    /* The last moment a cancel is honoured: right before the switch. */
    if (opt && opt->progress && opt->progress(opt->progress_arg, res->keys, res->bytes)) {
        rc = ENGINE_ECANCELED;
        goto out;
    }
    double t = now_seconds();
    rc = engine_ingest_commit(ing, msg);
    res->ingest_seconds = now_seconds() - t;
    if (rc)
        goto out;
    res->outcome = res->keys ? COMPACTOR_DONE : COMPACTOR_EMPTY;
    /* The switch is done; what follows is bookkeeping and giving space back. */
    engine_sync_touch(base, sync_id, NULL);
    if (opt && opt->reclaim) {
        t = now_seconds();
        engine_reclaim_now(base, sync_id, NULL);
        res->reclaim_seconds = now_seconds() - t;
    } else {
        engine_reclaim_hint(base, sync_id, NULL);
    }
out:
    if (rc == ENGINE_ECANCELED) {
        res->outcome = COMPACTOR_CANCELLED;
        if (msg && !*msg)
            engine_msgf(msg, rc, "compaction of sync '%s' cancelled before the switch", sync_id);
    }
    engine_ingest_free(ing); /* removes every staging file */
    free(ps.v);
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
    double t0 = now_seconds();
    engine *src = NULL;
    engine_iter *it = NULL;
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
    if (!(it = engine_iter_new_sync(src, NULL, sync_id))) {
        rc = -ENOMEM;
        goto out;
    }
    rc = replace_range(base, it, sync_id, opt, &res, msg);
out:
    engine_iter_free(it);
    engine_close(src);
    if (claimed)
        engine_sync_release(base, sync_id);
    res.seconds = now_seconds() - t0;
    if (result)
        *result = res;
    return rc;
}

int compactor_delete(engine *base, const char *sync_id, const struct compactor_options *opt,
                     struct compactor_result *result, char **msg)
{
    struct compactor_result res = {0};
    double t0 = now_seconds();
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
    res.seconds = now_seconds() - t0;
    if (result)
        *result = res;
    return rc;
}
