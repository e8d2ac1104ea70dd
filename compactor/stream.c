/*
 * stream.c - the streaming path: the source's range read in key order into
 * tiled SST pieces, one thread per span.
 *
 * The range [S 0x00, S 0x01) is cut into spans at keys that split the
 * source's data on disk into about equal parts (engine_range_split: the
 * files' index blocks, no data read), one span per thread.  Each thread has
 * its own iterator over its own span and its own ingest, and cuts its span
 * into pieces of about piece_bytes.  Piece i covers [lo_i, lo_{i+1}): a span's
 * first piece starts at the span's start, its last ends at the span's end,
 * and every other boundary is the first key of the next piece; each piece
 * holds its keys and a range tombstone over its own span.  So the pieces of
 * all spans, in span order, tile the range exactly, which is checked before
 * the ingest (compactor_check_tiling).
 *
 * Within a piece the tombstone hides only older data, never the piece's own
 * keys (same sequence number).  RocksDB 7.8.3 may give the pieces one
 * sequence number or consecutive ones (a tombstone ending at the next piece's
 * first key counts as touching it); either way no tombstone reaches into
 * another piece's span, so no piece hides another's keys.  Overlapping
 * pieces would break that (a later piece's tombstone would delete an earlier
 * piece's new keys, which RocksDB accepts silently): hence the check.
 *
 * The threads' ingests are joined, in span order, into one (engine_ingest_
 * append), committed by compactor.c in ONE call.  Memory per thread is one
 * SST block builder plus a few key buffers per piece, whatever the sync's
 * size; threads: one per online core (sysconf), at most
 * COMPACTOR_THREADS_MAX, or options.threads.
 */
#include "compactor_i.h"
#include "engine_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* What the threads share: progress and the stop flag. */
struct shared {
    const struct compactor_options *opt;
    pthread_mutex_t lock;
    uint64_t keys, bytes;           /* reported so far, under lock */
    uint64_t told_keys, told_bytes; /* what the callback was last given, under lock */
    int paused;                     /* under lock */
    atomic_int stop;                /* 1: cancelled or another thread failed */
};

struct worker {
    struct shared *sh;
    engine *base;
    engine *src;
    const char *lo, *hi;
    size_t lo_len, hi_len;
    engine_ingest *ing;
    struct pieces ps;
    uint64_t keys, bytes, sst_bytes;
    int rc;
    char *msg;
};

static void keybuf_set(struct keybuf *b, const char *data, size_t len)
{
    memcpy(b->data, data, len);
    b->len = len;
}

static struct piece *piece_begin(struct worker *w, const char *lo, size_t lo_len, int *rc)
{
    struct pieces *ps = &w->ps;
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
    if ((*rc = engine_ingest_sst_begin(w->ing, &p->sst, &w->msg)))
        return NULL;
    keybuf_set(&p->lo, lo, lo_len);
    ps->n++;
    return p;
}

/* Seals a piece at hi: its tombstone covers [lo, hi). */
static int piece_end(struct worker *w, struct piece *p, const char *hi, size_t hi_len)
{
    keybuf_set(&p->hi, hi, hi_len);
    int rc = engine_sst_delete_range(p->sst, p->lo.data, p->lo.len, hi, hi_len, &w->msg);
    if (rc == 0)
        rc = engine_sst_finish(p->sst, &w->msg);
    if (rc == 0)
        w->sst_bytes += engine_sst_file_size(p->sst);
    return rc;
}

/* Adds a thread's keys and bytes since its last report and, when call is 1
 * and the run goes on, calls the progress callback with the totals; 1 when
 * the run is to stop (the callback cancelled, now or before, or another
 * thread failed).  The callback runs under the lock: one call at a time, and
 * never again once it cancelled. */
static int report(struct worker *w, uint64_t keys, uint64_t bytes, int call)
{
    struct shared *sh = w->sh;
    pthread_mutex_lock(&sh->lock);
    sh->keys += keys;
    sh->bytes += bytes;
    int stop = atomic_load(&sh->stop);
    if (call && !stop && sh->opt && sh->opt->progress) {
        sh->told_keys = sh->keys;
        sh->told_bytes = sh->bytes;
        if (sh->opt->progress(sh->opt->progress_arg, sh->keys, sh->bytes)) {
            stop = 1;
            atomic_store(&sh->stop, 1);
        }
    }
    if (call && !sh->paused) {
        sh->paused = 1;
        engine_test_pause(2);
    }
    pthread_mutex_unlock(&sh->lock);
    return stop;
}

static int stream_span(struct worker *w, uint64_t target)
{
    int rc = 0;
    struct piece *p = piece_begin(w, w->lo, w->lo_len, &rc);
    if (!p)
        return rc;
    if (w->src) {
        engine_iter *it = engine_iter_new_range(w->src, NULL, w->lo, w->lo_len, w->hi, w->hi_len);
        if (!it)
            return -ENOMEM;
        uint64_t rk = 0, rb = 0; /* not yet reported */
        for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
            size_t kl, vl;
            const char *k = engine_iter_disk_key(it, &kl);
            const char *v = engine_iter_value(it, &vl);
            if (p->keys && engine_sst_file_size(p->sst) >= target) {
                if ((rc = piece_end(w, p, k, kl)) || !(p = piece_begin(w, k, kl, &rc)))
                    break;
            }
            if ((rc = engine_sst_put(p->sst, k, kl, v, vl, &w->msg)))
                break;
            if (p->keys++ == 0)
                keybuf_set(&p->first, k, kl);
            keybuf_set(&p->last, k, kl);
            w->keys++;
            w->bytes += kl + vl;
            rk++;
            rb += kl + vl;
            if (rk == COMPACTOR_PROGRESS_EVERY) {
                if (report(w, rk, rb, 1)) {
                    rc = ENGINE_ECANCELED;
                    break;
                }
                rk = rb = 0;
            }
        }
        if (rc == 0)
            rc = engine_iter_status(it, &w->msg);
        engine_iter_free(it);
        /* the rest is counted, not reported: the next call is the one right
         * before the switch (or another thread's) */
        if (rc == 0 && report(w, rk, rb, 0))
            rc = ENGINE_ECANCELED;
        if (rc)
            return rc;
    }
    return piece_end(w, p, w->hi, w->hi_len);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t target =
        w->sh->opt && w->sh->opt->piece_bytes ? w->sh->opt->piece_bytes : COMPACTOR_PIECE_DEFAULT;
    if (target < COMPACTOR_PIECE_MIN)
        target = COMPACTOR_PIECE_MIN;
    w->rc = engine_ingest_new(w->base, &w->ing, &w->msg);
    if (w->rc == 0)
        w->rc = stream_span(w, target);
    if (w->rc)
        atomic_store(&w->sh->stop, 1);
    return NULL;
}

static int verify(struct worker *ws, size_t nw, const struct compactor_range *r, char **msg)
{
    size_t n = 0;
    for (size_t i = 0; i < nw; i++)
        n += ws[i].ps.n;
    struct compactor_piece *view = calloc(n ? n : 1, sizeof *view);
    if (!view)
        return -ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < nw; i++)
        for (size_t k = 0; k < ws[i].ps.n; k++) {
            const struct piece *p = &ws[i].ps.v[k];
            view[j++] = (struct compactor_piece){
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
    int rc = compactor_check_tiling(view, n, r->lo, r->lo_len, r->hi, r->hi_len, msg);
    free(view);
    return rc;
}

static unsigned thread_count(const struct compactor_options *opt, engine *src)
{
    if (!src)
        return 1;
    long n = opt && opt->threads ? opt->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > COMPACTOR_THREADS_MAX ? COMPACTOR_THREADS_MAX : (unsigned)n;
}

int compactor_stream(engine *base, engine *src, const struct compactor_range *r,
                     const struct compactor_options *opt, struct compactor_result *res,
                     engine_ingest **out, char **msg)
{
    *out = NULL;
    unsigned want = thread_count(opt, src);
    char(*keys)[ENGINE_DISK_KEY_MAX + 1] =
        want > 1 ? malloc((COMPACTOR_THREADS_MAX - 1) * sizeof *keys) : NULL;
    size_t lens[COMPACTOR_THREADS_MAX];
    size_t ns =
        keys ? engine_range_split(src, r->lo, r->lo_len, r->hi, r->hi_len, want, keys, lens) : 0;
    size_t nw = ns + 1;
    struct shared sh = {.opt = opt};
    pthread_mutex_init(&sh.lock, NULL);
    struct worker *ws = calloc(nw, sizeof *ws);
    pthread_t *tids = calloc(nw, sizeof *tids);
    int rc = 0;
    if (!ws || !tids) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nw; i++) {
        ws[i] = (struct worker){.sh = &sh, .base = base, .src = src};
        ws[i].lo = i ? keys[i - 1] : r->lo;
        ws[i].lo_len = i ? lens[i - 1] : r->lo_len;
        ws[i].hi = i < ns ? keys[i] : r->hi;
        ws[i].hi_len = i < ns ? lens[i] : r->hi_len;
    }
    size_t started = 0;
    if (nw == 1) {
        worker_main(&ws[0]);
    } else {
        for (; started < nw; started++)
            if (pthread_create(&tids[started], NULL, worker_main, &ws[started]) != 0)
                break;
        /* a thread that could not start: its span runs here */
        for (size_t i = started; i < nw; i++)
            worker_main(&ws[i]);
        for (size_t i = 0; i < started; i++)
            pthread_join(tids[i], NULL);
    }
    res->threads = nw;
    /* the first failure in span order, but a real error before a cancel that
     * another thread's failure caused */
    for (size_t i = 0; i < nw && rc == 0; i++)
        if (ws[i].rc && ws[i].rc != ENGINE_ECANCELED) {
            rc = ws[i].rc;
            if (msg && ws[i].msg) {
                *msg = ws[i].msg;
                ws[i].msg = NULL;
            }
        }
    for (size_t i = 0; i < nw && rc == 0; i++)
        if (ws[i].rc)
            rc = ws[i].rc;
    for (size_t i = 0; i < nw; i++) {
        res->keys += ws[i].keys;
        res->bytes += ws[i].bytes;
        res->sst_bytes += ws[i].sst_bytes;
        res->pieces += ws[i].ps.n;
    }
    if (rc == ENGINE_ECANCELED) {
        /* what the callback was told: nothing was ingested */
        res->keys = sh.told_keys;
        res->bytes = sh.told_bytes;
    }
    if (rc == 0)
        rc = verify(ws, nw, r, msg);
    /* one ingest, the spans in order; every staging file belongs to it */
    for (size_t i = 0; i < nw; i++) {
        if (!ws[i].ing)
            continue;
        if (!*out) {
            *out = ws[i].ing;
        } else if (engine_ingest_append(*out, ws[i].ing) != 0) {
            engine_ingest_free(ws[i].ing);
            if (rc == 0)
                rc = -ENOMEM;
        }
        ws[i].ing = NULL;
    }
out:
    if (ws)
        for (size_t i = 0; i < nw; i++) {
            free(ws[i].ps.v);
            free(ws[i].msg);
        }
    free(ws);
    free(tids);
    free(keys);
    pthread_mutex_destroy(&sh.lock);
    return rc;
}
