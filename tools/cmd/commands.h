/*
 * commands.h - the subcommands of the syncstore program.  Each
 * cmd_<name>(argc, argv) gets argv[0] == "<name>", parses the rest with
 * cli_parse() and returns the process exit status of SPEC (cli.h): 0 success,
 * 1 failure while doing the work, 2 a command-line error, 3 (compact only) the
 * source held nothing for the sync, 130 (compact, delete, bench) interrupted
 * before the switch.
 */
#ifndef SYNCSTORE_COMMANDS_H
#define SYNCSTORE_COMMANDS_H

#include "cli.h"

/* ---- Writing records ---- */
int cmd_load(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_import(int argc, char **argv);

/* ---- Reading a store ---- */
int cmd_dump(int argc, char **argv);
int cmd_syncs(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_backup(int argc, char **argv);

/* ---- Replacing and removing syncs ---- */
int cmd_compact(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
