/*
 * bench_i.h - what the files of the benchmark share: the work directory's
 * layout and every figure, in one struct bench that the forked phases fill in
 * a shared mapping; the phases; the report.
 */
#ifndef SYNCSTORE_BENCH_I_H
#define SYNCSTORE_BENCH_I_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

#define BENCH_SYNC "S"  /* the sync replaced */
#define BENCH_OTHER "T" /* the sync that must stay untouched */
#define BENCH_SEED_BASE 1
#define BENCH_SEED_SOURCE 2
#define BENCH_SEED_OTHER 3
#define BENCH_DISCOVERED_AT "2024-01-01 00:00:00"
#define BENCH_WRITE_CHUNK (1u << 20)
#define BENCH_SETTLE_MAX 1800 /* seconds a store may take to finish its compactions */

/* Everything the phases share: set up by the parent, filled in by the children
 * in a MAP_SHARED mapping. */
struct bench {
    uint64_t grants;
    double load_before, load_after; /* 1-minute load averages around the run */
    char dir[PATH_MAX];
    char base[PATH_MAX], base_put[PATH_MAX], source[PATH_MAX], source_gen[PATH_MAX];
    char base_s1[PATH_MAX], base_sn[PATH_MAX], copy_floor_dir[PATH_MAX];
    char sqlite_base[PATH_MAX], sqlite_source[PATH_MAX], floor_file[PATH_MAX];

    /* setup */
    double setup_seconds, settle_seconds, sqlite_fill_seconds;
    uint64_t base_keys, source_keys;
    uint64_t sqlite_base_rows, sqlite_source_rows, sqlite_base_bytes, sqlite_source_bytes;

    /* ours */
    double ours_settle_seconds, ours_seconds, ingest_seconds;
    uint64_t ours_keys, ours_bytes, pieces, sst_bytes;
    uint64_t flush_bytes, compact_bytes, written_bytes;
    long ours_rss_kb;
    double reclaim_seconds;
    uint64_t reclaim_compact_bytes;
    long reclaim_rss_kb;
    uint64_t du_before, du_switch, du_reclaim;

    /* ours: the path it took (1: copy) and the copy's figures */
    int ours_copy;
    uint64_t files_copied, bytes_copied;
    double copy_seconds;
    char stream_reason[256];

    /* the streaming path, forced (no copy): one thread, then one per core */
    double stream1_seconds, streamn_seconds;
    uint64_t stream1_pieces, streamn_pieces, streamn_threads, stream_keys;
    long stream1_rss_kb, streamn_rss_kb;

    /* copy floor: copying the source's SST files of the sync, fsync'd */
    double copy_floor_seconds;
    uint64_t copy_floor_files, copy_floor_bytes;
    long copy_floor_rss_kb;

    /* put-loop */
    double put_settle_seconds, put_seconds;
    uint64_t put_keys, put_written_bytes;
    long put_rss_kb;

    /* SQLite */
    double sqlite_seconds, sqlite_delete_seconds, sqlite_insert_seconds, sqlite_commit_seconds;
    uint64_t sqlite_deleted, sqlite_inserted;
    long sqlite_rss_kb;

    /* floor */
    double floor_read_seconds, floor_write_seconds;
    uint64_t floor_keys, floor_bytes;
    long floor_rss_kb;

    /* verify */
    uint64_t verified_keys;
};

/* ---- Shared helpers (bench.c, files.c) ---- */

double bench_now(void);
uint64_t bench_du_store(const char *store);
void bench_warm_tree(const char *path, char *chunk, size_t chunk_len);
uint64_t bench_file_size(const char *path);
int bench_remove_tree(const char *path);
int bench_on_memory_fs(const char *path);
int bench_copy_store(const char *src, const char *dst, char **msg);

/* ---- The phases: each runs in its own child and returns its exit status,
 * having printed why it failed ---- */

int bench_phase_setup(struct bench *b);       /* stores.c */
int bench_phase_ours(struct bench *b);        /* stores.c */
int bench_phase_put(struct bench *b);         /* stores.c */
int bench_phase_floor(struct bench *b);       /* stores.c */
int bench_phase_stream1(struct bench *b);     /* stores.c */
int bench_phase_streamn(struct bench *b);     /* stores.c */
int bench_phase_copy_floor(struct bench *b);  /* stores.c */
int bench_phase_verify(struct bench *b);      /* stores.c */
int bench_phase_sqlite_fill(struct bench *b); /* sqlite.c */
int bench_phase_sqlite(struct bench *b);      /* sqlite.c */

/* ---- The report (report.c) ---- */

void bench_print_table(const struct bench *b, int memory_fs);
void bench_print_json(const struct bench *b, int memory_fs, int kept);

#endif
