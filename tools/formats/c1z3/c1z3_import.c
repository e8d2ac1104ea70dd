/*
 * c1z3_import.c - a C1Z3 file into a store through the loader (c1z3_import.h).
 *
 * Steps: unpack the envelope into a fresh temporary directory (removed on
 * every path), take the sync from the manifest, open the Pebble database,
 * turn every live record into its v1-shaped JSON value under the model's keys
 * (model.h), and commit the load: all or nothing.  Memory: the reader's
 * blocks, one record's JSON, and the loader's chunk.
 */
#include "c1z3_import.h"

#include "buf.h"
#include "c1z3_envelope.h"
#include "loader.h"
#include "model.h"
#include "pb_json.h"
#include "pb_wire.h"
#include "pebble.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keyspace bytes (baton-sdk pkg/dotc1z/engine/pebble/keys.go). */
#define KS_RECORDS 0x03
enum {
    T_RESOURCE_TYPE = 0x01,
    T_RESOURCE = 0x02,
    T_ENTITLEMENT = 0x03,
    T_GRANT = 0x04,
    T_ASSET = 0x05,
    T_SYNC_RUN = 0x06,
    T_INDEX = 0x07,
    T_COUNTER = 0x08,
    T_SESSION = 0x09,
    T_DIGEST = 0x0a,
    T_META = 0xff,
};
#define KEYSPACE_VERSION 2
#define MAX_FIELD 16 /* the highest field number a record's identifying fields use */

struct c1z3_import {
    engine *e;
    const char *path;
    char *dir; /* the unpacked database, removed at the end */
    struct c1z3_manifest m;
    const char *sync_id; /* the file's one sync (borrowed from m) */
    pebble_db *db;
    pebble_iter *it;
    loader *l;
    struct pb_schema *schema; /* the manifest's descriptor set, then ours */
    struct buf value, key;
    struct c1z_sync_stats stats;
    int keyspace_ok;
    int sync_run_seen;
};

/* ---- The temporary directory ---- */

static int make_dir(struct c1z3_import *im, char **msg)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    if (asprintf(&im->dir, "%s/syncstore-c1z3-XXXXXX", tmp) < 0) {
        im->dir = NULL;
        return engine_msgf(msg, -ENOMEM, "out of memory");
    }
    if (!mkdtemp(im->dir)) {
        int err = errno;
        free(im->dir);
        im->dir = NULL;
        return engine_msgf(msg, -err,
                           "cannot create a temporary directory in '%s' to import '%s': %s", tmp,
                           im->path, strerror(err));
    }
    return 0;
}

/* ---- Reading a record's fields ---- */

struct fields {
    struct pb_field f[MAX_FIELD + 1];
    unsigned char has[MAX_FIELD + 1];
};

/* The last occurrence of each field numbered 1..MAX_FIELD (proto3: the last
 * wins); the others are skipped.  -EINVAL when the message does not parse. */
static int read_fields(const void *data, size_t len, struct fields *out)
{
    memset(out, 0, sizeof *out);
    struct pb_reader r;
    pb_reader_init(&r, data, len);
    struct pb_field f;
    int rc;
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number <= MAX_FIELD) {
            out->f[f.number] = f;
            out->has[f.number] = 1;
        }
    }
    return rc;
}

/* A string field (absent: empty); -EINVAL when it is not length-delimited. */
static int str_field(const struct fields *fs, uint32_t n, struct model_str *out)
{
    *out = (struct model_str){"", 0};
    if (!fs->has[n])
        return 0;
    if (fs->f[n].type != PB_LEN)
        return -EINVAL;
    *out = (struct model_str){(const char *)fs->f[n].data, fs->f[n].len};
    return 0;
}

/* A message field's fields (absent: none). */
static int msg_field(const struct fields *fs, uint32_t n, struct fields *out, int *present)
{
    *present = fs->has[n];
    if (!fs->has[n]) {
        memset(out, 0, sizeof *out);
        return 0;
    }
    if (fs->f[n].type != PB_LEN)
        return -EINVAL;
    return read_fields(fs->f[n].data, fs->f[n].len, out);
}

/* ---- The JSON value ---- */

/* ,"name":"text" — or "name_b64" with base64 when the bytes are not UTF-8 or
 * hold a NUL, as the v1 import writes such text. */
static void json_str(struct buf *b, const char *name, struct model_str s)
{
    if (utf8_valid(s.data, s.len) && !memchr(s.data, 0, s.len)) {
        buf_addf(b, ",\"%s\":", name);
        buf_add_json_string(b, s.data, s.len);
    } else {
        buf_addf(b, ",\"%s_b64\":\"", name);
        buf_add_base64(b, s.data, s.len);
        buf_addc(b, '"');
    }
}

/* ,"name":"2025-12-17T13:10:15.619030Z" (RFC 3339, as protobuf's JSON
 * mapping writes a Timestamp: 0, 3, 6 or 9 fraction digits), or null. */
static int json_time(struct buf *b, const char *name, const struct fields *fs, uint32_t n)
{
    struct fields t;
    int present;
    if (msg_field(fs, n, &t, &present) < 0)
        return -EINVAL;
    buf_addf(b, ",\"%s\":", name);
    if (!present) {
        buf_adds(b, "null");
        return 0;
    }
    if ((t.has[1] && t.f[1].type != PB_VARINT) || (t.has[2] && t.f[2].type != PB_VARINT))
        return -EINVAL;
    int64_t secs = t.has[1] ? (int64_t)t.f[1].u64 : 0;
    int64_t nanos = t.has[2] ? (int64_t)t.f[2].u64 : 0;
    int rc = pb_json_timestamp(b, secs, nanos);
    return rc == -ENOMEM ? 0 : rc; /* out of memory: the caller asks buf_error() */
}

static void json_b64(struct buf *b, const char *name, const void *data, size_t len)
{
    buf_addf(b, ",\"%s\":\"", name);
    buf_add_base64(b, data, len);
    buf_addc(b, '"');
}

/* c1.storage.v3.SyncType as the v1 sync_type column spells it. */
static const char *sync_type_name(uint64_t t)
{
    static const char *const names[] = {
        "", "full", "partial", "resources_only", "partial_upserts", "partial_deletions"};
    return t < sizeof names / sizeof *names ? names[t] : NULL;
}

/* ---- Records ---- */

static const char *type_label(unsigned t)
{
    switch (t) {
    case T_RESOURCE_TYPE:
        return "resource type";
    case T_RESOURCE:
        return "resource";
    case T_ENTITLEMENT:
        return "entitlement";
    case T_GRANT:
        return "grant";
    case T_ASSET:
        return "asset";
    case T_SYNC_RUN:
        return "sync run";
    case T_SESSION:
        return "session";
    }
    return "record";
}

/* Adds the record under every key of the model. */
static int add(struct c1z3_import *im, enum model_type type, const struct model_ids *ids,
               char **msg)
{
    if (buf_error(&im->value))
        return engine_msgf(msg, -ENOMEM, "out of memory");
    struct model_key keys[MODEL_RECORD_KEYS];
    size_t n = model_record_keys(type, ids, keys);
    for (size_t i = 0; i < n; i++) {
        buf_reset(&im->key);
        if (buf_grow(&im->key, model_key_len(&keys[i])))
            return engine_msgf(msg, -ENOMEM, "out of memory");
        im->key.len = model_key_write(&keys[i], im->key.data);
        const char *v = keys[i].index ? "" : im->value.data;
        size_t vl = keys[i].index ? 0 : im->value.len;
        char *m = NULL;
        int rc = loader_add(im->l, im->sync_id, model_bucket_name(keys[i].bucket), im->key.data,
                            im->key.len, v, vl, &m);
        if (rc) {
            engine_msgf(msg, rc, "'%s': %s '%.*s': %s", im->path, model_type_name(type),
                        (int)(ids->id.len > 200 ? 200 : ids->id.len), ids->id.data,
                        m ? m : engine_strerror(rc));
            free(m);
            return rc;
        }
    }
    return 0;
}

/* The record's bytes as "data_b64", and as "data" decoded by the file's own
 * schema when it describes the record's message. */
static void json_data(struct c1z3_import *im, const char *message, const void *val, size_t vlen)
{
    struct buf *v = &im->value;
    json_b64(v, "data_b64", val, vlen);
    size_t mark = v->len;
    buf_adds(v, ",\"data\":");
    int rc = pb_json_record(im->schema, message, val, vlen, v);
    if (rc && rc != -ENOMEM)
        buf_truncate(v, mark);
}

/* The value's common tail: the record's bytes, the sync and discovered_at. */
static int tail(struct c1z3_import *im, const char *message, const void *val, size_t vlen,
                const struct fields *fs, uint32_t discovered_at)
{
    json_data(im, message, val, vlen);
    buf_adds(&im->value, ",\"sync_id\":");
    buf_add_json_string(&im->value, im->sync_id, strlen(im->sync_id));
    if (discovered_at && json_time(&im->value, "discovered_at", fs, discovered_at) < 0)
        return -EINVAL;
    return 0;
}

static int record(struct c1z3_import *im, unsigned t, const void *val, size_t vlen, char **msg)
{
    struct fields fs, a;
    struct model_ids ids;
    memset(&ids, 0, sizeof ids);
    struct model_str s1, s2, s3, s4, s5;
    int present, bad = read_fields(val, vlen, &fs) < 0;
    struct buf *v = &im->value;
    buf_reset(v);
    enum model_type type = MODEL_RESOURCE_TYPE;
    enum c1z_table table = C1Z_RESOURCE_TYPES;
    struct buf composed = BUF_INIT; /* an id made of parts (they may hold NUL bytes) */
    switch (t) {
    case T_RESOURCE_TYPE:
        bad = bad || str_field(&fs, 2, &s1) < 0;
        if (bad)
            break;
        buf_adds(v, "{\"type\":\"resource_type\"");
        json_str(v, "external_id", s1);
        bad = tail(im, "c1.storage.v3.ResourceTypeRecord", val, vlen, &fs, 6) < 0;
        ids.id = s1;
        break;
    case T_RESOURCE:
        bad = bad || str_field(&fs, 2, &s1) < 0 || str_field(&fs, 3, &s2) < 0 ||
              msg_field(&fs, 6, &a, &present) < 0 || str_field(&a, 1, &s3) < 0 ||
              str_field(&a, 2, &s4) < 0;
        if (bad)
            break;
        type = MODEL_RESOURCE;
        table = C1Z_RESOURCES;
        buf_adds(v, "{\"type\":\"resource\"");
        json_str(v, "resource_type_id", s1);
        /* v1's external_id of a resource is "<type>:<id>" */
        buf_add(&composed, s1.data, s1.len);
        buf_addc(&composed, ':');
        buf_add(&composed, s2.data, s2.len);
        json_str(v, "external_id", (struct model_str){composed.data, composed.len});
        if (present && (s3.len || s4.len)) {
            json_str(v, "parent_resource_type_id", s3);
            json_str(v, "parent_resource_id", s4);
        } else {
            buf_adds(v, ",\"parent_resource_type_id\":null,\"parent_resource_id\":null");
        }
        bad = tail(im, "c1.storage.v3.ResourceRecord", val, vlen, &fs, 8) < 0;
        ids.resource_type = s1;
        ids.id = s2;
        break;
    case T_ENTITLEMENT:
        bad = bad || str_field(&fs, 2, &s1) < 0 || msg_field(&fs, 3, &a, &present) < 0 ||
              str_field(&a, 1, &s2) < 0 || str_field(&a, 2, &s3) < 0;
        if (bad)
            break;
        type = MODEL_ENTITLEMENT;
        table = C1Z_ENTITLEMENTS;
        buf_adds(v, "{\"type\":\"entitlement\"");
        json_str(v, "resource_type_id", s2);
        json_str(v, "resource_id", s3);
        json_str(v, "external_id", s1);
        bad = tail(im, "c1.storage.v3.EntitlementRecord", val, vlen, &fs, 8) < 0;
        ids.id = s1;
        break;
    case T_GRANT: {
        struct fields p;
        int has_p;
        bad = bad || str_field(&fs, 2, &s1) < 0 || msg_field(&fs, 3, &a, &present) < 0 ||
              str_field(&a, 1, &s2) < 0 || str_field(&a, 2, &s3) < 0 || str_field(&a, 3, &s4) < 0 ||
              msg_field(&fs, 4, &p, &has_p) < 0 || str_field(&p, 1, &s5) < 0 ||
              str_field(&p, 2, &ids.principal_id) < 0;
        if (bad)
            break;
        type = MODEL_GRANT;
        table = C1Z_GRANTS;
        if (s1.len == 0) {
            /* baton's id for a grant without one (C1Z3.md) */
            buf_add(&composed, s4.data, s4.len);
            buf_addc(&composed, ':');
            buf_add(&composed, s5.data, s5.len);
            buf_addc(&composed, ':');
            buf_add(&composed, ids.principal_id.data, ids.principal_id.len);
            s1 = (struct model_str){composed.data, composed.len};
        }
        buf_adds(v, "{\"type\":\"grant\"");
        json_str(v, "resource_type_id", s2);
        json_str(v, "resource_id", s3);
        json_str(v, "entitlement_id", s4);
        json_str(v, "principal_resource_type_id", s5);
        json_str(v, "principal_resource_id", ids.principal_id);
        json_str(v, "external_id", s1);
        bad = tail(im, "c1.storage.v3.GrantRecord", val, vlen, &fs, 5) < 0;
        ids.id = s1;
        ids.entitlement = s4;
        ids.principal_type = s5;
        break;
    }
    case T_ASSET:
        bad = bad || str_field(&fs, 2, &s1) < 0 || str_field(&fs, 3, &s2) < 0;
        if (bad)
            break;
        type = MODEL_ASSET;
        table = C1Z_ASSETS;
        buf_adds(v, "{\"type\":\"asset\"");
        json_str(v, "external_id", s1);
        json_str(v, "content_type", s2);
        bad = tail(im, "c1.storage.v3.AssetRecord", val, vlen, &fs, 5) < 0;
        ids.id = s1;
        break;
    case T_SYNC_RUN: {
        bad = bad || str_field(&fs, 1, &s1) < 0 || str_field(&fs, 3, &s2) < 0 ||
              str_field(&fs, 6, &s3) < 0 || (fs.has[2] && fs.f[2].type != PB_VARINT);
        if (bad)
            break;
        if (s1.len != strlen(im->sync_id) || memcmp(s1.data, im->sync_id, s1.len))
            return engine_msgf(msg, -EINVAL,
                               "'%s': its sync run record names sync '%.*s', its manifest '%s'",
                               im->path, (int)(s1.len > 200 ? 200 : s1.len), s1.data, im->sync_id);
        im->sync_run_seen = 1;
        type = MODEL_SYNC_RUN;
        table = C1Z_SYNC_RUNS;
        const char *st = sync_type_name(fs.has[2] ? fs.f[2].u64 : 0);
        buf_adds(v, "{\"type\":\"sync_run\"");
        json_str(v, "sync_id", s1);
        bad = json_time(v, "started_at", &fs, 4) < 0 || json_time(v, "ended_at", &fs, 5) < 0;
        json_str(v, "sync_token", s3);
        if (st)
            json_str(v, "sync_type", (struct model_str){st, strlen(st)});
        else
            buf_addf(v, ",\"sync_type\":%llu", (unsigned long long)fs.f[2].u64);
        json_str(v, "parent_sync_id", s2);
        json_data(im, "c1.storage.v3.SyncRunRecord", val, vlen);
        ids.id = s1;
        break;
    }
    case T_SESSION:
        bad = bad || str_field(&fs, 2, &s1) < 0 || str_field(&fs, 3, &s2) < 0;
        if (bad)
            break;
        type = MODEL_CONNECTOR_SESSION;
        table = C1Z_CONNECTOR_SESSIONS;
        buf_adds(v, "{\"type\":\"connector_session\"");
        json_str(v, "key", s1);
        json_b64(v, "value_b64", s2.data, s2.len);
        buf_adds(v, ",\"sync_id\":");
        buf_add_json_string(v, im->sync_id, strlen(im->sync_id));
        ids.id = s1;
        break;
    default:
        return engine_msgf(msg, -EINVAL, "'%s': unknown record type 0x%02x", im->path, t);
    }
    if (bad) {
        buf_release(&composed);
        return engine_msgf(msg, -EINVAL, "'%s': a %s record does not parse (corrupt value)",
                           im->path, type_label(t));
    }
    buf_addc(v, '}');
    int rc = buf_error(&composed) ? engine_msgf(msg, -ENOMEM, "out of memory")
                                  : add(im, type, &ids, msg);
    buf_release(&composed);
    if (rc == 0)
        im->stats.rows[table]++;
    return rc;
}

/* The engine metadata: keyspace_version must be ours; the rest is skipped. */
static int meta(struct c1z3_import *im, const unsigned char *k, size_t kl, const unsigned char *v,
                size_t vl, char **msg)
{
    static const char name[] = "keyspace_version";
    if (kl != 2 + sizeof name - 1 || memcmp(k + 2, name, sizeof name - 1))
        return 0;
    if (vl != 4)
        return engine_msgf(msg, -EINVAL, "'%s': its keyspace_version is %zu bytes, not 4", im->path,
                           vl);
    uint32_t ver = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
    if (ver != KEYSPACE_VERSION)
        return engine_msgf(msg, -ENOTSUP, "'%s': keyspace version %u; only version %d is supported",
                           im->path, ver, KEYSPACE_VERSION);
    im->keyspace_ok = 1;
    return 0;
}

static int read_db(struct c1z3_import *im, char **msg)
{
    int rc;
    if ((rc = pebble_open(im->dir, &im->db, msg)) || (rc = pebble_iter_new(im->db, &im->it, msg)))
        return rc;
    const void *k, *v;
    size_t kl, vl;
    while ((rc = pebble_iter_next(im->it, &k, &kl, &v, &vl, msg)) == 1) {
        const unsigned char *key = k;
        if (kl < 2 || key[0] != KS_RECORDS)
            return engine_msgf(msg, -EINVAL, "'%s': a key outside the record keyspace (0x%02x)",
                               im->path, kl ? key[0] : 0);
        unsigned t = key[1];
        if (t == T_INDEX || t == T_COUNTER || t == T_DIGEST)
            continue; /* derived: the store builds its own */
        if (t == T_META)
            rc = meta(im, key, kl, v, vl, msg);
        else
            rc = record(im, t, v, vl, msg);
        if (rc)
            return rc;
    }
    if (rc < 0)
        return rc;
    if (!im->keyspace_ok)
        return engine_msgf(msg, -ENOTSUP, "'%s': no keyspace_version in its database", im->path);
    if (!im->sync_run_seen)
        return engine_msgf(msg, -EINVAL, "'%s': its database holds no sync run record", im->path);
    return 0;
}

/* The file's one sync, and the caller's choice of syncs. */
static int pick_sync(struct c1z3_import *im, const char *const *sync_ids, size_t n, char **msg)
{
    if (im->m.n_sync_runs != 1)
        return engine_msgf(msg, -ENOTSUP,
                           "'%s': its manifest names %zu sync runs; a C1Z3 file holds one",
                           im->path, im->m.n_sync_runs);
    im->sync_id = im->m.sync_runs[0].sync_id;
    for (size_t i = 0; i < n; i++)
        if (strcmp(sync_ids[i], im->sync_id))
            return engine_msgf(msg, -ENOENT, "sync '%s' is not in '%s' (it holds '%s')",
                               sync_ids[i], im->path, im->sync_id);
    return 0;
}

/* The envelope's progress (bytes of the file read) as an import's. */
static void unpacking(void *arg, uint64_t done, uint64_t total)
{
    const struct c1z_progress *p = arg;
    (void)total;
    p->fn(p->arg, "unpacking", 0, done);
}

/* A manifest time in RFC 3339, or "" when absent. */
static void run_time(const struct c1z3_time *t, char *out, size_t size)
{
    out[0] = '\0';
    if (!t->set)
        return;
    time_t tt = (time_t)t->seconds;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Records the sync's run from the manifest's summary; metadata, best effort. */
static void record_run(struct c1z3_import *im)
{
    const struct c1z3_sync_summary *s = &im->m.sync_runs[0];
    struct engine_sync_run run = {.format = "c1z3"};
    run_time(&s->started, run.started_at, sizeof run.started_at);
    run_time(&s->ended, run.ended_at, sizeof run.ended_at);
    const char *t = sync_type_name(s->type);
    snprintf(run.type, sizeof run.type, "%s", t ? t : "");
    engine_sync_run_put(im->e, im->sync_id, &run, NULL);
}

int c1z3_import(engine *e, const char *path, const char *const *sync_ids, size_t n_sync_ids,
                const struct c1z_progress *progress, struct c1z_stats *stats, char **msg)
{
    struct c1z3_import im = {.e = e, .path = path};
    buf_init(&im.value);
    buf_init(&im.key);
    if (stats)
        memset(stats, 0, sizeof *stats);
    int rc = make_dir(&im, msg);
    int report = progress && progress->fn;
    if (rc == 0)
        rc = c1z3_unpack_progress(path, im.dir, &im.m, report ? unpacking : NULL, (void *)progress,
                                  msg);
    if (rc == 0)
        rc = pick_sync(&im, sync_ids, n_sync_ids, msg);
    if (rc == 0) {
        char *m = NULL;
        rc = pb_schema_baton(im.m.descriptors, im.m.descriptors_len, &im.schema, &m);
        if (rc)
            engine_msgf(msg, rc, "'%s': %s", path, m ? m : engine_strerror(rc));
        free(m);
    }
    struct loader_options opt = {.replace = 1};
    if (report) {
        opt.progress = progress->fn;
        opt.progress_arg = progress->arg;
    }
    if (rc == 0 && (rc = loader_new(e, &opt, &im.l, msg)) == 0)
        rc = loader_name_sync(im.l, im.sync_id, msg);
    if (rc == 0)
        rc = read_db(&im, msg);
    struct c1z_sync_stats *per_sync = NULL;
    if (rc == 0 && stats && !(per_sync = calloc(1, sizeof *per_sync)))
        rc = engine_msgf(msg, -ENOMEM, "out of memory");
    struct loader_stats ls = {0};
    if (rc == 0) {
        char *m = NULL;
        rc = loader_commit(im.l, &ls, &m);
        if (rc)
            engine_msgf(msg, rc, "cannot import '%s': %s", path, m ? m : engine_strerror(rc));
        free(m);
    }
    if (rc == 0)
        record_run(&im);
    if (rc == 0 && stats) {
        *per_sync = im.stats;
        snprintf(per_sync->sync_id, sizeof per_sync->sync_id, "%s", im.sync_id);
        stats->syncs = per_sync;
        per_sync = NULL;
        stats->n_syncs = 1;
        stats->records = ls.records;
        for (int t = 0; t < C1Z_TABLE_COUNT; t++) {
            stats->table_rows[t] = stats->syncs[0].rows[t];
            stats->rows += stats->syncs[0].rows[t];
        }
    }
    free(per_sync);
    pebble_iter_free(im.it);
    pebble_close(im.db);
    loader_free(im.l);
    if (im.dir) {
        c1z3_remove_unpacked(im.dir);
        free(im.dir);
    }
    c1z3_manifest_release(&im.m);
    pb_schema_free(im.schema);
    buf_release(&im.value);
    buf_release(&im.key);
    return rc;
}
