/*
 * fuzz_c1z3.c - libFuzzer target for the C1Z3 readers: the envelope
 * (c1z3_envelope.h), the Pebble MANIFEST replay and the Pebble table reader
 * (pebble_i.h).
 *
 * Input: one byte choosing the reader, then its input:
 *   0  MANIFEST bytes: pebble_manifest_parse()
 *   1  a table file: pebble_table_open(), its range deletions, every entry
 *   2  a whole .c1z file: c1z3_unpack() into a fresh directory, and
 *      c1z3_parse_manifest() of the bytes after the magic and length
 * Each must return 0, or a negative errno with a message; never crash, hang,
 * leak or read out of bounds (ASan, UBSan).  Seeds are made from the shared
 * C1Z3 sample at run time (tools/dev/fuzz.sh): its MANIFEST, its small tables,
 * the front of the file.
 */
#include "c1z3_envelope.h"
#include "pebble_i.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

/* A result and its message: an error has one; the message is freed. */
static void check_result(int rc, char *msg)
{
    CHECK(rc <= 0 || rc == 1);
    if (rc < 0)
        CHECK(msg != NULL);
    free(msg);
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
    struct pebble_manifest m;
    memset(&m, 0, sizeof m);
    char *msg = NULL;
    int rc = pebble_manifest_parse(data, size, "MANIFEST-fuzz", &m, &msg);
    check_result(rc, msg);
    if (rc == 0) {
        for (size_t i = 0; i < m.nfiles; i++)
            CHECK(m.files[i].level >= 0 && m.files[i].level < 7);
        pebble_manifest_free(&m);
    }
}

static void write_all(int fd, const uint8_t *data, size_t size)
{
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        CHECK(n > 0);
        done += (size_t)n;
    }
}

static int memfd_of(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    CHECK(fd >= 0);
    write_all(fd, data, size);
    return fd;
}

static void fuzz_table(const uint8_t *data, size_t size)
{
    struct pebble_table *t = NULL;
    char *msg = NULL;
    int rc = pebble_table_open(memfd_of(data, size), "fuzz.sst", &t, &msg);
    check_result(rc, msg);
    if (rc < 0)
        return;
    struct pebble_spans spans = {0};
    msg = NULL;
    rc = pebble_table_rangedels(t, &spans, &msg);
    check_result(rc, msg);
    for (size_t i = 0; i < spans.n; i++)
        CHECK(spans.v[i].start && spans.v[i].end);
    pebble_spans_free(&spans);
    const uint8_t *k, *v;
    size_t kl, vl;
    uint64_t seq;
    unsigned kind;
    msg = NULL;
    while ((rc = pebble_table_next(t, &k, &kl, &seq, &kind, &v, &vl, &msg)) == 1) {
        CHECK(seq <= PEBBLE_SEQ_MAX);
        CHECK(kind == PK_SET || kind == PK_SETWITHDEL || kind == PK_DEL || kind == PK_SINGLEDEL ||
              kind == PK_DELSIZED);
        /* the key and value are readable to their ends (ASan sees a bad read) */
        volatile uint8_t sink = 0;
        if (kl)
            sink ^= (uint8_t)(k[0] ^ k[kl - 1]);
        if (vl)
            sink ^= (uint8_t)(v[0] ^ v[vl - 1]);
        (void)sink;
    }
    check_result(rc, msg);
    pebble_table_close(t);
}

static void fuzz_envelope(const uint8_t *data, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    char file[4096], dir[4096];
    snprintf(file, sizeof file, "%s/fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(file);
    CHECK(fd >= 0);
    write_all(fd, data, size);
    close(fd);
    snprintf(dir, sizeof dir, "%s/fuzz-dir-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    struct c1z3_manifest m;
    memset(&m, 0, sizeof m);
    char *msg = NULL;
    int rc = c1z3_unpack(file, dir, &m, &msg);
    check_result(rc, msg);
    if (rc == 0)
        c1z3_manifest_release(&m);
    c1z3_remove_unpacked(dir);
    unlink(file);
    if (size > 9) {
        memset(&m, 0, sizeof m);
        msg = NULL;
        rc = c1z3_parse_manifest("fuzz.c1z", data + 9, size - 9, &m, &msg);
        check_result(rc, msg);
        if (rc == 0)
            c1z3_manifest_release(&m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_manifest(data + 1, size - 1);
        break;
    case 1:
        fuzz_table(data + 1, size - 1);
        break;
    default:
        fuzz_envelope(data + 1, size - 1);
        break;
    }
    return 0;
}
