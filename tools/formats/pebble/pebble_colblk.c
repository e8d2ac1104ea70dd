/*
 * pebble_colblk.c - decoders of Pebble's columnar block encodings.  Facts from
 * cockroachdb/pebble sstable/colblk: block.go (the header), uints.go,
 * raw_bytes.go, prefix_bytes.go, bitmap.go.
 *
 * A columnar block: an optional custom header of hdr bytes (4 in data and
 * keyspan blocks), then version (1 byte, 1), column count (u16 LE), row count
 * (u32 LE), one 5-byte descriptor per column (data type, u32 LE offset of the
 * column from the block's start); the columns; one trailing padding byte.
 * Alignment inside columns is relative to the block's start.
 *   uint column: an encoding byte (bit 7 delta, low bits the width 0/1/2/4/8);
 *     with delta an 8-byte LE base; then, aligned to the width, rows values.
 *     Width 0: every value is the base (or 0).
 *   bytes column: rows + 1 offsets as a uint column, then the data; slice i
 *     is data[off[i], off[i+1]).
 *   prefix bytes column: the bundle shift byte, then a bytes column of
 *     1 + bundles + rows slices (the first slice's start is implicit):
 *     [shared prefix][bundle 0 prefix][rows of bundle 0]...; a row whose
 *     suffix is empty repeats the key before it in its bundle.
 *   bool column (bitmap): an encoding byte (1: all zero), otherwise, aligned
 *     to 8, ceil(rows/64) LE u64 words then ceil(words/64) summary words.
 */
#include "pebble_i.h"

#include <errno.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

int colblk_init(struct colblk *c, const uint8_t *b, size_t len, uint32_t hdr)
{
    memset(c, 0, sizeof(*c));
    if (len > UINT32_MAX || len < (size_t)hdr + 7 + 1)
        return -EINVAL;
    if (b[hdr] != 1) /* Version1, the only columnar block version */
        return -ENOTSUP;
    c->b = b;
    c->len = len;
    c->hdr = hdr;
    c->ncols = (uint16_t)(b[hdr + 1] | b[hdr + 2] << 8);
    c->rows = rd32(b + hdr + 3);
    if ((size_t)hdr + 7 + 5 * (size_t)c->ncols + 1 > len)
        return -EINVAL;
    return 0;
}

int colblk_col(const struct colblk *c, unsigned col, enum colblk_type want, uint32_t *start,
               uint32_t *end)
{
    if (col >= c->ncols)
        return -EINVAL;
    const uint8_t *d = c->b + c->hdr + 7 + 5 * (size_t)col;
    if (d[0] != want)
        return -EINVAL;
    uint32_t s = rd32(d + 1);
    uint32_t e = col + 1 < c->ncols ? rd32(d + 5 + 1) : (uint32_t)(c->len - 1);
    uint32_t hend = c->hdr + 7 + 5 * (uint32_t)c->ncols;
    if (s < hend || s > e || e > c->len - 1)
        return -EINVAL;
    *start = s;
    *end = e;
    return 0;
}

int col_uints_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                     struct col_uints *u, uint32_t *used_end)
{
    memset(u, 0, sizeof(*u));
    u->rows = rows;
    if (rows == 0) { /* an empty column is empty: no encoding byte */
        *used_end = start;
        return 0;
    }
    uint64_t off = start;
    if (off + 1 > end)
        return -EINVAL;
    uint8_t enc = b[off++];
    unsigned width = enc & 0x7f;
    bool delta = enc & 0x80;
    if (width != 0 && width != 1 && width != 2 && width != 4 && width != 8)
        return -EINVAL;
    if (delta && width == 8)
        return -EINVAL;
    if (delta) {
        if (off + 8 > end)
            return -EINVAL;
        u->base = rd64(b + off);
        off += 8;
    }
    u->width = width;
    if (width) {
        off = (off + width - 1) & ~(uint64_t)(width - 1);
        if (off + (uint64_t)rows * width > end)
            return -EINVAL;
        u->p = b + off;
        off += (uint64_t)rows * width;
    }
    *used_end = (uint32_t)off;
    return 0;
}

uint64_t col_uints_at(const struct col_uints *u, uint32_t i)
{
    if (u->width == 0)
        return u->base; /* every value is the base: no data (p is NULL) */
    const uint8_t *p = u->p + (size_t)i * u->width;
    switch (u->width) {
    case 1:
        return u->base + p[0];
    case 2:
        return u->base + (uint64_t)(p[0] | p[1] << 8);
    case 4:
        return u->base + rd32(p);
    case 8:
        return rd64(p);
    default:
        return u->base;
    }
}

int col_bytes_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                     struct col_bytes *r, uint32_t *used_end)
{
    memset(r, 0, sizeof(*r));
    r->rows = rows;
    if (rows == 0) {
        *used_end = start;
        return 0;
    }
    uint32_t dstart;
    if (rows == UINT32_MAX || col_uints_decode(b, start, end, rows + 1, &r->offs, &dstart) < 0)
        return -EINVAL;
    /* Offsets ascend from the data's start and end inside the column: then
     * every slice is inside it too. */
    uint64_t prev = 0;
    for (uint32_t i = 0; i <= rows; i++) {
        uint64_t o = col_uints_at(&r->offs, i);
        if (o < prev)
            return -EINVAL;
        prev = o;
    }
    if (prev > (uint64_t)(end - dstart))
        return -EINVAL;
    r->data = b + dstart;
    r->data_len = prev;
    *used_end = dstart + (uint32_t)prev;
    return 0;
}

void col_bytes_at(const struct col_bytes *r, uint32_t i, const uint8_t **p, size_t *n)
{
    uint64_t lo = col_uints_at(&r->offs, i), hi = col_uints_at(&r->offs, i + 1);
    *p = r->data + lo;
    *n = (size_t)(hi - lo);
}

int col_prefix_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                      struct col_prefix *pb)
{
    memset(pb, 0, sizeof(*pb));
    pb->rows = rows;
    if (rows == 0)
        return 0;
    if (start + 1 > end)
        return -EINVAL;
    pb->shift = b[start];
    if (pb->shift > 16)
        return -EINVAL;
    uint64_t bundles = 1 + ((uint64_t)(rows - 1) >> pb->shift);
    uint64_t slices = (uint64_t)rows + bundles;
    if (slices >= UINT32_MAX)
        return -EINVAL;
    uint32_t used;
    return col_bytes_decode(b, start + 1, end, (uint32_t)slices, &pb->rb, &used);
}

/* The bytes of slice i of the prefix column: [off[i], off[i+1]), where the
 * shared prefix is [0, off[0]). */
static void slice(const struct col_bytes *rb, uint32_t i, const uint8_t **p, size_t *n)
{
    col_bytes_at(rb, i, p, n);
}

void col_prefix_at(const struct col_prefix *pb, uint32_t row, const uint8_t *part[3], size_t n[3])
{
    const struct col_bytes *rb = &pb->rb;
    part[0] = rb->data;
    n[0] = (size_t)col_uints_at(&rb->offs, 0);
    uint32_t bundle = row >> pb->shift;
    uint32_t bidx = bundle * ((1u << pb->shift) + 1);
    /* slice index k of the bytes column is [off[k], off[k+1]) */
    slice(rb, bidx, &part[1], &n[1]);
    uint32_t first = bidx + 1; /* the bundle's first row */
    uint32_t i = 1 + bundle + row;
    slice(rb, i, &part[2], &n[2]);
    while (n[2] == 0 && i > first) { /* a duplicate of the key before it */
        i--;
        slice(rb, i, &part[2], &n[2]);
    }
}

int col_bitmap_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                      struct col_bitmap *bm)
{
    memset(bm, 0, sizeof(*bm));
    bm->rows = rows;
    if (rows == 0)
        return 0;
    if (start + 1 > end)
        return -EINVAL;
    uint8_t enc = b[start];
    if (enc == 1) /* zeroBitmapEncoding */
        return 0;
    if (enc != 0)
        return -EINVAL;
    uint64_t off = ((uint64_t)start + 1 + 7) & ~(uint64_t)7;
    uint64_t words = ((uint64_t)rows + 63) / 64;
    uint64_t summary = (words + 63) / 64;
    if (off + 8 * (words + summary) > end)
        return -EINVAL;
    bm->words = b + off;
    return 0;
}

bool col_bitmap_at(const struct col_bitmap *bm, uint32_t i)
{
    if (!bm->words)
        return false;
    return (rd64(bm->words + 8 * (size_t)(i >> 6)) >> (i & 63)) & 1;
}

int colblk_uints(const struct colblk *c, unsigned col, uint32_t rows, struct col_uints *u)
{
    uint32_t s, e, used;
    if (colblk_col(c, col, COL_UINT, &s, &e) < 0)
        return -EINVAL;
    return col_uints_decode(c->b, s, e, rows, u, &used);
}

int colblk_bytes(const struct colblk *c, unsigned col, uint32_t rows, struct col_bytes *r)
{
    uint32_t s, e, used;
    if (colblk_col(c, col, COL_BYTES, &s, &e) < 0)
        return -EINVAL;
    return col_bytes_decode(c->b, s, e, rows, r, &used);
}
