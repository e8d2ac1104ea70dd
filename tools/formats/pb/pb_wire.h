/*
 * pb_wire.h - reading the protobuf wire format: varints, tags and the four
 * wire types proto3 uses (https://protobuf.dev/programming-guides/encoding/).
 *
 * A reader walks one message's bytes field by field without allocating; the
 * bytes are borrowed and must outlive it.  Every read is bounds-checked: a
 * truncated or malformed message is an error (-EINVAL), never a read past the
 * end.  Used by the C1Z3 envelope (its manifest and index) and by the JSON
 * decoder of records (pb_json.h).
 */
#ifndef SYNCSTORE_PB_WIRE_H
#define SYNCSTORE_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum pb_wire_type {
    PB_VARINT = 0,
    PB_I64 = 1,
    PB_LEN = 2,
    PB_I32 = 5,
};

struct pb_reader {
    const uint8_t *p, *end;
};

/* One field as it is on the wire: for PB_LEN the bytes are [data, data + len),
 * borrowed from the message; for the others the raw value is in u64 (an I32 in
 * its low 32 bits). */
struct pb_field {
    uint32_t number;
    enum pb_wire_type type;
    uint64_t u64;
    const uint8_t *data;
    size_t len;
};

void pb_reader_init(struct pb_reader *r, const void *data, size_t len);

/* Reads the next field: 1 and *f filled, 0 at the end of the message, or
 * -EINVAL (truncated, a varint over 10 bytes, field number 0 or over 2^29-1,
 * a group or an unknown wire type). */
int pb_next(struct pb_reader *r, struct pb_field *f);

/* Decodes one varint at *p (advanced past it), at most 10 bytes and not past
 * end: 0, or -EINVAL. */
int pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);

/* Zigzag decoding of sint32/sint64. */
static inline int64_t pb_zigzag64(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Finds the last occurrence of field `number` in a message (proto3: the last
 * one wins for scalars): 1 and *f, 0 when absent, -EINVAL when malformed. */
int pb_find(const void *data, size_t len, uint32_t number, struct pb_field *f);

#endif
