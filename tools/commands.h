/*
 * commands.h - the subcommands of the syncstore program and the helpers they
 * share.  Each cmd_<name>(argc, argv) gets argv[0] == "<name>" and returns the
 * process exit status of SPEC: 0 success, 1 failure while doing the work, 2 a
 * command-line error, 3 (compact only) the source held nothing for the sync.
 */
#ifndef SYNCSTORE_COMMANDS_H
#define SYNCSTORE_COMMANDS_H

#include "engine.h"

#define EXIT_WORK 1
#define EXIT_USAGE 2
#define EXIT_EMPTY 3

int cmd_load(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_gen(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_syncs(int argc, char **argv);
int cmd_compact(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_backup(int argc, char **argv);

/* Prints "syncstore: error: <message>\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints an error for code/msg from a library call, prefixed by `what` when
 * msg is NULL, and frees msg.  Returns EXIT_WORK (EXIT_USAGE for -EINVAL when
 * usage_on_einval is set). */
int cli_fail(int code, char *msg, const char *what);

/* Opens a store for a command; prints the error itself.  Returns 0 or an exit
 * status. */
int cli_open_store(const char *path, int flags, engine **out);

/* Common option handling: true when arg is -h or --help. */
int cli_is_help(const char *arg);

/* Arguments of a command that takes no options: --help prints usage (returns
 * 0), an option or more than max arguments is an error naming it (returns
 * EXIT_USAGE); otherwise the arguments go to args[0..max) (NULL when absent)
 * and it returns -1: go on. */
int cli_positional(int argc, char **argv, const char *command, const char *usage, const char **args,
                   int max);

/* Parses a non-negative decimal integer option value; prints an error naming
 * the option and returns EXIT_USAGE when it is not one. */
int cli_parse_u64(const char *option, const char *text, unsigned long long max,
                  unsigned long long *out);

#endif
