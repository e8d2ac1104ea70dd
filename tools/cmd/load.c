/*
 * load.c - `syncstore load STORE [--sync SYNC_ID] [--replace] [FILE]`.
 *
 * Streams JSON Lines from FILE or stdin into one loader: memory stays bounded
 * by the loader's chunk whatever the input size, and nothing is stored unless
 * every line is good (the first bad line is reported with its number).
 */
#include "commands.h"
#include "jsonl.h"
#include "loader.h"

#include <errno.h>
#include <limits.h>
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
    const char *args[2], *sync = NULL;
    int replace = 0;
    const struct cli_option options[] = {
        {.name = "--replace", .dest = &replace},
        {.name = "--sync", .has_value = 1, .dest = &sync, .missing = "--sync needs a SYNC_ID"},
        {.name = NULL},
    };
    const struct cli_command cmd = {
        .name = "load",
        .usage = usage,
        .options = options,
        .flags = CLI_EXTRA_SEE_HELP,
        .args = args,
        .max_args = 2,
    };
    int parsed = cli_parse(&cmd, argc, argv, NULL);
    if (parsed >= 0)
        return parsed;
    const char *store = args[0], *file = args[1];
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
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "loading into %s", store);
    struct cli_progress prog;
    cli_progress_init(&prog, what);
    struct loader_options opt = {.replace = replace,
                                 .default_sync = sync,
                                 .progress = cli_progress_loader,
                                 .progress_arg = &prog};
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
        if ((rc = jsonl_add_line(l, line, (size_t)n, &msg))) {
            cli_progress_end(&prog);
            cli_error("%s:%lu: %s; nothing was stored", name, lineno,
                      msg ? msg : engine_strerror(rc));
            free(msg);
            free(line);
            status = EXIT_WORK;
            goto out;
        }
    }
    int err = errno;
    free(line);
    /* getline() also returns -1 when the line cannot grow (ENOMEM), and glibc
     * before 2.37 sets no error flag then: only the end of the file ends it. */
    if (ferror(in) || !feof(in)) {
        cli_progress_end(&prog);
        cli_error("cannot read '%s': %s; nothing was stored", name, strerror(err ? err : EIO));
        status = EXIT_WORK;
        goto out;
    }
    struct loader_stats st;
    rc = loader_commit(l, &st, &msg);
    cli_progress_end(&prog);
    if (rc) {
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
