/*
 * syncs.c - `syncstore syncs STORE [--json]`: each sync with its keys and
 * bytes per bucket, and its run as the file it was imported from says
 * (engine_sync_run_get: format, type, started, ended or unfinished).
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
    "lengths) in each of its buckets, and the sync's run as the file it was\n"
    "imported from says: format (c1z v1 or c1z3), type, started, ended or\n"
    "\"unfinished\" (none for a sync written by load or gen).  --json prints one\n"
    "JSON array instead:\n"
    "  [{\"sync_id\":S,\"buckets\":{\"grants\":{\"keys\":N,\"bytes\":N},...},\n"
    "    \"keys\":N,\"bytes\":N,\"run\":{\"format\":F,\"type\":T,\"started_at\":T,\n"
    "    \"ended_at\":T or null} or null},...]\n";

struct counts {
    unsigned long long keys, bytes;
};

struct printer {
    engine *e;
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

/* ,"name":"text" (null when empty and null_empty). */
static void json_field(struct buf *b, const char *name, const char *text, int null_empty)
{
    buf_addf(b, ",\"%s\":", name);
    if (null_empty && !*text)
        buf_adds(b, "null");
    else
        buf_add_json_string(b, text, strlen(text));
}

/* The sync's run: 0, or -ENOMEM / a read error (after printing nothing). */
static int print_run(struct printer *p, char **msg)
{
    struct engine_sync_run run;
    int rc = engine_sync_run_get(p->e, p->sync, &run, msg);
    if (rc && rc != -ENOENT)
        return rc;
    if (!p->json) {
        if (rc == -ENOENT)
            printf("%-40s run: none recorded (not imported from a c1z file)\n", "");
        else
            printf("%-40s run: %s%s%s, started %s, %s%s\n", "", run.format, *run.type ? ", " : "",
                   run.type, *run.started_at ? run.started_at : "(unknown)",
                   *run.ended_at ? "ended " : "unfinished", run.ended_at);
        return 0;
    }
    if (rc == -ENOENT) {
        fputs(",\"run\":null", stdout);
        return 0;
    }
    struct buf b = BUF_INIT;
    buf_adds(&b, ",\"run\":{\"format\":");
    buf_add_json_string(&b, run.format, strlen(run.format));
    json_field(&b, "type", run.type, 1);
    json_field(&b, "started_at", run.started_at, 1);
    json_field(&b, "ended_at", run.ended_at, 1);
    buf_addc(&b, '}');
    rc = buf_error(&b);
    if (!rc)
        fputs(b.data, stdout);
    buf_release(&b);
    return rc;
}

static int end_sync(struct printer *p, char **msg)
{
    if (p->json)
        printf("},\"keys\":%llu,\"bytes\":%llu", p->sync_total.keys, p->sync_total.bytes);
    else
        printf("%-40s %-24s %12llu %14llu\n", "", "(all buckets)", p->sync_total.keys,
               p->sync_total.bytes);
    int rc = print_run(p, msg);
    if (p->json)
        fputs("}", stdout);
    p->syncs_printed++;
    return rc;
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
    struct printer p = {.e = e, .json = json};
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
                if (in_sync && (rc = end_sync(&p, &msg))) {
                    status = cli_fail(rc, msg, store);
                    goto out;
                }
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
        if ((rc = end_sync(&p, &msg))) {
            status = cli_fail(rc, msg, store);
            goto out;
        }
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
