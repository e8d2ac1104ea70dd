/*
 * bench.c - `syncstore bench compact`: measures the compactor against the other
 * ways of replacing one sync, on the same generated data, in one run.
 *
 * The run builds, in a fresh work directory on a real disk: a base store holding
 * sync S (gen seed 1) and sync T (seed 3), an identical copy of it (cp -a), a
 * source store holding S with different contents (seed 2), and the same rows as
 * SQLite files with the baton c1z v1 schema.  The base is settled (the loader's
 * L0 backlog compacted) before it is copied, so both RocksDB methods start from
 * the same base at rest.  Then it times, each phase with its inputs just read
 * into the page cache (which cannot be dropped reliably) and every dirty page
 * written back first:
 *
 *   ours      compactor_run(base, source, S): the copy path (the source is
 *             built so that it qualifies: its sync in SST files at sequence
 *             number 0); then, apart, the reclaim of the old data's space
 *   stream    compactor_run with the copy path off, on copies of the base:
 *             one thread, then one per core
 *   copy floor  the source's SST files of S copied (copy_file_range) and
 *             fsync'd: what the copy path cannot beat
 *   put-loop  engine_replace_with_batch on the copy: one WriteBatch holding a
 *             DeleteRange and a Put per record of the source's range
 *   SQLite    what the baton SDK did: ATTACH the source, then in one transaction
 *             DELETE the sync's rows from each table and INSERT ... SELECT them
 *             from the source (rollback journal, synchronous=FULL)
 *   floor     reading the source's range alone plus writing and fsyncing as
 *             many bytes as ours wrote into SSTs: what no method can beat
 *
 * Every phase runs in a forked child so that its peak RSS is its own; the parent
 * never opens a store (RocksDB's threads and fork do not mix) and collects the
 * figures from a shared anonymous mapping.  Misses of the targets are reported,
 * not failures: the command fails only when a phase fails or the two RocksDB
 * methods do not end with the same store.
 *
 * This file runs the phases and owns the work directory; the phases are in
 * stores.c (RocksDB) and sqlite.c, the report in report.c, file chores in
 * files.c.
 */
#include "bench.h"

#include "bench_i.h"
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t bench_interrupted;

static void bench_on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Running the phases ---- */

struct phase {
    const char *name;
    int (*run)(struct bench *b);
    long *rss_kb;        /* where the child's whole peak RSS goes, or NULL */
    const char *warm[3]; /* files read into the page cache first; NULL ends */
};

/* Writes back the dirty pages of the work directory's filesystem, so that no
 * phase pays for an earlier one's writes in its fsyncs.  The page cache itself
 * stays warm: dropping it needs root and is not reliable. */
static void write_back(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        syncfs(fd);
        close(fd);
    }
}

/* Writes 256 MiB to a scratch file in the work directory, fsyncs it and
 * removes it: what the disk holds back after the big writes of the setup is
 * paid here, not by the first timed phase. */
static int settle_disk(struct bench *b)
{
    char *path = NULL;
    if (asprintf(&path, "%s/settle", b->dir) < 0)
        return EXIT_WORK;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    char *chunk = calloc(1, BENCH_WRITE_CHUNK);
    int rc = fd < 0 || !chunk ? EXIT_WORK : 0;
    for (size_t done = 0; rc == 0 && done < (256u << 20); done += BENCH_WRITE_CHUNK)
        if (write(fd, chunk, BENCH_WRITE_CHUNK) != (ssize_t)BENCH_WRITE_CHUNK)
            rc = EXIT_WORK;
    if (rc == 0 && fsync(fd) != 0)
        rc = EXIT_WORK;
    if (fd >= 0)
        close(fd);
    unlink(path);
    free(path);
    free(chunk);
    if (rc)
        cli_error("bench: cannot write the settling file in '%s'", b->dir);
    return rc;
}

/* Runs one phase in a forked child and waits for it.  Returns 0, EXIT_WORK
 * (the child printed why), or 130 when interrupted. */
static int run_phase(struct bench *b, const struct phase *p, int progress)
{
    if (progress)
        fprintf(stderr, "bench: %s...\n", p->name);
    char *chunk = malloc(BENCH_WRITE_CHUNK);
    for (int i = 0; chunk && i < 3 && p->warm[i]; i++)
        bench_warm_tree(p->warm[i], chunk, BENCH_WRITE_CHUNK);
    free(chunk);
    write_back(b->dir);
    if (bench_interrupted)
        return 130;
    fflush(NULL);
    double t0 = bench_now();
    pid_t pid = fork();
    if (pid < 0) {
        cli_error("cannot fork for the %s phase: %s", p->name, strerror(errno));
        return EXIT_WORK;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        int status = p->run(b);
        fflush(NULL);
        _exit(status);
    }
    int status;
    struct rusage ru;
    for (;;) {
        if (wait4(pid, &status, 0, &ru) == pid)
            break;
        if (errno != EINTR) {
            cli_error("cannot wait for the %s phase: %s", p->name, strerror(errno));
            return EXIT_WORK;
        }
        if (bench_interrupted)
            kill(pid, SIGTERM);
    }
    if (bench_interrupted)
        return 130;
    if (WIFSIGNALED(status)) {
        cli_error("the %s phase was killed by signal %d", p->name, WTERMSIG(status));
        return EXIT_WORK;
    }
    if (WEXITSTATUS(status))
        return EXIT_WORK;
    if (p->rss_kb)
        *p->rss_kb = ru.ru_maxrss;
    if (progress)
        fprintf(stderr, "bench: %s: %.1f s\n", p->name, bench_now() - t0);
    return 0;
}

/* ---- The benchmark ---- */

/* Names a file of the work directory; dir is short enough (checked). */
static void bench_path(char out[PATH_MAX], const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX)
        out[0] = '\0';
}

/* The parent of the work directory: --dir, else $TMPDIR unless it is a
 * tmpfs, else /var/tmp. */
static const char *bench_parent_dir(const char *dir)
{
    if (dir)
        return dir;
    const char *tmp = getenv("TMPDIR");
    if (tmp && *tmp && !bench_on_memory_fs(tmp))
        return tmp;
    return "/var/tmp";
}

int bench_compact(unsigned long long grants, const char *dir_option, int keep, int json)
{
    const char *parent = bench_parent_dir(dir_option);
    struct bench *b =
        mmap(NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) {
        cli_error("cannot map the shared results: %s", strerror(errno));
        return EXIT_WORK;
    }
    memset(b, 0, sizeof *b);
    b->grants = grants;
    int status = EXIT_WORK, made = 0;
    if ((size_t)snprintf(b->dir, sizeof b->dir, "%s/syncstore-bench-XXXXXX", parent) >=
        sizeof b->dir - 32) {
        cli_error("work directory parent '%s' is too long", parent);
        status = EXIT_USAGE;
        goto out;
    }
    if (!mkdtemp(b->dir)) {
        cli_error("cannot make a work directory under '%s': %s", parent, strerror(errno));
        goto out;
    }
    made = 1;
    int memory_fs = bench_on_memory_fs(b->dir);
    if (memory_fs)
        fprintf(stderr, "syncstore: warning: '%s' is a tmpfs: the figures will not be a disk's\n",
                b->dir);
    bench_path(b->base, b->dir, "base");
    bench_path(b->base_put, b->dir, "base-put");
    bench_path(b->source, b->dir, "source");
    bench_path(b->source_gen, b->dir, "source-gen");
    bench_path(b->base_s1, b->dir, "base-stream1");
    bench_path(b->base_sn, b->dir, "base-streamn");
    bench_path(b->copy_floor_dir, b->dir, "copy-floor");
    bench_path(b->sqlite_base, b->dir, "base.sqlite");
    bench_path(b->sqlite_source, b->dir, "source.sqlite");
    bench_path(b->floor_file, b->dir, "floor.bin");

    struct sigaction sa = {.sa_handler = bench_on_signal}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    const struct phase phases[] = {
        {"building the stores", bench_phase_setup, NULL, {NULL}},
        {"filling the SQLite files", bench_phase_sqlite_fill, NULL, {NULL}},
        /* untimed: the first timed phase after the SQLite files were written
         * paid for the disk still settling (0.47 s against 0.12 s for the
         * same 87 MB copy one phase later, in either order) */
        {"settling the disk (write and fsync 256 MiB, untimed)", settle_disk, NULL, {NULL}},
        {"ours (compactor_run, then reclaim)",
         bench_phase_ours,
         &b->reclaim_rss_kb,
         {b->source, b->base, NULL}},
        {"copy floor (copy the source's SST files, fsync)",
         bench_phase_copy_floor,
         &b->copy_floor_rss_kb,
         {b->source, NULL}},
        {"stream, 1 thread (compactor_run, no copy)",
         bench_phase_stream1,
         &b->stream1_rss_kb,
         {b->source, b->base_s1, NULL}},
        {"stream, one thread per core (compactor_run, no copy)",
         bench_phase_streamn,
         &b->streamn_rss_kb,
         {b->source, b->base_sn, NULL}},
        {"put-loop (engine_replace_with_batch)",
         bench_phase_put,
         &b->put_rss_kb,
         {b->source, b->base_put, NULL}},
        {"SQLite (DELETE + INSERT ... SELECT)",
         bench_phase_sqlite,
         &b->sqlite_rss_kb,
         {b->sqlite_source, b->sqlite_base, NULL}},
        {"floor (read the source, write and fsync)",
         bench_phase_floor,
         &b->floor_rss_kb,
         {b->source, NULL}},
        {"checking the results", bench_phase_verify, NULL, {NULL}},
    };
    int progress = isatty(2);
    getloadavg(&b->load_before, 1);
    for (size_t i = 0; i < sizeof phases / sizeof *phases; i++)
        if ((status = run_phase(b, &phases[i], progress)))
            break;
    getloadavg(&b->load_after, 1);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (status == 130)
        cli_error("interrupted");
    if (status)
        goto out;
    if (json)
        bench_print_json(b, memory_fs, keep);
    else
        bench_print_table(b, memory_fs);
out:
    if (made && keep) {
        fprintf(stderr, "bench: kept the work directory %s\n", b->dir);
    } else if (made) {
        int rc = bench_remove_tree(b->dir);
        if (rc) {
            cli_error("cannot remove the work directory '%s': %s", b->dir, strerror(-rc));
            status = status ? status : EXIT_WORK;
        }
    }
    munmap(b, sizeof *b);
    return status;
}
