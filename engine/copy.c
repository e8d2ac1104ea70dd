/*
 * copy.c - byte copies of another store's SST files as files of an ingest:
 * the compactor's copy path (engine.h "Copying SST files"), and the cheap
 * split points its streaming path divides a range by.
 *
 * Which files qualify.  RocksDB's C API (7.8) has no call that returns a
 * file's table properties, so qualify() reads them from the file itself: the
 * block-based table's footer (the last 53 bytes), its metaindex block and the
 * "rocksdb.properties" block.  The format, as RocksDB documents it
 * (table/format.h, "Rocksdb BlockBasedTable Format" in its wiki):
 *
 *   footer     checksum type (1 byte), metaindex handle, index handle (each
 *              two varint64s: offset, size), zero padding to 41 bytes,
 *              format_version (fixed32), magic 0x88e241b785f4cff7 (fixed64)
 *   a block    entries, then the restart array (fixed32 each) and its length
 *              (fixed32); each entry is varint32 shared, varint32 unshared,
 *              varint32 value length, the unshared key bytes, the value;
 *              after the block, a 5-byte trailer (compression type, CRC)
 *   metaindex  meta block name -> block handle; meta blocks are written
 *              uncompressed (type 0)
 *   properties property name -> value; user-collected properties as written
 *
 * SstFileWriter's collector adds "rocksdb.external_sst_file.version" (fixed32,
 * 2 today) and "rocksdb.external_sst_file.global_seqno" (fixed64): only files
 * it wrote have them, never files RocksDB's flush or compaction wrote (their
 * keys carry real sequence numbers).  An ingest writes the sequence number it
 * assigns into the global_seqno property of the file (write_global_seqno);
 * it stays 0 when the file went in below everything, as the first file of an
 * empty range does.  RocksDB's ingest reads a file's keys at sequence number
 * 0 and refuses a version-2 file whose global_seqno is not 0, so that is the
 * test: version 2 and global_seqno 0.
 *
 * The source is only read: its files are opened O_RDONLY, never written, and
 * their times are not touched (atime aside, which reading may update).
 */
#include "engine_i.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define FOOTER_SIZE 53
#define BLOCK_TRAILER 5
#define TABLE_MAGIC 0x88e241b785f4cff7ull
#define META_BLOCK_MAX (16u << 20) /* a properties block is a few KB */
#define COPY_CHUNK (8u << 20)

struct copy_file {
    char *path; /* the source's file: db_path + name */
    char *smallest, *largest;
    size_t smallest_len, largest_len;
    uint64_t size;
    struct engine_copy_props props;
};

struct engine_copy_plan {
    struct copy_file *v;
    size_t n, cap;
};

/* ---- Reading a block-based table's properties ---- */

static int get_varint64(const unsigned char **p, const unsigned char *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
        unsigned char b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

static uint64_t fixed64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t fixed32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        done += (size_t)n;
    }
    return 0;
}

/* Reads the uncompressed block at handle (offset, size) into a malloc'd buffer. */
static int read_block(int fd, uint64_t file_size, uint64_t off, uint64_t size, unsigned char **out)
{
    if (size > META_BLOCK_MAX || off > file_size || size + BLOCK_TRAILER > file_size - off ||
        size < 4)
        return -EINVAL;
    unsigned char *b = malloc(size + BLOCK_TRAILER);
    if (!b)
        return -ENOMEM;
    int rc = pread_all(fd, b, size + BLOCK_TRAILER, off);
    if (rc == 0 && b[size] != 0) /* compression type: none */
        rc = -EINVAL;
    if (rc) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* Calls fn(arg, key, key_len, value, value_len) for every entry of a block
 * of `size` bytes.  -EINVAL when it does not parse; else fn's first non-zero. */
static int block_walk(const unsigned char *b, uint64_t size,
                      int (*fn)(void *arg, const char *k, size_t kl, const unsigned char *v,
                                size_t vl),
                      void *arg)
{
    uint32_t restarts = fixed32(b + size - 4);
    if ((uint64_t)restarts * 4 + 4 > size)
        return -EINVAL;
    const unsigned char *p = b, *end = b + size - 4 - (uint64_t)restarts * 4;
    char key[1024];
    size_t klen = 0;
    while (p < end) {
        uint64_t shared, unshared, vlen;
        if (get_varint64(&p, end, &shared) || get_varint64(&p, end, &unshared) ||
            get_varint64(&p, end, &vlen) || shared > klen || unshared > sizeof key - shared ||
            unshared > (uint64_t)(end - p) || vlen > (uint64_t)(end - p) - unshared)
            return -EINVAL;
        memcpy(key + shared, p, unshared);
        klen = shared + unshared;
        p += unshared;
        int rc = fn(arg, key, klen, p, vlen);
        if (rc)
            return rc;
        p += vlen;
    }
    return 0;
}

struct find_handle {
    const char *name;
    uint64_t off, size;
    int found;
};

static int find_meta(void *arg, const char *k, size_t kl, const unsigned char *v, size_t vl)
{
    struct find_handle *h = arg;
    if (kl != strlen(h->name) || memcmp(k, h->name, kl))
        return 0;
    const unsigned char *p = v, *end = v + vl;
    if (get_varint64(&p, end, &h->off) || get_varint64(&p, end, &h->size))
        return -EINVAL;
    h->found = 1;
    return 1;
}

static int prop_u64(const char *k, size_t kl, const char *name, const unsigned char *v, size_t vl,
                    uint64_t *out)
{
    if (kl != strlen(name) || memcmp(k, name, kl))
        return 0;
    const unsigned char *p = v;
    return get_varint64(&p, v + vl, out) ? -EINVAL : 1;
}

static int take_prop(void *arg, const char *k, size_t kl, const unsigned char *v, size_t vl)
{
    struct engine_copy_props *pr = arg;
    int rc;
    if (kl == strlen("rocksdb.external_sst_file.version") &&
        !memcmp(k, "rocksdb.external_sst_file.version", kl)) {
        if (vl != 4)
            return -EINVAL;
        pr->external_version = fixed32(v);
        return 0;
    }
    if (kl == strlen("rocksdb.external_sst_file.global_seqno") &&
        !memcmp(k, "rocksdb.external_sst_file.global_seqno", kl)) {
        if (vl != 8)
            return -EINVAL;
        pr->global_seqno = fixed64(v);
        pr->has_global_seqno = 1;
        return 0;
    }
    if ((rc = prop_u64(k, kl, "rocksdb.num.entries", v, vl, &pr->entries)) ||
        (rc = prop_u64(k, kl, "rocksdb.deleted.keys", v, vl, &pr->deletions)) ||
        (rc = prop_u64(k, kl, "rocksdb.num.range-deletions", v, vl, &pr->range_deletions)) ||
        (rc = prop_u64(k, kl, "rocksdb.raw.key.size", v, vl, &pr->raw_key_bytes)) ||
        (rc = prop_u64(k, kl, "rocksdb.raw.value.size", v, vl, &pr->raw_value_bytes)))
        return rc < 0 ? rc : 0;
    return 0;
}

int engine_sst_properties(const char *path, struct engine_copy_props *out, char **msg)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return engine_msgf(msg, -errno, "cannot open SST file '%s': %s", path, strerror(errno));
    unsigned char foot[FOOTER_SIZE];
    unsigned char *meta = NULL, *props = NULL;
    struct stat st;
    int rc = fstat(fd, &st) ? -errno : 0;
    if (rc == 0 && st.st_size < FOOTER_SIZE)
        rc = -EINVAL;
    if (rc == 0)
        rc = pread_all(fd, foot, sizeof foot, (uint64_t)st.st_size - FOOTER_SIZE);
    if (rc == 0 && fixed64(foot + FOOTER_SIZE - 8) != TABLE_MAGIC)
        rc = -EINVAL; /* not a block-based table of format_version >= 1 */
    struct find_handle h = {.name = "rocksdb.properties"};
    if (rc == 0) {
        const unsigned char *p = foot + 1;
        if (get_varint64(&p, foot + FOOTER_SIZE - 12, &h.off) ||
            get_varint64(&p, foot + FOOTER_SIZE - 12, &h.size))
            rc = -EINVAL;
    }
    if (rc == 0)
        rc = read_block(fd, (uint64_t)st.st_size, h.off, h.size, &meta);
    uint64_t meta_size = h.size;
    h.found = 0;
    if (rc == 0 && (rc = block_walk(meta, meta_size, find_meta, &h)) == 1)
        rc = 0;
    if (rc == 0 && !h.found)
        rc = -EINVAL;
    if (rc == 0)
        rc = read_block(fd, (uint64_t)st.st_size, h.off, h.size, &props);
    if (rc == 0)
        rc = block_walk(props, h.size, take_prop, out);
    free(meta);
    free(props);
    close(fd);
    if (rc == -EINVAL)
        return engine_msgf(msg, rc, "SST file '%s': cannot read its table properties", path);
    if (rc)
        return engine_msgf(msg, rc, "cannot read SST file '%s': %s", path, engine_strerror(rc));
    return 0;
}

/* ---- The plan ---- */

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int file_cmp(const void *a, const void *b)
{
    const struct copy_file *x = a, *y = b;
    return key_cmp(x->smallest, x->smallest_len, y->smallest, y->smallest_len);
}

void engine_copy_plan_free(engine_copy_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].path);
        free(p->v[i].smallest);
        free(p->v[i].largest);
    }
    free(p->v);
    free(p);
}

static char *memdup(const char *s, size_t n)
{
    char *d = malloc(n ? n : 1);
    if (d && n)
        memcpy(d, s, n);
    return d;
}

static int plan_add(engine_copy_plan *p, const char *db_path, const char *name, const char *lo,
                    size_t lo_len, const char *hi, size_t hi_len, uint64_t size)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct copy_file *v = realloc(p->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        p->v = v;
        p->cap = cap;
    }
    struct copy_file *f = &p->v[p->n];
    memset(f, 0, sizeof *f);
    /* rocksdb_livefiles_name is "/000012.sst", relative to the db directory */
    if (asprintf(&f->path, "%s%s%s", db_path, name[0] == '/' ? "" : "/", name) < 0) {
        f->path = NULL;
        return -ENOMEM;
    }
    f->smallest = memdup(lo, lo_len);
    f->largest = memdup(hi, hi_len);
    p->n++;
    if (!f->smallest || !f->largest)
        return -ENOMEM;
    f->smallest_len = lo_len;
    f->largest_len = hi_len;
    f->size = size;
    return 0;
}

/* 1 when the store's memtables hold a key in [lo, hi) (a memtable-only
 * iterator sees it), 0 when not.  The engine writes records only by ingest
 * (SST files); its point writes and deletions are metadata keys (0x00 / 0xFF),
 * outside every sync range, and the one write of a sync's range that goes
 * through a memtable, engine_replace_with_batch (the bench's baseline), also
 * puts that range's keys there, which this sees. */
static int memtables_touch(engine *e, const char *lo, size_t lo_len, const char *hi, size_t hi_len)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_read_tier(ro, 3 /* kMemtableTier */);
    rocksdb_readoptions_set_iterate_lower_bound(ro, lo, lo_len);
    rocksdb_readoptions_set_iterate_upper_bound(ro, hi, hi_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, ro);
    rocksdb_iter_seek(it, lo, lo_len);
    int found = rocksdb_iter_valid(it);
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    if (err) {
        rocksdb_free(err);
        return 1; /* cannot tell: do not copy */
    }
    return found;
}

int engine_copy_plan_new(engine *src, const char *lo, size_t lo_len, const char *hi, size_t hi_len,
                         engine_copy_plan **out, char **why)
{
    *out = NULL;
    engine_copy_plan *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    const rocksdb_livefiles_t *lf = rocksdb_livefiles(src->db);
    if (!lf) {
        free(p);
        return -ENOMEM;
    }
    int rc = 0;
    int n = rocksdb_livefiles_count(lf);
    for (int i = 0; i < n && rc == 0; i++) {
        size_t sl, ll;
        const char *s = rocksdb_livefiles_smallestkey(lf, i, &sl);
        const char *l = rocksdb_livefiles_largestkey(lf, i, &ll);
        /* holds keys of [lo, hi) when smallest < hi and largest >= lo */
        if (key_cmp(s, sl, hi, hi_len) >= 0 || key_cmp(l, ll, lo, lo_len) < 0)
            continue;
        const char *name = rocksdb_livefiles_name(lf, i);
        rc = plan_add(p, src->db_path, name, s, sl, l, ll, rocksdb_livefiles_size(lf, i));
        /* largest == hi: a range tombstone ending at hi (its end is exclusive;
         * no record key equals a range's bound S 0x01) */
        if (rc == 0 && (key_cmp(s, sl, lo, lo_len) < 0 || key_cmp(l, ll, hi, hi_len) > 0))
            rc = engine_msgf(why, 1, "file '%s' reaches beyond the sync's range",
                             p->v[p->n - 1].path);
    }
    rocksdb_livefiles_destroy(lf);
    if (rc == 0 && p->n == 0) {
        engine_msgf(why, 1, "no SST file holds the sync");
        rc = 1;
    }
    if (rc == 0 && p->n > 1)
        qsort(p->v, p->n, sizeof *p->v, file_cmp);
    for (size_t i = 0; rc == 0 && i < p->n; i++) {
        struct copy_file *f = &p->v[i];
        char *m = NULL;
        int prc = engine_sst_properties(f->path, &f->props, &m);
        if (prc) {
            /* unreadable or not a table we know: no copy; the stream reads it */
            rc = engine_msgf(why, 1, "%s", m ? m : engine_strerror(prc));
            free(m);
        } else if (f->props.external_version != 2 || !f->props.has_global_seqno) {
            rc = engine_msgf(why, 1, "file '%s' was not written by an SstFileWriter", f->path);
        } else if (f->props.global_seqno != 0) {
            rc = engine_msgf(why, 1, "file '%s' has global sequence number %llu", f->path,
                             (unsigned long long)f->props.global_seqno);
        } else if (i > 0 && key_cmp(p->v[i - 1].largest, p->v[i - 1].largest_len, f->smallest,
                                    f->smallest_len) > 0) {
            /* equal bounds: a tombstone's exclusive end meeting the next file's
             * first key (two files at sequence number 0 never share a key:
             * RocksDB gives files that overlap anything later numbers) */
            rc = engine_msgf(why, 1, "files '%s' and '%s' overlap", p->v[i - 1].path, f->path);
        }
    }
    if (rc == 0) {
        int t = memtables_touch(src, lo, lo_len, hi, hi_len);
        if (t < 0)
            rc = t;
        else if (t)
            rc = engine_msgf(why, 1, "the store's memtables hold writes the SST files do not");
    }
    if (rc) {
        engine_copy_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

size_t engine_copy_plan_count(const engine_copy_plan *p)
{
    return p->n;
}

void engine_copy_plan_totals(const engine_copy_plan *p, struct engine_copy_props *sum,
                             uint64_t *file_bytes)
{
    memset(sum, 0, sizeof *sum);
    uint64_t bytes = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct engine_copy_props *f = &p->v[i].props;
        sum->entries += f->entries;
        sum->deletions += f->deletions;
        sum->range_deletions += f->range_deletions;
        sum->raw_key_bytes += f->raw_key_bytes;
        sum->raw_value_bytes += f->raw_value_bytes;
        bytes += p->v[i].size;
    }
    if (file_bytes)
        *file_bytes = bytes;
}

const char *engine_copy_plan_path(const engine_copy_plan *p, size_t i)
{
    return i < p->n ? p->v[i].path : NULL;
}

/* ---- Copying a file into staging ---- */

/* Copies src_fd to dst_fd: a clone where the filesystem shares extents
 * (FICLONE), else copy_file_range (the kernel copies, or shares blocks on
 * filesystems that can), else read and write. */
static int copy_fd(int src_fd, int dst_fd, uint64_t size, int *paused)
{
    if (ioctl(dst_fd, FICLONE, src_fd) == 0) {
        if (!*paused) {
            *paused = 1;
            engine_test_pause(3);
        }
        return 0;
    }
    uint64_t done = 0;
    int use_read = 0;
    char *buf = NULL;
    while (done < size) {
        size_t want = size - done > COPY_CHUNK ? COPY_CHUNK : (size_t)(size - done);
        ssize_t n;
        if (!use_read) {
            loff_t in = (loff_t)done, outoff = (loff_t)done;
            n = copy_file_range(src_fd, &in, dst_fd, &outoff, want, 0);
            if (n < 0 && done == 0 &&
                (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
                use_read = 1;
                continue;
            }
        } else {
            if (!buf && !(buf = malloc(COPY_CHUNK)))
                return -ENOMEM;
            n = pread(src_fd, buf, want, (off_t)done);
            if (n > 0) {
                ssize_t w = 0;
                while (w < n) {
                    ssize_t k = pwrite(dst_fd, buf + w, (size_t)(n - w), (off_t)(done + w));
                    if (k < 0 && errno == EINTR)
                        continue;
                    if (k <= 0) {
                        int err = k < 0 ? errno : EIO;
                        free(buf);
                        return -err;
                    }
                    w += k;
                }
            }
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO; /* 0: the file shrank under us */
            free(buf);
            return -err;
        }
        done += (uint64_t)n;
        if (!*paused) {
            *paused = 1;
            engine_test_pause(3); /* a copy is under way */
        }
    }
    free(buf);
    return 0;
}

int engine_ingest_add_copies(engine_ingest *ing, const engine_copy_plan *p, uint64_t *copied,
                             char **msg)
{
    int paused = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct copy_file *f = &p->v[i];
        engine_sst *w;
        int rc = engine_ingest_slot(ing, &w);
        if (rc)
            return rc;
        int in = open(f->path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
            return engine_msgf(msg, -errno, "cannot open SST file '%s': %s", f->path,
                               strerror(errno));
        struct stat st;
        if (fstat(in, &st) != 0) {
            int err = errno;
            close(in);
            return engine_msgf(msg, -err, "cannot read SST file '%s': %s", f->path, strerror(err));
        }
        int out = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (out < 0) {
            int err = errno;
            close(in);
            return engine_msgf(msg, -err, "cannot create staging file '%s': %s", w->path,
                               strerror(err));
        }
        rc = copy_fd(in, out, (uint64_t)st.st_size, &paused);
        if (rc == 0 && fsync(out) != 0)
            rc = -errno;
        if (close(out) != 0 && rc == 0)
            rc = -errno;
        close(in);
        if (rc)
            return engine_msgf(msg, rc, "cannot copy SST file '%s' to '%s': %s", f->path, w->path,
                               strerror(-rc));
        w->final_size = (uint64_t)st.st_size;
        w->finished = 1;
        if (copied)
            *copied += (uint64_t)st.st_size;
    }
    return 0;
}

/* ---- Split points ---- */

/* The number that the bytes after the common prefix of lo and hi make,
 * big-endian over 8 bytes: the span is divided in that space. */
static uint64_t key_num(const char *k, size_t len, size_t from)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | (from + i < len ? (unsigned char)k[from + i] : 0);
    return v;
}

static uint64_t approx(engine *e, const char *lo, size_t lo_len, const char *hi, size_t hi_len)
{
    const char *starts[1] = {lo}, *limits[1] = {hi};
    size_t sl[1] = {lo_len}, ll[1] = {hi_len};
    uint64_t size = 0;
    char *err = NULL;
    rocksdb_approximate_sizes(e->db, 1, starts, sl, limits, ll, &size, &err);
    if (err) {
        rocksdb_free(err);
        return 0;
    }
    return size;
}

/* The smallest key k in [blo, bhi] (by 8-byte steps after their common
 * prefix) with approx(lo, k) >= want, refined round by round: each round
 * bisects the 8 bytes after the bracket's common prefix, and the next round
 * the bracket the last one left, until the data between the bracket's ends
 * is under `slack` bytes or the keys reach their limit.  Keys of one bucket
 * share long prefixes ("S\0grants\0group:..."), so one round of 8 bytes
 * cannot cut inside them.  *out_len 0: nothing found. */
static void bisect(engine *e, const char *lo, size_t lo_len, uint64_t want, uint64_t slack,
                   const char *blo, size_t blo_len, const char *bhi, size_t bhi_len, char *out,
                   size_t *out_len)
{
    char a_key[ENGINE_DISK_KEY_MAX + 1], b_key[ENGINE_DISK_KEY_MAX + 1];
    size_t al = blo_len, bl = bhi_len;
    memcpy(a_key, blo, al);
    memcpy(b_key, bhi, bl);
    *out_len = 0;
    for (int round = 0; round < 8; round++) {
        size_t pre = 0;
        while (pre < al && pre < bl && a_key[pre] == b_key[pre])
            pre++;
        if (pre + 8 > ENGINE_DISK_KEY_MAX)
            break;
        uint64_t a = key_num(a_key, al, pre), b = key_num(b_key, bl, pre);
        if (b <= a)
            break;
        char k[ENGINE_DISK_KEY_MAX + 1];
        memcpy(k, a_key, pre);
        for (int step = 0; step < 64 && b - a > 1; step++) {
            uint64_t m = a + (b - a) / 2;
            for (int i = 0; i < 8; i++)
                k[pre + i] = (char)(m >> (56 - 8 * i));
            /* a probe at or below lo holds nothing (and RocksDB wants start <= limit) */
            if (key_cmp(k, pre + 8, lo, lo_len) <= 0 || approx(e, lo, lo_len, k, pre + 8) < want)
                a = m;
            else
                b = m;
        }
        for (int i = 0; i < 8; i++) {
            a_key[pre + i] = (char)(a >> (56 - 8 * i));
            b_key[pre + i] = (char)(b >> (56 - 8 * i));
        }
        al = bl = pre + 8;
        memcpy(out, b_key, bl);
        *out_len = bl;
        if (approx(e, a_key, al, b_key, bl) <= slack)
            break; /* fine enough */
    }
}

size_t engine_range_split(engine *e, const char *lo, size_t lo_len, const char *hi, size_t hi_len,
                          size_t n, char (*keys)[ENGINE_DISK_KEY_MAX + 1], size_t *key_lens)
{
    if (n < 2)
        return 0;
    uint64_t total = approx(e, lo, lo_len, hi, hi_len);
    if (total == 0)
        return 0;
    size_t found = 0;
    for (size_t s = 1; s < n; s++) {
        char k[ENGINE_DISK_KEY_MAX + 1];
        size_t kl;
        bisect(e, lo, lo_len, total / n * s, total / (n * 32), lo, lo_len, hi, hi_len, k, &kl);
        /* strictly inside (lo, hi) and after the previous point */
        if (kl == 0 || key_cmp(k, kl, lo, lo_len) <= 0 || key_cmp(k, kl, hi, hi_len) >= 0 ||
            (found && key_cmp(k, kl, keys[found - 1], key_lens[found - 1]) <= 0))
            continue;
        memcpy(keys[found], k, kl);
        key_lens[found] = kl;
        found++;
    }
    return found;
}
