/*
 * buf.c - growable buffers and the text encodings of syncstore's JSON output.
 *
 * dump must write lines that load reads back to the same bytes, so the UTF-8
 * check here is as strict as jansson's decoder: whatever we emit as a JSON
 * string, jansson accepts and decodes to the same bytes; everything else goes
 * out as base64.
 */
#include "buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char empty_buf[1];

void buf_init(struct buf *b)
{
    b->data = empty_buf;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void buf_release(struct buf *b)
{
    if (b->cap)
        free(b->data);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->cap)
        b->data[0] = '\0';
}

int buf_grow(struct buf *b, size_t extra)
{
    if (!b->data)
        buf_init(b);
    if (b->oom)
        return -ENOMEM;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = b->cap ? realloc(b->data, cap) : malloc(cap);
    if (!p) {
        b->oom = 1;
        return -ENOMEM;
    }
    if (!b->cap)
        p[0] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_error(const struct buf *b)
{
    return b->oom ? -ENOMEM : 0;
}

void buf_fail(struct buf *b)
{
    b->oom = 1;
}

void buf_truncate(struct buf *b, size_t len)
{
    if (b->oom || len > b->len || !b->data)
        return;
    b->len = len;
    b->data[len] = '\0';
}

void buf_add(struct buf *b, const void *data, size_t len)
{
    if (buf_grow(b, len))
        return;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
    if (buf_grow(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_detach(struct buf *b, size_t *len)
{
    if ((!b->cap && buf_grow(b, 0)) || b->oom) {
        buf_release(b);
        return NULL;
    }
    char *p = b->data;
    if (len)
        *len = b->len;
    buf_init(b);
    return p;
}

int utf8_valid(const void *data, size_t len)
{
    const unsigned char *s = data;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + n >= len)
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

void buf_add_json_string(struct buf *b, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = data;
    if (buf_grow(b, len + 2))
        return;
    buf_addc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_add(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            buf_add(b, "\\\"", 2);
            break;
        case '\\':
            buf_add(b, "\\\\", 2);
            break;
        case '\n':
            buf_add(b, "\\n", 2);
            break;
        case '\r':
            buf_add(b, "\\r", 2);
            break;
        case '\t':
            buf_add(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_add(b, esc, 6);
        }
        }
    }
    buf_add(b, s + run, len - run);
    buf_addc(b, '"');
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void buf_add_base64(struct buf *b, const void *data, size_t len)
{
    const unsigned char *s = data;
    if (buf_grow(b, (len + 2) / 3 * 4))
        return;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = b64chars[(v >> 6) & 63];
        *o++ = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int base64_decode(const char *text, size_t len, struct buf *out)
{
    if (len % 4)
        return -EINVAL;
    if (buf_grow(out, len / 4 * 3))
        return -ENOMEM;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)text[i + k];
            if (c == '=' && i + 4 == len && k >= 2) {
                pad++;
                v[k] = 0;
                continue;
            }
            if (pad) /* data after padding */
                return -EINVAL;
            v[k] = b64val(c);
            if (v[k] < 0)
                return -EINVAL;
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Reject non-canonical padding bits so that decoding is one-to-one. */
        if ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF)))
            return -EINVAL;
        char bytes[3] = {(char)(w >> 16), (char)(w >> 8), (char)w};
        buf_add(out, bytes, 3 - (size_t)pad);
    }
    return buf_error(out);
}

void buf_add_json_bytes_field(struct buf *b, const char *name, const void *data, size_t len,
                              int first)
{
    if (!first)
        buf_addc(b, ',');
    buf_addc(b, '"');
    buf_adds(b, name);
    if ((len == 0 || !memchr(data, '\0', len)) && utf8_valid(data, len)) {
        buf_add(b, "\":", 2);
        buf_add_json_string(b, data, len);
    } else {
        buf_add(b, "_b64\":\"", 7);
        buf_add_base64(b, data, len);
        buf_addc(b, '"');
    }
}
