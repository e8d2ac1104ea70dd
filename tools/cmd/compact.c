/*
 * compact.c - `syncstore compact BASE SOURCE SYNC_ID` and
 * `syncstore delete STORE SYNC_ID`: the command-line faces of the compactor.
 *
 * SIGINT and SIGTERM before the switch cancel the compaction cleanly (the base
 * unchanged, staging files removed, exit 130); after the switch they wait for
 * the command to finish.  A progress line is drawn on stderr when it is a
 * terminal.
 */
#include "buf.h"
#include "commands.h"
#include "compactor.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char compact_usage[] =
    "usage: syncstore compact BASE SOURCE SYNC_ID [--json] [--reclaim] [--piece-size BYTES]\n"
    "                         [--stream] [--threads N]\n"
    "\n"
    "Makes BASE's copy of sync SYNC_ID equal to SOURCE's, atomically: readers of\n"
    "BASE see the old sync or the new one, never a mix.  SOURCE is opened\n"
    "read-only and never changed.  When SOURCE's own SST files for the sync\n"
    "qualify (as load, gen and import write a new sync), they are copied into\n"
    "BASE's staging area (method \"copy\": no record is read); otherwise the range\n"
    "is streamed, one thread per core, into SST pieces there, each carrying the\n"
    "range tombstone for its own span (method \"stream\").  Either way all files\n"
    "are ingested in one call.  Other syncs of BASE are untouched.\n"
    "\n"
    "  --json              print the result as one JSON object, with \"method\":\n"
    "                      \"copy\" or \"stream\" and its figures\n"
    "  --stream            always stream (no copy), e.g. to compare the paths\n"
    "  --threads N         streaming threads (default: one per core, at most 16)\n"
    "  --reclaim           wait until the old data's space is reclaimed (otherwise\n"
    "                      a hint is left for the next mount of BASE)\n"
    "  --piece-size BYTES  target size of one SST piece (default 268435456, min 4096)\n"
    "\n"
    "Exit status: 0 done, 1 failure (BASE unchanged), 2 command-line error,\n"
    "3 SOURCE held nothing for SYNC_ID and BASE's copy was excised,\n"
    "130 interrupted before the switch (BASE unchanged).\n";

static const char delete_usage[] =
    "usage: syncstore delete STORE SYNC_ID [--json] [--reclaim]\n"
    "\n"
    "Removes sync SYNC_ID from STORE atomically, with one ingested range tombstone.\n"
    "Fails (exit 1) when STORE holds no such sync.\n"
    "\n"
    "  --json     print the result as one JSON object\n"
    "  --reclaim  wait until the deleted data's space is reclaimed\n";

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct progress {
    int tty;
    const char *sync_id;
    double last;
};

static int on_progress(void *arg, uint64_t keys, uint64_t bytes)
{
    struct progress *p = arg;
    if (p->tty)
        fprintf(stderr, "\rcompacting %s: %llu keys, %.1f MB streamed", p->sync_id,
                (unsigned long long)keys, (double)bytes / 1e6);
    return interrupted;
}

/* 0, or 1 (EXIT_WORK) when the JSON form cannot be made, after the work was done. */
static int print_result(int json, const char *what, const char *sync_id, const char *source,
                        const struct compactor_result *r)
{
    if (json) {
        struct buf b = BUF_INIT;
        buf_adds(&b, "{\"sync_id\":");
        buf_add_json_string(&b, sync_id, strlen(sync_id));
        if (source) {
            buf_adds(&b, ",\"source\":");
            buf_add_json_string(&b, source, strlen(source));
        }
        buf_addf(&b,
                 ",\"outcome\":\"%s\",\"keys\":%llu,\"bytes\":%llu,\"pieces\":%llu,"
                 "\"sst_bytes\":%llu,\"seconds\":%.6f,\"ingest_seconds\":%.6f,"
                 "\"reclaim_seconds\":%.6f",
                 compactor_outcome_name(r->outcome), (unsigned long long)r->keys,
                 (unsigned long long)r->bytes, (unsigned long long)r->pieces,
                 (unsigned long long)r->sst_bytes, r->seconds, r->ingest_seconds,
                 r->reclaim_seconds);
        if (source) {
            buf_addf(&b,
                     ",\"method\":\"%s\",\"files_copied\":%llu,\"bytes_copied\":%llu,"
                     "\"copy_seconds\":%.6f,\"threads\":%llu,\"copy_refused\":%s,"
                     "\"stream_reason\":",
                     compactor_method_name(r->method), (unsigned long long)r->files_copied,
                     (unsigned long long)r->bytes_copied, r->copy_seconds,
                     (unsigned long long)r->threads, r->copy_refused ? "true" : "false");
            if (r->method == COMPACTOR_STREAM)
                buf_add_json_string(&b, r->reason, strlen(r->reason));
            else
                buf_adds(&b, "null");
        }
        buf_adds(&b, "}");
        int rc = buf_error(&b);
        if (rc)
            cli_error("%s sync %s, but cannot print the result: %s", what, sync_id,
                      engine_strerror(rc));
        else
            puts(b.data);
        buf_release(&b);
        return rc ? EXIT_WORK : 0;
    }
    if (!source)
        printf("%s sync %s (%.3f s, switch %.1f ms%s)\n", what, sync_id, r->seconds,
               r->ingest_seconds * 1e3, r->reclaim_seconds > 0 ? ", reclaimed" : "");
    else if (r->outcome == COMPACTOR_EMPTY)
        printf("%s sync %s: empty: the source holds nothing for it, so it was excised "
               "(%.3f s, switch %.1f ms)\n",
               what, sync_id, r->seconds, r->ingest_seconds * 1e3);
    else if (r->method == COMPACTOR_COPY)
        printf("%s sync %s: %s by copy, %llu keys, %llu SST file%s (%.1f MB) copied, %.3f s "
               "(switch %.1f ms%s)\n",
               what, sync_id, compactor_outcome_name(r->outcome), (unsigned long long)r->keys,
               (unsigned long long)r->files_copied, r->files_copied == 1 ? "" : "s",
               (double)r->bytes_copied / 1e6, r->seconds, r->ingest_seconds * 1e3,
               r->reclaim_seconds > 0 ? ", reclaimed" : "");
    else
        printf("%s sync %s: %s by stream, %llu keys, %.1f MB in %llu piece%s by %llu thread%s, "
               "%.3f s (switch %.1f ms%s)\n",
               what, sync_id, compactor_outcome_name(r->outcome), (unsigned long long)r->keys,
               (double)r->bytes / 1e6, (unsigned long long)r->pieces, r->pieces == 1 ? "" : "s",
               (unsigned long long)r->threads, r->threads == 1 ? "" : "s", r->seconds,
               r->ingest_seconds * 1e3, r->reclaim_seconds > 0 ? ", reclaimed" : "");
    return 0;
}

/* --piece-size BYTES: at least COMPACTOR_PIECE_MIN, at most 1 TiB. */
static int parse_piece_size(const struct cli_option *o, const char *value)
{
    unsigned long long n;
    int st = cli_parse_u64(o->name, value, 1ull << 40, &n);
    if (st)
        return st;
    if (n < COMPACTOR_PIECE_MIN) {
        cli_error("--piece-size must be at least %llu bytes, got %llu", COMPACTOR_PIECE_MIN, n);
        return EXIT_USAGE;
    }
    *(uint64_t *)o->dest = n;
    return 0;
}

/* --threads N: 1 to 16. */
static int parse_threads(const struct cli_option *o, const char *value)
{
    unsigned long long n;
    int st = cli_parse_u64(o->name, value, 16, &n);
    if (st)
        return st;
    if (n < 1) {
        cli_error("--threads must be 1 to 16, got %llu", n);
        return EXIT_USAGE;
    }
    *(int *)o->dest = (int)n;
    return 0;
}

static int run(int argc, char **argv, int is_delete)
{
    const char *usage = is_delete ? delete_usage : compact_usage;
    const char *args[3];
    size_t nargs;
    int json = 0;
    struct compactor_options opt = {0};
    const struct cli_option options[] = {
        {.name = "--json", .dest = &json},
        {.name = "--reclaim", .dest = &opt.reclaim},
        {.name = is_delete ? NULL : "--piece-size",
         .has_value = 1,
         .dest = &opt.piece_bytes,
         .parse = parse_piece_size},
        {.name = is_delete ? NULL : "--stream", .dest = &opt.no_copy},
        {.name = is_delete ? NULL : "--threads",
         .has_value = 1,
         .dest = &opt.threads,
         .parse = parse_threads},
        {.name = NULL},
    };
    const struct cli_command cmd = {.name = argv[0],
                                    .usage = usage,
                                    .options = options,
                                    .args = args,
                                    .max_args = is_delete ? 2 : 3};
    int parsed = cli_parse(&cmd, argc, argv, &nargs);
    if (parsed >= 0)
        return parsed;
    if (nargs < (is_delete ? 2 : 3)) {
        cli_error("%s needs %s (see 'syncstore %s --help')", argv[0],
                  is_delete ? "STORE and SYNC_ID" : "BASE, SOURCE and SYNC_ID", argv[0]);
        return EXIT_USAGE;
    }
    const char *store = args[0];
    const char *source = is_delete ? NULL : args[1];
    const char *sync_id = is_delete ? args[1] : args[2];
    char *msg = NULL;
    if (engine_check_sync_id(sync_id, strlen(sync_id), &msg)) {
        cli_error("%s", msg);
        free(msg);
        return EXIT_USAGE;
    }

    engine *e = NULL;
    int status = cli_open_store(store, ENGINE_OPEN_READ_WRITE, &e);
    if (status)
        return status;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct progress prog = {.tty = isatty(2), .sync_id = sync_id};
    opt.progress = on_progress;
    opt.progress_arg = &prog;

    struct compactor_result r;
    int rc = is_delete ? compactor_delete(e, sync_id, &opt, &r, &msg)
                       : compactor_run(e, source, sync_id, &opt, &r, &msg);
    if (prog.tty)
        fputs("\r\033[K", stderr);
    if (rc == ENGINE_ECANCELED) {
        cli_error("interrupted: the compaction of sync '%s' was cancelled before the switch; "
                  "'%s' is unchanged",
                  sync_id, store);
        free(msg);
        status = 130;
    } else if (rc) {
        status = cli_fail(rc, msg, store);
    } else {
        status = print_result(json, is_delete ? "deleted" : "compacted", sync_id, source, &r);
        if (!status && !is_delete && r.outcome == COMPACTOR_EMPTY)
            status = EXIT_EMPTY;
    }
    engine_close(e);
    return status;
}

int cmd_compact(int argc, char **argv)
{
    return run(argc, argv, 0);
}

int cmd_delete(int argc, char **argv)
{
    return run(argc, argv, 1);
}
