/*
 * fuzz_ctl.c - libFuzzer target for the ctl write parser (fs/ctl.c).
 *
 * Input: two bytes choosing the size of the output buffer (the FUSE handler
 * passes PATH_MAX; other sizes probe the bound), then the bytes of one write()
 * to /ctl/compact/<sync_id>.  The output buffer is allocated at exactly that
 * size, so a write past it is an ASan report.  Checks ctl_parse_source()
 * against SPEC's rule, written out independently here: one trailing newline
 * dropped, then an absolute path without NUL or newline, shorter than
 * PATH_MAX, that fits the buffer with its NUL; accepted paths are copied
 * exactly, anything else is -EINVAL.
 */
#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

static int expected_ok(const char *buf, size_t len, size_t out_size)
{
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len == 0 || buf[0] != '/' || len >= PATH_MAX || len + 1 > out_size)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0' || buf[i] == '\n')
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t choice = (size_t)data[0] | (size_t)data[1] << 8;
    size_t out_size = choice & 0x8000 ? choice % (PATH_MAX + 2) : PATH_MAX;
    const char *buf = (const char *)data + 2;
    size_t len = size - 2;

    char *out = malloc(out_size ? out_size : 1);
    CHECK(out);
    int rc = ctl_parse_source(buf, len, out, out_size);
    int ok = expected_ok(buf, len, out_size);
    CHECK(rc == 0 || rc == -EINVAL);
    CHECK((rc == 0) == ok);
    if (ok) {
        size_t n = strlen(out);
        CHECK(n + 1 <= out_size && n < PATH_MAX);
        CHECK(n == len || (n + 1 == len && buf[n] == '\n'));
        CHECK(!memcmp(out, buf, n) && out[0] == '/');
    }
    free(out);
    return 0;
}
