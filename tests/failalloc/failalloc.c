/*
 * failalloc.c - a failing allocator for the project's own code, as SQLite's
 * test_malloc.c is for SQLite: the N-th allocation fails, so that every error
 * path after an allocation is run by tools/dev/failalloc.sh, under ASan.
 *
 * Linked into the syncstore binary only with -DSYNCSTORE_FAILALLOC=ON, which
 * also links it with -Wl,--wrap=malloc,... (CMakeLists.txt lists the
 * functions).  --wrap rewrites the references of the objects in that link,
 * that is the project's own libraries and main.c: their malloc() calls
 * __wrap_malloc() here, while libc, RocksDB, libfuse, SQLite, jansson and zstd
 * keep calling the real allocator.  Every function of the project that
 * returns new memory counts: malloc, calloc, realloc, strdup, strndup,
 * asprintf, vasprintf, open_memstream, getline and getdelim (any call may grow
 * the line), realpath with no buffer, fopen, opendir and fdopendir (a FILE or
 * DIR is allocated).
 *
 * The environment, read at the first call (nothing of ours allocates before
 * main, and getenv does not allocate):
 *   SYNCSTORE_FAIL_ALLOC=N         the N-th call (1, 2, ...) fails with
 *                                  ENOMEM; only that one ("one-shot", the
 *                                  strictest for recovery paths: every later
 *                                  call succeeds, so the cleanup and the
 *                                  message after the failure run to the end,
 *                                  where SQLite's persistent mode would fail
 *                                  them at their first allocation).
 *                                  Unset or 0: nothing fails, calls are counted.
 *   SYNCSTORE_FAIL_ALLOC_REPORT=F  append lines to the file F: "fail N" when
 *                                  call N fails (also in a forked child),
 *                                  "calls C" at exit, C the calls counted so
 *                                  far (none from a process that leaves by
 *                                  _exit, such as a forked child).
 *   SYNCSTORE_FAIL_ALLOC_TRACE=1   print the stack of the call that fails to
 *                                  stderr (a sanitizer build only), to find
 *                                  which allocation a run failed.
 * The counter is atomic, in a shared page made before main: the daemon
 * allocates from many threads, and the one call that fails is whichever takes
 * number N; a forked child counts on with its parent (`mount` checks the store
 * in a child and waits for it, so the child's calls come first, then the
 * parent's, and a failure in the child does not hide the parent's calls).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
FILE *__real_open_memstream(char **buf, size_t *size);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
ssize_t __real_getdelim(char **line, size_t *cap, int delim, FILE *f);
ssize_t __real___getdelim(char **line, size_t *cap, int delim, FILE *f);
char *__real_realpath(const char *path, char *resolved);
FILE *__real_fopen(const char *path, const char *mode);
FILE *__real_fopen64(const char *path, const char *mode);
DIR *__real_opendir(const char *path);
DIR *__real_fdopendir(int fd);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int __wrap_vasprintf(char **out, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
FILE *__wrap_open_memstream(char **buf, size_t *size);
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f);
ssize_t __wrap_getdelim(char **line, size_t *cap, int delim, FILE *f);
ssize_t __wrap___getdelim(char **line, size_t *cap, int delim, FILE *f);
char *__wrap_realpath(const char *path, char *resolved);
FILE *__wrap_fopen(const char *path, const char *mode);
FILE *__wrap_fopen64(const char *path, const char *mode);
DIR *__wrap_opendir(const char *path);
DIR *__wrap_fdopendir(int fd);

/* From the sanitizer runtime, when there is one. */
void __sanitizer_print_stack_trace(void) __attribute__((weak));

#define UNREAD (-1L)

static atomic_long fail_at = UNREAD; /* the call that fails; 0: none */
static _Atomic(atomic_long *) calls; /* in the shared page */
static atomic_long own_calls;        /* the counter when there is no shared page */

static atomic_long *counter(void)
{
    atomic_long *c = atomic_load(&calls);
    if (c)
        return c;
    void *page = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    atomic_long *fresh = page == MAP_FAILED ? &own_calls : page;
    if (atomic_compare_exchange_strong(&calls, &c, fresh))
        return fresh;
    if (page != MAP_FAILED)
        munmap(page, sizeof *c); /* another thread made it first: c is its page */
    return c;
}

/* Before main, so that a child forked before the first call shares it too. */
__attribute__((constructor)) static void make_counter(void)
{
    counter();
}

/* Appends one line to the report file, if any; write(2) only, no allocation. */
static void report(const char *what, long n)
{
    const char *path = getenv("SYNCSTORE_FAIL_ALLOC_REPORT");
    if (!path || !*path)
        return;
    char line[64];
    int len = snprintf(line, sizeof line, "%s %ld\n", what, n);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (len > 0) {
        ssize_t w = write(fd, line, (size_t)len);
        (void)w;
    }
    close(fd);
}

/* Counts one call; whether it is the one that fails (errno is then ENOMEM). */
static int fail_now(void)
{
    long at = atomic_load(&fail_at);
    if (at == UNREAD) {
        const char *s = getenv("SYNCSTORE_FAIL_ALLOC");
        char *end = NULL;
        at = s ? strtol(s, &end, 10) : 0;
        if (!s || *end || at < 0)
            at = 0;
        atomic_store(&fail_at, at);
    }
    long n = atomic_fetch_add(counter(), 1) + 1;
    if (n != at)
        return 0;
    report("fail", n);
    const char *trace = getenv("SYNCSTORE_FAIL_ALLOC_TRACE");
    if (trace && !strcmp(trace, "1") && __sanitizer_print_stack_trace)
        __sanitizer_print_stack_trace();
    errno = ENOMEM;
    return 1;
}

__attribute__((destructor)) static void report_calls(void)
{
    report("calls", atomic_load(counter()));
}

void *__wrap_malloc(size_t size)
{
    return fail_now() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now() ? NULL : __real_calloc(n, size);
}

/* A failed realloc leaves p as it was, as the real one does. */
void *__wrap_realloc(void *p, size_t size)
{
    return fail_now() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now() ? NULL : __real_strndup(s, n);
}

/* A failure leaves *out as it was: glibc does not promise to set it. */
int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
    return fail_now() ? -1 : __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
    if (fail_now())
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = __real_vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

FILE *__wrap_open_memstream(char **buf, size_t *size)
{
    return fail_now() ? NULL : __real_open_memstream(buf, size);
}

/* As when the line cannot grow: -1 with ENOMEM, *line and *cap untouched. */
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f)
{
    return fail_now() ? -1 : __real_getline(line, cap, f);
}

ssize_t __wrap_getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    return fail_now() ? -1 : __real_getdelim(line, cap, delim, f);
}

/* What getline() becomes with glibc's inline stdio at -O1 and above. */
ssize_t __wrap___getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    return fail_now() ? -1 : __real___getdelim(line, cap, delim, f);
}

/* Only realpath(path, NULL) allocates. */
char *__wrap_realpath(const char *path, char *resolved)
{
    if (!resolved && fail_now())
        return NULL;
    return __real_realpath(path, resolved);
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    return fail_now() ? NULL : __real_fopen(path, mode);
}

/* What fopen() is with _FILE_OFFSET_BITS=64. */
FILE *__wrap_fopen64(const char *path, const char *mode)
{
    return fail_now() ? NULL : __real_fopen64(path, mode);
}

DIR *__wrap_opendir(const char *path)
{
    return fail_now() ? NULL : __real_opendir(path);
}

DIR *__wrap_fdopendir(int fd)
{
    return fail_now() ? NULL : __real_fdopendir(fd);
}
