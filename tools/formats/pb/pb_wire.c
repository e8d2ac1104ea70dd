/*
 * pb_wire.c - the protobuf wire format reader (pb_wire.h).
 */
#include "pb_wire.h"

#include <errno.h>
#include <string.h>

void pb_reader_init(struct pb_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
}

int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (q == end)
            return -EINVAL;
        uint8_t c = *q++;
        if (shift == 63 && c > 1)
            return -EINVAL; /* more than 64 bits */
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = v;
            return 0;
        }
    }
    return -EINVAL;
}

int pb_next(struct pb_reader *r, struct pb_field *f)
{
    if (r->p == r->end)
        return 0;
    uint64_t tag;
    if (pb_varint(&r->p, r->end, &tag) < 0)
        return -EINVAL;
    uint64_t number = tag >> 3;
    if (number == 0 || number > 536870911u)
        return -EINVAL;
    memset(f, 0, sizeof(*f));
    f->number = (uint32_t)number;
    f->type = (enum pb_wire_type)(tag & 7);
    size_t left = (size_t)(r->end - r->p);
    switch (f->type) {
    case PB_VARINT:
        return pb_varint(&r->p, r->end, &f->u64) < 0 ? -EINVAL : 1;
    case PB_I64:
        if (left < 8)
            return -EINVAL;
        for (int i = 7; i >= 0; i--)
            f->u64 = f->u64 << 8 | r->p[i];
        r->p += 8;
        return 1;
    case PB_I32:
        if (left < 4)
            return -EINVAL;
        for (int i = 3; i >= 0; i--)
            f->u64 = f->u64 << 8 | r->p[i];
        r->p += 4;
        return 1;
    case PB_LEN: {
        uint64_t n;
        if (pb_varint(&r->p, r->end, &n) < 0 || n > (uint64_t)(r->end - r->p))
            return -EINVAL;
        f->data = r->p;
        f->len = (size_t)n;
        r->p += n;
        return 1;
    }
    default:
        return -EINVAL; /* groups (3, 4) and 6, 7 */
    }
}

int pb_find(const void *data, size_t len, uint32_t number, struct pb_field *f)
{
    struct pb_reader r;
    struct pb_field cur;
    int found = 0, rc;
    pb_reader_init(&r, data, len);
    while ((rc = pb_next(&r, &cur)) == 1) {
        if (cur.number == number) {
            *f = cur;
            found = 1;
        }
    }
    return rc < 0 ? rc : found;
}
