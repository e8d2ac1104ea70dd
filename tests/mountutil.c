/*
 * mountutil.c - what the mount tests share: processes run with a timeout in
 * their own groups, shells, the syncstore binary, and fixtures that mount a
 * base with the real daemon and always unmount it (see mountutil.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mountutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MOUNT_TIMEOUT_MS 30000
#define WATCHDOG_SECONDS 600

/* ---- time ---- */

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

/* ---- growing string lists ---- */

void strv_add(struct strv *s, const char *str, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        s->len = realloc(s->len, s->cap * sizeof *s->len);
        assert_non_null(s->v);
        assert_non_null(s->len);
    }
    char *c = malloc(len + 1);
    assert_non_null(c);
    memcpy(c, str, len);
    c[len] = '\0';
    s->v[s->n] = c;
    s->len[s->n++] = len;
}

void strv_addf(struct strv *s, const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    strv_add(s, p, (size_t)n);
    free(p);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts (byte order, as LC_ALL=C) and drops duplicates. */
void strv_sort_unique(struct strv *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (w && !strcmp(s->v[w - 1], s->v[i])) {
            free(s->v[i]);
            continue;
        }
        s->v[w++] = s->v[i];
    }
    s->n = w;
    for (size_t i = 0; i < s->n; i++)
        s->len[i] = strlen(s->v[i]);
}

void strv_release(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    free(s->len);
    memset(s, 0, sizeof *s);
}

/* Splits buf at sep; an empty last piece is dropped. */
void strv_split(struct strv *s, const char *buf, size_t len, char sep)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == sep) {
            strv_add(s, buf + start, i - start);
            start = i + 1;
        }
    }
    if (start < len)
        strv_add(s, buf + start, len - start);
}

/* Both lists, sorted and unique, are equal; otherwise names the first difference. */
void assert_same_set(struct strv *want, struct strv *got, const char *what)
{
    size_t got_n = got->n;
    strv_sort_unique(want);
    strv_sort_unique(got);
    if (got->n != got_n)
        fail_msg("%s: %zu duplicate entries", what, got_n - got->n);
    size_t i = 0;
    while (i < want->n && i < got->n && !strcmp(want->v[i], got->v[i]))
        i++;
    if (i < want->n || i < got->n)
        fail_msg("%s: %zu expected, %zu seen; first difference: expected '%s', seen '%s'", what,
                 want->n, got->n, i < want->n ? want->v[i] : "(end)",
                 i < got->n ? got->v[i] : "(end)");
}

/* ---- processes ---- */

static pid_t main_pid;
#define MAX_KIDS 64
static pid_t kids[MAX_KIDS]; /* helper processes, each leading its own group */

void kid_add(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++) {
        if (!kids[i]) {
            kids[i] = pid;
            return;
        }
    }
}

static void kid_remove(pid_t pid)
{
    for (int i = 0; i < MAX_KIDS; i++)
        if (kids[i] == pid)
            kids[i] = 0;
}

static void kill_kids(void)
{
    for (int i = 0; i < MAX_KIDS; i++) {
        if (kids[i] > 0) {
            kill(-kids[i], SIGKILL);
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
            kids[i] = 0;
        }
    }
}

/* The exit status of a wait: the code, or 128 + the signal. */
static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

/* Waits for a child; -1 (after killing its group) when it outlives timeout_ms. */
int wait_child(pid_t pid, int timeout_ms, int *raw)
{
    long long deadline = now_ms() + timeout_ms;
    long step = 1;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            kid_remove(pid);
            return -1;
        }
        if (now_ms() > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            kid_remove(pid);
            print_message("process %d killed after %d ms\n", (int)pid, timeout_ms);
            return -1;
        }
        sleep_ms(step);
        if (step < 20)
            step *= 2;
    }
    kid_remove(pid);
    if (raw)
        *raw = st;
    return decode_status(st);
}

/* Starts argv in its own process group with extra "NAME=VALUE" strings in its
 * environment; stdout goes to out_fd (or /dev/null when -1), stderr too when
 * merge, else it stays ours. */
/* The user children run as (mu_run_as); -1: as we are. */
static uid_t as_uid = (uid_t)-1;
static gid_t as_gid = (gid_t)-1;

void mu_run_as(uid_t uid, gid_t gid)
{
    as_uid = uid;
    as_gid = gid;
}

/* In a child: becomes the mu_run_as() user, if one is set. */
static void become_user(void)
{
    if (as_uid == (uid_t)-1)
        return;
    if (setgroups(0, NULL) || setgid(as_gid) || setuid(as_uid))
        _exit(126);
}

pid_t spawn(char *const argv[], char *const env[], int out_fd, int merge)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        become_user();
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        if (merge)
            dup2(out_fd >= 0 ? out_fd : null, 2);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execvp(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    kid_add(pid);
    return pid;
}

/* Runs argv to its end and returns its exit status (-1 on timeout); its
 * stdout (and stderr when merge) is captured into *out (malloc'd,
 * NUL-terminated) when out is not NULL. */
int run_argv(char *const argv[], char *const env[], int merge, char **out, size_t *out_len)
{
    int pfd[2] = {-1, -1};
    if (out)
        assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid_t pid = spawn(argv, env, pfd[1], merge);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (out) {
        close(pfd[1]);
        long long deadline = now_ms() + CMD_TIMEOUT_MS;
        for (;;) {
            struct pollfd p = {.fd = pfd[0], .events = POLLIN};
            int left = (int)(deadline - now_ms());
            if (left <= 0 || poll(&p, 1, left) == 0)
                break;
            if (cap - len < 65536) {
                cap = cap ? cap * 2 : 131072;
                char *grown = realloc(buf, cap);
                assert_non_null(grown);
                buf = grown;
            }
            ssize_t n = read(pfd[0], buf + len, cap - len - 1);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            len += (size_t)n;
        }
        close(pfd[0]);
        if (!buf)
            buf = calloc(1, 1);
        buf[len] = '\0';
        *out = buf;
        if (out_len)
            *out_len = len;
    }
    return wait_child(pid, CMD_TIMEOUT_MS, NULL);
}

/* Runs `prog -c script prog args...` (args NULL-terminated): prog is "sh" or
 * "bash", so the script reads its arguments as "$1"... with no quoting. */
static int shell_v(const char *prog, char *const env[], int merge, char **out, size_t *out_len,
                   const char *script, va_list ap)
{
    const char *argv[16] = {prog, "-c", script, prog};
    int n = 4;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < 15);
        argv[n++] = a;
    }
    argv[n] = NULL;
    return run_argv((char *const *)argv, env, merge, out, out_len);
}

/* sh -c script; stdout into *out when out is not NULL. */
int sh(char **out, const char *script, ...)
{
    va_list ap;
    va_start(ap, script);
    int rc = shell_v("sh", NULL, 0, out, NULL, script, ap);
    va_end(ap);
    return rc;
}

/* sh -c script with stdout and its length (binary output). */
int sh_bin(char **out, size_t *out_len, const char *script, ...)
{
    va_list ap;
    va_start(ap, script);
    int rc = shell_v("sh", NULL, 0, out, out_len, script, ap);
    va_end(ap);
    return rc;
}

/* bash -c script; stdout and stderr into *out (bash names errno in words). */
int bash(char **out, const char *script, ...)
{
    va_list ap;
    va_start(ap, script);
    int rc = shell_v("bash", NULL, 1, out, NULL, script, ap);
    va_end(ap);
    return rc;
}

const char *bin(void)
{
    const char *b = getenv("SYNCSTORE_BIN");
    return b && *b ? b : "./syncstore";
}

/* Runs the syncstore program; prints its output when it fails. */
int syncstore(const char *a1, ...)
{
    const char *argv[16] = {bin(), a1};
    int n = 2;
    va_list ap;
    va_start(ap, a1);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        assert_true(n < 15);
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    char *out = NULL;
    int rc = run_argv((char *const *)argv, NULL, 1, &out, NULL);
    if (rc)
        print_message("syncstore %s: exit %d: %s\n", a1, rc, out);
    free(out);
    return rc;
}

/* ---- fixtures: a temp dir with BASE and MNT, and the daemon ---- */

#define MAX_LIVE 8
static struct fx *live[MAX_LIVE];

struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_mkdtemp();
    f->base = tu_join(f->dir, "base");
    f->mnt = tu_join(f->dir, "mnt");
    f->log = tu_join(f->dir, "daemon.log");
    assert_int_equal(mkdir(f->mnt, 0755), 0);
    /* A daemon built with ASan checks the buffers it passed to writev() after
     * the call returns; by then the kernel has completed the request, the
     * reader may have closed the file, and file_release (fs/file.c) on
     * another thread may have freed the value: a false "use after free" in
     * libfuse's reply (google/sanitizers#1498 is the same for send()).  Only
     * that call is exempt: writev reached through fuse_reply_buf, the reply
     * of a read.  Every other interceptor report, and every other writev,
     * stays on; other binaries ignore ASAN_OPTIONS. */
    static const char supp_text[] = "interceptor_via_fun:fuse_reply_buf\n";
    char *supp = tu_join(f->dir, "asan.supp");
    tu_write_file(supp, supp_text, strlen(supp_text));
    const char *asan = getenv("ASAN_OPTIONS");
    assert_true(asprintf(&f->asan_options, "ASAN_OPTIONS=%s%ssuppressions=%s", asan ? asan : "",
                         asan && *asan ? ":" : "", supp) > 0);
    free(supp);
    for (int i = 0; i < MAX_LIVE; i++) {
        if (!live[i]) {
            live[i] = f;
            break;
        }
    }
    return f;
}

/* Whether path is (still) the root of a mount other than its parent's. */
int is_mountpoint(const struct fx *f)
{
    struct stat a, b;
    if (stat(f->dir, &a))
        return 0;
    if (stat(f->mnt, &b))
        return errno == ENOTCONN || errno == EIO; /* a dead FUSE mount */
    return a.st_dev != b.st_dev;
}

static int fusermount(const char *opt, const char *mnt)
{
    char *const argv[] = {"fusermount3", (char *)opt, (char *)mnt, NULL};
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd); /* hold nothing inside the mount */
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return decode_status(st);
}

/* Prints the daemon's log (stdio only: also used at exit). */
static void print_log(const struct fx *f)
{
    FILE *in = fopen(f->log, "r");
    if (!in)
        return;
    char line[1024];
    while (fgets(line, sizeof line, in))
        fprintf(stderr, "daemon: %s", line);
    fclose(in);
}

/* Stops the daemon: by fusermount3 -u (how 0) or by a signal.  Never leaves a
 * mount behind.  Returns the daemon's exit status, -1 when it had to be
 * killed.  Usable from the atexit handler: no cmocka calls. */
int fx_unmount(struct fx *f, int how)
{
    if (f->daemon <= 0) {
        if (is_mountpoint(f)) /* a mount whose daemon is gone */
            fusermount("-uz", f->mnt);
        return -1;
    }
    if (how) {
        kill(f->daemon, how);
    } else {
        int ok = 0;
        for (int i = 0; i < 20 && !ok; i++) {
            ok = fusermount("-u", f->mnt) == 0;
            if (!ok)
                sleep_ms(100);
        }
        if (!ok)
            fusermount("-uz", f->mnt);
    }
    /* 15 s to exit (RocksDB closes; ASan checks for leaks), then SIGTERM,
     * then 5 s more and SIGKILL */
    int st = 0, status = -1, termed = how == SIGTERM;
    long long deadline = now_ms() + 15000;
    for (;;) {
        pid_t r = waitpid(f->daemon, &st, WNOHANG);
        if (r == f->daemon) {
            status = termed && how != SIGTERM ? -1 : decode_status(st);
            break;
        }
        if (r < 0 && errno != EINTR)
            break;
        if (now_ms() > deadline && !termed) {
            kill(f->daemon, SIGTERM);
            termed = 1;
            deadline = now_ms() + 5000;
        } else if (now_ms() > deadline) {
            kill(f->daemon, SIGKILL);
            waitpid(f->daemon, NULL, 0);
            break;
        }
        sleep_ms(5);
    }
    f->daemon = 0;
    if (is_mountpoint(f))
        fusermount("-uz", f->mnt);
    if (status != 0) {
        fprintf(stderr, "the daemon ended with %d; its log:\n", status);
        print_log(f);
    }
    return status;
}

/* Mounts BASE on MNT with -f and the given -o options and extra environment;
 * waits until MNT/ctl exists.  Returns 0, or -1 (the log is printed). */
/* Starts the daemon on MNT, or on /dev/fd/FUSE_FD (a connection we mounted)
 * when fuse_fd >= 0, and waits for MNT/ctl. */
static int start_daemon(struct fx *f, const char *opts, const char *env, int fuse_fd)
{
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int log = open(f->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        become_user();                    /* first: a change of user clears the death signal */
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
        if (getppid() != parent)
            _exit(1);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        for (int fd = 3; fd < 1024; fd++)
            if (fd != fuse_fd)
                close(fd); /* no fd of ours, least of all one inside the mount */
        putenv(f->asan_options);
        if (env)
            putenv((char *)env);
        char dev[32];
        snprintf(dev, sizeof dev, "/dev/fd/%d", fuse_fd);
        const char *mnt = fuse_fd >= 0 ? dev : f->mnt;
        if (opts)
            execl(bin(), bin(), "mount", f->base, mnt, "-f", "-o", opts, (char *)NULL);
        else
            execl(bin(), bin(), "mount", f->base, mnt, "-f", (char *)NULL);
        _exit(127);
    }
    /* The daemon alone holds the connection: should it die before serving,
     * the connection aborts and nothing here waits on it. */
    if (fuse_fd >= 0)
        close(fuse_fd);
    f->daemon = pid;
    char *ctl = tu_join(f->mnt, "ctl");
    long long deadline = now_ms() + MOUNT_TIMEOUT_MS;
    int rc = -1;
    for (;;) {
        struct stat st;
        if (stat(ctl, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = 0;
            break;
        }
        int wst;
        if (waitpid(pid, &wst, WNOHANG) == pid) {
            print_message("the daemon exited with %d before mounting\n", decode_status(wst));
            f->daemon = 0;
            break;
        }
        if (now_ms() > deadline) {
            print_message("no %s after %d ms\n", ctl, MOUNT_TIMEOUT_MS);
            fx_unmount(f, SIGKILL);
            break;
        }
        sleep_ms(5);
    }
    free(ctl);
    if (rc)
        print_log(f);
    return rc;
}

int fx_mount(struct fx *f, const char *opts, const char *env)
{
    return start_daemon(f, opts, env, -1);
}

int fx_mount_as(struct fx *f, uid_t uid, gid_t gid)
{
    int fd = open("/dev/fuse", O_RDWR);
    if (fd < 0) {
        print_message("cannot open /dev/fuse: %s\n", strerror(errno));
        return -1;
    }
    char opts[128];
    snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=%u,group_id=%u,allow_other", fd,
             (unsigned)uid, (unsigned)gid);
    if (mount("syncstore", f->mnt, "fuse.syncstore", MS_NOSUID | MS_NODEV, opts)) {
        print_message("cannot mount %s: %s\n", f->mnt, strerror(errno));
        close(fd);
        return -1;
    }
    uid_t old_uid = as_uid;
    gid_t old_gid = as_gid;
    mu_run_as(uid, gid);
    int rc = start_daemon(f, NULL, NULL, fd); /* closes fd */
    mu_run_as(old_uid, old_gid);
    return rc;
}

/* Closes our own descriptors inside the mount (a failed assertion may leave
 * one open), so that nothing keeps it busy. */
static void close_fds_under(const char *mnt)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    int fds[256], n = 0;
    size_t ml = strlen(mnt);
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        char link[64], target[PATH_MAX];
        int fd = atoi(de->d_name);
        if (fd <= 2 || fd == dirfd(d))
            continue;
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        if ((size_t)len >= ml && !memcmp(target, mnt, ml) &&
            (target[ml] == '/' || target[ml] == '\0'))
            fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

/* Unmounts and removes everything; NULL is allowed.  No cmocka calls. */
static void fx_free(struct fx *f)
{
    if (!f)
        return;
    kill_kids();
    close_fds_under(f->mnt);
    fx_unmount(f, 0);
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i] == f)
            live[i] = NULL;
    for (int i = 0; i < 4; i++)
        free(f->src[i]);
    free(f->base);
    free(f->mnt);
    free(f->log);
    free(f->asan_options);
    tu_rmtree(f->dir);
    free(f);
}

/* ---- other mounts the tests make (a small tmpfs) ---- */

#define MAX_OTHER 4
static char *other_mounts[MAX_OTHER];

void mu_track_mount(const char *path)
{
    for (int i = 0; i < MAX_OTHER; i++) {
        if (!other_mounts[i]) {
            other_mounts[i] = strdup(path);
            return;
        }
    }
}

void mu_untrack_mount(const char *path)
{
    for (int i = 0; i < MAX_OTHER; i++) {
        if (other_mounts[i] && !strcmp(other_mounts[i], path)) {
            free(other_mounts[i]);
            other_mounts[i] = NULL;
        }
    }
}

/* ---- users the tests create ---- */

#define MAX_USERS 4
static char *users[MAX_USERS]; /* names to remove at exit */

static int run_quiet(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return decode_status(st);
}

static void user_remove(char *name)
{
    char *const argv[] = {"userdel", name, NULL};
    run_quiet(argv);
    free(name);
}

int mu_user_new(struct mu_user *u)
{
    memset(u, 0, sizeof *u);
    if (geteuid() != 0)
        return -1;
    for (int i = 0; i < MAX_USERS; i++) {
        if (!users[i]) {
            snprintf(u->name, sizeof u->name, "sstest%d_%d", (int)getpid(), i);
            char *const argv[] = {"useradd",
                                  "--system",
                                  "--no-create-home",
                                  "--shell",
                                  "/usr/sbin/nologin",
                                  "--user-group",
                                  u->name,
                                  NULL};
            if (run_quiet(argv) != 0) {
                print_message("useradd %s failed\n", u->name);
                return -1;
            }
            users[i] = strdup(u->name);
            struct passwd *pw = getpwnam(u->name);
            assert_non_null(pw);
            u->uid = pw->pw_uid;
            u->gid = pw->pw_gid;
            return 0;
        }
    }
    return -1;
}

void mu_user_free(struct mu_user *u)
{
    for (int i = 0; i < MAX_USERS; i++) {
        if (users[i] && !strcmp(users[i], u->name)) {
            user_remove(users[i]);
            users[i] = NULL;
        }
    }
    memset(u, 0, sizeof *u);
}

static void cleanup_all(void)
{
    if (getpid() != main_pid)
        return;
    kill_kids();
    for (int i = 0; i < MAX_OTHER; i++) { /* before the directories holding them go */
        if (other_mounts[i]) {
            umount2(other_mounts[i], MNT_DETACH);
            free(other_mounts[i]);
            other_mounts[i] = NULL;
        }
    }
    for (int i = 0; i < MAX_LIVE; i++)
        if (live[i])
            fx_free(live[i]);
    for (int i = 0; i < MAX_USERS; i++) {
        if (users[i]) {
            user_remove(users[i]);
            users[i] = NULL;
        }
    }
}

static void on_fatal_signal(int sig)
{
    if (getpid() == main_pid) {
        /* Kill the daemons first: that unblocks any request we wait on. */
        for (int i = 0; i < MAX_LIVE; i++)
            if (live[i] && live[i]->daemon > 0)
                kill(live[i]->daemon, SIGKILL);
        cleanup_all();
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int teardown(void **state)
{
    fx_free(*state);
    *state = NULL;
    return 0;
}

/* ---- writing data ---- */

static char *b64(const void *data, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = tab[(v >> 18) & 63];
        *o++ = tab[(v >> 12) & 63];
        *o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* One raw load line with key_b64 and value_b64. */
void put_raw(FILE *out, const char *sync, const char *bucket, const void *key, size_t key_len,
             const void *value, size_t value_len)
{
    char *k = b64(key, key_len), *v = b64(value, value_len);
    fprintf(out, "{\"sync\":\"%s\",\"bucket\":\"%s\",\"key_b64\":\"%s\",\"value_b64\":\"%s\"}\n",
            sync, bucket, k, v);
    free(k);
    free(v);
}

/* Loads text (JSON Lines) into store with `syncstore load`. */
static void load_text(struct fx *f, const char *store, const char *text, size_t len)
{
    char *file = tu_join(f->dir, "load.jsonl");
    tu_write_file(file, text, len);
    assert_int_equal(syncstore("load", store, file, NULL), 0);
    unlink(file);
    free(file);
}

FILE *lines_open(struct lines *l)
{
    memset(l, 0, sizeof *l);
    l->f = open_memstream(&l->buf, &l->len);
    assert_non_null(l->f);
    return l->f;
}

void lines_load(struct lines *l, struct fx *f, const char *store)
{
    fclose(l->f);
    load_text(f, store, l->buf, l->len);
    free(l->buf);
    memset(l, 0, sizeof *l);
}

char *src_path(struct fx *f, int i, const char *name)
{
    free(f->src[i]);
    f->src[i] = tu_join(f->dir, name);
    return f->src[i];
}

char *mnt_path(const struct fx *f, const char *rel)
{
    return tu_join(f->mnt, rel);
}

/* ---- reading the store ---- */

engine *open_ro(const char *store)
{
    engine *e = NULL;
    char *msg = NULL;
    int rc = engine_open(store, ENGINE_OPEN_READ_ONLY, &e, &msg);
    if (rc)
        fail_msg("opening %s read-only: %s", store, msg ? msg : engine_strerror(rc));
    return e;
}

/* The hash of a sync in a store (tu_hash_range); *count gets the keys. */
uint64_t sync_hash(const char *store, const char *sync, size_t *count)
{
    engine *e = open_ro(store);
    uint64_t h = tu_hash_range(e, sync, NULL, count);
    engine_close(e);
    return h;
}

/* ---- ctl helpers ---- */

/* `sh -c 'echo SRC > MNT/ctl/compact/SYNC'`: the shell's exit status. */
int sh_compact(const struct fx *f, const char *source, const char *sync)
{
    char *ctl = NULL;
    assert_true(asprintf(&ctl, "%s/ctl/compact/%s", f->mnt, sync) > 0);
    int rc = sh(NULL, "exec 2>/dev/null; echo \"$1\" > \"$2\"", source, ctl, NULL);
    free(ctl);
    return rc;
}

/* The same through bash, which names the write's errno; returns the exit
 * status and the text in *text. */
int bash_compact(const struct fx *f, const char *source, const char *sync, char **text)
{
    char *ctl = NULL;
    assert_true(asprintf(&ctl, "%s/ctl/compact/%s", f->mnt, sync) > 0);
    int rc = bash(text, "echo \"$1\" > \"$2\"", source, ctl, NULL);
    free(ctl);
    return rc;
}

void expect_compact_error(const struct fx *f, const char *source, const char *sync,
                          const char *words)
{
    char *text = NULL;
    int rc = bash_compact(f, source, sync, &text);
    if (rc == 0 || !strstr(text, words))
        fail_msg("compact %s from '%s': exit %d, '%s'; wanted '%s'", sync, source, rc, text, words);
    free(text);
}

/* cat MNT/ctl/compact/SYNC, parsed. */
json_t *status_of(const struct fx *f, const char *sync)
{
    char *ctl = NULL, *out = NULL;
    assert_true(asprintf(&ctl, "%s/ctl/compact/%s", f->mnt, sync) > 0);
    int rc = sh(&out, "cat \"$1\"", ctl, NULL);
    if (rc)
        fail_msg("cat %s: exit %d", ctl, rc);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!j || !json_is_object(j))
        fail_msg("status of %s is not a JSON object: '%s'", sync, out);
    free(ctl);
    free(out);
    return j;
}

/* Checks the status fields: state, source (NULL: null), keys (-1: any),
 * error (0: null, 1: a message). */
void check_status(json_t *j, const char *sync, const char *state, const char *source,
                  long long keys, int error)
{
    char *text = json_dumps(j, JSON_COMPACT);
    json_t *v;
    if (!(v = json_object_get(j, "sync_id")) || !json_is_string(v) ||
        strcmp(json_string_value(v), sync))
        fail_msg("sync_id: %s", text);
    if (!(v = json_object_get(j, "state")) || !json_is_string(v) ||
        strcmp(json_string_value(v), state))
        fail_msg("state is not %s: %s", state, text);
    v = json_object_get(j, "source");
    if (!v ||
        (source ? !json_is_string(v) || strcmp(json_string_value(v), source) : !json_is_null(v)))
        fail_msg("source is not %s: %s", source ? source : "null", text);
    if (!(v = json_object_get(j, "keys")) || !json_is_integer(v) ||
        (keys >= 0 && json_integer_value(v) != keys))
        fail_msg("keys is not %lld: %s", keys, text);
    if (!(v = json_object_get(j, "bytes")) || !json_is_integer(v) || json_integer_value(v) < 0)
        fail_msg("bytes: %s", text);
    if (!(v = json_object_get(j, "seconds")) || !json_is_number(v) || json_number_value(v) < 0)
        fail_msg("seconds: %s", text);
    v = json_object_get(j, "error");
    if (!v || (error ? !json_is_string(v) || !*json_string_value(v) : !json_is_null(v)))
        fail_msg("error is not %s: %s", error ? "a message" : "null", text);
    /* a finished attempt's method and its figures: all five or none */
    v = json_object_get(j, "method");
    if (v) {
        if (!json_is_string(v) ||
            (strcmp(json_string_value(v), "copy") && strcmp(json_string_value(v), "stream")))
            fail_msg("method is not copy or stream: %s", text);
        const char *counts[] = {"files_copied", "bytes_copied", "pieces", "threads"};
        for (size_t i = 0; i < 4; i++)
            if (!json_is_integer(json_object_get(j, counts[i])))
                fail_msg("%s is not a count: %s", counts[i], text);
    }
    assert_int_equal(json_object_size(j), v ? 12 : 7);
    free(text);
}

void expect_status(const struct fx *f, const char *sync, const char *state, const char *source,
                   long long keys, int error)
{
    json_t *j = status_of(f, sync);
    check_status(j, sync, state, source, keys, error);
    json_decref(j);
}

/* Polls the status until its state is `state` (5 s at most). */
void wait_state(const struct fx *f, const char *sync, const char *state)
{
    long long deadline = now_ms() + CMD_TIMEOUT_MS; /* a guard against a hang only */
    for (;;) {
        char *ctl = NULL, *out = NULL;
        assert_true(asprintf(&ctl, "%s/ctl/compact/%s", f->mnt, sync) > 0);
        int fd = open(ctl, O_RDONLY);
        free(ctl);
        if (fd >= 0) {
            char buf[4096];
            ssize_t n = read(fd, buf, sizeof buf - 1);
            close(fd);
            buf[n > 0 ? n : 0] = '\0';
            if (asprintf(&out, "\"state\":\"%s\"", state) > 0 && strstr(buf, out)) {
                free(out);
                return;
            }
            free(out);
        }
        if (now_ms() > deadline)
            fail_msg("the status of %s never became %s", sync, state);
        sleep_ms(10);
    }
}

/* ---- the test program ---- */

int mu_init(void)
{
    main_pid = getpid();
    atexit(cleanup_all);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGALRM, SIGQUIT};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaction(sigs[i], &sa, NULL);
    alarm(WATCHDOG_SECONDS);
    if (access("/dev/fuse", R_OK | W_OK)) {
        print_message("SKIP: /dev/fuse is not usable here\n");
        return -1;
    }
    const char *filter = getenv("SYNCSTORE_TEST_FILTER"); /* e.g. "test_ctl*" */
    if (filter && *filter)
        cmocka_set_test_filter(filter);
    return 0;
}
