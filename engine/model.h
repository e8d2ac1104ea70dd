/*
 * model.h - the data model of SPEC: the standard buckets, the record types and
 * the keys each record is stored under, the grant's index entries included.
 *
 * This is the one place that spells the bucket names; the JSON Lines loader,
 * the c1z import, gen and the bench ask it.  It touches no store and allocates
 * nothing: a key is described as up to MODEL_KEY_PARTS byte strings joined
 * with '/', borrowed from the caller, and written into memory the caller owns.
 *
 * The keys (SPEC "Data model"):
 *
 *     resource type   resource_types/<id>
 *     resource        resources/<resource_type>/<id>
 *     entitlement     entitlements/<id>
 *     grant           grants/<id>
 *                     grants_by_entitlement/<entitlement>/<id>           (empty)
 *                     grants_by_principal/<principal_type>/<principal_id>/<id>  (empty)
 *     asset           assets/<id>              (c1z import only)
 *     sync run        sync_runs/<id>           (c1z import only; id: its sync_id)
 *     connector session  connector_sessions/<id>  (c1z import only; id: its key)
 */
#ifndef SYNCSTORE_MODEL_H
#define SYNCSTORE_MODEL_H

#include <stddef.h>

#include "engine.h" /* the limits: ENGINE_KEY_MAX, ENGINE_BUCKET_MAX */

/* ---- Buckets ---- */

enum model_bucket {
    MODEL_RESOURCE_TYPES,
    MODEL_RESOURCES,
    MODEL_ENTITLEMENTS,
    MODEL_GRANTS,
    MODEL_GRANTS_BY_ENTITLEMENT,
    MODEL_GRANTS_BY_PRINCIPAL,
    MODEL_ASSETS,
    MODEL_SYNC_RUNS,
    MODEL_CONNECTOR_SESSIONS,
    MODEL_BUCKET_COUNT
};

/* The bucket's name ("grants_by_entitlement"), a static string; "?" for a
 * value that is no bucket. */
const char *model_bucket_name(enum model_bucket bucket);

/* ---- Record types ---- */

/* The first four are the typed lines of `load`; all seven come from c1z. */
enum model_type {
    MODEL_RESOURCE_TYPE,
    MODEL_RESOURCE,
    MODEL_ENTITLEMENT,
    MODEL_GRANT,
    MODEL_ASSET,
    MODEL_SYNC_RUN,
    MODEL_CONNECTOR_SESSION,
    MODEL_TYPE_COUNT
};

/* The type's name as records carry it in "type" ("resource_type"), a static
 * string; "?" for a value that is no type. */
const char *model_type_name(enum model_type type);

/* The bucket that holds the records of a type. */
enum model_bucket model_type_bucket(enum model_type type);

/* The type named name[0..len), or -1 when there is none (a NUL byte in the
 * name matches nothing). */
int model_type_find(const char *name, size_t len);

/* ---- Keys ---- */

#define MODEL_KEY_PARTS 3
/* The most keys one record is stored under: a grant and its two index entries. */
#define MODEL_RECORD_KEYS 3

/* A byte string borrowed from the caller; it may hold any byte. */
struct model_str {
    const char *data;
    size_t len;
};

/* One key of a record: parts[0..n_parts) joined with '/', in bucket.  An
 * index entry (index set) holds the empty value; otherwise the key holds the
 * record itself. */
struct model_key {
    enum model_bucket bucket;
    int index;
    size_t n_parts;
    struct model_str parts[MODEL_KEY_PARTS];
};

/* The fields of a record that its keys are built from.  id is every type's;
 * resource_type is a resource's; entitlement, principal_type and principal_id
 * are a grant's.  Fields a type does not use are ignored. */
struct model_ids {
    struct model_str id;
    struct model_str resource_type;
    struct model_str entitlement;
    struct model_str principal_type;
    struct model_str principal_id;
};

/* Fills keys[] with the keys a record of the given type is stored under, the
 * record's own key first, and returns how many (1, or 3 for a grant: then its
 * grants_by_entitlement and grants_by_principal entries).  The parts borrow
 * from ids.  Lengths are not checked here: the store's limits are
 * engine_check_key()'s (the loader applies them). */
size_t model_record_keys(enum model_type type, const struct model_ids *ids,
                         struct model_key keys[MODEL_RECORD_KEYS]);

/* The length of the joined key: its parts and the '/' between them. */
size_t model_key_len(const struct model_key *key);

/* Writes the joined key (model_key_len() bytes, no NUL) to out; returns its
 * length. */
size_t model_key_write(const struct model_key *key, char *out);

#endif
