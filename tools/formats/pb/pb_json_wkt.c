/*
 * pb_json_wkt.c - the well-known types' own JSON forms (pb_json.h):
 * Timestamp, Duration, Struct, Value, ListValue, wrappers, Empty, FieldMask.
 * Each is strict: a value with fields its type does not have, or that its
 * form cannot show, is -EINVAL, and its parent keeps its bytes.
 */
#include "pb_json.h"
#include "pb_json_i.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* Reads a message that may hold only fields 1..n, each of the wire type
 * types[i-1] and at most once: -EINVAL otherwise. */
int pbj_wkt_read(const uint8_t *data, size_t len, const enum pb_wire_type *types, uint32_t n,
                 struct pb_field *out, int *has)
{
    struct pb_reader r;
    struct pb_field w;
    int rc;
    memset(has, 0, sizeof(*has) * n);
    pb_reader_init(&r, data, len);
    while ((rc = pb_next(&r, &w)) == 1) {
        if (w.number > n || w.type != types[w.number - 1] || has[w.number - 1])
            return -EINVAL;
        out[w.number - 1] = w;
        has[w.number - 1] = 1;
    }
    return rc;
}

/* A fraction of a second as the JSON mapping writes it: 3, 6 or 9 digits,
 * none for 0. */
static void add_fraction(struct buf *b, int64_t nanos)
{
    if (nanos % 1000000 == 0 && nanos)
        buf_addf(b, ".%03d", (int)(nanos / 1000000));
    else if (nanos % 1000 == 0 && nanos)
        buf_addf(b, ".%06d", (int)(nanos / 1000));
    else if (nanos)
        buf_addf(b, ".%09d", (int)nanos);
}

int pb_json_timestamp(struct buf *b, int64_t secs, int64_t nanos)
{
    /* google.protobuf.Timestamp's range: 0001-01-01 to 9999-12-31 */
    if (nanos < 0 || nanos > 999999999 || secs < -62135596800LL || secs > 253402300799LL)
        return -EINVAL;
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return -EINVAL;
    buf_addf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec);
    add_fraction(b, nanos);
    buf_adds(b, "Z\"");
    return buf_error(b);
}

static int duration_json(struct buf *b, int64_t secs, int64_t nanos)
{
    if (secs < -315576000000LL || secs > 315576000000LL || nanos < -999999999 ||
        nanos > 999999999 || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0))
        return -EINVAL;
    const char *sign = secs < 0 || nanos < 0 ? "-" : "";
    uint64_t s = secs < 0 ? (uint64_t)-secs : (uint64_t)secs;
    int64_t ns = nanos < 0 ? -nanos : nanos;
    buf_addf(b, "\"%s%" PRIu64, sign, s);
    add_fraction(b, ns);
    buf_adds(b, "s\"");
    return buf_error(b);
}

int pbj_wkt_json(struct ctx *c, const struct pb_message *m, const uint8_t *data, size_t len)
{
    static const enum pb_wire_type two_varints[] = {PB_VARINT, PB_VARINT};
    static const enum pb_wire_type value_types[] = {PB_VARINT, PB_I64, PB_LEN,
                                                    PB_VARINT, PB_LEN, PB_LEN};
    struct pb_field f[6] = {{0}};
    int has[6] = {0};
    struct buf *b = c->out;
    switch (m->wkt) {
    case PB_WKT_TIMESTAMP:
    case PB_WKT_DURATION: {
        if (pbj_wkt_read(data, len, two_varints, 2, f, has))
            return -EINVAL;
        int64_t secs = has[0] ? (int64_t)f[0].u64 : 0;
        int64_t nanos = has[1] ? (int32_t)(uint32_t)f[1].u64 : 0;
        return m->wkt == PB_WKT_TIMESTAMP ? pb_json_timestamp(b, secs, nanos)
                                          : duration_json(b, secs, nanos);
    }
    case PB_WKT_VALUE: {
        if (pbj_wkt_read(data, len, value_types, 6, f, has))
            return -EINVAL;
        int kinds = has[0] + has[1] + has[2] + has[3] + has[4] + has[5];
        if (kinds != 1)
            return -EINVAL; /* a Value holds exactly one kind */
        if (has[1]) {
            double d;
            memcpy(&d, &f[1].u64, sizeof d);
            if (!isfinite(d))
                return -EINVAL; /* JSON has no such number; as a string it would be one */
        }
        for (uint32_t i = 0; i < 6; i++) {
            const struct pb_msg_field *d = pbj_field_of(m, i + 1);
            if (has[i] && d && pbj_decodable(d, &f[i]))
                return pbj_value_json(c, d, &f[i]);
        }
        return -EINVAL;
    }
    case PB_WKT_WRAPPER: {
        const struct pb_msg_field *d = pbj_field_of(m, 1);
        if (!d || d->repeated ||
            !pbj_decodable(d, &(struct pb_field){.type = pbj_wire_of(d->type)}))
            return -EINVAL;
        enum pb_wire_type t = pbj_wire_of(d->type);
        if (pbj_wkt_read(data, len, &t, 1, f, has))
            return -EINVAL;
        return has[0] ? pbj_value_json(c, d, &f[0]) : pbj_default_json(c, d);
    }
    case PB_WKT_STRUCT:
    case PB_WKT_LIST_VALUE: {
        /* every entry or element must show: an object or array has no
         * room for unknown fields */
        const struct pb_msg_field *d = pbj_field_of(m, 1);
        int is_struct = m->wkt == PB_WKT_STRUCT;
        if (!d || !d->repeated || d->type != PB_T_MESSAGE || !d->message ||
            is_struct != d->message->map_entry)
            return -EINVAL;
        struct pb_reader r;
        struct pb_field w;
        int rc;
        size_t n = 0;
        if (is_struct) {
            /* a key twice would be an object with a name twice, of which
             * readers keep one: such a Struct is kept as bytes */
            struct wire_index ix;
            if ((rc = pbj_index_build(&ix, data, len)) != 0)
                return rc;
            long dups = pbj_map_supersede(d, &ix, 0, ix.n);
            pbj_index_free(&ix);
            if (dups)
                return dups < 0 ? -ENOMEM : -EINVAL;
        }
        buf_addc(b, is_struct ? '{' : '[');
        pb_reader_init(&r, data, len);
        while ((rc = pb_next(&r, &w)) == 1) {
            if (w.number != 1 || w.type != PB_LEN)
                return -EINVAL;
            if (n++)
                buf_addc(b, ',');
            rc = is_struct ? pbj_map_entry_json(c, d->message, &w) : pbj_value_json(c, d, &w);
            if (rc)
                return rc;
        }
        if (rc < 0)
            return rc;
        buf_addc(b, is_struct ? '}' : ']');
        return buf_error(b);
    }
    case PB_WKT_EMPTY:
        if (len)
            return -EINVAL; /* fields Empty does not have: shown as bytes */
        buf_adds(b, "{}");
        return buf_error(b);
    case PB_WKT_FIELD_MASK: {
        struct pb_reader r;
        struct pb_field w;
        int rc;
        size_t n = 0;
        buf_addc(b, '"');
        pb_reader_init(&r, data, len);
        while ((rc = pb_next(&r, &w)) == 1) {
            if (w.number != 1 || w.type != PB_LEN || !utf8_valid(w.data, w.len))
                return -EINVAL;
            if (n++)
                buf_addc(b, ',');
            for (size_t i = 0; i < w.len; i++) {
                unsigned char ch = w.data[i];
                if (ch == '_' && i + 1 < w.len && w.data[i + 1] >= 'a' && w.data[i + 1] <= 'z') {
                    buf_addc(b, (char)(w.data[++i] - 'a' + 'A'));
                } else if (ch < 0x20 || ch == '"' || ch == '\\' || ch == '_') {
                    return -EINVAL; /* not a path protojson can print */
                } else {
                    buf_addc(b, (char)ch);
                }
            }
        }
        if (rc < 0)
            return rc;
        buf_addc(b, '"');
        return buf_error(b);
    }
    default:
        return -EINVAL;
    }
}
