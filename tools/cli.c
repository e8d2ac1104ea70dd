/*
 * cli.c - small helpers shared by the subcommands: error output in the one
 * format SPEC gives ("syncstore: error: ..."), opening stores with the right
 * exit status, and option values.
 */
#include "commands.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("syncstore: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_fail(int code, char *msg, const char *what)
{
    if (msg)
        cli_error("%s", msg);
    else
        cli_error("%s: %s", what, engine_strerror(code));
    free(msg);
    return EXIT_WORK;
}

int cli_open_store(const char *path, int flags, engine **out)
{
    char *msg = NULL;
    int rc = engine_open(path, flags, out, &msg);
    if (rc == 0)
        return 0;
    cli_fail(rc, msg, path);
    return EXIT_WORK;
}

int cli_positional(int argc, char **argv, const char *command, const char *usage, const char **args,
                   int max)
{
    int n = 0;
    for (int i = 0; i < max; i++)
        args[i] = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("unknown option '%s' for %s (see 'syncstore %s --help')", argv[i], command,
                      command);
            return EXIT_USAGE;
        }
        if (n == max) {
            cli_error("unexpected argument '%s' for %s", argv[i], command);
            return EXIT_USAGE;
        }
        args[n++] = argv[i];
    }
    return -1;
}

int cli_is_help(const char *arg)
{
    return !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

int cli_parse_u64(const char *option, const char *text, unsigned long long max,
                  unsigned long long *out)
{
    char *end = NULL;
    errno = 0;
    if (!text || !*text || *text == '-' || *text == '+') {
        cli_error("%s needs a non-negative integer, got '%s'", option, text ? text : "");
        return EXIT_USAGE;
    }
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || *end || v > max) {
        cli_error("%s must be an integer from 0 to %llu, got '%s'", option, max, text);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}
