/*
 * pebble_manifest.c - replaying a Pebble MANIFEST into its live set of tables.
 *
 * The record log (cockroachdb/pebble record/record.go, LevelDB's log format):
 * 32 KiB blocks of chunks; a chunk header is checksum (u32 LE, masked CRC32c
 * of the type byte, the log number of recyclable chunks and the payload),
 * length (u16 LE), type (1 full, 2 first, 3 middle, 4 last; 5-8 the same
 * "recyclable" types with a u32 log number after the type: 11-byte header).
 * A block's tail shorter than a header is padding.  Zeroed bytes end the log.
 *
 * A record is one version edit (internal/manifest/version_edit.go): uvarint
 * tags, each with its fields: 1 comparer name, 2 log number, 3 next file
 * number, 4 last sequence number, 5 compact pointer, 6 deleted table (level,
 * number), 7/100/102/103 new table (level, number, [102: path id], size,
 * smallest and largest internal keys, [not 7: smallest and largest seqnums],
 * [103: custom fields until tag 1]), 9 previous log number, 10 excise bounds
 * record, 11 table marked for compaction, 104 new table with range keys, 105
 * created backing (number, size), 106 removed backing, 107/108 blob files,
 * 200-203 column families.  Custom fields of 103: below 64 a bytes value,
 * safe to skip; 66 virtual (uvarint backing number); 64 and above, others
 * must be understood.  Deletions of an edit apply before its additions.
 * Internal keys are the user key then the 8-byte LE trailer (seqnum << 8 |
 * kind), internal/base/internal.go.
 */
#include "pebble_i.h"

#include "engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE 32768
#define NUM_LEVELS 7
#define MAX_RECORD (64u << 20)

struct rd {
    const uint8_t *p, *end;
};

static int uv(struct rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned s = 0; s < 64 && r->p < r->end; s += 7) {
        uint8_t c = *r->p++;
        if (s == 63 && c > 1)
            return -EINVAL;
        x |= (uint64_t)(c & 0x7f) << s;
        if (c < 0x80) {
            *v = x;
            return 0;
        }
    }
    return -EINVAL;
}

static int bytes(struct rd *r, const uint8_t **p, size_t *n)
{
    uint64_t l;
    if (uv(r, &l) < 0 || l > (uint64_t)(r->end - r->p))
        return -EINVAL;
    *p = r->p;
    *n = (size_t)l;
    r->p += l;
    return 0;
}

void pebble_manifest_free(struct pebble_manifest *m)
{
    for (size_t i = 0; i < m->nfiles; i++) {
        free(m->files[i].smallest);
        free(m->files[i].largest);
    }
    free(m->files);
    free(m->comparer);
    memset(m, 0, sizeof(*m));
}

static void file_free(struct pebble_file *f)
{
    free(f->smallest);
    free(f->largest);
}

/* One edit's additions and deletions, applied together at its end. */
struct edit {
    struct pebble_file *add;
    size_t nadd, cap;
    struct {
        int level;
        uint64_t num;
    } * del;
    size_t ndel, dcap;
};

static void edit_clear(struct edit *e)
{
    for (size_t i = 0; i < e->nadd; i++)
        file_free(&e->add[i]);
    e->nadd = 0;
    e->ndel = 0;
}

static int ikey(const uint8_t *p, size_t n, uint8_t **user, size_t *ulen, uint64_t *trailer)
{
    if (n < 8)
        return -EINVAL;
    *ulen = n - 8;
    *user = malloc(*ulen ? *ulen : 1);
    if (!*user)
        return -ENOMEM;
    memcpy(*user, p, *ulen);
    uint64_t t = 0;
    for (int i = 7; i >= 0; i--)
        t = t << 8 | p[*ulen + (size_t)i];
    *trailer = t;
    return 0;
}

#define BAD(...) engine_msgf(msg, -EINVAL, __VA_ARGS__)
#define UNSUP(...) engine_msgf(msg, -ENOTSUP, __VA_ARGS__)

static int new_file(struct rd *r, uint64_t tag, struct edit *e, const char *name, char **msg)
{
    uint64_t level, num, size, pathid;
    if (uv(r, &level) < 0 || uv(r, &num) < 0 || (tag == 102 && uv(r, &pathid) < 0) ||
        uv(r, &size) < 0)
        return BAD("%s: corrupt new-table entry", name);
    if (level >= NUM_LEVELS)
        return BAD("%s: new table %06llu at level %llu (levels are 0-6)", name,
                   (unsigned long long)num, (unsigned long long)level);
    const uint8_t *sp, *lp;
    size_t sn, ln;
    if (bytes(r, &sp, &sn) < 0 || bytes(r, &lp, &ln) < 0)
        return BAD("%s: corrupt new-table entry %06llu", name, (unsigned long long)num);
    struct pebble_file f = {.level = (int)level, .num = num, .backing = num};
    if (tag != 7) {
        if (uv(r, &f.sseq) < 0 || uv(r, &f.lseq) < 0)
            return BAD("%s: corrupt new-table entry %06llu", name, (unsigned long long)num);
    }
    while (tag == 103) {
        uint64_t ct;
        const uint8_t *v;
        size_t vn;
        if (uv(r, &ct) < 0)
            return BAD("%s: corrupt custom field of table %06llu", name, (unsigned long long)num);
        if (ct == 1)
            break;
        if (ct == 66) {
            if (uv(r, &f.backing) < 0)
                return BAD("%s: corrupt virtual-table field of table %06llu", name,
                           (unsigned long long)num);
            f.virt = true;
            continue;
        }
        const char *what = NULL;
        switch (ct) {
        case 65:
            what = "a path id";
            break;
        case 67:
            what = "a synthetic key prefix";
            break;
        case 68:
            what = "a synthetic key suffix";
            break;
        case 69:
        case 70:
            what = "blob file references";
            break;
        case 71:
            what = "a suffix mask";
            break;
        default:
            if (ct & 64)
                return UNSUP("%s: table %06llu has custom field %llu, unknown to this reader", name,
                             (unsigned long long)num, (unsigned long long)ct);
        }
        if (what)
            return UNSUP("%s: table %06llu has %s (not supported)", name, (unsigned long long)num,
                         what);
        if (bytes(r, &v, &vn) < 0) /* safe to ignore: creation time, ... */
            return BAD("%s: corrupt custom field of table %06llu", name, (unsigned long long)num);
    }
    if (e->nadd == e->cap) {
        size_t cap = e->cap ? 2 * e->cap : 8;
        struct pebble_file *a = realloc(e->add, cap * sizeof(*a));
        if (!a)
            return engine_msgf(msg, -ENOMEM, "out of memory");
        e->add = a;
        e->cap = cap;
    }
    int rc = ikey(sp, sn, &f.smallest, &f.slen, &f.strailer);
    if (rc == 0) {
        rc = ikey(lp, ln, &f.largest, &f.llen, &f.ltrailer);
        if (rc < 0)
            free(f.smallest);
    }
    if (rc < 0)
        return engine_msgf(msg, rc, "%s: %s bounds of table %06llu", name,
                           rc == -ENOMEM ? "out of memory reading the" : "corrupt",
                           (unsigned long long)num);
    e->add[e->nadd++] = f;
    return 0;
}

static int apply(struct pebble_manifest *m, struct edit *e, const char *name, char **msg)
{
    for (size_t i = 0; i < e->ndel; i++) {
        size_t j = 0;
        while (j < m->nfiles &&
               !(m->files[j].level == e->del[i].level && m->files[j].num == e->del[i].num))
            j++;
        if (j == m->nfiles)
            return BAD("%s: deletes table %06llu from level %d, where it is not", name,
                       (unsigned long long)e->del[i].num, e->del[i].level);
        file_free(&m->files[j]);
        m->files[j] = m->files[--m->nfiles];
    }
    for (size_t i = 0; i < e->nadd; i++) {
        for (size_t j = 0; j < m->nfiles; j++)
            if (m->files[j].num == e->add[i].num)
                return BAD("%s: adds table %06llu twice", name, (unsigned long long)e->add[i].num);
        if (m->nfiles == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 16;
            struct pebble_file *a = realloc(m->files, cap * sizeof(*a));
            if (!a)
                return engine_msgf(msg, -ENOMEM, "out of memory");
            m->files = a;
            m->cap = cap;
        }
        m->files[m->nfiles++] = e->add[i];
        e->add[i].smallest = e->add[i].largest = NULL; /* moved */
    }
    e->nadd = 0; /* moved into m */
    e->ndel = 0;
    return 0;
}

static int decode_edit(struct pebble_manifest *m, const uint8_t *p, size_t n, struct edit *e,
                       const char *name, char **msg)
{
    struct rd r = {p, p + n};
    while (r.p < r.end) {
        uint64_t tag, a, b;
        const uint8_t *s, *s2;
        size_t sn, sn2;
        if (uv(&r, &tag) < 0)
            return BAD("%s: corrupt version edit", name);
        int rc = 0;
        switch (tag) {
        case 1:
            if (bytes(&r, &s, &sn) < 0)
                return BAD("%s: corrupt comparer name", name);
            free(m->comparer);
            m->comparer = strndup((const char *)s, sn);
            if (!m->comparer)
                return engine_msgf(msg, -ENOMEM, "out of memory");
            break;
        case 2:
        case 3:
        case 4:
        case 9:
            if (uv(&r, &a) < 0)
                return BAD("%s: corrupt version edit (tag %llu)", name, (unsigned long long)tag);
            if (tag == 2)
                m->log_num = a;
            else if (tag == 3)
                m->next_file = a;
            else if (tag == 4)
                m->last_seq = a;
            break;
        case 5:
            if (uv(&r, &a) < 0 || bytes(&r, &s, &sn) < 0)
                return BAD("%s: corrupt compact pointer", name);
            break;
        case 6:
            if (uv(&r, &a) < 0 || uv(&r, &b) < 0 || a >= NUM_LEVELS)
                return BAD("%s: corrupt deleted-table entry", name);
            if (e->ndel == e->dcap) {
                size_t cap = e->dcap ? 2 * e->dcap : 8;
                void *d = realloc(e->del, cap * sizeof(*e->del));
                if (!d)
                    return engine_msgf(msg, -ENOMEM, "out of memory");
                e->del = d;
                e->dcap = cap;
            }
            e->del[e->ndel].level = (int)a;
            e->del[e->ndel].num = b;
            e->ndel++;
            break;
        case 7:
        case 100:
        case 102:
        case 103:
            rc = new_file(&r, tag, e, name, msg);
            break;
        case 10: /* excise bounds record: informational */
            /* the smallest and the largest key, then two counts */
            if (bytes(&r, &s, &sn) < 0 || bytes(&r, &s2, &sn2) < 0 || uv(&r, &a) < 0 ||
                uv(&r, &b) < 0)
                return BAD("%s: corrupt excise bounds record", name);
            break;
        case 11: /* marked for compaction: no effect on the contents */
            if (uv(&r, &a) < 0 || uv(&r, &b) < 0)
                return BAD("%s: corrupt marked-for-compaction entry", name);
            break;
        case 104:
            return UNSUP("%s: a table with range keys (tag 104; range keys are not supported)",
                         name);
        case 105:
            if (uv(&r, &a) < 0 || uv(&r, &b) < 0)
                return BAD("%s: corrupt created-backing entry", name);
            break;
        case 106:
            if (uv(&r, &a) < 0)
                return BAD("%s: corrupt removed-backing entry", name);
            break;
        case 107:
        case 108:
            return UNSUP("%s: blob files (tag %llu) are not supported", name,
                         (unsigned long long)tag);
        case 200:
        case 201:
        case 202:
        case 203:
            return UNSUP("%s: column families (tag %llu) are not supported", name,
                         (unsigned long long)tag);
        default:
            return UNSUP("%s: unknown version-edit tag %llu", name, (unsigned long long)tag);
        }
        if (rc < 0)
            return rc;
    }
    return apply(m, e, name, msg);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int pebble_manifest_parse(const uint8_t *data, size_t len, const char *name,
                          struct pebble_manifest *m, char **msg)
{
    memset(m, 0, sizeof(*m));
    struct edit e = {0};
    uint8_t *rec = NULL;
    size_t rlen = 0, rcap = 0;
    bool in_rec = false;
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        size_t left = BLOCK_SIZE - i % BLOCK_SIZE;
        if (left < 7) { /* block tail: padding */
            i += left;
            continue;
        }
        if (len - i < 7) {
            rc = all_zero(data + i, len - i) && !in_rec
                     ? 0
                     : BAD("%s: truncated (a chunk header at offset %zu ends early)", name, i);
            break;
        }
        const uint8_t *h = data + i;
        uint32_t crc =
            (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
        size_t n = (size_t)(h[4] | h[5] << 8);
        unsigned type = h[6];
        if (type == 0 && n == 0 && crc == 0) { /* zeroed: the end of the log */
            if (!all_zero(data + i, len - i) || in_rec)
                rc = BAD("%s: corrupt record log (zeroed chunk at offset %zu)", name, i);
            break;
        }
        size_t hl = type >= 5 && type <= 8 ? 11 : 7;
        if (type < 1 || type > 8)
            rc = BAD("%s: corrupt record log (chunk type %u at offset %zu)", name, type, i);
        else if (hl > left || n > left - hl)
            rc = BAD("%s: corrupt record log (chunk at offset %zu crosses its block)", name, i);
        else if (i + hl + n > len)
            rc = BAD("%s: truncated (the chunk at offset %zu ends early)", name, i);
        else if (pebble_crc_mask(pebble_crc32c(0, h + 6, hl - 6 + n)) != crc)
            rc = BAD("%s: checksum mismatch in the record log chunk at offset %zu", name, i);
        if (rc < 0)
            break;
        unsigned ft = type > 4 ? type - 4 : type;
        if ((ft == 1 || ft == 2) && in_rec)
            rc = BAD("%s: corrupt record log (a record starts inside another at %zu)", name, i);
        else if ((ft == 3 || ft == 4) && !in_rec)
            rc = BAD("%s: corrupt record log (a record continues from nothing at %zu)", name, i);
        else if (rlen + n > MAX_RECORD)
            rc = BAD("%s: a record longer than %u bytes", name, MAX_RECORD);
        if (rc < 0)
            break;
        if (ft == 1 || ft == 2)
            rlen = 0;
        if (rlen + n > rcap) {
            size_t cap = rcap ? rcap : 4096;
            while (cap < rlen + n)
                cap *= 2;
            uint8_t *p = realloc(rec, cap);
            if (!p) {
                rc = engine_msgf(msg, -ENOMEM, "out of memory");
                break;
            }
            rec = p;
            rcap = cap;
        }
        if (n && rec)
            memcpy(rec + rlen, h + hl, n);
        rlen += n;
        in_rec = ft == 2 || ft == 3;
        if (ft == 1 || ft == 4)
            rc = decode_edit(m, rec, rlen, &e, name, msg);
        i += hl + n;
    }
    if (rc == 0 && in_rec)
        rc = BAD("%s: truncated (the last record is incomplete)", name);
    edit_clear(&e);
    free(e.add);
    free(e.del);
    free(rec);
    if (rc < 0)
        pebble_manifest_free(m);
    return rc;
}
