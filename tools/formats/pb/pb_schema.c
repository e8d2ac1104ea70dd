/*
 * pb_schema.c - protobuf types from descriptor sets and from our own text
 * description (pb_schema.h).
 */
#include "pb_schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"    /* utf8_valid */
#include "engine.h" /* engine_msgf */
#include "pb_wire.h"

struct pb_schema {
    struct pb_message **msgs;
    size_t n_msgs, cap_msgs;
    struct pb_enum **enums;
    size_t n_enums, cap_enums;
    int sorted; /* msgs and enums sorted by name, duplicates removed */
};

struct pb_schema *pb_schema_new(void)
{
    return calloc(1, sizeof(struct pb_schema));
}

static void message_free(struct pb_message *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_fields; i++) {
        free(m->fields[i].json_name);
        free(m->fields[i].type_name);
    }
    free(m->fields);
    free(m->name);
    free(m);
}

static void enum_free(struct pb_enum *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n_values; i++)
        free(e->values[i].name);
    free(e->values);
    free(e->name);
    free(e);
}

void pb_schema_free(struct pb_schema *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_msgs; i++)
        message_free(s->msgs[i]);
    for (size_t i = 0; i < s->n_enums; i++)
        enum_free(s->enums[i]);
    free(s->msgs);
    free(s->enums);
    free(s);
}

/* Grows *arr (of *cap pointers) to hold one more: 0 or -ENOMEM. */
static int grow(void *arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*(void **)arr, c * size);
    if (!p)
        return -ENOMEM;
    *(void **)arr = p;
    *cap = c;
    return 0;
}

static struct pb_message *add_message(struct pb_schema *s, const char *name, size_t len)
{
    /* an array of pointers: its elements are pointer-sized */
    if (grow(&s->msgs, s->n_msgs, &s->cap_msgs, sizeof(void *)))
        return NULL;
    struct pb_message *m = calloc(1, sizeof(*m));
    if (!m || !(m->name = strndup(name, len))) {
        free(m);
        return NULL;
    }
    s->msgs[s->n_msgs++] = m;
    s->sorted = 0;
    return m;
}

static struct pb_enum *add_enum(struct pb_schema *s, const char *name, size_t len)
{
    if (grow(&s->enums, s->n_enums, &s->cap_enums, sizeof(void *)))
        return NULL;
    struct pb_enum *e = calloc(1, sizeof(*e));
    if (!e || !(e->name = strndup(name, len))) {
        free(e);
        return NULL;
    }
    s->enums[s->n_enums++] = e;
    s->sorted = 0;
    return e;
}

/* protoc's JSON name of a field: underscores removed, the letter after each
 * one upper-cased (descriptor.proto, FieldDescriptorProto.json_name). */
static char *json_name_of(const char *name, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    int upper = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '_') {
            upper = 1;
            continue;
        }
        out[n++] = upper ? (char)toupper((unsigned char)name[i]) : name[i];
        upper = 0;
    }
    out[n] = '\0';
    return out;
}

static struct pb_msg_field *add_field(struct pb_message *m, size_t *cap)
{
    if (grow(&m->fields, m->n_fields, cap, sizeof(*m->fields)))
        return NULL;
    struct pb_msg_field *f = &m->fields[m->n_fields++];
    memset(f, 0, sizeof(*f));
    return f;
}

/* A type name without its leading dot. */
static char *type_name_dup(const char *name, size_t len)
{
    if (len && name[0] == '.') {
        name++;
        len--;
    }
    return strndup(name, len);
}

/* ---- Descriptor sets ---- */

static int add_descriptor_enum(struct pb_schema *s, const char *scope, const struct pb_field *in)
{
    struct pb_field name = {0};
    if (pb_find(in->data, in->len, 1, &name) != 1 || name.type != PB_LEN)
        return -EINVAL;
    char full[1024];
    int n = snprintf(full, sizeof full, "%s%s%.*s", scope, *scope ? "." : "", (int)name.len,
                     (const char *)name.data);
    if (n < 0 || (size_t)n >= sizeof full)
        return -EINVAL;
    struct pb_enum *e = add_enum(s, full, (size_t)n);
    if (!e)
        return -ENOMEM;
    size_t cap = 0;
    struct pb_reader r;
    struct pb_field f;
    int rc;
    pb_reader_init(&r, in->data, in->len);
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number != 2 || f.type != PB_LEN)
            continue;
        struct pb_field vn = {0}, vv = {0};
        if (pb_find(f.data, f.len, 1, &vn) != 1 || vn.type != PB_LEN ||
            pb_find(f.data, f.len, 2, &vv) < 0 || vv.type != PB_VARINT)
            return -EINVAL;
        if (grow(&e->values, e->n_values, &cap, sizeof(*e->values)))
            return -ENOMEM;
        struct pb_enum_value *v = &e->values[e->n_values];
        v->number = (int32_t)vv.u64;
        v->name = NULL;
        if (utf8_valid(vn.data, vn.len) && !memchr(vn.data, '\0', vn.len) &&
            !(v->name = strndup((const char *)vn.data, vn.len)))
            return -ENOMEM;
        e->n_values++;
    }
    return rc;
}

static int add_descriptor_field(struct pb_message *m, size_t *cap, const struct pb_field *in)
{
    struct pb_field name = {0}, number = {0}, label = {0}, type = {0}, tname = {0}, jname = {0};
    if (pb_find(in->data, in->len, 1, &name) != 1 || name.type != PB_LEN ||
        pb_find(in->data, in->len, 3, &number) != 1 || number.type != PB_VARINT ||
        pb_find(in->data, in->len, 4, &label) < 0 || pb_find(in->data, in->len, 5, &type) != 1 ||
        type.type != PB_VARINT || pb_find(in->data, in->len, 6, &tname) < 0 ||
        pb_find(in->data, in->len, 10, &jname) < 0)
        return -EINVAL;
    if (number.u64 == 0 || number.u64 > 536870911u || type.u64 < PB_T_DOUBLE ||
        type.u64 > PB_T_SINT64)
        return -EINVAL;
    struct pb_msg_field *f = add_field(m, cap);
    if (!f)
        return -ENOMEM;
    f->number = (uint32_t)number.u64;
    f->type = (enum pb_type)type.u64;
    f->repeated = label.type == PB_VARINT && label.u64 == 3;
    f->json_name = jname.type == PB_LEN && jname.len
                       ? strndup((const char *)jname.data, jname.len)
                       : json_name_of((const char *)name.data, name.len);
    if (!f->json_name)
        return -ENOMEM;
    if (f->type == PB_T_MESSAGE || f->type == PB_T_ENUM || f->type == PB_T_GROUP) {
        if (tname.type != PB_LEN || !tname.len)
            return -EINVAL;
        if (!(f->type_name = type_name_dup((const char *)tname.data, tname.len)))
            return -ENOMEM;
    }
    return 0;
}

static int add_descriptor_message(struct pb_schema *s, const char *scope, const struct pb_field *in,
                                  int depth)
{
    struct pb_field name = {0}, opts = {0}, map_entry = {0};
    if (depth > 32 || pb_find(in->data, in->len, 1, &name) != 1 || name.type != PB_LEN ||
        pb_find(in->data, in->len, 7, &opts) < 0)
        return -EINVAL;
    if (opts.type == PB_LEN && pb_find(opts.data, opts.len, 7, &map_entry) < 0)
        return -EINVAL;
    char full[1024];
    int n = snprintf(full, sizeof full, "%s%s%.*s", scope, *scope ? "." : "", (int)name.len,
                     (const char *)name.data);
    if (n < 0 || (size_t)n >= sizeof full)
        return -EINVAL;
    struct pb_message *m = add_message(s, full, (size_t)n);
    if (!m)
        return -ENOMEM;
    m->map_entry = map_entry.type == PB_VARINT && map_entry.u64;
    size_t cap = 0;
    struct pb_reader r;
    struct pb_field f;
    int rc;
    pb_reader_init(&r, in->data, in->len);
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.type != PB_LEN)
            continue;
        if (f.number == 2)
            rc = add_descriptor_field(m, &cap, &f);
        else if (f.number == 3)
            rc = add_descriptor_message(s, full, &f, depth + 1);
        else if (f.number == 4)
            rc = add_descriptor_enum(s, full, &f);
        else
            continue;
        if (rc)
            return rc;
    }
    return rc;
}

int pb_schema_add_descriptors(struct pb_schema *s, const void *data, size_t len, char **msg)
{
    struct pb_reader r;
    struct pb_field file;
    int rc;
    pb_reader_init(&r, data, len);
    while ((rc = pb_next(&r, &file)) == 1) {
        if (file.number != 1)
            continue;
        struct pb_field pkg = {0};
        if (file.type != PB_LEN || pb_find(file.data, file.len, 2, &pkg) < 0 ||
            (pkg.len && pkg.type != PB_LEN) || pkg.len >= 512) {
            rc = -EINVAL;
            break;
        }
        char scope[512];
        snprintf(scope, sizeof scope, "%.*s", (int)pkg.len, pkg.data ? (const char *)pkg.data : "");
        struct pb_reader fr;
        struct pb_field f;
        pb_reader_init(&fr, file.data, file.len);
        while ((rc = pb_next(&fr, &f)) == 1) {
            if (f.type == PB_LEN && f.number == 4)
                rc = add_descriptor_message(s, scope, &f, 0);
            else if (f.type == PB_LEN && f.number == 5)
                rc = add_descriptor_enum(s, scope, &f);
            else
                continue;
            if (rc)
                break;
        }
        if (rc)
            break;
    }
    if (rc == -ENOMEM)
        return engine_msgf(msg, rc, "out of memory");
    if (rc < 0)
        return engine_msgf(msg, -EINVAL, "the record schema (a FileDescriptorSet) does not parse");
    return 0;
}

/* ---- Our text description ---- */

static const struct {
    const char *name;
    enum pb_type type;
} scalars[] = {
    {"double", PB_T_DOUBLE},     {"float", PB_T_FLOAT},   {"int64", PB_T_INT64},
    {"uint64", PB_T_UINT64},     {"int32", PB_T_INT32},   {"fixed64", PB_T_FIXED64},
    {"fixed32", PB_T_FIXED32},   {"bool", PB_T_BOOL},     {"string", PB_T_STRING},
    {"bytes", PB_T_BYTES},       {"uint32", PB_T_UINT32}, {"sfixed32", PB_T_SFIXED32},
    {"sfixed64", PB_T_SFIXED64}, {"sint32", PB_T_SINT32}, {"sint64", PB_T_SINT64},
};

static int scalar_type(const char *tok, enum pb_type *out)
{
    for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
        if (!strcmp(tok, scalars[i].name)) {
            *out = scalars[i].type;
            return 0;
        }
    return -EINVAL;
}

/* Sets a field's type from a token: a scalar, or ".full.name" (a message;
 * pb_schema_link() turns it into an enum when an enum has that name). */
static int field_type(struct pb_msg_field *f, const char *tok)
{
    if (tok[0] != '.')
        return scalar_type(tok, &f->type);
    if (!tok[1])
        return -EINVAL;
    f->type = PB_T_MESSAGE;
    return (f->type_name = strdup(tok + 1)) ? 0 : -ENOMEM;
}

/* The entry message of a map field "<number> <name> map <key> <value>" in
 * message m: m.<Name>Entry, as protoc names it. */
static int text_map(struct pb_schema *s, struct pb_message *m, struct pb_msg_field *f,
                    const char *name, const char *key, const char *value)
{
    char full[1024];
    char *camel = json_name_of(name, strlen(name));
    if (!camel)
        return -ENOMEM;
    camel[0] = (char)toupper((unsigned char)camel[0]);
    int n = snprintf(full, sizeof full, "%s.%sEntry", m->name, camel);
    free(camel);
    if (n < 0 || (size_t)n >= sizeof full)
        return -EINVAL;
    f->type = PB_T_MESSAGE;
    f->repeated = 1;
    if (!(f->type_name = strdup(full)))
        return -ENOMEM;
    struct pb_message *e = add_message(s, full, (size_t)n);
    if (!e)
        return -ENOMEM;
    e->map_entry = 1;
    size_t cap = 0;
    struct pb_msg_field *k = add_field(e, &cap);
    if (!k || !(k->json_name = strdup("key")))
        return -ENOMEM;
    k->number = 1;
    if (scalar_type(key, &k->type) || k->type == PB_T_BYTES || k->type == PB_T_DOUBLE ||
        k->type == PB_T_FLOAT)
        return -EINVAL;
    struct pb_msg_field *v = add_field(e, &cap);
    if (!v || !(v->json_name = strdup("value")))
        return -ENOMEM;
    v->number = 2;
    return field_type(v, value);
}

static int text_line(struct pb_schema *s, char *line, struct pb_message **m, size_t *cap,
                     struct pb_enum **e)
{
    char *tok[6];
    int n = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t", &save); t && n < 6;
         t = strtok_r(NULL, " \t", &save))
        tok[n++] = t;
    if (n == 0 || tok[0][0] == '#')
        return 0;
    if (n == 2 && !strcmp(tok[0], "message")) {
        *e = NULL;
        *cap = 0;
        *m = add_message(s, tok[1], strlen(tok[1]));
        return *m ? 0 : -ENOMEM;
    }
    if (n == 2 && !strcmp(tok[0], "enum")) {
        *m = NULL;
        *cap = 0;
        *e = add_enum(s, tok[1], strlen(tok[1]));
        return *e ? 0 : -ENOMEM;
    }
    char *end;
    long num = strtol(tok[0], &end, 10);
    if (*end)
        return -EINVAL;
    if (*e && n == 2) {
        if (grow(&(*e)->values, (*e)->n_values, cap, sizeof(*(*e)->values)))
            return -ENOMEM;
        struct pb_enum_value *v = &(*e)->values[(*e)->n_values];
        v->number = (int32_t)num;
        if (!(v->name = strdup(tok[1])))
            return -ENOMEM;
        (*e)->n_values++;
        return 0;
    }
    if (!*m || num <= 0 || num > 536870911L || n < 3)
        return -EINVAL;
    struct pb_msg_field *f = add_field(*m, cap);
    if (!f || !(f->json_name = json_name_of(tok[1], strlen(tok[1]))))
        return -ENOMEM;
    f->number = (uint32_t)num;
    if (n == 3)
        return field_type(f, tok[2]);
    if (n == 4 && !strcmp(tok[2], "repeated")) {
        f->repeated = 1;
        return field_type(f, tok[3]);
    }
    if (n == 5 && !strcmp(tok[2], "map"))
        return text_map(s, *m, f, tok[1], tok[3], tok[4]);
    return -EINVAL;
}

int pb_schema_add_text(struct pb_schema *s, const char *text, char **msg)
{
    struct pb_message *m = NULL;
    struct pb_enum *e = NULL;
    size_t cap = 0, lineno = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        char line[512];
        if (len >= sizeof line)
            return engine_msgf(msg, -EINVAL, "schema line %zu: longer than %zu bytes", lineno,
                               sizeof line - 1);
        memcpy(line, p, len);
        line[len] = '\0';
        int rc = text_line(s, line, &m, &cap, &e);
        if (rc == -ENOMEM)
            return engine_msgf(msg, rc, "out of memory");
        if (rc)
            return engine_msgf(msg, rc, "schema line %zu: '%.*s' does not parse", lineno, (int)len,
                               p);
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

/* ---- Linking ---- */

/* Sorts by name keeping the first definition of each: qsort is not stable,
 * so the array is first tagged with positions through a parallel sort. */
struct tagged {
    void *p;
    const char *name;
    size_t pos;
};

static int cmp_tagged(const void *a, const void *b)
{
    const struct tagged *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static int dedupe(void **arr, size_t *n, const char *(*name)(const void *), void (*release)(void *))
{
    if (*n == 0)
        return 0;
    struct tagged *t = malloc(*n * sizeof(*t));
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < *n; i++)
        t[i] = (struct tagged){arr[i], name(arr[i]), i};
    qsort(t, *n, sizeof(*t), cmp_tagged);
    size_t out = 0;
    for (size_t i = 0; i < *n; i++) {
        if (out && !strcmp(t[i].name, name(arr[out - 1]))) {
            release(t[i].p);
            continue;
        }
        arr[out++] = t[i].p;
    }
    *n = out;
    free(t);
    return 0;
}

static const char *msg_name(const void *p)
{
    return ((const struct pb_message *)p)->name;
}
static const char *enum_name(const void *p)
{
    return ((const struct pb_enum *)p)->name;
}
static void msg_release(void *p)
{
    message_free(p);
}
static void enum_release(void *p)
{
    enum_free(p);
}

static const struct {
    const char *name;
    enum pb_wkt wkt;
} wkts[] = {
    {"google.protobuf.Any", PB_WKT_ANY},
    {"google.protobuf.Timestamp", PB_WKT_TIMESTAMP},
    {"google.protobuf.Duration", PB_WKT_DURATION},
    {"google.protobuf.Struct", PB_WKT_STRUCT},
    {"google.protobuf.Value", PB_WKT_VALUE},
    {"google.protobuf.ListValue", PB_WKT_LIST_VALUE},
    {"google.protobuf.FieldMask", PB_WKT_FIELD_MASK},
    {"google.protobuf.DoubleValue", PB_WKT_WRAPPER},
    {"google.protobuf.FloatValue", PB_WKT_WRAPPER},
    {"google.protobuf.Int64Value", PB_WKT_WRAPPER},
    {"google.protobuf.UInt64Value", PB_WKT_WRAPPER},
    {"google.protobuf.Int32Value", PB_WKT_WRAPPER},
    {"google.protobuf.UInt32Value", PB_WKT_WRAPPER},
    {"google.protobuf.BoolValue", PB_WKT_WRAPPER},
    {"google.protobuf.StringValue", PB_WKT_WRAPPER},
    {"google.protobuf.BytesValue", PB_WKT_WRAPPER},
    {"google.protobuf.Empty", PB_WKT_EMPTY},
};

int pb_schema_link(struct pb_schema *s)
{
    if (dedupe((void **)s->msgs, &s->n_msgs, msg_name, msg_release) ||
        dedupe((void **)s->enums, &s->n_enums, enum_name, enum_release))
        return -ENOMEM;
    s->sorted = 1;
    for (size_t i = 0; i < s->n_msgs; i++) {
        struct pb_message *m = s->msgs[i];
        m->wkt = PB_WKT_NONE;
        for (size_t w = 0; w < sizeof wkts / sizeof *wkts; w++)
            if (!strcmp(m->name, wkts[w].name))
                m->wkt = wkts[w].wkt;
        for (size_t j = 0; j < m->n_fields; j++) {
            struct pb_msg_field *f = &m->fields[j];
            f->message = NULL;
            f->enumt = NULL;
            const char *jn = f->json_name;
            f->hidden =
                !utf8_valid(jn, strlen(jn)) || !strcmp(jn, "@type") || !strcmp(jn, "_unknown");
            for (size_t k = 0; k < j && !f->hidden; k++)
                f->hidden = !m->fields[k].hidden && !strcmp(m->fields[k].json_name, jn);
            if (!f->type_name)
                continue;
            size_t len = strlen(f->type_name);
            if (f->type == PB_T_MESSAGE || f->type == PB_T_ENUM) {
                /* the text form does not say which a ".name" is */
                f->message = pb_schema_message(s, f->type_name, len);
                f->enumt = f->message ? NULL : pb_schema_enum(s, f->type_name, len);
                if (f->enumt)
                    f->type = PB_T_ENUM;
                else if (f->message)
                    f->type = PB_T_MESSAGE;
            }
        }
    }
    for (size_t i = 0; i < s->n_enums; i++)
        s->enums[i]->null_value = !strcmp(s->enums[i]->name, "google.protobuf.NullValue");
    return 0;
}

int pb_schema_check(const struct pb_schema *s, char **msg)
{
    for (size_t i = 0; i < s->n_msgs; i++) {
        const struct pb_message *m = s->msgs[i];
        for (size_t j = 0; j < m->n_fields; j++) {
            const struct pb_msg_field *f = &m->fields[j];
            if (f->type_name && !f->message && !f->enumt)
                return engine_msgf(msg, -EINVAL, "%s.%s: type '%s' is defined nowhere", m->name,
                                   f->json_name, f->type_name);
        }
    }
    return 0;
}

/* Compares len bytes of name (which may hold NUL: a name from the wire)
 * with a full name. */
static int cmp_key(const char *name, size_t len, const char *full)
{
    size_t fl = strlen(full);
    int c = memcmp(name, full, len < fl ? len : fl);
    if (c)
        return c;
    return (len > fl) - (len < fl);
}

/* The index of the name in a sorted array of n entries whose names name_of
 * gives, or n when it is not there. */
static size_t find_name(const void *const *arr, size_t n, const char *(*name_of)(const void *),
                        const char *name, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_key(name, len, name_of(arr[mid]));
        if (!c)
            return mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return n;
}

const struct pb_message *pb_schema_message(const struct pb_schema *s, const char *name, size_t len)
{
    size_t n = s->sorted ? s->n_msgs : 0;
    size_t i = find_name((const void *const *)s->msgs, n, msg_name, name, len);
    return i < n ? s->msgs[i] : NULL;
}

const struct pb_enum *pb_schema_enum(const struct pb_schema *s, const char *name, size_t len)
{
    size_t n = s->sorted ? s->n_enums : 0;
    size_t i = find_name((const void *const *)s->enums, n, enum_name, name, len);
    return i < n ? s->enums[i] : NULL;
}

int pb_schema_baton(const void *descriptors, size_t len, struct pb_schema **out, char **msg)
{
    struct pb_schema *s = pb_schema_new();
    *out = NULL;
    if (!s)
        return engine_msgf(msg, -ENOMEM, "out of memory");
    int rc = 0;
    if (descriptors)
        rc = pb_schema_add_descriptors(s, descriptors, len, msg);
    if (!rc)
        rc = pb_schema_add_text(s, pb_wkt_schema, msg);
    if (!rc)
        rc = pb_schema_add_text(s, pb_baton_schema, msg);
    if (!rc && pb_schema_link(s))
        rc = engine_msgf(msg, -ENOMEM, "out of memory");
    if (rc) {
        pb_schema_free(s);
        s = NULL;
    }
    *out = s;
    return rc;
}
