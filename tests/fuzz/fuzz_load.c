/*
 * fuzz_load.c - libFuzzer target for the JSON Lines parser of `load`
 * (jsonl_parse_line and jsonl_add_line in tools/formats/jsonl.c).
 *
 * Input: one flag byte, then JSON Lines text.  Flag bits: 0 replace mode,
 * 1 --sync s1, 2-3 the loader's chunk size (default, 64, 512 or 4096 bytes:
 * small chunks make many overlapping sorted runs).
 *
 * Each line is parsed alone and checked:
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

/* Parses one line and checks it; returns 1 when jsonl_add_line() must accept
 * it, adding its records to the model. */
static int check_line(const char *line, size_t len, const char *default_sync, struct model *m,
                      size_t *n_lines, size_t *n_records)
{
    struct jsonl_line pl;
    char *msg = NULL;
    int rc = jsonl_parse_line(line, len, default_sync, &pl, &msg);
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
