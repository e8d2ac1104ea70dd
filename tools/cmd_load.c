/*
 * cmd_load.c - `syncstore load STORE [--sync SYNC_ID] [--replace] [FILE]`.
 *
 * Streams JSON Lines from FILE or stdin into one loader: memory stays bounded
 * by the loader's chunk whatever the input size, and nothing is stored unless
 * every line is good (the first bad line is reported with its number).
 */
#include "commands.h"
#include "loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: syncstore load STORE [--sync SYNC_ID] [--replace] [FILE]\n"
    "\n"
    "Reads JSON Lines from FILE (or standard input) and stores their records in\n"
    "STORE, creating it if needed.  Each line is one of\n"
    "  raw:   {\"bucket\": B, \"key\": K, \"value\": V}   (\"key_b64\"/\"value_b64\" for\n"
    "         bytes that are not UTF-8 or hold NUL)\n"
    "  typed: {\"type\": \"resource_type\"|\"resource\"|\"entitlement\"|\"grant\", ...}\n"
    "         stored as the line's bytes under its standard bucket, with the grant\n"
    "         indexes written too\n"
    "A line's sync is its \"sync\" field, else --sync.  Blank lines are skipped.\n"
    "Within one load the last line for a key wins.  A load is all or nothing.\n"
    "\n"
    "  --sync SYNC_ID  the sync of lines without \"sync\"\n"
    "  --replace       make each named sync hold exactly what this load wrote\n"
    "  -h, --help      show this help\n";

int cmd_load(int argc, char **argv)
{
    const char *store = NULL, *file = NULL, *sync = NULL;
    int replace = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--replace")) {
            replace = 1;
        } else if (!strcmp(a, "--sync")) {
            if (++i == argc) {
                cli_error("--sync needs a SYNC_ID");
                return EXIT_USAGE;
            }
            sync = argv[i];
        } else if (!strncmp(a, "--sync=", 7)) {
            sync = a + 7;
        } else if (a[0] == '-' && a[1]) {
            cli_error("unknown option '%s' for load (see 'syncstore load --help')", a);
            return EXIT_USAGE;
        } else if (!store) {
            store = a;
        } else if (!file) {
            file = a;
        } else {
            cli_error("unexpected argument '%s' for load (see 'syncstore load --help')", a);
            return EXIT_USAGE;
        }
    }
    if (!store) {
        cli_error("load needs STORE (see 'syncstore load --help')");
        return EXIT_USAGE;
    }
    char *msg = NULL;
    if (sync && engine_check_sync_id(sync, strlen(sync), &msg)) {
        cli_error("--sync: %s", msg);
        free(msg);
        return EXIT_USAGE;
    }
    const char *name = file && strcmp(file, "-") ? file : "<stdin>";
    FILE *in = stdin;
    if (file && strcmp(file, "-")) {
        in = fopen(file, "r");
        if (!in) {
            cli_error("cannot open '%s': %s", file, strerror(errno));
            return EXIT_WORK;
        }
    }

    engine *e = NULL;
    loader *l = NULL;
    int status = cli_open_store(store, ENGINE_OPEN_CREATE, &e);
    if (status)
        goto out;
    struct loader_options opt = {.replace = replace, .default_sync = sync};
    int rc = loader_new(e, &opt, &l, &msg);
    if (rc) {
        status = cli_fail(rc, msg, store);
        goto out;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if ((rc = loader_add_line(l, line, (size_t)n, &msg))) {
            cli_error("%s:%lu: %s; nothing was stored", name, lineno,
                      msg ? msg : engine_strerror(rc));
            free(msg);
            free(line);
            status = EXIT_WORK;
            goto out;
        }
    }
    free(line);
    if (ferror(in)) {
        cli_error("cannot read '%s': %s; nothing was stored", name, strerror(errno));
        status = EXIT_WORK;
        goto out;
    }
    struct loader_stats st;
    if ((rc = loader_commit(l, &st, &msg))) {
        status = cli_fail(rc, msg, store);
        goto out;
    }
    fprintf(stderr, "loaded %llu lines, %llu records into %llu sync%s of %s\n",
            (unsigned long long)st.lines, (unsigned long long)st.records,
            (unsigned long long)st.syncs, st.syncs == 1 ? "" : "s", store);
out:
    loader_free(l);
    engine_close(e);
    if (in != stdin)
        fclose(in);
    return status;
}
