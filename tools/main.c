/*
 * main.c - the syncstore program: dispatches to one subcommand.
 */
#include "commands.h"
#include "fs.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"mount", fs_main, "mount a store with FUSE"},
    {"compact", cmd_compact, "replace a sync of a base with a source's copy, atomically"},
    {"delete", cmd_delete, "remove a sync, atomically"},
    {"load", cmd_load, "load JSON Lines records into a store"},
    {"dump", cmd_dump, "write a store's records as JSON Lines"},
    {"gen", cmd_gen, "generate a realistic sync"},
    {"import", cmd_import, "import the syncs of a baton .c1z file"},
    {"syncs", cmd_syncs, "list syncs with keys and bytes per bucket"},
    {"check", cmd_check, "verify a store: marker, staging, SST checksums, keys and values"},
    {"backup", cmd_backup, "copy a store, as it is at one moment, into a new store"},
    {"bench", cmd_bench, "measure compaction against the other ways to replace a sync"},
};

static void print_usage(FILE *out)
{
    fputs("usage: syncstore COMMAND [ARGS...]\n"
          "       syncstore STORE MOUNTPOINT [-o OPT,...]   (mount, as mount.fuse3 runs it)\n"
          "       syncstore --version | --help\n\n"
          "A store of identity-governance syncs over RocksDB.  Commands:\n",
          out);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\n'syncstore COMMAND --help' explains each command.\n"
          "Exit status: 0 success, 1 failure, 2 command-line error,\n"
          "3 (compact) the source held nothing and the sync was excised,\n"
          "130 (compact, delete, bench) interrupted before the switch: nothing changed.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1])) {
        print_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("syncstore %s\n", SYNCSTORE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    /* mount.fuse3 runs "syncstore STORE MOUNTPOINT -o OPTS". */
    struct stat st;
    if (argc >= 3 && stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode))
        return fs_main(argc, argv);
    cli_error("unknown command '%s' (see 'syncstore --help')", argv[1]);
    return EXIT_USAGE;
}
