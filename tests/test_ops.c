/*
 * test_ops.c - the operations commands: `check` (format marker, staging
 * leftovers, SST checksums including data hidden by range tombstones, keys
 * and metadata that do not decode) and `backup` (a checkpoint that is itself a
 * store, equal to the source, refusing to overwrite, never changing the
 * source, consistent while another process holds and changes the store).
 *
 * The commands run in this process (cmd_check, cmd_backup) with their output
 * captured.  A second process that holds a store is this program again, run
 * as "test_ops --hold STORE [--churn]": it opens the store read-write, says
 * "ready" on stdout, and (with --churn) replaces one sync over and over until
 * its stdin closes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "commands.h"
#include "engine.h"
#include "engine_admin.h"
#include "gen.h"
#include "loader.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
    char *dir;
    char *store;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->store = tu_join(f->dir, "store");
    engine_close(tu_create_store(f->dir, "store"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    free(f->store);
    tu_rmtree(f->dir);
    free(f);
    return 0;
}

/* Generates sync_id into e through a replace-mode loader, as cmd_gen does. */
static void gen_into(engine *e, const char *sync_id, uint64_t grants, uint64_t seed)
{
    struct loader_options lopt = {.replace = 1, .default_sync = NULL, .chunk_bytes = 0};
    struct gen_options gopt = {.sync_id = sync_id, .grants = grants, .seed = seed};
    loader *l = NULL;
    char *msg = NULL;
    int rc = loader_new(e, &lopt, &l, &msg);
    if (rc == 0)
        rc = gen_run(l, &gopt, NULL, &msg);
    if (rc == 0)
        rc = loader_commit(l, NULL, &msg);
    if (rc)
        fail_msg("gen %s: %s", sync_id, msg ? msg : engine_strerror(rc));
    loader_free(l);
}

static engine *open_store(const char *path, int flags)
{
    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(path, flags, &e, &msg);
    if (rc)
        fail_msg("open %s: %s", path, msg ? msg : engine_strerror(rc));
    return e;
}

/* Two syncs and one metadata record of each kind syncstore writes. */
static void fill(const char *store)
{
    engine *e = open_store(store, ENGINE_OPEN_READ_WRITE);
    gen_into(e, "s1", 2000, 1);
    gen_into(e, "s2", 300, 2);
    assert_int_equal(engine_reclaim_hint(e, "s1", NULL), 0);
    const char *status = "{\"sync_id\":\"s2\",\"state\":\"done\",\"source\":\"/x\",\"keys\":1,"
                         "\"bytes\":2,\"seconds\":0.100,\"error\":null}\n";
    assert_int_equal(engine_meta_put(e, "status/s2", status, strlen(status), NULL), 0);
    engine_close(e);
}

/* Runs a command in this process; *out gets its stdout and stderr. */
static int run(int (*cmd)(int, char **), char **out, const char *arg, ...)
{
    char *argv[8];
    int argc = 0;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a; a = va_arg(ap, const char *)) {
        assert_true(argc < 7);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    FILE *cap = tmpfile();
    assert_non_null(cap);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(cap), 1);
    dup2(fileno(cap), 2);
    int status = cmd(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    long len = ftell(cap);
    assert_true(len >= 0);
    char *text = calloc(1, (size_t)len + 1);
    rewind(cap);
    assert_int_equal(fread(text, 1, (size_t)len, cap), (size_t)len);
    fclose(cap);
    if (out)
        *out = text;
    else
        free(text);
    return status;
}

/* Fails unless the command exited with `want` and its output holds every pattern. */
static void expect(int status, char **outp, int want, const char *const *patterns)
{
    char *out = *outp;
    if (status != want)
        fail_msg("exit %d, wanted %d; output:\n%s", status, want, out);
    for (; *patterns; patterns++)
        if (!strstr(out, *patterns))
            fail_msg("output lacks '%s':\n%s", *patterns, out);
    free(out);
}

/* out names a char * variable that the command (status) fills. */
#define EXPECT(status, out, want, ...)                                                             \
    expect(status, &out, want, (const char *const[]){__VA_ARGS__, NULL})

/* Flips 16 bytes a third of the way into a file: inside its data blocks. */
static void corrupt(const char *file)
{
    int fd = open(file, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(st.st_size > 16L * 1024);
    unsigned char b[16];
    off_t at = st.st_size / 3;
    assert_int_equal(pread(fd, b, sizeof b, at), (ssize_t)sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        b[i] ^= 0xA5;
    assert_int_equal(pwrite(fd, b, sizeof b, at), (ssize_t)sizeof b);
    close(fd);
}

struct bad_files {
    int n;
    char file[4][4096];
};

static void note_bad(void *arg, const char *file, const char *reason)
{
    struct bad_files *b = arg;
    (void)reason;
    if (b->n < 4)
        snprintf(b->file[b->n], sizeof b->file[0], "%s", file ? file : "(none)");
    b->n++;
}

/* ---- check ---- */

static void test_check_healthy(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, 0, "is healthy: 2 syncs", "4 metadata records", "bytes read with checksums");
    /* An empty store is healthy too. */
    engine_close(tu_create_store(f->dir, "empty"));
    char *empty = tu_join(f->dir, "empty");
    rc = run(cmd_check, &out, "check", empty, NULL);
    EXPECT(rc, out, 0, "is healthy: 0 syncs, 0 keys");
    free(empty);
}

static void test_check_usage(void **state)
{
    struct fx *f = *state;
    char *out;
    EXPECT(run(cmd_check, &out, "check", NULL), out, EXIT_USAGE, "check needs STORE");
    EXPECT(run(cmd_check, &out, "check", f->store, "--bogus", NULL), out, EXIT_USAGE,
           "unknown option '--bogus'");
    EXPECT(run(cmd_check, &out, "check", f->store, "extra", NULL), out, EXIT_USAGE,
           "unexpected argument 'extra'");
    EXPECT(run(cmd_check, &out, "check", "--help", NULL), out, 0, "usage: syncstore check");
    char *missing = tu_join(f->dir, "missing");
    EXPECT(run(cmd_check, &out, "check", missing, NULL), out, EXIT_WORK, "cannot check store",
           "No such file");
    free(missing);
}

static void test_check_format_marker(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    char *marker = tu_join(f->store, ENGINE_FORMAT_FILE);
    assert_int_equal(engine_check_format(f->store, NULL), 0);

    /* Missing: reported, and the data is still checked (one problem only). */
    assert_int_equal(unlink(marker), 0);
    assert_int_equal(engine_check_format(f->store, NULL), -ENOENT);
    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "format marker '", "/FORMAT' is missing",
           "failed the check: 1 problem\n");

    /* Garbage, a trailing byte, a newer version. */
    tu_write_file(marker, "garbage\n", 8);
    assert_int_equal(engine_check_format(f->store, NULL), ENGINE_ENOTSTORE);
    rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "does not hold \"syncstore-store 1\\n\" but 'garbage\\x0a'",
           "failed the check: 1 problem\n");
    tu_write_file(marker, "syncstore-store 1\nx", 19);
    assert_int_equal(engine_check_format(f->store, NULL), ENGINE_ENOTSTORE);
    tu_write_file(marker, "syncstore-store 1", 17);
    assert_int_equal(engine_check_format(f->store, NULL), ENGINE_ENOTSTORE);
    tu_write_file(marker, "syncstore-store 2\n", 18);
    assert_int_equal(engine_check_format(f->store, NULL), ENGINE_EFORMAT);
    rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "names format 2, newer than this syncstore's 1",
           "was not checked further");

    tu_write_file(marker, "syncstore-store 1\n", 18);
    EXPECT(run(cmd_check, &out, "check", f->store, NULL), out, 0, "is healthy");
    free(marker);
}

static void test_check_staging(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    char *staging = tu_join(f->store, ENGINE_STAGING_DIR);
    char *left = tu_join(staging, "4242-0-0.sst");
    tu_write_file(left, "partial", 7);
    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "staging file '", "/staging/4242-0-0.sst' is left over",
           "failed the check: 1 problem\n");
    /* A read-write open removes it: healthy again. */
    engine_close(open_store(f->store, ENGINE_OPEN_READ_WRITE));
    EXPECT(run(cmd_check, &out, "check", f->store, NULL), out, 0, "is healthy");
    /* A missing staging directory. */
    assert_int_equal(rmdir(staging), 0);
    rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "/staging' is missing");
    free(left);
    free(staging);
}

static void test_check_corrupt_sst(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    char *db = tu_join(f->store, ENGINE_DB_DIR);
    char *sst = tu_largest_sst(db);
    corrupt(sst);

    engine *e = open_store(f->store, ENGINE_OPEN_READ_ONLY);
    struct engine_sst_check sc;
    struct bad_files bad = {0};
    assert_int_equal(engine_verify_sst_files(e, &sc, note_bad, &bad, NULL), 0);
    engine_close(e);
    assert_int_equal(bad.n, 1);
    assert_string_equal(bad.file[0], sst);
    /* One corrupt file: the walk went on past it to the end. */
    assert_int_equal(sc.complete, 1);
    assert_int_equal(sc.skipped, 1);
    assert_true(sc.files >= 2);

    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    char want[4200];
    snprintf(want, sizeof want, "SST file '%s' is damaged: Corruption: block checksum mismatch",
             sst);
    EXPECT(rc, out, EXIT_WORK, want, "failed the check");
    free(sst);
    free(db);
}

/* Lists the .sst names of a db directory into one string "a.sst b.sst ". */
static char *sst_names(const char *db)
{
    char *s = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&s, &len);
    DIR *d = opendir(db);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".sst"))
            fprintf(m, "%s ", de->d_name);
    closedir(d);
    fclose(m);
    return s;
}

/* Data that a range tombstone hides is still on disk until compacted, and a
 * normal read need not touch it; check reads it all the same. */
static void test_check_corrupt_hidden_data(void **state)
{
    struct fx *f = *state;
    char *db = tu_join(f->store, ENGINE_DB_DIR);
    engine *e = open_store(f->store, ENGINE_OPEN_READ_WRITE);
    gen_into(e, "s1", 3000, 1);
    char *old = sst_names(db);
    gen_into(e, "s1", 3000, 2); /* replaces s1: the first files are now hidden */
    engine_close(e);
    char *now = sst_names(db);
    /* The largest file of the first generation, if it is still there. */
    char *victim = NULL;
    off_t victim_size = 0;
    for (char *name = strtok(old, " "); name; name = strtok(NULL, " ")) {
        if (!strstr(now, name))
            continue;
        char *p = tu_join(db, name);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        if (st.st_size > victim_size) {
            free(victim);
            victim = p;
            victim_size = st.st_size;
        } else {
            free(p);
        }
    }
    if (!victim)
        fail_msg("RocksDB compacted the hidden data away; this test needs it on disk");
    corrupt(victim);

    /* What readers see is intact: s1 reads back in full. */
    e = open_store(f->store, ENGINE_OPEN_READ_ONLY);
    size_t n = 0;
    tu_hash_range(e, "s1", NULL, &n);
    assert_true(n > 3000);
    struct engine_sst_check sc;
    struct bad_files bad = {0};
    assert_int_equal(engine_verify_sst_files(e, &sc, note_bad, &bad, NULL), 0);
    engine_close(e);
    assert_int_equal(bad.n, 1);
    assert_string_equal(bad.file[0], victim);

    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "is damaged", "block checksum mismatch");
    free(victim);
    free(old);
    free(now);
    free(db);
}

/* Writes raw on-disk keys (sorted by the caller) with one ingest. */
static void ingest_raw(engine *e, const char *const *keys, const size_t *lens, size_t n)
{
    engine_ingest *ing;
    engine_sst *w;
    assert_int_equal(engine_ingest_new(e, &ing, NULL), 0);
    assert_int_equal(engine_ingest_sst_begin(ing, &w, NULL), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(engine_sst_put(w, keys[i], lens[i], "v", 1, NULL), 0);
    assert_int_equal(engine_sst_finish(w, NULL), 0);
    assert_int_equal(engine_ingest_commit(ing, NULL), 0);
    engine_ingest_free(ing);
}

static void test_check_bad_keys_and_metadata(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    engine *e = open_store(f->store, ENGINE_OPEN_READ_WRITE);
    static const char *const keys[] = {
        "\0reserved",           /* the 0x00 metadata space, which nothing uses */
        "a b\0bucket\0key",     /* a space in the sync_id */
        "nosep",                /* no separator at all */
        "s3\0Bucket\0key",      /* an upper-case bucket */
        "s3\0bucket\0",         /* an empty key */
        "s4\0bucket\0good-key", /* a good one */
    };
    static const size_t lens[] = {9, 14, 5, 13, 10, 18};
    ingest_raw(e, keys, lens, 6);
    assert_int_equal(engine_meta_put(e, "bogus/x", "1", 1, NULL), 0);
    assert_int_equal(engine_meta_put(e, "synctime/s1", "soon", 4, NULL), 0);
    assert_int_equal(engine_meta_put(e, "reclaim/a b", "1.000000001", 11, NULL), 0);
    assert_int_equal(engine_meta_put(e, "status/s1", "{\"sync_id\":\"s2\"}", 16, NULL), 0);
    engine_close(e);

    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, EXIT_WORK, "key '\\x00reserved' lies in the reserved metadata space",
           "on-disk key 'a b\\x00bucket\\x00key': sync_id 'a b' has a byte outside",
           "on-disk key 'nosep' has no separator after the sync_id",
           "bucket 'Bucket' has a byte outside", "key is empty",
           "metadata key '\\xffbogus/x' is not one syncstore writes",
           "metadata record '\\xffsynctime/s1' = 'soon': the value is not a time",
           "metadata key '\\xffreclaim/a b': sync_id 'a b'", "metadata record '\\xffstatus/s1'",
           "does not match the key", "failed the check: 9 problems");
}

/* ---- backup ---- */

static void assert_same_store(const char *a_path, const char *b_path)
{
    engine *a = open_store(a_path, ENGINE_OPEN_READ_ONLY);
    engine *b = open_store(b_path, ENGINE_OPEN_READ_ONLY);
    char sync[ENGINE_SYNC_ID_MAX + 1] = "";
    int syncs = 0;
    for (;;) {
        char next[ENGINE_SYNC_ID_MAX + 1], next_b[ENGINE_SYNC_ID_MAX + 1];
        int ra = engine_next_sync(a, NULL, sync, next, NULL);
        int rb = engine_next_sync(b, NULL, sync, next_b, NULL);
        assert_int_equal(ra, rb);
        if (ra != 1)
            break;
        assert_string_equal(next, next_b);
        size_t na, nb;
        assert_true(tu_hash_range(a, next, NULL, &na) == tu_hash_range(b, next, NULL, &nb));
        assert_int_equal(na, nb);
        snprintf(sync, sizeof sync, "%s", next);
        syncs++;
    }
    assert_true(syncs > 0);
    char *va = NULL, *vb = NULL;
    size_t la, lb;
    assert_int_equal(engine_meta_get(a, "status/s2", &va, &la, NULL), 0);
    assert_int_equal(engine_meta_get(b, "status/s2", &vb, &lb, NULL), 0);
    assert_int_equal(la, lb);
    assert_memory_equal(va, vb, la);
    free(va);
    free(vb);
    engine_close(a);
    engine_close(b);
}

static char *listing(const char *dir)
{
    char *cmd = NULL, *out = NULL;
    size_t len = 0;
    /* Not the link count: the backup's hard links raise it by design. */
    assert_true(asprintf(&cmd, "cd '%s' && stat -c '%%n %%i %%s %%y' * | sort", dir) > 0);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    FILE *m = open_memstream(&out, &len);
    char buf[4096];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0)
        fwrite(buf, 1, got, m);
    assert_int_equal(pclose(p), 0);
    fclose(m);
    free(cmd);
    return out;
}

static void test_backup_roundtrip(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    char *db = tu_join(f->store, ENGINE_DB_DIR);
    char *before = listing(db);
    char *dest = tu_join(f->dir, "backup");
    char *out;
    int rc = run(cmd_backup, &out, "backup", f->store, dest, NULL);
    EXPECT(rc, out, 0, "backed up store '", "SST files", "hard-linked");

    /* The source did not change at all: same files, sizes, times. */
    char *after = listing(db);
    assert_string_equal(before, after);

    /* A store: marker, empty staging, the same records and metadata. */
    char *marker = tu_join(dest, ENGINE_FORMAT_FILE);
    assert_int_equal(engine_check_format(dest, NULL), 0);
    char *staging = tu_join(dest, ENGINE_STAGING_DIR);
    assert_int_equal(tu_count_dir(staging), 0);
    assert_same_store(f->store, dest);
    EXPECT(run(cmd_check, &out, "check", dest, NULL), out, 0, "is healthy: 2 syncs");

    /* The backup is independent: writing it leaves the source as it was. */
    engine *s = open_store(f->store, ENGINE_OPEN_READ_ONLY);
    uint64_t h1 = tu_hash_range(s, "s1", NULL, NULL);
    engine_close(s);
    engine *b = open_store(dest, ENGINE_OPEN_READ_WRITE);
    gen_into(b, "s1", 50, 9);
    gen_into(b, "s3", 50, 9);
    assert_int_equal(engine_reclaim_now(b, "s1", NULL), 0);
    engine_close(b);
    s = open_store(f->store, ENGINE_OPEN_READ_ONLY);
    assert_true(tu_hash_range(s, "s1", NULL, NULL) == h1);
    assert_int_equal(engine_sync_exists(s, NULL, "s3", NULL), 0);
    engine_close(s);
    EXPECT(run(cmd_check, &out, "check", f->store, NULL), out, 0, "is healthy: 2 syncs");

    /* An existing empty directory is a fine destination too. */
    char *empty = tu_join(f->dir, "emptydir");
    assert_int_equal(mkdir(empty, 0755), 0);
    struct engine_backup_info info;
    assert_int_equal(engine_backup(f->store, empty, &info, NULL), 0);
    assert_int_equal(info.attempts, 1);
    assert_int_equal(info.secondary, 0);
    assert_true(info.files > 0 && info.bytes > 0);
    assert_same_store(f->store, empty);

    free(empty);
    free(staging);
    free(marker);
    free(dest);
    free(before);
    free(after);
    free(db);
}

static void test_backup_refuses(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    char *out;
    char *msg = NULL;

    /* A non-empty directory: refused, its file untouched. */
    char *full = tu_join(f->dir, "full");
    assert_int_equal(mkdir(full, 0755), 0);
    char *precious = tu_join(full, "precious");
    tu_write_file(precious, "keep", 4);
    int rc = run(cmd_backup, &out, "backup", f->store, full, NULL);
    EXPECT(rc, out, EXIT_WORK, "backup destination '", "/full' already exists and is not empty");
    assert_int_equal(tu_count_dir(full), 1);
    /* A file. */
    rc = run(cmd_backup, &out, "backup", f->store, precious, NULL);
    EXPECT(rc, out, EXIT_WORK, "already exists and is not a directory");
    /* The store itself, and a place inside it. */
    assert_int_equal(engine_backup(f->store, f->store, NULL, &msg), -EEXIST);
    free(msg);
    msg = NULL;
    char *inside = tu_join(f->store, "bk");
    assert_int_equal(engine_backup(f->store, inside, NULL, &msg), -EINVAL);
    assert_non_null(strstr(msg, "is inside store"));
    free(msg);
    msg = NULL;
    struct stat st;
    assert_int_equal(stat(inside, &st), -1);
    /* A parent that does not exist. */
    char *orphan = tu_join(f->dir, "no/such/dir");
    rc = run(cmd_backup, &out, "backup", f->store, orphan, NULL);
    EXPECT(rc, out, EXIT_WORK, "cannot create backup destination", "No such file");
    /* A source that is not a store: nothing is created. */
    char *dest = tu_join(f->dir, "dest");
    rc = run(cmd_backup, &out, "backup", full, dest, NULL);
    EXPECT(rc, out, EXIT_WORK, "is not a syncstore store");
    assert_int_equal(stat(dest, &st), -1);
    /* Usage. */
    EXPECT(run(cmd_backup, &out, "backup", f->store, NULL), out, EXIT_USAGE,
           "backup needs STORE and DEST");
    EXPECT(run(cmd_backup, &out, "backup", f->store, dest, "x", NULL), out, EXIT_USAGE,
           "unexpected argument 'x'");
    EXPECT(run(cmd_backup, &out, "backup", "--now", NULL), out, EXIT_USAGE,
           "unknown option '--now'");
    assert_int_equal(stat(dest, &st), -1);

    free(dest);
    free(orphan);
    free(inside);
    free(precious);
    free(full);
}

/* ---- A second process that holds the store ---- */

struct holder {
    pid_t pid;
    int to_child; /* closing it tells the child to stop */
};

static void holder_start(struct holder *h, const char *store, int churn)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    /* Our own program, by name: under valgrind, exec of /proc/self/exe would
     * start valgrind's tool, while readlink() of it names the test. */
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(sl > 0);
    self[sl] = '\0';
    fflush(NULL);
    h->pid = fork();
    assert_true(h->pid >= 0);
    if (h->pid == 0) {
        /* A fresh process (exec): RocksDB's threads do not survive a fork. */
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl(self, "test_ops", "--hold", store, churn ? "--churn" : NULL, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    h->to_child = in[1];
    char ready[8] = "";
    assert_int_equal(read(out[0], ready, 6), 6);
    assert_memory_equal(ready, "ready\n", 6);
    close(out[0]);
}

static void holder_stop(struct holder *h)
{
    close(h->to_child);
    int status;
    assert_int_equal(waitpid(h->pid, &status, 0), h->pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The child: hold STORE read-write; with churn, replace sync "x" (seed 1 and
 * 2 in turn) every 20 ms and compact its range every third time, until stdin
 * closes. */
static int hold_main(const char *store, int churn)
{
    engine *e = NULL;
    char *msg = NULL;
    if (engine_open(store, ENGINE_OPEN_READ_WRITE, &e, &msg)) {
        fprintf(stderr, "hold: %s\n", msg);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (uint64_t i = 0;; i++) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        if (poll(&p, 1, churn ? 20 : -1) > 0)
            break; /* EOF: the test is done */
        if (!churn)
            continue;
        struct loader_options lopt = {.replace = 1};
        struct gen_options gopt = {.sync_id = "x", .grants = 300, .seed = 1 + i % 2};
        loader *l = NULL;
        if (loader_new(e, &lopt, &l, NULL) || gen_run(l, &gopt, NULL, NULL) ||
            loader_commit(l, NULL, NULL))
            return 1;
        loader_free(l);
        if (i % 3 == 2 && engine_reclaim_now(e, "x", NULL))
            return 1;
    }
    engine_close(e);
    return 0;
}

static void test_ops_while_held(void **state)
{
    struct fx *f = *state;
    fill(f->store);
    struct holder h;
    holder_start(&h, f->store, 0);
    char *out;
    int rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, 0, "is healthy: 2 syncs", "read as a secondary");
    /* A staging file of a running ingest is no problem while the store is held. */
    char *left = tu_join(f->store, "staging/99-0-0.sst");
    tu_write_file(left, "x", 1);
    rc = run(cmd_check, &out, "check", f->store, NULL);
    EXPECT(rc, out, 0, "note: staging directory", "holds 1 files", "is healthy");
    unlink(left);
    char *dest = tu_join(f->dir, "backup");
    struct engine_backup_info info;
    char *msg = NULL;
    rc = engine_backup(f->store, dest, &info, &msg);
    if (rc)
        fail_msg("backup while held: %s", msg);
    assert_int_equal(info.secondary, 1);
    holder_stop(&h);
    assert_same_store(f->store, dest);
    EXPECT(run(cmd_check, &out, "check", dest, NULL), out, 0, "is healthy: 2 syncs");
    free(dest);
    free(left);
}

/* Backups taken while the holder keeps replacing and compacting a sync are each
 * one consistent version of it, or refused; never a mix or a broken store. */
static void test_backup_while_changing(void **state)
{
    struct fx *f = *state;
    /* The two versions of x, for comparison. */
    uint64_t want[2];
    for (int i = 0; i < 2; i++) {
        char name[16];
        snprintf(name, sizeof name, "v%d", i);
        engine *v = tu_create_store(f->dir, name);
        gen_into(v, "x", 300, 1 + (uint64_t)i);
        want[i] = tu_hash_range(v, "x", NULL, NULL);
        engine_close(v);
    }
    fill(f->store);
    struct holder h;
    holder_start(&h, f->store, 1);
    int made = 0, retried = 0, refused = 0;
    for (int i = 0; i < 12; i++) {
        char name[32];
        snprintf(name, sizeof name, "bk%d", i);
        char *dest = tu_join(f->dir, name);
        struct engine_backup_info info;
        char *msg = NULL;
        int rc = engine_backup(f->store, dest, &info, &msg);
        if (rc == -EAGAIN) {
            refused++;
            struct stat st;
            assert_int_equal(stat(dest, &st), -1); /* nothing left behind */
        } else if (rc) {
            fail_msg("backup %d: %s", i, msg);
        } else {
            made++;
            retried += info.attempts > 1;
            engine *b = open_store(dest, ENGINE_OPEN_READ_ONLY);
            uint64_t got = tu_hash_range(b, "x", NULL, NULL);
            struct engine_sst_check sc;
            struct bad_files bad = {0};
            assert_int_equal(engine_verify_sst_files(b, &sc, note_bad, &bad, NULL), 0);
            assert_int_equal(bad.n, 0);
            engine_close(b);
            if (got != want[0] && got != want[1]) {
                /* Before the holder's first replace x may not exist yet. */
                b = open_store(dest, ENGINE_OPEN_READ_ONLY);
                int exists = engine_sync_exists(b, NULL, "x", NULL);
                engine_close(b);
                if (exists)
                    fail_msg("backup %d holds a version of x that was never written", i);
            }
        }
        free(msg);
        free(dest);
    }
    holder_stop(&h);
    print_message("backups while changing: %d made (%d after a retry), %d refused\n", made, retried,
                  refused);
    /* Under valgrind (SYNCSTORE_TEST_QUICK) a copy takes longer than the
     * holder's 20 ms between changes, so every attempt may be refused: then
     * only "refused cleanly" is checked. */
    const char *quick = getenv("SYNCSTORE_TEST_QUICK");
    if (!quick || !*quick || !strcmp(quick, "0"))
        assert_true(made > 0);
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "--hold"))
        return hold_main(argv[2], argc >= 4 && !strcmp(argv[3], "--churn"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_healthy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_format_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_staging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_corrupt_sst, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_corrupt_hidden_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_bad_keys_and_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ops_while_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_while_changing, setup, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
