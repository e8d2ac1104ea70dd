/*
 * c1z3_tar.c - the TAR and TAR_ZSTD payloads of a C1Z3 file: a streaming
 * tar reader of its own, over the file or over a zstd decoder of it.
 *
 * baton writes the payload with Go's archive/tar over a walk of the Pebble
 * directory (baton-sdk pkg/dotc1z/format/v3/envelope.go, writeTar and
 * writeZstdTar), and refuses non-local names when it extracts.  The tar
 * format (POSIX.1-2001 ustar, pax extended headers, GNU long names) is from
 * the POSIX pax(1) specification and GNU tar's manual.
 *
 * Accepted: regular files (type '0' or NUL, '7'), pax extended headers
 * ('x': their "path" and "size" records apply to the next entry; 'g' is
 * skipped), GNU long names ('L'), and the root directory entry ("./").
 * Refused (-ENOTSUP): links, directories, devices and every other type.
 * Names must be plain file names (a leading "./" is dropped); a header with
 * a bad checksum, an entry cut short, an archive without its end marker, and
 * non-zero bytes after it are corruption (-EINVAL).
 */
#include "c1z3_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "engine.h"

#define TAR_BLOCK 512
#define TAR_META_MAX (1u << 20) /* a pax header or GNU long name */

/* The payload bytes, plain or through zstd. */
struct src {
    struct c1z3_in *in;
    int zstd;
    ZSTD_DCtx *dctx;
    uint8_t *ibuf, *obuf;
    size_t icap, ocap;
    ZSTD_inBuffer ib;
    size_t opos, olen;
    size_t last; /* the decoder's last hint: 0 at the end of a frame */
    int in_eof;
};

/* Up to len bytes: the count, 0 at the end, or a negated errno. */
static long src_read(struct src *s, void *dst, size_t len, char **msg)
{
    if (!s->zstd)
        return c1z3_read(s->in, dst, len, msg);
    while (s->opos == s->olen) {
        if (s->ib.pos == s->ib.size && !s->in_eof) {
            long n = c1z3_read(s->in, s->ibuf, s->icap, msg);
            if (n < 0)
                return n;
            s->ib = (ZSTD_inBuffer){s->ibuf, (size_t)n, 0};
            if (n == 0)
                s->in_eof = 1;
        }
        ZSTD_outBuffer ob = {s->obuf, s->ocap, 0};
        size_t before = s->ib.pos;
        size_t r = ZSTD_decompressStream(s->dctx, &ob, &s->ib);
        if (ZSTD_isError(r))
            return engine_msgf(msg, -EINVAL, "'%s' is corrupt (the TAR_ZSTD payload: zstd: %s)",
                               s->in->path, ZSTD_getErrorName(r));
        /* A call that did nothing (no input left) says nothing of the frame. */
        if (s->ib.pos != before || ob.pos)
            s->last = r;
        s->opos = 0;
        s->olen = ob.pos;
        if (ob.pos == 0 && s->ib.pos == s->ib.size && s->in_eof) {
            if (s->last != 0)
                return engine_msgf(msg, -EINVAL,
                                   "'%s' is truncated (the TAR_ZSTD payload's zstd stream ends "
                                   "early)",
                                   s->in->path);
            return 0;
        }
    }
    size_t n = s->olen - s->opos < len ? s->olen - s->opos : len;
    memcpy(dst, s->obuf + s->opos, n);
    s->opos += n;
    return (long)n;
}

/* Exactly len bytes: 0, 1 when the payload ends first, or a negated errno. */
static int src_read_exact(struct src *s, void *dst, size_t len, char **msg)
{
    uint8_t *p = dst;
    while (len) {
        long n = src_read(s, p, len, msg);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return 1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int truncated(struct src *s, const char *what, char **msg)
{
    return engine_msgf(msg, -EINVAL, "'%s' is truncated (the tar payload ends inside %s)",
                       s->in->path, what);
}

/* Skips len bytes (an entry's padding, a skipped entry). */
static int src_skip(struct src *s, uint64_t len, const char *what, char **msg)
{
    uint8_t buf[TAR_BLOCK];
    while (len) {
        size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
        int rc = src_read_exact(s, buf, n, msg);
        if (rc)
            return rc < 0 ? rc : truncated(s, what, msg);
        len -= n;
    }
    return 0;
}

static uint64_t padding(uint64_t size)
{
    return (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
}

/* An octal (or GNU base-256) number field: 0, or -EINVAL. */
static int tar_number(const uint8_t *p, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (p[0] & 0x80) {
        if (p[0] != 0x80)
            return -EINVAL; /* negative or too large */
        for (size_t i = 1; i < len; i++) {
            if (v >> 56)
                return -EINVAL;
            v = v << 8 | p[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < len && p[i] == ' ')
        i++;
    int digits = 0;
    for (; i < len && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (v >> 61)
            return -EINVAL;
        v = v << 3 | (uint64_t)(p[i] - '0');
    }
    for (; i < len; i++)
        if (p[i] != ' ' && p[i] != '\0')
            return -EINVAL;
    if (!digits)
        return -EINVAL;
    *out = v;
    return 0;
}

static int header_checksum_ok(const uint8_t *h)
{
    uint64_t want, sum = 0;
    if (tar_number(h + 148, 8, &want))
        return 0;
    for (int i = 0; i < TAR_BLOCK; i++)
        sum += i >= 148 && i < 156 ? ' ' : h[i];
    return sum == want;
}

/* Where the next entry's name and size come from when an extended header
 * (pax 'x', GNU 'L') set them. */
struct pending {
    char *name;
    size_t name_len;
    int has_size;
    uint64_t size;
};

static void pending_clear(struct pending *p)
{
    free(p->name);
    memset(p, 0, sizeof(*p));
}

static int set_name(struct pending *p, const char *s, size_t len)
{
    char *n = malloc(len + 1);
    if (!n)
        return -ENOMEM;
    memcpy(n, s, len);
    n[len] = '\0';
    free(p->name);
    p->name = n;
    p->name_len = len;
    return 0;
}

/* pax records: "<len> <key>=<value>\n" (POSIX pax, "pax Extended Header"). */
static int parse_pax(struct src *s, const char *data, size_t len, struct pending *p, char **msg)
{
    size_t i = 0;
    while (i < len) {
        size_t rlen = 0, j = i;
        while (j < len && data[j] >= '0' && data[j] <= '9' && rlen < len)
            rlen = rlen * 10 + (size_t)(data[j++] - '0');
        if (j == i || j >= len || data[j] != ' ' || rlen <= j - i + 1 || rlen > len - i ||
            data[i + rlen - 1] != '\n')
            return engine_msgf(msg, -EINVAL,
                               "'%s' is corrupt (a pax header of the tar payload is malformed)",
                               s->in->path);
        const char *kv = data + j + 1, *end = data + i + rlen - 1;
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (!eq)
            return engine_msgf(msg, -EINVAL,
                               "'%s' is corrupt (a pax record of the tar payload has no '=')",
                               s->in->path);
        size_t klen = (size_t)(eq - kv);
        if (klen == 4 && !memcmp(kv, "path", 4)) {
            if (set_name(p, eq + 1, (size_t)(end - eq - 1)))
                return engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", s->in->path);
        } else if (klen == 4 && !memcmp(kv, "size", 4)) {
            uint64_t v = 0;
            const char *q = eq + 1;
            if (q == end)
                return engine_msgf(msg, -EINVAL, "'%s' is corrupt (a pax size is empty)",
                                   s->in->path);
            for (; q < end; q++) {
                if (*q < '0' || *q > '9' || v > UINT64_MAX / 10)
                    return engine_msgf(msg, -EINVAL, "'%s' is corrupt (a pax size is malformed)",
                                       s->in->path);
                v = v * 10 + (uint64_t)(*q - '0');
            }
            p->has_size = 1;
            p->size = v;
        }
        i += rlen;
    }
    return 0;
}

/* Reads an extended header's data (at most TAR_META_MAX bytes) whole. */
static int read_meta(struct src *s, uint64_t size, char **data, char **msg)
{
    *data = NULL;
    if (size > TAR_META_MAX) {
        engine_msgf(msg, -EINVAL, "'%s' is corrupt (an extended tar header of %llu bytes, over %u)",
                    s->in->path, (unsigned long long)size, TAR_META_MAX);
        return -EINVAL;
    }
    *data = malloc((size_t)size + 1);
    if (!*data) {
        engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", s->in->path);
        return -ENOMEM;
    }
    int rc = src_read_exact(s, *data, (size_t)size, msg);
    if (!rc)
        rc = src_skip(s, padding(size), "an extended header", msg);
    else if (rc > 0)
        rc = truncated(s, "an extended header", msg);
    if (rc) {
        free(*data);
        *data = NULL;
        return rc;
    }
    (*data)[size] = '\0';
    return 0;
}

/* Copies one regular file's bytes into the directory. */
static int copy_file(struct src *s, struct c1z3_out *out, const char *name, size_t name_len,
                     uint64_t size, char **msg)
{
    int fd = -1;
    int rc = c1z3_create_file(out, "tar payload", name, name_len, &fd, msg);
    if (rc)
        return rc;
    uint8_t buf[64 * 1024];
    uint64_t left = size;
    while (left && !rc) {
        size_t want = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        long n = src_read(s, buf, want, msg);
        if (n < 0) {
            rc = (int)n;
        } else if (n == 0) {
            rc = engine_msgf(msg, -EINVAL,
                             "'%s' is truncated (the tar payload ends inside the file '%.*s')",
                             s->in->path, (int)name_len, name);
        } else {
            rc = c1z3_write_all(fd, buf, (size_t)n);
            if (rc)
                rc = engine_msgf(msg, rc, "cannot write '%.*s' to unpack '%s': %s", (int)name_len,
                                 name, s->in->path, strerror(-rc));
            left -= (uint64_t)n;
            out->bytes += (uint64_t)n;
        }
    }
    if (close(fd) && !rc) {
        int err = errno;
        rc = engine_msgf(msg, -err, "cannot write '%.*s' to unpack '%s': %s", (int)name_len, name,
                         s->in->path, strerror(err));
    }
    if (!rc)
        rc = src_skip(s, padding(size), "a file's padding", msg);
    return rc;
}

static int all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

static int unpack_entries(struct src *s, struct c1z3_out *out, char **msg)
{
    uint8_t h[TAR_BLOCK];
    struct pending pend = {0};
    char ustar_name[256 + 1 + 100 + 1];
    int rc;

    for (;;) {
        rc = src_read_exact(s, h, sizeof(h), msg);
        if (rc > 0)
            rc = engine_msgf(msg, -EINVAL,
                             "'%s' is truncated (the tar payload ends without its end-of-archive "
                             "marker)",
                             s->in->path);
        if (rc)
            break;
        if (all_zero(h, sizeof(h)))
            break; /* end of archive; what follows is checked below */
        if (!header_checksum_ok(h)) {
            rc = engine_msgf(msg, -EINVAL,
                             "'%s' is corrupt (a tar header of the payload fails its checksum)",
                             s->in->path);
            break;
        }
        uint64_t size;
        if (tar_number(h + 124, 12, &size)) {
            rc = engine_msgf(msg, -EINVAL, "'%s' is corrupt (a tar header has a bad size)",
                             s->in->path);
            break;
        }
        if (pend.has_size)
            size = pend.size;
        const char *name;
        size_t name_len;
        if (pend.name) {
            name = pend.name;
            name_len = pend.name_len;
        } else {
            size_t nl = strnlen((const char *)h, 100), pl = 0;
            if (!memcmp(h + 257, "ustar", 5))
                pl = strnlen((const char *)h + 345, 155);
            if (pl)
                snprintf(ustar_name, sizeof(ustar_name), "%.*s/%.*s", (int)pl, h + 345, (int)nl, h);
            else
                snprintf(ustar_name, sizeof(ustar_name), "%.*s", (int)nl, h);
            name = ustar_name;
            name_len = strlen(ustar_name);
        }
        while (name_len >= 2 && name[0] == '.' && name[1] == '/') {
            name += 2;
            name_len -= 2;
        }
        char type = (char)h[156];
        char *meta = NULL;
        switch (type) {
        case '0':
        case '\0':
        case '7':
            rc = copy_file(s, out, name, name_len, size, msg);
            pending_clear(&pend);
            break;
        case 'x':
        case 'L':
            rc = read_meta(s, size, &meta, msg);
            if (!rc && type == 'x')
                rc = parse_pax(s, meta, (size_t)size, &pend, msg);
            else if (!rc && set_name(&pend, meta, strnlen(meta, (size_t)size)))
                rc = engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", s->in->path);
            free(meta);
            break;
        case 'g':
            rc = src_skip(s, size + padding(size), "a pax global header", msg);
            break;
        case '5':
            if (name_len == 0 || (name_len == 1 && name[0] == '.')) {
                rc = src_skip(s, size + padding(size), "a directory entry", msg);
                pending_clear(&pend);
                break;
            }
            /* fall through */
        default:
            rc = engine_msgf(msg, -ENOTSUP,
                             "'%s': the tar payload holds '%.*s', a %s, but a Pebble directory "
                             "holds only regular files",
                             s->in->path, (int)(name_len > 200 ? 200 : name_len), name,
                             type == '1'   ? "hard link"
                             : type == '2' ? "symbolic link"
                             : type == '5' ? "directory"
                                           : "special file");
        }
        if (rc)
            break;
    }
    pending_clear(&pend);
    if (rc)
        return rc;
    /* After the end marker: only zeros (the second zero block, padding). */
    for (;;) {
        long n = src_read(s, h, sizeof(h), msg);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return 0;
        if (!all_zero(h, (size_t)n))
            return engine_msgf(msg, -EINVAL,
                               "'%s' is corrupt (data after the tar payload's end-of-archive "
                               "marker)",
                               s->in->path);
    }
}

int c1z3_unpack_tar(struct c1z3_in *in, int zstd, struct c1z3_out *out, char **msg)
{
    struct src s = {.in = in, .zstd = zstd, .last = 1};
    int rc;
    if (zstd) {
        s.icap = ZSTD_DStreamInSize();
        s.ocap = ZSTD_DStreamOutSize();
        s.dctx = ZSTD_createDCtx();
        s.ibuf = malloc(s.icap);
        s.obuf = malloc(s.ocap);
        if (!s.dctx || !s.ibuf || !s.obuf) {
            rc = engine_msgf(msg, -ENOMEM, "out of memory unpacking '%s'", in->path);
            goto out;
        }
        s.ib = (ZSTD_inBuffer){s.ibuf, 0, 0};
    }
    rc = unpack_entries(&s, out, msg);
out:
    ZSTD_freeDCtx(s.dctx);
    free(s.ibuf);
    free(s.obuf);
    return rc;
}
