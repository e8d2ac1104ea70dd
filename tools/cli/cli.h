/*
 * cli.h - what every subcommand of the syncstore program shares: the exit
 * statuses of SPEC, error output in its one format ("syncstore: error: ..."),
 * opening a store, and the one option parser all commands use.
 */
#ifndef SYNCSTORE_CLI_H
#define SYNCSTORE_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- Exit statuses (0 is success) ---- */

#define EXIT_WORK 1  /* failure while doing the work */
#define EXIT_USAGE 2 /* a command-line error */
#define EXIT_EMPTY 3 /* compact only: the source held nothing for the sync */

/* ---- Output and stores ---- */

/* Prints "syncstore: error: <message>\n" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints an error for code/msg from a library call (msg, or `what` and the
 * code's text when msg is NULL) and frees msg.  Returns EXIT_WORK. */
int cli_fail(int code, char *msg, const char *what);

/* Opens a store for a command; prints the error itself.  Returns 0 or an exit
 * status. */
int cli_open_store(const char *path, int flags, engine **out);

/* True when arg is -h or --help. */
int cli_is_help(const char *arg);

/* A progress line on stderr, redrawn in place ("\r") at most ten times a
 * second, only when stderr is a terminal (cli_progress_init decides).
 * cli_progress_loader matches loader_progress_fn (loader.h); cli_progress_end
 * clears the line before the command's own output. */
struct cli_progress {
    int tty;
    const char *what; /* "loading into st", "generating s1" */
    double last;      /* CLOCK_MONOTONIC seconds of the last redraw */
    int drawn;
};
void cli_progress_init(struct cli_progress *p, const char *what);
void cli_progress_loader(void *arg, const char *phase, uint64_t records, uint64_t bytes);
void cli_progress_end(struct cli_progress *p);

/* Parses a non-negative decimal integer option value; prints an error naming
 * the option and returns EXIT_USAGE when it is not one. */
int cli_parse_u64(const char *option, const char *text, unsigned long long max,
                  unsigned long long *out);

/* ---- The option parser ---- */

struct cli_option;

/* Converts or checks an option's value (NULL when "--name" was the last
 * argument) as it is met; returns 0 or an exit status after printing why. */
typedef int cli_parse_fn(const struct cli_option *opt, const char *value);

/* One option: a flag ("--json", sets *(int *)dest to 1), or an option with a
 * value given as "--name VALUE" or "--name=VALUE". */
struct cli_option {
    const char *name;       /* "--sync"; NULL ends a table */
    int has_value;          /* 0: a flag */
    void *dest;             /* int * for a flag; for a value, parse's, or const char ** */
    cli_parse_fn *parse;    /* NULL: the value is stored in *(const char **)dest */
    unsigned long long max; /* for cli_parse_u64_option: the largest value */
    const char *missing;    /* the error when the value is missing; NULL: parse sees NULL */
};

/* Stores the value as an integer from 0 to opt->max in *(unsigned long long
 * *)opt->dest (cli_parse_u64's errors). */
int cli_parse_u64_option(const struct cli_option *opt, const char *value);

/* How a command's arguments are reported on (the messages of SPEC's commands
 * differ in these details, and each is kept). */
enum cli_flags {
    CLI_DASHDASH = 1,        /* "--" ends the options: what follows is an argument */
    CLI_TERSE = 2,           /* "<command>: unknown option ..." + the usage line */
    CLI_EXTRA_SEE_HELP = 4,  /* an unexpected argument's error names --help */
    CLI_EXTRA_AS_OPTION = 8, /* an unexpected argument is an unknown option */
};

/* A command's command line.  Arguments that are not options go to
 * args[0..max_args) in order; check_arg, when set, sees each as it is met
 * (index, text) and may refuse it with an exit status. */
struct cli_command {
    const char *name;                 /* in messages: "load", "bench compact" */
    const char *topic;                /* 'syncstore <topic> --help'; NULL: name */
    const char *usage;                /* printed on standard output for -h or --help */
    const struct cli_option *options; /* ends with a NULL name; NULL: none */
    int flags;                        /* enum cli_flags */
    const char **args;
    size_t max_args;
    int (*check_arg)(size_t index, const char *arg);
};

/* Parses argv[1..argc) (argv[0] is the command's name) in order.  Returns -1
 * to go on, with the arguments in cmd->args (absent ones NULL) and their
 * number in *n_args (may be NULL); 0 after printing the usage for -h/--help;
 * or the exit status of the first error, after printing it. */
int cli_parse(const struct cli_command *cmd, int argc, char **argv, size_t *n_args);

#endif
