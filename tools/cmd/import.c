/*
 * import.c - `syncstore import STORE FILE.c1z [SYNC_ID...]`.
 *
 * A thin command over c1z_import(): it checks the arguments, makes sure the
 * file can be opened before STORE is created (a failed import should not leave
 * a new empty store behind), and prints one summary line.  The whole file, or
 * the named syncs of it, lands in one ingest or not at all.
 */
#include "commands.h"
#include "c1z.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: syncstore import STORE FILE.c1z [SYNC_ID...]\n"
    "\n"
    "Imports a baton .c1z file (v1: \"C1ZF\\0\" + a zstd-compressed SQLite database)\n"
    "into STORE, creating it if needed.  Every sync in the file, finished or not, is\n"
    "imported, or only the SYNC_IDs named; each replaces that sync in STORE.  The\n"
    "import is all or nothing.\n"
    "\n"
    "Each row becomes one record, a JSON object with \"type\" and every column under\n"
    "its own name (the row id \"id\" left out; blobs, and text that is not UTF-8,\n"
    "as \"<name>_b64\" in base64):\n"
    "  v1_resource_types      resource_types/<external_id>\n"
    "  v1_resources           resources/<resource_type_id>/<resource_id>\n"
    "                         (resource_id: external_id without \"<resource_type_id>:\")\n"
    "  v1_entitlements        entitlements/<external_id>\n"
    "  v1_grants              grants/<external_id>, plus the empty index entries\n"
    "                         grants_by_entitlement/<entitlement_id>/<external_id> and\n"
    "                         grants_by_principal/<principal_resource_type_id>/\n"
    "                         <principal_resource_id>/<external_id>\n"
    "  v1_assets              assets/<external_id>\n"
    "  v1_sync_runs           sync_runs/<sync_id>\n"
    "  v1_connector_sessions  connector_sessions/<key>\n"
    "\n"
    "  -h, --help  show this help\n";

/* The third and later arguments name syncs: each must be a valid sync_id. */
static int check_import_arg(size_t index, const char *arg)
{
    char *msg = NULL;
    if (index < 2 || !engine_check_sync_id(arg, strlen(arg), &msg))
        return 0;
    cli_error("%s", msg ? msg : "invalid sync_id");
    free(msg);
    return EXIT_USAGE;
}

int cmd_import(int argc, char **argv)
{
    const char **args = calloc((size_t)argc + 1, sizeof(*args));
    size_t n_args = 0;
    int status = 0;
    char *msg = NULL;
    engine *e = NULL;
    struct c1z_stats stats = {0};

    if (!args) {
        cli_error("out of memory");
        return EXIT_WORK;
    }
    const struct cli_command cmd = {
        .name = "import",
        .usage = usage,
        .flags = CLI_DASHDASH,
        .args = args,
        .max_args = (size_t)argc,
        .check_arg = check_import_arg,
    };
    status = cli_parse(&cmd, argc, argv, &n_args);
    if (status >= 0)
        goto out;
    const char *store = args[0], *file = args[1];
    const char *const *syncs = n_args > 2 ? args + 2 : NULL;
    size_t n_syncs = n_args > 2 ? n_args - 2 : 0;
    if (!store || !file) {
        cli_error("import needs STORE and FILE.c1z (see 'syncstore import --help')");
        status = EXIT_USAGE;
        goto out;
    }

    FILE *probe = fopen(file, "rb");
    if (!probe) {
        cli_error("cannot open '%s': %s", file, strerror(errno));
        status = EXIT_WORK;
        goto out;
    }
    fclose(probe);

    status = cli_open_store(store, ENGINE_OPEN_CREATE, &e);
    if (status)
        goto out;
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "importing %s", file);
    struct cli_progress prog;
    cli_progress_init(&prog, what);
    struct c1z_progress progress = {.fn = cli_progress_loader, .arg = &prog};
    int rc = c1z_import_progress(e, file, syncs, n_syncs, &progress, &stats, &msg);
    cli_progress_end(&prog);
    if (rc) {
        status = cli_fail(rc, msg, file); /* frees msg */
        msg = NULL;
        goto out;
    }
    printf("imported %zu sync%s, %llu rows as %llu records from '%s'\n", stats.n_syncs,
           stats.n_syncs == 1 ? "" : "s", (unsigned long long)stats.rows,
           (unsigned long long)stats.records, file);
out:
    free(msg);
    c1z_stats_release(&stats);
    engine_close(e);
    free(args);
    return status;
}
