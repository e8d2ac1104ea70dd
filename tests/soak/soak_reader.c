/*
 * soak_reader.c - one reader process of tools/campaigns/soak.sh, and the merge of their
 * figures.  Plain C (gnu11), no dependency beyond libc.
 *
 *   soak_reader run MNT MODE ID OUT EXPECT SYNC...
 *       Walks the mount until SIGTERM/SIGINT, then writes its figures to OUT
 *       (text, see write_stats) and exits 0; errors go to OUT.err (the first
 *       100 in full).  SIGUSR1 switches the phase from "idle" to "busy" (the
 *       compactions started): every operation is counted, and its latency
 *       recorded, in the phase it started in.
 *   soak_reader merge OUT...
 *       Adds the figures of all readers and prints them with the p50/p90/p99/
 *       max latencies per phase; the last line is "TOTAL errors=N ...".
 *
 * MODE is one of
 *   cat    walk one bucket of one sync (a "walk": see below) and read files
 *          (open, fstat, read to EOF, close); about SOAK_SAMPLE (default 1000)
 *          files per walk, evenly spread, so that a walk of a 200,000-key
 *          bucket does not take minutes
 *   find   walk one bucket, listing only (readdir, d_type): like find -type f
 *   ls     walk one bucket with an fstatat of every entry: like ls -lR
 *   path   like cat, but every directory and file is opened by its full path
 *          from the mount root, the way `find MNT -exec cat {} +` would
 *   mixed  list the root (every sync and ctl must be there), read ctl/stats
 *          and every ctl/compact/<sync>, then a cat walk of a small bucket
 *
 * A walk opens MNT/<sync> once and reaches everything below through that
 * descriptor (openat/fdopendir), streaming: one open directory per level, one
 * readdir buffer each, nothing listed into memory.  MOUNT.md "Consistency":
 * MNT/<sync> is a version of the sync, and everything reached through it reads
 * that version, whether or not a compaction replaced it meanwhile; an old
 * version stays readable while in use (up to version_max_age, 3600 s by
 * default, never reached here).  So for cat/find/ls/mixed every failed call is
 * an error, ENOENT and ESTALE included, a file must read exactly st_size
 * bytes, and a complete walk must count exactly the files of one version of
 * that bucket (EXPECT: lines "SYNC BUCKET KEYS_A KEYS_B").
 *
 * Mode "path" re-resolves every path from the root, so after a switch it may
 * step from the old version into the new one: a name listed in the old version
 * and gone from the new one then answers ENOENT.  That is the documented
 * behaviour (a walk from the root sees the new sync), so in this mode ENOENT
 * is counted as "vanished", not as an error, and walks are not counted
 * against EXPECT.  Every other errno is still an error.
 *
 * Latency is measured with CLOCK_MONOTONIC around each file's
 * openat..close (the read latency) and around each directory's
 * opendir + readdir calls (the listing latency, without the time spent in
 * subdirectories).  Every read ends with posix_fadvise(POSIX_FADV_DONTNEED)
 * so that the next read of that file goes to the daemon again instead of the
 * page cache (the mount keeps file pages: keep_cache): the figures measure the
 * daemon, idle and during compactions alike.
 */
#ifndef _GNU_SOURCE /* the project build defines it */
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- Histograms: log-linear buckets of nanoseconds, about 3% wide ---- */

#define SUB 32
#define NBUCKETS (64 + 58 * SUB)

static int bucket_of(uint64_t v)
{
    if (v < 64)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* >= 6 */
    int sub = (int)((v >> (e - 5)) & (SUB - 1));
    return 64 + (e - 6) * SUB + sub;
}

static uint64_t bucket_mid(int i)
{
    if (i < 64)
        return (uint64_t)i;
    int e = (i - 64) / SUB + 6, sub = (i - 64) % SUB;
    uint64_t lo = (uint64_t)(SUB + sub) << (e - 5);
    uint64_t width = (uint64_t)1 << (e - 5);
    return lo + width / 2;
}

struct hist {
    uint64_t n[NBUCKETS];
    uint64_t count, max;
};

static void hist_add(struct hist *h, uint64_t ns)
{
    h->n[bucket_of(ns)]++;
    h->count++;
    if (ns > h->max)
        h->max = ns;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->count);
    if (want >= h->count)
        want = h->count - 1;
    uint64_t seen = 0;
    for (int i = 0; i < NBUCKETS; i++) {
        seen += h->n[i];
        if (seen > want)
            return bucket_mid(i) < h->max ? bucket_mid(i) : h->max;
    }
    return h->max;
}

/* ---- Figures, per phase ---- */

enum { IDLE, BUSY, NPHASES };
static const char *const phase_names[NPHASES] = {"idle", "busy"};

#define COUNTERS(X)                                                                                \
    X(reads)                                                                                       \
    X(read_bytes)                                                                                  \
    X(listings)                                                                                    \
    X(entries)                                                                                     \
    X(stats)                                                                                       \
    X(ctl_reads)                                                                                   \
    X(walks)                                                                                       \
    X(walks_cut)                                                                                   \
    X(seen_a)                                                                                      \
    X(seen_b)                                                                                      \
    X(seen_either)                                                                                 \
    X(vanished)                                                                                    \
    X(errors)

struct figures {
#define DECL(name) uint64_t name;
    COUNTERS(DECL)
#undef DECL
    struct hist read_ns, list_ns;
};

static struct figures fig[NPHASES];
static volatile sig_atomic_t phase = IDLE, stop = 0;
static FILE *errlog;
static uint64_t errors_logged;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        phase = BUSY;
    else
        stop = 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void error_at(int ph, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void error_at(int ph, const char *fmt, ...)
{
    fig[ph].errors++;
    if (errlog && errors_logged++ < 100) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(errlog, "[%s] ", phase_names[ph]);
        vfprintf(errlog, fmt, ap);
        fputc('\n', errlog);
        fflush(errlog);
        va_end(ap);
    }
}

/* ---- Expectations: files per bucket in versions A and B ---- */

struct expect {
    char sync[160], bucket[80];
    uint64_t a, b;
};
static struct expect *expects;
static size_t nexpects;

static void load_expect(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "soak_reader: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    struct expect e;
    while (fscanf(f, "%159s %79s %" SCNu64 " %" SCNu64, e.sync, e.bucket, &e.a, &e.b) == 4) {
        expects = realloc(expects, (nexpects + 1) * sizeof *expects);
        if (!expects)
            abort();
        expects[nexpects++] = e;
    }
    fclose(f);
}

static const struct expect *find_expect(const char *sync, const char *bucket)
{
    for (size_t i = 0; i < nexpects; i++)
        if (!strcmp(expects[i].sync, sync) && !strcmp(expects[i].bucket, bucket))
            return &expects[i];
    return NULL;
}

static size_t buckets_of(const char *sync, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < nexpects && n < max; i++)
        if (!strcmp(expects[i].sync, sync))
            out[n++] = expects[i].bucket;
    return n;
}

/* ---- Walking ---- */

enum mode { M_CAT, M_FIND, M_LS, M_PATH, M_MIXED };

struct walk {
    enum mode mode;
    int by_path;         /* M_PATH: reopen everything by its full path */
    uint64_t every;      /* read one file in `every` */
    uint64_t files;      /* regular files seen */
    int cut;             /* stopped before the end */
    char path[PATH_MAX]; /* the current directory's full path (messages; M_PATH opens) */
};

static char iobuf[1 << 16];

/* Reads one file (dirfd-relative, or by its full path) and records it. */
static void read_file(struct walk *w, int dfd, const char *name)
{
    int ph = phase;
    size_t plen = strlen(w->path);
    if (plen + 1 + strlen(name) + 1 > sizeof w->path) {
        error_at(ph, "path too long under %s", w->path);
        return;
    }
    w->path[plen] = '/';
    memcpy(w->path + plen + 1, name, strlen(name) + 1);
    uint64_t t0 = now_ns();
    int fd =
        w->by_path ? open(w->path, O_RDONLY | O_CLOEXEC) : openat(dfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (w->by_path && errno == ENOENT)
            fig[ph].vanished++;
        else
            error_at(ph, "open %s: %s", w->path, strerror(errno));
        w->path[plen] = '\0';
        return;
    }
    struct stat st;
    uint64_t total = 0;
    int bad = 0;
    if (fstat(fd, &st) != 0) {
        error_at(ph, "fstat %s: %s", w->path, strerror(errno));
        bad = 1;
    }
    while (!bad) {
        ssize_t r = read(fd, iobuf, sizeof iobuf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            error_at(ph, "read %s at %" PRIu64 ": %s", w->path, total, strerror(errno));
            bad = 1;
            break;
        }
        if (r == 0)
            break;
        total += (uint64_t)r;
    }
    if (!bad && total != (uint64_t)st.st_size)
        error_at(ph, "read %s: %" PRIu64 " bytes, st_size %lld", w->path, total,
                 (long long)st.st_size);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (close(fd) != 0)
        error_at(ph, "close %s: %s", w->path, strerror(errno));
    uint64_t t1 = now_ns();
    if (!bad) {
        fig[ph].reads++;
        fig[ph].read_bytes += total;
        hist_add(&fig[ph].read_ns, t1 - t0);
    }
    w->path[plen] = '\0';
}

/* Walks the directory open at fd (taken over), w->path being its path. */
static void walk_dir(struct walk *w, int fd)
{
    int ph = phase;
    uint64_t spent = 0, t0 = now_ns();
    DIR *d = fd >= 0 ? fdopendir(fd) : opendir(w->path);
    spent += now_ns() - t0;
    if (!d) {
        if (w->by_path && errno == ENOENT)
            fig[ph].vanished++;
        else
            error_at(ph, "opendir %s: %s", w->path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t plen = strlen(w->path);
    for (;;) {
        if (stop) {
            w->cut = 1;
            break;
        }
        errno = 0;
        t0 = now_ns();
        struct dirent *e = readdir(d);
        spent += now_ns() - t0;
        if (!e) {
            if (errno) {
                error_at(ph, "readdir %s: %s", w->path, strerror(errno));
                w->cut = 1;
            }
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        fig[ph].entries++;
        unsigned char type = e->d_type;
        if (w->mode == M_LS || type == DT_UNKNOWN) {
            struct stat st;
            int r;
            if (w->by_path) {
                char p[PATH_MAX];
                int pl = snprintf(p, sizeof p, "%s/%s", w->path, e->d_name);
                if (pl < 0 || (size_t)pl >= sizeof p) {
                    errno = ENAMETOOLONG; /* counted as an error below */
                    r = -1;
                } else {
                    r = lstat(p, &st);
                }
            } else {
                r = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW);
            }
            if (r != 0) {
                if (w->by_path && errno == ENOENT)
                    fig[ph].vanished++;
                else
                    error_at(ph, "stat %s/%s: %s", w->path, e->d_name, strerror(errno));
                continue;
            }
            fig[ph].stats++;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
        }
        if (type == DT_DIR) {
            if (plen + 1 + strlen(e->d_name) + 1 > sizeof w->path) {
                error_at(ph, "path too long under %s", w->path);
                continue;
            }
            int cfd = -1;
            if (!w->by_path) {
                cfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (cfd < 0) {
                    error_at(ph, "open dir %s/%s: %s", w->path, e->d_name, strerror(errno));
                    continue;
                }
            }
            w->path[plen] = '/';
            memcpy(w->path + plen + 1, e->d_name, strlen(e->d_name) + 1);
            /* the time in this directory stops while the child is walked */
            walk_dir(w, cfd);
            w->path[plen] = '\0';
        } else if (type == DT_REG) {
            w->files++;
            if ((w->mode == M_CAT || w->mode == M_PATH || w->mode == M_MIXED) &&
                w->files % w->every == 0)
                read_file(w, dirfd(d), e->d_name);
        } else {
            error_at(ph, "%s/%s: neither a file nor a directory (d_type %d)", w->path, e->d_name,
                     (int)e->d_type);
        }
    }
    t0 = now_ns();
    closedir(d);
    spent += now_ns() - t0;
    fig[ph].listings++;
    hist_add(&fig[ph].list_ns, spent);
}

/* One walk of MNT/sync/bucket; checks the file count against EXPECT. */
static void walk_bucket(const char *mnt, const char *sync, const char *bucket, enum mode mode,
                        uint64_t sample)
{
    int ph = phase;
    const struct expect *ex = find_expect(sync, bucket);
    struct walk w = {.mode = mode, .by_path = mode == M_PATH, .every = 1};
    uint64_t most = ex ? (ex->a > ex->b ? ex->a : ex->b) : 0;
    if (sample && most > sample)
        w.every = most / sample;
    int fd = -1;
    if (w.by_path) {
        snprintf(w.path, sizeof w.path, "%s/%s/%s", mnt, sync, bucket);
    } else {
        /* the version: one open of MNT/<sync>; everything else relative to it */
        snprintf(w.path, sizeof w.path, "%s/%s", mnt, sync);
        int vfd = open(w.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (vfd < 0) {
            error_at(ph, "open %s: %s", w.path, strerror(errno));
            return;
        }
        fd = openat(vfd, bucket, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int saved = errno;
        close(vfd); /* fd keeps the version */
        snprintf(w.path, sizeof w.path, "%s/%s/%s", mnt, sync, bucket);
        if (fd < 0) {
            error_at(ph, "open %s: %s", w.path, strerror(saved));
            return;
        }
    }
    walk_dir(&w, fd);
    if (w.cut) {
        fig[ph].walks_cut++;
        return;
    }
    fig[ph].walks++;
    if (w.by_path || !ex)
        return;
    if (w.files == ex->a && w.files == ex->b)
        fig[ph].seen_either++;
    else if (w.files == ex->a)
        fig[ph].seen_a++;
    else if (w.files == ex->b)
        fig[ph].seen_b++;
    else
        error_at(ph,
                 "walk of %s/%s counted %" PRIu64 " files: neither version A (%" PRIu64
                 ") nor B (%" PRIu64 ")",
                 sync, bucket, w.files, ex->a, ex->b);
}

/* Reads a whole small file (ctl) into buf; returns its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
        if (r == 0 || (n += (size_t)r) >= size - 1)
            break;
    }
    close(fd);
    buf[n] = '\0';
    return (ssize_t)n;
}

static char ctlbuf[1 << 20];

/* mixed: the root, ctl/stats and every ctl/compact/<sync>. */
static void mixed_round(const char *mnt, char **syncs, int nsyncs)
{
    int ph = phase;
    uint64_t t0 = now_ns();
    DIR *d = opendir(mnt);
    if (!d) {
        error_at(ph, "opendir %s: %s", mnt, strerror(errno));
        return;
    }
    int found_ctl = 0, found[64] = {0};
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d))) {
        fig[ph].entries++;
        if (!strcmp(e->d_name, "ctl"))
            found_ctl = 1;
        for (int i = 0; i < nsyncs && i < 64; i++)
            if (!strcmp(e->d_name, syncs[i]))
                found[i] = 1;
        errno = 0;
    }
    if (errno)
        error_at(ph, "readdir %s: %s", mnt, strerror(errno));
    closedir(d);
    fig[ph].listings++;
    hist_add(&fig[ph].list_ns, now_ns() - t0);
    if (!found_ctl)
        error_at(ph, "%s lists no ctl", mnt);
    for (int i = 0; i < nsyncs && i < 64; i++)
        if (!found[i])
            error_at(ph, "%s does not list sync %s", mnt, syncs[i]);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ctl/stats", mnt);
    ssize_t n = slurp(path, ctlbuf, sizeof ctlbuf);
    if (n < 0)
        error_at(ph, "read %s: %s", path, strerror(errno));
    else if (n < 2 || ctlbuf[0] != '{' || !strstr(ctlbuf, "\"compactions\""))
        error_at(ph, "%s: not the stats object: %.200s", path, ctlbuf);
    else
        fig[ph].ctl_reads++;
    for (int i = 0; i < nsyncs; i++) {
        snprintf(path, sizeof path, "%s/ctl/compact/%s", mnt, syncs[i]);
        n = slurp(path, ctlbuf, sizeof ctlbuf);
        if (n < 0)
            error_at(ph, "read %s: %s", path, strerror(errno));
        else if (!strstr(ctlbuf, "\"state\":\""))
            error_at(ph, "%s: not a status: %.200s", path, ctlbuf);
        else
            fig[ph].ctl_reads++;
    }
}

/* ---- Output ---- */

static void write_stats(const char *out, int id, const char *mode)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "soak_reader: cannot write %s: %s\n", tmp, strerror(errno));
        exit(1);
    }
    fprintf(f, "reader %d %s\n", id, mode);
    for (int p = 0; p < NPHASES; p++) {
        const struct figures *g = &fig[p];
#define PUT(name) fprintf(f, "count %s %s %" PRIu64 "\n", phase_names[p], #name, g->name);
        COUNTERS(PUT)
#undef PUT
        for (int i = 0; i < NBUCKETS; i++) {
            if (g->read_ns.n[i])
                fprintf(f, "hist %s read %d %" PRIu64 "\n", phase_names[p], i, g->read_ns.n[i]);
            if (g->list_ns.n[i])
                fprintf(f, "hist %s list %d %" PRIu64 "\n", phase_names[p], i, g->list_ns.n[i]);
        }
        fprintf(f, "max %s read %" PRIu64 "\n", phase_names[p], g->read_ns.max);
        fprintf(f, "max %s list %" PRIu64 "\n", phase_names[p], g->list_ns.max);
    }
    fprintf(f, "end\n");
    if (fclose(f) != 0 || rename(tmp, out) != 0) {
        fprintf(stderr, "soak_reader: cannot write %s: %s\n", out, strerror(errno));
        exit(1);
    }
}

static enum mode parse_mode(const char *s)
{
    static const char *const names[] = {"cat", "find", "ls", "path", "mixed"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, names[i]))
            return (enum mode)i;
    fprintf(stderr, "soak_reader: unknown mode '%s'\n", s);
    exit(2);
}

static int cmd_run(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: soak_reader run MNT MODE ID OUT EXPECT SYNC...\n");
        return 2;
    }
    const char *mnt = argv[2], *mode_name = argv[3], *out = argv[5];
    enum mode mode = parse_mode(mode_name);
    int id = atoi(argv[4]);
    load_expect(argv[6]);
    char **syncs = argv + 7;
    int nsyncs = argc - 7;
    if (nsyncs < 1 || nsyncs > 64) {
        fprintf(stderr, "soak_reader: 1 to 64 syncs\n");
        return 2;
    }
    const char *s = getenv("SOAK_SAMPLE");
    uint64_t sample = s ? strtoull(s, NULL, 10) : 1000;

    char errpath[PATH_MAX];
    snprintf(errpath, sizeof errpath, "%s.err", out);
    errlog = fopen(errpath, "w");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    uint64_t rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1) ^ now_ns();
    for (uint64_t round = 0; !stop; round++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        const char *sync = syncs[(round + (uint64_t)id) % (uint64_t)nsyncs];
        const char *bk[64];
        size_t nb = buckets_of(sync, bk, 64);
        if (!nb) {
            fprintf(stderr, "soak_reader: no buckets of %s in the expectations\n", sync);
            return 2;
        }
        if (mode == M_MIXED) {
            mixed_round(mnt, syncs, nsyncs);
            /* then a cat walk of the smallest bucket of this sync */
            const struct expect *small = NULL;
            for (size_t i = 0; i < nb; i++) {
                const struct expect *ex = find_expect(sync, bk[i]);
                if (!small || ex->a < small->a)
                    small = ex;
            }
            if (small)
                walk_bucket(mnt, sync, small->bucket, M_MIXED, sample);
        } else {
            walk_bucket(mnt, sync, bk[rng % nb], mode, sample);
        }
    }
    write_stats(out, id, mode_name);
    if (errlog)
        fclose(errlog);
    return 0;
}

/* ---- merge ---- */

static void print_hist(const char *what, const char *ph, const struct hist *h)
{
    if (!h->count) {
        printf("  %-4s %-7s latency: no samples\n", ph, what);
        return;
    }
    printf("  %-4s %-7s latency (%" PRIu64
           "): p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n",
           ph, what, h->count, hist_pct(h, 50) / 1e6, hist_pct(h, 90) / 1e6, hist_pct(h, 99) / 1e6,
           h->max / 1e6);
}

static int cmd_merge(int argc, char **argv)
{
    int bad = 0, readers = 0;
    for (int a = 2; a < argc; a++) {
        FILE *f = fopen(argv[a], "r");
        if (!f) {
            printf("  reader figures missing: %s\n", argv[a]);
            bad++;
            continue;
        }
        char line[256], p[16], what[32];
        int ended = 0, i;
        uint64_t v;
        while (fgets(line, sizeof line, f)) {
            int ph;
            if (sscanf(line, "count %15s %31s %" SCNu64, p, what, &v) == 3) {
                ph = !strcmp(p, "busy");
#define GET(name)                                                                                  \
    if (!strcmp(what, #name))                                                                      \
        fig[ph].name += v;
                COUNTERS(GET)
#undef GET
            } else if (sscanf(line, "hist %15s %31s %d %" SCNu64, p, what, &i, &v) == 4 && i >= 0 &&
                       i < NBUCKETS) {
                ph = !strcmp(p, "busy");
                struct hist *h = !strcmp(what, "read") ? &fig[ph].read_ns : &fig[ph].list_ns;
                h->n[i] += v;
                h->count += v;
            } else if (sscanf(line, "max %15s %31s %" SCNu64, p, what, &v) == 3) {
                ph = !strcmp(p, "busy");
                struct hist *h = !strcmp(what, "read") ? &fig[ph].read_ns : &fig[ph].list_ns;
                if (v > h->max)
                    h->max = v;
            } else if (!strncmp(line, "end", 3)) {
                ended = 1;
            }
        }
        fclose(f);
        if (!ended) {
            printf("  reader figures truncated: %s\n", argv[a]);
            bad++;
        }
        readers++;
    }
    uint64_t errors = 0, reads = 0, listings = 0, walks = 0;
    for (int p = 0; p < NPHASES; p++) {
        const struct figures *g = &fig[p];
        printf("  %s: reads %" PRIu64 " (%.1f MB), listings %" PRIu64 " (%" PRIu64
               " entries, %" PRIu64 " stats), ctl reads %" PRIu64 ", walks %" PRIu64
               " complete + %" PRIu64 " cut at the end; versions seen A %" PRIu64 " B %" PRIu64
               " either %" PRIu64 "; vanished (path mode) %" PRIu64 "; errors %" PRIu64 "\n",
               phase_names[p], g->reads, g->read_bytes / 1e6, g->listings, g->entries, g->stats,
               g->ctl_reads, g->walks, g->walks_cut, g->seen_a, g->seen_b, g->seen_either,
               g->vanished, g->errors);
        errors += g->errors;
        reads += g->reads;
        listings += g->listings;
        walks += g->walks;
    }
    for (int p = 0; p < NPHASES; p++)
        print_hist("read", phase_names[p], &fig[p].read_ns);
    for (int p = 0; p < NPHASES; p++)
        print_hist("listing", phase_names[p], &fig[p].list_ns);
    printf("TOTAL readers=%d missing=%d errors=%" PRIu64 " reads=%" PRIu64 " listings=%" PRIu64
           " walks=%" PRIu64
           " idle_p50_us=%.0f idle_p99_us=%.0f busy_p50_us=%.0f busy_p99_us=%.0f\n",
           readers, bad, errors, reads, listings, walks, hist_pct(&fig[IDLE].read_ns, 50) / 1e3,
           hist_pct(&fig[IDLE].read_ns, 99) / 1e3, hist_pct(&fig[BUSY].read_ns, 50) / 1e3,
           hist_pct(&fig[BUSY].read_ns, 99) / 1e3);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "run"))
        return cmd_run(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "merge"))
        return cmd_merge(argc, argv);
    fprintf(stderr, "usage: soak_reader run MNT MODE ID OUT EXPECT SYNC...\n"
                    "       soak_reader merge OUT...\n");
    return 2;
}
