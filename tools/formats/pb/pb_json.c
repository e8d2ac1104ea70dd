/*
 * pb_json.c - protobuf messages as canonical JSON (pb_json.h).
 *
 * Each message's wire fields are indexed by number once (struct
 * wire_index); then each declared field, in the schema's declaration order,
 * shows its occurrences (a repeated field's elements need not be adjacent),
 * and whatever no declared field showed is kept in "_unknown".  A value that
 * fails to render is cut back out of the buffer and its wire field stays
 * unknown, so a bad nested message costs that field, never the record.  The
 * well-known types' own forms are in pb_json_wkt.c.
 */
#include "pb_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pb_json_i.h"
#include "pb_wire.h"

enum pb_wire_type pbj_wire_of(enum pb_type t)
{
    switch (t) {
    case PB_T_DOUBLE:
    case PB_T_FIXED64:
    case PB_T_SFIXED64:
        return PB_I64;
    case PB_T_FLOAT:
    case PB_T_FIXED32:
    case PB_T_SFIXED32:
        return PB_I32;
    case PB_T_STRING:
    case PB_T_BYTES:
    case PB_T_MESSAGE:
        return PB_LEN;
    default:
        return PB_VARINT;
    }
}

/* A declared field can show this wire field: its type is resolved, and the
 * wire type is its own (or LEN for a packed repeated number). */
int pbj_decodable(const struct pb_msg_field *f, const struct pb_field *w)
{
    if (f->type == PB_T_GROUP || (f->type == PB_T_MESSAGE && !f->message) ||
        (f->type_name && f->type != PB_T_MESSAGE && !f->enumt))
        return 0;
    enum pb_wire_type t = pbj_wire_of(f->type);
    if (w->type == t)
        return 1;
    return f->repeated && w->type == PB_LEN && t != PB_LEN;
}

/* 1 when the bytes read as a protobuf message to their end, else 0. */
static int is_message(const uint8_t *data, size_t len)
{
    struct pb_reader r;
    struct pb_field w;
    int rc;
    pb_reader_init(&r, data, len);
    while ((rc = pb_next(&r, &w)) == 1)
        ;
    return rc == 0;
}

const struct pb_msg_field *pbj_field_of(const struct pb_message *m, uint32_t number)
{
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].number == number)
            return &m->fields[i];
    return NULL;
}

/* ---- One message's wire fields ----
 *
 * A message's fields in wire order, and their positions sorted by number
 * (then wire order), so that each declared field finds its occurrences by a
 * binary search: a message costs O(W log W) whatever its schema declares.
 * A wire field a declared field showed is marked used; the others are the
 * message's "_unknown". */

static int cmp_pos(const void *a, const void *b)
{
    const struct wire_pos *x = a, *y = b;
    if (x->number != y->number)
        return x->number < y->number ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

void pbj_index_free(struct wire_index *ix)
{
    if (ix->w != ix->w_inline)
        free(ix->w);
    if (ix->pos != ix->pos_inline)
        free(ix->pos);
    ix->w = NULL;
    ix->pos = NULL;
}

/* 0, -EINVAL when the bytes are not a message, or -ENOMEM. */
int pbj_index_build(struct wire_index *ix, const uint8_t *data, size_t len)
{
    struct pb_reader r;
    struct pb_field f;
    int rc;
    size_t n = 0, sorted = 1;
    uint32_t prev = 0;
    pb_reader_init(&r, data, len);
    while ((rc = pb_next(&r, &f)) == 1) {
        n++;
        sorted &= f.number >= prev;
        prev = f.number;
    }
    ix->n = 0;
    ix->w = ix->w_inline;
    ix->pos = ix->pos_inline;
    if (rc < 0)
        return -EINVAL;
    if (n > INDEX_INLINE) {
        ix->w = malloc(n * sizeof *ix->w);
        ix->pos = malloc(n * sizeof *ix->pos);
        if (!ix->w || !ix->pos) {
            free(ix->w);
            free(ix->pos);
            ix->w = ix->w_inline;
            ix->pos = ix->pos_inline;
            return -ENOMEM;
        }
    }
    pb_reader_init(&r, data, len);
    size_t i = 0;
    while (i < n && pb_next(&r, &f) == 1) {
        ix->w[i] = (struct wire){f, 0};
        ix->pos[i] = (struct wire_pos){f.number, i};
        i++;
    }
    ix->n = i; /* n: the same bytes read twice */
    if (!sorted)
        qsort(ix->pos, ix->n, sizeof *ix->pos, cmp_pos);
    return 0;
}

/* The positions [*lo, *hi) of ix->pos holding field `number`. */
static void index_range(const struct wire_index *ix, uint32_t number, size_t *lo, size_t *hi)
{
    size_t a = 0, b = ix->n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (ix->pos[mid].number < number)
            a = mid + 1;
        else
            b = mid;
    }
    *lo = a;
    while (a < ix->n && ix->pos[a].number == number)
        a++;
    *hi = a;
}

static struct wire *index_at(const struct wire_index *ix, size_t p)
{
    return &ix->w[ix->pos[p].at];
}

/* ---- Scalars ---- */

static void add_double(struct buf *b, double d, int single)
{
    if (isnan(d)) {
        buf_adds(b, "\"NaN\"");
        return;
    }
    if (isinf(d)) {
        buf_adds(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    /* the shortest text that reads back as the same value, from the digits
     * the type always holds (so 100 is "100", not "1e+02") */
    char text[40];
    for (int prec = single ? 6 : 15; prec <= 17; prec++) {
        snprintf(text, sizeof text, "%.*g", prec, d);
        double back = strtod(text, NULL);
        if (single ? (float)back == (float)d : back == d)
            break;
    }
    buf_adds(b, text);
}

static const char *enum_value_name(const struct pb_enum *e, int32_t v)
{
    for (size_t i = 0; i < e->n_values; i++)
        if (e->values[i].number == v)
            return e->values[i].name;
    return NULL;
}

/* Appends one scalar of type f->type from its raw wire value. */
static int scalar(const struct ctx *c, const struct pb_msg_field *f, uint64_t u)
{
    struct buf *b = c->out;
    switch (f->type) {
    case PB_T_INT32:
    case PB_T_SFIXED32:
        buf_addf(b, "%" PRId32, (int32_t)(uint32_t)u);
        break;
    case PB_T_UINT32:
    case PB_T_FIXED32:
        buf_addf(b, "%" PRIu32, (uint32_t)u);
        break;
    case PB_T_SINT32: {
        uint32_t v = (uint32_t)u;
        buf_addf(b, "%" PRId32, (int32_t)((v >> 1) ^ (0u - (v & 1))));
        break;
    }
    case PB_T_INT64:
    case PB_T_SFIXED64:
        buf_addf(b, "\"%" PRId64 "\"", (int64_t)u);
        break;
    case PB_T_UINT64:
    case PB_T_FIXED64:
        buf_addf(b, "\"%" PRIu64 "\"", u);
        break;
    case PB_T_SINT64:
        buf_addf(b, "\"%" PRId64 "\"", pb_zigzag64(u));
        break;
    case PB_T_BOOL:
        buf_adds(b, u ? "true" : "false");
        break;
    case PB_T_FLOAT: {
        uint32_t bits = (uint32_t)u;
        float v;
        memcpy(&v, &bits, sizeof v);
        add_double(b, v, 1);
        break;
    }
    case PB_T_DOUBLE: {
        double v;
        memcpy(&v, &u, sizeof v);
        add_double(b, v, 0);
        break;
    }
    case PB_T_ENUM: {
        const char *name = enum_value_name(f->enumt, (int32_t)(uint32_t)u);
        if (f->enumt->null_value)
            buf_adds(b, "null");
        else if (name)
            buf_add_json_string(b, name, strlen(name));
        else
            buf_addf(b, "%" PRId32, (int32_t)(uint32_t)u);
        break;
    }
    default:
        return -EINVAL;
    }
    return buf_error(b);
}

static int message_json(struct ctx *c, const struct pb_message *m, const uint8_t *data, size_t len);

/* Appends the JSON of one value of field f: a wire field that is not a
 * packed run.  -EINVAL when it cannot be shown as f's type. */
int pbj_value_json(struct ctx *c, const struct pb_msg_field *f, const struct pb_field *w)
{
    switch (f->type) {
    case PB_T_STRING:
        if (!utf8_valid(w->data, w->len))
            return -EINVAL;
        buf_add_json_string(c->out, w->data, w->len);
        return buf_error(c->out);
    case PB_T_BYTES:
        buf_addc(c->out, '"');
        buf_add_base64(c->out, w->data, w->len);
        buf_addc(c->out, '"');
        return buf_error(c->out);
    case PB_T_MESSAGE:
        return message_json(c, f->message, w->data, w->len);
    default:
        return scalar(c, f, w->u64);
    }
}

/* The JSON of a field's default value: for a map entry without its key or
 * value, as protobuf reads it. */
int pbj_default_json(struct ctx *c, const struct pb_msg_field *f)
{
    static const uint8_t none[1];
    struct pb_field w = {.number = f->number, .type = pbj_wire_of(f->type), .data = none, .len = 0};
    if (!pbj_decodable(f, &w))
        return -EINVAL;
    return pbj_value_json(c, f, &w);
}

/* Appends the elements of one packed run, comma-separated after *n others. */
static int packed_json(struct ctx *c, const struct pb_msg_field *f, const struct pb_field *w,
                       size_t *n)
{
    const uint8_t *p = w->data, *end = w->data + w->len;
    size_t width = pbj_wire_of(f->type) == PB_I64 ? 8 : pbj_wire_of(f->type) == PB_I32 ? 4 : 0;
    while (p < end) {
        uint64_t u = 0;
        if (width) {
            if ((size_t)(end - p) < width)
                return -EINVAL;
            for (size_t i = width; i-- > 0;)
                u = u << 8 | p[i];
            p += width;
        } else if (pb_varint(&p, end, &u) < 0) {
            return -EINVAL;
        }
        if ((*n)++)
            buf_addc(c->out, ',');
        int rc = scalar(c, f, u);
        if (rc)
            return rc;
    }
    return 0;
}

/* The key of a map entry as a JSON object key: strings as they are, the
 * other key types (integers, bool) as their JSON text in quotes. */
static int map_key(struct ctx *c, const struct pb_msg_field *k, const struct pb_field *w)
{
    switch (k->type) {
    case PB_T_STRING:
        /* an object key with NUL is JSON, but many readers (jansson among
         * them) refuse it: such an entry is kept as bytes instead */
        if (memchr(w->data, '\0', w->len))
            return -EINVAL;
        return pbj_value_json(c, k, w);
    case PB_T_BOOL:
    case PB_T_INT32:
    case PB_T_INT64:
    case PB_T_UINT32:
    case PB_T_UINT64:
    case PB_T_SINT32:
    case PB_T_SINT64:
    case PB_T_FIXED32:
    case PB_T_FIXED64:
    case PB_T_SFIXED32:
    case PB_T_SFIXED64:
        break;
    default:
        return -EINVAL;
    }
    struct buf key = BUF_INIT;
    struct ctx kc = {c->s, &key, c->depth};
    int rc = scalar(&kc, k, w->u64);
    if (!rc) {
        const char *t = key.data;
        size_t n = key.len;
        if (n && t[0] == '"') { /* 64-bit integers come quoted already */
            t++;
            n -= 2;
        }
        buf_addc(c->out, '"');
        buf_add(c->out, t, n);
        buf_addc(c->out, '"');
        rc = buf_error(c->out);
    }
    buf_release(&key);
    return rc;
}

/* The key and value of a map entry: -EINVAL unless it holds only its key
 * and value, each at most once and of its own wire type (absent ones are
 * their defaults: has_v tells). */
static int entry_read(const struct pb_message *e, const struct pb_field *w, struct pb_field *k,
                      struct pb_field *v, int *has_v)
{
    const struct pb_msg_field *kf = pbj_field_of(e, 1), *vf = pbj_field_of(e, 2);
    if (!kf || !vf || !pbj_decodable(vf, &(struct pb_field){.type = pbj_wire_of(vf->type)}))
        return -EINVAL;
    static const uint8_t none[1];
    *k = (struct pb_field){.number = 1, .type = pbj_wire_of(kf->type), .data = none};
    int has_k = 0, rc;
    *has_v = 0;
    struct pb_reader r;
    struct pb_field f;
    pb_reader_init(&r, w->data, w->len);
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1 && f.type == pbj_wire_of(kf->type) && !has_k) {
            *k = f;
            has_k = 1;
        } else if (f.number == 2 && f.type == pbj_wire_of(vf->type) && !*has_v) {
            *v = f;
            *has_v = 1;
        } else {
            return -EINVAL;
        }
    }
    return rc < 0 ? -EINVAL : 0;
}

/* One map entry "key":value. */
int pbj_map_entry_json(struct ctx *c, const struct pb_message *e, const struct pb_field *w)
{
    struct pb_field k, v;
    int has_v;
    if (entry_read(e, w, &k, &v, &has_v))
        return -EINVAL;
    int rc = map_key(c, pbj_field_of(e, 1), &k);
    if (rc)
        return rc;
    buf_addc(c->out, ':');
    const struct pb_msg_field *vf = pbj_field_of(e, 2);
    return has_v ? pbj_value_json(c, vf, &v) : pbj_default_json(c, vf);
}

/* A map entry's key, for finding entries of the same key. */
struct entry_key {
    const uint8_t *data; /* LEN keys */
    size_t len;
    uint64_t u; /* the others */
    size_t p;   /* its position in the wire index */
};

static int cmp_entry_key(const void *a, const void *b)
{
    const struct entry_key *x = a, *y = b;
    if (x->u != y->u)
        return x->u < y->u ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    if (c || x->len != y->len)
        return c ? c : (x->len < y->len ? -1 : 1);
    return (x->p > y->p) - (x->p < y->p);
}

/* Of a map's entries with one key, protobuf keeps the last: marks the
 * earlier ones (used = -1) so they are not shown as the key's value (they
 * go to "_unknown").  Returns how many were marked, or -ENOMEM. */
long pbj_map_supersede(const struct pb_msg_field *f, struct wire_index *ix, size_t lo, size_t hi)
{
    if (hi <= lo)
        return 0;
    struct entry_key *keys = malloc((hi - lo) * sizeof *keys);
    if (!keys)
        return -ENOMEM;
    size_t n = 0;
    for (size_t p = lo; p < hi; p++) {
        struct pb_field k, v;
        int has_v;
        struct wire *w = index_at(ix, p);
        if (!pbj_decodable(f, &w->f) || entry_read(f->message, &w->f, &k, &v, &has_v))
            continue; /* it will fail to show, and be kept as it is */
        keys[n++] = k.type == PB_LEN ? (struct entry_key){k.data, k.len, 0, p}
                                     : (struct entry_key){NULL, 0, k.u64, p};
    }
    qsort(keys, n, sizeof *keys, cmp_entry_key);
    long marked = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        struct entry_key a = keys[i], b = keys[i + 1];
        b.p = a.p;
        if (!cmp_entry_key(&a, &b)) {
            index_at(ix, keys[i].p)->used = -1;
            marked++;
        }
    }
    free(keys);
    return marked;
}

/* `,"name":` of a field. */
static void field_name(struct ctx *c, const struct pb_msg_field *f, int first)
{
    if (!first)
        buf_addc(c->out, ',');
    buf_add_json_string(c->out, f->json_name, strlen(f->json_name));
    buf_addc(c->out, ':');
}

/* Appends `"name":value` for declared field f when the message holds it,
 * marking the wire fields it showed. */
static int field_json(struct ctx *c, const struct pb_msg_field *f, struct wire_index *ix,
                      int *first)
{
    struct buf *b = c->out;
    size_t lo, hi, cand = 0, last = 0;
    index_range(ix, f->number, &lo, &hi);
    for (size_t p = lo; p < hi; p++)
        if (pbj_decodable(f, &index_at(ix, p)->f)) {
            cand++;
            last = p;
        }
    if (!cand)
        return 0;
    size_t start = b->len;
    int rc, map = f->message && f->message->map_entry;
    field_name(c, f, *first);
    if (f->repeated) {
        if (map && pbj_map_supersede(f, ix, lo, hi) < 0)
            return -ENOMEM;
        buf_addc(b, map ? '{' : '[');
        size_t n = 0;
        for (size_t p = lo; p < hi; p++) {
            struct wire *w = index_at(ix, p);
            if (w->used < 0)
                w->used = 0; /* superseded: kept in "_unknown" */
            else if (pbj_decodable(f, &w->f)) {
                size_t mark = b->len, before = n;
                if (w->f.type == PB_LEN && pbj_wire_of(f->type) != PB_LEN) {
                    rc = packed_json(c, f, &w->f, &n); /* its elements bring their commas */
                } else {
                    if (n++)
                        buf_addc(b, ',');
                    rc = map ? pbj_map_entry_json(c, f->message, &w->f)
                             : pbj_value_json(c, f, &w->f);
                }
                if (rc == -ENOMEM || buf_error(b))
                    return -ENOMEM;
                if (rc) {
                    buf_truncate(b, mark);
                    n = before;
                } else {
                    w->used = 1;
                }
            }
        }
        if (!n) {
            buf_truncate(b, start); /* nothing could be shown */
            return buf_error(b);
        }
        buf_addc(b, map ? '}' : ']');
        *first = 0;
        return buf_error(b);
    }
    if (cand > 1 && f->type == PB_T_MESSAGE) {
        /* several occurrences of one message merge: the same as decoding
         * their bytes one after the other */
        struct buf merged = BUF_INIT;
        for (size_t p = lo; p < hi; p++)
            if (pbj_decodable(f, &index_at(ix, p)->f))
                buf_add(&merged, index_at(ix, p)->f.data, index_at(ix, p)->f.len);
        rc = buf_error(&merged)
                 ? -ENOMEM
                 : message_json(c, f->message, (const uint8_t *)merged.data, merged.len);
        buf_release(&merged);
        if (rc == 0)
            for (size_t p = lo; p < hi; p++)
                if (pbj_decodable(f, &index_at(ix, p)->f))
                    index_at(ix, p)->used = 1;
    } else {
        /* a scalar: the last one is its value; earlier ones stay unknown */
        rc = pbj_value_json(c, f, &index_at(ix, last)->f);
        if (rc == 0)
            index_at(ix, last)->used = 1;
    }
    if (rc == -ENOMEM || buf_error(b))
        return -ENOMEM;
    if (rc) {
        buf_truncate(b, start);
        return 0;
    }
    *first = 0;
    return 0;
}

/* Appends `"_unknown":[...]` for the wire fields no declared field showed. */
static int unknown_json(struct ctx *c, const struct wire_index *ix, int *first)
{
    struct buf *b = c->out;
    size_t n = 0;
    for (size_t i = 0; i < ix->n; i++) {
        const struct pb_field *w = &ix->w[i].f;
        if (ix->w[i].used)
            continue;
        buf_addf(b, "%s{\"field\":%" PRIu32 ",",
                 n++      ? ","
                 : *first ? "\"_unknown\":["
                          : ",\"_unknown\":[",
                 w->number);
        switch (w->type) {
        case PB_VARINT:
            buf_addf(b, "\"varint\":\"%" PRIu64 "\"}", w->u64);
            break;
        case PB_I64:
            buf_addf(b, "\"i64\":\"%" PRIu64 "\"}", w->u64);
            break;
        case PB_I32:
            buf_addf(b, "\"i32\":\"%" PRIu64 "\"}", w->u64);
            break;
        default:
            buf_adds(b, "\"b64\":\"");
            buf_add_base64(b, w->data, w->len);
            buf_adds(b, "\"}");
            break;
        }
    }
    if (n) {
        buf_addc(b, ']');
        *first = 0;
    }
    return buf_error(b);
}

/* Appends the fields of a message, as members of an object already open;
 * *first says whether a member came before.  -EINVAL when the bytes are not
 * a message. */
static int fields_json(struct ctx *c, const struct pb_message *m, const uint8_t *data, size_t len,
                       int *first)
{
    struct wire_index ix;
    int rc = pbj_index_build(&ix, data, len);
    for (size_t i = 0; i < m->n_fields && !rc; i++)
        if (!m->fields[i].hidden)
            rc = field_json(c, &m->fields[i], &ix, first);
    if (!rc)
        rc = unknown_json(c, &ix, first);
    pbj_index_free(&ix);
    return rc;
}

/* ---- Any ---- */

static int any_json(struct ctx *c, const uint8_t *url, size_t url_len, const uint8_t *value,
                    size_t vlen)
{
    struct buf *b = c->out;
    const uint8_t *slash = memrchr(url, '/', url_len);
    const uint8_t *name = slash ? slash + 1 : url;
    size_t name_len = url_len - (size_t)(name - url);
    const struct pb_message *m = pb_schema_message(c->s, (const char *)name, name_len);
    buf_adds(b, "{\"@type\":");
    buf_add_json_string(b, url, url_len);
    size_t mark = b->len;
    int rc = -EINVAL;
    if (m && c->depth < PB_JSON_DEPTH) {
        c->depth++;
        if (m->wkt != PB_WKT_NONE) {
            buf_adds(b, ",\"value\":");
            rc = message_json(c, m, value, vlen);
        } else {
            int first = 0;
            rc = is_message(value, vlen) ? fields_json(c, m, value, vlen, &first) : -EINVAL;
        }
        c->depth--;
    }
    if (rc == -ENOMEM || buf_error(b))
        return -ENOMEM;
    if (rc) {
        buf_truncate(b, mark);
        buf_adds(b, ",\"value_b64\":\"");
        buf_add_base64(b, value, vlen);
        buf_addc(b, '"');
    }
    buf_addc(b, '}');
    return buf_error(b);
}

/* An Any holding exactly its URL (UTF-8) and its value, each at most once;
 * anything else shows as an ordinary message. */
static int any_field_json(struct ctx *c, const struct pb_message *m, const uint8_t *data,
                          size_t len)
{
    static const enum pb_wire_type types[] = {PB_LEN, PB_LEN};
    struct pb_field f[2] = {{0}};
    int has[2] = {0};
    if (pbj_wkt_read(data, len, types, 2, f, has) || !has[0] || !f[0].len ||
        !utf8_valid(f[0].data, f[0].len)) {
        int first = 1;
        buf_addc(c->out, '{');
        int rc = fields_json(c, m, data, len, &first);
        buf_addc(c->out, '}');
        return rc ? rc : buf_error(c->out);
    }
    static const uint8_t none[1];
    return any_json(c, f[0].data, f[0].len, has[1] ? f[1].data : none, has[1] ? f[1].len : 0);
}

/* ---- Messages ---- */

static int message_json(struct ctx *c, const struct pb_message *m, const uint8_t *data, size_t len)
{
    if (c->depth >= PB_JSON_DEPTH)
        return -EINVAL;
    if (!is_message(data, len))
        return -EINVAL; /* not a message: the caller keeps its bytes */
    int rc;
    size_t mark = c->out->len;
    c->depth++;
    if (m->wkt == PB_WKT_ANY) {
        rc = any_field_json(c, m, data, len);
    } else if (m->wkt != PB_WKT_NONE) {
        rc = pbj_wkt_json(c, m, data, len);
    } else {
        int first = 1;
        buf_addc(c->out, '{');
        rc = fields_json(c, m, data, len, &first);
        buf_addc(c->out, '}');
    }
    c->depth--;
    if (rc == 0 && buf_error(c->out))
        rc = -ENOMEM;
    if (rc == -EINVAL)
        buf_truncate(c->out, mark);
    return rc;
}

int pb_json_message(const struct pb_schema *s, const struct pb_message *m, const void *data,
                    size_t len, struct buf *out)
{
    struct ctx c = {s, out, 0};
    size_t mark = out->len;
    int rc = message_json(&c, m, data, len);
    if (rc == 0 && buf_error(out))
        rc = -ENOMEM;
    if (rc == -EINVAL)
        buf_truncate(out, mark);
    if (rc == -ENOMEM)
        buf_fail(out); /* an allocation of ours failed, not an append: say so */
    return rc;
}

int pb_json_record(const struct pb_schema *s, const char *name, const void *data, size_t len,
                   struct buf *out)
{
    static const char prefix[] = "type.googleapis.com/";
    const struct pb_message *m = pb_schema_message(s, name, strlen(name));
    if (!m)
        return -ENOENT;
    if (!is_message(data, len))
        return -EINVAL;
    char url[512];
    int n = snprintf(url, sizeof url, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= sizeof url)
        return -EINVAL;
    struct ctx c = {s, out, 0};
    int rc = any_json(&c, (const uint8_t *)url, (size_t)n, data, len);
    if (rc == -ENOMEM)
        buf_fail(out); /* an allocation of ours failed, not an append: say so */
    return rc;
}
