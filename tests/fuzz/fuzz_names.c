/*
 * fuzz_names.c - libFuzzer target for the key <-> path encoding (fs/names.c).
 *
 * Input: one flag byte (bit 0: the key is also a directory) and the key.
 * Checks that walking names_child() from the bucket root reaches the key, that
 * every name is 1-255 bytes, never "." or "..", free of '/' and NUL, that
 * decoding the names gives the key back, and that the path fits PATH_MAX below
 * a 512-byte mountpoint.  Any input is also fed to names_decode() as a name.
 */
#include "names.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            abort();                                                                               \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int also_dir = data[0] & 1;
    const char *key = (const char *)data + 1;
    size_t key_len = size - 1;

    char out[NAMES_NAME_MAX + 1];
    size_t out_len;
    enum names_kind kind;
    if (key_len <= NAMES_NAME_MAX)
        names_decode(key, key_len, out, &out_len, &kind); /* must not crash */
    if (key_len > 1024)
        return 0;

    char back[4096];
    size_t back_len = 0, dir = 0, path_bytes = 0;
    for (int steps = 0;; steps++) {
        CHECK(steps <= 1100);
        struct names_child c;
        CHECK(names_child(key, key_len, dir, also_dir, &c) == 0);
        CHECK(c.belongs);
        CHECK(c.name_len >= 1 && c.name_len <= NAMES_NAME_MAX);
        CHECK(!memchr(c.name, '/', c.name_len) && !memchr(c.name, '\0', c.name_len));
        CHECK(!(c.name_len == 1 && c.name[0] == '.'));
        CHECK(!(c.name_len == 2 && c.name[0] == '.' && c.name[1] == '.'));
        path_bytes += 1 + c.name_len;
        CHECK(names_decode(c.name, c.name_len, out, &out_len, &kind) == 0);
        CHECK(back_len + out_len + 1 <= sizeof back);
        memcpy(back + back_len, out, out_len);
        back_len += out_len;
        if (!c.is_dir) {
            CHECK(kind != NAMES_CHUNK);
            CHECK(kind == (also_dir ? NAMES_MARKED : NAMES_PLAIN));
            break;
        }
        CHECK(kind != NAMES_MARKED);
        if (kind == NAMES_PLAIN)
            back[back_len++] = '/';
        CHECK(c.prefix_len > dir);
        dir = c.prefix_len;
    }
    CHECK(back_len == key_len && !memcmp(back, key, key_len));
    CHECK(512 + 1 + 128 + 1 + 64 + path_bytes < PATH_MAX);
    return 0;
}
