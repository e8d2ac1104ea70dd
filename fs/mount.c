/*
 * mount.c - `syncstore mount`: options, mounting, daemonizing, the loop.
 *
 * Two forms reach fs_main():
 *   syncstore mount STORE MOUNTPOINT [-f] [-d] [-o OPT[,OPT...]]
 *   syncstore STORE MOUNTPOINT [-o OPT[,...]]     as mount.fuse3 runs it, so that
 *       `mount -t fuse.syncstore STORE MNT` and fstab lines work (MOUNTPOINT may
 *       be /dev/fd/N, an already opened /dev/fuse, as libfuse allows)
 *
 * RocksDB's threads do not survive fuse_daemonize()'s fork, so the store is
 * opened once before forking only to check it (a store held elsewhere or not a
 * store is reported on the terminal), the mountpoint is mounted (a bad one is
 * reported too), and the store is opened for real in the daemon.
 */
#include "fs.h"
#include "fs_i.h"

#include "engine.h"

#include <errno.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "usage: syncstore mount STORE MOUNTPOINT [-f] [-d] [-o OPT[,OPT...]]\n"
    "       syncstore STORE MOUNTPOINT [-o OPT[,...]]   (the form mount.fuse3 uses)\n"
    "\n"
    "Mounts STORE at MOUNTPOINT:\n"
    "  /<sync_id>/<bucket>/<key>   the records, read-only ('/' in a key is a directory)\n"
    "  /ctl/compact/<sync_id>      echo /abs/source > it to compact; cat it for the status\n"
    "  /ctl/delete/<sync_id>       write anything to delete the sync\n"
    "  /ctl/stats                  the store's figures (JSON)\n"
    "Runs in the background unless -f.  Unmount with 'fusermount3 -u MOUNTPOINT'\n"
    "(or SIGTERM/SIGINT to the daemon).\n"
    "\n"
    "  -f                       stay in the foreground, log to stderr\n"
    "  -d                       FUSE debug output (implies -f)\n"
    "  -o version_max_age=SECS  how long an old version of a sync stays readable\n"
    "                           after a compaction replaced it (default 3600)\n"
    "  -o threads=N             FUSE worker threads (default 64)\n"
    "  -o readdirplus=always    every listing page with attributes (no LOOKUP per file\n"
    "                           for du or tar, but a node per entry for find too);\n"
    "                           default auto: the kernel decides per directory\n"
    "  -o ro                    read-only: ctl/ takes no writes, and the kernel opens\n"
    "                           files without asking the daemon (two requests less\n"
    "                           per file read)\n"
    "  -o OPT                   any FUSE mount option: allow_other,\n"
    "                           default_permissions, ro, fsname=..., debug, ...\n";

struct mount_args {
    const char *store;
    const char *mountpoint;
    int foreground;
    int debug;
    double version_max_age;
    unsigned threads;
    int read_only; /* "ro" among the FUSE options (the last of ro and rw wins) */
    int readdirplus_always;
    char *fuse_opts; /* comma-separated options for libfuse, or NULL */
};

/* Where the daemon's messages go: syslog (LOG_DAEMON) once daemonized, stderr
 * only with -f (where a service manager collects it: both would double every
 * line in the journal). */
static int log_to_stderr;

void fs_log_open(int foreground)
{
    log_to_stderr = foreground;
    if (!foreground)
        openlog("syncstore", LOG_PID, LOG_DAEMON);
}

void fs_log(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (log_to_stderr) {
        static const char *const names[] = {"emergency", "alert",  "critical", "error",
                                            "warning",   "notice", "info",     "debug"};
        fprintf(stderr, "syncstore[%d]: %s: ", (int)getpid(), names[LOG_PRI(priority)]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    } else {
        vsyslog(priority, fmt, ap);
    }
    va_end(ap);
}

static void err_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void err_line(const char *fmt, ...)
{
    va_list ap;
    fputs("syncstore: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Splits one -o argument: ours are taken, the rest appended to fuse_opts.
 * 0, or the exit status after the message: 2 a bad option, 1 out of memory. */
static int take_options(struct mount_args *a, const char *list)
{
    char *copy = strdup(list);
    if (!copy) {
        err_line("cannot read -o '%s': %s", list, strerror(ENOMEM));
        return 1;
    }
    char *save = NULL;
    for (char *opt = strtok_r(copy, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        if (!strncmp(opt, "version_max_age=", 16)) {
            char *end;
            double v = strtod(opt + 16, &end);
            if (*end || v < 0) {
                err_line("-o version_max_age needs a number of seconds, got '%s'", opt + 16);
                free(copy);
                return 2;
            }
            a->version_max_age = v;
        } else if (!strncmp(opt, "threads=", 8)) {
            char *end;
            long v = strtol(opt + 8, &end, 10);
            if (*end || v < 2 || v > 100000) {
                err_line("-o threads needs a number from 2 to 100000, got '%s'", opt + 8);
                free(copy);
                return 2;
            }
            a->threads = (unsigned)v;
        } else if (!strncmp(opt, "readdirplus=", 12)) {
            if (strcmp(opt + 12, "auto") && strcmp(opt + 12, "always")) {
                err_line("-o readdirplus needs 'auto' or 'always', got '%s'", opt + 12);
                free(copy);
                return 2;
            }
            a->readdirplus_always = !strcmp(opt + 12, "always");
        } else if (!strcmp(opt, "foreground")) {
            a->foreground = 1;
        } else if (!strcmp(opt, "debug")) {
            a->debug = 1;
            a->foreground = 1;
        } else if (!strcmp(opt, "_netdev") || !strcmp(opt, "nofail") || !strcmp(opt, "auto") ||
                   !strcmp(opt, "noauto") || !strcmp(opt, "user") || !strcmp(opt, "users") ||
                   !strcmp(opt, "defaults")) {
            /* fstab-only words that may reach us; they mean nothing to FUSE */
        } else {
            if (!strcmp(opt, "ro") || !strcmp(opt, "rw")) /* passed on to FUSE too */
                a->read_only = opt[1] == 'o';
            size_t old = a->fuse_opts ? strlen(a->fuse_opts) : 0, len = strlen(opt);
            char *joined = realloc(a->fuse_opts, old + len + 2);
            if (!joined) {
                err_line("cannot read -o '%s': %s", list, strerror(ENOMEM));
                free(copy);
                return 1;
            }
            if (old)
                joined[old++] = ',';
            memcpy(joined + old, opt, len + 1);
            a->fuse_opts = joined;
        }
    }
    free(copy);
    return 0;
}

/* 0 to go on, -1 after the help, or the exit status after the message. */
static int parse_args(int argc, char **argv, int first, struct mount_args *a)
{
    int st;
    for (int i = first; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(s, "-f")) {
            a->foreground = 1;
        } else if (!strcmp(s, "-d")) {
            a->debug = 1;
            a->foreground = 1;
        } else if (!strcmp(s, "-o")) {
            if (++i == argc) {
                err_line("-o needs options (see 'syncstore mount --help')");
                return 2;
            }
            if ((st = take_options(a, argv[i])))
                return st;
        } else if (!strncmp(s, "-o", 2)) {
            if ((st = take_options(a, s + 2)))
                return st;
        } else if (s[0] == '-' && s[1]) {
            err_line("unknown option '%s' for mount (see 'syncstore mount --help')", s);
            return 2;
        } else if (!a->store) {
            a->store = s;
        } else if (!a->mountpoint) {
            a->mountpoint = s;
        } else {
            err_line("unexpected argument '%s' for mount", s);
            return 2;
        }
    }
    if (!a->store || !a->mountpoint) {
        err_line("mount needs STORE and MOUNTPOINT (see 'syncstore mount --help')");
        return 2;
    }
    return 0;
}

/* Opens the store read-write in a child process and reports why it cannot be
 * opened.  The parent must not touch RocksDB itself: its global thread pools
 * would be left half-alive in the daemon that fuse_daemonize() forks. */
static int check_store(const char *path)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        engine *e = NULL;
        char *msg = NULL;
        int rc = engine_open(path, ENGINE_OPEN_READ_WRITE, &e, &msg);
        if (rc) {
            const char *text = msg ? msg : engine_strerror(rc);
            ssize_t w = write(fds[1], text, strlen(text));
            (void)w;
            _exit(1);
        }
        engine_close(e);
        _exit(0);
    }
    close(fds[1]);
    char text[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof text - 1 && (n = read(fds[0], text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)n;
    text[len] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    err_line("%s", len ? text : "cannot open the store");
    return 1;
}

/* The daemon's malloc arenas (fs_main). */
#define MOUNT_ARENAS 2

int fs_main(int argc, char **argv)
{
    struct mount_args a = {.version_max_age = 3600, .threads = 64};
    /* argv[0] is "mount", or the program's name in the mount.fuse3 form. */
    int status = parse_args(argc, argv, 1, &a);
    if (status) {
        free(a.fuse_opts);
        return status < 0 ? 0 : status;
    }

    /* glibc gives threads arenas of their own, up to 8 per core: the FUSE
     * workers then spread the nodes of every walk over many arenas, each of
     * which keeps the memory freed into it, and the daemon grew by 5.6 MB a
     * minute over a 25-minute soak.  Two arenas
     * held it flat (docs/BENCHMARKS.md "Soak").  MALLOC_ARENA_MAX overrides. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, MOUNT_ARENAS);

    /* Check the store before forking: it opens, and no one else holds it. */
    if (check_store(a.store)) {
        free(a.fuse_opts);
        return 1;
    }
    engine *e = NULL;
    char *msg = NULL;
    int rc;

    char *store_abs = realpath(a.store, NULL);
    int nomem = !store_abs && errno == ENOMEM;
    /* libfuse keeps the mountpoint as given to unmount it at exit, after the
     * daemon's chdir("/"): make it absolute (a /dev/fd/N is kept as is). */
    char *mnt_abs = NULL;
    if (strncmp(a.mountpoint, "/dev/fd/", 8) && !(mnt_abs = realpath(a.mountpoint, NULL)))
        nomem |= errno == ENOMEM;
    const char *mountpoint = mnt_abs ? mnt_abs : a.mountpoint;
    char *fsname = NULL;
    if (asprintf(&fsname, "fsname=syncstore:%s,subtype=syncstore",
                 store_abs ? store_abs : a.store) < 0) {
        fsname = NULL;
        nomem = 1;
    }
    struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
    fuse_opt_add_arg(&args, "syncstore");
    if (a.debug)
        fuse_opt_add_arg(&args, "-d");
    if (fsname && (!a.fuse_opts || !strstr(a.fuse_opts, "fsname="))) {
        fuse_opt_add_arg(&args, "-o");
        fuse_opt_add_arg(&args, fsname);
    }
    if (a.fuse_opts) {
        fuse_opt_add_arg(&args, "-o");
        fuse_opt_add_arg(&args, a.fuse_opts);
    }

    struct fs *fs = nomem ? NULL : fs_new(a.version_max_age, a.read_only, a.readdirplus_always);
    struct fuse_session *se = fs ? fuse_session_new(&args, &fs_ops, sizeof fs_ops, fs) : NULL;
    status = 1;
    if (!fs) {
        err_line("cannot mount '%s': %s", a.store, strerror(ENOMEM));
        goto out;
    }
    if (!se) {
        err_line("cannot start FUSE with options '%s' (see 'syncstore mount --help')",
                 a.fuse_opts ? a.fuse_opts : "");
        goto out;
    }
    fs_set_session(fs, se);
    if (fuse_session_mount(se, mountpoint) != 0) {
        struct stat st;
        if (stat(a.mountpoint, &st) != 0 && errno == ENOTCONN)
            err_line("cannot mount on '%s': a dead mount is still there (its daemon was "
                     "killed); unmount it first: fusermount3 -u '%s'",
                     a.mountpoint, a.mountpoint);
        else
            err_line("cannot mount on '%s' (is it an existing directory you may mount on?)",
                     a.mountpoint);
        goto out_session;
    }
    if (fuse_daemonize(a.foreground) != 0) {
        err_line("cannot start the daemon");
        goto out_unmount;
    }
    fs_log_open(a.foreground);

    rc = engine_open(store_abs ? store_abs : a.store, ENGINE_OPEN_READ_WRITE | ENGINE_OPEN_RECLAIM,
                     &e, &msg);
    if (rc) {
        fs_log(LOG_ERR, "cannot open the store: %s", msg ? msg : engine_strerror(rc));
        free(msg);
        goto out_unmount;
    }
    if (fs_start(fs, e) != 0 || fuse_set_signal_handlers(se) != 0) {
        fs_log(LOG_ERR, "cannot start the file system");
        goto out_unmount;
    }
    fs_log(LOG_INFO, "mounted %s on %s", a.store, a.mountpoint);
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, a.threads);
    fuse_loop_cfg_set_idle_threads(cfg, a.threads / 4 > 4 ? a.threads / 4 : 4);
    rc = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    fuse_remove_signal_handlers(se);
    status = rc < 0 ? 1 : 0;
    fs_log(LOG_INFO, "unmounting %s", a.mountpoint);
out_unmount:
    if (fs_stop(fs) != 0) {
        /* Its thread is blocked in the kernel and may still use the session:
         * unmount and leave; the connection closes with the process, and the
         * store is safe without a close (RocksDB recovers from its log). */
        fs_log(LOG_ERR, "the background thread did not stop; exiting without closing the store");
        fuse_session_unmount(se);
        _exit(status ? status : 1);
    }
    fuse_session_unmount(se);
out_session:
    fuse_session_destroy(se);
out:
    fs_free(fs);
    engine_close(e);
    fuse_opt_free_args(&args);
    free(fsname);
    free(store_abs);
    free(mnt_abs);
    free(a.fuse_opts);
    return status;
}
