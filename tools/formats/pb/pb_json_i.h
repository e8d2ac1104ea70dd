/*
 * pb_json_i.h - what the files of the JSON decoder share (pb_json.c: messages,
 * fields, maps, Any; pb_json_wkt.c: the well-known types).
 */
#ifndef SYNCSTORE_PB_JSON_I_H
#define SYNCSTORE_PB_JSON_I_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pb_schema.h"
#include "pb_wire.h"

struct ctx {
    const struct pb_schema *s;
    struct buf *out;
    int depth;
};

/* ---- One message's wire fields (pb_json.c) ----
 *
 * A message's fields in wire order, and their positions sorted by number
 * (then wire order), so that each declared field finds its occurrences by a
 * binary search.  A wire field a declared field showed is marked used; the
 * others are the message's "_unknown". */

struct wire {
    struct pb_field f;
    int used;
};

struct wire_pos {
    uint32_t number;
    size_t at; /* index in wire order */
};

#define INDEX_INLINE 16

struct wire_index {
    struct wire *w;
    struct wire_pos *pos;
    size_t n;
    struct wire w_inline[INDEX_INLINE]; /* small messages need no allocation */
    struct wire_pos pos_inline[INDEX_INLINE];
};

/* 0, -EINVAL when the bytes are not a message, or -ENOMEM. */
int pbj_index_build(struct wire_index *ix, const uint8_t *data, size_t len);
void pbj_index_free(struct wire_index *ix);

/* The wire type of a field type. */
enum pb_wire_type pbj_wire_of(enum pb_type t);
/* A declared field can show this wire field: its type is resolved, and the
 * wire type is its own (or LEN for a packed repeated number). */
int pbj_decodable(const struct pb_msg_field *f, const struct pb_field *w);
const struct pb_msg_field *pbj_field_of(const struct pb_message *m, uint32_t number);

/* The JSON of one value of field f (not a packed run), of its default value,
 * and of one map entry "key":value: 0, -EINVAL (cannot be shown), -ENOMEM. */
int pbj_value_json(struct ctx *c, const struct pb_msg_field *f, const struct pb_field *w);
int pbj_default_json(struct ctx *c, const struct pb_msg_field *f);
int pbj_map_entry_json(struct ctx *c, const struct pb_message *e, const struct pb_field *w);
/* Marks the entries of a map that a later entry of the same key supersedes
 * (used = -1): how many, or -ENOMEM. */
long pbj_map_supersede(const struct pb_msg_field *f, struct wire_index *ix, size_t lo, size_t hi);

/* ---- Well-known types (pb_json_wkt.c) ---- */

/* Reads a message that may hold only fields 1..n, each of the wire type
 * types[i-1] and at most once: -EINVAL otherwise. */
int pbj_wkt_read(const uint8_t *data, size_t len, const enum pb_wire_type *types, uint32_t n,
                 struct pb_field *out, int *has);
/* The JSON form of a well-known type other than Any. */
int pbj_wkt_json(struct ctx *c, const struct pb_message *m, const uint8_t *data, size_t len);

#endif
