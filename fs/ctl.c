/*
 * ctl.c - parsing what is written to the control files (pure; fuzzed).
 */
#include "fs.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

int ctl_parse_source(const char *buf, size_t len, char *out, size_t out_size)
{
    if (len && buf[len - 1] == '\n')
        len--;
    if (len == 0 || buf[0] != '/' || len >= PATH_MAX || len + 1 > out_size)
        return -EINVAL;
    if (memchr(buf, '\0', len) || memchr(buf, '\n', len))
        return -EINVAL;
    memcpy(out, buf, len);
    out[len] = '\0';
    return 0;
}
