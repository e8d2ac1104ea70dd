/*
 * backup.c - `syncstore backup STORE DEST`: a point-in-time copy of a
 * store that is itself a store.
 *
 * The work is engine_backup(): a RocksDB checkpoint of a read-only (or, while
 * a mount holds the store, secondary) instance into DEST/db, an empty
 * DEST/staging, and the FORMAT marker last, so a backup cut short never looks
 * like a store.  The store is never written.
 */
#include "commands.h"
#include "engine_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: syncstore backup STORE DEST\n"
    "\n"
    "Copies STORE, as it is at one moment, into DEST, which becomes a store that\n"
    "every command opens.  DEST must not exist (its parent must) or be an empty\n"
    "directory; nothing in it is ever overwritten, and a failed backup removes what\n"
    "it made.  On the same filesystem the SST files are hard links shared with\n"
    "STORE (instant, no extra space, but no protection against damage to those\n"
    "files); on another filesystem they are copied.  Works while a mount holds\n"
    "STORE, which is only read.\n";

int cmd_backup(int argc, char **argv)
{
    const char *args[2];
    const struct cli_command cmd = {.name = "backup", .usage = usage, .args = args, .max_args = 2};
    int rc = cli_parse(&cmd, argc, argv, NULL);
    if (rc >= 0)
        return rc;
    if (!args[1]) {
        cli_error("backup needs STORE and DEST (see 'syncstore backup --help')");
        return EXIT_USAGE;
    }
    struct engine_backup_info info;
    char *msg = NULL;
    rc = engine_backup(args[0], args[1], &info, &msg);
    if (rc)
        return cli_fail(rc, msg, args[0]);
    printf("backed up store '%s' to '%s': %llu SST files, %llu bytes, %s%s\n", args[0], args[1],
           (unsigned long long)info.files, (unsigned long long)info.bytes,
           info.hard_linked ? "hard-linked (same filesystem: the files are shared with the store)"
                            : "copied",
           info.secondary ? "; read as a secondary while another process holds the store" : "");
    if (fflush(stdout) != 0) {
        cli_error("cannot write to standard output");
        return EXIT_WORK;
    }
    return 0;
}
