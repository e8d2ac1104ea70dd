/*
 * test_pb_json.c - protobuf messages as canonical JSON (pb_json.h) and the
 * schemas behind them (pb_schema.h).
 *
 * The messages are encoded here byte by byte, and each expected JSON text is
 * written from protobuf's JSON mapping (https://protobuf.dev/programming-
 * guides/json/), not from the decoder: 64-bit integers as strings, enums by
 * name, maps as objects, well-known types in their own forms, Any unpacked.
 * What the schema does not describe must come back in "_unknown" with its
 * exact bytes.  The sample C1Z3 file's own descriptor set must describe
 * every c1.storage.v3 record, and our description of c1.connector.v2 must
 * resolve every type it names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "c1z3_envelope.h"
#include "pb_json.h"
#include "pb_schema.h"
#include "testutil.h"

/* ---- A small encoder ---- */

static void varint(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        buf_addc(b, (char)(v | 0x80));
        v >>= 7;
    }
    buf_addc(b, (char)v);
}

static void tag(struct buf *b, uint32_t field, unsigned wire)
{
    varint(b, (uint64_t)field << 3 | wire);
}

static void f_varint(struct buf *b, uint32_t field, uint64_t v)
{
    tag(b, field, 0);
    varint(b, v);
}

static void f_fixed(struct buf *b, uint32_t field, uint64_t v, int width)
{
    tag(b, field, width == 8 ? 1 : 5);
    for (int i = 0; i < width; i++)
        buf_addc(b, (char)(v >> (8 * i)));
}

static void f_bytes(struct buf *b, uint32_t field, const void *data, size_t len)
{
    tag(b, field, 2);
    varint(b, len);
    buf_add(b, data, len);
}

static void f_str(struct buf *b, uint32_t field, const char *s)
{
    f_bytes(b, field, s, strlen(s));
}

static void f_msg(struct buf *b, uint32_t field, const struct buf *m)
{
    f_bytes(b, field, m->data, m->len);
}

/* ---- Fixtures ---- */

static const char test_schema[] = "# a schema written for these tests\n"
                                  "message t.Scalars\n"
                                  "1 i32 int32\n"
                                  "2 i64 int64\n"
                                  "3 u32 uint32\n"
                                  "4 u64 uint64\n"
                                  "5 s32 sint32\n"
                                  "6 s64 sint64\n"
                                  "7 flag bool\n"
                                  "8 f float\n"
                                  "9 d double\n"
                                  "10 fx32 fixed32\n"
                                  "11 sfx64 sfixed64\n"
                                  "12 display_name string\n"
                                  "13 raw bytes\n"
                                  "14 color .t.Color\n"
                                  "15 other_color .t.Color\n"
                                  "enum t.Color\n"
                                  "0 COLOR_UNSPECIFIED\n"
                                  "1 RED\n"
                                  "-2 MINUS_TWO\n"
                                  "message t.Lists\n"
                                  "1 nums repeated int32\n"
                                  "2 names repeated string\n"
                                  "3 doubles repeated double\n"
                                  "4 labels map string int64\n"
                                  "5 by_id map int32 string\n"
                                  "6 kids repeated .t.Child\n"
                                  "7 child .t.Child\n"
                                  "8 flags map bool .t.Child\n"
                                  "message t.Child\n"
                                  "1 name string\n"
                                  "2 age int32\n"
                                  "3 child .t.Child\n"
                                  "message t.Known\n"
                                  "1 when .google.protobuf.Timestamp\n"
                                  "2 took .google.protobuf.Duration\n"
                                  "3 profile .google.protobuf.Struct\n"
                                  "4 anything .google.protobuf.Value\n"
                                  "5 maybe .google.protobuf.StringValue\n"
                                  "6 big .google.protobuf.Int64Value\n"
                                  "7 mask .google.protobuf.FieldMask\n"
                                  "8 annotations repeated .google.protobuf.Any\n"
                                  "9 missing .t.NotDefined\n"
                                  "message t.Odd\n"
                                  "1 a\"b string\n"
                                  "2 a_b string\n"
                                  "3 aB string\n";

struct fx {
    struct pb_schema *s;
    struct buf msg, sub, out;
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    char *m = NULL;
    fx->s = pb_schema_new();
    assert_non_null(fx->s);
    assert_int_equal(pb_schema_add_text(fx->s, test_schema, &m), 0);
    assert_int_equal(pb_schema_add_text(fx->s, pb_wkt_schema, &m), 0);
    assert_int_equal(pb_schema_link(fx->s), 0);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    pb_schema_free(fx->s);
    buf_release(&fx->msg);
    buf_release(&fx->sub);
    buf_release(&fx->out);
    free(fx);
    return 0;
}

/* Decodes fx->msg as `type` and compares it with the expected JSON text as
 * JSON values (and, when exact is set, as text: the field order). */
static void expect(struct fx *fx, const char *type, const char *want, int exact)
{
    const struct pb_message *m = pb_schema_message(fx->s, type, strlen(type));
    assert_non_null(m);
    buf_reset(&fx->out);
    assert_int_equal(pb_json_message(fx->s, m, fx->msg.data, fx->msg.len, &fx->out), 0);
    json_error_t err;
    json_t *got = json_loadb(fx->out.data, fx->out.len, JSON_ALLOW_NUL, &err);
    if (!got)
        fail_msg("not JSON (%s): %s", err.text, fx->out.data);
    json_t *exp = json_loads(want, JSON_ALLOW_NUL, &err);
    if (!exp)
        fail_msg("the expectation is not JSON (%s): %s", err.text, want);
    if (!json_equal(got, exp))
        fail_msg("%s:\n got  %s\n want %s", type, fx->out.data, want);
    if (exact)
        assert_string_equal(fx->out.data, want);
    json_decref(got);
    json_decref(exp);
}

/* ---- Tests ---- */

static void test_scalars(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg;
    double d = 0.1;
    float f = 1.5f;
    uint64_t dbits;
    uint32_t fbits;
    memcpy(&dbits, &d, 8);
    memcpy(&fbits, &f, 4);
    f_varint(b, 1, (uint64_t)(int64_t)-5); /* int32 negatives take 10 bytes */
    f_varint(b, 2, 1ULL << 40);
    f_varint(b, 3, 4000000000u);
    f_varint(b, 4, UINT64_MAX);
    f_varint(b, 5, 5); /* zigzag: -3 */
    f_varint(b, 6, 7); /* zigzag: -4 */
    f_varint(b, 7, 1);
    f_fixed(b, 8, fbits, 4);
    f_fixed(b, 9, dbits, 8);
    f_fixed(b, 10, 4294967295u, 4);
    f_fixed(b, 11, (uint64_t)-1, 8);
    f_str(b, 12, "J\xc3\xa9r\xc3\xb4me \"Q\"\n");
    f_bytes(b, 13, "\x00\xff\x10", 3);
    f_varint(b, 14, 1);
    f_varint(b, 15, 7); /* no name: the number */
    expect(fx, "t.Scalars",
           "{\"i32\":-5,\"i64\":\"1099511627776\",\"u32\":4000000000,"
           "\"u64\":\"18446744073709551615\",\"s32\":-3,\"s64\":\"-4\",\"flag\":true,"
           "\"f\":1.5,\"d\":0.1,\"fx32\":4294967295,\"sfx64\":\"-1\","
           "\"displayName\":\"J\xc3\xa9r\xc3\xb4me \\\"Q\\\"\\n\",\"raw\":\"AP8Q\","
           "\"color\":\"RED\",\"otherColor\":7}",
           1);

    /* the last occurrence of a scalar is its value, the earlier ones are
     * kept; a negative enum value has a name */
    buf_reset(b);
    f_varint(b, 1, 1);
    f_varint(b, 14, (uint64_t)(int64_t)-2);
    f_varint(b, 1, 2);
    expect(fx, "t.Scalars",
           "{\"i32\":2,\"color\":\"MINUS_TWO\",\"_unknown\":[{\"field\":1,\"varint\":\"1\"}]}", 1);

    /* doubles as short as they read back, never in a needless exponent */
    buf_reset(b);
    d = 100.0;
    memcpy(&dbits, &d, 8);
    f_fixed(b, 9, dbits, 8);
    expect(fx, "t.Scalars", "{\"d\":100}", 1);

    /* a string holding NUL is UTF-8 and JSON: escaped (fuzz_pb's first find
     * was a checker that refused it) */
    buf_reset(b);
    f_bytes(b, 12, "a\0b", 3);
    expect(fx, "t.Scalars", "{\"displayName\":\"a\\u0000b\"}", 1);

    /* NaN and the infinities are strings */
    buf_reset(b);
    d = 1.0 / 0.0;
    memcpy(&dbits, &d, 8);
    f_fixed(b, 9, dbits, 8);
    expect(fx, "t.Scalars", "{\"d\":\"Infinity\"}", 1);
}

static void test_repeated_and_maps(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg, *s = &fx->sub;
    /* 1: packed [1, 2], a name, 1 unpacked 3, another name, packed [4] */
    struct buf packed = BUF_INIT;
    varint(&packed, 1);
    varint(&packed, 2);
    f_msg(b, 1, &packed);
    f_str(b, 2, "a");
    f_varint(b, 1, 3);
    f_str(b, 2, "b");
    buf_reset(&packed);
    varint(&packed, 4);
    f_msg(b, 1, &packed);
    buf_release(&packed);
    /* a map<string, int64> of two entries, one without its value */
    buf_reset(s);
    f_str(s, 1, "team");
    f_varint(s, 2, 42);
    f_msg(b, 4, s);
    buf_reset(s);
    f_str(s, 1, "empty");
    f_msg(b, 4, s);
    /* a map<int32, string>: keys are quoted */
    buf_reset(s);
    f_varint(s, 1, (uint64_t)(int64_t)-7);
    f_str(s, 2, "minus seven");
    f_msg(b, 5, s);
    /* a map<bool, Child> */
    buf_reset(s);
    f_varint(s, 1, 1);
    struct buf kid = BUF_INIT;
    f_str(&kid, 1, "k");
    f_msg(s, 2, &kid);
    f_msg(b, 8, s);
    buf_release(&kid);
    /* a key holding NUL: the entry is kept as bytes */
    buf_reset(s);
    f_bytes(s, 1, "a\0", 2);
    f_varint(s, 2, 1);
    f_msg(b, 4, s);
    /* "team" again: the last entry wins, the first is kept as bytes */
    buf_reset(s);
    f_str(s, 1, "team");
    f_varint(s, 2, 43);
    f_msg(b, 4, s);
    expect(fx, "t.Lists",
           "{\"nums\":[1,2,3,4],\"names\":[\"a\",\"b\"],"
           "\"labels\":{\"empty\":\"0\",\"team\":\"43\"},\"byId\":{\"-7\":\"minus seven\"},"
           "\"flags\":{\"true\":{\"name\":\"k\"}},"
           "\"_unknown\":[{\"field\":4,\"b64\":\"CgR0ZWFtECo=\"},"
           "{\"field\":4,\"b64\":\"CgJhABAB\"}]}",
           1);
}

static void test_nested(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg;
    struct buf a = BUF_INIT, c = BUF_INIT, deep = BUF_INIT;
    f_str(&deep, 1, "grandchild");
    f_str(&a, 1, "first");
    f_msg(&a, 3, &deep);
    f_varint(&c, 2, 9);
    f_msg(b, 6, &a);
    f_msg(b, 6, &c);
    /* a singular message twice: the two merge (name from the first, age
     * from the second) */
    f_msg(b, 7, &a);
    f_msg(b, 7, &c);
    expect(fx, "t.Lists",
           "{\"kids\":[{\"name\":\"first\",\"child\":{\"name\":\"grandchild\"}},{\"age\":9}],"
           "\"child\":{\"name\":\"first\",\"age\":9,\"child\":{\"name\":\"grandchild\"}}}",
           0);
    buf_release(&a);
    buf_release(&c);
    buf_release(&deep);
}

static void test_well_known(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg, *s = &fx->sub;
    buf_reset(s);
    f_varint(s, 1, 1700000000);
    f_varint(s, 2, 123000000);
    f_msg(b, 1, s);
    buf_reset(s);
    f_varint(s, 1, (uint64_t)(int64_t)-1);
    f_varint(s, 2, (uint64_t)(int64_t)-500000000);
    f_msg(b, 2, s);

    /* profile: {"email": "ann@example.com", "n": 2.5, "ok": true, "none": null,
     *           "tags": ["x"], "inner": {}} */
    struct buf st = BUF_INIT, entry = BUF_INIT, val = BUF_INIT, list = BUF_INIT;
#define ENTRY(key, build)                                                                          \
    do {                                                                                           \
        buf_reset(&entry);                                                                         \
        buf_reset(&val);                                                                           \
        f_str(&entry, 1, key);                                                                     \
        build;                                                                                     \
        f_msg(&entry, 2, &val);                                                                    \
        f_msg(&st, 1, &entry);                                                                     \
    } while (0)
    double n = 2.5;
    uint64_t nbits;
    memcpy(&nbits, &n, 8);
    ENTRY("email", f_str(&val, 3, "ann@example.com"));
    ENTRY("n", f_fixed(&val, 2, nbits, 8));
    ENTRY("ok", f_varint(&val, 4, 1));
    ENTRY("none", f_varint(&val, 1, 0));
    struct buf x = BUF_INIT;
    f_str(&x, 3, "x");
    f_msg(&list, 1, &x);
    buf_release(&x);
    ENTRY("tags", f_msg(&val, 6, &list));
    ENTRY("inner", f_bytes(&val, 5, "", 0));
#undef ENTRY
    f_msg(b, 3, &st);
    /* a Value holding a string */
    buf_reset(s);
    f_str(s, 3, "v");
    f_msg(b, 4, s);
    /* wrappers */
    buf_reset(s);
    f_str(s, 1, "maybe");
    f_msg(b, 5, s);
    buf_reset(s);
    f_varint(s, 1, 5);
    f_msg(b, 6, s);
    buf_reset(s);
    f_str(s, 1, "display_name");
    f_str(s, 1, "id");
    f_msg(b, 7, s);
    expect(fx, "t.Known",
           "{\"when\":\"2023-11-14T22:13:20.123Z\",\"took\":\"-1.500s\","
           "\"profile\":{\"email\":\"ann@example.com\",\"n\":2.5,\"ok\":true,\"none\":null,"
           "\"tags\":[\"x\"],\"inner\":{}},\"anything\":\"v\",\"maybe\":\"maybe\","
           "\"big\":\"5\",\"mask\":\"displayName,id\"}",
           1);
    buf_release(&st);
    buf_release(&entry);
    buf_release(&val);
    buf_release(&list);

    /* a timestamp out of range cannot be shown: its bytes are kept */
    buf_reset(b);
    buf_reset(s);
    f_varint(s, 1, 253402300800ULL);
    f_msg(b, 1, s);
    expect(fx, "t.Known", "{\"_unknown\":[{\"field\":1,\"b64\":\"CICD0f+vBw==\"}]}", 1);
}

static void test_any(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg, *s = &fx->sub;
    struct buf inner = BUF_INIT;
    /* a known message type: unpacked beside "@type" */
    f_str(&inner, 1, "kid");
    f_varint(&inner, 2, 3);
    buf_reset(s);
    f_str(s, 1, "type.googleapis.com/t.Child");
    f_msg(s, 2, &inner);
    f_msg(b, 8, s);
    /* a well-known type: under "value" */
    buf_reset(&inner);
    f_varint(&inner, 1, 0);
    buf_reset(s);
    f_str(s, 1, "type.googleapis.com/google.protobuf.Timestamp");
    f_msg(s, 2, &inner);
    f_msg(b, 8, s);
    /* a type nobody described: its bytes kept */
    buf_reset(s);
    f_str(s, 1, "type.googleapis.com/x.Secret");
    f_bytes(s, 2, "\x08\x01", 2);
    f_msg(b, 8, s);
    expect(fx, "t.Known",
           "{\"annotations\":[{\"@type\":\"type.googleapis.com/t.Child\",\"name\":\"kid\","
           "\"age\":3},{\"@type\":\"type.googleapis.com/google.protobuf.Timestamp\","
           "\"value\":\"1970-01-01T00:00:00Z\"},{\"@type\":\"type.googleapis.com/x.Secret\","
           "\"value_b64\":\"CAE=\"}]}",
           1);
    buf_release(&inner);

    /* a record as import shows it: an Any of its own type */
    const char rec[] = "\x0a\x03"
                       "ann";
    buf_reset(&fx->out);
    assert_int_equal(pb_json_record(fx->s, "t.Child", rec, sizeof rec - 1, &fx->out), 0);
    assert_string_equal(fx->out.data,
                        "{\"@type\":\"type.googleapis.com/t.Child\",\"name\":\"ann\"}");
    assert_int_equal(pb_json_record(fx->s, "t.Nope", rec, sizeof rec - 1, &fx->out), -ENOENT);
    assert_int_equal(pb_json_record(fx->s, "t.Child", "\x0a\x09", 2, &fx->out), -EINVAL);
    assert_int_equal(fx->out.len,
                     strlen("{\"@type\":\"type.googleapis.com/t.Child\",\"name\":\"ann\"}"));
}

static void test_unknown_kept(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg, *s = &fx->sub;
    f_str(b, 1, "ok");    /* declared */
    f_varint(b, 20, 300); /* undeclared numbers */
    f_fixed(b, 21, 0x0102030405060708ULL, 8);
    f_fixed(b, 22, 7, 4);
    f_bytes(b, 23, "\x01\x02", 2);
    f_varint(b, 2, (uint64_t)(int64_t)-1); /* age: declared int32 */
    f_fixed(b, 2, 5, 4);                   /* age again, of the wrong wire type */
    f_bytes(b, 1, "\xff\xfe", 2);          /* name that is not UTF-8: the last name */
    buf_reset(s);
    buf_add(s,
            "\x0a\x05"
            "ab",
            4); /* a child that does not parse */
    f_msg(b, 3, s);
    expect(fx, "t.Child",
           "{\"age\":-1,\"_unknown\":[{\"field\":1,\"b64\":\"b2s=\"},"
           "{\"field\":20,\"varint\":\"300\"},"
           "{\"field\":21,\"i64\":\"72623859790382856\"},{\"field\":22,\"i32\":\"7\"},"
           "{\"field\":23,\"b64\":\"AQI=\"},{\"field\":2,\"i32\":\"5\"},"
           "{\"field\":1,\"b64\":\"//4=\"},"
           "{\"field\":3,\"b64\":\"CgVhYg==\"}]}",
           1);

    /* a field whose type nobody defined is kept too */
    buf_reset(b);
    buf_reset(s);
    f_str(s, 1, "x");
    f_msg(b, 9, s);
    expect(fx, "t.Known", "{\"_unknown\":[{\"field\":9,\"b64\":\"CgF4\"}]}", 1);

    /* bytes that are no message at all: nothing appended */
    const struct pb_message *m = pb_schema_message(fx->s, "t.Child", 7);
    buf_reset(&fx->out);
    buf_adds(&fx->out, "keep");
    assert_int_equal(pb_json_message(fx->s, m,
                                     "\x0a\x05"
                                     "ab",
                                     4, &fx->out),
                     -EINVAL);
    assert_int_equal(pb_json_message(fx->s, m, "\x0b", 1, &fx->out), -EINVAL); /* a group */
    assert_string_equal(fx->out.data, "keep");
}

/* Inputs made to break the decoder (an independent review's findings). */
static void test_hostile(void **state)
{
    struct fx *fx = *state;
    struct buf *b = &fx->msg, *s = &fx->sub;
    /* JSON names are escaped; a name an earlier field has is not shown twice */
    f_str(b, 1, "x");
    f_str(b, 2, "y");
    f_str(b, 3, "z");
    expect(fx, "t.Odd",
           "{\"a\\\"b\":\"x\",\"aB\":\"y\",\"_unknown\":[{\"field\":3,\"b64\":\"eg==\"}]}", 1);

    /* an Any URL with a NUL inside names no type (and reads nothing past
     * the names it is compared with) */
    buf_reset(b);
    buf_reset(s);
    static const char url[] = "type.googleapis.com/google.protobuf.Timestamp\0A";
    f_bytes(s, 1, url, sizeof url - 1);
    f_msg(b, 8, s);
    expect(fx, "t.Known",
           "{\"annotations\":[{\"@type\":\"type.googleapis.com/google.protobuf.Timestamp"
           "\\u0000A\",\"value_b64\":\"\"}]}",
           1);

    /* a Struct with a key twice, and a Value that is NaN, have no JSON form:
     * kept as bytes */
    struct buf entry = BUF_INIT, val = BUF_INIT;
    buf_reset(b);
    buf_reset(s);
    for (int i = 0; i < 2; i++) {
        buf_reset(&entry);
        buf_reset(&val);
        f_str(&val, 3, i ? "second" : "first");
        f_str(&entry, 1, "k");
        f_msg(&entry, 2, &val);
        f_msg(s, 1, &entry);
    }
    f_msg(b, 3, s);
    buf_reset(&val);
    double nan = NAN;
    uint64_t bits;
    memcpy(&bits, &nan, 8);
    f_fixed(&val, 2, bits, 8);
    f_msg(b, 4, &val);
    const struct pb_message *m = pb_schema_message(fx->s, "t.Known", 7);
    buf_reset(&fx->out);
    assert_int_equal(pb_json_message(fx->s, m, b->data, b->len, &fx->out), 0);
    json_t *j = json_loadb(fx->out.data, fx->out.len, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    assert_null(json_object_get(j, "profile"));
    assert_null(json_object_get(j, "anything"));
    assert_int_equal(json_array_size(json_object_get(j, "_unknown")), 2);
    json_decref(j);

    /* Empty inside an Any is {} under "value" */
    buf_reset(b);
    buf_reset(s);
    f_str(s, 1, "type.googleapis.com/google.protobuf.Empty");
    f_msg(b, 8, s);
    expect(fx, "t.Known",
           "{\"annotations\":[{\"@type\":\"type.googleapis.com/google.protobuf.Empty\","
           "\"value\":{}}]}",
           1);

    /* many elements that all fail: each kept, in wire order */
    buf_reset(b);
    for (int i = 0; i < 5000; i++)
        f_bytes(b, 8, "\xff", 1);
    buf_reset(&fx->out);
    assert_int_equal(pb_json_message(fx->s, m, b->data, b->len, &fx->out), 0);
    j = json_loadb(fx->out.data, fx->out.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(j, "_unknown")), 5000);
    json_decref(j);
    buf_release(&entry);
    buf_release(&val);
}

/* A descriptor set whose names are not UTF-8 (fuzz_pb's find in CI: the
 * names were copied into the JSON as they were). */
static void test_descriptor_names(void **state)
{
    (void)state;
    struct buf field = BUF_INIT, val = BUF_INIT, en = BUF_INIT, msg = BUF_INIT, file = BUF_INIT,
               set = BUF_INIT, rec = BUF_INIT, out = BUF_INIT;
    /* message t.M { string x = 1 [json_name "\xff"]; t.E e = 2; string y = 3; }
     * enum t.E { "\x93" = 1; } */
    f_str(&field, 1, "x");
    f_varint(&field, 3, 1);
    f_varint(&field, 5, PB_T_STRING);
    f_str(&field, 10, "\xff");
    f_msg(&msg, 2, &field);
    buf_reset(&field);
    f_str(&field, 1, "e");
    f_varint(&field, 3, 2);
    f_varint(&field, 5, PB_T_ENUM);
    f_str(&field, 6, ".t.E");
    f_msg(&msg, 2, &field);
    buf_reset(&field);
    f_str(&field, 1, "y");
    f_varint(&field, 3, 3);
    f_varint(&field, 5, PB_T_STRING);
    f_msg(&msg, 2, &field);
    f_str(&msg, 1, "M");
    f_str(&val, 1, "\x93");
    f_varint(&val, 2, 1);
    f_str(&en, 1, "E");
    f_msg(&en, 2, &val);
    f_str(&file, 2, "t");
    f_msg(&file, 4, &msg);
    f_msg(&file, 5, &en);
    f_msg(&set, 1, &file);
    struct pb_schema *s = NULL;
    char *m = NULL;
    assert_int_equal(pb_schema_baton(set.data, set.len, &s, &m), 0);
    f_str(&rec, 1, "a");
    f_varint(&rec, 2, 1);
    f_str(&rec, 3, "b");
    assert_int_equal(pb_json_record(s, "t.M", rec.data, rec.len, &out), 0);
    /* x is kept as unknown, e by number, y as it is */
    assert_string_equal(out.data, "{\"@type\":\"type.googleapis.com/t.M\",\"e\":1,\"y\":\"b\","
                                  "\"_unknown\":[{\"field\":1,\"b64\":\"YQ==\"}]}");
    pb_schema_free(s);
    buf_release(&field);
    buf_release(&val);
    buf_release(&en);
    buf_release(&msg);
    buf_release(&file);
    buf_release(&set);
    buf_release(&rec);
    buf_release(&out);
}

static void test_depth(void **state)
{
    struct fx *fx = *state;
    /* children nested 100 deep: the ones past the limit are kept as bytes */
    struct buf cur = BUF_INIT, next = BUF_INIT;
    f_str(&cur, 1, "leaf");
    for (int i = 0; i < 100; i++) {
        buf_reset(&next);
        f_msg(&next, 3, &cur);
        struct buf t = cur;
        cur = next;
        next = t;
    }
    const struct pb_message *m = pb_schema_message(fx->s, "t.Child", 7);
    buf_reset(&fx->out);
    assert_int_equal(pb_json_message(fx->s, m, cur.data, cur.len, &fx->out), 0);
    json_error_t err;
    json_t *j = json_loadb(fx->out.data, fx->out.len, 0, &err);
    assert_non_null(j);
    int depth = 0;
    json_t *k = j;
    while (json_object_get(k, "child")) {
        k = json_object_get(k, "child");
        depth++;
    }
    assert_int_equal(depth, PB_JSON_DEPTH - 1);
    assert_non_null(json_object_get(k, "_unknown"));
    assert_non_null(strstr(fx->out.data, "\"b64\""));
    json_decref(j);
    buf_release(&cur);
    buf_release(&next);
}

static void test_text_schema_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1 orphan string\n",                   /* a field outside a message */
        "message a.B\nx name string\n",        /* not a number */
        "message a.B\n1 name strung\n",        /* no such type */
        "message a.B\n0 name string\n",        /* field 0 */
        "message a.B\n1 m map bytes string\n", /* bytes keys */
        "message a.B\n1 name repeated\n",      /* no type */
        "message a.B\n1 a b c d e f\n",        /* too many words */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct pb_schema *s = pb_schema_new();
        char *msg = NULL;
        assert_int_equal(pb_schema_add_text(s, bad[i], &msg), -EINVAL);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "schema line"));
        free(msg);
        pb_schema_free(s);
    }
}

/* The project's description resolves every type it names, and decodes a
 * user's trait the way baton prints it. */
static void test_baton_schema(void **state)
{
    (void)state;
    struct pb_schema *s = NULL;
    char *msg = NULL;
    assert_int_equal(pb_schema_baton(NULL, 0, &s, &msg), 0);
    if (pb_schema_check(s, &msg))
        fail_msg("%s", msg);
    const struct pb_message *user = pb_schema_message(s, "c1.connector.v2.UserTrait", 25);
    assert_non_null(user);
    /* UserTrait{emails: [{address, is_primary}], profile: Struct, login} */
    struct buf email = BUF_INIT, b = BUF_INIT, out = BUF_INIT;
    f_str(&email, 1, "ann@example.com");
    f_varint(&email, 2, 1);
    f_msg(&b, 1, &email);
    assert_int_equal(pb_json_message(s, user, b.data, b.len, &out), 0);
    assert_string_equal(out.data,
                        "{\"emails\":[{\"address\":\"ann@example.com\",\"isPrimary\":true}]}");
    buf_release(&email);
    buf_release(&b);
    buf_release(&out);
    pb_schema_free(s);
}

/* The sample C1Z3 file's descriptor set describes its records. */
static void test_sample_descriptors(void **state)
{
    (void)state;
    char *path = tu_shared_data("c1z3/sync.36zGvJw3uxU1QMJKU2yPVQ1hBOC.unexpanded.pebble.c1z");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(tu_read_file(path, &data, &len), 0);
    assert_true(len > 9);
    size_t ml = (size_t)(unsigned char)data[5] << 24 | (size_t)(unsigned char)data[6] << 16 |
                (size_t)(unsigned char)data[7] << 8 | (unsigned char)data[8];
    struct c1z3_manifest m;
    char *msg = NULL;
    assert_int_equal(c1z3_parse_manifest(path, data + 9, ml, &m, &msg), 0);
    assert_non_null(m.descriptors);
    struct pb_schema *s = NULL;
    assert_int_equal(pb_schema_baton(m.descriptors, m.descriptors_len, &s, &msg), 0);
    if (pb_schema_check(s, &msg))
        fail_msg("%s", msg);
    static const char *const records[] = {
        "c1.storage.v3.ResourceTypeRecord", "c1.storage.v3.ResourceRecord",
        "c1.storage.v3.EntitlementRecord",  "c1.storage.v3.GrantRecord",
        "c1.storage.v3.AssetRecord",        "c1.storage.v3.SyncRunRecord",
    };
    for (size_t i = 0; i < sizeof records / sizeof *records; i++)
        assert_non_null(pb_schema_message(s, records[i], strlen(records[i])));
    /* a GrantRecord as the file's schema names its fields */
    struct buf b = BUF_INIT, ref = BUF_INIT, out = BUF_INIT;
    f_str(&b, 2, "g1");
    f_str(&ref, 3, "group:eng:member");
    f_msg(&b, 3, &ref);
    f_varint(&b, 7, 1);
    assert_int_equal(pb_json_record(s, "c1.storage.v3.GrantRecord", b.data, b.len, &out), 0);
    assert_string_equal(out.data, "{\"@type\":\"type.googleapis.com/c1.storage.v3.GrantRecord\","
                                  "\"externalId\":\"g1\",\"entitlement\":{\"entitlementId\":"
                                  "\"group:eng:member\"},\"needsExpansion\":true}");
    buf_release(&b);
    buf_release(&ref);
    buf_release(&out);
    pb_schema_free(s);
    c1z3_manifest_release(&m);
    free(data);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_and_maps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_well_known, setup, teardown),
        cmocka_unit_test_setup_teardown(test_any, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth, setup, teardown),
        cmocka_unit_test(test_descriptor_names),
        cmocka_unit_test(test_text_schema_errors),
        cmocka_unit_test(test_baton_schema),
        cmocka_unit_test(test_sample_descriptors),
    };
    return tu_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
