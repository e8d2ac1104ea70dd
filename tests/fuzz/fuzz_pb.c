/*
 * fuzz_pb.c - libFuzzer target for the protobuf schema loader (pb_schema.h)
 * and the JSON decoder of records (pb_json.h).
 *
 * Input: byte 0 picks the message type (an index into `types` below); byte 1
 * bit 0 says a descriptor set follows (a u16 big-endian length, then the
 * FileDescriptorSet bytes, loaded before our own description as the C1Z3
 * import loads a file's); the rest is the message.  Loading must succeed or
 * fail with -EINVAL and a message; decoding must succeed (then the output is
 * one valid JSON object with no name twice, and decoding the same bytes
 * again gives the same text) or fail with -EINVAL/-ENOENT leaving the buffer
 * as it was.  Seeds are
 * made at run time from the shared samples (tests/fuzz/pb_seeds.py): v1
 * records' blobs and the C1Z3 sample's descriptor set.
 */
#include "buf.h"
#include "pb_json.h"
#include "pb_schema.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static const char *const types[] = {
    "c1.connector.v2.ResourceType", "c1.connector.v2.Resource",  "c1.connector.v2.Entitlement",
    "c1.connector.v2.Grant",        "c1.connector.v2.UserTrait", "google.protobuf.Struct",
    "c1.storage.v3.ResourceRecord", "c1.storage.v3.GrantRecord", "google.protobuf.Any",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    const char *type = types[data[0] % (sizeof types / sizeof *types)];
    const uint8_t *desc = NULL;
    size_t desc_len = 0;
    size_t off = 2;
    if (data[1] & 1) {
        if (size < 4)
            return 0;
        desc_len = (size_t)data[2] << 8 | data[3];
        off = 4;
        if (desc_len > size - off)
            desc_len = size - off;
        desc = data + off;
        off += desc_len;
    }
    struct pb_schema *s = NULL;
    char *msg = NULL;
    int rc = pb_schema_baton(desc, desc_len, &s, &msg);
    if (rc) {
        CHECK(rc == -EINVAL && msg && !s);
        free(msg);
        return 0;
    }
    CHECK(!msg);
    struct buf out = BUF_INIT, again = BUF_INIT;
    buf_adds(&out, "x");
    rc = pb_json_record(s, type, data + off, size - off, &out);
    if (rc) {
        CHECK(rc == -EINVAL || rc == -ENOENT);
        CHECK(out.len == 1);
    } else {
        json_error_t err;
        /* a string may hold U+0000, which JSON escapes (backslash-u0000) */
        json_t *j =
            json_loadb(out.data + 1, out.len - 1, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);
        CHECK(j && json_is_object(j) && json_object_get(j, "@type"));
        json_decref(j);
        CHECK(pb_json_record(s, type, data + off, size - off, &again) == 0);
        CHECK(again.len == out.len - 1 && !memcmp(again.data, out.data + 1, again.len));
    }
    buf_release(&out);
    buf_release(&again);
    pb_schema_free(s);
    return 0;
}
