/*
 * buf.h - a growable byte buffer and the text encodings syncstore writes:
 * JSON string literals, standard base64, and strict UTF-8 validation.
 *
 * `struct buf` follows git's strbuf: buf_init() makes it empty, buf_release()
 * frees its memory and leaves it reusable, buf_reset() empties it and keeps the
 * memory.  The bytes are always followed by a NUL that is not counted in len.
 * Appending aborts the program when memory runs out (like xmalloc).
 */
#ifndef SYNCSTORE_BUF_H
#define SYNCSTORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the bytes out of the buffer: the caller owns the returned string. */
char *buf_detach(struct buf *b, size_t *len);

/* 1 when the bytes are valid UTF-8 as JSON parsers require it (no overlong
 * forms, no surrogates, nothing past U+10FFFF), else 0. */
int utf8_valid(const void *data, size_t len);

/* Appends a JSON string literal (quotes included) of bytes that must be valid
 * UTF-8; NUL and control bytes are escaped. */
void buf_add_json_string(struct buf *b, const void *data, size_t len);

/* Appends standard base64 (with padding). */
void buf_add_base64(struct buf *b, const void *data, size_t len);

/* Decodes standard base64 (padding required, no whitespace).  Returns 0, or
 * -EINVAL when the text is not base64. */
int base64_decode(const char *text, size_t len, struct buf *out);

/* Appends `,"name":` + a JSON string when the bytes are UTF-8 without NUL, or
 * `,"name_b64":` + base64 otherwise.  The leading comma is left out when
 * `first` is set. */
void buf_add_json_bytes_field(struct buf *b, const char *name, const void *data, size_t len,
                              int first);

#endif
