/*
 * fuzz_load.c - libFuzzer target for the JSON Lines parser of `load`
 * (jsonl_parse_line and jsonl_add_line in tools/formats/jsonl.c).
 *
 * Input: one flag byte, then JSON Lines text.  Flag bits: 0 replace mode,
 * 1 --sync s1, 2-3 the loader's chunk size (default, 64, 512 or 4096 bytes:
 * small chunks make many overlapping sorted runs).
 *
 * Each line is parsed alone and checked:
 *   - the verdict and the records equal those of an oracle of this file's own
 *     (SPEC's line rules applied to jansson's parse; see "The oracle");
 *   - a refused line has -EINVAL, a message and no records;
 *   - a parsed line has a sync (--sync's when given), 0 records when blank,
 *     else 1 (3 for a grant, whose first value is the line itself);
 *   - every record whose parts pass the data model's checks encodes to an
 *     on-disk key within ENGINE_DISK_KEY_MAX that decodes to the same parts,
 *     and writing it as `dump` does, then parsing that line, gives the same
 *     record back (the `dump | load` contract).
 * The lines are also loaded for real, into an in-memory engine that holds a
 * few records already (fake_engine.c): jsonl_add_line() must succeed exactly
 * when the line parsed and its records pass the checks, a failure must carry
 * a message, and after the commit the store must hold what a naive model says
 * (the last record for a key wins; replace mode empties the named syncs
 * first; other syncs keep their records).
 */
#include "buf.h"
#include "engine.h"
#include "fake_engine.h"
#include "jsonl.h"
#include "loader.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

#define DEFAULT_SYNC "s1"

/* Records the model expects, in arrival order. */
struct expect {
    char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    size_t seq;
    int pre; /* in the store before the load */
};

struct model {
    struct expect *v;
    size_t n, cap;
    char **syncs; /* named syncs */
    size_t n_syncs;
};

static void model_add(struct model *m, const char *key, size_t key_len, const char *value,
                      size_t value_len, int pre)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->v = realloc(m->v, m->cap * sizeof *m->v);
        CHECK(m->v);
    }
    char *k = malloc(key_len + value_len + 1);
    CHECK(k);
    memcpy(k, key, key_len);
    if (value_len)
        memcpy(k + key_len, value, value_len);
    m->v[m->n] = (struct expect){k, key_len, k + key_len, value_len, m->n, pre};
    m->n++;
}

static void model_name_sync(struct model *m, const char *sync)
{
    for (size_t i = 0; i < m->n_syncs; i++)
        if (!strcmp(m->syncs[i], sync))
            return;
    m->syncs = realloc(m->syncs, (m->n_syncs + 1) * sizeof *m->syncs);
    CHECK(m->syncs);
    m->syncs[m->n_syncs] = strdup(sync);
    CHECK(m->syncs[m->n_syncs]);
    m->n_syncs++;
}

static int model_names(const struct model *m, const char *disk_key)
{
    for (size_t i = 0; i < m->n_syncs; i++)
        if (!strcmp(m->syncs[i], disk_key)) /* the sync_id ends at the key's first NUL */
            return 1;
    return 0;
}

static void model_release(struct model *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i].key);
    free(m->v);
    for (size_t i = 0; i < m->n_syncs; i++)
        free(m->syncs[i]);
    free(m->syncs);
}

static int cmp_bytes(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static int cmp_expect(const void *pa, const void *pb)
{
    const struct expect *a = pa, *b = pb;
    int c = cmp_bytes(a->key, a->key_len, b->key, b->key_len);
    if (c)
        return c;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The store after the load, as the model sees it, against the fake engine. */
static void model_compare(struct model *m, engine *e, int replace)
{
    qsort(m->v, m->n, sizeof *m->v, cmp_expect);
    size_t j = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct expect *x = &m->v[i];
        if (i + 1 < m->n && !cmp_bytes(x->key, x->key_len, m->v[i + 1].key, m->v[i + 1].key_len))
            continue; /* a later record for the key wins */
        if (x->pre && replace && model_names(m, x->key))
            continue; /* the named sync was emptied first */
        const char *k, *v;
        size_t kl, vl;
        CHECK(j < fake_engine_count(e));
        fake_engine_record(e, j++, &k, &kl, &v, &vl);
        CHECK(kl == x->key_len && !memcmp(k, x->key, kl));
        CHECK(vl == x->value_len && (vl == 0 || !memcmp(v, x->value, vl)));
    }
    CHECK(j == fake_engine_count(e));
}

/* The record as `dump` writes it, parsed again, must be the same record. */
static void check_dump_round_trip(const char *sync, const struct jsonl_record *r)
{
    struct buf line = BUF_INIT;
    buf_adds(&line, "{\"sync\":");
    buf_add_json_string(&line, sync, strlen(sync));
    buf_adds(&line, ",\"bucket\":");
    buf_add_json_string(&line, r->bucket, strlen(r->bucket));
    buf_add_json_bytes_field(&line, "key", r->key, r->key_len, 0);
    buf_add_json_bytes_field(&line, "value", r->value, r->value_len, 0);
    buf_add(&line, "}\n", 2);
    struct jsonl_line again;
    char *msg = NULL;
    int rc = jsonl_parse_line(line.data, line.len, NULL, &again, &msg);
    CHECK(rc == 0 && !msg);
    CHECK(again.n_records == 1 && !strcmp(again.sync, sync));
    const struct jsonl_record *a = &again.records[0];
    CHECK(!strcmp(a->bucket, r->bucket));
    CHECK(a->key_len == r->key_len && !memcmp(a->key, r->key, r->key_len));
    CHECK(a->value_len == r->value_len && !memcmp(a->value, r->value, r->value_len));
    jsonl_line_release(&again);
    buf_release(&line);
}

/* Whether loader_add() accepts the record; when it does, the on-disk key
 * round-trips. */
static int record_valid(const char *sync, const struct jsonl_record *r, char *disk_key,
                        size_t *disk_len)
{
    if (engine_check_sync_id(sync, strlen(sync), NULL) ||
        engine_check_bucket(r->bucket, strlen(r->bucket), NULL) ||
        engine_check_key(r->key, r->key_len, NULL) || engine_check_value_len(r->value_len, NULL))
        return 0;
    *disk_len = engine_key_encode(disk_key, sync, r->bucket, r->key, r->key_len);
    CHECK(*disk_len <= ENGINE_DISK_KEY_MAX);
    struct engine_key_parts p;
    CHECK(engine_key_decode(disk_key, *disk_len, &p, NULL) == 0);
    CHECK(p.sync_id_len == strlen(sync) && !memcmp(p.sync_id, sync, p.sync_id_len));
    CHECK(p.bucket_len == strlen(r->bucket) && !memcmp(p.bucket, r->bucket, p.bucket_len));
    CHECK(p.key_len == r->key_len && !memcmp(p.key, r->key, p.key_len));
    return 1;
}

/* ---- The oracle: SPEC's line rules, written here again ----
 *
 * jsonl.c is not asked whether a line is good: the rules of SPEC "load" (and
 * docs/USAGE.md where SPEC is silent: the fields a raw line may hold,
 * canonical base64) are applied here on jansson's parse of the line, with a
 * base64 decoder of their own, and must give the same verdict and the same
 * records as jsonl_parse_line().  Only the JSON grammar is shared (jansson,
 * with NUL allowed in strings and duplicate names refused). */

struct orec {
    char *bucket; /* malloc'd, as key and owned */
    char *key;
    size_t key_len;
    const char *value; /* the line itself, or "" */
    size_t value_len;
    char *owned; /* a raw line's decoded value */
};

static int b64_digit(unsigned char c)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

/* Standard base64 with padding, no whitespace, and zero bits after the last
 * byte (so that each byte string has one text): the length, or -1. */
static long b64_decode(const char *s, size_t n, char *out)
{
    if (n % 4)
        return -1;
    long len = 0;
    for (size_t i = 0; i < n; i += 4) {
        int pad = 0;
        unsigned w = 0;
        for (int k = 0; k < 4; k++) {
            int d;
            if (s[i + k] == '=' && i + 4 == n && (k == 3 || (k == 2 && s[i + 3] == '='))) {
                pad++;
                d = 0;
            } else if ((d = b64_digit((unsigned char)s[i + k])) < 0) {
                return -1;
            }
            w = w << 6 | (unsigned)d;
        }
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return -1;
        out[len++] = (char)(w >> 16);
        if (pad < 2)
            out[len++] = (char)(w >> 8);
        if (pad < 1)
            out[len++] = (char)w;
    }
    return len;
}

/* A string field without NUL, or NULL. */
static const char *o_str(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!v || !json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return NULL;
    return json_string_value(v);
}

/* A non-empty string field (NUL allowed: ids are key bytes), or NULL. */
static const char *o_id(json_t *o, const char *name, size_t *len)
{
    json_t *v = json_object_get(o, name);
    if (!v || !json_is_string(v) || !json_string_length(v))
        return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Exactly one of name / name_b64, a string; the bytes into out (malloc'd). */
static int o_bytes(json_t *o, const char *name, char **out, size_t *len)
{
    char b64name[16];
    snprintf(b64name, sizeof b64name, "%s_b64", name);
    json_t *plain = json_object_get(o, name), *b64 = json_object_get(o, b64name);
    json_t *v = plain ? plain : b64;
    if ((plain && b64) || !v || !json_is_string(v))
        return 0;
    size_t n = json_string_length(v);
    *out = malloc(n + 1);
    CHECK(*out);
    if (plain) {
        memcpy(*out, json_string_value(v), n);
        *len = n;
        return 1;
    }
    long got = b64_decode(json_string_value(v), n, *out);
    if (got < 0) {
        free(*out);
        *out = NULL;
        return 0;
    }
    *len = (size_t)got;
    return 1;
}

static void o_key(struct orec *r, const char *bucket, const char *const parts[],
                  const size_t lens[], size_t n)
{
    r->bucket = strdup(bucket);
    size_t total = n;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    r->key = malloc(total);
    CHECK(r->bucket && r->key);
    r->key_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i)
            r->key[r->key_len++] = '/';
        memcpy(r->key + r->key_len, parts[i], lens[i]);
        r->key_len += lens[i];
    }
}

/* SPEC's verdict on a line: the number of records (0 for a blank line) into
 * *n, and 1; or 0 for a line that must be refused.  *sync is the line's sync. */
static int oracle(const char *line, size_t len, const char *default_sync, struct orec out[3],
                  size_t *n, char **sync)
{
    *n = 0;
    if (len && line[len - 1] == '\n')
        len--;
    if (len && line[len - 1] == '\r')
        len--;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == len)
        return 1; /* blank */
    json_t *o = json_loadb(line, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
    int ok = 0;
    if (!o || !json_is_object(o))
        goto out;
    json_t *sv = json_object_get(o, "sync");
    const char *s = default_sync;
    if (sv) {
        const char *named = o_str(o, "sync");
        if (!named || (default_sync && strcmp(named, default_sync)))
            goto out;
        s = named;
    }
    if (!s)
        goto out;
    *sync = strdup(s);
    CHECK(*sync);
    json_t *type = json_object_get(o, "type"), *bucket = json_object_get(o, "bucket");
    if (!type == !bucket)
        goto out;
    if (bucket) {
        const char *field;
        json_t *v;
        json_object_foreach(o, field, v)
        {
            static const char *const allowed[] = {"sync",    "bucket", "key",
                                                  "key_b64", "value",  "value_b64"};
            int known = 0;
            for (size_t k = 0; k < 6; k++)
                known |= !strcmp(field, allowed[k]);
            if (!known)
                goto out;
        }
        const char *b = o_str(o, "bucket");
        char *key = NULL;
        size_t key_len, value_len;
        if (!b || !o_bytes(o, "key", &key, &key_len))
            goto out;
        if (!o_bytes(o, "value", &out[0].owned, &value_len)) {
            free(key);
            goto out;
        }
        out[0].bucket = strdup(b);
        CHECK(out[0].bucket);
        out[0].key = key;
        out[0].key_len = key_len;
        out[0].value = out[0].owned;
        out[0].value_len = value_len;
        *n = 1;
        ok = 1;
        goto out;
    }
    const char *t = o_str(o, "type");
    size_t id_len, a_len, b_len, c_len;
    const char *id = o_id(o, "id", &id_len);
    if (!t || !id)
        goto out;
    for (size_t k = 0; k < 3; k++)
        out[k].value = "", out[k].value_len = 0;
    out[0].value = line;
    out[0].value_len = len;
    if (!strcmp(t, "resource_type")) {
        o_key(&out[0], "resource_types", (const char *[]){id}, (size_t[]){id_len}, 1);
        *n = 1;
    } else if (!strcmp(t, "entitlement")) {
        o_key(&out[0], "entitlements", (const char *[]){id}, (size_t[]){id_len}, 1);
        *n = 1;
    } else if (!strcmp(t, "resource")) {
        const char *rt = o_id(o, "resource_type", &a_len);
        if (!rt)
            goto out;
        o_key(&out[0], "resources", (const char *[]){rt, id}, (size_t[]){a_len, id_len}, 2);
        *n = 1;
    } else if (!strcmp(t, "grant")) {
        const char *ent = o_id(o, "entitlement", &a_len);
        const char *pt = o_id(o, "principal_type", &b_len);
        const char *pid = o_id(o, "principal_id", &c_len);
        if (!ent || !pt || !pid)
            goto out;
        o_key(&out[0], "grants", (const char *[]){id}, (size_t[]){id_len}, 1);
        o_key(&out[1], "grants_by_entitlement", (const char *[]){ent, id},
              (size_t[]){a_len, id_len}, 2);
        o_key(&out[2], "grants_by_principal", (const char *[]){pt, pid, id},
              (size_t[]){b_len, c_len, id_len}, 3);
        *n = 3;
    } else {
        goto out;
    }
    ok = 1;
out:
    if (o)
        json_decref(o);
    if (!ok)
        *n = 0;
    return ok;
}

/* jsonl_parse_line()'s result (rc, pl) agrees with the oracle's. */
static void oracle_agrees(const char *line, size_t len, const char *default_sync, int rc,
                          const struct jsonl_line *pl)
{
    struct orec want[3] = {0};
    size_t n;
    char *sync = NULL;
    int ok = oracle(line, len, default_sync, want, &n, &sync);
    CHECK(ok == (rc == 0));
    if (ok) {
        CHECK(pl->n_records == n);
        CHECK(n == 0 || !strcmp(pl->sync, sync));
        for (size_t i = 0; i < n; i++) {
            const struct jsonl_record *r = &pl->records[i];
            CHECK(!strcmp(r->bucket, want[i].bucket));
            CHECK(r->key_len == want[i].key_len && !memcmp(r->key, want[i].key, r->key_len));
            CHECK(r->value_len == want[i].value_len &&
                  (!r->value_len || !memcmp(r->value, want[i].value, r->value_len)));
        }
    }
    free(sync);
    for (size_t i = 0; i < 3; i++) {
        free(want[i].bucket);
        free(want[i].key);
        free(want[i].owned);
    }
}

/* Parses one line and checks it; returns 1 when jsonl_add_line() must accept
 * it, adding its records to the model. */
static int check_line(const char *line, size_t len, const char *default_sync, struct model *m,
                      size_t *n_lines, size_t *n_records)
{
    struct jsonl_line pl;
    char *msg = NULL;
    int rc = jsonl_parse_line(line, len, default_sync, &pl, &msg);
    oracle_agrees(line, len, default_sync, rc, &pl);
    if (rc) {
        CHECK(rc == -EINVAL && msg && pl.n_records == 0);
        free(msg);
        jsonl_line_release(&pl);
        return 0;
    }
    CHECK(!msg);
    CHECK(pl.n_records == 0 || pl.n_records == 1 || pl.n_records == 3);
    int ok = 1;
    if (pl.n_records) {
        CHECK(pl.sync);
        if (default_sync)
            CHECK(!strcmp(pl.sync, default_sync));
        if (pl.n_records == 3)
            CHECK(!strcmp(pl.records[0].bucket, "grants"));
        /* A typed line's value is the line itself, without its line end. */
        const struct jsonl_record *r0 = &pl.records[0];
        if (r0->value >= line && r0->value < line + len) {
            size_t stripped = len;
            if (stripped && line[stripped - 1] == '\n')
                stripped--;
            if (stripped && line[stripped - 1] == '\r')
                stripped--;
            CHECK(r0->value == line && r0->value_len == stripped);
        }
        char disk_key[ENGINE_DISK_KEY_MAX];
        size_t disk_len;
        for (size_t i = 0; i < pl.n_records && ok; i++) {
            const struct jsonl_record *r = &pl.records[i];
            if (!record_valid(pl.sync, r, disk_key, &disk_len)) {
                ok = 0;
                break;
            }
            check_dump_round_trip(pl.sync, r);
            model_add(m, disk_key, disk_len, r->value, r->value_len, 0);
            (*n_records)++;
        }
        if (ok) {
            model_name_sync(m, pl.sync);
            (*n_lines)++;
        }
    }
    jsonl_line_release(&pl);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t chunks[] = {0, 64, 512, 4096};
    struct loader_options opt = {
        .replace = data[0] & 1,
        .default_sync = data[0] & 2 ? DEFAULT_SYNC : NULL,
        .chunk_bytes = chunks[(data[0] >> 2) & 3],
    };
    const char *text = (const char *)data + 1;
    size_t text_len = size - 1;

    engine *e = fake_engine_new();
    struct model m = {0};
    /* What the store holds before: two syncs a load may name, one it cannot. */
    static const char *const pre[] = {"s1", "s2", "s1.x"};
    for (size_t i = 0; i < sizeof pre / sizeof *pre; i++) {
        char k[32];
        size_t n = engine_key_encode(k, pre[i], "b", "pre", 3);
        fake_engine_put(e, k, n, "old", 3);
        model_add(&m, k, n, "old", 3, 1);
    }

    loader *l = NULL;
    char *msg = NULL;
    CHECK(loader_new(e, &opt, &l, &msg) == 0);
    int all_ok = 1;
    size_t n_lines = 0, n_records = 0;
    for (size_t at = 0; at < text_len;) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', text_len - at);
        size_t len = nl ? (size_t)(nl - line) + 1 : text_len - at;
        at += len;
        int want = check_line(line, len, opt.default_sync, &m, &n_lines, &n_records);
        int rc = jsonl_add_line(l, line, len, &msg);
        CHECK((rc == 0) == want);
        if (rc) {
            CHECK(rc == -EINVAL && msg);
            free(msg);
            msg = NULL;
            all_ok = 0;
            break;
        }
    }
    if (all_ok) {
        struct loader_stats st;
        CHECK(loader_commit(l, &st, &msg) == 0);
        CHECK(st.lines == n_lines && st.records == n_records && st.syncs == m.n_syncs);
        CHECK(fake_engine_commits(e) == 1);
        model_compare(&m, e, opt.replace);
    }
    loader_free(l);
    if (!all_ok) {
        CHECK(fake_engine_commits(e) == 0);
        CHECK(fake_engine_count(e) == sizeof pre / sizeof *pre);
    }
    model_release(&m);
    fake_engine_free(e);
    return 0;
}
