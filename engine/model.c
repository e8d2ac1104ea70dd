/*
 * model.c - the bucket table of SPEC and the keys of each record type, in one
 * place.  Every writer of standard records (the JSON Lines parser, the c1z
 * import, gen through the parser, the bench's SQLite mirror) takes the bucket
 * names and the shape of the keys from here, so the layout of a sync is
 * decided once.  Pure: no store, no allocation, no RocksDB.
 */
#include "model.h"

#include <string.h>

static const char *const bucket_names[MODEL_BUCKET_COUNT] = {
    [MODEL_RESOURCE_TYPES] = "resource_types",
    [MODEL_RESOURCES] = "resources",
    [MODEL_ENTITLEMENTS] = "entitlements",
    [MODEL_GRANTS] = "grants",
    [MODEL_GRANTS_BY_ENTITLEMENT] = "grants_by_entitlement",
    [MODEL_GRANTS_BY_PRINCIPAL] = "grants_by_principal",
    [MODEL_ASSETS] = "assets",
    [MODEL_SYNC_RUNS] = "sync_runs",
    [MODEL_CONNECTOR_SESSIONS] = "connector_sessions",
};

/* Each record type: its name in "type" and the bucket of its records. */
static const struct {
    const char *name;
    enum model_bucket bucket;
} types[MODEL_TYPE_COUNT] = {
    [MODEL_RESOURCE_TYPE] = {"resource_type", MODEL_RESOURCE_TYPES},
    [MODEL_RESOURCE] = {"resource", MODEL_RESOURCES},
    [MODEL_ENTITLEMENT] = {"entitlement", MODEL_ENTITLEMENTS},
    [MODEL_GRANT] = {"grant", MODEL_GRANTS},
    [MODEL_ASSET] = {"asset", MODEL_ASSETS},
    [MODEL_SYNC_RUN] = {"sync_run", MODEL_SYNC_RUNS},
    [MODEL_CONNECTOR_SESSION] = {"connector_session", MODEL_CONNECTOR_SESSIONS},
};

const char *model_bucket_name(enum model_bucket bucket)
{
    return (unsigned)bucket < MODEL_BUCKET_COUNT ? bucket_names[bucket] : "?";
}

const char *model_type_name(enum model_type type)
{
    return (unsigned)type < MODEL_TYPE_COUNT ? types[type].name : "?";
}

enum model_bucket model_type_bucket(enum model_type type)
{
    return (unsigned)type < MODEL_TYPE_COUNT ? types[type].bucket : MODEL_BUCKET_COUNT;
}

int model_type_find(const char *name, size_t len)
{
    for (int t = 0; t < MODEL_TYPE_COUNT; t++)
        if (strlen(types[t].name) == len && !memcmp(types[t].name, name, len))
            return t;
    return -1;
}

/* Sets key to bucket and the given parts (n of them). */
static void key_set(struct model_key *key, enum model_bucket bucket, int index, size_t n,
                    struct model_str a, struct model_str b, struct model_str c)
{
    *key = (struct model_key){.bucket = bucket, .index = index, .n_parts = n};
    key->parts[0] = a;
    key->parts[1] = b;
    key->parts[2] = c;
}

size_t model_record_keys(enum model_type type, const struct model_ids *ids,
                         struct model_key keys[MODEL_RECORD_KEYS])
{
    const struct model_str none = {NULL, 0};
    switch (type) {
    case MODEL_RESOURCE:
        key_set(&keys[0], MODEL_RESOURCES, 0, 2, ids->resource_type, ids->id, none);
        return 1;
    case MODEL_GRANT:
        key_set(&keys[0], MODEL_GRANTS, 0, 1, ids->id, none, none);
        key_set(&keys[1], MODEL_GRANTS_BY_ENTITLEMENT, 1, 2, ids->entitlement, ids->id, none);
        key_set(&keys[2], MODEL_GRANTS_BY_PRINCIPAL, 1, 3, ids->principal_type, ids->principal_id,
                ids->id);
        return 3;
    default:
        key_set(&keys[0], model_type_bucket(type), 0, 1, ids->id, none, none);
        return 1;
    }
}

size_t model_key_len(const struct model_key *key)
{
    size_t len = key->n_parts ? key->n_parts - 1 : 0;
    for (size_t i = 0; i < key->n_parts; i++)
        len += key->parts[i].len;
    return len;
}

size_t model_key_write(const struct model_key *key, char *out)
{
    size_t len = 0;
    for (size_t i = 0; i < key->n_parts; i++) {
        if (i)
            out[len++] = '/';
        if (key->parts[i].len)
            memcpy(out + len, key->parts[i].data, key->parts[i].len);
        len += key->parts[i].len;
    }
    return len;
}
