/*
 * c1z3_envelope.c - the C1Z3 envelope (c1z3_envelope.h): magic, manifest,
 * and the INDEXED_ZSTD payload; the tar encodings are in c1z3_tar.c.
 *
 * Facts from baton-sdk: pkg/dotc1z/format/v3/envelope.go (magic, the
 * big-endian length prefix, the 16 MiB manifest cap, the encodings and
 * their numbers, refusing any other encoding), indexed.go (the frame*
 * | index | footer layout, the 28-byte footer, the 64 MiB index cap, the
 * checks on each index entry, the manifest hash recorded in the index), and
 * proto/c1/c1z/v3/manifest.proto (the field numbers).
 */
#include "c1z3_i.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>
#include <xxhash.h>
#include <zstd.h>

#include "engine.h"
#include "pb_wire.h"

const char *c1z3_encoding_name(uint32_t encoding)
{
    switch (encoding) {
    case C1Z3_TAR_ZSTD:
        return "TAR_ZSTD";
    case C1Z3_TAR:
        return "TAR";
    case C1Z3_INDEXED_ZSTD:
        return "INDEXED_ZSTD";
    default:
        return NULL;
    }
}

void c1z3_manifest_release(struct c1z3_manifest *m)
{
    if (!m)
        return;
    free(m->engine);
    free(m->descriptors);
    for (size_t i = 0; i < m->n_sync_runs; i++)
        free(m->sync_runs[i].sync_id);
    free(m->sync_runs);
    memset(m, 0, sizeof(*m));
}

/* ---- The manifest ---- */

static int bad_manifest(const char *path, const char *what, char **msg)
{
    return engine_msgf(msg, -EINVAL, "'%s' is corrupt (the C1Z3 manifest's %s is malformed)", path,
                       what);
}

/* A string field: a malloc'd copy, NUL bytes refused. */
static int copy_string(const struct pb_field *f, char **out)
{
    if (f->type != PB_LEN || memchr(f->data, '\0', f->len))
        return -EINVAL;
    char *s = malloc(f->len + 1);
    if (!s)
        return -ENOMEM;
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    free(*out);
    *out = s;
    return 0;
}

/* google.protobuf.Timestamp: 1 seconds (int64), 2 nanos (int32). */
static int parse_time(const struct pb_field *f, struct c1z3_time *t)
{
    struct pb_reader r;
    struct pb_field x;
    int rc;
    if (f->type != PB_LEN)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    t->set = 1;
    pb_reader_init(&r, f->data, f->len);
    while ((rc = pb_next(&r, &x)) == 1) {
        if (x.number == 1 && x.type == PB_VARINT)
            t->seconds = (int64_t)x.u64;
        else if (x.number == 2 && x.type == PB_VARINT)
            t->nanos = (int32_t)(uint32_t)x.u64;
        else if (x.number <= 2)
            return -EINVAL;
    }
    return rc;
}

/* c1.c1z.v3.SyncRunSummary: 1 sync_id, 2 type, 3 started_at, 4 ended_at. */
static int parse_summary(const struct pb_field *f, struct c1z3_sync_summary *s)
{
    struct pb_reader r;
    struct pb_field x;
    int rc;
    if (f->type != PB_LEN)
        return -EINVAL;
    pb_reader_init(&r, f->data, f->len);
    while ((rc = pb_next(&r, &x)) == 1) {
        switch (x.number) {
        case 1:
            rc = copy_string(&x, &s->sync_id);
            break;
        case 2:
            rc = x.type == PB_VARINT ? 0 : -EINVAL;
            s->type = (uint32_t)x.u64;
            break;
        case 3:
            rc = parse_time(&x, &s->started);
            break;
        case 4:
            rc = parse_time(&x, &s->ended);
            break;
        default:
            rc = 0; /* per-type counts and others: not needed here */
        }
        if (rc)
            return rc;
    }
    if (rc == 0 && !s->sync_id)
        return -EINVAL;
    return rc;
}

int c1z3_parse_manifest(const char *path, const void *data, size_t len, struct c1z3_manifest *m,
                        char **msg)
{
    struct pb_reader r;
    struct pb_field f;
    int rc;
    memset(m, 0, sizeof(*m));
    m->manifest_xxh64 = XXH64(data, len, 0);
    pb_reader_init(&r, data, len);
    while ((rc = pb_next(&r, &f)) == 1) {
        rc = 0;
        switch (f.number) {
        case 1:
            rc = copy_string(&f, &m->engine);
            if (rc == -EINVAL)
                rc = bad_manifest(path, "engine (field 1)", msg);
            break;
        case 2:
            if (f.type != PB_VARINT || f.u64 > UINT32_MAX)
                rc = bad_manifest(path, "engine_schema_version (field 2)", msg);
            m->engine_schema_version = (uint32_t)f.u64;
            break;
        case 4:
            if (f.type != PB_VARINT || f.u64 > INT32_MAX)
                rc = bad_manifest(path, "payload_encoding (field 4)", msg);
            m->payload_encoding = (uint32_t)f.u64;
            break;
        case 10:
            if (f.type != PB_LEN) {
                rc = bad_manifest(path, "descriptors (field 10)", msg);
                break;
            }
            free(m->descriptors);
            m->descriptors = malloc(f.len ? f.len : 1);
            if (!m->descriptors) {
                rc = -ENOMEM;
                break;
            }
            memcpy(m->descriptors, f.data, f.len);
            m->descriptors_len = f.len;
            break;
        case 40: {
            struct c1z3_sync_summary *v =
                realloc(m->sync_runs, (m->n_sync_runs + 1) * sizeof(*m->sync_runs));
            if (!v) {
                rc = -ENOMEM;
                break;
            }
            m->sync_runs = v;
            memset(&v[m->n_sync_runs], 0, sizeof(*v));
            rc = parse_summary(&f, &v[m->n_sync_runs]);
            m->n_sync_runs++;
            if (rc == -EINVAL)
                rc = bad_manifest(path, "sync_runs entry (field 40)", msg);
            break;
        }
        case 42:
            if (f.type != PB_VARINT || f.u64 > INT32_MAX)
                rc = bad_manifest(path, "id-index format (field 42)", msg);
            m->id_index_format = (uint32_t)f.u64;
            break;
        default:
            rc = 0;
        }
        if (rc == -ENOMEM)
            rc = engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", path);
        if (rc)
            goto fail;
    }
    if (rc < 0) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (the C1Z3 manifest is not a valid protobuf message)",
                         path);
        goto fail;
    }
    if (!m->engine) {
        rc = engine_msgf(msg, -EINVAL, "'%s': the C1Z3 manifest names no engine", path);
        goto fail;
    }
    /* engine_registry.go registers Pebble as "pebble2" (and "pebble3"). */
    if (strcmp(m->engine, "pebble2") && strcmp(m->engine, "pebble3")) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' uses the storage engine '%s', which this syncstore cannot read "
                         "(it reads pebble2 and pebble3)",
                         path, m->engine);
        goto fail;
    }
    if (m->engine_schema_version < C1Z3_PEBBLE_FORMAT_MIN ||
        m->engine_schema_version > C1Z3_PEBBLE_FORMAT_MAX) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' was written with Pebble format major version %u "
                         "(engine_schema_version), which this syncstore cannot read (it reads %d)",
                         path, m->engine_schema_version, C1Z3_PEBBLE_FORMAT_MAX);
        goto fail;
    }
    if (!c1z3_encoding_name(m->payload_encoding)) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' uses the unknown C1Z3 payload encoding %u (known: 1 TAR_ZSTD, "
                         "2 TAR, 5 INDEXED_ZSTD)",
                         path, m->payload_encoding);
        goto fail;
    }
    return 0;
fail:
    c1z3_manifest_release(m);
    return rc;
}

/* ---- Input and output ---- */

long c1z3_read(struct c1z3_in *in, void *buf, size_t len, char **msg)
{
    for (;;) {
        ssize_t n = pread(in->fd, buf, len, (off_t)in->pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int err = errno;
            return engine_msgf(msg, -err, "cannot read '%s': %s", in->path, strerror(err));
        }
        in->pos += (uint64_t)n;
        if (in->progress)
            in->progress(in->arg, in->pos, in->size);
        return (long)n;
    }
}

/* Reads exactly len bytes at in->pos: 0, 1 when the file ends first, or a
 * negated errno. */
static int read_exact(struct c1z3_in *in, void *buf, size_t len, char **msg)
{
    char *p = buf;
    while (len) {
        long n = c1z3_read(in, p, len, msg);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return 1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int c1z3_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int c1z3_create_file(struct c1z3_out *out, const char *what, const char *name, size_t len, int *fd,
                     char **msg)
{
    char buf[256];
    if (len == 0 || len >= sizeof(buf) || memchr(name, '\0', len) || memchr(name, '/', len) ||
        (len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
        return engine_msgf(msg, -EINVAL,
                           "'%s' is corrupt (the %s names the file '%.*s', which is not a plain "
                           "file name in the Pebble directory)",
                           out->path, what, (int)(len > 200 ? 200 : len), name);
    memcpy(buf, name, len);
    buf[len] = '\0';
    *fd = openat(out->dirfd, buf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0) {
        int err = errno;
        if (err == EEXIST)
            return engine_msgf(msg, -EINVAL, "'%s' is corrupt (the %s names the file '%s' twice)",
                               out->path, what, buf);
        return engine_msgf(msg, -err, "cannot create '%s' to unpack '%s': %s", buf, out->path,
                           strerror(err));
    }
    out->n_files++;
    return 0;
}

/* ---- INDEXED_ZSTD ---- */

struct entry {
    const char *name;
    size_t name_len;
    uint64_t off, comp, raw, xxh;
    const uint8_t *sha;
    size_t sha_len;
};

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* IndexedFrameEntry: 1 name, 2 frame_offset, 3 compressed_size, 4 raw_size,
 * 5 raw_xxh64 (fixed64), 6 raw_sha256. */
static int parse_entry(const struct pb_field *f, struct entry *e)
{
    struct pb_reader r;
    struct pb_field x;
    int rc;
    if (f->type != PB_LEN)
        return -EINVAL;
    memset(e, 0, sizeof(*e));
    pb_reader_init(&r, f->data, f->len);
    while ((rc = pb_next(&r, &x)) == 1) {
        enum pb_wire_type want = x.number == 1 || x.number == 6 ? PB_LEN
                                 : x.number == 5                ? PB_I64
                                                                : PB_VARINT;
        if (x.number <= 6 && x.type != want)
            return -EINVAL;
        switch (x.number) {
        case 1:
            e->name = (const char *)x.data;
            e->name_len = x.len;
            break;
        case 2:
            e->off = x.u64;
            break;
        case 3:
            e->comp = x.u64;
            break;
        case 4:
            e->raw = x.u64;
            break;
        case 5:
            e->xxh = x.u64;
            break;
        case 6:
            e->sha = x.data;
            e->sha_len = x.len;
            break;
        default:
            break;
        }
    }
    return rc;
}

/* What one frame decodes into: its file and the running hashes. */
struct frame_sink {
    struct c1z3_in *in;
    struct c1z3_out *out;
    const struct entry *e;
    const char *name;
    int fd;
    uint64_t raw;
    struct sha256_ctx sha;
    XXH64_state_t *xs;
};

static int sink_add(struct frame_sink *s, const void *data, size_t len, char **msg)
{
    s->raw += len;
    if (s->raw > s->e->raw)
        return engine_msgf(msg, -EINVAL,
                           "'%s' is corrupt (the frame of '%s' decodes to more than its raw size "
                           "%llu)",
                           s->in->path, s->name, (unsigned long long)s->e->raw);
    sha256_update(&s->sha, len, data);
    XXH64_update(s->xs, data, len);
    int rc = c1z3_write_all(s->fd, data, len);
    if (rc)
        return engine_msgf(msg, rc, "cannot write '%s' to unpack '%s': %s", s->name, s->in->path,
                           strerror(-rc));
    s->out->bytes += len;
    return 0;
}

/* One step of the zstd decoder over ib; *last gets its hint (0: the frame
 * is complete). */
static int frame_step(struct frame_sink *s, ZSTD_DCtx *dctx, ZSTD_inBuffer *ib, void *obuf,
                      size_t ocap, size_t *last, int *full, char **msg)
{
    ZSTD_outBuffer ob = {obuf, ocap, 0};
    *last = ZSTD_decompressStream(dctx, &ob, ib);
    if (ZSTD_isError(*last))
        return engine_msgf(msg, -EINVAL, "'%s' is corrupt (the frame of '%s': zstd: %s)",
                           s->in->path, s->name, ZSTD_getErrorName(*last));
    *full = ob.pos == ob.size;
    return sink_add(s, obuf, ob.pos, msg);
}

/* Decodes one frame into its file, checking size, xxh64 and sha256. */
static int extract_frame(struct c1z3_in *in, struct c1z3_out *out, const struct entry *e,
                         ZSTD_DCtx *dctx, void *ibuf, size_t icap, void *obuf, size_t ocap,
                         XXH64_state_t *xs, char **msg)
{
    char name[256];
    struct frame_sink s = {.in = in, .out = out, .e = e, .name = name, .fd = -1, .xs = xs};
    int rc = c1z3_create_file(out, "index", e->name, e->name_len, &s.fd, msg);
    if (rc)
        return rc;
    snprintf(name, sizeof(name), "%.*s", (int)e->name_len, e->name);
    sha256_init(&s.sha);
    XXH64_reset(xs, 0);
    ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
    in->pos = e->off;
    uint64_t left = e->comp;
    size_t last = 1;
    int full = 0;
    while (left && !rc) {
        size_t want = left < icap ? (size_t)left : icap;
        long n = c1z3_read(in, ibuf, want, msg);
        if (n <= 0) {
            rc = n < 0
                     ? (int)n
                     : engine_msgf(msg, -EINVAL, "'%s' is truncated (the frame of '%s' ends early)",
                                   in->path, name);
            break;
        }
        left -= (uint64_t)n;
        ZSTD_inBuffer ib = {ibuf, (size_t)n, 0};
        while (ib.pos < ib.size && !rc) {
            if (last == 0)
                rc = engine_msgf(msg, -EINVAL,
                                 "'%s' is corrupt (the frame of '%s' holds bytes after its zstd "
                                 "frame)",
                                 in->path, name);
            else
                rc = frame_step(&s, dctx, &ib, obuf, ocap, &last, &full, msg);
        }
    }
    /* The decoder may hold output when the last step filled the buffer. */
    while (!rc && last != 0 && full) {
        ZSTD_inBuffer none = {ibuf, 0, 0};
        rc = frame_step(&s, dctx, &none, obuf, ocap, &last, &full, msg);
    }
    if (!rc && last != 0)
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (the frame of '%s' ends inside its zstd frame)", in->path,
                         name);
    if (!rc && s.raw != e->raw)
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (the frame of '%s' decodes to %llu bytes, the index says "
                         "%llu)",
                         in->path, name, (unsigned long long)s.raw, (unsigned long long)e->raw);
    if (!rc && XXH64_digest(xs) != e->xxh)
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (the file '%s' fails its xxh64: hash mismatch)", in->path,
                         name);
    if (!rc) {
        uint8_t digest[SHA256_DIGEST_SIZE];
        sha256_digest(&s.sha, sizeof(digest), digest);
        if (memcmp(digest, e->sha, sizeof(digest)))
            rc = engine_msgf(msg, -EINVAL,
                             "'%s' is corrupt (the file '%s' fails its sha256: hash mismatch)",
                             in->path, name);
    }
    if (close(s.fd) && !rc) {
        int err = errno;
        rc = engine_msgf(msg, -err, "cannot write '%s' to unpack '%s': %s", name, in->path,
                         strerror(err));
    }
    return rc;
}

static int unpack_indexed(struct c1z3_in *in, uint64_t payload_start, struct c1z3_out *out,
                          const struct c1z3_manifest *m, char **msg)
{
    uint8_t footer[C1Z3_FOOTER_LEN];
    uint8_t *index = NULL;
    struct entry *entries = NULL;
    size_t n = 0;
    ZSTD_DCtx *dctx = NULL;
    XXH64_state_t *xs = NULL;
    void *ibuf = NULL, *obuf = NULL;
    int rc;

    if (in->size < payload_start + C1Z3_FOOTER_LEN)
        return engine_msgf(msg, -EINVAL,
                           "'%s' is truncated (no room for the INDEXED_ZSTD footer after the "
                           "manifest)",
                           in->path);
    in->pos = in->size - C1Z3_FOOTER_LEN;
    rc = read_exact(in, footer, sizeof(footer), msg);
    if (rc)
        return rc < 0 ? rc : engine_msgf(msg, -EINVAL, "'%s' is truncated (footer)", in->path);
    if (memcmp(footer + 20, "C1ZIDX1\0", 8))
        return engine_msgf(msg, -EINVAL,
                           "'%s' is truncated (the INDEXED_ZSTD footer's magic C1ZIDX1 is missing "
                           "at the end of the file)",
                           in->path);
    uint64_t index_off = be64(footer);
    uint32_t index_len = (uint32_t)footer[8] << 24 | (uint32_t)footer[9] << 16 |
                         (uint32_t)footer[10] << 8 | footer[11];
    uint64_t index_xxh = be64(footer + 12);
    if (index_len > C1Z3_INDEX_MAX)
        return engine_msgf(msg, -EINVAL,
                           "'%s' is corrupt (the footer claims an index of %u bytes, more than "
                           "%u)",
                           in->path, index_len, C1Z3_INDEX_MAX);
    if (index_off < payload_start || index_off > in->size - C1Z3_FOOTER_LEN - index_len)
        return engine_msgf(msg, -EINVAL,
                           "'%s' is truncated or corrupt (the index at offset %llu, %u bytes, "
                           "does not fit between the manifest and the footer)",
                           in->path, (unsigned long long)index_off, index_len);
    if (index_off + index_len + C1Z3_FOOTER_LEN != in->size)
        return engine_msgf(
            msg, -EINVAL, "'%s' is corrupt (%llu bytes between the index and the footer)", in->path,
            (unsigned long long)(in->size - C1Z3_FOOTER_LEN - index_len - index_off));
    index = malloc(index_len ? index_len : 1);
    if (!index)
        return engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", in->path);
    in->pos = index_off;
    rc = read_exact(in, index, index_len, msg);
    if (rc) {
        if (rc > 0)
            rc = engine_msgf(msg, -EINVAL, "'%s' is truncated (index)", in->path);
        goto out;
    }
    if (XXH64(index, index_len, 0) != index_xxh) {
        rc = engine_msgf(msg, -EINVAL, "'%s' is corrupt (the index fails its xxh64: hash mismatch)",
                         in->path);
        goto out;
    }

    /* IndexedFrameIndex: 1 entries, 2 total raw, 3 total compressed,
     * 4 manifest_xxh64 (fixed64). */
    struct pb_reader r;
    struct pb_field f;
    uint64_t manifest_xxh = 0, total_raw = 0, total_comp = 0;
    int has_raw = 0, has_comp = 0;
    pb_reader_init(&r, index, index_len);
    while ((rc = pb_next(&r, &f)) == 1) {
        if (f.number == 1) {
            if (n == SIZE_MAX / sizeof(*entries))
                break;
            struct entry *v = realloc(entries, (n + 1) * sizeof(*entries));
            if (!v) {
                rc = engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", in->path);
                goto out;
            }
            entries = v;
            if (parse_entry(&f, &entries[n]) < 0)
                break;
            n++;
        } else if (f.number == 2 && f.type == PB_VARINT) {
            total_raw = f.u64;
            has_raw = 1;
        } else if (f.number == 3 && f.type == PB_VARINT) {
            total_comp = f.u64;
            has_comp = 1;
        } else if (f.number == 4 && f.type == PB_I64) {
            manifest_xxh = f.u64;
        } else if (f.number <= 4) {
            break;
        }
    }
    if (rc != 0) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (the index is not a valid IndexedFrameIndex)", in->path);
        goto out;
    }
    if (manifest_xxh != 0 && manifest_xxh != m->manifest_xxh64) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (the manifest fails its xxh64 recorded in the index: "
                         "hash mismatch)",
                         in->path);
        goto out;
    }
    uint64_t sum_raw = 0, sum_comp = 0;
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &entries[i];
        int nl = (int)(e->name_len > 200 ? 200 : e->name_len);
        if (!e->name || e->comp == 0 || e->off < payload_start || e->comp > index_off - e->off ||
            e->sha_len != SHA256_DIGEST_SIZE) {
            rc = engine_msgf(msg, -EINVAL,
                             "'%s' is corrupt (index entry %zu '%.*s': its frame range, sizes or "
                             "sha256 are out of bounds)",
                             in->path, i + 1, nl, e->name ? e->name : "");
            goto out;
        }
        sum_raw += e->raw;
        sum_comp += e->comp;
    }
    if ((has_raw && sum_raw != total_raw) || (has_comp && sum_comp != total_comp)) {
        rc =
            engine_msgf(msg, -EINVAL,
                        "'%s' is corrupt (the index's totals disagree with its entries)", in->path);
        goto out;
    }

    size_t icap = ZSTD_DStreamInSize(), ocap = ZSTD_DStreamOutSize();
    dctx = ZSTD_createDCtx();
    xs = XXH64_createState();
    ibuf = malloc(icap);
    obuf = malloc(ocap);
    if (!dctx || !xs || !ibuf || !obuf) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory unpacking '%s'", in->path);
        goto out;
    }
    for (size_t i = 0; i < n && !rc; i++)
        rc = extract_frame(in, out, &entries[i], dctx, ibuf, icap, obuf, ocap, xs, msg);
    if (!rc)
        in->pos = in->size;
out:
    ZSTD_freeDCtx(dctx);
    XXH64_freeState(xs);
    free(ibuf);
    free(obuf);
    free(entries);
    free(index);
    return rc;
}

/* ---- The file ---- */

int c1z3_unpack_progress(const char *path, const char *dir, struct c1z3_manifest *m,
                         c1z3_progress_fn progress, void *arg, char **msg)
{
    struct c1z3_in in = {.path = path, .fd = -1, .progress = progress, .arg = arg};
    struct c1z3_out out = {.path = path, .dirfd = -1};
    uint8_t head[C1Z3_MAGIC_LEN + 4];
    uint8_t *mbytes = NULL;
    struct stat st;
    int rc;

    memset(m, 0, sizeof(*m));
    in.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (in.fd < 0) {
        int err = errno;
        return engine_msgf(msg, -err, "cannot open '%s': %s", path, strerror(err));
    }
    if (fstat(in.fd, &st)) {
        int err = errno;
        rc = engine_msgf(msg, -err, "cannot read '%s': %s", path, strerror(err));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = engine_msgf(msg, S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL,
                         "'%s' is not a c1z file (not a regular file)", path);
        goto out;
    }
    in.size = (uint64_t)st.st_size;
    out.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (out.dirfd < 0) {
        int err = errno;
        rc = engine_msgf(msg, -err, "cannot open the directory '%s' to unpack '%s': %s", dir, path,
                         strerror(err));
        goto out;
    }

    rc = read_exact(&in, head, C1Z3_MAGIC_LEN, msg);
    if (rc < 0)
        goto out;
    if (rc || memcmp(head, C1Z3_MAGIC, C1Z3_MAGIC_LEN)) {
        rc = engine_msgf(msg, -EINVAL, "'%s' is not a C1Z3 file (bad header)", path);
        goto out;
    }
    rc = read_exact(&in, head + C1Z3_MAGIC_LEN, 4, msg);
    if (rc) {
        if (rc > 0)
            rc = engine_msgf(msg, -EINVAL,
                             "'%s' is truncated (the envelope ends inside the manifest length)",
                             path);
        goto out;
    }
    const uint8_t *p = head + C1Z3_MAGIC_LEN;
    uint32_t mlen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (mlen > C1Z3_MANIFEST_MAX) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is corrupt (its manifest length %u is over the 16 MiB limit)", path,
                         mlen);
        goto out;
    }
    if (mlen > in.size - in.pos) {
        rc = engine_msgf(msg, -EINVAL,
                         "'%s' is truncated (the manifest of %u bytes ends after the file's %llu "
                         "bytes)",
                         path, mlen, (unsigned long long)in.size);
        goto out;
    }
    mbytes = malloc(mlen ? mlen : 1);
    if (!mbytes) {
        rc = engine_msgf(msg, -ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    rc = read_exact(&in, mbytes, mlen, msg);
    if (rc) {
        if (rc > 0)
            rc = engine_msgf(msg, -EINVAL, "'%s' is truncated (manifest)", path);
        goto out;
    }
    rc = c1z3_parse_manifest(path, mbytes, mlen, m, msg);
    free(mbytes);
    mbytes = NULL;
    if (rc)
        goto out;

    uint64_t payload_start = in.pos;
    if (m->payload_encoding == C1Z3_INDEXED_ZSTD)
        rc = unpack_indexed(&in, payload_start, &out, m, msg);
    else
        rc = c1z3_unpack_tar(&in, m->payload_encoding == C1Z3_TAR_ZSTD, &out, msg);
    if (!rc) {
        m->payload_bytes = out.bytes;
        m->n_files = out.n_files;
    }
out:
    free(mbytes);
    if (rc)
        c1z3_manifest_release(m);
    if (out.dirfd >= 0)
        close(out.dirfd);
    close(in.fd);
    return rc;
}

int c1z3_unpack(const char *path, const char *dir, struct c1z3_manifest *m, char **msg)
{
    return c1z3_unpack_progress(path, dir, m, NULL, NULL, msg);
}

void c1z3_remove_unpacked(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char *p = NULL;
            if (asprintf(&p, "%s/%s", dir, de->d_name) >= 0) {
                unlink(p);
                free(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}
