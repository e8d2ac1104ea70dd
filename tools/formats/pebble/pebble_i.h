/*
 * pebble_i.h - the Pebble reader's parts, shared by its .c files, its test
 * (tests/test_pebble.c) and its fuzz target (tests/fuzz/fuzz_c1z3.c).
 *
 *   pebble_crc.c       CRC32c and its mask
 *   pebble_colblk.c    the columnar block encodings (sstable/colblk)
 *   pebble_table.c     one table: footer, blocks, index, data and range-del
 *   pebble_manifest.c  the MANIFEST: record log and version edits
 *   pebble.c           the directory, the merging iterator (pebble.h)
 *
 * Every decoder is bounds-checked against the bytes it was given: malformed
 * input is -EINVAL (or -ENOTSUP for a feature), never a read outside them.
 */
#ifndef SYNCSTORE_PEBBLE_I_H
#define SYNCSTORE_PEBBLE_I_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pebble.h"

/* ---- internal keys (internal/base/internal.go) ---- */
enum pebble_kind {
    PK_DEL = 0,
    PK_SET = 1,
    PK_MERGE = 2,
    PK_SINGLEDEL = 7,
    PK_RANGEDEL = 15,
    PK_SETWITHDEL = 18,
    PK_RANGEKEYSET = 19,
    PK_RANGEKEYUNSET = 20,
    PK_RANGEKEYDEL = 21,
    PK_DELSIZED = 23,
};
#define PEBBLE_SEQ_MAX ((UINT64_C(1) << 56) - 1)

/* ---- pebble_crc.c ---- */
uint32_t pebble_crc32c(uint32_t crc, const void *data, size_t len);
/* The masked form LevelDB/Pebble store (crc rotated right 15, plus a constant). */
uint32_t pebble_crc_mask(uint32_t crc);

/* ---- pebble_colblk.c (sstable/colblk/block.go, uints.go, raw_bytes.go,
 * prefix_bytes.go, bitmap.go) ---- */
enum colblk_type { COL_BOOL = 1, COL_UINT = 2, COL_BYTES = 3, COL_PREFIXBYTES = 4 };

struct colblk {
    const uint8_t *b; /* the whole block */
    size_t len;
    uint32_t hdr; /* custom header size before the columnar header */
    uint16_t ncols;
    uint32_t rows;
};
struct col_uints {
    const uint8_t *p; /* the first element (NULL when width 0) */
    uint64_t base;
    unsigned width;
    uint32_t rows;
};
struct col_bytes {
    struct col_uints offs; /* rows + 1 offsets into data */
    const uint8_t *data;
    size_t data_len;
    uint32_t rows;
};
struct col_prefix {
    struct col_bytes rb; /* slice 0..: [shared | bundle prefix, rows...]... */
    unsigned shift;
    uint32_t rows;
};
struct col_bitmap {
    const uint8_t *words; /* NULL: all zero */
    uint32_t rows;
};

/* Parses the columnar header at b + hdr: version 1, column count, rows. */
int colblk_init(struct colblk *c, const uint8_t *b, size_t len, uint32_t hdr);
/* Column col's type and its [start, end) within the block. */
int colblk_col(const struct colblk *c, unsigned col, enum colblk_type want, uint32_t *start,
               uint32_t *end);
/* Decoders of one column laid out in [start, end) of b, with rows rows. */
int col_uints_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                     struct col_uints *u, uint32_t *used_end);
uint64_t col_uints_at(const struct col_uints *u, uint32_t i);
int col_bytes_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                     struct col_bytes *r, uint32_t *used_end);
void col_bytes_at(const struct col_bytes *r, uint32_t i, const uint8_t **p, size_t *n);
int col_prefix_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                      struct col_prefix *pb);
/* The shared prefix, the bundle prefix and the row's own suffix of row i; the
 * key is their concatenation. */
void col_prefix_at(const struct col_prefix *pb, uint32_t i, const uint8_t *part[3], size_t n[3]);
int col_bitmap_decode(const uint8_t *b, uint32_t start, uint32_t end, uint32_t rows,
                      struct col_bitmap *bm);
bool col_bitmap_at(const struct col_bitmap *bm, uint32_t i);
/* Convenience: column col of c decoded with the column's row count. */
int colblk_uints(const struct colblk *c, unsigned col, uint32_t rows, struct col_uints *u);
int colblk_bytes(const struct colblk *c, unsigned col, uint32_t rows, struct col_bytes *r);

/* ---- pebble_table.c ---- */
struct pebble_span {
    uint8_t *start, *end; /* [start, end), malloc'd */
    size_t slen, elen;
    uint64_t seq;
};
struct pebble_spans {
    struct pebble_span *v;
    size_t n, cap;
};
void pebble_spans_free(struct pebble_spans *s);

struct pebble_table; /* one open table file */
/* Opens the table in fd (owned by the table from then on, closed by
 * pebble_table_close; also on error); name is for messages. */
int pebble_table_open(int fd, const char *name, struct pebble_table **out, char **msg);
void pebble_table_close(struct pebble_table *t);
/* Appends the table's range deletions to spans (raw sequence numbers). */
int pebble_table_rangedels(struct pebble_table *t, struct pebble_spans *spans, char **msg);
/* Point iteration: 1 an entry (key borrowed until the next call; value too),
 * 0 the end. kind is validated: SET, SETWITHDEL, DEL, SINGLEDEL, DELSIZED. */
int pebble_table_next(struct pebble_table *t, const uint8_t **key, size_t *klen, uint64_t *seq,
                      unsigned *kind, const uint8_t **val, size_t *vlen, char **msg);

/* ---- pebble_manifest.c ---- */
struct pebble_file {
    int level;
    uint64_t num;     /* table number */
    uint64_t backing; /* the physical file's number (num unless virtual) */
    bool virt;
    uint8_t *smallest, *largest; /* user keys, malloc'd */
    size_t slen, llen;
    uint64_t strailer, ltrailer;
    uint64_t sseq, lseq;
};
struct pebble_manifest {
    char *comparer;
    struct pebble_file *files; /* the live set after every edit */
    size_t nfiles, cap;
    uint64_t next_file, last_seq, log_num;
};
/* Replays the MANIFEST bytes; name is for messages. */
int pebble_manifest_parse(const uint8_t *data, size_t len, const char *name,
                          struct pebble_manifest *m, char **msg);
void pebble_manifest_free(struct pebble_manifest *m);

#endif
