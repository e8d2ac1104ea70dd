/*
 * jsonl.c - the JSON Lines format of `syncstore load`: one line, raw or typed,
 * becomes the records it names.  A raw line names its bucket, key and value
 * (base64 for bytes that are not UTF-8); a typed line is a record of the data
 * model stored as its own bytes under the keys model.c gives its type, a
 * grant's index entries included.  Parsing touches no store, so the fuzzer
 * drives it alone; jsonl_add_line() hands the result to a loader.
 */
#include "jsonl.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static const char *get_string(json_t *obj, const char *name, size_t *len)
{
    json_t *v = json_object_get(obj, name);
    if (!v || !json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* Reads a required non-empty string field of a typed line. */
static int need_id(json_t *obj, const char *name, const char *type, struct model_str *out,
                   char **msg)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return engine_msgf(msg, -EINVAL, "a \"%s\" line needs \"%s\"", type, name);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return engine_msgf(msg, -EINVAL, "\"%s\" of a \"%s\" line must be a non-empty string", name,
                           type);
    out->data = json_string_value(v);
    out->len = json_string_length(v);
    return 0;
}

/* Reads "name" or "name_b64" (exactly one) into out. */
static int bytes_field(json_t *obj, const char *name, struct buf *out, char **msg)
{
    char b64name[32];
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    json_t *plain = json_object_get(obj, name);
    json_t *b64 = json_object_get(obj, b64name);
    if (plain && b64)
        return engine_msgf(msg, -EINVAL, "line has both \"%s\" and \"%s\"", name, b64name);
    if (!plain && !b64)
        return engine_msgf(msg, -EINVAL, "line has neither \"%s\" nor \"%s\"", name, b64name);
    json_t *v = plain ? plain : b64;
    if (!json_is_string(v))
        return engine_msgf(msg, -EINVAL, "\"%s\" must be a string", plain ? name : b64name);
    if (plain) {
        buf_add(out, json_string_value(v), json_string_length(v));
        return buf_error(out);
    }
    int rc = base64_decode(json_string_value(v), json_string_length(v), out);
    if (rc == -EINVAL)
        return engine_msgf(msg, -EINVAL, "\"%s\" is not valid base64", b64name);
    return rc;
}

static void set_record(struct jsonl_line *pl, size_t i, const char *bucket, const char *key,
                       size_t key_len, const char *value, size_t value_len)
{
    pl->records[i] = (struct jsonl_record){bucket, key, key_len, value, value_len};
    if (pl->n_records < i + 1)
        pl->n_records = i + 1;
}

static int parse_raw(struct jsonl_line *pl, json_t *obj, char **msg)
{
    const char *key_name;
    json_t *v;
    json_object_foreach(obj, key_name, v)
    {
        if (strcmp(key_name, "sync") && strcmp(key_name, "bucket") && strcmp(key_name, "key") &&
            strcmp(key_name, "key_b64") && strcmp(key_name, "value") &&
            strcmp(key_name, "value_b64"))
            return engine_msgf(msg, -EINVAL, "unknown field \"%s\" in a raw line", key_name);
    }
    size_t bucket_len;
    const char *bucket = get_string(obj, "bucket", &bucket_len);
    if (!bucket)
        return engine_msgf(msg, -EINVAL, "\"bucket\" must be a string");
    if (strlen(bucket) != bucket_len)
        return engine_msgf(msg, -EINVAL, "bucket name holds a NUL byte");
    struct buf *key = &pl->owned[0], *value = &pl->owned[1];
    int rc;
    if ((rc = bytes_field(obj, "key", key, msg)) || (rc = bytes_field(obj, "value", value, msg)))
        return rc;
    set_record(pl, 0, bucket, key->data, key->len, value->data, value->len);
    return 0;
}

/* Reads the fields a typed record's keys are built from, in SPEC's order,
 * into ids: "id" for every type, "resource_type" for a resource,
 * "entitlement", "principal_type" and "principal_id" for a grant. */
static int typed_ids(json_t *obj, enum model_type t, const char *type, struct model_ids *ids,
                     char **msg)
{
    int rc = 0;
    switch (t) {
    case MODEL_RESOURCE:
        rc = need_id(obj, "resource_type", type, &ids->resource_type, msg);
        break;
    case MODEL_GRANT:
        if (!(rc = need_id(obj, "entitlement", type, &ids->entitlement, msg)) &&
            !(rc = need_id(obj, "principal_type", type, &ids->principal_type, msg)))
            rc = need_id(obj, "principal_id", type, &ids->principal_id, msg);
        break;
    default:
        break;
    }
    return rc;
}

/* A typed line: its records are the data model's keys of its type, the first
 * holding the line itself, the index entries empty. */
static int parse_typed(struct jsonl_line *pl, json_t *obj, const char *type, size_t type_len,
                       const char *line, size_t len, char **msg)
{
    struct model_ids ids;
    memset(&ids, 0, sizeof ids);
    int rc;
    if ((rc = need_id(obj, "id", type, &ids.id, msg)))
        return rc;
    /* strcmp() would see only the part before a NUL. */
    if (strlen(type) != type_len)
        return engine_msgf(msg, -EINVAL, "\"type\" holds a NUL byte");
    int t = model_type_find(type, type_len);
    if (t < 0 || t > MODEL_GRANT)
        return engine_msgf(msg, -EINVAL,
                           "unknown type \"%s\" (resource_type, resource, entitlement or grant)",
                           type);
    if ((rc = typed_ids(obj, (enum model_type)t, type, &ids, msg)))
        return rc;
    struct model_key keys[MODEL_RECORD_KEYS];
    size_t n = model_record_keys((enum model_type)t, &ids, keys);
    for (size_t i = 0; i < n; i++) {
        struct buf *key = &pl->owned[i];
        buf_reset(key);
        if ((rc = buf_grow(key, model_key_len(&keys[i]))))
            return rc;
        key->len = model_key_write(&keys[i], key->data);
        key->data[key->len] = '\0';
        set_record(pl, i, model_bucket_name(keys[i].bucket), key->data, key->len,
                   keys[i].index ? "" : line, keys[i].index ? 0 : len);
    }
    return 0;
}

static int is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    return 1;
}

void jsonl_line_release(struct jsonl_line *pl)
{
    if (pl->json)
        json_decref(pl->json);
    for (int i = 0; i < JSONL_LINE_RECORDS; i++)
        buf_release(&pl->owned[i]);
    memset(pl, 0, sizeof *pl);
    for (int i = 0; i < JSONL_LINE_RECORDS; i++)
        buf_init(&pl->owned[i]);
}

int jsonl_parse_line(const char *line, size_t len, const char *default_sync, struct jsonl_line *pl,
                     char **msg)
{
    memset(pl, 0, sizeof *pl);
    for (int i = 0; i < JSONL_LINE_RECORDS; i++)
        buf_init(&pl->owned[i]);
    if (len && line[len - 1] == '\n')
        len--;
    if (len && line[len - 1] == '\r')
        len--;
    if (is_blank(line, len))
        return 0;
    json_error_t jerr;
    json_t *obj = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    if (!obj)
        return engine_msgf(msg, -EINVAL, "bad JSON at column %d: %s", jerr.column, jerr.text);
    pl->json = obj;
    if (!json_is_object(obj))
        return engine_msgf(msg, -EINVAL, "a line must be a JSON object");
    json_t *sync_v = json_object_get(obj, "sync");
    const char *sync = default_sync;
    if (sync_v) {
        if (!json_is_string(sync_v))
            return engine_msgf(msg, -EINVAL, "\"sync\" must be a string");
        const char *s = json_string_value(sync_v);
        if (strlen(s) != json_string_length(sync_v))
            return engine_msgf(msg, -EINVAL, "\"sync\" holds a NUL byte");
        if (sync && strcmp(sync, s))
            return engine_msgf(msg, -EINVAL, "\"sync\" is '%s' but --sync is '%s'", s, sync);
        sync = s;
    }
    if (!sync)
        return engine_msgf(msg, -EINVAL, "line has no \"sync\" and no --sync was given");
    pl->sync = sync;
    json_t *type = json_object_get(obj, "type");
    json_t *bucket = json_object_get(obj, "bucket");
    int rc;
    if (type && bucket)
        rc = engine_msgf(msg, -EINVAL, "line has both \"type\" and \"bucket\"");
    else if (type && !json_is_string(type))
        rc = engine_msgf(msg, -EINVAL, "\"type\" must be a string");
    else if (type)
        rc =
            parse_typed(pl, obj, json_string_value(type), json_string_length(type), line, len, msg);
    else if (bucket)
        rc = parse_raw(pl, obj, msg);
    else
        rc = engine_msgf(msg, -EINVAL, "line has neither \"type\" nor \"bucket\"");
    if (rc)
        pl->n_records = 0;
    return rc;
}

int jsonl_add_line(loader *l, const char *line, size_t len, char **msg)
{
    struct jsonl_line pl;
    int rc = jsonl_parse_line(line, len, loader_default_sync(l), &pl, msg);
    for (size_t i = 0; !rc && i < pl.n_records; i++) {
        const struct jsonl_record *r = &pl.records[i];
        rc = loader_add(l, pl.sync, r->bucket, r->key, r->key_len, r->value, r->value_len, msg);
    }
    if (rc == 0 && pl.n_records)
        loader_count_line(l);
    jsonl_line_release(&pl);
    return rc;
}
