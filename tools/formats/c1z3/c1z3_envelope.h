/*
 * c1z3_envelope.h - the outside of a baton C1Z3 file: the manifest and the
 * Pebble directory packed behind it (../shared/reference/C1Z3.md).
 *
 * Layout (baton-sdk pkg/dotc1z/format/v3/envelope.go, indexed.go):
 *
 *     "C1Z3\0" | u32 BE manifest length (at most 16 MiB) | manifest | payload
 *
 * The manifest is protobuf c1.c1z.v3.C1ZManifestV3 (proto/c1/c1z/v3/
 * manifest.proto): 1 engine, 2 engine_schema_version (Pebble's format major
 * version), 4 payload_encoding, 10 descriptors (a FileDescriptorSet of the
 * record protos), 40 sync_runs (SyncRunSummary: 1 sync_id, 2 type,
 * 3 started_at, 4 ended_at), 42 the id-index format.  The payload is one of:
 *
 *     1 TAR_ZSTD      one zstd stream of a tar of the directory
 *     2 TAR           a plain tar of the directory
 *     5 INDEXED_ZSTD  frame* | index | footer: one zstd frame per file; the
 *                     index is protobuf IndexedFrameIndex (1 entries: 1 name,
 *                     2 frame offset, 3 compressed size, 4 raw size, 5 raw
 *                     xxh64 (fixed64), 6 raw sha256; 2 total raw size,
 *                     3 total compressed size, 4 manifest_xxh64 (fixed64));
 *                     the 28-byte footer is u64 index offset | u32 index
 *                     length | u64 xxh64(index) | "C1ZIDX1\0", big-endian.
 *
 * Every hash the format carries is verified: the index's xxh64, each file's
 * raw size, xxh64 and sha256, and the manifest's xxh64 recorded in the index.
 * The tar encodings carry none.  Only regular files with plain names (no '/',
 * not "." or "..") are written; the Pebble directory is flat.
 *
 * Memory stays bounded whatever the file's size: the manifest (at most
 * 16 MiB) and the index (at most 64 MiB, as baton caps it) are read whole,
 * file contents stream through fixed buffers.
 */
#ifndef SYNCSTORE_C1Z3_ENVELOPE_H
#define SYNCSTORE_C1Z3_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define C1Z3_MAGIC "C1Z3\0"
#define C1Z3_MAGIC_LEN 5
#define C1Z3_MANIFEST_MAX (16u << 20)
#define C1Z3_INDEX_MAX (64u << 20)
#define C1Z3_FOOTER_LEN 28

/* Payload encodings (manifest field 4). */
enum c1z3_encoding {
    C1Z3_TAR_ZSTD = 1,
    C1Z3_TAR = 2,
    C1Z3_INDEXED_ZSTD = 5,
};

/* The Pebble format major version this reader knows (manifest field 2; the
 * sample's marker.format-version.000001.024). */
#define C1Z3_PEBBLE_FORMAT_MIN 24
#define C1Z3_PEBBLE_FORMAT_MAX 24

/* A google.protobuf.Timestamp; set is 0 when the field was absent. */
struct c1z3_time {
    int set;
    int64_t seconds;
    int32_t nanos;
};

/* One c1.c1z.v3.SyncRunSummary of the manifest. */
struct c1z3_sync_summary {
    char *sync_id; /* malloc'd, NUL-terminated (NUL bytes refused) */
    uint32_t type; /* c1.storage.v3.SyncType number (1 full, 2 partial, ...) */
    struct c1z3_time started, ended;
};

struct c1z3_manifest {
    char *engine; /* "pebble2" or "pebble3" */
    uint32_t engine_schema_version;
    uint32_t payload_encoding; /* enum c1z3_encoding */
    uint8_t *descriptors;      /* field 10: FileDescriptorSet bytes (may be NULL) */
    size_t descriptors_len;
    struct c1z3_sync_summary *sync_runs;
    size_t n_sync_runs;
    uint32_t id_index_format; /* field 42 */
    uint64_t manifest_xxh64;  /* xxh64 (seed 0) of the manifest bytes */
    uint64_t payload_bytes;   /* bytes of the files written into the directory */
    size_t n_files;           /* files written */
};

/* Progress while unpacking: bytes of the file read so far and its size;
 * return 0 (anything else is ignored).  May be NULL. */
typedef void (*c1z3_progress_fn)(void *arg, uint64_t done, uint64_t total);

/*
 * Reads the C1Z3 file at path (checking the magic again), parses its
 * manifest into *m and writes the Pebble directory's files into the existing
 * empty directory dir.  On success *m must be released with
 * c1z3_manifest_release(); on failure *m is left empty, and files already
 * written in dir are left for the caller to remove with dir.
 *
 * Errors, each with a message naming path and the reason:
 *     -EINVAL   not a C1Z3 file; truncated (envelope, manifest, a frame, the
 *               index, the footer, a tar entry); a manifest longer than
 *               16 MiB or malformed; a hash mismatch (the message names the
 *               index, the manifest, or the file and which hash); an unknown
 *               payload encoding (by number), engine name or
 *               engine_schema_version; a bad file name (path traversal,
 *               absolute, duplicate)
 *     -ENOTSUP  a tar entry that is not a regular file (link, directory,
 *               device)
 *     -ENOMEM, and a negated errno from reading path or writing dir.
 */
int c1z3_unpack(const char *path, const char *dir, struct c1z3_manifest *m, char **msg);

/* The same, with a progress callback. */
int c1z3_unpack_progress(const char *path, const char *dir, struct c1z3_manifest *m,
                         c1z3_progress_fn progress, void *arg, char **msg);

/* Parses manifest bytes into *m (the fields above; payload_bytes and
 * n_files stay 0) and checks engine, version and encoding; path names the
 * file in messages.  Errors as c1z3_unpack(). */
int c1z3_parse_manifest(const char *path, const void *data, size_t len, struct c1z3_manifest *m,
                        char **msg);

/* Removes dir and the files c1z3_unpack() wrote into it (the directory is
 * flat); whatever an unpack left, complete or not.  Errors are ignored. */
void c1z3_remove_unpacked(const char *dir);

/* Frees what *m holds and empties it; NULL is allowed. */
void c1z3_manifest_release(struct c1z3_manifest *m);

/* The name of a payload encoding ("INDEXED_ZSTD"), or NULL when unknown. */
const char *c1z3_encoding_name(uint32_t encoding);

#endif
