/*
 * runs.c - the loader's spill files and their k-way merge (runs.h).
 *
 * Each run is a temporary file made with mkstemp() in the given directory and
 * unlinked at once: it lives while its stream is open, so no crash can leave
 * one behind.  Writing goes through one buffered stream at a time; merging
 * reads all of them through small buffers, with a binary heap of the runs'
 * current records ordered by key and, for equal keys, newest run first.
 */
#include "runs.h"

#include "engine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STREAM_BUFFER (256u << 10) /* per run: every run is read at once when merging */
/* Runs open at once, at most: at this many the existing runs are merged into
 * one first (a cascade), so a load of any size keeps few files and buffers open. */
#define RUNS_FOLD 64

struct run {
    FILE *f;
    char *rec; /* the current record: key then value */
    size_t rec_cap;
    uint32_t key_len, value_len;
};

struct runs {
    const char *dir;
    struct run *v;
    size_t n, cap;
    FILE *writing; /* the open run, or NULL */
    uint64_t bytes;
    /* merging */
    size_t *heap;
    size_t nheap;
};

int runs_new(const char *dir, runs **out, char **msg)
{
    runs *r = calloc(1, sizeof *r);
    if (!r)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    r->dir = dir;
    *out = r;
    return 0;
}

void runs_free(runs *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].f)
            fclose(r->v[i].f);
        free(r->v[i].rec);
    }
    free(r->v);
    free(r->heap);
    free(r);
}

size_t runs_count(const runs *r)
{
    return r->n;
}

uint64_t runs_bytes(const runs *r)
{
    return r->bytes;
}

static int io_error(char **msg, const char *what, const char *dir)
{
    int err = errno ? errno : EIO;
    return engine_msgf(msg, -err, "cannot %s a load's spill file in '%s': %s", what, dir,
                       strerror(err));
}

/* A new unlinked temporary file in r->dir, open for writing and reading. */
static int open_temp(runs *r, FILE **out, char **msg)
{
    size_t plen = strlen(r->dir) + sizeof "/load-run-XXXXXX";
    char *path = malloc(plen);
    if (!path)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    snprintf(path, plen, "%s/load-run-XXXXXX", r->dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return io_error(msg, "create", r->dir);
    }
    unlink(path); /* lives while open: nothing is left behind, whatever happens */
    free(path);
    FILE *f = fdopen(fd, "w+");
    if (!f) {
        int rc = io_error(msg, "open", r->dir);
        close(fd);
        return rc;
    }
    setvbuf(f, NULL, _IOFBF, STREAM_BUFFER);
    *out = f;
    return 0;
}

static int fold(runs *r, char **msg);

int runs_begin_run(runs *r, char **msg)
{
    if (r->writing)
        return engine_msgf(msg, -EINVAL, "a run is already being written");
    int rc;
    if (r->n >= RUNS_FOLD && (rc = fold(r, msg)))
        return rc;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct run *v = realloc(r->v, cap * sizeof *v);
        if (!v)
            return engine_msgf(msg, -ENOMEM, "out of memory");
        r->v = v;
        r->cap = cap;
    }
    FILE *f = NULL;
    if ((rc = open_temp(r, &f, msg)) || !f)
        return rc ? rc : -EIO;
    r->v[r->n++] = (struct run){.f = f};
    r->writing = f;
    return 0;
}

/* One record on a run file: key length, value length, key, value. */
static int write_record(runs *r, FILE *f, const void *key, size_t key_len, const void *value,
                        size_t value_len, char **msg)
{
    uint32_t h[2] = {(uint32_t)key_len, (uint32_t)value_len};
    errno = 0;
    if (fwrite(h, sizeof h, 1, f) != 1 || (key_len && fwrite(key, key_len, 1, f) != 1) ||
        (value_len && fwrite(value, value_len, 1, f) != 1))
        return io_error(msg, "write", r->dir);
    r->bytes += sizeof h + key_len + value_len;
    return 0;
}

int runs_put(runs *r, const void *key, size_t key_len, const void *value, size_t value_len,
             char **msg)
{
    return write_record(r, r->writing, key, key_len, value, value_len, msg);
}

int runs_end_run(runs *r, char **msg)
{
    FILE *f = r->writing;
    r->writing = NULL;
    errno = 0;
    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
        return io_error(msg, "write", r->dir);
    return 0;
}

/* ---- Merging ---- */

/* Reads run i's next record: 1 read, 0 at its end, or an error. */
static int run_next(runs *r, size_t i, char **msg)
{
    struct run *x = &r->v[i];
    uint32_t h[2];
    errno = 0;
    size_t got = fread(h, 1, sizeof h, x->f);
    if (got == 0 && feof(x->f))
        return 0;
    if (got != sizeof h)
        return ferror(x->f)
                   ? io_error(msg, "read", r->dir)
                   : engine_msgf(msg, -EIO, "a load's spill file in '%s' ends early", r->dir);
    size_t need = (size_t)h[0] + h[1];
    if (need > x->rec_cap) {
        size_t cap = x->rec_cap ? x->rec_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *p = realloc(x->rec, cap);
        if (!p)
            return engine_msgf(msg, -ENOMEM, "out of memory for a %zu-byte record", need);
        x->rec = p;
        x->rec_cap = cap;
    }
    if (need && fread(x->rec, need, 1, x->f) != 1)
        return ferror(x->f)
                   ? io_error(msg, "read", r->dir)
                   : engine_msgf(msg, -EIO, "a load's spill file in '%s' ends early", r->dir);
    x->key_len = h[0];
    x->value_len = h[1];
    return 1;
}

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* Heap order: the smaller key first; for the same key the newer run first. */
static int before(const runs *r, size_t a, size_t b)
{
    const struct run *x = &r->v[a], *y = &r->v[b];
    int c = key_cmp(x->rec, x->key_len, y->rec, y->key_len);
    return c ? c < 0 : a > b;
}

static void sift_down(runs *r, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->nheap && before(r, r->heap[l], r->heap[m]))
            m = l;
        if (l + 1 < r->nheap && before(r, r->heap[l + 1], r->heap[m]))
            m = l + 1;
        if (m == i)
            return;
        size_t t = r->heap[i];
        r->heap[i] = r->heap[m];
        r->heap[m] = t;
        i = m;
    }
}

/* Moves the top run to its next record, or drops it at its end. */
static int advance_top(runs *r, char **msg)
{
    int rc = run_next(r, r->heap[0], msg);
    if (rc < 0)
        return rc;
    if (rc == 0)
        r->heap[0] = r->heap[--r->nheap];
    if (r->nheap)
        sift_down(r, 0);
    return 0;
}

/* Merges every run into fn, newest winning a key; the runs are read to
 * their ends. */
static int merge_all(runs *r, runs_emit_fn fn, void *arg, char **msg)
{
    size_t *heap = realloc(r->heap, (r->n ? r->n : 1) * sizeof *r->heap);
    if (!heap)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    r->heap = heap;
    r->nheap = 0;
    int rc;
    for (size_t i = 0; i < r->n; i++) {
        if ((rc = run_next(r, i, msg)) < 0)
            return rc;
        if (rc)
            r->heap[r->nheap++] = i;
    }
    for (size_t i = r->nheap / 2; i-- > 0;)
        sift_down(r, i);
    char last[ENGINE_DISK_KEY_MAX + 1];
    size_t last_len = 0;
    while (r->nheap) {
        const struct run *x = &r->v[r->heap[0]];
        if (x->key_len > sizeof last)
            return engine_msgf(msg, -EIO, "a load's spill file in '%s' holds a key too long",
                               r->dir);
        if ((rc = fn(arg, x->rec, x->key_len, x->rec + x->key_len, x->value_len, msg)))
            return rc;
        memcpy(last, x->rec, x->key_len);
        last_len = x->key_len;
        if ((rc = advance_top(r, msg)))
            return rc;
        /* older runs' records for the same key lose */
        while (r->nheap && !key_cmp(r->v[r->heap[0]].rec, r->v[r->heap[0]].key_len, last, last_len))
            if ((rc = advance_top(r, msg)))
                return rc;
    }
    return 0;
}

int runs_merge(runs *r, runs_emit_fn fn, void *arg, char **msg)
{
    if (r->writing)
        return engine_msgf(msg, -EINVAL, "a run is still being written");
    return merge_all(r, fn, arg, msg);
}

struct fold_out {
    runs *r;
    FILE *f;
};

static int fold_put(void *arg, const char *key, size_t key_len, const char *value, size_t value_len,
                    char **msg)
{
    struct fold_out *o = arg;
    return write_record(o->r, o->f, key, key_len, value, value_len, msg);
}

/* Merges the runs into one new run that replaces them all (it is older than
 * every run written after it, as they were). */
static int fold(runs *r, char **msg)
{
    struct fold_out o = {.r = r};
    int rc = open_temp(r, &o.f, msg);
    if (rc || !o.f)
        return rc ? rc : -EIO;
    rc = merge_all(r, fold_put, &o, msg);
    errno = 0;
    if (rc == 0 && (fflush(o.f) != 0 || fseek(o.f, 0, SEEK_SET) != 0))
        rc = io_error(msg, "write", r->dir);
    if (rc) {
        fclose(o.f);
        return rc;
    }
    for (size_t i = 0; i < r->n; i++) {
        fclose(r->v[i].f);
        free(r->v[i].rec);
    }
    r->v[0] = (struct run){.f = o.f};
    r->n = 1;
    return 0;
}
