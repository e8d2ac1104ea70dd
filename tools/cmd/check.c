/*
 * check.c - `syncstore check STORE`: verifies a store and says what is
 * wrong with it.
 *
 * The checks, in order: the format marker (present, exact content); the
 * staging area (present, no leftover files); RocksDB opens read-only (as a
 * secondary when a mount holds the store); every block of every live SST
 * file reads back with a good checksum (engine_verify_sst_files, which also
 * reads data hidden by range tombstones); and every on-disk key decodes, every
 * value fits the data model, every metadata record is one syncstore writes.
 * Each problem is one line on stderr naming the store or file and the reason;
 * the exit status is 0 when there is none.  Everything streams: memory does
 * not depend on the size of the store, and at most PROBLEMS_SHOWN problems of
 * the per-key and per-file kinds are printed (all are counted).
 */
#include "commands.h"
#include "engine_admin.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: syncstore check STORE\n"
    "\n"
    "Verifies STORE and exits 0 when it is healthy, printing a summary.  Checks the\n"
    "format marker, that no staging file is left over, that the database opens\n"
    "read-only, that every block of every live SST file reads back with a good\n"
    "checksum (data hidden by range tombstones included), and that every key decodes\n"
    "and every value and metadata record is valid.  Otherwise prints one line per\n"
    "problem on stderr, naming the store or file and the reason, and exits 1.\n"
    "Works while a mount holds the store (it is read as a RocksDB secondary).\n";

/* Per-key and per-file problems printed before the rest are only counted. */
#define PROBLEMS_SHOWN 100

struct checker {
    const char *store;
    unsigned long long problems;     /* all problems */
    unsigned long long many;         /* per-key and per-file problems */
    unsigned long long corrupt_ssts; /* corruptions the SST walk reported */
};

static void vproblem(struct checker *c, int counted_as_many, const char *fmt, va_list ap)
{
    c->problems++;
    if (counted_as_many && ++c->many > PROBLEMS_SHOWN)
        return;
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    cli_error("%s", text ? text : "(out of memory)");
    free(text);
}

/* One problem of the store as a whole. */
static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct checker *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, 0, fmt, ap);
    va_end(ap);
}

/* One of possibly many problems (a key, a file): printed up to PROBLEMS_SHOWN. */
static void problem_many(struct checker *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem_many(struct checker *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vproblem(c, 1, fmt, ap);
    va_end(ap);
}

/* Names and values in messages: up to this many bytes, escaped (engine_quote). */
#define QUOTE_MAX 80

/* ---- The store directory ---- */

static void check_staging(struct checker *c, int held)
{
    char *dir = NULL;
    if (asprintf(&dir, "%s/%s", c->store, ENGINE_STAGING_DIR) < 0) {
        problem(c, "out of memory");
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            problem(c, "store '%s': staging directory '%s' is missing", c->store, dir);
        else
            problem(c, "store '%s': cannot read staging directory '%s': %s", c->store, dir,
                    strerror(errno));
        free(dir);
        return;
    }
    struct dirent *de;
    unsigned long in_use = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (held)
            in_use++;
        else
            problem_many(c,
                         "store '%s': staging file '%s/%s' is left over from an interrupted "
                         "ingest (the next read-write open removes it)",
                         c->store, dir, de->d_name);
    }
    closedir(d);
    if (in_use)
        printf("note: staging directory '%s' holds %lu files; another process holds the "
               "store and may be ingesting them, so they are not counted as problems\n",
               dir, in_use);
    free(dir);
}

/* ---- SST files ---- */

static void bad_sst(void *arg, const char *file, const char *reason)
{
    struct checker *c = arg;
    c->corrupt_ssts++;
    if (file)
        problem_many(c, "store '%s': SST file '%s' is damaged: %s", c->store, file, reason);
    else
        problem_many(c, "store '%s': reading the SST files failed: %s", c->store, reason);
}

/* ---- Records and metadata ---- */

struct counts {
    unsigned long long keys, syncs, metadata, bytes;
    char last_sync[ENGINE_SYNC_ID_MAX + 1];
};

/* Metadata records are 0xFF <name>; engine_meta_problem() knows every name
 * and value format syncstore writes. */
static void check_metadata(struct checker *c, const char *k, size_t klen, const char *v,
                           size_t vlen)
{
    char q[ENGINE_QUOTE_SIZE(QUOTE_MAX)], qv[ENGINE_QUOTE_SIZE(QUOTE_MAX)];
    const char *name = k + 1;
    size_t name_len = klen - 1;
    char *why = NULL;
    switch (engine_meta_problem(name, name_len, v, vlen, &why)) {
    case ENGINE_META_OK:
        break;
    case ENGINE_META_UNKNOWN_NAME:
        problem_many(c, "store '%s': metadata key '\\xff%s' is not one syncstore writes", c->store,
                     engine_quote(name, name_len, QUOTE_MAX, q, sizeof q));
        break;
    case ENGINE_META_BAD_NAME:
        problem_many(c, "store '%s': metadata key '\\xff%s': %s", c->store,
                     engine_quote(name, name_len, QUOTE_MAX, q, sizeof q),
                     why ? why : "bad sync_id");
        break;
    default:
        problem_many(c, "store '%s': metadata record '\\xff%s' = '%s': %s", c->store,
                     engine_quote(name, name_len, QUOTE_MAX, q, sizeof q),
                     engine_quote(v, vlen, QUOTE_MAX, qv, sizeof qv), why ? why : "bad value");
        break;
    }
    free(why);
}

static void check_record(struct checker *c, struct counts *n, const char *k, size_t klen,
                         size_t vlen)
{
    struct engine_key_parts parts;
    char *why = NULL;
    if (engine_key_decode(k, klen, &parts, &why)) {
        problem_many(c, "store '%s': %s", c->store, why ? why : "a key does not decode");
        free(why);
        return;
    }
    if (engine_check_value_len(vlen, &why)) {
        char q[ENGINE_QUOTE_SIZE(QUOTE_MAX)];
        problem_many(c, "store '%s': record '%s': %s", c->store,
                     engine_quote(k, klen, QUOTE_MAX, q, sizeof q),
                     why ? why : "the value is too long");
        free(why);
    }
    n->keys++;
    n->bytes += parts.key_len + vlen;
    if (strlen(n->last_sync) != parts.sync_id_len ||
        memcmp(n->last_sync, parts.sync_id, parts.sync_id_len)) {
        memcpy(n->last_sync, parts.sync_id, parts.sync_id_len);
        n->last_sync[parts.sync_id_len] = '\0';
        n->syncs++;
    }
}

static void check_records(struct checker *c, engine *e, struct counts *n)
{
    engine_iter *it = engine_iter_new_raw(e);
    if (!it) {
        problem(c, "out of memory");
        return;
    }
    char last[ENGINE_DISK_KEY_MAX + 1];
    size_t last_len = 0;
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        size_t klen, vlen;
        const char *k = engine_iter_disk_key(it, &klen);
        const char *v = engine_iter_value(it, &vlen);
        unsigned char first = klen ? (unsigned char)k[0] : 0;
        if (klen > 1 && first == 0xFF) {
            n->metadata++;
            check_metadata(c, k, klen, v, vlen);
        } else if (klen == 0 || first == 0x00 || first == 0xFF) {
            char q[ENGINE_QUOTE_SIZE(QUOTE_MAX)];
            problem_many(c,
                         "store '%s': key '%s' lies in the reserved metadata space but is no "
                         "metadata record syncstore writes",
                         c->store, engine_quote(k, klen, QUOTE_MAX, q, sizeof q));
        } else {
            check_record(c, n, k, klen, vlen);
        }
        last_len = klen < sizeof last ? klen : sizeof last;
        memcpy(last, k, last_len);
    }
    char *msg = NULL;
    int rc = engine_iter_status(it, &msg);
    engine_iter_free(it);
    if (rc) {
        char q[ENGINE_QUOTE_SIZE(QUOTE_MAX)];
        if (rc == ENGINE_ECORRUPT && c->corrupt_ssts)
            cli_error("store '%s': the record walk stopped at the damage reported above; records "
                      "after '%s' were not checked",
                      c->store, engine_quote(last, last_len, QUOTE_MAX, q, sizeof q));
        else
            problem(c, "store '%s': reading the records stopped after key '%s': %s", c->store,
                    engine_quote(last, last_len, QUOTE_MAX, q, sizeof q),
                    msg ? msg : engine_strerror(rc));
    }
    free(msg);
}

int cmd_check(int argc, char **argv)
{
    const char *store = NULL;
    const struct cli_command cmd = {.name = "check", .usage = usage, .args = &store, .max_args = 1};
    int parsed = cli_parse(&cmd, argc, argv, NULL);
    if (parsed >= 0)
        return parsed;
    if (!store) {
        cli_error("check needs STORE (see 'syncstore check --help')");
        return EXIT_USAGE;
    }
    struct stat st;
    if (stat(store, &st) != 0) {
        cli_error("cannot check store '%s': %s", store, strerror(errno));
        return EXIT_WORK;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_error("cannot check store '%s': not a directory", store);
        return EXIT_WORK;
    }

    struct checker c = {.store = store};
    char *msg = NULL;
    int rc = engine_check_format(store, &msg);
    if (rc) {
        problem(&c, "store '%s': %s", store, msg ? msg : engine_strerror(rc));
        free(msg);
        msg = NULL;
        if (rc == ENGINE_EFORMAT) {
            cli_error("store '%s' was not checked further: its format is newer than this "
                      "syncstore",
                      store);
            return EXIT_WORK;
        }
    }

    engine *e = NULL;
    int flags = ENGINE_OPEN_READ_ONLY | (rc ? ENGINE_OPEN_ANY_MARKER : 0);
    rc = engine_open(store, flags, &e, &msg);
    check_staging(&c, e && engine_is_secondary(e));
    struct engine_sst_check sst = {0};
    struct counts n = {0};
    if (rc) {
        problem(&c, "store '%s': the database does not open: %s", store,
                msg ? msg : engine_strerror(rc));
        free(msg);
    } else {
        rc = engine_verify_sst_files(e, &sst, bad_sst, &c, &msg);
        if (rc) {
            problem(&c, "store '%s': cannot read the SST files: %s", store,
                    msg ? msg : engine_strerror(rc));
            free(msg);
        } else if (!sst.complete) {
            cli_error("store '%s': the checksum walk stopped at the damage above; later SST "
                      "blocks were not read",
                      store);
        }
        check_records(&c, e, &n);
    }

    if (c.many > PROBLEMS_SHOWN)
        cli_error("store '%s': %llu more problems like the ones above were not printed", store,
                  c.many - PROBLEMS_SHOWN);
    int secondary = e && engine_is_secondary(e);
    engine_close(e);
    if (c.problems) {
        cli_error("store '%s' failed the check: %llu problem%s", store, c.problems,
                  c.problems == 1 ? "" : "s");
        return EXIT_WORK;
    }
    printf("store '%s' is healthy: %llu syncs, %llu keys (%llu bytes), %llu metadata records; "
           "%llu SST files, %llu bytes read with checksums%s\n",
           store, n.syncs, n.keys, n.bytes, n.metadata, (unsigned long long)sst.files,
           (unsigned long long)sst.bytes,
           secondary ? " (read as a secondary: another process holds the store)" : "");
    if (fflush(stdout) != 0) {
        cli_error("cannot write to standard output");
        return EXIT_WORK;
    }
    return 0;
}
