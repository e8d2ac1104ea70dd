/*
 * pb_schema.h - the protobuf types a decoder knows: messages (their fields'
 * numbers, JSON names and types) and enums (their values' names), by full
 * name.
 *
 * A schema is filled from two kinds of source, and a name defined by both
 * keeps the definition added first:
 *
 *   - a FileDescriptorSet (google/protobuf/descriptor.proto: file 1 ->
 *     package 2, message_type 4, enum_type 5; a message's field 2,
 *     nested_type 3, enum_type 4, options 7 -> map_entry 7; a field's name 1,
 *     number 3, label 4, type 5, type_name 6, json_name 10), which is how a
 *     C1Z3 file describes its own records;
 *   - the project's own text description (pb_baton_schema.c), one item per
 *     line:
 *
 *         message <full.name>
 *         <number> <proto_name> [repeated] <type>
 *         <number> <proto_name> map <key_scalar> <value_type>
 *         enum <full.name>
 *         <number> <VALUE_NAME>
 *
 *     where <type> is a scalar name (double, string, sint64, ...) or a
 *     message or enum written ".full.name"; '#' starts a comment line.
 *
 * After the sources are added, pb_schema_link() resolves the type names of
 * fields; a field whose type is not defined anywhere is decoded as an
 * unknown field (kept, never dropped).  A linked schema is read-only and may
 * be shared by threads.  The schema owns every string and table in it.
 */
#ifndef SYNCSTORE_PB_SCHEMA_H
#define SYNCSTORE_PB_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

/* Field types, numbered as FieldDescriptorProto.Type numbers them. */
enum pb_type {
    PB_T_DOUBLE = 1,
    PB_T_FLOAT = 2,
    PB_T_INT64 = 3,
    PB_T_UINT64 = 4,
    PB_T_INT32 = 5,
    PB_T_FIXED64 = 6,
    PB_T_FIXED32 = 7,
    PB_T_BOOL = 8,
    PB_T_STRING = 9,
    PB_T_GROUP = 10, /* never decoded: groups are kept as unknown fields */
    PB_T_MESSAGE = 11,
    PB_T_BYTES = 12,
    PB_T_UINT32 = 13,
    PB_T_ENUM = 14,
    PB_T_SFIXED32 = 15,
    PB_T_SFIXED64 = 16,
    PB_T_SINT32 = 17,
    PB_T_SINT64 = 18,
};

/* The well-known types whose JSON is not an object of their fields
 * (https://protobuf.dev/programming-guides/json/). */
enum pb_wkt {
    PB_WKT_NONE = 0,
    PB_WKT_ANY,
    PB_WKT_TIMESTAMP,
    PB_WKT_DURATION,
    PB_WKT_STRUCT,
    PB_WKT_VALUE,
    PB_WKT_LIST_VALUE,
    PB_WKT_FIELD_MASK,
    PB_WKT_WRAPPER, /* google.protobuf.*Value: the JSON of field 1 */
    PB_WKT_EMPTY,   /* {} */
};

struct pb_enum_value {
    int32_t number;
    char *name; /* NULL when the descriptor's name is not UTF-8: shown by number */
};

struct pb_enum {
    char *name; /* full name, no leading dot */
    struct pb_enum_value *values;
    size_t n_values;
    int null_value; /* google.protobuf.NullValue: always JSON null */
};

struct pb_message;

struct pb_msg_field {
    uint32_t number;
    char *json_name; /* lowerCamelCase, or the descriptor's json_name */
    enum pb_type type;
    int repeated;
    char *type_name;                  /* a message's or enum's full name, no leading dot */
    const struct pb_message *message; /* resolved by pb_schema_link() */
    const struct pb_enum *enumt;
    /* Not shown under its name (pb_schema_link): a JSON name that is not
     * UTF-8, that an earlier field of the message has too, or that the JSON
     * form uses itself ("@type", "_unknown"); its values are kept as unknown
     * fields. */
    int hidden;
};

struct pb_message {
    char *name;                  /* full name, no leading dot */
    struct pb_msg_field *fields; /* in declaration order */
    size_t n_fields;
    int map_entry; /* a map's entry: field 1 the key, field 2 the value */
    enum pb_wkt wkt;
};

struct pb_schema;

/* A new empty schema, or NULL when out of memory. */
struct pb_schema *pb_schema_new(void);
void pb_schema_free(struct pb_schema *s);

/* Adds the messages and enums of a serialized FileDescriptorSet: 0, -EINVAL
 * (it does not parse: *msg says where), or -ENOMEM. */
int pb_schema_add_descriptors(struct pb_schema *s, const void *data, size_t len, char **msg);

/* Adds a text description (the format above): 0, -EINVAL (*msg names the
 * line and the reason), or -ENOMEM. */
int pb_schema_add_text(struct pb_schema *s, const char *text, char **msg);

/* Resolves every field's type name: 0 or -ENOMEM. */
int pb_schema_link(struct pb_schema *s);

/* 0 when every field's type resolved; else -EINVAL and *msg names the first
 * field whose type is defined nowhere. */
int pb_schema_check(const struct pb_schema *s, char **msg);

/* The message or enum of that full name (no leading dot), or NULL. */
const struct pb_message *pb_schema_message(const struct pb_schema *s, const char *name, size_t len);
const struct pb_enum *pb_schema_enum(const struct pb_schema *s, const char *name, size_t len);

/* The project's own description of the messages in baton files:
 * c1.connector.v2 records, annotations and traits (pb_baton_schema.c), and
 * the google.protobuf well-known types they use (pb_wkt_schema.c). */
extern const char pb_baton_schema[];
extern const char pb_wkt_schema[];

/* A linked schema of pb_wkt_schema and pb_baton_schema, after the descriptor
 * set when one is given (its definitions win): 0, -EINVAL (the descriptor
 * set does not parse), -ENOMEM. */
int pb_schema_baton(const void *descriptors, size_t len, struct pb_schema **out, char **msg);

#endif
