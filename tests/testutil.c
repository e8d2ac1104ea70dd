/*
 * testutil.c - temp directories, fresh stores and shared fixtures for tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int tu_skipped;

int tu_exit(int failed)
{
    return failed ? 1 : tu_skipped ? 77 : 0;
}

char *tu_mkdtemp(void)
{
    const char *tmp = getenv("TMPDIR");
    char *path = NULL;
    if (asprintf(&path, "%s/syncstore-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        fail_msg("out of memory");
    if (!mkdtemp(path))
        fail_msg("mkdtemp %s failed", path);
    return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(char *path)
{
    if (!path)
        return;
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(path);
}

char *tu_join(const char *dir, const char *name)
{
    char *p = NULL;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        fail_msg("out of memory");
    return p;
}

engine *tu_create_store(const char *dir, const char *name)
{
    char *path = tu_join(dir, name);
    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(path, ENGINE_OPEN_CREATE, &e, &msg);
    if (rc)
        fail_msg("creating store %s: %s", path, msg ? msg : engine_strerror(rc));
    free(path);
    return e;
}

char *tu_shared_data(const char *relpath)
{
    const char *shared = getenv("SYNCSTORE_SHARED");
    char *p = NULL;
    if (asprintf(&p, "%s/data/%s", shared && *shared ? shared : "../shared", relpath) < 0)
        fail_msg("out of memory");
    return p;
}

int tu_read_file(const char *path, char **out, size_t *len)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return -errno;
    size_t n = 0, cap = 64;
    char *data = malloc(cap);
    if (!data) {
        fclose(in);
        return -ENOMEM;
    }
    int c;
    while ((c = fgetc(in)) != EOF) {
        if (n + 1 >= cap) {
            char *more = realloc(data, cap * 2);
            if (!more) {
                free(data);
                fclose(in);
                return -ENOMEM;
            }
            data = more;
            cap *= 2;
        }
        data[n++] = (char)c;
    }
    fclose(in);
    data[n] = '\0';
    *out = data;
    if (len)
        *len = n;
    return 0;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("cannot create %s", path);
    if (len && fwrite(data, 1, len, f) != len)
        fail_msg("cannot write %s", path);
    if (fclose(f))
        fail_msg("cannot close %s", path);
}

int tu_count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

uint64_t tu_hash_range(engine *e, const char *sync_id, const char *bucket, size_t *count)
{
    engine_iter *it = bucket ? engine_iter_new_bucket(e, NULL, sync_id, bucket)
                             : engine_iter_new_sync(e, NULL, sync_id);
    uint64_t h = 1469598103934665603ull;
    size_t n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), n++) {
        size_t kl, vl;
        const unsigned char *k = (const unsigned char *)engine_iter_disk_key(it, &kl);
        const unsigned char *v = (const unsigned char *)engine_iter_value(it, &vl);
        for (size_t i = 0; i < kl; i++)
            h = (h ^ k[i]) * 1099511628211ull;
        h = (h ^ 0x100) * 1099511628211ull; /* ends the key: no key/value ambiguity */
        for (size_t i = 0; i < vl; i++)
            h = (h ^ v[i]) * 1099511628211ull;
        h = (h ^ 0x200) * 1099511628211ull;
    }
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    if (count)
        *count = n;
    return h;
}

/* Runs the binary with argv[1..] and the environment envp (NULL: ours),
 * collecting its output and, when ru is not NULL, its resource use. */
static int run_syncstore(char **out, struct rusage *ru, char *const *envp, const char *arg,
                         va_list ap)
{
    const char *argv[16];
    const char *bin = getenv("SYNCSTORE_BIN");
    int n = 0;
    argv[n++] = bin && *bin ? bin : "./syncstore";
    for (const char *a = arg; a; a = va_arg(ap, const char *)) {
        assert_true(n < 15);
        argv[n++] = a;
    }
    argv[n] = NULL;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a fresh process: nothing of ours (RocksDB's threads) comes along */
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        close(pfd[1]);
        if (envp)
            execve(argv[0], (char *const *)argv, envp);
        else
            execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    FILE *in = fdopen(pfd[0], "r");
    assert_non_null(in);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    assert_non_null(mem);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0)
        fwrite(chunk, 1, got, mem);
    fclose(in);
    fclose(mem);
    int st = 0;
    struct rusage mine;
    while (wait4(pid, &st, 0, ru ? ru : &mine) < 0 && errno == EINTR)
        ;
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int tu_syncstore(char **out, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    int rc = run_syncstore(out, NULL, NULL, arg, ap);
    va_end(ap);
    return rc;
}

int tu_syncstore_rss(long *max_rss_kb, char **out, const char *arg, ...)
{
    extern char **environ;
    /* Our environment with ASan's quarantine of freed memory turned off (it
     * holds up to 256 MB of freed blocks: an RSS that grows with the work done,
     * not with what is held).  Binaries built without ASan ignore it. */
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp);
    assert_non_null(envp);
    size_t k = 0;
    const char *asan = getenv("ASAN_OPTIONS");
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13))
            envp[k++] = environ[i];
    char *opt = NULL;
    assert_true(asprintf(&opt,
                         "ASAN_OPTIONS=%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
                         asan ? asan : "", asan && *asan ? ":" : "") >= 0);
    envp[k++] = opt;
    envp[k] = NULL;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    va_list ap;
    va_start(ap, arg);
    int rc = run_syncstore(out, &ru, envp, arg, ap);
    va_end(ap);
    *max_rss_kb = ru.ru_maxrss;
    free(opt);
    free(envp);
    return rc;
}

char *tu_largest_sst(const char *db)
{
    DIR *d = opendir(db);
    assert_non_null(d);
    struct dirent *de;
    char *best = NULL;
    off_t best_size = -1;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 4 || strcmp(de->d_name + n - 4, ".sst"))
            continue;
        char *p = tu_join(db, de->d_name);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        if (st.st_size > best_size) {
            free(best);
            best = p;
            best_size = st.st_size;
        } else {
            free(p);
        }
    }
    closedir(d);
    assert_non_null(best);
    return best;
}

void tu_ingest_syncs(engine *from, engine *to, const char *const *syncs, int one_file)
{
    engine_ingest *ing = NULL;
    assert_int_equal(engine_ingest_new(to, &ing, NULL), 0);
    engine_sst *w = NULL;
    for (size_t s = 0; syncs[s]; s++) {
        if (!w || !one_file)
            assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
        engine_iter *it = engine_iter_new_sync(from, NULL, syncs[s]);
        assert_non_null(it);
        for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
            size_t kl, vl;
            const char *k = engine_iter_disk_key(it, &kl);
            const char *v = engine_iter_value(it, &vl);
            assert_int_equal(engine_sst_put(w, k, kl, v, vl, NULL), 0);
        }
        assert_int_equal(engine_iter_status(it, NULL), 0);
        engine_iter_free(it);
        if (!one_file || !syncs[s + 1])
            assert_int_equal(engine_sst_finish(w, NULL), 0);
    }
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
}
