/*
 * c1z_v1_row.c - one row of a v1 c1z table as the JSON value of its record
 * (c1z_v1_i.h): every column under its own name, exactly (bytes that are not
 * UTF-8 as base64), and the protobuf of the data column decoded beside it
 * (pb_json).
 */
#include "c1z_v1_i.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "pb_json.h"

char *c1z_v1_json_name(const char *name, const char *suffix)
{
    struct buf b = BUF_INIT;
    struct buf n = BUF_INIT;
    buf_adds(&n, !strcmp(name, "type") ? "type_column" : name);
    buf_adds(&n, suffix);
    buf_addc(&b, ',');
    buf_add_json_string(&b, n.data, n.len);
    buf_addc(&b, ':');
    int rc = buf_error(&n);
    buf_release(&n);
    if (rc) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b, NULL);
}

int c1z_v1_row_json(struct buf *v, const char *type, const char *message,
                    const struct pb_schema *schema, sqlite3_stmt *st, const struct v1_columns *c)
{
    buf_reset(v);
    buf_adds(v, "{\"type\":");
    buf_add_json_string(v, type, strlen(type));
    for (int i = 0; i < c->n; i++) {
        if (i == c->id)
            continue;
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            buf_adds(v, c->json_name[i]);
            buf_addf(v, "%lld", (long long)sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT: {
            double d = sqlite3_column_double(st, i);
            buf_adds(v, c->json_name[i]);
            if (isfinite(d))
                buf_addf(v, "%.17g", d);
            else
                buf_adds(v, "null");
            break;
        }
        case SQLITE_TEXT: {
            const unsigned char *s = sqlite3_column_text(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            if (!s)
                s = (const unsigned char *)"";
            if (!memchr(s, '\0', len) && utf8_valid(s, len)) {
                buf_adds(v, c->json_name[i]);
                buf_add_json_string(v, s, len);
            } else {
                buf_adds(v, c->json_name_b64[i]);
                buf_addc(v, '"');
                buf_add_base64(v, s, len);
                buf_addc(v, '"');
            }
            break;
        }
        case SQLITE_BLOB: {
            const void *p = sqlite3_column_blob(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            buf_adds(v, c->json_name_b64[i]);
            buf_addc(v, '"');
            buf_add_base64(v, p, len);
            buf_addc(v, '"');
            if (i == c->data && message) {
                /* the readable form beside the exact bytes; bytes that are
                 * no protobuf message keep only their "data_b64" */
                size_t mark = v->len;
                buf_adds(v, ",\"data\":");
                int rc = pb_json_record(schema, message, p, len, v);
                if (rc && rc != -ENOMEM)
                    buf_truncate(v, mark);
            }
            break;
        }
        default:
            buf_adds(v, c->json_name[i]);
            buf_adds(v, "null");
            break;
        }
    }
    buf_addc(v, '}');
    return buf_error(v);
}
