/*
 * meta.c - the store's own small records, outside every sync range (on-disk
 * key 0xFF <name>), and the one owner of their names and value formats.
 *
 * Three kinds exist, one record per sync each (engine.h lists them):
 * "synctime/<sync_id>", written here; "reclaim/<sync_id>", written by
 * reclaim.c; "status/<sync_id>", the compaction status record a mount writes
 * through the codec below.  engine_meta_problem() is what `check` asks about
 * every metadata record it finds, so a new kind is added here or nowhere.
 */
#include "engine_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Records ---- */

#define META_PREFIX '\xff'

static char *meta_key(const char *name, size_t *len)
{
    size_t n = strlen(name);
    char *k = malloc(n + 1);
    if (!k)
        return NULL;
    k[0] = META_PREFIX;
    memcpy(k + 1, name, n);
    *len = n + 1;
    return k;
}

int engine_meta_put(engine *e, const char *name, const void *value, size_t len, char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    size_t klen;
    char *k = meta_key(name, &klen);
    if (!k)
        return -ENOMEM;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_put(e->db, wo, k, klen, value, len, &err);
    rocksdb_writeoptions_destroy(wo);
    free(k);
    if (err)
        return engine_take_error(err, msg, "cannot write metadata '%s' of store '%s'", name,
                                 e->path);
    return 0;
}

int engine_meta_get(engine *e, const char *name, char **value, size_t *len, char **msg)
{
    size_t klen;
    char *k = meta_key(name, &klen);
    if (!k)
        return -ENOMEM;
    const rocksdb_snapshot_t *own;
    rocksdb_readoptions_t *ro = engine_read_begin(e, NULL, &own);
    char *err = NULL;
    rocksdb_pinnableslice_t *v = rocksdb_get_pinned(e->db, ro, k, klen, &err);
    engine_read_end(e, ro, own);
    free(k);
    if (err)
        return engine_take_error(err, msg, "cannot read metadata '%s' of store '%s'", name,
                                 e->path);
    if (!v)
        return -ENOENT;
    size_t n;
    const char *data = rocksdb_pinnableslice_value(v, &n);
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, data, n);
        copy[n] = '\0';
    }
    rocksdb_pinnableslice_destroy(v);
    if (!copy)
        return -ENOMEM;
    *value = copy;
    if (len)
        *len = n;
    return 0;
}

int engine_meta_delete(engine *e, const char *name, char **msg)
{
    if (e->read_only)
        return engine_msgf(msg, -EROFS, "store '%s' is open read-only", e->path);
    size_t klen;
    char *k = meta_key(name, &klen);
    if (!k)
        return -ENOMEM;
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    char *err = NULL;
    rocksdb_delete(e->db, wo, k, klen, &err);
    rocksdb_writeoptions_destroy(wo);
    free(k);
    if (err)
        return engine_take_error(err, msg, "cannot delete metadata '%s' of store '%s'", name,
                                 e->path);
    return 0;
}

int engine_meta_list(engine *e, const char *prefix,
                     int (*fn)(void *arg, const char *name, const char *value, size_t len),
                     void *arg, char **msg)
{
    size_t lo_len;
    char *lo = meta_key(prefix, &lo_len);
    if (!lo)
        return -ENOMEM;
    const rocksdb_snapshot_t *own;
    rocksdb_readoptions_t *ro = engine_read_begin(e, NULL, &own);
    rocksdb_readoptions_set_iterate_lower_bound(ro, lo, lo_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator(e->db, ro);
    int rc = 0;
    char name[ENGINE_DISK_KEY_MAX + 1];
    for (rocksdb_iter_seek(it, lo, lo_len); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        if (kl < lo_len || memcmp(k, lo, lo_len))
            break;
        if (kl - 1 > ENGINE_DISK_KEY_MAX)
            continue;
        memcpy(name, k + 1, kl - 1);
        name[kl - 1] = '\0';
        const char *v = rocksdb_iter_value(it, &vl);
        if ((rc = fn(arg, name, v, vl)) != 0)
            break;
    }
    if (rc == 0) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (err)
            rc = engine_take_error(err, msg, "cannot read metadata of store '%s'", e->path);
    }
    rocksdb_iter_destroy(it);
    engine_read_end(e, ro, own);
    free(lo);
    return rc;
}

int engine_sync_touch(engine *e, const char *sync_id, char **msg)
{
    char name[sizeof ENGINE_META_SYNCTIME + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, ENGINE_META_SYNCTIME "%.128s", sync_id);
    char value[32];
    int n = snprintf(value, sizeof value, "%lld", (long long)time(NULL));
    return engine_meta_put(e, name, value, (size_t)n, msg);
}

int engine_sync_time(engine *e, const char *sync_id, int64_t *seconds)
{
    char name[sizeof ENGINE_META_SYNCTIME + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, ENGINE_META_SYNCTIME "%.128s", sync_id);
    char *v = NULL;
    int rc = engine_meta_get(e, name, &v, NULL, NULL);
    if (rc || !v)
        return rc ? rc : -EIO;
    *seconds = strtoll(v, NULL, 10);
    free(v);
    return 0;
}

/* ---- Names and values: what `check` asks ---- */

static const char *const meta_prefixes[] = {ENGINE_META_SYNCTIME, ENGINE_META_RECLAIM,
                                            ENGINE_META_STATUS, ENGINE_META_RUN};

static int all_digits(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Why a status record under sync_id is bad, malloc'd, or NULL when it is good. */
static char *status_problem(const char *sync_id, size_t sync_len, const char *v, size_t vlen)
{
    struct engine_status st;
    char *why = NULL;
    int rc = engine_status_decode(v, vlen, &st, &why);
    int got_id = st.sync_id[0] != '\0';
    if (got_id && (strlen(st.sync_id) != sync_len || memcmp(st.sync_id, sync_id, sync_len))) {
        free(why);
        why = strdup("its \"sync_id\" does not match the key");
    } else if (rc && !why) {
        why = strdup("the value is not a status record");
    }
    if (rc == 0)
        engine_status_release(&st);
    return why;
}

int engine_meta_problem(const char *name, size_t name_len, const char *value, size_t len,
                        char **why)
{
    size_t n = sizeof meta_prefixes / sizeof *meta_prefixes;
    size_t p = 0, plen = 0;
    for (; p < n; p++) {
        plen = strlen(meta_prefixes[p]);
        if (name_len > plen && !memcmp(name, meta_prefixes[p], plen))
            break;
    }
    if (p == n)
        return ENGINE_META_UNKNOWN_NAME;
    const char *sync_id = name + plen;
    size_t sync_len = name_len - plen;
    char *inner = NULL;
    if (engine_check_sync_id(sync_id, sync_len, why ? &inner : NULL)) {
        if (why)
            *why = inner;
        return ENGINE_META_BAD_NAME;
    }
    const char *bad = NULL;
    char *bad_status = NULL;
    if (meta_prefixes[p] == meta_prefixes[0]) { /* seconds since the epoch */
        if (!all_digits(value, len) || len > 19)
            bad = "the value is not a time in seconds";
    } else if (meta_prefixes[p] == meta_prefixes[1]) { /* "<seconds>.<nanoseconds>" */
        const char *dot = memchr(value, '.', len);
        if (!dot || !all_digits(value, (size_t)(dot - value)) || dot - value > 19 ||
            !all_digits(dot + 1, len - (size_t)(dot - value) - 1) ||
            len - (size_t)(dot - value) != 10)
            bad = "the value is not a generation \"<seconds>.<nanoseconds>\"";
    } else if (meta_prefixes[p] == meta_prefixes[3]) {
        bad = engine_sync_run_problem(value, len);
    } else {
        bad = bad_status = status_problem(sync_id, sync_len, value, len);
    }
    if (!bad)
        return ENGINE_META_OK;
    if (why)
        *why = strdup(bad);
    free(bad_status);
    return ENGINE_META_BAD_VALUE;
}

/* ---- Status records ---- */

static const char *const status_states[] = {"none",  "running", "done",
                                            "empty", "failed",  "cancelled"};
#define STATUS_STATES (sizeof status_states / sizeof *status_states)

const char *engine_status_state_name(enum engine_status_state state)
{
    return (unsigned)state < STATUS_STATES ? status_states[state] : NULL;
}

/* A growing text; on a failed allocation ok drops to 0 and stays there. */
struct text {
    char *s;
    size_t len, cap;
    int ok;
};

static void text_add(struct text *t, const char *data, size_t n)
{
    if (!t->ok)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->ok = 0;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    memcpy(t->s + t->len, data, n);
    t->len += n;
    t->s[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        t->ok = 0;
    else
        text_add(t, buf, (size_t)n);
}

/* A JSON string of s, or null. */
static void text_json(struct text *t, const char *s)
{
    if (!s) {
        text_str(t, "null");
        return;
    }
    text_str(t, "\"");
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            text_printf(t, "\\%c", c);
        else if (c < 0x20)
            text_printf(t, "\\u%04x", c);
        else
            text_add(t, p, 1);
    }
    text_str(t, "\"");
}

char *engine_json_quote(const char *s)
{
    struct text t = {.ok = 1};
    text_json(&t, s);
    if (!t.ok) {
        free(t.s);
        return NULL;
    }
    return t.s;
}

int engine_status_encode(const struct engine_status *st, char **out, size_t *len)
{
    const char *state = engine_status_state_name(st->state);
    if (!state || engine_check_sync_id(st->sync_id, strlen(st->sync_id), NULL))
        return -EINVAL;
    struct text t = {.ok = 1};
    text_str(&t, "{\"sync_id\":\"");
    text_str(&t, st->sync_id);
    text_str(&t, "\",\"state\":\"");
    text_str(&t, state);
    text_str(&t, "\",\"source\":");
    text_json(&t, st->source);
    text_printf(&t, ",\"keys\":%llu,\"bytes\":%llu,\"seconds\":%.3f,\"error\":",
                (unsigned long long)st->keys, (unsigned long long)st->bytes, st->seconds);
    text_json(&t, st->error);
    if (st->method != ENGINE_STATUS_METHOD_NONE) {
        if ((unsigned)st->method > ENGINE_STATUS_METHOD_COPY) {
            free(t.s);
            return -EINVAL;
        }
        text_printf(&t,
                    ",\"method\":\"%s\",\"files_copied\":%llu,\"bytes_copied\":%llu,"
                    "\"pieces\":%llu,\"threads\":%llu",
                    st->method == ENGINE_STATUS_METHOD_COPY ? "copy" : "stream",
                    (unsigned long long)st->files_copied, (unsigned long long)st->bytes_copied,
                    (unsigned long long)st->pieces, (unsigned long long)st->threads);
    }
    text_str(&t, "}\n");
    if (!t.ok) {
        free(t.s);
        return -ENOMEM;
    }
    *out = t.s;
    *len = t.len;
    return 0;
}

/* The decoder: a cursor over the text and the first thing found wrong. */
struct scan {
    const char *s;
    size_t len, at;
    const char *why; /* static: what is wrong at byte `at` */
    const char *lit; /* or: the literal expected there */
};

static int scan_fail(struct scan *c, const char *why)
{
    if (!c->why)
        c->why = why;
    return -1;
}

/* Consumes the literal lit. */
static int scan_lit(struct scan *c, const char *lit)
{
    size_t n = strlen(lit);
    if (c->len - c->at < n || memcmp(c->s + c->at, lit, n)) {
        if (!c->why)
            c->lit = lit;
        return scan_fail(c, "");
    }
    c->at += n;
    return 0;
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

/* A JSON string as text_json writes it, or null (*out NULL).  *out is malloc'd. */
static int scan_json(struct scan *c, char **out)
{
    *out = NULL;
    if (c->len - c->at >= 4 && !memcmp(c->s + c->at, "null", 4)) {
        c->at += 4;
        return 0;
    }
    if (scan_lit(c, "\""))
        return -1;
    struct text t = {.ok = 1};
    text_add(&t, "", 0);
    while (c->at < c->len && c->s[c->at] != '"') {
        unsigned char ch = (unsigned char)c->s[c->at];
        if (ch < 0x20)
            goto bad;
        if (ch != '\\') {
            text_add(&t, c->s + c->at++, 1);
            continue;
        }
        if (c->at + 1 < c->len && (c->s[c->at + 1] == '"' || c->s[c->at + 1] == '\\')) {
            text_add(&t, c->s + c->at + 1, 1);
            c->at += 2;
            continue;
        }
        /* \u00XX: a byte below 0x20 other than NUL, lowercase hex */
        if (c->len - c->at < 6 || memcmp(c->s + c->at, "\\u00", 4))
            goto bad;
        int hi = hex_digit(c->s[c->at + 4]), lo = hex_digit(c->s[c->at + 5]);
        if (hi < 0 || lo < 0 || hi * 16 + lo >= 0x20 || hi * 16 + lo == 0)
            goto bad;
        char byte = (char)(hi * 16 + lo);
        text_add(&t, &byte, 1);
        c->at += 6;
    }
    if (c->at == c->len)
        goto bad;
    c->at++;
    if (!t.ok) {
        free(t.s);
        return scan_fail(c, "out of memory");
    }
    *out = t.s;
    return 0;
bad:
    free(t.s);
    return scan_fail(c, "a string in it is not one syncstore writes");
}

/* Decimal digits (no leading zero but in "0"); returns where they end. */
static size_t scan_digits(struct scan *c, size_t from)
{
    size_t i = from;
    while (i < c->len && c->s[i] >= '0' && c->s[i] <= '9')
        i++;
    if (i == from || (i - from > 1 && c->s[from] == '0'))
        return 0;
    return i;
}

static int scan_u64(struct scan *c, uint64_t *out)
{
    size_t end = scan_digits(c, c->at);
    if (!end || end - c->at > 20)
        return scan_fail(c, "a count in it is not a decimal count");
    uint64_t v = 0;
    for (size_t i = c->at; i < end; i++) {
        unsigned d = (unsigned)(c->s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return scan_fail(c, "a count in it is not a decimal count");
        v = v * 10 + d;
    }
    *out = v;
    c->at = end;
    return 0;
}

/* "-"? digits "." three digits, as %.3f writes it. */
static int scan_seconds(struct scan *c, double *out)
{
    size_t from = c->at + (c->at < c->len && c->s[c->at] == '-');
    size_t end = scan_digits(c, from);
    if (!end || end - from > 300 || c->len - end < 4 || c->s[end] != '.' ||
        !all_digits(c->s + end + 1, 3))
        return scan_fail(c, "its \"seconds\" is not a number with three decimals");
    end += 4;
    char buf[320];
    memcpy(buf, c->s + c->at, end - c->at);
    buf[end - c->at] = '\0';
    *out = strtod(buf, NULL);
    c->at = end;
    return 0;
}

int engine_status_decode(const char *text, size_t len, struct engine_status *st, char **msg)
{
    memset(st, 0, sizeof *st);
    struct scan c = {.s = text, .len = len};
    if (scan_lit(&c, "{\"sync_id\":\""))
        goto bad;
    const char *id = text + c.at;
    const char *quote = memchr(id, '"', len - c.at);
    if (!quote || (size_t)(quote - id) > ENGINE_SYNC_ID_MAX ||
        engine_check_sync_id(id, (size_t)(quote - id), NULL)) {
        scan_fail(&c, "its \"sync_id\" is not a valid sync_id");
        goto bad;
    }
    memcpy(st->sync_id, id, (size_t)(quote - id));
    st->sync_id[quote - id] = '\0';
    c.at += (size_t)(quote - id);
    if (scan_lit(&c, "\",\"state\":\""))
        goto bad;
    size_t s = 0;
    for (; s < STATUS_STATES; s++) {
        size_t n = strlen(status_states[s]);
        if (c.len - c.at > n && !memcmp(text + c.at, status_states[s], n) && text[c.at + n] == '"')
            break;
    }
    if (s == STATUS_STATES) {
        scan_fail(&c, "its \"state\" is not one of none, running, done, empty, failed, cancelled");
        goto bad;
    }
    st->state = (enum engine_status_state)s;
    c.at += strlen(status_states[s]);
    if (scan_lit(&c, "\",\"source\":") || scan_json(&c, &st->source) ||
        scan_lit(&c, ",\"keys\":") || scan_u64(&c, &st->keys) || scan_lit(&c, ",\"bytes\":") ||
        scan_u64(&c, &st->bytes) || scan_lit(&c, ",\"seconds\":") ||
        scan_seconds(&c, &st->seconds) || scan_lit(&c, ",\"error\":") || scan_json(&c, &st->error))
        goto bad;
    /* the method and its figures: only in records of a finished attempt
     * (records of earlier builds have none) */
    if (c.len - c.at > 1 && text[c.at] == ',') {
        if (scan_lit(&c, ",\"method\":\""))
            goto bad;
        if (c.len - c.at >= 5 && !memcmp(text + c.at, "copy\"", 5)) {
            st->method = ENGINE_STATUS_METHOD_COPY;
            c.at += 5;
        } else if (c.len - c.at >= 7 && !memcmp(text + c.at, "stream\"", 7)) {
            st->method = ENGINE_STATUS_METHOD_STREAM;
            c.at += 7;
        } else {
            scan_fail(&c, "its \"method\" is not copy or stream");
            goto bad;
        }
        if (scan_lit(&c, ",\"files_copied\":") || scan_u64(&c, &st->files_copied) ||
            scan_lit(&c, ",\"bytes_copied\":") || scan_u64(&c, &st->bytes_copied) ||
            scan_lit(&c, ",\"pieces\":") || scan_u64(&c, &st->pieces) ||
            scan_lit(&c, ",\"threads\":") || scan_u64(&c, &st->threads))
            goto bad;
    }
    if (scan_lit(&c, "}\n"))
        goto bad;
    if (c.at != len) {
        scan_fail(&c, "text follows the record");
        goto bad;
    }
    return 0;
bad:
    engine_status_release(st);
    if (c.lit)
        return engine_msgf(msg, -EINVAL,
                           "the value is not a status record: '%s' expected at byte %zu", c.lit,
                           c.at);
    return engine_msgf(msg, -EINVAL, "%s (at byte %zu)", c.why, c.at);
}

void engine_status_release(struct engine_status *st)
{
    free(st->source);
    free(st->error);
    st->source = st->error = NULL;
}

int engine_status_put(engine *e, const struct engine_status *st, char **msg)
{
    char *text;
    size_t len;
    int rc = engine_status_encode(st, &text, &len);
    if (rc)
        return engine_msgf(msg, rc, "cannot encode the status of sync '%s'", st->sync_id);
    char name[sizeof ENGINE_META_STATUS + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, ENGINE_META_STATUS "%s", st->sync_id);
    rc = engine_meta_put(e, name, text, len, msg);
    free(text);
    return rc;
}

int engine_status_get(engine *e, const char *sync_id, struct engine_status *st, char **msg)
{
    int rc = engine_check_sync_id(sync_id, strlen(sync_id), msg);
    if (rc)
        return rc;
    char name[sizeof ENGINE_META_STATUS + ENGINE_SYNC_ID_MAX];
    snprintf(name, sizeof name, ENGINE_META_STATUS "%s", sync_id);
    char *text = NULL;
    size_t len = 0;
    if ((rc = engine_meta_get(e, name, &text, &len, msg)))
        return rc;
    char *why = NULL;
    rc = engine_status_decode(text, len, st, msg ? &why : NULL);
    free(text);
    if (rc) {
        engine_msgf(msg, rc, "metadata '%s' of store '%s': %s", name, e->path,
                    why ? why : "bad status record");
        free(why);
    }
    return rc;
}
