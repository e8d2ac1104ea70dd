/*
 * stores.c - the RocksDB side of the benchmark: building the generated
 * stores (and settling them, so that no method pays for the loader's L0
 * backlog), then the phases that time ours (the compactor), the put-loop and
 * the floor, and the check that ours and the put-loop end with the same store.
 */
#include "bench_i.h"

#include "cli.h"
#include "compactor.h"
#include "engine_admin.h"
#include "engine_test.h"
#include "gen.h"
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- Building the stores ---- */

/* Waits until the open store has no flush or compaction pending or running:
 * a base at rest, as a long-lived mount keeps it.  The loader leaves each of
 * its sorted runs in L0 and RocksDB compacts them at the next read-write open;
 * unsettled, that backlog would run during whichever method is timed first. */
static int settle_store(engine *e, double *seconds, char **msg)
{
    double t0 = bench_now();
    while (engine_property(e, "rocksdb.compaction-pending") ||
           engine_property(e, "rocksdb.num-running-compactions") ||
           engine_property(e, "rocksdb.mem-table-flush-pending") ||
           engine_property(e, "rocksdb.num-running-flushes")) {
        if (bench_now() - t0 > BENCH_SETTLE_MAX)
            return engine_msgf(msg, -ETIMEDOUT, "store '%s' is still compacting after %d s",
                               engine_path(e), BENCH_SETTLE_MAX);
        struct timespec pause = {0, 20L * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    *seconds = bench_now() - t0;
    return 0;
}

/* Creates the store at path holding the given generated syncs, in one load. */
static int gen_store(const char *path, const struct gen_options *syncs, size_t n, uint64_t *keys,
                     char **msg)
{
    engine *e = NULL;
    loader *l = NULL;
    struct loader_options lopt = {.replace = 1};
    struct loader_stats stats;
    int rc = engine_open(path, ENGINE_OPEN_CREATE, &e, msg);
    if (rc)
        goto out;
    if ((rc = loader_new(e, &lopt, &l, msg)))
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((rc = gen_run(l, &syncs[i], NULL, msg)))
            goto out;
    if ((rc = loader_commit(l, &stats, msg)))
        goto out;
    *keys = stats.records;
out:
    loader_free(l);
    engine_close(e);
    return rc;
}

/* Writes sync S of the store at from into a new store at to as SST files of
 * at most COMPACTOR_PIECE_DEFAULT key and value bytes, without tombstones,
 * in one ingest into the empty store: files at global sequence number 0, as
 * a new sync is written, so that the copy path takes the source. */
static int make_copyable(const char *from, const char *to, char **msg)
{
    engine *src = NULL, *dst = NULL;
    engine_ingest *ing = NULL;
    engine_iter *it = NULL;
    engine_sst *w = NULL;
    int rc = engine_open(from, ENGINE_OPEN_READ_ONLY, &src, msg);
    if (rc == 0)
        rc = engine_open(to, ENGINE_OPEN_CREATE, &dst, msg);
    if (rc == 0)
        rc = engine_ingest_new(dst, &ing, msg);
    if (rc == 0 && !(it = engine_iter_new_sync(src, NULL, BENCH_SYNC)))
        rc = -ENOMEM;
    for (engine_iter_seek_first(it); rc == 0 && engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const char *k = engine_iter_disk_key(it, &kl);
        const char *v = engine_iter_value(it, &vl);
        if (w && engine_sst_file_size(w) >= COMPACTOR_PIECE_DEFAULT) {
            if ((rc = engine_sst_finish(w, msg)))
                break;
            w = NULL;
        }
        if (!w && (rc = engine_ingest_sst_begin(ing, &w, msg)))
            break;
        rc = engine_sst_put(w, k, kl, v, vl, msg);
    }
    if (rc == 0 && it)
        rc = engine_iter_status(it, msg);
    if (rc == 0 && w)
        rc = engine_sst_finish(w, msg);
    if (rc == 0)
        rc = engine_ingest_commit(ing, msg);
    engine_iter_free(it);
    engine_ingest_free(ing);
    engine_close(dst);
    engine_close(src);
    return rc;
}

int bench_phase_setup(struct bench *b)
{
    char *msg = NULL;
    const char *what = b->base;
    double t0 = bench_now();
    struct gen_options base[] = {
        {.sync_id = BENCH_SYNC, .grants = b->grants, .seed = BENCH_SEED_BASE},
        {.sync_id = BENCH_OTHER, .grants = b->grants, .seed = BENCH_SEED_OTHER},
    };
    struct gen_options source = {
        .sync_id = BENCH_SYNC, .grants = b->grants, .seed = BENCH_SEED_SOURCE};
    engine *e = NULL;
    int rc = gen_store(b->base, base, 2, &b->base_keys, &msg);
    if (rc)
        goto err;
    if ((rc = engine_open(b->base, ENGINE_OPEN_READ_WRITE, &e, &msg)))
        goto err;
    rc = settle_store(e, &b->settle_seconds, &msg);
    engine_close(e);
    if (rc)
        goto err;
    what = b->source_gen;
    if ((rc = gen_store(b->source_gen, &source, 1, &b->source_keys, &msg)))
        goto err;
    what = b->source;
    if ((rc = make_copyable(b->source_gen, b->source, &msg)))
        goto err;
    bench_remove_tree(b->source_gen);
    what = b->base_put;
    if ((rc = bench_copy_store(b->base, b->base_put, &msg)))
        goto err;
    what = b->base_s1;
    if ((rc = bench_copy_store(b->base, b->base_s1, &msg)))
        goto err;
    what = b->base_sn;
    if ((rc = bench_copy_store(b->base, b->base_sn, &msg)))
        goto err;
    b->setup_seconds = bench_now() - t0;
    return 0;
err:
    return cli_fail(rc, msg, what);
}

/* ---- The RocksDB methods ---- */

struct tickers {
    uint64_t flush, compact, written;
};

static void tickers_read(engine *e, struct tickers *t)
{
    t->flush = engine_ticker(e, "rocksdb.flush.write.bytes");
    t->compact = engine_ticker(e, "rocksdb.compact.write.bytes");
    t->written = engine_ticker(e, "rocksdb.bytes.written");
}

static long self_peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/* Ours: compactor_run with the default piece size, the switch's write bytes
 * from the base's statistics, then the reclaim, timed apart. */
int bench_phase_ours(struct bench *b)
{
    engine *e = NULL;
    char *msg = NULL;
    const char *what = b->base;
    struct tickers t0, t1, t2;
    struct compactor_options opt = {.reclaim = 0};
    struct compactor_result r;
    int rc = engine_open(b->base, ENGINE_OPEN_READ_WRITE | ENGINE_OPEN_STATISTICS, &e, &msg);
    if (rc)
        goto err;
    if ((rc = settle_store(e, &b->ours_settle_seconds, &msg)))
        goto err;
    b->du_before = bench_du_store(b->base);
    tickers_read(e, &t0);
    if ((rc = compactor_run(e, b->source, BENCH_SYNC, &opt, &r, &msg)))
        goto err;
    tickers_read(e, &t1);
    b->ours_rss_kb = self_peak_rss_kb();
    if (r.outcome != COMPACTOR_DONE) {
        rc = engine_msgf(&msg, -EIO, "compaction outcome '%s', expected 'done'",
                         compactor_outcome_name(r.outcome));
        goto err;
    }
    b->ours_copy = r.method == COMPACTOR_COPY;
    b->files_copied = r.files_copied;
    b->bytes_copied = r.bytes_copied;
    b->copy_seconds = r.copy_seconds;
    snprintf(b->stream_reason, sizeof b->stream_reason, "%s", r.reason);
    b->ours_seconds = r.seconds;
    b->ingest_seconds = r.ingest_seconds;
    b->ours_keys = r.keys;
    b->ours_bytes = r.bytes;
    b->pieces = r.pieces;
    b->sst_bytes = r.sst_bytes;
    b->flush_bytes = t1.flush - t0.flush;
    b->compact_bytes = t1.compact - t0.compact;
    b->written_bytes = t1.written - t0.written;
    b->du_switch = bench_du_store(b->base);

    double t = bench_now();
    if ((rc = engine_reclaim_now(e, BENCH_SYNC, &msg)))
        goto err;
    b->reclaim_seconds = bench_now() - t;
    tickers_read(e, &t2);
    b->reclaim_compact_bytes = t2.compact - t1.compact;
    engine_close(e);
    b->du_reclaim = bench_du_store(b->base);
    return 0;
err:
    engine_close(e);
    return cli_fail(rc, msg, what);
}

/* The streaming path alone, on its own copy of the base: threads 1 or 0
 * (one per core). */
static int stream_phase(struct bench *b, const char *base, int threads, double *seconds,
                        uint64_t *pieces, uint64_t *used)
{
    engine *e = NULL;
    char *msg = NULL;
    double settle;
    struct compactor_options opt = {.no_copy = 1, .threads = threads};
    struct compactor_result r;
    int rc = engine_open(base, ENGINE_OPEN_READ_WRITE, &e, &msg);
    if (rc == 0)
        rc = settle_store(e, &settle, &msg);
    if (rc == 0)
        rc = compactor_run(e, b->source, BENCH_SYNC, &opt, &r, &msg);
    engine_close(e);
    if (rc)
        return cli_fail(rc, msg, base);
    *seconds = r.seconds;
    *pieces = r.pieces;
    if (used)
        *used = r.threads;
    b->stream_keys = r.keys;
    return 0;
}

int bench_phase_stream1(struct bench *b)
{
    return stream_phase(b, b->base_s1, 1, &b->stream1_seconds, &b->stream1_pieces, NULL);
}

int bench_phase_streamn(struct bench *b)
{
    return stream_phase(b, b->base_sn, 0, &b->streamn_seconds, &b->streamn_pieces,
                        &b->streamn_threads);
}

/* Copy floor: the source's SST files that hold sync S copied (copy_file_range,
 * the kernel's copy) into a directory on the same filesystem, each fsync'd:
 * what the copy path cannot beat. */
int bench_phase_copy_floor(struct bench *b)
{
    engine *src = NULL;
    engine_copy_plan *plan = NULL;
    char *msg = NULL, *why = NULL;
    double t0 = bench_now();
    int rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg);
    if (rc)
        goto out;
    char lo[ENGINE_DISK_KEY_MAX + 1], hi[ENGINE_DISK_KEY_MAX + 1];
    size_t lo_len, hi_len;
    engine_range_sync(BENCH_SYNC, lo, &lo_len, hi, &hi_len);
    rc = engine_copy_plan_new(src, lo, lo_len, hi, hi_len, &plan, &why);
    if (rc == 1) {
        rc = engine_msgf(&msg, -EINVAL, "the source does not qualify for a copy: %s", why);
        goto out;
    }
    if (rc)
        goto out;
    if (mkdir(b->copy_floor_dir, 0755) != 0) {
        rc = engine_msgf(&msg, -errno, "cannot create '%s'", b->copy_floor_dir);
        goto out;
    }
    for (size_t i = 0; rc == 0 && i < engine_copy_plan_count(plan); i++) {
        const char *path = engine_copy_plan_path(plan, i);
        char dst[PATH_MAX + 32];
        snprintf(dst, sizeof dst, "%s/%zu.sst", b->copy_floor_dir, i);
        int in = open(path, O_RDONLY | O_CLOEXEC);
        int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        struct stat st;
        if (in < 0 || out < 0 || fstat(in, &st) != 0) {
            rc = engine_msgf(&msg, -errno, "cannot copy '%s'", path);
        } else {
            for (off_t done = 0; rc == 0 && done < st.st_size;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)(st.st_size - done), 0);
                if (n <= 0)
                    rc = engine_msgf(&msg, n < 0 ? -errno : -EIO, "cannot copy '%s'", path);
                else
                    done += n;
            }
            if (rc == 0 && fsync(out) != 0)
                rc = engine_msgf(&msg, -errno, "cannot fsync '%s'", dst);
            b->copy_floor_bytes += (uint64_t)st.st_size;
            b->copy_floor_files++;
        }
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    }
    b->copy_floor_seconds = bench_now() - t0;
out:
    free(why);
    engine_copy_plan_free(plan);
    engine_close(src);
    bench_remove_tree(b->copy_floor_dir);
    return rc ? cli_fail(rc, msg, b->source) : 0;
}

/* Put-loop: one WriteBatch with a DeleteRange and a Put per source record. */
int bench_phase_put(struct bench *b)
{
    engine *e = NULL, *src = NULL;
    engine_iter *it = NULL;
    char *msg = NULL;
    const char *what = b->base_put;
    struct tickers t0, t1;
    int rc = engine_open(b->base_put, ENGINE_OPEN_READ_WRITE | ENGINE_OPEN_STATISTICS, &e, &msg);
    if (rc)
        goto out;
    if ((rc = settle_store(e, &b->put_settle_seconds, &msg)))
        goto out;
    tickers_read(e, &t0);
    double t = bench_now();
    what = b->source;
    if ((rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg)))
        goto out;
    if (!(it = engine_iter_new_sync(src, NULL, BENCH_SYNC))) {
        rc = -ENOMEM;
        goto out;
    }
    engine_iter_seek_first(it);
    what = b->base_put;
    if ((rc = engine_replace_with_batch(e, BENCH_SYNC, it, &b->put_keys, &msg)))
        goto out;
    b->put_seconds = bench_now() - t;
    tickers_read(e, &t1);
    b->put_written_bytes = t1.written - t0.written;
out:
    engine_iter_free(it);
    engine_close(src);
    engine_close(e);
    return rc ? cli_fail(rc, msg, what) : 0;
}

/* Floor: read the source range touching every byte of each key and value, then
 * write and fsync as many bytes as ours put into SSTs. */
int bench_phase_floor(struct bench *b)
{
    engine *src = NULL;
    engine_iter *it = NULL;
    char *msg = NULL, *chunk = NULL;
    const char *what = b->source;
    int fd = -1;
    double t0 = bench_now();
    int rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg);
    if (rc)
        goto out;
    if (!(it = engine_iter_new_sync(src, NULL, BENCH_SYNC))) {
        rc = -ENOMEM;
        goto out;
    }
    unsigned sum = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)engine_iter_disk_key(it, &kl);
        const unsigned char *v = (const unsigned char *)engine_iter_value(it, &vl);
        for (size_t i = 0; i < kl; i++)
            sum += k[i];
        for (size_t i = 0; i < vl; i++)
            sum += v[i];
        b->floor_keys++;
        b->floor_bytes += kl + vl;
    }
    if ((rc = engine_iter_status(it, &msg)))
        goto out;
    double t1 = bench_now();
    b->floor_read_seconds = t1 - t0;

    what = b->floor_file;
    if (!(chunk = malloc(BENCH_WRITE_CHUNK))) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < BENCH_WRITE_CHUNK; i++)
        chunk[i] = (char)(i * 131 + sum);
    if ((fd = open(b->floor_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = -errno;
        goto out;
    }
    for (uint64_t left = b->sst_bytes; left > 0;) {
        size_t n = left < BENCH_WRITE_CHUNK ? (size_t)left : BENCH_WRITE_CHUNK;
        ssize_t w = write(fd, chunk, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            goto out;
        }
        left -= (uint64_t)w;
    }
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
    b->floor_write_seconds = bench_now() - t1;
out:
    if (fd >= 0) {
        close(fd);
        unlink(b->floor_file);
    }
    free(chunk);
    engine_iter_free(it);
    engine_close(src);
    return rc ? cli_fail(rc, msg, what) : 0;
}

/* Compares two iterators record by record; returns 0, or -EIO with a message
 * naming the first difference. */
static int iters_equal(engine_iter *a, engine_iter *b, const char *what, uint64_t *keys, char **msg)
{
    engine_iter_seek_first(a);
    engine_iter_seek_first(b);
    for (; engine_iter_valid(a) && engine_iter_valid(b); engine_iter_next(a), engine_iter_next(b)) {
        size_t akl, bkl, avl, bvl;
        const char *ak = engine_iter_disk_key(a, &akl), *bk = engine_iter_disk_key(b, &bkl);
        const char *av = engine_iter_value(a, &avl), *bv = engine_iter_value(b, &bvl);
        if (akl != bkl || memcmp(ak, bk, akl) || avl != bvl || memcmp(av, bv, avl))
            return engine_msgf(msg, -EIO, "%s differ at record %llu", what,
                               (unsigned long long)*keys);
        (*keys)++;
    }
    int rc = engine_iter_status(a, msg);
    if (rc == 0)
        rc = engine_iter_status(b, msg);
    if (rc == 0 && (engine_iter_valid(a) || engine_iter_valid(b)))
        rc = engine_msgf(msg, -EIO, "%s differ: one ends after %llu records", what,
                         (unsigned long long)*keys);
    return rc;
}

/* Checks that ours and the put-loop ended with the same store, and that its S
 * is the source's. */
int bench_phase_verify(struct bench *b)
{
    engine *base = NULL, *put = NULL, *src = NULL;
    engine_iter *ia = NULL, *ib = NULL;
    char *msg = NULL;
    const char *what = b->base;
    uint64_t n = 0;
    int rc = engine_open(b->base, ENGINE_OPEN_READ_ONLY, &base, &msg);
    if (rc)
        goto out;
    what = b->base_put;
    if ((rc = engine_open(b->base_put, ENGINE_OPEN_READ_ONLY, &put, &msg)))
        goto out;
    what = b->source;
    if ((rc = engine_open(b->source, ENGINE_OPEN_READ_ONLY, &src, &msg)))
        goto out;
    what = "verify";
    ia = engine_iter_new_all(base, NULL);
    ib = engine_iter_new_all(put, NULL);
    if (!ia || !ib) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = iters_equal(ia, ib, "the bases after ours and after the put-loop", &n, &msg)))
        goto out;
    const char *streamed[] = {b->base_s1, b->base_sn};
    for (size_t i = 0; i < 2; i++) {
        engine *s = NULL;
        engine_iter *is = NULL, *ic = NULL;
        what = streamed[i];
        if ((rc = engine_open(streamed[i], ENGINE_OPEN_READ_ONLY, &s, &msg)))
            goto out;
        n = 0;
        is = engine_iter_new_all(s, NULL);
        ic = engine_iter_new_all(base, NULL);
        rc = !is || !ic
                 ? -ENOMEM
                 : iters_equal(ic, is, "the bases after the copy and after a stream", &n, &msg);
        engine_iter_free(is);
        engine_iter_free(ic);
        engine_close(s);
        if (rc)
            goto out;
    }
    what = "verify";
    engine_iter_free(ia);
    engine_iter_free(ib);
    ia = engine_iter_new_sync(base, NULL, BENCH_SYNC);
    ib = engine_iter_new_sync(src, NULL, BENCH_SYNC);
    if (!ia || !ib) {
        rc = -ENOMEM;
        goto out;
    }
    n = 0;
    if ((rc = iters_equal(ia, ib, "the base's and the source's sync " BENCH_SYNC, &n, &msg)))
        goto out;
    b->verified_keys = n;
out:
    engine_iter_free(ia);
    engine_iter_free(ib);
    engine_close(src);
    engine_close(put);
    engine_close(base);
    return rc ? cli_fail(rc, msg, what) : 0;
}