/*
 * gen.c - `syncstore gen STORE SYNC_ID [--grants N] [--seed S]`: writes the
 * deterministic synthetic sync of gen.h into STORE (created when missing),
 * replacing that sync, in one all-or-nothing load.  The lines go through the
 * same loader as typed `load`, so gen exercises the real write path and its
 * output is what `load` would store for the same lines.
 */
#include "commands.h"
#include "gen.h"
#include "loader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char gen_usage[] =
    "usage: syncstore gen STORE SYNC_ID [--grants N] [--seed S]\n"
    "\n"
    "Writes a deterministic, realistic sync SYNC_ID into STORE (created when it\n"
    "does not exist), replacing whatever that sync held, through the same path\n"
    "as typed `syncstore load`.  The same N and S always give the same records.\n"
    "\n"
    "Generated: the resource types user, group, app and role; about N/20 users\n"
    "(at least 10, more for small N), groups (users/10), apps (users/40) and\n"
    "roles (users/100); the entitlements group:<id>:member, app:<id>:access,\n"
    "app:<id>:admin and role:<id>:assigned; and exactly N grants with ids\n"
    "<entitlement>:<principal_type>:<principal_id>, held mostly by users and\n"
    "some by groups, with Zipf-skewed popularity (s = 1.1).  Every grant's\n"
    "entitlement and principal exist, and the grants_by_entitlement and\n"
    "grants_by_principal indexes are written too.\n"
    "\n"
    "options:\n"
    "  --grants N   the number of grants (default 1000, at most 1000000000)\n"
    "  --seed S     the random seed, a non-negative integer (default 1)\n"
    "  -h, --help   show this help\n";

int cmd_gen(int argc, char **argv)
{
    const char *positional[2];
    size_t npositional;
    unsigned long long grants = 1000, seed = 1;
    engine *e = NULL;
    loader *l = NULL;
    char *msg = NULL;
    int rc, status;
    const struct cli_option options[] = {
        {.name = "--grants",
         .has_value = 1,
         .dest = &grants,
         .parse = cli_parse_u64_option,
         .max = GEN_GRANTS_MAX},
        {.name = "--seed",
         .has_value = 1,
         .dest = &seed,
         .parse = cli_parse_u64_option,
         .max = UINT64_MAX},
        {.name = NULL},
    };
    const struct cli_command cmd = {
        .name = "gen",
        .usage = gen_usage,
        .options = options,
        .flags = CLI_DASHDASH | CLI_TERSE,
        .args = positional,
        .max_args = 2,
    };
    if ((status = cli_parse(&cmd, argc, argv, &npositional)) >= 0)
        return status;
    if (npositional < 2) {
        cli_error("gen: missing %s", npositional == 0 ? "STORE and SYNC_ID" : "SYNC_ID");
        fputs("usage: syncstore gen STORE SYNC_ID [--grants N] [--seed S]\n", stderr);
        return EXIT_USAGE;
    }
    const char *store = positional[0], *sync_id = positional[1];
    if (engine_check_sync_id(sync_id, strlen(sync_id), &msg)) {
        cli_error("%s", msg ? msg : "bad sync_id");
        free(msg);
        return EXIT_USAGE;
    }
    if (!strcmp(sync_id, "ctl")) {
        cli_error("sync_id 'ctl' is reserved");
        return EXIT_USAGE;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((status = cli_open_store(store, ENGINE_OPEN_CREATE, &e)))
        return status;

    char what[ENGINE_SYNC_ID_MAX + 32];
    snprintf(what, sizeof what, "generating %s", sync_id);
    struct cli_progress prog;
    cli_progress_init(&prog, what);
    struct loader_options lopt = {.replace = 1,
                                  .default_sync = NULL,
                                  .chunk_bytes = 0,
                                  .progress = cli_progress_loader,
                                  .progress_arg = &prog};
    if ((rc = loader_new(e, &lopt, &l, &msg))) {
        status = cli_fail(rc, msg, store);
        goto out;
    }
    struct gen_options gopt = {.sync_id = sync_id, .grants = grants, .seed = seed};
    struct gen_stats gstats;
    if ((rc = gen_run(l, &gopt, &gstats, &msg))) {
        cli_progress_end(&prog);
        status = cli_fail(rc, msg, "gen");
        goto out;
    }
    struct loader_stats lstats;
    rc = loader_commit(l, &lstats, &msg);
    cli_progress_end(&prog);
    if (rc) {
        status = cli_fail(rc, msg, store);
        goto out;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("gen: sync %s: %" PRIu64 " grants, %" PRIu64 " resources, %" PRIu64
           " entitlements, %" PRIu64 " records in %.2f s\n",
           sync_id, gstats.grants, gstats.resources, gstats.entitlements, lstats.records, seconds);
    status = 0;
out:
    loader_free(l);
    engine_close(e);
    return status;
}
