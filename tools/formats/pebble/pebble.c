/*
 * pebble.c - the Pebble database directory and the merging iterator
 * (pebble.h).
 *
 * The directory (cockroachdb/pebble open.go, internal/base/filenames.go,
 * format_major_version.go, version_set.go): marker files
 * "marker.<name>.<iteration>.<value>", the highest iteration being current;
 * marker.manifest.* names the MANIFEST, marker.format-version.* holds the
 * format major version (24 here, what baton-sdk's C1Z3 files use);
 * OPTIONS-<n> an INI file whose [Options] comparer= names the comparer;
 * WAL files <n>.log; tables <n>.sst, six-digit numbers.
 *
 * Reading (internal/manifest: level iterators, table metadata): the live
 * tables of level 0 may overlap, so each is its own source; in levels 1-6
 * tables are disjoint and sorted, one source per level opening one table at a
 * time.  A heap merges the sources by (user key ascending, sequence number
 * descending).  A table whose MANIFEST smallest and largest sequence numbers
 * are equal (an ingested table) gets that number for every key and range
 * deletion (TableMetadata.SyntheticSeqNum).  A virtual table shows only the
 * keys of its backing file within its bounds [smallest, largest] (largest
 * exclusive when it is a range-deletion sentinel, seqnum max), and its range
 * deletions are cut to those bounds.  A range deletion [start, end)#s deletes
 * every point key in [start, end) with a sequence number below s.
 */
#include "pebble_i.h"

#include "engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_MAJOR_VERSION 24
#define MAX_MANIFEST (128u << 20)
#define MAX_OPTIONS (1u << 20)
#define BYTEWISE "leveldb.BytewiseComparator"

struct pebble_db {
    char *dir;
    struct pebble_manifest m;
};

static int cmp_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c)
        return c;
    return an < bn ? -1 : an > bn;
}

/* "marker.<what>.<iteration>.<value>": the value of the highest iteration. */
static bool marker(const char *name, const char *what, unsigned long long *iter, const char **value)
{
    size_t wl = strlen(what);
    if (strncmp(name, "marker.", 7) != 0 || strncmp(name + 7, what, wl) != 0 || name[7 + wl] != '.')
        return false;
    const char *p = name + 7 + wl + 1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(p, &end, 10);
    if (errno || end == p || *end != '.')
        return false;
    *iter = n;
    *value = end + 1;
    return true;
}

static int read_small(const char *path, size_t max, uint8_t **out, size_t *len, char **msg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return engine_msgf(msg, -err, "cannot open '%s': %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (uint64_t)st.st_size > max) {
        int err = errno;
        close(fd);
        return st.st_size > 0 && (uint64_t)st.st_size > max
                   ? engine_msgf(msg, -EFBIG, "'%s' is larger than %zu bytes", path, max)
                   : engine_msgf(msg, -err, "cannot stat '%s': %s", path, strerror(err));
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
        close(fd);
        return engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int err = r < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return engine_msgf(msg, -err, "cannot read '%s': %s", path, strerror(err));
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

/* OPTIONS: the comparer= line of [Options] must name the bytewise comparer. */
static int check_options(const char *path, const char *name, char **msg)
{
    uint8_t *buf;
    size_t len;
    int rc = read_small(path, MAX_OPTIONS, &buf, &len, msg);
    if (rc < 0)
        return rc;
    bool in_options = false, found = false;
    char *s = (char *)buf, *end = s + len;
    while (s < end && rc == 0) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        char *le = nl ? nl : end;
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        char *te = le;
        while (te > s && (te[-1] == ' ' || te[-1] == '\t' || te[-1] == '\r'))
            te--;
        size_t n = (size_t)(te - s);
        if (n > 0 && s[0] == '[')
            in_options = n == 9 && memcmp(s, "[Options]", 9) == 0;
        else if (in_options && n >= 9 && memcmp(s, "comparer=", 9) == 0) {
            found = true;
            if (n - 9 != strlen(BYTEWISE) || memcmp(s + 9, BYTEWISE, n - 9) != 0)
                rc = engine_msgf(msg, -ENOTSUP, "%s: comparer '%.*s'; only %s is supported", name,
                                 (int)(n - 9 > 200 ? 200 : n - 9), s + 9, BYTEWISE);
        }
        s = le + 1;
    }
    free(buf);
    if (rc == 0 && !found)
        rc = engine_msgf(msg, -EINVAL, "%s: no comparer in [Options]", name);
    return rc;
}

int pebble_open(const char *dir, pebble_db **out, char **msg)
{
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) {
        int err = errno;
        return engine_msgf(msg, -err, "cannot open the Pebble directory '%s': %s", dir,
                           strerror(err));
    }
    char *manifest = NULL, *options = NULL, *fmv = NULL;
    unsigned long long miter = 0, fiter = 0, onum = 0;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        const char *n = de->d_name, *v;
        unsigned long long it;
        char **slot = NULL;
        if (marker(n, "manifest", &it, &v) && (!manifest || it > miter)) {
            miter = it;
            slot = &manifest;
        } else if (marker(n, "format-version", &it, &v) && (!fmv || it > fiter)) {
            fiter = it;
            slot = &fmv;
        } else if (strncmp(n, "OPTIONS-", 8) == 0) {
            unsigned long long num = strtoull(n + 8, NULL, 10);
            if (!options || num > onum) {
                onum = num;
                v = n;
                slot = &options;
            }
        } else {
            size_t l = strlen(n);
            if (l > 4 && strcmp(n + l - 4, ".log") == 0) {
                char *p;
                struct stat st;
                if (asprintf(&p, "%s/%s", dir, n) < 0) {
                    rc = engine_msgf(msg, -ENOMEM, "out of memory");
                } else {
                    if (stat(p, &st) == 0 && st.st_size > 0)
                        rc = engine_msgf(msg, -ENOTSUP,
                                         "%s: a non-empty WAL (%lld bytes): the database was "
                                         "not flushed; replaying a WAL is not supported",
                                         p, (long long)st.st_size);
                    free(p);
                }
            }
        }
        if (slot) {
            free(*slot);
            if (!(*slot = strdup(v)))
                rc = engine_msgf(msg, -ENOMEM, "out of memory");
        }
    }
    closedir(d);
    struct pebble_db *db = NULL;
    char *path = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (rc < 0)
        goto done;
    if (!manifest || !fmv) {
        rc = engine_msgf(msg, -EINVAL, "'%s' is not a Pebble database (no marker.%s.*)", dir,
                         manifest ? "format-version" : "manifest");
        goto done;
    }
    char *end;
    unsigned long fv = strtoul(fmv, &end, 10);
    if (*fmv == '\0' || *end != '\0') {
        rc = engine_msgf(msg, -EINVAL, "%s: corrupt format version marker '%s'", dir, fmv);
        goto done;
    }
    if (fv != FORMAT_MAJOR_VERSION) {
        rc = engine_msgf(msg, -ENOTSUP, "%s: Pebble format major version %lu; only %d is supported",
                         dir, fv, FORMAT_MAJOR_VERSION);
        goto done;
    }
    if (options) {
        if (asprintf(&path, "%s/%s", dir, options) < 0) {
            path = NULL;
            rc = engine_msgf(msg, -ENOMEM, "out of memory");
            goto done;
        }
        rc = check_options(path, path, msg);
        free(path);
        path = NULL;
        if (rc < 0)
            goto done;
    }
    if (strchr(manifest, '/') || asprintf(&path, "%s/%s", dir, manifest) < 0) {
        path = NULL;
        rc = engine_msgf(msg, -EINVAL, "%s: bad manifest marker '%s'", dir, manifest);
        goto done;
    }
    rc = read_small(path, MAX_MANIFEST, &buf, &len, msg);
    if (rc < 0)
        goto done;
    db = calloc(1, sizeof(*db));
    if (!db || !(db->dir = strdup(dir))) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory");
        goto done;
    }
    rc = pebble_manifest_parse(buf, len, path, &db->m, msg);
    if (rc < 0)
        goto done;
    if (db->m.comparer && strcmp(db->m.comparer, BYTEWISE) != 0) {
        rc = engine_msgf(msg, -ENOTSUP, "%s: comparer '%s'; only %s is supported", path,
                         db->m.comparer, BYTEWISE);
        goto done;
    }
    for (size_t i = 0; i < db->m.nfiles; i++) {
        const struct pebble_file *f = &db->m.files[i];
        char *tp;
        struct stat st;
        if (asprintf(&tp, "%s/%06llu.sst", dir, (unsigned long long)f->backing) < 0) {
            rc = engine_msgf(msg, -ENOMEM, "out of memory");
            goto done;
        }
        if (stat(tp, &st) < 0) {
            int err = errno;
            rc = engine_msgf(msg, -err, "%s names table %06llu.sst, which is missing ('%s': %s)",
                             path, (unsigned long long)f->backing, tp, strerror(err));
            free(tp);
            goto done;
        }
        free(tp);
    }
    *out = db;
    db = NULL;
done:
    if (db) {
        pebble_manifest_free(&db->m);
        free(db->dir);
        free(db);
    }
    free(buf);
    free(path);
    free(manifest);
    free(options);
    free(fmv);
    return rc;
}

void pebble_close(pebble_db *db)
{
    if (!db)
        return;
    pebble_manifest_free(&db->m);
    free(db->dir);
    free(db);
}

/* ---- the iterator ---- */

struct source {
    const struct pebble_file **files; /* sorted by smallest key (one for level 0) */
    size_t nfiles, idx;
    struct pebble_table *t;
    char *tname;
    /* the current entry */
    const uint8_t *key, *val;
    size_t klen, vlen;
    uint64_t seq;
    unsigned kind;
    unsigned order; /* tie-break: lower is newer */
};

struct pebble_iter {
    pebble_db *db;
    struct source *src;
    size_t nsrc;
    struct source **heap;
    size_t nheap;
    const struct pebble_file **fileptrs;
    struct pebble_spans spans; /* sorted by start */
    size_t next_span;
    size_t *active;
    size_t nactive;
    uint8_t *last;
    size_t lastlen, lastcap;
    bool pending; /* the sources at `last` still need moving past it */
    int err;
    char *errmsg;
};

static bool exclusive_end(const struct pebble_file *f)
{
    unsigned k = (unsigned)(f->ltrailer & 0xff);
    return (f->ltrailer >> 8) == PEBBLE_SEQ_MAX && (k == PK_RANGEDEL || k == PK_RANGEKEYSET ||
                                                    k == PK_RANGEKEYUNSET || k == PK_RANGEKEYDEL);
}

static bool synthetic(const struct pebble_file *f)
{
    return f->sseq == f->lseq;
}

static int open_file(pebble_db *db, const struct pebble_file *f, struct pebble_table **t,
                     char **name, char **msg)
{
    if (asprintf(name, "%s/%06llu.sst", db->dir, (unsigned long long)f->backing) < 0) {
        *name = NULL;
        return engine_msgf(msg, -ENOMEM, "out of memory");
    }
    int fd = open(*name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return engine_msgf(msg, -err, "cannot open '%s': %s", *name, strerror(err));
    }
    return pebble_table_open(fd, *name, t, msg);
}

/* Moves s to its next entry within its tables' bounds: 1, 0 at the end. */
static int source_next(pebble_iter *it, struct source *s, char **msg)
{
    for (;;) {
        if (!s->t) {
            if (s->idx >= s->nfiles)
                return 0;
            free(s->tname);
            s->tname = NULL;
            int rc = open_file(it->db, s->files[s->idx], &s->t, &s->tname, msg);
            if (rc < 0)
                return rc;
        }
        const struct pebble_file *f = s->files[s->idx];
        int rc =
            pebble_table_next(s->t, &s->key, &s->klen, &s->seq, &s->kind, &s->val, &s->vlen, msg);
        if (rc < 0)
            return rc;
        if (rc > 0 && f->virt) {
            if (cmp_bytes(s->key, s->klen, f->smallest, f->slen) < 0)
                continue;
            int c = cmp_bytes(s->key, s->klen, f->largest, f->llen);
            if (c > 0 || (c == 0 && exclusive_end(f)))
                rc = 0; /* past the view: the rest of the backing is not this table's */
        }
        if (rc == 0) {
            pebble_table_close(s->t);
            s->t = NULL;
            s->idx++;
            continue;
        }
        if (synthetic(f))
            s->seq = f->sseq;
        return 1;
    }
}

static bool src_less(const struct source *a, const struct source *b)
{
    int c = cmp_bytes(a->key, a->klen, b->key, b->klen);
    if (c)
        return c < 0;
    if (a->seq != b->seq)
        return a->seq > b->seq;
    return a->order < b->order;
}

static void sift_down(pebble_iter *it, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < it->nheap && src_less(it->heap[l], it->heap[m]))
            m = l;
        if (r < it->nheap && src_less(it->heap[r], it->heap[m]))
            m = r;
        if (m == i)
            return;
        struct source *t = it->heap[i];
        it->heap[i] = it->heap[m];
        it->heap[m] = t;
        i = m;
    }
}

/* Advances the heap's top source and restores the heap. */
static int advance_top(pebble_iter *it, char **msg)
{
    int rc = source_next(it, it->heap[0], msg);
    if (rc < 0)
        return rc;
    if (rc == 0)
        it->heap[0] = it->heap[--it->nheap];
    if (it->nheap)
        sift_down(it, 0);
    return 0;
}

static int span_cmp(const void *a, const void *b)
{
    const struct pebble_span *x = a, *y = b;
    return cmp_bytes(x->start, x->slen, y->start, y->slen);
}

/* Reads one file's range deletions into it->spans: synthetic seqnums applied,
 * cut to a virtual table's bounds. */
static int file_spans(pebble_iter *it, const struct pebble_file *f, char **msg)
{
    struct pebble_table *t = NULL;
    char *name = NULL;
    struct pebble_spans s = {0};
    int rc = open_file(it->db, f, &t, &name, msg);
    if (rc == 0)
        rc = pebble_table_rangedels(t, &s, msg);
    pebble_table_close(t);
    free(name);
    for (size_t i = 0; rc == 0 && i < s.n; i++) {
        struct pebble_span *sp = &s.v[i];
        if (synthetic(f))
            sp->seq = f->sseq;
        if (f->virt) {
            if (cmp_bytes(sp->start, sp->slen, f->smallest, f->slen) < 0) {
                uint8_t *p = malloc(f->slen ? f->slen : 1);
                if (!p) {
                    rc = engine_msgf(msg, -ENOMEM, "out of memory");
                    break;
                }
                memcpy(p, f->smallest, f->slen);
                free(sp->start);
                sp->start = p;
                sp->slen = f->slen;
            }
            /* the end bound: largest, or just after it when inclusive */
            size_t bl = f->llen + (exclusive_end(f) ? 0 : 1);
            uint8_t *b = malloc(bl ? bl : 1);
            if (!b) {
                rc = engine_msgf(msg, -ENOMEM, "out of memory");
                break;
            }
            memcpy(b, f->largest, f->llen);
            if (bl > f->llen)
                b[f->llen] = 0;
            if (cmp_bytes(sp->end, sp->elen, b, bl) > 0) {
                free(sp->end);
                sp->end = b;
                sp->elen = bl;
            } else {
                free(b);
            }
            if (cmp_bytes(sp->start, sp->slen, sp->end, sp->elen) >= 0)
                continue; /* nothing left inside the view */
        }
        if (it->spans.n == it->spans.cap) {
            size_t cap = it->spans.cap ? 2 * it->spans.cap : 16;
            struct pebble_span *v = realloc(it->spans.v, cap * sizeof(*v));
            if (!v) {
                rc = engine_msgf(msg, -ENOMEM, "out of memory");
                break;
            }
            it->spans.v = v;
            it->spans.cap = cap;
        }
        it->spans.v[it->spans.n++] = *sp;
        sp->start = sp->end = NULL; /* moved */
    }
    pebble_spans_free(&s);
    return rc;
}

static int file_cmp(const void *a, const void *b)
{
    const struct pebble_file *x = *(const struct pebble_file *const *)a;
    const struct pebble_file *y = *(const struct pebble_file *const *)b;
    if (x->level != y->level)
        return x->level - y->level;
    if (x->level == 0) /* newest first */
        return x->lseq > y->lseq ? -1 : x->lseq < y->lseq;
    return cmp_bytes(x->smallest, x->slen, y->smallest, y->slen);
}

int pebble_iter_new(pebble_db *db, pebble_iter **out, char **msg)
{
    *out = NULL;
    pebble_iter *it = calloc(1, sizeof(*it));
    size_t n = db->m.nfiles;
    if (!it)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    it->db = db;
    it->fileptrs = calloc(n ? n : 1, sizeof(const struct pebble_file *));
    it->src = calloc(n ? n : 1, sizeof(*it->src));
    it->heap = calloc(n ? n : 1, sizeof(struct source *));
    int rc = 0;
    if (!it->fileptrs || !it->src || !it->heap) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        it->fileptrs[i] = &db->m.files[i];
    qsort(it->fileptrs, n, sizeof(const struct pebble_file *), file_cmp);
    for (size_t i = 0; i < n; i++) {
        const struct pebble_file *f = it->fileptrs[i];
        if (f->level == 0 || it->nsrc == 0 || it->src[it->nsrc - 1].files[0]->level != f->level) {
            struct source *s = &it->src[it->nsrc];
            s->files = &it->fileptrs[i];
            s->order = (unsigned)it->nsrc;
            it->nsrc++;
        }
        it->src[it->nsrc - 1].nfiles++;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = file_spans(it, it->fileptrs[i], msg);
    if (rc < 0)
        goto fail;
    if (it->spans.n > 1)
        qsort(it->spans.v, it->spans.n, sizeof(*it->spans.v), span_cmp);
    it->active = calloc(it->spans.n ? it->spans.n : 1, sizeof(*it->active));
    if (!it->active) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < it->nsrc; i++) {
        rc = source_next(it, &it->src[i], msg);
        if (rc < 0)
            goto fail;
        if (rc > 0)
            it->heap[it->nheap++] = &it->src[i];
    }
    for (size_t i = it->nheap; i-- > 0;)
        sift_down(it, i);
    *out = it;
    return 0;
fail:
    pebble_iter_free(it);
    return rc;
}

/* Whether a range deletion newer than seq covers key (keys come ascending). */
static bool range_deleted(pebble_iter *it, const uint8_t *key, size_t klen, uint64_t seq)
{
    while (it->next_span < it->spans.n) {
        const struct pebble_span *sp = &it->spans.v[it->next_span];
        if (cmp_bytes(sp->start, sp->slen, key, klen) > 0)
            break;
        it->active[it->nactive++] = it->next_span++;
    }
    bool del = false;
    for (size_t i = 0; i < it->nactive;) {
        const struct pebble_span *sp = &it->spans.v[it->active[i]];
        if (cmp_bytes(sp->end, sp->elen, key, klen) <= 0) { /* behind us for good */
            it->active[i] = it->active[--it->nactive];
            continue;
        }
        if (sp->seq > seq)
            del = true;
        i++;
    }
    return del;
}

static int skip_last(pebble_iter *it, char **msg)
{
    while (it->nheap &&
           cmp_bytes(it->heap[0]->key, it->heap[0]->klen, it->last, it->lastlen) == 0) {
        int rc = advance_top(it, msg);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int fail(pebble_iter *it, int rc, char **msg)
{
    it->err = rc;
    free(it->errmsg);
    it->errmsg = msg && *msg ? strdup(*msg) : NULL;
    return rc;
}

int pebble_iter_next(pebble_iter *it, const void **key, size_t *klen, const void **val,
                     size_t *vlen, char **msg)
{
    char *m = NULL;
    if (it->err) {
        if (msg)
            *msg = it->errmsg ? strdup(it->errmsg) : NULL;
        return it->err;
    }
    if (it->pending) {
        it->pending = false;
        int rc = skip_last(it, &m);
        if (rc < 0) {
            rc = fail(it, rc, &m);
            if (msg)
                *msg = m;
            else
                free(m);
            return rc;
        }
    }
    while (it->nheap) {
        struct source *s = it->heap[0];
        if (s->klen > it->lastcap) {
            size_t cap = it->lastcap ? it->lastcap : 64;
            while (cap < s->klen)
                cap *= 2;
            uint8_t *p = realloc(it->last, cap);
            if (!p)
                return fail(it, engine_msgf(msg, -ENOMEM, "out of memory"), msg);
            it->last = p;
            it->lastcap = cap;
        }
        if (s->klen)
            memcpy(it->last, s->key, s->klen);
        it->lastlen = s->klen;
        bool live = (s->kind == PK_SET || s->kind == PK_SETWITHDEL) &&
                    !range_deleted(it, s->key, s->klen, s->seq);
        if (live) {
            it->pending = true;
            *key = it->last;
            *klen = it->lastlen;
            *val = s->val;
            *vlen = s->vlen;
            return 1;
        }
        int rc = skip_last(it, &m);
        if (rc < 0) {
            rc = fail(it, rc, &m);
            if (msg)
                *msg = m;
            else
                free(m);
            return rc;
        }
    }
    return 0;
}

void pebble_iter_free(pebble_iter *it)
{
    if (!it)
        return;
    for (size_t i = 0; i < it->nsrc; i++) {
        pebble_table_close(it->src[i].t);
        free(it->src[i].tname);
    }
    free(it->src);
    free(it->heap);
    free(it->fileptrs);
    pebble_spans_free(&it->spans);
    free(it->active);
    free(it->last);
    free(it->errmsg);
    free(it);
}
