/*
 * syncs.c - `syncstore syncs STORE [--json]`: each sync with its keys and
 * bytes per bucket.
 *
 * Counting needs every key, so this is one streaming pass over the store with
 * one iterator; only the current bucket's counters are held.  "bytes" is the
 * sum of key and value lengths (the user's key, not the on-disk key).
 */
#include "buf.h"
#include "commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: syncstore syncs STORE [--json]\n"
    "\n"
    "Lists each sync of STORE with the number of keys and bytes (key plus value\n"
    "lengths) in each of its buckets.  --json prints one JSON array instead:\n"
    "  [{\"sync_id\":S,\"keys\":N,\"bytes\":N,\n"
    "    \"buckets\":{\"grants\":{\"keys\":N,\"bytes\":N},...}},...]\n";

struct counts {
    unsigned long long keys, bytes;
};

struct printer {
    int json;
    int syncs_printed;
    int buckets_in_sync;
    char sync[ENGINE_SYNC_ID_MAX + 1];
    struct counts sync_total;
};

static void print_bucket(struct printer *p, const char *bucket, struct counts c)
{
    if (p->json) {
        printf("%s\"%s\":{\"keys\":%llu,\"bytes\":%llu}", p->buckets_in_sync ? "," : "", bucket,
               c.keys, c.bytes);
    } else {
        printf("%-40s %-24s %12llu %14llu\n", p->buckets_in_sync ? "" : p->sync, bucket, c.keys,
               c.bytes);
    }
    p->buckets_in_sync++;
}

/* 0, or -ENOMEM when the JSON form cannot be made. */
static int begin_sync(struct printer *p, const char *sync, size_t len)
{
    memcpy(p->sync, sync, len);
    p->sync[len] = '\0';
    p->buckets_in_sync = 0;
    p->sync_total = (struct counts){0, 0};
    if (p->json) {
        struct buf b = BUF_INIT;
        buf_add_json_string(&b, p->sync, len);
        int rc = buf_error(&b);
        if (!rc)
            printf("%s{\"sync_id\":%s,\"buckets\":{", p->syncs_printed ? ",\n " : "", b.data);
        buf_release(&b);
        return rc;
    }
    return 0;
}

static void end_sync(struct printer *p)
{
    if (p->json)
        printf("},\"keys\":%llu,\"bytes\":%llu}", p->sync_total.keys, p->sync_total.bytes);
    else
        printf("%-40s %-24s %12llu %14llu\n", "", "(all buckets)", p->sync_total.keys,
               p->sync_total.bytes);
    p->syncs_printed++;
}

int cmd_syncs(int argc, char **argv)
{
    const char *store = NULL;
    int json = 0;
    const struct cli_option options[] = {{.name = "--json", .dest = &json}, {.name = NULL}};
    const struct cli_command cmd = {
        .name = "syncs", .usage = usage, .options = options, .args = &store, .max_args = 1};
    int parsed = cli_parse(&cmd, argc, argv, NULL);
    if (parsed >= 0)
        return parsed;
    if (!store) {
        cli_error("syncs needs STORE (see 'syncstore syncs --help')");
        return EXIT_USAGE;
    }
    engine *e = NULL;
    int status = cli_open_store(store, ENGINE_OPEN_READ_ONLY, &e);
    if (status)
        return status;
    char *msg = NULL;
    struct printer p = {.json = json};
    char bucket[ENGINE_BUCKET_MAX + 1] = "";
    struct counts c = {0, 0};
    int in_sync = 0;
    if (json)
        fputs("[", stdout);
    else
        printf("%-40s %-24s %12s %14s\n", "SYNC_ID", "BUCKET", "KEYS", "BYTES");
    engine_iter *it = engine_iter_new_all(e, NULL);
    if (!it) {
        status = cli_fail(-ENOMEM, NULL, store);
        goto out;
    }
    for (engine_iter_seek_first(it); engine_iter_valid(it); engine_iter_next(it)) {
        struct engine_key_parts k;
        int rc = engine_iter_parts(it, &k, &msg);
        if (rc) {
            status = cli_fail(rc, msg, store);
            goto out;
        }
        size_t vlen;
        engine_iter_value(it, &vlen);
        int new_sync =
            !in_sync || strlen(p.sync) != k.sync_id_len || memcmp(p.sync, k.sync_id, k.sync_id_len);
        if (new_sync || strlen(bucket) != k.bucket_len || memcmp(bucket, k.bucket, k.bucket_len)) {
            if (in_sync)
                print_bucket(&p, bucket, c);
            if (new_sync) {
                if (in_sync)
                    end_sync(&p);
                if ((rc = begin_sync(&p, k.sync_id, k.sync_id_len))) {
                    status = cli_fail(rc, NULL, store);
                    goto out;
                }
                in_sync = 1;
            }
            memcpy(bucket, k.bucket, k.bucket_len);
            bucket[k.bucket_len] = '\0';
            c = (struct counts){0, 0};
        }
        c.keys++;
        c.bytes += k.key_len + vlen;
        p.sync_total.keys++;
        p.sync_total.bytes += k.key_len + vlen;
    }
    int rc = engine_iter_status(it, &msg);
    if (rc) {
        status = cli_fail(rc, msg, store);
        goto out;
    }
    if (in_sync) {
        print_bucket(&p, bucket, c);
        end_sync(&p);
    }
    if (json)
        puts("]");
    else if (!in_sync)
        printf("(no syncs)\n");
out:
    engine_iter_free(it);
    engine_close(e);
    if (fflush(stdout) != 0 && status == 0) {
        cli_error("cannot write to standard output");
        status = EXIT_WORK;
    }
    return status;
}
