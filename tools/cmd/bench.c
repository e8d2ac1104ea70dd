/*
 * bench.c - `syncstore bench compact [--grants N] [--dir DIR] [--keep]
 * [--json]`: the command line of the benchmark; the benchmark itself is
 * tools/bench/ (bench_compact()).
 */
#include "bench.h"
#include "commands.h"
#include "gen.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char bench_usage[] =
    "usage: syncstore bench compact [--grants N] [--dir DIR] [--keep] [--json]\n"
    "\n"
    "Measures `compact` against the other ways of replacing a sync, on the same\n"
    "generated data, and prints one table with its targets.\n"
    "\n"
    "It builds a base store holding sync S (gen seed 1) and sync T (seed 3), a\n"
    "source store holding S with other contents (seed 2), each with N grants\n"
    "(about 3 N keys per sync), and the same rows as SQLite files with the baton\n"
    "c1z v1 schema.  Then it times, each in its own process (peak RSS per phase)\n"
    "with its inputs read into the page cache first (warm; it is not dropped):\n"
    "\n"
    "  ours        the compactor as `compact` runs it: the copy path (the source's\n"
    "              SST files copied, one ingest), the bytes the base's RocksDB\n"
    "              wrote for the switch, and apart the space reclaim\n"
    "  copy floor  copying the source's SST files of S with fsync\n"
    "  stream 1    the streaming path on one thread (SST pieces, one ingest)\n"
    "  stream N    the streaming path on one thread per core\n"
    "  put-loop    one WriteBatch with a DeleteRange and a Put per record, on an\n"
    "              identical copy of the base\n"
    "  SQLite      ATTACH, then DELETE and INSERT ... SELECT per table in one\n"
    "              transaction (rollback journal, synchronous=FULL)\n"
    "  read floor  reading the source range plus writing and fsyncing as many\n"
    "              bytes as the copy wrote\n"
    "\n"
    "options:\n"
    "  --grants N  grants per sync (default 1000000)\n"
    "  --dir DIR   make the work directory under DIR (default $TMPDIR, or\n"
    "              /var/tmp when $TMPDIR is unset or a tmpfs)\n"
    "  --keep      keep the work directory (its path is printed)\n"
    "  --json      print one JSON object instead of the table\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 the benchmark ran (missed targets are reported, not failures),\n"
    "1 a phase failed, 2 command-line error, 130 interrupted.  The work directory\n"
    "needs about 3.5 GB per million grants while it runs.\n";

/* --dir DIR: a non-empty value; that it is a directory is checked after. */
static int parse_dir(const struct cli_option *o, const char *value)
{
    if (!value || !*value) {
        cli_error("--dir needs a directory");
        return EXIT_USAGE;
    }
    *(const char **)o->dest = value;
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    unsigned long long grants = 1000000;
    const char *dir = NULL;
    int keep = 0, json = 0, status;
    if (argc < 2) {
        cli_error("bench needs a benchmark name: compact (see 'syncstore bench --help')");
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        fputs(bench_usage, stdout);
        return 0;
    }
    if (strcmp(argv[1], "compact")) {
        cli_error("unknown benchmark '%s' (see 'syncstore bench --help')", argv[1]);
        return EXIT_USAGE;
    }
    const struct cli_option options[] = {
        {.name = "--keep", .dest = &keep},
        {.name = "--json", .dest = &json},
        {.name = "--grants",
         .has_value = 1,
         .dest = &grants,
         .parse = cli_parse_u64_option,
         .max = GEN_GRANTS_MAX},
        {.name = "--dir", .has_value = 1, .dest = &dir, .parse = parse_dir},
        {.name = NULL},
    };
    const struct cli_command cmd = {
        .name = "bench compact",
        .topic = "bench",
        .usage = bench_usage,
        .options = options,
        .flags = CLI_EXTRA_AS_OPTION,
    };
    if ((status = cli_parse(&cmd, argc - 1, argv + 1, NULL)) >= 0)
        return status;
    if (dir) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            cli_error("--dir '%s' is not a directory", dir);
            return EXIT_USAGE;
        }
    }
    return bench_compact(grants, dir, keep, json);
}
