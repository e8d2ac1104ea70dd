/*
 * pb_json.h - protobuf messages as JSON, by protobuf's canonical JSON mapping
 * (https://protobuf.dev/programming-guides/json/), as baton prints records:
 *
 *   - fields under their JSON names (lowerCamelCase), in declaration order;
 *     repeated fields as arrays (packed or not), maps as objects;
 *   - 64-bit integers as strings, enums by name (by number when the value
 *     has no name), bytes as standard base64, NaN and infinities as strings;
 *   - google.protobuf.Timestamp and Duration as strings, Struct, Value and
 *     ListValue as plain JSON, wrappers as their value, FieldMask as a string,
 *     Empty as {};
 *   - google.protobuf.Any as {"@type": URL, ...the message's fields} when the
 *     schema knows the type (a well-known type inside goes under "value").
 *
 * Nothing on the wire is dropped.  What the schema does not describe, or what
 * cannot be shown as its declared type (a string that is not UTF-8, a
 * message that does not parse, a field whose wire type is not its type's),
 * is kept in "_unknown", an array of {"field": N, and "varint", "i64" or
 * "i32" (the raw value as a decimal string) or "b64" (the bytes)}, in wire
 * order.  So is what protobuf itself reads past: the earlier occurrences of
 * a scalar field (the last one is its value) and of a map key (the last entry
 * wins), and a field whose JSON name is not UTF-8 or is taken (by an earlier
 * field, "@type" or "_unknown").  Where an object has no room for them (a
 * Struct with a key twice, a Value that is NaN), the whole value is kept as
 * bytes in its parent's "_unknown".  An Any of a type the schema does not
 * know keeps its bytes as {"@type": URL, "value_b64": ...}.  Messages nest at
 * most PB_JSON_DEPTH deep; deeper ones are kept as bytes the same way.
 */
#ifndef SYNCSTORE_PB_JSON_H
#define SYNCSTORE_PB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "pb_schema.h"

#define PB_JSON_DEPTH 64

/* Appends the JSON of one message of type m.  Returns 0; -EINVAL when the
 * bytes are not a protobuf message at all (then nothing is appended); or
 * -ENOMEM, and then buf_error(out) says so too (the bytes are incomplete). */
int pb_json_message(const struct pb_schema *s, const struct pb_message *m, const void *data,
                    size_t len, struct buf *out);

/* Appends a record's message as an Any would show it:
 * {"@type":"type.googleapis.com/<name>", ...fields}.  Returns 0; -ENOENT
 * when the schema does not know the type; -EINVAL when the bytes are not a
 * protobuf message (in both cases nothing is appended); or -ENOMEM, and then
 * buf_error(out) says so too. */
int pb_json_record(const struct pb_schema *s, const char *name, const void *data, size_t len,
                   struct buf *out);

/* Appends a google.protobuf.Timestamp as its JSON string (RFC 3339 in UTC,
 * 0, 3, 6 or 9 fractional digits): 0, -EINVAL when it is out of the type's
 * range (years 1 to 9999, nanos 0 to 999999999), or -ENOMEM. */
int pb_json_timestamp(struct buf *out, int64_t seconds, int64_t nanos);

#endif
