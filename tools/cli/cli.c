/*
 * cli.c - the common ground of the subcommands: error output in the one
 * format SPEC gives ("syncstore: error: ..."), opening stores with the right
 * exit status, option values, and the one table-driven parser every command's
 * arguments go through.  The commands' messages differ in small ways that
 * scripts may depend on (which errors name --help, gen's terse form); the
 * parser keeps each through its cli_flags instead of each command keeping
 * its own loop.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int cli_parse_u64_option(const struct cli_option *opt, const char *value)
{
    return cli_parse_u64(opt->name, value, opt->max, opt->dest);
}

/* The option of the table that arg names, with *value set for one that takes
 * a value ("--name=VALUE", or NULL: the next argument); NULL when none. */
static const struct cli_option *find_option(const struct cli_option *options, const char *arg,
                                            const char **value)
{
    for (const struct cli_option *o = options; o && o->name; o++) {
        size_t n = strlen(o->name);
        if (strncmp(arg, o->name, n))
            continue;
        if (!arg[n]) {
            *value = NULL;
            return o;
        }
        if (o->has_value && arg[n] == '=') {
            *value = arg + n + 1;
            return o;
        }
    }
    return NULL;
}

/* Reports arg, which looks like an option and is none of cmd's. */
static int unknown_option(const struct cli_command *cmd, const char *arg)
{
    if (cmd->flags & CLI_TERSE) {
        const char *nl = strchr(cmd->usage, '\n');
        cli_error("%s: unknown option '%s'", cmd->name, arg);
        fwrite(cmd->usage, 1, nl ? (size_t)(nl - cmd->usage) + 1 : strlen(cmd->usage), stderr);
    } else {
        cli_error("unknown option '%s' for %s (see 'syncstore %s --help')", arg, cmd->name,
                  cmd->topic ? cmd->topic : cmd->name);
    }
    return EXIT_USAGE;
}

/* Reports arg, an argument beyond the max_args cmd takes. */
static int unexpected_argument(const struct cli_command *cmd, const char *arg)
{
    if (cmd->flags & CLI_EXTRA_AS_OPTION)
        return unknown_option(cmd, arg);
    if (cmd->flags & CLI_TERSE)
        cli_error("%s: unexpected argument '%s'", cmd->name, arg);
    else if (cmd->flags & CLI_EXTRA_SEE_HELP)
        cli_error("unexpected argument '%s' for %s (see 'syncstore %s --help')", arg, cmd->name,
                  cmd->topic ? cmd->topic : cmd->name);
    else
        cli_error("unexpected argument '%s' for %s", arg, cmd->name);
    return EXIT_USAGE;
}

int cli_parse(const struct cli_command *cmd, int argc, char **argv, size_t *n_args)
{
    size_t n = 0;
    int options_done = 0, status;
    for (size_t k = 0; k < cmd->max_args; k++)
        cmd->args[k] = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && cli_is_help(arg)) {
            fputs(cmd->usage, stdout);
            return 0;
        }
        if (!options_done && (cmd->flags & CLI_DASHDASH) && !strcmp(arg, "--")) {
            options_done = 1;
            continue;
        }
        if (!options_done && arg[0] == '-' && arg[1]) {
            const char *value = NULL;
            const struct cli_option *o = find_option(cmd->options, arg, &value);
            if (!o)
                return unknown_option(cmd, arg);
            if (!o->has_value) {
                *(int *)o->dest = 1;
                continue;
            }
            if (!value && i + 1 < argc)
                value = argv[++i];
            if (!value && o->missing) {
                cli_error("%s", o->missing);
                return EXIT_USAGE;
            }
            if (o->parse && (status = o->parse(o, value)))
                return status;
            if (!o->parse)
                *(const char **)o->dest = value;
            continue;
        }
        if (n == cmd->max_args)
            return unexpected_argument(cmd, arg);
        if (cmd->check_arg && (status = cmd->check_arg(n, arg)))
            return status;
        cmd->args[n++] = arg;
    }
    if (n_args)
        *n_args = n;
    return -1;
}

/* ---- Progress lines ---- */

void cli_progress_init(struct cli_progress *p, const char *what)
{
    *p = (struct cli_progress){.tty = isatty(2), .what = what};
}

void cli_progress_loader(void *arg, const char *phase, uint64_t records, uint64_t bytes)
{
    struct cli_progress *p = arg;
    if (!p->tty)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    if (p->drawn && now - p->last < 0.1)
        return;
    p->last = now;
    p->drawn = 1;
    fprintf(stderr, "\r\033[K%s: %s, %llu records, %.1f MB", p->what, phase,
            (unsigned long long)records, (double)bytes / 1e6);
}

void cli_progress_end(struct cli_progress *p)
{
    if (p->tty && p->drawn)
        fputs("\r\033[K", stderr);
    p->drawn = 0;
}
