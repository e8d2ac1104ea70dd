/*
 * report.c - the benchmark's result: the targets of issues 3 and 11 with PASS
 * or MISS, as a table or as one JSON object.  "ours" is the compactor as it
 * runs (the copy path on a qualifying source).
 */
#include "bench_i.h"

#include "buf.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Targets of issue 11 (the copy path and the parallel stream). */
#define TARGET_VS_PUT 20.0         /* ours at least this many times faster */
#define TARGET_VS_SQLITE 100.0     /* ditto */
#define TARGET_VS_COPY_FLOOR 1.3   /* ours at most this many times the copy floor */
#define TARGET_STREAM_SCALING 0.65 /* stream on all cores / on one thread */
/* Targets of issue 3. */
#define TARGET_VS_FLOOR 1.5      /* ours at most this many times the floor */
#define TARGET_INGEST_MS 20.0    /* the ingest call */
#define TARGET_RSS_MB 100.0      /* peak RSS of ours */
#define TARGET_SWITCH_RATIO 1.1  /* bytes written for the switch / SST bytes */
#define TARGET_RECLAIM_RATIO 1.1 /* db size after reclaim / before the switch */

static double mb(uint64_t bytes)
{
    return (double)bytes / 1e6;
}

static double rss_mb(long kb)
{
    return (double)kb * 1024 / 1e6;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* ---- Report ---- */

struct target {
    const char *name;
    double value, target;
    int kind; /* how value must compare with target */
    const char *unit;
};

enum { AT_LEAST, AT_MOST, BELOW };

static const char *const target_ops[] = {">=", "<=", "<"};

static int target_pass(const struct target *t)
{
    switch (t->kind) {
    case AT_LEAST:
        return t->value >= t->target;
    case AT_MOST:
        return t->value <= t->target;
    default:
        return t->value < t->target;
    }
}

static size_t bench_targets(const struct bench *b, struct target *t)
{
    uint64_t switch_bytes = b->sst_bytes + b->flush_bytes + b->compact_bytes + b->written_bytes;
    double floor = b->floor_read_seconds + b->floor_write_seconds;
    size_t n = 0;
    t[n++] = (struct target){"put-loop / ours", ratio(b->put_seconds, b->ours_seconds),
                             TARGET_VS_PUT, AT_LEAST, "x"};
    t[n++] = (struct target){"SQLite / ours", ratio(b->sqlite_seconds, b->ours_seconds),
                             TARGET_VS_SQLITE, AT_LEAST, "x"};
    t[n++] = (struct target){"ours / copy floor", ratio(b->ours_seconds, b->copy_floor_seconds),
                             TARGET_VS_COPY_FLOOR, AT_MOST, "x"};
    t[n++] = (struct target){"stream all cores / 1 thread",
                             ratio(b->streamn_seconds, b->stream1_seconds), TARGET_STREAM_SCALING,
                             AT_MOST, "x"};
    t[n++] = (struct target){"ours / read floor", ratio(b->ours_seconds, floor), TARGET_VS_FLOOR,
                             AT_MOST, "x"};
    t[n++] =
        (struct target){"ingest call", b->ingest_seconds * 1e3, TARGET_INGEST_MS, BELOW, " ms"};
    t[n++] =
        (struct target){"peak RSS of ours", rss_mb(b->ours_rss_kb), TARGET_RSS_MB, BELOW, " MB"};
    t[n++] = (struct target){"switch bytes / SST bytes",
                             ratio((double)switch_bytes, (double)b->sst_bytes), TARGET_SWITCH_RATIO,
                             AT_MOST, "x"};
    t[n++] = (struct target){"db size after reclaim / before",
                             ratio((double)b->du_reclaim, (double)b->du_before),
                             TARGET_RECLAIM_RATIO, AT_MOST, "x"};
    return n;
}

void bench_print_table(const struct bench *b, int memory_fs)
{
    double floor = b->floor_read_seconds + b->floor_write_seconds;
    uint64_t switch_bytes = b->sst_bytes + b->flush_bytes + b->compact_bytes + b->written_bytes;
    struct target t[12];
    size_t nt = bench_targets(b, t);

    printf("bench compact: %llu grants per sync; sync " BENCH_SYNC ": %llu keys, %.1f MB of keys "
           "and values\n",
           (unsigned long long)b->grants, (unsigned long long)b->ours_keys, mb(b->ours_bytes));
    printf("base: syncs " BENCH_SYNC " and " BENCH_OTHER " (%llu keys); source: "
           "sync " BENCH_SYNC " with other contents (%llu keys)\n",
           (unsigned long long)b->base_keys, (unsigned long long)b->source_keys);
    printf("work directory: %s%s\n", b->dir, memory_fs ? " (a tmpfs: not a disk!)" : "");
    printf("each phase: its inputs read into the page cache first (warm, not dropped), dirty "
           "pages written back\n");
    printf("machine: %ld CPUs, 1-minute load average %.2f before the run, %.2f after\n",
           sysconf(_SC_NPROCESSORS_ONLN), b->load_before, b->load_after);
    printf("base settled first (its L0 backlog from the loader compacted: %.1f s), then copied "
           "for the put-loop\n\n",
           b->settle_seconds);

    printf("%-10s %10s %9s %10s  %s\n", "method", "seconds", "vs ours", "peak RSS", "notes");
    if (b->ours_copy)
        printf("%-10s %10.3f %8.2fx %7.1f MB  copy: %llu SST file%s, %.1f MB copied in %.3f s, "
               "ingest %.1f ms\n",
               "ours", b->ours_seconds, 1.0, rss_mb(b->ours_rss_kb),
               (unsigned long long)b->files_copied, b->files_copied == 1 ? "" : "s",
               mb(b->bytes_copied), b->copy_seconds, b->ingest_seconds * 1e3);
    else
        printf("%-10s %10.3f %8.2fx %7.1f MB  STREAMED (%s): %llu pieces, ingest %.1f ms\n", "ours",
               b->ours_seconds, 1.0, rss_mb(b->ours_rss_kb), b->stream_reason,
               (unsigned long long)b->pieces, b->ingest_seconds * 1e3);
    printf("%-10s %10.3f %8.2fx %7.1f MB  %llu files, %.1f MB, copy_file_range + fsync\n",
           "copy floor", b->copy_floor_seconds, ratio(b->copy_floor_seconds, b->ours_seconds),
           rss_mb(b->copy_floor_rss_kb), (unsigned long long)b->copy_floor_files,
           mb(b->copy_floor_bytes));
    printf("%-10s %10.3f %8.2fx %7.1f MB  stream, 1 thread, %llu piece%s\n", "stream 1",
           b->stream1_seconds, ratio(b->stream1_seconds, b->ours_seconds),
           rss_mb(b->stream1_rss_kb), (unsigned long long)b->stream1_pieces,
           b->stream1_pieces == 1 ? "" : "s");
    printf("%-10s %10.3f %8.2fx %7.1f MB  stream, %llu threads (one per core), %llu pieces\n",
           "stream N", b->streamn_seconds, ratio(b->streamn_seconds, b->ours_seconds),
           rss_mb(b->streamn_rss_kb), (unsigned long long)b->streamn_threads,
           (unsigned long long)b->streamn_pieces);
    printf("%-10s %10.3f %8.2fx %7.1f MB  one WriteBatch, %llu Puts, WAL not fsync'd\n", "put-loop",
           b->put_seconds, ratio(b->put_seconds, b->ours_seconds), rss_mb(b->put_rss_kb),
           (unsigned long long)b->put_keys);
    printf("%-10s %10.3f %8.2fx %7.1f MB  DELETE %.3f s + INSERT %.3f s + COMMIT %.3f s\n",
           "SQLite", b->sqlite_seconds, ratio(b->sqlite_seconds, b->ours_seconds),
           rss_mb(b->sqlite_rss_kb), b->sqlite_delete_seconds, b->sqlite_insert_seconds,
           b->sqlite_commit_seconds);
    printf("%-10s %10.3f %8.2fx %7.1f MB  read %.3f s + write %.1f MB and fsync %.3f s\n",
           "read floor", floor, ratio(floor, b->ours_seconds), rss_mb(b->floor_rss_kb),
           b->floor_read_seconds, mb(b->sst_bytes), b->floor_write_seconds);

    printf("\nswitch bytes: %llu = SST %llu + flush %llu + compaction %llu + WAL %llu\n",
           (unsigned long long)switch_bytes, (unsigned long long)b->sst_bytes,
           (unsigned long long)b->flush_bytes, (unsigned long long)b->compact_bytes,
           (unsigned long long)b->written_bytes);
    printf("reclaim (apart): %.3f s, %.1f MB compacted, peak RSS %.1f MB; db size %.1f MB "
           "before, %.1f MB after the switch, %.1f MB after reclaim\n",
           b->reclaim_seconds, mb(b->reclaim_compact_bytes), rss_mb(b->reclaim_rss_kb),
           mb(b->du_before), mb(b->du_switch), mb(b->du_reclaim));
    printf("SQLite: journal_mode DELETE, synchronous FULL; %llu rows deleted, %llu inserted; "
           "files: base %.1f MB (%llu rows), source %.1f MB (%llu rows)\n",
           (unsigned long long)b->sqlite_deleted, (unsigned long long)b->sqlite_inserted,
           mb(b->sqlite_base_bytes), (unsigned long long)b->sqlite_base_rows,
           mb(b->sqlite_source_bytes), (unsigned long long)b->sqlite_source_rows);
    printf("checked: ours, both streams and the put-loop left identical stores; " BENCH_SYNC
           " equals the source's (%llu keys)\n\n",
           (unsigned long long)b->verified_keys);

    printf("%-32s %12s %12s  %s\n", "target", "measured", "target", "result");
    for (size_t i = 0; i < nt; i++) {
        char measured[32], target[32];
        snprintf(measured, sizeof measured, "%.2f%s", t[i].value, t[i].unit);
        snprintf(target, sizeof target, "%s %.4g%s", target_ops[t[i].kind], t[i].target, t[i].unit);
        printf("%-32s %12s %12s  %s\n", t[i].name, measured, target,
               target_pass(&t[i]) ? "PASS" : "MISS");
    }
}

void bench_print_json(const struct bench *b, int memory_fs, int kept)
{
    double floor = b->floor_read_seconds + b->floor_write_seconds;
    uint64_t switch_bytes = b->sst_bytes + b->flush_bytes + b->compact_bytes + b->written_bytes;
    struct target t[12];
    size_t nt = bench_targets(b, t);
    struct buf j = BUF_INIT;
    buf_addf(&j, "{\"grants\":%llu,\"dir\":", (unsigned long long)b->grants);
    buf_add_json_string(&j, b->dir, strlen(b->dir));
    buf_addf(&j,
             ",\"cpus\":%ld,\"load_before\":%.2f,\"load_after\":%.2f,\"kept\":%s,\"memory_fs\":%s,"
             "\"page_cache\":\"warm\",\"base_keys\":%llu,"
             "\"source_keys\":%llu,\"setup_seconds\":%.6f,\"sqlite_fill_seconds\":%.6f",
             sysconf(_SC_NPROCESSORS_ONLN), b->load_before, b->load_after, kept ? "true" : "false",
             memory_fs ? "true" : "false", (unsigned long long)b->base_keys,
             (unsigned long long)b->source_keys, b->setup_seconds, b->sqlite_fill_seconds);
    buf_addf(&j,
             ",\"ours\":{\"settle_seconds\":%.6f,\"seconds\":%.6f,\"ingest_seconds\":%.6f,\"peak_"
             "rss_bytes\":%llu,"
             "\"keys\":%llu,\"bytes\":%llu,\"pieces\":%llu,\"sst_bytes\":%llu,"
             "\"flush_write_bytes\":%llu,\"compact_write_bytes\":%llu,\"bytes_written\":%llu,"
             "\"switch_bytes\":%llu,\"reclaim_seconds\":%.6f,\"reclaim_compact_write_bytes\":%llu,"
             "\"reclaim_peak_rss_bytes\":%llu,\"db_bytes_before\":%llu,"
             "\"db_bytes_after_switch\":%llu,\"db_bytes_after_reclaim\":%llu}",
             b->ours_settle_seconds, b->ours_seconds, b->ingest_seconds,
             (unsigned long long)b->ours_rss_kb * 1024, (unsigned long long)b->ours_keys,
             (unsigned long long)b->ours_bytes, (unsigned long long)b->pieces,
             (unsigned long long)b->sst_bytes, (unsigned long long)b->flush_bytes,
             (unsigned long long)b->compact_bytes, (unsigned long long)b->written_bytes,
             (unsigned long long)switch_bytes, b->reclaim_seconds,
             (unsigned long long)b->reclaim_compact_bytes,
             (unsigned long long)b->reclaim_rss_kb * 1024, (unsigned long long)b->du_before,
             (unsigned long long)b->du_switch, (unsigned long long)b->du_reclaim);
    buf_addf(&j,
             ",\"ours_method\":\"%s\",\"files_copied\":%llu,\"bytes_copied\":%llu,"
             "\"copy_seconds\":%.6f",
             b->ours_copy ? "copy" : "stream", (unsigned long long)b->files_copied,
             (unsigned long long)b->bytes_copied, b->copy_seconds);
    buf_addf(&j,
             ",\"copy_floor\":{\"seconds\":%.6f,\"vs_ours\":%.4f,\"files\":%llu,\"bytes\":%llu,"
             "\"peak_rss_bytes\":%llu}",
             b->copy_floor_seconds, ratio(b->copy_floor_seconds, b->ours_seconds),
             (unsigned long long)b->copy_floor_files, (unsigned long long)b->copy_floor_bytes,
             (unsigned long long)b->copy_floor_rss_kb * 1024);
    buf_addf(&j,
             ",\"stream_1\":{\"seconds\":%.6f,\"vs_ours\":%.4f,\"pieces\":%llu,\"threads\":1,"
             "\"peak_rss_bytes\":%llu},\"stream_n\":{\"seconds\":%.6f,\"vs_ours\":%.4f,"
             "\"pieces\":%llu,\"threads\":%llu,\"peak_rss_bytes\":%llu}",
             b->stream1_seconds, ratio(b->stream1_seconds, b->ours_seconds),
             (unsigned long long)b->stream1_pieces, (unsigned long long)b->stream1_rss_kb * 1024,
             b->streamn_seconds, ratio(b->streamn_seconds, b->ours_seconds),
             (unsigned long long)b->streamn_pieces, (unsigned long long)b->streamn_threads,
             (unsigned long long)b->streamn_rss_kb * 1024);
    buf_addf(&j,
             ",\"put_loop\":{\"settle_seconds\":%.6f,\"seconds\":%.6f,\"vs_ours\":%.4f,\"peak_rss_"
             "bytes\":%llu,"
             "\"keys\":%llu,\"bytes_written\":%llu}",
             b->put_settle_seconds, b->put_seconds, ratio(b->put_seconds, b->ours_seconds),
             (unsigned long long)b->put_rss_kb * 1024, (unsigned long long)b->put_keys,
             (unsigned long long)b->put_written_bytes);
    buf_addf(&j,
             ",\"sqlite\":{\"seconds\":%.6f,\"vs_ours\":%.4f,\"peak_rss_bytes\":%llu,"
             "\"journal_mode\":\"delete\",\"synchronous\":\"full\",\"delete_seconds\":%.6f,"
             "\"insert_seconds\":%.6f,\"commit_seconds\":%.6f,\"rows_deleted\":%llu,"
             "\"rows_inserted\":%llu,\"base_file_bytes\":%llu,\"source_file_bytes\":%llu}",
             b->sqlite_seconds, ratio(b->sqlite_seconds, b->ours_seconds),
             (unsigned long long)b->sqlite_rss_kb * 1024, b->sqlite_delete_seconds,
             b->sqlite_insert_seconds, b->sqlite_commit_seconds,
             (unsigned long long)b->sqlite_deleted, (unsigned long long)b->sqlite_inserted,
             (unsigned long long)b->sqlite_base_bytes, (unsigned long long)b->sqlite_source_bytes);
    buf_addf(&j,
             ",\"floor\":{\"seconds\":%.6f,\"vs_ours\":%.4f,\"peak_rss_bytes\":%llu,"
             "\"read_seconds\":%.6f,\"write_seconds\":%.6f,\"keys\":%llu,\"bytes\":%llu,"
             "\"write_bytes\":%llu}",
             floor, ratio(floor, b->ours_seconds), (unsigned long long)b->floor_rss_kb * 1024,
             b->floor_read_seconds, b->floor_write_seconds, (unsigned long long)b->floor_keys,
             (unsigned long long)b->floor_bytes, (unsigned long long)b->sst_bytes);
    buf_addf(&j, ",\"verified_keys\":%llu,\"targets\":[", (unsigned long long)b->verified_keys);
    for (size_t i = 0; i < nt; i++) {
        buf_addf(&j, "%s{\"name\":", i ? "," : "");
        buf_add_json_string(&j, t[i].name, strlen(t[i].name));
        buf_addf(&j, ",\"value\":%.6g,\"op\":\"%s\",\"target\":%.6g,\"pass\":%s}", t[i].value,
                 target_ops[t[i].kind], t[i].target, target_pass(&t[i]) ? "true" : "false");
    }
    buf_adds(&j, "]}");
    if (buf_error(&j))
        fprintf(stderr, "syncstore: error: cannot print the report: %s\n",
                engine_strerror(buf_error(&j)));
    else
        puts(j.data);
    buf_release(&j);
}