/*
 * names.c - the reversible mapping between keys and path names (see names.h).
 *
 * A component is encoded as a sequence of units: a printable character kept
 * as is (1-4 bytes of UTF-8) or one escaped byte "%XX" (3 bytes).  Splitting
 * happens only between units, greedily: a chunk takes units while it stays
 * within 252 bytes.  So chunk k of a component depends only on the component's
 * raw bytes up to the end of chunk k, which is what lets a directory of
 * chunks stand for every key whose component starts with those bytes.
 */
#include "names.h"

#include <string.h>

static const char hex[] = "0123456789ABCDEF";

/* Length of the valid, printable UTF-8 character at s (1-4), or 0 when the
 * byte at s must be escaped. */
static size_t printable_char(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return c >= 0x20 && c != 0x7F && c != '%' ? 1 : 0;
    size_t n;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp <= 0x9F))
        return 0;
    return n;
}

/* The encoded length of a whole component. */
static size_t encoded_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 2; /* "%%" */
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return 3 * len;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t u = printable_char(s + i, len - i);
        n += u ? u : 3;
        i += u ? u : 1;
    }
    return n;
}

/* Encodes raw[from .. to) of a component of length comp_len into out (which
 * has room); returns the bytes written.  Dots are escaped only when the range
 * is exactly "." or "..": a whole component, or the last chunk of a split one
 * (other chunks are too long to be). */
static size_t encode_range(const unsigned char *comp, size_t comp_len, size_t from, size_t to,
                           char *out)
{
    size_t n = to - from;
    int dots =
        (n == 1 && comp[from] == '.') || (n == 2 && comp[from] == '.' && comp[from + 1] == '.');
    size_t o = 0;
    for (size_t i = from; i < to;) {
        size_t u = dots ? 0 : printable_char(comp + i, comp_len - i);
        if (u) {
            memcpy(out + o, comp + i, u);
            o += u;
            i += u;
        } else {
            out[o++] = '%';
            out[o++] = hex[comp[i] >> 4];
            out[o++] = hex[comp[i] & 15];
            i++;
        }
    }
    return o;
}

/* Finds the chunk of the component that starts at raw offset `start`:
 * returns 1 and its raw end in *end, or 0 when no chunk starts there. */
static int find_chunk(const unsigned char *comp, size_t comp_len, size_t start, size_t *end)
{
    size_t i = 0;
    for (;;) {
        /* Greedy chunk from i. */
        size_t used = 0, j = i;
        while (j < comp_len) {
            size_t u = printable_char(comp + j, comp_len - j);
            size_t w = u ? u : 3;
            if (used + w > NAMES_CHUNK_MAX)
                break;
            used += w;
            j += u ? u : 1;
        }
        if (i == start) {
            *end = j;
            return 1;
        }
        if (j >= comp_len || i > start)
            return 0;
        i = j;
    }
}

int names_child(const char *key, size_t key_len, size_t dir_len, int also_dir,
                struct names_child *c)
{
    const unsigned char *k = (const unsigned char *)key;
    memset(c, 0, sizeof *c);
    if (dir_len > key_len)
        return -1;
    size_t comp_start = dir_len;
    while (comp_start > 0 && k[comp_start - 1] != '/')
        comp_start--;
    size_t done = dir_len - comp_start; /* raw bytes of the component already in chunks */
    const unsigned char *slash = memchr(k + dir_len, '/', key_len - dir_len);
    size_t comp_end = slash ? (size_t)(slash - k) : key_len;
    int is_final = comp_end == key_len;
    const unsigned char *comp = k + comp_start;
    size_t comp_len = comp_end - comp_start;
    int marked = is_final && also_dir;
    size_t enc = encoded_len(comp, comp_len);
    int split = enc + (marked ? 2 : 0) > NAMES_NAME_MAX;
    c->is_final = is_final;

    if (!split) {
        if (done) /* inside a chunk directory, but this component is whole */
            return 0;
        c->belongs = 1;
        c->phase = 1;
        if (comp_len == 0) {
            memcpy(c->name, "%%", 2);
            c->name_len = 2;
        } else {
            c->name_len = encode_range(comp, comp_len, 0, comp_len, c->name);
        }
        if (marked) {
            memcpy(c->name + c->name_len, "%%", 2);
            c->name_len += 2;
        }
        c->is_dir = !is_final;
        c->prefix_len = is_final ? key_len : comp_end + 1;
        return 0;
    }

    size_t end;
    if (!find_chunk(comp, comp_len, done, &end) || end == done)
        return 0;
    c->belongs = 1;
    c->name_len = encode_range(comp, comp_len, done, end, c->name);
    if (end < comp_len) {
        memcpy(c->name + c->name_len, "%%+", 3);
        c->name_len += 3;
        c->phase = 2;
        c->is_dir = 1;
        c->prefix_len = comp_start + end;
        return 0;
    }
    c->phase = 1;
    if (marked) {
        memcpy(c->name + c->name_len, "%%", 2);
        c->name_len += 2;
    }
    c->is_dir = !is_final;
    c->prefix_len = is_final ? key_len : comp_end + 1;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

int names_decode(const char *name, size_t len, char *out, size_t *out_len, enum names_kind *kind)
{
    *kind = NAMES_PLAIN;
    if (len == 0 || len > NAMES_NAME_MAX)
        return -1;
    if (len == 2 && !memcmp(name, "%%", 2)) {
        *out_len = 0;
        return 0;
    }
    if (len >= 3 && !memcmp(name + len - 3, "%%+", 3)) {
        *kind = NAMES_CHUNK;
        len -= 3;
    } else if (len >= 2 && !memcmp(name + len - 2, "%%", 2)) {
        *kind = NAMES_MARKED;
        len -= 2;
        if (len == 2 && !memcmp(name, "%%", 2)) { /* a marked empty component */
            *out_len = 0;
            return 0;
        }
    }
    if (len == 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '/' || name[i] == '\0')
            return -1;
        if (name[i] != '%') {
            out[o++] = name[i];
            continue;
        }
        if (i + 2 >= len)
            return -1;
        int hi = hexval(name[i + 1]), lo = hexval(name[i + 2]);
        if (hi < 0 || lo < 0)
            return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    *out_len = o;
    return 0;
}

int names_key_is_ordinary(const char *key, size_t key_len)
{
    const unsigned char *k = (const unsigned char *)key;
    size_t start = 0;
    for (size_t i = 0; i <= key_len; i++) {
        if (i < key_len && k[i] != '/')
            continue;
        size_t n = i - start;
        const unsigned char *comp = k + start;
        if (n == 0 || n > NAMES_NAME_MAX || (n == 1 && comp[0] == '.') ||
            (n == 2 && comp[0] == '.' && comp[1] == '.'))
            return 0;
        for (size_t j = 0; j < n;) {
            size_t u = printable_char(comp + j, n - j);
            if (!u)
                return 0;
            j += u;
        }
        start = i + 1;
    }
    return 1;
}
