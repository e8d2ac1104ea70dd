/*
 * pebble_table.c - one Pebble table (TableFormatPebblev7), read block by block.
 *
 * Facts from cockroachdb/pebble:
 *   sstable/table.go: the layout (data blocks, index, meta blocks, metaindex,
 *     footer) and the block trailer: 1 byte block type (the compression:
 *     0 none, 1 Snappy, 2 zlib, 3 bzip2, 4 lz4, 5 lz4hc, 6 xpress, 7 zstd;
 *     8 MinLZ in Pebble v2) and a 4-byte LE checksum, masked CRC32c over the
 *     stored block bytes and the type byte; block handles are two uvarints
 *     (offset, length without the trailer).
 *   sstable/format.go, table.go: the footer (61 bytes for the Pebble formats
 *     that carry attributes): checksum type (1 = CRC32c), metaindex and index
 *     handles, zero padding, attributes (u32 LE), footer checksum (u32 LE,
 *     masked CRC32c of the footer without these 4 bytes), table format version
 *     (u32 LE, 7 = TableFormatPebblev7), the magic f09faab3f09faab3.
 *   sstable/attributes.go: the attribute bits (value blocks, range key sets,
 *     unsets, dels, range dels, two-level index, blob values, point keys).
 *   sstable/colblk/key_value_block.go: the metaindex (keys, values = handles).
 *   sstable/colblk/index_block.go: index columns (separator, offset, length,
 *     block properties); with a two-level index the top level's handles name
 *     lower index blocks.
 *   sstable/colblk/data_block.go: a data block has a 4-byte header (the longest
 *     key) and the columns prefix (prefix bytes), suffix (bytes), trailer
 *     (uint: seqnum << 8 | kind), prefix changed (bool), value (bytes),
 *     is-value-external (bool; then the value is a handle with a value prefix
 *     byte), is-obsolete (bool, v7).
 *   sstable/colblk/keyspan.go: the range-deletion block "rocksdb.range_del2":
 *     a 4-byte header (boundary key count), boundary user keys (bytes),
 *     boundary key indices (uint), trailers, suffixes, values; fragment i is
 *     [key i, key i+1) with the keys of rows [index i, index i+1).
 */
#include "pebble_i.h"

#include "engine.h"

#include <errno.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FOOTER_LEN 61
#define MAX_BLOCK (64u << 20) /* a larger block is refused: memory stays bounded */

static const uint8_t pebble_magic[8] = {0xf0, 0x9f, 0xaa, 0xb3, 0xf0, 0x9f, 0xaa, 0xb3};
static const uint8_t rocksdb_magic[8] = {0xf7, 0xcf, 0xf4, 0x85, 0xb7, 0x41, 0xe2, 0x88};
static const uint8_t leveldb_magic[8] = {0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb};

enum {
    ATTR_VALUE_BLOCKS = 1 << 0,
    ATTR_RANGE_KEY_SETS = 1 << 1,
    ATTR_RANGE_KEY_UNSETS = 1 << 2,
    ATTR_RANGE_KEY_DELS = 1 << 3,
    ATTR_TWO_LEVEL = 1 << 5,
    ATTR_BLOB_VALUES = 1 << 6,
};

struct blockbuf {
    uint8_t *raw, *dec;
    size_t rawcap, deccap;
};

struct handle {
    uint64_t off, len;
};

struct pebble_table {
    int fd;
    char *name;
    uint64_t size, data_end; /* data_end: where the footer starts */
    uint32_t attrs;
    struct handle metaindex, index, rangedel;
    bool has_rangedel, two_level;
    struct blockbuf bmeta, btop, blow, bdata;
    /* iteration */
    bool started, done;
    struct colblk top, low;
    struct col_uints top_off, top_len, low_off, low_len;
    uint32_t top_row, low_row;
    bool low_valid, data_valid;
    uint32_t drow, drows;
    uint64_t doff; /* the current data block's offset, for messages */
    struct col_prefix dprefix;
    struct col_bytes dsuffix, dvalues;
    struct col_uints dtrailer;
    struct col_bitmap dext;
    uint8_t *key;
    size_t keycap;
};

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int uvarint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned s = 0; s < 64 && *p < end; s += 7) {
        uint8_t c = *(*p)++;
        if (s == 63 && c > 1)
            return -EINVAL;
        r |= (uint64_t)(c & 0x7f) << s;
        if (c < 0x80) {
            *v = r;
            return 0;
        }
    }
    return -EINVAL;
}

static const char *compression_name(unsigned t)
{
    static const char *names[] = {"none",  "Snappy", "zlib", "bzip2", "lz4",
                                  "lz4hc", "xpress", "zstd", "MinLZ"};
    return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

static int grow(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p)
        return -ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EINVAL; /* shorter than the footer said: truncated */
        got += (size_t)n;
    }
    return 0;
}

/* Reads, verifies and decompresses the block at h into bb; what names it in
 * messages ("data block", "index block", ...). */
static int read_block(struct pebble_table *t, struct handle h, struct blockbuf *bb,
                      const char *what, const uint8_t **data, size_t *len, char **msg)
{
    *data = NULL;
    *len = 0;
    if (h.len > MAX_BLOCK || h.off > t->data_end || h.len + 5 > t->data_end - h.off)
        return engine_msgf(msg, -EINVAL,
                           "%s: %s at offset %llu (%llu bytes) lies outside the table "
                           "(truncated or corrupt)",
                           t->name, what, (unsigned long long)h.off, (unsigned long long)h.len);
    if (grow(&bb->raw, &bb->rawcap, h.len + 5) < 0)
        return engine_msgf(msg, -ENOMEM, "%s: out of memory", t->name);
    int rc = pread_full(t->fd, bb->raw, h.len + 5, h.off);
    if (rc < 0)
        return engine_msgf(msg, rc, "%s: cannot read %s at offset %llu: %s", t->name, what,
                           (unsigned long long)h.off,
                           rc == -EINVAL ? "the file is truncated" : strerror(-rc));
    uint32_t want = rd32(bb->raw + h.len + 1);
    uint32_t got = pebble_crc_mask(pebble_crc32c(0, bb->raw, h.len + 1));
    if (want != got)
        return engine_msgf(msg, -EINVAL, "%s: checksum mismatch in %s at offset %llu", t->name,
                           what, (unsigned long long)h.off);
    unsigned type = bb->raw[h.len];
    if (type == 0) {
        *data = bb->raw;
        *len = h.len;
        return 0;
    }
    if (type != 1)
        return engine_msgf(msg, -ENOTSUP,
                           "%s: %s at offset %llu uses %s compression (type %u); only "
                           "uncompressed and Snappy blocks are supported",
                           t->name, what, (unsigned long long)h.off, compression_name(type), type);
    size_t n;
    if (snappy_uncompressed_length((const char *)bb->raw, h.len, &n) != SNAPPY_OK || n > MAX_BLOCK)
        return engine_msgf(msg, -EINVAL, "%s: corrupt Snappy %s at offset %llu", t->name, what,
                           (unsigned long long)h.off);
    if (grow(&bb->dec, &bb->deccap, n ? n : 1) < 0)
        return engine_msgf(msg, -ENOMEM, "%s: out of memory", t->name);
    size_t out = n;
    if (snappy_uncompress((const char *)bb->raw, h.len, (char *)bb->dec, &out) != SNAPPY_OK ||
        out != n)
        return engine_msgf(msg, -EINVAL, "%s: corrupt Snappy %s at offset %llu", t->name, what,
                           (unsigned long long)h.off);
    *data = bb->dec;
    *len = n;
    return 0;
}

static int decode_handle(const uint8_t *p, size_t n, struct handle *h)
{
    const uint8_t *end = p + n;
    return uvarint(&p, end, &h->off) < 0 || uvarint(&p, end, &h->len) < 0 ? -EINVAL : 0;
}

static int read_footer(struct pebble_table *t, char **msg)
{
    uint8_t f[FOOTER_LEN];
    if (t->size < FOOTER_LEN)
        return engine_msgf(msg, -EINVAL, "%s: too short for a table (%llu bytes; truncated?)",
                           t->name, (unsigned long long)t->size);
    int rc = pread_full(t->fd, f, FOOTER_LEN, t->size - FOOTER_LEN);
    if (rc < 0)
        return engine_msgf(msg, rc, "%s: cannot read the footer: %s", t->name, strerror(-rc));
    const uint8_t *magic = f + FOOTER_LEN - 8;
    if (memcmp(magic, rocksdb_magic, 8) == 0 || memcmp(magic, leveldb_magic, 8) == 0)
        return engine_msgf(msg, -ENOTSUP,
                           "%s: a RocksDB/LevelDB row-based table; only Pebble's columnar "
                           "TableFormatPebblev7 is supported",
                           t->name);
    if (memcmp(magic, pebble_magic, 8) != 0)
        return engine_msgf(msg, -EINVAL, "%s: bad table magic (not a Pebble table, or truncated)",
                           t->name);
    uint32_t version = rd32(f + FOOTER_LEN - 12);
    if (version != 7)
        return engine_msgf(msg, -ENOTSUP,
                           "%s: table format version %u; only TableFormatPebblev7 is supported",
                           t->name, version);
    uint8_t tmp[FOOTER_LEN - 4];
    memcpy(tmp, f, FOOTER_LEN - 16);
    memcpy(tmp + (FOOTER_LEN - 16), f + (FOOTER_LEN - 12), 12);
    if (pebble_crc_mask(pebble_crc32c(0, tmp, sizeof(tmp))) != rd32(f + FOOTER_LEN - 16))
        return engine_msgf(msg, -EINVAL, "%s: footer checksum mismatch", t->name);
    if (f[0] != 1)
        return engine_msgf(msg, -ENOTSUP, "%s: checksum type %u; only CRC32c is supported", t->name,
                           f[0]);
    const uint8_t *p = f + 1, *end = f + FOOTER_LEN - 20;
    if (uvarint(&p, end, &t->metaindex.off) < 0 || uvarint(&p, end, &t->metaindex.len) < 0 ||
        uvarint(&p, end, &t->index.off) < 0 || uvarint(&p, end, &t->index.len) < 0)
        return engine_msgf(msg, -EINVAL, "%s: corrupt footer (block handles)", t->name);
    t->attrs = rd32(f + FOOTER_LEN - 20);
    t->data_end = t->size - FOOTER_LEN;
    if (t->attrs & (ATTR_RANGE_KEY_SETS | ATTR_RANGE_KEY_UNSETS | ATTR_RANGE_KEY_DELS))
        return engine_msgf(msg, -ENOTSUP, "%s: the table holds range keys (not supported)",
                           t->name);
    if (t->attrs & ATTR_VALUE_BLOCKS)
        return engine_msgf(msg, -ENOTSUP, "%s: the table uses value blocks (not supported)",
                           t->name);
    if (t->attrs & ATTR_BLOB_VALUES)
        return engine_msgf(msg, -ENOTSUP,
                           "%s: the table references values in blob files (not supported)",
                           t->name);
    t->two_level = t->attrs & ATTR_TWO_LEVEL;
    return 0;
}

static bool name_is(const uint8_t *k, size_t n, const char *s)
{
    return n == strlen(s) && memcmp(k, s, n) == 0;
}

static int read_metaindex(struct pebble_table *t, char **msg)
{
    const uint8_t *b;
    size_t len;
    int rc = read_block(t, t->metaindex, &t->bmeta, "metaindex block", &b, &len, msg);
    if (rc < 0)
        return rc;
    struct colblk c;
    struct col_bytes keys, vals;
    if (colblk_init(&c, b, len, 0) < 0 || c.ncols < 2 || colblk_bytes(&c, 0, c.rows, &keys) < 0 ||
        colblk_bytes(&c, 1, c.rows, &vals) < 0)
        return engine_msgf(msg, -EINVAL, "%s: corrupt metaindex block", t->name);
    for (uint32_t r = 0; r < c.rows; r++) {
        const uint8_t *k, *v;
        size_t kn, vn;
        col_bytes_at(&keys, r, &k, &kn);
        col_bytes_at(&vals, r, &v, &vn);
        if (name_is(k, kn, "rocksdb.range_del2")) {
            if (decode_handle(v, vn, &t->rangedel) < 0)
                return engine_msgf(msg, -EINVAL, "%s: corrupt metaindex block", t->name);
            t->has_rangedel = true;
        } else if (name_is(k, kn, "pebble.range_key")) {
            return engine_msgf(msg, -ENOTSUP, "%s: the table has a range-key block (not supported)",
                               t->name);
        } else if (name_is(k, kn, "pebble.value_index")) {
            return engine_msgf(msg, -ENOTSUP, "%s: the table has value blocks (not supported)",
                               t->name);
        } else if (name_is(k, kn, "rocksdb.range_del")) {
            return engine_msgf(msg, -ENOTSUP,
                               "%s: the table has a v1 range-deletion block (not supported)",
                               t->name);
        } else if (kn >= 11 && memcmp(k, "pebble.blob", 11) == 0) {
            return engine_msgf(msg, -ENOTSUP, "%s: the table references blob files (not supported)",
                               t->name);
        }
    }
    return 0;
}

int pebble_table_open(int fd, const char *name, struct pebble_table **out, char **msg)
{
    *out = NULL;
    struct pebble_table *t = calloc(1, sizeof(*t));
    if (!t || !(t->name = strdup(name))) {
        free(t);
        close(fd);
        return engine_msgf(msg, -ENOMEM, "%s: out of memory", name);
    }
    t->fd = fd;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        int err = errno;
        pebble_table_close(t);
        return engine_msgf(msg, -err, "%s: %s", name, strerror(err));
    }
    t->size = (uint64_t)end;
    int rc = read_footer(t, msg);
    if (rc == 0)
        rc = read_metaindex(t, msg);
    if (rc < 0) {
        pebble_table_close(t);
        return rc;
    }
    *out = t;
    return 0;
}

void pebble_table_close(struct pebble_table *t)
{
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    struct blockbuf *bbs[] = {&t->bmeta, &t->btop, &t->blow, &t->bdata};
    for (size_t i = 0; i < sizeof(bbs) / sizeof(bbs[0]); i++) {
        free(bbs[i]->raw);
        free(bbs[i]->dec);
    }
    free(t->key);
    free(t->name);
    free(t);
}

void pebble_spans_free(struct pebble_spans *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].start);
        free(s->v[i].end);
    }
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int span_add(struct pebble_spans *s, const uint8_t *a, size_t an, const uint8_t *b,
                    size_t bn, uint64_t seq)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        struct pebble_span *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    struct pebble_span *sp = &s->v[s->n];
    sp->start = malloc(an ? an : 1);
    sp->end = malloc(bn ? bn : 1);
    if (!sp->start || !sp->end) {
        free(sp->start);
        free(sp->end);
        return -ENOMEM;
    }
    memcpy(sp->start, a, an);
    memcpy(sp->end, b, bn);
    sp->slen = an;
    sp->elen = bn;
    sp->seq = seq;
    s->n++;
    return 0;
}

int pebble_table_rangedels(struct pebble_table *t, struct pebble_spans *spans, char **msg)
{
    if (!t->has_rangedel)
        return 0;
    const uint8_t *b;
    size_t len;
    int rc = read_block(t, t->rangedel, &t->bmeta, "range-deletion block", &b, &len, msg);
    if (rc < 0)
        return rc;
    struct colblk c;
    struct col_bytes keys;
    struct col_uints idx, trailers;
    uint32_t nb = len >= 4 ? rd32(b) : 0;
    if (len < 4 || colblk_init(&c, b, len, 4) < 0 || c.ncols < 3 ||
        colblk_bytes(&c, 0, nb, &keys) < 0 || colblk_uints(&c, 1, nb, &idx) < 0 ||
        colblk_uints(&c, 2, c.rows, &trailers) < 0)
        return engine_msgf(msg, -EINVAL, "%s: corrupt range-deletion block", t->name);
    for (uint32_t i = 0; i + 1 < nb; i++) {
        uint64_t lo = col_uints_at(&idx, i), hi = col_uints_at(&idx, i + 1);
        if (lo > hi || hi > c.rows)
            return engine_msgf(msg, -EINVAL, "%s: corrupt range-deletion block", t->name);
        const uint8_t *a, *e;
        size_t an, en;
        col_bytes_at(&keys, i, &a, &an);
        col_bytes_at(&keys, i + 1, &e, &en);
        uint64_t seq = 0;
        bool any = false;
        for (uint64_t r = lo; r < hi; r++) {
            uint64_t tr = col_uints_at(&trailers, (uint32_t)r);
            if ((tr & 0xff) != PK_RANGEDEL)
                return engine_msgf(msg, -ENOTSUP,
                                   "%s: key kind %u in the range-deletion block (range keys are "
                                   "not supported)",
                                   t->name, (unsigned)(tr & 0xff));
            if (!any || (tr >> 8) > seq)
                seq = tr >> 8;
            any = true;
        }
        if (!any)
            continue;
        if (span_add(spans, a, an, e, en, seq) < 0)
            return engine_msgf(msg, -ENOMEM, "%s: out of memory", t->name);
    }
    return 0;
}

/* Loads the index entry's data block into the data columns. */
static int load_data(struct pebble_table *t, struct handle h, char **msg)
{
    const uint8_t *b = NULL;
    size_t len = 0;
    t->data_valid = false;
    int rc = read_block(t, h, &t->bdata, "data block", &b, &len, msg);
    if (rc < 0)
        return rc;
    t->doff = h.off;
    struct colblk c;
    uint32_t s, e;
    if (colblk_init(&c, b, len, 4) < 0 || (c.ncols != 6 && c.ncols != 7) ||
        colblk_col(&c, 0, COL_PREFIXBYTES, &s, &e) < 0 ||
        col_prefix_decode(b, s, e, c.rows, &t->dprefix) < 0 ||
        colblk_bytes(&c, 1, c.rows, &t->dsuffix) < 0 ||
        colblk_uints(&c, 2, c.rows, &t->dtrailer) < 0 || colblk_col(&c, 3, COL_BOOL, &s, &e) < 0 ||
        colblk_bytes(&c, 4, c.rows, &t->dvalues) < 0 || colblk_col(&c, 5, COL_BOOL, &s, &e) < 0 ||
        col_bitmap_decode(b, s, e, c.rows, &t->dext) < 0)
        return engine_msgf(msg, -EINVAL, "%s: corrupt data block at offset %llu", t->name,
                           (unsigned long long)h.off);
    t->drow = 0;
    t->drows = c.rows;
    t->data_valid = true;
    return 0;
}

static int load_index(struct pebble_table *t, struct handle h, struct blockbuf *bb,
                      struct colblk *c, struct col_uints *offs, struct col_uints *lens,
                      const char *what, char **msg)
{
    const uint8_t *b = NULL;
    size_t len = 0;
    int rc = read_block(t, h, bb, what, &b, &len, msg);
    if (rc < 0)
        return rc;
    if (colblk_init(c, b, len, 0) < 0 || c->ncols < 3 || colblk_uints(c, 1, c->rows, offs) < 0 ||
        colblk_uints(c, 2, c->rows, lens) < 0)
        return engine_msgf(msg, -EINVAL, "%s: corrupt %s at offset %llu", t->name, what,
                           (unsigned long long)h.off);
    return 0;
}

/* Moves to the next data block; 0 when there is none. */
static int next_block(struct pebble_table *t, char **msg)
{
    for (;;) {
        struct handle h;
        if (!t->two_level) {
            if (t->top_row >= t->top.rows)
                return 0;
            h.off = col_uints_at(&t->top_off, t->top_row);
            h.len = col_uints_at(&t->top_len, t->top_row);
            t->top_row++;
        } else if (t->low_valid && t->low_row < t->low.rows) {
            h.off = col_uints_at(&t->low_off, t->low_row);
            h.len = col_uints_at(&t->low_len, t->low_row);
            t->low_row++;
        } else {
            if (t->top_row >= t->top.rows)
                return 0;
            h.off = col_uints_at(&t->top_off, t->top_row);
            h.len = col_uints_at(&t->top_len, t->top_row);
            t->top_row++;
            t->low_valid = false;
            int rc = load_index(t, h, &t->blow, &t->low, &t->low_off, &t->low_len,
                                "lower index block", msg);
            if (rc < 0)
                return rc;
            t->low_valid = true;
            t->low_row = 0;
            continue;
        }
        int rc = load_data(t, h, msg);
        if (rc < 0)
            return rc;
        if (t->drows > 0)
            return 1;
    }
}

int pebble_table_next(struct pebble_table *t, const uint8_t **key, size_t *klen, uint64_t *seq,
                      unsigned *kind, const uint8_t **val, size_t *vlen, char **msg)
{
    if (t->done)
        return 0;
    if (!t->started) {
        t->started = true;
        int rc = load_index(t, t->index, &t->btop, &t->top, &t->top_off, &t->top_len,
                            t->two_level ? "top-level index block" : "index block", msg);
        if (rc < 0)
            return rc;
    }
    if (!t->data_valid || t->drow >= t->drows) {
        int rc = next_block(t, msg);
        if (rc <= 0) {
            t->done = rc == 0;
            return rc;
        }
    }
    uint32_t r = t->drow++;
    const uint8_t *part[3], *sfx;
    size_t n[3], sn;
    col_prefix_at(&t->dprefix, r, part, n);
    col_bytes_at(&t->dsuffix, r, &sfx, &sn);
    size_t total = n[0] + n[1] + n[2] + sn;
    if (grow(&t->key, &t->keycap, total ? total : 1) < 0)
        return engine_msgf(msg, -ENOMEM, "%s: out of memory", t->name);
    size_t o = 0;
    for (int i = 0; i < 3; i++) {
        if (n[i])
            memcpy(t->key + o, part[i], n[i]);
        o += n[i];
    }
    if (sn)
        memcpy(t->key + o, sfx, sn);
    uint64_t tr = col_uints_at(&t->dtrailer, r);
    unsigned k = (unsigned)(tr & 0xff);
    switch (k) {
    case PK_SET:
    case PK_SETWITHDEL:
    case PK_DEL:
    case PK_SINGLEDEL:
    case PK_DELSIZED:
        break;
    case PK_MERGE:
        return engine_msgf(msg, -ENOTSUP, "%s: MERGE keys are not supported (data block at %llu)",
                           t->name, (unsigned long long)t->doff);
    case PK_RANGEKEYSET:
    case PK_RANGEKEYUNSET:
    case PK_RANGEKEYDEL:
        return engine_msgf(msg, -ENOTSUP, "%s: range keys are not supported (data block at %llu)",
                           t->name, (unsigned long long)t->doff);
    default:
        return engine_msgf(msg, -ENOTSUP, "%s: key kind %u in the data block at %llu", t->name, k,
                           (unsigned long long)t->doff);
    }
    if (col_bitmap_at(&t->dext, r))
        return engine_msgf(msg, -ENOTSUP,
                           "%s: a value stored outside its data block (value block or blob "
                           "reference; data block at %llu) is not supported",
                           t->name, (unsigned long long)t->doff);
    *key = t->key;
    *klen = total;
    *seq = tr >> 8;
    *kind = k;
    col_bytes_at(&t->dvalues, r, val, vlen);
    return 1;
}
