/*
 * test_mount.c - the mounted view for real: `syncstore mount BASE MNT -f` in a
 * temporary directory, driven by ls, cat, find, stat and shells.
 *
 * Each fixture (tests/mountutil.h) fills a base through the command line
 * (gen, load with key_b64), mounts it with the real daemon, and its teardown
 * always unmounts and removes the directory.
 *
 * The tests: the tree equals the store (every key at the path names.h gives,
 * modes, sizes, contents; a 100,000-entry directory), every name edge case,
 * ctl/compact through real shells with every errno and status, no stale kernel
 * cache after a switch, whole traversals old or new while a sync is compacted
 * 50 times, ESTALE past the age limit, clean unmounts, and read-only data.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"
#include "engine_test.h"
#include "mountutil.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int key_also_dir(engine *e, const char *sync, const char *bucket, const char *key,
                        size_t key_len)
{
    if (key_len + 1 > ENGINE_KEY_MAX)
        return 0;
    char prefix[ENGINE_KEY_MAX + 1];
    memcpy(prefix, key, key_len);
    prefix[key_len] = '/';
    engine_iter *it = engine_iter_new_prefix(e, NULL, sync, bucket, prefix, key_len + 1);
    assert_non_null(it);
    engine_iter_seek_first(it);
    int found = engine_iter_valid(it);
    engine_iter_free(it);
    return found;
}

/* ---- Paths, predicted from docs/NAMES.md and not from fs/names.c ----
 *
 * The mount's names are checked against rules written here from the docs
 * alone: a decoder of paths back to keys, and the test for ordinary keys.
 * Walking the mount and decoding every path must give back exactly the
 * store's keys, each once; fs/names.c is never asked where a key should be. */

/* 1 when [s, s + n) is UTF-8 with no control character: no byte below 0x20,
 * no DEL, no C1 control (U+0080..U+009F), no overlong form, surrogate or
 * code point past U+10FFFF. */
static int printable_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
        if (!len || c > 0xf4 || i + len > n)
            return 0;
        unsigned cp = c & (0x3f >> (len - 1));
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return 0;
        i += len;
    }
    return 1;
}

/* NAMES.md: "components all non-empty, not . or .., at most 255 bytes,
 * printable UTF-8 and free of %". */
static int key_is_ordinary(const char *key, size_t len)
{
    const char *p = key, *end = key + len;
    for (;;) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = (size_t)((slash ? slash : end) - p);
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.') || memchr(p, '%', n) ||
            !printable_utf8((const unsigned char *)p, n))
            return 0;
        if (!slash)
            return 1;
        p = slash + 1;
    }
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes rel, a path below a bucket directory, into the key it names
 * (NAMES.md "Why this is enough": `%XX` with uppercase hex, `%%` alone an
 * empty component, `%%` at the end a marked file, `%%+` at the end a chunk
 * that continues below).  Fails the test, naming the path, when a name breaks
 * a rule: empty, `.`, `..`, over 255 bytes, a stray `%`, or a marker where it
 * cannot be.  Returns the key's length; *marked says whether the file carried
 * the mark of a key that is also a directory. */
static size_t decode_path(const char *rel, char *key, int *marked)
{
    size_t len = 0;
    const char *p = rel;
    *marked = 0;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0 || n > NAME_MAX || (n == 1 && p[0] == '.') ||
            (n == 2 && p[0] == '.' && p[1] == '.'))
            fail_msg("'%s': the name '%.*s' is not allowed", rel, (int)n, p);
        int chunk = n >= 3 && !memcmp(p + n - 3, "%%+", 3);
        size_t body = chunk ? n - 3 : n;
        if (!chunk && n > 2 && !memcmp(p + n - 2, "%%", 2)) {
            if (slash)
                fail_msg("'%s': a marked name '%.*s' that is a directory", rel, (int)n, p);
            *marked = 1;
            body = n - 2;
        }
        if (chunk && !slash)
            fail_msg("'%s': a file named as a chunk that continues", rel);
        if (!(body == 2 && p[0] == '%' && p[1] == '%')) { /* else: an empty component */
            for (size_t i = 0; i < body; i++) {
                int hi, lo;
                if (p[i] != '%') {
                    key[len++] = p[i];
                } else if (i + 2 < body && (hi = hex_digit(p[i + 1])) >= 0 &&
                           (lo = hex_digit(p[i + 2])) >= 0) {
                    key[len++] = (char)(hi << 4 | lo);
                    i += 2;
                } else {
                    fail_msg("'%s': a '%%' in '%.*s' that is no escape", rel, (int)n, p);
                }
                assert_true(len <= ENGINE_KEY_MAX);
            }
        }
        if (!slash)
            return len;
        if (!chunk)
            key[len++] = '/';
        assert_true(len <= ENGINE_KEY_MAX);
        p = slash + 1;
    }
}

/* One file found through the mount: its path below the sync directory, and
 * the bucket and key its path decodes to. */
struct found {
    char *rel;
    char bucket[ENGINE_BUCKET_MAX + 1];
    char key[ENGINE_KEY_MAX];
    size_t key_len;
    int marked;
};

struct found_set {
    struct found *v;
    size_t n;
    struct strv dirs; /* every directory below the sync, as paths below it */
};

static int found_cmp(const void *a, const void *b)
{
    const struct found *x = a, *y = b;
    int c = strcmp(x->bucket, y->bucket);
    if (c)
        return c;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Walks dir (a sync's directory) with find and decodes every file's path;
 * sorted by bucket and key, as the store holds them. */
static void walk_sync(const char *dir, struct found_set *s)
{
    char *out = NULL;
    size_t out_len = 0;
    assert_int_equal(
        sh_bin(&out, &out_len, "cd \"$1\" && find . -mindepth 1 -printf '%y %P\\0'", dir, NULL), 0);
    struct strv all = {0};
    strv_split(&all, out, out_len, '\0');
    free(out);
    memset(s, 0, sizeof *s);
    s->v = calloc(all.n + 1, sizeof *s->v);
    assert_non_null(s->v);
    for (size_t i = 0; i < all.n; i++) {
        const char *rel = all.v[i] + 2;
        if (all.v[i][0] == 'd') {
            strv_add(&s->dirs, rel, strlen(rel));
            continue;
        }
        assert_int_equal(all.v[i][0], 'f');
        const char *slash = strchr(rel, '/');
        if (!slash || (size_t)(slash - rel) > ENGINE_BUCKET_MAX)
            fail_msg("'%s/%s': a file that is not below a bucket", dir, rel);
        struct found *f = &s->v[s->n++];
        memcpy(f->bucket, rel, (size_t)(slash - rel));
        f->bucket[slash - rel] = '\0';
        f->key_len = decode_path(slash + 1, f->key, &f->marked);
        f->rel = strdup(rel);
        assert_non_null(f->rel);
    }
    strv_release(&all);
    qsort(s->v, s->n, sizeof *s->v, found_cmp);
}

static void found_set_release(struct found_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i].rel);
    free(s->v);
    strv_release(&s->dirs);
}

/* The file of (bucket, key) in s, or a test failure. */
static const struct found *found_key(const struct found_set *s, const char *bucket, const char *key,
                                     size_t key_len)
{
    struct found want = {.key_len = key_len};
    snprintf(want.bucket, sizeof want.bucket, "%s", bucket);
    memcpy(want.key, key, key_len);
    const struct found *f = bsearch(&want, s->v, s->n, sizeof *s->v, found_cmp);
    if (!f)
        fail_msg("key '%.*s' of bucket %s: no file decodes to it", (int)key_len, key, bucket);
    return f;
}

/* The file holds exactly value, mode 0444, st_size exact. */
static void check_file(const char *path, const char *value, size_t value_len)
{
    struct stat st;
    if (stat(path, &st))
        fail_msg("stat %s: %s", path, strerror(errno));
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0444);
    assert_int_equal(st.st_size, value_len);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    char *buf = malloc(value_len + 4096);
    assert_non_null(buf);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, buf + got, value_len + 4096 - got);
        if (n < 0)
            fail_msg("read %s: %s", path, strerror(errno));
        if (n == 0 || got + (size_t)n >= value_len + 4096)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got != value_len || memcmp(buf, value, value_len))
        fail_msg("%s: %zu bytes read, the value has %zu (or differs)", path, got, value_len);
    free(buf);
}

/* The whole sync through the mount equals the store's sync: walking it and
 * decoding every file's path (decode_path, from NAMES.md) gives back exactly
 * the store's keys, each once; ordinary keys are at exactly bucket/key; a key
 * that is also a directory carries the mark; every file holds its value, size
 * and mode; every directory is 0555.  Returns the number of keys. */
static size_t check_sync(const struct fx *f, const char *store, const char *sync)
{
    char *sync_dir = mnt_path(f, sync);
    struct found_set s;
    walk_sync(sync_dir, &s);
    engine *e = open_ro(store);
    char path[2 * PATH_MAX];
    size_t keys = 0, ordinary = 0;
    engine_iter *it = engine_iter_new_sync(e, NULL, sync);
    assert_non_null(it);
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), keys++) {
        struct engine_key_parts p;
        assert_int_equal(engine_iter_parts(it, &p, NULL), 0);
        char bucket[ENGINE_BUCKET_MAX + 1];
        memcpy(bucket, p.bucket, p.bucket_len);
        bucket[p.bucket_len] = '\0';
        if (keys >= s.n)
            fail_msg("%s: the store holds more keys than the mount's %zu files", sync, s.n);
        const struct found *fd = &s.v[keys];
        if (strcmp(fd->bucket, bucket) || fd->key_len != p.key_len ||
            memcmp(fd->key, p.key, p.key_len))
            fail_msg("%s: key %zu is %s/'%.*s' in the store; the mount's file '%s' decodes to "
                     "%s/'%.*s'",
                     sync, keys, bucket, (int)p.key_len, p.key, fd->rel, fd->bucket,
                     (int)fd->key_len, fd->key);
        int also = key_also_dir(e, sync, bucket, p.key, p.key_len);
        if (fd->marked != also)
            fail_msg("%s: '%s' is %smarked, but the key is %salso a directory", sync, fd->rel,
                     fd->marked ? "" : "not ", also ? "" : "not ");
        if (key_is_ordinary(p.key, p.key_len) && !also) {
            ordinary++;
            size_t bl = strlen(bucket);
            if (strlen(fd->rel) != bl + 1 + p.key_len || memcmp(fd->rel + bl + 1, p.key, p.key_len))
                fail_msg("ordinary key '%.*s' is at '%s'", (int)p.key_len, p.key, fd->rel);
        }
        size_t len = (size_t)snprintf(path, sizeof path, "%s/%s", sync_dir, fd->rel);
        assert_true(len < PATH_MAX);
        size_t vl;
        const char *v = engine_iter_value(it, &vl);
        check_file(path, v, vl);
    }
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    engine_close(e);
    if (keys != s.n)
        fail_msg("%s: the mount shows %zu files, the store holds %zu keys", sync, s.n, keys);
    for (size_t i = 0; i < s.dirs.n; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", sync_dir, s.dirs.v[i]);
        if (stat(path, &st))
            fail_msg("stat %s: %s", path, strerror(errno));
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0555);
    }
    /* each file once, as `find -type f | wc -l` counts them */
    char *out = NULL;
    assert_int_equal(sh(&out, "find \"$1\" -type f | wc -l", sync_dir, NULL), 0);
    assert_int_equal(strtoull(out, NULL, 10), keys);
    free(out);
    free(sync_dir);
    found_set_release(&s);
    print_message("sync %.16s%s: %zu keys (%zu ordinary) checked through the mount\n", sync,
                  strlen(sync) > 16 ? "..." : "", keys, ordinary);
    return keys;
}

/* The names `ls -1a DIR` prints. */
static void ls_names(const char *dir, struct strv *got, const char *flags)
{
    char *out = NULL;
    size_t len = 0;
    char *script = NULL;
    assert_true(asprintf(&script, "ls %s -- \"$1\"", flags) > 0);
    int rc = sh_bin(&out, &len, script, dir, NULL);
    if (rc)
        fail_msg("ls %s %s: exit %d", flags, dir, rc);
    strv_split(got, out, len, '\n');
    free(out);
    free(script);
}

/* Whether `ls -1a DIR` lists name. */
static int listed(const char *dir, const char *name)
{
    struct strv got = {0};
    ls_names(dir, &got, "-1a");
    int found = 0;
    for (size_t i = 0; i < got.n; i++)
        found |= !strcmp(got.v[i], name);
    strv_release(&got);
    return found;
}

/* Lists dir with getdents64() and a buffer of bufsize bytes, adding each name
 * to got; stops (and fails) after max entries, so that a listing that starts
 * over never ends the test.  first_only: one call only.  Returns the fd when
 * keep_open, else closes it and returns -1. */
static int getdents_names(const char *dir, size_t bufsize, size_t max, struct strv *got,
                          int first_only, int keep_open)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        fail_msg("open %s: %s", dir, strerror(errno));
    char *buf = malloc(bufsize);
    assert_non_null(buf);
    size_t seen = 0;
    for (;;) {
        long n = getdents64(fd, buf, bufsize);
        if (n < 0)
            fail_msg("getdents64 %s: %s", dir, strerror(errno));
        if (n == 0)
            break;
        for (long at = 0; at < n;) {
            /* A record is shorter than struct dirent64 (d_name is not 256
             * bytes long): read its fields where they are, not through it. */
            const char *rec = buf + at;
            unsigned short reclen;
            memcpy(&reclen, rec + offsetof(struct dirent64, d_reclen), sizeof reclen);
            const char *name = rec + offsetof(struct dirent64, d_name);
            strv_add(got, name, strlen(name));
            at += reclen;
            if (++seen > max)
                fail_msg("listing %s with a %zu-byte buffer: more than %zu entries (it starts "
                         "over?)",
                         dir, bufsize, max);
        }
        if (first_only)
            break;
    }
    free(buf);
    if (keep_open)
        return fd;
    close(fd);
    return -1;
}

/* Every way to read a directory gives each entry once: getdents64 with small
 * buffers (the kernel then asks again from an offset inside what it was
 * sent), a second stream after a partial first one, and seekdir to each
 * position telldir gave. */
static void check_listing_ways(const char *dir)
{
    struct strv want = {0}, got = {0};
    getdents_names(dir, 1 << 16, 1000000, &want, 0, 0);
    size_t n = want.n;
    static const size_t sizes[] = {64, 100, 300, 1000};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        getdents_names(dir, sizes[i], 2 * n + 10, &got, 0, 0);
        char what[64];
        snprintf(what, sizeof what, "%zu-byte getdents buffer", sizes[i]);
        struct strv copy = {0};
        for (size_t j = 0; j < want.n; j++)
            strv_add(&copy, want.v[j], want.len[j]);
        assert_same_set(&copy, &got, what);
        strv_release(&copy);
        strv_release(&got);
    }
    /* a partial stream, then a whole one while it is open */
    struct strv part = {0};
    int held = getdents_names(dir, 64, 2 * n + 10, &part, 1, 1);
    getdents_names(dir, 1 << 15, 2 * n + 10, &got, 0, 0);
    close(held);
    strv_release(&part);
    assert_same_set(&want, &got, "a second stream");
    strv_release(&got);
    /* seekdir to every telldir position: the next entry follows */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct strv names = {0};
    long *pos = calloc(n + 1, sizeof *pos);
    assert_non_null(pos);
    size_t count = 0;
    struct dirent *de;
    pos[0] = telldir(d);
    while (count < n && (de = readdir(d)) != NULL) {
        strv_add(&names, de->d_name, strlen(de->d_name));
        pos[++count] = telldir(d);
    }
    assert_int_equal(count, n);
    size_t step = n > 50 ? n / 50 : 1;
    for (size_t i = 0; i < count; i += step) {
        seekdir(d, pos[i]);
        de = readdir(d);
        assert_non_null(de);
        if (strcmp(de->d_name, names.v[i]))
            fail_msg("%s: after seekdir to entry %zu, readdir gave '%s', not '%s'", dir, i,
                     de->d_name, names.v[i]);
    }
    closedir(d);
    free(pos);
    strv_release(&names);
    strv_release(&want);
}

/* ---- 1. the tree equals the store ---- */

#define BIG_KEYS 100000

static int setup_tree(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S1", "--grants", "1000", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "S2", "--grants", "600", "--seed", "2", NULL), 0);
    struct lines l;
    FILE *out = lines_open(&l);
    char key[256], value[256];
    for (int i = 0; i < 300; i++) {
        int kl = snprintf(key, sizeof key, "dir%d/sub%d/k%d", i % 7, i % 3, i);
        int vl = snprintf(value, sizeof value, "raw value %d %*s", i, i % 50, "x");
        put_raw(out, "R", i % 2 ? "raw" : "raw_2", key, (size_t)kl, value, (size_t)vl);
    }
    /* keys that are also directories, spaces, UTF-8, an empty value */
    const char *extra[] = {"dir0", "dir0/sub0", "with space/and more", "caf\xc3\xa9/\xe2\x82\xac",
                           "empty"};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        put_raw(out, "R", "raw", extra[i], strlen(extra[i]), i == 4 ? "" : extra[i],
                i == 4 ? 0 : strlen(extra[i]));
    lines_load(&l, f, f->base);
    out = lines_open(&l);
    for (int i = 0; i < BIG_KEYS; i++)
        fprintf(out, "{\"sync\":\"BIG\",\"bucket\":\"flat\",\"key\":\"k%06d\",\"value\":\"%d\"}\n",
                i, i);
    lines_load(&l, f, f->base);
    return fx_mount(f, NULL, NULL);
}

static void test_tree_equals_store(void **state)
{
    struct fx *f = *state;
    size_t total = 0;
    const char *syncs[] = {"R", "S1", "S2"};
    for (int i = 0; i < 3; i++) {
        size_t n = check_sync(f, f->base, syncs[i]);
        assert_true(n > 300);
        total += n;
    }
    /* `syncstore dump` (a secondary open while the mount holds the store)
     * agrees on the count */
    char *out = NULL;
    assert_int_equal(sh(&out, "\"$1\" dump \"$2\" S1 | wc -l", bin(), f->base, NULL), 0);
    size_t s1;
    sync_hash(f->base, "S1", &s1);
    assert_int_equal(strtoull(out, NULL, 10), s1);
    free(out);

    /* the root lists the syncs and ctl */
    struct strv want = {0}, got = {0};
    const char *root[] = {".", "..", "BIG", "R", "S1", "S2", "ctl"};
    for (size_t i = 0; i < 7; i++)
        strv_add(&want, root[i], strlen(root[i]));
    ls_names(f->mnt, &got, "-1a");
    assert_same_set(&want, &got, "ls of the root");
    strv_release(&want);
    strv_release(&got);

    /* 100,000 entries in one directory: ls -f lists each exactly once */
    char *flat = mnt_path(f, "BIG/flat");
    size_t len = 0;
    assert_int_equal(sh_bin(&out, &len, "cd \"$1\" && ls -f", flat, NULL), 0);
    unsigned char *seen = calloc(BIG_KEYS, 1);
    assert_non_null(seen);
    size_t lines = 0, dots = 0;
    for (char *p = out, *end = out + len; p < end; lines++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        *nl = '\0';
        if (!strcmp(p, ".") || !strcmp(p, "..")) {
            dots++;
        } else {
            char *tail;
            assert_int_equal(p[0], 'k');
            unsigned long k = strtoul(p + 1, &tail, 10);
            assert_true(*tail == '\0' && strlen(p) == 7 && k < BIG_KEYS);
            assert_int_equal(seen[k], 0);
            seen[k] = 1;
        }
        p = nl + 1;
    }
    assert_int_equal(lines, BIG_KEYS + 2);
    assert_int_equal(dots, 2);
    free(seen);
    free(out);
    assert_int_equal(sh(&out, "cd \"$1\" && ls -f | wc -l", flat, NULL), 0);
    assert_int_equal(strtoull(out, NULL, 10), BIG_KEYS + 2);
    free(out);
    assert_int_equal(sh(&out, "find \"$1\" -type f | wc -l", flat, NULL), 0);
    assert_int_equal(strtoull(out, NULL, 10), BIG_KEYS);
    free(out);
    assert_int_equal(sh(&out, "find \"$1\" -type f | LC_ALL=C sort -u | wc -l", flat, NULL), 0);
    assert_int_equal(strtoull(out, NULL, 10), BIG_KEYS);
    free(out);
    char *one = mnt_path(f, "BIG/flat/k099999");
    check_file(one, "99999", 5);
    free(one);
    free(flat);
    print_message("%zu keys checked, and %d in one directory\n", total, BIG_KEYS);

    /* directories read in small pieces, twice at once, and with seeks: the
     * root and ctl (listed afresh each time) and versioned directories */
    const char *ways[] = {"", "ctl", "S1", "S1/grants", "S2/grants_by_principal/user", "R/raw"};
    for (size_t i = 0; i < sizeof ways / sizeof *ways; i++) {
        char *dir = mnt_path(f, ways[i]);
        check_listing_ways(dir);
        free(dir);
    }
}

/* ---- 2. every name edge case ---- */

#define LONG_SYNC_LEN ENGINE_SYNC_ID_MAX
#define LONG_BUCKET_LEN ENGINE_BUCKET_MAX

struct edge {
    char *key;
    size_t len;
    char *path; /* expected below the bucket; NULL: only computed */
    char *value;
    size_t value_len;
};

static struct edge *edge_keys(size_t *count)
{
    static const struct {
        const char *key;
        size_t len;
        const char *path;
    } fixed[] = {
        {"a", 1, "a%%"},
        {"a/b", 3, "a/b"},
        {"x//y", 4, "x/%%/y"},
        {"/lead", 5, "%%/lead"},
        {"trail/", 6, "trail/%%"},
        {"//", 2, "%%/%%/%%"},
        {".", 1, "%2E%%"}, /* also directories: ./dot, ../up */
        {"..", 2, "%2E%2E%%"},
        {"p/.", 3, "p/%2E%%"},
        {"p/..x", 5, "p/..x"},
        {"./dot", 5, "%2E/dot"},
        {"../up", 5, "%2E%2E/up"},
        {"p/./q", 5, "p/%2E/q"},
        {"p/../q", 6, "p/%2E%2E/q"},
        {"...", 3, "..."},
        {"100%", 4, "100%25"},
        {"a%%", 3, "a%25%25"},
        {"z%%+", 4, "z%25%25+"},
        {"nul\0byte", 8, "nul%00byte"},
        {"\0", 1, "%00"},
        {"ctl\x01\x1f\x7f", 6, "ctl%01%1F%7F"},
        {"tab\there", 8, "tab%09here"},
        {"nl\nx", 4, "nl%0Ax"},
        {"bad\xff\xfe", 5, "bad%FF%FE"},
        {"cut\xc3", 4, "cut%C3"},
        {"c1\xc2\x85", 4, "c1%C2%85"},
        {"caf\xc3\xa9", 5, "caf\xc3\xa9"},
        {"deep", 4, "deep%%"},
        {"deep/er", 7, "deep/er%%"},
        {"deep/er/key", 11, "deep/er/key"},
        {"sp ace/q\"uote'", 14, "sp ace/q\"uote'"},
    };
    size_t nfixed = sizeof fixed / sizeof *fixed;
    struct edge *e = calloc(nfixed + 16, sizeof *e);
    assert_non_null(e);
    size_t n = 0;
    for (size_t i = 0; i < nfixed; i++, n++) {
        e[n].key = malloc(fixed[i].len + 1);
        memcpy(e[n].key, fixed[i].key, fixed[i].len);
        e[n].len = fixed[i].len;
        e[n].path = strdup(fixed[i].path);
    }
    /* long components: split into <chunk>%%+ directories of 252 bytes */
    struct {
        char c;
        size_t len;
        const char *below; /* appended to the key ("" or "/c") */
        const char *path;  /* %s: 252 of c */
    } longs[] = {
        {'L', 600, "", "%s%%%%+/%s%%%%+/%.96s"},
        {'P', 255, "", NULL},
        {'Q', 256, "", "%s%%%%+/QQQQ"},
        {'M', 254, "", "%s%%%%+/MM%%%%"},
        {'M', 254, "/c", NULL},
        {'N', 255, "", "%s%%%%+/NNN%%%%"},
        {'N', 255, "/c", NULL},
    };
    char chunk[253];
    for (size_t i = 0; i < sizeof longs / sizeof *longs; i++, n++) {
        size_t bl = strlen(longs[i].below);
        e[n].len = longs[i].len + bl;
        e[n].key = malloc(e[n].len + 1);
        memset(e[n].key, longs[i].c, longs[i].len);
        memcpy(e[n].key + longs[i].len, longs[i].below, bl);
        memset(chunk, longs[i].c, 252);
        chunk[252] = '\0';
        if (longs[i].path) {
            assert_true(asprintf(&e[n].path, longs[i].path, chunk, chunk, chunk) > 0);
        } else {
            e[n].path = malloc(e[n].len + 1);
            memcpy(e[n].path, e[n].key, e[n].len);
            e[n].path[e[n].len] = '\0';
        }
    }
    /* a long component of two-byte characters and escapes across chunk ends */
    e[n].len = 401;
    e[n].key = malloc(e[n].len);
    for (size_t i = 0; i < 400; i += 2)
        memcpy(e[n].key + i, i % 6 ? "\xc3\xa9" : "%\x01", 2);
    e[n].key[400] = 'x';
    n++;
    for (size_t i = 0; i < n; i++) {
        assert_true(asprintf(&e[i].value, "value of edge key %zu\n", i) > 0);
        e[i].value_len = strlen(e[i].value);
    }
    e[0].value_len = 7; /* a value with NUL bytes */
    memcpy(e[0].value, "A\0B\0\xff\n", 7);
    *count = n;
    return e;
}

static void edge_free(struct edge *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].key);
        free(e[i].path);
        free(e[i].value);
    }
    free(e);
}

/* The longest key by absolute path: 1024 bytes that all need escapes, in a
 * sync and a bucket of the longest names. */
static void longest_key(char *key)
{
    static const char need[] = {'\x01', '%', '\xff', '\x7f'};
    for (size_t i = 0; i < ENGINE_KEY_MAX; i++)
        key[i] = need[i % 4];
}

static void long_names(char *sync, char *bucket)
{
    memset(sync, 'S', LONG_SYNC_LEN);
    sync[LONG_SYNC_LEN] = '\0';
    memset(bucket, 'b', LONG_BUCKET_LEN);
    bucket[LONG_BUCKET_LEN] = '\0';
}

/* Moves the fixture's mountpoint to a path of exactly `len` bytes below its
 * directory (SPEC: every key's path fits in PATH_MAX for mountpoints up to
 * 512 bytes). */
static void long_mountpoint(struct fx *f, size_t len)
{
    char *path = malloc(len + 1);
    assert_non_null(path);
    size_t n = (size_t)snprintf(path, len + 1, "%s", f->dir);
    assert_true(n + 2 <= len);
    while (n < len) {
        size_t part = len - n - 1 > 200 ? 200 : len - n - 1;
        if (len - n - 1 - part == 1) /* leave room for one more "/x" */
            part--;
        path[n++] = '/';
        memset(path + n, 'm', part);
        n += part;
        path[n] = '\0';
        assert_int_equal(mkdir(path, 0755), 0);
    }
    assert_int_equal(strlen(path), len);
    free(f->mnt);
    f->mnt = path;
}

static int setup_edges(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    long_mountpoint(f, 512);
    size_t n;
    struct edge *e = edge_keys(&n);
    struct lines l;
    FILE *out = lines_open(&l);
    for (size_t i = 0; i < n; i++)
        put_raw(out, "E", "edge", e[i].key, e[i].len, e[i].value, e[i].value_len);
    char sync[LONG_SYNC_LEN + 1], bucket[LONG_BUCKET_LEN + 1], key[ENGINE_KEY_MAX];
    long_names(sync, bucket);
    longest_key(key);
    put_raw(out, sync, bucket, key, sizeof key, "the longest", 11);
    lines_load(&l, f, f->base);
    edge_free(e, n);
    return fx_mount(f, NULL, NULL);
}

static void test_name_edge_cases(void **state)
{
    struct fx *f = *state;
    size_t n;
    struct edge *e = edge_keys(&n);
    char root[PATH_MAX], path[2 * PATH_MAX];
    snprintf(root, sizeof root, "%s/E", f->mnt);
    struct found_set s;
    walk_sync(root, &s);
    for (size_t i = 0; i < n; i++) {
        const struct found *fd = found_key(&s, "edge", e[i].key, e[i].len);
        const char *rel = fd->rel + strlen("edge/");
        if (e[i].path && strcmp(rel, e[i].path))
            fail_msg("key %zu is at '%s', expected '%s'", i, rel, e[i].path);
        snprintf(path, sizeof path, "%s/%s", root, fd->rel);
        /* cat and stat by the path, through a shell */
        char *out = NULL;
        size_t out_len = 0;
        assert_int_equal(sh_bin(&out, &out_len, "cat -- \"$1\"", path, NULL), 0);
        assert_int_equal(out_len, e[i].value_len);
        assert_memory_equal(out, e[i].value, out_len);
        free(out);
        assert_int_equal(sh(&out, "stat -c '%s %a %F' -- \"$1\"", path, NULL), 0);
        char want[64];
        snprintf(want, sizeof want, "%zu 444 regular file\n", e[i].value_len);
        if (strcmp(out, want))
            fail_msg("stat of key %zu: '%s', expected '%s'", i, out, want);
        free(out);
    }
    /* ls of every directory lists exactly the names find met in it */
    struct strv entries = {0}; /* "parent\tname" of every file and directory */
    for (size_t i = 0; i < s.n; i++) {
        const char *slash = strrchr(s.v[i].rel, '/');
        strv_addf(&entries, "%.*s\t%s", (int)(slash - s.v[i].rel), s.v[i].rel, slash + 1);
    }
    for (size_t i = 0; i < s.dirs.n; i++) {
        const char *slash = strrchr(s.dirs.v[i], '/');
        if (slash)
            strv_addf(&entries, "%.*s\t%s", (int)(slash - s.dirs.v[i]), s.dirs.v[i], slash + 1);
    }
    strv_sort_unique(&entries);
    for (size_t d = 0; d < s.dirs.n; d++) {
        const char *dir = s.dirs.v[d];
        struct strv want = {0}, got = {0};
        strv_add(&want, ".", 1);
        strv_add(&want, "..", 2);
        size_t dl = strlen(dir);
        for (size_t i = 0; i < entries.n; i++)
            if (!strncmp(entries.v[i], dir, dl) && entries.v[i][dl] == '\t')
                strv_add(&want, entries.v[i] + dl + 1, strlen(entries.v[i] + dl + 1));
        snprintf(path, sizeof path, "%s/%s", root, dir);
        ls_names(path, &got, "-1a");
        assert_same_set(&want, &got, path);
        strv_release(&want);
        strv_release(&got);
    }
    size_t dirs_listed = s.dirs.n;
    strv_release(&entries);
    found_set_release(&s);
    /* find sees every key once and every directory; contents and modes */
    assert_int_equal(check_sync(f, f->base, "E"), n);

    /* the longest key: cat by its absolute path below the 512-byte
     * mountpoint, which fits in PATH_MAX */
    char sync[LONG_SYNC_LEN + 1], bucket[LONG_BUCKET_LEN + 1], key[ENGINE_KEY_MAX];
    long_names(sync, bucket);
    longest_key(key);
    snprintf(root, sizeof root, "%s/%s", f->mnt, sync);
    walk_sync(root, &s);
    const struct found *fd = found_key(&s, bucket, key, sizeof key);
    size_t len = (size_t)snprintf(path, sizeof path, "%s/%s", root, fd->rel);
    found_set_release(&s);
    size_t below_mnt = len - strlen(f->mnt);
    print_message("the longest key's path: %zu bytes below the mountpoint\n", below_mnt);
    assert_true(below_mnt > 3 * ENGINE_KEY_MAX);
    assert_int_equal(strlen(f->mnt), 512); /* a real 512-byte mountpoint */
    assert_true(len < PATH_MAX);
    char *out = NULL;
    assert_int_equal(sh(&out, "cat -- \"$1\"", path, NULL), 0);
    assert_string_equal(out, "the longest");
    free(out);
    assert_int_equal(check_sync(f, f->base, sync), 1);
    edge_free(e, n);
    print_message("%zu edge keys, %zu directories listed\n", n, dirs_listed);
}

/* ---- 3. ctl/compact through real shells ---- */

static int setup_ctl(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "200", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "K", "--grants", "100", "--seed", "9", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "X", "--grants", "50", "--seed", "5", NULL), 0);
    return fx_mount(f, NULL, NULL);
}

/* cat MNT/ctl/stats, parsed. */
static json_t *stats_of(const struct fx *f)
{
    char *path = mnt_path(f, "ctl/stats"), *out = NULL;
    if (sh(&out, "cat \"$1\"", path, NULL))
        fail_msg("cat %s failed", path);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!j || !json_is_object(j))
        fail_msg("ctl/stats is not a JSON object: '%s'", out);
    free(path);
    free(out);
    return j;
}

static long long json_int_at(json_t *j, const char *a, const char *b, const char *c)
{
    json_t *v = json_object_get(j, a);
    if (v && b)
        v = json_object_get(v, b);
    if (v && c)
        v = json_object_get(v, c);
    if (!json_is_integer(v)) {
        char *text = json_dumps(j, JSON_COMPACT);
        fail_msg("no integer at %s.%s.%s in %s", a, b ? b : "", c ? c : "", text);
    }
    return json_integer_value(v);
}

/* One sync's entry in ctl/stats: this mount's compactions of it, whether its
 * approximate size is above zero, and no old version pinned. */
static void expect_sync_stats(json_t *stats, const char *sync, long long done, long long failed,
                              int has_bytes)
{
    json_t *s = json_object_get(json_object_get(stats, "syncs"), sync);
    if (!s)
        fail_msg("ctl/stats has no sync %s", sync);
    assert_int_equal(json_int_at(s, "compactions", "done", NULL), done);
    assert_int_equal(json_int_at(s, "compactions", "failed", NULL), failed);
    assert_int_equal(json_int_at(s, "compactions", "running", NULL), 0);
    if (has_bytes)
        assert_true(json_int_at(s, "approximate_bytes", NULL, NULL) > 0);
    assert_int_equal(json_int_at(s, "old_versions", "pinned", NULL), 0);
    assert_true(
        json_is_number(json_object_get(json_object_get(s, "old_versions"), "oldest_seconds")));
}

static void test_ctl_compact(void **state)
{
    struct fx *f = *state;
    char *src = src_path(f, 0, "src");
    char *empty = src_path(f, 1, "empty"); /* a store without S or X */
    char *notstore = src_path(f, 2, "notstore");
    assert_int_equal(syncstore("gen", src, "S", "--grants", "300", "--seed", "3", NULL), 0);
    assert_int_equal(syncstore("gen", empty, "other", "--grants", "10", NULL), 0);
    assert_int_equal(mkdir(notstore, 0755), 0);
    char *junk = tu_join(notstore, "junk");
    tu_write_file(junk, "x", 1);
    size_t src_keys, k_keys;
    uint64_t src_hash = sync_hash(src, "S", &src_keys);
    uint64_t k_hash = sync_hash(f->base, "K", &k_keys);

    /* no attempt yet: state none */
    expect_status(f, "S", "none", NULL, 0, 0);

    /* success: the write returns when the sync has switched */
    assert_int_equal(sh_compact(f, src, "S"), 0);
    expect_status(f, "S", "done", src, (long long)src_keys, 0);
    size_t n;
    assert_true(sync_hash(f->base, "S", &n) == src_hash);
    assert_int_equal(check_sync(f, f->base, "S"), src_keys);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);
    /* the shell's >> too: a status file shows size 0, so the append writes
     * at offset 0 like > */
    char *ctl_s = mnt_path(f, "ctl/compact/S");
    assert_int_equal(sh(NULL, "exec 2>/dev/null; echo \"$1\" >> \"$2\"", src, ctl_s, NULL), 0);
    expect_status(f, "S", "done", src, (long long)src_keys, 0);
    free(ctl_s);

    /* empty source: ENODATA, and the base's X is excised */
    char *x_dir = mnt_path(f, "X");
    struct stat st;
    assert_int_equal(stat(x_dir, &st), 0);
    expect_compact_error(f, empty, "X", "No data available");
    expect_status(f, "X", "empty", empty, 0, 0);
    assert_int_equal(stat(x_dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    sync_hash(f->base, "X", &n);
    assert_int_equal(n, 0);
    free(x_dir);

    /* the exit status of a plain sh */
    assert_int_not_equal(sh_compact(f, "/nonexistent/source", "S"), 0);

    /* failures leave the base unchanged */
    struct {
        const char *source;
        const char *words;
        int status; /* 1: a status records the attempt */
    } bad[] = {
        {"/nonexistent/source", "No such file or directory", 1},
        {junk, "Not a directory", 1},
        {"relative/path", "Invalid argument", 0},
        {notstore, "Invalid argument", 1},
        {f->base, "Invalid argument", 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        expect_compact_error(f, bad[i].source, "S", bad[i].words);
        if (bad[i].status)
            expect_status(f, "S", "failed", bad[i].source, -1, 1);
        assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    }
    /* a bad sync_id fails at create */
    char *text = NULL;
    assert_int_not_equal(bash_compact(f, src, "a b", &text), 0);
    if (!strstr(text, "Invalid argument") || strstr(text, "write error"))
        fail_msg("bad sync_id: '%s'", text);
    free(text);
    assert_int_not_equal(sh_compact(f, src, "a b"), 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    assert_true(sync_hash(f->base, "K", NULL) == k_hash);

    /* ls lists the syncs with a status */
    char *compact_dir = mnt_path(f, "ctl/compact");
    struct strv want = {0}, got = {0};
    strv_add(&want, "S", 1);
    strv_add(&want, "X", 1);
    ls_names(compact_dir, &got, "-1");
    assert_same_set(&want, &got, "ls ctl/compact");
    strv_release(&got);

    /* ctl/stats: the store's figures and each sync's (X is gone but compacted) */
    json_t *stats = stats_of(f);
    assert_int_equal(json_int_at(stats, "compactions", "done", NULL),
                     3); /* S twice (> and >>), X */
    assert_int_equal(json_int_at(stats, "compactions", "failed", NULL), 5);
    assert_true(json_int_at(stats, "live_sst_bytes", NULL, NULL) > 0);
    json_int_at(stats, "pending_compaction_bytes", NULL, NULL);
    expect_sync_stats(stats, "S", 2, 5, 1);
    expect_sync_stats(stats, "K", 0, 0, 1);
    expect_sync_stats(stats, "X", 1, 0, 0);
    assert_int_equal(json_object_size(json_object_get(stats, "syncs")), 3);
    json_decref(stats);

    /* the statuses survive an unmount and a remount */
    json_t *before = status_of(f, "S");
    assert_int_equal(fx_unmount(f, 0), 0);
    assert_int_equal(fx_mount(f, NULL, NULL), 0);
    ls_names(compact_dir, &got, "-1");
    assert_same_set(&want, &got, "ls ctl/compact after a remount");
    json_t *after = status_of(f, "S");
    check_status(after, "S", "failed", f->base, -1, 1);
    assert_true(json_equal(before, after));
    expect_status(f, "X", "empty", empty, 0, 0);
    assert_int_equal(check_sync(f, f->base, "S"), src_keys);
    json_decref(before);
    json_decref(after);
    strv_release(&want);
    strv_release(&got);
    free(compact_dir);
    free(junk);
}

/* A source whose SST files qualify takes the copy path through ctl/compact:
 * the status and ctl/stats say "copy" and count the files copied; a source
 * that does not (a second sync in the same file) streams, and says so. */
static void test_ctl_compact_method(void **state)
{
    struct fx *f = *state;
    char *scratch = src_path(f, 0, "scratch");
    char *src = src_path(f, 1, "src"), *mixed = src_path(f, 2, "mixed");
    assert_int_equal(syncstore("gen", scratch, "S", "--grants", "300", "--seed", "4", NULL), 0);
    assert_int_equal(syncstore("gen", scratch, "K", "--grants", "30", "--seed", "6", NULL), 0);
    engine *from = NULL, *to = NULL;
    assert_int_equal(engine_open(scratch, ENGINE_OPEN_READ_ONLY, &from, NULL), 0);
    const char *one[] = {"S", NULL}, *both[] = {"K", "S", NULL};
    assert_int_equal(engine_open(src, ENGINE_OPEN_CREATE, &to, NULL), 0);
    tu_ingest_syncs(from, to, one, 0);
    engine_close(to);
    assert_int_equal(engine_open(mixed, ENGINE_OPEN_CREATE, &to, NULL), 0);
    tu_ingest_syncs(from, to, both, 1);
    engine_close(to);
    engine_close(from);
    size_t keys;
    uint64_t h = sync_hash(src, "S", &keys);

    assert_int_equal(sh_compact(f, src, "S"), 0);
    json_t *j = status_of(f, "S");
    check_status(j, "S", "done", src, (long long)keys, 0);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "copy");
    assert_int_equal(json_integer_value(json_object_get(j, "files_copied")), 1);
    assert_true(json_integer_value(json_object_get(j, "bytes_copied")) > 0);
    json_decref(j);
    assert_true(sync_hash(f->base, "S", NULL) == h);
    assert_int_equal(check_sync(f, f->base, "S"), keys);
    json_t *stats = stats_of(f);
    json_t *c =
        json_object_get(json_object_get(json_object_get(stats, "syncs"), "S"), "compactions");
    assert_string_equal(json_string_value(json_object_get(c, "method")), "copy");
    assert_true(json_is_null(json_object_get(
        json_object_get(json_object_get(json_object_get(stats, "syncs"), "K"), "compactions"),
        "method")));
    json_decref(stats);

    h = sync_hash(mixed, "K", &keys);
    assert_int_equal(sh_compact(f, mixed, "K"), 0);
    j = status_of(f, "K");
    assert_string_equal(json_string_value(json_object_get(j, "method")), "stream");
    assert_int_equal(json_integer_value(json_object_get(j, "files_copied")), 0);
    assert_true(json_integer_value(json_object_get(j, "threads")) >= 1);
    json_decref(j);
    assert_true(sync_hash(f->base, "K", NULL) == h);
    /* the method survives a remount, in the persisted record */
    assert_int_equal(fx_unmount(f, 0), 0);
    assert_int_equal(fx_mount(f, NULL, NULL), 0);
    j = status_of(f, "S");
    assert_string_equal(json_string_value(json_object_get(j, "method")), "copy");
    json_decref(j);

    /* a source straight from `gen` (a new store) takes the copy path too */
    char *fresh = src_path(f, 3, "fresh");
    assert_int_equal(syncstore("gen", fresh, "G", "--grants", "200", "--seed", "7", NULL), 0);
    h = sync_hash(fresh, "G", &keys);
    assert_int_equal(sh_compact(f, fresh, "G"), 0);
    j = status_of(f, "G");
    check_status(j, "G", "done", fresh, (long long)keys, 0);
    assert_string_equal(json_string_value(json_object_get(j, "method")), "copy");
    json_decref(j);
    assert_true(sync_hash(f->base, "G", NULL) == h);
}

/* One open of path and the given write()s, each of its own bytes (offsets
 * growing as a shell's would): 0 when all succeeded, else the errno of the
 * first that failed (a negative errno for the open). */
static int write_parts(const char *path, const char *const parts[], size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -errno;
    int err = 0;
    for (size_t i = 0; i < n && !err; i++) {
        ssize_t w = write(fd, parts[i], strlen(parts[i]));
        if (w < 0)
            err = errno;
        else if ((size_t)w != strlen(parts[i]))
            err = EMSGSIZE;
    }
    if (close(fd) && !err)
        err = errno;
    return err;
}

/* ctl/delete performed (not only refused); ctl/compact making a sync the base
 * lacks (the shell's O_CREAT|O_TRUNC); one write() or EINVAL; a path without
 * its newline. */
static void test_ctl_delete_and_writes(void **state)
{
    struct fx *f = *state;
    char *src = src_path(f, 0, "src");
    assert_int_equal(syncstore("gen", src, "N", "--grants", "40", "--seed", "4", NULL), 0);
    assert_int_equal(syncstore("gen", src, "S", "--grants", "60", "--seed", "6", NULL), 0);
    size_t k_keys, x_keys, n_keys, s_keys;
    uint64_t s_hash = sync_hash(f->base, "S", NULL);
    uint64_t x_hash = sync_hash(f->base, "X", &x_keys);
    sync_hash(f->base, "K", &k_keys);
    uint64_t n_hash = sync_hash(src, "N", &n_keys);
    uint64_t src_s_hash = sync_hash(src, "S", &s_keys);
    assert_true(k_keys > 0 && n_keys > 0);

    /* delete K: gone from the base and the mount, the others as they were;
     * the root's listing, which the kernel keeps (no OPENDIR asks us), loses
     * it at once */
    char *k_dir = mnt_path(f, "K"), *del_k = mnt_path(f, "ctl/delete/K");
    char *ctl_compact = mnt_path(f, "ctl/compact");
    struct stat st;
    assert_int_equal(stat(k_dir, &st), 0);
    assert_true(listed(f->mnt, "K"));
    assert_true(listed(f->mnt, "K")); /* listed twice: the second from the kernel's cache */
    assert_false(listed(ctl_compact, "N"));
    assert_int_equal(sh(NULL, "echo > \"$1\"", del_k, NULL), 0);
    assert_false(listed(f->mnt, "K"));
    size_t n;
    sync_hash(f->base, "K", &n);
    assert_int_equal(n, 0);
    assert_int_equal(stat(k_dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_true(sync_hash(f->base, "S", NULL) == s_hash);
    assert_true(sync_hash(f->base, "X", NULL) == x_hash);
    expect_status(f, "K", "done", NULL, 0, 0);
    /* deleting it again: ENOENT, the status says why */
    const char *nl[] = {"\n"};
    assert_int_equal(write_parts(del_k, nl, 1), ENOENT);
    expect_status(f, "K", "failed", NULL, -1, 1);

    /* a sync the base lacks, made through ctl/compact */
    char *n_dir = mnt_path(f, "N"), *ctl_n = mnt_path(f, "ctl/compact/N");
    assert_int_equal(stat(n_dir, &st), -1);
    assert_false(listed(f->mnt, "N"));
    assert_int_equal(sh_compact(f, src, "N"), 0);
    assert_true(listed(f->mnt, "N")); /* the root's and ctl/compact's listings gain it */
    assert_true(listed(ctl_compact, "N"));
    free(ctl_compact);
    assert_true(sync_hash(f->base, "N", NULL) == n_hash);
    assert_int_equal(check_sync(f, f->base, "N"), n_keys);
    expect_status(f, "N", "done", src, (long long)n_keys, 0);

    /* the path cut over two write()s: the first holds "/", not a store, and
     * fails; the second is not at offset 0: EINVAL; the base is unchanged */
    char *ctl_s = mnt_path(f, "ctl/compact/S");
    const char *halves[] = {"/", src + 1};
    assert_int_equal(write_parts(ctl_s, halves, 2), EINVAL);
    assert_true(sync_hash(f->base, "S", NULL) == s_hash);
    expect_status(f, "S", "failed", "/", -1, 1);

    /* one write() without the newline */
    const char *bare[] = {src};
    assert_int_equal(write_parts(ctl_s, bare, 1), 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_s_hash);
    expect_status(f, "S", "done", src, (long long)s_keys, 0);

    /* a second write() after a whole path: the first ran its compaction,
     * the second is EINVAL and starts no attempt (counted in ctl/stats) */
    json_t *stats = stats_of(f);
    json_t *s_stats = json_object_get(json_object_get(stats, "syncs"), "S");
    long long done = json_int_at(s_stats, "compactions", "done", NULL);
    long long failed = json_int_at(s_stats, "compactions", "failed", NULL);
    json_decref(stats);
    const char *more[] = {src, "\n"};
    assert_int_equal(write_parts(ctl_s, more, 2), EINVAL);
    expect_status(f, "S", "done", src, (long long)s_keys, 0);
    stats = stats_of(f);
    s_stats = json_object_get(json_object_get(stats, "syncs"), "S");
    assert_int_equal(json_int_at(s_stats, "compactions", "done", NULL), done + 1);
    assert_int_equal(json_int_at(s_stats, "compactions", "failed", NULL), failed);
    json_decref(stats);
    assert_true(sync_hash(f->base, "X", NULL) == x_hash);
    free(k_dir);
    free(del_k);
    free(n_dir);
    free(ctl_n);
    free(ctl_s);
}

/* EBUSY and Ctrl-C need a compaction that lasts: the daemon pauses 1.5 s
 * before each ingest. */
static int setup_paused(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "200", "--seed", "1", NULL), 0);
    return fx_mount(f, NULL, ENGINE_PAUSE_ENV "=1500,0");
}

static volatile sig_atomic_t writer_interrupted;

static void writer_on_sigint(int sig)
{
    (void)sig;
    writer_interrupted = 1;
}

/* A child that writes text to path in one write() and exits with the errno
 * (0 on success); it catches SIGINT so that the errno shows. */
static pid_t spawn_writer(const char *path, const char *text)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = writer_on_sigint;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL); /* no SA_RESTART */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
            _exit(200);
        ssize_t n = write(fd, text, strlen(text));
        int err = n == (ssize_t)strlen(text) ? 0 : n < 0 ? errno : 201;
        close(fd);
        _exit(err);
    }
    setpgid(pid, pid);
    kid_add(pid);
    return pid;
}

/* The source's bytes as the status counts them: every on-disk key and
 * value length of the sync. */
static uint64_t sync_bytes(const char *store, const char *sync, size_t *keys)
{
    engine *e = open_ro(store);
    engine_iter *it = engine_iter_new_sync(e, NULL, sync);
    assert_non_null(it);
    uint64_t bytes = 0;
    size_t n = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it), n++) {
        size_t kl, vl;
        engine_iter_disk_key(it, &kl);
        engine_iter_value(it, &vl);
        bytes += kl + vl;
    }
    assert_int_equal(engine_iter_status(it, NULL), 0);
    engine_iter_free(it);
    engine_close(e);
    *keys = n;
    return bytes;
}

/* The status's keys and bytes grow while a compaction runs and end at the
 * source's true figures: the daemon holds the stream 1.5 s after its first
 * progress report (4096 keys), and the test reads the status meanwhile. */
static int setup_stream_paused(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "200", "--seed", "1", NULL), 0);
    return fx_mount(f, NULL, ENGINE_PAUSE_ENV "=0,0,1500");
}

static void test_ctl_status_grows(void **state)
{
    struct fx *f = *state;
    char *src = src_path(f, 0, "src");
    /* a source that streams: S replaced in it, so a tombstone lies under its
     * files and they do not qualify for the copy path */
    assert_int_equal(syncstore("gen", src, "S", "--grants", "10", "--seed", "3", NULL), 0);
    assert_int_equal(syncstore("gen", src, "S", "--grants", "4000", "--seed", "2", NULL), 0);
    size_t total_keys;
    uint64_t total_bytes = sync_bytes(src, "S", &total_keys);
    assert_true(total_keys > 2 * 4096);
    char *ctl = mnt_path(f, "ctl/compact/S"), *line = NULL;
    assert_true(asprintf(&line, "%s\n", src) > 0);
    pid_t w = spawn_writer(ctl, line);

    /* while held: running, and part of the way */
    long long deadline = now_ms() + CMD_TIMEOUT_MS;
    json_t *j = NULL;
    for (;;) {
        j = status_of(f, "S");
        const char *st = json_string_value(json_object_get(j, "state"));
        long long keys = json_integer_value(json_object_get(j, "keys"));
        if (st && !strcmp(st, "running") && keys > 0)
            break;
        int over = st && strcmp(st, "running") && strcmp(st, "none"); /* the hold was missed */
        if (over || now_ms() > deadline) {
            char *text = json_dumps(j, JSON_COMPACT);
            fail_msg("no running status with keys streamed: %s", text);
        }
        json_decref(j);
        sleep_ms(10); /* polling the status, the condition itself */
    }
    long long keys = json_integer_value(json_object_get(j, "keys"));
    long long bytes = json_integer_value(json_object_get(j, "bytes"));
    print_message("while running: %lld of %zu keys, %lld of %llu bytes\n", keys, total_keys, bytes,
                  (unsigned long long)total_bytes);
    assert_true(keys < (long long)total_keys);
    assert_true(bytes > 0 && bytes < (long long)total_bytes);
    json_decref(j);

    /* done: the true figures */
    int raw = 0;
    assert_int_equal(wait_child(w, CMD_TIMEOUT_MS, &raw), 0);
    j = status_of(f, "S");
    check_status(j, "S", "done", src, (long long)total_keys, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "bytes")), (long long)total_bytes);
    assert_true(json_integer_value(json_object_get(j, "keys")) > keys);
    json_decref(j);
    free(line);
    free(ctl);
}

static void test_ctl_busy_and_cancel(void **state)
{
    struct fx *f = *state;
    char *src = src_path(f, 0, "src"), *src2 = src_path(f, 1, "src2");
    assert_int_equal(syncstore("gen", src, "S", "--grants", "300", "--seed", "3", NULL), 0);
    assert_int_equal(syncstore("gen", src2, "S", "--grants", "250", "--seed", "4", NULL), 0);
    size_t src_keys;
    uint64_t src_hash = sync_hash(src, "S", &src_keys);
    char *ctl = mnt_path(f, "ctl/compact/S");

    /* the same sync twice at once: the second write is EBUSY */
    const char *argv[] = {"sh", "-c", "echo \"$1\" > \"$2\"", "sh", src, ctl, NULL};
    pid_t first = spawn((char *const *)argv, NULL, -1, 0);
    wait_state(f, "S", "running");
    expect_status(f, "S", "running", src, -1, 0);
    char *text = NULL;
    int rc = bash_compact(f, src2, "S", &text);
    if (rc == 0 || !strstr(text, "Device or resource busy"))
        fail_msg("a second compaction of S: exit %d, '%s'", rc, text);
    free(text);
    /* the refusal leaves the running attempt's status */
    expect_status(f, "S", "running", src, -1, 0);
    /* a deletion of the same sync meanwhile: EBUSY too, status kept */
    char *del = mnt_path(f, "ctl/delete/S");
    const char *nl[] = {"\n"};
    assert_int_equal(write_parts(del, nl, 1), EBUSY);
    expect_status(f, "S", "running", src, -1, 0);
    free(del);
    assert_int_equal(wait_child(first, CMD_TIMEOUT_MS, NULL), 0);
    expect_status(f, "S", "done", src, (long long)src_keys, 0);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);

    /* Ctrl-C during the pause: the write fails with EINTR (or the writer
     * dies), the compaction is cancelled, the base unchanged */
    char *line = NULL;
    assert_true(asprintf(&line, "%s\n", src2) > 0);
    pid_t writer = spawn_writer(ctl, line);
    /* Running means the WRITE is in the daemon; an INTERRUPT that comes
     * before the daemon registers its callback is still seen
     * (fuse_req_interrupt_func calls it at once, and the progress callback
     * asks fuse_req_interrupted), so no sleep is needed here. */
    wait_state(f, "S", "running");
    assert_int_equal(kill(writer, SIGINT), 0);
    int raw = 0;
    rc = wait_child(writer, CMD_TIMEOUT_MS, &raw);
    if (!(WIFEXITED(raw) && WEXITSTATUS(raw) == EINTR) &&
        !(WIFSIGNALED(raw) && WTERMSIG(raw) == SIGINT))
        fail_msg("the interrupted writer ended with %d", rc);
    expect_status(f, "S", "cancelled", src2, -1, 1);
    assert_true(sync_hash(f->base, "S", NULL) == src_hash);
    assert_int_equal(check_sync(f, f->base, "S"), src_keys);

    /* the status survives a remount */
    json_t *before = status_of(f, "S");
    assert_int_equal(fx_unmount(f, 0), 0);
    assert_int_equal(fx_mount(f, NULL, NULL), 0);
    json_t *after = status_of(f, "S");
    assert_true(json_equal(before, after));
    json_decref(before);
    json_decref(after);
    struct strv want = {0}, got = {0};
    strv_add(&want, "S", 1);
    char *compact_dir = mnt_path(f, "ctl/compact");
    ls_names(compact_dir, &got, "-1");
    assert_same_set(&want, &got, "ls ctl/compact");
    strv_release(&want);
    strv_release(&got);
    free(compact_dir);
    free(line);
    free(ctl);
}

/* ---- 4. no stale cache after a switch ---- */

static void put_kv(FILE *out, const char *sync, const char *bucket, const char *key,
                   const char *value)
{
    put_raw(out, sync, bucket, key, strlen(key), value, strlen(value));
}

static void old_content(FILE *out)
{
    put_kv(out, "S", "b", "top", "old top");
    put_kv(out, "S", "b", "dir/k1", "old one");
    put_kv(out, "S", "b", "dir/k2", "old two");
    put_kv(out, "S", "b", "gone/k", "soon gone");
}

static void new_content(FILE *out)
{
    put_kv(out, "S", "b", "top", "the new top, longer");
    put_kv(out, "S", "b", "dir/k1", "new one");
    put_kv(out, "S", "b", "dir/k3", "new three");
    put_kv(out, "S", "c", "fresh", "a new bucket");
}

static int setup_cache(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    struct lines l;
    old_content(lines_open(&l));
    put_kv(l.f, "O", "b", "other", "other sync");
    lines_load(&l, f, f->base);
    new_content(lines_open(&l));
    lines_load(&l, f, src_path(f, 0, "new"));
    old_content(lines_open(&l));
    lines_load(&l, f, src_path(f, 1, "old"));
    return fx_mount(f, NULL, NULL);
}

static char *cat_path(const struct fx *f, const char *rel)
{
    char *p = mnt_path(f, rel), *out = NULL;
    int rc = sh(&out, "cat -- \"$1\"", p, NULL);
    if (rc)
        fail_msg("cat %s: exit %d", p, rc);
    free(p);
    return out;
}

static long long stat_size(const struct fx *f, const char *rel)
{
    char *p = mnt_path(f, rel);
    struct stat st;
    if (stat(p, &st))
        fail_msg("stat %s: %s", p, strerror(errno));
    free(p);
    return st.st_size;
}

static void expect_listing(const struct fx *f, const char *rel, const char *names)
{
    struct strv want = {0}, got = {0};
    strv_split(&want, names, strlen(names), ' ');
    char *p = mnt_path(f, rel);
    ls_names(p, &got, "-1");
    assert_same_set(&want, &got, p);
    free(p);
    strv_release(&want);
    strv_release(&got);
}

static int exists(const struct fx *f, const char *rel)
{
    char *p = mnt_path(f, rel);
    struct stat st;
    int rc = stat(p, &st);
    int err = errno;
    free(p);
    if (rc && err != ENOENT)
        fail_msg("stat %s: %s", rel, strerror(err));
    return rc == 0;
}

static void expect_old(const struct fx *f)
{
    char *v = cat_path(f, "S/b/top");
    assert_string_equal(v, "old top");
    free(v);
    assert_int_equal(stat_size(f, "S/b/top"), 7);
    v = cat_path(f, "S/b/dir/k1");
    assert_string_equal(v, "old one");
    free(v);
    expect_listing(f, "S", "b");
    expect_listing(f, "S/b", "dir gone top");
    expect_listing(f, "S/b/dir", "k1 k2");
    assert_true(exists(f, "S/b/gone/k"));
}

static void expect_new(const struct fx *f)
{
    char *v = cat_path(f, "S/b/top");
    assert_string_equal(v, "the new top, longer");
    free(v);
    assert_int_equal(stat_size(f, "S/b/top"), 19);
    v = cat_path(f, "S/b/dir/k1");
    assert_string_equal(v, "new one");
    free(v);
    expect_listing(f, "S", "b c");
    expect_listing(f, "S/b", "dir top");
    expect_listing(f, "S/b/dir", "k1 k3");
    assert_false(exists(f, "S/b/dir/k2"));
    assert_false(exists(f, "S/b/gone/k"));
    assert_false(exists(f, "S/b/gone"));
    v = cat_path(f, "S/c/fresh");
    assert_string_equal(v, "a new bucket");
    free(v);
}

static void test_no_stale_cache(void **state)
{
    struct fx *f = *state;
    for (int round = 0; round < 3; round++) {
        /* warm reads: twice, so that the kernel holds entries, attributes,
         * pages and listings */
        expect_old(f);
        expect_old(f);
        assert_int_equal(sh_compact(f, f->src[0], "S"), 0);
        expect_new(f);
        expect_new(f);
        assert_int_equal(sh_compact(f, f->src[1], "S"), 0);
    }
    expect_old(f);
    char *v = cat_path(f, "O/b/other");
    assert_string_equal(v, "other sync");
    free(v);
}

/* ---- 5. traversals are old or new, never a mix; the age limit ---- */

static void traverse_content(FILE *out, const char *tag, int n)
{
    char key[128], value[128];
    for (int i = 0; i < n; i++) {
        /* the same paths in both contents, with other values, and paths of
         * their own */
        snprintf(key, sizeof key, "common/d%d/k%d", i % 9, i);
        snprintf(value, sizeof value, "%s common %d", tag, i);
        put_kv(out, "T", "b", key, value);
        snprintf(key, sizeof key, "%s/d%d/k%d", tag, i % 5, i);
        put_kv(out, "T", i % 3 ? "b" : "c", key, value);
    }
}

static int setup_traverse_with(void **state, const char *opts)
{
    struct fx *f = fx_new();
    *state = f;
    struct lines l;
    traverse_content(lines_open(&l), "A", 120);
    lines_load(&l, f, f->base);
    assert_int_equal(syncstore("gen", f->base, "O", "--grants", "150", NULL), 0);
    traverse_content(lines_open(&l), "A", 120);
    lines_load(&l, f, src_path(f, 0, "srcA"));
    traverse_content(lines_open(&l), "B", 150);
    lines_load(&l, f, src_path(f, 1, "srcB"));
    return fx_mount(f, opts, NULL);
}

static int setup_traverse(void **state)
{
    return setup_traverse_with(state, NULL);
}

static int setup_age(void **state)
{
    return setup_traverse_with(state, "version_max_age=1");
}

/* One traversal from inside dir: names and contents of every file. */
static const char traverse_script[] =
    "set -o pipefail; cd \"$1\" && find . -type f -print0 | LC_ALL=C sort -z | "
    "xargs -0r md5sum | md5sum";

/* Repeats the traversal until the file $2 exists, appending to $3 one line
 * per traversal: the number of switches done before it started and after it
 * ended (the file $4, which the compaction loop rewrites after each switch)
 * and the hash (or "error").  A line whose two numbers differ is a walk that
 * a switch overlapped. */
static const char reader_script[] =
    "while [ ! -e \"$2\" ]; do "
    "g0=$(cat \"$4\"); "
    "h=$(set -o pipefail; cd \"$1\" && find . -type f -print0 | LC_ALL=C sort -z | "
    "xargs -0r md5sum | md5sum) || h=\"error $?\"; "
    "g1=$(cat \"$4\"); echo \"$g0 $g1 $h\" >> \"$3\"; done";

/* What the readers of test_traversal_consistency saw so far. */
struct traverse_seen {
    size_t a, b, o, overlapped; /* overlapped: walks of T that a switch overlapped */
};

/* Reads every reader's lines; fails on a hash that is neither version. */
static struct traverse_seen traverse_tally(char *const outs[], int readers, const char *hash_a,
                                           const char *hash_b, const char *hash_o)
{
    struct traverse_seen seen = {0, 0, 0, 0};
    for (int i = 0; i < readers; i++) {
        FILE *in = fopen(outs[i], "r");
        if (!in)
            continue; /* no traversal ended yet */
        char line[256];
        while (fgets(line, sizeof line, in)) {
            unsigned long g0, g1;
            int at = 0;
            if (sscanf(line, "%lu %lu %n", &g0, &g1, &at) != 2 || !at)
                fail_msg("reader %d wrote '%s'", i, line);
            const char *h = line + at;
            if (i < 2 && !strcmp(h, hash_a))
                seen.a++;
            else if (i < 2 && !strcmp(h, hash_b))
                seen.b++;
            else if (i == 2 && !strcmp(h, hash_o))
                seen.o++;
            else
                fail_msg("reader %d saw '%s' (A %s, B %s, O %s)", i, h, hash_a, hash_b, hash_o);
            if (i < 2 && g0 != g1)
                seen.overlapped++;
        }
        fclose(in);
    }
    return seen;
}

static char *traverse_hash(const char *dir)
{
    char *out = NULL;
    char *const argv[] = {"bash", "-c", (char *)traverse_script, "bash", (char *)dir, NULL};
    assert_int_equal(run_argv(argv, NULL, 0, &out, NULL), 0);
    assert_true(strlen(out) > 32);
    return out;
}

static void test_traversal_consistency(void **state)
{
    struct fx *f = *state;
    char *t_dir = mnt_path(f, "T"), *o_dir = mnt_path(f, "O");
    char *ctl = mnt_path(f, "ctl/compact/T");
    char *stop = tu_join(f->dir, "stop");
    char *hash_a = traverse_hash(t_dir);
    char *hash_o = traverse_hash(o_dir);
    assert_int_equal(sh_compact(f, f->src[1], "T"), 0);
    char *hash_b = traverse_hash(t_dir);
    assert_string_not_equal(hash_a, hash_b);

    /* readers: two inside T, one inside O */
    enum { READERS = 3, MIN_SWITCHES = 50, MAX_SWITCHES = 1000 };
    char *gen = tu_join(f->dir, "switches"), *stop_loop = tu_join(f->dir, "stop-loop");
    tu_write_file(gen, "0\n", 2);
    pid_t readers[READERS];
    char *outs[READERS];
    for (int i = 0; i < READERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "reader%d.txt", i);
        outs[i] = tu_join(f->dir, name);
        char *const argv[] = {
            "bash", "-c", (char *)reader_script, "bash", i < 2 ? t_dir : o_dir, stop, outs[i],
            gen,    NULL};
        readers[i] = spawn(argv, NULL, -1, 0);
    }
    /* The loop alternates the two sources (an even number of switches, so it
     * ends on B) until told to stop, counting switches in $4. */
    const char loop[] = "i=0; while [ ! -e \"$5\" ] && [ $i -lt $6 ]; do "
                        "echo \"$1\" > \"$3\" || exit 1; echo \"$2\" > \"$3\" || exit 1; "
                        "i=$((i + 2)); echo $i > \"$4.new\" && mv \"$4.new\" \"$4\"; done";
    char max[16];
    snprintf(max, sizeof max, "%d", MAX_SWITCHES);
    char *const argv[] = {"bash", "-c", (char *)loop, "bash", f->src[0], f->src[1],
                          ctl,    gen,  stop_loop,    max,    NULL};
    long long t0 = now_ms();
    pid_t looper = spawn(argv, NULL, -1, 0);
    /* Stop once both versions were seen inside T, a walk overlapped a
     * switch, and at least MIN_SWITCHES were done; the deadline only guards
     * against a hang (the assertions below then say what was missing). */
    struct traverse_seen seen;
    for (;;) {
        seen = traverse_tally(outs, READERS, hash_a, hash_b, hash_o);
        char *g = NULL;
        long done = 0;
        if (tu_read_file(gen, &g, NULL) == 0) {
            done = strtol(g, NULL, 10);
            free(g);
        }
        if ((seen.a && seen.b && seen.overlapped && done >= MIN_SWITCHES) || done >= MAX_SWITCHES ||
            now_ms() - t0 > CMD_TIMEOUT_MS)
            break;
        usleep(100 * 1000); /* polling a condition, not waiting for time to pass */
    }
    tu_write_file(stop_loop, "", 0);
    assert_int_equal(wait_child(looper, CMD_TIMEOUT_MS, NULL), 0);
    long long loop_ms = now_ms() - t0;
    tu_write_file(stop, "", 0);
    for (int i = 0; i < READERS; i++)
        assert_int_equal(wait_child(readers[i], CMD_TIMEOUT_MS, NULL), 0);
    seen = traverse_tally(outs, READERS, hash_a, hash_b, hash_o);
    char *g = NULL;
    assert_int_equal(tu_read_file(gen, &g, NULL), 0);
    print_message("%s switches in %lld ms; traversals of T: %zu A, %zu B, %zu overlapped a "
                  "switch; of O: %zu\n",
                  strtok(g, "\n"), loop_ms, seen.a, seen.b, seen.overlapped, seen.o);
    free(g);
    assert_true(seen.a > 0);          /* the old version was walked during the loop */
    assert_true(seen.b > 0);          /* and the new one */
    assert_true(seen.overlapped > 0); /* and a walk spanned a switch, still whole */
    assert_true(seen.o > 0);          /* the other sync was readable throughout */
    for (int i = 0; i < READERS; i++)
        free(outs[i]);
    free(gen);
    free(stop_loop);
    /* the loop ended on B */
    char *end = traverse_hash(t_dir);
    assert_string_equal(end, hash_b);
    free(end);
    free(hash_a);
    free(hash_b);
    free(hash_o);
    free(t_dir);
    free(o_dir);
    free(ctl);
    free(stop);
}

static size_t walked_files;

static int count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)ftw;
    walked_files += flag == FTW_F;
    return 0;
}

/* old_pinned of ctl/stats. */
static long long old_pinned(const struct fx *f)
{
    json_t *stats = stats_of(f);
    long long n = json_int_at(stats, "versions", "old_pinned", NULL);
    json_decref(stats);
    return n;
}

/* A walk that runs in a replaced version leaves the kernel's cache holding
 * its entries; once nobody uses the version, the mount gets the kernel to drop
 * them, and the version (its snapshot, the replaced data) is released. */
static void test_old_versions_released(void **state)
{
    struct fx *f = *state;
    char *sdir = mnt_path(f, "S");
    int fd = open(sdir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(sh_compact(f, f->src[0], "S"), 0);
    /* walk the old version through the held directory */
    int here = open(".", O_RDONLY | O_DIRECTORY);
    assert_true(here >= 0);
    assert_int_equal(fchdir(fd), 0);
    walked_files = 0;
    int rc = nftw(".", count_file, 16, FTW_PHYS);
    assert_int_equal(fchdir(here), 0);
    close(here);
    assert_int_equal(rc, 0);
    assert_true(walked_files > 100);
    assert_int_equal(old_pinned(f), 1);
    close(fd);
    long long deadline = now_ms() + 10000;
    long long pinned;
    while ((pinned = old_pinned(f)) != 0 && now_ms() < deadline)
        sleep_ms(100);
    if (pinned)
        fail_msg("%lld old versions still pinned 10 s after their last reader left", pinned);
    free(sdir);
}

static int setup_release(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    assert_int_equal(syncstore("gen", f->base, "K", "--grants", "50", "--seed", "2", NULL), 0);
    char *src = src_path(f, 0, "src");
    assert_int_equal(syncstore("gen", src, "S", "--grants", "200", "--seed", "3", NULL), 0);
    return fx_mount(f, NULL, NULL);
}

/* One open file reads one value and one directory stream lists one
 * snapshot, across a switch (SPEC "Consistency").  The directory holds more
 * entries than one getdents() buffer (glibc reads 32 KiB at a time), so the
 * stream really reads pages of it after the switch. */
enum { BIG_A = 3000, BIG_B = 3500 };

static int setup_handles(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    struct lines l;
    const int n[2] = {BIG_A, BIG_B};
    for (int v = 0; v < 2; v++) {
        FILE *out = lines_open(&l);
        char key[64], value[64];
        for (int i = 0; i < n[v]; i++) {
            snprintf(key, sizeof key, "big/entry-with-a-longish-name-%05d", i);
            snprintf(value, sizeof value, "%c value %d", v ? 'B' : 'A', i);
            put_kv(out, "T", "b", key, value);
        }
        lines_load(&l, f, v ? src_path(f, 0, "srcB") : f->base);
    }
    return fx_mount(f, NULL, NULL);
}

static void test_handles_across_switch(void **state)
{
    struct fx *f = *state;
    char *file = mnt_path(f, "T/b/big/entry-with-a-longish-name-00000");
    char *dir = mnt_path(f, "T/b/big");
    int fd = open(file, O_RDONLY);
    assert_true(fd >= 0);
    char buf[64] = {0};
    assert_int_equal(read(fd, buf, 3), 3);
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t listed = 0;
    struct dirent *de;
    while (listed < 10 && (de = readdir(d)) != NULL) /* the first page only */
        listed += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    assert_int_equal(listed, 10);

    assert_int_equal(sh_compact(f, f->src[0], "T"), 0); /* to B */

    /* the open file goes on with the old value, and rereads it */
    assert_int_equal(read(fd, buf + 3, sizeof buf - 4), (ssize_t)strlen("A value 0") - 3);
    assert_string_equal(buf, "A value 0");
    memset(buf, 0, sizeof buf);
    assert_int_equal(pread(fd, buf, sizeof buf - 1, 0), (ssize_t)strlen("A value 0"));
    assert_string_equal(buf, "A value 0");
    close(fd);
    /* the open stream lists the old directory to its end */
    while ((de = readdir(d)) != NULL)
        listed += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    closedir(d);
    assert_int_equal(listed, BIG_A);
    /* while a new open and a new listing see B */
    char *v = cat_path(f, "T/b/big/entry-with-a-longish-name-00000");
    assert_string_equal(v, "B value 0");
    free(v);
    char *out = NULL;
    assert_int_equal(sh(&out, "ls -1 \"$1\" | wc -l", dir, NULL), 0);
    assert_int_equal(strtoull(out, NULL, 10), BIG_B);
    free(out);
    free(file);
    free(dir);
}

static void test_age_limit(void **state)
{
    struct fx *f = *state;
    char *held_path = mnt_path(f, "T/b/common/d0");
    int held = open(held_path, O_RDONLY | O_DIRECTORY);
    assert_true(held >= 0);
    int held_list = open(held_path, O_RDONLY | O_DIRECTORY); /* never listed before */
    assert_true(held_list >= 0);
    assert_int_equal(sh_compact(f, f->src[1], "T"), 0);

    /* right after the switch the old version still reads */
    int fd = openat(held, "k0", O_RDONLY);
    assert_true(fd >= 0);
    char buf[64] = {0};
    assert_true(read(fd, buf, sizeof buf - 1) > 0);
    assert_string_equal(buf, "A common 0");
    close(fd);
    /* while a new walk from the root sees the new one */
    char *v = cat_path(f, "T/b/common/d0/k0");
    assert_string_equal(v, "B common 0");
    free(v);

    /* past version_max_age=1 (and the sweeper's next pass, once a second)
     * the old version's reads fail: wait for that, not for a fixed time */
    long long deadline = now_ms() + 10000;
    for (;;) {
        errno = 0;
        int again = openat(held, "k0", O_RDONLY);
        if (again < 0)
            break;
        close(again);
        if (now_ms() > deadline)
            fail_msg("the old version still reads 10 s after the switch (max age 1 s)");
        sleep_ms(50); /* polling the condition */
    }
    assert_int_equal(errno, ESTALE);
    errno = 0;
    assert_int_equal(openat(held, "k9", O_RDONLY), -1);
    assert_int_equal(errno, ESTALE);
    /* listing it fails with ESTALE too: at fdopendir's fstat (its attributes
     * were dropped with the old version's entries), or at readdir */
    errno = 0;
    DIR *d = fdopendir(held_list);
    if (d) {
        errno = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            ;
        assert_int_equal(errno, ESTALE);
        closedir(d);
    } else {
        assert_int_equal(errno, ESTALE);
        close(held_list);
    }
    /* a walk from the root is unaffected */
    v = cat_path(f, "T/b/common/d0/k9");
    assert_string_equal(v, "B common 9");
    free(v);
    char *t_dir = mnt_path(f, "T");
    char *out = NULL;
    assert_int_equal(sh(&out, "find \"$1\" -type f | wc -l", t_dir, NULL), 0);
    assert_int_equal(strtoull(out, NULL, 10), 300);
    free(out);
    free(t_dir);
    close(held);
    free(held_path);
}

/* ---- 6. unmounting leaves a store that reopens cleanly ---- */

static int setup_plain(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    return fx_mount(f, NULL, NULL);
}

static void reopen_intact(const struct fx *f, uint64_t hash, size_t keys)
{
    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(f->base, ENGINE_OPEN_READ_WRITE, &e, &msg);
    if (rc)
        fail_msg("reopening %s: %s", f->base, msg ? msg : engine_strerror(rc));
    engine_close(e);
    size_t n;
    assert_true(sync_hash(f->base, "S", &n) == hash);
    assert_int_equal(n, keys);
}

static void test_unmount_clean(void **state)
{
    struct fx *f = *state;
    char *src = src_path(f, 0, "src");
    assert_int_equal(syncstore("gen", src, "S", "--grants", "400", "--seed", "7", NULL), 0);
    size_t keys;
    uint64_t hash = sync_hash(src, "S", &keys);
    assert_int_equal(sh_compact(f, src, "S"), 0);
    assert_int_equal(check_sync(f, f->base, "S"), keys);

    /* fusermount3 -u */
    assert_int_equal(fx_unmount(f, 0), 0);
    assert_false(is_mountpoint(f));
    reopen_intact(f, hash, keys);

    /* SIGTERM to the daemon after some reading */
    assert_int_equal(fx_mount(f, NULL, NULL), 0);
    assert_int_equal(check_sync(f, f->base, "S"), keys);
    assert_int_equal(fx_unmount(f, SIGTERM), 0);
    assert_false(is_mountpoint(f));
    reopen_intact(f, hash, keys);

    /* a killed daemon leaves a dead mount; mounting again says so, and works
     * once it is unmounted */
    assert_int_equal(fx_mount(f, NULL, NULL), 0);
    assert_int_equal(kill(f->daemon, SIGKILL), 0);
    assert_int_equal(wait_child(f->daemon, CMD_TIMEOUT_MS, NULL), 128 + SIGKILL);
    f->daemon = 0;
    char *out = NULL;
    int rc = sh(&out, "\"$1\" mount \"$2\" \"$3\" 2>&1", bin(), f->base, f->mnt, NULL);
    if (rc == 0 || !strstr(out, "a dead mount is still there") || !strstr(out, "fusermount3 -u"))
        fail_msg("mounting over a dead mount: exit %d, '%s'", rc, out);
    free(out);
    assert_int_equal(sh(NULL, "fusermount3 -u \"$1\"", f->mnt, NULL), 0);
    assert_int_equal(fx_mount(f, NULL, NULL), 0);
    assert_int_equal(check_sync(f, f->base, "S"), keys);
    assert_int_equal(fx_unmount(f, 0), 0);

    /* with -f the daemon logs to stderr, each line once: one per mount */
    char *log = NULL;
    assert_int_equal(sh(&log, "cat \"$1\"", f->log, NULL), 0);
    int mounted = 0, unmounting = 0;
    for (const char *p = log; (p = strstr(p, ": info: mounted ")); p++)
        mounted++;
    for (const char *p = log; (p = strstr(p, ": info: unmounting ")); p++)
        unmounting++;
    if (mounted != 4 || unmounting != 3) /* the killed one said nothing at the end */
        fail_msg("the daemon's log has %d 'mounted' and %d 'unmounting' lines: %s", mounted,
                 unmounting, log);
    free(log);
}

/* ---- 7. data is read-only ---- */

static void expect_refused(int rc, const char *what)
{
    if (rc != -1 || (errno != EROFS && errno != EACCES && errno != EPERM))
        fail_msg("%s: %d (%s), expected EROFS or EACCES", what, rc, strerror(errno));
}

/* The largest value SPEC allows (64 MiB) is a file of exactly that size
 * whose bytes are the value's, read in pieces as cat and cmp read. */
static char big_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 4099) % 26);
}

static int setup_big_value(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    char *lines = tu_join(f->dir, "big.jsonl");
    FILE *out = fopen(lines, "w");
    assert_non_null(out);
    fputs("{\"sync\":\"S\",\"bucket\":\"b\",\"key\":\"big\",\"value\":\"", out);
    for (size_t i = 0; i < ENGINE_VALUE_MAX; i++)
        fputc(big_byte(i), out);
    fputs("\"}\n{\"sync\":\"S\",\"bucket\":\"b\",\"key\":\"small\",\"value\":\"s\"}\n", out);
    assert_int_equal(fclose(out), 0);
    assert_int_equal(syncstore("load", f->base, lines, NULL), 0);
    unlink(lines);
    free(lines);
    return fx_mount(f, NULL, NULL);
}

/* A figure of /ctl/stats "value_cache". */
static long long value_cache_figure(const struct fx *f, const char *figure)
{
    json_t *s = stats_of(f);
    json_t *v = json_object_get(json_object_get(s, "value_cache"), figure);
    if (!json_is_integer(v))
        fail_msg("/ctl/stats has no value_cache.%s", figure);
    long long n = json_integer_value(v);
    json_decref(s);
    return n;
}

static void test_big_value(void **state)
{
    struct fx *f = *state;
    char *path = mnt_path(f, "S/b/big");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, ENGINE_VALUE_MAX);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    size_t at = 0;
    char buf[128 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        assert_true(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != big_byte(at + (size_t)i))
                fail_msg("byte %zu of the 64 MiB value differs", at + (size_t)i);
        at += (size_t)n;
    }
    close(fd);
    long long last_read = now_ms();
    assert_int_equal(at, ENGINE_VALUE_MAX);
    /* read from RocksDB once, not once per request: the kernel reads at most
     * 1 MiB a request, so 64 requests or more, all but the first from the
     * daemon's value cache */
    assert_int_equal(value_cache_figure(f, "misses"), 1);
    assert_true(value_cache_figure(f, "hits") >= 63);
    assert_int_equal(value_cache_figure(f, "values"), 1);
    assert_int_equal(value_cache_figure(f, "bytes"), ENGINE_VALUE_MAX);
    /* a read from the middle, as a pager's seek does */
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    size_t mid = ENGINE_VALUE_MAX / 2 + 12345;
    assert_int_equal(pread(fd, buf, 4096, (off_t)mid), 4096);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(buf[i], big_byte(mid + i));
    close(fd);
    char *v = cat_path(f, "S/b/small");
    assert_string_equal(v, "s");
    free(v);
    /* a value unused for 10 s is let go (the sweeper looks once a second) */
    while (value_cache_figure(f, "values") != 0 && now_ms() - last_read < 30000)
        sleep_ms(200);
    double idle = (double)(now_ms() - last_read) / 1000;
    assert_int_equal(value_cache_figure(f, "values"), 0);
    assert_int_equal(value_cache_figure(f, "bytes"), 0);
    print_message("    value cache emptied after %.1f s idle\n", idle);
    assert_true(idle >= 9.9); /* not before its 10 s */
    free(path);
}

static long long request_figure(const struct fx *f, const char *kind, const char *figure);

/* A ctl file's text is made at the lookup of its name and kept with its
 * inode: an open file reads one text however the figures move meanwhile (a
 * read-write mount reads it with direct I/O, its size showing 0; -o ro
 * caches it, its size the text's), and the next open of the path reads the
 * text of then. */
static void ctl_text_per_open(struct fx *f, int ro)
{
    char *path = mnt_path(f, "ctl/stats");
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char one[65536], two[65536];
    ssize_t len = read(fd, one, sizeof one - 1);
    assert_true(len > 100 && len < (ssize_t)sizeof one - 1);
    one[len] = '\0';
    assert_int_equal(read(fd, two, sizeof two), 0); /* the end */
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, ro ? len : 0);
    json_t *j = json_loads(one, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    for (int i = 0; i < 20; i++) { /* requests the text counts */
        char *v = cat_path(f, "S/resource_types/user");
        free(v);
    }
    /* from the daemon again: the kernel's pages dropped (-o ro) */
    assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    long long reads = request_figure(f, "READ", "count");
    assert_int_equal(pread(fd, two, sizeof two - 1, 0), len);
    two[len] = '\0';
    assert_true(request_figure(f, "READ", "count") > reads + 1); /* ours, and the stats read */
    assert_string_equal(two, one);
    close(fd);
    char *three = cat_path(f, "ctl/stats");
    assert_string_not_equal(three, one); /* the READ count moved on */
    j = json_loads(three, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    free(three);
    free(path);
}

static void test_ctl_text_per_open(void **state)
{
    ctl_text_per_open(*state, 0);
}

static void test_ctl_text_per_open_ro(void **state)
{
    ctl_text_per_open(*state, 1);
}

/* One kind of request's count (or total microseconds) in /ctl/stats. */
static long long request_figure(const struct fx *f, const char *kind, const char *figure)
{
    json_t *s = stats_of(f);
    json_t *r = json_object_get(json_object_get(s, "requests"), kind);
    if (!json_is_integer(json_object_get(r, figure)))
        fail_msg("/ctl/stats has no requests.%s.%s", kind, figure);
    long long v = json_integer_value(json_object_get(r, figure));
    json_decref(s);
    return v;
}

/* /ctl/stats counts each kind of FUSE request and the time the daemon spent
 * on it: names never looked up before are one LOOKUP each; a file read is an
 * OPEN, a READ and a RELEASE; directories are opened by the kernel alone (no
 * OPENDIR or RELEASEDIR after the first); refused writes count. */
static void test_requests_counted(void **state)
{
    struct fx *f = *state;
    /* reading ctl/stats is itself a lookup of stats each time (and of ctl
     * the first time), an OPEN and a RELEASE: every figure is taken after a
     * first read */
    long long lookup_us = request_figure(f, "LOOKUP", "us");
    long long lookups = request_figure(f, "LOOKUP", "count");
    long long opens = request_figure(f, "OPEN", "count");
    long long opendirs = request_figure(f, "OPENDIR", "count");
    long long refused = request_figure(f, "REFUSED", "count");
    static const char *const paths[] = {"S/resource_types/user", "S/resource_types/group",
                                        "S/resource_types/app"};
    struct stat st;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *p = mnt_path(f, paths[i]);
        assert_int_equal(stat(p, &st), 0);
        free(p);
    }
    /* S, resource_types and three names: at least the three names are new */
    assert_true(request_figure(f, "LOOKUP", "count") >= lookups + 3);
    assert_true(request_figure(f, "LOOKUP", "us") >= lookup_us);
    long long reads = request_figure(f, "READ", "count");
    char *value = cat_path(f, "S/resource_types/user");
    free(value);
    value = cat_path(f, "S/resource_types/group");
    free(value);
    /* two files and a stats text read: on this read-write mount each an
     * OPEN, a READ and a RELEASE (test_read_only_ro: none with -o ro) */
    assert_true(request_figure(f, "READ", "count") >= reads + 3);
    assert_true(request_figure(f, "OPEN", "count") >= opens + 3);
    assert_true(request_figure(f, "RELEASE", "count") >= 3);
    /* directories are opened by the kernel alone (FUSE_CAP_NO_OPENDIR_SUPPORT,
     * Linux 5.1): the first OPENDIR of the mount is answered ENOSYS, and no
     * later listing costs an OPENDIR or a RELEASEDIR; a listing read once is
     * read from the kernel's cache after */
    char *dir = mnt_path(f, "S/resource_types");
    DIR *d = opendir(dir);
    assert_non_null(d);
    while (readdir(d))
        ;
    closedir(d);
    long long first = request_figure(f, "OPENDIR", "count");
    assert_true(first <= opendirs + 1);
    long long lists =
        request_figure(f, "READDIR", "count") + request_figure(f, "READDIRPLUS", "count");
    char *sync = mnt_path(f, "S");
    for (int round = 0; round < 2; round++) {
        struct strv got = {0};
        ls_names(sync, &got, "-1a");
        assert_true(got.n >= 3); /* ., .. and resource_types at least */
        strv_release(&got);
        long long now =
            request_figure(f, "READDIR", "count") + request_figure(f, "READDIRPLUS", "count");
        if (round == 0)
            assert_true(now > lists); /* S was listed through us once */
        else
            assert_int_equal(now, lists); /* and then from the cache */
        lists = now;
    }
    assert_int_equal(request_figure(f, "OPENDIR", "count"), first);
    assert_int_equal(request_figure(f, "RELEASEDIR", "count"), 0);
    free(sync);
    /* what the nodes cost: at least their 56-byte structs (with the node
     * table's 1,024 buckets, a few nodes cost far more each) */
    char *stats = cat_path(f, "ctl/stats");
    json_t *j = json_loads(stats, 0, NULL);
    assert_non_null(j);
    long long inodes = json_integer_value(json_object_get(j, "inodes"));
    long long bytes = json_integer_value(json_object_get(j, "inode_bytes"));
    print_message("    %lld inodes, %lld bytes (%lld a node)\n", inodes, bytes,
                  inodes ? bytes / inodes : 0);
    assert_true(inodes > 5 && bytes >= inodes * 56);
    json_decref(j);
    free(stats);
    char *newdir = mnt_path(f, "S/resource_types/newdir");
    assert_int_equal(mkdir(newdir, 0755), -1);
    assert_true(request_figure(f, "REFUSED", "count") >= refused + 1);
    free(dir);
    free(newdir);
}

/* Every change refused; ro: mounted -o ro (files opened by the kernel alone). */
static void read_only(struct fx *f, int ro)
{
    char *file = mnt_path(f, "S/resource_types/user");
    char *dir = mnt_path(f, "S/resource_types");
    char *sync = mnt_path(f, "S");
    char *other = mnt_path(f, "S/resource_types/renamed");
    char *moved = mnt_path(f, "S/renamed");
    char *newdir = mnt_path(f, "S/resource_types/newdir");
    char *newfile = mnt_path(f, "S/resource_types/newfile");
    char *value = cat_path(f, "S/resource_types/user");
    assert_true(strlen(value) > 0);

    long long opens = request_figure(f, "OPEN", "count");
    expect_refused(open(file, O_WRONLY), "open O_WRONLY");
    expect_refused(open(file, O_RDWR), "open O_RDWR");
    expect_refused(open(file, O_WRONLY | O_TRUNC), "open O_TRUNC");
    expect_refused(open(file, O_WRONLY | O_APPEND), "open O_APPEND");
    /* read-write: each open reached the daemon, which refused it; -o ro: the
     * VFS refused them, and reads reach the daemon without opens */
    if (ro)
        assert_int_equal(request_figure(f, "OPEN", "count"), opens);
    else
        assert_true(request_figure(f, "OPEN", "count") >= opens + 4);
    expect_refused(truncate(file, 0), "truncate");
    expect_refused(open(newfile, O_WRONLY | O_CREAT, 0644), "create");
    expect_refused(mkdir(newdir, 0755), "mkdir");
    char *newsync = tu_join(f->mnt, "newsync");
    expect_refused(mkdir(newsync, 0755), "mkdir at /");
    expect_refused(unlink(file), "unlink");
    expect_refused(rmdir(dir), "rmdir");
    expect_refused(rename(file, other), "rename a file");
    expect_refused(rename(dir, moved), "rename a directory");
    expect_refused(chmod(file, 0666), "chmod");
    /* no symlinks or links to make: any error will do */
    assert_int_equal(symlink("x", newfile), -1);
    assert_int_equal(link(file, newfile), -1);

    /* and through a shell */
    assert_int_not_equal(sh(NULL, "exec 2>/dev/null; echo x > \"$1\"", file, NULL), 0);
    assert_int_not_equal(sh(NULL, "exec 2>/dev/null; echo x >> \"$1\"", file, NULL), 0);
    assert_int_not_equal(sh(NULL, "rm -f \"$1\" 2>/dev/null", file, NULL), 0);
    assert_int_not_equal(sh(NULL, "rm -rf \"$1\" 2>/dev/null", dir, NULL), 0);
    assert_int_not_equal(sh(NULL, "mv \"$1\" \"$2\" 2>/dev/null", file, other, NULL), 0);
    assert_int_not_equal(sh(NULL, "mkdir \"$1\" 2>/dev/null", newdir, NULL), 0);
    assert_int_not_equal(sh(NULL, "touch \"$1\" 2>/dev/null", newfile, NULL), 0);
    char *stats = mnt_path(f, "ctl/stats");
    expect_refused(open(stats, O_WRONLY), "write ctl/stats");
    if (ro) { /* no ctl write either */
        char *compact = mnt_path(f, "ctl/compact/S");
        expect_refused(open(compact, O_WRONLY), "write ctl/compact/S");
        free(compact);
    }

    /* nothing changed */
    char *again = cat_path(f, "S/resource_types/user");
    assert_string_equal(again, value);
    struct stat st;
    assert_int_equal(stat(newdir, &st), -1);
    assert_int_equal(stat(newfile, &st), -1);
    assert_int_equal(stat(other, &st), -1);
    assert_int_equal(stat(moved, &st), -1);
    expect_listing(f, "S/resource_types", "app group role user");
    assert_int_equal(stat(newsync, &st), -1);
    free(newsync);
    free(again);
    free(stats);
    free(value);
    free(file);
    free(dir);
    free(sync);
    free(other);
    free(moved);
    free(newdir);
    free(newfile);
}

static void test_read_only(void **state)
{
    read_only(*state, 0);
}

static int setup_ro(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    return fx_mount(f, "ro", NULL);
}

static int setup_plus(void **state)
{
    struct fx *f = fx_new();
    *state = f;
    assert_int_equal(syncstore("gen", f->base, "S", "--grants", "300", "--seed", "1", NULL), 0);
    return fx_mount(f, "readdirplus=always", NULL);
}

/* Listing the 300 grants (many pages) with find: by default the kernel reads
 * pages after the first without attributes (READDIR), with
 * -o readdirplus=always every page with them (READDIRPLUS only). */
static void list_grants(void **state, int always)
{
    struct fx *f = *state;
    long long plain = request_figure(f, "READDIR", "count");
    long long plus = request_figure(f, "READDIRPLUS", "count");
    char *out = NULL;
    assert_int_equal(sh(&out, "find \"$1\"/S/grants -type f | wc -l", f->mnt, NULL), 0);
    assert_int_equal(atoi(out), 300);
    free(out);
    long long plain_now = request_figure(f, "READDIR", "count") - plain;
    long long plus_now = request_figure(f, "READDIRPLUS", "count") - plus;
    print_message("    READDIR %lld, READDIRPLUS %lld\n", plain_now, plus_now);
    assert_true(plus_now > 0);
    if (always)
        assert_int_equal(plain_now, 0);
    else
        assert_true(plain_now > 0);
}

static void test_readdirplus_auto(void **state)
{
    list_grants(state, 0);
}

static void test_readdirplus_always(void **state)
{
    list_grants(state, 1);
}

/* -o ro: the VFS refuses every change, and files are opened by the kernel
 * alone (FUSE_CAP_NO_OPEN_SUPPORT): reads cost no OPEN and no RELEASE. */
static void test_read_only_ro(void **state)
{
    struct fx *f = *state;
    read_only(f, 1);
    long long opens = request_figure(f, "OPEN", "count");
    long long reads = request_figure(f, "READ", "count");
    static const char *const files[] = {"S/resource_types/group", "S/resource_types/app"};
    for (size_t i = 0; i < 2; i++) {
        char *v = cat_path(f, files[i]);
        assert_true(strlen(v) > 0);
        free(v);
    }
    assert_true(request_figure(f, "READ", "count") >= reads + 2);
    assert_int_equal(request_figure(f, "OPEN", "count"), opens);
    assert_true(opens <= 1); /* the mount's first, answered ENOSYS */
    assert_int_equal(request_figure(f, "RELEASE", "count"), 0);
}

int main(void)
{
    if (mu_init())
        return 77; /* skipped, said why */

    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tree_equals_store, setup_tree, teardown),
        cmocka_unit_test_setup_teardown(test_name_edge_cases, setup_edges, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_compact, setup_ctl, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_compact_method, setup_ctl, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_delete_and_writes, setup_ctl, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_busy_and_cancel, setup_paused, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_status_grows, setup_stream_paused, teardown),
        cmocka_unit_test_setup_teardown(test_no_stale_cache, setup_cache, teardown),
        cmocka_unit_test_setup_teardown(test_traversal_consistency, setup_traverse, teardown),
        cmocka_unit_test_setup_teardown(test_age_limit, setup_age, teardown),
        cmocka_unit_test_setup_teardown(test_handles_across_switch, setup_handles, teardown),
        cmocka_unit_test_setup_teardown(test_old_versions_released, setup_release, teardown),
        cmocka_unit_test_setup_teardown(test_unmount_clean, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_big_value, setup_big_value, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_text_per_open, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_ro, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_ctl_text_per_open_ro, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_readdirplus_auto, setup_plain, teardown),
        cmocka_unit_test_setup_teardown(test_readdirplus_always, setup_plus, teardown),
        cmocka_unit_test_setup_teardown(test_requests_counted, setup_plain, teardown),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
