/*
 * buf.h - a growable byte buffer and the text encodings syncstore writes:
 * JSON string literals, standard base64, and strict UTF-8 validation.
 *
 * `struct buf` follows git's strbuf: buf_init() makes it empty, buf_release()
 * frees its memory and leaves it reusable, buf_reset() empties it and keeps the
 * memory.  The bytes are always followed by a NUL that is not counted in len.
 * When memory runs out the buffer keeps the bytes it had and refuses every
 * later append until buf_release() (like a stdio stream's error flag, and
 * through buf_reset() too): whoever uses the bytes asks buf_error() first.
 */
#ifndef SYNCSTORE_BUF_H
#define SYNCSTORE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int oom; /* an append ran out of memory: the bytes are incomplete */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

void buf_init(struct buf *b);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
/* Makes room for extra more bytes: 0, or -ENOMEM (and the buffer refuses
 * appends from then on). */
int buf_grow(struct buf *b, size_t extra);
/* 0, or -ENOMEM when an append since buf_init()/buf_release() ran out of memory. */
int buf_error(const struct buf *b);
/* Marks the buffer as out of memory: a writer of its bytes ran out elsewhere
 * (an allocation of its own), so the bytes are incomplete. */
void buf_fail(struct buf *b);
/* Cuts the bytes back to the first len (no more than it holds): an append
 * taken back.  A buffer that ran out of memory stays as it is. */
void buf_truncate(struct buf *b, size_t len);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes the bytes out of the buffer: the caller owns the returned string;
 * NULL (and the buffer released) when it ran out of memory. */
char *buf_detach(struct buf *b, size_t *len);

/* 1 when the bytes are valid UTF-8 as JSON parsers require it (no overlong
 * forms, no surrogates, nothing past U+10FFFF), else 0. */
int utf8_valid(const void *data, size_t len);

/* Appends a JSON string literal (quotes included) of bytes that must be valid
 * UTF-8; NUL and control bytes are escaped. */
void buf_add_json_string(struct buf *b, const void *data, size_t len);

/* Appends standard base64 (with padding). */
void buf_add_base64(struct buf *b, const void *data, size_t len);

/* Decodes standard base64 (padding required, no whitespace).  Returns 0,
 * -EINVAL when the text is not base64, or -ENOMEM (buf_error(out)). */
int base64_decode(const char *text, size_t len, struct buf *out);

/* Appends `,"name":` + a JSON string when the bytes are UTF-8 without NUL, or
 * `,"name_b64":` + base64 otherwise.  The leading comma is left out when
 * `first` is set. */
void buf_add_json_bytes_field(struct buf *b, const char *name, const void *data, size_t len,
                              int first);

#endif
